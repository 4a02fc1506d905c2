"""The catalog as a document in memory, and its one YAML writer.

A :class:`CatalogDoc` is built whole (entries, metadata, pins added by DANDI) and written once
by :meth:`CatalogDoc.write`. Intake renders every string of an entry's ``args`` as a Jinja
template, so text that reaches ``args`` is escaped here (:func:`inert`): names and paths taken
from files can never run as templates. Descriptions and metadata are not rendered by intake and
are written as plain YAML (the safe dumper quotes anything that would read as a tag).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .._version import __version__
from ..util.atomic import atomic_write

CATALOG_DIR = "{{ CATALOG_DIR }}"
_DELIMITER = re.compile(r"\{(?=[{%#])")


def inert(text: str) -> str:
    """``text`` as a Jinja template that renders to ``text`` itself (no expression runs).

    Examples
    --------
    >>> import jinja2
    >>> evil = "ses{{ lipsum.__globals__.os.system('id') }}{% if 1 %}x{% endif %}{#c#}"
    >>> jinja2.Environment().from_string(inert(evil)).render() == evil
    True
    """
    return _DELIMITER.sub("{{ '{' }}", text)


def inert_args(value: Any) -> Any:
    """:func:`inert` applied to every string in an ``args`` structure, except the leading
    ``{{ CATALOG_DIR }}`` placeholder, which is ours."""
    return _escaped(value, CATALOG_DIR, inert)


def _escaped(value: Any, placeholder: str, escape: Any) -> Any:
    """``escape`` applied to every string of a structure; a leading ``placeholder`` is kept."""
    if isinstance(value, str):
        if value.startswith(placeholder):
            return placeholder + escape(value[len(placeholder):])
        return escape(value)
    if isinstance(value, dict):
        return {k: _escaped(v, placeholder, escape) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_escaped(v, placeholder, escape) for v in value]
    return value


@dataclass
class Entry:
    """One catalog entry (an intake V1 source)."""

    driver: str
    description: str
    args: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"driver": self.driver, "description": self.description,
                               "args": inert_args(self.args)}
        if self.metadata:
            out["metadata"] = inert_args(self.metadata)
        return out


#: intake 2's reader (and what it returns) for each driver; the per-file catalogs (``nwb_files``)
#: have no intake 2 counterpart: ``intake_nwb.open_nwb`` opens one file
_READERS = "intake_nwb.intake.readers"
V2_READERS = {"nwb_table": ("NWBTableReader", "polars:LazyFrame"),
              "nwb_timeseries": ("NWBTimeSeriesReader", "xarray:DataArray"),
              "nwb_metadata": ("NWBMetadataReader", "polars:DataFrame")}
V2_DATATYPES = {f"{_READERS}:NWB", f"{_READERS}:NWBIndex"}
V2_CATALOG_DIR = "{CATALOG_DIR}"
V2_INDEX = "lab_index"  # the token of the index's data description


def inert_v2(value: Any) -> Any:
    """Every string of a structure with its braces doubled, so that intake 2's templating
    (``{env(...)}``, ``{func(...)}``, ``str.format``) gives it back unchanged; a leading
    ``{CATALOG_DIR}`` is ours and stays a placeholder."""
    return _escaped(value, V2_CATALOG_DIR,
                    lambda text: text.replace("{", "{{").replace("}", "}}"))


@dataclass
class CatalogDoc:
    """A whole catalog: its name, description, metadata blocks and entries; written as an
    intake V1 YAML catalog (``dialect="v1"``, ``intake.open_catalog``) or an intake 2 one
    (``"v2"``, ``intake.from_yaml_file``)."""

    name: str
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)
    entries: dict[str, Entry] = field(default_factory=dict)
    header: list[str] = field(default_factory=list)  # comment lines at the top
    dialect: str = "v1"

    def to_dict(self) -> dict[str, Any]:
        if self.dialect == "v2":
            return self._v2()
        return {"name": self.name, "description": self.description, "metadata": self.metadata,
                "sources": {k: e.to_dict() for k, e in self.entries.items()}}

    def _v2(self) -> dict[str, Any]:
        """intake 2's catalog document: the lab index as one data description, each entry a
        reader of it. Entries' arguments carry nothing from the files but entry names."""
        entries = {k: e for k, e in self.entries.items() if e.driver in V2_READERS}
        first = next(iter(entries.values()))
        data = {"datatype": f"{_READERS}:NWBIndex", "metadata": {}, "user_parameters": {},
                "kwargs": inert_v2({"url": first.args["index"].replace(CATALOG_DIR,
                                                                       V2_CATALOG_DIR),
                                    "storage_options": first.args.get("storage_options")})}
        out = {}
        for key, e in entries.items():
            reader, instance = V2_READERS[e.driver]
            kwargs = {"args": [f"{{data({V2_INDEX})}}"],  # the index: ours, never escaped
                      **inert_v2({"entry": e.args["entry"]} if "entry" in e.args else {})}
            out[key] = {"reader": f"{_READERS}:{reader}", "output_instance": instance,
                        "kwargs": kwargs, "user_parameters": {},
                        "metadata": {"description": e.description, **e.metadata}}
        return {"version": 2, "metadata": {"name": self.name, "description": self.description,
                                           **self.metadata},
                "user_parameters": {}, "aliases": {k: k for k in out},
                "data": {V2_INDEX: data}, "entries": out}

    def to_yaml(self) -> str:
        head = "".join(f"# {line}\n" for line in self.header)
        return head + dump_yaml(self.to_dict())

    def write(self, path: str | Path, previous: dict[str, Any] | None = None,
              ignore: tuple[str, ...] = ("updated",)) -> bool:
        """Write atomically; leave the file alone (False) when it would differ from
        ``previous`` (the document on disk) only in the metadata keys ``ignore`` names."""
        if previous is not None and _stable(previous, ignore) == _stable(self.to_dict(), ignore):
            return False
        atomic_write(path, self.to_yaml())
        return True


def _stable(doc: dict[str, Any], ignore: tuple[str, ...]) -> Any:
    doc = yaml.safe_load(dump_yaml(doc))
    block = (doc.get("metadata") or {}).get("intake_nwb") or {}
    for key in ignore:
        block.pop(key, None)
    return doc


class _Dumper(yaml.SafeDumper):
    """Safe YAML, block style, no aliases (readers should not need to follow anchors)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_yaml(doc: Any) -> str:
    """The package's one YAML writer (safe, insertion order kept, unicode as is)."""
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)


def header_lines(n_files: int, dialect: str = "v1") -> list[str]:
    opener, placeholder = (("intake.from_yaml_file", V2_CATALOG_DIR) if dialect == "v2" else
                           ("intake.open_catalog", CATALOG_DIR))
    return [f"Intake {'2 ' if dialect == 'v2' else ''}catalog of {n_files} NWB files, written "
            f"by intake-nwb {__version__}.",
            f'Open it with {opener}("<this file>") (or intake_nwb.open_catalog for a',
            f"catalog you did not write); paths are relative to its folder ({placeholder}).",
            "Rebuild it (intake-nwb catalog, build_catalog) rather than edit it: rebuilding",
            "re-indexes only the files that changed."]

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
    if isinstance(value, str):
        if value.startswith(CATALOG_DIR):
            return CATALOG_DIR + inert(value[len(CATALOG_DIR):])
        return inert(value)
    if isinstance(value, dict):
        return {k: inert_args(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [inert_args(v) for v in value]
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


@dataclass
class CatalogDoc:
    """A whole catalog: its name, description, metadata blocks and entries."""

    name: str
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)
    entries: dict[str, Entry] = field(default_factory=dict)
    header: list[str] = field(default_factory=list)  # comment lines at the top

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "metadata": self.metadata,
                "sources": {k: e.to_dict() for k, e in self.entries.items()}}

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


def header_lines(n_files: int) -> list[str]:
    return [f"Intake catalog of {n_files} NWB files, written by intake-nwb {__version__}.",
            'Open it with intake.open_catalog("<this file>") (or intake_nwb.open_catalog for a',
            "catalog you did not write); paths are relative to its folder ({{ CATALOG_DIR }}).",
            "Rebuild it (intake-nwb catalog, build_catalog) rather than edit it: rebuilding",
            "re-indexes only the files that changed."]

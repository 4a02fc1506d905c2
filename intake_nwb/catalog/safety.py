"""Opening a catalog you did not write: what it would read, contact and run, checked first.

Intake renders every entry argument as a Jinja template (``{{ env('SECRET') }}`` reads the
environment; ``lipsum.__globals__`` reaches ``os``), imports ``plugins:`` modules and runs any
registered driver. :func:`check_catalog` reports all of that without opening any data, and
:func:`open_catalog` (``trusted=False``, the documented way to open a received catalog) refuses a
catalog unless:

- every entry uses an intake_nwb driver (``nwb_table``, ``nwb_timeseries``, ``nwb_metadata``,
  ``nwb_file``, ``nwb_files``) and there is no ``plugins:`` block;
- templates are ``{{ CATALOG_DIR }}`` and the escapes intake-nwb writes (``{{ '{' }}``),
  nothing else, in arguments and parameter defaults;
- an intake 2 catalog (``version: 2``) uses intake_nwb's readers and datatypes only, defines no
  user parameters, and has no template but ``{CATALOG_DIR}`` and its entries' ``{data(...)}``
  (intake 2 fills ``{env(...)}``, ``{func(...)}`` and ``{import(...)}`` templates);
- the YAML is plain (no ``!!python`` or other tags);
- every local file the catalog's index names (sources, reference files) lies inside the
  catalog folder or under ``allow_paths``, and every remote host is in ``allow_hosts`` when that
  is given.

Then it returns the ordinary intake catalog. Reference files it opens are confined to their
recorded source by the store layer whatever the catalog says.
"""

from __future__ import annotations

import hashlib
import os
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import IntakeNWBError
from .model import _READERS, V2_CATALOG_DIR, V2_DATATYPES, V2_READERS

DRIVERS = frozenset({"nwb_table", "nwb_timeseries", "nwb_metadata", "nwb_file", "nwb_files"})
V2_READER_PATHS = frozenset(f"{_READERS}:{reader}" for reader, _ in V2_READERS.values())


class UnsafeCatalogError(IntakeNWBError):
    """A catalog asks for more than reading NWB files (see :func:`check_catalog`)."""


@dataclass
class CatalogReport:
    """What a catalog would read, contact and run."""

    catalog: str
    drivers: dict[str, str] = field(default_factory=dict)  # entry -> driver
    templates: dict[str, list[str]] = field(default_factory=dict)  # entry -> foreign templates
    plugins: list[str] = field(default_factory=list)
    local_paths: list[str] = field(default_factory=list)  # files the index names
    hosts: list[str] = field(default_factory=list)  # remote hosts it would contact
    problems: list[str] = field(default_factory=list)

    def describe(self) -> str:
        drivers = ", ".join(sorted(set(self.drivers.values())))
        lines = [f"catalog {self.catalog}", f"  entries: {len(self.drivers)} ({drivers})",
                 f"  local files read: {len(self.local_paths)}"
                 + "".join(f"\n    {p}" for p in self.local_paths[:20])
                 + ("\n    ..." if len(self.local_paths) > 20 else ""),
                 f"  hosts contacted: {', '.join(self.hosts) or 'none'}",
                 f"  plugins imported: {', '.join(self.plugins) or 'none'}"]
        for entry, found in self.templates.items():
            lines.append(f"  templates in {entry}: {', '.join(found)}")
        lines.append("  problems: none" if not self.problems else
                     "  problems:" + "".join(f"\n    {p}" for p in self.problems))
        return "\n".join(lines)


def _templates(value: Any) -> list[str]:
    """The Jinja constructs in a structure other than ``{{ CATALOG_DIR }}`` and ``{{ '{' }}``."""
    from jinja2 import Environment

    found: list[str] = []
    if isinstance(value, Mapping):
        for v in value.values():
            found.extend(_templates(v))
        return found
    if isinstance(value, (list, tuple)):
        for v in value:
            found.extend(_templates(v))
        return found
    if not isinstance(value, str) or not any(d in value for d in ("{{", "{%", "{#")):
        return found
    try:
        tokens = list(Environment().lex(value))
    except Exception:  # noqa: BLE001 - unparseable is not inert
        return [value]
    i = 0
    while i < len(tokens):
        _, kind, text = tokens[i]
        if kind in ("block_begin", "comment_begin", "linestatement_begin"):
            found.append(value)
            break
        if kind == "variable_begin":
            inner = []
            i += 1
            while i < len(tokens) and tokens[i][1] != "variable_end":
                if tokens[i][1] != "whitespace":
                    inner.append((tokens[i][1], tokens[i][2]))
                i += 1
            if inner not in ([("name", "CATALOG_DIR")], [("string", "'{'")]):
                found.append("{{ " + " ".join(t for _, t in inner) + " }}")
        i += 1
    return found


def _read_text(path: str, storage_options: Mapping[str, Any] | None) -> str:
    from ..sources import Source

    src = Source.from_url(path, storage_options)
    return src.fs.cat_file(src.fs_path).decode()


def check_catalog(path: str | os.PathLike[str], *,
                  storage_options: Mapping[str, Any] | None = None,
                  allow_paths: Iterable[str | os.PathLike[str]] = (),
                  allow_hosts: Iterable[str] | None = None, text: str | None = None
                  ) -> CatalogReport:
    """What the catalog at ``path`` would read, contact and run, found without opening data.

    Examples
    --------
    >>> report = check_catalog("lab/catalog.yaml")
    >>> print(report.describe())  # doctest: +ELLIPSIS
    catalog lab/catalog.yaml
      entries: 8 (nwb_files, nwb_metadata, nwb_table, nwb_timeseries)
      local files read: 8
        .../lab/sub-001_ses-001.nwb
        .../lab/refs/sub-001_ses-001.nwb...json
    ...
      hosts contacted: none
      plugins imported: none
      problems: none
    """
    path = os.fspath(path)
    report = CatalogReport(path)
    text = _read_text(path, storage_options) if text is None else text
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:  # python tags, malformed YAML
        report.problems.append(f"not plain YAML: {exc}")
        return report
    if not isinstance(doc, dict):
        report.problems.append("not a catalog (no mapping at the top)")
        return report
    if doc.get("version") == 2:
        _check_v2(doc, report)
    else:
        _check_v1(doc, report)
    folder = path.rsplit("/", 1)[0] if "://" in path else str(Path(path).resolve().parent)
    _check_index(doc, folder, report, storage_options, allow_paths, allow_hosts)
    return report


def _check_v1(doc: dict[str, Any], report: CatalogReport) -> None:
    plugins = doc.get("plugins")
    if plugins:
        report.plugins = [str(p) for p in (plugins.get("source", []) if isinstance(
            plugins, dict) else plugins)]
        report.problems.append(f"imports plugins: {report.plugins}")
    for name, entry in (doc.get("sources") or {}).items():
        entry = entry if isinstance(entry, dict) else {}
        driver = entry.get("driver")
        report.drivers[str(name)] = str(driver)
        if driver not in DRIVERS:
            report.problems.append(f"entry {name!r} uses driver {driver!r}, not intake_nwb's")
        found = _templates(entry.get("args")) + _templates(entry.get("parameters"))
        if found:
            report.templates[str(name)] = found
            report.problems.append(f"entry {name!r} has templates: {', '.join(found)}")


def _check_v2(doc: dict[str, Any], report: CatalogReport) -> None:
    """An intake 2 catalog: readers and datatypes of intake_nwb, no user parameters, and no
    template but the index's ``{CATALOG_DIR}`` and the entries' ``{data(<its token>)}``."""
    data = doc.get("data") if isinstance(doc.get("data"), dict) else {}
    tokens = {f"{{data({t})}}" for t in data}
    for kind, things, field_name, allowed in (
            ("entry", doc.get("entries"), "reader", V2_READER_PATHS),
            ("data", data, "datatype", V2_DATATYPES)):
        for name, thing in (things if isinstance(things, dict) else {}).items():
            thing = thing if isinstance(thing, dict) else {}
            what = thing.get(field_name)
            if kind == "entry":
                report.drivers[str(name)] = str(what)
            if what not in allowed:
                report.problems.append(f"{kind} {name!r} uses {what!r}, not intake_nwb's")
            if thing.get("user_parameters"):
                report.problems.append(f"{kind} {name!r} defines user parameters")
            found = [v for v in _strings(thing.get("kwargs"))
                     if v not in tokens and "{" in _unescaped(v.removeprefix(V2_CATALOG_DIR))]
            if found:
                report.templates[str(name)] = found
                report.problems.append(f"{kind} {name!r} has templates: {', '.join(found)}")
    if doc.get("user_parameters"):
        report.problems.append("the catalog defines user parameters")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return []


def _unescaped(text: str) -> str:
    """``text`` without its doubled braces (what intake 2's formatting gives back as is)."""
    return text.replace("{{", "").replace("}}", "")


def _check_index(doc: dict[str, Any], folder: str, report: CatalogReport,
                 storage_options: Mapping[str, Any] | None,
                 allow_paths: Iterable[str | os.PathLike[str]],
                 allow_hosts: Iterable[str] | None) -> None:
    from .index import LabIndex

    rel = ((doc.get("metadata") or {}).get("intake_nwb") or {}).get("index")
    if not rel:
        return  # a catalog of sources: its args were checked above
    if not isinstance(rel, str) or ".." in rel.split("/") or rel.startswith("/"):
        report.problems.append(f"its index is outside the catalog folder: {rel!r}")
        return
    try:
        lab = LabIndex(f"{folder.rstrip('/')}/{rel}", storage_options)
        records = list(lab.files.values())
    except Exception as exc:  # noqa: BLE001 - a broken index is a finding, not a crash
        report.problems.append(f"unreadable index: {exc}")
        return
    roots = [str(Path(folder).resolve())] if "://" not in folder else []
    roots += [str(Path(p).resolve()) for p in allow_paths]
    hosts = set()
    outside: dict[str, int] = {}  # folder -> files read there
    for rec in records:
        for place in (rec.url, rec.refs):
            if not place:
                continue
            parsed = urllib.parse.urlsplit(place)
            if "://" in place and parsed.scheme != "file":
                hosts.add(parsed.netloc or parsed.scheme)
                continue
            local = str(Path(place.removeprefix("file://")).resolve())
            report.local_paths.append(local)
            if not any(local == r or local.startswith(r.rstrip("/") + "/") for r in roots):
                parent = str(Path(local).parent)
                outside[parent] = outside.get(parent, 0) + 1
    for parent, n in sorted(outside.items()):
        report.problems.append(f"reads {n} local file(s) outside the catalog folder, in "
                               f"{parent} (allow it with allow_paths)")
    report.hosts = sorted(hosts)
    if allow_hosts is not None:
        allowed = set(allow_hosts)
        for host in report.hosts:
            if host not in allowed:
                report.problems.append(f"contacts {host}, not in allow_hosts")


def open_catalog(path: str | os.PathLike[str], *, trusted: bool = False,
                 storage_options: Mapping[str, Any] | None = None,
                 allow_paths: Iterable[str | os.PathLike[str]] = (),
                 allow_hosts: Iterable[str] | None = None, **kwargs: Any) -> Any:
    """Open an Intake catalog, checking first unless ``trusted`` (see the module docs).

    Raises
    ------
    UnsafeCatalogError
        The catalog asks for more than reading NWB files; the message lists what.

    Examples
    --------
    >>> from intake_nwb import build_catalog
    >>> received = build_catalog("lab/*.nwb", "received/catalog.yaml")  # files outside it
    >>> open_catalog(received)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    intake_nwb...UnsafeCatalogError: ... reads 4 local file(s) outside the catalog folder...
    >>> cat = open_catalog(received, allow_paths=["lab"])
    >>> cat.units.read().shape
    (160, 13)
    """
    import intake

    path = os.fspath(path)
    text = _read_text(path, storage_options)

    def opened() -> Any:  # intake 2's own catalogs open with from_yaml_file
        if re.search(r"^version:\s*2\s*$", text, re.MULTILINE):
            return intake.from_yaml_file(path, storage_options=storage_options or {})
        return intake.open_catalog(path, storage_options=storage_options, **kwargs)

    if trusted:
        return opened()
    report = check_catalog(path, storage_options=storage_options, allow_paths=allow_paths,
                           allow_hosts=allow_hosts, text=text)
    if report.problems:
        raise UnsafeCatalogError("refused (open it with trusted=True only if you trust its "
                                 "author): " + "; ".join(report.problems), source=path)
    cat = opened()
    if hashlib.sha256(_read_text(path, storage_options).encode()).digest() != \
            hashlib.sha256(text.encode()).digest():
        raise UnsafeCatalogError("the catalog changed while it was checked", source=path)
    return cat

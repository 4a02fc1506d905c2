"""``build_catalog()``: an Intake catalog (YAML) of NWB sources, beside their reference files.

The catalog has one entry per table path found in any file (rows concatenated across files),
one per TimeSeries path, a ``sessions`` metadata entry and one nested ``nwb_file`` catalog per
file. Entries address what they read relative to the catalog (``{{ CATALOG_DIR }}``):

- an HDF5 source outside the catalog folder (elsewhere on disk, S3, HTTP...) is read through its
  reference file, kept beside the catalog (``refs/`` by default); the reference file records
  the source's URL, so the folder can be copied, committed or uploaded and still reads the same
  bytes (pass ``relocate=`` to an entry to read them from elsewhere);
- a source inside the catalog folder is addressed by its relative path, with ``refs:`` naming
  the folder's reference directory: the data travel with the catalog (references of a moved
  folder are remade on first use);
- a Zarr NWB store (or a reference file given as a source) is addressed as it is.

The catalog's ``metadata.intake_nwb`` block records the intake_nwb version, the creation and
update times, and each source's identity (size, ETag/version, mtime) and contents, so rebuilding
re-indexes and re-inspects only the sources that changed.
"""

from __future__ import annotations

import concurrent.futures as cf
import copy
import datetime as dt
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .._version import __version__
from ..errors import Errors, IntakeNWBError, report_failures
from ..refs import cache as refcache
from ..refs import index
from ..sources import Source, expand, identity_matches
from .names import entry_names

__all__ = ["CATALOG_DIR", "FileRecord", "build_catalog"]

CATALOG_DIR = "{{ CATALOG_DIR }}"
FORMAT = 1
# tables first in this order, then the others by path
_FIRST = ("/units", "/intervals/trials", "/intervals/epochs",
          "/general/extracellular_ephys/electrodes")
_MAX_WORKERS = 16


@dataclass
class FileRecord:
    """What a catalog knows of one source (stored in ``metadata.intake_nwb.files``).

    Examples
    --------
    >>> FileRecord("/lab/ses-1.nwb", "hdf5", {"size": 10}, tables={"/units": 40}).tables
    {'/units': 40}
    """

    url: str
    kind: str  # "hdf5" | "zarr" | "refs"
    identity: dict[str, Any]
    refs: str | None = None  # the reference file of an HDF5 source
    nwb_path: str | None = None  # the NWB file a reference-file source describes
    entry: str = ""
    tables: dict[str, int] = field(default_factory=dict)  # path -> rows
    timeseries: list[str] = field(default_factory=list)


@dataclass
class BuildReport:
    """What :func:`build` did: the catalog, the sources (re)inspected and those reused.

    Examples
    --------
    >>> report = build("data/*.nwb", "lab/catalog.yaml")  # doctest: +SKIP
    >>> report.inspected, report.reused, report.written  # doctest: +SKIP
    (['/data/ses-3.nwb'], ['/data/ses-1.nwb', '/data/ses-2.nwb'], True)
    """

    path: Path
    files: list[FileRecord]
    inspected: list[str]
    reused: list[str]
    entries: dict[str, str]  # name -> driver
    written: bool


def build_catalog(sources: Any, path: str | os.PathLike[str], *,
                  refs_dir: str | os.PathLike[str] | None = None, name: str | None = None,
                  description: str | None = None,
                  storage_options: Mapping[str, Any] | None = None, progress: bool = True,
                  errors: Errors = "raise") -> Path:
    """Index NWB sources and write an Intake catalog of their tables, TimeSeries and sessions.

    Parameters
    ----------
    sources:
        NWB paths/URLs/globs (HDF5 or Zarr; local, S3, GCS, Azure, HTTP), reference files, or a
        list of these.
    path:
        The catalog file to write (local), e.g. ``"lab/catalog.yaml"``; its folder is the
        catalog folder.
    refs_dir:
        Where reference files go; default ``<catalog folder>/refs``. Keep it inside the folder
        for a catalog that can be copied or shared.
    name, description:
        The catalog's name (default: from the file name) and description.
    storage_options:
        fsspec options for the sources (``{"anon": True}``); written into the entries.
    progress:
        Show progress bars while indexing.
    errors:
        A source that cannot be indexed or read: ``"raise"`` (after the others were done),
        ``"warn"`` or ``"ignore"`` (left out of the catalog).

    Returns
    -------
    pathlib.Path
        The catalog file. Rebuilding over an existing catalog re-indexes only changed sources,
        and leaves the file untouched when nothing changed.

    Examples
    --------
    >>> import intake, intake_nwb
    >>> cat_path = intake_nwb.build_catalog("sessions/*.nwb", "lab/catalog.yaml")
    ... # doctest: +SKIP
    >>> cat = intake.open_catalog(cat_path)  # doctest: +SKIP
    >>> cat.units.read()  # /units of every file, concatenated  # doctest: +SKIP
    >>> cat.sub_001_ses_001.trials.to_pandas()  # one file's table  # doctest: +SKIP
    """
    return build(sources, path, refs_dir=refs_dir, name=name, description=description,
                 storage_options=storage_options, progress=progress, errors=errors).path


def build(sources: Any, path: str | os.PathLike[str], *,
          refs_dir: str | os.PathLike[str] | None = None, name: str | None = None,
          description: str | None = None, storage_options: Mapping[str, Any] | None = None,
          progress: bool = True, errors: Errors = "raise") -> BuildReport:
    """:func:`build_catalog`, returning a :class:`BuildReport` (used by the CLI).

    Examples
    --------
    >>> build("data/*.nwb", "lab/catalog.yaml").entries["units"]  # doctest: +SKIP
    'nwb_table'
    """
    if "://" in os.fspath(path) and not os.fspath(path).startswith("file://"):
        raise IntakeNWBError("write the catalog locally, then copy the folder (YAML and refs/)",
                             source=os.fspath(path))
    path = Path(os.fspath(path).removeprefix("file://")).resolve()
    folder = path.parent
    refs = Path(refs_dir).resolve() if refs_dir is not None else folder / "refs"
    previous_doc = _load(path)
    previous = {r.url: r for r in _records(previous_doc, folder)}
    srcs = expand(sources, storage_options)
    failures: dict[str, BaseException] = {}

    identities = _map(lambda s: s.identity(), srcs, failures)
    reused, todo = [], []
    for s in srcs:
        if s.url not in identities:
            continue
        rec = previous.get(s.url)
        if rec is not None and _reusable(rec, identities[s.url], refs):
            reused.append(rec)
        else:
            todo.append(s)
    targets = index(todo, refs_dir=refs, progress=progress, errors="ignore") if todo else {}
    for s in todo:
        if s.url not in targets:  # index() left it out: say why, once, with the others
            try:
                index([s], refs_dir=refs, progress=False)
            except Exception as exc:  # noqa: BLE001 - reported below by the errors policy
                failures[s.url] = exc
    inspected = _map(lambda s: _inspect(s, targets[s.url], identities[s.url]),
                     [s for s in todo if s.url in targets], failures)
    report_failures(failures, errors, "could not be catalogued")
    by_url = {r.url: r for r in [*reused, *inspected.values()]}
    files = [by_url[s.url] for s in srcs if s.url in by_url]
    if not files:
        raise IntakeNWBError("no source could be catalogued", source=os.fspath(path))

    doc = _document(files, folder, refs, name=name, description=description,
                    storage_options=storage_options, previous=previous_doc)
    written = _write(path, doc, previous_doc)
    return BuildReport(path=path, files=files, inspected=list(inspected), reused=[
        r.url for r in reused], entries={k: v["driver"] for k, v in doc["sources"].items()},
        written=written)


# -- sources -------------------------------------------------------------------------------------

def _map(fn: Any, srcs: Sequence[Source], failures: dict[str, BaseException]) -> dict[str, Any]:
    """``{url: fn(source)}`` concurrently; failures collected by URL."""
    out: dict[str, Any] = {}
    if not srcs:
        return out
    with cf.ThreadPoolExecutor(max_workers=min(_MAX_WORKERS, len(srcs))) as pool:
        futures = {pool.submit(fn, s): s.url for s in srcs}
        for fut in cf.as_completed(futures):
            try:
                out[futures[fut]] = fut.result()
            except Exception as exc:  # noqa: BLE001 - reported together by the errors policy
                failures[futures[fut]] = exc
    return {s.url: out[s.url] for s in srcs if s.url in out}


def _reusable(rec: FileRecord, identity: Mapping[str, Any], refs: Path) -> bool:
    """Unchanged source whose references are where this build keeps them."""
    if not identity_matches(rec.identity, identity):
        return False
    if rec.kind != "hdf5":
        return True
    current = refcache.existing(refcache.refs_path_for(rec.url, refs))
    return current is not None and rec.refs is not None and Path(rec.refs) == current


def _inspect(src: Source, target: str, identity: dict[str, Any]) -> FileRecord:
    """Open a source (through its references) and list its tables and TimeSeries."""
    from ..nwb import NWBReader, TableReader
    from ..nwb.timeseries import timeseries_paths
    from ..store import open_store

    store = open_store(target, storage_options=src.storage_options or None)
    nwb = NWBReader(store)
    tables: dict[str, int] = {}
    for p in nwb.tables:
        try:
            tables[p] = TableReader(nwb, p).n_rows
        except IntakeNWBError as exc:
            warnings.warn(f"left out of the catalog: {exc}", stacklevel=2)
    kind = "hdf5" if target != src.url else store.kind
    return FileRecord(url=src.url, kind=kind, identity=dict(identity),
                      refs=target if kind == "hdf5" else None,
                      nwb_path=store.source if store.source != src.url else None,
                      tables=tables, timeseries=timeseries_paths(nwb))


# -- the YAML document ---------------------------------------------------------------------------

def _inside(p: str, folder: Path) -> str | None:
    """``p`` relative to ``folder`` (posix), or None when it is remote or elsewhere."""
    if "://" in p:
        return None
    try:
        return Path(p).resolve().relative_to(folder).as_posix()
    except ValueError:
        return None


def _portable(p: str, folder: Path) -> str:
    """How the metadata records a path: relative to the catalog folder when inside it."""
    return _inside(p, folder) or p


def _locate(p: str, folder: Path) -> str:
    """How an entry addresses a path: ``{{ CATALOG_DIR }}/...`` when inside the folder."""
    rel = _inside(p, folder)
    return f"{CATALOG_DIR}/{rel}" if rel is not None else p


def _address(rec: FileRecord, folder: Path, refs: Path) -> tuple[str, str | None]:
    """(what an entry reads, the refs folder it needs or None)."""
    if rec.kind == "hdf5" and _inside(rec.url, folder) is not None:
        return _locate(rec.url, folder), _locate(str(refs), folder)
    if rec.kind == "hdf5":
        assert rec.refs is not None
        return _locate(rec.refs, folder), None
    return _locate(rec.url, folder), None


def _file_key(rec: FileRecord) -> str:
    """A path-like name of the file for naming its entry: ``.../neuroconv/test``."""
    url = (rec.nwb_path or rec.url).rstrip("/")
    for suffix in (".nwb.zarr", ".zarr", ".nwb", ".json", ".parq"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
            break
    return url.split("://", 1)[-1]


def _document(files: list[FileRecord], folder: Path, refs: Path, *, name: str | None,
              description: str | None, storage_options: Mapping[str, Any] | None,
              previous: dict[str, Any] | None) -> dict[str, Any]:
    table_paths = sorted({p for r in files for p in r.tables},
                         key=lambda p: (_FIRST.index(p) if p in _FIRST else len(_FIRST), p))
    series_paths = sorted({p for r in files for p in r.timeseries})
    names = entry_names([*table_paths, *series_paths], taken={"sessions"})
    keys = {_file_key(r): r for r in files}
    file_names = entry_names(list(keys), taken={"sessions", *names.values()})
    for key, rec in keys.items():
        rec.entry = file_names[key]

    located = {r.url: _address(r, folder, refs) for r in files}
    shared: dict[tuple[str, ...], list[str]] = {}

    def args(recs: list[FileRecord]) -> dict[str, Any]:
        locs = tuple(located[r.url][0] for r in recs)
        out: dict[str, Any] = {"sources": shared.setdefault(locs, list(locs))}
        refs_dirs = {located[r.url][1] for r in recs} - {None}
        if refs_dirs:
            out["refs"] = refs_dirs.pop()
        if storage_options:
            out["storage_options"] = copy.deepcopy(dict(storage_options))
        return out

    sources: dict[str, Any] = {"sessions": {
        "driver": "nwb_metadata",
        "description": f"session and subject metadata: one row per file ({len(files)} files)",
        "args": args(files), "metadata": {"n_files": len(files)}}}
    for p in table_paths:
        recs = [r for r in files if p in r.tables]
        rows = sum(r.tables[p] for r in recs)
        sources[names[p]] = {
            "driver": "nwb_table",
            "description": f"table {p}: {rows} rows from {len(recs)} file(s)",
            "args": {**args(recs), "table_path": p},
            "metadata": {"table_path": p, "n_rows": rows, "n_files": len(recs)}}
    for p in series_paths:
        recs = [r for r in files if p in r.timeseries]
        sources[names[p]] = {
            "driver": "nwb_timeseries",
            "description": f"TimeSeries {p} in {len(recs)} file(s); file=<name or index> picks "
                           f"one (default: {recs[0].entry})",
            "args": {**args(recs), "path": p},
            "metadata": {"path": p, "n_files": len(recs), "files": [r.entry for r in recs]}}
    for rec in files:
        loc, rdir = located[rec.url]
        fargs: dict[str, Any] = {"source": loc}
        if rdir:
            fargs["refs"] = rdir
        if storage_options:
            fargs["storage_options"] = copy.deepcopy(dict(storage_options))
        sources[rec.entry] = {
            "driver": "nwb_file",
            "description": f"NWB file {_portable(rec.nwb_path or rec.url, folder)}: "
                           f"{len(rec.tables)} tables, {len(rec.timeseries)} TimeSeries",
            "args": fargs,
            "metadata": {"nwb_path": _portable(rec.nwb_path or rec.url, folder),
                         "tables": list(rec.tables), "timeseries": list(rec.timeseries)}}

    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    before = (previous or {}).get("metadata", {}).get("intake_nwb", {})
    return {
        "name": name or (previous or {}).get("name") or folder.name,
        "description": description or (previous or {}).get("description") or
        f"NWB catalog of {len(files)} files, built by intake-nwb",
        "metadata": {"intake_nwb": {
            "version": __version__, "format": FORMAT,
            "created": before.get("created", now), "updated": now,
            "refs_dir": _portable(str(refs), folder),
            "files": [_record_doc(r, folder) for r in files]}},
        "sources": sources,
    }


def _record_doc(rec: FileRecord, folder: Path) -> dict[str, Any]:
    doc = asdict(rec)
    doc["url"] = _portable(rec.url, folder)
    doc["refs"] = None if rec.refs is None else _portable(rec.refs, folder)
    return {k: v for k, v in doc.items() if v not in (None, "")}


def _records(doc: dict[str, Any] | None, folder: Path) -> list[FileRecord]:
    """The file records of an existing catalog, paths made absolute again."""
    block = (doc or {}).get("metadata", {}).get("intake_nwb", {})
    if block.get("format") != FORMAT:
        return []
    out = []
    for item in block.get("files", []):
        item = dict(item)
        for key in ("url", "refs"):
            if item.get(key) and "://" not in item[key] and not os.path.isabs(item[key]):
                item[key] = str((folder / item[key]).resolve())
        try:
            out.append(FileRecord(**item))
        except TypeError:
            return []  # another layout: rebuild from scratch
    return out


def _load(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None
    return doc if isinstance(doc, dict) else None


class _Dumper(yaml.SafeDumper):
    """Readable anchors (``&files``, ``&files2``...) for the file lists entries share."""

    def generate_anchor(self, node: yaml.Node) -> str:
        self._n = getattr(self, "_n", 0) + 1
        return "files" if self._n == 1 else f"files{self._n}"

    def ignore_aliases(self, data: Any) -> bool:
        return not isinstance(data, list) or super().ignore_aliases(data)


def _header(doc: dict[str, Any]) -> str:
    n = len(doc["metadata"]["intake_nwb"]["files"])
    return (f"# Intake catalog of {n} NWB files, written by intake-nwb {__version__}.\n"
            "# Open it with intake.open_catalog(\"<this file>\"); paths are relative to its\n"
            "# folder ({{ CATALOG_DIR }}). Rebuild it (intake-nwb catalog, build_catalog) rather\n"
            "# than edit it: rebuilding re-indexes only the files that changed.\n")


def _write(path: Path, doc: dict[str, Any], previous: dict[str, Any] | None) -> bool:
    """Write atomically; leave the file alone when only the update time would change."""
    def stable(d: dict[str, Any] | None) -> Any:
        if d is None:
            return None
        d = yaml.safe_load(yaml.dump(d, Dumper=_Dumper, sort_keys=False))
        d.get("metadata", {}).get("intake_nwb", {}).pop("updated", None)
        return d

    if previous is not None and stable(previous) == stable(doc):
        return False
    text = _header(doc) + yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=100,
                                    allow_unicode=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return True

"""``build_catalog()``: an Intake catalog (YAML) of NWB sources, with its lab index and references.

A catalog folder holds::

    catalog.yaml     entries: sessions, one per table path, one per TimeSeries path, ``files``
    index/<version>/ the lab index (:mod:`.index`): file records, sessions, every table's
                     scalar columns and each file's schema
    refs/            reference files of HDF5 sources (JSON, or parquet for huge files)

The YAML stays small whatever the number of files: entries name the index and their own name,
and the index holds the per-file lists. Each table entry records its merged schema and, when
columns of different files have no common type, those conflicts, so ``describe()`` shows them
before any read. Rebuilding re-indexes and re-inspects only the sources whose identity changed,
and leaves the folder untouched when nothing did. A source that cannot be catalogued is left
out and recorded (``metadata.intake_nwb.failures``), unless ``errors="raise"``.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from .._version import __version__
from ..errors import Errors, IntakeNWBError, report_failures
from ..frames.schema import NWB_PATH, is_array
from ..frames.tables import ScanOptions, TablePart, bounds_columns, read_columns
from ..nwb import NWBReader, TableReader
from ..nwb.metadata import read_metadata
from ..nwb.timeseries import timeseries_paths
from ..refs.index import index_sources
from ..refs.translate import Options
from ..sources import Source, expand, identity_matches
from ..store import open_store
from ..util.fanout import fan_out
from .index import INDEX_MAX_ROWS, FileRecord, FileTable, LabIndex, TableIndex, write_index
from .locate import portable
from .model import CATALOG_DIR, V2_READERS, CatalogDoc, Entry, header_lines
from .names import entry_names

__all__ = ["BuildReport", "build", "build_catalog"]

# tables first in this order, then the others by path
_FIRST = ("/units", "/intervals/trials", "/intervals/epochs",
          "/general/extracellular_ephys/electrodes")
_RESERVED_ENTRIES = {"sessions", "files"}
_KEPT_INDEX_VERSIONS = 2  # the current one and the one before (a reader may still be on it)


@dataclass
class BuildReport:
    """What :func:`build` did.

    Examples
    --------
    >>> report = build("lab/sub-001_*.nwb", "subjects/catalog.yaml")
    >>> len(report.inspected), len(report.reused), report.written
    (2, 0, True)
    >>> report = build("lab/*.nwb", "subjects/catalog.yaml")  # two more files
    >>> [Path(f).name for f in report.inspected]  # the others are reused as they were
    ['sub-002_ses-003.nwb', 'sub-002_ses-004.nwb']
    """

    path: Path
    files: list[FileRecord]
    inspected: list[str]
    reused: list[str]
    entries: dict[str, str]  # name -> driver
    written: bool
    failures: dict[str, str] = field(default_factory=dict)  # url -> why it was left out


@dataclass
class _Inspected:
    """One file as the index records it: its record, metadata row and tables."""

    record: FileRecord
    session: dict[str, Any]
    tables: dict[str, FileTable]


def build_catalog(sources: Any, path: str | os.PathLike[str], *,
                  refs_dir: str | os.PathLike[str] | None = None, name: str | None = None,
                  description: str | None = None,
                  storage_options: Mapping[str, Any] | None = None,
                  progress: bool | None = None, errors: Errors = "warn",
                  extras: Mapping[str, Mapping[str, Any]] | None = None,
                  dialect: str = "v1") -> Path:
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
        The catalog's name (default: from the folder name) and description.
    storage_options:
        fsspec options for the sources (``{"anon": True}``); written into the entries.
    progress:
        Show progress bars (default: for many files).
    errors:
        A source that cannot be indexed or read: ``"warn"`` (default: left out, recorded in
        the catalog's metadata and named in one warning), ``"ignore"`` (the same, silently)
        or ``"raise"`` (after the others were done).
    extras:
        ``{source URL: {...}}`` kept with each file's record (e.g. DANDI pins); a
        ``"sessions"`` mapping in it adds columns to the ``sessions`` table.
    dialect:
        ``"v1"`` (default): intake's V1 YAML catalog, opened with ``intake.open_catalog`` (with
        an entry per file under ``files``); ``"v2"``: an intake 2 catalog, opened with
        ``intake.from_yaml_file``, its entries readers of the same lab index
        (:class:`intake_nwb.intake.readers.NWBIndex`).

    Returns
    -------
    pathlib.Path
        The catalog file.

    Examples
    --------
    >>> import intake, intake_nwb
    >>> cat_path = intake_nwb.build_catalog("lab/*.nwb", "lab/catalog.yaml")
    >>> cat_path.name
    'catalog.yaml'
    >>> cat = intake.open_catalog(cat_path)
    >>> cat.units.read().shape  # /units of every file, from the lab index
    (160, 13)
    >>> cat.files.sub_001_ses_001.trials.to_pandas().shape  # one file's table
    (200, 10)
    """
    return build(sources, path, refs_dir=refs_dir, name=name, description=description,
                 storage_options=storage_options, progress=progress, errors=errors,
                 extras=extras, dialect=dialect).path


def build(sources: Any, path: str | os.PathLike[str], *,
          refs_dir: str | os.PathLike[str] | None = None, name: str | None = None,
          description: str | None = None, storage_options: Mapping[str, Any] | None = None,
          progress: bool | None = None, errors: Errors = "warn",
          extras: Mapping[str, Mapping[str, Any]] | None = None,
          metadata: Mapping[str, Any] | None = None, header: list[str] | None = None,
          dialect: str = "v1") -> BuildReport:
    """:func:`build_catalog`, returning a :class:`BuildReport`; ``metadata`` adds blocks to the
    catalog's metadata (e.g. ``{"dandi": {...}}``) and ``header`` comment lines."""
    if dialect not in ("v1", "v2"):
        raise ValueError(f"dialect is 'v1' (intake.open_catalog) or 'v2' (intake 2), "
                         f"not {dialect!r}")
    if "://" in os.fspath(path) and not os.fspath(path).startswith("file://"):
        raise IntakeNWBError("write the catalog locally, then copy the folder (YAML, index/, "
                             "refs/)", source=os.fspath(path))
    path = Path(os.fspath(path).removeprefix("file://")).resolve()
    folder = path.parent
    refs = Path(refs_dir).resolve() if refs_dir is not None else folder / "refs"
    previous_doc = _load(path)
    previous = _previous_index(previous_doc, folder)
    srcs = expand(sources, storage_options)
    extras = dict(extras or {})

    identities, failures = fan_out(lambda s: s.identity(), srcs, key=lambda s: s.url)
    old = {r.url: r for r in previous.files.values()} if previous else {}
    reused = [s for s in srcs if s.url in identities and s.url in old
              and _reusable(old[s.url], identities[s.url], refs, extras.get(s.url))]
    todo = [s for s in srcs if s.url in identities and s not in reused]
    targets, index_failures = index_sources(todo, refs_dir=refs, options=Options(),
                                            progress=progress)
    failures.update(index_failures)
    inspected, inspect_failures = fan_out(
        lambda s: _inspect(s, targets[s.url], identities[s.url], extras.get(s.url, {})),
        [s for s in todo if s.url in targets], key=lambda s: s.url, progress=progress,
        desc="inspecting NWB")
    failures.update(inspect_failures)
    if errors == "raise":
        report_failures(failures, errors, "could not be catalogued")
    by_url = _reuse(previous, [old[s.url] for s in reused]) if previous else {}
    by_url.update(inspected)
    files = [by_url[s.url] for s in srcs if s.url in by_url]
    if errors == "warn":
        report_failures(failures, errors, "could not be catalogued")
    if not files:
        raise IntakeNWBError("no source could be catalogued: " + "; ".join(
            f"{u}: {e}" for u, e in failures.items()), source=os.fspath(path))

    doc, index_rel = _document(files, folder, refs, name=name, description=description,
                               storage_options=storage_options, previous=previous_doc,
                               failures={u: str(e) for u, e in failures.items()},
                               metadata=metadata, header=header, dialect=dialect)
    written = doc.write(path, previous_doc)
    _prune_index_versions(folder, keep=index_rel)
    return BuildReport(path=path, files=[f.record for f in files],
                       inspected=list(inspected), reused=[s.url for s in reused],
                       entries={k: e.driver for k, e in doc.entries.items()
                                if dialect == "v1" or e.driver in V2_READERS}, written=written,
                       failures={u: str(e) for u, e in failures.items()})


# -- sources -------------------------------------------------------------------------------------

def _reusable(rec: FileRecord, identity: Mapping[str, Any], refs: Path,
              extra: Mapping[str, Any] | None) -> bool:
    """Unchanged source whose references are where this build keeps them."""
    if not identity_matches(rec.identity, identity) or dict(extra or {}) != rec.extra:
        return False
    if rec.kind != "hdf5":
        return True
    from ..refs import cache as refcache

    current = refcache.existing(refcache.refs_path_for(rec.url, refs))
    return current is not None and rec.refs is not None and Path(rec.refs) == current


def _inspect(src: Source, target: str, identity: dict[str, Any], extra: Mapping[str, Any]
             ) -> _Inspected:
    """Open a source (through its references): its tables (schemas, scalar columns), its
    TimeSeries and its metadata."""
    store = open_store(target, storage_options=src.storage_options or None)
    nwb = NWBReader(store)
    tables: dict[str, FileTable] = {}
    for p in nwb.tables:
        try:
            reader = TableReader(nwb, p)
            part = TablePart.of(reader)
        except IntakeNWBError:
            continue  # not a readable table here: the catalog lists what it can read
        scalar = [c for c, t in part.dtypes.items() if not is_array(t)]
        rows, failed = (read_columns(part, scalar) if part.n_rows <= INDEX_MAX_ROWS
                        else (None, {}))
        dtypes = {c: t for c, t in part.dtypes.items() if c not in failed}
        ragged: dict[str, Any] = {}
        if rows is not None:
            rows = rows.drop(*failed)
            for c in (c for c, t in dtypes.items() if is_array(t)):
                found = reader.ragged_layout(c)
                if found is not None:  # read later from the index: see frames.tables
                    starts, stops, ragged[c] = found
                    start, stop = bounds_columns(c)
                    rows = rows.with_columns(pl.Series(start, starts), pl.Series(stop, stops))
        tables[p] = FileTable(dtypes, part.n_rows, {**part.failures, **failed}, rows, ragged)
    kind = "hdf5" if target != src.url else store.kind
    if kind == "hdf5":  # the references' record carries a content sample for later checks
        identity = dict(store.meta.get("identity") or identity)
    record = FileRecord(key="", url=src.url, kind=kind, identity=dict(identity),
                        nwb_path=store.source, refs=target if kind == "hdf5" else None,
                        tables={p: t.n_rows for p, t in tables.items()},
                        timeseries=timeseries_paths(nwb), extra=dict(extra))
    session = {**read_metadata(nwb), **dict(extra.get("sessions", {})), NWB_PATH: store.source}
    return _Inspected(record, session, tables)


def _previous_index(doc: dict[str, Any] | None, folder: Path) -> LabIndex | None:
    block = ((doc or {}).get("metadata") or {}).get("intake_nwb") or {}
    rel = block.get("index")
    if block.get("format") != 2 or not isinstance(rel, str) or \
            not (folder / rel / "files.parquet").exists():
        return None
    return LabIndex(str(folder / rel))


def _reuse(previous: LabIndex, records: list[FileRecord]) -> dict[str, _Inspected]:
    """Files the previous build inspected, taken from its index (one scan per table entry)."""
    if not records:
        return {}
    by_path = {r.nwb_path: r for r in records}
    sessions = {row[NWB_PATH]: row for row in previous.sessions().filter(
        pl.col(NWB_PATH).is_in(list(by_path))).iter_rows(named=True)}
    out = {r.url: _Inspected(r, sessions.get(r.nwb_path, {NWB_PATH: r.nwb_path}), {})
           for r in records}
    for entry, path in _table_entries(previous).items():
        _, files, _ = previous.table(entry)
        rows = (previous.indexed_frame(entry).filter(pl.col(NWB_PATH).is_in(list(by_path)))
                .drop("_table_path", "_table_index").collect()
                .partition_by(NWB_PATH, as_dict=True, include_key=False))
        for rec in records:
            if path in rec.tables and rec.key in files:
                ft = files[rec.key]
                if rec.key in previous.indexed_keys(entry):
                    ft.rows = rows.get((rec.nwb_path,), pl.DataFrame())
                out[rec.url].tables[path] = ft
    return out


def _table_entries(index: LabIndex) -> dict[str, str]:
    """Entry name -> table path of an index's table entries."""
    directory = Path(index._path("files.parquet")).parent / "tables"
    out = {}
    for p in sorted(directory.glob("*.json")):
        out[p.stem] = index.table(p.stem)[0]
    return out


# -- the document --------------------------------------------------------------------------------

def _file_key(rec: FileRecord) -> str:
    """A path-like name of the file for naming its entry: ``.../neuroconv/test`` (or the
    ``label`` its extras give, e.g. a DANDI asset path)."""
    url = str(rec.extra.get("label") or rec.nwb_path).rstrip("/")
    for suffix in (".nwb.zarr", ".zarr", ".nwb", ".json", ".parq"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
            break
    return url.split("://", 1)[-1]


def _document(files: list[_Inspected], folder: Path, refs: Path, *, name: str | None,
              description: str | None, storage_options: Mapping[str, Any] | None,
              previous: dict[str, Any] | None, failures: Mapping[str, str],
              metadata: Mapping[str, Any] | None, header: list[str] | None, dialect: str
              ) -> tuple[CatalogDoc, str]:
    records = [f.record for f in files]
    table_paths = sorted({p for r in records for p in r.tables},
                         key=lambda p: (_FIRST.index(p) if p in _FIRST else len(_FIRST), p))
    series_paths = sorted({p for r in records for p in r.timeseries})
    names = entry_names([*table_paths, *series_paths], taken=_RESERVED_ENTRIES)
    keys = entry_names([_file_key(r) for r in records])
    for rec in records:
        rec.key = keys[_file_key(rec)]

    tables: dict[str, TableIndex] = {}
    schemas: dict[str, dict[str, pl.DataType]] = {}
    entries: dict[str, Entry] = {}
    loc = f"{CATALOG_DIR}/"  # filled in below, once the index version is known
    for p in table_paths:
        having = [f for f in files if p in f.tables]
        table = TableIndex(p, {f.record.key: f.tables[p] for f in having})
        parts = [(f.record.nwb_path, f.tables[p].dtypes) for f in having]
        merged = ScanOptions().reconcile_dtypes(parts)
        tables[names[p]] = table
        schemas[names[p]] = merged.schema
        rows = sum(f.tables[p].n_rows for f in having)
        failed = [f"{f.record.nwb_path} [{p}/{c}]: {why}" for f in having
                  for c, why in f.tables[p].failures.items()]
        meta: dict[str, Any] = {"table_path": p, "n_rows": rows, "n_files": len(having),
                                "columns": {c: str(t) for c, t in merged.schema.items()}}
        if merged.conflicts:
            meta["conflicts"] = [c.describe() for c in merged.conflicts]
        if failed:
            meta["unreadable"] = failed
        entries[names[p]] = Entry("nwb_table", f"table {p}: {rows} rows from {len(having)} "
                                  f"file(s)", {"index": loc, "entry": names[p]}, meta)
    for p in series_paths:
        having = [r for r in records if p in r.timeseries]
        entries[names[p]] = Entry(
            "nwb_timeseries", f"TimeSeries {p} in {len(having)} file(s); file=<name or "
            f"index> picks one (default: {having[0].key})", {"index": loc, "entry": names[p]},
            {"path": p, "n_files": len(having)})
    sessions = pl.DataFrame([f.session for f in files], infer_schema_length=None)
    sessions = _session_types(sessions).with_columns(
        pl.col(NWB_PATH).replace_strict({r.nwb_path: r.key for r in records}))
    index_rel = write_index(folder, records, sessions, tables,
                            {names[p]: p for p in series_paths}, schemas)
    for entry in entries.values():
        entry.args["index"] = f"{CATALOG_DIR}/{index_rel}"
        if storage_options:
            entry.args["storage_options"] = dict(storage_options)
    ordered = {"sessions": Entry(
        "nwb_metadata", f"session and subject metadata: one row per file ({len(files)} files)",
        {"index": f"{CATALOG_DIR}/{index_rel}", **({"storage_options": dict(storage_options)}
                                                   if storage_options else {})},
        {"n_files": len(files)})}
    ordered.update(entries)
    ordered["files"] = Entry(
        "nwb_files", f"one catalog per NWB file ({len(files)} files): cat.files.<name>",
        dict(ordered["sessions"].args), {"n_files": len(files)})

    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    before = ((previous or {}).get("metadata") or {}).get("intake_nwb") or {}
    block: dict[str, Any] = {
        "version": __version__, "format": 2, "created": before.get("created", now),
        "updated": now, "index": index_rel, "refs_dir": portable(str(refs), folder),
        "n_files": len(files)}
    if failures:
        block["failures"] = dict(failures)
    doc = CatalogDoc(
        name=name or _previous(previous, "name") or folder.name,
        description=description or _previous(previous, "description")
        or f"NWB catalog of {len(files)} files, built by intake-nwb",
        metadata={"intake_nwb": block, **dict(metadata or {})}, entries=ordered,
        header=[*header_lines(len(files), dialect), *(header or [])], dialect=dialect)
    return doc, index_rel


def _previous(doc: dict[str, Any] | None, key: str) -> Any:
    """A name or description of the catalog on disk (at the top in V1, in metadata in V2)."""
    doc = doc or {}
    return doc.get(key) or (doc.get("metadata") or {}).get(key)


def _session_types(frame: pl.DataFrame) -> pl.DataFrame:
    """The sessions table's column types whatever the files hold (nulls in every file)."""
    fixed = {"session_start_time": pl.Datetime("us", "UTC"),
             "date_of_birth": pl.Datetime("us", "UTC"),
             "experimenter": pl.List(pl.String), "keywords": pl.List(pl.String)}
    return frame.with_columns([pl.col(c).cast(t) for c, t in fixed.items() if c in frame])


def _load(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None
    return doc if isinstance(doc, dict) else None


def _prune_index_versions(folder: Path, keep: str) -> None:
    """Remove index versions older than the current and the previous one, and staging folders
    of builds that were killed."""
    root = folder / "index"
    versions = sorted((p for p in root.iterdir() if p.is_dir()),
                      key=lambda p: p.stat().st_mtime, reverse=True)
    kept = [p for p in versions if not p.name.startswith(".tmp-")][:_KEPT_INDEX_VERSIONS]
    if (folder / keep) not in kept:
        kept.append(folder / keep)
    for p in versions:
        # another build may be staging right now: only old staging folders are leftovers
        abandoned = p.name.startswith(".tmp-") and time.time() - p.stat().st_mtime > 3600
        if p not in kept and (abandoned or not p.name.startswith(".tmp-")):
            shutil.rmtree(p, ignore_errors=True)

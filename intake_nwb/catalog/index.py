"""The lab index: what lab-wide questions need, computed once when a catalog is built.

Beside ``catalog.yaml`` a catalog keeps ``index/<version>/`` (``version`` names its content, so
a rebuilt index is a new folder and the YAML, replaced atomically, points at one or the other:
a reader never sees half of each):

=========================  ===============================================================
``files.parquet``          one row per file: its entry key, URL, kind, identity, reference
                           file, the ``_nwb_path`` its rows carry, its tables (rows) and
                           TimeSeries, and extras (DANDI pins)
``sessions.parquet``       session and subject metadata, one row per file
``tables/<entry>.json``    a table entry: its path, each file's own schema (deduplicated),
                           row count, unreadable columns, whether its rows are indexed
``tables/<entry>.parquet`` every indexed file's scalar columns, with ``_file`` (the key) and
                           ``_table_index``
``series.json``            TimeSeries entries: entry name -> path
=========================  ===============================================================

Paths inside the catalog folder are stored relative to it, so a copied or served folder reads
the same. Reading a table entry's scalar columns is a scan of its parquet file; ragged columns
and anything the index lacks are read through the reference files, for the rows that need them.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from ..config import config
from ..errors import IntakeNWBError, IntakeNWBWarning, StaleReferenceError
from ..frames.schema import NWB_PATH, TABLE_INDEX, TABLE_PATH, dtype_from_json, dtype_to_json
from ..frames.tables import IndexedColumns, TablePart, bounds_columns
from ..nwb import TableReader
from ..refs.cache import default_refs_dir, local_copy_of, read_meta
from ..sources import Source, identities, identity_matches
from ..store import NWBStore, infos, open_refs, open_store, relocate_url
from ..util.atomic import atomic_write
from ..util.lru import LRU
from ..util.memo import cached_property
from .locate import clean_url, locate, portable

FORMAT = 2
FILE_KEY = "_file"
#: a file's table with more rows than this keeps only its schema in the index
INDEX_MAX_ROWS = 1_000_000


@dataclass
class FileRecord:
    """What the index knows of one file."""

    key: str  # its entry name under ``files`` and its key in the index
    url: str  # what was catalogued (path or URL)
    kind: str  # "hdf5" | "zarr" | "refs"
    identity: dict[str, Any]
    nwb_path: str  # what its rows carry as _nwb_path
    refs: str | None = None  # the reference file of an HDF5 source
    tables: dict[str, int] = field(default_factory=dict)  # path -> rows
    timeseries: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. {"dandi": pin}

    def to_row(self, folder: Path) -> dict[str, Any]:
        return {"key": self.key, "url": portable(self.url, folder), "kind": self.kind,
                "identity": json.dumps(self.identity, sort_keys=True, default=str),
                "nwb_path": portable(self.nwb_path, folder),
                "refs": None if self.refs is None else portable(self.refs, folder),
                "tables": json.dumps(self.tables), "timeseries": json.dumps(self.timeseries),
                "extra": json.dumps(self.extra, sort_keys=True, default=str)}

    @classmethod
    def from_row(cls, row: Mapping[str, Any], folder: str) -> FileRecord:
        return cls(key=row["key"], url=locate(row["url"], folder), kind=row["kind"],
                   identity=json.loads(row["identity"]),
                   nwb_path=locate(row["nwb_path"], folder),
                   refs=None if row["refs"] is None else locate(row["refs"], folder),
                   tables=json.loads(row["tables"]), timeseries=json.loads(row["timeseries"]),
                   extra=json.loads(row["extra"]))


@dataclass
class FileTable:
    """One file's table as the index records it."""

    dtypes: dict[str, pl.DataType]
    n_rows: int
    failures: dict[str, str] = field(default_factory=dict)
    rows: pl.DataFrame | None = None  # its scalar columns, when indexed
    #: ragged columns read from the index: their data's layout in the file (their rows'
    #: bounds are columns of ``rows``; see :func:`intake_nwb.frames.tables.bounds_columns`)
    ragged: dict[str, Any] = field(default_factory=dict)


@dataclass
class TableIndex:
    """A table entry: its path and every file's part of it."""

    table_path: str
    files: dict[str, FileTable]  # key -> its table

    def scalar_columns(self, schema: Mapping[str, pl.DataType]) -> list[str]:
        from ..frames.schema import is_array

        return [c for c, t in schema.items() if not is_array(t) and not c.startswith("_")]


# -- writing -------------------------------------------------------------------------------------

def write_index(folder: Path, files: list[FileRecord], sessions: pl.DataFrame,
                tables: Mapping[str, TableIndex], series: Mapping[str, str],
                schemas: Mapping[str, Mapping[str, pl.DataType]]) -> str:
    """Write ``index/<version>/`` under ``folder`` (unless that version exists) and return its
    path relative to ``folder``. ``schemas``: each table entry's merged schema, whose scalar
    columns its parquet file holds."""
    manifest = json.dumps([FORMAT, [f.to_row(folder) for f in files], sorted(tables),
                           sorted(series.items())], sort_keys=True)
    version = hashlib.sha256(manifest.encode()).hexdigest()[:16]
    rel = f"index/{version}"
    target = folder / rel
    if (target / "files.parquet").exists():
        return rel
    staging = folder / "index" / f".tmp-{version}-{os.getpid()}"
    (staging / "tables").mkdir(parents=True, exist_ok=True)
    try:
        _parquet(staging / "sessions.parquet", sessions)
        for entry, table in tables.items():
            _write_table(staging / "tables", entry, table, schemas[entry])
        atomic_write(staging / "series.json", json.dumps(dict(series)))
        # files.parquet last: a folder without it is incomplete and never read
        _parquet(staging / "files.parquet", pl.DataFrame(
            [f.to_row(folder) for f in files], schema=_FILE_SCHEMA))
        os.replace(staging, target)
    except BaseException:
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
        if not (target / "files.parquet").exists():
            raise
    return rel


_FILE_SCHEMA = {k: pl.String for k in ("key", "url", "kind", "identity", "nwb_path", "refs",
                                        "tables", "timeseries", "extra")}


def _parquet(path: Path, frame: pl.DataFrame) -> None:
    tmp = path.with_name(f".tmp-{path.name}")
    frame.write_parquet(tmp, compression="zstd", statistics=True)
    os.replace(tmp, path)


def _write_table(directory: Path, entry: str, table: TableIndex,
                 schema: Mapping[str, pl.DataType]) -> None:
    columns = table.scalar_columns(schema)
    dtypes: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    doc_files: dict[str, Any] = {}
    frames: list[pl.DataFrame] = []
    bounds: set[str] = set()  # the ragged columns' row bounds (frames.tables.bounds_columns)
    for key, ft in table.files.items():
        own = {c: dtype_to_json(t) for c, t in ft.dtypes.items()}
        text = json.dumps(own, sort_keys=True)
        if text not in seen:
            seen[text] = len(dtypes)
            dtypes.append(own)
        doc_files[key] = {"schema": seen[text], "n_rows": ft.n_rows,
                          "indexed": ft.rows is not None}
        if ft.failures:
            doc_files[key]["failures"] = ft.failures
        if ft.rows is not None:
            if ft.ragged:
                doc_files[key]["ragged"] = ft.ragged
            have = [c for c in columns if c in ft.rows.columns]
            own = [b for c in ft.ragged for b in bounds_columns(c)]
            bounds.update(own)
            frames.append(ft.rows.select(
                pl.lit(key).alias(FILE_KEY), pl.int_range(ft.n_rows, dtype=pl.Int64).alias(
                    TABLE_INDEX), *[pl.col(c).cast(schema[c]) for c in have],
                *[pl.col(b).cast(pl.Int64) for b in own]))
    frame = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame(
        schema={FILE_KEY: pl.String, TABLE_INDEX: pl.Int64})
    frame = frame.select(FILE_KEY, TABLE_INDEX, *[
        pl.col(c).cast(schema[c]) if c in frame.columns else pl.lit(None, schema[c]).alias(c)
        for c in columns], *sorted(bounds))
    _parquet(directory / f"{entry}.parquet", frame)
    atomic_write(directory / f"{entry}.json", json.dumps({
        "table_path": table.table_path, "schemas": dtypes, "files": doc_files,
        "columns": columns}))


# -- reading -------------------------------------------------------------------------------------

_loaded: LRU[LabIndex] = LRU(max_items=16)


class LabIndex:
    """A catalog's lab index, read lazily (nothing until an entry needs it).

    ``location``: the index folder (``{{ CATALOG_DIR }}/index/<version>``), local or remote
    (a remote index is fetched once into the user cache: its version names its content).
    """

    def __init__(self, location: str, storage_options: Mapping[str, Any] | None = None):
        self.location = clean_url(location).rstrip("/")
        self.storage_options = dict(storage_options or {})
        remote = "://" in self.location and not self.location.startswith("file://")
        self.folder = self.location.rsplit("/", 2)[0]  # the catalog folder
        self._remote = remote
        self._confirmed: dict[str, dict[str, Any]] = {}  # key -> identity seen with its content

    @classmethod
    def open(cls, location: str, storage_options: Mapping[str, Any] | None = None
             ) -> LabIndex:
        """The index at ``location``, shared within the process."""
        key = (clean_url(location), json.dumps(storage_options or {}, sort_keys=True,
                                               default=repr))
        found = _loaded.get(key)
        if found is None:
            found = cls(location, storage_options)
            _loaded.put(key, found)
        return found

    def _path(self, name: str) -> str:
        """A local path of one of the index's files."""
        url = f"{self.location}/{name}"
        if not self._remote:
            path = url.removeprefix("file://")
            if not os.path.exists(path):
                raise IntakeNWBError("the catalog's index is missing (rebuild the catalog)",
                                     source=path)
            return path
        return local_copy_of(Source.from_url(url, self.storage_options), immutable=True)

    @cached_property
    def files(self) -> dict[str, FileRecord]:
        frame = pl.read_parquet(self._path("files.parquet"))
        records = [FileRecord.from_row(row, self.folder) for row in frame.iter_rows(named=True)]
        return {r.key: r for r in records}

    def nwb_paths(self, relocate: Mapping[str, str] | None = None) -> dict[str, str]:
        """Key -> the ``_nwb_path`` its rows carry (where the file is read from, relocated)."""
        return {r.key: relocate_url(r.nwb_path, relocate) for r in self.files.values()}

    @cached_property
    def series(self) -> dict[str, str]:
        with open(self._path("series.json")) as f:
            return dict(json.load(f))

    def sessions(self, relocate: Mapping[str, str] | None = None) -> pl.DataFrame:
        frame = pl.read_parquet(self._path("sessions.parquet"))
        return frame.with_columns(pl.col(NWB_PATH).replace_strict(self.nwb_paths(relocate)))

    def _table_doc(self, entry: str) -> dict[str, Any]:
        docs = self.__dict__.setdefault("_table_docs", {})
        if entry not in docs:
            with open(self._path(f"tables/{entry}.json")) as f:
                docs[entry] = json.load(f)
        return docs[entry]  # type: ignore[no-any-return]

    def table(self, entry: str) -> tuple[str, dict[str, FileTable], list[str]]:
        """A table entry: its path, each file's table (schemas, rows, failures; ``rows`` left
        None: they stay in parquet) and the indexed columns."""
        doc = self._table_doc(entry)
        schemas = [{c: dtype_from_json(t) for c, t in s.items()} for s in doc["schemas"]]
        files = {key: FileTable(schemas[info["schema"]], info["n_rows"],
                                dict(info.get("failures", {})),
                                ragged=dict(info.get("ragged") or {}))
                 for key, info in doc["files"].items()}
        return doc["table_path"], files, list(doc["columns"])

    def indexed_keys(self, entry: str) -> set[str]:
        """The files whose rows of ``entry`` the index holds."""
        return {k for k, info in self._table_doc(entry)["files"].items() if info["indexed"]}

    def indexed_frame(self, entry: str, relocate: Mapping[str, str] | None = None
                      ) -> pl.LazyFrame:
        """The entry's indexed rows with ``_nwb_path`` and ``_table_path``."""
        table_path = self.table(entry)[0]
        return (pl.scan_parquet(self._path(f"tables/{entry}.parquet"))
                .with_columns(pl.col(FILE_KEY).replace_strict(self.nwb_paths(relocate))
                              .alias(NWB_PATH), pl.lit(table_path).alias(TABLE_PATH))
                .drop(FILE_KEY))

    # -- files -------------------------------------------------------------------------------

    def open_file(self, key: str, *, storage_options: Mapping[str, Any] | None = None,
                  relocate: Mapping[str, str] | None = None, **kwargs: Any) -> NWBStore:
        """One file's store (its reference file for HDF5), without a staleness check: the
        caller checked the file with :meth:`check`."""
        rec = self.files[key]
        options = storage_options if storage_options is not None else self.storage_options
        if rec.kind == "hdf5" and rec.refs is not None:
            refs = rec.refs if not self._remote else local_copy_of(
                Source.from_url(rec.refs, options), immutable=False)
            recorded = read_meta(refs).get("source")
            if recorded and recorded != rec.url:  # a copied folder: the file is where we say
                relocate = {**(relocate or {}), recorded: relocate_url(rec.url, relocate)}
            return open_refs(refs, storage_options=options or None, check_stale=False,
                             relocate=relocate, **kwargs)
        return open_store(rec.url, storage_options=options or None, check_stale=False,
                          relocate=relocate, **kwargs)

    def check(self, keys: Iterable[str], *, on_stale: str = "raise",
              storage_options: Mapping[str, Any] | None = None,
              relocate: Mapping[str, str] | None = None, max_age: float | None = None
              ) -> set[str]:
        """The keys among ``keys`` whose file changed since the index was built.

        Local files are asked every time (a ``stat``; their content sample only when stat
        fields moved); remote ones at most every ``max_age`` seconds (default
        ``config.recheck_remote_after``, remembered across processes in the user cache), the
        files of one object-store prefix in one listing. ``on_stale="raise"`` raises
        :class:`StaleReferenceError` naming the changed files; otherwise they are returned.
        """
        max_age = config.recheck_remote_after if max_age is None else max_age
        options = storage_options if storage_options is not None else self.storage_options
        now = time.time()
        seen = self._seen()
        sources = {k: Source.from_url(relocate_url(self.files[k].url, relocate), options)
                   for k in keys}
        todo = [k for k, src in sources.items()
                if src.is_local or now - seen.get(k, (None, -1e18))[1] > max_age]
        current = identities({k: sources[k] for k in todo}, infos)
        stale = set()
        for key in todo:
            rec, src = self.files[key], sources[key]
            confirmed = self._confirmed.get(key)
            if confirmed is not None and identity_matches(confirmed, current[key]):
                continue  # its content was confirmed before, and nothing moved since
            if src.unchanged(rec.identity, current[key], same_place=src.url == rec.url):
                self._confirmed[key] = current[key]
                if not src.is_local:
                    seen[key] = (current[key], now)
            else:
                stale.add(key)
        if any(not sources[k].is_local for k in todo):
            self._remember(seen)
        if stale and on_stale == "raise":
            raise StaleReferenceError(
                f"{len(stale)} file(s) changed since the catalog was built: "
                + ", ".join(self.files[k].nwb_path for k in sorted(stale))
                + "; rebuild the catalog, or read with on_stale='reindex'",
                source=self.location)
        return stale

    def _seen_path(self) -> Path:
        name = hashlib.sha256(self.location.encode()).hexdigest()[:24]
        return Path(config.cache_dir or default_refs_dir().parent) / "checked" / f"{name}.json"

    def _seen(self) -> dict[str, tuple[Any, float]]:
        """Remote files of this index found unchanged, and when (across processes)."""
        try:
            doc = json.loads(self._seen_path().read_text())
            return {k: (v[0], float(v[1])) for k, v in doc.items()}
        except (OSError, ValueError, TypeError, IndexError, AttributeError):
            return {}

    def _remember(self, seen: Mapping[str, tuple[Any, float]]) -> None:
        with contextlib.suppress(OSError):  # a read-only cache costs the next process its checks
            atomic_write(self._seen_path(), json.dumps(seen, default=str))

    def parts(self, entry: str, opener: Callable[[str], TableReader], *,
              stale: Iterable[str] = (), relocate: Mapping[str, str] | None = None,
              storage_options: Mapping[str, Any] | None = None
              ) -> tuple[str, dict[str, TablePart], IndexedColumns]:
        """A table entry as table parts keyed by file (``opener(key)`` opens one when data
        must be read) and its indexed columns; ``stale`` files are left out of the indexed
        rows; ``relocate`` maps the files' URLs to where they are read from now. Files whose
        ragged columns' layouts the index holds read them from there (with
        ``storage_options``), but pinned ones (DANDI): their bytes are read once the pin is
        checked, through their references."""
        table_path, files, columns = self.table(entry)
        stale = set(stale)
        indexed = self.indexed_keys(entry) - stale
        where = self.nwb_paths(relocate)
        options = storage_options if storage_options is not None else self.storage_options

        def part(key: str, ft: FileTable) -> TablePart:
            rec = self.files[key]
            laid = key in indexed and not rec.extra.get("dandi")
            return TablePart(where[key], table_path, ft.dtypes, ft.n_rows,
                             functools.partial(opener, key), ft.failures,
                             indexed=key in indexed, ragged=ft.ragged if laid else {},
                             size=_int_or_none(rec.identity.get("size")),
                             storage_options=options or None)

        parts = {key: part(key, ft) for key, ft in files.items() if key not in stale}
        for key in stale & files.keys():  # changed files: described as they are now
            try:
                parts[key] = TablePart.of(opener(key))
            except IntakeNWBError as exc:
                warnings.warn(f"{where[key]} changed since the catalog was built and is left "
                              f"out of {entry}: {exc}", IntakeNWBWarning, stacklevel=3)
        frame = self.indexed_frame(entry, relocate)
        if stale:
            frame = frame.filter(~pl.col(NWB_PATH).is_in([where[k] for k in stale]))
        sources = frozenset(where[k] for k in indexed)
        return table_path, parts, IndexedColumns(frame, frozenset(columns), sources)


def _int_or_none(value: Any) -> int | None:
    return value if type(value) is int else None

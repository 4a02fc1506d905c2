"""Layer 5: NWB tables as polars LazyFrames, across many files, with pushdown.

``scan_nwb`` registers a polars IO source over *table parts* (one file's table each: its own
schema, its row count, and a way to open it). When the query runs:

- if a lab index (a catalog's columnar copy of every file's scalar columns, see
  :mod:`intake_nwb.catalog.index`) holds every column the query touches, the query is one
  polars scan of it: no file is opened;
- otherwise each file is read in two phases: the predicate's columns first (from the index
  where it has them), then the other projected columns for the surviving rows only, ragged
  columns through the byte ranges of those rows alone. Files are read concurrently.

Rows carry ``_nwb_path``, ``_table_path`` and ``_table_index``. One column of one file that
cannot be read does not sink the table: with ``errors="warn"`` it is null for that file and one
:class:`~intake_nwb.errors.SkippedWarning` names file, table, column and cause. How columns of
different types across files are merged is :mod:`.schema`'s policy.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from ..config import config
from ..errors import (
    AmbiguousNameError,
    Errors,
    IntakeNWBError,
    PinMismatchError,
    StaleReferenceError,
    TableNotFoundError,
    UnsafeReferenceError,
    report_failures,
)
from ..nwb import NWBReader, TableReader
from ..nwb.names import session_table, table_reader
from ..nwb.tables import COMPOUND, ENUM, REGION, TSREF, ColumnData
from ..sources import Source, per_file, read_workers
from ..store import (
    CacheMode,
    NWBStore,
    SpanRead,
    layout_reader,
    open_stores,
    read_layout_spans,
)
from ..util.fanout import Visits, fan_out
from ..util.memo import cached_property
from .aliases import translate
from .schema import (
    INTERNAL,
    INTERNAL_SCHEMA,
    NWB_PATH,
    TABLE_INDEX,
    TABLE_PATH,
    OnConflict,
    Reconciled,
    as_dtype,
    reconcile,
    table_schema,
    to_json_text,
)

__all__ = ["INTERNAL", "NWB_PATH", "TABLE_INDEX", "TABLE_PATH", "IndexedColumns", "ScanOptions",
           "TablePart", "get_df", "get_table_schema", "read_nwb", "scan_nwb", "scan_parts"]


@dataclass
class TablePart:
    """One file's table, as much as a scan needs before reading it.

    ``opener`` opens the file's table when data must be read (so parts known from a catalog
    index open nothing up front); ``failures`` holds columns whose type could not be told.
    """

    source: str  # the file, as rows name it (_nwb_path)
    path: str  # the table in it (_table_path)
    dtypes: dict[str, pl.DataType]
    n_rows: int
    opener: Callable[[], TableReader]
    failures: dict[str, str] = field(default_factory=dict)
    indexed: bool = False  # its scalar columns are in the scan's IndexedColumns
    #: ragged columns whose rows' bounds are in the scan's IndexedColumns: their data's layout
    #: in the file, read from there without opening the table; a remote file's size (as
    #: checked) and options come with them
    ragged: dict[str, Any] = field(default_factory=dict)
    size: int | None = None
    storage_options: Mapping[str, Any] | None = None

    @cached_property
    def reader(self) -> TableReader:
        return self.opener()

    def release(self) -> None:
        """Forget the table opened for a read; the next read opens it again. An open file holds
        its references, thousands of objects that the garbage collector would walk again while
        every later file of a batch is read (a quarter of a 200-file read's time)."""
        self.__dict__.pop("reader", None)

    @classmethod
    def of(cls, reader: TableReader, resolve_regions: bool = False) -> TablePart:
        """The part of a table already open."""
        own = table_schema(reader, resolve_regions=resolve_regions)
        part = cls(reader.source, reader.path, own.dtypes, reader.n_rows, lambda: reader,
                   own.failures)
        part.__dict__["reader"] = reader
        return part


def bounds_columns(column: str) -> tuple[str, str]:
    """The lab index's columns holding each row's ``[start, stop)`` in a ragged column's data."""
    return f"_start:{column}", f"_stop:{column}"


@dataclass
class IndexedColumns:
    """Columns of many files' tables already read (a catalog's lab index): a LazyFrame with the
    internal columns plus ``columns``, holding every row of the parts marked ``indexed``."""

    frame: pl.LazyFrame
    columns: frozenset[str]
    sources: frozenset[str]  # the files it holds rows of


@dataclass(frozen=True)
class ScanOptions:
    """What a user chose for a table across files (see :func:`scan_nwb`)."""

    columns: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    exclude_array_columns: bool = False
    schema_overrides: tuple[tuple[str, Any], ...] = ()
    on_conflict: OnConflict = "drop"
    errors: Errors = "raise"
    strict: bool = False
    resolve_regions: bool = False
    infer_schema_length: int | None = None

    def reconcile(self, parts: Sequence[TablePart]) -> Reconciled:
        return self.reconcile_dtypes([(p.source, p.dtypes) for p in parts])

    def reconcile_dtypes(self, files: Sequence[tuple[str, Mapping[str, pl.DataType]]]
                         ) -> Reconciled:
        """One schema for ``(source, own schema)`` pairs under these options."""
        return reconcile(files, columns=self.columns, exclude=self.exclude,
                         exclude_array_columns=self.exclude_array_columns,
                         overrides=dict(self.schema_overrides), on_conflict=self.on_conflict,
                         infer_schema_length=self.infer_schema_length)


# -- reading one file ----------------------------------------------------------------------------

def _flat_arrow(values: Any) -> pa.Array:
    """A 1-D Arrow array through polars: ``pa.array`` would import pandas (~0.3 s) first."""
    if isinstance(values, np.ndarray) and values.dtype.kind not in "OSU":
        return pl.Series(np.ascontiguousarray(values).reshape(-1)).to_arrow()
    texts = [None if v is None else v if isinstance(v, (str, int, float)) else str(v)
             for v in (values.ravel() if isinstance(values, np.ndarray) else values)]
    return pl.Series(texts, strict=False).to_arrow()


def _to_arrow(data: ColumnData, table: TableReader) -> pa.Array:
    """Flat values -> Arrow, then per-row arrays (FixedSizeList) and ragged levels (List)."""
    spec = data.spec
    values = data.values
    row_shape: tuple[int, ...] = ()
    if spec.kind in (TSREF, COMPOUND):
        names = [f["name"] for f in spec.fields]
        if values.dtype.names:
            cols: list[Any] = [values[n] for n in values.dtype.names]
        else:
            cols = [[None if r is None else r[i] for r in values] for i in range(len(names))]
        arr: pa.Array = pa.StructArray.from_arrays([_flat_arrow(c) for c in cols], names=names)
    elif spec.kind == ENUM:
        elements = table.enum_elements(spec.name)
        arr = _flat_arrow([elements[int(i)] for i in values])
    else:
        arr = _flat_arrow(values)
        row_shape = values.shape[1:]
    for size in reversed(row_shape):
        arr = pa.FixedSizeListArray.from_arrays(arr, int(size))
    for offsets in reversed(data.offsets):
        arr = pa.LargeListArray.from_arrays(pl.Series(offsets, dtype=pl.Int64).to_arrow(), arr)
    return arr


def _series(table: TableReader, name: str, rows: np.ndarray | None, strict: bool) -> pl.Series:
    return pl.Series(name, _to_arrow(table.read(name, rows, strict=strict), table))


def _region_series(table: TableReader, name: str, rows: np.ndarray | None,
                   strict: bool) -> pl.Series:
    """``<region>_<column>``: a DynamicTableRegion's target column for each referenced row."""
    region = next(c for c, spec in table.columns.items()
                  if spec.kind == REGION and name.startswith(c + "_"))
    idx = table.read(region, rows, strict=strict)
    target = TableReader(table.nwb, table.columns[region].target_table or "")
    taken = target.read(name[len(region) + 1:], np.asarray(idx.values, dtype=np.int64),
                        strict=strict)
    taken.offsets = idx.offsets
    return pl.Series(name, _to_arrow(taken, target))


@dataclass
class _Plan:
    """What every file's read shares: the merged schema and the user's choices."""

    schema: dict[str, pl.DataType]
    options: ScanOptions
    as_json: set[str]

    @cached_property
    def overrides(self) -> dict[str, pl.DataType]:
        return {k: as_dtype(v) for k, v in self.options.schema_overrides}


class _FileRead:
    """One file's columns for some rows; columns that fail are collected, not raised."""

    def __init__(self, part: TablePart, plan: _Plan, indexed: pl.DataFrame | None):
        self.part = part
        self.plan = plan
        self.indexed = indexed  # this file's rows of the lab index, if any
        self.failed: dict[str, BaseException] = {}  # column -> why it is null

    @property
    def failures(self) -> dict[str, BaseException]:
        """The failed columns, keyed as batch reports name them (``file [table/column]``)."""
        return {f"{self.part.source} [{self.part.path}/{c}]": e for c, e in self.failed.items()}

    def columns(self, names: Sequence[str], rows: np.ndarray | None) -> dict[str, pl.Series]:
        n = self.part.n_rows if rows is None else len(rows)
        return {name: self._column(name, rows, n) for name in names}

    def _column(self, name: str, rows: np.ndarray | None, n: int) -> pl.Series:
        dtype = self.plan.schema[name]
        part = self.part
        if name == NWB_PATH:
            return pl.repeat(part.source, n, dtype=pl.String(), eager=True).alias(name)
        if name == TABLE_PATH:
            return pl.repeat(part.path, n, dtype=pl.String(), eager=True).alias(name)
        if name == TABLE_INDEX:
            return pl.Series(name, np.arange(n) if rows is None else rows, pl.Int64())
        if name not in part.dtypes:  # the file lacks the column (or its type is unknown)
            if name in part.failures:
                self._fail(name, IntakeNWBError(f"cannot read column {name!r}: "
                                                f"{part.failures[name]}", source=part.source,
                                                path=f"{part.path}/{name}"))
            return pl.Series(name, [None] * n, dtype=dtype)
        try:
            values = self._values(name, rows)
            if name in self.plan.as_json:
                return to_json_text(values)
            return values if values.dtype == dtype else values.cast(dtype, strict=True)
        except (StaleReferenceError, PinMismatchError):
            raise  # the file is not what it was: no errors= policy reads it anyway
        except Exception as exc:  # noqa: BLE001 - one column of one file: see errors=
            if not isinstance(exc, IntakeNWBError) or exc.source is None:
                exc = IntakeNWBError(f"cannot read column {name!r} as {dtype}: "
                                     f"{type(exc).__name__}: {exc}", source=part.source,
                                     path=f"{part.path}/{name}")
            self._fail(name, exc)
            return pl.Series(name, [None] * n, dtype=dtype)

    def _values(self, name: str, rows: np.ndarray | None) -> pl.Series:
        if self.indexed is not None and name in self.indexed.columns:
            col = self.indexed[name]
            return col if rows is None else col.gather(rows)
        strict = self.plan.options.strict
        reader = self.part.reader
        if name in reader.columns:
            values = _series(reader, name, rows, strict)
        else:  # a resolved region column: "<region>_<target column>"
            values = _region_series(reader, name, rows, strict)
        own = self.part.dtypes[name]
        values = values if values.dtype == own else values.cast(own, strict=True)
        override = self.plan.overrides.get(name)
        return values if override is None else values.cast(override, strict=True)

    def _fail(self, name: str, exc: BaseException) -> None:
        if self.plan.options.errors == "raise":
            raise exc
        self.failed[name] = exc

    def read(self, columns: Sequence[str], predicate: pl.Expr | None, n_rows: int | None
             ) -> pl.DataFrame:
        """Phase 1: the predicate's columns, all rows, filtered; phase 2: the rest, for the
        surviving rows only."""
        rows: np.ndarray | None = None
        if predicate is not None:
            pred_cols = [c for c in dict.fromkeys(predicate.meta.root_names())
                         if c in self.plan.schema]
            first = pl.DataFrame(self.columns([*pred_cols, TABLE_INDEX], None))
            frame = first.filter(predicate)
            if n_rows is not None:
                frame = frame.head(n_rows)
            rows = frame[TABLE_INDEX].to_numpy()
        elif n_rows is not None:
            rows = np.arange(min(n_rows, self.part.n_rows))
        cols = self.columns(columns, rows)
        return pl.DataFrame([cols[c] for c in columns])


def read_columns(part: TablePart, columns: Sequence[str]) -> tuple[pl.DataFrame, dict[str, str]]:
    """Every row of ``columns`` of one file's table in its own types, and the columns that
    could not be read (``{column: cause}``; they are null in the frame)."""
    plan = _Plan({**part.dtypes, **INTERNAL_SCHEMA}, ScanOptions(errors="ignore"), set())
    reader = _FileRead(part, plan, None)
    frame = pl.DataFrame(reader.columns(list(columns), None)) if columns else pl.DataFrame()
    return frame, {c: str(getattr(e, "message", e)) for c, e in reader.failed.items()}


def _prune(parts: list[TablePart], predicate: pl.Expr | None) -> list[TablePart]:
    """Drop files a predicate on ``_nwb_path``/``_table_path`` alone rules out, unread."""
    if predicate is None or not set(predicate.meta.root_names()) <= {NWB_PATH, TABLE_PATH}:
        return parts
    probe = pl.DataFrame({NWB_PATH: [p.source for p in parts],
                          TABLE_PATH: [p.path for p in parts]})
    keep = probe.with_row_index("_i").filter(predicate)["_i"].to_list()
    return [parts[i] for i in keep]


# -- the polars IO source ------------------------------------------------------------------------

def scan_parts(parts: Sequence[TablePart], table_path: str, options: ScanOptions = ScanOptions(),
               indexed: IndexedColumns | None = None) -> pl.LazyFrame:
    """A LazyFrame over table parts (one per file), with pushdown; see the module docs."""
    parts = list(parts)
    merged = options.reconcile(parts)
    merged.warn(table_path)
    plan = _Plan(merged.schema, options, merged.as_json)
    schema = merged.schema

    def source(with_columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None,
               batch_size: int | None) -> Iterator[pl.DataFrame]:
        columns = list(with_columns) if with_columns else list(schema)
        selected = _prune(parts, predicate)
        frames = _from_index(selected, columns, predicate, n_rows, plan, indexed)
        if frames is None:
            frames = _from_files(selected, columns, predicate, n_rows, plan, indexed)
        for frame in frames:
            if batch_size and frame.height > batch_size:
                yield from frame.iter_slices(batch_size)
            else:
                yield frame

    return pl.io.plugins.register_io_source(
        source, schema=schema, explain_name="NWB",
        explain_detail=f"{table_path} in {len(parts)} file(s)"
        + (" (lab index)" if indexed is not None else ""))


def _from_index(parts: list[TablePart], columns: list[str], predicate: pl.Expr | None,
                n_rows: int | None, plan: _Plan, indexed: IndexedColumns | None
                ) -> list[pl.DataFrame] | None:
    """The query from one scan of the lab index, when it holds every column the predicate
    touches: whole when it holds the projection too; else the files that kept rows are read
    for the other columns (ragged ones), those rows only, and files that kept none are never
    opened. None: read file by file."""
    if indexed is None or not parts or not all(p.indexed for p in parts):
        return None
    usable = indexed.columns - plan.as_json - plan.overrides.keys() - {
        c for p in parts for c in p.failures}  # failures are named per file
    asked = set(predicate.meta.root_names()) if predicate is not None else set()
    if not (asked - set(INTERNAL)) <= usable:
        return None
    rest = [c for c in columns if c not in usable and c not in INTERNAL]
    if rest and n_rows is not None:
        return None  # the first rows in the files' order: file by file
    lf = indexed.frame
    sources = {p.source for p in parts}
    if sources != indexed.sources:
        lf = lf.filter(pl.col(NWB_PATH).is_in(sorted(sources)))
    kept = [c for c in columns if c not in rest]
    names = lf.collect_schema().names()
    bounds = [b for c in rest for b in bounds_columns(c) if b in names]
    lf = lf.select([pl.col(c).cast(plan.schema[c]) for c in dict.fromkeys(
        [*kept, *sorted(asked - set(kept)), NWB_PATH, TABLE_INDEX])] + bounds)
    if predicate is not None:
        lf = lf.filter(predicate)
    if n_rows is not None:
        lf = lf.head(n_rows)
    try:
        frame = lf.collect()
    except pl.exceptions.PolarsError:
        return None  # e.g. a cast that fails for one file: read per file to isolate it
    if not rest:
        return [frame.select(columns)]
    return _rest_from_files(parts, frame, columns, rest, plan)


def _rest_from_files(parts: list[TablePart], frame: pl.DataFrame, columns: list[str],
                     rest: list[str], plan: _Plan) -> list[pl.DataFrame]:
    """``frame`` (rows the index kept, all files) completed with ``rest`` read from each
    file for its rows, in the files' order: straight from the data layouts the lab index
    records, every file's bytes in one batch, or else through the file's table, concurrently."""
    by_source = frame.partition_by(NWB_PATH, as_dict=True, maintain_order=True)
    todo = [p for p in parts if (p.source,) in by_source]
    laid = {p.source: reads for p in todo
            if (reads := _layout_reads(p, by_source[(p.source,)], rest, plan)) is not None}
    values = iter(read_layout_spans([r for reads in laid.values() for r in reads]))
    frames = {src: by_source[(src,)].with_columns(
        _spans_column(c, r, next(values), plan.schema[c]) for c, r in zip(rest, reads,
                                                                         strict=True))
        for src, reads in laid.items()}
    failures: dict[str, BaseException] = {}

    def read(part: TablePart) -> pl.DataFrame:
        rows = by_source[(part.source,)]
        reader = _FileRead(part, plan, None)
        try:
            return rows.with_columns(**reader.columns(rest, rows[TABLE_INDEX].to_numpy()))
        finally:
            failures.update(reader.failures)
            part.release()

    try:
        opened, errors = per_file(read, [p for p in todo if p.source not in laid])
        if errors:
            raise next(iter(errors.values()))
        frames.update(opened)
        return [frames[p.source].select(columns) for p in todo]
    finally:
        report_failures(failures, plan.options.errors, "could not be read", noun="columns")


def _spans_column(name: str, read: SpanRead, values: np.ndarray, dtype: pl.DataType
                  ) -> pl.Series:
    """The list column of a read's spans (one list a row)."""
    offsets = np.concatenate([[0], np.cumsum(read.stops - read.starts)]).astype(np.int64)
    return pl.Series(name, pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(values))
                     ).cast(dtype, strict=True)


def _layout_reads(part: TablePart, rows: pl.DataFrame, rest: list[str], plan: _Plan
                  ) -> list[SpanRead] | None:
    """What reads ``rest`` for ``rows`` of a file straight from the data layouts the lab index
    records (the rows' bounds, the data's byte ranges), without opening the file's table; None
    when the index does not hold them all (then the table is opened)."""
    if not rest or any(c not in part.ragged or bounds_columns(c)[0] not in rows.columns
                       or c in plan.overrides or c in plan.as_json for c in rest):
        return None
    src = Source.from_url(part.source, part.storage_options)
    size = os.path.getsize(part.source) if src.is_local else part.size
    if size is None:
        return None
    reads = []
    for c in rest:
        where = f"{part.path}/{c}"
        start, stop = (rows[b].to_numpy() for b in bounds_columns(c))
        data = layout_reader(part.source, part.ragged[c], where, size)
        if rows[bounds_columns(c)[0]].null_count() or not (
                (start >= 0) & (start <= stop) & (stop <= data.shape[0])).all():
            raise UnsafeReferenceError("the lab index's row bounds lie outside the data",
                                       source=part.source, path=where)
        reads.append(SpanRead(data, start.astype(np.int64), stop.astype(np.int64), src, where))
    return reads


def _from_files(parts: list[TablePart], columns: list[str], predicate: pl.Expr | None,
                n_rows: int | None, plan: _Plan, indexed: IndexedColumns | None
                ) -> Iterator[pl.DataFrame]:
    """Each file in two phases, concurrently (in order when only the first rows are wanted)."""
    by_file = _indexed_rows(parts, plan, indexed)
    failures: dict[str, BaseException] = {}

    def read(part: TablePart, limit: int | None) -> pl.DataFrame:
        reader = _FileRead(part, plan, by_file.get(part.source))
        try:
            return reader.read(columns, predicate, limit)
        finally:
            failures.update(reader.failures)
            part.release()

    try:
        if n_rows is not None:  # rows are needed in order: one file after another
            remaining = n_rows
            for part in parts:
                if remaining <= 0:
                    break
                frame = read(part, remaining)
                remaining -= frame.height
                yield frame
            return
        frames, errors = per_file(lambda p: read(p, None), parts)
        if errors:
            raise next(iter(errors.values()))
        yield from frames.values()
    finally:
        report_failures(failures, plan.options.errors, "could not be read", noun="columns")


def _indexed_rows(parts: list[TablePart], plan: _Plan, indexed: IndexedColumns | None
                  ) -> dict[str, pl.DataFrame]:
    """Each indexed file's rows of the lab index (the columns the plan can take from it)."""
    if indexed is None:
        return {}
    sources = sorted(p.source for p in parts if p.indexed)
    usable = sorted((indexed.columns & set(plan.schema)) - plan.as_json)
    if not sources or not usable:
        return {}
    frame = (indexed.frame.filter(pl.col(NWB_PATH).is_in(sources))
             .select(NWB_PATH, TABLE_INDEX, *usable).sort(NWB_PATH, TABLE_INDEX).collect())
    return {key[0]: df.drop(NWB_PATH, TABLE_INDEX)
            for key, df in frame.partition_by(NWB_PATH, as_dict=True).items()}


# -- public API ----------------------------------------------------------------------------------

def open_parts(sources: Any, table_path: str, *, errors: Errors = "raise",
               resolve_regions: bool = False, exact_path: bool = False, **open_kwargs: Any
               ) -> list[TablePart]:
    """Open every source and describe its table as soon as it is open (files that fail follow
    ``errors``)."""
    described = _describer(table_path, resolve_regions, exact_path)
    stores = open_stores(sources, errors=errors, visit=described, **open_kwargs)
    return parts_of(stores, table_path, errors=errors, resolve_regions=resolve_regions,
                    exact_path=exact_path, described=described)


def _describer(table_path: str, resolve_regions: bool, exact_path: bool
               ) -> Visits[NWBStore, TablePart]:
    def describe(store: NWBStore) -> TablePart:
        reader = table_reader(NWBReader(store), table_path, exact=exact_path)
        return TablePart.of(reader, resolve_regions)  # type: ignore[arg-type]

    return Visits(describe, key=lambda s: s.source)


def parts_of(stores: Sequence[NWBStore], table_path: str, *, errors: Errors = "raise",
             resolve_regions: bool = False, exact_path: bool = False,
             described: Visits[NWBStore, TablePart] | None = None) -> list[TablePart]:
    """Each open file's part of a table; ``table_path`` may be a short name, resolved in each
    file (:mod:`intake_nwb.nwb.names`: a TimeSeries is read as a table too). Remote files are
    described concurrently (one translated as it is read may fetch its table's metadata);
    ``described``: those described already, as they were opened."""
    described = described or _describer(table_path, resolve_regions, exact_path)
    found, failed = fan_out(lambda item: described.result(item[1]), list(enumerate(stores)),
                            key=lambda item: item[0],
                            workers=read_workers(s.source for s in stores))
    failures: dict[str, BaseException] = {}
    for i, store in enumerate(stores):
        exc = failed.get(i)
        if exc is None:
            continue
        if not isinstance(exc, IntakeNWBError) or errors == "raise" or (
                len(stores) == 1 and isinstance(exc, (TableNotFoundError, AmbiguousNameError))):
            raise exc
        failures[store.source] = exc
    report_failures(failures, errors, "were skipped")
    parts = [found[i] for i in range(len(stores)) if i in found]
    if not parts:
        raise TableNotFoundError(f"no file has a table at {table_path}", path=table_path)
    return parts


def _names(value: Sequence[str] | str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return (value,) if isinstance(value, str) else tuple(value)


def scan_nwb(sources: Any = None, table_path: str | None = None, *,
             infer_schema_length: int | None = None,
             schema_overrides: Mapping[str, Any] | None = None,
             exclude_array_columns: bool = False, errors: Errors = "raise",
             resolve_regions: bool = False, on_conflict: OnConflict = "drop",
             strict: bool = False, include_column_names: Sequence[str] | str | None = None,
             exclude_column_names: Sequence[str] | str | None = None, exact_path: bool = False,
             progress: bool | None = None, storage_options: Mapping[str, Any] | None = None,
             refs_dir: str | os.PathLike[str] | None = None, check_stale: bool = True,
             on_stale: str = "raise", relocate: Mapping[str, str] | None = None,
             cache: CacheMode = None, **lazynwb: Any) -> pl.LazyFrame:
    """Lazily scan a DynamicTable across NWB files, with projection/predicate/slice pushdown.

    Parameters
    ----------
    sources:
        NWB paths/URLs/globs (HDF5 files are indexed on first use), reference files or Zarr
        NWB stores, or a list of these.
    table_path:
        The table in each file: its path (``"/units"``, ``"/intervals/trials"``), a short name
        resolved in each file (``"trials"``, ``"units"``, ``"electrodes"``; see
        :mod:`intake_nwb.nwb.names`), a TimeSeries (rows of ``timestamps`` and ``data``), or
        ``"session"``/``"/general"`` (session and subject metadata, one row per file).
    infer_schema_length:
        Only the first this many files decide which columns exist (the others' extra columns
        are left out with a warning); None: all files.
    schema_overrides:
        ``{column: polars dtype}``: every file's values are cast to it (a cast that fails is a
        column failure, see ``errors``).
    exclude_array_columns:
        Leave out columns that hold a list or array per row (``spike_times``) in any file.
    errors:
        A file lacking the table or failing to open, or a column of a file that cannot be
        read: ``"raise"``; ``"warn"`` (skip the file, null the column, one warning naming
        file, table, column and cause) or ``"ignore"``.
    resolve_regions:
        Add the scalar columns of each DynamicTableRegion's target table, named
        ``<region>_<column>`` (e.g. ``electrodes_location`` in ``/units``).
    on_conflict:
        A column with no common type across files: ``"drop"`` (left out, one warning naming
        each file and its type), ``"json"`` (kept as JSON text) or ``"raise"``.
    strict:
        Raise on inconsistent data (a ragged index past its data) instead of reading it as
        pynwb does with a :class:`~intake_nwb.errors.DataWarning`.
    include_column_names, exclude_column_names:
        Read only these columns / leave these out (applied before schemas are merged, so a
        conflict in a column left out does not matter).
    exact_path:
        ``table_path`` is a path: no shortcut or short-name lookup.
    progress:
        A progress bar while files are opened (None: for many files only).
    storage_options, refs_dir, check_stale, on_stale, relocate, cache:
        How files are opened: see :func:`intake_nwb.store.open_store` (defaults:
        :mod:`intake_nwb.config`).
    **lazynwb:
        lazynwb's names for these options (``source``, ``raise_on_missing``,
        ``ignore_errors``, ``disable_progress``, ``schema``...): see
        :mod:`intake_nwb.frames.aliases`.

    Examples
    --------
    >>> import polars as pl
    >>> lf = scan_nwb("lab/*.nwb", "/units")  # nothing read yet
    >>> lf.filter(pl.col("presence_ratio") >= 0.9).select(
    ...     "id", pl.col("spike_times").list.len().alias("n_spikes")).collect().head(3)
    shape: (3, 2)
    ┌─────┬──────────┐
    │ id  ┆ n_spikes │
    │ --- ┆ ---      │
    │ i64 ┆ u32      │
    ╞═════╪══════════╡
    │ 2   ┆ 1514     │
    │ 4   ┆ 3172     │
    │ 9   ┆ 1761     │
    └─────┴──────────┘
    >>> scan_nwb("lab/*.nwb", "trials").group_by("stim_name").len().sort("stim_name").collect()
    shape: (3, 2)
    ┌────────────────┬─────┐
    │ stim_name      ┆ len │
    │ ---            ┆ --- │
    │ str            ┆ u32 │
    ╞════════════════╪═════╡
    │ blank          ┆ 280 │
    │ gratings       ┆ 252 │
    │ natural_images ┆ 268 │
    └────────────────┴─────┘
    """
    args = translate(lazynwb, sources=sources, table_path=table_path, errors=errors,
                     progress=progress, infer_schema_length=infer_schema_length,
                     schema_overrides=schema_overrides,
                     include_column_names=include_column_names)
    sources, table_path, errors = args["sources"], args["table_path"], args["errors"]
    if sources is None or table_path is None:
        raise TypeError("scan_nwb needs sources and table_path")
    opening = config.open_kwargs(storage_options, refs_dir, cache, check_stale=check_stale,
                                 on_stale=on_stale, relocate=relocate, progress=args["progress"])
    columns = _names(args["include_column_names"])
    exclude = _names(exclude_column_names) or ()
    if session_table(table_path):
        from .metadata import scan_sessions

        return scan_sessions(sources, table_path, columns=columns, exclude=exclude,
                             errors=errors, **opening)
    parts = open_parts(sources, table_path, errors=errors, resolve_regions=resolve_regions,
                       exact_path=exact_path, **opening)
    options = ScanOptions(
        columns=columns, exclude=exclude, exclude_array_columns=exclude_array_columns,
        schema_overrides=tuple((args["schema_overrides"] or {}).items()),
        on_conflict=on_conflict, errors=errors, strict=strict, resolve_regions=resolve_regions,
        infer_schema_length=args["infer_schema_length"])
    return scan_parts(parts, table_path, options)


def read_nwb(sources: Any = None, table_path: str | None = None, **kwargs: Any
             ) -> pl.DataFrame:
    """``scan_nwb(...).collect()``."""
    return scan_nwb(sources, table_path, **kwargs).collect()


def get_table_schema(sources: Any = None, table_path: str | None = None, *,
                     exclude_internal_columns: bool = False, **kwargs: Any) -> pl.Schema:
    """The polars schema of a table across files (no data read); arguments as for
    :func:`scan_nwb` (lazynwb's ``file_paths``, ``first_n_files_to_infer_schema`` too)."""
    schema = scan_nwb(sources, table_path, **kwargs).collect_schema()
    if exclude_internal_columns:
        return pl.Schema({k: v for k, v in schema.items() if k not in INTERNAL})
    return schema


def get_df(sources: Any = None, table_path: str | None = None, *,
           include_column_names: Sequence[str] | str | None = None,
           exclude_column_names: Sequence[str] | str | None = None,
           exclude_array_columns: bool = True, as_pandas: bool | None = None,
           as_polars: bool | None = None,
           nwb_path_to_row_indices: Mapping[str, Sequence[int]] | None = None,
           **kwargs: Any) -> Any:
    """A table across files as a polars (or pandas) DataFrame, lazynwb-style.

    Array columns are left out unless named in ``include_column_names`` or
    ``exclude_array_columns=False``; other arguments as for :func:`scan_nwb` (short names,
    lazynwb's parameter names).

    ``as_pandas`` (or lazynwb's ``as_polars=False``) gives pandas in pynwb's form (see
    :func:`intake_nwb.frames.pandas.to_pandas`); without either, ``config.return_type``
    decides (``"polars"`` by default). ``nwb_path_to_row_indices={file: [row, ...]}`` reads
    only those rows of those files (in the order given, each once); a row past the end of
    its table raises.

    Examples
    --------
    >>> trials = get_df("lab/*.nwb", "trials", as_pandas=True)
    >>> type(trials).__name__, trials.shape
    ('DataFrame', (800, 10))
    >>> get_df(None, "units", nwb_path_to_row_indices={"session.nwb": [3, 0]}).select(
    ...     "id", "presence_ratio", "quality")
    shape: (2, 3)
    ┌─────┬────────────────┬─────────┐
    │ id  ┆ presence_ratio ┆ quality │
    │ --- ┆ ---            ┆ ---     │
    │ i64 ┆ f64            ┆ str     │
    ╞═════╪════════════════╪═════════╡
    │ 3   ┆ 0.383845       ┆ mua     │
    │ 0   ┆ 0.692621       ┆ mua     │
    └─────┴────────────────┴─────────┘
    """
    include = _names(include_column_names)
    if nwb_path_to_row_indices is not None:  # as in lazynwb, it names the files too
        kwargs.pop("nwb_data_sources", None)
        sources = list(nwb_path_to_row_indices)
    lf = scan_nwb(sources, table_path, include_column_names=include,
                  exclude_column_names=exclude_column_names,
                  exclude_array_columns=exclude_array_columns and include is None, **kwargs)
    if nwb_path_to_row_indices is None:
        df = lf.collect()
    else:
        from .rows import select_rows

        df = select_rows(lf, nwb_path_to_row_indices, storage_options=kwargs.get(
            "storage_options"), refs_dir=kwargs.get("refs_dir"))
    if config.wants_pandas(as_pandas, as_polars):
        from .pandas import to_pandas

        return to_pandas(df)
    return df

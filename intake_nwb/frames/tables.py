"""Layer 5: NWB tables as polars LazyFrames, across many files, with pushdown.

``scan_nwb`` registers a polars IO source. When the query runs, each file is read in two
phases: the predicate's columns first (then the filter), and the other projected columns only
for the rows that survived, ragged columns through the byte ranges of those rows alone. Files
are read concurrently; rows carry ``_nwb_path``, ``_table_path`` and ``_table_index``.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from ..errors import (
    Errors,
    IntakeNWBError,
    SchemaConflictError,
    TableNotFoundError,
    report_failures,
)
from ..nwb import NWBReader, TableReader
from ..nwb.tables import COMPOUND, ENUM, ID, REFERENCE, REGION, TSREF, ColumnData, ColumnSpec
from ..store import open_stores

NWB_PATH, TABLE_PATH, TABLE_INDEX = "_nwb_path", "_table_path", "_table_index"
INTERNAL = (NWB_PATH, TABLE_PATH, TABLE_INDEX)
_MAX_WORKERS = 16


@dataclass
class _FileTable:
    reader: TableReader
    schema: dict[str, pl.DataType]

    @property
    def source(self) -> str:
        return self.reader.source


# -- schema --------------------------------------------------------------------------------------

def _numpy_to_polars(dtype: np.dtype) -> pl.DataType:
    if dtype.kind in "OSUT":
        return pl.String()
    if dtype.kind == "b":
        return pl.Boolean()
    return pl.from_numpy(np.zeros(1, dtype=dtype)).to_series().dtype


def _field_dtype(code: str) -> pl.DataType:
    if code in ("object", "str", "text", "utf", "utf8", "ascii"):
        return pl.String()
    return _numpy_to_polars(np.dtype(code))


def column_dtype(table: TableReader, spec: ColumnSpec) -> pl.DataType:
    """The polars type of a column: ragged levels become List, per-row arrays Array."""
    if spec.kind == ID or spec.kind == REGION:
        inner: pl.DataType = pl.Int64()
    elif spec.kind == REFERENCE:
        inner = pl.String()
    elif spec.kind in (TSREF, COMPOUND):
        inner = pl.Struct({f["name"]: _field_dtype(f["dtype"]) for f in spec.fields})
    elif spec.kind == ENUM:
        inner = pl.Enum(table.enum_elements(spec.name))
    else:
        inner = _numpy_to_polars(table.dtype(spec.name))
    shape = table.row_shape(spec.name) if spec.kind not in (TSREF, COMPOUND) else ()
    if shape and spec.kind != ID:
        inner = pl.Array(inner, shape)
    for _ in spec.index_paths:
        inner = pl.List(inner)
    return inner


def _is_array_column(dtype: pl.DataType) -> bool:
    return isinstance(dtype, (pl.List, pl.Array))


def table_schema(table: TableReader, *, resolve_regions: bool = False
                 ) -> dict[str, pl.DataType]:
    schema = {name: column_dtype(table, spec) for name, spec in table.columns.items()}
    if resolve_regions:
        for name, spec in table.columns.items():
            if spec.kind == REGION and spec.target_table:
                for tname, tdtype in _region_targets(table, spec).items():
                    dtype = tdtype
                    for _ in spec.index_paths:
                        dtype = pl.List(dtype)
                    schema[f"{name}_{tname}"] = dtype
    schema.update({NWB_PATH: pl.String(), TABLE_PATH: pl.String(), TABLE_INDEX: pl.Int64()})
    return schema


def _region_targets(table: TableReader, spec: ColumnSpec) -> dict[str, pl.DataType]:
    target = TableReader(table.nwb, spec.target_table or "")
    out = {}
    for tname, tspec in target.columns.items():
        if tspec.kind in (REGION, TSREF) or tspec.ragged or tname == "id":
            continue
        dtype = column_dtype(target, tspec)
        if not _is_array_column(dtype):
            out[tname] = dtype
    return out


def _union(tables: Sequence[_FileTable]) -> dict[str, pl.DataType]:
    merged: dict[str, pl.DataType] = {}
    owner: dict[str, str] = {}
    for t in tables:
        for name, dtype in t.schema.items():
            if name not in merged:
                merged[name], owner[name] = dtype, t.source
                continue
            if merged[name] == dtype:
                continue
            merged[name] = _supertype(merged[name], dtype, name, owner[name], t.source)
    return merged


def _supertype(a: pl.DataType, b: pl.DataType, name: str, src_a: str, src_b: str
               ) -> pl.DataType:
    if isinstance(a, pl.Enum) and isinstance(b, pl.Enum):
        return pl.Categorical()
    try:
        frame = pl.concat([pl.DataFrame(schema={name: a}), pl.DataFrame(schema={name: b})],
                          how="vertical_relaxed")
        return frame.schema[name]
    except (pl.exceptions.PolarsError, TypeError) as exc:
        raise SchemaConflictError(
            f"column {name!r} is {a} in {src_a} but {b} in {src_b}: no common type; "
            "pass schema_overrides to choose one") from exc


# -- reading -------------------------------------------------------------------------------------

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


def _series(table: TableReader, name: str, rows: np.ndarray | None, dtype: pl.DataType
            ) -> pl.Series:
    data = table.read(name, rows)
    series = pl.Series(name, _to_arrow(data, table))
    return series.cast(dtype) if series.dtype != dtype else series


def _region_series(table: TableReader, column: str, target_col: str, rows: np.ndarray | None,
                   dtype: pl.DataType) -> pl.Series:
    spec = table.column(column)
    idx = table.read(column, rows)
    target = TableReader(table.nwb, spec.target_table or "")
    flat = np.asarray(idx.values, dtype=np.int64)
    taken = target.read(target_col, flat)
    taken.offsets = idx.offsets
    series = pl.Series(f"{column}_{target_col}", _to_arrow(taken, target))
    return series.cast(dtype) if series.dtype != dtype else series


def _read_columns(ft: _FileTable, names: Sequence[str], rows: np.ndarray | None,
                  schema: Mapping[str, pl.DataType]) -> dict[str, pl.Series]:
    table = ft.reader
    n = table.n_rows if rows is None else len(rows)
    out: dict[str, pl.Series] = {}
    for name in names:
        dtype = schema[name]
        if name == NWB_PATH:
            out[name] = pl.repeat(table.source, n, dtype=pl.String(), eager=True).alias(name)
        elif name == TABLE_PATH:
            out[name] = pl.repeat(table.path, n, dtype=pl.String(), eager=True).alias(name)
        elif name == TABLE_INDEX:
            out[name] = pl.Series(name, np.arange(n) if rows is None else rows, pl.Int64())
        elif name in table.columns:
            out[name] = _series(table, name, rows, ft.schema[name]).cast(dtype)
        elif name in ft.schema:  # a resolved region column: "<region>_<target column>"
            region = next(c for c in table.columns if name.startswith(c + "_")
                          and table.columns[c].kind == REGION)
            out[name] = _region_series(table, region, name[len(region) + 1:], rows,
                                       ft.schema[name]).cast(dtype)
        else:  # column absent from this file: nulls
            out[name] = pl.Series(name, [None] * n, dtype=dtype)
    return out


def _read_file(ft: _FileTable, columns: Sequence[str], predicate: pl.Expr | None,
               n_rows: int | None, schema: Mapping[str, pl.DataType],
               overrides: Mapping[str, pl.DataType]) -> pl.DataFrame:
    rows: np.ndarray | None = None
    if predicate is not None:
        pred_cols = [c for c in dict.fromkeys(predicate.meta.root_names()) if c in schema]
        first = _read_columns(ft, [*pred_cols, TABLE_INDEX], None, schema)
        frame = _apply_overrides(pl.DataFrame(first), overrides).filter(predicate)
        if n_rows is not None:
            frame = frame.head(n_rows)
        rows = frame[TABLE_INDEX].to_numpy()
    elif n_rows is not None:
        rows = np.arange(min(n_rows, ft.reader.n_rows))
    cols = _read_columns(ft, columns, rows, schema)
    return _apply_overrides(pl.DataFrame([cols[c] for c in columns]), overrides)


def _apply_overrides(frame: pl.DataFrame, overrides: Mapping[str, pl.DataType]) -> pl.DataFrame:
    present = {k: v for k, v in overrides.items() if k in frame.columns}
    return frame.cast(present) if present else frame  # type: ignore[arg-type]


def _prune(tables: list[_FileTable], predicate: pl.Expr | None) -> list[_FileTable]:
    """Drop files a predicate on ``_nwb_path``/``_table_path`` alone rules out, unread."""
    if predicate is None or not set(predicate.meta.root_names()) <= {NWB_PATH, TABLE_PATH}:
        return tables
    probe = pl.DataFrame({NWB_PATH: [t.source for t in tables],
                          TABLE_PATH: [t.reader.path for t in tables]})
    keep = probe.with_row_index("_i").filter(predicate)["_i"].to_list()
    return [tables[i] for i in keep]


# -- public API ----------------------------------------------------------------------------------

def _open_tables(sources: Any, table_path: str, *, errors: Errors, resolve_regions: bool,
                 open_kwargs: Mapping[str, Any]) -> list[_FileTable]:
    stores = open_stores(sources, errors=errors, **open_kwargs)
    tables: list[_FileTable] = []
    failures: dict[str, BaseException] = {}
    for store in stores:
        try:
            reader = TableReader(NWBReader(store), table_path)
            tables.append(_FileTable(reader, table_schema(reader,
                                                          resolve_regions=resolve_regions)))
        except IntakeNWBError as exc:
            if errors == "raise" or (len(stores) == 1 and isinstance(exc, TableNotFoundError)):
                raise
            failures[store.source] = exc
    report_failures(failures, errors, "were skipped")
    if not tables:
        raise TableNotFoundError(f"no file has a table at {table_path}", path=table_path)
    return tables


def scan_nwb(sources: Any, table_path: str, *, infer_schema_length: int | None = None,
             schema_overrides: Mapping[str, Any] | None = None,
             exclude_array_columns: bool = False, errors: Errors = "raise",
             resolve_regions: bool = False, storage_options: Mapping[str, Any] | None = None,
             refs_dir: str | os.PathLike[str] | None = None, check_stale: bool = True,
             relocate: Mapping[str, str] | None = None) -> pl.LazyFrame:
    """Lazily scan a DynamicTable across NWB files, with projection/predicate/slice pushdown.

    Parameters
    ----------
    sources:
        NWB paths/URLs/globs (HDF5 files are indexed on first use), reference files or Zarr
        NWB stores, or a list of these.
    table_path:
        Path of the table in each file: ``"/units"``, ``"/intervals/trials"``,
        ``"/general/extracellular_ephys/electrodes"``, ...
    infer_schema_length:
        Number of files whose columns make up the schema (None: all files).
    schema_overrides:
        ``{column: polars dtype}`` applied to every file's rows.
    exclude_array_columns:
        Leave out ragged (List) and per-row array (Array) columns such as ``spike_times``.
    errors:
        A file lacking the table or failing to open: ``"raise"``, or ``"warn"``/``"ignore"``
        to skip it.
    resolve_regions:
        Add the scalar columns of each DynamicTableRegion's target table, named
        ``<region>_<column>`` (e.g. ``electrodes_location`` in ``/units``).
    storage_options, refs_dir, check_stale, relocate:
        See :func:`intake_nwb.store.open_store`.

    Examples
    --------
    >>> import polars as pl
    >>> lf = scan_nwb("lab/*.nwb", "/units")  # doctest: +SKIP
    >>> lf.filter(pl.col("presence_ratio") >= 0.9).select("spike_times").collect()  # doctest: +SKIP
    """
    open_kwargs = dict(storage_options=storage_options, refs_dir=refs_dir,
                       check_stale=check_stale, relocate=relocate)
    tables = _open_tables(sources, table_path, errors=errors, resolve_regions=resolve_regions,
                          open_kwargs=open_kwargs)
    basis = tables if infer_schema_length is None else tables[:max(1, infer_schema_length)]
    schema = _union(basis)
    overrides = {k: pl.DataType.from_python(v) if isinstance(v, type) and not issubclass(
        v, pl.DataType) else v for k, v in (schema_overrides or {}).items()}
    schema.update(overrides)
    if exclude_array_columns:
        schema = {k: v for k, v in schema.items() if not _is_array_column(v)}

    def source(with_columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None,
               batch_size: int | None) -> Iterator[pl.DataFrame]:
        columns = list(with_columns) if with_columns else list(schema)
        selected = _prune(tables, predicate)
        remaining = n_rows
        if remaining is not None:  # rows are needed in order: one file after another
            for ft in selected:
                if remaining <= 0:
                    return
                frame = _read_file(ft, columns, predicate, remaining, schema, overrides)
                remaining -= frame.height
                yield frame
            return
        with cf.ThreadPoolExecutor(max_workers=min(_MAX_WORKERS, len(selected) or 1)) as pool:
            futures = [pool.submit(_read_file, ft, columns, predicate, None, schema, overrides)
                       for ft in selected]
            for fut in futures:
                yield fut.result()

    return pl.io.plugins.register_io_source(
        source, schema=schema, explain_name="NWB",
        explain_detail=f"{table_path} in {len(tables)} file(s)")


def read_nwb(sources: Any, table_path: str, **kwargs: Any) -> pl.DataFrame:
    """``scan_nwb(...).collect()``."""
    return scan_nwb(sources, table_path, **kwargs).collect()


def get_table_schema(sources: Any, table_path: str, **kwargs: Any) -> pl.Schema:
    """The polars schema of a table across files (no data read)."""
    return scan_nwb(sources, table_path, **kwargs).collect_schema()


def get_df(sources: Any, table_path: str, *, include_column_names: Sequence[str] | str | None
           = None, exclude_column_names: Sequence[str] | str | None = None,
           exclude_array_columns: bool = True, as_pandas: bool = False, **kwargs: Any) -> Any:
    """A table across files as a polars (or pandas) DataFrame, lazynwb-style.

    Examples
    --------
    >>> get_df("lab/*.nwb", "/intervals/trials", as_pandas=True)  # doctest: +SKIP
    """
    include = [include_column_names] if isinstance(include_column_names, str) \
        else include_column_names
    exclude = [exclude_column_names] if isinstance(exclude_column_names, str) \
        else exclude_column_names or []
    lf = scan_nwb(sources, table_path, exclude_array_columns=exclude_array_columns and not
                  include, **kwargs)
    names = lf.collect_schema().names()
    keep = [c for c in names if (include is None or c in include or c in INTERNAL)
            and c not in exclude]
    df = lf.select(keep).collect()
    return df.to_pandas() if as_pandas else df

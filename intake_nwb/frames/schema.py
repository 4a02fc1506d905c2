"""Column types of NWB tables as polars types, and one schema for many files.

Every file has its own schema (:func:`table_schema`). A lab's files come from different
pipelines and versions, so a table across files needs a *schema policy*
(:func:`reconcile`): per-file schemas are narrowed to the selected columns and overridden first,
then merged column by column:

- equal types stay; numeric types (bool included) go to polars' supertype (``Int32`` and
  ``Float64`` -> ``Float64``); ``String`` with ``Enum``/``Categorical`` -> ``String``; two
  ``Enum`` -> an ``Enum`` of all categories;
- per-row arrays of different lengths and ragged lists merge into ``List`` of the common
  element type (``Array(Float64, 82)`` and ``List(Float64)`` -> ``List(Float64)``): no value is
  lost or changed;
- anything else (a scalar in one file and a list in another, text and numbers, 1-D and 2-D
  rows) is a *conflict*. ``on_conflict="drop"`` (default) leaves the column out with one
  :class:`~intake_nwb.errors.SchemaConflictWarning` naming each file and its type; ``"json"``
  keeps it as text, each file's values as JSON; ``"raise"`` raises
  :class:`~intake_nwb.errors.SchemaConflictError` naming each file and its type.

Files that lack a column give nulls for it (a missing value, as in a diagonal concatenation).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import polars as pl

from ..errors import SchemaConflictError, SchemaConflictWarning
from ..nwb.tables import COMPOUND, ENUM, ID, REFERENCE, REGION, TSREF, ColumnSpec, TableReader

NWB_PATH, TABLE_PATH, TABLE_INDEX = "_nwb_path", "_table_path", "_table_index"
INTERNAL = (NWB_PATH, TABLE_PATH, TABLE_INDEX)
# lazynwb's names for them
NWB_PATH_COLUMN_NAME, TABLE_PATH_COLUMN_NAME, TABLE_INDEX_COLUMN_NAME = INTERNAL
INTERNAL_COLUMN_NAMES = frozenset(INTERNAL)
INTERNAL_SCHEMA: dict[str, pl.DataType] = {
    NWB_PATH: pl.String(), TABLE_PATH: pl.String(), TABLE_INDEX: pl.Int64()}
OnConflict = Literal["drop", "json", "raise"]


# -- one file ------------------------------------------------------------------------------------

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


def is_array(dtype: pl.DataType) -> bool:
    """A column that holds a list or array per row (``spike_times``, ``waveform_mean``)."""
    return isinstance(dtype, (pl.List, pl.Array))


@dataclass
class FileSchema:
    """One file's columns: their types, and the columns whose type could not be told."""

    dtypes: dict[str, pl.DataType]
    failures: dict[str, str] = field(default_factory=dict)  # column -> cause


def table_schema(table: TableReader, *, resolve_regions: bool = False) -> FileSchema:
    """The file's own schema of a table (internal columns excluded). A column whose type cannot
    be told (an unsupported dtype) is recorded in ``failures`` instead of failing the table."""
    out = FileSchema({})
    columns = table.columns
    out.failures.update(table.failures)
    for name, spec in columns.items():
        try:
            out.dtypes[name] = column_dtype(table, spec)
        except Exception as exc:  # noqa: BLE001 - one column must not sink the table
            out.failures[name] = f"{type(exc).__name__}: {exc}"
    if resolve_regions:
        for name, spec in table.columns.items():
            if spec.kind == REGION and spec.target_table and name in out.dtypes:
                try:
                    targets = region_targets(table, spec)
                except Exception as exc:  # noqa: BLE001
                    out.failures[name + "_*"] = f"{type(exc).__name__}: {exc}"
                    continue
                for tname, tdtype in targets.items():
                    for _ in spec.index_paths:
                        tdtype = pl.List(tdtype)
                    out.dtypes[f"{name}_{tname}"] = tdtype
    return out


def region_targets(table: TableReader, spec: ColumnSpec) -> dict[str, pl.DataType]:
    """The scalar columns of a DynamicTableRegion's target table and their types."""
    target = TableReader(table.nwb, spec.target_table or "")
    out = {}
    for tname, tspec in target.columns.items():
        if tspec.kind in (REGION, TSREF) or tspec.ragged or tname == "id":
            continue
        dtype = column_dtype(target, tspec)
        if not is_array(dtype):
            out[tname] = dtype
    return out


# -- many files ----------------------------------------------------------------------------------

_NUMERIC = (pl.Boolean, pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.Int128, pl.UInt8, pl.UInt16,
            pl.UInt32, pl.UInt64, pl.Float32, pl.Float64)


def _relaxed(a: pl.DataType, b: pl.DataType) -> pl.DataType:
    frame = pl.concat([pl.DataFrame(schema={"x": a}), pl.DataFrame(schema={"x": b})],
                      how="vertical_relaxed")
    return frame.schema["x"]


def supertype(a: pl.DataType, b: pl.DataType) -> pl.DataType | None:
    """The type that holds every value of ``a`` and ``b`` unchanged, or None (a conflict).

    Examples
    --------
    >>> supertype(pl.Int32(), pl.Float64())
    Float64
    >>> supertype(pl.Array(pl.Float64(), 82), pl.List(pl.Float32()))
    List(Float64)
    >>> supertype(pl.Int64(), pl.List(pl.Int64)) is None
    True
    """
    if a == b:
        return a
    if isinstance(a, pl.Null):
        return b
    if isinstance(b, pl.Null):
        return a
    if isinstance(a, _NUMERIC) and isinstance(b, _NUMERIC):
        return _relaxed(a, b)
    if isinstance(a, pl.Enum) and isinstance(b, pl.Enum):
        cats = list(dict.fromkeys([*a.categories.to_list(), *b.categories.to_list()]))
        return pl.Enum(cats)
    text = (pl.String, pl.Enum, pl.Categorical)
    if isinstance(a, text) and isinstance(b, text):
        return pl.String()
    if isinstance(a, pl.Datetime) and isinstance(b, pl.Datetime):
        return _relaxed(a, b)
    if isinstance(a, pl.Struct) and isinstance(b, pl.Struct):
        fa, fb = dict(a.to_schema()), dict(b.to_schema())
        merged: dict[str, pl.DataType] = {}
        for name in dict.fromkeys([*fa, *fb]):
            t = fa.get(name, fb.get(name)) if name not in fa or name not in fb \
                else supertype(fa[name], fb[name])
            if t is None:
                return None
            merged[name] = t
        return pl.Struct(merged)
    if is_array(a) and is_array(b):
        inner_a, inner_b = _element(a), _element(b)
        if isinstance(a, pl.Array) and isinstance(b, pl.Array) and a.size == b.size:
            inner = supertype(inner_a, inner_b)
            return None if inner is None else pl.Array(inner, a.size)
        inner = supertype(inner_a, inner_b)
        return None if inner is None else pl.List(inner)
    return None


def _element(dtype: pl.DataType) -> pl.DataType:
    """What one element of a list or of the first dimension of an array is."""
    if isinstance(dtype, pl.Array):
        shape = dtype.shape
        return pl.Array(_innermost(dtype), shape[1:]) if len(shape) > 1 else _innermost(dtype)
    return dtype.inner  # type: ignore[attr-defined,no-any-return]


def _innermost(dtype: pl.DataType) -> pl.DataType:
    while isinstance(dtype, pl.Array):
        dtype = dtype.inner  # type: ignore[assignment]
    return dtype


@dataclass
class Conflict:
    """A column with no common type: each file (``_nwb_path``) and its own type."""

    column: str
    types: dict[str, pl.DataType]

    def describe(self) -> str:
        by_type: dict[str, list[str]] = {}
        for source, dtype in self.types.items():
            by_type.setdefault(str(dtype), []).append(source)
        return f"{self.column!r} is " + "; ".join(
            f"{dtype} in {', '.join(srcs)}" for dtype, srcs in by_type.items())


@dataclass
class Reconciled:
    """One schema for a table across files (internal columns last), and what was left out."""

    schema: dict[str, pl.DataType]
    conflicts: list[Conflict] = field(default_factory=list)
    as_json: set[str] = field(default_factory=set)  # conflicting columns kept as JSON text
    unseen: dict[str, list[str]] = field(default_factory=dict)  # infer_schema_length cut

    def warn(self, table_path: str) -> None:
        """One warning for the columns left out (or kept as JSON text), naming the files."""
        if self.conflicts:
            kept = "kept as JSON text" if self.as_json else "left out"
            warnings.warn(SchemaConflictWarning(
                f"{table_path}: {len(self.conflicts)} column(s) have no common type across "
                f"files and were {kept} (pass on_conflict= or schema_overrides= to choose): "
                + " | ".join(c.describe() for c in self.conflicts)), stacklevel=3)
        if self.unseen:
            warnings.warn(SchemaConflictWarning(
                f"{table_path}: columns of files beyond infer_schema_length were left out: "
                + "; ".join(f"{c} (in {', '.join(s)})" for c, s in self.unseen.items())),
                stacklevel=3)


def as_dtype(value: Any) -> pl.DataType:
    """A polars type from what users write in ``schema_overrides`` (``pl.Int8``, ``float``)."""
    if isinstance(value, type) and not issubclass(value, pl.DataType):
        return pl.DataType.from_python(value)
    return value() if isinstance(value, type) else value


def reconcile(files: Sequence[tuple[str, Mapping[str, pl.DataType]]], *,
              columns: Iterable[str] | None = None, exclude: Iterable[str] = (),
              exclude_array_columns: bool = False,
              overrides: Mapping[str, Any] | None = None, on_conflict: OnConflict = "drop",
              infer_schema_length: int | None = None) -> Reconciled:
    """One schema for ``files`` (``(source, own schema)`` pairs), after the user's choices.

    ``columns``/``exclude`` narrow every file's schema first, ``overrides`` replace a column's
    type in every file (the values are cast when read), ``exclude_array_columns`` leaves out a
    column that is a list or array in any file; then the module's rules merge what is left.
    ``infer_schema_length``: only the first files decide which columns exist (the others'
    extra columns are reported in ``unseen``).
    """
    wanted = None if columns is None else [c for c in columns if c not in INTERNAL]
    dropped = set(exclude)
    fixed = {k: as_dtype(v) for k, v in (overrides or {}).items()}
    narrowed: list[tuple[str, dict[str, pl.DataType]]] = []
    for source, dtypes in files:
        own = {c: fixed.get(c, t) for c, t in dtypes.items() if c not in dropped
               and (wanted is None or c in wanted)}
        narrowed.append((source, own))
    if exclude_array_columns:
        arrays = {c for _, own in narrowed for c, t in own.items() if is_array(t)}
        narrowed = [(s, {c: t for c, t in own.items() if c not in arrays}) for s, own in narrowed]
    basis = narrowed if infer_schema_length is None else narrowed[:max(1, infer_schema_length)]
    known = dict.fromkeys(c for _, own in basis for c in own)
    out = Reconciled({})
    if infer_schema_length is not None:
        for source, own in narrowed[len(basis):]:
            for c in own:
                if c not in known:
                    out.unseen.setdefault(c, []).append(source)
    order = ([c for c in wanted if c in known] if wanted is not None else list(known))
    for column in order:
        types = {s: own[column] for s, own in narrowed if column in own}
        merged: pl.DataType | None = None
        for dtype in types.values():
            merged = dtype if merged is None else supertype(merged, dtype)
            if merged is None:
                break
        if merged is not None:
            out.schema[column] = merged
            continue
        conflict = Conflict(column, types)
        if on_conflict == "raise":
            raise SchemaConflictError(f"column {conflict.describe()}: no common type; pass "
                                      "schema_overrides to choose one, or on_conflict='drop' "
                                      "or 'json'")
        out.conflicts.append(conflict)
        if on_conflict == "json":
            out.schema[column] = pl.String()
            out.as_json.add(column)
    out.schema.update(INTERNAL_SCHEMA)
    return out


def to_json_text(series: pl.Series) -> pl.Series:
    """A column's values as JSON text (the representation of a conflicting column)."""
    return pl.Series(series.name, [None if v is None else json.dumps(v, default=str)
                                   for v in series.to_list()], dtype=pl.String)


# -- types as JSON (catalog indexes record per-file schemas) --------------------------------------

def dtype_to_json(dtype: pl.DataType) -> Any:
    """A JSON-ready description of a polars type (see :func:`dtype_from_json`).

    Examples
    --------
    >>> dtype_to_json(pl.List(pl.Array(pl.Float32, (2, 3))))
    {'list': {'array': 'Float32', 'shape': [2, 3]}}
    >>> dtype_from_json(dtype_to_json(pl.Enum(["a", "b"])))
    Enum(categories=['a', 'b'])
    """
    if isinstance(dtype, pl.List):
        return {"list": dtype_to_json(dtype.inner)}
    if isinstance(dtype, pl.Array):
        return {"array": dtype_to_json(_innermost(dtype)), "shape": list(dtype.shape)}
    if isinstance(dtype, pl.Struct):
        return {"struct": {f.name: dtype_to_json(f.dtype) for f in dtype.fields}}
    if isinstance(dtype, pl.Enum):
        return {"enum": dtype.categories.to_list()}
    if isinstance(dtype, pl.Datetime):
        return {"datetime": dtype.time_unit, "tz": dtype.time_zone}
    return str(dtype.base_type().__name__)


def dtype_from_json(doc: Any) -> pl.DataType:
    """The polars type :func:`dtype_to_json` described."""
    if isinstance(doc, str):
        cls = getattr(pl, doc, None)
        if not (isinstance(cls, type) and issubclass(cls, pl.DataType)):
            raise ValueError(f"not a polars type: {doc!r}")
        return cls()
    if "list" in doc:
        return pl.List(dtype_from_json(doc["list"]))
    if "array" in doc:
        return pl.Array(dtype_from_json(doc["array"]), tuple(doc["shape"]))
    if "struct" in doc:
        return pl.Struct({k: dtype_from_json(v) for k, v in doc["struct"].items()})
    if "enum" in doc:
        return pl.Enum(doc["enum"])
    if "datetime" in doc:
        return pl.Datetime(doc["datetime"], doc.get("tz"))
    raise ValueError(f"not a polars type description: {doc!r}")

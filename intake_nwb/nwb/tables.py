"""DynamicTable semantics: columns, ragged indices, regions, references, enums.

A :class:`TableReader` describes a table from attributes alone and reads any column for any
subset of rows, returning :class:`ColumnData` (flat values plus one offsets array per ragged
level) so the frames layer can build Arrow/polars columns without Python loops.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import zarr

from .. import conventions as cv
from ..errors import DataWarning, IntakeNWBError, TableNotFoundError
from ..store import index_bounds, raw_rows, read_rows, read_spans, row_reader
from ..util.memo import cached_property
from .file import NWBReader
from .types import neurodata_type

# column kinds
DATA, REGION, REFERENCE, TSREF, ENUM, ID, COMPOUND = (
    "data", "region", "reference", "timeseries_reference", "enum", "id", "compound")


@dataclass(frozen=True)
class ColumnSpec:
    """How a column is stored. ``index_paths`` go from the outermost index to the innermost."""

    name: str
    path: str
    kind: str
    neurodata_type: str | None
    index_paths: tuple[str, ...] = ()
    target_table: str | None = None  # DynamicTableRegion
    elements_path: str | None = None  # EnumData
    fields: tuple[dict[str, str], ...] = ()  # compound
    description: str | None = None

    @property
    def ragged(self) -> bool:
        return bool(self.index_paths)


@dataclass
class ColumnData:
    """A column's values for some rows: ``values`` flat along axis 0, ``offsets`` per level."""

    spec: ColumnSpec
    values: np.ndarray
    offsets: list[np.ndarray] = field(default_factory=list)


class TableReader:
    """A DynamicTable of one file.

    Examples
    --------
    >>> from intake_nwb.store import open_store
    >>> t = TableReader(NWBReader(open_store("session.nwb")), "/units")
    >>> column = t.read("spike_times", rows=np.array([0, 3]))  # units 0 and 3
    >>> column.offsets, column.values[:3]  # both units' spikes end to end, and their bounds
    ([array([  0,  96, 997])], array([4.50438945, 6.14679028, 7.06478173]))
    """

    def __init__(self, nwb: NWBReader, path: str):
        self.nwb = nwb
        self.path = "/" + path.strip("/")
        self.group = nwb.typed_group(
            self.path, lambda p: nwb.types.is_a(nwb.type_of(p), "DynamicTable"),
            lambda: nwb.tables,
            TableNotFoundError, "DynamicTable")
        self.failures: dict[str, str] = {}  # columns left out: why

    @property
    def source(self) -> str:
        return self.nwb.source

    @cached_property
    def neurodata_type(self) -> str | None:
        return neurodata_type(self.group.attrs)

    @cached_property
    def columns(self) -> dict[str, ColumnSpec]:
        arrays = {name: node for name, node in self.group.arrays()}
        links = {lk["name"]: lk["path"] for lk in self.group.attrs.get(cv.ZARR_LINK, []) or []
                 if lk.get("source", ".") == "."}
        for name, target in links.items():  # columns may be links to another table's data
            node = self.nwb.node(target)
            if isinstance(node, zarr.Array):
                arrays[name] = node
        types = {name: neurodata_type(a.attrs) for name, a in arrays.items()}
        index_of: dict[str, str] = {}
        for name, arr in arrays.items():
            if self.nwb.types.is_a(types[name], "VectorIndex"):
                target = cv.ref_target(cv.attr_ref(arr.attrs.get("target")))
                tname = target.rsplit("/", 1)[-1] if target else _strip_index(name, arrays)
                if tname:
                    index_of[tname] = name
        indexes = set(index_of.values())
        # EnumData's elements live in the table group too, but are not a column
        elements = {cv.ref_target(cv.attr_ref(a.attrs.get("elements"))) for a in arrays.values()}
        n_ids = arrays["id"].shape[0] if "id" in arrays else None
        colnames = self.group.attrs.get("colnames", [])
        if isinstance(colnames, str):
            colnames = [colnames]
        order = [c for c in colnames if c in arrays] + sorted(
            n for n in arrays if n not in colnames)
        specs: dict[str, ColumnSpec] = {}
        for name in order:
            if name in indexes or name in specs:
                continue
            arr = arrays[name]
            ndtype = types[name]
            if name == "id" or self.nwb.types.is_a(ndtype, "ElementIdentifiers"):
                if name == "id":
                    specs[name] = ColumnSpec(name, _path(arr), ID, ndtype)
                continue
            if name not in colnames and (ndtype is None or _path(arr) in elements or (
                    n_ids is not None and name not in index_of
                    and arr.shape[:1] != (n_ids,))):
                continue  # not a column: an untyped helper, enum elements, another length
            chain = []
            inner = name
            while inner in index_of:
                inner = index_of[inner]
                chain.append(_path(arrays[inner]))
            specs[name] = self._spec(name, arr, ndtype, tuple(reversed(chain)))
        return self._agreeing(specs, n_ids)

    def _agreeing(self, specs: dict[str, ColumnSpec], n_ids: int | None
                  ) -> dict[str, ColumnSpec]:
        """The columns whose row count is the table's (its ``id``); the others are recorded in
        :attr:`failures`. A table none of whose columns agree with its ``id`` is refused: its
        declared size cannot be trusted (a corrupt or hostile file)."""
        if n_ids is None:
            return specs
        for name, spec in list(specs.items()):
            if spec.kind == ID:
                continue
            outer = int(self._array(spec.index_paths[0] if spec.ragged else spec.path).shape[0])
            if outer != n_ids:
                self.failures[name] = f"has {outer} rows, the table has {n_ids} (its id)"
                del specs[name]
        if self.failures and len(specs) == 1 and "id" in specs:
            raise IntakeNWBError(f"no column has the table's {n_ids} rows: "
                                 + "; ".join(f"{c} {why}" for c, why in self.failures.items()),
                                 source=self.source, path=self.path)
        return specs

    def _spec(self, name: str, arr: zarr.Array, ndtype: str | None, chain: tuple[str, ...]
              ) -> ColumnSpec:
        attrs = arr.attrs
        desc = attrs.get("description")
        desc = desc[0] if isinstance(desc, list) and len(desc) == 1 else desc
        common = dict(neurodata_type=ndtype, index_paths=chain, description=desc)
        zdtype = attrs.get(cv.ZARR_DTYPE)
        if self.nwb.types.is_a(ndtype, "DynamicTableRegion"):
            target = cv.ref_target(cv.attr_ref(attrs.get("table")))
            return ColumnSpec(name, _path(arr), REGION, target_table=target, **common)
        if self.nwb.types.is_a(ndtype, "EnumData"):
            elements = cv.ref_target(cv.attr_ref(attrs.get("elements")))
            return ColumnSpec(name, _path(arr), ENUM, elements_path=elements, **common)
        if isinstance(zdtype, list):
            kind = TSREF if self.nwb.types.is_a(ndtype, "TimeSeriesReferenceVectorData") or [
                f["name"] for f in zdtype] == ["idx_start", "count", "timeseries"] else COMPOUND
            return ColumnSpec(name, _path(arr), kind, fields=tuple(zdtype), **common)
        if zdtype == cv.OBJECT:
            return ColumnSpec(name, _path(arr), REFERENCE, **common)
        if arr.dtype.names:
            fields = tuple({"name": n, "dtype": arr.dtype.fields[n][0].str}
                           for n in arr.dtype.names)
            return ColumnSpec(name, _path(arr), COMPOUND, fields=fields, **common)
        return ColumnSpec(name, _path(arr), DATA, **common)

    @cached_property
    def n_rows(self) -> int:
        cols = self.columns
        if "id" in cols:
            return int(self._array(cols["id"].path).shape[0])
        for spec in cols.values():
            path = spec.index_paths[0] if spec.ragged else spec.path
            return int(self._array(path).shape[0])
        return 0

    def _map(self, array: zarr.Array) -> Any:
        """The array read without zarr where its bytes allow (see :func:`store.row_reader`)."""
        return row_reader(self.nwb.store, array)

    def _array(self, path: str) -> zarr.Array:
        node = self.nwb.node(path)
        assert isinstance(node, zarr.Array)
        return node

    def column(self, name: str) -> ColumnSpec:
        try:
            return self.columns[name]
        except KeyError:
            raise IntakeNWBError(f"no column {name!r}; columns: {', '.join(self.columns)}",
                                 source=self.source, path=self.path) from None

    def row_shape(self, name: str) -> tuple[int, ...]:
        """Shape of one innermost element (``()`` for scalars, ``(82,)`` for waveforms)."""
        return tuple(self._array(self.column(name).path).shape[1:])

    def dtype(self, name: str) -> np.dtype:
        return self._array(self.column(name).path).dtype

    def ragged_layout(self, name: str) -> tuple[np.ndarray, np.ndarray, dict[str, Any]] | None:
        """Where a ragged numeric column's values lie, for a lab index to read them without this
        table: each row's ``(starts, stops)`` and the data's layout in its file (``dtype``,
        ``length``, ``chunk_rows``, ``chunks``: byte ranges). None unless one index level over
        1-D uncompressed data held in the file, its bounds inside the data."""
        spec = self.columns.get(name)
        if spec is None or spec.kind != DATA or len(spec.index_paths) != 1:
            return None
        data = raw_rows(self.nwb.store, self._array(spec.path), local=False)
        index = self._array(spec.index_paths[0])
        if data is None or len(data.shape) != 1 or data.path is None or \
                data.dtype.kind not in "biuf" or index.dtype.kind not in "iu" or \
                any(isinstance(c, str) for c in data.chunks):
            return None
        starts, stops = self._bounds(spec.index_paths[0], None)
        if len(stops) != self.n_rows or (starts > stops).any() or \
                (stops.size and int(stops.max()) > data.shape[0]):
            return None  # read through the table, which clips as pynwb does and says so
        return starts, stops, {"dtype": data.dtype.str, "length": int(data.shape[0]),
                               "chunk_rows": int(data.chunk_rows),
                               "chunks": [list(c) for c in data.chunks]}

    # -- reading -------------------------------------------------------------------------------

    def read(self, name: str, rows: np.ndarray | None = None, *, strict: bool = False
             ) -> ColumnData:
        """Values of column ``name`` for ``rows`` (all rows for None), in the order given.

        A ragged index that points past its data (a truncated file) is clipped as pynwb reads
        it (rows past the end come back short or empty) with a :class:`DataWarning` naming
        the file and column, or raises with ``strict=True``.
        """
        spec = self.column(name)
        if rows is not None:
            rows = np.asarray(rows, dtype=np.int64)
            if rows.size and (rows.min() < 0 or rows.max() >= self.n_rows):
                raise IntakeNWBError(f"rows out of range for a table of {self.n_rows} rows",
                                     source=self.source, path=spec.path)
        try:
            return self._read(spec, rows, strict)
        except IntakeNWBError:
            raise
        except Exception as exc:  # noqa: BLE001 - name the file and the column
            raise IntakeNWBError(f"cannot read column {name!r}: {type(exc).__name__}: {exc}",
                                 source=self.source, path=spec.path) from exc

    def _read(self, spec: ColumnSpec, rows: np.ndarray | None, strict: bool) -> ColumnData:
        data = self._array(spec.path)
        if not spec.ragged:
            return ColumnData(spec, self._decode(spec, read_rows(data, rows, self._map(data))))
        # walk the index levels from the outside in, turning row sets into spans
        offsets: list[np.ndarray] = []
        starts = stops = None
        targets = [*spec.index_paths[1:], spec.path]  # what each level indexes into
        for level, (ipath, target) in enumerate(zip(spec.index_paths, targets, strict=True)):
            sel = rows if level == 0 else _expand_spans(starts, stops)
            s, e = self._bounds(ipath, sel)
            s, e = self._clip(s, e, int(self._array(target).shape[0]), ipath, target, strict)
            offsets.append(np.concatenate([[0], np.cumsum(e - s)]).astype(np.int64))
            starts, stops = s, e
        values = read_spans(data, starts, stops, self._map(data))
        return ColumnData(spec, self._decode(spec, values), offsets)

    def _clip(self, s: np.ndarray, e: np.ndarray, n: int, index: str, target: str,
              strict: bool) -> tuple[np.ndarray, np.ndarray]:
        """Spans as h5py slices them (what pynwb returns): ends past ``n`` cut to ``n``, a
        start past its end gives an empty row."""
        bad = (e > n) | (s > e) | (s < 0)
        if not bad.any():
            return s, e
        what = (f"{index} points outside {target} ({int(bad.sum())} rows: index values up to "
                f"{int(max(s.max(), e.max()))}, {target} has {n} elements)")
        if strict:
            raise IntakeNWBError(what, source=self.source, path=index)
        warnings.warn(f"{self.source} [{index}]: {what}; read as pynwb reads it: those rows "
                      "are cut short or empty", DataWarning, stacklevel=4)
        s = np.clip(s, 0, n)
        return s, np.maximum(s, np.clip(e, 0, n))

    def _bounds(self, path: str, rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """``(starts, stops)`` of ``rows`` (all for None) of the VectorIndex at ``path``,
        reading only the entries those rows need when the index holds integer offsets."""
        index = self._array(path)
        if rows is not None and index.dtype.kind in "iu":
            return index_bounds(index, rows, self._map(index))
        raw = read_rows(index, None, self._map(index))
        if raw.dtype.kind == "O":  # MatNWB: region references instead of integer offsets
            ends = np.array([ref[cv.REGION][0][1] for ref in raw], dtype=np.int64)
        else:
            ends = raw.astype(np.int64)
        bounds = np.concatenate([[0], ends])
        sel = np.arange(len(ends)) if rows is None else rows
        return bounds[sel], bounds[sel + 1]

    def _decode(self, spec: ColumnSpec, values: np.ndarray) -> np.ndarray:
        if spec.kind == REFERENCE:
            return _map(values, cv.ref_target)
        if spec.kind == TSREF:
            return _map(values, lambda r: None if r is None else
                        (r[0], r[1], cv.ref_target(r[2])))
        if spec.kind == COMPOUND and values.dtype.kind == "O":
            return _map(values, lambda r: None if r is None else tuple(
                cv.ref_target(v) if cv.is_ref(v) else v for v in r))
        if values.dtype.kind == "S":
            return _map(values, lambda b: b.decode("utf-8", "replace"))
        return values

    def enum_elements(self, name: str) -> list[str]:
        spec = self.column(name)
        if not spec.elements_path:
            return []
        return [str(v) for v in self.nwb.value(spec.elements_path, [])]


def _path(arr: zarr.Array) -> str:
    return "/" + arr.path.strip("/")


def _strip_index(name: str, arrays: dict[str, Any]) -> str | None:
    # VectorIndex without a 'target' attribute (some NWB 2.0 writers): the naming rule
    base = name[: -len("_index")] if name.endswith("_index") else None
    return base if base in arrays else None


def _expand_spans(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    lengths = stops - starts
    if not len(lengths) or lengths.sum() == 0:
        return np.empty(0, dtype=np.int64)
    return np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths) + \
        np.arange(lengths.sum())


def _map(values: np.ndarray, fn: Any) -> np.ndarray:
    out = np.empty(values.shape[0], dtype=object)
    for i, v in enumerate(values):
        out[i] = fn(v)
    return out


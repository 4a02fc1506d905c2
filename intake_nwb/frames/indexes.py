"""xarray indexes over NWB time and ids that are never read or built until a lookup needs them.

:class:`TimeIndex`
    Evenly sampled time (``starting_time + i / rate``), a :class:`~xarray.indexes.RangeIndex`:
    never materialised; ``sel`` takes labels (slices select every sample with
    ``start <= t <= stop``; scalars must be sample times unless ``method`` is given, with or
    without ``tolerance``); ``concat`` of consecutive pieces stays a :class:`TimeIndex`.
:class:`StoredIndex`
    Labels kept in an array of the file (``timestamps``, a table's ``id``): the coordinate is
    read on indexing (a window reads the window), the whole array only when a label lookup
    (``sel``), alignment or a pandas conversion (plotting) needs it, and then once.

Both keep their coordinate out of dask (``chunks=`` in ``open_dataset`` leaves it alone), so
``differentiate``, ``integrate`` and ``interp`` work on chunked data, and both hand over to a
:class:`~xarray.indexes.PandasIndex` for whatever they do not do themselves (``join``,
``reindex_like``, fancy ``isel``, ``groupby_bins``). ``resample`` needs datetime-like labels:
open with ``decode_timedelta=True`` (time since the reference time) or ``decode_times=True``
(absolute, UTC) to get them.

Examples
--------
>>> idx = TimeIndex.from_rate(2.0, 1000.0, 20_000)
>>> import xarray as xr
>>> da = xr.DataArray(range(20_000), dims="time", coords=xr.Coordinates.from_xindex(idx))
>>> da.sel(time=slice(3.0, 3.004)).sizes["time"]
5
>>> float(da.sel(time=3.00049, method="nearest", tolerance=0.001).time)
3.0
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd
import xarray as xr
from xarray.core import indexing
from xarray.core.coordinate_transform import CoordinateTransform
from xarray.core.indexing import CoordinateTransformIndexingAdapter, IndexSelResult
from xarray.indexes import CoordinateTransformIndex, Index, PandasIndex, RangeIndex
from xarray.indexes.range_index import RangeCoordinateTransform

__all__ = ["DecodedTimes", "RateTimes", "StoredIndex", "StoredTransform", "TimeIndex"]

TIME = "time"
SECONDS = {"units": "seconds"}


class LabelSource(Protocol):
    """A 1-D array indexed with xarray's explicit indexers (a backend array)."""

    shape: tuple[int, ...]
    dtype: np.dtype

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray: ...


class ComputedCoordinate(CoordinateTransformIndexingAdapter):
    """The coordinate of a transform index: computed or read on indexing, never chunked.

    xarray leaves variables it considers in memory out of ``open_dataset(chunks=...)``: these
    need no I/O to exist (only to be read), and a dask coordinate would stop
    ``differentiate``.
    """

    @property
    def _in_memory(self) -> bool:
        return True


def _coordinate_variables(index: CoordinateTransformIndex, defaults: Mapping[str, Any],
                          variables: Mapping[Any, xr.Variable] | None
                          ) -> dict[Hashable, xr.Variable]:
    out = {}
    t = index.transform
    for name in t.coord_names:
        attrs = variables[name].attrs if variables and name in variables else dict(defaults)
        out[name] = xr.Variable(t.dims, ComputedCoordinate(t, name, t.dims), attrs)
    return out


def _plain(index: Any, dim: str) -> Any:
    """``index`` as a PandasIndex (ours hand over to pandas for what they do not do)."""
    if isinstance(index, (TimeIndex, StoredIndex)):
        return PandasIndex(index.to_pandas_index(), dim)
    return index


# -- evenly sampled time -------------------------------------------------------------------------

class TimeIndex(RangeIndex):
    """Evenly sampled time in seconds (see the module documentation)."""

    _TOL = 1e-6  # in samples: labels this close to a sample time are that sample
    attrs: dict[str, Any] = SECONDS

    @classmethod
    def from_rate(cls, starting_time: float, rate: float, n: int, dim: str = TIME) -> TimeIndex:
        step = 1.0 / rate
        return cls(RangeCoordinateTransform(starting_time, starting_time + n * step, n, dim, dim,
                                            step=step))

    def create_variables(self, variables: Mapping[Any, xr.Variable] | None = None
                         ) -> dict[Hashable, xr.Variable]:
        return _coordinate_variables(self, self.attrs, variables)

    def _positions(self, values: np.ndarray, method: str | None, tolerance: Any) -> np.ndarray:
        t = self.transform
        pos = (values - t.start) / t.step
        if method is None:
            near = np.round(pos)
            if np.any(np.abs(pos - near) > self._TOL) or np.any(near < 0) or \
                    np.any(near > self.size - 1):
                raise KeyError(f"{values!r} is not a sample time; use method='nearest'")
            return near.astype(np.int64)
        if method == "nearest":
            idx = np.clip(np.round(pos), 0, self.size - 1)
        elif method in ("pad", "ffill"):
            idx = np.floor(pos + self._TOL)
        elif method in ("backfill", "bfill"):
            idx = np.ceil(pos - self._TOL)
        else:
            raise ValueError(f"method must be None, 'nearest', 'pad' or 'backfill': {method!r}")
        if np.any((idx < 0) | (idx > self.size - 1)):
            raise KeyError(f"{values!r} is outside the series' time ({self._describe()})")
        if tolerance is not None and np.any(
                np.abs(t.start + idx * t.step - values) > np.asarray(tolerance) * (1 + 1e-12)):
            raise KeyError(f"{values!r}: no sample within tolerance {tolerance!r}")
        return idx.astype(np.int64)

    def sel(self, labels: dict[Any, Any], method: Any = None, tolerance: Any = None
            ) -> IndexSelResult:
        label = labels[self.dim]
        t = self.transform
        if isinstance(label, slice):
            if label.step is not None:
                return PandasIndex(self.to_pandas_index(), self.dim).sel(labels)
            lo = 0 if label.start is None else math.ceil(
                (float(label.start) - t.start) / t.step - self._TOL)
            hi = self.size if label.stop is None else math.floor(
                (float(label.stop) - t.start) / t.step + self._TOL) + 1
            lo, hi = min(max(lo, 0), self.size), min(max(hi, 0), self.size)
            return IndexSelResult({self.dim: slice(lo, max(lo, hi))})
        values = np.asarray(getattr(label, "values", label), dtype=np.float64)
        pos = self._positions(values, method, tolerance)
        if isinstance(label, (xr.Variable, xr.DataArray)):
            return IndexSelResult({self.dim: xr.Variable(label.dims, pos)})
        return IndexSelResult({self.dim: pos if pos.ndim else int(pos)})

    def isel(self, indexers: Mapping[Any, Any]) -> Index | None:
        out = super().isel(indexers)
        return type(self)(out.transform) if type(out) is RangeIndex else out

    def equals(self, other: Index, *, exclude: frozenset[Hashable] | None = None,
               exact: bool = False) -> bool:
        if isinstance(other, RangeIndex):
            return super().equals(other, exclude=exclude, exact=exact)
        other = _plain(other, self.dim)
        return isinstance(other, PandasIndex) and len(other.index) == self.size and bool(
            np.allclose(self.to_pandas_index().to_numpy(), other.index.to_numpy(),
                        rtol=0, atol=abs(self.transform.step) * self._TOL))

    def join(self, other: Index, how: str = "inner") -> Index:
        return PandasIndex(self.to_pandas_index(), self.dim).join(_plain(other, self.dim), how)

    def reindex_like(self, other: Index, method: Any = None, tolerance: Any = None
                     ) -> dict[Hashable, Any]:
        return PandasIndex(self.to_pandas_index(), self.dim).reindex_like(
            _plain(other, self.dim), method, tolerance)

    @classmethod
    def concat(cls, indexes: Sequence[Any], dim: Hashable, positions: Any = None) -> Index:
        """Consecutive pieces of one sampling stay a TimeIndex; anything else becomes a
        :class:`~xarray.indexes.PandasIndex` of the times."""
        if positions is None and all(isinstance(i, TimeIndex) for i in indexes) and indexes:
            first = indexes[0].transform
            step, at = first.step, first.start
            for i in indexes:
                t = i.transform
                if not (np.isclose(t.step, step, rtol=1e-12, atol=0)
                        and abs(t.start - at) <= abs(step) * cls._TOL):
                    break
                at = t.start + t.size * step
            else:
                n = sum(i.size for i in indexes)
                return cls(RangeCoordinateTransform(first.start, first.start + n * step, n,
                                                    first.coord_name, str(dim), step=step))
        return PandasIndex.concat([_plain(i, str(dim)) for i in indexes], dim, positions)

    def to_pandas_index(self) -> pd.Index:
        # named, so to_dataframe()/hvplot see a "time" index (RangeIndex leaves it unnamed)
        return super().to_pandas_index().rename(self.transform.coord_name)

    def _describe(self) -> str:
        t = self.transform
        return f"{self.size} samples at {1 / t.step:g} Hz from {t.start:g} s"

    def _repr_inline_(self, max_width: int) -> str:
        return f"{type(self).__name__} ({self._describe()})"


# -- labels stored in the file -------------------------------------------------------------------

class _Read:
    """The labels of a window of a source, once read (shared by copies of a transform)."""

    values: np.ndarray | None = None


class StoredTransform(CoordinateTransform):
    """Labels read from a 1-D array on demand: position ``i`` is ``source[start + i]``.

    A run of positions reads a slice; the whole array, once read, is kept and shared by the
    index, its coordinate and their copies.
    """

    def __init__(self, source: LabelSource, coord_name: Hashable, dim: str, start: int = 0,
                 size: int | None = None, read: _Read | None = None):
        size = int(source.shape[0]) - start if size is None else size
        super().__init__([coord_name], {dim: size}, dtype=source.dtype)
        self.source = source
        self.start = start
        self._read_once = read or _Read()

    @property
    def coord_name(self) -> Hashable:
        return self.coord_names[0]

    @property
    def dim(self) -> str:
        return self.dims[0]

    @property
    def size(self) -> int:
        return self.dim_size[self.dim]

    @property
    def is_read(self) -> bool:
        return self._read_once.values is not None

    def values(self) -> np.ndarray:
        """Every label (read once)."""
        if self._read_once.values is None:
            self._read_once.values = self._read(slice(self.start, self.start + self.size))
        return self._read_once.values

    def _read(self, key: slice | np.ndarray) -> np.ndarray:
        return np.asarray(self.source[indexing.OuterIndexer((key,))])

    def forward(self, dim_positions: dict[str, Any]) -> dict[Hashable, Any]:
        pos = np.asarray(dim_positions[self.dim], dtype=np.int64)
        flat = pos.ravel()
        if self.is_read or flat.size == self.size:
            out = self.values()[flat]
        elif flat.size and flat[-1] - flat[0] == flat.size - 1 and np.all(np.diff(flat) == 1):
            out = self._read(slice(self.start + int(flat[0]), self.start + int(flat[-1]) + 1))
        else:
            out = self._read(self.start + flat) if flat.size else \
                np.empty(0, dtype=self.dtype)
        return {self.coord_name: out.reshape(pos.shape)}

    def reverse(self, coord_labels: dict[Hashable, Any]) -> dict[str, Any]:
        index = pd.Index(self.values())
        return {self.dim: index.get_indexer(np.ravel(coord_labels[self.coord_name]))}

    def equals(self, other: CoordinateTransform, **kwargs: Any) -> bool:
        return isinstance(other, StoredTransform) and other.source is self.source and \
            (other.start, other.size) == (self.start, self.size)

    def slice(self, sl: slice) -> StoredTransform:
        r = range(self.size)[sl]
        assert r.step == 1
        read = _Read()
        if self.is_read:
            read.values = self.values()[r.start:r.stop]
        return type(self)(self.source, self.coord_name, self.dim, self.start + r.start, len(r),
                          read)

    def renamed(self, coord_name: Hashable, dim: str) -> StoredTransform:
        return type(self)(self.source, coord_name, dim, self.start, self.size, self._read_once)

    def __deepcopy__(self, memo: dict[int, Any]) -> StoredTransform:
        # labels are the file's: copies share the source and what was read of it
        return type(self)(self.source, self.coord_name, self.dim, self.start, self.size,
                          self._read_once)

    def __getstate__(self) -> dict[str, Any]:
        # labels read here are read again where needed: they are not sent along
        return {**self.__dict__, "_read_once": _Read()}


class StoredIndex(CoordinateTransformIndex):
    """An index over labels stored in the file (see the module documentation)."""

    transform: StoredTransform

    def __init__(self, transform: StoredTransform, attrs: Mapping[str, Any] | None = None):
        super().__init__(transform)
        self.attrs = dict(attrs or {})
        self._pandas: PandasIndex | None = None

    @classmethod
    def from_source(cls, source: LabelSource, name: Hashable, dim: str,
                    attrs: Mapping[str, Any] | None = None) -> StoredIndex:
        return cls(StoredTransform(source, name, dim), attrs)

    @property
    def dim(self) -> str:
        return self.transform.dim

    def _index(self) -> PandasIndex:
        if self._pandas is None:
            self._pandas = PandasIndex(self.to_pandas_index(), self.dim)
        return self._pandas

    def create_variables(self, variables: Mapping[Any, xr.Variable] | None = None
                         ) -> dict[Hashable, xr.Variable]:
        return _coordinate_variables(self, self.attrs, variables)

    def to_pandas_index(self) -> pd.Index:
        return pd.Index(self.transform.values(), name=self.transform.coord_name)

    def sel(self, labels: dict[Any, Any], method: Any = None, tolerance: Any = None
            ) -> IndexSelResult:
        return self._index().sel(labels, method=method, tolerance=tolerance)

    def isel(self, indexers: Mapping[Any, Any]) -> Index | None:
        idx = indexers.get(self.dim)
        if idx is None:
            return self
        if isinstance(idx, slice) and idx.step in (None, 1):
            return type(self)(self.transform.slice(idx), self.attrs)
        if isinstance(idx, xr.Variable):
            if idx.dims != (self.dim,):
                return None  # vectorised indexing onto other dims
            idx = idx.data
        if isinstance(idx, slice) or np.ndim(idx) == 1:
            positions = np.arange(self.transform.size)[idx] if isinstance(idx, slice) \
                else np.asarray(idx)
            values = self.transform.forward({self.dim: positions})[self.transform.coord_name]
            return PandasIndex(pd.Index(values, name=self.transform.coord_name), self.dim)
        return None  # a scalar: the dimension goes away

    def equals(self, other: Index, *, exclude: frozenset[Hashable] | None = None) -> bool:
        if isinstance(other, StoredIndex) and other.transform.equals(self.transform):
            return True
        other = _plain(other, self.dim)
        return isinstance(other, PandasIndex) and self._index().equals(other)

    def join(self, other: Index, how: str = "inner") -> Index:
        return self._index().join(_plain(other, self.dim), how)

    def reindex_like(self, other: Index, method: Any = None, tolerance: Any = None
                     ) -> dict[Hashable, Any]:
        return self._index().reindex_like(_plain(other, self.dim), method, tolerance)

    @classmethod
    def concat(cls, indexes: Sequence[Any], dim: Hashable, positions: Any = None) -> Index:
        return PandasIndex.concat([_plain(i, str(dim)) for i in indexes], dim, positions)

    def roll(self, shifts: Mapping[Any, int]) -> Index | None:
        return self._index().roll(shifts)

    def rename(self, name_dict: Mapping[Any, Hashable], dims_dict: Mapping[Any, Hashable]
               ) -> StoredIndex:
        t = self.transform
        new = t.renamed(name_dict.get(t.coord_name, t.coord_name),
                        str(dims_dict.get(t.dim, t.dim)))
        return type(self)(new, self.attrs)

    def _repr_inline_(self, max_width: int) -> str:
        t = self.transform
        if not t.is_read:
            return f"{type(self).__name__} ({t.size} values, read on first lookup)"
        values = t.values()
        span = f": {values[0]} to {values[-1]}" if len(values) else ""
        return f"{type(self).__name__} ({t.size} values{span})"


# -- label sources -------------------------------------------------------------------------------

def _positions(key: indexing.ExplicitIndexer, n: int) -> np.ndarray:
    (k,) = key.tuple
    if isinstance(k, slice):
        return np.arange(*k.indices(n))
    return np.asarray(k, dtype=np.int64)


class RateTimes:
    """``starting_time + i / rate`` for the positions asked for (a computed label source)."""

    dtype = np.dtype(np.float64)

    def __init__(self, starting_time: float, rate: float, n: int):
        self.starting_time, self.rate, self.shape = starting_time, rate, (n,)

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        return self.starting_time + _positions(key, self.shape[0]) / self.rate


class DecodedTimes:
    """Seconds from another source as ``timedelta64[ns]`` (since the reference time) or
    ``datetime64[ns]`` (the reference time plus them, UTC); NaN becomes NaT."""

    def __init__(self, seconds: LabelSource, reference: np.datetime64 | None = None):
        self.seconds = seconds
        self.reference = reference
        self.shape = seconds.shape
        self.dtype = np.dtype("timedelta64[ns]" if reference is None else "datetime64[ns]")

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        delta = pd.to_timedelta(np.asarray(self.seconds[key], dtype=np.float64), unit="s")
        out = delta.to_numpy() if self.reference is None else (
            pd.Timestamp(self.reference) + delta).to_numpy()
        return out.astype(self.dtype)

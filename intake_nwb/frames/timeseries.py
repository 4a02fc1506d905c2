"""Layer 5: NWB TimeSeries as lazy, dask-backed xarray objects.

:func:`get_timeseries` turns a TimeSeries into an :class:`xarray.DataArray` whose values are a
dask array over the file's zarr array (storage chunks multiplied up to ~64 MB blocks by default):
creating it reads metadata only, ``.values``/``.compute()`` read the blocks a selection overlaps.
:func:`get_timeseries_dataset` gathers the series of a processing module (or ``/acquisition``)
that share a time base into one :class:`xarray.Dataset`.

Distributed reads
    The dask graph holds no open file, zarr group or event loop: each block is an
    :class:`NWBArray` (a small picklable spec: source, reference file, storage options, cache
    mode, array path) that reopens the store on first use in each process (memoised per
    process), so graphs pickle and compute under ``dask.distributed`` with worker processes.

Caching (``cache=``)
    ``None`` (default): nothing is kept between reads, memory stays bounded by the blocks in
    flight. ``"memory"``: chunks already read are kept in an in-process LRU (per worker under
    distributed), so re-reading a window costs no I/O. ``"disk"``: chunks are kept as files in
    ``cache_dir`` (:class:`intake_nwb.store.ChunkCacheStore`), shared by every process on the
    machine and across sessions, keyed by the source's identity.

Time
    Rate-based series get a :class:`TimeIndex` (``starting_time + i / rate``, never
    materialised). Series with ``timestamps`` get a dask ``time`` coordinate under a
    :class:`TimestampsIndex`, which reads the timestamps only when a label lookup (``sel``),
    alignment or a pandas conversion (plotting) needs them. Either way
    ``da.sel(time=slice(10, 20))`` works.

Plotting
    With the ``plot`` extra, ``da.hvplot()`` plots a series; for long series use
    ``da.hvplot(x="time", downsample=True)`` (LTTB: only ~screen-width points per line reach the
    figure) or ``da.hvplot.image(x="time", y="channel", rasterize=True)`` (datashader).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping
from typing import Any, Literal

import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr
from dask.base import tokenize
from xarray.core.indexing import IndexSelResult
from xarray.indexes import Index, PandasIndex, RangeIndex
from xarray.indexes.range_index import RangeCoordinateTransform

from ..errors import IntakeNWBError, TimeSeriesNotFoundError
from ..nwb.file import NWBReader
from ..nwb.timeseries import (
    TIME,
    TimeBase,
    TimeSeriesReader,
    find_timeseries,
    matches,
    timeseries_paths,
)
from ..sources import Source
from ..store import (
    CacheMode,
    NWBStore,
    StoreSpec,
    is_raw,
    open_store,
    read_spans,
    remember,
    zarr_array,
)

__all__ = ["NWBArray", "TimeIndex", "TimestampsIndex", "get_timeseries",
           "get_timeseries_dataset"]

#: Default dask block size: storage chunks along time are multiplied up to about this.
TARGET_BLOCK_BYTES = 64 * 2**20

Chunks = Literal["auto"] | int | Mapping[str, int] | tuple[Any, ...] | None
SourceLike = str | os.PathLike[str] | Source | NWBStore | NWBReader


class NWBArray:
    """A picklable, lazily opened array of an NWB file, for :func:`dask.array.from_array`.

    Indexing reads only what the key selects: rows of raw (uncompressed, row-chunked) arrays
    byte-exactly through :func:`intake_nwb.store.read_spans`, anything else through zarr
    (the chunks the key overlaps).

    Examples
    --------
    >>> arr = NWBArray(spec, "/acquisition/lfp/data", (2_500_000, 384), np.dtype("int16"))
    ... # doctest: +SKIP
    >>> arr[1000:1010, :4].shape  # doctest: +SKIP
    (10, 4)
    """

    __slots__ = ("dtype", "path", "shape", "spec")

    def __init__(self, spec: StoreSpec, path: str, shape: tuple[int, ...], dtype: np.dtype):
        self.spec = spec
        self.path = path
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def __getitem__(self, key: Any) -> np.ndarray:
        return read_block(self.spec, self.path, key)

    def __getstate__(self) -> tuple[Any, ...]:
        return (self.spec, self.path, self.shape, self.dtype)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.spec, self.path, self.shape, self.dtype = state

    def __repr__(self) -> str:
        return f"NWBArray({self.spec.source!r}, {self.path!r}, shape={self.shape})"


def read_block(spec: StoreSpec, path: str, key: Any) -> np.ndarray:
    """``array[key]`` of the array at ``path`` of the store ``spec`` describes."""
    arr = zarr_array(spec, path)
    key = key if isinstance(key, tuple) else (key,)
    if any(isinstance(k, (list, np.ndarray)) for k in key):
        return np.asarray(arr.oindex[tuple(_fancy(k) for k in key)])
    first = key[0] if key else slice(None)
    if arr.ndim and isinstance(first, slice) and first.step in (None, 1) and is_raw(arr):
        # whole rows of raw chunks: fetch exactly the rows' bytes
        a, b, _ = first.indices(arr.shape[0])
        rows = read_spans(arr, np.array([a]), np.array([max(a, b)]))
        return rows[(slice(None), *key[1:])]
    return np.asarray(arr[key])


def _fancy(k: Any) -> Any:
    if isinstance(k, (list, np.ndarray)):
        k = np.asarray(k)
        return k if k.dtype == bool else k.astype(np.int64)
    return k


# -- chunks --------------------------------------------------------------------------------------

def auto_chunks(shape: tuple[int, ...], storage_chunks: tuple[int, ...], itemsize: int,
                target: int = TARGET_BLOCK_BYTES) -> tuple[int, ...]:
    """Dask chunks aligned with storage chunks: whole storage chunks along time, up to ``target``.

    Other dimensions are whole unless one storage chunk of whole rows already exceeds
    ``target`` (large frames), in which case they follow the storage chunks.

    Examples
    --------
    >>> auto_chunks((1_000_000, 384), (5461, 384), 2)
    (87376, 384)
    """
    if not shape:
        return ()
    rows = max(1, int(storage_chunks[0]) if storage_chunks else shape[0])
    rest = [max(1, s) for s in shape[1:]]
    if math.prod(rest) * itemsize * rows > target and len(shape) > 1:
        rest = [max(1, min(s, c)) for s, c in zip(rest, storage_chunks[1:], strict=True)]
    block_rows = rows * max(1, target // max(1, math.prod(rest) * itemsize * rows))
    return (max(1, min(shape[0], block_rows)), *rest)


def _chunks(chunks: Chunks, dims: tuple[str, ...], shape: tuple[int, ...],
            storage_chunks: tuple[int, ...], itemsize: int) -> Any:
    if chunks is None or chunks == -1:
        return tuple(max(1, s) for s in shape)
    if isinstance(chunks, tuple):
        return chunks
    auto = list(auto_chunks(shape, storage_chunks, itemsize))
    if isinstance(chunks, int):
        auto[0] = chunks
    elif isinstance(chunks, Mapping):
        for dim, size in chunks.items():
            axis = dims.index(dim) if dim in dims else int(dim)
            auto[axis] = shape[axis] if size in (-1, None) else size
    elif chunks != "auto":
        raise ValueError(f"chunks must be 'auto', None, an int, a dict or a tuple: {chunks!r}")
    return tuple(auto)


# -- time ----------------------------------------------------------------------------------------

class TimeIndex(RangeIndex):
    """Evenly sampled time (``starting_time + i / rate``), never materialised.

    Unlike :class:`xarray.indexes.RangeIndex`, slices select like pandas labels (every sample
    with ``start <= t <= stop``) without ``method="nearest"``; scalar labels must be sample
    times (within a millionth of a sample).
    """

    _TOL = 1e-6  # in samples

    @classmethod
    def from_rate(cls, starting_time: float, rate: float, n: int, dim: str = TIME) -> TimeIndex:
        step = 1.0 / rate
        return cls(RangeCoordinateTransform(starting_time, starting_time + n * step, n, dim, dim,
                                            step=step))

    def sel(self, labels: dict[Any, Any], method: Any = None, tolerance: Any = None
            ) -> IndexSelResult:
        label = labels[self.dim]
        t = self.transform
        if isinstance(label, slice) and label.step is None and method is None:
            lo = 0 if label.start is None else math.ceil(
                (float(label.start) - t.start) / t.step - self._TOL)
            hi = self.size if label.stop is None else math.floor(
                (float(label.stop) - t.start) / t.step + self._TOL) + 1
            lo, hi = min(max(lo, 0), self.size), min(max(hi, 0), self.size)
            return IndexSelResult({self.dim: slice(lo, max(lo, hi))})
        if method is None and not isinstance(label, slice):
            pos = (np.asarray(getattr(label, "values", label), dtype=np.float64) - t.start) / t.step
            if np.any(np.abs(pos - np.round(pos)) > self._TOL) or np.any(pos < -self._TOL) or \
                    np.any(pos > self.size - 1 + self._TOL):
                raise KeyError(f"{label!r} is not a sample time; use method='nearest'")
            method = "nearest"
        return super().sel(labels, method=method, tolerance=tolerance)

    def isel(self, indexers: Mapping[Any, Any]) -> Any:
        out = super().isel(indexers)
        return type(self)(out.transform) if type(out) is RangeIndex else out

    def to_pandas_index(self) -> pd.Index:
        # named, so to_dataframe()/hvplot see a "time" index (RangeIndex leaves it unnamed)
        return super().to_pandas_index().rename(self.transform.coord_name)


class TimestampsIndex(Index):
    """An index over lazy (dask) timestamps, read the first time a label lookup needs them.

    The coordinate stays a dask array: slicing, pickling, ``isel`` and reductions read nothing;
    ``sel``, alignment and conversion to pandas (plotting, ``to_dataframe``) read the
    timestamps once and keep a :class:`~xarray.indexes.PandasIndex` of them.
    """

    def __init__(self, variable: xr.Variable, dim: str, name: Any):
        self.variable = variable
        self.dim = dim
        self.name = name
        self._pandas: PandasIndex | None = None

    @classmethod
    def from_variables(cls, variables: Mapping[Any, xr.Variable], *, options: Mapping[str, Any]
                       ) -> TimestampsIndex:
        if len(variables) != 1 or next(iter(variables.values())).ndim != 1:
            raise ValueError("TimestampsIndex needs one 1-D coordinate")
        name, var = next(iter(variables.items()))
        return cls(var, str(var.dims[0]), name)

    def _index(self) -> PandasIndex:
        if self._pandas is None:
            values = np.asarray(self.variable.values)
            self._pandas = PandasIndex(pd.Index(values, name=self.name), self.dim)
        return self._pandas

    @staticmethod
    def _plain(index: Any) -> Any:
        return index._index() if isinstance(index, TimestampsIndex) else index

    def create_variables(self, variables: Mapping[Any, xr.Variable] | None = None
                         ) -> dict[Any, xr.Variable]:
        attrs = variables[self.name].attrs if variables and self.name in variables else \
            self.variable.attrs
        return {self.name: xr.Variable(self.variable.dims, self.variable.data, attrs)}

    def to_pandas_index(self) -> pd.Index:
        return self._index().index

    def isel(self, indexers: Mapping[Any, Any]) -> Index | None:
        idx = indexers.get(self.dim)
        if idx is None:
            return self
        if isinstance(idx, xr.Variable):
            if idx.dims != (self.dim,):
                return None  # vectorised indexing onto other dims
            idx = idx.data
        if isinstance(idx, slice) or np.ndim(idx) == 1:
            return type(self)(self.variable[{self.dim: idx}], self.dim, self.name)
        return None  # a scalar: the dimension goes away

    def sel(self, labels: dict[Any, Any], **kwargs: Any) -> IndexSelResult:
        return self._index().sel(labels, **kwargs)

    def equals(self, other: Index, **kwargs: Any) -> bool:
        if other is self or (isinstance(other, TimestampsIndex)
                             and other.variable.data is self.variable.data):
            return True
        return self._index().equals(self._plain(other))

    def join(self, other: Index, how: str = "inner") -> Index:
        return self._index().join(self._plain(other), how)

    def reindex_like(self, other: Index, **kwargs: Any) -> dict[Any, Any]:
        return self._index().reindex_like(self._plain(other), **kwargs)

    @classmethod
    def concat(cls, indexes: Any, dim: Any, positions: Any = None) -> Index:
        return PandasIndex.concat([cls._plain(i) for i in indexes], dim, positions)

    def roll(self, shifts: Mapping[Any, int]) -> Index | None:
        return self._index().roll(shifts)

    def rename(self, name_dict: Mapping[Any, Any], dims_dict: Mapping[Any, Any]) -> Index:
        dim = dims_dict.get(self.dim, self.dim)
        var = xr.Variable((dim,), self.variable.data, self.variable.attrs)
        return type(self)(var, dim, name_dict.get(self.name, self.name))

    def __getstate__(self) -> dict[str, Any]:
        return {"variable": self.variable, "dim": self.dim, "name": self.name}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _pandas=None)

    def _repr_inline_(self, max_width: int) -> str:
        return f"{type(self).__name__} (lazy, {self.variable.shape[0]} timestamps)"


def _time_coords(reader: TimeSeriesReader, spec: StoreSpec, time_chunks: tuple[int, ...]
                 ) -> xr.Coordinates:
    tb: TimeBase = reader.time_base
    if tb.kind == "rate" and tb.rate and math.isfinite(tb.rate) and tb.rate > 0:
        assert tb.starting_time is not None
        return xr.Coordinates.from_xindex(TimeIndex.from_rate(tb.starting_time, tb.rate, tb.n))
    if tb.kind == "timestamps":
        if not reader.timestamps_match:
            warnings.warn(f"{reader.source} [{reader.path}]: {reader.timestamps.shape[0]} "
                          f"timestamps for {tb.n} samples; no time coordinate", stacklevel=4)
            return xr.Coordinates()
        ts = reader.timestamps
        assert ts is not None and reader.timestamps_path is not None
        lazy = NWBArray(spec, reader.timestamps_path, (tb.n,), ts.dtype)
        chunks = time_chunks if sum(time_chunks) == tb.n else auto_chunks(
            (tb.n,), tuple(ts.chunks), ts.dtype.itemsize)
        var = xr.Variable((TIME,), _from_array(lazy, chunks), {"units": "seconds"})
        return xr.Coordinates({TIME: var}, indexes={TIME: TimestampsIndex(var, TIME, TIME)})
    return xr.Coordinates()


# -- DataArrays ----------------------------------------------------------------------------------

def _from_array(arr: NWBArray, chunks: Any) -> da.Array:
    name = f"nwb-{tokenize(arr.spec, arr.path, arr.shape, chunks)}"
    # fancy=True lets dask fuse a later selection into the block read (a 10 s window of a
    # 64 MB block reads 10 s); read_block handles the orthogonal integer arrays that brings
    return da.from_array(arr, chunks=chunks, name=name, asarray=True, fancy=True,
                         meta=np.empty((0,) * arr.ndim, dtype=arr.dtype))


def _data(reader: TimeSeriesReader, spec: StoreSpec, chunks: Chunks) -> da.Array:
    shape = reader.shape
    if not reader.has_data:  # external frames or no data: attributes and time only
        return da.zeros(shape, dtype=reader.dtype, chunks=tuple(max(1, s) for s in shape))
    data = reader.data
    assert data is not None and reader.data_path is not None
    if not data.shape:  # a scalar stored as data: one sample
        return da.from_array(np.asarray(data[...]).reshape(1), chunks=1)
    storage = tuple(int(c) for c in data.chunks)
    blocks = _chunks(chunks, reader.dims, shape, storage, data.dtype.itemsize)
    return _from_array(NWBArray(spec, reader.data_path, shape, data.dtype), blocks)


def _scale(reader: TimeSeriesReader, data: da.Array) -> da.Array:
    """``data * conversion (* channel_conversion) + offset``, lazily, as NWB defines it."""
    if data.dtype.kind not in "biuf":
        return data
    if data.dtype.kind != "f":
        data = data.astype(np.float64)
    factor: Any = reader.conversion
    cc = reader.channel_conversion
    axis = reader.channel_conversion_axis
    if cc is not None and 0 < axis < data.ndim and len(cc) == data.shape[axis]:
        shape = [1] * data.ndim
        shape[axis] = len(cc)
        factor = (factor * cc).reshape(shape).astype(data.dtype)
    out = data * factor
    return out + reader.offset if reader.offset else out


def timeseries_dataarray(reader: TimeSeriesReader, spec: StoreSpec, *, chunks: Chunks = "auto",
                         scaled: bool = False) -> xr.DataArray:
    """The lazy DataArray of one series (see :func:`get_timeseries`)."""
    data = _data(reader, spec, chunks)
    attrs = reader.attrs()
    if scaled and data.dtype.kind in "biuf":
        data = _scale(reader, data)
        attrs["scaled"] = 1  # conversion/offset (and channel_conversion) already applied
    coords = _time_coords(reader, spec, data.chunks[0] if data.ndim else ())
    out = xr.DataArray(data, dims=reader.dims, coords=coords, name=reader.name, attrs=attrs)
    extra = reader.channel_coords()
    return out.assign_coords(extra) if extra else out


def _open(source: SourceLike, storage_options: Mapping[str, Any] | None,
          refs_dir: str | os.PathLike[str] | None, cache: CacheMode,
          cache_dir: str | os.PathLike[str] | None) -> tuple[NWBReader, StoreSpec]:
    if isinstance(source, NWBReader):
        nwb = source
    elif isinstance(source, NWBStore):
        nwb = NWBReader(source)
    else:
        nwb = NWBReader(open_store(source, storage_options=storage_options, refs_dir=refs_dir,
                                   cache=cache, cache_dir=cache_dir))
    spec = StoreSpec.of(nwb.store, storage_options, cache, cache_dir)
    # this process reuses the store already open (and, with cache="memory", its chunks)
    remember(spec, nwb.store)
    return nwb, spec


def get_timeseries(source: SourceLike, path: str | None = None, *, search: str | None = None,
                   match_all: bool = False, chunks: Chunks = "auto", scaled: bool = False,
                   cache: CacheMode = None, storage_options: Mapping[str, Any] | None = None,
                   refs_dir: str | os.PathLike[str] | None = None,
                   cache_dir: str | os.PathLike[str] | None = None
                   ) -> xr.DataArray | dict[str, xr.DataArray]:
    """A TimeSeries (any type extending it) as a lazy, dask-backed :class:`xarray.DataArray`.

    Parameters
    ----------
    source:
        NWB file path/URL (HDF5 files are indexed on first use), reference file, Zarr NWB store,
        or an already open :class:`~intake_nwb.store.NWBStore` / ``NWBReader``.
    path:
        The series' path in the file (``"/acquisition/ElectricalSeries"``). Without it,
        ``search`` selects, and without either the file must hold exactly one series.
    search:
        An exact path, a neurodata type (subtypes match: ``"ElectricalSeries"``), a glob on the
        path or a case-insensitive substring of it.
    match_all:
        Return ``{path: DataArray}`` for every match instead of requiring exactly one.
    chunks:
        ``"auto"`` (storage chunks along time, multiplied up to ~64 MB blocks), an int (samples
        per block), ``{dim: size}``, a dask chunks tuple, or None (one block).
    scaled:
        Apply ``data * conversion (* channel_conversion) + offset`` lazily (float values in
        ``unit``); attribute ``scaled`` is then set.
    cache:
        ``None`` (default, nothing kept), ``"memory"`` (chunks already read are kept) or
        ``"disk"`` (chunks kept as files in ``cache_dir``). See the module
        documentation.
    storage_options, refs_dir, cache_dir:
        As for :func:`intake_nwb.store.open_store`.

    Returns
    -------
    xarray.DataArray or dict of them
        Dims ``time`` then, by type: ``channel`` (ElectricalSeries: electrode ids, with
        ``electrode_index``, ``location``, ``group_name``, ``channel_conversion`` coordinates),
        ``sample`` (SpikeEventSeries), ``roi`` (RoiResponseSeries: ROI ids), ``axis``
        (SpatialSeries: ``x``/``y``/``z``), ``y``/``x``/``z`` (ImageSeries), else ``dim_1``...
        Attributes: ``unit``, ``conversion``, ``offset``, ``resolution``, ``description``,
        ``comments``, ``neurodata_type``, ``path``, ``_nwb_path`` (and ``starting_time``,
        ``rate``, ``external_file``... where they apply). An ImageSeries with
        ``external_file`` has shape ``(frames, 0, 0)``: times and attributes, no values.

    Examples
    --------
    >>> lfp = get_timeseries("session.nwb", "/acquisition/lfp", scaled=True)  # doctest: +SKIP
    >>> lfp.sel(time=slice(10, 20)).mean("time").values  # reads 10 s only  # doctest: +SKIP
    >>> series = get_timeseries("session.nwb", search="SpatialSeries", match_all=True)
    ... # doctest: +SKIP
    """
    nwb, spec = _open(source, storage_options, refs_dir, cache, cache_dir)
    paths = [path] if path is not None else find_timeseries(nwb, search, match_all)
    out = {}
    for p in paths:
        reader = TimeSeriesReader(nwb, p)
        out[reader.path] = timeseries_dataarray(reader, spec, chunks=chunks, scaled=scaled)
    return out if match_all else next(iter(out.values()))


# -- Datasets ------------------------------------------------------------------------------------

def _time_groups(readers: list[TimeSeriesReader]) -> list[list[TimeSeriesReader]]:
    """Series grouped by time base: same ``TimeBase.key``, or equal timestamps (read once)."""
    groups: dict[tuple[Any, ...], list[TimeSeriesReader]] = {}
    for r in readers:
        groups.setdefault(r.time_base.key, []).append(r)
    out: list[list[TimeSeriesReader]] = []
    values: list[np.ndarray | None] = []
    for group in groups.values():
        tb = group[0].time_base
        mine = group[0].time_values() if tb.kind == "timestamps" and \
            group[0].timestamps_match else None
        for i, other in enumerate(out):
            theirs = values[i]
            if mine is not None and theirs is not None and np.array_equal(mine, theirs):
                other.extend(group)
                break
        else:
            out.append(list(group))
            values.append(mine)
    return out


def _describe(tb: TimeBase) -> str:
    if tb.kind == "rate":
        return f"{tb.n} samples at {tb.rate} Hz from {tb.starting_time} s"
    if tb.kind == "timestamps":
        return f"{tb.n} timestamps ({tb.timestamps_path})"
    return f"{tb.n} samples, untimed"


def _var_names(readers: list[TimeSeriesReader], base: str) -> list[str]:
    names = [r.name for r in readers]
    if len(set(names)) == len(names):
        return names
    return [r.path[len(base):].strip("/") or r.name for r in readers]


def _share_dims(arr: xr.DataArray, name: str, seen: dict[str, xr.DataArray]) -> xr.DataArray:
    """Rename ``arr``'s non-time dims that clash with another variable's same-named dim."""
    renames: dict[str, str] = {}
    for dim in arr.dims:
        if dim == TIME:
            continue
        dim = str(dim)
        mine = _dim_coords(arr, dim)
        if dim not in seen:
            seen[dim] = mine
            continue
        theirs = seen[dim]
        if theirs.sizes[dim] == mine.sizes[dim] and set(theirs.coords) == set(mine.coords) and \
                all(np.array_equal(theirs[c].values, mine[c].values) for c in mine.coords):
            continue
        for c in [dim, *mine.coords]:
            renames[str(c)] = f"{name}_{c}"
    return arr.rename(renames) if renames else arr


def _dim_coords(arr: xr.DataArray, dim: str) -> xr.DataArray:
    coords = {c: arr.coords[c] for c in arr.coords if arr.coords[c].dims == (dim,)}
    return xr.DataArray(np.zeros(arr.sizes[dim]), dims=(dim,), coords=coords)


def get_timeseries_dataset(source: SourceLike, group_path: str = "/acquisition", *,
                           search: str | None = None, chunks: Chunks = "auto",
                           scaled: bool = False,
                           mismatched: Literal["raise", "drop"] = "raise",
                           cache: CacheMode = None,
                           storage_options: Mapping[str, Any] | None = None,
                           refs_dir: str | os.PathLike[str] | None = None,
                           cache_dir: str | os.PathLike[str] | None = None) -> xr.Dataset:
    """The TimeSeries under a group that share a time base, as one lazy :class:`xarray.Dataset`.

    Parameters
    ----------
    group_path:
        A processing module (``"/processing/ophys"``), ``"/acquisition"``, or any group; series
        nested in containers (``LFP``, ``Fluorescence``, ``Position``) are included.
    search:
        Keep only the series matching it (as in :func:`get_timeseries`).
    mismatched:
        When the series do not all share a time base: ``"raise"`` (the error lists the time
        bases and their series) or ``"drop"`` (keep the largest group, warn about the rest).
        A time base is shared when series link the same timestamps, have equal timestamps, or
        equal ``starting_time``, ``rate`` and length.

    Other parameters are those of :func:`get_timeseries`. Variables are named after the series
    (their path below ``group_path`` when names repeat); a non-time dimension whose coordinates
    differ between series is prefixed with the variable name (``LFP_channel``).

    Examples
    --------
    >>> ds = get_timeseries_dataset("ophys.nwb", "/processing/ophys")  # doctest: +SKIP
    >>> ds["Deconvolved"].isel(time=slice(0, 100)).mean("time").values  # doctest: +SKIP
    """
    nwb, spec = _open(source, storage_options, refs_dir, cache, cache_dir)
    base = "/" + group_path.strip("/")
    if not nwb.has(base):
        raise IntakeNWBError(f"no group {base} in this file", source=nwb.source, path=base)
    prefix = base.rstrip("/") + "/"
    paths = [p for p in timeseries_paths(nwb) if p.startswith(prefix) or p == base]
    if search is not None:
        paths = [p for p in paths if matches(nwb, p, search)]
    if not paths:
        raise TimeSeriesNotFoundError(f"no TimeSeries under {base}" + (
            f" matching {search!r}" if search else ""), source=nwb.source, path=base)
    groups = _time_groups([TimeSeriesReader(nwb, p) for p in paths])
    keep = groups[0]
    if len(groups) > 1:
        listing = "; ".join(f"{_describe(g[0].time_base)}: {', '.join(r.path for r in g)}"
                            for g in groups)
        if mismatched == "raise":
            raise IntakeNWBError(f"the TimeSeries under {base} do not share a time base "
                                 f"({listing}); select some with search= or pass "
                                 "mismatched='drop'", source=nwb.source, path=base)
        keep = max(groups, key=len)
        dropped = [r.path for g in groups if g is not keep for r in g]
        warnings.warn(f"{nwb.source} [{base}]: left out of the dataset (other time bases): "
                      f"{', '.join(dropped)}", stacklevel=2)
    names = _var_names(keep, base)
    arrays = [timeseries_dataarray(r, spec, chunks=chunks, scaled=scaled) for r in keep]
    first = arrays[0]
    time = first.drop_vars([c for c in first.coords if c != TIME]).coords
    seen: dict[str, xr.DataArray] = {}
    variables = {}
    for name, arr in zip(names, arrays, strict=True):
        arr = arr.drop_vars([TIME]) if TIME in arr.coords else arr
        variables[name] = _share_dims(arr, name, seen)
    attrs = {"path": base, "_nwb_path": nwb.source}
    if keep[0].time_base.kind == "rate":
        attrs.update(starting_time=keep[0].time_base.starting_time, rate=keep[0].time_base.rate)
    return xr.Dataset(variables, coords=time, attrs=attrs)

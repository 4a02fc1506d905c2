"""Layer 5: NWB TimeSeries as lazy xarray objects.

:func:`timeseries_dataset` describes one series as an :class:`xarray.Dataset` of xarray backend
arrays (:mod:`intake_nwb.frames.arrays`): the variable named after the series, its ``time``
coordinate, the coordinates of its other dimensions and of its samples; nothing is read but
attributes and small scalar datasets. The xarray backend (``engine="nwb"``) returns it as it
is; :func:`get_timeseries` returns its variable as a dask-backed :class:`xarray.DataArray`
(storage chunks multiplied up to ~64 MB blocks by default); :func:`get_timeseries_dataset`
gathers the series of a group that share a time base.

Values
    ``scaled=True`` (default): ``data * conversion (* channel_conversion) + offset``, lazily, in
    physical units (``units``, CF's name, equals NWB's ``unit``). ``scaled=False``: as stored,
    with CF's ``scale_factor``/``add_offset``/``units`` when one factor and offset describe the
    scaling (``xr.decode_cf`` applies them), NWB's ``conversion``/``offset`` always.
    A series whose frames are in ``external_file`` has no values here: its variable holds, for
    each sample, the file that holds it, and a ``frame`` coordinate its frame number there.

Time
    Float seconds by default (as pynwb gives them; ``units: "seconds"``): rate-based series get
    a :class:`~intake_nwb.frames.indexes.TimeIndex` (never materialised), series with
    ``timestamps`` a :class:`~intake_nwb.frames.indexes.StoredIndex` (read when a label lookup
    needs them). ``decode_timedelta=True`` gives ``timedelta64`` (since the reference time) and
    ``decode_times=True`` ``datetime64`` (UTC), for ``resample``.

Nothing is dropped silently: a coordinate that cannot be attached (a region of another length,
timestamps of another length) or a dataset a DataArray cannot hold produces a warning naming
the file, the path and why.

Distributed reads and caching (``cache=``)
    Arrays hold an xarray :class:`~xarray.backends.CachingFileManager`, never an open file:
    graphs pickle to ``dask.distributed`` worker processes, each of which opens the store
    itself on first use. Local uncompressed data is read through a memory map
    (:mod:`intake_nwb.store.mmap`). ``cache="memory"`` keeps chunks read in an in-process LRU,
    ``cache="disk"`` as files in ``cache_dir`` shared by every process on the machine.

Plotting
    With the ``plot`` extra, ``da.hvplot()`` plots a series (axes labelled with ``units``); for
    long series use ``da.hvplot(x="time", downsample=True)`` or
    ``da.hvplot.image(x="time", y="channel", rasterize=True)``.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping
from typing import Any, Literal

import dask.array  # noqa: F401 - what chunk() builds on: imported with the module, not on first use
import numpy as np
import xarray as xr
from dask.base import tokenize
from xarray.core import indexing

from ..errors import IntakeNWBError, TimeSeriesNotFoundError
from ..nwb.file import NWBReader
from ..nwb.metadata import parse_datetime
from ..nwb.timeseries import (
    TIME,
    Coordinate,
    TimeBase,
    TimeSeriesReader,
    find_timeseries,
    matches,
    timeseries_paths,
)
from ..sources import Source
from ..store import CacheMode, NWBStore, open_store
from ..store.workers import StoreSpec, manager_for
from .arrays import NWBBackendArray, Scaling, TakenArray
from .indexes import SECONDS, DecodedTimes, RateTimes, StoredIndex, TimeIndex

__all__ = ["StoredIndex", "TimeIndex", "get_timeseries", "get_timeseries_dataset",
           "timeseries_dataset"]

#: Default dask block size: storage chunks along time are multiplied up to about this.
TARGET_BLOCK_BYTES = 64 * 2**20

Chunks = Literal["auto"] | int | Mapping[str, int] | tuple[Any, ...] | None
SourceLike = str | os.PathLike[str] | Source | NWBStore | NWBReader
TimeKind = Literal["seconds", "timedelta", "datetime"]
# what NWB writers put in ``unit`` when there is none: not a unit for CF's ``units``
_NO_UNIT = {"", "no unit", "n.a.", "n/a", "na", "none", "unknown"}


# -- opening -------------------------------------------------------------------------------------

def open_nwb_reader(source: SourceLike, storage_options: Mapping[str, Any] | None = None,
                    refs_dir: str | os.PathLike[str] | None = None, cache: CacheMode = None,
                    cache_dir: str | os.PathLike[str] | None = None, **open_kwargs: Any
                    ) -> tuple[NWBReader, StoreSpec]:
    """The file's reader and the spec lazy arrays reopen it with (the store already open is
    handed to this process' file manager, with its chunk cache)."""
    if isinstance(source, NWBReader):
        nwb = source
    elif isinstance(source, NWBStore):
        nwb = NWBReader(source)
    else:
        nwb = NWBReader(open_store(source, storage_options=storage_options, refs_dir=refs_dir,
                                   cache=cache, cache_dir=cache_dir, **open_kwargs))
    spec = StoreSpec.of(nwb.store, storage_options, cache, cache_dir)
    manager_for(spec, nwb.store)
    return nwb, spec


def _time_kind(decode_times: bool, decode_timedelta: bool) -> TimeKind:
    if decode_times and decode_timedelta:
        raise ValueError("decode_times (datetime64) and decode_timedelta (timedelta64) exclude "
                         "each other")
    return "datetime" if decode_times else "timedelta" if decode_timedelta else "seconds"


def reference_time(nwb: NWBReader) -> np.datetime64:
    """What NWB times count from: ``timestamps_reference_time`` (else ``session_start_time``),
    as a UTC ``datetime64[ns]``."""
    for path in ("/timestamps_reference_time", "/session_start_time"):
        value = nwb.value(path)
        value = value[0] if isinstance(value, list) and value else value
        parsed = parse_datetime(str(value)) if value is not None else None
        if parsed is not None:
            return np.datetime64(parsed.replace(tzinfo=None), "ns")
    raise IntakeNWBError("no timestamps_reference_time nor session_start_time: times cannot "
                         "be made absolute (use decode_timedelta=True)", source=nwb.source)


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
            storage_chunks: tuple[int, ...], itemsize: int) -> tuple[Any, ...]:
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


# -- one series ----------------------------------------------------------------------------------

def _array(nwb: NWBReader, spec: StoreSpec, path: str, **kwargs: Any) -> NWBBackendArray:
    arr = nwb.node(path)
    assert hasattr(arr, "shape")
    return NWBBackendArray(spec, "/" + arr.path.strip("/"), tuple(arr.shape), arr.dtype,
                           **kwargs)


def _time(reader: TimeSeriesReader, spec: StoreSpec, kind: TimeKind, notes: list[str]
          ) -> xr.Coordinates:
    tb: TimeBase = reader.time_base
    source: Any
    if tb.kind == "rate":
        assert tb.starting_time is not None and tb.rate is not None
        if not (math.isfinite(tb.rate) and tb.rate > 0):
            notes.append(f"rate {tb.rate!r} is not a positive number: no time coordinate")
            return xr.Coordinates()
        if kind == "seconds":
            return xr.Coordinates.from_xindex(TimeIndex.from_rate(tb.starting_time, tb.rate,
                                                                  tb.n))
        source = RateTimes(tb.starting_time, tb.rate, tb.n)
    elif tb.kind == "timestamps":
        if not reader.timestamps_match:
            return xr.Coordinates()  # the reader says why
        assert reader.timestamps_path is not None
        source = _array(reader.nwb, spec, reader.timestamps_path)
    else:
        notes.append("neither timestamps nor starting_time: no time coordinate")
        return xr.Coordinates()
    if kind != "seconds":
        source = DecodedTimes(source, reference_time(reader.nwb) if kind == "datetime" else None)
    return xr.Coordinates.from_xindex(StoredIndex.from_source(
        source, TIME, TIME, SECONDS if kind == "seconds" else None))


def _coordinate(reader: TimeSeriesReader, spec: StoreSpec, c: Coordinate) -> xr.Coordinates:
    if c.values is not None:
        return xr.Coordinates({c.name: xr.Variable((c.dim,), np.array(c.values))})
    assert c.path is not None
    source: Any = _array(reader.nwb, spec, c.path)
    if c.rows is not None:
        source = TakenArray(_array(reader.nwb, spec, c.rows), source)
    if c.index:
        return xr.Coordinates.from_xindex(StoredIndex.from_source(source, c.name, c.dim))
    return xr.Coordinates({c.name: xr.Variable((c.dim,), indexing.LazilyIndexedArray(source))})


def _cf_attrs(reader: TimeSeriesReader, scaled: bool, numeric: bool) -> dict[str, Any]:
    """CF's ``units`` (and, for raw values, ``scale_factor``/``add_offset``) beside NWB's own."""
    unit = reader.unit
    if not numeric or unit is None or unit.strip().lower() in _NO_UNIT:
        return {}
    exact = reader.conversion == 1.0 and reader.offset == 0.0 and \
        reader.channel_conversion_path is None
    if scaled or exact:
        return {"units": unit}
    if reader.channel_conversion_path is not None:
        return {}  # one factor per channel: CF has no way to say it
    return {"units": unit, "scale_factor": reader.conversion, "add_offset": reader.offset}


def _values(reader: TimeSeriesReader, spec: StoreSpec, scaled: bool
            ) -> tuple[xr.Variable, xr.Coordinates, list[str]]:
    """The series' variable (lazy), the coordinates its values bring, what could not be told."""
    if reader.is_external:
        files, frames, notes = reader.external_frames()
        coords = xr.Coordinates() if frames is None else xr.Coordinates(
            {"frame": xr.Variable((TIME,), frames)})
        return xr.Variable((TIME,), files, reader.attrs()), coords, notes
    data = reader.data
    if data is None:
        raise IntakeNWBError("no data", source=reader.source, path=reader.path)
    assert reader.data_path is not None
    numeric = data.dtype.kind in "biuf"
    attrs = {**reader.attrs(), **_cf_attrs(reader, scaled, numeric)}
    if not data.shape:  # a scalar stored as data: one sample
        return xr.Variable((TIME,), np.asarray(data[...]).reshape(1), attrs), \
            xr.Coordinates(), []
    scaling = Scaling(reader.conversion, reader.offset, reader.channel_conversion_path,
                      reader.channel_conversion_axis) if scaled and numeric else None
    array = NWBBackendArray(spec, reader.data_path, reader.shape, data.dtype,
                            None if scaling is None or scaling.is_identity else scaling)
    preferred = {d: int(c) for d, c in zip(reader.dims, data.chunks, strict=True)}
    return xr.Variable(reader.dims, indexing.LazilyIndexedArray(array), attrs,
                       encoding={"preferred_chunks": preferred}), xr.Coordinates(), []


def _describe(reader: TimeSeriesReader, spec: StoreSpec, *, scaled: bool, time: TimeKind
              ) -> tuple[str, xr.Variable, xr.Coordinates, list[str]]:
    variable, coords, notes = _values(reader, spec, scaled)
    coords.update(_time(reader, spec, time, notes))
    described, left_out = reader.coordinates()
    for c in described:
        coords.update(_coordinate(reader, spec, c))
    name = reader.name
    if name in coords or name in variable.dims:
        name = "data"  # a series named like one of its coordinates
    return name, variable, coords, [*left_out, *notes]


def _warn(reader: TimeSeriesReader, notes: list[str]) -> None:
    for note in notes:
        warnings.warn(f"{reader.source} [{reader.path}]: {note}", UserWarning, stacklevel=4)


def timeseries_dataset(reader: TimeSeriesReader, spec: StoreSpec, *, scaled: bool = True,
                       time: TimeKind = "seconds") -> xr.Dataset:
    """One series as a lazy Dataset of backend arrays (what ``engine="nwb"`` returns).

    The variable named after the series (``data`` if a coordinate has that name), its
    coordinates, and the series' other datasets (``control_description``, the ``data``
    placeholder of an external-file series) as variables with their own dimensions. Attributes:
    the group's. Reads attributes and small scalar datasets only.

    Examples
    --------
    >>> nwb, spec = open_nwb_reader("session.nwb")
    >>> ds = timeseries_dataset(TimeSeriesReader(nwb, "/acquisition/lfp"), spec)
    >>> ds["lfp"].isel(time=slice(0, 10)).values.shape  # reads 10 rows
    (10, 4)
    """
    name, variable, coords, notes = _describe(reader, spec, scaled=scaled, time=time)
    _warn(reader, notes)
    variables = {name: variable}
    for arr in reader.other_arrays():
        other = arr.path.rsplit("/", 1)[-1]
        key = other if other not in coords and other not in variables else f"{name}_{other}"
        variables[key] = xr.Variable(
            tuple(f"{key}_dim_{i}" for i in range(arr.ndim)),
            indexing.LazilyIndexedArray(_array(reader.nwb, spec, "/" + arr.path.strip("/"))))
    attrs = {**reader.group_attrs(), "path": reader.path, "_nwb_path": reader.source}
    return xr.Dataset(variables, coords=coords, attrs=attrs)


def timeseries_dataarray(reader: TimeSeriesReader, spec: StoreSpec, *, chunks: Chunks = "auto",
                         scaled: bool = True, time: TimeKind = "seconds") -> xr.DataArray:
    """The lazy, dask-backed DataArray of one series (see :func:`get_timeseries`)."""
    name, variable, coords, notes = _describe(reader, spec, scaled=scaled, time=time)
    for arr in reader.other_arrays():
        what = "values that are not the frames (those are in external_file)" if \
            reader.is_external and arr is reader.data else "not one value per sample"
        notes.append(f"{arr.path.rsplit('/', 1)[-1]} has shape {tuple(arr.shape)}, {what}: left "
                     "out of the DataArray (open_dataset(engine='nwb') keeps it)")
    _warn(reader, notes)
    if not variable._in_memory:
        data = reader.data
        assert data is not None
        blocks = _chunks(chunks, variable.dims, variable.shape,
                         tuple(int(c) for c in data.chunks), data.dtype.itemsize)
        variable = variable.chunk(dict(zip(variable.dims, blocks, strict=True)),
                                  name=f"nwb-{tokenize(spec, reader.data_path, scaled, blocks)}")
    return xr.DataArray(variable, coords=coords, name=name)


def get_timeseries(source: SourceLike, path: str | None = None, *, search: str | None = None,
                   match_all: bool = False, chunks: Chunks = "auto", scaled: bool = True,
                   decode_times: bool = False, decode_timedelta: bool = False,
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
        ``data * conversion (* channel_conversion) + offset`` in ``units`` (default), or the
        values as stored (``False``; see the module documentation).
    decode_times, decode_timedelta:
        ``time`` as ``datetime64`` (the reference time plus the seconds, UTC) or
        ``timedelta64`` (the seconds); default float seconds.
    cache:
        ``None`` (default, nothing kept), ``"memory"`` (chunks already read are kept) or
        ``"disk"`` (chunks kept as files in ``cache_dir``).
    storage_options, refs_dir, cache_dir:
        As for :func:`intake_nwb.store.open_store`.

    Returns
    -------
    xarray.DataArray or dict of them
        Dims ``time`` then, by type: ``channel`` (ElectricalSeries: electrode ids, with
        ``electrode_index``, ``location``, ``group_name``, ``channel_conversion`` coordinates),
        ``sample`` (SpikeEventSeries), ``roi`` (RoiResponseSeries: ROI ids), ``axis``
        (SpatialSeries: ``x``/``y``/``z``), ``band`` (DecompositionSeries), ``feature``
        (AbstractFeatureSeries), ``y``/``x``/``z`` (ImageSeries), else
        ``<series name>_dim_<i>``. Per-sample datasets (``confidence``, ``control``) are
        coordinates on ``time``. Attributes: NWB's (``unit``, ``conversion``, ``offset``,
        ``resolution``, ``description``, ``comments``, ``neurodata_type``, the group's own and
        small datasets such as ``reference_frame``), CF's ``units``, ``path``, ``_nwb_path``.

    Examples
    --------
    >>> lfp = get_timeseries("session.nwb", "/acquisition/lfp")
    >>> lfp.sizes, lfp.dtype, lfp.attrs["units"]  # int16 counts scaled by conversion
    (Frozen({'time': 300000, 'channel': 4}), dtype('float64'), 'volts')
    >>> lfp.sel(time=slice(10, 20)).mean("time").shape  # reads 10 s only
    (4,)
    >>> series = get_timeseries("session.nwb", search="SpatialSeries", match_all=True)
    >>> {path: s.sizes for path, s in series.items()}
    {'/processing/behavior/Position/position': Frozen({'time': 18000, 'axis': 2})}
    """
    kind = _time_kind(decode_times, decode_timedelta)
    nwb, spec = open_nwb_reader(source, storage_options, refs_dir, cache, cache_dir)
    paths = [path] if path is not None else find_timeseries(nwb, search, match_all)
    out = {}
    for p in paths:
        reader = TimeSeriesReader(nwb, p)
        out[reader.path] = timeseries_dataarray(reader, spec, chunks=chunks, scaled=scaled,
                                                time=kind)
    return out if match_all else next(iter(out.values()))


# -- Datasets of several series ------------------------------------------------------------------

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


def _describe_time(tb: TimeBase) -> str:
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
                           scaled: bool = True, decode_times: bool = False,
                           decode_timedelta: bool = False,
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
    >>> get_timeseries_dataset("session.nwb", "/processing/behavior")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    intake_nwb.errors.IntakeNWBError: ... do not share a time base ...
    >>> ds = get_timeseries_dataset("session.nwb", "/processing/behavior", search="position")
    >>> ds.sizes
    Frozen({'axis': 2, 'time': 18000})
    """
    kind = _time_kind(decode_times, decode_timedelta)
    nwb, spec = open_nwb_reader(source, storage_options, refs_dir, cache, cache_dir)
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
        listing = "; ".join(f"{_describe_time(g[0].time_base)}: {', '.join(r.path for r in g)}"
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
    arrays = [timeseries_dataarray(r, spec, chunks=chunks, scaled=scaled, time=kind)
              for r in keep]
    time = arrays[0].coords.to_dataset()[[TIME]].coords if TIME in arrays[0].coords else {}
    seen: dict[str, xr.DataArray] = {}
    variables = {}
    for name, arr in zip(names, arrays, strict=True):
        # per-sample coordinates are each series' own (confidence of one body part)
        own = [str(c) for c in arr.coords if c != TIME and arr.coords[c].dims == (TIME,)]
        arr = arr.drop_vars([TIME] if TIME in arr.coords else []).rename(
            {c: f"{name}_{c}" for c in own})
        variables[name] = _share_dims(arr, name, seen)
    attrs = {"path": base, "_nwb_path": nwb.source}
    if keep[0].time_base.kind == "rate":
        attrs.update(starting_time=keep[0].time_base.starting_time, rate=keep[0].time_base.rate)
    return xr.Dataset(variables, coords=time, attrs=attrs)

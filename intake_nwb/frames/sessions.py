"""The same TimeSeries from every session (file): a DataTree keyed by session, or one Dataset
stacked along ``session`` where the sessions line up.

:func:`get_timeseries_across` opens every file concurrently, takes the series at the same path
(or the one ``search`` selects) in each, and returns

- ``stack=False``: an :class:`xarray.DataTree` with one node per session (always possible), each
  the series as :func:`~intake_nwb.frames.timeseries.get_timeseries` gives it (lazy,
  dask-backed) in a Dataset, with the session's metadata as scalar coordinates;
- ``stack=True``: one :class:`xarray.Dataset` with a ``session`` dimension first, when every
  session has the same dimensions, dtype, and labels on the non-time dimensions (``channel``
  ids...). The session metadata are coordinates along ``session``. Time is aligned by

  ``align="relative"``
      time since each session's ``starting_time``, a shared
      :class:`~intake_nwb.frames.indexes.TimeIndex` (rate-based series of one rate only);
      ``time_offset`` (session) keeps each start: absolute time = ``time + time_offset``;
  ``align="sample"``
      sample number: dimension ``sample``, with each session's own times as a
      ``time`` (session, sample) coordinate (any series);
  ``align="auto"`` (default)
      ``relative`` where it applies, else ``sample``.

  Sessions of different lengths follow ``join`` (xarray's words): ``"exact"`` (default: an
  error naming the lengths), ``"inner"`` (the shortest length: later samples left out, as
  asked) or ``"outer"`` (the longest: missing samples are NaN, values become floats).

Nothing is read but metadata (and, to stack, the small labels of the non-time dimensions,
compared across sessions); values are read when computed, in dask workers too.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import dask.array as da
import numpy as np
import polars as pl
import xarray as xr

from ..errors import Errors, IntakeNWBError, report_failures
from ..nwb.file import NWBReader
from ..nwb.metadata import read_metadata
from ..nwb.timeseries import TIME, TimeSeriesReader, find_timeseries
from ..sources import per_file
from ..store import CacheMode, NWBStore, open_stores
from .indexes import TimeIndex
from .tables import NWB_PATH
from .timeseries import Chunks, open_nwb_reader, timeseries_dataarray

__all__ = ["get_timeseries_across"]

SESSION = "session"
Align = Literal["auto", "relative", "sample"]
Join = Literal["exact", "inner", "outer"]


def get_timeseries_across(sources: Any, path: str | None = None, *, search: str | None = None,
                          sessions: pl.DataFrame | None = None, stack: bool = False,
                          align: Align = "auto", join: Join = "exact", chunks: Chunks = "auto",
                          scaled: bool = True, errors: Errors = "raise",
                          storage_options: Mapping[str, Any] | None = None,
                          refs_dir: str | os.PathLike[str] | None = None,
                          cache: CacheMode = None,
                          cache_dir: str | os.PathLike[str] | None = None,
                          **open_kwargs: Any) -> xr.DataTree | xr.Dataset:
    """The same TimeSeries from every file, by session (see the module documentation).

    Parameters
    ----------
    sources:
        Files, reference files, Zarr stores, URLs, a glob, or a list of them (or of open
        :class:`~intake_nwb.store.NWBStore`).
    path, search:
        The series' path in every file, or what selects exactly one series in each (as for
        :func:`~intake_nwb.frames.timeseries.get_timeseries`).
    sessions:
        Session metadata, one row per file with an ``_nwb_path`` column (as
        :func:`intake_nwb.get_metadata_df` or a catalog's ``sessions`` entry give it); without
        it each file's metadata are read (a few small values). Session names are the
        ``session_id`` column when it names every file uniquely, else the file names.
    stack, align, join:
        A DataTree (``stack=False``) or one stacked Dataset, aligned and joined as the module
        documentation says.
    chunks, scaled:
        As for :func:`~intake_nwb.frames.timeseries.get_timeseries` (per session).
    errors:
        A file that cannot be opened or lacks the series: ``"raise"``, ``"warn"`` (left out,
        one warning naming them) or ``"ignore"``.
    storage_options, refs_dir, cache, cache_dir, open_kwargs:
        As for :func:`intake_nwb.store.open_store` (``check_stale``, ``relocate``...).

    Examples
    --------
    >>> tree = get_timeseries_across("lab/*.nwb", "/processing/behavior/running_speed")
    >>> list(tree.children)  # by session_id
    ['001', '002', '003', '004']
    >>> tree["001"].dataset["running_speed"].sizes
    Frozen({'time': 18000})
    >>> ds = get_timeseries_across("lab/*.nwb", "/acquisition/lfp", stack=True)
    >>> ds["lfp"].sizes
    Frozen({'session': 4, 'time': 300000, 'channel': 4})
    >>> ds["lfp"].sel(time=slice(0, 10)).mean("time").sizes  # per session, lazily
    Frozen({'session': 4, 'channel': 4})
    """
    stores = _stores(sources, storage_options, errors, refs_dir=refs_dir, cache=cache,
                     cache_dir=cache_dir, **open_kwargs)

    def one(store: NWBStore) -> xr.DataArray:
        nwb, spec = open_nwb_reader(store, storage_options, cache=cache, cache_dir=cache_dir)
        (found,) = [path] if path is not None else find_timeseries(nwb, search)
        return timeseries_dataarray(TimeSeriesReader(nwb, found), spec, chunks=chunks,
                                    scaled=scaled)

    arrays, failures = per_file(one, stores)
    report_failures(failures, errors, f"have no TimeSeries {path or search!r}")
    if not arrays:
        raise IntakeNWBError(f"no file has the TimeSeries {path or search!r}")
    found = [s for s in stores if s.source in arrays]
    meta = _metadata(found, sessions)
    keys = _session_keys([s.source for s in found], meta)
    series = [arrays[s.source] for s in found]
    if stack:
        return _stacked(series, keys, meta, align, join)
    return xr.DataTree.from_dict(
        {key: arr.to_dataset().assign_coords(_scalars(m)) for key, arr, m in
         zip(keys, series, meta, strict=True)},
        name=series[0].name)


def _stores(sources: Any, storage_options: Mapping[str, Any] | None, errors: Errors,
            **kwargs: Any) -> list[NWBStore]:
    if isinstance(sources, (list, tuple)) and sources and \
            all(isinstance(s, NWBStore) for s in sources):
        return list(sources)
    return open_stores(sources, storage_options=storage_options, errors=errors, **kwargs)


# -- sessions ------------------------------------------------------------------------------------

def _metadata(stores: list[NWBStore], sessions: pl.DataFrame | None) -> list[dict[str, Any]]:
    """One metadata row per store: from ``sessions`` (by ``_nwb_path``), else read."""
    if sessions is None:
        return [{**read_metadata(NWBReader(s)), NWB_PATH: s.source} for s in stores]
    if NWB_PATH not in sessions.columns:
        raise ValueError(f"sessions needs a {NWB_PATH} column (one row per file)")
    rows = {r[NWB_PATH]: r for r in sessions.iter_rows(named=True)}
    return [rows.get(s.source, {NWB_PATH: s.source}) for s in stores]


def _session_keys(sources: Sequence[str], meta: Sequence[Mapping[str, Any]]) -> list[str]:
    """``session_id`` when it names every file once, else the file names (unique, no ``/``)."""
    ids = [m.get("session_id") for m in meta]
    if all(isinstance(i, str) and i for i in ids) and len(set(ids)) == len(ids):
        names = [str(i) for i in ids]
    else:
        names = [re.sub(r"\.nwb(\.zarr)?$", "", os.path.basename(s.rstrip("/"))) or s
                 for s in sources]
    out: list[str] = []
    for name in (n.replace("/", "_") for n in names):
        key, i = name, 2
        while key in out:
            key, i = f"{name}_{i}", i + 1
        out.append(key)
    return out


def _value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return np.datetime64(value.astimezone(dt.UTC).replace(tzinfo=None), "ns")
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return value


def _scalars(meta: Mapping[str, Any]) -> dict[str, Any]:
    """A session's metadata as scalar coordinates (lists joined, times as UTC datetime64)."""
    return {k: _value(v) for k, v in meta.items() if v is not None}


# -- stacking ------------------------------------------------------------------------------------

def _stacked(series: list[xr.DataArray], keys: list[str], meta: list[dict[str, Any]],
             align: Align, join: Join) -> xr.Dataset:
    first = series[0]
    _check_alike(series, keys)
    rates = [_rate(s) for s in series]
    if align == "auto":
        align = "relative" if all(r is not None for r in rates) and \
            np.allclose(rates, rates[0], rtol=1e-9) else "sample"  # type: ignore[arg-type]
    if align == "relative" and not (all(r is not None for r in rates)
                                    and np.allclose(rates, rates[0], rtol=1e-9)):
        raise IntakeNWBError(f"align='relative' needs rate-based series of one rate; the rates "
                             f"are {dict(zip(keys, rates, strict=True))} (timestamps: None): "
                             "use align='sample'", path=first.attrs.get("path"))
    lengths = [s.sizes[TIME] for s in series]
    n = _joined_length(lengths, keys, join)
    dim = TIME if align == "relative" else "sample"
    fill = join == "outer" and min(lengths) < n
    data = da.stack([_fit(s.data, n, fill) for s in series])
    dims = (SESSION, dim, *first.dims[1:])
    # labels of the other dimensions (the same in every session), with their indexes
    ds = first.drop_vars([c for c in first.coords if TIME in first.coords[c].dims]) \
        .coords.to_dataset()
    coords: dict[str, Any] = {SESSION: keys}
    for name, coord in first.coords.items():
        if TIME in coord.dims and name != TIME:  # per-sample coordinates, each session's own
            coords[str(name)] = ((SESSION, dim), da.stack([_fit(_dask(s[name]), n, fill)
                                                         for s in series]), dict(coord.attrs))
    if align == "relative":
        coords["time_offset"] = (SESSION, [s.attrs.get("starting_time", 0.0) for s in series],
                                 {"units": "seconds"})
        ds = ds.assign_coords(xr.Coordinates.from_xindex(TimeIndex.from_rate(0.0, rates[0], n)))
    elif all(TIME in s.coords for s in series):
        coords[TIME] = ((SESSION, dim), da.stack([_fit(_dask(s[TIME]), n, fill)
                                                  for s in series]), dict(first[TIME].attrs))
    for name in sorted({k for m in meta for k, v in m.items() if v is not None}):
        coords[name] = (SESSION, [_value(m.get(name)) for m in meta])
    attrs = {k: v for k, v in first.attrs.items() if k not in ("_nwb_path", "starting_time")}
    ds = ds.assign_coords(coords)
    ds[first.name or "data"] = xr.Variable(dims, data, attrs)
    ds.attrs.update(path=first.attrs.get("path"), align=align, join=join)
    return ds


def _rate(arr: xr.DataArray) -> float | None:
    return float(arr.attrs["rate"]) if isinstance(arr.xindexes.get(TIME), TimeIndex) else None


def _check_alike(series: list[xr.DataArray], keys: list[str]) -> None:
    """Same dimensions, dtype, non-time sizes and labels; else an error naming the sessions."""
    first, problems = series[0], []
    for key, s in zip(keys[1:], series[1:], strict=True):
        if s.dims != first.dims or s.dtype != first.dtype:
            problems.append(f"{key}: {s.dims} {s.dtype} (first: {first.dims} {first.dtype})")
            continue
        for dim in first.dims[1:]:
            if s.sizes[dim] != first.sizes[dim]:
                problems.append(f"{key}: {dim} has {s.sizes[dim]} (first: {first.sizes[dim]})")
        for name, coord in first.coords.items():
            if TIME in coord.dims:
                continue
            if name not in s.coords or not np.array_equal(np.asarray(s.coords[name].values),
                                                          np.asarray(coord.values)):
                problems.append(f"{key}: coordinate {name} differs from the first session's")
    if problems:
        raise IntakeNWBError("the sessions' series do not line up (stack=False gives one node "
                             "per session): " + "; ".join(problems),
                             path=first.attrs.get("path"))


def _joined_length(lengths: list[int], keys: list[str], join: Join) -> int:
    if join == "inner":
        return min(lengths)
    if join == "outer":
        return max(lengths)
    if len(set(lengths)) > 1:
        raise IntakeNWBError(
            "the sessions have different lengths ("
            + ", ".join(f"{k}: {n}" for k, n in zip(keys, lengths, strict=True))
            + "): join='inner' keeps the shortest length, join='outer' pads with NaN")
    return lengths[0]


def _dask(coord: xr.DataArray) -> da.Array:
    """A lazy coordinate as a dask array (read when computed)."""
    return coord.variable.chunk().data


def _fit(data: da.Array, n: int, fill: bool) -> da.Array:
    """``data`` cut or padded (NaN, as floats) along its first axis to ``n``."""
    if data.shape[0] >= n:
        return data[:n]
    if not fill:
        return data
    if data.dtype.kind in "mM":
        pad_value: Any = np.array("NaT", dtype=data.dtype)
    else:
        data = data.astype(np.result_type(data.dtype, np.float64)) if data.dtype.kind != "O" \
            else data
        pad_value = np.nan
    pad = da.full((n - data.shape[0], *data.shape[1:]), pad_value, dtype=data.dtype,
                  chunks=(-1, *data.chunksize[1:]))
    return da.concatenate([data, pad])

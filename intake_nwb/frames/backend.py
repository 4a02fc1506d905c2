"""The xarray backend: ``engine="nwb"`` opens NWB files, Zarr NWB stores and reference files.

Registered as the ``nwb`` entry of the ``xarray.backends`` entry points::

    ds = xr.open_dataset("ses.nwb", engine="nwb", group="/acquisition/lfp", chunks={})
    tree = xr.open_datatree("ses.nwb", engine="nwb")

``open_dataset(group=...)`` returns, for the group at that NWB path:

- a TimeSeries: the variable named after it, ``time`` and the other coordinates
  (:func:`intake_nwb.frames.timeseries.timeseries_dataset`);
- a DynamicTable: one variable per column over ``id`` (the table's ids, an index read on first
  lookup; ``<table>_id`` for a table inside another table); a ragged column as NWB stores it,
  its flat values over ``<column>_element`` and its end offsets (``<column>_index``) over
  ``id``; region columns as the rows they list (attribute ``table``), references as the paths
  they point to;
- any other group (the root for ``group=None``): its datasets as variables over
  ``<name>_dim_<i>``.

Attributes are the group's and the datasets' own (references as paths). ``open_datatree``
returns every group of the file (cached specifications left out) as a node at its NWB path,
each as above. Opening reads metadata only; values are read when used, through xarray backend
arrays that pickle to dask workers (:mod:`intake_nwb.frames.arrays`). ``chunks`` is xarray's
(``{}``: the storage chunks).

Parameters of both (besides xarray's ``chunks``, ``drop_variables``, ``group``):
``mask_and_scale`` (default True: NWB's ``conversion``/``channel_conversion``/``offset``
applied; xarray's ``decode_cf=False`` turns it off too), ``decode_times``/``decode_timedelta``
(``time`` as ``datetime64``/``timedelta64``), ``storage_options``, ``refs_dir``, ``cache``,
``cache_dir`` (as for :func:`intake_nwb.store.open_store`).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import xarray as xr
import zarr
from xarray.backends import BackendEntrypoint
from xarray.core import indexing

from .. import conventions as cv
from ..errors import IntakeNWBError
from ..nwb.file import NWBReader
from ..nwb.tables import COMPOUND, ENUM, REFERENCE, REGION, TSREF, TableReader
from ..nwb.timeseries import TimeSeriesReader, timeseries_paths
from ..nwb.types import scalar_attr
from ..store import CacheMode
from ..store.workers import StoreSpec
from .arrays import NWBBackendArray
from .indexes import StoredIndex
from .timeseries import _time_kind, open_nwb_reader, timeseries_dataset

__all__ = ["NWBBackendEntrypoint", "group_dataset", "table_dataset"]

ROW = "id"  # a table's row dimension
_NAMES = re.compile(r"\.nwb(\.zarr|\.[0-9a-f]+\.json)?/?$", re.IGNORECASE)
_INTERNAL_ATTRS = {cv.ZARR_DTYPE, cv.ZARR_LINK, ".specloc", "_ARRAY_DIMENSIONS"}


def _attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """A group's or dataset's attributes, references as the paths they point to."""
    out = {}
    for key, value in attrs.items():
        if key in _INTERNAL_ATTRS:
            continue
        value = scalar_attr(value)
        if isinstance(value, dict):
            value = cv.ref_target(cv.attr_ref(value)) or cv.ref_target(value)
        if value is not None:
            out[key] = value
    return out


def _variable(spec: StoreSpec, arr: zarr.Array, dims: tuple[str, ...] | None = None,
              attrs: Mapping[str, Any] | None = None) -> xr.Variable:
    """One dataset as a lazy variable (a scalar stored as one element as a scalar)."""
    name = arr.path.rsplit("/", 1)[-1]
    zdtype = arr.attrs.get(cv.ZARR_DTYPE)
    decode = "references" if zdtype == cv.OBJECT or isinstance(zdtype, list) else None
    data: Any = indexing.LazilyIndexedArray(NWBBackendArray(
        spec, "/" + arr.path.strip("/"), tuple(arr.shape), arr.dtype, decode=decode))
    if zdtype == cv.SCALAR and arr.shape == (1,):
        data, dims = data[indexing.BasicIndexer((0,))], ()
    dims = tuple(f"{name}_dim_{i}" for i in range(arr.ndim)) if dims is None else dims
    return xr.Variable(dims, data, {**_attrs(arr.attrs), **(attrs or {})})


def group_dataset(nwb: NWBReader, spec: StoreSpec, path: str,
                  skip: Iterable[str] = ()) -> xr.Dataset:
    """A group's datasets as lazy variables over ``<name>_dim_<i>``, its attributes."""
    group = nwb.node(path)
    assert isinstance(group, zarr.Group)
    skip = set(skip)
    variables = {name: _variable(spec, arr) for name, arr in group.arrays() if name not in skip}
    return xr.Dataset(variables, attrs={**_attrs(group.attrs), "path": path,
                                        "_nwb_path": nwb.source})


def row_dim(nwb: NWBReader, path: str) -> str:
    """A table's row dimension: ``id``, or ``<name>_id`` for a table inside another table
    (whose node would otherwise have to align with its parent's ``id``)."""
    parts = path.strip("/").split("/")
    tables = set(nwb.tables)
    nested = any("/" + "/".join(parts[:i]) in tables for i in range(1, len(parts)))
    return f"{parts[-1]}_{ROW}" if nested else ROW


def table_dataset(nwb: NWBReader, spec: StoreSpec, path: str) -> xr.Dataset:
    """A DynamicTable as a lazy Dataset over ``id`` (see the module documentation)."""
    table = TableReader(nwb, path)
    n = table.n_rows
    row = row_dim(nwb, table.path)
    coords = xr.Coordinates()
    variables: dict[str, xr.Variable] = {}
    used = set()
    for name, col in table.columns.items():
        arr = nwb.node(col.path)
        assert isinstance(arr, zarr.Array)
        used.add(col.path)
        if name == "id":
            array = NWBBackendArray(spec, col.path, tuple(arr.shape), arr.dtype)
            coords.update(xr.Coordinates.from_xindex(StoredIndex.from_source(
                array, row, row, _attrs(arr.attrs))))
            continue
        extra: dict[str, Any] = {}
        if col.kind == REGION and col.target_table:
            extra["table"] = col.target_table
        if col.kind == ENUM and col.elements_path:
            extra["elements"] = col.elements_path
        if col.kind in (REFERENCE, TSREF, COMPOUND):
            extra["neurodata_type"] = col.neurodata_type or "VectorData"
        levels = [*col.index_paths, col.path]
        for i, level in enumerate(levels):
            node = nwb.node(level)
            assert isinstance(node, zarr.Array)
            used.add(level)
            key = level.rsplit("/", 1)[-1] if i < len(levels) - 1 else name
            # the outer level has a value per row; each inner level's values are elements
            # of the rows of the level before it
            dim = row if i == 0 else f"{key}_element"
            if i == 0 and node.shape[:1] != (n,):
                dim = f"{key}_dim_0"  # another length than the table (truncated files)
                warnings.warn(f"{nwb.source} [{level}]: {node.shape[0] if node.ndim else 0} "
                              f"values for {n} rows: kept over its own dimension {dim}",
                              UserWarning, stacklevel=2)
            dims = (dim, *(f"{key}_dim_{d}" for d in range(1, node.ndim)))
            variables[key] = _variable(spec, node, dims, extra if key == name else None)
    group = nwb.node(path)
    assert isinstance(group, zarr.Group)
    for name, arr in group.arrays():  # enum elements, helpers: kept, over their own dims
        if "/" + arr.path.strip("/") not in used and name not in variables:
            variables[name] = _variable(spec, arr)
    attrs = {**_attrs(group.attrs), "path": table.path, "_nwb_path": nwb.source}
    return xr.Dataset(variables, coords=coords, attrs=attrs)


def _series_dataset(nwb: NWBReader, spec: StoreSpec, path: str, scaled: bool,
                    time: Any) -> xr.Dataset:
    try:
        return timeseries_dataset(TimeSeriesReader(nwb, path), spec, scaled=scaled, time=time)
    except IntakeNWBError as exc:  # still a node: its datasets as they are
        warnings.warn(f"{exc}: the series' datasets are kept as they are", UserWarning,
                      stacklevel=3)
        return group_dataset(nwb, spec, path)


class NWBBackendEntrypoint(BackendEntrypoint):
    """xarray's ``engine="nwb"`` (see the module documentation).

    Examples
    --------
    >>> import xarray as xr
    >>> units = xr.open_dataset("session.nwb", engine="nwb", group="/units")
    >>> units.sizes  # doctest: +NORMALIZE_WHITESPACE
    Frozen({'id': 40, 'spike_times_element': 112480, 'electrodes_element': 40,
            'waveform_mean_dim_1': 82})
    >>> tree = xr.open_datatree("session.nwb", engine="nwb")
    >>> list(tree.children)
    ['acquisition', 'analysis', 'general', 'intervals', 'processing', 'stimulus', 'units']
    >>> lfp = tree["acquisition/lfp"].dataset
    >>> lfp["lfp"].sizes
    Frozen({'time': 300000, 'channel': 4})
    >>> sorted(lfp.coords)
    ['channel', 'electrode_index', 'group_name', 'location', 'time']
    """

    description = "NWB files (HDF5 through reference files, Zarr NWB) with intake-nwb"
    url = "https://github.com/intake/intake-nwb/blob/main/docs/xarray.md"
    supports_groups = True
    open_dataset_parameters = ("filename_or_obj", "drop_variables", "group", "mask_and_scale",
                               "decode_times", "decode_timedelta", "storage_options",
                               "refs_dir", "cache", "cache_dir")

    def guess_can_open(self, filename_or_obj: Any) -> bool:
        if not isinstance(filename_or_obj, (str, os.PathLike)):
            return False
        return bool(_NAMES.search(os.fspath(filename_or_obj)))

    def _open(self, filename_or_obj: Any, storage_options: Mapping[str, Any] | None,
              refs_dir: Any, cache: CacheMode, cache_dir: Any) -> tuple[NWBReader, StoreSpec]:
        if not isinstance(filename_or_obj, (str, os.PathLike)):
            raise TypeError(f"engine='nwb' opens paths and URLs, not {type(filename_or_obj)}")
        return open_nwb_reader(filename_or_obj, storage_options, refs_dir, cache, cache_dir)

    def open_dataset(self, filename_or_obj: Any, *,  # type: ignore[override]
                     drop_variables: str | Iterable[str] | None = None,
                     group: str | None = None, mask_and_scale: bool = True,
                     decode_times: bool = False, decode_timedelta: bool = False,
                     storage_options: Mapping[str, Any] | None = None, refs_dir: Any = None,
                     cache: CacheMode = None, cache_dir: Any = None) -> xr.Dataset:
        time = _time_kind(bool(decode_times), bool(decode_timedelta))
        nwb, spec = self._open(filename_or_obj, storage_options, refs_dir, cache, cache_dir)
        path = "/" + (group or "").strip("/")
        if path != "/" and not nwb.has(path):
            raise IntakeNWBError(f"no group {path}", source=nwb.source, path=path)
        ds = self._node(nwb, spec, path, set(timeseries_paths(nwb)), set(nwb.tables),
                        bool(mask_and_scale), time)
        return ds.drop_vars(_names(drop_variables), errors="ignore")

    @staticmethod
    def _node(nwb: NWBReader, spec: StoreSpec, path: str, series: set[str], tables: set[str],
              scaled: bool, time: Any) -> xr.Dataset:
        if path in series:
            return _series_dataset(nwb, spec, path, scaled, time)
        if path in tables:
            return table_dataset(nwb, spec, path)
        if not isinstance(nwb.node(path), zarr.Group):
            raise IntakeNWBError("not a group: open its parent group", source=nwb.source,
                                 path=path)
        return group_dataset(nwb, spec, path)

    def open_groups_as_dict(self, filename_or_obj: Any, *,  # type: ignore[override]
                            drop_variables: str | Iterable[str] | None = None,
                            group: str | None = None, mask_and_scale: bool = True,
                            decode_times: bool = False, decode_timedelta: bool = False,
                            storage_options: Mapping[str, Any] | None = None,
                            refs_dir: Any = None, cache: CacheMode = None,
                            cache_dir: Any = None) -> dict[str, xr.Dataset]:
        time = _time_kind(bool(decode_times), bool(decode_timedelta))
        nwb, spec = self._open(filename_or_obj, storage_options, refs_dir, cache, cache_dir)
        root = "/" + (group or "").strip("/")
        series, tables = set(timeseries_paths(nwb)), set(nwb.tables)
        base = nwb.node(root)
        if not isinstance(base, zarr.Group):
            raise IntakeNWBError("not a group", source=nwb.source, path=root)
        paths = [root] + [
            (root.rstrip("/") + "/" + name) for name, node in base.members(max_depth=None)
            if isinstance(node, zarr.Group)
            and not (root == "/" and name.split("/", 1)[0] == "specifications")]
        drop = _names(drop_variables)
        out = {}
        for path in paths:
            ds = self._node(nwb, spec, path, series, tables, bool(mask_and_scale), time)
            out[path[len(root.rstrip("/")):] or "/"] = ds.drop_vars(drop, errors="ignore")
        return out

    def open_datatree(self, filename_or_obj: Any, **kwargs: Any  # type: ignore[override]
                      ) -> xr.DataTree:
        return xr.DataTree.from_dict(self.open_groups_as_dict(filename_or_obj, **kwargs))


def _names(drop: str | Iterable[str] | None) -> list[str]:
    if drop is None:
        return []
    return [drop] if isinstance(drop, str) else list(drop)

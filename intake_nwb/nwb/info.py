"""What a file holds, without reading data: its paths, each path's kind, shape, dtype and
attributes.

Attribute values are what h5py gives, in plain Python: text decoded, arrays as lists, numpy
scalars as numbers, MatNWB's one-element arrays unwrapped, and object references as the path
they point to (``"/units/spike_times"``). hdmf-zarr's bookkeeping (``zarr_dtype``,
``zarr_link``) and the reference files' own (``intake_nwb_*``) are not attributes of the NWB
file and are left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import zarr

from .. import conventions as cv
from .file import NWBReader
from .timeseries import timeseries_paths
from .types import neurodata_type, scalar_attr

#: attributes hdmf-zarr's layout adds (not in the HDF5 file); ours start with OWN_PREFIX
STORAGE_ATTRS = frozenset({cv.ZARR_DTYPE, cv.ZARR_LINK})
OWN_PREFIX = "intake_nwb_"
#: what lazynwb's ``exclude_private`` leaves out, besides names starting with ``_`` or ``.``
PRIVATE_ATTRS = frozenset({"id", "object_id", "namespace", "target"})
_EMPTY = (None, "", "no description")


def plain(value: Any) -> Any:
    """An attribute value as plain Python (see the module documentation)."""
    ref = cv.attr_ref(value)
    if ref is not None:
        return cv.ref_target(ref)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict) and cv.is_ref(value):
        return cv.ref_target(value)
    return value


def attributes(nwb: NWBReader, path: str, *, exclude_private: bool = False,
               exclude_empty_fields: bool = False) -> dict[str, Any]:
    """The attributes of the group or dataset at ``path`` (``KeyError`` if there is none).

    ``exclude_private``: leave out names starting with ``_`` or ``.`` and ``id``,
    ``object_id``, ``namespace``, ``target`` (lazynwb's rule); ``exclude_empty_fields``: leave
    out empty values and ``"no description"``.
    """
    out = {}
    for key, value in nwb.node(path).attrs.items():
        if key in STORAGE_ATTRS or key.startswith(OWN_PREFIX):
            continue
        if exclude_private and (key.startswith(("_", ".")) or key in PRIVATE_ATTRS):
            continue
        value = plain(scalar_attr(value))
        if exclude_empty_fields and (value in _EMPTY or value == [] or value == {}):
            continue
        out[key] = value
    return out


def walk(nwb: NWBReader, parent: str = "/") -> dict[str, zarr.Group | zarr.Array]:
    """Every group and dataset under ``parent`` (itself included), by path, sorted."""
    base = nwb.node(parent)
    prefix = "/" + parent.strip("/")
    out: dict[str, Any] = {prefix: base}
    if isinstance(base, zarr.Group):
        for name, node in base.members(max_depth=None):
            out[(prefix.rstrip("/") + "/" + name)] = node
    return dict(sorted(out.items()))


def internal_paths(nwb: NWBReader, *, include_child_datasets: bool = False,
                   include_table_columns: bool = False, include_metadata: bool = False,
                   include_specifications: bool = False, parents: bool = False
                   ) -> dict[str, str | None]:
    """``{path: neurodata_type}`` of the file's tables and TimeSeries, and with the options
    (lazynwb's): their datasets, tables' columns, ``/general`` and what it holds, the cached
    specifications, and the groups above every path listed. Untyped objects map to None."""
    tables, series = nwb.tables, timeseries_paths(nwb)
    nodes = walk(nwb)
    chosen = set(tables) | set(series)
    for path, node in nodes.items():
        parent = path.rsplit("/", 1)[0] or "/"
        if include_table_columns and isinstance(node, zarr.Array) and parent in tables:
            chosen.add(path)
        if include_child_datasets and isinstance(node, zarr.Array) and parent in chosen:
            chosen.add(path)
        if include_metadata and (path == "/general" or path.startswith("/general/")) and (
                isinstance(node, zarr.Group) or include_child_datasets):
            chosen.add(path)
        if include_specifications and path.startswith("/specifications") and (
                isinstance(node, zarr.Group) or include_child_datasets):
            chosen.add(path)
    if parents:
        chosen |= {p for path in list(chosen) for p in _parents(path)}
    return {p: neurodata_type(nodes[p].attrs) if p in nodes else nwb.type_of(p)
            for p in sorted(chosen)}


def _parents(path: str) -> Iterable[str]:
    parts = path.strip("/").split("/")
    return ("/" + "/".join(parts[:i]) for i in range(1, len(parts)))


def path_info(nwb: NWBReader, path: str) -> dict[str, Any]:
    """What is at ``path``: ``neurodata_type``, ``is_group``, ``is_dataset``, ``is_table``,
    ``is_timeseries``, ``shape`` and ``dtype`` (None for groups) and ``attrs``."""
    node = nwb.node(path)
    ndtype = neurodata_type(node.attrs)
    is_group = isinstance(node, zarr.Group)
    return {
        "neurodata_type": ndtype,
        "is_group": is_group,
        "is_dataset": not is_group,
        "is_table": is_group and nwb.types.is_a(ndtype, "DynamicTable"),
        "is_timeseries": is_group and "/" + path.strip("/") in timeseries_paths(nwb),
        "shape": None if is_group else () if node.attrs.get(cv.ZARR_DTYPE) == cv.SCALAR
        else tuple(int(s) for s in node.shape),
        "dtype": None if is_group else _dtype(node),
        "attrs": attributes(nwb, path),
    }


def _dtype(arr: zarr.Array) -> str:
    """numpy's name of the stored type; references are ``"object"``, text ``"str"``."""
    kind = arr.attrs.get(cv.ZARR_DTYPE)
    if kind == cv.OBJECT or isinstance(kind, list) and kind:
        return "object" if kind == cv.OBJECT else "compound"
    dtype = arr.dtype
    if getattr(dtype, "kind", "") in "OSUT":
        return "str"
    return str(np.dtype(dtype))

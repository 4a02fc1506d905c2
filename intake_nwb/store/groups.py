"""Groups whose hierarchy is answered from consolidated metadata, with no event-loop round trip,
parsed only as far as it is used.

Every reference set we write consolidates its metadata (``.zmetadata``), and zarr already holds
it in memory after opening the root group. Yet each ``group[path]``, ``members()`` or ``keys()``
of a plain :class:`zarr.Group` goes through zarr's event-loop thread and back (~0.5 ms each on a
loaded machine), and reading one column of one table asks a dozen of them: at lab scale that
hop, not I/O, was the cost. :class:`ConsolidatedGroup` answers them from the metadata it holds
(zarr's own synchronous helpers for the consolidated case), and falls back to zarr otherwise.

Opening a group the usual way parses every array's metadata of the file (~0.2 ms each with zarr
3's data types: 15 ms for a session of 70 arrays), though a query touches a few.
:func:`lazy_group` makes the root group from the ``.zmetadata`` document itself and parses a
node's metadata the first time it is looked up.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Generator, Iterator, Mapping
from typing import Any

import zarr
from zarr.core.array import AsyncArray
from zarr.core.dtype import get_data_type_from_json
from zarr.core.group import AsyncGroup, ConsolidatedMetadata, GroupMetadata
from zarr.core.metadata.v2 import ArrayV2Metadata, get_object_codec_id
from zarr.storage import StorePath


def _node(obj: AsyncArray | AsyncGroup) -> zarr.Array | zarr.Group:  # type: ignore[type-arg]
    if isinstance(obj, AsyncGroup):
        return ConsolidatedGroup(obj)
    return zarr.Array(obj)


class ConsolidatedGroup(zarr.Group):
    """A :class:`zarr.Group` that reads its hierarchy from its consolidated metadata."""

    @classmethod
    def of(cls, group: zarr.Group) -> zarr.Group:
        """``group`` answered from memory when it has consolidated metadata."""
        if group.metadata.consolidated_metadata is None:
            return group
        return cls(group._async_group)

    @property
    def _consolidated(self) -> bool:
        return self._async_group.metadata.consolidated_metadata is not None

    def __getitem__(self, path: str) -> Any:
        if not self._consolidated:
            return super().__getitem__(path)
        ag = self._async_group
        return _node(ag._getitem_consolidated(ag.store_path / path, path, prefix=ag.name))

    def __contains__(self, member: str) -> bool:
        try:
            self[member]
        except KeyError:
            return False
        return True

    def members(self, max_depth: int | None = 0, *,
                use_consolidated_for_children: bool = True) -> tuple[tuple[str, Any], ...]:
        if not self._consolidated:
            return super().members(max_depth,
                                   use_consolidated_for_children=use_consolidated_for_children)
        return tuple((k, _node(v)) for k, v in
                     self._async_group._members_consolidated(max_depth=max_depth))

    def keys(self) -> Generator[str, None]:
        for name, _ in self.members():
            yield name

    def arrays(self) -> Generator[tuple[str, zarr.Array], None]:  # type: ignore[type-arg]
        for name, node in self.members():
            if isinstance(node, zarr.Array):
                yield name, node

    def groups(self) -> Generator[tuple[str, zarr.Group], None]:
        for name, node in self.members():
            if isinstance(node, zarr.Group):
                yield name, node


class _LazyChildren(dict):  # type: ignore[type-arg]
    """A group's children in consolidated metadata, each parsed when first looked up.

    zarr reads children with ``[name]`` and lists them by iterating keys; every way of reading
    a value goes through :meth:`__getitem__`, so nothing sees an unparsed document.
    """

    def __init__(self, prefix: str, nodes: Mapping[str, dict[str, Any]],
                 children: Mapping[str, list[str]]):
        super().__init__(dict.fromkeys(children.get(prefix, ())))
        self._prefix = prefix
        self._nodes = nodes
        self._children = children

    def __getitem__(self, name: str) -> Any:
        value = super().__getitem__(name)
        if value is None:
            path = f"{self._prefix}/{name}" if self._prefix else name
            value = _metadata(path, self._nodes, self._children)
            super().__setitem__(name, value)
        return value

    def get(self, name: str, default: Any = None) -> Any:
        if name not in self:
            return default
        return self[name]

    def values(self) -> Iterator[Any]:  # type: ignore[override]
        return (self[k] for k in self)

    def items(self) -> Iterator[tuple[str, Any]]:  # type: ignore[override]
        return ((k, self[k]) for k in self)


@functools.lru_cache(maxsize=256)
def _dtype(name: str, object_codec_id: str | None) -> Any:
    """zarr's data type of a v2 ``dtype`` (matching one means trying each registered type:
    ~0.2 ms; a lab's files use a handful)."""
    return get_data_type_from_json({"name": json.loads(name), "object_codec_id": object_codec_id},
                                   zarr_format=2)


def _array_metadata(zarray: Mapping[str, Any], attrs: dict[str, Any]) -> ArrayV2Metadata:
    """``ArrayV2Metadata.from_dict`` with the data type looked up once per kind."""
    filters, compressor = zarray.get("filters"), zarray.get("compressor")
    codec_id = get_object_codec_id((*(filters or ()), compressor))
    dtype = _dtype(json.dumps(zarray["dtype"]), codec_id)
    fill = zarray.get("fill_value")
    return ArrayV2Metadata(
        shape=zarray["shape"], dtype=dtype, chunks=zarray["chunks"],
        fill_value=None if fill is None else dtype.from_json_scalar(fill, zarr_format=2),
        order=zarray.get("order", "C"), dimension_separator=zarray.get("dimension_separator", "."),
        compressor=compressor, filters=filters or None, attributes=attrs)


def _metadata(path: str, nodes: Mapping[str, dict[str, Any]],
              children: Mapping[str, list[str]]) -> ArrayV2Metadata | GroupMetadata:
    node = nodes[path]
    attrs = node.get("zattrs", {})
    if "zarray" in node:
        return _array_metadata(node["zarray"], attrs)
    return GroupMetadata(attributes=attrs, zarr_format=2, consolidated_metadata=(
        ConsolidatedMetadata(metadata=_LazyChildren(path, nodes, children))))


def lazy_group(store: Any, zmetadata: Mapping[str, Any]) -> zarr.Group:
    """The root group of a ``.zmetadata`` document (zarr v2 consolidated metadata), over
    ``store``, each node's metadata parsed on first use."""
    nodes: dict[str, dict[str, Any]] = {}
    for key, value in (zmetadata.get("metadata") or {}).items():
        path, _, kind = key.rpartition("/")
        if kind in (".zarray", ".zattrs", ".zgroup"):
            nodes.setdefault(path, {})[kind[1:]] = value
    root = nodes.pop("", {})
    children: dict[str, list[str]] = {}
    for path in nodes:
        parent, _, name = path.rpartition("/")
        children.setdefault(parent, []).append(name)
    nodes[""] = root
    meta = GroupMetadata(attributes=root.get("zattrs", {}), zarr_format=2,
                         consolidated_metadata=ConsolidatedMetadata(
                             metadata=_LazyChildren("", nodes, children)))
    return ConsolidatedGroup(AsyncGroup(metadata=meta, store_path=StorePath(store, "")))

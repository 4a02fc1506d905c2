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
from typing import Any, Protocol, runtime_checkable

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


@runtime_checkable
class Hierarchy(Protocol):
    """Nodes' metadata by path: a ``.zmetadata`` document, or references translated as they
    are read (:class:`intake_nwb.refs.live.LiveReferences`)."""

    def node(self, path: str) -> Mapping[str, Any]:
        """``{"zgroup"|"zarray": ..., "zattrs": ...}`` of the node at ``path`` (KeyError if
        there is none)."""

    def children(self, path: str) -> list[str]:
        """The names of the nodes in the group at ``path``."""


class _Consolidated:
    """The hierarchy of a ``.zmetadata`` document."""

    def __init__(self, zmetadata: Mapping[str, Any]):
        self._nodes: dict[str, dict[str, Any]] = {}
        for key, value in (zmetadata.get("metadata") or {}).items():
            path, _, kind = key.rpartition("/")
            if kind in (".zarray", ".zattrs", ".zgroup"):
                self._nodes.setdefault(path, {})[kind[1:]] = value
        self._children: dict[str, list[str]] = {}
        for path in self._nodes:
            if path:
                parent, _, name = path.rpartition("/")
                self._children.setdefault(parent, []).append(name)
        self._nodes.setdefault("", {})

    def node(self, path: str) -> Mapping[str, Any]:
        return self._nodes[path]

    def children(self, path: str) -> list[str]:
        return self._children.get(path, [])


class _LazyChildren(dict):  # type: ignore[type-arg]
    """A group's children in consolidated metadata, each parsed when first looked up.

    zarr reads children with ``[name]`` and lists them by iterating keys; every way of reading
    a value goes through :meth:`__getitem__`, so nothing sees an unparsed document.
    """

    def __init__(self, prefix: str, hierarchy: Hierarchy):
        super().__init__(dict.fromkeys(hierarchy.children(prefix)))
        self._prefix = prefix
        self._hierarchy = hierarchy

    def __getitem__(self, name: str) -> Any:
        value = super().__getitem__(name)
        if value is None:
            path = f"{self._prefix}/{name}" if self._prefix else name
            try:
                value = _metadata(path, self._hierarchy)
            except KeyError:  # listed, then found not representable (live references)
                del self[name]
                raise
            super().__setitem__(name, value)
        return value

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default

    def items(self) -> Iterator[tuple[str, Any]]:  # type: ignore[override]
        for name in list(self):
            value = self.get(name)
            if value is not None:
                yield name, value

    def values(self) -> Iterator[Any]:  # type: ignore[override]
        return (value for _, value in self.items())


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


def _metadata(path: str, hierarchy: Hierarchy) -> ArrayV2Metadata | GroupMetadata:
    node = hierarchy.node(path)
    attrs = node.get("zattrs", {})
    if "zarray" in node:
        return _array_metadata(node["zarray"], attrs)
    return GroupMetadata(attributes=attrs, zarr_format=2, consolidated_metadata=(
        ConsolidatedMetadata(metadata=_LazyChildren(path, hierarchy))))


def lazy_group(store: Any, metadata: Mapping[str, Any] | Hierarchy) -> zarr.Group:
    """The root group over ``store`` of a ``.zmetadata`` document (zarr v2 consolidated
    metadata) or of a :class:`Hierarchy`, each node's metadata parsed on first use."""
    hierarchy = metadata if isinstance(metadata, Hierarchy) else _Consolidated(metadata)
    meta = _metadata("", hierarchy)
    assert isinstance(meta, GroupMetadata)
    return ConsolidatedGroup(AsyncGroup(metadata=meta, store_path=StorePath(store, "")))

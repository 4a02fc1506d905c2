"""An NWB file over a zarr group: typed objects, links, scalar fields."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import Any

import numpy as np
import zarr

from .. import conventions as cv
from ..errors import IntakeNWBError
from ..store import NWBStore, read_inlined
from ..util.memo import cached_property
from .types import TypeHierarchy, neurodata_type, scalar_attr


class NWBReader:
    """Read-only NWB semantics over an :class:`~intake_nwb.store.NWBStore`.

    Everything here reads metadata only (attributes, consolidated in reference files); data is
    read by the table and TimeSeries readers built on it.
    """

    def __init__(self, store: NWBStore):
        self.store = store
        self.group = store.group
        self._nodes: dict[str, zarr.Group | zarr.Array] = {}

    @property
    def source(self) -> str:
        return self.store.source

    @cached_property
    def types(self) -> TypeHierarchy:
        return TypeHierarchy.from_group(self.group, lambda a: read_inlined(self.store, a))

    @cached_property
    def objects(self) -> dict[str, str]:
        """Path -> neurodata type of every typed group and dataset (specifications excluded)."""
        out: dict[str, str] = {}
        for name, node in self.group.members(max_depth=None):
            if name.startswith("specifications"):
                continue
            ndtype = neurodata_type(node.attrs)
            if ndtype:
                out["/" + name] = ndtype
        return dict(sorted(out.items()))

    def paths_of(self, base: str, *, groups_only: bool = True) -> list[str]:
        """Paths of the objects whose type is ``base`` or extends it."""
        return [p for p, t in self.objects.items()
                if self.types.is_a(t, base) and (not groups_only or self.is_group(p))]

    @cached_property
    def tables(self) -> list[str]:
        return self.paths_of("DynamicTable")

    @cached_property
    def timeseries(self) -> list[str]:
        return self.paths_of("TimeSeries")

    def is_group(self, path: str) -> bool:
        return isinstance(self.node(path), zarr.Group)

    def node(self, path: str) -> zarr.Group | zarr.Array:
        """The node at ``path``, following ``zarr_link`` entries (soft links) on the way."""
        path = "/" + path.strip("/")
        if path == "/":
            return self.group
        cached = self._nodes.get(path)
        if cached is not None:
            return cached
        try:  # the common case, one lookup; links need the walk below
            node = self.group[path.lstrip("/")]
        except KeyError:
            node = self._walk(path)
        self._nodes[path] = node
        return node

    def _walk(self, path: str) -> zarr.Group | zarr.Array:
        parts = path.strip("/").split("/")
        current = ""
        for depth, part in enumerate(parts):
            parent = self.group[current] if current else self.group
            if part in _member_names(parent):
                current = posixpath.join(current, part) if current else part
                continue
            target = self._link_target(parent, part)
            if target is None:
                raise KeyError(path)
            rest = parts[depth + 1:]
            return self.node(posixpath.join(target, *rest) if rest else target)
        return self.group[current]

    def _link_target(self, parent: zarr.Group, name: str) -> str | None:
        for link in parent.attrs.get(cv.ZARR_LINK, []) or []:
            if link.get("name") == name:
                if link.get("source", ".") not in (".", "", None):
                    raise IntakeNWBError(f"external link to {link.get('source')} is not followed",
                                         source=self.source, path=f"{parent.path}/{name}")
                return link["path"]
        return None

    def typed_group(self, path: str, accept: Callable[[str], bool],
                    listing: Callable[[], list[str]], error: type[IntakeNWBError], what: str
                    ) -> zarr.Group:
        """The group at ``path`` if ``accept(path)``, else ``error`` listing what exists (the
        listing walks the whole file, so only on failure)."""
        try:
            group = self.node(path)
        except KeyError:
            group = None
        if not isinstance(group, zarr.Group) or not accept(path):
            raise error(f"no {what} at {path}; {what} in this file: "
                        f"{', '.join(listing()) or 'none'}", source=self.source, path=path)
        return group

    def has(self, path: str) -> bool:
        try:
            self.node(path)
            return True
        except KeyError:
            return False

    def attrs(self, path: str) -> dict[str, Any]:
        return {k: scalar_attr(v) for k, v in self.node(path).attrs.items()}

    def type_of(self, path: str) -> str | None:
        return neurodata_type(self.node(path).attrs)

    def value(self, path: str, default: Any = None) -> Any:
        """A small dataset's value: scalars unwrapped, strings decoded, arrays as lists."""
        try:
            node = self.node(path)
        except KeyError:
            return default
        if not isinstance(node, zarr.Array):
            return default
        data = read_inlined(self.store, node)
        if data is None:
            data = node[...]
        if node.attrs.get(cv.ZARR_DTYPE) == cv.SCALAR or node.shape == ():
            return _py(np.asarray(data).reshape(-1)[0])
        return [_py(v) for v in np.asarray(data).ravel()]

    def __repr__(self) -> str:
        return f"NWBReader({self.source!r})"


def _member_names(group: zarr.Group) -> set[str]:
    consolidated = group.metadata.consolidated_metadata
    if consolidated is not None:  # the names, without making a node of every member
        return set(consolidated.metadata)
    return set(group.keys())


def _py(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return value.item()
    return value

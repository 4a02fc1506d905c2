"""Reopening a store in another process: a picklable :class:`StoreSpec`, memoised per process.

Dask graphs hold specs, never open files, zarr groups or event loops; each worker process opens
a store the first time a task needs it. Memos are keyed by the process id too: a forked child
must not reuse its parent's event loop.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import zarr

from ..util.lru import LRU
from .open import CacheMode, NWBStore, open_refs, open_store


@dataclass(frozen=True)
class StoreSpec:
    """What it takes to reopen an NWB file's store in another process (picklable, hashable)."""

    kind: str  # "refs" | "zarr"
    target: str  # reference file, or the Zarr store's URL
    source: str  # the NWB file's URL
    cache: str | None = None
    cache_dir: str | None = None
    relocate: tuple[tuple[str, str], ...] = ()
    options_key: str = "{}"
    storage_options: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def of(cls, store: NWBStore, storage_options: Mapping[str, Any] | None = None,
           cache: CacheMode = None, cache_dir: str | os.PathLike[str] | None = None
           ) -> StoreSpec:
        opts = dict(storage_options or {})
        recorded = store.meta.get("source")
        # a store opened with relocated URLs reads its source from where it was relocated to
        relocate = ((recorded, store.source),) if recorded and recorded != store.source else ()
        return cls(kind=store.kind, target=store.target, source=store.source, cache=cache,
                   cache_dir=None if cache_dir is None else os.fspath(cache_dir),
                   relocate=relocate,
                   options_key=json.dumps(opts, sort_keys=True, default=repr),
                   storage_options=opts)

    def open(self) -> NWBStore:
        if self.kind == "refs":
            return open_refs(self.target, storage_options=self.storage_options,
                             check_stale=False, relocate=dict(self.relocate),
                             cache=self.cache, cache_dir=self.cache_dir)  # type: ignore[arg-type]
        return open_store(self.target, storage_options=self.storage_options,
                          cache=self.cache, cache_dir=self.cache_dir)  # type: ignore[arg-type]


_stores: LRU[NWBStore] = LRU(max_items=32)
_arrays: LRU[zarr.Array] = LRU(max_items=256)


def remember(spec: StoreSpec, store: NWBStore) -> None:
    """Let this process reuse ``store`` (already open) for ``spec``."""
    _stores.put((spec, os.getpid()), store)


def store_for(spec: StoreSpec) -> NWBStore:
    """The store of ``spec`` in this process, opened on first use.

    Keyed on the process id too: a forked child must not reuse its parent's event loop.
    """
    key = (spec, os.getpid())
    store = _stores.get(key)
    if store is None:
        store = spec.open()
        _stores.put(key, store)
    return store


def zarr_array(spec: StoreSpec, path: str) -> zarr.Array:
    """The array at ``path`` of the store ``spec`` describes, in this process."""
    key = (spec, path, os.getpid())
    arr = _arrays.get(key)
    if arr is None:
        arr = store_for(spec).group[path.strip("/")]
        assert isinstance(arr, zarr.Array)
        _arrays.put(key, arr)
    return arr

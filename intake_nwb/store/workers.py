"""Reopening a store in another process, through xarray's :class:`CachingFileManager`.

Lazy arrays (xarray backend arrays, dask graphs) hold a file manager, never an open file, zarr
group or event loop: pickled, the manager carries a small :class:`StoreSpec`, and each process
opens the store the first time a read needs it (kept in xarray's per-process LRU of open files,
``xr.set_options(file_cache_maxsize=...)``). An :class:`OpenStore` also checks the process id:
a forked child must not reuse its parent's event loop.

Examples
--------
>>> import pickle
>>> spec = StoreSpec.of(open_store("session.nwb"))
>>> manager = pickle.loads(pickle.dumps(manager_for(spec)))  # as a worker process gets it
>>> manager.acquire().array("/acquisition/lfp/data").shape  # opened on first use
(300000, 4)
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import zarr

from ..sources import Source
from ..util.lru import LRU
from .mmap import MappedArray, map_array
from .open import CacheMode, NWBStore, open_live, open_refs, open_store

if TYPE_CHECKING:
    from xarray.backends import CachingFileManager

# managers of the same spec share one open store per process (xarray keys its cache on this)
_MANAGER_ID = "intake_nwb"


@dataclass(frozen=True)
class StoreSpec:
    """What it takes to reopen an NWB file's store in another process (picklable, hashable)."""

    kind: str  # "refs" | "live" (references translated as read) | "zarr"
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
        kind = "live" if store.meta.get("live") else store.kind
        return cls(kind=kind, target=store.target, source=store.source, cache=cache,
                   cache_dir=None if cache_dir is None else os.fspath(cache_dir),
                   relocate=relocate,
                   options_key=json.dumps(opts, sort_keys=True, default=repr),
                   storage_options=opts)

    def open(self) -> NWBStore:
        if self.kind == "live":  # translated as read again (None: it is no HDF5 file now)
            live = open_live(Source.from_url(self.source, self.storage_options),
                             self.cache, self.cache_dir)  # type: ignore[arg-type]
            if live is not None:
                return live
        if self.kind == "refs":
            return open_refs(self.target, storage_options=self.storage_options,
                             check_stale=False, relocate=dict(self.relocate),
                             cache=self.cache, cache_dir=self.cache_dir)  # type: ignore[arg-type]
        return open_store(self.target, storage_options=self.storage_options,
                          cache=self.cache, cache_dir=self.cache_dir)  # type: ignore[arg-type]


# stores this process opened lately: a file manager closed when its last array went (a dask
# task done) reopens its spec without parsing the reference set again
_recent: LRU[NWBStore] = LRU(max_items=32)


def _store_here(spec: StoreSpec) -> NWBStore:
    key = (spec, os.getpid())  # a forked child must not use its parent's event loop
    store = _recent.get(key)
    if store is None:
        store = spec.open()
        _recent.put(key, store)
    return store


class OpenStore:
    """A store open in this process, as xarray's file manager holds it: arrays looked up once,
    local uncompressed arrays memory-mapped once (:mod:`intake_nwb.store.mmap`)."""

    def __init__(self, spec: StoreSpec, store: NWBStore):
        self.spec = spec
        self._store = store
        self._pid = os.getpid()
        self._arrays: dict[str, zarr.Array] = {}
        self._mapped: dict[str, MappedArray | None] = {}
        self._lock = threading.Lock()

    @property
    def store(self) -> NWBStore:
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's store is not ours to use
                self._store = _store_here(self.spec)
                self._pid = os.getpid()
                self._arrays.clear()
                self._mapped.clear()
            return self._store

    def adopt(self, store: NWBStore) -> None:
        """Read through ``store`` (the same file, opened again) from now on."""
        with self._lock:
            if store is not self._store:
                self._store, self._pid = store, os.getpid()
                self._arrays.clear()
                self._mapped.clear()

    def array(self, path: str) -> zarr.Array:
        """The array at ``path`` (the real path: links already followed)."""
        store = self.store
        arr = self._arrays.get(path)
        if arr is None:
            arr = store.group[path.strip("/")]
            if not isinstance(arr, zarr.Array):
                raise KeyError(f"{path} is not an array in {store.source}")
            self._arrays[path] = arr
        return arr

    def mapped(self, path: str) -> MappedArray | None:
        """The array at ``path`` memory-mapped, or None when it cannot be (see
        :func:`~intake_nwb.store.mmap.map_array`)."""
        store = self.store  # first: a forked child reopens it and forgets its parent's maps
        if path not in self._mapped:
            self._mapped[path] = map_array(store, self.array(path))
        return self._mapped[path]

    def close(self) -> None:
        # no OS handle to release: the store stays in the recent stores, the memory maps go
        # with their last view
        self._arrays.clear()
        self._mapped.clear()

    def __repr__(self) -> str:
        return f"OpenStore({self.spec.source!r})"


def _open(spec: StoreSpec, mode: str = "r") -> OpenStore:
    # mode: the file manager's (read-only here)
    return OpenStore(spec, _store_here(spec))


def manager_for(spec: StoreSpec, store: NWBStore | None = None) -> CachingFileManager:
    """A picklable file manager of ``spec``'s store; ``store`` (already open here) is reused.

    Managers of equal specs share one :class:`OpenStore` per process, closed when the last
    manager referring to it is garbage collected or xarray's file cache evicts it.
    """
    from xarray.backends import CachingFileManager  # only lazy arrays need xarray

    manager = CachingFileManager(_open, spec, mode="r", manager_id=_MANAGER_ID)
    if store is not None:
        remember(spec, store)
        manager.acquire().adopt(store)  # this one, with its chunk cache, from now on
    return manager


def remember(spec: StoreSpec, store: NWBStore) -> None:
    """Let managers of ``spec`` opened in this process reuse ``store`` (already open)."""
    _recent.put((spec, os.getpid()), store)

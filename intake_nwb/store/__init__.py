"""Layer 3: store. An NWB source (HDF5 through its references, or Zarr) as a read-only zarr
group, with the filesystems, caches and read planning underneath.

- :mod:`.open`: :func:`open_store`, :class:`NWBStore`, staleness and relocation;
- :mod:`.filesystems`: one shared asynchronous filesystem per protocol and options;
- :mod:`.caches`: chunk caches (memory, disk) and zarr-2 metadata fixes;
- :mod:`.planning`: rows and spans of arrays in one concurrent batch (zarr internals live here);
- :mod:`.workers`: what reopens a store in another process (dask workers).
"""

from .caches import ChunkCacheStore
from .filesystems import async_filesystem, infos
from .mmap import RowReader, is_raw, layout_reader, raw_rows, read_inlined, row_reader
from .open import (
    CacheMode,
    NWBStore,
    OnStale,
    default_cache_dir,
    open_refs,
    open_store,
    open_stores,
    relocate_url,
)
from .planning import SpanRead, index_bounds, read_layout_spans, read_rows, read_spans
from .workers import OpenStore, StoreSpec, manager_for, remember

__all__ = [
    "CacheMode", "ChunkCacheStore", "NWBStore", "OnStale", "OpenStore", "RowReader", "StoreSpec",
    "async_filesystem", "default_cache_dir", "index_bounds", "infos", "is_raw", "manager_for",
    "open_refs", "open_store", "open_stores", "read_rows", "read_spans", "relocate_url",
    "SpanRead", "layout_reader", "raw_rows", "read_inlined", "read_layout_spans", "remember",
    "row_reader"
]

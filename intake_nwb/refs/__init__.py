"""Layer 2: HDF5 NWB -> kerchunk reference sets, and the on-disk reference cache."""

from .cache import default_refs_dir, read_meta
from .index import index, index_one
from .translate import DEFAULT_INLINE_THRESHOLD, DEFAULT_SUBCHUNK_BYTES

__all__ = ["DEFAULT_INLINE_THRESHOLD", "DEFAULT_SUBCHUNK_BYTES", "default_refs_dir", "index",
           "index_one", "read_meta"]

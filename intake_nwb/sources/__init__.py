"""Layer 1: sources. A path or URL (plus storage options) becomes a :class:`Source`: its fsspec
filesystem, its kind (HDF5, Zarr NWB, reference file) and its identity."""

from .http import fs_options
from .identity import file_identity, identity_matches
from .source import HEAD_BYTES, REFS_JSON_SUFFIXES, Source, expand, expand_one

__all__ = ["HEAD_BYTES", "REFS_JSON_SUFFIXES", "Source", "expand", "expand_one", "file_identity",
           "fs_options", "identity_matches"]

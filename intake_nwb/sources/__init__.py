"""Layer 1: sources. A path or URL (plus storage options) becomes a :class:`Source`: its fsspec
filesystem, its kind (HDF5, Zarr NWB, reference file) and its identity."""

import contextlib

import fsspec

from .http import fs_options
from .identity import file_identity, identity_matches
from .source import (
    HEAD_BYTES,
    REFS_JSON_SUFFIXES,
    Source,
    expand,
    expand_one,
    identities,
    per_file,
    read_workers,
)

__all__ = ["HEAD_BYTES", "REFS_JSON_SUFFIXES", "Source", "expand", "expand_one", "file_identity",
           "fs_options", "identities", "identity_matches", "per_file", "read_workers"]

# dandi:// without reinstalling (installed copies declare it as an fsspec.specs entry point);
# a "dandi" implementation known before (dandifs) is left alone
with contextlib.suppress(ValueError):
    fsspec.register_implementation("dandi", "intake_nwb.sources.dandi.DandiFileSystem",
                                   clobber=False)

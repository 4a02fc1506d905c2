"""HDF5 filter pipelines as numcodecs configurations.

Only filters whose codec decodes HDF5's bytes exactly are mapped (numcodecs', and h5py's LZF
through :mod:`.lzf`); a pipeline with anything else returns ``None`` and the translator inlines
that dataset's decoded values instead (small datasets only).
"""

from __future__ import annotations

from typing import Any

import h5py

from . import lzf  # noqa: F401 - registers the LZF codec

# HDF5 filter ids (H5Zpublic.h and the registered-filter list)
DEFLATE, SHUFFLE, FLETCHER32, SZIP, NBIT, SCALEOFFSET = 1, 2, 3, 4, 5, 6
LZF, BLOSC, BZIP2, LZ4, ZSTD = 32000, 32001, 307, 32004, 32015
_BLOSC_COMPRESSORS = {0: "blosclz", 1: "lz4", 2: "lz4hc", 3: "snappy", 4: "zlib", 5: "zstd"}


def filter_pipeline(dcpl: h5py.h5p.PropDCID) -> list[tuple[int, tuple[int, ...], str]]:
    """``(filter id, client values, name)`` of each filter, in the order HDF5 applies them."""
    out = []
    for i in range(dcpl.get_nfilters()):
        fid, _flags, values, name = dcpl.get_filter(i)
        out.append((int(fid), tuple(int(v) for v in values),
                    name.decode() if isinstance(name, bytes) else str(name)))
    return out


def to_numcodecs(pipeline: list[tuple[int, tuple[int, ...], str]], itemsize: int,
                 chunk_bytes: int) -> list[dict[str, Any]] | None:
    """Zarr v2 ``filters`` (decode runs in reverse, as HDF5 does) or None if not decodable.

    ``chunk_bytes``: a chunk's decoded size (LZF's bound).
    """
    codecs: list[dict[str, Any]] = []
    for fid, values, _name in pipeline:
        if fid == DEFLATE:
            codecs.append({"id": "zlib", "level": values[0] if values else 4})
        elif fid == SHUFFLE:
            codecs.append({"id": "shuffle", "elementsize": itemsize})
        elif fid == FLETCHER32:
            codecs.append({"id": "fletcher32"})
        elif fid == ZSTD:
            codecs.append({"id": "zstd", "level": values[0] if values else 1})
        elif fid == LZF:
            codecs.append({"id": "intake_nwb.lzf", "size": chunk_bytes})
        elif fid == BZIP2:
            codecs.append({"id": "bz2", "level": values[0] if values else 9})
        elif fid == BLOSC and len(values) >= 7:
            # hdf5-blosc writes complete blosc frames: numcodecs' Blosc reads them as they are
            codecs.append({"id": "blosc", "cname": _BLOSC_COMPRESSORS.get(values[6], "blosclz"),
                           "clevel": values[4], "shuffle": values[5], "blocksize": 0})
        else:
            return None
    return codecs


def describe(pipeline: list[tuple[int, tuple[int, ...], str]]) -> str:
    return ", ".join(f"{name or fid}" for fid, _, name in pipeline) or "none"

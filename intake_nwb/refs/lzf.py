"""h5py's LZF filter (HDF5 filter 32000) as a numcodecs codec, so LZF chunks are referenced and
decoded when read instead of decoded at indexing time and inlined whole.

numcodecs has no LZF codec. The format (liblzf) is a sequence of literal runs and back
references; decoding is a short loop, bounded by the chunk's decoded size (``size`` in the
codec configuration, or the ``out`` buffer): a stream that decodes to more is refused, never
allocated. Registered with numcodecs on import (``intake_nwb.refs`` imports it).
"""

from __future__ import annotations

from typing import Any

import numcodecs
import numpy as np
from numcodecs.abc import Codec
from numcodecs.compat import ensure_bytes, ndarray_copy


class LZF(Codec):  # type: ignore[misc]
    """Decode-only LZF: ``size`` is the decoded chunk's byte count (and the bound)."""

    codec_id = "intake_nwb.lzf"

    def __init__(self, size: int):
        self.size = int(size)

    def encode(self, buf: Any) -> bytes:
        raise NotImplementedError("intake_nwb.lzf decodes LZF chunks of HDF5 files only")

    def decode(self, buf: Any, out: Any = None) -> Any:
        limit = self.size if out is None else np.asarray(out).nbytes
        data = decompress(ensure_bytes(buf), limit)
        return data if out is None else ndarray_copy(data, out)


def decompress(data: bytes, limit: int) -> bytes:
    """liblzf's ``lzf_decompress``: at most ``limit`` bytes out, else :class:`ValueError`."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        ctrl = data[i]
        i += 1
        if ctrl < 32:  # a literal run of ctrl + 1 bytes
            length = ctrl + 1
            if i + length > n:
                raise ValueError("LZF literal run past the end of the data")
            out += data[i:i + length]
            i += length
        else:  # a back reference: length in the high bits, distance in the low bits + 1 byte
            length = ctrl >> 5
            if length == 7:
                if i >= n:
                    raise ValueError("LZF back reference cut short")
                length += data[i]
                i += 1
            if i >= n:
                raise ValueError("LZF back reference cut short")
            ref = len(out) - ((ctrl & 0x1F) << 8) - data[i] - 1
            i += 1
            length += 2
            if ref < 0:
                raise ValueError("LZF back reference before the start of the data")
            if ref + length <= len(out):
                out += out[ref:ref + length]
            else:  # overlapping: the run repeats with the distance as its period
                period = out[ref:]
                out += (period * (length // len(period) + 1))[:length]
        if len(out) > limit:
            raise ValueError(f"LZF data decodes to more than the {limit} bytes declared")
    return bytes(out)


numcodecs.register_codec(LZF)

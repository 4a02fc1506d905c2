"""The last sub-chunk of a dataset that ends its file, referenced at its true length.

Large contiguous datasets are referenced in sub-chunks of whole rows; zarr's chunk grid is
regular, so the last sub-chunk usually extends past the dataset. Where bytes follow the dataset
in the file, they are read and zarr drops the rows past the end; where the dataset ends the
file there is nothing to read. Such an array gets the filter ``intake_nwb.pad``: every chunk
is referenced whole (``size`` bytes) except the last, referenced at its true length (``tail``
bytes) and padded to ``size`` when decoded; the padding lies past the array's shape, so no value
of it is ever read. Before, that sub-chunk was read at indexing and inlined (megabytes of JSON
per file). Any other length is refused: padding never stands in for missing data.
"""

from __future__ import annotations

from typing import Any

import numcodecs
import numpy as np
from numcodecs.abc import Codec
from numcodecs.compat import ensure_bytes, ndarray_copy

CODEC_ID = "intake_nwb.pad"


class Pad(Codec):  # type: ignore[misc]
    """Decode-only: a chunk of ``size`` bytes as it is, the last one (``tail`` bytes) padded."""

    codec_id = CODEC_ID

    def __init__(self, size: int, tail: int):
        self.size, self.tail = int(size), int(tail)

    def encode(self, buf: Any) -> bytes:
        raise NotImplementedError("intake_nwb.pad decodes references of HDF5 files only")

    def decode(self, buf: Any, out: Any = None) -> Any:
        raw = ensure_bytes(buf)
        if len(raw) == self.tail < self.size:
            raw = raw + bytes(self.size - self.tail)
        elif len(raw) != self.size:
            raise ValueError(f"a chunk of {len(raw)} bytes: padded chunks are {self.size} "
                             f"bytes, or {self.tail} for the last")
        return raw if out is None else ndarray_copy(np.frombuffer(raw, np.uint8), out)


def pad_filter(filters: Any) -> dict[str, Any] | None:
    """The pad filter of an array's v2 ``filters`` when it is the only one, else None."""
    if isinstance(filters, (list, tuple)) and len(filters) == 1 and isinstance(filters[0], dict) \
            and filters[0].get("id") == CODEC_ID:
        return filters[0]
    return None


numcodecs.register_codec(Pad)

"""Decoding bounded by what a chunk declares, and read failures that name file and chunk.

zarr decodes a v2 chunk with numcodecs, which trusts the bytes: a 1 MB zlib stream inflates to
1 GB whatever the chunk declares, a vlen header claims any item count, a blosc or zstd header any
size. For the stores of this package (wrapped in :class:`SourceStore`) zarr's codec pipeline is
replaced by :class:`BoundedCodecPipeline`, which

- refuses a chunk whose declared decoded size exceeds ``config.max_chunk_bytes`` before any byte
  is fetched;
- decodes each codec with its output bounded by the chunk's declared size (zlib, gzip and bz2
  incrementally; blosc, zstd, lz4 and LZF by their headers; vlen codecs by their item count),
  and refuses codecs it cannot bound;
- turns any failure (fetch, decode, a bound) into an :class:`IntakeNWBError` naming the source
  file and the chunk key (``/units/spike_times/3``), from every entry point that reads arrays.

Arrays of other zarr stores in the process decode exactly as zarr's own pipeline does.
"""

from __future__ import annotations

import asyncio
import bz2
import math
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import zarr
from numcodecs.compat import ensure_bytes, ensure_ndarray_like
from zarr.codecs._v2 import V2Codec
from zarr.core.codec_pipeline import BatchedCodecPipeline
from zarr.core.metadata import ArrayV2Metadata
from zarr.registry import get_ndbuffer_class, register_pipeline
from zarr.storage import WrapperStore

from ..config import config
from ..errors import DecodeError, IntakeNWBError, LimitExceededError, RemoteIOError
from ..refs import lzf, pad

#: codecs whose output is about the size of their input (or smaller): no bound needed
_SIZE_PRESERVING = frozenset({
    "shuffle", "fletcher32", "delta", "astype", "fixedscaleoffset", "quantize", "bitround",
    "packbits", "categorize", "crc32", "adler32", "crc32c", "json2", "msgpack2", "pickle"})
_VLEN = frozenset({"vlen-utf8", "vlen-bytes", "vlen-array"})


class SourceStore(WrapperStore):  # type: ignore[type-arg]
    """The outermost store of an NWB file: names ``source`` and the key in read failures and
    marks its arrays for :class:`BoundedCodecPipeline`."""

    def __init__(self, store: Any, source: str):
        super().__init__(store)
        self.nwb_source = source

    async def get(self, key: str, prototype: Any, byte_range: Any = None) -> Any:
        try:
            return await self._store.get(key, prototype, byte_range)
        except Exception as exc:  # noqa: BLE001 - every failure names the file and the key
            raise named(exc, self.nwb_source, key, "cannot read") from exc


def named(exc: BaseException, source: str, key: str, doing: str) -> IntakeNWBError:
    """``exc`` as an :class:`IntakeNWBError` naming ``source`` and the chunk ``key``.

    Errors that already name a file stay as they are; a :class:`RemoteIOError` anywhere in the
    chain (the URL and byte range that failed) stays one, with its URL in the message.
    """
    path = "/" + key.lstrip("/")
    if isinstance(exc, IntakeNWBError) and exc.source is not None:
        return exc
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, RemoteIOError):
            return RemoteIOError(f"{cause.message} ({cause.source})", source=source, path=path)
        cause = cause.__cause__ or cause.__context__
    return IntakeNWBError(f"{doing} chunk: {type(exc).__name__}: {exc}", source=source, path=path)


def source_of(byte_getter: Any) -> str | None:
    """The NWB file a chunk belongs to, if its store is one of ours."""
    return getattr(getattr(byte_getter, "store", None), "nwb_source", None)


@dataclass(frozen=True)
class BoundedV2Codec(V2Codec):
    """zarr's v2 codec with every decoding step bounded by the chunk's declared size."""

    async def _decode_single(self, chunk_bytes: Any, chunk_spec: Any) -> Any:
        chunk = await asyncio.to_thread(decode_chunk, self.filters, self.compressor,
                                        chunk_bytes.as_array_like(), chunk_spec.dtype,
                                        chunk_spec.shape, chunk_spec.order)
        return get_ndbuffer_class().from_ndarray_like(chunk)


def decode_chunk(filters: Any, compressor: Any, data: Any, dtype: Any, shape: tuple[int, ...],
                 order: str = "C") -> np.ndarray:
    """One v2 chunk's bytes decoded as zarr's v2 codec does, each step bounded by the chunk's
    declared size (``dtype``: zarr's data type; ``shape``: the chunk's)."""
    native = dtype.to_native_dtype()
    n_items = math.prod(shape)
    # objects and variable-length strings: their vlen/json codec is bounded by item count
    limit = None if native.kind in "OT" else n_items * native.itemsize
    for codec in ([compressor] if compressor else []) + list(reversed(filters or ())):
        data = bounded_decode(codec, data, limit, n_items)
    chunk = ensure_ndarray_like(data)
    if dtype.dtype_cls is not np.dtypes.ObjectDType:
        try:
            chunk = chunk.view(native)
        except TypeError:  # as zarr: a string dtype decoded to objects
            chunk = np.array(chunk).astype(native)
    elif chunk.dtype != object:
        raise RuntimeError("cannot read object array without object codec")
    return chunk.reshape(-1, order="A").reshape(shape, order=order)


def bounded_decode(codec: Any, data: Any, limit: int | None, n_items: int) -> Any:
    """``codec.decode(data)`` with its output bounded by ``limit`` bytes (``n_items`` for the
    vlen codecs); a codec that cannot be bounded is refused."""
    cid = codec.codec_id
    if cid in _VLEN:
        raw = ensure_bytes(data)
        if len(raw) < 4 or struct.unpack("<I", raw[:4])[0] != n_items:
            raise ValueError(f"{cid} data declares "
                             f"{struct.unpack('<I', raw[:4])[0] if len(raw) >= 4 else 0} items "
                             f"for a chunk of {n_items}")
        return codec.decode(raw)
    if cid in _SIZE_PRESERVING:
        return codec.decode(data)
    if limit is None:  # compression of an object array: bound by the input (vlen follows)
        limit = config.max_chunk_bytes
    raw = ensure_bytes(data)
    if cid in ("zlib", "gzip"):
        d = zlib.decompressobj(zlib.MAX_WBITS | (16 if cid == "gzip" else 0))
        out = d.decompress(raw, limit + 1)
        _check_size(cid, len(out), limit, more=bool(d.unconsumed_tail))
        return out
    if cid == "bz2":
        b = bz2.BZ2Decompressor()
        out = b.decompress(raw, max_length=limit + 1)
        _check_size(cid, len(out), limit, more=not b.eof and not b.needs_input)
        return out
    if cid == "intake_nwb.lzf":
        return lzf.decompress(raw, limit)
    if cid == pad.CODEC_ID:  # pads the file's last chunk to its declared size, no more
        _check_size(cid, codec.size, limit)
        return codec.decode(raw)
    if cid == "blosc":  # header: version, versionlz, flags, typesize, nbytes (uint32), ...
        _check_size(cid, struct.unpack("<I", raw[4:8])[0] if len(raw) >= 16 else 0, limit)
    elif cid == "zstd":
        _check_size(cid, _zstd_content_size(raw), limit)
    elif cid == "lz4":
        _check_size(cid, struct.unpack("<I", raw[:4])[0] if len(raw) >= 4 else 0, limit)
    else:
        raise ValueError(f"codec {cid!r} is not one intake_nwb decodes with bounded memory")
    return codec.decode(raw)


def _check_size(cid: str, size: int, limit: int, more: bool = False) -> None:
    if size > limit or more:
        raise ValueError(f"{cid} data decodes to more than the {limit:,} bytes the chunk "
                         "declares")


def _zstd_content_size(raw: bytes) -> int:
    """The decoded size a zstd frame declares (frames without one are refused)."""
    if len(raw) < 6 or raw[:4] != b"\x28\xb5\x2f\xfd":
        raise ValueError("not a zstd frame")
    fhd = raw[4]
    single = (fhd >> 5) & 1
    fcs_size = (1 if single else 0, 2, 4, 8)[fhd >> 6]
    if fcs_size == 0:
        raise ValueError("zstd frame without a content size")
    at = 5 + (0 if single else 1) + (0, 1, 2, 4)[fhd & 3]
    if len(raw) < at + fcs_size:
        raise ValueError("zstd frame header cut short")
    size = int.from_bytes(raw[at:at + fcs_size], "little")
    return size + 256 if fcs_size == 2 else size


class BoundedCodecPipeline(BatchedCodecPipeline):
    """zarr's pipeline; for arrays of a :class:`SourceStore` bounded and naming its failures."""

    @classmethod
    def from_array_metadata_and_store(cls, array_metadata: Any, store: Any) -> Any:
        if getattr(store, "nwb_source", None) is None or not isinstance(
                array_metadata, ArrayV2Metadata):
            raise NotImplementedError  # zarr then builds the usual pipeline with from_codecs
        return cls.from_codecs([BoundedV2Codec(filters=array_metadata.filters,
                                               compressor=array_metadata.compressor)])

    async def read_batch(self, batch_info: Iterable[Any], out: Any,
                         drop_axes: tuple[int, ...] = ()) -> None:
        batch = list(batch_info)
        source = source_of(batch[0][0]) if batch else None
        if source is None or not isinstance(self.array_bytes_codec, BoundedV2Codec):
            return await super().read_batch(batch, out, drop_axes)
        for byte_getter, spec, *_ in batch:
            declared = math.prod(spec.shape) * spec.dtype.to_native_dtype().itemsize
            if declared > config.max_chunk_bytes:
                raise LimitExceededError(
                    f"chunk declares {declared:,} bytes decoded, more than max_chunk_bytes "
                    f"({config.max_chunk_bytes:,}; INTAKE_NWB_MAX_CHUNK_BYTES raises it)",
                    source=source, path="/" + byte_getter.path)
        try:
            await super().read_batch(batch, out, drop_axes)
        except Exception as exc:  # noqa: BLE001 - name the file and the chunk
            key = batch[0][0].path
            if isinstance(exc, IntakeNWBError):
                raise named(exc, source, key, "cannot decode") from exc
            raise DecodeError(f"cannot decode chunk ({type(exc).__name__}: {exc})",
                              source=source, path="/" + key) from exc


register_pipeline(BoundedCodecPipeline)
_DEFAULT_PIPELINE = "zarr.core.codec_pipeline.BatchedCodecPipeline"
if zarr.config.get("codec_pipeline.path") == _DEFAULT_PIPELINE:  # a user's choice stays
    zarr.config.set({"codec_pipeline.path":
                     f"{BoundedCodecPipeline.__module__}.{BoundedCodecPipeline.__qualname__}"})

"""Memory-mapped reads of uncompressed data in local files (RosettaSciIO's lazy-loading idea).

For an array of a local HDF5 file stored as it is (no filters, no compressor; contiguous data
split in row sub-chunks, or chunks of whole rows), the reference set names each chunk's byte
range in the file. :func:`map_array` maps the file once (``mmap``, as :class:`numpy.memmap`
does) and views each chunk's range as rows, so reading a window copies just the window's bytes
from the page cache: no request, no event loop, no intermediate buffer. Before copying, the
window's pages are announced to the kernel (``madvise(MADV_WILLNEED)``), which maps them in
one go instead of one page fault per 4 KiB (a fresh 1.8 MB window: ~0.5 ms instead of 5-10 ms).
Each process maps the file itself: lazy arrays carry a store spec, never a map (see
:mod:`intake_nwb.store.workers`).

Tables read rows differently (:class:`RowReader`): by positioned reads straight into the result,
so a read across hundreds of files keeps no file's pages in the process; an array whose chunks
are all inlined in the references (metadata-sized columns, the index of a ragged column) is
read from the references from any source, local or remote. Anything else (remote bytes, Zarr
stores, compressed or channel-split chunks, a missing chunk) is read through zarr.

Examples
--------
>>> from intake_nwb.store import open_store
>>> store = open_store("session.nwb")
>>> mapped = map_array(store, store.group["acquisition/lfp/data"])
>>> mapped[1000:3500, :4].shape
(2500, 4)
"""

from __future__ import annotations

import base64
import math
import mmap
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import zarr
from zarr.core.metadata.v2 import ArrayV2Metadata

from ..errors import DecodeError, IntakeNWBError, UnsafeReferenceError
from ..refs.pad import CODEC_ID as PAD
from .decoding import decode_chunk
from .open import NWBStore


def is_raw(array: zarr.Array) -> bool:
    """True when chunks hold whole rows' bytes as they are (no filters, no compressor; or only
    the padding of a last chunk that ends its file, :mod:`intake_nwb.refs.pad`), so a row
    range is a byte range."""
    meta = array.metadata
    filters = getattr(meta, "filters", None)
    return ((not filters or (len(filters) == 1 and filters[0].codec_id == PAD))
            and getattr(meta, "compressor", None) is None
            and array.dtype.kind not in "OTU" and getattr(meta, "order", "C") == "C"
            and tuple(array.chunks[1:]) == tuple(array.shape[1:]))


@dataclass(frozen=True)
class _File:
    """A file mapped read-only, and its bytes as a numpy array (views share the map)."""

    map: mmap.mmap | None  # None: every chunk is inlined, nothing to map
    bytes: np.ndarray

    def advise(self, offset: int, length: int) -> None:
        """Ask the kernel to map ``[offset, offset + length)`` now (one call, no faults)."""
        if length <= 0 or self.map is None or not hasattr(self.map, "madvise"):
            return
        start = offset - offset % mmap.PAGESIZE
        self.map.madvise(mmap.MADV_WILLNEED, start, min(len(self.map), offset + length) - start)


# one map per file per process: chunk views share it; the least recently used go (a map's
# touched pages count in the process's memory while it lives)
_files: OrderedDict[tuple[str, int, int], _File] = OrderedDict()
_files_lock = threading.Lock()
_FILES_KEPT = 32


class MappedArray:
    """Rows of an array as views into a memory-mapped file (or inlined chunks' bytes).

    ``blocks[i]`` holds rows ``[i * chunk_rows, (i + 1) * chunk_rows)`` and starts at byte
    ``offsets[i]`` of the file (None: inlined in the references); ``whole`` is one view of every
    row when the chunks are consecutive ranges of the file (contiguous data). Indexing (axis 0:
    slice, integer or integer array; other axes: integers, slices, integer arrays, each along its
    own axis) copies the selection only.
    """

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype, chunk_rows: int,
                 blocks: list[np.ndarray], offsets: list[int | None], file: _File,
                 whole: np.ndarray | None = None):
        self.shape = shape
        self.dtype = dtype
        self.chunk_rows = chunk_rows
        self.blocks = blocks
        self.offsets = offsets
        self.file = file
        self.whole = whole
        self.row_bytes = math.prod(shape[1:]) * dtype.itemsize

    def _advise(self, c: int, lo: int, hi: int) -> None:
        offset = self.offsets[c]
        if offset is not None:
            self.file.advise(offset + lo * self.row_bytes, (hi - lo) * self.row_bytes)

    def __getitem__(self, key: Any) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        first, rest = (key[0] if key else slice(None)), key[1:]
        if isinstance(first, slice):
            start, stop, step = first.indices(self.shape[0])
            if step == 1:  # a run of rows: copy each chunk's part once
                if self.whole is not None:
                    self._advise(0, start, stop)
                    return outer_index(self.whole, key)
                out = np.empty((max(0, stop - start), *self.shape[1:]), dtype=self.dtype)
                at = start
                while at < stop:
                    c, lo = divmod(at, self.chunk_rows)
                    end = min(stop, (c + 1) * self.chunk_rows)
                    self._advise(c, lo, lo + end - at)
                    out[at - start:end - start] = self.blocks[c][lo:lo + end - at]
                    at = end
                whole_rows = all(isinstance(k, slice) and k == slice(None) for k in rest)
                return out if whole_rows else outer_index(out, (slice(None), *rest))
            rows = np.arange(start, stop, step)
        else:
            rows = np.atleast_1d(np.asarray(first, dtype=np.int64))
            rows = np.where(rows < 0, rows + self.shape[0], rows)
            if np.any((rows < 0) | (rows >= self.shape[0])):
                raise IndexError(f"row index out of range for {self.shape[0]} rows")
        picked = np.empty((len(rows), *self.shape[1:]), dtype=self.dtype)
        for i, (c, lo) in enumerate(zip(*np.divmod(rows, self.chunk_rows), strict=True)):
            picked[i] = self.blocks[c][lo]
        out = outer_index(picked, (slice(None), *rest))
        return out[0] if np.ndim(first) == 0 and not isinstance(first, slice) else out


def outer_index(a: np.ndarray, key: tuple[Any, ...]) -> np.ndarray:
    """``a[key]`` with each integer array selecting along its own axis (xarray's outer
    indexing; numpy would pair several arrays up), as a copy."""
    out = a[tuple(slice(None) if isinstance(k, np.ndarray) else k for k in key)]
    axis = 0
    for k in key:
        if isinstance(k, np.ndarray):
            out = np.take(out, k, axis=axis)
        if not isinstance(k, (int, np.integer)):
            axis += 1
    return np.array(out)


def map_array(store: NWBStore, array: zarr.Array) -> MappedArray | None:
    """``array`` as a :class:`MappedArray` if its bytes lie uncompressed in a local file the
    references name, or all in the references themselves; else None (read it through zarr)."""
    layout = _raw_layout(store, array) if array.size else None
    if layout is None:
        return None
    references, dtype, rows, nbytes, tail, base = layout
    row_shape = tuple(int(s) for s in array.shape[1:])
    shape = tuple(int(s) for s in array.shape)
    file: _File | None = None
    blocks, offsets = [], []
    for c in range(math.ceil(shape[0] / rows)):
        key = f"{base}/{array.metadata.encode_chunk_key((c, *tail))}"
        try:
            ref = references[key]
        except KeyError:
            return None  # unallocated: zarr gives the fill value
        if file is None and not isinstance(ref, (str, bytes)):  # bytes in the file: map it
            file = _map_file(store.source) if os.path.isfile(store.source) else None
            if file is None:
                return None
        block, offset = _chunk(ref, store.source, file.bytes if file else _EMPTY,
                               _lengths(array, c, nbytes))
        if block is None:
            return None
        n = min(rows, shape[0] - c * rows)
        blocks.append(block.view(dtype)[: n * math.prod(row_shape)].reshape((n, *row_shape)))
        offsets.append(offset)
    whole = None
    if file is not None and all(o is not None and o == offsets[0] + i * nbytes
                                for i, o in enumerate(offsets)):
        size = math.prod(shape) * dtype.itemsize  # within the last chunk's range
        start = offsets[0]
        assert start is not None
        whole = file.bytes[start:start + size].view(dtype).reshape(shape)
    return MappedArray(shape, dtype, rows, blocks, offsets, file or _INLINE, whole)


class RowReader:
    """Rows of a raw array read by position: ``os.preadv`` of the byte ranges a local file's
    references name straight into the result, or copies of inlined chunks. Unlike a map, it
    leaves nothing of the file in the process's memory: a table read across hundreds of files
    holds only what it selected.

    Examples
    --------
    >>> from intake_nwb.store import open_store
    >>> store = open_store("session.nwb")
    >>> reader = row_reader(store, store.group["units/spike_times"])
    >>> reader[10:13]
    array([34.67941615, 43.5548315 , 52.41284058])
    """

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype, chunk_rows: int,
                 chunks: list[tuple[int, int] | str], path: str | None,
                 references: Mapping[str, Any]):
        self.shape = shape
        self.dtype = dtype
        self.chunk_rows = chunk_rows
        self.chunks = chunks  # (offset, length) in the file, or the key of an inlined chunk
        self.path = path
        self.references = references  # inlined bytes are decoded when read, never kept twice
        self.row_bytes = math.prod(shape[1:]) * dtype.itemsize

    def __getitem__(self, key: slice) -> np.ndarray:
        start, stop, step = key.indices(self.shape[0])
        if step != 1:
            raise IndexError("rows are read as runs (step 1)")
        return self.spans(np.array([start]), np.array([max(start, stop)]))

    def spans(self, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
        """Rows ``[start, stop)`` of each span, concatenated (the file opened once)."""
        total = int((stops - starts).sum()) if len(starts) else 0
        out = np.empty((total, *self.shape[1:]), dtype=self.dtype)
        view = memoryview(out.reshape(-1).view(np.uint8))
        fd = os.open(self.path, os.O_RDONLY) if self.path else -1
        decoded_key, decoded = "", b""
        try:
            pos = 0  # bytes of out filled
            for span_start, span_stop in zip(starts.tolist(), stops.tolist(), strict=True):
                at = span_start
                while at < span_stop:
                    c, lo = divmod(at, self.chunk_rows)
                    end = min(span_stop, (c + 1) * self.chunk_rows)
                    n = (end - at) * self.row_bytes
                    chunk = self.chunks[c]
                    if isinstance(chunk, str):
                        if chunk != decoded_key:
                            decoded_key, decoded = chunk, _inline_bytes(self.references[chunk])
                        view[pos:pos + n] = decoded[lo * self.row_bytes:lo * self.row_bytes + n]
                    else:
                        offset = chunk[0] + lo * self.row_bytes
                        got = os.preadv(fd, [view[pos:pos + n]], offset)
                        if got != n:
                            raise OSError(f"short read of {self.path}: {got} of {n} bytes at "
                                          f"{offset} (a truncated file?)")
                    pos += n
                    at = end
        finally:
            if fd >= 0:
                os.close(fd)
        return out


def layout_reader(path: str, layout: Mapping[str, Any], where: str, size: int) -> RowReader:
    """A :class:`RowReader` of 1-D raw data in the file ``path`` (of ``size`` bytes) from a
    recorded layout (``dtype``, ``length``, ``chunk_rows``, ``chunks``: what
    :meth:`intake_nwb.nwb.TableReader.ragged_layout` records), checked first: a numeric dtype,
    one byte range per chunk of exactly its rows' bytes, every range inside the file.
    ``where`` names the data in errors; read it with
    :func:`intake_nwb.store.planning.read_layout_spans`."""
    try:
        dtype = np.dtype(str(layout["dtype"]))
        length, rows = int(layout["length"]), int(layout["chunk_rows"])
        chunks = [(int(o), int(n)) for o, n in layout["chunks"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise UnsafeReferenceError(f"unreadable data layout ({exc})", source=path,
                                   path=where) from exc
    want = [min(rows, length - c * rows) * dtype.itemsize for c in range(len(chunks))] \
        if rows > 0 else []
    ok = dtype.kind in "biuf" and length >= 0 and rows > 0 and \
        len(chunks) == math.ceil(length / rows) and \
        all(o >= 0 and n == w and o + n <= size for (o, n), w in zip(chunks, want, strict=True))
    if not ok:
        raise UnsafeReferenceError(f"a data layout that does not fit the file ({size} bytes)",
                                   source=path, path=where)
    return RowReader((length,), dtype, rows, list(chunks), path, {})


def row_reader(store: NWBStore, array: zarr.Array) -> RowReader | None:
    """A :class:`RowReader` of ``array`` when its bytes lie uncompressed in a local file the
    references name or in the references themselves (kept with the store), else None."""
    path = array.path
    if path not in store.views:
        store.views[path] = raw_rows(store, array, local=True)
    return store.views[path]  # type: ignore[no-any-return]


def _raw_layout(store: NWBStore, array: zarr.Array
                ) -> tuple[Mapping[str, Any], np.dtype, int, int, tuple[int, ...], str] | None:
    """For a raw numeric array of a reference store: its references, dtype, rows per chunk,
    bytes per chunk, the trailing chunk indices (all 0) and its path; else None."""
    if store.kind != "refs" or not array.ndim or array.dtype.kind not in "biufcmM" \
            or not is_raw(array):
        return None
    references = getattr(store.fs, "references", None)
    if references is None:
        return None
    dtype = np.dtype(array.dtype)
    rows = int(array.chunks[0])
    nbytes = rows * math.prod(int(s) for s in array.shape[1:]) * dtype.itemsize
    return references, dtype, rows, nbytes, (0,) * (array.ndim - 1), array.path.strip("/")


def raw_rows(store: NWBStore, array: zarr.Array, *, local: bool) -> RowReader | None:
    """``array``'s raw chunks: inlined (their keys) or byte ranges of the source, which must be
    a local file when ``local`` (a remote one's reader is a layout, for
    :func:`intake_nwb.store.planning.read_layout_spans`). None when zarr must read it."""
    layout = _raw_layout(store, array)
    if layout is None:
        return None
    references, dtype, rows, nbytes, tail, base = layout
    if local and not os.path.isfile(store.source):
        return None  # remote bytes: through zarr
    chunks: list[tuple[int, int] | str] = []
    for c in range(math.ceil(int(array.shape[0]) / rows)):
        key = f"{base}/{array.metadata.encode_chunk_key((c, *tail))}"
        try:
            ref = references[key]
        except KeyError:
            return None  # unallocated: zarr gives the fill value
        if isinstance(ref, (str, bytes)):
            if len(_inline_bytes(ref)) != nbytes:
                return None
            chunks.append(key)
        elif isinstance(ref, (list, tuple)) and len(ref) == 3 \
                and ref[0] == store.source and int(ref[2]) in _lengths(array, c, nbytes):
            chunks.append((int(ref[1]), int(ref[2])))
        else:
            return None  # not ours to read: through zarr
    shape = tuple(int(s) for s in array.shape)
    return RowReader(shape, dtype, rows, chunks,
                     store.source if any(isinstance(c, tuple) for c in chunks) else None,
                     references)


def _lengths(array: zarr.Array, c: int, nbytes: int) -> tuple[int, ...]:
    """The byte counts chunk ``c`` may be referenced with: whole, or (the last chunk of a
    padded array, one that ends its file) its rows inside the shape."""
    rows = int(array.chunks[0])
    inside = (int(array.shape[0]) - c * rows) * (nbytes // rows)
    return (nbytes, inside) if is_raw(array) and array.metadata.filters and 0 < inside < nbytes \
        else (nbytes,)


def read_inlined(store: NWBStore, array: zarr.Array) -> np.ndarray | None:
    """A one-chunk array whose chunk is inlined in the references, decoded here without the
    event loop (session fields, names, small columns: ~20 us instead of a ~0.4 ms zarr read);
    None: read it through zarr."""
    meta = array.metadata
    references = getattr(store.fs, "references", None) if store.kind == "refs" else None
    if references is None or not isinstance(meta, ArrayV2Metadata) or not array.size or \
            any(s > c for s, c in zip(array.shape, array.chunks, strict=True)):
        return None
    key = f"{array.path.strip('/')}/{meta.encode_chunk_key((0,) * array.ndim)}"
    try:
        ref = references[key]
    except KeyError:
        return None
    if not isinstance(ref, (str, bytes)):
        return None  # bytes in the file: zarr fetches them
    try:
        chunk = decode_chunk(meta.filters, meta.compressor, _inline_bytes(ref), meta.dtype,
                             tuple(meta.chunks), meta.order)
    except IntakeNWBError:
        raise
    except Exception as exc:  # noqa: BLE001 - named as zarr's reads are
        raise DecodeError(f"cannot decode chunk ({type(exc).__name__}: {exc})",
                          source=store.source, path="/" + key) from exc
    return chunk[tuple(slice(0, s) for s in array.shape)]


def _inline_bytes(ref: str | bytes) -> bytes:
    """An inlined chunk's bytes (references keep them as ``base64:`` text or as bytes)."""
    raw = ref.encode() if isinstance(ref, str) else ref
    return base64.b64decode(raw[7:]) if raw.startswith(b"base64:") else raw


_EMPTY = np.empty(0, dtype=np.uint8)
_INLINE = _File(None, _EMPTY)
_NOT_MAPPED = (None, None)


def _chunk(ref: Any, source: str, file: np.ndarray, lengths: tuple[int, ...]
           ) -> tuple[np.ndarray | None, int | None]:
    """A chunk's bytes and offset in the file: a view of the map for a range of the file, the
    bytes themselves (offset None) if inlined; (None, None) for anything else. ``lengths``:
    the byte counts the chunk may have (see :func:`_lengths`)."""
    if isinstance(ref, str):
        ref = ref.encode()
    if isinstance(ref, bytes):  # as fsspec's reference filesystem reads it
        raw = np.frombuffer(_inline_bytes(ref), dtype=np.uint8)
        return (raw, None) if len(raw) == lengths[0] else _NOT_MAPPED
    if not isinstance(ref, (list, tuple)) or len(ref) != 3 or ref[0] != source:
        return _NOT_MAPPED  # a whole-file or foreign reference: not ours to map
    offset, length = int(ref[1]), int(ref[2])
    if length not in lengths or offset < 0 or offset + length > len(file):
        return _NOT_MAPPED
    return file[offset:offset + length], offset


def _map_file(path: str) -> _File | None:
    st = os.stat(path)
    if not st.st_size:
        return None
    key = (path, st.st_ino, st.st_mtime_ns)  # a replaced file is mapped anew
    with _files_lock:
        file = _files.get(key)
        if file is None:
            for old in [k for k in _files if k[0] == path]:
                del _files[old]
            with open(path, "rb") as f:
                m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            file = _files[key] = _File(m, np.frombuffer(m, dtype=np.uint8))
            while len(_files) > _FILES_KEPT:
                _files.popitem(last=False)
        _files.move_to_end(key)
    return file

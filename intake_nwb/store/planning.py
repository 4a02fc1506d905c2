"""Read planning: rows and row spans of a zarr array, fetched in one concurrent batch.

The only module that reaches into zarr's internals (``Array.store_path``, chunk-key encoding,
``AsyncArray.getitem``), behind three functions: :func:`read_spans`, :func:`read_rows` and
:func:`index_bounds`; :func:`read_layout_spans` reads the same way from a recorded data layout
(a lab index's), without zarr. Each takes the array's
:class:`~intake_nwb.store.mmap.RowReader` when there is one (raw bytes in a local file, or
inlined): then rows are read by position or copied out of
the references, with no event-loop round trip. For other *raw* arrays (no filters, no
compressor, whole rows per chunk) a row span is a byte range, so spans are fetched
byte-exactly, after merging spans whose gaps cost little next to the bytes wanted; other arrays
are read chunk by chunk, each needed chunk once. Results are always fresh arrays, never views
pinning a larger block.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import zarr
from zarr.abc.store import RangeByteRequest
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync

from ..errors import RemoteIOError
from ..sources import Source
from .filesystems import async_filesystem
from .mmap import RowReader, is_raw


def read_spans(array: zarr.Array, starts: np.ndarray, stops: np.ndarray,
               rows_of: RowReader | None = None) -> np.ndarray:
    """Rows ``[start, stop)`` of each span along axis 0, concatenated, in one concurrent batch.

    Raw arrays are read byte-exactly (only the spans' bytes, spans separated by cheap gaps
    merged first); others chunk by chunk, each needed chunk once.
    """
    starts = np.asarray(starts, dtype=np.int64)
    stops = np.asarray(stops, dtype=np.int64)
    row_shape = array.shape[1:]
    total = int((stops - starts).sum()) if len(starts) else 0
    if total == 0:
        return np.empty((0, *row_shape), dtype=array.dtype)
    if rows_of is not None:
        return rows_of.spans(starts, stops)
    if is_raw(array):
        return sync(_read_raw_spans(array, starts, stops, total))
    return sync(_read_chunked_spans(array, starts, stops))


def read_rows(array: zarr.Array, rows: np.ndarray | None,
              rows_of: RowReader | None = None) -> np.ndarray:
    """``array[rows]`` along axis 0 (all rows for None), reading only what the rows need."""
    if rows is None:
        return rows_of[:] if rows_of is not None else array[...]
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) == 0:
        return np.empty((0, *array.shape[1:]), dtype=array.dtype)
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    uniq, inverse = np.unique(sorted_rows, return_inverse=True)
    breaks = np.flatnonzero(np.diff(uniq) != 1) + 1
    starts = uniq[np.r_[0, breaks]]
    stops = uniq[np.r_[breaks - 1, len(uniq) - 1]] + 1
    data = read_spans(array, starts, stops, rows_of)
    out = np.empty((len(rows), *data.shape[1:]), dtype=data.dtype)
    out[order] = data[inverse]
    return out


def index_bounds(index: zarr.Array, rows: np.ndarray, rows_of: RowReader | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``(starts, stops)`` into the target of each of ``rows`` of a VectorIndex (integer
    offsets), reading only the index entries those rows need (``row - 1`` and ``row``), so
    ``head(10)`` or a filter on a few rows reads a chunk, not the whole index.

    Examples
    --------
    >>> from intake_nwb.store import open_store
    >>> units = open_store("session.nwb").group["units"]
    >>> index_bounds(units["spike_times_index"], np.array([0, 5]))  # spikes of units 0 and 5
    (array([   0, 7987]), array([   96, 10207]))
    """
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    need = np.unique(np.concatenate([rows, rows[rows > 0] - 1]))
    ends = np.asarray(read_rows(index, need, rows_of)).astype(np.int64).reshape(len(need))
    stops = ends[np.searchsorted(need, rows)]
    starts = np.where(rows > 0, ends[np.searchsorted(need, np.maximum(rows - 1, 0))], 0)
    return starts, stops


#: read through the smallest gaps between spans, each at most SPAN_GAP_MAX bytes (about what
#: a request's round trip would move), while the bytes read through stay under this share of
#: the bytes wanted plus SPAN_GAP_ALLOWANCE: at most twice the selection, in few requests (a
#: remote server answers a handful of connections at a time: a filter keeping every other unit
#: of 200 files made ~20 requests a file at a share of 0.25, 17 s at 30 ms a request)
SPAN_GAP_SHARE = 1.0
SPAN_GAP_ALLOWANCE = 512 * 1024
SPAN_GAP_MAX = 128 * 1024


async def _read_raw_spans(array: zarr.Array, starts: np.ndarray, stops: np.ndarray,
                          total: int) -> np.ndarray:
    row_bytes = int(np.prod(array.shape[1:], dtype=np.int64)) * array.dtype.itemsize
    return await _merged(starts, stops, total, row_bytes,
                         lambda s, e, t: _read_raw_exact(array, s, e, t))


class SpanRead(NamedTuple):
    """Rows ``[start, stop)`` of each span of 1-D raw data laid out as ``reader`` says in
    ``source`` (``where``: the data's path inside it, for errors)."""

    reader: RowReader
    starts: np.ndarray
    stops: np.ndarray
    source: Source
    where: str


def read_layout_spans(reads: Sequence[SpanRead]) -> list[np.ndarray]:
    """The rows of each read: local files read by position, remote ones by byte ranges, all of
    them in one concurrent batch (one round of requests for a lab's files, not one a file;
    spans merged as for arrays, adjacent pieces fetched as one range)."""
    out: list[np.ndarray] = []
    remote: list[tuple[int, Callable[[], Awaitable[np.ndarray]]]] = []
    for read in reads:
        starts = np.asarray(read.starts, dtype=np.int64)
        stops = np.asarray(read.stops, dtype=np.int64)
        total = int((stops - starts).sum()) if len(starts) else 0
        reader, source = read.reader, read.source
        if total == 0:
            out.append(np.empty(0, dtype=reader.dtype))
        elif source.is_local:
            out.append(reader.spans(starts, stops))
        else:
            fs = async_filesystem(source)
            remote.append((len(out), functools.partial(
                _merged, starts, stops, total, reader.row_bytes, functools.partial(
                    _read_layout_exact, fs, source, reader, where=read.where))))
            out.append(np.empty(0, dtype=reader.dtype))  # filled below
    if remote:
        for (i, _), values in zip(remote, sync(_gather([make for _, make in remote])),
                                  strict=True):
            out[i] = values
    return out


async def _gather(makes: Sequence[Callable[[], Awaitable[np.ndarray]]]) -> list[np.ndarray]:
    return list(await asyncio.gather(*(make() for make in makes)))


async def _read_layout_exact(fs: Any, source: Source, reader: RowReader, starts: np.ndarray,
                             stops: np.ndarray, total: int, *, where: str) -> np.ndarray:
    rows, nbytes = reader.chunk_rows, reader.row_bytes
    ranges: list[list[int]] = []  # [offset in the file, bytes, offset in the result]
    at = 0
    for a, b in zip(starts.tolist(), stops.tolist(), strict=True):
        while a < b:
            c = a // rows
            end = min(b, (c + 1) * rows)
            chunk = reader.chunks[c]
            assert isinstance(chunk, tuple)  # layouts hold byte ranges only
            offset, n = chunk[0] + (a - c * rows) * nbytes, (end - a) * nbytes
            if ranges and ranges[-1][0] + ranges[-1][1] == offset:
                ranges[-1][1] += n  # the next bytes of the file, next in the result too
            else:
                ranges.append([offset, n, at])
            at, a = at + n, end
    out = np.empty(total, dtype=reader.dtype)
    view = out.view(np.uint8)

    async def fetch(offset: int, n: int, to: int) -> None:
        data = await fs._cat_file(source.fs_path, start=offset, end=offset + n)
        if len(data) != n:
            raise RemoteIOError(f"got {len(data)} of {n} bytes at {offset}", source=source.url,
                                path=where)
        view[to:to + n] = np.frombuffer(data, dtype=np.uint8)

    await asyncio.gather(*(fetch(*r) for r in ranges))
    return out


async def _merged(starts: np.ndarray, stops: np.ndarray, total: int, row_bytes: int,
                  exact: Callable[[np.ndarray, np.ndarray, int], Awaitable[np.ndarray]]
                  ) -> np.ndarray:
    """Merge spans separated by cheap gaps, read the merged spans with ``exact``, cut the
    spans out."""
    if len(starts) < 2 or np.any(starts[1:] < stops[:-1]):
        return await exact(starts, stops, total)
    gaps = (starts[1:] - stops[:-1]) * row_bytes
    budget = SPAN_GAP_SHARE * total * row_bytes + SPAN_GAP_ALLOWANCE
    order = np.argsort(gaps, kind="stable")
    n_merged = min(int(np.searchsorted(np.cumsum(gaps[order]), budget, side="right")),
                   int(np.searchsorted(gaps[order], SPAN_GAP_MAX, side="right")))
    merge = np.zeros(len(gaps), dtype=bool)
    merge[order[:n_merged]] = True
    if not merge.any():
        return await exact(starts, stops, total)
    group = np.r_[0, np.cumsum(~merge)]  # group of each span
    gstart = starts[np.r_[0, np.flatnonzero(~merge) + 1]]
    gstop = stops[np.r_[np.flatnonzero(~merge), len(stops) - 1]]
    glen = gstop - gstart
    merged = await exact(gstart, gstop, int(glen.sum()))
    goff = np.r_[0, np.cumsum(glen)[:-1]]
    at = goff[group] + (starts - gstart[group])
    idx = np.concatenate([np.arange(a, a + (b - s))
                          for a, s, b in zip(at, starts, stops, strict=True)])
    return merged[idx]


async def _read_raw_exact(array: zarr.Array, starts: np.ndarray, stops: np.ndarray,
                          total: int) -> np.ndarray:
    chunk_rows = array.chunks[0]
    row_bytes = int(np.prod(array.shape[1:], dtype=np.int64)) * array.dtype.itemsize
    tail = (0,) * (len(array.shape) - 1)
    # (chunk index, first row in chunk, stop row in chunk, output row): pieces of spans
    pieces: list[tuple[int, int, int, int]] = []
    out_row = 0
    for a, b in zip(starts.tolist(), stops.tolist(), strict=True):
        while a < b:
            c = a // chunk_rows
            end = min(b, (c + 1) * chunk_rows)
            pieces.append((c, a - c * chunk_rows, end - c * chunk_rows, out_row))
            out_row += end - a
            a = end
    prototype = default_buffer_prototype()
    out = np.empty((total, *array.shape[1:]), dtype=array.dtype)

    async def fetch(c: int, lo: int, hi: int, at: int) -> None:
        key = array.metadata.encode_chunk_key((c, *tail))
        buf = await (array.store_path / key).get(
            prototype=prototype, byte_range=RangeByteRequest(lo * row_bytes, hi * row_bytes))
        if buf is None:
            out[at:at + hi - lo] = array.fill_value
        else:
            out[at:at + hi - lo] = np.frombuffer(buf.to_bytes(), dtype=array.dtype).reshape(
                (hi - lo, *array.shape[1:]))

    await asyncio.gather(*(fetch(*p) for p in pieces))
    return out


async def _read_chunked_spans(array: zarr.Array, starts: np.ndarray, stops: np.ndarray
                              ) -> np.ndarray:
    # merge spans that share chunks into runs, read each run once, cut the spans out
    chunk_rows = array.chunks[0]
    runs: list[list[int]] = []
    for a, b in zip(starts.tolist(), stops.tolist(), strict=True):
        if runs and a // chunk_rows <= (runs[-1][1] - 1) // chunk_rows + 1 and a >= runs[-1][0]:
            runs[-1][1] = max(runs[-1][1], b)
        else:
            runs.append([a, b])
    blocks = await asyncio.gather(*(array._async_array.getitem(slice(a, b)) for a, b in runs))
    parts = []
    run_i = 0
    for a, b in zip(starts.tolist(), stops.tolist(), strict=True):
        while not (runs[run_i][0] <= a and b <= runs[run_i][1]):
            run_i += 1
        lo = runs[run_i][0]
        parts.append(blocks[run_i][a - lo:b - lo])
    return np.concatenate(parts, axis=0)

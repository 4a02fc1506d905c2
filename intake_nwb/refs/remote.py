"""Reading HDF5 metadata remotely in few requests.

h5py walks a file's metadata with hundreds of small, scattered, strictly sequential reads: each
miss costs a round trip. Metadata sits in a few clusters (the superblock and root group at the
start, object headers and heaps next to the datasets they describe, often a cluster at the end
written last); pynwb files have ~0.3-1 MB of it. HDF5MetadataCache fetches, on a miss, the
missing bytes plus REMOTE_READ_BEHIND before and REMOTE_READ_AHEAD after (4 KiB aligned, never
refetching what it holds), so a cluster costs one to three requests; reads of
REMOTE_EXACT_READ bytes or more are data (inlined datasets), fetched exactly. Measured on a
143 MB sample session: 9 GETs + 1 HEAD, 1.7 MB (fsspec's 1 MiB blockcache: 7 + 4 HEADs,
6.3 MB); see benchmarks/README.md. A small file (up to REMOTE_SMALL_FILE) with nothing known
of its layout has its first REMOTE_FIRST_READ bytes fetched in one request before h5py opens
it: its metadata are mostly there, each of the strictly sequential misses that saves costs a
round trip (a session of 1.3 MB: 7 GETs, 0.75 MB -> 1 GET, 1.0 MB), and none of that wait
holds h5py's global lock. A big file's metadata are spread across it (pynwb writes data as it
goes) and its first MiB saves no request (a 100 MB sample session: 7 GETs either way).

Files of one directory usually come from one pipeline and share their layout: after a file
is indexed, the windows its metadata came from are kept as a hint for its directory, and the
next file there fetches them all at once (concurrently) before h5py starts; what the hint
misses is read as above. While the first file of a directory is being indexed, the others
wait for its hint (at most LAYOUT_HINT_WAIT seconds): h5py reads one file at a time anyway.
"""

from __future__ import annotations

import bisect
import threading
from typing import Any

import fsspec.caching

from ..errors import IntakeNWBError
from ..sources import Source
from ..sources.inthread import in_thread
from ..util.lru import LRU

#: remote files h5py translates at once, indexed or live (their metadata are fetched before,
#: concurrently): more only queue for h5py's lock and the GIL, burning CPU, and open more
#: connections at once (50 files at 30 ms a request, a cold table read, medians of 3: 3.7 s
#: with 1 at once, 3.6 s with 2, 4.5 s with 3, 4.4-5.1 s with no limit: 16 threads)
REMOTE_TRANSLATIONS = 2
translating = threading.BoundedSemaphore(REMOTE_TRANSLATIONS)

REMOTE_READ_BEHIND = 64 * 1024
REMOTE_READ_AHEAD = 64 * 1024
REMOTE_ALIGN = 4096
REMOTE_EXACT_READ = 32 * 1024
REMOTE_FIRST_READ = 2**20
REMOTE_SMALL_FILE = 16 * 2**20
LAYOUT_HINT_MAX_BYTES = 8 * 2**20
LAYOUT_HINT_WAIT = 10.0
_LAYOUT_HINTS_KEPT = 64


class HDF5MetadataCache(fsspec.caching.BaseCache):
    """fsspec read cache for walking HDF5 metadata over the network (``cache_type`` below).

    Keeps every byte fetched (the file object lives for one indexing run; what h5py reads is
    metadata plus small inlined datasets) as non-overlapping pieces. A miss fetches the
    uncovered gap around it, widened by ``behind``/``ahead`` bytes and aligned to ``align``,
    but never into bytes already held; a read of ``exact`` bytes or more fetches just what is
    missing. ``miss_count`` counts requests, ``total_requested_bytes`` their bytes;
    ``windows`` what the windowed reads would have fetched (the layout hint for the file's
    siblings: within bytes held by :meth:`speculate`, only around what was read of them).
    """

    name = "intake_nwb_hdf5"

    def __init__(self, blocksize: int, fetcher: Any, size: int, *,
                 behind: int = REMOTE_READ_BEHIND, ahead: int = REMOTE_READ_AHEAD,
                 align: int = REMOTE_ALIGN, exact: int = REMOTE_EXACT_READ) -> None:
        super().__init__(blocksize, fetcher, size)
        self.behind, self.ahead, self.align, self.exact = behind, ahead, max(1, align), exact
        self._first_end = 0  # the end of the file's first bytes held by speculate()
        self._starts: list[int] = []
        self._pieces: list[bytes] = []
        self.windows: list[tuple[int, int]] = []

    def _window(self, start: int, stop: int, lo: int, hi: int) -> tuple[int, int]:
        """[start, stop) widened by behind/ahead and aligned, within [lo, hi)."""
        return (max(lo, (start - self.behind) // self.align * self.align),
                min(hi, -(-(stop + self.ahead) // self.align) * self.align))

    def _fetch(self, start: int | None, stop: int | None) -> bytes:
        start = 0 if start is None else start
        stop = self.size if stop is None else min(stop, self.size)
        if start >= stop:
            return b""
        if start < self._first_end and stop - start < self.exact:
            self.windows.append(self._window(start, stop, 0, self._first_end))
        fetched = False
        while (gap := self._gap(start, stop)) is not None:
            first, lo, hi = gap  # first missing byte; the uncovered run around it is [lo, hi)
            if stop - start >= self.exact:
                a, b = first, min(stop, hi)
            else:
                a, b = self._window(first, stop, lo, hi)
                self.windows.append((a, b))
            data = self.fetcher(a, b)
            if len(data) != b - a:
                raise OSError(f"short read: asked for bytes {a}-{b - 1}, got {len(data)}")
            self._insert(a, data)
            self.miss_count += 1
            self.total_requested_bytes += b - a
            fetched = True
        if not fetched:
            self.hit_count += 1
        return self._read(start, stop)

    @property
    def held_bytes(self) -> int:
        """The bytes held."""
        return sum(len(p) for p in self._pieces)

    def speculate(self, data: bytes) -> None:
        """Hold ``data``, the file's first bytes, fetched before anything was read: only what
        is read of them counts as the layout (``windows``). Nothing happens once bytes are
        held."""
        if not self._starts and data:
            self._insert(0, data)
            self._first_end = len(data)

    def seed(self, start: int, data: bytes) -> None:
        """Hold ``data`` (bytes from ``start``) unless some of them are held already."""
        end = start + len(data)
        i = bisect.bisect_right(self._starts, start) - 1
        if i >= 0 and self._starts[i] + len(self._pieces[i]) > start:
            return
        if i + 1 < len(self._starts) and self._starts[i + 1] < end:
            return
        self._insert(start, data)
        self.windows.append((start, end))

    def _insert(self, start: int, data: bytes) -> None:
        i = bisect.bisect_left(self._starts, start)
        self._starts.insert(i, start)
        self._pieces.insert(i, data)

    def _gap(self, start: int, stop: int) -> tuple[int, int, int] | None:
        i = bisect.bisect_right(self._starts, start) - 1
        pos, lo = start, 0
        if i >= 0:
            end = self._starts[i] + len(self._pieces[i])
            lo = min(end, start)
            pos = max(pos, end)
        j = i + 1
        while j < len(self._starts) and self._starts[j] <= pos:  # adjacent pieces
            pos = max(pos, self._starts[j] + len(self._pieces[j]))
            lo = pos
            j += 1
        if pos >= stop:
            return None
        if pos > start:
            lo = pos
        hi = self._starts[j] if j < len(self._starts) else self.size
        return pos, lo, hi

    def _read(self, start: int, stop: int) -> bytes:
        i = bisect.bisect_right(self._starts, start) - 1
        out = []
        pos = start
        while pos < stop:
            s = self._starts[i]
            piece = self._pieces[i]
            out.append(piece[pos - s:stop - s])
            pos = s + len(piece)
            i += 1
        return out[0] if len(out) == 1 else b"".join(out)


fsspec.caching.register_cache(HDF5MetadataCache, clobber=True)


def open_remote_hdf5(src: Source, size: int | None = None) -> Any:
    """A remote HDF5 file opened for h5py with :class:`HDF5MetadataCache`, fetching in the
    thread h5py reads it from (see :mod:`intake_nwb.sources.inthread`)."""
    fobj = src.open(cache_type=HDF5MetadataCache.name, block_size=REMOTE_READ_AHEAD, size=size)
    fobj.cache.fetcher = in_thread(src, fobj.cache.fetcher)
    return fobj


# -- layout hints: what the last file of a directory needed ---------------------------------------

_hints: LRU[list[tuple[int, int]]] = LRU(max_items=_LAYOUT_HINTS_KEPT)
_hint_leaders: dict[str, threading.Event] = {}
_hints_lock = threading.Lock()


def _hint_key(src: Source) -> str:
    return src.url.rsplit("/", 1)[0]


class LayoutHint:
    """Within ``with``: the windows to prefetch for ``src`` (waiting for a sibling's, if one is
    being indexed); on exit, what ``fobj`` fetched becomes the directory's hint."""

    def __init__(self, src: Source) -> None:
        self.key = _hint_key(src)
        self.leader: threading.Event | None = None
        self.windows: list[tuple[int, int]] = []

    def __enter__(self) -> LayoutHint:
        with _hints_lock:
            hint = _hints.get(self.key)
            wait = _hint_leaders.get(self.key) if hint is None else None
            if hint is None and wait is None:
                self.leader = _hint_leaders[self.key] = threading.Event()
        if wait is not None:
            wait.wait(LAYOUT_HINT_WAIT)
            with _hints_lock:
                hint = _hints.get(self.key)
        self.windows = list(hint or ())
        return self

    def record(self, fobj: Any) -> None:
        windows = _merge(getattr(fobj.cache, "windows", ()), REMOTE_ALIGN)
        if windows and sum(b - a for a, b in windows) <= LAYOUT_HINT_MAX_BYTES:
            _hints.put(self.key, windows)

    def __exit__(self, *exc: object) -> None:
        if self.leader is not None:
            with _hints_lock:
                _hint_leaders.pop(self.key, None)
            self.leader.set()


def _merge(windows: Any, gap: int) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for a, b in sorted(windows):
        if out and a <= out[-1][1] + gap:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def prefetch(src: Source, fobj: Any, windows: list[tuple[int, int]]) -> None:
    """Fetch ``windows`` of ``src`` concurrently into ``fobj``'s cache (best effort); with no
    windows, a small file's first REMOTE_FIRST_READ bytes. Called before h5py reads ``fobj``:
    waiting here holds no lock of h5py's."""
    size = fobj.size
    if not windows:
        if size is not None and 0 < size <= REMOTE_SMALL_FILE:
            end = min(size, REMOTE_FIRST_READ)
            try:
                data = src.fs.cat_file(src.fs_path, start=0, end=end)
            except IntakeNWBError:
                raise  # the server failed after retries, or ignored the range: named now
            except Exception:  # noqa: BLE001 - an optimisation: h5py reads what it needs
                return
            if isinstance(data, bytes) and len(data) == end:
                fobj.cache.speculate(data)
        return
    windows = [(a, min(b, size)) for a, b in windows if a < size]
    if not windows:
        return
    try:
        datas = src.fs.cat_ranges([src.fs_path] * len(windows), [a for a, _ in windows],
                                  [b for _, b in windows], on_error="return")
    except Exception:  # noqa: BLE001 - a hint is an optimisation: h5py reads what it needs
        return
    for (a, b), data in zip(windows, datas, strict=True):
        if isinstance(data, bytes) and len(data) == b - a:
            fobj.cache.seed(a, data)

"""``index()``: turn NWB sources into reference files, once, in parallel, with progress."""

from __future__ import annotations

import bisect
import concurrent.futures as cf
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import fsspec.caching

from .._version import __version__
from ..errors import Errors, IntakeNWBError, NotNWBError, SourceNotFoundError, report_failures
from ..sources import HEAD_BYTES, Source, expand, file_identity, identity_matches
from . import cache
from .translate import DEFAULT_INLINE_THRESHOLD, DEFAULT_SUBCHUNK_BYTES, Options, translate

# -- reading HDF5 metadata remotely --------------------------------------------------------------
#
# h5py walks a file's metadata with hundreds of small, scattered, strictly sequential reads: each
# miss costs a round trip. Metadata sits in a few clusters (the superblock and root group at the
# start, object headers and heaps next to the datasets they describe, often a cluster at the end
# written last); pynwb files have ~0.3-1 MB of it. HDF5MetadataCache fetches, on a miss, the
# missing bytes plus REMOTE_READ_BEHIND before and REMOTE_READ_AHEAD after (4 KiB aligned, never
# refetching what it holds), so a cluster costs one to three requests; reads of
# REMOTE_EXACT_READ bytes or more are data (inlined datasets), fetched exactly. Measured on a
# 143 MB sample session: 9 GETs + 1 HEAD, 1.7 MB (fsspec's 1 MiB blockcache: 7 + 4 HEADs,
# 6.3 MB); see benchmarks/README.md.
#
# Files of one directory usually come from one pipeline and share their layout: after a file
# is indexed, the windows its metadata came from are kept as a hint for its directory, and the
# next file there fetches them all at once (concurrently) before h5py starts; what the hint
# misses is read as above. While the first file of a directory is being indexed, the others
# wait for its hint (at most LAYOUT_HINT_WAIT seconds): h5py reads one file at a time anyway.
REMOTE_READ_BEHIND = 64 * 1024
REMOTE_READ_AHEAD = 64 * 1024
REMOTE_ALIGN = 4096
REMOTE_EXACT_READ = 32 * 1024
LAYOUT_HINT_MAX_BYTES = 8 * 2**20
LAYOUT_HINT_WAIT = 10.0
_LAYOUT_HINTS_KEPT = 64


class HDF5MetadataCache(fsspec.caching.BaseCache):
    """fsspec read cache for walking HDF5 metadata over the network (``cache_type`` below).

    Keeps every byte fetched (the file object lives for one indexing run; what h5py reads is
    metadata plus small inlined datasets) as non-overlapping pieces. A miss fetches the
    uncovered gap around it, widened by ``behind``/``ahead`` bytes and aligned to ``align``,
    but never into bytes already held; a read of ``exact`` bytes or more fetches just what is
    missing. ``miss_count`` counts requests, ``total_requested_bytes`` their bytes.
    """

    name = "intake_nwb_hdf5"

    def __init__(self, blocksize: int, fetcher: Any, size: int, *,
                 behind: int = REMOTE_READ_BEHIND, ahead: int = REMOTE_READ_AHEAD,
                 align: int = REMOTE_ALIGN, exact: int = REMOTE_EXACT_READ) -> None:
        super().__init__(blocksize, fetcher, size)
        self.behind, self.ahead, self.align, self.exact = behind, ahead, max(1, align), exact
        self._starts: list[int] = []
        self._pieces: list[bytes] = []
        self.windows: list[tuple[int, int]] = []  # what the windowed reads fetched (hints)

    def _fetch(self, start: int | None, stop: int | None) -> bytes:
        start = 0 if start is None else start
        stop = self.size if stop is None else min(stop, self.size)
        if start >= stop:
            return b""
        fetched = False
        while (gap := self._gap(start, stop)) is not None:
            first, lo, hi = gap  # first missing byte; the uncovered run around it is [lo, hi)
            if stop - start >= self.exact:
                a, b = first, min(stop, hi)
            else:
                a = max(lo, (first - self.behind) // self.align * self.align)
                b = min(hi, -(-(stop + self.ahead) // self.align) * self.align)
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


def index(sources: Any, *, refs_dir: str | os.PathLike[str] | None = None,
          storage_options: Mapping[str, Any] | None = None,
          inline_threshold: int = DEFAULT_INLINE_THRESHOLD,
          subchunk_bytes: int = DEFAULT_SUBCHUNK_BYTES,
          executor: cf.Executor | None = None, progress: bool = True,
          errors: Errors = "raise", strict: bool = False, overwrite: bool = False
          ) -> dict[str, str]:
    """Index NWB sources into kerchunk reference files; return ``{source: reference path}``.

    Parameters
    ----------
    sources:
        A path, glob, ``s3://``/``gs://``/``az://``/``http(s)://`` URL, or a list of these.
        Zarr NWB stores and existing reference files are returned as they are.
    refs_dir:
        Where reference files go; default: a per-user cache directory
        (``$INTAKE_NWB_REFS_DIR`` or platformdirs' user cache).
    storage_options:
        fsspec options for the sources (``{"anon": True}``, ``{"s3": {...}, "gs": {...}}``).
    inline_threshold:
        Datasets storing at most this many bytes are inlined in the references, so metadata and
        small columns are read with no data request.
    subchunk_bytes:
        Large contiguous datasets are split into pieces of about this size.
    executor:
        Any ``concurrent.futures.Executor`` (e.g. ``dask.distributed.Client().get_executor()``);
        default: a local pool.
    progress:
        Show a tqdm progress bar over files.
    errors:
        ``"raise"``: any failure raises (several: :class:`BatchError`), after the other files
        were indexed; ``"warn"``: failures are reported in one warning and left out of the
        result; ``"ignore"``: left out silently.
    strict:
        Raise :class:`TranslationError` for anything that cannot be represented instead of
        listing it in the reference file's metadata.
    overwrite:
        Re-index even when up-to-date references exist.

    Examples
    --------
    >>> import intake_nwb
    >>> refs = intake_nwb.index("data/*.nwb", refs_dir="refs")  # doctest: +SKIP
    >>> refs["/data/ses-1.nwb"]  # doctest: +SKIP
    'refs/ses-1.nwb.3f1c9a0b2d4e.json'
    """
    srcs = expand(sources, storage_options)
    options = Options(inline_threshold=inline_threshold, subchunk_bytes=subchunk_bytes,
                      strict=strict)
    results: dict[str, str] = {}
    failures: dict[str, BaseException] = {}
    jobs = [(s.url, s.storage_options, str(cache.ref_path(s.url, refs_dir)), options, overwrite)
            for s in srcs]
    own = executor is None
    pool = executor or _default_executor(srcs)
    try:
        futures = {pool.submit(index_one, *job): job[0] for job in jobs}
        done = cf.as_completed(futures)
        if progress and len(jobs) > 1:
            from tqdm.auto import tqdm

            done = tqdm(done, total=len(jobs), desc="indexing NWB", unit="file")
        for fut in done:
            url = futures[fut]
            try:
                results[url] = fut.result()
            except Exception as exc:  # noqa: BLE001 - collected, reported together below
                failures[url] = exc
    finally:
        if own:
            pool.shutdown(wait=True, cancel_futures=True)
    report_failures(failures, errors, "could not be indexed")
    return {s.url: results[s.url] for s in srcs if s.url in results}


def _default_executor(srcs: list[Source]) -> cf.Executor:
    # Threads work everywhere (notebooks, scripts without a __main__ guard). h5py holds a
    # global lock while it parses, but remote files' metadata windows are prefetched
    # concurrently outside it (layout hints); for thousands of files pass a process pool or a
    # dask cluster's executor.
    remote = any(not s.is_local for s in srcs)
    return cf.ThreadPoolExecutor(max_workers=min(8 if remote else 4, max(1, len(srcs))))


def index_one(url: str, storage_options: Mapping[str, Any] | None, path: str,
              options: Options | None = None, overwrite: bool = False) -> str:
    """Index one source into ``path`` (unless up to date) and return what to open.

    Zarr NWB stores and reference files are returned unchanged.
    """
    src = Source(url, dict(storage_options or {}))
    info = src.info()  # one request serves kind and identity
    target = cache.existing(Path(path))
    if (target is not None and not overwrite and info.get("type") != "directory"
            and is_current(target, url, file_identity(info))):
        return str(target)  # current references exist only for HDF5 sources: no need to look
    if src.is_local or info.get("type") == "directory" or src.is_refs_json:
        if _needs_no_references(src.kind(info), url):
            return url
        meta = translate_source(src, src.identity(info), options or Options())
    else:
        with _LayoutHint(src) as hint:
            # h5py's file object reads the signature too: one cache for both
            fobj = open_remote_hdf5(src, info.get("size"))
            try:
                _prefetch(src, fobj, hint.windows)
                if _needs_no_references(src.kind(info, head=fobj.read(HEAD_BYTES)), url):
                    return url
                meta = translate_source(src, src.identity(info), options or Options(),
                                        fobj=fobj)
                hint.record(fobj)
            finally:
                fobj.close()
    return str(cache.write(Path(path), meta.pop("_refset"), meta))


def _needs_no_references(kind: str, url: str) -> bool:
    """Zarr stores and reference files are read as they are; HDF5 needs references; anything
    else is not NWB."""
    if kind in ("zarr", "refs"):
        return True
    if kind != "hdf5":
        raise NotNWBError("not an HDF5 NWB file, a Zarr NWB store or a reference file",
                          source=url)
    return False


def open_remote_hdf5(src: Source, size: int | None = None) -> Any:
    """A remote HDF5 file opened for h5py with :class:`HDF5MetadataCache`."""
    return src.open(cache_type=HDF5MetadataCache.name, block_size=REMOTE_READ_AHEAD, size=size)


# -- layout hints: what the last file of a directory needed ---------------------------------------

_hints: OrderedDict[str, list[tuple[int, int]]] = OrderedDict()
_hint_leaders: dict[str, threading.Event] = {}
_hints_lock = threading.Lock()


def _hint_key(src: Source) -> str:
    return src.url.rsplit("/", 1)[0]


class _LayoutHint:
    """Within ``with``: the windows to prefetch for ``src`` (waiting for a sibling's, if one is
    being indexed); on exit, what ``fobj`` fetched becomes the directory's hint."""

    def __init__(self, src: Source) -> None:
        self.key = _hint_key(src)
        self.leader: threading.Event | None = None
        self.windows: list[tuple[int, int]] = []

    def __enter__(self) -> _LayoutHint:
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
            with _hints_lock:
                _hints[self.key] = windows
                _hints.move_to_end(self.key)
                while len(_hints) > _LAYOUT_HINTS_KEPT:
                    _hints.popitem(last=False)

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


def _prefetch(src: Source, fobj: Any, windows: list[tuple[int, int]]) -> None:
    """Fetch ``windows`` of ``src`` concurrently into ``fobj``'s cache (best effort)."""
    size = fobj.size
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


def is_current(path: str | os.PathLike[str], url: str, identity: Mapping[str, Any]) -> bool:
    try:
        meta = cache.read_meta(path)
    except IntakeNWBError:
        return False
    return (meta.get("layout_version") == cache.LAYOUT_VERSION and meta.get("source") == url
            and identity_matches(meta.get("identity", {}), identity))


def translate_source(src: Source, identity: Mapping[str, Any], options: Options,
                     fobj: Any = None) -> dict[str, Any]:
    """Open ``src`` with h5py, translate it; return the metadata with the refset under
    ``_refset``. ``fobj``: a remote file already open (see :func:`open_remote_hdf5`)."""
    import h5py

    size = identity.get("size")
    try:
        if src.is_local:
            h5 = h5py.File(src.url, "r")
        else:
            if fobj is None:
                fobj = open_remote_hdf5(src, size)
            fobj.seek(0)
            h5 = h5py.File(fobj, "r")
    except FileNotFoundError:
        raise SourceNotFoundError("no such file or URL", source=src.url) from None
    except OSError as exc:
        raise NotNWBError(f"cannot be opened as HDF5, truncated or corrupt ({exc})",
                          source=src.url) from None
    with h5:
        try:
            refset = translate(h5, src.url, file_size=size, options=options)
        except IntakeNWBError:
            raise
        except Exception as exc:
            raise NotNWBError(f"cannot be read as HDF5 ({type(exc).__name__}: {exc})",
                              source=src.url) from exc
    return {
        "source": src.url,
        "protocol": src.protocol,
        "identity": dict(identity),
        "intake_nwb_version": __version__,
        "layout_version": cache.LAYOUT_VERSION,
        "inline_threshold": options.inline_threshold,
        "subchunk_bytes": options.subchunk_bytes,
        "unsupported": refset["unsupported"],
        "n_chunks": refset["n_chunks"],
        "_refset": refset,
    }

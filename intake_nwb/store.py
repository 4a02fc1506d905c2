"""Layer 3: open an NWB source as a zarr group.

An HDF5 file is opened through its reference set (indexed on first use), a Zarr NWB store as
itself. Either way the result is an :class:`NWBStore`: a read-only zarr v2 group plus what the
upper layers need to plan byte-range reads (the filesystem and, for references, the chunk map).

Remote reads go through fsspec's async filesystems: zarr fetches the chunks of a selection
concurrently and the reference filesystem merges nearby ranges (``max_gap``).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures as cf
import contextlib
import hashlib
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import fsspec
import numpy as np
import zarr
from zarr.abc.store import RangeByteRequest
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync
from zarr.storage import FsspecStore, LocalStore, WrapperStore

from . import conventions  # noqa: F401 - registers the json2 object dtype with zarr
from .errors import IntakeNWBError, NotNWBError, StaleReferenceError, report_failures
from .refs import cache as refcache
from .refs.index import index_one
from .sources import Source, expand, identity_matches

OnStale = Literal["raise", "reindex", "ignore"]
CacheMode = Literal["memory", "disk"] | None
# merge byte ranges closer than this into one request (per file)
MAX_GAP = 64 * 1024
_DOC_CACHE_SIZE = 64


@dataclass
class NWBStore:
    """An NWB file opened as a zarr group.

    Attributes
    ----------
    source:
        The NWB file's URL (what users name rows by: ``_nwb_path``).
    target:
        What was opened: the reference file, or the Zarr store's URL.
    kind:
        ``"refs"`` (virtual store over an HDF5 file) or ``"zarr"``.
    group:
        The root zarr group.
    fs:
        The filesystem under ``group`` (a ``ReferenceFileSystem`` for ``"refs"``).
    meta:
        The reference file's ``intake_nwb`` block (empty for Zarr stores).
    """

    source: str
    target: str
    kind: str
    group: zarr.Group
    fs: fsspec.AbstractFileSystem
    meta: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"NWBStore({self.source!r}, kind={self.kind!r})"


class ChunkCacheStore(WrapperStore):  # type: ignore[type-arg]
    """Keeps whole chunks once read: in an LRU of ``max_bytes`` (``cache="memory"``) or as
    files under ``directory`` (``cache="disk"``, shared by processes and sessions).

    A byte-range request for a chunk not cached yet fetches the whole chunk (a few MiB at most:
    references split large contiguous data), so later reads of any part of it are free. Disk
    entries live under a namespace made of the source URL and its identity, so a changed source
    never serves old bytes; they are written to a temporary file and renamed.
    """

    def __init__(self, store: Any, *, max_bytes: int = 512 * 2**20,
                 directory: str | os.PathLike[str] | None = None, namespace: str = ""):
        super().__init__(store)
        self._max_bytes = max_bytes
        self._lru: OrderedDict[str, bytes] = OrderedDict()
        self._nbytes = 0
        self._lock = threading.Lock()
        self._dir = (Path(directory) / hashlib.sha256(namespace.encode()).hexdigest()[:24]
                     if directory is not None else None)

    async def get(self, key: str, prototype: Any, byte_range: Any = None) -> Any:
        if key.rsplit("/", 1)[-1].startswith(".z"):  # metadata: small, and read once anyway
            return await self._store.get(key, prototype, byte_range)
        raw = self._lookup(key)
        if raw is None:
            buf = await self._store.get(key, prototype, None)
            if buf is None:
                return None
            raw = buf.to_bytes()
            self._keep(key, raw)
        if byte_range is not None:
            raw = raw[byte_range.start:byte_range.end]
        return prototype.buffer.from_bytes(raw)

    def _lookup(self, key: str) -> bytes | None:
        if self._dir is None:
            with self._lock:
                if key in self._lru:
                    self._lru.move_to_end(key)
                    return self._lru[key]
            return None
        try:
            return (self._dir / key).read_bytes()
        except OSError:
            return None

    def _keep(self, key: str, raw: bytes) -> None:
        if self._dir is None:
            with self._lock:
                self._lru[key] = raw
                self._nbytes += len(raw)
                while self._nbytes > self._max_bytes and len(self._lru) > 1:
                    _, old = self._lru.popitem(last=False)
                    self._nbytes -= len(old)
            return
        target = self._dir / key
        target.parent.mkdir(parents=True, exist_ok=True)
        refcache.atomic_write(target, raw)


# -- opening -------------------------------------------------------------------------------------

def relocate_url(url: str, relocate: Mapping[str, str] | None) -> str:
    """Apply a URL prefix map (longest matching prefix wins)."""
    if not relocate:
        return url
    for old in sorted(relocate, key=len, reverse=True):
        if url.startswith(old):
            return relocate[old] + url[len(old):]
    return url



def open_store(source: str | os.PathLike[str] | Source, *,
               storage_options: Mapping[str, Any] | None = None,
               refs_dir: str | os.PathLike[str] | None = None,
               on_stale: OnStale = "raise", check_stale: bool = True,
               relocate: Mapping[str, str] | None = None, cache: CacheMode = None,
               cache_dir: str | os.PathLike[str] | None = None) -> NWBStore:
    """Open an NWB file (HDF5 or Zarr), a reference file or a Zarr NWB store as a zarr group.

    Parameters
    ----------
    source:
        NWB path/URL (HDF5 files are indexed into ``refs_dir`` on first use), reference file
        (``.json`` or kerchunk parquet directory) or Zarr NWB store.
    on_stale:
        What to do when the source changed since its references were made: ``"raise"``
        (:class:`StaleReferenceError`), ``"reindex"`` or ``"ignore"``.
    check_stale:
        Compare the source's size/ETag/mtime with the reference file's record (one HEAD).
    relocate:
        URL prefix map applied to the source URL recorded in references, e.g.
        ``{"s3://lab-bucket/": "/mnt/lab/"}``: read the same files from another place.
    cache:
        ``None`` (default: nothing kept, memory stays bounded), ``"memory"`` (chunks already
        read are kept in an LRU of bytes) or ``"disk"`` (chunks kept as files in ``cache_dir``,
        default ``<user cache>/intake-nwb/chunks``; see :class:`ChunkCacheStore`).

    Examples
    --------
    >>> store = open_store("session.nwb")  # doctest: +SKIP
    >>> store.group["units/spike_times"][:10]  # doctest: +SKIP
    """
    src = source if isinstance(source, Source) else Source.from_url(source, storage_options)
    if not src.is_refs_json:
        # index_one tells the kind (one HEAD for remote sources) and makes or checks the
        # references of an HDF5 file; Zarr stores and reference files come back as they are
        path = index_one(src.url, src.storage_options, str(refcache.ref_path(src.url, refs_dir)))
        if path != src.url:  # an HDF5 file: its current references
            return open_refs(path, storage_options=src.storage_options, on_stale=on_stale,
                             check_stale=False, relocate=relocate, cache=cache,
                             cache_dir=cache_dir)
        if src.kind() == "zarr":
            return _open_zarr(src, cache, cache_dir)
    # the options are for the data the references point at, not for the reference file
    options = storage_options if storage_options is not None else src.storage_options
    return open_refs(src.url, storage_options=options, on_stale=on_stale,
                     check_stale=check_stale, relocate=relocate, cache=cache,
                     cache_dir=cache_dir, refs_dir=refs_dir)


def open_refs(path: str | os.PathLike[str], *, storage_options: Mapping[str, Any] | None = None,
              on_stale: OnStale = "raise", check_stale: bool = True,
              relocate: Mapping[str, str] | None = None, cache: CacheMode = None,
              cache_dir: str | os.PathLike[str] | None = None,
              refs_dir: str | os.PathLike[str] | None = None) -> NWBStore:
    """Open a reference file (JSON or parquet) as an :class:`NWBStore`."""
    path = os.fspath(path)
    meta = refcache.read_meta(path)
    recorded = meta.get("source")
    source_url = relocate_url(recorded, relocate) if recorded else path
    src = Source.from_url(source_url, storage_options)
    if check_stale and recorded and on_stale != "ignore":
        identity = src.identity()
        recorded_identity = dict(meta.get("identity", {}))
        if source_url != recorded:  # relocated: ETag and mtime differ between storage systems
            recorded_identity = {"size": recorded_identity.get("size")}
            identity = {"size": identity.get("size")}
        if not (meta.get("layout_version") == refcache.LAYOUT_VERSION
                and identity_matches(recorded_identity, identity)):
            if on_stale == "raise":
                raise StaleReferenceError(
                    f"the source changed since its references were made ({path}); "
                    "re-index it or open with on_stale='reindex'", source=src.url)
            path = index_one(src.url, src.storage_options,
                             str(refcache.ref_path(src.url, refs_dir)), overwrite=True)
            meta = refcache.read_meta(path)
    fo: Any = refcache.open_parquet(path) if Path(path).is_dir() else refcache.load(path)
    # local files: fsspec wraps its synchronous file system itself
    target: dict[str, Any] = {"remote_protocol": "file"} if src.is_local else {
        "fs": {src.protocol: async_filesystem(src)}}
    fs = fsspec.filesystem("reference", fo=fo, template_overrides={"u": src.url},
                           max_gap=MAX_GAP, asynchronous=True, skip_instance_cache=True,
                           **target)
    group = _open_group(FsspecStore(fs, read_only=True, path=""), path,
                        _cache_namespace(src, meta), cache, cache_dir)
    return NWBStore(source=src.url, target=path, kind="refs", group=group, fs=fs, meta=meta)


_async_fss: dict[str, fsspec.AbstractFileSystem] = {}
_async_fss_lock = threading.Lock()


def async_filesystem(src: Source) -> fsspec.AbstractFileSystem:
    """The asynchronous filesystem zarr reads a remote ``src`` with: one per protocol and
    options, so connections are reused across files and opens; sessions are closed at exit."""
    key = json.dumps([src.protocol, src.storage_options], sort_keys=True, default=repr)
    with _async_fss_lock:
        fs = _async_fss.get(key)
        if fs is None:
            fs = fsspec.filesystem(src.protocol, asynchronous=True, skip_instance_cache=True,
                                   **src.fs_options)
            _async_fss[key] = fs
    return fs


@atexit.register
def _close_async_filesystems() -> None:
    # before zarr's own exit hook stops its event loop (ours is registered after zarr's)
    fss = list(_async_fss.values())
    _async_fss.clear()
    if fss:
        with contextlib.suppress(Exception):
            sync(asyncio.gather(*(_close_sessions(fs) for fs in fss), return_exceptions=True))


async def _close_sessions(fs: fsspec.AbstractFileSystem) -> None:
    session = getattr(fs, "_session", None)  # http, gcsfs
    if session is not None and hasattr(session, "close"):
        await session.close()
    s3 = getattr(fs, "_s3", None)  # s3fs
    if s3 is not None and hasattr(s3, "close"):
        await s3.close()


def _open_zarr(src: Source, cache: CacheMode, cache_dir: str | os.PathLike[str] | None
               ) -> NWBStore:
    store: Any
    if src.is_local:
        store = LocalStore(src.url, read_only=True)
        fs = fsspec.filesystem("file")
    else:
        fs = async_filesystem(src)
        store = FsspecStore(fs, read_only=True, path=src.fs_path)
    group = _open_group(LegacyZarrV2Store(store), src.url, _cache_namespace(src, {}), cache,
                        cache_dir)
    return NWBStore(source=src.url, target=src.url, kind="zarr", group=group, fs=fs)


def _cache_namespace(src: Source, meta: Mapping[str, Any]) -> str:
    identity = meta.get("identity") or {}
    return json.dumps([src.url, identity], sort_keys=True, default=str)


def default_cache_dir() -> Path:
    return refcache.default_refs_dir().parent / "chunks"


def _open_group(store: Any, name: str, namespace: str = "", cache: CacheMode = None,
                cache_dir: str | os.PathLike[str] | None = None) -> zarr.Group:
    if cache == "memory":
        store = ChunkCacheStore(store, namespace=namespace)
    elif cache == "disk":
        store = ChunkCacheStore(store, namespace=namespace,
                                directory=cache_dir or default_cache_dir())
    try:
        group = zarr.open_group(store, mode="r", zarr_format=2)
    except Exception as exc:  # noqa: BLE001 - name the file, not zarr's internals
        raise NotNWBError(f"cannot be opened as a zarr group ({type(exc).__name__}: {exc})",
                          source=name) from exc
    if "nwb_version" not in group.attrs:
        raise NotNWBError("zarr store without an 'nwb_version' root attribute: not NWB",
                          source=name)
    return group


class LegacyZarrV2Store(WrapperStore):  # type: ignore[type-arg]
    """Fixes metadata written by zarr 2 that zarr 3 rejects (hdmf-zarr's object arrays carry
    ``fill_value: 0``)."""

    async def get(self, key: str, prototype: Any, byte_range: Any = None) -> Any:
        buf = await self._store.get(key, prototype, byte_range)
        if buf is None or byte_range is not None or not key.endswith((".zarray", ".zmetadata")):
            return buf
        doc = json.loads(buf.to_bytes())
        if key.endswith(".zmetadata"):
            for k, meta in doc.get("metadata", {}).items():
                if k.endswith(".zarray"):
                    _fix_zarray(meta)
        else:
            _fix_zarray(doc)
        return prototype.buffer.from_bytes(json.dumps(doc).encode())


def _fix_zarray(meta: dict[str, Any]) -> None:
    if meta.get("dtype") == "|O" and meta.get("fill_value") is not None:
        meta["fill_value"] = None


def open_stores(sources: Any, *, storage_options: Mapping[str, Any] | None = None,
                errors: str = "raise", max_workers: int = 16, progress: bool = False,
                **kwargs: Any) -> list[NWBStore]:
    """Open many sources concurrently (staleness checks and first-use indexing overlap).

    Failures follow ``errors`` (see :func:`intake_nwb.index`); the order of ``sources`` is kept.
    """
    srcs = expand(sources, storage_options) if not _all_sources(sources) else list(sources)
    out: dict[str, NWBStore] = {}
    failures: dict[str, BaseException] = {}
    with cf.ThreadPoolExecutor(max_workers=min(max_workers, len(srcs))) as pool:
        futures = {pool.submit(open_store, s, **kwargs): s.url for s in srcs}
        done: Iterable[cf.Future[NWBStore]] = cf.as_completed(futures)
        if progress and len(srcs) > 1:
            from tqdm.auto import tqdm

            done = tqdm(done, total=len(srcs), desc="opening NWB", unit="file")
        for fut in done:
            try:
                out[futures[fut]] = fut.result()
            except IntakeNWBError as exc:
                failures[futures[fut]] = exc
            except Exception as exc:  # noqa: BLE001 - name the file whatever failed
                failures[futures[fut]] = IntakeNWBError(f"{type(exc).__name__}: {exc}",
                                                        source=futures[fut])
    report_failures(failures, errors, "could not be opened")  # type: ignore[arg-type]
    return [out[s.url] for s in srcs if s.url in out]


def _all_sources(sources: Any) -> bool:
    return isinstance(sources, list) and all(isinstance(s, Source) for s in sources)


# -- planned reads -------------------------------------------------------------------------------

def is_raw(array: zarr.Array) -> bool:
    """True when chunks hold whole rows' bytes as they are (no filters, no compressor), so a
    row range is a byte range."""
    meta = array.metadata
    return (not getattr(meta, "filters", None) and getattr(meta, "compressor", None) is None
            and array.dtype.kind not in "OTU" and getattr(meta, "order", "C") == "C"
            and tuple(array.chunks[1:]) == tuple(array.shape[1:]))


def read_spans(array: zarr.Array, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Rows ``[start, stop)`` of each span along axis 0, concatenated, in one concurrent batch.

    Raw arrays are read byte-exactly (only the spans' bytes, near ranges merged by the
    reference filesystem); others chunk by chunk, each needed chunk once.
    """
    starts = np.asarray(starts, dtype=np.int64)
    stops = np.asarray(stops, dtype=np.int64)
    row_shape = array.shape[1:]
    total = int((stops - starts).sum()) if len(starts) else 0
    if total == 0:
        return np.empty((0, *row_shape), dtype=array.dtype)
    if is_raw(array):
        return sync(_read_raw_spans(array, starts, stops, total))
    return sync(_read_chunked_spans(array, starts, stops))


def read_rows(array: zarr.Array, rows: np.ndarray | None) -> np.ndarray:
    """``array[rows]`` along axis 0 (all rows for None), reading only what the rows need."""
    if rows is None:
        return array[...]
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) == 0:
        return np.empty((0, *array.shape[1:]), dtype=array.dtype)
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    uniq, inverse = np.unique(sorted_rows, return_inverse=True)
    breaks = np.flatnonzero(np.diff(uniq) != 1) + 1
    starts = uniq[np.r_[0, breaks]]
    stops = uniq[np.r_[breaks - 1, len(uniq) - 1]] + 1
    data = read_spans(array, starts, stops)
    out = np.empty((len(rows), *data.shape[1:]), dtype=data.dtype)
    out[order] = data[inverse]
    return out


#: gaps this small are always read through (cheaper than another request)
SPAN_GAP_BYTES = 256 * 1024
#: beyond that, read through the smallest gaps up to this share of the wanted bytes
SPAN_GAP_SHARE = 0.4


async def _read_raw_spans(array: zarr.Array, starts: np.ndarray, stops: np.ndarray,
                          total: int) -> np.ndarray:
    """Merge spans separated by cheap gaps, read the merged spans, cut the spans out."""
    if len(starts) < 2 or np.any(starts[1:] < stops[:-1]):
        return await _read_raw_exact(array, starts, stops, total)
    row_bytes = int(np.prod(array.shape[1:], dtype=np.int64)) * array.dtype.itemsize
    gaps = (starts[1:] - stops[:-1]) * row_bytes
    merge = gaps <= SPAN_GAP_BYTES
    budget = SPAN_GAP_SHARE * total * row_bytes - gaps[merge].sum()
    for i in np.argsort(gaps, kind="stable"):
        if merge[i]:
            continue
        if gaps[i] > budget:
            break
        merge[i] = True
        budget -= gaps[i]
    if not merge.any():
        return await _read_raw_exact(array, starts, stops, total)
    group = np.r_[0, np.cumsum(~merge)]  # group of each span
    gstart = starts[np.r_[0, np.flatnonzero(~merge) + 1]]
    gstop = stops[np.r_[np.flatnonzero(~merge), len(stops) - 1]]
    glen = gstop - gstart
    merged = await _read_raw_exact(array, gstart, gstop, int(glen.sum()))
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

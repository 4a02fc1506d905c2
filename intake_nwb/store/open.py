"""Opening an NWB source as a zarr group: HDF5 through its reference set (indexed on first
use by :func:`open_store`; translated as it is read, for batches of files without references,
by :func:`open_stores`), a Zarr NWB store as itself. Either way the result is an
:class:`NWBStore`."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import fsspec
import zarr
from zarr.storage import FsspecStore, LocalStore

from .. import conventions  # noqa: F401 - registers the json2 object dtype with zarr
from ..config import config
from ..errors import (
    IntakeNWBError,
    NotNWBError,
    StaleReferenceError,
    UnsafeReferenceError,
    report_failures,
)
from ..refs import cache as refcache
from ..refs.index import current_references, index_one, index_sources, needs_no_references
from ..refs.live import LiveReferences
from ..refs.remote import open_remote_hdf5
from ..refs.validate import URL_TEMPLATE_REF, Confinement, check_json
from ..sources import Source, expand, read_workers
from ..util.atomic import pinned_dir
from ..util.fanout import fan_out
from .caches import ChunkCacheStore, LegacyZarrV2Store
from .decoding import SourceStore
from .filesystems import async_filesystem
from .groups import ConsolidatedGroup, Hierarchy, lazy_group

OnStale = Literal["raise", "reindex", "ignore"]
CacheMode = Literal["memory", "disk"] | None


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
    views:
        Arrays read without zarr, by path (see :func:`intake_nwb.store.mmap.mapped`).
    """

    source: str
    target: str
    kind: str
    group: zarr.Group
    fs: fsspec.AbstractFileSystem
    meta: dict[str, Any] = field(default_factory=dict)
    views: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __repr__(self) -> str:
        return f"NWBStore({self.source!r}, kind={self.kind!r})"


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
    >>> store = open_store("session.nwb")  # an HDF5 file: read through its references
    >>> store  # doctest: +ELLIPSIS
    NWBStore('.../session.nwb', kind='refs')
    >>> store.group["units/spike_times"][:3]
    array([4.50438945, 6.14679028, 7.06478173])
    """
    src = source if isinstance(source, Source) else Source.from_url(source, storage_options)
    return _open_source(src, None, storage_options=storage_options, refs_dir=refs_dir,
                        on_stale=on_stale, check_stale=check_stale, relocate=relocate,
                        cache=cache, cache_dir=cache_dir)


def _open_source(src: Source, indexed: str | None, *,
                 storage_options: Mapping[str, Any] | None = None, refs_dir: Any = None,
                 on_stale: OnStale = "raise", check_stale: bool = True,
                 relocate: Mapping[str, str] | None = None, cache: CacheMode = None,
                 cache_dir: Any = None) -> NWBStore:
    """:func:`open_store`; ``indexed``: what :func:`index_sources` already answered for it."""
    if not src.is_refs_json:
        # index_one tells the kind (one HEAD for remote sources) and makes or checks the
        # references of an HDF5 file; Zarr stores and reference files come back as they are
        path = indexed or index_one(src.url, src.storage_options,
                                    str(refcache.refs_path_for(src.url, refs_dir)))
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
    """Open a reference file (JSON or parquet) as an :class:`NWBStore`.

    The references are checked first (see :mod:`intake_nwb.refs.validate`): confined to the
    source they record, within its size, and within the decoding limits; a file that records no
    source is refused unless ``config.allow_unrecorded_refs`` is set. A parquet set is pinned
    to its current version (``target`` is that version).
    """
    path = os.fspath(path)
    if Path(path).is_dir():
        path = str(pinned_dir(path))  # one version throughout, even if re-indexed meanwhile
    meta = refcache.read_meta(path)
    recorded = meta.get("source")
    if not recorded:
        return _open_unrecorded(path, storage_options, cache, cache_dir)
    src = Source.from_url(relocate_url(recorded, relocate), storage_options)
    if check_stale and on_stale != "ignore" and not _current(src, recorded, meta):
        if on_stale == "raise":
            raise StaleReferenceError(
                f"the source changed since its references were made ({path}); "
                "re-index it or open with on_stale='reindex'", source=src.url)
        path = index_one(src.url, src.storage_options,
                         str(refcache.refs_path_for(src.url, refs_dir)), overwrite=True)
        if Path(path).is_dir():
            path = str(pinned_dir(path))
        meta = refcache.read_meta(path)
        recorded = meta.get("source") or src.url
    size = (meta.get("identity") or {}).get("size")
    if type(size) is not int:
        raise UnsafeReferenceError(f"records no size for its source ({size!r})", source=path)
    conf = Confinement(refs_file=path, source=recorded, size=size)
    if Path(path).is_dir():
        fo: Any = refcache.open_parquet(path, conf, src.url)
    else:
        fo = _checked_json(path, conf)
    return _refs_store(path, fo, src, meta, cache, cache_dir)


def _current(src: Source, recorded: str, meta: Mapping[str, Any]) -> bool:
    """Layout current and the source unchanged (relocated copies: compared by content)."""
    return (meta.get("layout_version") == refcache.LAYOUT_VERSION
            and src.unchanged(meta.get("identity") or {}, same_place=src.url == recorded))


def _checked_json(path: str, conf: Confinement) -> Any:
    doc = refcache.load(path)
    if getattr(doc, "confined_to", None) != conf:  # memoised documents are checked once
        check_json(doc, conf)
        doc.confined_to = conf
    return doc


def _open_unrecorded(path: str, storage_options: Mapping[str, Any] | None, cache: CacheMode,
                     cache_dir: str | os.PathLike[str] | None) -> NWBStore:
    """A reference file made elsewhere (plain kerchunk): only when the user opts in, and then
    confined to the one URL its references use."""
    if not config.allow_unrecorded_refs:
        raise UnsafeReferenceError(
            "records no source (no 'intake_nwb' block): nothing would confine its references. "
            "Open reference files you trust with INTAKE_NWB_ALLOW_UNRECORDED_REFS=1 "
            "(intake_nwb.config.allow_unrecorded_refs)", source=path)
    if Path(path).is_dir():
        raise UnsafeReferenceError("a parquet reference set must record its source", source=path)
    doc = refcache.load(path)
    refs = doc.get("refs", {}) if doc.get("version") == 1 else doc
    template = (doc.get("templates") or {}).get("u")
    urls = {template if v[0] == URL_TEMPLATE_REF else v[0]
            for v in refs.values() if type(v) is list and v}
    if len(urls) != 1 or not isinstance(next(iter(urls)), str):
        raise UnsafeReferenceError(f"references {len(urls)} sources, not one; refused",
                                   source=path)
    src = Source.from_url(next(iter(urls)), storage_options)
    conf = Confinement(refs_file=path, source=src.url, size=int(src.info()["size"]))
    fo = _checked_json(path, conf)
    return _refs_store(path, fo, src, {"identity": src.identity()}, cache, cache_dir)


def _refs_store(path: str, fo: Any, src: Source, meta: Mapping[str, Any], cache: CacheMode,
                cache_dir: str | os.PathLike[str] | None) -> NWBStore:
    """The store over ``fo`` (parsed JSON, parquet or live references) of ``src``; ``path``:
    what was opened (the reference file, or the source for live references)."""
    afs = async_filesystem(src)
    # local references name plain paths: the reference filesystem looks those up under None
    target = {"fs": {src.protocol: afs, **({None: afs} if src.is_local else {})}}
    fs = fsspec.filesystem("reference", fo=fo, template_overrides={"u": src.url},
                           asynchronous=True, skip_instance_cache=True,
                           **target)
    group = _open_group(FsspecStore(fs, read_only=True, path=""), path, src.url,
                        _cache_namespace(src, meta), cache, cache_dir,
                        resolve=lambda key: _byte_range(fs, key), metadata=fs.references)
    return NWBStore(source=src.url, target=path, kind="refs", group=group, fs=fs,
                    meta=dict(meta))


def open_live(src: Source, cache: CacheMode = None,
              cache_dir: str | os.PathLike[str] | None = None,
              info: Mapping[str, Any] | None = None) -> NWBStore | None:
    """An HDF5 NWB file through references translated as they are read
    (:class:`~intake_nwb.refs.live.LiveReferences`): nothing is indexed or written. None when
    ``src`` is a Zarr store or a reference file (local ones are told by content, remote ones
    by kind and name). ``info``: its ``info()`` at hand (saves a request)."""
    fobj = None
    if src.is_local:
        if needs_no_references(src.kind(), src.url):
            return None
        identity = src.identity()
    else:
        info = src.info() if info is None else info
        if info.get("type") == "directory" or src.is_refs_json:
            return None
        identity = src.identity(info)
        fobj = open_remote_hdf5(src, info.get("size"))
    try:
        refs = LiveReferences(src, identity, fobj=fobj)
    except BaseException:
        if fobj is not None:
            fobj.close()
        raise
    return _refs_store(src.url, refs, src, {"source": src.url, "identity": identity,
                                            "live": True}, cache, cache_dir)


def _byte_range(fs: Any, key: str) -> tuple[int, int] | None:
    """The (offset, length) a chunk key reads from the source; None for inline or missing."""
    try:
        ref = fs.references[key]
    except KeyError:
        return None
    return (int(ref[1]), int(ref[2])) if isinstance(ref, list) and len(ref) == 3 else None


def _open_zarr(src: Source, cache: CacheMode, cache_dir: str | os.PathLike[str] | None
               ) -> NWBStore:
    store: Any
    if src.is_local:
        store = LocalStore(src.url, read_only=True)
        fs = fsspec.filesystem("file")
    else:
        fs = async_filesystem(src)
        store = FsspecStore(fs, read_only=True, path=src.fs_path)
    namespace = _cache_namespace(src, {"identity": src.identity()}) if cache else ""
    group = _open_group(LegacyZarrV2Store(store), src.url, src.url, namespace, cache, cache_dir)
    return NWBStore(source=src.url, target=src.url, kind="zarr", group=group, fs=fs)


def _cache_namespace(src: Source, meta: Mapping[str, Any]) -> str:
    identity = meta.get("identity") or {}
    return json.dumps([src.url, identity], sort_keys=True, default=str)


def default_cache_dir() -> Path:
    return refcache.default_refs_dir().parent / "chunks"


def _open_group(store: Any, name: str, source: str, namespace: str = "",
                cache: CacheMode = None,
                cache_dir: str | os.PathLike[str] | None = None,
                resolve: Callable[[str], tuple[int, int] | None] | None = None,
                metadata: Mapping[str, Any] | Hierarchy | None = None) -> zarr.Group:
    """The root group over ``store``; ``metadata``: the references, whose root metadata (held
    in memory) make the group without a round trip through zarr's event loop, or their
    hierarchy."""
    if cache == "memory":
        store = ChunkCacheStore(store, namespace=namespace, resolve=resolve)
    elif cache == "disk":
        store = ChunkCacheStore(store, namespace=namespace, resolve=resolve,
                                directory=cache_dir or default_cache_dir())
    store = SourceStore(store, source)
    try:
        group = _from_memory(store, metadata) if metadata is not None else None
        if group is None:
            group = zarr.open_group(store, mode="r", zarr_format=2)
    except Exception as exc:  # noqa: BLE001 - name the file, not zarr's internals
        raise NotNWBError(f"cannot be opened as a zarr group ({type(exc).__name__}: {exc})",
                          source=name) from exc
    if "nwb_version" not in group.attrs:
        raise NotNWBError("zarr store without an 'nwb_version' root attribute: not NWB",
                          source=name)
    return ConsolidatedGroup.of(group)


def _from_memory(store: Any, references: Mapping[str, Any] | Hierarchy) -> zarr.Group | None:
    """The root group from the references' own consolidated metadata (JSON references keep it
    in memory) or hierarchy, parsed node by node as it is used; None when it is not there."""
    if isinstance(references, Hierarchy):
        return lazy_group(store, references)
    if not isinstance(references, dict):  # parquet references: let zarr read them
        return None
    zmeta = references.get(".zmetadata")
    if not isinstance(zmeta, (str, bytes)):
        return None
    doc = json.loads(zmeta)
    if not isinstance(doc, dict) or not isinstance(doc.get("metadata"), dict):
        return None
    return lazy_group(store, doc)


def open_stores(sources: Any, *, storage_options: Mapping[str, Any] | None = None,
                errors: str = "raise", progress: bool | None = False,
                visit: Callable[[NWBStore], Any] | None = None, **kwargs: Any
                ) -> list[NWBStore]:
    """Open many sources concurrently (staleness checks and first-use indexing overlap).

    HDF5 files without current references are indexed as they are opened into ``refs_dir``
    when one is given; otherwise they are read through references translated as the read goes
    (:func:`open_live`: a table's nodes, not the whole file), and nothing is written.
    Failures follow ``errors`` (see :func:`intake_nwb.index`); the order of ``sources`` is kept.
    ``visit(store)``: called on each store as soon as it is open, in the same worker (what a
    read wants of every file is done while the file is open: a file read live is then never
    opened again for it; ``visit`` keeps its own results and errors).
    """
    srcs = list(sources) if _all_sources(sources) else expand(sources, storage_options)
    refs_dir = kwargs.get("refs_dir")

    def open_one(src: Source, indexed: str | None = None) -> NWBStore:
        # keyed options ({"s3": ..., "dandi": ...}) reach the data a reference file names too
        store = _open_source(src, indexed, storage_options=storage_options, **kwargs)
        if visit is not None:
            visit(store)
        return store

    def open_or_defer(src: Source) -> NWBStore | None:
        info = None if src.is_local or src.is_refs_json else src.info()
        found = current_references(src, refcache.refs_path_for(src.url, refs_dir), info)
        if found is None and refs_dir is None:
            live = open_live(src, kwargs.get("cache"), kwargs.get("cache_dir"), info)
            if live is not None:
                if visit is not None:
                    visit(live)
                return live
        if found is None and src.is_local and len(srcs) > 1:
            return None  # indexed with the others below
        return open_one(src, found)

    # local files to index into refs_dir are translated together afterwards, in worker
    # processes when there are many (h5py serialises threads; see intake_nwb.refs.index)
    workers = read_workers(s.url for s in srcs)
    stores, failures = fan_out(open_or_defer, srcs, key=lambda s: s.url, progress=progress,
                               desc="opening NWB", workers=workers)
    todo = [s for s in srcs if s.url in stores and stores[s.url] is None]
    if todo:
        made, failed = index_sources(todo, refs_dir=refs_dir, progress=progress)
        opened, lost = fan_out(lambda s: open_one(s, made[s.url]),
                               [s for s in todo if s.url in made], key=lambda s: s.url,
                               workers=workers)
        stores.update(opened)
        failures.update({**failed, **lost})
    stores = {s.url: stores[s.url] for s in srcs if stores.get(s.url) is not None}
    failures = {url: exc if isinstance(exc, IntakeNWBError) else
                IntakeNWBError(f"{type(exc).__name__}: {exc}", source=url)
                for url, exc in failures.items()}
    report_failures(failures, errors, "could not be opened")  # type: ignore[arg-type]
    return list(stores.values())


def _all_sources(sources: Any) -> bool:
    return isinstance(sources, list) and all(isinstance(s, Source) for s in sources)

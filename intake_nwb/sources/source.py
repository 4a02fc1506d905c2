"""Sources: A path or URL (plus storage options) becomes a :class:`Source`.

A ``Source`` knows its fsspec filesystem, whether it is an HDF5 file, a Zarr NWB store or an
already made reference file, and its identity (size, ETag/version id, mtime) so that reference
files and catalogs can tell when the bytes behind a URL have changed.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import fsspec
from fsspec.core import split_protocol

from ..config import config
from ..errors import RemoteIOError, SourceNotFoundError
from ..util.fanout import fan_out
from ..util.memo import cached_property
from .http import fs_options
from .identity import (
    file_identity,
    identity_matches,
    needs_sample,
    sample_digest,
    sample_ranges,
    strong_evidence,
)

SourceLike = "str | os.PathLike[str] | Source"
K = TypeVar("K", bound=Hashable)
F = TypeVar("F", bound="OfFile")
R = TypeVar("R")
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# HDF5 allows a user block before the superblock, at 0, 512, 1024, 2048, ...
_SUPERBLOCK_OFFSETS = (0, 512, 1024, 2048, 4096)
HEAD_BYTES = 4096 + 8  # enough to find the signature at any of those offsets
_GLOB_CHARS = set("*?[")
REFS_JSON_SUFFIXES = (".json", ".json.gz", ".json.zst")
# adlfs registers "az" and "abfs"; "gcs" and "gs" are the same filesystem.
_PROTOCOL_ALIASES = {"abfss": "abfs", "gcs": "gs", "https": "https", "http": "http"}


def _protocol(url: str) -> str:
    proto, _ = split_protocol(url)
    return _PROTOCOL_ALIASES.get(proto or "file", proto or "file")


def read_workers(urls: Iterable[str]) -> int:
    """Threads for per-file work over ``urls``: ``config.max_workers``, but one when every file
    is local. Then the work is Python holding the GIL (parsing references, translating with
    h5py under its global lock, building columns) and more threads only queue for it: 200 local
    files' metadata read cold in 2.0 s on one thread, 3.9 s on two (2 CPUs); warm, 200 files
    read in 0.87 s on one thread, 1.21 s on eight. Remote files wait on the network: all the
    threads.

    Examples
    --------
    >>> with config.set(max_workers=16):
    ...     read_workers(["https://host/a.nwb", "b.nwb"]), read_workers(["b.nwb"])
    (16, 1)
    """
    if all(_protocol(os.fspath(u)) == "file" for u in urls):
        return 1
    return config.max_workers


class OfFile(Protocol):
    """Something of one file (an open store, a table's part): its ``source`` URL."""

    source: str


def per_file(fn: Callable[[F], R], items: Sequence[F], **kwargs: Any
             ) -> tuple[dict[str, R], dict[str, BaseException]]:
    """:func:`~intake_nwb.util.fanout.fan_out` over items of files, keyed by their files, on
    the threads those files call for (:func:`read_workers`); ``kwargs``: ``progress``,
    ``desc``."""
    return fan_out(fn, items, key=lambda x: x.source,
                   workers=read_workers(x.source for x in items), **kwargs)


def _options_for(url: str, storage_options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Storage options apply to every protocol unless keyed by protocol (``{"s3": {...}}``)."""
    if not storage_options:
        return {}
    proto = _protocol(url)
    opts = dict(storage_options)
    keyed = {k: v for k, v in opts.items() if isinstance(v, Mapping) and k in _KNOWN_PROTOCOLS}
    if keyed:
        return dict(keyed.get(proto, {}))
    return opts


_KNOWN_PROTOCOLS = {"s3", "gs", "gcs", "az", "abfs", "http", "https", "file", "memory", "dandi"}


@dataclass(frozen=True)
class Source:
    """One NWB file (HDF5 or Zarr store) or reference file, with the options to reach it.

    Examples
    --------
    >>> src = Source.from_url("s3://bucket/session.nwb", {"anon": True})
    >>> src.protocol
    's3'
    """

    url: str
    storage_options: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def from_url(cls, url: str | os.PathLike[str], storage_options: Mapping[str, Any] | None = None
                 ) -> Source:
        url = os.fspath(url)
        if _protocol(url) == "file":
            url = os.path.abspath(os.path.expanduser(split_protocol(url)[1]))
        options = _options_for(url, storage_options)
        if _protocol(url) == "dandi":  # names its version, as files their absolute path
            from .dandi import canonical_url

            url = canonical_url(url, options)
        return cls(url, options)

    @property
    def protocol(self) -> str:
        return _protocol(self.url)

    @property
    def is_refs_json(self) -> bool:
        """Named like a JSON reference file (no I/O needed to know)."""
        return self.url.endswith(REFS_JSON_SUFFIXES)

    @property
    def is_local(self) -> bool:
        return self.protocol == "file"

    @property
    def fs_options(self) -> dict[str, Any]:
        """The options filesystems for this source are built with (see :func:`fs_options`)."""
        return fs_options(self.protocol, self.storage_options)

    @cached_property
    def fs(self) -> fsspec.AbstractFileSystem:
        return fsspec.filesystem(self.protocol, **self.fs_options)

    @property
    def fs_path(self) -> str:
        """The path as the filesystem expects it (no protocol for most, full URL for http)."""
        return self.fs._strip_protocol(self.url)

    @property
    def name(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    def info(self) -> dict[str, Any]:
        try:
            return self.fs.info(self.fs_path)
        except OSError as exc:
            raise self.unreachable(exc) from exc

    def unreachable(self, exc: OSError) -> SourceNotFoundError:
        """The error naming this source for a failed ``info()``."""
        if isinstance(exc, FileNotFoundError):
            # fsspec's HTTP info() turns any failure into FileNotFoundError: say what it was
            if isinstance(exc.__cause__, RemoteIOError):
                return SourceNotFoundError(f"cannot reach it ({exc.__cause__.message})",
                                           source=self.url)
            return SourceNotFoundError("no such file or URL", source=self.url)
        return SourceNotFoundError(f"cannot reach it ({exc})", source=self.url)

    def identity(self, info: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The identity record staleness checks compare (see :mod:`.identity`).

        Size, ETag/version id and mtime (local files: ctime and inode too). For a Zarr store
        (a directory) that of its root metadata. ``info``: an ``info()`` result already at hand
        (saves a request).
        """
        info = self.info() if info is None else info
        if info.get("type") == "directory":
            for meta in (".zmetadata", ".zattrs", "zarr.json"):
                try:
                    info = self.fs.info(self.fs_path.rstrip("/") + "/" + meta)
                    break
                except FileNotFoundError:
                    continue
        return file_identity(info)

    def with_sample(self, identity: Mapping[str, Any], extents: Sequence[tuple[int, int]]
                    ) -> dict[str, Any]:
        """``identity`` plus a content ``sample`` (the file's head, tail and some of
        ``extents``, the byte ranges its references read) when nothing stronger proves
        content (see :func:`.identity.needs_sample`)."""
        ident = dict(identity)
        if needs_sample(ident) and ident.get("size"):
            ranges = sample_ranges(int(ident["size"]), extents)
            ident["sample"] = {"ranges": ranges, "sha256": self.sample_digest(ranges)}
        return ident

    def unchanged(self, recorded: Mapping[str, Any], current: Mapping[str, Any] | None = None,
                  *, same_place: bool = True) -> bool:
        """Does this source still hold the content ``recorded`` (an identity record) describes?

        The one check for references, caches and catalogs. Cheap when metadata settles it (a
        version id or strong ETag; equal local size, mtime, ctime and inode); otherwise the
        recorded content sample is read again (a few KiB) and compared, so ``touch`` or a
        copy of the same bytes keep references usable and a same-size replacement with its
        mtime kept (``cp -p``, ``rsync -t``) is seen. ``current``: an identity at hand;
        ``same_place=False`` for a relocated copy (its ETag/mtime differ from the original's).
        """
        current = self.identity() if current is None else current
        if recorded.get("size") != current.get("size"):
            return False
        if same_place:
            strong = strong_evidence(recorded, current)
            if strong is not None:
                return strong
            if recorded.get("ino") is not None and identity_matches(recorded, current):
                return True
        sample = recorded.get("sample")
        if isinstance(sample, Mapping) and sample.get("ranges"):
            try:
                return self.sample_digest(sample["ranges"]) == sample.get("sha256")
            except (OSError, ValueError):
                return False
        return identity_matches(recorded, current) if same_place else True

    def sample_digest(self, ranges: Sequence[Sequence[int]]) -> str:
        """SHA-256 of the blocks ``[[offset, length], ...]`` of this file."""
        try:
            return sample_digest(self.fs, self.fs_path, ranges)
        except FileNotFoundError:
            raise SourceNotFoundError("no such file or URL", source=self.url) from None

    def kind(self, info: Mapping[str, Any] | None = None, head: bytes | None = None) -> str:
        """``"hdf5"``, ``"zarr"``, ``"refs"`` (a kerchunk reference file) or ``"unknown"``.

        ``info``/``head``: an ``info()`` result and the file's first bytes already at hand (each
        saves a request).
        """
        info = self.info() if info is None else info
        if info.get("type") == "directory":
            entries = {p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(self.fs_path,
                                                                            detail=False)}
            if ".zmetadata" in entries and "record_size" in json.loads(
                    self.fs.cat_file(self.fs_path.rstrip("/") + "/.zmetadata")):
                return "refs"  # kerchunk's parquet reference layout
            if entries & {".zgroup", ".zattrs", "zarr.json", ".zmetadata"}:
                return "zarr"
            return "unknown"
        if self.is_refs_json:
            return "refs"
        if head is None:
            head = self.read_head(HEAD_BYTES, size=info.get("size"))
        if any(head[o:o + 8] == HDF5_SIGNATURE for o in _SUPERBLOCK_OFFSETS):
            return "hdf5"
        if head.lstrip()[:1] == b"{":
            return "refs"
        return "unknown"

    def read_head(self, n: int, size: int | None = None) -> bytes:
        try:
            with self.fs.open(self.fs_path, "rb", block_size=max(n, 2**16),
                              **self._size_hint(size)) as f:
                return f.read(n)
        except FileNotFoundError:
            raise SourceNotFoundError("no such file or URL", source=self.url) from None

    def open(self, *, block_size: int | None = None, cache_type: str = "readahead",
             cache_options: Mapping[str, Any] | None = None, size: int | None = None):
        """A binary file object suitable for h5py (``size``, if known, saves a request)."""
        if self.is_local:
            return open(self.url, "rb")
        kwargs: dict[str, Any] = {"cache_type": cache_type, **self._size_hint(size)}
        if block_size:
            kwargs["block_size"] = block_size
        if cache_options:
            kwargs["cache_options"] = dict(cache_options)
        return self.fs.open(self.fs_path, "rb", **kwargs)

    def _size_hint(self, size: int | None) -> dict[str, Any]:
        # HTTP and S3 files take their size instead of asking for it again (a HEAD)
        if size is not None and self.protocol in ("http", "https", "s3"):
            return {"size": int(size)}
        return {}

    def __str__(self) -> str:
        return self.url


#: protocols whose listing of a prefix gives each file's size and ETag in one request
_LISTED = {"s3", "gs", "az", "abfs"}


#: ``info()`` of sources sharing one filesystem, concurrently: each result or its exception
Infos = Callable[[Sequence["Source"]], Sequence[Any]]


def identities(sources: Mapping[K, Source], infos: Infos) -> dict[K, dict[str, Any]]:
    """Each source's identity (:meth:`Source.identity`) in as few round trips as the backends
    allow: local files by ``stat``, object-store files by one listing of their prefix, the rest
    (HTTP) one ``HEAD`` each, in one concurrent batch per asynchronous filesystem (``infos``:
    how to ask a batch) or a thread each. The first failure is raised, naming its source."""
    out: dict[K, dict[str, Any]] = {}
    by_prefix: dict[tuple[int, str], list[K]] = {}
    asked: list[K] = []
    for key, src in sources.items():
        if src.is_local:
            out[key] = src.identity()
        elif src.protocol in _LISTED:
            by_prefix.setdefault((id(src.fs), src.fs_path.rsplit("/", 1)[0]), []).append(key)
        else:
            asked.append(key)

    def listing(prefix: tuple[int, str]) -> dict[str, dict[str, Any]]:
        fs = sources[by_prefix[prefix][0]].fs
        return {info["name"].rstrip("/"): info for info in fs.ls(prefix[1], detail=True)}

    listed, _ = fan_out(listing, list(by_prefix), key=lambda p: p)
    for prefix, keys in by_prefix.items():
        found = listed.get(prefix, {})  # a prefix we may not list: its files are asked
        for key in keys:
            info = found.get(sources[key].fs_path.rstrip("/"))
            if info is None:
                asked.append(key)
            else:
                out[key] = file_identity(info)
    by_fs: dict[int, list[K]] = {}
    for key in asked:
        by_fs.setdefault(id(sources[key].fs), []).append(key)
    for keys in by_fs.values():
        out.update(_asked(sources, keys, infos))
    return {k: out[k] for k in sources}


def _asked(sources: Mapping[K, Source], keys: list[K], infos: Infos) -> dict[K, dict[str, Any]]:
    """The identities of ``keys``, whose sources share one filesystem: one ``info`` each,
    concurrently (in one batch when the filesystem is asynchronous)."""
    if not getattr(sources[keys[0]].fs, "async_impl", False):
        results, failures = fan_out(lambda k: sources[k].identity(), keys, key=lambda k: k)
        if failures:
            raise next(iter(failures.values()))
        return results
    answers = infos([sources[k] for k in keys])
    out = {}
    for key, info in zip(keys, answers, strict=True):
        if isinstance(info, OSError):
            raise sources[key].unreachable(info) from info
        if isinstance(info, BaseException):
            raise info
        out[key] = sources[key].identity(info)
    return out


async def gather_infos(fs: fsspec.AbstractFileSystem, paths: Sequence[str]) -> list[Any]:
    """``info()`` of each path of an asynchronous filesystem, concurrently (or its exception)."""
    return await asyncio.gather(*(fs._info(p) for p in paths), return_exceptions=True)


def expand(sources: SourceLike | Iterable[SourceLike],
           storage_options: Mapping[str, Any] | None = None) -> list[Source]:
    """Turn a path, URL, glob, ``Source`` or list of these into a list of ``Source``.

    Globs are expanded with the source's own filesystem (``s3://bucket/*.nwb`` works). A glob
    that matches nothing raises :class:`SourceNotFoundError`; so does an empty list.
    """
    if isinstance(sources, (str, os.PathLike, Source)):
        sources = [sources]
    out: list[Source] = []
    for item in sources:
        if isinstance(item, Source):
            out.append(item)
            continue
        url = os.fspath(item)
        if any(c in _GLOB_CHARS for c in split_protocol(url)[1]) \
                and not _exists_as_named(url, storage_options):
            out.extend(_glob(url, storage_options))
        else:
            out.append(Source.from_url(url, storage_options))
    if not out:
        raise SourceNotFoundError("no sources given")
    seen: set[str] = set()
    return [s for s in out if not (s.url in seen or seen.add(s.url))]


def _exists_as_named(url: str, storage_options: Mapping[str, Any] | None) -> bool:
    """A local path that truly contains ``[``, ``*`` or ``?`` names itself, not a glob."""
    src = Source.from_url(url, storage_options)
    return src.is_local and os.path.exists(src.url)


def expand_one(source: SourceLike, storage_options: Mapping[str, Any] | None = None) -> Source:
    """The one source a path, URL or glob names (a glob must match exactly one file).

    Examples
    --------
    >>> expand_one("/no/such/*.nwb")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    SourceNotFoundError: /no/such/*.nwb: glob matched no files
    """
    found = expand(source, storage_options)
    if len(found) != 1:
        raise SourceNotFoundError(f"names {len(found)} files, not one: "
                                  + ", ".join(s.url for s in found[:5])
                                  + (", ..." if len(found) > 5 else ""), source=str(source))
    return found[0]


def _glob(pattern: str, storage_options: Mapping[str, Any] | None) -> list[Source]:
    probe = Source.from_url(pattern, storage_options)
    fs = probe.fs
    matches = sorted(fs.glob(probe.fs_path))
    if not matches:
        raise SourceNotFoundError("glob matched no files", source=pattern)
    proto = probe.protocol
    urls = [m if proto == "file" or "://" in m else fs.unstrip_protocol(m) for m in matches]
    return [Source(u, dict(probe.storage_options)) for u in urls]

"""Zarr store wrappers: a chunk cache (memory or disk) and a fix for zarr-2-written metadata."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zarr.storage import WrapperStore

from ..util.atomic import atomic_write, clean_stale_files
from ..util.lru import LRU

#: bytes of chunks kept per store with ``cache="memory"``
MEMORY_CACHE_BYTES = 512 * 2**20


_cleaned: set[Path] = set()


class ChunkCacheStore(WrapperStore):  # type: ignore[type-arg]
    """Keeps whole chunks once read: in an LRU of ``max_bytes`` (``cache="memory"``) or as
    files under ``directory`` (``cache="disk"``, shared by processes and sessions).

    A byte-range request for a chunk not cached yet fetches the whole chunk (a few MiB at most:
    references split large contiguous data), so later reads of any part of it are free.

    Entries are keyed by the content they hold, so they cannot go stale: ``namespace`` names
    the source's content (its URL and identity record) and, for a reference set, ``resolve``
    turns a chunk key into the byte range it reads, the entry's name (a re-index with another
    layout reads other ranges; inline chunks are not cached). Entries of Zarr stores are named
    by chunk key under the identity of the store's root metadata. Disk entries are written
    beside and renamed, and one of the wrong length is fetched again.
    """

    def __init__(self, store: Any, *, max_bytes: int = MEMORY_CACHE_BYTES,
                 directory: str | os.PathLike[str] | None = None, namespace: str = "",
                 resolve: Callable[[str], tuple[int, int] | None] | None = None):
        super().__init__(store)
        self._lru: LRU[bytes] = LRU(max_weight=max_bytes, weight=len)
        self._dir = (Path(directory) / hashlib.sha256(namespace.encode()).hexdigest()[:24]
                     if directory is not None else None)
        self._resolve = resolve
        if self._dir is not None and self._dir not in _cleaned:
            _cleaned.add(self._dir)  # once per process: killed writers' temporary files
            clean_stale_files(self._dir)

    async def get(self, key: str, prototype: Any, byte_range: Any = None) -> Any:
        if key.rsplit("/", 1)[-1].startswith(".z"):  # metadata: small, and read once anyway
            return await self._store.get(key, prototype, byte_range)
        entry, length = key, None
        if self._resolve is not None:
            where = self._resolve(key)
            if where is None:  # inline or missing: nothing to fetch, nothing to keep
                return await self._store.get(key, prototype, byte_range)
            entry, length = f"{where[0]}-{where[1]}", where[1]
        raw = self._lookup(entry, length)
        if raw is None:
            buf = await self._store.get(key, prototype, None)
            if buf is None:
                return None
            raw = buf.to_bytes()
            self._keep(entry, raw)
        if byte_range is not None:
            raw = raw[byte_range.start:byte_range.end]
        return prototype.buffer.from_bytes(raw)

    def _lookup(self, entry: str, length: int | None) -> bytes | None:
        if self._dir is None:
            return self._lru.get(entry)
        try:
            raw = (self._dir / entry).read_bytes()
        except OSError:
            return None
        return raw if length is None or len(raw) == length else None

    def _keep(self, entry: str, raw: bytes) -> None:
        if self._dir is None:
            self._lru.put(entry, raw)
        else:
            atomic_write(self._dir / entry, raw)


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

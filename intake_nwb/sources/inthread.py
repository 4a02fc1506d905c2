"""Byte ranges fetched in the calling thread, on an event loop of its own.

h5py holds its global lock while it reads a Python file object. When that object fetches the
bytes on an event loop running in another thread (fsspec's), the reader waits for that thread
with the lock held; and freeing any h5py object takes the lock, in whatever thread the garbage
collector happens to run, that loop's too. A collection there of anyone's h5py garbage then
waits for the reader, which waits for the loop: a deadlock (seen: a remote read stuck for
good). Remote files read by h5py therefore fetch in the reading thread, through a filesystem
bound to that thread's own loop (built with the same options: retries, connection limits).
A thread's loop and sessions are closed when the thread ends, or at exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import weakref
from collections.abc import Callable

import fsspec

from .sessions import close_all, close_this_loop, detach_finalizers
from .source import Source

Fetcher = Callable[[int, int], bytes]
_local = threading.local()


class _Loop:
    """One thread's event loop and the filesystems bound to it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.fss: dict[str, fsspec.AbstractFileSystem] = {}
        weakref.finalize(self, _close, self.loop, self.fss)

    def filesystem(self, src: Source) -> fsspec.AbstractFileSystem:
        key = json.dumps([src.protocol, src.storage_options], sort_keys=True, default=repr)
        fs = self.fss.get(key)
        if fs is None:
            fs = fsspec.filesystem(src.protocol, asynchronous=True, skip_instance_cache=True,
                                   loop=self.loop, **src.fs_options)
            detach_finalizers(fs)
            self.fss[key] = fs
        return fs


def in_thread(src: Source, fallback: Fetcher) -> Fetcher:
    """A fetcher of ``src``'s bytes ``[start, end)`` that runs in the calling thread;
    ``fallback`` (the file object's own) for a synchronous filesystem, which fetches in the
    calling thread already."""
    if not getattr(src.fs, "async_impl", False):
        return fallback

    def fetch(start: int, end: int) -> bytes:
        here = getattr(_local, "loop", None)
        if here is None:
            here = _local.loop = _Loop()
        fs = here.filesystem(src)
        # a notebook's cell runs inside the kernel's loop, which waits for this call anyway:
        # it is set aside while this thread's own loop fetches
        outer = asyncio._get_running_loop()
        asyncio._set_running_loop(None)
        try:
            return here.loop.run_until_complete(fs._cat_file(src.fs_path, start=start,
                                                             end=end))
        finally:
            asyncio._set_running_loop(outer)

    return fetch


def _close(loop: asyncio.AbstractEventLoop, fss: dict[str, fsspec.AbstractFileSystem]) -> None:
    """Close a finished thread's sessions (its filesystems', and those made for its loop by
    :mod:`.sessions`: a DANDI asset's reads), then its loop (best effort: never raises)."""
    with contextlib.suppress(Exception):
        if not loop.is_running() and asyncio._get_running_loop() is None:
            loop.run_until_complete(_close_all(list(fss.values())))
    with contextlib.suppress(Exception):
        if not loop.is_running():
            loop.close()


async def _close_all(fss: list[fsspec.AbstractFileSystem]) -> None:
    await asyncio.gather(close_all(fss), close_this_loop(), return_exceptions=True)

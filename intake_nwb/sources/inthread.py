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
    """Close a finished thread's sessions, then its loop (best effort: never raises)."""
    with contextlib.suppress(Exception):
        if fss and not loop.is_running() and asyncio._get_running_loop() is None:
            loop.run_until_complete(close_all(list(fss.values())))
    with contextlib.suppress(Exception):
        if not loop.is_running():
            loop.close()


async def close_all(fss: list[fsspec.AbstractFileSystem]) -> None:
    """:func:`close_sessions` of each, concurrently (errors ignored)."""
    await asyncio.gather(*(close_sessions(fs) for fs in fss), return_exceptions=True)


async def close_sessions(fs: fsspec.AbstractFileSystem) -> None:
    """Close the client sessions of an asynchronous filesystem (http, gcsfs, s3fs, adlfs)."""
    session = getattr(fs, "_session", None)  # http, gcsfs
    if session is not None and hasattr(session, "close"):
        await session.close()
    s3 = getattr(fs, "_s3", None)  # s3fs
    if s3 is not None and hasattr(s3, "close"):
        await s3.close()
    for name in ("service_client", "credential"):  # adlfs (see detach_finalizers)
        client = getattr(fs, name, None)
        close = getattr(client, "close", None)
        if close is not None and asyncio.iscoroutinefunction(close):
            await close()


def detach_finalizers(fs: fsspec.AbstractFileSystem) -> None:
    """adlfs closes its clients in finalizers ``sync(fs.loop, ...)``; an asynchronous
    instance's loop is None or one that no longer runs at exit: they could only raise "Loop is
    not running" (with a traceback) or wait for good. They are detached;
    :func:`close_sessions` closes those clients instead."""
    from fsspec.asyn import sync

    for finalizer in list(getattr(weakref.finalize, "_registry", {})):
        info = finalizer.peek()
        if info is not None and info[0] is fs and info[1] is sync and info[2]:
            finalizer.detach()

"""One HTTP filesystem, so one aiohttp session, per event loop: DANDI's REST calls, pin probes
and byte reads share its connections, retries and timeouts (:func:`~.http.fs_options`); and one
anonymous S3 filesystem per loop and endpoint for Zarr assets. All are closed at exit.

fsspec's synchronous filesystems run on fsspec's IO loop and zarr's reads on zarr's: each loop
gets its own, because an aiohttp session belongs to the loop it was made on. Also how any
asynchronous filesystem's clients are closed (:func:`close_sessions`).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import threading
import weakref
from typing import Any

import fsspec

from .http import fs_options

_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]] = (
    weakref.WeakKeyDictionary())
_lock = threading.Lock()


def _for_loop(key: str, make: Any) -> Any:
    loop = asyncio.get_running_loop()
    with _lock:
        fss = _by_loop.get(loop)
        if fss is None:
            fss = _by_loop[loop] = {}
            # registered once the loop exists, so after (and run before) the exit hook of
            # whoever runs the loop (zarr stops its own at exit)
            atexit.register(_close_loop, weakref.ref(loop))
        fs = fss.get(key)
        if fs is None:
            fs = fss[key] = make()
    return fs


def loop_http() -> Any:
    """The running loop's asynchronous HTTP filesystem (retries, timeouts).

    Examples
    --------
    >>> async def head(url):
    ...     session = await loop_http().set_session()
    ...     async with session.head(url) as resp:
    ...         return resp.status
    """
    return _for_loop("http", lambda: fsspec.filesystem(
        "https", asynchronous=True, skip_instance_cache=True, **fs_options("https", {})))


def loop_s3(storage_options: dict[str, Any]) -> Any:
    """The running loop's asynchronous S3 filesystem for ``storage_options`` (anonymous, maybe
    another endpoint)."""
    key = "s3:" + json.dumps(storage_options, sort_keys=True)
    return _for_loop(key, lambda: fsspec.filesystem(
        "s3", asynchronous=True, skip_instance_cache=True, **storage_options))


def _close_loop(loop_ref: weakref.ref[asyncio.AbstractEventLoop]) -> None:
    # a loop that does not run at exit is a thread's own (.inthread): closed with its thread
    loop = loop_ref()
    if loop is not None and loop.is_running() and not loop.is_closed():
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close_this_loop(), loop).result(timeout=5)


async def close_this_loop() -> None:
    """Close the filesystems made for the running loop."""
    loop = asyncio.get_running_loop()
    with _lock:
        fss = list(_by_loop.pop(loop, {}).values())
    await close_all(fss)


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

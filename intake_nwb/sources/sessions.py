"""One HTTP filesystem, so one aiohttp session, per event loop: DANDI's REST calls, pin probes
and byte reads share its connections, retries and timeouts (:func:`~.http.fs_options`); and one
anonymous S3 filesystem per loop and endpoint for Zarr assets. All are closed at exit.

fsspec's synchronous filesystems run on fsspec's IO loop and zarr's reads on zarr's: each loop
gets its own, because an aiohttp session belongs to the loop it was made on.
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
    loop = loop_ref()
    if loop is None:
        return
    with _lock:
        fss = list(_by_loop.pop(loop, {}).values())
    if fss and loop.is_running() and not loop.is_closed():
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(_close(fss), loop).result(timeout=5)


async def _close(fss: list[Any]) -> None:
    for fs in fss:
        session = getattr(fs, "_session", None)  # http
        if session is not None:
            await session.close()
        s3 = getattr(fs, "_s3", None)  # s3fs
        if s3 is not None:
            await s3.close()

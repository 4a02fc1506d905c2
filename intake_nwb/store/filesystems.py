"""The asynchronous filesystems zarr reads remote sources with: one per protocol and options,
so connections are reused across files and opens; their sessions are closed at exit."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import threading
import weakref
from collections.abc import Sequence
from typing import Any

import fsspec
from fsspec.asyn import sync as fsspec_sync
from zarr.core.sync import sync

from ..sources import Source
from ..sources.source import gather_infos

_async_fss: dict[str, fsspec.AbstractFileSystem] = {}
_async_fss_lock = threading.Lock()


def async_filesystem(src: Source) -> fsspec.AbstractFileSystem:
    """The shared asynchronous filesystem for ``src``'s protocol and storage options."""
    key = json.dumps([src.protocol, src.storage_options], sort_keys=True, default=repr)
    with _async_fss_lock:
        fs = _async_fss.get(key)
        if fs is None:
            if src.is_local:  # one wrapper: building one inspects every method (~5 ms)
                from fsspec.implementations.asyn_wrapper import AsyncFileSystemWrapper

                fs = AsyncFileSystemWrapper(fsspec.filesystem("file"))
            else:
                fs = fsspec.filesystem(src.protocol, asynchronous=True,
                                       skip_instance_cache=True, **src.fs_options)
                _detach_loopless_finalizers(fs)
            _async_fss[key] = fs
    return fs


def infos(sources: Sequence[Source]) -> list[Any]:
    """``info()`` of sources that share a protocol and options, concurrently through their
    shared asynchronous filesystem (whose connections then serve the reads that follow);
    each result or its exception (:data:`intake_nwb.sources.source.Infos`)."""
    return sync(gather_infos(async_filesystem(sources[0]), [s.fs_path for s in sources]))


@atexit.register
def _close_async_filesystems() -> None:
    # before zarr's own exit hook stops its event loop (ours is registered after zarr's)
    fss = list(_async_fss.values())
    _async_fss.clear()
    if fss:
        with contextlib.suppress(Exception):
            sync(_close_all(fss))


async def _close_all(fss: Sequence[fsspec.AbstractFileSystem]) -> None:
    # gathered on zarr's loop: a gather made here would need a current loop in this thread,
    # and there is none after an asyncio.run()
    await asyncio.gather(*(_close_sessions(fs) for fs in fss), return_exceptions=True)


async def _close_sessions(fs: fsspec.AbstractFileSystem) -> None:
    session = getattr(fs, "_session", None)  # http, gcsfs
    if session is not None and hasattr(session, "close"):
        await session.close()
    s3 = getattr(fs, "_s3", None)  # s3fs
    if s3 is not None and hasattr(s3, "close"):
        await s3.close()
    for name in ("service_client", "credential"):  # adlfs (see _detach_loopless_finalizers)
        client = getattr(fs, name, None)
        close = getattr(client, "close", None)
        if close is not None and asyncio.iscoroutinefunction(close):
            await close()


def _detach_loopless_finalizers(fs: fsspec.AbstractFileSystem) -> None:
    """adlfs closes its clients in finalizers ``sync(fs.loop, ...)``, but an asynchronous
    instance has no loop (None): at exit they can only raise "Loop is not running", with a
    traceback. They are detached; :func:`_close_sessions` closes those clients instead."""
    for finalizer in list(getattr(weakref.finalize, "_registry", {})):
        info = finalizer.peek()
        if info is not None and info[0] is fs and info[1] is fsspec_sync and info[2] \
                and info[2][0] is None:
            finalizer.detach()

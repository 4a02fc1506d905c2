"""The asynchronous filesystems zarr reads remote sources with: one per protocol and options,
so connections are reused across files and opens; their sessions are closed at exit."""

from __future__ import annotations

import atexit
import contextlib
import json
import threading
from collections.abc import Sequence
from typing import Any

import fsspec
from zarr.core.sync import sync

from ..sources import Source
from ..sources.sessions import close_all, detach_finalizers
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
                detach_finalizers(fs)
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
    if fss:  # gathered on zarr's loop (after an asyncio.run() this thread has no loop)
        with contextlib.suppress(Exception):
            sync(close_all(fss))

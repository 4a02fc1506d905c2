"""HTTP(S) reads that survive real servers: retries with backoff, socket timeouts.

s3fs, gcsfs and adlfs retry throttling (429/503), server errors and dropped connections with
backoff on their own (s3fs: ``retries=5`` plus botocore's, 5 s connect / 15 s read timeouts;
gcsfs: 6 attempts; adlfs: azure-core's ``retry_total=10``). fsspec's HTTP filesystem retries
nothing, so HTTP(S) sources get an aiohttp client middleware (aiohttp >= 3.12) that does, and
socket timeouts instead of aiohttp's 5-minute total.
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ..errors import RemoteIOError

#: Statuses worth another attempt: throttling, timeouts and transient server/gateway errors.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
#: Attempts per HTTP request (the first included).
HTTP_ATTEMPTS = 5
#: Backoff before attempt n (n >= 1): ``uniform(0.5, 1) * min(HTTP_BACKOFF_MAX, base * 2**(n-1))``;
#: a ``Retry-After`` header (seconds) is honoured up to ``HTTP_BACKOFF_MAX``.
HTTP_BACKOFF = 0.1
HTTP_BACKOFF_MAX = 5.0
#: Seconds to connect, and to wait for each piece of a response.
HTTP_CONNECT_TIMEOUT = 10.0
HTTP_READ_TIMEOUT = 60.0


def _backoff(attempt: int, retry_after: str | None = None) -> float:
    if retry_after:
        try:
            return min(HTTP_BACKOFF_MAX, max(0.0, float(retry_after)))
        except ValueError:  # an HTTP date: not worth parsing for a bounded wait
            pass
    return random.uniform(0.5, 1.0) * min(HTTP_BACKOFF_MAX, HTTP_BACKOFF * 2 ** (attempt - 1))


async def retry_middleware(req: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
    """aiohttp client middleware: retry connection errors, timeouts and :data:`RETRY_STATUSES`.

    Ranged responses (206) are read inside the retry loop, so a connection dropped mid-body is
    retried too (fsspec's later ``read()`` gets the buffered body). After the last attempt it
    raises :class:`RemoteIOError` naming the method, URL and ``Range``.
    """
    import aiohttp

    if req.method not in ("GET", "HEAD", "OPTIONS"):  # reads only: never resend a write
        return await handler(req)
    last = ""
    retry_after: str | None = None
    for attempt in range(HTTP_ATTEMPTS):
        if attempt:
            await asyncio.sleep(_backoff(attempt, retry_after))
            retry_after = None
        try:
            resp = await handler(req)
        except (TimeoutError, aiohttp.ClientConnectionError) as exc:
            last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            continue
        if resp.status in RETRY_STATUSES:
            last = f"HTTP {resp.status} {resp.reason or ''}".rstrip()
            retry_after = resp.headers.get("Retry-After")
            resp.release()
            continue
        if resp.status == 206:
            try:
                await resp.read()
            except (TimeoutError, aiohttp.ClientPayloadError,
                    aiohttp.ClientConnectionError) as exc:
                last = f"body cut short ({type(exc).__name__}: {exc})"
                resp.close()
                continue
        return resp
    rng = req.headers.get("Range")
    what = f"{req.method} {rng}" if rng else req.method
    raise RemoteIOError(f"{what} failed after {HTTP_ATTEMPTS} attempts (last: {last})",
                        source=str(req.url))


def _http_defaults(options: dict[str, Any]) -> dict[str, Any]:
    import aiohttp

    client_kwargs = dict(options.get("client_kwargs") or {})
    client_kwargs.setdefault("timeout", aiohttp.ClientTimeout(
        total=None, sock_connect=HTTP_CONNECT_TIMEOUT, sock_read=HTTP_READ_TIMEOUT))
    if "middlewares" not in client_kwargs and _aiohttp_has_middlewares():
        client_kwargs["middlewares"] = (retry_middleware,)
    return {**options, "client_kwargs": client_kwargs}


@functools.cache
def _aiohttp_has_middlewares() -> bool:
    import inspect

    import aiohttp

    return "middlewares" in inspect.signature(aiohttp.ClientSession).parameters


def fs_options(protocol: str, storage_options: Mapping[str, Any] | None) -> dict[str, Any]:
    """``storage_options`` plus intake_nwb's remote-I/O defaults (retries, timeouts).

    Use these, not the bare storage options, whenever a filesystem is built for reading,
    including ``remote_options`` of a reference filesystem. A user's own ``client_kwargs``
    ``timeout``/``middlewares`` win.
    """
    opts = dict(storage_options or {})
    if protocol in ("http", "https"):
        return _http_defaults(opts)
    return opts

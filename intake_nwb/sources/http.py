"""HTTP(S) reads that survive real servers, and are polite to small ones.

s3fs, gcsfs and adlfs retry throttling (429/503), server errors and dropped connections with
backoff on their own (s3fs: ``retries=5`` plus botocore's, 5 s connect / 15 s read timeouts;
gcsfs: 6 attempts; adlfs: azure-core's ``retry_total=10``). fsspec's HTTP filesystem retries
nothing, so HTTP(S) sources get an aiohttp client middleware (aiohttp >= 3.12) that does,
within a deadline per request (``config.http_deadline``: a dead server fails in seconds, not
minutes), and checks the Range contract (a 200 with the whole body, or a 206 shorter than
asked, is an error naming the URL and range, never data). Sessions keep at most
``config.http_connections`` connections per host and open at most :data:`OPENING` at a time
(a server's listen queue holds the handshakes it has not accepted yet, 5 for Python's
``http.server``: a burst of connects beyond it is dropped, and each dropped one costs a second
or a connect timeout), and time out connects after ``config.http_connect_timeout`` seconds and
silent reads after ``config.http_read_timeout``.
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ..config import config
from ..errors import RemoteIOError

#: Statuses worth another attempt: throttling, timeouts and transient server/gateway errors.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
#: Attempts per HTTP request (the first included).
HTTP_ATTEMPTS = 5
#: Backoff before attempt n (n >= 1): ``uniform(0.5, 1) * min(HTTP_BACKOFF_MAX, base * 2**(n-1))``;
#: a ``Retry-After`` header (seconds) is honoured up to ``HTTP_BACKOFF_MAX``.
HTTP_BACKOFF = 0.1
HTTP_BACKOFF_MAX = 5.0


def _backoff(attempt: int, retry_after: str | None = None) -> float:
    if retry_after:
        try:
            return min(HTTP_BACKOFF_MAX, max(0.0, float(retry_after)))
        except ValueError:  # an HTTP date: not worth parsing for a bounded wait
            pass
    return random.uniform(0.5, 1.0) * min(HTTP_BACKOFF_MAX, HTTP_BACKOFF * 2 ** (attempt - 1))


async def retry_middleware(req: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
    """aiohttp client middleware: retry connection errors, timeouts and :data:`RETRY_STATUSES`
    until ``config.http_deadline`` seconds have passed; enforce the Range contract.

    Ranged responses (206) are read inside the retry loop, so a connection dropped mid-body or a
    body shorter than the range is retried too (fsspec's later ``read()`` gets the buffered
    body). A 200 answering a ``Range`` request is refused at once (the whole file is not
    read). After the last attempt it raises :class:`RemoteIOError` naming the method, URL and
    ``Range``.
    """
    import aiohttp

    if req.method not in ("GET", "HEAD", "OPTIONS"):  # reads only: never resend a write
        return await handler(req)
    rng = req.headers.get("Range")
    what = f"{req.method} {rng}" if rng else req.method
    loop = asyncio.get_running_loop()
    deadline = loop.time() + config.http_deadline
    last = ""
    retry_after: str | None = None
    attempt = 0
    for attempt in range(HTTP_ATTEMPTS):  # noqa: B007 - reported below
        if attempt:
            wait = _backoff(attempt, retry_after)
            if loop.time() + wait >= deadline:
                break
            await asyncio.sleep(wait)
            retry_after = None
        left = deadline - loop.time()
        if left <= 0:
            break
        try:
            async with asyncio.timeout(left):  # the deadline bounds every attempt too
                resp = await handler(req)
        except (TimeoutError, aiohttp.ClientConnectionError) as exc:
            last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            continue
        if resp.status in RETRY_STATUSES:
            last = f"HTTP {resp.status} {resp.reason or ''}".rstrip()
            retry_after = resp.headers.get("Retry-After")
            resp.release()
            continue
        if rng and req.method == "GET" and resp.status == 200 and not _whole_is_range(
                rng, resp.headers.get("Content-Length")):
            resp.close()
            raise RemoteIOError(f"{what}: the server ignored the range and sent the whole "
                                "file (HTTP 200); it does not support ranged reads",
                                source=str(req.url))
        if resp.status == 206:
            try:
                async with asyncio.timeout(max(0.0, deadline - loop.time())):
                    body = await resp.read()
            except (TimeoutError, aiohttp.ClientPayloadError,
                    aiohttp.ClientConnectionError) as exc:
                last = f"body cut short ({type(exc).__name__}: {exc})"
                resp.close()
                continue
            short = _short_206(rng, resp.headers.get("Content-Range"), len(body))
            if short:
                last = short
                resp.close()
                continue
        return resp
    tries = f"{attempt + 1} attempt{'s' if attempt else ''}"
    raise RemoteIOError(f"{what} failed after {tries} (last: {last})", source=str(req.url))


def _whole_is_range(requested: str, length: str | None) -> bool:
    """A 200 is a fine answer to a range that starts at 0 and covers the whole body."""
    try:
        first, last = (int(v) for v in requested.split("=", 1)[1].split("-", 1))
        return first == 0 and length is not None and int(length) <= last + 1
    except ValueError:
        return False


def _short_206(requested: str | None, content_range: str | None, n: int) -> str | None:
    """Why a 206 does not hold the bytes asked for (None when it does)."""
    if not requested or not content_range:
        return None
    try:
        first, last = (int(v) for v in requested.split("=", 1)[1].split("-", 1))
        span, total = content_range.split(" ", 1)[1].split("/", 1)
        got_first, got_last = (int(v) for v in span.split("-", 1))
    except ValueError:
        return None  # a suffix or open range, or a header we cannot parse: not ours to judge
    expected_last = min(last, int(total) - 1) if total.isdigit() else last
    if got_first != first or got_last != expected_last or n != got_last - got_first + 1:
        return (f"partial content {content_range} with {n} bytes for bytes={first}-{last}")
    return None


#: connection attempts a session has in flight at once (below ``http.server``'s listen queue)
OPENING = 4


@functools.cache
def _paced_connector() -> type:
    import aiohttp

    class PacedConnector(aiohttp.TCPConnector):
        """A connector that opens at most :data:`OPENING` connections at a time; once open,
        they are kept and reused as usual."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._opening = asyncio.Semaphore(OPENING)

        async def _create_connection(self, *args: Any, **kwargs: Any) -> Any:
            async with self._opening:
                return await super()._create_connection(*args, **kwargs)

    return PacedConnector


async def limited_client(**kwargs: Any) -> Any:
    """fsspec's ``get_client``: an aiohttp session with at most ``config.http_connections``
    connections per host, opened at most :data:`OPENING` at a time."""
    import aiohttp

    kwargs.pop("loop", None)
    connector = _paced_connector()(limit_per_host=config.http_connections)
    return aiohttp.ClientSession(connector=connector, **kwargs)


def _http_defaults(options: dict[str, Any]) -> dict[str, Any]:
    import aiohttp

    client_kwargs = dict(options.get("client_kwargs") or {})
    client_kwargs.setdefault("timeout", aiohttp.ClientTimeout(
        total=None, sock_connect=config.http_connect_timeout,
        sock_read=config.http_read_timeout))
    if "middlewares" not in client_kwargs and _aiohttp_has_middlewares():
        client_kwargs["middlewares"] = (retry_middleware,)
    out = {**options, "client_kwargs": client_kwargs}
    if "connector" not in client_kwargs:
        out.setdefault("get_client", limited_client)
    return out


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

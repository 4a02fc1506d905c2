"""A loopback HTTP/1.1 file server with Range support, latency, counters and fault injection.

Stdlib only, so tests and benchmarks can serve a directory the way a static file host or
object store's HTTPS endpoint would: ``HEAD`` with ``Content-Length``/``ETag``/``Last-Modified``/
``Accept-Ranges``, ``GET`` with a single ``Range`` answered by ``206``, keep-alive connections
and one thread per connection.

Multi-range requests (``bytes=0-9,20-29``) are answered with ``200`` and the full body: ignoring
``Range`` is always allowed by RFC 9110, and no fsspec client sends multi-range requests.

Example::

    with RangeHTTPServer("/data", latency=0.02) as srv:
        fs = fsspec.filesystem("http")
        fs.cat_file(srv.url_for("file.nwb"), start=0, end=1024)
        srv.stats()  # {"requests": 2, "bytes_sent": 1024, ...}
"""

from __future__ import annotations

import collections
import contextlib
import email.utils
import mimetypes
import os
import posixpath
import shutil
import socket
import struct
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

__all__ = ["FaultMode", "RangeHTTPServer", "RequestRecord", "parse_range"]

FaultMode = Literal["503", "429", "reset", "ignore-range", "short", "stall"]
_FAULT_MODES: tuple[str, ...] = ("503", "429", "reset", "ignore-range", "short", "stall")


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it (for asserting on access patterns)."""

    method: str
    path: str
    range: str | None
    status: int  # 0 for a "reset" fault: no response was sent
    bytes_sent: int  # body bytes (Content-Length), counted before sending; 0 for HEAD


@dataclass
class _State:
    """Mutable server state shared by handler threads; every access holds ``lock``."""

    latency: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    counts: collections.Counter[str] = field(default_factory=collections.Counter)
    log: collections.deque[RequestRecord] = field(
        default_factory=lambda: collections.deque(maxlen=100_000)
    )
    fault_mode: str | None = None
    fault_remaining: int = 0  # -1 means "always"
    stall_seconds: float = 30.0  # how long a "stall" fault holds a request unanswered
    stopping: threading.Event = field(default_factory=threading.Event)

    def take_fault(self) -> str | None:
        """Consume one injected fault, if any is pending."""
        with self.lock:
            if self.fault_mode is None or self.fault_remaining == 0:
                return None
            mode = self.fault_mode
            if self.fault_remaining > 0:
                self.fault_remaining -= 1
                if self.fault_remaining == 0:
                    self.fault_mode = None
            return mode

    def record(self, rec: RequestRecord, kind: str | None) -> None:
        with self.lock:
            self.counts["requests"] += 1
            self.counts[rec.method.lower()] += 1
            if kind is not None:
                self.counts[kind] += 1
            self.counts["bytes_sent"] += rec.bytes_sent
            self.log.append(rec)

    def unsent(self, nbytes: int) -> None:
        """Take back bytes counted up front that never went out (client hung up)."""
        with self.lock:
            self.counts["bytes_sent"] -= nbytes


def parse_range(header: str, size: int) -> tuple[int, int] | None | Literal["multi", "invalid"]:
    """Parse a ``Range`` header against a resource of ``size`` bytes.

    Returns ``(first, last)`` inclusive for a satisfiable single range, ``None`` for an
    unsatisfiable one (-> 416), ``"multi"`` for several ranges and ``"invalid"`` for a header
    that is not a byte range at all (both -> ignore the header and send 200).
    """
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or not spec:
        return "invalid"
    if "," in spec:
        return "multi"
    first_s, sep, last_s = spec.strip().partition("-")
    if not sep:
        return "invalid"
    try:
        if first_s == "":  # suffix range: the last N bytes
            n = int(last_s)
            if n < 0:
                return "invalid"
            if n == 0 or size == 0:
                return None
            return max(size - n, 0), size - 1
        first = int(first_s)
        last = int(last_s) if last_s else None
    except ValueError:
        return "invalid"
    if first < 0 or (last is not None and last < first):
        return "invalid"
    if first >= size:
        return None
    return first, size - 1 if last is None else min(last, size - 1)


class _Handler(BaseHTTPRequestHandler):
    """Serve files under ``server.root``; state (latency, faults, counters) on ``server.state``."""

    protocol_version = "HTTP/1.1"  # keep-alive: every response carries Content-Length
    # TCP_NODELAY, as real servers: else the body's last segment waits for a delayed ACK (~40 ms)
    disable_nagle_algorithm = True
    server_version = "intake-nwb-test/1.0"
    server: _Server

    # -- plumbing ---------------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: tests and benchmarks read counters, not access logs."""

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, add=False)

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (ConnectionError, TimeoutError):
            # The client went away mid-response (e.g. an aiohttp session closed): not our bug.
            self.close_connection = True

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    # -- request handling -------------------------------------------------------------------

    def _serve(self, head: bool) -> None:
        state = self.server.state
        with state.lock:
            latency = state.latency
        if latency > 0:
            time.sleep(latency)
        range_header = self.headers.get("Range")

        fault = state.take_fault()
        if fault is not None:
            self._fault(fault, range_header)
            return

        path = self._resolve(self.path)
        if path is None:
            self._empty(404, range_header, "not_found")
            return
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed in the finally below
        except OSError:
            self._empty(404, range_header, "not_found")
            return
        try:
            st = os.fstat(f.fileno())
            size = st.st_size
            etag = f'"{st.st_size:x}-{st.st_mtime_ns:x}"'
            status, first, last = 200, 0, size - 1
            if range_header is not None and self._if_range_ok(etag, st.st_mtime):
                parsed = parse_range(range_header, size)
                if parsed is None:
                    self._empty(
                        416,
                        range_header,
                        "unsatisfiable",
                        extra={"Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes"},
                    )
                    return
                if isinstance(parsed, tuple):
                    status, (first, last) = 206, parsed
            length = last - first + 1 if size else 0

            self.send_response(status)
            self.send_header("Content-Type", self._guess_type(path))
            self.send_header("Content-Length", str(length))
            self.send_header("Accept-Ranges", "bytes")
            if self.server.etags:
                self.send_header("ETag", etag)
            self.send_header("Last-Modified", email.utils.formatdate(st.st_mtime, usegmt=True))
            if status == 206:
                self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
            body = 0 if head else length
            kind = None if head else ("range_gets" if status == 206 else "full_gets")
            # Count before the client can see the response: a test that reads stats() right
            # after its request returns must already find it counted.
            state.record(RequestRecord(self.command, self.path, range_header, status, body), kind)
            self.end_headers()
            if body:
                sent = self._send_body(f, first, body)
                if sent < body:
                    state.unsent(body - sent)
        finally:
            f.close()

    def _send_body(self, f: Any, offset: int, length: int) -> int:
        """Send ``length`` bytes from ``offset``; returns how many actually went out."""
        try:
            # sendfile(2) where available: the benchmark should measure the client, not us.
            return self.connection.sendfile(f, offset, length)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
            return 0  # unknown how much went out; counted as none

    def _if_range_ok(self, etag: str, mtime: float) -> bool:
        """Honour ``If-Range``: a stale validator means "send the whole, current file"."""
        validator = self.headers.get("If-Range")
        if validator is None:
            return True
        validator = validator.strip()
        if validator.startswith(('"', "W/")):
            return validator == etag
        try:
            when = email.utils.parsedate_to_datetime(validator)
        except (TypeError, ValueError):
            return False
        return int(when.timestamp()) >= int(mtime)

    def _resolve(self, raw_path: str) -> Path | None:
        """Map a request path to a regular file under the root, or ``None`` (-> 404)."""
        url_path = urllib.parse.unquote(urllib.parse.urlsplit(raw_path).path)
        norm = posixpath.normpath("/" + url_path.lstrip("/"))
        parts = [p for p in norm.split("/") if p and p not in (".", "..")]
        root = self.server.root
        candidate = root.joinpath(*parts) if parts else root
        try:
            resolved = candidate.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        # Refuse escapes through symlinks and anything that is not a regular file (directories).
        if not resolved.is_relative_to(root) or not resolved.is_file():
            return None
        return resolved

    @staticmethod
    def _guess_type(path: Path) -> str:
        return mimetypes.guess_type(path.name)[0] or "application/octet-stream"

    def _empty(
        self,
        status: int,
        range_header: str | None,
        kind: str,
        extra: dict[str, str] | None = None,
    ) -> None:
        """A bodiless response that keeps the connection alive (``send_error`` would close it)."""
        self.send_response(status)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", "0")
        self.server.state.record(
            RequestRecord(self.command, self.path, range_header, status, 0), kind
        )
        self.end_headers()

    def _fault(self, mode: str, range_header: str | None) -> None:
        state = self.server.state
        if mode == "stall":  # accept, then never answer (until the server stops)
            state.record(RequestRecord(self.command, self.path, range_header, 0, 0), "faults")
            state.stopping.wait(state.stall_seconds)
            self.close_connection = True
            return
        if mode in ("ignore-range", "short"):
            self._broken_range(mode, range_header)
            return
        if mode == "reset":
            # SO_LINGER(on, 0) makes close() send RST instead of FIN: the client sees
            # ECONNRESET / "connection aborted", like a flaky load balancer.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            state.record(RequestRecord(self.command, self.path, range_header, 0, 0), "faults")
            self.connection.close()
            return
        self.send_response(int(mode))
        self.send_header("Retry-After", "0")
        self.send_header("Content-Length", "0")
        state.record(RequestRecord(self.command, self.path, range_header, int(mode), 0), "faults")
        self.end_headers()

    def _broken_range(self, mode: str, range_header: str | None) -> None:
        """Break the Range contract: the whole file with 200 (``ignore-range``), or a 206 that
        announces the range asked for but holds half of it (``short``)."""
        path = self._resolve(self.path)
        data = path.read_bytes() if path is not None else b""
        parsed = parse_range(range_header, len(data)) if range_header else None
        if mode == "short" and isinstance(parsed, tuple):
            first, last = parsed
            body = data[first:first + max(1, (last - first + 1) // 2)]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {first}-{last}/{len(data)}")
        else:
            body = data
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.server.state.record(
            RequestRecord(self.command, self.path, range_header, 200 if mode != "short" else 206,
                          len(body)), "faults")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # idle keep-alive connections must not block shutdown
    request_queue_size = 256  # benchmarks open many connections at once
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], root: Path, state: _State,
                 backlog: int | None = None, etags: bool = True) -> None:
        self.root = root
        self.state = state
        self.etags = etags
        if backlog is not None:  # e.g. 5, as Python's http.server: a test of polite clients
            self.request_queue_size = backlog
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(addr, _Handler)

    def track(self, conn: socket.socket, add: bool) -> None:
        with self._conns_lock:
            if add:
                self._conns.add(conn)
                with self.state.lock:
                    peak = self.state.counts["peak_connections"]
                    self.state.counts["peak_connections"] = max(peak, len(self._conns))
            else:
                self._conns.discard(conn)

    def close_connections(self) -> None:
        """Wake handler threads blocked on idle keep-alive connections so they exit."""
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Silence disconnects (expected with fault injection); report anything else."""
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):  # ConnectionError, TimeoutError, EBADF after a reset
            return
        super().handle_error(request, client_address)


class RangeHTTPServer:
    """Serve ``root`` over HTTP/1.1 on ``127.0.0.1`` in a daemon thread.

    Use as a context manager (or call :meth:`start` / :meth:`stop`). ``latency`` seconds are
    slept before answering each request; change it at any time via the ``latency`` attribute.
    """

    def __init__(self, root: str | os.PathLike[str], latency: float = 0.0, port: int = 0,
                 backlog: int | None = None, etags: bool = True) -> None:
        """``backlog``: the listen queue (Python's ``http.server`` has 5); ``etags=False``
        serves no ``ETag`` (as ``http.server``), so clients have only size and mtime."""
        self.root = Path(root).resolve()
        self._backlog = backlog
        self._etags = etags
        if not self.root.is_dir():
            raise NotADirectoryError(f"RangeHTTPServer root is not a directory: {self.root}")
        self._initial_latency = float(latency)
        self._state = _State(latency=float(latency))
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> RangeHTTPServer:
        """Bind a free loopback port and start serving; returns ``self``."""
        if self._server is not None:
            return self
        self._state.stopping.clear()
        self._server = _Server(("127.0.0.1", self._port), self.root, self._state, self._backlog,
                               self._etags)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"RangeHTTPServer:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and drop open keep-alive connections."""
        server, self._server = self._server, None
        if server is None:
            return
        self._state.stopping.set()  # release stalled requests
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> RangeHTTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses --------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("RangeHTTPServer is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def endpoint(self) -> str:
        """Same as :attr:`url`, for symmetry with the emulator classes."""
        return self.url

    @property
    def storage_options(self) -> dict[str, Any]:
        """fsspec HTTPFileSystem options (none needed)."""
        return {}

    def url_for(self, relpath: str) -> str:
        """URL of a file under the root, e.g. ``url_for("a/b.nwb")``."""
        return f"{self.url}/{urllib.parse.quote(relpath.lstrip('/'))}"

    def upload(self, local_path: str | os.PathLike[str], key: str) -> str:
        """Copy a local file under the root as ``key``; returns its URL."""
        dest = self.root / key.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local_path, dest)
        return self.url_for(key)

    # -- knobs ------------------------------------------------------------------------------

    @property
    def latency(self) -> float:
        with self._state.lock:
            return self._state.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        with self._state.lock:
            self._state.latency = float(seconds)

    def fail_first(self, n: int, mode: FaultMode = "503") -> None:
        """Make the next ``n`` requests fail with ``mode``: ``"503"``, ``"429"``, ``"reset"``,
        ``"ignore-range"`` (200 with the whole file), ``"short"`` (a 206 holding half the
        range) or ``"stall"`` (no answer for :attr:`stall_seconds`)."""
        self._set_fault(mode, int(n))

    def fail_always(self, mode: FaultMode = "503") -> None:
        """Make every request fail with ``mode`` until :meth:`clear_faults`."""
        self._set_fault(mode, -1)

    def clear_faults(self) -> None:
        self._set_fault(None, 0)

    @property
    def stall_seconds(self) -> float:
        return self._state.stall_seconds

    @stall_seconds.setter
    def stall_seconds(self, seconds: float) -> None:
        self._state.stall_seconds = float(seconds)

    def _set_fault(self, mode: str | None, n: int) -> None:
        if mode is not None and mode not in _FAULT_MODES:
            raise ValueError(f"fault mode must be one of {_FAULT_MODES}, got {mode!r}")
        with self._state.lock:
            self._state.fault_mode = mode if n != 0 else None
            self._state.fault_remaining = n if mode is not None else 0

    # -- counters ---------------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """Counters since the last reset.

        ``requests`` (all, faults included), ``get``, ``head``, ``range_gets`` (206),
        ``full_gets`` (200), ``not_found``, ``unsatisfiable``, ``faults``, ``bytes_sent``
        (body bytes only) and ``peak_connections`` (most connections open at once).
        """
        keys = ("requests", "get", "head", "range_gets", "full_gets", "not_found",
                "unsatisfiable", "faults", "bytes_sent", "peak_connections")  # fmt: skip
        with self._state.lock:
            out = {k: 0 for k in keys}
            out.update(self._state.counts)
            return out

    def requests_log(self) -> list[RequestRecord]:
        """The recorded requests (most recent 100,000) since the last reset."""
        with self._state.lock:
            return list(self._state.log)

    def reset_stats(self) -> None:
        with self._state.lock:
            self._state.counts.clear()
            self._state.log.clear()

    def reset(self) -> None:
        """Back to the constructor's latency, no faults, zero counters (for shared fixtures)."""
        self.latency = self._initial_latency
        self.clear_faults()
        self.reset_stats()

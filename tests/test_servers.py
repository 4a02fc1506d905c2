"""The local storage servers work with fsspec itself, with no mocks.

Fixtures come from ``tests/servers_fixtures.py`` (registered by ``tests/conftest.py``).
"""

from __future__ import annotations

import http.client
import random
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
import fsspec
import pytest
import requests

from tests.support.http_server import RangeHTTPServer, parse_range

pytestmark = pytest.mark.servers

SIZE = 1 << 20
KEY = "dir/payload.bin"
SERVERS = ["http_server", "s3_server", "azure_server", "gcs_server"]


@pytest.fixture(scope="module")
def payload(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    data = random.Random(0).randbytes(SIZE)
    path = tmp_path_factory.mktemp("payload") / "payload.bin"
    path.write_bytes(data)
    return path, data


@pytest.fixture(scope="module", params=SERVERS)
def remote(request: pytest.FixtureRequest, payload: tuple[Path, bytes]) -> dict[str, Any]:
    """The payload uploaded to one server, and an fsspec filesystem built from its options."""
    server = request.getfixturevalue(request.param)
    local, data = payload
    url = server.upload(local, KEY)
    protocol = url.split("://", 1)[0]
    fs = fsspec.filesystem(protocol, **server.storage_options)
    return {"fs": fs, "url": url, "data": data, "server": server}


@pytest.fixture
def web(http_server: RangeHTTPServer, payload: tuple[Path, bytes]) -> Iterator[RangeHTTPServer]:
    """The shared HTTP server with the payload in place, clean counters and no faults."""
    http_server.upload(payload[0], KEY)
    http_server.reset()
    yield http_server
    http_server.reset()


# -- every server, through fsspec -------------------------------------------------------------


def test_info_has_size_and_etag(remote: dict[str, Any]) -> None:
    remote["fs"].invalidate_cache()
    info = remote["fs"].info(remote["url"])
    assert info["size"] == SIZE
    etags = [v for k, v in info.items() if k.lower() == "etag"]
    assert etags and etags[0], info


@pytest.mark.parametrize(
    ("start", "end"),
    [(0, 1), (1000, 5000), (SIZE - 10, SIZE), (SIZE - 10, None), (12345, 12345 + 256 * 1024)],
)
def test_cat_file_range(remote: dict[str, Any], start: int, end: int | None) -> None:
    # Keywords, not positions: s3fs's _cat_file takes version_id before start/end.
    got = remote["fs"].cat_file(remote["url"], start=start, end=end)
    assert got == remote["data"][start:end]


def test_cat_ranges(remote: dict[str, Any]) -> None:
    starts = [0, 10, 4096, 500_000, SIZE - 100]
    ends = [10, 20, 8192, 700_000, SIZE]
    got = remote["fs"].cat_ranges([remote["url"]] * len(starts), starts, ends)
    assert got == [remote["data"][s:e] for s, e in zip(starts, ends, strict=True)]


def test_open_seek_read(remote: dict[str, Any]) -> None:
    data = remote["data"]
    with remote["fs"].open(remote["url"], "rb", block_size=64 * 1024) as f:
        assert f.size == SIZE
        f.seek(SIZE - 50)
        assert f.read() == data[-50:]
        f.seek(123_456)
        assert f.read(1000) == data[123_456:124_456]
        f.seek(-10, 1)
        assert f.read(10) == data[124_446:124_456]


def test_missing_key_is_file_not_found(remote: dict[str, Any]) -> None:
    missing = remote["url"].replace("payload.bin", "nope.bin")
    with pytest.raises(FileNotFoundError):
        remote["fs"].info(missing)


# -- the HTTP server's own behaviour ------------------------------------------------------------


def test_head_headers(web: RangeHTTPServer) -> None:
    r = requests.head(web.url_for(KEY), timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Length"] == str(SIZE)
    assert r.headers["Accept-Ranges"] == "bytes"
    assert r.headers["ETag"].startswith('"')
    assert r.headers["Last-Modified"].endswith("GMT")
    assert r.content == b""


def test_range_returns_206(web: RangeHTTPServer, payload: tuple[Path, bytes]) -> None:
    data, url = payload[1], web.url_for(KEY)
    cases = {
        "bytes=100-199": (100, 199),
        "bytes=1048000-": (1048000, SIZE - 1),
        "bytes=-10": (SIZE - 10, SIZE - 1),
        f"bytes=0-{SIZE * 2}": (0, SIZE - 1),  # clamped to the end
    }
    for header, (first, last) in cases.items():
        r = requests.get(url, headers={"Range": header}, timeout=10)
        assert r.status_code == 206, header
        assert r.headers["Content-Range"] == f"bytes {first}-{last}/{SIZE}"
        assert r.headers["Content-Length"] == str(last - first + 1)
        assert r.content == data[first : last + 1]


def test_range_edge_cases(web: RangeHTTPServer, payload: tuple[Path, bytes]) -> None:
    url = web.url_for(KEY)
    r = requests.get(url, headers={"Range": f"bytes={SIZE}-"}, timeout=10)
    assert r.status_code == 416
    assert r.headers["Content-Range"] == f"bytes */{SIZE}"
    # Multi-range: the documented choice is to ignore Range and send the whole file.
    r = requests.get(url, headers={"Range": "bytes=0-9,20-29"}, timeout=10)
    assert r.status_code == 200 and r.content == payload[1]
    # A stale If-Range validator also means "the whole, current file".
    r = requests.get(url, headers={"Range": "bytes=0-9", "If-Range": '"stale"'}, timeout=10)
    assert r.status_code == 200 and len(r.content) == SIZE
    assert parse_range("items=0-1", 10) == "invalid"
    assert parse_range("bytes=5-2", 10) == "invalid"


def test_missing_and_directories_are_404(web: RangeHTTPServer) -> None:
    for path in ["nope.bin", "dir", "dir/", "../../etc/passwd", "%2e%2e/%2e%2e/etc/passwd"]:
        r = requests.get(f"{web.url}/{path}", timeout=10)
        assert r.status_code == 404, path
    assert web.stats()["not_found"] == 5


def test_keep_alive_reuses_one_connection(web: RangeHTTPServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=10)
    try:
        socks = []
        for first in (0, 100, 200):
            conn.request("GET", f"/{KEY}", headers={"Range": f"bytes={first}-{first + 9}"})
            resp = conn.getresponse()
            assert resp.status == 206 and len(resp.read()) == 10
            socks.append(conn.sock)
        assert socks[0] is not None and all(s is socks[0] for s in socks)
    finally:
        conn.close()


def test_stats_count_requests_and_bytes(web: RangeHTTPServer) -> None:
    url = web.url_for(KEY)
    with requests.Session() as s:
        s.head(url, timeout=10)
        s.get(url, headers={"Range": "bytes=0-99"}, timeout=10)
        s.get(url, headers={"Range": "bytes=1000-1999"}, timeout=10)
    st = web.stats()
    assert st["requests"] == 3 and st["head"] == 1 and st["get"] == 2
    assert st["range_gets"] == 2 and st["full_gets"] == 0
    assert st["bytes_sent"] == 1100
    assert [r.range for r in web.requests_log()] == [None, "bytes=0-99", "bytes=1000-1999"]
    # fsspec's own reads are counted too.
    web.reset_stats()
    fs = fsspec.filesystem("http", skip_instance_cache=True)
    assert len(fs.cat_file(url, start=10, end=4106)) == 4096
    assert web.stats()["bytes_sent"] == 4096
    web.reset_stats()
    assert web.stats()["requests"] == 0


def test_latency_is_applied(web: RangeHTTPServer) -> None:
    web.latency = 0.25
    t0 = time.perf_counter()
    r = requests.get(web.url_for(KEY), headers={"Range": "bytes=0-0"}, timeout=10)
    assert r.status_code == 206
    assert time.perf_counter() - t0 >= 0.25


def test_concurrent_requests_overlap(web: RangeHTTPServer, payload: tuple[Path, bytes]) -> None:
    # 16 requests each delayed 0.3 s: threaded serving finishes in well under 16 * 0.3 s.
    web.latency = 0.3
    url, data = web.url_for(KEY), payload[1]

    def fetch(i: int) -> bytes:
        first = i * 1000
        hdr = {"Range": f"bytes={first}-{first + 999}"}
        return requests.get(url, headers=hdr, timeout=10).content

    t0 = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        got = list(pool.map(fetch, range(16)))
    assert time.perf_counter() - t0 < 2.0
    assert got == [data[i * 1000 : i * 1000 + 1000] for i in range(16)]
    assert web.stats()["range_gets"] == 16


@pytest.mark.parametrize("mode", ["503", "429"])
def test_fail_first_then_succeed(web: RangeHTTPServer, mode: str) -> None:
    web.fail_first(2, mode)
    statuses = []
    for _ in range(5):  # a hand-rolled retry loop
        r = requests.get(web.url_for(KEY), headers={"Range": "bytes=0-9"}, timeout=10)
        statuses.append(r.status_code)
        if r.ok:
            break
    assert statuses == [int(mode), int(mode), 206]
    assert web.stats()["faults"] == 2


def test_reset_fault_is_a_connection_error(web: RangeHTTPServer) -> None:
    web.fail_first(1, "reset")
    with pytest.raises(requests.ConnectionError):
        requests.get(web.url_for(KEY), timeout=10)
    assert requests.get(web.url_for(KEY), timeout=10).status_code == 200
    # fsspec sees it as an exception, not as wrong bytes. fail_always, not fail_first(1):
    # aiohttp silently retries an idempotent request once after a reset.
    web.fail_always("reset")
    fs = fsspec.filesystem("http", skip_instance_cache=True)
    with pytest.raises((OSError, aiohttp.ClientError)):
        fs.cat_file(web.url_for(KEY), start=0, end=10)


def test_fail_always_until_cleared(web: RangeHTTPServer) -> None:
    web.fail_always("503")
    codes = [requests.head(web.url_for(KEY), timeout=10).status_code for _ in range(4)]
    assert codes == [503] * 4
    web.clear_faults()
    assert requests.head(web.url_for(KEY), timeout=10).status_code == 200
    with pytest.raises(ValueError):
        web.fail_first(1, "500")  # type: ignore[arg-type]

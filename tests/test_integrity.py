"""Reference sets, caches and sources shared between processes and sessions: writers killed
with SIGKILL (inside the swap too), readers racing re-indexers, re-indexes under a warm disk
cache, same-size replacements keeping their mtime, misbehaving servers. The reader always gets
the old values, the new values or a clear error: never a mix, never fill values. Bytes read
are bounded by the selection."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import intake_nwb
from intake_nwb.config import config
from intake_nwb.errors import IntakeNWBError, RemoteIOError, StaleReferenceError
from intake_nwb.store import index_bounds, open_store, read_spans
from intake_nwb.store.planning import SPAN_GAP_ALLOWANCE, SPAN_GAP_SHARE
from intake_nwb.util.atomic import TMP_PREFIX, versions_dir
from tests import synthetic
from tests.support.http_server import RangeHTTPServer

N = 200_000
ROOT = Path(__file__).parents[1]


def _write(directory: Path, name: str = "big.nwb", scale: int = 1) -> Path:
    """One NWB-rooted HDF5 file: ``/data`` (N nonzero float64, contiguous) and a VectorIndex."""
    f, path = synthetic._new(directory, name)
    with f:
        f.create_dataset("data", data=np.arange(1, N + 1, dtype="f8") * scale)
        f.create_dataset("index", data=np.arange(1, N // 10 + 1, dtype="i8") * 10)
    return path


def _truth(scale: int = 1) -> np.ndarray:
    return np.arange(1, N + 1, dtype="f8") * scale


# -- crash- and race-safe replacement of parquet reference sets ---------------------------------

WRITER = """
import os, shutil, signal, sys
import intake_nwb
from intake_nwb.refs import cache
from fsspec.implementations.reference import LazyReferenceMapper

cache.PARQUET_MIN_CHUNKS, cache.PARQUET_RECORD_SIZE = 1, 4   # small files, many records
src, refs_dir, subchunk, point, nth, rounds = sys.argv[1:7]
calls = {}

def killing(name, fn):
    def wrapper(*args, **kwargs):
        calls[name] = calls.get(name, 0) + 1
        if name == point and calls[name] == int(nth):
            os.kill(os.getpid(), signal.SIGKILL)
        return fn(*args, **kwargs)
    return wrapper

os.rename = killing("rename", os.rename)
os.replace = killing("replace", os.replace)
os.symlink = killing("symlink", os.symlink)
shutil.rmtree = killing("rmtree", shutil.rmtree)
LazyReferenceMapper.write = killing("write", LazyReferenceMapper.write)
for i in range(int(rounds)):
    size = int(subchunk) * (1 + i % 2)
    intake_nwb.index(src, refs_dir=refs_dir, subchunk_bytes=size, inline_threshold=0,
                     progress=False, overwrite=True)
"""


def _writer(src: Path, refs_dir: Path, subchunk: int, point: str = "", nth: int = 0,
            rounds: int = 1) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(src), str(refs_dir),
                             str(subchunk), point, str(nth), str(rounds)], cwd=ROOT)


def _read(src: Path, refs_dir: Path) -> np.ndarray:
    return open_store(src, refs_dir=refs_dir).group["data"][...]


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write(tmp_path_factory.mktemp("big"))


# (function, call number): inside writing the records, the rename of the new version, the new
# link, the swap itself, and removing the replaced version after the swap
KILL_POINTS = [("write", 5), ("rename", 1), ("symlink", 1), ("replace", 1), ("rmtree", 1)]


@pytest.fixture
def small_records(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parquet sets of many small record files in this process too (as in WRITER)."""
    from intake_nwb.refs import cache

    monkeypatch.setattr(cache, "PARQUET_MIN_CHUNKS", 1)
    monkeypatch.setattr(cache, "PARQUET_RECORD_SIZE", 4)


def _index(src: Path, refs_dir: Path, subchunk: int) -> None:
    intake_nwb.index(str(src), refs_dir=refs_dir, subchunk_bytes=subchunk, inline_threshold=0,
                     progress=False, overwrite=True)


@pytest.mark.parametrize(("point", "nth"), KILL_POINTS)
@pytest.mark.usefixtures("small_records")
def test_a_killed_writer_leaves_the_old_or_the_new_set(big: Path, tmp_path: Path, point: str,
                                                       nth: int) -> None:
    refs_dir = tmp_path / "refs"
    _index(big, refs_dir, 16384)  # the old set: 16 KiB sub-chunks
    proc = _writer(big, refs_dir, 8192, point, nth)  # replaced by 8 KiB ones, killed midway
    assert proc.wait() == -9, "the writer was not killed"
    np.testing.assert_array_equal(_read(big, refs_dir), _truth())  # old or new, all of it
    # the next writer succeeds and cleans what the killed one left
    _index(big, refs_dir, 4096)
    np.testing.assert_array_equal(_read(big, refs_dir), _truth())
    parq = next(refs_dir.glob("*.parq"))
    left = [p.name for p in versions_dir(parq).iterdir()]
    assert not [n for n in left if n.startswith(TMP_PREFIX)], left
    assert len(left) <= 2, left  # the current version and the one it replaced


@pytest.mark.usefixtures("small_records")
def test_readers_racing_reindexers_never_see_fill_values(big: Path, tmp_path: Path) -> None:
    refs_dir = tmp_path / "refs"
    _index(big, refs_dir, 16384)
    writers = [_writer(big, refs_dir, 8192, rounds=4) for _ in range(2)]  # concurrent too
    good = 0
    truth = _truth()
    deadline = time.monotonic() + 60
    while (any(w.poll() is None for w in writers) or good == 0) and time.monotonic() < deadline:
        try:
            values = _read(big, refs_dir)
        except IntakeNWBError:
            continue  # a version replaced twice under the reader: a clear error
        np.testing.assert_array_equal(values, truth)
        good += 1
    assert [w.wait() for w in writers] == [0, 0], "concurrent indexers failed"
    assert good > 0
    np.testing.assert_array_equal(_read(big, refs_dir), truth)


# -- caches and change detection ----------------------------------------------------------------

def test_disk_cache_outlives_a_reindex_without_serving_old_bytes(tmp_path: Path) -> None:
    src = _write(tmp_path)
    refs, chunks = tmp_path / "refs", tmp_path / "chunks"
    intake_nwb.index(str(src), refs_dir=refs, subchunk_bytes=8192, progress=False)
    store = open_store(src, refs_dir=refs, cache="disk", cache_dir=chunks)
    np.testing.assert_array_equal(store.group["data"][4096:4106], _truth()[4096:4106])
    intake_nwb.index(str(src), refs_dir=refs, subchunk_bytes=32768, progress=False,
                     overwrite=True)
    store = open_store(src, refs_dir=refs, cache="disk", cache_dir=chunks)
    np.testing.assert_array_equal(store.group["data"][4096:4106], _truth()[4096:4106])
    np.testing.assert_array_equal(store.group["data"][...], _truth())


def _same_size_pair(tmp_path: Path) -> tuple[Path, Path]:
    a = _write(tmp_path / "a", "ses.nwb")
    b = _write(tmp_path / "b", "ses.nwb", scale=2)
    assert a.stat().st_size == b.stat().st_size
    os.utime(b, ns=(a.stat().st_atime_ns, a.stat().st_mtime_ns))
    return a, b


def test_same_size_replacement_keeping_mtime_is_seen(tmp_path: Path) -> None:
    a, b = _same_size_pair(tmp_path)
    refs = intake_nwb.index(str(a), refs_dir=tmp_path / "refs", progress=False)[str(a)]
    shutil.copy2(b, a)  # cp -p: same size, same mtime, other bytes
    with pytest.raises(StaleReferenceError):
        open_store(refs)
    # indexing again sees it too, and the new references give the new values
    np.testing.assert_array_equal(_read(a, tmp_path / "refs"), _truth(2))


def test_touch_or_a_copy_of_the_same_bytes_keeps_references(tmp_path: Path) -> None:
    src = _write(tmp_path)
    refs = Path(intake_nwb.index(str(src), refs_dir=tmp_path / "refs", progress=False)[str(src)])
    os.utime(src, (1_600_000_000, 1_600_000_000))  # touch
    np.testing.assert_array_equal(open_store(refs).group["data"][:5], _truth()[:5])
    shutil.copy(src, tmp_path / "copy.nwb")
    os.replace(tmp_path / "copy.nwb", src)  # cp: same bytes, new inode, ctime and mtime
    doc_before = refs.read_bytes()
    np.testing.assert_array_equal(_read(src, tmp_path / "refs")[:5], _truth()[:5])
    # no re-translation: only the recorded identity was refreshed
    assert len(refs.read_bytes()) == pytest.approx(len(doc_before), abs=200)


def test_remote_same_size_replacement_without_etags(tmp_path: Path) -> None:
    a, b = _same_size_pair(tmp_path)
    with RangeHTTPServer(a.parent, etags=False) as web:  # like python -m http.server
        url = web.url_for(a.name)
        refs = intake_nwb.index(url, refs_dir=tmp_path / "refs", progress=False)[url]
        assert open_store(refs).group["data"][:3].tolist() == [1, 2, 3]
        shutil.copy2(b, a)
        with pytest.raises(StaleReferenceError):
            open_store(refs)


# -- bytes and memory bounded by the selection ----------------------------------------------------

@pytest.fixture(scope="module")
def web_big(big: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    with RangeHTTPServer(big.parent) as web:
        url = web.url_for(big.name)
        refs = intake_nwb.index(url, refs_dir=tmp_path_factory.mktemp("webrefs"),
                                progress=False)[url]
        yield web, open_store(refs)


def test_spread_spans_read_about_what_they_select(web_big: Any) -> None:
    web, store = web_big
    starts = np.arange(0, N, 1000)  # 200 spans of 5 rows, 995 rows apart
    web.reset_stats()
    values = read_spans(store.group["data"], starts, starts + 5)
    np.testing.assert_array_equal(values, np.concatenate([_truth()[s:s + 5] for s in starts]))
    wanted = len(starts) * 5 * 8
    # gaps merged only while the bytes read stay within twice the selection plus an allowance
    assert web.stats()["bytes_sent"] <= (1 + SPAN_GAP_SHARE) * wanted + SPAN_GAP_ALLOWANCE
    assert web.stats()["bytes_sent"] < store.group["data"].nbytes / 2, web.stats()
    assert values.base is None or values.base.nbytes == values.nbytes  # no view of a block


def test_index_bounds_read_only_the_rows_asked(web_big: Any) -> None:
    web, store = web_big
    web.reset_stats()
    starts, stops = index_bounds(store.group["index"], np.arange(10))
    assert starts.tolist() == list(range(0, 100, 10)) and stops.tolist() == list(range(10, 110, 10))
    assert web.stats()["bytes_sent"] <= 10 * 8, web.stats()
    web.reset_stats()
    starts, stops = index_bounds(store.group["index"], np.array([N // 10 - 1]))
    assert stops.tolist() == [N] and web.stats()["bytes_sent"] <= 16


# -- servers that break the rules ------------------------------------------------------------------

@pytest.fixture
def web(big: Path) -> Any:
    with RangeHTTPServer(big.parent) as srv:
        yield srv


def test_a_server_ignoring_range_is_named(web: RangeHTTPServer, tmp_path: Path) -> None:
    url = web.url_for("big.nwb")
    web.fail_always("ignore-range")
    with pytest.raises(IntakeNWBError) as err:
        intake_nwb.index(url, refs_dir=tmp_path, progress=False)
    assert url in str(err.value) and "ignored the range" in str(err.value)
    assert web.stats()["faults"] <= 2  # the HEAD, then the ranged GET refused at once


def test_a_short_206_is_retried_then_named(web: RangeHTTPServer, tmp_path: Path) -> None:
    url = web.url_for("big.nwb")
    refs = intake_nwb.index(url, refs_dir=tmp_path, progress=False, inline_threshold=0)[url]
    store = open_store(refs)
    web.fail_first(2, "short")
    np.testing.assert_array_equal(store.group["data"][:10], _truth()[:10])  # retried
    web.fail_always("short")
    with pytest.raises(RemoteIOError) as err:
        store.group["data"][50_000:50_010]
    assert url in str(err.value) and "/data/" in str(err.value) and "partial content" in str(
        err.value)


def test_a_dead_server_fails_fast(web: RangeHTTPServer, tmp_path: Path) -> None:
    url = web.url_for("big.nwb")
    refs = intake_nwb.index(url, refs_dir=tmp_path, progress=False, inline_threshold=0)[url]
    web.stall_seconds = 30
    with config.set(http_read_timeout=0.5, http_deadline=2.0):
        store = open_store(refs, check_stale=False)
        web.fail_always("stall")
        t0 = time.monotonic()
        with pytest.raises(RemoteIOError) as err:
            store.group["data"][:10]
        elapsed = time.monotonic() - t0
    assert elapsed < 6, elapsed
    assert url in str(err.value) and "/data/0" in str(err.value)


def test_a_small_listen_backlog_does_not_stall_many_reads(big: Path, tmp_path: Path) -> None:
    """200 concurrent reads on many connections (opened a few at a time: see the next test)."""
    with RangeHTTPServer(big.parent, backlog=5) as web:
        url = web.url_for(big.name)
        refs = intake_nwb.index(url, refs_dir=tmp_path, progress=False, subchunk_bytes=4096,
                                inline_threshold=0)[url]
        store = open_store(refs)
        web.reset_stats()
        starts = np.arange(0, N, 1000)  # 200 spans, one chunk each: 200 concurrent reads
        t0 = time.monotonic()
        values = read_spans(store.group["data"], starts, starts + 1)
        elapsed = time.monotonic() - t0
        np.testing.assert_array_equal(values, _truth()[starts])
        # beyond the reads' pool: the HEAD's, and the indexing thread's own (h5py's reads fetch
        # in their thread: intake_nwb.sources.inthread), idle
        assert 8 < web.stats()["peak_connections"] <= config.http_connections + 2, web.stats()
        assert elapsed < 10, elapsed


def test_connections_are_opened_a_few_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """A listen queue holds the handshakes a server has not accepted yet (5 for Python's
    http.server): sessions never have more than OPENING connection attempts in flight."""
    import asyncio

    import aiohttp

    from intake_nwb.sources import http

    in_flight, most = 0, 0

    async def connect(self: Any, *args: Any, **kwargs: Any) -> None:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1

    monkeypatch.setattr(aiohttp.TCPConnector, "_create_connection", connect)

    async def burst() -> None:
        session = await http.limited_client()
        try:
            await asyncio.gather(*(session.connector._create_connection(None, [], None)
                                   for _ in range(3 * http.OPENING)))
        finally:
            await session.close()

    asyncio.run(burst())
    assert most == http.OPENING


def test_identities_of_a_listed_prefix_ask_the_files_it_lacks(monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    """Files of an object-store prefix come from one listing; one the listing lacks is asked
    itself (a missing one is named); files of other filesystems still go in their batch."""
    import fsspec

    from intake_nwb.errors import SourceNotFoundError
    from intake_nwb.sources import Source, identities, source
    from intake_nwb.store import infos

    monkeypatch.setattr(source, "_LISTED", {"memory"})  # memory:// lists like a bucket here
    fs = fsspec.filesystem("memory")
    fs.pipe("/lab/a.nwb", b"x" * 10)
    there = Source.from_url("memory://lab/a.nwb")
    found = identities({"a": there}, infos)
    assert found["a"]["size"] == 10
    missing = Source.from_url("memory://lab/gone.nwb")
    with pytest.raises(SourceNotFoundError) as err:
        identities({"a": there, "gone": missing}, infos)
    assert "gone.nwb" in str(err.value)

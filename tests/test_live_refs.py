"""Cold reads of local HDF5 files through references translated as the read goes."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import polars as pl
import pytest

import intake_nwb
from intake_nwb.config import config
from intake_nwb.errors import LimitExceededError, StaleReferenceError
from intake_nwb.frames.tables import parts_of
from intake_nwb.refs.live import LiveReferences
from intake_nwb.refs.translate import translate
from intake_nwb.sample import write_session
from intake_nwb.sources import Source
from intake_nwb.store import NWBStore, StoreSpec, open_stores
from tests.conftest import real_hdf5_files, rel


@pytest.fixture(autouse=True)
def _empty_user_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cold: nothing in the user cache, and no reference directory configured."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("INTAKE_NWB_REFS_DIR", raising=False)
    monkeypatch.setattr(config, "refs_dir", None)


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    folder = tmp_path_factory.mktemp("live")
    return [str(write_session(folder / f"ses-{i}.nwb", session_index=i, n_units=5 + i,
                              spikes_per_unit=20, n_trials=6, duration_s=20.0,
                              behavior_rate=5.0, n_electrodes=4))
            for i in range(3)]


def _translated(store: NWBStore) -> set[str]:
    """The top-level groups a live store translated something under."""
    refs = store.fs.references
    assert isinstance(refs, LiveReferences)
    return {key.split("/", 1)[0] for key in refs._state.refs if "/" in key}


@pytest.mark.parametrize("path", real_hdf5_files(), ids=rel)
def test_live_references_are_the_translation(path: Path) -> None:
    """Every key and value, translated node by node, equals the whole file's translation."""
    src = Source.from_url(str(path))
    live = LiveReferences(src, src.identity())
    with h5py.File(path, "r") as h5:
        whole = translate(h5, src.url, file_size=src.identity()["size"])["refs"]
    whole.pop(".zmetadata")
    as_read = {k: live[k] for k in live}
    assert as_read.keys() == whole.keys()
    for key, value in whole.items():
        if isinstance(value, list):
            value = [src.url, *value[1:]]
        assert as_read[key] == value, key


def test_a_named_datatype_is_listed_not_fatal(tmp_path: Path) -> None:
    """A committed datatype (an HDF5 object neither group nor dataset) is listed as unsupported
    by the whole translation, and left out alike by the live one."""
    path = tmp_path / "named.nwb"
    with h5py.File(path, "w") as f:
        f.attrs["nwb_version"] = "2.7.0"
        f["named_type"] = np.dtype("<i4")
        f.create_dataset("fine", data=np.arange(4))
    src = Source.from_url(str(path))
    with h5py.File(path, "r") as h5:
        whole = translate(h5, src.url, file_size=src.identity()["size"])
    assert [u["path"] for u in whole["unsupported"]] == ["/named_type"]
    assert "named datatype" in whole["unsupported"][0]["reason"]
    live = LiveReferences(src, src.identity())
    assert {k for k in live} == whole["refs"].keys() - {".zmetadata"}
    assert "fine/0" in whole["refs"]


@pytest.mark.parametrize("in_a_loop", [False, True], ids=["thread", "notebook-cell"])
def test_a_remote_read_by_h5py_needs_no_other_thread(sessions: list[str],
                                                     in_a_loop: bool) -> None:
    """h5py holds its global lock while it reads a remote file's bytes, and any thread may
    wait for that lock (freeing an h5py object does: a garbage collection in an event loop's
    thread). The bytes are fetched in the reading thread, so a loop stalled that way cannot
    stall the read (before: a cold remote read stuck for good); also from a thread whose own
    loop is running, as a notebook's cell runs inside the kernel's."""
    import asyncio
    import threading
    import time

    from fsspec.asyn import get_loop
    from h5py._objects import phil
    from zarr.core.sync import _get_loop

    from intake_nwb.refs.remote import open_remote_hdf5
    from tests.support.http_server import RangeHTTPServer

    stalled = threading.Event()

    def stall() -> None:  # what a collection freeing h5py objects does in a loop's thread
        stalled.set()
        until = time.monotonic() + 4
        while time.monotonic() < until and not phil.acquire(False):
            time.sleep(0.01)
        else:
            phil.release()

    done: dict[str, Any] = {}

    def read(fobj: Any) -> None:
        with phil:  # as h5py holds it while it reads the file object
            for loop in (get_loop(), _get_loop()):  # fsspec's, zarr's
                loop.call_soon_threadsafe(stall)
                stalled.wait(5)
                stalled.clear()
            start = time.monotonic()
            fobj.seek(100_000)
            done["bytes"], done["seconds"] = fobj.read(1000), time.monotonic() - start

    path = Path(sessions[0])
    with RangeHTTPServer(path.parent, latency=0.0) as web:
        src = Source.from_url(web.url_for(path.name))
        fobj = open_remote_hdf5(src, path.stat().st_size)
        async def cell() -> None:
            read(fobj)

        thread = threading.Thread(target=lambda: asyncio.run(cell()) if in_a_loop
                                  else read(fobj))
        thread.start()
        thread.join(30)
    assert done["bytes"] == path.read_bytes()[100_000:101_000]
    assert done["seconds"] < 2, f"the read waited {done['seconds']:.1f} s for a stalled loop"


def test_a_cold_table_read_translates_that_table(sessions: list[str]) -> None:
    """A table read through a live store translates the table (and the specifications the
    types come from), not the file; nothing is written."""
    stores = open_stores(sessions)
    units = parts_of(stores, "/units")
    assert sum(p.n_rows for p in units) == 5 + 6 + 7
    for store in stores:
        assert store.meta.get("live")
        touched = _translated(store)
        assert "units" in touched, touched
        assert not touched & {"acquisition", "processing", "intervals", "general",
                              "stimulus", "analysis"}, touched
    assert intake_nwb.scan_nwb(sessions, "/units").collect().height == 18
    assert not list(Path(os.environ["XDG_CACHE_HOME"]).rglob("*.json"))


def test_cold_reads_equal_indexed_reads(sessions: list[str], tmp_path: Path) -> None:
    cold = {t: intake_nwb.get_df(sessions, t) for t in ("/units", "/intervals/trials")}
    meta = intake_nwb.get_metadata_df(sessions, progress=False)
    refs = tmp_path / "refs"
    intake_nwb.index(sessions, refs_dir=refs, progress=False)
    for table, df in cold.items():
        assert df.equals(intake_nwb.get_df(sessions, table, refs_dir=refs)), table
    assert meta.equals(intake_nwb.get_metadata_df(sessions, progress=False, refs_dir=refs))


def test_a_file_changed_during_a_cold_read_is_named(sessions: list[str],
                                                    tmp_path: Path) -> None:
    path = tmp_path / "changing.nwb"
    shutil.copy(sessions[0], path)
    (store,) = open_stores([str(path)])
    shutil.copy(sessions[1], path)  # another session's bytes under the same name
    with pytest.raises(StaleReferenceError) as err:
        parts_of([store], "/units")
    assert err.value.source == str(path)


def test_a_live_store_reopens_elsewhere(sessions: list[str]) -> None:
    (store,) = open_stores(sessions[:1])
    spec = pickle.loads(pickle.dumps(StoreSpec.of(store)))
    assert spec.kind == "live"
    again = spec.open()
    a = np.asarray(store.group["units/id"][:])
    np.testing.assert_array_equal(np.asarray(again.group["units/id"][:]), a)


def test_a_reference_directory_given_keeps_references(sessions: list[str],
                                                      tmp_path: Path) -> None:
    refs = tmp_path / "kept"
    df = intake_nwb.scan_nwb(sessions, "/units", refs_dir=refs).collect()
    assert df.height == 18
    kept = sorted(refs.glob("*.json"))
    assert len(kept) == 3
    assert {json.loads(p.read_text())["intake_nwb"]["source"] for p in kept} == set(sessions)
    assert pl.Series(df["_nwb_path"]).n_unique() == 3


def test_open_files_are_bounded(sessions: list[str], tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Beyond MAX_OPEN_FILES, idle files are closed, and opened again when needed."""
    from intake_nwb.refs import live

    monkeypatch.setattr(live, "MAX_OPEN_FILES", 1)
    with config.set(max_workers=1):  # (a file in use in another thread stays open)
        stores = open_stores(sessions)
    refs = [s.fs.references for s in stores]
    assert sum(r._h5 is not None for r in refs) == 1
    frames = [parts_of([s], "/units")[0].n_rows for s in stores]  # each reopened in turn
    assert frames == [5, 6, 7]
    assert sum(r._h5 is not None for r in refs) == 1


def test_a_cold_http_read_asks_each_file_once_and_writes_nothing(sessions: list[str],
                                                                  tmp_path: Path) -> None:
    """Over HTTP: one HEAD a file; the first of a directory is translated whole (where its
    metadata lie is the others' hint: theirs are fetched at once), the others only the
    table; values equal an indexed read."""
    from tests.support.http_server import RangeHTTPServer

    folder = Path(sessions[0]).parent
    with RangeHTTPServer(folder, latency=0.01) as web:
        urls = [web.url_for(Path(s).name) for s in sessions]
        web.reset_stats()
        stores = open_stores(urls)
        parts = parts_of(stores, "/units")
        heads = [r for r in web.requests_log() if r.method == "HEAD"]
        assert sorted(r.path for r in heads) == sorted(f"/{Path(s).name}" for s in sessions)
        assert [p.n_rows for p in parts] == [5, 6, 7]
        assert all(s.meta.get("live") for s in stores)
        whole = [_translated(s) >= {"acquisition", "general", "intervals"} for s in stores]
        assert whole.count(True) == 1, whole  # the leader, whichever thread it was
        cold = intake_nwb.get_df(urls, "/units")
        assert not list(Path(os.environ["XDG_CACHE_HOME"]).rglob("*.json"))
        indexed = intake_nwb.get_df(urls, "/units", refs_dir=tmp_path / "refs")
        assert cold.equals(indexed)



def test_a_file_in_use_is_closed_once_idle(sessions: list[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A file over the bound but in use in another thread is left open, and closed by a later
    step once it is idle (not forgotten open)."""
    import threading

    from intake_nwb.refs import live

    monkeypatch.setattr(live, "MAX_OPEN_FILES", 1)
    with config.set(max_workers=1):
        first, second, third = (s.fs.references for s in open_stores(sessions))
    first._file()  # open again: the others are closed
    busy, release = threading.Event(), threading.Event()

    def use() -> None:
        with first._lock:
            busy.set()
            release.wait(10)

    user = threading.Thread(target=use)
    user.start()
    busy.wait(10)
    second._file()
    assert first._h5 is not None and second._h5 is not None  # in use: not closed
    release.set()
    user.join()
    third._file()
    assert [r._h5 is not None for r in (first, second, third)] == [False, False, True]


@pytest.mark.parametrize("bound", ["MAX_OPEN_REMOTE_BYTES", "MAX_OPEN_REMOTE_FILES"])
def test_remote_files_kept_open_are_bounded(sessions: list[str], bound: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Remote files kept open hold their metadata in memory: beyond MAX_OPEN_REMOTE_FILES or
    MAX_OPEN_REMOTE_BYTES the idle ones are closed, and opened again (and checked) when
    needed."""
    from intake_nwb.refs import live
    from tests.support.http_server import RangeHTTPServer

    monkeypatch.setattr(live, bound, 1)
    with RangeHTTPServer(Path(sessions[0]).parent) as web, \
            config.set(max_workers=1):
        urls = [web.url_for(Path(s).name) for s in sessions]
        stores = open_stores(urls)
        refs = [s.fs.references for s in stores]
        assert sum(r._h5 is not None for r in refs) == 1
        web.reset_stats()
        assert [p.n_rows for p in parts_of(stores, "/units")] == [5, 6, 7]
        assert web.stats()["head"] == 2  # the two closed were checked again when reopened
        assert sum(r._h5 is not None for r in refs) == 1


def test_a_small_remote_file_is_fetched_before_h5py_reads_it(sessions: list[str],
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    """A small remote file with no layout hint has its first MiB fetched in one request before
    h5py opens it (h5py's misses would each be a round trip, waited for holding h5py's global
    lock); its layout hint holds only what was read of it, widened as a miss would be; a big
    file is read miss by miss."""
    from intake_nwb.refs import remote
    from tests.support.http_server import RangeHTTPServer

    data = bytes(range(256)) * (3 * 2**20 // 256)
    fetched: list[tuple[int, int]] = []

    def fetcher(a: int, b: int) -> bytes:
        fetched.append((a, b))
        return data[a:b]

    cache = remote.HDF5MetadataCache(0, fetcher, len(data))
    cache.speculate(data[:remote.REMOTE_FIRST_READ])
    assert cache._fetch(0, 100) == data[:100]
    assert cache._fetch(600_000, 600_010) == data[600_000:600_010]
    assert fetched == []  # held
    merged = remote._merge(cache.windows, remote.REMOTE_ALIGN)
    assert merged == [(0, 69_632), (532_480, 667_648)]  # around the reads, +-64 KiB aligned

    in_h5py: list[tuple[int, int]] = []
    real = remote.in_thread

    def counting(src: Source, fallback: Any) -> Any:
        fetch = real(src, fallback)

        def inside(a: int, b: int) -> bytes:  # what h5py's reads fetch, holding its lock
            in_h5py.append((a, b))
            return fetch(a, b)
        return inside

    monkeypatch.setattr(remote, "in_thread", counting)
    with RangeHTTPServer(Path(sessions[0]).parent, latency=0.01) as web:
        url = web.url_for(Path(sessions[0]).name)
        web.reset_stats()
        assert intake_nwb.get_metadata_df([url]).height == 1
        assert (web.stats()["head"], web.stats()["get"], in_h5py) == (1, 1, [])
        monkeypatch.setattr(remote, "REMOTE_SMALL_FILE", 0)  # as if big: miss by miss
        remote._hints.clear()  # (the read above left its layout as the directory's hint)
        web.reset_stats()
        assert intake_nwb.get_metadata_df([url]).height == 1
        assert web.stats()["get"] == len(in_h5py) > 1


def test_a_cold_read_describes_each_file_while_it_is_open(sessions: list[str],
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    """Each file's table is described as soon as the file is open (and its metadata as soon as
    it is open, for get_metadata_df): with room for one open file, none is opened twice (its
    requests and memory are not paid again), locally and over HTTP."""
    from intake_nwb.refs import live
    from tests.support.http_server import RangeHTTPServer

    opened: list[str] = []
    real = live.LiveReferences._open

    def counting(self: LiveReferences) -> Any:
        opened.append(self.source.url)
        return real(self)

    monkeypatch.setattr(live, "MAX_OPEN_FILES", 1)
    monkeypatch.setattr(live.LiveReferences, "_open", counting)
    with RangeHTTPServer(Path(sessions[0]).parent) as web:
        for files in (sessions, [web.url_for(Path(s).name) for s in sessions]):
            opened.clear()
            assert intake_nwb.get_df(files, "/units").height == 5 + 6 + 7
            assert sorted(opened) == sorted(files)
            opened.clear()
            assert intake_nwb.get_metadata_df(files).height == 3
            assert sorted(opened) == sorted(files)


def test_remote_files_are_translated_a_few_at_a_time(sessions: list[str], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Read live over HTTP, at most REMOTE_TRANSLATIONS files are in h5py at once (more only
    queue for its lock and the GIL, and open more connections at once)."""
    import threading
    import time

    from intake_nwb.refs import live, remote
    from tests.support.http_server import RangeHTTPServer

    inside, most, lock = 0, 0, threading.Lock()
    real = live.translate_node

    def counting(*args: Any) -> None:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        try:
            time.sleep(0.01)  # long enough for the other threads to come in
            real(*args)
        finally:
            with lock:
                inside -= 1

    monkeypatch.setattr(live, "translate_node", counting)
    for copy in range(3):  # nine files: eight after the one translated whole for the hint
        for s in sessions:
            shutil.copy(s, tmp_path / f"{copy}-{Path(s).name}")
    with RangeHTTPServer(tmp_path) as web, config.set(max_workers=8):
        urls = [web.url_for(p.name) for p in sorted(tmp_path.glob("*.nwb"))]
        assert intake_nwb.get_df(urls, "/units").height == 3 * (5 + 6 + 7)
    assert 1 <= most <= remote.REMOTE_TRANSLATIONS


def test_a_hostile_file_read_cold_is_held_to_the_reference_limits(tmp_path: Path) -> None:
    """A node translated as it is read meets the checks a reference file would: a chunk
    declared beyond max_chunk_bytes is refused, naming the file and the array."""
    path = tmp_path / "hostile.nwb"
    with h5py.File(path, "w") as f:
        f.attrs["nwb_version"] = "2.7.0"
        f.create_dataset("units/id", data=np.arange(4096), chunks=(4096,))
    (store,) = open_stores([str(path)])
    with config.set(max_chunk_bytes=1024), \
            pytest.raises(LimitExceededError) as err:
        store.group["units/id"]
    assert err.value.source == str(path) and "units/id" in str(err.value)

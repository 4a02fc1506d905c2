"""What a warm catalog read does per file, counted, so the lab index cannot regress silently.

A catalog's lab index answers scalar columns and session metadata from its own parquet files:
reading them opens no file's zarr group and, over HTTP, sends no request once the files were
found unchanged (or with staleness checks off). Ragged columns open exactly the files whose
rows are kept. Values equal a direct scan of the files.
"""

from __future__ import annotations

import gc
import json
import shutil
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import intake
import polars as pl
import pytest
import zarr
from polars.testing import assert_frame_equal

import intake_nwb
from intake_nwb.config import config
from intake_nwb.errors import StaleReferenceError, UnsafeReferenceError
from intake_nwb.nwb import types
from intake_nwb.sample import write_session
from intake_nwb.store import open as store_open
from tests.support.http_server import RangeHTTPServer

N = 6
SORT = ["_nwb_path", "_table_index"]


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("lab")
    return [write_session(folder / f"ses-{i}.nwb", session_index=i, seed=i, n_units=4 + i,
                          spikes_per_unit=40, n_trials=12, duration_s=30.0, behavior_rate=5.0,
                          n_electrodes=4) for i in range(N)]


@pytest.fixture()
def opened(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The sources whose zarr group was opened (every store is made by ``_open_group``)."""
    names: list[str] = []
    real = store_open._open_group

    def counting(store: Any, name: str, source: str, *args: Any, **kwargs: Any) -> Any:
        names.append(source)
        return real(store, name, source, *args, **kwargs)

    monkeypatch.setattr(store_open, "_open_group", counting)
    yield names


def _catalog(sources: list[Any], folder: Path, **kwargs: Any) -> Any:
    path = intake_nwb.build_catalog(sources, folder / "catalog.yaml", progress=False, **kwargs)
    return intake.open_catalog(str(path))


def test_warm_scalar_columns_and_sessions_open_no_file(sessions: list[Path], tmp_path: Path,
                                                       opened: list[str]) -> None:
    cat = _catalog([str(p) for p in sessions], tmp_path)
    opened.clear()
    units = cat.units(exclude_array_columns=True).read()
    trials = cat.trials.read()
    meta = cat.sessions.read()
    assert opened == []  # all of it from the index's parquet files
    direct = intake_nwb.scan_nwb([str(p) for p in sessions], "/units",
                                 exclude_array_columns=True, refs_dir=tmp_path / "direct")
    assert_frame_equal(units.sort(SORT), direct.collect().sort(SORT), check_column_order=False)
    assert trials.height == N * 12 and meta.height == N
    assert sorted(meta["session_id"].to_list()) == sorted(
        intake_nwb.get_metadata_df([str(p) for p in sessions], progress=False,
                                   refs_dir=tmp_path / "direct")["session_id"].to_list())


def test_ragged_columns_open_only_the_files_kept(sessions: list[Path], tmp_path: Path,
                                                 opened: list[str]) -> None:
    cat = _catalog([str(p) for p in sessions], tmp_path)
    opened.clear()
    one = str(sessions[2])
    spikes = (cat.units.to_lazy().filter(pl.col("_nwb_path") == one)
              .select("_table_index", "spike_times").collect())
    assert opened == [one]
    direct = (intake_nwb.scan_nwb(one, "/units", refs_dir=tmp_path / "direct")
              .select("_table_index", "spike_times").collect())
    assert_frame_equal(spikes.sort("_table_index"), direct.sort("_table_index"))


def test_files_read_for_ragged_columns_are_let_go(sessions: list[Path], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Each file opened for its kept rows is released once read: open files hold thousands of
    objects the garbage collector would walk again for every later file of a lab."""
    cat = _catalog([str(p) for p in sessions], tmp_path)
    made: list[weakref.ref[Any]] = []
    real = store_open._refs_store

    def tracking(*args: Any, **kwargs: Any) -> Any:
        store = real(*args, **kwargs)
        made.append(weakref.ref(store))
        return store

    monkeypatch.setattr(store_open, "_refs_store", tracking)
    lf = cat.units.to_lazy().select("_nwb_path", "spike_times")
    frame = lf.collect()
    assert len(made) == N and frame["spike_times"].list.len().sum() > 0
    gc.collect()
    assert [r for r in made if r() is not None] == []  # the LazyFrame still exists
    assert_frame_equal(lf.collect(), frame)  # and reads again, reopening the files


def test_files_opened_together_parse_each_namespace_once(sessions: list[Path], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The cached specifications (the type hierarchy) are parsed once per namespace version,
    by one of the threads opening files, from the inlined references (no zarr read)."""
    cat = _catalog([str(p) for p in sessions], tmp_path)
    parsed: list[str] = []
    real_parse = types._parse

    def counting(group: Any, read: Any) -> Any:
        parsed.append(group.path)
        return real_parse(group, read)

    through_zarr: list[str] = []
    real_getitem = zarr.Array.__getitem__

    def getitem(self: Any, key: Any) -> Any:
        if self.path.startswith("specifications"):
            through_zarr.append(self.path)
        return real_getitem(self, key)

    monkeypatch.setattr(types, "_PARSED", {})
    monkeypatch.setattr(types, "_parse", counting)
    monkeypatch.setattr(zarr.Array, "__getitem__", getitem)
    with config.set(max_workers=N):
        frame = cat.units.to_lazy().select("_nwb_path", "spike_times").collect()
    assert frame["_nwb_path"].n_unique() == N
    assert parsed and len(parsed) == len(set(parsed)), parsed  # once each
    assert through_zarr == []


@pytest.fixture(scope="module")
def long_sessions(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Spike times large enough to stay in the file (not inlined in the references)."""
    folder = tmp_path_factory.mktemp("long")
    return [write_session(folder / f"ses-{i}.nwb", session_index=i, seed=i, n_units=5,
                          spikes_per_unit=2000, n_trials=12, duration_s=30.0,
                          behavior_rate=5.0, n_electrodes=4) for i in range(3)]


def test_ragged_columns_of_local_files_open_no_file(long_sessions: list[Path], tmp_path: Path,
                                                     opened: list[str]) -> None:
    """Each row's bounds and the data's byte ranges are in the index: the kept rows' spike
    times are read from the files without opening their references."""
    files = [str(p) for p in long_sessions]
    cat = _catalog(files, tmp_path)
    opened.clear()
    kept = pl.col("presence_ratio") > 0.5
    spikes = cat.units.to_lazy().filter(kept).select(*SORT, "spike_times").collect()
    assert opened == []
    direct = (intake_nwb.scan_nwb(files, "/units", refs_dir=tmp_path / "direct").filter(kept)
              .select(*SORT, "spike_times").collect())
    assert spikes.height > 0
    assert_frame_equal(spikes.sort(SORT), direct.sort(SORT))
    assert_frame_equal(cat.units.read().sort(SORT), intake_nwb.scan_nwb(  # every column too
        files, "/units", refs_dir=tmp_path / "direct").collect().sort(SORT),
        check_column_order=False)


def test_ragged_columns_of_remote_files_open_no_file(long_sessions: list[Path], tmp_path: Path,
                                                      http_server: RangeHTTPServer,
                                                      opened: list[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Over HTTP too: the kept rows' bytes are fetched at the ranges the index records, each
    file's adjacent pieces as one request, every file's in one batch (one round of requests)."""
    from intake_nwb.store import planning

    urls = [http_server.upload(p, f"long/{p.name}") for p in long_sessions]
    cat = _catalog(urls, tmp_path)
    kept = pl.col("presence_ratio") > 0.5
    batches: list[Any] = []
    real = planning.sync
    monkeypatch.setattr(planning, "sync", lambda coro: batches.append(coro) or real(coro))
    with config.set(cache_dir=str(tmp_path / "user-cache")):
        cat.units(exclude_array_columns=True).read()  # the files found unchanged
        http_server.reset_stats()
        opened.clear()
        batches.clear()
        spikes = cat.units.to_lazy().filter(kept).select(*SORT, "spike_times").collect()
        assert opened == []
        assert 0 < http_server.stats()["requests"] <= len(urls)  # one range a file
        assert len(batches) == 1
    direct = (intake_nwb.scan_nwb(urls, "/units", refs_dir=tmp_path / "direct").filter(kept)
              .select(*SORT, "spike_times").collect())
    assert spikes.height > 0
    assert_frame_equal(spikes.sort(SORT), direct.sort(SORT))


@pytest.mark.parametrize("change", [
    {"chunks": [[10**12, 8]]}, {"dtype": "|O"}, {"chunk_rows": 0}, {"length": 10**9}])
def test_a_tampered_data_layout_is_refused(long_sessions: list[Path], tmp_path: Path,
                                           change: dict[str, Any]) -> None:
    files = [str(p) for p in long_sessions]
    path = intake_nwb.build_catalog(files, tmp_path / "catalog.yaml", progress=False)
    doc_path = next(tmp_path.glob("index/*/tables/units.json"))
    doc = json.loads(doc_path.read_text())
    doc["files"][next(iter(doc["files"]))]["ragged"]["spike_times"].update(change)
    doc_path.write_text(json.dumps(doc))
    cat = intake.open_catalog(str(path))
    with pytest.raises(UnsafeReferenceError, match="spike_times") as err:
        cat.units.to_lazy().select("spike_times").collect()
    assert any(f in str(err.value) for f in files)  # names the file


def test_a_changed_file_is_never_read_from_the_index(sessions: list[Path], tmp_path: Path
                                                     ) -> None:
    lab = [Path(shutil.copy(p, tmp_path / p.name)) for p in sessions[:3]]
    cat = _catalog([str(p) for p in lab], tmp_path / "cat")
    before = cat.units(exclude_array_columns=True).read()
    write_session(lab[1], session_index=9, seed=9, n_units=11, spikes_per_unit=40, n_trials=12,
                  duration_s=30.0, behavior_rate=5.0, n_electrodes=4)
    with pytest.raises(StaleReferenceError, match=lab[1].name):
        cat.units(exclude_array_columns=True).read()
    after = cat.units(exclude_array_columns=True, on_stale="reindex").read()
    changed = after.filter(pl.col("_nwb_path") == str(lab[1]))
    assert changed.height == 11  # the new file's rows, not the index's 5
    kept = pl.col("_nwb_path") != str(lab[1])
    assert_frame_equal(after.filter(kept).sort(SORT), before.filter(kept).sort(SORT),
                       check_column_order=False)


def test_http_reads_send_no_request_once_files_were_found_unchanged(
        sessions: list[Path], tmp_path: Path, http_server: RangeHTTPServer,
        opened: list[str]) -> None:
    urls = [http_server.upload(p, f"lab-index/{p.name}") for p in sessions]
    cat = _catalog(urls, tmp_path)
    http_server.reset_stats()
    opened.clear()
    with config.set(cache_dir=str(tmp_path / "user-cache")):
        cat.units(exclude_array_columns=True).read()
        assert http_server.stats()["requests"] <= N  # one identity request per file at most
        http_server.reset_stats()
        cat.units(exclude_array_columns=True).read()
        cat.sessions.read()
        assert http_server.stats()["requests"] == 0  # found unchanged moments ago
    with config.set(cache_dir=str(tmp_path / "another-cache")):
        cat.units(exclude_array_columns=True, check_stale=False).read()
    assert http_server.stats()["requests"] == 0 and opened == []


def test_catalog_yaml_does_not_grow_with_files(sessions: list[Path], tmp_path: Path) -> None:
    small = intake_nwb.build_catalog([str(p) for p in sessions[:2]], tmp_path / "a/cat.yaml",
                                     progress=False)
    large = intake_nwb.build_catalog([str(p) for p in sessions], tmp_path / "b/cat.yaml",
                                     progress=False)
    assert abs(large.stat().st_size - small.stat().st_size) < 200  # the files live in the index

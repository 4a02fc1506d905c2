"""Remote NWB through real local servers: S3 (moto), Azure (Azurite), GCS (emulator), HTTP.

Tables, metadata, TimeSeries and references are read from each server with no mock anywhere;
h5py on the local copies is the truth. Then, over HTTP only (the server that injects faults):
retries (503, 429, connection resets), a failure that outlasts every retry, timeouts, and
relocating references to another place without re-indexing.

Fixtures come from ``tests/servers_fixtures.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import polars as pl
import pytest

import intake_nwb
from intake_nwb.errors import RemoteIOError
from intake_nwb.refs import read_meta
from intake_nwb.sources import Source
from intake_nwb.sources.http import HTTP_ATTEMPTS
from tests.support.http_server import RangeHTTPServer

pytestmark = pytest.mark.servers

SERVERS = ["http_server", "s3_server", "azure_server", "gcs_server"]
PROTOCOL = {"http_server": "http", "s3_server": "s3", "azure_server": "az", "gcs_server": "gs"}
SERIES = "/processing/behavior/running_speed"
N_SESSIONS = 2


# -- data and truth ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    from intake_nwb.sample import write_sample_lab

    return write_sample_lab(tmp_path_factory.mktemp("lab"), n_sessions=N_SESSIONS,
                            size="small", progress=False)


def _truth(path: Path) -> dict[str, Any]:
    with h5py.File(path, "r") as f:
        u = f["units"]
        ends = u["spike_times_index"][:].astype(np.int64)
        starts = np.r_[0, ends[:-1]]
        spikes = u["spike_times"][:]
        keep = (u["presence_ratio"][:] >= 0.9) & (u["decoder_label"].asstr()[:] == "sua")
        ts = f[SERIES.lstrip("/")]
        times = ts["timestamps"][:]
        i0, i1 = np.searchsorted(times, [10.0, 20.0])
        return {
            "trials_start": f["intervals/trials/start_time"][:],
            "stim": f["intervals/trials/stim_name"].asstr()[:].tolist(),
            "presence": u["presence_ratio"][:],
            "selected": np.flatnonzero(keep),
            "selected_spikes": [spikes[a:b] for a, b in
                                zip(starts[keep], ends[keep], strict=True)],
            "session_id": f["general/session_id"].asstr()[()],
            "subject_id": f["general/subject/subject_id"].asstr()[()],
            "window": ts["data"][i0:i1],
        }


@pytest.fixture(scope="module")
def truth(lab: list[Path]) -> list[dict[str, Any]]:
    return [_truth(p) for p in lab]


@pytest.fixture(scope="module", params=SERVERS)
def remote(request: pytest.FixtureRequest, lab: list[Path]) -> dict[str, Any]:
    """The lab uploaded to one server: its URLs and storage options."""
    server = request.getfixturevalue(request.param)
    urls = [server.upload(p, f"remote-lab/{p.name}") for p in lab]
    return {"urls": urls, "options": server.storage_options, "server": server,
            "protocol": PROTOCOL[request.param]}


@pytest.fixture
def web(http_server: RangeHTTPServer, lab: list[Path]) -> Iterator[dict[str, Any]]:
    """The shared HTTP server with the lab on it, clean counters, no faults."""
    urls = [http_server.upload(p, f"web-lab/{p.name}") for p in lab]
    http_server.reset()
    http_server.reset_stats()
    yield {"server": http_server, "urls": urls}
    http_server.reset()


# -- every server --------------------------------------------------------------------------------

def test_tables(remote: dict[str, Any], truth: list[dict[str, Any]], tmp_path: Path) -> None:
    trials = intake_nwb.scan_nwb(remote["urls"], "/intervals/trials",
                                 storage_options=remote["options"], refs_dir=tmp_path).collect()
    for url, t in zip(remote["urls"], truth, strict=True):
        mine = trials.filter(pl.col("_nwb_path") == url)
        np.testing.assert_array_equal(mine["start_time"].to_numpy(), t["trials_start"])
        assert mine["stim_name"].to_list() == t["stim"]

    units = (intake_nwb.scan_nwb(remote["urls"], "/units", storage_options=remote["options"],
                                 refs_dir=tmp_path)
             .filter((pl.col("presence_ratio") >= 0.9) & (pl.col("decoder_label") == "sua"))
             .select("_nwb_path", "_table_index", "presence_ratio", "spike_times").collect())
    for url, t in zip(remote["urls"], truth, strict=True):
        mine = units.filter(pl.col("_nwb_path") == url).sort("_table_index")
        np.testing.assert_array_equal(mine["_table_index"].to_numpy(), t["selected"])
        np.testing.assert_array_equal(mine["presence_ratio"].to_numpy(),
                                      t["presence"][t["selected"]])
        for got, want in zip(mine["spike_times"].to_list(), t["selected_spikes"], strict=True):
            np.testing.assert_array_equal(np.asarray(got), want)


def test_metadata(remote: dict[str, Any], truth: list[dict[str, Any]], tmp_path: Path) -> None:
    df = intake_nwb.get_metadata_df(remote["urls"], storage_options=remote["options"],
                                    refs_dir=tmp_path, progress=False)
    rows = {r["_nwb_path"]: r for r in df.iter_rows(named=True)}
    for url, t in zip(remote["urls"], truth, strict=True):
        assert rows[url]["session_id"] == t["session_id"]
        assert rows[url]["subject_id"] == t["subject_id"]


def test_timeseries(remote: dict[str, Any], truth: list[dict[str, Any]], tmp_path: Path) -> None:
    from intake_nwb.frames.timeseries import get_timeseries

    da = get_timeseries(remote["urls"][0], SERIES, storage_options=remote["options"],
                        refs_dir=tmp_path)
    np.testing.assert_array_equal(da.sel(time=slice(10.0, 20.0)).values, truth[0]["window"])


def test_a_process_that_read_exits_cleanly(remote: dict[str, Any], tmp_path: Path) -> None:
    """Its filesystems' sessions and clients are closed at exit, with nothing on stderr (adlfs's
    own finalizers would print "Loop is not running" for asynchronous instances), also when
    the program ran an event loop of its own before it ended."""
    script = textwrap.dedent(f"""
        import asyncio
        import intake_nwb
        df = intake_nwb.get_df({remote["urls"][:1]!r}, "/units", progress=False,
                               storage_options={remote["options"]!r}, refs_dir={str(tmp_path)!r})
        print(df.height)
        asyncio.run(asyncio.sleep(0))
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(intake_nwb.__file__).parents[1])}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, env=env)
    assert out.returncode == 0 and int(out.stdout) > 0, out.stderr
    assert out.stderr == "", out.stderr


def test_references_record_the_source(remote: dict[str, Any], tmp_path: Path) -> None:
    refs = intake_nwb.index(remote["urls"], storage_options=remote["options"],
                            refs_dir=tmp_path, progress=False)
    for url in remote["urls"]:
        meta = read_meta(refs[url])
        assert meta["source"] == url
        assert meta["protocol"] == remote["protocol"]
        assert meta["identity"]["size"] > 0
        # the reference file alone (no storage options given) is not enough to read; with them
        # it opens without indexing again
        store = intake_nwb.open_store(refs[url], storage_options=remote["options"])
        assert store.source == url


# -- HTTP: request economy -----------------------------------------------------------------------

def test_remote_indexing_reads_metadata_in_few_requests(web: dict[str, Any],
                                                        tmp_path: Path) -> None:
    server = web["server"]
    url = web["urls"][0]
    intake_nwb.index(url, refs_dir=tmp_path, progress=False)
    stats = server.stats()
    assert stats["head"] == 1  # one HEAD serves kind and identity
    # ~0.6 MB of metadata in a 1.8 MB file, in a few windowed reads, not block by block
    assert stats["requests"] <= 8, server.requests_log()
    assert stats["bytes_sent"] < 0.6 * Path(server.root, "web-lab", Path(url).name).stat().st_size
    # indexing again is a no-op: one HEAD shows the references are current
    server.reset_stats()
    intake_nwb.index(url, refs_dir=tmp_path, progress=False)
    assert server.stats()["requests"] == 1


def test_warm_scalar_columns_need_no_data_request(web: dict[str, Any], tmp_path: Path) -> None:
    server = web["server"]
    refs = intake_nwb.index(web["urls"], refs_dir=tmp_path, progress=False)
    server.reset_stats()
    df = intake_nwb.scan_nwb(list(refs.values()), "/units", exclude_array_columns=True,
                             check_stale=False).collect()
    assert df.height > 0
    assert server.stats()["requests"] == 0  # scalar columns are inlined in the references


# -- HTTP: retries and failures ------------------------------------------------------------------

@pytest.mark.parametrize(("n", "mode"), [(2, "503"), (3, "429"), (1, "reset"), (2, "reset")])
def test_indexing_retries(web: dict[str, Any], truth: list[dict[str, Any]], tmp_path: Path,
                          n: int, mode: str) -> None:
    server = web["server"]
    server.fail_first(n, mode)  # type: ignore[arg-type]
    df = intake_nwb.scan_nwb(web["urls"][:1], "/intervals/trials", refs_dir=tmp_path).collect()
    np.testing.assert_array_equal(df["start_time"].to_numpy(), truth[0]["trials_start"])
    assert server.stats()["faults"] == n


# statuses only: concurrent requests spread resets, and aiohttp itself re-sends a request once
# when a reused connection was reset (indexing, whose reads are sequential, tests resets)
@pytest.mark.parametrize(("n", "mode"), [(2, "503"), (3, "429")])
def test_data_reads_retry(web: dict[str, Any], truth: list[dict[str, Any]], tmp_path: Path,
                          n: int, mode: str) -> None:
    server = web["server"]
    refs = intake_nwb.index(web["urls"][:1], refs_dir=tmp_path, progress=False)
    lf = intake_nwb.scan_nwb(list(refs.values()), "/units", check_stale=False)
    server.fail_first(n, mode)  # type: ignore[arg-type]
    df = (lf.filter((pl.col("presence_ratio") >= 0.9) & (pl.col("decoder_label") == "sua"))
          .select("_table_index", "spike_times").collect().sort("_table_index"))
    assert server.stats()["faults"] == n
    for got, want in zip(df["spike_times"].to_list(), truth[0]["selected_spikes"], strict=True):
        np.testing.assert_array_equal(np.asarray(got), want)


def test_unreachable_source_names_the_url(web: dict[str, Any], tmp_path: Path) -> None:
    server = web["server"]
    url = web["urls"][0]
    server.fail_always("503")
    with pytest.raises(intake_nwb.IntakeNWBError) as err:
        intake_nwb.scan_nwb([url], "/intervals/trials", refs_dir=tmp_path).collect()
    assert url in str(err.value)
    assert "503" in str(err.value)
    assert server.stats()["faults"] >= HTTP_ATTEMPTS  # it did try again before giving up


def test_failed_data_read_names_the_url_and_range(web: dict[str, Any], tmp_path: Path) -> None:
    server = web["server"]
    url = web["urls"][0]
    refs = intake_nwb.index([url], refs_dir=tmp_path, progress=False)
    lf = intake_nwb.scan_nwb(list(refs.values()), "/units", check_stale=False)
    server.fail_always("reset")
    t = time.perf_counter()
    with pytest.raises(Exception) as err:  # noqa: PT011 - the message is what matters
        lf.select("spike_times").collect()
    text = "".join(str(e) for e in _chain(err.value))
    assert url in text and "bytes=" in text, text
    assert time.perf_counter() - t < 60  # bounded backoff, not a hang


def test_remote_io_error_after_last_attempt(web: dict[str, Any]) -> None:
    server = web["server"]
    src = Source.from_url(web["urls"][1])
    server.fail_always("503")
    with pytest.raises(RemoteIOError) as err:
        src.fs.cat_file(src.fs_path, start=100, end=200)
    assert err.value.source == src.url
    assert "bytes=100-199" in str(err.value) and "HTTP 503" in str(err.value)
    assert server.stats()["faults"] >= HTTP_ATTEMPTS


def test_timeouts_are_retried_then_reported(web: dict[str, Any]) -> None:
    import aiohttp

    server = web["server"]
    server.latency = 0.5
    opts = {"client_kwargs": {"timeout": aiohttp.ClientTimeout(total=None, sock_read=0.1)}}
    src = Source.from_url(web["urls"][1], opts)
    with pytest.raises(RemoteIOError, match="Timeout") as err:
        src.fs.cat_file(src.fs_path, start=0, end=100)
    assert src.url in str(err.value)
    time.sleep(0.7)  # the server logs a request once it has answered (into a closed socket)
    mine = [r for r in server.requests_log() if r.range == "bytes=0-99"
            and src.url.endswith(r.path)]
    assert len(mine) == HTTP_ATTEMPTS


# -- relocation ----------------------------------------------------------------------------------

@pytest.fixture
def relocated(lab: list[Path], tmp_path: Path) -> dict[str, Any]:
    """The lab indexed over HTTP by a server that is then stopped, and a prefix map to the
    local copies."""
    with RangeHTTPServer(lab[0].parent) as server:
        urls = [server.url_for(p.name) for p in lab]
        refs = intake_nwb.index(urls, refs_dir=tmp_path, progress=False)
        prefix = server.url + "/"
    return {"paths": [refs[u] for u in urls], "relocate": {prefix: str(lab[0].parent) + "/"}}


def test_relocate_http_references_to_a_local_copy(relocated: dict[str, Any], lab: list[Path],
                                                  truth: list[dict[str, Any]]) -> None:
    # the server is gone: everything must come from the local copies, with no re-indexing
    paths, relocate = relocated["paths"], relocated["relocate"]
    mtimes = [Path(p).stat().st_mtime_ns for p in paths]
    df = (intake_nwb.scan_nwb(paths, "/units", relocate=relocate, check_stale=False)
          .filter((pl.col("presence_ratio") >= 0.9) & (pl.col("decoder_label") == "sua"))
          .select("_nwb_path", "_table_index", "spike_times").collect())
    assert set(df["_nwb_path"]) == {str(p) for p in lab}
    first = df.filter(pl.col("_nwb_path") == str(lab[0])).sort("_table_index")
    for got, want in zip(first["spike_times"].to_list(), truth[0]["selected_spikes"],
                         strict=True):
        np.testing.assert_array_equal(np.asarray(got), want)
    store = intake_nwb.open_store(paths[0], relocate=relocate, check_stale=False)
    assert store.source == str(lab[0])
    assert [Path(p).stat().st_mtime_ns for p in paths] == mtimes  # not re-indexed


def test_relocated_references_pass_the_staleness_check(relocated: dict[str, Any]) -> None:
    df = intake_nwb.scan_nwb(relocated["paths"], "/intervals/trials",
                             relocate=relocated["relocate"]).collect()
    assert df.height > 0


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__

"""Pushdown proven by bytes: a filtered scan fetches the surviving rows' spike times, not all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

import intake_nwb
from intake_nwb.frames import scan_nwb
from intake_nwb.sample import write_session
from tests.support.http_server import RangeHTTPServer


@pytest.fixture(scope="module")
def served_session(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("served")
    # ~24 MB of spike times in 120 units: large enough that reading all of them would show
    write_session(root / "ses.nwb", n_units=120, spikes_per_unit=25_000, n_trials=50,
                  duration_s=600.0)
    with RangeHTTPServer(root) as server:
        yield server, root / "ses.nwb"


def test_filter_then_spike_times_reads_only_surviving_rows(served_session, tmp_path: Path):
    server, local = served_session
    url = f"{server.url}/ses.nwb"
    refs = intake_nwb.index(url, refs_dir=tmp_path, progress=False)[url]

    truth = scan_nwb(str(local), "/units", refs_dir=tmp_path / "local").select(
        "presence_ratio", "spike_times").collect()
    selected = truth.filter(pl.col("presence_ratio") >= 0.9)
    assert 0 < selected.height < truth.height
    selected_bytes = int(selected["spike_times"].list.len().sum()) * 8
    all_bytes = int(truth["spike_times"].list.len().sum()) * 8

    server.reset_stats()
    got = scan_nwb(refs, "/units").filter(pl.col("presence_ratio") >= 0.9).select(
        "spike_times").collect()
    fetched = server.stats()["bytes_sent"]
    assert got["spike_times"].to_list() == selected["spike_times"].to_list()
    # the filter column is inlined in the references; index too: only spike-time bytes move
    assert fetched <= 1.5 * selected_bytes, (fetched, selected_bytes, all_bytes)
    assert fetched < 0.8 * all_bytes


def test_slice_pushdown_reads_first_rows_only(served_session, tmp_path: Path):
    server, _ = served_session
    url = f"{server.url}/ses.nwb"
    refs = intake_nwb.index(url, refs_dir=tmp_path, progress=False)[url]
    server.reset_stats()
    head = scan_nwb(refs, "/units").select("spike_times").head(2).collect()
    assert head.height == 2
    assert server.stats()["bytes_sent"] <= 2.5 * sum(len(v) for v in head["spike_times"]) * 8
    assert np.all(np.diff(head["spike_times"][0].to_numpy()) >= 0)

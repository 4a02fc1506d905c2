"""Rich display (issue 16): HTML summaries of tables, TimeSeries, sessions and files, checked for
content and escaping, and their plain-text twins."""

from __future__ import annotations

import doctest
from pathlib import Path

import polars as pl

import intake_nwb
import intake_nwb.frames.display as D

from .conftest import DATA_DIR


def test_doc_examples() -> None:
    assert doctest.testmod(D).failed == 0


def test_table_and_timeseries_summaries() -> None:
    html = D.table_html("units", rows=1234, columns={"spike_times": "List(Float64)",
                                                     "quality": "String"},
                        files=["a.nwb", "b.nwb"], path="/units")
    assert "1,234 rows, 2 columns" in html and "spike_times" in html and "List(Float64)" in html
    assert "2 files" in html and "<code>/units</code>" in html and "b.nwb" in html
    assert D.table_text("units", rows=None, columns=["a"], files=["x"]) == \
        "units: table (rows not counted, 1 columns), 1 files"
    html = D.timeseries_html("lfp", shape=(100, 4), dims=("time", "channel"), units="volts",
                             neurodata_type="ElectricalSeries", time="2500 Hz from 0 s")
    assert "(time: 100, channel: 4) in volts; 2500 Hz from 0 s" in html
    assert "ElectricalSeries" in html
    # names come from files and catalogs: never markup
    hostile = D.table_html('<img src=x onerror="alert(1)">', rows=1, columns=["<script>"],
                           files=["<b>.nwb"])
    assert "<img" not in hostile and "<script>" not in hostile and "&lt;script&gt;" in hostile


def test_sessions_summary() -> None:
    df = intake_nwb.get_metadata_df([str(DATA_DIR / "dandi-cli/sub-anm369963_ses-20170228.nwb"),
                                     str(DATA_DIR / "dandi-cli/sub-anm372793_ses-20170508.nwb")],
                                    progress=False)
    html = D.sessions_html(df, max_rows=1)
    assert "2 sessions, 2 subjects" in html and "... and 1 more" in html
    assert html.count("<tr><td>") == 1 and "subject_id" in html
    assert D.sessions_text(df).startswith("sessions: 2 sessions, 2 subjects, 2017-02-28")
    assert D.sessions_text(pl.DataFrame({"_nwb_path": ["x"]})) == "sessions: 1 session"


def test_nwbfile_html(refs_dir: Path) -> None:
    nwb = intake_nwb.open_nwb(DATA_DIR / "nwb-guide/sub-001_ses-1.nwb", refs_dir=refs_dir)
    html = nwb._repr_html_()
    assert "subject 001 Mus musculus P30D" in html and "NWB 2.6.0" in html
    assert "/general/extracellular_ephys/electrodes</td><td>DynamicTable</td><td>384" in html
    assert "<td>time: 13163, channel: 384</td><td>volts</td><td>2500 Hz from 0 s</td>" in html
    # what cannot be read says so instead of breaking the display
    odd = intake_nwb.open_nwb(DATA_DIR / "nwb-explorer/test_PlaneSegmentation.nwb",
                              refs_dir=refs_dir)._repr_html_()
    assert "test_iS" in odd and "time: 10" in odd

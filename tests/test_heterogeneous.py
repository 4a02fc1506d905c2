"""Real labs are heterogeneous (issue 10): every catalog entry reads, nothing is silently wrong.

A catalog of every real file, built with default settings, is read entry by entry with default
settings and compared with pynwb file by file, column by column: a column may be absent or
null only where a warning named it. Synthetic pynwb files add the conflicts the real files
lack (int vs float with NaN, scalar vs ragged, 1-D vs 2-D rows, text vs enum, bool vs int).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import intake
import numpy as np
import polars as pl
import pytest

import intake_nwb
from intake_nwb.cli import main
from intake_nwb.frames import get_df, scan_nwb

from .conftest import PYNWB_FAILS, real_hdf5_files, real_zarr_stores, rel
from .test_tables import _close, _norm, _ours_norm, _pynwb_tables


@pytest.fixture(scope="module")
def lab(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    files = [str(p) for p in [*real_hdf5_files(), *real_zarr_stores()]]
    return intake_nwb.build_catalog(files, tmp_path_factory.mktemp("lab") / "lab.yaml",
                                    progress=False)


def _read(entry: Any) -> tuple[pl.DataFrame, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = entry.read()
    return frame, [str(w.message) for w in caught
                   if issubclass(w.category, intake_nwb.IntakeNWBWarning)]


def test_every_entry_reads_and_equals_pynwb(lab: Path) -> None:
    cat = intake.open_catalog(str(lab))
    entries = {n: cat[n] for n in cat if cat[n].describe()["container"] == "dataframe"
               and n != "sessions"}
    read = {n: _read(e) for n, e in entries.items()}  # none raises
    by_path = {cat[n].describe()["metadata"]["table_path"]: n for n in entries}
    summary = []
    for name, (frame, said) in read.items():
        meta = cat[name].describe()["metadata"]
        left_out = [c.split("'")[1] for c in meta.get("conflicts", [])]
        assert frame.height == meta["n_rows"], name
        assert not set(left_out) & set(frame.columns), name
        for column in left_out:  # the warning names it, each file and its type
            assert any(f"'{column}' is" in text for text in said), (name, column)
        summary.append(f"| {name} | {frame.height} | {frame.width} | "
                       f"{', '.join(left_out) or '-'} |")
    compared = 0
    for path in real_hdf5_files():
        if rel(path) in PYNWB_FAILS:
            continue
        io, tables = _pynwb_tables(path)
        with io:
            for tpath, table in tables.items():
                frame, said = read[by_path[tpath]]
                ours = frame.filter(pl.col("_nwb_path") == str(path)).sort("_table_index")
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    expected = table.to_dataframe(index=True).reset_index()
                assert ours.height == len(expected), (path, tpath)
                for col in expected.columns:
                    where = f"{path} [{tpath}/{col}]"
                    if col not in ours.columns:
                        assert any(f"'{col}' is" in t and str(path) in t for t in said), where
                        continue
                    if ours[col].null_count() == ours.height and ours.height:
                        assert any(where in t for t in said), where
                        continue
                    ref_like = ours.schema[col] == pl.String or isinstance(
                        ours.schema[col], (pl.Struct, pl.List))
                    got = [_ours_norm(v, ref_like) for v in ours[col].to_list()]
                    want = [_norm(v) for v in expected[col]]
                    assert _close(got, want), f"{where}: {got[:3]} != {want[:3]}"
                    compared += 1
    assert compared > 300
    print("\n| entry | rows | columns kept | left out (warned) |\n|---|---|---|---|\n"
          + "\n".join(summary))


def test_escape_hatches_on_a_conflicting_column(lab: Path) -> None:
    cat = intake.open_catalog(str(lab))
    assert "waveform_mean" in str(cat.units.describe()["metadata"]["conflicts"])
    full, said = _read(cat.units)
    assert "waveform_mean" not in full.columns and any("'waveform_mean' is" in t for t in said)
    no_conflict, said = _read(cat.units(exclude_column_names=["waveform_mean"]))
    assert not [t for t in said if "'waveform_mean' is" in t]
    assert no_conflict.drop("waveform_mean", strict=False).equals(full, null_equal=True)
    picked, _ = _read(cat.units(include_column_names=["quality", "spike_times"]))
    assert picked.columns == ["quality", "spike_times", "_nwb_path", "_table_path",
                              "_table_index"]
    scalar, _ = _read(cat.units(exclude_array_columns=True))
    assert not any(isinstance(t, (pl.List, pl.Array)) for t in scalar.schema.values())
    as_text, said = _read(cat.units(on_conflict="json"))
    aibs = as_text.filter(pl.col("_nwb_path").str.ends_with("aibs.nwb"))
    assert json.loads(aibs["waveform_mean"][0])  # each file's own values, as JSON
    with pytest.raises(intake_nwb.SchemaConflictError, match="aibs.nwb"):
        cat.units(on_conflict="raise").read()
    lazy = cat.units.to_lazy().select("quality", "depth").collect()
    assert lazy.height == full.height
    assert cat.units.to_dask().compute().shape[0] == full.height
    with pytest.warns(intake_nwb.SchemaConflictWarning, match="infer_schema_length"):
        cat.units(infer_schema_length=1).read()


def test_truncated_ragged_index_is_clipped_as_pynwb_does(data_dir: Path, tmp_path: Path
                                                       ) -> None:
    f = str(data_dir / "nwb-linkml/aibs.nwb")
    with pytest.warns(intake_nwb.DataWarning, match=r"aibs.nwb \[/units/spike_times_index\]"):
        units = get_df(f, "/units", exclude_array_columns=False, refs_dir=tmp_path)
    counts = units["spike_times"].list.len().to_list()
    assert sum(counts) == 10 and counts[0] == 10 and set(counts[1:]) == {0}
    with pytest.raises(intake_nwb.IntakeNWBError, match="spike_times_index points outside"):
        get_df(f, "/units", exclude_array_columns=False, refs_dir=tmp_path, strict=True)


def test_a_pickle_column_does_not_sink_the_lab(lab: Path) -> None:
    cat = intake.open_catalog(str(lab))
    electrodes, said = _read(cat.electrodes)
    zarr = electrodes.filter(pl.col("_nwb_path").str.ends_with("ecephys_tutorial.nwb.zarr"))
    assert zarr.height == 12 and zarr["group"].null_count() == 12
    assert electrodes.filter(pl.col("_nwb_path").str.ends_with(".nwb"))["group"].null_count() \
        < electrodes.height - 12
    assert any("ecephys_tutorial.nwb.zarr [/general/extracellular_ephys/electrodes/group]"
               in t and "Pickle" in t for t in said)
    with pytest.raises(intake_nwb.IntakeNWBError, match="Pickle"):
        cat.electrodes(errors="raise").read()
    assert "Pickle" in " ".join(cat.electrodes.describe()["metadata"]["unreadable"])


def test_open_options_reach_catalog_entries(data_dir: Path, tmp_path: Path) -> None:
    lab = tmp_path / "data"
    lab.mkdir()
    name = "sub-anm369963_ses-20170228.nwb"
    shutil.copy2(data_dir / "dandi-cli" / name, lab / name)
    path = intake_nwb.build_catalog(str(lab / "*.nwb"), tmp_path / "cat" / "c.yaml",
                                    progress=False)
    before = intake.open_catalog(str(path)).trials.read()
    data = bytearray((lab / name).read_bytes())
    (lab / name).write_bytes(bytes(data) + b"\0" * 16)  # a change the index cannot know
    with pytest.raises(intake_nwb.StaleReferenceError, match=name):
        intake.open_catalog(str(path)).trials.read()
    again = intake.open_catalog(str(path)).trials(on_stale="reindex").read()
    assert again.equals(before)
    ignored = intake.open_catalog(str(path)).trials(on_stale="ignore").read()
    assert ignored.equals(before)


def test_globs_name_one_file_and_literal_brackets(data_dir: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    weird = tmp_path / "ses[1].nwb"
    shutil.copy2(data_dir / "dandi-cli/sub-anm369963_ses-20170228.nwb", weird)
    nwb = intake_nwb.open_nwb(str(tmp_path / "ses*.nwb"), refs_dir=tmp_path / "refs")
    assert nwb.source == str(weird)  # the glob named one file
    assert intake_nwb.get_df(str(weird), "/units", refs_dir=tmp_path / "refs").height == 1
    assert main(["ls", str(tmp_path / "*.nwb"), "--refs-dir", str(tmp_path / "refs")]) == 0
    assert "/units\tUnits" in capsys.readouterr().out


def test_catalog_cli_carries_on(data_dir: Path, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    shutil.copy2(data_dir / "dandi-cli/sub-anm369963_ses-20170228.nwb", mixed / "a.nwb")
    (mixed / "b.nwb").write_bytes(b"not an NWB file at all")
    out = tmp_path / "cat" / "c.yaml"
    assert main(["catalog", str(mixed / "*.nwb"), "-o", str(out), "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "1 left out" in captured.out and f"{mixed / 'b.nwb'}" in captured.err
    failures = intake.open_catalog(str(out)).metadata["intake_nwb"]["failures"]
    assert list(failures) == [str(mixed / "b.nwb")]
    assert main(["catalog", str(mixed / "*.nwb"), "-o", str(tmp_path / "s.yaml"),
                 "--no-progress", "--strict"]) == 1
    assert not (tmp_path / "s.yaml").exists()
    assert main(["index", str(mixed / "*.nwb"), "--refs-dir", str(tmp_path / "r"),
                 "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") <= 3 and "b.nwb" in err  # one line per failure, no traceback
    assert main(["ls", str(mixed / "b.nwb")]) == 1
    assert "Traceback" not in capsys.readouterr().err


# -- synthetic conflicts -------------------------------------------------------------------------

def _write(path: Path, variant: str) -> str:
    from hdmf.common import DynamicTable, EnumData, VectorData, VectorIndex
    from pynwb import NWBHDF5IO, NWBFile

    nwb = NWBFile("d", path.stem, dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    if variant == "a":
        cols = [VectorData(name="n", description="", data=np.array([1, 2, 3])),
                VectorData(name="label", description="", data=["x", "y", "x"]),
                VectorData(name="flag", description="", data=np.array([True, False, True])),
                VectorData(name="rows", description="", data=np.arange(12.).reshape(3, 4)),
                VectorData(name="multi", description="", data=[0.5, 1.5, 2.5])]
    else:
        elements = VectorData(name="label_elements", description="", data=["x", "y", "z"])
        multi = VectorData(name="multi", description="", data=[1., 2., 3., 4.])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            label = EnumData(name="label", description="", data=np.array([2, 0, 1], np.uint8),
                             elements=elements)
        cols = [VectorData(name="n", description="", data=np.array([1.5, np.nan, 3.0])),
                label, elements,
                VectorData(name="flag", description="", data=np.array([0, 1, 7])),
                VectorData(name="rows", description="",
                           data=np.arange(24.).reshape(3, 4, 2)),
                multi, VectorIndex(name="multi_index", target=multi, data=[1, 3, 4])]
    nwb.create_processing_module("misc", "m").add(
        DynamicTable(name="things", description="t", columns=cols))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return str(path)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    d = tmp_path_factory.mktemp("conflicts")
    return [_write(d / "a.nwb", "a"), _write(d / "b.nwb", "b")]


def test_conflict_policies_over_synthetic_files(pair: list[str], tmp_path: Path) -> None:
    table = "/processing/misc/things"
    with pytest.warns(intake_nwb.SchemaConflictWarning) as record:
        df = scan_nwb(pair, table, refs_dir=tmp_path).collect()
    text = " ".join(str(w.message) for w in record)
    for column, a_type, b_type in (("rows", "Array(Float64, shape=(4,))",
                                    "Array(Float64, shape=(4, 2))"),
                                   ("multi", "Float64", "List(Float64)")):
        assert f"'{column}' is {a_type} in {pair[0]}; {b_type} in {pair[1]}" in text
        assert column not in df.columns
    a, b = (df.filter(pl.col("_nwb_path") == p) for p in pair)
    assert df.schema["n"] == pl.Float64 and a["n"].to_list() == [1.0, 2.0, 3.0]
    assert np.isnan(b["n"][1]) and b["n"][2] == 3.0  # the NaN stays NaN
    assert df.schema["label"] == pl.String and b["label"].to_list() == ["z", "x", "y"]
    assert df.schema["flag"] == pl.Int64 and a["flag"].to_list() == [1, 0, 1]
    assert b["flag"].to_list() == [0, 1, 7]
    as_json = scan_nwb(pair, table, refs_dir=tmp_path, on_conflict="json").collect()
    b_json = as_json.filter(pl.col("_nwb_path") == pair[1])
    assert [json.loads(v) for v in b_json["multi"]] == [[1.0], [2.0, 3.0], [4.0]]
    assert json.loads(as_json["rows"][0]) == [0.0, 1.0, 2.0, 3.0]
    with pytest.raises(intake_nwb.SchemaConflictError) as err:
        scan_nwb(pair, table, refs_dir=tmp_path, on_conflict="raise")
    assert pair[0] in str(err.value) and pair[1] in str(err.value)
    # chosen before merging: an override settles a conflict, a column left out is no conflict
    fixed = scan_nwb(pair, table, refs_dir=tmp_path, exclude_column_names=["rows"],
                     schema_overrides={"multi": pl.List(pl.Float64)}, errors="warn")
    with pytest.warns(intake_nwb.SkippedWarning, match=r"a.nwb \[/processing/misc/things/multi"):
        got = fixed.collect()
    assert got.filter(pl.col("_nwb_path") == pair[1])["multi"].to_list() == [
        [1.0], [2.0, 3.0], [4.0]]  # cast where lossless; a scalar is no list: null, named
    with pytest.raises(intake_nwb.IntakeNWBError, match="multi"):  # errors="raise"
        scan_nwb(pair, table, refs_dir=tmp_path, exclude_column_names=["rows"],
                 schema_overrides={"multi": pl.List(pl.Float64)}).collect()

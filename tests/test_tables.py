"""Tables read through references equal pynwb's, for every DynamicTable of every real file."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

import intake_nwb
from intake_nwb.frames import get_df, get_metadata_df, get_table_schema, scan_nwb
from intake_nwb.nwb import NWBReader
from intake_nwb.store import open_store

from .conftest import PYNWB_FAILS, real_hdf5_files, real_zarr_stores, rel

PYNWB_FILES = [p for p in real_hdf5_files() if rel(p) not in PYNWB_FAILS]


def _norm(value):
    """Comparable form of a pynwb cell: containers by path, arrays as lists, bytes decoded."""
    from hdmf.container import AbstractContainer
    from pynwb.base import TimeSeriesReference

    if isinstance(value, TimeSeriesReference):
        return (int(value.idx_start), int(value.count), _norm(value.timeseries))
    if isinstance(value, AbstractContainer):
        return value.name
    if isinstance(value, pd.DataFrame):  # DynamicTableRegion rows resolved by pynwb
        return [int(i) for i in value.index]
    if isinstance(value, (np.ndarray, list, tuple)):
        return [_norm(v) for v in value]
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return "NaN"
    return value


def _ours_norm(value, kind_ref: bool):
    if isinstance(value, pl.Series):
        value = value.to_list()
    if isinstance(value, dict):  # struct: TimeSeriesReference -> (idx_start, count, name)
        vals = list(value.values())
        if list(value) == ["idx_start", "count", "timeseries"]:
            return (vals[0], vals[1], vals[2].rsplit("/", 1)[-1] if vals[2] else None)
        return [_ours_norm(v, False) for v in vals]  # compound row: pynwb gives a tuple
    if isinstance(value, list):
        return [_ours_norm(v, kind_ref) for v in value]
    if kind_ref and isinstance(value, str) and value.startswith("/"):
        return value.rsplit("/", 1)[-1]
    if isinstance(value, float) and np.isnan(value):
        return "NaN"
    return value


def _pynwb_tables(path: Path):
    from hdmf.common import DynamicTable
    from pynwb import NWBHDF5IO

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        io = NWBHDF5IO(str(path), "r", load_namespaces=True)
        nwbfile = io.read()
    out = {}
    for obj in nwbfile.objects.values():
        if isinstance(obj, DynamicTable):
            builder = io.manager.get_builder(obj)
            out["/" + builder.path.split("/", 1)[1]] = obj
    return io, out


@pytest.mark.parametrize("path", PYNWB_FILES, ids=rel)
def test_every_table_equals_pynwb(path: Path, real_refs: dict[str, str]) -> None:
    io, tables = _pynwb_tables(path)
    nwb = NWBReader(open_store(real_refs[str(path)]))
    assert set(tables) <= set(nwb.tables), "pynwb finds tables we do not"
    with io:
        for tpath, table in tables.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                expected = table.to_dataframe(index=True).reset_index()
            with warnings.catch_warnings():  # aibs.nwb is truncated: read as pynwb reads it
                warnings.simplefilter("ignore", intake_nwb.DataWarning)
                ours = get_df(real_refs[str(path)], tpath, exclude_array_columns=False)
            assert ours.height == len(expected), tpath
            for col in expected.columns:
                assert col in ours.columns, f"{tpath}: column {col} missing"
                ref_like = ours.schema[col] == pl.String or isinstance(
                    ours.schema[col], (pl.Struct, pl.List))
                got = [_ours_norm(v, ref_like) for v in ours[col].to_list()]
                want = [_norm(v) for v in expected[col]]
                assert _close(got, want), f"{tpath}.{col}: {got[:3]} != {want[:3]}"


def _close(a, b) -> bool:
    if isinstance(a, list) and isinstance(b, list) and a and not isinstance(a[0], (str, dict)):
        try:  # rectangular numeric data: compare in numpy, not element by element
            x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
            if x.shape == y.shape:
                return bool(np.array_equal(x, y, equal_nan=True))
        except (TypeError, ValueError):
            pass
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, (float, int)):
        return np.isclose(a, b, rtol=0, atol=0) or a == b
    return a == b


def test_files_pynwb_cannot_read_still_read(real_refs: dict[str, str]) -> None:
    for path in real_hdf5_files():
        if rel(path) in PYNWB_FAILS:
            nwb = NWBReader(open_store(real_refs[str(path)]))
            for tpath in nwb.tables:
                assert get_df(real_refs[str(path)], tpath).height >= 0


def test_matnwb_region_reference_index(data_dir: Path, refs_dir: Path) -> None:
    """MatNWB's units index holds region references; rows still get their spike times."""
    import h5py

    path = data_dir / "matnwb/ecephys_tutorial.nwb"
    df = get_df(str(path), "/units", exclude_array_columns=False, refs_dir=refs_dir)
    with h5py.File(path) as f:
        times = f["units/spike_times"][:]
        regions = [f["units/spike_times"][r] for r in f["units/spike_times_index"][:]]
    assert [list(v) for v in df["spike_times"]] == [list(r) for r in regions]
    assert sum(len(r) for r in regions) == len(times)


def test_stimulus_index_is_not_an_index(data_dir: Path, refs_dir: Path) -> None:
    df = get_df(str(data_dir / "nwb-linkml/aibs.nwb"), "/intervals/natural_scenes_presentations",
                refs_dir=refs_dir)
    assert df.schema["stimulus_index"] == pl.Float64


def test_zarr_stores_tables(data_dir: Path) -> None:
    for store in real_zarr_stores():
        nwb = NWBReader(open_store(str(store)))
        for tpath in nwb.tables:
            schema = get_table_schema(str(store), tpath)
            ok = [c for c in schema.names() if c != "group"]  # Pickle-encoded: opt-in only
            df = scan_nwb(str(store), tpath).select(ok).collect()
            assert df.height == nwb.node(tpath)["id"].shape[0]


def test_pickle_column_needs_opt_in(data_dir: Path) -> None:
    store = str(data_dir / "hdmf-zarr/ecephys_tutorial.nwb.zarr")
    with pytest.raises(intake_nwb.IntakeNWBError, match="electrodes/group.*Pickle"):
        scan_nwb(store, "/general/extracellular_ephys/electrodes").select("group").collect()


def test_unknown_table_lists_existing(data_dir: Path, refs_dir: Path) -> None:
    path = str(data_dir / "dandi-cli/sub-anm369963_ses-20170228.nwb")
    with pytest.raises(intake_nwb.TableNotFoundError, match="/intervals/trials") as info:
        scan_nwb(path, "/nope", refs_dir=refs_dir)
    assert path in str(info.value)


def test_multi_file_union_and_missing_table(data_dir: Path, refs_dir: Path) -> None:
    a = str(data_dir / "dandi-cli/sub-anm369963_ses-20170228.nwb")
    b = str(data_dir / "hdmf-zarr/sub_anm00239123_ses_20170627T093549_ecephys_and_ogen.nwb")
    c = str(data_dir / "neuroconv/ecephys_tutorial_v2.5.0.nwb")  # no trials
    with pytest.raises(intake_nwb.TableNotFoundError):
        scan_nwb([a, b, c], "/intervals/trials", refs_dir=refs_dir)
    with pytest.warns(UserWarning, match="skipped"):
        df = read = scan_nwb([a, b, c], "/intervals/trials", refs_dir=refs_dir,
                             errors="warn").collect()
    assert set(df["_nwb_path"].unique()) == {a, b}
    only_b = set(read.columns) - set(get_df(a, "/intervals/trials", refs_dir=refs_dir).columns)
    assert only_b, "the files were chosen to differ in columns"
    col = sorted(only_b)[0]
    assert df.filter(pl.col("_nwb_path") == a)[col].null_count() == df.filter(
        pl.col("_nwb_path") == a).height
    n_a = get_df(a, "/intervals/trials", refs_dir=refs_dir).height
    assert df.filter(pl.col("_nwb_path") == a)["_table_index"].to_list() == list(range(n_a))


def test_resolve_regions(data_dir: Path, refs_dir: Path) -> None:
    path = str(data_dir / "hdmf-zarr/sub_anm00239123_ses_20170627T093549_ecephys_and_ogen.nwb")
    df = scan_nwb(path, "/units", resolve_regions=True, refs_dir=refs_dir).collect()
    el = get_df(path, "/general/extracellular_ephys/electrodes", refs_dir=refs_dir)
    for idx, locs in zip(df["electrodes"], df["electrodes_location"], strict=True):
        assert list(locs) == [el["location"][int(i)] for i in idx]


def test_metadata(data_dir: Path, refs_dir: Path) -> None:
    from pynwb import NWBHDF5IO

    files = [p for p in PYNWB_FILES[:6]]
    df = get_metadata_df([str(p) for p in files], refs_dir=refs_dir, progress=False)
    assert df.height == len(files)
    assert df.schema["session_start_time"] == pl.Datetime("us", "UTC")
    for path in files:
        with NWBHDF5IO(str(path), "r", load_namespaces=True) as io:
            f = io.read()
            row = df.filter(pl.col("_nwb_path") == str(path)).row(0, named=True)
            assert row["identifier"] == f.identifier
            assert row["session_start_time"] == f.session_start_time.astimezone(
                row["session_start_time"].tzinfo)
            if f.subject is not None:
                assert row["subject_id"] == f.subject.subject_id


def test_open_nwb_describe_and_internal_paths(data_dir: Path, refs_dir: Path) -> None:
    path = str(data_dir / "dandi-cli/sub-anm369963_ses-20170228.nwb")
    nwb = intake_nwb.open_nwb(path, refs_dir=refs_dir)
    assert nwb.trials.height == 178 and "spike_times" in nwb.units.columns
    assert nwb.subject.subject_id == "anm369963"
    assert "/units" in nwb.tables and nwb.timeseries
    with pytest.raises(AttributeError, match="/intervals/trials"):
        _ = nwb.epochs
    text = intake_nwb.describe(path, refs_dir=refs_dir)
    assert "table /intervals/trials (178 rows" in text
    paths = intake_nwb.get_internal_paths(path, refs_dir=refs_dir)
    assert paths["/units"] == "Units" and paths["/intervals/trials"] == "TimeIntervals"


def test_extension_types_from_cached_specs(data_dir: Path, refs_dir: Path) -> None:
    """ndx-events' EventsTable (and the MeaningsTable nested in it), mylab's TetrodeSeries and
    ndx-pose's PoseEstimationSeries are recognised through /specifications alone."""
    events = intake_nwb.open_nwb(str(data_dir / "ndx-events/test_events.nwb"), refs_dir=refs_dir)
    assert "/events/ttl_events" in events.tables
    assert "/events/ttl_events/pulse_value_meanings" in events.tables
    assert get_df(events.source, "/events/ttl_events", refs_dir=refs_dir).height == 5
    tetrode = intake_nwb.open_nwb(str(data_dir / "nwbshowcase/cache_spec_example.nwb"),
                                  refs_dir=refs_dir)
    assert tetrode.timeseries == ["/acquisition/test_ephys_data"]
    pose = intake_nwb.open_nwb(
        str(data_dir / "dlc2nwb/m3v1mp4DLC_resnet50_openfieldAug20shuffle1_30000.nwb"),
        refs_dir=refs_dir)
    assert len(pose.timeseries) == 4


def test_public_api_is_complete() -> None:
    import intake_nwb as pkg

    assert set(pkg.__all__) == {"__version__", *pkg._EXPORTS}
    for name in pkg.__all__:
        assert getattr(pkg, name) is not None

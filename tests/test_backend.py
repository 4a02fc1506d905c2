"""The xarray backend and TimeSeries across sessions (issue 16).

Truth is pynwb: every TimeSeries it reads in every real file equals ``xr.open_dataset(f,
engine="nwb", group=path)``; whole files open as DataTrees without reading any data; tables and
reference files open through the same engine; the same series from many files comes back as a
tree by session or stacked along ``session``, lazily, and computes under dask.distributed.
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import xarray as xr

import intake_nwb
import intake_nwb.frames.arrays as A
from intake_nwb.errors import IntakeNWBError
from intake_nwb.frames.backend import NWBBackendEntrypoint as NWB
from intake_nwb.frames.indexes import StoredIndex, TimeIndex
from intake_nwb.nwb import NWBReader
from intake_nwb.nwb.timeseries import TimeSeriesReader, timeseries_paths
from intake_nwb.store import open_store

from .conftest import DATA_DIR, PYNWB_FAILS, real_hdf5_files, real_zarr_stores, rel

pynwb = pytest.importorskip("pynwb")

LICKS = "/acquisition/lick_times/lick_left_times"
DANDI = ["dandi-cli/sub-anm369963_ses-20170228.nwb", "dandi-cli/sub-anm372793_ses-20170508.nwb"]


def _quiet(fn: Any, *args: Any, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # what cannot be attached is tested in test_timeseries
        return fn(*args, **kwargs)


def _builder_path(io: Any, container: Any) -> str:
    return "/" + io.manager.get_builder(container).path.split("/", 1)[1]


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    reads: list[str] = []
    real = A.read

    def spy(handle: Any, path: str, key: Any) -> np.ndarray:
        reads.append(path)
        return real(handle, path, key)

    monkeypatch.setattr(A, "read", spy)
    return reads


# -- every series of every real file, through the engine -----------------------------------------

@pytest.mark.parametrize("name", [rel(p) for p in real_hdf5_files() if rel(p) not in PYNWB_FAILS])
def test_open_dataset_equals_pynwb(name: str, refs_dir: Path, real_refs: dict[str, str]) -> None:
    path = DATA_DIR / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        io = pynwb.NWBHDF5IO(str(path), "r", load_namespaces=True)
        nwbfile = io.read()
    nwb = NWBReader(open_store(path, refs_dir=refs_dir))
    with io:
        series = {_builder_path(io, o): o for o in nwbfile.objects.values()
                  if isinstance(o, pynwb.TimeSeries)}
        for p, ts in series.items():
            where = f"{name} {p}"
            ds = _quiet(xr.open_dataset, path, engine=NWB, group=p, refs_dir=refs_dir)
            raw = _quiet(xr.open_dataset, path, engine=NWB, group=p, refs_dir=refs_dir,
                         decode_cf=False)  # xarray's switch: mask_and_scale=False
            var = p.rsplit("/", 1)[-1]
            var = var if var in ds.data_vars else "data"
            data = np.asarray(ts.data[:])
            if ts.fields.get("external_file") is None:
                assert np.array_equal(raw[var].values, data, equal_nan=data.dtype.kind == "f"), \
                    where
                if data.dtype.kind in "biuf":
                    cc = TimeSeriesReader(nwb, p).channel_conversion
                    # pynwb's SpikeEventSeries leaves channel_conversion out; NWB does not
                    expect = ts.get_data_in_units() if cc is None or \
                        "channel_conversion" in ts.fields else \
                        data * ts.conversion * cc[None, :, None] + ts.offset
                    assert np.allclose(ds[var].values, expect, rtol=1e-6, equal_nan=True), where
            if "time" in ds.coords:
                expect = ts.timestamps[:] if ts.timestamps is not None else \
                    ts.starting_time + np.arange(ds.sizes["time"]) / ts.rate
                assert np.allclose(ds["time"].values, expect, rtol=1e-12), where
            assert ds.attrs["neurodata_type"] == ts.neurodata_type, where
            assert ds.attrs["path"] == p and ds.attrs["_nwb_path"] == str(path), where


@pytest.mark.parametrize("path", [*real_hdf5_files(), *real_zarr_stores()], ids=rel)
def test_open_datatree_is_the_file_and_reads_no_data(path: Path, refs_dir: Path,
                                                     real_refs: dict[str, str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    reads = _spy(monkeypatch)
    tree = _quiet(xr.open_datatree, path, engine=NWB, refs_dir=refs_dir)
    assert reads == []  # nodes, coordinates and indexes are all lazy
    nwb = NWBReader(open_store(path, refs_dir=refs_dir))
    for p in timeseries_paths(nwb):
        node = tree[p.lstrip("/")]
        assert node.attrs["path"] == p and node.attrs.get("neurodata_type"), p
        assert node.data_vars, p
    for p in nwb.tables:
        node = tree[p.lstrip("/")]
        assert node.attrs["path"] == p and "colnames" in node.attrs or not node.data_vars, p
    assert tree.attrs["nwb_version"] == nwb.attrs("/")["nwb_version"]
    assert "specifications" not in tree.children


# -- tables, other groups, reference files -------------------------------------------------------

def test_tables_as_datasets(refs_dir: Path, real_refs: dict[str, str]) -> None:
    import h5py

    path = DATA_DIR / DANDI[0]
    units = xr.open_dataset(path, engine=NWB, group="/units", refs_dir=refs_dir)
    assert isinstance(units.xindexes["id"], StoredIndex)
    with h5py.File(path) as h5:
        # a ragged column as NWB stores it: flat values, end offsets per row
        assert np.array_equal(units["spike_times"].values, h5["units/spike_times"][:])
        assert np.array_equal(units["spike_times_index"].values, h5["units/spike_times_index"][:])
        assert units["spike_times_index"].dims == ("id",)
        assert units["spike_times"].dims == ("spike_times_element",)
        trials = xr.open_dataset(path, engine=NWB, group="/intervals/trials", refs_dir=refs_dir)
        assert np.array_equal(trials["start_time"].values, h5["intervals/trials/start_time"][:])
        assert list(trials["type"].values) == [v.decode() if isinstance(v, bytes) else v
                                               for v in h5["intervals/trials/type"][:]]
        electrodes = xr.open_dataset(path, engine=NWB, group=(
            "/general/extracellular_ephys/electrodes"), refs_dir=refs_dir)
        # object references as the paths they point to
        assert set(electrodes["group"].values) <= {"/general/extracellular_ephys/" + g for g in
                                                   h5["general/extracellular_ephys"]}
    assert electrodes.sel(id=electrodes.id.values[3]).sizes == {}
    root = xr.open_dataset(path, engine=NWB, refs_dir=refs_dir)  # group=None: the root
    assert root.attrs["neurodata_type"] == "NWBFile" and "session_start_time" in root
    with pytest.raises(IntakeNWBError, match="no group /nope"):
        xr.open_dataset(path, engine=NWB, group="/nope", refs_dir=refs_dir)


def test_reference_files_chunks_and_guessing(refs_dir: Path, real_refs: dict[str, str]) -> None:
    source = str(DATA_DIR / "nwb-guide/sub-001_ses-1.nwb")
    refs = real_refs[source]
    ds = xr.open_dataset(refs, engine=NWB, group="/acquisition/ElectricalSeriesLF", chunks={})
    lfp = ds["ElectricalSeriesLF"]
    store = open_store(refs)
    storage = store.group["acquisition/ElectricalSeriesLF/data"].chunks
    assert lfp.chunks[0][0] == storage[0]  # xarray's chunks={}: the storage chunks
    assert not hasattr(lfp["time"].data, "dask") and isinstance(ds.xindexes["time"], TimeIndex)
    assert lfp["time"].attrs["units"] == "seconds" and lfp.attrs["units"] == "volts"
    window = lfp.isel(time=slice(0, 200), channel=slice(0, 3))
    slope = window.differentiate("time").values  # a dask array over an evenly sampled time
    assert np.allclose(slope, np.gradient(window.values, window.time.values, axis=0))
    assert xr.open_dataset(source, engine=NWB, group="/acquisition/ElectricalSeriesLF",
                           refs_dir=refs_dir).identical(ds.load())
    entry = NWB()
    assert entry.guess_can_open(source) and entry.guess_can_open(refs)
    assert entry.guess_can_open(DATA_DIR / "hdmf-zarr/ecephys_tutorial.nwb.zarr")
    assert not entry.guess_can_open("data.nc") and not entry.guess_can_open(b"bytes")
    assert "ElectricalSeriesLF" not in xr.open_dataset(
        refs, engine=NWB, group="/acquisition/ElectricalSeriesLF",
        drop_variables=["ElectricalSeriesLF"]).data_vars


def test_engine_entry_point() -> None:
    assert any(ep.name == "nwb" and ep.value.endswith(":NWBBackendEntrypoint")
               for ep in entry_points(group="xarray.backends"))
    assert "nwb" in xr.backends.list_engines()


# -- across sessions -----------------------------------------------------------------------------

def _session(path: Path, start: float, n: int, session_id: str) -> Path:
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.ecephys import ElectricalSeries

    f = NWBFile("s", session_id, datetime(2024, 1, 2, tzinfo=UTC), session_id=session_id)
    grp = f.create_electrode_group("shank", "s", "CA1", f.create_device("probe"))
    for i in range(4):
        f.add_electrode(group=grp, location="CA1", id=10 + i)
    data = (np.arange(n * 4, dtype=np.int16).reshape(n, 4) + int(start)) % 1000
    f.add_acquisition(ElectricalSeries(
        name="lfp", data=data, starting_time=start, rate=100.0, conversion=0.5,
        electrodes=f.create_electrode_table_region([0, 1, 2, 3], "all")))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(f)
    return path


@pytest.fixture(scope="module")
def two_sessions(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], Path]:
    root = tmp_path_factory.mktemp("sessions")
    files = [str(_session(root / "a.nwb", 5.0, 300, "ses-a")),
             str(_session(root / "b.nwb", 9.0, 250, "ses-b"))]
    return files, root / "refs"


def test_across_sessions_tree_and_stack(two_sessions: tuple[list[str], Path]) -> None:
    files, refs = two_sessions
    tree = intake_nwb.get_timeseries_across(files, "/acquisition/lfp", refs_dir=refs)
    assert set(tree.children) == {"ses-a", "ses-b"}  # keyed by session_id
    a = tree["ses-a"]
    assert a["lfp"].sizes == {"time": 300, "channel": 4} and a["lfp"].chunks is not None
    assert a["session_id"].item() == "ses-a" and a["_nwb_path"].item() == files[0]
    # rate-based, one rate: relative time, each session's start kept
    with pytest.raises(IntakeNWBError, match="ses-a: 300, ses-b: 250"):
        intake_nwb.get_timeseries_across(files, "/acquisition/lfp", stack=True, refs_dir=refs)
    ds = intake_nwb.get_timeseries_across(files, "/acquisition/lfp", stack=True, join="outer",
                                          refs_dir=refs)
    assert ds["lfp"].dims == ("session", "time", "channel") and ds.attrs["align"] == "relative"
    assert isinstance(ds.xindexes["time"], TimeIndex) and ds.sizes["time"] == 300
    assert list(ds["time_offset"].values) == [5.0, 9.0]
    assert list(ds["channel"].values) == [10, 11, 12, 13]
    assert np.array_equal(ds["lfp"].sel(session="ses-b").values[:250], tree["ses-b"]["lfp"].values)
    assert np.isnan(ds["lfp"].sel(session="ses-b").values[250:]).all()  # asked for: outer
    inner = intake_nwb.get_timeseries_across(files, "/acquisition/lfp", stack=True, join="inner",
                                             align="sample", refs_dir=refs)
    assert inner["lfp"].dims == ("session", "sample", "channel") and inner.sizes["sample"] == 250
    assert np.allclose(inner["time"].values[1], 9.0 + np.arange(250) / 100.0)
    # the session metadata a catalog already has, as coordinates along session
    meta = pl.DataFrame({"_nwb_path": files, "subject_id": ["m1", "m2"],
                         "session_id": ["first", "second"]})
    named = intake_nwb.get_timeseries_across(files, "/acquisition/lfp", sessions=meta,
                                             stack=True, join="inner", refs_dir=refs)
    assert list(named["session"].values) == ["first", "second"]
    assert list(named["subject_id"].values) == ["m1", "m2"]


def test_across_real_sessions(refs_dir: Path, real_refs: dict[str, str]) -> None:
    files = [str(DATA_DIR / f) for f in DANDI]
    tree = intake_nwb.get_timeseries_across(files, LICKS, refs_dir=refs_dir)
    assert [tree[k]["lick_left_times"].sizes["time"] for k in tree.children] == [782, 1758]
    ds = intake_nwb.get_timeseries_across(files, LICKS, stack=True, join="outer",
                                          refs_dir=refs_dir)
    assert ds.attrs["align"] == "sample"  # timestamps: each session keeps its own times
    truth = intake_nwb.get_timeseries(files[1], LICKS, refs_dir=refs_dir)
    assert np.array_equal(ds["time"].values[1], truth.time.values)
    assert list(ds["subject_id"].values) == ["anm369963", "anm372793"]
    with pytest.raises(IntakeNWBError, match="no TimeSeries"):
        intake_nwb.get_timeseries_across([*files, str(DATA_DIR / "nwb-guide/sub-001_ses-1.nwb")],
                                         LICKS, refs_dir=refs_dir)
    with pytest.warns(UserWarning, match="sub-001_ses-1.nwb"):
        kept = intake_nwb.get_timeseries_across(
            [*files, str(DATA_DIR / "nwb-guide/sub-001_ses-1.nwb")], LICKS, errors="warn",
            refs_dir=refs_dir)
    assert len(kept.children) == 2


def _stores_opened_here() -> int:
    from intake_nwb.store.workers import _recent

    return len(_recent)


def test_distributed(two_sessions: tuple[list[str], Path], refs_dir: Path,
                     real_refs: dict[str, str]) -> None:
    """Worker processes (one cluster for all): each opens the stores itself from the specs
    the graphs carry; the engine's arrays, get_timeseries' and a stack compute there."""
    distributed = pytest.importorskip("distributed")
    files, refs = two_sessions
    lfp = xr.open_dataset(DATA_DIR / "nwb-guide/sub-001_ses-1.nwb", engine=NWB,
                          group="/acquisition/ElectricalSeriesLF", chunks={"time": 2000},
                          refs_dir=refs_dir)["ElectricalSeriesLF"]
    sine = intake_nwb.get_timeseries(DATA_DIR / "nwbshowcase/datatypes.nwb",
                                     "/acquisition/test_mvolt_s_sine", chunks=667,
                                     refs_dir=refs_dir)
    stacked = intake_nwb.get_timeseries_across(files, "/acquisition/lfp", stack=True,
                                               join="inner", chunks=100, refs_dir=refs)["lfp"]
    expect_lfp, expect_stack = lfp.values.mean(axis=0), stacked.values.sum(axis=1)
    expect_slope = np.gradient(sine.values, sine.time.values).sum()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        mean = lfp.mean("time").compute()
        total = stacked.sum("time").compute()
        slope = sine.differentiate("time").sum().compute()  # a timestamps index, dask data
        opened = client.run(_stores_opened_here)
    assert np.allclose(mean.values, expect_lfp) and np.allclose(total.values, expect_stack)
    assert float(slope) == pytest.approx(float(expect_slope))
    assert len(opened) == 2 and sum(opened.values()) >= 2

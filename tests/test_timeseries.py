"""TimeSeries as lazy xarray objects (issue 4): equal to pynwb, lazy, chunked, distributed, plotted.

Truth is pynwb: every TimeSeries of every real file it reads must give the same data, time base,
unit and scaling. A small pynwb-written file adds the shapes the real files lack (links,
zero-length series, external-file ImageSeries, compressed and channel-split chunks, shared and
different time bases).
"""

from __future__ import annotations

import os
import pickle
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import intake_nwb.frames.timeseries as X
import intake_nwb.store.workers as W
from intake_nwb.errors import IntakeNWBError, TimeSeriesNotFoundError
from intake_nwb.nwb import NWBReader
from intake_nwb.nwb.timeseries import TimeSeriesReader, find_timeseries, timeseries_paths
from intake_nwb.refs import index
from intake_nwb.store import ChunkCacheStore, open_store

pynwb = pytest.importorskip("pynwb")

DATA = Path(os.environ.get("INTAKE_NWB_TEST_DATA",
                           Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nwb"))
# pynwb 4.2 cannot read these two (MatNWB attribute arrays, an ndx-events builder error)
PYNWB_FAILS = {"matnwb/ecephys_tutorial.nwb", "ndx-events/test_events.nwb"}
REAL = sorted(p.relative_to(DATA).as_posix() for p in DATA.rglob("*.nwb") if p.is_file()) \
    if DATA.is_dir() else []
ZARR = sorted(p.relative_to(DATA).as_posix() for p in DATA.rglob("*.nwb.zarr")) \
    if DATA.is_dir() else []


@pytest.fixture(scope="session")
def ts_refs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not REAL:
        if os.environ.get("CI"):
            pytest.fail(f"real NWB test data missing: {DATA}")
        pytest.skip(f"real NWB test data missing: {DATA}")
    refs = tmp_path_factory.mktemp("ts_refs")
    index([str(DATA / r) for r in REAL], refs_dir=refs, progress=False, errors="warn")
    return refs


def _pynwb_read(path: Path) -> tuple[Any, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        io = pynwb.NWBHDF5IO(str(path), "r", load_namespaces=True)
        return io, io.read()


def _close(a: Any, b: Any) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind in "fc" or b.dtype.kind in "fc":
        return a.shape == b.shape and np.allclose(a, b, equal_nan=True, rtol=1e-12, atol=0)
    return a.shape == b.shape and bool(np.all(a == b))


def _text(v: Any) -> Any:
    return v.decode() if isinstance(v, bytes) else v


def _builder_path(io: Any, container: Any) -> str:
    return "/" + io.manager.get_builder(container).path.split("/", 1)[1]


def compare_with_pynwb(path: Path, refs_dir: Path) -> int:
    """Every pynwb TimeSeries of ``path`` equals ours; returns how many were compared."""
    io, nwbfile = _pynwb_read(path)
    with io:
        # match by the path pynwb read each series from (old files have no object_id)
        theirs = {_builder_path(io, o): o for o in nwbfile.objects.values()
                  if isinstance(o, pynwb.TimeSeries)}
        nwb = NWBReader(open_store(path, refs_dir=refs_dir))
        ours = timeseries_paths(nwb)
        assert set(theirs) <= set(ours), f"series pynwb sees that we miss in {path}"
        for p, ts in theirs.items():
            where = f"{path.name} {p}"
            da = X.get_timeseries(nwb, p)
            reader = TimeSeriesReader(nwb, p)
            data = np.asarray(ts.data[:])
            if reader.has_data:
                assert _close(da.values, data), where
                if data.dtype.kind in "biuf":
                    scaled = X.get_timeseries(nwb, p, scaled=True).values
                    cc = reader.channel_conversion
                    if cc is None or "channel_conversion" in ts.fields:
                        expect = ts.get_data_in_units()
                    else:  # pynwb's SpikeEventSeries ignores channel_conversion; NWB does not
                        expect = data * ts.conversion * cc.reshape(
                            (1, -1) + (1,) * (data.ndim - 2)) + ts.offset
                    assert np.allclose(scaled, expect, rtol=1e-6, equal_nan=True), where
            else:  # external frames: no values here nor in pynwb
                assert data.size == 0 and da.size == 0 and da.attrs["external_file"], where
            if ts.timestamps is not None:
                assert _close(da["time"].values, ts.timestamps[:]), where
            else:
                assert da.attrs["starting_time"] == ts.starting_time, where
                assert da.attrs["rate"] == ts.rate, where
                expect = ts.starting_time + np.arange(da.sizes["time"]) / ts.rate
                assert np.allclose(da["time"].values, expect, rtol=1e-12), where
            assert da.attrs.get("unit") == (_text(ts.unit) if reader.has_data else
                                            da.attrs.get("unit")), where
            for attr in ("conversion", "offset", "resolution"):
                assert _close(da.attrs[attr], getattr(ts, attr)), (where, attr)
            assert da.attrs["description"] == _text(ts.description), where
            assert da.attrs["comments"] == _text(ts.comments), where
            assert da.attrs["neurodata_type"] == ts.neurodata_type, where
            assert da.attrs["_nwb_path"] == str(path) and da.attrs["path"] == p
            assert da.dims[0] == "time"
            region = getattr(ts, "electrodes", None)
            if region is not None and "channel" in da.coords:
                rows = np.asarray(region.data[:])
                assert _close(da["electrode_index"].values, rows), where
                assert _close(da["channel"].values, np.asarray(region.table.id[:])[rows]), where
            rois = getattr(ts, "rois", None)
            if rois is not None and "roi" in da.coords:
                rows = np.asarray(rois.data[:])
                assert _close(da["roi"].values, np.asarray(rois.table.id[:])[rows]), where
        return len(theirs)


# -- real files ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [r for r in REAL if r not in PYNWB_FAILS])
def test_real_file_equals_pynwb(name: str, ts_refs: Path) -> None:
    compare_with_pynwb(DATA / name, ts_refs)


@pytest.mark.parametrize("name", sorted(PYNWB_FAILS))
def test_files_pynwb_cannot_read(name: str, ts_refs: Path) -> None:
    path = DATA / name
    if not path.exists():
        pytest.skip(f"{name} missing")
    out = X.get_timeseries(path, match_all=True, refs_dir=ts_refs)
    assert isinstance(out, dict)
    for p, da in out.items():
        assert da.values.shape == da.shape and da.attrs["path"] == p


@pytest.mark.parametrize("name", ZARR)
def test_zarr_stores(name: str) -> None:
    store = open_store(DATA / name)
    out = X.get_timeseries(store, match_all=True)
    assert out
    for p, da in out.items():
        assert _close(da.values, store.group[p.strip("/") + "/data"][...])
        assert da["time"].size == da.sizes["time"]


def test_coordinates_by_type(ts_refs: Path) -> None:
    es = X.get_timeseries(DATA / "nwb-guide/sub-001_ses-1.nwb", refs_dir=ts_refs)
    assert es.dims == ("time", "channel") and es.sizes["channel"] == 384
    assert {"electrode_index", "location", "group_name"} <= set(es.coords)
    assert isinstance(es.xindexes["time"], X.TimeIndex)
    ses = X.get_timeseries(DATA / "aqnwb/createESandSES.nwb", "/acquisition/spikedata0",
                           refs_dir=ts_refs)
    assert ses.dims == ("time", "channel", "sample")
    rr = X.get_timeseries(DATA / "neuroconv/nwb_test.nwb", search="Deconvolved", refs_dir=ts_refs)
    assert rr.dims == ("time", "roi")
    sp = X.get_timeseries(DATA / "nwbshowcase/datatypes.nwb", search="spatial_series_2D",
                          refs_dir=ts_refs)
    assert sp.dims == ("time", "axis") and list(sp["axis"].values) == ["x", "y"]
    # an extension type (TetrodeSeries extends ElectricalSeries, from the cached spec)
    ext = X.get_timeseries(DATA / "nwbshowcase/cache_spec_example.nwb", refs_dir=ts_refs)
    assert ext.attrs["neurodata_type"] == "TetrodeSeries" and ext.dims == ("time", "channel")


def test_search_and_errors(ts_refs: Path) -> None:
    nwb = NWBReader(open_store(DATA / "aqnwb/createESandSES.nwb", refs_dir=ts_refs))
    assert len(find_timeseries(nwb, "ElectricalSeries", match_all=True)) == 4  # + subtypes
    assert find_timeseries(nwb, "SpikeEventSeries", match_all=True) == [
        "/acquisition/spikedata0", "/acquisition/spikedata1"]
    assert find_timeseries(nwb, "/acquisition/esdata*", match_all=True) == [
        "/acquisition/esdata0", "/acquisition/esdata1"]
    assert find_timeseries(nwb, "acquisition/esdata1") == ["/acquisition/esdata1"]
    with pytest.raises(TimeSeriesNotFoundError, match="4 TimeSeries match"):
        find_timeseries(nwb)
    with pytest.raises(TimeSeriesNotFoundError, match="esdata0"):
        find_timeseries(nwb, "nothing-like-this")
    with pytest.raises(TimeSeriesNotFoundError, match="no TimeSeries at /acquisition/nope"):
        X.get_timeseries(nwb, "/acquisition/nope")
    assert find_timeseries(nwb, "nothing", match_all=True) == []


def test_dataset_shared_time_base(ts_refs: Path) -> None:
    ds = X.get_timeseries_dataset(DATA / "neuroconv/nwb_test.nwb", "/processing/ophys",
                                  refs_dir=ts_refs)
    assert set(ds.data_vars) == {"RoiResponseSeries", "Neuropil", "Deconvolved"}
    assert dict(ds.sizes) == {"time": 250, "roi": 15}
    # timestamps shared through soft links
    aibs = DATA / "nwb-linkml/aibs.nwb"
    ds = X.get_timeseries_dataset(aibs, "/acquisition", refs_dir=ts_refs)
    assert len(ds.data_vars) == 3 and isinstance(ds.xindexes["time"], X.TimestampsIndex)
    # separate but equal timestamps datasets
    ds = X.get_timeseries_dataset(aibs, "/processing/raw_gaze_mapping", refs_dir=ts_refs)
    assert set(ds.data_vars) == {"eye_area", "pupil_area", "screen_coordinates",
                                 "screen_coordinates_spherical"}
    with pytest.raises(IntakeNWBError, match="do not share a time base"):
        X.get_timeseries_dataset(aibs, "/processing/running", refs_dir=ts_refs)
    with pytest.warns(UserWarning, match="running_speed_end_times"):
        ds = X.get_timeseries_dataset(aibs, "/processing/running", mismatched="drop",
                                      refs_dir=ts_refs)
    assert set(ds.data_vars) == {"running_speed", "running_wheel_rotation"}
    # names repeated under /processing: variables named by relative path
    ds = X.get_timeseries_dataset(aibs, "/processing", search="eye_area", refs_dir=ts_refs)
    assert set(ds.data_vars) == {"filtered_gaze_mapping/eye_area", "raw_gaze_mapping/eye_area"}


def test_hvplot_html(ts_refs: Path, tmp_path: Path) -> None:
    hvplot = pytest.importorskip("hvplot")
    pytest.importorskip("hvplot.xarray")
    da = X.get_timeseries(DATA / "nwbshowcase/datatypes.nwb", "/acquisition/test_volt_s_sine",
                          refs_dir=ts_refs)
    out = tmp_path / "series.html"
    hvplot.save(da.hvplot(), out)
    assert out.stat().st_size > 1000 and "bokeh" in out.read_text()[:5000].lower()
    # a long series reaches the figure downsampled (LTTB): a few hundred of 13163 points
    lf = X.get_timeseries(DATA / "nwb-guide/sub-001_ses-1.nwb", refs_dir=ts_refs)
    import holoviews as hv

    fig = hv.render(lf.isel(channel=0).hvplot(x="time", downsample=True))
    sizes = [len(next(iter(r.data_source.data.values()))) for r in fig.renderers]
    assert sizes and max(sizes) < 2000


# -- synthetic file ------------------------------------------------------------------------------

N_LFP, N_CH, LFP_CHUNK = 20_000, 8, 1000


def _write_synthetic(path: Path) -> Path:
    from hdmf.backends.hdf5 import H5DataIO
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.behavior import Position, SpatialSeries
    from pynwb.ecephys import ElectricalSeries
    from pynwb.image import ImageSeries
    from pynwb.misc import AnnotationSeries

    f = NWBFile("synthetic", "ts-test", datetime(2024, 1, 1, tzinfo=UTC))
    dev = f.create_device("probe")
    grp = f.create_electrode_group("shank", "s", "CA1", dev)
    for i in range(N_CH):
        f.add_electrode(group=grp, location=f"loc{i % 3}", id=100 + i)
    rng = np.random.default_rng(0)
    lfp = rng.integers(-2000, 2000, (N_LFP, N_CH), dtype=np.int16)
    f.add_acquisition(ElectricalSeries(
        name="lfp", data=H5DataIO(lfp, chunks=(LFP_CHUNK, N_CH), compression="gzip"),
        electrodes=f.create_electrode_table_region(list(range(N_CH)), "all"),
        starting_time=2.0, rate=1000.0, conversion=0.5, offset=0.25,
        channel_conversion=np.linspace(0.5, 1.5, N_CH)))
    f.add_acquisition(ElectricalSeries(
        name="lfp_sub", data=lfp[:, :4].copy(), starting_time=2.0, rate=1000.0,
        electrodes=f.create_electrode_table_region([0, 1, 2, 3], "four")))
    f.add_acquisition(ElectricalSeries(
        name="raw", data=rng.standard_normal((5000, 3)).astype(np.float32),
        electrodes=f.create_electrode_table_region([2, 4, 6], "three"),
        timestamps=np.cumsum(rng.uniform(0.001, 0.002, 5000))))
    # raw chunks that split channels: reads must not take rows as whole chunks
    f.add_acquisition(TimeSeries(name="split", unit="a.u.", rate=100.0,
                                 data=H5DataIO(np.arange(6000 * 64, dtype=np.int32).reshape(
                                     6000, 64), chunks=(500, 16))))
    a = TimeSeries(name="a", data=np.arange(50.0), unit="m", timestamps=np.arange(50) / 7)
    f.add_acquisition(a)
    f.add_acquisition(TimeSeries(name="b", data=a, unit="m", timestamps=a))  # both linked
    f.add_acquisition(TimeSeries(name="empty", data=np.empty((0, 3)), unit="V", rate=10.0))
    f.add_acquisition(ImageSeries(name="movie", external_file=["m1.avi", "m2.avi"],
                                  starting_frame=[0, 5], format="external", rate=30.0,
                                  num_samples=12, unit="n.a."))
    f.add_acquisition(AnnotationSeries(name="notes", data=["go", "stop", "go"],
                                       timestamps=[1.0, 2.0, 3.0]))
    beh = f.create_processing_module("behavior", "behavior")
    pos = Position(name="Position")
    for name, rate in (("head", 50.0), ("body", 50.0), ("tail", 25.0)):
        pos.add_spatial_series(SpatialSeries(name=name, data=rng.standard_normal((500, 3)),
                                             reference_frame="arena", rate=rate))
    beh.add(pos)
    beh.add(TimeSeries(name="long", data=np.sin(np.arange(200_000) / 500.0), unit="V",
                       rate=50.0))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(f)
    return path


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("ts_synth")
    path = _write_synthetic(root / "synthetic.nwb")
    refs = root / "refs"
    index([str(path)], refs_dir=refs, progress=False)
    return path, refs


def test_synthetic_equals_pynwb(synth: tuple[Path, Path]) -> None:
    assert compare_with_pynwb(*synth) == 13


def test_links_empty_external(synth: tuple[Path, Path]) -> None:
    path, refs = synth
    b = X.get_timeseries(path, "/acquisition/b", refs_dir=refs)
    assert b.attrs["data_path"] == "/acquisition/a/data"
    assert b.attrs["timestamps_path"] == "/acquisition/a/timestamps"
    assert np.array_equal(b.values, np.arange(50.0))
    empty = X.get_timeseries(path, "/acquisition/empty", refs_dir=refs)
    assert empty.shape == (0, 3) and empty.values.shape == (0, 3)
    assert empty.sizes["time"] == 0 and empty.time.values.shape == (0,)
    movie = X.get_timeseries(path, "/acquisition/movie", refs_dir=refs)
    assert movie.dims == ("time", "y", "x") and movie.shape == (12, 0, 0)
    assert movie.attrs["external_file"] == ["m1.avi", "m2.avi"]
    assert movie.attrs["starting_frame"] == [0, 5] and movie.attrs["format"] == "external"
    assert np.allclose(movie.time.values, np.arange(12) / 30.0)
    notes = X.get_timeseries(path, "/acquisition/notes", refs_dir=refs)
    assert list(notes.values) == ["go", "stop", "go"]


def test_scaled_and_sel(synth: tuple[Path, Path]) -> None:
    path, refs = synth
    raw = X.get_timeseries(path, "/acquisition/lfp", refs_dir=refs)
    scaled = X.get_timeseries(path, "/acquisition/lfp", scaled=True, refs_dir=refs)
    cc = np.linspace(0.5, 1.5, N_CH)
    assert scaled.dtype == np.float64 and scaled.attrs["scaled"] == 1
    assert np.allclose(scaled.values, raw.values * 0.5 * cc + 0.25)
    assert list(raw["channel"].values) == list(range(100, 100 + N_CH))
    assert list(raw["location"].values) == [f"loc{i % 3}" for i in range(N_CH)]
    # label selection on the lazy indexes: rate-based, then timestamps-based
    win = raw.sel(time=slice(3.0, 3.999))
    assert win.sizes["time"] == 1000 and win.time.values[0] == pytest.approx(3.0)
    assert raw.sel(time=2.5).shape == (N_CH,)
    with pytest.raises(KeyError):
        raw.sel(time=2.5004)
    ts = X.get_timeseries(path, "/acquisition/raw", refs_dir=refs)
    t = ts.time.values
    assert np.array_equal(ts.sel(time=slice(t[10], t[19])).values, ts.values[10:20])


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    calls: list[tuple[str, Any]] = []
    real = X.read_block

    def spy(spec: X.StoreSpec, path: str, key: Any) -> np.ndarray:
        calls.append((path, key))
        return real(spec, path, key)

    monkeypatch.setattr(X, "read_block", spy)
    return calls


def test_lazy_and_chunk_aligned(synth: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
                                ) -> None:
    path, refs = synth
    calls = _spy(monkeypatch)
    everything = X.get_timeseries(path, match_all=True, refs_dir=refs)
    assert len(everything) == 13 and calls == []  # nothing read until compute
    lfp = everything["/acquisition/lfp"]
    assert lfp.chunks[0] == (N_LFP,)  # 20 storage chunks fit one ~64 MB block
    small = X.get_timeseries(path, "/acquisition/lfp", chunks=LFP_CHUNK, refs_dir=refs)
    assert small.chunks == ((LFP_CHUNK,) * (N_LFP // LFP_CHUNK), (N_CH,))
    assert X.get_timeseries(path, "/acquisition/lfp", chunks={"time": 3000},
                            refs_dir=refs).chunks[0][:2] == (3000, 3000)
    window = small.isel(time=slice(2500, 4500)).values
    rows = sorted((k[0].start, k[0].stop) for p, k in calls if p.endswith("lfp/data"))
    assert rows == [(2500, 3000), (3000, 4000), (4000, 4500)]  # only the blocks it overlaps
    assert np.array_equal(window, lfp.values[2500:4500])
    # channel-split raw chunks read correctly (zarr path, not whole-row byte ranges)
    split = X.get_timeseries(path, "/acquisition/split", chunks=700, refs_dir=refs)
    expect = np.arange(6000 * 64, dtype=np.int32).reshape(6000, 64)
    assert np.array_equal(split.values, expect)
    assert np.array_equal(split.isel(time=slice(1234, 2345), dim_1=[3, 40]).values,
                          expect[1234:2345][:, [3, 40]])
    nwb = NWBReader(open_store(path, refs_dir=refs))
    assert np.array_equal(TimeSeriesReader(nwb, "/acquisition/split").read(1234, 2345),
                          expect[1234:2345])
    assert np.array_equal(TimeSeriesReader(nwb, "/acquisition/lfp").read(10, 20),
                          lfp.values[10:20])


def test_memory_cache_reads_chunks_once(synth: tuple[Path, Path]) -> None:
    path, refs = synth
    store = open_store(path, refs_dir=refs, cache="memory")
    lfp = X.get_timeseries(store, "/acquisition/lfp", chunks=LFP_CHUNK, cache="memory")
    cache = store.group.store._store  # under the store that names the source in errors
    assert isinstance(cache, ChunkCacheStore)
    first = lfp.isel(time=slice(2500, 4500)).values
    # entries are named by the byte ranges they hold (a re-index cannot make them stale)
    ranges = {f"{r[1]}-{r[2]}" for k, r in store.fs.references.items()
              if k.startswith("acquisition/lfp/data/") and isinstance(r, list)}
    held = sorted(k for k in cache._lru if k in ranges)
    assert held == sorted(f"{r[1]}-{r[2]}" for r in (
        store.fs.references[f"acquisition/lfp/data/{i}.0"] for i in (2, 3, 4)))
    inner_gets: list[str] = []
    real_get = cache._store.get

    async def counting_get(key: str, *args: Any, **kwargs: Any) -> Any:
        inner_gets.append(key)
        return await real_get(key, *args, **kwargs)

    cache._store.get = counting_get  # type: ignore[method-assign]
    again = lfp.isel(time=slice(2500, 4500)).values
    assert np.array_equal(first, again) and not [k for k in inner_gets if "lfp/data" in k]


def test_pickle_roundtrip(synth: tuple[Path, Path]) -> None:
    path, refs = synth
    for p in ("/acquisition/lfp", "/acquisition/raw"):
        da = X.get_timeseries(path, p, refs_dir=refs, scaled=True)
        back = pickle.loads(pickle.dumps(da))
        assert back.identical(da) or np.array_equal(back.values, da.values)
        assert type(back.xindexes["time"]) is type(da.xindexes["time"])
        W._stores.clear()  # as in a fresh process: the spec reopens the store
        W._arrays.clear()
        assert np.array_equal(back.isel(time=slice(100, 300)).values,
                              da.isel(time=slice(100, 300)).values)


def test_distributed_reduction(synth: tuple[Path, Path]) -> None:
    distributed = pytest.importorskip("distributed")
    path, refs = synth
    lfp = X.get_timeseries(path, "/acquisition/lfp", chunks=2500, scaled=True, refs_dir=refs)
    raw = X.get_timeseries(path, "/acquisition/raw", chunks=1000, refs_dir=refs)
    expect_mean = lfp.values.mean(axis=0)
    expect_t = raw.time.values.sum()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        mean = lfp.mean("time").compute()
        tsum = raw.time.sum().compute()
        ran_on = client.run(lambda: len(W._stores))  # each worker opened its own store
    assert np.allclose(mean.values, expect_mean) and float(tsum) == pytest.approx(expect_t)
    assert len(ran_on) == 2 and all(n >= 1 for n in ran_on.values())


def test_synthetic_dataset(synth: tuple[Path, Path]) -> None:
    path, refs = synth
    with pytest.raises(IntakeNWBError, match="tail"):
        X.get_timeseries_dataset(path, "/processing/behavior", refs_dir=refs)
    ds = X.get_timeseries_dataset(path, "/processing/behavior", search="Position/h*",
                                  refs_dir=refs)
    assert set(ds.data_vars) == {"head"}
    with pytest.warns(UserWarning, match="tail"):
        ds = X.get_timeseries_dataset(path, "/processing/behavior/Position", mismatched="drop",
                                      refs_dir=refs)
    assert set(ds.data_vars) == {"head", "body"} and dict(ds.sizes) == {"time": 500, "axis": 3}
    assert isinstance(ds.xindexes["time"], X.TimeIndex) and ds.attrs["rate"] == 50.0
    # same time base, different channels: the second series gets its own channel dim
    ds = X.get_timeseries_dataset(path, "/acquisition", search="lfp", refs_dir=refs)
    assert ds["lfp"].dims == ("time", "channel")
    assert ds["lfp_sub"].dims == ("time", "lfp_sub_channel")
    assert list(ds["lfp_sub_channel"].values) == [100, 101, 102, 103]
    assert np.array_equal(ds["lfp_sub"].isel(time=slice(0, 5)).values,
                          X.get_timeseries(path, "/acquisition/lfp_sub",
                                           refs_dir=refs).values[:5])


# -- remote reads --------------------------------------------------------------------------------

def test_http_window_reads_its_bytes(ts_refs: Path, tmp_path: Path) -> None:
    from tests.support.http_server import RangeHTTPServer

    with RangeHTTPServer(DATA / "nwb-guide") as srv:
        url = srv.url_for("sub-001_ses-1.nwb")
        results = {}
        for cache in (None, "memory"):
            da = X.get_timeseries(url, cache=cache, refs_dir=tmp_path / "refs", chunks=2000)
            counts = [srv.stats()]
            window = da.isel(time=slice(100, 3000)).values
            counts.append(srv.stats())
            again = da.isel(time=slice(100, 3000)).values
            counts.append(srv.stats())
            assert np.array_equal(window, again)
            results[cache] = counts
        local = X.get_timeseries(DATA / "nwb-guide/sub-001_ses-1.nwb", refs_dir=ts_refs)
        assert np.array_equal(window, local.isel(time=slice(100, 3000)).values)
    first, second = (results[None][i + 1]["bytes_sent"] - results[None][i]["bytes_sent"]
                     for i in range(2))
    # uncached: each read fetches about the window's bytes (not the whole 10 MB series)
    assert window.nbytes <= first < window.nbytes * 1.25 and second == first
    mem = results["memory"]
    assert mem[2]["requests"] == mem[1]["requests"]  # second read served from memory


def test_http_disk_cache(tmp_path: Path) -> None:
    from tests.support.http_server import RangeHTTPServer

    with RangeHTTPServer(DATA / "nwb-guide") as srv:
        url = srv.url_for("sub-001_ses-1.nwb")
        da = X.get_timeseries(url, cache="disk", cache_dir=tmp_path / "blocks",
                              refs_dir=tmp_path / "refs")
        window = da.isel(time=slice(100, 3000)).values
        assert any((tmp_path / "blocks").iterdir())
        W._stores.clear()  # a new session: bytes come from the disk cache
        W._arrays.clear()
        before = srv.stats()["bytes_sent"]
        da = X.get_timeseries(url, cache="disk", cache_dir=tmp_path / "blocks",
                              refs_dir=tmp_path / "refs")
        assert np.array_equal(da.isel(time=slice(100, 3000)).values, window)
        assert srv.stats()["bytes_sent"] - before < window.nbytes / 10

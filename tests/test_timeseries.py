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
import xarray as xr
from xarray.backends.file_manager import FILE_CACHE

import intake_nwb.frames.arrays as A
import intake_nwb.frames.timeseries as X
import intake_nwb.store.workers as W
from intake_nwb.errors import IntakeNWBError, TimeSeriesNotFoundError
from intake_nwb.frames.backend import NWBBackendEntrypoint
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


def _known_dim(da: Any, dim: str) -> bool:
    return dim in {"time", "channel", "sample", "roi", "axis", "band", "feature", "y", "x", "z"} \
        or dim.startswith(f"{da.attrs['path'].rsplit('/', 1)[-1]}_dim_")


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
            reader = TimeSeriesReader(nwb, p)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # what is left out is checked elsewhere
                da = X.get_timeseries(nwb, p)
                raw = X.get_timeseries(nwb, p, scaled=False)
            data = np.asarray(ts.data[:])
            if reader.has_data:
                assert _close(raw.values, data), where
                if data.dtype.kind in "biuf":
                    cc = reader.channel_conversion
                    if cc is None or "channel_conversion" in ts.fields:
                        expect = ts.get_data_in_units()
                    else:  # pynwb's SpikeEventSeries ignores channel_conversion; NWB does not
                        expect = data * ts.conversion * cc.reshape(
                            (1, -1) + (1,) * (data.ndim - 2)) + ts.offset
                    assert np.allclose(da.values, expect, rtol=1e-6, equal_nan=True), where
                    if ts.unit not in ("no unit", "n.a."):
                        assert da.attrs["units"] == _text(ts.unit), where
            else:  # frames in external files: which file holds each sample, no made-up frame
                files = [_text(f) for f in ts.external_file[:]]
                assert da.dims == ("time",) and set(da.values) <= set(files), where
                assert da.attrs["external_file"] == files, where
            if not reader.timestamps_match:  # said, and no time coordinate made up
                assert "time" not in da.coords, where
            elif ts.timestamps is not None:
                assert _close(da["time"].values, ts.timestamps[:]), where
                assert da["time"].attrs["units"] == "seconds", where
            else:
                assert da.attrs["starting_time"] == ts.starting_time, where
                assert da.attrs["rate"] == ts.rate, where
                expect = ts.starting_time + np.arange(da.sizes["time"]) / ts.rate
                assert np.allclose(da["time"].values, expect, rtol=1e-12), where
                assert da["time"].attrs["units"] == "seconds", where
            assert da.attrs.get("unit") == (_text(ts.unit) if reader.has_data else
                                            da.attrs.get("unit")), where
            for attr in ("conversion", "offset", "resolution"):
                assert _close(da.attrs[attr], getattr(ts, attr)), (where, attr)
            assert da.attrs["description"] == _text(ts.description), where
            assert da.attrs["comments"] == _text(ts.comments), where
            assert da.attrs["neurodata_type"] == ts.neurodata_type, where
            assert da.attrs["_nwb_path"] == str(path) and da.attrs["path"] == p
            assert da.dims[0] == "time" and all(_known_dim(da, d) for d in da.dims), where
            region = getattr(ts, "electrodes", None)
            if region is not None and "channel" in da.coords:
                rows = np.asarray(region.data[:])
                assert _close(da["electrode_index"].values, rows), where
                assert _close(da["channel"].values, np.asarray(region.table.id[:])[rows]), where
            rois = getattr(ts, "rois", None)
            if rois is not None and "roi" in da.coords:
                rows = np.asarray(rois.data[:])
                assert _close(da["roi"].values, np.asarray(rois.table.id[:])[rows]), where
            if getattr(ts, "confidence", None) is not None:  # ndx-pose
                assert _close(da["confidence"].values, ts.confidence[:]), where
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
    # ndx-pose: per-frame confidence on time, the reference frame as an attribute
    pose = X.get_timeseries(DATA / "dlc2nwb/m3v1mp4DLC_resnet50_openfieldAug20shuffle1_30000.nwb",
                            search="ind1_snout", refs_dir=ts_refs)
    assert pose.dims == ("time", "axis") and pose["confidence"].dims == ("time",)
    assert pose.attrs["reference_frame"].startswith("(0,0)")
    # a plain 2-D TimeSeries: the second dimension is named after the series
    csd = X.get_timeseries(DATA / "nwb-linkml/aibs_ecephys.nwb", search="current_source_density",
                           refs_dir=ts_refs)
    assert csd.dims == ("time", "current_source_density_dim_1")


@pytest.mark.parametrize(("name", "path", "why"), [
    ("matnwb/ecephys_tutorial.nwb", "/acquisition/ECoG", "lists 2 rows for 10 channels"),
    ("neuroconv/ecephys_tutorial_v2.5.0.nwb", "/processing/ecephys/LFP/ElectricalSeries",
     "lists 12 rows for 4 channels"),
    ("nwb-explorer/test_PlaneSegmentation.nwb", "/processing/plane_seg_test_module/"
     "ImageSegmentation/test_plane_seg_name/reference_images/test_iS",
     r"starting_frame \[1, 2, 3\] does not describe one file"),
])
def test_what_cannot_be_attached_is_said(name: str, path: str, why: str, ts_refs: Path) -> None:
    with pytest.warns(UserWarning, match=why) as caught:
        da = X.get_timeseries(DATA / name, path, refs_dir=ts_refs)
    assert str(DATA / name) in str(caught[0].message) and path in str(caught[0].message)
    assert "channel" not in da.coords and "frame" not in da.coords


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
    assert len(ds.data_vars) == 3 and isinstance(ds.xindexes["time"], X.StoredIndex)
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
    import h5py
    from hdmf.backends.hdf5 import H5DataIO
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.behavior import Position, SpatialSeries
    from pynwb.ecephys import ElectricalSeries
    from pynwb.image import ImageSeries, OpticalSeries
    from pynwb.misc import AnnotationSeries, DecompositionSeries

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
    # uncompressed int16 with one conversion: raw values are CF-encoded (scale_factor)
    f.add_acquisition(ElectricalSeries(
        name="one_factor", data=lfp[:, :4].copy(), starting_time=0.0, rate=1000.0,
        conversion=1e-6, electrodes=f.create_electrode_table_region([0, 1, 2, 3], "again")))
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
    f.add_acquisition(ImageSeries(name="frames_elsewhere", external_file=["a.avi"],
                                  starting_frame=[0], format="external",
                                  timestamps=[0.0, 0.5, 1.0], unit="n.a."))
    f.add_acquisition(OpticalSeries(name="optical", external_file=["o1.avi", "o2.avi"],
                                    starting_frame=[0, 45], format="external",
                                    timestamps=np.arange(90) / 30, distance=1.0,
                                    field_of_view=[0.1, 0.1], orientation="up", unit="n.a."))
    f.add_acquisition(TimeSeries(name="short_ts", data=np.arange(20.0), unit="m",
                                 timestamps=np.arange(20) / 10))
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
    ecephys = f.create_processing_module("ecephys", "ecephys")
    csd = DecompositionSeries(name="bands_power", data=rng.random((100, 4, 3)), metric="power",
                              rate=100.0, description="band power", source_channels=
                              f.create_electrode_table_region([0, 1, 2, 3], "source"))
    for band, limits in (("theta", (4.0, 8.0)), ("beta", (13.0, 30.0)), ("gamma", (30.0, 80.0))):
        csd.add_band(band_name=band, band_limits=limits, band_mean=sum(limits) / 2,
                     band_stdev=1.0)
    ecephys.add(csd)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(f)
    # what pynwb refuses to write and other writers do: a placeholder beside external frames,
    # timestamps of another length than the data
    with h5py.File(path, "a") as h5:
        attrs = dict(h5["acquisition/optical/data"].attrs)
        del h5["acquisition/optical/data"]
        h5.create_dataset("acquisition/optical/data", data=np.full((2, 2, 2), np.nan))
        h5["acquisition/optical/data"].attrs.update(attrs)
        del h5["acquisition/short_ts/timestamps"]
        h5.create_dataset("acquisition/short_ts/timestamps", data=np.arange(18) / 10)
    return path


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("ts_synth")
    path = _write_synthetic(root / "synthetic.nwb")
    refs = root / "refs"
    index([str(path)], refs_dir=refs, progress=False)
    return path, refs


N_SERIES = 18


def test_synthetic_equals_pynwb(synth: tuple[Path, Path]) -> None:
    assert compare_with_pynwb(*synth) == N_SERIES


def test_links_empty_external(synth: tuple[Path, Path]) -> None:
    path, refs = synth
    b = X.get_timeseries(path, "/acquisition/b", refs_dir=refs)
    assert b.attrs["data_path"] == "/acquisition/a/data"
    assert b.attrs["timestamps_path"] == "/acquisition/a/timestamps"
    assert np.array_equal(b.values, np.arange(50.0))
    empty = X.get_timeseries(path, "/acquisition/empty", refs_dir=refs)
    assert empty.shape == (0, 3) and empty.values.shape == (0, 3)
    assert empty.sizes["time"] == 0 and empty.time.values.shape == (0,)
    notes = X.get_timeseries(path, "/acquisition/notes", refs_dir=refs)
    assert list(notes.values) == ["go", "stop", "go"]


def test_external_frames_are_not_made_up(synth: tuple[Path, Path]) -> None:
    path, refs = synth
    # rate-based, 2 files: each sample says which file and which frame in it holds it
    movie = X.get_timeseries(path, "/acquisition/movie", refs_dir=refs)
    assert movie.dims == ("time",) and movie.sizes["time"] == 12
    assert list(movie.values) == ["m1.avi"] * 5 + ["m2.avi"] * 7
    assert list(movie["frame"].values) == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 5, 6]
    assert movie.attrs["external_file"] == ["m1.avi", "m2.avi"]
    assert movie.attrs["starting_frame"] == [0, 5] and movie.attrs["format"] == "external"
    assert np.allclose(movie.time.values, np.arange(12) / 30.0)
    # data (0, 0, 0) and 3 timestamps: 3 samples of a.avi, no frames of zeros
    elsewhere = X.get_timeseries(path, "/acquisition/frames_elsewhere", refs_dir=refs)
    assert list(elsewhere.values) == ["a.avi"] * 3
    assert list(elsewhere.time.values) == [0.0, 0.5, 1.0]
    # a (2, 2, 2) NaN placeholder beside 90 timestamps: every timestamp kept, placeholder said
    with pytest.warns(UserWarning, match=r"optical\]: data has shape \(2, 2, 2\), values that "
                      r"are not the frames"):
        optical = X.get_timeseries(path, "/acquisition/optical", refs_dir=refs)
    assert optical.sizes["time"] == 90 and list(optical["frame"].values[44:47]) == [44, 0, 1]
    ds = xr.open_dataset(path, engine=NWBBackendEntrypoint, group="/acquisition/optical",
                         refs_dir=refs)
    assert ds["data"].shape == (2, 2, 2) and ds["optical"].sizes["time"] == 90


def test_mismatched_timestamps_are_said(synth: tuple[Path, Path]) -> None:
    path, refs = synth
    with pytest.warns(UserWarning, match=r"short_ts/timestamps has 18 timestamps for 20 "
                                         "samples: no time coordinate"):
        da = X.get_timeseries(path, "/acquisition/short_ts", refs_dir=refs)
    assert da.sizes["time"] == 20 and "time" not in da.coords
    assert np.array_equal(da.values, np.arange(20.0))


def test_scaled_and_sel(synth: tuple[Path, Path]) -> None:
    path, refs = synth
    raw = X.get_timeseries(path, "/acquisition/lfp", scaled=False, refs_dir=refs)
    scaled = X.get_timeseries(path, "/acquisition/lfp", refs_dir=refs)  # the default
    cc = np.linspace(0.5, 1.5, N_CH)
    assert raw.dtype == np.int16 and scaled.dtype == np.float64
    assert np.allclose(scaled.values, raw.values * 0.5 * cc + 0.25)
    # CF units on the physical values; raw values with one factor per channel have none
    assert scaled.attrs["units"] == "volts" and scaled.attrs["unit"] == "volts"
    assert "units" not in raw.attrs and raw.attrs["conversion"] == 0.5
    one = X.get_timeseries(path, "/acquisition/one_factor", scaled=False, refs_dir=refs)
    assert one.attrs["scale_factor"] == 1e-6 and one.attrs["units"] == "volts"
    assert np.allclose(xr.decode_cf(one.to_dataset()).one_factor.values,
                       X.get_timeseries(path, "/acquisition/one_factor", refs_dir=refs).values)
    assert scaled.time.attrs["units"] == "seconds"
    assert list(raw["channel"].values) == list(range(100, 100 + N_CH))
    assert list(raw["location"].values) == [f"loc{i % 3}" for i in range(N_CH)]
    # label selection on the lazy indexes: rate-based, then timestamps-based
    win = raw.sel(time=slice(3.0, 3.999))
    assert win.sizes["time"] == 1000 and win.time.values[0] == pytest.approx(3.0)
    assert raw.sel(time=2.5).shape == (N_CH,)
    with pytest.raises(KeyError):
        raw.sel(time=2.5004)
    assert raw.sel(time=2.5004, method="nearest").time.values == pytest.approx(2.5)
    assert raw.sel(time=2.5004, method="nearest", tolerance=0.001).time == pytest.approx(2.5)
    with pytest.raises(KeyError, match="tolerance"):
        raw.sel(time=2.5004, method="nearest", tolerance=0.0001)
    ts = X.get_timeseries(path, "/acquisition/raw", refs_dir=refs)
    t = ts.time.values
    assert np.array_equal(ts.sel(time=slice(t[10], t[19])).values, ts.values[10:20])
    assert np.array_equal(ts.sel(time=t[7] + 1e-7, method="nearest", tolerance=1e-6).values,
                          ts.values[7])


def test_xarray_operations(synth: tuple[Path, Path]) -> None:
    path, refs = synth
    lfp = X.get_timeseries(path, "/acquisition/lfp", refs_dir=refs)
    raw = X.get_timeseries(path, "/acquisition/raw", refs_dir=refs)
    # concat: consecutive windows stay evenly sampled; others become a pandas index
    joined = xr.concat([lfp.isel(time=slice(0, 100)), lfp.isel(time=slice(100, 300))], "time")
    assert isinstance(joined.xindexes["time"], X.TimeIndex)
    assert np.array_equal(joined.values, lfp.values[:300])
    gap = xr.concat([lfp.isel(time=slice(0, 100)), lfp.isel(time=slice(150, 300))], "time")
    assert np.allclose(gap.time.values, np.r_[lfp.time.values[:100], lfp.time.values[150:300]])
    sessions = xr.concat([lfp.isel(time=slice(0, 500)), lfp.isel(time=slice(0, 500))],
                         "session", join="exact")
    assert sessions.dims == ("session", "time", "channel")
    stamped = xr.concat([raw.isel(time=slice(0, 10)), raw.isel(time=slice(10, 30))], "time")
    assert np.array_equal(stamped.time.values, raw.time.values[:30])
    # differentiate, integrate: rate-based and timestamps-based, dask data
    assert np.allclose(raw.differentiate("time").values,
                       np.gradient(raw.values, raw.time.values, axis=0))
    assert np.allclose(lfp.differentiate("time").values,
                       np.gradient(lfp.values, lfp.time.values, axis=0))
    # groupby_bins on float seconds, resample on decoded time
    binned = lfp.isel(channel=0).groupby_bins("time", [2, 5, 10]).mean()
    assert np.allclose(binned.values, [lfp.isel(channel=0).sel(time=slice(2, 5)).values[
        lfp.time.values[:3001] > 2].mean(), lfp.isel(channel=0).values[
        (lfp.time.values > 5) & (lfp.time.values <= 10)].mean()])
    delta = X.get_timeseries(path, "/acquisition/lfp", decode_timedelta=True, refs_dir=refs)
    assert delta.time.dtype == np.dtype("timedelta64[ns]")
    per_second = delta.isel(channel=0).resample(time="1s").mean()
    assert per_second.sizes["time"] == 20
    assert np.isclose(per_second.values[0], lfp.isel(channel=0).values[:1000].mean())
    absolute = X.get_timeseries(path, "/acquisition/raw", decode_times=True, refs_dir=refs)
    assert absolute.time.values[0] == np.datetime64("2024-01-01T00:00:00", "ns") + \
        np.timedelta64(round(raw.time.values[0] * 1e9), "ns")
    # loaded, nothing says lazy
    loaded = raw.load()
    assert "read on first lookup" not in repr(loaded) and loaded.chunks is None
    assert "read on first lookup" in repr(X.get_timeseries(path, "/acquisition/raw",
                                                          refs_dir=refs))


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    calls: list[tuple[str, Any]] = []
    real = A.read

    def spy(handle: Any, path: str, key: Any) -> np.ndarray:
        calls.append((path, key))
        return real(handle, path, key)

    monkeypatch.setattr(A, "read", spy)
    return calls


def test_lazy_and_chunk_aligned(synth: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
                                ) -> None:
    path, refs = synth
    calls = _spy(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        everything = X.get_timeseries(path, match_all=True, refs_dir=refs)
    assert len(everything) == N_SERIES and calls == []  # nothing read until compute
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
    assert np.array_equal(split.isel(time=slice(1234, 2345), split_dim_1=[3, 40]).values,
                          expect[1234:2345][:, [3, 40]])
    nwb = NWBReader(open_store(path, refs_dir=refs))
    assert np.array_equal(TimeSeriesReader(nwb, "/acquisition/split").read(1234, 2345),
                          expect[1234:2345])
    assert np.array_equal(TimeSeriesReader(nwb, "/acquisition/lfp").read(10, 20),
                          X.get_timeseries(path, "/acquisition/lfp", scaled=False,
                                           refs_dir=refs).values[10:20])


def test_memory_mapped_local_reads(synth: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
                                   ) -> None:
    path, refs = synth
    store = open_store(path, refs_dir=refs)
    from intake_nwb.store.mmap import map_array

    contiguous = map_array(store, store.group["acquisition/lfp_sub/data"])
    assert contiguous is not None and contiguous.whole is not None
    assert map_array(store, store.group["acquisition/lfp/data"]) is None  # gzip
    assert map_array(store, store.group["acquisition/split/data"]) is None  # channel-split
    expect = X.get_timeseries(path, "/acquisition/lfp", scaled=False, refs_dir=refs).values[:, :4]
    # no zarr read at all: every byte comes from the map
    zarr_reads: list[Any] = []
    monkeypatch.setattr(A, "read_spans", lambda *a: zarr_reads.append(a))
    sub = X.get_timeseries(path, "/acquisition/lfp_sub", chunks=3000, refs_dir=refs)
    assert np.array_equal(sub.isel(time=slice(1234, 5678)).values, expect[1234:5678])
    assert np.array_equal(sub.isel(time=[5, 1, 19_999], channel=[3, 0]).values,
                          expect[[5, 1, 19_999]][:, [3, 0]])
    assert np.array_equal(sub.values, expect) and zarr_reads == []
    # outer keys: each index array along its own axis, over chunked and whole-array maps
    handle = W.OpenStore(W.StoreSpec.of(store), store)
    key = (np.array([7, 2, 19_999]), np.array([3, 1]))
    assert np.array_equal(A.read(handle, "/acquisition/lfp_sub/data", key),
                          expect[[7, 2, 19_999]][:, [3, 1]])
    contiguous.whole = None  # the chunk-by-chunk path
    assert np.array_equal(contiguous[key], expect[[7, 2, 19_999]][:, [3, 1]])
    assert np.array_equal(contiguous[(slice(990, 1010), np.array([2, 0]))],
                          expect[990:1010][:, [2, 0]])
    assert np.array_equal(contiguous[(5, slice(None))], expect[5])


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


def _forget_open_stores() -> None:
    """As in a fresh process: nothing open, every array reopens its store from its spec."""
    for key, value in list(FILE_CACHE.items()):
        if isinstance(value, W.OpenStore):
            del FILE_CACHE[key]
    W._recent.clear()


def test_pickle_roundtrip(synth: tuple[Path, Path]) -> None:
    path, refs = synth
    for p in ("/acquisition/lfp", "/acquisition/raw"):
        da = X.get_timeseries(path, p, refs_dir=refs)
        back = pickle.loads(pickle.dumps(da))
        assert type(back.xindexes["time"]) is type(da.xindexes["time"])
        _forget_open_stores()
        assert np.array_equal(back.isel(time=slice(100, 300)).values,
                              da.isel(time=slice(100, 300)).values)
        assert np.array_equal(back.time.values, da.time.values)
        xr.testing.assert_identical(back.load(), da.load())


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
            da = X.get_timeseries(url, cache=cache, refs_dir=tmp_path / "refs", chunks=2000,
                                  scaled=False)
            counts = [srv.stats()]
            window = da.isel(time=slice(100, 3000)).values
            counts.append(srv.stats())
            again = da.isel(time=slice(100, 3000)).values
            counts.append(srv.stats())
            assert np.array_equal(window, again)
            results[cache] = counts
        local = X.get_timeseries(DATA / "nwb-guide/sub-001_ses-1.nwb", refs_dir=ts_refs,
                                 scaled=False)
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
        _forget_open_stores()  # a new session: bytes come from the disk cache
        before = srv.stats()["bytes_sent"]
        da = X.get_timeseries(url, cache="disk", cache_dir=tmp_path / "blocks",
                              refs_dir=tmp_path / "refs")
        assert np.array_equal(da.isel(time=slice(100, 3000)).values, window)
        assert srv.stats()["bytes_sent"] - before < window.nbytes / 10

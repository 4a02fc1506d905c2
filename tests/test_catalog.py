"""Intake catalogs of NWB files (issue 5): drivers, readers, builder, sharing, demo.

Truth is the functional API (``scan_nwb``, ``get_timeseries``, ``get_metadata_df``) on the same
files, and pynwb for row counts. Catalogs are built from the real files; a copied folder, a
loopback HTTP server and intake 2's own catalogs must give the same results.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import os
import shutil
import warnings
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import intake
import numpy as np
import polars as pl
import pytest
import xarray as xr
import yaml

import intake_nwb
import intake_nwb.store
from intake_nwb.catalog import build, build_catalog
from intake_nwb.catalog.names import entry_names
from intake_nwb.cli import main
from intake_nwb.errors import IntakeNWBError
from intake_nwb.frames import get_metadata_df, scan_nwb
from intake_nwb.frames.timeseries import get_timeseries
from intake_nwb.intake.drivers import NWBFileCatalog, NWBTableSource
from tests.support.http_server import RangeHTTPServer

from .conftest import DATA_DIR, PYNWB_FAILS, real_hdf5_files, real_zarr_stores

# a few files with units, trials, epochs, electrodes, colliding series names and a Zarr store
SUBSET = ["dandi-cli/sub-anm369963_ses-20170228.nwb", "dandi-cli/sub-anm372793_ses-20170508.nwb",
          "neuroconv/ecephys_tutorial_v2.5.0.nwb", "nwb-explorer/test_TimeIntervals.nwb",
          "test-hdmf-zarr/consolidated.nwb.zarr"]


@pytest.fixture(autouse=True)
def _own_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """References made on first use and fetched remote references stay in the test's tmp."""
    monkeypatch.setenv("INTAKE_NWB_REFS_DIR", str(tmp_path_factory.getbasetemp() / "cache/refs"))


@pytest.fixture(scope="module")
def real_catalog(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A catalog of every real file (HDF5 and Zarr), references beside it."""
    files = [str(p) for p in [*real_hdf5_files(), *real_zarr_stores()]]
    return build_catalog(files, tmp_path_factory.mktemp("real") / "lab.yaml", progress=False)


@pytest.fixture(scope="module")
def subset_catalog(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_catalog([str(data_dir / f) for f in SUBSET],
                         tmp_path_factory.mktemp("subset") / "catalog.yaml", progress=False)


def _doc(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def _entries(path: Path, driver: str) -> list[str]:
    return [k for k, v in _doc(path)["sources"].items() if v["driver"] == driver]


def _files(cat: Any, name: str) -> list[str]:
    """The NWB files (as their references record them) an entry reads."""
    return cat[name].paths


@contextlib.contextmanager
def _same_outcome() -> Iterator[list[BaseException]]:
    """Run the functional API; remember what it raised so the entry can be held to it."""
    raised: list[BaseException] = []
    try:
        yield raised
    except Exception as exc:  # noqa: BLE001 - compared with the entry's failure below
        raised.append(exc)


# -- every generated entry equals the functional API ---------------------------------------------

def _each(fn: Any, names: list[str]) -> dict[str, Any]:
    """``{name: fn(name)}``, entries read concurrently (each read is mostly waiting)."""
    with cf.ThreadPoolExecutor(max_workers=8) as pool:
        return dict(zip(names, pool.map(fn, names), strict=True))


def test_every_table_entry_equals_scan_nwb(real_catalog: Path) -> None:
    cat = intake.open_catalog(str(real_catalog))
    sources = _doc(real_catalog)["sources"]
    names = _entries(real_catalog, "nwb_table")
    assert {"units", "trials", "epochs", "electrodes"} <= set(names)

    def check(name: str) -> str:
        path = sources[name]["metadata"]["table_path"]
        with _same_outcome() as raised, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # conflicts and unreadable columns: named below
            expected = scan_nwb(_files(cat, name), path, errors="warn").collect()
        if raised:  # e.g. columns of no common type across files: the entry says the same
            with pytest.raises(type(raised[0])):
                cat[name].read()
            return type(raised[0]).__name__
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = cat[name].read()
        assert got.equals(expected, null_equal=True), name
        assert got.height == sources[name]["metadata"]["n_rows"], name
        assert cat[name].discover()["shape"] == expected.shape, name
        return "equal"

    outcomes = _each(check, names)
    assert list(outcomes.values()).count("equal") >= len(names) - 2, outcomes


def test_every_timeseries_entry_equals_get_timeseries(real_catalog: Path) -> None:
    cat = intake.open_catalog(str(real_catalog))
    sources = _doc(real_catalog)["sources"]
    names = _entries(real_catalog, "nwb_timeseries")
    assert len(names) > 50

    def check(name: str) -> str:
        path = sources[name]["metadata"]["path"]
        with _same_outcome() as raised:
            expected = get_timeseries(_files(cat, name)[0], path)
        if raised:
            with pytest.raises(type(raised[0])):
                cat[name].to_dask()
            return type(raised[0]).__name__
        got = cat[name].read()
        assert got.chunks is None, name  # loaded (to_dask() is checked lazy elsewhere)
        xr.testing.assert_identical(got, expected.load())
        return "equal"

    outcomes = _each(check, names)
    assert list(outcomes.values()).count("equal") >= len(names) - 2, outcomes


def test_sessions_and_files(real_catalog: Path) -> None:
    cat = intake.open_catalog(str(real_catalog))
    files = _files(cat, "sessions")
    assert cat.sessions.read().equals(get_metadata_df(files, progress=False), null_equal=True)
    meta = cat.metadata["intake_nwb"]
    assert meta["version"] == intake_nwb.__version__ and meta["created"]
    assert meta["n_files"] == len(files) == len(list(cat.files))
    lab = cat.sessions.origin.lab
    assert all(r.identity["size"] > 0 for r in lab.files.values())

    def listed(key: str) -> bool:  # a file's catalog lists what was found in it
        sub = cat.files[key]
        assert isinstance(sub, NWBFileCatalog)
        record = lab.files[key]
        names = entry_names([*record.tables, *record.timeseries], taken={"session"})
        return sorted(sub) == sorted([*names.values(), "session"])

    with cf.ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(listed, list(cat.files)))


def test_row_counts_equal_pynwb(subset_catalog: Path) -> None:
    pytest.importorskip("pynwb")
    from hdmf.common import DynamicTable
    from pynwb import NWBHDF5IO

    cat = intake.open_catalog(str(subset_catalog))
    counts: dict[str, int] = {}
    for f in SUBSET:
        if f.endswith(".zarr") or f in PYNWB_FAILS:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with NWBHDF5IO(str(DATA_DIR / f), "r", load_namespaces=True) as io:
                for obj in io.read().objects.values():
                    if isinstance(obj, DynamicTable):
                        path = "/" + io.manager.get_builder(obj).path.split("/", 1)[1]
                        counts[path] = counts.get(path, 0) + len(obj)
    for name in _entries(subset_catalog, "nwb_table"):
        spec = _doc(subset_catalog)["sources"][name]
        assert cat[name].read().height == counts[spec["metadata"]["table_path"]], name


# -- the drivers ---------------------------------------------------------------------------------

def test_table_driver_outputs(subset_catalog: Path) -> None:
    cat = intake.open_catalog(str(subset_catalog))
    units = cat.units
    files = _files(cat, "units")
    lf = units.to_lazy()
    assert isinstance(lf, pl.LazyFrame)
    filtered = lf.filter(pl.col("_table_index") == 0).select("_nwb_path", "id").collect()
    assert filtered.height == len(files)
    ddf = units.to_dask()
    assert ddf.npartitions == len(files) == units.discover()["npartitions"]
    pdf = units.to_pandas()
    computed = ddf.compute().reset_index(drop=True)
    assert list(computed.columns) == list(pdf.columns)
    scalar = [c for c, t in units.to_lazy().collect_schema().items()
              if not isinstance(t, (pl.List, pl.Array))]
    assert computed[scalar].equals(pdf[scalar])
    assert units.read_partition(1).equals(
        units.read().filter(pl.col("_nwb_path") == units.read()["_nwb_path"].unique(
            maintain_order=True)[1]))


def test_discover_reads_no_data(subset_catalog: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from intake_nwb.nwb.tables import TableReader

    def no_data(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("discover() read a column")

    monkeypatch.setattr(TableReader, "read", no_data)
    cat = intake.open_catalog(str(subset_catalog))
    info = cat.trials.discover()
    assert info["shape"][0] == _doc(subset_catalog)["sources"]["trials"]["metadata"]["n_rows"]
    assert "start_time" in info["dtype"] and info["npartitions"] == 2


def test_timeseries_driver_file_choice(subset_catalog: Path) -> None:
    cat = intake.open_catalog(str(subset_catalog))
    first = cat.lick_left_times.read()
    second = cat.lick_left_times(file="anm372793").read()
    assert first.attrs["_nwb_path"].endswith("sub-anm369963_ses-20170228.nwb")
    assert second.attrs["_nwb_path"].endswith("sub-anm372793_ses-20170508.nwb")
    assert cat.lick_left_times(file=1).read().identical(second)
    assert cat.lick_left_times(file="sub_anm372793_ses_20170508").read().identical(second)
    with pytest.raises(ValueError, match="matches 2"):
        cat.lick_left_times(file="sub-anm").read()
    assert cat.lick_left_times.discover()["npartitions"] == 2


def test_nwb_file_catalog_is_lazy(subset_catalog: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    real_open = intake_nwb.store.open_store

    def counting(source: Any, **kwargs: Any) -> Any:
        opened.append(str(source))
        return real_open(source, **kwargs)

    monkeypatch.setattr(intake_nwb.store, "open_store", counting)
    cat = intake.open_catalog(str(subset_catalog))  # the YAML, no NWB file
    files = list(cat.files)
    subs = [cat.files[f] for f in files]  # every file's catalog exists, no file is opened yet
    assert all(s.describe()["container"] == "catalog" for s in subs)
    assert opened == [] and len(files) == len(SUBSET)
    sub = subs[0]
    entries = list(sub)  # now it is, once
    assert "units" in entries and "session" in entries
    assert sub.units.read().equals(scan_nwb(sub.units.paths, "/units").collect())
    lazy = cat.lick_left_times.to_dask()
    assert lazy.chunks is not None  # dask-backed: only metadata read so far


# -- sharing: copying, relocating, serving -------------------------------------------------------

def _table_results(cat: Any, subset_path: Path) -> dict[str, pl.DataFrame]:
    return {n: cat[n].read() for n in _entries(subset_path, "nwb_table")}


def test_copied_folder_gives_same_results(subset_catalog: Path, tmp_path: Path) -> None:
    before = _table_results(intake.open_catalog(str(subset_catalog)), subset_catalog)
    copy = tmp_path / "elsewhere" / "lab"
    shutil.copytree(subset_catalog.parent, copy)
    text = (copy / "catalog.yaml").read_text()
    assert str(subset_catalog.parent) not in text.split("sources:\n", 1)[1]  # all relative
    moved = copy.parent / "moved"
    os.rename(copy, moved)  # the copy's own location changes too
    cat = intake.open_catalog(str(moved / "catalog.yaml"))
    assert all(cat[n].origin.lab.location.startswith(str(moved)) for n in before)
    after = _table_results(cat, moved / "catalog.yaml")
    assert all(after[n].equals(before[n], null_equal=True) for n in before)
    assert cat.a.read().identical(intake.open_catalog(str(subset_catalog)).a.read())


def test_relocated_sources(data_dir: Path, tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    lab.mkdir()
    for f in SUBSET[:2]:
        shutil.copy2(data_dir / f, lab / Path(f).name)
    path = build_catalog(str(lab / "*.nwb"), tmp_path / "cat" / "catalog.yaml", progress=False)
    before = intake.open_catalog(str(path)).trials.read()
    os.rename(lab, tmp_path / "moved")  # the data move, the catalog stays
    cat = intake.open_catalog(str(path))
    with pytest.raises(IntakeNWBError):
        cat.trials.read()
    moved = cat.trials(relocate={f"{lab}/": f"{tmp_path / 'moved'}/"}).read()
    assert moved.drop("_nwb_path").equals(before.drop("_nwb_path"), null_equal=True)
    assert moved["_nwb_path"].str.starts_with(str(tmp_path / "moved")).all()
    series = cat.lick_left_times(relocate={str(lab): str(tmp_path / "moved")}).read()
    assert series.attrs["_nwb_path"].startswith(str(tmp_path / "moved"))


def test_http_sources_and_http_catalog(data_dir: Path, tmp_path: Path) -> None:
    local = _table_results(intake.open_catalog(str(build_catalog(
        [str(data_dir / f) for f in SUBSET[:2]], tmp_path / "local" / "c.yaml",
        progress=False))), tmp_path / "local" / "c.yaml")
    with RangeHTTPServer(data_dir) as files_server:
        urls = [files_server.url_for(f) for f in SUBSET[:2]]
        path = build_catalog(urls, tmp_path / "web" / "catalog.yaml", progress=False)
        cat = intake.open_catalog(str(path))
        over_http = _table_results(cat, path)
        assert cat.units.read()["_nwb_path"].str.starts_with("http://127.0.0.1").all()
        for name, frame in local.items():
            assert over_http[name].drop("_nwb_path").equals(frame.drop("_nwb_path"),
                                                            null_equal=True)
        # the catalog folder itself served: references are fetched, data still over HTTP
        with RangeHTTPServer(path.parent) as catalog_server:
            remote = intake.open_catalog(catalog_server.url_for("catalog.yaml"))
            assert remote.units.origin.lab.location.startswith("http://")
            for name, frame in over_http.items():
                assert remote[name].read().equals(frame, null_equal=True)
            assert remote.lick_left_times.read().identical(cat.lick_left_times.read())
            assert "units" in list(remote.files[list(remote.files)[0]])


@pytest.mark.servers
def test_s3_sources_and_catalog_folder_on_s3(s3_server: Any, data_dir: Path, tmp_path: Path
                                             ) -> None:
    opts = s3_server.storage_options
    urls = [s3_server.upload(data_dir / f, f"catalog-test/{Path(f).name}") for f in SUBSET[:2]]
    path = build_catalog(urls, tmp_path / "s3" / "catalog.yaml", storage_options=opts,
                         progress=False)
    units = intake.open_catalog(str(path)).units.read()
    assert units["_nwb_path"].str.starts_with("s3://").all() and units.height == 2
    for f in path.parent.rglob("*"):  # the folder put on S3, opened from there
        if f.is_file():
            s3_server.upload(f, f"catalogs/lab/{f.relative_to(path.parent).as_posix()}")
    remote = intake.open_catalog(s3_server.url_for("catalogs/lab/catalog.yaml"),
                                 storage_options=opts)
    assert remote.units.read().equals(units, null_equal=True)
    assert remote.sessions.read().height == 2


# -- building ------------------------------------------------------------------------------------

def test_incremental_rebuild(data_dir: Path, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    lab = tmp_path / "data"
    lab.mkdir()
    for f in SUBSET[:2]:
        shutil.copy2(data_dir / f, lab / Path(f).name)
    cat_path = tmp_path / "lab" / "lab.yaml"
    first = build(str(lab / "*.nwb"), cat_path, progress=False)
    assert len(first.inspected) == 2 and first.written
    refs = sorted((tmp_path / "lab" / "refs").glob("*.json"))
    stamps = {p: p.stat().st_mtime_ns for p in refs}
    text = cat_path.read_text()

    again = build(str(lab / "*.nwb"), cat_path, progress=False)
    assert again.inspected == [] and len(again.reused) == 2 and not again.written
    assert cat_path.read_text() == text
    assert {p: p.stat().st_mtime_ns for p in refs} == stamps  # nothing re-indexed

    changed = lab / Path(SUBSET[1]).name
    os.utime(changed, (1_600_000_000, 1_600_000_000))
    third = build(str(lab / "*.nwb"), cat_path, progress=False)
    assert third.inspected == [str(changed)] and third.written
    assert [p for p in refs if p.stat().st_mtime_ns != stamps[p]] == [
        p for p in refs if p.name.startswith(changed.name)]
    meta = _doc(cat_path)["metadata"]["intake_nwb"]
    assert meta["created"] == _doc_created(text) and meta["updated"] >= meta["created"]
    assert intake.open_catalog(str(cat_path)).units.read().height == 2


def _doc_created(text: str) -> str:
    return yaml.safe_load(text)["metadata"]["intake_nwb"]["created"]


def test_entry_names() -> None:
    names = entry_names(["/units", "/intervals/trials", "/intervals/epochs",
                         "/general/extracellular_ephys/electrodes",
                         "/processing/behavior/Position/position",
                         "/processing/tracking/Position/position",
                         "/acquisition/ElectricalSeries",
                         "/processing/ecephys/LFP/ElectricalSeries",
                         "/acquisition/Tracked 2D/spatial", "/analysis/2p", "/analysis/metadata"],
                        taken={"sessions"})
    assert names == {
        "/units": "units", "/intervals/trials": "trials", "/intervals/epochs": "epochs",
        "/general/extracellular_ephys/electrodes": "electrodes",
        "/processing/behavior/Position/position": "behavior_position",
        "/processing/tracking/Position/position": "tracking_position",
        "/acquisition/ElectricalSeries": "ElectricalSeries",
        "/processing/ecephys/LFP/ElectricalSeries": "LFP_ElectricalSeries",
        "/acquisition/Tracked 2D/spatial": "spatial", "/analysis/2p": "nwb_2p",
        "/analysis/metadata": "metadata_2"}
    assert entry_names(["/a/x", "/a/x"]) == {"/a/x": "x"}  # duplicates are one path


def test_cli_catalog(subset_catalog: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
                     ) -> None:
    out = tmp_path / "cli" / "lab.yaml"
    sources = [str(DATA_DIR / f) for f in SUBSET[:2]]
    assert main(["catalog", *sources, "-o", str(out), "--no-progress", "--name", "mylab"]) == 0
    printed = capsys.readouterr().out
    assert "2 files" in printed and "units" in printed and "intake.open_catalog" in printed
    cat = intake.open_catalog(str(out))
    assert cat.name == "mylab" and (tmp_path / "cli" / "refs").is_dir()
    assert main(["catalog", *sources, "-o", str(out), "--no-progress"]) == 0
    assert "(unchanged)" in capsys.readouterr().out


def test_demo_prints_through_the_catalog(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    pytest.importorskip("pynwb")
    assert main(["demo", str(tmp_path / "demo"), "--sessions", "2", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    for part in ("sample lab: 2 sessions", "sessions:", "units with presence_ratio >= 0.9",
                 "trials per session:", "running_speed of sub-001_ses-002.nwb"):
        assert part in printed
    path = tmp_path / "demo" / "catalog.yaml"
    text = path.read_text()
    assert str(tmp_path) not in text  # everything relative: the folder can move
    cat = intake.open_catalog(str(path))
    assert cat.units.read().height == 80 and "sub_001_ses_002" in list(cat.files)
    trials = cat.trials.read()
    # a moved copy reads the same (the index says where its files are now)
    shutil.copytree(tmp_path / "demo", tmp_path / "copy")
    shutil.rmtree(tmp_path / "demo")
    copy = intake.open_catalog(str(tmp_path / "copy" / "catalog.yaml"))
    moved = copy.trials.read()
    assert moved.drop("_nwb_path").equals(trials.drop("_nwb_path"))
    assert moved["_nwb_path"].str.starts_with(str(tmp_path / "copy")).all()


# -- intake 2 ------------------------------------------------------------------------------------

def test_v2_readers(subset_catalog: Path, tmp_path: Path) -> None:
    from intake.readers.convert import auto_pipeline

    assert any(ep.value == "intake_nwb.intake.readers"
               for ep in entry_points(group="intake.imports"))
    assert "nwb_table" in intake.registry and "nwb_file" in intake.registry
    from intake_nwb.intake.readers import NWB, NWBTableReader, NWBTimeSeriesReader

    files = [str(DATA_DIR / f) for f in SUBSET[:2]]
    data = NWB(files)
    assert NWBTableReader in data.possible_readers["importable"]
    units = data.to_reader("polars:LazyFrame", table_path="/units")
    assert isinstance(units, NWBTableReader)
    assert units.read().collect().equals(scan_nwb(files, "/units").collect())
    series = NWB(files[0]).to_reader("xarray:DataArray",
                                     path="/acquisition/lick_times/lick_left_times")
    assert isinstance(series, NWBTimeSeriesReader)
    xr.testing.assert_identical(series.read(), get_timeseries(
        files[0], "/acquisition/lick_times/lick_left_times"))
    # intake 2's converters and catalogs
    pandas = auto_pipeline(units, "pandas:DataFrame")
    assert pandas.read().shape == scan_nwb(files, "/units").collect().to_pandas().shape
    v2 = intake.entry.Catalog()
    v2["units"] = units
    v2["sessions"] = NWB(files).to_reader("polars:DataFrame")
    v2.to_yaml_file(str(tmp_path / "v2.yaml"))
    back = intake.from_yaml_file(str(tmp_path / "v2.yaml"))
    assert back["units"].read().collect().equals(units.read().collect())
    assert back["sessions"].read().height == 2
    assert np.array_equal(back["sessions"].read()["_nwb_path"].to_numpy(), np.array(files))


def test_intake2_catalog_round_trip(data_dir: Path, tmp_path: Path) -> None:
    """build_catalog(dialect="v2"): an intake 2 catalog of the same lab index, whose entries
    read what the V1 catalog's do; rebuilt unchanged, it is not rewritten."""
    files = [str(data_dir / f) for f in SUBSET]
    v1 = intake.open_catalog(str(build_catalog(files, tmp_path / "v1/c.yaml", progress=False)))
    path = build_catalog(files, tmp_path / "v2/c.yaml", progress=False, dialect="v2")
    v2 = intake.from_yaml_file(str(path))
    assert sorted(v2) == sorted(e for e in v1 if e != "files")
    for name in v2:
        got = v2[name].read()
        if isinstance(got, pl.LazyFrame):
            assert got.collect().equals(v1[name].read())
        elif isinstance(got, pl.DataFrame):
            assert got.equals(v1[name].read())
        else:
            xr.testing.assert_identical(got, v1[name].to_dask())
    again = build(files, path, progress=False, dialect="v2")
    assert not again.written and not again.inspected
    assert intake.open_catalog(str(path))["units"].read().collect().height > 0  # intake's
    with pytest.raises(ValueError, match="dialect"):
        build_catalog(files, tmp_path / "v3/c.yaml", dialect="v3")


def test_v1_open_functions(subset_catalog: Path) -> None:
    files = [str(DATA_DIR / f) for f in SUBSET[:2]]
    src = intake.open_nwb_table(files, "/intervals/trials")
    assert isinstance(src, NWBTableSource)
    assert src.read().equals(scan_nwb(files, "/intervals/trials").collect())
    assert "nwb_table" in src.yaml() and "table_path" in src.yaml()
    assert intake.open_nwb_metadata(files).to_pandas().shape[0] == 2
    assert intake.open_nwb_timeseries(files[0], search="lick_left").read().shape[0] > 0
    cat = intake.open_nwb_file(files[0])
    assert "trials" in list(cat) and cat.trials.read().height == src.read_partition(0).height


def test_series_across_sessions_and_display(subset_catalog: Path) -> None:
    cat = intake.open_catalog(str(subset_catalog))
    tree = cat.lick_left_times.to_datatree()
    assert len(tree.children) == 2
    for node in tree.children.values():  # each session's own series, lazily
        assert node.dataset.sizes["time"] > 0
    stacked = cat.lick_left_times.to_dask(stack=True, join="outer")
    assert stacked.sizes["session"] == 2
    first = cat.lick_left_times.read()
    got = stacked.isel(session=0).to_array().squeeze(drop=True)
    assert np.array_equal(got.values[:first.sizes["time"]], first.values)
    html = cat.units._repr_html_()
    assert "units" in html and "rows" in html and "spike_times" in html
    assert "rows" in repr(cat.units) and "files" in repr(cat.units)
    assert "TimeSeries" in cat.lick_left_times._repr_html_()
    assert "session" in cat.sessions._repr_html_().lower()

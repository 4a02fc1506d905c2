"""lazynwb's public surface, used as a lazynwb user would, with values compared with pynwb and
h5py: names and constants, short table names, TimeSeries and session metadata as tables, row
selection, pandas in pynwb's form, configuration, attributes and column metadata, LazyNWB,
get/get_timeseries, and the spike-time helpers."""

from __future__ import annotations

import warnings
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import polars as pl
import pytest

import intake_nwb
from intake_nwb.config import Config
from intake_nwb.errors import AmbiguousNameError, SkippedWarning, TableNotFoundError

from .conftest import PYNWB_FAILS, real_hdf5_files, rel
from .lazynwb_files import write_lab

pynwb = pytest.importorskip("pynwb")
DANDI = "dandi-cli/sub-anm369963_ses-20170228.nwb"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [str(p) for p in write_lab(tmp_path_factory.mktemp("lazynwb"))]


@pytest.fixture(scope="module")
def opts(refs_dir: Path) -> dict[str, str]:
    return {"refs_dir": str(refs_dir)}


def _read(path: str):  # type: ignore[no-untyped-def]
    io = pynwb.NWBHDF5IO(path, "r", load_namespaces=True)
    return io, io.read()


# -- names ---------------------------------------------------------------------------------------

LAZYNWB_NAMES = [
    "scan_nwb", "read_nwb", "get_df", "get_table_schema", "get", "get_metadata_df",
    "get_timeseries", "LazyNWB", "get_internal_paths", "get_internal_path_info", "get_attrs",
    "get_sub_attrs", "consolidate_attrs", "merge_array_column", "get_spike_times_in_intervals",
    "insert_is_observed", "convert_nwb_tables", "get_sql_context", "get_dandi_sources",
    "get_table_column_metadata", "get_table_length_from_metadata",
    "get_table_schema_from_metadata", "config", "Config", "NWB_PATH_COLUMN_NAME",
    "TABLE_PATH_COLUMN_NAME", "TABLE_INDEX_COLUMN_NAME", "INTERNAL_COLUMN_NAMES",
    "INTERVALS_TABLE_INDEX_COLUMN_NAME", "UNITS_TABLE_INDEX_COLUMN_NAME", "TABLE_SHORTCUTS"]


def test_lazynwb_names_and_constants() -> None:
    missing = [n for n in LAZYNWB_NAMES if not hasattr(intake_nwb, n)]
    assert not missing
    assert (intake_nwb.NWB_PATH_COLUMN_NAME, intake_nwb.TABLE_PATH_COLUMN_NAME,
            intake_nwb.TABLE_INDEX_COLUMN_NAME) == ("_nwb_path", "_table_path", "_table_index")
    assert {"_nwb_path", "_table_path", "_table_index"} == intake_nwb.INTERNAL_COLUMN_NAMES
    assert intake_nwb.UNITS_TABLE_INDEX_COLUMN_NAME == "_units_table_index"
    assert intake_nwb.TABLE_SHORTCUTS["trials"] == "/intervals/trials"


# -- tables by name ------------------------------------------------------------------------------

def test_short_names_resolve_to_paths(lab: list[str], opts: dict[str, str]) -> None:
    f = lab[0]
    for short, path in [("trials", "/intervals/trials"), ("units", "/units"),
                        ("intervals/trials", "/intervals/trials")]:
        assert intake_nwb.get_df(f, short, **opts).equals(intake_nwb.get_df(f, path, **opts))
    assert intake_nwb.scan_nwb(f, "trials", **opts).collect()["_table_path"][0] == \
        "/intervals/trials"
    with pytest.raises(AmbiguousNameError, match="/processing/left/events.*"
                       "/processing/right/events"):
        intake_nwb.get_df(f, "events", **opts)
    assert intake_nwb.get_df(f, "left/events", **opts).height == 2
    with pytest.raises(TableNotFoundError, match="no table or TimeSeries at 'trial'"):
        intake_nwb.get_df(f, "trial", exact_path=True, **opts)
    with pytest.raises(TableNotFoundError, match="tables: "):
        intake_nwb.get_df(f, "trial", **opts)  # never a closest spelling


def test_a_table_missing_from_a_file_is_never_another_table(lab: list[str],
                                                            opts: dict[str, str]) -> None:
    """lazynwb reads /intervals/trials for "/units" in a file without units (closest path)."""
    with pytest.raises(TableNotFoundError, match="ses-3"):
        intake_nwb.get_df(lab, "/units", **opts)
    with pytest.warns(SkippedWarning, match="ses-3"):
        df = intake_nwb.get_df(lab, "/units", raise_on_missing=False, **opts)
    assert set(df["_table_path"]) == {"/units"} and df["_nwb_path"].n_unique() == 3


def test_lazynwb_parameter_names(lab: list[str], opts: dict[str, str]) -> None:
    df = intake_nwb.get_df(nwb_data_sources=lab[:2], search_term="trials", exact_path=False,
                           as_polars=False, disable_progress=True, raise_on_missing=True,
                           parallel=False, use_process_pool=False, low_memory=True, **opts)
    assert isinstance(df, pd.DataFrame) and len(df) == 24
    lf = intake_nwb.scan_nwb(source=lab[:2], table_path="units", ignore_errors=True,
                             single_file_batches=True,
                             schema={"quality": pl.Categorical, "_nwb_path": pl.String}, **opts)
    assert lf.collect_schema()["quality"] == pl.Categorical
    assert "waveform" not in lf.collect_schema()
    schema = intake_nwb.get_table_schema(file_paths=lab[:2], table_path="units",
                                         first_n_files_to_infer_schema=1,
                                         exclude_internal_columns=True, **opts)
    assert "_nwb_path" not in schema and schema["spike_times"] == pl.List(pl.Float64)
    with pytest.raises(TypeError, match="pass one of them"):
        intake_nwb.get_df(lab[0], "trials", search_term="units", **opts)
    with pytest.raises(TypeError, match="unexpected keyword argument 'nope'"):
        intake_nwb.scan_nwb(lab[0], "trials", nope=1, **opts)


def test_timeseries_as_a_table_equals_pynwb(lab: list[str], opts: dict[str, str]) -> None:
    df = intake_nwb.get_df(lab[:2], "running", exclude_array_columns=False, **opts)
    assert df.schema["data"] == pl.Array(pl.Float64, 2)
    assert intake_nwb.get(lab[:2], "running", as_df=True, **opts).equals(df)
    assert df.columns == ["timestamps", "data", "_nwb_path", "_table_path", "_table_index"]
    for f in lab[:2]:
        io, nwb = _read(f)
        with io:
            for name in ("running", "licks"):
                ts = nwb.acquisition[name]
                mine = intake_nwb.get_df(f, name, exclude_array_columns=False, **opts)
                assert np.array_equal(mine["timestamps"].to_numpy(), ts.get_timestamps())
                assert np.array_equal(np.asarray(mine["data"].to_list()), ts.data[:])


def _h5_paths(path: str) -> dict[str, str]:
    """object_id -> path of every object of an HDF5 file (pynwb's objects by id)."""
    where: dict[str, str] = {}

    def note(name: str, obj: h5py.HLObject) -> None:  # returning a value stops the visit
        where[obj.attrs.get("object_id", "")] = "/" + name

    with h5py.File(path) as h:
        h.visititems(note)
    return where


@pytest.mark.parametrize("path", [p for p in real_hdf5_files() if rel(p) not in PYNWB_FAILS],
                         ids=rel)
def test_every_real_timeseries_as_a_table_equals_pynwb(path: Path, refs_dir: Path) -> None:
    io, nwb = _read(str(path))
    with io:
        for series in [o for o in nwb.objects.values() if isinstance(o, pynwb.TimeSeries)]:
            where = io.manager.get_builder(series).path.removeprefix("root")  # its HDF5 path
            df = intake_nwb.get_df(path, where, exact_path=True,
                                   exclude_array_columns=False, refs_dir=refs_dir)
            if series.timestamps is not None or series.rate is not None:
                assert np.array_equal(df["timestamps"].to_numpy(), series.get_timestamps())
            else:
                assert "timestamps" not in df.columns  # no times are made up
            if "data" not in df.columns:  # values in external files: none here
                assert len(series.data) == 0 and series.external_file is not None
            elif df.height:
                theirs = np.asarray(series.data[:])
                if theirs.dtype.kind in "SO":
                    theirs = np.array([v.decode() if isinstance(v, bytes) else v
                                       for v in theirs])
                mine = np.asarray(df["data"].to_list())
                assert mine.shape == theirs.shape
                assert np.array_equal(mine, theirs, equal_nan=theirs.dtype.kind == "f")


def test_session_metadata_as_a_table_equals_pynwb(lab: list[str], opts: dict[str, str]) -> None:
    df = intake_nwb.get_df(lab, "session", **opts)
    subject = intake_nwb.get_df(lab, "/general/subject", **opts)
    assert df.height == len(lab) and set(df["_table_path"]) == {"/general"}
    assert "session_id" not in subject.columns and subject["age"].to_list() == ["P90D"] * 4
    for f in lab:
        io, nwb = _read(f)
        with io:
            row = df.filter(pl.col("_nwb_path") == f).row(0, named=True)
            for field in ("notes", "data_collection", "surgery", "pharmacology", "virus",
                          "source_script", "source_script_file_name", "session_id"):
                assert row[field] == getattr(nwb, field), field
            assert row["related_publications"] == list(nwb.related_publications)
            assert row["age__reference"] == nwb.subject.age__reference
            assert row["session_start_time"] == nwb.session_start_time


def test_rows_by_file(lab: list[str], opts: dict[str, str]) -> None:
    rows = {lab[1]: [4, 0, 2], lab[0]: [1]}
    df = intake_nwb.get_df(None, "units", nwb_path_to_row_indices=rows,
                           exclude_array_columns=False, **opts)
    assert list(zip(df["_nwb_path"], df["_table_index"], strict=True)) == [
        (lab[1], 4), (lab[1], 0), (lab[1], 2), (lab[0], 1)]
    io, nwb = _read(lab[1])
    with io:
        for i, row in zip([4, 0, 2], df.head(3).iter_rows(named=True), strict=True):
            assert np.array_equal(row["spike_times"], nwb.units["spike_times"][i])
    with pytest.raises(intake_nwb.IntakeNWBError, match="row 9"):
        intake_nwb.get_df(None, "units", nwb_path_to_row_indices={lab[0]: [9]}, **opts)


def test_pandas_in_pynwbs_form(lab: list[str], opts: dict[str, str]) -> None:
    mine = intake_nwb.get_df(lab[0], "units", exclude_array_columns=False, as_pandas=True,
                             **opts)
    io, nwb = _read(lab[0])
    with io:
        theirs = nwb.units.to_dataframe()
    for col in ("spike_times", "obs_intervals", "waveform"):
        for a, b in zip(mine[col], theirs[col], strict=True):
            assert isinstance(a, np.ndarray) and a.shape == b.shape and np.array_equal(a, b)
    assert mine["waveform"][0].shape == (3, 2) and mine["obs_intervals"][0].shape == (2, 2)


# -- configuration -------------------------------------------------------------------------------

def test_config_from_environment_and_arguments(lab: list[str], opts: dict[str, str]) -> None:
    env = {"INTAKE_NWB_ANON": "1", "INTAKE_NWB_STORAGE_OPTIONS": '{"s3": {"profile": "lab"}}',
           "INTAKE_NWB_RETURN_TYPE": "pandas", "INTAKE_NWB_CACHE": "memory",
           "INTAKE_NWB_REFS_DIR": "/refs"}
    c = Config.from_env(env)
    assert (c.anon, c.return_type, c.cache, c.refs_dir) == (True, "pandas", "memory", "/refs")
    so = c.default_storage_options()
    assert so["s3"] == {"profile": "lab", "anon": True} and so["gs"] == {"token": "anon"}
    assert "http" not in so  # HTTP filesystems take no anon option
    given = c.open_kwargs({"anon": False}, "/mine", None)
    assert given == {"storage_options": {"anon": False}, "refs_dir": "/mine", "cache": "memory",
                     "cache_dir": None}
    assert c.wants_pandas() and not c.wants_pandas(as_polars=True)
    with pytest.raises(TypeError, match="disagree"):
        c.wants_pandas(as_pandas=True, as_polars=True)
    with intake_nwb.config.set(return_type="pandas"):
        assert isinstance(intake_nwb.get_df(lab[0], "trials", **opts), pd.DataFrame)
        assert isinstance(intake_nwb.get_metadata_df(lab[0], **opts), pd.DataFrame)
        assert isinstance(intake_nwb.get_df(lab[0], "trials", as_polars=True, **opts),
                          pl.DataFrame)
    before = intake_nwb.config.return_type
    intake_nwb.config.return_type = "pandas"  # as lazynwb.config.use_polars = ... is set
    try:
        from intake_nwb.config import config

        assert config.return_type == "pandas"
    finally:
        intake_nwb.config.return_type = before


# -- what files hold -----------------------------------------------------------------------------

def _h5_value(f: h5py.File, value):  # type: ignore[no-untyped-def]
    """An h5py attribute value as get_attrs gives it."""
    if isinstance(value, h5py.Reference):
        return f[value].name if value else None
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        items = [_h5_value(f, v) for v in value.tolist()]
        return items[0] if len(items) == 1 and value.ndim == 1 else items
    if isinstance(value, np.generic):
        return value.item()
    return value


@pytest.mark.parametrize("path", real_hdf5_files(), ids=rel)
def test_attributes_paths_and_columns_equal_h5py(path: Path, refs_dir: Path) -> None:
    """Every attribute of every object of every real file, as h5py reads it; every dataset's
    shape; every table's column metadata agreeing with its schema."""
    sub = intake_nwb.get_sub_attrs(path, "/", exclude_private=False, exclude_empty=False,
                                   refs_dir=refs_dir)
    info = intake_nwb.get_internal_path_info(path, include_table_columns=True,
                                             include_metadata=True, include_child_datasets=True,
                                             refs_dir=refs_dir)
    with h5py.File(path) as f:
        names: list[str] = []
        f.visit(names.append)
        assert set(sub) == {"/", *("/" + n for n in names)}
        for p in sub:
            theirs = {k: _h5_value(f, v) for k, v in f[p].attrs.items()}
            if p == "/" and ".specloc" in theirs:
                theirs[".specloc"] = "specifications"  # a reference to /specifications
            assert sub[p] == theirs, p
        for p, i in info.items():
            assert i["is_group"] == isinstance(f[p], h5py.Group), p
            if not i["is_group"]:
                assert i["shape"] == f[p].shape, p
    for table in [p for p, i in info.items() if i["is_table"]]:
        cols = intake_nwb.get_table_column_metadata(path, table, exact_path=True,
                                                    refs_dir=refs_dir)
        schema = intake_nwb.get_table_schema(path, table, exact_path=True, on_conflict="json",
                                             refs_dir=refs_dir)
        assert [c.name for c in cols if c.name in schema] == [
            c for c in schema if not c.startswith("_")], table


def test_attribute_options(data_dir: Path, refs_dir: Path) -> None:
    path = str(data_dir / DANDI)
    units = intake_nwb.get_attrs(path, "units", refs_dir=refs_dir)
    assert "object_id" not in units and units["colnames"][0] == "depth"
    assert intake_nwb.get_attrs(path, "/", exclude_empty_fields=True, refs_dir=refs_dir)[
        "neurodata_type"] == "NWBFile"


def test_consolidated_attributes(lab: list[str], opts: dict[str, str]) -> None:
    out = intake_nwb.consolidate_attrs(lab[:3], "/processing/left", **opts)["/processing/left"]
    assert out["description"] == {"common": "left side"}
    age = intake_nwb.consolidate_attrs(lab[:3], "general/subject/age", **opts)[
        "/general/subject/age"]["reference"]
    assert age == {"common": "gestational", lab[0]: "birth"}


def test_internal_paths_and_info_equal_h5py(lab: list[str], opts: dict[str, str]) -> None:
    f = lab[0]
    paths = intake_nwb.get_internal_paths(f, **opts)
    where = _h5_paths(f)  # pynwb's objects by id, their paths by h5py
    io, nwb = _read(f)
    with io:
        objects = {where[o.object_id] for o in nwb.objects.values()
                   if isinstance(o, (pynwb.core.DynamicTable, pynwb.TimeSeries))}
    assert set(paths) == objects
    more = intake_nwb.get_internal_paths(f, include_table_columns=True, include_metadata=True,
                                         parents=True, **opts)
    assert {"/units/spike_times", "/units/spike_times_index", "/general/subject",
            "/processing"} <= set(more)
    info = intake_nwb.get_internal_path_info(f, include_table_columns=True,
                                             include_child_datasets=True, **opts)
    with h5py.File(f) as h:
        for p, i in info.items():
            assert i["is_group"] == isinstance(h[p], h5py.Group)
            if not i["is_group"]:
                assert i["shape"] == h[p].shape, p
    assert info["/units"]["is_table"] and info["/acquisition/running"]["is_timeseries"]


def test_column_metadata_without_reading_data(lab: list[str], opts: dict[str, str]) -> None:
    cols = intake_nwb.get_table_column_metadata(lab[0], "units", **opts)
    by_name = {c.name: c for c in cols}
    io, nwb = _read(lab[0])
    with io:
        units = nwb.units
        assert intake_nwb.get_table_length_from_metadata(cols) == len(units)
        for column in units.columns:
            if column.name in by_name:
                assert by_name[column.name].description == column.description
    assert by_name["spike_times"].is_ragged and by_name["spike_times"].index_column_names == (
        "spike_times_index",)
    assert by_name["waveform"].row_element_shape == (3, 2) and not by_name["waveform"].is_ragged
    own = intake_nwb.get_table_schema(lab[0], "units", **opts)
    assert dict(intake_nwb.get_table_schema_from_metadata(cols)) == {
        k: v for k, v in own.items() if not k.startswith("_")}


# -- one file ------------------------------------------------------------------------------------

def test_lazynwb_object_equals_pynwb(lab: list[str], opts: dict[str, str]) -> None:
    lz = intake_nwb.open_nwb(lab[1], **opts)
    io, nwb = _read(lab[1])
    with io:
        for field in ("identifier", "session_description", "session_id", "lab", "institution",
                      "notes", "surgery", "virus", "source_script", "source_script_file_name"):
            assert getattr(lz, field) == getattr(nwb, field), field
        assert lz.session_start_time == nwb.session_start_time
        assert lz.keywords == list(nwb.keywords) and lz.experimenter == list(nwb.experimenter)
        assert (lz.subject.age, lz.subject.age__reference) == (nwb.subject.age,
                                                               nwb.subject.age__reference)
        assert lz.trials.height == len(nwb.trials)
    described = lz.describe()
    assert described["subject_id"] == "m1" and "/units" in described["paths"]
    assert lz.get("trials").height == 12
    assert lz.get("running").dims[0] == "time"
    with pytest.raises(AttributeError, match="no session field, table or TimeSeries 'epochs'"):
        _ = lz.epochs


def test_get_timeseries_by_lazynwb_search_term(lab: list[str], opts: dict[str, str]) -> None:
    io, nwb = _read(lab[0])
    with io:
        for name in ("running", "licks"):
            ts = intake_nwb.get_timeseries(lab[0], name, **opts)
            theirs = nwb.acquisition[name]
            assert ts.unit == theirs.unit
            assert np.allclose(ts.timestamps.values, theirs.get_timestamps(), rtol=0,
                               atol=1e-9)
        assert intake_nwb.get_timeseries(lab[0], "running", **opts).rate == \
            nwb.acquisition["running"].rate
    both = intake_nwb.get_timeseries(lab[0], "acquisition", match_all=True, **opts)
    assert set(both) == {"/acquisition/running", "/acquisition/licks"}
    with pytest.raises(intake_nwb.TimeSeriesNotFoundError, match="2 TimeSeries match"):
        intake_nwb.get_timeseries(lab[0], "acquisition", **opts)


def test_get_tables_and_series(lab: list[str], opts: dict[str, str]) -> None:
    assert intake_nwb.get(lab[:2], "trials", **opts).height == 24
    assert intake_nwb.get(lab[:2], "licks", as_df=True, **opts).height == 50
    assert intake_nwb.get(lab[0], "licks", **opts).sizes["time"] == 25
    with pytest.raises(ValueError, match="as_df=True"):
        intake_nwb.get(lab[:2], "licks", **opts)


# -- spike times ---------------------------------------------------------------------------------

def _expected(units, trials, unit: int, trial: int, offset: float) -> tuple:  # type: ignore[no-untyped-def]
    spikes = units["spike_times"][unit]
    start = trials["start_time"][trial]
    stop = trials["stop_time"][trial]
    inside = spikes[(spikes >= start + offset) & (spikes < start + offset + 3.0)]
    observed = None if np.isnan(stop) else any(
        a <= start and b >= stop for a, b in units["obs_intervals"][unit])
    return inside, observed


def test_spike_times_in_intervals_equal_pynwb(lab: list[str], opts: dict[str, str]) -> None:
    units = intake_nwb.get_df(lab[:3], "units", **opts).filter(pl.col("quality") == "good")
    window = {"early": (pl.col("start_time"), pl.col("start_time") + 3.0),
              "late": (pl.col("start_time") + 1.0, pl.col("start_time") + 4.0)}
    out = intake_nwb.get_spike_times_in_intervals(units, window, **opts)
    assert out.height == units.height * 12
    assert {"go", "quality", "is_observed"} <= set(out.columns)
    counts = intake_nwb.get_spike_times_in_intervals(units, window, as_counts=True,
                                                     apply_obs_intervals=False,
                                                     keep_only_necessary_cols=True, **opts)
    assert counts.columns == ["_units_table_index", "_intervals_table_index", "_nwb_path",
                              "early", "late"]
    aligned = intake_nwb.get_spike_times_in_intervals(units, window, align_times=True,
                                                      apply_obs_intervals=False, **opts)
    checked = 0
    for f in lab[:3]:
        io, nwb = _read(f)
        with io:
            mine = out.filter(pl.col("_nwb_path") == f)
            for row, n, a in zip(mine.iter_rows(named=True),
                                 counts.filter(pl.col("_nwb_path") == f).iter_rows(named=True),
                                 aligned.filter(pl.col("_nwb_path") == f).iter_rows(named=True),
                                 strict=True):
                u, t = row["_units_table_index"], row["_intervals_table_index"]
                start = nwb.trials["start_time"][t]
                for key, offset in (("early", 0.0), ("late", 1.0)):
                    inside, observed = _expected(nwb.units, nwb.trials, u, t, offset)
                    assert row["is_observed"] == observed
                    assert n[key] == len(inside)
                    assert np.allclose(a[key], inside - start - offset)
                    if observed is False:
                        assert row[key] is None
                    else:
                        assert np.array_equal(row[key], inside)
                    checked += 1
    assert checked == 2 * out.height


def test_observation_and_merged_columns(lab: list[str], opts: dict[str, str]) -> None:
    units = intake_nwb.get_df(lab[:2], "units", **opts)
    shuffled = units.sample(fraction=1.0, shuffle=True, seed=1)
    merged = intake_nwb.merge_array_column(shuffled, "obs_intervals", **opts)
    assert merged["_table_index"].to_list() == shuffled["_table_index"].to_list()
    lazy = intake_nwb.merge_array_column(shuffled.lazy(), "spike_times", **opts).collect()
    as_pd = intake_nwb.merge_array_column(shuffled.to_pandas(), "spike_times", **opts)
    io, nwb = _read(lab[0])
    with io:
        for row, cell in zip(lazy.iter_rows(named=True), as_pd["spike_times"], strict=True):
            if row["_nwb_path"] == lab[0]:
                theirs = nwb.units["spike_times"][row["_table_index"]]
                assert np.array_equal(row["spike_times"], theirs)
                assert np.array_equal(cell, theirs)
    with pytest.warns(SkippedWarning, match="'nope' is in no file"):
        assert intake_nwb.merge_array_column(units, "nope", **opts) is units
    pairs = pl.DataFrame({"_nwb_path": [lab[0]] * 3, "_units_table_index": [0, 0, 4],
                          "start_time": [50.0, 35.0, 20.0], "stop_time": [60.0, 40.0, 80.0]})
    # unit 0: observed 0-30 and 45-100; unit 4: 10-70 (the second interval counts)
    assert intake_nwb.insert_is_observed(pairs, **opts)["is_observed"].to_list() == [
        True, False, False]
    no_units = pairs.with_columns(pl.lit(lab[3]).alias("_nwb_path"))
    with pytest.warns(SkippedWarning, match="no obs_intervals"):
        assert intake_nwb.insert_is_observed(no_units, **opts)["is_observed"].null_count() == 3

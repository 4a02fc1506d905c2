"""Exports, SQL and the command line, from files and from catalogs: every format read back
equals ``get_df``; a Hive-partitioned dataset reads back lazily; SQL over files and over a
catalog's entries; and exporting a large ragged table from many files keeps memory far below
the table's size (peak RSS measured in a subprocess)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow.parquet as pq
import pytest

import intake_nwb
from intake_nwb.cli import main
from intake_nwb.errors import IntakeNWBWarning
from intake_nwb.frames.export import write_table

from .lazynwb_files import write_lab
from .support.memory import PEAK_RSS

pytest.importorskip("pynwb")
SORT = ["_nwb_path", "_table_index"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [str(p) for p in write_lab(tmp_path_factory.mktemp("lab"))[:3]]


@pytest.fixture(scope="module")
def opts(refs_dir: Path) -> dict[str, str]:
    return {"refs_dir": str(refs_dir)}


@pytest.fixture(scope="module")
def catalog(lab: list[str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return intake_nwb.build_catalog(lab, Path(lab[0]).parent / "lab.yaml",
                                        progress=False)


def _read_back(path: Path, fmt: str) -> pl.DataFrame:
    return {"parquet": pl.read_parquet, "feather": pl.read_ipc, "arrow": pl.read_ipc,
            "ndjson": pl.read_ndjson, "json": pl.read_json, "csv": pl.read_csv,
            "avro": pl.read_avro}[fmt](path)


@pytest.mark.parametrize("fmt", ["parquet", "feather", "ndjson", "json", "avro"])
def test_every_format_reads_back_equal(lab: list[str], opts: dict[str, str], tmp_path: Path,
                                       fmt: str) -> None:
    out = intake_nwb.convert_nwb_tables(lab, tmp_path, output_format=fmt, **opts)
    assert set(out) == {"/general", "/general/subject", "/intervals/trials", "/units",
                        "/processing/left/events", "/processing/right/events"}
    assert out["/units"].name == f"units.{ {'feather': 'feather'}.get(fmt, fmt) }"
    assert out["/processing/left/events"].name.startswith("processing_left_events")
    for path, table in (("/units", "units"), ("/intervals/trials", "trials")):
        ref = intake_nwb.get_df(lab, table, exclude_array_columns=False, **opts)
        if fmt in ("json", "ndjson"):  # JSON has no NaN: written as null
            ref = ref.with_columns(pl.col(pl.Float64).fill_nan(None))
        back = _read_back(out[path], fmt)
        assert back.cast(dict(ref.schema)).equals(ref), (fmt, path)  # type: ignore[arg-type]
    session = _read_back(out["/general"], fmt)
    ref = intake_nwb.get_df(lab, "session", **opts)
    if fmt == "avro":  # Avro's timestamps carry no zone: the instants are UTC
        ref = ref.with_columns(pl.col("session_start_time").dt.replace_time_zone(None))
    assert session["identifier"].to_list() == ref["identifier"].to_list()
    got = session["session_start_time"]
    if got.dtype == pl.String:  # JSON: ISO text
        got = got.str.to_datetime(time_unit="us", time_zone="UTC")
    assert got.cast(ref.schema["session_start_time"]).equals(ref["session_start_time"])


def test_excel_and_delta_read_back_equal(lab: list[str], opts: dict[str, str],
                                         tmp_path: Path) -> None:
    """The two formats whose writers are optional (the ``export`` extra)."""
    with pytest.warns(IntakeNWBWarning, match="/units/spike_times"):  # excel is flat
        excel = intake_nwb.convert_nwb_tables(lab, tmp_path / "x", output_format="excel",
                                              table_names=["units", "trials"], **opts)
    delta = intake_nwb.convert_nwb_tables(lab, tmp_path / "d", output_format="delta",
                                          table_names=["units", "trials"], **opts)
    for path, table in (("/units", "units"), ("/intervals/trials", "trials")):
        flat = intake_nwb.get_df(lab, table, **opts)  # array columns left out
        flat = flat.with_columns(pl.col(pl.Float64).fill_nan(None))  # Excel has no NaN
        back = pl.read_excel(excel[path])
        assert back.columns == flat.columns, path
        assert back.cast(dict(flat.schema)).equals(flat), path  # type: ignore[arg-type]
        whole = intake_nwb.get_df(lab, table, exclude_array_columns=False, **opts)
        back = pl.read_delta(str(delta[path]))
        assert back.sort(SORT).cast(dict(whole.schema)).equals(  # type: ignore[arg-type]
            whole.sort(SORT)), path


def test_flat_formats_leave_arrays_out_and_say_so(lab: list[str], opts: dict[str, str],
                                                  tmp_path: Path) -> None:
    with pytest.warns(IntakeNWBWarning, match="/units/spike_times"):
        out = intake_nwb.convert_nwb_tables(lab, tmp_path, output_format="csv", **opts)
    units = pl.read_csv(out["/units"])
    ref = intake_nwb.get_df(lab, "units", **opts)
    assert units.columns == ref.columns and units["quality"].equals(ref["quality"])
    with pytest.raises(ValueError, match="lists or arrays: experimenter"):
        intake_nwb.convert_nwb_tables(lab, tmp_path / "x", output_format="csv",
                                      exclude_array_columns=False, **opts)
    assert not (tmp_path / "x" / "units.csv").exists()
    assert not [p for p in (tmp_path / "x").glob(".tmp-*")]  # nothing half-written left


def test_partitioned_dataset_reads_lazily(lab: list[str], opts: dict[str, str],
                                          tmp_path: Path) -> None:
    out = intake_nwb.convert_nwb_tables(lab, tmp_path, partitioned=True,
                                        table_names=["units"], **opts)
    assert set(out) == {"/units"}
    assert sorted(p.name for p in out["/units"].iterdir()) == [
        "_session=ses-0", "_session=ses-1", "_session=ses-2"]
    lf = pl.scan_parquet(out["/units"] / "**/*.parquet", hive_partitioning=True)
    one = lf.filter(pl.col("_session") == "ses-1").select("_nwb_path").collect()
    assert set(one["_nwb_path"]) == {lab[1]}
    ref = intake_nwb.get_df(lab, "units", exclude_array_columns=False, **opts)
    assert lf.drop("_session").collect().sort(SORT).equals(ref.sort(SORT))


def test_write_table_is_atomic(lab: list[str], opts: dict[str, str], tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    lf = intake_nwb.scan_nwb(lab, "trials", **opts)
    target = tmp_path / "trials.parquet"
    write_table(lf, target, files=lab, progress=True)
    assert "trials.parquet" in capsys.readouterr().err  # a progress bar, file by file
    before = target.read_bytes()
    failing = lf.with_columns((pl.col("start_time") * 1000).cast(pl.Int8, strict=True))
    with pytest.raises(pl.exceptions.PolarsError):
        write_table(failing, target, files=lab)
    assert target.read_bytes() == before and not list(tmp_path.glob(".tmp-*"))
    with pytest.raises(ValueError, match="written in one go"):
        write_table(lf, tmp_path / "t.avro", files=lab, output_format="avro", max_bytes=100)


def test_sql_over_files(lab: list[str], opts: dict[str, str]) -> None:
    ctx = intake_nwb.get_sql_context(lab, **opts)
    assert {"units", "trials", "session", "subject", "running", "licks",
            "processing/left/events", "processing/right/events"} <= set(ctx.tables())
    got = ctx.execute("SELECT s.subject_id, count(*) AS n FROM units u JOIN session s "
                      "USING (_nwb_path) WHERE u.quality = 'good' GROUP BY s.subject_id "
                      "ORDER BY s.subject_id").collect()
    units = intake_nwb.get_df(lab, "units", **opts).filter(pl.col("quality") == "good")
    assert got["n"].to_list() == units.group_by("_nwb_path", maintain_order=True).len()[
        "len"].to_list()
    only = intake_nwb.get_sql_context(lab, table_names=["trials"], full_path=True,
                                      exclude_timeseries=True, **opts)
    assert set(only.tables()) == {"intervals/trials"}
    assert only.execute('SELECT count(*) AS n FROM "intervals/trials"').collect()["n"][0] == 36


def test_catalog_sql_export_and_entries(catalog: Path, lab: list[str], opts: dict[str, str],
                                        tmp_path: Path) -> None:
    outside = Path(lab[0]).parent.parent / "elsewhere.yaml"
    shutil.copy(catalog, outside)
    with pytest.raises(intake_nwb.UnsafeCatalogError, match="refused"):
        intake_nwb.catalog_sql_context(outside)  # a catalog path is checked before use
    ctx = intake_nwb.catalog_sql_context(catalog)
    assert {"units", "trials", "sessions"} <= set(ctx.tables())
    n = ctx.execute("SELECT count(*) AS n FROM trials JOIN sessions USING (_nwb_path) "
                    "WHERE go").collect()["n"][0]
    assert n == intake_nwb.get_df(lab, "trials", **opts)["go"].sum()
    out = intake_nwb.export_catalog(catalog, tmp_path, entries=["units", "sessions"])
    ref = intake_nwb.get_df(lab, "units", exclude_array_columns=False, **opts)
    assert pl.read_parquet(out["units"]).sort(SORT).equals(ref.sort(SORT))
    assert pl.read_parquet(out["sessions"]).height == 3
    cat = intake_nwb.open_catalog(catalog)
    part = cat.units.export(tmp_path / "units_by_session", partitioned=True)
    assert len(list(part.iterdir())) == 3
    assert cat.units.sql("SELECT count(*) AS n FROM units")["n"][0] == ref.height
    cells = cat.units.to_pandas()["waveform"]
    assert isinstance(cells, pd.Series) and cells[0].shape == (3, 2)
    assert cat.units.to_dask().partitions[0].compute()["waveform"].iloc[0].shape == (3, 2)


def test_command_line(lab: list[str], catalog: Path, opts: dict[str, str], tmp_path: Path,
                      capsys: pytest.CaptureFixture[str]) -> None:
    refs = ["--refs-dir", opts["refs_dir"]]

    def run(*args: str) -> str:
        assert main(list(args)) == 0
        return capsys.readouterr().out

    assert "/acquisition/running" in run("paths", lab[0], *refs)
    assert "spike_times_index" in run("paths", lab[0], "--columns", *refs)
    assert "trials" in run("tables", *lab, *refs, "--format", "csv")
    schema = pl.read_csv(run("schema", "units", *lab, *refs, "--format", "csv").encode())
    assert "spike_times" in schema["column"].to_list()
    rows = json.loads(run("preview", "trials", *lab, *refs, "--format", "json", "--limit",
                          "3"))
    assert len(rows) == 3 and rows[0]["_table_path"] == "/intervals/trials"
    text = run("query", *lab, "SELECT count(*) AS n FROM trials", *refs, "--format", "csv")
    assert text.splitlines() == ["n", "36"]
    from_catalog = run("query", str(catalog), "SELECT count(*) AS n FROM units", "--format",
                       "json")
    assert json.loads(from_catalog) == [{"n": 15}]
    assert json.loads(run("describe", lab[0], *refs, "--json"))["session_id"] == "ses-0"
    listing = run("export", *lab, "-o", str(tmp_path / "out"), *refs, "--no-progress")
    assert "/units\t" in listing and (tmp_path / "out" / "units.parquet").exists()
    listing = run("export", str(catalog), "-o", str(tmp_path / "cat"), "--no-progress",
                  "--format", "csv", "--exclude-array-columns")
    assert (tmp_path / "cat" / "trials.csv").exists()


MEMORY_SCRIPT = PEAK_RSS + """
import gc, json, sys
import psutil
import intake_nwb
from intake_nwb.frames.export import write_table

files, out, mode, refs = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
lf = intake_nwb.scan_nwb(files, "/units", refs_dir=refs)
lf.collect_schema()
gc.collect()
before = psutil.Process().memory_info().rss
if mode == "export":
    write_table(lf, out, files=files, batch_bytes=8 << 20)
    size = 0
else:
    size = lf.collect().estimated_size()
print(json.dumps({"growth": peak_rss() - before, "size": size}))
"""


def test_export_memory_is_bounded(tmp_path: Path) -> None:
    """32 files of ~10 MB of spike times each (a ~290 MiB table): collecting the table grows
    RSS by its size; exporting it grows RSS by a few files' worth, as much for 32 files as
    for 8."""
    from intake_nwb.sample import write_session

    first = write_session(tmp_path / "ses-00.nwb", n_units=40, spikes_per_unit=30_000,
                          n_trials=10, duration_s=600.0, behavior_rate=1.0, n_electrodes=8)
    files = [str(first)]
    for i in range(1, 32):
        files.append(str(shutil.copy(first, tmp_path / f"ses-{i:02d}.nwb")))
    refs = tmp_path / "refs"
    intake_nwb.index(files, refs_dir=refs, progress=False)

    def measure(mode: str, n: int) -> dict[str, int]:
        done = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, json.dumps(files[:n]),
                               str(tmp_path / f"units-{n}.parquet"), mode, str(refs)],
                              capture_output=True, text=True, check=True,
                              # fewer allocator arenas and threads: less noise between runs
                              env={**os.environ, "MALLOC_ARENA_MAX": "2",
                                   "POLARS_MAX_THREADS": "2"})
        return json.loads(done.stdout.strip().splitlines()[-1])

    whole = measure("collect", 32)
    few, many = measure("export", 8), measure("export", 32)
    table = whole["size"]
    print(f"table {table / 2**20:.0f} MiB; RSS growth: collect {whole['growth'] / 2**20:.0f}"
          f" MiB, export of 8 files {few['growth'] / 2**20:.0f} MiB, of 32 files "
          f"{many['growth'] / 2**20:.0f} MiB")
    assert table > 280 * 2**20
    assert whole["growth"] > 0.5 * table  # the measurement sees a whole table being held
    # well under the table (alone ~0.3 of it; allocator slack under a loaded machine ~0.55)
    assert many["growth"] < 0.75 * min(table, whole["growth"])
    # 4x the files, not 4x the memory (what grows is bounded caches: parsed references, stores)
    assert many["growth"] < few["growth"] * 1.5 + 16 * 2**20
    back = pq.ParquetFile(tmp_path / "units-32.parquet")
    assert back.metadata.num_rows == 32 * 40 and back.num_row_groups == 32

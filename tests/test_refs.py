"""Reference sets read back exactly as h5py reads the HDF5 file: every dataset, attribute, link."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import fsspec
import h5py
import numpy as np
import pytest
import zarr

import intake_nwb
from intake_nwb.refs import read_meta
from intake_nwb.refs.translate import Options, translate
from intake_nwb.store import open_store
from tests import synthetic
from tests.fidelity import compare_refs, format_table

from .conftest import real_hdf5_files, rel

# what the synthetic files cannot represent, on purpose (listed as unsupported, never silent)
EXPECTED_UNSUPPORTED = {"/unknown_filter", "/array_field", "/vlen_int", "/opaque"}


@pytest.fixture(scope="session")
def synthetic_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return synthetic.write_all(tmp_path_factory.mktemp("synthetic"))


@pytest.mark.parametrize("path", real_hdf5_files(), ids=rel)
def test_real_file_fidelity(path: Path, real_refs: dict[str, str]) -> None:
    report = compare_refs(path, real_refs[str(path)])
    assert not report.unsupported, report.unsupported
    assert report.ok, report.summary()
    assert report.datasets_equal == report.datasets_total > 0


def test_fidelity_table(real_refs: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    """The per-file table of the closing note (printed with -s)."""
    reports = [compare_refs(p, real_refs[str(p)]) for p in real_hdf5_files()]
    with capsys.disabled():
        print("\n" + format_table(reports, details=0))
    assert all(r.ok for r in reports)


@pytest.mark.parametrize("case", sorted(synthetic.VALID))
def test_synthetic_fidelity(case: str, synthetic_files: dict[str, Path], tmp_path: Path) -> None:
    path = synthetic_files[case]
    refs = intake_nwb.index(str(path), refs_dir=tmp_path, progress=False)[str(path)]
    report = compare_refs(path, refs)
    unsupported = {u["path"].split("@")[0] for u in report.unsupported}
    assert unsupported <= EXPECTED_UNSUPPORTED, report.unsupported
    assert not report.mismatches, report.summary()
    assert report.datasets_equal == report.datasets_total - len(unsupported)


def test_plain_fsspec_and_zarr_open_the_references(real_refs: dict[str, str]) -> None:
    """No intake_nwb code beyond the json2 dtype registration (done on import of zarr's
    registry): fsspec's reference filesystem + zarr.open_group(zarr_format=2)."""
    code = (
        "import sys, fsspec, zarr, intake_nwb.conventions\n"
        "fs = fsspec.filesystem('reference', fo=sys.argv[1])\n"
        "g = zarr.open_group(fs.get_mapper(''), mode='r', zarr_format=2)\n"
        "print(g['identifier'][0], len(list(g['units'].keys())))\n"
    )
    path = next(p for p in real_hdf5_files() if "anm369963" in p.name)
    out = subprocess.run([sys.executable, "-c", code, real_refs[str(path)]], check=True,
                         capture_output=True, text=True).stdout
    assert out.split()[0] == "anm369963_2017-02-28_2"
    assert int(out.split()[1]) > 0, "nested groups listed through consolidated metadata"
    doc = json.loads(Path(real_refs[str(path)]).read_text())
    assert doc["version"] == 1 and ".zmetadata" in doc["refs"]


def test_reference_file_records_identity(real_refs: dict[str, str]) -> None:
    path = real_hdf5_files()[0]
    meta = read_meta(real_refs[str(path)])
    assert meta["source"] == str(path)
    assert meta["identity"]["size"] == path.stat().st_size
    assert meta["intake_nwb_version"] == intake_nwb.__version__
    assert meta["layout_version"] >= 1


def test_reindex_unchanged_does_no_work(data_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "a.nwb"
    shutil.copy(data_dir / "dandi-cli/sub-anm369963_ses-20170228.nwb", src)
    ref = intake_nwb.index(str(src), refs_dir=tmp_path / "refs", progress=False)[str(src)]
    mtime = os.stat(ref).st_mtime_ns
    again = intake_nwb.index(str(src), refs_dir=tmp_path / "refs", progress=False)[str(src)]
    assert again == ref and os.stat(ref).st_mtime_ns == mtime


def test_stale_references_raise_or_reindex(data_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "a.nwb"
    shutil.copy(data_dir / "dandi-cli/sub-anm369963_ses-20170228.nwb", src)
    ref = intake_nwb.index(str(src), refs_dir=tmp_path / "refs", progress=False)[str(src)]
    shutil.copy(data_dir / "dandi-cli/sub-anm372793_ses-20170508.nwb", src)
    with pytest.raises(intake_nwb.StaleReferenceError, match=str(src)):
        open_store(ref)
    store = open_store(ref, on_stale="reindex", refs_dir=tmp_path / "refs")
    assert store.group["identifier"][0] == "anm372793_2017-05-08_2"


def test_contiguous_subchunks_and_partial_reads(synthetic_files: dict[str, Path],
                                                tmp_path: Path) -> None:
    path = synthetic_files["large_contiguous"]
    ref = intake_nwb.index(str(path), refs_dir=tmp_path, progress=False,
                           subchunk_bytes=2**20)[str(path)]
    doc = json.loads(Path(ref).read_text())
    with h5py.File(path) as f:
        name = "acquisition/big/data"
        expected = f[name][123_456:123_556]
    zarray = json.loads(doc["refs"][f"{name}/.zarray"])
    assert zarray["chunks"][0] * 16 <= 2**20 and zarray["shape"][0] % zarray["chunks"][0] != 0
    fs = fsspec.filesystem("reference", fo=doc)
    arr = zarr.open_group(fs.get_mapper(""), mode="r", zarr_format=2)[name]
    np.testing.assert_array_equal(arr[123_456:123_556], expected)
    np.testing.assert_array_equal(arr[-5:], h5py.File(path)[name][-5:])


def test_inline_threshold_inlines_small_datasets(data_dir: Path, tmp_path: Path) -> None:
    path = data_dir / "dandi-cli/sub-anm369963_ses-20170228.nwb"
    with h5py.File(path) as f:
        small = translate(f, str(path), options=Options(inline_threshold=10**6))
        none = translate(f, str(path), options=Options(inline_threshold=0))
    assert small["n_chunks"] == 0 < none["n_chunks"]


@pytest.mark.parametrize("case,error", [("not_nwb", intake_nwb.NotNWBError),
                                        ("truncated", intake_nwb.NotNWBError),
                                        ("not_hdf5", intake_nwb.NotNWBError)])
def test_bad_input_names_the_file(case: str, error: type, tmp_path: Path) -> None:
    path = synthetic.INVALID[case](tmp_path)
    with pytest.raises(error, match=str(path)):
        intake_nwb.index(str(path), refs_dir=tmp_path / "refs", progress=False)
    assert not list((tmp_path / "refs").glob("*.json")) if (tmp_path / "refs").exists() else True


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(intake_nwb.SourceNotFoundError, match="nope.nwb"):
        intake_nwb.index(str(tmp_path / "nope.nwb"), refs_dir=tmp_path, progress=False)


def test_batch_errors_warn_keeps_the_good_files(data_dir: Path, tmp_path: Path) -> None:
    bad = synthetic.INVALID["not_hdf5"](tmp_path)
    good = data_dir / "dandi-cli/sub-anm369963_ses-20170228.nwb"
    with pytest.warns(UserWarning, match=str(bad)):
        out = intake_nwb.index([str(bad), str(good)], refs_dir=tmp_path / "r", errors="warn",
                               progress=False)
    assert list(out) == [str(good)]
    with pytest.raises(intake_nwb.NotNWBError):
        intake_nwb.index([str(bad), str(good)], refs_dir=tmp_path / "r", progress=False)


def test_zarr_stores_returned_as_is(data_dir: Path, tmp_path: Path) -> None:
    store = str(data_dir / "test-hdmf-zarr/consolidated.nwb.zarr")
    assert intake_nwb.index(store, refs_dir=tmp_path, progress=False) == {store: store}


def test_parquet_layout_for_many_chunks(synthetic_files: dict[str, Path], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from intake_nwb.refs import cache

    monkeypatch.setattr(cache, "PARQUET_MIN_CHUNKS", 1)
    path = synthetic_files["large_contiguous"]
    ref = intake_nwb.index(str(path), refs_dir=tmp_path, progress=False)[str(path)]
    assert ref.endswith(".parq") and Path(ref).is_dir()
    store = open_store(ref)
    with h5py.File(path) as f:
        name = "acquisition/big/data"
        np.testing.assert_array_equal(store.group[name][:1000], f[name][:1000])


def test_executor_and_cli(data_dir: Path, tmp_path: Path) -> None:
    import concurrent.futures as cf

    files = [str(p) for p in sorted((data_dir / "dandi-cli").glob("*.nwb"))]
    with cf.ProcessPoolExecutor(2) as pool:
        out = intake_nwb.index(files, refs_dir=tmp_path, executor=pool, progress=False)
    assert sorted(out) == files
    cli = subprocess.run([sys.executable, "-m", "intake_nwb.cli", "index", *files,
                          "--refs-dir", str(tmp_path), "--json"], check=True,
                         capture_output=True, text=True)
    assert json.loads(cli.stdout) == out


def test_strict_mode_raises_on_unrepresentable(synthetic_files: dict[str, Path],
                                               tmp_path: Path) -> None:
    path = synthetic_files["unrepresentable"]
    ref = intake_nwb.index(str(path), refs_dir=tmp_path / "lenient", progress=False)[str(path)]
    listed = {u["path"] for u in read_meta(ref)["unsupported"]}
    assert listed, "unrepresentable objects are listed in the reference metadata"
    with pytest.raises(intake_nwb.TranslationError, match=str(path)):
        intake_nwb.index(str(path), refs_dir=tmp_path / "strict", strict=True, progress=False)
    assert not (tmp_path / "strict").exists() or not list((tmp_path / "strict").iterdir())


def test_index_on_a_dask_cluster(data_dir: Path, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    files = [str(p) for p in sorted((data_dir / "nwbshowcase").glob("*.nwb"))]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        out = intake_nwb.index(files, refs_dir=tmp_path, executor=client.get_executor(),
                               progress=False)
    assert sorted(out) == files
    assert all(Path(p).exists() for p in out.values())

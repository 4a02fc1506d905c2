"""Column kinds the real files lack, written with pynwb: EnumData, two-level ragged, bool,
type conflicts across files."""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import intake_nwb
from intake_nwb.frames import get_df, scan_nwb


def _write(path: Path, *, flag_dtype: type = bool, with_extra: bool = False) -> str:
    from hdmf.common import DynamicTable, EnumData, VectorData, VectorIndex
    from pynwb import NWBHDF5IO, NWBFile

    nwb = NWBFile("d", path.stem, dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    elements = VectorData(name="fruit_elements", description="e",
                          data=["apple", "banana", "cherry"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fruit = EnumData(name="fruit", description="f",
                         data=np.array([0, 2, 1, 2], dtype=np.uint8), elements=elements)
    nested = VectorData(name="nested", description="n", data=[1., 2., 3., 4., 5., 6., 7.])
    i1 = VectorIndex(name="nested_index", target=nested, data=[2, 3, 5, 7])
    i2 = VectorIndex(name="nested_index_index", target=i1, data=[1, 3, 3, 4])
    flag = VectorData(name="flag", description="b",
                      data=np.array([1, 0, 1, 1]).astype(flag_dtype))
    cols = [fruit, nested, i1, i2, flag, elements]
    if with_extra:
        cols.append(VectorData(name="extra", description="x", data=[10, 20, 30, 40]))
    table = DynamicTable(name="things", description="t", columns=cols)
    nwb.create_processing_module("misc", "m").add(table)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("syn_tables")
    return {"a": _write(d / "a.nwb"), "b": _write(d / "b.nwb", with_extra=True),
            "c": _write(d / "c.nwb", flag_dtype=np.float64)}


def test_equals_pynwb(files: dict[str, str], tmp_path: Path) -> None:
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(files["a"], "r") as io:
        expected = io.read().processing["misc"]["things"].to_dataframe().reset_index()
    ours = get_df(files["a"], "/processing/misc/things", exclude_array_columns=False,
                  refs_dir=tmp_path)
    assert ours["fruit"].dtype == pl.Enum(["apple", "banana", "cherry"])
    assert ours["fruit"].to_list() == list(expected["fruit"])
    assert ours["flag"].dtype == pl.Boolean and ours["flag"].to_list() == list(expected["flag"])
    assert ours["nested"].to_list() == [[list(x) for x in row] for row in expected["nested"]]
    assert "fruit_elements" not in ours.columns


def test_nested_ragged_for_selected_rows(files: dict[str, str], tmp_path: Path) -> None:
    got = (scan_nwb(files["a"], "/processing/misc/things", refs_dir=tmp_path)
           .filter(pl.col("flag")).select("nested").collect())
    assert got["nested"].to_list() == [[[1.0, 2.0]], [], [[6.0, 7.0]]]


def test_union_of_columns_and_supertype(files: dict[str, str], tmp_path: Path) -> None:
    df = scan_nwb([files["a"], files["b"], files["c"]], "/processing/misc/things",
                  refs_dir=tmp_path).select("flag", "extra", "_nwb_path").collect()
    assert df.schema["flag"] == pl.Float64  # bool in a and b, float in c: the supertype
    assert df.filter(pl.col("_nwb_path") == files["a"])["extra"].null_count() == 4
    assert df.filter(pl.col("_nwb_path") == files["b"])["extra"].to_list() == [10, 20, 30, 40]


def test_conflict_policies_name_each_file(files: dict[str, str], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from intake_nwb.frames import schema

    real = schema.column_dtype

    def fake(table, spec):  # a struct column in one file, a bool in the other
        if spec.name == "flag" and table.source == files["c"]:
            return pl.Struct({"x": pl.Int64})
        return real(table, spec)

    monkeypatch.setattr(schema, "column_dtype", fake)
    both = [files["a"], files["c"]]
    with pytest.warns(intake_nwb.SchemaConflictWarning) as record:
        lf = scan_nwb(both, "/processing/misc/things", refs_dir=tmp_path)
    text = str(record[0].message)
    assert "'flag' is Boolean in " + files["a"] in text and "Struct" in text and files["c"] in text
    assert "flag" not in lf.collect_schema() and lf.collect().height == 8
    with pytest.raises(intake_nwb.SchemaConflictError, match="c.nwb") as err:
        scan_nwb(both, "/processing/misc/things", refs_dir=tmp_path, on_conflict="raise")
    assert files["a"] in str(err.value)
    # the column is not read at all when left out before merging
    got = get_df(both, "/processing/misc/things", refs_dir=tmp_path,
                 exclude_column_names="flag")
    assert "flag" not in got.columns


def test_schema_overrides_and_n_rows(files: dict[str, str], tmp_path: Path) -> None:
    lf = scan_nwb([files["a"], files["b"]], "/processing/misc/things", refs_dir=tmp_path,
                  schema_overrides={"flag": pl.Int8})
    assert lf.collect_schema()["flag"] == pl.Int8
    head = lf.head(5).collect()
    assert head.height == 5 and head["flag"].dtype == pl.Int8
    assert head["_nwb_path"].to_list() == [files["a"]] * 4 + [files["b"]]


def test_file_pruning_on_nwb_path(files: dict[str, str], tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from intake_nwb.nwb import tables

    read: list[str] = []
    real = tables.TableReader.read

    def spy(self, name, rows=None, **kwargs):
        read.append(self.source)
        return real(self, name, rows, **kwargs)

    monkeypatch.setattr(tables.TableReader, "read", spy)
    df = (scan_nwb([files["a"], files["b"]], "/processing/misc/things", refs_dir=tmp_path)
          .filter(pl.col("_nwb_path") == files["b"]).select("nested").collect())
    assert df.height == 4 and set(read) == {files["b"]}

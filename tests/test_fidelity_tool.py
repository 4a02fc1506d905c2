"""Tests of the fidelity comparer itself, so that it cannot pass vacuously.

A hand-written virtual store of ``links.nwb`` (byte-range references into the HDF5 file) must
compare 100% equal, and each single corruption must be reported as exactly that mismatch. A small
materialiser (inline data, written here independently of ``intake_nwb.refs``) turns every
synthetic file into a store following the conventions, so the comparer is exercised on every
dtype, reference and link case; corrupting those stores must be caught too.
"""

from __future__ import annotations

import base64
import copy
import json
import posixpath
from pathlib import Path
from typing import Any

import h5py
import numcodecs
import numpy as np
import pytest

from intake_nwb.conventions import H5_DTYPE, ZARR_DTYPE, ZARR_LINK, make_ref
from tests import synthetic
from tests.fidelity import FidelityReport, compare_file, compare_refs, format_table, open_refs


@pytest.fixture(scope="session")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return synthetic.write_all(tmp_path_factory.mktemp("synthetic"))


# ---------------------------------------------------------------------------------------------
# a store written by hand


def _zarray(shape: list[int], dtype: str, chunks: list[int] | None = None,
            filters: list[dict[str, Any]] | None = None, fill_value: Any = None) -> str:
    return json.dumps({"chunks": chunks or [max(1, s) for s in shape] or [1],
                       "compressor": None, "dtype": dtype, "fill_value": fill_value,
                       "filters": filters, "order": "C", "shape": shape, "zarr_format": 2})


def _inline(data: bytes) -> str:
    return "base64:" + base64.b64encode(data).decode()


def _links_store(path: Path) -> dict[str, Any]:
    """``links.nwb`` by hand: every group, the one dataset (a byte range), every link."""
    with h5py.File(path) as f:
        offset = f["groups/real/data"].id.get_offset()
    group = json.dumps({"zarr_format": 2})
    return {"version": 1, "refs": {
        ".zgroup": group,
        ".zattrs": json.dumps({"nwb_version": "2.7.0"}),
        "groups/.zgroup": group,
        "groups/.zattrs": json.dumps({ZARR_LINK: [
            {"name": "relative", "source": ".", "path": "/groups/real/data"}]}),
        "groups/real/.zgroup": group,
        "groups/real/.zattrs": json.dumps({"neurodata_type": "Device"}),
        "groups/real/data/.zarray": _zarray([12], "<i2"),
        "groups/real/data/.zattrs": json.dumps({"unit": "volts"}),
        "groups/real/data/0": [str(path), offset, 24],
        "links/.zgroup": group,
        "links/.zattrs": json.dumps({ZARR_LINK: [
            {"name": "dangling", "source": ".", "path": "/does/not/exist"},
            {"name": "external", "source": "links_target.nwb", "path": "/shared/data"},
            {"name": "hard_dataset", "source": ".", "path": "/groups/real/data"},
            {"name": "hard_group", "source": ".", "path": "/groups/real"},
            {"name": "soft_dataset", "source": ".", "path": "/groups/real/data"},
            {"name": "soft_group", "source": ".", "path": "/groups/real"}]}),
        "processing/.zgroup": group,
        "processing/ts/.zgroup": group,
        "processing/ts/.zattrs": json.dumps({ZARR_LINK: [
            {"name": "timestamps", "source": ".", "path": "/groups/real/data"}]}),
    }}


def _edit_attrs(refs: dict[str, Any], key: str, fn: Any) -> None:
    attrs = json.loads(refs["refs"][key])
    fn(attrs)
    refs["refs"][key] = json.dumps(attrs)


def _only(report: FidelityReport) -> tuple[str, str, str]:
    assert len(report.mismatches) == 1, report.mismatches
    m = report.mismatches[0]
    return m.kind, m.path, m.reason


def test_hand_store_is_fully_equal(files: dict[str, Path]) -> None:
    report = compare_refs(files["links"], _links_store(files["links"]))
    assert report.mismatches == [] and report.unsupported == []
    assert report.ok
    assert (report.datasets_equal, report.datasets_total) == (1, 1)
    assert (report.attrs_equal, report.attrs_total) == (3, 3)
    assert (report.links_equal, report.links_total) == (8, 8)
    assert report.groups_total == 6  # /, groups, groups/real, links, processing, processing/ts


def test_hand_store_corrupt_value(files: dict[str, Path]) -> None:
    refs = _links_store(files["links"])
    data = np.arange(12, dtype="<i2")
    data[7] = 99
    refs["refs"]["groups/real/data/0"] = _inline(data.tobytes())
    report = compare_refs(files["links"], refs)
    kind, path, reason = _only(report)
    assert (kind, path) == ("dataset", "/groups/real/data")
    assert "1 of 12 values differ" in reason and "(7,)" in reason and "99" in reason
    assert (report.datasets_equal, report.datasets_total) == (0, 1)
    assert report.attrs_equal == report.attrs_total and report.links_equal == report.links_total


def test_hand_store_wrong_byte_order(files: dict[str, Path]) -> None:
    refs = _links_store(files["links"])
    data = np.arange(12, dtype=">i2")  # same values, other byte order
    refs["refs"]["groups/real/data/.zarray"] = _zarray([12], ">i2")
    refs["refs"]["groups/real/data/0"] = _inline(data.tobytes())
    kind, path, reason = _only(compare_refs(files["links"], refs))
    assert (kind, path) == ("dataset", "/groups/real/data") and ">i2" in reason


def test_hand_store_dropped_attribute(files: dict[str, Path]) -> None:
    refs = _links_store(files["links"])
    _edit_attrs(refs, "groups/real/data/.zattrs", lambda a: a.pop("unit"))
    report = compare_refs(files["links"], refs)
    assert _only(report)[:2] == ("attribute", "/groups/real/data@unit")
    assert (report.attrs_equal, report.attrs_total) == (2, 3)
    assert report.datasets_equal == report.datasets_total == 1


def test_hand_store_changed_and_extra_attributes(files: dict[str, Path]) -> None:
    refs = _links_store(files["links"])
    _edit_attrs(refs, ".zattrs", lambda a: a.update(nwb_version="2.6.0"))
    assert _only(compare_refs(files["links"], refs))[:2] == ("attribute", "/@nwb_version")
    refs = _links_store(files["links"])
    _edit_attrs(refs, "groups/real/.zattrs", lambda a: a.update(extra=1, **{ZARR_DTYPE: "x"}))
    kind, path, reason = _only(compare_refs(files["links"], refs))
    assert (kind, path) == ("attribute", "/groups/real@extra")  # bookkeeping keys are ignored


@pytest.mark.parametrize("name", ["soft_group", "external", "dangling", "hard_dataset"])
def test_hand_store_dropped_link(files: dict[str, Path], name: str) -> None:
    refs = _links_store(files["links"])

    def drop(attrs: dict[str, Any]) -> None:
        attrs[ZARR_LINK] = [e for e in attrs[ZARR_LINK] if e["name"] != name]

    _edit_attrs(refs, "links/.zattrs", drop)
    report = compare_refs(files["links"], refs)
    assert _only(report)[:2] == ("link", f"/links/{name}")
    assert (report.links_equal, report.links_total) == (7, 8)


def test_hand_store_wrong_link_target(files: dict[str, Path]) -> None:
    refs = _links_store(files["links"])
    _edit_attrs(refs, "processing/ts/.zattrs",
                lambda a: a[ZARR_LINK][0].update(path="/groups/real"))
    assert _only(compare_refs(files["links"], refs))[:2] == ("link", "/processing/ts/timestamps")
    refs = _links_store(files["links"])
    _edit_attrs(refs, "links/.zattrs", lambda a: a[ZARR_LINK][1].update(source="other.nwb"))
    assert _only(compare_refs(files["links"], refs))[:2] == ("link", "/links/external")


def test_hand_store_hard_link_materialised_twice(files: dict[str, Path]) -> None:
    refs = _links_store(files["links"])
    _edit_attrs(refs, "links/.zattrs", lambda a: a.update(
        {ZARR_LINK: [e for e in a[ZARR_LINK] if e["name"] != "hard_dataset"]}))
    for key in ("0", ".zarray", ".zattrs"):
        refs["refs"][f"links/hard_dataset/{key}"] = refs["refs"][f"groups/real/data/{key}"]
    kind, path, reason = _only(compare_refs(files["links"], refs))
    assert (kind, path) == ("link", "/links/hard_dataset") and "second zarr node" in reason


def test_hand_store_extra_and_missing_nodes(files: dict[str, Path]) -> None:
    refs = _links_store(files["links"])
    refs["refs"]["links/bogus/.zgroup"] = json.dumps({"zarr_format": 2})
    assert _only(compare_refs(files["links"], refs))[:2] == ("group", "/links/bogus")
    refs = _links_store(files["links"])
    for key in ("0", ".zarray", ".zattrs"):
        del refs["refs"][f"groups/real/data/{key}"]
    report = compare_refs(files["links"], refs)
    # the dataset itself, and the hard link that points at it now resolves to nothing in zarr
    assert {(m.kind, m.path) for m in report.mismatches} == {
        ("dataset", "/groups/real/data"), ("link", "/links/hard_dataset")}
    assert (report.datasets_equal, report.datasets_total) == (0, 1)
    assert report.attrs_equal == report.attrs_total - 1


def test_hand_store_unsupported_is_reported_apart(files: dict[str, Path]) -> None:
    refs = _links_store(files["links"])
    for key in ("0", ".zarray", ".zattrs"):
        del refs["refs"][f"groups/real/data/{key}"]
    _edit_attrs(refs, "links/.zattrs", lambda a: a.update(
        {ZARR_LINK: [e for e in a[ZARR_LINK] if e["name"] != "hard_dataset"]}))
    refs["refs"]["links/hard_dataset/.zarray"] = _zarray([12], "<i2")  # keep the link resolvable
    refs["intake_nwb"] = {"unsupported": [{"path": "/groups/real/data", "reason": "test"}]}
    report = compare_refs(files["links"], refs)
    assert report.unsupported == [{"path": "/groups/real/data", "reason": "test"}]
    assert (report.datasets_equal, report.datasets_total) == (0, 1)
    assert not report.ok
    table = format_table([report])
    assert "| links.nwb | **0/1** |" in table and "unsupported /groups/real/data: test" in table


# ---------------------------------------------------------------------------------------------
# an independent materialiser: HDF5 file -> refs with inline data, following the conventions


class _Materialiser:
    def __init__(self, f: h5py.File, path: Path):
        self.f, self.path = f, path
        self.refs: dict[str, Any] = {}
        self.placed: dict[int, str] = {}
        self.unsupported: list[dict[str, str]] = []

    def run(self) -> dict[str, Any]:
        self.placed[hash(self.f.id)] = "/"
        self.group(self.f, "")
        meta = {"unsupported": self.unsupported}
        return {"version": 1, "refs": self.refs, "intake_nwb": meta}

    def ref(self, r: h5py.Reference) -> dict[str, Any] | None:
        if not r:
            return None
        target = self.f[r]
        oid = target.attrs.get("object_id")
        out = make_ref(target.name, object_id=oid if isinstance(oid, str) else None)
        if isinstance(r, h5py.RegionReference):
            sel = h5py.h5r.get_region(r, target.id)
            lo, hi = sel.get_select_bounds()
            out["region"] = [[int(a), int(b) + 1] for a, b in zip(lo, hi, strict=True)]
        return out

    def json(self, v: Any) -> Any:
        if isinstance(v, h5py.Empty):
            return None
        if isinstance(v, h5py.Reference):
            return self.ref(v)
        if isinstance(v, bytes):
            return v.decode("utf-8", "surrogateescape")
        if isinstance(v, np.void):
            return [self.json(v[n]) for n in v.dtype.names]
        if isinstance(v, np.ndarray):
            return self.json(v[()]) if v.ndim == 0 else [self.json(x) for x in v]
        if isinstance(v, np.generic):
            return self.json(v.item())
        return v

    def attrs(self, obj: h5py.HLObject, extra: dict[str, Any]) -> dict[str, Any]:
        out = dict(extra)
        for name in obj.attrs:
            value = obj.attrs[name]
            has_ref = isinstance(value, h5py.Reference) or (
                isinstance(value, np.ndarray) and h5py.check_ref_dtype(value.dtype) is not None)
            out[name] = {"value": self.json(value), ZARR_DTYPE: "object"} if has_ref \
                else self.json(value)
        return out

    def group(self, g: h5py.Group, key: str) -> None:
        self.refs[key + ".zgroup"] = json.dumps({"zarr_format": 2})
        links = []
        for name in g:
            link = g.get(name, getlink=True)
            if isinstance(link, h5py.SoftLink):
                target = posixpath.normpath(posixpath.join(g.name, link.path))
                links.append({"name": name, "source": ".", "path": target})
                continue
            if isinstance(link, h5py.ExternalLink):
                links.append({"name": name, "source": link.filename, "path": link.path})
                continue
            obj = g[name]
            if hash(obj.id) in self.placed:
                links.append({"name": name, "source": ".", "path": self.placed[hash(obj.id)]})
                continue
            self.placed[hash(obj.id)] = obj.name
            if isinstance(obj, h5py.Group):
                self.group(obj, f"{key}{name}/")
            else:
                self.dataset(obj, f"{key}{name}/")
        extra = {ZARR_LINK: links} if links else {}
        self.refs[key + ".zattrs"] = json.dumps(self.attrs(g, extra))

    def dataset(self, ds: h5py.Dataset, key: str) -> None:
        extra: dict[str, Any] = {}
        if ds.shape is None:
            self.refs[key + ".zarray"] = _zarray([0], ds.dtype.str, [1])
            extra[H5_DTYPE] = "null-dataspace"
            self.refs[key + ".zattrs"] = json.dumps(self.attrs(ds, extra))
            return
        try:
            data = np.asarray(ds[()]).reshape(ds.shape or (1,))
        except OSError as exc:
            self.unsupported.append({"path": ds.name, "reason": str(exc)})
            return
        if any(dt.subdtype is not None for dt in (ds.dtype.fields or {}).values()
               for dt in [dt[0]]):
            self.unsupported.append({"path": ds.name, "reason": "array-typed compound field"})
            return
        shape = list(ds.shape or (1,))
        if ds.shape == ():
            extra[ZARR_DTYPE] = "scalar"
        dt = ds.dtype
        ref_fields = [n for n in dt.names or () if h5py.check_ref_dtype(dt[n]) is not None]
        obj_fields = [n for n in dt.names or () if dt[n].kind == "O"]
        if h5py.check_ref_dtype(dt) is not None or obj_fields or h5py.check_vlen_dtype(dt) \
                and h5py.check_string_dtype(dt) is None:
            if h5py.check_ref_dtype(dt) is not None:
                extra.setdefault(ZARR_DTYPE, "object")
            elif dt.names:
                extra[ZARR_DTYPE] = [{"name": n, "dtype": "object" if n in ref_fields
                                      else dt[n].str} for n in dt.names]
            values = np.empty(data.shape, dtype=object)
            for idx in np.ndindex(data.shape):
                v = self.json(data[idx])
                values[idx] = v.tolist() if isinstance(v, np.ndarray) else v
            zarray = _zarray(shape, "|O", filters=[{"id": "json2"}])
            chunk = numcodecs.JSON().encode(values)
        elif h5py.check_string_dtype(dt) is not None and dt.kind == "O":
            raw = [x if isinstance(x, bytes) else x.encode() for x in data.ravel()]
            try:
                text = np.array([x.decode() for x in raw], dtype=object).reshape(data.shape)
                zarray = _zarray(shape, "|O", filters=[{"id": "vlen-utf8"}])
                chunk = numcodecs.VLenUTF8().encode(text)
            except UnicodeDecodeError:
                zarray = _zarray(shape, "|O", filters=[{"id": "vlen-bytes"}])
                chunk = numcodecs.VLenBytes().encode(np.array(raw, dtype=object)
                                                     .reshape(data.shape))
        else:
            plain = _no_metadata(dt)
            zarray = _zarray(shape, plain.descr if plain.names else plain.str)
            offset = ds.id.get_offset() if ds.chunks is None and ds.shape else None
            if offset is not None and ds.id.get_storage_size() == data.nbytes:
                chunk = [str(self.path), offset, data.nbytes]  # a real byte-range reference
            else:
                chunk = data.astype(plain).tobytes()
        self.refs[key + ".zarray"] = zarray
        self.refs[key + ".zattrs"] = json.dumps(self.attrs(ds, extra))
        if data.size:
            self.refs[key + ".".join(["0"] * len(shape))] = \
                chunk if isinstance(chunk, list) else _inline(chunk)


def _no_metadata(dt: np.dtype) -> np.dtype:
    if dt.names:
        return np.dtype([(n, _no_metadata(dt[n])) for n in dt.names])
    if dt.subdtype is not None:
        return np.dtype((_no_metadata(dt.subdtype[0]), dt.subdtype[1]))
    return np.dtype(dt.str)


def materialise(path: Path) -> dict[str, Any]:
    with h5py.File(path) as f:
        return _Materialiser(f, path).run()


EXPECTED_UNSUPPORTED = {"filters": {"/unknown_filter"}, "unrepresentable": {"/array_field"}}


@pytest.fixture(scope="session")
def stores(files: dict[str, Path]) -> dict[str, dict[str, Any]]:
    return {name: materialise(files[name]) for name in synthetic.VALID}


@pytest.mark.parametrize("name", list(synthetic.VALID))
def test_materialised_synthetic_files_are_equal(files: dict[str, Path],
                                                stores: dict[str, dict[str, Any]],
                                                name: str) -> None:
    report = compare_refs(files[name], stores[name])
    assert report.mismatches == []
    assert {u["path"] for u in report.unsupported} == EXPECTED_UNSUPPORTED.get(name, set())
    assert report.datasets_total > 0 and report.attrs_total > 0
    assert report.datasets_equal == report.datasets_total - len(report.unsupported)
    assert report.attrs_equal == report.attrs_total and report.links_equal == report.links_total


def _corrupt(store: dict[str, Any], key: str, fn: Any) -> dict[str, Any]:
    out = copy.deepcopy(store)
    out["refs"][key] = fn(out["refs"][key])
    return out


def _json_chunk(edit: Any) -> Any:
    def fn(value: str) -> str:
        arr = numcodecs.JSON().decode(base64.b64decode(value.removeprefix("base64:")))
        edit(arr)
        return _inline(numcodecs.JSON().encode(arr))
    return fn


def _attrs(edit: Any) -> Any:
    def fn(value: str) -> str:
        attrs = json.loads(value)
        edit(attrs)
        return json.dumps(attrs)
    return fn


def _zarray_dtype(dtype: str) -> Any:
    return _attrs(lambda a: a.update(dtype=dtype))


CORRUPTIONS: list[tuple[str, str, Any, tuple[str, str], str]] = [
    # (case, refs key, edit, (kind, path), fragment of the reason)
    ("numeric", "f8/be_1d/.zarray", _zarray_dtype("<f8"), ("dataset", "/f8/be_1d"), "<f8"),
    ("numeric", "u8/le_1d/.zarray", _zarray_dtype("<i8"), ("dataset", "/u8/le_1d"), "<i8"),
    ("numeric", "i4/le_scalar/.zattrs", _attrs(lambda a: a.pop(ZARR_DTYPE)),
     ("dataset", "/i4/le_scalar"), "scalar"),
    ("layouts", "unallocated/0", lambda v: _inline(
        np.frombuffer(base64.b64decode(v[7:]), "<i4").copy().clip(0, None).tobytes()),
     ("dataset", "/unallocated"), "values differ"),
    ("layouts", "null_dataspace/.zattrs", _attrs(lambda a: a.pop(H5_DTYPE)),
     ("dataset", "/null_dataspace"), "null dataspace"),
    ("references", "object_refs/0", _json_chunk(lambda a: a[2].update(path="/targets/d1")),
     ("dataset", "/object_refs"), "points to '/targets/d1'"),
    ("references", "object_refs/0", _json_chunk(lambda a: a.__setitem__(3, make_ref("/"))),
     ("dataset", "/object_refs"), "null reference"),
    ("references", "region_refs/0", _json_chunk(lambda a: a[1].update(region=[[1, 3], [0, 3]])),
     ("dataset", "/region_refs"), "region"),
    ("references", "targets/d1/.zattrs", _attrs(lambda a: a["target"].update(
        value=make_ref("/targets/group"))), ("attribute", "/targets/d1@target"), "points to"),
    ("references", ".zattrs", _attrs(lambda a: a.update({".specloc": "nowhere"})),
     ("attribute", "/@.specloc"), "points to '/nowhere'"),
    ("compound", "timeseries_ref/0", _json_chunk(lambda a: a[1].__setitem__(1, 4)),
     ("dataset", "/timeseries_ref"), "field count"),
    ("compound", "timeseries_ref/.zattrs", _attrs(lambda a: a[ZARR_DTYPE][2].update(
        dtype="<i8")), ("dataset", "/timeseries_ref"), "timeseries"),
    ("attributes", ".zattrs", _attrs(lambda a: a.update(one_element=42)),
     ("attribute", "/@one_element"), "list"),
    ("attributes", "general/.zattrs", _attrs(lambda a: a.update(scalar_f4=3)),
     ("attribute", "/general@scalar_f4"), "float"),  # int for float: JSON types are strict
    ("attributes", "general/.zattrs", _attrs(lambda a: a.update(nan_array=[None, 1.0])),
     ("attribute", "/general@nan_array"), "float"),
    ("bools", "bool_1d/.zarray", _zarray_dtype("|u1"), ("dataset", "/bool_1d"), "|u1"),
    ("bools", ".zattrs", _attrs(lambda a: a.update(bool_attr=0)),
     ("attribute", "/@bool_attr"), "bool"),
]


@pytest.mark.parametrize(("case", "key", "edit", "where", "fragment"), CORRUPTIONS,
                         ids=[f"{c[0]}:{c[1]}:{c[3][1]}" for c in CORRUPTIONS])
def test_materialised_corruption_is_caught(files: dict[str, Path],
                                           stores: dict[str, dict[str, Any]], case: str,
                                           key: str, edit: Any, where: tuple[str, str],
                                           fragment: str) -> None:
    report = compare_refs(files[case], _corrupt(stores[case], key, edit))
    kind, path, reason = _only(report)
    assert (kind, path) == where
    assert fragment in reason


def test_reference_through_a_link_alias(files: dict[str, Path],
                                        stores: dict[str, dict[str, Any]]) -> None:
    """A reference may name any path that resolves, in zarr too, to the same object."""
    path = files["references"]
    store = _corrupt(stores["references"], "object_refs/0",
                     _json_chunk(lambda a: a[1].update(path="/targets/d1_alias")))
    assert compare_refs(path, store).ok
    unlinked = _corrupt(store, "targets/.zattrs", _attrs(lambda a: a.pop(ZARR_LINK)))
    report = compare_refs(path, unlinked)
    assert {(m.kind, m.path) for m in report.mismatches} == {
        ("link", "/targets/d1_alias"), ("dataset", "/object_refs")}
    assert "not a node" in report.by_kind("dataset")[0].reason


def test_attribute_int_vs_float_is_strict(files: dict[str, Path],
                                          stores: dict[str, dict[str, Any]]) -> None:
    store = _corrupt(stores["attributes"], "general/.zattrs",
                     _attrs(lambda a: a.update(scalar_i4=3.0)))
    assert _only(compare_refs(files["attributes"], store))[:2] == ("attribute",
                                                                    "/general@scalar_i4")


def test_strings_decoded_for_comparison(files: dict[str, Path],
                                        stores: dict[str, dict[str, Any]]) -> None:
    group = open_refs(stores["strings"])
    assert group["vlen_utf8_1d"].dtype.kind in "OT"  # str in zarr, bytes in h5py: still equal
    with h5py.File(files["strings"]) as f:
        assert isinstance(f["vlen_utf8_1d"][0], bytes)
    changed = copy.deepcopy(stores["strings"])
    arr = np.array(["alpha", "", "béta ☃", "a much longer string " * 4, "y"], dtype=object)
    changed["refs"]["vlen_utf8_1d/0"] = _inline(numcodecs.VLenUTF8().encode(arr))
    kind, path, reason = _only(compare_refs(files["strings"], changed))
    assert (kind, path) == ("dataset", "/vlen_utf8_1d") and "(4,)" in reason


def test_compare_file_with_open_group(files: dict[str, Path],
                                      stores: dict[str, dict[str, Any]]) -> None:
    report = compare_file(files["links"], open_refs(stores["links"]))
    assert report.ok and report.links_total == 8


def test_compare_file_with_local_zarr_directory(files: dict[str, Path],
                                                stores: dict[str, dict[str, Any]],
                                                tmp_path: Path) -> None:
    """The same store written out as a plain Zarr v2 directory (zarr's own listing)."""
    import zarr

    for key, value in stores["references"]["refs"].items():
        target = tmp_path / key
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(value, list):
            with open(value[0], "rb") as fh:
                fh.seek(value[1])
                target.write_bytes(fh.read(value[2]))
        elif value.startswith("base64:"):
            target.write_bytes(base64.b64decode(value[7:]))
        else:
            target.write_text(value)
    group = zarr.open_group(str(tmp_path), mode="r", zarr_format=2)
    assert compare_file(files["references"], group).ok
    (tmp_path / "targets" / "stray").mkdir()
    (tmp_path / "targets" / "stray" / ".zgroup").write_text('{"zarr_format": 2}')
    group = zarr.open_group(str(tmp_path), mode="r", zarr_format=2)
    assert _only(compare_file(files["references"], group))[:2] == ("group", "/targets/stray")


def test_format_table(files: dict[str, Path], stores: dict[str, dict[str, Any]]) -> None:
    good = compare_refs(files["bools"], stores["bools"])
    bad = compare_refs(files["bools"], _corrupt(stores["bools"], "bool_1d/.zarray",
                                                _zarray_dtype("|u1")))
    table = format_table([good, bad])
    lines = table.splitlines()
    assert lines[0].startswith("| file | datasets |")
    assert lines[2].startswith("| bools.nwb |") and lines[3].endswith("| 0 | 1 |")
    assert "dataset /bool_1d" in table


def test_translator_if_present(files: dict[str, Path]) -> None:
    """Once ``intake_nwb.refs.translate`` exists, the comparer runs on its output too."""
    mod = pytest.importorskip("intake_nwb.refs.translate")
    path = files["layouts"]
    with h5py.File(path) as f:
        refs = mod.translate(f, str(path), file_size=path.stat().st_size)
    report = compare_refs(path, refs)
    assert report.datasets_total > 0  # fidelity itself is asserted by the translator's tests

"""Small HDF5/NWB files for the shapes, dtypes and layouts the real NWB test files may lack.

Every writer takes a directory, writes one file there and returns its path. Every HDF5 file has
the root attribute ``nwb_version = "2.7.0"`` (so the indexer accepts it as NWB) except the
deliberately broken ones (:func:`write_not_nwb`, :func:`write_truncated`, :func:`write_not_hdf5`).
:func:`write_all` writes them all (about 2 s, ~50 MB, most of it :func:`write_large_contiguous`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import h5py
import numpy as np

NWB_VERSION = "2.7.0"
LARGE_ROWS = 2_999_957  # prime: not a multiple of any chunk or block size
REAL_DATA_ENV = "INTAKE_NWB_TEST_DATA"
REAL_DATA_DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "nwb"

NUMERIC = ["i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16"]


def _new(directory: Path | str, name: str, *, nwb: bool = True) -> tuple[h5py.File, Path]:
    path = Path(directory) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    f = h5py.File(path, "w")
    if nwb:
        f.attrs["nwb_version"] = NWB_VERSION
    return f, path


def _values(dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """Deterministic values spanning the dtype's range (extremes included)."""
    n = int(np.prod(shape))
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        vals = np.linspace(float(info.min), float(info.max), n).astype(object)
        out = np.array([int(v) for v in vals], dtype=object)
        out[0], out[-1] = info.min, info.max
        return out.astype(dtype).reshape(shape)
    if dtype.kind == "f":
        out = np.linspace(-1e3, 1e3, n).astype(dtype)
        if n >= 4:
            out[1], out[2], out[3] = np.nan, np.inf, -np.inf
        return out.reshape(shape)
    if dtype.kind == "c":
        re = np.linspace(-5, 5, n)
        return (re + 1j * re[::-1]).astype(dtype).reshape(shape)
    raise ValueError(dtype)


def write_numeric(directory: Path | str) -> Path:
    """Every numeric dtype (int8..uint64, float16/32/64, complex64/128) in both byte orders.

    ``/<dtype>/le_1d``, ``be_1d``, ``le_2d``, ``be_2d`` and a scalar ``le_scalar``; 1-byte
    types have no byte order, so ``be_*`` equals ``le_*`` there.
    """
    f, path = _new(directory, "numeric.nwb")
    with f:
        for code in NUMERIC:
            g = f.create_group(code)
            for order in ("<", ">"):
                dt = np.dtype(order + code)
                tag = "le" if order == "<" else "be"
                g.create_dataset(f"{tag}_1d", data=_values(dt, (17,)))
                g.create_dataset(f"{tag}_2d", data=_values(dt, (3, 5)))
            g.create_dataset("le_scalar", data=_values(np.dtype("<" + code), (1,))[0])
            g.create_dataset("be_scalar", data=_values(np.dtype(">" + code), (2,))[-1])
    return path


def write_filters(directory: Path | str) -> Path:
    """The same float/int data under every HDF5 filter h5py can write, plus undecodable ones.

    ``lzf`` has no numcodecs codec and ``scaleoffset_*`` none either (zarr can't decode them);
    ``unknown_filter`` declares filter 32001 (blosc) without the plugin: h5py cannot read it.
    """
    f, path = _new(directory, "filters.nwb")
    x = np.sin(np.arange(10_007, dtype="f8") / 37.0)
    ints = (np.arange(10_007, dtype="i4") * 7) % 1001 - 500
    with f:
        kw: dict[str, dict] = {
            "gzip": {"compression": "gzip", "compression_opts": 4},
            "shuffle_gzip": {"compression": "gzip", "shuffle": True},
            "fletcher32": {"fletcher32": True},
            "shuffle_fletcher32_gzip": {"compression": "gzip", "shuffle": True,
                                        "fletcher32": True},
            "lzf": {"compression": "lzf"},
        }
        for name, opts in kw.items():
            f.create_dataset(f"{name}_f8", data=x, chunks=(1000,), **opts)
            f.create_dataset(f"{name}_i4", data=ints, chunks=(1000,), **opts)
        f.create_dataset("gzip_be_f4", data=x.astype(">f4"), chunks=(999,), compression="gzip")
        f.create_dataset("gzip_2d", data=x[:10_000].reshape(100, 100), chunks=(30, 40),
                         compression="gzip")
        f.create_dataset("scaleoffset_i4", data=ints, chunks=(1000,), scaleoffset=0)
        f.create_dataset("scaleoffset_f8", data=x, chunks=(1000,), scaleoffset=3)
        u = f.create_dataset("unknown_filter", shape=(10,), chunks=(5,), dtype="f4",
                             compression=32001, allow_unknown_filter=True)
        u.id.write_direct_chunk((0,), b"not really blosc")
    return path


def write_layouts(directory: Path | str) -> Path:
    """Chunked, contiguous, compact, empty, scalar, null-dataspace and partly unallocated data."""
    f, path = _new(directory, "layouts.nwb")
    with f:
        f.create_dataset("contiguous", data=np.arange(1000, dtype="<f8"))
        f.create_dataset("contiguous_2d_be", data=np.arange(600, dtype=">i8").reshape(20, 30))
        f.create_dataset("chunked", data=np.arange(1000, dtype="<i4"), chunks=(100,))
        # shape not a multiple of the chunk shape: partial edge chunks on both axes
        f.create_dataset("chunked_edges", data=np.arange(23 * 17, dtype="<f4").reshape(23, 17),
                         chunks=(5, 4))
        f.create_dataset("chunked_edges_gzip",
                         data=np.arange(23 * 17, dtype="<u2").reshape(23, 17), chunks=(10, 10),
                         compression="gzip")
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.COMPACT)
        for name, data in (("compact", np.arange(12, dtype="<i2").reshape(3, 4)),
                           ("compact_f8", np.linspace(0, 1, 7))):
            space = h5py.h5s.create_simple(data.shape)
            dsid = h5py.h5d.create(f.id, name.encode(), h5py.h5t.py_create(data.dtype), space,
                                   dcpl=dcpl)
            h5py.Dataset(dsid)[...] = data
        f.create_dataset("empty_1d", shape=(0,), dtype="<f8")
        f.create_dataset("empty_2d", shape=(0, 3), dtype="<i4")
        f.create_dataset("empty_chunked", shape=(0,), maxshape=(None,), chunks=(10,),
                         dtype="<f4")
        f.create_dataset("empty_str", shape=(0,), dtype=h5py.string_dtype())
        f.create_dataset("scalar_f8", data=np.float64(3.25))
        f.create_dataset("scalar_i8", data=np.int64(-7))
        f.create_dataset("scalar_be_u2", data=np.array(513, dtype=">u2"))
        f.create_dataset("null_dataspace", data=h5py.Empty("<f8"))
        # resizable chunked dataset where only some chunks are ever written
        d = f.create_dataset("unallocated", shape=(100,), maxshape=(None,), chunks=(10,),
                             dtype="<i4", fillvalue=-1)
        d[0:10] = np.arange(10)
        d[45:52] = 9  # partly fills chunks 4 and 5
        d.resize((105,))
        d2 = f.create_dataset("unallocated_nan", shape=(6, 8), chunks=(3, 3), dtype="<f8",
                              fillvalue=np.nan)
        d2[0:3, 3:6] = 1.5
        f.create_dataset("never_written", shape=(50,), chunks=(10,), dtype="<u1", fillvalue=7)
        f.create_dataset("never_written_contiguous", shape=(20,), dtype="<f4", fillvalue=2.5)
        f.create_dataset("zero_fill_chunked", shape=(30,), chunks=(7,), dtype="<i8")
    return path


def write_strings(directory: Path | str) -> Path:
    """Variable- and fixed-length strings and bytes, ASCII and UTF-8, scalar, 1-D and 2-D."""
    f, path = _new(directory, "strings.nwb")
    words = ["alpha", "", "béta ☃", "a much longer string " * 4, "x"]
    ascii_words = [w.encode("utf-8") for w in ["alpha", "", "b", "gamma delta", "x"]]
    with f:
        vs = h5py.string_dtype("utf-8")
        va = h5py.string_dtype("ascii")
        f.create_dataset("vlen_utf8_scalar", data="héllo", dtype=vs)
        f.create_dataset("vlen_utf8_1d", data=words, dtype=vs)
        f.create_dataset("vlen_utf8_2d", data=np.array(words[:4], dtype=object).reshape(2, 2),
                         dtype=vs)
        f.create_dataset("vlen_utf8_chunked", data=words * 5, dtype=vs, chunks=(4,),
                         compression="gzip")
        f.create_dataset("vlen_ascii_scalar", data=b"plain", dtype=va)
        f.create_dataset("vlen_ascii_1d", data=ascii_words, dtype=va)
        f.create_dataset("vlen_ascii_2d", data=np.array(ascii_words[:4], dtype=object)
                         .reshape(2, 2), dtype=va)
        # bytes that are not UTF-8, in an ASCII-typed variable-length string
        f.create_dataset("vlen_bytes_non_utf8", data=[b"\xff\xfe", b"ok", b"\x80abc"],
                         dtype=va)
        f.create_dataset("fixed_ascii_scalar", data=np.bytes_(b"fixed"))
        f.create_dataset("fixed_ascii_1d", data=np.array(ascii_words, dtype="S11"))
        f.create_dataset("fixed_ascii_2d", data=np.array(ascii_words[:4], dtype="S6")
                         .reshape(2, 2))
        fu = h5py.string_dtype("utf-8", 10)
        f.create_dataset("fixed_utf8_1d",
                         data=np.array([w.encode() for w in words[:3]], dtype=fu))
        f.create_dataset("fixed_chunked", data=np.array(ascii_words * 3, dtype="S11"),
                         chunks=(4,), compression="gzip")
        ds = f["vlen_utf8_1d"]
        ds.attrs["str_attr"] = "ünïcode"
        ds.attrs["bytes_attr"] = np.bytes_(b"fixed bytes")
        ds.attrs["str_list_attr"] = np.array(["a", "bé", ""], dtype=h5py.string_dtype())
        ds.attrs["fixed_list_attr"] = np.array([b"ab", b"cde"], dtype="S3")
        ds.attrs["ascii_vlen_attr"] = np.array(b"ascii", dtype=h5py.string_dtype("ascii"))
    return path


def write_bools(directory: Path | str) -> Path:
    """Bool as HDF5 enum (h5py's mapping of numpy bool) and a plain integer enum."""
    f, path = _new(directory, "bools.nwb")
    with f:
        f.create_dataset("bool_1d", data=np.array([True, False, True, True]))
        f.create_dataset("bool_2d", data=np.eye(3, dtype=bool))
        f.create_dataset("bool_scalar", data=np.bool_(True))
        f.create_dataset("bool_chunked", data=np.arange(50) % 3 == 0, chunks=(16,),
                         compression="gzip")
        edt = h5py.enum_dtype({"RED": 0, "GREEN": 1, "BLUE": 2}, basetype="i1")
        f.create_dataset("int_enum", data=np.array([0, 2, 1, 1], dtype="i1"), dtype=edt)
        f.attrs["bool_attr"] = np.bool_(False)
        f.attrs["bool_array_attr"] = np.array([True, False])
    return path


def write_compound(directory: Path | str) -> Path:
    """Compound datasets without references, with a vlen string field and with a reference field.

    ``timeseries_ref`` mimics TimeSeriesReferenceVectorData (idx_start, count, timeseries).
    """
    f, path = _new(directory, "compound.nwb")
    with f:
        ts = f.create_group("acquisition/ts")
        ts.create_dataset("data", data=np.arange(20, dtype="f8"))
        other = f.create_dataset("acquisition/other", data=np.arange(5))
        plain = np.dtype([("a", "<i4"), ("b", "<f8"), ("c", "S6"), ("d", "<u1")])
        f.create_dataset("plain", data=np.array([(1, 0.5, b"one", 1), (2, np.nan, b"", 255),
                                                 (-3, 1e300, b"three!", 0)], dtype=plain))
        mixed = np.dtype([("x", ">i8"), ("y", "<f4")])
        f.create_dataset("mixed_endian", data=np.array([(1, 1.5), (-2, 2.5)], dtype=mixed))
        f.create_dataset("plain_scalar", data=np.array((7, 1.25, b"s", 3), dtype=plain))
        f.create_dataset("plain_chunked", data=np.array([(i, i / 3, b"%d" % i, i % 256)
                                                         for i in range(40)], dtype=plain),
                         chunks=(16,), compression="gzip")
        vstr = np.dtype([("id", "<i8"), ("label", h5py.string_dtype())])
        f.create_dataset("with_vlen_str", data=np.array([(1, "a"), (2, "bé")], dtype=vstr))
        tref = np.dtype([("idx_start", "<i4"), ("count", "<i4"), ("timeseries", h5py.ref_dtype)])
        rows = [(0, 5, ts.ref), (5, 3, other.ref), (-1, -1, h5py.Reference()), (8, 2, ts.ref)]
        d = f.create_dataset("timeseries_ref", data=np.array(rows, dtype=tref))
        d.attrs["neurodata_type"] = "TimeSeriesReferenceVectorData"
        f.attrs["compound_attr"] = np.array([(1, 2.5), (3, 4.5)],
                                            dtype=[("i", "<i4"), ("v", "<f8")])
    return path


def write_references(directory: Path | str) -> Path:
    """Object and region references in datasets, compound fields and attributes."""
    f, path = _new(directory, "references.nwb")
    with f:
        grp = f.create_group("targets/group")
        grp.attrs["object_id"] = "0b2e5b8a-1d6f-4c0e-9a4f-000000000001"
        d1 = f.create_dataset("targets/d1", data=np.arange(10, dtype="<f8"))
        d2 = f.create_dataset("targets/d2", data=np.arange(24, dtype="<i4").reshape(4, 6))
        d2.attrs["object_id"] = "0b2e5b8a-1d6f-4c0e-9a4f-000000000002"
        f["targets/d1_alias"] = d1  # second hard link to d1
        refs = [grp.ref, d1.ref, d2.ref, h5py.Reference(), f["targets/d1_alias"].ref, f.ref]
        f.create_dataset("object_refs", data=refs, dtype=h5py.ref_dtype)
        f.create_dataset("object_refs_2d", data=np.array(refs[:4], dtype=object).reshape(2, 2),
                         dtype=h5py.ref_dtype)
        f.create_dataset("object_ref_scalar", data=d2.ref, dtype=h5py.ref_dtype)
        f.create_dataset("object_refs_chunked", data=refs * 3, dtype=h5py.ref_dtype,
                         chunks=(5,))
        regions = [d1.regionref[2:7], d2.regionref[1:3, 0:4], d2.regionref[:, 5:6],
                   h5py.RegionReference()]
        f.create_dataset("region_refs", data=regions, dtype=h5py.regionref_dtype)
        f.create_dataset("region_ref_scalar", data=d1.regionref[0:3],
                         dtype=h5py.regionref_dtype)
        f.attrs[".specloc"] = f["targets"].ref
        f["targets"].attrs["table"] = grp.ref
        d1.attrs["target"] = d2.ref
        d1.attrs["null_ref"] = h5py.Reference()
        d2.attrs["refs"] = np.array([grp.ref, d1.ref], dtype=h5py.ref_dtype)
        d2.attrs["region"] = d1.regionref[1:4]
        cdt = np.dtype([("name", "S8"), ("target", h5py.ref_dtype), ("weight", "<f4")])
        f.create_dataset("compound_refs", data=np.array([(b"g", grp.ref, 1.0),
                                                         (b"d", d2.ref, 0.5)], dtype=cdt))
    return path


def write_links(directory: Path | str) -> Path:
    """Soft links (absolute, relative, dangling), an external link and repeated hard links.

    Also writes ``links_target.nwb``, the external link's target, next to it.
    """
    target, target_path = _new(directory, "links_target.nwb")
    with target:
        target.create_dataset("shared/data", data=np.arange(5, dtype="<f8"))
    f, path = _new(directory, "links.nwb")
    with f:
        g = f.create_group("groups/real")
        g.attrs["neurodata_type"] = "Device"
        d = g.create_dataset("data", data=np.arange(12, dtype="<i2"))
        d.attrs["unit"] = "volts"
        f["links/soft_group"] = h5py.SoftLink("/groups/real")
        f["links/soft_dataset"] = h5py.SoftLink("/groups/real/data")
        f["groups/relative"] = h5py.SoftLink("real/data")
        f["links/dangling"] = h5py.SoftLink("/does/not/exist")
        f["links/external"] = h5py.ExternalLink(target_path.name, "/shared/data")
        f["links/hard_dataset"] = d  # the same dataset at a second path
        f["links/hard_group"] = g  # the same group at a second path
        f["processing/ts/timestamps"] = h5py.SoftLink("/groups/real/data")
    return path


def write_attributes(directory: Path | str) -> Path:
    """Attributes of every kind on the root, on groups and on datasets."""
    f, path = _new(directory, "attributes.nwb")
    with f:
        g = f.create_group("general")
        d = g.create_dataset("values", data=np.arange(3))
        for obj in (f, g, d):
            a = obj.attrs
            for code in ("i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f2", "f4", "f8"):
                a[f"scalar_{code}"] = np.array(3, dtype=code)[()]
                a[f"array_{code}"] = np.arange(4, dtype=code)
            a["be_f8"] = np.array([1.5, -2.0], dtype=">f8")
            a["one_element"] = np.array([42], dtype="<i4")
            a["two_d"] = np.arange(6, dtype="<f8").reshape(2, 3)
            a["nan"] = np.float64(np.nan)
            a["nan_array"] = np.array([np.nan, 1.0])
            a["big_u8"] = np.uint64(2**64 - 1)
            a["neg_i8"] = np.int64(-(2**63))
            a["empty"] = h5py.Empty("<f8")
            a["empty_array"] = np.zeros((0,), dtype="<i4")
            a["text"] = "description with ünïcode"
            a["empty_text"] = ""
            a["bytes"] = np.bytes_(b"fixed")
        f.attrs["namespace"] = "core"
        f.attrs["neurodata_type"] = "NWBFile"
    return path


def write_unrepresentable(directory: Path | str) -> Path:
    """Types with no NWB Zarr equivalent: ragged vlen sequences, opaque data, array fields."""
    f, path = _new(directory, "unrepresentable.nwb")
    with f:
        vi = h5py.vlen_dtype(np.dtype("<i4"))
        d = f.create_dataset("vlen_int", shape=(3,), dtype=vi)
        d[0], d[1], d[2] = np.arange(3), np.arange(0), np.arange(5)
        f.create_dataset("opaque", data=np.array([b"\x00\x01", b"\x02\x03"], dtype="V2"))
        arr_field = np.dtype([("xy", "<f8", (2,)), ("t", "<i4")])
        f.create_dataset("array_field",
                         data=np.array([((1.0, 2.0), 1), ((3.0, 4.0), 2)], dtype=arr_field))
        f.create_dataset("fine", data=np.arange(4))
    return path


def write_large_contiguous(directory: Path | str) -> Path:
    """A ~48 MB contiguous uncompressed float64 (LARGE_ROWS, 2) dataset, the last object written.

    LARGE_ROWS is prime, so no sub-chunk size divides it. A small dataset is written before it.
    """
    f, path = _new(directory, "large_contiguous.nwb")
    with f:
        f.create_dataset("acquisition/small", data=np.arange(10, dtype="<f8"))
        data = np.empty((LARGE_ROWS, 2), dtype="<f8")
        data[:, 0] = np.arange(LARGE_ROWS, dtype="<f8") * 0.25
        data[:, 1] = -data[:, 0]
        data[-1] = (np.pi, np.e)
        f.create_dataset("acquisition/big/data", data=data)
    return path


def write_pynwb(directory: Path | str) -> Path:
    """A real NWB 2.x file from pynwb: DynamicTables with ragged and region columns,
    TimeSeriesReferenceVectorData, links between TimeSeries, a ProcessingModule."""
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.file import Subject

    nwb = NWBFile(session_description="synthetic", identifier="intake-nwb-synthetic",
                  session_start_time=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
                  subject=Subject(subject_id="m1", species="Mus musculus"))
    t = np.arange(100) / 10.0
    ts1 = TimeSeries(name="ts1", data=np.sin(t), unit="V", timestamps=t)
    ts2 = TimeSeries(name="ts2", data=np.cos(t), unit="V", timestamps=ts1)  # linked timestamps
    ts3 = TimeSeries(name="ts3", data=np.arange(50, dtype="i2").reshape(25, 2), unit="n",
                     rate=30.0, starting_time=0.5)
    nwb.add_acquisition(ts1)
    nwb.add_acquisition(ts2)
    mod = nwb.create_processing_module("behavior", "processed")
    mod.add(ts3)
    nwb.add_trial_column("label", "trial label")
    for i in range(4):
        nwb.add_trial(start_time=float(i), stop_time=i + 0.5, label=f"trial {i}")
    nwb.add_epoch(start_time=0.0, stop_time=2.0, tags=["a", "b"], timeseries=[ts1, ts2])
    nwb.add_epoch(start_time=2.0, stop_time=5.0, tags=[], timeseries=[ts1])
    device = nwb.create_device("probe")
    eg = nwb.create_electrode_group("shank0", "desc", "CA1", device)
    for i in range(4):
        nwb.add_electrode(location="CA1", group=eg, x=float(i), y=0.0, z=0.0)
    nwb.add_unit_column("quality", "unit quality")
    nwb.add_unit(spike_times=[0.1, 0.2, 0.3], quality="good", electrodes=[0, 1])
    nwb.add_unit(spike_times=[], quality="noise", electrodes=[2])
    nwb.add_unit(spike_times=[1.5], quality="mua", electrodes=[3, 0, 1])
    path = Path(directory) / "pynwb.nwb"
    path.parent.mkdir(parents=True, exist_ok=True)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def write_not_nwb(directory: Path | str) -> Path:
    """A valid HDF5 file without the ``nwb_version`` root attribute."""
    f, path = _new(directory, "not_nwb.h5", nwb=False)
    with f:
        f.create_dataset("data", data=np.arange(3))
        f.attrs["comment"] = "plain HDF5, not NWB"
    return path


def _real_file() -> Path | None:
    root = Path(os.environ.get(REAL_DATA_ENV, REAL_DATA_DEFAULT))
    candidates = sorted(root.glob("**/*.nwb"), key=lambda p: p.stat().st_size) if root.is_dir() \
        else []
    return next((p for p in candidates if p.is_file() and p.stat().st_size > 4096), None)


def write_truncated(directory: Path | str, source: Path | str | None = None) -> Path:
    """The first half of a real NWB file (the smallest in the test data, else a synthetic one)."""
    src = Path(source) if source is not None else _real_file()
    if src is None:
        src = write_layouts(Path(directory) / "_truncated_src")
    data = src.read_bytes()
    path = Path(directory) / "truncated.nwb"
    path.write_bytes(data[: len(data) // 2])
    if src.parent.name == "_truncated_src":
        shutil.rmtree(src.parent)
    return path


def write_not_hdf5(directory: Path | str) -> Path:
    """A text file named like an NWB file."""
    path = Path(directory) / "not_hdf5.nwb"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("this is not an HDF5 file\n" * 10)
    return path


#: the NWB-like (valid, nwb_version-stamped) cases, by name
VALID: dict[str, Callable[[Path | str], Path]] = {
    "numeric": write_numeric,
    "filters": write_filters,
    "layouts": write_layouts,
    "strings": write_strings,
    "bools": write_bools,
    "compound": write_compound,
    "references": write_references,
    "links": write_links,
    "attributes": write_attributes,
    "unrepresentable": write_unrepresentable,
    "large_contiguous": write_large_contiguous,
    "pynwb": write_pynwb,
}
#: the files the indexer must reject
INVALID: dict[str, Callable[[Path | str], Path]] = {
    "not_nwb": write_not_nwb,
    "truncated": write_truncated,
    "not_hdf5": write_not_hdf5,
}


def write_all(directory: Path | str) -> dict[str, Path]:
    """Write every synthetic file into ``directory``; returns ``{case: path}``.

    Includes ``links_target`` (the external link's target file).
    """
    out = {name: fn(directory) for name, fn in {**VALID, **INVALID}.items()}
    out["links_target"] = Path(directory) / "links_target.nwb"
    return out

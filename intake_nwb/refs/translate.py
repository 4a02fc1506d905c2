"""Layer 2: translate one HDF5 NWB file into a kerchunk version-1 reference set.

With :mod:`.live`, the only modules that import h5py. It walks every group, dataset, attribute
and link (or, for :mod:`.live`, one node at a time) and writes zarr v2 keys that follow
hdmf-zarr's NWB Zarr conventions (see :mod:`..conventions`):

- numeric, bool (HDF5 enum), fixed-length string and compound datasets whose filters numcodecs
  decodes are *referenced*: one ``[url, offset, length]`` per chunk (``chunk_iter``), large
  contiguous datasets split into sub-chunks so that a slice fetches about its own size;
- small datasets (below ``inline_threshold``), compact datasets and everything zarr cannot decode
  from the file's bytes (variable-length strings, references, unknown filters) are *inlined*:
  h5py decodes them and we store one encoded chunk per zarr chunk;
- links become ``zarr_link`` entries; object and region references become reference dicts.

Nothing is dropped silently: what cannot be represented is listed in ``meta["unsupported"]``
and raises :class:`TranslationError` when ``strict=True``.
"""

from __future__ import annotations

import base64
import json
import math
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import h5py
import numcodecs
import numpy as np

from .. import conventions as cv
from ..errors import NotNWBError, TranslationError
from .filters import describe, filter_pipeline, to_numcodecs
from .pad import CODEC_ID as PAD

DEFAULT_INLINE_THRESHOLD = 16 * 1024
DEFAULT_SUBCHUNK_BYTES = 4 * 2**20
#: datasets no codec decodes are inlined decoded up to this size; larger ones are listed as
#: unsupported rather than written whole into the references
MAX_INLINE_DECODED_BYTES = 16 * 2**20
URL_TEMPLATE = "u"
_URL_REF = "{{" + URL_TEMPLATE + "}}"
_JSON = numcodecs.JSON()
_VLEN_UTF8 = numcodecs.VLenUTF8()
_VLEN_BYTES = numcodecs.VLenBytes()


@dataclass
class Options:
    inline_threshold: int = DEFAULT_INLINE_THRESHOLD
    subchunk_bytes: int = DEFAULT_SUBCHUNK_BYTES
    strict: bool = False


class _Refs(dict):  # type: ignore[type-arg]
    """A reference set that remembers the order its keys were first written in (what one step
    of a live translation added, without walking every key)."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[str] = []

    def __setitem__(self, key: str, value: Any) -> None:
        if key not in self:
            self.written.append(key)
        super().__setitem__(key, value)


@dataclass
class _State:
    file: h5py.File
    url: str
    file_size: int | None
    options: Options
    refs: _Refs = field(default_factory=_Refs)
    unsupported: list[dict[str, str]] = field(default_factory=list)
    seen: dict[Any, str] = field(default_factory=dict)  # HDF5 object token -> first path
    ref_cache: dict[Any, dict[str, Any]] = field(default_factory=dict)
    n_chunks: int = 0
    extents: list[tuple[int, int]] = field(default_factory=list)  # one per stored dataset
    members: dict[str, list[str]] = field(default_factory=dict)  # group -> its groups, arrays
    pending: set[str] = field(default_factory=set)  # nodes listed but not yet translated

    def skip(self, path: str, reason: str) -> None:
        if self.options.strict:
            raise TranslationError(reason, source=self.url, path=path)
        self.unsupported.append({"path": path, "reason": reason})


def translate(h5file: h5py.File, url: str, *, file_size: int | None = None,
              options: Options | None = None) -> dict[str, Any]:
    """Reference set (kerchunk v1 dict) for an open HDF5 NWB file.

    ``url`` is written into the references (as the template ``{{u}}``) and in the error
    messages; ``file_size`` lets the last sub-chunk of a contiguous dataset at the very end of
    the file be inlined instead of read past the end.
    """
    if "nwb_version" not in h5file.attrs:
        raise NotNWBError("HDF5 file without an 'nwb_version' root attribute: not an NWB file",
                          source=url)
    state = _State(h5file, url, file_size, options or Options())
    _group(state, h5file, "")
    metadata = {k: json.loads(v) for k, v in state.refs.items()
                if k.rsplit("/", 1)[-1] in (".zgroup", ".zarray", ".zattrs")}
    state.refs[".zmetadata"] = json.dumps({"zarr_consolidated_format": 1, "metadata": metadata},
                                          default=cv._json_default)
    return {
        "version": 1,
        "templates": {URL_TEMPLATE: url},
        "refs": state.refs,
        "unsupported": state.unsupported,
        "n_chunks": state.n_chunks,
        "extents": state.extents,
    }


# -- groups, links -----------------------------------------------------------------------------

def _key(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


def _token(obj: h5py.HLObject) -> Any:
    return _info_token(h5py.h5o.get_info(obj.id))


def _info_token(info: Any) -> Any:
    return getattr(info, "token", None) or info.addr


def translate_node(state: _State, h5file: h5py.File, zpath: str) -> None:
    """Translate the group or dataset at ``zpath`` of ``h5file`` into ``state``; a group's
    members are listed (``state.members``, ``state.pending``), each translated when asked for.
    A dataset that cannot be represented is left out of its group's members."""
    state.file = h5file
    obj = _open_object(h5file, zpath) if zpath else h5file
    state.pending.discard(zpath)
    if isinstance(obj, h5py.Group):
        _group(state, obj, zpath, deep=False)
    elif not _stored_dataset(state, obj, zpath):
        parent, _, name = zpath.rpartition("/")
        state.members[parent].remove(name)


def _open_object(h5file: h5py.File, zpath: str) -> h5py.Group | h5py.Dataset:
    """``h5file[zpath]`` as h5py builds it, without its per-call ``File`` object (a fifth of
    opening a node: a file's metadata open ~20 of them)."""
    oid = h5py.h5o.open(h5file.id, zpath.encode())  # (listed members: groups and datasets)
    return h5py.Group(oid) if isinstance(oid, h5py.h5g.GroupID) else \
        h5py.Dataset(oid, readonly=True)


def _group(state: _State, group: h5py.Group, zpath: str, deep: bool = True) -> None:
    state.seen.setdefault(_token(group), "/" + zpath)
    state.refs[_key(zpath, ".zgroup")] = json.dumps({"zarr_format": 2})
    links = []
    members = state.members.setdefault(zpath, [])
    gid = group.id
    for name in group:
        child_path = _key(zpath, name)
        try:  # a hard link's target is known from its header, without opening it
            hard = gid.links.get_info(name.encode()).type == h5py.h5l.TYPE_HARD
            link = None if hard else group.get(name, getlink=True)
        except Exception as exc:  # noqa: BLE001 - corrupt link table entries
            state.skip("/" + child_path, f"unreadable link: {exc}")
            continue
        if isinstance(link, h5py.SoftLink):
            target = posixpath.normpath(posixpath.join("/" + zpath, link.path))
            links.append(_link_entry(state, name, ".", target))
            continue
        if isinstance(link, h5py.ExternalLink):
            links.append(_link_entry(state, name, link.filename, link.path))
            continue
        try:
            info = h5py.h5o.get_info(gid, name.encode())
        except Exception as exc:  # noqa: BLE001
            state.skip("/" + child_path, f"cannot open object: {exc}")
            continue
        token = _info_token(info)
        if token in state.seen:  # a second hard link to an object already translated
            links.append(_link_entry(state, name, ".", state.seen[token]))
            continue
        if info.type not in (h5py.h5o.TYPE_GROUP, h5py.h5o.TYPE_DATASET):
            kind = "named datatype" if info.type == h5py.h5o.TYPE_NAMED_DATATYPE else info.type
            state.skip("/" + child_path, f"HDF5 object of type {kind}: not representable")
            continue
        if not deep:  # listed now, translated when asked for
            state.seen[token] = "/" + child_path  # its first path, as the walk meets it
            members.append(name)
            state.pending.add(child_path)
            continue
        try:
            obj = group[name]
        except Exception as exc:  # noqa: BLE001
            state.skip("/" + child_path, f"cannot open object: {exc}")
            continue
        state.seen[token] = "/" + child_path
        if info.type == h5py.h5o.TYPE_GROUP:
            members.append(name)
            _group(state, obj, child_path)
        elif _stored_dataset(state, obj, child_path):
            members.append(name)
    # attributes last: a reference to a member (a root's ``.specloc``) is then named from the
    # walk, not by HDF5's search of the whole file for a path to it
    attrs = _attrs(state, group, "/" + zpath)
    if links:
        attrs[cv.ZARR_LINK] = links
    state.refs[_key(zpath, ".zattrs")] = _dumps(attrs)


def _stored_dataset(state: _State, ds: h5py.Dataset, zpath: str) -> bool:
    """Translate a dataset; one that cannot be represented is left out and reported (False)."""
    try:
        _dataset(state, ds, zpath)
    except TranslationError:
        raise
    except Exception as exc:  # noqa: BLE001 - report and go on with the rest
        for k in [k for k in state.refs if k.startswith(zpath + "/")]:
            del state.refs[k]
        state.skip("/" + zpath, f"{type(exc).__name__}: {exc}")
        return False
    return True


def _link_entry(state: _State, name: str, source: str, path: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "source": source, "path": path}
    if source == ".":
        try:
            oid = state.file[path].attrs.get("object_id")
        except Exception:  # noqa: BLE001 - dangling soft links are legal HDF5
            oid = None
        if oid is not None:
            entry["object_id"] = _text(oid)
    return entry


# -- attributes --------------------------------------------------------------------------------

def _attrs(state: _State, obj: h5py.HLObject, path: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if h5py.h5o.get_info(obj.id).num_attrs == 0:  # most datasets: no listing to build
        return out
    for name in obj.attrs:
        try:
            value = obj.attrs[name]
        except Exception as exc:  # noqa: BLE001 - e.g. attribute types h5py cannot read
            state.skip(f"{path}@{name}", f"unreadable attribute: {exc}")
            continue
        try:
            out[name] = _attr_value(state, value)
        except Exception as exc:  # noqa: BLE001
            state.skip(f"{path}@{name}", f"attribute not representable: {exc}")
            continue
        if name == ".specloc" and cv.attr_ref(out[name]) is not None:
            # hdmf-zarr opens f[f.attrs[".specloc"]]: a plain relative path, not a reference
            out[name] = cv.attr_ref(out[name])["path"].lstrip("/")
    return out


def _attr_value(state: _State, value: Any) -> Any:
    if isinstance(value, (h5py.Reference, h5py.RegionReference)):
        return {"value": _ref(state, value), cv.ZARR_DTYPE: cv.OBJECT}
    if isinstance(value, h5py.Empty):
        return None
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "O" and value.size and isinstance(
                value.flat[0], (h5py.Reference, h5py.RegionReference)):
            refs = [_ref(state, r) for r in value.ravel()]
            return {"value": np.array(refs, dtype=object).reshape(value.shape).tolist(),
                    cv.ZARR_DTYPE: cv.OBJECT}
        if value.dtype.names:
            return [_plain(row) for row in value.tolist()]
        return _plain(value.tolist())
    return _plain(value.item() if isinstance(value, np.generic) else value)


def _plain(value: Any) -> Any:
    """JSON-ready: bytes decoded, tuples to lists, numpy scalars unwrapped."""
    if isinstance(value, bytes):
        return _text(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _text(value: str | bytes) -> str:
    if isinstance(value, str):
        return value
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=cv._json_default, sort_keys=True)


# -- references --------------------------------------------------------------------------------

def _ref(state: _State, ref: Any) -> dict[str, Any] | None:
    if not ref:
        return None
    target = state.file[ref]
    token = _token(target)
    cached = state.ref_cache.get(token)  # keyed by the target object, never by the reference
    if cached is None:
        oid = target.attrs.get("object_id")
        cached = cv.make_ref(state.seen.get(token) or target.name,
                             object_id=_text(oid) if oid is not None else None)
        state.ref_cache[token] = cached
    if isinstance(ref, h5py.RegionReference):
        return {**cached, cv.REGION: _region(ref, target)}
    return cached


def _region(ref: h5py.RegionReference, target: h5py.Dataset) -> list[list[int]]:
    """The bounding hyperslab of a region reference, as [start, stop) per dimension."""
    space = h5py.h5r.get_region(ref, target.id)
    start, end = space.get_select_bounds()
    n_points = space.get_select_npoints()
    if n_points != int(np.prod([e - s + 1 for s, e in zip(start, end, strict=True)])):
        raise ValueError("region reference selects a non-rectangular region")
    return [[int(s), int(e) + 1] for s, e in zip(start, end, strict=True)]


# -- datasets ----------------------------------------------------------------------------------

def _dataset(state: _State, ds: h5py.Dataset, zpath: str) -> None:
    path = "/" + zpath
    extent = _storage_extent(ds)
    if extent is not None:
        state.extents.append(extent)
    attrs = _attrs(state, ds, path)
    dt = ds.dtype
    shape = ds.shape
    if shape is None:  # HDF5 null dataspace
        attrs[cv.H5_DTYPE] = "null-dataspace"
        _write_array(state, zpath, attrs, shape=(0,), chunks=(1,), dtype=_zarr_dtype(dt),
                     fill_value=None, filters=None)
        return
    scalar = shape == ()
    if scalar:
        attrs[cv.ZARR_DTYPE] = cv.SCALAR

    kind = _value_kind(dt)
    if scalar and dt.kind == "S":
        # hdmf-zarr hands scalars to pynwb as stored, so fixed-length text (AqNWB's identifier)
        # must be str; the HDF5 type is kept for exactness
        kind = "string"
        attrs[cv.H5_DTYPE] = dt.str
    if kind == "direct":
        _direct(state, ds, zpath, attrs, scalar)
        return
    # values zarr cannot decode from the file's bytes: decode with h5py, encode for zarr
    data = ds[()]
    zshape = (1,) if scalar else shape
    data = np.asarray(data).reshape(zshape)
    if kind == "string":
        values, filters = _encode_strings(data)
    elif kind == "reference":
        if scalar:  # zarr_dtype already says "scalar"
            attrs["intake_nwb_value_dtype"] = cv.OBJECT
        else:
            attrs[cv.ZARR_DTYPE] = cv.OBJECT
        values = _map_objects(data, lambda r: _ref(state, r))
        filters = [_JSON.get_config()]
    elif kind == "compound-object":
        attrs[cv.ZARR_DTYPE] = _compound_fields(dt)
        values = _compound_rows(state, data)
        filters = [_JSON.get_config()]
    elif kind == "vlen":
        attrs[cv.H5_DTYPE] = f"vlen({h5py.check_vlen_dtype(dt)})"
        values = _map_objects(data, lambda a: np.asarray(a).tolist())
        filters = [_JSON.get_config()]
    else:
        raise TypeError(f"unsupported HDF5 dtype {dt!r}")
    chunks = tuple(max(1, s) for s in zshape)
    _write_array(state, zpath, attrs, shape=zshape, chunks=chunks, dtype="|O", fill_value=None,
                 filters=filters)
    if values.size:
        codec = numcodecs.get_codec(filters[0])
        _inline(state, zpath, (0,) * len(zshape), codec.encode(values))


def _storage_extent(ds: h5py.Dataset) -> tuple[int, int] | None:
    """Where a dataset's first bytes are stored (contiguous data or its first chunk)."""
    dsid = ds.id
    layout = dsid.get_create_plist().get_layout()
    if layout == h5py.h5d.CONTIGUOUS and dsid.get_offset() is not None:
        return int(dsid.get_offset()), int(dsid.get_storage_size())
    if layout == h5py.h5d.CHUNKED and dsid.get_num_chunks():
        info = dsid.get_chunk_info(0)
        return int(info.byte_offset), int(info.size)
    return None


def _value_kind(dt: np.dtype) -> str:
    if dt.names:
        if any(_value_kind(dt.fields[n][0]) != "direct" for n in dt.names):
            return "compound-object"
        return "direct"
    if h5py.check_string_dtype(dt) is not None:
        return "direct" if dt.kind == "S" else "string"
    if h5py.check_ref_dtype(dt) is not None:
        return "reference"
    if h5py.check_vlen_dtype(dt) is not None or dt.kind == "O":
        return "vlen"
    if dt.subdtype is not None:
        raise TypeError(f"HDF5 array datatype {dt!r} is not representable in zarr v2")
    return "direct"


def _zarr_dtype(dt: np.dtype) -> Any:
    if dt.names:  # h5py attaches metadata to field dtypes: zarr wants plain descriptors
        fields = []
        for name in dt.names:
            sub = dt.fields[name][0]
            if sub.subdtype is not None:
                fields.append([name, _zarr_dtype(sub.subdtype[0]), list(sub.subdtype[1])])
            else:
                fields.append([name, _zarr_dtype(sub)])
        return fields
    if dt.kind == "O":
        return "|O"
    return dt.str


def _fill_value(ds: h5py.Dataset) -> Any:
    dt = ds.dtype
    fv = ds.fillvalue
    if dt.names or dt.kind in "SV":
        raw = np.asarray(fv, dtype=dt).tobytes()
        return base64.standard_b64encode(raw).decode() if any(raw) else None
    value = np.asarray(fv, dtype=dt).item()
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, complex):
        return [value.real, value.imag]
    return value


def _direct(state: _State, ds: h5py.Dataset, zpath: str, attrs: dict[str, Any],
            scalar: bool) -> None:
    dt = ds.dtype
    if h5py.check_enum_dtype(dt) is not None and dt.kind != "b":
        attrs[cv.H5_DTYPE] = "enum"
        attrs["intake_nwb_enum"] = {k: int(v) for k, v in h5py.check_enum_dtype(dt).items()}
    zshape = (1,) if scalar else ds.shape
    zdtype = _zarr_dtype(dt)
    fill = _fill_value(ds)
    dcpl = ds.id.get_create_plist()
    layout = dcpl.get_layout()
    pipeline = filter_pipeline(dcpl) if layout == h5py.h5d.CHUNKED else []
    chunk_bytes = math.prod(ds.chunks) * dt.itemsize if ds.chunks else 0
    codecs = to_numcodecs(pipeline, dt.itemsize, chunk_bytes)
    external = dcpl.get_external_count() > 0

    def inline_decoded(chunks: tuple[int, ...]) -> None:
        _write_array(state, zpath, attrs, shape=zshape, chunks=chunks, dtype=zdtype,
                     fill_value=fill, filters=None)
        for idx, sel in _chunk_grid(zshape, chunks):
            block = ds[()] if scalar else ds[sel]
            block = _pad(np.asarray(block, dtype=dt).reshape(
                [s.stop - s.start for s in sel] if not scalar else (1,)), chunks, dt)
            _inline(state, zpath, idx, block.tobytes())

    if 0 in zshape:
        chunks = ds.chunks or tuple(max(1, s) for s in zshape)
        _write_array(state, zpath, attrs, shape=zshape, chunks=chunks, dtype=zdtype,
                     fill_value=fill, filters=codecs or None)
        return
    decoded = math.prod(zshape) * dt.itemsize
    if scalar or layout == h5py.h5d.COMPACT or (
            ds.id.get_storage_size() <= state.options.inline_threshold
            and decoded <= MAX_INLINE_DECODED_BYTES):
        inline_decoded(tuple(zshape) if not scalar else (1,))
        return
    if layout == h5py.h5d.VIRTUAL or external:
        _check_inline_size(decoded, "virtual or external storage")
        inline_decoded(tuple(zshape))
        return
    if layout == h5py.h5d.CONTIGUOUS:
        _contiguous(state, ds, zpath, attrs, zdtype, fill)
        return
    chunks = tuple(ds.chunks)
    stored = list(_chunk_iter(ds)) if codecs is not None else []
    why = (f"filters not decodable by numcodecs: {describe(pipeline)}" if codecs is None else
           "some chunks skip filters (HDF5 filter mask)"
           if any(mask for _, mask, _, _ in stored) else None)
    if why is not None:
        _check_inline_size(decoded, why)
        attrs["intake_nwb_inlined"] = why
        inline_decoded(chunks)
        return
    _write_array(state, zpath, attrs, shape=zshape, chunks=chunks, dtype=zdtype,
                 fill_value=fill, filters=codecs or None)
    for offset, _mask, addr, size in stored:
        idx = tuple(o // c for o, c in zip(offset, chunks, strict=True))
        _reference(state, zpath, idx, addr, size)


def _check_inline_size(decoded: int, why: str) -> None:
    if decoded > MAX_INLINE_DECODED_BYTES:
        raise ValueError(f"{why}; {decoded:,} bytes decoded is too large to inline "
                         f"(at most {MAX_INLINE_DECODED_BYTES:,})")


def _chunk_iter(ds: h5py.Dataset) -> Iterator[tuple[tuple[int, ...], int, int, int]]:
    """(chunk offset, filter mask, byte offset, size) of every allocated chunk."""
    out: list[tuple[tuple[int, ...], int, int, int]] = []
    if hasattr(ds.id, "chunk_iter"):
        ds.id.chunk_iter(lambda info: out.append(
            (tuple(info.chunk_offset), info.filter_mask, info.byte_offset, info.size)))
    else:  # HDF5 < 1.12.3
        for i in range(ds.id.get_num_chunks()):
            info = ds.id.get_chunk_info(i)
            out.append((tuple(info.chunk_offset), info.filter_mask, info.byte_offset, info.size))
    return iter(out)


def _divisor_near(n: int, at_most: int) -> int | None:
    """the largest divisor of ``n`` in ``[at_most // 16, at_most]``, if any."""
    best = None
    i = 1
    while i * i <= n:
        if n % i == 0:
            for d in (i, n // i):
                if at_most // 16 <= d <= at_most and (best is None or d > best):
                    best = d
        i += 1
    return best


def _contiguous(state: _State, ds: h5py.Dataset, zpath: str, attrs: dict[str, Any],
                zdtype: Any, fill: Any) -> None:
    shape = ds.shape
    offset = ds.id.get_offset()
    row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * ds.dtype.itemsize
    rows = max(1, state.options.subchunk_bytes // max(1, row_bytes))
    rows = min(rows, shape[0])
    n_chunks = math.ceil(shape[0] / rows)
    filters = None
    if (offset is not None and state.file_size is not None
            and offset + n_chunks * rows * row_bytes > state.file_size):
        # the dataset ends the file: prefer sub-chunks that divide its rows; else the last one
        # is referenced at its true length and padded when decoded (see .pad)
        rows = _divisor_near(shape[0], rows) or rows
        n_chunks = math.ceil(shape[0] / rows)
        if shape[0] % rows:
            tail = (shape[0] - (n_chunks - 1) * rows) * row_bytes
            filters = [{"id": PAD, "size": rows * row_bytes, "tail": tail}]
    chunks = (rows, *shape[1:])
    _write_array(state, zpath, attrs, shape=shape, chunks=chunks, dtype=zdtype, fill_value=fill,
                 filters=filters)
    if offset is None:  # never written: every value is the fill value
        return
    for i in range(n_chunks):
        idx = (i,) + (0,) * (len(shape) - 1)
        start = offset + i * rows * row_bytes
        length = min(rows, shape[0] - i * rows) * row_bytes if filters else rows * row_bytes
        _reference(state, zpath, idx, start, length)


def _chunk_grid(shape: tuple[int, ...], chunks: tuple[int, ...]
                ) -> Iterator[tuple[tuple[int, ...], tuple[slice, ...]]]:
    counts = [math.ceil(s / c) for s, c in zip(shape, chunks, strict=True)]
    for idx in np.ndindex(*counts):
        yield idx, tuple(slice(i * c, min((i + 1) * c, s))
                         for i, c, s in zip(idx, chunks, shape, strict=True))


def _pad(block: np.ndarray, chunks: tuple[int, ...], dt: np.dtype) -> np.ndarray:
    if block.shape == tuple(chunks):
        return np.ascontiguousarray(block, dtype=dt)
    out = np.zeros(chunks, dtype=dt)
    out[tuple(slice(0, s) for s in block.shape)] = block
    return out


# -- object-valued datasets --------------------------------------------------------------------

def _encode_strings(data: np.ndarray) -> tuple[np.ndarray, list[dict[str, Any]]]:
    flat = data.ravel()
    try:
        values = [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in flat]
        return np.array(values, dtype=object).reshape(data.shape), [{"id": "vlen-utf8"}]
    except UnicodeDecodeError:
        values = [v if isinstance(v, bytes) else str(v).encode() for v in flat]
        return np.array(values, dtype=object).reshape(data.shape), [{"id": "vlen-bytes"}]


def _map_objects(data: np.ndarray, fn: Any) -> np.ndarray:
    out = np.empty(data.shape, dtype=object)
    for i, v in np.ndenumerate(data):
        out[i] = fn(v)
    return out


def _compound_fields(dt: np.dtype) -> list[dict[str, str]]:
    fields = []
    for name in dt.names:
        sub = dt.fields[name][0]
        if h5py.check_ref_dtype(sub) is not None:
            kind = cv.OBJECT
        elif h5py.check_string_dtype(sub) is not None and sub.kind == "O":
            kind = "str"
        else:
            kind = sub.str
        fields.append({"name": name, "dtype": kind})
    return fields


def _compound_rows(state: _State, data: np.ndarray) -> np.ndarray:
    def row(rec: Any) -> list[Any]:
        out = []
        for v in rec:
            if isinstance(v, (h5py.Reference, h5py.RegionReference)):
                out.append(_ref(state, v))
            elif isinstance(v, bytes):
                out.append(_text(v))
            elif isinstance(v, np.generic):
                out.append(v.item())
            else:
                out.append(v)
        return out

    return _map_objects(data, row)


# -- writing keys ------------------------------------------------------------------------------

def _write_array(state: _State, zpath: str, attrs: dict[str, Any], *, shape: tuple[int, ...],
                 chunks: tuple[int, ...], dtype: Any, fill_value: Any,
                 filters: list[dict[str, Any]] | None) -> None:
    state.refs[_key(zpath, ".zarray")] = json.dumps({
        "zarr_format": 2, "shape": list(shape), "chunks": [int(c) for c in chunks],
        "dtype": dtype, "compressor": None, "filters": filters or None,
        "fill_value": fill_value, "order": "C", "dimension_separator": ".",
    })
    state.refs[_key(zpath, ".zattrs")] = _dumps(attrs)


def _chunk_key(zpath: str, idx: tuple[int, ...]) -> str:
    return _key(zpath, ".".join(str(i) for i in idx) if idx else "0")


def _inline(state: _State, zpath: str, idx: tuple[int, ...], raw: bytes) -> None:
    state.refs[_chunk_key(zpath, idx)] = "base64:" + base64.standard_b64encode(raw).decode()


def _reference(state: _State, zpath: str, idx: tuple[int, ...], offset: int, size: int) -> None:
    if state.file_size is not None and offset + size > state.file_size:
        raise ValueError(f"chunk {idx} at bytes {offset}-{offset + size} lies beyond the end "
                         f"of the file ({state.file_size} bytes): truncated file?")
    state.refs[_chunk_key(zpath, idx)] = [_URL_REF, int(offset), int(size)]
    state.n_chunks += 1

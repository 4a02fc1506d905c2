"""Compare an HDF5 NWB file with the zarr group (virtual NWB Zarr store) translated from it.

:func:`compare_file` walks every group, dataset, attribute and link of the HDF5 file with h5py
and checks the zarr group against the conventions of :mod:`intake_nwb.conventions`: same paths,
exact values and dtypes (up to the documented conversions), ``zarr_dtype`` markers, references
resolving to the same HDF5 objects, links as ``zarr_link`` entries of the parent group. Each HDF5
object reachable through several hard links must be a zarr node at exactly one of its paths and a
``zarr_link`` entry at the others. :func:`compare_refs` does the same from a reference dict (and
reads its ``intake_nwb.unsupported`` list); :func:`format_table` renders reports as markdown.
"""

from __future__ import annotations

import json
import math
import posixpath
import reprlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fsspec
import h5py
import numpy as np
import zarr

import intake_nwb.conventions  # noqa: F401  (registers the json2 object dtype with zarr)
from intake_nwb.conventions import H5_DTYPE, OBJECT, SCALAR, ZARR_DTYPE, ZARR_LINK, is_ref

BOOKKEEPING = {ZARR_DTYPE, ZARR_LINK, H5_DTYPE}
NULL_DATASPACE = "null-dataspace"
BLOCK_BYTES = 32 * 2**20  # read datasets in blocks of about this size
_repr = reprlib.Repr()
_repr.maxstring = 60
_repr.maxother = 60
_repr.maxlist = _repr.maxtuple = _repr.maxdict = 4


@dataclass(frozen=True)
class Mismatch:
    """One difference: ``path`` is the HDF5 path (``/a/b@attr`` for an attribute)."""

    path: str
    kind: str  # "dataset" | "attribute" | "link" | "group"
    reason: str

    def __str__(self) -> str:
        return f"{self.kind} {self.path}: {self.reason}"


@dataclass
class FidelityReport:
    """Counts of equal/total items, the mismatches and the datasets the translator gave up on."""

    source: str
    datasets_equal: int = 0
    datasets_total: int = 0
    attrs_equal: int = 0
    attrs_total: int = 0
    links_equal: int = 0
    links_total: int = 0
    groups_total: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    unsupported: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when everything is equal and nothing is unsupported."""
        return not self.mismatches and not self.unsupported and (
            self.datasets_equal == self.datasets_total and self.attrs_equal == self.attrs_total
            and self.links_equal == self.links_total)

    def by_kind(self, kind: str) -> list[Mismatch]:
        return [m for m in self.mismatches if m.kind == kind]

    def summary(self) -> str:
        return (f"{self.source}: datasets {self.datasets_equal}/{self.datasets_total}, "
                f"attrs {self.attrs_equal}/{self.attrs_total}, "
                f"links {self.links_equal}/{self.links_total}, "
                f"{len(self.mismatches)} mismatches, {len(self.unsupported)} unsupported")


def summarize(value: Any, limit: int = 120) -> str:
    """A short repr of any value (arrays abbreviated)."""
    if isinstance(value, np.ndarray):
        with np.printoptions(threshold=8, edgeitems=2, precision=6):
            text = f"{np.array2string(value)} {value.dtype} {value.shape}"
    else:
        text = _repr.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------------------------------------
# entry points


def open_refs(refs: Mapping[str, Any] | str | Path, **storage_options: Any) -> zarr.Group:
    """Open a kerchunk reference dict (or JSON file) as a read-only zarr v2 group."""
    fo = str(refs) if isinstance(refs, Path) else refs
    fs = fsspec.filesystem("reference", fo=fo, **storage_options)
    return zarr.open_group(fs.get_mapper(""), mode="r", zarr_format=2)


def unsupported_of(refs: Mapping[str, Any]) -> list[dict[str, str]]:
    """The unsupported list of a reference dict: ``intake_nwb.unsupported`` (reference files)
    or a top-level ``unsupported`` (what ``translate`` returns)."""
    meta = refs.get("intake_nwb") or {}
    return list(meta.get("unsupported") or refs.get("unsupported") or [])


def compare_refs(h5_path: str | Path, refs: Mapping[str, Any] | str | Path,
                 **storage_options: Any) -> FidelityReport:
    """:func:`compare_file` for a reference dict or a reference JSON file."""
    if not isinstance(refs, Mapping):
        with open(refs) as fh:
            refs = json.load(fh)
    try:
        group = open_refs(refs, **storage_options)
    except Exception as exc:
        report = FidelityReport(source=str(h5_path))
        report.mismatches.append(Mismatch("/", "group", f"zarr cannot open the store: {exc!r}"))
        _count_all(h5_path, report)
        return report
    return compare_file(h5_path, group, unsupported=unsupported_of(refs))


def compare_file(h5_path: str | Path, zarr_group: zarr.Group, *,
                 unsupported: Iterable[Mapping[str, str]] | None = None) -> FidelityReport:
    """Compare every group, dataset, attribute and link of an HDF5 file with ``zarr_group``.

    ``unsupported`` (``[{"path", "reason"}]``, from the reference dict) lists datasets the
    translator could not represent: they are reported apart and count as not equal.
    """
    report = FidelityReport(source=str(h5_path))
    with h5py.File(h5_path, "r") as f:
        _Walker(f, zarr_group, report, unsupported or ()).run()
    return report


def _count_all(h5_path: str | Path, report: FidelityReport) -> None:
    """Totals of a file none of which could be compared (all count as not equal)."""
    with h5py.File(h5_path, "r") as f:
        report.attrs_total += len(f.attrs)

        def visit(_: str, link: Any) -> None:
            report.links_total += not isinstance(link, h5py.HardLink)

        def visit_obj(_: str, obj: h5py.HLObject) -> None:
            report.datasets_total += isinstance(obj, h5py.Dataset)
            report.attrs_total += len(obj.attrs)

        f.visititems_links(visit)
        f.visititems(visit_obj)


def format_table(reports: Iterable[FidelityReport], *, details: int = 5) -> str:
    """A markdown table, one row per file, then up to ``details`` mismatches per failing file."""
    reports = list(reports)
    lines = ["| file | datasets | attributes | links | unsupported | mismatches |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in reports:
        lines.append(f"| {Path(r.source).name} | {_frac(r.datasets_equal, r.datasets_total)} | "
                     f"{_frac(r.attrs_equal, r.attrs_total)} | "
                     f"{_frac(r.links_equal, r.links_total)} | {len(r.unsupported)} | "
                     f"{len(r.mismatches)} |")
    for r in reports:
        if not (r.mismatches or r.unsupported) or details <= 0:
            continue
        lines += ["", f"**{Path(r.source).name}**", ""]
        for m in r.mismatches[:details]:
            lines.append(f"- {_md(str(m))}")
        if len(r.mismatches) > details:
            lines.append(f"- ... and {len(r.mismatches) - details} more mismatches")
        for u in r.unsupported[:details]:
            lines.append(f"- unsupported {_md(str(u.get('path')))}: {_md(str(u.get('reason')))}")
        if len(r.unsupported) > details:
            lines.append(f"- ... and {len(r.unsupported) - details} more unsupported")
    return "\n".join(lines) + "\n"


def _frac(a: int, b: int) -> str:
    return f"{a}/{b}" if a == b else f"**{a}/{b}**"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# ---------------------------------------------------------------------------------------------
# the walk


def _member_names(zg: zarr.Group) -> set[str]:
    """Names of a zarr group's children.

    zarr's own listing fails below the root of an fsspec reference filesystem opened with
    ``get_mapper("")`` (it lists ``"/sub"``, which the filesystem does not know), so list
    through the store's filesystem when there is one.
    """
    store = zg.store
    fs = getattr(store, "fs", None)
    if fs is None:
        return {name for name, _ in zg.members()}
    prefix = "/".join(p for p in (str(store.path).strip("/"), zg.path.strip("/")) if p)
    entries = fs.ls(prefix + "/" if prefix else "", detail=False)
    names = {str(e).rstrip("/").rsplit("/", 1)[-1] for e in entries}
    return {n for n in names if n and not n.startswith(".")}


class _Broken:
    """A zarr node whose metadata zarr cannot open."""

    def __init__(self, exc: Exception):
        self.exc = exc


def _child(zg: zarr.Group, name: str) -> zarr.Group | zarr.Array | _Broken | None:
    try:
        return zg[name]
    except KeyError:
        return None
    except Exception as exc:
        return _Broken(exc)


def _key(obj: h5py.HLObject) -> int:
    return hash(obj.id)  # h5py hashes (fileno, object address): equal for every hard link


def _abs(parent: str, target: str) -> str:
    return posixpath.normpath(posixpath.join(parent, target)).replace("//", "/")


class _Walker:
    def __init__(self, f: h5py.File, zroot: zarr.Group, report: FidelityReport,
                 unsupported: Iterable[Mapping[str, str]]):
        self.f = f
        self.z = zroot
        self.r = report
        self.unsupported = {str(u.get("path")): str(u.get("reason")) for u in unsupported}
        self.placed: dict[int, str] = {}  # HDF5 object -> zarr path it is materialised at
        self.pending: list[tuple[str, dict[str, Any], h5py.HLObject]] = []
        self._resolved: dict[str, str | None] = {}

    def miss(self, path: str, kind: str, reason: str) -> None:
        self.r.mismatches.append(Mismatch(path, kind, reason))

    def run(self) -> None:
        self.placed[_key(self.f)] = "/"
        self.group(self.f, self.z, "/")
        self.finish()
        listed = {u["path"] for u in self.r.unsupported}
        for path, reason in self.unsupported.items():
            if path not in listed:
                self.r.unsupported.append({"path": path, "reason": reason})
                self.r.notes.append(f"unsupported entry {path} matches no HDF5 dataset")

    # groups and links ---------------------------------------------------------------------

    def group(self, g: h5py.Group, zg: zarr.Group, path: str) -> None:
        self.r.groups_total += 1
        self.attrs(g, zg, path)
        zlinks = self.zarr_links(zg, path)
        try:
            znames = _member_names(zg)
        except Exception as exc:
            self.miss(path, "group", f"zarr cannot list members: {exc!r}")
            znames = set()
        names = list(g.keys())
        for name in names:
            child = posixpath.join(path, name)
            link = g.get(name, getlink=True)
            entry = zlinks.pop(name, None)
            znode = _child(zg, name)
            if isinstance(link, h5py.SoftLink | h5py.ExternalLink):
                self.link(child, link, entry, znode is not None)
                continue
            try:
                obj = g[name]
            except Exception as exc:
                self.miss(child, "group", f"h5py cannot open object: {exc!r}")
                continue
            if isinstance(obj, h5py.Datatype):
                self.r.notes.append(f"{child}: named datatype, not compared")
                continue
            k = _key(obj)
            if entry is not None:  # a hard link represented as a zarr link
                self.r.links_total += 1
                if znode is not None:
                    self.miss(child, "link", "both a zarr node and a zarr_link entry")
                else:
                    self.pending.append((child, entry, obj))
                continue
            if k in self.placed:  # another hard link to an object already seen
                self.r.links_total += 1
                where = "a second zarr node" if znode is not None else "nothing in zarr"
                self.miss(child, "link", f"hard link to {self.placed[k]} became {where}; "
                          "expected a zarr_link entry")
                continue
            self.placed[k] = child
            if isinstance(obj, h5py.Dataset) and child in self.unsupported:
                self.r.datasets_total += 1
                self.r.unsupported.append({"path": child, "reason": self.unsupported[child]})
                if isinstance(znode, zarr.Array):
                    self.attrs(obj, znode, child)
                else:
                    self.r.attrs_total += len(obj.attrs)
                continue
            if znode is None:
                self.missing(obj, child)
            elif isinstance(znode, _Broken):
                self.missing(obj, child, f"zarr cannot open it: {znode.exc!r}")
            elif isinstance(obj, h5py.Group):
                if isinstance(znode, zarr.Group):
                    self.group(obj, znode, child)
                else:
                    self.missing(obj, child, "HDF5 group is not a zarr group")
            elif isinstance(znode, zarr.Array):
                self.dataset(obj, znode, child)
            else:
                self.missing(obj, child, "HDF5 dataset is not a zarr array")
        for name in zlinks:
            self.miss(posixpath.join(path, name), "link", "zarr_link entry without HDF5 link")
        for name in sorted(znames - set(names)):
            if _child(zg, name) is not None:
                self.miss(posixpath.join(path, name), "group", "zarr node without HDF5 object")

    def missing(self, obj: h5py.HLObject, path: str, reason: str = "missing from zarr") -> None:
        """Count a missing object and everything below it as not equal."""
        kind = "dataset" if isinstance(obj, h5py.Dataset) else "group"
        self.miss(path, kind, reason)
        n_ds, n_attrs = (1, len(obj.attrs)) if kind == "dataset" else (0, len(obj.attrs))
        if isinstance(obj, h5py.Group):
            def visit(_: str, o: h5py.HLObject) -> None:
                nonlocal n_ds, n_attrs
                n_ds += isinstance(o, h5py.Dataset)
                n_attrs += len(o.attrs)
            obj.visititems(visit)
        self.r.datasets_total += n_ds
        self.r.attrs_total += n_attrs

    def zarr_links(self, zg: zarr.Group, path: str) -> dict[str, dict[str, Any]]:
        raw = zg.attrs.get(ZARR_LINK, [])
        out: dict[str, dict[str, Any]] = {}
        if not isinstance(raw, list):
            self.miss(path, "link", f"zarr_link is not a list: {summarize(raw)}")
            return out
        for entry in raw:
            if not (isinstance(entry, dict) and isinstance(entry.get("name"), str)):
                self.miss(path, "link", f"malformed zarr_link entry {summarize(entry)}")
            elif entry["name"] in out:
                self.miss(posixpath.join(path, entry["name"]), "link", "duplicate zarr_link")
            else:
                out[entry["name"]] = entry
        return out

    def link(self, path: str, link: h5py.SoftLink | h5py.ExternalLink,
             entry: dict[str, Any] | None, is_node: bool) -> None:
        self.r.links_total += 1
        kind = "soft" if isinstance(link, h5py.SoftLink) else "external"
        if entry is None:
            where = " (materialised as a zarr node instead)" if is_node else ""
            self.miss(path, "link", f"{kind} link to {link.path} missing from zarr_link{where}")
            return
        reason = self.link_diff(path, link, entry)
        if is_node:
            reason = reason or "also present as a zarr node"
        if reason:
            self.miss(path, "link", reason)
        else:
            self.r.links_equal += 1

    def link_diff(self, path: str, link: h5py.SoftLink | h5py.ExternalLink,
                  entry: dict[str, Any]) -> str | None:
        source, zpath = entry.get("source"), entry.get("path")
        if isinstance(link, h5py.ExternalLink):
            if source != link.filename and posixpath.normpath(str(source)) != \
                    posixpath.normpath(link.filename):
                return f"external file {source!r}, HDF5 has {link.filename!r}"
            if _abs("/", str(zpath)) != _abs("/", link.path):
                return f"external path {zpath!r}, HDF5 has {link.path!r}"
            return None
        if source != ".":
            return f"soft link source {source!r}, expected '.'"
        target = _abs(posixpath.dirname(path), link.path)
        if zpath == target:
            return self.object_id_diff(entry, self.f.get(target))
        h5_target, h5_zpath = self.f.get(target), self.f.get(str(zpath)) if zpath else None
        if h5_target is not None and h5_zpath is not None and h5_target == h5_zpath:
            return self.object_id_diff(entry, h5_target)
        return f"soft link to {zpath!r}, HDF5 points to {link.path!r}"

    def object_id_diff(self, ref: dict[str, Any], target: h5py.HLObject | None) -> str | None:
        oid = ref.get("object_id")
        if oid is None or target is None:
            return None
        expected = target.attrs.get("object_id")
        if isinstance(expected, bytes):
            expected = expected.decode()
        if expected is not None and oid != expected:
            return f"object_id {oid!r}, target has {expected!r}"
        return None

    def finish(self) -> None:
        """Check the hard links that became zarr_link entries."""
        for path, entry, obj in self.pending:
            k = _key(obj)
            if k not in self.placed:  # every path to it was a link: it is nowhere in zarr
                self.placed[k] = path
                self.missing(obj, path, "hard-linked object is only a zarr_link, never a node")
                self.r.links_total -= 1  # counted once as a missing object instead
                continue
            reason = None
            zpath = entry.get("path")
            if entry.get("source") != ".":
                reason = f"hard link source {entry.get('source')!r}, expected '.'"
            elif not isinstance(zpath, str) or self.f.get(zpath) != obj:
                reason = f"zarr_link to {zpath!r} is not the same HDF5 object as {path}"
            elif self.zresolve(zpath) != self.placed[k]:
                reason = f"zarr_link to {zpath!r} does not resolve to zarr node {self.placed[k]}"
            else:
                reason = self.object_id_diff(entry, obj)
            if reason:
                self.miss(path, "link", reason)
            else:
                self.r.links_equal += 1

    def resolved(self, path: str) -> str | None:
        """:meth:`zresolve`, cached."""
        if path not in self._resolved:
            self._resolved[path] = self.zresolve(path)
        return self._resolved[path]

    def zresolve(self, path: str, depth: int = 0) -> str | None:
        """The zarr node path a path leads to, following in-file zarr_link entries."""
        parts = [p for p in path.split("/") if p]
        node: Any = self.z
        for i, part in enumerate(parts):
            if not isinstance(node, zarr.Group):
                return None
            try:
                node = node[part]
                continue
            except KeyError:
                pass
            links = node.attrs.get(ZARR_LINK) or []
            entry = next((e for e in links if isinstance(e, dict) and e.get("name") == part),
                         None)
            if entry is None or entry.get("source") != "." or depth > 16:
                return None
            rest = "/".join([str(entry.get("path", "")).strip("/"), *parts[i + 1:]])
            return self.zresolve("/" + rest, depth + 1)
        return "/" + "/".join(parts)

    def zget(self, path: str) -> Any:
        resolved = self.resolved(path)
        if resolved is None:
            return None
        return self.z if resolved == "/" else self.z[resolved.lstrip("/")]

    # attributes ----------------------------------------------------------------------------

    def attrs(self, obj: h5py.HLObject, znode: Any, path: str) -> None:
        try:
            zattrs = dict(znode.attrs)
        except Exception as exc:
            self.miss(path, "attribute", f"zarr cannot read .zattrs: {exc!r}")
            zattrs = {}
        names = list(obj.attrs.keys())
        for name in names:
            self.r.attrs_total += 1
            where = f"{path}@{name}"
            if name not in zattrs:
                self.miss(where, "attribute", "missing from zarr")
                continue
            try:
                value = obj.attrs[name]
            except Exception as exc:
                self.miss(where, "attribute", f"h5py cannot read it: {exc!r}")
                continue
            zvalue = zattrs[name]
            if path == "/" and name == ".specloc" and isinstance(zvalue, str):
                # hdmf-zarr's convention: the root .specloc is the spec group's plain path
                zvalue = {"value": {"source": ".", "path": "/" + zvalue}, ZARR_DTYPE: OBJECT}
            reason = self.attr_diff(value, zvalue)
            if reason:
                self.miss(where, "attribute", reason)
            else:
                self.r.attrs_equal += 1
        for name in sorted(set(zattrs) - set(names)):
            if name not in BOOKKEEPING and not name.startswith("intake_nwb"):
                self.miss(f"{path}@{name}", "attribute", "zarr attribute without HDF5 attribute")

    def attr_diff(self, value: Any, zvalue: Any) -> str | None:
        h = _norm(value)
        if _has_ref(h):
            if not (isinstance(zvalue, dict) and zvalue.get(ZARR_DTYPE) == OBJECT
                    and "value" in zvalue):
                return f"expected {{'value': <ref>, 'zarr_dtype': 'object'}}, got " \
                       f"{summarize(zvalue)}"
            zvalue = zvalue["value"]
        reason = self.json_diff(h, zvalue)
        return f"{reason} (hdf5={summarize(h)}, zarr={summarize(zvalue)})" if reason else None

    def json_diff(self, h: Any, z: Any) -> str | None:
        """Compare a normalised HDF5 value with a JSON value; a reason or None."""
        if h is _EMPTY:
            return None if z is None or z == [] else "expected empty (None or [])"
        if isinstance(h, _Ref):
            return self.ref_diff(h.ref, z)
        if isinstance(h, bool):
            return None if isinstance(z, bool) and z == h else "bool differs"
        if isinstance(h, int):
            return None if type(z) is int and z == h else "int differs"
        if isinstance(h, float):
            return None if _float_eq(h, z) else "float differs"
        if isinstance(h, str):
            return None if z == h else "str differs"
        if isinstance(h, list):
            if not isinstance(z, list) or len(z) != len(h):
                return f"expected a list of {len(h)}"
            for i, (a, b) in enumerate(zip(h, z, strict=True)):
                reason = self.json_diff(a, b)
                if reason:
                    return f"[{i}] {reason}"
            return None
        if isinstance(h, _Row):
            zs = [z.get(n) for n in h.names] if isinstance(z, dict) else z
            return self.json_diff(list(h.values), zs)
        if h is None:
            return None if z is None else "expected null"
        return None if h == z else f"{type(h).__name__} differs"

    def ref_diff(self, href: h5py.Reference, zref: Any) -> str | None:
        """Compare an h5py (object or region) reference with a reference dict."""
        if not href:
            if zref is None or (is_ref(zref) and not zref.get("path")):
                return None
            return f"expected a null reference, got {summarize(zref)}"
        if not is_ref(zref):
            return f"expected a reference dict, got {summarize(zref)}"
        if zref.get("source") != ".":
            return f"reference source {zref.get('source')!r}, expected '.'"
        try:
            target = self.f[href]
        except Exception as exc:
            return f"h5py cannot dereference: {exc!r}"
        zpath = zref.get("path")
        if not zpath:
            return f"null reference, HDF5 points to {target.name}"
        other = self.f.get(zpath)
        if other is None or other != target:
            return f"points to {zpath!r}, HDF5 points to {target.name!r}"
        if self.resolved(zpath) is None:
            return f"points to {zpath!r}, which is not a node (or link) of the zarr store"
        reason = self.object_id_diff(zref, target)
        if reason:
            return reason
        if isinstance(href, h5py.RegionReference):
            return self.region_diff(href, target, zref)
        if "region" in zref:
            return "region on an object reference"
        return None

    def region_diff(self, href: h5py.RegionReference, target: h5py.Dataset,
                    zref: dict[str, Any]) -> str | None:
        region = zref.get("region")
        if not isinstance(region, list) or not all(
                isinstance(r, list) and len(r) == 2 for r in region):
            return f"region reference without [[start, stop], ...] region: {summarize(zref)}"
        zt = self.zget(str(zref["path"]))
        if not isinstance(zt, zarr.Array):
            return f"region target {zref['path']} is not a zarr array"
        try:
            expected = np.asarray(target[href])
            got = zt[tuple(slice(a, b) for a, b in region)]
        except Exception as exc:
            return f"cannot apply region {region}: {exc!r}"
        if expected.size != got.size or not np.array_equal(
                expected.ravel(), got.ravel(), equal_nan=expected.dtype.kind in "fc"):
            return f"region {region} selects {summarize(got)}, HDF5 {summarize(expected)}"
        return None

    # datasets ------------------------------------------------------------------------------

    def dataset(self, ds: h5py.Dataset, za: zarr.Array, path: str) -> None:
        self.r.datasets_total += 1
        self.attrs(ds, za, path)
        try:
            reason = self.dataset_diff(ds, za)
        except Exception as exc:
            reason = f"comparison failed: {exc!r}"
        if reason:
            self.miss(path, "dataset", reason)
        else:
            self.r.datasets_equal += 1

    def dataset_diff(self, ds: h5py.Dataset, za: zarr.Array) -> str | None:
        zattrs = za.attrs
        if ds.shape is None:
            if za.shape != (0,) or zattrs.get(H5_DTYPE) != NULL_DATASPACE:
                return f"null dataspace: expected shape (0,) and {H5_DTYPE}={NULL_DATASPACE!r}"\
                       f", got shape {za.shape} and {zattrs.get(H5_DTYPE)!r}"
            return None
        kind = _kind(ds.dtype)
        scalar = ds.shape == ()
        if za.shape != ((1,) if scalar else ds.shape):
            return f"shape {za.shape}, HDF5 {ds.shape}{' (scalar)' if scalar else ''}"
        zd = zattrs.get(ZARR_DTYPE)
        if scalar and zd != SCALAR and not (kind in ("ref", "regref") and zd == OBJECT):
            return f"scalar dataset without {ZARR_DTYPE}={SCALAR!r} (got {zd!r})"
        reason = self.dtype_diff(ds.dtype, za, kind, scalar)
        if reason:
            return reason
        if ds.size == 0:
            return None
        return self.values_diff(ds, za, kind, scalar)

    def dtype_diff(self, h5dt: np.dtype, za: zarr.Array, kind: str, scalar: bool
                   ) -> str | None:
        zdt = za.dtype
        zd = za.attrs.get(ZARR_DTYPE)
        if kind in ("ref", "regref"):
            if zdt.kind != "O":
                return f"reference dataset has zarr dtype {zdt}, expected |O"
            if zd != OBJECT and not scalar:
                return f"reference dataset without {ZARR_DTYPE}={OBJECT!r} (got {zd!r})"
            return None
        if kind in ("vlen_str", "vlen_seq"):
            return None if zdt.kind in "OTU" else f"variable-length data as zarr dtype {zdt}"
        if scalar and h5dt.kind == "S" and zdt.kind in "OTU":
            # scalar fixed-length text is stored as str (hdmf-zarr passes scalars on as stored)
            recorded = za.attrs.get(H5_DTYPE)
            return None if recorded == h5dt.str else f"scalar {h5dt.str} text without " \
                f"{H5_DTYPE}={h5dt.str!r} (got {recorded!r})"
        if kind == "compound" and zdt.kind == "O":
            return self.compound_zdtype_diff(h5dt, zd)
        return _dtype_diff(h5dt, zdt)

    def compound_zdtype_diff(self, h5dt: np.dtype, zd: Any) -> str | None:
        if not isinstance(zd, list) or not all(isinstance(x, dict) for x in zd):
            return f"compound as |O needs {ZARR_DTYPE} = [{{name, dtype}}], got {summarize(zd)}"
        names = [x.get("name") for x in zd]
        if names != list(h5dt.names or ()):
            return f"compound fields {names}, HDF5 {list(h5dt.names or ())}"
        for spec in zd:
            fdt = h5dt[spec["name"]]
            fkind, zf = _kind(fdt), spec.get("dtype")
            if fkind in ("ref", "regref"):
                if zf != OBJECT:
                    return f"reference field {spec['name']} has dtype {zf!r}, expected 'object'"
            elif fkind in ("vlen_str", "fixed_str") or fdt.kind == "O":
                continue  # any string spelling
            else:
                try:
                    ok = np.dtype(zf) == fdt
                except TypeError:
                    ok = False
                if not ok:
                    return f"field {spec['name']} dtype {zf!r}, HDF5 {fdt.str}"
        return None

    def values_diff(self, ds: h5py.Dataset, za: zarr.Array, kind: str, scalar: bool
                    ) -> str | None:
        n_diff = 0
        first: str | None = None
        for sel in _blocks(ds):
            try:
                h = np.asarray(ds[()]).reshape(1) if scalar else ds[sel]
            except Exception as exc:
                return f"h5py cannot read: {exc!r}"
            try:
                z = za[0:1] if scalar else za[sel]
            except Exception as exc:
                return f"zarr cannot read: {exc!r}"
            z = np.asarray(z)
            if z.shape != h.shape:
                return f"read shape {z.shape}, HDF5 {h.shape}"
            if kind in ("numeric", "fixed_str", "compound") and z.dtype.kind not in "OT":
                neq = _neq_mask(h, z)
                count = int(neq.sum())
                if count and first is None:
                    idx = np.unravel_index(int(np.argmax(neq.ravel())), neq.shape)
                    first = _where(sel, idx, scalar, h, z)
                n_diff += count
                continue
            for idx in np.ndindex(h.shape):
                reason = self.elem_diff(h[idx], z[idx], kind, ds.dtype)
                if reason:
                    n_diff += 1
                    if first is None:
                        first = f"{_where(sel, idx, scalar)}: {reason}"
        if n_diff:
            return f"{n_diff} of {ds.size} values differ; first {first}"
        return None

    def elem_diff(self, h: Any, z: Any, kind: str, dtype: np.dtype) -> str | None:
        if kind in ("ref", "regref"):
            return self.ref_diff(h, z)
        if kind in ("vlen_str", "fixed_str"):
            a, b = _text(h), _text(z)
            return None if a == b else f"hdf5={summarize(a)} zarr={summarize(b)}"
        if kind == "compound":
            names = list(dtype.names or ())
            row = [z.get(n) for n in names] if isinstance(z, dict) else z
            if isinstance(row, np.void):
                row = list(row.tolist())
            if not isinstance(row, list | tuple | np.ndarray) or len(row) != len(names):
                return f"row {summarize(z)} does not have {len(names)} fields"
            for name, zv in zip(names, row, strict=True):
                reason = self.elem_diff(h[name], zv, _kind(dtype[name]), dtype[name])
                if reason:
                    return f"field {name}: {reason}"
            return None
        if kind == "vlen_seq":
            a, b = np.asarray(h), np.asarray(z)
            return None if a.shape == b.shape and np.array_equal(a, b) else \
                f"hdf5={summarize(a)} zarr={summarize(b)}"
        hn = _norm(h)
        return None if _scalar_eq(hn, z) else f"hdf5={summarize(hn)} zarr={summarize(z)}"


# ---------------------------------------------------------------------------------------------
# helpers


class _Empty:
    def __repr__(self) -> str:
        return "Empty"


_EMPTY = _Empty()


@dataclass(frozen=True)
class _Ref:
    ref: h5py.Reference

    def __repr__(self) -> str:
        return "<ref>" if self.ref else "<null ref>"


@dataclass(frozen=True)
class _Row:
    names: tuple[str, ...]
    values: tuple[Any, ...]


def _norm(v: Any) -> Any:
    """An h5py value as the JSON-like Python value the translator should write."""
    if isinstance(v, h5py.Empty):
        return _EMPTY
    if isinstance(v, h5py.Reference):
        return _Ref(v)
    if isinstance(v, bytes):
        return v.decode("utf-8", "surrogateescape")
    if isinstance(v, str):
        return str(v)
    if isinstance(v, np.void) and v.dtype.names:
        return _Row(v.dtype.names, tuple(_norm(v[n]) for n in v.dtype.names))
    if isinstance(v, np.ndarray):
        if v.dtype.names:
            return [_norm(x) for x in v] if v.ndim else _norm(v[()])
        if v.ndim == 0:
            return _norm(v[()])
        return [_norm(x) for x in v]
    if isinstance(v, np.generic):
        return _norm(v.item())
    if isinstance(v, list | tuple):
        return [_norm(x) for x in v]
    return v


def _has_ref(v: Any) -> bool:
    if isinstance(v, _Ref):
        return True
    if isinstance(v, list):
        return any(_has_ref(x) for x in v)
    if isinstance(v, _Row):
        return any(_has_ref(x) for x in v.values)
    return False


_SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _float_eq(h: float, z: Any) -> bool:
    """Float equality, NaN equal to NaN; ``z`` must be a float (or JSON's NaN/Infinity)."""
    if isinstance(z, str):
        z = _SPECIAL.get(z, z)
    if not isinstance(z, float):
        return False
    return (math.isnan(h) and math.isnan(z)) or h == z


def _scalar_eq(h: Any, z: Any) -> bool:
    """A normalised HDF5 scalar against a zarr element (numpy scalar or JSON value)."""
    if isinstance(z, np.generic):
        z = z.item()
    if isinstance(h, bool) or isinstance(z, bool):
        return isinstance(h, bool) and isinstance(z, bool) and h == z
    if isinstance(h, float):
        return _float_eq(h, z)
    if isinstance(h, complex) or isinstance(z, complex):
        return complex(h) == complex(z) or (
            isinstance(z, complex) and _float_eq(complex(h).real, z.real)
            and _float_eq(complex(h).imag, z.imag))
    if isinstance(h, str) or isinstance(z, bytes | str):
        return _text(h) == _text(z)
    return h == z


def _text(v: Any) -> Any:
    if isinstance(v, bytes | np.bytes_):
        return bytes(v).decode("utf-8", "surrogateescape")
    if isinstance(v, np.str_):
        return str(v)
    return v


def _kind(dt: np.dtype) -> str:
    """Classify an h5py dtype: ref, regref, vlen_str, fixed_str, compound, vlen_seq, numeric."""
    if dt.names:
        return "compound"
    ref = h5py.check_ref_dtype(dt)
    if ref is h5py.RegionReference:
        return "regref"
    if ref is h5py.Reference:
        return "ref"
    info = h5py.check_string_dtype(dt)
    if info is not None:
        return "vlen_str" if info.length is None else "fixed_str"
    if h5py.check_vlen_dtype(dt) is not None:
        return "vlen_seq"
    return "numeric"


def _plain(dt: np.dtype) -> np.dtype:
    """A dtype without h5py's metadata."""
    if dt.names:
        return np.dtype([(n, _plain(dt[n])) for n in dt.names])
    if dt.subdtype is not None:
        return np.dtype((_plain(dt.subdtype[0]), dt.subdtype[1]))
    return np.dtype(dt.str)


def _dtype_diff(h5dt: np.dtype, zdt: np.dtype) -> str | None:
    """Exact numpy dtype equality (byte order included) for non-object dtypes."""
    hp = _plain(h5dt)
    if hp.names:
        if not zdt.names:
            return f"zarr dtype {zdt}, HDF5 compound {hp}"
        if list(zdt.names) != list(hp.names):
            return f"compound fields {list(zdt.names)}, HDF5 {list(hp.names)}"
        for name in hp.names:
            reason = _dtype_diff(h5dt[name], zdt[name])
            if reason:
                return f"field {name}: {reason}"
        return None
    if hp.kind == "O":
        return None if zdt.kind in "OT" else f"zarr dtype {zdt}, HDF5 object {hp}"
    if zdt != hp:  # numpy dtype equality includes the byte order
        return f"zarr dtype {zdt.str}, HDF5 {hp.str}"
    return None


def _neq_mask(h: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Elementwise 'differs' for non-object arrays (NaN equals NaN; fields compared one by one)."""
    if h.dtype.names:
        mask = np.zeros(h.shape, dtype=bool)
        for name in h.dtype.names:
            m = _neq_mask(h[name], z[name])
            if m.ndim > h.ndim:
                m = m.reshape(h.shape + (-1,)).any(axis=-1)
            mask |= m
        return mask
    if h.dtype.kind in "fc" and z.dtype.kind in "fc":
        return ~((h == z) | (np.isnan(h) & np.isnan(z)))
    return np.asarray(h != z, dtype=bool).reshape(h.shape)


def _blocks(ds: h5py.Dataset) -> Iterator[tuple[slice, ...]]:
    """Row blocks of about BLOCK_BYTES covering the dataset."""
    if ds.shape == ():
        yield ()
        return
    row = max(1, int(np.prod(ds.shape[1:], dtype=np.int64))) * max(ds.dtype.itemsize, 1)
    step = max(1, BLOCK_BYTES // row)
    for start in range(0, ds.shape[0], step):
        yield (slice(start, min(start + step, ds.shape[0])),)


def _where(sel: tuple[slice, ...], idx: tuple[int, ...], scalar: bool,
           h: np.ndarray | None = None, z: np.ndarray | None = None) -> str:
    if scalar:
        at = "()"
    else:
        full = (idx[0] + (sel[0].start or 0), *idx[1:]) if sel else idx
        at = str(tuple(int(i) for i in full))
    if h is None or z is None:
        return f"at {at}"
    return f"at {at}: hdf5={summarize(h[idx])} zarr={summarize(z[idx])}"

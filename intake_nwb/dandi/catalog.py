"""Pinned intake catalogs of a dandiset version."""

from __future__ import annotations

import copy
import datetime as dt
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .._version import __version__
from ..errors import DandiNotFoundError
from ..sources import Source
from .client import DANDI_API_URL, DandiClient
from .pins import PIN_KEY, verify_pins
from .select import _warn_draft, get_dandi_assets


def dandi_catalog(dandiset_id: str, version: str, path: str | os.PathLike[str], *,
                  glob: str | None = None, asset_ids: Sequence[str] | None = None,
                  max_assets: int | None = None, refs_dir: str | os.PathLike[str] | None = None,
                  api_url: str = DANDI_API_URL, name: str | None = None,
                  description: str | None = None, progress: bool = True) -> Path:
    """Write a pinned intake catalog of a dandiset version's NWB assets.

    The catalog has the entries of a lab catalog (:func:`intake_nwb.catalog.build_catalog`):
    tables across assets, TimeSeries, sessions and one nested catalog per asset. HDF5 assets
    are indexed remotely into reference files kept beside the catalog (existing, current
    references in ``refs_dir`` are reused); Zarr NWB assets are read directly from S3. Every
    entry pins the assets it reads (see :func:`verify_pins`), and ``metadata.dandi`` records the
    dandiset, version, API URL and every asset's id, path, size, digests and URLs.

    Parameters
    ----------
    dandiset_id:
        ``"000006"``.
    version:
        A published version (``"0.220126.1855"``), or ``"draft"`` by name: accepted with a
        :class:`DraftVersionWarning` (the catalog is then not reproducible).
    path:
        The catalog YAML to write.
    glob, asset_ids, max_assets:
        Which assets (see :func:`get_dandi_assets`).
    refs_dir:
        A folder of reference files made before (e.g. the per-user cache, or another
        catalog's ``refs/``): those of the selected assets are copied beside the catalog and
        reused when still current. The catalog's references always live in ``refs/`` beside it.
    api_url:
        The DANDI API (``$DANDI_API_KEY`` is sent to it for embargoed dandisets).
    name, description:
        The catalog's; default from the dandiset's name and citation.
    progress:
        Show progress bars while indexing.

    Returns
    -------
    Path
        The catalog written.

    Raises
    ------
    DandiNotFoundError
        No such dandiset, version or asset; or no NWB asset selected.
    PinMismatchError
        The bytes the archive serves differ from what its API says (size/ETag).

    Examples
    --------
    >>> import intake, intake_nwb
    >>> intake_nwb.dandi_catalog("000006", "0.220126.1855", "dandi_000006.yaml",
    ...                          glob="sub-anm369962/*")  # doctest: +SKIP
    >>> cat = intake.open_catalog("dandi_000006.yaml")  # doctest: +SKIP
    >>> cat.units.read()  # checks the pins, then reads  # doctest: +SKIP
    """
    if not version:
        raise ValueError("version is required: a published version (e.g. '0.220126.1855'), "
                         "or 'draft' by name")
    version = str(version)
    if version == "draft":
        _warn_draft(dandiset_id, stacklevel=2)
    client = DandiClient(api_url)
    vmeta = client.version_metadata(dandiset_id, version)
    assets = get_dandi_assets(dandiset_id, version, glob=glob, asset_ids=asset_ids,
                              max_assets=max_assets, client=client)
    if not assets:
        raise DandiNotFoundError(
            f"no NWB asset selected in dandiset {dandiset_id} version {version}"
            + (f" (glob {glob!r})" if glob else ""), source=f"DANDI:{dandiset_id}")
    pins: dict[str, dict[str, Any]] = {}
    for asset in assets:
        pin = asset.pin(dandiset_id, version)
        if asset.is_zarr:
            pin["root_identity"] = Source.from_url(asset.read_url,
                                                   asset.storage_options).identity()
        pins[asset.read_url] = pin
    # the bytes must be what the API says now; S3 URLs that refuse access -> download URLs
    reachable = verify_pins(pins, api_url=client.api_url)
    pins = {reachable.get(url, url): {**pin, "read_url": reachable.get(url, url)}
            for url, pin in pins.items()}
    zarr_options = next((a.storage_options for a in assets if a.is_zarr), None)
    storage_options = {"s3": zarr_options} if zarr_options else None

    from ..catalog import build_catalog

    out = Path(path)
    if refs_dir is not None:
        _reuse_refs(list(pins), Path(refs_dir), out.resolve().parent / "refs")
    title = str(vmeta.get("name") or f"DANDI:{dandiset_id}")
    build_catalog(list(pins), out, name=name or f"dandi_{dandiset_id}",
                  description=description or f"{title} (DANDI:{dandiset_id}/{version})",
                  storage_options=storage_options, progress=progress)
    block = {
        "dandiset_id": dandiset_id, "version": version, "api_url": client.api_url,
        "name": vmeta.get("name"), "doi": vmeta.get("doi"), "url": vmeta.get("url"),
        "citation": vmeta.get("citation"), "license": vmeta.get("license"),
        "reproducible": version != "draft", "glob": glob,
        "pinned_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "intake_nwb_version": __version__,
    }
    pin_catalog(out, pins, {k: v for k, v in block.items() if v is not None})
    return out


def _reuse_refs(urls: Sequence[str], src_dir: Path, dest_dir: Path) -> None:
    """Copy the reference files of ``urls`` found in ``src_dir`` beside the catalog (index()
    then keeps those that are current and remakes the others)."""
    import shutil

    from ..refs import cache as refcache

    if src_dir.resolve() == dest_dir.resolve():
        return
    for url in urls:
        found = refcache.existing(refcache.refs_path_for(url, src_dir))
        if found is None or refcache.existing(refcache.refs_path_for(url, dest_dir)) is not None:
            continue
        dest_dir.mkdir(parents=True, exist_ok=True)
        if found.is_dir():
            shutil.copytree(found, dest_dir / found.name)
        else:
            shutil.copy2(found, dest_dir / found.name)


def _dumper() -> Any:
    """A YAML dumper naming shared nodes readably: ``&asset``, ``&pins``, ``&files``..."""
    import yaml

    class Dumper(yaml.SafeDumper):
        def generate_anchor(self, node: Any) -> str:
            keys = [str(k.value) for k, _ in node.value] if isinstance(
                node, yaml.MappingNode) else []
            if isinstance(node, yaml.SequenceNode):
                kind = "files"
            elif "asset_id" in keys:
                kind = "asset"
            elif keys and "://" in keys[0]:
                kind = "pins"
            else:
                kind = "options"
            counts = self.__dict__.setdefault("_anchor_counts", {})
            counts[kind] = counts.get(kind, 0) + 1
            return kind if counts[kind] == 1 else f"{kind}{counts[kind]}"

    return Dumper


def pin_catalog(path: str | os.PathLike[str], pins: Mapping[str, Mapping[str, Any]],
                block: Mapping[str, Any] | None = None) -> None:
    """Add ``pins`` to every entry of a catalog YAML written by ``build_catalog``.

    Each entry gets the pins of the assets it reads: those whose URL, or whose reference file's
    name, appears in its arguments (all pins when none can be told). A per-file entry
    (``nwb_file``) of one pinned asset is renamed after the asset's path
    (``sub_001_ses_001``). ``block`` becomes the catalog's ``metadata.dandi``, its ``assets``
    the pins (each written once, entries refer to it by YAML alias). Comment lines at the top
    of the file are kept.

    Examples
    --------
    >>> pin_catalog("dandi.yaml", {url: asset.pin("000006", "0.220126.1855")})  # doctest: +SKIP
    """
    import yaml

    from ..catalog.names import entry_names
    from ..refs import cache as refcache

    file = Path(path).resolve()
    names = {url: refcache.refs_name_for(url).rsplit(".", 1)[0] for url in pins}
    assets = {u: copy.deepcopy(dict(p)) for u, p in pins.items()}  # one node per asset
    shared: dict[tuple[str, ...], dict[str, Any]] = {}

    def pinned(args: Any) -> tuple[str, ...]:
        text = "\n".join(_strings(args))
        return tuple(u for u in pins if u in text or names[u] in text) or tuple(pins)

    text = file.read_text()
    header = "".join(line for line in text.splitlines(keepends=True)
                     if line.startswith("#")) if text.startswith("#") else ""
    doc = yaml.safe_load(text) or {}
    entries: dict[str, Any] = doc.get("sources") or {}
    single = {}
    for key, entry in entries.items():
        args = {k: v for k, v in (entry.get("args") or {}).items() if k != "pins"}
        keys = pinned(args)
        entry["args"] = {**args, "pins": shared.setdefault(keys, {u: assets[u] for u in keys})}
        if entry.get("driver") == "nwb_file" and len(keys) == 1:
            single[key] = pins[keys[0]]
    stems = {k: re.sub(r"(\.nwb)?(\.zarr)?/?$", "", str(p.get("path", k)))
             for k, p in single.items()}
    wanted = entry_names(list(stems.values()), taken=set(entries) - set(single))
    renames = {k: wanted[stems[k]] for k in single if wanted[stems[k]] != k}
    for key, pin in single.items():
        entry = entries[key]
        desc = str(entry.get("description") or "")
        rest = desc.split(": ", 1)[1] if ": " in desc else desc
        entry["description"] = f"DANDI asset {pin.get('path')} ({pin.get('asset_id')})" + (
            f": {rest}" if rest else "")
        entry.setdefault("metadata", {}).update(dandi_path=pin.get("path"),
                                                asset_id=pin.get("asset_id"))
    if renames:
        doc = _rename(doc, renames)
        doc["sources"] = {renames.get(k, k): v for k, v in doc["sources"].items()}
    if block is not None and block.get("dandiset_id"):
        note = (f"# Pinned to DANDI:{block['dandiset_id']}/{block.get('version')} by "
                f"intake_nwb.dandi_catalog: rebuild it with `intake-nwb dandi "
                f"{block['dandiset_id']} --version {block.get('version')}`;\n# reading an entry "
                "first checks the assets it reads against their pins (metadata.dandi).\n")
        header = "".join(line for line in header.splitlines(keepends=True)
                         if not line.startswith("# Pinned to DANDI:")
                         and not line.startswith("# reading an entry first checks")) + note
    if block is not None:
        block = {k: v for k, v in block.items() if k != "assets"}
        doc.setdefault("metadata", {})[PIN_KEY] = {**copy.deepcopy(block),
                                                   "assets": list(assets.values())}
    body = yaml.dump(doc, Dumper=_dumper(), sort_keys=False, width=100, allow_unicode=True)
    tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(header + body)
        os.replace(tmp, file)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _rename(obj: Any, renames: Mapping[str, str]) -> Any:
    """Replace entry names in strings (whole words), in place where possible (keeps aliases)."""
    rx = re.compile(r"\b(" + "|".join(map(re.escape, renames)) + r")\b")
    seen: set[int] = set()

    def walk(o: Any) -> Any:
        if isinstance(o, str):
            return rx.sub(lambda m: renames[m.group(1)], o)
        if id(o) in seen:
            return o
        seen.add(id(o))
        if isinstance(o, dict):
            for k in list(o):
                if k != "pins":
                    o[k] = walk(o[k])
        elif isinstance(o, list):
            o[:] = [walk(v) for v in o]
        return o

    return walk(obj)


def _strings(obj: Any) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, Mapping):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _strings(v)

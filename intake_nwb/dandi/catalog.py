"""Pinned intake catalogs of a dandiset version."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path

from .._version import __version__
from ..errors import DandiNotFoundError
from ..sources import Source
from .client import DANDI_API_URL, DandiClient
from .pins import PIN_KEY, verify_pins
from .select import select_dandi_assets


def dandi_catalog(dandiset_id: str, version: str | None = None,
                  path: str | os.PathLike[str] | None = None, *, glob: str | None = None,
                  asset_ids: Sequence[str] | None = None, max_assets: int | None = None,
                  refs_dir: str | os.PathLike[str] | None = None, api_url: str | None = None,
                  name: str | None = None, description: str | None = None,
                  progress: bool | None = None) -> Path:
    """Write a pinned intake catalog of a dandiset version's NWB assets.

    The catalog is a lab catalog (:func:`intake_nwb.build_catalog`) of the assets' ``dandi://``
    URLs (version pinned), so every row's ``_nwb_path`` names its asset and the ``sessions``
    table carries ``dandi_asset_id``, ``dandi_path``, ``dandi_subject`` and ``dandi_session``.
    HDF5 assets are indexed remotely into reference files beside the catalog (named after the
    asset's file; existing, current references in ``refs_dir`` are reused); Zarr NWB assets
    are read as they are. The lab index keeps each asset's pin (id, path, size, ETag, sha256,
    URLs), checked before the asset's bytes are read; ``metadata.dandi`` records the dandiset,
    version, API and citation.

    Parameters
    ----------
    dandiset_id:
        Any identifier dandi-cli takes: ``"000006"``, ``"DANDI:000006/0.220126.1855"``, an
        archive URL, a ``dandi://`` URL.
    version:
        A published version, or ``"draft"`` by name (with a :class:`DraftVersionWarning`: the
        catalog is then not reproducible); default: the one the identifier names, else the
        most recent published version (written into the catalog).
    path:
        The catalog YAML to write (default ``dandi_<id>.yaml``).
    glob, asset_ids, max_assets:
        Which assets (see :func:`select_dandi_assets`).
    refs_dir:
        A folder of reference files made before (another catalog's ``refs/``): those of the
        selected assets are copied beside the catalog and reused when still current.
    api_url:
        The DANDI API (default: the identifier's; ``$DANDI_API_KEY`` is sent to it).
    name, description:
        The catalog's; default from the dandiset's name.
    progress:
        Show progress bars while indexing (default: for many assets).

    Returns
    -------
    Path
        The catalog written.

    Raises
    ------
    DandiNotFoundError
        No such dandiset, version or asset (the message lists the versions); or no NWB asset.
    PinMismatchError
        The bytes the archive serves differ from what its API says (size/ETag).

    Examples
    --------
    >>> import intake, intake_nwb
    >>> # needs the DANDI archive (internet)
    >>> intake_nwb.dandi_catalog("DANDI:000006/0.220126.1855",
    ...                          glob="sub-anm369962/*")  # doctest: +SKIP
    >>> cat = intake.open_catalog("dandi_000006.yaml")  # doctest: +SKIP
    >>> cat.units.read()  # doctest: +SKIP
    """
    from ..catalog.builder import build
    from ..sources.dandiurl import path_labels

    if version is not None and not str(version).strip():
        raise ValueError("version is empty: name a published version, 'draft', or None for "
                         "the most recent published one")
    sel = select_dandi_assets(dandiset_id, version, glob=glob, asset_ids=asset_ids,
                              max_assets=max_assets, api_url=api_url)
    if not sel.assets:
        raise DandiNotFoundError(
            f"no NWB asset selected in dandiset {sel.dandiset_id} version {sel.version}"
            + (f" (glob {glob!r})" if glob else ""), source=f"DANDI:{sel.dandiset_id}")
    options = {} if sel.api_url == DANDI_API_URL else {"api_url": sel.api_url}
    pins = sel.pins()
    for url, pin in pins.items():
        if url.rstrip("/").endswith(".zarr"):
            pin["root_identity"] = Source.from_url(url, options).identity()
    verify_pins(pins, list(pins), storage_options=options or None)  # bytes are what it says
    vmeta = DandiClient(sel.api_url).version_metadata(sel.dandiset_id, sel.version)
    out = Path(path or f"dandi_{sel.dandiset_id}.yaml")
    if refs_dir is not None:
        _reuse_refs(list(pins), Path(refs_dir), out.resolve().parent / "refs")
    title = str(vmeta.get("name") or f"DANDI:{sel.dandiset_id}")
    block = {
        "dandiset_id": sel.dandiset_id, "version": sel.version, "api_url": sel.api_url,
        "name": vmeta.get("name"), "doi": vmeta.get("doi"), "url": vmeta.get("url"),
        "citation": vmeta.get("citation"), "license": vmeta.get("license"),
        "reproducible": sel.version != "draft", "glob": glob,
        "pinned_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "intake_nwb_version": __version__,
    }
    extras = {url: {PIN_KEY: pin, "label": pin["path"], "sessions": {
        "dandi_asset_id": pin["asset_id"], "dandi_path": pin["path"],
        **{f"dandi_{k}": v for k, v in path_labels(pin["path"]).items()}}}
        for url, pin in pins.items()}
    ident = f"DANDI:{sel.dandiset_id}/{sel.version}"
    build(list(pins), out, name=name or f"dandi_{sel.dandiset_id}",
          description=description or f"{title} ({ident})", storage_options=options or None,
          progress=progress, errors="raise", extras=extras,
          metadata={PIN_KEY: {k: v for k, v in block.items() if v is not None}},
          header=[f"Pinned to {ident} by intake_nwb.dandi_catalog: rebuild it with "
                  f"`intake-nwb dandi {ident}`;",
                  "reading an asset's bytes first checks it against its pin (size, ETag)."])
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

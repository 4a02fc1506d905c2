"""Pinned intake catalogs of a dandiset version."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
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

    from ..catalog.builder import build

    out = Path(path)
    if refs_dir is not None:
        _reuse_refs(list(pins), Path(refs_dir), out.resolve().parent / "refs")
    title = str(vmeta.get("name") or f"DANDI:{dandiset_id}")
    block = {
        "dandiset_id": dandiset_id, "version": version, "api_url": client.api_url,
        "name": vmeta.get("name"), "doi": vmeta.get("doi"), "url": vmeta.get("url"),
        "citation": vmeta.get("citation"), "license": vmeta.get("license"),
        "reproducible": version != "draft", "glob": glob,
        "pinned_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "intake_nwb_version": __version__,
    }
    # each asset's pin lives with its file in the lab index; rows name the asset path
    extras = {url: {"dandi": pin, "label": pin["path"],
                    "sessions": {"dandi_asset_id": pin["asset_id"], "dandi_path": pin["path"]}}
              for url, pin in pins.items()}
    build(list(pins), out, name=name or f"dandi_{dandiset_id}",
          description=description or f"{title} (DANDI:{dandiset_id}/{version})",
          storage_options=storage_options, progress=progress, errors="raise", extras=extras,
          metadata={PIN_KEY: {k: v for k, v in block.items() if v is not None}},
          header=[f"Pinned to DANDI:{dandiset_id}/{version} by intake_nwb.dandi_catalog: "
                  f"rebuild it with `intake-nwb dandi {dandiset_id} --version {version}`;",
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

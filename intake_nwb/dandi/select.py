"""Selecting a dandiset version's NWB assets (by glob, ids, count)."""

from __future__ import annotations

import concurrent.futures as cf
import warnings
from collections.abc import Sequence

from ..errors import (
    DandiNotFoundError,
    DraftVersionWarning,
)
from .assets import DandiAsset
from .client import DANDI_API_URL, DandiClient


def get_dandi_assets(dandiset_id: str, version: str, *, glob: str | None = None,
                     asset_ids: Sequence[str] | None = None, max_assets: int | None = None,
                     api_url: str = DANDI_API_URL, client: DandiClient | None = None,
                     nwb_only: bool = True) -> list[DandiAsset]:
    """The NWB assets of a dandiset version, ordered by path (or as ``asset_ids`` orders them).

    Parameters
    ----------
    glob:
        The API's path glob (``"sub-01/*"``, ``"*ecephys*"``).
    asset_ids:
        Only these assets, in this order (each fetched by id unless ``glob`` is given too).
    max_assets:
        At most this many (after the other filters).
    nwb_only:
        Leave out assets that are neither ``.nwb`` files nor Zarr NWB stores.

    Examples
    --------
    >>> assets = get_dandi_assets("000006", "0.220126.1855", glob="sub-anm369962/*")
    ... # doctest: +SKIP
    >>> assets[0].path, assets[0].size, assets[0].etag  # doctest: +SKIP
    ('sub-anm369962/sub-anm369962_ses-2017...', ..., '...-1')
    """
    client = client or DandiClient(api_url)
    if asset_ids is not None:
        ids = [str(a) for a in asset_ids]
        if not ids:
            raise ValueError("asset_ids is empty")
        if glob is None:
            with cf.ThreadPoolExecutor(max_workers=min(16, len(ids))) as pool:
                assets = list(pool.map(lambda a: client.asset(a, dandiset_id, version), ids))
        else:
            by_id = {a.asset_id: a for a in client.iter_assets(dandiset_id, version, glob=glob)}
            missing = [a for a in ids if a not in by_id]
            if missing:
                raise DandiNotFoundError(
                    f"no asset {', '.join(missing)} matches glob {glob!r} in dandiset "
                    f"{dandiset_id} version {version}", source=f"DANDI:{dandiset_id}")
            assets = [by_id[a] for a in ids]
    else:
        assets = list(client.iter_assets(dandiset_id, version, glob=glob))
    if nwb_only:
        assets = [a for a in assets if a.is_nwb]
    if max_assets is not None:
        assets = assets[:max(0, max_assets)]
    return assets


def get_dandi_sources(dandiset_id: str, version: str | None = None, *, glob: str | None = None,
                      asset_ids: Sequence[str] | None = None, max_assets: int | None = None,
                      api_url: str = DANDI_API_URL) -> list[str]:
    """URLs of a dandiset version's NWB assets, for :func:`intake_nwb.get_df`, ``scan_nwb``...

    lazynwb's function of the same name: S3 URLs of NWB files (``https://...``) and
    ``s3://`` URLs of Zarr NWB stores (read them with ``storage_options={"s3": {"anon": True}}``).
    ``version=None`` takes the most recent published version (else the draft, with a
    :class:`DraftVersionWarning`). Nothing is pinned: for a reproducible, verified selection
    build a catalog with :func:`dandi_catalog`.

    Examples
    --------
    >>> import intake_nwb
    >>> urls = intake_nwb.get_dandi_sources("000006", "0.220126.1855", max_assets=3)
    ... # doctest: +SKIP
    >>> intake_nwb.get_df(urls, "/units")  # doctest: +SKIP
    """
    client = DandiClient(api_url)
    if version is None:
        version = client.latest_version(dandiset_id)
        if version == "draft":
            _warn_draft(dandiset_id, stacklevel=3)
    assets = get_dandi_assets(dandiset_id, version, glob=glob, asset_ids=asset_ids,
                              max_assets=max_assets, client=client)
    return [a.read_url for a in assets]


def _warn_draft(dandiset_id: str, stacklevel: int = 3) -> None:
    warnings.warn(DraftVersionWarning(
        f"dandiset {dandiset_id}: using its draft, which can change at any time, so this is "
        "not reproducible: the same call may select other assets tomorrow, and the archive "
        "may delete blobs only the draft used (a catalog then fails verification). Publish "
        "a version and use it instead."), stacklevel=stacklevel)



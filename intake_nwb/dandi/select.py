"""Selecting a dandiset version's NWB assets (by the identifier's path, the API's glob, asset
ids, count), resolved to ``dandi://`` URLs and pins."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fsspec.asyn import sync

from ..errors import DandiNotFoundError
from ..sources.dandiapi import DandiClient, warn_draft
from ..sources.dandiasset import DandiAsset
from ..sources.dandiurl import DandiRef, DandiURLError, parse_dandiset

_warn_draft = warn_draft  # the name dandi_catalog imports
_ASSET_FETCHES = 16  # assets fetched by id at once


@dataclass(frozen=True)
class DandiSelection:
    """A dandiset version (``ref``: API, instance, dandiset, version) and assets chosen from it.

    Examples
    --------
    >>> # needs the DANDI archive (internet)
    >>> sel = select_dandi_assets("DANDI:000006/0.220126.1855",
    ...                           glob="sub-anm369962/*")  # doctest: +SKIP
    >>> sel.urls[0]  # doctest: +SKIP
    'dandi://dandi/000006@0.220126.1855/sub-anm369962/sub-anm369962_ses-20170316.nwb'
    >>> sel.pins()[sel.urls[0]]["etag"]  # doctest: +SKIP
    '...-1'
    """

    ref: DandiRef
    assets: list[DandiAsset]

    @property
    def dandiset_id(self) -> str:
        return self.ref.dandiset_id

    @property
    def version(self) -> str:
        assert self.ref.version is not None
        return self.ref.version

    @property
    def api_url(self) -> str:
        return self.ref.api_url

    def url(self, asset: DandiAsset) -> str:
        """The asset's ``dandi://`` URL (version pinned): what rows name it by."""
        return self.ref.url(asset.path)

    @property
    def urls(self) -> list[str]:
        return [self.url(a) for a in self.assets]

    def pins(self) -> dict[str, dict[str, Any]]:
        """``{dandi:// URL: pin}`` (see :meth:`DandiAsset.pin`), what ``verify_pins`` checks."""
        return {self.url(a): a.pin(self.dandiset_id, self.version, url=self.url(a))
                for a in self.assets}


def resolve_dandiset(dandiset: str, version: str | None = None, *,
                     api_url: str | None = None, client: DandiClient | None = None,
                     stacklevel: int = 2) -> DandiRef:
    """A dandiset identifier (any form dandi-cli takes, see :mod:`~intake_nwb.sources.dandiurl`)
    with its version resolved.

    ``version`` (or the one the identifier names): a published version, or ``"draft"``, which
    warns (:class:`DraftVersionWarning`). Neither: the most recent published version; a
    dandiset with none raises :class:`DandiNotFoundError` listing its versions (the draft is
    used only when named). ``api_url``: the API to ask, whatever server the identifier names.

    Examples
    --------
    >>> # needs the DANDI archive (internet)
    >>> resolve_dandiset("https://dandiarchive.org/dandiset/000006").version  # doctest: +SKIP
    '0.220126.1855'
    """
    if api_url is None and client is not None:
        api_url = client.api_url
    ref = parse_dandiset(dandiset, api_url=api_url)
    if version is not None:
        version = str(version)
        if ref.version is not None and ref.version != version:
            raise DandiURLError(f"names version {ref.version}, but version {version!r} was "
                                "asked for", source=str(dandiset))
        ref = ref.at(version)
    if ref.version is None:
        return (client or DandiClient(ref.api_url)).pin(ref)
    if ref.version == "draft":
        warn_draft(ref.dandiset_id, stacklevel=stacklevel + 1)
    return ref


def select_dandi_assets(dandiset: str, version: str | None = None, *, glob: str | None = None,
                        asset_ids: Sequence[str] | None = None, max_assets: int | None = None,
                        api_url: str | None = None, client: DandiClient | None = None,
                        nwb_only: bool = True, stacklevel: int = 2) -> DandiSelection:
    """The NWB assets of a dandiset version, in path order (or as ``asset_ids`` orders them).

    Parameters
    ----------
    dandiset:
        ``"000006"``, ``"DANDI:000006/0.220126.1855"``, an archive URL, or a ``dandi://`` URL.
        The identifier may select assets itself: a ``dandi://`` path or glob (fsspec's glob:
        ``*`` within a folder, ``**`` across), a web URL's ``?location=`` folder, an API URL's
        ``?path=`` prefix or ``?glob=`` or asset id. Then ``glob`` and ``asset_ids`` must be
        None.
    version:
        See :func:`resolve_dandiset` (default: the most recent published version).
    glob:
        The API's path glob (``"sub-01/*"``, ``"*ecephys*"``: ``*`` matches ``/`` too, any
        case), as ``dandi download`` takes it.
    asset_ids:
        Only these assets, in this order (each fetched by id unless ``glob`` is given too).
    max_assets:
        At most this many (after the other filters).
    api_url:
        The API to ask (default: the identifier's).
    nwb_only:
        Leave out assets that are neither ``.nwb`` files nor Zarr NWB stores.

    Raises
    ------
    DandiNotFoundError
        No such dandiset, version (the versions that exist are listed) or asset.
    """
    ref = resolve_dandiset(dandiset, version, api_url=api_url, client=client,
                           stacklevel=stacklevel + 1)
    if ref.selects and (glob is not None or asset_ids is not None):
        raise DandiURLError("selects assets itself: give glob= or asset_ids= with a plain "
                            "dandiset identifier", source=str(dandiset))
    if client is None or client.api_url != ref.api_url:
        client = DandiClient(ref.api_url)
    ids = [ref.asset_id] if ref.asset_id else (
        None if asset_ids is None else [str(a) for a in asset_ids])
    if ids is not None and not ids:
        raise ValueError("asset_ids is empty")
    assets = sync(client.loop, _select, client, ref, glob, ids)
    if nwb_only:
        assets = [a for a in assets if a.is_nwb]
    if max_assets is not None:
        assets = assets[:max(0, max_assets)]
    return DandiSelection(ref, assets)


async def _select(client: DandiClient, ref: DandiRef, glob: str | None,
                  ids: list[str] | None) -> list[DandiAsset]:
    dandiset_id, version = ref.dandiset_id, ref.version
    assert version is not None
    if ids is not None and glob is None:
        limit = asyncio.Semaphore(_ASSET_FETCHES)

        async def one(asset_id: str) -> DandiAsset:
            async with limit:
                return await client._asset(asset_id, dandiset_id, version)

        return list(await asyncio.gather(*(one(a) for a in ids)))
    if ids is not None:
        by_id = {a.asset_id: a for a in await client._assets(dandiset_id, version, glob=glob)}
        missing = [a for a in ids if a not in by_id]
        if missing:
            raise DandiNotFoundError(
                f"no asset {', '.join(missing)} matches glob {glob!r} in dandiset "
                f"{dandiset_id} version {version}", source=f"DANDI:{dandiset_id}")
        return [by_id[a] for a in ids]
    if glob is not None or ref.api_glob is not None or ref.prefix is not None:
        return await client._assets(dandiset_id, version, glob=glob or ref.api_glob,
                                    prefix=ref.prefix)
    return (await client._listing(dandiset_id, version)).glob(ref.path)


def get_dandi_assets(dandiset_id: str, version: str | None = None, *, glob: str | None = None,
                     asset_ids: Sequence[str] | None = None, max_assets: int | None = None,
                     api_url: str | None = None, client: DandiClient | None = None,
                     nwb_only: bool = True) -> list[DandiAsset]:
    """The NWB assets of a dandiset version (:func:`select_dandi_assets`'s ``assets``).

    Examples
    --------
    >>> # needs the DANDI archive (internet)
    >>> assets = get_dandi_assets("000006", "0.220126.1855", glob="sub-anm369962/*")
    ... # doctest: +SKIP
    >>> assets[0].path, assets[0].size, assets[0].etag  # doctest: +SKIP
    ('sub-anm369962/sub-anm369962_ses-2017...', ..., '...-1')
    """
    return select_dandi_assets(dandiset_id, version, glob=glob, asset_ids=asset_ids,
                               max_assets=max_assets, api_url=api_url, client=client,
                               nwb_only=nwb_only, stacklevel=3).assets


def get_dandi_urls(dandiset_id: str, version: str | None = None, *, glob: str | None = None,
                   asset_ids: Sequence[str] | None = None, max_assets: int | None = None,
                   api_url: str | None = None) -> list[str]:
    """``dandi://`` URLs of a dandiset version's NWB assets: rows read from them name the asset
    by its path and version (``_nwb_path``). Arguments as :func:`select_dandi_assets`.

    Examples
    --------
    >>> import intake_nwb
    >>> # needs the DANDI archive (internet)
    >>> urls = get_dandi_urls("DANDI:000006/0.220126.1855", max_assets=3)  # doctest: +SKIP
    >>> urls[0]  # doctest: +SKIP
    'dandi://dandi/000006@0.220126.1855/sub-anm369962/sub-anm369962_ses-20170316.nwb'
    >>> intake_nwb.get_df(urls, "/units")  # doctest: +SKIP
    """
    return select_dandi_assets(dandiset_id, version, glob=glob, asset_ids=asset_ids,
                               max_assets=max_assets, api_url=api_url, stacklevel=3).urls


def get_dandi_sources(dandiset_id: str, version: str | None = None, *, glob: str | None = None,
                      asset_ids: Sequence[str] | None = None, max_assets: int | None = None,
                      api_url: str | None = None) -> list[str]:
    """S3 URLs of a dandiset version's NWB assets, for :func:`intake_nwb.get_df`, ``scan_nwb``...

    lazynwb's function of the same name: S3 URLs of NWB files (``https://...``) and
    ``s3://`` URLs of Zarr NWB stores (read them with ``storage_options={"s3": {"anon": True}}``).
    Rows read from them name blobs; :func:`get_dandi_urls` gives ``dandi://`` URLs, which
    name assets. Arguments as :func:`select_dandi_assets`. Nothing is pinned: for a
    reproducible, verified selection build a catalog with :func:`dandi_catalog`.

    Examples
    --------
    >>> import intake_nwb
    >>> # needs the DANDI archive (internet)
    >>> urls = intake_nwb.get_dandi_sources("000006", "0.220126.1855", max_assets=3)
    ... # doctest: +SKIP
    >>> intake_nwb.get_df(urls, "/units")  # doctest: +SKIP
    """
    return [a.read_url for a in select_dandi_assets(
        dandiset_id, version, glob=glob, asset_ids=asset_ids, max_assets=max_assets,
        api_url=api_url, stacklevel=3).assets]

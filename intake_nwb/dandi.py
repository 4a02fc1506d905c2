"""DANDI: resolve a dandiset version's NWB assets through the REST API; pinned catalogs.

A *pinned* catalog records, beside the usual entries (tables across assets, TimeSeries,
sessions, one nested catalog per asset), what the archive said each asset was when the catalog
was built: asset id, path, size, ``dandi:dandi-etag`` (the S3 ETag), ``dandi:sha2-256`` when
known, and both content URLs (the S3 object and the API's ``/assets/{id}/download/``). Opening
a catalog entry calls :func:`verify_pins` first: one request per asset it reads compares the
bytes' size and ETag now with the pin, raises :class:`~intake_nwb.errors.PinMismatchError`
when they differ, and answers with the URL to read, falling back from an S3 URL that answers
403 to the download URL.

Published versions (``0.YYMMDD.HHMM``) are immutable, so their catalogs are reproducible.
``version="draft"`` is accepted when asked for by name, with a :class:`DraftVersionWarning`.

Examples
--------
>>> import intake, intake_nwb
>>> intake_nwb.dandi_catalog("000006", "0.220126.1855", "dandi_000006.yaml",
...                          max_assets=2)  # doctest: +SKIP
PosixPath('dandi_000006.yaml')
>>> intake.open_catalog("dandi_000006.yaml").units.read()  # doctest: +SKIP
>>> intake_nwb.get_dandi_sources("000006", "0.220126.1855")[:1]  # doctest: +SKIP
['https://dandiarchive.s3.amazonaws.com/blobs/...']
"""

from __future__ import annotations

import concurrent.futures as cf
import copy
import datetime as dt
import os
import re
import time
import urllib.parse
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from ._version import __version__
from .errors import IntakeNWBError, PinMismatchError, SourceNotFoundError
from .sources import Source, identity_matches

__all__ = [
    "DANDI_API_URL",
    "DandiAPIError",
    "DandiAsset",
    "DandiClient",
    "DandiNotFoundError",
    "DraftVersionWarning",
    "dandi_catalog",
    "get_dandi_assets",
    "get_dandi_sources",
    "pin_catalog",
    "read_pins",
    "verify_pins",
]

DANDI_API_URL = "https://api.dandiarchive.org/api"
PAGE_SIZE = 1000  # the archive's maximum page size
TOKEN_ENV = "DANDI_API_KEY"
PIN_KEY = "dandi"  # catalog metadata block
_PUBLISHED = re.compile(r"^\d+\.\d{6}\.\d{4}$")
_RETRY_STATUS = {429, 500, 502, 503, 504}
_TRIES = 4
_AWS_VHOST = re.compile(r"^(?P<bucket>.+?)\.s3(?:[.-][a-z0-9-]+)*\.amazonaws\.com$")
_AWS_PATH = re.compile(r"^s3(?:[.-][a-z0-9-]+)*\.amazonaws\.com$")


class DandiAPIError(IntakeNWBError):
    """The DANDI API refused or failed a request (authentication, server error, bad answer)."""


class DandiNotFoundError(SourceNotFoundError, DandiAPIError):
    """No such dandiset, version or asset (the API answered 404)."""


class DraftVersionWarning(UserWarning):
    """A catalog of a dandiset's draft: the draft can change, the catalog is not reproducible."""


# -- assets --------------------------------------------------------------------------------------

def _s3_location(url: str) -> tuple[str, str, str | None]:
    """``(bucket, key, endpoint_url)`` of an S3 object URL (virtual-host or path style).

    Examples
    --------
    >>> _s3_location("https://dandiarchive.s3.amazonaws.com/zarr/abc/")
    ('dandiarchive', 'zarr/abc/', None)
    >>> _s3_location("http://127.0.0.1:9000/dandiarchive/zarr/abc/")
    ('dandiarchive', 'zarr/abc/', 'http://127.0.0.1:9000')
    """
    u = urllib.parse.urlsplit(url)
    host = (u.hostname or "").lower()
    path = urllib.parse.unquote(u.path).lstrip("/")
    m = _AWS_VHOST.match(host)
    if m:
        return m["bucket"], path, None
    bucket, _, key = path.partition("/")
    return bucket, key, None if _AWS_PATH.match(host) else f"{u.scheme}://{u.netloc}"


@dataclass(frozen=True)
class DandiAsset:
    """One asset of a dandiset version, as the API describes it.

    Attributes
    ----------
    asset_id, path, size:
        The API's fields; ``path`` is relative to the dandiset (``sub-1/sub-1_ses-1.nwb``).
    blob_id, zarr_id:
        Exactly one is set: a single file (blob) or a Zarr store.
    metadata:
        The asset's metadata (``contentUrl``, ``digest``, ``encodingFormat``, ...).

    Examples
    --------
    >>> a = DandiAsset.from_api({"asset_id": "5e6f...", "blob": "1a2b...", "zarr": None,
    ...     "path": "sub-1/sub-1_ses-1.nwb", "size": 1024, "metadata": {"contentUrl": [
    ...     "https://api.dandiarchive.org/api/assets/5e6f.../download/",
    ...     "https://dandiarchive.s3.amazonaws.com/blobs/1a2/b.../1a2b..."],
    ...     "digest": {"dandi:dandi-etag": "0123...-1"}}})
    >>> a.read_url, a.etag, a.is_nwb
    ('https://dandiarchive.s3.amazonaws.com/blobs/1a2/b.../1a2b...', '0123...-1', True)
    """

    asset_id: str
    path: str
    size: int
    blob_id: str | None = None
    zarr_id: str | None = None
    created: str | None = None
    modified: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def from_api(cls, record: Mapping[str, Any]) -> DandiAsset:
        """From an item of ``/versions/{v}/assets/?metadata=true`` or from an asset's metadata
        alone (``/assets/{id}/``)."""
        meta = dict(record.get("metadata") or ({} if "asset_id" in record else record))
        asset_id = record.get("asset_id") or meta.get("identifier")
        if not asset_id:
            raise DandiAPIError(f"an asset without an id in the API's answer: {record!r:.200}")
        zarr_id = record.get("zarr")
        blob_id = record.get("blob")
        if "asset_id" not in record:  # metadata only: the ids are in the S3 URL
            s3 = next((u for u in _content_urls(meta) if "/download" not in u), "")
            key = _s3_location(s3)[1] if s3 else ""
            if meta.get("encodingFormat") == "application/x-zarr" or key.startswith("zarr/"):
                zarr_id = key.strip("/").split("/")[1] if key.count("/") >= 1 else None
            elif key.startswith("blobs/"):
                blob_id = key.rstrip("/").rsplit("/", 1)[-1]
        return cls(asset_id=str(asset_id), path=str(record.get("path") or meta.get("path")),
                   size=int(record.get("size") or meta.get("contentSize") or 0),
                   blob_id=blob_id, zarr_id=zarr_id, created=record.get("created"),
                   modified=record.get("modified") or meta.get("dateModified"), metadata=meta)

    @property
    def is_zarr(self) -> bool:
        return self.zarr_id is not None or \
            self.metadata.get("encodingFormat") == "application/x-zarr"

    @property
    def is_nwb(self) -> bool:
        """An NWB file (``.nwb``) or a Zarr NWB store (``.nwb.zarr``, ``x-zarr`` + ``.nwb``)."""
        name = self.path.rstrip("/").rsplit("/", 1)[-1].lower()
        if self.is_zarr:
            return ".nwb" in name
        return name.endswith(".nwb") or self.metadata.get("encodingFormat") == "application/x-nwb"

    @property
    def digest(self) -> dict[str, str]:
        return dict(self.metadata.get("digest") or {})

    @property
    def etag(self) -> str | None:
        """``dandi:dandi-etag``: the S3 ETag of the blob (multipart MD5)."""
        return self.digest.get("dandi:dandi-etag")

    @property
    def sha256(self) -> str | None:
        return self.digest.get("dandi:sha2-256")

    @property
    def zarr_checksum(self) -> str | None:
        return self.digest.get("dandi:dandi-zarr-checksum")

    @property
    def s3_url(self) -> str | None:
        """The object's own URL (``https://dandiarchive.s3.amazonaws.com/blobs/...``)."""
        return next((u for u in _content_urls(self.metadata) if "/download" not in u), None)

    @property
    def download_url(self) -> str | None:
        """The API's download URL (answers with a redirect to a presigned S3 URL)."""
        return next((u for u in _content_urls(self.metadata) if "/download" in u), None)

    @property
    def read_url(self) -> str:
        """What intake_nwb reads: the S3 URL of a blob, ``s3://bucket/zarr/<id>`` of a Zarr."""
        if self.is_zarr:
            if not self.s3_url:
                raise DandiAPIError("a Zarr asset without an S3 URL", source=self.path)
            bucket, key, _ = _s3_location(self.s3_url)
            return f"s3://{bucket}/{key.rstrip('/')}"
        url = self.s3_url or self.download_url
        if not url:
            raise DandiAPIError("an asset without a content URL", source=self.path)
        return url

    @property
    def storage_options(self) -> dict[str, Any]:
        """fsspec options for :attr:`read_url` (anonymous S3, the endpoint of a non-AWS S3)."""
        if not self.is_zarr or not self.s3_url:
            return {}
        endpoint = _s3_location(self.s3_url)[2]
        return {"anon": True, **({"endpoint_url": endpoint} if endpoint else {})}

    def pin(self, dandiset_id: str, version: str) -> dict[str, Any]:
        """What a catalog records about this asset and :func:`verify_pins` checks."""
        pin: dict[str, Any] = {
            "dandiset": f"{dandiset_id}/{version}", "asset_id": self.asset_id,
            "path": self.path, "size": self.size, "s3_url": self.s3_url,
            "download_url": self.download_url}
        if self.is_zarr:
            pin.update(zarr_id=self.zarr_id, zarr_checksum=self.zarr_checksum,
                       storage_options=self.storage_options)
        else:
            pin.update(blob_id=self.blob_id, etag=self.etag)
            if self.sha256:
                pin["sha256"] = self.sha256
        return {k: v for k, v in pin.items() if v is not None}


def _content_urls(meta: Mapping[str, Any]) -> list[str]:
    urls = meta.get("contentUrl") or []
    return [urls] if isinstance(urls, str) else [u for u in urls if isinstance(u, str) and u]


# -- the REST client -----------------------------------------------------------------------------

class DandiClient:
    """A small read-only client of the DANDI REST API.

    Parameters
    ----------
    api_url:
        The API root (``https://api.dandiarchive.org/api``, or a staging/test server).
    token:
        API key for embargoed dandisets; default ``$DANDI_API_KEY``. Sent only to ``api_url``'s
        host (``Authorization: token <key>``).
    timeout:
        Seconds per request. Failed requests (connection errors, 429, 5xx) are retried.

    Examples
    --------
    >>> client = DandiClient()  # doctest: +SKIP
    >>> [a.path for a in client.iter_assets("000006", "0.220126.1855",
    ...                                     glob="*ses-20170316*")]  # doctest: +SKIP
    ['sub-anm369962/sub-anm369962_ses-20170316.nwb']
    """

    def __init__(self, api_url: str = DANDI_API_URL, *, token: str | None = None,
                 timeout: float = 60.0, session: requests.Session | None = None):
        self.api_url = api_url.rstrip("/")
        self.token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = f"intake-nwb/{__version__}"
        self._origin = _origin(self.api_url)

    def _headers(self, url: str) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.token and _origin(url) == self._origin:
            headers["Authorization"] = f"token {self.token}"
        return headers

    def get(self, url: str, params: Mapping[str, Any] | None = None, *, what: str = "") -> Any:
        """GET ``url`` (absolute, or a path below ``api_url``) and decode its JSON."""
        if not url.startswith(("http://", "https://")):
            url = f"{self.api_url}/{url.lstrip('/')}"
        resp = None
        for attempt in range(_TRIES):
            try:
                resp = self.session.get(url, params=params, headers=self._headers(url),
                                        timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if attempt == _TRIES - 1:
                    raise DandiAPIError(f"cannot reach the DANDI API ({exc})", source=url) from exc
            else:
                if resp.status_code not in _RETRY_STATUS or attempt == _TRIES - 1:
                    break
            time.sleep(0.25 * 2**attempt)
        assert resp is not None
        where = resp.url or url
        if resp.status_code == 404:
            raise DandiNotFoundError(f"not found{' (' + what + ')' if what else ''}",
                                     source=where)
        if resp.status_code in (401, 403):
            hint = ("set DANDI_API_KEY to an API key with access (embargoed dandiset)"
                    if not self.token else "the API key in use has no access")
            raise DandiAPIError(f"HTTP {resp.status_code}: {hint}", source=where)
        if resp.status_code >= 400:
            raise DandiAPIError(f"HTTP {resp.status_code}: {resp.text[:300]}", source=where)
        try:
            return resp.json()
        except ValueError as exc:
            raise DandiAPIError(f"not a JSON answer ({resp.text[:120]!r})", source=where) from exc

    def dandiset(self, dandiset_id: str) -> dict[str, Any]:
        """``/dandisets/{id}/``: identifier, embargo status, draft and latest published version."""
        return self.get(f"dandisets/{dandiset_id}/", what=f"dandiset {dandiset_id}")

    def versions(self, dandiset_id: str) -> list[str]:
        """The dandiset's version names, oldest first (``draft`` included)."""
        return [v["version"] for v in self._pages(f"dandisets/{dandiset_id}/versions/",
                                                  {"page_size": PAGE_SIZE})]

    def latest_version(self, dandiset_id: str) -> str:
        """The most recent published version, else ``"draft"``."""
        info = self.dandiset(dandiset_id)
        published = info.get("most_recent_published_version") or {}
        return str(published.get("version") or "draft")

    def version_metadata(self, dandiset_id: str, version: str) -> dict[str, Any]:
        """``/dandisets/{id}/versions/{version}/``: the version's metadata (name, DOI, ...).

        A 404 says whether the dandiset or the version is missing (and lists the versions).
        """
        try:
            return self.get(f"dandisets/{dandiset_id}/versions/{version}/")
        except DandiNotFoundError:
            try:
                known = self.versions(dandiset_id)
            except DandiNotFoundError:
                raise DandiNotFoundError(f"no dandiset {dandiset_id} at {self.api_url}",
                                         source=f"DANDI:{dandiset_id}") from None
            raise DandiNotFoundError(
                f"dandiset {dandiset_id} has no version {version!r} (versions: "
                f"{', '.join(known) or 'none'})", source=f"DANDI:{dandiset_id}") from None

    def asset(self, asset_id: str, dandiset_id: str | None = None, version: str | None = None
              ) -> DandiAsset:
        """One asset by id (checked to belong to the version when one is given)."""
        if dandiset_id and version:
            path = f"dandisets/{dandiset_id}/versions/{version}/assets/{asset_id}/"
            what = f"asset {asset_id} in dandiset {dandiset_id} version {version}"
        else:
            path, what = f"assets/{asset_id}/", f"asset {asset_id}"
        return DandiAsset.from_api(self.get(path, what=what))

    def iter_assets(self, dandiset_id: str, version: str, *, glob: str | None = None,
                    order: str = "path", page_size: int = PAGE_SIZE) -> Iterator[DandiAsset]:
        """Every asset of a version (with metadata), following the API's pages.

        ``glob`` is the API's: ``*`` matches anything (``/`` too), case-insensitive, against
        the whole path (``"sub-01/*.nwb"``, ``"*_ecephys.nwb"``).
        """
        params: dict[str, Any] = {"metadata": "true", "order": order, "page_size": page_size}
        if glob:
            params["glob"] = glob
        for record in self._pages(f"dandisets/{dandiset_id}/versions/{version}/assets/",
                                  params, what=f"assets of dandiset {dandiset_id} "
                                               f"version {version}"):
            yield DandiAsset.from_api(record)

    def _pages(self, path: str, params: Mapping[str, Any], *, what: str = ""
               ) -> Iterator[dict[str, Any]]:
        url: str | None = path
        query: Mapping[str, Any] | None = params
        while url:
            page = self.get(url, query, what=what)
            if not isinstance(page, dict) or not isinstance(page.get("results"), list):
                raise DandiAPIError(f"not a page of results: {page!r:.200}", source=url)
            yield from page["results"]
            url, query = page.get("next"), None  # "next" carries the query


def _origin(url: str) -> str:
    u = urllib.parse.urlsplit(url)
    return f"{u.scheme}://{u.netloc}".lower()


# -- selecting assets ----------------------------------------------------------------------------

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


# -- pins ----------------------------------------------------------------------------------------

@dataclass
class _Probe:
    url: str
    status: int
    size: int | None = None
    etag: str | None = None


def _probe(url: str, *, ranged: bool, token: str | None, api_url: str | None,
           timeout: float) -> _Probe:
    """HEAD (S3 URLs) or a one-byte ranged GET (download URLs: their presigned targets may not
    be HEAD-able): status, full size and ETag, redirects followed."""
    headers: dict[str, str] = {"Accept-Encoding": "identity"}
    if token and api_url and _origin(url) == _origin(api_url):
        headers["Authorization"] = f"token {token}"  # requests drops it on leaving the host
    try:
        if ranged:
            resp = requests.get(url, headers={**headers, "Range": "bytes=0-0"},
                                allow_redirects=True, stream=True, timeout=timeout)
            resp.close()
        else:
            resp = requests.head(url, headers=headers, allow_redirects=True, timeout=timeout)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise IntakeNWBError(f"cannot reach it to check its DANDI pin ({exc})",
                             source=url) from exc
    size: int | None = None
    content_range = resp.headers.get("Content-Range", "")
    if resp.status_code == 206 and "/" in content_range:
        total = content_range.rsplit("/", 1)[1]
        size = int(total) if total.isdigit() else None
    elif resp.headers.get("Content-Length", "").isdigit():
        size = int(resp.headers["Content-Length"])
    etag = resp.headers.get("ETag")
    return _Probe(url, resp.status_code, size, etag.strip('"') if etag else None)


def _check_bytes(pin: Mapping[str, Any], probe: _Probe, key: str) -> None:
    problems = []
    if probe.size is not None and pin.get("size") is not None and probe.size != pin["size"]:
        problems.append(f"size {pin['size']} -> {probe.size}")
    if probe.etag and pin.get("etag") and probe.etag != pin["etag"]:
        problems.append(f"etag {pin['etag']} -> {probe.etag}")
    if problems:
        raise PinMismatchError(_mismatch(pin, "; ".join(problems)), source=key)


def _mismatch(pin: Mapping[str, Any], what: str) -> str:
    return (f"DANDI asset {pin.get('path')} (asset {pin.get('asset_id')}, dandiset "
            f"{pin.get('dandiset')}) no longer matches the catalog's pin: {what}. The bytes "
            "changed since the catalog was built; rebuild it (intake-nwb dandi ...) or check "
            "the mirror it reads from")


def _verify_one(key: str, pin: Mapping[str, Any], relocate: Mapping[str, str] | None,
                token: str | None, api_url: str | None, timeout: float,
                storage_options: Mapping[str, Any] | None = None) -> str:
    """Check one asset; return the URL to read it from."""
    from .store import relocate_url

    if pin.get("zarr_id") or pin.get("root_identity") is not None:
        target = relocate_url(key, relocate)
        src = Source.from_url(target, pin.get("storage_options") or {})
        try:
            current = src.identity()
        except SourceNotFoundError as exc:
            raise PinMismatchError(_mismatch(pin, f"the Zarr store is gone ({exc})"),
                                   source=key) from exc
        recorded = pin.get("root_identity")
        if recorded and not identity_matches(recorded, current):
            raise PinMismatchError(_mismatch(pin, f"root metadata {recorded} -> {current}"),
                                   source=key)
        return target
    target = relocate_url(key, relocate)
    if target != key and target not in (pin.get("s3_url"), pin.get("download_url")):
        # a mirror the user relocated to: compare the size (ETags of copies may differ)
        try:
            size = Source.from_url(target, storage_options).identity().get("size")
        except SourceNotFoundError as exc:
            raise PinMismatchError(_mismatch(pin, f"missing from the mirror ({exc})"),
                                   source=target) from exc
        if size != pin.get("size"):
            raise PinMismatchError(_mismatch(pin, f"size {pin.get('size')} -> {size} at "
                                                  f"{target}"), source=target)
        return target
    s3, download = pin.get("s3_url"), pin.get("download_url")
    probe = _probe(s3, ranged=False, token=token, api_url=api_url, timeout=timeout) if s3 \
        else None
    if probe is None or probe.status in (401, 403):
        if not download:
            raise PinMismatchError(_mismatch(pin, f"HTTP {probe.status if probe else '?'} and "
                                                  "no download URL"), source=key)
        fallback = _probe(download, ranged=True, token=token, api_url=api_url, timeout=timeout)
        if fallback.status not in (200, 206):
            raise _http_failure(pin, fallback, key)
        _check_bytes(pin, fallback, key)
        return download
    if probe.status != 200:
        raise _http_failure(pin, probe, key)
    _check_bytes(pin, probe, key)
    return s3


def _http_failure(pin: Mapping[str, Any], probe: _Probe, key: str) -> IntakeNWBError:
    if probe.status == 404:
        return PinMismatchError(_mismatch(pin, f"{probe.url} answers 404 (gone)"), source=key)
    if probe.status in (401, 403):
        return DandiAPIError(f"HTTP {probe.status} from {probe.url} (embargoed? set "
                             f"{TOKEN_ENV})", source=key)
    return IntakeNWBError(f"cannot check the DANDI pin: HTTP {probe.status} from {probe.url}",
                          source=key)


def _pinned_url(source: str, pins: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The pin key a source reads: itself, or the source recorded in a reference file."""
    if source in pins:
        return source
    by_url = {u: k for k, p in pins.items() for u in (p.get("s3_url"), p.get("download_url"))
              if u}
    if source in by_url:
        return by_url[source]
    local = source[7:] if source.startswith("file://") else source
    if "://" not in local and os.path.exists(local):
        from .refs import cache as refcache

        try:  # memoised: the store opens the same document next
            recorded = refcache.read_meta(local).get("source")
        except (IntakeNWBError, OSError, ValueError):
            return None
        if recorded in pins:
            return recorded
        return by_url.get(recorded) if recorded else None
    return None


def verify_pins(pins: Mapping[str, Mapping[str, Any]] | None,
                sources: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None = None,
                *, relocate: Mapping[str, str] | None = None, token: str | None = None,
                api_url: str | None = None, storage_options: Mapping[str, Any] | None = None,
                timeout: float = 30.0, max_workers: int = 16) -> dict[str, str]:
    """Check that the pinned DANDI assets a catalog entry reads are the bytes they were.

    The hook a driver calls before it reads (once per source object): one HEAD per NWB file
    (size and ETag against the pin), or the root metadata's identity of a Zarr store. An S3 URL
    that answers 401/403 is retried through the asset's API download URL (a one-byte ranged
    GET, redirects followed), which is then what to read.

    Parameters
    ----------
    pins:
        ``{url: pin}`` as :func:`dandi_catalog` writes into each entry's ``pins`` argument
        (``url`` is the URL recorded in the asset's reference file). None or empty: nothing to
        check, ``relocate`` is returned as it is.
    sources:
        What the entry reads: reference files (their recorded source is looked up), NWB URLs
        or Zarr URLs. Sources that are not pinned are not checked. None: check every pin.
    relocate:
        The entry's own URL prefix map; a relocated asset (a mirror) is checked where it is
        read, by size.
    token:
        DANDI API key for download URLs of embargoed assets (default ``$DANDI_API_KEY``).
    api_url:
        The API whose URLs get the token (default: the download URLs' own host).
    storage_options:
        fsspec options for relocated copies (the entry's ``storage_options``).

    Returns
    -------
    dict
        The relocation map to read with: ``relocate`` plus ``{pinned URL: download URL}`` for
        assets whose S3 URL refused access. Pass it on as ``relocate=``.

    Raises
    ------
    PinMismatchError
        An asset's size or ETag differs from its pin, or it is gone (all such assets are named).

    Examples
    --------
    >>> relocate = verify_pins(entry_args["pins"], ["refs/ses-1.nwb.0123456789ab.json"])
    ... # doctest: +SKIP
    >>> scan_nwb(sources, "/units", relocate=relocate)  # doctest: +SKIP
    """
    out = dict(relocate or {})
    if not pins:
        return out
    if sources is None:
        keys = list(pins)
    else:
        items = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
        keys = list(dict.fromkeys(k for k in (_pinned_url(os.fspath(s), pins) for s in items)
                                  if k is not None))
    if not keys:
        return out
    token = token if token is not None else os.environ.get(TOKEN_ENV) or None
    results: dict[str, str] = {}
    failures: dict[str, BaseException] = {}
    with cf.ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(keys)))) as pool:
        futures = {pool.submit(_verify_one, k, pins[k], relocate, token,
                               api_url or pins[k].get("download_url"), timeout,
                               storage_options): k for k in keys}
        for fut in cf.as_completed(futures):
            try:
                results[futures[fut]] = fut.result()
            except Exception as exc:  # noqa: BLE001 - reported together below
                failures[futures[fut]] = exc
    if failures:
        if len(failures) == 1:
            raise next(iter(failures.values()))
        mismatched = {k: e for k, e in failures.items() if isinstance(e, PinMismatchError)}
        cls = PinMismatchError if mismatched else IntakeNWBError
        raise cls(f"{len(failures)} pinned DANDI assets failed verification:\n" + "\n".join(
            f"  {e}" for e in failures.values()))
    for key, url in results.items():
        if url != key and key not in out:
            out[key] = url
    return out


def read_pins(catalog: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``dandi`` block of a pinned catalog's metadata (dandiset, version, API, assets).

    Examples
    --------
    >>> read_pins("dandi_000006.yaml")["version"]  # doctest: +SKIP
    '0.220126.1855'
    """
    import yaml

    with open(catalog) as f:
        doc = yaml.safe_load(f) or {}
    block = (doc.get("metadata") or {}).get(PIN_KEY)
    if not block:
        raise IntakeNWBError("not a pinned DANDI catalog (no metadata.dandi)", source=str(catalog))
    return block


# -- catalogs ------------------------------------------------------------------------------------

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

    from .catalog import build_catalog

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

    from .refs import cache as refcache

    if src_dir.resolve() == dest_dir.resolve():
        return
    for url in urls:
        found = refcache.existing(refcache.ref_path(url, src_dir))
        if found is None or refcache.existing(refcache.ref_path(url, dest_dir)) is not None:
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

    from .intake.drivers import entry_names
    from .refs import cache as refcache

    file = Path(path).resolve()
    names = {url: refcache.ref_name(url).rsplit(".", 1)[0] for url in pins}
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

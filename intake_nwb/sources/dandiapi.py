"""The DANDI REST API, read-only: one client per API on the event loop's shared aiohttp session
(:func:`~.sessions.loop_http`: the package's retries of connection errors, 429 and 5xx, and its
timeouts), with what the archive answered kept for the process.

Kept: a published version's asset listing and path lookups for as long as the process runs (a
published version never changes); the draft's, and which version is the most recent published
one, for :data:`MUTABLE_TTL` seconds. Concurrent askers of the same thing share one request,
from any thread or event loop.
"""

from __future__ import annotations

import asyncio
import bisect
import concurrent.futures as cf
import json
import math
import os
import re
import threading
import time
import urllib.parse
import warnings
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from fsspec.asyn import get_loop, sync_wrapper
from fsspec.utils import glob_translate

from .._version import __version__
from ..errors import DandiAPIError, DandiNotFoundError, DraftVersionWarning, RemoteIOError
from ..util.lru import LRU
from ..util.memo import cached_property
from .dandiasset import DandiAsset
from .dandiurl import DANDI_API_URL, DandiRef
from .sessions import loop_http

PAGE_SIZE = 1000  # the archive's maximum page size
LOOKUP_PAGE_SIZE = 20  # ?path= answers the exact asset alone when it exists
TOKEN_ENV = "DANDI_API_KEY"
#: Seconds the draft's answers (and "the most recent published version") are kept.
MUTABLE_TTL = 60.0

T = TypeVar("T")


def origin(url: str) -> str:
    u = urllib.parse.urlsplit(url)
    return f"{u.scheme}://{u.netloc}".lower()


def warn_draft(dandiset_id: str, stacklevel: int = 3) -> None:
    """The :class:`DraftVersionWarning` every entry point gives when the draft is named."""
    warnings.warn(DraftVersionWarning(
        f"dandiset {dandiset_id}: using its draft, which can change at any time, so this is "
        "not reproducible: the same call may select other assets tomorrow, and the archive "
        "may delete blobs only the draft used (a catalog then fails verification). Publish "
        "a version and use it instead."), stacklevel=stacklevel)


@dataclass(frozen=True)
class Listing:
    """Every asset of a dandiset version, by path (fsspec glob semantics in :meth:`glob`).

    Examples
    --------
    >>> a = DandiAsset("id1", "sub-1/sub-1_ses-1.nwb", 10)
    >>> listing = Listing({a.path: a})
    >>> [x.path for x in listing.glob("sub-*/*.nwb")], listing.glob("*.nwb")
    (['sub-1/sub-1_ses-1.nwb'], [])
    >>> listing.is_dir("sub-1"), [x.path for x in listing.glob("sub-1/")]
    (True, ['sub-1/sub-1_ses-1.nwb'])
    """

    assets: dict[str, DandiAsset]

    @cached_property
    def paths(self) -> list[str]:
        return sorted(self.assets)

    def get(self, path: str) -> DandiAsset | None:
        return self.assets.get(path)

    def under(self, folder: str) -> list[DandiAsset]:
        """Assets below ``folder`` (``""``: all), in path order."""
        if not folder:
            return [self.assets[p] for p in self.paths]
        prefix = folder.rstrip("/") + "/"
        i = bisect.bisect_left(self.paths, prefix)
        out = []
        while i < len(self.paths) and self.paths[i].startswith(prefix):
            out.append(self.assets[self.paths[i]])
            i += 1
        return out

    def is_dir(self, path: str) -> bool:
        prefix = path.rstrip("/") + "/"
        i = bisect.bisect_left(self.paths, prefix)
        return i < len(self.paths) and self.paths[i].startswith(prefix)

    def glob(self, pattern: str) -> list[DandiAsset]:
        """Assets whose path matches ``pattern`` (``*`` stays within a folder, ``**`` does not;
        case-sensitive); a folder (``"sub-1/"``) or a path without wildcards that names no
        asset selects the assets below it."""
        if not any(c in pattern for c in "*?["):
            asset = self.assets.get(pattern.rstrip("/"))
            return [asset] if asset is not None and not pattern.endswith("/") else \
                self.under(pattern)
        rx = re.compile(glob_translate(pattern))
        return [self.assets[p] for p in self.paths if rx.match(p)]


class _Memo:
    """Awaitable results by key, shared by every thread and event loop: one fetch per key at a
    time, a failure is not kept, an entry lives ``ttl`` seconds (None: until evicted)."""

    def __init__(self, max_items: int):
        self._lru: LRU[tuple[cf.Future[Any], float]] = LRU(max_items)
        self._lock = threading.Lock()

    async def get(self, key: Hashable, fetch: Callable[[], Awaitable[T]], ttl: float | None
                  ) -> T:
        now = time.monotonic()
        with self._lock:
            hit = self._lru.get(key)
            owner = hit is None or hit[1] <= now
            if owner:
                fut: cf.Future[Any] = cf.Future()
                self._lru.put(key, (fut, math.inf if ttl is None else now + ttl))
            else:
                fut = hit[0]  # type: ignore[index]
        if not owner:
            return await asyncio.wrap_future(fut)
        try:
            value = await fetch()
        except BaseException as exc:
            with self._lock:
                self._lru.put(key, (fut, -math.inf))
            if isinstance(exc, asyncio.CancelledError):
                fut.cancel()
            else:
                fut.set_exception(exc)
            raise
        fut.set_result(value)
        return value

    def peek(self, key: Hashable) -> Any:
        """The value held for ``key`` now (no fetch), else None."""
        hit = self._lru.get(key)
        if hit is None or hit[1] <= time.monotonic() or not hit[0].done():
            return None
        fut = hit[0]
        return None if fut.cancelled() or fut.exception() else fut.result()


_listings = _Memo(32)
_lookups = _Memo(4096)
_published = _Memo(256)


class DandiClient:
    """A read-only client of one DANDI API.

    Methods come in pairs: ``_name`` is the coroutine (for code on an event loop, such as the
    ``dandi://`` filesystem), ``name`` runs it on fsspec's IO loop.

    Parameters
    ----------
    api_url:
        The API root (``https://api.dandiarchive.org/api``, or a sandbox/test server).
    token:
        API key for embargoed dandisets; default ``$DANDI_API_KEY``. Sent only to
        ``api_url``'s origin (``Authorization: token <key>``); aiohttp drops it on redirects
        elsewhere.
    content_hosts:
        Hosts trusted for assets' S3 URLs besides AWS's and the API's own (see
        :mod:`~intake_nwb.sources.dandiasset`).

    Examples
    --------
    >>> client = DandiClient()
    >>> client.api_url
    'https://api.dandiarchive.org/api'
    >>> # needs the DANDI archive (internet)
    >>> [a.path for a in client.assets("000006", "0.220126.1855",
    ...                                glob="*ses-20170316*")]  # doctest: +SKIP
    ['sub-anm369962/sub-anm369962_ses-20170316.nwb']
    """

    def __init__(self, api_url: str = DANDI_API_URL, *, token: str | None = None,
                 content_hosts: Iterable[str] = ()):
        self.api_url = api_url.rstrip("/")
        self.token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        self.content_hosts = tuple(content_hosts)
        self._origin = origin(self.api_url)
        # what the archive shows depends on the key (embargoed dandisets)
        self._key = (self.api_url, self.token, self.content_hosts)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop the synchronous methods run on (fsspec's)."""
        return get_loop()

    def headers(self, url: str) -> dict[str, str]:
        """Request headers for ``url``: the API key only for the API's origin."""
        headers = {"Accept": "application/json", "User-Agent": f"intake-nwb/{__version__}"}
        if self.token and origin(url) == self._origin:
            headers["Authorization"] = f"token {self.token}"
        return headers

    async def _get(self, url: str, params: Mapping[str, Any] | None = None, *, what: str = ""
                   ) -> Any:
        """GET ``url`` (absolute on the API's origin, or a path below ``api_url``) as JSON."""
        import aiohttp

        if not url.startswith(("http://", "https://")):
            url = f"{self.api_url}/{url.lstrip('/')}"
        elif origin(url) != self._origin:
            raise DandiAPIError("the API linked to another server: not followed", source=url)
        session = await loop_http().set_session()
        try:
            async with session.get(url, params=params, headers=self.headers(url)) as resp:
                status, body, where = resp.status, await resp.read(), str(resp.url)
        except RemoteIOError as exc:
            raise DandiAPIError(f"cannot reach the DANDI API ({exc.message})",
                                source=url) from exc
        except aiohttp.ClientError as exc:
            raise DandiAPIError(f"cannot reach the DANDI API ({type(exc).__name__}: {exc})",
                                source=url) from exc
        if status == 404:
            raise DandiNotFoundError(f"not found{' (' + what + ')' if what else ''}",
                                     source=where)
        if status in (401, 403):
            hint = (f"set {TOKEN_ENV} to an API key with access (embargoed dandiset)"
                    if not self.token else "the API key in use has no access")
            raise DandiAPIError(f"HTTP {status}: {hint}", source=where)
        if status >= 400:
            raise DandiAPIError(f"HTTP {status}: {body[:300].decode(errors='replace')}",
                                source=where)
        try:
            return json.loads(body)
        except ValueError as exc:
            raise DandiAPIError(f"not a JSON answer ({body[:120]!r})", source=where) from exc

    async def _pages(self, path: str, params: Mapping[str, Any], *, what: str = "",
                     first_only: bool = False) -> list[dict[str, Any]]:
        """The ``results`` of every page (``next`` links followed), or of the first only."""
        out: list[dict[str, Any]] = []
        url: str | None = path
        query: Mapping[str, Any] | None = params
        seen: set[str] = set()
        while url:
            page = await self._get(url, query, what=what)
            if not isinstance(page, dict) or not isinstance(page.get("results"), list):
                raise DandiAPIError(f"not a page of results: {page!r:.200}", source=url)
            out.extend(page["results"])
            nxt = page.get("next")
            if first_only or not nxt:
                break
            if not isinstance(nxt, str) or nxt in seen:
                raise DandiAPIError(f"a page links to itself or to nothing usable: {nxt!r}",
                                    source=url)
            seen.add(nxt)
            url, query = nxt, None  # "next" carries the query
        return out

    def _asset_from(self, record: Mapping[str, Any]) -> DandiAsset:
        return DandiAsset.from_api(record, api_url=self.api_url,
                                   content_hosts=self.content_hosts)

    async def _missing(self, dandiset_id: str, version: str, what: str) -> DandiNotFoundError:
        """The error of a 404 below a version: which of dandiset, version or ``what`` is
        missing (the versions that exist are listed)."""
        where = f"DANDI:{dandiset_id}"
        try:
            known = await self._versions(dandiset_id)
        except DandiNotFoundError:
            return DandiNotFoundError(f"no dandiset {dandiset_id} at {self.api_url}",
                                      source=where)
        if version not in known:
            return DandiNotFoundError(f"dandiset {dandiset_id} has no version {version!r} "
                                      f"(versions: {', '.join(known) or 'none'})", source=where)
        return DandiNotFoundError(f"no {what} in dandiset {dandiset_id} version {version}",
                                  source=where)

    async def _dandiset(self, dandiset_id: str) -> dict[str, Any]:
        """``/dandisets/{id}/``: identifier, embargo status, draft and latest published version."""
        try:
            return await self._get(f"dandisets/{dandiset_id}/")
        except DandiNotFoundError:
            raise DandiNotFoundError(f"no dandiset {dandiset_id} at {self.api_url}",
                                     source=f"DANDI:{dandiset_id}") from None

    async def _versions(self, dandiset_id: str) -> list[str]:
        """The dandiset's version names, oldest first (``draft`` included)."""
        return [str(v.get("version")) for v in await self._pages(
            f"dandisets/{dandiset_id}/versions/", {"page_size": PAGE_SIZE},
            what=f"dandiset {dandiset_id}")]

    async def _published_version(self, dandiset_id: str) -> str:
        """The most recent published version; a dandiset with none raises, listing its
        versions (its draft is used only when named)."""

        async def fetch() -> str:
            info = await self._dandiset(dandiset_id)
            published = (info.get("most_recent_published_version") or {}).get("version")
            if published:
                return str(published)
            known = await self._versions(dandiset_id)
            raise DandiNotFoundError(
                f"dandiset {dandiset_id} has no published version (versions: "
                f"{', '.join(known) or 'none'}); its draft is read only when named "
                "(version='draft', --version draft, dandi://.../"
                f"{dandiset_id}@draft/...), and is not reproducible",
                source=f"DANDI:{dandiset_id}")

        return await _published.get((*self._key, dandiset_id), fetch, MUTABLE_TTL)

    async def _pin(self, ref: DandiRef) -> DandiRef:
        """``ref`` with its version: the most recent published one when it names none."""
        return ref if ref.version else ref.at(await self._published_version(ref.dandiset_id))

    async def _version_metadata(self, dandiset_id: str, version: str) -> dict[str, Any]:
        """``/dandisets/{id}/versions/{version}/``: the version's metadata (name, DOI, ...)."""
        try:
            return await self._get(f"dandisets/{dandiset_id}/versions/{version}/")
        except DandiNotFoundError:
            raise await self._missing(dandiset_id, version, "version metadata") from None

    async def _asset(self, asset_id: str, dandiset_id: str | None = None,
                     version: str | None = None) -> DandiAsset:
        """One asset by id (checked to belong to the version when one is given)."""
        if dandiset_id and version:
            try:
                return self._asset_from(await self._get(
                    f"dandisets/{dandiset_id}/versions/{version}/assets/{asset_id}/"))
            except DandiNotFoundError:
                raise await self._missing(dandiset_id, version, f"asset {asset_id}") from None
        return self._asset_from(await self._get(f"assets/{asset_id}/",
                                                what=f"asset {asset_id}"))

    async def _assets(self, dandiset_id: str, version: str, *, glob: str | None = None,
                      prefix: str | None = None) -> list[DandiAsset]:
        """A version's assets in path order, filtered by the API (not kept).

        ``glob`` is the API's: ``*`` matches anything (``/`` too), case-insensitive, against
        the whole path (``"sub-01/*.nwb"``); ``prefix``: paths starting with it (any case).
        """
        params: dict[str, Any] = {"metadata": "true", "order": "path", "page_size": PAGE_SIZE}
        if glob:
            params["glob"] = glob
        if prefix:
            params["path"] = prefix
        try:
            records = await self._pages(
                f"dandisets/{dandiset_id}/versions/{version}/assets/", params)
        except DandiNotFoundError:
            raise await self._missing(dandiset_id, version, "assets") from None
        return [self._asset_from(r) for r in records]

    async def _listing(self, dandiset_id: str, version: str) -> Listing:
        """Every asset of a version, kept (see the module documentation)."""

        async def fetch() -> Listing:
            return Listing({a.path: a for a in await self._assets(dandiset_id, version)})

        return await _listings.get((*self._key, dandiset_id, version), fetch, _ttl(version))

    async def _asset_at(self, dandiset_id: str, version: str, path: str) -> DandiAsset | None:
        """The asset at ``path`` (kept), or None: from the version's listing when it is held,
        else from one ``?path=`` request (the archive answers the exact asset alone)."""
        listing = _listings.peek((*self._key, dandiset_id, version))
        if listing is not None:
            return listing.get(path)

        async def fetch() -> DandiAsset | None:
            try:
                records = await self._pages(
                    f"dandisets/{dandiset_id}/versions/{version}/assets/",
                    {"metadata": "true", "order": "path", "path": path,
                     "page_size": LOOKUP_PAGE_SIZE}, first_only=True)
            except DandiNotFoundError:
                raise await self._missing(dandiset_id, version, f"asset at {path}") from None
            return next((self._asset_from(r) for r in records if r.get("path") == path), None)

        return await _lookups.get((*self._key, dandiset_id, version, path), fetch,
                                  _ttl(version))

    dandiset = sync_wrapper(_dandiset)
    versions = sync_wrapper(_versions)
    published_version = sync_wrapper(_published_version)
    pin = sync_wrapper(_pin)
    version_metadata = sync_wrapper(_version_metadata)
    asset = sync_wrapper(_asset)
    assets = sync_wrapper(_assets)
    listing = sync_wrapper(_listing)
    asset_at = sync_wrapper(_asset_at)


def _ttl(version: str) -> float | None:
    return MUTABLE_TTL if version == "draft" else None


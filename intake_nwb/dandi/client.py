"""A small read-only client of the DANDI REST API (retries, pages, tokens)."""

from __future__ import annotations

import os
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any

import requests

from .._version import __version__
from ..errors import (
    DandiAPIError,
    DandiNotFoundError,
)
from .assets import DandiAsset

DANDI_API_URL = "https://api.dandiarchive.org/api"
PAGE_SIZE = 1000  # the archive's maximum page size
TOKEN_ENV = "DANDI_API_KEY"
_RETRY_STATUS = {429, 500, 502, 503, 504}
_TRIES = 4


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



"""``dandi://``: DANDI assets as an fsspec filesystem, named by path, read from the archive's S3.

::

    dandi://<instance>/<dandiset>[@<version>][/<asset path, folder or glob>]

(grammar and instances: :mod:`~intake_nwb.sources.dandiurl`). What each operation costs:

- **Naming.** Names carry the version. A URL without ``@<version>`` reads the dandiset's most
  recent published version (one ``/dandisets/<id>/`` request, kept a minute), and what
  ``info``, ``ls``, ``glob`` and ``find`` return, and what a :class:`~intake_nwb.sources.Source`
  becomes (:func:`canonical_url`), names it: ``dandi://dandi/000006@0.220126.1855/...``.
  ``@draft`` is read only when named, with a :class:`DraftVersionWarning`.
- **Resolution.** ``ls``/``glob``/``find`` read the version's whole listing once (pages of
  1000, kept: see :mod:`~intake_nwb.sources.dandiapi`); a single path costs one ``?path=``
  request unless that listing is held; after that a path costs nothing (kept per filesystem).
  Globs have fsspec's semantics (``*`` stays within a folder, ``**`` does not, ``?`` and
  ``[...]`` as in fnmatch; case-sensitive), not the API's.
- **Bytes.** A file asset is read from its S3 URL through fsspec's HTTP filesystem with the
  package's retries and timeouts (one aiohttp session per event loop, shared with the REST
  calls); an S3 URL that answers 401/403 (embargoed, restricted) is read, from then on,
  through the API's download URL with the API key (a redirect to a presigned URL per
  request). ``open()`` gives a buffered file for h5py; ``cat_ranges`` reads concurrently.
- **Zarr assets** (``*.zarr``, ``*.ngff``) are directories: a path inside one is a key of the
  store, read and listed with anonymous S3 (s3fs) under the asset's S3 prefix. From a folder
  above them, ``find`` and ``glob`` list a Zarr asset as one entry (an asset), without listing
  its keys; from the asset itself down, they list keys.

``info`` of an asset gives ``size``, ``type``, ``asset_id``, ``path``, ``ETag`` (the
``dandi:dandi-etag``, the S3 object's ETag), ``sha256`` when the archive computed it,
``blob_id`` or ``zarr_id`` + ``zarr_checksum``, ``s3_url``, ``download_url``, ``created`` and
``modified``: the API's record, no request to S3.

Examples
--------
>>> import fsspec, intake_nwb.sources
>>> fs = fsspec.filesystem("dandi")
>>> # needs the DANDI archive (internet)
>>> fs.glob("dandi://dandi/000006/sub-anm369962/*.nwb")[:1]  # doctest: +SKIP
['dandi/000006@0.220126.1855/sub-anm369962/sub-anm369962_ses-20170316.nwb']
>>> fs.info("dandi://dandi/000006@0.220126.1855/sub-anm369962/"
...         "sub-anm369962_ses-20170316.nwb")["ETag"]  # doctest: +SKIP
'...-1'
>>> local = fsspec.filesystem("dandi", api_url="http://127.0.0.1:8000/api", instance="local")
>>> local.unstrip_protocol("local/000123@draft/sub-1/x.nwb")
'dandi://local/000123@draft/sub-1/x.nwb'
"""

from __future__ import annotations

import math
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fsspec.asyn import AsyncFileSystem
from fsspec.spec import AbstractBufferedFile
from fsspec.utils import stringify_path

from ..errors import (
    DandiAPIError,
    DandiNotFoundError,
    IntakeNWBError,
    RemoteIOError,
    SourceNotFoundError,
)
from ..util.lru import LRU
from .dandiapi import MUTABLE_TTL, TOKEN_ENV, DandiClient, warn_draft
from .dandiasset import DandiAsset, s3_location
from .dandiurl import (
    DANDI_API_URL,
    DandiRef,
    canonical_instance,
    instance_name,
    parse_dandi_url,
    quote_name,
    zarr_root,
)
from .sessions import loop_http, loop_s3

PROTOCOL = "dandi"
_refused: set[str] = set()  # asset ids whose S3 URL answered 401/403: read via download URLs


class _PathNotFound(DandiNotFoundError):
    """No asset or folder at a path of an existing version (globs and finds match nothing)."""


@dataclass(frozen=True)
class _Target:
    """What a path names: an asset, a key inside a Zarr asset, or a folder (``asset`` None)."""

    ref: DandiRef  # version pinned; ref.path is the whole path
    asset: DandiAsset | None
    key: str = ""

    @property
    def name(self) -> str:
        return self.ref.name()


class DandiFileSystem(AsyncFileSystem):
    """DANDI archive assets as a read-only fsspec filesystem (see the module documentation).

    Parameters
    ----------
    api_url:
        The API of the instance named ``instance`` in URLs (default: the DANDI archive).
        Other instances named in URLs are found by name (``dandi-sandbox``, ``linc``, ...).
    instance:
        The name URLs give ``api_url`` (default: dandi-cli's name for it, else its
        ``host[:port]``).
    token:
        API key for ``api_url`` (embargoed dandisets); default ``$DANDI_API_KEY``, which is also
        what other instances get.
    content_hosts:
        Hosts trusted for assets' S3 URLs besides AWS S3 and the API's own host.
    """

    protocol = PROTOCOL
    root_marker = ""

    def __init__(self, api_url: str | None = None, instance: str | None = None,
                 token: str | None = None, content_hosts: Iterable[str] = (), **kwargs: Any):
        super().__init__(**kwargs)
        self.api_url = (api_url or DANDI_API_URL).rstrip("/")
        self.instance = canonical_instance(instance) if instance else instance_name(self.api_url)
        self.token = token
        self.content_hosts = tuple(content_hosts)
        self._clients: dict[str, DandiClient] = {}
        self._targets: LRU[tuple[_Target, float]] = LRU(max_items=65536)

    # -- names -----------------------------------------------------------------------------------

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = stringify_path(path)
        if path.startswith(f"{PROTOCOL}://"):
            path = path[len(PROTOCOL) + 3:]
        return urllib.parse.unquote(path).rstrip("/")

    def unstrip_protocol(self, name: str) -> str:
        return f"{PROTOCOL}://{quote_name(self._strip_protocol(name))}"

    def _ref(self, path: str) -> DandiRef:
        return parse_dandi_url(self._strip_protocol(path), api_url=self.api_url,
                               instance=self.instance)

    def _client(self, ref: DandiRef) -> DandiClient:
        client = self._clients.get(ref.api_url)
        if client is None:
            token = self.token if ref.api_url == self.api_url else None
            client = self._clients[ref.api_url] = DandiClient(
                ref.api_url, token=token, content_hosts=self.content_hosts)
        return client

    async def _canonical(self, ref: DandiRef) -> DandiRef:
        """``ref`` with its version (the most recent published one when it names none)."""
        pinned = await self._client(ref)._pin(ref)
        if pinned.version == "draft":
            warn_draft(pinned.dandiset_id, stacklevel=2)
        return pinned

    def canonical_url(self, url: str) -> str:
        """``url`` as this package names it: canonical instance, version pinned.

        Examples
        --------
        >>> DandiFileSystem().canonical_url("dandi://DANDI/000006@0.220126.1855/sub-1/a.nwb")
        'dandi://dandi/000006@0.220126.1855/sub-1/a.nwb'
        """
        ref = self._ref(url)
        if ref.version is None:
            ref = self._client(ref).pin(ref)
        elif ref.version == "draft":
            warn_draft(ref.dandiset_id, stacklevel=3)
        return ref.url()

    async def _resolve(self, path: str) -> _Target:
        now = time.monotonic()
        hit = self._targets.get(path)
        if hit is not None and hit[1] > now:
            return hit[0]
        ref = await self._canonical(self._ref(path))
        target = await self._locate(ref)
        ttl = MUTABLE_TTL if ref.version == "draft" else math.inf
        self._targets.put(path, (target, now + ttl))
        return target

    async def _locate(self, ref: DandiRef) -> _Target:
        client, p = self._client(ref), ref.path
        assert ref.version is not None
        if not p:
            await client._listing(ref.dandiset_id, ref.version)  # the version exists
            return _Target(ref, None)
        root = zarr_root(p)
        if root is not None:
            asset = await client._asset_at(ref.dandiset_id, ref.version, root)
            if asset is not None and asset.is_zarr:
                return _Target(ref, asset, p[len(root) + 1:])
        asset = await client._asset_at(ref.dandiset_id, ref.version, p)
        if asset is not None:
            return _Target(ref, asset)
        if (await client._listing(ref.dandiset_id, ref.version)).is_dir(p):
            return _Target(ref, None)
        raise _PathNotFound(f"no asset or folder {p!r} in dandiset {ref.dandiset_id} version "
                            f"{ref.version}", source=ref.url())

    def _describe(self, ref: DandiRef, asset: DandiAsset | None) -> dict[str, Any]:
        """fsspec's info of an asset (the API's record) or of a folder."""
        if asset is None:
            return {"name": ref.name(), "size": 0, "type": "directory"}
        info: dict[str, Any] = {
            "name": ref.name(asset.path), "size": asset.size,
            "type": "directory" if asset.is_zarr else "file", "asset_id": asset.asset_id,
            "path": asset.path, "s3_url": asset.s3_url, "download_url": asset.download_url,
            "created": asset.created, "modified": asset.modified}
        if asset.is_zarr:
            info.update(zarr_id=asset.zarr_id, zarr_checksum=asset.zarr_checksum)
        else:
            info.update(blob_id=asset.blob_id, ETag=asset.etag, sha256=asset.sha256)
        return {k: v for k, v in info.items() if v is not None}

    # -- Zarr assets: anonymous S3 under the asset's prefix ---------------------------------------

    @staticmethod
    def _s3(asset: DandiAsset) -> Any:
        return loop_s3(asset.storage_options)

    @staticmethod
    def _s3_prefix(asset: DandiAsset) -> str:
        if not asset.s3_url:
            raise DandiAPIError("a Zarr asset without an S3 URL", source=asset.path)
        bucket, key, _ = s3_location(asset.s3_url)
        return f"{bucket}/{key.strip('/')}"

    def _s3_path(self, t: _Target) -> str:
        assert t.asset is not None
        prefix = self._s3_prefix(t.asset)
        return f"{prefix}/{t.key}" if t.key else prefix

    def _from_s3(self, t: _Target, info: Mapping[str, Any]) -> dict[str, Any]:
        assert t.asset is not None
        rel = info["name"][len(self._s3_prefix(t.asset)):].strip("/")
        return {**info, "name": t.ref.name(f"{t.asset.path}/{rel}" if rel else t.asset.path)}

    # -- fsspec ----------------------------------------------------------------------------------

    async def _info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        t = await self._resolve(path)
        if t.key:
            return self._from_s3(t, await self._s3(t.asset)._info(self._s3_path(t)))
        return self._describe(t.ref, t.asset)

    async def _ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        t = await self._resolve(path)
        if t.asset is not None and t.asset.is_zarr:
            out = [self._from_s3(t, e) for e in await self._s3(t.asset)._ls(
                self._s3_path(t), detail=True)]
        elif t.asset is not None:
            out = [self._describe(t.ref, t.asset)]
        else:
            assert t.ref.version is not None
            listing = await self._client(t.ref)._listing(t.ref.dandiset_id, t.ref.version)
            folder = t.ref.path
            children: dict[str, dict[str, Any]] = {}
            for asset in listing.under(folder):
                rel = asset.path[len(folder) + 1:] if folder else asset.path
                head, sep, _ = rel.partition("/")
                sub = f"{folder}/{head}" if folder else head
                if sep:
                    children.setdefault(sub, self._describe(t.ref.within(sub), None))
                else:
                    children[sub] = self._describe(t.ref, asset)
            out = list(children.values())
        return out if detail else [e["name"] for e in out]

    async def _find(self, path: str, maxdepth: int | None = None, withdirs: bool = False,
                    **kwargs: Any) -> Any:
        """Assets (a Zarr asset is one entry) below ``path``; inside a Zarr asset, its keys."""
        detail = kwargs.pop("detail", False)
        try:
            t = await self._resolve(path)
        except _PathNotFound:
            return {} if detail else []
        out: dict[str, dict[str, Any]] = {}
        if t.asset is not None and t.asset.is_zarr:
            found = await self._s3(t.asset)._find(self._s3_path(t), maxdepth=maxdepth,
                                                  withdirs=withdirs, detail=True)
            out = {(i := self._from_s3(t, v))["name"]: i for v in found.values()}
        elif t.asset is not None:
            out[t.name] = self._describe(t.ref, t.asset)
        else:
            assert t.ref.version is not None
            listing = await self._client(t.ref)._listing(t.ref.dandiset_id, t.ref.version)
            folder = t.ref.path
            if withdirs and folder:
                out[t.name] = self._describe(t.ref, None)
            for asset in listing.under(folder):
                parts = (asset.path[len(folder) + 1:] if folder else asset.path).split("/")
                if withdirs:
                    for i in range(1, min(len(parts), (maxdepth or len(parts)) + 1)):
                        sub = "/".join([*([folder] if folder else []), *parts[:i]])
                        out.setdefault(t.ref.name(sub), self._describe(t.ref.within(sub), None))
                if maxdepth is None or len(parts) <= maxdepth:
                    out[t.ref.name(asset.path)] = self._describe(t.ref, asset)
        names = sorted(out)
        return {n: out[n] for n in names} if detail else names

    async def _glob(self, path: str, maxdepth: int | None = None, **kwargs: Any) -> Any:
        ref = await self._canonical(self._ref(path))
        slash = "/" if stringify_path(path).endswith("/") else ""
        return await super()._glob(ref.name() + slash, maxdepth=maxdepth, **kwargs)

    async def _cat_file(self, path: str, start: int | None = None, end: int | None = None,
                        **kwargs: Any) -> bytes:
        t = await self._resolve(path)
        if t.asset is not None and t.key:
            return await self._s3(t.asset)._cat_file(self._s3_path(t), start=start, end=end)
        if t.asset is None or t.asset.is_zarr:
            raise IsADirectoryError(t.ref.url())
        return await self._read(t, t.asset, start, end)

    async def _read(self, t: _Target, asset: DandiAsset, start: int | None, end: int | None
                    ) -> bytes:
        """Bytes of a file asset: from S3, or through the download URL once S3 refused."""
        import aiohttp

        http = loop_http()
        url = asset.s3_url
        if url and asset.asset_id not in _refused:
            try:
                return await http._cat_file(url, start=start, end=end)
            except FileNotFoundError:
                raise SourceNotFoundError(f"the archive lists it, but {url} answers 404",
                                          source=t.ref.url()) from None
            except aiohttp.ClientResponseError as exc:
                if exc.status not in (401, 403) or not asset.download_url:
                    raise _failed(t, url, start, end, exc) from exc
                _refused.add(asset.asset_id)
        url = asset.download_url
        if not url:
            raise SourceNotFoundError("the archive gives no URL to read it from",
                                      source=t.ref.url())
        try:
            return await http._cat_file(url, start=start, end=end,
                                        headers=self._client(t.ref).headers(url))
        except FileNotFoundError:
            raise SourceNotFoundError(f"the archive lists it, but {url} answers 404",
                                      source=t.ref.url()) from None
        except aiohttp.ClientResponseError as exc:
            raise _failed(t, url, start, end, exc) from exc

    def _open(self, path: str, mode: str = "rb", block_size: int | None = None,
              autocommit: bool = True, cache_options: dict[str, Any] | None = None,
              size: int | None = None, **kwargs: Any) -> DandiFile:
        if mode != "rb":
            raise NotImplementedError("dandi:// is read-only")
        info = self.info(path)
        if info["type"] == "directory":
            raise IsADirectoryError(self.unstrip_protocol(info["name"]))
        return DandiFile(self, info["name"], mode, block_size=block_size or "default",
                         cache_options=cache_options,
                         size=info["size"] if size is None else size, **kwargs)


def _failed(t: _Target, url: str, start: int | None, end: int | None, exc: Any
            ) -> IntakeNWBError:
    what = f"bytes {start or 0}-{'' if end is None else end - 1} from {url}"
    if exc.status in (401, 403):
        return DandiAPIError(f"HTTP {exc.status} for {what} (embargoed? set {TOKEN_ENV} to an "
                             "API key with access)", source=t.ref.url())
    return RemoteIOError(f"HTTP {exc.status} for {what}", source=t.ref.url())


class DandiFile(AbstractBufferedFile):
    """A buffered read-only file of a DANDI asset (reads through :meth:`_cat_file`, so the S3
    -> download URL fallback applies)."""

    def _fetch_range(self, start: int, end: int) -> bytes:
        return self.fs.cat_file(self.path, start=start, end=end)


def canonical_url(url: str, storage_options: Mapping[str, Any] | None = None) -> str:
    """``url`` with its instance's canonical name and its version pinned (see the module
    documentation); ``storage_options`` as :class:`DandiFileSystem` takes them."""
    return DandiFileSystem(**dict(storage_options or {})).canonical_url(url)

"""A DANDI asset as the API describes it: ids, path, size, digests, content URLs.

API answers are checked before anything is read from them: an asset path must be one the
archive accepts (:func:`~intake_nwb.sources.dandiurl.check_path`), the download URL must be on
the API's own origin (it gets the API key), and the S3 URL on an AWS S3 host, on the API's
host (a local or self-hosted archive), or on a host the caller trusts (``content_hosts``), over
https (http only when the API itself is http). Anything else raises :class:`DandiAPIError`.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import DandiAPIError
from .dandiurl import DandiURLError, check_path, path_labels

_AWS_VHOST = re.compile(r"^(?P<bucket>.+?)\.s3(?:[.-][a-z0-9-]+)*\.amazonaws\.com$")
_AWS_PATH = re.compile(r"^s3(?:[.-][a-z0-9-]+)*\.amazonaws\.com$")


def s3_location(url: str) -> tuple[str, str, str | None]:
    """``(bucket, key, endpoint_url)`` of an S3 object URL (virtual-host or path style).

    Examples
    --------
    >>> s3_location("https://dandiarchive.s3.amazonaws.com/zarr/abc/")
    ('dandiarchive', 'zarr/abc/', None)
    >>> s3_location("http://127.0.0.1:9000/dandiarchive/zarr/abc/")
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
    def from_api(cls, record: Mapping[str, Any], *, api_url: str | None = None,
                 content_hosts: Iterable[str] = ()) -> DandiAsset:
        """From an item of ``/versions/{v}/assets/?metadata=true`` or from an asset's metadata
        alone (``/assets/{id}/``).

        ``api_url``: the API that answered; given, the path and content URLs are checked (see
        the module documentation; ``content_hosts``: more hosts trusted for S3 URLs).
        """
        meta = dict(record.get("metadata") or ({} if "asset_id" in record else record))
        asset_id = record.get("asset_id") or meta.get("identifier")
        if not asset_id:
            raise DandiAPIError(f"an asset without an id in the API's answer: {record!r:.200}")
        zarr_id = record.get("zarr")
        blob_id = record.get("blob")
        if "asset_id" not in record:  # metadata only: the ids are in the S3 URL
            s3 = next((u for u in _content_urls(meta) if "/download" not in u), "")
            key = s3_location(s3)[1] if s3 else ""
            if meta.get("encodingFormat") == "application/x-zarr" or key.startswith("zarr/"):
                zarr_id = key.strip("/").split("/")[1] if key.count("/") >= 1 else None
            elif key.startswith("blobs/"):
                blob_id = key.rstrip("/").rsplit("/", 1)[-1]
        asset = cls(asset_id=str(asset_id), path=str(record.get("path") or meta.get("path")),
                    size=int(record.get("size") or meta.get("contentSize") or 0),
                    blob_id=blob_id, zarr_id=zarr_id, created=record.get("created"),
                    modified=record.get("modified") or meta.get("dateModified"), metadata=meta)
        if api_url is not None:
            asset._check(api_url, content_hosts)
        return asset

    def _check(self, api_url: str, content_hosts: Iterable[str]) -> None:
        where = f"{api_url} asset {self.asset_id}"
        try:
            check_path(self.path, where)
        except DandiURLError as exc:
            raise DandiAPIError(f"the API answered {exc.message}", source=where) from None
        api = urllib.parse.urlsplit(api_url)
        if self.download_url:
            u = urllib.parse.urlsplit(self.download_url)
            if (u.scheme, u.netloc.lower()) != (api.scheme, api.netloc.lower()):
                raise DandiAPIError(f"download URL {self.download_url} is not on the API's "
                                    "origin: not read", source=f"{where} ({self.path})")
        if self.s3_url:
            u = urllib.parse.urlsplit(self.s3_url)
            host = (u.hostname or "").lower()
            trusted = (host.endswith(".amazonaws.com") or host == (api.hostname or "").lower()
                       or host in {h.lower() for h in content_hosts})
            schemes = ("https", "http") if api.scheme == "http" else ("https",)
            if not trusted or u.scheme not in schemes:
                raise DandiAPIError(
                    f"S3 URL {self.s3_url} is on an unexpected host: not read (trust it with "
                    "the storage option content_hosts=[...])", source=f"{where} ({self.path})")

    @property
    def labels(self) -> dict[str, str | None]:
        """``subject`` and ``session`` of the asset's BIDS-like path (see :func:`path_labels`)."""
        return path_labels(self.path)

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
            bucket, key, _ = s3_location(self.s3_url)
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
        endpoint = s3_location(self.s3_url)[2]
        return {"anon": True, **({"endpoint_url": endpoint} if endpoint else {})}

    def pin(self, dandiset_id: str, version: str, url: str | None = None) -> dict[str, Any]:
        """What a catalog records about this asset and ``verify_pins`` checks (``url``: the
        asset's ``dandi://`` URL, recorded when given)."""
        pin: dict[str, Any] = {
            "dandiset": f"{dandiset_id}/{version}", "url": url, "asset_id": self.asset_id,
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

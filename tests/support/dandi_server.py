"""A local DANDI archive on 127.0.0.1: the REST API's JSON shapes, asset bytes from moto's S3.

Two stdlib ``ThreadingHTTPServer`` s run in daemon threads:

* the **API** (``api_url`` = ``http://127.0.0.1:PORT/api``) answers the read-only endpoints
  that clients of the DANDI archive use, with the field names and shapes of dandi-archive's
  Django REST Framework serializers::

      GET  /api/info/
      GET  /api/dandisets/{id}/                                   DandisetDetailSerializer
      GET  /api/dandisets/{id}/versions/                          paginated VersionSerializer
      GET  /api/dandisets/{id}/versions/{version}/                the version's metadata
      GET  /api/dandisets/{id}/versions/{version}/info/           VersionDetailSerializer
      GET  /api/dandisets/{id}/versions/{version}/assets/         paginated AssetSerializer
           ?glob=&path=&metadata=&order=&page=&page_size=         (count/next/previous/results)
      GET  /api/dandisets/{id}/versions/{version}/assets/{aid}/   the asset's full metadata
      GET  /api/assets/{aid}/                                     the asset's full metadata
      GET  /api/assets/{aid}/info/                                AssetSerializer + metadata
      GET|HEAD /api/assets/{aid}/download/                        302 to a presigned S3 URL

  Unknown dandisets, versions and assets answer ``404 {"detail": "Not found."}``; an embargoed
  dandiset answers ``401`` unless the request carries ``Authorization: token <api_key>``.
  ``page_size`` is clamped to ``max_page_size`` (as DRF does), ``next`` links are absolute and
  ``count`` is only given on the first page (dandi-archive's lazy pagination).

* the **S3 gate** (``s3_endpoint``) stands where ``dandiarchive.s3.amazonaws.com`` stands: a
  read-only, path-style S3 endpoint that forwards ``GET``/``HEAD`` (ranges, listings, anything)
  to moto unchanged, except that :meth:`DandiTestServer.forbid_s3` makes it answer
  ``403 AccessDenied`` for chosen keys, as S3 does for embargoed or access-restricted objects.
  Assets' ``contentUrl`` S3 URLs point here; their download URLs redirect straight to moto.

Blobs are uploaded to moto as one multipart upload with DANDI's part size, so the object's
S3 ``ETag`` equals the asset's ``dandi:dandi-etag`` digest, as on the real archive. Zarr assets
are uploaded file by file under ``zarr/{zarr_id}/``.

Example::

    with MotoS3Server() as s3, DandiTestServer(s3) as dandi:
        ds = dandi.create_dandiset(name="ALM sessions")
        dandi.add_asset(ds, "ses-1.nwb", "sub-1/sub-1_ses-1.nwb")
        version = dandi.publish(ds)                       # "0.230101.1200"-style, immutable
        requests.get(f"{dandi.api_url}/dandisets/{ds}/versions/{version}/assets/",
                     params={"metadata": "true"}).json()["results"][0]["metadata"]["contentUrl"]
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import hashlib
import http.client
import json
import os
import re
import threading
import urllib.parse
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

from .servers import MotoS3Server

__all__ = ["DandiTestServer", "dandi_etag", "example_archive", "zarr_checksum"]

SCHEMA_VERSION = "0.6.4"
DANDI_PART_SIZE = 64 * 2**20  # dandischema's DEFAULT_PART_SIZE
_MAX_PARTS = 10_000
_HOST = "127.0.0.1"
_VERSION_RE = re.compile(r"^(draft|\d+\.\d{6}\.\d{4})$")
_HOP_HEADERS = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "proxy-connection",
    "upgrade",
    "te",
    "trailer",
    "content-length",
    "server",
    "date",
}


# -- digests -------------------------------------------------------------------------------------


def _part_size(size: int) -> int:
    part = DANDI_PART_SIZE
    if size > part * _MAX_PARTS:
        part = -(-size // _MAX_PARTS)
    return part


def dandi_etag(data: bytes) -> str:
    """DANDI's ``dandi:dandi-etag`` of ``data``: the S3 multipart ETag with DANDI's part size.

    Examples
    --------
    >>> dandi_etag(b"abc")
    'af5da9f45af7a300e3aded972f8ff687-1'
    """
    part = _part_size(len(data))
    digests = [hashlib.md5(data[i : i + part]).digest() for i in range(0, len(data), part)]
    return f"{hashlib.md5(b''.join(digests)).hexdigest()}-{len(digests)}"


def zarr_checksum(files: Iterable[tuple[str, bytes]]) -> str:
    """A ``dandi:dandi-zarr-checksum``-shaped digest (``<md5>-<files>--<bytes>``) of a store.

    The shape is DANDI's; the value is a plain md5 over sorted ``(path, md5, size)`` rows, not
    DANDI's tree algorithm. Nothing in intake_nwb recomputes it: it is pinned and compared.
    """
    rows = sorted((p, hashlib.md5(b).hexdigest(), len(b)) for p, b in files)
    digest = hashlib.md5(json.dumps(rows).encode()).hexdigest()
    return f"{digest}-{len(rows)}--{sum(r[2] for r in rows)}"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


# -- archive state -------------------------------------------------------------------------------


@dataclass
class _Asset:
    asset_id: str
    path: str
    size: int
    key: str  # S3 key of the blob, or the zarr's prefix ("zarr/<id>/")
    blob_id: str | None = None
    zarr_id: str | None = None
    etag: str | None = None
    sha256: str | None = None
    checksum: str | None = None  # zarr
    extra: dict[str, Any] = field(default_factory=dict)
    created: str = field(default_factory=_now)
    modified: str = field(default_factory=_now)
    published: str | None = None  # datePublished once a published version holds it

    @property
    def encoding_format(self) -> str:
        if self.zarr_id:
            return "application/x-zarr"
        return (
            "application/x-nwb"
            if self.path.endswith(".nwb")
            else self.extra.get("encodingFormat", "application/octet-stream")
        )

    @property
    def digest(self) -> dict[str, str]:
        if self.zarr_id:
            return {"dandi:dandi-zarr-checksum": self.checksum or ""}
        digest = {"dandi:dandi-etag": self.etag or ""}
        if self.sha256:
            digest["dandi:sha2-256"] = self.sha256
        return digest


@dataclass
class _Version:
    version: str
    name: str
    assets: list[str] = field(default_factory=list)  # asset ids
    created: str = field(default_factory=_now)
    modified: str = field(default_factory=_now)


@dataclass
class _Dandiset:
    identifier: str
    name: str
    embargoed: bool = False
    created: str = field(default_factory=_now)
    versions: dict[str, _Version] = field(default_factory=dict)


class _NotFound(Exception):
    pass


class _Unauthorized(Exception):
    pass


# -- the server ----------------------------------------------------------------------------------


class DandiTestServer:
    """A local DANDI archive (REST API + S3 gate) over a running :class:`MotoS3Server`.

    Parameters
    ----------
    s3:
        A started moto server; the bucket ``bucket`` is created in it.
    bucket:
        The archive's bucket (``dandiarchive`` on the real archive).
    max_page_size:
        DRF's ``max_page_size``: requests for larger pages get this many results (the real
        archive uses 1000; tests use a small number to exercise pagination).
    api_key:
        The token that unlocks embargoed dandisets (``Authorization: token <api_key>``).

    Examples
    --------
    >>> with MotoS3Server() as s3, DandiTestServer(s3, max_page_size=2) as dandi:
    ...     ds = dandi.create_dandiset("000123")
    ...     asset = dandi.add_asset(ds, "ses-1.nwb", "sub-1/sub-1_ses-1.nwb")
    ...     version = dandi.publish(ds, "0.230101.1200")
    ...     dandi.forbid_s3([asset["asset_id"]])  # its S3 URL now answers 403
    ...     intake_nwb.dandi_catalog(ds, version, "c.yaml", api_url=dandi.api_url)
    ... # doctest: +SKIP
    """

    def __init__(
        self,
        s3: MotoS3Server,
        *,
        bucket: str = "dandiarchive",
        max_page_size: int = 1000,
        api_key: str = "dandi-test-key",
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.max_page_size = max_page_size
        self.api_key = api_key
        self._lock = threading.RLock()
        self._dandisets: dict[str, _Dandiset] = {}
        self._assets: dict[str, _Asset] = {}
        self._forbidden: set[str] = set()  # S3 keys (or "*") the gate refuses with 403
        self._api: ThreadingHTTPServer | None = None
        self._gate: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self.log: list[tuple[str, str, int]] = []  # (server, method + path, status)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Self:
        """Create the bucket and start both servers on free loopback ports; returns ``self``."""
        if self._api is not None:
            return self
        fs = self.s3.fs
        if not fs.exists(self.bucket):
            fs.call_s3("create_bucket", Bucket=self.bucket)
        # the archive's bucket is publicly readable (moto enforces this for unsigned requests;
        # it names HEAD "s3:HeadObject" where AWS says "s3:GetObject")
        fs.call_s3(
            "put_bucket_policy",
            Bucket=self.bucket,
            Policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "PublicRead",
                            "Effect": "Allow",
                            "Principal": "*",
                            "Action": ["s3:GetObject", "s3:HeadObject"],
                            "Resource": [f"arn:aws:s3:::{self.bucket}/*"],
                        }
                    ],
                }
            ),
        )
        fs.invalidate_cache()
        self._api = _serve(_ApiHandler, self)
        self._gate = _serve(_GateHandler, self)
        for srv in (self._api, self._gate):
            t = threading.Thread(
                target=srv.serve_forever,
                kwargs={"poll_interval": 0.05},
                daemon=True,
                name=f"DandiTestServer:{srv.server_address[1]}",
            )
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        """Stop both servers (the moto bucket is left as it is)."""
        for srv in (self._api, self._gate):
            if srv is not None:
                srv.shutdown()
                srv.server_close()
        for t in self._threads:
            t.join(timeout=5)
        self._api = self._gate = None
        self._threads = []

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        if self._api is None:
            raise RuntimeError("DandiTestServer is not running")
        return f"http://{_HOST}:{self._api.server_address[1]}"

    @property
    def api_url(self) -> str:
        """``http://127.0.0.1:PORT/api``: what ``api_url=`` of intake_nwb.dandi takes."""
        return self.root_url + "/api"

    @property
    def s3_endpoint(self) -> str:
        """The S3 gate, ``http://127.0.0.1:PORT`` (path-style: ``/<bucket>/<key>``)."""
        if self._gate is None:
            raise RuntimeError("DandiTestServer is not running")
        return f"http://{_HOST}:{self._gate.server_address[1]}"

    # -- building an archive ----------------------------------------------------------------------

    def create_dandiset(
        self, identifier: str | None = None, *, name: str = "Test dandiset", embargoed: bool = False
    ) -> str:
        """A new dandiset with an empty draft; returns its six-digit identifier."""
        with self._lock:
            if identifier is None:
                identifier = f"{len(self._dandisets) + 1:06d}"
            if identifier in self._dandisets:
                raise ValueError(f"dandiset {identifier} exists")
            ds = _Dandiset(identifier, name, embargoed)
            ds.versions["draft"] = _Version("draft", name)
            self._dandisets[identifier] = ds
            return identifier

    def add_asset(
        self,
        dandiset_id: str,
        local_path: str | os.PathLike[str],
        path: str,
        *,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Upload a file (blob) or a directory (Zarr) and add it to the draft at ``path``.

        An asset already at ``path`` in the draft is replaced by a new asset (new id), as the
        archive does. Returns the asset as the API lists it (with metadata).
        """
        local = Path(local_path)
        if local.is_dir():
            asset = self._upload_zarr(local, path)
        else:
            asset = self._upload_blob(local.read_bytes(), path)
        asset.extra = dict(metadata or {})
        with self._lock:
            draft = self._dandisets[dandiset_id].versions["draft"]
            draft.assets = [a for a in draft.assets if self._assets[a].path != path]
            self._assets[asset.asset_id] = asset
            draft.assets.append(asset.asset_id)
            draft.modified = _now()
        return self._asset_record(asset, metadata=True)

    def remove_asset(self, dandiset_id: str, path: str) -> None:
        """Remove the asset at ``path`` from the draft (published versions keep it)."""
        with self._lock:
            draft = self._dandisets[dandiset_id].versions["draft"]
            draft.assets = [a for a in draft.assets if self._assets[a].path != path]

    def publish(self, dandiset_id: str, version: str | None = None) -> str:
        """Publish the draft as an immutable version (``0.YYMMDD.HHMM``); returns its name."""
        with self._lock:
            ds = self._dandisets[dandiset_id]
            if version is None:
                stamp = dt.datetime.now(dt.UTC)
                version = f"0.{stamp:%y%m%d}.{stamp:%H%M}"
                while version in ds.versions:  # two publishes in one minute
                    minute = int(version[-4:]) + 1
                    version = f"{version[:-4]}{minute:04d}"
            if not _VERSION_RE.match(version) or version == "draft":
                raise ValueError(f"not a published version name: {version!r}")
            draft = ds.versions["draft"]
            ds.versions[version] = _Version(version, draft.name, list(draft.assets))
            now = _now()
            for aid in draft.assets:
                self._assets[aid].published = self._assets[aid].published or now
            return version

    def asset(self, asset_id: str) -> dict[str, Any]:
        """The asset as the API lists it (with metadata)."""
        with self._lock:
            return self._asset_record(self._assets[asset_id], metadata=True)

    def find_asset(self, dandiset_id: str, version: str, path: str) -> dict[str, Any]:
        """The asset at ``path`` in a version, as the API lists it."""
        with self._lock:
            for aid in self._dandisets[dandiset_id].versions[version].assets:
                if self._assets[aid].path == path:
                    return self._asset_record(self._assets[aid], metadata=True)
        raise KeyError(path)

    def overwrite_bytes(self, asset_id: str, data: bytes) -> None:
        """Replace a blob's bytes in S3 behind the archive's back (the API still shows the old
        size and digest): what a pinned catalog must notice."""
        asset = self._assets[asset_id]
        if asset.blob_id is None:
            raise ValueError("only blob assets can be overwritten")
        self._multipart_upload(asset.key, data)

    def forbid_s3(self, asset_ids: Iterable[str] | None = None, *, forbid: bool = True) -> None:
        """Make the S3 gate answer 403 for these assets (all when None); ``forbid=False`` undoes
        it. Download URLs keep working, as they do for embargoed assets on the archive."""
        with self._lock:
            keys = {"*"} if asset_ids is None else {self._assets[a].key for a in asset_ids}
            if forbid:
                self._forbidden |= keys
            elif asset_ids is None:
                self._forbidden.clear()
            else:
                self._forbidden -= keys

    def reset_log(self) -> None:
        with self._lock:
            self.log.clear()

    # -- uploads ----------------------------------------------------------------------------------

    def _multipart_upload(self, key: str, data: bytes) -> str:
        fs = self.s3.fs
        part = _part_size(len(data))
        up = fs.call_s3("create_multipart_upload", Bucket=self.bucket, Key=key)
        parts = []
        for n, start in enumerate(range(0, max(len(data), 1), part), start=1):
            res = fs.call_s3(
                "upload_part",
                Bucket=self.bucket,
                Key=key,
                UploadId=up["UploadId"],
                PartNumber=n,
                Body=data[start : start + part],
            )
            parts.append({"ETag": res["ETag"], "PartNumber": n})
        out = fs.call_s3(
            "complete_multipart_upload",
            Bucket=self.bucket,
            Key=key,
            UploadId=up["UploadId"],
            MultipartUpload={"Parts": parts},
        )
        fs.invalidate_cache()
        return str(out["ETag"]).strip('"')

    def _upload_blob(self, data: bytes, path: str) -> _Asset:
        blob_id = str(uuid.uuid4())
        key = f"blobs/{blob_id[:3]}/{blob_id[3:6]}/{blob_id}"
        etag = self._multipart_upload(key, data)
        if etag != dandi_etag(data):  # the archive's invariant; moto must keep it too
            raise RuntimeError(f"S3 ETag {etag} differs from the dandi-etag {dandi_etag(data)}")
        return _Asset(
            str(uuid.uuid4()),
            path,
            len(data),
            key,
            blob_id=blob_id,
            etag=etag,
            sha256=hashlib.sha256(data).hexdigest(),
        )

    def _upload_zarr(self, local: Path, path: str) -> _Asset:
        zarr_id = str(uuid.uuid4())
        prefix = f"zarr/{zarr_id}/"
        files = [
            (p.relative_to(local).as_posix(), p.read_bytes())
            for p in sorted(local.rglob("*"))
            if p.is_file()
        ]
        fs = self.s3.fs
        fs.pipe({f"{self.bucket}/{prefix}{rel}": data for rel, data in files})
        fs.invalidate_cache()
        return _Asset(
            str(uuid.uuid4()),
            path,
            sum(len(b) for _, b in files),
            prefix,
            zarr_id=zarr_id,
            checksum=zarr_checksum(files),
        )

    # -- serialisation (dandi-archive's serializers) ---------------------------------------------

    def _s3_url(self, asset: _Asset) -> str:
        return f"{self.s3_endpoint}/{self.bucket}/{asset.key}"

    def _full_metadata(self, asset: _Asset) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "@context": "https://raw.githubusercontent.com/dandi/schema/master/releases/"
            f"{SCHEMA_VERSION}/context.json",
            "schemaKey": "Asset",
            "schemaVersion": SCHEMA_VERSION,
            "encodingFormat": asset.encoding_format,
            "access": [
                {
                    "schemaKey": "AccessRequirements",
                    "status": "dandi:EmbargoedAccess"
                    if self._embargoed(asset)
                    else "dandi:OpenAccess",
                }
            ],
            "dateModified": asset.modified,
            "blobDateModified": asset.created,
            **copy.deepcopy(asset.extra),
            "id": f"dandiasset:{asset.asset_id}",
            "path": asset.path,
            "identifier": asset.asset_id,
            "contentUrl": [
                f"{self.api_url}/assets/{asset.asset_id}/download/",
                self._s3_url(asset),
            ],
            "contentSize": asset.size,
            "digest": asset.digest,
        }
        if asset.published:
            meta["datePublished"] = asset.published
            meta["publishedBy"] = {
                "id": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, asset.key)}",
                "name": "DANDI publish",
                "schemaKey": "PublishActivity",
                "startDate": asset.published,
                "endDate": asset.published,
                "wasAssociatedWith": [
                    {"id": "RRID:SCR_017571", "name": "DANDI API", "schemaKey": "Software"}
                ],
            }
        return meta

    def _asset_record(self, asset: _Asset, *, metadata: bool) -> dict[str, Any]:
        rec: dict[str, Any] = {
            "asset_id": asset.asset_id,
            "blob": asset.blob_id,
            "zarr": asset.zarr_id,
            "path": asset.path,
            "size": asset.size,
            "created": asset.created,
            "modified": asset.modified,
        }
        if metadata:
            rec["metadata"] = self._full_metadata(asset)
        return rec

    def _embargoed(self, asset: _Asset) -> bool:
        return any(
            asset.asset_id in v.assets and ds.embargoed
            for ds in self._dandisets.values()
            for v in ds.versions.values()
        )

    def _version_summary(
        self, ds: _Dandiset, v: _Version, *, nested: bool = True
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "version": v.version,
            "name": v.name,
            "asset_count": len(v.assets),
            "size": sum(self._assets[a].size for a in v.assets),
            "status": "Valid" if v.version == "draft" else "Published",
            "created": v.created,
            "modified": v.modified,
        }
        if nested:
            out["dandiset"] = self._dandiset_summary(ds)
        return out

    def _dandiset_summary(self, ds: _Dandiset) -> dict[str, Any]:
        return {
            "identifier": ds.identifier,
            "created": ds.created,
            "modified": max(v.modified for v in ds.versions.values()),
            "contact_person": "Test, Person",
            "embargo_status": "EMBARGOED" if ds.embargoed else "OPEN",
        }

    def _version_metadata(self, ds: _Dandiset, v: _Version) -> dict[str, Any]:
        published = v.version != "draft"
        vid = f"DANDI:{ds.identifier}/{v.version}"
        assets = [self._assets[a] for a in v.assets]
        meta: dict[str, Any] = {
            "@context": "https://raw.githubusercontent.com/dandi/schema/master/releases/"
            f"{SCHEMA_VERSION}/context.json",
            "schemaKey": "Dandiset",
            "schemaVersion": SCHEMA_VERSION,
            "id": vid,
            "identifier": f"DANDI:{ds.identifier}",
            "name": v.name,
            "description": f"{v.name} (a local test archive)",
            "version": v.version,
            "url": f"https://dandiarchive.org/dandiset/{ds.identifier}/{v.version}",
            "license": ["spdx:CC-BY-4.0"],
            "access": [
                {
                    "schemaKey": "AccessRequirements",
                    "status": "dandi:EmbargoedAccess" if ds.embargoed else "dandi:OpenAccess",
                }
            ],
            "citation": f"Test, Person (2023) {v.name} (Version {v.version}) [Data set]. "
            f"DANDI archive. {vid}",
            "dateCreated": ds.created,
            "assetsSummary": {
                "schemaKey": "AssetsSummary",
                "numberOfFiles": len(assets),
                "numberOfBytes": sum(a.size for a in assets),
                "dataStandard": [
                    {
                        "schemaKey": "StandardsType",
                        "identifier": "RRID:SCR_015242",
                        "name": "Neurodata Without Borders (NWB)",
                    }
                ],
            },
        }
        if published:
            meta["doi"] = f"10.48324/dandi.{ds.identifier}/{v.version}"
            meta["datePublished"] = v.created
        return meta

    # -- request handling (called by the handlers) -----------------------------------------------

    def _authorize(self, ds: _Dandiset, headers: Any) -> None:
        if ds.embargoed and headers.get("Authorization", "").strip() not in (
            f"token {self.api_key}",
            f"Token {self.api_key}",
        ):
            raise _Unauthorized

    def _dandiset(self, identifier: str, headers: Any) -> _Dandiset:
        ds = self._dandisets.get(identifier)
        if ds is None:
            raise _NotFound
        self._authorize(ds, headers)
        return ds

    def _version(self, ds: _Dandiset, version: str) -> _Version:
        v = ds.versions.get(version)
        if v is None:
            raise _NotFound
        return v

    def api(self, path: str, query: dict[str, str], headers: Any) -> tuple[int, Any, str | None]:
        """(status, JSON body, redirect location) for an API path below ``/api``."""
        parts = [p for p in path.split("/") if p]
        with self._lock:
            if parts == ["info"]:
                return (
                    200,
                    {
                        "schema_version": SCHEMA_VERSION,
                        "version": "0.0.0+test",
                        "cli-minimal-version": "0.60.0",
                        "cli-bad-versions": [],
                        "services": {"api": {"url": self.api_url}},
                    },
                    None,
                )
            if len(parts) >= 2 and parts[0] == "dandisets":
                ds = self._dandiset(parts[1], headers)
                rest = parts[2:]
                if not rest:
                    published = [v for k, v in ds.versions.items() if k != "draft"]
                    return (
                        200,
                        {
                            **self._dandiset_summary(ds),
                            "most_recent_published_version": self._version_summary(
                                ds, published[-1]
                            )
                            if published
                            else None,
                            "draft_version": self._version_summary(ds, ds.versions["draft"]),
                        },
                        None,
                    )
                if rest == ["versions"]:
                    items = [
                        self._version_summary(ds, v, nested=False) for v in ds.versions.values()
                    ]
                    return 200, self._paginate(items, query, path), None
                if rest[0] == "versions" and len(rest) >= 2:
                    v = self._version(ds, rest[1])
                    tail = rest[2:]
                    if not tail:
                        return 200, self._version_metadata(ds, v), None
                    if tail == ["info"]:
                        return (
                            200,
                            {
                                **self._version_summary(ds, v),
                                "asset_validation_errors": [],
                                "version_validation_errors": [],
                                "metadata": self._version_metadata(ds, v),
                                "contact_person": "Test, Person",
                            },
                            None,
                        )
                    if tail == ["assets"]:
                        return 200, self._list_assets(v, query, path), None
                    if len(tail) == 2 and tail[0] == "assets" and tail[1] in v.assets:
                        return 200, self._full_metadata(self._assets[tail[1]]), None
                raise _NotFound
            if len(parts) >= 2 and parts[0] == "assets":
                asset = self._assets.get(parts[1])
                if asset is None:
                    raise _NotFound
                for ds in self._dandisets.values():
                    if any(asset.asset_id in v.assets for v in ds.versions.values()):
                        self._authorize(ds, headers)
                if parts[2:] == []:
                    return 200, self._full_metadata(asset), None
                if parts[2:] == ["info"]:
                    return 200, self._asset_record(asset, metadata=True), None
                if parts[2:] == ["download"]:
                    if asset.zarr_id:
                        return (
                            400,
                            (
                                "Unable to provide download link for zarr assets. "
                                "Please browse the zarr files directly to do so."
                            ),
                            None,
                        )
                    return 302, None, self.s3.fs.sign(f"{self.bucket}/{asset.key}", expiration=3600)
            raise _NotFound

    def _list_assets(self, v: _Version, query: dict[str, str], path: str) -> dict[str, Any]:
        assets = [self._assets[a] for a in v.assets]
        glob = query.get("glob")
        if glob is not None:  # dandi-archive: ^escape(glob)$ with \* -> .*, case-insensitive
            rx = re.compile("^" + re.escape(glob).replace("\\*", ".*") + "$", re.IGNORECASE)
            assets = [a for a in assets if rx.search(a.path)]
        prefix = query.get("path")
        if prefix:  # dandi-archive: istartswith, or the asset at exactly that path if there is one
            exact = [a for a in assets if a.path == prefix]
            assets = exact or [a for a in assets if a.path.lower().startswith(prefix.lower())]
        order = query.get("order", "created")
        key = order.lstrip("-")
        if key not in ("created", "modified", "path"):
            key = "created"
        assets.sort(key=lambda a: (getattr(a, key), a.created), reverse=order.startswith("-"))
        metadata = query.get("metadata", "false").lower() in ("true", "1", "yes", "on")
        items = [self._asset_record(a, metadata=metadata) for a in assets]
        return self._paginate(items, query, path, lazy_count=True)

    def _paginate(
        self, items: list[Any], query: dict[str, str], path: str, *, lazy_count: bool = False
    ) -> dict[str, Any]:
        try:
            size = min(max(1, int(query.get("page_size", 100))), self.max_page_size)
            page = int(query.get("page", 1))
        except ValueError:
            raise _NotFound from None
        start = (page - 1) * size
        if page < 1 or (start >= len(items) and page != 1):
            raise _InvalidPage
        base = f"{self.api_url}/{path.strip('/')}/"

        def link(n: int) -> str | None:
            q = dict(query, page=str(n))
            if n == 1:
                q.pop("page")
            return base + ("?" + urllib.parse.urlencode(sorted(q.items())) if q else "")

        return {
            "count": len(items) if (page == 1 or not lazy_count) else None,
            "next": link(page + 1) if start + size < len(items) else None,
            "previous": link(page - 1) if page > 1 else None,
            "results": items[start : start + size],
        }

    def gate_forbidden(self, path: str) -> bool:
        key = urllib.parse.unquote(path.split("?", 1)[0]).lstrip("/")
        bucket, _, key = key.partition("/")
        with self._lock:
            if bucket != self.bucket or not self._forbidden:
                return False
            return "*" in self._forbidden or any(
                key == k or (k.endswith("/") and key.startswith(k)) for k in self._forbidden
            )

    def record(self, server: str, request: str, status: int) -> None:
        with self._lock:
            self.log.append((server, request, status))


class _InvalidPage(_NotFound):
    pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # concurrent range reads open many connections at once
    archive: DandiTestServer


def _serve(handler: type[BaseHTTPRequestHandler], archive: DandiTestServer) -> _Server:
    srv = _Server((_HOST, 0), handler)
    srv.archive = archive
    return srv


class _Base(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "dandi-test/1.0"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``DandiTestServer.log``."""

    def _send(
        self, status: int, body: bytes, headers: dict[str, str] | None = None, *, head: bool = False
    ) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)


class _ApiHandler(_Base):
    def do_GET(self) -> None:
        self._handle(head=False)

    def do_HEAD(self) -> None:
        self._handle(head=True)

    def _handle(self, head: bool) -> None:
        archive = self.server.archive
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        location = None
        if not url.path.startswith("/api/"):
            status, body = 404, {"detail": "Not found."}
        else:
            try:
                status, body, location = archive.api(url.path[len("/api/") :], query, self.headers)
            except _InvalidPage:
                status, body = 404, {"detail": "Invalid page."}
            except _NotFound:
                status, body = 404, {"detail": "Not found."}
            except _Unauthorized:
                status, body = 401, {"detail": "Authentication credentials were not provided."}
        archive.record("api", f"{self.command} {self.path}", status)
        headers = {"Content-Type": "application/json", "Vary": "Accept, Authorization"}
        if location is not None:
            headers["Location"] = location
        data = b"" if body is None else json.dumps(body).encode()
        self._send(status, data, headers, head=head)


class _GateHandler(_Base):
    """Path-style S3 endpoint: forward to moto, or 403 for forbidden keys."""

    def do_GET(self) -> None:
        self._forward(head=False)

    def do_HEAD(self) -> None:
        self._forward(head=True)

    def _forward(self, head: bool) -> None:
        archive = self.server.archive
        if archive.gate_forbidden(self.path):
            body = (
                b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
                b"<Message>Access Denied</Message></Error>"
            )
            archive.record("s3", f"{self.command} {self.path}", 403)
            self._send(403, body, {"Content-Type": "application/xml"}, head=head)
            return
        port = archive.s3.port
        conn = http.client.HTTPConnection(_HOST, port, timeout=60)
        try:
            headers = {
                k: v
                for k, v in self.headers.items()
                if k.lower() not in _HOP_HEADERS and k.lower() != "host"
            }
            headers["Host"] = f"{_HOST}:{port}"
            conn.request(self.command, self.path, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            out = {k: v for k, v in resp.getheaders() if k.lower() not in _HOP_HEADERS}
            # logged before answering: a client may look at the log as soon as it has the answer
            archive.record("s3", f"{self.command} {self.path}", resp.status)
            if head:
                length = resp.getheader("Content-Length")
                self.send_response(resp.status)
                for k, v in out.items():
                    self.send_header(k, v)
                if length is not None:
                    self.send_header("Content-Length", length)
                self.end_headers()
            else:
                self._send(resp.status, body, out)
        finally:
            with contextlib.suppress(Exception):
                conn.close()


# -- the archive the DANDI tests read -------------------------------------------------------------

#: (file below the real-data directory, its path in the archive)
ALM_1 = ("dandi-cli/sub-anm369963_ses-20170228.nwb",
         "sub-anm369963/sub-anm369963_ses-20170228.nwb")
ALM_2 = ("dandi-cli/sub-anm372793_ses-20170508.nwb",
         "sub-anm372793/sub-anm372793_ses-20170508.nwb")
OGEN = ("hdmf-zarr/sub_anm00239123_ses_20170627T093549_ecephys_and_ogen.nwb",
        "sub-anm00239123/sub-anm00239123_ses-20170627T093549_ecephys+ogen.nwb")
ZARR = ("test-hdmf-zarr/consolidated.nwb.zarr", "sub-zarr/sub-zarr_ses-1.nwb.zarr")
DANDISET, SINGLE, EMBARGOED, DRAFT_ONLY = "000123", "000124", "000125", "000126"


def example_archive(srv: DandiTestServer, data_dir: Path, scratch: Path) -> dict[str, Any]:
    """Fill ``srv``: ``DANDISET`` has a published version of 3 NWB assets (2 HDF5, 1 Zarr) and
    a video, and a draft that moved on (``OGEN`` added); ``SINGLE`` one published session (to
    tamper with); ``EMBARGOED`` one behind the API key; ``DRAFT_ONLY`` was never published.

    Returns ``{"server", "version", "single_version", "data_dir"}``.
    """
    ds = srv.create_dandiset(DANDISET, name="ALM delay response (local)")
    for local, path in (ALM_2, ZARR, ALM_1):  # created out of path order
        srv.add_asset(ds, data_dir / local, path)
    video = scratch / "video.mp4"
    video.write_bytes(b"\0\0\0\x18ftypmp42" + bytes(1000))
    srv.add_asset(ds, video, "sub-anm369963/sub-anm369963_ses-20170228_video.mp4",
                  metadata={"encodingFormat": "video/mp4"})
    published = srv.publish(ds, "0.230101.1200")
    srv.add_asset(ds, data_dir / OGEN[0], OGEN[1])  # the draft moves on; the version not
    single = srv.create_dandiset(SINGLE, name="one session")
    srv.add_asset(single, data_dir / ALM_1[0], ALM_1[1])
    single_version = srv.publish(single, "0.230202.1000")
    srv.create_dandiset(EMBARGOED, name="embargoed", embargoed=True)
    srv.add_asset(EMBARGOED, data_dir / ALM_2[0], ALM_2[1])
    srv.publish(EMBARGOED, "0.230303.1000")
    srv.create_dandiset(DRAFT_ONLY, name="draft only")
    srv.add_asset(DRAFT_ONLY, data_dir / ALM_1[0], ALM_1[1])
    return {"server": srv, "version": published, "single_version": single_version,
            "data_dir": data_dir}

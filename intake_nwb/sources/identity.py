"""File identity: what says that the bytes behind a URL are still those a reference set or
catalog was made from (size, ETag/version id, mtime)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def file_identity(info: Mapping[str, Any]) -> dict[str, Any]:
    """Normalise fsspec ``info()`` dictionaries of every backend to size/etag/version/mtime."""
    ident: dict[str, Any] = {"size": info.get("size")}
    etag = info.get("ETag") or info.get("etag") or info.get("md5Hash") or info.get("content_md5")
    if etag is not None:
        ident["etag"] = str(etag).strip('"')
    version = info.get("VersionId") or info.get("version_id") or info.get("generation")
    if version not in (None, "null"):
        ident["version_id"] = str(version)
    mtime = (info.get("mtime") or info.get("LastModified") or info.get("last_modified")
             or info.get("updated") or info.get("Last-Modified"))
    if mtime is not None:
        ident["mtime"] = mtime.timestamp() if hasattr(mtime, "timestamp") else mtime
    return ident


def identity_matches(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    """Strongest common evidence wins: version id, then ETag, then size and mtime."""
    for key in ("version_id", "etag"):
        if recorded.get(key) is not None and current.get(key) is not None:
            return recorded[key] == current[key] and recorded.get("size") == current.get("size")
    if recorded.get("size") != current.get("size"):
        return False
    if recorded.get("mtime") is not None and current.get("mtime") is not None:
        return str(recorded["mtime"]) == str(current["mtime"])
    return True



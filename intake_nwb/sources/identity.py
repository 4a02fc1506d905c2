"""File identity: what says that the bytes behind a URL are still those a reference set or
catalog was made from.

An identity record holds what ``info()`` tells (size, ETag/version id, mtime; for local files
also ctime and inode, which no copy tool preserves) and, where that is not proof of content,
a ``sample``: the SHA-256 of a few blocks of the file at offsets fixed when it was indexed (the
file's head and tail and the starts of datasets the references read, spread evenly).
:meth:`Source.unchanged <intake_nwb.sources.Source.unchanged>` decides with the strongest
evidence at hand: a version id or strong ETag settles it; equal local stat fields settle it;
otherwise (``touch``, ``cp``, ``cp -p``, ``rsync -t``, a server without ETags, a relocated
copy) the sample is read again and compared.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

#: blocks read for a content sample, and their size
SAMPLE_BLOCKS = 32
SAMPLE_BLOCK_BYTES = 2048


def file_identity(info: Mapping[str, Any]) -> dict[str, Any]:
    """Normalise fsspec ``info()`` dictionaries of every backend to size/etag/version/mtime
    (local files: also ctime and inode)."""
    ident: dict[str, Any] = {"size": info.get("size")}
    etag = info.get("ETag") or info.get("etag") or info.get("md5Hash") or info.get("content_md5")
    if etag is not None:
        ident["etag"] = str(etag).strip('"') if not str(etag).startswith("W/") else str(etag)
    version = info.get("VersionId") or info.get("version_id") or info.get("generation")
    if version not in (None, "null"):
        ident["version_id"] = str(version)
    mtime = (info.get("mtime") or info.get("LastModified") or info.get("last_modified")
             or info.get("updated") or info.get("Last-Modified"))
    if mtime is not None:
        ident["mtime"] = mtime.timestamp() if hasattr(mtime, "timestamp") else mtime
    if info.get("ino") is not None:  # fsspec's local filesystem: "created" is st_ctime
        ident["ctime"] = info.get("created")
        ident["ino"] = info["ino"]
    return ident


def identity_matches(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    """Whether the metadata alone shows the same content (no I/O): the strongest common
    evidence wins: version id, then a strong ETag, then size with mtime (and, for local files,
    ctime and inode). ``False`` can still be the same content: see ``Source.unchanged``."""
    if recorded.get("size") != current.get("size"):
        return False
    strong = strong_evidence(recorded, current)
    if strong is not None:
        return strong
    return all(str(recorded[k]) == str(current[k]) for k in ("mtime", "ctime", "ino")
               if recorded.get(k) is not None and current.get(k) is not None)


def strong_evidence(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> bool | None:
    """Equal (True) or different (False) version ids or strong ETags; None if neither has
    both (weak ``W/`` ETags say nothing about the bytes)."""
    for key in ("version_id", "etag"):
        a, b = recorded.get(key), current.get(key)
        if a is not None and b is not None and not str(a).startswith("W/") \
                and not str(b).startswith("W/"):
            return a == b
    return None


def needs_sample(identity: Mapping[str, Any]) -> bool:
    """Whether content can change without the identity showing it (no version id, no strong
    ETag): local files (``cp -p``) and plain web servers."""
    return identity.get("version_id") is None and (
        identity.get("etag") is None or str(identity["etag"]).startswith("W/"))


def sample_ranges(size: int, extents: Sequence[tuple[int, int]] = ()) -> list[list[int]]:
    """``[offset, length]`` of the blocks a content sample reads: the head, the tail and the
    starts of ``extents`` (byte ranges the references depend on), spread evenly; sorted."""
    block = SAMPLE_BLOCK_BYTES
    picks = [(0, block), (max(0, size - block), block)]
    inside = [(int(o), int(n)) for o, n in extents if 0 <= o < size and n > 0]
    if inside:
        step = max(1, len(inside) // (SAMPLE_BLOCKS - 2))
        picks += [(o, min(n, block)) for o, n in inside[::step][: SAMPLE_BLOCKS - 2]]
    return sorted({(o, min(n, size - o)) for o, n in picks if min(n, size - o) > 0})


def sample_digest(fs: Any, path: str, ranges: Sequence[Sequence[int]]) -> str:
    """SHA-256 of the sampled blocks (one concurrent batch for remote filesystems)."""
    starts = [int(o) for o, _ in ranges]
    ends = [int(o) + int(n) for o, n in ranges]
    blocks = fs.cat_ranges([path] * len(starts), starts, ends) if starts else []
    digest = hashlib.sha256()
    for block, start, end in zip(blocks, starts, ends, strict=True):
        if isinstance(block, BaseException):
            raise block
        if len(block) != end - start:
            raise OSError(f"short read: bytes {start}-{end - 1} gave {len(block)}")
        digest.update(block)
    return digest.hexdigest()

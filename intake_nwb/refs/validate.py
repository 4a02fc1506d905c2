"""Reference sets are checked before any byte is read: they may come from someone else.

A reference set is a list of instructions to read bytes; a hostile one could point a chunk at
``/etc/passwd``, at a URL inside a lab's network, or declare chunks and shapes that allocate far
more memory than the source could hold. Before a store reads through one, every chunk reference
must be inline data or a byte range ``[offset, offset + length)`` of the one source the set was
built for (the ``{{u}}`` template or that URL), with ``0 <= offset``, ``0 < length`` and
``offset + length <= size``; every array must declare chunks of at most ``max_chunk_bytes``
decoded and at most ``max_fill_bytes`` of fill value beyond the chunks it references; chunks of
uncompressed arrays must be exactly one chunk long. JSON sets are checked whole when opened,
parquet sets one record file at a time as it is loaded (vectorised: records hold 100,000
references).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import config
from ..errors import LimitExceededError, UnsafeReferenceError
from .pad import pad_filter

URL_TEMPLATE_REF = "{{u}}"
_META_NAMES = (".zarray", ".zattrs", ".zgroup", ".zmetadata")


@dataclass(frozen=True)
class Confinement:
    """Where a reference set may point: ``source`` (the URL it records) of ``size`` bytes."""

    refs_file: str
    source: str
    size: int

    def refuse(self, key: str, why: str) -> UnsafeReferenceError:
        return UnsafeReferenceError(f"reference {key!r} {why}; refused (built for {self.source}, "
                                    f"{self.size} bytes)", source=self.refs_file, path=key)


@dataclass(frozen=True)
class ArrayLimits:
    """What an array's ``.zarray`` declares, in bytes, and whether chunks are stored raw."""

    path: str
    chunk_bytes: int
    n_chunks: int
    total_bytes: int
    raw: bool
    tail: int | None = None  # a padded array's last chunk, in bytes (see refs.pad)

    def chunk_lengths(self, flat: np.ndarray) -> np.ndarray:
        """The byte count each chunk (by flat index) of a raw array must be referenced with:
        one whole chunk, but ``tail`` for a padded array's last (its grid is one column)."""
        expected = np.full(len(flat), self.chunk_bytes, dtype=np.int64)
        if self.tail is not None:
            expected[np.asarray(flat) == self.n_chunks - 1] = self.tail
        return expected


def array_limits(path: str, zarray: Mapping[str, Any], where: str) -> ArrayLimits:
    """Parse and bound one array's metadata (``where``: the file, for the error)."""
    shape, chunks = zarray.get("shape"), zarray.get("chunks")
    if not (_ints(shape, 0) and _ints(chunks, 1) and len(shape) == len(chunks)):
        raise UnsafeReferenceError(f"malformed shape {shape!r} / chunks {chunks!r}",
                                   source=where, path=path)
    try:
        dtype = _dtype(zarray.get("dtype"))
    except (TypeError, ValueError) as exc:
        raise UnsafeReferenceError(f"unknown dtype {zarray.get('dtype')!r} ({exc})",
                                   source=where, path=path) from None
    chunk_bytes = math.prod(chunks) * dtype.itemsize
    if chunk_bytes > config.max_chunk_bytes:
        raise LimitExceededError(
            f"declares chunks of {chunk_bytes:,} bytes decoded, more than max_chunk_bytes "
            f"({config.max_chunk_bytes:,}; INTAKE_NWB_MAX_CHUNK_BYTES raises it)",
            source=where, path=path)
    n_chunks = math.prod(-(-s // c) for s, c in zip(shape, chunks, strict=True))
    pad = pad_filter(zarray.get("filters"))
    raw = ((not zarray.get("filters") or pad is not None) and zarray.get("compressor") is None
           and dtype.kind != "O")
    tail = None
    if pad is not None:  # only the last row chunk is short, by the rows past the shape
        row_bytes = chunk_bytes // chunks[0]
        tail = (shape[0] - (-(-shape[0] // chunks[0]) - 1) * chunks[0]) * row_bytes
        if pad.get("size") != chunk_bytes or pad.get("tail") != tail or \
                math.prod(chunks[1:]) != math.prod(shape[1:]):
            raise UnsafeReferenceError(f"pads chunks inconsistently with its shape ({pad!r})",
                                       source=where, path=path)
    return ArrayLimits(path, chunk_bytes, n_chunks, math.prod(shape) * dtype.itemsize, raw,
                       tail)


def check_fill(limits: ArrayLimits, present_at_most: int, where: str) -> None:
    """Refuse an array whose chunks not referenced would fill more than ``max_fill_bytes``."""
    fill = min(limits.total_bytes, max(0, limits.n_chunks - present_at_most) * limits.chunk_bytes)
    if fill > config.max_fill_bytes:
        raise LimitExceededError(
            f"declares {limits.total_bytes:,} bytes but references {present_at_most:,} of its "
            f"{limits.n_chunks:,} chunks: {fill:,} bytes of fill value, more than max_fill_bytes "
            f"({config.max_fill_bytes:,}; INTAKE_NWB_MAX_FILL_BYTES raises it)",
            source=where, path=limits.path)


def _ints(values: Any, minimum: int) -> bool:
    return isinstance(values, list) and all(
        type(v) is int and v >= minimum for v in values)


def _dtype(spec: Any) -> np.dtype:
    if isinstance(spec, list):  # structured: [[name, dtype(, shape)], ...]
        return np.dtype([(f[0], _dtype(f[1]), *([tuple(f[2])] if len(f) > 2 else []))
                         for f in spec])
    if not isinstance(spec, str):
        raise TypeError("not a dtype string")
    return np.dtype(spec)


def consolidated(refs: Mapping[str, Any]) -> dict[str, Any]:
    """The ``.zarray`` documents of a JSON set, by array path (consolidated or per key)."""
    zmeta = refs.get(".zmetadata")
    if isinstance(zmeta, (str, bytes)):
        meta = json.loads(zmeta).get("metadata", {})
    else:
        meta = {k: json.loads(v) for k, v in refs.items()
                if k.endswith(".zarray") and isinstance(v, (str, bytes))}
    return {k[: -len(".zarray")].rstrip("/"): v for k, v in meta.items()
            if k.endswith(".zarray") and isinstance(v, dict)}


def check_json(doc: Mapping[str, Any], conf: Confinement) -> None:
    """Check a parsed kerchunk JSON reference set (version 0 or 1) as a whole."""
    if doc.get("gen"):
        raise conf.refuse("gen", "generates references from templates (not supported)")
    refs = doc.get("refs", doc) if doc.get("version") == 1 else doc
    keys: list[str] = []
    ranges: list[Any] = []
    inline: dict[str, int] = {}
    for key, value in refs.items():
        if type(value) is list:
            keys.append(key)
            ranges.append(value)
        elif isinstance(value, str):
            if not key.endswith(_META_NAMES):
                inline[key] = _inline_length(value)
        elif not isinstance(value, dict):
            raise conf.refuse(key, f"is neither inline data nor a byte range ({value!r:.80})")
    lengths = _check_ranges(keys, ranges, conf)
    _check_arrays(consolidated(refs), keys, lengths, inline, conf)


def _inline_length(value: str) -> int:
    if value.startswith("base64:"):
        body = value[7:]
        return len(body) * 3 // 4 - body[-2:].count("=")
    return len(value.encode())


def _check_ranges(keys: list[str], ranges: list[Any], conf: Confinement) -> np.ndarray:
    """The lengths, once every range is confined."""
    if not keys:
        return np.empty(0, np.int64)
    bad_shape = [i for i, r in enumerate(ranges) if len(r) != 3]
    if bad_shape:
        i = bad_shape[0]
        raise conf.refuse(keys[i], f"is {ranges[i]!r:.80}, not [url, offset, length] "
                                   "(whole-file references are refused)")
    urls = [r[0] for r in ranges]
    allowed = {URL_TEMPLATE_REF, conf.source}
    for i, url in enumerate(urls):  # set membership: ~50 ns per reference
        if url not in allowed:
            raise conf.refuse(keys[i], f"points at {url!r}, not at its source")
    try:
        offsets = np.array([r[1] for r in ranges], dtype=np.int64)
        lengths = np.array([r[2] for r in ranges], dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        i = next(i for i, r in enumerate(ranges)
                 if not (type(r[1]) is int and type(r[2]) is int and abs(r[1]) < 2**62
                         and abs(r[2]) < 2**62))
        raise conf.refuse(keys[i], f"has offset/length {ranges[i][1:]!r:.80}, not integers"
                          ) from None
    check_ranges(keys, offsets, lengths, conf)
    return lengths


def check_ranges(keys: Any, offsets: np.ndarray, lengths: np.ndarray, conf: Confinement
                 ) -> None:
    """Vectorised: ``0 <= offset``, ``0 < length``, ``offset + length <= size``."""
    bad = (offsets < 0) | (lengths <= 0) | (offsets > conf.size - lengths)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise conf.refuse(str(keys[i]), f"reads bytes [{offsets[i]}, +{lengths[i]}), outside "
                                        f"the source's [0, {conf.size})")


def array_of(key: str, arrays: Mapping[str, Any]) -> str | None:
    """The array a chunk key belongs to (``.`` or ``/`` dimension separators)."""
    path = key
    while "/" in path:
        path = path.rpartition("/")[0]
        if path in arrays:
            return path
    return "" if "" in arrays and "/" not in key else None


def _row_chunk(key: str, conf: Confinement) -> int:
    try:
        return int(key.rsplit("/", 1)[-1].split(".")[0])
    except ValueError:
        raise conf.refuse(key, "is not a chunk key") from None


def _check_arrays(zarrays: Mapping[str, Any], keys: list[str], lengths: np.ndarray,
                  inline: Mapping[str, int], conf: Confinement) -> None:
    limits = {p: array_limits(p, z, conf.refs_file) for p, z in zarrays.items()}
    present: dict[str, int] = dict.fromkeys(limits, 0)
    # chunk lengths by array: raw arrays' chunks must hold exactly one chunk
    by_array: dict[str | None, list[int]] = {}
    for i, key in enumerate(keys):
        by_array.setdefault(array_of(key, limits), []).append(i)
    for path, idx in by_array.items():
        if path is None:
            continue
        present[path] += len(idx)
        lim = limits[path]
        if lim.raw:
            # a padded array's grid is one column: a chunk's first index is its flat one
            flat = (np.array([_row_chunk(keys[i], conf) for i in idx], dtype=np.int64)
                    if lim.tail is not None else np.zeros(len(idx), dtype=np.int64))
            wrong = np.flatnonzero(lengths[idx] != lim.chunk_lengths(flat))
            if len(wrong):
                i = idx[int(wrong[0])]
                raise conf.refuse(keys[i], f"holds {lengths[i]} bytes for an uncompressed chunk "
                                           f"of {lim.chunk_bytes}")
    for key, n in inline.items():
        path = array_of(key, limits)
        if path is None:
            continue
        present[path] += 1
        if limits[path].raw and n != limits[path].chunk_bytes:
            raise conf.refuse(key, f"inlines {n} bytes for an uncompressed chunk of "
                                   f"{limits[path].chunk_bytes}")
    for path, lim in limits.items():
        check_fill(lim, present[path], conf.refs_file)

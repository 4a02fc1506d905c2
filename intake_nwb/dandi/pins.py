"""Pins: what a catalog recorded of each DANDI asset, checked before reading."""

from __future__ import annotations

import concurrent.futures as cf
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fsspec.asyn import get_loop, sync

from ..catalog.locate import clean_relocate
from ..errors import (
    DandiAPIError,
    IntakeNWBError,
    PinMismatchError,
    RemoteIOError,
    SourceNotFoundError,
)
from ..sources import Source, identity_matches
from ..sources.dandiapi import TOKEN_ENV, origin
from ..sources.sessions import loop_http

PIN_KEY = "dandi"  # catalog metadata block


@dataclass
class _Probe:
    url: str
    status: int
    size: int | None = None
    etag: str | None = None


def _probe(url: str, *, ranged: bool, token: str | None, api_url: str | None,
           timeout: float) -> _Probe:
    """HEAD (S3 URLs) or a one-byte ranged GET (download URLs: their presigned targets may not
    be HEAD-able): status, full size and ETag, redirects followed. On the shared session, so
    retried like every request (connection errors, 429, 5xx)."""
    return sync(get_loop(), _aprobe, url, ranged, token, api_url, timeout)


async def _aprobe(url: str, ranged: bool, token: str | None, api_url: str | None,
                  timeout: float) -> _Probe:
    import aiohttp

    headers: dict[str, str] = {"Accept-Encoding": "identity"}
    if token and api_url and origin(url) == origin(api_url):
        headers["Authorization"] = f"token {token}"  # aiohttp drops it on leaving the origin
    session = await loop_http().set_session()
    options: dict[str, Any] = {"allow_redirects": True,
                               "timeout": aiohttp.ClientTimeout(total=timeout)}
    try:
        if ranged:
            request = session.get(url, headers={**headers, "Range": "bytes=0-0"}, **options)
        else:
            request = session.head(url, headers=headers, **options)
        async with request as resp:
            status, got = resp.status, resp.headers
    except (RemoteIOError, aiohttp.ClientError, TimeoutError) as exc:
        raise IntakeNWBError(f"cannot reach it to check its DANDI pin ({exc})",
                             source=url) from exc
    size: int | None = None
    content_range = got.get("Content-Range", "")
    if status == 206 and "/" in content_range:
        total = content_range.rsplit("/", 1)[1]
        size = int(total) if total.isdigit() else None
    elif got.get("Content-Length", "").isdigit():
        size = int(got["Content-Length"])
    etag = got.get("ETag")
    return _Probe(url, status, size, etag.strip('"') if etag else None)


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
    """Check one asset; return the URL to read it from (a ``dandi://`` key: itself, since the
    filesystem falls back to the download URL on its own)."""
    from ..store import relocate_url

    named = key.startswith("dandi://")
    if pin.get("zarr_id") or pin.get("root_identity") is not None:
        target = relocate_url(key, relocate)
        options = storage_options if named and target == key else pin.get("storage_options")
        src = Source.from_url(target, options or {})
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
        return key if named else download
    if probe.status != 200:
        raise _http_failure(pin, probe, key)
    _check_bytes(pin, probe, key)
    return key if named else s3


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
    by_url = {u: k for k, p in pins.items()
              for u in (p.get("url"), p.get("s3_url"), p.get("download_url")) if u}
    if source in by_url:
        return by_url[source]
    local = source[7:] if source.startswith("file://") else source
    if "://" not in local and os.path.exists(local):
        from ..refs import cache as refcache

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
        (``url`` is the URL recorded in the asset's reference file: an S3 or ``dandi://`` URL;
        see :meth:`DandiSelection.pins`). None or empty: nothing to check, ``relocate`` is
        returned as it is.
    sources:
        What the entry reads: reference files (their recorded source is looked up), NWB URLs
        (S3 or ``dandi://``) or Zarr URLs. Sources that are not pinned are not checked. None:
        check every pin.
    relocate:
        The entry's own URL prefix map; a relocated asset (a mirror) is checked where it is
        read, by size.
    token:
        DANDI API key for download URLs of embargoed assets (default ``$DANDI_API_KEY``).
    api_url:
        The API whose URLs get the token (default: the download URLs' own host).
    storage_options:
        fsspec options for relocated copies and ``dandi://`` Zarr assets (the entry's
        ``storage_options``).

    Returns
    -------
    dict
        The relocation map to read with: ``relocate`` plus ``{pinned URL: download URL}`` for
        S3 URLs that refused access (``dandi://`` URLs fall back to the download URL by
        themselves, so they are not relocated). Pass it on as ``relocate=``.

    Raises
    ------
    PinMismatchError
        An asset's size or ETag differs from its pin, or it is gone (all such assets are named).

    Examples
    --------
    >>> # needs a pinned DANDI catalog's entry and the DANDI archive (internet)
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
    """The ``dandi`` block of a pinned catalog's metadata (dandiset, version, API), with
    ``assets``: every asset's pin, as the catalog's lab index keeps them.

    Examples
    --------
    >>> # needs a catalog built by dandi_catalog (from the DANDI archive, internet)
    >>> read_pins("dandi_000006.yaml")["version"]  # doctest: +SKIP
    '0.220126.1855'
    """
    import yaml

    from ..catalog.index import LabIndex

    with open(catalog) as f:
        doc = yaml.safe_load(f) or {}
    meta = doc.get("metadata") or {}
    block = meta.get(PIN_KEY)
    index = (meta.get("intake_nwb") or {}).get("index")
    if not block or not index:
        raise IntakeNWBError("not a pinned DANDI catalog (no metadata.dandi)", source=str(catalog))
    lab = LabIndex(os.path.join(os.path.dirname(os.path.abspath(catalog)), index))
    return {**block, "assets": [r.extra[PIN_KEY] for r in lab.files.values()
                                if PIN_KEY in r.extra]}


def verified_relocate(pins: Mapping[str, Mapping[str, Any]] | None, paths: Sequence[str],
                      relocate: Mapping[str, str] | None,
                      storage_options: Mapping[str, Any] | None) -> dict[str, str]:
    """The relocation map to read with; with ``pins`` (DANDI catalogs), checked first.

    :func:`intake_nwb.dandi.verify_pins` compares each pinned asset with its pin (raising
    ``PinMismatchError``) and maps assets whose S3 URL refuses access to their download URL.

    Examples
    --------
    >>> verified_relocate(None, [], {"/old//data/": "/new/data/"}, None)
    {'/old/data/': '/new/data/'}
    """
    out = clean_relocate(relocate) or {}
    if pins:
        out = verify_pins(pins, list(paths), relocate=out or None,
                          storage_options=storage_options or None)
    return out



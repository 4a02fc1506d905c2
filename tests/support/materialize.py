"""Copy a kerchunk reference set (a virtual NWB Zarr store) into a local Zarr v2 directory store.

The copy holds, for every key of the reference set, exactly the bytes zarr would read through
fsspec's ``ReferenceFileSystem``: inline values (``"base64:..."`` or text) decoded, referenced
``[url, offset, length]`` ranges read from their file, kerchunk ``templates`` (``{{u}}``)
resolved. Tools that only accept local stores (hdmf-zarr's ``NWBZarrIO``) can then read the
virtual store as it is, which is how the test suite checks that a virtual store *is* an NWB Zarr
file.

Runs with zarr 3 (the main environment); nothing here imports zarr.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import fsspec

__all__ = ["materialize"]

_META_NAMES = (".zgroup", ".zarray", ".zattrs")
_BATCH = 512  # keys per fs.cat call: ranges of one file are read together


def materialize(
    refs: str | os.PathLike[str] | Mapping[str, Any],
    dest_dir: str | os.PathLike[str],
    *,
    overwrite: bool = True,
    remote_options: Mapping[str, Any] | None = None,
) -> Path:
    """Write every key of ``refs`` as a file under ``dest_dir``; return ``dest_dir``.

    Parameters
    ----------
    refs:
        A reference file (kerchunk JSON, or a parquet reference directory) or a reference dict
        (``{"version": 1, "templates": ..., "refs": ...}`` or a plain ``{key: value}`` map).
    dest_dir:
        The directory store to create (a Zarr v2 directory store, ``.`` chunk keys as files).
    overwrite:
        Remove ``dest_dir`` first if it exists (otherwise it must not exist or be empty).
    remote_options:
        fsspec options for the files the references point to.

    ``.zmetadata`` is copied when the reference set has one and built from the metadata keys
    when it has none, so the store opens with consolidated metadata either way.
    """
    dest = Path(dest_dir)
    if dest.exists():
        if overwrite:
            shutil.rmtree(dest) if dest.is_dir() else dest.unlink()
        elif any(dest.iterdir()):
            raise FileExistsError(f"{dest} exists and is not empty")
    dest.mkdir(parents=True, exist_ok=True)

    fs, keys = _reference_fs(refs, remote_options)
    keys = sorted(set(keys))
    for i in range(0, len(keys), _BATCH):
        batch = keys[i : i + _BATCH]
        values = fs.cat(batch, on_error="raise")
        if not isinstance(values, dict):  # a single key comes back as bytes
            values = {batch[0]: values}
        for key in batch:
            _write(dest, key, values[key])
    if ".zmetadata" not in keys:
        _write(dest, ".zmetadata", json.dumps(_consolidate(dest, keys), indent=1).encode())
    return dest


def _reference_fs(
    refs: Any, remote_options: Mapping[str, Any] | None
) -> tuple[fsspec.AbstractFileSystem, list[str]]:
    """The reference filesystem over ``refs`` and every key it holds."""
    kwargs: dict[str, Any] = {"remote_options": dict(remote_options or {})}
    if isinstance(refs, Mapping):
        doc: Any = dict(refs)
        if "refs" not in doc and "version" not in doc:  # a bare {key: value} map
            doc = {"version": 1, "refs": doc}
    else:
        path = os.fspath(refs)
        if os.path.isdir(path):  # kerchunk's parquet layout
            return _parquet_fs(path, kwargs)
        with fsspec.open(path, "rb") as f:
            doc = json.load(f)
    fs = fsspec.filesystem("reference", fo=doc, **kwargs)
    return fs, list(fs.references)


def _parquet_fs(path: str, kwargs: dict[str, Any]) -> tuple[fsspec.AbstractFileSystem, list[str]]:
    from fsspec.implementations.reference import LazyReferenceMapper

    try:
        import fastparquet  # noqa: F401 - fsspec's default parquet engine

        engine = "fastparquet"
    except ImportError:
        engine = "pyarrow"
    mapper = LazyReferenceMapper(path, fs=fsspec.filesystem("file"), engine=engine)
    # not ``list(mapper)``: fsspec takes every directory named in the metadata (groups too)
    # for an array; list the metadata keys, then the chunk keys of each array that exist
    keys = [k for k in mapper.zmetadata if isinstance(k, str)]
    protocol = None
    for key in list(keys):
        if key.rsplit("/", 1)[-1] != ".zarray" or "/" not in key:
            continue
        for chunk in mapper._keys_in_field(key.rsplit("/", 1)[0]):
            try:
                value = mapper[chunk]
            except KeyError:
                continue
            keys.append(chunk)
            if protocol is None and isinstance(value, list) and value and value[0]:
                protocol = fsspec.core.split_protocol(value[0])[0] or "file"
    # a remote_protocol keeps ReferenceFileSystem from iterating the mapper to find one
    fs = fsspec.filesystem("reference", fo=mapper, remote_protocol=protocol or "file", **kwargs)
    return fs, keys


def _write(dest: Path, key: str, data: bytes) -> None:
    if key.startswith("/") or ".." in key.split("/"):
        raise ValueError(f"unsafe key {key!r}")
    path = dest.joinpath(*key.split("/"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _consolidate(dest: Path, keys: Iterable[str]) -> dict[str, Any]:
    meta = {}
    for key in keys:
        if key.rsplit("/", 1)[-1] in _META_NAMES:
            meta[key] = json.loads(dest.joinpath(*key.split("/")).read_bytes())
    return {"zarr_consolidated_format": 1, "metadata": meta}

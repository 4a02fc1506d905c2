"""Reference files on disk: naming, atomic writing (JSON or parquet), metadata and staleness.

A reference file records, beside kerchunk's ``version``/``templates``/``refs``, an
``intake_nwb`` block: the source URL, its identity (size, ETag/version id, mtime), the
intake_nwb version, the reference layout version and whatever could not be translated.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import fsspec
import platformdirs

from ..errors import IntakeNWBError
from ..sources import Source
from ..util.atomic import TMP_PREFIX, atomic_write, shareable
from ..util.lru import LRU

LAYOUT_VERSION = 1
META_KEY = "intake_nwb"
PARQUET_MIN_CHUNKS = 100_000  # above this many chunk references, write kerchunk's parquet layout
PARQUET_RECORD_SIZE = 100_000


def default_refs_dir() -> Path:
    """The per-user cache of reference files (``$INTAKE_NWB_REFS_DIR`` overrides it)."""
    env = os.environ.get("INTAKE_NWB_REFS_DIR")
    return Path(env) if env else Path(platformdirs.user_cache_dir("intake-nwb")) / "refs"


def refs_name_for(url: str) -> str:
    """A readable, collision-free file name for the references of ``url``."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", url.rstrip("/").rsplit("/", 1)[-1])[:80]
    digest = hashlib.sha256(url.encode()).hexdigest()[:12]
    return f"{stem}.{digest}.json"


def refs_path_for(url: str, refs_dir: str | os.PathLike[str] | None) -> Path:
    return Path(refs_dir or default_refs_dir()) / refs_name_for(url)


def parquet_path(path: Path) -> Path:
    return path.with_suffix(".parq")


def existing(path: Path) -> Path | None:
    """The JSON or parquet reference set stored for ``path``, whichever exists."""
    for p in (path, parquet_path(path)):
        if p.exists():
            return p
    return None


def write(path: Path, refset: dict[str, Any], meta: dict[str, Any]) -> Path:
    """Write atomically; kerchunk's parquet layout when there are very many chunks."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if refset.get("n_chunks", 0) >= PARQUET_MIN_CHUNKS:
        return _write_parquet(parquet_path(path), refset, meta)
    doc = {"version": 1, META_KEY: meta, "templates": refset["templates"], "refs": refset["refs"]}
    atomic_write(path, json.dumps(doc, separators=(",", ":")).encode())
    stale_parquet = parquet_path(path)
    if stale_parquet.exists():
        shutil.rmtree(stale_parquet, ignore_errors=True)
    return path


def _write_parquet(path: Path, refset: dict[str, Any], meta: dict[str, Any]) -> Path:
    from fsspec.implementations.reference import LazyReferenceMapper

    url = refset["templates"]["u"]
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=TMP_PREFIX, suffix=".parq"))
    shareable(tmp, directory=True)
    try:
        out = LazyReferenceMapper.create(str(tmp), fs=fsspec.filesystem("file"),
                                         record_size=PARQUET_RECORD_SIZE, engine="pyarrow")
        for key in sorted(refset["refs"]):
            if key == ".zmetadata":  # the parquet layout keeps its own consolidated metadata
                continue
            value = refset["refs"][key]
            out[key] = [url, *value[1:]] if isinstance(value, list) else value
        out.flush()
        zmeta_file = tmp / ".zmetadata"
        zmeta = json.loads(zmeta_file.read_text())
        zmeta[META_KEY] = meta
        zmeta_file.write_text(json.dumps(zmeta))
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    path.with_suffix(".json").unlink(missing_ok=True)
    return path


def open_parquet(path: str | os.PathLike[str]) -> Any:
    """The lazy reference mapping of a parquet reference set, read with pyarrow."""
    from fsspec.implementations.reference import LazyReferenceMapper

    return LazyReferenceMapper(os.fspath(path), fs=fsspec.filesystem("file"), engine="pyarrow")


_docs: LRU[dict[str, Any]] = LRU(max_items=64)


class _RefDoc(dict):  # type: ignore[type-arg]
    """A parsed reference file with a cheap repr: fsspec tokenizes filesystem kwargs with
    ``str()``, which would print megabytes of references for every open."""

    def __repr__(self) -> str:
        return f"<references {id(self):x}>"

    __str__ = __repr__


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a JSON reference file, memoised on path, mtime and size, so that the staleness
    check and the store that opens it next parse it once (treat the result as read-only)."""
    p = Path(path)
    stat = p.stat()
    key = (str(p.resolve()), stat.st_mtime_ns, stat.st_size)
    doc = _docs.get(key)
    if doc is None:
        with open(p) as f:
            doc = _RefDoc(json.load(f))
        _docs.put(key, doc)
    return doc


def read_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``intake_nwb`` block of a reference file (JSON file or parquet directory)."""
    p = Path(path)
    try:
        if p.is_dir():
            return json.loads((p / ".zmetadata").read_text()).get(META_KEY, {})
        return load(p).get(META_KEY, {})
    except (OSError, ValueError) as exc:
        raise IntakeNWBError(f"unreadable reference file ({exc})", source=str(p)) from exc


def local_copy_of(src: Source, *, immutable: bool = False) -> str:
    """A local copy of a remote file or folder (a reference set, a catalog index file), kept in
    the user cache per URL and identity, so a catalog folder served over HTTP or S3 is fetched
    once. ``immutable``: the URL names its content (a versioned index), so no identity request
    is needed."""
    ident: Any = None if immutable else src.identity()
    key = json.dumps([src.url, ident], sort_keys=True, default=str)
    name = f"{hashlib.sha256(key.encode()).hexdigest()[:16]}-{src.name}"
    dest = default_refs_dir().parent / "remote-refs" / name
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=TMP_PREFIX)) / src.name
        try:
            src.fs.get(src.fs_path, str(tmp), recursive=src.url.endswith(".parq"))
            os.replace(tmp, dest)
        finally:
            shutil.rmtree(tmp.parent, ignore_errors=True)
    return str(dest)

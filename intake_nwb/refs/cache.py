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
from ..util.atomic import (
    TMP_PREFIX,
    atomic_write,
    clean_stale_files,
    pinned_dir,
    remove_dir,
    replacing_dir,
)
from ..util.lru import LRU
from .parquet import META_KEY, CheckedReferenceMapper
from .validate import Confinement

LAYOUT_VERSION = 1
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
    """Write atomically; kerchunk's parquet layout when there are very many chunks.

    Whichever layout is written replaces the other only once it is in place, so a reader finds
    the old set or the new one, never a mix and never none.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    _clean_once(path.parent)
    if refset.get("n_chunks", 0) >= PARQUET_MIN_CHUNKS:
        written = _write_parquet(parquet_path(path), refset, meta)
        path.with_suffix(".json").unlink(missing_ok=True)
        return written
    doc = {"version": 1, META_KEY: meta, "templates": refset["templates"], "refs": refset["refs"]}
    atomic_write(path, json.dumps(doc, separators=(",", ":")).encode())
    if existing(parquet_path(path)) is not None or parquet_path(path).is_symlink():
        remove_dir(parquet_path(path))
    return path


_cleaned: set[Path] = set()


def _clean_once(directory: Path) -> None:
    """Leftovers of killed writers go, once per process and folder (an hour old at least)."""
    if directory not in _cleaned:
        _cleaned.add(directory)
        clean_stale_files(directory)


def _write_parquet(path: Path, refset: dict[str, Any], meta: dict[str, Any]) -> Path:
    """A new version of the parquet set beside the old one, swapped in by one rename; its
    ``.zmetadata`` lists every record file written, so a missing one is never read as fill."""
    from fsspec.implementations.reference import LazyReferenceMapper

    url = refset["templates"]["u"]
    with replacing_dir(path) as tmp:
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
        records = {}
        for key in zmeta["metadata"]:
            if key.endswith("/.zarray"):
                field = key[: -len("/.zarray")]
                found = sorted(int(p.name.split(".")[1]) for p in (tmp / field).glob("refs.*.parq"))
                if found:
                    records[field] = found
        zmeta[META_KEY] = {**meta, "records": records}
        zmeta_file.write_text(json.dumps(zmeta))
    return path


def update_meta(path: Path, meta: dict[str, Any]) -> None:
    """Replace the ``intake_nwb`` block of a reference set in place (atomically; the
    references themselves are unchanged)."""
    if path.is_dir():
        zmeta_file = pinned_dir(path) / ".zmetadata"
        zmeta = json.loads(zmeta_file.read_text())
        atomic_write(zmeta_file, json.dumps({**zmeta, META_KEY: meta}))
        return
    atomic_write(path, json.dumps({**load(path), META_KEY: meta}, separators=(",", ":")))


def open_parquet(path: str | os.PathLike[str], conf: Confinement, read_url: str) -> Any:
    """The lazy reference mapping of a parquet set (one version: pass :func:`pinned_dir`'s
    path), each record file checked as it is loaded (see :class:`CheckedReferenceMapper`)."""
    return CheckedReferenceMapper(os.fspath(path), conf, read_url)


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
            return json.loads((pinned_dir(p) / ".zmetadata").read_text()).get(META_KEY, {})
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
            try:
                os.replace(tmp, dest)
            except OSError:  # another process fetched the same copy first
                if not dest.exists():
                    raise
        finally:
            shutil.rmtree(tmp.parent, ignore_errors=True)
    return str(dest)

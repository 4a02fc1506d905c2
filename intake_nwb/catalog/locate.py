"""Where catalog entries find their files: ``{{ CATALOG_DIR }}`` paths, globs, remote
reference files (fetched once into the user cache), reference folders and relocation maps."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from fsspec.core import split_protocol

from ..errors import IntakeNWBError
from ..refs.cache import local_copy_of
from ..sources import REFS_JSON_SUFFIXES, expand

_REFS_SUFFIXES = (*REFS_JSON_SUFFIXES, ".parq")


def clean_url(url: str) -> str:
    """Collapse the ``//`` that ``{{ CATALOG_DIR }}/...`` leaves (intake ends local dirs in /).

    Examples
    --------
    >>> clean_url("/lab//refs/a.json"), clean_url("http://host/lab//refs/"), clean_url("/d/")
    ('/lab/refs/a.json', 'http://host/lab/refs/', '/d/')
    """
    proto, rest = split_protocol(url)
    if proto is None:
        if not rest:
            return rest
        return os.path.normpath(rest) + ("/" if rest.endswith("/") and rest != "/" else "")
    return f"{proto}://{re.sub('/{2,}', '/', rest)}"


def resolve_sources(sources: Any, storage_options: Mapping[str, Any] | None = None) -> list[str]:
    """Expand globs, clean catalog-relative paths and fetch remote reference files locally.

    Examples
    --------
    >>> resolve_sources(["/lab//refs/a.nwb.0123456789ab.json"])
    ['/lab/refs/a.nwb.0123456789ab.json']
    """
    items = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    srcs = expand([clean_url(os.fspath(s)) for s in items], storage_options)
    return [local_copy_of(s) if not s.is_local and s.url.endswith(_REFS_SUFFIXES) else s.url
            for s in srcs]


def refs_dir_for(refs: str | os.PathLike[str] | None, catalog_dir: str | None = None
                 ) -> str | None:
    """Where references are written: ``refs`` when local, else the user cache (None).

    For an entry of a catalog, writes stay in the catalog's folder: a ``refs`` outside it (a
    catalog's ``refs: ../../elsewhere``) raises.

    Examples
    --------
    >>> refs_dir_for("/lab/refs", "/lab/"), refs_dir_for("s3://b/refs") is None
    ('/lab/refs', True)
    """
    if refs is None:
        return None
    text = os.fspath(refs)
    refs = clean_url(text)
    if split_protocol(refs)[0] not in (None, "file"):
        return None
    if catalog_dir and "://" not in catalog_dir:
        folder = os.path.normpath(catalog_dir)
        if ".." in PurePosixPath(text).parts or not (
                refs == folder or refs.startswith(folder.rstrip("/") + "/")):
            raise IntakeNWBError(f"refs {text!r} is outside the catalog folder: reference "
                                 "files are only written there or in the user cache",
                                 source=catalog_dir)
    return refs


def clean_relocate(relocate: Mapping[str, str] | None) -> dict[str, str] | None:
    return {clean_url(k): clean_url(v) for k, v in relocate.items()} if relocate else None


def _is_url(p: str) -> bool:
    return "://" in p and not p.startswith("file://")


def portable(path: str, folder: Path) -> str:
    """How a catalog records ``path``: relative (posix) when inside ``folder``, else as is.

    Examples
    --------
    >>> portable("/lab/refs/a.json", Path("/lab")), portable("s3://b/x.nwb", Path("/lab"))
    ('refs/a.json', 's3://b/x.nwb')
    """
    if _is_url(path):
        return path
    try:
        return Path(path).resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        return path


def locate(recorded: str, folder: str | Path) -> str:
    """The path or URL a recorded path names, relative ones resolved against the catalog
    ``folder`` (itself a local path or a URL).

    Examples
    --------
    >>> locate("refs/a.json", "/lab"), locate("refs/a.json", "http://host/lab/")
    ('/lab/refs/a.json', 'http://host/lab/refs/a.json')
    >>> locate("/data/x.nwb", "/lab")
    '/data/x.nwb'
    """
    if _is_url(recorded) or os.path.isabs(recorded):
        return recorded
    parts = PurePosixPath(recorded).parts
    if ".." in parts:
        raise IntakeNWBError("a catalog path must not leave the catalog folder",
                             source=str(folder), path=recorded)
    base = str(folder).rstrip("/")
    if _is_url(base):
        return f"{base}/{recorded}"
    return os.path.join(base.removeprefix("file://"), *parts)

"""Writes that never leave half an artifact: write beside the target, then swap atomically.

The one crash-safe mechanism of the package (reference sets, chunk-cache entries, catalogs):

- a file: :func:`atomic_write` writes a temporary file beside it and renames it over the target;
- a directory: :func:`replacing_dir` builds a new version beside it and makes the target a
  symbolic link to that version, swapped with one rename. A reader that resolves the link once
  (:func:`pinned_dir`) reads one version throughout, old or new, never a mix.

A writer killed at any point leaves the old artifact intact and, at most, leftovers named
``.tmp-*``; the next writer removes them (directories: once no live writer holds their lock;
files: once they are an hour old). Files get the usual permissions (0666 less the umask), not
``mkstemp``'s private 0600, so reference folders, chunk caches and catalogs can be shared.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

TMP_PREFIX = ".tmp-"
#: age after which a ``.tmp-*`` file (a killed :func:`atomic_write`) is removed
STALE_TMP_SECONDS = 3600.0
_VERSIONS = ".versions"
_LOCK = ".lock"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


UMASK = _umask()


def shareable(path: str | os.PathLike[str], directory: bool = False) -> None:
    """Give ``path`` the permissions a plain ``open``/``mkdir`` would have."""
    os.chmod(path, (0o777 if directory else 0o666) & ~UMASK)


def atomic_write(path: str | os.PathLike[str], data: bytes | str) -> Path:
    """Write ``data`` to ``path`` atomically (readers see the old file or the new one).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.json"
    >>> atomic_write(p, '{"x": 1}').read_text()
    '{"x": 1}'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TMP_PREFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        shareable(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def versions_dir(target: str | os.PathLike[str]) -> Path:
    """Where the versions of a swapped directory live: ``.<name>.versions`` beside it."""
    target = Path(target)
    return target.parent / f".{target.name}{_VERSIONS}"


@contextlib.contextmanager
def replacing_dir(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Build a new version of directory ``target`` in the yielded directory; swap it in on
    success (an exception or a kill leaves the old version in place).

    ``target`` becomes a relative symbolic link to ``.<name>.versions/<version>``; an existing
    plain directory is moved there first. After the swap, versions other than the new one and
    the one it replaced are removed (readers still on the replaced one keep it).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "set.parq"
    >>> with replacing_dir(d) as new:
    ...     _ = (new / "a").write_text("1")
    >>> (d / "a").read_text(), d.is_symlink()
    ('1', True)
    """
    target = Path(target)
    versions = versions_dir(target)
    versions.mkdir(parents=True, exist_ok=True)
    token = f"{time.time_ns():016x}-{secrets.token_hex(4)}"
    building = versions / f"{TMP_PREFIX}{token}"
    lock = _lock(building)  # held until swapped in: cleaners leave this version alone
    try:
        _clean_versions(versions, keep=None)
        building.mkdir()
        shareable(building, directory=True)
        yield building
        os.rename(building, versions / token)
        replaced = _swap_link(target, versions, token)
        _clean_versions(versions, keep={token, replaced})
    finally:
        if building.exists():
            shutil.rmtree(building, ignore_errors=True)
        Path(str(building) + _LOCK).unlink(missing_ok=True)
        os.close(lock)


def _lock(build: Path) -> int:
    """Create and hold the lock of ``build``; retried if a cleaner removed the file meanwhile."""
    path = Path(str(build) + _LOCK)
    while True:
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o666 & ~UMASK)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


def _swap_link(target: Path, versions: Path, token: str) -> str | None:
    """Point ``target`` at ``versions/token`` with one rename; return the version replaced."""
    replaced = os.readlink(target).rsplit("/", 1)[-1] if target.is_symlink() else None
    if target.is_dir() and not target.is_symlink():  # a plain directory (before versions)
        replaced = f"plain-{token}"
        os.rename(target, versions / replaced)
    link = target.parent / f"{TMP_PREFIX}{token}.link"
    os.symlink(f"{versions.name}/{token}", link)
    os.replace(link, target)
    return replaced


def _clean_versions(versions: Path, keep: set[str | None] | None) -> None:
    """Remove builds and versions nobody holds, except those in ``keep`` (None: only builds)."""
    try:
        names = [e.name for e in os.scandir(versions)]
    except FileNotFoundError:
        return
    for name in names:
        if name.endswith(_LOCK):
            continue
        build = name if name.startswith(TMP_PREFIX) else TMP_PREFIX + name
        if (name.startswith(TMP_PREFIX) or (keep is not None and name not in keep)) \
                and _abandoned(versions / build):
            shutil.rmtree(versions / name, ignore_errors=True)
    for name in names:  # locks of writers that died before building anything
        if name.endswith(_LOCK) and not (versions / name[: -len(_LOCK)]).exists() \
                and _abandoned(versions / name[: -len(_LOCK)]):
            (versions / name).unlink(missing_ok=True)


def _abandoned(build: Path) -> bool:
    """True when no live writer holds the lock of ``build`` (a killed writer's lock is free)."""
    try:
        fd = os.open(str(build) + _LOCK, os.O_RDWR)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def pinned_dir(path: str | os.PathLike[str]) -> Path:
    """The version a swapped directory points at now (a plain directory: itself). Read every
    file of one version through this path, resolved once."""
    return Path(os.path.realpath(path))


def remove_dir(target: str | os.PathLike[str]) -> None:
    """Remove a swapped directory (the link and its versions) or a plain one."""
    target = Path(target)
    if target.is_symlink():
        target.unlink(missing_ok=True)
    elif target.is_dir():
        shutil.rmtree(target, ignore_errors=True)
    shutil.rmtree(versions_dir(target), ignore_errors=True)


def clean_stale_files(directory: str | os.PathLike[str],
                      older_than: float = STALE_TMP_SECONDS) -> None:
    """Remove ``.tmp-*`` files and links (of killed :func:`atomic_write` calls and directory
    swaps) older than ``older_than`` seconds."""
    now = time.time()
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return
    for entry in entries:
        if not entry.name.startswith(TMP_PREFIX):
            continue
        with contextlib.suppress(OSError):
            if not entry.is_dir(follow_symlinks=False) and \
                    now - entry.stat(follow_symlinks=False).st_mtime > older_than:
                os.unlink(entry.path)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Stream a file into the yielded path beside ``path``; on success it replaces ``path``,
    on failure it is removed (for a whole directory, see :func:`replacing_dir`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "rows.csv"
    >>> with atomic_path(p) as tmp:
    ...     _ = tmp.write_text("a\\n1\\n")
    >>> p.read_text()
    'a\\n1\\n'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f"{TMP_PREFIX}{secrets.token_hex(6)}-{path.name}"
    try:
        yield tmp
        shareable(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)

"""Writes that never leave half a file: write beside the target, then rename over it.

Files get the usual permissions (0666 less the umask), not ``mkstemp``'s private 0600, so
reference folders, chunk caches and catalogs can be shared in a lab.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

TMP_PREFIX = ".tmp-"


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


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Build a file or directory at the yielded path beside ``path``, written as long as it
    takes (streamed); on success it replaces ``path``, on failure it is removed.

    A directory that replaces an existing one is swapped in by two renames: readers see the
    old artifact or the new one, never a half-written one.

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
        if tmp.is_dir():
            shareable(tmp, directory=True)
            old = path.parent / f"{TMP_PREFIX}{secrets.token_hex(6)}-old-{path.name}"
            if path.exists():
                os.rename(path, old)
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            shareable(tmp)
            os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)

"""Package-wide defaults, set once: ``intake_nwb.config`` and ``INTAKE_NWB_*`` variables.

Every option here is also a keyword argument of the calls it affects; the argument wins. The
environment is read when the package is imported; :meth:`Config.set` changes values for the
process (or, as a context manager, for a block).

Each attribute ``name`` is read from ``INTAKE_NWB_<NAME>`` (``INTAKE_NWB_MAX_WORKERS=4``):

- ``max_workers``: threads for per-file work (opening, reading, inspecting);
- ``progress``: progress bars: ``auto`` (default: batches of many files), ``1``/``0``;
- ``refs_dir``: where reference files go (default: the user cache);
- ``cache_dir``: the disk chunk cache (``cache="disk"``; default: the user cache);
- ``max_chunk_bytes``: the largest decoded chunk a file may declare (bounds memory per chunk);
- ``max_fill_bytes``: the most fill value an array of a reference set may declare beyond the
  chunks it references (a shape inflated by hand would otherwise allocate it);
- ``allow_unrecorded_refs``: open reference files that do not record their source (``1``; by
  default they are refused: nothing would confine their references);
- ``http_connections``: connections per host for HTTP(S) sources;
- ``http_connect_timeout``, ``http_read_timeout``: seconds to connect, and to wait for each
  piece of a response;
- ``http_deadline``: seconds after which an HTTP request is not tried again;
- ``recheck_remote_after``: seconds a catalog trusts a remote file it found unchanged before
  it asks again (local files are asked every read: a ``stat``).

Examples
--------
>>> from intake_nwb.config import config
>>> config.max_workers > 0
True
>>> with config.set(max_workers=2):
...     config.max_workers
2
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator
from typing import Any

_PREFIX = "INTAKE_NWB_"
#: progress bars appear by default for batches of more than this many files
PROGRESS_AUTO_MIN = 16


def _parse(kind: Any, text: str) -> Any:
    if kind in ("int", int):
        return int(text)
    if kind in ("float", float):
        return float(text)
    if kind in ("bool | None", "bool"):
        low = text.strip().lower()
        if low in ("", "auto"):
            return None
        return low in ("1", "true", "yes", "on")
    return text or None


@dataclasses.dataclass
class Config:
    """The defaults; see the module documentation."""

    max_workers: int = 16
    progress: bool | None = None
    refs_dir: str | None = None
    cache_dir: str | None = None
    max_chunk_bytes: int = 64 * 2**20
    max_fill_bytes: int = 256 * 2**20
    allow_unrecorded_refs: bool = False
    http_connections: int = 8
    http_connect_timeout: float = 5.0
    http_read_timeout: float = 10.0
    http_deadline: float = 30.0
    recheck_remote_after: float = 60.0

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Config:
        env = os.environ if environ is None else environ
        values = {f.name: _parse(f.type, env[_PREFIX + f.name.upper()])
                  for f in dataclasses.fields(cls) if _PREFIX + f.name.upper() in env}
        return cls(**values)

    @contextlib.contextmanager
    def _restoring(self, before: dict[str, Any]) -> Iterator[Config]:
        try:
            yield self
        finally:
            for key, value in before.items():
                setattr(self, key, value)

    def set(self, **values: Any) -> contextlib.AbstractContextManager[Config]:
        """Change defaults now; used as a context manager, they revert at the end of the block."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = set(values) - names
        if unknown:
            raise TypeError(f"unknown option(s) {', '.join(sorted(unknown))}; "
                            f"options: {', '.join(sorted(names))}")
        before = {k: getattr(self, k) for k in values}
        for key, value in values.items():
            setattr(self, key, value)
        return self._restoring(before)

    def show_progress(self, n_items: int, progress: bool | None = None) -> bool:
        """Whether a batch of ``n_items`` draws a bar (``progress`` argument, else the default,
        else only for more than :data:`PROGRESS_AUTO_MIN` items)."""
        choice = self.progress if progress is None else progress
        return n_items > PROGRESS_AUTO_MIN if choice is None else bool(choice) and n_items > 1


config = Config.from_env()

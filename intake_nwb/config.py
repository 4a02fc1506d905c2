"""Package-wide defaults, set once: ``intake_nwb.config`` and ``INTAKE_NWB_*`` variables.

Every option here is also a keyword argument of the calls it affects; the argument wins. The
environment is read when the package is imported; :meth:`Config.set` changes values for the
process (or, as a context manager, for a block).

Each attribute ``name`` is read from ``INTAKE_NWB_<NAME>`` (``INTAKE_NWB_MAX_WORKERS=4``):

- ``max_workers``: threads for per-file work (opening, reading, inspecting) on remote files;
  local files are worked on by one thread (:func:`intake_nwb.sources.read_workers`);
- ``index_processes``: worker processes translating local HDF5 files (unset: one per CPU
  once there are enough files to pay for starting them; ``1``: none, this thread);
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
  it asks again (local files are asked every read: a ``stat``);
- ``cache``: the chunk cache mode of reads: unset (nothing kept), ``memory`` or ``disk``;
- ``anon``: anonymous access to cloud storage (``1``: S3 and Azure ``anon=True``, GCS
  ``token="anon"``); unset: the filesystem's own default (credentials if it finds any);
- ``storage_options``: fsspec options as JSON (``{"s3": {"profile": "lab"}}``);
- ``return_type``: what ``get_df``-style calls return without ``as_pandas``/``as_polars``:
  ``polars`` (default) or ``pandas`` (lazynwb's default).

``storage_options``, ``anon``, ``refs_dir`` and ``cache`` are the defaults of the frames
layer's calls (``scan_nwb``, ``get_df``, ``get_metadata_df``, ``open_nwb``, ``get_timeseries``,
exports and SQL contexts) and of the command line; an argument given to a call wins
(:meth:`Config.open_kwargs`). docs/config.md lists every option in one place.

``intake_nwb.config`` (this module) reads and sets the options as the ``config`` object
does: ``intake_nwb.config.return_type = "pandas"`` (as in lazynwb, ``lazynwb.config.use_polars
= True``), ``intake_nwb.config.set(...)``.

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
import json
import os
import sys
import types
from collections.abc import Iterator, Mapping
from typing import Any

_PREFIX = "INTAKE_NWB_"
#: progress bars appear by default for batches of more than this many files
PROGRESS_AUTO_MIN = 16
#: what ``anon`` means to each filesystem (fsspec's option names)
_ANON = {"s3": {"anon": True}, "gs": {"token": "anon"}, "gcs": {"token": "anon"},
         "az": {"anon": True}, "abfs": {"anon": True}}
_PROTOCOLS = ("s3", "gs", "gcs", "az", "abfs", "http", "https", "file", "memory")
RETURN_TYPES = ("polars", "pandas")


def _parse(kind: Any, text: str) -> Any:
    if kind in ("int", int):
        return int(text)
    if kind == "int | None":
        return int(text) if text.strip() not in ("", "auto") else None
    if kind in ("float", float):
        return float(text)
    if kind in ("bool | None", "bool"):
        low = text.strip().lower()
        if low in ("", "auto"):
            return None
        return low in ("1", "true", "yes", "on")
    if kind == "dict[str, Any] | None":
        return json.loads(text) if text.strip() else None
    return text or None


@dataclasses.dataclass
class Config:
    """The defaults; see the module documentation."""

    max_workers: int = 16
    index_processes: int | None = None
    progress: bool | None = None
    refs_dir: str | None = None
    cache_dir: str | None = None
    max_chunk_bytes: int = 64 * 2**20
    max_fill_bytes: int = 256 * 2**20
    allow_unrecorded_refs: bool = False
    http_connections: int = 32
    http_connect_timeout: float = 5.0
    http_read_timeout: float = 10.0
    http_deadline: float = 30.0
    recheck_remote_after: float = 60.0
    cache: str | None = None
    anon: bool | None = None
    storage_options: dict[str, Any] | None = None
    return_type: str = "polars"

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

    def default_storage_options(self) -> dict[str, Any] | None:
        """``storage_options`` with ``anon`` applied per protocol (protocol-keyed when
        ``anon`` is set, so each filesystem gets its own option name)."""
        base = dict(self.storage_options or {})
        if self.anon is None:
            return base or None
        keyed = any(isinstance(v, Mapping) and k in _PROTOCOLS for k, v in base.items())
        out = {p: dict(base.get(p, {})) if keyed else dict(base) for p in _PROTOCOLS}
        for proto, option in _ANON.items():
            if self.anon:
                out[proto].update(option)
            elif "anon" in option:  # GCS has no "not anonymous" flag: its default is that
                out[proto]["anon"] = False
        return {p: o for p, o in out.items() if o}

    def open_kwargs(self, storage_options: Mapping[str, Any] | None = None,
                    refs_dir: Any = None, cache: str | None = None, **given: Any
                    ) -> dict[str, Any]:
        """How files are opened: the arguments given, else these defaults (for
        :func:`intake_nwb.store.open_store` and the calls that pass options on to it)."""
        out = dict(given)
        out["storage_options"] = storage_options if storage_options is not None \
            else self.default_storage_options()
        out["refs_dir"] = refs_dir if refs_dir is not None else self.refs_dir
        out["cache"] = cache if cache is not None else self.cache
        if out.get("cache_dir") is None:
            out["cache_dir"] = self.cache_dir
        return out

    def wants_pandas(self, as_pandas: bool | None = None, as_polars: bool | None = None) -> bool:
        """Whether a call returns pandas: ``as_pandas``, else lazynwb's ``as_polars``, else
        ``return_type``."""
        if as_pandas is not None and as_polars is not None and as_pandas == as_polars:
            raise TypeError("as_pandas and as_polars disagree: pass one of them")
        if as_pandas is not None:
            return bool(as_pandas)
        if as_polars is not None:
            return not as_polars
        if self.return_type not in RETURN_TYPES:
            raise ValueError(f"config.return_type must be one of {RETURN_TYPES}, "
                             f"not {self.return_type!r}")
        return self.return_type == "pandas"


config = Config.from_env()


class _ConfigModule(types.ModuleType):
    """This module, reading and setting options on :data:`config` (see the module docs)."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(config, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _OPTIONS:
            setattr(config, name, value)
        else:
            super().__setattr__(name, value)


_OPTIONS = frozenset(f.name for f in dataclasses.fields(Config))
sys.modules[__name__].__class__ = _ConfigModule

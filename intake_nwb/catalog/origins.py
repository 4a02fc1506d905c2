"""Where a catalog entry's files come from: a lab index, or a list of sources.

Both kinds of :class:`Origin` answer the same questions (the entry's files, a table across them,
one file's part of it, the sessions table, one file's store), so the Intake drivers and readers
are thin adapters over them:

- :class:`IndexOrigin` reads a catalog's lab index (:mod:`.index`): scalar columns and session
  metadata come from its parquet files, other columns through reference files, opened only for
  the rows a query needs; files are checked for changes first (a ``stat`` per local file);
- :class:`SourcesOrigin` reads NWB paths/URLs/globs, reference files or Zarr stores directly
  (entries written by hand, ``intake.open_nwb_table(...)``, catalogs of intake-nwb 0.1).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl

from ..errors import Errors, IntakeNWBError
from ..frames.metadata import get_metadata_df
from ..frames.schema import NWB_PATH
from ..frames.tables import ScanOptions, TablePart, open_parts, scan_parts
from ..nwb import NWBReader, TableReader
from ..nwb.metadata import read_metadata
from ..store import NWBStore, open_store
from ..util.memo import cached_property
from .index import LabIndex
from .locate import clean_relocate, refs_dir_for, resolve_sources


@dataclass(frozen=True)
class OpenOptions:
    """How an entry reaches its files (every driver and reader accepts these)."""

    storage_options: Mapping[str, Any] | None = None
    refs: str | None = None  # where references are made or found
    relocate: Mapping[str, str] | None = None
    check_stale: bool = True
    on_stale: str = "raise"  # "raise" | "reindex" | "ignore"
    cache: str | None = None
    cache_dir: str | None = None
    pins: Mapping[str, Mapping[str, Any]] | None = field(default=None, compare=False)
    catalog_dir: str | None = None  # the catalog an entry came from: writes stay there
    #: checks pinned files before their bytes are read: ``verify(pins, sources, relocate=,
    #: storage_options=) -> relocation map`` (the front ends pass DANDI's verify_pins)
    verify: Callable[..., dict[str, str]] | None = field(default=None, compare=False)

    def store_kwargs(self, relocate: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Keyword arguments of :func:`intake_nwb.store.open_store`."""
        return dict(storage_options=dict(self.storage_options or {}) or None,
                    refs_dir=refs_dir_for(self.refs, self.catalog_dir),
                    relocate=relocate if relocate is not None else
                    clean_relocate(self.relocate),
                    check_stale=self.check_stale, on_stale=self.on_stale, cache=self.cache,
                    cache_dir=self.cache_dir)


class Origin:
    """What a catalog entry reads (see the module documentation)."""

    options: OpenOptions

    @property
    def files(self) -> list[str]:
        """The entry's files, as rows name them (``_nwb_path``)."""
        raise NotImplementedError

    def table(self, table_path: str, scan: ScanOptions) -> pl.LazyFrame:
        raise NotImplementedError

    def table_of_file(self, i: int, table_path: str, scan: ScanOptions) -> pl.LazyFrame:
        """One file's part of a table (a dask partition)."""
        raise NotImplementedError

    def sessions(self, errors: Errors) -> pl.DataFrame:
        raise NotImplementedError

    def store(self, i: int) -> NWBStore:
        """File ``i``'s store, checked for changes."""
        raise NotImplementedError

    def with_options(self, **changes: Any) -> Origin:
        raise NotImplementedError

    def _verify(self, pins: Mapping[str, Any], paths: list[str], relocate: dict[str, str]
                ) -> dict[str, str]:
        """Pinned files checked against their pins (the relocation map to read them with)."""
        if self.options.verify is None:
            raise IntakeNWBError("this entry pins its files (a DANDI catalog): open it "
                                 "through intake or intake_nwb.dandi, which check pins")
        return self.options.verify(pins, paths, relocate=relocate or None,
                                   storage_options=self.options.storage_options)


class SourcesOrigin(Origin):
    """Files named directly: paths/URLs/globs, reference files, Zarr stores."""

    def __init__(self, sources: Any, options: OpenOptions):
        self.sources = sources
        self.options = options

    def with_options(self, **changes: Any) -> SourcesOrigin:
        return SourcesOrigin(self.sources, replace(self.options, **changes))

    @cached_property
    def paths(self) -> list[str]:
        """The sources as opened: globs expanded, remote reference files fetched."""
        return resolve_sources(self.sources, self.options.storage_options)

    @property
    def files(self) -> list[str]:
        return self.paths

    @cached_property
    def _relocate(self) -> dict[str, str]:
        """The relocation map; DANDI pins (catalogs of intake-nwb 0.1) are checked first."""
        relocate = clean_relocate(self.options.relocate) or {}
        if not self.options.pins:
            return relocate
        return self._verify(self.options.pins, self.paths, relocate)


    def _kwargs(self) -> dict[str, Any]:
        return self.options.store_kwargs(self._relocate or None)

    def table(self, table_path: str, scan: ScanOptions) -> pl.LazyFrame:
        kwargs = {k: v for k, v in self._kwargs().items() if k not in ("cache", "cache_dir")}
        parts = open_parts(self.paths, table_path, errors=scan.errors,
                           resolve_regions=scan.resolve_regions, **kwargs)
        return scan_parts(parts, table_path, scan)

    def table_of_file(self, i: int, table_path: str, scan: ScanOptions) -> pl.LazyFrame:
        return SourcesOrigin([self.paths[i]], self.options).table(table_path, scan)

    def sessions(self, errors: Errors) -> pl.DataFrame:
        kwargs = {k: v for k, v in self._kwargs().items() if k not in ("cache", "cache_dir")}
        return get_metadata_df(self.paths, progress=False, errors=errors, **kwargs)

    def store(self, i: int) -> NWBStore:
        return open_store(self.paths[i], **self._kwargs())


class IndexOrigin(Origin):
    """The files of one entry of a catalog's lab index."""

    def __init__(self, index: str, entry: str | None, options: OpenOptions):
        self.index = index
        self.entry = entry
        self.options = options
        self.lab = LabIndex.open(index, options.storage_options)

    def with_options(self, **changes: Any) -> IndexOrigin:
        return IndexOrigin(self.index, self.entry, replace(self.options, **changes))

    @cached_property
    def keys(self) -> list[str]:
        """The index keys of the entry's files (all files for the sessions entry)."""
        lab = self.lab
        if self.entry is None:
            return list(lab.files)
        if self.entry in lab.series:
            path = lab.series[self.entry]
            return [k for k, r in lab.files.items() if path in r.timeseries]
        return list(lab.table(self.entry)[1])

    @property
    def files(self) -> list[str]:
        where = self.lab.nwb_paths(self._relocate)
        return [where[k] for k in self.keys]

    def _stale(self, keys: Sequence[str]) -> set[str]:
        """The files among ``keys`` that changed since the index was built. Pinned DANDI
        assets are not asked: their pins are checked when their bytes are read."""
        if not self.options.check_stale or self.options.on_stale == "ignore":
            return set()
        mine = [k for k in keys if "dandi" not in self.lab.files[k].extra]
        return self.lab.check(mine, on_stale=self.options.on_stale,
                              storage_options=self.options.storage_options,
                              relocate=self._relocate)

    @cached_property
    def _relocate(self) -> dict[str, str]:
        return clean_relocate(self.options.relocate) or {}

    def _relocate_for(self, key: str) -> dict[str, str]:
        """The relocation map to read ``key`` with; a pinned asset is checked against its pin
        first (once per origin), and an S3 URL refusing access maps to its download URL."""
        rec = self.lab.files[key]
        pin = rec.extra.get("dandi")
        if pin is None:
            return self._relocate
        verified = self.__dict__.setdefault("_verified", {})
        if key not in verified:
            verified[key] = self._verify({rec.url: pin}, [rec.url], self._relocate)
        return verified[key]  # type: ignore[no-any-return]

    def _reopen(self, key: str) -> NWBStore:
        """A changed file's store, through fresh references (``on_stale="reindex"``)."""
        rec = self.lab.files[key]
        return open_store(rec.url, **{**self.options.store_kwargs(self._relocate_for(key)
                                                                  or None),
                                      "on_stale": "reindex"})

    def _open(self, key: str, stale: set[str]) -> NWBStore:
        if key in stale:
            return self._reopen(key)
        opts = self.options
        return self.lab.open_file(key, storage_options=opts.storage_options,
                                  relocate=self._relocate_for(key) or None, cache=opts.cache,
                                  cache_dir=opts.cache_dir)

    def _table(self, keys: Sequence[str], table_path: str | None, scan: ScanOptions
               ) -> pl.LazyFrame:
        assert self.entry is not None
        stale = self._stale(keys)
        path = self.lab.table(self.entry)[0]
        if table_path is not None and table_path != path:
            raise ValueError(f"entry {self.entry!r} is the table {path}, not {table_path}")

        def opener(key: str) -> TableReader:
            return TableReader(NWBReader(self._open(key, stale)), path)

        _, parts, indexed = self.lab.parts(self.entry, opener, stale=stale,
                                           relocate=self._relocate,
                                           storage_options=self.options.storage_options)
        chosen = [parts[k] for k in keys if k in parts]
        if scan.resolve_regions:  # region targets are not in the index: describe them now
            chosen = [TablePart.of(p.reader, True) for p in chosen]
        return scan_parts(chosen, path, scan, None if scan.resolve_regions else indexed)

    def table(self, table_path: str | None, scan: ScanOptions) -> pl.LazyFrame:
        return self._table(self.keys, table_path, scan)

    def table_of_file(self, i: int, table_path: str | None, scan: ScanOptions) -> pl.LazyFrame:
        return self._table([self.keys[i]], table_path, scan)

    def sessions(self, errors: Errors) -> pl.DataFrame:
        stale = self._stale(self.keys)
        frame = self.lab.sessions(self._relocate)
        if not stale:
            return frame
        fresh = pl.DataFrame([{**read_metadata(NWBReader(self._reopen(k))),
                               NWB_PATH: self.files[self.keys.index(k)]} for k in sorted(stale)])
        kept = frame.filter(~pl.col(NWB_PATH).is_in(fresh[NWB_PATH].to_list()))
        return pl.concat([kept, fresh], how="diagonal_relaxed")

    def store(self, i: int) -> NWBStore:
        key = self.keys[i]
        return self._open(key, self._stale([key]))


def origin(sources: Any = None, *, index: str | None = None, entry: str | None = None,
           **options: Any) -> Origin:
    """The origin an entry's arguments describe (``index`` + ``entry``, or ``sources``)."""
    opts = OpenOptions(**{k: v for k, v in options.items() if v is not None})
    if index is not None:
        return IndexOrigin(os.fspath(index), entry, opts)
    if sources is None:
        raise TypeError("an NWB entry needs sources= (paths, URLs, globs) or index= and entry=")
    return SourcesOrigin(sources, opts)


__all__ = ["IndexOrigin", "OpenOptions", "Origin", "SourcesOrigin", "origin"]

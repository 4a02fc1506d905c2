"""Which tables and TimeSeries many files have, and the short names they go by (for
exports, SQL contexts and the command line)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from ..errors import Errors, report_failures
from ..nwb import NWBReader
from ..nwb.timeseries import timeseries_paths
from ..sources import per_file
from ..store import NWBStore, open_stores
from .tables import ScanOptions, parts_of, scan_parts

#: the session tables every inventory has: path -> short name
SESSION_NAMES = {"/general": "session", "/general/subject": "subject"}


@dataclass
class Inventory:
    """The files opened, and for each table or TimeSeries path the files that have it."""

    stores: list[NWBStore]
    tables: dict[str, list[NWBStore]]
    timeseries: dict[str, list[NWBStore]]

    def common(self, min_file_count: int = 1, *, timeseries: bool = False
               ) -> dict[str, list[NWBStore]]:
        """Paths found in at least ``min_file_count`` files (tables, or with ``timeseries``
        tables and TimeSeries), sorted."""
        found = {**self.tables, **(self.timeseries if timeseries else {})}
        return {p: s for p, s in sorted(found.items()) if len(s) >= min_file_count}

    def scan(self, path: str, options: ScanOptions) -> tuple[pl.LazyFrame, list[str]]:
        """The table (or TimeSeries) at ``path`` across the files that have it, and those
        files (as rows name them)."""
        stores = self.tables.get(path) or self.timeseries.get(path) or []
        parts = parts_of(stores, path, errors=options.errors, exact_path=True)
        return scan_parts(parts, path, options), [p.source for p in parts]


def take_inventory(sources: Any, *, errors: Errors = "raise", progress: bool | None = None,
                   **open_kwargs: Any) -> Inventory:
    """Open every file and list its tables and TimeSeries (metadata only)."""
    stores = open_stores(sources, errors=errors, progress=progress, **open_kwargs)

    def look(store: NWBStore) -> tuple[list[str], list[str]]:
        nwb = NWBReader(store)
        return nwb.tables, timeseries_paths(nwb)

    found, failures = per_file(look, stores, progress=progress, desc="listing tables")
    report_failures(failures, errors, "could not be listed")
    tables: dict[str, list[NWBStore]] = {}
    series: dict[str, list[NWBStore]] = {}
    by_source = {s.source: s for s in stores}
    for source, (table_paths, series_paths) in found.items():
        for p in table_paths:
            tables.setdefault(p, []).append(by_source[source])
        for p in series_paths:
            series.setdefault(p, []).append(by_source[source])
    return Inventory([by_source[s] for s in found], tables, series)


def short_names(paths: Iterable[str], full_path: bool = False,
                renames: Mapping[str, str] | None = None) -> dict[str, str]:
    """``{path: name}``: the last component (``units``, ``trials``), the path itself where
    that is taken by another path, or with ``full_path`` (``intervals/trials``);
    ``renames`` first (the session tables)."""
    paths = list(paths)
    renames = dict(renames or {})
    last = [p.rsplit("/", 1)[-1] for p in paths if p not in renames]
    taken = set(renames.values())
    out = {}
    for p in paths:
        if p in renames:
            out[p] = renames[p]
            continue
        name = p.rsplit("/", 1)[-1]
        out[p] = p.strip("/") if full_path or last.count(name) > 1 or name in taken else name
    return out

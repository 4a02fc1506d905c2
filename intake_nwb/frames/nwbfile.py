"""One NWB file as a light object: ``open_nwb(path).units``, ``.subject.age``, ``.tables``.

Nothing is read until asked for: attribute access on tables returns polars DataFrames (read
then), ``.subject`` and ``.metadata`` read a few small inlined values.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cached_property
from types import SimpleNamespace
from typing import Any

import polars as pl

from ..nwb import NWBReader, TableReader
from ..nwb.metadata import SUBJECT_FIELDS, read_metadata
from ..sources import expand_one
from ..store import open_store
from .tables import ScanOptions, TablePart, _names, scan_parts

_SCAN = ("exclude_array_columns", "schema_overrides", "on_conflict", "errors", "strict")

# short names for the tables most people ask for
_WELL_KNOWN = {
    "units": "/units",
    "trials": "/intervals/trials",
    "epochs": "/intervals/epochs",
    "electrodes": "/general/extracellular_ephys/electrodes",
}


class LazyNWB:
    """An NWB file whose tables and TimeSeries are read on access.

    Examples
    --------
    >>> nwb = open_nwb("ses-1.nwb")  # doctest: +SKIP
    >>> nwb.units.select("spike_times").head()  # doctest: +SKIP
    >>> nwb.subject.age  # doctest: +SKIP
    'P90D'
    """

    def __init__(self, source: str | os.PathLike[str], *,
                 storage_options: Mapping[str, Any] | None = None,
                 refs_dir: str | os.PathLike[str] | None = None, **open_kwargs: Any):
        # every read goes through the store opened here, so the options are used once, here,
        # and a glob names its one file
        self._store = open_store(expand_one(source, storage_options),
                                 storage_options=storage_options, refs_dir=refs_dir,
                                 **open_kwargs)
        self._reader = NWBReader(self._store)

    @property
    def source(self) -> str:
        return self._store.source

    @property
    def tables(self) -> list[str]:
        """Paths of every DynamicTable (extension tables and nested tables included)."""
        return self._reader.tables

    @property
    def timeseries(self) -> list[str]:
        """Paths of every TimeSeries (extension types included)."""
        return self._reader.timeseries

    @cached_property
    def metadata(self) -> dict[str, Any]:
        return read_metadata(self._reader)

    @property
    def subject(self) -> SimpleNamespace:
        return SimpleNamespace(**{k: self.metadata.get(k) for k in SUBJECT_FIELDS})

    def get_df(self, path: str, **kwargs: Any) -> pl.DataFrame:
        """The table at ``path`` (see :func:`intake_nwb.get_df`)."""
        kwargs.setdefault("exclude_array_columns", False)
        include = kwargs.pop("include_column_names", None)
        if include is not None:
            kwargs["exclude_array_columns"] = False
        part = TablePart.of(TableReader(self._reader, path),
                            kwargs.pop("resolve_regions", False))
        options = {k: kwargs.pop(k) for k in list(kwargs) if k in _SCAN}
        exclude = kwargs.pop("exclude_column_names", None)
        as_pandas = kwargs.pop("as_pandas", False)
        if kwargs:
            raise TypeError(f"unexpected argument(s): {', '.join(kwargs)}")
        scan = ScanOptions(columns=_names(include), exclude=_names(exclude) or (), **options)
        df = scan_parts([part], part.path, scan).collect()
        return df.to_pandas() if as_pandas else df

    def get_timeseries(self, path: str, **kwargs: Any) -> Any:
        """The TimeSeries at ``path`` as a lazy xarray DataArray."""
        from .timeseries import get_timeseries

        return get_timeseries(self._reader, path, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        path = _WELL_KNOWN.get(name)
        if path is None:
            matches = [t for t in self.tables if t.rsplit("/", 1)[-1] == name]
            path = matches[0] if len(matches) == 1 else None
        if path is None or path not in self.tables:
            raise AttributeError(f"{self.source} has no table {name!r}; tables: "
                                 f"{', '.join(self.tables)}")
        return self.get_df(path)

    def __dir__(self) -> list[str]:
        names = [n for n, p in _WELL_KNOWN.items() if p in self.tables]
        return sorted({*super().__dir__(), *names})

    def _repr_html_(self) -> str:
        from .display import nwbfile_html

        return nwbfile_html(self._reader, self.metadata)

    def __repr__(self) -> str:
        lines = [f"<LazyNWB {self.source}>"]
        meta = self.metadata
        lines.append(f"  session: {meta.get('session_id') or meta.get('identifier')} "
                     f"({meta.get('session_start_time')}), NWB {meta.get('nwb_version')}")
        if meta.get("subject_id"):
            lines.append(f"  subject: {meta['subject_id']} {meta.get('species') or ''} "
                         f"{meta.get('age') or ''}".rstrip())
        for path in self.tables:
            t = TableReader(self._reader, path)
            lines.append(f"  table {path} ({t.n_rows} rows, {len(t.columns)} columns)")
        for path in self.timeseries:
            lines.append(f"  timeseries {path} [{self._reader.type_of(path)}]")
        return "\n".join(lines)


def open_nwb(source: str | os.PathLike[str], **kwargs: Any) -> LazyNWB:
    """Open one NWB file (HDF5, reference file or Zarr) as a :class:`LazyNWB`."""
    return LazyNWB(source, **kwargs)


def get_internal_paths(source: str | os.PathLike[str], **kwargs: Any) -> dict[str, str]:
    """Every typed object of a file: ``{path: neurodata_type}``.

    Examples
    --------
    >>> get_internal_paths("ses-1.nwb")["/units"]  # doctest: +SKIP
    'Units'
    """
    return NWBReader(open_store(expand_one(source, kwargs.get("storage_options")),
                                **kwargs)).objects


def describe(source: str | os.PathLike[str], **kwargs: Any) -> str:
    """A readable summary of a file: session, subject, tables with sizes, TimeSeries."""
    return repr(open_nwb(source, **kwargs))

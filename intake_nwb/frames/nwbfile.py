"""One NWB file as a light object: ``open_nwb(path).units``, ``.subject.age``, ``.tables``.

Nothing is read until asked for: attribute access on tables returns DataFrames (read then),
session fields (``nwb.session_description``), ``.subject`` and ``.metadata`` read a few small
inlined values. Tables and TimeSeries are named as everywhere else (:mod:`intake_nwb.nwb.names`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

from ..config import config
from ..errors import AmbiguousNameError, TableNotFoundError
from ..nwb import NWBReader, TableReader
from ..nwb.info import internal_paths
from ..nwb.metadata import SUBJECT_FIELDS, read_metadata
from ..nwb.names import TABLE_SHORTCUTS, resolve, session_table, table_reader
from ..sources import expand_one
from ..store import open_store
from ..util.memo import cached_property
from .schema import NWB_PATH
from .tables import ScanOptions, TablePart, _names, scan_parts

_SCAN = ("exclude_array_columns", "schema_overrides", "on_conflict", "errors", "strict")


class LazyNWB:
    """An NWB file whose tables and TimeSeries are read on access.

    Session fields are attributes (``identifier``, ``session_start_time``, ``session_id``,
    ``session_description``, ``experimenter``, ``lab``, ``institution``, ``keywords``,
    ``related_publications``, ``notes``, ``surgery``... as in :func:`intake_nwb.get_metadata_df`),
    ``subject`` has the subject's (``nwb.subject.age``); any table or TimeSeries is an attribute
    by its short name (``nwb.units``, ``nwb.trials``).

    Examples
    --------
    >>> nwb = open_nwb("session.nwb")
    >>> nwb.units.shape  # a polars DataFrame, read when first asked for
    (40, 13)
    >>> nwb.units["spike_times"].list.len()[:3].to_list()
    [96, 2304, 1514]
    >>> nwb.subject.age, nwb.session_id, nwb.lab
    ('P90D', '001', 'Sample Lab')
    """

    def __init__(self, source: str | os.PathLike[str], *,
                 storage_options: Mapping[str, Any] | None = None,
                 refs_dir: str | os.PathLike[str] | None = None, **open_kwargs: Any):
        # every read goes through the store opened here, so the options are used once, here,
        # and a glob names its one file
        kwargs = config.open_kwargs(storage_options, refs_dir, **open_kwargs)
        self._store = open_store(expand_one(source, kwargs["storage_options"]), **kwargs)
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

    def get_df(self, search_term: str, exact_path: bool = False, *,
               as_pandas: bool | None = None, as_polars: bool | None = None,
               **kwargs: Any) -> Any:
        """The table (or TimeSeries as a table) ``search_term`` names: a path or a short name
        (see :func:`intake_nwb.get_df`; here array columns are kept by default)."""
        from .pandas import to_pandas

        if session_table(search_term):
            from .metadata import metadata_frame, session_table_frame

            rows = metadata_frame([{**self.metadata, NWB_PATH: self.source}])
            df = session_table_frame(rows, search_term).collect()
        else:
            kwargs.setdefault("exclude_array_columns", False)
            include = kwargs.pop("include_column_names", None)
            if include is not None:
                kwargs["exclude_array_columns"] = False
            reader = table_reader(self._reader, search_term, exact=exact_path)
            part = TablePart.of(reader, kwargs.pop("resolve_regions", False))  # type: ignore[arg-type]
            options = {k: kwargs.pop(k) for k in list(kwargs) if k in _SCAN}
            exclude = kwargs.pop("exclude_column_names", None)
            for name in ("disable_progress", "use_process_pool", "raise_on_missing",
                         "ignore_errors"):  # lazynwb's: one file, nothing to choose
                kwargs.pop(name, None)
            if kwargs:
                raise TypeError(f"unexpected argument(s): {', '.join(kwargs)}")
            scan = ScanOptions(columns=_names(include), exclude=_names(exclude) or (),
                               **options)
            df = scan_parts([part], part.path, scan).collect()
        return to_pandas(df) if config.wants_pandas(as_pandas, as_polars) else df

    def get_timeseries(self, search_term: str | None = None, **kwargs: Any) -> Any:
        """The TimeSeries ``search_term`` names, as a lazy xarray DataArray (see
        :func:`intake_nwb.get_timeseries`)."""
        from .lookup import get_timeseries

        return get_timeseries(self._reader, search_term, **kwargs)

    def get(self, search_term: str, *, as_df: bool = False, exact_path: bool = False,
            **kwargs: Any) -> Any:
        """A table or a TimeSeries, whichever ``search_term`` names (see
        :func:`intake_nwb.get`)."""
        path, kind = resolve(self._reader, search_term, exact=exact_path)
        if kind == "table" or as_df:
            return self.get_df(path, exact_path=True, **kwargs)
        return self.get_timeseries(path, **kwargs)

    def describe(self) -> dict[str, Any]:
        """Session and subject fields and the file's tables and TimeSeries (``paths``), as a
        dict (lazynwb's ``LazyNWB.describe()``; :func:`describe` gives a readable text)."""
        return {**self.metadata, "paths": list(internal_paths(self._reader))}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self.metadata and name not in SUBJECT_FIELDS:
            return self.metadata[name]
        try:
            path, kind = resolve(self._reader, name)
        except (TableNotFoundError, AmbiguousNameError) as exc:
            raise AttributeError(f"{self.source} has no session field, table or TimeSeries "
                                 f"{name!r} ({exc.message})") from None
        return self.get_df(path, exact_path=True) if kind == "table" else \
            self.get_timeseries(path)

    def __dir__(self) -> list[str]:
        names = [n for n, p in TABLE_SHORTCUTS.items() if p in self.tables]
        names += [p.rsplit("/", 1)[-1] for p in self.tables]
        fields = [k for k in self.metadata if k not in SUBJECT_FIELDS]
        return sorted({*super().__dir__(), *names, *fields})

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


def describe(source: str | os.PathLike[str], **kwargs: Any) -> str:
    """A readable summary of a file: session, subject, tables with sizes, TimeSeries."""
    return repr(open_nwb(source, **kwargs))

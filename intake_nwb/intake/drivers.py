"""Intake V1 drivers (entry point group ``intake.drivers``): thin adapters over catalog origins.

=================  ===================================  =====================================
driver             ``read()``                           also
=================  ===================================  =====================================
``nwb_table``      polars DataFrame (across files)      ``to_lazy``, ``to_pandas``, ``to_dask``,
                                                        ``export``, ``to_sql``, ``sql``
``nwb_timeseries`` loaded xarray DataArray (one file)   ``to_dask`` (lazy, dask-backed)
``nwb_metadata``   polars DataFrame, one row per file   ``to_pandas``, ``to_lazy``, ``export``,
                                                        ``to_sql``, ``sql``
``nwb_file``       a catalog of one file's tables and TimeSeries, found when first listed
``nwb_files``      a catalog of a lab index's files (``cat.files.<name>``)
=================  ===================================  =====================================

Every driver reads either a catalog's lab index (``index`` + ``entry``, what
:func:`intake_nwb.build_catalog` writes) or ``sources`` (NWB paths/URLs/globs, reference files,
Zarr NWB stores), with the open options of :class:`intake_nwb.catalog.origins.OpenOptions`:
``storage_options``, ``refs``, ``relocate``, ``check_stale``, ``on_stale``, ``chunk_cache``
(the functional API's ``cache=``: intake keeps ``cache`` for its own caching), ``cache_dir``
(and ``pins`` in catalogs of intake-nwb 0.1). All of them are user parameters:
``cat.trials(on_stale="reindex").read()``. An entry of a catalog writes reference files only
inside the catalog's folder or the user cache.

Examples
--------
>>> import intake
>>> import polars as pl
>>> cat = intake.open_catalog("lab/catalog.yaml")
>>> list(cat)
['sessions', 'units', 'trials', 'electrodes', 'lfp', 'position', 'running_speed', 'files']
>>> cat.units.to_lazy().filter(pl.col("presence_ratio") > 0.9).collect().shape
(91, 13)
>>> cat.running_speed
running_speed: TimeSeries /processing/behavior/running_speed (time: 18000) in cm/s, 4 files
>>> src = intake.open_nwb_table("lab/*.nwb", "/units")  # without a catalog
>>> src.read().shape
(160, 13)
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from intake.catalog import Catalog
from intake.catalog.local import LocalCatalogEntry
from intake.source.base import DataSource, Schema

from .._version import __version__
from ..catalog.names import entry_names

if TYPE_CHECKING:
    from ..catalog.origins import Origin


def origin(*args: Any, **kwargs: Any) -> Origin:
    """:func:`intake_nwb.catalog.origins.origin` (imported on first use: opening a catalog
    loads the drivers, and should not load the package's data stack with them)."""
    from ..catalog.origins import origin as make

    return make(*args, **kwargs)

__all__ = ["NWBFileCatalog", "NWBFilesCatalog", "NWBMetadataSource", "NWBTableSource",
           "NWBTimeSeriesSource"]

_OPEN = ("storage_options", "refs", "relocate", "check_stale", "on_stale", "chunk_cache",
         "cache_dir", "pins")


def _verify_pins(*args: Any, **kwargs: Any) -> dict[str, str]:
    """DANDI's pin check, imported when a catalog pins its files (most do not: the DANDI layer
    costs ~25 ms to import, a third of a warm read of a small catalog's entry)."""
    from ..dandi.pins import verify_pins

    return verify_pins(*args, **kwargs)


def _open_options(options: dict[str, Any], metadata: dict[str, Any] | None) -> dict[str, Any]:
    out = {**options, "verify": _verify_pins}
    if "chunk_cache" in out:
        out["cache"] = out.pop("chunk_cache")
    catalog_dir = (metadata or {}).get("catalog_dir")
    if catalog_dir:
        out["catalog_dir"] = str(catalog_dir)
    return out


class _NWBSource(DataSource):
    """What the NWB drivers share: the origin of their files, resolved on first use."""

    version = __version__

    def __init__(self, sources: Any = None, *, index: str | None = None,
                 entry: str | None = None, metadata: dict[str, Any] | None = None,
                 **options: Any):
        unknown = set(options) - set(_OPEN)
        if unknown:
            raise TypeError(f"unexpected argument(s) {', '.join(sorted(unknown))}; the open "
                            f"options are {', '.join(_OPEN)}")
        self.origin_args = dict(sources=sources, index=index, entry=entry,
                                **_open_options(options, metadata))
        self._origin: Origin | None = None
        super().__init__(metadata=metadata)

    @property
    def origin(self) -> Origin:
        if self._origin is None:
            self._origin = origin(**self.origin_args)
        return self._origin

    @property
    def paths(self) -> list[str]:
        """The entry's files, as rows name them (``_nwb_path``)."""
        return self.origin.files

    def _close(self) -> None:
        self._origin = None
        self._schema = None

    #: what the display shows: :mod:`intake_nwb.frames.display`'s ``<kind>_html``/``_text``
    _display = ""

    def _display_args(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        raise NotImplementedError

    def _repr_html_(self) -> str:
        from ..frames import display

        args, kwargs = self._display_args()
        return getattr(display, f"{self._display}_html")(*args, **kwargs)  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        from ..frames import display

        try:
            args, kwargs = self._display_args()
            return getattr(display, f"{self._display}_text")(*args, **kwargs)  # type: ignore[no-any-return]
        except Exception:  # noqa: BLE001 - a repr must not raise: the files may be gone
            entry = self.origin_args.get("entry")
            return f"<{type(self).__name__}{' ' + entry if entry else ''}>"


class _TableLike:
    """What table-shaped entries add: SQL over them and streamed export (their ``to_lazy``
    and ``paths`` are all these need)."""

    name: str
    sql_name: str  # the table's name in SQL when the source is not a catalog entry

    def to_lazy(self) -> Any:
        raise NotImplementedError

    def to_sql(self, name: str | None = None) -> Any:
        """A :class:`polars.SQLContext` with this entry registered as ``name`` (default: the
        entry's name in its catalog)."""
        import polars as pl

        own = self.name if self.name != type(self).name else self.sql_name
        return pl.SQLContext({name or own: self.to_lazy()})

    def sql(self, query: str) -> Any:
        """The result of a SQL query over this entry (named as :meth:`to_sql` names it), as
        a polars DataFrame: ``cat.units.sql("SELECT count(*) FROM units")``."""
        return self.to_sql().execute(query).collect()

    def _export_files(self) -> list[str] | None:
        raise NotImplementedError

    def export(self, path: Any, *, output_format: str = "parquet", partitioned: bool = False,
               exclude_array_columns: bool = False, progress: bool | None = None,
               **write_kwargs: Any) -> Any:
        """Write this entry to ``path``, one NWB file's rows at a time (memory stays bounded
        whatever the number of files); ``partitioned``: a Hive-style parquet dataset, one file
        per NWB file. See :func:`intake_nwb.frames.export.write_table`."""
        from ..frames.export import write_table
        from ..frames.schema import is_array

        lf = self.to_lazy()
        if exclude_array_columns:
            lf = lf.select([c for c, t in lf.collect_schema().items() if not is_array(t)])
        return write_table(lf, path, files=self._export_files() or None,
                           output_format=output_format, partitioned=partitioned,
                           progress=progress, **write_kwargs)


# -- tables --------------------------------------------------------------------------------------

def read_file_partition(i: int, origin_args: Mapping[str, Any], table_path: str | None,
                        scan: Any, schema: Any) -> Any:
    """File ``i``'s rows of a table as pandas (pynwb's form), in the entry's ``schema`` (a
    dask partition)."""
    import polars as pl

    from ..frames.pandas import to_pandas

    part = origin(**origin_args).table_of_file(i, table_path, scan)
    have = part.collect_schema()
    return to_pandas(part.select([pl.col(c).cast(t) if c in have else
                                  pl.lit(None, dtype=t).alias(c)
                                  for c, t in schema.items()]).collect())


class NWBTableSource(_TableLike, _NWBSource):
    """A DynamicTable across NWB files (``driver: nwb_table``).

    Parameters
    ----------
    sources, index, entry:
        Where the files come from (see the module documentation).
    table_path:
        ``"/units"``, ``"/intervals/trials"``... (an index entry knows its own).
    include_column_names, exclude_column_names, exclude_array_columns, schema_overrides,
    on_conflict, errors, strict, resolve_regions, infer_schema_length:
        As for :func:`intake_nwb.scan_nwb`. Entries of a catalog default to ``errors="warn"``:
        a column of one file that cannot be read is null there, and named in a warning.

    Examples
    --------
    >>> import polars as pl
    >>> src = NWBTableSource("lab/*.nwb", "/units")
    >>> src.discover()["shape"]  # rows, columns: no data read
    (160, 13)
    >>> src.to_lazy().filter(pl.col("presence_ratio") > 0.9).collect().shape
    (91, 13)
    >>> src.to_dask().npartitions  # one per file
    4
    """

    name = "nwb_table"
    container = "dataframe"
    _display = "table"
    partition_access = True

    def __init__(self, sources: Any = None, table_path: str | None = None, *,
                 include_column_names: Any = None, exclude_column_names: Any = None,
                 exclude_array_columns: bool = False,
                 schema_overrides: Mapping[str, Any] | None = None, on_conflict: str = "drop",
                 errors: str | None = None, strict: bool = False, resolve_regions: bool = False,
                 infer_schema_length: int | None = None, **kwargs: Any):
        from ..frames.tables import ScanOptions, _names

        super().__init__(sources, **kwargs)
        self.table_path = table_path
        self.scan = ScanOptions(
            columns=_names(include_column_names), exclude=_names(exclude_column_names) or (),
            exclude_array_columns=exclude_array_columns,
            schema_overrides=tuple((schema_overrides or {}).items()),
            on_conflict=on_conflict,  # type: ignore[arg-type]
            errors=errors or ("warn" if kwargs.get("index") else "raise"),  # type: ignore
            strict=strict, resolve_regions=resolve_regions,
            infer_schema_length=infer_schema_length)
        self._lf: Any = None

    def to_lazy(self) -> Any:
        """A polars LazyFrame with projection, predicate and slice pushdown."""
        if self._lf is None:
            if self.table_path is None and self.origin_args.get("index") is None:
                raise TypeError("nwb_table needs table_path= (or a catalog index entry)")
            self._lf = self.origin.table(self.table_path, self.scan)  # type: ignore[arg-type]
        return self._lf

    def _get_schema(self) -> Schema:
        from ..frames.schema import TABLE_INDEX

        lf = self.to_lazy()
        schema = lf.collect_schema()
        n_rows = lf.select(TABLE_INDEX).collect().height  # row counts only: no data read
        return Schema(dtype={k: str(v) for k, v in schema.items()}, shape=(n_rows, len(schema)),
                      npartitions=len(self.paths), extra_metadata={"table_path": self.table_path})

    def read(self) -> Any:
        """The whole table as a polars DataFrame."""
        return self.to_lazy().collect()

    def to_pandas(self) -> Any:
        """The whole table as pandas, multi-valued cells as pynwb's ``to_dataframe()`` gives
        them (one numpy array per cell)."""
        from ..frames.pandas import to_pandas

        return to_pandas(self.read())

    @property
    def sql_name(self) -> str:
        return (self.table_path or "table").rsplit("/", 1)[-1]

    def _export_files(self) -> list[str] | None:
        return self.paths

    def _get_partition(self, i: int) -> Any:
        import polars as pl

        return pl.from_pandas(self._partition(i))

    def _partition(self, i: int) -> Any:
        return read_file_partition(i, self.origin_args, self.table_path, self.scan,
                                   self.to_lazy().collect_schema())

    def to_dask(self) -> Any:
        """A dask DataFrame with one partition per file (each read with pushdown when computed)."""
        import dask
        import dask.dataframe as dd
        import polars as pl

        schema = self.to_lazy().collect_schema()
        # dask would turn object columns into strings: ragged columns hold arrays, keep them
        with dask.config.set({"dataframe.convert-string": False}):
            return dd.from_map(read_file_partition, range(len(self.paths)),
                               origin_args=self.origin_args, table_path=self.table_path,
                               scan=self.scan, schema=schema,
                               meta=pl.DataFrame(schema=schema).to_pandas(),
                               enforce_metadata=False)

    def _summary(self) -> dict[str, Any]:
        """What a display shows: from the catalog's record when there is one (nothing read),
        else from the files' schemas."""
        meta = self.metadata or {}
        if "columns" in meta and "n_rows" in meta:
            columns, rows = meta["columns"], meta["n_rows"]
        else:
            columns = {c: str(t) for c, t in self.to_lazy().collect_schema().items()}
            rows = None
        return dict(rows=rows, columns=columns, files=self.paths,
                    path=self.table_path or meta.get("table_path"))

    def _display_args(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (self.origin_args.get("entry") or "table",), self._summary()

    def _close(self) -> None:
        super()._close()
        self._lf = None


# -- TimeSeries ----------------------------------------------------------------------------------

def _squash(text: str) -> str:
    return re.sub(r"[\W_]+", "", text).lower()


class NWBTimeSeriesSource(_NWBSource):
    """One TimeSeries as an xarray DataArray (``driver: nwb_timeseries``).

    Parameters
    ----------
    sources, index, entry:
        The files that hold the series (one partition per file); ``file`` picks one.
    path, search:
        The series' path (an index entry knows its own), or what
        :func:`intake_nwb.get_timeseries` searches for.
    file:
        Which file: an index into the entry's files, or a unique part of its path or URL
        (case, ``-`` and ``_`` ignored: ``"ses-002"``, ``"sub_001_ses_002"``); default: the
        first.
    scaled, chunks:
        As for :func:`intake_nwb.get_timeseries` (physical units by default).

    Examples
    --------
    >>> src = NWBTimeSeriesSource("lab/*.nwb", "/processing/behavior/running_speed",
    ...                           file="ses-002")
    >>> round(float(src.to_dask().sel(time=slice(10, 20)).mean()), 3)  # reads 10 s
    1.903
    """

    name = "nwb_timeseries"
    container = "xarray"
    _display = "timeseries"
    partition_access = True

    def __init__(self, sources: Any = None, path: str | None = None, *,
                 search: str | None = None, file: int | str | None = None, scaled: bool = True,
                 chunks: Any = "auto", **kwargs: Any):
        super().__init__(sources, **kwargs)
        self.path = path
        self.search = search
        self.file = file
        self.array_options = dict(scaled=scaled, chunks=chunks)

    def _series_path(self) -> str | None:
        if self.path is None and self.search is None and self.origin_args.get("entry"):
            from ..catalog.origins import IndexOrigin

            assert isinstance(self.origin, IndexOrigin)
            return self.origin.lab.series[self.origin.entry]  # type: ignore[index]
        return self.path

    def _index(self) -> int:
        if self.file is None:
            return 0
        if isinstance(self.file, int) or str(self.file).isdigit():
            return int(self.file)
        want = _squash(str(self.file))  # "ses-002", "sub_001_ses_002" and "sub-001" all work
        hits = [i for i, p in enumerate(self.paths) if want in _squash(p)]
        if len(hits) != 1:
            raise ValueError(f"file={self.file!r} matches {len(hits)} of the files "
                             f"(name one of: {', '.join(self.paths)})")
        return hits[0]

    def _array(self, i: int) -> Any:
        from ..frames.timeseries import get_timeseries

        opts = self.origin.options
        return get_timeseries(self.origin.store(i), self._series_path(), search=self.search,
                              storage_options=opts.storage_options, cache=opts.cache,
                              cache_dir=opts.cache_dir, **self.array_options)

    def to_dask(self, stack: bool = False, align: str = "auto", join: str = "exact") -> Any:
        """The lazy, dask-backed DataArray of the selected file; with ``stack=True`` the series
        of every file as one Dataset along ``session`` (see
        :func:`intake_nwb.get_timeseries_across` for ``align`` and ``join``)."""
        if stack:
            return self._across(stack=True, align=align, join=join)
        return self._array(self._index())

    def to_datatree(self) -> Any:
        """The series of every file of the entry, one DataTree node per session (lazy), with
        each session's metadata as coordinates."""
        return self._across(stack=False)

    def _across(self, **options: Any) -> Any:
        from ..frames.sessions import get_timeseries_across
        from ..util.fanout import fan_out

        stores, failures = fan_out(self.origin.store, range(len(self.paths)), key=lambda i: i)
        if failures:
            raise next(iter(failures.values()))
        opts = self.origin.options
        return get_timeseries_across(
            list(stores.values()), self._series_path(), search=self.search,
            sessions=self.origin.sessions("warn"), storage_options=opts.storage_options,
            cache=opts.cache, cache_dir=opts.cache_dir, **self.array_options, **options)

    def read(self) -> Any:
        """The selected file's series, loaded."""
        return self.to_dask().load()

    def _get_partition(self, i: int) -> Any:
        return self._array(i).load()

    def _get_schema(self) -> Schema:
        arr = self.to_dask()
        return Schema(dtype=str(arr.dtype), shape=tuple(arr.shape), npartitions=len(self.paths),
                      extra_metadata={"dims": list(arr.dims), "path": arr.attrs.get("path"),
                                      "nwb_path": arr.attrs.get("_nwb_path")})

    def _summary(self) -> dict[str, Any]:
        arr = self.to_dask()  # metadata only: a lazy array
        return dict(shape=tuple(arr.shape), dims=tuple(map(str, arr.dims)),
                    units=arr.attrs.get("units"), files=self.paths, path=arr.attrs.get("path"),
                    neurodata_type=arr.attrs.get("neurodata_type"))

    def _display_args(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (self.origin_args.get("entry") or "timeseries",), self._summary()


# -- session metadata ----------------------------------------------------------------------------

class NWBMetadataSource(_TableLike, _NWBSource):
    """Session and subject metadata, one row per file (``driver: nwb_metadata``).

    Examples
    --------
    >>> NWBMetadataSource("lab/*.nwb").read().select("subject_id", "session_start_time")
    shape: (4, 2)
    ┌────────────┬─────────────────────────┐
    │ subject_id ┆ session_start_time      │
    │ ---        ┆ ---                     │
    │ str        ┆ datetime[μs, UTC]       │
    ╞════════════╪═════════════════════════╡
    │ 001        ┆ 2023-12-31 19:33:00 UTC │
    │ 001        ┆ 2024-01-01 18:33:00 UTC │
    │ 002        ┆ 2024-01-07 19:56:00 UTC │
    │ 002        ┆ 2024-01-08 18:30:00 UTC │
    └────────────┴─────────────────────────┘
    """

    name = "nwb_metadata"
    container = "dataframe"
    _display = "sessions"
    sql_name = "session"

    def __init__(self, sources: Any = None, *, errors: str = "raise", **kwargs: Any):
        super().__init__(sources, **kwargs)
        self.errors = errors
        self._df: Any = None

    def read(self) -> Any:
        """A polars DataFrame: session and subject fields, ``nwb_version``, ``_nwb_path``."""
        if self._df is None:
            self._df = self.origin.sessions(self.errors)  # type: ignore[arg-type]
        return self._df

    def to_pandas(self) -> Any:
        return self.read().to_pandas()

    def to_lazy(self) -> Any:
        return self.read().lazy()

    def _export_files(self) -> list[str] | None:
        return None  # one row per file: written in one go

    def to_dask(self) -> Any:
        import dask.dataframe as dd

        return dd.from_pandas(self.to_pandas(), npartitions=1)

    def _get_schema(self) -> Schema:
        df = self.read()
        return Schema(dtype={k: str(v) for k, v in df.schema.items()}, shape=df.shape,
                      npartitions=1, extra_metadata={})

    def _get_partition(self, i: int) -> Any:
        return self.read()

    def _display_args(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (self.read(),), {}

    def _close(self) -> None:
        super()._close()
        self._df = None


# -- files as catalogs ---------------------------------------------------------------------------

class _LazyEntries(MutableMapping):  # type: ignore[type-arg]
    """A catalog's entries, found the first time they are asked for."""

    def __init__(self, find: Any):
        self._find = find
        self._entries: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        if self._entries is None:
            self._entries = self._find()
        return self._entries

    def __getitem__(self, key: str) -> Any:
        return self._load()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._load()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._load()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    @property
    def loaded(self) -> bool:
        return self._entries is not None


class _LazyCatalog(Catalog):
    """A catalog whose entries are found on first use (creating it reads nothing)."""

    version = __version__

    def _make_entries_container(self) -> _LazyEntries:
        return _LazyEntries(self._find_entries)

    def _load(self) -> None:
        """Nothing to do at creation: entries are found when first asked for."""

    def _find_entries(self) -> dict[str, Any]:
        raise NotImplementedError

    def _make_entry(self, name: str, driver: type, description: str, args: dict[str, Any],
               metadata: dict[str, Any]) -> LocalCatalogEntry:
        from ..catalog.model import inert_args  # intake renders these: names come from files

        return LocalCatalogEntry(name, description, driver, args=inert_args(args),
                                 metadata=inert_args(metadata), getenv=False, catalog=self)


class NWBFileCatalog(_LazyCatalog):
    """One NWB file as a catalog of its tables, TimeSeries and ``session`` metadata.

    ``source`` names the file (or ``index`` and ``key``, a file of a lab index). Creating it
    reads nothing: the file is opened the first time its entries are listed or one is asked
    for (so a lab catalog of 1,000 files opens without touching any of them).

    Examples
    --------
    >>> cat = NWBFileCatalog("session.nwb")
    >>> list(cat)  # opens the file now
    ['electrodes', 'trials', 'units', 'lfp', 'position', 'running_speed', 'session']
    >>> cat.units.read().shape
    (40, 13)
    """

    name = "nwb_file"

    def __init__(self, source: str | None = None, *, index: str | None = None,
                 key: str | None = None, **kwargs: Any):
        self.source = source
        self.index_key = (index, key)
        self.options = {k: kwargs.pop(k) for k in _OPEN if k in kwargs}
        super().__init__(**kwargs)

    def _find_entries(self) -> dict[str, Any]:
        from ..nwb import NWBReader
        from ..nwb.timeseries import timeseries_paths

        index, key = self.index_key
        if index is not None:
            from ..catalog.index import LabIndex

            lab = LabIndex.open(index, self.options.get("storage_options"))
            source = lab.files[key].url  # type: ignore[index]
            store = origin(index=index, **_open_options(self.options, None)).store(
                list(lab.files).index(key))  # the file, checked
        else:
            source = str(self.source)
            store = origin([source], **_open_options(self.options, None)).store(0)
        nwb = NWBReader(store)
        tables, series = nwb.tables, timeseries_paths(nwb)
        names = entry_names([*tables, *series], taken={"session"})
        # the entries read this file directly (its references, checked just now)
        args: dict[str, Any] = {"sources": [store.target], **{
            k: v for k, v in self.options.items() if v is not None and k != "pins"}}
        recorded = store.meta.get("source")
        if recorded and recorded != store.source:  # the references name the file's old place
            args["relocate"] = {**(args.get("relocate") or {}), recorded: store.source}
        meta = {"nwb_file": store.source}
        entries: dict[str, Any] = {}
        for p in tables:
            entries[names[p]] = self._make_entry(names[p], NWBTableSource, f"table {p} of {source}",
                                            {**args, "table_path": p},
                                            {**meta, "table_path": p})
        for p in series:
            entries[names[p]] = self._make_entry(names[p], NWBTimeSeriesSource,
                                            f"TimeSeries {p} of {source}", {**args, "path": p},
                                            {**meta, "path": p})
        entries["session"] = self._make_entry("session", NWBMetadataSource,
                                         f"session and subject metadata of {source}", args,
                                         meta)
        return entries


class NWBFilesCatalog(_LazyCatalog):
    """The files of a lab index, one :class:`NWBFileCatalog` each (``driver: nwb_files``).

    Examples
    --------
    >>> import intake
    >>> cat = intake.open_catalog("lab/catalog.yaml")
    >>> list(cat.files)[:2]
    ['sub_001_ses_001', 'sub_001_ses_002']
    >>> cat.files.sub_001_ses_001.trials.read().shape
    (200, 10)
    """

    name = "nwb_files"

    def __init__(self, index: str, **kwargs: Any):
        self.index = index
        self.options = {k: kwargs.pop(k) for k in _OPEN if k in kwargs}
        super().__init__(**kwargs)

    def _find_entries(self) -> dict[str, Any]:
        from ..catalog.index import LabIndex

        lab = LabIndex.open(self.index, self.options.get("storage_options"))
        return {key: self._make_entry(key, NWBFileCatalog, f"NWB file {rec.nwb_path}: "
                                 f"{len(rec.tables)} tables, {len(rec.timeseries)} TimeSeries",
                                 {"index": self.index, "key": key, **self.options},
                                 {"nwb_path": rec.nwb_path, "tables": list(rec.tables),
                                  "timeseries": rec.timeseries})
                for key, rec in lab.files.items()}

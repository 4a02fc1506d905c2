"""Intake V1 drivers (entry point group ``intake.drivers``): thin adapters over the frames layer.

=================  ===================================  =====================================
driver             ``read()``                           also
=================  ===================================  =====================================
``nwb_table``      polars DataFrame (across files)      ``to_lazy``, ``to_pandas``, ``to_dask``
``nwb_timeseries`` loaded xarray DataArray (one file)   ``to_dask`` (lazy, dask-backed)
``nwb_metadata``   polars DataFrame, one row per file   ``to_pandas``, ``to_lazy``
``nwb_file``       a catalog of one file's tables and TimeSeries, found when first listed
=================  ===================================  =====================================

Every driver takes ``sources`` as NWB paths/URLs/globs, reference files or Zarr NWB stores (what
:func:`intake_nwb.scan_nwb` takes), plus ``storage_options``, ``refs`` (where references of HDF5
sources are made or found; default: the per-user cache), ``relocate`` (a URL prefix map, see
:func:`intake_nwb.store.relocate_url`), ``check_stale`` and ``pins`` (DANDI catalogs: the assets
are checked with :func:`intake_nwb.dandi.verify_pins` before the first read). Reference files
may be remote (a catalog folder on S3 or a web server): they are fetched once into the local
cache.

Examples
--------
>>> import intake
>>> cat = intake.open_catalog("lab/catalog.yaml")  # doctest: +SKIP
>>> cat.units.to_lazy().filter(pl.col("presence_ratio") > 0.9).collect()  # doctest: +SKIP
>>> src = intake.open_nwb_table("lab/*.nwb", "/units")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from intake.catalog import Catalog
from intake.catalog.local import LocalCatalogEntry
from intake.source.base import DataSource, Schema

from .._version import __version__
from ..catalog.locate import refs_dir_for, resolve_sources
from ..catalog.names import entry_names
from ..dandi.pins import verified_relocate
from ..errors import TableNotFoundError

__all__ = ["NWBFileCatalog", "NWBMetadataSource", "NWBTableSource", "NWBTimeSeriesSource"]


class _NWBSource(DataSource):
    """What the NWB drivers share: sources resolved once, options passed down."""

    version = __version__

    def __init__(self, sources: Any, *, storage_options: Mapping[str, Any] | None = None,
                 refs: str | os.PathLike[str] | None = None,
                 relocate: Mapping[str, str] | None = None, check_stale: bool = True,
                 pins: Mapping[str, Mapping[str, Any]] | None = None,
                 metadata: dict[str, Any] | None = None):
        self.sources = sources
        self.refs = refs
        self.relocate = relocate
        self.check_stale = check_stale
        self.pins = pins
        self._paths: list[str] | None = None
        self._relocate_map: dict[str, str] | None = None
        super().__init__(metadata=metadata)
        self.storage_options = dict(storage_options or {})

    @property
    def paths(self) -> list[str]:
        """The sources as opened: globs expanded, remote reference files fetched."""
        if self._paths is None:
            self._paths = resolve_sources(self.sources, self.storage_options)
        return self._paths

    def _open_kwargs(self) -> dict[str, Any]:
        if self._relocate_map is None:  # pinned DANDI assets are verified once, first
            self._relocate_map = verified_relocate(self.pins, self.paths, self.relocate,
                                                   self.storage_options)
        return dict(storage_options=self.storage_options or None, refs_dir=refs_dir_for(self.refs),
                    relocate=self._relocate_map or None, check_stale=self.check_stale)

    def _close(self) -> None:
        self._paths = None
        self._schema = None
        self._relocate_map = None


# -- tables --------------------------------------------------------------------------------------

def read_file_partition(path: str, table_path: str, schema: Any, errors: str,
                        kwargs: Mapping[str, Any]) -> Any:
    """One file's rows of a table as pandas, in the union ``schema`` (a ``to_dask`` partition).

    Examples
    --------
    >>> schema = NWBTableSource("lab/*.nwb", "/units").to_lazy().collect_schema()
    ... # doctest: +SKIP
    >>> read_file_partition("lab/ses-1.nwb", "/units", schema, "raise", {})  # doctest: +SKIP
    """
    import polars as pl

    from ..frames import scan_nwb

    try:
        lf = scan_nwb([path], table_path, errors=errors, **kwargs)  # type: ignore[arg-type]
    except TableNotFoundError:
        if errors == "raise":
            raise
        return pl.DataFrame(schema=schema).to_pandas()
    have = lf.collect_schema()
    cols = [pl.col(c).cast(t) if c in have else pl.lit(None, dtype=t).alias(c)
            for c, t in schema.items()]
    return lf.select(cols).collect().to_pandas()


class NWBTableSource(_NWBSource):
    """A DynamicTable across NWB files (``driver: nwb_table``).

    Parameters
    ----------
    sources:
        NWB paths/URLs/globs, reference files or Zarr NWB stores, or a list of these.
    table_path:
        ``"/units"``, ``"/intervals/trials"``, ``"/general/extracellular_ephys/electrodes"``...
    storage_options, refs, relocate, check_stale:
        How to reach the files (see the module documentation).
    schema_overrides, exclude_array_columns, resolve_regions, infer_schema_length, errors:
        As for :func:`intake_nwb.scan_nwb`.

    Examples
    --------
    >>> src = NWBTableSource("lab/*.nwb", "/units")  # doctest: +SKIP
    >>> src.discover()["shape"]  # rows, columns: no data read  # doctest: +SKIP
    (120, 12)
    >>> src.to_lazy().filter(pl.col("presence_ratio") > 0.9).collect()  # doctest: +SKIP
    >>> src.to_dask().npartitions  # one per file  # doctest: +SKIP
    3
    """

    name = "nwb_table"
    container = "dataframe"
    partition_access = True

    def __init__(self, sources: Any, table_path: str, *,
                 schema_overrides: Mapping[str, Any] | None = None,
                 exclude_array_columns: bool = False, resolve_regions: bool = False,
                 infer_schema_length: int | None = None, errors: str = "raise",
                 **kwargs: Any):
        self.table_path = table_path
        self.scan_options = dict(schema_overrides=schema_overrides,
                                 exclude_array_columns=exclude_array_columns,
                                 resolve_regions=resolve_regions,
                                 infer_schema_length=infer_schema_length)
        self.errors = errors
        self._lf: Any = None
        super().__init__(sources, **kwargs)

    def _scan_kwargs(self) -> dict[str, Any]:
        return {**self.scan_options, **self._open_kwargs()}

    def to_lazy(self) -> Any:
        """A polars LazyFrame with projection, predicate and slice pushdown."""
        if self._lf is None:
            from ..frames import scan_nwb

            self._lf = scan_nwb(self.paths, self.table_path, errors=self.errors,  # type: ignore
                                **self._scan_kwargs())
        return self._lf

    def _get_schema(self) -> Schema:
        from ..frames.tables import TABLE_INDEX

        lf = self.to_lazy()
        schema = lf.collect_schema()
        n_rows = lf.select(TABLE_INDEX).collect().height  # row counts only: no data read
        return Schema(dtype={k: str(v) for k, v in schema.items()}, shape=(n_rows, len(schema)),
                      npartitions=len(self.paths), extra_metadata={"table_path": self.table_path})

    def read(self) -> Any:
        """The whole table as a polars DataFrame."""
        return self.to_lazy().collect()

    def to_pandas(self) -> Any:
        return self.read().to_pandas()

    def _get_partition(self, i: int) -> Any:
        import polars as pl

        return pl.from_pandas(self._partition(self.paths[i]))

    def _partition(self, path: str) -> Any:
        return read_file_partition(path, self.table_path, self.to_lazy().collect_schema(),
                                   self.errors, self._scan_kwargs())

    def to_dask(self) -> Any:
        """A dask DataFrame with one partition per file (each read with pushdown when computed)."""
        import dask
        import dask.dataframe as dd
        import polars as pl

        schema = self.to_lazy().collect_schema()
        # dask would turn object columns into strings: ragged columns hold arrays, keep them
        with dask.config.set({"dataframe.convert-string": False}):
            return dd.from_map(read_file_partition, self.paths, table_path=self.table_path,
                               schema=schema, errors=self.errors, kwargs=self._scan_kwargs(),
                               meta=pl.DataFrame(schema=schema).to_pandas(),
                               enforce_metadata=False)

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
    sources:
        The files that hold the series; ``file`` picks one (one partition per file).
    path, search:
        The series' path, or what :func:`intake_nwb.get_timeseries` searches for.
    file:
        Which file: an index into ``sources``, or a unique part of its path or URL (case,
        ``-`` and ``_`` ignored: ``"ses-002"``, ``"sub_001_ses_002"``); default: the first.
    scaled, chunks, cache, cache_dir:
        As for :func:`intake_nwb.get_timeseries`.

    Examples
    --------
    >>> src = NWBTimeSeriesSource("lab/*.nwb", "/processing/behavior/running_speed",
    ...                           file="ses-002")  # doctest: +SKIP
    >>> src.to_dask().sel(time=slice(10, 20)).mean().values  # reads 10 s  # doctest: +SKIP
    """

    name = "nwb_timeseries"
    container = "xarray"
    partition_access = True

    def __init__(self, sources: Any, path: str | None = None, *, search: str | None = None,
                 file: int | str | None = None, scaled: bool = False, chunks: Any = "auto",
                 cache: str | None = None, cache_dir: str | None = None, **kwargs: Any):
        self.path = path
        self.search = search
        self.file = file
        self.array_options = dict(scaled=scaled, chunks=chunks, cache=cache, cache_dir=cache_dir)
        super().__init__(sources, **kwargs)

    def _index(self) -> int:
        if self.file is None:
            return 0
        if isinstance(self.file, int) or str(self.file).isdigit():
            return int(self.file)
        want = _squash(str(self.file))  # "ses-002", "sub_001_ses_002" and "sub-001" all work
        hits = [i for i, p in enumerate(self.paths) if want in _squash(p)]
        if len(hits) != 1:
            raise ValueError(f"file={self.file!r} matches {len(hits)} of the sources "
                             f"(name one of: {', '.join(self.paths)})")
        return hits[0]

    def _array(self, i: int) -> Any:
        from ..frames.timeseries import get_timeseries
        from ..store import open_store

        opts = self._open_kwargs()
        store = open_store(self.paths[i], cache=self.array_options["cache"],  # type: ignore
                           cache_dir=self.array_options["cache_dir"], **opts)
        return get_timeseries(store, self.path, search=self.search,
                              storage_options=opts["storage_options"], **self.array_options)

    def to_dask(self) -> Any:
        """The lazy, dask-backed DataArray of the selected file."""
        return self._array(self._index())

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


# -- session metadata ----------------------------------------------------------------------------

class NWBMetadataSource(_NWBSource):
    """Session and subject metadata, one row per file (``driver: nwb_metadata``).

    Examples
    --------
    >>> NWBMetadataSource("lab/*.nwb").read().select("subject_id", "session_start_time")
    ... # doctest: +SKIP
    """

    name = "nwb_metadata"
    container = "dataframe"

    def __init__(self, sources: Any, *, errors: str = "raise", **kwargs: Any):
        self.errors = errors
        self._df: Any = None
        super().__init__(sources, **kwargs)

    def read(self) -> Any:
        """A polars DataFrame: session and subject fields, ``nwb_version``, ``_nwb_path``."""
        if self._df is None:
            from ..frames import get_metadata_df

            self._df = get_metadata_df(self.paths, progress=False, errors=self.errors,
                                       **self._open_kwargs())
        return self._df

    def to_pandas(self) -> Any:
        return self.read().to_pandas()

    def to_lazy(self) -> Any:
        return self.read().lazy()

    def to_dask(self) -> Any:
        import dask.dataframe as dd

        return dd.from_pandas(self.to_pandas(), npartitions=1)

    def _get_schema(self) -> Schema:
        df = self.read()
        return Schema(dtype={k: str(v) for k, v in df.schema.items()}, shape=df.shape,
                      npartitions=1, extra_metadata={})

    def _get_partition(self, i: int) -> Any:
        return self.read()

    def _close(self) -> None:
        super()._close()
        self._df = None


# -- one file as a catalog -----------------------------------------------------------------------

class _LazyEntries(MutableMapping):  # type: ignore[type-arg]
    """The entries of an :class:`NWBFileCatalog`, found the first time they are asked for."""

    def __init__(self, catalog: NWBFileCatalog):
        self._catalog = catalog
        self._entries: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        if self._entries is None:
            self._entries = self._catalog._find_entries()
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


class NWBFileCatalog(Catalog):
    """One NWB file as a catalog of its tables, TimeSeries and ``session`` metadata.

    Creating it reads nothing: the file is opened the first time its entries are listed or one
    is asked for (so a lab catalog of 1,000 files opens without touching any of them).

    Examples
    --------
    >>> cat = NWBFileCatalog("ses-001.nwb")  # doctest: +SKIP
    >>> list(cat)  # opens the file now  # doctest: +SKIP
    ['electrodes', 'trials', 'units', 'running_speed', 'position', 'session']
    >>> cat.units.read()  # doctest: +SKIP
    """

    name = "nwb_file"
    version = __version__

    def __init__(self, source: str, *, storage_options: Mapping[str, Any] | None = None,
                 refs: str | os.PathLike[str] | None = None,
                 relocate: Mapping[str, str] | None = None, check_stale: bool = True,
                 pins: Mapping[str, Mapping[str, Any]] | None = None, **kwargs: Any):
        self.source = source
        self.options = dict(storage_options=dict(storage_options or {}) or None, refs=refs,
                            relocate=relocate, check_stale=check_stale, pins=pins)
        super().__init__(storage_options=storage_options, **kwargs)

    def _make_entries_container(self) -> _LazyEntries:
        return _LazyEntries(self)

    def _load(self) -> None:
        """Nothing to do at creation: entries are found when first asked for."""

    def _find_entries(self) -> dict[str, Any]:
        from ..nwb import NWBReader
        from ..nwb.timeseries import timeseries_paths
        from ..store import open_store

        opts = self.options
        path = resolve_sources(self.source, opts["storage_options"])[0]
        relocate = verified_relocate(opts["pins"], [path], opts["relocate"],
                                     opts["storage_options"])
        store = open_store(path, storage_options=opts["storage_options"],
                           refs_dir=refs_dir_for(opts["refs"]), relocate=relocate or None,
                           check_stale=opts["check_stale"])
        nwb = NWBReader(store)
        tables, series = nwb.tables, timeseries_paths(nwb)
        names = entry_names([*tables, *series], taken={"session"})
        args = {k: v for k, v in {**opts, "sources": [path]}.items() if v is not None}
        entries: dict[str, Any] = {}
        for p in tables:
            entries[names[p]] = self._make_entry(names[p], NWBTableSource, f"table {p}",
                                                 {**args, "table_path": p}, {"table_path": p})
        for p in series:
            entries[names[p]] = self._make_entry(names[p], NWBTimeSeriesSource,
                                                 f"TimeSeries {p}", {**args, "path": p},
                                                 {"path": p})
        entries["session"] = self._make_entry("session", NWBMetadataSource,
                                              "session and subject metadata", args, {})
        return entries

    def _make_entry(self, name: str, driver: type, what: str, args: dict[str, Any],
                    metadata: dict[str, Any]) -> LocalCatalogEntry:
        return LocalCatalogEntry(name, f"{what} of {self.source}", driver, args=args,
                                 metadata={**metadata, "nwb_file": self.source},
                                 getenv=False, catalog=self)

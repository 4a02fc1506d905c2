"""Intake V2 readers, registered through the ``intake.imports`` entry point.

Intake 2 imports this module at start-up; defining the classes registers them. The datatype
:class:`NWB` (an NWB file, Zarr NWB store or reference file; ``url`` may be a list or glob)
is recognised by ``intake.datatypes.recommend`` for HDF5 files named ``*.nwb``, for Zarr NWB
stores (directories named ``*.nwb`` or ``*.nwb.zarr``) and for our reference files (by name or
by their first bytes). Its readers (only these are listed: the shared base is not a reader):

==============================  =====================  ==================================
reader                          ``output_instance``    arguments
==============================  =====================  ==================================
:class:`NWBTableReader`         ``polars:LazyFrame``   ``table_path``, as ``nwb_table``
:class:`NWBTimeSeriesReader`    ``xarray:DataArray``   ``path``/``search``/``file``, lazy
:class:`NWBMetadataReader`      ``polars:DataFrame``   one row per file
:class:`NWBDataTreeReader`      ``xarray:DataTree``    one file, every group (``engine="nwb"``)
==============================  =====================  ==================================

The first three are thin adapters over the V1 drivers (same arguments, same results).

Intake's converters apply to the outputs (``PolarsEager``, ``PolarsToPandas``...), and the
readers go into intake 2 catalogs like any other.

Examples
--------
>>> import intake
>>> from intake_nwb.intake.readers import NWB
>>> data = NWB("lab/*.nwb")
>>> units = data.to_reader("polars:LazyFrame", table_path="/units")
>>> type(units).__name__, units.read().collect().shape
('NWBTableReader', (160, 13))
>>> cat = intake.entry.Catalog(); cat["units"] = units
>>> cat["units"].read().select("id", "quality").collect().shape
(160, 2)
>>> df = units.PolarsEager.PolarsToPandas.read()  # intake's converters apply
>>> type(df).__name__, df.shape
('DataFrame', (160, 13))
"""

from __future__ import annotations

from typing import Any

from intake.readers.datatypes import FileData
from intake.readers.readers import BaseReader

__all__ = ["NWB", "NWBDataTreeReader", "NWBIndex", "NWBMetadataReader", "NWBTableReader",
           "NWBTimeSeriesReader"]


class NWB(FileData):
    """Neurodata Without Borders files: HDF5, Zarr NWB stores, or their reference files.

    Examples
    --------
    >>> NWB("s3://lab/sessions/*.nwb", storage_options={"anon": True})  # nothing opened yet
    NWB, {'url': 's3://lab/sessions/*.nwb', 'storage_options': {'anon': True}, 'metadata': {}}
    """

    # files and Zarr stores named as NWB, and our reference files (``<name>.nwb.<hash>.json``)
    filepattern = r"\.nwb(\.zarr)?/?$|\.nwb\.[0-9a-f]+\.json$"
    # a Zarr NWB store is a directory: recognised by its root group's metadata file
    contains = {r"\.nwb(\.zarr)?/(\.zgroup|zarr\.json)$"}
    # a reference file written by intake-nwb starts so, whatever its name
    magic = {(None, rb'^\{"version":\s*1,\s*"intake_nwb":')}
    structure = {"table", "array", "timeseries", "hierarchy"}
    mimetypes = "application/x-nwb"


class NWBIndex(FileData):
    """A catalog's lab index (``<catalog folder>/index/<version>``): what the entries of an
    intake 2 catalog written by ``build_catalog(..., dialect="v2")`` read, each with its
    ``entry`` name (see :mod:`intake_nwb.catalog.index`).

    Examples
    --------
    >>> import intake
    >>> from intake_nwb import build_catalog
    >>> path = build_catalog("lab/*.nwb", "lab2/catalog.yaml", dialect="v2")
    >>> cat = intake.from_yaml_file(str(path))
    >>> sorted(cat)[:4]
    ['electrodes', 'lfp', 'position', 'running_speed']
    >>> type(cat["units"].data).__name__, cat["units"].read().collect().shape
    ('NWBIndex', (160, 13))
    """

    structure = {"table", "timeseries"}


class _FromDriver:
    """What the driver-backed readers share (a mixin: not a reader, so intake lists it not)."""

    driver: str = ""

    def _source(self, data: NWB | NWBIndex, **kwargs: Any) -> Any:
        from . import drivers

        where = ({"index": data.url} if isinstance(data, NWBIndex) else {"sources": data.url})
        return getattr(drivers, self.driver)(storage_options=data.storage_options, **where,
                                             **kwargs)


class NWBTableReader(_FromDriver, BaseReader):
    """A DynamicTable across files as a polars LazyFrame (pushdown as :func:`scan_nwb`).

    Examples
    --------
    >>> NWBTableReader(NWB("lab/*.nwb"), table_path="/units").read().collect().shape
    (160, 13)
    """

    implements = {NWB, NWBIndex}
    imports = {"intake_nwb", "polars"}
    output_instance = "polars:LazyFrame"
    func = "intake_nwb.frames.tables:scan_nwb"
    driver = "NWBTableSource"

    def _read(self, data: NWB | NWBIndex, table_path: str | None = None, **kwargs: Any) -> Any:
        if table_path is None and isinstance(data, NWB):
            table_path = "/units"  # an index entry knows its table
        return self._source(data, table_path=table_path, **kwargs).to_lazy()

    def discover(self, **kwargs: Any) -> Any:
        """The first rows (lazily)."""
        return self.read(**kwargs).head(10)


class NWBTimeSeriesReader(_FromDriver, BaseReader):
    """A TimeSeries of one file as a lazy, dask-backed xarray DataArray.

    Examples
    --------
    >>> lfp = NWBTimeSeriesReader(NWB("session.nwb"), path="/acquisition/lfp").read()
    >>> lfp.sizes, lfp.chunks is not None  # dask-backed: nothing read yet
    (Frozen({'time': 300000, 'channel': 4}), True)
    """

    implements = {NWB, NWBIndex}
    imports = {"intake_nwb", "xarray", "dask"}
    output_instance = "xarray:DataArray"
    func = "intake_nwb.frames.timeseries:get_timeseries"
    driver = "NWBTimeSeriesSource"

    def _read(self, data: NWB | NWBIndex, path: str | None = None, **kwargs: Any) -> Any:
        return self._source(data, path=path, **kwargs).to_dask()


class NWBMetadataReader(_FromDriver, BaseReader):
    """Session and subject metadata, one row per file, as a polars DataFrame.

    Examples
    --------
    >>> NWBMetadataReader(NWB("lab/*.nwb")).read()["subject_id"].to_list()
    ['001', '001', '002', '002']
    """

    implements = {NWB, NWBIndex}
    imports = {"intake_nwb", "polars"}
    output_instance = "polars:DataFrame"
    func = "intake_nwb.frames.tables:get_metadata_df"
    driver = "NWBMetadataSource"

    def _read(self, data: NWB | NWBIndex, **kwargs: Any) -> Any:
        return self._source(data, **kwargs).read()


class NWBDataTreeReader(BaseReader):
    """One file as an xarray DataTree: every group a node at its NWB path, lazily
    (:mod:`intake_nwb.frames.backend`).

    Examples
    --------
    >>> NWBDataTreeReader(NWB("session.nwb")).read()["acquisition/lfp"]["lfp"].sizes
    Frozen({'time': 300000, 'channel': 4})
    """

    implements = {NWB}
    imports = {"intake_nwb", "xarray"}
    output_instance = "xarray:DataTree"
    func = "xarray:open_datatree"

    def _read(self, data: NWB, **kwargs: Any) -> Any:
        import xarray as xr

        from ..frames.backend import NWBBackendEntrypoint

        url = data.url
        if not isinstance(url, str):
            raise ValueError(f"a DataTree is one file; got {url!r} (open each, or use "
                             "intake_nwb.get_timeseries_across for a series of many)")
        return xr.open_datatree(url, engine=NWBBackendEntrypoint,
                                storage_options=data.storage_options, **kwargs)


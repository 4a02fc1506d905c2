"""Layer 4: NWB semantics over a zarr group (types, tables, TimeSeries, metadata)."""

from .file import NWBReader
from .tables import ColumnData, ColumnSpec, TableReader
from .timeseries import TimeSeriesReader, find_timeseries, timeseries_paths
from .types import TypeHierarchy

__all__ = ["ColumnData", "ColumnSpec", "NWBReader", "TableReader", "TimeSeriesReader",
           "TypeHierarchy", "find_timeseries", "timeseries_paths"]

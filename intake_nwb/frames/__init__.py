"""Layer 5: frames. NWB tables as polars frames, TimeSeries as xarray objects."""

from .nwbfile import LazyNWB, describe, get_internal_paths, open_nwb
from .polars import get_df, get_metadata_df, get_table_schema, read_nwb, scan_nwb
from .xarray import get_timeseries, get_timeseries_dataset

__all__ = ["LazyNWB", "describe", "get_df", "get_internal_paths", "get_metadata_df",
           "get_table_schema", "get_timeseries", "get_timeseries_dataset", "open_nwb",
           "read_nwb", "scan_nwb"]

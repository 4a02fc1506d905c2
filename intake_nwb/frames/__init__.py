"""Layer 5: frames. NWB tables as polars frames, TimeSeries as xarray objects."""

from .polars import get_df, get_metadata_df, get_table_schema, read_nwb, scan_nwb

__all__ = ["get_df", "get_metadata_df", "get_table_schema", "read_nwb", "scan_nwb"]

"""Layer 5: frames. NWB tables as polars frames, TimeSeries as xarray objects.

The xarray side (xarray, dask) is imported on first use, so table work does not pay for it.
"""

from typing import Any

from .metadata import get_metadata_df
from .nwbfile import LazyNWB, describe, get_internal_paths, open_nwb
from .tables import get_df, get_table_schema, read_nwb, scan_nwb

_XARRAY = ("get_timeseries", "get_timeseries_dataset")

__all__ = ["LazyNWB", "describe", "get_df", "get_internal_paths", "get_metadata_df",
           "get_table_schema", "get_timeseries", "get_timeseries_dataset", "open_nwb",
           "read_nwb", "scan_nwb"]


def __getattr__(name: str) -> Any:
    if name in _XARRAY:
        from . import timeseries

        return getattr(timeseries, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

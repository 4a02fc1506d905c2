"""Layer 5: frames. NWB tables as polars frames, TimeSeries as xarray objects.

The xarray side (xarray, dask) is imported on first use, so table work does not pay for it.
"""

import importlib
from typing import Any

from .contents import (
    ColumnMetadata,
    consolidate_attrs,
    get_attrs,
    get_internal_path_info,
    get_internal_paths,
    get_sub_attrs,
    get_table_column_metadata,
    get_table_length_from_metadata,
    get_table_schema_from_metadata,
)
from .metadata import get_metadata_df
from .nwbfile import LazyNWB, describe, open_nwb
from .schema import (
    INTERNAL_COLUMN_NAMES,
    NWB_PATH_COLUMN_NAME,
    TABLE_INDEX_COLUMN_NAME,
    TABLE_PATH_COLUMN_NAME,
)
from .tables import get_df, get_table_schema, read_nwb, scan_nwb

# name -> module, imported on first use (xarray, dask; spike helpers; writers)
_LAZY = {"get_timeseries": "lookup", "get": "lookup", "get_timeseries_dataset": "timeseries",
         "merge_array_column": "spikes", "get_spike_times_in_intervals": "spikes",
         "insert_is_observed": "spikes", "UNITS_TABLE_INDEX_COLUMN_NAME": "spikes",
         "INTERVALS_TABLE_INDEX_COLUMN_NAME": "spikes", "convert_nwb_tables": "export",
         "get_sql_context": "sql"}

__all__ = ["INTERNAL_COLUMN_NAMES", "NWB_PATH_COLUMN_NAME", "TABLE_INDEX_COLUMN_NAME",
           "TABLE_PATH_COLUMN_NAME", "ColumnMetadata", "LazyNWB", "consolidate_attrs",
           "describe", "get_attrs", "get_df", "get_internal_path_info", "get_internal_paths",
           "get_metadata_df", "get_sub_attrs", "get_table_column_metadata",
           "get_table_length_from_metadata", "get_table_schema", "get_table_schema_from_metadata",
           "open_nwb", "read_nwb", "scan_nwb", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)

"""intake-nwb: NWB files as a fast, lazily loaded, shareable data catalog.

The public API, re-exported from the layers that implement it.
"""

from ._version import __version__
from .errors import (
    BatchError,
    IntakeNWBError,
    NotNWBError,
    SchemaConflictError,
    SourceNotFoundError,
    StaleReferenceError,
    TableNotFoundError,
    TimeSeriesNotFoundError,
    TranslationError,
)
from .frames import (
    LazyNWB,
    describe,
    get_df,
    get_internal_paths,
    get_metadata_df,
    get_table_schema,
    get_timeseries,
    get_timeseries_dataset,
    open_nwb,
    read_nwb,
    scan_nwb,
)
from .refs import default_refs_dir, index
from .store import open_store

__all__ = [
    "BatchError",
    "IntakeNWBError",
    "LazyNWB",
    "NotNWBError",
    "SchemaConflictError",
    "SourceNotFoundError",
    "StaleReferenceError",
    "TableNotFoundError",
    "TimeSeriesNotFoundError",
    "TranslationError",
    "__version__",
    "default_refs_dir",
    "describe",
    "get_df",
    "get_internal_paths",
    "get_metadata_df",
    "get_table_schema",
    "get_timeseries",
    "get_timeseries_dataset",
    "index",
    "open_nwb",
    "open_store",
    "read_nwb",
    "scan_nwb",
]

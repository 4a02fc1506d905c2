"""intake-nwb: NWB files as a fast, lazily loaded, shareable data catalog.

The public API, re-exported from the layers that implement it. Names are imported on first use
(PEP 562), so ``import intake`` (which loads our ``intake.imports`` entry point) stays cheap.

Examples
--------
>>> import intake_nwb
>>> refs = intake_nwb.index("lab/*.nwb")  # {file: its reference file}, made once
>>> len(refs)
4
>>> units = intake_nwb.scan_nwb(list(refs.values()), "/units")  # lazy: nothing read yet
>>> units.select("id", "quality", "firing_rate").head(3).collect()
shape: (3, 3)
┌─────┬─────────┬─────────────┐
│ id  ┆ quality ┆ firing_rate │
│ --- ┆ ---     ┆ ---         │
│ i64 ┆ str     ┆ f64         │
╞═════╪═════════╪═════════════╡
│ 0   ┆ mua     ┆ 0.32        │
│ 1   ┆ mua     ┆ 7.68        │
│ 2   ┆ good    ┆ 5.046667    │
└─────┴─────────┴─────────────┘
>>> trials = intake_nwb.get_df("lab/*.nwb", "trials", as_polars=False)  # lazynwb's call
>>> type(trials).__name__, trials.shape
('DataFrame', (800, 10))
>>> cat = intake_nwb.open_catalog("lab/catalog.yaml")  # checked, then opened with intake
>>> cat.sessions
sessions: 4 sessions, 2 subjects, 2023-12-31 19:33:00+00:00 to 2024-01-08 18:30:00+00:00

lazynwb's public names are here too (``get_df``, ``scan_nwb``, ``get_sql_context``,
``convert_nwb_tables``, ``get_spike_times_in_intervals``, ``NWB_PATH_COLUMN_NAME``...): a
lazynwb script runs after changing its import (docs/lazynwb.md lists the differences).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

# public name -> module that defines it
_EXPORTS = {
    # errors and warnings
    "AmbiguousNameError": "errors", "BatchError": "errors", "DandiAPIError": "errors",
    "DandiNotFoundError": "errors", "DataWarning": "errors", "DraftVersionWarning": "errors",
    "IntakeNWBError": "errors", "IntakeNWBWarning": "errors", "NotNWBError": "errors",
    "PinMismatchError": "errors", "RemoteIOError": "errors", "SchemaConflictError": "errors",
    "SchemaConflictWarning": "errors", "SkippedWarning": "errors", "SourceNotFoundError": "errors",
    "StaleReferenceError": "errors", "TableNotFoundError": "errors",
    "TimeSeriesNotFoundError": "errors", "TranslationError": "errors",
    # defaults: intake_nwb.config is the module, which reads and sets the options
    "Config": "config", "config": "config",
    # layer 2: references
    "default_refs_dir": "refs", "index": "refs",
    # layer 3: store
    "open_store": "store",
    # layer 4: NWB semantics
    "TABLE_SHORTCUTS": "nwb.names",
    # layer 5: frames
    "ColumnMetadata": "frames", "INTERNAL_COLUMN_NAMES": "frames",
    "INTERVALS_TABLE_INDEX_COLUMN_NAME": "frames", "LazyNWB": "frames",
    "NWBBackendEntrypoint": "frames.backend", "NWB_PATH_COLUMN_NAME": "frames",
    "TABLE_INDEX_COLUMN_NAME": "frames", "TABLE_PATH_COLUMN_NAME": "frames",
    "UNITS_TABLE_INDEX_COLUMN_NAME": "frames", "consolidate_attrs": "frames",
    "convert_nwb_tables": "frames", "describe": "frames", "get": "frames", "get_attrs": "frames",
    "get_df": "frames", "get_internal_path_info": "frames", "get_internal_paths": "frames",
    "get_metadata_df": "frames", "get_spike_times_in_intervals": "frames",
    "get_sql_context": "frames", "get_sub_attrs": "frames", "get_table_column_metadata": "frames",
    "get_table_length_from_metadata": "frames", "get_table_schema": "frames",
    "get_table_schema_from_metadata": "frames", "get_timeseries": "frames",
    "get_timeseries_across": "frames.sessions", "get_timeseries_dataset": "frames",
    "insert_is_observed": "frames", "merge_array_column": "frames", "open_nwb": "frames",
    "read_nwb": "frames", "scan_nwb": "frames",
    # layer 6: catalogs
    "UnsafeCatalogError": "catalog", "build_catalog": "catalog", "check_catalog": "catalog",
    "open_catalog": "catalog",
    # front ends: whole catalogs exported, or queried with SQL
    "catalog_sql_context": "intake.export", "export_catalog": "intake.export",
    # layer 7: DANDI
    "dandi_catalog": "dandi", "get_dandi_assets": "dandi", "get_dandi_sources": "dandi",
    "get_dandi_urls": "dandi", "select_dandi_assets": "dandi", "verify_pins": "dandi",
}

__all__ = [
    "AmbiguousNameError",
    "BatchError",
    "ColumnMetadata",
    "Config",
    "DandiAPIError",
    "DandiNotFoundError",
    "DataWarning",
    "DraftVersionWarning",
    "INTERNAL_COLUMN_NAMES",
    "INTERVALS_TABLE_INDEX_COLUMN_NAME",
    "IntakeNWBError",
    "IntakeNWBWarning",
    "LazyNWB",
    "NWBBackendEntrypoint",
    "NWB_PATH_COLUMN_NAME",
    "NotNWBError",
    "PinMismatchError",
    "RemoteIOError",
    "SchemaConflictError",
    "SchemaConflictWarning",
    "SkippedWarning",
    "SourceNotFoundError",
    "StaleReferenceError",
    "TABLE_INDEX_COLUMN_NAME",
    "TABLE_PATH_COLUMN_NAME",
    "TABLE_SHORTCUTS",
    "TableNotFoundError",
    "TimeSeriesNotFoundError",
    "TranslationError",
    "UNITS_TABLE_INDEX_COLUMN_NAME",
    "UnsafeCatalogError",
    "__version__",
    "build_catalog",
    "catalog_sql_context",
    "check_catalog",
    "config",
    "consolidate_attrs",
    "convert_nwb_tables",
    "dandi_catalog",
    "default_refs_dir",
    "describe",
    "export_catalog",
    "get",
    "get_attrs",
    "get_dandi_assets",
    "get_dandi_sources",
    "get_dandi_urls",
    "get_df",
    "get_internal_path_info",
    "get_internal_paths",
    "get_metadata_df",
    "get_spike_times_in_intervals",
    "get_sql_context",
    "get_sub_attrs",
    "get_table_column_metadata",
    "get_table_length_from_metadata",
    "get_table_schema",
    "get_table_schema_from_metadata",
    "get_timeseries",
    "get_timeseries_across",
    "get_timeseries_dataset",
    "index",
    "insert_is_observed",
    "merge_array_column",
    "open_catalog",
    "open_nwb",
    "open_store",
    "read_nwb",
    "scan_nwb",
    "select_dandi_assets",
    "verify_pins",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'intake_nwb' has no attribute {name!r}")
    found = importlib.import_module(f".{module}", __name__)
    value = found if name == "config" else getattr(found, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # for type checkers and IDEs
    from . import config
    from .catalog import UnsafeCatalogError, build_catalog, check_catalog, open_catalog
    from .config import Config
    from .dandi import (
        dandi_catalog,
        get_dandi_assets,
        get_dandi_sources,
        get_dandi_urls,
        select_dandi_assets,
        verify_pins,
    )
    from .errors import (
        AmbiguousNameError,
        BatchError,
        DandiAPIError,
        DandiNotFoundError,
        DataWarning,
        DraftVersionWarning,
        IntakeNWBError,
        IntakeNWBWarning,
        NotNWBError,
        PinMismatchError,
        RemoteIOError,
        SchemaConflictError,
        SchemaConflictWarning,
        SkippedWarning,
        SourceNotFoundError,
        StaleReferenceError,
        TableNotFoundError,
        TimeSeriesNotFoundError,
        TranslationError,
    )
    from .frames import (
        INTERNAL_COLUMN_NAMES,
        INTERVALS_TABLE_INDEX_COLUMN_NAME,
        NWB_PATH_COLUMN_NAME,
        TABLE_INDEX_COLUMN_NAME,
        TABLE_PATH_COLUMN_NAME,
        UNITS_TABLE_INDEX_COLUMN_NAME,
        ColumnMetadata,
        LazyNWB,
        consolidate_attrs,
        convert_nwb_tables,
        describe,
        get,
        get_attrs,
        get_df,
        get_internal_path_info,
        get_internal_paths,
        get_metadata_df,
        get_spike_times_in_intervals,
        get_sql_context,
        get_sub_attrs,
        get_table_column_metadata,
        get_table_length_from_metadata,
        get_table_schema,
        get_table_schema_from_metadata,
        get_timeseries,
        get_timeseries_dataset,
        insert_is_observed,
        merge_array_column,
        open_nwb,
        read_nwb,
        scan_nwb,
    )
    from .frames.backend import NWBBackendEntrypoint
    from .frames.sessions import get_timeseries_across
    from .intake.export import catalog_sql_context, export_catalog
    from .nwb.names import TABLE_SHORTCUTS
    from .refs import (
        default_refs_dir,
        index,
    )
    from .store import open_store

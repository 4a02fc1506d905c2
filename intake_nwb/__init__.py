"""intake-nwb: NWB files as a fast, lazily loaded, shareable data catalog.

The public API, re-exported from the layers that implement it. Names are imported on first use
(PEP 562), so ``import intake`` (which loads our ``intake.imports`` entry point) stays cheap.

Examples
--------
>>> import intake_nwb
>>> refs = intake_nwb.index("lab/*.nwb")  # doctest: +SKIP
>>> intake_nwb.scan_nwb(list(refs.values()), "/units").collect()  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

# public name -> module that defines it
_EXPORTS = {
    # errors and warnings
    "BatchError": "errors", "DandiAPIError": "errors", "DandiNotFoundError": "errors",
    "DataWarning": "errors", "DraftVersionWarning": "errors", "IntakeNWBError": "errors",
    "IntakeNWBWarning": "errors", "NotNWBError": "errors", "PinMismatchError": "errors",
    "RemoteIOError": "errors", "SchemaConflictError": "errors", "SchemaConflictWarning": "errors",
    "SkippedWarning": "errors", "SourceNotFoundError": "errors", "StaleReferenceError": "errors",
    "TableNotFoundError": "errors", "TimeSeriesNotFoundError": "errors",
    "TranslationError": "errors",
    # layer 2: references
    "default_refs_dir": "refs", "index": "refs",
    # layer 3: store
    "open_store": "store",
    # layer 5: frames
    "LazyNWB": "frames", "describe": "frames", "get_df": "frames", "get_internal_paths": "frames",
    "get_metadata_df": "frames", "get_table_schema": "frames", "get_timeseries": "frames",
    "get_timeseries_dataset": "frames", "open_nwb": "frames", "read_nwb": "frames",
    "scan_nwb": "frames", "get_timeseries_across": "frames.sessions",
    "NWBBackendEntrypoint": "frames.backend",
    # layer 6: catalogs
    "UnsafeCatalogError": "catalog", "build_catalog": "catalog", "check_catalog": "catalog",
    "open_catalog": "catalog",
    # layer 7: DANDI
    "dandi_catalog": "dandi", "get_dandi_assets": "dandi", "get_dandi_sources": "dandi",
    "get_dandi_urls": "dandi", "select_dandi_assets": "dandi", "verify_pins": "dandi",
}

__all__ = [
    "__version__",
    "BatchError",
    "DataWarning",
    "DandiAPIError",
    "DandiNotFoundError",
    "DraftVersionWarning",
    "IntakeNWBError",
    "IntakeNWBWarning",
    "LazyNWB",
    "NWBBackendEntrypoint",
    "NotNWBError",
    "PinMismatchError",
    "RemoteIOError",
    "SchemaConflictError",
    "SchemaConflictWarning",
    "SkippedWarning",
    "SourceNotFoundError",
    "StaleReferenceError",
    "TableNotFoundError",
    "TimeSeriesNotFoundError",
    "TranslationError",
    "UnsafeCatalogError",
    "build_catalog",
    "check_catalog",
    "dandi_catalog",
    "default_refs_dir",
    "describe",
    "get_dandi_assets",
    "get_dandi_sources",
    "get_dandi_urls",
    "get_df",
    "get_internal_paths",
    "get_metadata_df",
    "get_table_schema",
    "get_timeseries",
    "get_timeseries_across",
    "get_timeseries_dataset",
    "index",
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
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # for type checkers and IDEs
    from .catalog import UnsafeCatalogError, build_catalog, check_catalog, open_catalog
    from .dandi import (
        dandi_catalog,
        get_dandi_assets,
        get_dandi_sources,
        get_dandi_urls,
        select_dandi_assets,
        verify_pins,
    )
    from .errors import (
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
    from .frames.backend import NWBBackendEntrypoint
    from .frames.sessions import get_timeseries_across
    from .refs import default_refs_dir, index
    from .store import open_store

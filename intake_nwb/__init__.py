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
from .refs import default_refs_dir, index

__all__ = [
    "BatchError",
    "IntakeNWBError",
    "NotNWBError",
    "SchemaConflictError",
    "SourceNotFoundError",
    "StaleReferenceError",
    "TableNotFoundError",
    "TimeSeriesNotFoundError",
    "TranslationError",
    "__version__",
    "default_refs_dir",
    "index",
]

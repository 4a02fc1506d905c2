"""Layer 4: NWB semantics over a zarr group (types, tables, TimeSeries, metadata)."""

from .file import NWBReader
from .tables import ColumnData, ColumnSpec, TableReader
from .types import TypeHierarchy

__all__ = ["ColumnData", "ColumnSpec", "NWBReader", "TableReader", "TypeHierarchy"]

"""Intake integration: V1 drivers (``intake.drivers``) and V2 readers (``intake.imports``).

Importing this package imports nothing heavy: the drivers and readers modules load on first use
(intake imports the readers module at start-up through the ``intake.imports`` entry point).

Examples
--------
>>> import intake
>>> cat = intake.open_catalog("lab/catalog.yaml")
>>> cat.units
units: table /units (160 rows, 13 columns), 4 files
>>> from intake_nwb.intake import NWBTableSource
>>> NWBTableSource.name
'nwb_table'
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "NWBFileCatalog": "drivers",
    "NWBFilesCatalog": "drivers",
    "NWBMetadataSource": "drivers",
    "NWBTableSource": "drivers",
    "NWBTimeSeriesSource": "drivers",
    "NWB": "readers",
    "NWBDataTreeReader": "readers",
    "NWBMetadataReader": "readers",
    "NWBTableReader": "readers",
    "NWBTimeSeriesReader": "readers",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in ("drivers", "readers"):  # intake's entry point names the module this way
        return importlib.import_module(f"{__name__}.{name}")
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])

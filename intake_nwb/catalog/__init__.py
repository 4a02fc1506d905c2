"""Layer 6: catalogs. NWB sources as a shareable Intake catalog (YAML, lab index, references).

Names load on first use (PEP 562), so opening a catalog imports only what entry names need.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"BuildReport": "builder", "build": "builder", "build_catalog": "builder",
            "CATALOG_DIR": "model", "CatalogDoc": "model", "LabIndex": "index",
            "entry_names": "names", "open_catalog": "safety", "check_catalog": "safety",
            "UnsafeCatalogError": "safety", "catalog_sql_context": "export",
            "export_catalog": "export"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)

"""Layer 6: catalogs. NWB sources as a shareable Intake catalog (YAML beside reference files)."""

from .build import CATALOG_DIR, BuildReport, FileRecord, build, build_catalog
from .names import entry_names

__all__ = ["CATALOG_DIR", "BuildReport", "FileRecord", "build", "build_catalog", "entry_names"]

"""Neurodata type hierarchy: from the file's cached specifications, with a built-in core fallback.

Extension types are recognised through ``neurodata_type_inc`` chains in ``/specifications``,
so an ``ndx-*`` type that extends DynamicTable or TimeSeries is a table or a series here too.
Files written before specifications were cached (NWB 2.0b) use the built-in table below.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import zarr

# the core types' parents (enough for files that cache no specification)
_CORE_PARENTS = {
    "NWBData": "Data", "NWBContainer": "Container", "NWBDataInterface": "NWBContainer",
    "VectorData": "Data", "VectorIndex": "VectorData", "ElementIdentifiers": "Data",
    "DynamicTableRegion": "VectorData", "EnumData": "VectorData",
    "TimeSeriesReferenceVectorData": "VectorData", "DynamicTable": "Container",
    "AlignedDynamicTable": "DynamicTable", "Units": "DynamicTable",
    "TimeIntervals": "DynamicTable", "ElectrodesTable": "DynamicTable",
    "PlaneSegmentation": "DynamicTable", "SweepTable": "DynamicTable",
    "IntracellularRecordingsTable": "AlignedDynamicTable",
    "SimultaneousRecordingsTable": "DynamicTable", "SequentialRecordingsTable": "DynamicTable",
    "RepetitionsTable": "DynamicTable", "ExperimentalConditionsTable": "DynamicTable",
    "FrequencyBandsTable": "DynamicTable",
    "TimeSeries": "NWBDataInterface", "ElectricalSeries": "TimeSeries",
    "SpikeEventSeries": "ElectricalSeries", "RoiResponseSeries": "TimeSeries",
    "SpatialSeries": "TimeSeries", "ImageSeries": "TimeSeries",
    "ImageMaskSeries": "ImageSeries", "OpticalSeries": "ImageSeries",
    "TwoPhotonSeries": "ImageSeries", "OnePhotonSeries": "ImageSeries",
    "IndexSeries": "TimeSeries", "AnnotationSeries": "TimeSeries",
    "IntervalSeries": "TimeSeries", "AbstractFeatureSeries": "TimeSeries",
    "DecompositionSeries": "TimeSeries", "OptogeneticSeries": "TimeSeries",
    "PatchClampSeries": "TimeSeries", "CurrentClampSeries": "PatchClampSeries",
    "IZeroClampSeries": "CurrentClampSeries", "CurrentClampStimulusSeries": "PatchClampSeries",
    "VoltageClampSeries": "PatchClampSeries", "VoltageClampStimulusSeries": "PatchClampSeries",
    "Subject": "NWBContainer", "NWBFile": "NWBContainer", "ProcessingModule": "NWBContainer",
}


_PARSED: dict[tuple[str, str], dict[str, str]] = {}  # (namespace, version) -> type parents
_PARSING = threading.Lock()


def scalar_attr(value: Any) -> Any:
    """Unwrap MatNWB's 1-element array attributes (``["Units"]`` -> ``"Units"``)."""
    if isinstance(value, list) and len(value) == 1 and not isinstance(value[0], (list, dict)):
        return value[0]
    return value


def neurodata_type(attrs: Any) -> str | None:
    value = scalar_attr(attrs.get("neurodata_type"))
    return value if isinstance(value, str) else None


class TypeHierarchy:
    """``is_a(type, base)`` over the file's cached specifications plus the core fallback."""

    def __init__(self, parents: dict[str, str] | None = None):
        self.parents = dict(_CORE_PARENTS)
        if parents:
            self.parents.update(parents)

    @classmethod
    def from_group(cls, root: zarr.Group,
                   read: Callable[[zarr.Array], np.ndarray | None] | None = None
                   ) -> TypeHierarchy:
        """From ``/specifications/<namespace>/<version>/*``; a namespace version's types are
        parsed once per process (files of a lab share them), by one thread while the others
        opening files wait for it. ``read``: a faster way to read a spec document's array
        (None from it: read through zarr)."""
        parents: dict[str, str] = {}
        if "specifications" in root:
            specs = root["specifications"]
            for ns_name, ns in specs.groups():
                for version, group in ns.groups():
                    key = (ns_name, version)
                    if key not in _PARSED:
                        with _PARSING:
                            if key not in _PARSED:
                                _PARSED[key] = _parse(group, read)
                    for name, base in _PARSED[key].items():
                        parents.setdefault(name, base)
        return cls(parents)

    def ancestors(self, ndtype: str | None) -> list[str]:
        out = []
        seen: set[str] = set()
        while ndtype and ndtype not in seen:
            out.append(ndtype)
            seen.add(ndtype)
            ndtype = self.parents.get(ndtype)
        return out

    def is_a(self, ndtype: str | None, base: str) -> bool:
        return base in self.ancestors(ndtype)


def _parse(group: zarr.Group, read: Callable[[zarr.Array], np.ndarray | None] | None
           ) -> dict[str, str]:
    """The type parents one namespace version defines."""
    found: dict[str, str] = {}
    for name, node in group.arrays():
        if name != "namespace":
            _collect(_spec_doc(node, read), found)
    return found


def _spec_doc(array: zarr.Array, read: Callable[[zarr.Array], np.ndarray | None] | None
              ) -> dict[str, Any]:
    try:
        values = read(array) if read is not None else None
        text = np.asarray(array[...] if values is None else values).reshape(-1)[0]
        if isinstance(text, bytes):
            text = text.decode()
        return json.loads(text)
    except (ValueError, TypeError, IndexError):
        return {}


def _collect(doc: Any, parents: dict[str, str]) -> None:
    specs: Iterable[Any] = [*doc.get("groups", []), *doc.get("datasets", [])] \
        if isinstance(doc, dict) else []
    for spec in specs:
        if not isinstance(spec, dict):
            continue
        name = spec.get("neurodata_type_def") or spec.get("data_type_def")
        base = spec.get("neurodata_type_inc") or spec.get("data_type_inc")
        if name and base and name != base:
            parents.setdefault(name, base)
        _collect(spec, parents)  # nested type definitions

"""Session and subject metadata of one NWB file (``/general``, ``/general/subject``, root)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .file import NWBReader

# (output name, path in the file); lists are kept as lists (experimenter, keywords...)
SESSION_FIELDS = [
    ("identifier", "/identifier"),
    ("session_id", "/general/session_id"),
    ("session_description", "/session_description"),
    ("session_start_time", "/session_start_time"),
    ("experimenter", "/general/experimenter"),
    ("lab", "/general/lab"),
    ("institution", "/general/institution"),
    ("keywords", "/general/keywords"),
    ("experiment_description", "/general/experiment_description"),
    ("related_publications", "/general/related_publications"),
    ("notes", "/general/notes"),
    ("data_collection", "/general/data_collection"),
    ("surgery", "/general/surgery"),
    ("pharmacology", "/general/pharmacology"),
    ("virus", "/general/virus"),
    ("source_script", "/general/source_script"),
]
# attributes of datasets: (output name, dataset, attribute)
ATTRIBUTE_FIELDS = [
    ("source_script_file_name", "/general/source_script", "file_name"),
    ("age__reference", "/general/subject/age", "reference"),
]
SUBJECT_FIELDS = ["subject_id", "species", "sex", "age", "age__reference", "genotype", "strain",
                  "date_of_birth", "description", "weight"]
LIST_FIELDS = {"experimenter", "keywords", "related_publications"}
TIME_FIELDS = {"session_start_time", "date_of_birth"}


def read_metadata(nwb: NWBReader) -> dict[str, Any]:
    """One dict per file: session fields, subject fields, ``nwb_version``."""
    out: dict[str, Any] = {}
    attributes = {name: _attribute(nwb, path, attr) for name, path, attr in ATTRIBUTE_FIELDS}
    for name, path in SESSION_FIELDS:
        out[name] = _normalise(name, nwb.value(path))
    out["source_script_file_name"] = attributes["source_script_file_name"]
    for name in SUBJECT_FIELDS:
        out[name] = attributes[name] if name in attributes else \
            _normalise(name, nwb.value(f"/general/subject/{name}"))
    version = nwb.attrs("/").get("nwb_version")
    out["nwb_version"] = str(version) if version is not None else None
    return out


def _attribute(nwb: NWBReader, path: str, attr: str) -> str | None:
    """A text attribute of a dataset (None when the dataset or the attribute is absent)."""
    if not nwb.has(path):
        return None
    value = nwb.attrs(path).get(attr)
    return None if value is None else str(value)


def _normalise(name: str, value: Any) -> Any:
    if name in LIST_FIELDS:
        if value is None:
            return None
        return [str(v) for v in (value if isinstance(value, list) else [value])]
    if isinstance(value, list):  # 1-element arrays written by MIES and MatNWB
        value = value[0] if len(value) == 1 else ", ".join(map(str, value))
    if name in TIME_FIELDS and value is not None:
        return parse_datetime(str(value))
    if name == "age" and value is not None:
        return str(value)
    return value


def parse_datetime(text: str) -> dt.datetime | None:
    """ISO 8601 (with or without separators, as MatNWB writes them) -> UTC datetime."""
    text = text.strip()
    candidates = [text, text.replace("Z", "+00:00")]
    for cand in candidates:
        try:
            value = dt.datetime.fromisoformat(cand)
            break
        except ValueError:
            continue
    else:
        for fmt in ("%Y%m%dT%H%M%S", "%Y%m%dT%H%M%S%z", "%Y%m%d"):
            try:
                value = dt.datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        else:
            return None
    if value.tzinfo is None:  # NWB requires a zone; files without one are read as UTC
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)

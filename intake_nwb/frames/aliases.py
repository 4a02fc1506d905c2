"""lazynwb's parameter names for the options our calls already have.

A lazynwb script runs after changing its import: ``get_df(nwb_data_sources=..., search_term=...,
raise_on_missing=True, disable_progress=True)`` and ``scan_nwb(source=..., ...)`` mean what they
mean there. Each name maps onto one of ours (:data:`ALIASES`); the few that choose how lazynwb
schedules its work (threads or processes, batch sizes) are accepted and change nothing here
(:data:`SCHEDULING`): reads are always concurrent, and memory is bounded by the rows a query
needs. A name given in both spellings, or one neither knows, is a ``TypeError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .schema import INTERNAL

#: lazynwb's name -> ours
ALIASES = {
    "source": "sources", "nwb_data_sources": "sources", "nwb_sources": "sources",
    "nwb_path": "sources", "nwb_path_or_paths": "sources", "file_paths": "sources",
    "nwb_paths": "sources", "search_term": "table_path",
    "first_n_files_to_infer_schema": "infer_schema_length",
}
#: accepted for lazynwb's scripts, without effect (see the module documentation)
SCHEDULING = frozenset({"parallel", "use_process_pool", "low_memory", "single_file_batches",
                        "use_thread_pool"})
#: lazynwb's flags that set our ``errors=``, ``progress=`` and schema options
FLAGS = frozenset({"raise_on_missing", "ignore_errors", "disable_progress", "schema"})


def translate(lazynwb: Mapping[str, Any], **ours: Any) -> dict[str, Any]:
    """Our options, with lazynwb's names in ``lazynwb`` mapped onto them.

    ``raise_on_missing=True`` is ``errors="raise"``; ``raise_on_missing=False`` or
    ``ignore_errors=True`` is ``errors="warn"`` (files lacking the table or failing to read are
    skipped and named in one warning: never silently); ``disable_progress`` is
    ``progress=not disable_progress``; ``schema`` (lazynwb: the schema, no inference) reads its
    columns with their types (``include_column_names`` plus ``schema_overrides``).

    Examples
    --------
    >>> translate({"search_term": "units", "raise_on_missing": False}, table_path=None,
    ...           errors="raise")
    {'table_path': 'units', 'errors': 'warn'}
    """
    out = dict(ours)
    for name, value in lazynwb.items():
        if name in SCHEDULING:
            continue
        if name in FLAGS:
            _flag(out, name, value)
            continue
        target = ALIASES.get(name)
        if target is None or target not in out:
            raise TypeError(f"unexpected keyword argument {name!r}")
        if out[target] is not None:
            raise TypeError(f"{name!r} is lazynwb's name for {target!r}: pass one of them")
        out[target] = value
    return out


def _flag(out: dict[str, Any], name: str, value: Any) -> None:
    if name == "disable_progress":
        if value is not None and "progress" in out:
            out["progress"] = not value
    elif name == "raise_on_missing":
        if value is not None and "errors" in out:
            out["errors"] = "raise" if value else "warn"
    elif name == "ignore_errors":
        if value and "errors" in out:
            out["errors"] = "warn"
    elif value is not None:  # schema
        if "schema_overrides" not in out:
            raise TypeError("unexpected keyword argument 'schema'")
        columns = [c for c in value if c not in INTERNAL]
        out["include_column_names"] = columns
        out["schema_overrides"] = {**(out.get("schema_overrides") or {}),
                                   **{c: value[c] for c in columns}}

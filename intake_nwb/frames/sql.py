"""Every table of many NWB files in one polars SQL context (lazynwb's ``get_sql_context``).

Each table is registered as a lazy scan under its short name (``units``, ``trials``,
``electrodes``; the whole path where two tables share a name), with ``session`` (session and
subject fields, one row per file) and ``subject``, and, unless ``exclude_timeseries``, every
TimeSeries as a table of ``timestamps`` and ``data``. Nothing is read until a query runs, and
then only what the query needs (pushdown reaches each scan).

Examples
--------
>>> ctx = get_sql_context("lab/*.nwb")
>>> ctx.tables()
['electrodes', 'lfp', 'position', 'running_speed', 'session', 'subject', 'trials', 'units']
>>> ctx.execute("SELECT subject_id, count(*) AS n_units FROM units JOIN session "
...             "USING (_nwb_path) GROUP BY subject_id ORDER BY subject_id").collect()
shape: (2, 2)
┌────────────┬─────────┐
│ subject_id ┆ n_units │
│ ---        ┆ ---     │
│ str        ┆ i64     │
╞════════════╪═════════╡
│ 001        ┆ 80      │
│ 002        ┆ 80      │
└────────────┴─────────┘
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from ..config import config
from ..errors import Errors
from .aliases import translate
from .export import choose
from .inventory import SESSION_NAMES, short_names, take_inventory
from .metadata import read_sessions, session_table_frame
from .tables import ScanOptions


def get_sql_context(nwb_sources: Any = None, *, full_path: bool = False,
                    min_file_count: int = 1, exclude_array_columns: bool = False,
                    exclude_timeseries: bool = False, errors: Errors = "raise",
                    progress: bool | None = None, infer_schema_length: int | None = None,
                    table_names: Sequence[str] | None = None,
                    rename_general_metadata: bool = True, storage_options: Any = None,
                    refs_dir: Any = None, cache: Any = None, **kwargs: Any) -> pl.SQLContext:
    """A :class:`polars.SQLContext` with every table of the files registered by short name
    (see the module documentation).

    ``table_names``: only these (paths or short names); ``full_path``: register tables by
    their path without the leading ``/`` (``"intervals/trials"``, quoted in SQL);
    ``rename_general_metadata=False`` names the session table ``general``. lazynwb's
    ``ignore_errors``/``disable_progress`` are accepted; other keyword arguments go to
    :class:`polars.SQLContext`. Table names are listed by ``ctx.tables()``.
    """
    lazynwb = {k: kwargs.pop(k) for k in list(kwargs)
               if k in ("ignore_errors", "disable_progress", "nwb_sources")}
    args = translate(lazynwb, sources=nwb_sources, errors=errors, progress=progress)
    inv = take_inventory(args["sources"], errors=args["errors"], progress=args["progress"],
                         **config.open_kwargs(storage_options, refs_dir, cache))
    paths = list(inv.common(min_file_count, timeseries=not exclude_timeseries))
    if table_names is not None:
        paths = choose(paths, [t for t in table_names if t not in
                               (*SESSION_NAMES.values(), "general", *SESSION_NAMES)])
    renames = dict(SESSION_NAMES) if rename_general_metadata else {
        "/general": "general", "/general/subject": "subject"}
    if full_path:
        renames = {p: p.strip("/") for p in renames}
    names = short_names([*paths, *renames], full_path, renames=renames)
    options = ScanOptions(exclude_array_columns=exclude_array_columns, errors=args["errors"],
                          infer_schema_length=infer_schema_length)
    frames: dict[str, pl.LazyFrame] = {}
    sessions = read_sessions(inv.stores, errors=args["errors"])
    for path in renames:
        if table_names is None or names[path] in table_names or path in table_names:
            frames[names[path]] = session_table_frame(sessions, path)
    for path in paths:
        frames[names[path]] = inv.scan(path, options)[0]
    return pl.SQLContext(frames, **kwargs)


__all__ = ["get_sql_context"]

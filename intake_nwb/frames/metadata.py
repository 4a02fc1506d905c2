"""Session and subject metadata of many files as one polars DataFrame (one row per file)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from ..config import config
from ..errors import Errors, report_failures
from ..nwb import NWBReader
from ..nwb.metadata import LIST_FIELDS, SESSION_FIELDS, SUBJECT_FIELDS, TIME_FIELDS, read_metadata
from ..sources import per_file
from ..store import NWBStore, open_stores
from ..util.fanout import Visits
from .aliases import translate
from .schema import NWB_PATH, TABLE_INDEX, TABLE_PATH

# every file's row has every field, typed alike (a field no file has is still a String column)
_TYPES: dict[str, pl.DataType] = {
    name: pl.Datetime("us", "UTC") if name in TIME_FIELDS else pl.List(pl.String)
    if name in LIST_FIELDS else pl.String()
    for name in [*(n for n, _ in SESSION_FIELDS), "source_script_file_name", *SUBJECT_FIELDS,
                 "nwb_version"]}


def get_metadata_df(sources: Any = None, *, progress: bool | None = None,
                    errors: Errors = "raise", as_pandas: bool | None = None,
                    as_polars: bool | None = None, **kwargs: Any) -> Any:
    """One row per file: session and subject metadata, ``nwb_version`` and ``_nwb_path``.

    Rows come in the order of ``sources``. ``as_pandas``/``as_polars``: as for
    :func:`intake_nwb.get_df`; lazynwb's ``nwb_path_or_paths`` and ``disable_progress`` are
    accepted; other keyword arguments are how files are opened
    (:func:`intake_nwb.store.open_store`).

    Examples
    --------
    >>> get_metadata_df("lab/*.nwb").select("subject_id", "session_id", "session_start_time")
    shape: (4, 3)
    ┌────────────┬────────────┬─────────────────────────┐
    │ subject_id ┆ session_id ┆ session_start_time      │
    │ ---        ┆ ---        ┆ ---                     │
    │ str        ┆ str        ┆ datetime[μs, UTC]       │
    ╞════════════╪════════════╪═════════════════════════╡
    │ 001        ┆ 001        ┆ 2023-12-31 19:33:00 UTC │
    │ 001        ┆ 002        ┆ 2024-01-01 18:33:00 UTC │
    │ 002        ┆ 003        ┆ 2024-01-07 19:56:00 UTC │
    │ 002        ┆ 004        ┆ 2024-01-08 18:30:00 UTC │
    └────────────┴────────────┴─────────────────────────┘
    """
    lazynwb = {k: kwargs.pop(k) for k in list(kwargs) if k in ("nwb_path_or_paths",
                                                              "disable_progress")}
    args = translate(lazynwb, sources=sources, progress=progress)
    read = _reader()
    stores = open_stores(args["sources"], errors=errors, visit=read, **config.open_kwargs(
        progress=args["progress"], **kwargs))
    df = read_sessions(stores, errors=errors, read=read)
    if config.wants_pandas(as_pandas, as_polars):
        return df.to_pandas()
    return df


def _reader() -> Visits[NWBStore, dict[str, Any]]:
    return Visits(lambda s: {**read_metadata(NWBReader(s)), NWB_PATH: s.source},
                  key=lambda s: s.source)


def read_sessions(stores: Sequence[NWBStore], *, errors: Errors = "raise",
                  read: Visits[NWBStore, dict[str, Any]] | None = None) -> pl.DataFrame:
    """The metadata of files already open, one row each (in their order); ``read``: those
    read already, as they were opened."""
    read = read or _reader()
    rows, failures = per_file(read.result, stores)
    report_failures(failures, errors, "had unreadable metadata")
    return metadata_frame(list(rows.values()))


def metadata_frame(rows: Sequence[dict[str, Any]]) -> pl.DataFrame:
    """Rows of :func:`~intake_nwb.nwb.metadata.read_metadata` (plus ``_nwb_path``), typed."""
    return pl.DataFrame(list(rows), schema_overrides=_TYPES, infer_schema_length=None)


def scan_sessions(sources: Any, table_path: str, *, columns: Sequence[str] | None = None,
                  exclude: Sequence[str] = (), errors: Errors = "raise", **open_kwargs: Any
                  ) -> pl.LazyFrame:
    """``/general`` (session and subject fields) or ``/general/subject`` (subject fields) as
    a table of one row per file, with the internal columns (``_table_index`` 0)."""
    df = get_metadata_df(sources, errors=errors, as_pandas=False, **open_kwargs)
    return session_table_frame(df, table_path, columns=columns, exclude=exclude)


def session_table_frame(df: pl.DataFrame, table_path: str, *,
                        columns: Sequence[str] | None = None, exclude: Sequence[str] = ()
                        ) -> pl.LazyFrame:
    """A metadata frame as the session table ``table_path`` names (see
    :func:`scan_sessions`)."""
    from ..nwb.names import session_table

    path = session_table(table_path)
    fields = [c for c in df.columns if c != NWB_PATH and (
        path != "/general/subject" or c in SUBJECT_FIELDS)]
    fields = [c for c in fields if (columns is None or c in columns) and c not in exclude]
    return df.lazy().select(*fields, NWB_PATH, pl.lit(path, pl.String).alias(TABLE_PATH),
                            pl.lit(0, pl.Int64).alias(TABLE_INDEX))

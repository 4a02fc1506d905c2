"""Session and subject metadata of many files as one polars DataFrame (one row per file)."""

from __future__ import annotations

from typing import Any

import polars as pl

from ..errors import Errors, report_failures
from ..nwb import NWBReader
from ..nwb.metadata import read_metadata
from ..store import open_stores
from ..util.fanout import fan_out
from .tables import NWB_PATH


def get_metadata_df(sources: Any, *, progress: bool | None = None, errors: Errors = "raise",
                    as_pandas: bool = False, **open_kwargs: Any) -> Any:
    """One row per file: session and subject metadata, ``nwb_version`` and ``_nwb_path``.

    Examples
    --------
    >>> get_metadata_df("lab/*.nwb").select("subject_id", "session_start_time")  # doctest: +SKIP
    """
    stores = open_stores(sources, errors=errors, progress=progress, **open_kwargs)
    rows, failures = fan_out(lambda s: {**read_metadata(NWBReader(s)), NWB_PATH: s.source},
                             stores, key=lambda s: s.source)
    report_failures(failures, errors, "had unreadable metadata")
    df = pl.DataFrame(list(rows.values()), schema_overrides={
        "session_start_time": pl.Datetime("us", "UTC"), "date_of_birth": pl.Datetime("us", "UTC"),
        "experimenter": pl.List(pl.String), "keywords": pl.List(pl.String)},
        infer_schema_length=None)
    return df.to_pandas() if as_pandas else df

"""Spike times in intervals, observation intervals, and ragged columns merged into frames.

lazynwb's helpers, with its names and parameters:

- :func:`merge_array_column`: add a table's ragged or array column (``spike_times``,
  ``obs_intervals``) to a frame of some of its rows, reading those rows only;
- :func:`get_spike_times_in_intervals`: the spike times of each unit within each interval of a
  trials/epochs table (``[start, end)``, as ``(t >= start) & (t < end)`` on pynwb's
  ``units["spike_times"][i]``), or their counts;
- :func:`insert_is_observed`: whether each unit was observed (one of its ``obs_intervals``
  covers the interval) during each interval.

Where lazynwb errs, these do not (docs/lazynwb.md): every observation interval counts, not the
first only; an interval with a NaN bound is neither observed nor unobserved (null); aligned
times are relative to each interval's own start; row order is kept; an intervals frame of many
files selects each file's rows only; unsorted spike times are still counted right; a file
whose units have no ``obs_intervals`` gets a null ``is_observed`` (named in a warning) instead
of failing the call.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from ..config import config
from ..errors import SkippedWarning, TableNotFoundError
from .schema import INTERNAL, NWB_PATH, TABLE_INDEX, TABLE_PATH
from .tables import scan_nwb

UNITS_TABLE_INDEX_COLUMN_NAME = "_units_table_index"
INTERVALS_TABLE_INDEX_COLUMN_NAME = "_intervals_table_index"
UNITS, INTERVALS = UNITS_TABLE_INDEX_COLUMN_NAME, INTERVALS_TABLE_INDEX_COLUMN_NAME
_ROW = "__row"


def _keys(frame: Any) -> pl.DataFrame:
    """The internal columns of a polars, lazy or pandas frame (only those are read)."""
    if isinstance(frame, pl.LazyFrame):
        frame = frame.select(*(c for c in INTERNAL if c in frame.collect_schema())).collect()
    elif isinstance(frame, pd.DataFrame):
        frame = pl.from_pandas(frame[[c for c in INTERNAL if c in frame.columns]])
    missing = {NWB_PATH, TABLE_INDEX} - set(frame.columns)
    if missing:
        raise ValueError(f"the frame needs the internal columns {', '.join(sorted(missing))} "
                         "(as get_df and scan_nwb give them)")
    return frame.select(*(c for c in INTERNAL if c in frame.columns))


def read_column(keys: pl.DataFrame, column_name: str, table_path: str | None = None,
                **scan_kwargs: Any) -> pl.DataFrame | None:
    """``column_name`` for the rows ``keys`` names (``_nwb_path``, ``_table_index`` and
    ``_table_path``, or ``table_path``), keyed by the internal columns; None when no file's
    table has the column."""
    paths = keys[TABLE_PATH].unique(maintain_order=True).to_list() \
        if TABLE_PATH in keys.columns and table_path is None else [table_path or "/units"]
    out = []
    for path in paths:
        mine = keys if TABLE_PATH not in keys.columns or table_path is not None \
            else keys.filter(pl.col(TABLE_PATH) == path)
        by_file = mine.partition_by(NWB_PATH, as_dict=True)
        try:
            lf = scan_nwb([k[0] for k in by_file], path, include_column_names=[column_name],
                          exact_path=True, **scan_kwargs)
        except TableNotFoundError:
            if scan_kwargs.get("errors", "raise") == "raise":
                raise
            continue  # no file of these has the table
        if column_name not in lf.collect_schema():
            continue
        predicate = pl.any_horizontal([
            (pl.col(NWB_PATH) == key[0]) & pl.col(TABLE_INDEX).is_in(
                rows[TABLE_INDEX].unique().to_list()) for key, rows in by_file.items()])
        out.append(lf.filter(predicate).select(NWB_PATH, TABLE_INDEX, column_name).collect())
    if not out:
        return None
    return pl.concat(out, how="vertical_relaxed")


def merge_array_column(df: Any, column_name: str, missing_ok: bool = True,
                       **scan_kwargs: Any) -> Any:
    """``df`` with ``column_name`` of its table added, read for ``df``'s rows only.

    ``df`` (polars, lazy polars or pandas, the same kind comes back) needs ``_nwb_path`` and
    ``_table_index`` (and ``_table_path``; ``/units`` without it). Rows keep their order;
    a file whose table lacks the column gets nulls. ``missing_ok``: when no file has the
    column, warn and return ``df`` unchanged (else raise ``KeyError``). ``scan_kwargs``: how
    files are opened (as for :func:`intake_nwb.scan_nwb`).

    Examples
    --------
    >>> from intake_nwb import get_df
    >>> units = get_df("lab/*.nwb", "units").filter(pl.col("presence_ratio") > 0.9)
    >>> "spike_times" in units.columns  # get_df leaves array columns out
    False
    >>> units = merge_array_column(units, "spike_times")  # reads those 91 units' spikes only
    >>> units.shape, units["spike_times"].list.len()[:3].to_list()
    ((91, 11), [1514, 3172, 1761])
    """
    keys = _keys(df)
    values = read_column(keys, column_name, **scan_kwargs)
    if values is None:
        what = f"column {column_name!r} is in no file's table"
        if not missing_ok:
            raise KeyError(what)
        warnings.warn(f"{what}: the frame is returned without it", SkippedWarning,
                      stacklevel=2)
        return df
    on = [NWB_PATH, TABLE_INDEX]
    if isinstance(df, pd.DataFrame):
        from .pandas import to_pandas

        joined = keys.join(values, on=on, how="left", maintain_order="left")
        out = df.copy()
        out[column_name] = to_pandas(joined.select(column_name))[column_name].to_numpy()
        return out
    if isinstance(df, pl.LazyFrame):
        return df.join(values.lazy(), on=on, how="left", maintain_order="left")
    return df.join(values, on=on, how="left", maintain_order="left")


def _within(times: np.ndarray, starts: np.ndarray, ends: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """For each interval, the indices of ``times`` in ``[start, end)``: ``(indices, counts)``
    (stored order; sorted times take a binary search, others a mask)."""
    if len(times) < 2 or bool(np.all(times[1:] >= times[:-1])):
        a = np.searchsorted(times, starts, side="left")
        b = np.maximum(a, np.searchsorted(times, ends, side="left"))
        b[np.isnan(starts) | np.isnan(ends)] = a[np.isnan(starts) | np.isnan(ends)]
        counts = b - a
        idx = np.repeat(a - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) + \
            np.arange(counts.sum())
        return idx.astype(np.int64), counts
    masks = (times[None, :] >= starts[:, None]) & (times[None, :] < ends[:, None])
    return np.nonzero(masks)[1].astype(np.int64), masks.sum(axis=1)


def _lists(values: np.ndarray, counts: np.ndarray) -> pl.Series:
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    import pyarrow as pa

    return pl.Series(pa.LargeListArray.from_arrays(pa.array(offsets),
                                                   pa.array(values, pa.float64())))


def _intervals(units: pl.DataFrame, intervals_df: Any, intervals_df_filter: Any,
               scan_kwargs: dict[str, Any]) -> pl.DataFrame:
    """The intervals table of the units' files (each file's own rows), filtered."""
    files = units[NWB_PATH].unique(maintain_order=True).to_list()
    if isinstance(intervals_df, str):
        table = scan_nwb(files, intervals_df, exclude_array_columns=True,
                         **scan_kwargs).collect()
    else:
        table = intervals_df if isinstance(intervals_df, pl.DataFrame) else \
            intervals_df.collect() if isinstance(intervals_df, pl.LazyFrame) else \
            pl.from_pandas(intervals_df)
        if NWB_PATH not in table.columns or TABLE_INDEX not in table.columns:
            raise ValueError("an intervals frame needs _nwb_path and _table_index")
        table = table.filter(pl.col(NWB_PATH).is_in(files))
    if intervals_df_filter is not None:
        expr = pl.sql_expr(intervals_df_filter) if isinstance(intervals_df_filter, str) \
            else intervals_df_filter
        table = table.filter(expr)
    return table


def get_spike_times_in_intervals(
        filtered_units_df: Any, intervals: Mapping[str, tuple[Any, Any]],
        intervals_df: Any = "/intervals/trials", intervals_df_filter: Any = None,
        apply_obs_intervals: bool = True, as_counts: bool = False,
        keep_only_necessary_cols: bool = False, use_process_pool: bool = True,
        disable_progress: bool = False, as_polars: bool | None = None,
        align_times: bool = False, as_pandas: bool | None = None, **scan_kwargs: Any) -> Any:
    """Each unit's spike times within each interval, one row per (unit, interval row).

    Parameters
    ----------
    filtered_units_df:
        Units (polars, lazy or pandas) with ``_nwb_path`` and ``_table_index``; their
        ``spike_times`` are used if present, else read for these units only.
    intervals:
        ``{output column: (start, end)}``, polars expressions (or numbers) on the intervals
        table: ``{"response": (pl.col("start_time"), pl.col("start_time") + 2)}``. Spikes at
        ``start`` count, spikes at ``end`` do not.
    intervals_df:
        The intervals table's path (or short name) in each file, or a frame of its rows (with
        ``_nwb_path`` and ``_table_index``; each file's own rows are used).
    intervals_df_filter:
        Rows of the intervals table to use: a polars expression, or text as a SQL expression
        (``"is_good = 1 AND start_time > 10"``).
    apply_obs_intervals:
        Add ``is_observed`` (see :func:`insert_is_observed`) and null the spike columns of
        rows where the unit was not observed.
    as_counts:
        Counts (Int64) instead of times.
    keep_only_necessary_cols:
        Only ``_units_table_index``, ``_intervals_table_index``, ``_nwb_path`` and the output
        columns (and ``is_observed``); otherwise the intervals table's columns and the units'
        columns are joined on (clashing names of the latter get ``_right``).
    align_times:
        Times relative to each interval's own start.
    as_polars, as_pandas:
        The return type (default: ``config.return_type``).
    use_process_pool, disable_progress:
        lazynwb's; accepted, no effect (the work is vectorised per unit).

    Examples
    --------
    >>> from intake_nwb import get_df
    >>> units = get_df("lab/*.nwb", "units").filter(pl.col("quality") == "good")
    >>> counts = get_spike_times_in_intervals(
    ...     units, {"n_spikes": (pl.col("start_time"), pl.col("stop_time"))}, as_counts=True,
    ...     apply_obs_intervals=False, keep_only_necessary_cols=True)  # 62 units x 200 trials
    >>> counts.shape
    (12400, 4)
    >>> counts.drop("_nwb_path").head(3)
    shape: (3, 3)
    ┌────────────────────┬────────────────────────┬──────────┐
    │ _units_table_index ┆ _intervals_table_index ┆ n_spikes │
    │ ---                ┆ ---                    ┆ ---      │
    │ i64                ┆ i64                    ┆ i64      │
    ╞════════════════════╪════════════════════════╪══════════╡
    │ 2                  ┆ 0                      ┆ 6        │
    │ 2                  ┆ 1                      ┆ 7        │
    │ 2                  ┆ 2                      ┆ 3        │
    └────────────────────┴────────────────────────┴──────────┘
    """
    if as_counts and align_times:
        raise ValueError("as_counts and align_times cannot be combined")
    units = _polars_units(filtered_units_df)
    for name in ("spike_times", "obs_intervals") if apply_obs_intervals else ("spike_times",):
        if name not in units.columns:
            units = merge_array_column(units, name, missing_ok=name != "spike_times",
                                       **scan_kwargs)
    if apply_obs_intervals and "obs_intervals" not in units.columns:  # in no file
        units = units.with_columns(pl.lit(None, pl.List(pl.Float64)).alias("obs_intervals"))
    table = _intervals(units, intervals_df, intervals_df_filter, scan_kwargs)
    windows = table.select(NWB_PATH, TABLE_INDEX, *[
        pl.concat_list(pl.lit(s) if not isinstance(s, pl.Expr) else s,
                       pl.lit(e) if not isinstance(e, pl.Expr) else e).alias(k)
        for k, (s, e) in intervals.items()])
    frames = []
    for key, mine in units.partition_by(NWB_PATH, as_dict=True, maintain_order=True).items():
        rows = windows.filter(pl.col(NWB_PATH) == key[0])
        bounds = {k: np.asarray(rows[k].to_list(), dtype=np.float64).reshape(-1, 2)
                  for k in intervals}
        n = rows.height
        for unit, times in zip(mine[TABLE_INDEX].to_list(), mine["spike_times"].to_list(),
                               strict=True):
            times = np.asarray(times if times is not None else [], dtype=np.float64)
            cols: dict[str, Any] = {UNITS: np.full(n, unit, dtype=np.int64),
                                    INTERVALS: rows[TABLE_INDEX], NWB_PATH: rows[NWB_PATH]}
            for k, b in bounds.items():
                idx, counts = _within(times, b[:, 0], b[:, 1])
                if as_counts:
                    cols[k] = pl.Series(k, counts, pl.Int64)
                else:
                    values = times[idx] - (np.repeat(b[:, 0], counts) if align_times else 0.0)
                    cols[k] = _lists(values, counts).alias(k)
            frames.append(pl.DataFrame(cols))
    schema = {UNITS: pl.Int64, INTERVALS: pl.Int64, NWB_PATH: pl.String,
              **{k: pl.Int64 if as_counts else pl.List(pl.Float64) for k in intervals}}
    out = pl.concat(frames) if frames else pl.DataFrame(schema=schema)
    if apply_obs_intervals:
        starts = table.select(NWB_PATH, pl.col(TABLE_INDEX).alias(INTERVALS), "start_time",
                              "stop_time")
        framed = out.join(starts, on=[NWB_PATH, INTERVALS], how="left", maintain_order="left")
        observed = insert_is_observed(framed, units, **scan_kwargs)["is_observed"]
        out = out.with_columns(observed).with_columns(
            pl.when(pl.col("is_observed").not_()).then(None).otherwise(pl.col(k)).alias(k)
            for k in intervals)
    if not keep_only_necessary_cols:
        extra = table.drop(TABLE_PATH, strict=False).rename({TABLE_INDEX: INTERVALS})
        out = out.join(extra, on=[NWB_PATH, INTERVALS], how="left", maintain_order="left")
        unit_cols = units.drop(TABLE_PATH, "spike_times", "obs_intervals", strict=False).rename(
            {TABLE_INDEX: UNITS})
        out = out.join(unit_cols, on=[NWB_PATH, UNITS], how="left", maintain_order="left")
    if config.wants_pandas(as_pandas, as_polars):
        from .pandas import to_pandas

        return to_pandas(out)
    return out


def _observed(obs: Any, starts: np.ndarray, stops: np.ndarray) -> list[bool | None]:
    """Per interval: does one observation interval cover ``[start, stop]``? None for NaN
    bounds or a unit without observation intervals recorded."""
    if obs is None:
        return [None] * len(starts)
    pairs = np.asarray(obs, dtype=np.float64).reshape(-1, 2)
    covered = ((pairs[:, :1] <= starts[None, :]) & (pairs[:, 1:] >= stops[None, :])).any(axis=0)
    unknown = np.isnan(starts) | np.isnan(stops)
    return [None if u else bool(c) for c, u in zip(covered, unknown, strict=True)]


def insert_is_observed(intervals_frame: Any, units_frame: Any = None,
                       col_name: str = "is_observed", **scan_kwargs: Any) -> Any:
    """``intervals_frame`` with ``col_name``: was the unit observed during the interval?

    ``intervals_frame`` (polars, lazy or pandas; the same kind comes back, rows in order) has
    one row per (unit, interval): ``start_time``, ``stop_time``, ``_nwb_path`` and
    ``_units_table_index`` (as :func:`get_spike_times_in_intervals` gives). A unit was
    observed when one of its ``obs_intervals`` covers ``[start_time, stop_time]``. The units'
    ``obs_intervals`` come from ``units_frame`` (with ``_nwb_path`` and ``_table_index``) if it
    has them, else from each file's ``/units``. Null where it cannot be told: a NaN bound, or
    a file whose units have no ``obs_intervals`` (named in one warning).
    """
    kind = type(intervals_frame)
    frame = intervals_frame.collect() if isinstance(intervals_frame, pl.LazyFrame) else \
        pl.from_pandas(intervals_frame[[NWB_PATH, UNITS, "start_time", "stop_time"]]) \
        if isinstance(intervals_frame, pd.DataFrame) else intervals_frame
    missing = {NWB_PATH, UNITS, "start_time", "stop_time"} - set(frame.columns)
    if missing:
        raise ValueError(f"the intervals frame needs {', '.join(sorted(missing))} (one row "
                         "per unit and interval, as get_spike_times_in_intervals gives)")
    wanted = frame.select(pl.col(NWB_PATH), pl.col(UNITS).alias(TABLE_INDEX)).unique()
    if isinstance(units_frame, (pl.DataFrame, pl.LazyFrame)) and \
            "obs_intervals" in units_frame.collect_schema():
        units = units_frame.lazy().select(NWB_PATH, TABLE_INDEX, "obs_intervals").collect()
        lost = wanted.join(units, on=[NWB_PATH, TABLE_INDEX], how="anti")
        if lost.height:
            raise ValueError(f"{lost.height} unit(s) of the intervals frame are not in "
                             f"units_frame (e.g. {lost.row(0)})")
    else:
        units = read_column(wanted.with_columns(pl.lit("/units").alias(TABLE_PATH)),
                            "obs_intervals", **{"errors": "ignore", **scan_kwargs})
        if units is None:
            units = wanted.with_columns(pl.lit(None, pl.List(pl.Float64)).alias(
                "obs_intervals"))
    obs = {(p, i): o for p, i, o in units.select(NWB_PATH, TABLE_INDEX, "obs_intervals")
           .iter_rows()}
    absent = sorted({p for p, i in wanted.iter_rows() if obs.get((p, i)) is None})
    if absent:
        warnings.warn(f"no obs_intervals for units of {len(absent)} file(s) ({', '.join(absent)}"
                      f"): {col_name} is null there", SkippedWarning, stacklevel=2)
    values: list[bool | None] = [None] * frame.height
    indexed = frame.with_row_index(_ROW)
    for key, rows in indexed.partition_by(NWB_PATH, UNITS, as_dict=True).items():
        flags = _observed(obs.get(key), rows["start_time"].cast(pl.Float64).to_numpy(),
                          rows["stop_time"].cast(pl.Float64).to_numpy())
        for r, flag in zip(rows[_ROW].to_list(), flags, strict=True):
            values[r] = flag
    column = pl.Series(col_name, values, pl.Boolean)
    if kind is pd.DataFrame:
        out = intervals_frame.copy()
        out[col_name] = column.to_pandas().to_numpy()
        return out
    result = frame.with_columns(column)
    return result.lazy() if kind is pl.LazyFrame else result


def _polars_units(frame: Any) -> pl.DataFrame:
    """Units as polars; from pandas, the columns of one value per row (array columns are read
    again from the files, as needed)."""
    if isinstance(frame, pl.LazyFrame):
        return frame.collect()
    if isinstance(frame, pd.DataFrame):
        scalar = [c for c in frame.columns if not (frame[c].dtype == object and frame[c].map(
            lambda v: isinstance(v, (np.ndarray, list))).any())]
        return pl.from_pandas(frame[scalar])
    return frame

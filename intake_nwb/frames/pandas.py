"""polars frames as pandas frames in pynwb's form.

pynwb's ``DynamicTable.to_dataframe()`` gives one numpy array per cell for columns that hold
several values per row: ``spike_times`` cells are 1-D arrays, ``waveform_mean`` cells
``(samples,)`` arrays, a ``(rows, 2, 3)`` column gives ``(2, 3)`` cells and a ragged column of
pairs (``obs_intervals``) gives ``(n, 2)`` cells. polars' own ``to_pandas()`` gives object arrays
of arrays for the last two; :func:`to_pandas` gives pynwb's form, each cell a view into one
array per column (no per-row copies). Ragged columns of ragged rows give lists of such arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa


def _flat(values: pa.Array, dtype: pl.DataType) -> np.ndarray:
    """A flat (or fixed-size nested) Arrow array as one numpy array ``(n, *shape)``."""
    shape: list[int] = []
    while isinstance(values.type, pa.FixedSizeListType):
        size = values.type.list_size
        shape.append(size)
        # every row's slots, null rows' too (flatten() would drop them and shift the rest)
        values = values.values.slice(values.offset * size, len(values) * size)
    series = pl.Series(values)
    if series.null_count() and series.dtype.is_numeric():  # null rows' slots: not read
        series = series.fill_null(0)
    flat = series.to_numpy()
    return flat.reshape(-1, *shape) if shape else flat


def _cells(values: pa.Array, dtype: pl.DataType) -> np.ndarray:
    """One cell per row: arrays for fixed shapes and one ragged level, lists below that."""
    n = len(values)
    out = np.empty(n, dtype=object)
    valid = np.ones(n, dtype=bool) if values.null_count == 0 else \
        ~np.asarray(values.is_null().to_numpy(zero_copy_only=False))
    if isinstance(dtype, pl.Array):
        rows = _flat(values, dtype)
        for i in np.flatnonzero(valid):
            out[i] = rows[i]
        return out
    inner = dtype.inner  # type: ignore[attr-defined]
    offsets = np.asarray(values.offsets)
    child = values.values
    if isinstance(inner, pl.List):
        children = _cells(child, inner)
        for i in np.flatnonzero(valid):
            out[i] = list(children[offsets[i]:offsets[i + 1]])
        return out
    flat = _flat(child, inner)
    for i in np.flatnonzero(valid):
        out[i] = flat[offsets[i]:offsets[i + 1]]
    return out


def to_pandas(df: pl.DataFrame) -> pd.DataFrame:
    """``df`` as pandas, multi-valued cells as pynwb gives them (see the module docs).

    Examples
    --------
    >>> df = pl.DataFrame({"wf": [[[1.0, 2.0], [3.0, 4.0]]]},
    ...                   schema={"wf": pl.Array(pl.Float64, (2, 2))})
    >>> to_pandas(df)["wf"][0].shape
    (2, 2)
    """
    nested = [c for c, t in df.schema.items() if isinstance(t, (pl.List, pl.Array))]
    out: Any = df.drop(nested).to_pandas()
    for name in nested:
        out[name] = pd.Series(_cells(df[name].to_arrow(), df.schema[name]), index=out.index,
                              dtype=object)
    return out[df.columns]

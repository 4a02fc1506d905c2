"""A TimeSeries read as a table: one row per sample, ``timestamps`` and ``data`` columns.

:class:`TimeSeriesTable` answers what the frames layer asks of a
:class:`~intake_nwb.nwb.tables.TableReader` (columns, row count, dtypes, rows of a column), so
``scan_nwb(files, "/acquisition/lick_times/lick_left_times")`` scans series with the same
pushdown as tables. Values are as stored (pynwb's ``series.data``, unscaled); ``timestamps`` are
the stored ones, or ``starting_time + i / rate`` as pynwb's ``get_timestamps()`` computes them.
A series with neither has no ``timestamps`` column (no times are made up), and timestamps
whose length differs from the data's fail that column, naming the file.
"""

from __future__ import annotations

import numpy as np
import zarr

from ..errors import IntakeNWBError
from ..store import read_rows
from ..util.memo import cached_property
from .file import NWBReader
from .tables import DATA, ColumnData, ColumnSpec
from .timeseries import TimeSeriesReader

TIMESTAMPS, VALUES = "timestamps", "data"


class TimeSeriesTable:
    """One TimeSeries of a file as rows (see the module documentation)."""

    def __init__(self, nwb: NWBReader, path: str):
        self.series = TimeSeriesReader(nwb, path)
        self.nwb = nwb
        self.path = self.series.path
        self.failures: dict[str, str] = {}  # as TableReader's: a series' columns all agree

    @property
    def source(self) -> str:
        return self.nwb.source

    @cached_property
    def columns(self) -> dict[str, ColumnSpec]:
        out: dict[str, ColumnSpec] = {}
        series = self.series
        if series.time_base.kind != "none":
            ts_path = series.timestamps_path or f"{self.path}/starting_time"
            out[TIMESTAMPS] = ColumnSpec(TIMESTAMPS, ts_path, DATA, None,
                                         description="times of the samples (seconds)")
        if series.has_data:
            out[VALUES] = ColumnSpec(VALUES, series.data_path or f"{self.path}/data", DATA,
                                     None, description=series.description)
        return out

    @cached_property
    def n_rows(self) -> int:
        return int(self.series.time_base.n)

    def _data(self) -> zarr.Array:
        data = self.series.data
        assert data is not None and data.shape
        return data

    def dtype(self, name: str) -> np.dtype:
        if name == TIMESTAMPS:
            ts = self.series.timestamps
            return np.dtype("float64") if ts is None else ts.dtype
        return self._data().dtype

    def row_shape(self, name: str) -> tuple[int, ...]:
        return () if name == TIMESTAMPS else tuple(int(s) for s in self._data().shape[1:])

    def enum_elements(self, name: str) -> list[str]:
        return []

    def read(self, name: str, rows: np.ndarray | None = None, *, strict: bool = False
             ) -> ColumnData:
        """Values of ``timestamps`` or ``data`` for ``rows`` (all for None), in that order."""
        spec = self.columns.get(name)
        if spec is None:
            raise IntakeNWBError(f"no column {name!r}; columns: {', '.join(self.columns)}",
                                 source=self.source, path=self.path)
        if rows is not None:
            rows = np.asarray(rows, dtype=np.int64)
            if rows.size and (rows.min() < 0 or rows.max() >= self.n_rows):
                raise IntakeNWBError(f"rows out of range for a series of {self.n_rows} samples",
                                     source=self.source, path=spec.path)
        if name == TIMESTAMPS:
            return ColumnData(spec, self._timestamps(rows))
        values = read_rows(self._data(), rows)
        if values.dtype.kind == "S":
            values = np.array([v.decode("utf-8", "replace") for v in values], dtype=object)
        return ColumnData(spec, values)

    def _timestamps(self, rows: np.ndarray | None) -> np.ndarray:
        tb = self.series.time_base
        idx = np.arange(self.n_rows) if rows is None else rows
        if tb.kind == "rate":
            assert tb.starting_time is not None and tb.rate is not None
            return tb.starting_time + idx.astype(np.float64) / tb.rate
        ts = self.series.timestamps
        assert ts is not None
        if int(ts.shape[0]) != self.n_rows:
            raise IntakeNWBError(f"{ts.shape[0]} timestamps for {self.n_rows} samples",
                                 source=self.source, path=self.series.timestamps_path)
        return read_rows(ts, rows)

    def __repr__(self) -> str:
        return f"TimeSeriesTable({self.source!r}, {self.path!r})"

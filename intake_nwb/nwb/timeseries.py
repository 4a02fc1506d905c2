"""TimeSeries semantics: data, time base, scaling, channels (electrodes, ROIs), external files.

A :class:`TimeSeriesReader` describes one TimeSeries (any type extending it, extensions
included) from attributes and small datasets only; the arrays themselves (``data``,
``timestamps``) are handed out as zarr arrays for the frames layer to read lazily. Links are
followed wherever they occur (``data`` or ``timestamps`` linked to another series, an
``electrodes`` region shared with another series), so :attr:`TimeSeriesReader.data_path` is where
the values really live.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np
import zarr

from .. import conventions as cv
from ..errors import IntakeNWBError, TimeSeriesNotFoundError
from ..store import read_spans
from .file import NWBReader
from .tables import TableReader
from .types import neurodata_type, scalar_attr

TIME = "time"
_GLOB_CHARS = set("*?[")
# where NWB keeps the electrodes table when a region forgets to say (MatNWB, NWB 2.0)
_ELECTRODES_TABLE = "/general/extracellular_ephys/electrodes"
_SPATIAL_AXES = ("x", "y", "z")


@dataclass(frozen=True)
class TimeBase:
    """How a series is timed: explicit ``timestamps`` or ``starting_time`` + ``rate``.

    ``key`` is equal for series that share a time base without reading any value: same
    timestamps dataset (after links), or same start, rate and length.
    """

    kind: Literal["timestamps", "rate", "none"]
    n: int
    timestamps_path: str | None = None
    starting_time: float | None = None
    rate: float | None = None

    @property
    def key(self) -> tuple[Any, ...]:
        if self.kind == "timestamps":
            return ("timestamps", self.timestamps_path, self.n)
        if self.kind == "rate":
            return ("rate", self.starting_time, self.rate, self.n)
        return ("none", self.n)


@dataclass(frozen=True)
class Region:
    """A DynamicTableRegion of a series (``electrodes``, ``rois``): table rows per channel."""

    path: str
    table: str
    rows: np.ndarray


class TimeSeriesReader:
    """One TimeSeries of a file.

    Parameters
    ----------
    nwb:
        The file.
    path:
        Path of the TimeSeries group (``/acquisition/ElectricalSeries``).

    Examples
    --------
    >>> nwb = NWBReader(open_store("ses.nwb"))  # doctest: +SKIP
    >>> ts = TimeSeriesReader(nwb, "/acquisition/lfp")  # doctest: +SKIP
    >>> ts.dims, ts.shape, ts.time_base.rate  # doctest: +SKIP
    (('time', 'channel'), (2500000, 384), 2500.0)
    >>> ts.channel_coords()["channel"][:3]  # doctest: +SKIP
    array([0, 1, 2])
    """

    def __init__(self, nwb: NWBReader, path: str):
        self.nwb = nwb
        self.path = "/" + path.strip("/")
        self.group = nwb.typed_group(self.path, lambda p: is_timeseries(nwb, p),
                                     lambda: timeseries_paths(nwb), TimeSeriesNotFoundError,
                                     "TimeSeries")

    @property
    def source(self) -> str:
        return self.nwb.source

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @cached_property
    def neurodata_type(self) -> str | None:
        return neurodata_type(self.group.attrs)

    def is_a(self, base: str) -> bool:
        return self.nwb.types.is_a(self.neurodata_type, base)

    def _member(self, name: str) -> zarr.Array | zarr.Group | None:
        try:
            return self.nwb.node(f"{self.path}/{name}")
        except KeyError:
            return None

    def _array(self, name: str) -> zarr.Array | None:
        node = self._member(name)
        return node if isinstance(node, zarr.Array) else None

    # -- data ----------------------------------------------------------------------------------

    @cached_property
    def data(self) -> zarr.Array | None:
        """The ``data`` array (the linked series' array for a link), None if there is none."""
        return self._array("data")

    @property
    def data_path(self) -> str | None:
        return None if self.data is None else "/" + self.data.path.strip("/")

    @cached_property
    def external_file(self) -> list[str] | None:
        """ImageSeries frames kept in other files (``external_file``), None otherwise."""
        arr = self._array("external_file")
        if arr is None:
            return None
        return [_text(v) for v in np.asarray(arr[...]).ravel()]

    @cached_property
    def starting_frame(self) -> list[int] | None:
        arr = self._array("external_file")
        value = None if arr is None else arr.attrs.get("starting_frame")
        if value is None:
            return None
        return [int(v) for v in np.atleast_1d(np.asarray(value)).ravel()]

    @property
    def has_data(self) -> bool:
        """False for a series whose values live elsewhere (external files) or nowhere."""
        if self.data is None:
            return False
        return not (self.external_file is not None and self.data.size == 0)

    @cached_property
    def shape(self) -> tuple[int, ...]:
        """The values' shape; an external-file ImageSeries is ``(frames, 0, 0)``."""
        if self.has_data:
            assert self.data is not None
            shape = tuple(int(s) for s in self.data.shape)
            return shape if shape else (1,)
        ndim = max(3, self.data.ndim) if self.data is not None else 3
        return (self.time_base.n, *(0,) * (ndim - 1))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype if self.data is not None else np.dtype("uint8")

    @cached_property
    def data_attrs(self) -> dict[str, Any]:
        return {} if self.data is None else {
            k: scalar_attr(v) for k, v in self.data.attrs.items()}

    @property
    def unit(self) -> str | None:
        unit = self.data_attrs.get("unit")
        return None if unit is None else _text(unit)

    @property
    def conversion(self) -> float:
        return _float(self.data_attrs.get("conversion"), 1.0)

    @property
    def offset(self) -> float:
        return _float(self.data_attrs.get("offset"), 0.0)

    @property
    def resolution(self) -> float:
        return _float(self.data_attrs.get("resolution"), -1.0)

    @property
    def continuity(self) -> str | None:
        value = self.data_attrs.get("continuity")
        return None if value is None else _text(value)

    @property
    def description(self) -> str:
        return _text(scalar_attr(self.group.attrs.get("description", "no description")))

    @property
    def comments(self) -> str:
        return _text(scalar_attr(self.group.attrs.get("comments", "no comments")))

    @cached_property
    def channel_conversion(self) -> np.ndarray | None:
        """Per-channel factors (ElectricalSeries ``channel_conversion``), None if absent."""
        arr = self._array("channel_conversion")
        return None if arr is None else np.asarray(arr[...], dtype=np.float64)

    @property
    def channel_conversion_axis(self) -> int:
        arr = self._array("channel_conversion")
        return int(scalar_attr(arr.attrs.get("axis", 1))) if arr is not None else 1

    # -- time ----------------------------------------------------------------------------------

    @cached_property
    def timestamps(self) -> zarr.Array | None:
        return self._array("timestamps")

    @property
    def timestamps_path(self) -> str | None:
        return None if self.timestamps is None else "/" + self.timestamps.path.strip("/")

    @cached_property
    def time_base(self) -> TimeBase:
        """The series' time base; its length is that of ``data`` (or of the frames)."""
        n = self._n_times()
        if self.timestamps is not None:
            return TimeBase("timestamps", n, timestamps_path=self.timestamps_path)
        start = self._array("starting_time")
        if start is not None:
            rate = scalar_attr(start.attrs.get("rate"))
            return TimeBase("rate", n, starting_time=_float(self.nwb.value(
                f"{self.path}/starting_time"), 0.0), rate=_float(rate, float("nan")))
        return TimeBase("none", n)

    def _n_times(self) -> int:
        if self.has_data:
            assert self.data is not None
            return int(self.data.shape[0]) if self.data.shape else 1
        # no values here (external files): the frames are counted by the timing datasets
        if self.timestamps is not None:
            return int(self.timestamps.shape[0])
        n = self.nwb.value(f"{self.path}/num_samples")
        return int(n) if n is not None else 0

    def time_values(self) -> np.ndarray:
        """The time of every sample in seconds (reads ``timestamps``; computes rate-based)."""
        tb = self.time_base
        if tb.kind == "timestamps":
            assert self.timestamps is not None
            return np.asarray(self.timestamps[...], dtype=np.float64)
        if tb.kind == "rate":
            assert tb.starting_time is not None and tb.rate is not None
            return tb.starting_time + np.arange(tb.n, dtype=np.float64) / tb.rate
        return np.arange(tb.n, dtype=np.float64)

    @property
    def timestamps_match(self) -> bool:
        """False when ``timestamps`` and ``data`` disagree in length (malformed files)."""
        ts = self.timestamps
        return ts is None or int(ts.shape[0]) == self.time_base.n

    # -- channels ------------------------------------------------------------------------------

    def _region(self, name: str, default_table: str | None) -> Region | None:
        arr = self._array(name)
        if arr is None:
            return None
        table_attr = arr.attrs.get("table")
        table = cv.ref_target(cv.attr_ref(table_attr)) or cv.ref_target(table_attr) or default_table
        if table is None:
            return None
        rows = np.asarray(arr[...]).astype(np.int64).ravel()
        return Region("/" + arr.path.strip("/"), "/" + table.strip("/"), rows)

    @cached_property
    def electrodes(self) -> Region | None:
        """The ``electrodes`` region (ElectricalSeries and extensions), None if absent."""
        return self._region("electrodes", _ELECTRODES_TABLE)

    @cached_property
    def rois(self) -> Region | None:
        """The ``rois`` region (RoiResponseSeries and extensions), None if absent."""
        return self._region("rois", None)

    @cached_property
    def dims(self) -> tuple[str, ...]:
        """Dimension names: ``time`` first, the others named after what they hold."""
        ndim = self.ndim
        rest: list[str] = [f"dim_{i}" for i in range(1, ndim)]
        if ndim >= 2:
            width = self.shape[1]
            electrodes, rois = self.electrodes, self.rois
            if self.is_a("SpikeEventSeries") and ndim == 2:
                rest[0] = "sample"  # (events, samples): one channel per event
            elif self.is_a("ElectricalSeries") or (electrodes is not None
                                                     and len(electrodes.rows) == width):
                rest[: min(2, ndim - 1)] = ["channel", "sample"][: ndim - 1]
            elif self.is_a("RoiResponseSeries") or (rois is not None and len(rois.rows) == width):
                rest[0] = "roi"
            elif self.is_a("ImageSeries") and ndim in (3, 4):
                rest = ["y", "x", "z"][: ndim - 1]
            elif self.is_a("SpatialSeries") and ndim == 2 and width <= 3:
                rest[0] = "axis"
        return (TIME, *rest)

    def channel_coords(self) -> dict[str, tuple[str, np.ndarray]]:
        """Coordinates of the non-time dimensions: ``{name: (dim, values)}``.

        ``channel`` holds electrode ids (with ``electrode_index``, the electrodes-table row, and
        ``location``/``group_name`` when the table has them); ``roi`` holds ROI ids (and
        ``roi_index``); ``axis`` of a SpatialSeries holds ``"x"``, ``"y"``, ``"z"``. Reads the
        region and the few table columns it names (small, usually inlined).
        """
        out: dict[str, tuple[str, np.ndarray]] = {}
        dims = self.dims
        width = self.shape[1] if self.ndim >= 2 else -1
        # a region that does not match the channels (truncated files) labels nothing
        if "channel" in dims and self.electrodes is not None \
                and len(self.electrodes.rows) == width:
            out.update(self._table_coords(self.electrodes, "channel", "electrode_index",
                                          ("location", "group_name")))
            cc = self.channel_conversion
            if cc is not None and len(cc) == len(self.electrodes.rows):
                out["channel_conversion"] = ("channel", cc)
        if "roi" in dims and self.rois is not None and len(self.rois.rows) == width:
            out.update(self._table_coords(self.rois, "roi", "roi_index", ()))
        if "axis" in dims:
            out["axis"] = ("axis", np.array(_SPATIAL_AXES[: self.shape[1]]))
        return out

    def _table_coords(self, region: Region, dim: str, index_name: str, extra: Iterable[str]
                      ) -> dict[str, tuple[str, np.ndarray]]:
        out: dict[str, tuple[str, np.ndarray]] = {index_name: (dim, region.rows)}
        try:
            table = TableReader(self.nwb, region.table)
            out[dim] = (dim, np.asarray(table.read("id", region.rows).values))
            for col in extra:
                if col in table.columns and table.columns[col].kind == "data" \
                        and not table.columns[col].ragged:
                    values = np.asarray(table.read(col, region.rows).values)
                    if values.ndim == 1:
                        # plain unicode, which pandas/plotting take as it is
                        out[col] = (dim, np.array([_text(v) for v in values], dtype=str)
                                    if values.dtype.kind in "OTS" else values)
        except IntakeNWBError:
            out[dim] = (dim, region.rows)  # a region into no readable table: rows are all we have
        return out

    # -- reading -------------------------------------------------------------------------------

    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Samples ``[start, stop)`` (all for None) as stored, without scaling.

        Examples
        --------
        >>> ts.read(0, 10).shape  # doctest: +SKIP
        (10, 384)
        """
        n = self.shape[0]
        stop = n if stop is None else min(stop, n)
        if not self.has_data:
            return np.zeros((max(stop - start, 0), *self.shape[1:]), dtype=self.dtype)
        assert self.data is not None
        if not self.data.shape:
            return np.asarray(self.data[...]).reshape(1)[start:stop]
        if tuple(self.data.chunks[1:]) != tuple(self.data.shape[1:]):
            return np.asarray(self.data[start:stop])  # read_spans needs whole-row chunks
        return read_spans(self.data, np.array([start]), np.array([max(start, stop)]))

    def attrs(self) -> dict[str, Any]:
        """Descriptive attributes (NWB's names), ``path`` and ``_nwb_path`` (the file)."""
        tb = self.time_base
        out: dict[str, Any] = {
            "neurodata_type": self.neurodata_type,
            "unit": self.unit,
            "conversion": self.conversion,
            "offset": self.offset,
            "resolution": self.resolution,
            "description": self.description,
            "comments": self.comments,
            "continuity": self.continuity,
            "path": self.path,
            "_nwb_path": self.source,
        }
        if tb.kind == "rate":
            out.update(starting_time=tb.starting_time, rate=tb.rate)
        if self.data_path and self.data_path != f"{self.path}/data":
            out["data_path"] = self.data_path  # data linked from another series
        if self.timestamps_path and self.timestamps_path != f"{self.path}/timestamps":
            out["timestamps_path"] = self.timestamps_path
        if self.external_file is not None:
            out["external_file"] = self.external_file
            out["starting_frame"] = self.starting_frame
            fmt = self.nwb.value(f"{self.path}/format")
            out["format"] = None if fmt is None else _text(fmt)
        return {k: v for k, v in out.items() if v is not None}

    def __repr__(self) -> str:
        return f"TimeSeriesReader({self.source!r}, {self.path!r}, {self.neurodata_type})"


# -- finding series ------------------------------------------------------------------------------

def is_timeseries(nwb: NWBReader, path: str) -> bool:
    """True for a group whose type extends TimeSeries.

    A type the file's specifications do not describe (an extension whose spec was not cached)
    counts when the group looks like a series: ``data`` and ``timestamps`` or ``starting_time``.
    """
    node = nwb.node(path)
    if not isinstance(node, zarr.Group):
        return False
    ndtype = neurodata_type(node.attrs)
    if ndtype is None:
        return False
    if nwb.types.is_a(ndtype, "TimeSeries"):
        return True
    if len(nwb.types.ancestors(ndtype)) > 1:
        return False  # a known type that is not a series
    names = set(node.keys()) | {lk.get("name") for lk in node.attrs.get(cv.ZARR_LINK, []) or []}
    return "data" in names and bool({"timestamps", "starting_time"} & names)


def timeseries_paths(nwb: NWBReader) -> list[str]:
    """Paths of every TimeSeries in the file (sorted)."""
    types = nwb.types
    # only series and types the specifications do not know need a look at the node
    return [p for p, t in nwb.objects.items()
            if (types.is_a(t, "TimeSeries") or len(types.ancestors(t)) == 1)
            and is_timeseries(nwb, p)]


def matches(nwb: NWBReader, path: str, search: str) -> bool:
    """Does series ``path`` match ``search``?

    ``search`` is an exact path, a neurodata type (matching its subtypes too, e.g.
    ``"ElectricalSeries"``), a glob on the path (``"/processing/*/LFP/*"``) or a
    case-insensitive substring of the path.
    """
    if "/" + search.strip("/") == path:
        return True
    ndtype = nwb.type_of(path)
    if search in nwb.types.parents or search == ndtype:
        return nwb.types.is_a(ndtype, search)
    if _GLOB_CHARS & set(search):
        return fnmatch.fnmatchcase(path, search if search.startswith(("/", "*")) else "*" + search)
    return search.lower() in path.lower()


def find_timeseries(nwb: NWBReader, search: str | None = None, match_all: bool = False
                    ) -> list[str]:
    """Paths of the TimeSeries selected by ``search`` (see :func:`matches`).

    Without ``match_all`` exactly one series must be selected (an exact path wins over other
    matches); with it, every match is returned (possibly none).

    Raises
    ------
    TimeSeriesNotFoundError
        Nothing matches, or several do and ``match_all`` is false; the message lists them.

    Examples
    --------
    >>> find_timeseries(nwb, "ElectricalSeries", match_all=True)  # doctest: +SKIP
    ['/acquisition/ElectricalSeries', '/processing/ecephys/LFP/ElectricalSeries']
    >>> find_timeseries(nwb, "LFP")  # doctest: +SKIP
    ['/processing/ecephys/LFP/ElectricalSeries']
    """
    paths = timeseries_paths(nwb)
    if search is not None:
        exact = "/" + search.strip("/")
        if exact in paths and not match_all:
            return [exact]
        found = [p for p in paths if matches(nwb, p, search)]
    else:
        found = paths
    if match_all:
        return found
    if len(found) == 1:
        return found
    listing = ", ".join(paths) or "none"
    what = "no TimeSeries" if search is None else f"no TimeSeries matches {search!r}"
    if found:
        what = f"{len(found)} TimeSeries match{'' if search is None else f' {search!r}'}: " \
            f"{', '.join(found)}; name one (path= or search=) or pass match_all=True"
        raise TimeSeriesNotFoundError(what, source=nwb.source)
    raise TimeSeriesNotFoundError(f"{what}; TimeSeries in this file: {listing}",
                                  source=nwb.source)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        return _text(value.reshape(-1)[0]) if value.size else ""
    return str(value)


def _float(value: Any, default: float) -> float:
    if value is None:
        return default
    try:
        return float(np.asarray(value).reshape(-1)[0])
    except (TypeError, ValueError, IndexError):
        return default

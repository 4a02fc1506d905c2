"""TimeSeries semantics: data, time base, scaling, channels (electrodes, ROIs), external files.

A :class:`TimeSeriesReader` describes one TimeSeries (any type extending it, extensions
included) from attributes and small datasets only; the arrays themselves (``data``,
``timestamps``) are handed out as zarr arrays for the frames layer to read lazily. Links are
followed wherever they occur (``data`` or ``timestamps`` linked to another series, an
``electrodes`` region shared with another series), so :attr:`TimeSeriesReader.data_path` is where
the values really live.

Nothing is made up: a series whose frames are in ``external_file`` has no values here (its
samples are described by :meth:`TimeSeriesReader.external_frames`), and what cannot be attached
(an ``electrodes`` region of another length, timestamps of another length) is listed with the
reason in :meth:`TimeSeriesReader.coordinates`, for the frames layer to warn about.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import zarr

from .. import conventions as cv
from ..errors import IntakeNWBError, TimeSeriesNotFoundError
from ..store import read_spans
from ..util.memo import cached_property
from .file import NWBReader
from .tables import TableReader
from .types import neurodata_type, scalar_attr

TIME = "time"
_GLOB_CHARS = set("*?[")
# where NWB keeps the electrodes table when a region forgets to say (MatNWB, NWB 2.0)
_ELECTRODES_TABLE = "/general/extracellular_ephys/electrodes"
_SPATIAL_AXES = ("x", "y", "z")
# members of a series read for what they are, not as attributes or per-sample coordinates
_ROLES = {"data", "timestamps", "starting_time", "electrodes", "source_channels", "rois",
          "channel_conversion", "external_file", "features", "feature_units"}
_SMALL = 16  # datasets this small are attributes, unless one value per sample
_INTERNAL_ATTRS = {cv.ZARR_LINK, ".specloc"}


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
    """A DynamicTableRegion of a series (``electrodes``, ``rois``): ``n`` rows of ``table``."""

    path: str
    table: str
    n: int


@dataclass(frozen=True)
class Coordinate:
    """A coordinate of a series, described without reading it.

    Its values are the array at ``path``, or that array's rows listed by the region at ``rows``
    (``location`` of each channel's electrode), or ``values`` when they are known (spatial
    axes). ``index``: the dimension's labels (``channel`` ids, ``roi`` ids).
    """

    name: str
    dim: str
    path: str | None = None
    rows: str | None = None
    values: tuple[Any, ...] | None = None
    index: bool = False


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
    >>> from intake_nwb.store import open_store
    >>> nwb = NWBReader(open_store("session.nwb"))
    >>> ts = TimeSeriesReader(nwb, "/acquisition/lfp")
    >>> ts.dims, ts.shape, ts.time_base.rate
    (('time', 'channel'), (300000, 4), 1000.0)
    >>> ts.neurodata_type, ts.unit, ts.conversion
    ('ElectricalSeries', 'volts', 1.95e-07)
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
    def is_external(self) -> bool:
        """True when the frames are kept in ``external_file`` (ImageSeries and subtypes)."""
        return self._array("external_file") is not None

    @property
    def has_data(self) -> bool:
        """True when the values are in ``data`` here (not in external files, not missing)."""
        return self.data is not None and not self.is_external

    @cached_property
    def shape(self) -> tuple[int, ...]:
        """The values' shape: ``data``'s (a scalar is one sample), one entry per sample for
        an external-file series (which file holds it), ``(n,)`` for a series without data."""
        if self.has_data:
            assert self.data is not None
            shape = tuple(int(s) for s in self.data.shape)
            return shape if shape else (1,)
        return (self.time_base.n,)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def dtype(self) -> np.dtype:
        """``data``'s dtype; object (file names) for an external-file series."""
        return self.data.dtype if self.has_data and self.data is not None else np.dtype(object)

    def external_frames(self) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
        """For an external-file series: the file holding each sample, its frame number in that
        file (NWB's ``starting_frame``; None when the file does not say), and what could not be
        told.

        Raises
        ------
        IntakeNWBError
            Several files and no usable ``starting_frame``: which holds which frame is unknown.

        Examples
        --------
        >>> from intake_nwb.store import open_store
        >>> ts = TimeSeriesReader(NWBReader(open_store("movie.nwb")),
        ...                       "/acquisition/behavior_video")
        >>> ts.external_file, ts.starting_frame
        (['m1.avi', 'm2.avi'], [0, 3])
        >>> files, frames, notes = ts.external_frames()
        >>> files[2:4], frames[2:4]
        (array(['m1.avi', 'm2.avi'], dtype=object), array([2, 0]))
        """
        files = np.array(self.external_file or [], dtype=object)
        n = self.time_base.n
        starts = self.starting_frame
        s = np.asarray(starts if starts is not None else [0] * (len(files) == 1), dtype=np.int64)
        where = f"{self.path}/external_file"
        if len(files) and len(s) == len(files) and s[0] == 0 and np.all(np.diff(s) > 0):
            which = np.searchsorted(s, np.arange(n), side="right") - 1
            return files[which], np.arange(n) - s[which], []
        if len(files) == 1:  # one file holds every frame; where in it, the file does not say
            return np.repeat(files, n), None, [
                f"{where}: starting_frame {starts!r} does not describe one file: frame numbers "
                "left out"]
        raise IntakeNWBError(f"{len(files)} external files with starting_frame {starts!r}: "
                             "which file holds which frame is not described",
                             source=self.source, path=where)

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
    def channel_conversion_path(self) -> str | None:
        arr = self._array("channel_conversion")
        return None if arr is None else "/" + arr.path.strip("/")

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
        if n is None:
            what = "frames in external_file" if self.is_external else "no data"
            raise IntakeNWBError(f"{what}, rate-based, no timestamps nor num_samples: the number "
                                 "of samples is not recorded", source=self.source, path=self.path)
        return int(n)

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

    # -- channels and other coordinates --------------------------------------------------------

    def _region(self, name: str, default_table: str | None) -> Region | None:
        arr = self._array(name)
        if arr is None:
            return None
        table_attr = arr.attrs.get("table")
        table = cv.ref_target(cv.attr_ref(table_attr)) or cv.ref_target(table_attr) or default_table
        if table is None:
            return None
        n = int(arr.shape[0]) if arr.ndim == 1 else -1  # a region is a list of rows
        return Region("/" + arr.path.strip("/"), "/" + table.strip("/"), n)

    @cached_property
    def electrodes(self) -> Region | None:
        """The channels' electrodes (``electrodes``; a DecompositionSeries'
        ``source_channels``), None if absent."""
        return self._region("electrodes", _ELECTRODES_TABLE) or \
            self._region("source_channels", _ELECTRODES_TABLE)

    @cached_property
    def rois(self) -> Region | None:
        """The ``rois`` region (RoiResponseSeries and extensions), None if absent."""
        return self._region("rois", None)

    @cached_property
    def dims(self) -> tuple[str, ...]:
        """Dimension names: ``time`` first, the others named after what they hold (by type, or
        ``<series name>_dim_<i>`` when nothing says what they hold)."""
        ndim = self.ndim
        rest: list[str] = [f"{self.name}_dim_{i}" for i in range(1, ndim)]
        if ndim >= 2:
            width = self.shape[1]
            electrodes, rois = self.electrodes, self.rois
            if self.is_a("SpikeEventSeries") and ndim == 2:
                rest[0] = "sample"  # (events, samples): one channel per event
            elif self.is_a("DecompositionSeries"):
                rest[: min(2, ndim - 1)] = ["channel", "band"][: ndim - 1]
            elif self.is_a("ElectricalSeries") or (electrodes is not None
                                                     and electrodes.n == width):
                rest[: min(2, ndim - 1)] = ["channel", "sample"][: ndim - 1]
            elif self.is_a("RoiResponseSeries") or (rois is not None and rois.n == width):
                rest[0] = "roi"
            elif self.is_a("ImageSeries") and ndim in (3, 4):
                rest = ["y", "x", "z"][: ndim - 1]
            elif self.is_a("SpatialSeries") and ndim == 2 and width <= 3:
                rest[0] = "axis"
            elif self.is_a("AbstractFeatureSeries") and ndim == 2:
                rest[0] = "feature"
        return (TIME, *rest)

    def coordinates(self) -> tuple[list[Coordinate], list[str]]:
        """The coordinates of the non-time dimensions and the per-sample datasets, described
        without reading them, and why any that exist could not be attached.

        - ``channel``: electrode ids (the dimension's index), ``electrode_index`` (rows of the
          electrodes table), ``location`` and ``group_name`` when the table has them,
          ``channel_conversion``;
        - ``roi``: ROI ids and ``roi_index``; ``band``: a DecompositionSeries' ``band_name``
          (and its other one-value-per-band columns); ``feature``: ``features`` and
          ``feature_units``; ``axis``: ``"x"``, ``"y"``, ``"z"``;
        - ``time``: datasets with one value per sample (``confidence``, ``control``).

        Examples
        --------
        >>> from intake_nwb.store import open_store
        >>> ts = TimeSeriesReader(NWBReader(open_store("session.nwb")), "/acquisition/lfp")
        >>> coords, left_out = ts.coordinates()
        >>> [(c.name, c.dim, c.index) for c in coords]  # doctest: +NORMALIZE_WHITESPACE
        [('electrode_index', 'channel', False), ('channel', 'channel', True),
         ('location', 'channel', False), ('group_name', 'channel', False)]
        >>> left_out  # e.g. an electrodes region of the wrong length would be named here
        []
        """
        coords: list[Coordinate] = []
        notes: list[str] = []
        if not self.has_data:
            return self._sample_coordinates(coords, notes)
        dims, shape = self.dims, self.shape
        size = dict(zip(dims, shape, strict=True))
        cc = self._array("channel_conversion")
        if "channel" in size and self._region_coordinates(
                self.electrodes, "channel", "electrode_index", ("location", "group_name"),
                size["channel"], coords, notes) and cc is not None:
            self._along(cc, "channel", size["channel"], coords, notes)
        if "roi" in size:
            self._region_coordinates(self.rois, "roi", "roi_index", (), size["roi"], coords,
                                     notes)
        if "axis" in size:
            coords.append(Coordinate("axis", "axis", values=_SPATIAL_AXES[: size["axis"]]))
        if "band" in size:
            self._band_coordinates(size["band"], coords, notes)
        if "feature" in size:
            for name, coord in (("features", "feature"), ("feature_units", "feature_units")):
                arr = self._array(name)
                if arr is not None:
                    self._along(arr, "feature", size["feature"], coords, notes, coord,
                                index=coord == "feature")
        return self._sample_coordinates(coords, notes)

    def _along(self, arr: zarr.Array, dim: str, n: int, coords: list[Coordinate],
               notes: list[str], name: str | None = None, index: bool = False) -> None:
        path = "/" + arr.path.strip("/")
        name = name or path.rsplit("/", 1)[-1]
        if arr.shape[:1] == (n,) and arr.ndim == 1:
            coords.append(Coordinate(name, dim, path=path, index=index))
        else:
            notes.append(f"{path} has shape {tuple(arr.shape)}, not one value per {dim} "
                         f"({n}): left out")

    def _region_coordinates(self, region: Region | None, dim: str, index_name: str,
                            extra: Iterable[str], n: int, coords: list[Coordinate],
                            notes: list[str]) -> bool:
        if region is None:
            return False
        if region.n != n:
            notes.append(f"{region.path} lists {region.n} rows for {n} {dim}s: no {dim} "
                         "coordinates")
            return False
        coords.append(Coordinate(index_name, dim, path=region.path))
        try:
            columns = TableReader(self.nwb, region.table).columns
        except IntakeNWBError as exc:
            notes.append(f"{region.path} points to {region.table}, which cannot be read "
                         f"({exc.message}): {dim} ids left out")
            return True
        if "id" in columns:
            coords.append(Coordinate(dim, dim, path=columns["id"].path, rows=region.path,
                                     index=True))
        for col in extra:
            spec = columns.get(col)
            if spec is not None and spec.kind == "data" and not spec.ragged and \
                    len(self.nwb.node(spec.path).shape) == 1:
                coords.append(Coordinate(col, dim, path=spec.path, rows=region.path))
        return True

    def _band_coordinates(self, n: int, coords: list[Coordinate], notes: list[str]) -> None:
        path = f"{self.path}/bands"
        try:
            table = TableReader(self.nwb, path)
        except IntakeNWBError:
            return
        if table.n_rows != n:
            notes.append(f"{path} has {table.n_rows} rows for {n} bands: no band coordinates")
            return
        for name, spec in table.columns.items():
            if spec.kind == "data" and not spec.ragged and table.row_shape(name) == ():
                coords.append(Coordinate("band" if name == "band_name" else name, "band",
                                         path=spec.path, index=name == "band_name"))

    def _sample_coordinates(self, coords: list[Coordinate], notes: list[str]
                            ) -> tuple[list[Coordinate], list[str]]:
        n = self.time_base.n
        for name, (role, arr) in self._members.items():
            if role == "sample":
                coords.append(Coordinate(name, TIME, path="/" + arr.path.strip("/")))
        if self.timestamps is not None and not self.timestamps_match:
            notes.append(f"{self.timestamps_path} has {self.timestamps.shape[0]} timestamps for "
                         f"{n} samples: no time coordinate")
        return coords, notes

    def other_arrays(self) -> list[zarr.Array]:
        """Datasets of the series that are neither its values, time, coordinates nor small
        attributes (``control_description`` of many values; ``data`` when the frames are in
        external files): a Dataset can hold them, a DataArray cannot."""
        out = [arr for role, arr in self._members.values() if role == "other"]
        if self.is_external and self.data is not None and self.data.size:
            out.append(self.data)  # a placeholder (NWB asks for an empty one)
        return out

    # -- reading -------------------------------------------------------------------------------

    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Samples ``[start, stop)`` (all for None) as stored, without scaling.

        Raises
        ------
        IntakeNWBError
            The values are not in this file (external frames) or there are none.

        Examples
        --------
        >>> from intake_nwb.store import open_store
        >>> ts = TimeSeriesReader(NWBReader(open_store("session.nwb")), "/acquisition/lfp")
        >>> ts.read(0, 3)  # int16 counts, as stored
        array([[-150,  -65,  -26,  -64],
               [-152,  -55,  -50,    4],
               [-143,  -52,  -35,  -73]], dtype=int16)
        """
        if not self.has_data:
            what = "the frames are in external_file" if self.is_external else "no data"
            raise IntakeNWBError(f"{what}: no values here", source=self.source, path=self.path)
        assert self.data is not None
        n = self.shape[0]
        stop = n if stop is None else min(stop, n)
        if not self.data.shape:
            return np.asarray(self.data[...]).reshape(1)[start:stop]
        if tuple(self.data.chunks[1:]) != tuple(self.data.shape[1:]):
            return np.asarray(self.data[start:stop])  # read_spans needs whole-row chunks
        return read_spans(self.data, np.array([start]), np.array([max(start, stop)]))

    def attrs(self) -> dict[str, Any]:
        """Descriptive attributes: NWB's (``unit``, ``conversion``... with NWB's defaults where
        the file omits them, as pynwb reads it), the group's own attributes, small datasets
        (``reference_frame``, ``gain``...), ``path`` and ``_nwb_path`` (the file)."""
        tb = self.time_base
        out: dict[str, Any] = {**self.extra_attrs(), **self.group_attrs()}
        out.update({
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
        })
        if tb.kind == "rate":
            out.update(starting_time=tb.starting_time, rate=tb.rate)
        if self.data_path and self.data_path != f"{self.path}/data":
            out["data_path"] = self.data_path  # data linked from another series
        if self.timestamps_path and self.timestamps_path != f"{self.path}/timestamps":
            out["timestamps_path"] = self.timestamps_path
        if self.is_external:
            out["external_file"] = self.external_file
            out["starting_frame"] = self.starting_frame
            fmt = self.nwb.value(f"{self.path}/format")
            out["format"] = None if fmt is None else _text(fmt)
        return {k: v for k, v in out.items() if v is not None}

    def group_attrs(self) -> dict[str, Any]:
        """The series group's own attributes (references as the paths they point to)."""
        out = {}
        for key, value in self.group.attrs.items():
            if key in _INTERNAL_ATTRS:
                continue
            value = scalar_attr(value)
            target = cv.ref_target(cv.attr_ref(value)) if isinstance(value, dict) else None
            out[key] = target if target is not None else value
        return {k: v for k, v in out.items() if not isinstance(v, dict)}

    def extra_attrs(self) -> dict[str, Any]:
        """Small datasets of the group that are not one value per sample (``reference_frame``,
        ``gain``, ``dimension``...), read: they describe the series."""
        out = {}
        for name, (role, _arr) in self._members.items():
            if role == "attr":
                value = self.nwb.value(f"{self.path}/{name}")
                out[name] = value[0] if isinstance(value, list) and len(value) == 1 else value
        return out

    @cached_property
    def _members(self) -> dict[str, tuple[str, zarr.Array]]:
        """The group's other datasets by what they are: ``"sample"`` (one value per sample),
        ``"attr"`` (small plain values) or ``"other"``."""
        n = self.time_base.n
        out = {}
        for name, arr in self.group.arrays():
            if name in _ROLES:
                continue
            if arr.ndim == 1 and arr.shape[0] == n and n > 1:
                out[name] = ("sample", arr)
            elif arr.size <= _SMALL and arr.dtype.kind != "V" and \
                    arr.attrs.get(cv.ZARR_DTYPE, cv.SCALAR) == cv.SCALAR:  # no references
                out[name] = ("attr", arr)
            else:
                out[name] = ("other", arr)
        return out

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
    >>> from intake_nwb.store import open_store
    >>> nwb = NWBReader(open_store("session.nwb"))
    >>> find_timeseries(nwb, "ElectricalSeries", match_all=True)  # a neurodata type
    ['/acquisition/lfp']
    >>> find_timeseries(nwb, "position")  # a name
    ['/processing/behavior/Position/position']
    >>> find_timeseries(nwb, "behavior")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    intake_nwb.errors.TimeSeriesNotFoundError: ...: 2 TimeSeries match 'behavior': ...
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

"""A deterministic sample "lab" of NWB sessions, written with pynwb.

The sessions look like a small extracellular-electrophysiology study: subject and session
metadata, an electrodes table, a units table with ragged spike times and quality metrics, a
trials table, behavior time series and, optionally, an LFP-like ``ElectricalSeries``. Everything
is a pure function of ``seed`` and the session index, so tests and benchmarks can regenerate any
value without reading the file back.

Large datasets (spike times, LFP) are produced block by block from seeded generators, so writing a
multi-GB file needs only a few tens of MB of memory. pynwb is an optional dependency (the ``demo``
extra) and is imported only when a file is written.
"""

from __future__ import annotations

import math
import os
import pathlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from hdmf.data_utils import GenericDataChunkIterator

__all__ = [
    "SMALL_BYTES",
    "SessionPlan",
    "generate_lfp",
    "generate_spike_times",
    "parse_size",
    "plan_session",
    "session_filename",
    "spike_counts",
    "write_sample_lab",
    "write_session",
]

#: Byte target of ``size="small"`` (40 units, 300 s, 200 trials); behavior adds ~0.8 MB more.
SMALL_BYTES = 1_000_000
#: Share of a byte target given to ``/units/spike_times``; the rest is metadata and behavior.
SPIKE_FRACTION = 0.9
#: Two sessions per subject, so the lab has repeated subjects as well as distinct ones.
SESSIONS_PER_SUBJECT = 2
#: Samples per LFP generator block; blocks are seeded independently so any range is reproducible.
LFP_BLOCK = 1024
#: Samples per mean waveform (2.7 ms at 30 kHz, as Kilosort writes them).
WAVEFORM_SAMPLES = 82
WAVEFORM_RATE = 30_000.0
#: Volts per int16 LFP count (Intan/Neuropixels-like).
LFP_CONVERSION = 0.195e-6

# Independent random streams per session, so adding e.g. trials never changes the spike times.
_META, _ELECTRODES, _UNITS, _SPIKES, _TRIALS, _BEHAVIOR, _LFP_PARAMS, _LFP = range(8)

_SMALL_UNITS = 40  # units at the small anchor
_SMALL_DURATION = 300.0
_MAX_UNITS = 1000
_TRIAL_PERIOD = 1.5  # seconds per trial when the plan picks the trial count
_MAX_TRIALS = 600
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS_MULT = {"": 1, "b": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}

Layout = Literal["contiguous", "chunked"]


def parse_size(size: str | int) -> int:
    """Turn a size into a per-session byte target.

    Parameters
    ----------
    size
        ``"small"`` (:data:`SMALL_BYTES`), a byte count, or a string such as ``"100MB"``,
        ``"2GB"``, ``"1.5 GiB"`` (``K``/``M``/``G``/``T``; decimal, or binary with ``i``).

    Returns
    -------
    int
        Bytes, > 0.

    Examples
    --------
    >>> parse_size("100MB"), parse_size("2GiB"), parse_size(12345)
    (100000000, 2147483648, 12345)
    """
    if isinstance(size, bool):
        raise TypeError("size must be a str or int, not bool")
    if isinstance(size, int | np.integer):
        nbytes = int(size)
    elif isinstance(size, str):
        if size.strip().lower() == "small":
            return SMALL_BYTES
        m = _SIZE_RE.match(size)
        if m is None:
            raise ValueError(f"cannot parse size {size!r}; use 'small', '100MB', '2GB' or bytes")
        number, unit = m.groups()
        unit = (unit or "").lower()
        prefix = unit[:1] if unit != "b" else ""
        base = 2 ** (10 * "kmgt".index(prefix) + 10) if "i" in unit else _UNITS_MULT[prefix]
        nbytes = int(float(number) * base)
    else:
        raise TypeError(f"size must be a str or int, not {type(size).__name__}")
    if nbytes <= 0:
        raise ValueError(f"size must be positive, got {size!r}")
    return nbytes


@dataclass(frozen=True)
class SessionPlan:
    """The knobs :func:`plan_session` derives from a byte target (see :func:`write_session`)."""

    n_units: int
    spikes_per_unit: int
    n_trials: int
    duration_s: float

    def as_kwargs(self) -> dict[str, Any]:
        return {
            "n_units": self.n_units,
            "spikes_per_unit": self.spikes_per_unit,
            "n_trials": self.n_trials,
            "duration_s": self.duration_s,
        }


def plan_session(size: str | int = "small") -> SessionPlan:
    """Choose units, spikes, trials and duration so spike times fill ~90% of a byte target.

    The small target is the anchor (40 units x ~2800 spikes over 300 s, ~9 Hz). Larger targets
    grow units and duration together (units as the square root, up to 1000 units, then only
    duration), keeping the mean rate constant; trials are one per 1.5 s, at most 600.

    Examples
    --------
    >>> plan_session("small")
    SessionPlan(n_units=40, spikes_per_unit=2812, n_trials=200, duration_s=300.0)
    >>> plan_session("100MB")
    SessionPlan(n_units=400, spikes_per_unit=28125, n_trials=600, duration_s=3000.0)
    """
    target = parse_size(size)
    total_spikes = max(1, int(target * SPIKE_FRACTION) // 8)
    anchor_spikes = int(SMALL_BYTES * SPIKE_FRACTION) // 8
    scale = total_spikes / anchor_spikes
    n_units = max(4, min(_MAX_UNITS, round(_SMALL_UNITS * math.sqrt(scale))))
    # Unit-seconds at the anchor's rate, spread over however many units we could afford.
    duration = round(_SMALL_DURATION * scale * _SMALL_UNITS / n_units, 3)
    duration = max(duration, 10.0)
    n_trials = max(1, min(_MAX_TRIALS, int(duration / _TRIAL_PERIOD)))
    return SessionPlan(
        n_units=n_units,
        spikes_per_unit=max(1, total_spikes // n_units),
        n_trials=n_trials,
        duration_s=float(duration),
    )


def session_filename(session_index: int) -> str:
    """``sub-XXX_ses-YYY.nwb``: two sessions per subject, sessions numbered across the lab."""
    subject, ses = _session_ids(session_index)
    return f"sub-{subject}_ses-{ses}.nwb"


def _session_ids(session_index: int) -> tuple[str, str]:
    return f"{session_index // SESSIONS_PER_SUBJECT + 1:03d}", f"{session_index + 1:03d}"


def _rng(seed: int, session_index: int, stream: int, *extra: int) -> np.random.Generator:
    return np.random.default_rng([seed, session_index, stream, *extra])


# --------------------------------------------------------------------------------------------
# Generators for the large datasets: pure functions of (seed, session, position)


def spike_counts(
    n_units: int, spikes_per_unit: int, *, seed: int = 0, session_index: int = 0
) -> np.ndarray:
    """Spikes per unit: log-normally spread firing rates around ``spikes_per_unit``, each >= 1."""
    w = _rng(seed, session_index, _UNITS, 0).lognormal(0.0, 0.8, n_units)
    return np.maximum(1, np.round(w / w.sum() * n_units * spikes_per_unit)).astype(np.int64)


def generate_spike_times(
    unit: int, n_spikes: int, duration_s: float, *, seed: int = 0, session_index: int = 0
) -> np.ndarray:
    """Sorted spike times (float64, seconds, within ``(0, duration_s)``) of one unit.

    A renewal process with a refractory period and exponential inter-spike intervals, rescaled
    to end inside the session: Poisson-like, but with realistic ISI gaps.
    """
    rng = _rng(seed, session_index, _SPIKES, unit)
    mean_isi = duration_s / (n_spikes + 1)
    refractory = min(0.0015, 0.5 * mean_isi)
    isi = refractory + rng.exponential(mean_isi - refractory, n_spikes + 1)
    times = np.cumsum(isi)
    scale = duration_s / times[-1]
    return times[:n_spikes] * scale


def generate_lfp(
    n_samples: int,
    n_channels: int,
    *,
    rate: float = 1000.0,
    seed: int = 0,
    session_index: int = 0,
    start: int = 0,
    stop: int | None = None,
) -> np.ndarray:
    """Rows ``start:stop`` of a session's LFP (int16, ``(samples, channels)``).

    Theta (8 Hz) and gamma (40 Hz) oscillations with per-channel amplitude and phase, plus
    noise. Noise is seeded per block of :data:`LFP_BLOCK` samples, so any row range can be
    produced on its own and equals the same rows of the whole array.

    Examples
    --------
    >>> a = generate_lfp(5000, 4, seed=1)
    >>> (a[1000:3000] == generate_lfp(5000, 4, seed=1, start=1000, stop=3000)).all()
    np.True_
    """
    stop = n_samples if stop is None else min(stop, n_samples)
    if not 0 <= start <= stop:
        raise ValueError(f"bad row range {start}:{stop} of {n_samples}")
    params = _rng(seed, session_index, _LFP_PARAMS).random((4, n_channels))
    theta_amp = (40 + 80 * params[0]).astype(np.float32)
    gamma_amp = (10 + 20 * params[1]).astype(np.float32)
    theta_phase = 2 * np.pi * params[2]
    gamma_phase = 2 * np.pi * params[3]
    # sin(wt + p) = sin(wt)cos(p) + cos(wt)sin(p): transcendental work per sample, not per element.
    weights = np.stack(
        [
            theta_amp * np.cos(theta_phase),
            theta_amp * np.sin(theta_phase),
            gamma_amp * np.cos(gamma_phase),
            gamma_amp * np.sin(gamma_phase),
        ]
    ).astype(np.float32)
    out = np.empty((stop - start, n_channels), dtype=np.int16)
    for block in range(start // LFP_BLOCK, -(-stop // LFP_BLOCK)):
        b0, b1 = block * LFP_BLOCK, min((block + 1) * LFP_BLOCK, n_samples)
        t = np.arange(b0, b1) / rate
        basis = np.stack(
            [
                np.sin(2 * np.pi * 8 * t),
                np.cos(2 * np.pi * 8 * t),
                np.sin(2 * np.pi * 40 * t),
                np.cos(2 * np.pi * 40 * t),
            ],
            axis=1,
        ).astype(np.float32)
        x = _rng(seed, session_index, _LFP, block).standard_normal(
            (b1 - b0, n_channels), dtype=np.float32
        )
        x *= 25.0
        x += basis @ weights
        lo, hi = max(b0, start), min(b1, stop)
        out[lo - start : hi - start] = np.clip(np.rint(x[lo - b0 : hi - b0]), -32768, 32767)
    return out


class _SpikeTimes:
    """Random access to the concatenated spike times of all units (the ragged data column)."""

    def __init__(self, counts: np.ndarray, duration_s: float, seed: int, session_index: int):
        self.counts = counts
        self.offsets = np.concatenate([[0], np.cumsum(counts)])
        self.duration_s = duration_s
        self.seed = seed
        self.session_index = session_index
        self._cached: tuple[int, np.ndarray] | None = None  # units can straddle buffers

    def unit(self, u: int) -> np.ndarray:
        if self._cached is None or self._cached[0] != u:
            times = generate_spike_times(
                u,
                int(self.counts[u]),
                self.duration_s,
                seed=self.seed,
                session_index=self.session_index,
            )
            self._cached = (u, times)
        return self._cached[1]

    def __call__(self, start: int, stop: int) -> np.ndarray:
        u0 = int(np.searchsorted(self.offsets, start, side="right")) - 1
        u1 = int(np.searchsorted(self.offsets, stop, side="left"))
        parts = [self.unit(u) for u in range(u0, u1)]
        flat = np.concatenate(parts) if len(parts) > 1 else parts[0]
        base = int(self.offsets[u0])
        return flat[start - base : stop - base]


def _block_source(
    read: Callable[[int, int], np.ndarray],
    shape: tuple[int, ...],
    dtype: np.dtype | type,
    *,
    chunk_rows: int,
    buffer_rows: int,
) -> GenericDataChunkIterator:
    """An hdmf chunk iterator over rows of ``read(start, stop)``; memory is one buffer."""
    from hdmf.data_utils import GenericDataChunkIterator

    class BlockSource(GenericDataChunkIterator):
        def __init__(self) -> None:
            n = shape[0]
            chunk = min(chunk_rows, n)
            buffer = min(max(buffer_rows // chunk, 1) * chunk, n)
            super().__init__(
                buffer_shape=(buffer, *shape[1:]),
                chunk_shape=(chunk, *shape[1:]),
                display_progress=False,
            )

        def __len__(self) -> int:  # VectorIndex sizes its dtype from len(target)
            return shape[0]

        def _get_data(self, selection: tuple[slice, ...]) -> np.ndarray:
            rows = read(selection[0].start, selection[0].stop)
            return rows[(slice(None), *selection[1:])]

        def _get_maxshape(self) -> tuple[int, ...]:
            return shape

        def _get_dtype(self) -> np.dtype:
            return np.dtype(dtype)

    return BlockSource()


# --------------------------------------------------------------------------------------------
# Writing


@dataclass
class _Deferred:
    """A dataset pynwb creates empty (contiguous) and we fill afterwards from a chunk iterator."""

    path: str
    make_source: Callable[[], GenericDataChunkIterator]


def _big_data(
    read: Callable[[int, int], np.ndarray],
    shape: tuple[int, ...],
    dtype: np.dtype | type,
    *,
    h5path: str,
    layout: Layout,
    compression: str | None,
    chunk_rows: int,
    buffer_rows: int,
    deferred: list[_Deferred],
) -> Any:
    """Data for a large dataset, written without holding it in memory.

    hdmf's iterative write always makes a chunked, resizable dataset (it extends the dataset per
    chunk, which HDF5 refuses for contiguous storage). For the default contiguous layout, pynwb
    therefore creates the dataset empty and :func:`write_session` fills it afterwards with h5py
    from the same chunk iterator.
    """
    from hdmf.backends.hdf5 import H5DataIO

    def make_source() -> GenericDataChunkIterator:
        return _block_source(read, shape, dtype, chunk_rows=chunk_rows, buffer_rows=buffer_rows)

    if layout == "chunked":
        source = make_source()
        return H5DataIO(source, compression=compression) if compression else source
    deferred.append(_Deferred(h5path, make_source))
    return H5DataIO(shape=shape, dtype=np.dtype(dtype))


def _write_options(io: Any, layout: Layout) -> dict[str, Any]:
    # hdmf >= 4 makes table columns resizable, hence chunked; "contiguous" asks for the layout
    # older pynwb wrote (and most archived files have). Older hdmf has no such option.
    from hdmf.utils import get_docval

    names = {arg["name"] for arg in get_docval(io.write)}
    return {"expandable": ()} if layout == "contiguous" and "expandable" in names else {}


def _file_metadata(session_index: int, seed: int) -> dict[str, Any]:
    rng = _rng(seed, session_index, _META)
    subject_id, session_id = _session_ids(session_index)
    subject_number = session_index // SESSIONS_PER_SUBJECT
    tz = timezone(timedelta(hours=-8), "PST")
    # Subjects are born a week apart; each subject's sessions are on consecutive days from P90.
    dob = datetime(2023, 10, 2, tzinfo=tz) + timedelta(days=7 * subject_number)
    day = 90 + session_index % SESSIONS_PER_SUBJECT
    start = dob + timedelta(days=day, hours=9, minutes=int(rng.integers(0, 180)))
    return {
        "subject_id": subject_id,
        "session_id": session_id,
        "start": start,
        "dob": dob,
        "age": f"P{day}D",
        "sex": "MF"[subject_number % 2],
        "genotype": ["wt/wt", "Sst-IRES-Cre/wt", "Pvalb-IRES-Cre/wt"][subject_number % 3],
        "identifier": str(uuid.uuid5(uuid.NAMESPACE_URL, f"intake-nwb-sample/{seed}/{session_id}")),
    }


def _location(depth_fraction: float) -> str:
    # Probe tip in dentate gyrus, through CA1, into visual cortex.
    if depth_fraction < 0.3:
        return "DG"
    if depth_fraction < 0.55:
        return "CA1"
    if depth_fraction < 0.65:
        return "alveus"
    return "VISp"


def _add_electrodes(nwbfile: Any, n_electrodes: int, rng: np.random.Generator) -> None:
    # No manufacturer: pynwb 4 deprecates it for DeviceModel, which older pynwb lacks.
    device = nwbfile.create_device(name="ProbeA", description="imec Neuropixels 1.0 (synthetic)")
    groups = [
        nwbfile.create_electrode_group(
            name=f"ProbeA_shank{k}",
            description=f"shank {k} of ProbeA",
            location="VISp, CA1, DG",
            device=device,
        )
        for k in range(2)
    ]
    nwbfile.add_electrode_column(name="probe_channel", description="channel number on the probe")
    ap, ml = 3.8 + rng.normal(0, 0.05), 2.8 + rng.normal(0, 0.05)  # insertion point, mm
    for i in range(n_electrodes):
        depth = 20.0 * (i // 2)  # two columns of sites, 20 um apart, tip first
        nwbfile.add_electrode(
            group=groups[i % 2],
            location=_location(i / max(n_electrodes - 1, 1)),
            x=float(ap * 1000),
            y=float(3500.0 - depth),
            z=float(ml * 1000 + 16.0 * (i % 2)),
            imp=float(rng.uniform(1.2e5, 1.8e5)),
            filtering="300 Hz high-pass (AP band)",
            probe_channel=i,
        )


def _waveforms(amplitude_uv: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(WAVEFORM_SAMPLES) / WAVEFORM_RATE * 1000 - 0.6  # ms from the trough
    width = rng.uniform(0.12, 0.3, (len(amplitude_uv), 1))  # narrow vs broad spiking
    trough = -np.exp(-0.5 * (t / width) ** 2)
    peak = 0.35 * np.exp(-0.5 * ((t - 3 * width) / (1.5 * width)) ** 2)
    shape = trough + peak + rng.normal(0, 0.02, (len(amplitude_uv), WAVEFORM_SAMPLES))
    return (shape * amplitude_uv[:, None] * 1e-6).astype(np.float32)


def _units(
    nwbfile: Any,
    *,
    counts: np.ndarray,
    duration_s: float,
    spike_data: Any,
    n_electrodes: int,
    rng: np.random.Generator,
) -> Any:
    from hdmf.common import DynamicTableRegion, VectorData, VectorIndex
    from pynwb.misc import Units

    n = len(counts)
    presence = np.where(rng.random(n) < 0.5, rng.uniform(0.9, 1.0, n), rng.uniform(0.2, 0.9, n))
    isi_viol = rng.exponential(0.4, n)
    amplitude = rng.lognormal(np.log(90.0), 0.5, n)
    label = np.where((presence >= 0.9) & (isi_viol < 0.5), "sua", "mua").astype(object)
    label[rng.random(n) < 0.1] = "noise"
    peak_channel = np.sort(rng.integers(0, n_electrodes, n))

    def column(name: str, data: Any, description: str) -> VectorData:
        return VectorData(name=name, data=data, description=description)

    spike_times = column("spike_times", spike_data, "the spike times for each unit in seconds")
    index_dtype = np.uint32 if counts.sum() < 2**32 else np.uint64
    electrodes = DynamicTableRegion(
        name="electrodes",
        data=peak_channel.tolist(),
        description="the peak electrode of each unit",
        table=nwbfile.electrodes,
    )
    # Each index goes before its target: hdmf's DynamicTable drops iterator-backed columns from
    # its length check as it meets them, and then cannot find the target of a later index.
    columns = [
        VectorIndex(
            name="spike_times_index",
            data=np.cumsum(counts).astype(index_dtype),
            target=spike_times,
        ),
        spike_times,
        VectorIndex(name="electrodes_index", data=np.arange(1, n + 1), target=electrodes),
        electrodes,
        column("waveform_mean", _waveforms(amplitude, rng), "mean spike waveform (volts)"),
        column("presence_ratio", presence, "fraction of the session the unit fires in"),
        column("isi_violations", isi_viol, "refractory-period violation ratio"),
        column("amplitude", amplitude, "peak-to-trough amplitude (uV)"),
        column("firing_rate", counts / duration_s, "mean firing rate (Hz)"),
        column("decoder_label", label.tolist(), "curation label: sua, mua or noise"),
        column(
            "quality", np.where(label == "sua", "good", "mua").tolist(), "good or mua (noise=mua)"
        ),
    ]
    return Units(
        name="units",
        description="sorted units (synthetic, Kilosort-like)",
        columns=columns,
        electrode_table=nwbfile.electrodes,
        waveform_rate=WAVEFORM_RATE,
        waveform_unit="volts",
        resolution=1 / WAVEFORM_RATE,
    )


def _trials(n_trials: int, duration_s: float, rng: np.random.Generator) -> Any:
    from hdmf.common import VectorData
    from pynwb.epoch import TimeIntervals

    period = duration_s / n_trials
    start = np.arange(n_trials) * period + rng.uniform(0, 0.1 * period, n_trials)
    stop = start + period * rng.uniform(0.5, 0.8, n_trials)
    stim = np.array(["gratings", "natural_images", "blank"])[rng.integers(0, 3, n_trials)]
    contrast = np.array([0.0, 0.05, 0.1, 0.25, 0.5, 1.0])[rng.integers(0, 6, n_trials)]
    contrast[stim == "blank"] = 0.0
    response = rng.random(n_trials) < 0.2 + 0.7 * contrast
    reaction = np.where(response, rng.gamma(4.0, 0.08, n_trials) + 0.15, np.nan)
    reaction = np.minimum(reaction, stop - start)
    columns = [
        VectorData(name="start_time", data=start, description="start of the trial (s)"),
        VectorData(name="stop_time", data=stop, description="end of the trial (s)"),
        VectorData(name="stim_name", data=stim.tolist(), description="stimulus shown"),
        VectorData(name="contrast", data=contrast, description="stimulus contrast, 0..1"),
        VectorData(name="response", data=response, description="did the mouse lick"),
        VectorData(
            name="reaction_time", data=reaction, description="lick latency (s); NaN: no response"
        ),
    ]
    return TimeIntervals(name="trials", description="visual detection trials", columns=columns)


def _add_behavior(nwbfile: Any, duration_s: float, rate: float, rng: np.random.Generator) -> None:
    from pynwb import TimeSeries
    from pynwb.behavior import Position, SpatialSeries

    n = max(2, int(duration_s * rate))
    # Running bouts: a piecewise-constant target speed (switching every ~5 s) with noise,
    # smoothed by a 1 s exponential kernel so accelerations look like a mouse's, not a step.
    switch_at = np.flatnonzero(rng.random(n) < 1.0 / (5 * rate))
    levels = rng.uniform(0, 40, len(switch_at) + 1) * (rng.random(len(switch_at) + 1) < 0.6)
    target = levels[np.searchsorted(switch_at, np.arange(n), side="right")]
    kernel = np.exp(-np.arange(int(3 * rate)) / rate)
    raw = target + rng.normal(0, 3.0, n)
    speed = np.convolve(raw, kernel / kernel.sum())[:n]
    np.maximum(speed, 0, out=speed)
    # Camera-like clock: nominal spacing with sub-ms jitter, always increasing.
    timestamps = np.arange(n) / rate + rng.uniform(0, 0.2 / rate, n)
    module = nwbfile.create_processing_module(name="behavior", description="running and position")
    module.add(
        TimeSeries(
            name="running_speed",
            data=speed,
            unit="cm/s",
            timestamps=timestamps,
            description="running wheel speed",
        )
    )
    angle = np.cumsum(rng.normal(0, 0.02, n))
    radius = 20 + 5 * np.sin(np.cumsum(rng.normal(0, 0.01, n)))
    xy = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    module.add(
        Position(
            spatial_series=SpatialSeries(
                name="position",
                data=xy,
                reference_frame="arena center, +x east, +y north",
                unit="cm",
                starting_time=0.0,
                rate=float(rate),
                description="head position (x, y)",
            )
        )
    )


def write_session(
    path: str | os.PathLike[str],
    *,
    session_index: int = 0,
    n_units: int = 40,
    spikes_per_unit: int = 5000,
    n_trials: int = 600,
    duration_s: float = 900.0,
    behavior_rate: float = 60.0,
    lfp_channels: int = 0,
    lfp_rate: float = 1000.0,
    n_electrodes: int = 64,
    seed: int = 0,
    layout: Layout = "contiguous",
    compression: str | None = None,
) -> pathlib.Path:
    """Write one synthetic NWB session to ``path`` (atomically) and return the path.

    Parameters
    ----------
    path
        Output file; written to a temporary name in the same directory, then renamed.
    session_index
        Which session of the lab: sets subject, session id, start time and every random stream.
    n_units, spikes_per_unit
        Units table size; ``spikes_per_unit`` is the mean (rates are log-normal across units).
        ``/units/spike_times`` takes ``8 * n_units * spikes_per_unit`` bytes.
    n_trials
        Rows of ``/intervals/trials``, spread evenly over the session.
    duration_s
        Session length: spikes, trials and behavior all fall in ``[0, duration_s)``.
    behavior_rate
        Sampling rate (Hz) of ``running_speed`` (explicit timestamps) and ``position`` (rate).
    lfp_channels, lfp_rate
        With ``lfp_channels > 0``, ``/acquisition/lfp`` holds an int16
        ``(duration_s * lfp_rate, lfp_channels)`` ElectricalSeries from :func:`generate_lfp`
        (``2 * lfp_channels * lfp_rate`` bytes per second, e.g. 768 kB/s for 384 channels).
    n_electrodes
        Rows of the electrodes table (raised to ``lfp_channels`` if that is larger).
    seed
        Everything is a pure function of ``(seed, session_index)`` and the knobs above.
    layout, compression
        ``"contiguous"`` (default): every dataset contiguous and uncompressed, as older pynwb
        wrote them and most archived files have them. ``"chunked"``: hdmf's current defaults
        (table columns chunked and resizable) and ~1 MB chunks for spike times and LFP, written
        through hdmf's iterative writer, optionally compressed (``compression="gzip"``).

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> p = write_session("one.nwb", n_units=10, spikes_per_unit=100, n_trials=20,
    ...                   duration_s=60.0, lfp_channels=4)
    >>> from pynwb import NWBHDF5IO
    >>> with NWBHDF5IO(p, "r") as io:
    ...     nwbfile = io.read()
    ...     nwbfile.units.to_dataframe().shape, nwbfile.acquisition["lfp"].data.shape
    ((10, 9), (60000, 4))
    """
    try:
        import h5py
        from pynwb import NWBHDF5IO, NWBFile
        from pynwb.ecephys import ElectricalSeries
        from pynwb.file import Subject
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "writing sample sessions needs pynwb: pip install intake-nwb[demo]"
        ) from exc

    if n_units < 1 or spikes_per_unit < 1 or n_trials < 1 or duration_s <= 0:
        raise ValueError("n_units, spikes_per_unit, n_trials and duration_s must be positive")
    if lfp_channels < 0 or behavior_rate <= 0 or lfp_rate <= 0:
        raise ValueError("lfp_channels must be >= 0 and rates positive")
    if layout not in ("contiguous", "chunked"):
        raise ValueError(f"layout must be 'contiguous' or 'chunked', not {layout!r}")
    if compression and layout != "chunked":
        raise ValueError("compression needs layout='chunked'")
    path = pathlib.Path(path)
    meta = _file_metadata(session_index, seed)
    nwbfile = NWBFile(
        session_description="Visual detection task with a Neuropixels probe in VISp and hippocampus"
        " (synthetic data from intake_nwb.sample)",
        identifier=meta["identifier"],
        session_start_time=meta["start"],
        file_create_date=meta["start"] + timedelta(hours=6),  # not "now": keep files reproducible
        session_id=meta["session_id"],
        experimenter=["Doe, Jane", "Roe, Richard"],
        lab="Sample Lab",
        institution="Example Institute of Neuroscience",
        experiment_description="Head-fixed mice report contrast changes by licking.",
        keywords=["ecephys", "Neuropixels", "visual cortex", "hippocampus", "synthetic"],
        subject=Subject(
            subject_id=meta["subject_id"],
            species="Mus musculus",
            sex=meta["sex"],
            age=meta["age"],
            date_of_birth=meta["dob"],
            genotype=meta["genotype"],
            strain="C57BL/6J",
            description="synthetic mouse",
        ),
    )
    n_electrodes = max(n_electrodes, lfp_channels)
    _add_electrodes(nwbfile, n_electrodes, _rng(seed, session_index, _ELECTRODES))

    deferred: list[_Deferred] = []
    counts = spike_counts(n_units, spikes_per_unit, seed=seed, session_index=session_index)
    spike_data = _big_data(
        _SpikeTimes(counts, duration_s, seed, session_index),
        (int(counts.sum()),),
        np.float64,
        h5path="/units/spike_times",
        layout=layout,
        compression=compression,
        chunk_rows=1 << 17,  # 1 MB
        buffer_rows=1 << 20,  # 8 MB
        deferred=deferred,
    )
    nwbfile.units = _units(
        nwbfile,
        counts=counts,
        duration_s=duration_s,
        spike_data=spike_data,
        n_electrodes=n_electrodes,
        rng=_rng(seed, session_index, _UNITS, 1),
    )
    nwbfile.trials = _trials(n_trials, duration_s, _rng(seed, session_index, _TRIALS))
    _add_behavior(nwbfile, duration_s, behavior_rate, _rng(seed, session_index, _BEHAVIOR))

    if lfp_channels:
        n_samples = int(duration_s * lfp_rate)
        row_bytes = 2 * lfp_channels
        chunk_rows = LFP_BLOCK * max(1, (1 << 20) // (LFP_BLOCK * row_bytes))

        def read_lfp(start: int, stop: int) -> np.ndarray:
            return generate_lfp(
                n_samples,
                lfp_channels,
                rate=lfp_rate,
                seed=seed,
                session_index=session_index,
                start=start,
                stop=stop,
            )

        nwbfile.add_acquisition(
            ElectricalSeries(
                name="lfp",
                description="LFP-band signal (synthetic theta + gamma + noise)",
                data=_big_data(
                    read_lfp,
                    (n_samples, lfp_channels),
                    np.int16,
                    h5path="/acquisition/lfp/data",
                    layout=layout,
                    compression=compression,
                    chunk_rows=chunk_rows,
                    buffer_rows=max(chunk_rows, (8 << 20) // row_bytes),
                    deferred=deferred,
                ),
                electrodes=nwbfile.create_electrode_table_region(
                    region=list(range(lfp_channels)), description="LFP channels"
                ),
                starting_time=0.0,
                rate=float(lfp_rate),
                conversion=LFP_CONVERSION,
                filtering="0.5-500 Hz band-pass",
            )
        )

    path.parent.mkdir(parents=True, exist_ok=True)
    # Hidden, but still ".nwb" so pynwb does not warn; globs for *.nwb skip dotfiles.
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        with NWBHDF5IO(tmp, "w") as io:
            io.write(nwbfile, **_write_options(io, layout))
        if deferred:
            with h5py.File(tmp, "r+") as f:
                for item in deferred:
                    dset = f[item.path]
                    for chunk in item.make_source():
                        dset[chunk.selection] = chunk.data
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_sample_lab(
    directory: str | os.PathLike[str],
    *,
    n_sessions: int = 3,
    size: str | int = "small",
    seed: int = 0,
    progress: bool = True,
    overwrite: bool = False,
    **session_kwargs: Any,
) -> list[pathlib.Path]:
    """Write ``n_sessions`` sample sessions into ``directory``; return their paths in order.

    Parameters
    ----------
    directory
        Created if missing. Files are named by :func:`session_filename`
        (``sub-001_ses-001.nwb``, ``sub-001_ses-002.nwb``, ``sub-002_ses-003.nwb``, ...).
    n_sessions
        Number of sessions; two per subject.
    size
        Per-session byte target (see :func:`parse_size`): ``"small"`` is ~1.8 MB per file
        (40 units, 300 s, 200 trials); ``"100MB"`` gives ~450 units over ~1 h, with about 90%
        of the bytes in ``/units/spike_times``. :func:`plan_session` shows the chosen knobs.
    seed
        Same seed, same lab (bit-for-bit data; HDF5 object layout may differ).
    progress
        Show a tqdm bar over sessions.
    overwrite
        Rewrite existing files; by default they are kept (and still returned).
    **session_kwargs
        Passed to :func:`write_session`, overriding the plan: e.g. ``lfp_channels=384,
        duration_s=3000`` adds ~2.3 GB of LFP per session for memory benchmarks, or
        ``layout="chunked", compression="gzip"``.

    Examples
    --------
    >>> paths = write_sample_lab("new-lab", n_sessions=2, progress=False)
    >>> [p.name for p in paths]
    ['sub-001_ses-001.nwb', 'sub-001_ses-002.nwb']
    >>> import h5py
    >>> paths = write_sample_lab("gzip-lab", n_sessions=1, layout="chunked", compression="gzip",
    ...                          progress=False)
    >>> with h5py.File(paths[0]) as f:
    ...     f["units/spike_times"].compression
    'gzip'
    """
    from tqdm.auto import tqdm

    if n_sessions < 0:
        raise ValueError("n_sessions must be >= 0")
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    kwargs = {**plan_session(size).as_kwargs(), **session_kwargs}
    paths = []
    for i in tqdm(range(n_sessions), desc="sample lab", unit="session", disable=not progress):
        path = directory / session_filename(i)
        if overwrite or not path.exists():
            write_session(path, session_index=i, seed=seed, **kwargs)
        paths.append(path)
    return paths

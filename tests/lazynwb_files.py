"""Small pynwb files with what lazynwb users reach for: units with ragged spike times (one
unit's unsorted), several observation intervals per unit, per-row 2-D waveforms, trials with a
NaN stop time, rate-based and timestamped series, every session field lazynwb reads, two
tables of the same name (for ambiguity), and a file without units."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np


def write_session(path: Path, index: int, *, units: bool = True) -> Path:
    from hdmf.common import DynamicTable, VectorData
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.file import Subject

    rng = np.random.default_rng(index)
    nwb = NWBFile(
        session_description=f"session {index}", identifier=f"lz-{index}",
        session_start_time=datetime(2024, 3, 1 + index, 9, 30, tzinfo=UTC),
        session_id=f"ses-{index}", experimenter=["Doe, Jane"], lab="Lab",
        institution="Institute", keywords=["a", "b"], experiment_description="exp",
        related_publications=["doi:10/x", "doi:10/y"], notes=f"notes {index}",
        data_collection="dc", surgery="surgery", pharmacology="none", virus="AAV",
        source_script="print(1)", source_script_file_name="make.py",
        subject=Subject(subject_id=f"m{index}", species="Mus musculus", sex="F", age="P90D",
                        age__reference="gestational" if index else "birth"))
    nwb.add_trial_column("go", "go trial")
    for k in range(12):
        start = k * 8.0
        nwb.add_trial(start_time=start, stop_time=np.nan if k == 5 else start + 6.0,
                      go=bool(k % 2))
    if units:
        nwb.add_unit_column("quality", "curation label")
        nwb.add_unit_column("waveform", "mean waveform, 3 channels x 2 samples")
        for u in range(5):
            spikes = np.sort(rng.uniform(0, 100, 300 + 20 * u))
            if u == 2:
                spikes = spikes[::-1].copy()  # NWB does not require sorted spike times
            obs = [[0.0, 30.0], [45.0, 100.0]] if u != 4 else [[10.0, 70.0]]
            nwb.add_unit(spike_times=spikes, obs_intervals=obs, quality=["good", "mua"][u % 2],
                         waveform=rng.normal(size=(3, 2)))
    nwb.add_acquisition(TimeSeries(name="running", data=rng.normal(size=(400, 2)), unit="cm/s",
                                   starting_time=0.5, rate=20.0, description="speed"))
    nwb.add_acquisition(TimeSeries(name="licks", data=np.ones(25), unit="a.u.",
                                   timestamps=np.sort(rng.uniform(0, 90, 25))))
    for module in ("left", "right"):
        mod = nwb.create_processing_module(module, f"{module} side")
        mod.add(DynamicTable(name="events", description=f"{module} events", columns=[
            VectorData(name="t", data=[1.0, 2.0], description="time")]))
    path.parent.mkdir(parents=True, exist_ok=True)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def write_lab(directory: Path) -> list[Path]:
    """Three sessions with units and one without (last)."""
    return [write_session(directory / f"ses-{i}.nwb", i, units=i < 3) for i in range(4)]

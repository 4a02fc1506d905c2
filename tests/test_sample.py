"""The sample lab: pynwb reads back what intake_nwb.sample promises to write."""

from __future__ import annotations

import os
import pathlib
import warnings

import numpy as np
import pytest

from intake_nwb import sample

pynwb = pytest.importorskip("pynwb")
h5py = pytest.importorskip("h5py")

# Small but realistic: enough rows to make every column non-trivial, fast enough to write twice.
SMALL = {"n_units": 12, "spikes_per_unit": 400, "n_trials": 30, "duration_s": 60.0}


def _read(path: pathlib.Path):
    """Open with pynwb; the caller closes the returned io."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pynwb warns about cached vs installed namespaces
        io = pynwb.NWBHDF5IO(str(path), "r")
        return io, io.read()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> list[pathlib.Path]:
    out = tmp_path_factory.mktemp("lab")
    return sample.write_sample_lab(out, n_sessions=2, seed=7, progress=False, **SMALL)


def test_lab_files(lab: list[pathlib.Path]) -> None:
    assert [p.name for p in lab] == ["sub-001_ses-001.nwb", "sub-001_ses-002.nwb"]
    assert all(p.is_file() for p in lab)
    # No temporary files left behind by the atomic write.
    assert sorted(os.listdir(lab[0].parent)) == [p.name for p in lab]


def test_metadata(lab: list[pathlib.Path]) -> None:
    starts = []
    for i, path in enumerate(lab):
        io, nwb = _read(path)
        with io:
            assert nwb.session_id == f"{i + 1:03d}"
            assert nwb.identifier and nwb.session_description
            assert nwb.session_start_time.tzinfo is not None
            assert list(nwb.experimenter) == ["Doe, Jane", "Roe, Richard"]
            assert nwb.lab and nwb.institution
            assert "ecephys" in list(nwb.keywords[:])
            subject = nwb.subject
            assert subject.subject_id == "001"
            assert subject.species == "Mus musculus"
            assert subject.sex in {"M", "F"}
            assert subject.age == f"P{(nwb.session_start_time - subject.date_of_birth).days}D"
            assert subject.genotype and subject.strain
            starts.append(nwb.session_start_time)
    assert starts[0] != starts[1]


def test_electrodes(lab: list[pathlib.Path]) -> None:
    io, nwb = _read(lab[0])
    with io:
        df = nwb.electrodes.to_dataframe()
        assert len(df) == 64
        assert {"x", "y", "z", "location", "group_name", "probe_channel"} <= set(df.columns)
        assert df["probe_channel"].tolist() == list(range(64))
        assert set(df["location"]) <= {"DG", "CA1", "alveus", "VISp"}
        assert {"CA1", "VISp"} <= set(df["location"])
        assert set(df["group_name"]) == set(nwb.electrode_groups)
        assert "ProbeA" in nwb.devices


def test_units(lab: list[pathlib.Path]) -> None:
    io, nwb = _read(lab[0])
    with io:
        units = nwb.units
        df = units.to_dataframe(index=True)  # electrodes as row indices, not nested frames
        n = SMALL["n_units"]
        assert len(df) == n
        expected = {
            "spike_times",
            "electrodes",
            "waveform_mean",
            "presence_ratio",
            "isi_violations",
            "amplitude",
            "firing_rate",
            "decoder_label",
            "quality",
        }
        assert set(df.columns) == expected
        # Ragged: one sorted float64 array per unit, the index ends at the data's length.
        index = units["spike_times"].data[:]
        assert units["spike_times"].target.data.dtype == np.float64
        counts = np.diff(np.concatenate([[0], index]))
        assert len(set(counts)) > 1 and counts.min() >= 1
        for count, times in zip(counts, df["spike_times"], strict=True):
            assert len(times) == count
            assert np.all(np.diff(times) > 0)
            assert times[0] >= 0 and times[-1] < SMALL["duration_s"]
        assert index[-1] == len(units["spike_times"].target.data)
        np.testing.assert_allclose(df["firing_rate"], counts / SMALL["duration_s"])
        # One electrode per unit, pointing into the electrodes table.
        assert all(len(e) == 1 and 0 <= e[0] < 64 for e in df["electrodes"])
        waveforms = units["waveform_mean"].data
        assert waveforms.shape == (n, sample.WAVEFORM_SAMPLES) and waveforms.dtype == np.float32
        assert df["presence_ratio"].between(0, 1).all()
        assert set(df["decoder_label"]) <= {"sua", "mua", "noise"}
        assert set(df["quality"]) <= {"good", "mua"}
        assert ((df["decoder_label"] == "sua") == (df["quality"] == "good")).all()


def test_quality_metrics_distribution(tmp_path: pathlib.Path) -> None:
    kwargs = {"n_units": 400, "spikes_per_unit": 5, "n_trials": 3, "duration_s": 5.0}
    path = sample.write_session(tmp_path / "many.nwb", **kwargs)
    io, nwb = _read(path)
    with io:
        df = nwb.units.to_dataframe(index=True)
    assert 0.4 < (df["presence_ratio"] >= 0.9).mean() < 0.6
    assert set(df["decoder_label"]) == {"sua", "mua", "noise"}
    assert (df["isi_violations"] >= 0).all() and (df["amplitude"] > 0).all()


def test_trials(lab: list[pathlib.Path]) -> None:
    io, nwb = _read(lab[1])
    with io:
        df = nwb.trials.to_dataframe()
        assert len(df) == SMALL["n_trials"]
        assert list(df.columns) == [
            "start_time",
            "stop_time",
            "stim_name",
            "contrast",
            "response",
            "reaction_time",
        ]
        assert (df["stop_time"] > df["start_time"]).all()
        assert (df["start_time"].diff().dropna() > 0).all()
        assert df["stop_time"].max() <= SMALL["duration_s"]
        assert df["response"].dtype == bool
        assert set(df["stim_name"]) <= {"gratings", "natural_images", "blank"}
        assert df["contrast"].between(0, 1).all()
        # Reaction times exist exactly for responses.
        assert (df["reaction_time"].notna() == df["response"]).all()


def test_behavior(lab: list[pathlib.Path]) -> None:
    io, nwb = _read(lab[0])
    with io:
        behavior = nwb.processing["behavior"]
        n = int(SMALL["duration_s"] * 60.0)
        speed = behavior["running_speed"]
        assert speed.data.shape == (n,) and speed.timestamps.shape == (n,)
        ts = speed.timestamps[:]
        assert ts.dtype == np.float64 and np.all(np.diff(ts) > 0)
        np.testing.assert_allclose(ts, np.arange(n) / 60.0, atol=0.2 / 60.0)
        assert speed.rate is None and (speed.data[:] >= 0).all()
        position = behavior["Position"]["position"]
        assert position.data.shape == (n, 2)
        assert position.timestamps is None
        assert position.rate == 60.0 and position.starting_time == 0.0


def test_default_layout_is_contiguous(lab: list[pathlib.Path]) -> None:
    with h5py.File(lab[0], "r") as f:
        for name in ("units/spike_times", "units/id", "intervals/trials/start_time"):
            assert f[name].chunks is None and f[name].compression is None, name


def test_deterministic(lab: list[pathlib.Path], tmp_path: pathlib.Path) -> None:
    again = sample.write_session(tmp_path / "again.nwb", session_index=0, seed=7, **SMALL)
    other = sample.write_session(tmp_path / "other.nwb", session_index=0, seed=8, **SMALL)
    frames = []
    for path in (lab[0], again, other):
        io, nwb = _read(path)
        with io:
            frames.append(
                (nwb.units.to_dataframe(index=True), nwb.trials.to_dataframe(), nwb.identifier)
            )
    (units_a, trials_a, id_a), (units_b, trials_b, id_b), (units_c, _, id_c) = frames
    for col in units_a.columns:
        for a, b in zip(units_a[col], units_b[col], strict=True):
            np.testing.assert_array_equal(a, b)
    assert trials_a.equals(trials_b) and id_a == id_b
    assert id_c != id_a
    assert not np.array_equal(units_a["spike_times"].iloc[0], units_c["spike_times"].iloc[0])


def test_lfp_matches_generator(tmp_path: pathlib.Path) -> None:
    kwargs = {**SMALL, "duration_s": 3.5, "n_trials": 5}
    path = sample.write_session(tmp_path / "lfp.nwb", lfp_channels=8, lfp_rate=1000.0, **kwargs)
    io, nwb = _read(path)
    with io:
        lfp = nwb.acquisition["lfp"]
        assert isinstance(lfp, pynwb.ecephys.ElectricalSeries)
        data = lfp.data[:]
        assert data.shape == (3500, 8) and data.dtype == np.int16
        assert lfp.rate == 1000.0 and lfp.starting_time == 0.0
        assert lfp.electrodes.data[:].tolist() == list(range(8))
        expected = sample.generate_lfp(3500, 8, rate=1000.0, seed=0, session_index=0)
        np.testing.assert_array_equal(data, expected)
        assert data.std() > 10  # not all zeros or clipped noise
    # Any row range of the generator equals the same rows of the whole (block seeding).
    part = sample.generate_lfp(3500, 8, start=1000, stop=2100)
    np.testing.assert_array_equal(part, expected[1000:2100])


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_chunked_layout_same_data(tmp_path: pathlib.Path, compression: str | None) -> None:
    kwargs = {**SMALL, "duration_s": 3.0, "n_trials": 5, "lfp_channels": 4}
    a = sample.write_session(tmp_path / "a.nwb", **kwargs)
    b = sample.write_session(
        tmp_path / "b.nwb", layout="chunked", compression=compression, **kwargs
    )
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        for name in ("units/spike_times", "acquisition/lfp/data"):
            assert fa[name].chunks is None
            assert fb[name].chunks is not None and fb[name].compression == compression
            np.testing.assert_array_equal(fa[name][()], fb[name][()])


def test_skip_and_overwrite(tmp_path: pathlib.Path) -> None:
    kwargs = {**SMALL, "n_units": 3, "duration_s": 5.0, "n_trials": 3}
    (path,) = sample.write_sample_lab(tmp_path, n_sessions=1, progress=False, **kwargs)
    os.utime(path, (0, 0))
    sample.write_sample_lab(tmp_path, n_sessions=1, progress=False, **kwargs)
    assert path.stat().st_mtime == 0  # kept
    sample.write_sample_lab(tmp_path, n_sessions=1, progress=False, overwrite=True, **kwargs)
    assert path.stat().st_mtime > 0


def test_failed_write_leaves_nothing(tmp_path: pathlib.Path, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("generator failed")

    # Fails in the h5py fill, after pynwb has written the temporary file.
    monkeypatch.setattr(sample, "generate_lfp", broken)
    with pytest.raises(RuntimeError, match="generator failed"):
        sample.write_session(tmp_path / "bad.nwb", lfp_channels=2, **{**SMALL, "duration_s": 2.0})
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="layout"):
        sample.write_session(tmp_path / "bad.nwb", layout="nonsense")  # type: ignore[arg-type]


def test_parse_size() -> None:
    assert sample.parse_size("small") == sample.SMALL_BYTES
    assert sample.parse_size("100MB") == 100_000_000
    assert sample.parse_size("2GB") == 2_000_000_000
    assert sample.parse_size("2 GiB") == 2 * 1024**3
    assert sample.parse_size("1.5k") == 1500
    assert sample.parse_size(12345) == 12345
    for bad in ("huge", "-1MB", "0", 0):
        with pytest.raises(ValueError):
            sample.parse_size(bad)


def test_plan_session() -> None:
    small = sample.plan_session("small")
    assert (small.n_units, small.n_trials, small.duration_s) == (40, 200, 300.0)
    big = sample.plan_session("100MB")
    spike_bytes = 8 * big.n_units * big.spikes_per_unit
    assert 0.85 < spike_bytes / 100e6 < 0.95
    assert big.n_trials == 600 and big.duration_s > small.duration_s

"""Local files are translated in worker interpreters (h5py serialises threads): same references
as in this thread, failures named as before, and a script without a ``__main__`` guard is not
started again by its workers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

import intake_nwb
from intake_nwb.config import config
from intake_nwb.errors import NotNWBError
from intake_nwb.refs.index import FILES_PER_PROCESS, _processes
from intake_nwb.sample import write_session
from intake_nwb.util.processes import ProcessWorkers


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    folder = tmp_path_factory.mktemp("sessions")
    first = write_session(folder / "ses-00.nwb", n_units=5, spikes_per_unit=50, n_trials=10,
                          duration_s=20.0, behavior_rate=5.0, n_electrodes=4)
    return [str(first)] + [str(shutil.copy(first, folder / f"ses-{i:02d}.nwb"))
                           for i in range(1, 6)]


def _docs(refs: dict[str, str]) -> dict[str, dict]:
    return {src: json.loads(Path(path).read_text())["refs"] for src, path in refs.items()}


def test_workers_write_the_references_this_thread_writes(sessions: list[str],
                                                         tmp_path: Path) -> None:
    with config.set(index_processes=1):
        here = intake_nwb.index(sessions, refs_dir=tmp_path / "here", progress=False)
    with config.set(index_processes=2):
        there = intake_nwb.index(sessions, refs_dir=tmp_path / "there", progress=False)
    assert list(here) == list(there) == sessions
    assert _docs(here) == _docs(there)
    units = intake_nwb.scan_nwb(sessions, "/units", refs_dir=tmp_path / "there").collect()
    assert units.height == 6 * 5


def test_worker_failures_name_the_file(sessions: list[str], tmp_path: Path) -> None:
    bad = tmp_path / "broken.nwb"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 600)  # an HDF5 signature, then nothing
    with config.set(index_processes=2), pytest.raises(NotNWBError) as err:
        intake_nwb.index([*sessions, str(bad)], refs_dir=tmp_path / "refs", progress=False)
    assert err.value.source == str(bad) and "truncated or corrupt" in str(err.value)
    assert len(list((tmp_path / "refs").glob("*.json"))) == len(sessions)  # the others made


def test_a_script_without_a_main_guard_runs_once(sessions: list[str], tmp_path: Path) -> None:
    script = tmp_path / "unguarded.py"
    script.write_text(textwrap.dedent(f"""
        import intake_nwb
        print("started", flush=True)
        intake_nwb.config.index_processes = 2
        refs = intake_nwb.index({sessions!r}, refs_dir={str(tmp_path / "refs")!r},
                                progress=False)
        print("indexed", len(refs))
    """))
    # The package as this test imports it, installed or not.
    env = {**os.environ, "PYTHONPATH": str(Path(intake_nwb.__file__).parents[1])}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=120, check=True, cwd=tmp_path, env=env)
    assert out.stdout.split("\n")[:2] == ["started", f"indexed {len(sessions)}"], out.stdout


def test_processes_pay_for_themselves() -> None:
    with config.set(index_processes=None, max_workers=16):
        assert _processes(FILES_PER_PROCESS - 1) == 1  # a handful of files: this thread
        assert 1 <= _processes(1000) <= (os.cpu_count() or 1)


def test_only_package_functions_run_in_workers() -> None:
    with ProcessWorkers(1) as pool, pytest.raises(ValueError, match="intake_nwb only"):
        pool.submit(json.dumps, {})


def test_workers_end_with_the_batch(sessions: list[str], tmp_path: Path) -> None:
    import threading

    # Servers other tests of this worker started are children too: only new ones count.
    before = {t.ident for t in threading.enumerate()}
    children_before = {p.pid for p in psutil.Process().children()}
    with config.set(index_processes=2):
        intake_nwb.index(sessions, refs_dir=tmp_path, progress=False)
    assert not [t for t in threading.enumerate() if t.ident not in before and t.is_alive()]
    assert not [p for p in psutil.Process().children()
                if p.pid not in children_before and p.is_running()
                and p.status() != psutil.STATUS_ZOMBIE]

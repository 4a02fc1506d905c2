"""The docstring examples of ``intake_nwb`` (``--doctest-modules``) run in a small sample lab.

Each doctest runs in a folder holding ``lab/*.nwb`` (four sessions of
:func:`intake_nwb.sample.write_sample_lab`, two subjects, with a 4-channel ``/acquisition/lfp``),
``lab/catalog.yaml`` built from them, ``session.nwb`` (a copy of the first session) and
``movie.nwb`` (an ImageSeries of frames in two external files). The folder is written once per
test process; reference files go to a folder of their own instead of the user cache.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def sample_lab_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import intake_nwb
    from intake_nwb.sample import write_sample_lab

    root = tmp_path_factory.mktemp("doctest-lab")
    paths = write_sample_lab(root / "lab", n_sessions=4, lfp_channels=4, progress=False)
    shutil.copy(paths[0], root / "session.nwb")
    intake_nwb.build_catalog(str(root / "lab/*.nwb"), root / "lab/catalog.yaml", progress=False)
    _write_movie(root / "movie.nwb")
    return root


def _write_movie(path: Path) -> None:
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.image import ImageSeries

    nwbfile = NWBFile(session_description="behavior video in two files", identifier="movie",
                      session_start_time=datetime(2024, 1, 1, tzinfo=UTC))
    nwbfile.add_acquisition(ImageSeries(
        name="behavior_video", description="side camera", unit="n.a.", format="external",
        external_file=["m1.avi", "m2.avi"], starting_frame=[0, 3],
        timestamps=[0.0, 0.1, 0.2, 0.3, 0.4, 0.5]))
    with NWBHDF5IO(path, "w") as io:
        io.write(nwbfile)


@pytest.fixture(autouse=True)
def _doctest_in_sample_lab(request: pytest.FixtureRequest,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    if not isinstance(request.node, pytest.DoctestItem):
        return
    root = request.getfixturevalue("sample_lab_dir")
    monkeypatch.chdir(root)
    monkeypatch.setenv("INTAKE_NWB_REFS_DIR", str(root / "refs"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Docstrings whose every example is ``+SKIP`` (they need the DANDI archive) are documentation,
    not tests: they are not collected, so CI reports no skips. ``pytest -m network
    tests/test_dandi.py`` runs the same calls against the archive."""
    import doctest

    items[:] = [item for item in items if not (
        isinstance(item, pytest.DoctestItem) and item.dtest.examples
        and all(e.options.get(doctest.SKIP) for e in item.dtest.examples))]

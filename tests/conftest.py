"""Shared fixtures: the real NWB files, a session-wide reference cache, local servers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA_DIR = Path(os.environ.get("INTAKE_NWB_TEST_DATA",
                               Path(__file__).resolve().parents[1].parent / "shared/data/nwb"))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# pynwb cannot read these two (see SOURCES.md); we still read them
PYNWB_FAILS = {"matnwb/ecephys_tutorial.nwb", "ndx-events/test_events.nwb"}

pytest_plugins = ["tests.servers_fixtures"] if (Path(__file__).parent /
                                                "servers_fixtures.py").exists() else []


def real_hdf5_files() -> list[Path]:
    files = sorted(DATA_DIR.glob("*/*.nwb"))
    if not files:
        if IN_CI:
            raise RuntimeError(f"no real NWB files in {DATA_DIR}: CI must have them")
        return []
    return files


def real_zarr_stores() -> list[Path]:
    return sorted(DATA_DIR.glob("*/*.nwb.zarr"))


def rel(path: Path) -> str:
    return str(path.relative_to(DATA_DIR))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA_DIR.exists():
        if IN_CI:
            pytest.fail(f"real NWB data missing at {DATA_DIR}")
        pytest.skip(f"real NWB data missing at {DATA_DIR}")
    return DATA_DIR


@pytest.fixture(scope="session")
def refs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One reference cache for the session: each real file is indexed once."""
    return tmp_path_factory.mktemp("refs")


@pytest.fixture(scope="session")
def real_refs(data_dir: Path, refs_dir: Path) -> dict[str, str]:
    import intake_nwb

    return intake_nwb.index([str(p) for p in real_hdf5_files()], refs_dir=refs_dir,
                            progress=False)

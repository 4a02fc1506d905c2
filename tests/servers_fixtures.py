"""Session-scoped pytest fixtures that run real local storage servers on 127.0.0.1.

``tests/conftest.py`` registers this module as a plugin (``pytest_plugins =
["tests.servers_fixtures"]``); importing the fixtures by name there works too.

A missing emulator (executable or fsspec backend) skips the tests that need it, with the install
command as the reason; with ``CI=true`` it fails them instead, so CI cannot go green by skipping.
An emulator that is installed but fails to start always fails.

Importing this module (through ``tests.support.servers``) also sets
``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false`` before gcsfs is imported; see that module.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import NoReturn, TypeVar

import pytest

from tests.support.http_server import RangeHTTPServer
from tests.support.servers import (
    AzuriteBlobServer,
    EmulatorNotFoundError,
    EmulatorServer,
    GCSEmulatorServer,
    MotoS3Server,
)

__all__ = ["azure_server", "gcs_server", "http_server", "on_ci", "s3_server"]

_S = TypeVar("_S", bound=EmulatorServer)


def on_ci() -> bool:
    """True when running under CI (``CI=true``), where missing servers must fail, not skip."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _unavailable(reason: str) -> NoReturn:
    if on_ci():
        pytest.fail(
            f"{reason}\n(CI is set: a missing server fails instead of skipping)", pytrace=False
        )
    pytest.skip(reason)


@contextlib.contextmanager
def _running(server: _S) -> Iterator[_S]:
    missing = None
    try:
        server.start()
    except EmulatorNotFoundError as exc:
        missing = str(exc)
    if missing is not None:  # outside the except: no chained traceback in the report
        _unavailable(missing)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RangeHTTPServer]:
    """A Range-capable HTTP server over an empty temp directory (``.root``); no latency.

    Shared by the session: a test that changes ``latency`` or injects faults calls
    ``http_server.reset()`` when done.
    """
    with RangeHTTPServer(tmp_path_factory.mktemp("http-root")) as srv:
        yield srv


@pytest.fixture(scope="session")
def s3_server() -> Iterator[MotoS3Server]:
    """moto_server with bucket ``intake-nwb-test``; ``s3fs`` options in ``.storage_options``."""
    with _running(MotoS3Server()) as srv:
        yield srv


@pytest.fixture(scope="session")
def azure_server() -> Iterator[AzuriteBlobServer]:
    """Azurite blob service with container ``intake-nwb-test``; ``adlfs`` options."""
    with _running(AzuriteBlobServer()) as srv:
        yield srv


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[GCSEmulatorServer]:
    """gcp-storage-emulator (in memory) with bucket ``intake-nwb-test``; ``gcsfs`` options."""
    with _running(GCSEmulatorServer()) as srv:
        yield srv

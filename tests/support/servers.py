"""Real local object-store emulators as subprocesses on free ``127.0.0.1`` ports.

Each class starts one emulator, waits until it answers HTTP, creates a bucket/container and
exposes what fsspec needs::

    with MotoS3Server() as s3:
        url = s3.upload("sample.nwb", "dir/sample.nwb")      # "s3://intake-nwb-test/dir/sample.nwb"
        fs = fsspec.filesystem("s3", **s3.storage_options)
        fs.cat_file(url, start=0, end=8)

==========================  ========================  ===========  =========================
class                       executable                fsspec impl  URL
==========================  ========================  ===========  =========================
:class:`MotoS3Server`       ``moto_server`` (PyPI)    s3fs         ``s3://bucket/key``
:class:`AzuriteBlobServer`  ``azurite-blob`` (npm)    adlfs        ``az://container/key``
:class:`GCSEmulatorServer`  ``gcp-storage-emulator``  gcsfs        ``gs://bucket/key``
==========================  ========================  ===========  =========================

A missing executable raises :class:`EmulatorNotFoundError` (with the install command); an
emulator that exits or does not answer within ``startup_timeout`` raises
:class:`EmulatorStartError` with the tail of its log.

Importing this module sets ``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false`` unless already set: since
gcsfs 2025.x the default ``GCSFileSystem`` probes every bucket's layout over gRPC, which an
HTTP-only emulator cannot answer (60 s of retries per operation). It must happen before gcsfs is
imported, so import this module (or the test fixtures) early.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from typing import Any, ClassVar, Self

__all__ = [
    "AZURITE_ACCOUNT_KEY",
    "AZURITE_ACCOUNT_NAME",
    "AzuriteBlobServer",
    "EmulatorError",
    "EmulatorNotFoundError",
    "EmulatorServer",
    "EmulatorStartError",
    "GCSEmulatorServer",
    "MotoS3Server",
    "find_executable",
    "free_port",
]

# Well-known Azurite development account (public, documented by Microsoft; not a secret).
AZURITE_ACCOUNT_NAME = "devstoreaccount1"
AZURITE_ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
DEFAULT_BUCKET = "intake-nwb-test"
_HOST = "127.0.0.1"

os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")


class EmulatorError(RuntimeError):
    """Base class for emulator failures."""


class EmulatorNotFoundError(EmulatorError, FileNotFoundError):
    """The emulator's executable (or the fsspec backend that talks to it) is not installed."""


class EmulatorStartError(EmulatorError):
    """The emulator started but exited or never became ready."""


def free_port(host: str = _HOST) -> int:
    """A port that was free a moment ago (the emulator binds it; we retry on a lost race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def find_executable(
    name: str, *, env_var: str | None = None, extra_dirs: tuple[Path, ...] = ()
) -> str | None:
    """Locate ``name``: ``$env_var``, next to this interpreter, ``PATH``, then ``extra_dirs``.

    Next-to-interpreter comes before PATH so a virtualenv's own ``moto_server`` wins over a
    shim (pyenv shims add ~100 ms and may pick another Python).
    """
    if env_var and os.environ.get(env_var):
        explicit = os.environ[env_var]
        return explicit if os.access(explicit, os.X_OK) else None
    candidates = [Path(sys.executable).parent / name]
    found = shutil.which(name)
    if found:
        candidates.append(Path(found))
    candidates += [d / name for d in extra_dirs]
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    return None


def _http_answers(url: str) -> bool:
    """True once anything answers HTTP at ``url`` (any status counts as "up")."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    try:
        with opener.open(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


class EmulatorServer:
    """Base class: run an emulator subprocess, wait for it, offer fsspec options and uploads.

    Subclasses set the class attributes and implement :meth:`_command`,
    :attr:`storage_options` and :meth:`url_for`.
    """

    name: ClassVar[str] = "emulator"
    protocol: ClassVar[str] = ""
    executable_name: ClassVar[str] = ""
    executable_env_var: ClassVar[str] = ""
    install_hint: ClassVar[str] = ""
    probe_path: ClassVar[str] = "/"

    def __init__(
        self,
        bucket: str = DEFAULT_BUCKET,
        *,
        startup_timeout: float = 60.0,
        executable: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.startup_timeout = startup_timeout
        self._executable = executable
        self._proc: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self._tmpdir: Path | None = None
        self._log: Any = None
        self._fs: Any = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Self:
        """Start the emulator, wait until it answers, create :attr:`bucket`; returns ``self``."""
        if self._proc is not None:
            return self
        extra = self._extra_dirs()
        exe = self._executable or find_executable(
            self.executable_name, env_var=self.executable_env_var, extra_dirs=extra
        )
        if exe is None:
            env_value = os.environ.get(self.executable_env_var)
            first = f"${self.executable_env_var}" + (f"={env_value!r}" if env_value else "")
            where = ", ".join([first, f"next to {sys.executable}", "PATH"])
            where += "".join(f", {d}" for d in extra)
            raise EmulatorNotFoundError(
                f"{self.name}: executable {self.executable_name!r} not found (looked at {where}). "
                f"Install it with: {self.install_hint}"
            )
        self._check_backend()
        self._tmpdir = Path(tempfile.mkdtemp(prefix=f"intake-nwb-{self.protocol}-"))
        try:
            # A free port can be taken between probing and binding: retry on a fresh one.
            for attempt in range(3):
                if self._spawn(exe):
                    break
                if attempt == 2 or not self._lost_port_race():
                    raise EmulatorStartError(self._failure_message("exited during startup"))
                self._cleanup_process()
            atexit.register(self.stop)
            self.create_bucket(self.bucket)
            if self._proc is None or self._proc.poll() is not None:
                # Someone else answered on "our" port while the emulator failed to bind it.
                raise EmulatorStartError(self._failure_message("exited after startup"))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Terminate the emulator (its whole process group) and remove its temp directory."""
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        self._fs = None
        self._cleanup_process()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, exe: str) -> bool:
        """Start the process on a fresh port; True when ready, False when it exited early."""
        assert self._tmpdir is not None
        self._port = free_port()
        workdir = self._tmpdir / "data"
        workdir.mkdir(exist_ok=True)
        self._log = open(self._tmpdir / "server.log", "wb")  # noqa: SIM115 - closed in cleanup
        self._proc = subprocess.Popen(
            self._command(exe, self._port, workdir),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env=self._env(),
            # Own process group: Ctrl-C in pytest does not hit it, and stop() can end the
            # emulator together with any helper it forked, by group id.
            start_new_session=True,
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False
            if _http_answers(self.endpoint + self.probe_path):
                return True
            time.sleep(0.1)
        raise EmulatorStartError(
            self._failure_message(f"did not answer within {self.startup_timeout:.0f} s")
        )

    def _cleanup_process(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_text(self, tail: int = 4000) -> str:
        """The last ``tail`` characters of the emulator's combined stdout/stderr."""
        if self._tmpdir is None or not (self._tmpdir / "server.log").exists():
            return ""
        text = (self._tmpdir / "server.log").read_text(errors="replace")
        return text[-tail:]

    def _lost_port_race(self) -> bool:
        log = self.log_text().lower()
        return "address already in use" in log or "eaddrinuse" in log

    def _failure_message(self, what: str) -> str:
        code = self._proc.returncode if self._proc is not None else None
        return (
            f"{self.name} {what} (port {self._port}, exit code {code}). "
            f"Log tail:\n{self.log_text() or '<empty>'}"
        )

    def _check_backend(self) -> None:
        """Fail before spawning anything if the fsspec backend is not importable."""
        import fsspec

        try:
            fsspec.get_filesystem_class(self.protocol)
        except ImportError as exc:
            raise EmulatorNotFoundError(
                f"{self.name}: the fsspec backend for {self.protocol}:// is missing ({exc}). "
                f"Install it with: {self.install_hint}"
            ) from exc

    # -- to override ------------------------------------------------------------------------

    def _command(self, exe: str, port: int, workdir: Path) -> list[str]:
        raise NotImplementedError

    def _env(self) -> dict[str, str]:
        return dict(os.environ)

    def _extra_dirs(self) -> tuple[Path, ...]:
        """Directories searched after PATH for the executable."""
        return ()

    @property
    def storage_options(self) -> dict[str, Any]:
        """Keyword arguments for ``fsspec.filesystem(protocol, **storage_options)``."""
        raise NotImplementedError

    def url_for(self, key: str, bucket: str | None = None) -> str:
        """fsspec URL of ``key`` in ``bucket`` (default :attr:`bucket`)."""
        return f"{self.protocol}://{bucket or self.bucket}/{key.lstrip('/')}"

    # -- shared API -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None or self._proc is None:
            raise RuntimeError(f"{self.name} is not running")
        return self._port

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT``."""
        if self._port is None:
            raise RuntimeError(f"{self.name} is not running")
        return f"http://{_HOST}:{self._port}"

    def filesystem(self, **overrides: Any) -> Any:
        """A new (uncached) fsspec filesystem for this emulator."""
        import fsspec

        opts = {**self.storage_options, **overrides}
        return fsspec.filesystem(self.protocol, skip_instance_cache=True, **opts)

    @property
    def fs(self) -> Any:
        """The filesystem this helper uses for uploads (created once per start)."""
        if self._fs is None:
            self._fs = self.filesystem()
        return self._fs

    def create_bucket(self, name: str) -> None:
        """Create a bucket/container if it does not exist yet."""
        if not self.fs.exists(name):
            self.fs.mkdir(name)
        self.fs.invalidate_cache()

    def upload(
        self, local_path: str | os.PathLike[str], key: str, bucket: str | None = None
    ) -> str:
        """Upload a local file as ``key``; returns its URL (see :meth:`url_for`)."""
        url = self.url_for(key, bucket)
        self.fs.put_file(os.fspath(local_path), url)
        self.fs.invalidate_cache()
        return url

    def upload_bytes(self, data: bytes, key: str, bucket: str | None = None) -> str:
        """Store ``data`` as ``key``; returns its URL."""
        url = self.url_for(key, bucket)
        self.fs.pipe_file(url, data)
        self.fs.invalidate_cache()
        return url

    def __repr__(self) -> str:
        where = self.endpoint if self._proc is not None else "stopped"
        return f"<{type(self).__name__} {where} bucket={self.bucket!r}>"


class MotoS3Server(EmulatorServer):
    """S3 via ``moto_server`` (``pip install 'moto[server]'``), read with s3fs."""

    name = "moto S3 server"
    protocol = "s3"
    executable_name = "moto_server"
    executable_env_var = "INTAKE_NWB_MOTO_SERVER"
    install_hint = "pip install 'moto[server]' s3fs boto3"
    probe_path = "/"
    region = "us-east-1"

    def _command(self, exe: str, port: int, workdir: Path) -> list[str]:
        return [exe, "-H", _HOST, "-p", str(port)]

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        # moto signs nothing, but botocore inside it must not look for real credentials.
        env.setdefault("AWS_ACCESS_KEY_ID", "testing")
        env.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        env.setdefault("AWS_DEFAULT_REGION", self.region)
        return env

    @property
    def storage_options(self) -> dict[str, Any]:
        return {
            "key": "testing",
            "secret": "testing",
            "endpoint_url": self.endpoint,
            "client_kwargs": {"region_name": self.region},
        }

    def create_bucket(self, name: str) -> None:
        # Not fs.mkdir(): s3fs sends LocationConstraint=us-east-1, which S3 (and moto) reject.
        if not self.fs.exists(name):
            self.fs.call_s3("create_bucket", Bucket=name)
        self.fs.invalidate_cache()

    def reset(self) -> None:
        """Drop every bucket and object (moto's own reset API), then recreate :attr:`bucket`."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        req = urllib.request.Request(self.endpoint + "/moto-api/reset", method="POST")
        with opener.open(req, timeout=10):
            pass
        self.fs.invalidate_cache()
        self.create_bucket(self.bucket)


class AzuriteBlobServer(EmulatorServer):
    """Azure Blob Storage via Azurite (``npm install -g azurite``), read with adlfs."""

    name = "Azurite blob server"
    protocol = "az"
    executable_name = "azurite-blob"
    executable_env_var = "INTAKE_NWB_AZURITE_BLOB"
    install_hint = "npm install -g azurite && pip install adlfs"
    probe_path = f"/{AZURITE_ACCOUNT_NAME}?comp=list"

    def _extra_dirs(self) -> tuple[Path, ...]:
        # Where `npm install -g --prefix ~/.local azurite` or `npm install --prefix DIR` put it.
        local = Path.home() / ".local"
        return (
            local / "bin",
            local / "node_modules" / ".bin",
            Path.cwd() / "node_modules" / ".bin",
        )

    def _command(self, exe: str, port: int, workdir: Path) -> list[str]:
        return [
            exe,
            "--blobHost",
            _HOST,
            "--blobPort",
            str(port),
            "--location",
            str(workdir),
            "--silent",
            # adlfs' azure-storage-blob may be newer than the Azurite release.
            "--skipApiVersionCheck",
            # Azurite >= 3.34 phones home by default; there is no network here anyway.
            "--disableTelemetry",
        ]

    @property
    def connection_string(self) -> str:
        return (
            "DefaultEndpointsProtocol=http;"
            f"AccountName={AZURITE_ACCOUNT_NAME};"
            f"AccountKey={AZURITE_ACCOUNT_KEY};"
            f"BlobEndpoint={self.endpoint}/{AZURITE_ACCOUNT_NAME};"
        )

    @property
    def storage_options(self) -> dict[str, Any]:
        return {"account_name": AZURITE_ACCOUNT_NAME, "connection_string": self.connection_string}

    @property
    def container(self) -> str:
        """Azure's word for :attr:`bucket`."""
        return self.bucket

    def create_container(self, name: str) -> None:
        self.create_bucket(name)


class GCSEmulatorServer(EmulatorServer):
    """Google Cloud Storage via ``gcp-storage-emulator`` (PyPI), read with gcsfs.

    The emulator is a single-threaded HTTP/1.0 server: correct, but it serialises concurrent
    requests, so do not benchmark throughput against it.
    """

    name = "GCS emulator"
    protocol = "gs"
    executable_name = "gcp-storage-emulator"
    executable_env_var = "INTAKE_NWB_GCS_EMULATOR"
    install_hint = "pip install gcp-storage-emulator gcsfs"
    probe_path = "/storage/v1/b"

    def _command(self, exe: str, port: int, workdir: Path) -> list[str]:
        return [exe, "start", "--host", _HOST, "--port", str(port), "--in-memory", "--quiet"]

    @property
    def storage_options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {"token": "anon", "endpoint_url": self.endpoint}
        if _gcsfs_probes_bucket_layout():
            # gcsfs was imported before this module could switch the gRPC layout probe off:
            # make each probe give up fast instead of retrying for 60 s.
            opts.update(retry_timeout=0.2, retry_initial=0.05, retry_maximum=0.1)
        return opts

    def start(self) -> Self:
        if _gcsfs_probes_bucket_layout():
            warnings.warn(
                "gcsfs was imported with GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT enabled, so every "
                "operation against the GCS emulator first tries a gRPC bucket-layout probe "
                "(~0.2 s each). Set GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false before importing "
                "gcsfs (importing tests.support.servers early does that).",
                RuntimeWarning,
                stacklevel=2,
            )
        return super().start()


def _gcsfs_probes_bucket_layout() -> bool:
    """True when the active gcsfs class probes bucket layouts over gRPC."""
    gcsfs = sys.modules.get("gcsfs")
    return gcsfs is not None and hasattr(gcsfs.GCSFileSystem, "_lookup_bucket_type")

"""What the benchmark parents share: the peers' virtualenv, one table cell and its child runs."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NAN = float("nan")


def ensure_peer_venv(venv: Path, packages: Sequence[str], modules: Sequence[str]) -> Path | None:
    """A virtualenv with ``packages`` (created once, reused while ``modules`` import); its python.

    The peers pin zarr<3, so they cannot share our environment. None when it cannot be built.
    """
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    probe = f"import {', '.join(modules)}"
    if python.exists() and subprocess.run([python, "-c", probe],
                                          capture_output=True).returncode == 0:
        return python
    print(f"creating the peer venv in {venv} ({', '.join(packages)}) ...", file=sys.stderr)
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        *packages], check=True)
        subprocess.run([python, "-c", probe], check=True)
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"peer venv unavailable ({exc}): peers skipped", file=sys.stderr)
        return None
    return python


@dataclass
class Run:
    """One table cell: a tool doing a task on some files, in one fresh process per run.

    ``figures`` collects every number a child printed (``seconds``, ``cpu_seconds``...) plus
    what the server saw (``requests``, ``server_mb``), one value per successful run.
    """

    tool: str
    task: str
    n_files: int
    transport: str = "http"
    seconds: float = NAN
    peak_rss_mb: float = NAN
    requests: int = 0
    mb: float = 0.0
    check: Any = None
    version: str = ""
    error: str = ""
    note: str = ""
    figures: dict[str, list[float]] = field(default_factory=dict)

    @property
    def runs(self) -> int:
        return len(self.figures.get("seconds", []))

    def median(self, key: str) -> float:
        values = self.figures.get(key)
        return statistics.median(values) if values else NAN

    def record(self, cmd: list[str], env: dict[str, str] | None, timeout: float,
               server: Any = None) -> bool:
        """Run one child; add its figures (or its failure) to the cell. True if it succeeded."""
        if server is not None:
            server.reset_stats()
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
        except subprocess.TimeoutExpired:
            self.error = f"timed out after {timeout:.0f} s"
            return False
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
        if out.returncode != 0 or not lines:
            tail = (out.stderr.strip().splitlines() or ["no output"])[-1][:200]
            self.error = f"exit {out.returncode}: {tail}"
            return False
        res = json.loads(lines[-1])
        if server is not None:
            stats = server.stats()
            res["requests"], res["server_mb"] = stats["requests"], stats["bytes_sent"] / 1e6
        self.check, self.version = res.pop("check"), str(res.pop("version"))
        for key, value in res.items():
            if isinstance(value, int | float):
                self.figures.setdefault(key, []).append(float(value))
        return True

    def attempt(self, cmd: list[str], env: dict[str, str] | None, timeout: float,
                server: Any = None) -> bool:
        """:meth:`record`, retried once after a first crash (the table notes it); not timeouts."""
        if self.record(cmd, env, timeout, server):
            return True
        if self.runs or self.note or self.error.startswith("timed out"):
            return False
        self.note, self.error = f"(first attempt failed: {self.error})", ""
        return self.record(cmd, env, timeout, server)

    def finish(self) -> Run:
        """Medians over the runs (peak RSS: the largest)."""
        self.seconds = self.median("seconds")
        self.requests = round(self.median("requests")) if "requests" in self.figures else 0
        self.mb = self.median("server_mb") if "server_mb" in self.figures else 0.0
        rss = self.figures.get("peak_rss_mb")
        self.peak_rss_mb = max(rss) if rss else NAN
        return self


def surviving_spikes(path: Path) -> tuple[int, int, int]:
    """The truth of ``filter_spikes`` for one session, counted with h5py: ``(units, spikes of
    the units that pass presence_ratio >= 0.9 and decoder_label == "sua", bytes per spike)``."""
    import h5py
    import numpy as np

    with h5py.File(path, "r") as f:
        u = f["units"]
        keep = (u["presence_ratio"][:] >= 0.9) & (u["decoder_label"].asstr()[:] == "sua")
        ends = u["spike_times_index"][:].astype(np.int64)
        counts = np.diff(ends, prepend=0)
        return len(ends), int(counts[keep].sum()), u["spike_times"].dtype.itemsize


def fmt(x: float, digits: int = 2) -> str:
    return "-" if x != x else f"{x:.{digits}f}"


def ratio(a: float, b: float) -> str:
    if a != a or b != b or b <= 0:
        return "-"
    r = a / b  # two significant digits at least: 1/250 is 0.0040x, not 0.00x
    return f"{r:.0f}x" if r >= 10 else f"{r:.2f}x" if r >= 0.1 else f"{r:.2g}x"

"""What every benchmark worker reports (stdlib only: it also runs in the peers' venv)."""

from __future__ import annotations

import json
import resource
import time


def peak_rss_mb() -> float:
    """This process's peak RSS since exec (VmHWM; ``ru_maxrss`` would carry the parent's)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds() -> float:
    """Every thread's (obstore's and polars' too) and every finished child's (worker
    processes translating files) CPU seconds."""
    return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


def _read_bytes() -> int:
    """Bytes this process read through read()/pread() (``rchar``: page-cache hits included; not
    its children's)."""
    try:
        with open("/proc/self/io") as f:
            for line in f:
                if line.startswith("rchar:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Stopwatch:
    """Wall seconds, CPU seconds (children included) and MB read by this process since the
    stopwatch was made."""

    def __init__(self) -> None:
        self._wall, self._cpu, self._read = time.perf_counter(), _cpu_seconds(), _read_bytes()

    def lap(self) -> dict[str, float]:
        return {"seconds": time.perf_counter() - self._wall,
                "cpu_seconds": _cpu_seconds() - self._cpu,
                "read_mb": (_read_bytes() - self._read) / 1e6}


def emit_result(seconds: float, check: int, version: str, **figures: float) -> None:
    """The one JSON line the parent reads (``figures``: more numbers for the table)."""
    print(json.dumps({"seconds": seconds, "check": int(check), "version": version,
                      "peak_rss_mb": peak_rss_mb(), **figures}))

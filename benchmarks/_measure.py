"""What every benchmark worker reports (stdlib only: it also runs in the peers' venv)."""

from __future__ import annotations

import json
import resource


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


def emit_result(seconds: float, check: int, version: str) -> None:
    """The one JSON line the parent reads."""
    print(json.dumps({"seconds": seconds, "check": int(check), "version": version,
                      "peak_rss_mb": peak_rss_mb()}))

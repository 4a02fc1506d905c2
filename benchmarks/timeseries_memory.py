"""Peak memory of reading a short window of a long, wide ElectricalSeries (run by hand).

Generates once (cached in ``--work-dir``) a multi-GB NWB file with a 384-channel int16
ElectricalSeries written iteratively by pynwb through :func:`intake_nwb.sample.write_session`,
indexes it, then in a fresh process per measurement reads a 10-second window with
``get_timeseries(...).isel(time=slice(...)).values`` and reports peak RSS and wall time.

Every step runs in its own subprocess so its peak RSS (``VmHWM``) is that step's alone::

    python benchmarks/timeseries_memory.py --size-gb 2 --work-dir /tmp/intake-nwb-bench
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

# each step: run in a fresh interpreter, print one JSON line with its figures
_PRELUDE = """
import json, sys, time
args = json.loads(sys.argv[1])
sys.path.insert(0, args["benchmarks"])
from _measure import peak_rss_mb as peak_mb  # this process's own peak (not its parent's)
"""

_WRITE = _PRELUDE + """
from intake_nwb.sample import write_session
t0 = time.perf_counter()
write_session(args["path"], lfp_channels=args["channels"], lfp_rate=args["rate"],
              duration_s=args["duration"], n_units=20, spikes_per_unit=500, n_trials=50,
              layout=args["layout"], compression=args["compression"])
print(json.dumps({"seconds": time.perf_counter() - t0, "peak_rss_mb": peak_mb()}))
"""

_INDEX = _PRELUDE + """
from intake_nwb.refs import index
t0 = time.perf_counter()
index([args["path"]], refs_dir=args["refs"], progress=False)
print(json.dumps({"seconds": time.perf_counter() - t0, "peak_rss_mb": peak_mb()}))
"""

_READ = _PRELUDE + """
import numpy as np
from intake_nwb.frames.timeseries import get_timeseries
baseline = peak_mb()  # interpreter + numpy/xarray/dask/zarr imports
t0 = time.perf_counter()
da = get_timeseries(args["path"], "/acquisition/lfp", refs_dir=args["refs"],
                    scaled=args["scaled"], cache=args["cache"])
t_open = time.perf_counter() - t0
start = int(args["start_s"] * args["rate"])
stop = start + int(args["window_s"] * args["rate"])
t1 = time.perf_counter()
values = da.isel(time=slice(start, stop)).values
t_read = time.perf_counter() - t1
print(json.dumps({
    "shape": list(da.shape), "window_shape": list(values.shape), "dtype": str(values.dtype),
    "window_mb": values.nbytes / 2**20, "dask_blocks": len(da.chunks[0]),
    "block_rows": da.chunks[0][0], "open_s": t_open, "read_s": t_read,
    "baseline_rss_mb": baseline, "peak_rss_mb": peak_mb(),
    "checksum": float(np.asarray(values, dtype=np.float64).sum()),
}))
"""


def _run(code: str, args: dict[str, Any]) -> dict[str, Any]:
    args = {**args, "benchmarks": str(Path(__file__).resolve().parent)}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code), json.dumps(args)],
                          capture_output=True, text=True, check=False)
    if proc.returncode:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"step failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Generate (once), index, read a window; print and return the figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work-dir", type=Path, default=Path("/tmp/intake-nwb-bench"))
    ap.add_argument("--size-gb", type=float, default=2.0, help="LFP bytes to write (GB)")
    ap.add_argument("--channels", type=int, default=384)
    ap.add_argument("--rate", type=float, default=2500.0, help="Hz (Neuropixels LFP band)")
    ap.add_argument("--window-s", type=float, default=10.0)
    ap.add_argument("--layout", choices=["contiguous", "chunked"], default="contiguous")
    ap.add_argument("--compression", default=None, help="e.g. gzip (chunked layout only)")
    ap.add_argument("--scaled", action="store_true", help="apply conversion lazily too")
    ap.add_argument("--cache", choices=["memory", "disk"], default=None)
    ap.add_argument("--repeat", type=int, default=3, help="fresh-process reads")
    ns = ap.parse_args(argv)

    duration = round(ns.size_gb * 1e9 / (2 * ns.channels * ns.rate), 1)
    tag = f"lfp_{ns.channels}ch_{ns.rate:g}Hz_{duration:g}s_{ns.layout}"
    tag += f"_{ns.compression}" if ns.compression else ""
    ns.work_dir.mkdir(parents=True, exist_ok=True)
    path = ns.work_dir / f"{tag}.nwb"
    common = {"path": str(path), "refs": str(ns.work_dir / "refs"), "channels": ns.channels,
              "rate": ns.rate, "duration": duration, "layout": ns.layout,
              "compression": ns.compression}
    report: dict[str, Any] = {"file": str(path)}
    if not path.exists():
        report["write"] = _run(_WRITE, common)
    report["file_gb"] = path.stat().st_size / 1e9
    report["index"] = _run(_INDEX, common)
    reads = []
    for i in range(ns.repeat):
        # windows spread over the file, so repeated runs do not re-read the same bytes
        start_s = (0.5 + 0.4 * i / max(1, ns.repeat - 1)) * (duration - ns.window_s) * 0.9
        reads.append(_run(_READ, {**common, "start_s": start_s, "window_s": ns.window_s,
                                  "scaled": ns.scaled, "cache": ns.cache}))
    report["reads"] = reads
    report["max_peak_rss_mb"] = max(r["peak_rss_mb"] for r in reads)
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()

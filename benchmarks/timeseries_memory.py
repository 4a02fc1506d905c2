"""Time and peak memory of reading a short window of a long, wide local ElectricalSeries (run by
hand), against LINDI and lazynwb with ``--peers``.

Generates once (cached in ``--work-dir``) a multi-GB NWB file with a 384-channel int16
ElectricalSeries written iteratively by pynwb through :func:`intake_nwb.sample.write_session`,
indexes it, then in a fresh process per measurement reads a window (10 s by default) with
``get_timeseries(...).isel(time=slice(...)).values`` and reports peak RSS and wall time. With
``--peers`` the same windows are read, in the peers' virtualenv (they pin zarr<3), by LINDI from
its reference file (written once, timed as its index step) and by lazynwb; the raw values'
checksums must agree.

Every step runs in its own subprocess so its peak RSS (``VmHWM``) is that step's alone::

    python benchmarks/timeseries_memory.py --size-gb 2 --work-dir /tmp/intake-nwb-bench
    python benchmarks/timeseries_memory.py --size-gb 2.3 --window-s 1 --repeat 5 --peers
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
try:  # dask imports it at the first compute when it is installed: an import, untimed
    import distributed  # noqa: F401
except ImportError:
    pass
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


# the peers' steps (their venv); the window's rows as ours: [start, start + window samples)
_LINDI_INDEX = _PRELUDE + """
import lindi
t0 = time.perf_counter()
f = lindi.LindiH5pyFile.from_hdf5_file(args["path"], url=args["path"])
f.write_lindi_file(args["lindi"])
f.close()
print(json.dumps({"seconds": time.perf_counter() - t0, "peak_rss_mb": peak_mb()}))
"""

_PEER_READ = _PRELUDE + """
import numpy as np
start = int(args["start_s"] * args["rate"])
stop = start + int(args["window_s"] * args["rate"])
if args["tool"] == "lindi":  # imports untimed, as ours
    import lindi
else:
    import lazynwb
baseline = peak_mb()
t0 = time.perf_counter()
if args["tool"] == "lindi":
    data = lindi.LindiH5pyFile.from_lindi_file(args["lindi"])["acquisition/lfp/data"]
else:
    data = lazynwb.get_timeseries(args["path"], "/acquisition/lfp", exact_path=True).data
t_open = time.perf_counter() - t0
t1 = time.perf_counter()
values = np.asarray(data[start:stop])
t_read = time.perf_counter() - t1
print(json.dumps({
    "window_shape": list(values.shape), "open_s": t_open, "read_s": t_read,
    "baseline_rss_mb": baseline, "peak_rss_mb": peak_mb(),
    "checksum": float(np.asarray(values, dtype=np.float64).sum()),
}))
"""


def _run(code: str, args: dict[str, Any], python: str | Path = sys.executable) -> dict[str, Any]:
    args = {**args, "benchmarks": str(Path(__file__).resolve().parent)}
    proc = subprocess.run([str(python), "-c", textwrap.dedent(code), json.dumps(args)],
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
    ap.add_argument("--peers", action="store_true", help="LINDI and lazynwb read the same windows")
    ap.add_argument("--peer-venv", type=Path, default=None,
                    help="their virtualenv (default: WORK_DIR/peer-venv)")
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
    # windows spread over the file, so repeated runs do not re-read the same bytes
    windows = [{"start_s": (0.5 + 0.4 * i / max(1, ns.repeat - 1)) * (duration - ns.window_s)
                * 0.9, "window_s": ns.window_s} for i in range(ns.repeat)]
    reads = [_run(_READ, {**common, **w, "scaled": ns.scaled, "cache": ns.cache})
             for w in windows]
    report["reads"] = reads
    report["max_peak_rss_mb"] = max(r["peak_rss_mb"] for r in reads)
    if ns.peers:
        report["peers"] = _peers(ns, common, windows, reads)
    print(json.dumps(report, indent=2))
    if ns.peers:
        print(_table(report))
    return report


def _peers(ns: argparse.Namespace, common: dict[str, Any], windows: list[dict[str, float]],
           ours: list[dict[str, Any]]) -> dict[str, Any]:
    """LINDI's and lazynwb's reads of the same windows (raw values; checksums must agree)."""
    from _harness import ensure_peer_venv  # benchmarks/ is on sys.path: run as a script

    python = ensure_peer_venv(ns.peer_venv or ns.work_dir / "peer-venv", ("lazynwb", "lindi"),
                              ("lazynwb", "lindi"))
    if python is None:
        raise SystemExit("the peers' virtualenv could not be built")
    common = {**common, "lindi": str(Path(common["path"]).with_suffix(".lindi.json"))}
    out: dict[str, Any] = {"lindi_index": _run(_LINDI_INDEX, common, python)}
    for tool in ("lindi", "lazynwb"):
        out[tool] = [_run(_PEER_READ, {**common, **w, "tool": tool}, python) for w in windows]
        for theirs, mine in zip(out[tool], ours, strict=True):
            if theirs["checksum"] != mine["checksum"]:
                raise SystemExit(f"{tool} read other values than ours: {theirs} != {mine}")
    return out


def _table(report: dict[str, Any]) -> str:
    """Medians per tool: open, read, open + read, peak RSS over the baseline (markdown)."""
    import statistics

    rows = ["| tool | open s | read s | open + read s | peak RSS MB (growth) |",
            "|---|---:|---:|---:|---:|"]
    for tool, runs in (("intake_nwb", report["reads"]), ("lindi", report["peers"]["lindi"]),
                       ("lazynwb", report["peers"]["lazynwb"])):
        med = {k: statistics.median(r[k] for r in runs) for k in ("open_s", "read_s")}
        rss = max(r["peak_rss_mb"] for r in runs)
        growth = max(r["peak_rss_mb"] - r["baseline_rss_mb"] for r in runs)
        rows.append(f"| {tool} | {med['open_s']:.3f} | {med['read_s']:.3f} | "
                    f"{med['open_s'] + med['read_s']:.3f} | {rss:.0f} (+{growth:.0f}) |")
    return "\n".join(rows)


if __name__ == "__main__":
    main()

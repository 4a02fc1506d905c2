"""Remote NWB reads at the speed limit: intake_nwb against lazynwb and pynwb + remfile (by hand).

Writes N sample sessions once (``intake_nwb.sample``: units with ~100 MB of ragged spike times,
waveform means, quality metrics and string labels; 600 trials; a behaviour TimeSeries), serves
them from a loopback HTTP server that sleeps ``--latency`` seconds before every answer and counts
requests and bytes, and times five tasks:

=================  ==========================================================================
``trials``         ``/intervals/trials`` of every file, all columns
``units_scalar``   ``/units`` of every file without its array columns
``filter_spikes``  ``/units`` filtered on ``presence_ratio >= 0.9 & decoder_label == "sua"``,
                   then the surviving rows' ``spike_times``
``metadata``       one row of session/subject metadata per file
``timeseries``     a 10-second slice of ``/processing/behavior/running_speed`` of every file
=================  ==========================================================================

with

* ``ours cold``: intake_nwb with an empty reference directory (indexing included),
* ``ours warm``: intake_nwb on reference files already on disk (one HEAD per file checks that
  the source has not changed),
* ``lazynwb`` and ``pynwb+remfile``: in their own virtualenv (``--peer-venv``, created on first
  use: lazynwb pins zarr<3), with lazynwb's catalog cache emptied for every run.

Every run is a fresh interpreter: ``seconds`` times the task alone (imports excluded), ``peak RSS``
is the process's whole peak, ``requests``/``MB`` are what the server saw. Each run's ``check``
(rows, spikes or samples) must agree across tools, or the table says so. Then the same tasks run
on 4 and on ``--many`` smaller files to show how time grows with the number of files.

Run::

    python benchmarks/remote.py                      # 4 x 100 MB, 40 ms, + 4/32 x 10 MB
    python benchmarks/remote.py --sessions 2 --size 20MB --many 0 --tools ours,lazynwb

Needs the ``demo`` extra (pynwb, to write the sessions) and network access to a package index
the first time (to build the peer venv), nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _harness import Run, ensure_peer_venv, fmt, ratio, surviving_spikes
from _measure import emit_result  # benchmarks/ is on sys.path: the scripts run as scripts

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests.support: the loopback servers live with the tests
TASKS = ("trials", "units_scalar", "filter_spikes", "metadata", "timeseries")
TABLE_TASKS = ("trials", "units_scalar", "filter_spikes", "metadata")
TOOLS = ("ours cold", "ours warm", "lazynwb", "pynwb+remfile")
SERIES = "/processing/behavior/running_speed"
PEER_PACKAGES = ("lazynwb", "remfile", "pynwb")
WINDOW_S = 10.0

# -- the child side: one task with intake_nwb ----------------------------------------------------


def _child(args: dict[str, Any]) -> None:
    """Run one task with intake_nwb in this (fresh) process; print one JSON line."""
    # imports are not part of any task (the peers import theirs first too); only what the task
    # needs, so that peak RSS is the task's: xarray and dask only for the TimeSeries task
    import importlib

    import fsspec.implementations.http  # noqa: F401 - aiohttp
    import numpy as np
    import polars as pl

    import intake_nwb

    srcs, task = args["srcs"], args["task"]
    for module in (("intake_nwb.frames.timeseries",) if task == "timeseries"
                   else ("intake_nwb.frames.tables", "intake_nwb.store")):
        importlib.import_module(module)
    kw = {"refs_dir": args["refs_dir"]}
    t = time.perf_counter()
    if task == "trials":
        check = intake_nwb.scan_nwb(srcs, "/intervals/trials", **kw).collect().height
    elif task == "units_scalar":
        check = intake_nwb.scan_nwb(srcs, "/units", exclude_array_columns=True,
                                    **kw).collect().height
    elif task == "filter_spikes":
        df = (intake_nwb.scan_nwb(srcs, "/units", **kw)
              .filter((pl.col("presence_ratio") >= 0.9) & (pl.col("decoder_label") == "sua"))
              .select("_nwb_path", "_table_index", "spike_times").collect())
        check = int(df["spike_times"].list.len().sum())
    elif task == "metadata":
        check = intake_nwb.get_metadata_df(srcs, progress=False, **kw).height
    elif task == "timeseries":
        from intake_nwb.frames.timeseries import get_timeseries

        check = 0
        for src in srcs:
            da = get_timeseries(src, SERIES, **kw)
            check += len(np.asarray(da.sel(time=slice(args["t0"], args["t1"])).values))
    else:
        raise SystemExit(f"unknown task {task!r}")
    seconds = time.perf_counter() - t
    emit_result(seconds, check, intake_nwb.__version__)


# -- the parent side -----------------------------------------------------------------------------


@dataclass
class Lab:
    root: Path
    paths: list[Path]
    size_mb: float
    t0: float
    selected_mb: list[float]  # per file: the filter's surviving rows' spike times

    def selected_spike_mb(self, n: int) -> float:
        return sum(self.selected_mb[:n])


def ensure_lab(root: Path, n: int, size: str) -> Lab:
    """Write ``n`` sessions of ``size`` under ``root`` (kept across runs)."""
    from intake_nwb.sample import plan_session, write_sample_lab

    print(f"sample lab: {n} x {size} in {root}", file=sys.stderr)
    paths = write_sample_lab(root, n_sessions=n, size=size, progress=False)
    plan = plan_session(size)
    return Lab(root=root, paths=paths, size_mb=sum(p.stat().st_size for p in paths) / 1e6 / n,
               t0=round(plan.duration_s / 2, 3), selected_mb=_selected_spike_mb(paths))


def _selected_spike_mb(paths: Sequence[Path]) -> list[float]:
    """What filter_spikes must at least fetch: the surviving rows' spike times (h5py truth)."""
    return [spikes * itemsize / 1e6 for _, spikes, itemsize in map(surviving_spikes, paths)]


def measure(tool: str, task: str, lab: Lab, urls: list[str], warm_refs: list[str],
            server: Any, peer_python: Path | None, repeat: int, timeout: float) -> Run:
    run = Run(tool, task, len(urls))
    base = {"task": task, "t0": lab.t0, "t1": lab.t0 + WINDOW_S, "series": SERIES}
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="inb-bench-") as scratch:
            env = dict(os.environ)
            if tool == "ours cold":
                args = {**base, "srcs": urls, "refs_dir": scratch}
                cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(args)]
            elif tool == "ours warm":
                args = {**base, "srcs": warm_refs, "refs_dir": str(Path(warm_refs[0]).parent)}
                cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(args)]
            else:
                if peer_python is None:
                    run.error = "no peer venv"
                    return run
                script = "_peer_lazynwb.py" if tool == "lazynwb" else "_peer_pynwb.py"
                cmd = [str(peer_python), str(HERE / script), json.dumps({**base, "urls": urls})]
                env["LAZYNWB_CATALOG_CACHE_PATH"] = str(Path(scratch) / "lazynwb.sqlite")
            # a crash of one run should not blank a cell: retried once, and the table says so
            if not run.attempt(cmd, env, timeout, server):
                break
    return run.finish()


def run_lab(lab: Lab, n_files: int, tools: Sequence[str], tasks: Sequence[str], latency: float,
            peer_python: Path | None, repeat: int, timeout: float) -> list[Run]:
    import intake_nwb
    from tests.support.http_server import RangeHTTPServer

    paths = lab.paths[:n_files]
    runs: list[Run] = []
    with RangeHTTPServer(lab.root, latency=latency) as server, \
            tempfile.TemporaryDirectory(prefix="inb-bench-refs-") as warm_dir:
        urls = [server.url_for(p.name) for p in paths]
        warm_refs: list[str] = []
        if "ours warm" in tools:
            refs = intake_nwb.index(urls, refs_dir=warm_dir, progress=False)
            warm_refs = [refs[u] for u in urls]
        for task in tasks:
            for tool in tools:
                print(f"  {n_files} files  {task:14s} {tool:14s}", end=" ", file=sys.stderr,
                      flush=True)
                run = measure(tool, task, lab, urls, warm_refs, server, peer_python, repeat,
                              timeout)
                print(f"{run.seconds:7.2f} s {run.requests:5d} req {run.mb:8.1f} MB "
                      f"{run.error}", file=sys.stderr)
                runs.append(run)
    return runs


# -- report --------------------------------------------------------------------------------------


def report(runs: list[Run], lab: Lab, latency: float, title: str) -> str:
    by = {(r.tool, r.task): r for r in runs}
    n = runs[0].n_files if runs else 0
    lines = [f"### {title}: {n} files x {lab.size_mb:.0f} MB, {latency * 1000:.0f} ms per request",
             "",
             "| task | tool | seconds | requests | MB | peak RSS MB | time / ours warm | "
             "time / ours cold | check |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for task in dict.fromkeys(r.task for r in runs):
        warm, cold = by.get(("ours warm", task)), by.get(("ours cold", task))
        checks = {json.dumps(r.check) for r in runs if r.task == task and r.check is not None}
        for r in (r for r in runs if r.task == task):
            if r.error:
                lines.append(f"| {task} | {r.tool} | failed: {r.error} | | | | | | |")
                continue
            mark = "" if len(checks) <= 1 else " (differs!)"
            lines.append(
                f"| {task} | {r.tool} | {fmt(r.seconds)} | {r.requests} | {fmt(r.mb, 1)} | "
                f"{fmt(r.peak_rss_mb, 0)} | "
                f"{ratio(r.seconds, warm.seconds) if warm else '-'} | "
                f"{ratio(r.seconds, cold.seconds) if cold else '-'} | {r.check}{mark} {r.note} |")
    lines += ["", "filter_spikes: the surviving rows' spike times are "
              f"{lab.selected_spike_mb(n):.1f} MB in all.", ""]
    return "\n".join(lines)


def targets(runs: list[Run], lab: Lab, latency: float) -> str:
    """The issue's targets, checked against this run."""
    by = {(r.tool, r.task): r for r in runs}
    out = ["| target | result |", "|---|---|"]

    def row(name: str, ok: bool | None, detail: str) -> None:
        out.append(f"| {name} | {'met' if ok else 'MISSED' if ok is not None else 'n/a'}: "
                   f"{detail} |")

    for task in TASKS:
        warm, cold, lazy = (by.get((t, task)) for t in ("ours warm", "ours cold", "lazynwb"))
        if warm and lazy and not (warm.error or lazy.error) and task in TABLE_TASKS:
            row(f"warm >= 10x faster than lazynwb ({task})", lazy.seconds >= 10 * warm.seconds,
                f"{lazy.seconds / warm.seconds:.1f}x")
        if cold and lazy and not (cold.error or lazy.error):
            row(f"cold no slower than lazynwb ({task})", cold.seconds <= lazy.seconds,
                f"{cold.seconds:.2f} s vs {lazy.seconds:.2f} s")
        for r in (warm, cold):
            if r and lazy and not (r.error or lazy.error):
                row(f"peak RSS below lazynwb's ({task}, {r.tool})",
                    r.peak_rss_mb < lazy.peak_rss_mb,
                    f"{r.peak_rss_mb:.0f} MB vs {lazy.peak_rss_mb:.0f} MB")
    warm = by.get(("ours warm", "units_scalar"))
    if warm and not warm.error:
        row("warm units scalar within 3 round trips", warm.seconds <= 3 * latency,
            f"{warm.seconds:.3f} s = {warm.seconds / latency:.1f} x {latency * 1000:.0f} ms")
    warm = by.get(("ours warm", "filter_spikes"))
    if warm and not warm.error:
        want = lab.selected_spike_mb(warm.n_files)
        row("filter + spike_times <= 1.5x the selected rows' bytes", warm.mb <= 1.5 * want,
            f"{warm.mb:.1f} MB for {want:.1f} MB ({warm.mb / want:.2f}x)")
    return "\n".join(out)


def growth(small: list[Run], many: list[Run]) -> str:
    lines = ["| task | tool | 4 files s | N files s | growth (files x{}) |",
             "|---|---|---:|---:|---:|"]
    k = (many[0].n_files / small[0].n_files) if small and many else float("nan")
    lines[0] = lines[0].format(f"{k:.0f}")
    by = {(r.tool, r.task): r for r in small}
    for r in many:
        s = by.get((r.tool, r.task))
        if s is None or r.error or s.error:
            continue
        lines.append(f"| {r.task} | {r.tool} | {fmt(s.seconds)} | {fmt(r.seconds)} | "
                     f"{ratio(r.seconds, s.seconds)} |")
    warm = [(r, by.get((r.tool, r.task))) for r in many if r.tool == "ours warm" and not r.error]
    ratios = [r.seconds / s.seconds for r, s in warm if s is not None and not s.error]
    if ratios:
        ok = max(ratios) <= k / 2
        lines += ["", f"Target 'warm grows far less than linearly' (<= files x{k / 2:.0f}): "
                  f"{'met' if ok else 'MISSED'}, worst x{max(ratios):.1f}."]
    return "\n".join(lines)


def environment(peer_python: Path | None, runs: list[Run]) -> str:
    versions = {r.tool: r.version for r in runs if r.version}
    return (f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, Python "
            f"{platform.python_version()}. Versions: "
            + ", ".join(f"{k}: {v}" for k, v in versions.items()))


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--work-dir", type=Path,
                    default=Path(tempfile.gettempdir()) / "intake-nwb-bench-remote")
    ap.add_argument("--sessions", type=int, default=4)
    ap.add_argument("--size", default="100MB", help="per session (default 100MB)")
    ap.add_argument("--latency", type=float, default=0.04, help="seconds added per request")
    ap.add_argument("--many", type=int, default=32,
                    help="files in the growth run (0: skip it); compared with its first 4")
    ap.add_argument("--many-size", default="10MB")
    ap.add_argument("--tools", default=",".join(TOOLS),
                    help="comma-separated subset of: " + ", ".join(TOOLS))
    ap.add_argument("--many-tools", default="ours cold,ours warm,lazynwb")
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--repeat", type=int, default=1, help="runs per cell (median reported)")
    ap.add_argument("--peer-venv", type=Path, default=None,
                    help="virtualenv for lazynwb/pynwb (default: WORK_DIR/peer-venv)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per run")
    ap.add_argument("--output", type=Path, help="also write the markdown report here")
    args = ap.parse_args(argv)
    if args.child:
        _child(json.loads(args.child))
        return
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    many_tools = [t.strip() for t in args.many_tools.split(",") if t.strip()]
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    for t in [*tools, *many_tools]:
        if t not in TOOLS:
            ap.error(f"unknown tool {t!r}; choose from {', '.join(TOOLS)}")
    work = args.work_dir
    work.mkdir(parents=True, exist_ok=True)
    peer_python = None
    if {"lazynwb", "pynwb+remfile"} & {*tools, *many_tools}:
        peer_python = ensure_peer_venv(args.peer_venv or work / "peer-venv", PEER_PACKAGES,
                                       ("lazynwb", "remfile", "pynwb", "obstore"))

    t = time.perf_counter()
    lab = ensure_lab(work / f"lab-{args.sessions}x{args.size}", args.sessions, args.size)
    runs = run_lab(lab, args.sessions, tools, tasks, args.latency, peer_python, args.repeat,
                   args.timeout)
    parts = ["## intake_nwb remote benchmark", "",
             report(runs, lab, args.latency, "Main run"), "", targets(runs, lab, args.latency)]
    if args.many:
        many_lab = ensure_lab(work / f"lab-{args.many}x{args.many_size}", args.many,
                              args.many_size)
        few = run_lab(many_lab, min(4, args.many), many_tools, tasks, args.latency, peer_python,
                      args.repeat, args.timeout)
        many = run_lab(many_lab, args.many, many_tools, tasks, args.latency, peer_python,
                       args.repeat, args.timeout)
        parts += ["", report(few, many_lab, args.latency, "Growth run, few files"), "",
                  report(many, many_lab, args.latency, "Growth run, many files"), "",
                  growth(few, many)]
        runs = runs + few + many
    parts += ["", environment(peer_python, runs),
              f"Total benchmark wall time: {time.perf_counter() - t:.0f} s."]
    text = "\n".join(parts)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()

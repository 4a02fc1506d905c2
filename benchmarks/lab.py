"""Lab-scale reads: hundreds of small NWB sessions, intake_nwb against lazynwb and LINDI (by hand).

Writes up to max(``--sizes``) small synthetic sessions once (``intake_nwb.sample.write_session``:
50-300 units with ~1000 spike times each, 300 trials, a running-speed series; 1-3.5 MB a file);
a lab of N files is the first N of them. For each transport (``local`` paths, or ``http`` from a
loopback server that sleeps ``--latency`` seconds before every answer and counts requests and
bytes) and each N it times

=================  ==========================================================================
``units_scalar``   ``/units`` of every file without its array columns
``trials``         ``/intervals/trials`` of every file, all columns
``metadata``       one row of session/subject metadata per file
``filter_spikes``  ``/units`` filtered on ``presence_ratio >= 0.9 & decoder_label == "sua"``,
                   then the surviving rows' ``spike_times``
``index``          reference files for every file: ``intake_nwb.index`` against LINDI
=================  ==========================================================================

with

* ``ours cold``: nothing indexed: ``intake_nwb.scan_nwb``/``get_metadata_df`` on the paths or
  URLs with an empty user cache (local files are read through references translated as the
  read goes, remote ones indexed into the cache), ``index`` into an empty reference directory,
* ``ours warm``: how a user reads a lab: ``intake.open_catalog(catalog.yaml)`` in a fresh process,
  then the entry (``cat.units``, ``cat.trials``, ``cat.sessions``); the catalog is built with
  ``intake_nwb.build_catalog`` over the same N paths or URLs before the clock starts; every run
  checks every file is unchanged (remote files: none was checked within
  ``recheck_remote_after``, a ``HEAD`` each),
* ``lazynwb``: with a fresh SQLite catalog cache every run (a first query),
* ``lazynwb warm``: its cache filled by one untimed run of the same task first,
* ``lindi``: ``LindiH5pyFile.from_hdf5_file(...).write_lindi_file(...)`` per file (``index``).

The peers run in their own virtualenv (``--peer-venv``, made on first use: they pin zarr<3).
Every run is a fresh interpreter with a timeout; a crash is retried once and reported, never
fatal. ``seconds`` and ``CPU s`` time the task alone (imports excluded, also those a tool makes
at its first step: jinja2, which intake imports at a V1 entry's first use, and the drivers'
origins for ours; upath's local paths for lazynwb), ``peak RSS`` is the process's whole peak;
each cell is the median of ``--repeat`` runs (fewer once a cell has used ``--cell-budget``
seconds), the tools' runs of a task interleaved. Every cell's ``check`` must equal what h5py
counts in the files.

Run::

    python benchmarks/lab.py                                   # N = 10, 50, 200; local + http
    python benchmarks/lab.py --sizes 10,50 --transports http --tools "ours warm,lazynwb warm"

The intake_nwb measured is the one in this checkout (``sys.path[0]``), whatever is installed.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _harness import NAN, Run, ensure_peer_venv, fmt, ratio, surviving_spikes
from _measure import Stopwatch, emit_result  # benchmarks/ is on sys.path: run as a script

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # this checkout's intake_nwb (and tests.support), not an install

TASKS = ("units_scalar", "trials", "metadata", "filter_spikes", "index")
TOOLS = ("ours cold", "ours warm", "lazynwb", "lazynwb warm", "lindi")
TRANSPORTS = ("local", "http")
TABLES = {"units_scalar": "/units", "trials": "/intervals/trials", "filter_spikes": "/units"}
ENTRIES = {"units_scalar": "units", "trials": "trials", "filter_spikes": "units",
           "metadata": "sessions"}
PEER_PACKAGES = ("lazynwb", "lindi")
UNITS = (50, 300)  # units per session, drawn per session
SESSION = {"spikes_per_unit": 1000, "n_trials": 300, "duration_s": 300.0}
ARRAY_COLUMNS = {"spike_times", "spike_times_index", "waveform_mean", "electrodes",
                 "electrodes_index"}


def applies(tool: str, task: str) -> bool:
    """``index`` is the cold-indexing race (ours against LINDI); LINDI does nothing else."""
    return tool in ("ours cold", "lindi") if task == "index" else tool != "lindi"


# -- the child side: one task with intake_nwb ----------------------------------------------------


def _spike_filter() -> Any:
    import polars as pl

    return (pl.col("presence_ratio") >= 0.9) & (pl.col("decoder_label") == "sua")


def _read_cold(srcs: list[str], refs_dir: str, task: str) -> int:
    import intake_nwb

    if task == "index":
        return len(intake_nwb.index(srcs, refs_dir=refs_dir, progress=False))
    if task == "metadata":  # as a user reads: references kept (or not) in the user cache
        return intake_nwb.get_metadata_df(srcs, progress=False).height
    lf = intake_nwb.scan_nwb(srcs, TABLES[task],
                             exclude_array_columns=task == "units_scalar")
    if task == "filter_spikes":
        spikes = lf.filter(_spike_filter()).select("_nwb_path", "_table_index", "spike_times")
        return int(spikes.collect()["spike_times"].list.len().sum())
    return lf.collect().height


def _read_catalog(cat: Any, task: str) -> int:
    entry = getattr(cat, ENTRIES[task])
    if task == "units_scalar":
        return entry(exclude_array_columns=True).read().height
    if task == "filter_spikes":
        lf = entry.to_lazy().filter(_spike_filter())
        return int(lf.select("_nwb_path", "_table_index", "spike_times").collect()[
            "spike_times"].list.len().sum())
    return entry.read().height


def _child(args: dict[str, Any]) -> None:
    """Run one task with intake_nwb in this (fresh) process; print one JSON line."""
    watch = Stopwatch()
    # imports are not part of the task (the peers import theirs first too). Public names load
    # the layers a read uses, whatever modules hold them; the catalog's drivers are loaded from
    # their entry points, as intake.open_catalog would
    from importlib.metadata import entry_points

    import intake
    import polars  # noqa: F401

    import intake_nwb

    for name in ("scan_nwb", "get_metadata_df", "index", "open_store", "build_catalog"):
        getattr(intake_nwb, name)
    import fsspec  # the transport's stack (aiohttp for http), as lazynwb imports obstore's

    for protocol in {fsspec.core.split_protocol(s)[0] or "file" for s in args["srcs"]}:
        fsspec.get_filesystem_class(protocol)
    for ep in entry_points(group="intake.drivers"):
        if ep.name.startswith("nwb_"):
            # the installed metadata may name drivers of another version than this checkout's
            with suppress(ImportError, AttributeError):
                ep.load()
    if args["tool"] == "ours warm":
        # what the first entry imports: jinja2 (intake expands a V1 entry's arguments with
        # it) and the drivers' origins
        import jinja2.meta  # noqa: F401

        import intake_nwb.catalog.origins  # noqa: F401
    import_seconds = watch.lap()["seconds"]

    task, figures = args["task"], {}
    watch = Stopwatch()
    if args["tool"] == "ours warm":
        cat = intake.open_catalog(args["catalog"])
        figures["open_seconds"] = watch.lap()["seconds"]
        check = _read_catalog(cat, task)
    else:
        check = _read_cold(args["srcs"], args["refs_dir"], task)
    emit_result(check=check, version=intake_nwb.__version__, import_seconds=import_seconds,
                **figures, **watch.lap())


# -- the sessions --------------------------------------------------------------------------------


def _n_units(i: int, seed: int) -> int:
    import numpy as np

    return int(np.random.default_rng([seed, i, 7]).integers(UNITS[0], UNITS[1] + 1))


def _write_one(folder: Path, i: int, seed: int) -> None:
    from intake_nwb.sample import session_filename, write_session

    write_session(folder / session_filename(i), session_index=i, seed=seed,
                  n_units=_n_units(i, seed), **SESSION)


def ensure_sessions(work: Path, n: int, seed: int, jobs: int) -> list[Path]:
    """The first ``n`` sessions of the lab, writing the missing ones in a process pool."""
    from intake_nwb.sample import session_filename

    tag = "-".join(f"{k}{v:g}" for k, v in SESSION.items())
    folder = work / f"sessions-units{UNITS[0]}-{UNITS[1]}-{tag}-seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / session_filename(i) for i in range(n)]
    todo = [i for i, p in enumerate(paths) if not p.exists()]  # written atomically: whole files
    if todo:
        print(f"writing {len(todo)} sessions into {folder} ...", file=sys.stderr)
        t = time.perf_counter()
        with cf.ProcessPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(_write_one, [folder] * len(todo), todo, [seed] * len(todo)))
        print(f"  {time.perf_counter() - t:.0f} s", file=sys.stderr)
    return paths


def expected(paths: Sequence[Path]) -> list[dict[str, int]]:
    """Per file, what each task must report (counted with h5py)."""
    import h5py

    out = []
    for p in paths:
        units, spikes, _ = surviving_spikes(p)
        with h5py.File(p, "r") as f:
            trials = len(f["intervals/trials/id"])
        out.append({"units_scalar": units, "trials": trials, "metadata": 1,
                    "filter_spikes": spikes, "index": 1})
    return out


# -- the parent side -----------------------------------------------------------------------------


@dataclass
class Setting:
    """One transport and lab size: what the tools read, and the catalog built for it."""

    transport: str
    srcs: list[str]
    server: Any = None
    catalog: Path | None = None
    build_seconds: float = NAN
    build_error: str = ""
    runs: list[Run] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.srcs)


@contextmanager
def serving(transport: str, folder: Path, latency: float) -> Iterator[Any]:
    if transport == "local":
        yield None
        return
    from tests.support.http_server import RangeHTTPServer

    with RangeHTTPServer(folder, latency=latency) as server:
        yield server


def build_catalog(setting: Setting, work: Path) -> None:
    """The warm tool's catalog, made fresh (its URLs name this run's server port)."""
    import intake_nwb

    folder = work / "catalogs" / f"{setting.transport}-{setting.n}"
    shutil.rmtree(folder, ignore_errors=True)
    t = time.perf_counter()
    try:
        setting.catalog = intake_nwb.build_catalog(setting.srcs, folder / "catalog.yaml",
                                                   progress=False)
    except Exception as exc:  # noqa: BLE001 - a failure at this scale is a result
        setting.build_error = f"{type(exc).__name__}: {str(exc)[:300]}"
    setting.build_seconds = time.perf_counter() - t


def dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


class Cell:
    """One tool doing one task on one setting: its child command, scratch space and runs."""

    def __init__(self, tool: str, task: str, setting: Setting, peer_python: Path | None,
                 args: argparse.Namespace, root: Path) -> None:
        self.run = Run(tool, task, setting.n, setting.transport)
        self.setting, self.peer_python, self.args = setting, peer_python, args
        self.dir = root / tool.replace(" ", "-")
        self.dir.mkdir()
        self.env = {**{k: v for k, v in os.environ.items() if k != "INTAKE_NWB_REFS_DIR"},
                    "LAZYNWB_CATALOG_CACHE_PATH": f"{self.dir}/lazynwb.sqlite"}
        self.spent = 0.0

    def command(self, scratch: str) -> list[str]:
        tool, task, srcs = self.run.tool, self.run.task, self.setting.srcs
        if tool.startswith("ours"):
            args = {"tool": tool, "task": task, "srcs": srcs, "refs_dir": f"{scratch}/refs",
                    "catalog": str(self.setting.catalog)}
            return [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(args)]
        if tool == "lindi":
            return [str(self.peer_python), str(HERE / "_peer_lindi.py"),
                    json.dumps({"urls": srcs, "out_dir": f"{scratch}/refs"})]
        return [str(self.peer_python), str(HERE / "_peer_lazynwb.py"),
                json.dumps({"task": task, "urls": srcs})]

    def prepare(self) -> bool:
        """False (with the reason in the table) when the tool cannot run here."""
        tool = self.run.tool
        if tool == "ours warm" and self.setting.catalog is None:
            self.run.error = f"no catalog: {self.setting.build_error}"
        elif tool in ("lazynwb", "lazynwb warm", "lindi") and self.peer_python is None:
            self.run.error = "no peer venv"
        elif tool == "lazynwb warm":  # one untimed run fills its cache; it must not fail either
            warmup = Run(tool, self.run.task, self.setting.n)
            if not warmup.attempt(self.command(str(self.dir)), self.env, self.args.timeout):
                self.run.error = f"warm-up: {warmup.error}"
        return not self.run.error

    def once(self) -> bool:
        """One timed run; False once the cell is done (it failed, or used its budget)."""
        args = self.args
        t = time.perf_counter()
        with tempfile.TemporaryDirectory(dir=self.dir) as scratch:
            if self.run.tool == "lazynwb":  # an empty cache every run: a first query
                self.env["LAZYNWB_CATALOG_CACHE_PATH"] = f"{scratch}/lazynwb.sqlite"
            if self.run.tool.startswith("ours"):  # an empty user cache every run: cold runs
                # find no references, warm ones no file checked recently (each run checks)
                self.env["XDG_CACHE_HOME"] = f"{scratch}/cache"
            ok = self.run.attempt(self.command(scratch), self.env, args.timeout,
                                  self.setting.server)
            if ok and self.run.task == "index":
                self.run.figures.setdefault("written_mb", []).append(dir_mb(Path(scratch)))
        self.spent += time.perf_counter() - t
        return ok and self.spent <= args.cell_budget


def measure_task(task: str, tools: Sequence[str], setting: Setting, peer_python: Path | None,
                 args: argparse.Namespace) -> list[Run]:
    """Every tool's runs of one task, interleaved (A, B, C, A, B, C...): on a shared machine
    the slow minutes then fall on every tool alike, and the ratios hold."""
    with tempfile.TemporaryDirectory(prefix="inb-lab-") as root:
        cells = [Cell(tool, task, setting, peer_python, args, Path(root)) for tool in tools]
        live = [c for c in cells if c.prepare()]
        for _ in range(args.repeat):
            live = [c for c in live if c.once()]
    load = os.getloadavg()[0]  # above the 2 cores: something else ran too
    for c in cells:
        c.run.figures["load"] = [load]
    return [c.run.finish() for c in cells]


# -- the latency floor ---------------------------------------------------------------------------

# What each task reads from a file, in dependency order: a step needs a round trip when any of
# its chunks is a byte range in the file rather than a value inlined in the reference file.
Step = Callable[[str, str], bool]  # (group path, column) -> part of the step


def _table(group: str, keep: Callable[[str], bool] = lambda c: True) -> Step:
    return lambda g, c: g == group and keep(c)


def _metadata(g: str, c: str) -> bool:
    return g == "" or (g.startswith("general") and "extracellular_ephys" not in g)


STEPS: dict[str, list[Step]] = {
    "units_scalar": [_table("units", lambda c: c not in ARRAY_COLUMNS)],
    "trials": [_table("intervals/trials")],
    "metadata": [_metadata],
    "filter_spikes": [_table("units", {"presence_ratio", "decoder_label",
                                       "spike_times_index"}.__contains__),
                      _table("units", {"spike_times"}.__contains__)],
}


def data_round_trips(catalog: Path | None, task: str) -> int | None:
    """Sequential data round trips a read through the catalog's references cannot avoid.

    The most any file needs; None when the references are not kerchunk JSON in the catalog folder.
    """
    depth = None
    for path in catalog.parent.rglob("*.json") if catalog else ():
        refs = json.loads(path.read_text()).get("refs")
        if isinstance(refs, dict):
            ranged = [_split(k) for k, v in refs.items() if isinstance(v, list)]
            need = sum(any(step(g, c) for g, c in ranged) for step in STEPS[task])
            depth = max(depth or 0, need)
    return depth


def _split(key: str) -> tuple[str, str]:
    """``units/spike_times/0`` -> (``units``, ``spike_times``); ``identifier/0`` -> ("", ...)."""
    parts = key.split("/")[:-1]
    return "/".join(parts[:-1]), parts[-1] if parts else ""


# -- report --------------------------------------------------------------------------------------


def _by(settings: Sequence[Setting]) -> dict[tuple[str, int, str, str], Run]:
    return {(s.transport, s.n, r.task, r.tool): r for s in settings for r in s.runs}


def _vs(r: Run, other: Run | None) -> str:
    return ratio(r.seconds, other.seconds if other else NAN)


def _check(r: Run, want: int) -> str:
    return f"{r.check}" if r.check == want else f"{r.check} (expected {want}!)"


def results_table(settings: Sequence[Setting], truth: list[dict[str, int]]) -> str:
    by = _by(settings)
    out = ["| transport | N | task | tool | runs | wall s | CPU s | requests | MB | peak RSS MB "
           "| / lazynwb | / lazynwb warm | check | load |", "|---|---:|---|---|---:|---:|---:|---:|"
           "---:|---:|---:|---:|---|---:|"]
    for s in settings:
        for r in s.runs:
            if r.task == "index":
                continue
            want = sum(t[r.task] for t in truth[: s.n])
            head = f"| {s.transport} | {s.n} | {r.task} | {r.tool} |"
            if r.error and not r.runs:
                out.append(f"{head} 0 | failed: {r.error} | | | | | | | | |")
                continue
            lazy, warm = (by.get((s.transport, s.n, r.task, t)) for t in ("lazynwb",
                                                                          "lazynwb warm"))
            out.append(f"{head} {_measured(s, r)} | "
                       f"{fmt(r.peak_rss_mb, 0)} | {_vs(r, lazy)} | {_vs(r, warm)} | "
                       f"{_check(r, want)} "
                       f"{r.note}{' ' + r.error if r.error else ''} | {fmt(r.median('load'), 1)} |")
    return "\n".join(out)


def _measured(s: Setting, r: Run) -> str:
    """The cells every table shares: runs, wall and CPU seconds, requests, MB (what the server
    sent over HTTP, what the process read locally)."""
    served = s.server is not None
    mb = r.mb if served else r.median("read_mb")
    return (f"{r.runs} | {fmt(r.seconds)} | {fmt(r.median('cpu_seconds'))} | "
            f"{r.requests if served else '-'} | {fmt(mb, 1)}")


def index_table(settings: Sequence[Setting]) -> str:
    by = _by(settings)
    out = ["| transport | N | tool | runs | wall s | CPU s | requests | MB read | "
           "references MB | peak RSS MB | / lindi | check | load |",
           "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for s in settings:
        for r in (r for r in s.runs if r.task == "index"):
            name = "ours (intake_nwb.index)" if r.tool == "ours cold" else r.tool
            if r.error and not r.runs:
                out.append(f"| {s.transport} | {s.n} | {name} | 0 | failed: {r.error} "
                           "| | | | | | | | |")
                continue
            lindi = by.get((s.transport, s.n, "index", "lindi"))
            out.append(f"| {s.transport} | {s.n} | {name} | {_measured(s, r)} | "
                       f"{fmt(r.median('written_mb'), 1)} | {fmt(r.peak_rss_mb, 0)} | "
                       f"{_vs(r, lindi)} | "
                       f"{_check(r, s.n)} {r.note} | {fmt(r.median('load'), 1)} |")
    return "\n".join(out)


def catalog_table(settings: Sequence[Setting]) -> str:
    out = ["| transport | N | build_catalog s | catalog.yaml KB | imports s | open_catalog s |",
           "|---|---:|---:|---:|---:|---:|"]
    for s in settings:
        warm = [r for r in s.runs if r.tool == "ours warm"]
        opened = sorted(v for r in warm for v in r.figures.get("open_seconds", []))
        imports = sorted(v for r in warm for v in r.figures.get("import_seconds", []))
        size = s.catalog.stat().st_size / 1e3 if s.catalog else NAN
        build = fmt(s.build_seconds, 1) + (f" (failed: {s.build_error})" if s.build_error else "")
        out.append(f"| {s.transport} | {s.n} | {build} | {fmt(size, 0)} | "
                   f"{fmt(imports[len(imports) // 2] if imports else NAN, 2)} | "
                   f"{fmt(opened[len(opened) // 2] if opened else NAN, 3)} |")
    return "\n".join(out)


def growth_table(settings: Sequence[Setting]) -> str:
    by = _by(settings)
    sizes = sorted({s.n for s in settings})
    steps = list(zip(sizes, sizes[1:], strict=False))
    out = ["| transport | task | tool | " + " | ".join(f"ms/file {a}->{b}" for a, b in steps)
           + " |", "|---|---|---|" + "---:|" * len(steps)]
    keys = dict.fromkeys((s.transport, r.task, r.tool) for s in settings for r in s.runs)
    for transport, task, tool in keys:
        cells = []
        for a, b in steps:
            ra, rb = by.get((transport, a, task, tool)), by.get((transport, b, task, tool))
            slope = (rb.seconds - ra.seconds) / (b - a) * 1e3 if ra and rb else NAN
            cells.append(fmt(slope, 1))
        out.append(f"| {transport} | {task} | {tool} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def floor_table(settings: Sequence[Setting], latency: float) -> str:
    by = _by(settings)
    out = ["| N | task | floor, nothing indexed | floor, indexed (checks on / off) | ours cold "
           "| ours warm | lazynwb | lazynwb warm |", "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for s in (s for s in settings if s.transport == "http"):
        for task in dict.fromkeys(r.task for r in s.runs if r.task != "index"):
            data = data_round_trips(s.catalog, task)
            on = None if data is None else max(1, data)
            cells = []
            for tool, trips in (("ours cold", 1), ("ours warm", on), ("lazynwb", 1),
                                ("lazynwb warm", on)):
                r = by.get((s.transport, s.n, task, tool))
                if r is None or r.seconds != r.seconds:
                    cells.append("-")
                elif trips is None:
                    cells.append(fmt(r.seconds))
                else:
                    cells.append(f"{fmt(r.seconds)} ({r.seconds / (trips * latency):.0f}x)")
            indexed = "?" if data is None else (f"{on} RTT = {on * latency * 1e3:.0f} ms / "
                                                f"{data} RTT")
            out.append(f"| {s.n} | {task} | 1 RTT = {latency * 1e3:.0f} ms | {indexed} | "
                       + " | ".join(cells) + " |")
    return "\n".join(out)


def checkout() -> str:
    import intake_nwb

    git = ["git", "-C", str(ROOT)]
    # the package's last commit, not the checkout's: benchmark-only commits change nothing
    sha = subprocess.run([*git, "log", "-1", "--format=%h", "--", "intake_nwb"],
                         capture_output=True, text=True).stdout.strip() or "?"
    dirty = subprocess.run([*git, "status", "--porcelain", "--", "intake_nwb"],
                           capture_output=True, text=True).stdout.strip()
    return (f"intake_nwb {intake_nwb.__version__} from `{intake_nwb.__file__}` "
            f"(commit {sha}{', intake_nwb/ modified' if dirty else ''})")


def report(settings: Sequence[Setting], truth: list[dict[str, int]], paths: Sequence[Path],
           args: argparse.Namespace, seconds: float) -> str:
    versions = {r.tool: r.version for s in settings for r in s.runs if r.version}
    sizes = [p.stat().st_size / 1e6 for p in paths]
    units = [t["units_scalar"] for t in truth]
    parts = ["## intake_nwb lab-scale benchmark", "",
             f"{checkout()}; peers: "
             + ", ".join(f"{k} {v}" for k, v in versions.items() if not k.startswith("ours"))
             + f". Sessions: {len(paths)} files of {min(sizes):.1f}-{max(sizes):.1f} MB "
             f"({sum(sizes) / len(sizes):.1f} MB mean), {min(units)}-{max(units)} units, "
             f"{truth[0]['trials']} trials each. http: {args.latency * 1e3:.0f} ms per request. "
             f"Up to {args.repeat} runs per cell (median), {args.cell_budget:.0f} s per cell.",
             "", "### Reads", "", results_table(settings, truth), "",
             "### Indexing every file (cold): intake_nwb.index against LINDI", "",
             index_table(settings), "", "### The warm catalog", "", catalog_table(settings)]
    if len({s.n for s in settings}) > 1:  # growth needs two sizes at least
        parts += ["", "### Growth: milliseconds per extra file", "", growth_table(settings)]
    if any(s.transport == "http" for s in settings):
        parts += ["", "### http: latency floor (sequential round trips x latency)", "",
                  floor_table(settings, args.latency)]
    parts += ["", f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, Python "
              f"{platform.python_version()}, niceness {os.nice(0)}. `load`: the 1-minute load "
              f"average after the task's cells. Total wall time {seconds / 60:.0f} min."]
    return "\n".join(parts)


def _names(text: str, allowed: Sequence[str], what: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in allowed]
    if bad:
        raise SystemExit(f"unknown {what} {bad}; choose from {', '.join(allowed)}")
    return names


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--sizes", default="10,50,200", help="lab sizes N (files), comma-separated")
    ap.add_argument("--tools", default=",".join(TOOLS), help=", ".join(TOOLS))
    ap.add_argument("--tasks", default=",".join(TASKS), help=", ".join(TASKS))
    ap.add_argument("--transports", default=",".join(TRANSPORTS), help=", ".join(TRANSPORTS))
    ap.add_argument("--latency", type=float, default=0.03, help="http: seconds per request")
    ap.add_argument("--repeat", type=int, default=3, help="runs per cell (median reported)")
    ap.add_argument("--cell-budget", type=float, default=120.0,
                    help="no further repeats once a cell has taken this many seconds")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per run")
    ap.add_argument("--work-dir", type=Path,
                    default=Path(tempfile.gettempdir()) / "intake-nwb-bench-lab")
    ap.add_argument("--peer-venv", type=Path, default=None,
                    help="virtualenv for lazynwb and lindi (default: WORK_DIR/peer-venv)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                    help="processes writing sessions")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--output", type=Path, help="also write the markdown report here")
    args = ap.parse_args(argv)
    if args.child:
        _child(json.loads(args.child))
        return
    sizes = sorted({int(n) for n in args.sizes.split(",")})
    tools = _names(args.tools, TOOLS, "tools")
    tasks = _names(args.tasks, TASKS, "tasks")
    transports = _names(args.transports, TRANSPORTS, "transports")
    work = args.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    print(checkout(), file=sys.stderr)
    peer_python = None
    if {"lazynwb", "lazynwb warm", "lindi"} & set(tools):
        peer_python = ensure_peer_venv(args.peer_venv or work / "peer-venv", PEER_PACKAGES,
                                       ("lazynwb", "lindi", "obstore"))

    t = time.perf_counter()
    paths = ensure_sessions(work, max(sizes), args.seed, args.jobs)
    truth = expected(paths)
    settings: list[Setting] = []
    for transport in transports:
        with serving(transport, paths[0].parent, args.latency) as server:
            for n in sizes:
                srcs = ([server.url_for(p.name) for p in paths[:n]] if server
                        else [str(p) for p in paths[:n]])
                setting = Setting(transport, srcs, server)
                settings.append(setting)
                if "ours warm" in tools:
                    build_catalog(setting, work)
                    print(f"{transport} N={n}: catalog built in {setting.build_seconds:.1f} s "
                          f"{setting.build_error}", file=sys.stderr)
                for task in tasks:
                    runs = measure_task(task, [t for t in tools if applies(t, task)], setting,
                                        peer_python, args)
                    setting.runs += runs
                    for run in runs:
                        print(f"  {transport:5s} N={n:<5d} {task:14s} {run.tool:13s} "
                              f"{run.seconds:7.2f} s  x{run.runs}  {run.requests:5d} req  "
                              f"check {run.check}  {run.error}", file=sys.stderr)
    text = report(settings, truth, paths[: max(sizes)], args, time.perf_counter() - t)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()

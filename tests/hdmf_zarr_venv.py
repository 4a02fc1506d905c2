"""hdmf-zarr in a venv of its own, and a worker that compares pynwb reads of HDF5 and Zarr NWB.

hdmf-zarr pins ``zarr<3`` while intake-nwb needs zarr 3, so hdmf-zarr's ``NWBZarrIO`` runs in a
separate virtual environment, created once and cached (``$INTAKE_NWB_VENVS``, default
``~/.cache/intake-nwb/venvs``). This file is used three ways:

- imported by the tests (main environment, stdlib only at import time): :func:`venv_python`
  creates the venv if needed, :func:`run_worker` runs the comparison in it, one subprocess for
  all files;
- run *inside the venv* as ``python hdmf_zarr_venv.py compare --input pairs.json --output
  results.json [--baseline-dir DIR]``: for each ``{"name", "nwb", "zarr"}`` pair, read the HDF5
  file with ``NWBHDF5IO(load_namespaces=True)`` and the Zarr store with ``NWBZarrIO``, and
  compare the objects, every field of every object, every DynamicTable's ``to_dataframe()``,
  every TimeSeries and the NWBFile's fields. With ``--baseline-dir`` the HDF5 file is also
  exported to Zarr by hdmf-zarr itself (``NWBZarrIO.export``) and that copy compared the same
  way: the baseline that the virtual store has to match at least;
- run from the main environment as ``python tests/hdmf_zarr_venv.py create`` (build the venv,
  print its python) or ``python tests/hdmf_zarr_venv.py check FILE.nwb ...`` (index,
  materialize and compare the given files, print the results).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

# hdmf-zarr 0.13.0 with zarr 2.18.7 / numcodecs 0.15.2 reads the hdmf-zarr-written stores in the
# test data; pynwb 4.2.0 / hdmf 6.2.0 are what the main environment has.
REQUIREMENTS = [
    "hdmf-zarr==0.13.0",
    "pynwb==4.2.0",
    "hdmf==6.2.0",
    "zarr==2.18.7",
    "numcodecs==0.15.2",
    "h5py>=3.10",
]
VENVS_ENV = "INTAKE_NWB_VENVS"
PIP_TIMEOUT = 900
_OK_MARKER = "intake-nwb-venv-ok.json"
MAX_DIFFS = 60  # differences reported per file


class VenvUnavailable(RuntimeError):
    """The hdmf-zarr venv could not be created (no network to PyPI, no venv module, ...)."""


# -- the venv (main environment side) ------------------------------------------------------------


def venvs_root() -> Path:
    env = os.environ.get(VENVS_ENV)
    return Path(env) if env else Path.home() / ".cache" / "intake-nwb" / "venvs"


def venv_dir() -> Path:
    digest = hashlib.sha256("\n".join(REQUIREMENTS).encode()).hexdigest()[:10]
    return venvs_root() / f"hdmf-zarr-{digest}"


def _base_python() -> str:
    """A Python 3.11 to build the venv from (this one if it is 3.11)."""
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    import shutil

    return shutil.which("python3.11") or sys.executable


def _venv_bin(venv: Path, name: str) -> Path:
    return (
        venv
        / ("Scripts" if os.name == "nt" else "bin")
        / (name + (".exe" if os.name == "nt" else ""))
    )


def venv_python(*, create: bool = True, log: Any = None) -> Path:
    """The venv's python, creating the venv first if needed (raises :class:`VenvUnavailable`)."""
    venv = venv_dir()
    python = _venv_bin(venv, "python")
    if (venv / _OK_MARKER).exists() and python.exists():
        return python
    if not create:
        raise VenvUnavailable(f"no hdmf-zarr venv at {venv}")
    venv.parent.mkdir(parents=True, exist_ok=True)
    with _lock(venv.parent / (venv.name + ".lock")):
        if (venv / _OK_MARKER).exists() and python.exists():  # made while we waited
            return python
        _create(venv, log=log)
    return python


@contextlib.contextmanager
def _lock(path: Path):
    with open(path, "w") as f:
        try:
            import fcntl
        except ImportError:  # Windows: no concurrent test workers expected
            yield
            return
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _create(venv: Path, *, log: Any = None) -> None:
    import shutil

    if venv.exists():
        shutil.rmtree(venv)
    t0 = time.monotonic()

    def run(cmd: list[str], timeout: float) -> None:
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise VenvUnavailable(f"{' '.join(cmd[:4])} ...: {exc}") from exc
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise VenvUnavailable(f"{' '.join(cmd[:4])} ... exited {proc.returncode}:\n{tail}")

    try:
        run([_base_python(), "-m", "venv", str(venv)], 300)
        python = str(_venv_bin(venv, "python"))
        run(
            [python, "-m", "pip", "install", "--disable-pip-version-check", "-q", *REQUIREMENTS],
            PIP_TIMEOUT,
        )
        run([python, "-c", "import hdmf_zarr, pynwb, zarr; assert zarr.__version__[0] == '2'"], 300)
    except BaseException:
        shutil.rmtree(venv, ignore_errors=True)
        raise
    (venv / _OK_MARKER).write_text(
        json.dumps({"requirements": REQUIREMENTS, "seconds": round(time.monotonic() - t0, 1)})
    )
    if log:
        log(f"created {venv} in {time.monotonic() - t0:.0f} s")


def run_worker(
    pairs: list[dict[str, str]],
    *,
    baseline_dir: str | os.PathLike[str] | None = None,
    jobs: int | None = None,
    timeout: float = 1800,
    python: Path | None = None,
) -> list[dict[str, Any]]:
    """Compare every ``{"name", "nwb", "zarr"}`` pair in one subprocess inside the venv."""
    python = python or venv_python()
    with tempfile.TemporaryDirectory(prefix="hdmf-zarr-worker-") as tmp:
        inp, out = Path(tmp) / "pairs.json", Path(tmp) / "results.json"
        inp.write_text(json.dumps(pairs))
        cmd = [
            str(python),
            str(Path(__file__).resolve()),
            "compare",
            "--input",
            str(inp),
            "--output",
            str(out),
            "--jobs",
            str(jobs or min(4, os.cpu_count() or 1)),
        ]
        if baseline_dir is not None:
            cmd += ["--baseline-dir", str(baseline_dir)]
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(
                f"hdmf-zarr worker exited {proc.returncode}:\n"
                f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
            )
        return json.loads(out.read_text())


# -- the worker (inside the venv) ----------------------------------------------------------------


def _worker_main(args: argparse.Namespace) -> int:
    import warnings

    warnings.simplefilter("ignore")
    pairs = json.loads(Path(args.input).read_text())
    import hdmf_zarr  # noqa: F401
    import pynwb  # noqa: F401 - imported once before forking

    tasks = [(p, args.baseline_dir) for p in pairs]
    if args.jobs > 1 and len(tasks) > 1:
        import multiprocessing

        ctx = multiprocessing.get_context("fork" if sys.platform != "win32" else "spawn")
        with ctx.Pool(args.jobs, maxtasksperchild=4) as pool:
            results = pool.map(_compare_task, tasks, chunksize=1)
    else:
        results = [_compare_task(t) for t in tasks]
    Path(args.output).write_text(json.dumps(results, indent=1, default=str))
    return 0


def _compare_task(task: tuple[dict[str, str], str | None]) -> dict[str, Any]:
    try:
        return _compare_one(*task)
    except BaseException as exc:  # noqa: BLE001 - one file's crash must not lose the others
        return {
            "name": task[0].get("name"),
            "nwb": task[0]["nwb"],
            "status": "worker_error",
            "error": _error(exc),
        }


def _compare_one(pair: dict[str, str], baseline_dir: str | None) -> dict[str, Any]:
    import warnings

    warnings.simplefilter("ignore")
    t0 = time.monotonic()
    out: dict[str, Any] = {
        "name": pair.get("name", pair["nwb"]),
        "nwb": pair["nwb"],
        "zarr": pair.get("zarr"),
    }
    try:
        h5 = _summarize_hdf5(pair["nwb"])
    except Exception as exc:  # noqa: BLE001
        out.update(status="hdf5_error", error=_error(exc), seconds=round(time.monotonic() - t0, 2))
        return out
    out["counts"] = h5["counts"]
    # what the HDF5 read itself could not produce (compared as "same error" only)
    out["hdf5_unreadable"] = _unreadable(h5["sections"], "")[:MAX_DIFFS]
    if pair.get("zarr"):
        out.update(_compare_zarr(h5, pair["zarr"]))
    if baseline_dir:
        name = pair.get("name") or Path(pair["nwb"]).name
        exported = Path(baseline_dir) / (name.strip("/").replace("/", "__") + ".export.zarr")
        try:
            _export(pair["nwb"], exported)
        except Exception as exc:  # noqa: BLE001
            out["baseline"] = {"status": "export_error", "error": _error(exc)}
        else:
            # hdmf-zarr's default object codec is Pickle: allowed for the copy we just wrote
            out["baseline"] = _compare_zarr(h5, str(exported), allow_pickle=True)
    out["seconds"] = round(time.monotonic() - t0, 2)
    return out


def _unreadable(v: Any, path: str) -> list[str]:
    if isinstance(v, dict):
        if "__error__" in v:
            return [f"{path}: {v['__error__'][:200]}"]
        return [x for k, y in v.items() for x in _unreadable(y, f"{path}/{k}")]
    if isinstance(v, list):
        return [x for i, y in enumerate(v) for x in _unreadable(y, f"{path}[{i}]")][:5]
    if isinstance(v, str) and v.startswith("<") and v.endswith(">") and "." in v:
        return [f"{path}: not compared ({v})"]
    return []


def _error(exc: BaseException) -> str:
    tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return "".join(tb[-4:])[-3000:]


def _export(nwb: str, dest: Path) -> None:
    import shutil

    from hdmf_zarr.nwb import NWBZarrIO
    from pynwb import NWBHDF5IO

    if dest.exists():
        shutil.rmtree(dest)
    with NWBHDF5IO(nwb, "r", load_namespaces=True) as rio, NWBZarrIO(str(dest), mode="w") as wio:
        wio.export(src_io=rio, write_args={"link_data": False})


def _summarize_hdf5(nwb: str) -> dict[str, Any]:
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(nwb, "r", load_namespaces=True) as io:
        return _summarize(io.read(), io)


def _compare_zarr(
    h5: dict[str, Any], zarr_path: str, *, allow_pickle: bool = False
) -> dict[str, Any]:
    import numcodecs.pickles
    from hdmf_zarr.nwb import NWBZarrIO

    numcodecs.pickles.ALLOW_UNSAFE_PICKLE_DECODE = allow_pickle

    io = None
    try:
        io = NWBZarrIO(zarr_path, "r", load_namespaces=True)
        z = _summarize(io.read(), io)
    except Exception as exc:  # noqa: BLE001
        return {"status": "zarr_error", "error": _error(exc)}
    finally:
        if io is not None:
            with contextlib.suppress(Exception):
                io.close()
    # an HDF5 file without object_id attributes gets random ids on every read: nothing to compare
    for key, info in h5["sections"]["objects"].items():
        if info.get("object_id") is None and key in z["sections"]["objects"]:
            z["sections"]["objects"][key]["object_id"] = None
    diffs: list[str] = []
    _diff(h5["sections"], z["sections"], "", diffs)
    return {
        "status": "ok" if not diffs else "fail",
        "n_differences": len(diffs),
        "differences": diffs[:MAX_DIFFS],
    }


# -- summaries: what one NWB file holds, normalised so that both backends can be compared ------

_NWBFILE_FIELDS = (
    "identifier",
    "session_start_time",
    "session_description",
    "timestamps_reference_time",
    "file_create_date",
    "experimenter",
    "experiment_description",
    "session_id",
    "institution",
    "lab",
    "keywords",
    "related_publications",
    "notes",
    "stimulus_notes",
    "data_collection",
    "source_script",
    "pharmacology",
    "protocol",
    "surgery",
    "virus",
)
_TS_FIELDS = (
    "data",
    "timestamps",
    "starting_time",
    "rate",
    "unit",
    "conversion",
    "offset",
    "resolution",
    "comments",
    "description",
    "continuity",
    "control",
    "control_description",
)


def _summarize(nwbfile: Any, io: Any) -> dict[str, Any]:
    from hdmf.common import DynamicTable
    from hdmf.container import Data
    from pynwb import TimeSeries

    objects: dict[str, dict[str, Any]] = {}
    fields: dict[str, Any] = {}
    tables: dict[str, Any] = {}
    series: dict[str, Any] = {}
    n_tables = n_series = 0
    for oid, obj in nwbfile.objects.items():
        key = _obj_key(obj)
        if key in objects:
            key = f"{key} #{oid}"
        builder = None
        with contextlib.suppress(Exception):
            builder = io.manager.get_builder(obj)
        file_oid = builder.attributes.get("object_id") if builder is not None else None
        objects[key] = {"object_id": _norm(file_oid)}
        fields[key] = _guard(
            lambda obj=obj: {
                name: _guard(lambda v=value: _norm(v)) for name, value in obj.fields.items()
            }
        )
        if isinstance(obj, Data) and isinstance(fields[key], dict):  # Data keep data apart
            fields[key]["__data__"] = _guard(lambda obj=obj: _norm(obj.data))
        if isinstance(obj, DynamicTable):
            n_tables += 1
            tables[key] = _guard(lambda obj=obj: _norm(obj.to_dataframe(index=True)))
        if isinstance(obj, TimeSeries):
            n_series += 1
            series[key] = {
                f: _guard(lambda f=f, obj=obj: _norm(getattr(obj, f, None))) for f in _TS_FIELDS
            }
    top = {f: _guard(lambda f=f: _norm(getattr(nwbfile, f, None))) for f in _NWBFILE_FIELDS}
    subject = nwbfile.subject
    top["subject"] = _guard(
        lambda: None if subject is None else {k: _norm(v) for k, v in subject.fields.items()}
    )
    return {
        "sections": {
            "nwbfile": top,
            "objects": objects,
            "tables": tables,
            "timeseries": series,
            "fields": fields,
        },
        "counts": {"objects": len(objects), "tables": n_tables, "timeseries": n_series},
    }


def _guard(fn: Any) -> Any:
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - the error itself is what gets compared
        return {"__error__": f"{type(exc).__name__}: {str(exc)[:300]}"}


def _obj_path(obj: Any) -> str:
    names = []
    node = obj
    while node is not None and len(names) < 50:
        names.append(node.name)
        node = node.parent
    names.reverse()
    root = names[0] if names else ""
    rest = names[1:]
    return ("/" if root == "root" else f"?{root}/") + "/".join(rest)


def _type_name(obj: Any) -> str:
    return f"{getattr(obj, 'namespace', '?')}:{getattr(obj, 'neurodata_type', type(obj).__name__)}"


def _obj_key(obj: Any) -> str:
    return f"{_obj_path(obj)} <{_type_name(obj)}>"


def _norm(v: Any, depth: int = 0) -> Any:  # noqa: C901 - one case per kind of value
    import datetime

    import numpy as np
    import pandas as pd
    from hdmf.container import AbstractContainer
    from hdmf.query import HDMFDataset

    if depth > 8:
        return f"<too deep: {type(v).__name__}>"
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, np.generic):
        return _norm(v.item(), depth + 1)
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).decode("utf-8", "replace")
    if isinstance(v, (datetime.datetime, datetime.date)):
        return v.isoformat()
    if isinstance(v, AbstractContainer):
        return {"__ref__": _obj_key(v)}
    if isinstance(v, pd.DataFrame):
        return {
            "__frame__": {str(c): [_norm(x, depth + 1) for x in v[c].tolist()] for c in v.columns},
            "__index__": [_norm(x, depth + 1) for x in v.index.tolist()],
            "__index_name__": v.index.name,
        }
    if isinstance(v, pd.Series):
        return [_norm(x, depth + 1) for x in v.tolist()]
    if isinstance(v, dict) or hasattr(v, "items") and hasattr(v, "keys"):
        return {str(k): _norm(x, depth + 1) for k, x in v.items()}
    if isinstance(v, tuple) and hasattr(v, "_fields"):  # e.g. TimeSeriesReference
        return {f: _norm(getattr(v, f), depth + 1) for f in v._fields}
    if isinstance(v, (list, tuple, set, frozenset)):
        return [_norm(x, depth + 1) for x in v]
    if isinstance(v, np.ndarray):
        return _norm_array(v, depth)
    if isinstance(v, HDMFDataset) or _is_array_like(v):
        shape = getattr(v, "shape", None)
        data = v[()] if shape == () else v[:]
        return _norm(data if not isinstance(data, np.ndarray) else data, depth + 1)
    return f"<{type(v).__module__}.{type(v).__name__}>"


def _is_array_like(v: Any) -> bool:
    """h5py/zarr arrays and their wrappers (hdmf's StrDataset, DataIO, ...)."""
    return hasattr(v, "__getitem__") and hasattr(v, "shape") and not isinstance(v, type)


def _norm_array(a: Any, depth: int) -> Any:
    import numpy as np

    if a.dtype.names:
        return (
            [[_norm(x, depth + 1) for x in row] for row in a.reshape(-1).tolist()]
            if a.ndim <= 1
            else [_norm_array(x, depth + 1) for x in a]
        )
    if a.dtype.kind in "OSUV":
        if a.ndim == 0:
            return _norm(a.item(), depth + 1)
        return [_norm(x, depth + 1) for x in a]
    return np.ascontiguousarray(a)


def _diff(a: Any, b: Any, path: str, out: list[str]) -> None:  # noqa: C901
    import numpy as np

    if len(out) > 10 * MAX_DIFFS:
        return
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        _diff_arrays(a, b, path, out)
        return
    if isinstance(a, dict) and isinstance(b, dict):
        if "__error__" in a or "__error__" in b:
            ea, eb = a.get("__error__"), b.get("__error__")
            if not (ea and eb and ea.split(":")[0] == eb.split(":")[0]):
                out.append(f"{path}: {_short(ea or '(no error)')} != {_short(eb or '(no error)')}")
            return
        for k in sorted(set(a) | set(b)):
            if k not in b:
                out.append(f"{path}/{k}: only in HDF5 read")
            elif k not in a:
                out.append(f"{path}/{k}: only in Zarr read")
            else:
                _diff(a[k], b[k], f"{path}/{k}", out)
        return
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: length {len(a)} != {len(b)}")
            return
        before = len(out)
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _diff(x, y, f"{path}[{i}]", out)
            if len(out) - before >= 3:
                out.append(f"{path}: ... (more differences)")
                return
        return
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:  # both NaN
        return
    if type(a) is not type(b) and not (
        isinstance(a, (int, float))
        and isinstance(b, (int, float))
        and not isinstance(a, bool)
        and not isinstance(b, bool)
    ):
        out.append(f"{path}: {_short(a)} ({type(a).__name__}) != {_short(b)} ({type(b).__name__})")
        return
    if a != b:
        out.append(f"{path}: {_short(a)} != {_short(b)}")


def _diff_arrays(a: Any, b: Any, path: str, out: list[str]) -> None:
    import numpy as np

    listed = not isinstance(a, np.ndarray) or not isinstance(b, np.ndarray)
    try:
        x = a if isinstance(a, np.ndarray) else np.asarray(a)
        y = b if isinstance(b, np.ndarray) else np.asarray(b)
    except Exception:  # noqa: BLE001 - ragged lists
        out.append(f"{path}: {_short(a)} != {_short(b)}")
        return
    if x.shape != y.shape:
        out.append(f"{path}: shape {x.shape} != {y.shape}")
        return
    if not listed and x.dtype != y.dtype:
        out.append(f"{path}: dtype {x.dtype} != {y.dtype}")
    if x.dtype.kind not in "biufcmMb" or y.dtype.kind not in "biufcmMb":
        if x.tolist() != y.tolist():
            out.append(f"{path}: {_short(a)} != {_short(b)}")
        return
    nan = x.dtype.kind in "fc" and y.dtype.kind in "fc"
    if not np.array_equal(x, y, equal_nan=nan):
        neq = ~((x == y) | (np.isnan(x) & np.isnan(y))) if nan else x != y
        first = np.argwhere(neq)[0].tolist() if neq.ndim else []
        out.append(
            f"{path}: {int(np.count_nonzero(neq))} values differ, first at {first}: "
            f"{_short(x[tuple(first)] if first else x)} != "
            f"{_short(y[tuple(first)] if first else y)}"
        )


def _short(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 160 else s[:150] + "...>"


# -- command line --------------------------------------------------------------------------------


def _check_main(args: argparse.Namespace) -> int:
    """Main environment: index + materialize the given files, compare them in the venv."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import intake_nwb
    from tests.support.materialize import materialize

    with tempfile.TemporaryDirectory(prefix="hdmf-zarr-check-") as tmp:
        refs = intake_nwb.index(args.files, refs_dir=Path(tmp) / "refs", progress=False)
        pairs = []
        for i, (src, ref) in enumerate(refs.items()):
            store = materialize(ref, Path(tmp) / "stores" / f"{i}-{Path(src).name}.zarr")
            pairs.append({"name": src, "nwb": src, "zarr": str(store)})
        results = run_worker(pairs, baseline_dir=Path(tmp) / "export" if args.baseline else None)
    print(json.dumps(results, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("create", help="create the venv (if needed) and print its python")
    cmp_ = sub.add_parser("compare", help="(inside the venv) compare HDF5/Zarr pairs")
    cmp_.add_argument("--input", required=True)
    cmp_.add_argument("--output", required=True)
    cmp_.add_argument("--jobs", type=int, default=1)
    cmp_.add_argument("--baseline-dir")
    chk = sub.add_parser("check", help="index, materialize and compare NWB files")
    chk.add_argument("files", nargs="+")
    chk.add_argument("--baseline", action="store_true", help="also hdmf-zarr's own export")
    args = parser.parse_args(argv)
    if args.cmd == "create":
        print(venv_python(log=lambda m: print(m, file=sys.stderr)))
        return 0
    if args.cmd == "compare":
        return _worker_main(args)
    return _check_main(args)


if __name__ == "__main__":
    sys.exit(main())

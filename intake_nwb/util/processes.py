"""Worker processes that never re-run the caller's script: an executor for CPU-bound batches.

h5py holds one lock for all of a process's HDF5 calls, so threads translating local files
queue on it (they were 2.3x *slower* than one thread). Processes run in parallel, but
multiprocessing's ``spawn``/``forkserver`` re-import the caller's ``__main__`` (a script without
an ``if __name__ == "__main__"`` guard starts over in every worker) and ``fork`` is unsafe once
threads (polars, asyncio loops) run. These workers are fresh interpreters running this module:
a job goes in as one JSON line on stdin (a function of intake_nwb, ``module:name``, and JSON
arguments) and its result comes back as one JSON line; an exception comes back as its
intake_nwb class, message, file and path. The parent's :mod:`~intake_nwb.config` goes with the
workers; what they print goes to stderr.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import importlib
import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import errors
from ..config import Config, config

_PACKAGE = "intake_nwb."
_STOP = None


class ProcessWorkers(cf.Executor):
    """A ``concurrent.futures`` executor over ``n`` worker interpreters (started lazily).

    Functions must be module-level functions of intake_nwb; arguments and results JSON.

    Examples
    --------
    >>> from intake_nwb.sample import parse_size
    >>> with ProcessWorkers(1) as pool:
    ...     pool.submit(parse_size, "100MB").result()  # computed in the worker interpreter
    100000000
    """

    def __init__(self, n: int):
        self._jobs: queue.Queue[Any] = queue.Queue()
        self._threads = [threading.Thread(target=self._serve, daemon=True) for _ in range(n)]
        self._started = False
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        name = f"{fn.__module__}:{fn.__qualname__}"
        if not name.startswith(_PACKAGE) or "." in fn.__qualname__:
            raise ValueError(f"{name}: workers run module-level functions of intake_nwb only")
        future: cf.Future[Any] = cf.Future()
        self._jobs.put((future, json.dumps({"fn": name, "args": args, "kwargs": kwargs})))
        with self._lock:
            if not self._started:
                self._started = True
                for t in self._threads:
                    t.start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            with contextlib.suppress(queue.Empty):
                while True:
                    self._jobs.get_nowait()[0].cancel()
        for _ in self._threads:
            self._jobs.put(_STOP)
        if wait and self._started:
            for t in self._threads:
                t.join()

    def _serve(self) -> None:
        """One worker process, fed job by job; a new one if it dies."""
        proc: subprocess.Popen[str] | None = None
        try:
            while (job := self._jobs.get()) is not _STOP:
                future, line = job
                if not future.set_running_or_notify_cancel():
                    continue
                if proc is None or proc.poll() is not None:
                    proc = _start()
                try:
                    assert proc.stdin is not None and proc.stdout is not None
                    proc.stdin.write(line + "\n")
                    proc.stdin.flush()
                    answer = proc.stdout.readline()
                    if not answer:
                        raise BrokenPipeError
                except (BrokenPipeError, OSError):
                    code = proc.wait()
                    future.set_exception(errors.IntakeNWBError(
                        f"a worker process ended (exit code {code}) during {line[:200]}"))
                    continue
                _settle(future, json.loads(answer))
        finally:
            if proc is not None:
                with contextlib.suppress(OSError):
                    proc.communicate(timeout=30)  # closes stdin: the worker's loop ends


def _start() -> subprocess.Popen[str]:
    root = str(Path(__file__).resolve().parents[2])  # where this intake_nwb is importable
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (root, os.environ.get("PYTHONPATH")) if p))
    proc = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(_config_values()) + "\n")
    proc.stdin.flush()
    return proc


def _config_values() -> dict[str, Any]:
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(Config)}


def _settle(future: cf.Future[Any], answer: dict[str, Any]) -> None:
    if "result" in answer:
        future.set_result(answer["result"])
        return
    err = answer.get("error", {})
    cls = getattr(errors, str(err.get("type")), None)
    message = str(err.get("message"))
    if isinstance(cls, type) and issubclass(cls, errors.IntakeNWBError):
        future.set_exception(cls(message, source=err.get("source"), path=err.get("path")))
    else:
        future.set_exception(errors.IntakeNWBError(f"{err.get('type')}: {message}",
                                                   source=err.get("source")))


def _worker() -> None:
    """The worker's loop: config, then one job per line until stdin closes."""
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # whatever the job prints goes to stderr, never into the answers
    config.set(**json.loads(sys.stdin.readline()))
    for line in sys.stdin:
        job = json.loads(line)
        module, _, name = job["fn"].partition(":")
        try:
            if not module.startswith(_PACKAGE):
                raise ValueError(f"{job['fn']}: not a function of intake_nwb")
            fn = getattr(importlib.import_module(module), name)
            answer: dict[str, Any] = {"result": fn(*job["args"], **job["kwargs"])}
        except Exception as exc:  # noqa: BLE001 - sent back to the caller, who reports it
            answer = {"error": {"type": type(exc).__name__, "message": getattr(
                exc, "message", str(exc)), "source": getattr(exc, "source", None),
                "path": getattr(exc, "path", None)}}
        out.write(json.dumps(answer) + "\n")
        out.flush()


if __name__ == "__main__":
    _worker()

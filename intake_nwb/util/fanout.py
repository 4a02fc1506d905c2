"""One fan-out: run a function over many sources concurrently, keep results and failures apart.

Every batch in the package (indexing, opening, inspecting, verifying pins) goes through
:func:`fan_out`, so there is one concurrency setting (``config.max_workers``), one progress bar
behaviour and one way failures are collected (then reported by
:func:`intake_nwb.errors.report_failures`).
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable, Hashable, Iterable
from typing import Any, Generic, TypeVar

from ..config import config

T = TypeVar("T")
R = TypeVar("R")


def fan_out(fn: Callable[[T], R], items: Iterable[T], *, key: Callable[[T], Hashable] = str,
            workers: int | None = None, progress: bool | None = False, desc: str = "",
            executor: cf.Executor | None = None
            ) -> tuple[dict[Any, R], dict[Any, BaseException]]:
    """``fn`` over ``items`` in a thread pool (or ``executor``); ``(results, failures)``.

    Both are keyed by ``key(item)``; results keep the items' order. An item's exception is
    collected, never raised here. ``progress``: True/False, or None for "many items only"
    (see :meth:`intake_nwb.config.Config.show_progress`).

    Examples
    --------
    >>> results, failures = fan_out(lambda x: 10 // x, [1, 2, 0], key=lambda x: x)
    >>> results, sorted(failures)
    ({1: 10, 2: 5}, [0])
    """
    todo = list(items)
    results: dict[Any, R] = {}
    failures: dict[Any, BaseException] = {}
    if not todo:
        return results, failures
    n = max(1, min(workers or config.max_workers, len(todo)))
    if n == 1 and executor is None:  # no pool for one item (or one worker): same thread
        for item in todo:
            try:
                results[key(item)] = fn(item)
            except Exception as exc:  # noqa: BLE001 - collected; the caller applies its policy
                failures[key(item)] = exc
        return results, failures
    own = executor is None
    pool = executor or cf.ThreadPoolExecutor(max_workers=n)
    try:
        futures = {pool.submit(fn, item): key(item) for item in todo}
        done: Iterable[cf.Future[R]] = cf.as_completed(futures)
        if config.show_progress(len(todo), progress):
            from tqdm.auto import tqdm

            done = tqdm(done, total=len(todo), desc=desc or None, unit="file")
        for fut in done:
            try:
                results[futures[fut]] = fut.result()
            except Exception as exc:  # noqa: BLE001 - collected; the caller applies its policy
                failures[futures[fut]] = exc
    finally:
        if own:
            pool.shutdown(wait=True, cancel_futures=True)
    order = [key(item) for item in todo]
    return {k: results[k] for k in order if k in results}, failures


class Visits(Generic[T, R]):
    """``fn`` applied to items as they come (a ``visit`` callback, e.g. of
    :func:`intake_nwb.store.open_stores`: while each file is open), each outcome kept by
    ``key``; :meth:`result` gives it back (raising a failure then), or applies ``fn`` to an
    item never visited."""

    def __init__(self, fn: Callable[[T], R], key: Callable[[T], Hashable]):
        self.fn, self.key = fn, key
        self._done: dict[Hashable, tuple[bool, Any]] = {}

    def __call__(self, item: T) -> None:
        try:
            self._done[self.key(item)] = (True, self.fn(item))
        except Exception as exc:  # noqa: BLE001 - kept; raised where the result is asked for
            self._done[self.key(item)] = (False, exc)

    def result(self, item: T) -> R:
        ok, value = self._done.get(self.key(item), (None, None))
        if ok is None:
            return self.fn(item)
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]

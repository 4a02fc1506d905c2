"""``cached_property`` without Python 3.11's class-wide lock.

Python 3.11's :func:`functools.cached_property` computes under one lock shared by *every*
instance of the class, so threads opening different files' tables wait for each other (a
profile of a 200-file filtered read spent half its thread time there). Python 3.12 dropped the
lock; this is its behaviour on 3.11: two threads may both compute one instance's value, and the
first value stored is the one every caller gets.

Examples
--------
>>> class Part:
...     calls = 0
...     @cached_property
...     def reader(self):
...         Part.calls += 1
...         return object()
>>> p = Part()
>>> p.reader is p.reader, Part.calls
(True, 1)
"""

from __future__ import annotations

import functools
import sys
from typing import Any

__all__ = ["cached_property"]

if sys.version_info >= (3, 12):
    cached_property = functools.cached_property
else:
    class cached_property(functools.cached_property):  # type: ignore[no-redef]  # noqa: N801
        """:func:`functools.cached_property` as of Python 3.12 (no lock)."""

        def __get__(self, instance: Any, owner: type | None = None) -> Any:
            if instance is None:
                return self
            cache = instance.__dict__
            try:
                return cache[self.attrname]
            except KeyError:
                return cache.setdefault(self.attrname, self.func(instance))

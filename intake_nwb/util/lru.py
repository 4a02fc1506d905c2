"""A thread-safe LRU mapping bounded by entry count or by bytes (one for every memo here)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, TypeVar

V = TypeVar("V")


class LRU(Generic[V]):
    """Keeps at most ``max_items`` values, or values whose ``weight`` sums to ``max_weight``.

    Examples
    --------
    >>> cache = LRU(max_items=2)
    >>> for k in "abc":
    ...     cache.put(k, k.upper())
    >>> cache.get("a"), cache.get("c")
    (None, 'C')
    >>> sized = LRU(max_weight=4, weight=len)
    >>> sized.put("x", b"12"); sized.put("y", b"345"); sized.get("x")
    """

    def __init__(self, max_items: int | None = None, *, max_weight: int | None = None,
                 weight: Callable[[V], int] | None = None):
        self.max_items = max_items
        self.max_weight = max_weight
        self._weight = weight or (lambda _v: 1)
        self._data: OrderedDict[Hashable, V] = OrderedDict()
        self._total = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: Hashable, value: V) -> None:
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._total -= self._weight(old)
            self._data[key] = value
            self._total += self._weight(value)
            while len(self._data) > 1 and (
                    (self.max_items is not None and len(self._data) > self.max_items)
                    or (self.max_weight is not None and self._total > self.max_weight)):
                _, dropped = self._data.popitem(last=False)
                self._total -= self._weight(dropped)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._total = 0

    def __iter__(self) -> Iterator[Hashable]:
        """The keys held now (a snapshot), least recently used first."""
        with self._lock:
            return iter(list(self._data))

    def __len__(self) -> int:
        return len(self._data)

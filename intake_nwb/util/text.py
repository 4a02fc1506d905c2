"""Bytes and numpy values as Python text and scalars (the one decoder the package uses)."""

from __future__ import annotations

from typing import Any

import numpy as np


def to_str(value: str | bytes | Any) -> str:
    """Text of ``value``: bytes as UTF-8, or Latin-1 when they are not UTF-8 (lossless either
    way); a 1-element array as its element; anything else through ``str``.

    Examples
    --------
    >>> to_str(b"caf\\xc3\\xa9"), to_str(b"\\xe9t\\xe9"), to_str(np.array([b"x"]))
    ('café', 'été', 'x')
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value.decode("latin-1")
    if isinstance(value, np.ndarray):
        return to_str(value.reshape(-1)[0]) if value.size else ""
    return str(value)


def to_py(value: Any) -> Any:
    """A Python value: bytes decoded (see :func:`to_str`), numpy scalars unwrapped.

    Examples
    --------
    >>> to_py(np.float32(1.5)), to_py(b"a"), to_py([1])
    (1.5, 'a', [1])
    """
    if isinstance(value, bytes):
        return to_str(value)
    if isinstance(value, np.generic):
        return value.item()
    return value

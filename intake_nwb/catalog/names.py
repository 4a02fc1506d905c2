"""Readable, unique entry names for NWB paths and files."""

from __future__ import annotations

import functools
import keyword
import re
from collections.abc import Iterable, Sequence


@functools.cache
def reserved() -> frozenset[str]:
    """Names a catalog answers as attributes itself (``cat.metadata`` is not an entry)."""
    from intake.catalog import Catalog

    return frozenset(n for n in dir(Catalog) if not n.startswith("_")) | {"cat", "metadata"}


_ROOTS = {"acquisition", "analysis", "general", "intervals", "processing", "scratch", "stimulus"}


def _parts(path: str) -> list[str]:
    parts = [re.sub(r"\W+", "_", p).strip("_") for p in path.strip("/").split("/")]
    parts = [p for p in parts if p]
    if len(parts) > 1 and parts[0] in _ROOTS:
        parts = parts[1:]
    out: list[str] = []
    for p in parts:  # "Position/position" reads as one word
        if out and out[-1].lower() == p.lower():
            out[-1] = p
        else:
            out.append(p)
    return out or ["entry"]


def entry_names(paths: Sequence[str], taken: Iterable[str] = ()) -> dict[str, str]:
    """Readable, unique entry names for NWB paths: the last component, more on collisions.

    Standard roots (``/processing``, ``/intervals``, ...) are left out, repeated neighbours
    (``Position/position``) count once, and names already ``taken`` (or answered by the
    catalog itself, like ``metadata``) are avoided.

    Examples
    --------
    >>> entry_names(["/units", "/intervals/trials", "/processing/behavior/Position/position",
    ...              "/processing/ecephys/LFP/ElectricalSeries", "/acquisition/ElectricalSeries"])
    ... # doctest: +NORMALIZE_WHITESPACE
    {'/units': 'units', '/intervals/trials': 'trials',
     '/processing/behavior/Position/position': 'position',
     '/processing/ecephys/LFP/ElectricalSeries': 'LFP_ElectricalSeries',
     '/acquisition/ElectricalSeries': 'ElectricalSeries'}
    """
    paths = list(dict.fromkeys(paths))
    blocked = set(taken) | reserved() | set(keyword.kwlist)
    parts = {p: _parts(p) for p in paths}
    depth = dict.fromkeys(paths, 1)

    def name(p: str) -> str:
        out = "_".join(parts[p][-depth[p]:])
        return out if out[0].isalpha() else f"nwb_{out}"

    while True:
        names = {p: name(p) for p in paths}
        groups: dict[str, list[str]] = {}
        for p, n in names.items():
            groups.setdefault(n, []).append(p)
        clashing = [g for n, g in groups.items() if len(g) > 1 or n in blocked]
        grown = False
        for group in clashing:
            for p in group:
                if depth[p] < len(parts[p]):
                    depth[p] += 1
                    grown = True
        if not grown:
            break
    out: dict[str, str] = {}
    used = set(blocked)
    for p in paths:  # what extending could not separate gets a number
        n, i = names[p], 2
        while n in used:
            n, i = f"{names[p]}_{i}", i + 1
        out[p] = n
        used.add(n)
    return out

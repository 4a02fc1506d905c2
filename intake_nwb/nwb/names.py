"""Short names for tables and TimeSeries, resolved to their paths in one file.

What users type (``"trials"``, ``"units"``, ``"lick_left_times"``, ``"/intervals/trials"``)
becomes a path here, for every call that takes a table or series by name (``scan_nwb``,
``get_df``, ``get``, ``open_nwb(...).get_df``, the command line):

1. an exact path (the leading ``/`` optional) of a table or TimeSeries wins;
2. a shortcut of :data:`TABLE_SHORTCUTS` (lazynwb's, ``"trials"`` -> ``/intervals/trials``);
3. unless ``exact``: the tables and TimeSeries whose path ends with the name's components
   (``"units"``, ``"behavior/running_speed"``). One match is used; several raise
   :class:`~intake_nwb.errors.AmbiguousNameError` listing them; none raises
   :class:`~intake_nwb.errors.TableNotFoundError` listing what the file has.

Nothing is matched approximately: lazynwb's closest-spelling fallback reads ``/intervals/trials``
for ``"/units"`` in a file without units; here that file has no ``/units``.
"""

from __future__ import annotations

from typing import Literal

import zarr

from ..errors import AmbiguousNameError, TableNotFoundError
from .file import NWBReader
from .series_table import TimeSeriesTable
from .tables import TableReader
from .timeseries import is_timeseries, timeseries_paths

#: lazynwb's shortcuts (its ``optophysiology`` is a group of imaging planes, not a table)
TABLE_SHORTCUTS = {
    "trials": "/intervals/trials",
    "epochs": "/intervals/epochs",
    "electrodes": "/general/extracellular_ephys/electrodes",
    "session": "/general",
    "subject": "/general/subject",
}
#: the session metadata read as one-row tables (see :mod:`intake_nwb.frames.metadata`)
SESSION_TABLES = ("/general", "/general/subject")

Kind = Literal["table", "timeseries"]


def normalize(name: str) -> str:
    """``"intervals/trials/"`` -> ``"/intervals/trials"``."""
    return "/" + str(name).strip("/")


def session_table(name: str) -> str | None:
    """The session table a name means (``"session"``, ``"/general"``...), else None."""
    path = TABLE_SHORTCUTS.get(str(name).strip("/"), normalize(name))
    return path if path in SESSION_TABLES else None


def kind_of(nwb: NWBReader, path: str) -> Kind | None:
    """``"table"``, ``"timeseries"`` or None for what is at ``path`` (reads its attributes)."""
    try:
        node = nwb.node(path)
    except KeyError:
        return None
    if not isinstance(node, zarr.Group):
        return None
    if nwb.types.is_a(nwb.type_of(path), "DynamicTable"):
        return "table"
    return "timeseries" if is_timeseries(nwb, path) else None


def resolve(nwb: NWBReader, name: str, *, exact: bool = False) -> tuple[str, Kind]:
    """The path of the table or TimeSeries ``name`` means in this file, and which it is.

    Examples
    --------
    >>> from intake_nwb.store import open_store
    >>> nwb = NWBReader(open_store("session.nwb"))
    >>> resolve(nwb, "trials")
    ('/intervals/trials', 'table')
    >>> resolve(nwb, "running_speed")
    ('/processing/behavior/running_speed', 'timeseries')
    """
    for path in (normalize(name), TABLE_SHORTCUTS.get(str(name).strip("/"))):
        kind = kind_of(nwb, path) if path else None
        if kind is not None:
            return path, kind  # type: ignore[return-value]
    tables, series = nwb.tables, timeseries_paths(nwb)
    if not exact:
        tail = normalize(name)
        found = [p for p in [*tables, *series] if p.endswith(tail)]
        if len(found) == 1:
            return found[0], "table" if found[0] in tables else "timeseries"
        if found:
            raise AmbiguousNameError(f"{name!r} names {len(found)} objects: "
                                     f"{', '.join(found)}; pass one of these paths",
                                     source=nwb.source)
    shortcut = TABLE_SHORTCUTS.get(str(name).strip("/"))
    raise TableNotFoundError(
        f"no table or TimeSeries {'at' if exact else 'named'} {name!r}"
        + (f" ({shortcut})" if shortcut else "")
        + f"; tables: {', '.join(tables) or 'none'}; TimeSeries: {', '.join(series) or 'none'}",
        source=nwb.source, path=normalize(name))


def table_reader(nwb: NWBReader, name: str, *, exact: bool = False
                 ) -> TableReader | TimeSeriesTable:
    """The table ``name`` means, or the TimeSeries read as a table (see :func:`resolve`)."""
    path, kind = resolve(nwb, name, exact=exact)
    return TableReader(nwb, path) if kind == "table" else TimeSeriesTable(nwb, path)

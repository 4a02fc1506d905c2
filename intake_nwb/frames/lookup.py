"""Things by the names lazynwb users type: ``get(files, "trials")``, ``get_timeseries(file,
"lick_left")``.

:func:`get_timeseries` is :func:`intake_nwb.frames.timeseries.get_timeseries` taking its second
argument as lazynwb does (a path, or a term to search for) and giving each DataArray a
``timestamps`` coordinate (the ``time`` coordinate under lazynwb's name, as lazy as it), so
``ts.timestamps``, ``ts.unit``, ``ts.rate`` work as there (``unit`` and ``rate`` are
attributes; xarray reads attributes as properties).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import xarray as xr

from ..config import config
from ..nwb.names import resolve
from ..sources import expand
from .contents import open_reader
from .tables import get_df

TIMESTAMPS = "timestamps"


def with_timestamps(da: xr.DataArray) -> xr.DataArray:
    """``da`` with a ``timestamps`` coordinate sharing the ``time`` coordinate's values
    (lazily: nothing is read or computed until asked for)."""
    if "time" not in da.coords or TIMESTAMPS in da.coords:
        return da
    time = da.coords["time"].variable
    return da.assign_coords({TIMESTAMPS: xr.Variable(time.dims, time._data, time.attrs)})


def get_timeseries(source: Any = None, path: str | None = None, *, search: str | None = None,
                   search_term: str | None = None, exact_path: bool = False,
                   match_all: bool = False, nwb_path: Any = None, **kwargs: Any
                   ) -> xr.DataArray | dict[str, xr.DataArray]:
    """A TimeSeries as a lazy, dask-backed :class:`xarray.DataArray` (``{path: DataArray}``
    with ``match_all``).

    ``path`` (the second argument; lazynwb's ``search_term``) is a path
    (``"/acquisition/lfp"``) or, unless ``exact_path``, a term to search for: a path without
    its leading ``/``, a neurodata type, a glob or a case-insensitive substring of the path
    (``"lick_left"``). Several matches raise listing them (lazynwb takes the first), unless
    ``match_all``. ``search``/``nwb_path`` are the same arguments by their other names; other
    keyword arguments are those of :func:`intake_nwb.frames.timeseries.get_timeseries`
    (``chunks``, ``scaled``, ``cache``, ``storage_options``...).

    Examples
    --------
    >>> ts = get_timeseries("session.nwb", "running_speed")  # a term: found by its name
    >>> ts.attrs["path"], ts.attrs["unit"], ts.sizes
    ('/processing/behavior/running_speed', 'cm/s', Frozen({'time': 18000}))
    >>> ts.timestamps.values[:3]
    array([0.00249028, 0.0181167 , 0.03357965])
    """
    from .timeseries import get_timeseries as arrays

    source = nwb_path if source is None else source
    term = path if path is not None else search_term
    path = None
    if term is not None and search is None:
        if exact_path or term.startswith("/"):
            path, search = term, None
        else:
            path, search = None, term
    out = arrays(source, path, search=search, match_all=match_all,
                 **config.open_kwargs(**kwargs))
    if isinstance(out, Mapping):
        return {p: with_timestamps(a) for p, a in out.items()}
    return with_timestamps(out)


def get(nwb_data_sources: Any, search_term: str, *, as_df: bool = False,
        exact_path: bool = False, **kwargs: Any) -> Any:
    """A table (across files) or a TimeSeries, whichever ``search_term`` names in the first
    file (as in lazynwb).

    A TimeSeries comes back as :func:`get_timeseries` gives it (one file only), or with
    ``as_df=True`` as a table of ``timestamps`` and ``data`` across files (``data`` kept
    when each row holds several values); a table as
    :func:`intake_nwb.get_df` gives it (``kwargs`` are its arguments).

    Examples
    --------
    >>> get("lab/*.nwb", "trials").shape  # a table: polars, rows of every file
    (800, 10)
    >>> get("session.nwb", "running_speed").sel(time=slice(0, 10)).sizes  # a TimeSeries
    Frozen({'time': 600})
    """
    open_keys = ("storage_options", "refs_dir", "cache")
    sources = expand(nwb_data_sources, kwargs.get("storage_options"))
    first = open_reader(sources[0], **{k: kwargs[k] for k in open_keys if k in kwargs})
    path, kind = resolve(first, search_term, exact=exact_path)
    if kind == "timeseries":  # its values are the point, even when each row holds several
        kwargs.setdefault("exclude_array_columns", False)
    if kind == "table" or as_df:
        return get_df(sources, path if len(sources) == 1 else search_term,
                      exact_path=exact_path, **kwargs)
    if len(sources) > 1:
        raise ValueError(f"{search_term!r} is a TimeSeries ({path}); read it from one file, "
                         "or across files as a table with as_df=True")
    return get_timeseries(first, path, **{k: kwargs[k] for k in open_keys if k in kwargs})

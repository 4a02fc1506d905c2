"""A whole catalog exported in one call, or queried with SQL: every table entry (and the
sessions entry) by its entry name.

A catalog is a path (opened through :func:`intake_nwb.open_catalog`, checked first) or an open
Intake catalog. Entries read through the lab index where it has what they need, so a query
that touches only scalar columns opens no NWB file; exports stream file by file
(:func:`intake_nwb.frames.export.write_table`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import polars as pl

from ..frames.export import FORMATS


def _catalog(catalog: Any, **open_kwargs: Any) -> Any:
    if isinstance(catalog, (str, os.PathLike)):
        from ..catalog.safety import open_catalog

        return open_catalog(catalog, **open_kwargs)
    return catalog


def catalog_tables(catalog: Any, **open_kwargs: Any) -> dict[str, Any]:
    """The catalog's entries that read as tables: ``{entry name: source}`` (``nwb_table``
    and ``nwb_metadata`` entries)."""
    from .drivers import NWBMetadataSource, NWBTableSource

    cat = _catalog(catalog, **open_kwargs)
    out = {}
    for name in cat:
        source = cat[name]
        if isinstance(source, (NWBTableSource, NWBMetadataSource)):
            out[name] = source
    return out


def catalog_sql_context(catalog: Any, **open_kwargs: Any) -> pl.SQLContext:
    """A :class:`polars.SQLContext` with every table entry of a catalog registered under its
    entry name (and the sessions entry under its own).

    Examples
    --------
    >>> ctx = catalog_sql_context("lab/catalog.yaml")
    >>> ctx.tables()
    ['electrodes', 'sessions', 'trials', 'units']
    >>> ctx.execute("SELECT subject_id, count(*) AS n_trials FROM trials JOIN sessions "
    ...             "USING (_nwb_path) GROUP BY subject_id ORDER BY subject_id").collect()
    shape: (2, 2)
    ┌────────────┬──────────┐
    │ subject_id ┆ n_trials │
    │ ---        ┆ ---      │
    │ str        ┆ i64      │
    ╞════════════╪══════════╡
    │ 001        ┆ 400      │
    │ 002        ┆ 400      │
    └────────────┴──────────┘
    """
    return pl.SQLContext({name: source.to_lazy() for name, source
                          in catalog_tables(catalog, **open_kwargs).items()})


def export_catalog(catalog: Any, output_dir: str | os.PathLike[str], *,
                   output_format: str = "parquet", partitioned: bool = False,
                   entries: list[str] | None = None, exclude_array_columns: bool = False,
                   progress: bool | None = None, **write_kwargs: Any) -> dict[str, Path]:
    """Write every table entry of a catalog (or ``entries``), one output per entry named after
    it (``units.parquet``, ``sessions.parquet``), each streamed file by file.

    ``partitioned``: each table entry as a Hive-style parquet dataset, one file per NWB file.
    ``exclude_array_columns``: leave out list/array columns (needed for csv and excel).
    Other arguments as for :func:`intake_nwb.frames.export.write_table`.

    Returns
    -------
    dict
        ``{entry name: output path}``.

    Examples
    --------
    >>> out = export_catalog("lab/catalog.yaml", "lab-export", partitioned=True)
    >>> {name: path.name for name, path in out.items()}  # doctest: +NORMALIZE_WHITESPACE
    {'sessions': 'sessions.parquet', 'units': 'units.parquet', 'trials': 'trials.parquet',
     'electrodes': 'electrodes.parquet'}
    >>> sorted(p.name for p in out["units"].iterdir())  # one file per session
    ... # doctest: +NORMALIZE_WHITESPACE
    ['_session=sub-001_ses-001', '_session=sub-001_ses-002', '_session=sub-002_ses-003',
     '_session=sub-002_ses-004']
    """
    tables = catalog_tables(catalog)
    if entries is not None:
        unknown = set(entries) - set(tables)
        if unknown:
            raise ValueError(f"no table entries {', '.join(sorted(unknown))}; table entries: "
                             f"{', '.join(tables)}")
        tables = {n: tables[n] for n in entries}
    out = {}
    for name, source in tables.items():
        export = source.export(Path(output_dir) / f"{name}{FORMATS[output_format]}",
                               output_format=output_format, partitioned=partitioned,
                               exclude_array_columns=exclude_array_columns, progress=progress,
                               **write_kwargs)
        out[name] = export
    return out


__all__ = ["catalog_sql_context", "catalog_tables", "export_catalog"]

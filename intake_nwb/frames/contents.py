"""What files hold, without reading data: internal paths, their kind and attributes, and
tables' column metadata (lazynwb's ``get_internal_paths``, ``get_internal_path_info``,
``get_attrs``, ``get_sub_attrs``, ``consolidate_attrs``, ``get_table_column_metadata``...).

Every call reads attributes and shapes only (inlined in reference files: no data request).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from ..config import config
from ..errors import Errors, report_failures
from ..nwb import NWBReader
from ..nwb.info import attributes, internal_paths, path_info, walk
from ..nwb.names import table_reader
from ..nwb.tables import REFERENCE
from ..sources import expand_one, per_file
from ..store import open_store, open_stores
from .schema import column_dtype

Source = str | os.PathLike[str]


def open_reader(source: Any, **open_kwargs: Any) -> NWBReader:
    """One file (a glob must name one) as an :class:`~intake_nwb.nwb.NWBReader`, opened with
    the :mod:`~intake_nwb.config` defaults for what is not given."""
    if isinstance(source, NWBReader):
        return source
    kwargs = config.open_kwargs(**open_kwargs)
    return NWBReader(open_store(expand_one(source, kwargs["storage_options"]), **kwargs))


def get_internal_paths(nwb_path: Source, include_child_datasets: bool = False,
                       include_table_columns: bool = False, include_metadata: bool = False,
                       include_specifications: bool = False, parents: bool = False,
                       **open_kwargs: Any) -> dict[str, str | None]:
    """``{path: neurodata_type}`` of a file's tables and TimeSeries (lazynwb's default), and
    with the options their datasets, tables' columns, ``/general``, the specifications and
    the groups above them (untyped objects map to None).

    Examples
    --------
    >>> get_internal_paths("session.nwb")  # doctest: +NORMALIZE_WHITESPACE
    {'/acquisition/lfp': 'ElectricalSeries',
     '/general/extracellular_ephys/electrodes': 'ElectrodesTable',
     '/intervals/trials': 'TimeIntervals',
     '/processing/behavior/Position/position': 'SpatialSeries',
     '/processing/behavior/running_speed': 'TimeSeries', '/units': 'Units'}
    >>> [p for p in get_internal_paths("session.nwb", include_table_columns=True)
    ...  if p.startswith("/intervals/trials/")]  # doctest: +NORMALIZE_WHITESPACE
    ['/intervals/trials/contrast', '/intervals/trials/id', '/intervals/trials/reaction_time',
     '/intervals/trials/response', '/intervals/trials/start_time',
     '/intervals/trials/stim_name', '/intervals/trials/stop_time']
    """
    return internal_paths(open_reader(nwb_path, **open_kwargs),
                          include_child_datasets=include_child_datasets,
                          include_table_columns=include_table_columns,
                          include_metadata=include_metadata,
                          include_specifications=include_specifications, parents=parents)


def get_internal_path_info(nwb_path: Source, include_child_datasets: bool = False,
                           include_table_columns: bool = False, include_metadata: bool = False,
                           include_specifications: bool = False, parents: bool = False,
                           **open_kwargs: Any) -> dict[str, dict[str, Any]]:
    """For each path :func:`get_internal_paths` lists: ``neurodata_type``, ``is_group``,
    ``is_dataset``, ``is_table``, ``is_timeseries``, ``shape``, ``dtype``, ``attrs``.

    Examples
    --------
    >>> info = get_internal_path_info("session.nwb")["/units"]
    >>> info["neurodata_type"], info["is_table"], info["is_timeseries"]
    ('Units', True, False)
    """
    nwb = open_reader(nwb_path, **open_kwargs)
    paths = internal_paths(nwb, include_child_datasets=include_child_datasets,
                           include_table_columns=include_table_columns,
                           include_metadata=include_metadata,
                           include_specifications=include_specifications, parents=parents)
    return {p: path_info(nwb, p) for p in paths}


def get_attrs(nwb_path: Source, internal_path: str, exclude_private: bool = True,
              exclude_empty_fields: bool = False, **open_kwargs: Any) -> dict[str, Any]:
    """The attributes of a group or dataset of one file (see :mod:`intake_nwb.nwb.info` for
    how values are given; ``exclude_*`` as in lazynwb).

    Examples
    --------
    >>> get_attrs("session.nwb", "/units")["colnames"][:2]
    ['spike_times', 'electrodes']
    """
    return attributes(open_reader(nwb_path, **open_kwargs), internal_path,
                      exclude_private=exclude_private,
                      exclude_empty_fields=exclude_empty_fields)


def get_sub_attrs(nwb_path: Source, parent_path: str = "/", exclude_private: bool = True,
                  exclude_empty: bool = True, **open_kwargs: Any) -> dict[str, dict[str, Any]]:
    """``{path: attributes}`` of ``parent_path`` and everything below it (paths with their
    leading ``/``)."""
    nwb = open_reader(nwb_path, **open_kwargs)
    return {p: attributes(nwb, p, exclude_private=exclude_private,
                          exclude_empty_fields=exclude_empty) for p in walk(nwb, parent_path)}


def consolidate_attrs(nwb_paths: Any, internal_path: str, exclude_private: bool = True,
                      errors: Errors = "raise", **open_kwargs: Any
                      ) -> dict[str, dict[str, dict[str, Any]]]:
    """One object's attributes across files: ``{internal_path: {attr: {"common": value,
    <file>: value, ...}}}``, ``common`` being the value most files have, and a file named only
    where its value differs (None where it lacks the attribute).

    Examples
    --------
    >>> consolidate_attrs("lab/*.nwb", "/units")["/units"]["description"]  # all 4 files agree
    {'common': 'sorted units (synthetic, Kilosort-like)'}
    """
    path = "/" + internal_path.strip("/")
    stores = open_stores(nwb_paths, errors=errors, **config.open_kwargs(**open_kwargs))
    found, failures = per_file(lambda s: attributes(NWBReader(s), path,
                                                    exclude_private=exclude_private), stores)
    report_failures(failures, errors, f"have no {path}")
    names = list(dict.fromkeys(k for attrs in found.values() for k in attrs))
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        values = {src: attrs.get(name) for src, attrs in found.items()}
        counts = Counter(repr(v) for v in values.values())
        common_repr = counts.most_common(1)[0][0]
        common = next(v for v in values.values() if repr(v) == common_repr)
        out[name] = {"common": common,
                     **{s: v for s, v in values.items() if repr(v) != common_repr}}
    return {path: out}


@dataclass(frozen=True)
class ColumnMetadata:
    """One column of one file's table, from metadata alone (lazynwb's
    ``RawTableColumnMetadata``, in our terms)."""

    name: str
    table_path: str
    source_path: str  # the file (``_nwb_path``)
    kind: str  # data, region, reference, enum, compound, timeseries_reference, id
    neurodata_type: str | None
    description: str | None
    dtype: pl.DataType  # the column's polars type, as scan_nwb reads it
    stored_dtype: str  # numpy's name of the stored values' type
    shape: tuple[int, ...]  # of the stored values (flat along rows for ragged columns)
    row_element_shape: tuple[int, ...]  # of one innermost element
    index_column_names: tuple[str, ...]  # ragged: outermost index first
    length: int  # rows of the table
    attrs: dict[str, Any] = field(default_factory=dict, compare=False)
    target_table: str | None = None  # DynamicTableRegion

    @property
    def is_ragged(self) -> bool:
        return bool(self.index_column_names)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def is_multidimensional(self) -> bool:
        return len(self.row_element_shape) > 0


def get_table_column_metadata(nwb_path: Source, table_path: str, skip_references: bool = False,
                              exact_path: bool = False, **open_kwargs: Any
                              ) -> tuple[ColumnMetadata, ...]:
    """Every column of a table (a short name works) of one file, without reading data.

    ``skip_references``: leave out columns of object references (lazynwb's default is True;
    ours shows every column).

    Examples
    --------
    >>> cols = get_table_column_metadata("session.nwb", "units")
    >>> [(c.name, c.is_ragged, c.length) for c in cols][:3]
    [('spike_times', True, 40), ('electrodes', True, 40), ('waveform_mean', False, 40)]
    """
    open_kwargs.pop("use_thread_pool", None)  # lazynwb's scheduling option: nothing to choose
    nwb = open_reader(nwb_path, **open_kwargs)
    table = table_reader(nwb, table_path, exact=exact_path)
    out = []
    for name, spec in table.columns.items():
        if skip_references and spec.kind == REFERENCE:
            continue
        arr = nwb.node(spec.path)
        out.append(ColumnMetadata(
            name=name, table_path=table.path, source_path=nwb.source, kind=spec.kind,
            neurodata_type=spec.neurodata_type, description=spec.description,
            dtype=column_dtype(table, spec),  # type: ignore[arg-type]
            stored_dtype=path_info(nwb, spec.path)["dtype"],
            shape=tuple(int(s) for s in arr.shape), row_element_shape=table.row_shape(name),
            index_column_names=tuple(p.rsplit("/", 1)[-1] for p in spec.index_paths),
            length=table.n_rows, attrs=attributes(nwb, spec.path),
            target_table=spec.target_table))
    return tuple(out)


def get_table_length_from_metadata(columns: Sequence[ColumnMetadata]) -> int:
    """The row count of a table from its column metadata (no data read)."""
    lengths = {c.length for c in columns}
    if len(lengths) != 1:
        raise ValueError("columns of one table of one file are needed")
    return lengths.pop()


def get_table_schema_from_metadata(columns: Sequence[ColumnMetadata]) -> pl.Schema:
    """One file's polars schema of a table from its column metadata (no data read)."""
    return pl.Schema({c.name: c.dtype for c in columns})

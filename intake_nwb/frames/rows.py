"""Given rows of given files (lazynwb's ``nwb_path_to_row_indices``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from ..errors import IntakeNWBError
from ..sources import Source
from ..store import open_store
from .schema import NWB_PATH, TABLE_INDEX

_ORDER = "__order"


def nwb_path_of(source: str, storage_options: Mapping[str, Any] | None = None,
                refs_dir: Any = None) -> str:
    """What rows of ``source`` name as ``_nwb_path``: the file itself, or for a reference
    file the file it describes (read from it)."""
    src = Source.from_url(source, storage_options)
    if not src.is_refs_json:
        return src.url
    return open_store(src, storage_options=storage_options, refs_dir=refs_dir).source


def select_rows(lf: pl.LazyFrame, rows: Mapping[str, Sequence[int]],
                storage_options: Mapping[str, Any] | None = None, refs_dir: Any = None
                ) -> pl.DataFrame:
    """The rows ``{file: [row, ...]}`` of a table scan, in the order given (each once).

    The selection is pushed into the scan (``_nwb_path`` and ``_table_index`` cost no read),
    so only the selected rows' values are read.
    """
    wanted = pl.DataFrame(
        [(nwb_path_of(str(f), storage_options, refs_dir), int(i)) for f, idx in rows.items()
         for i in idx], schema={NWB_PATH: pl.String, TABLE_INDEX: pl.Int64}, orient="row",
    ).unique(maintain_order=True).with_row_index(_ORDER)
    by_file = wanted.partition_by(NWB_PATH, as_dict=True)
    predicate = pl.any_horizontal([
        (pl.col(NWB_PATH) == key[0]) & pl.col(TABLE_INDEX).is_in(part[TABLE_INDEX].to_list())
        for key, part in by_file.items()]) if by_file else pl.lit(False)
    found = lf.filter(predicate).collect()
    out = wanted.join(found, on=[NWB_PATH, TABLE_INDEX], how="left", maintain_order="left")
    missing = wanted.join(found, on=[NWB_PATH, TABLE_INDEX], how="anti")
    if missing.height:
        first = missing.row(0, named=True)
        raise IntakeNWBError(f"{missing.height} requested row(s) are not in the table "
                             f"(e.g. row {first[TABLE_INDEX]})", source=first[NWB_PATH])
    return out.select(found.columns)

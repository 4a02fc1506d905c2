"""Tables written to files: every table of many NWB files (lazynwb's ``convert_nwb_tables``),
or one table, streamed with bounded memory.

A table across files is written file by file: each file's rows are read (with the table's
merged schema), appended to the output, and dropped, so memory holds about ``batch_bytes`` of
rows (default 64 MB; small files are grouped up to that) plus one file's rows, whatever the
number of files. Parquet appends row groups (pyarrow's ``ParquetWriter``), Arrow IPC/Feather
appends record batches, CSV, JSON and NDJSON append text, Delta appends commits. Excel and
Avro cannot be appended to: their rows are gathered and written at the end, and refused above
``max_bytes`` (and Excel's row limit). ``partitioned=True`` writes a Hive-style Parquet
dataset, one file per NWB file (``<table>/_session=<file stem>/part-0.parquet``), that
polars, duckdb, pyarrow and dask read lazily. JSON has no NaN: NaN values are written as null
(as polars writes them); Avro holds no time zone (UTC instants) and no fixed-size arrays
(lists of the same values).

Every output is written beside its target and renamed into place when complete
(:func:`intake_nwb.util.atomic.atomic_path`): a failed export leaves no partial file.
"""

from __future__ import annotations

import contextlib
import os
import urllib.parse
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from ..config import config
from ..errors import Errors, IntakeNWBWarning
from ..util.atomic import atomic_path, replacing_dir
from .aliases import translate
from .inventory import short_names, take_inventory
from .metadata import read_sessions, session_table_frame
from .schema import NWB_PATH, is_array
from .tables import ScanOptions

#: output format -> file suffix (Delta tables are directories)
FORMATS = {"parquet": ".parquet", "csv": ".csv", "json": ".json", "ndjson": ".ndjson",
           "feather": ".feather", "arrow": ".arrow", "ipc": ".arrow", "avro": ".avro",
           "excel": ".xlsx", "delta": ""}
#: formats that hold one value per cell only
FLAT = frozenset({"csv", "excel"})
#: formats written in one go at the end (no appending): bounded by ``max_bytes``
WHOLE = frozenset({"avro", "excel"})
EXCEL_MAX_ROWS = 1_048_575
BATCH_BYTES = 64 * 2**20
MAX_BYTES = 2**30
PARTITION = "_session"
#: lazynwb's file names of the session tables
_SESSION_FILES = {"/general": "general", "/general/subject": "subject"}


def choose(paths: Sequence[str], names: Sequence[str]) -> list[str]:
    """The paths among ``paths`` that ``names`` (paths or short names) name, in that order."""
    short = {n: p for p, n in short_names(paths).items()}
    out = []
    for name in names:
        path = "/" + name.strip("/")
        if path not in paths:
            path = short.get(name, "")
        if not path:
            raise ValueError(f"no table {name!r}; tables: {', '.join(short)}")
        out.append(path)
    return out


def _format(output_format: str) -> str:
    fmt = output_format.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"output_format {output_format!r}: one of {', '.join(FORMATS)}")
    return fmt


class _Sink:
    """One output written batch by batch (see the module documentation)."""

    def __init__(self, path: Path, fmt: str, schema: pl.Schema, options: dict[str, Any],
                 max_bytes: int):
        if fmt == "delta":  # Delta Lake has no fixed-size arrays: lists of the same values
            schema = pl.Schema({c: _as_lists(t) for c, t in schema.items()})
        self.path, self.fmt, self.schema, self.options = path, fmt, schema, options
        self.max_bytes = max_bytes
        self.arrow = pl.DataFrame(schema=schema).to_arrow().schema
        self.pending: list[pl.DataFrame] = []  # WHOLE formats
        self.writer: Any = None
        self.file: BinaryIO | None = None
        self.batches = 0
        self.json_rows = 0
        if fmt == "parquet":
            # dictionaries pay off for text only; for numbers (spike times) they cost memory
            text = [c for c, t in schema.items() if t in (pl.String, pl.Categorical)
                    or isinstance(t, pl.Enum)]
            self.writer = pq.ParquetWriter(path, self.arrow,
                                           **{"use_dictionary": text, **options})
        elif fmt in ("feather", "arrow", "ipc"):
            self.file = open(path, "wb")  # noqa: SIM115 - closed in close()
            self.writer = pa.ipc.new_file(self.file, self.arrow, **options)
        elif fmt in ("csv", "json", "ndjson"):
            self.file = open(path, "wb")  # noqa: SIM115 - closed in close()
            if fmt == "json":
                self.file.write(b"[")

    def write(self, df: pl.DataFrame) -> None:
        df = df.select(self.schema.names()).cast(dict(self.schema))  # type: ignore[arg-type]
        fmt, first = self.fmt, self.batches == 0
        if self.writer is not None:  # parquet, Arrow IPC
            self.writer.write_table(df.to_arrow().cast(self.arrow))
        elif fmt == "csv":
            df.write_csv(self.file, include_header=first, **self.options)
        elif fmt == "ndjson":
            df.write_ndjson(self.file)
        elif fmt == "json":
            if df.height:
                text = df.write_json().encode()[1:-1]  # the rows without the brackets
                assert self.file is not None
                self.file.write((b"," if self.json_rows else b"") + text)
                self.json_rows += df.height
        elif fmt == "delta":
            df.write_delta(str(self.path), mode="append", **self.options)
        else:
            self.pending.append(df)
            size = sum(d.estimated_size() for d in self.pending)
            rows = sum(d.height for d in self.pending)
            if size > self.max_bytes or (fmt == "excel" and rows > EXCEL_MAX_ROWS):
                raise ValueError(f"{self.path.name}: {fmt} files are written in one go, and "
                                 f"this table is larger than that allows ({rows} rows, "
                                 f"{size} bytes; max_bytes={self.max_bytes}); write parquet, "
                                 "feather or csv, which stream")
        self.batches += 1

    def close(self) -> None:
        if self.fmt == "delta" and not self.batches:
            pl.DataFrame(schema=self.schema).write_delta(str(self.path), **self.options)
        if self.writer is not None:
            self.writer.close()
        if self.file is not None:
            if self.fmt == "json":
                self.file.write(b"]")
            self.file.close()
        if self.fmt in WHOLE:
            df = pl.concat(self.pending) if self.pending else pl.DataFrame(schema=self.schema)
            if self.fmt == "avro":
                _avro(df).write_avro(self.path, **self.options)
            else:
                df.write_excel(self.path, **self.options)

    def abort(self) -> None:
        for handle in (self.writer, self.file):
            if handle is not None:
                with contextlib.suppress(Exception):  # the output is removed anyway
                    handle.close()


def _as_lists(dtype: pl.DataType) -> pl.DataType:
    """Fixed-size arrays as lists (same values), at every level."""
    if isinstance(dtype, (pl.Array, pl.List)):
        return pl.List(_as_lists(dtype.inner))  # type: ignore[arg-type]
    return dtype


def _avro(df: pl.DataFrame) -> pl.DataFrame:
    """What Avro holds: timestamps as UTC instants without a zone (Avro's timestamps are
    UTC), fixed-size arrays as arrays of their values (polars writes no fixed arrays)."""
    return df.with_columns(pl.col(pl.Datetime(time_zone="*")).dt.convert_time_zone("UTC")
                           .dt.replace_time_zone(None)).cast(
        {c: _as_lists(t) for c, t in df.schema.items() if isinstance(t, (pl.Array, pl.List))})


def _batches(lf: pl.LazyFrame, files: Sequence[str] | None, batch_bytes: int,
             progress: bool | None, desc: str) -> Iterator[pl.DataFrame]:
    """The frame's rows, one file at a time (files grouped up to ``batch_bytes``)."""
    if files is None:
        yield lf.collect()
        return
    todo: Any = files
    if config.show_progress(len(files), progress):
        from tqdm.auto import tqdm

        todo = tqdm(files, desc=desc, unit="file")
    pending: list[pl.DataFrame] = []
    size = 0
    for source in todo:
        df = lf.filter(pl.col(NWB_PATH) == source).collect()  # reads this file only
        pending.append(df)
        size += df.estimated_size()
        if size >= batch_bytes:
            yield pl.concat(pending) if len(pending) > 1 else pending[0]
            pending, size = [], 0
    if pending or not files:
        yield pl.concat(pending) if pending else lf.clear().collect()


def _partition_keys(files: Sequence[str]) -> dict[str, str]:
    """A Hive partition value per file: its name without ``.nwb``/``.zarr``, made unique."""
    keys: dict[str, str] = {}
    seen: dict[str, int] = {}
    for f in files:
        stem = f.rstrip("/").rsplit("/", 1)[-1]
        for suffix in (".zarr", ".nwb", ".json"):
            stem = stem.removesuffix(suffix)
        n = seen.get(stem, 0)
        seen[stem] = n + 1
        keys[f] = urllib.parse.quote(stem if n == 0 else f"{stem}-{n}", safe="")
    return keys


def write_table(frame: pl.LazyFrame, path: str | os.PathLike[str], *,
                files: Sequence[str] | None = None, output_format: str = "parquet",
                partitioned: bool = False, batch_bytes: int = BATCH_BYTES,
                max_bytes: int = MAX_BYTES, progress: bool | None = None,
                **write_kwargs: Any) -> Path:
    """Write a table scan to ``path``, one file's rows at a time (see the module docs).

    ``files``: the ``_nwb_path`` values to stream by (each read alone through the scan's
    pushdown); None writes the frame in one go. ``write_kwargs`` go to the writer
    (``ParquetWriter(compression=...)``, ``write_csv(separator=...)``...).

    Examples
    --------
    >>> from intake_nwb import scan_nwb
    >>> lf = scan_nwb("lab/*.nwb", "units")
    >>> files = lf.select("_nwb_path").unique().collect().to_series().to_list()
    >>> write_table(lf, "units.parquet", files=files).name
    'units.parquet'
    >>> pl.read_parquet("units.parquet").shape
    (160, 13)
    """
    fmt = _format(output_format)
    path = Path(path)
    schema = frame.collect_schema()
    nested = [c for c, t in schema.items() if is_array(t)]
    if fmt in FLAT and nested:
        raise ValueError(f"{path.name}: {fmt} holds one value per cell; these columns hold "
                         f"lists or arrays: {', '.join(nested)} (leave them out with "
                         "exclude_array_columns=True, or write parquet, feather or json)")
    if partitioned and fmt != "parquet":
        raise ValueError("partitioned datasets are written as parquet")
    if partitioned and files is None:
        files = frame.select(NWB_PATH).unique(maintain_order=True).collect().to_series().to_list()
    if partitioned:  # a directory: built beside, then swapped in
        with replacing_dir(path) as tmp:
            keys = _partition_keys(files or [])
            for source, df in zip(files or [], _batches(frame, files, 0, progress, path.name),
                                  strict=True):
                part = tmp / f"{PARTITION}={keys[source]}"
                part.mkdir()
                df.write_parquet(part / "part-0.parquet", **write_kwargs)
        return path
    with atomic_path(path) as tmp:
        sink = _Sink(tmp, fmt, schema, write_kwargs, max_bytes)
        try:
            for df in _batches(frame, files, batch_bytes, progress, path.name):
                sink.write(df)
            sink.close()
        except BaseException:
            sink.abort()
            raise
    return path


def convert_nwb_tables(nwb_sources: Any, output_dir: str | os.PathLike[str], *,
                       output_format: str = "parquet", full_path: bool = False,
                       min_file_count: int = 1, exclude_array_columns: bool | None = None,
                       partitioned: bool = False, table_names: Sequence[str] | None = None,
                       errors: Errors = "raise", progress: bool | None = None,
                       infer_schema_length: int | None = None, batch_bytes: int = BATCH_BYTES,
                       max_bytes: int = MAX_BYTES, storage_options: Any = None,
                       refs_dir: Any = None, cache: Any = None, **write_kwargs: Any
                       ) -> dict[str, Path]:
    """Write every table of many NWB files, one output per table across all files.

    Tables are those found in at least ``min_file_count`` files, plus the session metadata
    (``/general``: session and subject fields, one row per file, as ``general.<ext>``) and the
    subject (``/general/subject``, as ``subject.<ext>``). Files are named after the table's
    last path component (``units.parquet``, ``trials.parquet``, ``electrodes.parquet``), or
    its whole path (``intervals_trials.parquet``) with ``full_path`` or where two tables share
    a name. An empty table is written too (its columns, no rows).

    Parameters
    ----------
    output_format:
        ``parquet``, ``csv``, ``json``, ``ndjson``, ``feather``/``arrow``/``ipc``, ``avro``,
        ``excel``, ``delta`` (the last two need ``xlsxwriter`` and ``deltalake``: the ``export``
        extra).
    exclude_array_columns:
        Leave out columns holding lists or arrays. Default: for csv and excel (which cannot
        hold them: one warning names what is left out), not otherwise.
    partitioned:
        Each table as a Hive-style parquet dataset, one file per NWB file (see the module
        documentation).
    table_names:
        Only these tables (paths or short names).
    errors, progress, infer_schema_length:
        As for :func:`intake_nwb.scan_nwb` (lazynwb's ``ignore_errors``,
        ``disable_progress`` too).
    batch_bytes, max_bytes:
        Rows held before writing (small files are grouped up to this); the largest table an
        Excel or Avro file (written in one go) may take.
    **write_kwargs:
        Options of the format's writer (e.g. ``compression="zstd"``).

    Returns
    -------
    dict
        ``{table path: output path}``.

    Examples
    --------
    >>> out = convert_nwb_tables("lab/*.nwb", "exported")
    >>> {table: path.name for table, path in out.items()}  # doctest: +NORMALIZE_WHITESPACE
    {'/general': 'general.parquet', '/general/subject': 'subject.parquet',
     '/general/extracellular_ephys/electrodes': 'electrodes.parquet',
     '/intervals/trials': 'trials.parquet', '/units': 'units.parquet'}
    >>> pl.read_parquet(out["/units"]).shape
    (160, 13)
    >>> parts = convert_nwb_tables("lab/*.nwb", "by-session", partitioned=True,
    ...                            table_names=["units"])
    >>> sorted(p.name for p in parts["/units"].iterdir())  # doctest: +NORMALIZE_WHITESPACE
    ['_session=sub-001_ses-001', '_session=sub-001_ses-002', '_session=sub-002_ses-003',
     '_session=sub-002_ses-004']
    >>> lf = pl.scan_parquet(parts["/units"] / "**/*.parquet", hive_partitioning=True)
    >>> lf.filter(pl.col("_session") == "sub-002_ses-003").select(pl.len()).collect().item()
    40
    """
    if write_kwargs.pop("session_subdirs", False):
        raise TypeError("session_subdirs (lazynwb: a folder per session) is not written; "
                        "partitioned=True writes each table as one parquet file per session "
                        "(Hive-style), readable as one table")
    lazynwb = {k: write_kwargs.pop(k) for k in list(write_kwargs)
               if k in ("ignore_errors", "disable_progress", "nwb_paths")}
    args = translate(lazynwb, errors=errors, progress=progress, sources=None)
    fmt = _format(output_format)
    if args["sources"] is not None:
        nwb_sources = args["sources"]
    inv = take_inventory(nwb_sources, errors=args["errors"], progress=args["progress"],
                         **config.open_kwargs(storage_options, refs_dir, cache))
    paths = [*inv.common(min_file_count)]
    if table_names is not None:
        paths = choose(paths, table_names)
    drop_nested = fmt in FLAT if exclude_array_columns is None else exclude_array_columns
    options = ScanOptions(exclude_array_columns=drop_nested, errors=args["errors"],
                          infer_schema_length=infer_schema_length)
    out_dir = Path(output_dir)
    names = short_names([*paths, *_SESSION_FILES], full_path, renames=None if full_path
                        else _SESSION_FILES)
    out: dict[str, Path] = {}
    dropped: list[str] = []
    common = dict(output_format=fmt, partitioned=partitioned, batch_bytes=batch_bytes,
                  max_bytes=max_bytes, progress=args["progress"], **write_kwargs)
    sessions = read_sessions(inv.stores, errors=args["errors"])
    for path in _SESSION_FILES if table_names is None else []:
        lf = session_table_frame(sessions, path)
        if drop_nested:
            nested = [c for c, t in lf.collect_schema().items() if is_array(t)]
            dropped += [f"{path}/{c}" for c in nested] if exclude_array_columns is None else []
            lf = lf.drop(nested)
        files = lf.select(NWB_PATH).collect().to_series().to_list() if partitioned else None
        out[path] = write_table(lf, out_dir / f"{names[path].replace('/', '_')}"
                                f"{FORMATS[fmt]}", files=files, **common)
    for path in paths:
        lf, files = inv.scan(path, options)
        if drop_nested and exclude_array_columns is None:
            full = inv.scan(path, ScanOptions(errors="ignore"))[0].collect_schema()
            dropped += [f"{path}/{c}" for c, t in full.items() if is_array(t)]
        out[path] = write_table(lf, out_dir / f"{names[path].replace('/', '_')}{FORMATS[fmt]}",
                                files=files, **common)
    if dropped:
        warnings.warn(f"{fmt} holds one value per cell; left out: {', '.join(dropped)}",
                      IntakeNWBWarning, stacklevel=2)
    return out


__all__ = ["FORMATS", "convert_nwb_tables", "write_table"]

"""Rich display: HTML summaries for Jupyter (``_repr_html_``) and their plain-text twins.

Each summary is built from metadata only (shapes, row counts, attributes), never from values:
displaying a catalog entry or a file reads nothing but what opening it read. Every string that
comes from a file or a catalog is escaped: a hostile name cannot inject markup.

- :func:`table_html` / :func:`table_text`: a table entry (rows, columns and their types, files);
- :func:`timeseries_html` / :func:`timeseries_text`: a TimeSeries (shape, dimensions, units);
- :func:`sessions_html` / :func:`sessions_text`: a sessions frame (count, subjects, dates, rows);
- :func:`nwbfile_html`: one file (session, subject, every table and TimeSeries).

Examples
--------
>>> print(timeseries_text("lfp", shape=(2_500_000, 384), dims=("time", "channel"),
...                       units="volts", files=["ses-1.nwb", "ses-2.nwb"]))
lfp: TimeSeries (time: 2500000, channel: 384) in volts, 2 files
>>> "&lt;b&gt;" in table_html("<b>", rows=3, columns={"id": "Int64"}, files=["a.nwb"])
True
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from ..errors import IntakeNWBError
from ..nwb.tables import TableReader
from ..nwb.timeseries import TimeSeriesReader, timeseries_paths

if TYPE_CHECKING:
    from ..nwb.file import NWBReader

__all__ = ["nwbfile_html", "sessions_html", "sessions_text", "table_html", "table_text",
           "timeseries_html", "timeseries_text"]

_STYLE = ("<style>.intake-nwb table{border-collapse:collapse;font-size:12px}"
          ".intake-nwb td,.intake-nwb th{padding:1px 8px;text-align:left}"
          ".intake-nwb summary{cursor:pointer}</style>")
_MAX_ITEMS = 50  # rows of a listing before "... and N more"


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _box(title: str, body: str) -> str:
    return f'<div class="intake-nwb">{_STYLE}<b>{title}</b>{body}</div>'


def _rows(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    shown = rows[:_MAX_ITEMS]
    out = "<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>"
    out += "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in shown)
    if len(rows) > len(shown):
        out += f'<tr><td colspan="{len(header)}">... and {len(rows) - len(shown)} more</td></tr>'
    return out + "</table>"


def _details(summary: str, body: str, open_: bool = False) -> str:
    return f"<details{' open' if open_ else ''}><summary>{summary}</summary>{body}</details>"


def _files(files: Sequence[str]) -> str:
    return _details(f"{len(files)} file{'s' if len(files) != 1 else ''}",
                    _rows(["file"], [[f] for f in files]))


def _shape(dims: Sequence[str], shape: Sequence[int]) -> str:
    return ", ".join(f"{d}: {n}" for d, n in zip(dims, shape, strict=True))


# -- tables --------------------------------------------------------------------------------------

def table_html(name: str, *, rows: int | None, columns: Mapping[str, Any] | Sequence[str],
               files: Sequence[str], path: str | None = None) -> str:
    """A table entry: its name and path, rows (None: not counted), columns, files."""
    cols = columns if isinstance(columns, Mapping) else {c: "" for c in columns}
    where = f" <code>{_e(path)}</code>" if path else ""
    count = "rows not counted" if rows is None else f"{rows:,} rows"
    body = (f"<div>{count}, {len(cols)} columns</div>"
            + _details("columns", _rows(["column", "type"], [[c, t] for c, t in cols.items()]))
            + _files(files))
    return _box(f"{_e(name)}: table{where}", body)


def table_text(name: str, *, rows: int | None, columns: Mapping[str, Any] | Sequence[str],
               files: Sequence[str], path: str | None = None) -> str:
    """The plain-text twin of :func:`table_html` (one line)."""
    count = "rows not counted" if rows is None else f"{rows} rows"
    where = f" {path}" if path else ""
    return f"{name}: table{where} ({count}, {len(columns)} columns), {len(files)} files"


# -- TimeSeries ----------------------------------------------------------------------------------

def timeseries_html(name: str, *, shape: Sequence[int], dims: Sequence[str],
                    units: str | None, files: Sequence[str] = (), path: str | None = None,
                    neurodata_type: str | None = None, time: str | None = None) -> str:
    """A TimeSeries: type, shape by dimension, units, time base, files."""
    kind = _e(neurodata_type or "TimeSeries")
    where = f" <code>{_e(path)}</code>" if path else ""
    body = f"<div>({_e(_shape(dims, shape))})"
    body += f" in {_e(units)}" if units else ""
    body += f"; {_e(time)}" if time else ""
    body += "</div>" + (_files(files) if files else "")
    return _box(f"{_e(name)}: {kind}{where}", body)


def timeseries_text(name: str, *, shape: Sequence[int], dims: Sequence[str],
                    units: str | None, files: Sequence[str] = (), path: str | None = None,
                    neurodata_type: str | None = None, time: str | None = None) -> str:
    """The plain-text twin of :func:`timeseries_html` (one line)."""
    out = f"{name}: {neurodata_type or 'TimeSeries'}{' ' + path if path else ''} " \
          f"({_shape(dims, shape)})"
    out += f" in {units}" if units else ""
    out += f"; {time}" if time else ""
    return out + (f", {len(files)} file{'s' if len(files) != 1 else ''}" if files else "")


# -- sessions ------------------------------------------------------------------------------------

def _sessions_facts(df: pl.DataFrame) -> list[str]:
    facts = [f"{df.height} session{'s' if df.height != 1 else ''}"]
    if "subject_id" in df.columns:
        facts.append(f"{df['subject_id'].drop_nulls().n_unique()} subjects")
    if "session_start_time" in df.columns and df["session_start_time"].drop_nulls().len():
        times = df["session_start_time"].drop_nulls()
        facts.append(f"{times.min()} to {times.max()}")
    return facts


def sessions_html(df: pl.DataFrame, *, max_rows: int = 10) -> str:
    """A sessions frame (one row per file): how many, subjects, dates, the first rows."""
    shown = df.head(max_rows)
    rows = [[_cell(v) for v in row] for row in shown.iter_rows()]
    body = f"<div>{_e(', '.join(_sessions_facts(df)))}</div>" + _rows(shown.columns, rows)
    if df.height > max_rows:
        body += f"<div>... and {df.height - max_rows} more</div>"
    return _box("sessions", body)


def sessions_text(df: pl.DataFrame) -> str:
    """The plain-text twin of :func:`sessions_html` (one line)."""
    return "sessions: " + ", ".join(_sessions_facts(df))


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return "" if value is None else str(value)


# -- one file ------------------------------------------------------------------------------------

def _time_base(reader: TimeSeriesReader) -> str:
    tb = reader.time_base
    if tb.kind == "rate":
        return f"{tb.rate:g} Hz from {tb.starting_time:g} s"
    if tb.kind == "timestamps":
        return "timestamps"
    return "untimed"


def nwbfile_html(nwb: NWBReader, metadata: Mapping[str, Any]) -> str:
    """One file: session and subject, every table (rows, columns) and TimeSeries (type,
    shape, units, time base). Reads metadata only; what cannot be read says why."""
    session = metadata.get("session_id") or metadata.get("identifier")
    head = (f"<div>session {_e(session)} ({_e(metadata.get('session_start_time'))}), "
            f"NWB {_e(metadata.get('nwb_version'))}</div>")
    if metadata.get("subject_id"):
        head += (f"<div>subject {_e(metadata['subject_id'])} "
                 f"{_e(metadata.get('species') or '')} {_e(metadata.get('age') or '')}</div>")
    tables = []
    for path in nwb.tables:
        try:
            t = TableReader(nwb, path)
            tables.append([path, t.neurodata_type, f"{t.n_rows:,}", len(t.columns)])
        except IntakeNWBError as exc:
            tables.append([path, "", f"unreadable: {exc.message}", ""])
    series = []
    for path in timeseries_paths(nwb):
        try:
            r = TimeSeriesReader(nwb, path)
            series.append([path, r.neurodata_type, _shape(r.dims, r.shape), r.unit or "",
                           _time_base(r)])
        except IntakeNWBError as exc:
            series.append([path, nwb.type_of(path), f"unreadable: {exc.message}", "", ""])
    body = head + _details(f"{len(tables)} tables",
                           _rows(["path", "type", "rows", "columns"], tables), open_=True)
    body += _details(f"{len(series)} TimeSeries",
                     _rows(["path", "type", "shape", "unit", "time"], series), open_=True)
    return _box(_e(nwb.source), body)

"""``intake-nwb`` command line: index, ls, catalog, check, dandi, demo; and to look into files
or catalogs: paths, tables, schema, preview, query (SQL), describe, export.

``tables``, ``schema``, ``preview``, ``query`` and ``export`` take NWB paths/globs/URLs or one
catalog (a ``.yaml`` file, checked before it is opened); tables are named as in Python
(``units``, ``trials``, ``/intervals/trials``; a catalog's by entry name).

Batch commands carry on past files they cannot read, print one line per failure and exit 0
(as dandi-cli does), unless ``--strict`` is given or nothing could be done. Errors print one
line each; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path
from typing import Any

from ._version import __version__
from .errors import BatchError, IntakeNWBError


def _options(args: argparse.Namespace) -> dict[str, Any] | None:
    text = getattr(args, "storage_options", None)
    return json.loads(text) if text else None


def _failed(failures: dict[str, Any], what: str) -> None:
    """One line per failure, on stderr."""
    if failures:
        print(f"intake-nwb: {len(failures)} file(s) {what}:", file=sys.stderr)
        for source, why in failures.items():
            text = str(why)
            print(f"  {text if text.startswith(source) else f'{source}: {text}'}",
                  file=sys.stderr)


def _exit(done: int, failures: dict[str, Any], strict: bool) -> int:
    return 1 if (failures and strict) or (failures and not done) else 0


def _index(args: argparse.Namespace) -> int:
    from .refs.index import index_sources
    from .refs.translate import Options
    from .sources import expand

    srcs = expand(args.sources, _options(args))
    out, failures = index_sources(srcs, refs_dir=args.refs_dir,
                                  options=Options(strict=args.strict),
                                  progress=None if not args.no_progress else False)
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        for src, ref in out.items():
            print(f"{src}\t{ref}")
    _failed(failures, "could not be indexed")
    return _exit(len(out), failures, args.strict)


def _ls(args: argparse.Namespace) -> int:
    from .nwb import NWBReader
    from .sources import expand_one
    from .store import open_store

    options = _options(args)
    nwb = NWBReader(open_store(expand_one(args.source, options), storage_options=options,
                               refs_dir=args.refs_dir))
    for path, ndtype in nwb.objects.items():
        print(f"{path}\t{ndtype}")
    return 0


def _catalog(args: argparse.Namespace) -> int:
    from .catalog import build

    report = build(args.sources, args.output, refs_dir=args.refs_dir, name=args.name,
                   description=args.description, storage_options=_options(args),
                   progress=None if not args.no_progress else False,
                   errors="raise" if args.strict else "ignore", dialect=args.dialect)
    kinds: dict[str, list[str]] = {}
    for name, driver in report.entries.items():
        kinds.setdefault(driver, []).append(name)
    state = "written" if report.written else "unchanged"
    print(f"catalog {report.path} ({state}): {len(report.files)} files, "
          f"{len(report.inspected)} indexed or inspected, {len(report.reused)} unchanged"
          + (f", {len(report.failures)} left out" if report.failures else ""))
    for driver, label in (("nwb_table", "tables"), ("nwb_timeseries", "TimeSeries"),
                          ("nwb_metadata", "metadata"), ("nwb_files", "files")):
        if kinds.get(driver):
            print(f"  {label:<11} {', '.join(kinds[driver])}")
    opener = "intake.from_yaml_file" if args.dialect == "v2" else "intake.open_catalog"
    print(f'open it with: {opener}("{report.path}")')
    _failed(report.failures, "left out of the catalog")
    return 0


def _check(args: argparse.Namespace) -> int:
    from .catalog.safety import check_catalog

    report = check_catalog(args.catalog, storage_options=_options(args),
                           allow_paths=args.allow_path,
                           allow_hosts=args.allow_host or None)
    print(report.describe())
    return 1 if report.problems else 0


def _dandi(args: argparse.Namespace) -> int:
    import warnings

    import yaml

    from .dandi import (
        dandi_catalog,
        parse_dandiset,
        read_pins,
        resolve_dandiset,
        select_dandi_assets,
    )
    from .errors import DraftVersionWarning

    named = args.version or parse_dandiset(args.dandiset, api_url=args.api_url).version
    ref = resolve_dandiset(args.dandiset, args.version, api_url=args.api_url)  # warns: draft
    if not named:
        print(f"DANDI:{ref.dandiset_id}: using its most recent published version, "
              f"{ref.version}", file=sys.stderr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DraftVersionWarning)  # given just above, once
        asset_ids = args.asset_id
        if ref.selects:  # the identifier names assets (a dandi:// glob, a ?location= folder...)
            asset_ids = [a.asset_id for a in select_dandi_assets(
                args.dandiset, ref.version, glob=args.glob, asset_ids=args.asset_id,
                api_url=ref.api_url).assets]
        path = dandi_catalog(ref.dandiset_id, ref.version, args.output or
                             f"dandi_{ref.dandiset_id}.yaml", glob=args.glob,
                             asset_ids=asset_ids, max_assets=args.max_assets,
                             refs_dir=args.refs_dir, api_url=ref.api_url,
                             progress=not args.no_progress)
    pins = read_pins(path)
    entries = (yaml.safe_load(path.read_text()) or {}).get("sources", {})
    print(f"catalog {path}: DANDI:{pins['dandiset_id']}/{pins['version']}, "
          f"{len(pins['assets'])} assets pinned, {len(entries)} entries"
          + ("" if pins.get("reproducible", True) else " (draft: not reproducible)"))
    print(f'open it with: intake.open_catalog("{path}")')
    return 0


def _demo(args: argparse.Namespace) -> int:
    import intake
    import polars as pl

    from .catalog import build
    from .sample import write_sample_lab

    directory = Path(args.directory).resolve()
    files = [str(p) for p in write_sample_lab(directory / "sessions", n_sessions=args.sessions,
                                              size=args.size, progress=not args.no_progress)]
    report = build(files, directory / "catalog.yaml", refs_dir=directory / "refs",
                   name="sample-lab", description="A sample lab of synthetic ecephys sessions "
                   "written by `intake-nwb demo`", progress=not args.no_progress)
    print(f"sample lab: {len(files)} sessions in {directory / 'sessions'}, "
          f"references in {directory / 'refs'}")
    print(f"catalog: {report.path} ({len(report.entries)} entries), read below through "
          "intake.open_catalog\n")
    cat = intake.open_catalog(str(report.path))
    pl.Config.set_tbl_rows(12)
    pl.Config.set_tbl_cols(8)
    sessions = cat.sessions.read()
    print("sessions:")
    print(sessions.select("session_id", "subject_id", "session_start_time", "age"))
    units = (cat.units.to_lazy()
             .filter(pl.col("presence_ratio") >= 0.9, pl.col("decoder_label") == "sua")
             .select("_nwb_path", "_table_index", "presence_ratio", "decoder_label",
                     pl.col("spike_times").list.len().alias("n_spikes"))
             .with_columns(pl.col("_nwb_path").str.split("/").list.last())
             .collect())
    print("\nunits with presence_ratio >= 0.9 and decoder_label == 'sua':")
    print(units)
    trials = (cat.trials.to_lazy()
              .group_by(pl.col("_nwb_path").str.split("/").list.last().alias("session"))
              .agg(pl.len().alias("trials"), pl.col("response").mean().alias("hit_rate"),
                   pl.col("reaction_time").fill_nan(None).median().alias("median_rt"))
              .sort("session").collect())
    print("\ntrials per session:")
    print(trials)
    speed = cat.running_speed(file=Path(files[-1]).stem).to_dask()
    window = speed.sel(time=slice(10.0, 10.1))  # reads only the blocks holding these samples
    print(f"\nrunning_speed of {Path(files[-1]).name}, 10.0-10.1 s "
          f"({speed.sizes['time']} samples in all, {speed.attrs.get('unit')}):")
    print(pl.DataFrame({"time": window["time"].values, "running_speed": window.values}))
    return 0


def _is_catalog(targets: list[str]) -> bool:
    return len(targets) == 1 and targets[0].endswith((".yaml", ".yml"))


def _show(df: Any, fmt: str) -> None:
    """A polars frame on stdout: a readable table, JSON (an array of rows) or CSV (lists and
    arrays as JSON text)."""
    import polars as pl

    if fmt == "json":
        print(df.write_json())
    elif fmt == "csv":
        from .frames.schema import is_array, to_json_text

        nested = [c for c, t in df.schema.items() if is_array(t) or isinstance(t, pl.Struct)]
        print(df.with_columns(to_json_text(df[c]).alias(c) for c in nested).write_csv(),
              end="")
    else:
        with pl.Config(tbl_rows=max(df.height, 1), tbl_cols=-1, fmt_str_lengths=60,
                       tbl_width_chars=160):
            print(df)


def _context(args: argparse.Namespace) -> Any:
    """The SQL context of the targets: a catalog's table entries, or files' tables."""
    if _is_catalog(args.targets):
        from .intake.export import catalog_sql_context

        return catalog_sql_context(args.targets[0], storage_options=_options(args),
                                   allow_paths=args.allow_path)
    from .frames.sql import get_sql_context

    return get_sql_context(args.targets, storage_options=_options(args),
                           refs_dir=args.refs_dir, errors="warn")


def _scan(args: argparse.Namespace) -> Any:
    """The table ``args.table`` across the targets, as a LazyFrame."""
    if _is_catalog(args.targets):
        from .intake.export import catalog_tables

        tables = catalog_tables(args.targets[0], storage_options=_options(args),
                                allow_paths=args.allow_path)
        if args.table not in tables:
            raise KeyError(f"no table entry {args.table!r}; table entries: "
                           f"{', '.join(tables)}")
        return tables[args.table].to_lazy()
    from .frames.tables import scan_nwb

    return scan_nwb(args.targets, args.table, storage_options=_options(args),
                    refs_dir=args.refs_dir)


def _paths(args: argparse.Namespace) -> int:
    import polars as pl

    from .frames.contents import get_internal_path_info

    info = get_internal_path_info(args.source, include_child_datasets=args.all,
                                  include_table_columns=args.columns or args.all,
                                  include_metadata=args.metadata or args.all,
                                  parents=args.parents, storage_options=_options(args),
                                  refs_dir=args.refs_dir)
    rows = [{"path": p, "neurodata_type": i["neurodata_type"],
             "kind": "table" if i["is_table"] else "timeseries" if i["is_timeseries"]
             else "group" if i["is_group"] else "dataset",
             "shape": None if i["shape"] is None else str(list(i["shape"])),
             "dtype": i["dtype"]} for p, i in info.items()]
    _show(pl.DataFrame(rows, schema=["path", "neurodata_type", "kind", "shape", "dtype"]),
          args.format)
    return 0


def _tables(args: argparse.Namespace) -> int:
    import polars as pl

    ctx = _context(args)
    rows = []
    for name in ctx.tables():
        schema = ctx.execute(f'SELECT * FROM "{name}" LIMIT 0').collect_schema()
        rows.append({"table": name, "columns": len(schema)})
    _show(pl.DataFrame(rows, schema={"table": pl.String, "columns": pl.Int64}), args.format)
    return 0


def _schema(args: argparse.Namespace) -> int:
    import polars as pl

    from .frames.schema import INTERNAL

    schema = _scan(args).collect_schema()
    _show(pl.DataFrame({"column": list(schema), "dtype": [str(t) for t in schema.values()],
                        "internal": [c in INTERNAL for c in schema]}), args.format)
    return 0


def _preview(args: argparse.Namespace) -> int:
    _show(_scan(args).head(args.limit).collect(), args.format)
    return 0


def _query(args: argparse.Namespace) -> int:
    if len(args.targets_and_sql) < 2:
        raise ValueError("give the files or catalog, then the SQL query")
    args.targets, sql = args.targets_and_sql[:-1], args.targets_and_sql[-1]
    lf = _context(args).execute(sql)
    _show((lf.head(args.limit) if args.limit is not None else lf).collect(), args.format)
    return 0


def _describe(args: argparse.Namespace) -> int:
    from .frames.nwbfile import open_nwb

    nwb = open_nwb(args.source, storage_options=_options(args), refs_dir=args.refs_dir)
    if args.json:
        print(json.dumps(nwb.describe(), indent=1, default=str))
    else:
        print(repr(nwb))
    return 0


def _export(args: argparse.Namespace) -> int:
    if _is_catalog(args.targets):
        from .catalog.safety import open_catalog
        from .intake.export import export_catalog

        cat = open_catalog(args.targets[0], storage_options=_options(args),
                           allow_paths=args.allow_path)
        out = export_catalog(cat, args.output, output_format=args.format,
                             partitioned=args.partitioned, progress=not args.no_progress,
                             exclude_array_columns=args.exclude_array_columns)
    else:
        from .frames.export import convert_nwb_tables

        out = convert_nwb_tables(args.targets, args.output, output_format=args.format,
                                 partitioned=args.partitioned,
                                 exclude_array_columns=args.exclude_array_columns or None,
                                 full_path=args.full_path, progress=None if not
                                 args.no_progress else False, storage_options=_options(args),
                                 refs_dir=args.refs_dir,
                                 errors="raise" if args.strict else "warn")
    for name, path in out.items():
        print(f"{name}\t{path}")
    return 0


def _look_options(p: argparse.ArgumentParser, fmt: bool = True) -> None:
    p.add_argument("--refs-dir", default=None)
    p.add_argument("--storage-options", default=None, help="fsspec options as JSON")
    p.add_argument("--allow-path", action="append", default=[],
                   help="a local folder a catalog may read outside its own (repeatable)")
    if fmt:
        p.add_argument("--format", choices=("table", "json", "csv"), default="table")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="intake-nwb", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"intake-nwb {__version__}")
    parser.add_argument("--debug", action="store_true", help="print tracebacks of errors")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", help="index HDF5 NWB files into kerchunk reference files")
    p.add_argument("sources", nargs="+", help="paths, globs or URLs")
    p.add_argument("--refs-dir", default=None, help="where reference files go")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.add_argument("--storage-options", default=None,
                   help='fsspec options as JSON, e.g. \'{"anon": true}\'')
    p.add_argument("--strict", action="store_true",
                   help="fail on anything that cannot be represented, and exit 1 if any file "
                        "fails")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_index)

    p = sub.add_parser("ls", help="list the typed objects of an NWB file")
    p.add_argument("source", help="a path, URL, or a glob matching one file")
    p.add_argument("--refs-dir", default=None)
    p.add_argument("--storage-options", default=None, help="fsspec options as JSON")
    p.set_defaults(func=_ls)

    p = sub.add_parser("catalog", help="index NWB sources and write an Intake catalog (YAML)")
    p.add_argument("sources", nargs="+", help="paths, globs or URLs")
    p.add_argument("-o", "--output", required=True, help="the catalog file, e.g. lab.yaml")
    p.add_argument("--refs-dir", default=None,
                   help="where reference files go (default: refs/ beside the catalog)")
    p.add_argument("--name", default=None)
    p.add_argument("--description", default=None)
    p.add_argument("--storage-options", default=None,
                   help='fsspec options as JSON, e.g. \'{"anon": true}\'')
    p.add_argument("--strict", action="store_true",
                   help="exit 1, writing nothing, if any source cannot be catalogued")
    p.add_argument("--dialect", choices=("v1", "v2"), default="v1",
                   help="v1: intake.open_catalog's YAML (default); v2: an intake 2 catalog")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_catalog)

    p = sub.add_parser("check", help="report what a catalog would read, contact and run, "
                                     "opening no data (exit 1 on problems)")
    p.add_argument("catalog")
    p.add_argument("--allow-path", action="append", default=[],
                   help="a local folder the catalog may read outside its own (repeatable)")
    p.add_argument("--allow-host", action="append", default=[],
                   help="the only hosts it may contact (repeatable; default: any, listed)")
    p.add_argument("--storage-options", default=None, help="fsspec options as JSON")
    p.set_defaults(func=_check)

    p = sub.add_parser("dandi", help="write a pinned Intake catalog of a DANDI dandiset version")
    p.add_argument("dandiset", help="000006, DANDI:000006[/VERSION], a dandiarchive.org or API URL "
                   "of the dandiset, or dandi://INSTANCE/000006[@VERSION][/PATH-OR-GLOB]")
    p.add_argument("--version", default=None,
                   help="a published version (e.g. 0.220126.1855; default: the most recent "
                   "one), or 'draft' (not reproducible)")
    p.add_argument("-o", "--output", default=None,
                   help="the catalog file (default: dandi_<DANDISET_ID>.yaml)")
    p.add_argument("--glob", default=None, help="the API's asset path glob, e.g. 'sub-01/*'")
    p.add_argument("--asset-id", action="append", default=None,
                   help="only this asset (repeat for several)")
    p.add_argument("--max-assets", type=int, default=None, help="at most this many assets")
    p.add_argument("--refs-dir", default=None,
                   help="reuse the reference files found here (copied beside the catalog)")
    p.add_argument("--api-url", default=None,
                   help="the DANDI API to ask (default: the identifier's; "
                   "https://api.dandiarchive.org/api)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_dandi)

    p = sub.add_parser("paths", help="list the tables and TimeSeries of an NWB file (more "
                                     "with options): path, type, kind, shape, dtype")
    p.add_argument("source", help="a path, URL, or a glob matching one file")
    p.add_argument("--columns", action="store_true", help="tables' columns too")
    p.add_argument("--metadata", action="store_true", help="/general and what it holds")
    p.add_argument("--all", action="store_true", help="every dataset of what is listed")
    p.add_argument("--parents", action="store_true", help="the groups above what is listed")
    _look_options(p)
    p.set_defaults(func=_paths)

    p = sub.add_parser("tables", help="the tables of NWB files (or of a catalog) as SQL "
                                      "names them")
    p.add_argument("targets", nargs="+", help="NWB paths/globs/URLs, or one catalog .yaml")
    _look_options(p)
    p.set_defaults(func=_tables)

    p = sub.add_parser("schema", help="the columns and types of a table across files")
    p.add_argument("table", help="a path or short name (units, trials...), or an entry")
    p.add_argument("targets", nargs="+", help="NWB paths/globs/URLs, or one catalog .yaml")
    _look_options(p)
    p.set_defaults(func=_schema)

    p = sub.add_parser("preview", help="the first rows of a table across files")
    p.add_argument("table", help="a path or short name (units, trials...), or an entry")
    p.add_argument("targets", nargs="+", help="NWB paths/globs/URLs, or one catalog .yaml")
    p.add_argument("--limit", type=int, default=5)
    _look_options(p)
    p.set_defaults(func=_preview)

    p = sub.add_parser("query", help='run SQL over the tables of NWB files or a catalog: '
                                     'intake-nwb query lab/catalog.yaml "SELECT ..."')
    p.add_argument("targets_and_sql", nargs="+", metavar="TARGET... SQL",
                   help="NWB paths/globs/URLs or one catalog .yaml, then the query (tables "
                        "by short name: units, trials, session...)")
    p.add_argument("--limit", type=int, default=None, help="print at most this many rows")
    _look_options(p)
    p.set_defaults(func=_query)

    p = sub.add_parser("describe", help="session, subject, tables and TimeSeries of a file")
    p.add_argument("source", help="a path, URL, or a glob matching one file")
    p.add_argument("--json", action="store_true", help="fields and paths as JSON")
    _look_options(p, fmt=False)
    p.set_defaults(func=_describe)

    p = sub.add_parser("export", help="write every table of NWB files (or every table entry "
                                      "of a catalog), streamed file by file")
    p.add_argument("targets", nargs="+", help="NWB paths/globs/URLs, or one catalog .yaml")
    p.add_argument("-o", "--output", required=True, help="the output folder")
    p.add_argument("--format", default="parquet",
                   help="parquet (default), csv, json, ndjson, feather, arrow, avro, excel, "
                        "delta")
    p.add_argument("--partitioned", action="store_true",
                   help="each table as a Hive-style parquet dataset, one file per NWB file")
    p.add_argument("--exclude-array-columns", action="store_true")
    p.add_argument("--full-path", action="store_true", help="name outputs by table path")
    p.add_argument("--strict", action="store_true", help="fail on any file that fails")
    p.add_argument("--no-progress", action="store_true")
    _look_options(p, fmt=False)
    p.set_defaults(func=_export)

    p = sub.add_parser("demo", help="write a sample lab, catalog it and query it")
    p.add_argument("directory", nargs="?", default="intake-nwb-demo")
    p.add_argument("--sessions", type=int, default=3)
    p.add_argument("--size", default="small", help='"small" or a size per session, e.g. 2GB')
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - one clear line per failure; --debug for more
        if args.debug:
            traceback.print_exc()
        if isinstance(exc, BatchError):
            _failed(exc.failures, "failed")
        else:
            text = str(exc) if isinstance(exc, IntakeNWBError) else f"{type(exc).__name__}: {exc}"
            print(f"intake-nwb: error: {text}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

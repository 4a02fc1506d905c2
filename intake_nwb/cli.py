"""``intake-nwb`` command line: index, ls, demo."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import IntakeNWBError


def _index(args: argparse.Namespace) -> int:
    from .refs import index

    out = index(args.sources, refs_dir=args.refs_dir, progress=not args.no_progress,
                errors=args.errors, strict=args.strict)
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        for src, ref in out.items():
            print(f"{src}\t{ref}")
    return 0


def _ls(args: argparse.Namespace) -> int:
    from .nwb import NWBReader
    from .store import open_store

    nwb = NWBReader(open_store(args.source, refs_dir=args.refs_dir))
    for path, ndtype in nwb.objects.items():
        print(f"{path}\t{ndtype}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    import polars as pl

    from .frames import get_metadata_df, scan_nwb
    from .refs import index
    from .sample import write_sample_lab

    directory = Path(args.directory).resolve()
    files = [str(p) for p in write_sample_lab(directory / "sessions", n_sessions=args.sessions,
                                              size=args.size, progress=not args.no_progress)]
    refs = index(files, refs_dir=directory / "refs", progress=not args.no_progress)
    print(f"sample lab: {len(files)} sessions in {directory / 'sessions'}, "
          f"references in {directory / 'refs'}\n")
    pl.Config.set_tbl_rows(12)
    pl.Config.set_tbl_cols(8)
    sessions = get_metadata_df(list(refs.values()), progress=False)
    print("sessions:")
    print(sessions.select("session_id", "subject_id", "session_start_time", "age"))
    units = (scan_nwb(list(refs.values()), "/units")
             .filter(pl.col("presence_ratio") >= 0.9, pl.col("decoder_label") == "sua")
             .select("_nwb_path", "_table_index", "presence_ratio", "decoder_label",
                     pl.col("spike_times").list.len().alias("n_spikes"))
             .with_columns(pl.col("_nwb_path").str.split("/").list.last())
             .collect())
    print("\nunits with presence_ratio >= 0.9 and decoder_label == 'sua':")
    print(units)
    trials = (scan_nwb(list(refs.values()), "/intervals/trials")
              .group_by(pl.col("_nwb_path").str.split("/").list.last().alias("session"))
              .agg(pl.len().alias("trials"), pl.col("response").mean().alias("hit_rate"),
                   pl.col("reaction_time").fill_nan(None).median().alias("median_rt"))
              .sort("session").collect())
    print("\ntrials per session:")
    print(trials)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="intake-nwb", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", help="index HDF5 NWB files into kerchunk reference files")
    p.add_argument("sources", nargs="+", help="paths, globs or URLs")
    p.add_argument("--refs-dir", default=None, help="where reference files go")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.add_argument("--errors", choices=["raise", "warn", "ignore"], default="raise")
    p.add_argument("--strict", action="store_true",
                   help="fail on anything that cannot be represented")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_index)

    p = sub.add_parser("ls", help="list the typed objects of an NWB file")
    p.add_argument("source")
    p.add_argument("--refs-dir", default=None)
    p.set_defaults(func=_ls)

    p = sub.add_parser("demo", help="write a sample lab, index it and query it")
    p.add_argument("directory", nargs="?", default="intake-nwb-demo")
    p.add_argument("--sessions", type=int, default=3)
    p.add_argument("--size", default="small", help='"small" or a size per session, e.g. 2GB')
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except IntakeNWBError as exc:
        print(f"intake-nwb: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

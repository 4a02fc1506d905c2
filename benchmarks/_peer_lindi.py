"""LINDI's reference files for NWB files; run by ``benchmarks/lab.py`` inside the peer venv.

Usage: ``python _peer_lindi.py '{"urls": [...], "out_dir": "/tmp/x"}'``. Writes one
``.lindi.json`` per file, one file after another (LINDI has no batch API), with
``LindiH5pyFile.from_hdf5_file(url_or_path)`` then ``.write_lindi_file(path)``; a local file's
references need its location as ``url=`` (LINDI refuses to write them otherwise). Prints one JSON
line like ``_peer_lazynwb.py``; ``check`` is the number of reference files written.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version
from pathlib import Path

from _measure import Stopwatch, emit_result  # benchmarks/ is on sys.path: run as a script


def main() -> None:
    args = json.loads(sys.argv[1])
    import lindi

    out = Path(args["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    watch = Stopwatch()
    for i, url in enumerate(args["urls"]):
        f = lindi.LindiH5pyFile.from_hdf5_file(url, url=None if "://" in url else url)
        f.write_lindi_file(str(out / f"{i:05d}.lindi.json"))
        f.close()
    emit_result(check=len(list(out.glob("*.lindi.json"))), version=version("lindi"),
                **watch.lap())


if __name__ == "__main__":
    main()

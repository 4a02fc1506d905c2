"""One benchmark task with lazynwb; run by ``remote.py`` and ``lab.py`` inside the peer venv.

Usage: ``python _peer_lazynwb.py '{"task": "trials", "urls": [...], "t0": 100.0, "t1": 110.0}'``.
Prints one JSON line: ``seconds``, ``cpu_seconds`` and ``read_mb`` (the task alone, imports
excluded), ``peak_rss_mb`` (the whole process), ``check`` (a figure every tool must agree on) and
``version``. ``urls`` may be local paths (``benchmarks/lab.py``).

lazynwb's own catalog cache (SQLite, ``LAZYNWB_CATALOG_CACHE_PATH``) is chosen by the caller: a
fresh one for a cold first query, or one a previous run filled. Its obstore range reader refuses
plain ``http://`` unless ``allow_http`` is set: we set it for the loopback server, nothing else
changes.
"""

from __future__ import annotations

import json
import sys

from _measure import Stopwatch, emit_result  # benchmarks/ is on sys.path: run as a script


def _allow_http() -> None:
    import obstore.store

    original = obstore.store.from_url

    def from_url(url, *args, client_options=None, **kwargs):  # type: ignore[no-untyped-def]
        if str(url).startswith("http://"):
            client_options = {**(client_options or {}), "allow_http": True}
        return original(url, *args, client_options=client_options, **kwargs)

    obstore.store.from_url = from_url


def main() -> None:
    args = json.loads(sys.argv[1])
    _allow_http()
    import lazynwb
    import numpy as np
    import polars as pl
    import upath.implementations.local  # noqa: F401  (what lazynwb imports at its first path)

    urls, task = args["urls"], args["task"]
    watch = Stopwatch()
    if task == "trials":
        check = lazynwb.scan_nwb(urls, "/intervals/trials", disable_progress=True).collect().height
    elif task == "units_scalar":
        df = lazynwb.scan_nwb(urls, "/units", exclude_array_columns=True,
                              disable_progress=True).collect()
        check = df.height
    elif task == "filter_spikes":
        df = (lazynwb.scan_nwb(urls, "/units", disable_progress=True)
              .filter((pl.col("presence_ratio") >= 0.9) & (pl.col("decoder_label") == "sua"))
              .select("spike_times").collect())
        check = int(df["spike_times"].list.len().sum())
    elif task == "metadata":
        check = len(lazynwb.get_metadata_df(urls, as_polars=True, disable_progress=True))
    elif task == "timeseries":
        check = 0
        for url in urls:
            ts = lazynwb.get_timeseries(url, args["series"], exact_path=True)
            times = np.asarray(ts.timestamps[:])
            i0, i1 = np.searchsorted(times, [args["t0"], args["t1"]])
            check += len(np.asarray(ts.data[i0:i1]))
    else:
        raise SystemExit(f"unknown task {task!r}")
    emit_result(check=check, version=lazynwb.__version__, **watch.lap())


if __name__ == "__main__":
    main()

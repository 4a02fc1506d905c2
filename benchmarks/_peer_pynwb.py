"""One benchmark task with pynwb + remfile; run by ``benchmarks/remote.py`` in the peer venv.

Usage: ``python _peer_pynwb.py '{"task": "trials", "urls": [...], "t0": 100.0, "t1": 110.0}'``.
Prints one JSON line like ``_peer_lazynwb.py``. Files are opened one after another, the way the
pynwb streaming tutorial does it: ``remfile.File(url)`` -> ``h5py.File`` -> ``NWBHDF5IO.read()``.
"""

from __future__ import annotations

import json
import sys
import time
import warnings

from _measure import emit_result  # benchmarks/ is on sys.path: the scripts run as scripts


def main() -> None:
    args = json.loads(sys.argv[1])
    import h5py
    import numpy as np
    import pynwb
    import remfile
    from pynwb import NWBHDF5IO

    warnings.filterwarnings("ignore")
    urls, task = args["urls"], args["task"]
    t = time.perf_counter()
    check = 0
    for url in urls:
        with h5py.File(remfile.File(url), "r") as h5, \
                NWBHDF5IO(file=h5, load_namespaces=True) as io:
            nwb = io.read()
            if task == "trials":
                check += len(nwb.trials.to_dataframe())
            elif task == "units_scalar":
                arrays = {"spike_times", "waveform_mean", "electrodes"}
                check += len(nwb.units.to_dataframe(exclude=arrays))
            elif task == "filter_spikes":
                units = nwb.units
                keep = np.flatnonzero((units["presence_ratio"].data[:] >= 0.9)
                                      & (np.asarray(units["decoder_label"].data[:]).astype(str)
                                         == "sua"))
                index = units["spike_times_index"]
                check += sum(len(index[int(i)]) for i in keep)
            elif task == "metadata":
                row = {"identifier": nwb.identifier, "session_id": nwb.session_id,
                       "session_start_time": nwb.session_start_time,
                       "subject_id": nwb.subject.subject_id if nwb.subject else None}
                check += bool(row)
            elif task == "timeseries":
                ts = nwb.get_processing_module(args["series"].split("/")[2])[
                    args["series"].rsplit("/", 1)[1]]
                times = np.asarray(ts.timestamps[:])
                i0, i1 = np.searchsorted(times, [args["t0"], args["t1"]])
                check += len(np.asarray(ts.data[i0:i1]))
            else:
                raise SystemExit(f"unknown task {task!r}")
    seconds = time.perf_counter() - t
    emit_result(seconds, check,
           f"pynwb {pynwb.__version__}, remfile {getattr(remfile, '__version__', '?')}")


if __name__ == "__main__":
    main()

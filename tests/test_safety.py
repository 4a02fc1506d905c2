"""Hostile reference files, tried as an attacker would: each is built here, and reading it from
the user's side must raise a clear error naming the reference file and the key, return no
foreign byte, send no request anywhere but the source, and keep memory bounded."""

from __future__ import annotations

import base64
import functools
import json
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import intake_nwb
from intake_nwb.config import config
from intake_nwb.errors import (
    DecodeError,
    IntakeNWBError,
    LimitExceededError,
    UnsafeReferenceError,
)
from intake_nwb.store import open_store
from tests import synthetic
from tests.support.http_server import RangeHTTPServer
from tests.support.memory import PEAK_RSS

SECRET = b"root:x:0:0:TOP-SECRET-LINE\n" * 8


@pytest.fixture
def lab(tmp_path: Path) -> dict[str, Any]:
    """A pynwb file indexed with nothing inlined (every column is a chunk reference), and a
    file with a secret next to it."""
    src = synthetic.write_pynwb(tmp_path / "data")
    refs = intake_nwb.index(str(src), refs_dir=tmp_path / "refs", inline_threshold=0,
                            progress=False)[str(src)]
    secret = tmp_path / "secret.txt"
    secret.write_bytes(SECRET)
    return {"src": src, "refs": Path(refs), "secret": secret}


def _edit(refs: Path, fn: Any) -> None:
    doc = json.loads(refs.read_text())
    fn(doc)
    refs.write_text(json.dumps(doc))


def _read_spike_times(refs: Path) -> Any:
    return intake_nwb.scan_nwb([str(refs)], "/units").select("spike_times").collect()


# -- 1. references confined to their source -----------------------------------------------------

@pytest.mark.parametrize("target", ["path", "file-url"])
def test_references_cannot_read_other_local_files(lab: dict[str, Any], target: str) -> None:
    secret = str(lab["secret"]) if target == "path" else f"file://{lab['secret']}"

    def point_at_secret(doc: dict[str, Any]) -> None:
        doc["refs"]["units/spike_times/0"] = [secret, 0, 64]
        doc["refs"]["acquisition/ts1/data/0"] = [secret, 64, 64]

    _edit(lab["refs"], point_at_secret)
    with pytest.raises(UnsafeReferenceError) as err:
        _read_spike_times(lab["refs"])
    message = str(err.value)
    assert str(lab["refs"]) in message and "not at its source" in message
    assert "units/spike_times/0" in message or "acquisition/ts1/data/0" in message
    assert "TOP-SECRET" not in message


def test_reference_files_without_a_source_record_are_refused(lab: dict[str, Any]) -> None:
    _edit(lab["refs"], lambda doc: doc.pop("intake_nwb"))
    with pytest.raises(UnsafeReferenceError, match="records no source"):
        open_store(lab["refs"])
    # opting in still confines the references to the one URL they use
    with config.set(allow_unrecorded_refs=True):
        store = open_store(lab["refs"])
        assert store.source == str(lab["src"])
        _edit(lab["refs"], lambda doc: doc["refs"].__setitem__(
            "units/spike_times/0", [str(lab["secret"]), 0, 64]))
        with pytest.raises(UnsafeReferenceError, match="references 2 sources"):
            open_store(lab["refs"])


@pytest.mark.parametrize(("ref", "why"), [
    ([-100, 64], "outside"), ([0, -64], "outside"), ([0, 0], "outside"),
    ([10**12, 64], "outside"), ([0, 2**40], "outside"), (["x", 64], "not integers"),
    ([0], "not \\[url, offset, length\\]")])
def test_byte_ranges_stay_inside_the_source(lab: dict[str, Any], ref: list[Any],
                                            why: str) -> None:
    _edit(lab["refs"], lambda doc: doc["refs"].__setitem__("units/spike_times/0",
                                                           ["{{u}}", *ref]))
    with pytest.raises(UnsafeReferenceError, match=why) as err:
        _read_spike_times(lab["refs"])
    assert "units/spike_times/0" in str(err.value) and str(lab["refs"]) in str(err.value)


def test_no_request_reaches_another_host(tmp_path: Path) -> None:
    """SSRF: an http(s) source's references may not send the victim's process elsewhere."""
    src = synthetic.write_pynwb(tmp_path / "site")
    (tmp_path / "internal").mkdir()
    (tmp_path / "internal" / "admin").write_bytes(b"x" * 4096)
    with RangeHTTPServer(tmp_path / "site") as site, \
            RangeHTTPServer(tmp_path / "internal") as internal:
        url = site.url_for(src.name)
        refs = Path(intake_nwb.index(url, refs_dir=tmp_path / "refs", inline_threshold=0,
                                     progress=False)[url])
        _edit(refs, lambda doc: doc["refs"].__setitem__(
            "units/spike_times/0", [f"{internal.url}/admin?token=1", 0, 64]))
        with pytest.raises(UnsafeReferenceError, match="not at its source"):
            _read_spike_times(refs)
        assert internal.stats()["requests"] == 0


def test_parquet_records_are_confined_too(lab: dict[str, Any], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import pandas as pd

    from intake_nwb.refs import cache

    monkeypatch.setattr(cache, "PARQUET_MIN_CHUNKS", 1)
    out = Path(intake_nwb.index(str(lab["src"]), refs_dir=tmp_path / "pq", inline_threshold=0,
                                progress=False, overwrite=True)[str(lab["src"])])
    assert out.suffix == ".parq"
    record = out / "units" / "spike_times" / "refs.0.parq"
    df = pd.read_parquet(record)
    df.loc[0, "path"] = str(lab["secret"])
    df.to_parquet(record)
    with pytest.raises(UnsafeReferenceError, match="not at its source") as err:
        _read_spike_times(out)
    assert "units/spike_times/0" in str(err.value)


# -- 2. bounded decoding ------------------------------------------------------------------------

def _peak_rss_mib(code: str) -> tuple[float, str]:
    """Run ``code`` in a fresh interpreter; (peak RSS growth in MiB while it ran, its output)."""
    # the libraries a read loads are loaded before the measurement starts
    script = (f"import intake_nwb, numpy, polars, zarr\n{PEAK_RSS}\n"
              "intake_nwb.scan_nwb, intake_nwb.open_store\n"
              "before = peak_rss()\n"
              f"{code}\n"
              "print('RSS', (peak_rss() - before) / 2**20)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=Path(__file__).parents[1], timeout=120)
    assert out.returncode == 0, out.stderr
    line = [x for x in out.stdout.splitlines() if x.startswith("RSS")][-1]
    return float(line.split()[1]), out.stdout


def _read_ts1(refs: Path) -> str:
    return ("from intake_nwb.store import open_store\n"
            "try:\n"
            f"    open_store({str(refs)!r}).group['acquisition/ts1/data'][:10]\n"
            "    print('NO ERROR')\n"
            "except intake_nwb.errors.IntakeNWBError as exc:\n"
            "    print('ERROR', type(exc).__name__, exc)\n")


@functools.cache
def _zlib_bomb() -> str:
    """256 MiB of zeros in a 256 KB zlib stream (inline data)."""
    return "base64:" + base64.b64encode(zlib.compress(bytes(2**28), 9)).decode()


def test_a_chunk_declaring_too_much_is_refused(lab: dict[str, Any]) -> None:
    """256 MiB declared, backed by a 256 KB zlib stream (inline): refused before decoding."""
    def bomb(doc: dict[str, Any]) -> None:
        refs = doc["refs"]
        zarray = json.loads(refs["acquisition/ts1/data/.zarray"])
        zarray.update(shape=[2**25], chunks=[2**25], filters=[{"id": "zlib", "level": 9}])
        refs["acquisition/ts1/data/.zarray"] = json.dumps(zarray)
        zmeta = json.loads(refs[".zmetadata"])
        zmeta["metadata"]["acquisition/ts1/data/.zarray"] = zarray
        refs[".zmetadata"] = json.dumps(zmeta)
        refs["acquisition/ts1/data/0"] = _zlib_bomb()

    _edit(lab["refs"], bomb)
    grown, out = _peak_rss_mib(_read_ts1(lab["refs"]))
    assert "ERROR LimitExceededError" in out and "max_chunk_bytes" in out, out
    assert "acquisition/ts1/data" in out and str(lab["refs"]) in out
    assert grown < 100, f"peak RSS grew {grown:.0f} MiB"


def test_a_small_chunk_that_inflates_is_refused(lab: dict[str, Any]) -> None:
    """800 bytes declared, a zlib stream inflating to 256 MiB: decoding stops at 801 bytes."""
    def bomb(doc: dict[str, Any]) -> None:
        refs = doc["refs"]
        for key in ("acquisition/ts1/data/.zarray",):
            zarray = json.loads(refs[key])
            zarray["filters"] = [{"id": "zlib", "level": 9}]
            refs[key] = json.dumps(zarray)
            zmeta = json.loads(refs[".zmetadata"])
            zmeta["metadata"][key] = zarray
            refs[".zmetadata"] = json.dumps(zmeta)
        refs["acquisition/ts1/data/0"] = _zlib_bomb()

    _edit(lab["refs"], bomb)
    grown, out = _peak_rss_mib(_read_ts1(lab["refs"]))
    assert "ERROR DecodeError" in out and "more than the 800 bytes" in out, out
    assert "acquisition/ts1/data/0" in out
    assert grown < 100, f"peak RSS grew {grown:.0f} MiB"


def test_an_inflated_shape_is_refused(lab: dict[str, Any]) -> None:
    """Only ``units/id``'s shape changed to 3e9: 22 GiB of fill value, refused at open."""
    def inflate(doc: dict[str, Any]) -> None:
        refs = doc["refs"]
        zarray = json.loads(refs["units/id/.zarray"])
        zarray["shape"] = [3_000_000_000]
        refs["units/id/.zarray"] = json.dumps(zarray)
        zmeta = json.loads(refs[".zmetadata"])
        zmeta["metadata"]["units/id/.zarray"] = zarray
        refs[".zmetadata"] = json.dumps(zmeta)

    _edit(lab["refs"], inflate)
    code = ("import polars as pl\n"
            "try:\n"
            f"    intake_nwb.scan_nwb([{str(lab['refs'])!r}], '/units')"
            ".filter(pl.col('quality') == 'good').collect()\n"
            "    print('NO ERROR')\n"
            "except intake_nwb.errors.IntakeNWBError as exc:\n"
            "    print('ERROR', type(exc).__name__, exc)\n")
    grown, out = _peak_rss_mib(code)
    assert "LimitExceededError" in out and "max_fill_bytes" in out and "units/id" in out, out
    assert grown < 100, f"peak RSS grew {grown:.0f} MiB"


def test_vlen_headers_cannot_claim_more_items(lab: dict[str, Any]) -> None:
    def claim(doc: dict[str, Any]) -> None:
        key = "units/quality/0"
        raw = base64.b64decode(doc["refs"][key][7:])
        doc["refs"][key] = "base64:" + base64.b64encode(
            (2**31).to_bytes(4, "little") + raw[4:]).decode()

    _edit(lab["refs"], claim)
    with pytest.raises(DecodeError, match="declares 2147483648 items") as err:
        intake_nwb.scan_nwb([str(lab["refs"])], "/units").select("quality").collect()
    assert "units/quality/0" in str(err.value)


def test_pickle_stays_opt_in(lab: dict[str, Any], tmp_path: Path) -> None:
    """A Pickle-encoded object array never runs its payload unless the user allows it."""
    import pickle

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self) -> Any:
            return (open, (str(marker), "w"))

    payload = np.array([Payload()], dtype=object)
    encoded = pickle.dumps(payload)

    def pickled(doc: dict[str, Any]) -> None:
        refs = doc["refs"]
        zarray = {"zarr_format": 2, "shape": [1], "chunks": [1], "dtype": "|O",
                  "compressor": None, "filters": [{"id": "pickle"}], "fill_value": None,
                  "order": "C", "dimension_separator": "."}
        refs["evil/.zarray"] = json.dumps(zarray)
        refs["evil/.zattrs"] = "{}"
        refs["evil/0"] = "base64:" + base64.b64encode(encoded).decode()
        zmeta = json.loads(refs[".zmetadata"])
        zmeta["metadata"]["evil/.zarray"] = zarray
        zmeta["metadata"]["evil/.zattrs"] = {}
        refs[".zmetadata"] = json.dumps(zmeta)

    _edit(lab["refs"], pickled)
    with pytest.raises(IntakeNWBError) as err:
        open_store(lab["refs"]).group["evil"][:]
    assert "evil/0" in str(err.value)
    assert not marker.exists()


def test_corrupt_chunks_name_file_and_path(tmp_path: Path) -> None:
    """A corrupt gzip chunk read through get_timeseries: one error naming file and chunk."""
    import h5py

    path = synthetic._new(tmp_path, "gz.nwb")[1]
    with h5py.File(path, "a") as f:
        g = f.create_group("acquisition/ts")
        g.attrs["neurodata_type"] = "TimeSeries"
        g.attrs["namespace"] = "core"
        d = g.create_dataset("data", data=np.arange(4000, dtype="f8"), chunks=(1000,),
                             compression="gzip")
        d.attrs["unit"] = "V"
        g.create_dataset("starting_time", data=0.0).attrs["rate"] = 10.0
        offset = d.id.get_chunk_info(1).byte_offset
    with open(path, "r+b") as f:
        f.seek(offset + 10)
        f.write(b"\xff" * 32)
    refs = intake_nwb.index(str(path), refs_dir=tmp_path / "refs", inline_threshold=0,
                            progress=False)[str(path)]
    da = intake_nwb.get_timeseries(refs, "/acquisition/ts")
    with pytest.raises(DecodeError) as err:
        da.values  # noqa: B018
    assert str(path) in str(err.value) and "/acquisition/ts/data/1" in str(err.value)


def test_limits_are_configurable(lab: dict[str, Any]) -> None:
    with config.set(max_chunk_bytes=100), pytest.raises(LimitExceededError,
                                                         match="max_chunk_bytes"):
        open_store(lab["refs"])
    assert open_store(lab["refs"]).group["acquisition/ts1/data"][:3].tolist() == \
        pytest.approx(np.sin(np.arange(3) / 10.0))

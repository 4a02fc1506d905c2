"""Write the example pinned DANDI catalogs of this folder.

    python catalogs/dandi/make_example.py           # example_local.yaml, from a loopback archive
    python catalogs/dandi/make_example.py --live    # dandi_000006.yaml + refs/, from the archive

The local example runs ``tests.support.dandi_server.DandiTestServer`` (moto S3 behind a
DANDI API on 127.0.0.1) with two real DANDI:000006 sessions and a Zarr NWB store from
``../shared/data/nwb``: it shows what a pinned catalog holds, but its URLs point at servers that
stopped when the script ended. The live one needs the internet: one published asset of
DANDI:000006 (Economo et al., ALM), small enough to commit with its references.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # tests.support: the loopback archive lives with the tests
DATA = Path(os.environ.get("INTAKE_NWB_TEST_DATA", HERE.parents[2] / "shared/data/nwb"))
LIVE_VERSION = "0.220126.1855"
LIVE_ASSETS = ["f1b6ed8f-1e14-44fa-b4ee-240d0efe3759"]


def local() -> Path:
    from intake_nwb.dandi import dandi_catalog
    from tests.support.dandi_server import DandiTestServer
    from tests.support.servers import MotoS3Server

    out = HERE / "example_local.yaml"
    with MotoS3Server() as s3, DandiTestServer(s3) as archive, \
            tempfile.TemporaryDirectory() as tmp:
        ds = archive.create_dandiset("000123", name="ALM delay response (local test archive)")
        for local_path, path in (
                ("dandi-cli/sub-anm369963_ses-20170228.nwb",
                 "sub-anm369963/sub-anm369963_ses-20170228.nwb"),
                ("dandi-cli/sub-anm372793_ses-20170508.nwb",
                 "sub-anm372793/sub-anm372793_ses-20170508.nwb"),
                ("test-hdmf-zarr/consolidated.nwb.zarr", "sub-zarr/sub-zarr_ses-1.nwb.zarr")):
            archive.add_asset(ds, DATA / local_path, path)
        version = archive.publish(ds, "0.230101.1200")
        built = dandi_catalog(ds, version, Path(tmp) / "catalog.yaml", api_url=archive.api_url,
                              progress=False)
        text = built.read_text()
        # stable, readable addresses instead of this run's ports
        text = text.replace(archive.api_url, "http://127.0.0.1:8000/api")
        text = re.sub(r"http://127\.0\.0\.1:\d+/dandiarchive", "http://127.0.0.1:9000/dandiarchive",
                      text)
        text = text.replace(archive.s3_endpoint, "http://127.0.0.1:9000")
        out.write_text("# An EXAMPLE of a pinned DANDI catalog, written by "
                       "catalogs/dandi/make_example.py against a\n# loopback test archive: its "
                       "URLs do not answer. See README.md for a real one.\n" + text)
    return out


def live() -> Path:
    from intake_nwb.dandi import dandi_catalog

    out = HERE / "dandi_000006.yaml"
    shutil.rmtree(HERE / "refs", ignore_errors=True)
    return dandi_catalog("000006", LIVE_VERSION, out, asset_ids=LIVE_ASSETS, progress=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--live", action="store_true", help="build from the real archive")
    args = parser.parse_args(argv)
    print(live() if args.live else local())
    return 0


if __name__ == "__main__":
    sys.exit(main())

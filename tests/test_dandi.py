"""DANDI: REST resolution, pinned catalogs, pin verification, the S3 -> download fallback.

Everything runs against :class:`tests.support.dandi_server.DandiTestServer`: a loopback
DANDI API with the real API's JSON shapes, serving real NWB files from ``../shared/data/nwb``
out of moto's S3 through a gate that can answer 403. ``test_live_archive`` reads the real
archive and runs only with ``pytest -m network`` (and skips without a network).
"""

from __future__ import annotations

import socket
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import requests
import yaml

import intake_nwb
from intake_nwb.dandi import (
    DandiAPIError,
    DandiNotFoundError,
    DandiURLError,
    DraftVersionWarning,
    dandi_catalog,
    get_dandi_assets,
    get_dandi_sources,
    get_dandi_urls,
    read_pins,
    verify_pins,
)
from intake_nwb.errors import PinMismatchError
from tests.support.dandi_server import (
    ALM_1,
    ALM_2,
    DANDISET,
    DRAFT_ONLY,
    EMBARGOED,
    OGEN,
    SINGLE,
    ZARR,
    DandiTestServer,
    dandi_etag,
    example_archive,
)


@pytest.fixture(scope="module")
def archive(s3_server: Any, data_dir: Path, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[dict[str, Any]]:
    """A local archive (see ``example_archive``); 2-item pages.

    (Three NWB assets: index() switches to a process pool from four remote files, slow to
    start here.)"""
    with DandiTestServer(s3_server, max_page_size=2) as srv:
        yield example_archive(srv, data_dir, tmp_path_factory.mktemp("video"))


@pytest.fixture(scope="module")
def catalog(archive: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    srv = archive["server"]
    return dandi_catalog(DANDISET, archive["version"],
                         tmp_path_factory.mktemp("dandi") / "dandi_000123.yaml",
                         api_url=srv.api_url, progress=False)


def _api(srv: DandiTestServer, path: str, **params: Any) -> requests.Response:
    return requests.get(f"{srv.api_url}/{path}", params=params, timeout=10)


# -- the local API speaks the real API's shapes ----------------------------------------------------

def test_assets_listing_shapes_and_pagination(archive: dict[str, Any]) -> None:
    srv, version = archive["server"], archive["version"]
    first = _api(srv, f"dandisets/{DANDISET}/versions/{version}/assets/", metadata="true",
                 order="path", page_size=1000).json()
    assert list(first) == ["count", "next", "previous", "results"]
    assert first["count"] == 4 and first["previous"] is None and len(first["results"]) == 2
    record = first["results"][0]
    assert list(record) == ["asset_id", "blob", "zarr", "path", "size", "created", "modified",
                            "metadata"]
    meta = record["metadata"]
    download, s3 = meta["contentUrl"]
    assert download == f"{srv.api_url}/assets/{record['asset_id']}/download/"
    assert s3.startswith(f"{srv.s3_endpoint}/dandiarchive/blobs/")
    assert meta["identifier"] == record["asset_id"] and meta["contentSize"] == record["size"]
    assert set(meta["digest"]) == {"dandi:dandi-etag", "dandi:sha2-256"}
    # the S3 object's ETag is the dandi-etag, as on the archive
    head = requests.head(s3, timeout=10)
    assert head.headers["ETag"].strip('"') == meta["digest"]["dandi:dandi-etag"]
    assert int(head.headers["Content-Length"]) == record["size"]
    local = {path: f for f, path in (ALM_1, ALM_2, OGEN)}[record["path"]]
    data = (archive["data_dir"] / local).read_bytes()
    assert meta["digest"]["dandi:dandi-etag"] == dandi_etag(data)
    second = requests.get(first["next"], timeout=10).json()
    assert second["count"] is None and second["previous"] is not None
    assert second["next"] is None
    paths = [r["path"] for p in (first, second) for r in p["results"]]
    assert paths == sorted(paths) and len(paths) == 4
    zarr = next(r for p in (first, second) for r in p["results"] if r["zarr"])
    assert zarr["blob"] is None
    assert list(zarr["metadata"]["digest"]) == ["dandi:dandi-zarr-checksum"]
    assert zarr["metadata"]["encodingFormat"] == "application/x-zarr"
    bare = _api(srv, f"dandisets/{DANDISET}/versions/{version}/assets/").json()
    assert "metadata" not in bare["results"][0]


def test_not_found_and_redirect_shapes(archive: dict[str, Any]) -> None:
    srv, version = archive["server"], archive["version"]
    for path in ("dandisets/999999/", f"dandisets/{DANDISET}/versions/0.111111.1111/",
                 "assets/00000000-0000-4000-8000-000000000000/"):
        resp = _api(srv, path)
        assert resp.status_code == 404 and resp.json() == {"detail": "Not found."}
    info = _api(srv, f"dandisets/{DANDISET}/").json()
    assert info["most_recent_published_version"]["version"] == version
    assert info["draft_version"]["version"] == "draft"
    meta = _api(srv, f"dandisets/{DANDISET}/versions/{version}/").json()
    assert meta["id"] == f"DANDI:{DANDISET}/{version}" and meta["doi"].endswith(version)
    asset = srv.find_asset(DANDISET, version, ALM_1[1])
    resp = requests.get(f"{srv.api_url}/assets/{asset['asset_id']}/download/",
                        allow_redirects=False, timeout=10)
    assert resp.status_code == 302 and "dandiarchive/blobs/" in resp.headers["Location"]
    assert _api(srv, f"dandisets/{EMBARGOED}/").status_code == 401


# -- resolution ------------------------------------------------------------------------------------

def test_get_dandi_sources_lists_nwb_assets_in_path_order(archive: dict[str, Any]) -> None:
    srv, version = archive["server"], archive["version"]
    assets = get_dandi_assets(DANDISET, version, api_url=srv.api_url)
    assert [a.path for a in assets] == sorted([ALM_1[1], ALM_2[1], ZARR[1]])
    urls = get_dandi_sources(DANDISET, version, api_url=srv.api_url)
    assert urls == [a.read_url for a in assets]
    assert [u.startswith(f"{srv.s3_endpoint}/dandiarchive/blobs/") for u in urls] == [
        not a.is_zarr for a in assets]
    zarr = next(a for a in assets if a.is_zarr)
    assert zarr.read_url == f"s3://dandiarchive/zarr/{zarr.zarr_id}"
    assert zarr.storage_options == {"anon": True, "endpoint_url": srv.s3_endpoint}
    # the API's glob, explicit ids (in their order), max_assets
    assert get_dandi_sources(DANDISET, version, glob="SUB-ANM3*", api_url=srv.api_url) == \
        urls[:2]  # the API's glob ignores case
    picked = [assets[2].asset_id, assets[0].asset_id]
    assert get_dandi_sources(DANDISET, version, asset_ids=picked, api_url=srv.api_url) == \
        [urls[2], urls[0]]
    assert get_dandi_sources(DANDISET, version, max_assets=1, api_url=srv.api_url) == urls[:1]
    # version=None: the most recent published version, not the draft
    assert get_dandi_sources(DANDISET, api_url=srv.api_url) == urls


def test_get_df_over_dandi_sources_equals_local_files(archive: dict[str, Any],
                                                     tmp_path: Path) -> None:
    srv, version, data = archive["server"], archive["version"], archive["data_dir"]
    urls = get_dandi_sources(DANDISET, version, glob="sub-anm3*", api_url=srv.api_url)
    remote = intake_nwb.get_df(urls, "/units", refs_dir=tmp_path)
    local = intake_nwb.get_df([str(data / ALM_1[0]), str(data / ALM_2[0])], "/units",
                              refs_dir=tmp_path)
    assert remote.drop("_nwb_path").equals(local.drop("_nwb_path"))


def test_a_process_that_read_dandi_assets_exits_cleanly(archive: dict[str, Any],
                                                        tmp_path: Path) -> None:
    """A catalog built and read over the DANDI API (h5py's reads fetched in its threads, each
    with its own loop and the sessions made for it) leaves no client session open: nothing on
    stderr, also once every object is collected."""
    import os
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(f"""
        import gc
        import intake
        from intake_nwb.dandi import dandi_catalog
        path = dandi_catalog({DANDISET!r}, {archive["version"]!r}, {str(tmp_path / "c.yaml")!r},
                             api_url={archive["server"].api_url!r}, progress=False)
        print(intake.open_catalog(path).units.read().height)
        gc.collect()  # an unclosed session warns when it is collected
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(intake_nwb.__file__).parents[1])}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, env=env)
    assert out.returncode == 0 and int(out.stdout) > 0, out.stderr
    assert out.stderr == "", out.stderr


def test_unknown_dandiset_version_and_asset(archive: dict[str, Any], tmp_path: Path) -> None:
    srv, version = archive["server"], archive["version"]
    with pytest.raises(DandiNotFoundError, match="no dandiset 999999"):
        dandi_catalog("999999", "0.230101.1200", tmp_path / "c.yaml", api_url=srv.api_url)
    with pytest.raises(DandiNotFoundError, match=r"no version '0\.111111\.1111'.*0\.230101\.1200"):
        dandi_catalog(DANDISET, "0.111111.1111", tmp_path / "c.yaml", api_url=srv.api_url)
    with pytest.raises(DandiNotFoundError):
        get_dandi_sources(DANDISET, version, asset_ids=["00000000-0000-4000-8000-000000000000"],
                          api_url=srv.api_url)
    with pytest.raises(DandiNotFoundError, match="no NWB asset"):
        dandi_catalog(DANDISET, version, tmp_path / "c.yaml", glob="*.mp4",
                      api_url=srv.api_url)
    assert not (tmp_path / "c.yaml").exists()


def test_draft_only_by_name_and_with_a_warning(archive: dict[str, Any], tmp_path: Path) -> None:
    srv = archive["server"]
    with pytest.raises(ValueError, match="version is empty"):
        dandi_catalog(DANDISET, "", tmp_path / "c.yaml", api_url=srv.api_url)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DraftVersionWarning)
        get_dandi_sources(DANDISET, api_url=srv.api_url)  # published exists: no warning
        # never published and no version named: not the draft, but the versions there are
        with pytest.raises(DandiNotFoundError, match=r"000126 has no published version "
                                                     r"\(versions: draft\).*--version draft"):
            get_dandi_sources(DRAFT_ONLY, api_url=srv.api_url)
    with pytest.warns(DraftVersionWarning, match="not reproducible"):
        urls = get_dandi_sources(DRAFT_ONLY, "draft", api_url=srv.api_url)
    assert len(urls) == 1
    with pytest.warns(DraftVersionWarning):
        draft = get_dandi_assets(f"DANDI:{DANDISET}/draft", api_url=srv.api_url)
    assert OGEN[1] in [a.path for a in draft]  # the draft moved on
    assert OGEN[1] not in [a.path for a in get_dandi_assets(DANDISET, archive["version"],
                                                            api_url=srv.api_url)]
    with pytest.warns(DraftVersionWarning):
        path = dandi_catalog(DRAFT_ONLY, "draft", tmp_path / "draft.yaml", api_url=srv.api_url,
                             progress=False)
    pins = read_pins(path)
    assert pins["version"] == "draft" and pins["reproducible"] is False


def test_identifier_forms_select_the_same_assets(archive: dict[str, Any]) -> None:
    """dandi-cli's identifiers, archive URLs and dandi:// URLs, with the API to ask given."""
    srv, version = archive["server"], archive["version"]
    api = srv.api_url
    expected = get_dandi_urls(DANDISET, version, api_url=api)
    assert [u.rsplit("/", 2)[-2] for u in expected] == ["sub-anm369963", "sub-anm372793",
                                                        "sub-zarr"]
    for ident in (f"DANDI:{DANDISET}/{version}", f"dandi:{DANDISET}",  # no version: published
                  f"https://dandiarchive.org/dandiset/{DANDISET}/{version}",
                  f"https://dandiarchive.org/dandiset/{DANDISET}",
                  f"{api}/dandisets/{DANDISET}/versions/{version}/",
                  f"dandi://dandi/{DANDISET}@{version}"):
        assert get_dandi_urls(ident, api_url=api) == expected, ident
    # API URLs name the API themselves
    assert get_dandi_urls(f"{api}/dandisets/{DANDISET}/") == expected
    # identifiers that select: an API glob, a ?path= prefix, a folder, a dandi:// glob, an id
    alm = srv.find_asset(DANDISET, version, ALM_1[1])
    for ident, n in ((f"{api}/dandisets/{DANDISET}/versions/{version}/assets/?glob=SUB-ANM3*",
                      2), (f"{api}/dandisets/{DANDISET}/versions/{version}/assets/?path=sub-z",
                           1),
                     (f"https://dandiarchive.org/dandiset/{DANDISET}/{version}/files?location="
                      "sub-anm369963", 1),
                     (f"dandi://x/{DANDISET}/*/*.nwb", 2),
                     (f"dandi://x/{DANDISET}/**", 3),
                     (f"{api}/dandisets/{DANDISET}/versions/{version}/assets/{alm['asset_id']}/"
                      "download/", 1)):
        urls = get_dandi_urls(ident, api_url=api)
        assert len(urls) == n and set(urls) <= set(expected), ident
    with pytest.raises(DandiURLError, match="names version"):
        get_dandi_urls(f"DANDI:{DANDISET}/{version}", "draft", api_url=api)
    with pytest.raises(DandiURLError, match="selects assets itself"):
        get_dandi_urls(f"dandi://x/{DANDISET}/*/*.nwb", glob="*", api_url=api)
    with pytest.raises(DandiNotFoundError, match=r"no version '0\.111111\.1111' \(versions: "
                                                 r"draft, 0\.230101\.1200\)"):
        get_dandi_urls(f"DANDI:{DANDISET}/0.111111.1111", api_url=api)


def test_embargoed_dandiset_needs_the_api_key(archive: dict[str, Any],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    srv = archive["server"]
    monkeypatch.delenv("DANDI_API_KEY", raising=False)
    with pytest.raises(DandiAPIError, match="DANDI_API_KEY"):
        get_dandi_sources(EMBARGOED, "0.230303.1000", api_url=srv.api_url)
    monkeypatch.setenv("DANDI_API_KEY", srv.api_key)
    assert len(get_dandi_sources(EMBARGOED, "0.230303.1000", api_url=srv.api_url)) == 1


# -- pinned catalogs -------------------------------------------------------------------------------

def test_catalog_pins_dandiset_version_and_assets(archive: dict[str, Any], catalog: Path) -> None:
    srv, version = archive["server"], archive["version"]
    doc = yaml.safe_load(catalog.read_text())
    block = read_pins(catalog)
    assert (block["dandiset_id"], block["version"], block["api_url"]) == (
        DANDISET, version, srv.api_url)
    assert block["reproducible"] is True
    assets = {a["path"]: a for a in block["assets"]}
    assert sorted(assets) == sorted([ALM_1[1], ALM_2[1], ZARR[1]])
    alm = srv.find_asset(DANDISET, version, ALM_1[1])
    pin = assets[ALM_1[1]]
    assert pin["asset_id"] == alm["asset_id"] and pin["size"] == alm["size"]
    assert pin["etag"] == alm["metadata"]["digest"]["dandi:dandi-etag"]
    assert pin["sha256"] == alm["metadata"]["digest"]["dandi:sha2-256"]
    assert (pin["download_url"], pin["s3_url"]) == tuple(alm["metadata"]["contentUrl"])
    assert assets[ZARR[1]]["zarr_checksum"].endswith(f"--{assets[ZARR[1]]['size']}")
    # every file's pin lives with it in the lab index; files are named after their asset
    entries = doc["sources"]
    assert {"sessions", "units", "trials", "files"} <= set(entries)
    import intake

    cat = intake.open_catalog(str(catalog))
    assert sorted(cat.files) == ["sub_anm369963_ses_20170228", "sub_anm372793_ses_20170508",
                                 "sub_zarr_ses_1"]
    lab = cat.sessions.origin.lab
    pinned = {r.key: r.extra["dandi"]["asset_id"] for r in lab.files.values()}
    assert pinned["sub_anm369963_ses_20170228"] == alm["asset_id"]
    sessions = cat.sessions.read()
    assert sorted(sessions["dandi_path"]) == sorted(assets)
    # HDF5 assets are read through references kept beside the catalog
    refs = sorted((catalog.parent / "refs").iterdir())
    assert len(refs) == 2
    assert sorted(r.kind for r in lab.files.values()) == ["hdf5", "hdf5", "zarr"]
    assert all(r.refs.startswith(str(catalog.parent / "refs")) for r in lab.files.values()
               if r.kind == "hdf5")


def test_verify_pins_hook(archive: dict[str, Any], catalog: Path) -> None:
    srv = archive["server"]
    pins = {p["url"]: p for p in read_pins(catalog)["assets"] if "blob_id" in p}
    srv.reset_log()
    assert verify_pins(pins, list(pins)) == {}  # all match, read where pinned
    heads = [r for r in srv.log if r[1].startswith("HEAD")]
    assert len(heads) == 2 and len(srv.log) == 2  # one HEAD per asset, nothing else
    assert verify_pins(None, list(pins), relocate={"a": "b"}) == {"a": "b"}
    assert verify_pins(pins, ["/not/pinned.nwb"]) == {}


def test_open_catalog_reads_the_units_get_df_reads(archive: dict[str, Any],
                                                   catalog: Path) -> None:
    import intake

    data = archive["data_dir"]
    cat = intake.open_catalog(str(catalog))
    units = cat.units.read()
    # the catalog's files are in asset path order
    local = intake_nwb.get_df([str(data / f) for f, _ in (ALM_1, ALM_2)], "/units",
                              exclude_array_columns=False)
    got = units.drop("_nwb_path")
    assert got.equals(local.drop("_nwb_path").select(got.columns))
    sessions = cat.sessions.read()
    assert sessions.height == 3
    # the Zarr NWB asset is read directly from S3
    zarr = cat.files.sub_zarr_ses_1
    series = zarr.test_timeseries.read()
    assert series.shape == (10,)


def test_s3_403_falls_back_to_the_download_url(archive: dict[str, Any], catalog: Path) -> None:
    import intake

    srv = archive["server"]
    srv.forbid_s3()
    try:
        pins = {p["url"]: p for p in read_pins(catalog)["assets"]}
        # dandi:// reads fall back to the download URL themselves: nothing to relocate
        assert verify_pins(pins, storage_options={"api_url": srv.api_url}) == {}
        srv.reset_log()
        units = intake.open_catalog(str(catalog)).units.read()
        assert units.height == 2
        assert any("/download/" in r[1] for r in srv.log)  # through the API's redirect
        assert not [r for r in srv.log if r[0] == "s3" and r[2] in (200, 206)]
    finally:
        srv.forbid_s3(forbid=False)


def test_changed_bytes_fail_the_pin(archive: dict[str, Any], tmp_path: Path) -> None:
    import intake

    srv, data = archive["server"], archive["data_dir"]
    path = dandi_catalog(SINGLE, archive["single_version"], tmp_path / "one.yaml",
                         api_url=srv.api_url, progress=False)
    cat = intake.open_catalog(str(path))
    assert cat.units.read().height == 1
    asset = srv.find_asset(SINGLE, archive["single_version"], ALM_1[1])
    original = (data / ALM_1[0]).read_bytes()
    changed = bytearray(original)
    changed[-1] ^= 0xFF  # same size, other bytes: only the ETag tells
    srv.overwrite_bytes(asset["asset_id"], bytes(changed))
    try:
        with pytest.raises(PinMismatchError, match=rf"{ALM_1[1]}.*etag"):
            intake.open_catalog(str(path)).units.read()
        with pytest.raises(PinMismatchError):
            list(intake.open_catalog(str(path)).files.sub_anm369963_ses_20170228)
        srv.overwrite_bytes(asset["asset_id"], original + b"\0")
        with pytest.raises(PinMismatchError, match="size 276632 -> 276633"):
            verify_pins({p["url"]: p for p in read_pins(path)["assets"]})
    finally:
        srv.overwrite_bytes(asset["asset_id"], original)
    assert intake.open_catalog(str(path)).units.read().height == 1


def test_changed_bytes_fail_verification(archive: dict[str, Any], tmp_path: Path) -> None:
    """The hook itself, whatever the drivers do: a changed asset raises, naming it."""
    srv, data = archive["server"], archive["data_dir"]
    asset = get_dandi_assets(SINGLE, archive["single_version"], api_url=srv.api_url)[0]
    pins = {asset.read_url: asset.pin(SINGLE, archive["single_version"])}
    original = (data / ALM_1[0]).read_bytes()
    srv.overwrite_bytes(asset.asset_id, original[:-1] + bytes([original[-1] ^ 0xFF]))
    try:
        with pytest.raises(PinMismatchError, match=rf"{ALM_1[1]} \(asset {asset.asset_id}"):
            verify_pins(pins)
        srv.forbid_s3([asset.asset_id])  # through the download URL it is caught too
        with pytest.raises(PinMismatchError, match="etag"):
            verify_pins(pins)
    finally:
        srv.forbid_s3(forbid=False)
        srv.overwrite_bytes(asset.asset_id, original)
    assert verify_pins(pins) == {}


def test_refs_dir_is_reused_and_kept_beside_the_catalog(archive: dict[str, Any], catalog: Path,
                                                        tmp_path: Path) -> None:
    srv = archive["server"]
    srv.reset_log()
    path = dandi_catalog(DANDISET, archive["version"], tmp_path / "again" / "c.yaml",
                         glob="sub-anm3*", refs_dir=catalog.parent / "refs",
                         api_url=srv.api_url, progress=False)
    refs = sorted((path.parent / "refs").iterdir())
    assert len(refs) == 2
    for ref in refs:  # copied and kept (current), not remade
        before = catalog.parent / "refs" / ref.name
        assert ref.read_bytes() == before.read_bytes()
        assert ref.stat().st_mtime_ns == before.stat().st_mtime_ns
    first = read_pins(path)
    again = dandi_catalog(DANDISET, archive["version"], path, glob="sub-anm3*",
                          api_url=srv.api_url, progress=False)  # rebuilt in place
    assert read_pins(again)["assets"] == first["assets"]


def test_cli(archive: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from intake_nwb.cli import main

    srv = archive["server"]
    out = tmp_path / "cli.yaml"
    # dandi-cli's identifier, no --version: the most recent published one, written down
    assert main(["dandi", f"DANDI:{SINGLE}", "-o", str(out), "--api-url", srv.api_url,
                 "--max-assets", "1", "--no-progress"]) == 0
    pins = read_pins(out)
    assert (pins["dandiset_id"], pins["version"]) == (SINGLE, archive["single_version"])
    captured = capsys.readouterr()
    assert "1 assets pinned" in captured.out
    assert f"most recent published version, {archive['single_version']}" in captured.err
    assert main(["dandi", "999999", "--version", "0.230101.1200", "-o", str(out),
                 "--api-url", srv.api_url, "--no-progress"]) == 1
    assert "no dandiset 999999" in capsys.readouterr().err
    # a 404 lists the versions, as from Python; a never-published dandiset needs the draft named
    assert main(["dandi", f"https://dandiarchive.org/dandiset/{SINGLE}/0.111111.1111", "-o",
                 str(out), "--api-url", srv.api_url, "--no-progress"]) == 1
    assert f"versions: draft, {archive['single_version']}" in capsys.readouterr().err
    assert main(["dandi", DRAFT_ONLY, "-o", str(out), "--api-url", srv.api_url,
                 "--no-progress"]) == 1
    assert "has no published version (versions: draft)" in capsys.readouterr().err
    # named, the draft is read, with the same warning as from Python, once; an identifier
    # that selects assets (here a dandi:// glob) selects them for the catalog
    with pytest.warns(DraftVersionWarning, match="not reproducible") as record:
        assert main(["dandi", f"dandi://local/{DRAFT_ONLY}/sub-*/*.nwb", "--version", "draft",
                     "-o", str(out), "--api-url", srv.api_url, "--no-progress"]) == 0
    assert len(record) == 1
    pins = read_pins(out)
    assert pins["version"] == "draft" and [a["path"] for a in pins["assets"]] == [ALM_1[1]]


# -- the real archive (opt-in) -------------------------------------------------------------------

def _online(host: str = "api.dandiarchive.org") -> bool:
    try:
        socket.create_connection((host, 443), timeout=3).close()
        return True
    except OSError:
        return False


@pytest.mark.network
def test_live_archive(tmp_path: Path) -> None:
    """DANDI:000006 (Economo et al., ALM), one small published asset, end to end."""
    if not _online():
        pytest.skip("no network: the DANDI archive cannot be reached")
    import intake

    version, asset_id = "0.220126.1855", "f1b6ed8f-1e14-44fa-b4ee-240d0efe3759"
    urls = get_dandi_sources("000006", version, asset_ids=[asset_id])
    assert len(urls) == 1 and "s3.amazonaws.com" in urls[0]
    path = dandi_catalog("000006", version, tmp_path / "dandi_000006.yaml",
                         asset_ids=[asset_id], progress=False)
    block = read_pins(path)
    assert block["assets"][0]["size"] == 258992 and block["assets"][0]["etag"]
    assert verify_pins(yaml.safe_load(path.read_text())["sources"]["units"]["args"]["pins"]) \
        == {}
    units = intake.open_catalog(str(path)).units.read()
    assert isinstance(units, pl.DataFrame) and units.height == 1
    # the same asset by its dandi:// URL (dandi-cli's identifier, no version: the latest
    # published one) reads the same rows, named by the asset's path
    [url] = get_dandi_urls("DANDI:000006", asset_ids=[asset_id])
    assert url.startswith("dandi://dandi/000006@0.") and url.endswith(".nwb")
    [pinned] = get_dandi_urls(f"DANDI:000006/{version}", asset_ids=[asset_id])
    by_path = intake_nwb.get_df(pinned, "/units", refs_dir=tmp_path / "refs")
    assert by_path["_nwb_path"].to_list() == [pinned]
    assert by_path.drop("_nwb_path").equals(
        intake_nwb.get_df(urls, "/units", refs_dir=tmp_path / "refs").drop("_nwb_path"))

"""``dandi://``: the grammar, the fsspec filesystem, and every reader given DANDI URLs.

Against :class:`tests.support.dandi_server.DandiTestServer` (the archive's API on 127.0.0.1 over
moto's S3), filled by ``example_archive`` with real NWB files from ``../shared/data/nwb``. The
URLs name the loopback API by its ``host:port``; ``storage_options={"dandi": {"api_url": ...}}``
says where that API is.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import pytest

import intake_nwb
from intake_nwb.dandi import (
    DandiAPIError,
    DandiAsset,
    DandiFileSystem,
    DandiNotFoundError,
    DandiURLError,
    DraftVersionWarning,
    dandi_session_columns,
    get_dandi_assets,
    get_dandi_sources,
    parse_dandiset,
    select_dandi_assets,
    verify_pins,
)
from intake_nwb.errors import PinMismatchError
from intake_nwb.sources import Source
from intake_nwb.sources.dandiurl import check_path, instance_name, path_labels
from tests.support.dandi_server import (
    ALM_1,
    ALM_2,
    DANDISET,
    DRAFT_ONLY,
    EMBARGOED,
    SINGLE,
    ZARR,
    DandiTestServer,
    example_archive,
)

COUNTED, HOSTILE = "000127", "000128"  # a version only one test lists; a refused path
UUID = "1e37bc82-1f2c-4b3a-9c1d-0a1b2c3d4e5f"
API = "https://api.dandiarchive.org/api"


@pytest.fixture(scope="module")
def archive(s3_server: Any, data_dir: Path, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[dict[str, Any]]:
    scratch = tmp_path_factory.mktemp("dandi-fs")
    with DandiTestServer(s3_server, max_page_size=2) as srv:
        out = example_archive(srv, data_dir, scratch)
        srv.create_dandiset(COUNTED, name="listed once")
        for local, path in (ALM_1, ALM_2):
            srv.add_asset(COUNTED, data_dir / local, path)
        srv.publish(COUNTED, "0.240101.1200")
        srv.create_dandiset(HOSTILE, name="refused")
        (scratch / "x.nwb").write_bytes(b"\x89HDF\r\n\x1a\n")
        srv.add_asset(HOSTILE, scratch / "x.nwb", "sub-1/../../escape.nwb")
        srv.publish(HOSTILE, "0.240101.1200")
        host = instance_name(srv.api_url)
        yield {**out, "host": host, "options": {"dandi": {"api_url": srv.api_url}},
               "fs": DandiFileSystem(api_url=srv.api_url)}


def _url(archive: dict[str, Any], path: str = "", dandiset: str = DANDISET,
         version: str | None = None) -> str:
    version = version or archive["version"]
    return f"dandi://{archive['host']}/{dandiset}@{version}" + (f"/{path}" if path else "")


def _api_log(srv: DandiTestServer) -> list[str]:
    return [r[1] for r in srv.log if r[0] == "api"]


# -- the grammar: dandi-cli's forms, no I/O ------------------------------------------------------

@pytest.mark.parametrize("identifier, expected", [
    ("000006", ("dandi", API, "000006", None, {})),
    ("DANDI:000006/0.220126.1855", ("dandi", API, "000006", "0.220126.1855", {})),
    ("dandi:000006/draft", ("dandi", API, "000006", "draft", {})),
    ("DANDI-SANDBOX:000123", ("dandi-sandbox", "https://api.sandbox.dandiarchive.org/api",
                              "000123", None, {})),
    ("LINC:000001/draft", ("linc", "https://api.lincbrain.org/api", "000001", "draft", {})),
    ("https://dandiarchive.org/dandiset/000006", ("dandi", API, "000006", None, {})),
    ("https://dandiarchive.org/dandiset/000006/0.220126.1855/files?location=sub-anm369962%2F",
     ("dandi", API, "000006", "0.220126.1855", {"path": "sub-anm369962/"})),
    ("https://dandiarchive.org/#/dandiset/000006/draft", ("dandi", API, "000006", "draft", {})),
    (f"{API}/dandisets/000006/", ("dandi", API, "000006", None, {})),
    (f"{API}/dandisets/000006/versions/0.220126.1855/", ("dandi", API, "000006",
                                                          "0.220126.1855", {})),
    (f"{API}/dandisets/000006/versions/draft/assets/{UUID}/download/",
     ("dandi", API, "000006", "draft", {"asset_id": UUID})),
    (f"{API}/dandisets/000006/versions/draft/assets/?path=sub-anm36", ("dandi", API, "000006",
                                                                       "draft",
                                                                       {"prefix": "sub-anm36"})),
    (f"{API}/dandisets/000006/versions/draft/assets/?glob=*ses-2017*",
     ("dandi", API, "000006", "draft", {"api_glob": "*ses-2017*"})),
    ("https://identifiers.org/DANDI:000006/0.220126.1855", ("dandi", API, "000006",
                                                            "0.220126.1855", {})),
    ("https://doi.org/10.48324/dandi.000006/0.220126.1855", ("dandi", API, "000006",
                                                             "0.220126.1855", {})),
    ("dandi://dandi/000006@0.220126.1855/sub-anm369962/*.nwb",
     ("dandi", API, "000006", "0.220126.1855", {"path": "sub-anm369962/*.nwb"})),
    ("dandi://ember/000006/sub-1/a%20b%5B1%5D.nwb",  # dandifs's name; percent-decoded
     ("ember-dandi", "https://api-dandi.emberarchive.org/api", "000006", None,
      {"path": "sub-1/a b[1].nwb"})),
    ("dandi://127.0.0.1:8000/000006@draft", ("127.0.0.1:8000", "https://127.0.0.1:8000/api",
                                             "000006", "draft", {})),
])
def test_identifiers_parse_as_dandi_cli_reads_them(identifier: str, expected: tuple[Any, ...]
                                                   ) -> None:
    ref = parse_dandiset(identifier)
    instance, api, dandiset, version, selection = expected
    assert (ref.instance, ref.api_url, ref.dandiset_id, ref.version) == (instance, api,
                                                                         dandiset, version)
    got = {k: getattr(ref, k) for k in ("path", "prefix", "api_glob", "asset_id")
           if getattr(ref, k)}
    assert got == selection
    # the API to ask can be named, whatever the identifier's server
    other = parse_dandiset(identifier, api_url="http://127.0.0.1:9/api")
    assert (other.api_url, other.instance, other.version) == ("http://127.0.0.1:9/api",
                                                              "127.0.0.1:9", version)


@pytest.mark.parametrize("identifier, message", [
    ("DANDI:6", "not a DANDI identifier"),
    ("NOPE:000006", "unknown DANDI instance 'NOPE'"),
    ("dandi://nope/000006", "unknown DANDI instance 'nope'"),
    ("https://example.org/dandiset/000006", "web server this package does not know"),
    (f"{API}/assets/{UUID}/", "names an asset but not its dandiset version"),
    ("dandi://dandi/000006@0.220126.1855/sub-1/../../etc/passwd", "not a DANDI asset path"),
    ("dandi://dandi/000006@0.220126.1855/sub-1\\x.nwb", "not a DANDI asset path"),
])
def test_identifiers_that_are_refused(identifier: str, message: str) -> None:
    with pytest.raises(DandiURLError, match=message):
        parse_dandiset(identifier)


def test_names_round_trip_and_labels() -> None:
    fs = DandiFileSystem()
    name = "dandi/000006@draft/sub-1/sub-1_ses-[a] #1.nwb"
    url = fs.unstrip_protocol(name)
    assert url == "dandi://dandi/000006@draft/sub-1/sub-1_ses-%5Ba%5D %231.nwb"
    assert fs._strip_protocol(url) == name and "[" not in url  # not a glob when expanded
    for bad in ("/abs.nwb", "a//b.nwb", "a/./b.nwb", "a\x00b.nwb"):
        with pytest.raises(DandiURLError):
            check_path(bad, "test")
    assert path_labels("sub-anm00239123/sub-anm00239123_ses-20170627T093549_ecephys+ogen.nwb") \
        == {"subject": "anm00239123", "session": "20170627T093549"}
    assert path_labels("derivatives/notes.json") == {"subject": None, "session": None}


def test_hostile_api_answers_are_refused(archive: dict[str, Any]) -> None:
    srv = archive["server"]
    with pytest.raises(DandiAPIError, match=r"not a DANDI asset path: 'sub-1/\.\./\.\./escape"):
        get_dandi_assets(HOSTILE, api_url=srv.api_url)
    with pytest.raises(DandiAPIError, match="not a DANDI asset path"):
        archive["fs"].ls(_url(archive, dandiset=HOSTILE, version="0.240101.1200"))
    record = srv.find_asset(SINGLE, archive["single_version"], ALM_1[1])
    download, s3 = record["metadata"]["contentUrl"]
    evil = {**record, "metadata": {**record["metadata"], "contentUrl": [
        download, s3.replace("127.0.0.1", "evil.example.org")]}}
    with pytest.raises(DandiAPIError, match="S3 URL http://evil.example.org.* unexpected host"):
        DandiAsset.from_api(evil, api_url=srv.api_url)
    assert DandiAsset.from_api(evil, api_url=srv.api_url, content_hosts=["evil.example.org"])
    moved = {**record, "metadata": {**record["metadata"], "contentUrl": [
        download.replace("127.0.0.1", "localhost"), s3]}}
    with pytest.raises(DandiAPIError, match="download URL .* not on the API's origin"):
        DandiAsset.from_api(moved, api_url=srv.api_url)


# -- the filesystem ------------------------------------------------------------------------------

def test_one_listing_per_version_and_fsspec_glob_semantics(archive: dict[str, Any]) -> None:
    srv = archive["server"]
    fs = DandiFileSystem(api_url=srv.api_url)
    base = f"{archive['host']}/{COUNTED}"
    pinned = f"{base}@0.240101.1200"
    files = [f"{pinned}/{ALM_1[1]}", f"{pinned}/{ALM_2[1]}"]
    srv.reset_log()
    # no version: the published one, named in every result
    assert fs.glob(f"dandi://{base}/*/*.nwb") == files
    assert fs.glob(f"dandi://{base}/**/*.nwb") == files
    assert fs.glob(f"dandi://{base}/*.nwb") == []  # * stays within a folder
    assert fs.glob(f"dandi://{base}/SUB-*/*.nwb") == []  # case-sensitive
    assert fs.glob(f"dandi://{base}/sub-anm36996?/*") == [files[0]]
    assert fs.ls(f"dandi://{base}", detail=False) == [f"{pinned}/sub-anm369963",
                                                      f"{pinned}/sub-anm372793"]
    assert fs.find(f"dandi://{pinned}") == files
    assert fs.info(f"dandi://{pinned}/sub-anm369963")["type"] == "directory"
    assert fs.info(files[0])["type"] == "file"
    assert not fs.exists(f"dandi://{pinned}/sub-anm369963/nothing.nwb")
    # the most recent version (1 request) and one listing (1 page), then nothing
    assert _api_log(srv) == [f"GET /api/dandisets/{COUNTED}/",
                             f"GET /api/dandisets/{COUNTED}/versions/0.240101.1200/assets/"
                             "?metadata=true&order=path&page_size=1000"]
    srv.reset_log()
    assert fs.cat_file(files[0], 0, 8) == b"\x89HDF\r\n\x1a\n"
    assert _api_log(srv) == [] and len(srv.log) == 1  # one ranged GET on S3


def test_info_and_bytes_are_the_assets(archive: dict[str, Any]) -> None:
    srv, fs = archive["server"], archive["fs"]
    record = srv.find_asset(DANDISET, archive["version"], ALM_1[1])
    info = fs.info(_url(archive, ALM_1[1]))
    assert info["name"] == _url(archive, ALM_1[1]).removeprefix("dandi://")
    meta = record["metadata"]
    assert (info["size"], info["asset_id"], info["blob_id"], info["ETag"], info["sha256"]) == (
        record["size"], record["asset_id"], record["blob"], meta["digest"]["dandi:dandi-etag"],
        meta["digest"]["dandi:sha2-256"])
    assert [info["download_url"], info["s3_url"]] == meta["contentUrl"]
    data = (archive["data_dir"] / ALM_1[0]).read_bytes()
    url = _url(archive, ALM_1[1])
    assert fs.cat_file(url, 1000, 1100) == data[1000:1100]
    assert fs.cat_ranges([url, url], [0, 4096], [8, 5000]) == [data[:8], data[4096:5000]]
    with fs.open(url) as f:
        f.seek(200_000)
        assert f.read(5000) == data[200_000:205_000]
    with pytest.raises(IsADirectoryError):
        fs.cat_file(_url(archive, "sub-anm369963"))


def test_s3_refusal_falls_back_to_the_download_url(archive: dict[str, Any]) -> None:
    srv, fs = archive["server"], archive["fs"]
    url = _url(archive, ALM_1[1], dandiset=SINGLE, version=archive["single_version"])
    asset_id = fs.info(url)["asset_id"]
    data = (archive["data_dir"] / ALM_1[0]).read_bytes()
    srv.forbid_s3([asset_id])
    try:
        srv.reset_log()
        assert fs.cat_file(url, 100, 200) == data[100:200]
        assert [r[2] for r in srv.log if r[0] == "s3"] == [403]  # then the API's redirect
        assert _api_log(srv) == [f"GET /api/assets/{asset_id}/download/"]
        srv.reset_log()
        assert fs.cat_file(url, 300, 400) == data[300:400]  # straight to the download URL
        assert [r[0] for r in srv.log] == ["api"]
    finally:
        srv.forbid_s3(forbid=False)


def test_embargoed_assets_need_the_api_key(archive: dict[str, Any],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    srv = archive["server"]
    monkeypatch.delenv("DANDI_API_KEY", raising=False)
    url = _url(archive, ALM_2[1], dandiset=EMBARGOED, version="0.230303.1000")
    with pytest.raises(DandiAPIError, match="set DANDI_API_KEY"):
        DandiFileSystem(api_url=srv.api_url).info(url)
    fs = DandiFileSystem(api_url=srv.api_url, token=srv.api_key)
    srv.forbid_s3([fs.info(url)["asset_id"]])  # as S3 refuses embargoed objects
    try:
        data = (archive["data_dir"] / ALM_2[0]).read_bytes()
        assert fs.cat_file(url, 0, 100) == data[:100]  # the key went to the download URL
    finally:
        srv.forbid_s3(forbid=False)


def test_zarr_asset_is_a_directory_of_keys(archive: dict[str, Any]) -> None:
    fs = archive["fs"]
    root = _url(archive, ZARR[1])
    local = archive["data_dir"] / ZARR[0]
    info = fs.info(root)
    assert info["type"] == "directory" and info["zarr_id"] and info["zarr_checksum"]
    names = fs.ls(root, detail=False)
    assert f"{root.removeprefix('dandi://')}/.zmetadata" in names
    assert fs.cat_file(f"{root}/.zattrs") == (local / ".zattrs").read_bytes()
    assert fs.info(f"{root}/.zmetadata")["size"] == (local / ".zmetadata").stat().st_size
    keys = fs.find(f"{root}/acquisition")
    assert len(keys) == len([p for p in (local / "acquisition").rglob("*") if p.is_file()])
    assert len(fs.find(root)) == len([p for p in local.rglob("*") if p.is_file()])
    assert fs.glob(f"{root}/.z*") == [f"{root.removeprefix('dandi://')}/.z{n}"
                                      for n in ("attrs", "group", "metadata")]
    # a Zarr asset is one asset to find and glob, from above
    assert fs.find(_url(archive, "sub-zarr")) == [root.removeprefix("dandi://")]


def test_sources_name_the_version_they_read(archive: dict[str, Any]) -> None:
    srv, options = archive["server"], archive["options"]
    bare = f"dandi://{archive['host']}/{DANDISET}/{ALM_1[1]}"
    assert Source.from_url(bare, options).url == _url(archive, ALM_1[1])
    assert Source.from_url("dandi://ember/000001@0.240101.1200/x.nwb").url == \
        "dandi://ember-dandi/000001@0.240101.1200/x.nwb"  # no request: the version is named
    with pytest.raises(DandiNotFoundError, match=r"no published version \(versions: draft\)"):
        Source.from_url(f"dandi://{archive['host']}/{DRAFT_ONLY}/{ALM_1[1]}", options)
    with pytest.warns(DraftVersionWarning, match="not reproducible"):
        draft = Source.from_url(_url(archive, ALM_1[1], DRAFT_ONLY, "draft"), options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DraftVersionWarning)
        assert draft.info()["size"] == srv.find_asset(DRAFT_ONLY, "draft", ALM_1[1])["size"]
    with pytest.raises(DandiNotFoundError, match=r"no version '0\.111111\.1111'"):
        intake_nwb.get_df(_url(archive, "*/*.nwb", version="0.111111.1111"), "/units",
                          storage_options=options)


# -- readers ---------------------------------------------------------------------------------------

def test_readers_take_dandi_urls_and_read_what_blob_urls_read(archive: dict[str, Any],
                                                             tmp_path: Path) -> None:
    srv, options, version = archive["server"], archive["options"], archive["version"]
    pattern = f"dandi://{archive['host']}/{DANDISET}/sub-anm3*/*.nwb"  # the published version
    expected = [_url(archive, ALM_1[1]), _url(archive, ALM_2[1])]
    refs = intake_nwb.index(pattern, storage_options=options, refs_dir=tmp_path)
    assert list(refs) == expected
    assert [Path(r).name.split(".nwb.")[0] for r in refs.values()] == [
        Path(p).stem for p in (ALM_1[1], ALM_2[1])]  # reference files named by asset path
    blobs = get_dandi_sources(DANDISET, version, glob="sub-anm3*", api_url=srv.api_url)
    for table in ("/units", "/intervals/trials"):
        by_path = intake_nwb.get_df(pattern, table, storage_options=options, refs_dir=tmp_path)
        by_blob = intake_nwb.get_df(blobs, table, refs_dir=tmp_path)
        assert by_path["_nwb_path"].unique(maintain_order=True).to_list() == expected
        assert by_path.drop("_nwb_path").equals(by_blob.drop("_nwb_path"))
    lazy = intake_nwb.scan_nwb(pattern, "/units", storage_options=options, refs_dir=tmp_path)
    assert lazy.select("_nwb_path").collect()["_nwb_path"].to_list() == expected
    # metadata of HDF5 and Zarr assets; the Zarr one read through dandi:// too
    zarr_opts = get_dandi_assets(DANDISET, version, glob="sub-zarr*",
                                 api_url=srv.api_url)[0].storage_options
    meta = intake_nwb.get_metadata_df(f"dandi://{archive['host']}/{DANDISET}/*/*.nwb*",
                                      storage_options=options, refs_dir=tmp_path)
    blob_meta = intake_nwb.get_metadata_df(
        get_dandi_sources(DANDISET, version, api_url=srv.api_url),
        storage_options={"s3": zarr_opts}, refs_dir=tmp_path)
    assert meta["_nwb_path"].to_list() == [*expected, _url(archive, ZARR[1])]
    assert meta.drop("_nwb_path").equals(blob_meta.drop("_nwb_path"))
    series = intake_nwb.get_timeseries(_url(archive, ZARR[1]), "/acquisition/test_timeseries",
                                       storage_options=options)
    local = intake_nwb.get_timeseries(str(archive["data_dir"] / ZARR[0]),
                                      "/acquisition/test_timeseries")
    assert (series.values == local.values).all() and series.shape == (10,)
    nwb = intake_nwb.open_nwb(expected[0], storage_options=options, refs_dir=tmp_path)
    here = intake_nwb.open_nwb(str(archive["data_dir"] / ALM_1[0]), refs_dir=tmp_path)
    assert nwb.source == expected[0]
    assert (nwb.tables, nwb.metadata) == (here.tables, here.metadata)
    assert intake_nwb.get_internal_paths(expected[0], storage_options=options,
                                         refs_dir=tmp_path) == intake_nwb.get_internal_paths(
        str(archive["data_dir"] / ALM_1[0]), refs_dir=tmp_path)


def test_catalog_of_dandi_urls_names_assets(archive: dict[str, Any], tmp_path: Path) -> None:
    import intake

    srv, version = archive["server"], archive["version"]
    # not keyed by protocol: the store applies keyed options to the sources it expands, not
    # yet to the URLs reference files record
    options = {"api_url": srv.api_url}
    urls = select_dandi_assets(DANDISET, api_url=srv.api_url).urls
    path = intake_nwb.build_catalog(urls, tmp_path / "cat.yaml", storage_options=options,
                                    progress=False)
    cat = intake.open_catalog(str(path))
    sessions = cat.sessions.read()
    assert sorted(sessions["_nwb_path"].to_list()) == sorted(urls)
    assert set(cat.units.read()["_nwb_path"]) == {_url(archive, ALM_1[1]),
                                                  _url(archive, ALM_2[1])}
    refs = sorted(p.name.split(".nwb.")[0] for p in (tmp_path / "refs").iterdir())
    assert refs == sorted(Path(p).stem for p in (ALM_1[1], ALM_2[1]))
    # what the lead joins onto the sessions table
    columns = dandi_session_columns(sessions["_nwb_path"].to_list(), storage_options=options)
    assert columns.columns == ["_nwb_path", "dandi_asset_id", "dandi_path", "dandi_subject",
                               "dandi_session"]
    for row in columns.iter_rows(named=True):
        record = srv.find_asset(DANDISET, version, row["dandi_path"])
        assert row["_nwb_path"] == _url(archive, record["path"])
        assert row["dandi_asset_id"] == record["asset_id"]
    by_path = {r["dandi_path"]: (r["dandi_subject"], r["dandi_session"])
               for r in columns.iter_rows(named=True)}
    assert by_path[ALM_1[1]] == ("anm369963", "20170228") and by_path[ZARR[1]] == ("zarr", "1")
    assert dandi_session_columns(["/local/ses.nwb"]).row(0) == ("/local/ses.nwb", None, None,
                                                                None, None)
    joined = sessions.join(columns, on="_nwb_path", how="left")
    assert joined["dandi_asset_id"].null_count() == 0


def test_verify_pins_takes_dandi_urls(archive: dict[str, Any]) -> None:
    srv = archive["server"]
    selection = select_dandi_assets(f"DANDI:{SINGLE}", api_url=srv.api_url)
    pins = selection.pins()
    [url] = selection.urls
    assert list(pins) == [url] and pins[url]["url"] == url
    assert pins[url]["dandiset"] == f"{SINGLE}/{archive['single_version']}"
    srv.reset_log()
    assert verify_pins(pins, [url]) == {}
    assert [r[1].split(" ")[0] for r in srv.log] == ["HEAD"]  # one HEAD, no API call
    srv.forbid_s3([pins[url]["asset_id"]])
    try:  # checked through the download URL; dandi:// reads fall back by themselves
        assert verify_pins(pins, [url]) == {}
    finally:
        srv.forbid_s3(forbid=False)
    tampered = {url: {**pins[url], "etag": "0" * 32 + "-1"}}
    with pytest.raises(PinMismatchError, match=rf"{ALM_1[1]} \(asset {pins[url]['asset_id']}"):
        verify_pins(tampered, [url])
    # a Zarr asset's pin: the identity of its root metadata, read through dandi:// too
    options = archive["options"]
    zarr = select_dandi_assets(f"DANDI:{DANDISET}", glob="sub-zarr*", api_url=srv.api_url)
    [zurl] = zarr.urls
    zpins = {zurl: {**zarr.pins()[zurl],
                    "root_identity": Source.from_url(zurl, options).identity()}}
    assert zpins[zurl]["root_identity"]["etag"]
    assert verify_pins(zpins, [zurl], storage_options=options) == {}
    moved = {zurl: {**zpins[zurl], "root_identity": {**zpins[zurl]["root_identity"],
                                                     "etag": "0" * 32}}}
    with pytest.raises(PinMismatchError, match="root metadata"):
        verify_pins(moved, [zurl], storage_options=options)


def test_fsspec_knows_the_protocol() -> None:
    assert fsspec.get_filesystem_class("dandi") is DandiFileSystem

"""DANDI: resolve a dandiset version's NWB assets through the REST API; pinned catalogs.

A *pinned* catalog records, beside the usual entries (tables across assets, TimeSeries,
sessions, one nested catalog per asset), what the archive said each asset was when the catalog
was built: asset id, path, size, ``dandi:dandi-etag`` (the S3 ETag), ``dandi:sha2-256`` when
known, and both content URLs (the S3 object and the API's ``/assets/{id}/download/``). Opening
a catalog entry calls :func:`verify_pins` first: one request per asset it reads compares the
bytes' size and ETag now with the pin, raises :class:`~intake_nwb.errors.PinMismatchError`
when they differ, and answers with the URL to read, falling back from an S3 URL that answers
403 to the download URL.

Published versions (``0.YYMMDD.HHMM``) are immutable, so their catalogs are reproducible.
Without a version, the most recent published one is used; ``version="draft"`` is accepted
only when asked for by name, with a :class:`DraftVersionWarning`. Dandisets are named as
dandi-cli names them (``000006``, ``DANDI:000006/0.220126.1855``, archive URLs, ``dandi://``
URLs); ``dandi://`` URLs read assets through fsspec (:mod:`intake_nwb.sources.dandi`).

Examples
--------
>>> import intake, intake_nwb
>>> # needs the DANDI archive (internet)
>>> intake_nwb.dandi_catalog("000006", "0.220126.1855", "dandi_000006.yaml",
...                          max_assets=2)  # doctest: +SKIP
PosixPath('dandi_000006.yaml')
>>> intake.open_catalog("dandi_000006.yaml").units.read()  # doctest: +SKIP
>>> intake_nwb.get_dandi_sources("000006", "0.220126.1855")[:1]  # doctest: +SKIP
['https://dandiarchive.s3.amazonaws.com/blobs/...']
>>> intake_nwb.get_df("dandi://dandi/000006@0.220126.1855/sub-anm369962/*.nwb", "/units")
... # doctest: +SKIP
"""

from ..errors import DandiAPIError, DandiNotFoundError, DraftVersionWarning
from ..sources.dandi import DandiFileSystem
from ..sources.dandiasset import DandiAsset
from ..sources.dandiurl import DandiRef, DandiURLError, parse_dandiset
from .catalog import dandi_catalog
from .client import DANDI_API_URL, DandiClient
from .columns import dandi_session_columns
from .pins import read_pins, verified_relocate, verify_pins
from .select import (
    DandiSelection,
    get_dandi_assets,
    get_dandi_sources,
    get_dandi_urls,
    resolve_dandiset,
    select_dandi_assets,
)

__all__ = [
    "DANDI_API_URL",
    "DandiAPIError",
    "DandiAsset",
    "DandiClient",
    "DandiFileSystem",
    "DandiNotFoundError",
    "DandiRef",
    "DandiSelection",
    "DandiURLError",
    "DraftVersionWarning",
    "dandi_catalog",
    "dandi_session_columns",
    "get_dandi_assets",
    "get_dandi_sources",
    "get_dandi_urls",
    "parse_dandiset",
    "read_pins",
    "resolve_dandiset",
    "select_dandi_assets",
    "verified_relocate",
    "verify_pins",
]

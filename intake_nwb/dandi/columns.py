"""What a ``dandi://`` source is on the archive, as columns to join onto a table by
``_nwb_path``: asset id, asset path, and the subject and session its path names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from ..errors import DandiNotFoundError
from ..sources import Source
from ..sources.dandi import DandiFileSystem

COLUMNS = {"_nwb_path": pl.String, "dandi_asset_id": pl.String, "dandi_path": pl.String,
           "dandi_subject": pl.String, "dandi_session": pl.String}


def dandi_session_columns(urls: Sequence[str], *,
                          storage_options: Mapping[str, Any] | None = None) -> pl.DataFrame:
    """One row per URL: ``_nwb_path`` (the URL as sources name it: version pinned),
    ``dandi_asset_id``, ``dandi_path`` (the asset's path in the dandiset), ``dandi_subject``
    and ``dandi_session`` (the ``sub-``/``ses-`` labels of that path, null where it has none).

    URLs that are not ``dandi://`` get nulls. Each dandiset version's listing is read once
    (and kept, see :mod:`intake_nwb.sources.dandiapi`).

    Raises
    ------
    DandiNotFoundError
        A ``dandi://`` URL that names no asset (a folder, a key inside a Zarr asset).

    Examples
    --------
    >>> # needs the DANDI archive (internet)
    >>> dandi_session_columns(["dandi://dandi/000006@0.220126.1855/sub-anm369962/"
    ...                        "sub-anm369962_ses-20170316.nwb"]).row(0)  # doctest: +SKIP
    ('dandi://dandi/000006@0.220126.1855/sub-anm369962/sub-anm369962_ses-20170316.nwb',
     'f1b6ed8f-...', 'sub-anm369962/sub-anm369962_ses-20170316.nwb', 'anm369962', '20170316')
    """
    rows = []
    for url in urls:
        src = Source.from_url(url, storage_options)
        if src.protocol != "dandi":
            rows.append({"_nwb_path": src.url})
            continue
        fs = DandiFileSystem(**src.storage_options)
        ref = fs._ref(src.url)
        assert ref.version is not None
        asset = fs._client(ref).listing(ref.dandiset_id, ref.version).get(ref.path)
        if asset is None:
            raise DandiNotFoundError(f"no asset at {ref.path!r} in dandiset "
                                     f"{ref.dandiset_id} version {ref.version}", source=src.url)
        labels = asset.labels
        rows.append({"_nwb_path": src.url, "dandi_asset_id": asset.asset_id,
                     "dandi_path": asset.path, "dandi_subject": labels["subject"],
                     "dandi_session": labels["session"]})
    return pl.DataFrame(rows, schema=COLUMNS)

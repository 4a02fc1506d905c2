"""kerchunk's parquet reference layout, read so that it cannot lie: fsspec's
``LazyReferenceMapper`` with every record file checked as it is loaded.

fsspec reads a record file that is missing or unreadable as "no such chunk", which zarr turns
into fill values. Here a record the set lists (``records`` in its ``.zmetadata``) must be there
and parse, or :class:`CorruptReferenceError` is raised; each record's references are confined to
the source (:mod:`.validate`, vectorised over the record's 100,000 rows) and its paths rewritten
to the URL the source is read from (relocation).
"""

from __future__ import annotations

import io
import json
from functools import lru_cache
from typing import Any

import fsspec
import numpy as np
import pandas as pd
from fsspec.implementations.reference import LazyReferenceMapper

from ..errors import CorruptReferenceError
from .validate import URL_TEMPLATE_REF, Confinement, array_limits, check_fill, check_ranges

META_KEY = "intake_nwb"


class CheckedReferenceMapper(LazyReferenceMapper):
    """A read-only parquet reference set confined to ``conf``, read from ``read_url``."""

    def __init__(self, root: str, conf: Confinement, read_url: str):
        super().__init__(root, fs=fsspec.filesystem("file"), engine="pyarrow")
        self._conf = conf
        self._read_url = read_url

    def setup(self) -> None:
        try:
            super().setup()
            meta = json.loads(self._items[".zmetadata"])
        except (OSError, ValueError) as exc:
            raise CorruptReferenceError(f"unreadable .zmetadata ({exc})",
                                        source=self.root) from exc
        records = meta.get(META_KEY, {}).get("records")
        self._records = None if records is None else {f: set(r) for f, r in records.items()}
        self._limits = {}
        for key, zarray in self.zmetadata.items():
            if key.endswith("/.zarray"):
                field = key[: -len("/.zarray")]
                lim = array_limits(field, zarray, self.root)
                self._limits[field] = lim
                if self._records is not None:
                    check_fill(lim, len(self._records.get(field, ())) * self.record_size,
                               self.root)
        self.open_refs = lru_cache(maxsize=self.cache_size)(self._open_checked)

    def _open_checked(self, field: str, record: int) -> dict[str, np.ndarray]:
        path = self.url.format(field=field, record=record)
        listed = self._records is not None and record in self._records.get(field, ())
        try:
            data = self.fs.cat_file(path)
        except FileNotFoundError:
            if listed:
                raise CorruptReferenceError(
                    f"record file refs.{record}.parq is listed but missing (the set was "
                    "replaced or damaged; open it again)", source=self.root, path=field
                ) from None
            raise  # never written: these chunks do not exist (zarr's fill value, as in HDF5)
        try:
            df = pd.read_parquet(io.BytesIO(data), engine=self.engine)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises many kinds for bad bytes
            raise CorruptReferenceError(f"unreadable record file refs.{record}.parq ({exc})",
                                        source=self.root, path=field) from exc
        refs = {c: df[c].to_numpy(copy=True) for c in df.columns}
        self._check(field, record, refs)
        return refs

    def _check(self, field: str, record: int, refs: dict[str, np.ndarray]) -> None:
        n = len(next(iter(refs.values()))) if refs else 0
        raw = refs.get("raw", np.full(n, None, dtype=object))
        paths = refs.get("path", np.full(n, None, dtype=object))
        inline = pd.notna(raw)
        referenced = pd.notna(paths) & ~inline
        first = record * self.record_size

        def key(i: int) -> str:
            sizes = self._get_chunk_sizes(field)
            return f"{field}/" + ".".join(map(str, np.unravel_index(first + i, sizes)))

        where = np.flatnonzero(referenced)
        urls = paths[where].astype(str)
        foreign = ~np.isin(urls, [URL_TEMPLATE_REF, self._conf.source])
        if foreign.any():
            i = int(where[np.argmax(foreign)])
            raise self._conf.refuse(key(i), f"points at {paths[i]!r}, not at its source")
        offsets = np.asarray(refs.get("offset", np.zeros(n)), dtype=np.int64)[where]
        lengths = np.asarray(refs.get("size", np.zeros(n)), dtype=np.int64)[where]
        check_ranges(_Keys(key, where), offsets, lengths, self._conf)
        lim = self._limits.get(field)
        if lim is not None and lim.raw:
            wrong = np.flatnonzero(lengths != lim.chunk_lengths(first + where))
            if len(wrong):
                i = int(where[wrong[0]])
                raise self._conf.refuse(key(i), f"holds {lengths[wrong[0]]} bytes for an "
                                                f"uncompressed chunk of {lim.chunk_bytes}"
                                                + (f" (last: {lim.tail})" if lim.tail else ""))
            sizes = np.array([len(raw[i]) for i in np.flatnonzero(inline)], dtype=np.int64)
            if (sizes != lim.chunk_bytes).any():
                i = int(np.flatnonzero(inline)[np.argmax(sizes != lim.chunk_bytes)])
                raise self._conf.refuse(key(i), f"inlines {len(raw[i])} bytes for an "
                                                f"uncompressed chunk of {lim.chunk_bytes}")
        out = np.full(n, None, dtype=object)
        out[where] = self._read_url
        refs["path"] = out


class _Keys:
    """Chunk keys of a record's rows, made only for the row an error names."""

    def __init__(self, key: Any, where: np.ndarray):
        self._key, self._where = key, where

    def __getitem__(self, i: int) -> str:
        return self._key(int(self._where[i]))

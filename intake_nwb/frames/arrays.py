"""Arrays of an NWB file as xarray backend arrays: lazy, picklable, read on indexing.

An :class:`NWBBackendArray` is xarray's :class:`~xarray.backends.BackendArray` over one zarr
array of an NWB store. It holds a :class:`~xarray.backends.CachingFileManager` (see
:mod:`intake_nwb.store.workers`), so it pickles to dask workers and each process reopens the
store on first use. Indexing reads only what the key selects:

- local uncompressed data through a memory map of the byte ranges the references name
  (:mod:`intake_nwb.store.mmap`);
- rows of other raw arrays byte-exactly (:func:`intake_nwb.store.read_spans`);
- anything else through zarr (the chunks the key overlaps).

NWB's ``data * conversion (* channel_conversion) + offset`` is applied on the values read when
the array is built with a :class:`Scaling` (``channel_conversion`` is read with the first
values, not when the array is made).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from xarray.backends import BackendArray
from xarray.core import indexing

from .. import conventions as cv
from ..errors import IntakeNWBError
from ..store import is_raw, read_spans
from ..store.workers import OpenStore, StoreSpec, manager_for


@dataclass(frozen=True)
class Scaling:
    """``values * conversion (* channel_conversion along axis) + offset`` (NWB's definition)."""

    conversion: float = 1.0
    offset: float = 0.0
    channel_conversion: str | None = None  # path of the per-channel factors
    axis: int = 1

    @property
    def is_identity(self) -> bool:
        return self.conversion == 1.0 and self.offset == 0.0 and self.channel_conversion is None


class NWBBackendArray(BackendArray):
    """One array of an NWB file (``path``: where the values really live, links followed).

    Examples
    --------
    >>> from intake_nwb.store import open_store
    >>> spec = StoreSpec.of(open_store("session.nwb"))
    >>> arr = NWBBackendArray(spec, "/acquisition/lfp/data", (300_000, 4), np.dtype("int16"))
    >>> arr[indexing.BasicIndexer((slice(1000, 1003), slice(0, 4)))]  # reads 3 rows
    array([[ -80,  -92,  -62,  -42],
           [ -96,  -62,  -36,  -53],
           [-127,  -66,  -58,  -75]], dtype=int16)
    """

    __slots__ = ("_factors", "_lock", "decode", "dtype", "manager", "path", "scaling", "shape",
                 "spec")

    def __init__(self, spec: StoreSpec, path: str, shape: tuple[int, ...], dtype: np.dtype,
                 scaling: Scaling | None = None, decode: str | None = None):
        self.spec = spec
        self.manager = manager_for(spec)  # what is pickled: each process opens the store once
        self.path = path
        self.shape = tuple(int(s) for s in shape)
        self.scaling = scaling
        self.decode = decode  # "references": object references as the paths they point to
        dtype = np.dtype(dtype)
        if dtype.kind == "T" or decode is not None:
            dtype = np.dtype(object)  # strings as Python str, as h5py and pynwb give them
        # integers become float64 when scaled; floats keep their precision (as in pynwb)
        self.dtype = np.dtype(np.float64) if scaling is not None and dtype.kind != "f" else dtype
        self._factors: np.ndarray | None = None
        self._lock = threading.Lock()

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.OUTER,
                                                  self._getitem)

    def _getitem(self, key: tuple[Any, ...]) -> np.ndarray:
        handle = self.manager.acquire()
        values = read(handle, self.path, key)
        if self.decode == "references":
            out = np.empty(values.shape, dtype=object)
            out.ravel()[:] = [_ref(v) for v in values.ravel()]
            return out
        if values.dtype.kind == "T":
            return values.astype(object)
        return values if self.scaling is None else self._scale(handle, values, key)

    def _scale(self, handle: OpenStore, values: np.ndarray, key: tuple[Any, ...]) -> np.ndarray:
        s = self.scaling
        assert s is not None
        out = values.astype(self.dtype)
        factor: Any = s.conversion
        if s.channel_conversion is not None and 0 < s.axis < len(self.shape):
            with self._lock:
                if self._factors is None:
                    self._factors = np.asarray(handle.array(s.channel_conversion)[...],
                                               dtype=np.float64).ravel()
            sel = self._factors[key[s.axis]] if s.axis < len(key) else self._factors
            # the axis is still there unless an integer selected one channel
            kept = sum(1 for k in key[:s.axis] if not _is_int(k))
            if np.ndim(sel):
                shape = [1] * out.ndim
                shape[kept] = len(sel)
                factor = (factor * sel.reshape(shape)).astype(self.dtype)
            else:
                factor = factor * float(sel)
        out = out * factor
        return out + s.offset if s.offset else out

    def __dask_tokenize__(self) -> object:
        return (type(self).__name__, self.spec, self.path, self.shape, str(self.dtype),
                self.scaling, self.decode)

    def __getstate__(self) -> tuple[Any, ...]:
        return (self.spec, self.manager, self.path, self.shape, self.dtype, self.scaling,
                self.decode)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        (self.spec, self.manager, self.path, self.shape, self.dtype, self.scaling,
         self.decode) = state
        self._factors = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"NWBBackendArray({self.path!r}, shape={self.shape}, dtype={self.dtype})"


class TakenArray(BackendArray):
    """``values[rows[key]]``: a table column's value for each row a region lists (the
    ``location`` of each channel's electrode), reading the region, then those rows only."""

    __slots__ = ("dtype", "rows", "shape", "values")

    def __init__(self, rows: NWBBackendArray, values: NWBBackendArray):
        self.rows, self.values = rows, values
        self.shape = rows.shape
        self.dtype = values.dtype

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.OUTER,
                                                  self._getitem)

    def _getitem(self, key: tuple[Any, ...]) -> np.ndarray:
        rows = np.asarray(self.rows[indexing.OuterIndexer(key)], dtype=np.int64)
        n = self.values.shape[0]
        if np.any((rows < 0) | (rows >= n)):
            raise IntakeNWBError(f"lists rows outside {self.values.path} ({n} rows)",
                                 source=self.rows.spec.source, path=self.rows.path)
        unique, inverse = np.unique(rows, return_inverse=True)
        taken = np.asarray(self.values[indexing.OuterIndexer((unique,))])
        return taken[inverse.ravel()].reshape(rows.shape)

    def __dask_tokenize__(self) -> object:
        return (type(self).__name__, self.rows.__dask_tokenize__(),
                self.values.__dask_tokenize__())


def read(handle: OpenStore, path: str, key: tuple[Any, ...]) -> np.ndarray:
    """``array[key]`` (an outer-indexing key: integers, slices, integer arrays) of the array at
    ``path``, read as little as possible (see the module documentation)."""
    mapped = handle.mapped(path)
    if mapped is not None:
        return mapped[key] if key else np.array(mapped[...])
    arr = handle.array(path)
    if not arr.ndim:
        return np.asarray(arr[...])
    if any(isinstance(k, np.ndarray) for k in key):
        return np.asarray(arr.oindex[key])
    first = key[0] if key else slice(None)
    if isinstance(first, slice) and first.step in (None, 1) and is_raw(arr):
        # whole rows of raw chunks: fetch exactly the rows' bytes
        a, b, _ = first.indices(arr.shape[0])
        rows = read_spans(arr, np.array([a]), np.array([max(a, b)]))
        return rows[(slice(None), *key[1:])]
    return np.asarray(arr[key])


def _ref(value: Any) -> Any:
    """A reference as the path it points to; compound values field by field."""
    if isinstance(value, (list, tuple)):
        return tuple(_ref(v) for v in value)
    return cv.ref_target(value) if cv.is_ref(value) else value


def _is_int(k: Any) -> bool:
    return isinstance(k, (int, np.integer))

"""The NWB Zarr conventions (hdmf-zarr's) that both the reference writer and the readers follow.

A virtual store made from an HDF5 file *is* an NWB Zarr file:

- scalar datasets are 1-element arrays with ``zarr_dtype: "scalar"``;
- object references are dicts ``{"source": ".", "path": "/...", "object_id": ..., ...}`` stored
  in ``|O`` arrays with the ``json2`` object codec (never Pickle) and ``zarr_dtype: "object"``;
  in attributes as ``{"value": <ref>, "zarr_dtype": "object"}``;
- region references (NWB 1/early 2.0 only) add ``"region": [[start, stop], ...]`` to the dict;
- compound datasets holding references are ``|O`` arrays of lists with ``zarr_dtype`` the list of
  field ``{"name", "dtype"}`` (``"object"`` for reference fields);
- links (soft, external, repeated hard links) are entries of the parent group's ``zarr_link``
  attribute: ``{"name", "source", "path"[, "object_id"]}``.

``JSONObject`` teaches zarr 3 to read ``json2`` object arrays; zarr finds it through the
``zarr.data_type`` entry point, so plain ``zarr.open_group`` reads our stores without importing us.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
from zarr.core.dtype.common import DataTypeValidationError
from zarr.core.dtype.npy.bytes import VariableLengthBytes

ZARR_DTYPE = "zarr_dtype"
ZARR_LINK = "zarr_link"
SCALAR = "scalar"
OBJECT = "object"
REGION = "region"
# our own bookkeeping attributes, kept apart from NWB's
H5_DTYPE = "intake_nwb_h5dtype"  # e.g. "enum(bool)", "vlen-bytes", "null-dataspace"


def make_ref(path: str, *, source: str = ".", object_id: str | None = None,
             source_object_id: str | None = None, region: list[list[int]] | None = None
             ) -> dict[str, Any]:
    """A reference dict in hdmf-zarr's layout (keys sorted as json2 writes them)."""
    ref: dict[str, Any] = {"source": source, "path": path}
    if object_id is not None:
        ref["object_id"] = object_id
    if source_object_id is not None:
        ref["source_object_id"] = source_object_id
    if region is not None:
        ref[REGION] = region
    return ref


def is_ref(value: Any) -> bool:
    return isinstance(value, dict) and "path" in value and "source" in value


def attr_ref(value: Any) -> dict[str, Any] | None:
    """The reference held by an attribute value, or None (hdmf-zarr wraps them in ``value``)."""
    if isinstance(value, dict) and value.get(ZARR_DTYPE) == OBJECT and is_ref(value.get("value")):
        return value["value"]
    return None


def ref_target(ref: Any) -> str | None:
    """The path a reference points to (``None`` for a null reference)."""
    if is_ref(ref):
        return ref["path"] or None
    return None


@dataclass(frozen=True, kw_only=True)
class JSONObject(VariableLengthBytes):
    """Zarr 3 data type for Zarr v2 ``|O`` arrays encoded with numcodecs' ``json2`` codec."""

    _zarr_v3_name: ClassVar[Literal["intake_nwb.json_object"]] = "intake_nwb.json_object"
    object_codec_id: ClassVar[Literal["json2"]] = "json2"  # type: ignore[assignment]

    @classmethod
    def from_native_dtype(cls, dtype: Any) -> JSONObject:
        # never chosen for new arrays of object dtype: vlen strings/bytes stay zarr's own
        raise DataTypeValidationError("JSONObject is only read from json2-encoded v2 metadata")

    @classmethod
    def _check_json_v3(cls, data: Any) -> bool:
        return data == cls._zarr_v3_name

    def default_scalar(self) -> Any:  # type: ignore[override]
        return None

    def to_json_scalar(self, data: object, *, zarr_format: Any) -> Any:  # type: ignore[override]
        return json.loads(json.dumps(data, default=_json_default))

    def from_json_scalar(self, data: Any, *, zarr_format: Any) -> Any:  # type: ignore[override]
        return data

    def _check_scalar(self, data: object) -> bool:
        return True

    def _cast_scalar_unchecked(self, data: object) -> Any:  # type: ignore[override]
        return data

    def cast_scalar(self, data: object) -> Any:  # type: ignore[override]
        return data


@dataclass(frozen=True, kw_only=True)
class PickleObject(JSONObject):
    """Zarr v2 ``|O`` arrays encoded with numcodecs' Pickle codec (hdmf-zarr's default).

    Declaring the type lets such stores open; decoding still goes through numcodecs, which
    refuses unless ``numcodecs.pickles.ALLOW_UNSAFE_PICKLE_DECODE`` is set: unpickling runs code,
    so only trusted data may opt in (see :func:`allow_pickle`).
    """

    _zarr_v3_name: ClassVar[Literal["intake_nwb.pickle_object"]] = "intake_nwb.pickle_object"  # type: ignore[assignment]
    object_codec_id: ClassVar[Literal["pickle"]] = "pickle"  # type: ignore[assignment]


@contextmanager
def allow_pickle(allowed: bool = True) -> Iterator[None]:
    """Temporarily allow numcodecs to decode Pickle-encoded arrays (trusted data only)."""
    import numcodecs.pickles

    before = numcodecs.pickles.ALLOW_UNSAFE_PICKLE_DECODE
    numcodecs.pickles.ALLOW_UNSAFE_PICKLE_DECODE = allowed or before
    try:
        yield
    finally:
        numcodecs.pickles.ALLOW_UNSAFE_PICKLE_DECODE = before


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "surrogateescape")
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def register_zarr_dtypes() -> None:
    """Register :class:`JSONObject` and :class:`PickleObject` with zarr (idempotent).

    zarr 3.1 collects ``zarr.data_type`` entry points but never loads them when matching JSON
    metadata, so we register on import as well.
    """
    from zarr.core.dtype import data_type_registry

    for cls in (JSONObject, PickleObject):
        data_type_registry.register(cls._zarr_v3_name, cls)


register_zarr_dtypes()

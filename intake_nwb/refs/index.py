"""``index()``: turn NWB sources into reference files, once, in parallel, with progress."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
from collections.abc import Mapping
from typing import Any

from .._version import __version__
from ..errors import Errors, IntakeNWBError, NotNWBError, SourceNotFoundError, report_failures
from ..sources import Source, expand, identity_matches
from . import cache
from .translate import DEFAULT_INLINE_THRESHOLD, DEFAULT_SUBCHUNK_BYTES, Options, translate

# remote HDF5 metadata is scattered: read it in large blocks and keep them
REMOTE_BLOCK_SIZE = 2**20
REMOTE_MAX_BLOCKS = 1024


def index(sources: Any, *, refs_dir: str | os.PathLike[str] | None = None,
          storage_options: Mapping[str, Any] | None = None,
          inline_threshold: int = DEFAULT_INLINE_THRESHOLD,
          subchunk_bytes: int = DEFAULT_SUBCHUNK_BYTES,
          executor: cf.Executor | None = None, progress: bool = True,
          errors: Errors = "raise", strict: bool = False, overwrite: bool = False
          ) -> dict[str, str]:
    """Index NWB sources into kerchunk reference files; return ``{source: reference path}``.

    Parameters
    ----------
    sources:
        A path, glob, ``s3://``/``gs://``/``az://``/``http(s)://`` URL, or a list of these.
        Zarr NWB stores and existing reference files are returned as they are.
    refs_dir:
        Where reference files go; default: a per-user cache directory
        (``$INTAKE_NWB_REFS_DIR`` or platformdirs' user cache).
    storage_options:
        fsspec options for the sources (``{"anon": True}``, ``{"s3": {...}, "gs": {...}}``).
    inline_threshold:
        Datasets storing at most this many bytes are inlined in the references, so metadata and
        small columns are read with no data request.
    subchunk_bytes:
        Large contiguous datasets are split into pieces of about this size.
    executor:
        Any ``concurrent.futures.Executor`` (e.g. ``dask.distributed.Client().get_executor()``);
        default: a local pool.
    progress:
        Show a tqdm progress bar over files.
    errors:
        ``"raise"``: any failure raises (several: :class:`BatchError`), after the other files
        were indexed; ``"warn"``: failures are reported in one warning and left out of the
        result; ``"ignore"``: left out silently.
    strict:
        Raise :class:`TranslationError` for anything that cannot be represented instead of
        listing it in the reference file's metadata.
    overwrite:
        Re-index even when up-to-date references exist.

    Examples
    --------
    >>> import intake_nwb
    >>> refs = intake_nwb.index("data/*.nwb", refs_dir="refs")  # doctest: +SKIP
    >>> refs["/data/ses-1.nwb"]  # doctest: +SKIP
    'refs/ses-1.nwb.3f1c9a0b2d4e.json'
    """
    srcs = expand(sources, storage_options)
    options = Options(inline_threshold=inline_threshold, subchunk_bytes=subchunk_bytes,
                      strict=strict)
    results: dict[str, str] = {}
    failures: dict[str, BaseException] = {}
    jobs = [(s.url, s.storage_options, str(cache.ref_path(s.url, refs_dir)), options, overwrite)
            for s in srcs]
    own = executor is None
    pool = executor or _default_executor(srcs)
    try:
        futures = {pool.submit(index_one, *job): job[0] for job in jobs}
        done = cf.as_completed(futures)
        if progress and len(jobs) > 1:
            from tqdm.auto import tqdm

            done = tqdm(done, total=len(jobs), desc="indexing NWB", unit="file")
        for fut in done:
            url = futures[fut]
            try:
                results[url] = fut.result()
            except Exception as exc:  # noqa: BLE001 - collected, reported together below
                failures[url] = exc
    finally:
        if own:
            pool.shutdown(wait=True, cancel_futures=True)
    report_failures(failures, errors, "could not be indexed")
    return {s.url: results[s.url] for s in srcs if s.url in results}


def _default_executor(srcs: list[Source]) -> cf.Executor:
    remote = [s for s in srcs if not s.is_local]
    if len(remote) >= 4:
        # h5py holds a global lock while it reads: only processes overlap remote round trips
        ctx = multiprocessing.get_context("spawn")
        return cf.ProcessPoolExecutor(max_workers=min(8, len(remote)), mp_context=ctx)
    return cf.ThreadPoolExecutor(max_workers=min(4, max(1, len(srcs))))


def index_one(url: str, storage_options: Mapping[str, Any] | None, path: str,
              options: Options | None = None, overwrite: bool = False) -> str:
    """Index one source into ``path`` (unless up to date) and return what to open.

    Zarr NWB stores and reference files are returned unchanged.
    """
    src = Source(url, dict(storage_options or {}))
    kind = src.kind()
    if kind in ("zarr", "refs"):
        return url
    if kind != "hdf5":
        raise NotNWBError("not an HDF5 file or a Zarr store (no HDF5 signature)", source=url)
    identity = src.identity()
    target = cache.existing(cache.ref_path(url, os.path.dirname(path)))
    if target is not None and not overwrite and is_current(target, url, identity):
        return str(target)
    meta = translate_source(src, identity, options or Options())
    return str(cache.write(cache.ref_path(url, os.path.dirname(path)), meta.pop("_refset"), meta))


def is_current(path: str | os.PathLike[str], url: str, identity: Mapping[str, Any]) -> bool:
    try:
        meta = cache.read_meta(path)
    except IntakeNWBError:
        return False
    return (meta.get("layout_version") == cache.LAYOUT_VERSION and meta.get("source") == url
            and identity_matches(meta.get("identity", {}), identity))


def translate_source(src: Source, identity: Mapping[str, Any], options: Options
                     ) -> dict[str, Any]:
    """Open ``src`` with h5py, translate it; return the metadata with the refset under
    ``_refset``."""
    import h5py

    size = identity.get("size")
    try:
        if src.is_local:
            h5 = h5py.File(src.url, "r")
        else:
            fobj = src.fs.open(src.fs_path, "rb", block_size=REMOTE_BLOCK_SIZE,
                               cache_type="blockcache",
                               cache_options={"maxblocks": REMOTE_MAX_BLOCKS})
            h5 = h5py.File(fobj, "r")
    except FileNotFoundError:
        raise SourceNotFoundError("no such file or URL", source=src.url) from None
    except OSError as exc:
        raise NotNWBError(f"cannot be opened as HDF5, truncated or corrupt ({exc})",
                          source=src.url) from None
    with h5:
        try:
            refset = translate(h5, src.url, file_size=size, options=options)
        except IntakeNWBError:
            raise
        except Exception as exc:
            raise NotNWBError(f"cannot be read as HDF5 ({type(exc).__name__}: {exc})",
                              source=src.url) from exc
    return {
        "source": src.url,
        "protocol": src.protocol,
        "identity": dict(identity),
        "intake_nwb_version": __version__,
        "layout_version": cache.LAYOUT_VERSION,
        "inline_threshold": options.inline_threshold,
        "subchunk_bytes": options.subchunk_bytes,
        "unsupported": refset["unsupported"],
        "n_chunks": refset["n_chunks"],
        "_refset": refset,
    }

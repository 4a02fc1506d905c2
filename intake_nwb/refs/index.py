"""``index()``: turn NWB sources into reference files, once, in parallel, with progress."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._version import __version__
from ..config import config
from ..errors import Errors, IntakeNWBError, NotNWBError, SourceNotFoundError, report_failures
from ..sources import HEAD_BYTES, Source, expand, file_identity, identity_matches
from ..util.fanout import fan_out
from ..util.processes import ProcessWorkers
from . import cache
from .remote import LayoutHint, open_remote_hdf5, prefetch, translating
from .translate import DEFAULT_INLINE_THRESHOLD, DEFAULT_SUBCHUNK_BYTES, Options, translate


def index(sources: Any, *, refs_dir: str | os.PathLike[str] | None = None,
          storage_options: Mapping[str, Any] | None = None,
          inline_threshold: int = DEFAULT_INLINE_THRESHOLD,
          subchunk_bytes: int = DEFAULT_SUBCHUNK_BYTES,
          executor: cf.Executor | None = None, progress: bool | None = None,
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
        Show a tqdm progress bar over files (default: for batches of many files).
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
    >>> refs = intake_nwb.index("lab/*.nwb", refs_dir="refs")  # {source: its reference file}
    >>> source, ref = next(iter(refs.items()))
    >>> source  # doctest: +ELLIPSIS
    '.../lab/sub-001_ses-001.nwb'
    >>> ref  # named after the file, and a hash of its URL  # doctest: +ELLIPSIS
    'refs/sub-001_ses-001.nwb....json'
    """
    results, failures = index_sources(
        expand(sources, storage_options), refs_dir=refs_dir,
        options=Options(inline_threshold=inline_threshold, subchunk_bytes=subchunk_bytes,
                        strict=strict),
        executor=executor, progress=progress, overwrite=overwrite)
    report_failures(failures, errors, "could not be indexed")
    return results


def index_sources(srcs: list[Source], *, refs_dir: str | os.PathLike[str] | None = None,
                  options: Options | None = None, executor: cf.Executor | None = None,
                  progress: bool | None = None, overwrite: bool = False
                  ) -> tuple[dict[str, str], dict[str, BaseException]]:
    """:func:`index` for callers that handle failures themselves: ``(results, failures)``,
    both keyed by source URL, results in the order of ``srcs``."""
    opts = dataclasses.asdict(options or Options())
    jobs = [(s.url, s.storage_options, str(cache.refs_path_for(s.url, refs_dir)), opts,
             overwrite) for s in srcs]
    if executor is not None:
        return fan_out(_index_job, jobs, key=_url, executor=executor, progress=progress,
                       desc="indexing NWB")
    # Local files: h5py holds one lock for all threads' HDF5 calls, so threads only queue
    # (they made indexing 2.3x slower than one thread). Files already indexed are confirmed
    # here (a stat and a small read); the rest are translated in this thread or, when there
    # are enough to pay for starting interpreters, in worker processes. Remote files mostly
    # wait on the network: threads, their metadata windows prefetched outside the lock.
    local = [j for j, s in zip(jobs, srcs, strict=True) if s.is_local]
    remote = [j for j, s in zip(jobs, srcs, strict=True) if not s.is_local]
    done, failures = fan_out(_current_job, local, key=_url, workers=1)
    todo = [j for j in local if done.get(j[0]) is None]
    n = _processes(len(todo))
    with ProcessWorkers(n) if n > 1 else contextlib.nullcontext() as pool:  # workers end here
        made, failed = fan_out(_index_job, todo, key=_url, workers=1, executor=pool,
                               progress=progress, desc="indexing NWB")
    got, lost = fan_out(_index_job, remote, key=_url, workers=min(8, config.max_workers),
                        progress=progress, desc="indexing NWB")
    results = {**{k: v for k, v in done.items() if v is not None}, **made, **got}
    return ({j[0]: results[j[0]] for j in jobs if j[0] in results},
            {**failures, **failed, **lost})


#: local files a worker process must have to pay for its start (~0.5 s of imports; a small
#: session translates in ~30 ms)
FILES_PER_PROCESS = 24


def _processes(n_files: int) -> int:
    """Worker processes for translating ``n_files`` local files (1: this thread)."""
    if config.index_processes is not None:
        return max(1, min(config.index_processes, n_files))
    return max(1, min(os.cpu_count() or 1, config.max_workers, n_files // FILES_PER_PROCESS))


def _url(job: tuple[Any, ...]) -> str:
    return job[0]


def _current_job(job: tuple[Any, ...]) -> str | None:
    url, storage_options, path, _, overwrite = job
    return None if overwrite else current_references(Source(url, dict(storage_options or {})),
                                                      path)


def current_references(src: Source, path: str | os.PathLike[str],
                       info: Mapping[str, Any] | None = None) -> str | None:
    """What :func:`index_one` returns for ``src`` (references at ``path``) when nothing needs
    translating: current references, or the URL of a Zarr store or reference file; else None.
    ``info``: its ``info()`` at hand."""
    if src.is_refs_json:
        return src.url
    info = src.info() if info is None else info
    if info.get("type") == "directory":
        return index_one(src.url, src.storage_options, str(path))
    target = cache.existing(Path(path))
    if target is not None and is_current(target, src, file_identity(info)):
        return str(target)
    return None


def _index_job(job: tuple[Any, ...] | list[Any]) -> str:
    """:func:`index_one` of a job (JSON-able: it may run in a worker process)."""
    url, storage_options, path, options, overwrite = job
    return index_one(url, storage_options, path, Options(**options), overwrite)


def index_one(url: str, storage_options: Mapping[str, Any] | None, path: str,
              options: Options | None = None, overwrite: bool = False) -> str:
    """Index one source into ``path`` (unless up to date) and return what to open.

    Zarr NWB stores and reference files are returned unchanged.
    """
    src = Source(url, dict(storage_options or {}))
    info = src.info()  # one request serves kind and identity
    target = cache.existing(Path(path))
    if (target is not None and not overwrite and info.get("type") != "directory"
            and is_current(target, src, file_identity(info))):
        return str(target)  # current references exist only for HDF5 sources: no need to look
    if src.is_local or info.get("type") == "directory" or src.is_refs_json:
        if needs_no_references(src.kind(info), url):
            return url
        meta = translate_source(src, src.identity(info), options or Options())
    else:
        with LayoutHint(src) as hint:
            # h5py's file object reads the signature too: one cache for both
            fobj = open_remote_hdf5(src, info.get("size"))
            try:
                prefetch(src, fobj, hint.windows)
                if needs_no_references(src.kind(info, head=fobj.read(HEAD_BYTES)), url):
                    return url
                with translating:
                    meta = translate_source(src, src.identity(info), options or Options(),
                                            fobj=fobj)
                hint.record(fobj)
            finally:
                fobj.close()
    return str(cache.write(Path(path), meta.pop("_refset"), meta))


def needs_no_references(kind: str, url: str) -> bool:
    """Zarr stores and reference files are read as they are; HDF5 needs references; anything
    else is not NWB."""
    if kind in ("zarr", "refs"):
        return True
    if kind != "hdf5":
        raise NotNWBError("not an HDF5 NWB file, a Zarr NWB store or a reference file",
                          source=url)
    return False


def is_current(path: str | os.PathLike[str], src: Source, identity: Mapping[str, Any]) -> bool:
    """References at ``path`` describe ``src`` as it is now (``identity``: its current one).

    When the content is confirmed but the identity changed (``touch``, a copy of the same
    bytes), the recorded identity is refreshed, so the next check is cheap again.
    """
    try:
        meta = cache.read_meta(path)
    except IntakeNWBError:
        return False
    recorded = meta.get("identity") or {}
    if not (meta.get("layout_version") == cache.LAYOUT_VERSION and meta.get("source") == src.url
            and src.unchanged(recorded, identity)):
        return False
    if not identity_matches(recorded, identity):
        refreshed = dict(identity)
        if "sample" in recorded:
            refreshed["sample"] = recorded["sample"]  # same content: same sample
        cache.update_meta(Path(path), {**meta, "identity": refreshed})
    return True


def translate_source(src: Source, identity: Mapping[str, Any], options: Options,
                     fobj: Any = None) -> dict[str, Any]:
    """Open ``src`` with h5py, translate it; return the metadata with the refset under
    ``_refset``. ``fobj``: a remote file already open (see :func:`open_remote_hdf5`)."""
    import h5py

    size = identity.get("size")
    try:
        if src.is_local:
            h5 = h5py.File(src.url, "r")
        else:
            if fobj is None:
                fobj = open_remote_hdf5(src, size)
            fobj.seek(0)
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
        "identity": src.with_sample(identity, refset.pop("extents")),
        "intake_nwb_version": __version__,
        "layout_version": cache.LAYOUT_VERSION,
        "inline_threshold": options.inline_threshold,
        "subchunk_bytes": options.subchunk_bytes,
        "unsupported": refset["unsupported"],
        "n_chunks": refset["n_chunks"],
        "_refset": refset,
    }

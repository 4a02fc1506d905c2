"""Exceptions raised by intake_nwb.

Every error that concerns a file names it (``source``) and, where it applies, the path inside it
(``path``), so a failure in a batch of hundreds of files says which one and where.
"""

from __future__ import annotations

import warnings
from typing import Literal


class IntakeNWBError(Exception):
    """Base class of all intake_nwb errors.

    Parameters
    ----------
    message:
        What went wrong.
    source:
        The file (path or URL) the error concerns, if any.
    path:
        The path inside the file (``/units/spike_times``), if any.
    """

    def __init__(self, message: str, *, source: str | None = None, path: str | None = None):
        self.source = source
        self.path = path
        where = ""
        if source is not None:
            where = f"{source}"
            if path is not None:
                where += f" [{path}]"
            where += ": "
        elif path is not None:
            where = f"[{path}]: "
        super().__init__(where + message)
        self.message = message


class SourceNotFoundError(IntakeNWBError, FileNotFoundError):
    """The source path or URL does not exist (or a glob matched nothing)."""


class RemoteIOError(IntakeNWBError):
    """A remote request that still failed after every retry; names the URL and byte range.

    Not an ``OSError``: aiohttp would rewrap it (as ``ClientOSError``) and zarr/fsspec must
    never mistake it for a missing key (``FileNotFoundError`` means "fill value" to zarr).
    """


class NotNWBError(IntakeNWBError):
    """The file is not an NWB file: not HDF5/Zarr, truncated, or lacking ``nwb_version``."""


class TranslationError(IntakeNWBError):
    """An HDF5 object could not be represented as a reference, and strict mode was asked for."""


class StaleReferenceError(IntakeNWBError):
    """A reference file describes a different version of its source (size/ETag/mtime changed)."""


class UnsafeReferenceError(IntakeNWBError):
    """A reference set reaches outside its source (another file or URL, a byte range off the
    file) or does not say which source it describes; refused before any byte is read."""


class CorruptReferenceError(IntakeNWBError):
    """A reference set is damaged or incomplete (a record file it lists is missing or
    unreadable); never read as fill values."""


class LimitExceededError(IntakeNWBError):
    """Metadata declares more than a limit allows (a chunk's decoded size, an array's fill);
    hostile or corrupt, or a file that needs a higher limit (see :mod:`intake_nwb.config`)."""


class DecodeError(IntakeNWBError):
    """A chunk's bytes could not be decoded (corrupt data, or more than it declares)."""


class TableNotFoundError(IntakeNWBError, KeyError):
    """The requested table path is not a DynamicTable in the file."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return Exception.__str__(self)


class TimeSeriesNotFoundError(IntakeNWBError, KeyError):
    """The requested TimeSeries path does not exist in the file."""

    def __str__(self) -> str:
        return Exception.__str__(self)


class SchemaConflictError(IntakeNWBError, TypeError):
    """Columns of the same name have types with no common supertype across files."""


class PinMismatchError(IntakeNWBError):
    """A DANDI asset no longer matches the size/etag pinned in its catalog."""


class DandiAPIError(IntakeNWBError):
    """The DANDI API refused or failed a request (authentication, server error, bad answer)."""


class DandiNotFoundError(SourceNotFoundError, DandiAPIError):
    """No such dandiset, version or asset (the API answered 404)."""


class DraftVersionWarning(UserWarning):
    """A catalog of a dandiset's draft: the draft can change, the catalog is not reproducible."""


class BatchError(IntakeNWBError):
    """Several files of a batch failed; ``failures`` maps each source to its exception."""

    def __init__(self, message: str, failures: dict[str, BaseException]):
        self.failures = failures
        # errors of ours name their file already
        lines = [message] + [f"  {exc}" if isinstance(exc, IntakeNWBError) and exc.source
                             else f"  {src}: {exc}" for src, exc in failures.items()]
        super().__init__("\n".join(lines))


class IntakeNWBWarning(UserWarning):
    """Base class of intake_nwb's warnings."""


class DataWarning(IntakeNWBWarning):
    """A file's data are inconsistent (an index past its data, timestamps of another length);
    they were read as pynwb reads them, and the warning names the file and path."""


class SchemaConflictWarning(IntakeNWBWarning):
    """Columns of the same name have no common type across files and were left out (or kept
    as JSON text); the warning names each file and its type."""


class SkippedWarning(IntakeNWBWarning):
    """Files, tables or columns that could not be read and were left out (``errors="warn"``)."""


Errors = Literal["raise", "warn", "ignore"]


def report_failures(failures: dict[str, BaseException], errors: Errors, what: str,
                    noun: str = "files") -> None:
    """Apply the ``errors=`` policy to a batch's failures (keyed by file, or file and path).

    ``"raise"``: one failure re-raises it, several raise :class:`BatchError`; ``"warn"``: one
    :class:`SkippedWarning` lists them all; ``"ignore"``: nothing.
    """
    if not failures:
        return
    if errors == "raise":
        if len(failures) == 1:
            raise next(iter(failures.values()))
        raise BatchError(f"{len(failures)} {noun} {what}", failures)
    if errors == "warn":
        warnings.warn(str(BatchError(f"{len(failures)} {noun} {what}", failures)),
                      SkippedWarning, stacklevel=3)


class AmbiguousNameError(IntakeNWBError, KeyError):
    """A short name (``"electrodes"``, ``"lick_times"``) names several objects of a file; the
    message lists them. Pass one of their paths instead."""

    def __str__(self) -> str:
        return Exception.__str__(self)

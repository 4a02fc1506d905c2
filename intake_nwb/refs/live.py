"""Live references: an HDF5 NWB file's reference set, translated node by node as a read asks
for it.

A cold read (nothing indexed) used to translate the whole file, then read one table: the
translation was most of the time (~35 ms for a small session, of which its ``/units`` is 10;
over HTTP, also writing the reference file and reading it back). :class:`LiveReferences` is
the same reference set (the same keys and values :func:`.translate.translate` writes) as a
mapping that translates a group or dataset the first time a key under it, its metadata or its
listing is asked for. The file stays open with h5py between steps (at most
:data:`MAX_OPEN_FILES` files at once) and is checked unchanged at each (a remote one when it
is opened again). Nothing is written: :func:`intake_nwb.index` and catalogs keep references.
"""

from __future__ import annotations

import contextlib
import json
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any

import h5py

from ..errors import (
    IntakeNWBError,
    NotNWBError,
    SourceNotFoundError,
    StaleReferenceError,
    UnsafeReferenceError,
)
from ..sources import Source
from .remote import LayoutHint, open_remote_hdf5, prefetch, translating
from .translate import _URL_REF, Options, _State, translate_node
from .validate import Confinement, check_json

#: files are kept open between the steps of live translation; beyond this many local ones (file
#: descriptors; an open file's HDF5 structures, ~0.6 MB), this many remote ones (each also
#: holds its fetched metadata, ~1 MB for a small session) or remote ones holding this many
#: bytes, the least recently used idle one is closed (and opened again when it is needed: a
#: remote one costs a round trip again). A cold read is done with a file once it is described
#: (``open_stores(visit=...)``): 200 remote files' units, 30 ms a request, peak RSS 358 MB with
#: 64 remote files kept open, 267 MB with 8, 257 MB with 2, in the same time and requests (50
#: files' trials: 236 MB with 8, 230 MB with 4 or 2)
MAX_OPEN_FILES = 64
MAX_OPEN_REMOTE_FILES = 4
MAX_OPEN_REMOTE_BYTES = 512 * 2**20
# per kind (local, remote): id -> (the references, the bytes they hold)
_open: dict[bool, OrderedDict[int, tuple[weakref.ref[LiveReferences], int]]] = {
    True: OrderedDict(), False: OrderedDict()}
_open_lock = threading.Lock()
_UNLIMITED = contextlib.nullcontext()  # local files: one thread reads them (read_workers)


class LiveReferences(Mapping[str, Any]):
    """The reference set of the HDF5 NWB file ``src`` (as it is now: ``identity``), translated
    as it is read. Also a hierarchy: :meth:`node` and :meth:`children`.

    A remote file is read through :func:`.remote.open_remote_hdf5` (``fobj``: one already
    open), its metadata fetched at once where a file of its directory showed where they lie
    (:class:`.remote.LayoutHint`); the first of a directory is translated whole for that.
    """

    def __init__(self, src: Source, identity: Mapping[str, Any], options: Options | None = None,
                 fobj: Any = None):
        self.source = src
        self.identity = dict(identity)
        self._state = _State(None, src.url, identity.get("size"),  # type: ignore[arg-type]
                             options or Options())
        self._done: set[str] = set()
        self._nodes: dict[str, dict[str, Any]] = {}
        self._lock = threading.RLock()
        size = identity.get("size")
        if type(size) is not int:
            raise UnsafeReferenceError(f"has no known size ({size!r}): nothing would bound its "
                                       "references", source=src.url)
        self._confinement = Confinement(refs_file=src.url, source=src.url, size=size)
        self._h5: h5py.File | None = None
        self._fobj = fobj
        self._windows: list[tuple[int, int]] = []
        self._was_open = False
        with self._lock:
            if src.is_local:
                self._start()
                return
            with LayoutHint(src) as hint:
                self._windows = hint.windows
                self._start()
                if hint.leader is not None:  # the others of its directory wait for this hint
                    self._translate_all()
                    hint.record(self._fobj)

    def _start(self) -> None:
        if "nwb_version" not in self._file().attrs:
            raise NotNWBError("HDF5 file without an 'nwb_version' root attribute: "
                              "not an NWB file", source=self.source.url)
        self._state.pending.add("")
        self._ensure("")

    def _file(self) -> h5py.File:
        """The file, open (call with the lock held); checked unchanged at every step (a local
        file), or when opened again (a remote one: a request)."""
        src = self.source
        if (src.is_local or self._h5 is None and self._was_open) and \
                not src.unchanged(self.identity, src.identity()):
            raise StaleReferenceError("the file changed while it was being read",
                                      source=src.url)
        if self._h5 is None:
            self._h5 = self._open()
            self._was_open = True
        self._keep_open()
        return self._h5

    def _keep_open(self) -> None:
        """Register this file as open (most recently used); close the idle ones over the
        bounds."""
        local = self.source.is_local
        held = 0 if local else self._fobj.cache.held_bytes
        most = MAX_OPEN_FILES if local else MAX_OPEN_REMOTE_FILES
        with _open_lock:
            table = _open[local]
            table[id(self)] = (weakref.ref(self), held)
            table.move_to_end(id(self))
            evicted = []
            total = 0 if local else sum(n for _, n in table.values())
            while len(table) > 1 and (len(table) > most
                                      or not local and total > MAX_OPEN_REMOTE_BYTES):
                key, (ref, n) = table.popitem(last=False)
                evicted.append((key, ref, n))
                total -= n
        busy = [(key, ref, n) for key, ref, n in evicted
                if (other := ref()) is not None and not other._close_if_idle()]
        if busy:  # in use in another thread: kept, and closed by a later step once idle
            with _open_lock:
                for key, ref, n in busy:
                    if key not in table:
                        table[key] = (ref, n)
                        table.move_to_end(key, last=False)

    def _open(self) -> h5py.File:
        src = self.source
        try:
            if src.is_local:
                return h5py.File(src.url, "r")
            if self._fobj is None:
                self._fobj = open_remote_hdf5(src, self.identity.get("size"))
            prefetch(src, self._fobj, self._windows)
            self._fobj.seek(0)
            return h5py.File(self._fobj, "r")
        except FileNotFoundError:
            raise SourceNotFoundError("no such file or URL", source=src.url) from None
        except OSError as exc:
            raise NotNWBError(f"cannot be opened as HDF5, truncated or corrupt ({exc})",
                              source=src.url) from None

    def _close_if_idle(self) -> bool:
        """Close the file unless another thread is using it (never wait for it); whether it
        is closed."""
        if not self._lock.acquire(blocking=False):
            return False
        try:
            if self._h5 is not None:
                self._h5.close()
                self._h5 = None
            if self._fobj is not None:
                self._fobj.close()
                self._fobj = None
        finally:
            self._lock.release()
        return True

    def _ensure(self, zpath: str) -> None:
        """Translate the node at ``zpath`` if it is listed and not translated yet (its parents
        first: a node is known from its parent's listing)."""
        if zpath in self._done:
            return
        with self._lock:
            if zpath in self._done:
                return
            if zpath:
                self._ensure(zpath.rpartition("/")[0])
            if zpath in self._state.pending:
                refs = self._state.refs
                known = len(refs.written)
                try:
                    h5 = self._file()  # (re)opened, its metadata prefetched, outside the limit
                    with translating if not self.source.is_local else _UNLIMITED:
                        translate_node(self._state, h5, zpath)
                except IntakeNWBError:
                    raise
                except Exception as exc:  # noqa: BLE001 - name the file and the path
                    raise NotNWBError(f"cannot be read as HDF5 ({type(exc).__name__}: {exc})",
                                      source=self.source.url, path="/" + zpath) from exc
                # the file may be hostile: its node is held to what a reference file would be
                check_json({k: refs[k] for k in refs.written[known:] if k in refs},
                           self._confinement)
            self._done.add(zpath)  # translated, or not a node: nothing to do either way

    def _translate_all(self) -> None:
        with self._lock:
            while self._state.pending:  # a level of the tree a pass, in a stable order
                for path in sorted(self._state.pending):
                    self._ensure(path)

    # -- the mapping of keys (what a reference filesystem reads) -------------------------------

    def __getitem__(self, key: str) -> Any:
        self._ensure(key.rpartition("/")[0])  # a node's metadata, or one of an array's chunks
        value = self._state.refs[key]
        if isinstance(value, list) and value and value[0] == _URL_REF:
            return [self.source.url, *value[1:]]
        return value

    def __iter__(self) -> Iterator[str]:
        self._translate_all()
        return iter(list(self._state.refs))

    def __len__(self) -> int:
        self._translate_all()
        return len(self._state.refs)

    # -- the hierarchy (what a lazily built zarr group reads) ---------------------------------

    def node(self, path: str) -> dict[str, Any]:
        """``{"zgroup"|"zarray": ..., "zattrs": ...}`` of the group or array at ``path``."""
        cached = self._nodes.get(path)
        if cached is not None:
            return cached
        self._ensure(path)
        refs = self._state.refs
        keys = {kind: f"{path}/.{kind}" if path else f".{kind}"
                for kind in ("zgroup", "zarray", "zattrs")}
        out = {kind: json.loads(refs[key]) for kind, key in keys.items() if key in refs}
        if not out:
            raise KeyError(path)
        self._nodes[path] = out
        return out

    def children(self, path: str) -> list[str]:
        """The names of the groups and arrays in the group at ``path`` (none for an array)."""
        self._ensure(path)
        return list(self._state.members.get(path, ()))

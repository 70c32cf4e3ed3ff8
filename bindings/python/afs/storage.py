"""Storage: a cloud endpoint (a share) opened directly, for reads and edits.

libafs reaches every cloud share through a storage backend; the built-in one
is a local directory (any path, including a mount), and a sync group's share
is available as :attr:`afs.SyncGroup.storage`. Paths are relative to the share
root, ``/``-separated, and ``""`` is the root; the library refuses ``..``,
empty components and the reserved ``.libafs`` prefix with
:class:`~afs.InvalidNameError`, and never lists the reserved prefix.

Edits made here are exactly the "edits behind the library's back" that a sync
group's change detection finds (``endpoint.sync(full_cloud_scan=True)``).
"""

from __future__ import annotations

import ctypes
import enum
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple, Union

from . import _lib
from ._callback import Trap, checked, set_pending, CANCEL
from ._handle import Handle, Owner, out_ptr
from .errors import ErrorCode, ExistsError, NotFoundError, make_error

__all__ = [
    "ItemType",
    "Attributes",
    "StorageEntry",
    "Storage",
    "name_check",
    "register_scheme",
    "unregister_scheme",
]

PathArg = Union[str, "os.PathLike[str]"]
Bytes = Union[bytes, bytearray, memoryview]

# sys/storage.h macros (ABI values, never changed).
_COND_NONE = 0
_COND_CREATE_ONLY = 1
_COND_IF_MATCH = 2
_RENAME_NOREPLACE = 0x01
_LOCAL_NOSYNC = 0x01
_READ_CHUNK = 4 * 1024 * 1024


class ItemType(enum.IntEnum):
    """Type of a file system item or storage object (``afs_item_type``)."""

    UNKNOWN = 0
    FILE = 1
    DIR = 2
    SYMLINK = 3
    OTHER = 4


class Attributes(enum.IntFlag):
    """Attribute bits kept with an object (``AFS_ATTR_*``, a Windows subset)."""

    NONE = 0
    READONLY = 0x0001
    HIDDEN = 0x0002
    SYSTEM = 0x0004
    ARCHIVE = 0x0020


@dataclass(frozen=True)
class StorageEntry:
    """One object or directory, as a listing or :meth:`Storage.stat` describes it.

    Attributes:
        name: the last path component (empty for stat()); for an entry whose
            name the library rejected, a printable escaped form.
        type: ItemType.FILE or ItemType.DIR.
        size: bytes (0 for directories).
        mtime_ns: last-write time kept with the object, ns since the epoch.
        btime_ns: creation time, 0 when unknown.
        etag: opaque; changes whenever the content or metadata changes.
        attributes: Attributes bits.
        status: 0, or ErrorCode.EINVALIDNAME for a hostile name in a listing
            (such an entry is never followed; see ``valid``).
    """

    name: str
    type: ItemType
    size: int
    mtime_ns: int
    btime_ns: int
    etag: str
    attributes: Attributes
    status: int = 0

    @property
    def is_dir(self) -> bool:
        """True for a directory."""
        return self.type == ItemType.DIR

    @property
    def is_file(self) -> bool:
        """True for a file object."""
        return self.type == ItemType.FILE

    @property
    def valid(self) -> bool:
        """False for an entry the library rejected (hostile name or type)."""
        return self.status == 0

    @classmethod
    def _from_c(cls, e: _lib.StorageEntryC, with_name: bool) -> "StorageEntry":
        name = ""
        if with_name and e.name:
            name = ctypes.string_at(e.name, e.name_len).decode("utf-8", "surrogateescape")
        try:
            typ = ItemType(e.type)
        except ValueError:
            typ = ItemType.UNKNOWN
        return cls(
            name=name,
            type=typ,
            size=int(e.size),
            mtime_ns=int(e.mtime_ns),
            btime_ns=int(e.btime_ns),
            etag=_lib.decode(e.etag),
            attributes=Attributes(e.attributes),
            status=int(e.status),
        )


def _put_options(create_only: bool, if_match: Optional[str], mtime_ns: Optional[int],
                 btime_ns: Optional[int], attributes: int,
                 metadata: Optional[Mapping[str, str]]) -> Tuple[_lib.StoragePutOptionsC, list]:
    """Put options from the library's defaults, plus what must stay alive."""
    o = _lib.StoragePutOptionsC()
    checked(_lib.lib.afs_storage_put_options_init(ctypes.byref(o),
                                                  _lib.AFS_STORAGE_PUT_OPTIONS_VERSION))
    keep: list = []
    if create_only and if_match is not None:
        raise ValueError("create_only and if_match cannot be combined")
    if create_only:
        o.condition = _COND_CREATE_ONLY
    elif if_match is not None:
        o.condition = _COND_IF_MATCH
        etag = _lib.encode(if_match)
        keep.append(etag)
        o.if_match = etag
    if mtime_ns is not None:
        o.mtime_ns = int(mtime_ns)
    if btime_ns is not None:
        o.btime_ns = int(btime_ns)
    o.attributes = int(attributes)
    if metadata:
        keys = (ctypes.c_char_p * len(metadata))(*[_lib.encode(k) for k in metadata])
        values = (ctypes.c_char_p * len(metadata))(*[_lib.encode(v) for v in metadata.values()])
        keep += [keys, values]
        o.meta_count = len(metadata)
        o.meta_keys = keys
        o.meta_values = values
    return o, keep


class Storage(Owner):
    """A storage backend instance: a share opened by URI or local path.

    Open one with :meth:`open` or :meth:`local`, or borrow a sync group's with
    :attr:`afs.SyncGroup.storage` (closed together with the group). Use it as a
    context manager or call :meth:`close`; a closed storage raises
    :class:`~afs.ClosedError`.
    """

    def __init__(self, handle: Handle, parent: Optional[object] = None) -> None:
        """Internal: use :meth:`open`, :meth:`local` or ``SyncGroup.storage``."""
        self._own(handle)
        self._parent = parent  # a borrowed storage keeps its group alive

    @classmethod
    def open(cls, uri: PathArg) -> "Storage":
        """Open a share by URI: an absolute path, ``file:///path``, or a scheme
        registered with :func:`register_scheme`. Other schemes raise
        :class:`~afs.NotSupportedError`."""
        out = out_ptr()
        checked(_lib.lib.afs_storage_open(ctypes.byref(out), _lib.encode(uri)))
        return cls(Handle(out.value, "storage", _lib.lib.afs_storage_free))

    @classmethod
    def local(cls, root: PathArg, *, nosync: bool = False) -> "Storage":
        """The local-directory backend on an existing directory ``root``.

        ``nosync`` skips fsync (faster, not crash-safe: for tests and scratch).
        """
        o = _lib.StorageLocalOptionsC()
        checked(_lib.lib.afs_storage_local_options_init(
            ctypes.byref(o), _lib.AFS_STORAGE_LOCAL_OPTIONS_VERSION))
        if nosync:
            o.flags |= _LOCAL_NOSYNC
        out = out_ptr()
        checked(_lib.lib.afs_storage_local_new(ctypes.byref(out), _lib.encode(root),
                                               ctypes.byref(o)))
        return cls(Handle(out.value, "storage", _lib.lib.afs_storage_free))

    def __repr__(self) -> str:
        state = "closed" if self.closed else self.backend_name
        return f"<afs.Storage {state}>"

    @property
    def backend_name(self) -> str:
        """The backend's name ("local"), from its ctl slot; "" if it gives none."""
        name = ctypes.c_char_p()
        with self._h.use() as p:
            rc = _lib.lib.afs_storage_ctl(p, _lib.AFS_STORAGE_CTL_NAME, ctypes.byref(name))
            if rc != 0:
                _lib.lib.afs_error_clear()
                return ""
        return _lib.decode(name.value)

    # ---- listing ----

    def _list_cb(self, trap: Trap, out: List[StorageEntry]) -> Any:
        """A listing callback that collects entries into ``out``."""

        def on_entry(entry: Any, payload: Any) -> int:
            return trap.run(lambda: out.append(StorageEntry._from_c(entry.contents, True)))
        return _lib.LIST_FN(on_entry)

    def list(self, dir: str = "") -> List[StorageEntry]:
        """Every entry of directory ``dir`` (all pages), sorted by name.

        Entries with hostile names are included with ``valid`` False.
        """
        trap, out = Trap(), []
        cb = self._list_cb(trap, out)
        with self._h.use() as p:
            rc = _lib.lib.afs_storage_list_all(p, _lib.encode(dir), cb, None)
            checked(rc, trap)
        return sorted(out, key=lambda e: e.name)

    def list_page(self, dir: str = "",
                  marker: Optional[str] = None) -> Tuple[List[StorageEntry], Optional[str]]:
        """One page of ``dir``: its entries (in the backend's order) and the
        marker of the next page, None after the last one."""
        trap, out = Trap(), []
        cb = self._list_cb(trap, out)
        nxt = ctypes.create_string_buffer(_lib.AFS_STORAGE_MARKER_MAX)
        with self._h.use() as p:
            rc = _lib.lib.afs_storage_list(p, _lib.encode(dir),
                                           _lib.encode(marker) if marker else None,
                                           cb, None, nxt, len(nxt))
            checked(rc, trap)
        return out, (_lib.decode(nxt.value) or None)

    def walk(self, dir: str = "") -> Iterator[Tuple[str, StorageEntry]]:
        """Every valid entry below ``dir``, depth first, as (relative path, entry)."""
        for e in self.list(dir):
            if not e.valid:
                continue
            path = f"{dir}/{e.name}" if dir else e.name
            yield path, e
            if e.is_dir:
                yield from self.walk(path)

    # ---- single objects ----

    def stat(self, path: str) -> StorageEntry:
        """Describe ``path``; :class:`~afs.NotFoundError` if it does not exist."""
        e = _lib.StorageEntryC()
        with self._h.use() as p:
            checked(_lib.lib.afs_storage_stat(p, _lib.encode(path), ctypes.byref(e)))
        return StorageEntry._from_c(e, False)

    def exists(self, path: str) -> bool:
        """True if ``path`` exists (other failures still raise)."""
        try:
            self.stat(path)
            return True
        except NotFoundError:
            return False

    def read(self, path: str, offset: int = 0, size: Optional[int] = None, *,
             if_match: Optional[str] = None) -> bytes:
        """Read ``size`` bytes at ``offset`` (fewer at the end); all of the rest
        when ``size`` is None.

        With ``if_match`` (an etag) the read fails with
        :class:`~afs.ConditionError` if the object changed. A whole read
        without ``if_match`` is made against the etag seen first, so it never
        returns a mix of two versions.
        """
        if size is None:
            st = self.stat(path)
            if if_match is None:
                if_match = st.etag
            size = max(0, st.size - offset)
        etag = _lib.encode(if_match) if if_match is not None else None
        chunks: List[bytes] = []
        done = 0
        while done < size:
            want = min(_READ_CHUNK, size - done)
            buf = ctypes.create_string_buffer(want)
            got = ctypes.c_size_t()
            with self._h.use() as p:
                checked(_lib.lib.afs_storage_read(p, _lib.encode(path), offset + done, buf, want,
                                                  ctypes.byref(got), etag))
            chunks.append(buf.raw[:got.value])
            done += got.value
            if got.value < want:
                break
        return b"".join(chunks)

    def read_text(self, path: str, encoding: str = "utf-8") -> str:
        """The whole object decoded as text."""
        return self.read(path).decode(encoding)

    def put(self, path: str, data: Union[Bytes, str], *, create_only: bool = False,
            if_match: Optional[str] = None, mtime_ns: Optional[int] = None,
            btime_ns: Optional[int] = None, attributes: int = 0,
            metadata: Optional[Mapping[str, str]] = None) -> StorageEntry:
        """Store a whole object (a str is stored as UTF-8); missing parent
        directories are created. Returns the stored object (with its new etag).

        Args:
            create_only: fail with ConditionError if the object exists.
            if_match: replace only the object with this etag (ConditionError otherwise).
            mtime_ns: last-write time to keep (default: now).
            btime_ns: creation time to keep (default: none).
            attributes: Attributes bits.
            metadata: user metadata, keys ``[a-z0-9_]{1,64}``, printable ASCII values.
        """
        if isinstance(data, str):
            data = data.encode("utf-8")
        elif not isinstance(data, bytes):
            data = bytes(data)
        o, keep = _put_options(create_only, if_match, mtime_ns, btime_ns, attributes, metadata)
        e = _lib.StorageEntryC()
        with self._h.use() as p:
            checked(_lib.lib.afs_storage_put_buffer(p, _lib.encode(path), data, len(data),
                                                    ctypes.byref(o), ctypes.byref(e)))
        del keep
        return StorageEntry._from_c(e, False)

    def put_stream(self, path: str, source: Callable[[int, int], Bytes], size: int, *,
                   create_only: bool = False, if_match: Optional[str] = None,
                   mtime_ns: Optional[int] = None, btime_ns: Optional[int] = None,
                   attributes: int = 0,
                   metadata: Optional[Mapping[str, str]] = None) -> StorageEntry:
        """Store an object of ``size`` bytes pulled from ``source(offset, length)``.

        ``source`` returns up to ``length`` bytes at ``offset`` (``b""`` only at
        the end), like ``os.pread``; it may be called for any offset, more
        than once, and from several threads. An exception it raises cancels
        the upload (nothing is stored) and is re-raised here. Other arguments
        as :meth:`put`.
        """
        trap = Trap()

        def pull(offset: int, buf: int, length: int, nread: Any) -> None:
            chunk = source(offset, length)
            n = len(chunk)
            if n > length:
                raise ValueError(f"source returned {n} bytes for {length}")
            if n:
                ctypes.memmove(buf, bytes(chunk), n)
            nread[0] = n

        cb = _lib.READ_FN(lambda off, buf, length, nread, payload:
                          trap.run(pull, off, buf, length, nread))
        o, keep = _put_options(create_only, if_match, mtime_ns, btime_ns, attributes, metadata)
        e = _lib.StorageEntryC()
        with self._h.use() as p:
            rc = _lib.lib.afs_storage_put(p, _lib.encode(path), cb, None, int(size),
                                          ctypes.byref(o), ctypes.byref(e))
            checked(rc, trap)
        del keep, cb
        return StorageEntry._from_c(e, False)

    def put_file(self, path: str, local_path: PathArg, **kwargs: Any) -> StorageEntry:
        """Store the local file ``local_path`` as ``path`` (read with pread, so
        it is never loaded whole). Keyword arguments as :meth:`put`."""
        fd = os.open(local_path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            size = os.fstat(fd).st_size
            return self.put_stream(path, lambda off, n: os.pread(fd, n, off), size, **kwargs)
        finally:
            os.close(fd)

    def remove(self, path: str, *, if_match: Optional[str] = None) -> None:
        """Delete a file object (only the version ``if_match`` names, if given).
        A directory raises :class:`~afs.IsDirectoryError`; use :meth:`rmdir`."""
        with self._h.use() as p:
            checked(_lib.lib.afs_storage_remove(p, _lib.encode(path),
                                                _lib.encode(if_match) if if_match else None))

    def mkdir(self, path: str) -> None:
        """Create one directory (its parent must exist); ExistsError if it does."""
        with self._h.use() as p:
            checked(_lib.lib.afs_storage_mkdir(p, _lib.encode(path)))

    def makedirs(self, path: str) -> None:
        """Create a directory and its missing parents; existing ones are fine."""
        parts = [c for c in path.split("/") if c]
        for i in range(1, len(parts) + 1):
            try:
                self.mkdir("/".join(parts[:i]))
            except ExistsError:
                pass

    def rmdir(self, path: str) -> None:
        """Remove an empty directory (NotEmptyError otherwise)."""
        with self._h.use() as p:
            checked(_lib.lib.afs_storage_rmdir(p, _lib.encode(path)))

    def rename(self, src: str, dst: str, *, if_match: Optional[str] = None,
               no_replace: bool = False) -> None:
        """Rename a file or directory. ``no_replace``: ConditionError if ``dst``
        exists; ``if_match``: only if the source has this etag."""
        with self._h.use() as p:
            checked(_lib.lib.afs_storage_rename(
                p, _lib.encode(src), _lib.encode(dst),
                _lib.encode(if_match) if if_match else None,
                _RENAME_NOREPLACE if no_replace else 0))

    def set_props(self, path: str, *, mtime_ns: Optional[int] = None, attributes: int = 0,
                  if_match: Optional[str] = None) -> StorageEntry:
        """Set the last-write time (None keeps it) and the attributes without
        rewriting the content; returns the new description."""
        e = _lib.StorageEntryC()
        mtime = _TIME_OMIT if mtime_ns is None else int(mtime_ns)
        with self._h.use() as p:
            checked(_lib.lib.afs_storage_set_props(
                p, _lib.encode(path), mtime, int(attributes),
                _lib.encode(if_match) if if_match else None, ctypes.byref(e)))
        return StorageEntry._from_c(e, False)

    def meta_get(self, path: str, key: str) -> Optional[str]:
        """User metadata ``key`` of ``path``, or None if the key is not set
        (:class:`~afs.NotFoundError` if the object does not exist)."""
        cap = 1025  # values are at most 1024 bytes
        while True:
            buf = ctypes.create_string_buffer(cap)
            n = ctypes.c_size_t()
            with self._h.use() as p:
                rc = _lib.lib.afs_storage_meta_get(p, _lib.encode(path), _lib.encode(key),
                                                   buf, cap, ctypes.byref(n))
                if rc == ErrorCode.ENOTFOUND:
                    missing = make_error(rc)
                    if not self.exists(path):
                        raise missing
                    return None
                checked(rc)
            if n.value < cap:
                return _lib.decode(buf.value)
            cap = n.value + 1


_TIME_OMIT = -(2 ** 63)  # AFS_TIME_OMIT (INT64_MIN)


def name_check(name: Union[str, bytes]) -> bool:
    """True if ``name`` is an acceptable path component for libafs
    (``afs_name_check``: not empty, ``.`` or ``..``, no ``/`` or NUL, at most
    255 bytes of UTF-8)."""
    b = name.encode("utf-8", "surrogateescape") if isinstance(name, str) else bytes(name)
    return _lib.lib.afs_name_check(b, len(b)) == 0


# ---- URI schemes opened by Python code ----

_scheme_thunks: Dict[str, object] = {}
_retired_thunks: list = []  # kept alive: libafs may still be inside an old opener


def register_scheme(scheme: str, opener: Callable[[str], Storage]) -> None:
    """Make ``Storage.open`` (and so sync groups) open URIs ``scheme://...``
    with ``opener(uri) -> Storage``.

    The Storage the opener returns is handed over to the library (the Python
    object is closed by it). An exception raised by the opener makes the
    libafs call that opened the URI fail, and is re-raised from the binding
    call that made it. Registering a scheme again replaces it. Process-wide.
    """

    def trampoline(out: Any, uri: bytes, payload: Any) -> int:
        try:
            st = opener(_lib.decode(uri))
            if not isinstance(st, Storage):
                raise TypeError(f"the opener of {scheme}:// returned {type(st).__name__}, "
                                f"not afs.Storage")
            if st._parent is not None:
                raise ValueError("a sync group's borrowed storage cannot be handed over")
            out[0] = st._h.detach()
            st._finalizer.detach()
            return 0
        except BaseException as e:  # noqa: B036 - re-raised by the caller
            set_pending(e)
            return CANCEL

    thunk = _lib.OPEN_FN(trampoline)
    checked(_lib.lib.afs_storage_scheme_register(_lib.encode(scheme), thunk, None))
    old = _scheme_thunks.get(scheme)
    if old is not None:
        _retired_thunks.append(old)
    _scheme_thunks[scheme] = thunk


def unregister_scheme(scheme: str) -> None:
    """Remove a scheme registered with :func:`register_scheme`
    (:class:`~afs.NotFoundError` if it is not registered)."""
    checked(_lib.lib.afs_storage_scheme_register(_lib.encode(scheme), _lib.OPEN_FN(), None))
    old = _scheme_thunks.pop(scheme, None)
    if old is not None:
        _retired_thunks.append(old)

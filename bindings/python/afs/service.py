"""The Storage Sync Service, the registered server, and the filesystem it uses.

A :class:`Service` is this host's registry of sync groups and its identity as
a registered server; its state lives in a SQLite database under a state
directory. One Service object may be used by one thread at a time.
"""

from __future__ import annotations

import ctypes
import os
from typing import TYPE_CHECKING, List, NamedTuple, Optional, Union

from . import _lib
from ._callback import checked
from ._handle import Handle, Owner, out_ptr
from .errors import NotFoundError

if TYPE_CHECKING:  # pragma: no cover
    from .sync import SyncGroup
    from .tier import HeatEntry, HeatOrder, TierStats

__all__ = ["FileSystem", "ServerInfo", "Service"]

PathArg = Union[str, "os.PathLike[str]"]


class FileSystem(Owner):
    """A registered filesystem (``afs_fs``) for a service to use.

    Only the built-in POSIX/Linux filesystem is available from Python
    (:meth:`posix`); a service opened without one owns its own POSIX default,
    so most programs never need this class. A service borrows the filesystem:
    closing the filesystem closes the services that use it first.
    """

    def __init__(self, handle: Handle) -> None:
        """Internal: use :meth:`posix`."""
        self._own(handle)

    @classmethod
    def posix(cls) -> "FileSystem":
        """The default POSIX/Linux filesystem (sparse files by fallocate holes,
        the tier marker in an extended attribute)."""
        out = out_ptr()
        checked(_lib.lib.afs_fs_posix_new(ctypes.byref(out)))
        return cls(Handle(out.value, "fs", _lib.lib.afs_fs_free))

    def __repr__(self) -> str:
        return f"<afs.FileSystem {'closed' if self.closed else 'posix'}>"


class ServerInfo(NamedTuple):
    """This host's identity as a registered server."""

    name: str
    id: str


class Service(Owner):
    """A Storage Sync Service whose state lives in a state directory.

    ::

        with afs.Service.open("/var/lib/afs") as svc:
            svc.register("Server1")
            group = svc.create_group("docs", "/srv/share")

    Closing the service closes the groups, endpoints and storages opened
    through it.
    """

    def __init__(self, handle: Handle, state_dir: str, fs: Optional[FileSystem]) -> None:
        """Internal: use :meth:`open`."""
        self._own(handle)
        self._state_dir = state_dir
        self._fs = fs  # borrowed by the C service: kept alive with it

    @classmethod
    def open(cls, state_dir: PathArg, *, fs: Optional[FileSystem] = None) -> "Service":
        """Open (creating if needed) the service whose state lives in ``state_dir``.

        The directory is created with mode 0700 if missing. ``fs`` is the
        filesystem to use (default: the service's own POSIX one).

        Raises:
            NotDirectoryError: ``state_dir`` is a file.
            CorruptError: the database there is damaged or not libafs's (left untouched).
            VersionError: the state was written by a newer libafs.
            PermissionDeniedError, BusyError, StorageIOError.
        """
        o = _lib.ServiceOptionsC()
        checked(_lib.lib.afs_service_options_init(ctypes.byref(o),
                                                  _lib.AFS_SERVICE_OPTIONS_VERSION))
        out = out_ptr()
        path = os.fspath(state_dir)
        if fs is not None:
            with fs._h.use() as fsp:
                o.fs = fsp
                checked(_lib.lib.afs_service_open(ctypes.byref(out), _lib.encode(path),
                                                  ctypes.byref(o)))
                h = Handle(out.value, "service", _lib.lib.afs_service_close, fs._h)
        else:
            checked(_lib.lib.afs_service_open(ctypes.byref(out), _lib.encode(path),
                                              ctypes.byref(o)))
            h = Handle(out.value, "service", _lib.lib.afs_service_close)
        return cls(h, path, fs)

    def __repr__(self) -> str:
        state = "closed" if self.closed else repr(self._state_dir)
        return f"<afs.Service {state}>"

    @property
    def state_dir(self) -> str:
        """The state directory given to :meth:`open`."""
        return self._state_dir

    # ---- the registered server ----

    def register(self, name: str) -> ServerInfo:
        """Register this host as server ``name`` (a random id is made on first
        registration). Registering again under the same name does nothing;
        under another name raises :class:`~afs.ExistsError`."""
        with self._h.use() as p:
            checked(_lib.lib.afs_server_register(p, _lib.encode(name)))
        return self.server_info()

    def server_info(self) -> ServerInfo:
        """This server's name and id; :class:`~afs.NotFoundError` if not registered."""
        name, sid = ctypes.c_char_p(), ctypes.c_char_p()
        with self._h.use() as p:
            checked(_lib.lib.afs_server_info(p, ctypes.byref(name), ctypes.byref(sid)))
        return ServerInfo(_lib.decode(name.value), _lib.decode(sid.value))

    @property
    def registered(self) -> bool:
        """True once the server is registered."""
        try:
            self.server_info()
            return True
        except NotFoundError:
            return False

    # ---- sync groups (shortcuts for the SyncGroup class methods) ----

    def groups(self) -> List[str]:
        """Names of the sync groups this service knows, sorted."""
        from .sync import SyncGroup

        return SyncGroup.list(self)

    def create_group(self, name: str, storage_uri: PathArg) -> "SyncGroup":
        """:meth:`afs.SyncGroup.create` on this service."""
        from .sync import SyncGroup

        return SyncGroup.create(self, name, storage_uri)

    def open_group(self, name: str) -> "SyncGroup":
        """:meth:`afs.SyncGroup.open` on this service: a group it knows by name."""
        from .sync import SyncGroup

        return SyncGroup.open(self, name)

    def join_group(self, storage_uri: PathArg, name: Optional[str] = None) -> "SyncGroup":
        """:meth:`afs.SyncGroup.join` on this service: the group defined in a share."""
        from .sync import SyncGroup

        return SyncGroup.join(self, storage_uri, name)

    def delete_group(self, name: str) -> None:
        """:meth:`afs.SyncGroup.delete` on this service."""
        from .sync import SyncGroup

        SyncGroup.delete(self, name)

    # ---- cloud tiering across a volume (afs.tier) ----

    def heat(self, volume_path: PathArg, order: "Optional[HeatOrder]" = None, limit: int = 100,
             now_ns: Optional[int] = None) -> "List[HeatEntry]":
        """The heat store report of the volume holding ``volume_path`` (any
        path on it), over this service's endpoints there: the files in
        ``order`` (a HeatOrder, default SPACE_POLICY: what the free space
        policy tiers next, coolest first); ``limit`` 0 means every row."""
        from . import tier
        return tier.heat_list(self._h, volume_path,
                              tier.HeatOrder.SPACE_POLICY if order is None else order, limit,
                              now_ns)

    def volume_stats(self, volume_path: PathArg) -> "TierStats":
        """Tiering and recall statistics of the volume holding ``volume_path``:
        the sums over this service's endpoints there."""
        from . import tier
        return tier.volume_stats(self._h, volume_path)

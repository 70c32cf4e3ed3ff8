"""Sync groups, server endpoints and sync sessions.

A :class:`SyncGroup` joins one cloud endpoint (a share, given by URI) with
server endpoints, at most one per registered server. Its definition lives in
the share itself, so every host that reaches the share sees the same group:
one host creates it, the others join it by URI. A :class:`ServerEndpoint` is
this server's folder in a group; :meth:`ServerEndpoint.sync` runs one sync
session.

Conflicts follow Azure File Sync: the newest write keeps the name and the
other version becomes ``<name>-<server>.<ext>`` (``-Cloud`` for an edit made
directly in the share).
"""

from __future__ import annotations

import ctypes
import dataclasses
import enum
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Type, Union

from . import _lib
from ._callback import Trap, checked, checked_result, checked_strings
from ._handle import Handle, Owner, out_ptr
from .errors import AfsError, ErrorCode, InvalidArgumentError, VersionError, error_class
from .service import Service
from .storage import Storage
from .tier import EndpointTiering

__all__ = [
    "InitialSync",
    "InitialDownload",
    "LocalCacheMode",
    "SyncPhase",
    "TieringPolicy",
    "EndpointOptions",
    "EndpointInfo",
    "SyncProgress",
    "SyncResult",
    "ItemError",
    "SyncGroup",
    "ServerEndpoint",
]

PathArg = Union[str, "os.PathLike[str]"]


class InitialSync(enum.IntEnum):
    """How a group's first server endpoint starts (``afs_initial_sync``)."""

    MERGE = 0  #: the namespaces merge; conflicts keep both versions
    AUTHORITATIVE_UPLOAD = 1  #: the server is the authority: the share becomes its mirror


class InitialDownload(enum.IntEnum):
    """How a group's later server endpoints start (``afs_initial_download``)."""

    DEFAULT = 0
    NAMESPACE_ONLY = 1
    NAMESPACE_THEN_CONTENT = 2
    AVOID_TIERED_FILES = 3  #: only with tiering off


class LocalCacheMode(enum.IntEnum):
    """What happens to files other endpoints change (``afs_local_cache_mode``)."""

    UPDATE_LOCALLY_CACHED = 0
    DOWNLOAD_NEW_AND_MODIFIED = 1


class SyncPhase(enum.IntEnum):
    """Phases reported to a progress callback (``afs_sync_phase``)."""

    SCAN_LOCAL = 1
    SCAN_CLOUD = 2
    RECONCILE = 3
    APPLY = 4
    DONE = 5


# ---- the library's own defaults, read once (never a copy of the C macros) ----


def _c_endpoint_defaults() -> _lib.EndpointOptionsC:
    o = _lib.EndpointOptionsC()
    checked(_lib.lib.afs_endpoint_options_init(ctypes.byref(o),
                                               _lib.AFS_ENDPOINT_OPTIONS_VERSION))
    return o


_DEFAULTS = _c_endpoint_defaults()


def _uint(what: str, value: Any, bits: int) -> int:
    v = int(value)
    if not 0 <= v < (1 << bits):
        raise InvalidArgumentError(f"{what} must be between 0 and {(1 << bits) - 1}, not {v}")
    return v


@dataclass
class TieringPolicy:
    """The cloud tiering fields of a server endpoint's options (docs/tiering.md).

    A tiering pass (:meth:`ServerEndpoint.tier_pass`) applies them; tiering
    cannot be turned on on the system volume (SystemVolumeError).

    Attributes:
        enabled: cloud tiering on or off (not allowed on the system volume).
        volume_free_space_percent: keep this much of the volume free (0-99).
        date_policy_days: tier files not accessed for this many days; 0 = off.
        minimum_file_size: bytes; smaller files are never tiered. 0 = the
            library default (64 KiB); at least 8 KiB otherwise.
    """

    enabled: bool = bool(_DEFAULTS.tiering_enabled)
    volume_free_space_percent: int = int(_DEFAULTS.tiering_free_space_percent)
    date_policy_days: int = int(_DEFAULTS.tiering_date_days)
    minimum_file_size: int = int(_DEFAULTS.tiering_min_file_size)


@dataclass
class EndpointOptions:
    """Options of a server endpoint (``afs_endpoint_options``).

    The defaults are the library's (``afs_endpoint_options_init``). A value 0
    for ``safety_delete_percent`` or ``change_detection_interval_s`` means the
    library default (50 %, 300 s); the library reports the effective values
    back through :attr:`ServerEndpoint.options`.

    Attributes:
        initial_sync: first endpoint of a group only (InitialOptionError otherwise).
        initial_download: later endpoints only.
        local_cache_mode: what to do with files other endpoints change.
        tiering: the TieringPolicy.
        safety_delete_percent: a session that would delete more than this
            share of the synced items stops with SafetyNetError; 100 = off.
        change_detection_interval_s: seconds between full cloud enumerations
            (that find edits made directly in the share).
        exclude: glob patterns on relative paths or names never synced.
    """

    initial_sync: InitialSync = InitialSync(_DEFAULTS.initial_sync)
    initial_download: InitialDownload = InitialDownload(_DEFAULTS.initial_download)
    local_cache_mode: LocalCacheMode = LocalCacheMode(_DEFAULTS.local_cache_mode)
    tiering: TieringPolicy = field(default_factory=TieringPolicy)
    safety_delete_percent: int = int(_DEFAULTS.safety_delete_percent)
    change_detection_interval_s: int = int(_DEFAULTS.change_detection_interval_s)
    exclude: List[str] = field(default_factory=list)

    def _to_c(self) -> "tuple[_lib.EndpointOptionsC, list]":
        """The C struct (from afs_endpoint_options_init) and what must outlive the call."""
        o = _lib.EndpointOptionsC()
        checked(_lib.lib.afs_endpoint_options_init(ctypes.byref(o),
                                                   _lib.AFS_ENDPOINT_OPTIONS_VERSION))
        t = self.tiering
        o.initial_sync = _uint("initial_sync", self.initial_sync, 32)
        o.initial_download = _uint("initial_download", self.initial_download, 32)
        o.local_cache_mode = _uint("local_cache_mode", self.local_cache_mode, 32)
        o.tiering_enabled = 1 if t.enabled else 0
        o.tiering_free_space_percent = _uint("tiering.volume_free_space_percent",
                                             t.volume_free_space_percent, 32)
        o.tiering_date_days = _uint("tiering.date_policy_days", t.date_policy_days, 32)
        o.tiering_min_file_size = _uint("tiering.minimum_file_size", t.minimum_file_size, 64)
        o.safety_delete_percent = _uint("safety_delete_percent", self.safety_delete_percent, 32)
        o.change_detection_interval_s = _uint("change_detection_interval_s",
                                              self.change_detection_interval_s, 32)
        if isinstance(self.exclude, (str, bytes)):
            raise InvalidArgumentError("exclude is a list of patterns, not one string")
        patterns = [_lib.encode(p) for p in self.exclude]
        arr = (ctypes.c_char_p * max(1, len(patterns)))(*patterns)
        if patterns:
            o.exclude = arr
            o.exclude_count = len(patterns)
        return o, [patterns, arr]

    @classmethod
    def _from_c(cls, o: _lib.EndpointOptionsC) -> "EndpointOptions":
        if o.version < 1:
            raise VersionError(f"libafs returned endpoint options of version {o.version}")

        def enum_or_int(e: Type[enum.IntEnum], v: int) -> Any:
            try:
                return e(v)
            except ValueError:  # a value from a newer libafs
                return int(v)

        exclude: List[str] = []
        if o.exclude:
            exclude = [_lib.decode(o.exclude[i]) for i in range(o.exclude_count)]
        return cls(
            initial_sync=enum_or_int(InitialSync, o.initial_sync),
            initial_download=enum_or_int(InitialDownload, o.initial_download),
            local_cache_mode=enum_or_int(LocalCacheMode, o.local_cache_mode),
            tiering=TieringPolicy(
                enabled=bool(o.tiering_enabled),
                volume_free_space_percent=int(o.tiering_free_space_percent),
                date_policy_days=int(o.tiering_date_days),
                minimum_file_size=int(o.tiering_min_file_size),
            ),
            safety_delete_percent=int(o.safety_delete_percent),
            change_detection_interval_s=int(o.change_detection_interval_s),
            exclude=exclude,
        )


@dataclass(frozen=True)
class EndpointInfo:
    """One server endpoint of a group, as every host sees it (from the share),
    with its options as its definition holds them (exclude patterns included).
    """

    id: str
    server_name: str
    server_id: str
    path: str
    created_ns: int
    options: EndpointOptions


@dataclass(frozen=True)
class SyncProgress:
    """What a progress callback receives. ``items_total`` is 0 while unknown."""

    phase: SyncPhase
    items_done: int
    items_total: int
    bytes_done: int
    bytes_total: int


@dataclass(frozen=True)
class SyncResult:
    """The outcome of one sync session (``afs_sync_result``)."""

    result: int  #: 0, or the code that ended the session early
    started_ns: int
    finished_ns: int
    files_uploaded: int
    bytes_uploaded: int
    files_downloaded: int
    bytes_downloaded: int
    dirs_created_cloud: int
    dirs_created_local: int
    deleted_cloud: int  #: files and directories
    deleted_local: int
    renamed_cloud: int  #: server renames carried to the cloud
    renamed_local: int  #: cloud renames carried to the server
    metadata_updates: int  #: time or attribute changes without content
    adopted: int  #: identical on both sides: recorded without transfer
    conflicts: int  #: conflict copies made
    item_errors: int  #: items that failed this session (see ServerEndpoint.errors())
    skipped: int  #: items never synced by rule (links, temp names, ...)
    full_cloud_scan: bool  #: the cloud was enumerated in full

    @property
    def ok(self) -> bool:
        """True if the session ran to its end (some items may still have failed)."""
        return self.result == 0

    @property
    def duration_s(self) -> float:
        """How long the session took, in seconds."""
        return (self.finished_ns - self.started_ns) / 1e9

    @classmethod
    def _from_c(cls, r: _lib.SyncResultC) -> "SyncResult":
        values: Dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            values[f.name] = getattr(r, f.name)
        values["full_cloud_scan"] = bool(r.full_cloud_scan)
        return cls(**values)


@dataclass(frozen=True)
class ItemError:
    """One item that failed to sync, kept and retried between sessions."""

    path: str  #: relative to the endpoint
    code: int  #: an ErrorCode
    message: str
    count: int  #: sessions in which it failed
    persistent: bool  #: retrying cannot help until something changes
    first_ns: int
    last_ns: int

    @property
    def error(self) -> AfsError:
        """The failure as the exception the binding would raise for it."""
        return error_class(self.code)(self.message, self.code)


# ---- sync groups ----


class SyncGroup(Owner):
    """A sync group: one cloud endpoint (a share) and its server endpoints.

    Create it on one host with :meth:`create`; other hosts :meth:`join` it by
    the share's URI; a host that knows it opens it by name with :meth:`open`.
    A group borrows its service (closing the service closes the group) and
    owns the storage it reaches the share with (:attr:`storage`).
    """

    def __init__(self, handle: Handle, service: Service) -> None:
        """Internal: use :meth:`create`, :meth:`open` or :meth:`join`."""
        self._own(handle)
        self._service = service
        self._storage: Optional[Storage] = None

    @classmethod
    def create(cls, service: Service, name: str, storage_uri: PathArg) -> "SyncGroup":
        """Create group ``name`` whose cloud endpoint is the share at
        ``storage_uri`` (see :meth:`afs.Storage.open`); the share may already
        hold data.

        Raises:
            ExistsError: this service knows a group of that name, or the share
                already belongs to a group (join it instead).
            InvalidNameError, LimitError (200 groups per service), storage errors.
        """
        return cls._open(service, _lib.lib.afs_group_create, _lib.encode(name),
                         _lib.encode(os.fspath(storage_uri)))

    @classmethod
    def open(cls, service: Service, name: Optional[str] = None,
             storage_uri: Optional[PathArg] = None) -> "SyncGroup":
        """Open a group: by ``name`` among those the service knows, or the
        group defined in the share at ``storage_uri`` (joining it, and
        checking its name if both are given). NotFoundError if there is none."""
        if name is None and storage_uri is None:
            raise InvalidArgumentError("SyncGroup.open needs a name or a storage URI")
        return cls._open(service, _lib.lib.afs_group_open,
                         None if name is None else _lib.encode(name),
                         None if storage_uri is None else _lib.encode(os.fspath(storage_uri)))

    @classmethod
    def join(cls, service: Service, storage_uri: PathArg,
             name: Optional[str] = None) -> "SyncGroup":
        """Join the group defined in the share at ``storage_uri`` (the service
        remembers it). Same as ``open(service, name, storage_uri)``."""
        return cls.open(service, name, storage_uri)

    @classmethod
    def _open(cls, service: Service, fn: Callable[..., int], name: Optional[bytes],
              uri: Optional[bytes]) -> "SyncGroup":
        out = out_ptr()
        with service._h.use() as svc:
            checked(fn(ctypes.byref(out), svc, name, uri))
            h = Handle(out.value, "group", _lib.lib.afs_group_close, service._h)
        return cls(h, service)

    @staticmethod
    def list(service: Service) -> List[str]:
        """Names of the groups ``service`` knows, sorted."""
        with service._h.use() as svc:
            return checked_strings(_lib.lib.afs_group_list, svc)

    @staticmethod
    def delete(service: Service, name: str) -> None:
        """Delete group ``name``: its definition leaves the share (the user
        data stays) and the service forgets it. BusyError while it has server
        endpoints (delete them first)."""
        with service._h.use() as svc:
            checked(_lib.lib.afs_group_delete(svc, _lib.encode(name)))

    def __repr__(self) -> str:
        return "<afs.SyncGroup closed>" if self.closed else f"<afs.SyncGroup {self.name!r}>"

    @property
    def service(self) -> Service:
        """The service this group was opened through."""
        return self._service

    @property
    def name(self) -> str:
        """The group's name (unique within a service)."""
        with self._h.use() as p:
            return _lib.decode(_lib.lib.afs_group_name(p))

    @property
    def id(self) -> str:
        """The group's id (a UUID), the same on every host."""
        with self._h.use() as p:
            return _lib.decode(_lib.lib.afs_group_id(p))

    @property
    def storage_uri(self) -> str:
        """The URI of the group's share (its cloud endpoint)."""
        with self._h.use() as p:
            return _lib.decode(_lib.lib.afs_group_storage_uri(p))

    uri = storage_uri

    @property
    def storage(self) -> Storage:
        """The group's share, for direct reads and edits. Borrowed: it is
        closed with the group (closing it yourself does nothing to the group)."""
        if self._storage is None or self._storage.closed:
            with self._h.use() as p:
                ptr = _lib.lib.afs_group_storage(p)
                if not ptr:
                    raise AfsError("libafs returned no storage for the sync group")
                self._storage = Storage(Handle(ptr, "storage", None, self._h), self)
        return self._storage

    @property
    def journal_stale_limit_s(self) -> int:
        """The journal stale limit in seconds (default 30 days): a server
        endpoint whose journal cursor has not moved for this long no longer
        holds back the pruning of the share's change journal, and enumerates
        the share in full when it syncs again. A group setting, kept in the
        share; assign 0 to restore the default."""
        out = ctypes.c_uint64(0)
        with self._h.use() as p:
            checked(_lib.lib.afs_group_journal_stale_limit(p, ctypes.byref(out)))
        return out.value

    @journal_stale_limit_s.setter
    def journal_stale_limit_s(self, seconds: int) -> None:
        value = _uint("journal_stale_limit_s", seconds, 64)
        with self._h.use() as p:
            checked(_lib.lib.afs_group_set_journal_stale_limit(p, value))

    # ---- server endpoints (shortcuts for the ServerEndpoint class methods) ----

    def create_endpoint(self, path: PathArg,
                        options: Optional[EndpointOptions] = None) -> "ServerEndpoint":
        """:meth:`ServerEndpoint.create` in this group."""
        return ServerEndpoint.create(self, path, options)

    def open_endpoint(self) -> "ServerEndpoint":
        """:meth:`ServerEndpoint.open` in this group."""
        return ServerEndpoint.open(self)

    def endpoints(self) -> List[EndpointInfo]:
        """:meth:`ServerEndpoint.list` of this group."""
        return ServerEndpoint.list(self)

    def delete_endpoint(self) -> None:
        """:meth:`ServerEndpoint.delete` in this group."""
        ServerEndpoint.delete(self)

    def remove_endpoint(self, endpoint_id: str) -> None:
        """Remove another server's endpoint from this group by its id (from
        :meth:`endpoints`), for a server that is gone (its state directory
        lost): its definition, published journal cursor and claim leave the
        share, so that the group can be deleted. No file is deleted anywhere.
        If that server is alive after all, its next sync raises NotFoundError
        and changes nothing, until it deletes its endpoint (files stay) and
        creates it again. InvalidArgumentError for this server's own endpoint
        (use :meth:`delete_endpoint`) or a malformed id; NotFoundError if the
        group has no such endpoint; BusyError if its definition changed
        meanwhile (its server is alive)."""
        with self._h.use() as g:
            checked(_lib.lib.afs_group_remove_endpoint(g, _lib.encode(endpoint_id)))


# ---- server endpoints ----

ProgressFn = Callable[[SyncProgress], Any]


class ServerEndpoint(Owner, EndpointTiering):
    """This server's endpoint (a local folder) in a sync group.

    Create it with :meth:`create` or open the existing one with :meth:`open`.
    It borrows its group: closing the group closes the endpoint. The cloud
    tiering and recall calls (:meth:`tier_pass`, :meth:`tier_file`,
    :meth:`recall`, :meth:`query`, :meth:`heat`, :meth:`stats`, ...) come
    from :class:`afs.tier.EndpointTiering`.
    """

    def __init__(self, handle: Handle, group: SyncGroup) -> None:
        """Internal: use :meth:`create` or :meth:`open`."""
        self._own(handle)
        self._group = group

    @classmethod
    def create(cls, group: SyncGroup, path: PathArg,
               options: Optional[EndpointOptions] = None) -> "ServerEndpoint":
        """Create this server's endpoint in ``group`` at the absolute local
        ``path`` (an existing directory).

        The server endpoint rules are enforced, each with its own
        :class:`~afs.EndpointRuleError` subclass: OnePerServerError,
        OverlapError, SameGroupVolumeError, SystemVolumeError (tiering on the
        system volume), NetworkFileSystemError, EmptyPathError (authoritative
        upload of an empty path), InitialOptionError, AvoidTieredError; plus
        NotFoundError (server not registered), LimitError and
        InvalidArgumentError (bad options, relative path).
        """
        keep: list = []
        c_opts = None
        if options is not None:
            c_opts, keep = options._to_c()
        out = out_ptr()
        with group._h.use() as g:
            checked(_lib.lib.afs_endpoint_create(ctypes.byref(out), g,
                                                 _lib.encode(os.fspath(path)),
                                                 ctypes.byref(c_opts) if c_opts else None))
            h = Handle(out.value, "endpoint", _lib.lib.afs_endpoint_close, group._h)
        del keep
        return cls(h, group)

    @classmethod
    def open(cls, group: SyncGroup) -> "ServerEndpoint":
        """Open this server's endpoint in ``group`` (NotFoundError if it has none)."""
        out = out_ptr()
        with group._h.use() as g:
            checked(_lib.lib.afs_endpoint_open(ctypes.byref(out), g))
            h = Handle(out.value, "endpoint", _lib.lib.afs_endpoint_close, group._h)
        return cls(h, group)

    @staticmethod
    def list(group: SyncGroup) -> List[EndpointInfo]:
        """Every server endpoint of ``group`` (read from the share), oldest first."""
        arr = ctypes.POINTER(ctypes.POINTER(_lib.EndpointInfoC))()
        count = ctypes.c_size_t()
        with group._h.use() as g:
            checked(_lib.lib.afs_endpoint_list(g, ctypes.byref(arr), ctypes.byref(count)))
        try:
            # An array of pointers to rows the library allocated: a row or
            # options struct from a newer libafs may be larger, never moved.
            infos = []
            for i in range(count.value):
                e = arr[i].contents
                if e.version < 1:
                    raise VersionError(f"libafs listed an endpoint of version {e.version}")
                infos.append(EndpointInfo(
                    id=_lib.decode(e.id), server_name=_lib.decode(e.server_name),
                    server_id=_lib.decode(e.server_id), path=_lib.decode(e.path),
                    created_ns=int(e.created_ns),
                    options=EndpointOptions._from_c(e.options.contents)))
            return infos
        finally:
            _lib.lib.afs_endpoint_info_free(arr, count.value)

    @staticmethod
    def delete(group: SyncGroup) -> None:
        """Delete this server's endpoint from ``group``: the group forgets it
        and its sync state is removed; files on the server and in the share
        stay. An open ServerEndpoint of it is closed first."""
        for child in [c for c in group._h.children if c.kind == "endpoint"]:
            child.close()
        with group._h.use() as g:
            checked(_lib.lib.afs_endpoint_delete(g))

    def __repr__(self) -> str:
        return "<afs.ServerEndpoint closed>" if self.closed else \
            f"<afs.ServerEndpoint {self.path!r}>"

    @property
    def group(self) -> SyncGroup:
        """The group this endpoint belongs to."""
        return self._group

    @property
    def path(self) -> str:
        """The endpoint's canonical absolute local path."""
        with self._h.use() as p:
            return _lib.decode(_lib.lib.afs_endpoint_path(p))

    @property
    def id(self) -> str:
        """The endpoint's id (a UUID), as listed by every host."""
        with self._h.use() as p:
            return _lib.decode(_lib.lib.afs_endpoint_id(p))

    # ---- options ----

    def get_options(self) -> EndpointOptions:
        """The endpoint's current options, with the library's effective defaults."""
        # The library fills in only the fields of the version we give, so a
        # newer libafs with a larger struct writes nothing past ours.
        o = _lib.EndpointOptionsC()
        o.version = _lib.AFS_ENDPOINT_OPTIONS_VERSION
        with self._h.use() as p:
            checked(_lib.lib.afs_endpoint_get_options(p, ctypes.byref(o)))
            return EndpointOptions._from_c(o)  # exclude strings belong to the handle

    def set_options(self, options: EndpointOptions) -> None:
        """Change what may change (tiering policy, cache mode, safety net,
        change detection interval, exclusions). Changing the initial sync or
        download option raises :class:`~afs.ImmutableOptionError`."""
        c_opts, keep = options._to_c()
        with self._h.use() as p:
            checked(_lib.lib.afs_endpoint_set_options(p, ctypes.byref(c_opts)))
        del keep

    options = property(get_options, set_options, doc="The endpoint's options (get and set).")

    def update_options(self, **changes: Any) -> EndpointOptions:
        """Change some options, keeping the rest: ``ep.update_options(exclude=["*.bak"])``.
        Returns the new options."""
        opts = dataclasses.replace(self.get_options(), **changes)
        self.set_options(opts)
        return self.get_options()

    # ---- sessions ----

    def sync(self, *, force: bool = False, full_cloud_scan: bool = False,
             progress: Optional[ProgressFn] = None, threads: int = 0) -> SyncResult:
        """Run one sync session and return its result.

        Args:
            force: go past the safety net (mass deletions are intended).
            full_cloud_scan: enumerate the whole share now, finding edits made
                in it directly (otherwise done at the change detection interval).
            progress: called with a SyncProgress at phase changes and every few
                hundred items. An exception it raises cancels the session
                cleanly (work done so far is kept) and is re-raised here.
            threads: transfer threads; 0 = the library default.

        Per-item failures do not raise: see ``result.item_errors`` and
        :meth:`errors`. A session stopped early raises, with the session's
        SyncResult as the exception's ``result`` attribute: SafetyNetError
        (nothing was deleted; use ``force``), BusyError (another session of
        this endpoint is running), storage and state errors.
        """
        o = _lib.SyncOptionsC()
        checked(_lib.lib.afs_sync_options_init(ctypes.byref(o), _lib.AFS_SYNC_OPTIONS_VERSION))
        if force:
            o.flags |= _lib.AFS_SYNC_FORCE
        if full_cloud_scan:
            o.flags |= _lib.AFS_SYNC_FULL_CLOUD_SCAN
        o.threads = _uint("threads", threads, 32)
        trap = Trap()
        cb = None
        if progress is not None:
            def on_progress(p: Any, payload: Any) -> int:
                return trap.run(lambda: progress(_progress_from_c(p.contents)))
            cb = _lib.PROGRESS_FN(on_progress)
            o.progress = cb
        r, r_ptr = _lib.out_param(_lib.SyncResultC, _lib.AFS_SYNC_RESULT_VERSION)
        with self._h.use() as p:
            rc = _lib.lib.afs_endpoint_sync(p, ctypes.byref(o), r_ptr)
            result = SyncResult._from_c(r)
            checked_result(rc, trap, result)
        del cb
        return result

    def last_result(self) -> Optional[SyncResult]:
        """The result of the endpoint's last finished session, None before the first."""
        r, r_ptr = _lib.out_param(_lib.SyncResultC, _lib.AFS_SYNC_RESULT_VERSION)
        with self._h.use() as p:
            rc = _lib.lib.afs_endpoint_last_result(p, r_ptr)
            if rc == ErrorCode.ENOTFOUND:
                _lib.lib.afs_error_clear()
                return None
            checked(rc)
        return SyncResult._from_c(r)

    def errors(self) -> List[ItemError]:
        """The endpoint's current per-item errors (kept until the item syncs)."""
        arr = ctypes.POINTER(ctypes.POINTER(_lib.ItemErrorC))()
        count = ctypes.c_size_t()
        with self._h.use() as p:
            checked(_lib.lib.afs_endpoint_errors(p, ctypes.byref(arr), ctypes.byref(count)))
        try:
            out = []
            for i in range(count.value):
                e = arr[i].contents
                if e.version < 1:
                    raise VersionError(f"libafs listed an item error of version {e.version}")
                try:
                    code: int = ErrorCode(e.code)
                except ValueError:
                    code = int(e.code)
                out.append(ItemError(path=_lib.decode(e.path), code=code,
                                     message=_lib.decode(e.message), count=int(e.count),
                                     persistent=bool(e.persistent), first_ns=int(e.first_ns),
                                     last_ns=int(e.last_ns)))
            return out
        finally:
            _lib.lib.afs_item_errors_free(arr, count.value)


def _progress_from_c(p: _lib.SyncProgressC) -> SyncProgress:
    if p.version < 1:  # the fields below are those of version 1
        raise VersionError(f"libafs reported progress of version {p.version}")
    try:
        phase: Any = SyncPhase(p.phase)
    except ValueError:  # a phase from a newer libafs
        phase = int(p.phase)
    return SyncProgress(phase=phase, items_done=int(p.items_done),
                        items_total=int(p.items_total), bytes_done=int(p.bytes_done),
                        bytes_total=int(p.bytes_total))

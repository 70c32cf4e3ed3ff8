"""Cloud tiering and recall (``include/afs/tier.h``, docs/tiering.md).

A server endpoint with tiering on (:class:`~afs.TieringPolicy` with
``enabled=True``) keeps hot files on disk and turns cold ones into
placeholders: the file keeps its name, logical size and times, its blocks are
freed, and a tier marker names the cloud version it stands for. Reading the
data back is a recall.

The calls are methods of :class:`~afs.ServerEndpoint` (this module's
:class:`EndpointTiering` is one of its bases) and of :class:`~afs.Service`
(:meth:`~afs.Service.heat`, :meth:`~afs.Service.volume_stats`)::

    ep.tier_pass()                    # the policies, as a host runs them on a timer
    ep.tier_file("old/report.docx")   # force (Invoke-StorageSyncCloudTiering)
    ep.query("old/report.docx").state # TierState.TIERED
    ep.recall("old", threads=8)       # Invoke-StorageSyncFileRecall
    ep.heat(HeatOrder.SPACE_POLICY)   # Get-StorageSyncHeatStoreInformation
    ep.stats().tiered_files

Paths are absolute inside the endpoint or relative to its root ("" is the
whole endpoint).
"""

from __future__ import annotations

import ctypes
import dataclasses
import enum
import os
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

from . import _lib
from ._callback import Trap, checked, checked_result, checked_strings
from ._handle import Handle
from .errors import InvalidArgumentError, VersionError
from .storage import _TIME_OMIT  # AFS_TIME_OMIT: "now" for the time arguments

__all__ = [
    "TierState",
    "HeatOrder",
    "RecallOrder",
    "ProvisioningStatus",
    "TierMarker",
    "TierInfo",
    "TierResult",
    "HeatEntry",
    "RecallProgress",
    "RecallResult",
    "TierStats",
    "ProvisioningStep",
    "Provisioning",
    "EndpointTiering",
]

PathArg = Union[str, "os.PathLike[str]"]


class TierState(enum.IntEnum):
    """What a file on a tiering endpoint is (``afs_tier_state``)."""

    FULL = 0  #: all its data on disk, no marker
    TIERED = 1  #: a placeholder: no data on disk
    PARTIAL = 2  #: a placeholder with some ranges recalled


class HeatOrder(enum.IntEnum):
    """Orders of the heat store report (``afs_heat_order``)."""

    SPACE_POLICY = 1  #: what the free space policy tiers next, coolest first
    DATE_POLICY = 2  #: what the date policy tiers now
    LAST_ACCESS = 3  #: every file, most recent access first
    RECALL = 4  #: placeholders in the order a bulk recall brings them back


class RecallOrder(enum.IntEnum):
    """The order of a folder recall (``AFS_RECALL_ORDER_*``)."""

    POLICY = 0  #: hottest first: the reverse of the tiering order
    PATH = 1  #: by path


class ProvisioningStatus(enum.IntEnum):
    """A new endpoint's provisioning, or one step of it (``afs_provisioning_status``)."""

    NOT_STARTED = 0
    IN_PROGRESS = 1
    READY_SYNC_NOT_FUNCTIONAL = 2  #: the namespace is there; changes sync after the first session
    READY_SYNC_FUNCTIONAL = 3  #: ready; for a step: finished
    ERROR = 4


def _enum(e: Any, v: int) -> Any:
    try:
        return e(v)
    except ValueError:  # a value from a newer libafs
        return int(v)


@dataclass(frozen=True)
class TierMarker:
    """A placeholder's tier marker, decoded (docs/tiering.md#the-marker)."""

    version: int
    flags: int
    namespace_only: bool  #: created from the cloud, never downloaded
    tiered_ns: int  #: when the file was tiered (or the placeholder created)
    recalled_bytes: int  #: bytes the marker records as present on disk
    cloud_path: str  #: the file's path in the share
    etag: str  #: the cloud version the placeholder stands for
    ranges: Tuple[Tuple[int, int], ...]  #: (offset, length) pairs present on disk
    raw: bytes  #: the marker as stored


@dataclass(frozen=True)
class TierInfo:
    """One file's tiering state (``afs_tier_query``): Size and Size on disk, and
    the marker (None for a full file)."""

    state: TierState
    size: int  #: logical size in bytes
    size_on_disk: int  #: bytes allocated on disk
    mtime_ns: int
    marker: Optional[TierMarker]

    @property
    def is_placeholder(self) -> bool:
        """True for a tiered or partially recalled file."""
        return self.state != TierState.FULL


@dataclass(frozen=True)
class TierResult:
    """The outcome of a tiering pass or a forced tiering (``afs_tier_result``)."""

    started_ns: int
    finished_ns: int
    files_tiered: int
    bytes_freed: int
    files_tiered_date: int  #: by the date policy
    files_tiered_space: int  #: by the volume free space policy
    files_tiered_evict: int  #: recalled on access in low disk space mode, tiered again
    skipped_not_synced: int  #: content not (yet) confirmed in the cloud
    skipped_small: int
    skipped_excluded: int
    skipped_pinned: int
    skipped_changed: int
    item_errors: int
    volume_total_bytes: int
    free_bytes_before: int
    free_bytes_after: int
    target_free_bytes: int  #: 0 when the free space policy did not apply
    free_space_percent: int  #: the largest of the volume's endpoints
    low_disk_space: bool
    next_interval_s: int  #: when to run the next pass


@dataclass(frozen=True)
class HeatEntry:
    """One row of the heat store report (``afs_heat_entry``)."""

    path: str  #: absolute local path
    endpoint_id: str
    state: TierState
    pinned: bool
    size: int
    size_on_disk: int
    access_count: int
    last_access_ns: int  #: 0: never reported
    mtime_ns: int
    btime_ns: int  #: 0: unknown
    position_ns: int  #: MAX(last access, last write, created)


@dataclass(frozen=True)
class RecallProgress:
    """What a recall's progress callback receives; the totals are known first."""

    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int


@dataclass(frozen=True)
class RecallResult:
    """The outcome of a recall (``afs_recall_result``)."""

    started_ns: int
    finished_ns: int
    files_recalled: int  #: placeholders that became full files
    bytes_recalled: int  #: bytes fetched from the cloud
    files_already_local: int
    files_failed: int
    retries: int
    first_error: int  #: the code of the first file that failed, 0 if none


@dataclass(frozen=True)
class TierStats:
    """Tiering and recall statistics of an endpoint or a volume (``afs_tier_stats``)."""

    files: int
    tiered_files: int
    tiered_bytes: int  #: logical bytes of placeholders not on disk
    local_bytes: int  #: the server's cache size
    files_tiered_total: int
    bytes_tiered_total: int
    accesses: int
    access_recalls: int  #: recalls on access that fetched data (cache misses)
    cache_hit_percent: int
    low_disk_space: bool
    recalls: int
    recall_bytes: int
    recall_failures: int
    recall_ns: int
    recall_bytes_per_s: int
    recall_success_percent: int
    free_space_percent: int
    volume_total_bytes: int
    volume_free_bytes: int


@dataclass(frozen=True)
class ProvisioningStep:
    """One provisioning step: the namespace, or the content after it."""

    status: ProvisioningStatus
    percent: int
    started_ns: int  #: 0 if not started
    finished_ns: int  #: 0 if not finished
    error: int  #: the code when status is ERROR


@dataclass(frozen=True)
class Provisioning:
    """A server endpoint's provisioning (``afs_endpoint_provisioning``)."""

    status: ProvisioningStatus
    namespace_download: ProvisioningStep
    content_download: ProvisioningStep


def _fields(cls: Any, c: Any, **override: Any) -> Any:
    values = {f.name: getattr(c, f.name) for f in dataclasses.fields(cls) if f.name not in override}
    values.update(override)
    return cls(**values)


def _tier_result(r: Any) -> TierResult:
    return _fields(TierResult, r, low_disk_space=bool(r.low_disk_space))


def _stats(s: Any) -> TierStats:
    return _fields(TierStats, s, low_disk_space=bool(s.low_disk_space))


def _u32(what: str, v: Any, lo: int = 0, hi: int = 2 ** 32 - 1) -> int:
    v = int(v)
    if not lo <= v <= hi:
        raise InvalidArgumentError(f"{what} must be between {lo} and {hi}, not {v}")
    return v


def _path(p: PathArg) -> bytes:
    return _lib.encode(os.fspath(p))


def heat_list(svc: Handle, volume_path: PathArg, order: HeatOrder, limit: int,
              now_ns: Optional[int]) -> List[HeatEntry]:
    """afs_heat_list for :meth:`afs.Service.heat` and :meth:`EndpointTiering.heat`."""
    o = _lib.HeatListOptionsC()
    checked(_lib.lib.afs_heat_list_options_init(ctypes.byref(o),
                                                _lib.AFS_HEAT_LIST_OPTIONS_VERSION))
    o.order = _u32("order", order, 1)
    if int(limit) < 0:
        raise InvalidArgumentError(f"limit must be 0 (no limit) or more, not {limit}")
    o.limit = int(limit)
    if now_ns is not None:
        o.now_ns = int(now_ns)
    arr = ctypes.POINTER(ctypes.POINTER(_lib.HeatEntryC))()
    n = ctypes.c_size_t()
    with svc.use() as p:
        checked(_lib.lib.afs_heat_list(p, _path(volume_path), ctypes.byref(o), ctypes.byref(arr),
                                       ctypes.byref(n)))
    try:
        rows = [arr[i].contents for i in range(n.value)]
        for e in rows:
            if e.version < 1:
                raise VersionError(f"libafs listed a heat entry of version {e.version}")
        return [HeatEntry(path=_lib.decode(e.path), endpoint_id=_lib.decode(e.endpoint_id),
                          state=_enum(TierState, e.state), pinned=bool(e.pinned),
                          size=int(e.size), size_on_disk=int(e.size_on_disk),
                          access_count=int(e.access_count), last_access_ns=int(e.last_access_ns),
                          mtime_ns=int(e.mtime_ns), btime_ns=int(e.btime_ns),
                          position_ns=int(e.position_ns))
                for e in rows]
    finally:
        _lib.lib.afs_heat_entries_free(arr, n.value)


def volume_stats(svc: Handle, volume_path: PathArg) -> TierStats:
    """afs_tier_volume_stats for :meth:`afs.Service.volume_stats`."""
    s, s_ptr = _lib.out_param(_lib.TierStatsC, _lib.AFS_TIER_STATS_VERSION)
    with svc.use() as p:
        checked(_lib.lib.afs_tier_volume_stats(p, _path(volume_path), s_ptr))
    return _stats(s)


RecallProgressFn = Callable[[RecallProgress], Any]


class EndpointTiering:
    """The tiering calls of :class:`~afs.ServerEndpoint` (one of its bases).

    Like every endpoint call: one thread at a time per endpoint object. The
    recall calls start their own threads inside the library.
    """

    _h: Handle
    path: str

    # ---- placeholders ----

    def query(self, path: PathArg) -> TierInfo:
        """A file's tiering state: size, size on disk, its marker.

        Raises NotFoundError, IsDirectoryError, CorruptError (a marker that
        does not parse: the file is left alone), InvalidArgumentError (a path
        outside the endpoint).
        """
        info, info_ptr = _lib.out_param(_lib.TierInfoC, _lib.AFS_TIER_INFO_VERSION)
        with self._h.use() as p:
            try:
                checked(_lib.lib.afs_tier_query(p, _path(path), info_ptr))
                marker = None
                if info.marker_len:
                    marker = TierMarker(
                        version=int(info.marker_version), flags=int(info.marker_flags),
                        namespace_only=bool(info.marker_flags & _lib.AFS_TIER_MARKER_NAMESPACE),
                        tiered_ns=int(info.tiered_ns), recalled_bytes=int(info.recalled_bytes),
                        cloud_path=_lib.decode(info.cloud_path), etag=_lib.decode(info.etag),
                        ranges=tuple((int(info.ranges[2 * i]), int(info.ranges[2 * i + 1]))
                                     for i in range(info.range_count)),
                        raw=ctypes.string_at(info.marker, info.marker_len))
                return TierInfo(state=_enum(TierState, info.state), size=int(info.size),
                                size_on_disk=int(info.size_on_disk),
                                mtime_ns=int(info.mtime_ns), marker=marker)
            finally:
                _lib.lib.afs_tier_info_clear(info_ptr)

    # ---- tiering ----

    def tier_pass(self, *, dry_run: bool = False, scan: bool = False,
                  now_ns: Optional[int] = None) -> TierResult:
        """Run one tiering pass on this endpoint's volume (every tiering
        endpoint of the service there): files recalled on access in low disk
        space mode, then the date policy, then the volume free space policy.
        A host calls it every ``result.next_interval_s`` seconds.

        Args:
            dry_run: count what would be tiered, touch nothing.
            scan: first walk the endpoints to refresh the heat store.
            now_ns: the time the date policy measures from (None: now).

        Raises NotSupportedError (a file system that cannot hold
        placeholders), heat store and file system errors that stop the pass.
        Per-file failures are counted in the result.
        """
        o = _lib.TierPassOptionsC()
        checked(_lib.lib.afs_tier_pass_options_init(ctypes.byref(o),
                                                    _lib.AFS_TIER_PASS_OPTIONS_VERSION))
        if dry_run:
            o.flags |= _lib.AFS_TIER_PASS_DRY_RUN
        if scan:
            o.flags |= _lib.AFS_TIER_PASS_SCAN
        if now_ns is not None:
            o.now_ns = int(now_ns)
        r, r_ptr = _lib.out_param(_lib.TierResultC, _lib.AFS_TIER_RESULT_VERSION)
        with self._h.use() as p:
            checked(_lib.lib.afs_tier_pass(p, ctypes.byref(o), r_ptr))
        return _tier_result(r)

    def tier_file(self, path: PathArg = "") -> TierResult:
        """Tier a file, or every file below a folder, now, whatever the
        policies say. Files not confirmed in the cloud, too small, pinned or
        excluded are skipped (counted in the result); for a single file the
        reason raises: ConditionError (not confirmed in the cloud, or changed
        while tiering), PermissionDeniedError (pinned, excluded, below the
        minimum size, or tiering off; the message says which)."""
        r, r_ptr = _lib.out_param(_lib.TierResultC, _lib.AFS_TIER_RESULT_VERSION)
        with self._h.use() as p:
            checked(_lib.lib.afs_tier_file(p, _path(path), r_ptr))
        return _tier_result(r)

    def tier_interval(self) -> Tuple[int, bool]:
        """(seconds until the next tiering pass, low disk space mode): (3600,
        False), or (60, True) when the volume is under 10% free."""
        secs, low = ctypes.c_uint32(), ctypes.c_uint32()
        with self._h.use() as p:
            checked(_lib.lib.afs_tier_interval(p, ctypes.byref(secs), ctypes.byref(low)))
        return int(secs.value), bool(low.value)

    # ---- heat: accesses, pins, exclusions ----

    def access(self, path: PathArg, *, write: bool = False, no_heat: bool = False,
               when_ns: Optional[int] = None) -> None:
        """Report an access to a file (a read, or a write), now or at
        ``when_ns``. ``no_heat`` marks an access by a process that must not
        keep files hot (a virus scanner, a backup): it is then not counted."""
        flags = _lib.AFS_TIER_ACCESS_WRITE if write else _lib.AFS_TIER_ACCESS_READ
        if no_heat:
            flags |= _lib.AFS_TIER_ACCESS_NO_HEAT
        with self._h.use() as p:
            checked(_lib.lib.afs_tier_access(p, _path(path), flags,
                                             _TIME_OMIT if when_ns is None else int(when_ns)))

    def pin(self, path: PathArg, pinned: bool = True) -> None:
        """Mark a file or folder always local (never tiered), or normal again.
        Pinning does not recall: call :meth:`recall` for that."""
        with self._h.use() as p:
            checked(_lib.lib.afs_tier_pin(p, _path(path), 1 if pinned else 0))

    def unpin(self, path: PathArg) -> None:
        """``pin(path, False)``."""
        self.pin(path, False)

    def pins(self) -> List[str]:
        """The pinned paths (relative to the endpoint), sorted."""
        with self._h.use() as p:
            return checked_strings(_lib.lib.afs_tier_pins, p)

    def get_tier_exclusions(self) -> List[str]:
        """The tiering exclusion patterns: matching files are never tiered (they still sync)."""
        with self._h.use() as p:
            return checked_strings(_lib.lib.afs_tier_exclude_get, p)

    def set_tier_exclusions(self, patterns: Sequence[str]) -> None:
        """Replace the tiering exclusion patterns (globs: with a '/' they match
        the relative path, otherwise the name). InvalidArgumentError for an
        empty pattern."""
        if isinstance(patterns, (str, bytes)):
            raise InvalidArgumentError("patterns is a list of globs, not one string")
        enc = [_lib.encode(x) for x in patterns]
        arr = (ctypes.c_char_p * max(1, len(enc)))(*enc)
        with self._h.use() as p:
            checked(_lib.lib.afs_tier_exclude_set(p, arr, len(enc)))

    tier_exclusions = property(get_tier_exclusions, set_tier_exclusions,
                               doc="The tiering exclusion patterns (get and set).")

    def heat(self, order: HeatOrder = HeatOrder.SPACE_POLICY, limit: int = 100,
             now_ns: Optional[int] = None) -> List[HeatEntry]:
        """The heat store report of this endpoint's volume (every endpoint of
        the service there) in ``order``; ``limit`` 0 means every row."""
        svc = self.group.service._h  # type: ignore[attr-defined]
        return heat_list(svc, self.path, order, limit, now_ns)

    # ---- recall ----

    def recall(self, path: PathArg = "", *, threads: int = 1,
               order: RecallOrder = RecallOrder.POLICY, retries: int = 3,
               retry_delay: float = 1.0, on_access: bool = False,
               progress: Optional[RecallProgressFn] = None) -> RecallResult:
        """Recall a placeholder, or every placeholder below a folder, in full.

        Args:
            threads: 1 to 32; a folder's files are recalled in parallel, a
                single large file is fetched in parallel pieces.
            order: hottest first (POLICY) or by path.
            retries: extra tries per file after a transient failure.
            retry_delay: seconds between tries.
            on_access: the recall serves an application's access (counts as
                a cache miss; not kept in low disk space mode).
            progress: called with a RecallProgress once the placeholders are
                counted, after each piece and each file (from the library's
                threads, one call at a time). An exception it raises stops
                the recall cleanly (what was fetched is kept; every file is a
                placeholder or complete) and is re-raised here.

        Raises the first failure, with the RecallResult as ``.result``:
        ConditionError (the cloud copy changed since the file was tiered;
        nothing of it was written), NoSpaceError (stopped cleanly),
        NotFoundError, storage errors.
        """
        o = _lib.RecallOptionsC()
        checked(_lib.lib.afs_recall_options_init(ctypes.byref(o),
                                                 _lib.AFS_RECALL_OPTIONS_VERSION))
        o.threads = _u32("threads", threads, 1, 32)
        o.order = _u32("order", order, 0, 1)
        o.retry_count = _u32("retries", retries)
        if not 0 <= float(retry_delay) <= 4294967:
            raise InvalidArgumentError(f"retry_delay must be 0 or more seconds, not {retry_delay}")
        o.retry_delay_ms = int(float(retry_delay) * 1000)
        o.flags = _lib.AFS_RECALL_ON_ACCESS if on_access else 0
        trap = Trap()
        cb = None
        if progress is not None:
            def on_progress(pp: Any, payload: Any) -> int:
                c = pp.contents
                if c.version < 1:
                    return trap.run(_raise_version, c.version)
                return trap.run(progress, RecallProgress(
                    files_done=int(c.files_done), files_total=int(c.files_total),
                    bytes_done=int(c.bytes_done), bytes_total=int(c.bytes_total)))
            cb = _lib.RECALL_PROGRESS_FN(on_progress)
            o.progress = cb
        r, r_ptr = _lib.out_param(_lib.RecallResultC, _lib.AFS_RECALL_RESULT_VERSION)
        with self._h.use() as p:
            rc = _lib.lib.afs_tier_recall(p, _path(path), ctypes.byref(o), r_ptr)
            result = _fields(RecallResult, r)
            checked_result(rc, trap, result)
        del cb
        return result

    def recall_range(self, path: PathArg, offset: int, length: int, *,
                     on_access: bool = False) -> None:
        """Partial recall: make bytes [offset, offset + length) of a file
        present, fetching only the missing 1 MiB chunks that overlap them. A
        file whose ranges then cover it becomes a normal file again."""
        if int(offset) < 0 or int(length) < 0:
            raise InvalidArgumentError("offset and length must not be negative")
        with self._h.use() as p:
            checked(_lib.lib.afs_tier_recall_range(
                p, _path(path), int(offset), int(length),
                _lib.AFS_RECALL_ON_ACCESS if on_access else 0))

    def read(self, path: PathArg, offset: int = 0, size: int = -1) -> bytes:
        """Read through a placeholder: recall the range as an access, then read
        it (for hosts without transparent recall). ``size`` -1: to the end."""
        if size < 0:
            size = max(0, self.query(path).size - int(offset))
        buf = ctypes.create_string_buffer(max(1, size))
        n = ctypes.c_size_t()
        with self._h.use() as p:
            checked(_lib.lib.afs_tier_read(p, _path(path), int(offset), buf, size,
                                           ctypes.byref(n)))
        return buf.raw[:n.value]

    # ---- statistics, provisioning ----

    def stats(self) -> TierStats:
        """This endpoint's tiering and recall statistics."""
        s, s_ptr = _lib.out_param(_lib.TierStatsC, _lib.AFS_TIER_STATS_VERSION)
        with self._h.use() as p:
            checked(_lib.lib.afs_tier_stats_get(p, s_ptr))
        return _stats(s)

    def provisioning(self) -> Provisioning:
        """The endpoint's provisioning: the namespace step, the content step
        (namespace then content), and its overall state."""
        pv, pv_ptr = _lib.out_param(_lib.ProvisioningC, _lib.AFS_PROVISIONING_VERSION)
        with self._h.use() as p:
            checked(_lib.lib.afs_endpoint_provisioning(p, pv_ptr))

        def step(s: Any) -> ProvisioningStep:
            return ProvisioningStep(status=_enum(ProvisioningStatus, s.status),
                                    percent=int(s.percent), started_ns=int(s.started_ns),
                                    finished_ns=int(s.finished_ns), error=int(s.error))
        return Provisioning(status=_enum(ProvisioningStatus, pv.status),
                            namespace_download=step(pv.namespace_download),
                            content_download=step(pv.content_download))


def _raise_version(v: int) -> None:
    raise VersionError(f"libafs reported recall progress of version {v}")

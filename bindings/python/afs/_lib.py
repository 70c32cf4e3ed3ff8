"""Loading libafs and describing its C API to ctypes.

Nothing here is public: the rest of the package wraps it. Every struct below
mirrors one in ``include/afs/*.h`` field by field (the test suite compares
their sizes and offsets with the C compiler's), and every function gets its
``argtypes`` and ``restype`` so that ctypes converts and checks arguments.

The library is found through the ``AFS_LIBRARY`` environment variable (a path
to ``libafs.so``), else by its SONAME ``libafs.so.0`` through the dynamic
linker's usual search (``ldconfig`` cache, ``LD_LIBRARY_PATH``).
"""

from __future__ import annotations

import ctypes
import os
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char,
    c_char_p,
    c_int,
    c_int64,
    c_size_t,
    c_uint,
    c_uint32,
    c_uint64,
    c_void_p,
)
from typing import Optional, Tuple

#: The SONAME of the ABI generation this package speaks (``AFS_SOVERSION`` 0).
SONAME = "libafs.so.0"

#: The library version this package was written for: a library of the same
#: major version and at least this minor version is accepted
#: (docs/api-conventions.md#abi: 0.x releases only add to the 0.1 ABI).
REQUIRED_VERSION: Tuple[int, int] = (0, 1)


class LibraryLoadError(ImportError):
    """libafs could not be loaded (not installed, or ``AFS_LIBRARY`` is wrong)."""


class LibraryVersionError(ImportError):
    """The loaded libafs is not a version this package can use."""


def split_version(num: int) -> Tuple[int, int, int]:
    """Split an ``AFS_VERSION_NUM``-style number into (major, minor, patch)."""
    return (num >> 16) & 0xFF, (num >> 8) & 0xFF, num & 0xFF


def check_version(num: int, where: str = "libafs") -> Tuple[int, int, int]:
    """Raise LibraryVersionError unless ``num`` is compatible with REQUIRED_VERSION.

    Compatible means the same major version and a minor version at least the
    required one: a 0.x library keeps the ABI of 0.1 and only adds to it.
    """
    major, minor, patch = split_version(num)
    want_major, want_minor = REQUIRED_VERSION
    if major != want_major or minor < want_minor:
        raise LibraryVersionError(
            f"{where} is version {major}.{minor}.{patch}, but this afs package needs "
            f"{want_major}.{want_minor} or a later {want_major}.x; install a matching libafs "
            f"or point AFS_LIBRARY at one"
        )
    return major, minor, patch


def _load() -> Tuple[ctypes.CDLL, str]:
    path = os.environ.get("AFS_LIBRARY")
    if path:
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            raise LibraryLoadError(
                f"AFS_LIBRARY={path!r} could not be loaded: {e}; set it to the path of a "
                f"built libafs.so (for example build/libafs.so) or unset it to use the "
                f"installed {SONAME}"
            ) from None
    try:
        return ctypes.CDLL(SONAME), SONAME
    except OSError as e:
        raise LibraryLoadError(
            f"{SONAME} could not be loaded ({e}); install libafs (cmake --install build), "
            f"add its lib directory to LD_LIBRARY_PATH, or set AFS_LIBRARY to the path of "
            f"libafs.so"
        ) from None


lib, lib_path = _load()

# ---- common.h, errors.h, version.h --------------------------------------

# Error codes that the binding itself needs (errors.h, append-only).
AFS_EUSER = -12
AFS_EITEROVER = -20

LOG_FN = CFUNCTYPE(None, c_int, c_char_p, c_void_p)
READ_FN = CFUNCTYPE(c_int, c_uint64, c_void_p, c_size_t, POINTER(c_size_t), c_void_p)


def _fn(name: str, restype, *argtypes) -> None:
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)


try:
    _fn("afs_version", c_uint)
    _fn("afs_version_string", c_char_p)
except AttributeError:
    raise LibraryLoadError(f"{lib_path} does not export afs_version(); is it libafs?") from None
version_num: int = int(lib.afs_version())
version_tuple = check_version(version_num, f"libafs at {lib_path}")

_fn("afs_free", None, c_void_p)
_fn("afs_strerror", c_char_p, c_int)
_fn("afs_error_last", c_char_p)
_fn("afs_error_last_code", c_int)
_fn("afs_error_clear", None)
_fn("afs_error_set_str", c_int, c_int, c_char_p)
_fn("afs_log_set", c_int, LOG_FN, c_int, c_void_p)

# ---- sys/fs.h (handles only: a filesystem vtable written in Python is not bound) ----

_fn("afs_fs_posix_new", c_int, POINTER(c_void_p))
_fn("afs_fs_free", None, c_void_p)

# ---- sys/storage.h, storage.h --------------------------------------------

AFS_ETAG_MAX = 128
AFS_STORAGE_MARKER_MAX = 2048
AFS_STORAGE_CTL_NAME = 1


class StorageEntryC(Structure):
    _fields_ = [
        ("name", c_void_p),  # bytes of name_len; may hold NUL from a hostile backend
        ("name_len", c_size_t),
        ("status", c_int),
        ("type", c_uint32),
        ("attributes", c_uint32),
        ("size", c_uint64),
        ("mtime_ns", c_int64),
        ("btime_ns", c_int64),
        ("etag", c_char * AFS_ETAG_MAX),
    ]


AFS_STORAGE_PUT_OPTIONS_VERSION = 1


class StoragePutOptionsC(Structure):
    _fields_ = [
        ("version", c_uint),
        ("condition", c_uint),
        ("if_match", c_char_p),
        ("mtime_ns", c_int64),
        ("btime_ns", c_int64),
        ("attributes", c_uint32),
        ("meta_count", c_size_t),
        ("meta_keys", POINTER(c_char_p)),
        ("meta_values", POINTER(c_char_p)),
    ]


AFS_STORAGE_LOCAL_OPTIONS_VERSION = 1


class StorageLocalOptionsC(Structure):
    _fields_ = [("version", c_uint), ("flags", c_uint32)]


LIST_FN = CFUNCTYPE(c_int, POINTER(StorageEntryC), c_void_p)
OPEN_FN = CFUNCTYPE(c_int, POINTER(c_void_p), c_char_p, c_void_p)

_fn("afs_storage_free", None, c_void_p)
_fn("afs_storage_local_options_init", c_int, POINTER(StorageLocalOptionsC), c_uint)
_fn("afs_storage_local_new", c_int, POINTER(c_void_p), c_char_p, POINTER(StorageLocalOptionsC))
_fn("afs_storage_open", c_int, POINTER(c_void_p), c_char_p)
_fn("afs_storage_scheme_register", c_int, c_char_p, OPEN_FN, c_void_p)
_fn("afs_storage_put_options_init", c_int, POINTER(StoragePutOptionsC), c_uint)
_fn("afs_storage_list", c_int, c_void_p, c_char_p, c_char_p, LIST_FN, c_void_p,
    POINTER(c_char), c_size_t)
_fn("afs_storage_list_all", c_int, c_void_p, c_char_p, LIST_FN, c_void_p)
_fn("afs_storage_stat", c_int, c_void_p, c_char_p, POINTER(StorageEntryC))
_fn("afs_storage_read", c_int, c_void_p, c_char_p, c_uint64, c_void_p, c_size_t,
    POINTER(c_size_t), c_char_p)
_fn("afs_storage_put", c_int, c_void_p, c_char_p, READ_FN, c_void_p, c_uint64,
    POINTER(StoragePutOptionsC), POINTER(StorageEntryC))
_fn("afs_storage_put_buffer", c_int, c_void_p, c_char_p, c_void_p, c_size_t,
    POINTER(StoragePutOptionsC), POINTER(StorageEntryC))
_fn("afs_storage_remove", c_int, c_void_p, c_char_p, c_char_p)
_fn("afs_storage_mkdir", c_int, c_void_p, c_char_p)
_fn("afs_storage_rmdir", c_int, c_void_p, c_char_p)
_fn("afs_storage_rename", c_int, c_void_p, c_char_p, c_char_p, c_char_p, c_uint)
_fn("afs_storage_set_props", c_int, c_void_p, c_char_p, c_int64, c_uint32, c_char_p,
    POINTER(StorageEntryC))
_fn("afs_storage_meta_get", c_int, c_void_p, c_char_p, c_char_p, POINTER(c_char), c_size_t,
    POINTER(c_size_t))
_fn("afs_storage_ctl", c_int, c_void_p, c_int, c_void_p)
_fn("afs_name_check", c_int, c_char_p, c_size_t)

# ---- service.h -----------------------------------------------------------

AFS_SERVICE_OPTIONS_VERSION = 1


class ServiceOptionsC(Structure):
    _fields_ = [("version", c_uint), ("fs", c_void_p)]


_fn("afs_service_options_init", c_int, POINTER(ServiceOptionsC), c_uint)
_fn("afs_service_open", c_int, POINTER(c_void_p), c_char_p, POINTER(ServiceOptionsC))
_fn("afs_service_close", None, c_void_p)
_fn("afs_server_register", c_int, c_void_p, c_char_p)
_fn("afs_server_info", c_int, c_void_p, POINTER(c_char_p), POINTER(c_char_p))

# ---- group.h -------------------------------------------------------------


class StrArrayC(Structure):
    _fields_ = [("strings", POINTER(c_char_p)), ("count", c_size_t)]


AFS_ENDPOINT_OPTIONS_VERSION = 1


class EndpointOptionsC(Structure):
    _fields_ = [
        ("version", c_uint),
        ("initial_sync", c_uint32),
        ("initial_download", c_uint32),
        ("local_cache_mode", c_uint32),
        ("tiering_enabled", c_uint32),
        ("tiering_free_space_percent", c_uint32),
        ("tiering_date_days", c_uint32),
        ("tiering_min_file_size", c_uint64),
        ("safety_delete_percent", c_uint32),
        ("change_detection_interval_s", c_uint32),
        ("exclude", POINTER(c_char_p)),
        ("exclude_count", c_size_t),
    ]


AFS_ENDPOINT_INFO_VERSION = 1


# A row of afs_endpoint_list(): the library allocates each row on its own and
# returns an array of pointers to them, so rows may grow at the end (only the
# fields of version 1 are described here).
class EndpointInfoC(Structure):
    _fields_ = [
        ("version", c_uint),
        ("id", c_char_p),
        ("server_name", c_char_p),
        ("server_id", c_char_p),
        ("path", c_char_p),
        ("created_ns", c_int64),
        ("options", POINTER(EndpointOptionsC)),
    ]


_fn("afs_strarray_free", None, POINTER(StrArrayC))
_fn("afs_group_create", c_int, POINTER(c_void_p), c_void_p, c_char_p, c_char_p)
_fn("afs_group_open", c_int, POINTER(c_void_p), c_void_p, c_char_p, c_char_p)
_fn("afs_group_close", None, c_void_p)
_fn("afs_group_delete", c_int, c_void_p, c_char_p)
_fn("afs_group_list", c_int, c_void_p, POINTER(StrArrayC))
_fn("afs_group_name", c_char_p, c_void_p)
_fn("afs_group_id", c_char_p, c_void_p)
_fn("afs_group_storage_uri", c_char_p, c_void_p)
_fn("afs_group_storage", c_void_p, c_void_p)
_fn("afs_group_set_journal_stale_limit", c_int, c_void_p, c_uint64)
_fn("afs_group_journal_stale_limit", c_int, c_void_p, POINTER(c_uint64))
_fn("afs_endpoint_options_init", c_int, POINTER(EndpointOptionsC), c_uint)
_fn("afs_endpoint_create", c_int, POINTER(c_void_p), c_void_p, c_char_p,
    POINTER(EndpointOptionsC))
_fn("afs_endpoint_open", c_int, POINTER(c_void_p), c_void_p)
_fn("afs_endpoint_close", None, c_void_p)
_fn("afs_endpoint_delete", c_int, c_void_p)
_fn("afs_group_remove_endpoint", c_int, c_void_p, c_char_p)
_fn("afs_endpoint_list", c_int, c_void_p, POINTER(POINTER(POINTER(EndpointInfoC))),
    POINTER(c_size_t))
_fn("afs_endpoint_info_free", None, POINTER(POINTER(EndpointInfoC)), c_size_t)
_fn("afs_endpoint_path", c_char_p, c_void_p)
_fn("afs_endpoint_id", c_char_p, c_void_p)
_fn("afs_endpoint_get_options", c_int, c_void_p, POINTER(EndpointOptionsC))
_fn("afs_endpoint_set_options", c_int, c_void_p, POINTER(EndpointOptionsC))

# ---- sync.h --------------------------------------------------------------

AFS_SYNC_PROGRESS_VERSION = 1


class SyncProgressC(Structure):
    _fields_ = [
        ("version", c_uint),
        ("phase", c_uint32),
        ("items_done", c_uint64),
        ("items_total", c_uint64),
        ("bytes_done", c_uint64),
        ("bytes_total", c_uint64),
    ]


PROGRESS_FN = CFUNCTYPE(c_int, POINTER(SyncProgressC), c_void_p)

AFS_SYNC_FORCE = 0x01
AFS_SYNC_FULL_CLOUD_SCAN = 0x02
AFS_SYNC_OPTIONS_VERSION = 1


class SyncOptionsC(Structure):
    _fields_ = [
        ("version", c_uint),
        ("flags", c_uint32),
        ("progress", PROGRESS_FN),
        ("progress_payload", c_void_p),
        ("threads", c_uint32),
    ]


AFS_SYNC_RESULT_VERSION = 1


class SyncResultC(Structure):
    _fields_ = [
        ("version", c_uint),
        ("result", c_int),
        ("started_ns", c_int64),
        ("finished_ns", c_int64),
        ("files_uploaded", c_uint64),
        ("bytes_uploaded", c_uint64),
        ("files_downloaded", c_uint64),
        ("bytes_downloaded", c_uint64),
        ("dirs_created_cloud", c_uint64),
        ("dirs_created_local", c_uint64),
        ("deleted_cloud", c_uint64),
        ("deleted_local", c_uint64),
        ("renamed_cloud", c_uint64),
        ("renamed_local", c_uint64),
        ("metadata_updates", c_uint64),
        ("adopted", c_uint64),
        ("conflicts", c_uint64),
        ("item_errors", c_uint64),
        ("skipped", c_uint64),
        ("full_cloud_scan", c_uint32),
    ]


AFS_ITEM_ERROR_VERSION = 1


# A row of afs_endpoint_errors(), reached through an array of pointers.
class ItemErrorC(Structure):
    _fields_ = [
        ("version", c_uint),
        ("path", c_char_p),
        ("code", c_int),
        ("message", c_char_p),
        ("count", c_uint64),
        ("persistent", c_uint32),
        ("first_ns", c_int64),
        ("last_ns", c_int64),
    ]


_fn("afs_sync_options_init", c_int, POINTER(SyncOptionsC), c_uint)
_fn("afs_endpoint_sync", c_int, c_void_p, POINTER(SyncOptionsC), POINTER(SyncResultC))
_fn("afs_endpoint_last_result", c_int, c_void_p, POINTER(SyncResultC))
_fn("afs_endpoint_errors", c_int, c_void_p, POINTER(POINTER(POINTER(ItemErrorC))),
    POINTER(c_size_t))
_fn("afs_item_errors_free", None, POINTER(POINTER(ItemErrorC)), c_size_t)


# ---- sync.h: provisioning --------------------------------------------------

AFS_PROVISIONING_VERSION = 1


class ProvisioningStepC(Structure):
    _fields_ = [
        ("status", c_uint32),
        ("percent", c_uint32),
        ("started_ns", c_int64),
        ("finished_ns", c_int64),
        ("error", c_int),
    ]


class ProvisioningC(Structure):
    _fields_ = [
        ("version", c_uint),
        ("status", c_uint32),
        ("namespace_download", ProvisioningStepC),
        ("content_download", ProvisioningStepC),
    ]


_fn("afs_endpoint_provisioning", c_int, c_void_p, POINTER(ProvisioningC))

# ---- tier.h ----------------------------------------------------------------

AFS_TIER_INFO_VERSION = 1
AFS_TIER_MARKER_NAMESPACE = 0x01


class TierInfoC(Structure):
    _fields_ = [
        ("version", c_uint),
        ("state", c_uint32),
        ("size", c_uint64),
        ("size_on_disk", c_uint64),
        ("mtime_ns", c_int64),
        ("marker_version", c_uint32),
        ("marker_flags", c_uint32),
        ("tiered_ns", c_int64),
        ("recalled_bytes", c_uint64),
        ("cloud_path", c_char_p),
        ("etag", c_char_p),
        ("ranges", POINTER(c_uint64)),
        ("range_count", c_size_t),
        ("marker", POINTER(ctypes.c_ubyte)),
        ("marker_len", c_size_t),
    ]


AFS_TIER_RESULT_VERSION = 1


class TierResultC(Structure):
    _fields_ = [("version", c_uint), ("started_ns", c_int64), ("finished_ns", c_int64)] + [
        (n, c_uint64) for n in (
            "files_tiered", "bytes_freed", "files_tiered_date", "files_tiered_space",
            "files_tiered_evict", "skipped_not_synced", "skipped_small", "skipped_excluded",
            "skipped_pinned", "skipped_changed", "item_errors", "volume_total_bytes",
            "free_bytes_before", "free_bytes_after", "target_free_bytes")
    ] + [("free_space_percent", c_uint32), ("low_disk_space", c_uint32),
         ("next_interval_s", c_uint32)]


AFS_TIER_PASS_DRY_RUN = 0x01
AFS_TIER_PASS_SCAN = 0x02
AFS_TIER_PASS_OPTIONS_VERSION = 1


class TierPassOptionsC(Structure):
    _fields_ = [("version", c_uint), ("flags", c_uint32), ("now_ns", c_int64)]


AFS_TIER_ACCESS_READ = 0x01
AFS_TIER_ACCESS_WRITE = 0x02
AFS_TIER_ACCESS_NO_HEAT = 0x04


AFS_HEAT_ENTRY_VERSION = 1


# A row of afs_heat_list(), reached through an array of pointers.
class HeatEntryC(Structure):
    _fields_ = [
        ("version", c_uint),
        ("path", c_char_p),
        ("endpoint_id", c_char_p),
        ("state", c_uint32),
        ("pinned", c_uint32),
        ("size", c_uint64),
        ("size_on_disk", c_uint64),
        ("access_count", c_uint64),
        ("last_access_ns", c_int64),
        ("mtime_ns", c_int64),
        ("btime_ns", c_int64),
        ("position_ns", c_int64),
    ]


AFS_HEAT_LIST_OPTIONS_VERSION = 1


class HeatListOptionsC(Structure):
    _fields_ = [("version", c_uint), ("order", c_uint32), ("limit", c_uint64),
                ("now_ns", c_int64)]


AFS_RECALL_ON_ACCESS = 0x01
AFS_RECALL_PROGRESS_VERSION = 1


class RecallProgressC(Structure):
    _fields_ = [
        ("version", c_uint),
        ("files_done", c_uint64),
        ("files_total", c_uint64),
        ("bytes_done", c_uint64),
        ("bytes_total", c_uint64),
    ]


RECALL_PROGRESS_FN = CFUNCTYPE(c_int, POINTER(RecallProgressC), c_void_p)
AFS_RECALL_OPTIONS_VERSION = 2


class RecallOptionsC(Structure):
    _fields_ = [
        ("version", c_uint),
        ("threads", c_uint32),
        ("order", c_uint32),
        ("retry_count", c_uint32),
        ("retry_delay_ms", c_uint32),
        ("flags", c_uint32),
        ("progress", RECALL_PROGRESS_FN),
        ("progress_payload", c_void_p),
    ]


AFS_RECALL_RESULT_VERSION = 1


class RecallResultC(Structure):
    _fields_ = [("version", c_uint), ("started_ns", c_int64), ("finished_ns", c_int64),
                ("files_recalled", c_uint64), ("bytes_recalled", c_uint64),
                ("files_already_local", c_uint64), ("files_failed", c_uint64),
                ("retries", c_uint64), ("first_error", c_int)]


AFS_TIER_STATS_VERSION = 1


class TierStatsC(Structure):
    _fields_ = [
        ("version", c_uint),
        ("files", c_uint64),
        ("tiered_files", c_uint64),
        ("tiered_bytes", c_uint64),
        ("local_bytes", c_uint64),
        ("files_tiered_total", c_uint64),
        ("bytes_tiered_total", c_uint64),
        ("accesses", c_uint64),
        ("access_recalls", c_uint64),
        ("cache_hit_percent", c_uint32),
        ("low_disk_space", c_uint32),
        ("recalls", c_uint64),
        ("recall_bytes", c_uint64),
        ("recall_failures", c_uint64),
        ("recall_ns", c_uint64),
        ("recall_bytes_per_s", c_uint64),
        ("recall_success_percent", c_uint32),
        ("free_space_percent", c_uint32),
        ("volume_total_bytes", c_uint64),
        ("volume_free_bytes", c_uint64),
    ]


_fn("afs_tier_query", c_int, c_void_p, c_char_p, POINTER(TierInfoC))
_fn("afs_tier_info_clear", None, POINTER(TierInfoC))
_fn("afs_tier_pass_options_init", c_int, POINTER(TierPassOptionsC), c_uint)
_fn("afs_tier_pass", c_int, c_void_p, POINTER(TierPassOptionsC), POINTER(TierResultC))
_fn("afs_tier_file", c_int, c_void_p, c_char_p, POINTER(TierResultC))
_fn("afs_tier_interval", c_int, c_void_p, POINTER(c_uint32), POINTER(c_uint32))
_fn("afs_tier_access", c_int, c_void_p, c_char_p, c_uint32, c_int64)
_fn("afs_tier_pin", c_int, c_void_p, c_char_p, c_int)
_fn("afs_tier_pins", c_int, c_void_p, POINTER(StrArrayC))
_fn("afs_tier_exclude_set", c_int, c_void_p, POINTER(c_char_p), c_size_t)
_fn("afs_tier_exclude_get", c_int, c_void_p, POINTER(StrArrayC))
_fn("afs_heat_list_options_init", c_int, POINTER(HeatListOptionsC), c_uint)
_fn("afs_heat_list", c_int, c_void_p, c_char_p, POINTER(HeatListOptionsC),
    POINTER(POINTER(POINTER(HeatEntryC))), POINTER(c_size_t))
_fn("afs_heat_entries_free", None, POINTER(POINTER(HeatEntryC)), c_size_t)
_fn("afs_recall_options_init", c_int, POINTER(RecallOptionsC), c_uint)
_fn("afs_tier_recall", c_int, c_void_p, c_char_p, POINTER(RecallOptionsC),
    POINTER(RecallResultC))
_fn("afs_tier_recall_range", c_int, c_void_p, c_char_p, c_uint64, c_uint64, c_uint32)
_fn("afs_tier_read", c_int, c_void_p, c_char_p, c_uint64, c_void_p, c_size_t,
    POINTER(c_size_t))
_fn("afs_tier_stats_get", c_int, c_void_p, POINTER(TierStatsC))
_fn("afs_tier_volume_stats", c_int, c_void_p, c_char_p, POINTER(TierStatsC))


def out_param(struct, version: int):
    """A zeroed out-parameter of Structure type ``struct`` with its version
    set, and the pointer the library call takes: ``(value, pointer)``; keep
    ``value`` to read what the call wrote. The library writes only the
    fields of that version (docs/api-conventions.md#versioned-structs), so a
    newer libafs with a larger struct never writes past it."""
    value = struct()
    value.version = version
    return value, ctypes.pointer(value)

def decode(b: Optional[bytes]) -> str:
    """A library string (UTF-8) as str; NULL gives ""."""
    if b is None:
        return ""
    return b.decode("utf-8", "surrogateescape")


def encode(s: "str | os.PathLike[str] | bytes") -> bytes:
    """A str, bytes or path-like as the NUL-free UTF-8 the library takes."""
    if isinstance(s, bytes):
        b = s
    elif isinstance(s, os.PathLike):
        b = os.fsencode(s)
    elif isinstance(s, str):
        b = s.encode("utf-8", "surrogateescape")
    else:
        raise TypeError(f"expected a str, bytes or path-like object, not {type(s).__name__}")
    if b"\0" in b:
        raise ValueError(f"embedded NUL in {s!r}")
    return b

"""Python bindings for libafs: Azure File Sync-style hybrid sync as a library.

Pure ctypes over the C library's stable ABI (``libafs.so.0``); no compiled
part. The library is loaded from the ``AFS_LIBRARY`` environment variable (a
path to ``libafs.so``) or else by its SONAME, and its version is checked at
import: the same major version as this package was written for and at least
its minor version, else :class:`LibraryVersionError` (an ImportError).

The objects::

    Service        a Storage Sync Service: state directory, registered server
    SyncGroup      one cloud share plus its server endpoints
    ServerEndpoint this server's folder in a group; sync() runs a session
    Storage        a share opened directly (list, stat, read, put, ...)

Each owns a C handle: use ``with`` or ``close()``; a handle is freed exactly
once, dependants first (closing a service closes its groups and endpoints),
and a closed object raises :class:`ClosedError`. Failures raise the
:class:`AfsError` subclass of their libafs error code, with the library's
detailed message. docs/python.md is the tour.

Cloud tiering and recall (afs.tier): a :class:`TieringPolicy` in the
endpoint's options turns it on; ``ServerEndpoint.tier_pass()``,
``tier_file()``, ``recall()``, ``recall_range()``, ``query()``, ``heat()``,
``stats()``, pins and tiering exclusions are the calls.
"""

from __future__ import annotations

from typing import Dict, Tuple

from . import _lib
from . import log as _log, service as _service, storage as _storage
from . import sync as _sync, tier as _tier
from ._handle import counts as _counts
from ._lib import REQUIRED_VERSION, LibraryLoadError, LibraryVersionError
from .errors import *  # noqa: F401,F403 - the exception classes
from .errors import __all__ as _errors_all
from .errors import ErrorCode, strerror
from .log import LogLevel, log_to_logging, set_log_handler
from .service import FileSystem, ServerInfo, Service
from .storage import (
    Attributes,
    ItemType,
    Storage,
    StorageEntry,
    name_check,
    register_scheme,
    unregister_scheme,
)
from .sync import (
    EndpointInfo,
    EndpointOptions,
    InitialDownload,
    InitialSync,
    ItemError,
    LocalCacheMode,
    ServerEndpoint,
    SyncGroup,
    SyncPhase,
    SyncProgress,
    SyncResult,
    TieringPolicy,
)
from .tier import (
    HeatEntry,
    HeatOrder,
    Provisioning,
    ProvisioningStatus,
    ProvisioningStep,
    RecallOrder,
    RecallProgress,
    RecallResult,
    TierInfo,
    TierMarker,
    TierResult,
    TierState,
    TierStats,
)

#: The version of this package: the libafs API version it was written for.
__version__ = "0.1.0"


def version() -> Tuple[int, int, int]:
    """The loaded libafs version as (major, minor, patch)."""
    return _lib.split_version(int(_lib.lib.afs_version()))


def version_num() -> int:
    """The loaded libafs version as ``AFS_VERSION_NUM`` computes it
    ((major << 16) | (minor << 8) | patch)."""
    return int(_lib.lib.afs_version())


def version_string() -> str:
    """The loaded libafs version as a string ("0.1.0")."""
    return _lib.decode(_lib.lib.afs_version_string())


def library_path() -> str:
    """Where libafs was loaded from (AFS_LIBRARY or the SONAME)."""
    return _lib.lib_path


def open_handles() -> Dict[str, int]:
    """Live (not yet freed) libafs handles per kind ("service", "group",
    "endpoint", "storage", "fs"); empty when everything was freed."""
    return _counts()


__all__ = [
    "__version__",
    "REQUIRED_VERSION",
    "LibraryLoadError",
    "LibraryVersionError",
    "version",
    "version_num",
    "version_string",
    "library_path",
    "open_handles",
    "strerror",
    "ErrorCode",
] + (
    # Each module's own list, so a name is listed once, where it is defined.
    # EndpointTiering is left out: it is a base of ServerEndpoint, not a class
    # a user makes.
    _log.__all__
    + _service.__all__
    + _storage.__all__
    + _sync.__all__
    + [n for n in _tier.__all__ if n != "EndpointTiering"]
) + [n for n in _errors_all if n not in ("ErrorCode", "strerror")]

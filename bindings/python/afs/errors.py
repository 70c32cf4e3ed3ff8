"""Exceptions raised by the afs package, one class per libafs error code.

Every libafs call returns 0 or a negative code (``include/afs/errors.h``) and
leaves a detailed message for the calling thread (``afs_error_last()``). The
binding turns a failure into an exception of the class mapped from the code,
carrying both::

    try:
        group = afs.SyncGroup.open(service, "missing")
    except afs.NotFoundError as e:
        print(e.code, e.message)

Codes are append-only in the C library, so the numbers in :class:`ErrorCode`
never change; a code newer than this package raises the base :class:`AfsError`.
"""

from __future__ import annotations

import enum
from typing import Any, Dict, Optional, Type

from . import _lib

__all__ = [
    "ErrorCode",
    "AfsError",
    "InvalidArgumentError",
    "NotFoundError",
    "ExistsError",
    "ConditionError",
    "NotSupportedError",
    "NoSpaceError",
    "StorageIOError",
    "TransientError",
    "InvalidNameError",
    "BusyError",
    "CancelledError",
    "CorruptError",
    "OutOfMemoryError",
    "VersionError",
    "PermissionDeniedError",
    "NotEmptyError",
    "NotDirectoryError",
    "IsDirectoryError",
    "EndpointRuleError",
    "OnePerServerError",
    "OverlapError",
    "SameGroupVolumeError",
    "SystemVolumeError",
    "NetworkFileSystemError",
    "EmptyPathError",
    "InitialOptionError",
    "AvoidTieredError",
    "ImmutableOptionError",
    "ConflictLimitError",
    "SafetyNetError",
    "LimitError",
    "ClosedError",
    "strerror",
    "error_class",
]


class ErrorCode(enum.IntEnum):
    """The libafs error codes (``afs_error_code``); 0 is success."""

    OK = 0
    ERROR = -1
    EINVAL = -2
    ENOTFOUND = -3
    EEXISTS = -4
    ECONDITION = -5
    ENOTSUP = -6
    ENOSPC = -7
    EIO = -8
    ETRANSIENT = -9
    EINVALIDNAME = -10
    EBUSY = -11
    EUSER = -12
    ECORRUPT = -13
    ENOMEM = -14
    EVERSION = -15
    EPERM = -16
    ENOTEMPTY = -17
    ENOTDIR = -18
    EISDIR = -19
    EITEROVER = -20
    EONE_PER_SERVER = -21
    EOVERLAP = -22
    ESAME_GROUP_VOLUME = -23
    ESYSTEM_VOLUME = -24
    ENETWORK_FS = -25
    EEMPTY_PATH = -26
    EINITIAL_OPTION = -27
    EAVOID_TIERED = -28
    EIMMUTABLE = -29
    ECONFLICT_LIMIT = -30
    ESAFETY = -31
    ELIMIT = -32


def strerror(code: int) -> str:
    """The library's short, static description of an error code."""
    return _lib.decode(_lib.lib.afs_strerror(int(code)))


class AfsError(Exception):
    """A libafs call failed.

    Attributes:
        code: the negative libafs error code (an :class:`ErrorCode` when known).
        message: the library's detailed message for this failure, naming the
            path or object involved (``afs_error_last()``).
    """

    #: The code a subclass stands for (None on the base class).
    CODE: Optional[int] = None

    #: For an exception from ``ServerEndpoint.sync()``: the session's
    #: SyncResult (what was done before it stopped); None otherwise.
    result: Optional[Any] = None

    def __init__(self, message: str, code: Optional[int] = None) -> None:
        if code is None:
            code = self.CODE if self.CODE is not None else int(ErrorCode.ERROR)
        try:
            code = ErrorCode(code)
        except ValueError:
            pass
        self.code: int = code
        self.message: str = message
        super().__init__(message)

    @property
    def code_name(self) -> str:
        """The code's C name without the ``AFS_`` prefix ("ENOTFOUND"), or its number."""
        return self.code.name if isinstance(self.code, ErrorCode) else str(int(self.code))

    def __str__(self) -> str:
        return f"{self.message} [AFS_{self.code_name}]" if isinstance(
            self.code, ErrorCode) else f"{self.message} [code {int(self.code)}]"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={int(self.code)})"


class ClosedError(AfsError, ValueError):
    """A handle was used after it was closed. Raised by the binding itself
    (the C handle is gone, so no libafs call was made); ``code`` is EINVAL."""

    CODE = int(ErrorCode.EINVAL)

    def __str__(self) -> str:
        return self.message


class InvalidArgumentError(AfsError, ValueError):
    """AFS_EINVAL: an invalid argument or option value."""

    CODE = int(ErrorCode.EINVAL)


class NotFoundError(AfsError):
    """AFS_ENOTFOUND: a file, object, group, endpoint or registration does not exist."""

    CODE = int(ErrorCode.ENOTFOUND)


class ExistsError(AfsError):
    """AFS_EEXISTS: it already exists."""

    CODE = int(ErrorCode.EEXISTS)


class ConditionError(AfsError):
    """AFS_ECONDITION: an if-match etag or a create-only condition failed; nothing changed."""

    CODE = int(ErrorCode.ECONDITION)


class NotSupportedError(AfsError):
    """AFS_ENOTSUP: not supported (an unknown URI scheme, a missing backend slot)."""

    CODE = int(ErrorCode.ENOTSUP)


class NoSpaceError(AfsError):
    """AFS_ENOSPC: no space left."""

    CODE = int(ErrorCode.ENOSPC)


class StorageIOError(AfsError):
    """AFS_EIO: an input/output error."""

    CODE = int(ErrorCode.EIO)


class TransientError(AfsError):
    """AFS_ETRANSIENT: a temporary failure; retrying later may succeed."""

    CODE = int(ErrorCode.ETRANSIENT)


class InvalidNameError(AfsError, ValueError):
    """AFS_EINVALIDNAME: a name or path is not acceptable (``..``, ``/``, too long, reserved)."""

    CODE = int(ErrorCode.EINVALIDNAME)


class BusyError(AfsError):
    """AFS_EBUSY: busy or locked (a running session, a group that still has endpoints)."""

    CODE = int(ErrorCode.EBUSY)


class CancelledError(AfsError):
    """AFS_EUSER: a callback cancelled the operation."""

    CODE = int(ErrorCode.EUSER)


class CorruptError(AfsError):
    """AFS_ECORRUPT: stored state is corrupt or not libafs's."""

    CODE = int(ErrorCode.ECORRUPT)


class OutOfMemoryError(AfsError):
    """AFS_ENOMEM: the library ran out of memory."""

    CODE = int(ErrorCode.ENOMEM)


class VersionError(AfsError):
    """AFS_EVERSION: a struct, vtable or state version this library does not know."""

    CODE = int(ErrorCode.EVERSION)


class PermissionDeniedError(AfsError):
    """AFS_EPERM: permission denied."""

    CODE = int(ErrorCode.EPERM)


class NotEmptyError(AfsError):
    """AFS_ENOTEMPTY: the directory is not empty."""

    CODE = int(ErrorCode.ENOTEMPTY)


class NotDirectoryError(AfsError):
    """AFS_ENOTDIR: a path component is not a directory."""

    CODE = int(ErrorCode.ENOTDIR)


class IsDirectoryError(AfsError):
    """AFS_EISDIR: it is a directory."""

    CODE = int(ErrorCode.EISDIR)


class EndpointRuleError(AfsError):
    """A server endpoint rule was broken (codes AFS_EONE_PER_SERVER to AFS_EIMMUTABLE).

    The rules come from Azure File Sync's server endpoint creation; each has
    its own subclass, and the message says what to do instead.
    """


class OnePerServerError(EndpointRuleError):
    """AFS_EONE_PER_SERVER: a sync group holds one server endpoint per registered server."""

    CODE = int(ErrorCode.EONE_PER_SERVER)


class OverlapError(EndpointRuleError):
    """AFS_EOVERLAP: server endpoints on one volume must not contain one another."""

    CODE = int(ErrorCode.EOVERLAP)


class SameGroupVolumeError(EndpointRuleError):
    """AFS_ESAME_GROUP_VOLUME: endpoints on one volume must sync to different groups."""

    CODE = int(ErrorCode.ESAME_GROUP_VOLUME)


class SystemVolumeError(EndpointRuleError):
    """AFS_ESYSTEM_VOLUME: no cloud tiering on the system volume."""

    CODE = int(ErrorCode.ESYSTEM_VOLUME)


class NetworkFileSystemError(EndpointRuleError):
    """AFS_ENETWORK_FS: a network file system cannot be a server endpoint."""

    CODE = int(ErrorCode.ENETWORK_FS)


class EmptyPathError(EndpointRuleError):
    """AFS_EEMPTY_PATH: authoritative upload needs data in the path."""

    CODE = int(ErrorCode.EEMPTY_PATH)


class InitialOptionError(EndpointRuleError):
    """AFS_EINITIAL_OPTION: initial sync options are for a group's first endpoint only,
    initial download options for the later ones."""

    CODE = int(ErrorCode.EINITIAL_OPTION)


class AvoidTieredError(EndpointRuleError):
    """AFS_EAVOID_TIERED: the avoid-tiered-files initial download needs tiering off."""

    CODE = int(ErrorCode.EAVOID_TIERED)


class ImmutableOptionError(EndpointRuleError):
    """AFS_EIMMUTABLE: the path and the initial sync/download options cannot change."""

    CODE = int(ErrorCode.EIMMUTABLE)


class ConflictLimitError(AfsError):
    """AFS_ECONFLICT_LIMIT: 100 conflict files already exist for this file."""

    CODE = int(ErrorCode.ECONFLICT_LIMIT)


class SafetyNetError(AfsError):
    """AFS_ESAFETY: the safety net stopped a mass deletion (nothing was deleted).

    Sync again with ``force=True`` when the deletions are intended.
    """

    CODE = int(ErrorCode.ESAFETY)


class LimitError(AfsError):
    """AFS_ELIMIT: a scale limit was reached (groups per service, endpoints per
    group or server, URI schemes)."""

    CODE = int(ErrorCode.ELIMIT)


_BY_CODE: Dict[int, Type[AfsError]] = {
    cls.CODE: cls
    for cls in (
        InvalidArgumentError, NotFoundError, ExistsError, ConditionError, NotSupportedError,
        NoSpaceError, StorageIOError, TransientError, InvalidNameError, BusyError,
        CancelledError, CorruptError, OutOfMemoryError, VersionError, PermissionDeniedError,
        NotEmptyError, NotDirectoryError, IsDirectoryError, OnePerServerError, OverlapError,
        SameGroupVolumeError, SystemVolumeError, NetworkFileSystemError, EmptyPathError,
        InitialOptionError, AvoidTieredError, ImmutableOptionError, ConflictLimitError,
        SafetyNetError, LimitError,
    )
    if cls.CODE is not None
}


def error_class(code: int) -> Type[AfsError]:
    """The exception class of a libafs error code (AfsError for unknown codes)."""
    return _BY_CODE.get(int(code), AfsError)


def make_error(code: int, message: Optional[str] = None) -> AfsError:
    """An exception for ``code``; the message defaults to the thread's last
    libafs message when it belongs to this code, else the code's description."""
    if message is None:
        message = last_message(code)
    return error_class(code)(message, code)


def last_message(code: int) -> str:
    """The calling thread's detailed message if it is about ``code``."""
    if _lib.lib.afs_error_last_code() == code:
        return _lib.decode(_lib.lib.afs_error_last())
    return strerror(code)


def check(rc: int) -> None:
    """Raise the exception for a non-zero return code of a libafs call.

    Call it right after the C call, on the same thread, before any other
    libafs call: the message is thread-local and the next call replaces it.
    """
    if rc != 0:
        raise make_error(rc)

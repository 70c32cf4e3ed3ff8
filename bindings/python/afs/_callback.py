"""Python callables as libafs callbacks, with exceptions carried across C.

A C callback cannot raise: ctypes would print the exception and return 0,
and the operation would go on. So every callback the binding hands to libafs
runs inside a :class:`Trap`: an exception (any BaseException, including
KeyboardInterrupt) is stored, the callback returns a non-zero value so that
libafs cancels the operation (docs/api-conventions.md#callbacks: the
operation then returns that value unchanged), and the call that ran the
operation re-raises the stored exception once the C function has returned.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any, Callable, List, Optional

from . import _lib
from .errors import AfsError, check

#: What a trapped callback returns to cancel: AFS_EUSER, the conventional value.
CANCEL = _lib.AFS_EUSER


class Trap:
    """Collects the first exception raised by the callbacks of one call."""

    __slots__ = ("exc", "_lock")

    def __init__(self) -> None:
        self.exc: Optional[BaseException] = None
        self._lock = threading.Lock()

    def run(self, fn: Callable[..., Any], *args: Any) -> int:
        """Call ``fn(*args)``; 0 if it returned, CANCEL if it raised (or had raised before)."""
        if self.exc is not None:
            return CANCEL  # a C caller that goes on calling after a cancel
        try:
            fn(*args)
            return 0
        except BaseException as e:  # noqa: B036 - carried to the caller, not swallowed
            with self._lock:
                if self.exc is None:
                    self.exc = e
            return CANCEL

    def reraise(self) -> None:
        """Raise the stored exception, if any (and forget it)."""
        exc, self.exc = self.exc, None
        if exc is not None:
            try:
                raise exc
            finally:
                del exc


# Exceptions raised in callbacks that libafs calls outside any one call the
# binding makes (a registered URI scheme's opener): kept per thread and
# re-raised by the next binding call on that thread that checks for them.
_pending = threading.local()


def set_pending(exc: BaseException) -> None:
    if getattr(_pending, "exc", None) is None:
        _pending.exc = exc


def reraise_pending() -> None:
    exc = getattr(_pending, "exc", None)
    if exc is not None:
        _pending.exc = None
        try:
            raise exc
        finally:
            del exc


def checked(rc: int, trap: Optional[Trap] = None) -> int:
    """After a libafs call: re-raise a callback's exception, else raise the
    exception of a non-zero code. Returns ``rc`` (0) otherwise.

    The callback's exception wins over the code: the code is then only the
    cancel value the trap returned (or the library's report of it).
    """
    if trap is not None:
        trap.reraise()
    reraise_pending()
    check(rc)
    return rc


def checked_result(rc: int, trap: Optional[Trap], result: Any) -> int:
    """:func:`checked`, with the operation's ``result`` attached to the
    exception as its ``result`` attribute (a sync session's, a recall's)."""
    try:
        return checked(rc, trap)
    except AfsError as e:
        e.result = result  # type: ignore[attr-defined]
        raise


def checked_strings(fn: Callable[..., int], *args: Any) -> List[str]:
    """``fn(*args, &array)`` for a call whose last parameter is an
    afs_strarray out-parameter: its code checked, its strings decoded, the
    array freed."""
    arr = _lib.StrArrayC()
    checked(fn(*args, ctypes.byref(arr)))
    try:
        return [_lib.decode(arr.strings[i]) for i in range(arr.count)]
    finally:
        _lib.lib.afs_strarray_free(ctypes.byref(arr))

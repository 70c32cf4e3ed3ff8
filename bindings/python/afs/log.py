"""The library's log hook (``afs_log_set``) as a Python callable.

libafs logs nothing by default. :func:`set_log_handler` installs one process-
wide handler; :func:`log_to_logging` forwards to the standard ``logging``
module. The handler may be called from any thread libafs uses, concurrently,
and must not call libafs itself. It cannot cancel anything: an exception it
raises is reported through ``sys.unraisablehook`` (printed by default) and
the library goes on.
"""

from __future__ import annotations

import atexit
import enum
import logging
import threading
from typing import Callable, List, Optional

from . import _lib
from ._callback import checked

__all__ = ["LogLevel", "set_log_handler", "log_to_logging"]


class LogLevel(enum.IntEnum):
    """libafs log levels (``afs_log_level``); a handler gets its level and
    every more severe one."""

    ERROR = 1
    WARN = 2
    INFO = 3
    DEBUG = 4
    TRACE = 5


LogHandler = Callable[[LogLevel, str], None]

_lock = threading.Lock()
_current: Optional[object] = None
# Replaced thunks stay alive: libafs reads the hook under its lock but calls
# it after releasing it, so another thread may still be inside an old one.
_retired: List[object] = []


def set_log_handler(handler: Optional[LogHandler], level: LogLevel = LogLevel.INFO) -> None:
    """Send libafs's log messages at ``level`` and more severe to
    ``handler(level, message)``; None removes the handler.

    Raises InvalidArgumentError for a level outside ERROR..TRACE.
    """
    global _current
    with _lock:
        if handler is None:
            thunk = _lib.LOG_FN()
        else:
            def on_log(lvl: int, message: bytes, payload: object) -> None:
                try:
                    lv: object = LogLevel(lvl)
                except ValueError:
                    lv = lvl
                # An exception escapes to ctypes, which reports it as unraisable.
                handler(lv, _lib.decode(message))  # type: ignore[arg-type]
            thunk = _lib.LOG_FN(on_log)
        checked(_lib.lib.afs_log_set(thunk, int(level), None))
        if _current is not None:
            _retired.append(_current)
        _current = thunk if handler is not None else None


_TO_LOGGING = {
    LogLevel.ERROR: logging.ERROR,
    LogLevel.WARN: logging.WARNING,
    LogLevel.INFO: logging.INFO,
    LogLevel.DEBUG: logging.DEBUG,
    LogLevel.TRACE: 5,
}


def log_to_logging(logger: Optional[logging.Logger] = None,
                   level: LogLevel = LogLevel.INFO) -> None:
    """Forward libafs's messages to ``logger`` (default: the "afs" logger),
    ERROR/WARN/INFO/DEBUG as their logging levels and TRACE as level 5."""
    log = logger or logging.getLogger("afs")
    set_log_handler(lambda lvl, msg: log.log(_TO_LOGGING.get(lvl, logging.DEBUG), "%s", msg),
                    level)


@atexit.register
def _remove_at_exit() -> None:
    # No Python callback may run once the interpreter is going away.
    if _current is not None:
        _lib.lib.afs_log_set(_lib.LOG_FN(), int(LogLevel.ERROR), None)

"""Ownership of libafs handles: every handle is freed exactly once.

A :class:`Handle` holds one C pointer, the function that frees it and the
handle it depends on (a group borrows its service, an endpoint its group, a
service its filesystem, a group's storage is borrowed from the group). The
rules:

* A child keeps its parent alive (a strong reference), so garbage collection
  can never free a service before the groups that borrow it.
* Closing a parent closes its open children first, so no child is left
  pointing at freed memory; closing twice does nothing.
* Python objects free their handle when they are garbage collected
  (``weakref.finalize``), or earlier by ``close()`` or a ``with`` block.
* A handle in use by a running call cannot be closed (from a callback or
  another thread): that raises :class:`~afs.BusyError` instead of freeing
  memory the C library is still using.
* ``counts()`` gives the live handles per kind, for leak checks.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
import weakref
from collections import Counter
from typing import Any, Callable, Dict, Iterator, Optional, Set

from .errors import BusyError, ClosedError

_lock = threading.RLock()
_opened: Counter = Counter()
_freed: Counter = Counter()


class Handle:
    """One C handle and the rules above. Not public."""

    __slots__ = ("ptr", "kind", "_free", "parent", "children", "busy", "closed", "__weakref__")

    def __init__(self, ptr: int, kind: str, free: Optional[Callable[[int], None]],
                 parent: Optional["Handle"] = None) -> None:
        if not ptr:
            raise ValueError(f"NULL {kind} handle")
        self.ptr: int = ptr
        self.kind = kind
        self._free = free  # None: borrowed, the parent frees it
        self.parent = parent
        self.children: Set["Handle"] = set()
        self.busy = 0
        self.closed = False
        with _lock:
            if parent is not None:
                if parent.closed:
                    raise ClosedError(f"the {parent.kind} is closed")
                parent.children.add(self)
            _opened[kind] += 1

    def __repr__(self) -> str:
        state = "closed" if self.closed else hex(self.ptr)
        return f"<afs handle {self.kind} {state}>"

    @contextlib.contextmanager
    def use(self) -> Iterator[int]:
        """The pointer for one C call; the handle and its parents stay open meanwhile."""
        with _lock:
            if self.closed:
                raise ClosedError(f"this {self.kind} is closed")
            chain = []
            h: Optional[Handle] = self
            while h is not None:
                h.busy += 1
                chain.append(h)
                h = h.parent
        try:
            yield self.ptr
        finally:
            with _lock:
                for h in chain:
                    h.busy -= 1

    def close(self) -> None:
        """Free the handle (children first). Idempotent."""
        with _lock:
            if self.closed:
                return
            if self.busy:
                raise BusyError(f"this {self.kind} is in use by a running call and cannot be "
                                f"closed now; close it after the call returns")
            for child in list(self.children):
                child.close()
            self.closed = True
            if self.parent is not None:
                self.parent.children.discard(self)
            ptr, self.ptr = self.ptr, 0
            try:
                if self._free is not None:
                    self._free(ptr)
            finally:
                _freed[self.kind] += 1

    def detach(self) -> int:
        """Give the pointer away (the C library now owns it); the handle is closed."""
        with _lock:
            if self.closed:
                raise ClosedError(f"this {self.kind} is closed")
            if self.busy or self.children:
                raise BusyError(f"this {self.kind} is in use and cannot be handed over")
            self.closed = True
            if self.parent is not None:
                self.parent.children.discard(self)
            ptr, self.ptr = self.ptr, 0
            _freed[self.kind] += 1
            return ptr


class Owner:
    """Base of the public classes that own a handle: close(), ``with``, finalizer."""

    _h: Handle

    def _own(self, handle: Handle) -> None:
        self._h = handle
        self._finalizer = weakref.finalize(self, handle.close)

    @property
    def closed(self) -> bool:
        """True once the handle is closed (by close(), a ``with`` block or its parent)."""
        return self._h.closed

    def close(self) -> None:
        """Free the handle and every handle that depends on it. Calling it again
        does nothing. Raises BusyError while a call on it is running."""
        self._h.close()
        self._finalizer.detach()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def counts() -> Dict[str, int]:
    """Live (not yet freed) handles per kind; kinds with none are left out."""
    with _lock:
        return {k: _opened[k] - _freed[k] for k in _opened if _opened[k] - _freed[k]}


def totals() -> Dict[str, Dict[str, int]]:
    """Handles opened and freed per kind since the package was imported."""
    with _lock:
        return {"opened": dict(_opened), "freed": dict(_freed)}


def out_ptr() -> ctypes.c_void_p:
    """A NULL ``void *`` for a constructor's out-parameter."""
    return ctypes.c_void_p()

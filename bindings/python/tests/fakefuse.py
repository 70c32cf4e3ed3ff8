"""A tiny FUSE file system served from Python, for failures only a kernel
file system can produce: a "network" file system (FUSE is one to libafs) and
chosen errno values (EAGAIN, ENOMEM) on opening its root directory.

It speaks the FUSE protocol on /dev/fuse directly (mount(2) through ctypes,
no libfuse) and serves one empty root directory. Needs root; the fixture
that uses it skips the test where mounting is refused.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import stat
import struct
import subprocess
import threading
from pathlib import Path
from typing import Optional

FUSE_LOOKUP = 1
FUSE_FORGET = 2
FUSE_GETATTR = 3
FUSE_STATFS = 17
FUSE_INIT = 26
FUSE_OPENDIR = 27
FUSE_READDIR = 28
FUSE_RELEASEDIR = 29
FUSE_INTERRUPT = 36
FUSE_DESTROY = 38
FUSE_BATCH_FORGET = 42

IN_HEADER = struct.Struct("=IIQQIIIHH")  # len, opcode, unique, nodeid, uid, gid, pid, ext, pad
OUT_HEADER = struct.Struct("=IiQ")  # len, error, unique
# fuse_attr_out: attr_valid, attr_valid_nsec, dummy, then fuse_attr.
ATTR_OUT = struct.Struct("=QII" + "QQQQQQ" + "IIIIIIIIII")
STATFS_OUT = struct.Struct("=QQQQQIIII" + "6I")
INIT_OUT = struct.Struct("=IIIIHHI")  # major, minor, max_readahead, flags, bg, cong, max_write


class FakeFuse:
    """Mount at ``mountpoint``; ``opendir_error`` (an errno) fails opening the root."""

    def __init__(self, mountpoint: Path, opendir_error: int = 0) -> None:
        self.mountpoint = Path(mountpoint)
        self.opendir_error = opendir_error
        self.fd = -1
        self.thread: Optional[threading.Thread] = None

    def __enter__(self) -> "FakeFuse":
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        self.fd = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        opts = f"fd={self.fd},rootmode=40000,user_id=0,group_id=0".encode()
        if libc.mount(b"afs-fake", str(self.mountpoint).encode(), b"fuse", 0, opts) != 0:
            e = ctypes.get_errno()
            os.close(self.fd)
            raise OSError(e, f"mount fuse on {self.mountpoint}: {os.strerror(e)}")
        self.thread = threading.Thread(target=self._serve, name="fakefuse", daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["umount", "-l", str(self.mountpoint)], capture_output=True)
        if self.thread is not None:
            self.thread.join(timeout=10)
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def _reply(self, unique: int, error: int = 0, body: bytes = b"") -> None:
        try:
            os.write(self.fd, OUT_HEADER.pack(OUT_HEADER.size + len(body), -error, unique) + body)
        except OSError:
            pass  # the request was interrupted or the file system is going away

    def _attr(self) -> bytes:
        mode = stat.S_IFDIR | 0o755
        return ATTR_OUT.pack(1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, mode, 2, 0, 0, 0, 4096, 0)

    def _serve(self) -> None:
        while True:
            try:
                req = os.read(self.fd, 1 << 20)
            except OSError as e:
                if e.errno in (errno.EINTR, errno.EAGAIN, errno.ENOENT):
                    continue
                return  # ENODEV: unmounted
            _, opcode, unique, nodeid, *_ = IN_HEADER.unpack_from(req)
            if opcode == FUSE_INIT:
                self._reply(unique, 0, INIT_OUT.pack(7, 26, 0, 0, 0, 0, 1 << 16))
            elif opcode == FUSE_GETATTR:
                self._reply(unique, 0, self._attr())
            elif opcode == FUSE_STATFS:
                self._reply(unique, 0, STATFS_OUT.pack(1000, 1000, 1000, 100, 100, 4096, 255,
                                                       4096, 0, *([0] * 6)))
            elif opcode == FUSE_OPENDIR:
                if self.opendir_error:
                    self._reply(unique, self.opendir_error)
                else:
                    self._reply(unique, 0, struct.pack("=QII", 1, 0, 0))
            elif opcode == FUSE_READDIR:
                self._reply(unique)  # empty: the root holds nothing
            elif opcode == FUSE_RELEASEDIR:
                self._reply(unique)
            elif opcode == FUSE_LOOKUP:
                self._reply(unique, errno.ENOENT)
            elif opcode in (FUSE_FORGET, FUSE_BATCH_FORGET, FUSE_INTERRUPT):
                pass  # no reply
            elif opcode == FUSE_DESTROY:
                self._reply(unique)
                return
            else:
                self._reply(unique, errno.ENOSYS)

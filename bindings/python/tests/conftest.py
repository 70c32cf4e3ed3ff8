"""Shared fixtures: servers syncing through one local-directory share.

Run with AFS_LIBRARY pointing at a built libafs.so (scripts/test.sh does), or
with libafs.so.0 installed. Every test ends with a leak check: once its
fixtures have closed what they opened, no libafs handle may be left open.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # bindings/python: the afs package

import afs  # noqa: E402

REPO = HERE.parents[2]


def put(root: Path, rel: str, content: str) -> Path:
    """Write a file below ``root``, creating its directories."""
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(content)
    return p


def get(root: Path, rel: str) -> Optional[str]:
    """A file's content, or None if it is missing."""
    p = root / rel
    return p.read_text() if p.is_file() else None


def set_mtime(root: Path, rel: str, seconds: int) -> None:
    os.utime(root / rel, (seconds, seconds), follow_symlinks=False)


def tree(root: Path) -> Dict[str, str]:
    """Every regular file below ``root`` and its content, without the share's
    reserved prefix."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == root and ".libafs" in dirnames:
            dirnames.remove(".libafs")
        for f in filenames:
            p = Path(dirpath) / f
            if p.is_file() and not p.is_symlink():
                out[str(p.relative_to(root))] = p.read_bytes().decode("utf-8", "replace")
    return out


class Server:
    """One server: a service state directory, a data directory, and (after
    join()) its group and endpoint."""

    def __init__(self, env: "SyncEnv", name: str, data: Optional[Path] = None) -> None:
        self.env = env
        self.name = name
        self.state = env.root / f"{name}-state"
        self.data = data if data is not None else env.root / f"{name}-data"
        self.data.mkdir()
        self.service = afs.Service.open(self.state)
        self.service.register(name)
        self.group: Optional[afs.SyncGroup] = None
        self.endpoint: Optional[afs.ServerEndpoint] = None
        self.last: Optional[afs.SyncResult] = None

    def join(self, options: Optional[afs.EndpointOptions] = None) -> afs.ServerEndpoint:
        """Join the group on the share (creating it for the first server) and
        create this server's endpoint on its data directory."""
        try:
            self.group = self.service.join_group(self.env.share)
        except afs.NotFoundError:
            self.group = self.service.create_group("group1", self.env.share)
        self.endpoint = self.group.create_endpoint(self.data, options)
        return self.endpoint

    def sync(self, **kwargs) -> afs.SyncResult:
        assert self.endpoint is not None
        self.last = self.endpoint.sync(**kwargs)
        return self.last

    def close(self) -> None:
        self.service.close()


class SyncEnv:
    """A sandbox with an empty share directory and any number of servers."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.share = root / "share"
        self.share.mkdir()
        self.servers: List[Server] = []

    def server(self, name: str, data: Optional[Path] = None) -> Server:
        """A new server; ``data`` is its endpoint directory (default: below the sandbox)."""
        s = Server(self, name, data)
        self.servers.append(s)
        return s

    def close(self) -> None:
        for s in self.servers:
            s.close()


@pytest.fixture
def env(tmp_path: Path):
    e = SyncEnv(tmp_path)
    yield e
    e.close()


@pytest.fixture(autouse=True)
def no_leaked_handles():
    """Every test must leave no libafs handle open once its fixtures closed theirs."""
    before = afs.open_handles()
    yield
    gc.collect()
    assert afs.open_handles() == before, "libafs handles left open"


@pytest.fixture
def storage(tmp_path: Path):
    root = tmp_path / "store"
    root.mkdir()
    with afs.Storage.local(root, nosync=True) as s:
        yield s


def have_cc() -> bool:
    try:
        subprocess.run(["cc", "--version"], check=True, capture_output=True)
        return True
    except (OSError, subprocess.CalledProcessError):
        return False


def run_python(code: str, env_extra: Dict[str, str]) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter with the afs package importable."""
    e = dict(os.environ)
    e.update(env_extra)
    e["PYTHONPATH"] = str(HERE.parent)
    return subprocess.run([sys.executable, "-c", code], env=e, capture_output=True, text=True,
                          timeout=60)

"""Handle ownership: every libafs handle is freed exactly once, dependants
first, by close(), a with block, a parent's close or garbage collection; a
closed handle raises instead of reaching freed memory."""

from __future__ import annotations

import gc
import weakref
from collections import Counter

import pytest

import afs
from afs import _handle, _lib
from conftest import put, run_python

FREE_FUNCS = {
    "service": "afs_service_close",
    "group": "afs_group_close",
    "endpoint": "afs_endpoint_close",
    "storage": "afs_storage_free",
    "fs": "afs_fs_free",
}


@pytest.fixture
def free_calls(monkeypatch):
    """Count the C free functions' calls per pointer (the real ones still run)."""
    calls: Counter = Counter()
    for kind, name in FREE_FUNCS.items():
        real = getattr(_lib.lib, name)

        def counting(ptr, real=real, kind=kind):
            calls[(kind, ptr)] += 1
            return real(ptr)

        monkeypatch.setattr(_lib.lib, name, counting)
    return calls


def build_world(env):
    """Two servers, a group each side, endpoints, an open storage and a borrowed one."""
    a = env.server("ServerA")
    b = env.server("ServerB")
    put(a.data, "f.txt", "x")
    a.join()
    a.sync()
    b.join()
    b.sync()
    own = afs.Storage.open(env.share)
    borrowed = a.group.storage
    return a, b, own, borrowed


def test_handles__every_handle_is_freed_exactly_once(env, free_calls):
    before = _handle.totals()
    a, b, own, borrowed = build_world(env)
    fs = afs.FileSystem.posix()
    svc = afs.Service.open(env.root / "extra", fs=fs)
    assert afs.open_handles() == {"service": 3, "group": 2, "endpoint": 2, "storage": 2,
                                  "fs": 1}

    # Close in every way at once: explicitly, twice, by parent, by with.
    with own:
        pass
    own.close()
    a.endpoint.close()
    a.endpoint.close()
    a.service.close()  # closes a.group and the borrowed storage
    assert a.group.closed and borrowed.closed
    fs.close()  # closes svc, which borrows it
    assert svc.closed
    b.service.close()
    env.servers.clear()
    gc.collect()
    assert afs.open_handles() == {}

    assert all(n == 1 for n in free_calls.values()), free_calls
    after = _handle.totals()
    for kind, name in FREE_FUNCS.items():
        opened = after["opened"].get(kind, 0) - before["opened"].get(kind, 0)
        frees = sum(n for (k, _), n in free_calls.items() if k == kind)
        borrowed_n = 1 if kind == "storage" else 0  # the group's storage: the group frees it
        assert frees == opened - borrowed_n, kind


def test_handles__garbage_collection_frees_what_was_never_closed(tmp_path, free_calls):
    share = tmp_path / "share"
    share.mkdir()
    (tmp_path / "data").mkdir()
    svc = afs.Service.open(tmp_path / "state")
    svc.register("Forgetful")
    group = svc.create_group("g", share)
    ep = group.create_endpoint(tmp_path / "data")
    st = group.storage
    refs = [weakref.ref(o) for o in (svc, group, ep, st)]
    assert afs.open_handles() == {"service": 1, "group": 1, "endpoint": 1, "storage": 1}
    del svc, group, ep, st
    gc.collect()
    assert all(r() is None for r in refs)
    assert afs.open_handles() == {}
    assert sorted(k for k, _ in free_calls) == ["endpoint", "group", "service"]
    assert all(n == 1 for n in free_calls.values())


def test_handles__a_child_keeps_its_parent_alive(tmp_path):
    share = tmp_path / "share"
    share.mkdir()

    def make_group():
        svc = afs.Service.open(tmp_path / "state")
        svc.register("Host")
        return svc.create_group("g", share)  # the Service object goes out of scope

    group = make_group()
    gc.collect()
    assert not group.service.closed
    assert group.name == "g" and group.storage.list() == []
    svc_ref = weakref.ref(group.service)
    del group
    gc.collect()
    assert svc_ref() is None and afs.open_handles() == {}


@pytest.mark.parametrize("what", ["service", "group", "endpoint", "storage", "borrowed", "fs"])
def test_handles__using_a_closed_handle_raises(env, what):
    a = env.server("ServerA")
    a.join()
    fs = afs.FileSystem.posix()
    own = afs.Storage.open(env.share)
    obj, use = {
        "service": (a.service, lambda: a.service.server_info()),
        "group": (a.group, lambda: a.group.name),
        "endpoint": (a.endpoint, lambda: a.endpoint.sync()),
        "storage": (own, lambda: own.list()),
        "borrowed": (a.group.storage, lambda: a.group._storage.list()),
        "fs": (fs, lambda: afs.Service.open(env.root / "x", fs=fs)),
    }[what]
    obj.close()
    assert obj.closed
    with pytest.raises(afs.ClosedError, match="closed"):
        use()
    obj.close()  # closing again is fine
    own.close()
    fs.close()


def test_handles__closing_a_parent_closes_its_children(env):
    a = env.server("ServerA")
    a.join()
    group, ep, st = a.group, a.endpoint, a.group.storage
    a.service.close()
    for o in (group, ep, st):
        assert o.closed
        o.close()  # already closed by the service: nothing happens
    with pytest.raises(afs.ClosedError):
        group.storage
    with pytest.raises(afs.ClosedError):
        ep.sync()
    with pytest.raises(afs.ClosedError):
        st.stat("f.txt")
    assert "closed" in repr(ep)


def test_handles__borrowed_storage_closes_without_closing_the_group(env):
    a = env.server("ServerA")
    a.join()
    st = a.group.storage
    assert a.group.storage is st  # one object while open
    st.close()
    assert st.closed and not a.group.closed
    again = a.group.storage
    assert again is not st and again.list() == []


def test_handles__closing_during_a_call_raises_busy_and_the_call_completes(env):
    a = env.server("ServerA")
    put(a.data, "f.txt", "x")
    a.join()
    errors = []

    def progress(p):
        for obj in (a.endpoint, a.group, a.service):
            try:
                obj.close()
            except afs.BusyError as e:
                errors.append(e)

    r = a.endpoint.sync(progress=progress)
    assert r.files_uploaded == 1
    assert errors and all("in use" in e.message for e in errors)
    assert not a.endpoint.closed
    a.service.close()  # after the call: fine
    assert a.endpoint.closed


def test_handles__context_managers_close(env):
    a = env.server("ServerA")
    with a.service.create_group("g", env.share) as g:
        with g.create_endpoint(a.data) as ep:
            with afs.Storage.open(env.share) as st:
                pass
    assert g.closed and ep.closed and st.closed
    assert not a.service.closed


def test_handles__interpreter_exit_with_open_handles_and_a_log_hook(tmp_path):
    (tmp_path / "share").mkdir()
    (tmp_path / "data").mkdir()
    code = f"""
import afs
afs.set_log_handler(lambda lvl, msg: None, afs.LogLevel.TRACE)
svc = afs.Service.open({str(tmp_path / 'state')!r})
svc.register("Exiting")
g = svc.create_group("g", {str(tmp_path / 'share')!r})
ep = g.create_endpoint({str(tmp_path / 'data')!r})
ep.sync()
st = g.storage
print("ok", sorted(afs.open_handles()))
"""
    r = run_python(code, {})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok ['endpoint', 'group', 'service', 'storage']"
    assert r.stderr == ""

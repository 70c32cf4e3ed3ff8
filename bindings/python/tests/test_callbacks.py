"""Python callables as libafs callbacks: progress, data sources, the log hook,
URI scheme openers. An exception raised in a callback cancels the operation
and comes back from the call that ran it."""

from __future__ import annotations

import logging
import sys
import traceback

import pytest

import afs
from conftest import put, tree


class Boom(Exception):
    pass


def test_callbacks__progress_reports_every_phase_in_order(env):
    a = env.server("ServerA")
    for i in range(300):
        put(a.data, f"f{i:03d}.txt", "x" * (i % 7 + 1))
    a.join()
    seen = []
    r = a.sync(progress=seen.append)
    assert r.files_uploaded == 300
    phases = [p.phase for p in seen]
    assert phases[0] == afs.SyncPhase.SCAN_LOCAL and phases[-1] == afs.SyncPhase.DONE
    assert phases == sorted(phases)  # phases only move forward
    assert set(phases) == set(afs.SyncPhase)
    assert all(isinstance(p, afs.SyncProgress) for p in seen)
    done = seen[-1]
    assert done.items_done == done.items_total == 300
    assert done.bytes_done == done.bytes_total == r.bytes_uploaded
    applying = [p for p in seen if p.phase == afs.SyncPhase.APPLY]
    assert len(applying) > 2  # every few hundred items, not only at the phase change
    assert all(p.items_total == 300 for p in applying)
    done_counts = [p.items_done for p in applying]
    assert done_counts == sorted(done_counts) and done_counts[-1] > 0


@pytest.mark.parametrize("phase", [afs.SyncPhase.SCAN_LOCAL, afs.SyncPhase.APPLY])
def test_callbacks__exception_cancels_the_session_and_is_reraised(env, phase):
    a = env.server("ServerA")
    put(a.data, "one.txt", "1")
    a.join()
    calls = []
    boom = Boom(f"stop at {phase.name}")

    def progress(p):
        calls.append(p.phase)
        if p.phase == phase:
            raise boom

    with pytest.raises(Boom) as ei:
        a.endpoint.sync(progress=progress)
    assert ei.value is boom  # the very exception, not a copy
    tb = "".join(traceback.format_tb(ei.value.__traceback__))
    assert "in progress" in tb  # its traceback still shows where it was raised
    assert calls[-1] == phase  # the library stopped calling after the cancel
    assert tree(env.share) == {}  # nothing was uploaded
    # The session ended with the cancel value; nothing is lost for the next one.
    assert a.endpoint.last_result().result == afs.ErrorCode.EUSER
    assert a.sync().files_uploaded == 1
    assert tree(env.share) == {"one.txt": "1"}


def test_callbacks__keyboard_interrupt_in_a_callback_is_reraised(env):
    a = env.server("ServerA")
    put(a.data, "one.txt", "1")
    a.join()

    def progress(p):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        a.endpoint.sync(progress=progress)
    assert tree(env.share) == {}


def test_callbacks__exception_at_done_is_reraised_after_the_session(env):
    # The library ignores the DONE callback's return value (the work is done),
    # but the exception still reaches the caller.
    a = env.server("ServerA")
    put(a.data, "one.txt", "1")
    a.join()

    def progress(p):
        if p.phase == afs.SyncPhase.DONE:
            raise Boom("late")

    with pytest.raises(Boom):
        a.endpoint.sync(progress=progress)
    assert tree(env.share) == {"one.txt": "1"}
    assert a.endpoint.last_result().files_uploaded == 1


def test_callbacks__put_stream_pulls_positionally(storage):
    data = bytes(range(256)) * 40000  # ~10 MB: several pulls
    offsets = []

    def source(offset, length):
        offsets.append(offset)
        return data[offset:offset + length]

    e = storage.put_stream("big.bin", source, len(data))
    assert e.size == len(data) and len(offsets) > 1
    assert storage.read("big.bin") == data


def test_callbacks__put_stream_exception_cancels_and_nothing_is_stored(storage):
    def source(offset, length):
        if offset > 0:
            raise Boom("disk went away")
        return b"x" * length

    with pytest.raises(Boom, match="disk went away"):
        storage.put_stream("partial.bin", source, 4 * 1024 * 1024)
    assert not storage.exists("partial.bin")


def test_callbacks__put_file(storage, tmp_path):
    src = tmp_path / "local.bin"
    src.write_bytes(b"local bytes" * 1000)
    storage.put_file("dir/copy.bin", src, metadata={"origin": "test"})
    assert storage.read("dir/copy.bin") == src.read_bytes()
    assert storage.meta_get("dir/copy.bin", "origin") == "test"


def test_callbacks__log_handler_gets_messages_at_its_level(tmp_path):
    got = []
    afs.set_log_handler(lambda level, msg: got.append((level, msg)), afs.LogLevel.INFO)
    try:
        with afs.Service.open(tmp_path / "s") as svc:
            svc.register("Logged")
            with pytest.raises(afs.NotFoundError):
                svc.open_group("missing")  # an error is logged at DEBUG: not delivered
    finally:
        afs.set_log_handler(None)
    assert any(lvl == afs.LogLevel.INFO and 'registered server "Logged"' in m for lvl, m in got)
    assert all(lvl <= afs.LogLevel.INFO for lvl, _ in got)
    assert all(isinstance(lvl, afs.LogLevel) and isinstance(m, str) for lvl, m in got)

    got.clear()
    with afs.Service.open(tmp_path / "s2") as svc:
        svc.register("NotLogged")
    assert got == []  # removed


def test_callbacks__log_to_logging(tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="afs")
    afs.log_to_logging(level=afs.LogLevel.DEBUG)
    try:
        with afs.Service.open(tmp_path / "s") as svc:
            svc.register("ViaLogging")
            with pytest.raises(afs.NotFoundError):
                svc.open_group("missing")
    finally:
        afs.set_log_handler(None)
    recs = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "afs"]
    assert any(lvl == logging.INFO and "ViaLogging" in m for lvl, m in recs)
    assert any(lvl == logging.DEBUG and "missing" in m for lvl, m in recs)


def test_callbacks__log_handler_exception_is_unraisable_not_fatal(tmp_path, monkeypatch):
    reported = []
    monkeypatch.setattr(sys, "unraisablehook", reported.append)

    def handler(level, msg):
        raise Boom("bad handler")

    afs.set_log_handler(handler, afs.LogLevel.INFO)
    try:
        with afs.Service.open(tmp_path / "s") as svc:
            assert svc.register("StillWorks").name == "StillWorks"
    finally:
        afs.set_log_handler(None)
    assert reported and isinstance(reported[0].exc_value, Boom)


def test_callbacks__scheme_opener_serves_sync_groups(env, tmp_path):
    shares = {"main": env.share}
    opened = []

    def opener(uri):
        opened.append(uri)
        return afs.Storage.local(shares[uri[len("pyshare://"):]], nosync=True)

    afs.register_scheme("pyshare", opener)
    try:
        a = env.server("ServerA")
        b = env.server("ServerB")
        put(a.data, "via-scheme.txt", "hello")
        with a.service.create_group("g", "pyshare://main") as ga, ga.create_endpoint(a.data) as ea:
            assert ga.storage_uri == "pyshare://main"
            ea.sync()
        with b.service.join_group("pyshare://main") as gb, gb.create_endpoint(b.data) as eb:
            eb.sync()
        assert (b.data / "via-scheme.txt").read_text() == "hello"
        assert opened and all(u == "pyshare://main" for u in opened)

        # The opener's exception comes back from the call that opened the URI.
        with pytest.raises(KeyError):
            afs.Storage.open("pyshare://unknown")
        with pytest.raises(KeyError):
            a.service.create_group("g2", "pyshare://unknown")
        afs.register_scheme("pyshare", lambda uri: "not a storage")
        with pytest.raises(TypeError, match="not afs.Storage"):
            afs.Storage.open("pyshare://main")
    finally:
        afs.unregister_scheme("pyshare")
    with pytest.raises(afs.NotSupportedError):
        afs.Storage.open("pyshare://main")
    with pytest.raises(afs.NotFoundError):
        afs.unregister_scheme("pyshare")


def test_callbacks__storage_handed_to_the_library_is_closed_in_python(tmp_path):
    kept = []

    def opener(uri):
        s = afs.Storage.local(tmp_path)
        kept.append(s)
        return s

    afs.register_scheme("handover", opener)
    try:
        with afs.Storage.open("handover://x") as s:
            assert s.backend_name == "local"
        assert kept[0].closed  # the library owns (and freed) it now
        with pytest.raises(afs.ClosedError):
            kept[0].stat("")
    finally:
        afs.unregister_scheme("handover")

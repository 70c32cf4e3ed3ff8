"""Every exception class from a real failure of the library, with its code and
the library's detailed message."""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import subprocess
import tempfile
from pathlib import Path

import pytest

import afs
from conftest import put, set_mtime


def raises(cls, code):
    """pytest.raises for an afs exception that also checks code and message."""

    @contextlib.contextmanager
    def check():
        with pytest.raises(cls) as ei:
            yield ei
        e = ei.value
        assert type(e) is cls, f"{type(e).__name__} raised, {cls.__name__} expected"
        assert e.code == code and isinstance(e.code, afs.ErrorCode)
        assert e.message and e.message != "no error"
        assert e.message in str(e) and f"AFS_{code.name}" in str(e)

    return check()


@pytest.fixture
def one(env):
    """A registered server with an endpoint (in group1 on env.share)."""
    s = env.server("ServerA")
    s.join()
    return s


def test_errors__every_code_has_a_class_and_the_library_describes_it():
    for code in afs.ErrorCode:
        if code in (afs.ErrorCode.OK, afs.ErrorCode.ERROR, afs.ErrorCode.EITEROVER):
            continue
        cls = afs.errors.error_class(code)
        assert cls is not afs.AfsError and cls.CODE == code, code
        assert afs.strerror(code) != "unknown error"
    assert afs.errors.error_class(-999) is afs.AfsError
    assert afs.strerror(-999) == "unknown error"
    e = afs.errors.make_error(-999, "from a newer libafs")
    assert type(e) is afs.AfsError and e.code == -999 and "code -999" in str(e)
    assert issubclass(afs.OverlapError, afs.EndpointRuleError)
    assert issubclass(afs.InvalidArgumentError, ValueError)


def test_errors__invalid_argument(one, tmp_path):
    with raises(afs.InvalidArgumentError, afs.ErrorCode.EINVAL) as ei:
        afs.ServerEndpoint.create(one.group, "relative/path")
    assert "absolute" in ei.value.message
    with raises(afs.InvalidArgumentError, afs.ErrorCode.EINVAL):
        afs.set_log_handler(print, level=9)


def test_errors__not_found(env):
    s = env.server("ServerA")
    with raises(afs.NotFoundError, afs.ErrorCode.ENOTFOUND) as ei:
        afs.SyncGroup.open(s.service, "missing")
    assert '"missing"' in ei.value.message


def test_errors__exists(env):
    s = env.server("ServerA")
    with raises(afs.ExistsError, afs.ErrorCode.EEXISTS) as ei:
        s.service.register("AnotherName")
    assert "ServerA" in ei.value.message
    s.service.create_group("g", env.share)
    with raises(afs.ExistsError, afs.ErrorCode.EEXISTS):
        s.service.create_group("g2", env.share)  # the share belongs to a group


def test_errors__condition(storage):
    first = storage.put("a.txt", "v1")
    with raises(afs.ConditionError, afs.ErrorCode.ECONDITION):
        storage.put("a.txt", "v2", create_only=True)
    storage.put("a.txt", "v2", if_match=first.etag)
    with raises(afs.ConditionError, afs.ErrorCode.ECONDITION):
        storage.put("a.txt", "v3", if_match=first.etag)  # the etag changed
    assert storage.read("a.txt") == b"v2"


def test_errors__not_supported():
    with raises(afs.NotSupportedError, afs.ErrorCode.ENOTSUP) as ei:
        afs.Storage.open("s3://bucket/share")
    assert "s3" in ei.value.message


def test_errors__invalid_name(storage, tmp_path):
    with raises(afs.InvalidNameError, afs.ErrorCode.EINVALIDNAME):
        storage.put("../escape.txt", "x")
    with raises(afs.InvalidNameError, afs.ErrorCode.EINVALIDNAME):
        storage.stat(".libafs/group.json")  # the reserved prefix
    with afs.Service.open(tmp_path / "state") as svc:
        with raises(afs.InvalidNameError, afs.ErrorCode.EINVALIDNAME):
            svc.register("Bad/Name")


def test_errors__busy(one):
    with raises(afs.BusyError, afs.ErrorCode.EBUSY) as ei:
        one.service.delete_group("group1")
    assert "delete them first" in ei.value.message


def test_errors__busy_from_a_second_session_of_one_endpoint(one):
    put(one.data, "a.txt", "a")
    seen = []

    def nested(p):
        if p.phase == afs.SyncPhase.APPLY and not seen:
            with afs.SyncGroup.open(one.service, "group1") as g, g.open_endpoint() as ep:
                with raises(afs.BusyError, afs.ErrorCode.EBUSY):
                    ep.sync()
            seen.append(True)

    one.sync(progress=nested)
    assert seen


def test_errors__corrupt(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "service.db").write_bytes(b"this is not a database" * 100)
    with raises(afs.CorruptError, afs.ErrorCode.ECORRUPT):
        afs.Service.open(state)


def test_errors__version_of_state_from_a_newer_library(tmp_path):
    state = tmp_path / "state"
    afs.Service.open(state).close()
    db = sqlite3.connect(state / "service.db")
    db.execute("PRAGMA user_version = 9999")
    db.commit()
    db.close()
    with raises(afs.VersionError, afs.ErrorCode.EVERSION) as ei:
        afs.Service.open(state)
    assert "newer libafs" in ei.value.message


def test_errors__permission_denied(storage, tmp_path):
    locked = tmp_path / "store" / "locked"
    locked.mkdir()
    if subprocess.run(["chattr", "+i", str(locked)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here (needs root and ext4/xfs/btrfs)")
    try:
        with raises(afs.PermissionDeniedError, afs.ErrorCode.EPERM):
            storage.put("locked/x.txt", "x")
    finally:
        subprocess.run(["chattr", "-i", str(locked)], check=True)


def test_errors__not_empty_not_directory_is_directory(storage, tmp_path):
    storage.put("dir/file.txt", "x")
    with raises(afs.NotEmptyError, afs.ErrorCode.ENOTEMPTY):
        storage.rmdir("dir")
    with raises(afs.IsDirectoryError, afs.ErrorCode.EISDIR):
        storage.remove("dir")
    (tmp_path / "a-file").write_text("x")
    with raises(afs.NotDirectoryError, afs.ErrorCode.ENOTDIR):
        afs.Service.open(tmp_path / "a-file")


@contextlib.contextmanager
def tmpfs(where: Path, size: str):
    """A small tmpfs mounted at ``where`` (skips the test where mount is refused)."""
    where.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                       capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def test_errors__no_space(tmp_path):
    with tmpfs(tmp_path / "small", "64k") as root, afs.Storage.local(root) as s:
        with raises(afs.NoSpaceError, afs.ErrorCode.ENOSPC):
            s.put("big.bin", b"\0" * 512 * 1024)


def test_errors__io_error(storage, tmp_path):
    # A directory of the share that is another file system: the local backend's
    # temp file cannot be renamed into it (EXDEV, which libafs reports as EIO).
    with tmpfs(tmp_path / "store" / "mnt", "1m"):
        with raises(afs.StorageIOError, afs.ErrorCode.EIO):
            storage.put("mnt/x.txt", "x")


def test_errors__one_per_server(one, tmp_path):
    # The rule as such shows with a second endpoint on another volume (on the
    # same volume the volume rule below answers first).
    other = Path(tempfile.mkdtemp(dir="/dev/shm")) if os.path.isdir("/dev/shm") else None
    if other is None or os.stat(other).st_dev == os.stat(one.data).st_dev:
        pytest.skip("needs /dev/shm on another volume than the temp directory")
    try:
        with raises(afs.OnePerServerError, afs.ErrorCode.EONE_PER_SERVER):
            one.group.create_endpoint(other)
    finally:
        os.rmdir(other)


def test_errors__same_group_volume(one, tmp_path):
    (tmp_path / "second").mkdir()
    with raises(afs.SameGroupVolumeError, afs.ErrorCode.ESAME_GROUP_VOLUME):
        one.group.create_endpoint(tmp_path / "second")


def test_errors__overlap(one, env, tmp_path):
    (tmp_path / "share2").mkdir()
    (one.data / "inner").mkdir()
    with one.service.create_group("group2", tmp_path / "share2") as g2:
        with raises(afs.OverlapError, afs.ErrorCode.EOVERLAP):
            g2.create_endpoint(one.data / "inner")


def test_errors__system_volume(env):
    s = env.server("ServerA")
    if os.stat(s.data).st_dev != os.stat("/").st_dev:
        pytest.skip("the temp directory is not on the system volume here")
    with s.service.create_group("g", env.share) as g:
        with raises(afs.SystemVolumeError, afs.ErrorCode.ESYSTEM_VOLUME):
            g.create_endpoint(s.data, afs.EndpointOptions(
                tiering=afs.TieringPolicy(enabled=True)))


def test_errors__empty_path_for_authoritative_upload(env):
    s = env.server("ServerA")
    with s.service.create_group("g", env.share) as g:
        with raises(afs.EmptyPathError, afs.ErrorCode.EEMPTY_PATH):
            g.create_endpoint(s.data, afs.EndpointOptions(
                initial_sync=afs.InitialSync.AUTHORITATIVE_UPLOAD))


def test_errors__initial_option(env):
    s = env.server("ServerA")
    with s.service.create_group("g", env.share) as g:
        with raises(afs.InitialOptionError, afs.ErrorCode.EINITIAL_OPTION):
            g.create_endpoint(s.data, afs.EndpointOptions(
                initial_download=afs.InitialDownload.NAMESPACE_ONLY))


def test_errors__avoid_tiered(env):
    s = env.server("ServerA")
    with s.service.create_group("g", env.share) as g:
        with raises(afs.AvoidTieredError, afs.ErrorCode.EAVOID_TIERED):
            g.create_endpoint(s.data, afs.EndpointOptions(
                initial_download=afs.InitialDownload.AVOID_TIERED_FILES,
                tiering=afs.TieringPolicy(enabled=True)))


def test_errors__immutable_option(one):
    opts = one.endpoint.options
    opts.initial_sync = afs.InitialSync.AUTHORITATIVE_UPLOAD
    with raises(afs.ImmutableOptionError, afs.ErrorCode.EIMMUTABLE):
        one.endpoint.set_options(opts)


def test_errors__safety_net(one):
    for i in range(30):
        put(one.data, f"f{i}.txt", "x")
    one.sync()
    for i in range(20):
        os.unlink(one.data / f"f{i}.txt")
    with raises(afs.SafetyNetError, afs.ErrorCode.ESAFETY):
        one.sync()


def test_errors__limit_of_registered_uri_schemes(tmp_path):
    registered = []
    try:
        with raises(afs.LimitError, afs.ErrorCode.ELIMIT):
            for i in range(17):
                afs.register_scheme(f"limit{i}", lambda uri: afs.Storage.local(tmp_path))
                registered.append(f"limit{i}")
        assert len(registered) == 16
    finally:
        for s in registered:
            afs.unregister_scheme(s)


def test_errors__conflict_limit_is_a_persistent_item_error(env):
    a = env.server("A")
    b = env.server("B")
    put(a.data, "f.txt", "v1")
    for n in range(100):  # every conflict name B could use is taken
        put(a.data, "f-B.txt" if n == 0 else f"f-B-{n}.txt", "taken")
    a.join()
    a.sync()
    b.join()
    b.sync()
    put(a.data, "f.txt", "A, newer")
    set_mtime(a.data, "f.txt", 1700000900)
    put(b.data, "f.txt", "B, older")
    set_mtime(b.data, "f.txt", 1700000100)
    a.sync()
    r = b.sync()
    assert r.item_errors == 1
    [err] = b.endpoint.errors()
    assert err.path == "f.txt" and err.persistent
    assert type(err.error) is afs.ConflictLimitError
    assert err.error.code == afs.ErrorCode.ECONFLICT_LIMIT and "100" in err.message


def test_errors__closed_handle(storage):
    storage.close()
    with pytest.raises(afs.ClosedError) as ei:
        storage.stat("x")
    assert isinstance(ei.value, ValueError) and "closed" in str(ei.value)


def test_errors__message_is_the_failing_calls_even_after_other_calls(storage):
    with pytest.raises(afs.NotFoundError) as ei:
        storage.stat("missing.txt")
    storage.put("present.txt", "x")  # a later successful call
    assert "missing.txt" in ei.value.message


@contextlib.contextmanager
def fake_fuse(where: Path, **kwargs):
    """A FUSE file system served by the test itself (skips where mount is refused)."""
    from fakefuse import FakeFuse

    try:
        ff = FakeFuse(where, **kwargs).__enter__()
    except OSError as e:
        pytest.skip(f"cannot mount a FUSE file system here: {e}")
    try:
        yield where
    finally:
        ff.__exit__(None, None, None)


def test_errors__network_file_system(env, tmp_path):
    s = env.server("ServerA")
    with fake_fuse(tmp_path / "fuse") as mnt, s.service.create_group("g", env.share) as g:
        with raises(afs.NetworkFileSystemError, afs.ErrorCode.ENETWORK_FS) as ei:
            g.create_endpoint(mnt)
    assert "network file system" in ei.value.message


@pytest.mark.parametrize("err, cls, code", [
    (errno.EAGAIN, afs.TransientError, afs.ErrorCode.ETRANSIENT),
    (errno.ESTALE, afs.TransientError, afs.ErrorCode.ETRANSIENT),
    (errno.ENOMEM, afs.OutOfMemoryError, afs.ErrorCode.ENOMEM),
])
def test_errors__transient_and_out_of_memory_from_the_os(tmp_path, err, cls, code):
    with fake_fuse(tmp_path / "fuse", opendir_error=err) as mnt:
        with raises(cls, code) as ei:
            afs.Storage.local(mnt)
    assert os.strerror(err) in ei.value.message


def test_errors__cancelled_maps_from_its_code():
    # AFS_EUSER comes back only when a callback returns it; the binding's own
    # callbacks re-raise the Python exception instead (test_callbacks.py).
    e = afs.errors.make_error(int(afs.ErrorCode.EUSER))
    assert type(e) is afs.CancelledError and e.message == afs.strerror(afs.ErrorCode.EUSER)


def test_errors__messages_are_per_thread(tmp_path):
    # libafs keeps the last error per thread and ctypes releases the GIL during
    # calls, so threads failing at once must each get their own message.
    import threading

    roots = []
    for i in range(4):
        (tmp_path / f"s{i}").mkdir()
        roots.append(afs.Storage.local(tmp_path / f"s{i}", nosync=True))
    wrong = []

    def worker(i):
        for n in range(300):
            name = f"missing-{i}-{n}.txt"
            try:
                roots[i].stat(name)
            except afs.NotFoundError as e:
                if name not in e.message:
                    wrong.append(e.message)
            roots[i].put(f"ok-{n}", b"x")  # successes in between

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in roots:
        r.close()
    assert wrong == []

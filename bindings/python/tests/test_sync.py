"""Sync between servers through a local share, driven from Python; the tests
check what a user would: file contents, names, counts."""

from __future__ import annotations

import ctypes
import os

import pytest

import afs
from afs import _lib
from conftest import get, put, set_mtime, tree


def test_sync__two_servers_through_a_local_share(env):
    a = env.server("ServerA")
    b = env.server("ServerB")
    put(a.data, "report.docx", "quarterly numbers")
    put(a.data, "projects/alpha/plan.txt", "step one")
    (a.data / "projects/gamma").mkdir(parents=True)

    a.join()
    r = a.sync()
    assert r.ok and r.files_uploaded == 2 and r.item_errors == 0
    assert r.full_cloud_scan  # the first session enumerates the share
    assert tree(a.data) == tree(env.share)
    assert (env.share / "projects/gamma").is_dir()

    b.join()
    r = b.sync()
    assert r.files_downloaded == 2
    assert tree(b.data) == tree(a.data)

    # Changes flow both ways, deletions too.
    put(a.data, "report.docx", "edited on A")
    put(b.data, "from-b.txt", "hello from B")
    a.sync()
    b.sync()
    a.sync()
    assert get(b.data, "report.docx") == "edited on A"
    assert get(a.data, "from-b.txt") == "hello from B"
    os.unlink(b.data / "projects/alpha/plan.txt")
    assert b.sync().deleted_cloud == 1
    assert a.sync().deleted_local == 1
    assert tree(a.data) == tree(b.data) == tree(env.share)

    # Nothing changed: nothing moves.
    for s in (a, b):
        r = s.sync()
        assert r.files_uploaded + r.files_downloaded == 0


def test_sync__conflict_keeps_both_with_server_name(env):
    a = env.server("CentralServer")
    b = env.server("BranchServer")
    put(a.data, "CompanyReport.docx", "v1")
    a.join()
    a.sync()
    b.join()
    b.sync()

    # Both edit; A's edit is older, B's newer.
    put(a.data, "CompanyReport.docx", "central edit")
    set_mtime(a.data, "CompanyReport.docx", 1700000000)
    put(b.data, "CompanyReport.docx", "branch edit, newer")
    set_mtime(b.data, "CompanyReport.docx", 1700000500)
    a.sync()
    assert b.sync().conflicts == 1
    a.sync()

    # The newest write keeps the name; the older becomes <name>-<server>.<ext>.
    for s in (a, b):
        assert get(s.data, "CompanyReport.docx") == "branch edit, newer"
        assert get(s.data, "CompanyReport-CentralServer.docx") == "central edit"
    assert tree(a.data) == tree(b.data) == tree(env.share)


def test_sync__older_local_edit_becomes_its_servers_copy(env):
    a = env.server("CentralServer")
    b = env.server("BranchServer")
    put(a.data, "notes.txt", "v1")
    a.join()
    a.sync()
    b.join()
    b.sync()
    put(a.data, "notes.txt", "central, newer")
    set_mtime(a.data, "notes.txt", 1700000900)
    put(b.data, "notes.txt", "branch, older")
    set_mtime(b.data, "notes.txt", 1700000100)
    a.sync()
    b.sync()
    assert get(b.data, "notes.txt") == "central, newer"
    assert get(b.data, "notes-BranchServer.txt") == "branch, older"
    a.sync()
    assert tree(a.data) == tree(b.data)


def test_sync__direct_share_edit_found_by_full_scan_and_named_cloud(env):
    a = env.server("ServerA")
    put(a.data, "doc.txt", "from the server")
    put(a.data, "x.txt", "v1")
    a.join()
    a.sync()

    # Another program edits the share through the group's storage.
    share = a.group.storage
    share.put("doc.txt", "edited in the share")
    share.put("dropped/in.txt", "new in the share")
    share.put("x.txt", "share edit, older", mtime_ns=1600000000 * 10**9)
    put(a.data, "x.txt", "server edit, newer")
    r = a.sync(full_cloud_scan=True)
    assert r.full_cloud_scan
    assert get(a.data, "doc.txt") == "edited in the share"
    assert get(a.data, "dropped/in.txt") == "new in the share"
    assert get(a.data, "x.txt") == "server edit, newer"
    assert get(a.data, "x-Cloud.txt") == "share edit, older"
    assert tree(a.data) == tree(env.share)


def test_sync__authoritative_upload_mirrors_the_server(env):
    a = env.server("ServerA")
    with afs.Storage.open(env.share) as seeded:  # the share was seeded (say by Data Box)
        seeded.put("same.txt", "seeded")
        seeded.put("changed.txt", "old seeded")
        seeded.put("gone.txt", "deleted on the server since")
    put(a.data, "same.txt", "seeded")
    set_mtime(a.data, "same.txt", 1650000000)
    put(a.data, "changed.txt", "newer on the server")
    put(a.data, "new.txt", "only on the server")

    ep = a.join(afs.EndpointOptions(initial_sync=afs.InitialSync.AUTHORITATIVE_UPLOAD))
    assert ep.options.initial_sync == afs.InitialSync.AUTHORITATIVE_UPLOAD
    r = a.sync()
    assert r.conflicts == 0
    assert r.metadata_updates == 1  # same.txt: time only
    assert get(env.share, "gone.txt") is None
    assert get(env.share, "changed.txt") == "newer on the server"
    assert tree(a.data) == tree(env.share)
    assert a.group.storage.stat("same.txt").mtime_ns == 1650000000 * 10**9


def test_sync__merge_keeps_both_namespaces(env):
    a = env.server("ServerA")
    put(env.share, "cloud-only.txt", "from the share")
    put(env.share, "both.txt", "share version, older")
    set_mtime(env.share, "both.txt", 1600000000)
    put(a.data, "server-only.txt", "from the server")
    put(a.data, "both.txt", "server version, newer")
    a.join()
    a.sync()
    assert get(a.data, "cloud-only.txt") == "from the share"
    assert get(env.share, "server-only.txt") == "from the server"
    assert get(a.data, "both.txt") == "server version, newer"
    assert get(a.data, "both-Cloud.txt") == "share version, older"


def test_sync__last_result_and_item_errors(env):
    a = env.server("ServerA")
    put(a.data, "ok.txt", "synced")
    put(a.data, "bad:name.txt", "per-item error")
    ep = a.join()
    assert ep.last_result() is None
    r = a.sync()
    assert r.files_uploaded == 1 and r.item_errors == 1

    last = ep.last_result()
    assert last == r
    assert last.finished_ns >= last.started_ns and last.duration_s >= 0

    errs = ep.errors()
    assert len(errs) == 1
    e = errs[0]
    assert e.path == "bad:name.txt" and e.code == afs.ErrorCode.EINVALIDNAME
    assert e.persistent and e.count == 1 and e.last_ns >= e.first_ns
    assert isinstance(e.error, afs.InvalidNameError) and ":" in e.message

    a.sync()
    assert ep.errors()[0].count == 2  # kept and counted until fixed
    os.rename(a.data / "bad:name.txt", a.data / "good-name.txt")
    a.sync()
    assert ep.errors() == []
    assert get(env.share, "good-name.txt") == "per-item error"


def test_sync__safety_net_stops_then_force_deletes(env):
    a = env.server("ServerA")
    for i in range(30):
        put(a.data, f"f{i:02d}.txt", "x")
    a.join()
    a.sync()
    for i in range(20):
        os.unlink(a.data / f"f{i:02d}.txt")
    with pytest.raises(afs.SafetyNetError) as ei:
        a.sync()
    assert "AFS_SYNC_FORCE" in ei.value.message
    assert ei.value.result is not None and ei.value.result.result == afs.ErrorCode.ESAFETY
    assert len(tree(env.share)) == 30
    assert a.endpoint.last_result().result == afs.ErrorCode.ESAFETY
    a.sync(force=True)
    assert len(tree(env.share)) == 10


def test_sync__exclude_patterns_and_options_round_trip(env):
    a = env.server("ServerA")
    put(a.data, "keep.txt", "k")
    put(a.data, "skip.bak", "b")
    opts = afs.EndpointOptions(
        exclude=["*.bak"],
        safety_delete_percent=80,
        change_detection_interval_s=600,
        local_cache_mode=afs.LocalCacheMode.DOWNLOAD_NEW_AND_MODIFIED,
        tiering=afs.TieringPolicy(enabled=False, volume_free_space_percent=35,
                                  date_policy_days=14, minimum_file_size=128 * 1024),
    )
    ep = a.join(opts)
    assert ep.options == opts
    a.sync()
    assert get(env.share, "keep.txt") == "k"
    assert get(env.share, "skip.bak") is None

    # Options may change (except the initial ones); the library keeps them.
    new = ep.update_options(exclude=[], safety_delete_percent=0,
                            tiering=afs.TieringPolicy(date_policy_days=30))
    assert new.exclude == [] and new.tiering.date_policy_days == 30
    assert new.safety_delete_percent == 50  # 0 = the library default
    assert new.tiering.minimum_file_size == 64 * 1024
    a.sync()
    assert get(env.share, "skip.bak") == "b"
    ep.options = afs.EndpointOptions(exclude=["*.txt"])
    assert ep.options.exclude == ["*.txt"]


def test_sync__get_options_fills_only_the_callers_version(env):
    a = env.server("ServerA")
    ep = a.join(afs.EndpointOptions(exclude=["*.bak"], safety_delete_percent=70,
                                    change_detection_interval_s=900))
    size = ctypes.sizeof(_lib.EndpointOptionsC)  # version 1, as the package describes it
    guard = 64

    def fresh(version):
        buf = (ctypes.c_ubyte * (size + guard))(*([0xA5] * (size + guard)))
        o = _lib.EndpointOptionsC.from_buffer(buf)
        o.version = version
        return buf, o

    buf, o = fresh(1)
    with ep._h.use() as p:
        assert _lib.lib.afs_endpoint_get_options(p, ctypes.byref(o)) == 0
        assert o.version == 1
        assert o.safety_delete_percent == 70
        assert o.change_detection_interval_s == 900
        assert o.tiering_free_space_percent == 20
        assert [o.exclude[i] for i in range(o.exclude_count)] == [b"*.bak"]
    assert bytes(buf[size:]) == b"\xa5" * guard  # nothing written past the struct

    for version in (0, 99):
        buf, o = fresh(version)
        with ep._h.use() as p:
            rc = _lib.lib.afs_endpoint_get_options(p, ctypes.byref(o))
        assert rc == afs.ErrorCode.EVERSION
        assert f"afs_endpoint_options version {version} is not supported" in \
            _lib.decode(_lib.lib.afs_error_last())
        assert o.version == version
        assert bytes(buf[ctypes.sizeof(ctypes.c_uint):]) == b"\xa5" * (size + guard - 4)
    assert ep.options.exclude == ["*.bak"]

def test_sync__results_fill_only_the_callers_version(env):
    """The structs the library fills in (the last result, the provisioning)
    get the fields of their version and nothing after them; 0 and 99 give
    EVERSION and write nothing. The package passes plain structs."""
    a = env.server("ServerA")
    put(a.data, "one.txt", "1")
    ep = a.join()
    assert a.sync().files_uploaded == 1
    assert ep.last_result().files_uploaded == 1
    guard = 64

    def end(struct):  # where version 1 ends: its last field's end
        name = struct._fields_[-1][0]
        return getattr(struct, name).offset + getattr(struct, name).size

    for struct, fn, check in (
            (_lib.SyncResultC, "afs_endpoint_last_result", lambda o: o.files_uploaded == 1),
            (_lib.ProvisioningC, "afs_endpoint_provisioning",
             lambda o: o.status == afs.ProvisioningStatus.READY_SYNC_FUNCTIONAL)):
        size = end(struct)
        for version in (1, 0, 99):
            buf = (ctypes.c_ubyte * (size + guard))(*([0xA5] * (size + guard)))
            o = struct.from_buffer(buf)
            o.version = version
            with ep._h.use() as p:
                rc = getattr(_lib.lib, fn)(p, ctypes.cast(ctypes.byref(o), ctypes.POINTER(struct)))
            assert o.version == version
            if version == 1:
                assert rc == 0 and check(o)
                assert bytes(buf[size:]) == b"\xa5" * guard  # nothing written past it
            else:
                assert rc == afs.ErrorCode.EVERSION
                assert f"{fn}: " in _lib.decode(_lib.lib.afs_error_last())
                assert f"version {version} is not supported" in \
                    _lib.decode(_lib.lib.afs_error_last())
                assert bytes(buf[4:]) == b"\xa5" * (size + guard - 4)


def test_sync__groups_and_endpoints_listed_and_deleted(env):
    a = env.server("ServerA")
    b = env.server("ServerB")
    ga = a.service.create_group("docs", env.share)
    assert ga.name == "docs" and ga.storage_uri == str(env.share) and len(ga.id) == 36
    assert a.service.groups() == ["docs"] == afs.SyncGroup.list(a.service)

    gb = afs.SyncGroup.join(b.service, env.share)  # by the share's URI
    assert gb.id == ga.id and gb.name == "docs"
    assert b.service.groups() == ["docs"]
    ea = ga.create_endpoint(a.data)
    eb = afs.ServerEndpoint.create(gb, b.data)

    infos = afs.ServerEndpoint.list(ga)
    assert [(i.server_name, i.path) for i in infos] == [
        ("ServerA", ea.path), ("ServerB", eb.path)]
    assert infos[0].server_id == a.service.server_info().id
    assert infos[0].id == ea.id and infos[0].created_ns <= infos[1].created_ns
    assert isinstance(infos[0].options, afs.EndpointOptions)

    # Reopen by name, and this server's endpoint from the group.
    with a.service.open_group("docs") as again, again.open_endpoint() as ep:
        assert ep.id == ea.id and ep.path == str(a.data)

    with pytest.raises(afs.BusyError):
        a.service.delete_group("docs")
    afs.ServerEndpoint.delete(ga)
    assert ea.closed  # the open handle of the deleted endpoint was closed
    gb.delete_endpoint()
    assert eb.closed
    assert ga.endpoints() == []
    a.service.delete_group("docs")
    assert a.service.groups() == []
    with pytest.raises(afs.NotFoundError):
        afs.SyncGroup.open(a.service, "docs")
    assert tree(env.share) == {}  # user data and nothing else stays


def test_sync__listed_endpoints_carry_their_own_options(env):
    """Each listed endpoint has its own options, exclude patterns included,
    whichever server lists them (afs_endpoint_info points to its options)."""
    servers = [env.server(f"Server{i}") for i in range(3)]
    wanted = []
    for i, s in enumerate(servers):
        opts = afs.EndpointOptions(
            initial_download=(afs.InitialDownload.DEFAULT if i == 0
                              else afs.InitialDownload.NAMESPACE_THEN_CONTENT),
            exclude=[f"skip{k}-*" for k in range(i)],
            safety_delete_percent=70 + i,
            change_detection_interval_s=400 + i,
            tiering=afs.TieringPolicy(enabled=False, volume_free_space_percent=30 + i,
                                      date_policy_days=i, minimum_file_size=(64 + i) * 1024))
        s.join(opts)
        wanted.append(s.endpoint.options)
    for s in (servers[0], servers[2]):
        infos = s.group.endpoints()
        assert [i.server_name for i in infos] == ["Server0", "Server1", "Server2"]
        assert [i.options for i in infos] == wanted
        assert [i.options.exclude for i in infos] == [[], ["skip0-*"], ["skip0-*", "skip1-*"]]
        assert [i.options.safety_delete_percent for i in infos] == [70, 71, 72]


def test_sync__server_identity(tmp_path):
    with afs.Service.open(tmp_path / "state") as svc:
        assert not svc.registered
        info = svc.register("Host-1")
        assert info.name == "Host-1" and len(info.id) == 36
        assert svc.register("Host-1") == info  # same name: no-op, same id
        assert svc.server_info() == info and svc.registered
        assert svc.state_dir == str(tmp_path / "state")
    with afs.Service.open(str(tmp_path / "state")) as svc:
        assert svc.server_info() == info  # kept in the state directory


def test_sync__service_with_explicit_posix_filesystem(env, tmp_path):
    fs = afs.FileSystem.posix()
    with afs.Service.open(tmp_path / "svc", fs=fs) as svc:
        svc.register("WithFs")
        put(tmp_path / "d", "a.txt", "a")
        with svc.create_group("g", env.share) as g, g.create_endpoint(tmp_path / "d") as ep:
            assert ep.sync().files_uploaded == 1
    fs.close()


def test_sync__changing_options_keeps_the_endpoint_creation_time(env):
    a = env.server("ServerA")
    b = env.server("ServerB")
    a.join()
    b.join()
    before = [(i.server_name, i.created_ns) for i in a.group.endpoints()]
    a.endpoint.update_options(exclude=["*.bak"])
    after = [(i.server_name, i.created_ns) for i in a.group.endpoints()]
    assert after == before


def test_sync__journal_stale_limit_is_a_group_setting(env):
    a = env.server("ServerA")
    b = env.server("ServerB")
    ga = a.service.create_group("docs", env.share)
    gb = afs.SyncGroup.join(b.service, env.share)
    assert ga.journal_stale_limit_s == 30 * 24 * 3600
    ga.journal_stale_limit_s = 7 * 24 * 3600
    assert gb.journal_stale_limit_s == 7 * 24 * 3600  # kept in the share
    with pytest.raises(afs.InvalidArgumentError):
        ga.journal_stale_limit_s = 11 * 365 * 24 * 3600
    with pytest.raises(afs.InvalidArgumentError):
        ga.journal_stale_limit_s = -1
    assert gb.journal_stale_limit_s == 7 * 24 * 3600
    ga.journal_stale_limit_s = 0  # the default again
    assert gb.journal_stale_limit_s == 30 * 24 * 3600


def test_sync__endpoint_of_a_gone_server_is_removed_and_nothing_is_deleted(env):
    a = env.server("ServerA")
    b = env.server("ServerB")
    put(a.data, "kept.txt", "kept")
    a.join()
    a.sync()
    b.join()
    b.sync()
    b_id = b.endpoint.id
    b.endpoint.close()
    b.group.close()  # ServerB's process is gone

    with pytest.raises(afs.InvalidArgumentError):
        a.group.remove_endpoint(a.endpoint.id)  # its own: delete_endpoint
    with pytest.raises(afs.NotFoundError):
        a.group.remove_endpoint("0123abcd-0000-0000-0000-000000000000")
    a.group.remove_endpoint(b_id)
    assert [e.server_name for e in a.group.endpoints()] == ["ServerA"]
    assert get(env.share, "kept.txt") == "kept" and get(b.data, "kept.txt") == "kept"

    # ServerB was alive after all: its sync stops and changes nothing.
    b.group = b.service.open_group("group1")
    b.endpoint = b.group.open_endpoint()
    put(b.data, "new.txt", "new")
    with pytest.raises(afs.NotFoundError, match="no longer in sync group"):
        b.sync()
    assert get(env.share, "new.txt") is None
    b.group.delete_endpoint()
    b.endpoint = b.group.create_endpoint(b.data)
    b.sync()
    assert get(env.share, "new.txt") == "new"


def test_sync__second_server_of_the_same_name_is_refused(env):
    a = env.server("Branch")
    a.join()
    twin = env.server("Twin")
    twin.service.close()
    twin.service = afs.Service.open(env.root / "twin2-state")
    twin.service.register("BRANCH")  # equal but for case
    group = twin.service.join_group(env.share)
    with pytest.raises(afs.ExistsError, match="register this server under another name"):
        group.create_endpoint(twin.data)
    assert len(group.endpoints()) == 1
    group.close()

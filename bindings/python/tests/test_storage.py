"""Storage: a share opened directly, to look at it and to edit it."""

from __future__ import annotations

import os

import pytest

import afs


def test_storage__put_stat_read(storage):
    e = storage.put("docs/a.txt", "hello", mtime_ns=1_600_000_000_123_456_789,
                    attributes=afs.Attributes.READONLY | afs.Attributes.ARCHIVE)
    assert e.size == 5 and e.etag and e.is_file
    st = storage.stat("docs/a.txt")
    assert st.etag == e.etag and st.size == 5 and st.type == afs.ItemType.FILE
    assert st.mtime_ns == 1_600_000_000_123_456_789
    assert st.attributes == afs.Attributes.READONLY | afs.Attributes.ARCHIVE
    assert storage.stat("docs").is_dir
    assert storage.read("docs/a.txt") == b"hello"
    assert storage.read("docs/a.txt", 1, 3) == b"ell"
    assert storage.read("docs/a.txt", 3) == b"lo"
    assert storage.read("docs/a.txt", 10, 5) == b""
    assert storage.read_text("docs/a.txt") == "hello"
    assert storage.put("empty", b"").size == 0 and storage.read("empty") == b""
    assert storage.put("bytes", bytearray(b"\0\1\2")).size == 3
    assert storage.exists("docs/a.txt") and not storage.exists("docs/nope")


def test_storage__read_against_the_etag_seen_first(storage):
    e = storage.put("a.txt", "v1")
    storage.put("a.txt", "v2")
    with pytest.raises(afs.ConditionError):
        storage.read("a.txt", if_match=e.etag)
    assert storage.read("a.txt", if_match=storage.stat("a.txt").etag) == b"v2"


def test_storage__list_walk_and_pages(storage, tmp_path):
    for i in range(5):
        storage.put(f"dir/f{i}.txt", str(i))
    storage.mkdir("dir/sub")
    storage.put("top.txt", "t")
    names = [e.name for e in storage.list()]
    assert names == ["dir", "top.txt"]  # never the reserved .libafs
    assert [e.name for e in storage.list("dir")] == [f"f{i}.txt" for i in range(5)] + ["sub"]
    assert [p for p, _ in storage.walk()] == (
        ["dir"] + [f"dir/f{i}.txt" for i in range(5)] + ["dir/sub", "top.txt"])

    entries, marker = storage.list_page("dir")
    got = list(entries)
    while marker:
        entries, marker = storage.list_page("dir", marker)
        got += entries
    assert sorted(e.name for e in got) == sorted(e.name for e in storage.list("dir"))
    with pytest.raises(afs.NotFoundError):
        storage.list("missing")


def test_storage__symlinks_in_a_local_share_are_not_objects(storage, tmp_path):
    os.symlink("/etc/passwd", tmp_path / "store" / "link")
    (tmp_path / "store" / "ok.txt").write_text("ok")
    assert [e.name for e in storage.list()] == ["ok.txt"]
    assert all(e.valid for e in storage.list())
    with pytest.raises(afs.NotFoundError):
        storage.read("link")  # never followed out of the share


def test_storage__conditions_remove_rename_dirs(storage):
    e = storage.put("a.txt", "a")
    with pytest.raises(afs.ConditionError):
        storage.remove("a.txt", if_match="not-the-etag")
    storage.rename("a.txt", "b.txt", if_match=e.etag)
    assert not storage.exists("a.txt") and storage.read("b.txt") == b"a"
    storage.put("c.txt", "c")
    with pytest.raises(afs.ConditionError):
        storage.rename("b.txt", "c.txt", no_replace=True)
    storage.rename("b.txt", "c.txt")
    assert storage.read("c.txt") == b"a"
    storage.remove("c.txt", if_match=storage.stat("c.txt").etag)
    assert storage.list() == []

    storage.makedirs("x/y/z")
    storage.makedirs("x/y/z")  # existing ones are fine
    with pytest.raises(afs.ExistsError):
        storage.mkdir("x/y")
    storage.rename("x", "w")
    assert storage.stat("w/y/z").is_dir
    for d in ("w/y/z", "w/y", "w"):
        storage.rmdir(d)
    assert storage.list() == []


def test_storage__set_props_and_metadata(storage):
    e = storage.put("m.txt", "m", metadata={"owner": "alice", "build_id": "42"})
    assert storage.meta_get("m.txt", "owner") == "alice"
    assert storage.meta_get("m.txt", "build_id") == "42"
    assert storage.meta_get("m.txt", "absent") is None
    with pytest.raises(afs.NotFoundError):
        storage.meta_get("missing.txt", "owner")
    with pytest.raises(afs.InvalidArgumentError):
        storage.put("bad.txt", "x", metadata={"Upper": "x"})
    n = storage.set_props("m.txt", mtime_ns=1_500_000_000 * 10**9,
                          attributes=afs.Attributes.HIDDEN)
    assert n.etag != e.etag and n.mtime_ns == 1_500_000_000 * 10**9
    assert storage.stat("m.txt").attributes == afs.Attributes.HIDDEN
    kept = storage.set_props("m.txt", attributes=0)  # mtime None: kept
    assert kept.mtime_ns == 1_500_000_000 * 10**9
    assert storage.read("m.txt") == b"m"


def test_storage__open_by_uri_and_path(tmp_path):
    (tmp_path / "s").mkdir()
    with afs.Storage.open(tmp_path / "s") as by_path:
        by_path.put("x.txt", "x")
        assert by_path.backend_name == "local"
        assert "local" in repr(by_path)
    with afs.Storage.open(f"file://{tmp_path / 's'}") as by_uri:
        assert by_uri.read("x.txt") == b"x"
    with pytest.raises(afs.NotFoundError):
        afs.Storage.local(tmp_path / "missing")
    with pytest.raises(ValueError):
        afs.Storage.open("bad\0uri")


def test_storage__name_check():
    assert afs.name_check("report.docx")
    for bad in ("", ".", "..", "a/b", "x" * 256, b"nul\0byte"):
        assert not afs.name_check(bad), bad
    assert afs.name_check("é" * 127)  # 254 bytes of UTF-8
    assert not afs.name_check("é" * 128)  # 256 bytes

"""Cloud tiering and recall from Python: placeholders with their logical size
and no blocks, recall giving back identical bytes, the tiering pass and the
heat order, pins and exclusions, statistics, progress callbacks, errors.

Tiering is refused on the system volume, so the endpoints live on a tmpfs
mounted for each test (root only: the tests skip where mounting is refused).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import afs
from conftest import put

MiB = 1024 * 1024


@pytest.fixture
def volume(tmp_path: Path):
    """A tmpfs of 16 MiB at tmp_path/vol, unmounted after the test."""
    vol = tmp_path / "vol"
    vol.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "afs-py-test", str(vol)],
                       capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs (needs root): " + r.stderr.decode().strip())
    yield vol
    subprocess.run(["umount", "-l", str(vol)], check=True)


def tiering(**policy) -> afs.EndpointOptions:
    return afs.EndpointOptions(tiering=afs.TieringPolicy(enabled=True, **policy))


def random_file(root: Path, rel: str, size: int) -> bytes:
    data = os.urandom(size)
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return data


@pytest.fixture
def tserver(env, volume):
    """Server A with a tiering endpoint on the tmpfs (20% free space policy)."""
    a = env.server("ServerA", data=volume / "data")
    a.join(tiering())
    return a


def test_tier__tiered_file_keeps_its_size_and_no_blocks_and_recall_gives_identical_bytes(tserver):
    a = tserver
    ep = a.endpoint
    data = random_file(a.data, "video.bin", 3 * MiB)
    a.sync()
    before = ep.stats()
    assert before.files >= 1 and before.tiered_files == 0

    r = ep.tier_file("video.bin")
    assert r.files_tiered == 1 and r.bytes_freed == 3 * MiB
    st = os.stat(a.data / "video.bin")
    assert st.st_size == 3 * MiB and st.st_blocks == 0  # tmpfs counts no marker block
    info = ep.query(a.data / "video.bin")  # absolute or relative paths
    assert info.state == afs.TierState.TIERED and info.is_placeholder
    assert info.size == 3 * MiB and info.size_on_disk == 0
    assert info.marker is not None and info.marker.cloud_path == "video.bin"
    assert info.marker.raw[:4] == b"AFSM" and info.marker.ranges == ()
    assert not info.marker.namespace_only
    stats = ep.stats()
    assert stats.tiered_files == 1 and stats.tiered_bytes == 3 * MiB
    assert stats.files_tiered_total == 1

    res = ep.recall("video.bin")
    assert res.files_recalled == 1 and res.bytes_recalled == 3 * MiB and res.files_failed == 0
    assert (a.data / "video.bin").read_bytes() == data
    assert ep.query("video.bin").state == afs.TierState.FULL
    assert ep.query("video.bin").marker is None
    stats = ep.stats()
    assert stats.tiered_files == 0 and stats.recalls == 1 and stats.recall_bytes == 3 * MiB
    assert stats.recall_success_percent == 100
    # Tiering and recall move nothing in the next session.
    r2 = a.sync()
    assert r2.files_uploaded == 0 and r2.files_downloaded == 0


def test_tier__partial_recall_and_read_through(tserver):
    a = tserver
    ep = a.endpoint
    data = random_file(a.data, "big.bin", 4 * MiB)
    a.sync()
    ep.tier_file("big.bin")
    ep.recall_range("big.bin", 10, 20)  # the first 1 MiB chunk
    info = ep.query("big.bin")
    assert info.state == afs.TierState.PARTIAL
    assert info.marker.ranges == ((0, MiB),) and info.marker.recalled_bytes == MiB
    assert info.size_on_disk >= MiB and info.size == 4 * MiB
    assert ep.read("big.bin", 2 * MiB + 5, 100) == data[2 * MiB + 5:2 * MiB + 105]
    assert ep.query("big.bin").marker.recalled_bytes == 2 * MiB
    assert ep.read("big.bin") == data
    assert ep.query("big.bin").state == afs.TierState.FULL
    assert ep.stats().access_recalls >= 1


def test_tier__pass_frees_space_coolest_first_and_keeps_hot_and_pinned_files(env, volume):
    a = env.server("ServerA", data=volume / "data")
    a.join(tiering(volume_free_space_percent=60))
    ep = a.endpoint
    files = {f"f{i}.bin": random_file(a.data, f"f{i}.bin", MiB) for i in range(8)}
    a.sync()
    assert ep.tier_interval() == (3600, False)
    for _ in range(3):
        ep.access("f0.bin")  # the hottest
    ep.access("f1.bin")
    ep.access("f7.bin", no_heat=True)  # a scanner: not counted
    ep.pin("f2.bin")
    assert ep.pins() == ["f2.bin"]

    order = [Path(e.path).name for e in ep.heat(afs.HeatOrder.SPACE_POLICY, limit=0)]
    assert "f2.bin" not in order  # pinned: never a candidate
    assert order[-2:] == ["f1.bin", "f0.bin"]  # accessed files are the warmest
    hot = ep.heat(afs.HeatOrder.LAST_ACCESS, limit=2)
    assert [Path(e.path).name for e in hot][0] in ("f0.bin", "f1.bin")
    assert {e.access_count for e in hot} == {3, 1}
    entries = a.service.heat(a.data, limit=0)  # the same report through the service
    assert [Path(e.path).name for e in entries] == order

    dry = ep.tier_pass(dry_run=True)
    assert dry.files_tiered > 0
    assert all(ep.query(n).state == afs.TierState.FULL for n in files)

    r = ep.tier_pass()
    assert r.files_tiered == r.files_tiered_space == dry.files_tiered
    assert r.free_space_percent == 60
    assert r.free_bytes_after >= r.target_free_bytes > r.free_bytes_before
    tiered = [n for n in files if ep.query(n).state == afs.TierState.TIERED]
    assert len(tiered) == r.files_tiered
    assert "f0.bin" not in tiered and "f2.bin" not in tiered
    assert tiered == order[:len(tiered)]  # coolest first, as the report said
    recall_order = [Path(e.path).name for e in ep.heat(afs.HeatOrder.RECALL, limit=0)]
    assert sorted(recall_order) == sorted(tiered)
    assert ep.stats().tiered_files == len(tiered)
    vs = a.service.volume_stats(volume)
    assert vs.tiered_files == len(tiered) and vs.volume_total_bytes > 0

    res = ep.recall("", threads=4, order=afs.RecallOrder.PATH)
    assert res.files_recalled == len(tiered)
    for n, d in files.items():
        assert (a.data / n).read_bytes() == d
    ep.unpin("f2.bin")
    assert ep.pins() == []


def test_tier__exclusions_are_never_tiered(tserver):
    a = tserver
    ep = a.endpoint
    random_file(a.data, "keep/a.db", 200 * 1024)
    random_file(a.data, "keep/b.bin", 200 * 1024)
    a.sync()
    assert ep.tier_exclusions == []
    ep.tier_exclusions = ["*.db"]
    assert ep.get_tier_exclusions() == ["*.db"]
    with pytest.raises(afs.PermissionDeniedError) as e:
        ep.tier_file("keep/a.db")
    assert "exclu" in e.value.message
    r = ep.tier_file("keep")
    assert r.files_tiered == 1 and r.skipped_excluded == 1
    assert ep.query("keep/a.db").state == afs.TierState.FULL
    with pytest.raises(afs.InvalidArgumentError):
        ep.set_tier_exclusions([""])
    assert ep.tier_exclusions == ["*.db"]  # a refused change keeps the old patterns


def test_tier__errors_raise_the_mapped_exception_with_the_message(env, tserver):
    a = tserver
    ep = a.endpoint
    data = random_file(a.data, "doc.bin", MiB)
    with pytest.raises(afs.ConditionError) as e:  # not in the cloud yet
        ep.tier_file("doc.bin")
    assert "doc.bin" in e.value.message
    put(a.data, "small.txt", "tiny")
    a.sync()
    with pytest.raises(afs.PermissionDeniedError) as e:
        ep.tier_file("small.txt")
    assert "minimum" in e.value.message
    with pytest.raises(afs.NotFoundError):
        ep.query("no-such-file")
    with pytest.raises(afs.InvalidArgumentError):
        ep.query("/etc/passwd")  # outside the endpoint
    for bad in (0, 33):
        with pytest.raises(afs.InvalidArgumentError):
            ep.recall("doc.bin", threads=bad)
    with pytest.raises(afs.InvalidArgumentError):
        ep.recall_range("doc.bin", -1, 10)

    # The cloud copy changed after tiering: nothing of the new version is written.
    ep.tier_file("doc.bin")
    (env.share / "doc.bin").write_bytes(b"edited straight in the share")
    with pytest.raises(afs.ConditionError) as e:
        ep.recall("doc.bin", retries=0)
    assert e.value.result.files_failed == 1 and e.value.result.files_recalled == 0
    assert ep.query("doc.bin").state == afs.TierState.TIERED
    assert ep.stats().recall_failures == 1
    del data

    # Tiering on the system volume (the sandbox's own) is refused at creation.
    b = env.server("ServerB")
    b.group = b.service.join_group(env.share)
    with pytest.raises(afs.SystemVolumeError) as e:
        b.group.create_endpoint(b.data, tiering())
    assert "system volume" in e.value.message


def test_tier__recall_progress_and_an_exception_in_it_stops_cleanly(tserver):
    a = tserver
    ep = a.endpoint
    files = {f"tree/f{i}.bin": random_file(a.data, f"tree/f{i}.bin", MiB) for i in range(6)}
    a.sync()
    ep.tier_file("tree")
    seen = []

    class Stop(Exception):
        pass

    def stop_after_two(p: afs.RecallProgress) -> None:
        seen.append(p)
        if p.bytes_done >= 2 * MiB:
            raise Stop("enough")

    with pytest.raises(Stop):
        ep.recall("tree", order=afs.RecallOrder.PATH, progress=stop_after_two)
    assert seen[0] == afs.RecallProgress(files_done=0, files_total=6, bytes_done=0,
                                         bytes_total=6 * MiB)
    states = {n: ep.query(n).state for n in files}
    full = [n for n, s in states.items() if s == afs.TierState.FULL]
    assert full == ["tree/f0.bin", "tree/f1.bin"]
    assert all(s == afs.TierState.TIERED for n, s in states.items() if n not in full)
    for n in full:
        assert (a.data / n).read_bytes() == files[n]
    assert ep.stats().recall_failures == 0  # a stop is not a failure

    seen.clear()
    res = ep.recall("tree", threads=3, progress=seen.append)
    assert res.files_recalled == 4 and res.files_already_local == 2
    assert seen[0].files_total == 4 and seen[-1].files_done == 4
    assert seen[-1].bytes_done == seen[-1].bytes_total == 4 * MiB
    for n, d in files.items():
        assert (a.data / n).read_bytes() == d


def test_tier__a_later_endpoint_gets_placeholders_and_reports_provisioning(env, volume):
    a = env.server("ServerA")
    data = random_file(a.data, "docs/report.bin", 200 * 1024)
    put(a.data, "docs/tiny.txt", "small files arrive whole")
    a.join()
    a.sync()
    assert a.endpoint.provisioning().status == afs.ProvisioningStatus.READY_SYNC_FUNCTIONAL

    b = env.server("ServerB", data=volume / "branch")
    b.join(afs.EndpointOptions(initial_download=afs.InitialDownload.NAMESPACE_ONLY,
                               tiering=afs.TieringPolicy(enabled=True)))
    assert b.endpoint.provisioning().status == afs.ProvisioningStatus.NOT_STARTED
    b.sync()
    pv = b.endpoint.provisioning()
    assert pv.status == afs.ProvisioningStatus.READY_SYNC_FUNCTIONAL
    assert pv.namespace_download.status == afs.ProvisioningStatus.READY_SYNC_FUNCTIONAL
    assert pv.namespace_download.percent == 100 and pv.namespace_download.finished_ns > 0
    info = b.endpoint.query("docs/report.bin")
    assert info.state == afs.TierState.TIERED and info.marker.namespace_only
    assert info.size == len(data) and info.size_on_disk == 0
    assert b.endpoint.query("docs/tiny.txt").state == afs.TierState.FULL
    b.endpoint.recall("docs")
    assert (b.data / "docs/report.bin").read_bytes() == data

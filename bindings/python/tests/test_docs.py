"""docs/python.md stays true: its Python blocks run, in order, as one program."""

from __future__ import annotations

import os
import re
import subprocess

from conftest import REPO, run_python


def test_docs__the_python_tour_runs(tmp_path):
    text = (REPO / "docs" / "python.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 5
    probe = tmp_path / "probe"
    probe.mkdir()
    as_root = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "afs-probe", str(probe)],
                             capture_output=True).returncode == 0
    if as_root:
        subprocess.run(["umount", str(probe)], check=True)
    else:  # the tiering part mounts a tmpfs
        blocks = [b for b in blocks if not b.startswith("# as root")]
    r = run_python("\n".join(blocks), {"TMPDIR": str(tmp_path)})  # its mkdtemp lands here
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "uploaded 1" in out and "downloaded 1" in out and "conflicts 1" in out
    assert "['CompanyReport-CentralServer.docx', 'CompanyReport.docx']" in out
    assert "written straight into the share" in out
    assert "ENOTFOUND - " in out and "True" in out
    assert "bad:name.txt EINVALIDNAME True 1 InvalidNameError" in out
    if as_root:
        assert "tiered 1 freed 4194304" in out and "TIERED 4194304 0 video.mp4" in out
        assert "recall 4194304 of 4194304" in out and "recalled 1 FULL" in out
        assert "\nvideo.mp4\n" in out and "True FULL" in out
        assert "['video.mp4'] ['*.db']" in out and "not tiered:" in out

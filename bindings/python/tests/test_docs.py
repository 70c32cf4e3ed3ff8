"""docs/python.md stays true: its Python blocks run, in order, as one program."""

from __future__ import annotations

import re

from conftest import REPO, run_python


def test_docs__the_python_tour_runs(tmp_path):
    text = (REPO / "docs" / "python.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 5
    r = run_python("\n".join(blocks), {"TMPDIR": str(tmp_path)})  # its mkdtemp lands here
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "uploaded 1" in out and "downloaded 1" in out and "conflicts 1" in out
    assert "['CompanyReport-CentralServer.docx', 'CompanyReport.docx']" in out
    assert "written straight into the share" in out
    assert "ENOTFOUND - " in out and "True" in out
    assert "bad:name.txt EINVALIDNAME True 1 InvalidNameError" in out

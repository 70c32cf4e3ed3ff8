"""Loading libafs and checking its version at import."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import afs
from afs import _lib
from conftest import have_cc, run_python


def test_version__functions_agree():
    major, minor, patch = afs.version()
    assert afs.version_num() == (major << 16) | (minor << 8) | patch
    assert afs.version_string() == f"{major}.{minor}.{patch}"
    assert (major, minor) >= afs.REQUIRED_VERSION and major == afs.REQUIRED_VERSION[0]
    if os.environ.get("AFS_LIBRARY"):
        assert afs.library_path() == os.environ["AFS_LIBRARY"]


@pytest.mark.parametrize("num, ok", [
    (0x000100, True),    # 0.1.0: what the package was written for
    (0x000105, True),    # a later patch
    (0x000300, True),    # a later 0.x only adds to the ABI
    (0x000009, False),   # 0.0.9: older than 0.1
    (0x010100, False),   # 1.1.0: another ABI generation
])
def test_version__compatibility_rule(num, ok):
    if ok:
        assert _lib.check_version(num) == _lib.split_version(num)
    else:
        with pytest.raises(afs.LibraryVersionError) as ei:
            _lib.check_version(num)
        assert isinstance(ei.value, ImportError)
        major, minor, patch = _lib.split_version(num)
        assert f"{major}.{minor}.{patch}" in str(ei.value) and "needs 0.1" in str(ei.value)


def test_version__missing_library_gives_a_clear_import_error(tmp_path):
    r = run_python("import afs", {"AFS_LIBRARY": str(tmp_path / "no-such-libafs.so")})
    assert r.returncode != 0
    assert "LibraryLoadError" in r.stderr and "AFS_LIBRARY=" in r.stderr
    assert "no-such-libafs.so" in r.stderr


def test_version__a_library_that_is_not_libafs(tmp_path):
    r = run_python("import afs", {"AFS_LIBRARY": "libz.so.1"})
    assert r.returncode != 0 and "does not export afs_version" in r.stderr


def test_version__loads_by_soname_without_afs_library():
    lib = os.environ.get("AFS_LIBRARY")
    extra = {"AFS_LIBRARY": ""}
    if lib:
        # The build directory holds libafs.so.0 next to libafs.so.
        extra["LD_LIBRARY_PATH"] = str(Path(lib).resolve().parent)
    r = run_python("import afs; print(afs.library_path(), afs.version_string())", extra)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [_lib.SONAME, afs.version_string()]


@pytest.mark.skipif(not have_cc(), reason="needs a C compiler to build a stand-in library")
@pytest.mark.parametrize("num, text", [(0x000009, "0.0.9"), (0x010000, "1.0.0")])
def test_version__mismatched_library_is_refused_at_import(tmp_path, num, text):
    src = tmp_path / "fake.c"
    src.write_text(f"unsigned int afs_version(void) {{ return {num}u; }}\n"
                   f"const char *afs_version_string(void) {{ return \"{text}\"; }}\n")
    so = tmp_path / "libfakeafs.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(so), str(src)], check=True)
    r = run_python("import afs", {"AFS_LIBRARY": str(so)})
    assert r.returncode != 0
    assert "LibraryVersionError" in r.stderr
    assert f"is version {text}" in r.stderr and "needs 0.1" in r.stderr

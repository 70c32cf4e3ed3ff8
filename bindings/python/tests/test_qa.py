"""QA regressions of the binding: each failed before its fix."""
import pytest

import afs


def test_a_non_string_name_is_a_type_error(tmp_path):
    # Before: AttributeError "'int' object has no attribute 'encode'",
    # which names no argument and looks like a bug in the package.
    with afs.Service.open(tmp_path / "state") as svc:
        svc.register("QaServer")
        for bad in (123, 4.5, ["x"], object()):
            with pytest.raises(TypeError, match="str, bytes or path"):
                svc.open_group(bad)
        with pytest.raises(TypeError, match="int"):
            afs.Storage.open(7)

"""The ctypes descriptions against the public headers, as the C compiler sees
them: every struct's size and field offsets, and every constant the package
hard-codes (error codes, enum values, flags, struct versions)."""

from __future__ import annotations

import ctypes
import os
import re
import subprocess

import pytest

import afs
from afs import _lib, storage as afs_storage
from conftest import REPO, have_cc

pytestmark = pytest.mark.skipif(not have_cc(), reason="needs a C compiler")

STRUCTS = {
    "afs_storage_entry": _lib.StorageEntryC,
    "afs_storage_put_options": _lib.StoragePutOptionsC,
    "afs_storage_local_options": _lib.StorageLocalOptionsC,
    "afs_service_options": _lib.ServiceOptionsC,
    "afs_strarray": _lib.StrArrayC,
    "afs_endpoint_options": _lib.EndpointOptionsC,
    "afs_endpoint_info": _lib.EndpointInfoC,
    "afs_sync_progress": _lib.SyncProgressC,
    "afs_sync_options": _lib.SyncOptionsC,
    "afs_sync_result": _lib.SyncResultC,
    "afs_item_error": _lib.ItemErrorC,
    "afs_provisioning_step": _lib.ProvisioningStepC,
    "afs_provisioning": _lib.ProvisioningC,
    "afs_tier_info": _lib.TierInfoC,
    "afs_tier_result": _lib.TierResultC,
    "afs_tier_pass_options": _lib.TierPassOptionsC,
    "afs_heat_entry": _lib.HeatEntryC,
    "afs_heat_list_options": _lib.HeatListOptionsC,
    "afs_recall_progress": _lib.RecallProgressC,
    "afs_recall_options": _lib.RecallOptionsC,
    "afs_recall_result": _lib.RecallResultC,
    "afs_tier_stats": _lib.TierStatsC,
}


def constants():
    """(C expression, the value the package uses)."""
    out = []
    for enum_cls, prefix in [(afs.ErrorCode, "AFS_"), (afs.LogLevel, "AFS_LOG_"),
                             (afs.ItemType, "AFS_TYPE_"),
                             (afs.InitialSync, "AFS_INITIAL_SYNC_"),
                             (afs.InitialDownload, "AFS_INITIAL_DOWNLOAD_"),
                             (afs.LocalCacheMode, "AFS_CACHE_"),
                             (afs.SyncPhase, "AFS_SYNC_PHASE_"),
                             (afs.TierState, "AFS_TIER_STATE_"), (afs.HeatOrder, "AFS_HEAT_"),
                             (afs.RecallOrder, "AFS_RECALL_ORDER_"),
                             (afs.ProvisioningStatus, "AFS_PROVISIONING_")]:
        out += [(prefix + m.name, int(m)) for m in enum_cls]
    out += [("AFS_ATTR_" + m.name, int(m)) for m in afs.Attributes if m.name != "NONE"]
    for name in ("AFS_ETAG_MAX", "AFS_STORAGE_MARKER_MAX", "AFS_STORAGE_CTL_NAME",
                 "AFS_EUSER", "AFS_EITEROVER", "AFS_SYNC_FORCE", "AFS_SYNC_FULL_CLOUD_SCAN",
                 "AFS_STORAGE_PUT_OPTIONS_VERSION", "AFS_STORAGE_LOCAL_OPTIONS_VERSION",
                 "AFS_SERVICE_OPTIONS_VERSION", "AFS_ENDPOINT_OPTIONS_VERSION",
                 "AFS_SYNC_PROGRESS_VERSION", "AFS_SYNC_OPTIONS_VERSION",
                 "AFS_SYNC_RESULT_VERSION", "AFS_PROVISIONING_VERSION", "AFS_TIER_INFO_VERSION",
                 "AFS_TIER_MARKER_NAMESPACE", "AFS_TIER_RESULT_VERSION", "AFS_TIER_PASS_DRY_RUN",
                 "AFS_TIER_PASS_SCAN", "AFS_TIER_PASS_OPTIONS_VERSION", "AFS_TIER_ACCESS_READ",
                 "AFS_TIER_ACCESS_WRITE", "AFS_TIER_ACCESS_NO_HEAT",
                 "AFS_HEAT_LIST_OPTIONS_VERSION", "AFS_RECALL_ON_ACCESS",
                 "AFS_RECALL_PROGRESS_VERSION", "AFS_RECALL_OPTIONS_VERSION",
                 "AFS_RECALL_RESULT_VERSION", "AFS_TIER_STATS_VERSION",
                 "AFS_ENDPOINT_INFO_VERSION", "AFS_ITEM_ERROR_VERSION", "AFS_HEAT_ENTRY_VERSION"):
        out.append((name, getattr(_lib, name)))
    out += [("AFS_COND_NONE", afs_storage._COND_NONE),
            ("AFS_COND_CREATE_ONLY", afs_storage._COND_CREATE_ONLY),
            ("AFS_COND_IF_MATCH", afs_storage._COND_IF_MATCH),
            ("AFS_STORAGE_RENAME_NOREPLACE", afs_storage._RENAME_NOREPLACE),
            ("AFS_STORAGE_LOCAL_NOSYNC", afs_storage._LOCAL_NOSYNC),
            ("AFS_TIME_OMIT", afs_storage._TIME_OMIT)]
    return out


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """Run a C program that prints what the compiler knows, as {key: int}."""
    lines = ["#include <afs.h>", "#include <stddef.h>", "#include <stdio.h>", "int main(void) {"]
    for cname, cls in STRUCTS.items():
        lines.append(f'printf("sizeof {cname} %zu\\n", sizeof({cname}));')
        for fname, *_ in cls._fields_:
            lines.append(f'printf("offsetof {cname}.{fname} %zu\\n", offsetof({cname}, {fname}));')
    for expr, _ in constants():
        lines.append(f'printf("value {expr} %lld\\n", (long long)({expr}));')
    lines.append('printf("value AFS_VERSION_NUM %lld\\n", (long long)AFS_VERSION_NUM);')
    lines += ["return 0;", "}"]
    d = tmp_path_factory.mktemp("layout")
    (d / "layout.c").write_text("\n".join(lines))
    subprocess.run(["cc", "-std=c99", "-Wall", "-Werror", "-I", str(REPO / "include"),
                    "-o", str(d / "layout"), str(d / "layout.c")], check=True)
    out = subprocess.run([str(d / "layout")], check=True, capture_output=True, text=True).stdout
    return {line.rsplit(" ", 1)[0]: int(line.rsplit(" ", 1)[1]) for line in out.splitlines()}


@pytest.mark.parametrize("cname", sorted(STRUCTS))
def test_layout__struct_matches_the_header(compiled, cname):
    cls = STRUCTS[cname]
    assert ctypes.sizeof(cls) == compiled[f"sizeof {cname}"]
    for fname, *_ in cls._fields_:
        assert getattr(cls, fname).offset == compiled[f"offsetof {cname}.{fname}"], fname


def test_layout__constants_match_the_headers(compiled):
    wrong = [(expr, mine, compiled[f"value {expr}"]) for expr, mine in constants()
             if compiled[f"value {expr}"] != mine]
    assert wrong == []


def test_layout__headers_and_loaded_library_agree(compiled):
    if not os.environ.get("AFS_LIBRARY"):
        pytest.skip("an installed libafs may be newer than this checkout's headers")
    assert compiled["value AFS_VERSION_NUM"] == afs.version_num()


def _public_headers():
    """{struct name: body} of every struct the headers define, and every
    AFS_EXTERN declaration, with comments stripped."""
    text = ""
    for h in sorted((REPO / "include").rglob("*.h")):
        text += re.sub(r"/\*.*?\*/", " ", h.read_text(), flags=re.S) + "\n"
    structs = dict(re.findall(r"typedef struct (afs_\w+) \{(.*?)\} \1;", text, re.S))
    decls = [" ".join(d.split()) for d in re.findall(r"AFS_EXTERN ([^;]*);", text)]
    return structs, decls


def _versioned(body: str) -> bool:
    return body.split(";")[0].split() == ["unsigned", "int", "version"]


def test_layout__lists_return_pointers_to_rows_that_may_grow():
    """A list that returned an array of structs could never let the struct
    grow: a caller indexes the array with its own sizeof
    (docs/api-conventions.md#structs-the-library-returns)."""
    structs, decls = _public_headers()
    arrays = [d for d in decls for t in structs
              if re.search(rf"\b{t} \*\*\s*\w+, size_t \*", d)]
    assert arrays == []
    rows = {t for d in decls for t in structs if re.search(rf"\b{t} \*\*\*", d)}
    assert rows >= {"afs_endpoint_info", "afs_item_error", "afs_heat_entry"}
    assert sorted(t for t in rows if not _versioned(structs[t])) == []


def test_layout__no_struct_embeds_a_versioned_struct():
    """A versioned struct grows at its end, which would move every field after
    it in a struct that embeds it by value: point to it instead."""
    structs, _ = _public_headers()
    versioned = {t for t, body in structs.items() if _versioned(body)}
    embedded = [(outer, member.strip()) for outer, body in structs.items()
                for member in body.split(";")
                if re.match(r"\s*(const\s+)?(\w+)\s+\w+\s*$", member)
                and re.match(r"\s*(const\s+)?(\w+)", member).group(2) in versioned]
    assert embedded == []

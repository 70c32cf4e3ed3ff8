/*
 * The reconcile rule table, the never-synced and invalid names of
 * afs-facts.md, and conflict-copy naming, tested as pure functions.
 */
#include <string.h>

#include "support.h"
#include "core/internal.h"
#include "sync/names.h"
#include "sync/reconcile.h"

static const afs__side NONE_SIDE = { false, 0, 0, 0, 0, 0, NULL };

static afs__side file_side(uint64_t size, int64_t mtime, uint64_t id, const char *etag)
{
    afs__side s = { true, AFS_TYPE_FILE, size, mtime, id, mtime, etag };
    return s;
}

static afs__side dir_side(const char *etag)
{
    afs__side s = { true, AFS_TYPE_DIR, 0, 0, 7, 0, etag };
    return s;
}

#define DECIDE(b, l, c) afs__action_name(afs__decide(&(b), &(l), &(c)))

static void test_reconcile__unchanged_everywhere_is_nothing(void **state)
{
    afs__side base = file_side(10, 100, 1, "e1");
    (void)state;
    assert_string_equal(DECIDE(base, base, base), "none");
    assert_string_equal(DECIDE(NONE_SIDE, NONE_SIDE, NONE_SIDE), "none");
}

static void test_reconcile__one_sided_changes_flow_to_the_other_side(void **state)
{
    afs__side base = file_side(10, 100, 1, "e1");
    afs__side local_mod = file_side(11, 200, 1, NULL);
    afs__side cloud_mod = file_side(12, 300, 0, "e2");
    afs__side newdir = dir_side("d1");
    (void)state;
    /* new */
    assert_string_equal(DECIDE(NONE_SIDE, local_mod, NONE_SIDE), "upload");
    assert_string_equal(DECIDE(NONE_SIDE, NONE_SIDE, cloud_mod), "download");
    assert_string_equal(DECIDE(NONE_SIDE, newdir, NONE_SIDE), "mkdir-cloud");
    assert_string_equal(DECIDE(NONE_SIDE, NONE_SIDE, newdir), "mkdir-local");
    /* modified */
    assert_string_equal(DECIDE(base, local_mod, base), "upload");
    assert_string_equal(DECIDE(base, base, cloud_mod), "download");
    /* deleted */
    assert_string_equal(DECIDE(base, NONE_SIDE, base), "delete-cloud");
    assert_string_equal(DECIDE(base, base, NONE_SIDE), "delete-local");
    assert_string_equal(DECIDE(base, NONE_SIDE, NONE_SIDE), "forget");
}

static void test_reconcile__stat_fast_path_notices_every_identity_field(void **state)
{
    afs__side base = file_side(10, 100, 1, "e1");
    afs__side l;
    (void)state;
    l = base; l.size = 11;
    assert_int_equal(afs__local_change(&base, &l), AFS__CH_MODIFIED);
    l = base; l.mtime_ns = 101;
    assert_int_equal(afs__local_change(&base, &l), AFS__CH_MODIFIED);
    l = base; l.ctime_ns = 5;
    assert_int_equal(afs__local_change(&base, &l), AFS__CH_MODIFIED);
    l = base; l.file_id = 2;
    assert_int_equal(afs__local_change(&base, &l), AFS__CH_MODIFIED);
    l = base; l.etag = "ignored locally";
    assert_int_equal(afs__local_change(&base, &l), AFS__CH_NONE);
}

static void test_reconcile__modify_beats_delete(void **state)
{
    afs__side base = file_side(10, 100, 1, "e1");
    afs__side local_mod = file_side(11, 200, 1, NULL);
    afs__side cloud_mod = file_side(12, 300, 0, "e2");
    (void)state;
    assert_string_equal(DECIDE(base, NONE_SIDE, cloud_mod), "download");
    assert_string_equal(DECIDE(base, local_mod, NONE_SIDE), "upload");
}

static void test_reconcile__both_changed_files_are_compared(void **state)
{
    afs__side base = file_side(10, 100, 1, "e1");
    afs__side local_mod = file_side(11, 200, 1, NULL);
    afs__side cloud_mod = file_side(11, 300, 0, "e2");
    (void)state;
    assert_string_equal(DECIDE(base, local_mod, cloud_mod), "compare");
    /* merge initial sync: both sides new */
    assert_string_equal(DECIDE(NONE_SIDE, local_mod, cloud_mod), "compare");
}

static void test_reconcile__directories_merge_and_times_are_not_synced(void **state)
{
    afs__side base = dir_side("d1");
    afs__side local = dir_side(NULL);
    afs__side cloud = dir_side("d2"); /* a new child changed the directory's etag */
    (void)state;
    local.mtime_ns = 999;
    assert_string_equal(DECIDE(base, local, cloud), "none");
    assert_string_equal(DECIDE(NONE_SIDE, local, cloud), "record");
    assert_string_equal(DECIDE(base, NONE_SIDE, cloud), "delete-cloud");
    assert_string_equal(DECIDE(base, local, NONE_SIDE), "delete-local");
}

static void test_reconcile__type_changes(void **state)
{
    afs__side base = file_side(10, 100, 1, "e1");
    afs__side local_dir = dir_side(NULL);
    afs__side cloud_dir = dir_side("d1");
    afs__side cloud_file = file_side(3, 50, 0, "e9");
    (void)state;
    assert_string_equal(DECIDE(base, local_dir, base), "replace-cloud");
    assert_string_equal(DECIDE(base, base, cloud_dir), "replace-local");
    assert_string_equal(DECIDE(NONE_SIDE, local_dir, cloud_file), "type-conflict");
    assert_string_equal(DECIDE(base, local_dir, cloud_file), "type-conflict");
}

static void test_reconcile__authoritative_upload_mirrors_the_server(void **state)
{
    afs__side local = file_side(10, 100, 1, NULL);
    afs__side cloud = file_side(10, 90, 0, "e1");
    afs__side ldir = dir_side(NULL);
    (void)state;
    assert_int_equal(afs__decide_authoritative(&NONE_SIDE, &cloud), AFS__ACT_DELETE_CLOUD);
    assert_int_equal(afs__decide_authoritative(&local, &NONE_SIDE), AFS__ACT_UPLOAD);
    assert_int_equal(afs__decide_authoritative(&local, &cloud), AFS__ACT_COMPARE);
    assert_int_equal(afs__decide_authoritative(&ldir, &cloud), AFS__ACT_REPLACE_CLOUD);
    assert_int_equal(afs__decide_authoritative(&ldir, &NONE_SIDE), AFS__ACT_MKDIR_CLOUD);
    assert_int_equal(afs__decide_authoritative(&NONE_SIDE, &NONE_SIDE), AFS__ACT_NONE);
}

static void test_reconcile__phases_order_parents_and_children(void **state)
{
    (void)state;
    assert_int_equal(afs__action_phase(AFS__ACT_DELETE_CLOUD, AFS_TYPE_FILE, 0), 0);
    assert_int_equal(afs__action_phase(AFS__ACT_DELETE_CLOUD, AFS_TYPE_DIR, 0), 2);
    assert_int_equal(afs__action_phase(AFS__ACT_UPLOAD, AFS_TYPE_FILE, 0), 1);
    assert_int_equal(afs__action_phase(AFS__ACT_MKDIR_LOCAL, AFS_TYPE_DIR, 0), 1);
    assert_int_equal(afs__action_phase(AFS__ACT_REPLACE_CLOUD, AFS_TYPE_DIR, AFS_TYPE_FILE), 0);
    assert_int_equal(afs__action_phase(AFS__ACT_REPLACE_LOCAL, AFS_TYPE_FILE, AFS_TYPE_DIR), 2);
}

#define CLASS(s) afs__sync_name_class((s), strlen(s), NULL)

static void test_reconcile__never_synced_names_are_skipped(void **state)
{
    static const char *const skipped[] = {
        "pagefile.sys", "Desktop.ini", "desktop.INI", "thumbs.db", "Thumbs.db", "ehthumbs.db",
        "~$report.docx", "build.tmp", "X.TMP", "db.laccdb", "System Volume Information",
        "$RECYCLE.BIN", "SyncShareState", ".~afs-1234abcd.tmp",
    };
    (void)state;
    for (size_t i = 0; i < AFS__ARRAY_LEN(skipped); i++)
        if (CLASS(skipped[i]) != AFS__NAME_SKIP)
            fail_msg("\"%s\" should be skipped", skipped[i]);
    assert_int_equal(CLASS("report.docx"), AFS__NAME_SYNC);
    assert_int_equal(CLASS("~$nodot"), AFS__NAME_SYNC);
    assert_int_equal(CLASS("tmp"), AFS__NAME_SYNC);
    assert_int_equal(CLASS("Übersicht — 報告.txt"), AFS__NAME_SYNC);
    assert_true(afs__sync_is_temp_name(".~afs-1234abcd.tmp"));
    assert_false(afs__sync_is_temp_name("x.tmp"));
}

static void test_reconcile__unsupported_characters_are_per_item_errors(void **state)
{
    static const char *const invalid[] = {
        "a\x01" "b", "tab\there", "q\"uote", "st*r", "co:lon", "le<ss", "gr>eater", "wh?at",
        "back\\slash", "pi|pe", "del\x7f", "c1\xc2\x81" "x", "c1\xc2\x9d" "x",
        "nonchar\xef\xb7\x90", "nonchar\xef\xbf\xb0", "repl\xef\xbf\xbd", "max\xef\xbf\xbf",
        "trailing.", "bad\xff" "utf8", "overlong\xc0\xaf", "surrogate\xed\xa0\x80",
    };
    const char *why = NULL;
    (void)state;
    for (size_t i = 0; i < AFS__ARRAY_LEN(invalid); i++)
        if (CLASS(invalid[i]) != AFS__NAME_INVALID)
            fail_msg("name %zu should be invalid", i);
    assert_int_equal(afs__sync_name_class("a:b", 3, &why), AFS__NAME_INVALID);
    assert_non_null(why);
    assert_non_null(strstr(why, ":"));
    assert_int_equal(afs__sync_name_class("dot.", 4, &why), AFS__NAME_INVALID);
    assert_string_equal(why, "a trailing period");
    /* U+FDCF and U+FDDE are fine, just outside the noncharacter block. */
    assert_int_equal(CLASS("ok\xef\xb7\x8f"), AFS__NAME_SYNC);
    assert_int_equal(CLASS("ok\xef\xb7\x9e"), AFS__NAME_SYNC);
}

static void test_reconcile__conflict_names_follow_azure_file_sync(void **state)
{
    char buf[AFS_NAME_MAX + 1];
    char longname[300];
    (void)state;
    AFS_ASSERT_OK(afs__conflict_name("CompanyReport.docx", "CentralServer", 0, buf, sizeof(buf)));
    assert_string_equal(buf, "CompanyReport-CentralServer.docx");
    AFS_ASSERT_OK(afs__conflict_name("CompanyReport.docx", "CentralServer", 1, buf, sizeof(buf)));
    assert_string_equal(buf, "CompanyReport-CentralServer-1.docx");
    AFS_ASSERT_OK(afs__conflict_name("notes.txt", "Cloud", 99, buf, sizeof(buf)));
    assert_string_equal(buf, "notes-Cloud-99.txt");
    AFS_ASSERT_OK(afs__conflict_name("Makefile", "srv", 0, buf, sizeof(buf)));
    assert_string_equal(buf, "Makefile-srv");
    AFS_ASSERT_OK(afs__conflict_name(".bashrc", "srv", 0, buf, sizeof(buf)));
    assert_string_equal(buf, ".bashrc-srv");
    AFS_ASSERT_OK(afs__conflict_name("archive.tar.gz", "srv", 2, buf, sizeof(buf)));
    assert_string_equal(buf, "archive.tar-srv-2.gz");

    /* A long name is shortened in its stem, never past 255 bytes, and keeps
     * its extension; multi-byte characters are not cut in half. */
    memset(longname, 0, sizeof(longname));
    for (size_t i = 0; i + 2 < 249; i += 2)
        memcpy(longname + i, "\xc3\xa9", 2); /* é */
    strcat(longname, ".txt");
    AFS_ASSERT_OK(afs__conflict_name(longname, "Cloud", 3, buf, sizeof(buf)));
    assert_true(strlen(buf) <= AFS_NAME_MAX);
    assert_int_equal(afs__sync_name_class(buf, strlen(buf), NULL), AFS__NAME_SYNC);
    assert_non_null(strstr(buf, "-Cloud-3.txt"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reconcile__unchanged_everywhere_is_nothing),
        cmocka_unit_test(test_reconcile__one_sided_changes_flow_to_the_other_side),
        cmocka_unit_test(test_reconcile__stat_fast_path_notices_every_identity_field),
        cmocka_unit_test(test_reconcile__modify_beats_delete),
        cmocka_unit_test(test_reconcile__both_changed_files_are_compared),
        cmocka_unit_test(test_reconcile__directories_merge_and_times_are_not_synced),
        cmocka_unit_test(test_reconcile__type_changes),
        cmocka_unit_test(test_reconcile__authoritative_upload_mirrors_the_server),
        cmocka_unit_test(test_reconcile__phases_order_parents_and_children),
        cmocka_unit_test(test_reconcile__never_synced_names_are_skipped),
        cmocka_unit_test(test_reconcile__unsupported_characters_are_per_item_errors),
        cmocka_unit_test(test_reconcile__conflict_names_follow_azure_file_sync),
    };
    return cmocka_run_group_tests_name("reconcile", tests, NULL, NULL);
}

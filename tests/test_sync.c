/*
 * Sync sessions end to end: servers (each a service state directory and a
 * data directory) sync through one local-directory share, and the tests
 * check what a user would: file contents, names, counts.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "syncenv.h"

static int setup(void **state)
{
    return afs_test_env_setup(state, "sync");
}

static void test_sync__first_endpoint_uploads_and_second_downloads(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");
    afs_test_server *b = afs_test_env_server(env, "ServerB");

    afs_test_put(a->data, "report.docx", "quarterly numbers");
    afs_test_put(a->data, "projects/alpha/plan.txt", "step one");
    afs_test_put(a->data, "projects/beta/empty-dir-sibling.txt", "");
    {
        char *gamma = afs_test_path(a->data, "projects/gamma");
        afs_test_mkdirs(gamma);
        free(gamma);
    }
    afs_test_env_join(env, a, NULL);
    afs_test_sync(a);
    assert_int_equal(a->last.files_uploaded, 3);
    assert_int_equal(a->last.item_errors, 0);
    afs_test_assert_file(env->share, "projects/alpha/plan.txt", "step one");
    afs_test_assert_same_tree(a->data, env->share);

    afs_test_env_join(env, b, NULL);
    afs_test_sync(b);
    assert_int_equal(b->last.files_downloaded, 3);
    afs_test_assert_same_tree(a->data, b->data);

    /* Nothing changed: nothing moves. */
    afs_test_sync(a);
    afs_test_sync(b);
    assert_int_equal(b->last.files_uploaded + b->last.files_downloaded, 0);
    assert_int_equal(a->last.files_uploaded + a->last.files_downloaded, 0);
}

static void test_sync__changes_flow_both_ways(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");
    afs_test_server *b = afs_test_env_server(env, "ServerB");

    afs_test_put(a->data, "a.txt", "one");
    afs_test_put(a->data, "d/b.txt", "two");
    afs_test_env_join(env, a, NULL);
    afs_test_sync(a);
    afs_test_env_join(env, b, NULL);
    afs_test_sync(b);

    afs_test_put(a->data, "a.txt", "one, edited on A");
    afs_test_put(a->data, "new-on-a.txt", "fresh");
    afs_test_sync(a);
    afs_test_sync(b);
    afs_test_assert_file(b->data, "a.txt", "one, edited on A");
    afs_test_assert_file(b->data, "new-on-a.txt", "fresh");

    /* Deletions travel too. */
    {
        char *p = afs_test_path(b->data, "d/b.txt");
        assert_int_equal(unlink(p), 0);
        free(p);
    }
    afs_test_sync(b);
    assert_int_equal(b->last.deleted_cloud, 1);
    afs_test_sync(a);
    assert_int_equal(a->last.deleted_local, 1);
    afs_test_assert_file(a->data, "d/b.txt", NULL);
    afs_test_assert_same_tree(a->data, b->data);
    afs_test_assert_same_tree(a->data, env->share);
}

static void test_sync__conflict_keeps_both_with_azure_names(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "CentralServer");
    afs_test_server *b = afs_test_env_server(env, "BranchServer");

    afs_test_put(a->data, "CompanyReport.docx", "v1");
    afs_test_env_join(env, a, NULL);
    afs_test_sync(a);
    afs_test_env_join(env, b, NULL);
    afs_test_sync(b);

    /* Both edit; A's edit is older, B's newer. */
    afs_test_put(a->data, "CompanyReport.docx", "central edit");
    afs_test_set_mtime(a->data, "CompanyReport.docx", 1700000000);
    afs_test_put(b->data, "CompanyReport.docx", "branch edit, newer");
    afs_test_set_mtime(b->data, "CompanyReport.docx", 1700000500);
    afs_test_sync(a);
    afs_test_sync(b);
    assert_int_equal(b->last.conflicts, 1);
    afs_test_sync(a);

    /* The newest write keeps the name; the older becomes <name>-<server>.<ext>. */
    afs_test_assert_file(a->data, "CompanyReport.docx", "branch edit, newer");
    afs_test_assert_file(a->data, "CompanyReport-CentralServer.docx", "central edit");
    afs_test_assert_file(b->data, "CompanyReport.docx", "branch edit, newer");
    afs_test_assert_file(b->data, "CompanyReport-CentralServer.docx", "central edit");
    afs_test_assert_same_tree(a->data, env->share);
    afs_test_assert_same_tree(b->data, env->share);
}

static void test_sync__older_local_edit_becomes_server_named_copy(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "CentralServer");
    afs_test_server *b = afs_test_env_server(env, "BranchServer");

    afs_test_put(a->data, "notes.txt", "v1");
    afs_test_env_join(env, a, NULL);
    afs_test_sync(a);
    afs_test_env_join(env, b, NULL);
    afs_test_sync(b);
    afs_test_put(a->data, "notes.txt", "central, newer");
    afs_test_set_mtime(a->data, "notes.txt", 1700000900);
    afs_test_put(b->data, "notes.txt", "branch, older");
    afs_test_set_mtime(b->data, "notes.txt", 1700000100);
    afs_test_sync(a);
    afs_test_sync(b);
    afs_test_assert_file(b->data, "notes.txt", "central, newer");
    afs_test_assert_file(b->data, "notes-BranchServer.txt", "branch, older");
    afs_test_sync(a);
    afs_test_assert_same_tree(a->data, b->data);
}

static void test_sync__same_content_on_both_sides_is_no_conflict(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");
    afs_test_server *b = afs_test_env_server(env, "ServerB");

    afs_test_put(a->data, "same.txt", "identical bytes");
    afs_test_put(b->data, "same.txt", "identical bytes");
    afs_test_set_mtime(b->data, "same.txt", 1600000000);
    afs_test_env_join(env, a, NULL);
    afs_test_sync(a);
    afs_test_env_join(env, b, NULL);
    afs_test_sync(b);
    assert_int_equal(b->last.conflicts, 0);
    assert_int_equal(b->last.adopted, 1);
    assert_int_equal(b->last.files_downloaded, 0);
    assert_int_equal(afs_test_count_files(b->data), 1);
}

static void test_sync__modify_beats_delete(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");
    afs_test_server *b = afs_test_env_server(env, "ServerB");
    char *p;

    afs_test_put(a->data, "keep.txt", "v1");
    afs_test_env_join(env, a, NULL);
    afs_test_sync(a);
    afs_test_env_join(env, b, NULL);
    afs_test_sync(b);
    /* A deletes, B modifies: B's version survives everywhere. */
    p = afs_test_path(a->data, "keep.txt");
    assert_int_equal(unlink(p), 0);
    free(p);
    afs_test_put(b->data, "keep.txt", "v2 from B");
    afs_test_sync(b);
    afs_test_sync(a);
    afs_test_assert_file(a->data, "keep.txt", "v2 from B");
    afs_test_assert_file(env->share, "keep.txt", "v2 from B");
}

static void test_sync__edits_made_directly_in_the_share_are_found(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");

    afs_test_put(a->data, "doc.txt", "from the server");
    afs_test_env_join(env, a, NULL);
    afs_test_sync(a);
    /* Another program writes straight into the share. */
    afs_test_put(env->share, "doc.txt", "edited in the share");
    afs_test_put(env->share, "dropped/in.txt", "new in the share");
    afs_test_sync_expect(a, AFS_SYNC_FULL_CLOUD_SCAN, 0);
    assert_int_equal(a->last.full_cloud_scan, 1);
    afs_test_assert_file(a->data, "doc.txt", "edited in the share");
    afs_test_assert_file(a->data, "dropped/in.txt", "new in the share");
}

static void test_sync__direct_edit_conflict_copy_is_named_cloud(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");

    afs_test_put(a->data, "x.txt", "v1");
    afs_test_env_join(env, a, NULL);
    afs_test_sync(a);
    afs_test_put(env->share, "x.txt", "share edit, older");
    afs_test_set_mtime(env->share, "x.txt", 1600000000);
    afs_test_put(a->data, "x.txt", "server edit, newer");
    afs_test_sync_expect(a, AFS_SYNC_FULL_CLOUD_SCAN, 0);
    afs_test_assert_file(a->data, "x.txt", "server edit, newer");
    afs_test_assert_file(a->data, "x-Cloud.txt", "share edit, older");
    afs_test_assert_same_tree(a->data, env->share);
}

static void test_sync__directory_rename_is_a_rename_not_an_upload(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");
    afs_test_server *b = afs_test_env_server(env, "ServerB");
    char *from, *to;

    for (int i = 0; i < 5; i++) {
        char rel[64];
        snprintf(rel, sizeof(rel), "old/sub/file%d.txt", i);
        afs_test_put(a->data, rel, "payload");
    }
    afs_test_env_join(env, a, NULL);
    afs_test_sync(a);
    afs_test_env_join(env, b, NULL);
    afs_test_sync(b);

    from = afs_test_path(a->data, "old");
    to = afs_test_path(a->data, "renamed");
    assert_int_equal(rename(from, to), 0);
    afs_test_sync(a);
    assert_int_equal(a->last.renamed_cloud, 1);
    assert_int_equal(a->last.files_uploaded, 0);
    afs_test_assert_file(env->share, "renamed/sub/file3.txt", "payload");
    afs_test_assert_file(env->share, "old/sub/file3.txt", NULL);

    afs_test_sync(b);
    assert_int_equal(b->last.renamed_local, 1);
    assert_int_equal(b->last.files_downloaded, 0);
    afs_test_assert_same_tree(a->data, b->data);
    free(from);
    free(to);
}

static void test_sync__never_synced_and_invalid_names(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");
    afs_item_error **errs = NULL;
    size_t nerr = 0;
    char *target, *link_path, *hard;

    afs_test_put(a->data, "ok.txt", "synced");
    afs_test_put(a->data, "thumbs.db", "never");
    afs_test_put(a->data, "work.tmp", "never");
    afs_test_put(a->data, "~$draft.docx", "never");
    afs_test_put(a->data, "bad:name.txt", "per-item error");
    afs_test_put(a->data, "linked.txt", "two links");
    target = afs_test_path(a->data, "ok.txt");
    link_path = afs_test_path(a->data, "symlink.txt");
    assert_int_equal(symlink(target, link_path), 0);
    hard = afs_test_path(a->data, "linked-2.txt");
    {
        char *src = afs_test_path(a->data, "linked.txt");
        assert_int_equal(link(src, hard), 0);
        free(src);
    }
    afs_test_env_join(env, a, NULL);
    afs_test_sync(a);
    assert_int_equal(a->last.files_uploaded, 1);
    assert_int_equal(a->last.item_errors, 1);
    assert_int_equal(afs_test_count_files(env->share), 1);
    afs_test_assert_file(env->share, "ok.txt", "synced");

    AFS_ASSERT_OK(afs_endpoint_errors(a->ep, &errs, &nerr));
    assert_int_equal(nerr, 1);
    assert_string_equal(errs[0]->path, "bad:name.txt");
    assert_int_equal(errs[0]->code, AFS_EINVALIDNAME);
    assert_int_equal(errs[0]->persistent, 1);
    assert_non_null(strstr(errs[0]->message, ":"));
    afs_item_errors_free(errs, nerr);

    /* The error is kept and counted across sessions until it is fixed. */
    afs_test_sync(a);
    AFS_ASSERT_OK(afs_endpoint_errors(a->ep, &errs, &nerr));
    assert_int_equal(nerr, 1);
    assert_int_equal(errs[0]->count, 2);
    afs_item_errors_free(errs, nerr);
    {
        char *bad = afs_test_path(a->data, "bad:name.txt");
        char *good = afs_test_path(a->data, "good-name.txt");
        assert_int_equal(rename(bad, good), 0);
        free(bad);
        free(good);
    }
    afs_test_sync(a);
    AFS_ASSERT_OK(afs_endpoint_errors(a->ep, &errs, &nerr));
    assert_int_equal(nerr, 0);
    afs_item_errors_free(errs, nerr);
    afs_test_assert_file(env->share, "good-name.txt", "per-item error");
    free(target);
    free(link_path);
    free(hard);
}

static void test_sync__safety_net_stops_mass_deletion(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");
    char rel[64];

    for (int i = 0; i < 30; i++) {
        snprintf(rel, sizeof(rel), "f%02d.txt", i);
        afs_test_put(a->data, rel, "x");
    }
    afs_test_env_join(env, a, NULL);
    afs_test_sync(a);
    for (int i = 0; i < 20; i++) {
        char *p;
        snprintf(rel, sizeof(rel), "f%02d.txt", i);
        p = afs_test_path(a->data, rel);
        assert_int_equal(unlink(p), 0);
        free(p);
    }
    afs_test_sync_expect(a, 0, AFS_ESAFETY);
    assert_non_null(strstr(afs_error_last(), "AFS_SYNC_FORCE"));
    assert_int_equal(afs_test_count_files(env->share), 30);
    afs_test_sync_expect(a, AFS_SYNC_FORCE, 0);
    assert_int_equal(afs_test_count_files(env->share), 10);
}

static void test_sync__unmounted_root_stops_the_session(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");
    char *moved;

    afs_test_put(a->data, "precious.txt", "do not delete");
    afs_test_env_join(env, a, NULL);
    afs_test_sync(a);
    moved = afs_test_path(env->root, "moved-away");
    assert_int_equal(rename(a->data, moved), 0);
    afs_test_sync_expect(a, 0, AFS_ESAFETY);
    afs_test_assert_file(env->share, "precious.txt", "do not delete");
    free(moved);
}

static void test_sync__authoritative_upload_mirrors_the_server(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");
    afs_endpoint_options o = AFS_ENDPOINT_OPTIONS_INIT;

    /* The share was seeded (say by Data Box); the server is newer. */
    afs_test_put(env->share, "same.txt", "seeded");
    afs_test_put(env->share, "changed.txt", "old seeded");
    afs_test_put(env->share, "gone.txt", "deleted on the server since");
    afs_test_put(env->share, "moved/away.txt", "moved");
    afs_test_put(a->data, "same.txt", "seeded");
    afs_test_set_mtime(a->data, "same.txt", 1650000000);
    afs_test_put(a->data, "changed.txt", "newer on the server");
    afs_test_put(a->data, "elsewhere/away.txt", "moved");
    afs_test_put(a->data, "new.txt", "only on the server");
    o.initial_sync = AFS_INITIAL_SYNC_AUTHORITATIVE_UPLOAD;
    afs_test_env_join(env, a, &o);
    afs_test_sync(a);
    assert_int_equal(a->last.conflicts, 0);
    assert_int_equal(a->last.metadata_updates, 1); /* same.txt: time only */
    afs_test_assert_file(env->share, "gone.txt", NULL);
    afs_test_assert_file(env->share, "moved/away.txt", NULL);
    afs_test_assert_file(env->share, "changed.txt", "newer on the server");
    afs_test_assert_same_tree(a->data, env->share);
    {
        struct stat st;
        char *p = afs_test_path(env->share, "same.txt");
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mtim.tv_sec, 1650000000);
        free(p);
    }
}

static void test_sync__merge_initial_sync_merges_namespaces(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");

    afs_test_put(env->share, "cloud-only.txt", "from the share");
    afs_test_put(env->share, "both.txt", "share version, older");
    afs_test_set_mtime(env->share, "both.txt", 1600000000);
    afs_test_put(a->data, "server-only.txt", "from the server");
    afs_test_put(a->data, "both.txt", "server version, newer");
    afs_test_env_join(env, a, NULL);
    afs_test_sync(a);
    afs_test_assert_file(a->data, "cloud-only.txt", "from the share");
    afs_test_assert_file(env->share, "server-only.txt", "from the server");
    afs_test_assert_file(a->data, "both.txt", "server version, newer");
    afs_test_assert_file(a->data, "both-Cloud.txt", "share version, older");
    afs_test_assert_same_tree(a->data, env->share);
}

static void test_sync__directory_deleted_while_other_side_added_keeps_new_files(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");
    afs_test_server *b = afs_test_env_server(env, "ServerB");

    afs_test_put(a->data, "dir/old.txt", "old");
    afs_test_env_join(env, a, NULL);
    afs_test_sync(a);
    afs_test_env_join(env, b, NULL);
    afs_test_sync(b);
    /* A removes the directory; B adds a file into it. */
    {
        char *dir = afs_test_path(a->data, "dir");
        afs_test_rmtree(dir);
        free(dir);
    }
    afs_test_put(b->data, "dir/new.txt", "added on B");
    afs_test_sync(b);
    afs_test_sync(a);
    afs_test_sync(b);
    afs_test_assert_file(a->data, "dir/new.txt", "added on B");
    afs_test_assert_file(a->data, "dir/old.txt", NULL);
    afs_test_assert_file(b->data, "dir/old.txt", NULL);
    afs_test_assert_same_tree(a->data, b->data);
}

static void test_sync__file_replaced_by_directory(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");
    afs_test_server *b = afs_test_env_server(env, "ServerB");
    char *p;

    afs_test_put(a->data, "thing", "a file at first");
    afs_test_env_join(env, a, NULL);
    afs_test_sync(a);
    afs_test_env_join(env, b, NULL);
    afs_test_sync(b);
    p = afs_test_path(a->data, "thing");
    assert_int_equal(unlink(p), 0);
    free(p);
    afs_test_put(a->data, "thing/inside.txt", "now a directory");
    afs_test_sync(a);
    afs_test_sync(b);
    afs_test_assert_file(b->data, "thing/inside.txt", "now a directory");
    afs_test_assert_same_tree(a->data, b->data);
}

static void test_sync__conflict_copies_stop_at_100(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");
    afs_item_error **errs = NULL;
    size_t nerr = 0;
    char rel[64];

    afs_test_put(a->data, "r.txt", "v1");
    /* 100 copies exist already: r-ServerA.txt, r-ServerA-1.txt ... -99. */
    afs_test_put(a->data, "r-ServerA.txt", "copy");
    for (int i = 1; i < 100; i++) {
        snprintf(rel, sizeof(rel), "r-ServerA-%d.txt", i);
        afs_test_put(a->data, rel, "copy");
    }
    afs_test_env_join(env, a, NULL);
    afs_test_sync(a);
    /* Both sides change r.txt; the share's version is newer, so the server's
     * would become a 101st copy: refused with a per-item error instead. */
    afs_test_put(a->data, "r.txt", "server edit, older");
    afs_test_set_mtime(a->data, "r.txt", 1600000000);
    afs_test_put(env->share, "r.txt", "share edit, newer");
    afs_test_sync_expect(a, AFS_SYNC_FULL_CLOUD_SCAN, 0);
    assert_int_equal(a->last.conflicts, 0);
    AFS_ASSERT_OK(afs_endpoint_errors(a->ep, &errs, &nerr));
    assert_int_equal(nerr, 1);
    assert_string_equal(errs[0]->path, "r.txt");
    assert_int_equal(errs[0]->code, AFS_ECONFLICT_LIMIT);
    assert_non_null(strstr(errs[0]->message, "conflict name exists"));
    afs_item_errors_free(errs, nerr);
    /* Nothing was lost: each side still has its own version. */
    afs_test_assert_file(a->data, "r.txt", "server edit, older");
    afs_test_assert_file(env->share, "r.txt", "share edit, newer");
}

static void test_sync__progress_callback_reports_and_cancels(void **state);
static void test_sync__structs_are_read_and_filled_only_to_their_version(void **state);

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, afs_test_env_teardown)
    const struct CMUnitTest tests[] = {
        T(test_sync__first_endpoint_uploads_and_second_downloads),
        T(test_sync__changes_flow_both_ways),
        T(test_sync__conflict_keeps_both_with_azure_names),
        T(test_sync__older_local_edit_becomes_server_named_copy),
        T(test_sync__same_content_on_both_sides_is_no_conflict),
        T(test_sync__modify_beats_delete),
        T(test_sync__edits_made_directly_in_the_share_are_found),
        T(test_sync__direct_edit_conflict_copy_is_named_cloud),
        T(test_sync__directory_rename_is_a_rename_not_an_upload),
        T(test_sync__never_synced_and_invalid_names),
        T(test_sync__safety_net_stops_mass_deletion),
        T(test_sync__unmounted_root_stops_the_session),
        T(test_sync__authoritative_upload_mirrors_the_server),
        T(test_sync__merge_initial_sync_merges_namespaces),
        T(test_sync__directory_deleted_while_other_side_added_keeps_new_files),
        T(test_sync__file_replaced_by_directory),
        T(test_sync__progress_callback_reports_and_cancels),
        T(test_sync__structs_are_read_and_filled_only_to_their_version),
        T(test_sync__conflict_copies_stop_at_100),
    };
#undef T
    return cmocka_run_group_tests_name("sync", tests, NULL, NULL);
}

struct prog_seen {
    int calls;
    int phases_seen;
    int cancel_at;
};

static int on_progress(const afs_sync_progress *p, void *payload)
{
    struct prog_seen *s = payload;
    s->calls++;
    s->phases_seen |= 1 << p->phase;
    if (s->cancel_at && p->phase == AFS_SYNC_PHASE_APPLY)
        return s->cancel_at;
    return 0;
}

static void test_sync__progress_callback_reports_and_cancels(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");
    afs_sync_options o = AFS_SYNC_OPTIONS_INIT;
    afs_sync_result r = AFS_SYNC_RESULT_INIT;
    struct prog_seen seen = { 0, 0, 0 };

    afs_test_put(a->data, "one.txt", "1");
    afs_test_env_join(env, a, NULL);
    o.progress = on_progress;
    o.progress_payload = &seen;
    seen.cancel_at = 4242;
    assert_int_equal(afs_endpoint_sync(a->ep, &o, &r), 4242);
    assert_non_null(strstr(afs_error_last(), "cancelled by the progress callback"));
    assert_int_equal(afs_test_count_files(env->share), 0);
    seen.cancel_at = 0;
    seen.phases_seen = 0;
    AFS_ASSERT_OK(afs_endpoint_sync(a->ep, &o, &r));
    assert_true(seen.phases_seen & (1 << AFS_SYNC_PHASE_SCAN_LOCAL));
    assert_true(seen.phases_seen & (1 << AFS_SYNC_PHASE_SCAN_CLOUD));
    assert_true(seen.phases_seen & (1 << AFS_SYNC_PHASE_APPLY));
    assert_true(seen.phases_seen & (1 << AFS_SYNC_PHASE_DONE));
    afs_test_assert_file(env->share, "one.txt", "1");
    {
        afs_sync_result last = AFS_SYNC_RESULT_INIT;
        AFS_ASSERT_OK(afs_endpoint_last_result(a->ep, &last));
        assert_int_equal(last.files_uploaded, 1);
        assert_true(last.finished_ns >= last.started_ns);
    }
}

/* The bytes of version 1 of each struct, as a program built against it has them. */
#define SYNC_OPTIONS_V1 AFS_TEST_END_OF(afs_sync_options, threads)
#define SYNC_RESULT_V1 AFS_TEST_END_OF(afs_sync_result, full_cloud_scan)
#define PROVISIONING_V1 AFS_TEST_END_OF(afs_provisioning, content_download)

static void test_sync__structs_are_read_and_filled_only_to_their_version(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");
    static const unsigned int refused[] = { 0, 99 };
    /* Version-1 structs directly before a page that cannot be touched. */
    afs_sync_options *o = afs_test_guarded_new(SYNC_OPTIONS_V1);
    afs_sync_result *r = afs_test_guarded_new(SYNC_RESULT_V1);
    afs_provisioning *pv = afs_test_guarded_new(PROVISIONING_V1);
    struct prog_seen seen = { 0, 0, 0 };

    afs_test_put(a->data, "one.txt", "1");
    afs_test_put(a->data, "two.txt", "22");
    afs_test_env_join(env, a, NULL);
    AFS_ASSERT_OK(afs_sync_options_init(o, 1));
    assert_int_equal(o->version, 1);
    assert_null(o->progress);
    assert_int_equal(o->threads, 0);
    o->progress = on_progress; /* the fields are read */
    o->progress_payload = &seen;
    o->threads = 2;
    r->version = 1;
    AFS_ASSERT_OK(afs_endpoint_sync(a->ep, o, r));
    assert_true(seen.phases_seen & (1 << AFS_SYNC_PHASE_DONE));
    assert_int_equal(r->version, 1);
    assert_int_equal(r->result, 0);
    assert_int_equal(r->files_uploaded, 2);
    assert_int_equal(r->bytes_uploaded, 3);
    assert_true(r->started_ns > 0 && r->finished_ns >= r->started_ns);
    afs_test_assert_file(env->share, "two.txt", "22");
    afs_test_guarded_check(r, SYNC_RESULT_V1);

    /* The last result and the provisioning fill in only version 1 too. */
    memset(r, 0, SYNC_RESULT_V1);
    r->version = 1;
    AFS_ASSERT_OK(afs_endpoint_last_result(a->ep, r));
    assert_int_equal(r->version, 1);
    assert_int_equal(r->files_uploaded, 2);
    assert_int_equal(r->bytes_uploaded, 3);
    afs_test_guarded_check(r, SYNC_RESULT_V1);
    pv->version = 1;
    AFS_ASSERT_OK(afs_endpoint_provisioning(a->ep, pv));
    assert_int_equal(pv->version, 1);
    assert_int_equal(pv->status, AFS_PROVISIONING_READY_SYNC_FUNCTIONAL);

    /* Version 0 (a zeroed struct) and a version from the future: AFS_EVERSION
     * naming the function and the version; no session runs, nothing is
     * written into the caller's struct. */
    afs_test_put(a->data, "three.txt", "333");
    for (size_t k = 0; k < sizeof(refused) / sizeof(refused[0]); k++) {
        unsigned int v = refused[k];
        o->version = v;
        AFS_ASSERT_CODE(afs_endpoint_sync(a->ep, o, NULL), AFS_EVERSION);
        afs_test_assert_version_refused("afs_endpoint_sync", "afs_sync_options", v);
        AFS_ASSERT_CODE(afs_sync_options_init(o, v), AFS_EVERSION);
        afs_test_assert_version_refused("afs_sync_options_init", "afs_sync_options", v);
        assert_int_equal(o->version, v);
        assert_int_equal(o->threads, 2); /* left as it was */
        o->version = 1;

        memset(r, 0x5A, SYNC_RESULT_V1);
        r->version = v;
        AFS_ASSERT_CODE(afs_endpoint_sync(a->ep, o, r), AFS_EVERSION);
        afs_test_assert_version_refused("afs_endpoint_sync", "afs_sync_result", v);
        assert_non_null(strstr(afs_error_last(), "AFS_SYNC_RESULT_INIT"));
        AFS_ASSERT_CODE(afs_endpoint_last_result(a->ep, r), AFS_EVERSION);
        afs_test_assert_version_refused("afs_endpoint_last_result", "afs_sync_result", v);
        assert_int_equal(r->version, v);
        assert_true(r->files_uploaded == 0x5A5A5A5A5A5A5A5AULL);

        pv->version = v;
        pv->status = 77;
        AFS_ASSERT_CODE(afs_endpoint_provisioning(a->ep, pv), AFS_EVERSION);
        afs_test_assert_version_refused("afs_endpoint_provisioning", "afs_provisioning", v);
        assert_int_equal(pv->version, v);
        assert_int_equal(pv->status, 77);
    }
    afs_test_assert_file(env->share, "three.txt", NULL); /* no session ran */
    AFS_ASSERT_CODE(afs_endpoint_last_result(a->ep, NULL), AFS_EINVAL);
    AFS_ASSERT_CODE(afs_endpoint_provisioning(NULL, pv), AFS_EINVAL);

    afs_test_guarded_free(o, SYNC_OPTIONS_V1);
    afs_test_guarded_free(r, SYNC_RESULT_V1);
    afs_test_guarded_free(pv, PROVISIONING_V1);
}

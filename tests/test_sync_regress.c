/*
 * Sync engine behaviours that the crash and model tests found broken, each
 * pinned by a small deterministic case (the crash and model tests find
 * them again only by luck of a seed or a crash point).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "faultscheme.h"

static int setup(void **state)
{
    return afs_test_env_setup(state, "regress");
}

static void rename_in(const char *dir, const char *from, const char *to)
{
    char *f = afs_test_path(dir, from), *t = afs_test_path(dir, to);
    assert_int_equal(rename(f, t), 0);
    free(f);
    free(t);
}

static void assert_no_item_errors(afs_test_server *s)
{
    afs_item_error **errs = NULL;
    size_t n = 0;
    AFS_ASSERT_OK(afs_endpoint_errors(s->ep, &errs, &n));
    if (n)
        fail_msg("%s has %zu item errors, first: %s: %s", s->name, n, errs[0]->path,
                 errs[0]->message);
    afs_item_errors_free(errs, n);
}

/* ServerA and ServerB in one group, with A's file `rel` synced to both. */
static void two_synced(afs_test_env *env, afs_test_server **a, afs_test_server **b,
                       const char *rel, const char *content)
{
    *a = afs_test_env_server(env, "ServerA");
    *b = afs_test_env_server(env, "ServerB");
    afs_test_put((*a)->data, rel, content);
    afs_test_env_join(env, *a, NULL);
    afs_test_sync(*a);
    afs_test_env_join(env, *b, NULL);
    afs_test_sync(*b);
}

/* `rounds` sessions of A, then B, in turn. */
static void sync_rounds(afs_test_server *a, afs_test_server *b, int rounds)
{
    for (int r = 0; r < rounds; r++) {
        afs_test_sync(a);
        afs_test_sync(b);
    }
}

/* A file renamed on one server is renamed on the other, without a transfer either way. */
static void test_sync_regress__file_rename_is_carried_to_the_other_server(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a, *b;

    two_synced(env, &a, &b, "draft.txt", "the content");

    rename_in(a->data, "draft.txt", "final.txt");
    afs_test_sync(a);
    assert_int_equal(a->last.renamed_cloud, 1);
    assert_int_equal(a->last.files_uploaded, 0);
    afs_test_sync(b);
    assert_int_equal(b->last.renamed_local, 1);
    assert_int_equal(b->last.files_downloaded, 0);
    assert_int_equal(b->last.item_errors, 0);
    sync_rounds(a, b, 2);
    assert_int_equal(a->last.files_uploaded + b->last.files_uploaded, 0);
    assert_no_item_errors(a);
    assert_no_item_errors(b);
    afs_test_assert_file(b->data, "final.txt", "the content");
    afs_test_assert_same_tree(a->data, env->share);
    afs_test_assert_same_tree(b->data, env->share);
}

/*
 * C edits a file, A (which has C's edit) renames it, B (which still has the
 * older version) carries the rename out: B must end with C's edit, not keep
 * its older version under the new name as if it were current.
 */
static void test_sync_regress__rename_of_a_newer_version_is_not_taken_as_ours(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a, *b;
    afs_test_server *c = afs_test_env_server(env, "ServerC");

    two_synced(env, &a, &b, "f.txt", "version 1");
    afs_test_env_join(env, c, NULL);
    afs_test_sync(c);

    afs_test_put(c->data, "f.txt", "version 2, from C");
    afs_test_sync(c);
    afs_test_sync(a);
    rename_in(a->data, "f.txt", "g.txt");
    afs_test_sync(a);
    afs_test_sync(b);
    afs_test_assert_file(b->data, "g.txt", "version 2, from C");
    afs_test_assert_file(b->data, "f.txt", NULL);
    afs_test_assert_same_tree(b->data, env->share);
}

/* A user replaces directory `rel` of `data`, and all below it, by a file. */
static void replace_dir_by_file(const char *data, const char *rel, const char *content)
{
    char *dir = afs_test_path(data, rel);
    afs_test_rmtree(dir);
    free(dir);
    afs_test_put(data, rel, content);
}

/* A server that ended without item errors and holds what the share holds. */
static void assert_settled(afs_test_server *s, const char *share)
{
    assert_no_item_errors(s);
    afs_test_assert_same_tree(s->data, share);
}

/*
 * A replaces a directory by a file while B edits a file inside it: the
 * directory stays (modify beats delete) and A's file becomes a conflict
 * copy; it must not be left out of the share (and later deleted).
 */
static void test_sync_regress__file_replacing_a_changed_directory_becomes_a_copy(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a, *b;

    two_synced(env, &a, &b, "d/x.txt", "x, version 1");

    replace_dir_by_file(a->data, "d", "A's file replacing the directory");
    afs_test_put(b->data, "d/x.txt", "x, version 2 from B");
    afs_test_sync(b);
    sync_rounds(a, b, 3);
    afs_test_assert_file(env->share, "d/x.txt", "x, version 2 from B");
    afs_test_assert_file(env->share, "d-ServerA", "A's file replacing the directory");
    assert_settled(a, env->share);
    assert_settled(b, env->share);
}

/*
 * The mirror case: B replaces a directory by a file while A adds a file
 * inside it. The directory stays on A and comes back to the share; B's file
 * becomes a conflict copy; nobody gets stuck.
 */
static void test_sync_regress__directory_kept_locally_against_a_file_in_the_share(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a, *b;

    two_synced(env, &a, &b, "d/x.txt", "x, version 1");

    replace_dir_by_file(b->data, "d", "B's file replacing the directory");
    afs_test_sync(b);
    afs_test_put(a->data, "d/new.txt", "added on A meanwhile");
    sync_rounds(a, b, 3);
    afs_test_assert_file(env->share, "d/new.txt", "added on A meanwhile");
    afs_test_assert_file(env->share, "d-ServerB", "B's file replacing the directory");
    assert_settled(a, env->share);
    assert_settled(b, env->share);
}

/* Runs another server's session from inside this one's apply phase. */
struct interleave {
    afs_test_server *other;
    int done;
};

static int run_other_session(const afs_sync_progress *p, void *payload)
{
    struct interleave *il = payload;
    if (p->phase == AFS_SYNC_PHASE_APPLY && !il->done) {
        il->done = 1;
        afs_test_sync(il->other);
    }
    return 0;
}

/*
 * B appends a journal batch while A's session runs; A's own batch then gets
 * a later number. A's next session must still read B's batch.
 */
static void test_sync_regress__concurrent_journal_batches_are_not_skipped(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a, *b;
    afs_sync_options o = AFS_SYNC_OPTIONS_INIT;
    struct interleave il = { NULL, 0 };

    two_synced(env, &a, &b, "base.txt", "shared");
    il.other = b;
    afs_test_sync(a);

    afs_test_put(a->data, "from-a.txt", "A's new file");
    afs_test_put(b->data, "from-b.txt", "B's new file");
    o.progress = run_other_session;
    o.progress_payload = &il;
    a->last.version = AFS_SYNC_RESULT_VERSION;
    AFS_ASSERT_OK(afs_endpoint_sync(a->ep, &o, &a->last));
    assert_int_equal(il.done, 1);
    assert_int_equal(a->last.files_uploaded, 1);
    afs_test_assert_file(env->share, "from-b.txt", "B's new file");

    afs_test_sync(a);
    afs_test_assert_file(a->data, "from-b.txt", "B's new file");
    afs_test_sync(b);
    afs_test_assert_same_tree(a->data, env->share);
    afs_test_assert_same_tree(b->data, env->share);
}

/* A directory replaced by a file of the same name: the journal's records
 * about paths below it must not stop the other server's session. */
static void test_sync_regress__directory_replaced_by_file_reaches_other_server(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a, *b;

    two_synced(env, &a, &b, "p/q.txt", "inside a directory");

    replace_dir_by_file(a->data, "p", "now a file");
    afs_test_sync(a);
    afs_test_sync(b);
    afs_test_assert_file(b->data, "p", "now a file");
    afs_test_sync(a);
    afs_test_sync(b);
    assert_no_item_errors(b);
    afs_test_assert_same_tree(a->data, env->share);
    afs_test_assert_same_tree(b->data, env->share);
}

/* Run one session of `s` in a child process that dies at the `nth` call of
 * storage slot `op` (after the call took effect); `s` is closed afterwards. */
static void crash_session(afs_test_fenv *fe, afs_test_server *s, const char *op, uint64_t nth)
{
    pid_t pid;
    int status = 0;
    afs_test_fenv_close(s);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (afs_test_fenv_try_open(fe, s) != 0)
            _exit(2);
        afs_test_fault_set(afs_test_fenv_storage_ctl(s), op, nth, AFS_FAULT_CRASH_AFTER, 0);
        _exit(afs_endpoint_sync(s->ep, NULL, NULL) == 0 ? 0 : 3);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), AFS_TEST_CRASH_EXIT);
}

/*
 * A session stopped right after an upload, before recording it: the next
 * session must finish the job at once (not wait for the periodic full
 * enumeration), and the other servers must learn of the file.
 */
static void test_sync_regress__session_stopped_after_upload_recovers_at_once(void **state)
{
    afs_test_env *env0 = *state;
    afs_test_fenv fe;
    afs_test_server *a, *b;
    char *root = afs_test_path(env0->root, "fenv");

    afs_test_mkdirs(root);
    afs_test_fenv_init(&fe, root);
    a = afs_test_fenv_server(&fe, "ServerA");
    b = afs_test_fenv_server(&fe, "ServerB");
    afs_test_put(a->data, "first.txt", "one");
    afs_test_fenv_join(&fe, a, NULL);
    afs_test_sync(a);
    afs_test_fenv_join(&fe, b, NULL);
    afs_test_sync(b);

    afs_test_put(a->data, "new.txt", "uploaded, then the process died");
    crash_session(&fe, a, "put", 1);
    afs_test_assert_file(fe.env.share, "new.txt", "uploaded, then the process died");

    afs_test_fenv_open(&fe, a);
    afs_test_sync(a);
    assert_int_equal(a->last.item_errors, 0);
    assert_no_item_errors(a);
    afs_test_sync(b);
    afs_test_assert_file(b->data, "new.txt", "uploaded, then the process died");
    afs_test_sync(a);
    assert_no_item_errors(a);
    afs_test_assert_same_tree(a->data, fe.env.share);
    afs_test_assert_same_tree(b->data, fe.env.share);
    afs_test_fenv_free(&fe);
    free(root);
}

/*
 * A damaged state database that was closed cleanly is not read in full when
 * it is opened (docs/state-store.md); the session's base load meets the
 * damage and stops the session with AFS_ECORRUPT before anything changes on
 * either side, and nothing is written to the file.
 */
static void test_sync_regress__damaged_state_stops_the_session_unchanged(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");
    char rel[32], name[96], *dir, *db;
    unsigned char *bytes, *after;
    size_t len, alen;
    uint64_t x = 12345;
    int rc;

    for (int i = 0; i < 1500; i++) {
        snprintf(rel, sizeof(rel), "d%02d/f%04d.txt", i / 100, i);
        afs_test_put(a->data, rel, rel);
    }
    afs_test_env_join(env, a, NULL);
    afs_test_sync(a);
    snprintf(name, sizeof(name), "%s.db", afs_endpoint_id(a->ep));
    dir = afs_test_path(a->state, "endpoints");
    db = afs_test_path(dir, name);
    afs_endpoint_close(a->ep); /* the last connection: the WAL is checkpointed and goes */
    a->ep = NULL;
    bytes = (unsigned char *)afs_test_read_file(db, &len);
    assert_non_null(bytes);
    assert_true(len > 24 * 4096);
    for (size_t i = 10 * 4096; i < 14 * 4096; i++) { /* four pages of the item table */
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bytes[i] = (unsigned char)x;
    }
    afs_test_write_file(db, bytes, len);
    afs_test_put(a->data, "new.txt", "must not be uploaded");
    afs_test_put(a->data, "d00/f0000.txt", "edited, must not be uploaded");

    rc = afs_endpoint_open(&a->ep, a->group);
    if (rc == 0)
        rc = afs_endpoint_sync(a->ep, NULL, NULL);
    assert_int_equal(rc, AFS_ECORRUPT);
    afs_test_assert_file(env->share, "new.txt", NULL);
    afs_test_assert_file(env->share, "d00/f0000.txt", "d00/f0000.txt");
    afs_endpoint_close(a->ep);
    a->ep = NULL;
    after = (unsigned char *)afs_test_read_file(db, &alen);
    assert_non_null(after);
    assert_int_equal(alen, len);
    assert_memory_equal(after, bytes, len);
    free(after);
    free(bytes);
    free(db);
    free(dir);
}

/*
 * A folder renamed and a folder inside it moved out of it, in one session
 * (the kill loop's dir -> dirX with dir/sub -> dirsub): two renames, not a
 * deletion of the inner folder's files from the share and an upload.
 */
static void test_sync_regress__folder_moved_out_of_a_renamed_folder_is_a_rename(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a, *b;

    two_synced(env, &a, &b, "dir/sub/copy-ServerC.txt", "a conflict copy");
    afs_test_put(a->data, "dir/top.txt", "top");
    sync_rounds(a, b, 1);
    rename_in(a->data, "dir", "dirX");
    rename_in(a->data, "dirX/sub", "dirsub");
    afs_test_sync(a);
    assert_int_equal(a->last.renamed_cloud, 2);
    assert_int_equal(a->last.deleted_cloud, 0);
    assert_int_equal(a->last.files_uploaded, 0);
    afs_test_sync(b);
    assert_int_equal(b->last.renamed_local, 2);
    assert_int_equal(b->last.files_downloaded, 0);
    assert_int_equal(b->last.deleted_local, 0);
    afs_test_assert_file(env->share, "dirsub/copy-ServerC.txt", "a conflict copy");
    afs_test_assert_file(env->share, "dirX/top.txt", "top");
    assert_no_item_errors(a);
    assert_no_item_errors(b);
    afs_test_assert_same_tree(a->data, env->share);
    afs_test_assert_same_tree(b->data, env->share);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, afs_test_env_teardown)
    const struct CMUnitTest tests[] = {
        T(test_sync_regress__file_rename_is_carried_to_the_other_server),
        T(test_sync_regress__rename_of_a_newer_version_is_not_taken_as_ours),
        T(test_sync_regress__concurrent_journal_batches_are_not_skipped),
        T(test_sync_regress__file_replacing_a_changed_directory_becomes_a_copy),
        T(test_sync_regress__directory_kept_locally_against_a_file_in_the_share),
        T(test_sync_regress__session_stopped_after_upload_recovers_at_once),
        T(test_sync_regress__directory_replaced_by_file_reaches_other_server),
        T(test_sync_regress__damaged_state_stops_the_session_unchanged),
        T(test_sync_regress__folder_moved_out_of_a_renamed_folder_is_a_rename),
    };
#undef T
    return cmocka_run_group_tests_name("sync_regress", tests, NULL, NULL);
}

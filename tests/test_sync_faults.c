/*
 * Storage and filesystem faults during sync sessions (tests/support/
 * faultscheme.h): a transient failure is retried with backoff and costs
 * nothing; a failure that lasts becomes a per-item error, listed with its
 * count, and a later session without the fault syncs everything; slow
 * storage still converges.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faultscheme.h"
#include "sync/retry.h"

static int setup(void **state)
{
    return afs_test_fenv_setup(state, "faults");
}

/* A and B in one group; A starts with `n` files f<i>.txt, synced to both. */
static void two_servers(afs_test_fenv *fe, afs_test_server **a, afs_test_server **b, int n)
{
    char rel[32], content[64];
    *a = afs_test_fenv_server(fe, "ServerA");
    *b = afs_test_fenv_server(fe, "ServerB");
    for (int i = 0; i < n; i++) {
        snprintf(rel, sizeof(rel), "dir/f%d.txt", i);
        snprintf(content, sizeof(content), "file %d, version 1", i);
        afs_test_put((*a)->data, rel, content);
    }
    afs_test_fenv_join(fe, *a, NULL);
    afs_test_sync(*a);
    afs_test_fenv_join(fe, *b, NULL);
    afs_test_sync(*b);
}

static size_t error_count(afs_test_server *s, afs_item_error ***out)
{
    size_t n = 0;
    AFS_ASSERT_OK(afs_endpoint_errors(s->ep, out, &n));
    return n;
}

static void test_sync_faults__transient_put_read_list_are_retried(void **state)
{
    afs_test_fenv *fe = *state;
    afs_test_server *a = afs_test_fenv_server(fe, "ServerA");
    afs_test_server *b = afs_test_fenv_server(fe, "ServerB");
    afs_test_fault *fa, *fb;

    afs_test_put(a->data, "one.txt", "one");
    afs_test_put(a->data, "sub/two.txt", "two");
    afs_test_fenv_join(fe, a, NULL);
    fa = afs_test_fenv_storage_ctl(a);

    /* put: the first upload fails once. */
    afs_test_fault_set(fa, "put", 1, AFS_FAULT_ONCE, AFS_ETRANSIENT);
    afs_test_sync(a);
    assert_int_equal(afs_test_fault_injected(fa), 1);
    assert_int_equal(a->last.item_errors, 0);
    assert_int_equal(a->last.files_uploaded, 2);
    afs_test_assert_same_tree(a->data, fe->env.share);

    /* list: B's first session enumerates the share; a page fails once. */
    afs_test_fenv_join(fe, b, NULL);
    fb = afs_test_fenv_storage_ctl(b);
    afs_test_fault_set(fb, "list", 1, AFS_FAULT_ONCE, AFS_ETRANSIENT);
    afs_test_sync(b);
    assert_int_equal(afs_test_fault_injected(fb), 1);
    assert_int_equal(b->last.item_errors, 0);
    afs_test_assert_same_tree(b->data, fe->env.share);

    /* read: a download fails once; busy: a delete is refused once. */
    afs_test_put(a->data, "one.txt", "one, edited");
    afs_test_sync(a);
    afs_test_fault_set(fb, "read", 1, AFS_FAULT_ONCE, AFS_ETRANSIENT);
    afs_test_sync(b);
    assert_int_equal(afs_test_fault_injected(fb), 2);
    assert_int_equal(b->last.item_errors, 0);
    afs_test_assert_file(b->data, "one.txt", "one, edited");

    afs_test_fault_set(fb, "remove", 1, AFS_FAULT_ONCE, AFS_EBUSY);
    {
        char *p = afs_test_path(b->data, "sub/two.txt");
        assert_int_equal(unlink(p), 0);
        free(p);
    }
    afs_test_sync(b);
    assert_int_equal(afs_test_fault_injected(fb), 3);
    assert_int_equal(b->last.item_errors, 0);
    assert_int_equal(b->last.deleted_cloud, 1);
    afs_test_assert_same_tree(b->data, fe->env.share);
}

static void test_sync_faults__persistent_put_failure_is_per_item_and_recovers(void **state)
{
    afs_test_fenv *fe = *state;
    afs_test_server *a, *b;
    afs_test_fault *fa;
    afs_item_error **errs = NULL;
    char rel[32], content[64];

    two_servers(fe, &a, &b, 2);
    for (int i = 0; i < 3; i++) {
        snprintf(rel, sizeof(rel), "new/n%d.txt", i);
        snprintf(content, sizeof(content), "new file %d", i);
        afs_test_put(a->data, rel, content);
    }
    fa = afs_test_fenv_storage_ctl(a);
    afs_test_fault_set(fa, "put", 1, AFS_FAULT_PERSISTENT, AFS_ETRANSIENT);
    afs_test_sync(a); /* per-item failures never stop the session */
    assert_int_equal(a->last.item_errors, 3);
    assert_int_equal(a->last.files_uploaded, 0);
    /* Each upload was tried afs__retry_default.attempts times. */
    assert_true(afs_test_fault_injected(fa) >= 3 * afs__retry_default.attempts);
    assert_int_equal(error_count(a, &errs), 3);
    for (int i = 0; i < 3; i++) {
        snprintf(rel, sizeof(rel), "new/n%d.txt", i);
        assert_string_equal(errs[i]->path, rel);
        assert_int_equal(errs[i]->code, AFS_ETRANSIENT);
        assert_int_equal(errs[i]->count, 1);
        assert_int_equal(errs[i]->persistent, 0);
    }
    afs_item_errors_free(errs, 3);

    /* Still failing: the same errors, counted again. */
    afs_test_sync(a);
    assert_int_equal(error_count(a, &errs), 3);
    assert_int_equal(errs[0]->count, 2);
    afs_item_errors_free(errs, 3);

    /* The storage is back: everything goes up, the errors are gone. */
    afs_test_fault_clear(fa);
    afs_test_sync(a);
    assert_int_equal(a->last.files_uploaded, 3);
    assert_int_equal(error_count(a, &errs), 0);
    afs_item_errors_free(errs, 0);
    afs_test_sync(b);
    afs_test_assert_file(b->data, "new/n2.txt", "new file 2");
    afs_test_assert_same_tree(a->data, fe->env.share);
    afs_test_assert_same_tree(b->data, fe->env.share);
}

/* A download that failed (the journal's record of the change was read in
 * that session) is done by the next session without the fault. */
static void test_sync_faults__failed_download_is_retried_next_session(void **state)
{
    afs_test_fenv *fe = *state;
    afs_test_server *a, *b;
    afs_test_fault *fb;
    afs_item_error **errs = NULL;

    two_servers(fe, &a, &b, 3);
    afs_test_put(a->data, "dir/f1.txt", "file 1, version 2");
    afs_test_sync(a);
    /* (A storage read fault would hit the journal first: fail the local write.) */
    fb = afs_test_fenv_fs_ctl(fe, b);
    afs_test_fault_set(fb, "write", 1, AFS_FAULT_PERSISTENT, AFS_EIO);
    afs_test_sync(b);
    assert_int_equal(b->last.item_errors, 1);
    assert_int_equal(error_count(b, &errs), 1);
    assert_string_equal(errs[0]->path, "dir/f1.txt");
    afs_item_errors_free(errs, 1);
    afs_test_assert_file(b->data, "dir/f1.txt", "file 1, version 1");

    afs_test_fault_clear(fb);
    afs_test_sync(b);
    afs_test_assert_file(b->data, "dir/f1.txt", "file 1, version 2");
    assert_int_equal(error_count(b, &errs), 0);
    afs_item_errors_free(errs, 0);
    afs_test_assert_same_tree(b->data, fe->env.share);
}

/* The server's disk fails writes (say, full) during downloads: per-item
 * errors, no stray temporary files, and a later session finishes. */
static void test_sync_faults__local_write_failure_is_per_item_and_recovers(void **state)
{
    afs_test_fenv *fe = *state;
    afs_test_server *a, *b;
    afs_test_fault *fsb;
    afs_item_error **errs = NULL;

    two_servers(fe, &a, &b, 1);
    afs_test_put(a->data, "big/x.txt", "x");
    afs_test_put(a->data, "big/y.txt", "y");
    afs_test_sync(a);
    fsb = afs_test_fenv_fs_ctl(fe, b);
    afs_test_fault_set(fsb, "write", 1, AFS_FAULT_PERSISTENT, AFS_ENOSPC);
    afs_test_sync(b);
    assert_int_equal(b->last.item_errors, 2);
    assert_int_equal(error_count(b, &errs), 2);
    assert_int_equal(errs[0]->code, AFS_ENOSPC);
    afs_item_errors_free(errs, 2);
    afs_test_assert_file(b->data, "big/x.txt", NULL);
    assert_int_equal(afs_test_count_files(b->data), 1); /* no temporary file left */

    afs_test_fault_clear(fsb);
    afs_test_sync(b);
    assert_int_equal(error_count(b, &errs), 0);
    afs_item_errors_free(errs, 0);
    afs_test_assert_same_tree(b->data, fe->env.share);
}

/* Every storage call takes a few milliseconds longer: still converges. */
static void test_sync_faults__slow_storage_still_converges(void **state)
{
    afs_test_fenv *fe = *state;
    afs_test_server *a, *b;

    two_servers(fe, &a, &b, 3);
    afs_test_fault_latency(afs_test_fenv_storage_ctl(a), NULL, 3000);
    afs_test_fault_latency(afs_test_fenv_storage_ctl(b), NULL, 3000);
    afs_test_put(a->data, "dir/f0.txt", "file 0, edited on A");
    afs_test_put(b->data, "dir/f2.txt", "file 2, edited on B");
    afs_test_put(b->data, "fromb/new.txt", "new on B");
    for (int i = 0; i < 2; i++) {
        afs_test_sync(a);
        afs_test_sync(b);
    }
    assert_int_equal(a->last.item_errors + b->last.item_errors, 0);
    afs_test_assert_file(a->data, "fromb/new.txt", "new on B");
    afs_test_assert_file(b->data, "dir/f0.txt", "file 0, edited on A");
    afs_test_assert_same_tree(a->data, fe->env.share);
    afs_test_assert_same_tree(b->data, fe->env.share);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, afs_test_fenv_teardown)
    const struct CMUnitTest tests[] = {
        T(test_sync_faults__transient_put_read_list_are_retried),
        T(test_sync_faults__persistent_put_failure_is_per_item_and_recovers),
        T(test_sync_faults__failed_download_is_retried_next_session),
        T(test_sync_faults__local_write_failure_is_per_item_and_recovers),
        T(test_sync_faults__slow_storage_still_converges),
    };
#undef T
    return cmocka_run_group_tests_name("sync_faults", tests, NULL, NULL);
}

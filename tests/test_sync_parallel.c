/*
 * Uploads on transfer threads (lib/sync/transfer.h): what a user sees is
 * the same with one thread or many -- every file arrives once, the state
 * records each, a failing file is reported with its own message, and a
 * cancelled session keeps what it finished.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "syncenv.h"

#define MANY 300

static int setup(void **state)
{
    return afs_test_env_setup(state, "sync_parallel");
}

/* MANY files in a few directories, each with its own content. */
static void put_many(const char *dir)
{
    char rel[64], content[64];
    for (int i = 0; i < MANY; i++) {
        snprintf(rel, sizeof(rel), "d%02d/f%03d.txt", i / 40, i);
        snprintf(content, sizeof(content), "file %d of the parallel test", i);
        afs_test_put(dir, rel, content);
    }
}

static int sync_threads(afs_test_server *s, uint32_t threads, afs_sync_progress_fn fn,
                        void *payload)
{
    afs_sync_options o = AFS_SYNC_OPTIONS_INIT;
    o.threads = threads;
    o.progress = fn;
    o.progress_payload = payload;
    s->last.version = AFS_SYNC_RESULT_VERSION;
    return afs_endpoint_sync(s->ep, &o, &s->last);
}

static void test_sync_parallel__many_threads_upload_every_file_once(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");
    afs_test_server *b = afs_test_env_server(env, "ServerB");

    put_many(a->data);
    afs_test_env_join(env, a, NULL);
    AFS_ASSERT_OK(sync_threads(a, 16, NULL, NULL));
    assert_int_equal(a->last.files_uploaded, MANY);
    assert_int_equal(a->last.item_errors, 0);
    assert_int_equal(a->last.conflicts, 0);
    afs_test_assert_same_tree(a->data, env->share);

    /* Every upload was recorded: nothing moves the next time. */
    AFS_ASSERT_OK(sync_threads(a, 16, NULL, NULL));
    assert_int_equal(a->last.files_uploaded + a->last.files_downloaded, 0);

    /* And the journal told the other server about every file. */
    afs_test_env_join(env, b, NULL);
    AFS_ASSERT_OK(sync_threads(b, 1, NULL, NULL));
    assert_int_equal(b->last.files_downloaded, MANY);
    afs_test_assert_same_tree(a->data, b->data);

    /* Edits go up in parallel too, replacing what the share holds. */
    afs_test_put(a->data, "d00/f001.txt", "edited on A");
    afs_test_put(a->data, "d03/f150.txt", "also edited on A");
    AFS_ASSERT_OK(sync_threads(a, 8, NULL, NULL));
    assert_int_equal(a->last.files_uploaded, 2);
    AFS_ASSERT_OK(sync_threads(b, 8, NULL, NULL));
    afs_test_assert_file(b->data, "d03/f150.txt", "also edited on A");
    afs_test_assert_same_tree(a->data, b->data);
}

struct swap_fifo {
    const char *data;
    int done;
};

/* Between the scan and the apply, a file becomes a FIFO. */
static int on_progress_swap(const afs_sync_progress *p, void *payload)
{
    struct swap_fifo *sw = payload;
    if (p->phase == AFS_SYNC_PHASE_RECONCILE && !sw->done) {
        char *path = afs_test_path(sw->data, "d01/f045.txt");
        assert_int_equal(unlink(path), 0);
        assert_int_equal(mkfifo(path, 0600), 0);
        free(path);
        sw->done = 1;
    }
    return 0;
}

static void test_sync_parallel__failed_upload_is_reported_with_its_message(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");
    struct swap_fifo sw = { a->data, 0 };
    afs_item_error **errs = NULL;
    size_t count = 0;

    put_many(a->data);
    afs_test_env_join(env, a, NULL);
    AFS_ASSERT_OK(sync_threads(a, 8, on_progress_swap, &sw));
    assert_int_equal(sw.done, 1);
    assert_int_equal(a->last.files_uploaded, MANY - 1);
    assert_int_equal(a->last.item_errors, 1);
    AFS_ASSERT_OK(afs_endpoint_errors(a->ep, &errs, &count));
    assert_int_equal(count, 1);
    assert_string_equal(errs[0]->path, "d01/f045.txt");
    /* The transfer thread's own message, not an empty or foreign one. */
    assert_non_null(strstr(errs[0]->message, "f045.txt"));
    afs_item_errors_free(errs, count);
    afs_test_assert_file(env->share, "d01/f045.txt", NULL);
    afs_test_assert_file(env->share, "d01/f046.txt", "file 46 of the parallel test");
}

struct cancel_after {
    uint64_t at;
    uint64_t done_seen;
};

static int on_progress_cancel(const afs_sync_progress *p, void *payload)
{
    struct cancel_after *c = payload;
    if (p->phase == AFS_SYNC_PHASE_APPLY && p->items_done >= c->at) {
        c->done_seen = p->items_done;
        return 4242;
    }
    return 0;
}

static void test_sync_parallel__cancel_keeps_finished_uploads(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");
    struct cancel_after c = { 100, 0 };
    uint64_t first;

    put_many(a->data);
    afs_test_env_join(env, a, NULL);
    assert_int_equal(sync_threads(a, 8, on_progress_cancel, &c), 4242);
    first = a->last.files_uploaded;
    assert_true(c.done_seen >= 100);
    assert_true(first >= 90 && first < MANY);
    assert_int_equal(afs_test_count_files(env->share), first);

    /* The next session uploads the rest, and only the rest: what the
     * cancelled one finished was recorded. */
    AFS_ASSERT_OK(sync_threads(a, 8, NULL, NULL));
    assert_int_equal(a->last.files_uploaded, MANY - first);
    assert_int_equal(a->last.adopted + a->last.conflicts, 0);
    afs_test_assert_same_tree(a->data, env->share);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, afs_test_env_teardown)
    const struct CMUnitTest tests[] = {
        T(test_sync_parallel__many_threads_upload_every_file_once),
        T(test_sync_parallel__failed_upload_is_reported_with_its_message),
        T(test_sync_parallel__cancel_keeps_finished_uploads),
    };
#undef T
    return cmocka_run_group_tests_name("sync_parallel", tests, NULL, NULL);
}

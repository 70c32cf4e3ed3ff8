/*
 * What a scan cannot read is unknown, never deleted: an unreadable server
 * directory, a file whose stat fails, a share directory whose listing fails
 * (docs/sync.md#change-detection). Without this, one I/O error would make
 * the session delete the unread items on the other side.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "syncenv.h"

/* ---- a filesystem that cannot read "private/" nor stat "flaky.txt" ---- */

static afs_fs *g_posix;
static const afs_fs_ops *g_in;
static void *g_inctx;
static int g_fail_local;

static int bad_dir_open(void *ctx, const char *path, void **dir)
{
    size_t n = strlen(path);
    if (g_fail_local && n >= 8 && strcmp(path + n - 8, "/private") == 0)
        return afs_error_set_str(AFS_EIO, "injected: cannot read private/");
    return g_in->dir_open(ctx, path, dir);
}

static int bad_stat(void *ctx, const char *path, afs_fs_stat *out)
{
    size_t n = strlen(path);
    if (g_fail_local && n >= 10 && strcmp(path + n - 10, "/flaky.txt") == 0)
        return afs_error_set_str(AFS_EIO, "injected: stat of flaky.txt failed");
    return g_in->stat(ctx, path, out);
}

/* The scan stats entries through dir_stat (fs vtable 2): fail it alike. */
static int bad_dir_stat(void *ctx, void *dir, const char *name, afs_fs_stat *out)
{
    if (g_fail_local && strcmp(name, "flaky.txt") == 0)
        return afs_error_set_str(AFS_EIO, "injected: stat of flaky.txt failed");
    return g_in->dir_stat(ctx, dir, name, out);
}

static afs_fs *flaky_fs(void)
{
    static afs_fs_ops ops;
    afs_fs *fs;
    AFS_ASSERT_OK(afs_fs_posix_new(&g_posix));
    AFS_ASSERT_OK(afs_fs_ops_get(g_posix, &g_in, &g_inctx));
    ops = *g_in;
    ops.release = NULL;
    ops.dir_open = bad_dir_open;
    ops.stat = bad_stat;
    ops.dir_stat = bad_dir_stat;
    AFS_ASSERT_OK(afs_fs_new(&fs, &ops, g_inctx));
    return fs;
}

/* ---- a share whose "docs" directory cannot be listed ---- */

static int g_fail_cloud;
static const afs_storage_ops *g_sin;

static int bad_list(void *ctx, const char *dir, const char *marker, afs_storage_list_fn emit,
                    void *payload, char *next, size_t next_size)
{
    if (g_fail_cloud && strcmp(dir, "docs") == 0)
        return afs_error_set_str(AFS_ETRANSIENT, "injected: listing docs failed");
    return g_sin->list(ctx, dir, marker, emit, payload, next, next_size);
}

struct flaky_share {
    afs_storage *inner;
};

static void flaky_release(void *ctx)
{
    struct flaky_share *f = ctx;
    afs_storage_free(f->inner);
    free(f);
}

static int flaky_open(afs_storage **out, const char *uri, void *payload)
{
    struct flaky_share *f = calloc(1, sizeof(*f));
    afs_storage_ops ops;
    void *ictx;
    int rc;
    (void)payload;
    if ((rc = afs_storage_local_new(&f->inner, uri + strlen("flaky://"), NULL)) != 0) {
        free(f);
        return rc;
    }
    afs_storage_ops_get(f->inner, &g_sin, &ictx);
    ops = *g_sin;
    ops.list = bad_list;
    ops.release = NULL;
    /* The local backend's slots take its own context. */
    rc = afs_storage_new(out, &ops, ictx);
    if (rc != 0) {
        flaky_release(f);
        return rc;
    }
    /* Keep the inner storage alive as long as the test runs. */
    static struct flaky_share *keep[8];
    for (int i = 0; i < 8; i++)
        if (!keep[i]) {
            keep[i] = f;
            break;
        }
    return 0;
}

static int setup(void **state)
{
    g_fail_local = g_fail_cloud = 0;
    return afs_test_env_setup(state, "unreadable");
}

static void test_sync_unreadable__server_side_errors_delete_nothing(void **state)
{
    afs_test_env *env = *state;
    afs_fs *fs = flaky_fs();
    /* Server A runs on the flaky filesystem. */
    afs_test_server *a = afs_test_env_server_on(env, "ServerA", fs);

    afs_test_put(a->data, "private/secret.txt", "must survive");
    afs_test_put(a->data, "private/more.txt", "also");
    afs_test_put(a->data, "flaky.txt", "must survive too");
    afs_test_put(a->data, "ok.txt", "fine");
    afs_test_env_join(env, a, NULL);
    afs_test_sync(a);
    afs_test_assert_file(env->share, "private/secret.txt", "must survive");

    g_fail_local = 1;
    afs_test_sync_expect(a, AFS_SYNC_FULL_CLOUD_SCAN, 0);
    assert_int_equal(a->last.deleted_cloud, 0);
    assert_true(a->last.item_errors >= 2);
    afs_test_assert_file(env->share, "private/secret.txt", "must survive");
    afs_test_assert_file(env->share, "private/more.txt", "also");
    afs_test_assert_file(env->share, "flaky.txt", "must survive too");

    /* Readable again: nothing to do, nothing was lost. */
    g_fail_local = 0;
    afs_test_sync(a);
    assert_int_equal(a->last.item_errors, 0);
    assert_int_equal(a->last.files_uploaded + a->last.files_downloaded, 0);
    afs_test_assert_same_tree(a->data, env->share);
    afs_test_server_close(a); /* before its filesystem goes */
    afs_fs_free(fs);
    afs_fs_free(g_posix);
}

static void test_sync_unreadable__unlistable_share_directory_deletes_nothing(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");
    char uri[4096];

    AFS_ASSERT_OK(afs_storage_scheme_register("flaky", flaky_open, NULL));
    snprintf(uri, sizeof(uri), "flaky://%s", env->share);
    afs_test_put(a->data, "docs/guide.txt", "keep me");
    afs_test_put(a->data, "top.txt", "top");
    AFS_ASSERT_OK(afs_group_create(&a->group, a->svc, "g", uri));
    AFS_ASSERT_OK(afs_endpoint_create(&a->ep, a->group, a->data, NULL));
    afs_test_sync(a);
    afs_test_assert_file(env->share, "docs/guide.txt", "keep me");

    g_fail_cloud = 1;
    afs_test_sync_expect(a, AFS_SYNC_FULL_CLOUD_SCAN, 0);
    assert_int_equal(a->last.deleted_local, 0);
    assert_true(a->last.item_errors >= 1);
    afs_test_assert_file(a->data, "docs/guide.txt", "keep me");

    g_fail_cloud = 0;
    afs_test_sync_expect(a, AFS_SYNC_FULL_CLOUD_SCAN, 0);
    assert_int_equal(a->last.item_errors, 0);
    afs_test_assert_same_tree(a->data, env->share);
    AFS_ASSERT_OK(afs_storage_scheme_register("flaky", NULL, NULL));
}

static void test_sync_unreadable__items_that_stop_syncing_stay_in_the_share(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");
    afs_test_server *b = afs_test_env_server(env, "ServerB");
    afs_endpoint_options o = AFS_ENDPOINT_OPTIONS_INIT;
    const char *pattern[] = { "*.log" };
    char *src, *dst;

    afs_test_put(a->data, "linked.txt", "gets a second link later");
    afs_test_put(a->data, "later-excluded.tmpl", "excluded after it synced");
    afs_test_env_join(env, a, NULL);
    afs_test_sync(a);
    o.exclude = pattern;
    o.exclude_count = 1;
    afs_test_env_join(env, b, &o);
    afs_test_sync(b);

    /* A second hard link, and a pattern added after the file synced. */
    src = afs_test_path(a->data, "linked.txt");
    dst = afs_test_path(a->data, "linked-again.txt");
    assert_int_equal(link(src, dst), 0);
    {
        afs_endpoint_options cur = AFS_ENDPOINT_OPTIONS_INIT;
        const char *more[] = { "*.tmpl" };
        AFS_ASSERT_OK(afs_endpoint_get_options(a->ep, &cur));
        cur.exclude = more;
        cur.exclude_count = 1;
        AFS_ASSERT_OK(afs_endpoint_set_options(a->ep, &cur));
    }
    afs_test_sync(a);
    assert_int_equal(a->last.deleted_cloud, 0);
    afs_test_assert_file(env->share, "linked.txt", "gets a second link later");
    afs_test_assert_file(env->share, "later-excluded.tmpl", "excluded after it synced");

    /* B excludes *.log: another server's log reaches the share, not B, and
     * B's session (reading the journal) deletes nothing. */
    afs_test_put(a->data, "debug.log", "from A");
    afs_test_sync(a);
    afs_test_sync(b);
    afs_test_assert_file(b->data, "debug.log", NULL);
    afs_test_sync(b);
    afs_test_assert_file(env->share, "debug.log", "from A");
    afs_test_sync(a);
    afs_test_assert_file(a->data, "debug.log", "from A");
    free(src);
    free(dst);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, afs_test_env_teardown)
    const struct CMUnitTest tests[] = {
        T(test_sync_unreadable__server_side_errors_delete_nothing),
        T(test_sync_unreadable__unlistable_share_directory_deletes_nothing),
        T(test_sync_unreadable__items_that_stop_syncing_stay_in_the_share),
    };
#undef T
    return cmocka_run_group_tests_name("sync_unreadable", tests, NULL, NULL);
}

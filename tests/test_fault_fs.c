/*
 * The fault-injecting filesystem wrapper (tests/support/fault_fs.c) around
 * the POSIX filesystem: faults land on exactly the planned call, the inner
 * call is skipped when a fault is injected, counts are exact, crash plans
 * stop the process before or after the effect.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support.h"
#include "fault.h"

/* The POSIX fs wrapped once, with both tables at hand. */
struct wfs {
    afs_fs *inner;
    afs_fs *fs;
    afs_test_fault *ctl;
    const afs_fs_ops *ops;
    void *ctx;
};

static void wfs_open(struct wfs *w)
{
    AFS_ASSERT_OK(afs_fs_posix_new(&w->inner));
    AFS_ASSERT_OK(afs_test_fault_fs_new(&w->fs, w->inner, &w->ctl));
    assert_non_null(w->ctl);
    AFS_ASSERT_OK(afs_fs_ops_get(w->fs, &w->ops, &w->ctx));
}

static void wfs_close(struct wfs *w)
{
    afs_fs_free(w->fs); /* frees the controller too */
    afs_fs_free(w->inner);
}

static void test_fault_fs__second_read_fails_once_third_passes(void **state)
{
    char *path = afs_test_path(*state, "r.txt");
    char buf[16];
    size_t nread;
    struct wfs w;
    void *fh;

    wfs_open(&w);
    afs_test_write_file(path, "0123456789", 10);
    AFS_ASSERT_OK(w.ops->open(w.ctx, path, AFS_FS_O_READ, &fh));
    afs_test_fault_set(w.ctl, "read", 2, AFS_FAULT_ONCE, AFS_ETRANSIENT);

    AFS_ASSERT_OK(w.ops->read(w.ctx, fh, 0, buf, 4, &nread));
    assert_int_equal(nread, 4);
    assert_memory_equal(buf, "0123", 4);
    AFS_ASSERT_CODE(w.ops->read(w.ctx, fh, 4, buf, 4, &nread), AFS_ETRANSIENT);
    assert_int_equal(afs_error_last_code(), AFS_ETRANSIENT);
    AFS_ASSERT_OK(w.ops->read(w.ctx, fh, 4, buf, 6, &nread));
    assert_int_equal(nread, 6);
    assert_memory_equal(buf, "456789", 6);
    AFS_ASSERT_OK(w.ops->read(w.ctx, fh, 0, buf, 1, &nread));

    assert_int_equal(afs_test_fault_injected(w.ctl), 1);
    assert_int_equal(afs_test_fault_count(w.ctl, "read"), 4);
    AFS_ASSERT_OK(w.ops->close(w.ctx, fh));
    wfs_close(&w);
    free(path);
}

static void test_fault_fs__persistent_fault_fails_every_later_call(void **state)
{
    char *path = afs_test_path(*state, "w.txt");
    char *content;
    size_t len;
    struct wfs w;
    void *fh;

    wfs_open(&w);
    AFS_ASSERT_OK(w.ops->open(w.ctx, path, AFS_FS_O_WRITE | AFS_FS_O_CREATE, &fh));
    afs_test_fault_set(w.ctl, "write", 2, AFS_FAULT_PERSISTENT, AFS_ENOSPC);
    AFS_ASSERT_OK(w.ops->write(w.ctx, fh, 0, "aa", 2));
    for (int i = 0; i < 5; i++)
        AFS_ASSERT_CODE(w.ops->write(w.ctx, fh, 2 + 2 * (uint64_t)i, "bb", 2), AFS_ENOSPC);
    /* Other slots are unaffected. */
    AFS_ASSERT_OK(w.ops->fsync(w.ctx, fh));
    AFS_ASSERT_OK(w.ops->close(w.ctx, fh));
    assert_int_equal(afs_test_fault_injected(w.ctl), 5);

    /* The failed writes never reached the file. */
    content = afs_test_read_file(path, &len);
    assert_non_null(content);
    assert_int_equal(len, 2);
    assert_string_equal(content, "aa");
    free(content);

    /* Clearing the plan lets calls through again. */
    afs_test_fault_clear(w.ctl);
    AFS_ASSERT_OK(w.ops->open(w.ctx, path, AFS_FS_O_WRITE, &fh));
    AFS_ASSERT_OK(w.ops->write(w.ctx, fh, 2, "cc", 2));
    AFS_ASSERT_OK(w.ops->close(w.ctx, fh));
    wfs_close(&w);
    free(path);
}

static void test_fault_fs__injected_fault_skips_the_inner_call(void **state)
{
    char *path = afs_test_path(*state, "keep.txt");
    struct wfs w;

    wfs_open(&w);
    afs_test_write_file(path, "k", 1);
    afs_test_fault_set(w.ctl, "unlink", 1, AFS_FAULT_ONCE, AFS_EIO);
    AFS_ASSERT_CODE(w.ops->unlink(w.ctx, path), AFS_EIO);
    assert_int_equal(access(path, F_OK), 0);
    AFS_ASSERT_OK(w.ops->unlink(w.ctx, path));
    assert_int_not_equal(access(path, F_OK), 0);
    wfs_close(&w);
    free(path);
}

static void test_fault_fs__counts_per_slot_are_exact(void **state)
{
    const char *dir = *state;
    char *path = afs_test_path(dir, "c.txt");
    afs_fs_dirent e;
    afs_fs_stat s;
    char buf[8];
    size_t nread;
    struct wfs w;
    void *fh, *d;
    int entries = 0;

    wfs_open(&w);
    afs_test_write_file(path, "abc", 3);
    for (int i = 0; i < 3; i++)
        AFS_ASSERT_OK(w.ops->stat(w.ctx, path, &s));
    AFS_ASSERT_OK(w.ops->open(w.ctx, path, AFS_FS_O_READ, &fh));
    AFS_ASSERT_OK(w.ops->read(w.ctx, fh, 0, buf, 2, &nread));
    AFS_ASSERT_OK(w.ops->read(w.ctx, fh, 2, buf, 2, &nread));
    AFS_ASSERT_OK(w.ops->close(w.ctx, fh));
    AFS_ASSERT_OK(w.ops->dir_open(w.ctx, dir, &d));
    while (w.ops->dir_read(w.ctx, d, &e) == 0)
        entries++;
    w.ops->dir_close(w.ctx, d);
    assert_int_equal(entries, 1);

    assert_int_equal(afs_test_fault_count(w.ctl, "stat"), 3);
    assert_int_equal(afs_test_fault_count(w.ctl, "open"), 1);
    assert_int_equal(afs_test_fault_count(w.ctl, "read"), 2);
    assert_int_equal(afs_test_fault_count(w.ctl, "close"), 1);
    assert_int_equal(afs_test_fault_count(w.ctl, "dir_open"), 1);
    assert_int_equal(afs_test_fault_count(w.ctl, "dir_read"), 2); /* one entry, then the end */
    assert_int_equal(afs_test_fault_count(w.ctl, "dir_close"), 1);
    assert_int_equal(afs_test_fault_count(w.ctl, "rename"), 0);
    assert_int_equal(afs_test_fault_count(w.ctl, "write"), 0);
    assert_int_equal(afs_test_fault_count(w.ctl, NULL), 11);
    assert_int_equal(afs_test_fault_injected(w.ctl), 0);

    afs_test_fault_reset_counts(w.ctl);
    assert_int_equal(afs_test_fault_count(w.ctl, NULL), 0);
    AFS_ASSERT_OK(w.ops->stat(w.ctx, path, &s));
    assert_int_equal(afs_test_fault_count(w.ctl, "stat"), 1);
    wfs_close(&w);
    free(path);
}

/* Rename a -> b through a wrapper planned to crash, in a child; return the
 * child's wait status. */
static int rename_in_child(const char *a, const char *b, afs_test_fault_mode mode)
{
    int status = 0;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* No cmocka asserts here: a failure would unwind into the child's
         * copy of the test runner. Exit codes tell the parent instead. */
        afs_fs *inner, *fs;
        afs_test_fault *ctl;
        const afs_fs_ops *ops;
        void *ctx;
        if (afs_fs_posix_new(&inner) != 0 || afs_test_fault_fs_new(&fs, inner, &ctl) != 0 ||
            afs_fs_ops_get(fs, &ops, &ctx) != 0)
            _exit(2);
        afs_test_fault_set(ctl, "rename", 1, mode, 0);
        ops->rename(ctx, a, b, AFS_FS_RENAME_NOREPLACE);
        _exit(0); /* only reached if the plan did not stop the process */
    }
    while (waitpid(pid, &status, 0) < 0)
        assert_int_equal(errno, EINTR);
    return status;
}

static void test_fault_fs__crash_before_rename_leaves_it_undone(void **state)
{
    const char *dir = *state;
    char *a = afs_test_path(dir, "a.tmp");
    char *b = afs_test_path(dir, "b.txt");
    int status;

    afs_test_write_file(a, "A", 1);
    status = rename_in_child(a, b, AFS_FAULT_CRASH_BEFORE);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), AFS_TEST_CRASH_EXIT);
    assert_int_equal(access(a, F_OK), 0);
    assert_int_not_equal(access(b, F_OK), 0);
    free(a);
    free(b);
}

static void test_fault_fs__crash_after_rename_leaves_it_done(void **state)
{
    const char *dir = *state;
    char *a = afs_test_path(dir, "a.tmp");
    char *b = afs_test_path(dir, "b.txt");
    char *content;
    int status;

    afs_test_write_file(a, "A", 1);
    status = rename_in_child(a, b, AFS_FAULT_CRASH_AFTER);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), AFS_TEST_CRASH_EXIT);
    assert_int_not_equal(access(a, F_OK), 0);
    content = afs_test_read_file(b, NULL);
    assert_non_null(content);
    assert_string_equal(content, "A");
    free(content);
    free(a);
    free(b);
}

static void test_fault_fs__latency_delays_matching_calls(void **state)
{
    struct timespec t0, t1;
    afs_fs_stat s;
    int64_t elapsed_us;
    struct wfs w;

    wfs_open(&w);
    afs_test_fault_latency(w.ctl, "stat", 20000);
    assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &t0), 0);
    AFS_ASSERT_OK(w.ops->stat(w.ctx, *state, &s));
    assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &t1), 0);
    elapsed_us = ((int64_t)t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
    /* A lower bound only: a loaded machine may be slower, never faster. */
    assert_true(elapsed_us >= 20000);
    assert_int_equal(s.type, AFS_TYPE_DIR);
    wfs_close(&w);
}

static void test_fault_fs__null_inner_slots_stay_null(void **state)
{
    const afs_fs_ops *posix_ops, *got;
    afs_fs *posix, *partial, *wrapped;
    afs_test_fault *ctl;
    afs_fs_ops table;
    void *posix_ctx;
    afs_fs_stat s;
    void *ctx;

    /* A pass-through registered with afs_fs_new, missing the optional
     * tiering slots, as a host without holes or xattrs would be. */
    AFS_ASSERT_OK(afs_fs_posix_new(&posix));
    AFS_ASSERT_OK(afs_fs_ops_get(posix, &posix_ops, &posix_ctx));
    table = *posix_ops;
    table.release = NULL; /* the ctx stays owned by `posix` */
    table.punch_hole = NULL;
    table.marker_get = NULL;
    table.marker_set = NULL;
    table.marker_remove = NULL;
    table.fsync = NULL;
    table.ctl = NULL;
    AFS_ASSERT_OK(afs_fs_new(&partial, &table, posix_ctx));

    AFS_ASSERT_OK(afs_test_fault_fs_new(&wrapped, partial, &ctl));
    AFS_ASSERT_OK(afs_fs_ops_get(wrapped, &got, &ctx));
    assert_null(got->punch_hole);
    assert_null(got->marker_get);
    assert_null(got->marker_set);
    assert_null(got->marker_remove);
    assert_null(got->fsync);
    assert_null(got->ctl);
    assert_non_null(got->stat);
    assert_non_null(got->volume);
    assert_non_null(got->release);
    AFS_ASSERT_OK(got->stat(ctx, *state, &s));
    assert_int_equal(s.type, AFS_TYPE_DIR);
    assert_int_equal(afs_test_fault_count(ctl, "stat"), 1);

    afs_fs_free(wrapped);
    afs_fs_free(partial);
    afs_fs_free(posix);
}

static void test_fault_fs__any_slot_plan_and_close_still_releases(void **state)
{
    char *path = afs_test_path(*state, "x.txt");
    afs_fs_stat s;
    struct wfs w;
    void *fh;

    wfs_open(&w);
    afs_test_write_file(path, "x", 1);
    /* op NULL matches every slot: the 3rd call of any kind fails. */
    afs_test_fault_set(w.ctl, NULL, 3, AFS_FAULT_ONCE, AFS_EBUSY);
    AFS_ASSERT_OK(w.ops->stat(w.ctx, path, &s));
    AFS_ASSERT_OK(w.ops->open(w.ctx, path, AFS_FS_O_READ, &fh));
    /* A failed close still gives the handle back (ASan would report the
     * leak otherwise); the caller sees the injected error. */
    AFS_ASSERT_CODE(w.ops->close(w.ctx, fh), AFS_EBUSY);
    AFS_ASSERT_OK(w.ops->stat(w.ctx, path, &s));
    assert_int_equal(afs_test_fault_injected(w.ctl), 1);
    wfs_close(&w);
    free(path);
}

#define T(name) cmocka_unit_test_setup_teardown(name, afs_test_setup_sandbox, afs_test_teardown_sandbox)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_fault_fs__second_read_fails_once_third_passes),
        T(test_fault_fs__persistent_fault_fails_every_later_call),
        T(test_fault_fs__injected_fault_skips_the_inner_call),
        T(test_fault_fs__counts_per_slot_are_exact),
        T(test_fault_fs__crash_before_rename_leaves_it_undone),
        T(test_fault_fs__crash_after_rename_leaves_it_done),
        T(test_fault_fs__latency_delays_matching_calls),
        T(test_fault_fs__null_inner_slots_stay_null),
        T(test_fault_fs__any_slot_plan_and_close_still_releases),
    };
    return cmocka_run_group_tests_name("fault_fs", tests, NULL, NULL);
}

/*
 * The fault-injecting storage wrapper (tests/support/fault.h) around the
 * local backend: failures once and for good, with nothing stored; exact
 * per-slot counts; crashes before and after the inner call in a fork()ed
 * child; latency; NULL slots keep the storage layer's fallbacks; a wrapper
 * that owns its inner storage frees it.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fault.h"
#include "support.h"

struct rig {
    char *share;
    afs_storage *inner;
    afs_storage *s; /* the wrapper */
    afs_test_fault *f;
};

static void rig_open(void **state, struct rig *r)
{
    memset(r, 0, sizeof(*r));
    r->share = afs_test_path(*state, "share");
    afs_test_mkdirs(r->share);
    AFS_ASSERT_OK(afs_storage_local_new(&r->inner, r->share, NULL));
    AFS_ASSERT_OK(afs_test_fault_storage_new(&r->s, r->inner, &r->f));
}

static void rig_close(struct rig *r)
{
    afs_storage_free(r->s); /* frees the controller too */
    afs_storage_free(r->inner);
    free(r->share);
}

static bool on_disk(const struct rig *r, const char *name)
{
    char *p = afs_test_path(r->share, name);
    bool there = access(p, F_OK) == 0;
    free(p);
    return there;
}

static void test_fault_storage__nth_put_fails_once_nothing_stored(void **state)
{
    struct rig r;
    afs_storage_entry st;

    rig_open(state, &r);
    afs_test_fault_set(r.f, "put", 2, AFS_FAULT_ONCE, AFS_ETRANSIENT);
    AFS_ASSERT_OK(afs_storage_put_buffer(r.s, "a", "1", 1, NULL, NULL));
    AFS_ASSERT_CODE(afs_storage_put_buffer(r.s, "b", "2", 1, NULL, NULL), AFS_ETRANSIENT);
    AFS_ASSERT_CODE(afs_storage_stat(r.inner, "b", &st), AFS_ENOTFOUND);
    assert_false(on_disk(&r, "b"));
    /* The retry goes through, and so does everything after it. */
    AFS_ASSERT_OK(afs_storage_put_buffer(r.s, "b", "2", 1, NULL, NULL));
    AFS_ASSERT_OK(afs_storage_put_buffer(r.s, "c", "3", 1, NULL, NULL));
    AFS_ASSERT_OK(afs_storage_stat(r.inner, "b", &st));
    assert_true(on_disk(&r, "b"));
    assert_int_equal(afs_test_fault_injected(r.f), 1);
    assert_int_equal(afs_test_fault_count(r.f, "put"), 4);
    rig_close(&r);
}

static void test_fault_storage__persistent_fault_until_cleared(void **state)
{
    struct rig r;
    afs_storage_entry st;
    char buf[4];
    size_t n;

    rig_open(state, &r);
    AFS_ASSERT_OK(afs_storage_put_buffer(r.s, "r", "xyz", 3, NULL, NULL));
    afs_test_fault_set(r.f, "read", 2, AFS_FAULT_PERSISTENT, AFS_EIO);
    AFS_ASSERT_OK(afs_storage_read(r.s, "r", 0, buf, sizeof(buf), &n, NULL));
    for (int i = 0; i < 3; i++)
        AFS_ASSERT_CODE(afs_storage_read(r.s, "r", 0, buf, sizeof(buf), &n, NULL), AFS_EIO);
    /* Only the planned slot is affected. */
    AFS_ASSERT_OK(afs_storage_stat(r.s, "r", &st));
    assert_int_equal(afs_test_fault_injected(r.f), 3);
    afs_test_fault_clear(r.f);
    AFS_ASSERT_OK(afs_storage_read(r.s, "r", 0, buf, sizeof(buf), &n, NULL));
    assert_int_equal(n, 3);
    /* op NULL matches any slot: the 2nd call of whatever kind fails. */
    afs_test_fault_set(r.f, NULL, 2, AFS_FAULT_ONCE, AFS_EBUSY);
    AFS_ASSERT_OK(afs_storage_stat(r.s, "r", &st));
    AFS_ASSERT_CODE(afs_storage_mkdir(r.s, "d"), AFS_EBUSY);
    AFS_ASSERT_OK(afs_storage_mkdir(r.s, "d"));
    rig_close(&r);
}

static int count_cb(const afs_storage_entry *e, void *payload)
{
    (void)e;
    (*(int *)payload)++;
    return 0;
}

static void test_fault_storage__counts_every_slot_exactly(void **state)
{
    struct rig r;
    afs_storage_entry st;
    char buf[8];
    size_t n;
    int listed = 0;
    const char *name = NULL;
    static const char *const k[] = { "k" };
    static const char *const v[] = { "v" };
    afs_storage_put_options o = AFS_STORAGE_PUT_OPTIONS_INIT;

    rig_open(state, &r);
    o.meta_count = 1;
    o.meta_keys = k;
    o.meta_values = v;
    for (int i = 0; i < 3; i++)
        AFS_ASSERT_OK(afs_storage_put_buffer(r.s, i == 0 ? "p0" : i == 1 ? "p1" : "p2", "x", 1,
                                             &o, NULL));
    AFS_ASSERT_OK(afs_storage_stat(r.s, "p0", &st));
    AFS_ASSERT_OK(afs_storage_stat(r.s, "p1", &st));
    AFS_ASSERT_OK(afs_storage_list_all(r.s, "", count_cb, &listed));
    assert_int_equal(listed, 3);
    AFS_ASSERT_OK(afs_storage_read(r.s, "p0", 0, buf, sizeof(buf), &n, NULL));
    AFS_ASSERT_OK(afs_storage_remove(r.s, "p2", NULL));
    AFS_ASSERT_OK(afs_storage_mkdir(r.s, "d"));
    AFS_ASSERT_OK(afs_storage_rmdir(r.s, "d"));
    AFS_ASSERT_OK(afs_storage_rename(r.s, "p1", "q1", NULL, 0));
    AFS_ASSERT_OK(afs_storage_set_props(r.s, "q1", AFS_TIME_OMIT, AFS_ATTR_ARCHIVE, NULL, NULL));
    AFS_ASSERT_OK(afs_storage_meta_get(r.s, "q1", "k", buf, sizeof(buf), &n));
    assert_string_equal(buf, "v");
    AFS_ASSERT_OK(afs_storage_ctl(r.s, AFS_STORAGE_CTL_NAME, &name));
    assert_string_equal(name, "local"); /* forwarded to the inner backend */

    assert_int_equal(afs_test_fault_count(r.f, "put"), 3);
    assert_int_equal(afs_test_fault_count(r.f, "stat"), 2);
    assert_int_equal(afs_test_fault_count(r.f, "list"), 1);
    assert_int_equal(afs_test_fault_count(r.f, "read"), 1);
    assert_int_equal(afs_test_fault_count(r.f, "remove"), 1);
    assert_int_equal(afs_test_fault_count(r.f, "mkdir"), 1);
    assert_int_equal(afs_test_fault_count(r.f, "rmdir"), 1);
    assert_int_equal(afs_test_fault_count(r.f, "rename"), 1);
    assert_int_equal(afs_test_fault_count(r.f, "set_props"), 1);
    assert_int_equal(afs_test_fault_count(r.f, "meta_get"), 1);
    assert_int_equal(afs_test_fault_count(r.f, "ctl"), 1);
    assert_int_equal(afs_test_fault_count(r.f, NULL), 14);
    assert_int_equal(afs_test_fault_injected(r.f), 0);
    afs_test_fault_reset_counts(r.f);
    assert_int_equal(afs_test_fault_count(r.f, NULL), 0);
    rig_close(&r);
}

/* A backend with only the required slots, to see NULL slots pass through. */
static int min_list(void *ctx, const char *dir, const char *marker, afs_storage_list_fn emit,
                    void *payload, char *next, size_t next_size)
{
    (void)ctx; (void)dir; (void)marker; (void)emit; (void)payload; (void)next; (void)next_size;
    return 0;
}

static int min_stat(void *ctx, const char *path, afs_storage_entry *out)
{
    (void)ctx; (void)path;
    out->type = AFS_TYPE_FILE;
    return 0;
}

static int min_read(void *ctx, const char *path, uint64_t off, void *buf, size_t len,
                    size_t *nread, const char *if_match)
{
    (void)ctx; (void)path; (void)off; (void)buf; (void)len; (void)if_match;
    *nread = 0;
    return 0;
}

static int min_put(void *ctx, const char *path, afs_read_fn src, void *p, uint64_t size,
                   const afs_storage_put_options *o, afs_storage_entry *out)
{
    (void)ctx; (void)path; (void)src; (void)p; (void)size; (void)o; (void)out;
    return 0;
}

static int min_remove(void *ctx, const char *path, const char *if_match)
{
    (void)path; (void)if_match;
    (*(int *)ctx)++;
    return 0;
}

static void min_release(void *ctx)
{
    (*(int *)ctx) += 1000;
}

/* The minimal backend; `calls` counts its removes, and 1000 for its release. */
static afs_storage *min_storage(int *calls)
{
    afs_storage_ops ops;
    afs_storage *s = NULL;
    memset(&ops, 0, sizeof(ops));
    ops.version = AFS_STORAGE_OPS_VERSION;
    ops.release = min_release;
    ops.list = min_list;
    ops.stat = min_stat;
    ops.read = min_read;
    ops.put = min_put;
    ops.remove = min_remove;
    AFS_ASSERT_OK(afs_storage_new(&s, &ops, calls));
    return s;
}

static void test_fault_storage__null_slots_stay_null(void **state)
{
    const afs_storage_ops *w = NULL;
    afs_storage *inner = NULL, *s = NULL;
    afs_test_fault *f = NULL;
    int calls = 0;
    (void)state;

    inner = min_storage(&calls);
    AFS_ASSERT_OK(afs_test_fault_storage_new(&s, inner, &f));
    AFS_ASSERT_OK(afs_storage_ops_get(s, &w, NULL));
    assert_non_null(w->list);
    assert_non_null(w->remove);
    assert_null(w->mkdir);
    assert_null(w->rmdir);
    assert_null(w->rename);
    assert_null(w->set_props);
    assert_null(w->meta_get);
    assert_null(w->ctl);
    /* So the storage layer's fallbacks apply, without reaching the wrapper. */
    AFS_ASSERT_OK(afs_storage_mkdir(s, "implicit"));
    AFS_ASSERT_CODE(afs_storage_set_props(s, "x", 0, 0, NULL, NULL), AFS_ENOTSUP);
    AFS_ASSERT_CODE(afs_storage_ctl(s, AFS_STORAGE_CTL_NAME, NULL), AFS_ENOTSUP);
    assert_int_equal(afs_test_fault_count(f, "mkdir"), 0);
    AFS_ASSERT_OK(afs_storage_remove(s, "x", NULL));
    assert_int_equal(calls, 1);
    assert_int_equal(afs_test_fault_count(f, "remove"), 1);
    /* Freeing the wrapper leaves the borrowed inner storage alone. */
    afs_storage_free(s);
    assert_int_equal(calls, 1);
    afs_storage_free(inner);
    assert_int_equal(calls, 1001);
}

static void test_fault_storage__owning_wrapper_frees_its_inner_storage(void **state)
{
    afs_storage *inner = NULL, *s = NULL;
    afs_test_fault *f = NULL;
    int calls = 0;
    (void)state;

    inner = min_storage(&calls);
    AFS_ASSERT_OK(afs_test_fault_storage_new_owning(&s, inner, &f));
    /* The controller is found from the wrapper, and only from a wrapper. */
    assert_ptr_equal(afs_test_fault_storage_ctl(s), f);
    assert_null(afs_test_fault_storage_ctl(inner));
    assert_null(afs_test_fault_storage_ctl(NULL));
    AFS_ASSERT_OK(afs_storage_remove(s, "x", NULL));
    assert_int_equal(calls, 1);
    assert_int_equal(afs_test_fault_count(f, "remove"), 1);
    /* Freeing the wrapper releases the inner storage once. */
    afs_storage_free(s);
    assert_int_equal(calls, 1001);
}

/* In a child: open, wrap, plan a crash at the first put, and put. */
static int crash_child(const char *share, afs_test_fault_mode mode)
{
    afs_storage *inner = NULL, *s = NULL;
    afs_test_fault *f = NULL;
    if (afs_storage_local_new(&inner, share, NULL) != 0 ||
        afs_test_fault_storage_new(&s, inner, &f) != 0)
        return 1;
    afs_test_fault_set(f, "put", 1, mode, 0);
    afs_storage_put_buffer(s, "crashed", "durable?", 8, NULL, NULL);
    return 2; /* not reached when the plan fires */
}

static int run_crash(const char *share, afs_test_fault_mode mode)
{
    int ws = 0;
    pid_t pid;

    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(crash_child(share, mode));
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFEXITED(ws));
    return WEXITSTATUS(ws);
}

static void test_fault_storage__crash_before_and_after_put(void **state)
{
    struct rig r;
    afs_storage_entry st;
    char buf[16];
    size_t n = 0;

    rig_open(state, &r);
    assert_int_equal(run_crash(r.share, AFS_FAULT_CRASH_BEFORE), AFS_TEST_CRASH_EXIT);
    AFS_ASSERT_CODE(afs_storage_stat(r.inner, "crashed", &st), AFS_ENOTFOUND);
    assert_int_equal(run_crash(r.share, AFS_FAULT_CRASH_AFTER), AFS_TEST_CRASH_EXIT);
    AFS_ASSERT_OK(afs_storage_read(r.inner, "crashed", 0, buf, sizeof(buf), &n, NULL));
    assert_int_equal(n, 8);
    assert_memory_equal(buf, "durable?", 8);
    rig_close(&r);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void test_fault_storage__latency_is_at_least_planned(void **state)
{
    struct rig r;
    afs_storage_entry st;
    int64_t t0;

    rig_open(state, &r);
    AFS_ASSERT_OK(afs_storage_put_buffer(r.s, "slow", "s", 1, NULL, NULL));
    afs_test_fault_latency(r.f, "stat", 30000);
    t0 = now_ns();
    AFS_ASSERT_OK(afs_storage_stat(r.s, "slow", &st));
    /* A lower bound only: never assert that anything is fast. */
    assert_true(now_ns() - t0 >= 30000000);
    afs_test_fault_latency(r.f, NULL, 0);
    rig_close(&r);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, afs_test_setup_sandbox, afs_test_teardown_sandbox)
    const struct CMUnitTest tests[] = {
        T(test_fault_storage__nth_put_fails_once_nothing_stored),
        T(test_fault_storage__persistent_fault_until_cleared),
        T(test_fault_storage__counts_every_slot_exactly),
        T(test_fault_storage__null_slots_stay_null),
        T(test_fault_storage__owning_wrapper_frees_its_inner_storage),
        T(test_fault_storage__crash_before_and_after_put),
        T(test_fault_storage__latency_is_at_least_planned),
    };
#undef T
    return cmocka_run_group_tests_name("fault_storage", tests, NULL, NULL);
}

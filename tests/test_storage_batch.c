/*
 * The local backend's durability batching (include/afs/sys/storage.h:
 * AFS_STORAGE_CTL_DEFER_NAMES, AFS_STORAGE_CTL_BARRIER,
 * AFS_STORAGE_CTL_CONCURRENCY): many threads putting at once share their
 * syncs, and what a reader sees is the same as without batching -- whole
 * objects, right etags, exactly one winner of a create-only race.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support.h"

#define THREADS 16
#define PER_THREAD 40

struct rig {
    char *share;
    afs_storage *s;
};

static void rig_open(void **state, struct rig *r, uint32_t flags)
{
    afs_storage_local_options o = AFS_STORAGE_LOCAL_OPTIONS_INIT;
    r->share = afs_test_path(*state, "share");
    afs_test_mkdirs(r->share);
    o.flags = flags;
    AFS_ASSERT_OK(afs_storage_local_new(&r->s, r->share, &o));
}

static void rig_close(struct rig *r)
{
    afs_storage_free(r->s);
    free(r->share);
}

struct putter {
    afs_storage *s;
    int id;
    int failures;
};

/* Each thread creates its own objects in shared directories. */
static void *put_many(void *arg)
{
    struct putter *p = arg;
    afs_storage_put_options o = AFS_STORAGE_PUT_OPTIONS_INIT;
    o.condition = AFS_COND_CREATE_ONLY;
    for (int i = 0; i < PER_THREAD; i++) {
        char path[64], body[64];
        afs_storage_entry out, st;
        snprintf(path, sizeof(path), "d%d/t%02d-%03d", i % 3, p->id, i);
        snprintf(body, sizeof(body), "thread %d object %d", p->id, i);
        memset(&out, 0, sizeof(out));
        memset(&st, 0, sizeof(st));
        if (afs_storage_put_buffer(p->s, path, body, strlen(body), &o, &out) != 0 ||
            afs_storage_stat(p->s, path, &st) != 0 || strcmp(out.etag, st.etag) != 0 ||
            st.size != strlen(body))
            p->failures++;
    }
    return NULL;
}

static void check_all(struct rig *r)
{
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < PER_THREAD; i++) {
            char rel[64], body[64], *path, *got;
            snprintf(rel, sizeof(rel), "d%d/t%02d-%03d", i % 3, t, i);
            snprintf(body, sizeof(body), "thread %d object %d", t, i);
            path = afs_test_path(r->share, rel);
            got = afs_test_read_file(path, NULL);
            assert_non_null(got);
            assert_string_equal(got, body);
            free(got);
            free(path);
        }
}

static void run_putters(struct rig *r)
{
    pthread_t th[THREADS];
    struct putter p[THREADS];
    AFS_ASSERT_OK(afs_storage_mkdir(r->s, "d0"));
    AFS_ASSERT_OK(afs_storage_mkdir(r->s, "d1"));
    AFS_ASSERT_OK(afs_storage_mkdir(r->s, "d2"));
    for (int t = 0; t < THREADS; t++) {
        p[t].s = r->s;
        p[t].id = t;
        p[t].failures = 0;
        assert_int_equal(pthread_create(&th[t], NULL, put_many, &p[t]), 0);
    }
    for (int t = 0; t < THREADS; t++) {
        assert_int_equal(pthread_join(th[t], NULL), 0);
        assert_int_equal(p[t].failures, 0);
    }
}

static void test_storage_batch__concurrent_puts_share_syncs(void **state)
{
    struct rig r;
    uint32_t n = 0;

    rig_open(state, &r, 0);
    /* The local backend asks for company: its syncs are shared. */
    AFS_ASSERT_OK(afs_storage_ctl(r.s, AFS_STORAGE_CTL_CONCURRENCY, &n));
    assert_true(n > 1);
    run_putters(&r);
    check_all(&r);
    rig_close(&r);
}

static void test_storage_batch__deferred_names_read_the_same_and_barrier(void **state)
{
    struct rig r;
    afs_storage_entry e;
    int on = 1, off = 0;

    rig_open(state, &r, 0);
    AFS_ASSERT_OK(afs_storage_ctl(r.s, AFS_STORAGE_CTL_DEFER_NAMES, &on));
    run_putters(&r);
    /* Deferred or not, readers see every object, whole, at once. */
    check_all(&r);
    AFS_ASSERT_OK(afs_storage_rename(r.s, "d0/t00-000", "d1/moved", NULL, 0));
    AFS_ASSERT_OK(afs_storage_remove(r.s, "d0/t00-003", NULL));
    AFS_ASSERT_OK(afs_storage_mkdir(r.s, "d3"));
    AFS_ASSERT_OK(afs_storage_stat(r.s, "d1/moved", &e));
    AFS_ASSERT_CODE(afs_storage_stat(r.s, "d0/t00-003", &e), AFS_ENOTFOUND);
    AFS_ASSERT_OK(afs_storage_ctl(r.s, AFS_STORAGE_CTL_BARRIER, NULL));
    /* A second barrier with nothing new has nothing to do. */
    AFS_ASSERT_OK(afs_storage_ctl(r.s, AFS_STORAGE_CTL_BARRIER, NULL));
    AFS_ASSERT_OK(afs_storage_put_buffer(r.s, "d3/last", "x", 1, NULL, NULL));
    AFS_ASSERT_OK(afs_storage_ctl(r.s, AFS_STORAGE_CTL_DEFER_NAMES, &off));
    AFS_ASSERT_OK(afs_storage_stat(r.s, "d3/last", &e));
    rig_close(&r);
}

static void test_storage_batch__nosync_has_nothing_to_batch(void **state)
{
    struct rig r;
    uint32_t n = 0;
    int on = 1;

    rig_open(state, &r, AFS_STORAGE_LOCAL_NOSYNC);
    AFS_ASSERT_CODE(afs_storage_ctl(r.s, AFS_STORAGE_CTL_DEFER_NAMES, &on), AFS_ENOTSUP);
    AFS_ASSERT_CODE(afs_storage_ctl(r.s, AFS_STORAGE_CTL_CONCURRENCY, &n), AFS_ENOTSUP);
    AFS_ASSERT_OK(afs_storage_ctl(r.s, AFS_STORAGE_CTL_BARRIER, NULL));
    run_putters(&r);
    check_all(&r);
    rig_close(&r);
}

struct racer {
    afs_storage *s;
    int id;
    int rc;
    pthread_barrier_t *go;
};

static void *race_create(void *arg)
{
    struct racer *x = arg;
    afs_storage_put_options o = AFS_STORAGE_PUT_OPTIONS_INIT;
    char body[32];
    o.condition = AFS_COND_CREATE_ONLY;
    snprintf(body, sizeof(body), "winner %d", x->id);
    pthread_barrier_wait(x->go);
    x->rc = afs_storage_put_buffer(x->s, "d0/contested", body, strlen(body), &o, NULL);
    return NULL;
}

static void test_storage_batch__create_only_race_has_one_winner(void **state)
{
    struct rig r;
    pthread_t th[THREADS];
    struct racer x[THREADS];
    pthread_barrier_t go;
    int winners = 0, winner = -1;
    char *path, *got, want[32];

    rig_open(state, &r, 0);
    AFS_ASSERT_OK(afs_storage_mkdir(r.s, "d0"));
    for (int round = 0; round < 5; round++) {
        afs_storage_remove(r.s, "d0/contested", NULL);
        afs_error_clear();
        pthread_barrier_init(&go, NULL, THREADS);
        winners = 0;
        for (int t = 0; t < THREADS; t++) {
            x[t].s = r.s;
            x[t].id = t;
            x[t].rc = -1;
            x[t].go = &go;
            assert_int_equal(pthread_create(&th[t], NULL, race_create, &x[t]), 0);
        }
        for (int t = 0; t < THREADS; t++) {
            assert_int_equal(pthread_join(th[t], NULL), 0);
            if (x[t].rc == 0) {
                winners++;
                winner = t;
            } else {
                assert_int_equal(x[t].rc, AFS_ECONDITION);
            }
        }
        pthread_barrier_destroy(&go);
        assert_int_equal(winners, 1);
        path = afs_test_path(r.share, "d0/contested");
        got = afs_test_read_file(path, NULL);
        snprintf(want, sizeof(want), "winner %d", winner);
        assert_non_null(got);
        assert_string_equal(got, want);
        free(got);
        free(path);
    }
    rig_close(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_storage_batch__concurrent_puts_share_syncs,
                                        afs_test_setup_sandbox, afs_test_teardown_sandbox),
        cmocka_unit_test_setup_teardown(
            test_storage_batch__deferred_names_read_the_same_and_barrier,
            afs_test_setup_sandbox, afs_test_teardown_sandbox),
        cmocka_unit_test_setup_teardown(test_storage_batch__nosync_has_nothing_to_batch,
                                        afs_test_setup_sandbox, afs_test_teardown_sandbox),
        cmocka_unit_test_setup_teardown(test_storage_batch__create_only_race_has_one_winner,
                                        afs_test_setup_sandbox, afs_test_teardown_sandbox),
    };
    return cmocka_run_group_tests_name("storage_batch", tests, NULL, NULL);
}

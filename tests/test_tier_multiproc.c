/*
 * Recall and tiering of the same files by several processes at once
 * (docs/tiering.md#recall-by-several-processes): forked processes, each with
 * its own service, recall overlapping ranges and whole files, tier them, or
 * change their cloud version, many rounds; afterwards every file must hold
 * what its state says. A full file (no marker) holds every byte of one
 * cloud version; a placeholder's marker lists only ranges that hold the
 * bytes of the version it names. The files are checked from the outside
 * (xattr and bytes), never through the library.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fault.h"
#include "faultscheme.h"
#include "support.h"
#include "tierfs.h"
#include "tier/marker.h"
#include "tier/tier_internal.h"

#define MiB (1024u * 1024u)
#define NFILES 3
#define FILE_SIZE (6 * MiB + 12345)
#define VOLUME (1024ull * MiB)

typedef struct menv {
    char *root;
    char *vol;
    char *state;
    char *share;
    char *data;
} menv;

/* One process's handles on the shared service state. */
typedef struct handles {
    afs_fs *fs;
    afs_fs *top;          /* what the service uses: fs in a fault wrapper */
    afs_test_fault *fault;
    afs_test_tierfs *tfs;
    afs_service *svc;
    afs_group *g;
    afs_endpoint *ep;
} handles;

static const char *const names[NFILES] = { "a.bin", "dir/b.bin", "c.bin" };

static void fill(unsigned char *buf, size_t len, uint32_t seed, uint64_t off)
{
    for (size_t i = 0; i < len; i++) {
        uint64_t x = (off + i) * 0x9E3779B97F4A7C15ull + seed;
        x ^= x >> 29;
        buf[i] = (unsigned char)(x * 0xBF58476D1CE4E5B9ull >> 56);
    }
}

static void handles_open(handles *h, const menv *e, bool create)
{
    afs_service_options so = AFS_SERVICE_OPTIONS_INIT;
    memset(h, 0, sizeof(*h));
    AFS_ASSERT_OK(afs_test_tierfs_new(&h->fs, e->vol, VOLUME, &h->tfs));
    AFS_ASSERT_OK(afs_test_fault_fs_new(&h->top, h->fs, &h->fault));
    so.fs = h->top;
    AFS_ASSERT_OK(afs_service_open(&h->svc, e->state, &so));
    if (create) {
        afs_endpoint_options o = AFS_ENDPOINT_OPTIONS_INIT;
        o.tiering_enabled = 1;
        AFS_ASSERT_OK(afs_server_register(h->svc, "ServerA"));
        char *uri = afs_test_fault_uri(e->share);
        AFS_ASSERT_OK(afs_group_create(&h->g, h->svc, "group0", uri));
        free(uri);
        AFS_ASSERT_OK(afs_endpoint_create(&h->ep, h->g, e->data, &o));
    } else {
        AFS_ASSERT_OK(afs_group_open(&h->g, h->svc, "group0", NULL));
        AFS_ASSERT_OK(afs_endpoint_open(&h->ep, h->g));
    }
    /* Slow storage reads: each recall's data phase is wide open to the others. */
    afs_test_fault_latency(afs_test_faultscheme_ctl(afs_group_storage(h->g)), "read", 4000);
}

static void handles_close(handles *h)
{
    afs_endpoint_close(h->ep);
    afs_group_close(h->g);
    afs_service_close(h->svc);
    afs_fs_free(h->top);
    afs_fs_free(h->fs);
}

static menv *env_new(const char *name)
{
    menv *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    afs_test_tier_dirs(name, &e->root, &e->vol, &e->state, &e->share, &e->data);
    afs_test_mkdirs(e->data);
    return e;
}

static void env_free(menv *e)
{
    if (!getenv("AFS_TEST_KEEP"))
        afs_test_rmtree(e->root);
    free(e->vol);
    free(e->state);
    free(e->share);
    free(e->data);
    free(e->root);
    free(e);
}

/* Run `fn(e, arg)` in a child process; it passes when the child exits 0. */
typedef int (*child_fn)(const menv *e, int arg);

static pid_t spawn(const menv *e, child_fn fn, int arg)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int rc = fn(e, arg);
        fflush(stderr);
        _exit(rc);
    }
    return pid;
}

static void reap(pid_t pid, const char *what)
{
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("%s: child failed (status %d)", what, status);
}

static void run_one(const menv *e, child_fn fn, int arg, const char *what)
{
    reap(spawn(e, fn, arg), what);
}

/* ---- the processes ---- */

/* Create the endpoint, the files (pattern seed = index + 1), sync, tier all. */
static int setup_child(const menv *e, int arg)
{
    afs_sync_result r = AFS_SYNC_RESULT_INIT;
    handles h;
    unsigned char *buf = malloc(FILE_SIZE);
    (void)arg;
    assert_non_null(buf);
    handles_open(&h, e, true);
    for (int i = 0; i < NFILES; i++) {
        char *p = afs_test_path(e->data, names[i]);
        char *slash = strrchr(p, '/');
        *slash = '\0';
        afs_test_mkdirs(p);
        *slash = '/';
        fill(buf, FILE_SIZE, (uint32_t)i + 1, 0);
        afs_test_write_file(p, buf, FILE_SIZE);
        free(p);
    }
    free(buf);
    AFS_ASSERT_OK(afs_endpoint_sync(h.ep, NULL, &r));
    assert_int_equal(r.item_errors, 0);
    for (int i = 0; i < NFILES; i++)
        AFS_ASSERT_OK(afs_tier_file(h.ep, names[i], NULL));
    handles_close(&h);
    return 0;
}

/* Tier every file again (an epoch's start). */
static int retier_child(const menv *e, int arg)
{
    handles h;
    (void)arg;
    handles_open(&h, e, false);
    for (int i = 0; i < NFILES; i++) {
        int rc = afs_tier_file(h.ep, names[i], NULL);
        if (rc != 0) {
            fprintf(stderr, "retier %s: %s\n", names[i], afs_error_last());
            return 1;
        }
    }
    handles_close(&h);
    return 0;
}

static uint32_t rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

#define ROUNDS 30

/* Recall random ranges and whole files. `arg`: seed; a negative seed also
 * accepts AFS_ECONDITION (the cloud copy changes meanwhile). */
static int recall_child(const menv *e, int arg)
{
    uint64_t s = (uint64_t)(arg < 0 ? -arg : arg) * 7919u + 1;
    handles h;
    handles_open(&h, e, false);
    for (int round = 0; round < ROUNDS; round++) {
        const char *name = names[rnd(&s) % NFILES];
        int rc;
        if (rnd(&s) % 4 == 0) {
            rc = afs_tier_recall(h.ep, name, NULL, NULL);
        } else {
            uint64_t off = rnd(&s) % FILE_SIZE;
            uint64_t len = 1 + rnd(&s) % (3 * MiB);
            rc = afs_tier_recall_range(h.ep, name, off, len, (rnd(&s) & 1) ?
                                       AFS_RECALL_ON_ACCESS : 0);
        }
        if (rc != 0 && !(arg < 0 && rc == AFS_ECONDITION)) {
            fprintf(stderr, "recall %s: %s (%d)\n", name, afs_error_last(), rc);
            return 1;
        }
    }
    handles_close(&h);
    return 0;
}

/* Tier random files again and again. */
static int tier_child(const menv *e, int arg)
{
    uint64_t s = (uint64_t)arg * 104729u + 3;
    handles h;
    handles_open(&h, e, false);
    for (int round = 0; round < ROUNDS; round++) {
        const char *name = names[rnd(&s) % NFILES];
        afs_tier_result res = AFS_TIER_RESULT_INIT;
        int rc = afs_tier_file(h.ep, name, &res);
        /* A file being recalled by another process is left for later. */
        if (rc != 0 && rc != AFS_ECONDITION && rc != AFS_EBUSY) {
            fprintf(stderr, "tier %s: %s (%d)\n", name, afs_error_last(), rc);
            return 1;
        }
        if (getenv("AFS_TEST_VERBOSE"))
            fprintf(stderr, "tier %s: rc %d tiered %llu not synced %llu changed %llu\n", name,
                    rc, (unsigned long long)res.files_tiered,
                    (unsigned long long)res.skipped_not_synced,
                    (unsigned long long)res.skipped_changed);
        usleep(2000);
    }
    handles_close(&h);
    return 0;
}

/* Change every file's cloud copy (pattern seed + 100) and update the
 * placeholder the way a sync session does. */
static int change_child(const menv *e, int arg)
{
    unsigned char *buf = malloc(FILE_SIZE);
    afs_storage *st = NULL;
    handles h;
    (void)arg;
    assert_non_null(buf);
    handles_open(&h, e, false);
    AFS_ASSERT_OK(afs_storage_local_new(&st, e->share, NULL));
    for (int i = 0; i < NFILES; i++) {
        afs_storage_entry out;
        int rc;
        usleep(3000);
        memset(&out, 0, sizeof(out));
        fill(buf, FILE_SIZE, (uint32_t)i + 101, 0);
        AFS_ASSERT_OK(afs_storage_put_buffer(st, names[i], buf, FILE_SIZE, NULL, &out));
        rc = afs__tier_placeholder_update(h.ep, names[i], out.size, out.mtime_ns, out.etag,
                                          NULL);
        /* A file recalled whole before the change is no placeholder: sync downloads it. */
        if (rc != 0 && rc != AFS_ECONDITION) {
            fprintf(stderr, "update %s: %s (%d)\n", names[i], afs_error_last(), rc);
            return 1;
        }
    }
    afs_storage_free(st);
    free(buf);
    handles_close(&h);
    return 0;
}

/* ---- checking ---- */

/* The cloud version's pattern seed from its etag: the setup's, or the change's. */
static uint32_t seed_of_etag(const menv *e, int i, const char *etag)
{
    afs_storage *st = NULL;
    afs_storage_entry ent;
    uint32_t seed;
    AFS_ASSERT_OK(afs_storage_local_new(&st, e->share, NULL));
    memset(&ent, 0, sizeof(ent));
    AFS_ASSERT_OK(afs_storage_stat(st, names[i], &ent));
    seed = strcmp(ent.etag, etag) == 0 ? (uint32_t)i + 101 : (uint32_t)i + 1;
    afs_storage_free(st);
    return seed;
}

static bool bytes_are(const unsigned char *got, uint64_t off, uint64_t len, uint32_t seed)
{
    unsigned char *want = malloc(len ? len : 1);
    bool ok;
    assert_non_null(want);
    fill(want, len, seed, off);
    ok = memcmp(got + off, want, len) == 0;
    free(want);
    return ok;
}

/* Every file holds what its state says; returns the number of full files. */
static int check_files(const menv *e, bool changed)
{
    int full = 0;
    for (int i = 0; i < NFILES; i++) {
        char *p = afs_test_path(e->data, names[i]);
        unsigned char xa[AFS_FS_MARKER_MAX];
        ssize_t n = getxattr(p, "user.afs.marker", xa, sizeof(xa));
        size_t len = 0;
        unsigned char *got = (unsigned char *)afs_test_read_file(p, &len);
        assert_non_null(got);
        assert_int_equal(len, FILE_SIZE);
        if (n < 0) {
            assert_int_equal(errno, ENODATA);
            /* Full: every byte of one version, never two mixed, never a hole. */
            if (!bytes_are(got, 0, FILE_SIZE, (uint32_t)i + 1) &&
                !(changed && bytes_are(got, 0, FILE_SIZE, (uint32_t)i + 101)))
                fail_msg("%s is full (no marker) but does not hold one cloud version", names[i]);
            full++;
        } else {
            afs__marker m;
            uint32_t seed;
            memset(&m, 0, sizeof(m));
            AFS_ASSERT_OK(afs__marker_decode(xa, (size_t)n, p, &m));
            assert_int_equal(m.size, FILE_SIZE);
            seed = changed ? seed_of_etag(e, i, m.etag) : (uint32_t)i + 1;
            for (size_t r = 0; r < m.nranges; r++) {
                const afs__range *g = &m.ranges[r];
                assert_true(g->off + g->len <= FILE_SIZE);
                if (!bytes_are(got, g->off, g->len, seed))
                    fail_msg("%s: its marker lists [%llu, +%llu) present, which does not hold "
                             "those bytes", names[i], (unsigned long long)g->off,
                             (unsigned long long)g->len);
            }
            /* Every process is done: the last recall to finish made a covered file full. */
            if (afs__marker_covers(&m, 0, m.size))
                fail_msg("%s: its marker lists the whole file present, yet it is no full file",
                         names[i]);
            afs__marker_clear(&m);
        }
        free(got);
        free(p);
    }
    return full;
}

/* After everything: a whole recall of each file leaves it full and right. */
static int final_recall_child(const menv *e, int arg)
{
    handles h;
    (void)arg;
    handles_open(&h, e, false);
    for (int i = 0; i < NFILES; i++) {
        int rc = afs_tier_recall(h.ep, names[i], NULL, NULL);
        if (rc != 0) {
            fprintf(stderr, "final recall %s: %s (%d)\n", names[i], afs_error_last(), rc);
            return 1;
        }
    }
    handles_close(&h);
    return 0;
}

/* Tier c.bin with a slow punch: the recall lock is held exclusively for 0.6 s. */
static int slow_tier_child(const menv *e, int arg)
{
    handles h;
    int rc;
    (void)arg;
    handles_open(&h, e, false);
    afs_test_fault_latency(h.fault, "punch_hole", 1000000);
    rc = afs_tier_file(h.ep, "c.bin", NULL);
    if (rc != 0)
        fprintf(stderr, "slow tier: %s\n", afs_error_last());
    handles_close(&h);
    return rc == 0 ? 0 : 1;
}

/* While slow_tier_child punches: a recall with AFS_RECALL_NO_WAIT fails at once
 * with AFS_EBUSY; one without waits for the tiering, then fetches. */
static int recall_during_tier_child(const menv *e, int arg)
{
    handles h;
    int rc;
    char *p = afs_test_path(e->data, "c.bin");
    (void)arg;
    handles_open(&h, e, false);
    /* The tiering writes the marker with the lock held, then punches (slowly). */
    for (int i = 0; i < 2000 && getxattr(p, "user.afs.marker", NULL, 0) < 0; i++)
        usleep(5000);
    free(p);
    rc = afs_tier_recall_range(h.ep, "c.bin", 0, 4096, AFS_RECALL_ON_ACCESS | AFS_RECALL_NO_WAIT);
    if (rc != AFS_EBUSY) {
        fprintf(stderr, "NO_WAIT recall during tiering: %d (%s), expected AFS_EBUSY\n", rc,
                afs_error_last());
        return 1;
    }
    if ((rc = afs_tier_recall_range(h.ep, "c.bin", 0, 4096, 0)) != 0) {
        fprintf(stderr, "recall after tiering: %s\n", afs_error_last());
        return 1;
    }
    handles_close(&h);
    return 0;
}

/* Recall c.bin whole with slow storage reads (arg: latency in us). */
static int slow_recall_child(const menv *e, int arg)
{
    handles h;
    int rc;
    handles_open(&h, e, false);
    afs_test_fault_latency(afs_test_faultscheme_ctl(afs_group_storage(h.g)), "read",
                           (unsigned)arg);
    rc = afs_tier_recall(h.ep, "c.bin", NULL, NULL);
    if (rc != 0)
        fprintf(stderr, "slow recall: %s\n", afs_error_last());
    handles_close(&h);
    return rc == 0 ? 0 : 1;
}

/* While slow_recall_child fetches: tiering skips the file (it is being recalled). */
static int tier_during_recall_child(const menv *e, int arg)
{
    afs_tier_result res = AFS_TIER_RESULT_INIT;
    handles h;
    int rc;
    (void)arg;
    handles_open(&h, e, false);
    usleep(800000); /* the other process is inside its 3 s storage read */
    rc = afs_tier_file(h.ep, "c.bin", &res);
    if (rc != AFS_ECONDITION || res.files_tiered != 0 || res.skipped_changed != 1) {
        fprintf(stderr, "tier during a recall: %d (%s), tiered %llu\n", rc, afs_error_last(),
                (unsigned long long)res.files_tiered);
        return 1;
    }
    handles_close(&h);
    return 0;
}

static void test_tier_multiproc__state_changes_and_recalls_wait_or_skip(void **state)
{
    menv *e = env_new("multiproc-lock");
    pid_t a, b;
    (void)state;
    run_one(e, setup_child, 0, "setup");
    /* A recall in one process holds off tiering in another. */
    a = spawn(e, slow_recall_child, 3000000);
    b = spawn(e, tier_during_recall_child, 0);
    reap(b, "tier during a recall");
    reap(a, "slow recall");
    assert_int_equal(check_files(e, false), 1); /* c.bin; the others are still placeholders */
    /* Tiering in one process: a daemon's recall does not wait, a plain one does. */
    a = spawn(e, slow_tier_child, 0);
    b = spawn(e, recall_during_tier_child, 0);
    reap(b, "recall during tiering");
    reap(a, "slow tier");
    check_files(e, false);
    env_free(e);
}

#define NPROC 4
#define EPOCHS 4

static void test_tier_multiproc__overlapping_recalls_from_many_processes(void **state)
{
    menv *e = env_new("multiproc-recall");
    (void)state;
    run_one(e, setup_child, 0, "setup");
    for (int epoch = 0; epoch < EPOCHS; epoch++) {
        pid_t pids[NPROC];
        if (epoch)
            run_one(e, retier_child, 0, "tier again");
        for (int i = 0; i < NPROC; i++)
            pids[i] = spawn(e, recall_child, epoch * NPROC + i + 1);
        for (int i = 0; i < NPROC; i++)
            reap(pids[i], "recall");
        check_files(e, false);
    }
    run_one(e, final_recall_child, 0, "final recall");
    assert_int_equal(check_files(e, false), NFILES);
    env_free(e);
}

static void test_tier_multiproc__tiering_races_recalls_in_other_processes(void **state)
{
    menv *e = env_new("multiproc-tier");
    (void)state;
    run_one(e, setup_child, 0, "setup");
    for (int epoch = 0; epoch < EPOCHS; epoch++) {
        pid_t pids[NPROC];
        pids[0] = spawn(e, tier_child, epoch + 1);
        for (int i = 1; i < NPROC; i++)
            pids[i] = spawn(e, recall_child, epoch * NPROC + i + 1);
        for (int i = 0; i < NPROC; i++)
            reap(pids[i], i ? "recall" : "tier");
        check_files(e, false);
    }
    run_one(e, final_recall_child, 0, "final recall");
    assert_int_equal(check_files(e, false), NFILES);
    env_free(e);
}

static void test_tier_multiproc__a_cloud_change_during_recalls_never_mixes_versions(void **state)
{
    for (int epoch = 0; epoch < EPOCHS; epoch++) {
        menv *e = env_new("multiproc-change");
        pid_t pids[NPROC];
        (void)state;
        run_one(e, setup_child, 0, "setup");
        pids[0] = spawn(e, change_child, 0);
        for (int i = 1; i < NPROC; i++)
            pids[i] = spawn(e, recall_child, -(epoch * NPROC + i + 1));
        for (int i = 0; i < NPROC; i++)
            reap(pids[i], i ? "recall" : "change");
        check_files(e, true);
        env_free(e);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tier_multiproc__state_changes_and_recalls_wait_or_skip),
        cmocka_unit_test(test_tier_multiproc__overlapping_recalls_from_many_processes),
        cmocka_unit_test(test_tier_multiproc__tiering_races_recalls_in_other_processes),
        cmocka_unit_test(test_tier_multiproc__a_cloud_change_during_recalls_never_mixes_versions),
    };
    afs_test_faultscheme_register(0);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

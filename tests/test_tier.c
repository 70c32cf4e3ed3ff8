/*
 * Cloud tiering and recall: placeholders, the policies with the reference's
 * worked examples, recall (whole, range, tree, concurrent, out of space,
 * changed cloud copy), the heat store and statistics. Endpoints live on a
 * test volume (tests/support/tierfs.h) whose size each test chooses and
 * whose free space follows the blocks the files really use.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fault.h"
#include "support.h"
#include "tierfs.h"
#include "tier/marker.h"
#include "tier/tier_internal.h"
#include "sync/state.h"
#include "sync/group_internal.h"

#define KiB 1024u
#define MiB (1024u * 1024u)
#define DAY_S 86400L
/* On ext4 (the sandbox's file system) a tier marker that does not fit in the
 * inode takes one external extended-attribute block, which stat counts in a
 * placeholder's size on disk; tmpfs counts nothing (test_tier__posix_on_a_tmpfs_volume). */
#define MARKER_SLACK 4096u

/* ---- environment ---- */

typedef struct tenv {
    char *root;
    char *vol;      /* the test volume's root */
    char *state;    /* service state (outside the volume) */
    char *share[2];
    char *data[2];  /* endpoint paths, on the volume */
    afs_fs *fs;     /* the test volume filesystem */
    afs_test_tierfs *tfs;
    afs_fs *top;    /* what the service uses: fs, or a fault wrapper over it */
    afs_test_fault *fault;
    afs_service *svc;
    afs_group *g[2];
    afs_endpoint *ep[2];
} tenv;

static tenv *env_new(const char *name, uint64_t total, bool with_fault)
{
    afs_service_options so = AFS_SERVICE_OPTIONS_INIT;
    tenv *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    e->root = afs_test_sandbox(name);
    e->vol = afs_test_path(e->root, "vol");
    e->state = afs_test_path(e->root, "state");
    for (int i = 0; i < 2; i++) {
        char buf[32];
        snprintf(buf, sizeof(buf), "share%d", i);
        e->share[i] = afs_test_path(e->root, buf);
        snprintf(buf, sizeof(buf), "data%d", i);
        e->data[i] = afs_test_path(e->vol, buf);
        afs_test_mkdirs(e->share[i]);
        afs_test_mkdirs(e->data[i]);
    }
    AFS_ASSERT_OK(afs_test_tierfs_new(&e->fs, e->vol, total, &e->tfs));
    e->top = e->fs;
    if (with_fault)
        AFS_ASSERT_OK(afs_test_fault_fs_new(&e->top, e->fs, &e->fault));
    so.fs = e->top;
    AFS_ASSERT_OK(afs_service_open(&e->svc, e->state, &so));
    AFS_ASSERT_OK(afs_server_register(e->svc, "ServerA"));
    return e;
}

static void env_endpoint(tenv *e, int i, const afs_endpoint_options *o)
{
    char name[16];
    snprintf(name, sizeof(name), "group%d", i);
    AFS_ASSERT_OK(afs_group_create(&e->g[i], e->svc, name, e->share[i]));
    AFS_ASSERT_OK(afs_endpoint_create(&e->ep[i], e->g[i], e->data[i], o));
}

static afs_endpoint_options tiering(uint32_t free_pct, uint32_t days)
{
    afs_endpoint_options o = AFS_ENDPOINT_OPTIONS_INIT;
    o.tiering_enabled = 1;
    o.tiering_free_space_percent = free_pct;
    o.tiering_date_days = days;
    return o;
}

static void env_sync(tenv *e, int i)
{
    afs_sync_result r = AFS_SYNC_RESULT_INIT;
    AFS_ASSERT_OK(afs_endpoint_sync(e->ep[i], NULL, &r));
    assert_int_equal(r.item_errors, 0);
}

static void env_free(tenv *e)
{
    for (int i = 0; i < 2; i++) {
        afs_endpoint_close(e->ep[i]);
        afs_group_close(e->g[i]);
    }
    afs_service_close(e->svc);
    if (e->top != e->fs)
        afs_fs_free(e->top);
    afs_fs_free(e->fs);
    if (!getenv("AFS_TEST_KEEP"))
        afs_test_rmtree(e->root);
    for (int i = 0; i < 2; i++) {
        free(e->share[i]);
        free(e->data[i]);
    }
    free(e->vol);
    free(e->state);
    free(e->root);
    free(e);
    afs_error_clear();
}

/* ---- files ---- */

static void fill(unsigned char *buf, size_t len, uint32_t seed, uint64_t off)
{
    for (size_t i = 0; i < len; i++) {
        uint64_t x = (off + i) * 0x9E3779B97F4A7C15ull + seed;
        x ^= x >> 29;
        buf[i] = (unsigned char)(x * 0xBF58476D1CE4E5B9ull >> 56);
    }
}

/* Write `size` bytes of pattern `seed`; age_days >= 0 sets the write time that far back. */
static void mkfile(const char *dir, const char *rel, size_t size, uint32_t seed, long age_days)
{
    char *p = afs_test_path(dir, rel);
    unsigned char *buf = malloc(size ? size : 1);
    assert_non_null(buf);
    fill(buf, size, seed, 0);
    afs_test_write_file(p, buf, size);
    if (age_days >= 0) {
        struct timespec ts[2];
        ts[0].tv_sec = ts[1].tv_sec = time(NULL) - age_days * DAY_S;
        ts[0].tv_nsec = ts[1].tv_nsec = 0;
        assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
    }
    free(buf);
    free(p);
}

static bool content_is(const char *dir, const char *rel, size_t size, uint32_t seed)
{
    size_t len = 0;
    char *p = afs_test_path(dir, rel);
    unsigned char *got = (unsigned char *)afs_test_read_file(p, &len);
    unsigned char *want = malloc(size ? size : 1);
    bool ok;
    assert_non_null(want);
    fill(want, size, seed, 0);
    ok = got && len == size && memcmp(got, want, size) == 0;
    free(got);
    free(want);
    free(p);
    return ok;
}

static void assert_content(const char *dir, const char *rel, size_t size, uint32_t seed)
{
    if (!content_is(dir, rel, size, seed))
        fail_msg("%s/%s does not hold its %zu bytes of pattern %u", dir, rel, size, seed);
}

static bool has_xattr_marker(const char *dir, const char *rel)
{
    char *p = afs_test_path(dir, rel);
    unsigned char buf[AFS_FS_MARKER_MAX];
    size_t len = 0;
    int rc;
    afs_fs *fs;
    const afs_fs_ops *ops;
    void *ctx;
    AFS_ASSERT_OK(afs_fs_posix_new(&fs));
    afs_fs_ops_get(fs, &ops, &ctx);
    rc = ops->marker_get(ctx, p, buf, sizeof(buf), &len);
    afs_fs_free(fs);
    free(p);
    afs_error_clear();
    return rc == 0;
}

static afs_tier_pass_options pass_opts(uint32_t flags)
{
    afs_tier_pass_options o = AFS_TIER_PASS_OPTIONS_INIT;
    o.flags = flags;
    return o;
}

static void run_pass(afs_endpoint *ep, afs_tier_result *r)
{
    afs_tier_pass_options o = pass_opts(AFS_TIER_PASS_SCAN);
    memset(r, 0, sizeof(*r));
    r->version = AFS_TIER_RESULT_VERSION;
    AFS_ASSERT_OK(afs_tier_pass(ep, &o, r));
    if (getenv("AFS_TEST_TIER_DEBUG"))
        fprintf(stderr, "pass: tiered %llu (evict %llu date %llu space %llu) freed %llu "
                "free %llu -> %llu target %llu pct %u skipped ns=%llu small=%llu ex=%llu "
                "pin=%llu chg=%llu err=%llu\n",
                (unsigned long long)r->files_tiered, (unsigned long long)r->files_tiered_evict,
                (unsigned long long)r->files_tiered_date, (unsigned long long)r->files_tiered_space,
                (unsigned long long)r->bytes_freed, (unsigned long long)r->free_bytes_before,
                (unsigned long long)r->free_bytes_after, (unsigned long long)r->target_free_bytes,
                r->free_space_percent, (unsigned long long)r->skipped_not_synced,
                (unsigned long long)r->skipped_small, (unsigned long long)r->skipped_excluded,
                (unsigned long long)r->skipped_pinned, (unsigned long long)r->skipped_changed,
                (unsigned long long)r->item_errors);
}

/* ---- the marker ---- */

static void test_tier__marker_round_trip_and_damage(void **state)
{
    afs__marker m, d;
    unsigned char buf[AFS_FS_MARKER_MAX];
    size_t len;
    (void)state;
    memset(&m, 0, sizeof(m));
    m.size = 10 * MiB;
    m.mtime_ns = 1234567890123456789LL;
    m.tiered_ns = 42;
    m.file_id = 77;
    snprintf(m.etag, sizeof(m.etag), "\"etag-1\"");
    m.path = strdup("docs/report.pdf");
    AFS_ASSERT_OK(afs__marker_add_range(&m, 3 * MiB, MiB));
    AFS_ASSERT_OK(afs__marker_add_range(&m, 0, MiB));
    AFS_ASSERT_OK(afs__marker_add_range(&m, MiB, MiB)); /* joins [0,1) and touches [3,4)? no */
    assert_int_equal(m.nranges, 2);
    assert_true(afs__marker_covers(&m, 0, 2 * MiB));
    assert_false(afs__marker_covers(&m, 0, 3 * MiB + 1));
    AFS_ASSERT_OK(afs__marker_add_range(&m, 2 * MiB, MiB));
    assert_int_equal(m.nranges, 1);
    assert_int_equal(afs__marker_present(&m), 4 * MiB);
    AFS_ASSERT_OK(afs__marker_encode(&m, buf, sizeof(buf), &len));
    assert_true(len <= AFS_FS_MARKER_MAX);
    assert_memory_equal(buf, "AFSM", 4);
    AFS_ASSERT_OK(afs__marker_decode(buf, len, "test", &d));
    assert_int_equal(d.size, m.size);
    assert_int_equal(d.mtime_ns, m.mtime_ns);
    assert_string_equal(d.etag, m.etag);
    assert_string_equal(d.path, m.path);
    assert_int_equal(d.nranges, 1);
    assert_int_equal(d.ranges[0].len, 4 * MiB);
    afs__marker_clear(&d);
    /* One flipped bit anywhere: refused, never misread. */
    for (size_t i = 0; i < len; i += 7) {
        buf[i] ^= 0x10;
        AFS_ASSERT_CODE(afs__marker_decode(buf, len, "test", &d), AFS_ECORRUPT);
        buf[i] ^= 0x10;
    }
    AFS_ASSERT_CODE(afs__marker_decode(buf, len - 1, "test", &d), AFS_ECORRUPT);
    /* A cloud path that cannot fit: a clear limit, not a truncated marker. */
    free(m.path);
    m.path = malloc(4000);
    memset(m.path, 'a', 3999);
    m.path[3999] = '\0';
    AFS_ASSERT_CODE(afs__marker_encode(&m, buf, sizeof(buf), &len), AFS_ELIMIT);
    afs__marker_clear(&m);
}

static void test_tier__options_init_and_bad_arguments(void **state)
{
    afs_tier_pass_options po;
    afs_recall_options ro;
    afs_heat_list_options ho;
    afs_tier_info info;
    char msg[128];
    (void)state;
    AFS_ASSERT_OK(afs_tier_pass_options_init(&po, AFS_TIER_PASS_OPTIONS_VERSION));
    assert_int_equal(po.now_ns, AFS_TIME_OMIT);
    AFS_ASSERT_OK(afs_recall_options_init(&ro, AFS_RECALL_OPTIONS_VERSION));
    assert_int_equal(ro.threads, 1);
    assert_int_equal(ro.retry_count, 3);
    AFS_ASSERT_OK(afs_heat_list_options_init(&ho, AFS_HEAT_LIST_OPTIONS_VERSION));
    assert_int_equal(ho.order, AFS_HEAT_SPACE_POLICY);
    AFS_ASSERT_CODE(afs_tier_pass_options_init(&po, 99), AFS_EVERSION);
    AFS_ASSERT_CODE(afs_recall_options_init(NULL, 1), AFS_EINVAL);
    AFS_ASSERT_CODE(afs_tier_pass_options_init(NULL, 1), AFS_EINVAL);
    assert_string_equal(afs_error_last(), "afs_tier_pass_options_init: opts is NULL");
    AFS_ASSERT_CODE(afs_heat_list_options_init(NULL, 1), AFS_EINVAL);
    AFS_ASSERT_CODE(afs_recall_options_init(&ro, 0), AFS_EVERSION);
    snprintf(msg, sizeof(msg), "afs_recall_options_init: afs_recall_options version 0 is not "
             "supported (this libafs knows versions 1 to %u)", AFS_RECALL_OPTIONS_VERSION);
    assert_string_equal(afs_error_last(), msg);
    /* A refused call leaves the caller's struct as it was. */
    ho.order = AFS_HEAT_SPACE_POLICY + 1;
    AFS_ASSERT_CODE(afs_heat_list_options_init(&ho, AFS_HEAT_LIST_OPTIONS_VERSION + 1),
                    AFS_EVERSION);
    snprintf(msg, sizeof(msg), "afs_heat_list_options_init: afs_heat_list_options version %u "
             "is not supported (this libafs knows versions 1 to %u)",
             AFS_HEAT_LIST_OPTIONS_VERSION + 1, AFS_HEAT_LIST_OPTIONS_VERSION);
    assert_string_equal(afs_error_last(), msg);
    assert_int_equal(ho.order, AFS_HEAT_SPACE_POLICY + 1);
    memset(&info, 0, sizeof(info));
    info.version = AFS_TIER_INFO_VERSION;
    AFS_ASSERT_CODE(afs_tier_query(NULL, "x", &info), AFS_EINVAL);
    AFS_ASSERT_CODE(afs_tier_pass(NULL, NULL, NULL), AFS_EINVAL);
    AFS_ASSERT_CODE(afs_tier_recall(NULL, "x", NULL, NULL), AFS_EINVAL);
    afs_tier_info_clear(NULL);
    afs_heat_entries_free(NULL, 0);
}

static void test_tier__system_volume_refuses_tiering(void **state)
{
    /* The sandbox is on the root volume: the POSIX filesystem calls it the system volume. */
    char *root = afs_test_sandbox("tier-sysvol");
    char *st = afs_test_path(root, "state"), *share = afs_test_path(root, "share");
    char *data = afs_test_path(root, "data");
    afs_endpoint_options o = tiering(20, 0);
    afs_service *svc;
    afs_group *g;
    afs_endpoint *ep = NULL;
    (void)state;
    afs_test_mkdirs(share);
    afs_test_mkdirs(data);
    AFS_ASSERT_OK(afs_service_open(&svc, st, NULL));
    AFS_ASSERT_OK(afs_server_register(svc, "ServerA"));
    AFS_ASSERT_OK(afs_group_create(&g, svc, "g", share));
    AFS_ASSERT_CODE(afs_endpoint_create(&ep, g, data, &o), AFS_ESYSTEM_VOLUME);
    afs_group_close(g);
    afs_service_close(svc);
    afs_test_rmtree(root);
    free(st);
    free(share);
    free(data);
    free(root);
}

/* ---- placeholders ---- */

static void test_tier__tiered_file_keeps_size_and_times_and_frees_blocks(void **state)
{
    tenv *e = env_new("tier-basic", 0, false);
    afs_endpoint_options o = tiering(20, 0);
    afs_tier_info info;
    afs_tier_result r = AFS_TIER_RESULT_INIT;
    unsigned char buf[300];
    unsigned char want[300];
    size_t n = 0;
    int64_t mt;
    (void)state;
    env_endpoint(e, 0, &o);
    mkfile(e->data[0], "docs/big.bin", 256 * KiB, 1, 10);
    env_sync(e, 0);
    mt = afs_test_mtime_ns(e->data[0], "docs/big.bin");

    AFS_ASSERT_OK(afs_tier_file(e->ep[0], "docs/big.bin", &r));
    assert_int_equal(r.files_tiered, 1);
    assert_true(r.bytes_freed >= 256 * KiB - MARKER_SLACK);
    memset(&info, 0, sizeof(info));
    info.version = AFS_TIER_INFO_VERSION;
    AFS_ASSERT_OK(afs_tier_query(e->ep[0], "docs/big.bin", &info));
    assert_int_equal(info.state, AFS_TIER_STATE_TIERED);
    assert_int_equal(info.size, 256 * KiB);
    assert_true(info.size_on_disk <= MARKER_SLACK);
    assert_int_equal(info.mtime_ns, mt);
    assert_int_equal(info.marker_version, 2);
    assert_string_equal(info.cloud_path, "docs/big.bin");
    assert_non_null(info.etag);
    assert_true(info.etag[0] != '\0');
    assert_int_equal(info.range_count, 0);
    assert_true(info.marker_len > 48 && info.marker_len <= AFS_FS_MARKER_MAX);
    afs_tier_info_clear(&info);
    assert_true(has_xattr_marker(e->data[0], "docs/big.bin"));

    /* Absolute paths work too, and reading through recalls what is read. */
    {
        char *abs = afs_test_path(e->data[0], "docs/big.bin");
        AFS_ASSERT_OK(afs_tier_read(e->ep[0], abs, 100 * KiB, buf, sizeof(buf), &n));
        free(abs);
    }
    assert_int_equal(n, sizeof(buf));
    fill(want, sizeof(want), 1, 100 * KiB);
    assert_memory_equal(buf, want, sizeof(want));
    /* 256 KiB is less than one recall chunk: the whole file came back. */
    assert_int_equal(afs_test_tier_state(e->ep[0], "docs/big.bin"), AFS_TIER_STATE_FULL);
    assert_false(has_xattr_marker(e->data[0], "docs/big.bin"));
    assert_content(e->data[0], "docs/big.bin", 256 * KiB, 1);
    assert_int_equal(afs_test_mtime_ns(e->data[0], "docs/big.bin"), mt);
    env_free(e);
}

static void test_tier__sync_after_tiering_and_recall_moves_nothing(void **state)
{
    tenv *e = env_new("tier-sync", 0, false);
    afs_endpoint_options o = tiering(20, 0);
    afs_sync_result sr = AFS_SYNC_RESULT_INIT;
    (void)state;
    env_endpoint(e, 0, &o);
    mkfile(e->data[0], "a.bin", 512 * KiB, 2, 3);
    env_sync(e, 0);
    AFS_ASSERT_OK(afs_tier_file(e->ep[0], "a.bin", NULL));
    AFS_ASSERT_OK(afs_endpoint_sync(e->ep[0], NULL, &sr));
    assert_int_equal(sr.files_uploaded, 0);
    assert_int_equal(sr.files_downloaded, 0);
    assert_int_equal(sr.item_errors, 0);
    assert_content(e->share[0], "a.bin", 512 * KiB, 2);
    AFS_ASSERT_OK(afs_tier_recall(e->ep[0], "a.bin", NULL, NULL));
    AFS_ASSERT_OK(afs_endpoint_sync(e->ep[0], NULL, &sr));
    assert_int_equal(sr.files_uploaded, 0);
    assert_content(e->data[0], "a.bin", 512 * KiB, 2);
    env_free(e);
}

static void test_tier__never_tiers_content_not_confirmed_in_the_cloud(void **state)
{
    tenv *e = env_new("tier-unsynced", 0, false);
    afs_endpoint_options o = tiering(20, 0);
    afs_tier_result r = AFS_TIER_RESULT_INIT;
    (void)state;
    env_endpoint(e, 0, &o);
    mkfile(e->data[0], "synced.bin", 128 * KiB, 3, 1);
    env_sync(e, 0);
    mkfile(e->data[0], "new.bin", 128 * KiB, 4, 1);     /* never uploaded */
    mkfile(e->data[0], "synced.bin", 128 * KiB, 5, 0);  /* changed since upload */
    AFS_ASSERT_CODE(afs_tier_file(e->ep[0], "new.bin", NULL), AFS_ECONDITION);
    AFS_ASSERT_CODE(afs_tier_file(e->ep[0], "synced.bin", NULL), AFS_ECONDITION);
    AFS_ASSERT_OK(afs_tier_file(e->ep[0], "", &r));
    assert_int_equal(r.files_tiered, 0);
    assert_int_equal(r.skipped_not_synced, 2);
    assert_content(e->data[0], "new.bin", 128 * KiB, 4);
    assert_content(e->data[0], "synced.bin", 128 * KiB, 5);
    assert_int_equal(afs_test_tier_state(e->ep[0], "new.bin"), AFS_TIER_STATE_FULL);
    /* Once synced, it may go. */
    env_sync(e, 0);
    AFS_ASSERT_OK(afs_tier_file(e->ep[0], "synced.bin", NULL));
    assert_int_equal(afs_test_tier_state(e->ep[0], "synced.bin"), AFS_TIER_STATE_TIERED);
    env_free(e);
}

static void test_tier__files_under_the_minimum_size_are_never_tiered(void **state)
{
    tenv *e = env_new("tier-small", MiB, false);
    afs_endpoint_options o = tiering(99, 0);
    afs_tier_result r;
    (void)state;
    env_endpoint(e, 0, &o);
    mkfile(e->data[0], "small-60k.bin", 60 * KiB, 6, 400);
    mkfile(e->data[0], "exact-64k.bin", 64 * KiB, 7, 400);
    env_sync(e, 0);
    AFS_ASSERT_CODE(afs_tier_file(e->ep[0], "small-60k.bin", NULL), AFS_EPERM);
    /* Even when the volume wants every byte it can get. */
    run_pass(e->ep[0], &r);
    assert_int_equal(afs_test_tier_state(e->ep[0], "small-60k.bin"), AFS_TIER_STATE_FULL);
    assert_int_equal(afs_test_tier_state(e->ep[0], "exact-64k.bin"), AFS_TIER_STATE_TIERED);
    assert_true(r.skipped_small >= 1);
    /* The minimum can go down to 8 KiB, not below. */
    o.tiering_min_file_size = 8 * KiB;
    AFS_ASSERT_OK(afs_endpoint_set_options(e->ep[0], &o));
    AFS_ASSERT_OK(afs_tier_file(e->ep[0], "small-60k.bin", NULL));
    assert_int_equal(afs_test_tier_state(e->ep[0], "small-60k.bin"), AFS_TIER_STATE_TIERED);
    o.tiering_min_file_size = 4 * KiB;
    AFS_ASSERT_CODE(afs_endpoint_set_options(e->ep[0], &o), AFS_EINVAL);
    env_free(e);
}

static void test_tier__pinned_and_excluded_files_stay_local(void **state)
{
    tenv *e = env_new("tier-pin", 40 * MiB, false);
    afs_endpoint_options o = tiering(99, 0);
    const char *pats[] = { "*.db", "keep/*" };
    afs_strarray a;
    afs_tier_result r;
    (void)state;
    env_endpoint(e, 0, &o);
    mkfile(e->data[0], "pinned/deep/a.bin", 128 * KiB, 8, 100);
    mkfile(e->data[0], "pinned-file.bin", 128 * KiB, 9, 100);
    mkfile(e->data[0], "app.db", 128 * KiB, 10, 100);
    mkfile(e->data[0], "keep/b.bin", 128 * KiB, 11, 100);
    mkfile(e->data[0], "other.bin", 128 * KiB, 12, 100);
    env_sync(e, 0);
    AFS_ASSERT_OK(afs_tier_pin(e->ep[0], "pinned", 1));
    AFS_ASSERT_OK(afs_tier_pin(e->ep[0], "pinned-file.bin", 1));
    AFS_ASSERT_OK(afs_tier_exclude_set(e->ep[0], pats, 2));
    AFS_ASSERT_OK(afs_tier_pins(e->ep[0], &a));
    assert_int_equal(a.count, 2);
    assert_string_equal(a.strings[0], "pinned");
    afs_strarray_free(&a);
    AFS_ASSERT_OK(afs_tier_exclude_get(e->ep[0], &a));
    assert_int_equal(a.count, 2);
    afs_strarray_free(&a);
    AFS_ASSERT_CODE(afs_tier_file(e->ep[0], "pinned-file.bin", NULL), AFS_EPERM);
    run_pass(e->ep[0], &r);
    assert_int_equal(afs_test_tier_state(e->ep[0], "pinned/deep/a.bin"), AFS_TIER_STATE_FULL);
    assert_int_equal(afs_test_tier_state(e->ep[0], "pinned-file.bin"), AFS_TIER_STATE_FULL);
    assert_int_equal(afs_test_tier_state(e->ep[0], "app.db"), AFS_TIER_STATE_FULL);
    assert_int_equal(afs_test_tier_state(e->ep[0], "keep/b.bin"), AFS_TIER_STATE_FULL);
    assert_int_equal(afs_test_tier_state(e->ep[0], "other.bin"), AFS_TIER_STATE_TIERED);
    assert_int_equal(r.files_tiered, 1);
    /* Unpinned, it may go. */
    AFS_ASSERT_OK(afs_tier_pin(e->ep[0], "pinned-file.bin", 0));
    AFS_ASSERT_OK(afs_tier_file(e->ep[0], "pinned-file.bin", NULL));
    env_free(e);
}

static tenv *changing_env;

static void touch_on_marker(const char *path, void *payload)
{
    (void)payload;
    /* A user changes the file while it is being tiered. (Not by writing: an
     * open waits for the tiering's write lease, which this very thread holds,
     * test_tier_writes.c covers that. A new write time by path does not.) */
    assert_int_equal(utimensat(AT_FDCWD, path, NULL, 0), 0);
    afs_test_tierfs_on_marker_set(changing_env->tfs, NULL, NULL);
}

static void test_tier__a_file_that_changes_during_tiering_is_left_alone(void **state)
{
    tenv *e = env_new("tier-change", 0, false);
    afs_endpoint_options o = tiering(20, 0);
    afs_tier_info info;
    size_t len = 0;
    char *p, *data;
    (void)state;
    env_endpoint(e, 0, &o);
    mkfile(e->data[0], "busy.bin", 128 * KiB, 13, 1);
    env_sync(e, 0);
    changing_env = e;
    afs_test_tierfs_on_marker_set(e->tfs, touch_on_marker, NULL);
    AFS_ASSERT_CODE(afs_tier_file(e->ep[0], "busy.bin", NULL), AFS_ECONDITION);
    memset(&info, 0, sizeof(info));
    info.version = AFS_TIER_INFO_VERSION;
    AFS_ASSERT_OK(afs_tier_query(e->ep[0], "busy.bin", &info));
    assert_int_equal(info.state, AFS_TIER_STATE_FULL);
    assert_int_equal(info.marker_len, 0); /* the marker was taken back */
    afs_tier_info_clear(&info);
    p = afs_test_path(e->data[0], "busy.bin");
    data = afs_test_read_file(p, &len);
    assert_int_equal(len, 128 * KiB);
    free(data);
    free(p);
    assert_content(e->data[0], "busy.bin", 128 * KiB, 13);
    env_free(e);
}

/* ---- crash safety ---- */

static void crash_tiering_at(const char *op)
{
    tenv *e = env_new("tier-crash", 0, true);
    afs_endpoint_options o = tiering(20, 0);
    afs__tier_probe probe;
    afs_fs_stat st;
    char *abs;
    pid_t pid;
    int status = 0;
    env_endpoint(e, 0, &o);
    mkfile(e->data[0], "precious.bin", 3 * MiB, 14, 5);
    env_sync(e, 0);
    afs_test_fault_set(e->fault, op, 1, AFS_FAULT_CRASH_AFTER, 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        afs_tier_file(e->ep[0], "precious.bin", NULL);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), AFS_TEST_CRASH_EXIT);
    afs_test_fault_clear(e->fault);
    /* Whatever the crash left, the file is a placeholder (the marker names the
     * cloud version) and nothing is lost: a recall brings back every byte. */
    abs = afs_test_path(e->data[0], "precious.bin");
    memset(&st, 0, sizeof(st));
    AFS_ASSERT_OK(e->top->ops.stat(e->top->ctx, abs, &st));
    AFS_ASSERT_OK(afs__tier_probe_path(e->top, abs, &st, &probe));
    assert_true(probe.has_marker);
    assert_int_equal(probe.state, AFS_TIER_STATE_TIERED);
    assert_int_equal(probe.size, 3 * MiB);
    if (strcmp(op, "marker_set") == 0)
        assert_content(e->data[0], "precious.bin", 3 * MiB, 14); /* still full on disk */
    else
        assert_true(probe.needs_repair); /* punched; write time not yet restored */
    AFS_ASSERT_OK(afs_tier_recall(e->ep[0], "precious.bin", NULL, NULL));
    assert_int_equal(afs_test_tier_state(e->ep[0], "precious.bin"), AFS_TIER_STATE_FULL);
    assert_false(has_xattr_marker(e->data[0], "precious.bin"));
    assert_content(e->data[0], "precious.bin", 3 * MiB, 14);
    free(abs);
    env_free(e);
}

static void test_tier__crash_after_the_marker_loses_nothing(void **state)
{
    (void)state;
    crash_tiering_at("marker_set");
}

static void test_tier__crash_after_the_punch_loses_nothing(void **state)
{
    (void)state;
    crash_tiering_at("punch_hole");
}

/* ---- recall ---- */

static void test_tier__partial_recall_fetches_only_the_range(void **state)
{
    tenv *e = env_new("tier-range", 0, false);
    afs_endpoint_options o = tiering(20, 0);
    afs_tier_info info;
    afs_tier_stats s;
    (void)state;
    env_endpoint(e, 0, &o);
    mkfile(e->data[0], "video.bin", 5 * MiB + 1000, 15, 2);
    env_sync(e, 0);
    AFS_ASSERT_OK(afs_tier_file(e->ep[0], "video.bin", NULL));
    AFS_ASSERT_OK(afs_tier_recall_range(e->ep[0], "video.bin", MiB + MiB / 2, 10, 0));
    memset(&info, 0, sizeof(info));
    info.version = AFS_TIER_INFO_VERSION;
    AFS_ASSERT_OK(afs_tier_query(e->ep[0], "video.bin", &info));
    assert_int_equal(info.state, AFS_TIER_STATE_PARTIAL);
    assert_int_equal(info.range_count, 1);
    assert_int_equal(info.ranges[0], MiB);
    assert_int_equal(info.ranges[1], MiB);
    assert_int_equal(info.recalled_bytes, MiB);
    assert_true(info.size_on_disk >= MiB && info.size_on_disk < 2 * MiB);
    assert_int_equal(info.size, 5 * MiB + 1000);
    afs_tier_info_clear(&info);
    /* The tail, past the last full chunk. */
    AFS_ASSERT_OK(afs_tier_recall_range(e->ep[0], "video.bin", 5 * MiB + 999, 100, 0));
    AFS_ASSERT_OK(afs_tier_query(e->ep[0], "video.bin", &info));
    assert_int_equal(info.range_count, 2);
    assert_int_equal(info.ranges[2], 5 * MiB);
    assert_int_equal(info.ranges[3], 1000);
    afs_tier_info_clear(&info);
    /* A partial file is tiered again as a whole. */
    AFS_ASSERT_OK(afs_tier_file(e->ep[0], "video.bin", NULL));
    assert_int_equal(afs_test_tier_state(e->ep[0], "video.bin"), AFS_TIER_STATE_TIERED);
    /* Everything, range by range: a normal file again. */
    for (uint64_t off = 0; off < 5 * MiB + 1000; off += MiB)
        AFS_ASSERT_OK(afs_tier_recall_range(e->ep[0], "video.bin", off, MiB, 0));
    assert_int_equal(afs_test_tier_state(e->ep[0], "video.bin"), AFS_TIER_STATE_FULL);
    assert_false(has_xattr_marker(e->data[0], "video.bin"));
    assert_content(e->data[0], "video.bin", 5 * MiB + 1000, 15);
    memset(&s, 0, sizeof(s));
    s.version = AFS_TIER_STATS_VERSION;
    AFS_ASSERT_OK(afs_tier_stats_get(e->ep[0], &s));
    /* [1, 2) MiB, the 1000-byte tail, then the whole file after it was tiered again. */
    assert_int_equal(s.recall_bytes, MiB + 1000 + 5 * MiB + 1000);
    assert_int_equal(s.recall_failures, 0);
    assert_int_equal(s.files_tiered_total, 2);
    env_free(e);
}

static void test_tier__recall_refuses_a_changed_cloud_copy(void **state)
{
    tenv *e = env_new("tier-etag", 0, false);
    afs_endpoint_options o = tiering(20, 0);
    afs_tier_stats s;
    (void)state;
    env_endpoint(e, 0, &o);
    mkfile(e->data[0], "doc.bin", 2 * MiB, 16, 2);
    env_sync(e, 0);
    AFS_ASSERT_OK(afs_tier_file(e->ep[0], "doc.bin", NULL));
    /* Someone changes the file in the share behind the sync's back. */
    mkfile(e->share[0], "doc.bin", 2 * MiB, 17, 0);
    AFS_ASSERT_CODE(afs_tier_recall(e->ep[0], "doc.bin", NULL, NULL), AFS_ECONDITION);
    assert_non_null(strstr(afs_error_last(), "etag"));
    /* Nothing mismatched was written: still a placeholder of the old version. */
    assert_int_equal(afs_test_tier_state(e->ep[0], "doc.bin"), AFS_TIER_STATE_TIERED);
    memset(&s, 0, sizeof(s));
    s.version = AFS_TIER_STATS_VERSION;
    AFS_ASSERT_OK(afs_tier_stats_get(e->ep[0], &s));
    assert_int_equal(s.recall_failures, 1);
    assert_true(s.recall_success_percent < 100);
    env_free(e);
}

static void test_tier__recall_stops_cleanly_when_space_runs_out(void **state)
{
    tenv *e = env_new("tier-nospc", 0, false);
    afs_endpoint_options o = tiering(20, 0);
    afs_recall_options ro = AFS_RECALL_OPTIONS_INIT;
    afs_recall_result rr = AFS_RECALL_RESULT_INIT;
    char name[32];
    int full = 0, tiered = 0;
    (void)state;
    env_endpoint(e, 0, &o);
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof(name), "tree/f%d.bin", i);
        mkfile(e->data[0], name, MiB, 20 + (uint32_t)i, 1);
    }
    env_sync(e, 0);
    AFS_ASSERT_OK(afs_tier_file(e->ep[0], "tree", NULL));
    /* Room for two and a half files. */
    afs_test_tierfs_set_total(e->tfs, afs_test_tierfs_used(e->tfs) + 2 * MiB + MiB / 2);
    ro.order = AFS_RECALL_ORDER_PATH;
    ro.retry_delay_ms = 1;
    AFS_ASSERT_CODE(afs_tier_recall(e->ep[0], "tree", &ro, &rr), AFS_ENOSPC);
    assert_int_equal(rr.files_recalled, 2);
    assert_int_equal(rr.first_error, AFS_ENOSPC);
    assert_int_equal(rr.retries, 0);
    for (int i = 0; i < 6; i++) {
        uint32_t st;
        snprintf(name, sizeof(name), "tree/f%d.bin", i);
        st = afs_test_tier_state(e->ep[0], name);
        if (st == AFS_TIER_STATE_FULL) {
            assert_content(e->data[0], name, MiB, 20 + (uint32_t)i);
            full++;
        } else {
            assert_int_equal(st, AFS_TIER_STATE_TIERED);
            tiered++;
        }
    }
    assert_int_equal(full, 2);
    assert_int_equal(tiered, 4);
    /* With room again, the rest comes back. */
    afs_test_tierfs_set_total(e->tfs, 0);
    AFS_ASSERT_OK(afs_tier_recall(e->ep[0], "tree", &ro, &rr));
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof(name), "tree/f%d.bin", i);
        assert_content(e->data[0], name, MiB, 20 + (uint32_t)i);
    }
    env_free(e);
}

/* What the progress callback of a recall saw, and when it stops it. */
typedef struct recall_watch {
    afs_recall_progress first, last;
    int calls;
    uint64_t stop_after_bytes; /* 0: never */
    int stop_value;
} recall_watch;

static int watch_recall(const afs_recall_progress *p, void *payload)
{
    recall_watch *w = payload;
    if (w->calls++ == 0)
        w->first = *p;
    assert_true(p->files_done >= w->last.files_done && p->bytes_done >= w->last.bytes_done);
    w->last = *p;
    return w->stop_after_bytes && p->bytes_done >= w->stop_after_bytes ? w->stop_value : 0;
}

static void test_tier__recall_progress_counts_and_a_stop_keeps_valid_files(void **state)
{
    tenv *e = env_new("tier-progress", 0, false);
    afs_endpoint_options o = tiering(20, 0);
    afs_recall_options ro = AFS_RECALL_OPTIONS_INIT;
    afs_recall_result rr = AFS_RECALL_RESULT_INIT;
    afs_tier_stats s;
    recall_watch w;
    char name[32];
    int full = 0;
    (void)state;
    env_endpoint(e, 0, &o);
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof(name), "tree/f%d.bin", i);
        mkfile(e->data[0], name, MiB, 40 + (uint32_t)i, 1);
    }
    env_sync(e, 0);
    AFS_ASSERT_OK(afs_tier_file(e->ep[0], "tree", NULL));

    /* Stopped once two files' bytes are in: the callback's value comes back unchanged. */
    memset(&w, 0, sizeof(w));
    w.stop_after_bytes = 2 * MiB;
    w.stop_value = 42;
    ro.order = AFS_RECALL_ORDER_PATH;
    ro.progress = watch_recall;
    ro.progress_payload = &w;
    AFS_ASSERT_CODE(afs_tier_recall(e->ep[0], "tree", &ro, &rr), 42);
    assert_int_equal(w.first.files_total, 6);
    assert_int_equal(w.first.bytes_total, 6 * MiB);
    assert_int_equal(w.first.files_done, 0);
    assert_int_equal(w.first.bytes_done, 0);
    assert_int_equal(rr.files_recalled, 2);
    assert_int_equal(rr.files_failed, 0);
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof(name), "tree/f%d.bin", i);
        if (afs_test_tier_state(e->ep[0], name) == AFS_TIER_STATE_FULL) {
            assert_content(e->data[0], name, MiB, 40 + (uint32_t)i);
            full++;
        } else {
            assert_int_equal(afs_test_tier_state(e->ep[0], name), AFS_TIER_STATE_TIERED);
        }
    }
    assert_int_equal(full, 2);
    memset(&s, 0, sizeof(s));
    s.version = AFS_TIER_STATS_VERSION;
    AFS_ASSERT_OK(afs_tier_stats_get(e->ep[0], &s));
    assert_int_equal(s.recall_failures, 0); /* a stop is not a failure */

    /* To the end, with threads: the last call has everything done. */
    memset(&w, 0, sizeof(w));
    ro.threads = 4;
    AFS_ASSERT_OK(afs_tier_recall(e->ep[0], "tree", &ro, &rr));
    assert_int_equal(w.first.files_total, 4);
    assert_int_equal(w.first.bytes_total, 4 * MiB);
    assert_int_equal(w.last.files_done, 4);
    assert_int_equal(w.last.bytes_done, 4 * MiB);
    assert_true(w.calls >= 9); /* the totals, then a piece and a file each */
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof(name), "tree/f%d.bin", i);
        assert_content(e->data[0], name, MiB, 40 + (uint32_t)i);
    }

    /* Version 1 options (no callback fields) are still read correctly. */
    AFS_ASSERT_OK(afs_tier_file(e->ep[0], "tree/f0.bin", NULL));
    {
        struct { unsigned int version; uint32_t threads, order, retry_count, retry_delay_ms,
                 flags; } v1 = { 1, 2, AFS_RECALL_ORDER_PATH, 0, 1, 0 };
        AFS_ASSERT_OK(afs_tier_recall(e->ep[0], "tree", (const afs_recall_options *)(void *)&v1,
                                      NULL));
    }
    assert_content(e->data[0], "tree/f0.bin", MiB, 40);
    env_free(e);
}

static void test_tier__recall_failing_mid_file_leaves_a_valid_placeholder(void **state)
{
    tenv *e = env_new("tier-midfail", 0, true);
    afs_endpoint_options o = tiering(20, 0);
    afs_recall_options ro = AFS_RECALL_OPTIONS_INIT;
    afs_tier_info info;
    (void)state;
    env_endpoint(e, 0, &o);
    mkfile(e->data[0], "big.bin", 10 * MiB, 30, 1);
    env_sync(e, 0);
    AFS_ASSERT_OK(afs_tier_file(e->ep[0], "big.bin", NULL));
    /* The disk fills up at the second write (each write is one piece of several MiB). */
    afs_test_fault_reset_counts(e->fault);
    afs_test_fault_set(e->fault, "write", 2, AFS_FAULT_PERSISTENT, AFS_ENOSPC);
    ro.retry_count = 2;
    ro.retry_delay_ms = 1;
    AFS_ASSERT_CODE(afs_tier_recall(e->ep[0], "big.bin", &ro, NULL), AFS_ENOSPC);
    memset(&info, 0, sizeof(info));
    info.version = AFS_TIER_INFO_VERSION;
    AFS_ASSERT_OK(afs_tier_query(e->ep[0], "big.bin", &info));
    assert_int_equal(info.state, AFS_TIER_STATE_PARTIAL);
    /* What was written and made durable before the failure is recorded, no more. */
    assert_true(info.recalled_bytes > 0 && info.recalled_bytes < 10 * MiB);
    assert_int_equal(info.recalled_bytes % AFS_TIER_CHUNK, 0);
    assert_int_equal(info.range_count, 1);
    assert_int_equal(info.ranges[0], 0);
    assert_int_equal(info.size, 10 * MiB);
    afs_tier_info_clear(&info);
    afs_test_fault_clear(e->fault);
    AFS_ASSERT_OK(afs_tier_recall(e->ep[0], "big.bin", &ro, NULL));
    assert_content(e->data[0], "big.bin", 10 * MiB, 30);
    env_free(e);
}

/* Recall through a storage that fails now and then: a registered scheme wraps
 * the local backend in the fault wrapper. */
static afs_test_fault *flaky_ctl;
static afs_storage *flaky_inner;

static int open_flaky(afs_storage **out, const char *uri, void *payload)
{
    afs_storage *wrapped;
    int rc;
    (void)payload;
    if ((rc = afs_storage_local_new(&flaky_inner, uri + strlen("flaky://"), NULL)) != 0)
        return rc;
    if ((rc = afs_test_fault_storage_new(&wrapped, flaky_inner, &flaky_ctl)) != 0)
        return rc;
    *out = wrapped;
    return 0;
}

static void test_tier__recall_retries_transient_failures(void **state)
{
    tenv *e = env_new("tier-retry", 0, false);
    afs_endpoint_options o = tiering(20, 0);
    afs_recall_options ro = AFS_RECALL_OPTIONS_INIT;
    afs_recall_result rr = AFS_RECALL_RESULT_INIT;
    char *uri = malloc(strlen(e->share[1]) + 16);
    (void)state;
    sprintf(uri, "flaky://%s", e->share[1]);
    AFS_ASSERT_OK(afs_storage_scheme_register("flaky", open_flaky, NULL));
    AFS_ASSERT_OK(afs_group_create(&e->g[1], e->svc, "flaky", uri));
    AFS_ASSERT_OK(afs_endpoint_create(&e->ep[1], e->g[1], e->data[1], &o));
    mkfile(e->data[1], "x.bin", 2 * MiB, 31, 1);
    env_sync(e, 1);
    AFS_ASSERT_OK(afs_tier_file(e->ep[1], "x.bin", NULL));
    afs_test_fault_set(flaky_ctl, "read", 1, AFS_FAULT_ONCE, AFS_ETRANSIENT);
    ro.retry_count = 2;
    ro.retry_delay_ms = 5;
    AFS_ASSERT_OK(afs_tier_recall(e->ep[1], "x.bin", &ro, &rr));
    assert_int_equal(rr.retries, 1);
    assert_int_equal(rr.files_recalled, 1);
    assert_content(e->data[1], "x.bin", 2 * MiB, 31);
    /* Without retries, the failure is reported. */
    AFS_ASSERT_OK(afs_tier_file(e->ep[1], "x.bin", NULL));
    afs_test_fault_set(flaky_ctl, "read", 1, AFS_FAULT_PERSISTENT, AFS_ETRANSIENT);
    afs_test_fault_reset_counts(flaky_ctl);
    ro.retry_count = 0;
    AFS_ASSERT_CODE(afs_tier_recall(e->ep[1], "x.bin", &ro, &rr), AFS_ETRANSIENT);
    assert_int_equal(rr.files_failed, 1);
    assert_int_equal(afs_test_tier_state(e->ep[1], "x.bin"), AFS_TIER_STATE_TIERED);
    afs_test_fault_clear(flaky_ctl);
    AFS_ASSERT_OK(afs_storage_scheme_register("flaky", NULL, NULL));
    free(uri);
    env_free(e);
}

struct racer {
    afs_endpoint *ep;
    int rc;
    int range;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    r->rc = r->range ? afs_tier_recall_range(r->ep, "shared.bin", 7 * MiB, 3 * MiB, 0)
                     : afs_tier_recall(r->ep, "shared.bin", NULL, NULL);
    return NULL;
}

static void test_tier__concurrent_recalls_of_one_file_do_not_corrupt_it(void **state)
{
    tenv *e = env_new("tier-race", 0, false);
    afs_endpoint_options o = tiering(20, 0);
    struct racer rs[6];
    pthread_t t[6];
    afs_recall_result rr = AFS_RECALL_RESULT_INIT;
    (void)state;
    env_endpoint(e, 0, &o);
    mkfile(e->data[0], "shared.bin", 24 * MiB, 32, 1);
    env_sync(e, 0);
    for (int round = 0; round < 2; round++) {
        AFS_ASSERT_OK(afs_tier_file(e->ep[0], "shared.bin", NULL));
        for (int i = 0; i < 6; i++) {
            rs[i].rc = -1;
            rs[i].range = i % 2;
            AFS_ASSERT_OK(afs_endpoint_open(&rs[i].ep, e->g[0]));
        }
        for (int i = 0; i < 6; i++)
            assert_int_equal(pthread_create(&t[i], NULL, race, &rs[i]), 0);
        for (int i = 0; i < 6; i++) {
            pthread_join(t[i], NULL);
            assert_int_equal(rs[i].rc, 0);
            afs_endpoint_close(rs[i].ep);
        }
        assert_int_equal(afs_test_tier_state(e->ep[0], "shared.bin"), AFS_TIER_STATE_FULL);
        assert_content(e->data[0], "shared.bin", 24 * MiB, 32);
    }
    /* Already full: nothing to fetch. */
    AFS_ASSERT_OK(afs_tier_recall(e->ep[0], "shared.bin", NULL, &rr));
    assert_int_equal(rr.files_already_local, 1);
    assert_int_equal(rr.bytes_recalled, 0);
    env_free(e);
}

static void test_tier__tree_recall_with_threads_brings_everything_back(void **state)
{
    tenv *e = env_new("tier-tree", 0, false);
    afs_endpoint_options o = tiering(20, 0);
    afs_recall_options ro = AFS_RECALL_OPTIONS_INIT;
    afs_recall_result rr = AFS_RECALL_RESULT_INIT;
    afs_heat_list_options lo = AFS_HEAT_LIST_OPTIONS_INIT;
    afs_heat_entry **list;
    size_t n;
    char name[48];
    (void)state;
    env_endpoint(e, 0, &o);
    for (int i = 0; i < 24; i++) {
        snprintf(name, sizeof(name), "proj/d%d/f%02d.bin", i % 4, i);
        mkfile(e->data[0], name, 96 * KiB + (size_t)i * 4096, 40 + (uint32_t)i, 30 - i);
    }
    mkfile(e->data[0], "proj/small.txt", 100, 99, 1);
    env_sync(e, 0);
    AFS_ASSERT_OK(afs_tier_file(e->ep[0], "proj", NULL));
    /* The recall order lists placeholders hottest first: newest write first here. */
    lo.order = AFS_HEAT_RECALL;
    lo.limit = 0;
    AFS_ASSERT_OK(afs_heat_list(e->svc, e->data[0], &lo, &list, &n));
    assert_int_equal(n, 24);
    assert_non_null(strstr(list[0]->path, "f23.bin"));
    assert_non_null(strstr(list[23]->path, "f00.bin"));
    for (size_t i = 1; i < n; i++)
        assert_true(list[i - 1]->position_ns >= list[i]->position_ns);
    afs_heat_entries_free(list, n);
    ro.threads = 8;
    AFS_ASSERT_OK(afs_tier_recall(e->ep[0], "proj", &ro, &rr));
    assert_int_equal(rr.files_recalled, 24);
    assert_int_equal(rr.files_already_local, 1);
    assert_int_equal(rr.files_failed, 0);
    for (int i = 0; i < 24; i++) {
        snprintf(name, sizeof(name), "proj/d%d/f%02d.bin", i % 4, i);
        assert_content(e->data[0], name, 96 * KiB + (size_t)i * 4096, 40 + (uint32_t)i);
        assert_false(has_xattr_marker(e->data[0], name));
    }
    ro.threads = 33;
    AFS_ASSERT_CODE(afs_tier_recall(e->ep[0], "proj", &ro, NULL), AFS_EINVAL);
    env_free(e);
}

/* ---- policies: the reference's worked examples ---- */

static void test_tier__date_policy_tiers_a_61_day_old_file_on_an_empty_volume(void **state)
{
    tenv *e = env_new("tier-date-empty", 1024ull * MiB, false);
    afs_endpoint_options o = tiering(20, 60);
    afs_tier_result r;
    (void)state;
    env_endpoint(e, 0, &o);
    mkfile(e->data[0], "old-61.bin", 128 * KiB, 50, 61);
    mkfile(e->data[0], "young-59.bin", 128 * KiB, 51, 59);
    env_sync(e, 0);
    run_pass(e->ep[0], &r);
    assert_int_equal(r.files_tiered_date, 1);
    assert_int_equal(r.files_tiered_space, 0);
    assert_int_equal(r.free_space_percent, 20);
    assert_true(r.free_bytes_before > 1000ull * MiB); /* the volume is all but empty */
    assert_int_equal(afs_test_tier_state(e->ep[0], "old-61.bin"), AFS_TIER_STATE_TIERED);
    assert_int_equal(afs_test_tier_state(e->ep[0], "young-59.bin"), AFS_TIER_STATE_FULL);
    assert_int_equal(r.next_interval_s, 3600);
    env_free(e);
}

static void test_tier__free_space_policy_overrides_60_days_down_to_45(void **state)
{
    /* 60 days + 20% free: 30 files of 1 MiB written every 3 days (1..88 days
     * ago) on a 68.5 MiB volume whose other data takes 38 MiB. The date
     * policy keeps 1..58 days (20 MiB), which leaves under 20% free; the free
     * space policy then tiers the coolest until only 1..46 days are kept. */
    tenv *e = env_new("tier-date-space", 68 * MiB + MiB / 2, false);
    afs_endpoint_options o = tiering(20, 60);
    afs_tier_result r;
    afs_heat_list_options lo = AFS_HEAT_LIST_OPTIONS_INIT;
    afs_heat_entry **list;
    size_t n;
    char name[32];
    (void)state;
    env_endpoint(e, 0, &o);
    afs_test_tierfs_set_extra_used(e->tfs, 38 * MiB);
    for (int i = 0; i < 30; i++) {
        snprintf(name, sizeof(name), "age%02d.bin", i * 3 + 1);
        mkfile(e->data[0], name, MiB, 60 + (uint32_t)i, i * 3 + 1);
    }
    env_sync(e, 0);
    /* What the heat store report predicts before anything moves. */
    {
        afs_tier_pass_options po = pass_opts(AFS_TIER_PASS_SCAN | AFS_TIER_PASS_DRY_RUN);
        memset(&r, 0, sizeof(r));
        r.version = AFS_TIER_RESULT_VERSION;
        AFS_ASSERT_OK(afs_tier_pass(e->ep[0], &po, &r));
        assert_int_equal(r.files_tiered_date, 10);
        assert_int_equal(r.files_tiered_space, 4);
        assert_int_equal(afs_test_tier_state(e->ep[0], "age88.bin"), AFS_TIER_STATE_FULL);
    }
    lo.order = AFS_HEAT_DATE_POLICY;
    lo.limit = 0;
    AFS_ASSERT_OK(afs_heat_list(e->svc, e->vol, &lo, &list, &n));
    assert_int_equal(n, 10);
    assert_non_null(strstr(list[0]->path, "age88.bin")); /* oldest first */
    afs_heat_entries_free(list, n);
    lo.order = AFS_HEAT_SPACE_POLICY;
    lo.limit = 3;
    AFS_ASSERT_OK(afs_heat_list(e->svc, e->vol, &lo, &list, &n));
    assert_int_equal(n, 3);
    assert_non_null(strstr(list[0]->path, "age88.bin")); /* coolest first */
    assert_non_null(strstr(list[2]->path, "age82.bin"));
    afs_heat_entries_free(list, n);

    run_pass(e->ep[0], &r);
    assert_int_equal(r.files_tiered_date, 10);
    assert_int_equal(r.files_tiered_space, 4);
    assert_int_equal(r.files_tiered, 14);
    assert_true(r.free_bytes_after >= r.target_free_bytes);
    for (int i = 0; i < 30; i++) {
        snprintf(name, sizeof(name), "age%02d.bin", i * 3 + 1);
        assert_int_equal(afs_test_tier_state(e->ep[0], name),
                         i * 3 + 1 <= 46 ? AFS_TIER_STATE_FULL : AFS_TIER_STATE_TIERED);
    }
    /* A second pass has nothing left to do. */
    run_pass(e->ep[0], &r);
    assert_int_equal(r.files_tiered, 0);
    env_free(e);
}

static void test_tier__two_endpoints_on_a_volume_use_the_largest_free_space(void **state)
{
    /* Endpoint1 at 25% and Endpoint2 at 50% on one 20 MiB volume (plus room
     * for the markers): 50% for both. */
    tenv *e = env_new("tier-two", 20 * MiB + 16 * MARKER_SLACK, false);
    afs_endpoint_options o1 = tiering(25, 0), o2 = tiering(50, 0);
    afs_tier_result r;
    afs_tier_stats s;
    char name[32];
    int tiered = 0;
    (void)state;
    env_endpoint(e, 0, &o1);
    env_endpoint(e, 1, &o2);
    for (int i = 0; i < 8; i++) {
        snprintf(name, sizeof(name), "f%d.bin", i);
        mkfile(e->data[0], name, MiB, 70 + (uint32_t)i, 2 * i + 1); /* odd ages */
        mkfile(e->data[1], name, MiB, 80 + (uint32_t)i, 2 * i + 2); /* even ages */
    }
    env_sync(e, 0);
    env_sync(e, 1);
    run_pass(e->ep[0], &r);
    assert_int_equal(r.free_space_percent, 50);
    assert_int_equal(r.target_free_bytes, 10 * MiB + 8 * MARKER_SLACK);
    assert_true(r.free_bytes_after >= 10 * MiB);
    assert_int_equal(r.files_tiered, 6);
    /* The coolest six of both endpoints went, whichever endpoint they belong to. */
    for (int i = 0; i < 8; i++) {
        snprintf(name, sizeof(name), "f%d.bin", i);
        bool t0 = afs_test_tier_state(e->ep[0], name) == AFS_TIER_STATE_TIERED;
        bool t1 = afs_test_tier_state(e->ep[1], name) == AFS_TIER_STATE_TIERED;
        assert_int_equal(t0, 2 * i + 1 >= 11);
        assert_int_equal(t1, 2 * i + 2 >= 11);
        tiered += t0 + t1;
    }
    assert_int_equal(tiered, 6);
    memset(&s, 0, sizeof(s));
    s.version = AFS_TIER_STATS_VERSION;
    AFS_ASSERT_OK(afs_tier_volume_stats(e->svc, e->vol, &s));
    assert_int_equal(s.tiered_files, 6);
    assert_int_equal(s.tiered_bytes, 6 * MiB);
    assert_int_equal(s.free_space_percent, 50);
    AFS_ASSERT_OK(afs_tier_stats_get(e->ep[1], &s));
    assert_int_equal(s.tiered_files, 3);
    assert_true(s.local_bytes >= 5 * MiB && s.local_bytes <= 5 * MiB + 3 * MARKER_SLACK);

    /* A less aggressive policy never recalls anything. */
    o2.tiering_free_space_percent = 10;
    AFS_ASSERT_OK(afs_endpoint_set_options(e->ep[1], &o2));
    run_pass(e->ep[1], &r);
    assert_int_equal(r.free_space_percent, 25);
    assert_int_equal(r.files_tiered, 0);
    AFS_ASSERT_OK(afs_tier_volume_stats(e->svc, e->vol, &s));
    assert_int_equal(s.tiered_files, 6);
    env_free(e);
}

static void test_tier__free_space_policy_waits_for_the_initial_upload(void **state)
{
    tenv *e = env_new("tier-initial", 2 * MiB + MiB / 2, false);
    afs_endpoint_options o = tiering(80, 30);
    afs_tier_result r;
    (void)state;
    env_endpoint(e, 0, &o);
    mkfile(e->data[0], "old.bin", MiB, 90, 40);
    mkfile(e->data[0], "new.bin", MiB, 91, 1);
    env_sync(e, 0);
    /* As if the initial upload were still running. */
    AFS_ASSERT_OK(afs__state_set_int(e->ep[0]->state, "initial_sync_done", 0));
    run_pass(e->ep[0], &r);
    assert_int_equal(r.files_tiered_date, 1); /* the date policy applies per uploaded file */
    assert_int_equal(r.files_tiered_space, 0);
    assert_int_equal(afs_test_tier_state(e->ep[0], "new.bin"), AFS_TIER_STATE_FULL);
    AFS_ASSERT_OK(afs__state_set_int(e->ep[0]->state, "initial_sync_done", 1));
    run_pass(e->ep[0], &r);
    assert_int_equal(r.files_tiered_space, 1);
    assert_int_equal(afs_test_tier_state(e->ep[0], "new.bin"), AFS_TIER_STATE_TIERED);
    env_free(e);
}

/* ---- heat ---- */

static void test_tier__accesses_keep_files_hot_and_frequency_breaks_ties(void **state)
{
    tenv *e = env_new("tier-heat", 10 * MiB, false);
    afs_endpoint_options o = tiering(55, 0);
    afs_tier_result r;
    afs_heat_list_options lo = AFS_HEAT_LIST_OPTIONS_INIT;
    afs_heat_entry **list;
    size_t n;
    int64_t now = (int64_t)time(NULL) * 1000000000LL;
    (void)state;
    env_endpoint(e, 0, &o);
    mkfile(e->data[0], "read-yesterday.bin", 2 * MiB, 1, 200);
    mkfile(e->data[0], "read-often.bin", 2 * MiB, 2, 300);
    mkfile(e->data[0], "read-once.bin", 2 * MiB, 3, 300);
    mkfile(e->data[0], "untouched.bin", 2 * MiB, 4, 100);
    env_sync(e, 0);
    /* Positions: MAX(access, write, created). Same day for the two 300-day-old files. */
    AFS_ASSERT_OK(afs_tier_access(e->ep[0], "read-yesterday.bin", AFS_TIER_ACCESS_READ,
                                  now - DAY_S * 1000000000LL));
    for (int i = 0; i < 5; i++)
        AFS_ASSERT_OK(afs_tier_access(e->ep[0], "read-often.bin", AFS_TIER_ACCESS_READ,
                                      now - 50LL * DAY_S * 1000000000LL + i));
    AFS_ASSERT_OK(afs_tier_access(e->ep[0], "read-once.bin", AFS_TIER_ACCESS_WRITE,
                                  now - 50LL * DAY_S * 1000000000LL + 10));
    /* A virus scanner reads everything: it does not count. */
    AFS_ASSERT_OK(afs_tier_access(e->ep[0], "untouched.bin",
                                  AFS_TIER_ACCESS_READ | AFS_TIER_ACCESS_NO_HEAT, now));
    AFS_ASSERT_CODE(afs_tier_access(e->ep[0], "untouched.bin", 0, now), AFS_EINVAL);
    AFS_ASSERT_CODE(afs_tier_access(e->ep[0], "/elsewhere/x", AFS_TIER_ACCESS_READ, now),
                    AFS_EINVAL);
    {
        afs_tier_pass_options po = pass_opts(AFS_TIER_PASS_SCAN | AFS_TIER_PASS_DRY_RUN);
        memset(&r, 0, sizeof(r));
        r.version = AFS_TIER_RESULT_VERSION;
        AFS_ASSERT_OK(afs_tier_pass(e->ep[0], &po, &r));
    }
    lo.order = AFS_HEAT_SPACE_POLICY;
    lo.limit = 0;
    AFS_ASSERT_OK(afs_heat_list(e->svc, e->vol, &lo, &list, &n));
    assert_int_equal(n, 4);
    assert_non_null(strstr(list[0]->path, "untouched.bin"));  /* written 100 days ago */
    assert_non_null(strstr(list[1]->path, "read-once.bin"));  /* day -50, one access */
    assert_non_null(strstr(list[2]->path, "read-often.bin")); /* day -50, five accesses */
    assert_non_null(strstr(list[3]->path, "read-yesterday.bin"));
    assert_int_equal(list[2]->access_count, 5);
    assert_int_equal(list[0]->access_count, 0);
    afs_heat_entries_free(list, n);
    lo.order = AFS_HEAT_LAST_ACCESS;
    AFS_ASSERT_OK(afs_heat_list(e->svc, e->vol, &lo, &list, &n));
    assert_non_null(strstr(list[0]->path, "read-yesterday.bin"));
    afs_heat_entries_free(list, n);
    /* 55% free of 10 MiB: two files must go, the two coolest. */
    run_pass(e->ep[0], &r);
    assert_int_equal(r.files_tiered, 2);
    assert_int_equal(afs_test_tier_state(e->ep[0], "untouched.bin"), AFS_TIER_STATE_TIERED);
    assert_int_equal(afs_test_tier_state(e->ep[0], "read-once.bin"), AFS_TIER_STATE_TIERED);
    assert_int_equal(afs_test_tier_state(e->ep[0], "read-often.bin"), AFS_TIER_STATE_FULL);
    env_free(e);
}

static void test_tier__low_disk_space_mode_does_not_keep_recalled_data(void **state)
{
    tenv *e = env_new("tier-lowdisk", 100 * MiB, false);
    afs_endpoint_options o = tiering(5, 0);
    afs_tier_result r;
    afs_tier_stats s;
    uint32_t secs = 0, low = 0;
    unsigned char buf[16];
    size_t n;
    (void)state;
    env_endpoint(e, 0, &o);
    mkfile(e->data[0], "doc.bin", 2 * MiB, 5, 3);
    env_sync(e, 0);
    AFS_ASSERT_OK(afs_tier_interval(e->ep[0], &secs, &low));
    assert_int_equal(secs, 3600);
    assert_int_equal(low, 0);
    AFS_ASSERT_OK(afs_tier_file(e->ep[0], "doc.bin", NULL));
    /* Other data fills the volume to 95%. */
    afs_test_tierfs_set_extra_used(e->tfs, 95 * MiB);
    AFS_ASSERT_OK(afs_tier_interval(e->ep[0], &secs, &low));
    assert_int_equal(secs, 60);
    assert_int_equal(low, 1);
    AFS_ASSERT_OK(afs_tier_access(e->ep[0], "doc.bin", AFS_TIER_ACCESS_READ, AFS_TIME_OMIT));
    AFS_ASSERT_OK(afs_tier_read(e->ep[0], "doc.bin", 0, buf, sizeof(buf), &n));
    assert_int_equal(afs_test_tier_state(e->ep[0], "doc.bin"), AFS_TIER_STATE_PARTIAL);
    /* The next pass (a minute later) tiers it again, even though it is the hottest file. */
    run_pass(e->ep[0], &r);
    assert_int_equal(r.files_tiered_evict, 1);
    assert_int_equal(r.low_disk_space, 1);
    assert_int_equal(r.next_interval_s, 60);
    assert_int_equal(afs_test_tier_state(e->ep[0], "doc.bin"), AFS_TIER_STATE_TIERED);
    memset(&s, 0, sizeof(s));
    s.version = AFS_TIER_STATS_VERSION;
    AFS_ASSERT_OK(afs_tier_stats_get(e->ep[0], &s));
    assert_int_equal(s.low_disk_space, 1);
    assert_int_equal(s.accesses, 1);
    assert_int_equal(s.access_recalls, 1);
    assert_int_equal(s.cache_hit_percent, 0);
    assert_int_equal(s.recalls, 1);
    assert_true(s.recall_bytes_per_s > 0);
    /* With space again, data read is kept. */
    afs_test_tierfs_set_extra_used(e->tfs, 0);
    AFS_ASSERT_OK(afs_tier_read(e->ep[0], "doc.bin", 0, buf, sizeof(buf), &n));
    run_pass(e->ep[0], &r);
    assert_int_equal(r.files_tiered_evict, 0);
    assert_int_equal(afs_test_tier_state(e->ep[0], "doc.bin"), AFS_TIER_STATE_PARTIAL);
    env_free(e);
}

/* ---- the engine's internal API ---- */

static void test_tier__namespace_placeholders_are_created_and_updated(void **state)
{
    tenv *e = env_new("tier-namespace", 0, false);
    afs_endpoint_options o = tiering(20, 0);
    afs_storage_entry ent;
    afs_fs_stat st;
    afs__tier_probe probe;
    afs_tier_info info;
    bool confirmed = false;
    char *abs;
    (void)state;
    env_endpoint(e, 0, &o);
    /* A file that exists only in the cloud. */
    mkfile(e->share[0], "cloud-only.bin", 3 * MiB, 100, 7);
    AFS_ASSERT_OK(afs_storage_stat(afs_group_storage(e->g[0]), "cloud-only.bin", &ent));
    AFS_ASSERT_OK(afs__tier_placeholder_create(e->ep[0], "cloud-only.bin", NULL, ent.size,
                                               ent.mtime_ns, ent.etag, &st));
    assert_int_equal(st.size, 3 * MiB);
    assert_true(st.alloc_bytes <= MARKER_SLACK);
    assert_int_equal(st.mtime_ns, ent.mtime_ns);
    AFS_ASSERT_CODE(afs__tier_placeholder_create(e->ep[0], "cloud-only.bin", NULL, ent.size,
                                                 ent.mtime_ns, ent.etag, &st),
                    AFS_EEXISTS);
    abs = afs_test_path(e->data[0], "cloud-only.bin");
    AFS_ASSERT_OK(afs__tier_probe_path(e->top, abs, &st, &probe));
    assert_int_equal(probe.state, AFS_TIER_STATE_TIERED);
    assert_string_equal(probe.etag, ent.etag);
    assert_false(probe.needs_repair);
    memset(&info, 0, sizeof(info));
    info.version = AFS_TIER_INFO_VERSION;
    AFS_ASSERT_OK(afs_tier_query(e->ep[0], "cloud-only.bin", &info));
    assert_true(info.marker_flags & AFS_TIER_MARKER_NAMESPACE);
    afs_tier_info_clear(&info);
    /* No sync base yet: not confirmed. */
    AFS_ASSERT_OK(afs__tier_confirmed(e->ep[0], "cloud-only.bin", NULL, &confirmed));
    assert_false(confirmed);
    /* The cloud version changes: the placeholder follows without downloading. */
    mkfile(e->share[0], "cloud-only.bin", 2 * MiB, 101, 1);
    AFS_ASSERT_OK(afs_storage_stat(afs_group_storage(e->g[0]), "cloud-only.bin", &ent));
    AFS_ASSERT_OK(afs__tier_placeholder_update(e->ep[0], "cloud-only.bin", ent.size,
                                               ent.mtime_ns, ent.etag, &st));
    assert_int_equal(st.size, 2 * MiB);
    assert_true(st.alloc_bytes <= MARKER_SLACK);
    AFS_ASSERT_OK(afs_tier_recall(e->ep[0], "cloud-only.bin", NULL, NULL));
    assert_content(e->data[0], "cloud-only.bin", 2 * MiB, 101);
    assert_int_equal(afs_test_mtime_ns(e->data[0], "cloud-only.bin"), ent.mtime_ns);
    /* A full file is not a placeholder to update. */
    AFS_ASSERT_CODE(afs__tier_placeholder_update(e->ep[0], "cloud-only.bin", 1, 1, "\"x\"",
                                                 NULL),
                    AFS_ECONDITION);
    free(abs);
    env_free(e);
}

static void test_tier__scan_contributions_feed_the_heat_store(void **state)
{
    tenv *e = env_new("tier-scan", 0, false);
    afs_endpoint_options o = tiering(20, 0);
    afs__tier_scan *scan;
    afs_fs_stat st;
    afs_heat_list_options lo = AFS_HEAT_LIST_OPTIONS_INIT;
    afs_heat_entry **list;
    afs_tier_stats s;
    size_t n;
    char *abs;
    bool confirmed;
    (void)state;
    env_endpoint(e, 0, &o);
    mkfile(e->data[0], "a.bin", 100 * KiB, 1, 10);
    mkfile(e->data[0], "b.bin", 100 * KiB, 2, 20);
    env_sync(e, 0);
    AFS_ASSERT_OK(afs__tier_heat_begin(e->ep[0], &scan));
    abs = afs_test_path(e->data[0], "a.bin");
    memset(&st, 0, sizeof(st));
    AFS_ASSERT_OK(e->top->ops.stat(e->top->ctx, abs, &st));
    AFS_ASSERT_OK(afs__tier_heat_note(scan, "a.bin", &st));
    AFS_ASSERT_OK(afs__tier_confirmed(e->ep[0], "a.bin", &st, &confirmed));
    assert_true(confirmed);
    free(abs);
    abs = afs_test_path(e->data[0], "b.bin");
    AFS_ASSERT_OK(e->top->ops.stat(e->top->ctx, abs, &st));
    AFS_ASSERT_OK(afs__tier_heat_note(scan, "b.bin", &st));
    free(abs);
    AFS_ASSERT_OK(afs__tier_heat_end(scan, true));
    lo.order = AFS_HEAT_LAST_ACCESS;
    lo.limit = 0;
    AFS_ASSERT_OK(afs_heat_list(e->svc, e->data[0], &lo, &list, &n));
    assert_int_equal(n, 2);
    afs_heat_entries_free(list, n);
    AFS_ASSERT_OK(afs__tier_heat_rename(e->ep[0], "b.bin", "c.bin"));
    AFS_ASSERT_OK(afs__tier_heat_forget(e->ep[0], "a.bin"));
    AFS_ASSERT_OK(afs_heat_list(e->svc, e->data[0], &lo, &list, &n));
    assert_int_equal(n, 1);
    assert_non_null(strstr(list[0]->path, "c.bin"));
    afs_heat_entries_free(list, n);
    memset(&s, 0, sizeof(s));
    s.version = AFS_TIER_STATS_VERSION;
    AFS_ASSERT_OK(afs_tier_stats_get(e->ep[0], &s));
    assert_int_equal(s.files, 1);
    assert_int_equal(s.cache_hit_percent, 100);
    AFS_ASSERT_OK(afs__tier_endpoint_removed(e->svc, e->data[0], afs_endpoint_id(e->ep[0])));
    AFS_ASSERT_OK(afs_tier_stats_get(e->ep[0], &s));
    assert_int_equal(s.files, 0);
    env_free(e);
}

/* The bytes of afs_heat_list_options version 1: its fields up to now_ns. */
#define HEAT_LIST_OPTIONS_V1_SIZE \
    (offsetof(afs_heat_list_options, now_ns) + sizeof(((afs_heat_list_options *)0)->now_ns))

static void test_tier__heat_list_reads_only_the_callers_options_version(void **state)
{
    tenv *e = env_new("tier-heatopts", 0, false);
    afs_endpoint_options o = tiering(20, 0);
    static const unsigned int refused[] = { 0, 99 };
    static afs_heat_entry *stale[1];
    afs_heat_list_options *lo;
    afs_heat_entry **list;
    size_t n;
    char msg[128];
    (void)state;
    env_endpoint(e, 0, &o);
    mkfile(e->data[0], "a.bin", 100 * KiB, 1, 30);
    mkfile(e->data[0], "b.bin", 100 * KiB, 2, 20);
    mkfile(e->data[0], "c.bin", 100 * KiB, 3, 10);
    env_sync(e, 0);

    /* A version-1 program's options, directly followed by a page that cannot
     * be read: init and the list touch nothing past them. */
    lo = afs_test_guarded_new(HEAT_LIST_OPTIONS_V1_SIZE);
    AFS_ASSERT_OK(afs_heat_list_options_init(lo, 1));
    assert_int_equal(lo->version, 1);
    assert_int_equal(lo->order, AFS_HEAT_SPACE_POLICY);
    assert_int_equal(lo->limit, 100);
    lo->order = AFS_HEAT_LAST_ACCESS;
    lo->limit = 0;
    AFS_ASSERT_OK(afs_heat_list(e->svc, e->data[0], lo, &list, &n));
    assert_int_equal(n, 3);
    afs_heat_entries_free(list, n);
    lo->limit = 2; /* the fields are read */
    AFS_ASSERT_OK(afs_heat_list(e->svc, e->data[0], lo, &list, &n));
    assert_int_equal(n, 2);
    assert_int_equal(list[0]->version, AFS_HEAT_ENTRY_VERSION);
    afs_heat_entries_free(list, n);

    /* Version 0 and a version from the future: AFS_EVERSION, an empty result. */
    for (size_t k = 0; k < sizeof(refused) / sizeof(refused[0]); k++) {
        lo->version = refused[k];
        list = stale; /* anything but NULL */
        n = 7;
        AFS_ASSERT_CODE(afs_heat_list(e->svc, e->data[0], lo, &list, &n), AFS_EVERSION);
        snprintf(msg, sizeof(msg), "afs_heat_list: afs_heat_list_options version %u is not "
                 "supported", refused[k]);
        assert_non_null(strstr(afs_error_last(), msg));
        assert_null(list);
        assert_int_equal(n, 0);
        AFS_ASSERT_CODE(afs_heat_list_options_init(lo, refused[k]), AFS_EVERSION);
        assert_int_equal(lo->version, refused[k]); /* left as it was */
    }
    afs_test_guarded_free(lo, HEAT_LIST_OPTIONS_V1_SIZE);
    env_free(e);
}

/* ---- the real POSIX filesystem on a tmpfs of our own ---- */

static void test_tier__posix_on_a_tmpfs_volume(void **state)
{
    char *root = afs_test_sandbox("tier-tmpfs");
    char *mnt = afs_test_path(root, "mnt");
    char *st = afs_test_path(root, "state"), *share = afs_test_path(root, "share");
    char *data, *cmd;
    afs_endpoint_options o = tiering(20, 0);
    afs_service *svc;
    afs_group *g;
    afs_endpoint *ep;
    afs_sync_result sr = AFS_SYNC_RESULT_INIT;
    afs_tier_info info;
    int rc;
    (void)state;
    afs_test_mkdirs(mnt);
    afs_test_mkdirs(share);
    cmd = malloc(strlen(mnt) + 64);
    sprintf(cmd, "mount -t tmpfs -o size=64m afs-test %s 2>/dev/null", mnt);
    rc = system(cmd);
    free(cmd);
    if (rc != 0) {
        fprintf(stderr, "SKIP test_tier__posix_on_a_tmpfs_volume: cannot mount a tmpfs "
                        "(needs root); the test volume filesystem covers the same paths\n");
        afs_test_rmtree(root);
        free(mnt);
        free(st);
        free(share);
        free(root);
        skip();
    }
    data = afs_test_path(mnt, "data");
    afs_test_mkdirs(data);
    AFS_ASSERT_OK(afs_service_open(&svc, st, NULL));
    AFS_ASSERT_OK(afs_server_register(svc, "ServerA"));
    AFS_ASSERT_OK(afs_group_create(&g, svc, "g", share));
    AFS_ASSERT_OK(afs_endpoint_create(&ep, g, data, &o));
    mkfile(data, "movie.bin", 4 * MiB, 200, 2);
    AFS_ASSERT_OK(afs_endpoint_sync(ep, NULL, &sr));
    AFS_ASSERT_OK(afs_tier_file(ep, "movie.bin", NULL));
    memset(&info, 0, sizeof(info));
    info.version = AFS_TIER_INFO_VERSION;
    AFS_ASSERT_OK(afs_tier_query(ep, "movie.bin", &info));
    assert_int_equal(info.state, AFS_TIER_STATE_TIERED);
    assert_int_equal(info.size_on_disk, 0);
    afs_tier_info_clear(&info);
    assert_true(has_xattr_marker(data, "movie.bin"));
    AFS_ASSERT_OK(afs_tier_recall_range(ep, "movie.bin", 0, 1, 0));
    assert_int_equal(afs_test_tier_state(ep, "movie.bin"), AFS_TIER_STATE_PARTIAL);
    AFS_ASSERT_OK(afs_tier_recall(ep, "movie.bin", NULL, NULL));
    assert_content(data, "movie.bin", 4 * MiB, 200);
    AFS_ASSERT_OK(afs_endpoint_sync(ep, NULL, &sr));
    assert_int_equal(sr.files_uploaded, 0);
    afs_endpoint_close(ep);
    afs_group_close(g);
    afs_service_close(svc);
    cmd = malloc(strlen(mnt) + 32);
    sprintf(cmd, "umount %s", mnt);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    afs_test_rmtree(root);
    free(data);
    free(mnt);
    free(st);
    free(share);
    free(root);
}

/* The bytes of version 1 (2) of each struct, as a program built against it has them. */
#define TIER_PASS_OPTIONS_V1 AFS_TEST_END_OF(afs_tier_pass_options, now_ns)
#define TIER_RESULT_V1 AFS_TEST_END_OF(afs_tier_result, next_interval_s)
#define TIER_INFO_V1 AFS_TEST_END_OF(afs_tier_info, marker_len)
#define TIER_STATS_V1 AFS_TEST_END_OF(afs_tier_stats, volume_free_bytes)
#define RECALL_OPTIONS_V1 AFS_TEST_END_OF(afs_recall_options, flags)
#define RECALL_OPTIONS_V2 AFS_TEST_END_OF(afs_recall_options, progress_payload)
#define RECALL_RESULT_V1 AFS_TEST_END_OF(afs_recall_result, first_error)
#define UNTOUCHED 0x5A5A5A5A5A5A5A5AULL

static void test_tier__structs_are_read_and_filled_only_to_their_version(void **state)
{
    tenv *e = env_new("tier-versions", 1024ull * MiB, false);
    afs_endpoint_options o = tiering(20, 60);
    static const unsigned int refused[] = { 0, 99 };
    /* Structs of a program built against version 1 (recall options: 1 and
     * 2), each directly before a page that cannot be touched. */
    afs_tier_pass_options *po = afs_test_guarded_new(TIER_PASS_OPTIONS_V1);
    afs_tier_result *r = afs_test_guarded_new(TIER_RESULT_V1);
    afs_tier_info *info = afs_test_guarded_new(TIER_INFO_V1);
    afs_tier_stats *st = afs_test_guarded_new(TIER_STATS_V1);
    afs_recall_options *ro1 = afs_test_guarded_new(RECALL_OPTIONS_V1);
    afs_recall_options *ro2 = afs_test_guarded_new(RECALL_OPTIONS_V2);
    afs_recall_result *rr = afs_test_guarded_new(RECALL_RESULT_V1);
    recall_watch w;
    (void)state;
    memset(&w, 0, sizeof(w));
    env_endpoint(e, 0, &o);
    mkfile(e->data[0], "old.bin", 128 * KiB, 50, 61);
    mkfile(e->data[0], "young.bin", 128 * KiB, 51, 59);
    mkfile(e->data[0], "other.bin", 128 * KiB, 52, 10);
    env_sync(e, 0);

    /* The pass reads the options' flags and fills a version-1 result. */
    AFS_ASSERT_OK(afs_tier_pass_options_init(po, 1));
    assert_int_equal(po->version, 1);
    assert_true(po->now_ns == AFS_TIME_OMIT);
    po->flags = AFS_TIER_PASS_DRY_RUN | AFS_TIER_PASS_SCAN;
    r->version = 1;
    AFS_ASSERT_OK(afs_tier_pass(e->ep[0], po, r));
    assert_int_equal(r->version, 1);
    assert_int_equal(r->files_tiered_date, 1);
    assert_int_equal(r->next_interval_s, 3600);
    assert_int_equal(afs_test_tier_state(e->ep[0], "old.bin"), AFS_TIER_STATE_FULL); /* dry */
    po->flags = AFS_TIER_PASS_SCAN;
    AFS_ASSERT_OK(afs_tier_pass(e->ep[0], po, r));
    assert_int_equal(r->files_tiered_date, 1);
    assert_int_equal(afs_test_tier_state(e->ep[0], "old.bin"), AFS_TIER_STATE_TIERED);
    assert_int_equal(afs_test_tier_state(e->ep[0], "young.bin"), AFS_TIER_STATE_FULL);
    afs_test_guarded_check(r, TIER_RESULT_V1);

    memset(r, 0, TIER_RESULT_V1);
    r->version = 1;
    AFS_ASSERT_OK(afs_tier_file(e->ep[0], "other.bin", r));
    assert_int_equal(r->version, 1);
    assert_int_equal(r->files_tiered, 1);
    assert_true(r->bytes_freed >= 128 * KiB - MARKER_SLACK);
    afs_test_guarded_check(r, TIER_RESULT_V1);

    /* Query and clear: the version-1 fields, nothing after them. */
    info->version = 1;
    AFS_ASSERT_OK(afs_tier_query(e->ep[0], "other.bin", info));
    assert_int_equal(info->version, 1);
    assert_int_equal(info->state, AFS_TIER_STATE_TIERED);
    assert_int_equal(info->size, 128 * KiB);
    assert_string_equal(info->cloud_path, "other.bin");
    assert_true(info->marker_len > 0);
    afs_tier_info_clear(info);
    assert_int_equal(info->version, 1);
    assert_null(info->cloud_path);
    assert_int_equal(info->size, 0);

    /* Statistics of the endpoint and of the volume. */
    st->version = 1;
    AFS_ASSERT_OK(afs_tier_stats_get(e->ep[0], st));
    assert_int_equal(st->version, 1);
    assert_int_equal(st->files, 3);
    assert_int_equal(st->tiered_files, 2);
    assert_true(st->volume_total_bytes >= 1000ull * MiB);
    memset(st, 0, TIER_STATS_V1);
    st->version = 1;
    AFS_ASSERT_OK(afs_tier_volume_stats(e->svc, e->data[0], st));
    assert_int_equal(st->tiered_files, 2);
    assert_true(st->volume_free_bytes > 0);

    /* Recall with version-1 options (no progress fields), then version 2. */
    AFS_ASSERT_OK(afs_recall_options_init(ro1, 1));
    assert_int_equal(ro1->version, 1);
    assert_int_equal(ro1->threads, 1);
    assert_int_equal(ro1->retry_count, 3);
    ro1->threads = 2;
    rr->version = 1;
    AFS_ASSERT_OK(afs_tier_recall(e->ep[0], "old.bin", ro1, rr));
    assert_int_equal(rr->version, 1);
    assert_int_equal(rr->files_recalled, 1);
    assert_int_equal(rr->first_error, 0);
    assert_content(e->data[0], "old.bin", 128 * KiB, 50);
    afs_test_guarded_check(rr, RECALL_RESULT_V1);
    AFS_ASSERT_OK(afs_recall_options_init(ro2, 2));
    assert_null(ro2->progress);
    ro2->progress = watch_recall;
    ro2->progress_payload = &w;
    memset(rr, 0, RECALL_RESULT_V1);
    rr->version = 1;
    AFS_ASSERT_OK(afs_tier_recall(e->ep[0], "other.bin", ro2, rr));
    assert_true(w.calls > 0);
    assert_int_equal(w.last.files_done, 1);
    assert_int_equal(rr->files_recalled, 1);
    assert_content(e->data[0], "other.bin", 128 * KiB, 52);

    /* Version 0 and a version from the future: AFS_EVERSION naming the
     * function and the version; nothing is done and nothing written. */
    for (size_t k = 0; k < sizeof(refused) / sizeof(refused[0]); k++) {
        unsigned int v = refused[k];
        po->version = v;
        AFS_ASSERT_CODE(afs_tier_pass(e->ep[0], po, NULL), AFS_EVERSION);
        afs_test_assert_version_refused("afs_tier_pass", "afs_tier_pass_options", v);
        AFS_ASSERT_CODE(afs_tier_pass_options_init(po, v), AFS_EVERSION);
        afs_test_assert_version_refused("afs_tier_pass_options_init", "afs_tier_pass_options", v);
        assert_int_equal(po->version, v);
        po->version = 1;

        memset(r, 0x5A, TIER_RESULT_V1);
        r->version = v;
        AFS_ASSERT_CODE(afs_tier_pass(e->ep[0], po, r), AFS_EVERSION);
        afs_test_assert_version_refused("afs_tier_pass", "afs_tier_result", v);
        AFS_ASSERT_CODE(afs_tier_file(e->ep[0], "young.bin", r), AFS_EVERSION);
        afs_test_assert_version_refused("afs_tier_file", "afs_tier_result", v);
        assert_true(r->files_tiered == UNTOUCHED);

        memset(info, 0x5A, TIER_INFO_V1);
        info->version = v;
        AFS_ASSERT_CODE(afs_tier_query(e->ep[0], "young.bin", info), AFS_EVERSION);
        afs_test_assert_version_refused("afs_tier_query", "afs_tier_info", v);
        afs_tier_info_clear(info); /* a version it does not know: left alone */
        assert_true(info->size == UNTOUCHED);

        memset(st, 0x5A, TIER_STATS_V1);
        st->version = v;
        AFS_ASSERT_CODE(afs_tier_stats_get(e->ep[0], st), AFS_EVERSION);
        afs_test_assert_version_refused("afs_tier_stats_get", "afs_tier_stats", v);
        AFS_ASSERT_CODE(afs_tier_volume_stats(e->svc, e->data[0], st), AFS_EVERSION);
        afs_test_assert_version_refused("afs_tier_volume_stats", "afs_tier_stats", v);
        assert_true(st->files == UNTOUCHED);

        ro1->version = v;
        AFS_ASSERT_CODE(afs_tier_recall(e->ep[0], "young.bin", ro1, NULL), AFS_EVERSION);
        afs_test_assert_version_refused("afs_tier_recall", "afs_recall_options", v);
        AFS_ASSERT_CODE(afs_recall_options_init(ro1, v), AFS_EVERSION);
        assert_int_equal(ro1->version, v);
        ro1->version = 1;
        memset(rr, 0x5A, RECALL_RESULT_V1);
        rr->version = v;
        AFS_ASSERT_CODE(afs_tier_recall(e->ep[0], "young.bin", ro1, rr), AFS_EVERSION);
        afs_test_assert_version_refused("afs_tier_recall", "afs_recall_result", v);
        assert_true(rr->files_recalled == UNTOUCHED);
    }
    assert_int_equal(afs_test_tier_state(e->ep[0], "young.bin"), AFS_TIER_STATE_FULL);

    afs_test_guarded_free(po, TIER_PASS_OPTIONS_V1);
    afs_test_guarded_free(r, TIER_RESULT_V1);
    afs_test_guarded_free(info, TIER_INFO_V1);
    afs_test_guarded_free(st, TIER_STATS_V1);
    afs_test_guarded_free(ro1, RECALL_OPTIONS_V1);
    afs_test_guarded_free(ro2, RECALL_OPTIONS_V2);
    afs_test_guarded_free(rr, RECALL_RESULT_V1);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tier__marker_round_trip_and_damage),
        cmocka_unit_test(test_tier__options_init_and_bad_arguments),
        cmocka_unit_test(test_tier__system_volume_refuses_tiering),
        cmocka_unit_test(test_tier__tiered_file_keeps_size_and_times_and_frees_blocks),
        cmocka_unit_test(test_tier__sync_after_tiering_and_recall_moves_nothing),
        cmocka_unit_test(test_tier__never_tiers_content_not_confirmed_in_the_cloud),
        cmocka_unit_test(test_tier__files_under_the_minimum_size_are_never_tiered),
        cmocka_unit_test(test_tier__pinned_and_excluded_files_stay_local),
        cmocka_unit_test(test_tier__a_file_that_changes_during_tiering_is_left_alone),
        cmocka_unit_test(test_tier__crash_after_the_marker_loses_nothing),
        cmocka_unit_test(test_tier__crash_after_the_punch_loses_nothing),
        cmocka_unit_test(test_tier__partial_recall_fetches_only_the_range),
        cmocka_unit_test(test_tier__recall_refuses_a_changed_cloud_copy),
        cmocka_unit_test(test_tier__recall_stops_cleanly_when_space_runs_out),
        cmocka_unit_test(test_tier__recall_progress_counts_and_a_stop_keeps_valid_files),
        cmocka_unit_test(test_tier__recall_failing_mid_file_leaves_a_valid_placeholder),
        cmocka_unit_test(test_tier__recall_retries_transient_failures),
        cmocka_unit_test(test_tier__concurrent_recalls_of_one_file_do_not_corrupt_it),
        cmocka_unit_test(test_tier__tree_recall_with_threads_brings_everything_back),
        cmocka_unit_test(test_tier__date_policy_tiers_a_61_day_old_file_on_an_empty_volume),
        cmocka_unit_test(test_tier__free_space_policy_overrides_60_days_down_to_45),
        cmocka_unit_test(test_tier__two_endpoints_on_a_volume_use_the_largest_free_space),
        cmocka_unit_test(test_tier__free_space_policy_waits_for_the_initial_upload),
        cmocka_unit_test(test_tier__accesses_keep_files_hot_and_frequency_breaks_ties),
        cmocka_unit_test(test_tier__low_disk_space_mode_does_not_keep_recalled_data),
        cmocka_unit_test(test_tier__namespace_placeholders_are_created_and_updated),
        cmocka_unit_test(test_tier__scan_contributions_feed_the_heat_store),
        cmocka_unit_test(test_tier__heat_list_reads_only_the_callers_options_version),
        cmocka_unit_test(test_tier__structs_are_read_and_filled_only_to_their_version),
        cmocka_unit_test(test_tier__posix_on_a_tmpfs_volume),
    };
    return cmocka_run_group_tests_name("tier", tests, NULL, NULL);
}

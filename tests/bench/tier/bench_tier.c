/*
 * bench_tier: the tiering benchmarks (not a test; nothing here is asserted).
 *
 *   1. A tiering pass choosing among 1,000,000 heat-store entries (a dry run
 *      of the free space policy that must walk ~300,000 of them): seconds
 *      and the process's peak RSS.  Target: <= 2 s, <= 200 MiB.
 *   2. Recall of 1,000 placeholders of 1 MiB from a storage that adds 20 ms
 *      to every request, with 1 and with 16 threads.  Target: 16 threads
 *      >= 8x faster.
 *   3. Recall of one 1 GiB placeholder against `cp` of the same file on the
 *      same disk, both made durable (cp is followed by `sync` of the copy,
 *      as a recall fsyncs before it drops the marker); best of three runs
 *      of each.  Target: >= 0.8x.
 *
 * Usage: bench_tier [workdir]   (default: $TMPDIR or /tmp; needs ~4 GiB)
 * Environment: BENCH_TIER_ENTRIES (default 1000000), BENCH_TIER_FILES
 * (1000), BENCH_TIER_BIG_MIB (1024) to scale it down.
 * The last line is exactly:
 *   bench-tier entries=N select_s=X rss_mib=M recall_speedup_16=Y recall_vs_cp=Z
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "afs.h"
#include "fault.h"
#include "tierfs.h"
#include "sync/group_internal.h"
#include "sync/state.h"
#include "tier/tier_internal.h"

#define MiB (1024ull * 1024ull)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_tier: %s: %d (%s): %s\n", what, rc, afs_strerror(rc),
            afs_error_last());
    exit(1);
}

#define CHECK(expr)                 \
    do {                            \
        int rc_ = (expr);           \
        if (rc_ != 0)               \
            die(#expr, rc_);        \
    } while (0)

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    if (system(cmd) != 0) {
        fprintf(stderr, "bench_tier: failed: %s\n", cmd);
        exit(1);
    }
}

static char *join(const char *a, const char *b)
{
    char *p = malloc(strlen(a) + strlen(b) + 2);
    sprintf(p, "%s/%s", a, b);
    return p;
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 10) : dflt;
}

/* Fast deterministic content. */
static void fill(unsigned char *buf, size_t len, uint64_t seed)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i + 8 <= len; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(buf + i, &x, 8);
    }
}

static void write_file(const char *path, uint64_t size, uint64_t seed)
{
    unsigned char *buf = malloc(8 * MiB);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || !buf) {
        perror(path);
        exit(1);
    }
    for (uint64_t off = 0; off < size; off += 8 * MiB) {
        size_t n = size - off < 8 * MiB ? (size_t)(size - off) : 8 * MiB;
        fill(buf, n, seed + off);
        if (write(fd, buf, n) != (ssize_t)n) {
            perror(path);
            exit(1);
        }
    }
    fsync(fd);
    close(fd);
    free(buf);
}

/* A storage scheme "slow://<dir>": the local backend behind the fault
 * wrapper, with latency added to every request. */
static afs_test_fault *slow_ctl;
static afs_storage *slow_inner;

static int open_slow(afs_storage **out, const char *uri, void *payload)
{
    int rc;
    (void)payload;
    if ((rc = afs_storage_local_new(&slow_inner, uri + strlen("slow://"), NULL)) != 0)
        return rc;
    return afs_test_fault_storage_new(out, slow_inner, &slow_ctl);
}

typedef struct world {
    char *root, *vol, *state, *share, *data;
    afs_fs *fs;
    afs_test_tierfs *tfs;
    afs_service *svc;
    afs_group *g;
    afs_endpoint *ep;
} world;

static void world_open(world *w, const char *base, const char *name)
{
    afs_service_options so = AFS_SERVICE_OPTIONS_INIT;
    afs_endpoint_options eo = AFS_ENDPOINT_OPTIONS_INIT;
    char *uri;
    w->root = join(base, name);
    w->vol = join(w->root, "vol");
    w->state = join(w->root, "state");
    w->share = join(w->root, "share");
    w->data = join(w->vol, "data");
    sh("rm -rf '%s' && mkdir -p '%s'", w->root, w->root);
    sh("mkdir -p '%s' '%s'", w->share, w->data);
    CHECK(afs_test_tierfs_new(&w->fs, w->vol, 0, &w->tfs));
    so.fs = w->fs;
    CHECK(afs_service_open(&w->svc, w->state, &so));
    CHECK(afs_server_register(w->svc, "bench"));
    uri = malloc(strlen(w->share) + 16);
    sprintf(uri, "slow://%s", w->share);
    CHECK(afs_group_create(&w->g, w->svc, "bench", uri));
    free(uri);
    eo.tiering_enabled = 1;
    eo.tiering_free_space_percent = 20;
    CHECK(afs_endpoint_create(&w->ep, w->g, w->data, &eo));
}

static void world_close(world *w)
{
    afs_endpoint_close(w->ep);
    afs_group_close(w->g);
    afs_service_close(w->svc);
    afs_fs_free(w->fs);
    sh("rm -rf '%s'", w->root);
    free(w->root);
    free(w->vol);
    free(w->state);
    free(w->share);
    free(w->data);
}

/* A namespace-only placeholder for the share's file `rel`. */
static void placeholder(world *w, const char *rel)
{
    afs_storage_entry e;
    CHECK(afs_storage_stat(afs_group_storage(w->g), rel, &e));
    CHECK(afs__tier_placeholder_create(w->ep, rel, NULL, e.size, e.mtime_ns, e.etag, NULL));
}

/* ---- 1: selection among N heat entries ---- */

static double bench_select(const char *base, uint64_t entries, uint64_t *selected)
{
    world w;
    afs__tier_scan *scan;
    afs_fs_stat st;
    afs_tier_pass_options po = AFS_TIER_PASS_OPTIONS_INIT;
    afs_tier_result r = AFS_TIER_RESULT_INIT;
    int64_t now = (int64_t)time(NULL) * 1000000000LL;
    double t0, t;
    char rel[64];

    world_open(&w, base, "select");
    fprintf(stderr, "bench_tier: filling the heat store with %llu entries...\n",
            (unsigned long long)entries);
    t0 = now_s();
    CHECK(afs__tier_heat_begin(w.ep, &scan));
    memset(&st, 0, sizeof(st));
    st.type = AFS_TYPE_FILE;
    st.nlink = 1;
    for (uint64_t i = 0; i < entries; i++) {
        /* 1 MiB files written over the last ~3 years, in scattered order. */
        uint64_t k = i * 2654435761u % entries;
        snprintf(rel, sizeof(rel), "d%03llu/f%07llu.bin", (unsigned long long)(k % 1000),
                 (unsigned long long)k);
        st.size = MiB;
        st.alloc_bytes = MiB;
        st.mtime_ns = now - (int64_t)(k % 1000) * 86400LL * 1000000000LL - (int64_t)k;
        CHECK(afs__tier_heat_note(scan, rel, &st));
    }
    CHECK(afs__tier_heat_end(scan, false));
    fprintf(stderr, "bench_tier: filled in %.1f s\n", now_s() - t0);
    CHECK(afs__state_set_int(w.ep->state, "initial_sync_done", 1));
    /* The volume is 2 TiB and 90% full (the files' 1 TiB plus other data):
     * reaching 20% free means choosing ~210,000 of the coolest files. */
    afs_test_tierfs_set_total(w.tfs, 2048ull * 1024 * MiB);
    afs_test_tierfs_set_extra_used(w.tfs, 2048ull * 1024 * MiB / 10 * 9);
    po.flags = AFS_TIER_PASS_DRY_RUN;
    t0 = now_s();
    CHECK(afs_tier_pass(w.ep, &po, &r));
    t = now_s() - t0;
    *selected = r.files_tiered_space;
    fprintf(stderr, "bench_tier: selection: %llu of %llu entries chosen in %.3f s\n",
            (unsigned long long)r.files_tiered_space, (unsigned long long)entries, t);
    world_close(&w);
    return t;
}

/* ---- 2: parallel recall with latency ---- */

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double recall_tree(world *w, uint32_t threads)
{
    afs_recall_options ro = AFS_RECALL_OPTIONS_INIT;
    afs_recall_result rr = AFS_RECALL_RESULT_INIT;
    double t0, c0, t;
    ro.threads = threads;
    c0 = cpu_s();
    t0 = now_s();
    CHECK(afs_tier_recall(w->ep, "tree", &ro, &rr));
    t = now_s() - t0;
    fprintf(stderr, "bench_tier: (%u threads: %.2f s of CPU in %.2f s)\n", threads,
            cpu_s() - c0, t);
    return t;
}

static double bench_parallel(const char *base, uint64_t files, double *t1, double *t16)
{
    world w;
    char rel[64], *dir, *p;
    world_open(&w, base, "parallel");
    dir = join(w.share, "tree");
    sh("mkdir -p '%s' && mkdir -p '%s/tree'", dir, w.data);
    fprintf(stderr, "bench_tier: %llu files of 1 MiB...\n", (unsigned long long)files);
    for (uint64_t i = 0; i < files; i++) {
        snprintf(rel, sizeof(rel), "f%05llu.bin", (unsigned long long)i);
        p = join(dir, rel);
        write_file(p, MiB, i);
        free(p);
    }
    for (int round = 0; round < 2; round++) {
        for (uint64_t i = 0; i < files; i++) {
            snprintf(rel, sizeof(rel), "tree/f%05llu.bin", (unsigned long long)i);
            if (round) { /* back to placeholders for the second run */
                p = join(w.data, rel);
                unlink(p);
                free(p);
            }
            placeholder(&w, rel);
        }
        afs_test_fault_latency(slow_ctl, NULL, 20000); /* 20 ms per request */
        if (round == 0)
            *t1 = recall_tree(&w, 1);
        else
            *t16 = recall_tree(&w, 16);
        afs_test_fault_latency(slow_ctl, NULL, 0);
        fprintf(stderr, "bench_tier: recall of %llu files with %d thread(s): %.2f s\n",
                (unsigned long long)files, round ? 16 : 1, round ? *t16 : *t1);
    }
    free(dir);
    world_close(&w);
    return *t1 / *t16;
}

/* ---- 3: one big file against cp ---- */

static double bench_big(const char *base, uint64_t mib, double *recall_s, double *cp_s)
{
    world w;
    afs_recall_options ro = AFS_RECALL_OPTIONS_INIT;
    char *src, *dst, *ph;
    double t0, t;
    world_open(&w, base, "big");
    src = join(w.share, "big.bin");
    dst = join(w.root, "cp-copy.bin");
    ph = join(w.data, "big.bin");
    fprintf(stderr, "bench_tier: a %llu MiB file...\n", (unsigned long long)mib);
    write_file(src, mib * MiB, 7);
    /* The source is in the page cache for both; the best of three runs of
     * each, alternating, so that a busy moment of the machine counts for neither. */
    sh("cat '%s' > /dev/null", src);
    ro.threads = (uint32_t)env_u64("BENCH_TIER_BIG_THREADS", 4);
    *cp_s = *recall_s = 1e9;
    for (int run = 0; run < 3; run++) {
        sh("sync");
        t0 = now_s();
        sh("cp '%s' '%s' && sync '%s'", src, dst, dst);
        t = now_s() - t0;
        if (t < *cp_s)
            *cp_s = t;
        unlink(dst);
        unlink(ph);
        placeholder(&w, "big.bin");
        sh("sync");
        t0 = now_s();
        CHECK(afs_tier_recall(w.ep, "big.bin", &ro, NULL));
        t = now_s() - t0;
        if (t < *recall_s)
            *recall_s = t;
    }
    fprintf(stderr, "bench_tier: %llu MiB: cp+sync %.2f s (%.0f MiB/s), recall with %u "
            "threads %.2f s (%.0f MiB/s)\n", (unsigned long long)mib, *cp_s,
            (double)mib / *cp_s, ro.threads, *recall_s, (double)mib / *recall_s);
    free(src);
    free(dst);
    free(ph);
    world_close(&w);
    return *cp_s / *recall_s;
}

int main(int argc, char **argv)
{
    const char *tmp = getenv("TMPDIR");
    char *base;
    uint64_t entries = env_u64("BENCH_TIER_ENTRIES", 1000000);
    uint64_t files = env_u64("BENCH_TIER_FILES", 1000);
    uint64_t big = env_u64("BENCH_TIER_BIG_MIB", 1024);
    uint64_t selected = 0;
    double select_s, t1 = 0, t16 = 1, speedup, recall_s = 0, cp_s = 0, vs_cp;
    struct rusage ru;
    long rss_mib;

    base = join(argc > 1 ? argv[1] : (tmp && *tmp ? tmp : "/tmp"), "bench-tier");
    sh("mkdir -p '%s'", base);
    CHECK(afs_storage_scheme_register("slow", open_slow, NULL));
    select_s = bench_select(base, entries, &selected);
    getrusage(RUSAGE_SELF, &ru);
    rss_mib = ru.ru_maxrss / 1024; /* peak so far: the selection phase */
    speedup = bench_parallel(base, files, &t1, &t16);
    vs_cp = bench_big(base, big, &recall_s, &cp_s);
    sh("rm -rf '%s'", base);
    free(base);
    printf("bench-tier entries=%llu select_s=%.3f rss_mib=%ld recall_speedup_16=%.1f "
           "recall_vs_cp=%.2f\n",
           (unsigned long long)entries, select_s, rss_mib, speedup, vs_cp);
    return 0;
}

/*
 * afs-hsmd, the fanotify pre-content recall daemon (docs/recall-daemon.md),
 * on a real kernel: the test makes an ext4 image, attaches it to a loop
 * device and mounts it (tmpfs has no pre-content events), so that a hung
 * daemon can only ever stall reads of that image. Readers are separate
 * processes running plain cat, dd and cp; the daemon core runs in this
 * process. Skipped (exit 77, with the reason) without root, loop devices,
 * mkfs.ext4 or kernel support for FAN_PRE_ACCESS.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../examples/afs-hsmd/fan.h"
#include "../examples/afs-hsmd/hsmd.h"
#include "faultscheme.h"

#define MIB (1024u * 1024u)

static char *g_dir;     /* sandbox outside the image */
static char *g_img;
static char *g_mnt;
static char g_loop[64];
static int g_mounted;

/* ---- the loop-mounted image ---- */

static int run_quiet(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void image_down(void)
{
    char cmd[512];
    if (g_mounted) {
        /* Lazy as a last resort: a test that failed may have left a reader behind. */
        if (umount(g_mnt) != 0 && umount2(g_mnt, MNT_DETACH) != 0)
            fprintf(stderr, "test_hsmd: umount %s: %s\n", g_mnt, strerror(errno));
        g_mounted = 0;
    }
    if (g_loop[0]) {
        snprintf(cmd, sizeof(cmd), "losetup -d %s", g_loop);
        if (run_quiet(cmd) != 0)
            fprintf(stderr, "test_hsmd: %s failed\n", cmd);
        g_loop[0] = '\0';
    }
    if (g_img && unlink(g_img) == 0 && !g_mounted) {
        rmdir(g_mnt);
        rmdir(g_dir);
    }
}

static void on_fatal(int sig)
{
    image_down();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* 0: mounted; otherwise the reason to skip is printed. */
static int image_up(void)
{
    char cmd[1024];
    FILE *p;
    int fd;

    if (geteuid() != 0) {
        printf("test_hsmd: SKIPPED: needs root (loop devices, mount, fanotify)\n");
        return -1;
    }
    g_dir = afs_test_sandbox("hsmd");
    g_img = afs_test_path(g_dir, "volume.img");
    g_mnt = afs_test_path(g_dir, "mnt");
    afs_test_mkdirs(g_mnt);
    fd = open(g_img, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ftruncate(fd, 512LL * MIB) != 0) {
        printf("test_hsmd: SKIPPED: cannot create %s: %s\n", g_img, strerror(errno));
        return -1;
    }
    close(fd);
    snprintf(cmd, sizeof(cmd), "mkfs.ext4 -q -F %s >/dev/null 2>&1", g_img);
    if (run_quiet(cmd) != 0) {
        printf("test_hsmd: SKIPPED: mkfs.ext4 is not available\n");
        return -1;
    }
    snprintf(cmd, sizeof(cmd), "losetup --find --show %s 2>/dev/null", g_img);
    if (!(p = popen(cmd, "r")) || !fgets(g_loop, sizeof(g_loop), p)) {
        if (p)
            pclose(p);
        g_loop[0] = '\0';
        printf("test_hsmd: SKIPPED: no free loop device\n");
        return -1;
    }
    pclose(p);
    g_loop[strcspn(g_loop, "\n")] = '\0';
    atexit(image_down);
    signal(SIGSEGV, on_fatal);
    signal(SIGABRT, on_fatal);
    signal(SIGTERM, on_fatal);
    signal(SIGINT, on_fatal);
    if (mount(g_loop, g_mnt, "ext4", 0, NULL) != 0) {
        printf("test_hsmd: SKIPPED: mount %s: %s\n", g_loop, strerror(errno));
        return -1;
    }
    g_mounted = 1;
    return 0;
}

/* 0 when this kernel delivers FAN_PRE_ACCESS for files of the image. */
static int kernel_has_pre_content(void)
{
    char *f = afs_test_path(g_mnt, "probe");
    int fan, rc = -1;
    afs_test_write_file(f, "x", 1);
    fan = (int)syscall(SYS_fanotify_init, FAN_CLASS_PRE_CONTENT | FAN_CLOEXEC,
                       O_RDONLY | O_CLOEXEC);
    if (fan < 0) {
        printf("test_hsmd: SKIPPED: fanotify_init(FAN_CLASS_PRE_CONTENT): %s\n",
               strerror(errno));
    } else if (syscall(SYS_fanotify_mark, fan, FAN_MARK_ADD, (uint64_t)FAN_PRE_ACCESS,
                       AT_FDCWD, f) != 0) {
        printf("test_hsmd: SKIPPED: this kernel has no fanotify pre-content events on ext4 "
               "(FAN_PRE_ACCESS: %s; Linux 6.14 or later is needed)\n", strerror(errno));
    } else {
        rc = 0;
    }
    if (fan >= 0)
        close(fan);
    unlink(f);
    free(f);
    return rc;
}

/* ---- one test's world: a server with tiered files, and the daemon ---- */

typedef struct world {
    afs_test_fenv fe;
    afs_test_server *s;
    hsmd *d;
    char *root;
} world;

/* Deterministic content: byte i of file `seed`. */
static unsigned char byte_at(unsigned seed, uint64_t i)
{
    uint64_t x = (i / 8 + 1) * 0x9E3779B97F4A7C15ull ^ ((uint64_t)seed << 40);
    x ^= x >> 29;
    return (unsigned char)(x >> ((i % 8) * 8));
}

static unsigned char *content(unsigned seed, size_t len)
{
    unsigned char *b = malloc(len);
    assert_non_null(b);
    for (size_t i = 0; i < len; i++)
        b[i] = byte_at(seed, i);
    return b;
}

static char *data_path(world *w, const char *rel)
{
    return afs_test_path(w->s->data, rel);
}

static void put_file(world *w, const char *rel, unsigned seed, size_t len)
{
    unsigned char *b = content(seed, len);
    char *p = data_path(w, rel);
    afs_test_write_file(p, b, len);
    free(p);
    free(b);
}

static afs_tier_info query(world *w, const char *rel)
{
    afs_tier_info info;
    memset(&info, 0, sizeof(info));
    info.version = AFS_TIER_INFO_VERSION;
    AFS_ASSERT_OK(afs_tier_query(w->s->ep, rel, &info));
    return info;
}

static uint32_t state_of(world *w, const char *rel)
{
    afs_tier_info info = query(w, rel);
    uint32_t st = info.state;
    afs_tier_info_clear(&info);
    return st;
}

static void tier(world *w, const char *rel)
{
    AFS_ASSERT_OK(afs_tier_file(w->s->ep, rel, NULL));
    assert_int_equal(state_of(w, rel), AFS_TIER_STATE_TIERED);
}

static void daemon_start_with(world *w, hsmd_config *cfg)
{
    cfg->state_dir = w->s->state;
    AFS_ASSERT_OK(hsmd_start(&w->d, cfg));
}

static void daemon_start(world *w)
{
    hsmd_config cfg;
    hsmd_config_defaults(&cfg);
    cfg.verbose = getenv("AFS_TEST_VERBOSE") != NULL;
    daemon_start_with(w, &cfg);
}

static void daemon_stop(world *w)
{
    hsmd_stop(w->d);
    w->d = NULL;
}

static int setup(void **state)
{
    static int n;
    char name[32];
    world *w = calloc(1, sizeof(*w));
    afs_endpoint_options o = AFS_ENDPOINT_OPTIONS_INIT;
    o.tiering_enabled = 1;
    snprintf(name, sizeof(name), "t%d", n++);
    w->root = afs_test_path(g_mnt, name);
    afs_test_mkdirs(w->root);
    afs_test_fenv_init(&w->fe, w->root);
    w->s = afs_test_fenv_server(&w->fe, "S1");
    put_file(w, "movie.bin", 1, 8 * MIB + 100);
    put_file(w, "doc.bin", 2, 3 * MIB + 7);
    put_file(w, "hot.bin", 3, 2 * MIB);
    afs_test_fenv_join(&w->fe, w->s, &o);
    afs_test_sync(w->s);
    tier(w, "movie.bin");
    tier(w, "doc.bin");
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    world *w = *state;
    if (w->d)
        hsmd_stop(w->d);
    afs_test_fenv_free(&w->fe);
    afs_test_rmtree(w->root);
    free(w->root);
    free(w);
    afs_error_clear();
    return 0;
}

/* Run a shell command as another process; its exit status. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return run_quiet(cmd);
}

/* Fail unless the file at `path` holds bytes [off, off+len) of file `seed`. */
static void assert_bytes(const char *path, unsigned seed, uint64_t off, size_t len)
{
    size_t n = 0;
    unsigned char *got = (unsigned char *)afs_test_read_file(path, &n);
    assert_non_null(got);
    assert_int_equal(n, len);
    for (size_t i = 0; i < len; i++)
        if (got[i] != byte_at(seed, off + i))
            fail_msg("%s: byte %zu is 0x%02x, expected 0x%02x", path, i, got[i],
                     byte_at(seed, off + i));
    free(got);
}

/*
 * In a forked reader: drop every inherited descriptor. The daemon runs in
 * this process, and a reader holding a copy of an event's descriptor
 * (opened read-write) would look like a writer of the file to it.
 */
/* A child of the test dies with it: a failed assertion must not leave a
 * daemon or a blocked reader holding ctest's pipe until its timeout. */
static void die_with_parent(void)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static void reader_child(void)
{
    die_with_parent();
    syscall(SYS_close_range, 3u, ~0u, 0u);
}

/* A reader of `len` bytes at `off` in a child, not waited for. */
static pid_t pread_spawn(const char *path, uint64_t off, size_t len, unsigned seed)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        unsigned char *buf = malloc(len);
        int fd;
        ssize_t n;
        reader_child();
        fd = open(path, O_RDONLY);
        n = fd >= 0 ? pread(fd, buf, len, (off_t)off) : -1;
        if (n < 0)
            _exit(errno & 0x7f);
        for (size_t i = 0; i < (size_t)n; i++)
            if (buf[i] != byte_at(seed, off + i))
                _exit(100);
        _exit((size_t)n == len ? 0 : 101);
    }
    return pid;
}

static int reap_status(pid_t pid)
{
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

/* In a child process: pread `len` bytes at `off`; returns 0 or the errno. */
static int child_pread(const char *path, uint64_t off, size_t len, unsigned seed)
{
    return reap_status(pread_spawn(path, off, len, seed));
}

static void fault_all(afs_group *g, void *payload)
{
    const int *code = payload;
    afs_test_fault *f = afs_test_faultscheme_ctl(afs_group_storage(g));
    assert_non_null(f);
    if (*code)
        afs_test_fault_set(f, "read", 1, AFS_FAULT_PERSISTENT, *code);
    else
        afs_test_fault_clear(f);
}

static void latency_all(afs_group *g, void *payload)
{
    afs_test_fault *f = afs_test_faultscheme_ctl(afs_group_storage(g));
    assert_non_null(f);
    afs_test_fault_latency(f, "read", *(unsigned *)payload);
}

static void count_reads(afs_group *g, void *payload)
{
    afs_test_fault *f = afs_test_faultscheme_ctl(afs_group_storage(g));
    *(uint64_t *)payload += afs_test_fault_count(f, "read");
}

static uint64_t daemon_storage_reads(world *w)
{
    uint64_t n = 0;
    hsmd_each_group(w->d, count_reads, &n);
    return n;
}

/* ---- tests ---- */

static void test_hsmd__cat_reads_the_right_bytes_and_recalls_the_file(void **state)
{
    world *w = *state;
    char *src = data_path(w, "doc.bin"), *out = afs_test_path(w->root, "out");
    hsmd_counters n;
    daemon_start(w);
    assert_int_equal(sh("cat '%s' > '%s'", src, out), 0);
    assert_bytes(out, 2, 0, 3 * MIB + 7);
    /* Every chunk was read: a normal file again, and no longer watched. */
    assert_int_equal(state_of(w, "doc.bin"), AFS_TIER_STATE_FULL);
    hsmd_counters_get(w->d, &n);
    assert_true(n.recalls_ok >= 1);
    assert_int_equal(n.denied, 0);
    assert_int_equal(n.timeouts, 0);
    assert_int_equal(n.marks, 2);
    assert_int_equal(n.unmarks, 1);
    free(src);
    free(out);
}

static void test_hsmd__dd_at_an_offset_recalls_only_the_touched_chunk(void **state)
{
    world *w = *state;
    char *src = data_path(w, "movie.bin"), *out = afs_test_path(w->root, "out");
    afs_tier_info info;
    daemon_start(w);
    /* 4 KiB at 5 MiB + 8 KiB: only the chunk [5 MiB, 6 MiB) comes back. */
    assert_int_equal(sh("dd if='%s' of='%s' bs=4096 skip=1282 count=1 status=none", src, out),
                     0);
    assert_bytes(out, 1, 5 * MIB + 8192, 4096);
    info = query(w, "movie.bin");
    assert_int_equal(info.state, AFS_TIER_STATE_PARTIAL);
    assert_int_equal(info.range_count, 1);
    assert_int_equal(info.ranges[0], 5 * MIB);
    assert_int_equal(info.ranges[1], MIB);
    assert_int_equal(info.recalled_bytes, MIB);
    afs_tier_info_clear(&info);
    /* The tail, which ends inside the last chunk. */
    assert_int_equal(child_pread(src, 8 * MIB + 50, 50, 1), 0);
    info = query(w, "movie.bin");
    assert_int_equal(info.range_count, 2);
    assert_int_equal(info.ranges[2], 8 * MIB);
    assert_int_equal(info.ranges[3], 100);
    afs_tier_info_clear(&info);
    free(src);
    free(out);
}

static void test_hsmd__python_read_and_mmap_get_the_right_bytes(void **state)
{
    world *w = *state;
    char *src = data_path(w, "movie.bin"), *out = afs_test_path(w->root, "out");
    afs_tier_info info;
    daemon_start(w);
    /* A seek and a read, then a read through mmap, in another chunk. */
    assert_int_equal(sh("python3 -c 'import mmap,sys\n"
                        "f = open(sys.argv[1], \"rb\"); f.seek(%u); a = f.read(3000)\n"
                        "m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)\n"
                        "sys.stdout.buffer.write(a + m[%u:%u])' '%s' > '%s'",
                        3 * MIB + 17, 7 * MIB + 5, 7 * MIB + 5 + 1000, src, out),
                     0);
    {
        size_t n = 0;
        unsigned char *got = (unsigned char *)afs_test_read_file(out, &n);
        assert_int_equal(n, 4000);
        for (size_t i = 0; i < 3000; i++)
            assert_int_equal(got[i], byte_at(1, 3 * MIB + 17 + i));
        for (size_t i = 0; i < 1000; i++)
            assert_int_equal(got[3000 + i], byte_at(1, 7 * MIB + 5 + i));
        free(got);
    }
    /* mmap() of the whole file reports the whole file: it is all recalled. */
    info = query(w, "movie.bin");
    assert_int_equal(info.state, AFS_TIER_STATE_FULL);
    afs_tier_info_clear(&info);
    free(src);
    free(out);
}

static void test_hsmd__a_write_into_a_placeholder_recalls_it_whole_first(void **state)
{
    world *w = *state;
    char *src = data_path(w, "movie.bin");
    unsigned char *want = content(1, 8 * MIB + 100);
    size_t n = 0;
    unsigned char *got;
    daemon_start(w);
    /* Overwrite 5 bytes in the middle without truncating. */
    assert_int_equal(sh("printf HELLO | dd of='%s' bs=1 seek=%u conv=notrunc status=none", src,
                        4 * MIB + 3), 0);
    assert_int_equal(state_of(w, "movie.bin"), AFS_TIER_STATE_FULL);
    daemon_stop(w);
    memcpy(want + 4 * MIB + 3, "HELLO", 5);
    got = (unsigned char *)afs_test_read_file(src, &n);
    assert_int_equal(n, 8 * MIB + 100);
    assert_memory_equal(got, want, n); /* every other byte is the cloud's */
    free(got);
    free(want);
    free(src);
}

static void test_hsmd__cp_gives_an_identical_copy(void **state)
{
    world *w = *state;
    char *src = data_path(w, "movie.bin"), *out = afs_test_path(w->root, "copy.bin");
    daemon_start(w);
    assert_int_equal(sh("cp '%s' '%s'", src, out), 0);
    assert_bytes(out, 1, 0, 8 * MIB + 100);
    assert_int_equal(sh("cmp -s '%s' '%s'", src, out), 0);
    free(src);
    free(out);
}

static void test_hsmd__concurrent_readers_trigger_one_recall(void **state)
{
    world *w = *state;
    char *src = data_path(w, "movie.bin");
    unsigned lat = 300000; /* 0.3 s per storage read: the readers overlap */
    pid_t kids[6];
    uint64_t before;
    daemon_start(w);
    hsmd_each_group(w->d, latency_all, &lat);
    before = daemon_storage_reads(w);
    for (int i = 0; i < 6; i++) {
        kids[i] = fork();
        assert_true(kids[i] >= 0);
        if (kids[i] == 0) {
            unsigned char buf[4096];
            reader_child();
            int fd = open(src, O_RDONLY);
            ssize_t r = pread(fd, buf, sizeof(buf), (off_t)(2 * MIB + 4096 * (unsigned)i));
            if (r != (ssize_t)sizeof(buf))
                _exit(1);
            for (size_t k = 0; k < sizeof(buf); k++)
                if (buf[k] != byte_at(1, 2 * MIB + 4096 * (unsigned)i + k))
                    _exit(2);
            _exit(0);
        }
    }
    for (int i = 0; i < 6; i++) {
        int st;
        assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    /* Six readers of one chunk: it was fetched from the cloud once. */
    assert_int_equal(daemon_storage_reads(w) - before, 1);
    free(src);
}

static void test_hsmd__a_storage_error_gives_the_reader_eio_not_zeros(void **state)
{
    world *w = *state;
    char *src = data_path(w, "doc.bin"), *out = afs_test_path(w->root, "out");
    int code = AFS_EIO;
    afs_tier_info info;
    hsmd_counters n;
    daemon_start(w);
    hsmd_each_group(w->d, fault_all, &code);
    assert_int_equal(child_pread(src, 100, 1000, 2), EIO);
    assert_int_not_equal(sh("cat '%s' > '%s' 2>/dev/null", src, out), 0);
    info = query(w, "doc.bin");
    assert_int_equal(info.state, AFS_TIER_STATE_TIERED); /* nothing recorded */
    afs_tier_info_clear(&info);
    hsmd_counters_get(w->d, &n);
    assert_true(n.denied >= 2);
    /* The cloud is back: the same read works. */
    code = 0;
    hsmd_each_group(w->d, fault_all, &code);
    assert_int_equal(child_pread(src, 100, 1000, 2), 0);
    free(src);
    free(out);
}

static void test_hsmd__no_space_gives_the_reader_enospc(void **state)
{
    world *w = *state;
    char *src = data_path(w, "doc.bin"), *filler = afs_test_path(w->root, "filler");
    struct statvfs v;
    int fd;
    daemon_start(w);
    /* Leave less than a chunk free on the image. */
    assert_int_equal(statvfs(w->root, &v), 0);
    fd = open(filler, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(fallocate(fd, 0, 0, (off_t)((uint64_t)v.f_bavail * v.f_frsize - MIB / 2)),
                     0);
    close(fd);
    assert_int_equal(child_pread(src, 0, 4096, 2), ENOSPC);
    assert_int_equal(state_of(w, "doc.bin"), AFS_TIER_STATE_TIERED);
    unlink(filler);
    assert_int_equal(child_pread(src, 0, 4096, 2), 0); /* space again: served */
    free(filler);
    free(src);
}

static void test_hsmd__a_changed_cloud_copy_gives_eio(void **state)
{
    world *w = *state;
    char *src = data_path(w, "doc.bin");
    char *cloud = afs_test_path(w->fe.env.share, "doc.bin");
    unsigned char *other = content(9, 3 * MIB + 7);
    daemon_start(w);
    /* Another server replaced the file in the share: the etag no longer matches. */
    afs_test_write_file(cloud, other, 3 * MIB + 7);
    assert_int_equal(child_pread(src, 0, 4096, 2), EIO);
    assert_int_equal(state_of(w, "doc.bin"), AFS_TIER_STATE_TIERED);
    free(other);
    free(cloud);
    free(src);
}

static void test_hsmd__a_hanging_storage_is_answered_within_the_timeout(void **state)
{
    world *w = *state;
    char *src = data_path(w, "doc.bin");
    unsigned lat = 2500000; /* 2.5 s per storage read */
    hsmd_config cfg;
    hsmd_counters n;
    struct timespec a, b;
    double took;
    hsmd_config_defaults(&cfg);
    cfg.answer_timeout_ms = 500;
    daemon_start_with(w, &cfg);
    hsmd_each_group(w->d, latency_all, &lat);
    clock_gettime(CLOCK_MONOTONIC, &a);
    assert_int_equal(child_pread(src, 0, 4096, 2), EIO);
    clock_gettime(CLOCK_MONOTONIC, &b);
    took = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    assert_true(took < 2.0); /* answered by the watchdog, not by the storage */
    hsmd_counters_get(w->d, &n);
    assert_int_equal(n.timeouts, 1);
    /* The recall goes on behind the answer; what it fetched serves the next read. */
    usleep((useconds_t)((3.0 - took) * 1e6));
    assert_int_equal(child_pread(src, 0, 4096, 2), 0);
    hsmd_counters_get(w->d, &n);
    assert_int_equal(n.timeouts, 1);
    free(src);
}

static void test_hsmd__restart_keeps_placeholders_and_reads_without_a_daemon_are_zeros(
    void **state)
{
    world *w = *state;
    char *src = data_path(w, "doc.bin"), *out = afs_test_path(w->root, "out");
    afs_recall_host_info hi = { AFS_RECALL_HOST_INFO_VERSION, 0, 0, 0 };
    unsigned char buf[4096], zero[4096];
    unsigned lat = 1500000;
    pid_t kid;
    int fd, st;

    /* No daemon: the placeholder reads as its sparse zeros (documented). */
    AFS_ASSERT_OK(afs_recall_host_query(&hi, w->s->svc));
    assert_int_equal(hi.active, 0);
    fd = open(src, O_RDONLY);
    assert_true(fd >= 0);
    memset(zero, 0, sizeof(zero));
    assert_int_equal(pread(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
    assert_memory_equal(buf, zero, sizeof(buf));
    close(fd);
    assert_int_equal(state_of(w, "doc.bin"), AFS_TIER_STATE_TIERED);

    /* A daemon killed in the middle of a recall: the file stays a valid placeholder. */
    kid = fork();
    assert_true(kid >= 0);
    if (kid == 0) {
        hsmd *d;
        hsmd_config cfg;
        die_with_parent();
        hsmd_config_defaults(&cfg);
        cfg.state_dir = w->s->state;
        if (hsmd_start(&d, &cfg) != 0)
            _exit(1);
        hsmd_each_group(d, latency_all, &lat);
        if (write(STDOUT_FILENO, "", 0) < 0)
            _exit(1);
        for (;;)
            pause();
    }
    for (int i = 0; i < 100; i++) { /* wait for the child's claim */
        AFS_ASSERT_OK(afs_recall_host_query(&hi, w->s->svc));
        if (hi.active)
            break;
        usleep(50000);
    }
    assert_int_equal(hi.active, 1);
    assert_int_equal(hi.pid, kid);
    usleep(300000); /* its latency is set */
    {
        pid_t reader = fork();
        if (reader == 0) {
            int rfd;
            reader_child();
            rfd = open(src, O_RDONLY);
            unsigned char b2[4096];
            _exit(pread(rfd, b2, sizeof(b2), 0) < 0 ? 1 : 0);
        }
        usleep(500000); /* the recall is under way, held by the storage */
        kill(kid, SIGKILL);
        assert_int_equal(waitpid(kid, &st, 0), kid);
        assert_int_equal(waitpid(reader, &st, 0), reader);
    }
    AFS_ASSERT_OK(afs_recall_host_query(&hi, w->s->svc));
    assert_int_equal(hi.active, 0); /* the crash left no stale claim */
    assert_int_equal(state_of(w, "doc.bin"), AFS_TIER_STATE_TIERED);

    /* Restarted: the same file reads right. */
    daemon_start(w);
    AFS_ASSERT_OK(afs_recall_host_query(&hi, w->s->svc));
    assert_int_equal(hi.active, 1);
    assert_int_equal(hi.pid, getpid());
    assert_int_equal(sh("cat '%s' > '%s'", src, out), 0);
    assert_bytes(out, 2, 0, 3 * MIB + 7);
    daemon_stop(w);
    AFS_ASSERT_OK(afs_recall_host_query(&hi, w->s->svc));
    assert_int_equal(hi.active, 0);
    free(src);
    free(out);
}

static void test_hsmd__an_endpoint_on_tmpfs_is_not_served_the_others_are(void **state)
{
    world *w = *state;
    char tmpl[] = "/dev/shm/afs-hsmd-XXXXXX";
    char *share2 = afs_test_path(w->root, "share2"), *uri2, *src = data_path(w, "doc.bin");
    afs_endpoint_options o = AFS_ENDPOINT_OPTIONS_INIT;
    afs_group *g2 = NULL;
    afs_endpoint *ep2 = NULL;
    char *shm = mkdtemp(tmpl);
    if (!shm)
        skip(); /* no tmpfs to try */
    afs_test_mkdirs(share2);
    uri2 = afs_test_fault_uri(share2);
    o.tiering_enabled = 1;
    AFS_ASSERT_OK(afs_group_create(&g2, w->s->svc, "OnTmpfs", uri2));
    AFS_ASSERT_OK(afs_endpoint_create(&ep2, g2, shm, &o));
    daemon_start(w);
    assert_int_equal(hsmd_endpoint_count(w->d), 1); /* tmpfs has no pre-content events */
    assert_int_equal(child_pread(src, 0, 4096, 2), 0);
    daemon_stop(w);
    afs_endpoint_close(ep2);
    afs_group_close(g2);
    rmdir(shm);
    free(uri2);
    free(share2);
    free(src);
}

static void test_hsmd__a_second_daemon_is_refused(void **state)
{
    world *w = *state;
    hsmd *other = NULL;
    hsmd_config cfg;
    daemon_start(w);
    memset(&cfg, 0, sizeof(cfg));
    cfg.state_dir = w->s->state;
    AFS_ASSERT_CODE(hsmd_start(&other, &cfg), AFS_EBUSY);
    assert_null(other);
    assert_non_null(strstr(afs_error_last(), "another recall host"));
}

/* The heat store's access count of a file (0 if it has no row). */
static uint64_t access_count(world *w, const char *rel)
{
    afs_heat_list_options o = AFS_HEAT_LIST_OPTIONS_INIT;
    afs_heat_entry **list = NULL;
    size_t n = 0;
    uint64_t count = 0;
    char *abs = data_path(w, rel);
    o.order = AFS_HEAT_LAST_ACCESS;
    o.limit = 0;
    AFS_ASSERT_OK(afs_heat_list(w->s->svc, w->s->data, &o, &list, &n));
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i]->path, abs) == 0)
            count = list[i]->access_count;
    afs_heat_entries_free(list, n);
    free(abs);
    return count;
}

static void test_hsmd__excluded_processes_do_not_count_as_heat(void **state)
{
    world *w = *state;
    char *movie = data_path(w, "movie.bin"), *doc = data_path(w, "doc.bin");
    const char *names[] = { "cat" };
    hsmd_config cfg;
    hsmd_config_defaults(&cfg);
    cfg.no_heat = names;
    cfg.no_heat_count = 1;
    daemon_start_with(w, &cfg);
    assert_int_equal(access_count(w, "movie.bin"), 0);
    assert_int_equal(access_count(w, "doc.bin"), 0);
    assert_int_equal(sh("cat '%s' > /dev/null", movie), 0);
    assert_int_equal(sh("dd if='%s' of=/dev/null bs=1M count=1 status=none", doc), 0);
    /* Accesses are reported after the answer: wait for dd's. */
    for (int i = 0; i < 100 && access_count(w, "doc.bin") == 0; i++)
        usleep(20000);
    hsmd_stop(w->d); /* every report is in */
    w->d = NULL;
    assert_int_equal(access_count(w, "doc.bin"), 1);   /* dd counts, once */
    assert_int_equal(access_count(w, "movie.bin"), 0); /* "cat" is excluded */
    assert_int_equal(state_of(w, "movie.bin"), AFS_TIER_STATE_FULL); /* but served */
    free(movie);
    free(doc);
}

static void test_hsmd__complete_files_raise_no_events(void **state)
{
    world *w = *state;
    char *hot = data_path(w, "hot.bin"), *out = afs_test_path(w->root, "out");
    hsmd_counters a, b;
    daemon_start(w);
    hsmd_counters_get(w->d, &a);
    assert_int_equal(sh("cat '%s' > '%s'", hot, out), 0);
    assert_bytes(out, 3, 0, 2 * MIB);
    hsmd_counters_get(w->d, &b);
    assert_int_equal(b.events, a.events);
    free(hot);
    free(out);
}

static void test_hsmd__a_file_tiered_while_running_is_served(void **state)
{
    world *w = *state;
    char *hot = data_path(w, "hot.bin");
    hsmd_counters n;
    daemon_start(w);
    tier(w, "hot.bin");
    /* The marker change reaches the daemon as FAN_ATTRIB; give it a moment.
     * Tiering writes the marker twice (pending, then exact): the daemon may
     * mark the file once for each (an idempotent mark). */
    for (int i = 0; i < 100; i++) {
        hsmd_counters_get(w->d, &n);
        if (n.marks >= 3)
            break;
        usleep(20000);
    }
    assert_true(n.marks >= 3);
    assert_int_equal(child_pread(hot, MIB + 10, 5000, 3), 0);
    free(hot);
}

/* ---- another process recalls or tiers while the daemon serves (test_hsmd.c --act) ---- */

/*
 * The other process: this test program run again as
 * `test_hsmd --act recall|tier STATE_DIR REL`, with its own service on the
 * server's state directory and the POSIX filesystem, as `afs recall` and
 * `afs tier` are. Exit 0 on success, 1 with the message on stderr.
 */
static int act_main(const char *what, const char *state_dir, const char *rel)
{
    afs_service *svc = NULL;
    afs_group *g = NULL;
    afs_endpoint *ep = NULL;
    int rc;
    afs_test_faultscheme_register(1);
    if ((rc = afs_service_open(&svc, state_dir, NULL)) == 0 &&
        (rc = afs_group_open(&g, svc, "group1", NULL)) == 0 &&
        (rc = afs_endpoint_open(&ep, g)) == 0) {
        if (strcmp(what, "recall") == 0) {
            afs_recall_options o = AFS_RECALL_OPTIONS_INIT;
            o.threads = 4;
            rc = afs_tier_recall(ep, rel, &o, NULL);
        } else {
            rc = afs_tier_file(ep, rel, NULL);
        }
    }
    if (rc != 0)
        fprintf(stderr, "test_hsmd --act %s %s: %s\n", what, rel, afs_error_last());
    afs_endpoint_close(ep);
    afs_group_close(g);
    afs_service_close(svc);
    return rc == 0 ? 0 : 1;
}

static pid_t act_spawn(world *w, const char *what, const char *rel)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        reader_child();
        execl("/proc/self/exe", "test_hsmd", "--act", what, w->s->state, rel, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_hsmd__a_recall_by_another_process_while_readers_read(void **state)
{
    world *w = *state;
    char *movie = data_path(w, "movie.bin");
    unsigned lat = 150000; /* the daemon's chunks arrive while the other recall writes */
    hsmd_counters n;
    pid_t readers[6], recaller;
    int64_t t0;
    daemon_start(w);
    hsmd_each_group(w->d, latency_all, &lat);
    t0 = now_ms();
    for (int i = 0; i < 3; i++)
        readers[i] = pread_spawn(movie, (uint64_t)i * 3 * MIB + 4096, 64 * 1024, 1);
    recaller = act_spawn(w, "recall", "movie.bin");
    for (int i = 3; i < 6; i++)
        readers[i] = pread_spawn(movie, (uint64_t)(i - 3) * 2 * MIB + 777, 300 * 1024, 1);
    /* No reader waits for the watchdog, none gets EIO or wrong bytes, the recall
     * is not disturbed by the daemon answering its own writes. */
    for (int i = 0; i < 6; i++)
        assert_int_equal(reap_status(readers[i]), 0);
    assert_int_equal(reap_status(recaller), 0);
    hsmd_counters_get(w->d, &n);
    assert_int_equal(n.timeouts, 0);
    assert_true(now_ms() - t0 < 10000);
    assert_int_equal(state_of(w, "movie.bin"), AFS_TIER_STATE_FULL);
    assert_bytes(movie, 1, 0, 8 * MIB + 100);
    free(movie);
}

static void test_hsmd__a_file_tiered_by_another_process_while_running_stays_right(void **state)
{
    world *w = *state;
    char *hot = data_path(w, "hot.bin");
    hsmd_counters n;
    char *doc = data_path(w, "doc.bin");
    daemon_start(w);
    assert_int_equal(reap_status(act_spawn(w, "tier", "hot.bin")), 0);
    assert_int_equal(state_of(w, "hot.bin"), AFS_TIER_STATE_TIERED);
    /* A partly recalled placeholder the daemon watches, tiered again from outside:
     * its punch must not wait for the daemon. */
    assert_int_equal(child_pread(doc, 2 * MIB + 5, 100, 2), 0);
    assert_int_equal(state_of(w, "doc.bin"), AFS_TIER_STATE_PARTIAL);
    assert_int_equal(reap_status(act_spawn(w, "tier", "doc.bin")), 0);
    assert_int_equal(state_of(w, "doc.bin"), AFS_TIER_STATE_TIERED);
    hsmd_counters_get(w->d, &n);
    assert_int_equal(n.timeouts, 0);
    assert_int_equal(child_pread(hot, MIB + 10, 5000, 3), 0);
    assert_int_equal(child_pread(doc, 10, 5000, 2), 0);
    free(hot);
    free(doc);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hsmd__cat_reads_the_right_bytes_and_recalls_the_file,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_hsmd__dd_at_an_offset_recalls_only_the_touched_chunk,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_hsmd__cp_gives_an_identical_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_hsmd__a_write_into_a_placeholder_recalls_it_whole_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hsmd__python_read_and_mmap_get_the_right_bytes,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_hsmd__concurrent_readers_trigger_one_recall, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_hsmd__a_storage_error_gives_the_reader_eio_not_zeros,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_hsmd__a_changed_cloud_copy_gives_eio, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_hsmd__no_space_gives_the_reader_enospc, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_hsmd__a_hanging_storage_is_answered_within_the_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_hsmd__restart_keeps_placeholders_and_reads_without_a_daemon_are_zeros, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_hsmd__a_second_daemon_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_hsmd__an_endpoint_on_tmpfs_is_not_served_the_others_are, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hsmd__excluded_processes_do_not_count_as_heat,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_hsmd__complete_files_raise_no_events, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_hsmd__a_file_tiered_while_running_is_served, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_hsmd__a_recall_by_another_process_while_readers_read,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_hsmd__a_file_tiered_by_another_process_while_running_stays_right, setup,
            teardown),
    };
    int rc;
    if (argc == 5 && strcmp(argv[1], "--act") == 0)
        return act_main(argv[2], argv[3], argv[4]);
    if (image_up() != 0 || kernel_has_pre_content() != 0) {
        image_down();
        return 77;
    }
    if (getenv("AFS_TEST_FILTER")) /* run the tests whose name matches this glob */
        cmocka_set_test_filter(getenv("AFS_TEST_FILTER"));
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    image_down();
    return rc;
}

/*
 * Writes around tiering: a program that writes into a placeholder right
 * after it was made keeps its write (the marker is exact, no time window),
 * a file another process holds open is not tiered (a write lease), and a
 * crash between marker and punch still repairs. Endpoints live on a test
 * volume (tests/support/tierfs.h) over the sandbox's local file system,
 * which has leases.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
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

#define KiB 1024u
#define SIZE (256u * KiB)
#define DAY_S 86400L

typedef struct wenv {
    char *root, *vol, *state, *share, *data;
    afs_fs *fs, *top;
    afs_test_tierfs *tfs;
    afs_test_fault *fault;
    afs_service *svc;
    afs_group *g;
    afs_endpoint *ep;
    bool tmpfs;      /* the volume is a tmpfs mounted for the test */
} wenv;

/* Run "mount ..." or "umount ..." on `dir`; its exit status. */
static int mount_cmd(const char *what, const char *dir)
{
    char *cmd = malloc(strlen(dir) + 80);
    int rc;
    assert_non_null(cmd);
    sprintf(cmd, "%s %s 2>/dev/null", what, dir);
    rc = system(cmd);
    free(cmd);
    return rc;
}

/* Remove the sandbox (when `remove`) and free `e` with its paths. */
static void env_paths_free(wenv *e, bool remove)
{
    if (remove)
        afs_test_rmtree(e->root);
    free(e->share);
    free(e->data);
    free(e->vol);
    free(e->state);
    free(e->root);
    free(e);
}

/* `on_tmpfs`: the volume is a tmpfs (needs root; NULL when it cannot be mounted). */
static wenv *env_new_on(const char *name, bool with_fault, bool on_tmpfs)
{
    afs_service_options so = AFS_SERVICE_OPTIONS_INIT;
    wenv *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    afs_test_tier_dirs(name, &e->root, &e->vol, &e->state, &e->share, &e->data);
    afs_test_mkdirs(e->vol);
    if (on_tmpfs && mount_cmd("mount -t tmpfs -o size=64m afs-test", e->vol) != 0) {
        env_paths_free(e, true);
        return NULL;
    }
    e->tmpfs = on_tmpfs;
    afs_test_mkdirs(e->data);
    AFS_ASSERT_OK(afs_test_tierfs_new(&e->fs, e->vol, 0, &e->tfs));
    e->top = e->fs;
    if (with_fault)
        AFS_ASSERT_OK(afs_test_fault_fs_new(&e->top, e->fs, &e->fault));
    so.fs = e->top;
    AFS_ASSERT_OK(afs_service_open(&e->svc, e->state, &so));
    AFS_ASSERT_OK(afs_server_register(e->svc, "ServerA"));
    return e;
}

static wenv *env_new(const char *name, bool with_fault)
{
    return env_new_on(name, with_fault, false);
}

/* The endpoint, tiering on with a 60-day date policy. */
static void env_endpoint(wenv *e)
{
    afs_endpoint_options o = AFS_ENDPOINT_OPTIONS_INIT;
    o.tiering_enabled = 1;
    o.tiering_free_space_percent = 1;
    o.tiering_date_days = 60;
    AFS_ASSERT_OK(afs_group_create(&e->g, e->svc, "group", e->share));
    AFS_ASSERT_OK(afs_endpoint_create(&e->ep, e->g, e->data, &o));
}

static afs_sync_result env_sync(wenv *e)
{
    afs_sync_result r = AFS_SYNC_RESULT_INIT;
    AFS_ASSERT_OK(afs_endpoint_sync(e->ep, NULL, &r));
    return r;
}

static void env_free(wenv *e)
{
    afs_endpoint_close(e->ep);
    afs_group_close(e->g);
    afs_service_close(e->svc);
    if (e->top != e->fs)
        afs_fs_free(e->top);
    afs_fs_free(e->fs);
    if (e->tmpfs)
        assert_int_equal(mount_cmd("umount", e->vol), 0);
    env_paths_free(e, !getenv("AFS_TEST_KEEP"));
    afs_error_clear();
}

/* `size` bytes of a pattern picked by `seed`, written `age_days` ago. */
static void mkfile(const char *dir, const char *rel, uint32_t seed, long age_days)
{
    char *p = afs_test_path(dir, rel);
    unsigned char *buf = malloc(SIZE);
    struct timespec ts[2];
    assert_non_null(buf);
    for (size_t i = 0; i < SIZE; i++)
        buf[i] = (unsigned char)((i * 2654435761u + seed) >> 13);
    afs_test_write_file(p, buf, SIZE);
    ts[0].tv_sec = ts[1].tv_sec = time(NULL) - age_days * DAY_S;
    ts[0].tv_nsec = ts[1].tv_nsec = 0;
    assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
    free(buf);
    free(p);
}

static bool same_content(const char *a_dir, const char *b_dir, const char *rel)
{
    size_t la = 0, lb = 0;
    char *pa = afs_test_path(a_dir, rel), *pb = afs_test_path(b_dir, rel);
    char *a = afs_test_read_file(pa, &la), *b = afs_test_read_file(pb, &lb);
    bool same = a && b && la == lb && memcmp(a, b, la) == 0;
    free(a);
    free(b);
    free(pa);
    free(pb);
    return same;
}

/* Write `len` bytes of `text` at `off`, as a program does. */
static void pwrite_file(const char *dir, const char *rel, uint64_t off, const char *text,
                        int flags)
{
    char *p = afs_test_path(dir, rel);
    int fd = open(p, O_WRONLY | flags);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, text, strlen(text), (off_t)off), (ssize_t)strlen(text));
    assert_int_equal(close(fd), 0);
    free(p);
}

static bool starts_with(const char *dir, const char *rel, const char *text)
{
    size_t len = 0;
    char *p = afs_test_path(dir, rel);
    char *got = afs_test_read_file(p, &len);
    bool ok = got && len >= strlen(text) && memcmp(got, text, strlen(text)) == 0;
    free(got);
    free(p);
    return ok;
}

static void set_mtime(const char *dir, const char *rel, int64_t ns)
{
    char *p = afs_test_path(dir, rel);
    struct timespec ts[2];
    ts[0].tv_sec = 0;
    ts[0].tv_nsec = UTIME_OMIT;
    ts[1].tv_sec = (time_t)(ns / 1000000000LL);
    ts[1].tv_nsec = (long)(ns % 1000000000LL);
    assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
    free(p);
}

/* An endpoint holding `rel` (pattern `seed`, 61 days old), uploaded. */
static wenv *synced_file_on(const char *name, bool with_fault, bool on_tmpfs, const char *rel,
                            uint32_t seed)
{
    wenv *e = env_new_on(name, with_fault, on_tmpfs);
    afs_sync_result r;
    if (!e)
        return NULL;
    env_endpoint(e);
    mkfile(e->data, rel, seed, 61);
    r = env_sync(e);
    assert_int_equal(r.item_errors, 0);
    return e;
}

static wenv *synced_file(const char *name, bool with_fault, const char *rel, uint32_t seed)
{
    return synced_file_on(name, with_fault, false, rel, seed);
}

/* A share holding `rel`, downloaded as a placeholder (namespace only). */
static wenv *fresh_placeholder(const char *name, const char *rel)
{
    wenv *e = env_new(name, false);
    afs_sync_result r;
    mkfile(e->share, rel, 7, 3);
    env_endpoint(e);
    r = env_sync(e);
    assert_int_equal(r.item_errors, 0);
    assert_int_equal(afs_test_tier_state(e->ep, rel), AFS_TIER_STATE_TIERED);
    return e;
}

/* ---- 1. writes right after a placeholder was made ---- */

/* The rule itself: exact markers have no window; pending and version 1 ones keep it. */
static void test_tier_writes__exact_pending_and_version_1_markers(void **s)
{
    afs__marker m, back;
    unsigned char buf[AFS_FS_MARKER_MAX];
    size_t len = 0;
    int64_t t = 1700000000000000000LL, sec = 1000000000LL;
    (void)s;
    memset(&m, 0, sizeof(m));
    m.size = SIZE;
    m.mtime_ns = t - 86400 * sec;
    m.tiered_ns = t;
    snprintf(m.etag, sizeof(m.etag), "\"e1\"");
    m.path = "a.bin";
    AFS_ASSERT_OK(afs__marker_encode(&m, buf, sizeof(buf), &len));
    AFS_ASSERT_OK(afs__marker_decode(buf, len, "a.bin", &back));
    assert_int_equal(back.version, 2);
    /* Exact: the marker's time is untouched; any other is a write, even 0.1 s later. */
    assert_false(afs__marker_written(&back, SIZE, m.mtime_ns));
    assert_true(afs__marker_written(&back, SIZE, t + sec / 10));
    assert_true(afs__marker_written(&back, SIZE + 1, m.mtime_ns));
    /* Pending (a tiering not finished): a time near the tiering time is the crash's. */
    back.flags |= AFS__MARKER_PENDING;
    assert_false(afs__marker_written(&back, SIZE, t + sec / 10));
    assert_true(afs__marker_written(&back, SIZE, t + 6 * sec));
    afs__marker_clear(&back);
    /* A version 1 marker (earlier libafs) is still read, with the old rule. */
    buf[4] = 1;
    buf[len - 4] = (unsigned char)afs__crc32(0, buf, len - 4);
    buf[len - 3] = (unsigned char)(afs__crc32(0, buf, len - 4) >> 8);
    buf[len - 2] = (unsigned char)(afs__crc32(0, buf, len - 4) >> 16);
    buf[len - 1] = (unsigned char)(afs__crc32(0, buf, len - 4) >> 24);
    AFS_ASSERT_OK(afs__marker_decode(buf, len, "a.bin", &back));
    assert_int_equal(back.version, 1);
    assert_false(afs__marker_written(&back, SIZE, t + sec / 10));
    assert_true(afs__marker_written(&back, SIZE, t + 6 * sec));
    afs__marker_clear(&back);
    /* A version from the future is refused, the file left alone. */
    buf[4] = 3;
    AFS_ASSERT_CODE(afs__marker_decode(buf, len, "a.bin", &back), AFS_ECORRUPT);
}

static void test_tier_writes__a_write_into_a_fresh_placeholder_is_never_recalled_over(void **s)
{
    wenv *e = fresh_placeholder("tw-fresh", "doc.bin");
    afs_sync_result r;
    (void)s;
    /* 0.1 s after the download, a program writes 5 bytes into the placeholder. */
    usleep(100000);
    pwrite_file(e->data, "doc.bin", 0, "USER!", 0);
    /* A recall would fetch the cloud's bytes over them: refused. */
    AFS_ASSERT_CODE(afs_tier_recall(e->ep, "doc.bin", NULL, NULL), AFS_ECONDITION);
    assert_true(starts_with(e->data, "doc.bin", "USER!"));
    /* The sync neither uploads its holes nor "repairs" it. */
    r = env_sync(e);
    assert_int_equal(r.item_errors, 1);
    assert_true(starts_with(e->data, "doc.bin", "USER!"));
    assert_false(starts_with(e->share, "doc.bin", "USER!"));
    env_free(e);
}

static void rewrite_in_full(wenv *e, const char *rel, bool time_back)
{
    int64_t marker_mtime = afs_test_mtime_ns(e->data, rel);
    char *text = malloc(SIZE + 1);
    assert_non_null(text);
    memset(text, 'u', SIZE);
    text[SIZE] = '\0';
    memcpy(text, "USER!", 5);
    usleep(100000);
    pwrite_file(e->data, rel, 0, text, O_TRUNC);
    free(text);
    if (time_back) /* the program sets the write time back: only the ctime moved */
        set_mtime(e->data, rel, marker_mtime);
}

static void rewritten_in_full_is_uploaded(const char *name, bool time_back)
{
    wenv *e = fresh_placeholder(name, "doc.bin");
    afs_sync_result r;
    rewrite_in_full(e, "doc.bin", time_back);
    /* A recall (a host's, or the content step) fetches nothing over it. */
    AFS_ASSERT_OK(afs_tier_recall(e->ep, "doc.bin", NULL, NULL));
    assert_true(starts_with(e->data, "doc.bin", "USER!"));
    assert_int_equal(afs_test_tier_state(e->ep, "doc.bin"), AFS_TIER_STATE_FULL);
    r = env_sync(e);
    assert_int_equal(r.item_errors, 0);
    assert_true(same_content(e->data, e->share, "doc.bin"));
    assert_true(starts_with(e->share, "doc.bin", "USER!"));
    env_free(e);
}

static void test_tier_writes__a_fresh_placeholder_rewritten_in_full_is_uploaded(void **s)
{
    (void)s;
    rewritten_in_full_is_uploaded("tw-full", false);
}

static void test_tier_writes__rewritten_with_its_write_time_set_back_is_uploaded(void **s)
{
    (void)s;
    rewritten_in_full_is_uploaded("tw-timeback", true);
}

static void test_tier_writes__a_write_right_after_tiering_is_the_users(void **s)
{
    wenv *e = synced_file("tw-tiered", false, "old.bin", 9);
    afs_sync_result r;
    (void)s;
    AFS_ASSERT_OK(afs_tier_file(e->ep, "old.bin", NULL));
    assert_int_equal(afs_test_tier_state(e->ep, "old.bin"), AFS_TIER_STATE_TIERED);
    pwrite_file(e->data, "old.bin", 100, "USER!", 0);
    AFS_ASSERT_CODE(afs_tier_recall(e->ep, "old.bin", NULL, NULL), AFS_ECONDITION);
    r = env_sync(e);
    assert_int_equal(r.item_errors, 1);
    {
        size_t len = 0;
        char *p = afs_test_path(e->data, "old.bin");
        char *got = afs_test_read_file(p, &len);
        assert_int_equal(len, SIZE);
        assert_memory_equal(got + 100, "USER!", 5);
        free(got);
        free(p);
    }
    env_free(e);
}

/* `path` holds SIZE bytes and then `tail`: nothing of a program's append lost. */
static void assert_appended(const char *path, const char *tail)
{
    size_t len = 0;
    char *got = afs_test_read_file(path, &len);
    assert_int_equal(len, SIZE + strlen(tail));
    assert_memory_equal(got + SIZE, tail, strlen(tail));
    free(got);
}

/* A marker that records every byte (the recalls wrote it all, the last to
 * finish had not removed it yet) and a program's append: a recall then has
 * nothing to fetch and keeps the appended bytes. */
static void test_tier_writes__an_append_to_a_fully_recalled_placeholder_is_kept(void **s)
{
    wenv *e = fresh_placeholder("tw-complete", "doc.bin");
    char *abs = afs_test_path(e->data, "doc.bin");
    afs__marker m;
    bool found = false;
    (void)s;
    memset(&m, 0, sizeof(m));
    AFS_ASSERT_OK(afs__marker_read(e->fs, abs, &m, &found));
    assert_true(found);
    AFS_ASSERT_OK(afs_tier_recall(e->ep, "doc.bin", NULL, NULL));
    AFS_ASSERT_OK(afs__marker_add_range(&m, 0, m.size));
    AFS_ASSERT_OK(afs__marker_write(e->fs, abs, &m));
    afs__marker_clear(&m);
    pwrite_file(e->data, "doc.bin", SIZE, "TAIL", 0);
    AFS_ASSERT_OK(afs_tier_recall(e->ep, "doc.bin", NULL, NULL));
    assert_appended(abs, "TAIL");
    assert_int_equal(afs_test_tier_state(e->ep, "doc.bin"), AFS_TIER_STATE_FULL);
    free(abs);
    env_free(e);
}

/* ---- 2. files open in another process ---- */

static pid_t hold_open(const char *path, int *release_fd)
{
    int go[2], ready[2];
    char c;
    pid_t pid;
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(ready), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(path, O_WRONLY | O_APPEND);
        close(go[1]);
        close(ready[0]);
        if (fd < 0 || write(ready[1], "r", 1) != 1)
            _exit(2);
        if (read(go[0], &c, 1) != 1)
            _exit(3);
        /* The program's later write. */
        if (write(fd, "more", 4) != 4 || close(fd) != 0)
            _exit(4);
        _exit(0);
    }
    close(go[0]);
    close(ready[1]);
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    *release_fd = go[1];
    return pid;
}

static void reap(pid_t pid)
{
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void open_for_writing_is_skipped_then_tiered(bool on_tmpfs)
{
    wenv *e = synced_file_on("tw-open", false, on_tmpfs, "log.bin", 11);
    afs_tier_pass_options po = AFS_TIER_PASS_OPTIONS_INIT;
    afs_tier_result res = AFS_TIER_RESULT_INIT;
    afs_sync_result r;
    char *p;
    int go;
    pid_t pid;
    if (!e) {
        fprintf(stderr, "SKIP: cannot mount a tmpfs (needs root); the sandbox's file system "
                        "covers the same paths\n");
        skip();
    }
    p = afs_test_path(e->data, "log.bin");
    pid = hold_open(p, &go);
    /* Forced: refused with the reason. */
    AFS_ASSERT_CODE(afs_tier_file(e->ep, "log.bin", NULL), AFS_EBUSY);
    assert_non_null(strstr(afs_error_last(), "another process has it open"));
    /* The pass (the date policy wants it): skipped. */
    AFS_ASSERT_OK(afs_tier_pass(e->ep, &po, &res));
    assert_int_equal(res.files_tiered, 0);
    assert_int_equal(res.skipped_changed, 1);
    assert_int_equal(afs_test_tier_state(e->ep, "log.bin"), AFS_TIER_STATE_FULL);
    /* The program writes and closes: nothing of it is lost. */
    assert_int_equal(write(go, "g", 1), 1);
    close(go);
    reap(pid);
    assert_appended(p, "more");
    /* Synced, and cold again (the write made it hot): the next pass tiers it. */
    set_mtime(e->data, "log.bin", (int64_t)(time(NULL) - 61 * DAY_S) * 1000000000LL);
    r = env_sync(e);
    assert_int_equal(r.item_errors, 0);
    memset(&res, 0, sizeof(res));
    res.version = AFS_TIER_RESULT_VERSION;
    AFS_ASSERT_OK(afs_tier_pass(e->ep, &po, &res));
    assert_int_equal(res.files_tiered, 1);
    assert_int_equal(afs_test_tier_state(e->ep, "log.bin"), AFS_TIER_STATE_TIERED);
    AFS_ASSERT_OK(afs_tier_recall(e->ep, "log.bin", NULL, NULL));
    assert_true(same_content(e->data, e->share, "log.bin"));
    free(p);
    env_free(e);
}

static void test_tier_writes__a_file_open_for_writing_is_skipped_then_tiered(void **s)
{
    (void)s;
    open_for_writing_is_skipped_then_tiered(false);
}

static void test_tier_writes__on_tmpfs_a_file_open_for_writing_is_skipped(void **s)
{
    (void)s;
    open_for_writing_is_skipped_then_tiered(true);
}

static wenv *opener_env;
static pid_t opener_pid;

/* While the marker is written (under the lease), another process opens the
 * file for writing: its open waits for the lease, then appends. */
static void open_during_tiering(const char *path, void *payload)
{
    (void)payload;
    afs_test_tierfs_on_marker_set(opener_env->tfs, NULL, NULL);
    opener_pid = fork();
    assert_true(opener_pid >= 0);
    if (opener_pid == 0) {
        int fd = open(path, O_WRONLY | O_APPEND);
        if (fd < 0 || write(fd, "more", 4) != 4 || close(fd) != 0)
            _exit(4);
        _exit(0);
    }
    usleep(300000); /* the child is now waiting in open() for the lease */
}

static void test_tier_writes__a_file_opened_while_it_is_tiered_is_left_whole(void **s)
{
    wenv *e = synced_file("tw-opening", false, "busy.bin", 12);
    afs_sync_result r;
    char *p;
    (void)s;
    opener_env = e;
    afs_test_tierfs_on_marker_set(e->tfs, open_during_tiering, NULL);
    AFS_ASSERT_CODE(afs_tier_file(e->ep, "busy.bin", NULL), AFS_EBUSY);
    reap(opener_pid);
    assert_int_equal(afs_test_tier_state(e->ep, "busy.bin"), AFS_TIER_STATE_FULL);
    p = afs_test_path(e->data, "busy.bin");
    assert_appended(p, "more");
    r = env_sync(e);
    assert_int_equal(r.item_errors, 0);
    assert_true(same_content(e->data, e->share, "busy.bin"));
    free(p);
    env_free(e);
}

/* ---- 3. crashes between marker and punch ---- */

static void crash_at(const char *op, uint64_t nth)
{
    wenv *e = synced_file("tw-crash", true, "precious.bin", 13);
    afs_sync_result r;
    afs_tier_info info;
    pid_t pid;
    int status = 0;
    afs_test_fault_set(e->fault, op, nth, AFS_FAULT_CRASH_AFTER, 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        afs_tier_file(e->ep, "precious.bin", NULL);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), AFS_TEST_CRASH_EXIT);
    afs_test_fault_clear(e->fault);
    /* The next session repairs what the crash left. A placeholder's holes are
     * never uploaded; a file left full (the crash came before the punch) may
     * be uploaded again, the same bytes. */
    r = env_sync(e);
    assert_int_equal(r.item_errors, 0);
    if (strcmp(op, "marker_set") != 0)
        assert_int_equal(r.files_uploaded, 0);
    assert_true(same_content(e->data, e->share, "precious.bin") ||
                afs_test_tier_state(e->ep, "precious.bin") != AFS_TIER_STATE_FULL);
    memset(&info, 0, sizeof(info));
    info.version = AFS_TIER_INFO_VERSION;
    AFS_ASSERT_OK(afs_tier_query(e->ep, "precious.bin", &info));
    if (info.state != AFS_TIER_STATE_FULL) {
        /* A placeholder whose marker is exact again: a write now is the user's. */
        assert_int_equal(info.marker[5] & AFS__MARKER_PENDING, 0);
        assert_int_equal(info.mtime_ns, afs_test_mtime_ns(e->data, "precious.bin"));
    }
    afs_tier_info_clear(&info);
    /* Every byte comes back. */
    AFS_ASSERT_OK(afs_tier_recall(e->ep, "precious.bin", NULL, NULL));
    assert_int_equal(afs_test_tier_state(e->ep, "precious.bin"), AFS_TIER_STATE_FULL);
    assert_true(same_content(e->data, e->share, "precious.bin"));
    /* Tiered again, then written: the write is the user's. */
    AFS_ASSERT_OK(afs_tier_file(e->ep, "precious.bin", NULL));
    pwrite_file(e->data, "precious.bin", 0, "USER!", 0);
    AFS_ASSERT_CODE(afs_tier_recall(e->ep, "precious.bin", NULL, NULL), AFS_ECONDITION);
    assert_true(starts_with(e->data, "precious.bin", "USER!"));
    env_free(e);
}

static void test_tier_writes__crash_after_the_pending_marker_repairs(void **s)
{
    (void)s;
    crash_at("marker_set", 1);
}

static void test_tier_writes__crash_after_the_punch_repairs(void **s)
{
    (void)s;
    crash_at("punch_hole", 1);
}

static void test_tier_writes__crash_after_the_time_is_restored_repairs(void **s)
{
    (void)s;
    crash_at("set_times", 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tier_writes__exact_pending_and_version_1_markers),
        cmocka_unit_test(test_tier_writes__a_write_into_a_fresh_placeholder_is_never_recalled_over),
        cmocka_unit_test(test_tier_writes__a_fresh_placeholder_rewritten_in_full_is_uploaded),
        cmocka_unit_test(test_tier_writes__rewritten_with_its_write_time_set_back_is_uploaded),
        cmocka_unit_test(test_tier_writes__a_write_right_after_tiering_is_the_users),
        cmocka_unit_test(test_tier_writes__an_append_to_a_fully_recalled_placeholder_is_kept),
        cmocka_unit_test(test_tier_writes__a_file_open_for_writing_is_skipped_then_tiered),
        cmocka_unit_test(test_tier_writes__on_tmpfs_a_file_open_for_writing_is_skipped),
        cmocka_unit_test(test_tier_writes__a_file_opened_while_it_is_tiered_is_left_whole),
        cmocka_unit_test(test_tier_writes__crash_after_the_pending_marker_repairs),
        cmocka_unit_test(test_tier_writes__crash_after_the_punch_repairs),
        cmocka_unit_test(test_tier_writes__crash_after_the_time_is_restored_repairs),
    };
    return cmocka_run_group_tests_name("tier_writes", tests, NULL, NULL);
}

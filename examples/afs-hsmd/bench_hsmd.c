/*
 * bench_hsmd: does the recall daemon slow access to complete files?
 * (docs/recall-daemon.md#benchmark; not a test: STYLE.md 14.)
 *
 * On an ext4 image it makes and loop-mounts (root needed), an endpoint holds
 * complete files and placeholders. The benchmark reads every complete file
 * ten times (open, read to the end in 128 KiB reads, close; warm page cache) with no
 * daemon, then with afs-hsmd's core running in a child process with every
 * placeholder marked, alternating, best of five rounds each. It also times
 * one cold recall through the daemon (cat of a placeholder). Last line:
 *   bench-hsmd files=N mib=M without_s=A with_s=B ratio=B/A recall_mib_s=R
 *
 *   bench_hsmd [workdir]      (default: $TMPDIR or /tmp)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hsmd.h"

#define FILES 400
#define FILE_SIZE (256u * 1024u)
#define PLACEHOLDERS 50
#define PH_SIZE (4u * 1024u * 1024u)
#define ROUNDS 5
#define PASSES 10 /* reads of every file per measurement */

static char g_mnt[1024], g_img[1024], g_loop[64];
static int g_mounted;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_hsmd: %s: %s\n", what, afs_error_last_code() ? afs_error_last()
                                                                        : strerror(errno));
    exit(1);
}

static void down(void)
{
    char cmd[256];
    if (g_mounted && umount(g_mnt) != 0)
        umount2(g_mnt, MNT_DETACH);
    g_mounted = 0;
    if (g_loop[0]) {
        snprintf(cmd, sizeof(cmd), "losetup -d %s", g_loop);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_hsmd: %s failed\n", cmd);
        g_loop[0] = '\0';
    }
    if (g_img[0])
        unlink(g_img);
}

static void up(const char *work)
{
    char cmd[4096];
    FILE *p;
    if (strlen(work) > 900) {
        fprintf(stderr, "bench_hsmd: the work directory's path is too long\n");
        exit(2);
    }
    snprintf(g_img, sizeof(g_img), "%s/bench-hsmd.img", work);
    snprintf(g_mnt, sizeof(g_mnt), "%s/bench-hsmd.mnt", work);
    mkdir(g_mnt, 0700);
    snprintf(cmd, sizeof(cmd), "truncate -s 1G %s && mkfs.ext4 -q -F %s >/dev/null 2>&1",
             g_img, g_img);
    if (system(cmd) != 0)
        die("mkfs.ext4");
    snprintf(cmd, sizeof(cmd), "losetup --find --show %s", g_img);
    if (!(p = popen(cmd, "r")) || !fgets(g_loop, sizeof(g_loop), p))
        die("losetup");
    pclose(p);
    g_loop[strcspn(g_loop, "\n")] = '\0';
    atexit(down);
    if (mount(g_loop, g_mnt, "ext4", 0, NULL) != 0)
        die("mount");
    g_mounted = 1;
}

static void write_file(const char *path, size_t size, unsigned seed)
{
    static unsigned char buf[1024 * 1024];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        die(path);
    for (size_t off = 0; off < size;) {
        size_t n = size - off < sizeof(buf) ? size - off : sizeof(buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = (unsigned char)(seed * 31 + off + i);
        if (write(fd, buf, n) != (ssize_t)n)
            die("write");
        off += n;
    }
    close(fd);
}

/* Read every complete file to the end; seconds taken. */
static double read_all(const char data[1100])
{
    static char buf[128 * 1024];
    char path[2048];
    double t0 = now_s();
    for (int i = 0; i < FILES * PASSES; i++) {
        int fd;
        snprintf(path, sizeof(path), "%s/full/f%04d", data, i % FILES);
        if ((fd = open(path, O_RDONLY)) < 0)
            die(path);
        while (read(fd, buf, sizeof(buf)) > 0)
            ;
        close(fd);
    }
    return now_s() - t0;
}

int main(int argc, char **argv)
{
    const char *work = argc > 1 ? argv[1] : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char state[1100], share[1100], data[1100], path[2048], cmd[4096];
    afs_endpoint_options eo = AFS_ENDPOINT_OPTIONS_INIT;
    afs_service *svc = NULL;
    afs_group *g = NULL;
    afs_endpoint *ep = NULL;
    double best_without = 1e9, best_with = 1e9, recall_s = 0;
    int ready[2];
    pid_t kid;
    char c;

    if (geteuid() != 0) {
        fprintf(stderr, "bench_hsmd: needs root (loop device, mount, fanotify)\n");
        return 77;
    }
    up(work);
    snprintf(state, sizeof(state), "%s/state", g_mnt);
    snprintf(share, sizeof(share), "%s/share", g_mnt);
    snprintf(data, sizeof(data), "%s/data", g_mnt);
    mkdir(share, 0700);
    mkdir(data, 0700);
    snprintf(path, sizeof(path), "%s/full", data);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/cold", data);
    mkdir(path, 0700);
    for (int i = 0; i < FILES; i++) {
        snprintf(path, sizeof(path), "%s/full/f%04d", data, i);
        write_file(path, FILE_SIZE, (unsigned)i);
    }
    for (int i = 0; i < PLACEHOLDERS; i++) {
        snprintf(path, sizeof(path), "%s/cold/p%03d", data, i);
        write_file(path, PH_SIZE, (unsigned)i + 1000);
    }
    eo.tiering_enabled = 1;
    if (afs_service_open(&svc, state, NULL) || afs_server_register(svc, "bench") ||
        afs_group_create(&g, svc, "bench", share) || afs_endpoint_create(&ep, g, data, &eo) ||
        afs_endpoint_sync(ep, NULL, NULL) || afs_tier_file(ep, "cold", NULL))
        die("set up the endpoint");
    afs_endpoint_close(ep);
    afs_group_close(g);
    afs_service_close(svc);

    if (pipe(ready) != 0)
        die("pipe");
    read_all(data); /* warm the page cache */
    for (int round = 0; round < ROUNDS; round++) {
        double t;
        hsmd_counters n;
        t = read_all(data);
        best_without = t < best_without ? t : best_without;
        kid = fork();
        if (kid == 0) {
            hsmd_config cfg;
            hsmd *d;
            hsmd_config_defaults(&cfg);
            cfg.state_dir = state;
            if (hsmd_start(&d, &cfg) != 0) {
                fprintf(stderr, "bench_hsmd: afs-hsmd: %s\n", afs_error_last());
                _exit(1);
            }
            hsmd_counters_get(d, &n);
            c = n.marks == PLACEHOLDERS ? 'y' : 'n';
            if (write(ready[1], &c, 1) != 1)
                _exit(1);
            pause();
            _exit(0);
        }
        if (read(ready[0], &c, 1) != 1 || c != 'y')
            die("the daemon did not mark every placeholder");
        t = read_all(data);
        best_with = t < best_with ? t : best_with;
        if (round == ROUNDS - 1) { /* one cold recall, through the daemon */
            snprintf(cmd, sizeof(cmd), "cat %s/cold/p000 > /dev/null", data);
            t = now_s();
            if (system(cmd) != 0)
                die("cat a placeholder");
            recall_s = now_s() - t;
        }
        kill(kid, SIGTERM);
        waitpid(kid, NULL, 0);
    }
    printf("reading %d complete files of %u KiB %d times (warm cache), best of %d:\n", FILES,
           FILE_SIZE / 1024, PASSES, ROUNDS);
    printf("  without the daemon: %.4f s\n  with the daemon:    %.4f s (%d placeholders "
           "marked)\n", best_without, best_with, PLACEHOLDERS);
    printf("  recall of a %u MiB placeholder through the daemon (cat): %.3f s\n",
           PH_SIZE / (1024 * 1024), recall_s);
    printf("bench-hsmd files=%d mib=%u without_s=%.4f with_s=%.4f ratio=%.3f "
           "recall_mib_s=%.0f\n", FILES, FILES * (FILE_SIZE / 1024) / 1024, best_without,
           best_with, best_with / best_without, (double)PH_SIZE / (1024 * 1024) / recall_s);
    return 0;
}

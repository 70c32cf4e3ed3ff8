/*
 * afs-hsmd: transparent recall for the tiering endpoints of a libafs
 * service on Linux 6.14 or later (fanotify pre-content events). Runs in
 * the foreground until SIGINT or SIGTERM. docs/recall-daemon.md.
 *
 *   afs-hsmd [--state DIR] [--no-heat NAME]... [--recall-on-open NAME]...
 *            [--timeout SECONDS]
 *            [--workers N] [--chunk MIB] [--rescan SECONDS] [--verbose]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hsmd.h"

#define MAX_NAMES 64

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void usage(FILE *f)
{
    fputs("usage: afs-hsmd [--state DIR] [--no-heat NAME]... [--recall-on-open NAME]...\n"
          "                [--timeout SECONDS]\n"
          "                [--workers N] [--chunk MIB] [--rescan SECONDS] [--verbose]\n"
          "Recalls the range of a placeholder an application reads, before the read\n"
          "reaches the file (fanotify pre-content events, Linux 6.14 or later, root).\n"
          "  --state DIR        the service state directory (default $AFS_STATE_DIR,\n"
          "                     else /var/lib/afs)\n"
          "  --no-heat NAME     accesses by processes of this name do not count as heat\n"
          "                     (virus scanners, backup agents); repeatable\n"
          "  --recall-on-open NAME  processes of this name get the whole file when they\n"
          "                     open a placeholder (copy tools that skip holes); repeatable,\n"
          "                     replaces the default list: cp mv install rsync tar bsdtar\n"
          "                     cpio; \"none\" for no such list\n"
          "  --timeout SECONDS  answer every access within this, EIO if the storage is\n"
          "                     slower (default 30)\n"
          "  --workers N        recalls in parallel (default 4)\n"
          "  --chunk MIB        recall granularity in MiB (default 1)\n"
          "  --rescan SECONDS   look for new placeholders this often (default 300, 0: never)\n"
          "  --verbose          log every answer\n",
          f);
}

static int num_arg(const char *opt, const char *v, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    *out = v ? strtoul(v, &end, 10) : 0;
    if (!v || errno || *end || *out > max) {
        fprintf(stderr, "afs-hsmd: %s needs a number up to %lu\n", opt, max);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    hsmd_config cfg;
    const char *no_heat[MAX_NAMES], *open_list[MAX_NAMES];
    struct sigaction sa;
    unsigned long v;
    hsmd *d;
    int rc;

    hsmd_config_defaults(&cfg);
    cfg.state_dir = getenv("AFS_STATE_DIR");
    cfg.rescan_s = 300;
    cfg.no_heat = no_heat;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
            cfg.verbose = 1;
            continue;
        } else if (strcmp(a, "--state") == 0 && val) {
            cfg.state_dir = val;
        } else if (strcmp(a, "--no-heat") == 0 && val) {
            if (cfg.no_heat_count == MAX_NAMES) {
                fprintf(stderr, "afs-hsmd: at most %d --no-heat names\n", MAX_NAMES);
                return 2;
            }
            no_heat[cfg.no_heat_count++] = val;
        } else if (strcmp(a, "--recall-on-open") == 0 && val) {
            if (cfg.recall_on_open != open_list) { /* the first one replaces the defaults */
                cfg.recall_on_open = open_list;
                cfg.recall_on_open_count = 0;
            }
            if (cfg.recall_on_open_count == MAX_NAMES) {
                fprintf(stderr, "afs-hsmd: at most %d --recall-on-open names\n", MAX_NAMES);
                return 2;
            }
            if (strcmp(val, "none") != 0)
                open_list[cfg.recall_on_open_count++] = val;
        } else if (strcmp(a, "--timeout") == 0) {
            if (num_arg(a, val, 3600, &v) || v == 0)
                return 2;
            cfg.answer_timeout_ms = (uint32_t)v * 1000u;
        } else if (strcmp(a, "--workers") == 0) {
            if (num_arg(a, val, 64, &v) || v == 0)
                return 2;
            cfg.workers = (uint32_t)v;
        } else if (strcmp(a, "--chunk") == 0) {
            if (num_arg(a, val, 1024, &v) || v == 0)
                return 2;
            cfg.chunk = (uint64_t)v * AFS_TIER_CHUNK;
        } else if (strcmp(a, "--rescan") == 0) {
            if (num_arg(a, val, 86400, &v))
                return 2;
            cfg.rescan_s = (uint32_t)v;
        } else {
            fprintf(stderr, "afs-hsmd: unknown option or missing value: %s\n", a);
            usage(stderr);
            return 2;
        }
        i++;
    }
    if (!cfg.state_dir)
        cfg.state_dir = "/var/lib/afs";
    {
        struct stat st;
        if (stat(cfg.state_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            fprintf(stderr, "afs-hsmd: no service state directory %s (--state DIR)\n",
                    cfg.state_dir);
            return 1;
        }
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    if ((rc = hsmd_start(&d, &cfg)) != 0) {
        fprintf(stderr, "afs-hsmd: %s\n", afs_error_last());
        return rc == AFS_ENOTSUP || rc == AFS_EPERM ? 3 : rc == AFS_EBUSY ? 5 : 1;
    }
    {
        hsmd_counters n;
        size_t eps = hsmd_endpoint_count(d);
        if (eps == 0) {
            fprintf(stderr, "afs-hsmd: %s has no server endpoint with cloud tiering on: "
                            "nothing to serve\n", cfg.state_dir);
            hsmd_stop(d);
            return 1;
        }
        hsmd_counters_get(d, &n);
        fprintf(stderr, "afs-hsmd: serving %zu endpoint(s) of %s: %llu placeholders marked "
                        "(pid %d)\n", eps, cfg.state_dir, (unsigned long long)n.marks,
                (int)getpid());
    }
    while (!g_stop)
        pause();
    hsmd_stop(d);
    return 0;
}

/*
 * afs-hsmd: the recall daemon core (docs/recall-daemon.md). It serves every
 * tiering endpoint of one service: placeholders get a fanotify pre-content
 * mark, and a read (or write) of one is held by the kernel until a worker
 * has recalled the touched range through afs_tier_recall_range() and
 * answered; a failed recall answers EIO or ENOSPC; a watchdog answers EIO
 * when the storage takes longer than the answer timeout. main.c is the
 * command line; tests/test_hsmd.c runs the same core in-process.
 */
#ifndef AFS_HSMD_H
#define AFS_HSMD_H

#include <afs.h>

#include <stddef.h>
#include <stdint.h>

typedef struct hsmd hsmd;

typedef struct hsmd_config {
    const char *state_dir;         /* the service (required) */
    afs_fs *inner_fs;              /* the filesystem libafs uses; NULL: the POSIX default */
    const char *const *no_heat;    /* process names (comm) whose accesses do not count */
    size_t no_heat_count;
    const char *const *recall_on_open; /* process names that get the whole file at open:
                                          copy tools that skip holes without reading them */
    size_t recall_on_open_count;
    uint64_t chunk;                /* recall granularity, a multiple of AFS_TIER_CHUNK; 0: 1 MiB */
    uint32_t answer_timeout_ms;    /* every access is answered within this; 0: 30000 */
    uint32_t workers;              /* recall threads; 0: 4 */
    uint32_t rescan_s;             /* re-mark placeholders this often; 0: never */
    int verbose;                   /* log every answer to stderr */
} hsmd_config;

/* Zero `cfg` and set the defaults: the copy tools of HSMD_RECALL_ON_OPEN. */
void hsmd_config_defaults(hsmd_config *cfg);

/* coreutils cp and friends look for data with SEEK_DATA (or clone extents) when a
 * file looks sparse, and would copy a placeholder's holes without reading them. */
#define HSMD_RECALL_ON_OPEN "cp", "mv", "install", "rsync", "tar", "bsdtar", "cpio"

/* Counters, for tests and the log. */
typedef struct hsmd_counters {
    uint64_t events;       /* pre-content events from other processes */
    uint64_t self_allowed; /* events caused by the daemon itself, allowed at once */
    uint64_t recalls_ok;   /* events answered after a successful recall call */
    uint64_t denied;       /* answered with an error by a worker */
    uint64_t timeouts;     /* answered EIO by the watchdog */
    uint64_t marks;        /* placeholder marks added */
    uint64_t unmarks;      /* marks removed when a file became complete */
} hsmd_counters;

/*
 * Open the service, claim the recall host role, open its tiering
 * endpoints, mark every placeholder and start answering. On failure
 * returns an afs code (AFS_EBUSY: another host runs; AFS_ENOTSUP: the
 * kernel or file system has no pre-content events) with a message in
 * afs_error_last(). Stop with hsmd_stop().
 */
int hsmd_start(hsmd **out, const hsmd_config *cfg);

/* Answer what is pending, stop every thread, release the role. A recall
 * still running after the answer timeout is answered EIO and left behind
 * with its handles (for a process about to exit). NULL is ignored. */
void hsmd_stop(hsmd *d);

/* Walk the endpoints again and mark new placeholders now (also done on a
 * timer and when a file's tier marker changes). Returns marks added. */
size_t hsmd_rescan(hsmd *d);

void hsmd_counters_get(hsmd *d, hsmd_counters *out);

/* Number of tiering endpoints served (fixed at start; an endpoint on a file
 * system without pre-content events, such as tmpfs, is not served). */
size_t hsmd_endpoint_count(hsmd *d);

/* Every sync group handle the daemon opened (each thread has its own), for
 * tests that reach the storage underneath. */
void hsmd_each_group(hsmd *d, void (*fn)(afs_group *group, void *payload), void *payload);

#endif /* AFS_HSMD_H */

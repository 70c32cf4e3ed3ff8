/*
 * What the sync engine uses of the tiering module (docs/tiering.md,
 * "Engine integration"). Not installed. Every function takes the endpoint
 * handle the engine already holds and follows the library's error rules.
 *
 * The engine's duties that these functions make possible:
 *   - the local scan recognises placeholders (afs__tier_probe) and never
 *     uploads a placeholder's bytes: a placeholder whose marker still
 *     names the base's etag, size and write time is unchanged content,
 *     whatever its ctime says (afs__tier_confirmed);
 *   - the scan feeds the heat store with each file's times
 *     (afs__tier_heat_note, between afs__tier_heat_begin/end);
 *   - initial download "namespace only" and new cloud files on a tiering
 *     endpoint become placeholders (afs__tier_placeholder_create);
 *   - a cloud change to a file that is a placeholder here updates the
 *     placeholder without downloading (afs__tier_placeholder_update);
 *   - deletes and renames keep the heat store in step (afs__tier_heat_forget,
 *     afs__tier_heat_rename).
 *
 * Tiering and recall change a file's ctime (extended attribute, holes,
 * restored write time). When the file's sync base still matches in size,
 * write time and file id, the tier module moves the base's ctime along
 * (UPDATE item SET ctime_ns ... in the endpoint's state database), so that
 * the engine's stat fast path sees no change.
 */
#ifndef AFS_TIER_INTERNAL_H
#define AFS_TIER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "afs.h"
#include "afs/tier.h"

/* What a path is, from its stat and marker (no heat store, no cloud). */
typedef struct afs__tier_probe {
    uint32_t state;          /* afs_tier_state */
    bool has_marker;         /* a libafs marker is attached (also on a FULL file left
                                by a crash between recall and marker removal) */
    bool needs_repair;       /* a placeholder whose write time differs from its marker's
                                (a crash between punching and restoring the time):
                                afs__tier_repair() fixes it), or whose marker
                                is still pending */
    bool written;            /* a program wrote into the placeholder: its size or
                                write time is not the marker's, and not as an
                                interrupted tiering leaves it (afs__marker_written);
                                never to be repaired or recalled over */
    uint64_t size;           /* the marker's logical size (the stat's for a full file) */
    int64_t mtime_ns;        /* the marker's write time (the stat's for a full file) */
    uint64_t present_bytes;  /* bytes present on disk per the marker */
    char etag[AFS_ETAG_MAX]; /* the cloud etag the placeholder stands for ("" if full) */
    char cloud_path[4096];   /* the cloud path it stands for ("" if full or unknown) */
} afs__tier_probe;

/*
 * Probe `abs` with the stat the caller already has (one marker read, no
 * other I/O). A marker that does not parse: AFS_ECORRUPT (the engine
 * should record a per-item error and not touch the file).
 */
int afs__tier_probe_path(afs_fs *fs, const char *abs, const afs_fs_stat *st,
                         afs__tier_probe *out);

/* Restore a placeholder's write time from its marker (see needs_repair). */
int afs__tier_repair(afs_fs *fs, const char *abs);

/*
 * Is the local file `rel` of `ep`, as `st` describes it, confirmed in the
 * cloud? True when its stat identity (size, mtime, file id, ctime) equals
 * the sync base and the base has a cloud etag; or when it is a placeholder
 * whose marker names the base's etag, size and write time, with the base's
 * file id. `st` NULL: the function stats the file.
 */
int afs__tier_confirmed(afs_endpoint *ep, const char *rel, const afs_fs_stat *st,
                        bool *confirmed);

/*
 * Create a placeholder at `rel` for a cloud file never downloaded
 * (namespace-only download): a sparse file of `size` bytes with write time
 * `mtime_ns` and a marker (cloud path `cloud_path`, `etag`, nothing
 * present), made in a temporary file and renamed into place (never
 * replacing an existing file: AFS_EEXISTS). Parent directories must exist.
 * *out (may be NULL) gets the new file's stat, for the sync base.
 * Errors: AFS_ENOTSUP (no marker or punch support), AFS_EEXISTS,
 * AFS_ELIMIT (cloud path too long for a marker), filesystem errors.
 */
int afs__tier_placeholder_create(afs_endpoint *ep, const char *rel, const char *cloud_path,
                                 uint64_t size, int64_t mtime_ns, const char *etag,
                                 afs_fs_stat *out);

/*
 * The cloud version of the placeholder `rel` changed: record the new size,
 * write time and etag, and drop any recalled data (it belongs to the old
 * version). Refused with AFS_ECONDITION when `rel` is not a placeholder
 * (a full file is the engine's to download). *out gets the new stat.
 */
int afs__tier_placeholder_update(afs_endpoint *ep, const char *rel, uint64_t size,
                                 int64_t mtime_ns, const char *etag, afs_fs_stat *out);

/*
 * Was the placeholder `abs` written again in full, so that every byte of it
 * is on disk (no hole left)? Asks the filesystem (AFS_FS_CTL_HAS_HOLES);
 * false when it cannot say. When true its tier marker is removed: it is an
 * ordinary file again.
 */
bool afs__tier_rewritten_in_full(afs_fs *fs, const char *abs);

/*
 * The placeholder `rel` was renamed (by the server, and the sync carried the
 * rename to the share): its marker now names the cloud path `rel` and the
 * object's `etag` there; size, time and recalled data stay. AFS_ECONDITION
 * when `rel` is not a placeholder. *out (may be NULL) gets the new stat.
 */
int afs__tier_placeholder_retarget(afs_endpoint *ep, const char *rel, const char *etag,
                                   afs_fs_stat *out);

/*
 * Heat store contributions of the scan: begin, one note per file seen
 * (`st` as the scan read it; the marker is probed for the state), end.
 * end() with `complete` true also forgets files the scan did not see.
 * The notes are batched in one transaction per few thousand files.
 */
typedef struct afs__tier_scan afs__tier_scan;
int afs__tier_heat_begin(afs_endpoint *ep, afs__tier_scan **out);
int afs__tier_heat_note(afs__tier_scan *scan, const char *rel, const afs_fs_stat *st);
int afs__tier_heat_end(afs__tier_scan *scan, bool complete);

/* A file was deleted or renamed (a directory rename moves its files). */
int afs__tier_heat_forget(afs_endpoint *ep, const char *rel);
int afs__tier_heat_rename(afs_endpoint *ep, const char *from, const char *to);

/* The endpoint was deleted: drop its heat rows, pins, exclusions, stats. */
int afs__tier_endpoint_removed(afs_service *svc, const char *volume_path,
                               const char *endpoint_id);

#endif

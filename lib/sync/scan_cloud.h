/* Cloud change detection (lib/sync/scan_cloud.c). */
#ifndef AFS_SYNC_SCAN_CLOUD_H
#define AFS_SYNC_SCAN_CLOUD_H

#include "session.h"

/*
 * Enumerate the whole share: every item's cloud side becomes known (absent
 * if not listed). Hostile entries and unsupported names are per-item errors.
 */
int afs__scan_cloud_full(afs__session *s);

/*
 * Learn cloud changes from the journal after `cursor`: each named path is
 * checked in the share and its cloud side becomes known; every other item
 * keeps "unknown" (taken as unchanged). *gap set: the journal cannot vouch,
 * enumerate in full instead.
 */
int afs__scan_cloud_journal(afs__session *s, uint64_t cursor, uint64_t *new_cursor, bool *gap);

/*
 * Learn the cloud side of `path` now (an item that failed last session:
 * what the journal said about it was consumed by that session). Paths that
 * are not valid synced paths, and storage errors, leave it unknown.
 */
void afs__scan_cloud_recheck(afs__session *s, const char *path);

#endif

/*
 * Journal pruning (docs/sync.md#change-detection).
 *
 * Each server endpoint publishes the journal cursor it has applied up to in
 * .libafs/endpoints/<endpoint-id>.cursor after a successful session. The
 * floor is the lowest published cursor + 1 of the group's endpoints, never
 * above the newest batch; an endpoint whose cursor has not moved for the
 * group's stale limit no longer counts, nor does a deleted one. A pruning
 * session raises the floor with a conditional write (never lowering it),
 * then removes the batches below it. Readers treat a batch that vanished
 * under them as "floor moved" (lib/sync/journal.c).
 */
#ifndef AFS_SYNC_PRUNE_H
#define AFS_SYNC_PRUNE_H

#include <stdbool.h>
#include <stdint.h>

#include "group_internal.h"

#define AFS__JOURNAL_CURSOR_SUFFIX ".cursor"
/* A session prunes at most this often per endpoint ... */
#define AFS__PRUNE_INTERVAL_NS (3600LL * 1000000000LL)
/* ... unless this many batches came since its last pruning. */
#define AFS__PRUNE_BATCHES 1000
/* Endpoint state keys: when this endpoint last pruned, and the cursor then. */
#define AFS__KEY_PRUNED_NS "journal_pruned_ns"
#define AFS__KEY_PRUNED_AT "journal_pruned_cursor"
/* Set by pruning when another server of this server's name is in the group:
 * this server's conflict copies then carry "<name>(<its id's first 8>)". */
#define AFS__KEY_NAME_CLASH "server_name_clash"

/*
 * Publish `cursor` as endpoint `endpoint_id`'s, unless the share already
 * holds a higher one (a stale writer never moves it back) or the same one
 * written less than `refresh_ns` ago. Conditional on the etag read (create-
 * only when absent); lost races are retried. Errors: AFS_EBUSY (8 lost
 * races), storage errors.
 */
int afs__journal_publish(afs_storage *s, const char *endpoint_id, uint64_t cursor,
                         int64_t now_ns, int64_t refresh_ns);

typedef struct afs__prune_result {
    uint64_t floor;   /* the floor after pruning (0: none) */
    uint64_t removed; /* batches removed */
    bool raised;      /* this call wrote the floor */
    bool name_clash;  /* another server of this server's name has an endpoint in the
                         group (one joined before such groups were refused) */
} afs__prune_result;

/*
 * Prune the journal of `group` as seen at `now_ns`, with the group's stale
 * limit of `stale_ns`: raise the floor to the lowest cursor + 1 of the
 * endpoints that count (never above the newest batch, never lower than it
 * is; a damaged or hostile floor is replaced), then remove every batch
 * below it. `s` is the storage to use (the session's retrying one). Errors:
 * AFS_EBUSY (8 lost races for the floor), storage errors, AFS_ENOMEM.
 */
int afs__journal_prune(afs_group *group, afs_storage *s, int64_t now_ns, int64_t stale_ns,
                       afs__prune_result *out);

/*
 * At the end of a successful session of `ep` that applied the journal up to
 * `cursor`, before its last state commit: publish the cursor, unless it is
 * the one published less than the refresh interval ago (then no storage call
 * at all). The engine calls it inside the last state transaction, before
 * that commit's storage barrier, which makes the record's name durable with
 * the session's own (a crash that loses it leaves an older cursor on the
 * share: pruning holds back more, never less). Failures are logged and cost
 * only growth: the session's result does not change.
 */
void afs__journal_publish_session(afs_endpoint *ep, afs_storage *s, uint64_t cursor);

/*
 * After that commit: prune when due (AFS__PRUNE_INTERVAL_NS since this
 * endpoint last did, or AFS__PRUNE_BATCHES batches later). Failures are
 * logged and cost only growth: the session's result does not change.
 */
void afs__journal_maintain(afs_endpoint *ep, afs_storage *s, uint64_t cursor);

/* Remove endpoint `endpoint_id`'s published cursor (it is deleted). */
int afs__journal_unpublish(afs_storage *s, const char *endpoint_id);

/* Is `id` the form of an endpoint id (a UUID: hex digits and dashes, 1 to 64
 * characters)? Paths are only ever built from such ids. */
bool afs__endpoint_id_ok(const char *id);

#endif

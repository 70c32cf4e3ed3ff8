/*
 * Retrying transient storage failures: a session reaches the share through
 * a wrapper that repeats a call failing with AFS_ETRANSIENT or AFS_EBUSY a
 * few times, with exponential backoff and jitter, before the failure
 * counts. What still fails becomes a per-item error (or ends the session,
 * where the whole session needs the call).
 *
 * A retried call may have taken effect the first time (a reply lost on the
 * way back): the engine's conditional calls then report AFS_ECONDITION,
 * AFS_EEXISTS or AFS_ENOTFOUND, which it treats as for any concurrent
 * change, so a retry never costs data.
 */
#ifndef AFS_SYNC_RETRY_H
#define AFS_SYNC_RETRY_H

#include <stdbool.h>

#include "../core/internal.h"

typedef struct afs__retry_policy {
    unsigned int attempts; /* calls in all, at least 1 */
    unsigned int base_ms;  /* delay before the first retry; doubles each time */
    unsigned int max_ms;   /* cap of one delay */
} afs__retry_policy;

/* The policy sessions use: 4 attempts, 10 ms doubling to at most 200 ms
 * (about 70 ms of waiting before a call counts as failed). */
extern afs__retry_policy afs__retry_default;

/* Is `rc` worth another attempt? */
bool afs__retry_worth(int rc);

/*
 * A storage whose every call goes to `inner` (borrowed; it must outlive
 * the wrapper) and is retried under `policy` (copied). Free with
 * afs_storage_free(). Errors: AFS_ENOMEM, AFS_EINVAL.
 */
int afs__retry_storage_new(afs_storage **out, afs_storage *inner,
                           const afs__retry_policy *policy);

#endif

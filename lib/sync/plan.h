/*
 * Planning a session (docs/sync.md#reconcile): carry renames across, decide
 * every item's action, check the safety net and order the work.
 */
#ifndef AFS_SYNC_PLAN_H
#define AFS_SYNC_PLAN_H

#include "journal.h"
#include "session.h"

typedef struct afs__plan {
    afs__item **actions; /* items with an action, in apply order */
    size_t count;
    size_t base_count;   /* items in the base */
    size_t deletions;    /* deletions the plan would make, either side */
    uint64_t bytes;      /* bytes to transfer, for progress */
} afs__plan;

/* Take items whose cloud side was not learned this session as unchanged. */
void afs__plan_fill_unknown(afs__session *s);

/*
 * Decide each item's action (authoritative upload rules when
 * `authoritative`), and build the ordered action list in `plan`
 * (arena-owned).
 */
int afs__plan_build(afs__session *s, bool authoritative, afs__plan *plan);

/*
 * The safety net (docs/sync.md#safety-net): AFS_ESAFETY with an explanation
 * when the plan would delete more than `percent` of the base (at least 10
 * items), unless `force`.
 */
int afs__plan_safety(const afs__plan *plan, uint32_t percent, bool force);

#endif

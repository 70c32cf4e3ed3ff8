/*
 * The reconcile rule table (shared/reference/afs-facts.md "Conflict
 * resolution"; afs-server-endpoint-create.md "Initial sync section").
 */
#include <string.h>

#include "../core/internal.h"
#include "reconcile.h"

static bool etag_equal(const char *a, const char *b)
{
    if (!a || !b)
        return false;
    return a == b || strcmp(a, b) == 0; /* the cloud side is often the base's */
}

afs__change afs__local_change(const afs__side *base, const afs__side *local)
{
    if (!base->exists)
        return local->exists ? AFS__CH_NEW : AFS__CH_NONE;
    if (!local->exists)
        return AFS__CH_DELETED;
    if (base->type != local->type)
        return AFS__CH_TYPE;
    if (local->type == AFS_TYPE_DIR)
        return AFS__CH_NONE; /* directory last-write times are not synced */
    /* Stat fast path: any difference in these makes the file a candidate;
     * the content hash decides later whether it really changed. */
    if (base->size != local->size || base->mtime_ns != local->mtime_ns ||
        base->ctime_ns != local->ctime_ns || base->file_id != local->file_id)
        return AFS__CH_MODIFIED;
    return AFS__CH_NONE;
}

afs__change afs__cloud_change(const afs__side *base, const afs__side *cloud)
{
    if (!base->exists)
        return cloud->exists ? AFS__CH_NEW : AFS__CH_NONE;
    if (!cloud->exists)
        return AFS__CH_DELETED;
    if (base->type != cloud->type)
        return AFS__CH_TYPE;
    if (cloud->type == AFS_TYPE_DIR)
        return AFS__CH_NONE;
    return etag_equal(base->etag, cloud->etag) ? AFS__CH_NONE : AFS__CH_MODIFIED;
}

/* Create on the other side whatever `src` is. */
static afs__action create_cloud(const afs__side *local)
{
    return local->type == AFS_TYPE_DIR ? AFS__ACT_MKDIR_CLOUD : AFS__ACT_UPLOAD;
}

static afs__action create_local(const afs__side *cloud)
{
    return cloud->type == AFS_TYPE_DIR ? AFS__ACT_MKDIR_LOCAL : AFS__ACT_DOWNLOAD;
}

/* Both sides hold an item that is new or changed. */
static afs__action both_present(const afs__side *local, const afs__side *cloud)
{
    if (local->type != cloud->type)
        return AFS__ACT_TYPE_CONFLICT;
    return local->type == AFS_TYPE_DIR ? AFS__ACT_RECORD : AFS__ACT_COMPARE;
}

afs__action afs__decide(const afs__side *base, const afs__side *local, const afs__side *cloud)
{
    afs__change lc = afs__local_change(base, local);
    afs__change cc = afs__cloud_change(base, cloud);

    if (lc == AFS__CH_NONE && cc == AFS__CH_NONE) {
        /* Unchanged everywhere; an absent base with both absent is nothing. */
        return AFS__ACT_NONE;
    }
    if (cc == AFS__CH_NONE) {
        switch (lc) {
        case AFS__CH_NEW:
        case AFS__CH_MODIFIED: return create_cloud(local);
        case AFS__CH_DELETED: return AFS__ACT_DELETE_CLOUD;
        case AFS__CH_TYPE: return AFS__ACT_REPLACE_CLOUD;
        default: return AFS__ACT_NONE;
        }
    }
    if (lc == AFS__CH_NONE) {
        switch (cc) {
        case AFS__CH_NEW:
        case AFS__CH_MODIFIED: return create_local(cloud);
        case AFS__CH_DELETED: return AFS__ACT_DELETE_LOCAL;
        case AFS__CH_TYPE: return AFS__ACT_REPLACE_LOCAL;
        default: return AFS__ACT_NONE;
        }
    }
    /* Both sides changed. */
    if (lc == AFS__CH_DELETED && cc == AFS__CH_DELETED)
        return AFS__ACT_FORGET;
    if (lc == AFS__CH_DELETED)
        return create_local(cloud); /* modify beats delete */
    if (cc == AFS__CH_DELETED)
        return create_cloud(local); /* modify beats delete */
    return both_present(local, cloud);
}

afs__action afs__decide_authoritative(const afs__side *local, const afs__side *cloud)
{
    if (!local->exists)
        return cloud->exists ? AFS__ACT_DELETE_CLOUD : AFS__ACT_NONE;
    if (!cloud->exists)
        return create_cloud(local);
    if (local->type != cloud->type)
        return AFS__ACT_REPLACE_CLOUD;
    return local->type == AFS_TYPE_DIR ? AFS__ACT_RECORD : AFS__ACT_COMPARE;
}

int afs__action_phase(afs__action action, uint32_t type, uint32_t existing_type)
{
    switch (action) {
    case AFS__ACT_DELETE_CLOUD:
    case AFS__ACT_DELETE_LOCAL:
        return type == AFS_TYPE_DIR ? 2 : 0;
    case AFS__ACT_REPLACE_CLOUD:
    case AFS__ACT_REPLACE_LOCAL:
        return existing_type == AFS_TYPE_DIR ? 2 : 0;
    default:
        return 1;
    }
}

const char *afs__action_name(afs__action action)
{
    static const char *const names[] = {
        "none", "upload", "download", "mkdir-cloud", "mkdir-local", "delete-cloud",
        "delete-local", "forget", "record", "compare", "replace-cloud", "replace-local",
        "type-conflict",
    };
    if ((size_t)action < AFS__ARRAY_LEN(names))
        return names[action];
    return "?";
}

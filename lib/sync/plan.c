/* Planning a session (lib/sync/plan.h). */
#include <stdlib.h>
#include <string.h>

#include "plan.h"

#define SAFETY_MIN_DELETIONS 10

static bool still_there(afs__session *s, const char *rel)
{
    char *abs = afs__session_local_path(s, rel);
    afs_fs_stat st;
    int rc;
    if (!abs)
        return true; /* out of memory: do not delete on a guess */
    memset(&st, 0, sizeof(st));
    rc = s->fsops->stat(s->fsctx, abs, &st);
    afs_error_clear();
    /* ENOTDIR: a parent became a file; read errors were marked unknown by the walk. */
    return rc == 0;
}

void afs__plan_fill_unknown(afs__session *s)
{
    for (size_t i = 0; i < s->nall; i++) {
        afs__item *it = s->all[i];
        if (!it->cloud_known) {
            it->cloud = it->base;
            it->cloud_has_md5 = it->base_has_md5;
            memcpy(it->cloud_md5, it->base_md5, AFS__MD5_LEN);
        }
        /* Unread on the server is not deleted on the server. */
        if (!it->local.exists && it->base.exists && s->unknown_local &&
            afs__session_is_unknown(s, true, it->path)) {
            it->local = it->base;
            it->local.etag = NULL;
        }
        /* Not seen, but still there: it stopped syncing (now excluded, a
         * second hard link, replaced by a symbolic link). That is no deletion:
         * the cloud copy stays. */
        if (!it->local.exists && it->base.exists && still_there(s, it->path)) {
            afs__log(AFS_LOG_INFO, "sync: %s is no longer synced from this server; the copy "
                     "in the share is kept", it->path);
            it->local = it->base;
            it->local.etag = NULL;
            it->handled = true;
        }
    }
}

/* Parents before children: plain byte order puts a prefix first. */
static int cmp_path_asc(const void *a, const void *b)
{
    const afs__item *x = *(afs__item *const *)a, *y = *(afs__item *const *)b;
    if (x->phase != y->phase)
        return x->phase - y->phase;
    if (x->phase == 2)
        return strcmp(y->path, x->path); /* children before parents */
    return strcmp(x->path, y->path);
}

int afs__plan_build(afs__session *s, bool authoritative, afs__plan *plan)
{
    size_t n = 0;

    memset(plan, 0, sizeof(*plan));
    plan->actions = afs__arena_alloc(&s->arena, (s->nall + 1) * sizeof(afs__item *));
    if (!plan->actions)
        return AFS_ENOMEM;
    for (size_t i = 0; i < s->nall; i++) {
        afs__item *it = s->all[i];
        uint32_t type, existing;
        if (it->base.exists)
            plan->base_count++;
        if (it->handled)
            continue;
        it->action = authoritative ? afs__decide_authoritative(&it->local, &it->cloud)
                                   : afs__decide(&it->base, &it->local, &it->cloud);
        if (it->action == AFS__ACT_NONE)
            continue;
        /* The type being created, and the one being replaced. */
        type = it->local.exists ? it->local.type : it->cloud.type;
        existing = it->action == AFS__ACT_REPLACE_CLOUD ? it->cloud.type : it->local.type;
        if (it->action == AFS__ACT_DELETE_CLOUD)
            type = it->cloud.exists ? it->cloud.type : it->base.type;
        if (it->action == AFS__ACT_DELETE_LOCAL)
            type = it->local.exists ? it->local.type : it->base.type;
        it->phase = afs__action_phase(it->action, type, existing);
        switch (it->action) {
        case AFS__ACT_DELETE_CLOUD:
        case AFS__ACT_DELETE_LOCAL:
        case AFS__ACT_REPLACE_CLOUD:
        case AFS__ACT_REPLACE_LOCAL:
            plan->deletions++;
            break;
        case AFS__ACT_UPLOAD:
            plan->bytes += it->local.size;
            break;
        case AFS__ACT_DOWNLOAD:
            plan->bytes += it->cloud.size;
            break;
        default:
            break;
        }
        plan->actions[n++] = it;
    }
    qsort(plan->actions, n, sizeof(*plan->actions), cmp_path_asc);
    plan->count = n;
    return 0;
}

int afs__plan_safety(const afs__plan *plan, uint32_t percent, bool force)
{
    if (force || percent >= 100 || plan->deletions < SAFETY_MIN_DELETIONS)
        return 0;
    if ((uint64_t)plan->deletions * 100 > (uint64_t)percent * plan->base_count)
        return afs__error_set(AFS_ESAFETY,
                              "this session would delete %zu of the %zu synced items (more than "
                              "%u%%); nothing was deleted. If the server endpoint's volume is "
                              "unmounted or the share was emptied by mistake, fix that; if the "
                              "deletions are intended, sync again with AFS_SYNC_FORCE",
                              plan->deletions, plan->base_count, percent);
    return 0;
}

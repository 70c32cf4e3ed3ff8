/*
 * Local change detection: a walk of the server endpoint through the
 * filesystem vtable (docs/sync.md#change-detection), on a few threads
 * (walk.c). The reconcile step compares what it finds with the base by stat
 * identity only; contents are hashed later, and only for items that need it.
 */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "../tier/tier_internal.h"
#include "names.h"
#include "session.h"
#include "walk.h"

afs__item *afs__session_item(afs__session *s, const char *path, size_t len)
{
    afs__item *it;
    char *key;

    /* Lookups need a NUL-terminated key; paths here are short. */
    char stackbuf[1024];
    const char *probe = path;
    if (path[len] != '\0') {
        if (len >= sizeof(stackbuf)) {
            key = afs__arena_strndup(&s->arena, path, len);
            if (!key)
                return NULL;
            probe = key;
        } else {
            memcpy(stackbuf, path, len);
            stackbuf[len] = '\0';
            probe = stackbuf;
        }
    }
    it = afs__map_get(&s->items, probe);
    return it ? it : afs__session_item_new(s, path, len);
}

afs__item *afs__session_item_new(afs__session *s, const char *path, size_t len)
{
    afs__item *it = afs__session_item_unmapped(s, path, len);
    if (it && afs__map_put_new(&s->items, it->path, it) != 0)
        return NULL;
    return it;
}

bool afs__session_reserve(afs__session *s, size_t n)
{
    afs__item **all;
    if (n <= s->capall)
        return true;
    if (!(all = afs__realloc(s->all, n * sizeof(*all))))
        return false;
    s->all = all;
    s->capall = n;
    return true;
}

afs__item *afs__session_item_unmapped(afs__session *s, const char *path, size_t len)
{
    afs__item *it = afs__arena_alloc(&s->arena, sizeof(*it));
    char *key = it ? afs__arena_strndup(&s->arena, path, len) : NULL;
    const char *slash;

    if (!key)
        return NULL;
    it->path = key;
    slash = strrchr(key, '/');
    it->name = slash ? slash + 1 : key;
    if (s->nall == s->capall && !afs__session_reserve(s, s->capall ? s->capall * 2 : 1024))
        return NULL;
    s->all[s->nall++] = it;
    return it;
}

void afs__side_from_stat(afs__side *side, const afs_fs_stat *st)
{
    side->exists = true;
    side->type = st->type;
    side->size = st->type == AFS_TYPE_FILE ? st->size : 0;
    side->mtime_ns = st->mtime_ns;
    side->ctime_ns = st->ctime_ns;
    side->file_id = st->file_id;
}

int afs__session_item_error(afs__session *s, const char *path, int code)
{
    afs__item_err *e = afs__arena_alloc(&s->arena, sizeof(*e));
    if (!e)
        return AFS_ENOMEM;
    e->path = afs__arena_strdup(&s->arena, path);
    e->message = afs__arena_strdup(&s->arena, afs_error_last());
    e->code = code;
    e->next = s->errors;
    s->errors = e;
    s->error_count++;
    afs__log(AFS_LOG_WARN, "sync: %s: %s", path, e->message ? e->message : "");
    afs_error_clear();
    return 0;
}

int afs__session_unknown(afs__session *s, bool local, const char *rel)
{
    afs__unknown *u = afs__arena_alloc(&s->arena, sizeof(*u));
    if (!u || !(u->rel = afs__arena_strdup(&s->arena, rel)))
        return AFS_ENOMEM;
    u->next = local ? s->unknown_local : s->unknown_cloud;
    if (local)
        s->unknown_local = u;
    else
        s->unknown_cloud = u;
    return 0;
}

bool afs__session_is_unknown(const afs__session *s, bool local, const char *rel)
{
    for (const afs__unknown *u = local ? s->unknown_local : s->unknown_cloud; u; u = u->next) {
        size_t n = strlen(u->rel);
        if (n == 0 || (strncmp(rel, u->rel, n) == 0 && (rel[n] == '\0' || rel[n] == '/')))
            return true;
    }
    return false;
}

char *afs__session_local_path(afs__session *s, const char *rel)
{
    size_t rl = strlen(s->root), pl = strlen(rel);
    char *p = afs__arena_alloc(&s->arena, rl + pl + 2);
    if (!p)
        return NULL;
    memcpy(p, s->root, rl);
    if (pl) {
        p[rl] = '/';
        memcpy(p + rl + 1, rel, pl + 1);
    }
    return p;
}

bool afs__session_excluded(const afs__session *s, const char *rel, const char *name)
{
    for (size_t i = 0; i < s->exclude_count; i++) {
        const char *pat = s->exclude[i];
        /* A pattern with a '/' matches the relative path, others the name. */
        if (fnmatch(pat, strchr(pat, '/') ? rel : name, FNM_PATHNAME | FNM_PERIOD) == 0)
            return true;
    }
    return false;
}

/*
 * A tiered placeholder never changes locally (writing to one recalls it
 * first): it stands for the cloud version its marker names. When that is the
 * base's version, the item is unchanged whatever tiering did to its ctime;
 * otherwise (a crash between making it and recording it) the marker is the
 * base. Its bytes are never read or uploaded.
 */
static int placeholder(afs__session *s, afs__item *it, const char *abs, afs_fs_stat *st)
{
    afs__tier_probe pr;
    int rc = afs__tier_probe_path(s->fs, abs, st, &pr);
    if (rc == AFS_ECORRUPT) {
        /* Unreadable marker: leave the file alone, as if unchanged. */
        afs__session_item_error(s, it->path, rc);
        it->handled = true;
        return 0;
    }
    if (rc != 0 || !pr.has_marker || pr.state == AFS_TIER_STATE_FULL) {
        if (rc == AFS_ENOTSUP || rc == AFS_ENOTFOUND) {
            afs_error_clear();
            rc = 0;
        }
        return rc;
    }
    if (pr.needs_repair) {
        /* The write time differs from the marker's. An interrupted tiering
         * (its marker still pending) is ours to repair; otherwise a program
         * wrote into the placeholder without a recall host: its unrecalled
         * bytes are holes, so it must be neither uploaded nor "repaired".
         * Leave it for the user. */
        if (pr.written) {
            afs__error_set(AFS_ECONDITION, "%s was written while it was a tiered placeholder "
                           "(no recall host was running): it is not synced; recall it, or "
                           "restore it from the share", abs);
            afs__session_item_error(s, it->path, AFS_ECONDITION);
            it->handled = true;
            return afs__session_unknown(s, true, it->path);
        }
        if (afs__tier_repair(s->fs, abs) == 0) {
            memset(st, 0, sizeof(*st));
            if ((rc = s->fsops->stat(s->fsctx, abs, st)) != 0)
                return rc;
        }
    }
    it->local_placeholder = true;
    it->local.size = pr.size;
    it->local.mtime_ns = pr.mtime_ns;
    it->local.file_id = st->file_id;
    it->local.ctime_ns = st->ctime_ns;
    if (!it->base.exists && pr.cloud_path[0] && strcmp(pr.cloud_path, it->path) != 0) {
        /* Renamed here (its marker names another cloud path): new at this
         * path, so that the rename detection pairs it with its source and
         * the source is never taken for a deletion (lib/sync/rename.c). */
        if (!(it->placeholder_from = afs__arena_strdup(&s->arena, pr.cloud_path)) ||
            !(it->placeholder_etag = afs__arena_strdup(&s->arena, pr.etag)))
            return AFS_ENOMEM;
        return 0;
    }
    if (!it->base.exists || !it->base.etag || strcmp(it->base.etag, pr.etag) != 0) {
        it->base = it->local;
        it->base.etag = afs__arena_strdup(&s->arena, pr.etag);
        it->base_has_md5 = false;
        if (!it->base.etag)
            return AFS_ENOMEM;
    }
    it->local = it->base;
    it->local.etag = NULL;
    return 0;
}

/* Only a file with fewer bytes on disk than its size can be a placeholder
 * worth the name: one marker read for those, none for the others (the upload
 * path checks every file again before reading it). */
static bool may_be_placeholder(const afs__session *s, const afs_fs_stat *st)
{
    return s->probe_markers && st->alloc_bytes < st->size;
}

bool afs__scan_local_file_needed(const afs__session *s, const afs_fs_stat *st)
{
    return st->type == AFS_TYPE_FILE && (s->heat || may_be_placeholder(s, st));
}

int afs__scan_local_file(afs__session *s, afs__item *it, const afs_fs_stat *found)
{
    afs_fs_stat st = *found;
    int rc;
    if (may_be_placeholder(s, &st)) {
        char *abs = afs__session_local_path(s, it->path);
        if (!abs)
            return AFS_ENOMEM;
        if ((rc = placeholder(s, it, abs, &st)) != 0)
            return rc;
    }
    if (s->heat && (rc = afs__tier_heat_note(s->heat, it->path, &st)) != 0)
        return rc;
    return 0;
}

int afs__scan_local_begin(afs__session *s, afs__walk **w)
{
    afs_fs_stat st;
    int rc;

    *w = NULL;
    memset(&st, 0, sizeof(st));
    if ((rc = s->fsops->stat(s->fsctx, s->root, &st)) != 0)
        return afs__error_prefix(rc, "server endpoint root %s", s->root);
    if (st.type != AFS_TYPE_DIR)
        return afs__error_set(AFS_ENOTDIR, "server endpoint root %s is not a directory",
                              s->root);
    return afs__walk_start(w, s);
}

int afs__scan_local(afs__session *s)
{
    afs__walk *w;
    int rc = afs__scan_local_begin(s, &w);
    return rc == 0 ? afs__walk_finish(w, true) : rc;
}

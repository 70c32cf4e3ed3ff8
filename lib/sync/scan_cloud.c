/*
 * Cloud change detection (docs/sync.md#change-detection): either a full
 * enumeration of the share, which finds edits made directly in the share
 * by other programs, or the change journal, which names only the paths
 * other endpoints changed since this endpoint's cursor. Journal records are
 * re-checked against the share before they count.
 */
#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "names.h"
#include "scan_cloud.h"

static void set_cloud(afs__session *s, afs__item *it, const afs_storage_entry *e)
{
    it->cloud_known = true;
    it->cloud.exists = true;
    it->cloud.type = e->type;
    it->cloud.size = e->type == AFS_TYPE_FILE ? e->size : 0;
    it->cloud.mtime_ns = e->mtime_ns;
    it->cloud.etag = afs__arena_strdup(&s->arena, e->etag);
}

static void set_cloud_absent(afs__item *it)
{
    it->cloud_known = true;
    memset(&it->cloud, 0, sizeof(it->cloud));
}

/* ---- full enumeration ---- */

struct dirq {
    char *rel;
    struct dirq *next;
};

struct list_ctx {
    afs__session *s;
    const char *dir;
    struct dirq **queue;
    int rc;
};

static int on_entry(const afs_storage_entry *e, void *payload)
{
    struct list_ctx *c = payload;
    afs__session *s = c->s;
    size_t dl = strlen(c->dir);
    char *rel;
    afs__item *it;
    const char *why = NULL;

    if (e->status == AFS_EINVALIDNAME) {
        /* A hostile or broken listing entry: reported, never followed. */
        char *shown = afs__sprintf("%s%s%s", c->dir, dl ? "/" : "", e->name);
        afs__error_set(AFS_EINVALIDNAME,
                       "the share lists an entry \"%s\" whose name or type is not acceptable; "
                       "it is ignored", shown ? shown : e->name);
        c->rc = afs__session_item_error(s, shown ? shown : e->name, AFS_EINVALIDNAME);
        free(shown);
        return c->rc;
    }
    rel = afs__arena_alloc(&s->arena, dl + e->name_len + 2);
    if (!rel)
        return c->rc = AFS_ENOMEM;
    if (dl) {
        memcpy(rel, c->dir, dl);
        rel[dl] = '/';
        memcpy(rel + dl + 1, e->name, e->name_len);
    } else {
        memcpy(rel, e->name, e->name_len);
    }
    switch (afs__sync_name_class(e->name, e->name_len, &why)) {
    case AFS__NAME_SKIP:
        s->skipped++;
        return 0;
    case AFS__NAME_INVALID:
        afs__error_set(AFS_EINVALIDNAME,
                       "\"%s\" in the share is not synced: its name contains %s", rel, why);
        return c->rc = afs__session_item_error(s, rel, AFS_EINVALIDNAME);
    default:
        break;
    }
    if (afs__session_excluded(s, rel, rel + (dl ? dl + 1 : 0))) {
        s->skipped++;
        return 0;
    }
    if (!(it = afs__session_item(s, rel, strlen(rel))))
        return c->rc = AFS_ENOMEM;
    set_cloud(s, it, e);
    if (e->type == AFS_TYPE_DIR) {
        struct dirq *q = afs__malloc(sizeof(*q));
        if (!q)
            return c->rc = AFS_ENOMEM;
        q->rel = rel; /* arena-owned */
        q->next = *c->queue;
        *c->queue = q;
    }
    return 0;
}

/*
 * List the share from `top` down, every entry through on_entry. For the full
 * enumeration (`top` ""), the root must list; a subdirectory removed
 * meanwhile is skipped, and one that cannot be listed is unknown: its items
 * keep their base, never taken as deleted. For a renamed subtree, a
 * directory gone or turned into a file is skipped, and any other failure
 * ends the walk.
 */
static int walk_share(afs__session *s, const char *top, bool full)
{
    struct dirq *queue = afs__malloc(sizeof(*queue));
    int rc = 0;

    if (!queue || !(queue->rel = afs__arena_strdup(&s->arena, top))) {
        free(queue);
        return AFS_ENOMEM;
    }
    queue->next = NULL;
    while (queue && rc == 0) {
        struct dirq *q = queue;
        struct list_ctx c = { s, q->rel, &queue, 0 };
        queue = q->next;
        rc = afs_storage_list_all(s->storage, q->rel, on_entry, &c);
        if (rc == 0) {
            rc = c.rc;
        } else if (c.rc == 0 && (full ? q->rel[0] && rc == AFS_ENOTFOUND
                                      : rc == AFS_ENOTFOUND || rc == AFS_ENOTDIR)) {
            afs_error_clear();
            rc = 0;
        } else if (c.rc == 0 && full && q->rel[0]) {
            rc = afs__session_item_error(s, q->rel, rc);
            if (rc == 0)
                rc = afs__session_unknown(s, false, q->rel);
        }
        free(q);
    }
    while (queue) {
        struct dirq *q = queue;
        queue = q->next;
        free(q);
    }
    return rc;
}

int afs__scan_cloud_full(afs__session *s)
{
    int rc = walk_share(s, "", true);

    if (rc != 0)
        return rc;
    /* Everything the enumeration did not see is absent in the cloud. */
    for (size_t i = 0; i < s->nall; i++) {
        afs__item *it = s->all[i];
        if (!it->cloud_known && !afs__session_is_unknown(s, false, it->path))
            set_cloud_absent(it);
    }
    return 0;
}

/* ---- journal ---- */

struct jctx {
    afs__session *s;
    const char *self_id;
    int rc;
};

/* Remember what the journal says about `path`; the share is asked later. */
static int note_path(afs__session *s, const char *path, const afs__jrec *r, const char *server)
{
    afs__item *it = afs__session_item(s, path, strlen(path));
    if (!it)
        return AFS_ENOMEM;
    it->cloud_known = false; /* to be checked */
    it->handled = false;
    /* The latest record wins; its etag and digest vouch for that version. */
    if (r && r->op == AFS__JOP_PUT && r->etag && r->etag[0]) {
        it->cloud_writer = afs__arena_strdup(&s->arena, server);
        it->cloud.etag = afs__arena_strdup(&s->arena, r->etag);
        it->cloud_has_md5 = r->has_md5;
        if (r->has_md5)
            memcpy(it->cloud_md5, r->md5, AFS__MD5_LEN);
    } else if (r) {
        it->cloud_writer = NULL;
        it->cloud_has_md5 = false;
    }
    return afs__map_put(&s->journal_paths, it->path, it);
}

static int on_record(uint64_t seq, const char *endpoint_id, const char *server_name,
                     const afs__jrec *r, void *payload)
{
    struct jctx *c = payload;
    afs__session *s = c->s;
    const char *slash = strrchr(r->path, '/');
    (void)seq;
    (void)endpoint_id;
    /* Excluded here: what others do to it is not this endpoint's business. */
    if (r->op != AFS__JOP_RENAME &&
        afs__session_excluded(s, r->path, slash ? slash + 1 : r->path))
        return 0;
    if ((c->rc = note_path(s, r->path, r, server_name)) != 0)
        return c->rc;
    if (r->op == AFS__JOP_RENAME) {
        afs__rename_hint *h;
        if ((c->rc = note_path(s, r->to, NULL, server_name)) != 0)
            return c->rc;
        h = afs__arena_alloc(&s->arena, sizeof(*h));
        if (!h)
            return c->rc = AFS_ENOMEM;
        h->from = afs__arena_strdup(&s->arena, r->path);
        h->to = afs__arena_strdup(&s->arena, r->to);
        h->etag = r->etag ? afs__arena_strdup(&s->arena, r->etag) : NULL;
        h->has_md5 = r->has_md5;
        if (r->has_md5)
            memcpy(h->md5, r->md5, AFS__MD5_LEN);
        h->type = r->type;
        h->next = s->cloud_renames;
        s->cloud_renames = h;
    }
    return 0;
}

/* Mark every item under `dir/` whose cloud side is unknown as checked-absent
 * if the directory itself is gone. */
static void absent_below(afs__session *s, const char *dir)
{
    size_t dl = strlen(dir);
    for (size_t i = 0; i < s->nall; i++) {
        afs__item *it = s->all[i];
        if (!it->cloud_known && strncmp(it->path, dir, dl) == 0 && it->path[dl] == '/')
            set_cloud_absent(it);
    }
}

int afs__scan_cloud_journal(afs__session *s, uint64_t cursor, uint64_t *new_cursor, bool *gap)
{
    struct jctx c = { s, NULL, 0 };
    size_t pos = 0;
    const char *key;
    void *val;
    int rc;

    rc = afs__journal_read(s->storage, cursor, on_record, &c, new_cursor, gap);
    if (rc != 0)
        return c.rc ? c.rc : rc;
    if (*gap)
        return 0;
    /* Ask the share about every path the journal named. */
    while (afs__map_next(&s->journal_paths, &pos, &key, &val)) {
        afs__item *it = val;
        afs_storage_entry e;
        const char *vouched_etag = it->cloud.etag;
        rc = afs_storage_stat(s->storage, it->path, &e);
        /* A parent that became a file (ENOTDIR) means absent just the same. */
        if (rc == AFS_ENOTFOUND || rc == AFS_ENOTDIR) {
            afs_error_clear();
            set_cloud_absent(it);
            if (it->base.exists && it->base.type == AFS_TYPE_DIR)
                absent_below(s, it->path);
            continue;
        }
        if (rc != 0)
            return rc;
        set_cloud(s, it, &e);
        if (!vouched_etag || strcmp(vouched_etag, e.etag) != 0) {
            /* Changed again since the record (perhaps directly in the share). */
            it->cloud_has_md5 = false;
            it->cloud_writer = NULL;
        }
    }
    for (afs__rename_hint *h = s->cloud_renames; h; h = h->next)
        if (h->type == AFS_TYPE_DIR && (rc = walk_share(s, h->to, false)) != 0)
            return rc;
    return 0;
}

void afs__scan_cloud_recheck(afs__session *s, const char *path)
{
    afs_storage_entry e;
    afs__item *it;
    const char *c, *slash;
    int rc;

    for (c = path;; c = slash + 1) {
        slash = strchr(c, '/');
        if (afs__sync_name_class(c, slash ? (size_t)(slash - c) : strlen(c), NULL) !=
            AFS__NAME_SYNC)
            return;
        if (!slash)
            break;
    }
    it = afs__map_get(&s->items, path);
    if (it && it->cloud_known)
        return;
    rc = afs_storage_stat(s->storage, path, &e);
    if (rc != 0 && rc != AFS_ENOTFOUND && rc != AFS_ENOTDIR) {
        afs_error_clear();
        return;
    }
    afs_error_clear();
    if (!it && !(it = afs__session_item(s, path, strlen(path))))
        return;
    if (rc == 0)
        set_cloud(s, it, &e);
    else
        set_cloud_absent(it);
}

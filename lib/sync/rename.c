/*
 * Renames (docs/sync.md#renames). A file or directory the server renamed
 * keeps its file id: the session finds it as "deleted at the old path, new
 * at the new path with the same id" and renames it in the share instead of
 * uploading it again. A rename another endpoint made arrives through the
 * journal and is carried out on the server the same way. When a rename
 * cannot be carried out (the other side changed meanwhile), nothing is
 * lost: the items are handled as a delete and a create, and modify beats
 * delete.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tier/tier_internal.h"
#include "rename.h"
#include "state.h"

/*
 * The local rename a session is about to make for another endpoint's rename
 * ("<from>\n<to>"; synced names hold no control characters), committed
 * before the rename and cleared with the base it moves: a session killed in
 * between leaves it for its successor, which finishes or undoes that rename
 * instead of taking it for a user's (recover_local_rename).
 */
#define KEY_LOCAL_RENAME "local_rename_pending"

static size_t depth(const char *p)
{
    size_t d = 0;
    for (; *p; p++)
        d += *p == '/';
    return d;
}

static int cmp_depth(const void *a, const void *b)
{
    const afs__item *x = *(afs__item *const *)a, *y = *(afs__item *const *)b;
    size_t dx = depth(x->path), dy = depth(y->path);
    if (dx != dy)
        return dx < dy ? -1 : 1;
    return strcmp(x->path, y->path);
}

static bool under(const char *path, const char *dir, size_t dl)
{
    return strncmp(path, dir, dl) == 0 && (path[dl] == '\0' || path[dl] == '/');
}

/*
 * A placeholder renamed here or in the share, the rename now on both sides:
 * its marker names the new cloud path and `etag`, and it stands for the base
 * again (writing the marker moved its ctime). A cloud etag that the rename
 * changed is then an ordinary cloud change of the placeholder.
 */
static int retarget(afs__apply *a, afs__item *t, const char *etag)
{
    afs_fs_stat st;
    int rc;
    if (!t->local_placeholder || !etag)
        return 0;
    if ((rc = afs__tier_placeholder_retarget(a->s->ep, t->path, etag, &st)) != 0) {
        /* It stays a placeholder of the old path; the session goes on. */
        afs__session_item_error(a->s, t->path, rc);
        return 0;
    }
    t->placeholder_from = NULL;
    t->base.ctime_ns = st.ctime_ns;
    t->base.file_id = st.file_id;
    t->local = t->base;
    t->local.etag = NULL;
    return afs__apply_save(a, t);
}

/*
 * A placeholder renamed here whose rename could not be carried out: the
 * cloud path its marker names holds its only content, so that path is not
 * deleted from the share (it stays as it was, and the renamed placeholder
 * gets a per-item error when its upload is refused).
 */
static void keep_placeholder_sources(afs__session *s, afs__item *const *phs, size_t nph)
{
    for (size_t i = 0; i < nph; i++) {
        afs__item *it = phs[i], *src;
        if (!it->placeholder_from || it->base.exists)
            continue;
        src = afs__map_get(&s->items, it->placeholder_from);
        /* Only a deletion is held back: a source changed in the share is
         * not deleted anyway (modify beats delete). */
        if (src && src->base.exists && !src->local.exists && src->cloud.exists &&
            src->cloud.etag && src->base.etag && strcmp(src->cloud.etag, src->base.etag) == 0) {
            afs__log(AFS_LOG_INFO, "sync: %s is a placeholder of %s, whose rename could not "
                     "be carried to the share; %s is kept there", it->path,
                     it->placeholder_from, it->placeholder_from);
            src->local = src->base;
            src->local.etag = NULL;
            src->handled = true;
        }
    }
}

enum move_what {
    MOVE_CLOUD, /* this server renamed: the base and the cloud side move */
    MOVE_LOCAL, /* the rename came from the share: the base and the local side move */
    MOVE_BASE,  /* the same, made by a killed session: the scan saw the local side moved */
    UNDO_LOCAL  /* a local rename undone: only the local side moves, the base stays */
};

/*
 * Move the base of `from` and everything below it to `to`, with the side
 * that moved (enum move_what).
 */
static int move_subtree(afs__apply *a, const char *from, const char *to, enum move_what what)
{
    afs__session *s = a->s;
    size_t fl = strlen(from), tl = strlen(to), n = 0, cap = 64;
    afs__item **list = afs__malloc(cap * sizeof(*list));
    int rc = 0;

    if (!list)
        return a->fatal = AFS_ENOMEM;
    /* Collect first: the items made below must not be visited. */
    for (size_t i = 0; i < s->nall; i++) {
        if (!under(s->all[i]->path, from, fl))
            continue;
        if (n == cap) {
            afs__item **nl = afs__realloc(list, cap * 2 * sizeof(*list));
            if (!nl) {
                free(list);
                return a->fatal = AFS_ENOMEM;
            }
            list = nl;
            cap *= 2;
        }
        list[n++] = s->all[i];
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        afs__item *x = list[i], *t;
        size_t rest = strlen(x->path) - fl;
        char *tp = afs__arena_alloc(&s->arena, tl + rest + 1);
        if (!tp) {
            rc = a->fatal = AFS_ENOMEM;
            break;
        }
        memcpy(tp, to, tl);
        memcpy(tp + tl, x->path + fl, rest + 1);
        if (!(t = afs__session_item(s, tp, strlen(tp)))) {
            rc = a->fatal = AFS_ENOMEM;
            break;
        }
        if (what == UNDO_LOCAL) {
            t->local = x->local;
            t->local_placeholder = x->local_placeholder;
            memset(&x->local, 0, sizeof(x->local));
            x->local_placeholder = false;
            continue;
        }
        t->base = x->base;
        t->base_has_md5 = x->base_has_md5;
        memcpy(t->base_md5, x->base_md5, AFS__MD5_LEN);
        if (what == MOVE_LOCAL) {
            /* Another endpoint renamed in the share: the scan already knows
             * the cloud side at the new paths; the server's items move. */
            t->local = x->local;
            t->local_placeholder = x->local_placeholder;
            memset(&x->local, 0, sizeof(x->local));
            x->local_placeholder = false;
        } else if (what == MOVE_CLOUD) {
            /* This server renamed: the cloud items moved with our rename. */
            t->cloud = x->cloud;
            t->cloud_known = true;
            t->cloud_has_md5 = x->cloud_has_md5;
            memcpy(t->cloud_md5, x->cloud_md5, AFS__MD5_LEN);
            memset(&x->cloud, 0, sizeof(x->cloud));
            x->cloud_known = true;
        }
        memset(&x->base, 0, sizeof(x->base));
        x->base_has_md5 = false;
        if ((rc = afs__apply_save(a, x)) == 0)
            rc = afs__apply_save(a, t);
        /* A placeholder that moved (either way) now stands at its new path. */
        if (rc == 0 && t->base.type == AFS_TYPE_FILE)
            rc = retarget(a, t, t->base.etag);
    }
    free(list);
    return rc;
}

static void id_key(uint64_t id, char buf[24])
{
    snprintf(buf, 24, "%" PRIx64, id);
}

/*
 * Carry this server's rename of `old` to `c` into the share (conditional on
 * the base's etag, never over an item), and move the bases. *carried says
 * whether it happened; a failed rename falls back to delete + create.
 */
static int carry(afs__apply *a, afs__item *old, afs__item *c, bool *carried)
{
    afs__session *s = a->s;
    afs_storage_entry e;
    int rc;

    *carried = false;
    rc = afs_storage_rename(s->storage, old->path, c->path,
                            old->base.type == AFS_TYPE_FILE ? old->base.etag : NULL,
                            AFS_STORAGE_RENAME_NOREPLACE);
    if (rc != 0) {
        /* Fall back to delete + create; modify beats delete. */
        afs__log(AFS_LOG_INFO, "sync: rename %s -> %s in the share failed (%s); "
                 "uploading instead", old->path, c->path, afs_error_last());
        afs_error_clear();
        return 0;
    }
    *carried = true;
    if ((rc = move_subtree(a, old->path, c->path, MOVE_CLOUD)) != 0)
        return rc;
    /* Renaming changed the file's ctime: if its content is still the
     * base's (the id, size and time already match), take the new ctime,
     * or the file would be uploaded again. */
    if (c->local.type == AFS_TYPE_FILE && c->base_has_md5 && !c->local_placeholder) {
        uint8_t md5[AFS__MD5_LEN];
        if (afs__apply_hash_local(a, c, md5) == 0 &&
            memcmp(md5, c->base_md5, AFS__MD5_LEN) == 0)
            c->base.ctime_ns = c->local.ctime_ns;
        else if ((rc = a->fatal) != 0)
            return rc;
        afs_error_clear();
    }
    /* The rename gave the object a new etag; the content is the same. */
    if (afs_storage_stat(s->storage, c->path, &e) == 0) {
        c->base.etag = afs__arena_strdup(&s->arena, e.etag);
        c->cloud.etag = c->base.etag;
        c->cloud_known = true;
        if ((rc = afs__apply_save(a, c)) != 0)
            return rc;
        if (c->local.type == AFS_TYPE_FILE && (rc = retarget(a, c, c->base.etag)) != 0)
            return rc;
    }
    /* The digest says which content moved (the rename was conditional on
     * the base's etag), so that others adopt the rename only for it. */
    afs__apply_journal(a, AFS__JOP_RENAME, old->path, c->path, c->local.type,
                       c->base.size, c->base.mtime_ns, c->base.etag,
                       c->local.type == AFS_TYPE_FILE && c->base_has_md5 ? c->base_md5
                                                                         : NULL);
    if (a->res)
        a->res->renamed_cloud++;
    return 0;
}

/*
 * Placeholders renamed here whose old path holds a new file now (the rename
 * detection above wants the old path vanished): the old cloud copy is the
 * placeholder's only content, so the rename is carried out first; the new
 * file at the old path is then an ordinary new file.
 */
static int placeholder_renames(afs__apply *a, afs__item *const *list, size_t n)
{
    afs__session *s = a->s;
    int rc = 0;

    for (size_t i = 0; i < n && rc == 0; i++) {
        afs__item *c = list[i], *old;
        bool carried;
        if (!c->placeholder_from || c->base.exists || !c->local.exists)
            continue;
        old = afs__map_get(&s->items, c->placeholder_from);
        if (c->cloud.exists && c->cloud.type == AFS_TYPE_FILE && c->cloud.etag &&
            c->placeholder_etag && strcmp(c->cloud.etag, c->placeholder_etag) == 0) {
            /* The share made the same rename: the very version the marker
             * names is at the new path already. */
            c->base = c->cloud;
            c->base.file_id = c->local.file_id;
            c->base.ctime_ns = c->local.ctime_ns;
            c->base_has_md5 = c->cloud_has_md5;
            memcpy(c->base_md5, c->cloud_md5, AFS__MD5_LEN);
            rc = retarget(a, c, c->cloud.etag);
            continue;
        }
        if (c->cloud.exists || !old || !old->base.exists || old->base.type != AFS_TYPE_FILE ||
            !old->local.exists || old->local.file_id == old->base.file_id ||
            c->local.file_id != old->base.file_id || old->base.size != c->local.size ||
            old->base.mtime_ns != c->local.mtime_ns || !old->cloud.exists ||
            !old->cloud.etag || !old->base.etag || strcmp(old->cloud.etag, old->base.etag) != 0)
            continue;
        rc = carry(a, old, c, &carried);
    }
    return rc;
}

/* Vanished here, unchanged in the cloud: a rename source. */
static bool is_source(const afs__item *it)
{
    return it->base.exists && !it->local.exists && it->cloud.exists &&
           it->cloud.type == it->base.type &&
           (it->base.type == AFS_TYPE_DIR ||
            (it->cloud.etag && it->base.etag && strcmp(it->cloud.etag, it->base.etag) == 0));
}

/* Index the rename sources by file id (at their paths as they are now). */
static int index_sources(afs__apply *a, afs__map *by_id)
{
    afs__session *s = a->s;
    for (size_t i = 0; i < s->nall; i++) {
        afs__item *it = s->all[i];
        char *k;
        if (!is_source(it))
            continue;
        k = afs__arena_alloc(&s->arena, 24);
        if (!k || afs__map_put(by_id, (id_key(it->base.file_id, k), k), it) != 0)
            return a->fatal = AFS_ENOMEM;
    }
    return 0;
}

/* Server-side renames become renames in the share. */
/* Append to a growing list of items; false on ENOMEM. */
static bool push_item(afs__item ***list, size_t *n, size_t *cap, afs__item *it)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        afs__item **l = afs__realloc(*list, nc * sizeof(*l));
        if (!l)
            return false;
        *list = l;
        *cap = nc;
    }
    (*list)[(*n)++] = it;
    return true;
}

/* Server-side renames become renames in the share. */
static int local_renames(afs__apply *a)
{
    afs__session *s = a->s;
    afs__map by_id = { 0 };
    afs__item **cands = NULL, **phs = NULL;
    size_t n = 0, cap = 0, nph = 0, capph = 0;
    bool moved = false, any_source = false;
    int rc = 0;

    /* One pass over every item: rename targets (new here, nowhere else),
     * whether any source exists (gone here, still in the base and the
     * share), and the renamed placeholders the scan found. A session with
     * no target or no source (a no-op, plain edits) indexes nothing. */
    for (size_t i = 0; i < s->nall; i++) {
        afs__item *it = s->all[i];
        if (it->placeholder_from && !push_item(&phs, &nph, &capph, it)) {
            rc = a->fatal = AFS_ENOMEM;
            goto done;
        }
        if (!it->base.exists && it->local.exists && !it->cloud.exists &&
            !push_item(&cands, &n, &cap, it)) {
            rc = a->fatal = AFS_ENOMEM;
            goto done;
        }
        any_source |= is_source(it);
    }
    if (n == 0 || !any_source)
        goto done;
    if ((rc = index_sources(a, &by_id)) != 0)
        goto done;
    if (by_id.count == 0)
        goto done;
    qsort(cands, n, sizeof(*cands), cmp_depth);
    for (size_t i = 0; i < n; i++) {
        afs__item *c = cands[i], *old;
        bool carried = false;
        char k[24];
        if (c->base.exists || c->cloud.exists) /* moved here by a directory rename */
            continue;
        id_key(c->local.file_id, k);
        old = afs__map_get(&by_id, k);
        if (old && !old->base.exists && moved) {
            /* A folder renamed out of a folder renamed before it: the
             * sources moved with that rename, index them where they are. */
            moved = false;
            if ((rc = index_sources(a, &by_id)) != 0)
                goto done;
            old = afs__map_get(&by_id, k);
        }
        if (!old || old->base.exists == false || old->base.type != c->local.type)
            continue;
        if (old->base.type == AFS_TYPE_FILE &&
            (old->base.size != c->local.size || old->base.mtime_ns != c->local.mtime_ns))
            continue;
        if ((rc = carry(a, old, c, &carried)) != 0)
            goto done;
        if (carried)
            afs__map_remove(&by_id, k);
        moved |= carried && c->base.type == AFS_TYPE_DIR;
    }
done:
    if (rc == 0)
        rc = placeholder_renames(a, phs, nph);
    if (rc == 0)
        keep_placeholder_sources(s, phs, nph);
    afs__map_free(&by_id);
    free(cands);
    free(phs);
    return rc;
}

/*
 * Our rename changed the item's ctime: its base and local side must say so,
 * or the unchanged file looks modified (and no longer like the one this
 * session scanned). A file whose size or time is not the base's any more
 * was written since: it keeps looking modified.
 */
static int take_ctime(afs__apply *a, afs__item *t)
{
    afs__session *s = a->s;
    char *abs = afs__session_local_path(s, t->path);
    afs_fs_stat st;
    int rc = 0;
    if (!abs)
        return a->fatal = AFS_ENOMEM;
    memset(&st, 0, sizeof(st));
    if (s->fsops->stat(s->fsctx, abs, &st) == 0 && st.type == t->local.type &&
        st.file_id == t->local.file_id &&
        (st.type != AFS_TYPE_FILE ||
         (st.size == t->base.size && st.mtime_ns == t->base.mtime_ns))) {
        t->local.ctime_ns = st.ctime_ns;
        t->base.ctime_ns = st.ctime_ns;
        rc = afs__apply_save(a, t);
    }
    afs_error_clear();
    return rc;
}

/* Commit the intent of a local rename before it is made (KEY_LOCAL_RENAME). */
static int note_local_rename(afs__apply *a, const char *from, const char *to)
{
    char *v = afs__sprintf("%s\n%s", from, to);
    int rc;
    if (!v)
        return a->fatal = AFS_ENOMEM;
    rc = afs__state_set_text(a->db, KEY_LOCAL_RENAME, v);
    free(v);
    if (rc != 0)
        return a->fatal = rc;
    return afs__apply_flush(a);
}

/* The rename is made and its base moved (or it failed): in the same
 * transaction as the moved base, nothing is pending any more. */
static int clear_local_rename(afs__apply *a)
{
    int rc = afs__state_set_text(a->db, KEY_LOCAL_RENAME, "");
    return rc != 0 ? a->fatal = rc : 0;
}

/*
 * A previous session was killed between a local rename it made for another
 * endpoint (KEY_LOCAL_RENAME) and the commit of the moved base: the server
 * holds at `to` the item the base still has at `from`. That is no rename of
 * this server's user, never to be carried to the share. If the share holds
 * `from` again and not `to` (renamed back meanwhile), the rename is undone
 * here; otherwise it is finished as the killed session would have.
 */
static int recover_local_rename(afs__apply *a)
{
    afs__session *s = a->s;
    char *v = NULL, *to;
    afs__item *f, *t;
    int rc;

    if ((rc = afs__state_get_text(a->db, KEY_LOCAL_RENAME, &v)) != 0)
        return a->fatal = rc;
    if (!v || !v[0] || !(to = strchr(v, '\n')))
        goto done;
    *to++ = '\0';
    f = afs__map_get(&s->items, v);
    t = afs__map_get(&s->items, to);
    if (f && t && f->base.exists && !f->local.exists && t->local.exists && !t->base.exists &&
        t->local.type == f->base.type && t->local.file_id == f->base.file_id) {
        bool undone = false;
        if (f->cloud.exists && f->cloud.type == f->base.type && !t->cloud.exists) {
            char *fabs = afs__session_local_path(s, v), *tabs = afs__session_local_path(s, to);
            if (!fabs || !tabs) {
                rc = a->fatal = AFS_ENOMEM;
                goto done;
            }
            undone = s->fsops->rename(s->fsctx, tabs, fabs, AFS_FS_RENAME_NOREPLACE) == 0;
            afs_error_clear();
        }
        if (undone) {
            afs__log(AFS_LOG_INFO, "sync: %s, renamed to %s by an interrupted session, "
                     "is renamed back: the share has %s again", v, to, v);
            if ((rc = move_subtree(a, to, v, UNDO_LOCAL)) == 0)
                rc = take_ctime(a, f);
        } else {
            afs__log(AFS_LOG_INFO, "sync: %s was renamed to %s by an interrupted session; "
                     "its base follows", v, to);
            if ((rc = move_subtree(a, v, to, MOVE_BASE)) == 0)
                rc = take_ctime(a, t);
        }
    }
    if (rc == 0)
        rc = clear_local_rename(a);
done:
    free(v);
    return rc;
}

/* Renames other endpoints made, from the journal, carried out here. */
static int cloud_renames(afs__apply *a)
{
    afs__session *s = a->s;
    afs__rename_hint *h, *rev = NULL;
    int rc = 0;

    /* The list was built newest first; apply in journal order. */
    while ((h = s->cloud_renames) != NULL) {
        s->cloud_renames = h->next;
        h->next = rev;
        rev = h;
    }
    for (h = rev; h && rc == 0; h = h->next) {
        afs__item *f = afs__map_get(&s->items, h->from);
        afs__item *t = afs__map_get(&s->items, h->to);
        char *fabs, *tabs, *dir;
        const char *slash;
        if (!f || !t || !f->base.exists || f->base.type != h->type || !f->local.exists ||
            afs__local_change(&f->base, &f->local) != AFS__CH_NONE || f->cloud.exists ||
            t->local.exists || t->base.exists || !t->cloud.exists || t->cloud.type != h->type)
            continue;
        if (!(fabs = afs__session_local_path(s, h->from)) ||
            !(tabs = afs__session_local_path(s, h->to)))
            return a->fatal = AFS_ENOMEM;
        slash = strrchr(h->to, '/');
        if (!(dir = afs__arena_strndup(&s->arena, h->to, slash ? (size_t)(slash - h->to) : 0)))
            return a->fatal = AFS_ENOMEM;
        if (dir[0]) {
            afs__item *d = afs__map_get(&s->items, dir);
            if (!d || !d->local.exists || d->local.type != AFS_TYPE_DIR)
                continue; /* the parent arrives later as an ordinary create */
        }
        if ((rc = note_local_rename(a, h->from, h->to)) != 0)
            break;
        if (s->fsops->rename(s->fsctx, fabs, tabs, AFS_FS_RENAME_NOREPLACE) != 0) {
            afs_error_clear();
            if ((rc = clear_local_rename(a)) != 0)
                break;
            continue;
        }
        if ((rc = move_subtree(a, h->from, h->to, MOVE_LOCAL)) != 0 ||
            (rc = take_ctime(a, t)) != 0 || (rc = clear_local_rename(a)) != 0)
            break;
        /* The object is still what the renaming endpoint renamed (the etag
         * its rename produced) and that content is the one we hold (the
         * digests agree): the moved base is current. Otherwise the base
         * keeps our old etag and the content comes down as a change. */
        if (h->type == AFS_TYPE_FILE && h->etag && t->cloud.etag &&
            strcmp(h->etag, t->cloud.etag) == 0 && h->has_md5 && t->base_has_md5 &&
            memcmp(h->md5, t->base_md5, AFS__MD5_LEN) == 0) {
            t->base.etag = t->cloud.etag;
            if ((rc = afs__apply_save(a, t)) != 0)
                break;
        }
        if (a->res)
            a->res->renamed_local++;
    }
    return rc;
}

int afs__renames_apply(afs__apply *a)
{
    int rc = recover_local_rename(a);
    if (rc == 0)
        rc = cloud_renames(a);
    if (rc == 0)
        rc = local_renames(a);
    return rc;
}

/*
 * The tiering pass and its policies (docs/tiering.md#policies), the heat
 * store report, and forced tiering. Policy rules from
 * shared/reference/afs-cloud-tiering-overview.md and afs-facts.md:
 *   - the date policy tiers files not accessed or written for N days, as
 *     soon as they are uploaded, even on an empty volume;
 *   - the volume free space policy, once the initial upload is done, tiers
 *     the coolest files until the volume has the largest free space
 *     percentage of its endpoints free; it wins over the date policy;
 *   - a pass never recalls, so a less aggressive policy recalls nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/json.h"
#include "../service/service_internal.h"
#include "../sync/names.h"
#include "../sync/state.h"
#include "tier_priv.h"

/* ---- walking a tree ---- */

struct walk_dir {
    char *abs;
    char *rel;
    struct walk_dir *next;
};

static int walk_push(struct walk_dir **stack, const char *abs, const char *rel)
{
    struct walk_dir *d = afs__calloc(1, sizeof(*d));
    if (!d)
        return AFS_ENOMEM;
    d->abs = afs__strdup(abs);
    d->rel = afs__strdup(rel);
    if (!d->abs || !d->rel) {
        free(d->abs);
        free(d->rel);
        free(d);
        return AFS_ENOMEM;
    }
    d->next = *stack;
    *stack = d;
    return 0;
}

int afs__tier_walk(afs_fs *fs, const char *abs, const char *rel, afs__tier_walk_fn fn,
                   void *payload)
{
    const afs_fs_ops *o = &fs->ops;
    struct walk_dir *stack = NULL;
    afs_fs_stat st;
    int rc;

    memset(&st, 0, sizeof(st));
    if ((rc = o->stat(fs->ctx, abs, &st)) != 0)
        return rc;
    if (st.type == AFS_TYPE_FILE)
        return fn(rel, abs, &st, payload);
    if (st.type != AFS_TYPE_DIR)
        return afs__error_set(AFS_EINVAL, "%s is neither a file nor a folder", abs);
    if ((rc = walk_push(&stack, abs, rel)) != 0)
        return rc;
    while (stack && rc == 0) {
        struct walk_dir *d = stack;
        void *dir = NULL;
        afs_fs_dirent de;
        stack = d->next;
        rc = o->dir_open(fs->ctx, d->abs, &dir);
        if (rc == AFS_ENOTFOUND) { /* vanished meanwhile */
            afs_error_clear();
            rc = 0;
        } else if (rc == 0) {
            for (;;) {
                char *cabs, *crel;
                size_t nl;
                memset(&de, 0, sizeof(de));
                rc = o->dir_read(fs->ctx, dir, &de);
                if (rc == AFS_EITEROVER) {
                    rc = 0;
                    break;
                }
                if (rc != 0)
                    break;
                nl = strlen(de.name);
                /* Our temporaries and names sync never handles are never tiered. */
                if (afs__sync_name_class(de.name, nl, NULL) != AFS__NAME_SYNC)
                    continue;
                cabs = afs__sprintf("%s/%s", d->abs, de.name);
                crel = d->rel[0] ? afs__sprintf("%s/%s", d->rel, de.name) : afs__strdup(de.name);
                if (!cabs || !crel) {
                    free(cabs);
                    free(crel);
                    rc = AFS_ENOMEM;
                    break;
                }
                memset(&st, 0, sizeof(st));
                rc = o->stat(fs->ctx, cabs, &st);
                if (rc == AFS_ENOTFOUND) {
                    afs_error_clear();
                    rc = 0;
                } else if (rc == 0 && st.type == AFS_TYPE_DIR) {
                    rc = walk_push(&stack, cabs, crel);
                } else if (rc == 0 && st.type == AFS_TYPE_FILE && st.nlink <= 1) {
                    rc = fn(crel, cabs, &st, payload);
                }
                free(cabs);
                free(crel);
                if (rc != 0)
                    break;
            }
            o->dir_close(fs->ctx, dir);
        }
        free(d->abs);
        free(d->rel);
        free(d);
    }
    while (stack) {
        struct walk_dir *d = stack;
        stack = d->next;
        free(d->abs);
        free(d->rel);
        free(d);
    }
    return rc;
}

/* ---- the endpoints of a volume ---- */

void afs__tier_eps_free(afs__tier_ep *eps, size_t n)
{
    if (!eps)
        return;
    for (size_t i = 0; i < n; i++) {
        free(eps[i].id);
        free(eps[i].root);
        if (!eps[i].state_borrowed)
            afs__db_close(eps[i].state);
        afs__tier_rules_free(&eps[i].rules);
    }
    free(eps);
}

static uint32_t opt_u32(yajl_val v, const char *key, uint32_t dflt)
{
    int64_t n;
    if (!v || afs__json_get_int(v, key, &n) != 0 || n < 0 || n > (int64_t)UINT32_MAX)
        return dflt;
    return (uint32_t)n;
}

int afs__tier_eps_load(afs__tier_ctx *c, afs_endpoint *self, afs__tier_ep **out, size_t *n)
{
    afs_db *db = afs__service_db(c->svc);
    sqlite3_stmt *st;
    afs__tier_ep *eps = NULL;
    size_t count = 0, cap = 0;
    int rc;

    *out = NULL;
    *n = 0;
    st = afs__db_stmt(db, "SELECT id, local_path, options FROM server_endpoint "
                          "WHERE volume_id = ? ORDER BY id");
    if (!st)
        return afs_error_last_code();
    sqlite3_bind_text(st, 1, c->vinfo.id, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_text(st, 2);
        yajl_val v = NULL;
        afs__tier_ep *e;
        int64_t n64;
        if (count == cap) {
            size_t nc = cap ? cap * 2 : 4;
            afs__tier_ep *ne = afs__realloc(eps, nc * sizeof(*ne));
            if (!ne) {
                rc = SQLITE_NOMEM;
                break;
            }
            eps = ne;
            cap = nc;
        }
        e = &eps[count++];
        memset(e, 0, sizeof(*e));
        e->id = afs__strdup((const char *)sqlite3_column_text(st, 0));
        e->root = afs__strdup((const char *)sqlite3_column_text(st, 1));
        if (!e->id || !e->root) {
            rc = SQLITE_NOMEM;
            break;
        }
        /* Options as the engine wrote them; an unreadable document means "tiering off". */
        if (text && afs__json_parse(text, strlen(text), "endpoint options", &v) != 0) {
            afs__log(AFS_LOG_WARN, "tiering: endpoint %s: %s", e->id, afs_error_last());
            afs_error_clear();
            v = NULL;
        }
        e->enabled = opt_u32(v, "tiering_enabled", 0) == 1;
        e->free_pct = opt_u32(v, "tiering_free_space_percent", 20);
        if (e->free_pct > 99)
            e->free_pct = 99;
        e->date_days = opt_u32(v, "tiering_date_days", 0);
        e->min_size = AFS__TIER_DEFAULT_MIN_SIZE;
        if (v && afs__json_get_int(v, "tiering_min_file_size", &n64) == 0 && n64 > 0)
            e->min_size = (uint64_t)n64;
        if (v)
            yajl_tree_free(v);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        afs__tier_eps_free(eps, count);
        return rc == SQLITE_NOMEM ? AFS_ENOMEM : afs__db_error(db, rc, "list server endpoints");
    }
    rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        afs__tier_ep *e = &eps[i];
        int64_t done = 0;
        if (self && strcmp(self->id, e->id) == 0) {
            e->state = self->state;
            e->state_borrowed = true;
        } else {
            rc = afs__state_open(&e->state, afs__service_state_dir(c->svc), e->id);
        }
        if (rc == 0)
            rc = afs__state_get_int(e->state, "initial_sync_done", 0, &done);
        e->initial_done = done != 0;
        if (rc == 0)
            rc = afs__heat_rules_load(c->vol, e->id, &e->rules);
        if (rc == 0) {
            pthread_mutex_lock(&c->vol->mu);
            rc = afs__heat_key_locked(c->vol, e->id, &e->key);
            pthread_mutex_unlock(&c->vol->mu);
        }
    }
    if (rc != 0) {
        afs__tier_eps_free(eps, count);
        return rc;
    }
    *out = eps;
    *n = count;
    return 0;
}

static afs__tier_ep *ep_by_key(afs__tier_ep *eps, size_t n, int64_t key)
{
    for (size_t i = 0; i < n; i++)
        if (eps[i].key == key)
            return &eps[i];
    return NULL;
}

static afs__tier_ep *ep_find(afs__tier_ep *eps, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(eps[i].id, id) == 0)
            return &eps[i];
    return NULL;
}

/* The largest free space percentage of the enabled endpoints (optionally only
 * those whose initial upload is done). */
static uint32_t effective_percent(const afs__tier_ep *eps, size_t n, bool need_initial)
{
    uint32_t pct = 0;
    for (size_t i = 0; i < n; i++)
        if (eps[i].enabled && (!need_initial || eps[i].initial_done) && eps[i].free_pct > pct)
            pct = eps[i].free_pct;
    return pct;
}

int afs__tier_volume_percent(afs_service *svc, const char *volume_id, uint32_t *pct);
int afs__tier_volume_percent(afs_service *svc, const char *volume_id, uint32_t *pct)
{
    afs__tier_ctx c;
    afs__tier_ep *eps;
    size_t n;
    int rc;
    memset(&c, 0, sizeof(c));
    c.svc = svc;
    c.fs = afs__service_fs(svc);
    snprintf(c.vinfo.id, sizeof(c.vinfo.id), "%s", volume_id);
    *pct = 0;
    if ((rc = afs__tier_vol_get(svc, volume_id, &c.vol)) != 0 ||
        (rc = afs__tier_eps_load(&c, NULL, &eps, &n)) != 0)
        return rc;
    *pct = effective_percent(eps, n, false);
    afs__tier_eps_free(eps, n);
    return 0;
}

static bool low_disk(const afs_fs_volume *v)
{
    return v->total_bytes &&
           v->free_bytes * 100 < (uint64_t)AFS__TIER_LOW_DISK_PERCENT * v->total_bytes;
}

int afs_tier_interval(afs_endpoint *endpoint, uint32_t *seconds, uint32_t *low)
{
    afs_fs_volume v;
    int rc;
    if (!endpoint || !seconds)
        return afs__error_set(AFS_EINVAL, "afs_tier_interval: endpoint and seconds are "
                              "required");
    if ((rc = afs__tier_volume(afs__service_fs(endpoint->group->svc), endpoint->path, &v)) != 0)
        return rc;
    /* Low disk space mode: evaluate every minute instead of hourly (afs-facts.md). */
    *seconds = low_disk(&v) ? AFS__TIER_LOW_DISK_INTERVAL_S : AFS__TIER_INTERVAL_S;
    if (low)
        *low = low_disk(&v);
    return 0;
}

/* ---- the pass ---- */

typedef struct pass {
    afs__tier_ctx c;
    afs__tier_ep *eps;
    size_t neps;
    int64_t now;
    bool dry;
    afs_tier_result *r;
    uint64_t need;   /* bytes the space stage must free */
    uint64_t freed;  /* freed by the space stage so far */
    void *payload;   /* the heat store report's list */
} pass;

/* A candidate copied out of the heat store, so the statement is not held
 * open while files change. */
typedef struct cand {
    int64_t ep;
    char *path;
    uint64_t size;
    uint64_t local_bytes;
} cand;

#define PAGE 256

static void cands_free(cand *cs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(cs[i].path);
}

/* Fill `k` from a heat row: path, size and local_bytes at columns `col` to
 * `col` + 2 of `st` (the path copied). False if the copy failed. */
static bool cand_from_row(cand *k, int64_t ep, sqlite3_stmt *st, int col)
{
    k->ep = ep;
    k->path = afs__strdup((const char *)sqlite3_column_text(st, col));
    k->size = (uint64_t)sqlite3_column_int64(st, col + 1);
    k->local_bytes = (uint64_t)sqlite3_column_int64(st, col + 2);
    return k->path != NULL;
}

/* The afs code of a heat query that ended with `src` (not SQLITE_DONE):
 * SQLITE_NOMEM stands for a failed copy of a row. */
static int heat_query_error(pass *p, int src)
{
    return src == SQLITE_NOMEM ? AFS_ENOMEM : afs__db_error(p->c.vol->heat, src, "heat");
}

/* Tier one candidate, counting the outcome. `stage`: 'e'vict, 'd'ate, 's'pace. */
static int tier_cand(pass *p, afs__tier_ep *e, const cand *k, char stage)
{
    afs__tier_skip skip;
    uint64_t freed = 0;
    int rc;

    if (p->dry) {
        /* Choose from the heat store only; the pass checks each file for real. */
        if (k->size < e->min_size) {
            p->r->skipped_small++;
            return 0;
        }
        if (afs__tier_pinned(&e->rules, k->path)) {
            p->r->skipped_pinned++;
            return 0;
        }
        if (afs__tier_excluded(&e->rules, k->path)) {
            p->r->skipped_excluded++;
            return 0;
        }
        skip = AFS__SKIP_NONE;
        freed = k->local_bytes;
    } else {
        rc = afs__tier_one(&p->c, e, k->path, &skip, &freed);
        if (rc != 0) {
            if (rc == AFS_ENOMEM || rc == AFS_ENOTSUP)
                return rc;
            afs__log(AFS_LOG_WARN, "tiering %s/%s: %s", e->root, k->path, afs_error_last());
            afs_error_clear();
            p->r->item_errors++;
            return 0;
        }
    }
    switch (skip) {
    case AFS__SKIP_NONE:
        p->r->files_tiered++;
        p->r->bytes_freed += freed;
        if (stage == 'e')
            p->r->files_tiered_evict++;
        else if (stage == 'd')
            p->r->files_tiered_date++;
        else
            p->r->files_tiered_space++;
        if (stage == 's')
            p->freed += freed;
        break;
    case AFS__SKIP_NOT_SYNCED: p->r->skipped_not_synced++; break;
    case AFS__SKIP_SMALL: p->r->skipped_small++; break;
    case AFS__SKIP_EXCLUDED: p->r->skipped_excluded++; break;
    case AFS__SKIP_PINNED: p->r->skipped_pinned++; break;
    case AFS__SKIP_CHANGED:
    case AFS__SKIP_OPEN: p->r->skipped_changed++; break;
    default: break;
    }
    return 0;
}

static int stage_evict(pass *p)
{
    sqlite3_stmt *st;
    cand *cs = NULL;
    size_t n = 0, cap = 0;
    int rc;

    pthread_mutex_lock(&p->c.vol->mu);
    st = afs__db_stmt(p->c.vol->heat, "SELECT ep, path, size, local_bytes FROM heat "
                                      "WHERE evict = 1 ORDER BY ep, path");
    if (!st) {
        pthread_mutex_unlock(&p->c.vol->mu);
        return afs_error_last_code();
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            cand *ncs = afs__realloc(cs, nc * sizeof(*ncs));
            if (!ncs) {
                rc = SQLITE_NOMEM;
                break;
            }
            cs = ncs;
            cap = nc;
        }
        if (!cand_from_row(&cs[n++], sqlite3_column_int64(st, 0), st, 1)) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    sqlite3_reset(st);
    pthread_mutex_unlock(&p->c.vol->mu);
    if (rc != SQLITE_DONE) {
        cands_free(cs, n);
        free(cs);
        return heat_query_error(p, rc);
    }
    rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        afs__tier_ep *e = ep_by_key(p->eps, p->neps, cs[i].ep);
        if (!e || !e->enabled)
            continue;
        rc = tier_cand(p, e, &cs[i], 'e');
        if (rc == 0 && !p->dry) {
            /* Tiered or not (the user changed it), it has been "used": no longer pending. */
            pthread_mutex_lock(&p->c.vol->mu);
            st = afs__db_stmt(p->c.vol->heat,
                              "UPDATE heat SET evict = 0 WHERE ep = ? AND path = ?");
            if (st) {
                sqlite3_bind_int64(st, 1, cs[i].ep);
                sqlite3_bind_text(st, 2, cs[i].path, -1, SQLITE_STATIC);
                sqlite3_step(st);
                sqlite3_reset(st);
            }
            pthread_mutex_unlock(&p->c.vol->mu);
        }
    }
    cands_free(cs, n);
    free(cs);
    return rc;
}

/* Does the date policy of `e` take a file at `position`? */
static bool date_takes(const pass *p, const afs__tier_ep *e, int64_t position)
{
    return e->enabled && e->date_days &&
           position < p->now - (int64_t)e->date_days * AFS__TIER_DAY_NS;
}

static int stage_date(pass *p, afs__tier_ep *e)
{
    int64_t cutoff = p->now - (int64_t)e->date_days * AFS__TIER_DAY_NS;
    int64_t last_pos = INT64_MIN;
    char *last_path = afs__strdup("");
    int rc = 0;

    if (!last_path)
        return AFS_ENOMEM;
    for (;;) {
        cand cs[PAGE];
        size_t n = 0;
        sqlite3_stmt *st;
        int src;
        pthread_mutex_lock(&p->c.vol->mu);
        st = afs__db_stmt(p->c.vol->heat,
                          "SELECT path, size, local_bytes, position_ns FROM heat "
                          "WHERE ep = ?1 AND local_bytes > 0 AND position_ns < ?2 "
                          "AND (position_ns, path) > (?3, ?4) "
                          "ORDER BY position_ns, path LIMIT ?5");
        if (!st) {
            pthread_mutex_unlock(&p->c.vol->mu);
            rc = afs_error_last_code();
            break;
        }
        sqlite3_bind_int64(st, 1, e->key);
        sqlite3_bind_int64(st, 2, cutoff);
        sqlite3_bind_int64(st, 3, last_pos);
        sqlite3_bind_text(st, 4, last_path, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 5, PAGE);
        while ((src = sqlite3_step(st)) == SQLITE_ROW) {
            last_pos = sqlite3_column_int64(st, 3);
            if (!cand_from_row(&cs[n++], e->key, st, 0)) {
                src = SQLITE_NOMEM;
                break;
            }
        }
        sqlite3_reset(st);
        pthread_mutex_unlock(&p->c.vol->mu);
        if (src != SQLITE_DONE) {
            cands_free(cs, n);
            rc = heat_query_error(p, src);
            break;
        }
        if (n == 0)
            break;
        free(last_path);
        last_path = afs__strdup(cs[n - 1].path);
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = tier_cand(p, e, &cs[i], 'd');
        cands_free(cs, n);
        if (rc != 0 || !last_path) {
            rc = rc ? rc : AFS_ENOMEM;
            break;
        }
        if (n < PAGE)
            break;
    }
    free(last_path);
    return rc;
}

/*
 * Coolest first across the volume: the day of a file's position, then its
 * access count (frequently used files stay), then the exact position.
 * `visit` returns 1 to stop. In a dry run the statement is stepped through
 * once; otherwise page by page, so that tiering can update rows.
 */
typedef int (*cool_fn)(pass *p, afs__tier_ep *e, const cand *k, int64_t position);

static int walk_cool(pass *p, cool_fn visit)
{
    static const char *sql =
        "SELECT ep, path, size, local_bytes, heat_day, access_count, position_ns "
        "FROM heat WHERE local_bytes > 0 AND "
        "(heat_day, access_count, position_ns, ep, path) > (?1, ?2, ?3, ?4, ?5) "
        "ORDER BY heat_day, access_count, position_ns, ep, path LIMIT ?6";
    int64_t k_day = INT64_MIN, k_count = INT64_MIN, k_pos = INT64_MIN, k_ep = INT64_MIN;
    char *k_path = afs__strdup("");
    int rc = 0;
    bool stop = false;

    if (!k_path)
        return AFS_ENOMEM;
    while (!stop && rc == 0) {
        cand cs[PAGE];
        int64_t pos[PAGE];
        size_t n = 0;
        sqlite3_stmt *st;
        int src;
        pthread_mutex_lock(&p->c.vol->mu);
        if (!(st = afs__db_stmt(p->c.vol->heat, sql))) {
            pthread_mutex_unlock(&p->c.vol->mu);
            rc = afs_error_last_code();
            break;
        }
        sqlite3_bind_int64(st, 1, k_day);
        sqlite3_bind_int64(st, 2, k_count);
        sqlite3_bind_int64(st, 3, k_pos);
        sqlite3_bind_int64(st, 4, k_ep);
        sqlite3_bind_text(st, 5, k_path, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, p->dry ? -1 : PAGE); /* a dry run reads everything at once */
        if (p->dry) {
            /* Visit rows straight from the statement: nothing changes meanwhile. */
            while (!stop && (src = sqlite3_step(st)) == SQLITE_ROW) {
                cand k;
                afs__tier_ep *e = ep_by_key(p->eps, p->neps, sqlite3_column_int64(st, 0));
                k.ep = sqlite3_column_int64(st, 0);
                k.path = (char *)sqlite3_column_text(st, 1);
                k.size = (uint64_t)sqlite3_column_int64(st, 2);
                k.local_bytes = (uint64_t)sqlite3_column_int64(st, 3);
                if (e) {
                    int v = visit(p, e, &k, sqlite3_column_int64(st, 6));
                    if (v < 0)
                        rc = v;
                    if (v != 0)
                        stop = true;
                }
            }
            sqlite3_reset(st);
            pthread_mutex_unlock(&p->c.vol->mu);
            if (!stop && src != SQLITE_DONE)
                rc = afs__db_error(p->c.vol->heat, src, "heat");
            break;
        }
        while ((src = sqlite3_step(st)) == SQLITE_ROW) {
            k_day = sqlite3_column_int64(st, 4);
            k_count = sqlite3_column_int64(st, 5);
            k_pos = pos[n] = sqlite3_column_int64(st, 6);
            if (!cand_from_row(&cs[n++], sqlite3_column_int64(st, 0), st, 1)) {
                src = SQLITE_NOMEM;
                break;
            }
        }
        sqlite3_reset(st);
        pthread_mutex_unlock(&p->c.vol->mu);
        if (src != SQLITE_DONE) {
            cands_free(cs, n);
            rc = heat_query_error(p, src);
            break;
        }
        if (n == 0)
            break;
        free(k_path);
        k_ep = cs[n - 1].ep;
        k_path = afs__strdup(cs[n - 1].path);
        for (size_t i = 0; i < n && !stop && rc == 0; i++) {
            afs__tier_ep *e = ep_by_key(p->eps, p->neps, cs[i].ep);
            int v;
            if (!e)
                continue;
            v = visit(p, e, &cs[i], pos[i]);
            if (v < 0)
                rc = v;
            if (v != 0)
                stop = true;
        }
        cands_free(cs, n);
        if (!k_path)
            rc = rc ? rc : AFS_ENOMEM;
        if (n < PAGE)
            break;
    }
    free(k_path);
    return rc;
}

static int space_visit(pass *p, afs__tier_ep *e, const cand *k, int64_t position)
{
    int rc;
    if (p->freed >= p->need)
        return 1;
    /* The free space policy starts only after the endpoint's initial upload. */
    if (!e->enabled || !e->initial_done)
        return 0;
    /* In a dry run the date stage already counted these. */
    if (p->dry && date_takes(p, e, position))
        return 0;
    if ((rc = tier_cand(p, e, k, 's')) != 0)
        return rc;
    return p->freed >= p->need ? 1 : 0;
}

static int scan_note(const char *rel, const char *abs, const afs_fs_stat *st, void *payload)
{
    (void)abs;
    return afs__tier_heat_note(payload, rel, st);
}

static int scan_endpoints(pass *p)
{
    int rc = 0;
    for (size_t i = 0; i < p->neps && rc == 0; i++) {
        afs__tier_scan *s = NULL;
        afs__tier_ep *e = &p->eps[i];
        if ((rc = afs__tier_scan_begin_raw(&p->c, e->id, e->root, &s)) != 0)
            break;
        rc = afs__tier_walk(p->c.fs, e->root, "", scan_note, s);
        if (rc == 0)
            rc = afs__tier_heat_end(s, true);
        else
            afs__tier_heat_end(s, false);
    }
    return rc;
}

static int reread_volume(pass *p, afs_fs_volume *v)
{
    int rc = afs__tier_volume(p->c.fs, p->c.ep->path, v);
    return rc ? afs__error_prefix(rc, "volume of %s", p->c.ep->path) : 0;
}

int afs_tier_pass(afs_endpoint *endpoint, const afs_tier_pass_options *opts,
                  afs_tier_result *result)
{
    afs_tier_pass_options o = AFS_TIER_PASS_OPTIONS_INIT;
    afs_tier_result local = AFS_TIER_RESULT_INIT;
    afs_fs_volume vol;
    pass p;
    uint64_t target = 0;
    int rc;

    if (!endpoint)
        return afs__error_set(AFS_EINVAL, "afs_tier_pass: endpoint is required");
    /* Only the bytes of each caller struct's version (docs/api-conventions.md). */
    if ((rc = afs__vstruct_read(&afs__vs_tier_pass_options, &o, opts, "afs_tier_pass")) != 0)
        return rc;
    if (o.flags & ~(AFS_TIER_PASS_DRY_RUN | AFS_TIER_PASS_SCAN))
        return afs__error_set(AFS_EINVAL, "afs_tier_pass: unknown flags 0x%x", o.flags);
    if (result && (rc = afs__vstruct_check(&afs__vs_tier_result, result->version,
                                           "afs_tier_pass")) != 0)
        return rc;
    memset(&p, 0, sizeof(p));
    p.r = &local;
    p.r->started_ns = afs__now_ns();
    p.now = o.now_ns == AFS_TIME_OMIT ? p.r->started_ns : o.now_ns;
    p.dry = (o.flags & AFS_TIER_PASS_DRY_RUN) != 0;
    if ((rc = afs__tier_ctx_init(&p.c, endpoint)) != 0)
        return rc;
    if ((rc = afs__tier_eps_load(&p.c, endpoint, &p.eps, &p.neps)) != 0)
        return rc;
    if ((o.flags & AFS_TIER_PASS_SCAN) && (rc = scan_endpoints(&p)) != 0)
        goto done;
    vol = p.c.vinfo;
    p.r->volume_total_bytes = vol.total_bytes;
    p.r->free_bytes_before = vol.free_bytes;

    /* 1. Files recalled on access in low disk space mode go back first. */
    if ((rc = stage_evict(&p)) != 0)
        goto done;
    /* 2. The date policy of each endpoint. */
    for (size_t i = 0; i < p.neps && rc == 0; i++)
        if (p.eps[i].enabled && p.eps[i].date_days)
            rc = stage_date(&p, &p.eps[i]);
    if (rc != 0)
        goto done;
    /* 3. Volume free space: the largest percentage of the volume's endpoints. */
    p.r->free_space_percent = effective_percent(p.eps, p.neps, true);
    if (!p.dry && (rc = reread_volume(&p, &vol)) != 0)
        goto done;
    if (p.dry)
        vol.free_bytes += p.r->bytes_freed; /* what the earlier stages would free */
    if (p.r->free_space_percent && vol.total_bytes) {
        target = vol.total_bytes / 100 * p.r->free_space_percent +
                 vol.total_bytes % 100 * p.r->free_space_percent / 100;
        p.r->target_free_bytes = target;
        if (vol.free_bytes < target) {
            p.need = target - vol.free_bytes;
            rc = walk_cool(&p, space_visit);
            if (rc != 0)
                goto done;
        }
    }
    if (p.dry) {
        p.r->free_bytes_after = vol.free_bytes + p.freed;
    } else {
        if ((rc = reread_volume(&p, &vol)) != 0)
            goto done;
        p.r->free_bytes_after = vol.free_bytes;
    }
    p.r->low_disk_space = vol.total_bytes && p.r->free_bytes_after * 100 <
                                                  (uint64_t)AFS__TIER_LOW_DISK_PERCENT *
                                                      vol.total_bytes;
    p.r->next_interval_s =
        p.r->low_disk_space ? AFS__TIER_LOW_DISK_INTERVAL_S : AFS__TIER_INTERVAL_S;
done:
    p.r->finished_ns = afs__now_ns();
    if (result) /* checked above: cannot fail */
        afs__vstruct_write(&afs__vs_tier_result, result, &local, "afs_tier_pass");
    afs__tier_eps_free(p.eps, p.neps);
    return rc;
}

/* ---- forced tiering ---- */

struct force {
    pass *p;
    afs__tier_ep *e;
    afs__tier_skip last_skip;
    size_t files;
};

static int force_one(const char *rel, const char *abs, const afs_fs_stat *st, void *payload)
{
    struct force *f = payload;
    afs__tier_skip skip;
    uint64_t freed;
    int rc;
    (void)abs;
    (void)st;
    f->files++;
    rc = afs__tier_one(&f->p->c, f->e, rel, &skip, &freed);
    if (rc != 0) {
        f->p->r->item_errors++;
        return rc == AFS_ENOMEM || rc == AFS_ENOTSUP ? rc : 0;
    }
    f->last_skip = skip;
    switch (skip) {
    case AFS__SKIP_NONE:
        f->p->r->files_tiered++;
        f->p->r->bytes_freed += freed;
        break;
    case AFS__SKIP_NOT_SYNCED: f->p->r->skipped_not_synced++; break;
    case AFS__SKIP_SMALL: f->p->r->skipped_small++; break;
    case AFS__SKIP_EXCLUDED: f->p->r->skipped_excluded++; break;
    case AFS__SKIP_PINNED: f->p->r->skipped_pinned++; break;
    case AFS__SKIP_CHANGED:
    case AFS__SKIP_OPEN: f->p->r->skipped_changed++; break;
    default: break;
    }
    return 0;
}

int afs_tier_file(afs_endpoint *endpoint, const char *path, afs_tier_result *result)
{
    afs_tier_result local = AFS_TIER_RESULT_INIT;
    afs_fs_stat st;
    struct force f;
    pass p;
    char *rel = NULL, *abs = NULL;
    int rc;

    if (!endpoint)
        return afs__error_set(AFS_EINVAL, "afs_tier_file: endpoint is required");
    if (result && (rc = afs__vstruct_check(&afs__vs_tier_result, result->version,
                                           "afs_tier_file")) != 0)
        return rc;
    memset(&p, 0, sizeof(p));
    memset(&f, 0, sizeof(f));
    p.r = &local;
    p.r->started_ns = afs__now_ns();
    if ((rc = afs__tier_ctx_init(&p.c, endpoint)) != 0)
        return rc;
    if (!endpoint->opts.tiering_enabled)
        return afs__error_set(AFS_EPERM, "cloud tiering is not enabled on the server endpoint "
                              "%s", endpoint->path);
    if ((rc = afs__tier_resolve(endpoint, path, &rel, &abs)) != 0)
        return rc;
    if ((rc = afs__tier_eps_load(&p.c, endpoint, &p.eps, &p.neps)) != 0)
        goto done;
    f.p = &p;
    f.e = ep_find(p.eps, p.neps, endpoint->id);
    if (!f.e) {
        rc = afs__error_set(AFS_ENOTFOUND, "server endpoint %s is not registered on its volume",
                            endpoint->path);
        goto done;
    }
    memset(&st, 0, sizeof(st));
    if ((rc = p.c.fs->ops.stat(p.c.fs->ctx, abs, &st)) != 0)
        goto done;
    rc = afs__tier_walk(p.c.fs, abs, rel, force_one, &f);
    if (rc == 0 && st.type == AFS_TYPE_FILE) {
        /* One file: say why it was not tiered. */
        if (p.r->item_errors)
            rc = afs_error_last_code() ? afs_error_last_code() : AFS_ERROR;
        else if (f.last_skip == AFS__SKIP_NOT_SYNCED)
            rc = afs__error_set(AFS_ECONDITION, "%s is not tiered: its current content is not "
                                "confirmed in the cloud yet (sync it first)", abs);
        else if (f.last_skip == AFS__SKIP_OPEN)
            rc = afs__error_set(AFS_EBUSY, "%s is not tiered: another process has it open "
                                "(try again once it is closed)", abs);
        else if (f.last_skip == AFS__SKIP_CHANGED)
            rc = afs__error_set(AFS_ECONDITION, "%s is not tiered: it changed during tiering, "
                                "or is being recalled (try again later)", abs);
        else if (f.last_skip == AFS__SKIP_SMALL)
            rc = afs__error_set(AFS_EPERM, "%s is not tiered: it is smaller than the minimum "
                                "of %llu bytes", abs, (unsigned long long)f.e->min_size);
        else if (f.last_skip == AFS__SKIP_PINNED)
            rc = afs__error_set(AFS_EPERM, "%s is not tiered: it is pinned always-local", abs);
        else if (f.last_skip == AFS__SKIP_EXCLUDED)
            rc = afs__error_set(AFS_EPERM, "%s is not tiered: it matches a tiering exclusion",
                                abs);
    }
done:
    p.r->finished_ns = afs__now_ns();
    if (result) /* checked above: cannot fail */
        afs__vstruct_write(&afs__vs_tier_result, result, &local, "afs_tier_file");
    afs__tier_eps_free(p.eps, p.neps);
    free(rel);
    free(abs);
    return rc;
}

/* ---- the heat store report ---- */

struct list {
    pass *p;
    afs_heat_entry **list; /* of pointers: rows may grow (docs/api-conventions.md) */
    size_t n, cap;
    uint64_t limit;
};

static int list_add(struct list *l, const afs__tier_ep *e, sqlite3_stmt *st)
{
    /* Columns: path, state, size, local_bytes, access_count, last_access, mtime,
     * btime, position. */
    afs_heat_entry *x;
    const char *rel = (const char *)sqlite3_column_text(st, 0);
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 32;
        afs_heat_entry **nl = afs__realloc(l->list, nc * sizeof(*nl));
        if (!nl)
            return AFS_ENOMEM;
        l->list = nl;
        l->cap = nc;
    }
    if (!(x = afs__calloc(1, sizeof(*x))))
        return AFS_ENOMEM;
    l->list[l->n] = x;
    x->version = AFS_HEAT_ENTRY_VERSION;
    x->path = afs__sprintf("%s%s%s", e->root, strcmp(e->root, "/") ? "/" : "", rel);
    x->endpoint_id = afs__strdup(e->id);
    l->n++;
    if (!x->path || !x->endpoint_id)
        return AFS_ENOMEM;
    x->state = (uint32_t)sqlite3_column_int(st, 1);
    x->pinned = afs__tier_pinned(&e->rules, rel);
    x->size = (uint64_t)sqlite3_column_int64(st, 2);
    x->size_on_disk = (uint64_t)sqlite3_column_int64(st, 3);
    x->access_count = (uint64_t)sqlite3_column_int64(st, 4);
    x->last_access_ns = sqlite3_column_int64(st, 5);
    x->mtime_ns = sqlite3_column_int64(st, 6);
    x->btime_ns = sqlite3_column_int64(st, 7);
    x->position_ns = sqlite3_column_int64(st, 8);
    return 0;
}

#define LIST_COLS \
    "path, state, size, local_bytes, access_count, last_access_ns, mtime_ns, btime_ns, " \
    "position_ns, ep"

static int list_query(struct list *l, const char *sql, int64_t bind_ep, int64_t bind_i)
{
    sqlite3_stmt *st;
    int rc;
    pthread_mutex_lock(&l->p->c.vol->mu);
    if (!(st = afs__db_stmt(l->p->c.vol->heat, sql))) {
        pthread_mutex_unlock(&l->p->c.vol->mu);
        return afs_error_last_code();
    }
    if (bind_ep != INT64_MIN) {
        sqlite3_bind_int64(st, 1, bind_ep);
        sqlite3_bind_int64(st, 2, bind_i);
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && (!l->limit || l->n < l->limit)) {
        const afs__tier_ep *e = ep_by_key(l->p->eps, l->p->neps, sqlite3_column_int64(st, 9));
        if (e && (rc = list_add(l, e, st)) != 0)
            break;
    }
    sqlite3_reset(st);
    pthread_mutex_unlock(&l->p->c.vol->mu);
    if (rc == AFS_ENOMEM)
        return rc;
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : afs__db_error(l->p->c.vol->heat, rc,
                                                                     "heat store report");
}

static int list_space_visit(pass *p, afs__tier_ep *e, const cand *k, int64_t position)
{
    struct list *l = p->payload;
    sqlite3_stmt *st;
    int rc;
    (void)position;
    if (!e->enabled || k->size < e->min_size || afs__tier_pinned(&e->rules, k->path) ||
        afs__tier_excluded(&e->rules, k->path))
        return 0;
    /* The row's other columns, by key (the walk's statement is still stepping). */
    st = afs__db_stmt(p->c.vol->heat, "SELECT " LIST_COLS " FROM heat WHERE ep = ? "
                                      "AND path = ?");
    if (!st)
        return afs_error_last_code();
    sqlite3_bind_int64(st, 1, e->key);
    sqlite3_bind_text(st, 2, k->path, -1, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_ROW ? list_add(l, e, st) : 0;
    sqlite3_reset(st);
    if (rc != 0)
        return rc;
    return l->limit && l->n >= l->limit ? 1 : 0;
}

static int cmp_position(const void *a, const void *b)
{
    const afs_heat_entry *x = *(const afs_heat_entry *const *)a;
    const afs_heat_entry *y = *(const afs_heat_entry *const *)b;
    if (x->position_ns != y->position_ns)
        return x->position_ns < y->position_ns ? -1 : 1;
    return strcmp(x->path, y->path);
}

static void heat_entry_free(afs_heat_entry *e)
{
    if (!e)
        return;
    free(e->path);
    free(e->endpoint_id);
    free(e);
}

void afs_heat_entries_free(afs_heat_entry **list, size_t count)
{
    if (!list)
        return;
    for (size_t i = 0; i < count; i++)
        heat_entry_free(list[i]);
    free(list);
}

int afs_heat_list(afs_service *svc, const char *volume_path, const afs_heat_list_options *opts,
                  afs_heat_entry ***out, size_t *count)
{
    afs_heat_list_options o = AFS_HEAT_LIST_OPTIONS_INIT;
    struct list l;
    pass p;
    int rc = 0;

    if (out)
        *out = NULL;
    if (count)
        *count = 0;
    if (!svc || !volume_path || !out || !count)
        return afs__error_set(AFS_EINVAL, "afs_heat_list: svc, volume_path, out and count "
                              "are required");
    /* Only the caller's version's fields; later ones keep their defaults. */
    if ((rc = afs__vstruct_read(&afs__vs_heat_list_options, &o, opts, "afs_heat_list")) != 0)
        return rc;
    if (o.order < AFS_HEAT_SPACE_POLICY || o.order > AFS_HEAT_RECALL)
        return afs__error_set(AFS_EINVAL, "afs_heat_list: unknown order %u", o.order);
    memset(&p, 0, sizeof(p));
    memset(&l, 0, sizeof(l));
    l.p = &p;
    l.limit = o.limit;
    p.c.svc = svc;
    p.c.fs = afs__service_fs(svc);
    p.dry = true;
    p.now = o.now_ns == AFS_TIME_OMIT ? afs__now_ns() : o.now_ns;
    if ((rc = afs__tier_volume(p.c.fs, volume_path, &p.c.vinfo)) != 0 ||
        (rc = afs__tier_vol_get(svc, p.c.vinfo.id, &p.c.vol)) != 0 ||
        (rc = afs__tier_eps_load(&p.c, NULL, &p.eps, &p.neps)) != 0)
        return rc;
    switch (o.order) {
    case AFS_HEAT_SPACE_POLICY:
        p.payload = &l;
        p.need = UINT64_MAX;
        rc = walk_cool(&p, list_space_visit);
        break;
    case AFS_HEAT_DATE_POLICY:
        for (size_t i = 0; i < p.neps && rc == 0; i++) {
            afs__tier_ep *e = &p.eps[i];
            uint64_t limit = l.limit;
            if (!e->enabled || !e->date_days)
                continue;
            l.limit = 0;
            rc = list_query(&l, "SELECT " LIST_COLS " FROM heat WHERE ep = ?1 AND "
                                "local_bytes > 0 AND position_ns < ?2 ORDER BY position_ns, "
                                "path",
                            e->key, p.now - (int64_t)e->date_days * AFS__TIER_DAY_NS);
            l.limit = limit;
        }
        /* Drop what the date policy would skip anyway (small, pinned, excluded). */
        for (size_t i = 0; rc == 0 && i < l.n;) {
            afs__tier_ep *e = ep_find(p.eps, p.neps, l.list[i]->endpoint_id);
            const char *rel = l.list[i]->path + strlen(e->root) + (strcmp(e->root, "/") ? 1 : 0);
            if (l.list[i]->size < e->min_size || l.list[i]->pinned ||
                afs__tier_excluded(&e->rules, rel)) {
                heat_entry_free(l.list[i]);
                l.list[i] = l.list[--l.n];
            } else {
                i++;
            }
        }
        if (rc == 0 && l.n > 1)
            qsort(l.list, l.n, sizeof(*l.list), cmp_position);
        if (rc == 0 && l.limit && l.n > l.limit) {
            for (size_t i = l.limit; i < l.n; i++)
                heat_entry_free(l.list[i]);
            l.n = l.limit;
        }
        break;
    case AFS_HEAT_LAST_ACCESS:
        rc = list_query(&l, "SELECT " LIST_COLS " FROM heat ORDER BY last_access_ns DESC, "
                            "ep, path", INT64_MIN, 0);
        break;
    default: /* AFS_HEAT_RECALL: placeholders, hottest first */
        rc = list_query(&l, "SELECT " LIST_COLS " FROM heat WHERE state != 0 ORDER BY "
                            "heat_day DESC, access_count DESC, position_ns DESC, ep, "
                            "path", INT64_MIN, 0);
        break;
    }
    afs__tier_eps_free(p.eps, p.neps);
    if (rc != 0) {
        afs_heat_entries_free(l.list, l.n);
        return rc;
    }
    if (l.n == 0) {
        free(l.list);
        l.list = NULL;
    }
    *out = l.list;
    *count = l.n;
    return 0;
}

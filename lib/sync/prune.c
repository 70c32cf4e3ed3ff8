/* Journal pruning and published cursors (lib/sync/prune.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/json.h"
#include "../service/service_internal.h"
#include "journal.h"
#include "prune.h"
#include "state.h"

/* Endpoint state keys: what this endpoint last published (it skips a
 * rewrite that would say nothing new), and the group's stale limit as last
 * read (so that a session does not read the group definition). */
#define KEY_PUB_CURSOR "journal_published_cursor"
#define KEY_PUB_NS "journal_published_ns"
#define KEY_PUB_ETAG "journal_published_etag"
#define KEY_STALE_S "journal_stale_limit_s"

#define DAY_NS (86400LL * 1000000000LL)

/* A published cursor as the share holds it. */
typedef struct pub {
    bool present, bad;
    uint64_t cursor;
    int64_t updated_ns;
    char etag[AFS_ETAG_MAX];
} pub;

/* Endpoint ids are UUIDs; never build a path from anything else the share says. */
bool afs__endpoint_id_ok(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f') ||
              (id[i] >= 'A' && id[i] <= 'F') || id[i] == '-'))
            return false;
    return true;
}

static char *cursor_path(const char *endpoint_id)
{
    return afs__sprintf("%s/%s%s", AFS__ENDPOINT_DIR, endpoint_id, AFS__JOURNAL_CURSOR_SUFFIX);
}

static int pub_load(afs_storage *s, const char *path, const char *endpoint_id, int64_t now,
                    pub *p)
{
    char *doc = NULL;
    size_t len = 0;
    yajl_val v = NULL;
    int64_t cursor = -1;
    const char *ep;
    int rc;

    memset(p, 0, sizeof(*p));
    for (int tries = 0;; tries++) {
        rc = afs__share_get_doc_etag(s, path, &doc, &len, p->etag);
        if (rc != AFS_ECONDITION || tries == 4)
            break;
    }
    if (rc == AFS_ENOTFOUND) {
        afs_error_clear();
        return 0;
    }
    p->present = true;
    if (rc == AFS_ECORRUPT) { /* not a small file */
        p->bad = true;
        afs_error_clear();
        return 0;
    }
    if (rc != 0)
        return rc;
    rc = afs__json_parse(doc, len, path, &v);
    free(doc);
    afs_error_clear();
    ep = v ? afs__json_get_str(v, "endpoint") : NULL;
    if (rc != 0 || !ep || strcmp(ep, endpoint_id) != 0 ||
        afs__json_get_int(v, "cursor", &cursor) != 0 || cursor < 0 ||
        afs__json_get_int(v, "updated_ns", &p->updated_ns) != 0 || p->updated_ns < 0 ||
        p->updated_ns > now + DAY_NS /* from the future: it would never go stale */)
        p->bad = true;
    else
        p->cursor = (uint64_t)cursor;
    if (v)
        yajl_tree_free(v);
    return 0;
}

static int pub_put(afs_storage *s, const char *path, const char *endpoint_id, uint64_t cursor,
                   int64_t now, const char *if_match, char *etag_out)
{
    afs_storage_put_options o = AFS_STORAGE_PUT_OPTIONS_INIT;
    afs_storage_entry e;
    struct afs__membuf m;
    afs__json *j = afs__json_new();
    char *doc = NULL;
    size_t len = 0;
    int rc;

    if (!j)
        return AFS_ENOMEM;
    afs__json_open_map(j);
    afs__json_key_int(j, "v", 1);
    afs__json_key_str(j, "endpoint", endpoint_id);
    afs__json_key_int(j, "cursor", (int64_t)cursor);
    afs__json_key_int(j, "updated_ns", now);
    afs__json_close_map(j);
    rc = afs__json_finish(j, &doc, &len);
    afs__json_free(j);
    if (rc != 0)
        return rc;
    m.data = (const unsigned char *)doc;
    m.len = len;
    o.condition = if_match ? AFS_COND_IF_MATCH : AFS_COND_CREATE_ONLY;
    o.if_match = if_match;
    rc = afs__storage_put(s, path, afs__membuf_read, &m, len, &o, &e, true);
    if (rc == 0)
        memcpy(etag_out, e.etag, AFS_ETAG_MAX);
    free(doc);
    return rc;
}

/* Publish; *etag receives the record's etag when this call wrote it. */
static int publish(afs_storage *s, const char *endpoint_id, uint64_t cursor, int64_t now,
                   int64_t refresh_ns, const char *known_etag, char *etag, bool *wrote)
{
    char *path;
    int rc = AFS_ECONDITION;

    *wrote = false;
    if (!afs__endpoint_id_ok(endpoint_id))
        return afs__error_set(AFS_EINVAL, "journal: endpoint id \"%s\" cannot name a cursor",
                              endpoint_id);
    if (!(path = cursor_path(endpoint_id)))
        return AFS_ENOMEM;
    /* The etag of what this endpoint wrote last: one conditional put, no read. */
    if (known_etag && known_etag[0]) {
        rc = pub_put(s, path, endpoint_id, cursor, now, known_etag, etag);
        if (rc == AFS_ENOTFOUND) { /* removed meanwhile */
            afs_error_clear();
            rc = AFS_ECONDITION;
        }
        *wrote = rc == 0;
    }
    for (int tries = 0; tries < 8 && rc == AFS_ECONDITION; tries++) {
        pub p;
        if ((rc = pub_load(s, path, endpoint_id, now, &p)) != 0)
            break;
        if (p.present && !p.bad &&
            (p.cursor > cursor || (p.cursor == cursor && now - p.updated_ns < refresh_ns))) {
            /* A stale writer (an older process of this endpoint) never moves
             * it back; the same cursor written recently says nothing new. */
            break;
        }
        rc = pub_put(s, path, endpoint_id, cursor, now, p.present ? p.etag : NULL, etag);
        *wrote = rc == 0;
    }
    if (rc == AFS_ECONDITION)
        rc = afs__error_set(AFS_EBUSY, "journal: the published cursor %s kept changing", path);
    free(path);
    return rc;
}

int afs__journal_publish(afs_storage *s, const char *endpoint_id, uint64_t cursor,
                         int64_t now_ns, int64_t refresh_ns)
{
    char etag[AFS_ETAG_MAX] = "";
    bool wrote;
    return publish(s, endpoint_id, cursor, now_ns, refresh_ns, NULL, etag, &wrote);
}

int afs__journal_unpublish(afs_storage *s, const char *endpoint_id)
{
    char *path;
    int rc;
    if (!afs__endpoint_id_ok(endpoint_id))
        return 0;
    if (!(path = cursor_path(endpoint_id)))
        return AFS_ENOMEM;
    rc = afs__storage_remove(s, path, NULL, true);
    if (rc == AFS_ENOTFOUND) {
        afs_error_clear();
        rc = 0;
    }
    free(path);
    return rc;
}

/* ---- the floor ---- */

/* The floor as a pruner may build on it: a damaged or hostile one is 0. */
static int floor_load(afs_storage *s, afs__jfloor *f)
{
    int rc = afs__journal_floor_get(s, true, f);
    if (rc == 0)
        afs__journal_floor_check(s, f);
    return rc;
}

/*
 * Raise the floor to `target` (conditional on the etag read, so that two
 * pruners never lower it); *floor receives the floor the share holds after.
 */
static int floor_raise(afs_storage *s, afs__jfloor *f, uint64_t target, uint64_t *floor,
                       bool *raised)
{
    int rc = 0;

    *raised = false;
    for (int tries = 0; tries < 8; tries++) {
        afs_storage_put_options o = AFS_STORAGE_PUT_OPTIONS_INIT;
        char doc[32];
        struct afs__membuf m;
        if (!f->bad && (f->value >= target || target <= 1)) { /* 1: nothing to prune */
            *floor = f->value;
            return 0;
        }
        if (f->bad)
            afs__log(AFS_LOG_WARN, "journal: %s; replacing it with %" PRIu64, f->why, target);
        snprintf(doc, sizeof(doc), "%" PRIu64 "\n", target);
        m.data = (const unsigned char *)doc;
        m.len = strlen(doc);
        o.condition = f->present ? AFS_COND_IF_MATCH : AFS_COND_CREATE_ONLY;
        o.if_match = f->present ? f->etag : NULL;
        rc = afs__storage_put(s, AFS__JOURNAL_FLOOR, afs__membuf_read, &m, m.len, &o, NULL, true);
        if (rc == 0) {
            *floor = target;
            *raised = true;
            return 0;
        }
        if (rc != AFS_ECONDITION)
            return rc;
        /* Another pruner wrote it: build on what it wrote. */
        if ((rc = floor_load(s, f)) != 0)
            return rc;
    }
    return afs__error_set(AFS_EBUSY, "journal: %s kept changing; not pruned this time",
                          AFS__JOURNAL_FLOOR);
}

/* Remove every batch below `floor`; a batch already gone is fine. */
static int remove_below(afs_storage *s, uint64_t floor, uint64_t *removed)
{
    uint64_t *seqs = NULL;
    size_t n = 0;
    int rc = afs__journal_list(s, &seqs, &n);

    for (size_t i = 0; rc == 0 && i < n; i++) {
        char path[sizeof(AFS__JOURNAL_DIR) + 24];
        if (seqs[i] >= floor)
            continue;
        snprintf(path, sizeof(path), "%s/%020" PRIu64, AFS__JOURNAL_DIR, seqs[i]);
        rc = afs__storage_remove(s, path, NULL, true);
        if (rc == 0)
            (*removed)++;
        else if (rc == AFS_ENOTFOUND) {
            afs_error_clear();
            rc = 0;
        }
    }
    free(seqs);
    return rc;
}

int afs__journal_prune(afs_group *group, afs_storage *s, int64_t now_ns, int64_t stale_ns,
                       afs__prune_result *out)
{
    afs_endpoint_info **eps = NULL;
    size_t count = 0;
    afs__jfloor f;
    uint64_t head = 0, cur, target, floor = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = floor_load(s, &f)) != 0)
        return rc;
    cur = f.bad ? 0 : f.value;
    if ((rc = afs__journal_head(s, cur, &head)) != 0)
        return rc;
    if (head == 0 && !f.bad)
        return 0; /* nothing journaled */
    /* Never above the newest batch: the floor always names one (which is how
     * readers tell a hostile floor), and the newest batch tells a reader
     * where the journal ends. */
    target = head ? head : 1;
    if ((rc = afs_endpoint_list(group, &eps, &count)) != 0)
        return rc;
    {
        /* Groups joined before a second server of one name was refused
         * (docs/sync.md#conflicts): found here, hourly, at no extra cost. */
        const char *myname = NULL, *myid = NULL;
        if (afs__service_server(group->svc, &myname, &myid) == 0) {
            for (size_t i = 0; i < count; i++)
                if (strcmp(eps[i]->server_id, myid) != 0 &&
                    afs__server_names_clash(eps[i]->server_name, myname)) {
                    afs__log(AFS_LOG_WARN, "sync group \"%s\": server endpoint %s of another "
                             "server (id %s) is registered under this server's name \"%s\"; "
                             "this server's conflict copies are named \"%s(%.8s)\" until one "
                             "of the two is registered under another name", group->name,
                             eps[i]->path, eps[i]->server_id, myname, myname, myid);
                    out->name_clash = true;
                    break;
                }
        }
        afs_error_clear();
    }
    for (size_t i = 0; i < count; i++) {
        char *path;
        pub p;
        if (!afs__endpoint_id_ok(eps[i]->id))
            continue;
        if (!(path = cursor_path(eps[i]->id))) {
            rc = AFS_ENOMEM;
            goto done;
        }
        rc = pub_load(s, path, eps[i]->id, now_ns, &p);
        free(path);
        if (rc != 0)
            goto done;
        if (!p.present || p.bad) {
            /* No usable cursor yet (its first session has not finished, or the
             * record is damaged): a young endpoint holds the floor where it
             * is; an old one does not count. */
            if (now_ns - eps[i]->created_ns < stale_ns && target > (cur ? cur : 1))
                target = cur ? cur : 1;
        } else if (now_ns - p.updated_ns >= stale_ns) {
            afs__log(AFS_LOG_INFO, "journal: endpoint %s (%s on %s) has not moved its cursor "
                     "%" PRIu64 " for %" PRId64 " s; it no longer holds the journal back and "
                     "will enumerate the share in full", eps[i]->id, eps[i]->path,
                     eps[i]->server_name, p.cursor, (now_ns - p.updated_ns) / 1000000000);
        } else if (p.cursor + 1 < target) {
            target = p.cursor + 1;
        }
    }
    if ((rc = floor_raise(s, &f, target, &floor, &out->raised)) != 0)
        goto done;
    out->floor = floor;
    /* The raised floor durable before any batch below it goes: a storage
     * that defers name durability (AFS_STORAGE_CTL_DEFER_NAMES, on during a
     * session) must not let a crash keep the removals and lose the floor. */
    if (out->raised && (rc = afs_storage_ctl(s, AFS_STORAGE_CTL_BARRIER, NULL)) != 0) {
        if (rc != AFS_ENOTSUP)
            goto done;
        afs_error_clear();
        rc = 0;
    }
    /* Raised or not: a pruner that stopped midway left batches below it. */
    if (floor > 1)
        rc = remove_below(s, floor, &out->removed);
done:
    afs_endpoint_info_free(eps, count);
    return rc;
}

/* ---- after a session ---- */

/* Rewritten at least this often while it does not move, so that an endpoint
 * that syncs never looks stale. */
static int64_t refresh_ns_of(int64_t stale_s)
{
    int64_t stale_ns = stale_s * 1000000000LL;
    return stale_ns / 4 < DAY_NS ? stale_ns / 4 : DAY_NS;
}

void afs__journal_publish_session(afs_endpoint *ep, afs_storage *s, uint64_t cursor)
{
    afs_db *db = ep->state;
    int64_t now = afs__now_ns(), stale_s = 0, pub_cursor = -1, pub_ns = 0, refresh_ns;
    char *known = NULL;
    char etag[AFS_ETAG_MAX] = "";
    bool wrote = false;
    int rc;

    /* The stale limit as the last pruning read it: it only sets how often an
     * unmoved cursor is rewritten. */
    afs__state_get_int(db, KEY_STALE_S, AFS_JOURNAL_STALE_LIMIT_DEFAULT_S, &stale_s);
    refresh_ns = refresh_ns_of(stale_s);
    afs__state_get_int(db, KEY_PUB_CURSOR, -1, &pub_cursor);
    afs__state_get_int(db, KEY_PUB_NS, 0, &pub_ns);
    if (pub_cursor == (int64_t)cursor && now - pub_ns < refresh_ns)
        return; /* nothing new to say: no storage call at all */
    afs__state_get_text(db, KEY_PUB_ETAG, &known);
    /* The cached etag vouches for what we wrote last: good for a put that
     * does not go below it; otherwise read and compare. */
    rc = publish(s, ep->id, cursor, now, refresh_ns,
                 (int64_t)cursor >= pub_cursor ? known : NULL, etag, &wrote);
    if (rc != 0) {
        afs__log(AFS_LOG_WARN, "journal: cannot publish the cursor of %s (%s); the journal "
                 "is pruned less until it is", ep->path, afs_error_last());
    } else if (wrote) {
        afs__state_set_int(db, KEY_PUB_CURSOR, (int64_t)cursor);
        afs__state_set_int(db, KEY_PUB_NS, now);
        afs__state_set_text(db, KEY_PUB_ETAG, etag);
    }
    free(known);
    afs_error_clear(); /* publishing never changes the session's result */
}

void afs__journal_maintain(afs_endpoint *ep, afs_storage *s, uint64_t cursor)
{
    afs_db *db = ep->state;
    int64_t now = afs__now_ns(), last = 0, at = 0;
    afs__prune_result res;
    uint64_t limit;
    int rc;

    afs__state_get_int(db, AFS__KEY_PRUNED_NS, 0, &last);
    afs__state_get_int(db, AFS__KEY_PRUNED_AT, 0, &at);
    if (now - last < AFS__PRUNE_INTERVAL_NS && cursor < (uint64_t)at + AFS__PRUNE_BATCHES)
        return;
    if (afs__group_stale_limit(s, &limit) != 0) {
        afs__log(AFS_LOG_WARN, "journal: cannot read the group's stale limit (%s); not "
                 "pruning this time", afs_error_last());
        afs_error_clear();
        return;
    }
    afs__state_set_int(db, KEY_STALE_S, (int64_t)limit);
    rc = afs__journal_prune(ep->group, s, now, (int64_t)limit * 1000000000LL, &res);
    if (rc == 0 || res.name_clash)
        afs__state_set_int(db, AFS__KEY_NAME_CLASH, res.name_clash ? 1 : 0);
    if (rc != 0)
        afs__log(AFS_LOG_WARN, "journal: pruning failed (%s); the next session of %s tries "
                 "again in an hour", afs_error_last(), ep->path);
    else if (res.removed || res.raised)
        afs__log(AFS_LOG_INFO, "journal: floor %" PRIu64 ", %" PRIu64 " batches removed",
                 res.floor, res.removed);
    afs__state_set_int(db, AFS__KEY_PRUNED_NS, now);
    afs__state_set_int(db, AFS__KEY_PRUNED_AT, (int64_t)cursor);
    afs_error_clear(); /* maintenance never changes the session's result */
}

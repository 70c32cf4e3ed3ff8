/*
 * Sync groups (docs/sync.md#groups). A group's definition is a document in
 * the share's reserved prefix, so every host that reaches the share sees the
 * same group; the service database keeps the groups this host knows and the
 * URI of each one's share.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../core/json.h"
#include "../service/service_internal.h"
#include "../tier/tier_internal.h"
#include "group_internal.h"
#include "state.h"

#define MAX_GROUPS_PER_SERVICE 200 /* afs-facts.md, scale targets */

void afs_strarray_free(afs_strarray *array)
{
    if (!array)
        return;
    for (size_t i = 0; i < array->count; i++)
        free(array->strings[i]);
    free(array->strings);
    array->strings = NULL;
    array->count = 0;
}

int afs__share_put_doc(afs_storage *s, const char *path, const char *doc, bool create_only)
{
    afs_storage_put_options o = AFS_STORAGE_PUT_OPTIONS_INIT;
    struct afs__membuf m = { (const unsigned char *)doc, strlen(doc) };
    o.condition = create_only ? AFS_COND_CREATE_ONLY : AFS_COND_NONE;
    return afs__storage_put(s, path, afs__membuf_read, &m, m.len, &o, NULL, true);
}

int afs__share_get_doc(afs_storage *s, const char *path, char **doc, size_t *len)
{
    return afs__share_get_doc_etag(s, path, doc, len, NULL);
}

int afs__share_get_doc_etag(afs_storage *s, const char *path, char **doc, size_t *len,
                            char *etag)
{
    afs_storage_entry e;
    size_t got = 0;
    char *buf;
    int rc;

    *doc = NULL;
    if ((rc = afs__storage_stat(s, path, &e, true)) != 0)
        return rc;
    if (e.type != AFS_TYPE_FILE || e.size > AFS__JSON_MAX)
        return afs__error_set(AFS_ECORRUPT, "share document %s is not a file of at most %u bytes",
                              path, AFS__JSON_MAX);
    if (!(buf = afs__malloc((size_t)e.size + 1)))
        return AFS_ENOMEM;
    rc = afs__storage_read(s, path, 0, buf, (size_t)e.size, &got, e.etag, true);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    buf[got] = '\0';
    *doc = buf;
    if (len)
        *len = got;
    if (etag)
        memcpy(etag, e.etag, AFS_ETAG_MAX);
    return 0;
}

static void group_free(afs_group *g)
{
    if (!g)
        return;
    afs_storage_free(g->storage);
    free(g->id);
    free(g->name);
    free(g->uri);
    free(g);
}

void afs_group_close(afs_group *group)
{
    group_free(group);
}

/* Read the share's group document: its id and name. */
static int read_group_doc(afs_storage *s, const char *uri, char **id, char **name)
{
    char *doc = NULL;
    size_t len = 0;
    yajl_val v = NULL;
    const char *gid, *gname;
    int rc;

    *id = *name = NULL;
    rc = afs__share_get_doc(s, AFS__GROUP_DOC, &doc, &len);
    if (rc == AFS_ENOTFOUND)
        return afs__error_set(AFS_ENOTFOUND, "the share at %s holds no sync group", uri);
    if (rc != 0)
        return rc;
    rc = afs__json_parse(doc, len, "sync group definition " AFS__GROUP_DOC, &v);
    free(doc);
    if (rc != 0)
        return rc;
    gid = afs__json_get_str(v, "id");
    gname = afs__json_get_str(v, "name");
    if (!gid || !gname || afs__label_check("group", gname) != 0) {
        yajl_tree_free(v);
        return afs__error_set(AFS_ECORRUPT, "the sync group definition in %s is damaged (%s)",
                              uri, AFS__GROUP_DOC);
    }
    *id = afs__strdup(gid);
    *name = afs__strdup(gname);
    yajl_tree_free(v);
    if (!*id || !*name) {
        free(*id);
        free(*name);
        return AFS_ENOMEM;
    }
    return 0;
}

/* The service's row for a group: by name. *found false if none. */
static int lookup_group(afs_service *svc, const char *name, char **id, char **uri, bool *found)
{
    afs_db *db = afs__service_db(svc);
    sqlite3_stmt *st =
        afs__db_stmt(db, "SELECT id, storage_uri FROM sync_group WHERE name = ?");
    int rc;
    *found = false;
    if (!st)
        return afs_error_last_code();
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *found = true;
        *id = afs__strdup((const char *)sqlite3_column_text(st, 0));
        *uri = afs__strdup((const char *)sqlite3_column_text(st, 1));
        if (!*id || !*uri)
            rc = SQLITE_NOMEM;
    }
    sqlite3_reset(st);
    if (rc == SQLITE_NOMEM)
        return AFS_ENOMEM;
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : afs__db_error(db, rc, "look up sync group");
}

static int remember_group(afs_service *svc, const char *id, const char *name, const char *uri)
{
    afs_db *db = afs__service_db(svc);
    sqlite3_stmt *st = afs__db_stmt(
        db, "INSERT INTO sync_group (id, name, created_ns, storage_uri) VALUES (?, ?, ?, ?)");
    int rc;
    if (!st)
        return afs_error_last_code();
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, afs__now_ns());
    sqlite3_bind_text(st, 4, uri, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_CONSTRAINT)
        return afs__error_set(AFS_EEXISTS, "this service already knows a sync group named \"%s\"",
                              name);
    return rc == SQLITE_DONE ? 0 : afs__db_error(db, rc, "remember sync group");
}

static int count_groups(afs_service *svc, size_t *n)
{
    afs_db *db = afs__service_db(svc);
    sqlite3_stmt *st = afs__db_stmt(db, "SELECT count(*) FROM sync_group");
    int rc;
    if (!st)
        return afs_error_last_code();
    rc = sqlite3_step(st);
    *n = rc == SQLITE_ROW ? (size_t)sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : afs__db_error(db, rc, "count sync groups");
}

static int group_new(afs_group **out, afs_service *svc, const char *id, const char *name,
                     const char *uri, afs_storage *storage)
{
    afs_group *g = afs__calloc(1, sizeof(*g));
    if (!g)
        return AFS_ENOMEM;
    g->svc = svc;
    g->id = afs__strdup(id);
    g->name = afs__strdup(name);
    g->uri = afs__strdup(uri);
    if (!g->id || !g->name || !g->uri) {
        group_free(g);
        return AFS_ENOMEM;
    }
    g->storage = storage;
    *out = g;
    return 0;
}

int afs_group_create(afs_group **out, afs_service *svc, const char *name, const char *storage_uri)
{
    afs_storage *storage = NULL;
    afs__json *j = NULL;
    char *doc = NULL, *oid = NULL, *ouri = NULL, *other_id = NULL, *other_name = NULL;
    char id[37];
    size_t n;
    bool found;
    int rc;

    if (!out || !svc || !name || !storage_uri)
        return afs__error_set(AFS_EINVAL, "afs_group_create: out, svc, name and uri are required");
    *out = NULL;
    if ((rc = afs__label_check("group", name)) != 0)
        return rc;
    if ((rc = lookup_group(svc, name, &oid, &ouri, &found)) != 0)
        goto done;
    if (found) {
        rc = afs__error_set(AFS_EEXISTS, "this service already knows a sync group named \"%s\" "
                            "(share %s)", name, ouri);
        goto done;
    }
    if ((rc = count_groups(svc, &n)) != 0)
        goto done;
    if (n >= MAX_GROUPS_PER_SERVICE) {
        rc = afs__error_set(AFS_ELIMIT, "a Storage Sync Service holds at most %d sync groups",
                            MAX_GROUPS_PER_SERVICE);
        goto done;
    }
    if ((rc = afs_storage_open(&storage, storage_uri)) != 0)
        goto done;
    if ((rc = afs__uuid(id)) != 0)
        goto done;
    if (!(j = afs__json_new())) {
        rc = AFS_ENOMEM;
        goto done;
    }
    afs__json_open_map(j);
    afs__json_key_int(j, "format", 1);
    afs__json_key_str(j, "id", id);
    afs__json_key_str(j, "name", name);
    afs__json_key_int(j, "created_ns", afs__now_ns());
    afs__json_close_map(j);
    if ((rc = afs__json_finish(j, &doc, NULL)) != 0)
        goto done;
    /* Create-only: a share belongs to one sync group (one cloud endpoint). */
    rc = afs__share_put_doc(storage, AFS__GROUP_DOC, doc, true);
    if (rc == AFS_ECONDITION) {
        if (read_group_doc(storage, storage_uri, &other_id, &other_name) == 0)
            rc = afs__error_set(AFS_EEXISTS, "the share at %s already belongs to sync group "
                                "\"%s\"; open it with afs_group_open to join it",
                                storage_uri, other_name);
        else
            rc = afs__error_set(AFS_EEXISTS, "the share at %s already holds a sync group "
                                "definition", storage_uri);
        goto done;
    }
    if (rc != 0)
        goto done;
    if ((rc = remember_group(svc, id, name, storage_uri)) != 0) {
        afs__storage_remove(storage, AFS__GROUP_DOC, NULL, true);
        goto done;
    }
    if ((rc = group_new(out, svc, id, name, storage_uri, storage)) == 0)
        storage = NULL;
done:
    afs__json_free(j);
    afs_storage_free(storage);
    free(doc);
    free(oid);
    free(ouri);
    free(other_id);
    free(other_name);
    return rc;
}

int afs_group_open(afs_group **out, afs_service *svc, const char *name, const char *storage_uri)
{
    afs_storage *storage = NULL;
    char *known_id = NULL, *known_uri = NULL, *id = NULL, *gname = NULL;
    bool found = false;
    int rc;

    if (!out || !svc || (!name && !storage_uri))
        return afs__error_set(AFS_EINVAL, "afs_group_open: a name or a storage URI is required");
    *out = NULL;
    if (name && (rc = lookup_group(svc, name, &known_id, &known_uri, &found)) != 0)
        goto done;
    if (!found && !storage_uri) {
        rc = afs__error_set(AFS_ENOTFOUND, "no sync group named \"%s\" is known to this service; "
                            "give its share URI to join it", name);
        goto done;
    }
    if ((rc = afs_storage_open(&storage, found ? known_uri : storage_uri)) != 0)
        goto done;
    if ((rc = read_group_doc(storage, found ? known_uri : storage_uri, &id, &gname)) != 0)
        goto done;
    if (found && strcmp(id, known_id) != 0) {
        rc = afs__error_set(AFS_ECORRUPT, "the share at %s now holds sync group \"%s\" (%s), "
                            "not the group \"%s\" (%s) this service knows", known_uri, gname,
                            id, name, known_id);
        goto done;
    }
    if (!found && name && strcmp(name, gname) != 0) {
        rc = afs__error_set(AFS_ENOTFOUND, "the share at %s holds sync group \"%s\", not \"%s\"",
                            storage_uri, gname, name);
        goto done;
    }
    if (!found) {
        /* Joining: remember it, unless we already know it under its name. */
        char *oid = NULL, *ouri = NULL;
        bool known = false;
        if ((rc = lookup_group(svc, gname, &oid, &ouri, &known)) == 0 && !known)
            rc = remember_group(svc, id, gname, storage_uri);
        else if (rc == 0 && strcmp(oid, id) != 0)
            rc = afs__error_set(AFS_EEXISTS, "this service knows another sync group named "
                                "\"%s\"", gname);
        free(oid);
        free(ouri);
        if (rc != 0)
            goto done;
    }
    if ((rc = group_new(out, svc, id, gname, found ? known_uri : storage_uri, storage)) == 0)
        storage = NULL;
done:
    afs_storage_free(storage);
    free(known_id);
    free(known_uri);
    free(id);
    free(gname);
    return rc;
}

/* Run a "DELETE ... WHERE id = ?" statement for `id`. */
static int delete_by_id(afs_db *db, const char *sql, const char *id, const char *what)
{
    sqlite3_stmt *st = afs__db_stmt(db, sql);
    int rc;

    if (!st)
        return afs_error_last_code();
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : afs__db_error(db, rc, what);
}

/*
 * Forget the group `id` and this service's endpoint of it, here only: the
 * share no longer holds the group, so there is nothing in it to remove.
 */
static int forget_group(afs_service *svc, const char *id, const char *name)
{
    afs_db *db = afs__service_db(svc);
    sqlite3_stmt *st;
    char *ep_id = NULL, *ep_path = NULL;
    int rc;

    if (!(st = afs__db_stmt(db, "SELECT id, local_path FROM server_endpoint WHERE group_id = ?")))
        return afs_error_last_code();
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        ep_id = afs__strdup((const char *)sqlite3_column_text(st, 0));
        ep_path = afs__strdup((const char *)sqlite3_column_text(st, 1));
        rc = ep_id && ep_path ? SQLITE_DONE : SQLITE_NOMEM;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        rc = rc == SQLITE_NOMEM ? AFS_ENOMEM : afs__db_error(db, rc, "look up server endpoint");
        goto done;
    }
    if ((rc = afs__db_begin(db)) != 0)
        goto done;
    if ((ep_id && (rc = delete_by_id(db, "DELETE FROM server_endpoint WHERE id = ?", ep_id,
                                     "forget server endpoint")) != 0) ||
        (rc = delete_by_id(db, "DELETE FROM sync_group WHERE id = ?", id,
                           "forget sync group")) != 0) {
        afs__db_rollback(db);
        goto done;
    }
    if ((rc = afs__db_commit(db)) != 0)
        goto done;
    afs__log(AFS_LOG_INFO, "group delete: the share of sync group \"%s\" no longer holds it; "
             "forgot it here%s%s", name, ep_path ? " with this server's endpoint " : "",
             ep_path ? ep_path : "");
    if (ep_id) {
        if (afs__tier_endpoint_removed(svc, ep_path, ep_id) != 0)
            afs__log(AFS_LOG_WARN, "group delete: tiering state of %s: %s", ep_path,
                     afs_error_last());
        afs_error_clear();
        rc = afs__state_remove(afs__service_state_dir(svc), ep_id);
    }
done:
    free(ep_id);
    free(ep_path);
    return rc;
}

/*
 * Is `name` a group this service knows whose share, reachable, no longer
 * holds it (no definition, or another group's)? Then *orphan is set with
 * its id (malloc'd).
 */
static int orphaned(afs_service *svc, const char *name, char **orphan)
{
    afs_storage *storage = NULL;
    char *id = NULL, *uri = NULL, *doc_id = NULL, *doc_name = NULL;
    bool found = false;
    int rc;

    *orphan = NULL;
    if ((rc = lookup_group(svc, name, &id, &uri, &found)) != 0 || !found)
        goto done;
    if (afs_storage_open(&storage, uri) != 0) {
        afs_error_clear(); /* unreachable: not known to be orphaned */
        goto done;
    }
    rc = read_group_doc(storage, uri, &doc_id, &doc_name);
    if (rc == AFS_ENOTFOUND || (rc == 0 && strcmp(doc_id, id) != 0)) {
        *orphan = id;
        id = NULL;
    }
    afs_error_clear();
    rc = 0;
done:
    afs_storage_free(storage);
    free(id);
    free(uri);
    free(doc_id);
    free(doc_name);
    return rc;
}

int afs_group_delete(afs_service *svc, const char *name)
{
    char *orphan = NULL;
    afs_group *g = NULL;
    afs_endpoint_info **eps = NULL;
    size_t count = 0;
    int rc;

    if (!svc || !name)
        return afs__error_set(AFS_EINVAL, "afs_group_delete: svc and name are required");
    if ((rc = orphaned(svc, name, &orphan)) != 0)
        return rc;
    if (orphan) {
        rc = forget_group(svc, orphan, name);
        free(orphan);
        return rc;
    }
    if ((rc = afs_group_open(&g, svc, name, NULL)) != 0)
        return rc;
    if ((rc = afs_endpoint_list(g, &eps, &count)) != 0)
        goto done;
    if (count > 0) {
        rc = afs__error_set(AFS_EBUSY, "sync group \"%s\" still has %zu server endpoint(s) "
                            "(first: %s on %s); delete them first", name, count, eps[0]->path,
                            eps[0]->server_name);
        goto done;
    }
    rc = afs__storage_remove(g->storage, AFS__GROUP_DOC, NULL, true);
    if (rc != 0 && rc != AFS_ENOTFOUND)
        goto done;
    rc = delete_by_id(afs__service_db(svc), "DELETE FROM sync_group WHERE id = ?", g->id,
                      "delete sync group");
done:
    afs_endpoint_info_free(eps, count);
    afs_group_close(g);
    return rc;
}

int afs_group_list(afs_service *svc, afs_strarray *out)
{
    afs_db *db;
    sqlite3_stmt *st;
    size_t cap = 0;
    int rc;

    if (!svc || !out)
        return afs__error_set(AFS_EINVAL, "afs_group_list: svc and out are required");
    out->strings = NULL;
    out->count = 0;
    db = afs__service_db(svc);
    if (!(st = afs__db_stmt(db, "SELECT name FROM sync_group ORDER BY name")))
        return afs_error_last_code();
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (out->count == cap) {
            char **ns = afs__realloc(out->strings, (cap ? cap * 2 : 8) * sizeof(char *));
            if (!ns) {
                rc = SQLITE_NOMEM;
                break;
            }
            out->strings = ns;
            cap = cap ? cap * 2 : 8;
        }
        if (!(out->strings[out->count] = afs__strdup((const char *)sqlite3_column_text(st, 0)))) {
            rc = SQLITE_NOMEM;
            break;
        }
        out->count++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        afs_strarray_free(out);
        return rc == SQLITE_NOMEM ? AFS_ENOMEM : afs__db_error(db, rc, "list sync groups");
    }
    return 0;
}

const char *afs_group_name(const afs_group *group)
{
    return group ? group->name : NULL;
}

const char *afs_group_id(const afs_group *group)
{
    return group ? group->id : NULL;
}

const char *afs_group_storage_uri(const afs_group *group)
{
    return group ? group->uri : NULL;
}

afs_storage *afs_group_storage(afs_group *group)
{
    return group ? group->storage : NULL;
}

/* ---- the journal stale limit (a member of the group definition) ---- */

#define KEY_STALE "journal_stale_limit_s"

int afs__group_stale_limit(afs_storage *s, uint64_t *seconds)
{
    char *doc = NULL;
    size_t len = 0;
    yajl_val v = NULL;
    int64_t n = 0;
    int rc;

    *seconds = AFS_JOURNAL_STALE_LIMIT_DEFAULT_S;
    if ((rc = afs__share_get_doc(s, AFS__GROUP_DOC, &doc, &len)) != 0)
        return rc;
    rc = afs__json_parse(doc, len, "sync group definition " AFS__GROUP_DOC, &v);
    free(doc);
    if (rc != 0)
        return rc;
    if (afs__json_get_int(v, KEY_STALE, &n) == 0) {
        if (n >= 1 && n <= (int64_t)AFS_JOURNAL_STALE_LIMIT_MAX_S)
            *seconds = (uint64_t)n;
        else
            afs__log(AFS_LOG_WARN, "%s: %s %" PRId64 " is out of range; the default applies",
                     AFS__GROUP_DOC, KEY_STALE, n);
    }
    yajl_tree_free(v);
    return 0;
}

int afs_group_journal_stale_limit(afs_group *group, uint64_t *seconds)
{
    if (!group || !seconds)
        return afs__error_set(AFS_EINVAL, "afs_group_journal_stale_limit: group and seconds "
                              "are required");
    return afs__group_stale_limit(group->storage, seconds);
}

int afs_group_set_journal_stale_limit(afs_group *group, uint64_t seconds)
{
    int rc = AFS_ECONDITION;

    if (!group)
        return afs__error_set(AFS_EINVAL, "afs_group_set_journal_stale_limit: group is NULL");
    if (seconds > AFS_JOURNAL_STALE_LIMIT_MAX_S)
        return afs__error_set(AFS_EINVAL, "journal stale limit %" PRIu64 " s is above the "
                              "maximum of %u s", seconds, AFS_JOURNAL_STALE_LIMIT_MAX_S);
    for (int tries = 0; tries < 8 && rc == AFS_ECONDITION; tries++) {
        afs_storage_put_options o = AFS_STORAGE_PUT_OPTIONS_INIT;
        char etag[AFS_ETAG_MAX];
        char *doc = NULL, *out = NULL;
        size_t len = 0;
        yajl_val v = NULL;
        const char *id, *name;
        int64_t created = 0;
        afs__json *j = NULL;
        struct afs__membuf m;

        if ((rc = afs__share_get_doc_etag(group->storage, AFS__GROUP_DOC, &doc, &len, etag)) != 0)
            break;
        rc = afs__json_parse(doc, len, "sync group definition " AFS__GROUP_DOC, &v);
        free(doc);
        if (rc != 0)
            break;
        id = afs__json_get_str(v, "id");
        name = afs__json_get_str(v, "name");
        afs__json_get_int(v, "created_ns", &created);
        if (!id || !name || strcmp(id, group->id) != 0) {
            yajl_tree_free(v);
            rc = afs__error_set(AFS_ECORRUPT, "the sync group definition in %s is damaged or "
                                "no longer this group's (%s)", group->uri, AFS__GROUP_DOC);
            break;
        }
        if (!(j = afs__json_new())) {
            yajl_tree_free(v);
            rc = AFS_ENOMEM;
            break;
        }
        afs__json_open_map(j);
        afs__json_key_int(j, "format", 1);
        afs__json_key_str(j, "id", id);
        afs__json_key_str(j, "name", name);
        afs__json_key_int(j, "created_ns", created);
        if (seconds)
            afs__json_key_int(j, KEY_STALE, (int64_t)seconds);
        afs__json_close_map(j);
        rc = afs__json_finish(j, &out, &len);
        afs__json_free(j);
        yajl_tree_free(v);
        if (rc != 0)
            break;
        m.data = (const unsigned char *)out;
        m.len = len;
        o.condition = AFS_COND_IF_MATCH;
        o.if_match = etag;
        rc = afs__storage_put(group->storage, AFS__GROUP_DOC, afs__membuf_read, &m, len, &o,
                              NULL, true);
        free(out);
    }
    if (rc == AFS_ECONDITION)
        rc = afs__error_set(AFS_EBUSY, "the sync group definition %s kept changing; the journal "
                            "stale limit was not set", AFS__GROUP_DOC);
    return rc;
}

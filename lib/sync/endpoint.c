/*
 * Server endpoints (docs/sync.md#server-endpoints): creation rules from
 * shared/reference/afs-server-endpoint-create.md, each with its own error
 * code; the endpoint's document in the share (so every host lists the same
 * endpoints); and this server's registry row and sync state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/json.h"
#include "../service/service_internal.h"
#include "../tier/tier_internal.h"
#include "group_internal.h"
#include "names.h"
#include "prune.h"
#include "state.h"

#define MAX_ENDPOINTS_PER_GROUP 100 /* afs-facts.md */
#define MAX_ENDPOINTS_PER_SERVER 30
#define DEFAULT_MIN_FILE_SIZE (64 * 1024)
#define MIN_MIN_FILE_SIZE (8 * 1024)

int afs_endpoint_options_init(afs_endpoint_options *opts, unsigned int version)
{
    static const afs_endpoint_options defaults = AFS_ENDPOINT_OPTIONS_INIT;
    return afs__options_init(&afs__vs_endpoint_options, opts, &defaults, version,
                             "afs_endpoint_options_init");
}

/*
 * Copy the caller's options (any known version: only that version's fields
 * are read, the rest keep their defaults) with defaults filled in. `in` may
 * be `o` itself.
 */
static int take_options(afs_endpoint_options *o, const afs_endpoint_options *in, const char *fn)
{
    afs_endpoint_options given = AFS_ENDPOINT_OPTIONS_INIT;
    int rc;
    if ((rc = afs__vstruct_read(&afs__vs_endpoint_options, &given, in, fn)) != 0)
        return rc;
    *o = given;
    if (o->tiering_min_file_size == 0)
        o->tiering_min_file_size = DEFAULT_MIN_FILE_SIZE;
    if (o->safety_delete_percent == 0)
        o->safety_delete_percent = 50;
    if (o->change_detection_interval_s == 0)
        o->change_detection_interval_s = 300;
    return 0;
}

static int check_options(const afs_endpoint_options *o)
{
    if (o->initial_sync > AFS_INITIAL_SYNC_AUTHORITATIVE_UPLOAD)
        return afs__error_set(AFS_EINVAL, "unknown initial sync option %u", o->initial_sync);
    if (o->initial_download > AFS_INITIAL_DOWNLOAD_AVOID_TIERED_FILES)
        return afs__error_set(AFS_EINVAL, "unknown initial download option %u",
                              o->initial_download);
    if (o->local_cache_mode > AFS_CACHE_DOWNLOAD_NEW_AND_MODIFIED)
        return afs__error_set(AFS_EINVAL, "unknown local cache mode %u", o->local_cache_mode);
    if (o->tiering_enabled > 1)
        return afs__error_set(AFS_EINVAL, "tiering_enabled must be 0 or 1");
    if (o->tiering_free_space_percent > 99)
        return afs__error_set(AFS_EINVAL, "volume free space must be 0 to 99 percent, not %u",
                              o->tiering_free_space_percent);
    if (o->tiering_min_file_size < MIN_MIN_FILE_SIZE)
        return afs__error_set(AFS_EINVAL, "the minimum file size to tier is %d bytes or more",
                              MIN_MIN_FILE_SIZE);
    if (o->safety_delete_percent > 100)
        return afs__error_set(AFS_EINVAL, "safety_delete_percent must be 1 to 100");
    for (size_t i = 0; i < o->exclude_count; i++)
        if (!o->exclude || !o->exclude[i] || !o->exclude[i][0])
            return afs__error_set(AFS_EINVAL, "exclude pattern %zu is empty", i);
    if (o->tiering_enabled &&
        o->initial_download == AFS_INITIAL_DOWNLOAD_AVOID_TIERED_FILES)
        return afs__error_set(AFS_EAVOID_TIERED, "the \"avoid tiered files\" initial download "
                              "needs cloud tiering off; turn tiering off or choose another "
                              "initial download option");
    return 0;
}

void afs__endpoint_options_json(afs__json *j, const afs_endpoint_options *o)
{
    afs__json_open_map(j);
    afs__json_key_int(j, "initial_sync", o->initial_sync);
    afs__json_key_int(j, "initial_download", o->initial_download);
    afs__json_key_int(j, "local_cache_mode", o->local_cache_mode);
    afs__json_key_int(j, "tiering_enabled", o->tiering_enabled);
    afs__json_key_int(j, "tiering_free_space_percent", o->tiering_free_space_percent);
    afs__json_key_int(j, "tiering_date_days", o->tiering_date_days);
    afs__json_key_int(j, "tiering_min_file_size", (int64_t)o->tiering_min_file_size);
    afs__json_key_int(j, "safety_delete_percent", o->safety_delete_percent);
    afs__json_key_int(j, "change_detection_interval_s", o->change_detection_interval_s);
    afs__json_str(j, "exclude");
    afs__json_open_array(j);
    for (size_t i = 0; i < o->exclude_count; i++)
        afs__json_str(j, o->exclude[i]);
    afs__json_close_array(j);
    afs__json_close_map(j);
}

static uint32_t get_u32(yajl_val v, const char *key, uint32_t dflt)
{
    int64_t n;
    if (afs__json_get_int(v, key, &n) != 0 || n < 0 || n > UINT32_MAX)
        return dflt;
    return (uint32_t)n;
}

/* Options from JSON; exclude strings are copied into *strings (owned). */
static int options_from_json(yajl_val v, afs_endpoint_options *o, char ***strings)
{
    yajl_val ex;
    int64_t n;
    afs_endpoint_options_init(o, AFS_ENDPOINT_OPTIONS_VERSION);
    *strings = NULL;
    if (!v)
        return take_options(o, NULL, "endpoint definition");
    o->initial_sync = get_u32(v, "initial_sync", 0);
    o->initial_download = get_u32(v, "initial_download", 0);
    o->local_cache_mode = get_u32(v, "local_cache_mode", 0);
    o->tiering_enabled = get_u32(v, "tiering_enabled", 0);
    o->tiering_free_space_percent = get_u32(v, "tiering_free_space_percent", 20);
    o->tiering_date_days = get_u32(v, "tiering_date_days", 0);
    if (afs__json_get_int(v, "tiering_min_file_size", &n) == 0 && n > 0)
        o->tiering_min_file_size = (uint64_t)n;
    o->safety_delete_percent = get_u32(v, "safety_delete_percent", 0);
    o->change_detection_interval_s = get_u32(v, "change_detection_interval_s", 0);
    ex = afs__json_get_array(v, "exclude");
    if (ex && ex->u.array.len) {
        size_t count = ex->u.array.len;
        char **s = afs__calloc(count + 1, sizeof(char *));
        if (!s)
            return AFS_ENOMEM;
        for (size_t i = 0; i < count; i++) {
            const char *p = YAJL_GET_STRING(ex->u.array.values[i]);
            if (!(s[o->exclude_count] = afs__strdup(p ? p : "*.never-matches"))) {
                for (size_t k = 0; k < i; k++)
                    free(s[k]);
                free(s);
                return AFS_ENOMEM;
            }
            o->exclude_count++;
        }
        *strings = s;
        o->exclude = (const char *const *)s;
    }
    return take_options(o, o, "endpoint definition");
}

static void free_strings(char **s)
{
    if (!s)
        return;
    for (size_t i = 0; s[i]; i++)
        free(s[i]);
    free(s);
}

/*
 * A row of afs_endpoint_list() with what it owns: the caller sees `info`
 * (first, so the row's address is the struct's) and reaches the options
 * through info.options.
 */
typedef struct listed_endpoint {
    afs_endpoint_info info;
    afs_endpoint_options options;
    char **exclude; /* NULL-terminated; options.exclude points here */
} listed_endpoint;

static void listed_endpoint_free(afs_endpoint_info *info)
{
    listed_endpoint *e = (listed_endpoint *)info;
    if (!e)
        return;
    free(e->info.id);
    free(e->info.server_name);
    free(e->info.server_id);
    free(e->info.path);
    free_strings(e->exclude);
    free(e);
}

void afs_endpoint_info_free(afs_endpoint_info **list, size_t count)
{
    if (!list)
        return;
    for (size_t i = 0; i < count; i++)
        listed_endpoint_free(list[i]);
    free(list);
}

/* ---- the endpoint documents in the share ---- */

struct doc_names {
    char **names;
    size_t count, cap;
    int rc;
};

static int collect_doc(const afs_storage_entry *e, void *payload)
{
    struct doc_names *d = payload;
    if (e->status != 0 || e->type != AFS_TYPE_FILE || e->name_len < 6 ||
        memcmp(e->name + e->name_len - 5, ".json", 5) != 0)
        return 0;
    if (d->count == d->cap) {
        char **n = afs__realloc(d->names, (d->cap ? d->cap * 2 : 8) * sizeof(char *));
        if (!n)
            return d->rc = AFS_ENOMEM;
        d->names = n;
        d->cap = d->cap ? d->cap * 2 : 8;
    }
    if (!(d->names[d->count] = afs__strndup(e->name, e->name_len)))
        return d->rc = AFS_ENOMEM;
    d->count++;
    return 0;
}

static int parse_endpoint_doc(const char *doc, size_t len, const char *what,
                              afs_endpoint_info **out)
{
    yajl_val v;
    const char *id, *sid, *sname, *path;
    listed_endpoint *e;
    int64_t created = 0;
    int rc = afs__json_parse(doc, len, what, &v);
    *out = NULL;
    if (rc != 0)
        return rc;
    id = afs__json_get_str(v, "id");
    sid = afs__json_get_str(v, "server_id");
    sname = afs__json_get_str(v, "server_name");
    path = afs__json_get_str(v, "path");
    afs__json_get_int(v, "created_ns", &created);
    if (!id || !sid || !sname || !path) {
        yajl_tree_free(v);
        return afs__error_set(AFS_ECORRUPT, "%s: missing id, server or path", what);
    }
    if (!(e = afs__calloc(1, sizeof(*e)))) {
        yajl_tree_free(v);
        return AFS_ENOMEM;
    }
    e->info.version = AFS_ENDPOINT_INFO_VERSION;
    e->info.id = afs__strdup(id);
    e->info.server_id = afs__strdup(sid);
    e->info.server_name = afs__strdup(sname);
    e->info.path = afs__strdup(path);
    e->info.created_ns = created;
    e->info.options = &e->options;
    rc = options_from_json(afs__json_get_obj(v, "options"), &e->options, &e->exclude);
    yajl_tree_free(v);
    if (rc == 0 && (!e->info.id || !e->info.server_id || !e->info.server_name || !e->info.path))
        rc = AFS_ENOMEM;
    if (rc != 0) {
        listed_endpoint_free(&e->info);
        return rc;
    }
    *out = &e->info;
    return 0;
}

static int cmp_created(const void *a, const void *b)
{
    const afs_endpoint_info *x = *(const afs_endpoint_info *const *)a;
    const afs_endpoint_info *y = *(const afs_endpoint_info *const *)b;
    if (x->created_ns != y->created_ns)
        return x->created_ns < y->created_ns ? -1 : 1;
    return strcmp(x->id, y->id);
}

int afs_endpoint_list(afs_group *group, afs_endpoint_info ***out, size_t *count)
{
    struct doc_names d = { NULL, 0, 0, 0 };
    char marker[AFS_STORAGE_MARKER_MAX], next[AFS_STORAGE_MARKER_MAX];
    afs_endpoint_info **list = NULL;
    size_t n = 0;
    int rc = 0;

    if (out)
        *out = NULL;
    if (count)
        *count = 0;
    if (!group || !out || !count)
        return afs__error_set(AFS_EINVAL, "afs_endpoint_list: group, out and count are required");
    marker[0] = '\0';
    do {
        rc = afs__storage_list(group->storage, AFS__ENDPOINT_DIR, marker, collect_doc, &d, next,
                               sizeof(next), true);
        if (rc == AFS_ENOTFOUND) { /* no endpoint was ever created */
            afs_error_clear();
            rc = 0;
            break;
        }
        if (rc == 0)
            rc = d.rc;
        memcpy(marker, next, sizeof(marker));
    } while (rc == 0 && next[0]);
    /* An array of pointers, never of structs: the caller indexes it with
     * its own sizeof (docs/api-conventions.md#structs-the-library-returns). */
    if (rc == 0 && d.count && !(list = afs__calloc(d.count, sizeof(*list))))
        rc = AFS_ENOMEM;
    for (size_t i = 0; rc == 0 && i < d.count; i++) {
        char *path = afs__sprintf("%s/%s", AFS__ENDPOINT_DIR, d.names[i]);
        char *doc = NULL;
        size_t len = 0;
        if (!path) {
            rc = AFS_ENOMEM;
            break;
        }
        rc = afs__share_get_doc(group->storage, path, &doc, &len);
        if (rc == 0)
            rc = parse_endpoint_doc(doc, len, path, &list[n]);
        if (rc == 0) {
            n++;
        } else if (rc == AFS_ECORRUPT || rc == AFS_ENOTFOUND) {
            /* One damaged or vanished document must not hide the others. */
            afs__log(AFS_LOG_WARN, "endpoint list: skipping %s: %s", path, afs_error_last());
            afs_error_clear();
            rc = 0;
        }
        free(doc);
        free(path);
    }
    for (size_t i = 0; i < d.count; i++)
        free(d.names[i]);
    free(d.names);
    if (rc != 0) {
        afs_endpoint_info_free(list, n);
        return rc;
    }
    if (n == 0) {
        free(list);
        list = NULL;
    } else if (n > 1) {
        qsort(list, n, sizeof(*list), cmp_created);
    }
    *out = list;
    *count = n;
    return 0;
}

bool afs__server_names_clash(const char *a, const char *b)
{
    /* ASCII case folded: on a case-insensitive share "-Branch" and
     * "-branch" copies look the same. */
    for (; *a && *b; a++, b++) {
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a + 32) : *a;
        char y = *b >= 'A' && *b <= 'Z' ? (char)(*b + 32) : *b;
        if (x != y)
            return false;
    }
    return *a == *b;
}

/* ---- this server's registry ---- */

int afs__endpoint_count_local(afs_service *svc, size_t *count)
{
    afs_db *db = afs__service_db(svc);
    sqlite3_stmt *st = afs__db_stmt(db, "SELECT count(*) FROM server_endpoint");
    int rc;
    if (!st)
        return afs_error_last_code();
    rc = sqlite3_step(st);
    *count = rc == SQLITE_ROW ? (size_t)sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : afs__db_error(db, rc, "count server endpoints");
}

/* Do `a` and `b` name the same directory or one inside the other? */
static bool paths_overlap(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), n = la < lb ? la : lb;
    if (strncmp(a, b, n) != 0)
        return false;
    if (la == lb)
        return true;
    /* "/" contains everything; otherwise the longer must continue with '/'. */
    return n == 1 || (la > lb ? a[lb] : b[la]) == '/';
}

/*
 * The per-server rules against this server's other endpoints: no overlap
 * on a volume; one endpoint per group, reported as the volume rule when the
 * existing one shares the volume (reference: "each endpoint is syncing to a
 * unique sync group").
 */
static int check_local_rules(afs_group *g, const char *path, const char *volume_id)
{
    afs_db *db = afs__service_db(g->svc);
    sqlite3_stmt *st =
        afs__db_stmt(db, "SELECT local_path, volume_id, group_id FROM server_endpoint");
    int rc, result = 0;
    if (!st)
        return afs_error_last_code();
    while (result == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *other = (const char *)sqlite3_column_text(st, 0);
        const char *vol = (const char *)sqlite3_column_text(st, 1);
        const char *gid = (const char *)sqlite3_column_text(st, 2);
        if (paths_overlap(path, other))
            result = afs__error_set(AFS_EOVERLAP, "%s overlaps the server endpoint %s; server "
                                    "endpoints on one volume must not contain one another",
                                    path, other);
        else if (strcmp(gid, g->id) == 0 && strcmp(vol, volume_id) == 0)
            result = afs__error_set(AFS_ESAME_GROUP_VOLUME, "%s and the server endpoint %s are "
                                    "on one volume and in the same sync group; endpoints on "
                                    "one volume must sync to different groups", path, other);
        else if (strcmp(gid, g->id) == 0)
            result = afs__error_set(AFS_EONE_PER_SERVER, "this server already has the server "
                                    "endpoint %s in sync group \"%s\"; a group holds one "
                                    "endpoint per registered server", other, g->name);
    }
    sqlite3_reset(st);
    if (result != 0)
        return result;
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : afs__db_error(db, rc, "check endpoints");
}

/* Does the directory hold anything that would sync? */
static int has_data(afs_fs *fs, const char *path, bool *yes)
{
    const afs_fs_ops *ops;
    void *ctx, *dir = NULL;
    afs_fs_dirent de;
    int rc;
    afs_fs_ops_get(fs, &ops, &ctx);
    *yes = false;
    if ((rc = ops->dir_open(ctx, path, &dir)) != 0)
        return rc;
    while ((rc = ops->dir_read(ctx, dir, &de)) == 0)
        if (afs__sync_name_class(de.name, strlen(de.name), NULL) == AFS__NAME_SYNC) {
            *yes = true;
            break;
        }
    ops->dir_close(ctx, dir);
    return rc == AFS_EITEROVER || rc == 0 ? 0 : rc;
}

static int canonical_path(afs_fs *fs, const char *path, char **out)
{
    const afs_fs_ops *ops;
    void *ctx;
    afs_fs_stat st;
    char buf[4096];
    size_t len;
    int rc;

    if (!path || path[0] != '/')
        return afs__error_set(AFS_EINVAL, "a server endpoint path must be absolute, not \"%s\"",
                              path ? path : "(null)");
    afs_fs_ops_get(fs, &ops, &ctx);
    if (ops->canonicalize) {
        if ((rc = ops->canonicalize(ctx, path, buf, sizeof(buf))) != 0)
            return afs__error_prefix(rc, "server endpoint path %s", path);
    } else {
        snprintf(buf, sizeof(buf), "%s", path);
    }
    len = strlen(buf);
    while (len > 1 && buf[len - 1] == '/')
        buf[--len] = '\0';
    memset(&st, 0, sizeof(st));
    if ((rc = ops->stat(ctx, buf, &st)) != 0)
        return afs__error_prefix(rc, "server endpoint path %s", path);
    if (st.type != AFS_TYPE_DIR)
        return afs__error_set(AFS_ENOTDIR, "server endpoint path %s is not a directory", path);
    *out = afs__strdup(buf);
    return *out ? 0 : AFS_ENOMEM;
}

static int endpoint_doc(const char *id, const char *server_id, const char *server_name,
                        const char *path, int64_t created, const afs_endpoint_options *o,
                        char **doc)
{
    afs__json *j = afs__json_new();
    int rc;
    if (!j)
        return AFS_ENOMEM;
    afs__json_open_map(j);
    afs__json_key_int(j, "format", 1);
    afs__json_key_str(j, "id", id);
    afs__json_key_str(j, "server_id", server_id);
    afs__json_key_str(j, "server_name", server_name);
    afs__json_key_str(j, "path", path);
    afs__json_key_int(j, "created_ns", created);
    afs__json_str(j, "options");
    afs__endpoint_options_json(j, o);
    afs__json_close_map(j);
    rc = afs__json_finish(j, doc, NULL);
    afs__json_free(j);
    return rc;
}

static int options_text(const afs_endpoint_options *o, char **out)
{
    afs__json *j = afs__json_new();
    int rc;
    if (!j)
        return AFS_ENOMEM;
    afs__endpoint_options_json(j, o);
    rc = afs__json_finish(j, out, NULL);
    afs__json_free(j);
    return rc;
}

static void endpoint_free(afs_endpoint *ep)
{
    if (!ep)
        return;
    afs__db_close(ep->state);
    free_strings(ep->exclude_strings);
    free(ep->id);
    free(ep->path);
    free(ep);
}

void afs_endpoint_close(afs_endpoint *endpoint)
{
    endpoint_free(endpoint);
}

static int claim_path(const char *server_id, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", AFS__SERVER_CLAIM_DIR, server_id);
    return 0;
}

int afs_endpoint_create(afs_endpoint **out, afs_group *group, const char *path,
                        const afs_endpoint_options *opts)
{
    afs_endpoint_options o;
    afs_endpoint_info **others = NULL;
    size_t nothers = 0, nlocal = 0;
    afs_fs_volume vol;
    const afs_fs_ops *ops;
    void *ctx;
    const char *sname, *sid;
    char *canon = NULL, *doc = NULL, *otext = NULL, *docpath = NULL;
    char claim[128];
    char id[37];
    int64_t created = afs__now_ns();
    bool claimed = false, doc_written = false;
    afs_db *db;
    sqlite3_stmt *st;
    int rc;

    if (!out || !group)
        return afs__error_set(AFS_EINVAL, "afs_endpoint_create: out and group are required");
    *out = NULL;
    if ((rc = take_options(&o, opts, "afs_endpoint_create")) != 0 ||
        (rc = check_options(&o)) != 0)
        return rc;
    if ((rc = afs__service_server(group->svc, &sname, &sid)) != 0)
        return rc;
    if ((rc = canonical_path(afs__service_fs(group->svc), path, &canon)) != 0)
        goto done;

    afs_fs_ops_get(afs__service_fs(group->svc), &ops, &ctx);
    memset(&vol, 0, sizeof(vol));
    if (ops->volume) {
        if ((rc = ops->volume(ctx, canon, &vol)) != 0) {
            rc = afs__error_prefix(rc, "volume of %s", canon);
            goto done;
        }
    } else {
        snprintf(vol.id, sizeof(vol.id), "default");
    }
    if (vol.flags & AFS_FS_VOLUME_NETWORK) {
        rc = afs__error_set(AFS_ENETWORK_FS, "%s is on a network file system (%s); a server "
                            "endpoint must be a path on the server itself, not a mounted share",
                            canon, vol.fs_type);
        goto done;
    }
    if (o.tiering_enabled && (vol.flags & AFS_FS_VOLUME_SYSTEM)) {
        rc = afs__error_set(AFS_ESYSTEM_VOLUME, "%s is on the system volume, where cloud tiering "
                            "is not supported; turn tiering off or use another volume", canon);
        goto done;
    }
    if ((rc = check_local_rules(group, canon, vol.id)) != 0)
        goto done;
    if ((rc = afs__endpoint_count_local(group->svc, &nlocal)) != 0)
        goto done;
    if (nlocal >= MAX_ENDPOINTS_PER_SERVER) {
        rc = afs__error_set(AFS_ELIMIT, "a server holds at most %d server endpoints",
                            MAX_ENDPOINTS_PER_SERVER);
        goto done;
    }
    if ((rc = afs_endpoint_list(group, &others, &nothers)) != 0)
        goto done;
    for (size_t i = 0; i < nothers; i++) {
        if (strcmp(others[i]->server_id, sid) == 0) {
            rc = afs__error_set(AFS_EONE_PER_SERVER, "server \"%s\" already has the endpoint %s "
                                "in sync group \"%s\"; a group holds one endpoint per "
                                "registered server", sname, others[i]->path, group->name);
            goto done;
        }
        /* Conflict copies are named after the server: two servers of one
         * name in a group would make copies nobody can tell apart. */
        if (afs__server_names_clash(others[i]->server_name, sname)) {
            rc = afs__error_set(AFS_EEXISTS, "another server registered as \"%s\" (server id "
                                "%s) already has the endpoint %s in sync group \"%s\"; "
                                "conflict copies are named after their server, so the servers "
                                "of a group need different names: register this server under "
                                "another name (a new state directory) and create the endpoint "
                                "from there", others[i]->server_name, others[i]->server_id,
                                others[i]->path, group->name);
            goto done;
        }
    }
    if (nothers >= MAX_ENDPOINTS_PER_GROUP) {
        rc = afs__error_set(AFS_ELIMIT, "a sync group holds at most %d server endpoints",
                            MAX_ENDPOINTS_PER_GROUP);
        goto done;
    }
    /* Initial sync options belong to the first endpoint, initial download
     * options to the later ones (reference: "Initial sync section"). */
    if (nothers == 0 && o.initial_download != AFS_INITIAL_DOWNLOAD_DEFAULT) {
        rc = afs__error_set(AFS_EINITIAL_OPTION, "an initial download option applies only to "
                            "a sync group's later server endpoints; this is the first one "
                            "(choose merge or authoritative upload instead)");
        goto done;
    }
    if (nothers > 0 && o.initial_sync != AFS_INITIAL_SYNC_MERGE) {
        rc = afs__error_set(AFS_EINITIAL_OPTION, "authoritative upload applies only to a sync "
                            "group's first server endpoint; sync group \"%s\" already has %zu",
                            group->name, nothers);
        goto done;
    }
    if (o.initial_sync == AFS_INITIAL_SYNC_AUTHORITATIVE_UPLOAD) {
        bool data = false;
        if ((rc = has_data(afs__service_fs(group->svc), canon, &data)) != 0)
            goto done;
        if (!data) {
            rc = afs__error_set(AFS_EEMPTY_PATH, "authoritative upload needs data in %s, and it "
                                "is empty; use merge, or put the data there first", canon);
            goto done;
        }
    }

    if ((rc = afs__uuid(id)) != 0)
        goto done;
    /* Claim this server's place in the group atomically: two processes of
     * one server racing here cannot both get an endpoint. */
    claim_path(sid, claim, sizeof(claim));
    rc = afs__share_put_doc(group->storage, claim, id, true);
    if (rc == AFS_ECONDITION) {
        rc = afs__error_set(AFS_EONE_PER_SERVER, "server \"%s\" already has an endpoint in sync "
                            "group \"%s\"", sname, group->name);
        goto done;
    }
    if (rc != 0)
        goto done;
    claimed = true;
    if ((rc = endpoint_doc(id, sid, sname, canon, created, &o, &doc)) != 0)
        goto done;
    if (!(docpath = afs__sprintf("%s/%s.json", AFS__ENDPOINT_DIR, id))) {
        rc = AFS_ENOMEM;
        goto done;
    }
    if ((rc = afs__share_put_doc(group->storage, docpath, doc, true)) != 0)
        goto done;
    doc_written = true;
    if ((rc = options_text(&o, &otext)) != 0)
        goto done;
    db = afs__service_db(group->svc);
    st = afs__db_stmt(db, "INSERT INTO server_endpoint (id, group_id, local_path, options, "
                          "created_ns, volume_id) VALUES (?, ?, ?, ?, ?, ?)");
    if (!st) {
        rc = afs_error_last_code();
        goto done;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, group->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, canon, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, otext, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, created);
    sqlite3_bind_text(st, 6, vol.id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        rc = afs__db_error(db, rc, "register server endpoint");
        goto done;
    }
    rc = afs_endpoint_open(out, group);
    if (rc == 0 && nothers > 0) {
        /* A later endpoint starts by learning the whole share. */
        rc = afs__state_set_int((*out)->state, "joined_existing", 1);
    }
done:
    if (rc != 0) {
        if (doc_written)
            afs__storage_remove(group->storage, docpath, NULL, true);
        if (claimed)
            afs__storage_remove(group->storage, claim, NULL, true);
    }
    afs_endpoint_info_free(others, nothers);
    free(canon);
    free(doc);
    free(otext);
    free(docpath);
    return rc;
}

int afs_endpoint_open(afs_endpoint **out, afs_group *group)
{
    afs_db *db;
    sqlite3_stmt *st;
    afs_endpoint *ep = NULL;
    yajl_val v = NULL;
    int rc;

    if (!out || !group)
        return afs__error_set(AFS_EINVAL, "afs_endpoint_open: out and group are required");
    *out = NULL;
    db = afs__service_db(group->svc);
    if (!(st = afs__db_stmt(db, "SELECT id, local_path, options, created_ns FROM server_endpoint "
                                "WHERE group_id = ?")))
        return afs_error_last_code();
    sqlite3_bind_text(st, 1, group->id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return afs__error_set(AFS_ENOTFOUND, "this server has no endpoint in sync group \"%s\"; "
                              "create one with afs_endpoint_create", group->name);
    }
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return afs__db_error(db, rc, "open server endpoint");
    }
    if (!(ep = afs__calloc(1, sizeof(*ep)))) {
        sqlite3_reset(st);
        return AFS_ENOMEM;
    }
    ep->group = group;
    ep->id = afs__strdup((const char *)sqlite3_column_text(st, 0));
    ep->path = afs__strdup((const char *)sqlite3_column_text(st, 1));
    ep->created_ns = sqlite3_column_int64(st, 3);
    {
        const char *text = (const char *)sqlite3_column_text(st, 2);
        rc = afs__json_parse(text, strlen(text), "server endpoint options", &v);
    }
    sqlite3_reset(st);
    if (rc == 0 && (!ep->id || !ep->path))
        rc = AFS_ENOMEM;
    if (rc == 0)
        rc = options_from_json(v, &ep->opts, &ep->exclude_strings);
    if (v)
        yajl_tree_free(v);
    if (rc == 0)
        rc = afs__state_open(&ep->state, afs__service_state_dir(group->svc), ep->id);
    if (rc != 0) {
        endpoint_free(ep);
        return rc;
    }
    *out = ep;
    return 0;
}

int afs_endpoint_delete(afs_group *group)
{
    afs_endpoint *ep = NULL;
    const char *sname, *sid;
    char claim[128];
    char *docpath = NULL;
    sqlite3_stmt *st;
    afs_db *db;
    int rc;

    if (!group)
        return afs__error_set(AFS_EINVAL, "afs_endpoint_delete: group is required");
    if ((rc = afs__service_server(group->svc, &sname, &sid)) != 0)
        return rc;
    if ((rc = afs_endpoint_open(&ep, group)) != 0)
        return rc;
    if (!(docpath = afs__sprintf("%s/%s.json", AFS__ENDPOINT_DIR, ep->id))) {
        rc = AFS_ENOMEM;
        goto done;
    }
    rc = afs__storage_remove(group->storage, docpath, NULL, true);
    if (rc != 0 && rc != AFS_ENOTFOUND)
        goto done;
    /* Its journal cursor no longer holds pruning back (pruners also skip
     * cursors of endpoints that are not listed). */
    if (afs__journal_unpublish(group->storage, ep->id) != 0)
        afs__log(AFS_LOG_WARN, "endpoint delete: journal cursor of %s: %s", ep->path,
                 afs_error_last());
    claim_path(sid, claim, sizeof(claim));
    rc = afs__storage_remove(group->storage, claim, NULL, true);
    if (rc != 0 && rc != AFS_ENOTFOUND)
        goto done;
    db = afs__service_db(group->svc);
    if (!(st = afs__db_stmt(db, "DELETE FROM server_endpoint WHERE id = ?"))) {
        rc = afs_error_last_code();
        goto done;
    }
    sqlite3_bind_text(st, 1, ep->id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        rc = afs__db_error(db, rc, "delete server endpoint");
        goto done;
    }
    afs__db_close(ep->state);
    ep->state = NULL;
    /* Its heat rows, pins and statistics go with it. */
    if ((rc = afs__tier_endpoint_removed(group->svc, ep->path, ep->id)) != 0)
        afs__log(AFS_LOG_WARN, "endpoint delete: tiering state of %s: %s", ep->path,
                 afs_error_last());
    afs_error_clear(); /* the tiering warning above is not this call's result */
    rc = afs__state_remove(afs__service_state_dir(group->svc), ep->id);
done:
    endpoint_free(ep);
    free(docpath);
    return rc;
}

int afs_group_remove_endpoint(afs_group *group, const char *endpoint_id)
{
    afs_endpoint_info *info = NULL;
    char etag[AFS_ETAG_MAX], claim_etag[AFS_ETAG_MAX];
    char claim[128];
    char *docpath = NULL, *doc = NULL, *held = NULL;
    const char *myname = NULL, *myid = NULL;
    size_t len = 0;
    bool parsed = false;
    int rc;

    if (!group || !endpoint_id)
        return afs__error_set(AFS_EINVAL, "afs_group_remove_endpoint: group and endpoint_id "
                              "are required");
    if (!afs__endpoint_id_ok(endpoint_id))
        return afs__error_set(AFS_EINVAL, "\"%.80s\" is not a server endpoint id (afs_endpoint_list "
                              "gives them)", endpoint_id);
    if (!(docpath = afs__sprintf("%s/%s.json", AFS__ENDPOINT_DIR, endpoint_id)))
        return AFS_ENOMEM;
    rc = afs__share_get_doc_etag(group->storage, docpath, &doc, &len, etag);
    if (rc == AFS_ENOTFOUND) {
        rc = afs__error_set(AFS_ENOTFOUND, "sync group \"%s\" has no server endpoint %s "
                            "(afs_endpoint_list shows its endpoints)", group->name, endpoint_id);
        goto done;
    }
    if (rc != 0)
        goto done;
    rc = parse_endpoint_doc(doc, len, docpath, &info);
    if (rc == AFS_ECORRUPT) {
        /* A damaged definition may go too; its claim cannot be found. */
        afs__log(AFS_LOG_WARN, "remove endpoint: %s is damaged (%s); removing it", docpath,
                 afs_error_last());
        afs_error_clear();
    } else if (rc != 0) {
        goto done;
    } else {
        parsed = true;
    }
    if (parsed && strcmp(info->id, endpoint_id) != 0) {
        rc = afs__error_set(AFS_ECORRUPT, "%s names endpoint %s, not %s; it was not removed",
                            docpath, info->id, endpoint_id);
        goto done;
    }
    if (parsed && afs__service_server(group->svc, &myname, &myid) == 0 &&
        strcmp(info->server_id, myid) == 0) {
        rc = afs__error_set(AFS_EINVAL, "server endpoint %s (%s) is this server's own: delete "
                            "it with afs_endpoint_delete, which also removes its sync state",
                            endpoint_id, info->path);
        goto done;
    }
    afs_error_clear(); /* an unregistered service may remove any endpoint */
    /* Conditional: a definition rewritten meanwhile (its server is alive and
     * changed its options) is not removed behind its back. */
    rc = afs__storage_remove(group->storage, docpath, etag, true);
    if (rc == AFS_ECONDITION) {
        rc = afs__error_set(AFS_EBUSY, "the definition of server endpoint %s changed while it "
                            "was being removed (is its server alive?); check afs_endpoint_list "
                            "and try again", endpoint_id);
        goto done;
    }
    if (rc != 0 && rc != AFS_ENOTFOUND)
        goto done;
    rc = 0;
    if (afs__journal_unpublish(group->storage, endpoint_id) != 0)
        afs__log(AFS_LOG_WARN, "remove endpoint: journal cursor of %s: %s", endpoint_id,
                 afs_error_last());
    afs_error_clear();
    /* The server's claim on its place in the group, if it is this endpoint's. */
    if (parsed) {
        claim_path(info->server_id, claim, sizeof(claim));
        if (afs__share_get_doc_etag(group->storage, claim, &held, &len, claim_etag) == 0 &&
            strcmp(held, endpoint_id) == 0 &&
            afs__storage_remove(group->storage, claim, claim_etag, true) != 0)
            afs__log(AFS_LOG_WARN, "remove endpoint: claim %s: %s", claim, afs_error_last());
        afs_error_clear();
    }
    afs__log(AFS_LOG_INFO, "removed server endpoint %s (%s on server \"%s\") from sync group "
             "\"%s\"; no files were touched", endpoint_id, parsed ? info->path : "?",
             parsed ? info->server_name : "?", group->name);
done:
    listed_endpoint_free(info);
    free(docpath);
    free(doc);
    free(held);
    return rc;
}

const char *afs_endpoint_path(const afs_endpoint *endpoint)
{
    return endpoint ? endpoint->path : NULL;
}

const char *afs_endpoint_id(const afs_endpoint *endpoint)
{
    return endpoint ? endpoint->id : NULL;
}

int afs_endpoint_get_options(afs_endpoint *endpoint, afs_endpoint_options *out)
{
    if (!endpoint || !out)
        return afs__error_set(AFS_EINVAL, "afs_endpoint_get_options: endpoint and out required");
    /* Only the fields of the caller's version: its struct may be smaller
     * than ours (docs/api-conventions.md#versioned-structs). */
    return afs__vstruct_write(&afs__vs_endpoint_options, out, &endpoint->opts,
                              "afs_endpoint_get_options");
}

int afs_endpoint_set_options(afs_endpoint *endpoint, const afs_endpoint_options *opts)
{
    afs_endpoint_options o;
    afs_group *g;
    const char *sname, *sid;
    char *doc = NULL, *otext = NULL, *docpath = NULL;
    char **strings = NULL;
    afs_db *db;
    sqlite3_stmt *st;
    int rc;

    if (!endpoint || !opts)
        return afs__error_set(AFS_EINVAL, "afs_endpoint_set_options: endpoint and opts required");
    g = endpoint->group;
    if ((rc = take_options(&o, opts, "afs_endpoint_set_options")) != 0 ||
        (rc = check_options(&o)) != 0)
        return rc;
    if (o.initial_sync != endpoint->opts.initial_sync ||
        o.initial_download != endpoint->opts.initial_download)
        return afs__error_set(AFS_EIMMUTABLE, "the initial sync and initial download options "
                              "cannot be changed after the server endpoint is created; delete "
                              "and re-create the endpoint instead");
    if (o.tiering_enabled && !endpoint->opts.tiering_enabled) {
        const afs_fs_ops *ops;
        void *ctx;
        afs_fs_volume vol;
        afs_fs_ops_get(afs__service_fs(g->svc), &ops, &ctx);
        memset(&vol, 0, sizeof(vol));
        if (ops->volume && ops->volume(ctx, endpoint->path, &vol) == 0 &&
            (vol.flags & AFS_FS_VOLUME_SYSTEM))
            return afs__error_set(AFS_ESYSTEM_VOLUME, "%s is on the system volume, where cloud "
                                  "tiering is not supported", endpoint->path);
    }
    if ((rc = afs__service_server(g->svc, &sname, &sid)) != 0)
        return rc;
    /* Keep our own copies of the patterns. */
    if (o.exclude_count) {
        if (!(strings = afs__calloc(o.exclude_count + 1, sizeof(char *))))
            return AFS_ENOMEM;
        for (size_t i = 0; i < o.exclude_count; i++)
            if (!(strings[i] = afs__strdup(o.exclude[i]))) {
                free_strings(strings);
                return AFS_ENOMEM;
            }
        o.exclude = (const char *const *)strings;
    }
    if ((rc = endpoint_doc(endpoint->id, sid, sname, endpoint->path, endpoint->created_ns, &o, &doc)) !=
            0 ||
        (rc = options_text(&o, &otext)) != 0)
        goto done;
    if (!(docpath = afs__sprintf("%s/%s.json", AFS__ENDPOINT_DIR, endpoint->id))) {
        rc = AFS_ENOMEM;
        goto done;
    }
    {
        /* Rewritten only while it is there: an endpoint another host removed
         * from the group (afs_group_remove_endpoint) does not come back. */
        afs_storage_put_options po = AFS_STORAGE_PUT_OPTIONS_INIT;
        afs_storage_entry e;
        struct afs__membuf m = { (const unsigned char *)doc, strlen(doc) };
        rc = afs__storage_stat(g->storage, docpath, &e, true);
        if (rc == 0) {
            po.condition = AFS_COND_IF_MATCH;
            po.if_match = e.etag;
            rc = afs__storage_put(g->storage, docpath, afs__membuf_read, &m, m.len, &po, NULL,
                                  true);
        }
        if (rc == AFS_ENOTFOUND || rc == AFS_ECONDITION)
            rc = rc == AFS_ENOTFOUND
                     ? afs__error_set(AFS_ENOTFOUND, "server endpoint %s is no longer in sync "
                                      "group \"%s\" (another host removed it); delete it here "
                                      "with afs_endpoint_delete and create it again",
                                      endpoint->path, g->name)
                     : afs__error_set(AFS_EBUSY, "the definition of server endpoint %s changed "
                                      "meanwhile; try again", endpoint->path);
        if (rc != 0)
            goto done;
    }
    db = afs__service_db(g->svc);
    if (!(st = afs__db_stmt(db, "UPDATE server_endpoint SET options = ? WHERE id = ?"))) {
        rc = afs_error_last_code();
        goto done;
    }
    sqlite3_bind_text(st, 1, otext, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, endpoint->id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        rc = afs__db_error(db, rc, "update server endpoint options");
        goto done;
    }
    rc = 0;
    free_strings(endpoint->exclude_strings);
    endpoint->exclude_strings = strings;
    strings = NULL;
    endpoint->opts = o;
done:
    free_strings(strings);
    free(doc);
    free(otext);
    free(docpath);
    return rc;
}

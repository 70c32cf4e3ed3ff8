/* The cloud change journal (lib/sync/journal.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/json.h"
#include "journal.h"
#include "names.h"

#define SEQ_PATH_MAX (sizeof(AFS__JOURNAL_DIR) + 24)

static void seq_path(uint64_t seq, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%020" PRIu64, AFS__JOURNAL_DIR, seq);
}

static const char *op_name(afs__jop op)
{
    switch (op) {
    case AFS__JOP_PUT: return "put";
    case AFS__JOP_DELETE: return "delete";
    case AFS__JOP_MKDIR: return "mkdir";
    case AFS__JOP_RENAME: return "rename";
    case AFS__JOP_PROPS: return "props";
    case AFS__JOP_RESCAN: return "rescan";
    }
    return "?";
}

static int op_parse(const char *s, afs__jop *op)
{
    static const afs__jop all[] = { AFS__JOP_PUT, AFS__JOP_DELETE, AFS__JOP_MKDIR,
                                    AFS__JOP_RENAME, AFS__JOP_PROPS, AFS__JOP_RESCAN };
    for (size_t i = 0; s && i < AFS__ARRAY_LEN(all); i++)
        if (strcmp(s, op_name(all[i])) == 0) {
            *op = all[i];
            return 0;
        }
    return AFS_ECORRUPT;
}

static bool exists(afs_storage *s, uint64_t seq)
{
    char path[SEQ_PATH_MAX];
    afs_storage_entry e;
    seq_path(seq, path, sizeof(path));
    return afs__storage_stat(s, path, &e, true) == 0;
}

int afs__journal_head(afs_storage *s, uint64_t hint, uint64_t *head)
{
    uint64_t lo = hint, hi, step = 1;

    /* Gallop forward from the hint to a missing number, then bisect:
     * O(log n) stats however stale the hint is. */
    if (lo > 0 && !exists(s, lo))
        lo = 0;
    hi = lo + 1;
    while (exists(s, hi)) {
        lo = hi;
        step *= 2;
        hi = lo + step;
    }
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (exists(s, mid))
            lo = mid;
        else
            hi = mid;
    }
    *head = lo;
    return 0;
}

static int encode(const char *endpoint_id, const char *server_name, const afs__jrec *recs,
                  size_t count, char **doc, size_t *len)
{
    afs__json *j = afs__json_new();
    char hex[2 * AFS__MD5_LEN + 1];
    int rc;

    if (!j)
        return AFS_ENOMEM;
    afs__json_open_map(j);
    afs__json_key_int(j, "v", 1);
    afs__json_key_str(j, "endpoint", endpoint_id);
    afs__json_key_str(j, "server", server_name);
    afs__json_str(j, "ops");
    afs__json_open_array(j);
    for (size_t i = 0; i < count; i++) {
        const afs__jrec *r = &recs[i];
        afs__json_open_map(j);
        afs__json_key_str(j, "op", op_name(r->op));
        afs__json_key_str(j, "path", r->path);
        if (r->op == AFS__JOP_RENAME)
            afs__json_key_str(j, "to", r->to);
        afs__json_key_int(j, "type", r->type);
        if (r->op == AFS__JOP_PUT || r->op == AFS__JOP_PROPS) {
            afs__json_key_int(j, "size", (int64_t)r->size);
            afs__json_key_int(j, "mtime_ns", r->mtime_ns);
        }
        if (r->etag && r->etag[0])
            afs__json_key_str(j, "etag", r->etag);
        if (r->has_md5) {
            afs__md5_hex(r->md5, hex);
            afs__json_key_str(j, "md5", hex);
        }
        afs__json_close_map(j);
    }
    afs__json_close_array(j);
    afs__json_close_map(j);
    rc = afs__json_finish(j, doc, len);
    afs__json_free(j);
    return rc;
}

int afs__journal_append(afs_storage *s, const char *endpoint_id, const char *server_name,
                        const afs__jrec *recs, size_t count, uint64_t *seq)
{
    afs_storage_put_options o = AFS_STORAGE_PUT_OPTIONS_INIT;
    struct afs__membuf m;
    char path[SEQ_PATH_MAX];
    char *doc = NULL;
    size_t len = 0;
    uint64_t next = *seq + 1;
    int rc;

    if (count == 0)
        return 0;
    if ((rc = encode(endpoint_id, server_name, recs, count, &doc, &len)) != 0)
        return rc;
    m.data = (const unsigned char *)doc;
    m.len = len;
    o.condition = AFS_COND_CREATE_ONLY;
    for (int tries = 0; tries < 64; tries++) {
        seq_path(next, path, sizeof(path));
        rc = afs__storage_put(s, path, afs__membuf_read, &m, len, &o, NULL, true);
        if (rc != AFS_ECONDITION)
            break;
        /* Someone else took that number: find the head and try past it. */
        if ((rc = afs__journal_head(s, next, &next)) != 0)
            break;
        next++;
        rc = AFS_ECONDITION;
    }
    if (rc == 0)
        *seq = next;
    else if (rc == AFS_ECONDITION)
        afs__error_set(AFS_EBUSY, "journal: could not claim a sequence number after 64 tries");
    free(doc);
    return rc == AFS_ECONDITION ? AFS_EBUSY : rc;
}

/* Read a whole small object into a malloc'd buffer. */
static int read_all(afs_storage *s, const char *path, char **out, size_t *len)
{
    size_t cap = 64 * 1024, n = 0, got;
    char *buf = afs__malloc(cap);
    int rc = 0;

    if (!buf)
        return AFS_ENOMEM;
    for (;;) {
        if (n == cap) {
            char *nb;
            if (cap >= AFS__JSON_MAX) {
                rc = afs__error_set(AFS_ECORRUPT, "journal batch %s is over %u bytes", path,
                                    AFS__JSON_MAX);
                break;
            }
            nb = afs__realloc(buf, cap * 2);
            if (!nb) {
                rc = AFS_ENOMEM;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        rc = afs__storage_read(s, path, n, buf + n, cap - n, &got, NULL, true);
        if (rc != 0)
            break;
        n += got;
        if (got == 0 || n < cap)
            break;
    }
    if (rc != 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    *len = n;
    return 0;
}

/* A record path must be a valid, synced relative path: never trust the share. */
static bool path_ok(const char *p)
{
    const char *c, *slash;
    if (!p || !p[0] || afs__path_check(p, false, "journal") != 0)
        return false;
    for (c = p;; c = slash + 1) {
        slash = strchr(c, '/');
        size_t len = slash ? (size_t)(slash - c) : strlen(c);
        if (afs__sync_name_class(c, len, NULL) != AFS__NAME_SYNC)
            return false;
        if (!slash)
            return true;
    }
}

static int parse_rec(yajl_val v, afs__jrec *r)
{
    int64_t n;
    const char *md5;
    memset(r, 0, sizeof(*r));
    if (op_parse(afs__json_get_str(v, "op"), &r->op) != 0)
        return AFS_ECORRUPT;
    if (r->op == AFS__JOP_RESCAN)
        return 0; /* names no path */
    r->path = afs__json_get_str(v, "path");
    if (!path_ok(r->path))
        return AFS_ECORRUPT;
    if (r->op == AFS__JOP_RENAME) {
        r->to = afs__json_get_str(v, "to");
        if (!path_ok(r->to))
            return AFS_ECORRUPT;
    }
    if (afs__json_get_int(v, "type", &n) != 0 || (n != AFS_TYPE_FILE && n != AFS_TYPE_DIR))
        return AFS_ECORRUPT;
    r->type = (uint32_t)n;
    if (afs__json_get_int(v, "size", &n) == 0 && n >= 0)
        r->size = (uint64_t)n;
    if (afs__json_get_int(v, "mtime_ns", &n) == 0)
        r->mtime_ns = n;
    r->etag = afs__json_get_str(v, "etag");
    if (r->etag && strlen(r->etag) >= AFS_ETAG_MAX)
        return AFS_ECORRUPT;
    md5 = afs__json_get_str(v, "md5");
    if (md5) {
        if (afs__md5_parse(md5, r->md5) != 0)
            return AFS_ECORRUPT;
        r->has_md5 = true;
    }
    return 0;
}

static int read_floor(afs_storage *s, uint64_t *floor)
{
    char buf[32];
    size_t n;
    int rc = afs__storage_read(s, AFS__JOURNAL_FLOOR, 0, buf, sizeof(buf) - 1, &n, NULL, true);
    *floor = 0;
    if (rc == AFS_ENOTFOUND) {
        afs_error_clear();
        return 0;
    }
    if (rc != 0)
        return rc;
    buf[n] = '\0';
    *floor = strtoull(buf, NULL, 10);
    return 0;
}

int afs__journal_read(afs_storage *s, uint64_t cursor, afs__journal_fn fn, void *payload,
                      uint64_t *new_cursor, bool *gap)
{
    uint64_t floor, seq;
    int rc;

    *gap = false;
    *new_cursor = cursor;
    if ((rc = read_floor(s, &floor)) != 0)
        return rc;
    if (floor > cursor + 1) {
        afs__log(AFS_LOG_INFO, "journal: pruned up to %" PRIu64 ", cursor %" PRIu64
                 ": full enumeration needed", floor, cursor);
        *gap = true;
        return 0;
    }
    for (seq = cursor + 1;; seq++) {
        char path[SEQ_PATH_MAX];
        char *doc = NULL;
        size_t len = 0;
        yajl_val v = NULL, ops;
        const char *ep, *server;

        seq_path(seq, path, sizeof(path));
        rc = read_all(s, path, &doc, &len);
        if (rc == AFS_ENOTFOUND) {
            afs_error_clear();
            return 0;
        }
        if (rc == AFS_ENOTDIR) {
            /* The journal folder is not a folder: no batch can be read. */
            afs__log(AFS_LOG_WARN, "journal: %s; a full enumeration follows", afs_error_last());
            afs_error_clear();
            *gap = true;
            return 0;
        }
        if (rc == AFS_ECORRUPT || rc == AFS_EISDIR) {
            /* Damaged or hostile (a batch that is a folder): skip it. */
            *gap = true;
            *new_cursor = seq;
            afs__log(AFS_LOG_WARN, "journal batch %s is unusable (%s); a full enumeration "
                     "follows", path, afs_error_last());
            afs_error_clear();
            continue;
        }
        if (rc != 0)
            return rc;
        rc = afs__json_parse(doc, len, path, &v);
        free(doc);
        ep = v ? afs__json_get_str(v, "endpoint") : NULL;
        server = v ? afs__json_get_str(v, "server") : NULL;
        ops = v ? afs__json_get_array(v, "ops") : NULL;
        if (rc != 0 || !ep || !server || !ops) {
            /* Damaged or hostile: skip it, and have the caller enumerate. */
            afs__log(AFS_LOG_WARN, "journal batch %s is unusable; a full enumeration follows",
                     path);
            *gap = true;
        } else {
            for (size_t i = 0; i < ops->u.array.len; i++) {
                afs__jrec r;
                if (parse_rec(ops->u.array.values[i], &r) != 0) {
                    afs__log(AFS_LOG_WARN, "journal batch %s: record %zu is unusable", path, i);
                    *gap = true;
                    continue;
                }
                if (r.op == AFS__JOP_RESCAN) {
                    afs__log(AFS_LOG_INFO, "journal batch %s: its writer asks for a full "
                             "enumeration", path);
                    *gap = true;
                    continue;
                }
                if ((rc = fn(seq, ep, server, &r, payload)) != 0) {
                    yajl_tree_free(v);
                    return rc;
                }
            }
        }
        if (v)
            yajl_tree_free(v);
        *new_cursor = seq;
    }
}

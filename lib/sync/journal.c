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

/* ---- the floor ---- */

/* Decimal digits with optional whitespace around; at most INT64_MAX (cursors
 * are kept as signed 64-bit values). Anything else is damaged. */
static int floor_parse(const char *buf, size_t n, uint64_t *out)
{
    size_t i = 0, digits = 0;
    uint64_t v = 0;

    while (i < n && (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t'))
        i++;
    for (; i < n && buf[i] >= '0' && buf[i] <= '9'; i++, digits++) {
        unsigned int d = (unsigned int)(buf[i] - '0');
        if (v > ((uint64_t)INT64_MAX - d) / 10)
            return AFS_ECORRUPT;
        v = v * 10 + d;
    }
    while (i < n && (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t'))
        i++;
    if (digits == 0 || i != n)
        return AFS_ECORRUPT;
    *out = v;
    return 0;
}

int afs__journal_floor_get(afs_storage *s, bool want_etag, afs__jfloor *f)
{
    char buf[AFS__JOURNAL_FLOOR_MAX + 1];
    afs_storage_entry e;
    size_t n = 0;
    int rc;

    memset(f, 0, sizeof(*f));
    for (int tries = 0;; tries++) {
        e.etag[0] = '\0';
        if (want_etag && (rc = afs__storage_stat(s, AFS__JOURNAL_FLOOR, &e, true)) != 0)
            break;
        rc = afs__storage_read(s, AFS__JOURNAL_FLOOR, 0, buf, sizeof(buf), &n,
                               want_etag ? e.etag : NULL, true);
        if (rc != AFS_ECONDITION || tries == 4)
            break; /* else rewritten between the stat and the read */
    }
    if (rc == AFS_ENOTFOUND) {
        afs_error_clear();
        return 0;
    }
    if (rc != 0)
        return rc;
    f->present = true;
    snprintf(f->etag, sizeof(f->etag), "%s", e.etag);
    if (n > AFS__JOURNAL_FLOOR_MAX || floor_parse(buf, n, &f->value) != 0) {
        f->bad = true;
        f->value = 0;
        snprintf(f->why, sizeof(f->why), "%s is damaged (not a batch number)",
                 AFS__JOURNAL_FLOOR);
    }
    return 0;
}

bool afs__journal_floor_check(afs_storage *s, afs__jfloor *f)
{
    /* A pruner never raises the floor past the newest batch and nothing
     * removes batches at or above it: a floor naming no batch is hostile, or
     * a newer floor replaced it meanwhile (then the file changed). */
    for (int tries = 0; !f->bad && f->value > 1 && !exists(s, f->value); tries++) {
        afs__jfloor again;
        if (tries < 4 && afs__journal_floor_get(s, f->etag[0] != '\0', &again) == 0 &&
            again.present &&
            !again.bad && again.value != f->value) {
            *f = again;
            continue;
        }
        afs_error_clear();
        f->bad = true;
        snprintf(f->why, sizeof(f->why), "%s says %" PRIu64 ", a batch that does not exist",
                 AFS__JOURNAL_FLOOR, f->value);
    }
    return !f->bad;
}

/* ---- listing ---- */

/* A batch name: exactly 20 digits, at most INT64_MAX. */
static bool seq_parse(const char *name, size_t len, uint64_t *seq)
{
    return len == 20 && floor_parse(name, len, seq) == 0 && *seq > 0;
}

struct seq_list {
    uint64_t *seqs;
    size_t count, cap;
    int rc;
};

static int collect_seq(const afs_storage_entry *e, void *payload)
{
    struct seq_list *l = payload;
    uint64_t seq;
    if (e->status != 0 || e->type != AFS_TYPE_FILE || !seq_parse(e->name, e->name_len, &seq))
        return 0;
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        uint64_t *n = afs__realloc(l->seqs, cap * sizeof(*n));
        if (!n)
            return l->rc = AFS_ENOMEM;
        l->seqs = n;
        l->cap = cap;
    }
    l->seqs[l->count++] = seq;
    return 0;
}

int afs__journal_list(afs_storage *s, uint64_t **seqs, size_t *count)
{
    struct seq_list l = { NULL, 0, 0, 0 };
    char marker[AFS_STORAGE_MARKER_MAX], next[AFS_STORAGE_MARKER_MAX];
    int rc;

    *seqs = NULL;
    *count = 0;
    marker[0] = '\0';
    do {
        next[0] = '\0';
        rc = afs__storage_list(s, AFS__JOURNAL_DIR, marker, collect_seq, &l, next, sizeof(next),
                               true);
        if (rc == AFS_ENOTFOUND) { /* nothing was ever journaled */
            afs_error_clear();
            rc = 0;
            break;
        }
        if (rc == 0)
            rc = l.rc;
        memcpy(marker, next, sizeof(marker));
    } while (rc == 0 && next[0]);
    if (rc != 0) {
        free(l.seqs);
        return rc;
    }
    *seqs = l.seqs;
    *count = l.count;
    return 0;
}

/* ---- the head ---- */

/* The highest batch number listed (0 if none). */
static int list_head(afs_storage *s, uint64_t *head)
{
    uint64_t *seqs = NULL;
    size_t n = 0;
    int rc = afs__journal_list(s, &seqs, &n);
    *head = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (seqs[i] > *head)
            *head = seqs[i];
    free(seqs);
    return rc;
}

int afs__journal_head(afs_storage *s, uint64_t hint, uint64_t *head)
{
    uint64_t lo = hint, hi, step = 1;
    afs__jfloor f;

    /* Start at the floor when the hint is below it (batches a pruner left
     * below the floor are not the journal) or gone (pruned, or from another
     * share). A floor that names no batch cannot be trusted: list the
     * journal instead. */
    if (afs__journal_floor_get(s, false, &f) != 0) {
        afs_error_clear(); /* unreadable now: probe from the hint, as without a floor */
        memset(&f, 0, sizeof(f));
    }
    if (f.present && (f.bad || f.value > 1))
        afs__journal_floor_check(s, &f);
    if (!f.bad && f.value > 1 && f.value > lo) {
        lo = f.value;
    } else if (lo > 0 && !exists(s, lo)) {
        if (f.bad)
            return list_head(s, head);
        lo = f.value > 1 ? f.value : 0;
    }
    /* Gallop forward to a missing number, then bisect: O(log n) stats
     * however stale the start is. */
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
        afs_storage_entry put;
        afs__jfloor f;
        seq_path(next, path, sizeof(path));
        rc = afs__storage_put(s, path, afs__membuf_read, &m, len, &o, &put, true);
        if (rc == 0) {
            /* A pruner may have raised the floor past `next` and removed the
             * batch that held it before our create-only put: nobody would
             * read ours. Take it back and append past the head. */
            if (afs__journal_floor_get(s, false, &f) != 0 || f.bad || f.value <= next ||
                !afs__journal_floor_check(s, &f) || f.value <= next) {
                afs_error_clear();
                break;
            }
            afs__log(AFS_LOG_INFO, "journal: batch %" PRIu64 " landed below the floor %" PRIu64
                     "; appending it again past the head", next, f.value);
            if ((rc = afs__storage_remove(s, path, put.etag, true)) != 0 && rc != AFS_ENOTFOUND)
                break;
            next = f.value;
        } else if (rc != AFS_ECONDITION) {
            break;
        }
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

/*
 * Batch `seq` is missing. That ends the journal only if the floor is still
 * at or below it and no later batch exists: a pruner removes batches only
 * after raising the floor past them, so a batch that vanished under the
 * reader shows as "floor moved", and a hole with later batches after it (a
 * batch removed by hand) as a gap. Either way: a full enumeration.
 */
static int missing_batch(afs_storage *s, uint64_t seq, const char *path, bool *gap)
{
    afs__jfloor f;
    int rc = afs__journal_floor_get(s, false, &f);
    if (rc != 0)
        return rc;
    if (f.bad) {
        afs__log(AFS_LOG_WARN, "journal: %s; a full enumeration follows", f.why);
        *gap = true;
    } else if (f.value > seq) {
        afs__log(AFS_LOG_INFO, "journal: batch %s was pruned while it was read (floor now %"
                 PRIu64 "); a full enumeration follows", path, f.value);
        *gap = true;
    } else if (exists(s, seq + 1)) {
        afs__log(AFS_LOG_WARN, "journal: batch %s is missing but later batches exist; a full "
                 "enumeration follows", path);
        *gap = true;
    }
    return 0;
}

int afs__journal_read(afs_storage *s, uint64_t cursor, afs__journal_fn fn, void *payload,
                      uint64_t *new_cursor, bool *gap)
{
    afs__jfloor f;
    uint64_t seq;
    int rc;

    *gap = false;
    *new_cursor = cursor;
    if ((rc = afs__journal_floor_get(s, false, &f)) != 0)
        return rc;
    if (f.value > cursor + 1)
        afs__journal_floor_check(s, &f); /* only to say which it is */
    if (f.bad) {
        afs__log(AFS_LOG_WARN, "journal: %s; a full enumeration follows", f.why);
        *gap = true;
        return 0;
    }
    if (f.value > cursor + 1) {
        afs__log(AFS_LOG_INFO, "journal: pruned up to %" PRIu64 ", cursor %" PRIu64
                 ": full enumeration needed", f.value, cursor);
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
            return missing_batch(s, seq, path, gap);
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

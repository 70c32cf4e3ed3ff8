/*
 * The Azure Files storage backend (docs/azure.md#the-azure-files-backend):
 * a share, or a directory inside one, through the File REST API.
 *
 * - Directories and files are real: Create/Delete Directory, List
 *   Directories and Files (include=Timestamps,ETag,Attributes), Get File
 *   and Get File Properties, Rename File and Rename Directory.
 * - Times and attributes are the SMB properties (x-ms-file-last-write-time,
 *   x-ms-file-creation-time, x-ms-file-attributes), so SMB clients of the
 *   share see what the sync engine wrote; user metadata is x-ms-meta-afsu_*.
 * - A put writes a temp file under .libafs/azfiles/tmp/ (Create File, then
 *   Put Range in parallel, at most 4 MiB each) and publishes it by Rename
 *   File: readers never see a partial file, and a failed put leaves the old
 *   one. Create-only is the rename with x-ms-file-rename-replace-if-exists:
 *   false (the service refuses an existing name). The File service has no
 *   If-Match on writes, so an if-match put, remove, rename or set_props
 *   takes an infinite lease on the file, compares the etag while holding
 *   it, and writes with the lease id: every other writer (REST with or
 *   without a lease, SMB) is refused while the lease is held.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "../../core/internal.h"
#include "auth.h"
#include "azure_internal.h"
#include "common.h"
#include "http.h"
#include "xml.h"

#define LIST_PAGE "5000"
#define LIST_BODY_MAX (32u << 20)
#define RANGE_MAX (4u << 20) /* Put Range: at most 4 MiB a range */
#define TMP_DIR ".libafs/azfiles/tmp"
#define TMP_MAX_AGE_S (24 * 3600)
#define LEASE_WAIT_MS 30000u /* a lease held longer is taken as left by a crash */
#define SECS_1601 INT64_C(-11644473600) /* 1601-01-01, the earliest SMB time */

static const struct azc_service svc = { "azfiles", ".file.core.windows.net", "share" };

struct azfiles {
    struct azc_root base; /* the connection, the share and the directory prefix */
    unsigned int parallelism;
    uint64_t range_size;
    unsigned int lease_wait_ms;
};

bool afs__azfiles_uri_match(const char *uri)
{
    return azc_uri_match(uri, &svc);
}

static int do_req(struct azfiles *z, struct azh_request *q, struct azh_response *r,
                  const char *what)
{
    return azc_do_req(&z->base.conn, q, r, what);
}

/* "/share/<encoded prefix+path>"; the share root itself is "/share". */
static char *url_of(const struct azfiles *z, const char *path)
{
    size_t pl = strlen(z->base.prefix);
    if (!path[0] && pl == 0)
        return afs__strdup(z->base.path);
    if (!path[0]) {
        char *p = afs__strndup(z->base.prefix, pl - 1); /* without its '/' */
        char *u = p ? azc_url_path(z->base.path, "", p, false) : NULL;
        free(p);
        return u;
    }
    return azc_url_path(z->base.path, z->base.prefix, path, false);
}

/* The full URL of `path`, with the SAS when that is the credential (a
 * rename source must carry it); wiped and freed by the caller. */
static char *full_url_of(const struct azfiles *z, const char *path)
{
    char *p = url_of(z, path), *u;
    if (!p)
        return NULL;
    u = azc_full_url(&z->base.conn, p);
    free(p);
    return u;
}

static void wipe_free(char *s)
{
    if (s) {
        memset(s, 0, strlen(s));
        free(s);
    }
}

/* ---- times and attributes ---- */

/* ns since the epoch -> "2024-01-02T03:04:05.1234567Z" (100 ns ticks). */
static void iso_time(int64_t ns, char out[96])
{
    int64_t s = ns / 1000000000, frac = ns % 1000000000;
    struct tm tm;
    time_t t;
    if (frac < 0) {
        frac += 1000000000;
        s--;
    }
    if (s < SECS_1601) {
        s = SECS_1601;
        frac = 0;
    }
    t = (time_t)s;
    gmtime_r(&t, &tm);
    snprintf(out, 96, "%04d-%02d-%02dT%02d:%02d:%02d.%07" PRId64 "Z", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac / 100);
}

/* The reverse; false if `s` is not such a time. */
static bool parse_iso(const char *s, int64_t *ns)
{
    struct tm tm;
    int y, mo, d, h, mi, se, n = 0;
    int64_t frac = 0, scale = 100000000;
    const char *p;

    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se, &n) != 6)
        return false;
    p = s + n;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++) {
            frac += (*p - '0') * scale;
            scale /= 10;
        }
    }
    if (*p != 'Z' || p[1])
        return false;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    *ns = (int64_t)timegm(&tm) * 1000000000 + frac;
    return true;
}

static const struct {
    uint32_t bit;
    const char *name;
} attr_names[] = { { AFS_ATTR_READONLY, "ReadOnly" },
                   { AFS_ATTR_HIDDEN, "Hidden" },
                   { AFS_ATTR_SYSTEM, "System" },
                   { AFS_ATTR_ARCHIVE, "Archive" } };

/* AFS_ATTR_* -> "ReadOnly | Archive" ("None" for none). */
static void attr_format(uint32_t a, char out[64])
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < AFS__ARRAY_LEN(attr_names); i++)
        if (a & attr_names[i].bit)
            n += (size_t)snprintf(out + n, 64 - n, "%s%s", n ? " | " : "", attr_names[i].name);
    if (!n)
        snprintf(out, 64, "None");
}

/* "ReadOnly | Archive" (or "ReadOnly|Archive") -> AFS_ATTR_*; other SMB
 * attributes (Directory, Offline, ...) are not kept by the library. */
static uint32_t attr_parse(const char *s)
{
    uint32_t a = 0;
    while (s && *s) {
        size_t n;
        s += strspn(s, " |");
        n = strcspn(s, " |");
        for (size_t i = 0; i < AFS__ARRAY_LEN(attr_names); i++)
            if (n == strlen(attr_names[i].name) && strncasecmp(s, attr_names[i].name, n) == 0)
                a |= attr_names[i].bit;
        s += n;
    }
    return a;
}

static void entry_fill(afs_storage_entry *e, bool dir, int64_t size, const char *etag,
                       const char *wtime, const char *ctime, const char *lastmod,
                       const char *attrs)
{
    int64_t v;
    e->type = dir ? AFS_TYPE_DIR : AFS_TYPE_FILE;
    e->size = !dir && size > 0 ? (uint64_t)size : 0;
    azc_etag_norm(etag ? etag : "", e->etag, sizeof(e->etag));
    if (parse_iso(wtime, &v))
        e->mtime_ns = v;
    else if ((v = azh_parse_http_date(lastmod)) >= 0)
        e->mtime_ns = v * 1000000000;
    if (parse_iso(ctime, &v))
        e->btime_ns = v;
    e->attributes = attr_parse(attrs);
}

static void entry_from_head(const struct azh_response *r, bool dir, afs_storage_entry *e)
{
    entry_fill(e, dir, r->content_length, r->etag, r->file_last_write_time,
               r->file_creation_time, r->last_modified, r->file_attributes);
}

/* ---- errors ---- */

static bool code_is(struct azh_response *r, const char *code)
{
    return strcmp(azc_err_code(r), code) == 0;
}

/* A lease held by someone else refused the write. */
static bool lease_conflict(struct azh_response *r)
{
    const char *c = azc_err_code(r);
    return (r->status == 412 || r->status == 409) && strncmp(c, "Lease", 5) == 0;
}

/* azc_map_status, but a lease in the way is "busy", not a failed condition. */
static int map_status(struct azh_response *r, const char *what)
{
    if (lease_conflict(r))
        return afs__error_set(AFS_EBUSY, "azure: %s: the file is leased by another client (%s)",
                              what, azc_err_code(r));
    return azc_map_status(r, what);
}

/* The answer to a write made under our own lease: a lease error means the
 * lease was broken in between (docs/azure.md#conditional-writes-what-is-
 * guaranteed), so the condition no longer holds and nothing was written. */
static int map_leased(struct azh_response *r, const char *what)
{
    if (lease_conflict(r))
        return afs__error_set(AFS_ECONDITION, "azure: %s: the lease was broken before the "
                              "write (%s)", what, azc_err_code(r));
    return map_status(r, what);
}

/* ---- properties ---- */

/* Start request `method` on `path` (a directory's with `dir`): its URL is
 * malloc'd into q->path, freed with req_done(). */
static int req_on(struct azfiles *z, struct azh_request *q, const char *method, const char *path,
                  bool dir)
{
    memset(q, 0, sizeof(*q));
    if (!(q->path = url_of(z, path)))
        return AFS_ENOMEM;
    q->method = method;
    if (dir)
        azh_query_add(q, "restype", "directory");
    return 0;
}

/* Perform a request started with req_on() and free its URL. */
static int req_done(struct azfiles *z, struct azh_request *q, struct azh_response *r,
                    const char *what)
{
    int rc = do_req(z, q, r, what);
    free((char *)q->path);
    q->path = NULL;
    return rc;
}

/* HEAD a file (`dir` false) or a directory. */
static int head(struct azfiles *z, const char *path, bool dir, struct azh_response *r,
                const char *what)
{
    struct azh_request q;
    int rc = req_on(z, &q, "HEAD", path, dir);
    return rc ? rc : req_done(z, &q, r, what);
}

enum kind { K_NONE, K_FILE, K_DIR };

/* What is at `path`; with `r` non-NULL, the answer of its HEAD stays there. */
static int kind_of(struct azfiles *z, const char *path, enum kind *k, struct azh_response *r,
                   const char *what)
{
    struct azh_response mine;
    struct azh_response *a = r ? r : &mine;
    int rc;

    *k = K_NONE;
    if (path[0]) {
        if ((rc = head(z, path, false, a, what)) != 0)
            return rc;
        if (a->status == 200) {
            *k = K_FILE;
            goto done;
        }
        if (a->status != 404 && a->status != 409) {
            rc = map_status(a, what);
            azh_response_free(a);
            return rc;
        }
        azh_response_free(a);
    }
    if ((rc = head(z, path, true, a, what)) != 0)
        return rc;
    if (a->status == 200)
        *k = K_DIR;
    else if (a->status != 404 && a->status != 409) {
        rc = map_status(a, what);
        azh_response_free(a);
        return rc;
    }
done:
    if (!r)
        azh_response_free(a);
    return 0;
}

/* ---- leases (the If-Match the File service lacks) ---- */

static void lease_new_id(char out[40])
{
    unsigned char b[16];
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
        uint64_t t = (uint64_t)afs__now_ns();
        for (size_t i = 0; i < sizeof(b); i++)
            b[i] = (unsigned char)(t >> ((i % 8) * 8)) ^ (unsigned char)(uintptr_t)&b[i];
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 40, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
             b[13], b[14], b[15]);
}

static int lease_req(struct azfiles *z, const char *path, const char *action, const char *id,
                     struct azh_response *r, const char *what)
{
    struct azh_request q;
    int rc = req_on(z, &q, "PUT", path, false);

    if (rc != 0)
        return rc;
    azh_query_add(&q, "comp", "lease");
    azh_header_add(&q, "x-ms-lease-action", action);
    if (strcmp(action, "acquire") == 0) {
        azh_header_add(&q, "x-ms-lease-duration", "-1"); /* files: infinite only */
        azh_header_add(&q, "x-ms-proposed-lease-id", id);
    } else if (strcmp(action, "release") == 0) {
        azh_header_add(&q, "x-ms-lease-id", id);
    }
    return req_done(z, &q, r, what);
}

/* Back off while someone else's lease is in the way: 5 ms doubling to
 * 200 ms. After lease_wait_ms the lease is taken as left by a crashed
 * writer and broken (its holder's write then fails: nothing is lost).
 * Returns 0 to try again, or an error. */
struct waiter {
    unsigned int slept_ms, step_ms;
    bool broke;
};

static int lease_wait(struct azfiles *z, struct waiter *w, const char *path, const char *what)
{
    struct azh_response r;
    int rc;

    if (w->slept_ms < z->lease_wait_ms) {
        w->step_ms = w->step_ms ? (w->step_ms * 2 > 200 ? 200 : w->step_ms * 2) : 5;
        azh_sleep_ms(w->step_ms);
        w->slept_ms += w->step_ms;
        return 0;
    }
    if (w->broke)
        return afs__error_set(AFS_EBUSY, "azure: %s: the file stays leased by another client",
                              what);
    afs__log(AFS_LOG_WARN, "azure: %s: a lease held for over %u ms; breaking it", what,
             z->lease_wait_ms);
    w->broke = true;
    if ((rc = lease_req(z, path, "break", NULL, &r, what)) != 0)
        return rc;
    if (r.status != 202 && r.status != 200 && r.status != 404 && r.status != 409)
        rc = map_status(&r, what);
    azh_response_free(&r);
    return rc;
}

/* Take an infinite lease on file `path` (ENOTFOUND if there is none; a
 * directory: AFS_EISDIR). */
static int lease_acquire(struct azfiles *z, const char *path, char id[40], const char *what)
{
    struct waiter w = { 0, 0, false };
    lease_new_id(id);
    for (;;) {
        struct azh_response r;
        int rc = lease_req(z, path, "acquire", id, &r, what);
        if (rc != 0)
            return rc;
        if (r.status == 201 || r.status == 200) {
            azh_response_free(&r);
            return 0;
        }
        if (r.status == 409 && code_is(&r, "LeaseAlreadyPresent")) {
            azh_response_free(&r);
            if ((rc = lease_wait(z, &w, path, what)) != 0)
                return rc;
            continue;
        }
        rc = r.status == 404 || r.status == 409
                 ? afs__error_set(AFS_ENOTFOUND, "azure: %s: no such file (%s)", what,
                                  azc_err_code(&r))
                 : map_status(&r, what);
        azh_response_free(&r);
        return rc;
    }
}

static void lease_release(struct azfiles *z, const char *path, const char *id, const char *what)
{
    struct azh_response r;
    int code = afs_error_last_code();
    char msg[1024];

    snprintf(msg, sizeof(msg), "%s", afs_error_last());
    if (lease_req(z, path, "release", id, &r, what) == 0 && r.status != 200 && r.status != 404 &&
        r.status != 409 && r.status != 412)
        afs__log(AFS_LOG_WARN, "azure: %s: releasing the lease: HTTP %ld %s", what, r.status,
                 azc_err_code(&r));
    azh_response_free(&r);
    if (code)
        afs__error_set(code, "%s", msg); /* the caller's error, not the release's */
}

/* Lease `path` and check that its etag is `if_match`: 0 with the lease
 * held, or AFS_ECONDITION (missing or changed; no lease held). */
static int lease_checked(struct azfiles *z, const char *path, const char *if_match,
                         char id[40], const char *what)
{
    struct azh_response r;
    int rc = lease_acquire(z, path, id, what);

    if (rc == AFS_ENOTFOUND)
        return afs__error_set(AFS_ECONDITION, "azure: %s: if-match: no such file", what);
    if (rc != 0)
        return rc;
    if ((rc = head(z, path, false, &r, what)) == 0) {
        if (r.status != 200)
            rc = map_status(&r, what);
        else if (!azc_etag_same(if_match, r.etag))
            rc = afs__error_set(AFS_ECONDITION, "azure: %s: etag mismatch", what);
    }
    azh_response_free(&r);
    if (rc != 0)
        lease_release(z, path, id, what);
    return rc;
}

/* ---- list ---- */

struct list_ctx {
    afs_storage_list_fn emit;
    void *payload;
};

static int list_item(const struct azx_item *it, void *payload)
{
    struct list_ctx *l = payload;
    afs_storage_entry e;

    memset(&e, 0, sizeof(e));
    entry_fill(&e, it->is_prefix, it->size, it->etag, it->file_last_write_time,
               it->file_creation_time, it->last_modified, it->attributes);
    e.name = it->name;
    e.name_len = it->name_len;
    return l->emit(&e, l->payload);
}

static int list_page(struct azfiles *z, const char *dir, const char *marker, azx_item_fn fn,
                     void *payload, char *next_marker, size_t next_marker_size, const char *what)
{
    struct azh_request q;
    struct azh_response r;
    int rc = req_on(z, &q, "GET", dir, true);

    if (rc != 0)
        return rc;
    azh_query_add(&q, "comp", "list");
    azh_query_add(&q, "include", "Timestamps,ETag,Attributes");
    azh_query_add(&q, "maxresults", LIST_PAGE);
    if (marker && marker[0])
        azh_query_add(&q, "marker", marker);
    azh_header_add(&q, "x-ms-file-extended-info", "true");
    q.body_limit = LIST_BODY_MAX;
    rc = req_done(z, &q, &r, what);
    if (rc == 0 && r.status == 404)
        rc = afs__error_set(AFS_ENOTFOUND, "azure: %s: no such directory (%s)", what,
                            azc_err_code(&r));
    else if (rc == 0 && r.status != 200)
        rc = map_status(&r, what);
    if (rc == 0)
        rc = azx_parse_list(r.body, r.body_len, fn, payload, next_marker, next_marker_size, what);
    if (rc != 0)
        next_marker[0] = '\0';
    azh_response_free(&r);
    return rc;
}

static int azfiles_list(void *ctx, const char *dir, const char *marker, afs_storage_list_fn emit,
                        void *payload, char *next_marker, size_t next_marker_size)
{
    struct list_ctx l = { emit, payload };
    char what[300];
    snprintf(what, sizeof(what), "list \"%.256s\"", dir);
    return list_page(ctx, dir, marker, list_item, &l, next_marker, next_marker_size, what);
}

/* ---- stat, read ---- */

static int azfiles_stat(void *ctx, const char *path, afs_storage_entry *out)
{
    struct azfiles *z = ctx;
    struct azh_response r;
    enum kind k;
    char what[300];
    int rc;

    snprintf(what, sizeof(what), "stat \"%.256s\"", path);
    if ((rc = kind_of(z, path, &k, &r, what)) != 0)
        return rc;
    if (k == K_NONE)
        rc = afs__error_set(AFS_ENOTFOUND, "azure: %s: no such object", what);
    else
        entry_from_head(&r, k == K_DIR, out);
    azh_response_free(&r);
    return rc;
}

/* After a file request on `path` was answered 404 or 409: a directory there
 * (AFS_EISDIR) or nothing (AFS_ENOTFOUND). The file's answer is known, so
 * only the directory is asked about. */
static int read_missing(struct azfiles *z, const char *path, const char *what)
{
    struct azh_response r;
    int rc = head(z, path, true, &r, what);
    if (rc != 0)
        return rc;
    if (r.status == 200)
        rc = afs__error_set(AFS_EISDIR, "azure: %s: is a directory", what);
    else if (r.status == 404 || r.status == 409)
        rc = afs__error_set(AFS_ENOTFOUND, "azure: %s: no such object", what);
    else
        rc = map_status(&r, what);
    azh_response_free(&r);
    return rc;
}

static int azfiles_read(void *ctx, const char *path, uint64_t offset, void *buf, size_t len,
                        size_t *nread, const char *if_match)
{
    struct azfiles *z = ctx;
    struct azh_request q;
    struct azh_response r;
    char range[64], what[300];
    char *up = NULL;
    int rc;

    *nread = 0;
    memset(&r, 0, sizeof(r));
    snprintf(what, sizeof(what), "read \"%.256s\"", path);
    if (len == 0 || offset > INT64_MAX - (uint64_t)len) {
        /* Nothing to fetch: still tell a missing or changed object. */
        if ((rc = head(z, path, false, &r, what)) != 0)
            return rc;
        if (r.status != 200)
            rc = r.status == 404 ? read_missing(z, path, what) : map_status(&r, what);
        else if (if_match && !azc_etag_same(if_match, r.etag))
            rc = afs__error_set(AFS_ECONDITION, "azure: %s: etag mismatch", what);
        azh_response_free(&r);
        return rc;
    }
    if (!(up = url_of(z, path)))
        return AFS_ENOMEM;
    azc_range_get(&q, up, offset, buf, len, range);
    if ((rc = do_req(z, &q, &r, what)) != 0)
        goto done;
    /* Get File has no If-Match: the answer's ETag belongs to the bytes it
     * carries, so compare it and hand back nothing on a mismatch. */
    if ((r.status == 200 || r.status == 206 || r.status == 416) && if_match &&
        !azc_etag_same(if_match, r.etag)) {
        rc = afs__error_set(AFS_ECONDITION, "azure: %s: etag mismatch", what);
        goto done;
    }
    if (r.status == 206 || r.status == 200) {
        rc = azc_range_result(&r, offset, len, buf, nread, what);
    } else if (r.status == 416) {
        /* At or past the end: 0 bytes. The etag of a 416 may be absent. */
        if (if_match && !r.etag[0]) {
            azh_response_free(&r);
            if ((rc = head(z, path, false, &r, what)) == 0 && r.status != 200)
                rc = map_status(&r, what);
            else if (rc == 0 && !azc_etag_same(if_match, r.etag))
                rc = afs__error_set(AFS_ECONDITION, "azure: %s: etag mismatch", what);
        }
    } else if (r.status == 404 || r.status == 409) {
        rc = if_match ? afs__error_set(AFS_ECONDITION, "azure: %s: if-match: no such file", what)
                      : read_missing(z, path, what);
    } else {
        rc = map_status(&r, what);
    }
done:
    if (rc != 0)
        *nread = 0;
    azh_response_free(&r);
    free(up);
    return rc;
}

/* ---- directories ---- */

/* Create Directory; *created false if it was there. */
static int make_dir(struct azfiles *z, const char *path, bool *created, const char *what)
{
    struct azh_request q;
    struct azh_response r;
    int rc = req_on(z, &q, "PUT", path, true);

    *created = false;
    if (rc != 0)
        return rc;
    rc = req_done(z, &q, &r, what);
    if (rc == 0) {
        if (r.status == 201)
            *created = true;
        else if (r.status == 409 && code_is(&r, "ResourceAlreadyExists"))
            *created = false;
        else if (r.status == 404)
            rc = afs__error_set(AFS_ENOTFOUND, "azure: %s: the parent does not exist (%s)", what,
                                azc_err_code(&r));
        else
            rc = map_status(&r, what);
    }
    azh_response_free(&r);
    return rc;
}

/* Every missing directory of `path`'s parents (mkdir -p of the parent). */
static int make_parents(struct azfiles *z, const char *path, const char *what)
{
    char *parent = azc_parent_of(path);
    bool created;
    int rc = 0;

    if (!parent)
        return AFS_ENOMEM;
    for (char *p = parent; rc == 0 && *p;) {
        char *slash = strchr(p, '/');
        if (slash)
            *slash = '\0';
        rc = make_dir(z, parent, &created, what);
        if (!slash)
            break;
        *slash = '/';
        p = slash + 1;
    }
    free(parent);
    return rc;
}

static int azfiles_mkdir(void *ctx, const char *path)
{
    struct azfiles *z = ctx;
    char what[300];
    bool created = false;
    int rc;

    snprintf(what, sizeof(what), "mkdir \"%.256s\"", path);
    if ((rc = make_dir(z, path, &created, what)) == 0 && !created)
        rc = afs__error_set(AFS_EEXISTS, "azure: %s: already exists", what);
    return rc;
}

static int azfiles_rmdir(void *ctx, const char *path)
{
    struct azfiles *z = ctx;
    struct azh_request q;
    struct azh_response r;
    char what[300];
    int rc = req_on(z, &q, "DELETE", path, true);

    snprintf(what, sizeof(what), "rmdir \"%.256s\"", path);
    if (rc == 0)
        rc = req_done(z, &q, &r, what);
    if (rc != 0)
        return rc;
    if (r.status == 409 && code_is(&r, "DirectoryNotEmpty")) {
        rc = afs__error_set(AFS_ENOTEMPTY, "azure: %s: directory not empty", what);
    } else if (r.status == 404 || r.status == 409) {
        enum kind k;
        if ((rc = kind_of(z, path, &k, NULL, what)) == 0)
            rc = k == K_FILE ? afs__error_set(AFS_ENOTDIR, "azure: %s: not a directory", what)
                             : afs__error_set(AFS_ENOTFOUND, "azure: %s: no such directory",
                                              what);
    } else if (r.status != 202 && r.status != 200) {
        rc = map_status(&r, what);
    }
    azh_response_free(&r);
    return rc;
}

/* ---- rename (files, directories, and a put's publish) ---- */

struct rename_args {
    bool dir;             /* Rename Directory */
    bool replace;         /* x-ms-file-rename-replace-if-exists */
    const char *src_lease;
    const char *dst_lease;
};

/*
 * Rename Directory / Rename File `from` -> `to` (relative paths) once, and
 * on a missing parent of `to` create it and once more. A lease of someone
 * else on the target (or source) is waited for. The answer in *r.
 */
static int rename_req(struct azfiles *z, const char *from, const char *to,
                      const struct rename_args *a, struct azh_response *r, const char *what)
{
    struct waiter w = { 0, 0, false };
    bool parents_made = false;
    char *src = full_url_of(z, from);
    char *up = url_of(z, to);
    int rc = 0;

    memset(r, 0, sizeof(*r));
    if (!src || !up) {
        rc = AFS_ENOMEM;
        goto done;
    }
    for (;;) {
        struct azh_request q;
        memset(&q, 0, sizeof(q));
        q.method = "PUT";
        q.path = up;
        if (a->dir)
            azh_query_add(&q, "restype", "directory");
        azh_query_add(&q, "comp", "rename");
        azh_header_add(&q, "x-ms-file-rename-source", src);
        azh_header_add(&q, "x-ms-file-rename-replace-if-exists", a->replace ? "true" : "false");
        if (a->replace && !a->dir)
            azh_header_add(&q, "x-ms-file-rename-ignore-readonly", "true");
        if (a->src_lease)
            azh_header_add(&q, "x-ms-source-lease-id", a->src_lease);
        if (a->dst_lease)
            azh_header_add(&q, "x-ms-destination-lease-id", a->dst_lease);
        if ((rc = do_req(z, &q, r, what)) != 0)
            goto done;
        if (r->status == 404 && code_is(r, "ParentNotFound") && !parents_made) {
            azh_response_free(r);
            parents_made = true;
            if ((rc = make_parents(z, to, what)) != 0)
                goto done;
            continue;
        }
        if (!a->src_lease && !a->dst_lease && lease_conflict(r)) {
            /* Someone else's lease on the target: their conditional write
             * is in progress. Wait for it. */
            azh_response_free(r);
            if ((rc = lease_wait(z, &w, to, what)) != 0)
                goto done;
            continue;
        }
        break;
    }
done:
    wipe_free(src);
    free(up);
    return rc;
}

static int rename_file(struct azfiles *z, const char *from, const char *to, const char *if_match,
                       unsigned int flags, const char *what)
{
    struct rename_args a = { false, !(flags & AFS_STORAGE_RENAME_NOREPLACE), NULL, NULL };
    struct azh_response r;
    char lease[40];
    int rc;

    if (if_match) {
        if ((rc = lease_checked(z, from, if_match, lease, what)) != 0)
            return rc;
        a.src_lease = lease;
    }
    rc = rename_req(z, from, to, &a, &r, what);
    if (rc == 0 && r.status != 200 && r.status != 201) {
        if (r.status == 409 && code_is(&r, "ResourceAlreadyExists"))
            rc = afs__error_set(AFS_ECONDITION, "azure: %s: the target exists", what);
        else if (r.status == 409 && code_is(&r, "ResourceTypeMismatch"))
            rc = afs__error_set(AFS_EISDIR, "azure: %s: the target is a directory", what);
        else
            rc = if_match ? map_leased(&r, what) : map_status(&r, what);
    }
    azh_response_free(&r);
    /* The lease travels with the file: let go of it under its new name,
     * or under the old one if nothing moved. */
    if (if_match)
        lease_release(z, rc == 0 ? to : from, lease, what);
    return rc;
}

/* Is `dir` empty? */
static int dir_empty_item(const struct azx_item *it, void *payload)
{
    (void)it;
    *(bool *)payload = false;
    return 0;
}

static int rename_dir(struct azfiles *z, const char *from, const char *to, const char *if_match,
                      unsigned int flags, const char *from_etag, const char *what)
{
    struct rename_args a = { true, false, NULL, NULL };
    struct azh_response r;
    size_t fl = strlen(from);
    enum kind k;
    int rc;

    /* Directories cannot be leased: this check and the rename are two steps. */
    if (if_match && !azc_etag_same(if_match, from_etag))
        return afs__error_set(AFS_ECONDITION, "azure: %s: etag mismatch", what);
    if (strncmp(to, from, fl) == 0 && to[fl] == '/')
        return afs__error_set(AFS_EINVAL, "azure: %s: cannot move a directory into itself", what);
    if ((rc = kind_of(z, to, &k, NULL, what)) != 0)
        return rc;
    if (k != K_NONE && (flags & AFS_STORAGE_RENAME_NOREPLACE))
        return afs__error_set(AFS_ECONDITION, "azure: %s: the target exists", what);
    if (k == K_FILE)
        return afs__error_set(AFS_ENOTDIR, "azure: %s: the target is a file", what);
    if (k == K_DIR) {
        /* An empty target directory is replaced, as rename(2) does. */
        char next[AFS_STORAGE_MARKER_MAX];
        bool empty = true;
        if ((rc = list_page(z, to, NULL, dir_empty_item, &empty, next, sizeof(next), what)) != 0)
            return rc;
        if (!empty || next[0])
            return afs__error_set(AFS_ENOTEMPTY, "azure: %s: the target directory is not empty",
                                  what);
        if ((rc = azfiles_rmdir(z, to)) != 0)
            return rc;
    }
    /* One Rename Directory: the service moves the whole tree. */
    if ((rc = rename_req(z, from, to, &a, &r, what)) != 0)
        return rc;
    if (r.status == 409 && code_is(&r, "ResourceAlreadyExists"))
        rc = afs__error_set(AFS_ECONDITION, "azure: %s: the target exists", what);
    else if (r.status != 200 && r.status != 201)
        rc = map_status(&r, what);
    azh_response_free(&r);
    return rc;
}

static int azfiles_rename(void *ctx, const char *from, const char *to, const char *if_match,
                          unsigned int flags)
{
    struct azfiles *z = ctx;
    struct azh_response r;
    char what[600], etag[AFS_ETAG_MAX];
    enum kind k;
    int rc;

    snprintf(what, sizeof(what), "rename \"%.256s\" -> \"%.256s\"", from, to);
    if (strcmp(from, to) == 0)
        return 0;
    if ((rc = kind_of(z, from, &k, &r, what)) != 0)
        return rc;
    azc_etag_norm(r.etag, etag, sizeof(etag));
    azh_response_free(&r);
    if (k == K_NONE)
        return afs__error_set(AFS_ENOTFOUND, "azure: %s: no such object", what);
    if (k == K_DIR)
        return rename_dir(z, from, to, if_match, flags, etag, what);
    if (!(flags & AFS_STORAGE_RENAME_NOREPLACE)) {
        enum kind tk;
        if ((rc = kind_of(z, to, &tk, NULL, what)) != 0)
            return rc;
        if (tk == K_DIR)
            return afs__error_set(AFS_EISDIR, "azure: %s: the target is a directory", what);
    }
    return rename_file(z, from, to, if_match, flags, what);
}

/* ---- put ---- */

/* Delete file `path` (optionally under `lease`); the answer in *r. */
static int delete_file(struct azfiles *z, const char *path, const char *lease,
                       struct azh_response *r, const char *what)
{
    char *up = url_of(z, path);
    int rc;
    if (!up)
        return AFS_ENOMEM;
    rc = azc_simple_req(&z->base.conn, "DELETE", up, NULL, lease ? "x-ms-lease-id" : NULL, lease, r,
                        what);
    free(up);
    return rc;
}

/* Set File Properties (or Set Directory Properties): attributes, times
 * (NULL: "preserve"), the content MD5 (NULL: none). */
static int set_props_req(struct azfiles *z, const char *path, bool dir, const char *attrs,
                         const char *mtime, const char *btime, const char *md5,
                         const char *lease, struct azh_response *r, const char *what)
{
    struct azh_request q;
    int rc = req_on(z, &q, "PUT", path, dir);

    if (rc != 0)
        return rc;
    azh_query_add(&q, "comp", "properties");
    azh_header_add(&q, "x-ms-file-attributes", attrs);
    azh_header_add(&q, "x-ms-file-last-write-time", mtime ? mtime : "preserve");
    azh_header_add(&q, "x-ms-file-creation-time", btime ? btime : "preserve");
    azh_header_add(&q, "x-ms-file-permission", "preserve");
    /* Set File Properties clears the content headers it is not given. */
    if (md5 && md5[0])
        azh_header_add(&q, "x-ms-content-md5", md5);
    if (lease)
        azh_header_add(&q, "x-ms-lease-id", lease);
    return req_done(z, &q, r, what);
}

struct range_job {
    struct azfiles *z;
    const char *up;
    const char *what;
};

/* azc_chunk_fn: Put Range (at most RANGE_MAX bytes, with its MD5). */
static int put_range(void *payload, uint32_t index, uint64_t off, const unsigned char *buf,
                     size_t n, const char *md5)
{
    struct range_job *j = payload;
    struct azh_request q;
    struct azh_response r;
    char range[64];
    int rc;

    (void)index;
    memset(&q, 0, sizeof(q));
    q.method = "PUT";
    q.path = j->up;
    q.body = buf;
    q.body_len = n;
    snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, off, off + n - 1);
    azh_query_add(&q, "comp", "range");
    azh_header_add(&q, "x-ms-range", range);
    azh_header_add(&q, "x-ms-write", "update");
    azh_header_add(&q, "Content-MD5", md5);
    /* Keep the last-write time Create File set (version 2021-06-08+). */
    azh_header_add(&q, "x-ms-file-last-write-time", "preserve");
    rc = do_req(j->z, &q, &r, j->what);
    if (rc == 0 && r.status != 201)
        rc = map_status(&r, j->what);
    azh_response_free(&r);
    return rc;
}

/* A temp name under TMP_DIR: "<unix seconds hex>-<random hex>". */
static void tmp_name(char out[80])
{
    uint64_t rnd = 0;
    if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        rnd = (uint64_t)afs__now_ns() ^ (uint64_t)(uintptr_t)out;
    snprintf(out, 80, TMP_DIR "/%" PRIx64 "-%016" PRIx64, (uint64_t)time(NULL), rnd);
}

/* Create File `tmp` of `size` bytes with the put's properties and metadata
 * (ReadOnly left out: it would refuse the ranges). */
static int create_tmp(struct azfiles *z, const char *tmp, uint64_t size,
                      const afs_storage_put_options *o, const char *mtime, const char *btime,
                      const char *md5, const char *what)
{
    struct azh_request q;
    struct azh_response r;
    char len[24], attrs[64];
    char *names[AZH_MAX_META] = { 0 };
    char *up = url_of(z, tmp);
    bool dirs_made = false;
    int rc;

    if (!up)
        return AFS_ENOMEM;
    snprintf(len, sizeof(len), "%" PRIu64, size);
    attr_format(o->attributes & ~AFS_ATTR_READONLY, attrs);
    for (;;) {
        memset(&q, 0, sizeof(q));
        q.method = "PUT";
        q.path = up;
        azh_header_add(&q, "x-ms-type", "file");
        azh_header_add(&q, "x-ms-content-length", len);
        azh_header_add(&q, "x-ms-file-attributes", attrs);
        azh_header_add(&q, "x-ms-file-last-write-time", mtime);
        azh_header_add(&q, "x-ms-file-creation-time", btime ? btime : "now");
        azh_header_add(&q, "x-ms-file-permission", "inherit");
        if (md5)
            azh_header_add(&q, "x-ms-content-md5", md5);
        for (size_t i = 0; i < AZH_MAX_META; i++) {
            free(names[i]);
            names[i] = NULL;
        }
        if ((rc = azc_user_meta_add(&q, names, AZH_MAX_META, o)) != 0 ||
            (rc = do_req(z, &q, &r, what)) != 0)
            break;
        if (r.status == 404 && !dirs_made) {
            /* The temp directory is made on the first put. */
            azh_response_free(&r);
            dirs_made = true;
            if ((rc = make_parents(z, tmp, what)) != 0)
                break;
            continue;
        }
        if (r.status != 201)
            rc = map_status(&r, what);
        azh_response_free(&r);
        break;
    }
    for (size_t i = 0; i < AZH_MAX_META; i++)
        free(names[i]);
    free(up);
    return rc;
}

static int azfiles_put(void *ctx, const char *path, afs_read_fn src, void *src_payload,
                       uint64_t size, const afs_storage_put_options *o, afs_storage_entry *out)
{
    struct azfiles *z = ctx;
    struct rename_args a = { false, o->condition != AFS_COND_CREATE_ONLY, NULL, NULL };
    struct azh_response r;
    char what[300], tmp[80], mtime[96], btime[96], md5[32] = "", lease[40], attrs[64];
    int64_t mt = o->mtime_ns == AFS_TIME_OMIT ? afs__now_ns() : o->mtime_ns;
    bool tmp_made = false, leased = false;
    unsigned char *small = NULL;
    int rc;

    memset(&r, 0, sizeof(r));
    snprintf(what, sizeof(what), "put \"%.256s\"", path);
    iso_time(mt, mtime);
    if (o->btime_ns != AFS_TIME_OMIT)
        iso_time(o->btime_ns, btime);
    /* A doomed conditional upload is refused before any byte moves. */
    if (o->condition != AFS_COND_NONE) {
        enum kind k;
        if ((rc = kind_of(z, path, &k, &r, what)) != 0)
            return rc;
        if (k == K_DIR)
            rc = afs__error_set(AFS_ECONDITION, "azure: %s: a directory has this name", what);
        else {
            r.status = k == K_FILE ? 200 : 404;
            rc = azc_condition_check(&r, o->condition, o->if_match, what);
        }
        azh_response_free(&r);
        if (rc != 0)
            return rc;
    }
    tmp_name(tmp);
    if (size <= z->range_size) {
        /* One range: its MD5 is known before Create File. */
        if (!(small = afs__malloc(size ? (size_t)size : 1)))
            return AFS_ENOMEM;
        if ((rc = azc_src_fill(src, src_payload, 0, small, (size_t)size, what)) != 0 ||
            (rc = azc_md5_b64(small, (size_t)size, md5)) != 0)
            goto done;
    }
    if ((rc = create_tmp(z, tmp, size, o, mtime, o->btime_ns != AFS_TIME_OMIT ? btime : NULL,
                         small ? md5 : NULL, what)) != 0)
        goto done;
    tmp_made = true;
    {
        char *up = url_of(z, tmp);
        struct range_job j = { z, up, what };
        if (!up) {
            rc = AFS_ENOMEM;
            goto done;
        }
        if (small && size > 0)
            rc = put_range(&j, 0, 0, small, (size_t)size, md5);
        else if (!small)
            rc = azc_upload_chunks(src, src_payload, size, z->range_size, z->parallelism,
                                   put_range, &j, md5, what);
        free(up);
        if (rc != 0)
            goto done;
    }
    /* The whole file's MD5 (if it was not known up front) and ReadOnly
     * (which would have refused the ranges) go on last. */
    if (!small || (o->attributes & AFS_ATTR_READONLY)) {
        attr_format(o->attributes, attrs);
        rc = set_props_req(z, tmp, false, attrs, mtime, o->btime_ns != AFS_TIME_OMIT ? btime : NULL,
                           md5, NULL, &r, what);
        if (rc == 0 && r.status != 200)
            rc = map_status(&r, what);
        azh_response_free(&r);
        if (rc != 0)
            goto done;
    }
    if (o->condition == AFS_COND_IF_MATCH) {
        if ((rc = lease_checked(z, path, o->if_match, lease, what)) != 0)
            goto done;
        leased = true;
        a.dst_lease = lease;
    }
    if ((rc = rename_req(z, tmp, path, &a, &r, what)) != 0)
        goto done;
    if (r.status == 409 && code_is(&r, "ResourceAlreadyExists"))
        rc = afs__error_set(AFS_ECONDITION, "azure: %s: the object exists", what);
    else if (r.status == 409 && code_is(&r, "ResourceTypeMismatch"))
        rc = o->condition == AFS_COND_NONE
                 ? afs__error_set(AFS_EISDIR, "azure: %s: is a directory", what)
                 : afs__error_set(AFS_ECONDITION, "azure: %s: a directory has this name", what);
    else if (r.status != 200 && r.status != 201)
        rc = leased ? map_leased(&r, what) : map_status(&r, what);
    if (rc == 0) {
        tmp_made = false; /* it is the object now */
        leased = false;   /* the leased file was replaced */
        entry_fill(out, false, (int64_t)size, r.etag, mtime,
                   o->btime_ns != AFS_TIME_OMIT ? btime : r.file_creation_time, r.last_modified,
                   NULL);
        out->attributes = o->attributes;
        if (!r.etag[0]) {
            azh_response_free(&r);
            if ((rc = head(z, path, false, &r, what)) == 0 && r.status == 200)
                azc_etag_norm(r.etag, out->etag, sizeof(out->etag));
            else if (rc == 0)
                rc = map_status(&r, what);
        }
    }
    azh_response_free(&r);
done:
    if (leased)
        lease_release(z, path, lease, what);
    if (tmp_made) {
        /* Best effort: a leftover temp is removed by a later open. */
        int code = afs_error_last_code();
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", afs_error_last());
        if (delete_file(z, tmp, NULL, &r, what) == 0 && r.status >= 300 && r.status != 404)
            afs__log(AFS_LOG_WARN, "azure: %s: the temp %s stays (HTTP %ld)", what, tmp,
                     r.status);
        azh_response_free(&r);
        if (code)
            afs__error_set(code, "%s", msg);
    }
    free(small);
    return rc;
}

/* ---- remove ---- */

static int azfiles_remove(void *ctx, const char *path, const char *if_match)
{
    struct azfiles *z = ctx;
    struct waiter w = { 0, 0, false };
    struct azh_response r;
    char what[300], lease[40];
    bool leased = false, cleared = false;
    int rc;

    snprintf(what, sizeof(what), "remove \"%.256s\"", path);
    if (if_match) {
        rc = lease_checked(z, path, if_match, lease, what);
        if (rc == AFS_ECONDITION) {
            enum kind k;
            int krc = kind_of(z, path, &k, NULL, what);
            if (krc == 0 && k == K_DIR)
                return afs__error_set(AFS_EISDIR, "azure: %s: is a directory (use rmdir)", what);
            afs__error_set(AFS_ECONDITION, "azure: %s: the file is missing or changed", what);
        }
        if (rc != 0)
            return rc;
        leased = true;
    }
    for (;;) {
        if ((rc = delete_file(z, path, leased ? lease : NULL, &r, what)) != 0)
            break;
        if (r.status == 202 || r.status == 200) {
            leased = false; /* gone with the file */
            break;
        }
        if (r.status == 409 && code_is(&r, "ReadOnlyAttribute") && !cleared) {
            /* SMB semantics: a read-only file is not deleted; the library's
             * remove means it, so drop the attribute first. */
            struct azh_response h;
            char attrs[64];
            azh_response_free(&r);
            cleared = true;
            if ((rc = head(z, path, false, &h, what)) != 0)
                break;
            attr_format(attr_parse(h.file_attributes) & ~AFS_ATTR_READONLY, attrs);
            rc = set_props_req(z, path, false, attrs, NULL, NULL, h.content_md5,
                               leased ? lease : NULL, &r, what);
            azh_response_free(&h);
            if (rc == 0 && r.status != 200)
                rc = map_status(&r, what);
            azh_response_free(&r);
            if (rc != 0)
                break;
            continue;
        }
        if (!leased && lease_conflict(&r)) {
            azh_response_free(&r);
            if ((rc = lease_wait(z, &w, path, what)) != 0)
                break;
            continue;
        }
        if (leased && lease_conflict(&r)) {
            rc = map_leased(&r, what);
        } else if (r.status == 404 || r.status == 409) {
            rc = read_missing(z, path, what);
            if (rc == AFS_EISDIR)
                rc = afs__error_set(AFS_EISDIR, "azure: %s: is a directory (use rmdir)", what);
        } else {
            rc = map_status(&r, what);
        }
        break;
    }
    azh_response_free(&r);
    if (leased)
        lease_release(z, path, lease, what);
    return rc;
}

/* ---- properties and metadata ---- */

static int azfiles_set_props(void *ctx, const char *path, int64_t mtime_ns, uint32_t attributes,
                             const char *if_match, afs_storage_entry *out)
{
    struct azfiles *z = ctx;
    struct waiter w = { 0, 0, false };
    struct azh_response h, r;
    char what[300], lease[40], attrs[64], mtime[96];
    bool leased = false;
    enum kind k;
    int rc;

    memset(&h, 0, sizeof(h));
    memset(&r, 0, sizeof(r));
    snprintf(what, sizeof(what), "set_props \"%.256s\"", path);
    if (if_match) {
        if ((rc = lease_checked(z, path, if_match, lease, what)) != 0)
            return rc;
        leased = true;
    }
    /* The current properties: the content MD5 must be carried over. */
    if ((rc = kind_of(z, path, &k, &h, what)) != 0)
        goto done;
    if (k == K_NONE) {
        rc = afs__error_set(AFS_ENOTFOUND, "azure: %s: no such object", what);
        goto done;
    }
    attr_format(attributes, attrs);
    if (mtime_ns != AFS_TIME_OMIT)
        iso_time(mtime_ns, mtime);
    for (;;) {
        rc = set_props_req(z, path, k == K_DIR, attrs, mtime_ns != AFS_TIME_OMIT ? mtime : NULL,
                           NULL, k == K_FILE ? h.content_md5 : NULL, leased ? lease : NULL, &r,
                           what);
        if (rc == 0 && !leased && lease_conflict(&r)) {
            azh_response_free(&r);
            if ((rc = lease_wait(z, &w, path, what)) != 0)
                break;
            continue;
        }
        break;
    }
    if (rc == 0 && r.status != 200)
        rc = leased ? map_leased(&r, what) : map_status(&r, what);
    if (rc == 0) {
        entry_fill(out, k == K_DIR, h.content_length, r.etag,
                   r.file_last_write_time[0] ? r.file_last_write_time : h.file_last_write_time,
                   h.file_creation_time, h.last_modified, attrs);
        if (mtime_ns != AFS_TIME_OMIT)
            out->mtime_ns = mtime_ns / 100 * 100;
    }
done:
    azh_response_free(&h);
    azh_response_free(&r);
    if (leased)
        lease_release(z, path, lease, what);
    return rc;
}

static int azfiles_meta_get(void *ctx, const char *path, const char *key, char *buf, size_t cap,
                            size_t *len)
{
    struct azfiles *z = ctx;
    struct azh_response r;
    char what[300];
    enum kind k;
    int rc;

    snprintf(what, sizeof(what), "meta_get \"%.256s\"", path);
    if ((rc = kind_of(z, path, &k, &r, what)) != 0)
        return rc;
    rc = k == K_NONE ? afs__error_set(AFS_ENOTFOUND, "azure: %s: no such object", what)
                     : azc_meta_lookup(&r, key, buf, cap, len, what);
    azh_response_free(&r);
    return rc;
}

static int azfiles_ctl(void *ctx, int op, void *arg)
{
    (void)ctx;
    return azc_ctl(op, arg, "azfiles");
}

static void azfiles_release(void *ctx)
{
    struct azfiles *z = ctx;
    if (z)
        azc_root_close(&z->base);
    free(z);
}

/* ---- open ---- */

int afs__azfiles_set_lease_wait(afs_storage *s, unsigned int ms)
{
    const afs_storage_ops *ops;
    void *ctx;
    int rc = afs_storage_ops_get(s, &ops, &ctx);
    if (rc != 0)
        return rc;
    if (ops->release != azfiles_release)
        return afs__error_set(AFS_EINVAL, "not an Azure Files storage");
    ((struct azfiles *)ctx)->lease_wait_ms = ms;
    return 0;
}

static int azfiles_setup(const char *uri, const afs_azure_options *opts, struct azfiles **out)
{
    afs_azure_options o;
    struct azfiles *z = afs__calloc(1, sizeof(*z));
    int rc;

    *out = NULL;
    if (!z)
        return AFS_ENOMEM;
    if ((rc = azc_root_open(&z->base, uri, &svc, opts, &o)) != 0) {
        free(z);
        return rc;
    }
    z->parallelism = o.parallelism;
    z->range_size = o.block_size;
    z->lease_wait_ms = LEASE_WAIT_MS;
    if (z->range_size > RANGE_MAX) {
        azfiles_release(z);
        return afs__error_set(AFS_EINVAL, "azure files: block_size (the Put Range size) is at "
                              "most 4 MiB");
    }
    *out = z;
    return 0;
}

/* Temps of crashed puts: names carry their creation time; older than a day goes. */
struct tmp_sweep {
    char (*names)[80];
    size_t count;
};

static int tmp_item(const struct azx_item *it, void *payload)
{
    struct tmp_sweep *t = payload;
    unsigned long long secs;
    char *end;

    if (it->is_prefix || t->count >= 64 || it->name_len >= 64)
        return 0;
    secs = strtoull(it->name, &end, 16);
    if (end == it->name || *end != '-' || (uint64_t)time(NULL) < secs + TMP_MAX_AGE_S)
        return 0;
    snprintf(t->names[t->count++], 80, TMP_DIR "/%.*s", (int)it->name_len, it->name);
    return 0;
}

static void sweep_temps(struct azfiles *z)
{
    char names[64][80];
    char next[AFS_STORAGE_MARKER_MAX];
    struct tmp_sweep t = { names, 0 };

    if (list_page(z, TMP_DIR, NULL, tmp_item, &t, next, sizeof(next), "temp sweep") != 0) {
        afs_error_clear();
        return;
    }
    for (size_t i = 0; i < t.count; i++) {
        struct azh_response r;
        if (delete_file(z, names[i], NULL, &r, "temp sweep") == 0)
            azh_response_free(&r);
    }
    afs_error_clear();
}

int afs_storage_azfiles_new(afs_storage **out, const char *uri, const afs_azure_options *opts)
{
    afs_storage_ops ops;
    struct azfiles *z = NULL;
    struct azh_response r;
    int rc;

    if (!out || !uri)
        return afs__error_set(AFS_EINVAL, "afs_storage_azfiles_new: out and uri are required");
    *out = NULL;
    if (opts && (rc = afs__vstruct_check(&afs__vs_azure_options, opts->version,
                                         "afs_storage_azfiles_new")) != 0)
        return rc;
    if ((rc = azfiles_setup(uri, opts, &z)) != 0)
        return rc;
    /* The share (and the directory of a prefix) must exist. */
    if ((rc = head(z, "", true, &r, "open share")) != 0)
        goto done;
    if (r.status == 404)
        rc = afs__error_set(AFS_ENOTFOUND, "azure: share \"%s\"%s%.*s does not exist (%s)",
                            z->base.name, z->base.prefix[0] ? " directory " : "",
                            (int)(z->base.prefix[0] ? strlen(z->base.prefix) - 1 : 0),
                            z->base.prefix, azc_err_code(&r));
    else if (r.status != 200)
        rc = map_status(&r, "open share");
    azh_response_free(&r);
    if (rc != 0)
        goto done;
    sweep_temps(z);
    memset(&ops, 0, sizeof(ops));
    ops.version = AFS_STORAGE_OPS_VERSION;
    ops.release = azfiles_release;
    ops.ctl = azfiles_ctl;
    ops.list = azfiles_list;
    ops.stat = azfiles_stat;
    ops.read = azfiles_read;
    ops.put = azfiles_put;
    ops.remove = azfiles_remove;
    ops.mkdir = azfiles_mkdir;
    ops.rmdir = azfiles_rmdir;
    ops.rename = azfiles_rename;
    ops.set_props = azfiles_set_props;
    ops.meta_get = azfiles_meta_get;
    if ((rc = afs_storage_new(out, &ops, z)) != 0)
        goto done;
    z = NULL;
done:
    azfiles_release(z);
    return rc;
}

/* ---- shares and snapshots ---- */

/* One request on the share itself: `method` with restype=share (and
 * `comp`); success is `ok`; 404 is AFS_ENOTFOUND, 409 AFS_EEXISTS. */
static int share_req(const char *uri, const afs_azure_options *opts, const char *method,
                     const char *comp, long ok, const char *what)
{
    struct azfiles *z = NULL;
    struct azh_request q;
    struct azh_response r;
    int rc = azfiles_setup(uri, opts, &z);

    if (rc != 0)
        return rc;
    memset(&q, 0, sizeof(q));
    q.method = method;
    q.path = z->base.path;
    azh_query_add(&q, "restype", "share");
    if (comp)
        azh_query_add(&q, "comp", comp);
    if (strcmp(method, "DELETE") == 0)
        azh_header_add(&q, "x-ms-delete-snapshots", "include");
    if ((rc = do_req(z, &q, &r, what)) == 0 && r.status != ok)
        rc = r.status == 409 ? afs__error_set(AFS_EEXISTS, "azure: %s: the share exists (%s)",
                                              what, azc_err_code(&r))
                             : map_status(&r, what);
    azh_response_free(&r);
    azfiles_release(z);
    return rc;
}

int afs__azfiles_share_create(const char *uri, const afs_azure_options *opts)
{
    return share_req(uri, opts, "PUT", NULL, 201, "create share");
}

int afs__azfiles_share_delete(const char *uri, const afs_azure_options *opts)
{
    return share_req(uri, opts, "DELETE", NULL, 202, "delete share");
}

int afs__azfiles_share_snapshot(const char *uri, const afs_azure_options *opts)
{
    return share_req(uri, opts, "PUT", "snapshot", 201, "snapshot share");
}

int afs__azfiles_account_sas(const char *uri, const afs_azure_options *opts, const char *perms,
                             const char *expiry, char **out)
{
    struct azfiles *z = NULL;
    int rc = azfiles_setup(uri, opts, &z);
    *out = NULL;
    if (rc == 0)
        rc = aza_sas_account(&z->base.conn.cred, "f", "sco", perms, expiry, "https,http", out);
    azfiles_release(z);
    return rc;
}

struct snap_ctx {
    const char *share;
    afs_azfiles_snapshot_fn fn;
    void *payload;
};

static int snap_item(const struct azx_item *it, void *payload)
{
    struct snap_ctx *s = payload;
    if (it->name_len != strlen(s->share) || memcmp(it->name, s->share, it->name_len) != 0 ||
        !it->snapshot[0])
        return 0;
    return s->fn(it->snapshot, s->payload);
}

int afs_storage_azfiles_snapshots(const char *uri, const afs_azure_options *opts,
                                  afs_azfiles_snapshot_fn fn, void *payload)
{
    struct azfiles *z = NULL;
    struct snap_ctx s;
    char marker[AFS_STORAGE_MARKER_MAX] = "", next[AFS_STORAGE_MARKER_MAX];
    int rc;

    if (!uri || !fn)
        return afs__error_set(AFS_EINVAL, "afs_storage_azfiles_snapshots: uri and fn are "
                              "required");
    if (opts && (rc = afs__vstruct_check(&afs__vs_azure_options, opts->version,
                                         "afs_storage_azfiles_snapshots")) != 0)
        return rc;
    if ((rc = azfiles_setup(uri, opts, &z)) != 0)
        return rc;
    s.share = z->base.name;
    s.fn = fn;
    s.payload = payload;
    do {
        struct azh_request q;
        struct azh_response r;
        memset(&q, 0, sizeof(q));
        q.method = "GET";
        q.path = "/";
        azh_query_add(&q, "comp", "list");
        azh_query_add(&q, "prefix", z->base.name);
        azh_query_add(&q, "include", "snapshots");
        if (marker[0])
            azh_query_add(&q, "marker", marker);
        q.body_limit = LIST_BODY_MAX;
        rc = do_req(z, &q, &r, "list share snapshots");
        if (rc == 0 && r.status != 200)
            rc = map_status(&r, "list share snapshots");
        if (rc == 0)
            rc = azx_parse_list(r.body, r.body_len, snap_item, &s, next, sizeof(next),
                                "list share snapshots");
        azh_response_free(&r);
        if (rc == 0 && next[0] && strcmp(next, marker) == 0)
            rc = afs__error_set(AFS_EIO, "azure: list share snapshots: the listing repeated "
                                "its marker");
        memcpy(marker, next, sizeof(marker));
    } while (rc == 0 && marker[0]);
    azfiles_release(z);
    return rc;
}

/*
 * The Azure Blob storage backend (docs/azure.md): a hierarchical view of a
 * container, or of a prefix inside one, through the Blob REST API.
 *
 * - A path "a/b.txt" is the block blob "<prefix>a/b.txt".
 * - Directories are prefixes. An empty directory keeps a marker: the
 *   zero-byte blob "<prefix><dir>/" (metadata hdi_isfolder=true, the
 *   convention of other Azure tools). The listing rolls markers into their
 *   directory, so they are never seen as objects.
 * - Times, attributes and user metadata live in x-ms-meta-*: afsmtime and
 *   afsbtime (decimal ns), afsattr (decimal), afsu_<key> (user keys).
 * - Conditions map to If-Match / If-None-Match:* and come back as
 *   AFS_ECONDITION (412, and 409 BlobAlreadyExists).
 */
#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <mbedtls/base64.h>

#include "../../core/internal.h"
#include "../../core/md5.h"
#include "auth.h"
#include "azure_internal.h"
#include "common.h"
#include "http.h"
#include "xml.h"

#define DIR_ETAG "\"afs-directory\"" /* directories have no stored state of their own */
#define META_MTIME "afsmtime"
#define META_BTIME "afsbtime"
#define META_ATTR "afsattr"
#define META_FOLDER "hdi_isfolder"
#define LIST_PAGE "5000"
#define LIST_BODY_MAX (32u << 20)
#define DEFAULT_HOST_SUFFIX ".blob.core.windows.net"

struct azblob {
    struct azc_root base; /* the connection, the container and the prefix */
    unsigned int parallelism;
    uint64_t block_size;
    uint64_t single_put_max;
};

/* ---- requests ---- */

static const struct azc_service svc = { "azblob", DEFAULT_HOST_SUFFIX, "container" };

static int do_req(struct azblob *z, struct azh_request *q, struct azh_response *r,
                  const char *what)
{
    return azc_do_req(&z->base.conn, q, r, what);
}

bool afs__azblob_uri_match(const char *uri)
{
    return azc_uri_match(uri, &svc);
}

/* "/container/<encoded prefix+path>[/]" */
static char *blob_url_path(const struct azblob *z, const char *path, bool marker)
{
    return azc_url_path(z->base.path, z->base.prefix, path, marker);
}

/* Fill a file entry from its properties and metadata. */
static void entry_fill(afs_storage_entry *e, int64_t size, const char *etag, const char *lastmod,
                       const char *ctime, const char *mtime_meta, const char *btime_meta,
                       const char *attr_meta)
{
    int64_t v;
    e->type = AFS_TYPE_FILE;
    e->size = size > 0 ? (uint64_t)size : 0;
    azc_etag_norm(etag ? etag : "", e->etag, sizeof(e->etag));
    if (azc_parse_i64(mtime_meta, &v))
        e->mtime_ns = v;
    else if ((v = azh_parse_http_date(lastmod)) >= 0)
        e->mtime_ns = v * 1000000000;
    if (azc_parse_i64(btime_meta, &v))
        e->btime_ns = v;
    else if ((v = azh_parse_http_date(ctime)) >= 0)
        e->btime_ns = v * 1000000000;
    if (azc_parse_i64(attr_meta, &v))
        e->attributes = (uint32_t)v;
}

static void entry_from_head(const struct azh_response *r, afs_storage_entry *e)
{
    entry_fill(e, r->content_length, r->etag, r->last_modified, r->creation_time,
               azh_response_meta(r, META_MTIME), azh_response_meta(r, META_BTIME),
               azh_response_meta(r, META_ATTR));
}

static void entry_dir(afs_storage_entry *e)
{
    e->type = AFS_TYPE_DIR;
    e->size = 0;
    snprintf(e->etag, sizeof(e->etag), "%s", DIR_ETAG);
}

/* HEAD a blob. 0 with the answer in *r (status 200 or 404 etc. mapped by caller). */
static int head_blob(struct azblob *z, const char *path, bool marker, const char *if_match,
                     struct azh_response *r, const char *what)
{
    char *up = blob_url_path(z, path, marker);
    int rc;

    if (!up)
        return AFS_ENOMEM;
    rc = azc_simple_req(&z->base.conn, "HEAD", up, if_match, NULL, NULL, r, what);
    free(up);
    return rc;
}

/* ---- directory probes ---- */

struct probe {
    size_t count;
    bool marker_seen;
    const char *marker_name; /* prefix + dir + "/" */
};

static int probe_item(const struct azx_item *it, void *payload)
{
    struct probe *p = payload;
    p->count++;
    if (!it->is_prefix && strlen(p->marker_name) == it->name_len &&
        memcmp(it->name, p->marker_name, it->name_len) == 0)
        p->marker_seen = true;
    return 0;
}

/*
 * Does directory `path` exist (any blob under "<path>/"), and does it hold
 * anything besides its own marker? The marker sorts first under its prefix,
 * so two results are enough to tell.
 */
static int probe_dir(struct azblob *z, const char *path, bool *exists, bool *has_children,
                     bool *has_marker)
{
    struct azh_request q;
    struct azh_response r;
    struct probe p;
    char next[AFS_STORAGE_MARKER_MAX];
    char *pfx = afs__sprintf("%s%s/", z->base.prefix, path);
    int rc;

    if (!pfx)
        return AFS_ENOMEM;
    memset(&q, 0, sizeof(q));
    memset(&p, 0, sizeof(p));
    p.marker_name = pfx;
    q.method = "GET";
    q.path = z->base.path;
    azh_query_add(&q, "restype", "container");
    azh_query_add(&q, "comp", "list");
    azh_query_add(&q, "prefix", pfx);
    azh_query_add(&q, "maxresults", "2");
    q.body_limit = 1u << 20;
    rc = do_req(z, &q, &r, "directory probe");
    if (rc == 0 && r.status != 200)
        rc = azc_map_status(&r, "directory probe");
    if (rc == 0)
        rc = azx_parse_list(r.body, r.body_len, probe_item, &p, next, sizeof(next),
                            "directory probe");
    if (rc == 0) {
        *exists = p.count > 0;
        if (has_children)
            *has_children = p.count > (p.marker_seen ? 1u : 0u);
        if (has_marker)
            *has_marker = p.marker_seen;
    }
    azh_response_free(&r);
    free(pfx);
    return rc;
}

/* Put the marker of directory `path` (create-only); *created false if it was there. */
static int put_marker(struct azblob *z, const char *path, bool *created)
{
    struct azh_request q;
    struct azh_response r;
    char *up = blob_url_path(z, path, true);
    int rc;

    if (!up)
        return AFS_ENOMEM;
    memset(&q, 0, sizeof(q));
    q.method = "PUT";
    q.path = up;
    azh_header_add(&q, "x-ms-blob-type", "BlockBlob");
    azh_header_add(&q, "If-None-Match", "*");
    azh_header_add(&q, "x-ms-meta-" META_FOLDER, "true");
    rc = do_req(z, &q, &r, "directory marker");
    if (rc == 0) {
        if (r.status == 201)
            *created = true;
        else if (r.status == 409 || r.status == 412)
            *created = false;
        else
            rc = azc_map_status(&r, "directory marker");
    }
    azh_response_free(&r);
    free(up);
    return rc;
}

/*
 * After the last object of a directory went away, keep the directory: the
 * vtable's directories persist until rmdir, a prefix does not.
 */
static int keep_parent(struct azblob *z, const char *path)
{
    char *parent = azc_parent_of(path);
    bool exists = false, created = false;
    int rc;

    if (!parent)
        return AFS_ENOMEM;
    if (!parent[0]) {
        free(parent);
        return 0;
    }
    rc = probe_dir(z, parent, &exists, NULL, NULL);
    if (rc == 0 && !exists)
        rc = put_marker(z, parent, &created);
    free(parent);
    return rc;
}

/* ---- list ---- */

struct list_ctx {
    const char *pfx;
    size_t pfx_len;
    afs_storage_list_fn emit;
    void *payload;
    size_t emitted;
    bool self_seen;
    char *name_buf;
};

static int list_item(const struct azx_item *it, void *payload)
{
    struct list_ctx *l = payload;
    afs_storage_entry e;
    const char *mt = NULL, *bt = NULL, *at = NULL;
    size_t n;

    if (it->name_len < l->pfx_len || memcmp(it->name, l->pfx, l->pfx_len) != 0)
        return afs__error_set(AFS_EIO, "azure: listing: the service returned an item outside "
                              "the requested prefix");
    n = it->name_len - l->pfx_len;
    memset(&e, 0, sizeof(e));
    if (it->is_prefix) {
        if (n == 0 || it->name[it->name_len - 1] != '/')
            return afs__error_set(AFS_EIO, "azure: listing: malformed BlobPrefix");
        n--; /* "sub/" -> "sub"; "/" alone gives "" which the core reports */
        entry_dir(&e);
    } else {
        if (n == 0) {
            l->self_seen = true; /* the directory's own marker */
            return 0;
        }
        for (size_t i = 0; i < it->nmeta; i++) {
            if (strcmp(it->meta_names[i], META_MTIME) == 0)
                mt = it->meta_values[i];
            else if (strcmp(it->meta_names[i], META_BTIME) == 0)
                bt = it->meta_values[i];
            else if (strcmp(it->meta_names[i], META_ATTR) == 0)
                at = it->meta_values[i];
        }
        entry_fill(&e, it->size, it->etag, it->last_modified, it->creation_time, mt, bt, at);
    }
    e.name = it->name + l->pfx_len;
    e.name_len = n;
    l->emitted++;
    return l->emit(&e, l->payload);
}

static int azblob_list(void *ctx, const char *dir, const char *marker, afs_storage_list_fn emit,
                       void *payload, char *next_marker, size_t next_marker_size)
{
    struct azblob *z = ctx;
    struct azh_request q;
    struct azh_response r;
    struct list_ctx l;
    char what[300];
    char *pfx = afs__sprintf("%s%s%s", z->base.prefix, dir, dir[0] ? "/" : "");
    int rc;

    if (!pfx)
        return AFS_ENOMEM;
    snprintf(what, sizeof(what), "list \"%.256s\"", dir);
    memset(&q, 0, sizeof(q));
    memset(&l, 0, sizeof(l));
    q.method = "GET";
    q.path = z->base.path;
    azh_query_add(&q, "restype", "container");
    azh_query_add(&q, "comp", "list");
    azh_query_add(&q, "prefix", pfx);
    azh_query_add(&q, "delimiter", "/");
    azh_query_add(&q, "include", "metadata");
    azh_query_add(&q, "maxresults", LIST_PAGE);
    if (marker && marker[0])
        azh_query_add(&q, "marker", marker);
    q.body_limit = LIST_BODY_MAX;
    rc = do_req(z, &q, &r, what);
    if (rc == 0 && r.status != 200)
        rc = azc_map_status(&r, what);
    if (rc == 0) {
        l.pfx = pfx;
        l.pfx_len = strlen(pfx);
        l.emit = emit;
        l.payload = payload;
        rc = azx_parse_list(r.body, r.body_len, list_item, &l, next_marker, next_marker_size,
                            what);
    }
    if (rc == 0 && dir[0] && (!marker || !marker[0]) && l.emitted == 0 && !l.self_seen &&
        !next_marker[0])
        rc = afs__error_set(AFS_ENOTFOUND, "azure: %s: no such directory", what);
    if (rc != 0)
        next_marker[0] = '\0';
    azh_response_free(&r);
    free(pfx);
    return rc;
}

/* ---- stat ---- */

static int azblob_stat(void *ctx, const char *path, afs_storage_entry *out)
{
    struct azblob *z = ctx;
    struct azh_response r;
    bool exists = false;
    char what[300];
    int rc;

    if (!path[0]) {
        entry_dir(out);
        return 0;
    }
    snprintf(what, sizeof(what), "stat \"%.256s\"", path);
    if ((rc = head_blob(z, path, false, NULL, &r, what)) != 0)
        return rc;
    if (r.status == 200) {
        entry_from_head(&r, out);
    } else if (r.status == 404) {
        rc = probe_dir(z, path, &exists, NULL, NULL);
        if (rc == 0 && exists)
            entry_dir(out);
        else if (rc == 0)
            rc = afs__error_set(AFS_ENOTFOUND, "azure: %s: no such object", what);
    } else {
        rc = azc_map_status(&r, what);
    }
    azh_response_free(&r);
    return rc;
}

/* ---- read ---- */

static int azblob_read(void *ctx, const char *path, uint64_t offset, void *buf, size_t len,
                       size_t *nread, const char *if_match)
{
    struct azblob *z = ctx;
    struct azh_request q;
    struct azh_response r;
    char range[64], quoted[AFS_ETAG_MAX + 2], what[300];
    char *up = NULL;
    bool exists = false;
    int rc;

    *nread = 0;
    snprintf(what, sizeof(what), "read \"%.256s\"", path);
    if (len == 0 || offset > INT64_MAX - (uint64_t)len) {
        /* Nothing to fetch: still tell a missing or changed object. */
        if ((rc = head_blob(z, path, false, if_match, &r, what)) != 0)
            return rc;
        rc = r.status == 200 ? 0 : azc_map_status(&r, what);
        azh_response_free(&r);
        return rc;
    }
    if (!(up = blob_url_path(z, path, false)))
        return AFS_ENOMEM;
    azc_range_get(&q, up, offset, buf, len, range);
    if (if_match) {
        azc_etag_quote(if_match, quoted, sizeof(quoted));
        azh_header_add(&q, "If-Match", quoted);
    }
    rc = do_req(z, &q, &r, what);
    if (rc != 0)
        goto done;
    if (r.status == 206 || r.status == 200) {
        rc = azc_range_result(&r, offset, len, buf, nread, what);
    } else if (r.status == 416) {
        /* At or past the end: 0 bytes, if the object is there and matches. */
        azh_response_free(&r);
        if ((rc = head_blob(z, path, false, if_match, &r, what)) == 0 && r.status != 200)
            rc = azc_map_status(&r, what);
    } else if (r.status == 404) {
        rc = probe_dir(z, path, &exists, NULL, NULL);
        if (rc == 0)
            rc = exists ? afs__error_set(AFS_EISDIR, "azure: %s: is a directory", what)
                        : afs__error_set(AFS_ENOTFOUND, "azure: %s: no such object", what);
    } else {
        rc = azc_map_status(&r, what);
    }
done:
    if (rc != 0)
        *nread = 0;
    azh_response_free(&r);
    free(up);
    return rc;
}

/* ---- put ---- */

/* Metadata headers of a put; values formatted into `store`. */
struct meta_hdrs {
    char mtime[24], btime[24], attr[16];
    char *user_names[64];
};

static void meta_free(struct meta_hdrs *m)
{
    for (size_t i = 0; i < AFS__ARRAY_LEN(m->user_names); i++)
        free(m->user_names[i]);
}

static int meta_add(struct azh_request *q, struct meta_hdrs *m, const afs_storage_put_options *o)
{
    int64_t mt = o->mtime_ns == AFS_TIME_OMIT ? afs__now_ns() : o->mtime_ns;
    int rc;

    snprintf(m->mtime, sizeof(m->mtime), "%" PRId64, mt);
    if ((rc = azh_header_add(q, "x-ms-meta-" META_MTIME, m->mtime)) != 0)
        return rc;
    if (o->btime_ns != AFS_TIME_OMIT) {
        snprintf(m->btime, sizeof(m->btime), "%" PRId64, o->btime_ns);
        if ((rc = azh_header_add(q, "x-ms-meta-" META_BTIME, m->btime)) != 0)
            return rc;
    }
    if (o->attributes) {
        snprintf(m->attr, sizeof(m->attr), "%" PRIu32, o->attributes);
        if ((rc = azh_header_add(q, "x-ms-meta-" META_ATTR, m->attr)) != 0)
            return rc;
    }
    return azc_user_meta_add(q, m->user_names, AFS__ARRAY_LEN(m->user_names), o);
}

static int add_condition(struct azh_request *q, const afs_storage_put_options *o, char *quoted,
                         size_t cap)
{
    if (o->condition == AFS_COND_CREATE_ONLY)
        return azh_header_add(q, "If-None-Match", "*");
    if (o->condition == AFS_COND_IF_MATCH) {
        azc_etag_quote(o->if_match, quoted, cap);
        return azh_header_add(q, "If-Match", quoted);
    }
    return 0;
}

/* The entry of a finished put: the answer's etag and time, the afsmtime
 * value the put sent (`mtime_sent`), the btime and attributes asked for. */
static void put_result(const struct azh_response *r, uint64_t size,
                       const afs_storage_put_options *o, const char *mtime_sent,
                       afs_storage_entry *out)
{
    int64_t mtime = 0;
    char mt[24];
    azc_parse_i64(mtime_sent, &mtime);
    snprintf(mt, sizeof(mt), "%" PRId64, mtime);
    entry_fill(out, (int64_t)size, r->etag, r->last_modified, NULL, mt, NULL, NULL);
    out->btime_ns = o->btime_ns != AFS_TIME_OMIT ? o->btime_ns : 0;
    out->attributes = o->attributes;
}

static int put_single(struct azblob *z, const char *path, afs_read_fn src, void *src_payload,
                      uint64_t size, const afs_storage_put_options *o, afs_storage_entry *out,
                      const char *what)
{
    struct azh_request q;
    struct azh_response r;
    struct meta_hdrs m;
    char quoted[AFS_ETAG_MAX + 2], md5[32];
    unsigned char *buf = NULL;
    char *up = NULL;
    int rc;

    memset(&q, 0, sizeof(q));
    memset(&r, 0, sizeof(r));
    memset(&m, 0, sizeof(m));
    buf = afs__malloc(size ? (size_t)size : 1);
    up = blob_url_path(z, path, false);
    if (!buf || !up) {
        rc = AFS_ENOMEM;
        goto done;
    }
    if ((rc = azc_src_fill(src, src_payload, 0, buf, (size_t)size, what)) != 0)
        goto done;
    if ((rc = azc_md5_b64(buf, (size_t)size, md5)) != 0)
        goto done;
    q.method = "PUT";
    q.path = up;
    q.body = buf;
    q.body_len = (size_t)size;
    azh_header_add(&q, "x-ms-blob-type", "BlockBlob");
    azh_header_add(&q, "Content-MD5", md5);
    if ((rc = add_condition(&q, o, quoted, sizeof(quoted))) != 0 ||
        (rc = meta_add(&q, &m, o)) != 0)
        goto done;
    if ((rc = do_req(z, &q, &r, what)) != 0)
        goto done;
    if (r.status != 201) {
        rc = azc_map_status(&r, what);
        goto done;
    }
    put_result(&r, size, o, m.mtime, out);
done:
    azh_response_free(&r);
    meta_free(&m);
    free(buf);
    free(up);
    return rc;
}

/* The blocks of one upload: a random id per upload, so concurrent uploads
 * to one name never share blocks. */
struct upload {
    struct azblob *z;
    const char *up;
    const char *what;
    char id[17];
};

static void block_id(const struct upload *u, uint32_t i, char out[64])
{
    char raw[48];
    size_t olen = 0;
    /* Same length for every block of a blob, as the service requires. */
    snprintf(raw, sizeof(raw), "afs-%s-%08" PRIu32, u->id, i);
    mbedtls_base64_encode((unsigned char *)out, 64, &olen, (const unsigned char *)raw,
                          strlen(raw));
}

/* azc_chunk_fn: Put Block. */
static int put_block(void *payload, uint32_t i, uint64_t off, const unsigned char *buf, size_t n,
                     const char *md5)
{
    struct upload *u = payload;
    struct azh_request q;
    struct azh_response r;
    char id[64];
    int rc;

    (void)off;
    block_id(u, i, id);
    memset(&q, 0, sizeof(q));
    q.method = "PUT";
    q.path = u->up;
    q.body = buf;
    q.body_len = n;
    azh_query_add(&q, "comp", "block");
    azh_query_add(&q, "blockid", id);
    azh_header_add(&q, "Content-MD5", md5);
    rc = do_req(u->z, &q, &r, u->what);
    if (rc == 0 && r.status != 201)
        rc = azc_map_status(&r, u->what);
    azh_response_free(&r);
    return rc;
}

static int put_blocks(struct azblob *z, const char *path, afs_read_fn src, void *src_payload,
                      uint64_t size, const afs_storage_put_options *o, afs_storage_entry *out,
                      const char *what)
{
    struct upload u;
    struct azh_request q;
    struct azh_response r;
    struct meta_hdrs m;
    char quoted[AFS_ETAG_MAX + 2], whole_md5[32];
    uint32_t nblocks = (uint32_t)((size + z->block_size - 1) / z->block_size);
    uint64_t rnd = 0;
    char *body = NULL;
    int rc = 0;

    memset(&u, 0, sizeof(u));
    memset(&q, 0, sizeof(q));
    memset(&r, 0, sizeof(r));
    memset(&m, 0, sizeof(m));
    u.z = z;
    u.what = what;
    if ((size + z->block_size - 1) / z->block_size > 50000)
        return afs__error_set(AFS_ELIMIT, "azure: %s: over 50,000 blocks; raise block_size",
                              what);
    /* A fresh id per upload: concurrent uploads to one name never share blocks. */
    if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        rnd = (uint64_t)afs__now_ns() ^ (uint64_t)(uintptr_t)&u;
    snprintf(u.id, sizeof(u.id), "%016" PRIx64, rnd);
    if (!(u.up = blob_url_path(z, path, false)))
        return AFS_ENOMEM;
    /* A doomed conditional upload is refused before any byte moves. */
    if (o->condition != AFS_COND_NONE) {
        if ((rc = head_blob(z, path, false, NULL, &r, what)) != 0)
            goto done;
        rc = azc_condition_check(&r, o->condition, o->if_match, what);
        azh_response_free(&r);
        if (rc != 0)
            goto done;
    }
    /* Uncommitted blocks are invisible and expire: a failure leaves nothing. */
    if ((rc = azc_upload_chunks(src, src_payload, size, z->block_size, z->parallelism, put_block,
                                &u, whole_md5, what)) != 0)
        goto done;
    {
        size_t cap = 128 + (size_t)nblocks * 64, len;
        body = afs__malloc(cap);
        if (!body) {
            rc = AFS_ENOMEM;
            goto done;
        }
        len = (size_t)snprintf(body, cap, "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
        for (uint32_t i = 0; i < nblocks; i++) {
            char id[64];
            block_id(&u, i, id);
            len += (size_t)snprintf(body + len, cap - len, "<Latest>%s</Latest>", id);
        }
        len += (size_t)snprintf(body + len, cap - len, "</BlockList>");
        q.method = "PUT";
        q.path = u.up;
        q.body = body;
        q.body_len = len;
    }
    azh_query_add(&q, "comp", "blocklist");
    azh_header_add(&q, "x-ms-blob-content-md5", whole_md5);
    if ((rc = add_condition(&q, o, quoted, sizeof(quoted))) != 0 ||
        (rc = meta_add(&q, &m, o)) != 0)
        goto done;
    if ((rc = do_req(z, &q, &r, what)) != 0)
        goto done;
    if (r.status == 400 && strcmp(azc_err_code(&r), "InvalidBlockList") == 0) {
        /* Our uncommitted blocks are gone: another writer committed this
         * blob (which discards them), or the service lost them. */
        rc = o->condition != AFS_COND_NONE
                 ? afs__error_set(AFS_ECONDITION, "azure: %s: another writer committed the "
                                  "object during the upload", what)
                 : afs__error_set(AFS_ETRANSIENT, "azure: %s: the uploaded blocks were "
                                  "discarded before the commit", what);
        goto done;
    }
    if (r.status != 201) {
        rc = azc_map_status(&r, what);
        goto done;
    }
    put_result(&r, size, o, m.mtime, out);
done:
    azh_response_free(&r);
    meta_free(&m);
    free(body);
    free((char *)u.up);
    return rc;
}

static int azblob_put(void *ctx, const char *path, afs_read_fn src, void *src_payload,
                      uint64_t size, const afs_storage_put_options *opts, afs_storage_entry *out)
{
    struct azblob *z = ctx;
    char what[300];
    int rc;

    snprintf(what, sizeof(what), "put \"%.256s\"", path);
    /* A directory holding the name: create-only fails, a plain put may
     * not hide it. (If-match needs a blob, which a directory is not.) */
    if (opts->condition != AFS_COND_IF_MATCH) {
        bool is_dir = false;
        if ((rc = probe_dir(z, path, &is_dir, NULL, NULL)) != 0)
            return rc;
        if (is_dir)
            return opts->condition == AFS_COND_CREATE_ONLY
                       ? afs__error_set(AFS_ECONDITION, "azure: %s: a directory has this name",
                                        what)
                       : afs__error_set(AFS_EISDIR, "azure: %s: is a directory", what);
    }
    if (size <= z->single_put_max)
        return put_single(z, path, src, src_payload, size, opts, out, what);
    rc = put_blocks(z, path, src, src_payload, size, opts, out, what);
    if (rc == AFS_ETRANSIENT && opts->condition == AFS_COND_NONE &&
        strstr(afs_error_last(), "discarded before the commit")) {
        afs__log(AFS_LOG_INFO, "azure: %s: blocks discarded; uploading again", what);
        rc = put_blocks(z, path, src, src_payload, size, opts, out, what);
    }
    return rc;
}

/* ---- remove, mkdir, rmdir ---- */

static int delete_blob(struct azblob *z, const char *path, bool marker, const char *if_match,
                       struct azh_response *r, const char *what)
{
    char *up = blob_url_path(z, path, marker);
    int rc;

    if (!up)
        return AFS_ENOMEM;
    rc = azc_simple_req(&z->base.conn, "DELETE", up, if_match,
                        marker ? NULL : "x-ms-delete-snapshots", "include", r, what);
    free(up);
    return rc;
}

static int azblob_remove(void *ctx, const char *path, const char *if_match)
{
    struct azblob *z = ctx;
    struct azh_response r;
    bool is_dir = false;
    char what[300];
    int rc;

    snprintf(what, sizeof(what), "remove \"%.256s\"", path);
    if ((rc = delete_blob(z, path, false, if_match, &r, what)) != 0)
        return rc;
    if (r.status == 202 || r.status == 200) {
        rc = keep_parent(z, path);
    } else if (r.status == 404) {
        rc = probe_dir(z, path, &is_dir, NULL, NULL);
        if (rc == 0)
            rc = is_dir ? afs__error_set(AFS_EISDIR, "azure: %s: is a directory (use rmdir)",
                                         what)
                        : afs__error_set(AFS_ENOTFOUND, "azure: %s: no such object", what);
    } else {
        rc = azc_map_status(&r, what);
    }
    azh_response_free(&r);
    return rc;
}

/* Is there a blob (file) at `path`? */
static int file_exists(struct azblob *z, const char *path, bool *exists, const char *what)
{
    struct azh_response r;
    int rc = head_blob(z, path, false, NULL, &r, what);
    if (rc == 0) {
        if (r.status == 200 || r.status == 404)
            *exists = r.status == 200;
        else
            rc = azc_map_status(&r, what);
    }
    azh_response_free(&r);
    return rc;
}

static int azblob_mkdir(void *ctx, const char *path)
{
    struct azblob *z = ctx;
    char what[300];
    char *parent = azc_parent_of(path);
    bool exists = false, created = false;
    int rc;

    if (!parent)
        return AFS_ENOMEM;
    snprintf(what, sizeof(what), "mkdir \"%.256s\"", path);
    if (parent[0]) {
        if ((rc = probe_dir(z, parent, &exists, NULL, NULL)) != 0)
            goto done;
        if (!exists) {
            bool file = false;
            if ((rc = file_exists(z, parent, &file, what)) != 0)
                goto done;
            rc = file ? afs__error_set(AFS_ENOTDIR, "azure: %s: the parent is a file", what)
                      : afs__error_set(AFS_ENOTFOUND, "azure: %s: the parent does not exist",
                                       what);
            goto done;
        }
    }
    if ((rc = file_exists(z, path, &exists, what)) != 0)
        goto done;
    if (!exists && (rc = probe_dir(z, path, &exists, NULL, NULL)) != 0)
        goto done;
    if (exists) {
        rc = afs__error_set(AFS_EEXISTS, "azure: %s: already exists", what);
        goto done;
    }
    if ((rc = put_marker(z, path, &created)) == 0 && !created)
        rc = afs__error_set(AFS_EEXISTS, "azure: %s: already exists", what);
done:
    free(parent);
    return rc;
}

static int azblob_rmdir(void *ctx, const char *path)
{
    struct azblob *z = ctx;
    struct azh_response r;
    bool exists = false, children = false, marker = false;
    char what[300];
    int rc;

    snprintf(what, sizeof(what), "rmdir \"%.256s\"", path);
    if ((rc = probe_dir(z, path, &exists, &children, &marker)) != 0)
        return rc;
    if (!exists) {
        bool file = false;
        if ((rc = file_exists(z, path, &file, what)) != 0)
            return rc;
        return file ? afs__error_set(AFS_ENOTDIR, "azure: %s: not a directory", what)
                    : afs__error_set(AFS_ENOTFOUND, "azure: %s: no such directory", what);
    }
    if (children)
        return afs__error_set(AFS_ENOTEMPTY, "azure: %s: directory not empty", what);
    if ((rc = delete_blob(z, path, true, NULL, &r, what)) != 0)
        return rc;
    if (r.status != 202 && r.status != 200 && r.status != 404)
        rc = azc_map_status(&r, what);
    azh_response_free(&r);
    return rc == 0 ? keep_parent(z, path) : rc;
}

/* ---- rename ---- */

/* Server-side copy of one blob (raw names, prefix included) with conditions. */
static int copy_blob(struct azblob *z, const char *from_name, const char *to_name,
                     const char *src_etag, bool noreplace, char *new_etag, const char *what)
{
    struct azh_request q;
    struct azh_response r;
    char quoted[AFS_ETAG_MAX + 2];
    char *fenc = azh_url_encode(from_name, strlen(from_name), true);
    char *tenc = azh_url_encode(to_name, strlen(to_name), true);
    char *src_url = NULL, *to_path = NULL;
    int rc = 0;

    memset(&r, 0, sizeof(r));
    if (!fenc || !tenc) {
        rc = AFS_ENOMEM;
        goto done;
    }
    /* With a SAS the source must carry it too; it never appears in messages. */
    to_path = afs__sprintf("%s/%s", z->base.path, fenc);
    src_url = to_path ? azc_full_url(&z->base.conn, to_path) : NULL;
    free(to_path);
    to_path = afs__sprintf("%s/%s", z->base.path, tenc);
    if (!src_url || !to_path) {
        rc = AFS_ENOMEM;
        goto done;
    }
    memset(&q, 0, sizeof(q));
    q.method = "PUT";
    q.path = to_path;
    azh_header_add(&q, "x-ms-copy-source", src_url);
    if (src_etag) {
        azc_etag_quote(src_etag, quoted, sizeof(quoted));
        azh_header_add(&q, "x-ms-source-if-match", quoted);
    }
    if (noreplace)
        azh_header_add(&q, "If-None-Match", "*");
    if ((rc = do_req(z, &q, &r, what)) != 0)
        goto done;
    if (r.status != 202 && r.status != 201) {
        rc = azc_map_status(&r, what);
        goto done;
    }
    /* Within one account the copy is done at once; wait if it is not. */
    for (int i = 0; strcasecmp(r.copy_status, "pending") == 0 && i < 600; i++) {
        struct azh_request h;
        azh_response_free(&r);
        azh_sleep_ms(100);
        memset(&h, 0, sizeof(h));
        h.method = "HEAD";
        h.path = to_path;
        if ((rc = do_req(z, &h, &r, what)) != 0)
            goto done;
        if (r.status != 200) {
            rc = azc_map_status(&r, what);
            goto done;
        }
    }
    if (r.copy_status[0] && strcasecmp(r.copy_status, "success") != 0) {
        rc = afs__error_set(AFS_EIO, "azure: %s: server-side copy ended \"%s\"", what,
                            r.copy_status);
        goto done;
    }
    if (new_etag)
        azc_etag_norm(r.etag, new_etag, AFS_ETAG_MAX);
done:
    azh_response_free(&r);
    free(fenc);
    free(tenc);
    if (src_url) {
        memset(src_url, 0, strlen(src_url));
        free(src_url);
    }
    free(to_path);
    return rc;
}

/* Delete a blob by raw name (prefix included). 404 counts as done. */
static int delete_raw(struct azblob *z, const char *name, const char *if_match,
                      const char *what)
{
    struct azh_response r;
    char *p = azc_url_path(z->base.path, "", name, false);
    int rc;

    if (!p)
        return AFS_ENOMEM;
    rc = azc_simple_req(&z->base.conn, "DELETE", p, if_match, NULL, NULL, &r, what);
    if (rc == 0 && r.status != 202 && r.status != 200 && r.status != 404)
        rc = azc_map_status(&r, what);
    azh_response_free(&r);
    free(p);
    return rc;
}

static int rename_file(struct azblob *z, const char *from, const char *to, const char *if_match,
                       unsigned int flags, const char *src_etag, const char *what)
{
    bool noreplace = (flags & AFS_STORAGE_RENAME_NOREPLACE) != 0, to_dir = false;
    char *fname = afs__sprintf("%s%s", z->base.prefix, from);
    char *tname = afs__sprintf("%s%s", z->base.prefix, to);
    char copy_etag[AFS_ETAG_MAX] = "";
    int rc;

    if (!fname || !tname) {
        rc = AFS_ENOMEM;
        goto done;
    }
    if (if_match) {
        char a[AFS_ETAG_MAX], b[AFS_ETAG_MAX];
        azc_etag_norm(if_match, a, sizeof(a));
        azc_etag_norm(src_etag, b, sizeof(b));
        if (strcmp(a, b) != 0) {
            rc = afs__error_set(AFS_ECONDITION, "azure: %s: etag mismatch", what);
            goto done;
        }
    }
    if ((rc = probe_dir(z, to, &to_dir, NULL, NULL)) != 0)
        goto done;
    if (to_dir) {
        rc = noreplace ? afs__error_set(AFS_ECONDITION, "azure: %s: the target exists", what)
                       : afs__error_set(AFS_EISDIR, "azure: %s: the target is a directory",
                                        what);
        goto done;
    }
    if ((rc = copy_blob(z, fname, tname, src_etag, noreplace, copy_etag, what)) != 0)
        goto done;
    rc = delete_raw(z, fname, src_etag, what);
    if (rc == AFS_ECONDITION) {
        /* The source changed after the copy: undo, nothing happened. */
        delete_raw(z, tname, copy_etag[0] ? copy_etag : NULL, what);
        rc = afs__error_set(AFS_ECONDITION, "azure: %s: the source changed during the rename",
                            what);
        goto done;
    }
    if (rc == 0)
        rc = keep_parent(z, from);
done:
    free(fname);
    free(tname);
    return rc;
}

struct name_list {
    char **names;
    size_t count, cap;
};

static int collect_item(const struct azx_item *it, void *payload)
{
    struct name_list *l = payload;
    if (it->is_prefix)
        return 0;
    if (l->count == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 64;
        char **n = afs__realloc(l->names, ncap * sizeof(*n));
        if (!n)
            return AFS_ENOMEM;
        l->names = n;
        l->cap = ncap;
    }
    if (!(l->names[l->count] = afs__strndup(it->name, it->name_len)))
        return AFS_ENOMEM;
    l->count++;
    return 0;
}

/* Every blob name under raw prefix `pfx` (markers included), all pages. */
static int list_flat(struct azblob *z, const char *pfx, struct name_list *l, const char *what)
{
    char *marker = afs__calloc(1, AFS_STORAGE_MARKER_MAX);
    char *next = afs__calloc(1, AFS_STORAGE_MARKER_MAX);
    int rc = 0;

    if (!marker || !next) {
        rc = AFS_ENOMEM;
        goto done;
    }
    do {
        struct azh_request q;
        struct azh_response r;
        memset(&q, 0, sizeof(q));
        q.method = "GET";
        q.path = z->base.path;
        azh_query_add(&q, "restype", "container");
        azh_query_add(&q, "comp", "list");
        azh_query_add(&q, "prefix", pfx);
        azh_query_add(&q, "maxresults", LIST_PAGE);
        if (marker[0])
            azh_query_add(&q, "marker", marker);
        q.body_limit = LIST_BODY_MAX;
        rc = do_req(z, &q, &r, what);
        if (rc == 0 && r.status != 200)
            rc = azc_map_status(&r, what);
        if (rc == 0)
            rc = azx_parse_list(r.body, r.body_len, collect_item, l, next,
                                AFS_STORAGE_MARKER_MAX, what);
        azh_response_free(&r);
        if (rc == 0 && next[0] && strcmp(next, marker) == 0)
            rc = afs__error_set(AFS_EIO, "azure: %s: the listing repeated its marker", what);
        memcpy(marker, next, AFS_STORAGE_MARKER_MAX);
    } while (rc == 0 && marker[0]);
done:
    free(marker);
    free(next);
    return rc;
}

static void names_free(struct name_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->names[i]);
    free(l->names);
}

static int rename_dir(struct azblob *z, const char *from, const char *to, const char *if_match,
                      unsigned int flags, const char *what)
{
    struct name_list l = { 0 };
    char *fpfx = afs__sprintf("%s%s/", z->base.prefix, from);
    char *tpfx = afs__sprintf("%s%s/", z->base.prefix, to);
    bool file = false, dir = false, children = false, marker = false;
    size_t fl;
    int rc;

    if (!fpfx || !tpfx) {
        rc = AFS_ENOMEM;
        goto done;
    }
    if (if_match && strcmp(if_match, DIR_ETAG) != 0) {
        rc = afs__error_set(AFS_ECONDITION, "azure: %s: etag mismatch", what);
        goto done;
    }
    fl = strlen(from);
    if (strncmp(to, from, fl) == 0 && to[fl] == '/') {
        rc = afs__error_set(AFS_EINVAL, "azure: %s: cannot move a directory into itself", what);
        goto done;
    }
    if ((rc = file_exists(z, to, &file, what)) != 0 ||
        (rc = probe_dir(z, to, &dir, &children, &marker)) != 0)
        goto done;
    if ((file || dir) && (flags & AFS_STORAGE_RENAME_NOREPLACE)) {
        rc = afs__error_set(AFS_ECONDITION, "azure: %s: the target exists", what);
        goto done;
    }
    if (file) {
        rc = afs__error_set(AFS_ENOTDIR, "azure: %s: the target is a file", what);
        goto done;
    }
    if (children) {
        rc = afs__error_set(AFS_ENOTEMPTY, "azure: %s: the target directory is not empty", what);
        goto done;
    }
    if ((rc = list_flat(z, fpfx, &l, what)) != 0)
        goto done;
    /* Not atomic (docs/azure.md#rename): copy everything, then delete. A
     * crash in between leaves both trees, never neither. */
    for (size_t i = 0; i < l.count && rc == 0; i++) {
        char *tname = afs__sprintf("%s%s", tpfx, l.names[i] + strlen(fpfx));
        if (!tname) {
            rc = AFS_ENOMEM;
            break;
        }
        rc = copy_blob(z, l.names[i], tname, NULL, false, NULL, what);
        free(tname);
    }
    for (size_t i = 0; i < l.count && rc == 0; i++)
        rc = delete_raw(z, l.names[i], NULL, what);
    if (rc == 0)
        rc = keep_parent(z, from);
done:
    names_free(&l);
    free(fpfx);
    free(tpfx);
    return rc;
}

static int azblob_rename(void *ctx, const char *from, const char *to, const char *if_match,
                         unsigned int flags)
{
    struct azblob *z = ctx;
    struct azh_response r;
    char what[600], etag[AFS_ETAG_MAX];
    bool is_dir = false;
    int rc;

    snprintf(what, sizeof(what), "rename \"%.256s\" -> \"%.256s\"", from, to);
    if (strcmp(from, to) == 0)
        return 0;
    if ((rc = head_blob(z, from, false, NULL, &r, what)) != 0)
        return rc;
    if (r.status == 200) {
        azc_etag_norm(r.etag, etag, sizeof(etag));
        azh_response_free(&r);
        return rename_file(z, from, to, if_match, flags, etag, what);
    }
    if (r.status != 404) {
        rc = azc_map_status(&r, what);
        azh_response_free(&r);
        return rc;
    }
    azh_response_free(&r);
    if ((rc = probe_dir(z, from, &is_dir, NULL, NULL)) != 0)
        return rc;
    if (!is_dir)
        return afs__error_set(AFS_ENOTFOUND, "azure: %s: no such object", what);
    return rename_dir(z, from, to, if_match, flags, what);
}

/* ---- properties and metadata ---- */

static int azblob_set_props(void *ctx, const char *path, int64_t mtime_ns, uint32_t attributes,
                            const char *if_match, afs_storage_entry *out)
{
    struct azblob *z = ctx;
    char what[300];
    int rc = 0;

    snprintf(what, sizeof(what), "set_props \"%.256s\"", path);
    /* Set Blob Metadata replaces all metadata: read, merge, write back on
     * the etag read, and try again if someone else wrote in between. */
    for (int attempt = 0; attempt < 8; attempt++) {
        struct azh_request q;
        struct azh_response h, r;
        char quoted[AFS_ETAG_MAX + 2], mt[24], at[16] = "";
        char *names[AZH_MAX_META];
        char *up = NULL;
        size_t nn = 0;
        bool is_dir = false;

        memset(&r, 0, sizeof(r));
        if ((rc = head_blob(z, path, false, if_match, &h, what)) != 0)
            return rc;
        if (h.status == 404 && !if_match) {
            azh_response_free(&h);
            if ((rc = probe_dir(z, path, &is_dir, NULL, NULL)) != 0)
                return rc;
            return is_dir ? afs__error_set(AFS_ENOTSUP, "azure: %s: directories keep no "
                                           "properties", what)
                          : afs__error_set(AFS_ENOTFOUND, "azure: %s: no such object", what);
        }
        if (h.status == 404 && if_match) {
            azh_response_free(&h);
            return afs__error_set(AFS_ECONDITION, "azure: %s: if-match: no such object", what);
        }
        if (h.status != 200) {
            rc = azc_map_status(&h, what);
            azh_response_free(&h);
            return rc;
        }
        if (h.meta_overflow) {
            azh_response_free(&h);
            return afs__error_set(AFS_ELIMIT, "azure: %s: too much metadata to rewrite", what);
        }
        up = blob_url_path(z, path, false);
        if (!up) {
            azh_response_free(&h);
            return AFS_ENOMEM;
        }
        memset(&q, 0, sizeof(q));
        q.method = "PUT";
        q.path = up;
        azh_query_add(&q, "comp", "metadata");
        azc_etag_quote(h.etag, quoted, sizeof(quoted));
        azh_header_add(&q, "If-Match", quoted);
        if (mtime_ns != AFS_TIME_OMIT)
            snprintf(mt, sizeof(mt), "%" PRId64, mtime_ns);
        else if (azh_response_meta(&h, META_MTIME))
            snprintf(mt, sizeof(mt), "%s", azh_response_meta(&h, META_MTIME));
        else {
            int64_t lm = azh_parse_http_date(h.last_modified);
            snprintf(mt, sizeof(mt), "%" PRId64, lm > 0 ? lm * 1000000000 : 0);
        }
        azh_header_add(&q, "x-ms-meta-" META_MTIME, mt);
        if (attributes) {
            snprintf(at, sizeof(at), "%" PRIu32, attributes);
            azh_header_add(&q, "x-ms-meta-" META_ATTR, at);
        }
        for (size_t i = 0; i < h.nmeta && rc == 0; i++) {
            if (strcmp(h.meta[i].name, META_MTIME) == 0 || strcmp(h.meta[i].name, META_ATTR) == 0)
                continue;
            if (!(names[nn] = afs__sprintf("x-ms-meta-%s", h.meta[i].name))) {
                rc = AFS_ENOMEM;
                break;
            }
            rc = azh_header_add(&q, names[nn], h.meta[i].value);
            nn++;
        }
        if (rc == 0)
            rc = do_req(z, &q, &r, what);
        for (size_t i = 0; i < nn; i++)
            free(names[i]);
        free(up);
        if (rc == 0 && r.status == 200) {
            int64_t size = h.content_length;
            entry_fill(out, size, r.etag, r.last_modified, h.creation_time, mt,
                       azh_response_meta(&h, META_BTIME), at);
            out->attributes = attributes;
        } else if (rc == 0 && r.status == 412 && !if_match) {
            azh_response_free(&h);
            azh_response_free(&r);
            continue; /* changed between our HEAD and our write: again */
        } else if (rc == 0) {
            rc = azc_map_status(&r, what);
        }
        azh_response_free(&h);
        azh_response_free(&r);
        return rc;
    }
    return afs__error_set(AFS_ETRANSIENT, "azure: %s: the object kept changing", what);
}

static int azblob_meta_get(void *ctx, const char *path, const char *key, char *buf, size_t cap,
                           size_t *len)
{
    struct azblob *z = ctx;
    struct azh_response r;
    char what[300];
    int rc;

    snprintf(what, sizeof(what), "meta_get \"%.256s\"", path);
    if ((rc = head_blob(z, path, false, NULL, &r, what)) != 0)
        return rc;
    rc = r.status != 200 ? azc_map_status(&r, what) : azc_meta_lookup(&r, key, buf, cap, len, what);
    azh_response_free(&r);
    return rc;
}

static int azblob_ctl(void *ctx, int op, void *arg)
{
    (void)ctx;
    return azc_ctl(op, arg, "azblob");
}

static void azblob_release(void *ctx)
{
    struct azblob *z = ctx;
    if (z)
        azc_root_close(&z->base);
    free(z);
}

/* ---- open ---- */

/* Everything but the existence check: parse, credentials, HTTP client. */
static int azblob_setup(const char *uri, const afs_azure_options *opts, struct azblob **out)
{
    afs_azure_options o;
    struct azblob *z = afs__calloc(1, sizeof(*z));
    int rc;

    *out = NULL;
    if (!z)
        return AFS_ENOMEM;
    if ((rc = azc_root_open(&z->base, uri, &svc, opts, &o)) != 0) {
        free(z);
        return rc;
    }
    z->parallelism = o.parallelism;
    z->block_size = o.block_size;
    z->single_put_max = o.single_put_max;
    if (z->block_size > (64u << 20) || z->single_put_max > (256u << 20)) {
        azblob_release(z);
        return afs__error_set(AFS_EINVAL, "azure: block_size is at most 64 MiB and "
                              "single_put_max at most 256 MiB");
    }
    *out = z;
    return 0;
}

static int container_req(struct azblob *z, const char *method, long *status, const char *what)
{
    struct azh_request q;
    struct azh_response r;
    int rc;

    memset(&q, 0, sizeof(q));
    q.method = method;
    q.path = z->base.path;
    azh_query_add(&q, "restype", "container");
    rc = do_req(z, &q, &r, what);
    if (rc == 0) {
        *status = r.status;
        if (r.status >= 300 && r.status != 404 && r.status != 409)
            rc = azc_map_status(&r, what);
    }
    azh_response_free(&r);
    return rc;
}

int afs_storage_azblob_new(afs_storage **out, const char *uri, const afs_azure_options *opts)
{
    afs_storage_ops ops;
    struct azblob *z = NULL;
    long status = 0;
    int rc;

    if (!out || !uri)
        return afs__error_set(AFS_EINVAL, "afs_storage_azblob_new: out and uri are required");
    *out = NULL;
    if (opts && (rc = afs__vstruct_check(&afs__vs_azure_options, opts->version,
                                         "afs_storage_azblob_new")) != 0)
        return rc;
    if ((rc = azblob_setup(uri, opts, &z)) != 0)
        return rc;
    if ((rc = container_req(z, "HEAD", &status, "open container")) != 0)
        goto done;
    if (status == 404) {
        rc = afs__error_set(AFS_ENOTFOUND, "azure: container \"%s\" does not exist",
                            z->base.name);
        goto done;
    }
    memset(&ops, 0, sizeof(ops));
    ops.version = AFS_STORAGE_OPS_VERSION;
    ops.release = azblob_release;
    ops.ctl = azblob_ctl;
    ops.list = azblob_list;
    ops.stat = azblob_stat;
    ops.read = azblob_read;
    ops.put = azblob_put;
    ops.remove = azblob_remove;
    ops.mkdir = azblob_mkdir;
    ops.rmdir = azblob_rmdir;
    ops.rename = azblob_rename;
    ops.set_props = azblob_set_props;
    ops.meta_get = azblob_meta_get;
    if ((rc = afs_storage_new(out, &ops, z)) != 0)
        goto done;
    z = NULL;
done:
    azblob_release(z);
    return rc;
}

int afs__azblob_container_create(const char *uri, const afs_azure_options *opts)
{
    struct azblob *z = NULL;
    long status = 0;
    int rc = azblob_setup(uri, opts, &z);
    if (rc == 0 && (rc = container_req(z, "PUT", &status, "create container")) == 0 &&
        status == 409)
        rc = afs__error_set(AFS_EEXISTS, "azure: container \"%s\" exists", z->base.name);
    azblob_release(z);
    return rc;
}

int afs__azblob_container_delete(const char *uri, const afs_azure_options *opts)
{
    struct azblob *z = NULL;
    long status = 0;
    int rc = azblob_setup(uri, opts, &z);
    if (rc == 0 && (rc = container_req(z, "DELETE", &status, "delete container")) == 0 &&
        status == 404)
        rc = afs__error_set(AFS_ENOTFOUND, "azure: container \"%s\" does not exist",
                            z->base.name);
    azblob_release(z);
    return rc;
}

int afs__azblob_account_sas(const char *uri, const afs_azure_options *opts, const char *perms,
                            const char *expiry, char **out)
{
    struct azblob *z = NULL;
    int rc = azblob_setup(uri, opts, &z);
    *out = NULL;
    if (rc == 0)
        rc = aza_sas_account(&z->base.conn.cred, "b", "sco", perms, expiry, "https,http", out);
    azblob_release(z);
    return rc;
}

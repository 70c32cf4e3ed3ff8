/*
 * Shared code of the Azure backends (common.h): URIs, options and
 * credentials, signed requests, error mapping, etags and sources.
 */
#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <mbedtls/base64.h>

#include "../../core/internal.h"
#include "../../core/md5.h"
#include "common.h"
#include "xml.h"

/* ---- URIs ---- */

static int hexv(char c)
{
    return c >= '0' && c <= '9' ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Percent-decode `n` bytes into a new string; NUL or a bad escape: NULL + error. */
static char *pct_dup(const char *s, size_t n, const char *what)
{
    char *d = afs__malloc(n + 1);
    size_t o = 0;
    if (!d)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi = i + 2 < n ? hexv(s[i + 1]) : -1;
            int lo = hi >= 0 ? hexv(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(d);
                afs__error_set(AFS_EINVAL, "azure URI: bad percent escape in %s", what);
                return NULL;
            }
            d[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            d[o++] = s[i];
        }
    }
    d[o] = '\0';
    return d;
}

/* Container and share names follow the same rule. */
static bool root_ok(const char *c)
{
    size_t n = strlen(c);
    if (n < 3 || n > 63 || c[0] == '-' || c[n - 1] == '-' || strstr(c, "--"))
        return false;
    return strspn(c, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

/* "<root>[/<prefix>]" after the authority. */
static int parse_path(const char *p, size_t n, const struct azc_service *svc,
                      struct azc_uri *out)
{
    const char *slash = memchr(p, '/', n);
    size_t cl = slash ? (size_t)(slash - p) : n;
    char *prefix;
    size_t pl;

    if (cl == 0 || cl >= sizeof(out->root))
        return afs__error_set(AFS_EINVAL, "azure URI: missing or overlong %s name", svc->kind);
    memcpy(out->root, p, cl);
    out->root[cl] = '\0';
    if (!root_ok(out->root))
        return afs__error_set(AFS_EINVAL, "azure URI: \"%s\" is not a %s name (3-63 of "
                              "a-z, 0-9 and single inner '-')", out->root, svc->kind);
    if (!slash || (size_t)(slash - p) + 1 >= n) {
        out->prefix = afs__strdup("");
        return out->prefix ? 0 : AFS_ENOMEM;
    }
    prefix = pct_dup(slash + 1, n - cl - 1, "the prefix");
    if (!prefix)
        return afs_error_last_code() ? afs_error_last_code() : AFS_ENOMEM;
    pl = strlen(prefix);
    while (pl > 0 && prefix[pl - 1] == '/')
        prefix[--pl] = '\0';
    /* Every component must be a name the library accepts. */
    if (pl && afs__path_check(prefix, true, "azure URI prefix") != 0) {
        free(prefix);
        return AFS_EINVALIDNAME;
    }
    out->prefix = pl ? afs__sprintf("%s/", prefix) : afs__strdup("");
    free(prefix);
    return out->prefix ? 0 : AFS_ENOMEM;
}

static int parse_query(const char *q, struct azc_uri *out)
{
    while (q && *q) {
        size_t n = strcspn(q, "&");
        if (n > 9 && strncmp(q, "endpoint=", 9) == 0) {
            free(out->endpoint);
            if (!(out->endpoint = pct_dup(q + 9, n - 9, "endpoint")))
                return afs_error_last_code() ? afs_error_last_code() : AFS_ENOMEM;
        } else if (n > 0) {
            /* Only the endpoint: credentials in a URI would be stored in the
             * group definition and the service database. */
            return afs__error_set(AFS_EINVAL,
                                  "azure URI: unknown query parameter \"%.*s\" (only endpoint= "
                                  "is accepted; credentials come from AFS_AZURE_ACCOUNT_KEY or "
                                  "AFS_AZURE_SAS, never from the URI)",
                                  (int)(strcspn(q, "=") < n ? strcspn(q, "=") : n), q);
        }
        q += n;
        if (*q == '&')
            q++;
    }
    return 0;
}

/* Length of "<scheme>://" if `uri` starts with it, else 0. */
static size_t scheme_prefix(const char *uri, const struct azc_service *svc)
{
    size_t n = strlen(svc->scheme);
    return strncasecmp(uri, svc->scheme, n) == 0 && strncmp(uri + n, "://", 3) == 0 ? n + 3 : 0;
}

int azc_uri_parse(const char *uri, const struct azc_service *svc, struct azc_uri *out)
{
    const char *rest, *q, *slash;
    size_t pathlen, sp = scheme_prefix(uri, svc), sl = strlen(svc->host_suffix);
    int rc;

    memset(out, 0, sizeof(*out));
    if (strchr(uri, '#') || strpbrk(uri, " \t\r\n"))
        return afs__error_set(AFS_EINVAL, "azure URI: fragments and spaces are not accepted");
    q = strchr(uri, '?');
    if (sp) {
        rest = uri + sp;
        slash = strchr(rest, '/');
        if (!slash || (q && slash > q))
            return afs__error_set(AFS_EINVAL, "azure URI: expected %s://<account>/<%s>",
                                  svc->scheme, svc->kind);
        if ((size_t)(slash - rest) >= sizeof(out->account) || slash == rest)
            return afs__error_set(AFS_EINVAL, "azure URI: bad account name");
        memcpy(out->account, rest, (size_t)(slash - rest));
        out->account[slash - rest] = '\0';
    } else if (strncasecmp(uri, "https://", 8) == 0) {
        const char *host = uri + 8, *dot = strchr(host, '.');
        slash = strchr(host, '/');
        if (!dot || !slash || dot > slash || (size_t)(dot - host) >= sizeof(out->account) ||
            dot == host || (size_t)(slash - dot) != sl || strncasecmp(dot, svc->host_suffix, sl))
            return afs__error_set(AFS_EINVAL, "azure URI: expected https://<account>%s/<%s>",
                                  svc->host_suffix, svc->kind);
        memcpy(out->account, host, (size_t)(dot - host));
        out->account[dot - host] = '\0';
    } else {
        return afs__error_set(AFS_EINVAL, "azure URI: \"%.32s...\" is not a %s:// or "
                              "https://<account>%s URI", uri, svc->scheme, svc->host_suffix);
    }
    for (char *c = out->account; *c; c++)
        if (!isalnum((unsigned char)*c))
            return afs__error_set(AFS_EINVAL, "azure URI: bad account name");
    pathlen = q ? (size_t)(q - slash - 1) : strlen(slash + 1);
    if ((rc = parse_path(slash + 1, pathlen, svc, out)) != 0)
        goto fail;
    if (q) {
        if (!sp) {
            rc = afs__error_set(AFS_EINVAL,
                                "azure URI: no query on an https URL (a SAS belongs in "
                                "AFS_AZURE_SAS, never in the URI)");
            goto fail;
        }
        if ((rc = parse_query(q + 1, out)) != 0)
            goto fail;
    }
    return 0;
fail:
    azc_uri_free(out);
    return rc;
}

void azc_uri_free(struct azc_uri *u)
{
    free(u->prefix);
    free(u->endpoint);
    memset(u, 0, sizeof(*u));
}

bool azc_uri_match(const char *uri, const struct azc_service *svc)
{
    const char *host, *slash, *dot;
    size_t sl = strlen(svc->host_suffix);
    if (scheme_prefix(uri, svc))
        return true;
    if (strncasecmp(uri, "https://", 8) != 0)
        return false;
    host = uri + 8;
    slash = host + strcspn(host, "/?#");
    dot = strchr(host, '.');
    return dot && dot < slash && (size_t)(slash - dot) == sl &&
           strncasecmp(dot, svc->host_suffix, sl) == 0;
}

/* ---- options, credentials, connection ---- */

int afs_azure_options_init(afs_azure_options *opts, unsigned int version)
{
    static const afs_azure_options defaults = AFS_AZURE_OPTIONS_INIT;
    return afs__options_init(&afs__vs_azure_options, opts, &defaults, version,
                             "afs_azure_options_init");
}

static const char *env_or(const char *given, const char *name, const afs_azure_options *o)
{
    if (given)
        return given;
    if (o->flags & AFS_AZURE_NO_ENV)
        return NULL;
    return getenv(name);
}

int azc_conn_open(struct azc_conn *c, const struct azc_uri *u, const struct azc_service *svc,
                  const afs_azure_options *opts, afs_azure_options *o)
{
    static const afs_azure_options defaults = AFS_AZURE_OPTIONS_INIT;
    struct azh_target target;
    struct azh_config cfg;
    char *endpoint;
    int rc;

    memset(c, 0, sizeof(*c));
    *o = defaults;
    /* Only the caller's version's fields (the public entry points have
     * already refused an unknown version with their own name). */
    if ((rc = afs__vstruct_read(&afs__vs_azure_options, o, opts, "azure storage")) != 0)
        return rc;
    if (o->flags & ~(AFS_AZURE_ALLOW_HTTP | AFS_AZURE_NO_ENV))
        return afs__error_set(AFS_EINVAL, "azure: unknown flags 0x%x", o->flags);
    o->max_attempts = o->max_attempts ? o->max_attempts : 6;
    o->connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : 10000;
    o->timeout_ms = o->timeout_ms ? o->timeout_ms : 60000;
    o->retry_base_ms = o->retry_base_ms ? o->retry_base_ms : 250;
    o->parallelism = o->parallelism ? o->parallelism : 8;
    if (o->parallelism > 64)
        o->parallelism = 64;
    o->block_size = o->block_size ? o->block_size : (4u << 20);
    o->single_put_max = o->single_put_max ? o->single_put_max : (4u << 20);
    endpoint = u->endpoint ? afs__strdup(u->endpoint)
                           : afs__sprintf("https://%s%s", u->account, svc->host_suffix);
    if (!endpoint)
        return AFS_ENOMEM;
    rc = azh_target_parse(endpoint, (o->flags & AFS_AZURE_ALLOW_HTTP) != 0, &target);
    free(endpoint);
    if (rc != 0)
        return rc;
    if ((rc = aza_cred_init(&c->cred, u->account,
                            env_or(o->account_key, "AFS_AZURE_ACCOUNT_KEY", o),
                            env_or(o->sas, "AFS_AZURE_SAS", o))) != 0)
        goto fail;
    memset(&cfg, 0, sizeof(cfg));
    cfg.ca_file = o->ca_file;
    cfg.max_attempts = o->max_attempts;
    cfg.connect_timeout_ms = o->connect_timeout_ms;
    cfg.timeout_ms = o->timeout_ms;
    cfg.retry_base_ms = o->retry_base_ms;
    cfg.retry_max_ms = cfg.retry_base_ms * 64 < 30000 ? cfg.retry_base_ms * 64 : 30000;
    if ((rc = azh_client_new(&c->http, &target, &cfg)) != 0)
        goto fail;
    c->signer.cred = &c->cred;
    c->signer.path_prefix = azh_client_target(c->http)->path_prefix;
    /* The resolved options must not keep pointers to the caller's secrets. */
    o->account_key = o->sas = NULL;
    return 0;
fail:
    azc_conn_close(c);
    return rc;
}

void azc_conn_close(struct azc_conn *c)
{
    azh_client_free(c->http);
    c->http = NULL;
    aza_cred_free(&c->cred);
}

int azc_root_open(struct azc_root *r, const char *uri, const struct azc_service *svc,
                  const afs_azure_options *opts, afs_azure_options *resolved)
{
    struct azc_uri u;
    int rc;

    memset(r, 0, sizeof(*r));
    if ((rc = azc_uri_parse(uri, svc, &u)) != 0)
        return rc;
    if ((rc = azc_conn_open(&r->conn, &u, svc, opts, resolved)) == 0) {
        snprintf(r->name, sizeof(r->name), "%s", u.root);
        r->prefix = u.prefix;
        u.prefix = NULL;
        if (!(r->path = afs__sprintf("/%s", u.root)))
            rc = AFS_ENOMEM;
    }
    azc_uri_free(&u);
    if (rc != 0)
        azc_root_close(r);
    return rc;
}

void azc_root_close(struct azc_root *r)
{
    azc_conn_close(&r->conn);
    free(r->prefix);
    free(r->path);
    r->prefix = r->path = NULL;
}

int azc_ctl(int op, void *arg, const char *name)
{
    if (op == AFS_STORAGE_CTL_NAME && arg) {
        *(const char **)arg = name;
        return 0;
    }
    return afs__error_set(AFS_ENOTSUP, "%s storage: ctl %d not supported", name, op);
}

bool azc_uses_sas(const struct azc_conn *c)
{
    return c->cred.key_len == 0 && c->cred.sas != NULL;
}

/* ---- requests ---- */

char *azc_full_url(const struct azc_conn *c, const char *path)
{
    const struct azh_target *t = azh_client_target(c->http);
    bool sas = azc_uses_sas(c);
    return afs__sprintf("%s%s%s%s%s", t->base, t->path_prefix, path, sas ? "?" : "",
                        sas ? c->cred.sas : "");
}

int azc_do_req(struct azc_conn *c, struct azh_request *q, struct azh_response *r,
               const char *what)
{
    int rc;
    if (azc_uses_sas(c))
        q->raw_query = c->cred.sas;
    if ((rc = azh_header_add(q, "x-ms-version", AZA_VERSION)) != 0) {
        memset(r, 0, sizeof(*r));
        return rc;
    }
    rc = azh_perform(c->http, q, r, aza_sign, &c->signer, what);
    if (rc != 0) {
        /* Belt and braces: no message leaves with a secret in it. */
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", afs_error_last());
        aza_redact(&c->cred, msg);
        afs__error_set(rc, "%s", msg);
    }
    return rc;
}

int azc_simple_req(struct azc_conn *c, const char *method, const char *path,
                   const char *if_match, const char *hname, const char *hvalue,
                   struct azh_response *r, const char *what)
{
    struct azh_request q;
    char quoted[AFS_ETAG_MAX + 2];

    memset(&q, 0, sizeof(q));
    q.method = method;
    q.path = path;
    if (hname)
        azh_header_add(&q, hname, hvalue);
    if (if_match) {
        azc_etag_quote(if_match, quoted, sizeof(quoted));
        azh_header_add(&q, "If-Match", quoted);
    }
    return azc_do_req(c, &q, r, what);
}

const char *azc_err_code(struct azh_response *r)
{
    if (!r->error_code[0] && r->body && r->body_len)
        azx_error_code(r->body, r->body_len, r->error_code, sizeof(r->error_code));
    return r->error_code[0] ? r->error_code : "no error code";
}

int azc_map_status(struct azh_response *r, const char *what)
{
    const char *code = azc_err_code(r);
    long st = r->status;
    size_t cl = strlen(code);
    bool exists = cl > 13 && strcmp(code + cl - 13, "AlreadyExists") == 0;

    if (st == 404)
        return afs__error_set(AFS_ENOTFOUND, "azure: %s: not found (%s)", what, code);
    if (st == 412 || (st == 409 && exists))
        return afs__error_set(AFS_ECONDITION, "azure: %s: condition failed (%s)", what, code);
    if (st == 401 || st == 403)
        return afs__error_set(AFS_EPERM, "azure: %s: access denied (HTTP %ld %s): check the "
                              "account key or SAS and its permissions", what, st, code);
    if (st == 409)
        return afs__error_set(AFS_EBUSY, "azure: %s: conflict (%s)", what, code);
    if (st == 400 && strcasecmp(code, "Md5Mismatch") == 0)
        return afs__error_set(AFS_EIO, "azure: %s: the service saw different bytes than were "
                              "sent (Md5Mismatch)", what);
    if (st == 400 || st == 413 || st == 414)
        return afs__error_set(AFS_EINVAL, "azure: %s: request refused (HTTP %ld %s)", what, st,
                              code);
    if (st == 507)
        return afs__error_set(AFS_ENOSPC, "azure: %s: out of space (%s)", what, code);
    return afs__error_set(AFS_EIO, "azure: %s: unexpected answer HTTP %ld (%s)", what, st, code);
}

/* ---- small things ---- */

void azc_etag_norm(const char *in, char *out, size_t cap)
{
    size_t n = strlen(in);
    if (n >= 2 && in[0] == '"' && in[n - 1] == '"') {
        in++;
        n -= 2;
    }
    if (n >= cap)
        n = cap - 1;
    memcpy(out, in, n);
    out[n] = '\0';
}

void azc_etag_quote(const char *etag, char *out, size_t cap)
{
    char bare[AFS_ETAG_MAX];
    azc_etag_norm(etag, bare, sizeof(bare));
    snprintf(out, cap, "\"%s\"", bare);
}

bool azc_etag_same(const char *a, const char *b)
{
    char x[AFS_ETAG_MAX], y[AFS_ETAG_MAX];
    azc_etag_norm(a, x, sizeof(x));
    azc_etag_norm(b, y, sizeof(y));
    return strcmp(x, y) == 0;
}

bool azc_parse_i64(const char *s, int64_t *out)
{
    char *end;
    long long v;
    if (!s || !s[0])
        return false;
    v = strtoll(s, &end, 10);
    if (*end)
        return false;
    *out = (int64_t)v;
    return true;
}

int azc_md5_b64(const void *data, size_t len, char out[32])
{
    afs__md5 m;
    uint8_t d[AFS__MD5_LEN];
    size_t olen = 0;
    afs__md5_init(&m);
    afs__md5_update(&m, data, len);
    afs__md5_final(&m, d);
    if (mbedtls_base64_encode((unsigned char *)out, 32, &olen, d, sizeof(d)) != 0)
        return afs__error_set(AFS_EIO, "azure: base64 of an MD5 failed");
    return 0;
}

int azc_src_fill(afs_read_fn src, void *payload, uint64_t off, unsigned char *buf, size_t len,
                 const char *what)
{
    size_t got = 0;
    while (got < len) {
        size_t n = 0;
        int rc = src(off + got, buf + got, len - got, &n, payload);
        if (rc != 0)
            return rc; /* the source's own code, unchanged */
        if (n == 0 || n > len - got)
            return afs__error_set(AFS_EIO, "azure: %s: the source ended after %" PRIu64
                                  " bytes of the announced size", what, off + got);
        got += n;
    }
    return 0;
}

char *azc_parent_of(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? afs__strndup(path, (size_t)(s - path)) : afs__strdup("");
}

char *azc_url_path(const char *root_path, const char *prefix, const char *path,
                   bool trailing_slash)
{
    char *name = afs__sprintf("%s%s%s", prefix, path, trailing_slash ? "/" : "");
    char *enc, *out;
    if (!name)
        return NULL;
    enc = azh_url_encode(name, strlen(name), true);
    free(name);
    if (!enc)
        return NULL;
    out = afs__sprintf("%s/%s", root_path, enc);
    free(enc);
    return out;
}

int azc_condition_check(struct azh_response *r, unsigned int condition, const char *if_match,
                        const char *what)
{
    if (condition == AFS_COND_CREATE_ONLY && r->status == 200)
        return afs__error_set(AFS_ECONDITION, "azure: %s: the object exists", what);
    if (condition == AFS_COND_IF_MATCH && r->status == 404)
        return afs__error_set(AFS_ECONDITION, "azure: %s: if-match: no such object", what);
    if (condition == AFS_COND_IF_MATCH && r->status == 200 && !azc_etag_same(if_match, r->etag))
        return afs__error_set(AFS_ECONDITION, "azure: %s: etag mismatch", what);
    if (r->status != 200 && r->status != 404)
        return azc_map_status(r, what);
    return 0;
}

void azc_range_get(struct azh_request *q, const char *url_path, uint64_t offset, void *buf,
                   size_t len, char range[64])
{
    memset(q, 0, sizeof(*q));
    q->method = "GET";
    q->path = url_path;
    snprintf(range, 64, "bytes=%" PRIu64 "-%" PRIu64, offset, offset + (uint64_t)len - 1);
    azh_header_add(q, "x-ms-range", range);
    if (len <= AZC_RANGE_MD5_MAX)
        azh_header_add(q, "x-ms-range-get-content-md5", "true");
    q->out_buf = buf;
    q->out_cap = len;
}

int azc_range_result(struct azh_response *r, uint64_t offset, size_t len, const void *buf,
                     size_t *nread, const char *what)
{
    unsigned long long a = 0, b = 0, total = 0;
    char want[32];
    int rc;

    *nread = 0;
    if (r->status == 206) {
        if (sscanf(r->content_range, "bytes %llu-%llu/%llu", &a, &b, &total) != 3)
            return afs__error_set(AFS_EIO, "azure: %s: bad Content-Range \"%.60s\"", what,
                                  r->content_range);
        /* Azurite answers a range past the end with 206 "bytes N-(N-1)/N"
         * and no body where the service says 416: both mean 0 bytes. */
        if (r->out_len == 0 && offset >= total)
            return 0;
        if (a != offset || b < a || b - a + 1 != r->out_len)
            return afs__error_set(AFS_EIO, "azure: %s: Content-Range \"%.60s\" does not match "
                                  "the %zu bytes received", what, r->content_range, r->out_len);
    } else if (offset != 0) {
        return afs__error_set(AFS_EIO, "azure: %s: the service ignored the range", what);
    } else {
        total = r->out_len;
    }
    if (r->content_length >= 0 && (uint64_t)r->content_length != r->out_len)
        return afs__error_set(AFS_EIO, "azure: %s: %zu bytes received, Content-Length said "
                              "%" PRId64, what, r->out_len, r->content_length);
    /* Content-MD5 of this range (asked for) or of the whole object. */
    if (r->content_md5[0] && (len <= AZC_RANGE_MD5_MAX || (offset == 0 && r->out_len == total))) {
        if ((rc = azc_md5_b64(buf, r->out_len, want)) != 0)
            return rc;
        if (strcmp(want, r->content_md5) != 0)
            return afs__error_set(AFS_EIO, "azure: %s: Content-MD5 mismatch: the bytes "
                                  "received are not the bytes stored", what);
    } else if (r->blob_content_md5[0] && offset == 0 && r->out_len == total) {
        if ((rc = azc_md5_b64(buf, r->out_len, want)) != 0)
            return rc;
        if (strcmp(want, r->blob_content_md5) != 0)
            return afs__error_set(AFS_EIO, "azure: %s: stored MD5 mismatch", what);
    }
    *nread = r->out_len;
    return 0;
}

/* ---- parallel chunked uploads ---- */

/* Workers claim chunks, hash them into the whole object's MD5 in order,
 * and send them; the first failure stops all. */
struct upload {
    afs_read_fn src;
    void *src_payload;
    uint64_t size, chunk;
    uint32_t nchunks;
    azc_chunk_fn fn;
    void *fn_payload;
    const char *what;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint32_t next, hashed;
    afs__md5 md5;
    int rc;
    char msg[768];
    bool stop;
};

static void upload_fail(struct upload *u, int rc)
{
    pthread_mutex_lock(&u->lock);
    if (u->rc == 0) {
        u->rc = rc;
        snprintf(u->msg, sizeof(u->msg), "%s", afs_error_last_code() == rc ? afs_error_last()
                                                                           : afs_strerror(rc));
    }
    u->stop = true;
    pthread_cond_broadcast(&u->cond);
    pthread_mutex_unlock(&u->lock);
}

static void *upload_worker(void *arg)
{
    struct upload *u = arg;
    unsigned char *buf = afs__malloc((size_t)u->chunk);

    if (!buf) {
        upload_fail(u, AFS_ENOMEM);
        return NULL;
    }
    for (;;) {
        char md5[32];
        uint32_t i;
        uint64_t off;
        size_t n;
        int rc;

        pthread_mutex_lock(&u->lock);
        if (u->stop || u->next >= u->nchunks) {
            pthread_mutex_unlock(&u->lock);
            break;
        }
        i = u->next++;
        pthread_mutex_unlock(&u->lock);
        off = (uint64_t)i * u->chunk;
        n = (size_t)(u->size - off < u->chunk ? u->size - off : u->chunk);
        if ((rc = azc_src_fill(u->src, u->src_payload, off, buf, n, u->what)) != 0 ||
            (rc = azc_md5_b64(buf, n, md5)) != 0) {
            upload_fail(u, rc);
            break;
        }
        /* The whole object's MD5 needs the chunks in order. */
        pthread_mutex_lock(&u->lock);
        while (!u->stop && u->hashed != i)
            pthread_cond_wait(&u->cond, &u->lock);
        if (u->stop) {
            pthread_mutex_unlock(&u->lock);
            break;
        }
        afs__md5_update(&u->md5, buf, n);
        u->hashed++;
        pthread_cond_broadcast(&u->cond);
        pthread_mutex_unlock(&u->lock);
        if ((rc = u->fn(u->fn_payload, i, off, buf, n, md5)) != 0) {
            upload_fail(u, rc);
            break;
        }
    }
    free(buf);
    return NULL;
}

int azc_upload_chunks(afs_read_fn src, void *src_payload, uint64_t size, uint64_t chunk,
                      unsigned int parallelism, azc_chunk_fn fn, void *fn_payload,
                      char whole_md5[32], const char *what)
{
    struct upload u;
    pthread_t th[64];
    unsigned int nth, started = 0;
    uint8_t digest[AFS__MD5_LEN];
    size_t olen = 0;

    memset(&u, 0, sizeof(u));
    u.src = src;
    u.src_payload = src_payload;
    u.size = size;
    u.chunk = chunk;
    u.nchunks = (uint32_t)((size + chunk - 1) / chunk);
    u.fn = fn;
    u.fn_payload = fn_payload;
    u.what = what;
    pthread_mutex_init(&u.lock, NULL);
    pthread_cond_init(&u.cond, NULL);
    afs__md5_init(&u.md5);
    nth = parallelism < u.nchunks ? parallelism : u.nchunks;
    if (nth > AFS__ARRAY_LEN(th))
        nth = AFS__ARRAY_LEN(th);
    for (; started < nth; started++)
        if (pthread_create(&th[started], NULL, upload_worker, &u) != 0)
            break;
    if (started == 0)
        upload_worker(&u);
    for (unsigned int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    pthread_cond_destroy(&u.cond);
    pthread_mutex_destroy(&u.lock);
    if (u.rc != 0) {
        if (u.rc < 0 && u.rc != AFS_ENOMEM)
            afs__error_set(u.rc, "%s", u.msg);
        return u.rc;
    }
    afs__md5_final(&u.md5, digest);
    mbedtls_base64_encode((unsigned char *)whole_md5, 32, &olen, digest, sizeof(digest));
    return 0;
}

int azc_user_meta_add(struct azh_request *q, char **names, size_t cap,
                      const afs_storage_put_options *o)
{
    int rc;
    if (o->meta_count > cap || o->meta_count + q->nheaders + 8 > AZH_MAX_HEADERS)
        return afs__error_set(AFS_EINVAL, "azure: at most %d metadata pairs per object",
                              (int)(AZH_MAX_HEADERS - q->nheaders - 8));
    for (size_t i = 0; i < o->meta_count; i++) {
        if (!(names[i] = afs__sprintf("x-ms-meta-" AZC_META_USER "%s", o->meta_keys[i])))
            return AFS_ENOMEM;
        if ((rc = azh_header_add(q, names[i], o->meta_values[i])) != 0)
            return rc;
    }
    return 0;
}

int azc_meta_lookup(const struct azh_response *r, const char *key, char *buf, size_t cap,
                    size_t *len, const char *what)
{
    char name[80];
    const char *v;
    size_t kl = strlen(key);

    if (kl == 0 || kl > 64 || strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789_") != kl)
        return afs__error_set(AFS_EINVAL, "azure: meta_get: bad metadata key");
    snprintf(name, sizeof(name), AZC_META_USER "%s", key);
    if (!(v = azh_response_meta(r, name)))
        return afs__error_set(AFS_ENOTFOUND, "azure: %s: no metadata \"%s\"", what, key);
    snprintf(buf, cap, "%s", v);
    *len = strlen(v);
    return 0;
}

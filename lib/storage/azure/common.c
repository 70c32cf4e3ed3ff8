/*
 * Shared code of the Azure backends (common.h): URIs, options and
 * credentials, signed requests, error mapping, etags and sources.
 */
#include <ctype.h>
#include <inttypes.h>
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
    if (!opts)
        return afs__error_set(AFS_EINVAL, "afs_azure_options_init: opts is NULL");
    if (version == 0 || version > AFS_AZURE_OPTIONS_VERSION)
        return afs__error_set(AFS_EVERSION, "afs_azure_options: version %u not supported",
                              version);
    *opts = defaults;
    return 0;
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
    if (opts) {
        if (opts->version == 0 || opts->version > AFS_AZURE_OPTIONS_VERSION)
            return afs__error_set(AFS_EVERSION, "azure: options version %u not supported",
                                  opts->version);
        *o = *opts;
    }
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

bool azc_uses_sas(const struct azc_conn *c)
{
    return c->cred.key_len == 0 && c->cred.sas != NULL;
}

/* ---- requests ---- */

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

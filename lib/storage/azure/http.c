/*
 * HTTP requests for the Azure backends over libcurl (http.h): a pool of
 * easy handles (each keeps its connection alive, so requests reuse them and
 * several threads run requests in parallel), per-attempt signing, retries.
 * libcurl is called through the table of curl_load.h: it is loaded when the
 * first client is made, never at process start.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <curl/curl.h>

#include "../../core/internal.h"
#include "curl_load.h"
#include "http.h"

#define POOL_MAX 64
#define ERROR_BODY_MAX (64u * 1024u) /* an error answer's body we keep (for its code) */
#define RETRY_AFTER_MAX_MS 60000u

struct azh_client {
    struct azh_target target;
    struct azh_config cfg;
    char *ca_file;
    pthread_mutex_t lock;
    const struct azh_curl *curl; /* libcurl, loaded on first use (curl_load.h) */
    CURL *pool[POOL_MAX];
    size_t npool;
};

/* ---- small helpers ---- */

static bool is_loopback_host(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (strcasecmp(host, "localhost") == 0)
        return true;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (host[0] == '[') {
        char inner[64];
        size_t n = strlen(host);
        if (n < 3 || n - 2 >= sizeof(inner) || host[n - 1] != ']')
            return false;
        memcpy(inner, host + 1, n - 2);
        inner[n - 2] = '\0';
        return inet_pton(AF_INET6, inner, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
    }
    return false;
}

int azh_target_parse(const char *endpoint, bool allow_http, struct azh_target *out)
{
    const char *p, *host, *host_end, *path;
    size_t hl;

    memset(out, 0, sizeof(*out));
    if (!endpoint || !endpoint[0])
        return afs__error_set(AFS_EINVAL, "azure: empty endpoint");
    if (strncasecmp(endpoint, "https://", 8) == 0) {
        out->https = true;
        host = endpoint + 8;
    } else if (strncasecmp(endpoint, "http://", 7) == 0) {
        host = endpoint + 7;
    } else {
        return afs__error_set(AFS_EINVAL, "azure: endpoint \"%.200s\" must start with https:// "
                              "(or http:// for a loopback emulator)", endpoint);
    }
    if (strpbrk(endpoint, "?#@ \t\r\n\\"))
        return afs__error_set(AFS_EINVAL, "azure: endpoint must be scheme://host[:port][/path] "
                              "without user, query or fragment");
    if (host[0] == '[') {
        host_end = strchr(host, ']');
        if (!host_end)
            return afs__error_set(AFS_EINVAL, "azure: endpoint: unterminated [IPv6] host");
        host_end++;
    } else {
        host_end = host + strcspn(host, ":/");
    }
    hl = (size_t)(host_end - host);
    if (hl == 0 || hl >= sizeof(out->host))
        return afs__error_set(AFS_EINVAL, "azure: endpoint: bad host");
    memcpy(out->host, host, hl);
    out->host[hl] = '\0';
    p = host_end;
    if (*p == ':') {
        const char *d = p + 1;
        size_t nd = strspn(d, "0123456789");
        if (nd == 0 || nd > 5 || (d[nd] != '\0' && d[nd] != '/'))
            return afs__error_set(AFS_EINVAL, "azure: endpoint: bad port");
        p = d + nd;
    }
    path = p;
    if ((size_t)(path - endpoint) >= sizeof(out->base))
        return afs__error_set(AFS_EINVAL, "azure: endpoint too long");
    memcpy(out->base, endpoint, (size_t)(path - endpoint));
    out->base[path - endpoint] = '\0';
    {
        size_t pl = strlen(path);
        while (pl > 0 && path[pl - 1] == '/')
            pl--;
        if (pl >= sizeof(out->path_prefix))
            return afs__error_set(AFS_EINVAL, "azure: endpoint path too long");
        memcpy(out->path_prefix, path, pl);
        out->path_prefix[pl] = '\0';
    }
    out->loopback = is_loopback_host(out->host);
    if (!out->https && !out->loopback && !allow_http)
        return afs__error_set(AFS_EPERM,
                              "azure: refusing plain http to \"%s\": credentials and data would "
                              "cross the network unencrypted (use https, or allow http "
                              "explicitly with AFS_AZURE_ALLOW_HTTP)",
                              out->host);
    return 0;
}

char *azh_url_encode(const char *s, size_t len, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = afs__malloc(len * 3 + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    return out;
}

void azh_http_date(int64_t t, char out[32])
{
    static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
    static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    struct tm tm;
    time_t tt = (time_t)t;
    gmtime_r(&tt, &tm);
    /* Fixed English names: strftime would follow the locale. */
    snprintf(out, 32, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
             months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int64_t azh_parse_http_date(const char *s)
{
    const struct azh_curl *cu;
    time_t t;
    if (!s || !s[0])
        return -1;
    /* Only an Azure backend parses dates, and opening it loaded libcurl. */
    if (azh_curl_get(&cu) != 0)
        return -1;
    t = cu->getdate(s, NULL);
    return t == (time_t)-1 ? -1 : (int64_t)t;
}

void azh_sleep_ms(unsigned int ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int azh_header_add(struct azh_request *req, const char *name, const char *value)
{
    if (req->nheaders >= AZH_MAX_HEADERS)
        return afs__error_set(AFS_ELIMIT, "azure: too many request headers");
    req->headers[req->nheaders].name = name;
    req->headers[req->nheaders].value = value;
    req->nheaders++;
    return 0;
}

int azh_query_add(struct azh_request *req, const char *name, const char *value)
{
    if (req->nquery >= AZH_MAX_QUERY)
        return afs__error_set(AFS_ELIMIT, "azure: too many query parameters");
    req->query[req->nquery].name = name;
    req->query[req->nquery].value = value;
    req->nquery++;
    return 0;
}

const char *azh_header_get(const struct azh_request *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

void azh_response_free(struct azh_response *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nmeta; i++) {
        free((char *)r->meta[i].name);
        free((char *)r->meta[i].value);
    }
    free(r->body);
    memset(r, 0, sizeof(*r));
    r->content_length = -1;
}

const char *azh_response_meta(const struct azh_response *r, const char *name)
{
    for (size_t i = 0; i < r->nmeta; i++)
        if (strcmp(r->meta[i].name, name) == 0)
            return r->meta[i].value;
    return NULL;
}

/* ---- client ---- */

int azh_client_new(azh_client **out, const struct azh_target *target,
                   const struct azh_config *cfg)
{
    const struct azh_curl *cu;
    azh_client *c;
    int rc;

    *out = NULL;
    /* The first Azure backend opened loads libcurl (AFS_ENOTSUP without it). */
    if ((rc = azh_curl_get(&cu)) != 0)
        return rc;
    c = afs__calloc(1, sizeof(*c));
    if (!c)
        return AFS_ENOMEM;
    c->curl = cu;
    c->target = *target;
    c->cfg = *cfg;
    if (c->cfg.max_attempts == 0)
        c->cfg.max_attempts = 1;
    if (cfg->ca_file && !(c->ca_file = afs__strdup(cfg->ca_file))) {
        free(c);
        return AFS_ENOMEM;
    }
    c->cfg.ca_file = c->ca_file;
    pthread_mutex_init(&c->lock, NULL);
    *out = c;
    return 0;
}

void azh_client_free(azh_client *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->npool; i++)
        c->curl->easy_cleanup(c->pool[i]);
    pthread_mutex_destroy(&c->lock);
    free(c->ca_file);
    free(c);
}

const struct azh_target *azh_client_target(const azh_client *c)
{
    return &c->target;
}

static CURL *handle_get(azh_client *c)
{
    CURL *h = NULL;
    pthread_mutex_lock(&c->lock);
    if (c->npool > 0)
        h = c->pool[--c->npool];
    pthread_mutex_unlock(&c->lock);
    if (h) {
        c->curl->easy_reset(h); /* options go, the live connection stays */
        return h;
    }
    return c->curl->easy_init();
}

static void handle_put(azh_client *c, CURL *h)
{
    pthread_mutex_lock(&c->lock);
    if (c->npool < POOL_MAX) {
        c->pool[c->npool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    if (h)
        c->curl->easy_cleanup(h);
}

/* ---- one transfer ---- */

struct xfer {
    struct azh_request *req;
    struct azh_response *resp;
    size_t upload_pos;
    long status;          /* from the last status line */
    int abort_code;       /* set by a callback that stopped the transfer */
    char abort_msg[256];
    char *errbody;        /* body of an error answer */
    size_t errbody_len;
    unsigned int retry_after_ms;
};

static size_t on_read(char *buf, size_t size, size_t nitems, void *userdata)
{
    struct xfer *x = userdata;
    size_t want = size * nitems, left = x->req->body_len - x->upload_pos;
    size_t n = want < left ? want : left;
    if (n) {
        memcpy(buf, (const char *)x->req->body + x->upload_pos, n);
        x->upload_pos += n;
    }
    return n;
}

static int on_seek(void *userdata, curl_off_t offset, int origin)
{
    struct xfer *x = userdata;
    if (origin != SEEK_SET || offset < 0 || (size_t)offset > x->req->body_len)
        return CURL_SEEKFUNC_FAIL;
    x->upload_pos = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

static void copy_trimmed(char *dst, size_t cap, const char *v, size_t n)
{
    while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    while (n > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
    struct xfer *x = userdata;
    struct azh_response *r = x->resp;
    size_t n = size * nitems;
    const char *colon;
    size_t nl;

    if (n >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
        /* A new response (after a 100 Continue): forget the previous headers. */
        const char *sp = memchr(buf, ' ', n);
        x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        for (size_t i = 0; i < r->nmeta; i++) {
            free((char *)r->meta[i].name);
            free((char *)r->meta[i].value);
        }
        r->nmeta = 0;
        r->etag[0] = r->last_modified[0] = r->error_code[0] = r->content_md5[0] = '\0';
        r->blob_content_md5[0] = r->content_range[0] = r->copy_status[0] = '\0';
        r->creation_time[0] = r->resource_type[0] = '\0';
        r->file_attributes[0] = r->file_creation_time[0] = r->file_last_write_time[0] = '\0';
        r->content_length = -1;
        x->retry_after_ms = 0;
        return n;
    }
    colon = memchr(buf, ':', n);
    if (!colon)
        return n;
    nl = (size_t)(colon - buf);
    {
        const char *v = colon + 1;
        size_t vl = n - nl - 1;
        char tmp[64];
#define IS(h) (nl == sizeof(h) - 1 && strncasecmp(buf, h, nl) == 0)
        if (IS("ETag")) {
            copy_trimmed(r->etag, sizeof(r->etag), v, vl);
        } else if (IS("Last-Modified")) {
            copy_trimmed(r->last_modified, sizeof(r->last_modified), v, vl);
        } else if (IS("x-ms-creation-time")) {
            copy_trimmed(r->creation_time, sizeof(r->creation_time), v, vl);
        } else if (IS("x-ms-error-code")) {
            copy_trimmed(r->error_code, sizeof(r->error_code), v, vl);
        } else if (IS("Content-MD5")) {
            copy_trimmed(r->content_md5, sizeof(r->content_md5), v, vl);
        } else if (IS("x-ms-file-attributes")) {
            copy_trimmed(r->file_attributes, sizeof(r->file_attributes), v, vl);
        } else if (IS("x-ms-file-creation-time")) {
            copy_trimmed(r->file_creation_time, sizeof(r->file_creation_time), v, vl);
        } else if (IS("x-ms-file-last-write-time")) {
            copy_trimmed(r->file_last_write_time, sizeof(r->file_last_write_time), v, vl);
        } else if (IS("x-ms-blob-content-md5") || IS("x-ms-content-md5")) {
            copy_trimmed(r->blob_content_md5, sizeof(r->blob_content_md5), v, vl);
        } else if (IS("Content-Range")) {
            copy_trimmed(r->content_range, sizeof(r->content_range), v, vl);
        } else if (IS("x-ms-copy-status")) {
            copy_trimmed(r->copy_status, sizeof(r->copy_status), v, vl);
        } else if (IS("x-ms-resource-type")) {
            copy_trimmed(r->resource_type, sizeof(r->resource_type), v, vl);
        } else if (IS("Content-Length")) {
            char *end;
            long long cl;
            copy_trimmed(tmp, sizeof(tmp), v, vl);
            errno = 0;
            cl = strtoll(tmp, &end, 10);
            r->content_length = (errno || *end || cl < 0 || end == tmp) ? -1 : (int64_t)cl;
        } else if (IS("Retry-After")) {
            char *end;
            long secs;
            copy_trimmed(tmp, sizeof(tmp), v, vl);
            secs = strtol(tmp, &end, 10);
            if (end != tmp && *end == '\0' && secs >= 0) {
                x->retry_after_ms = secs > 60 ? RETRY_AFTER_MAX_MS : (unsigned int)secs * 1000u;
            } else {
                int64_t t = azh_parse_http_date(tmp), now = (int64_t)time(NULL);
                if (t > now)
                    x->retry_after_ms = t - now > 60 ? RETRY_AFTER_MAX_MS
                                                     : (unsigned int)(t - now) * 1000u;
            }
        } else if (nl > 10 && strncasecmp(buf, "x-ms-meta-", 10) == 0) {
            if (r->nmeta >= AZH_MAX_META) {
                r->meta_overflow = true;
            } else {
                char *name = afs__strndup(buf + 10, nl - 10);
                char *val = afs__malloc(vl + 1);
                if (!name || !val) {
                    free(name);
                    free(val);
                    x->abort_code = AFS_ENOMEM;
                    return 0;
                }
                copy_trimmed(val, vl + 1, v, vl);
                for (char *c = name; *c; c++)
                    *c = (char)tolower((unsigned char)*c);
                r->meta[r->nmeta].name = name;
                r->meta[r->nmeta].value = val;
                r->nmeta++;
            }
        }
#undef IS
    }
    return n;
}

static size_t on_write(char *buf, size_t size, size_t nmemb, void *userdata)
{
    struct xfer *x = userdata;
    struct azh_request *q = x->req;
    struct azh_response *r = x->resp;
    size_t n = size * nmemb;

    if (x->status >= 300 || x->status < 200) {
        /* An error answer: keep a bounded copy for its code, never in the
         * caller's buffer. */
        size_t room = ERROR_BODY_MAX - x->errbody_len;
        size_t take = n < room ? n : room;
        if (take) {
            char *nb = realloc(x->errbody, x->errbody_len + take + 1);
            if (!nb) {
                x->abort_code = AFS_ENOMEM;
                return 0;
            }
            x->errbody = nb;
            memcpy(nb + x->errbody_len, buf, take);
            x->errbody_len += take;
            nb[x->errbody_len] = '\0';
        }
        return n;
    }
    if (q->out_buf) {
        if (n > q->out_cap - r->out_len) {
            x->abort_code = AFS_EIO;
            snprintf(x->abort_msg, sizeof(x->abort_msg),
                     "the server sent more than the %zu bytes asked for", q->out_cap);
            return 0;
        }
        memcpy((char *)q->out_buf + r->out_len, buf, n);
        r->out_len += n;
        return n;
    }
    if (q->body_limit == 0)
        return n;
    if (n > q->body_limit - r->body_len) {
        x->abort_code = AFS_EIO;
        snprintf(x->abort_msg, sizeof(x->abort_msg), "response body larger than %zu bytes",
                 q->body_limit);
        return 0;
    }
    {
        char *nb = realloc(r->body, r->body_len + n + 1);
        if (!nb) {
            x->abort_code = AFS_ENOMEM;
            return 0;
        }
        r->body = nb;
        memcpy(nb + r->body_len, buf, n);
        r->body_len += n;
        nb[r->body_len] = '\0';
    }
    return n;
}

static bool curl_transient(CURLcode rc)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
}

static bool status_transient(long st)
{
    return st == 408 || st == 429 || st == 500 || st == 502 || st == 503 || st == 504;
}

/* A jittered exponential delay for the attempt that just failed. */
static unsigned int backoff_ms(const struct azh_config *cfg, unsigned int attempt,
                               unsigned int retry_after_ms)
{
    uint64_t d = cfg->retry_base_ms ? cfg->retry_base_ms : 1;
    uint32_t rnd = 0;
    for (unsigned int i = 1; i < attempt && d < cfg->retry_max_ms; i++)
        d *= 2;
    if (d > cfg->retry_max_ms)
        d = cfg->retry_max_ms;
    if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
        rnd = (uint32_t)time(NULL) * 2654435761u;
    /* Half fixed, half random: spreads retries of many clients apart. */
    d = d / 2 + (d > 1 ? rnd % (d / 2 + 1) : 0);
    if (retry_after_ms > d)
        d = retry_after_ms;
    return (unsigned int)d;
}

/* Cut anything after a '?' in a curl message: a URL's query may hold a SAS. */
static void redact_query(char *msg)
{
    char *q;
    while ((q = strchr(msg, '?')) != NULL) {
        size_t tail = strcspn(q, " \t\"'");
        const char *rep = "<redacted>";
        size_t rl = strlen(rep);
        if (tail < rl + 1) {
            memset(q, '*', tail);
            if (!strchr(q + tail, '?'))
                break;
            continue;
        }
        memmove(q + 1 + rl, q + tail, strlen(q + tail) + 1);
        memcpy(q + 1, rep, rl);
        q[0] = '#'; /* no longer a query: the loop moves on */
    }
}

/* Build "base + prefix + path [?query]" */
static char *build_url(const azh_client *c, const struct azh_request *req)
{
    size_t cap = strlen(c->target.base) + strlen(c->target.path_prefix) + strlen(req->path) + 2 +
                 (req->raw_query ? strlen(req->raw_query) + 1 : 0);
    char **enc = NULL;
    char *url = NULL, *o;
    size_t i;

    if (req->nquery) {
        enc = afs__calloc(req->nquery, sizeof(*enc));
        if (!enc)
            return NULL;
        for (i = 0; i < req->nquery; i++) {
            enc[i] = azh_url_encode(req->query[i].value, strlen(req->query[i].value), false);
            if (!enc[i])
                goto done;
            cap += strlen(req->query[i].name) + strlen(enc[i]) + 2;
        }
    }
    url = afs__malloc(cap + 1);
    if (!url)
        goto done;
    o = url + sprintf(url, "%s%s%s", c->target.base, c->target.path_prefix, req->path);
    for (i = 0; i < req->nquery; i++)
        o += sprintf(o, "%c%s=%s", i == 0 ? '?' : '&', req->query[i].name, enc[i]);
    if (req->raw_query && req->raw_query[0])
        sprintf(o, "%c%s", req->nquery ? '&' : '?', req->raw_query);
done:
    if (enc)
        for (i = 0; i < req->nquery; i++)
            free(enc[i]);
    free(enc);
    return url;
}

int azh_perform(azh_client *c, struct azh_request *req, struct azh_response *resp,
                azh_sign_fn sign, void *sign_payload, const char *what)
{
    const struct azh_curl *cu = c->curl;
    char errbuf[CURL_ERROR_SIZE];
    char store[1024];
    struct azh_kv extra[4];
    char *url = NULL;
    CURL *h = NULL;
    unsigned int attempt;
    int rc = 0;

    memset(resp, 0, sizeof(*resp));
    resp->content_length = -1;
    url = build_url(c, req);
    if (!url)
        return AFS_ENOMEM;
    h = handle_get(c);
    if (!h) {
        free(url);
        return afs__error_set(AFS_ENOMEM, "azure: %s: curl_easy_init failed", what);
    }
    for (attempt = 1;; attempt++) {
        struct curl_slist *hl = NULL;
        struct xfer x;
        size_t nextra = 0;
        CURLcode cc;
        bool transient;
        char line[1200];

        azh_response_free(resp);
        memset(&x, 0, sizeof(x));
        x.req = req;
        x.resp = resp;
        if (req->out_buf)
            resp->out_len = 0;
        if (sign && (rc = sign(sign_payload, req, extra, AFS__ARRAY_LEN(extra), &nextra, store,
                               sizeof(store))) != 0)
            break;
        for (size_t i = 0; i < req->nheaders + nextra; i++) {
            const struct azh_kv *kv = i < req->nheaders ? &req->headers[i]
                                                        : &extra[i - req->nheaders];
            struct curl_slist *n;
            snprintf(line, sizeof(line), "%s: %s", kv->name, kv->value);
            n = cu->slist_append(hl, line);
            if (!n) {
                cu->slist_free_all(hl);
                rc = afs__error_oom();
                goto done;
            }
            hl = n;
        }
        /* No "Expect: 100-continue" round trip; no Content-Type guessing. */
        hl = cu->slist_append(hl, "Expect:");
        if (!hl) {
            rc = afs__error_oom();
            goto done;
        }
        cu->easy_reset(h);
        errbuf[0] = '\0';
        cu->easy_setopt(h, CURLOPT_URL, url);
        cu->easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        cu->easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
        cu->easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        cu->easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
        cu->easy_setopt(h, CURLOPT_HTTPHEADER, hl);
        cu->easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        cu->easy_setopt(h, CURLOPT_HEADERDATA, &x);
        cu->easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
        cu->easy_setopt(h, CURLOPT_WRITEDATA, &x);
        cu->easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)c->cfg.connect_timeout_ms);
        /* A stalled transfer fails; a slow but moving one may take its time. */
        cu->easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        cu->easy_setopt(h, CURLOPT_LOW_SPEED_TIME,
                         (long)(c->cfg.timeout_ms < 1000 ? 1 : c->cfg.timeout_ms / 1000));
        cu->easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
        cu->easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
        cu->easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
        if (c->cfg.ca_file)
            cu->easy_setopt(h, CURLOPT_CAINFO, c->cfg.ca_file);
        if (strcmp(req->method, "HEAD") == 0) {
            cu->easy_setopt(h, CURLOPT_NOBODY, 1L);
        } else if (strcmp(req->method, "PUT") == 0) {
            cu->easy_setopt(h, CURLOPT_UPLOAD, 1L);
            cu->easy_setopt(h, CURLOPT_READFUNCTION, on_read);
            cu->easy_setopt(h, CURLOPT_READDATA, &x);
            cu->easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
            cu->easy_setopt(h, CURLOPT_SEEKDATA, &x);
            cu->easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->body_len);
        } else if (strcmp(req->method, "GET") != 0) {
            cu->easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
        }
        cc = cu->easy_perform(h);
        cu->slist_free_all(hl);
        resp->attempts = attempt;
        if (x.abort_code) {
            free(x.errbody);
            rc = x.abort_code == AFS_ENOMEM
                     ? afs__error_oom()
                     : afs__error_set(x.abort_code, "azure: %s: %s", what, x.abort_msg);
            break;
        }
        if (cc != CURLE_OK) {
            free(x.errbody);
            if (!errbuf[0])
                snprintf(errbuf, sizeof(errbuf), "%s", cu->easy_strerror(cc));
            redact_query(errbuf);
            transient = curl_transient(cc);
            if (transient && attempt < c->cfg.max_attempts) {
                unsigned int d = backoff_ms(&c->cfg, attempt, 0);
                afs__log(AFS_LOG_DEBUG, "azure: %s: attempt %u failed (%s); retrying in %u ms",
                         what, attempt, errbuf, d);
                azh_sleep_ms(d);
                continue;
            }
            if (transient)
                rc = afs__error_set(AFS_ETRANSIENT, "azure: %s: %s (gave up after %u attempts)",
                                    what, errbuf, attempt);
            else if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
                     cc == CURLE_SSL_CERTPROBLEM)
                rc = afs__error_set(AFS_EPERM, "azure: %s: TLS verification failed: %s", what,
                                    errbuf);
            else
                rc = afs__error_set(AFS_EIO, "azure: %s: %s", what, errbuf);
            break;
        }
        cu->easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
        if (status_transient(resp->status) && attempt < c->cfg.max_attempts) {
            unsigned int d = backoff_ms(&c->cfg, attempt, x.retry_after_ms);
            afs__log(AFS_LOG_DEBUG, "azure: %s: HTTP %ld %s on attempt %u; retrying in %u ms",
                     what, resp->status, resp->error_code, attempt, d);
            free(x.errbody);
            azh_sleep_ms(d);
            continue;
        }
        if (status_transient(resp->status)) {
            rc = afs__error_set(AFS_ETRANSIENT, "azure: %s: HTTP %ld %s (gave up after %u "
                                "attempts)", what, resp->status, resp->error_code, attempt);
            free(x.errbody);
            break;
        }
        if (resp->status >= 300 && x.errbody) {
            /* Keep the error answer's body for the caller (its <Code>). */
            free(resp->body);
            resp->body = x.errbody;
            resp->body_len = x.errbody_len;
            x.errbody = NULL;
        }
        free(x.errbody);
        afs__log(AFS_LOG_TRACE, "azure: %s %s%s -> %ld", req->method, c->target.path_prefix,
                 req->path, resp->status);
        rc = 0;
        break;
    }
done:
    handle_put(c, h);
    free(url);
    return rc;
}

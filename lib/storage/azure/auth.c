/*
 * Azure Storage authorization (auth.h): Shared Key and SAS, with mbedTLS
 * for HMAC-SHA256 and base64. The rules are those of the Storage REST
 * reference ("Authorize with Shared Key", "Create an account SAS",
 * "Create a service SAS"); docs/azure.md#security says what is checked.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <mbedtls/base64.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>

#include "../../core/internal.h"
#include "auth.h"

int aza_cred_init(struct aza_cred *c, const char *account, const char *key_b64, const char *sas)
{
    memset(c, 0, sizeof(*c));
    if (!account || !account[0] || strlen(account) >= sizeof(c->account))
        return afs__error_set(AFS_EINVAL, "azure: account name must be 1-63 characters");
    for (const char *p = account; *p; p++)
        if (!isalnum((unsigned char)*p))
            return afs__error_set(AFS_EINVAL, "azure: account name \"%.63s\" must be letters and "
                                  "digits", account);
    snprintf(c->account, sizeof(c->account), "%s", account);
    if (key_b64 && key_b64[0]) {
        size_t n = 0;
        if (mbedtls_base64_decode(c->key, sizeof(c->key), &n, (const unsigned char *)key_b64,
                                  strlen(key_b64)) != 0 ||
            n == 0) {
            mbedtls_platform_zeroize(c->key, sizeof(c->key));
            return afs__error_set(AFS_EINVAL, "azure: the account key is not valid base64 "
                                  "(value not shown)");
        }
        c->key_len = n;
    }
    if (sas && sas[0]) {
        if (sas[0] == '?')
            sas++;
        if (strpbrk(sas, " \t\r\n#"))
            return afs__error_set(AFS_EINVAL, "azure: the SAS token holds spaces or '#' "
                                  "(value not shown)");
        if (!(c->sas = afs__strdup(sas)))
            return AFS_ENOMEM;
    }
    return 0;
}

void aza_cred_free(struct aza_cred *c)
{
    if (!c)
        return;
    if (c->sas) {
        mbedtls_platform_zeroize(c->sas, strlen(c->sas));
        free(c->sas);
    }
    mbedtls_platform_zeroize(c, sizeof(*c));
}

int aza_hmac_b64(const unsigned char *key, size_t key_len, const char *text, char *out,
                 size_t cap)
{
    unsigned char mac[32];
    size_t olen = 0;
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);

    if (!md || mbedtls_md_hmac(md, key, key_len, (const unsigned char *)text, strlen(text),
                               mac) != 0)
        return afs__error_set(AFS_EIO, "azure: HMAC-SHA256 failed");
    if (mbedtls_base64_encode((unsigned char *)out, cap, &olen, mac, sizeof(mac)) != 0)
        return afs__error_set(AFS_EIO, "azure: base64 of the signature failed");
    mbedtls_platform_zeroize(mac, sizeof(mac));
    return 0;
}

/* ---- Shared Key string to sign ---- */

/* A growing string. */
struct sbuf {
    char *s;
    size_t len, cap;
    bool oom;
};

static void sb_addn(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 256;
        char *ns;
        while (ncap < b->len + n + 1)
            ncap *= 2;
        ns = realloc(b->s, ncap);
        if (!ns) {
            b->oom = true;
            return;
        }
        b->s = ns;
        b->cap = ncap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_add(struct sbuf *b, const char *s)
{
    sb_addn(b, s, strlen(s));
}

static const char *find_header(const struct azh_request *req, const struct azh_kv *extra,
                               size_t nextra, const char *name)
{
    const char *v = azh_header_get(req, name);
    for (size_t i = 0; !v && i < nextra; i++)
        if (strcasecmp(extra[i].name, name) == 0)
            v = extra[i].value;
    return v;
}

struct canon {
    char name[64];
    const char *value;
};

static int canon_cmp(const void *a, const void *b)
{
    return strcmp(((const struct canon *)a)->name, ((const struct canon *)b)->name);
}

/* A header value with its runs of whitespace folded to one space, trimmed. */
static void sb_add_folded(struct sbuf *b, const char *v)
{
    bool space = false, started = false;
    for (; *v; v++) {
        if (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n') {
            space = started;
            continue;
        }
        if (space)
            sb_addn(b, " ", 1);
        space = false;
        started = true;
        sb_addn(b, v, 1);
    }
}

int aza_string_to_sign(const char *account, const char *path_prefix,
                       const struct azh_request *req, const struct azh_kv *extra, size_t nextra,
                       char **out)
{
    static const char *const std[] = { "Content-Encoding", "Content-Language", NULL /* length */,
                                       "Content-MD5", "Content-Type", "Date",
                                       "If-Modified-Since", "If-Match", "If-None-Match",
                                       "If-Unmodified-Since", "Range" };
    struct canon hdr[AZH_MAX_HEADERS + 4];
    struct canon q[AZH_MAX_QUERY];
    struct sbuf b = { 0 };
    size_t nh = 0;

    *out = NULL;
    sb_add(&b, req->method);
    sb_add(&b, "\n");
    for (size_t i = 0; i < AFS__ARRAY_LEN(std); i++) {
        if (!std[i]) {
            /* Since 2015-02-21 a zero Content-Length is signed as "". */
            if (strcmp(req->method, "PUT") == 0 && req->body_len > 0) {
                char n[32];
                snprintf(n, sizeof(n), "%zu", req->body_len);
                sb_add(&b, n);
            }
        } else {
            const char *v = find_header(req, extra, nextra, std[i]);
            if (v)
                sb_add(&b, v);
        }
        sb_add(&b, "\n");
    }
    /* Canonicalized headers: every x-ms-*, lower-case, sorted. */
    for (size_t i = 0; i < req->nheaders + nextra; i++) {
        const struct azh_kv *kv = i < req->nheaders ? &req->headers[i] : &extra[i - req->nheaders];
        size_t j, n = strlen(kv->name);
        if (n < 5 || strncasecmp(kv->name, "x-ms-", 5) != 0)
            continue;
        if (n >= sizeof(hdr[0].name))
            return afs__error_set(AFS_EINVAL, "azure: header name too long");
        for (j = 0; j < n; j++)
            hdr[nh].name[j] = (char)tolower((unsigned char)kv->name[j]);
        hdr[nh].name[n] = '\0';
        hdr[nh].value = kv->value;
        nh++;
    }
    qsort(hdr, nh, sizeof(hdr[0]), canon_cmp);
    for (size_t i = 0; i < nh; i++) {
        sb_add(&b, hdr[i].name);
        sb_add(&b, ":");
        sb_add_folded(&b, hdr[i].value);
        sb_add(&b, "\n");
    }
    /* Canonicalized resource: /account/encoded-path, then sorted query. */
    sb_add(&b, "/");
    sb_add(&b, account);
    sb_add(&b, path_prefix);
    sb_add(&b, req->path);
    for (size_t i = 0; i < req->nquery; i++) {
        size_t n = strlen(req->query[i].name), j;
        if (n >= sizeof(q[0].name))
            return afs__error_set(AFS_EINVAL, "azure: query name too long");
        for (j = 0; j < n; j++)
            q[i].name[j] = (char)tolower((unsigned char)req->query[i].name[j]);
        q[i].name[n] = '\0';
        q[i].value = req->query[i].value;
    }
    qsort(q, req->nquery, sizeof(q[0]), canon_cmp);
    for (size_t i = 0; i < req->nquery; i++) {
        sb_add(&b, "\n");
        sb_add(&b, q[i].name);
        sb_add(&b, ":");
        sb_add(&b, q[i].value);
    }
    if (b.oom) {
        free(b.s);
        return afs__error_oom();
    }
    *out = b.s;
    return 0;
}

int aza_sign(void *payload, const struct azh_request *req, struct azh_kv *extra,
             size_t extra_max, size_t *nextra, char *store, size_t store_size)
{
    const struct aza_signer *s = payload;
    const struct aza_cred *c = s->cred;
    char *date = store, *auth = store + 32, *sts = NULL;
    char sig[64];
    int rc;

    *nextra = 0;
    if (extra_max < 2 || store_size < 32 + 160)
        return afs__error_set(AFS_EINVAL, "azure: signer: no room");
    azh_http_date((int64_t)time(NULL), date);
    extra[(*nextra)++] = (struct azh_kv){ "x-ms-date", date };
    if (c->key_len == 0)
        return 0; /* SAS (in the query) or anonymous */
    if ((rc = aza_string_to_sign(c->account, s->path_prefix, req, extra, *nextra, &sts)) != 0)
        return rc;
    rc = aza_hmac_b64(c->key, c->key_len, sts, sig, sizeof(sig));
    free(sts);
    if (rc != 0)
        return rc;
    snprintf(auth, store_size - 32, "SharedKey %s:%s", c->account, sig);
    mbedtls_platform_zeroize(sig, sizeof(sig));
    extra[(*nextra)++] = (struct azh_kv){ "Authorization", auth };
    return 0;
}

/* ---- SAS ---- */

static int sas_finish(const struct aza_cred *c, const char *sts, const char *fields, char **out)
{
    char sig[64];
    char *enc;
    int rc;

    if ((rc = aza_hmac_b64(c->key, c->key_len, sts, sig, sizeof(sig))) != 0)
        return rc;
    enc = azh_url_encode(sig, strlen(sig), false);
    mbedtls_platform_zeroize(sig, sizeof(sig));
    if (!enc)
        return AFS_ENOMEM;
    *out = afs__sprintf("%s&sig=%s", fields, enc);
    free(enc);
    return *out ? 0 : AFS_ENOMEM;
}

static bool sas_field_ok(const char *v)
{
    /* Permissions, services, dates and protocol lists need no escaping. */
    return v && strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-:,.") ==
                    strlen(v);
}

int aza_sas_account(const struct aza_cred *c, const char *ss, const char *srt, const char *sp,
                    const char *se, const char *spr, char **out)
{
    char *sts, *fields;
    int rc;

    *out = NULL;
    if (c->key_len == 0)
        return afs__error_set(AFS_EINVAL, "azure: making a SAS needs the account key");
    if (!sas_field_ok(ss) || !sas_field_ok(srt) || !sas_field_ok(sp) || !sas_field_ok(se) ||
        !sas_field_ok(spr))
        return afs__error_set(AFS_EINVAL, "azure: bad account SAS field");
    /* Version 2020-12-06 and later sign the encryption scope too (empty). */
    sts = afs__sprintf("%s\n%s\n%s\n%s\n\n%s\n\n%s\n%s\n\n", c->account, sp, ss, srt, se, spr,
                       AZA_VERSION);
    fields = afs__sprintf("sv=%s&ss=%s&srt=%s&sp=%s&se=%s&spr=%s", AZA_VERSION, ss, srt, sp, se,
                          spr);
    rc = sts && fields ? sas_finish(c, sts, fields, out) : AFS_ENOMEM;
    free(sts);
    free(fields);
    return rc;
}

int aza_sas_service(const struct aza_cred *c, const char *container, const char *blob,
                    const char *sp, const char *se, const char *spr, char **out)
{
    char *sts, *fields;
    int rc;

    *out = NULL;
    if (c->key_len == 0)
        return afs__error_set(AFS_EINVAL, "azure: making a SAS needs the account key");
    if (!container || !container[0] || !sas_field_ok(sp) || !sas_field_ok(se) ||
        !sas_field_ok(spr))
        return afs__error_set(AFS_EINVAL, "azure: bad service SAS field");
    /* permissions, start, expiry, resource, identifier, IP, protocol,
     * version, resource type, snapshot time, encryption scope, and the five
     * response header overrides (all empty here). */
    sts = afs__sprintf("%s\n\n%s\n/blob/%s/%s%s%s\n\n\n%s\n%s\n%s\n\n\n\n\n\n\n", sp, se,
                       c->account, container, blob ? "/" : "", blob ? blob : "", spr,
                       AZA_VERSION, blob ? "b" : "c");
    fields = afs__sprintf("sv=%s&sr=%s&sp=%s&se=%s&spr=%s", AZA_VERSION, blob ? "b" : "c", sp, se,
                          spr);
    rc = sts && fields ? sas_finish(c, sts, fields, out) : AFS_ENOMEM;
    free(sts);
    free(fields);
    return rc;
}

/* ---- redaction ---- */

static void blank_all(char *msg, const char *secret, size_t n)
{
    char *p;
    if (n < 4)
        return;
    while ((p = strstr(msg, secret)) != NULL)
        memset(p, '*', n);
}

void aza_redact(const struct aza_cred *c, char *msg)
{
    char *p;
    if (!msg)
        return;
    /* Any "sig=" value, whoever's. */
    p = msg;
    while ((p = strstr(p, "sig=")) != NULL) {
        p += 4;
        while (*p && *p != '&' && *p != ' ' && *p != '"' && *p != '\'')
            *p++ = '*';
    }
    if (!c)
        return;
    if (c->key_len) {
        char b64[200];
        size_t olen = 0;
        if (mbedtls_base64_encode((unsigned char *)b64, sizeof(b64), &olen, c->key,
                                  c->key_len) == 0) {
            blank_all(msg, b64, olen);
            mbedtls_platform_zeroize(b64, sizeof(b64));
        }
    }
    if (c->sas) {
        const char *s = strstr(c->sas, "sig=");
        if (s) {
            char sig[256];
            size_t n = strcspn(s + 4, "&");
            if (n < sizeof(sig)) {
                memcpy(sig, s + 4, n);
                sig[n] = '\0';
                blank_all(msg, sig, n);
            }
        }
        blank_all(msg, c->sas, strlen(c->sas));
    }
}

/*
 * The HTTP layer of the Azure backends (libcurl): a pool of reusable
 * connections, timeouts, retries with backoff and jitter, TLS always
 * verified, plain http only to loopback unless allowed. It knows nothing of
 * Azure beyond "sign each attempt again": the caller passes a signer that
 * adds the date and Authorization headers (lib/storage/azure/auth.c).
 *
 * Nothing here ever logs or reports a URL's query string (it may hold a
 * SAS) or a request header's value.
 */
#ifndef AFS_AZURE_HTTP_H
#define AFS_AZURE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AZH_MAX_HEADERS 40
#define AZH_MAX_QUERY 12
#define AZH_MAX_META 64

struct azh_kv {
    const char *name;
    const char *value;
};

/* Where requests go: "http(s)://host[:port]" and the path prefix
 * ("/devstoreaccount1" for a path-style emulator endpoint, "" otherwise). */
struct azh_target {
    char base[512];
    char path_prefix[256];
    char host[256];
    bool https;
    bool loopback;
};

/* Split and check an endpoint URL. Plain http is refused (AFS_EPERM) unless
 * the host is a loopback address or `allow_http` is set. */
int azh_target_parse(const char *endpoint, bool allow_http, struct azh_target *out);

struct azh_config {
    const char *ca_file;          /* NULL: the system CA store */
    unsigned int max_attempts;    /* >= 1 */
    unsigned int connect_timeout_ms;
    unsigned int timeout_ms;      /* no byte moved for this long: the attempt fails */
    unsigned int retry_base_ms;   /* first backoff */
    unsigned int retry_max_ms;    /* cap of one backoff */
};

typedef struct azh_client azh_client;

int azh_client_new(azh_client **out, const struct azh_target *target,
                   const struct azh_config *cfg);
void azh_client_free(azh_client *c);
const struct azh_target *azh_client_target(const azh_client *c);

/* One request. Header and query names are what goes on the wire; query
 * values are raw (encoded here). */
struct azh_request {
    const char *method;                 /* "GET", "HEAD", "PUT", "DELETE" */
    const char *path;                   /* encoded, after the target's path prefix */
    struct azh_kv query[AZH_MAX_QUERY];
    size_t nquery;
    struct azh_kv headers[AZH_MAX_HEADERS];
    size_t nheaders;
    const void *body;                   /* PUT body (may be NULL with body_len 0) */
    size_t body_len;
    /* Response body: into `out_buf` (at most out_cap bytes; more is an
     * error) or, with out_buf NULL, into a malloc'd buffer of at most
     * `body_limit` bytes (0: the body is discarded). */
    void *out_buf;
    size_t out_cap;
    size_t body_limit;
    /* Raw query appended after the encoded one (a SAS token); never logged. */
    const char *raw_query;
};

struct azh_response {
    long status;
    char etag[128];
    char last_modified[64];
    char creation_time[64];
    char error_code[96];
    char content_md5[64];
    char blob_content_md5[64];          /* the whole object's MD5 on a ranged read
                                           (x-ms-blob-content-md5, x-ms-content-md5) */
    char content_range[96];
    char copy_status[32];
    char resource_type[32];             /* x-ms-resource-type (hierarchical accounts) */
    char file_attributes[160];          /* x-ms-file-attributes (Files) */
    char file_creation_time[40];        /* x-ms-file-creation-time (Files, ISO 8601) */
    char file_last_write_time[40];      /* x-ms-file-last-write-time (Files, ISO 8601) */
    int64_t content_length;             /* -1 if absent */
    struct azh_kv meta[AZH_MAX_META];   /* x-ms-meta-*: names lower-case without the prefix */
    size_t nmeta;
    bool meta_overflow;
    char *body;                         /* with out_buf NULL and body_limit > 0 */
    size_t body_len;
    size_t out_len;                     /* bytes stored in out_buf */
    unsigned int attempts;
};

void azh_response_free(struct azh_response *r);
const char *azh_response_meta(const struct azh_response *r, const char *name);

/* Add a header to `req` (value borrowed). AFS_ELIMIT past AZH_MAX_HEADERS. */
int azh_header_add(struct azh_request *req, const char *name, const char *value);
int azh_query_add(struct azh_request *req, const char *name, const char *value);
/* Case-insensitive header lookup in a request; NULL if absent. */
const char *azh_header_get(const struct azh_request *req, const char *name);

/*
 * Called before every attempt: add the per-attempt headers (x-ms-date,
 * Authorization) into `extra` (room for `extra_max` pairs, values owned by
 * `store`, `store_size` bytes). Return 0 or an afs code (no retry).
 */
typedef int (*azh_sign_fn)(void *payload, const struct azh_request *req, struct azh_kv *extra,
                           size_t extra_max, size_t *nextra, char *store, size_t store_size);

/*
 * Perform `req`, retrying on 408, 429, 500, 502, 503, 504, timeouts and
 * dropped connections with exponential backoff and full jitter, honouring
 * Retry-After. Returns 0 with resp->status set for any final HTTP answer
 * (the caller maps it), AFS_ETRANSIENT when the retries ran out, AFS_EIO for
 * a malformed or oversized response, AFS_EPERM for a TLS verification
 * failure. Sets the thread's error (without secrets) on failure.
 * `what` names the operation in messages ("put a/b.txt").
 */
int azh_perform(azh_client *c, struct azh_request *req, struct azh_response *resp,
                azh_sign_fn sign, void *sign_payload, const char *what);

/* Percent-encode `s` (`len` bytes) for a URL path (keeping '/' when
 * `keep_slash`) into a malloc'd string. */
char *azh_url_encode(const char *s, size_t len, bool keep_slash);

/* "Mon, 27 Jan 2025 10:00:00 GMT" <-> Unix seconds. */
void azh_http_date(int64_t t, char out[32]);
int64_t azh_parse_http_date(const char *s);

/* Retry tuning for tests: a delay function used instead of nanosleep. */
void azh_sleep_ms(unsigned int ms);

/* Tests only (curl_load.c): load `soname` instead of libcurl.so.4, to see
 * what a host without libcurl gets. Call before the first Azure backend is
 * opened; once libcurl was looked for, it is ignored. */
void azh_curl_test_soname(const char *soname);

#endif /* AFS_AZURE_HTTP_H */

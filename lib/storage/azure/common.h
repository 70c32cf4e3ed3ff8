/*
 * What the Azure backends (blob.c, files.c) share: URIs of the form
 * <scheme>://<account>/<container-or-share>[/<prefix>][?endpoint=<url>],
 * credentials and the HTTP client built from afs_azure_options, one signed
 * request with redacted messages, the mapping of error answers, etags,
 * MD5s and sources.
 */
#ifndef AFS_AZURE_COMMON_H
#define AFS_AZURE_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "afs.h"
#include "auth.h"
#include "http.h"

/* One service: its URI scheme, public host suffix and what a top-level name is. */
struct azc_service {
    const char *scheme;      /* "azblob" */
    const char *host_suffix; /* ".blob.core.windows.net" */
    const char *kind;        /* "container" / "share" (messages) */
};

struct azc_uri {
    char account[64];
    char root[64];  /* container or share */
    char *prefix;   /* "" or "a/b/" (raw) */
    char *endpoint; /* NULL: the public endpoint of the account */
};

/* Is `uri` one of `svc` (its scheme, or an https URL of its public host)? */
bool azc_uri_match(const char *uri, const struct azc_service *svc);
/* Parse and check `uri` (docs/azure.md#uris). AFS_EINVAL / AFS_EINVALIDNAME. */
int azc_uri_parse(const char *uri, const struct azc_service *svc, struct azc_uri *out);
void azc_uri_free(struct azc_uri *u);

/* A signed connection to one account. */
struct azc_conn {
    azh_client *http;
    struct aza_cred cred;
    struct aza_signer signer;
};

/*
 * Check `opts` (NULL: defaults) into `*resolved` (zero fields given their
 * defaults), take the credentials (options, else the environment unless
 * AFS_AZURE_NO_ENV) and make the HTTP client for `u`'s endpoint.
 */
int azc_conn_open(struct azc_conn *c, const struct azc_uri *u, const struct azc_service *svc,
                  const afs_azure_options *opts, afs_azure_options *resolved);
void azc_conn_close(struct azc_conn *c);

/* What both backends keep: the connection, the container or share, the prefix. */
struct azc_root {
    struct azc_conn conn;
    char name[64]; /* container or share */
    char *prefix;  /* "" or "p/q/" (raw) */
    char *path;    /* "/<name>" */
};

/* Parse `uri`, open the connection (azc_conn_open) and fill `r`. */
int azc_root_open(struct azc_root *r, const char *uri, const struct azc_service *svc,
                  const afs_azure_options *opts, afs_azure_options *resolved);
void azc_root_close(struct azc_root *r);

/* The ctl slot of a backend called `name`: AFS_STORAGE_CTL_NAME only. */
int azc_ctl(int op, void *arg, const char *name);

/* Does the connection authenticate with a SAS (no key)? */
bool azc_uses_sas(const struct azc_conn *c);

/* The full URL of request path `path`, with the SAS when that is the
 * credential (the source of a server-side copy or rename must carry it);
 * malloc'd: wipe it before freeing. */
char *azc_full_url(const struct azc_conn *c, const char *path);

/* Perform `q` signed (x-ms-version added); messages pass the redactor. */
int azc_do_req(struct azc_conn *c, struct azh_request *q, struct azh_response *r,
               const char *what);

/* `path` (raw) with `if_match` (quoted here) when not NULL and one more
 * optional header: the common shape of HEAD and DELETE requests. */
int azc_simple_req(struct azc_conn *c, const char *method, const char *path,
                   const char *if_match, const char *hname, const char *hvalue,
                   struct azh_response *r, const char *what);

/* The error code of an answer (header or XML body), "no error code" if none. */
const char *azc_err_code(struct azh_response *r);
/* Map a final non-success answer to an afs code with a message. */
int azc_map_status(struct azh_response *r, const char *what);

/* An etag without its quotes / with them (for If-Match). */
void azc_etag_norm(const char *in, char *out, size_t cap);
void azc_etag_quote(const char *etag, char *out, size_t cap);
bool azc_etag_same(const char *a, const char *b);

bool azc_parse_i64(const char *s, int64_t *out);
/* base64(MD5(data)) into `out`. */
int azc_md5_b64(const void *data, size_t len, char out[32]);
/* Pull exactly `len` bytes at `off` from a put's source. */
int azc_src_fill(afs_read_fn src, void *payload, uint64_t off, unsigned char *buf, size_t len,
                 const char *what);
/* The parent of a relative path ("" for a top-level name), malloc'd. */
char *azc_parent_of(const char *path);
/* Percent-encode `prefix` + `path` (+ "/" with `trailing_slash`) after "/<root>/". */
char *azc_url_path(const char *root_path, const char *prefix, const char *path,
                   bool trailing_slash);

/* The services hash a ranged read up to this size (x-ms-range-get-content-md5). */
#define AZC_RANGE_MD5_MAX (4u << 20)

/* A put's condition against the HEAD answer `r` (200 or 404) of its target:
 * AFS_ECONDITION if it cannot hold, so a doomed upload moves no bytes. */
int azc_condition_check(struct azh_response *r, unsigned int condition, const char *if_match,
                        const char *what);

/* Fill `q` (cleared first) as a GET of the `len` (> 0) bytes at `offset` of
 * `url_path` into `buf`: x-ms-range, formatted into `range`, which must
 * outlive the request, and x-ms-range-get-content-md5 up to AZC_RANGE_MD5_MAX. */
void azc_range_get(struct azh_request *q, const char *url_path, uint64_t offset, void *buf,
                   size_t len, char range[64]);

/* Check a 200/206 answer to a ranged GET of `len` bytes at `offset` into
 * `buf`: Content-Range, Content-Length and the MD5s; *nread the bytes. */
int azc_range_result(struct azh_response *r, uint64_t offset, size_t len, const void *buf,
                     size_t *nread, const char *what);

/* Send chunk `index` (`n` bytes at `off`, base64 MD5 `md5`) of an upload. */
typedef int (*azc_chunk_fn)(void *payload, uint32_t index, uint64_t off,
                            const unsigned char *buf, size_t n, const char *md5);
/* Read `size` bytes from `src` in chunks of `chunk`, `parallelism` at a
 * time through `fn`; the whole object's base64 MD5 into `whole_md5`. The
 * first failure stops all and is returned (a source's code unchanged). */
int azc_upload_chunks(afs_read_fn src, void *src_payload, uint64_t size, uint64_t chunk,
                      unsigned int parallelism, azc_chunk_fn fn, void *fn_payload,
                      char whole_md5[32], const char *what);

/* User metadata key `k` is stored as x-ms-meta-afsu_<k> (metadata names
 * must be identifiers; user keys may start with a digit). */
#define AZC_META_USER "afsu_"
/* Add a put's user metadata headers; names malloc'd into `names` (`cap`). */
int azc_user_meta_add(struct azh_request *q, char **names, size_t cap,
                      const afs_storage_put_options *o);
/* meta_get from a HEAD answer: check `key`, copy its value like snprintf. */
int azc_meta_lookup(const struct azh_response *r, const char *key, char *buf, size_t cap,
                    size_t *len, const char *what);

#endif /* AFS_AZURE_COMMON_H */

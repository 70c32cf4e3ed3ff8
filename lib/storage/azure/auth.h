/*
 * Azure Storage authorization (mbedTLS): Shared Key request signing and
 * SAS tokens (using one, and making account and service SAS from a key).
 * The key and the SAS never leave this module except on the wire; every
 * message that could contain them goes through aza_redact().
 */
#ifndef AFS_AZURE_AUTH_H
#define AFS_AZURE_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"

/* The service version every request speaks (x-ms-version). */
#define AZA_VERSION "2021-12-02"

struct aza_cred {
    char account[64];
    unsigned char key[128]; /* decoded Shared Key */
    size_t key_len;
    char *sas;              /* SAS token without the leading '?', or NULL */
};

/*
 * Set up credentials: `key_b64` (base64 account key) or `sas` (a token,
 * with or without '?'); with neither, requests go unsigned (public
 * containers). A key that is not base64 is AFS_EINVAL, without echoing it.
 */
int aza_cred_init(struct aza_cred *c, const char *account, const char *key_b64, const char *sas);
/* Wipe and free. */
void aza_cred_free(struct aza_cred *c);

/*
 * The Shared Key string to sign of `req` plus the per-attempt headers
 * `extra` (x-ms-date), for `account`; `path_prefix` is the endpoint's path
 * ("/devstoreaccount1" path-style). Malloc'd into *out.
 */
int aza_string_to_sign(const char *account, const char *path_prefix,
                       const struct azh_request *req, const struct azh_kv *extra, size_t nextra,
                       char **out);

/* base64(HMAC-SHA256(key, text)) into `out` (at least 45 bytes). */
int aza_hmac_b64(const unsigned char *key, size_t key_len, const char *text, char *out,
                 size_t cap);

/*
 * The azh_sign_fn of the backends: adds x-ms-date and, with a key,
 * "Authorization: SharedKey <account>:<signature>". `payload` is a struct
 * aza_signer.
 */
struct aza_signer {
    const struct aza_cred *cred;
    const char *path_prefix;
};
int aza_sign(void *payload, const struct azh_request *req, struct azh_kv *extra,
             size_t extra_max, size_t *nextra, char *store, size_t store_size);

/*
 * An account SAS token ("sv=...&sig=..."), malloc'd: services `ss`
 * ("b"), resource types `srt` ("sco"), permissions `sp` ("rwdlacup"),
 * expiry `se` (ISO 8601 "2030-01-01T00:00:00Z"), protocol `spr`
 * ("https" or "https,http"). Needs the key.
 */
int aza_sas_account(const struct aza_cred *c, const char *ss, const char *srt, const char *sp,
                    const char *se, const char *spr, char **out);

/* A service SAS for a container (`blob` NULL, sr=c) or one blob (sr=b). */
int aza_sas_service(const struct aza_cred *c, const char *container, const char *blob,
                    const char *sp, const char *se, const char *spr, char **out);

/* Overwrite in place anything in `msg` that is the key (base64), the SAS's
 * signature, or a "sig=" value. */
void aza_redact(const struct aza_cred *c, char *msg);

#endif /* AFS_AZURE_AUTH_H */

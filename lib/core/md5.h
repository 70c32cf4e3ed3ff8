/*
 * MD5 content hashes (mbedTLS). MD5 is what Azure Storage keeps as an
 * object's Content-MD5, so the same digest identifies content on both
 * sides; it detects change, it is not a security boundary.
 */
#ifndef AFS_CORE_MD5_H
#define AFS_CORE_MD5_H

#include <stddef.h>
#include <stdint.h>

#define AFS__MD5_LEN 16

typedef struct afs__md5 {
    uint64_t opaque[16]; /* room for mbedtls_md5_context, checked in md5.c */
} afs__md5;

void afs__md5_init(afs__md5 *ctx);
void afs__md5_update(afs__md5 *ctx, const void *data, size_t len);
void afs__md5_final(afs__md5 *ctx, uint8_t out[AFS__MD5_LEN]);
/* Lower-case hex, 33 bytes with the NUL. */
void afs__md5_hex(const uint8_t md5[AFS__MD5_LEN], char out[2 * AFS__MD5_LEN + 1]);
/* Parse 32 hex digits; returns 0 or AFS_EINVAL. */
int afs__md5_parse(const char *hex, uint8_t out[AFS__MD5_LEN]);

#endif

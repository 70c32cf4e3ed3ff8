/* MD5 over mbedTLS 2.28 (lib/core/md5.h). */
#include <mbedtls/md5.h>
#include <string.h>

#include "internal.h"
#include "md5.h"

_Static_assert(sizeof(afs__md5) >= sizeof(mbedtls_md5_context), "afs__md5 too small");

void afs__md5_init(afs__md5 *ctx)
{
    mbedtls_md5_context *c = (mbedtls_md5_context *)ctx;
    mbedtls_md5_init(c);
    mbedtls_md5_starts_ret(c); /* cannot fail for software MD5 */
}

void afs__md5_update(afs__md5 *ctx, const void *data, size_t len)
{
    mbedtls_md5_update_ret((mbedtls_md5_context *)ctx, data, len);
}

void afs__md5_final(afs__md5 *ctx, uint8_t out[AFS__MD5_LEN])
{
    mbedtls_md5_context *c = (mbedtls_md5_context *)ctx;
    mbedtls_md5_finish_ret(c, out);
    mbedtls_md5_free(c);
}

void afs__md5_hex(const uint8_t md5[AFS__MD5_LEN], char out[2 * AFS__MD5_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < AFS__MD5_LEN; i++) {
        out[2 * i] = hex[md5[i] >> 4];
        out[2 * i + 1] = hex[md5[i] & 15];
    }
    out[2 * AFS__MD5_LEN] = '\0';
}

int afs__md5_parse(const char *hex, uint8_t out[AFS__MD5_LEN])
{
    if (!hex || strlen(hex) != 2 * AFS__MD5_LEN)
        return AFS_EINVAL;
    for (int i = 0; i < AFS__MD5_LEN; i++) {
        int hi = afs__hexval(hex[2 * i]), lo = afs__hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return AFS_EINVAL;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

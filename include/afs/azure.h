/*
 * libafs: the Azure Blob storage backend (docs/azure.md).
 *
 * A container (or a prefix inside one) is a cloud share. Open it from a URI
 * with afs_storage_open() (the "azblob" scheme and https://<account>.blob.
 * core.windows.net/<container> URLs are built in; credentials then come
 * from the environment: AFS_AZURE_ACCOUNT_KEY or AFS_AZURE_SAS), or with
 * afs_storage_azblob_new() and explicit options.
 */
#ifndef AFS_AZURE_H
#define AFS_AZURE_H

#include "common.h"
#include "sys/storage.h"

AFS_BEGIN_DECL

/* afs_azure_options.flags */
#define AFS_AZURE_ALLOW_HTTP 0x01u /* allow plain http to a host that is not loopback */
#define AFS_AZURE_NO_ENV 0x02u     /* never read credentials from the environment */

typedef struct afs_azure_options {
    unsigned int version;
    const char *account_key;     /* base64 Shared Key; NULL: $AFS_AZURE_ACCOUNT_KEY */
    const char *sas;             /* SAS token ("sv=...&sig=..."); NULL: $AFS_AZURE_SAS.
                                    Used when there is no account key */
    const char *ca_file;         /* PEM CA bundle for https; NULL: the system store */
    uint32_t flags;              /* AFS_AZURE_* */
    uint32_t max_attempts;       /* tries per request; 0: 6 */
    uint32_t connect_timeout_ms; /* 0: 10000 */
    uint32_t timeout_ms;         /* a request moving no byte for this long fails; 0: 60000 */
    uint32_t retry_base_ms;      /* first retry delay (doubles, jittered); 0: 250 */
    uint32_t parallelism;        /* blocks uploaded at once by one put; 0: 8 */
    uint64_t block_size;         /* bytes per block of a large upload; 0: 4 MiB */
    uint64_t single_put_max;     /* larger objects go up in blocks; 0: 4 MiB */
} afs_azure_options;

#define AFS_AZURE_OPTIONS_VERSION 1
#define AFS_AZURE_OPTIONS_INIT \
    { AFS_AZURE_OPTIONS_VERSION, NULL, NULL, NULL, 0, 0, 0, 0, 0, 0, 0, 0 }

/* Fill `opts` with the defaults of `version`. Errors: AFS_EINVAL, AFS_EVERSION. */
AFS_EXTERN int afs_azure_options_init(afs_azure_options *opts, unsigned int version);

/*
 * Open the container named by `uri` as a share:
 *   azblob://<account>/<container>[/<prefix>][?endpoint=<url>]
 *   https://<account>.blob.core.windows.net/<container>[/<prefix>]
 * (docs/azure.md#uris). `opts` may be NULL. The container must exist. Free
 * with afs_storage_free().
 * Errors: AFS_EINVAL (malformed URI or options), AFS_EPERM (plain http to
 * a host that is not loopback without AFS_AZURE_ALLOW_HTTP; credentials
 * refused), AFS_ENOTFOUND (no such container), AFS_ETRANSIENT, AFS_EIO,
 * AFS_EVERSION, AFS_ENOMEM.
 */
AFS_EXTERN int afs_storage_azblob_new(afs_storage **out, const char *uri,
                                      const afs_azure_options *opts);

AFS_END_DECL

#endif /* AFS_AZURE_H */

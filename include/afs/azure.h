/*
 * libafs: the Azure Blob and Azure Files storage backends (docs/azure.md).
 *
 * A container (or a prefix inside one), or an Azure Files share (or a
 * directory inside one), is a cloud share. Open it from a URI with
 * afs_storage_open() (the "azblob" and "azfiles" schemes and
 * https://<account>.blob.core.windows.net/<container> and
 * https://<account>.file.core.windows.net/<share> URLs are built in;
 * credentials then come from the environment: AFS_AZURE_ACCOUNT_KEY or
 * AFS_AZURE_SAS), or with afs_storage_azblob_new() /
 * afs_storage_azfiles_new() and explicit options.
 */
#ifndef AFS_AZURE_H
#define AFS_AZURE_H

#include "common.h"
#include "sys/storage.h"

AFS_BEGIN_DECL

/* afs_azure_options.flags */
#define AFS_AZURE_ALLOW_HTTP 0x01u /* allow plain http to a host that is not loopback */
#define AFS_AZURE_NO_ENV 0x02u     /* never read credentials from the environment */

/* Options of the Azure backends; the library reads only the fields of `version`. */
typedef struct afs_azure_options {
    unsigned int version;        /* set by the caller: AFS_AZURE_OPTIONS_VERSION */
    const char *account_key;     /* base64 Shared Key; NULL: $AFS_AZURE_ACCOUNT_KEY */
    const char *sas;             /* SAS token ("sv=...&sig=..."); NULL: $AFS_AZURE_SAS.
                                    Used when there is no account key */
    const char *ca_file;         /* PEM CA bundle for https; NULL: the system store */
    uint32_t flags;              /* AFS_AZURE_* */
    uint32_t max_attempts;       /* tries per request; 0: 6 */
    uint32_t connect_timeout_ms; /* 0: 10000 */
    uint32_t timeout_ms;         /* a request moving no byte for this long fails; 0: 60000 */
    uint32_t retry_base_ms;      /* first retry delay (doubles, jittered); 0: 250 */
    uint32_t parallelism;        /* blocks (ranges) uploaded at once by one put; 0: 8 */
    uint64_t block_size;         /* bytes per block (Files: per range, at most 4 MiB) of a
                                    large upload; 0: 4 MiB */
    uint64_t single_put_max;     /* Blob: larger objects go up in blocks; 0: 4 MiB */
    /* version 1 ends here */
} afs_azure_options;

#define AFS_AZURE_OPTIONS_VERSION 1
#define AFS_AZURE_OPTIONS_INIT \
    { AFS_AZURE_OPTIONS_VERSION, NULL, NULL, NULL, 0, 0, 0, 0, 0, 0, 0, 0 }

/*
 * Fill the fields of `version` of `opts` with their defaults and set
 * opts->version; nothing past that version's fields is written.
 * Errors: AFS_EINVAL (opts NULL), AFS_EVERSION (0 or a version this libafs
 * does not know; opts untouched).
 */
AFS_EXTERN int afs_azure_options_init(afs_azure_options *opts, unsigned int version);

/*
 * Open the container named by `uri` as a share:
 *   azblob://<account>/<container>[/<prefix>][?endpoint=<url>]
 *   https://<account>.blob.core.windows.net/<container>[/<prefix>]
 * (docs/azure.md#uris). `opts` may be NULL; otherwise only the fields of
 * opts->version are read (AFS_EVERSION for 0 or a version this libafs does
 * not know). The container must exist. Free with afs_storage_free().
 * Errors: AFS_EINVAL (malformed URI or options), AFS_EPERM (plain http to
 * a host that is not loopback without AFS_AZURE_ALLOW_HTTP; credentials
 * refused), AFS_ENOTFOUND (no such container), AFS_ETRANSIENT, AFS_EIO,
 * AFS_EVERSION, AFS_ENOMEM, AFS_ENOTSUP (libcurl.so.4 cannot be loaded: the
 * Azure backends load it when the first one is opened, docs/azure.md).
 */
AFS_EXTERN int afs_storage_azblob_new(afs_storage **out, const char *uri,
                                      const afs_azure_options *opts);

/*
 * Open the Azure Files share named by `uri` as a cloud share:
 *   azfiles://<account>/<share>[/<directory>][?endpoint=<url>]
 *   https://<account>.file.core.windows.net/<share>[/<directory>]
 * (docs/azure.md#the-azure-files-backend). `opts` may be NULL
 * (credentials from the environment); otherwise only the fields of
 * opts->version are read. The share, and the directory if
 * one is named, must exist. Free with afs_storage_free().
 * Errors: AFS_EINVAL (malformed URI or options, block_size over 4 MiB),
 * AFS_EPERM (plain http to a host that is not loopback without
 * AFS_AZURE_ALLOW_HTTP; credentials refused), AFS_ENOTFOUND (no such share
 * or directory), AFS_ETRANSIENT, AFS_EIO, AFS_EVERSION, AFS_ENOMEM,
 * AFS_ENOTSUP (libcurl.so.4 cannot be loaded, as for afs_storage_azblob_new).
 */
AFS_EXTERN int afs_storage_azfiles_new(afs_storage **out, const char *uri,
                                       const afs_azure_options *opts);

/*
 * Called once per snapshot of a share with its snapshot time as the
 * service spells it ("2024-01-02T03:04:05.0000000Z", valid during the
 * call). Return 0 to go on, non-zero to stop (returned unchanged).
 */
typedef int (*afs_azfiles_snapshot_fn)(const char *snapshot, void *payload);

/*
 * List the share snapshots of the share of `uri` (an azfiles URI as for
 * afs_storage_azfiles_new; a directory in it is ignored) through List
 * Shares with include=snapshots, every page. `opts` may be NULL (read as for
 * afs_storage_azfiles_new).
 * Errors: as afs_storage_azfiles_new (the share itself is not checked:
 * a missing share has no snapshots), or `fn`'s non-zero value.
 */
AFS_EXTERN int afs_storage_azfiles_snapshots(const char *uri, const afs_azure_options *opts,
                                             afs_azfiles_snapshot_fn fn, void *payload);

AFS_END_DECL

#endif /* AFS_AZURE_H */

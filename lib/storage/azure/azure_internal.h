/*
 * Internal entry points of the Azure backends, for the URI code, the tests
 * and the benchmark (which link the static library). Not installed.
 */
#ifndef AFS_AZURE_INTERNAL_H
#define AFS_AZURE_INTERNAL_H

#include <stdbool.h>

#include "afs.h"

/* Is `uri` one the Azure Blob backend opens (azblob://, or an https URL of
 * a *.blob.core.windows.net host)? */
bool afs__azblob_uri_match(const char *uri);

/* Create (AFS_EEXISTS if it exists) or delete (with everything in it) the
 * container named by `uri`. `opts` may be NULL. */
int afs__azblob_container_create(const char *uri, const afs_azure_options *opts);
int afs__azblob_container_delete(const char *uri, const afs_azure_options *opts);

/* An account SAS for the account of `uri` (needs the key), malloc'd,
 * without '?': blob service, all resource types, `perms`, valid until
 * `expiry` (ISO 8601). */
int afs__azblob_account_sas(const char *uri, const afs_azure_options *opts, const char *perms,
                            const char *expiry, char **out);

/* The same for the Azure Files backend (azfiles://, *.file.core.windows.net):
 * is `uri` one of its URIs; create or delete (with its snapshots) the share;
 * an account SAS for the file service. */
bool afs__azfiles_uri_match(const char *uri);
int afs__azfiles_share_create(const char *uri, const afs_azure_options *opts);
int afs__azfiles_share_delete(const char *uri, const afs_azure_options *opts);
/* How long a write waits for someone else's lease before breaking it
 * (default 30 s; tests make it short). */
int afs__azfiles_set_lease_wait(afs_storage *s, unsigned int ms);
/* Take a snapshot of the share of `uri` (tests; the library never does). */
int afs__azfiles_share_snapshot(const char *uri, const afs_azure_options *opts);
int afs__azfiles_account_sas(const char *uri, const afs_azure_options *opts, const char *perms,
                             const char *expiry, char **out);

#endif /* AFS_AZURE_INTERNAL_H */

/*
 * libafs: the Storage Sync Service and the registered server.
 *
 * A service is the registry of sync groups and registered servers known to
 * this host. Its state lives in a SQLite database under a state directory
 * the host chooses ("/var/lib/afs"). One afs_service handle may be used by
 * one thread at a time; two processes may open the same state directory.
 */
#ifndef AFS_SERVICE_H
#define AFS_SERVICE_H

#include "common.h"
#include "sys/fs.h"

AFS_BEGIN_DECL

typedef struct afs_service afs_service;

/* Options of afs_service_open(); the library reads only the fields of `version`. */
typedef struct afs_service_options {
    unsigned int version; /* set by the caller: AFS_SERVICE_OPTIONS_VERSION */
    afs_fs *fs; /* borrowed, must outlive the service; NULL: the POSIX default */
    /* version 1 ends here */
} afs_service_options;

#define AFS_SERVICE_OPTIONS_VERSION 1
#define AFS_SERVICE_OPTIONS_INIT { AFS_SERVICE_OPTIONS_VERSION, NULL }

/*
 * Fill the fields of `version` of `opts` with their defaults and set
 * opts->version; nothing past that version's fields is written.
 * Errors: AFS_EINVAL (opts NULL), AFS_EVERSION (0 or a version this libafs
 * does not know; opts untouched).
 */
AFS_EXTERN int afs_service_options_init(afs_service_options *opts, unsigned int version);

/*
 * Open (creating if needed) the service whose state lives in `state_dir`.
 * The directory is created with mode 0700 if missing; the database file
 * with mode 0600. `opts` may be NULL; otherwise only the fields of
 * opts->version are read (AFS_EVERSION for 0 or a version this libafs does
 * not know). Free with afs_service_close().
 * Errors: AFS_EINVAL, AFS_EPERM, AFS_ENOTDIR (state_dir is a file),
 * AFS_ECORRUPT (a corrupt or foreign
 * database file; it is left untouched), AFS_EVERSION (state written by a
 * newer libafs), AFS_EBUSY, AFS_EIO, AFS_ENOMEM.
 */
AFS_EXTERN int afs_service_open(afs_service **out, const char *state_dir,
                                const afs_service_options *opts);

/* Close the service and free the handle. NULL is ignored. */
AFS_EXTERN void afs_service_close(afs_service *svc);

/*
 * Register this host as a server named `name` (1 to 255 bytes of UTF-8
 * without control characters or '/'); a new server id (a random UUID) is
 * generated on first registration. Registering again under the same name is
 * a no-op; under another name: AFS_EEXISTS (a server keeps its identity;
 * a new identity needs another state directory).
 * Errors: AFS_EINVAL, AFS_EINVALIDNAME, AFS_EEXISTS, AFS_EIO.
 */
AFS_EXTERN int afs_server_register(afs_service *svc, const char *name);

/*
 * The registered server's name and id. Either pointer may be NULL. The
 * strings are owned by `svc` and valid until the next registration call or
 * afs_service_close(). Errors: AFS_EINVAL, AFS_ENOTFOUND (not registered).
 */
AFS_EXTERN int afs_server_info(afs_service *svc, const char **name, const char **id);

AFS_END_DECL

#endif /* AFS_SERVICE_H */

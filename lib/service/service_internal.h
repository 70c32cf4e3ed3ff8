/*
 * The service handle as the rest of the library sees it (the sync engine
 * keeps its groups and endpoints in the service database). Not installed.
 *
 * Threads: one thread at a time per afs_service handle, as for the public
 * API; the handle's afs_db follows the same rule.
 */
#ifndef AFS_SERVICE_INTERNAL_H
#define AFS_SERVICE_INTERNAL_H

#include "../core/internal.h"
#include "../db/db.h"

/* Schema version of service.db this libafs writes (lib/service/service.c). */
#define AFS__SERVICE_SCHEMA_VERSION 2

struct afs_service {
    afs_db *db;        /* <state_dir>/service.db */
    char *state_dir;   /* as given, without trailing '/' */
    afs_fs *fs;        /* the host's (borrowed) or own_fs */
    afs_fs *own_fs;    /* the POSIX default when the host gave none; owned */
    char *server_name; /* the registered identity, cached once known; NULL before */
    char *server_id;
};

/* The service database (schema: docs/state-store.md#servicedb). */
afs_db *afs__service_db(afs_service *svc);

/* The state directory; per-endpoint databases live below it. */
const char *afs__service_state_dir(const afs_service *svc);

/* The filesystem for server endpoints: the host's, or the POSIX default. Never NULL. */
afs_fs *afs__service_fs(afs_service *svc);

/*
 * The registered server's name and id (owned by svc, as afs_server_info).
 * AFS_ENOTFOUND, with a message saying to register, when not registered.
 */
int afs__service_server(afs_service *svc, const char **name, const char **id);

#endif /* AFS_SERVICE_INTERNAL_H */

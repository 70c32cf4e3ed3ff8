/*
 * The Storage Sync Service handle and the registered server identity
 * (include/afs/service.h). State: <state_dir>/service.db, see
 * docs/state-store.md.
 *
 * Threads: one thread at a time per handle (the SQLite connection is
 * opened without its own mutex). Processes: any number may open the same
 * state directory; every write is an IMMEDIATE transaction, so two
 * registrations racing in two processes are serialised by SQLite.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "service_internal.h"

#define DB_FILE "service.db"

/*
 * Schema history of service.db. Never edit a released step; add one.
 * v1: the registered server (at most one row), and the sync engine's
 * registry of sync groups and server endpoints on this server. A group
 * holds one endpoint per registered server, and this database is one
 * server, hence UNIQUE(group_id) (docs/concepts.md#server-endpoint-rules).
 * `options` is JSON text written by the engine; no json_valid() CHECK,
 * because the connection runs with trusted_schema off and SQLite 3.40 does
 * not mark json_valid innocuous, so such a schema could not be written.
 */
static const afs__db_migration service_migrations[] = {
    { 1,
      "CREATE TABLE server ("
      "  singleton INTEGER PRIMARY KEY CHECK (singleton = 1),"
      "  id TEXT NOT NULL,"
      "  name TEXT NOT NULL,"
      "  registered_ns INTEGER NOT NULL"
      ");"
      "CREATE TABLE sync_group ("
      "  id TEXT PRIMARY KEY,"
      "  name TEXT NOT NULL UNIQUE,"
      "  created_ns INTEGER NOT NULL"
      ");"
      "CREATE TABLE server_endpoint ("
      "  id TEXT PRIMARY KEY,"
      "  group_id TEXT NOT NULL UNIQUE REFERENCES sync_group(id) ON DELETE RESTRICT,"
      "  local_path TEXT NOT NULL UNIQUE,"
      "  options TEXT NOT NULL DEFAULT '{}',"
      "  created_ns INTEGER NOT NULL"
      ");" },
    /* v2: where each group's share is, and the volume of each endpoint
     * (the overlap and one-group-per-volume rules compare volumes). */
    { 2,
      "ALTER TABLE sync_group ADD COLUMN storage_uri TEXT NOT NULL DEFAULT '';"
      "ALTER TABLE server_endpoint ADD COLUMN volume_id TEXT NOT NULL DEFAULT '';" },
};

/* ---- options ---- */

int afs_service_options_init(afs_service_options *opts, unsigned int version)
{
    static const afs_service_options defaults = AFS_SERVICE_OPTIONS_INIT;
    return afs__options_init(&afs__vs_service_options, opts, &defaults, version,
                             "afs_service_options_init");
}

/* ---- state directory ---- */

static int mkdir_private(const char *path)
{
    struct stat st;
    if (mkdir(path, 0700) == 0) {
        /* The umask may have taken bits we need (0700 exactly, no more). */
        if (chmod(path, 0700) != 0)
            return afs__error_errno(errno, "state directory \"%s\": chmod 0700", path);
        return 0;
    }
    if (errno != EEXIST)
        return afs__error_errno(errno, "state directory \"%s\": mkdir", path);
    if (stat(path, &st) != 0)
        return afs__error_errno(errno, "state directory \"%s\": stat", path);
    if (!S_ISDIR(st.st_mode))
        return afs__error_set(AFS_ENOTDIR, "state directory \"%s\" exists and is not a directory",
                              path);
    return 0;
}

/* mkdir -p: directories we create get 0700; existing ones keep their mode. */
static int make_state_dir(const char *dir)
{
    char *p = afs__strdup(dir);
    int rc = 0;
    if (!p)
        return AFS_ENOMEM;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/' || s[-1] == '/')
            continue;
        *s = '\0';
        rc = mkdir_private(p);
        *s = '/';
        if (rc)
            goto done;
    }
    rc = mkdir_private(p);
done:
    free(p);
    return rc;
}

/* ---- open / close ---- */

int afs_service_open(afs_service **out, const char *state_dir, const afs_service_options *opts)
{
    afs_service_options o = AFS_SERVICE_OPTIONS_INIT;
    afs_service *svc = NULL;
    char *db_path = NULL;
    size_t len;
    int rc;

    if (!out)
        return afs__error_set(AFS_EINVAL, "afs_service_open: out is NULL");
    *out = NULL;
    if (!state_dir || !*state_dir)
        return afs__error_set(AFS_EINVAL, "afs_service_open: a state directory is required");
    /* Only the caller's version's fields (docs/api-conventions.md#versioned-structs). */
    if ((rc = afs__vstruct_read(&afs__vs_service_options, &o, opts, "afs_service_open")) != 0)
        return rc;

    if (!(svc = afs__calloc(1, sizeof(*svc))))
        return AFS_ENOMEM;
    len = strlen(state_dir);
    while (len > 1 && state_dir[len - 1] == '/')
        len--;
    if (!(svc->state_dir = afs__strndup(state_dir, len))) {
        rc = AFS_ENOMEM;
        goto done;
    }
    /* The host's filesystem is borrowed; without one the service owns the
     * POSIX default. */
    if (o.fs) {
        svc->fs = o.fs;
    } else {
        if ((rc = afs_fs_posix_new(&svc->own_fs)) != 0)
            goto done;
        svc->fs = svc->own_fs;
    }

    if ((rc = make_state_dir(svc->state_dir)) != 0)
        goto done;
    /* "/" as the state directory gives "/service.db", not "//service.db". */
    if (!(db_path = afs__sprintf("%s/" DB_FILE, strcmp(svc->state_dir, "/") ? svc->state_dir : ""))) {
        rc = AFS_ENOMEM;
        goto done;
    }
    if ((rc = afs__db_open(&svc->db, db_path, AFS__DB_APP_SERVICE, service_migrations,
                           AFS__ARRAY_LEN(service_migrations))) != 0)
        goto done;
    /* The server id is an identity other hosts see: a registration must
     * survive a power cut, not be re-derived with a new id. Writes here
     * are rare and tiny, so FULL costs nothing (docs/state-store.md). */
    if ((rc = afs__db_exec(svc->db, "PRAGMA synchronous=FULL")) != 0)
        goto done;
    *out = svc;
    svc = NULL;
done:
    afs_service_close(svc);
    free(db_path);
    return rc;
}

void afs_service_close(afs_service *svc)
{
    if (!svc)
        return;
    afs__db_close(svc->db);
    afs_fs_free(svc->own_fs);
    free(svc->state_dir);
    free(svc->server_name);
    free(svc->server_id);
    free(svc);
}

/* ---- internal accessors ---- */

afs_db *afs__service_db(afs_service *svc)
{
    return svc->db;
}

const char *afs__service_state_dir(const afs_service *svc)
{
    return svc->state_dir;
}

afs_fs *afs__service_fs(afs_service *svc)
{
    return svc->fs;
}

/* ---- the registered server ---- */

/* Replace the cached identity (strings handed out earlier stay valid
 * only until a registration call, as the header says). */
static int cache_identity(afs_service *svc, const char *name, const char *id)
{
    char *n = afs__strdup(name);
    char *i = n ? afs__strdup(id) : NULL;
    if (!i) {
        free(n);
        return AFS_ENOMEM;
    }
    free(svc->server_name);
    free(svc->server_id);
    svc->server_name = n;
    svc->server_id = i;
    return 0;
}

/*
 * Read the registered identity. *found tells whether there is one; the
 * cache is filled when there is.
 */
static int load_identity(afs_service *svc, bool *found)
{
    sqlite3_stmt *st = afs__db_stmt(svc->db, "SELECT name, id FROM server WHERE singleton = 1");
    int rc;
    *found = false;
    if (!st)
        return afs_error_last_code();
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *found = true;
        rc = cache_identity(svc, (const char *)sqlite3_column_text(st, 0),
                            (const char *)sqlite3_column_text(st, 1));
    } else if (rc == SQLITE_DONE) {
        rc = 0;
    } else {
        rc = afs__db_error(svc->db, rc, "read the registered server");
    }
    sqlite3_reset(st);
    return rc;
}

int afs_server_register(afs_service *svc, const char *name)
{
    sqlite3_stmt *st;
    char id[37];
    bool found = false;
    int rc;

    if (!svc || !name)
        return afs__error_set(AFS_EINVAL, "afs_server_register: svc and name must not be NULL");
    if ((rc = afs__label_check("server", name)) != 0)
        return rc;
    /* IMMEDIATE: two processes registering at once are serialised, and the
     * second sees the first's row. */
    if ((rc = afs__db_begin(svc->db)) != 0)
        goto done;
    if ((rc = load_identity(svc, &found)) != 0)
        goto done;
    if (found) {
        if (strcmp(svc->server_name, name) != 0) {
            char shown[96];
            afs__name_escape(name, strlen(name), shown, sizeof(shown));
            rc = afs__error_set(AFS_EEXISTS, "cannot register this server as \"%s\": it is "
                                "already registered as \"%s\" (id %s) in \"%s\"; a server keeps "
                                "its identity: use another state directory for a new one", shown, svc->server_name, svc->server_id, svc->state_dir);
            goto done;
        }
        rc = afs__db_commit(svc->db); /* same name: nothing to do, the id stays */
        goto done;
    }
    if ((rc = afs__uuid(id)) != 0)
        goto done;
    if (!(st = afs__db_stmt(svc->db, "INSERT INTO server (singleton, id, name, registered_ns) "
                                     "VALUES (1, ?1, ?2, ?3)"))) {
        rc = afs_error_last_code();
        goto done;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, afs__now_ns());
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        rc = afs__db_error(svc->db, rc, "register the server");
        goto done;
    }
    if ((rc = afs__db_commit(svc->db)) != 0)
        goto done;
    rc = cache_identity(svc, name, id);
    afs__log(AFS_LOG_INFO, "registered server \"%s\" with id %s in \"%s\"", name, id,
             svc->state_dir);
done:
    afs__db_rollback(svc->db);
    return rc;
}

int afs__service_server(afs_service *svc, const char **name, const char **id)
{
    bool found = true;
    int rc;
    /* Once known the identity cannot change under us (there is no
     * unregister yet), so the cache is only filled, never refreshed; that
     * keeps earlier returned strings valid as the header promises. */
    if (!svc->server_id && (rc = load_identity(svc, &found)) != 0)
        return rc;
    if (!found)
        return afs__error_set(AFS_ENOTFOUND, "this server is not registered with the service in "
                              "\"%s\"; register it first (afs_server_register)", svc->state_dir);
    if (name)
        *name = svc->server_name;
    if (id)
        *id = svc->server_id;
    return 0;
}

int afs_server_info(afs_service *svc, const char **name, const char **id)
{
    if (!svc)
        return afs__error_set(AFS_EINVAL, "afs_server_info: svc is NULL");
    return afs__service_server(svc, name, id);
}

/*
 * The state store: a thin layer over one SQLite database file, shared by
 * the service (service.db), the sync engine (per-endpoint item state) and
 * the heat store. docs/state-store.md explains the files, durability and
 * what happens to corrupt, foreign and future files.
 *
 * Threads: an afs_db is used by one thread at a time (the connection is
 * opened without SQLite's own mutex). Several processes, and several
 * afs_db handles, may open the same file: WAL mode plus a busy timeout.
 *
 * Errors follow the library's rule: a negative afs code, with the thread's
 * message naming the database file and saying what to do.
 */
#ifndef AFS_DB_DB_H
#define AFS_DB_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

typedef struct afs_db afs_db;

/*
 * One forward schema step. `version` is the PRAGMA user_version the file
 * has once `sql` (one or more statements) has run. Versions start at 1 and
 * strictly increase through the array; a step is never edited once
 * released, a change is a new step.
 */
typedef struct afs__db_migration {
    int version;
    const char *sql;
} afs__db_migration;

/*
 * PRAGMA application_id of each kind of libafs database: a file of one
 * kind is never opened as another. New kinds are added here so that tags
 * stay unique. ASCII tags, read as big-endian 32-bit numbers.
 */
#define AFS__DB_APP_SERVICE 0x41465353u  /* "AFSS": <state_dir>/service.db */
#define AFS__DB_APP_ENDPOINT 0x41465345u /* "AFSE": reserved, per-endpoint item state */
#define AFS__DB_APP_HEAT 0x41465348u     /* "AFSH": reserved, per-volume heat store */

/* How long a connection waits for another writer before AFS_EBUSY. */
#define AFS__DB_BUSY_TIMEOUT_MS 5000

/*
 * Open (creating if missing, mode 0600 whatever the umask) the database at
 * `path`, check that it is a libafs database of kind `application_id`
 * (PRAGMA application_id, a non-zero tag per kind of file), then apply the
 * `migrations` above the file's user_version, each in its own IMMEDIATE
 * transaction. The parent directory must exist.
 *
 * Refused, with the file left byte-for-byte untouched:
 *   AFS_ECORRUPT  not SQLite, another application's database (another
 *                 application_id, or tables without one), or a failed
 *                 PRAGMA quick_check;
 *   AFS_EVERSION  user_version above the last migration (a newer libafs).
 * Other errors: AFS_EINVAL (bad arguments or migration list), AFS_ENOTFOUND
 * (no parent directory), AFS_EPERM, AFS_EBUSY, AFS_EIO, AFS_ENOSPC,
 * AFS_ENOMEM, or the code of a failing migration.
 */
int afs__db_open(afs_db **out, const char *path, uint32_t application_id,
                 const afs__db_migration *migrations, size_t count);

/* afs__db_open_flags() flags. */
/* PRAGMA quick_check only when the file was not closed cleanly: its -wal
 * file is there (the process died with the database open, or another
 * connection has it open now). quick_check reads the whole file; a file
 * closed cleanly is checked only as far as it is read, and damage found
 * then is AFS_ECORRUPT from the call that meets it. For databases that are
 * large and opened often (an endpoint's item state). */
#define AFS__DB_CHECK_IF_UNCLEAN 0x1u

/* afs__db_open with `flags` (AFS__DB_*); afs__db_open is flags 0. */
int afs__db_open_flags(afs_db **out, const char *path, uint32_t application_id,
                       const afs__db_migration *migrations, size_t count, unsigned int flags);

/* Finalize the cached statements and close. NULL is ignored. An open
 * transaction is rolled back (SQLite does so on close). */
void afs__db_close(afs_db *db);

/* The raw connection, for calls this layer does not wrap. */
sqlite3 *afs__db_handle(afs_db *db);

/* The file name, for messages. */
const char *afs__db_path(const afs_db *db);

/*
 * The prepared statement for `sql` (exactly one statement), prepared once
 * per handle and cached by its text; returned reset with its bindings
 * cleared. Owned by the cache: never finalize it. When you stop stepping a
 * SELECT before SQLITE_DONE, sqlite3_reset() it so that it does not keep a
 * read snapshot open. NULL on error (message set).
 */
sqlite3_stmt *afs__db_stmt(afs_db *db, const char *sql);

/* Run one or more statements that return no rows we need. */
int afs__db_exec(afs_db *db, const char *sql);

/*
 * Transactions. begin is BEGIN IMMEDIATE: the write lock is taken up
 * front, so a writer waits (busy timeout) instead of failing at its first
 * write with a snapshot that can no longer be upgraded. rollback never
 * fails and keeps the thread's current error message, so error paths can
 * call it freely; it is a no-op outside a transaction.
 */
int afs__db_begin(afs_db *db);
int afs__db_commit(afs_db *db);
void afs__db_rollback(afs_db *db);

/*
 * Bulk changes committed every `every` changes, so a 100,000-row update
 * neither runs in 100,000 transactions (slow) nor holds the write lock
 * for all of them (other processes starve). A crash loses at most the
 * uncommitted tail; callers commit state only for durable effects and
 * re-derive the rest (docs/state-store.md#durability).
 *
 *     afs__db_batch b;
 *     afs__db_batch_init(&b, db, 1000);
 *     for (...) { if ((rc = afs__db_batch_step(&b))) goto done; ...one change... }
 *     rc = afs__db_batch_finish(&b);
 *   done:
 *     if (rc) afs__db_batch_abort(&b);
 */
typedef struct afs__db_batch {
    afs_db *db;
    size_t every;   /* changes per transaction, at least 1 */
    size_t pending; /* changes made in the open transaction */
    bool open;      /* this batch holds an open transaction */
} afs__db_batch;

void afs__db_batch_init(afs__db_batch *b, afs_db *db, size_t every);
/* Call before each change: commits a full transaction, opens one if needed. */
int afs__db_batch_step(afs__db_batch *b);
/* Commit what is pending. */
int afs__db_batch_finish(afs__db_batch *b);
/* Roll back what is pending (earlier batches stay committed); keeps the error. */
void afs__db_batch_abort(afs__db_batch *b);

/*
 * Turn a SQLite result code into an afs code and set the thread's message:
 * "<what>: state database \"<file>\": <sqlite3_errmsg>" plus what to do.
 *   BUSY, LOCKED -> AFS_EBUSY        CORRUPT, NOTADB -> AFS_ECORRUPT
 *   FULL -> AFS_ENOSPC               IOERR -> AFS_EIO
 *   CONSTRAINT -> AFS_EEXISTS        NOMEM -> AFS_ENOMEM
 *   CANTOPEN -> AFS_ENOTFOUND (missing) or AFS_EPERM
 *   READONLY, PERM, AUTH -> AFS_EPERM  anything else -> AFS_ERROR
 * Returns the afs code.
 */
int afs__db_error(afs_db *db, int sqlite_rc, const char *what);

#endif /* AFS_DB_DB_H */

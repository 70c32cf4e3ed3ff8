/*
 * The state store (db.h): open and identify a SQLite file, migrate it
 * forward, cache prepared statements, transactions and batches, and turn
 * SQLite errors into afs errors. docs/state-store.md is the user's view.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/internal.h"
#include "db.h"

/* One cached statement; `sql` is NULL in an empty slot. */
struct stmt_slot {
    uint64_t hash;
    char *sql;
    sqlite3_stmt *stmt;
};

struct afs_db {
    sqlite3 *h;
    char *path;
    struct stmt_slot *slots; /* open addressing, capacity a power of two */
    size_t cap;
    size_t used;
};

static const char sqlite_magic[16] = "SQLite format 3"; /* with its NUL: 16 bytes */

/* ---- errors ---- */

static int map_code(sqlite3 *h, int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return AFS_EBUSY;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return AFS_ECORRUPT;
    case SQLITE_FULL: return AFS_ENOSPC;
    case SQLITE_IOERR: return AFS_EIO;
    case SQLITE_CONSTRAINT: return AFS_EEXISTS;
    case SQLITE_NOMEM: return AFS_ENOMEM;
    case SQLITE_CANTOPEN: return h && sqlite3_system_errno(h) == ENOENT ? AFS_ENOTFOUND : AFS_EPERM;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH: return AFS_EPERM;
    default: return AFS_ERROR;
    }
}

/* What the user can do about a class of failure. */
static const char *hint(int code)
{
    switch (code) {
    case AFS_EBUSY: return "; another process holds it locked, try again";
    case AFS_ECORRUPT:
        return "; restore it from a backup, or move it away together with its -wal and -shm "
               "files so that libafs starts afresh";
    case AFS_ENOSPC: return "; free space on the volume that holds it";
    case AFS_EPERM:
        return "; check the permissions of the file and of its directory";
    default: return "";
    }
}

/*
 * SQLite reports "cannot open" with the errno of its last probe, often the
 * ENOENT of a -wal file it could not create: the database is there, the
 * cause is that it cannot be written. Say which.
 */
static const char *cantopen_cause(const char *path, int *code)
{
    char *dir, *slash;
    int writable;
    if (!path || access(path, F_OK) != 0)
        return NULL; /* really missing */
    *code = AFS_EPERM;
    if (access(path, W_OK) != 0 && errno == EROFS)
        return "; the file system holding it is read-only: remount it read-write, or use "
               "another state directory";
    if (!(dir = afs__strdup(path)))
        return NULL;
    slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    writable = access(slash ? (dir[0] ? dir : "/") : ".", W_OK) == 0;
    free(dir);
    if (!writable)
        return "; its directory is not writable, and SQLite creates its -wal and -shm files "
               "there: check the directory's permissions";
    return NULL;
}

/* afs__db_error for a connection that may not be wrapped in an afs_db yet. */
static int raise_sqlite(sqlite3 *h, const char *path, int rc, const char *what)
{
    int code = map_code(h, rc);
    const char *cause = NULL;
    const char *msg;
    if ((rc & 0xff) == SQLITE_CANTOPEN)
        cause = cantopen_cause(path, &code);
    /* The connection's message describes `rc` only if it is the last error. */
    if (h && (sqlite3_extended_errcode(h) & 0xff) == (rc & 0xff))
        msg = sqlite3_errmsg(h);
    else
        msg = sqlite3_errstr(rc);
    return afs__error_set(code, "%s: state database \"%s\": %s (SQLite code %d)%s", what,
                          path ? path : "?", msg, rc, cause ? cause : hint(code));
}

int afs__db_error(afs_db *db, int sqlite_rc, const char *what)
{
    return raise_sqlite(db ? db->h : NULL, db ? db->path : NULL, sqlite_rc, what);
}

/* ---- small helpers ---- */

sqlite3 *afs__db_handle(afs_db *db)
{
    return db ? db->h : NULL;
}

const char *afs__db_path(const afs_db *db)
{
    return db ? db->path : "?";
}

int afs__db_exec(afs_db *db, const char *sql)
{
    int rc = sqlite3_exec(db->h, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : afs__db_error(db, rc, "exec");
}

/* Run a one-row, one-integer query (a PRAGMA) without caching it. */
static int query_int(afs_db *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->h, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            rc = SQLITE_INTERNAL; /* a PRAGMA that returns nothing is a bug */
        }
    }
    if (rc != SQLITE_OK)
        rc = afs__db_error(db, rc, sql);
    sqlite3_finalize(st);
    return rc;
}

/* ---- transactions and batches ---- */

int afs__db_begin(afs_db *db)
{
    int rc;
    if (!sqlite3_get_autocommit(db->h))
        return afs__error_set(AFS_EINVAL, "state database \"%s\": a transaction is already open",
                              db->path);
    rc = sqlite3_exec(db->h, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : afs__db_error(db, rc, "begin transaction");
}

int afs__db_commit(afs_db *db)
{
    int rc = sqlite3_exec(db->h, "COMMIT", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        return 0;
    rc = afs__db_error(db, rc, "commit");
    /* Never leave a half-done transaction (and its write lock) behind. */
    afs__db_rollback(db);
    return rc;
}

void afs__db_rollback(afs_db *db)
{
    int rc;
    if (!db || sqlite3_get_autocommit(db->h))
        return;
    /* Straight to SQLite: the thread's message is the caller's real error. */
    rc = sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        afs__log(AFS_LOG_WARN, "state database \"%s\": rollback: %s", db->path,
                 sqlite3_errmsg(db->h));
}

void afs__db_batch_init(afs__db_batch *b, afs_db *db, size_t every)
{
    b->db = db;
    b->every = every ? every : 1;
    b->pending = 0;
    b->open = false;
}

int afs__db_batch_step(afs__db_batch *b)
{
    int rc;
    if (b->open && b->pending >= b->every) {
        b->open = false;
        b->pending = 0;
        if ((rc = afs__db_commit(b->db)) != 0)
            return rc;
    }
    if (!b->open) {
        if ((rc = afs__db_begin(b->db)) != 0)
            return rc;
        b->open = true;
    }
    b->pending++;
    return 0;
}

int afs__db_batch_finish(afs__db_batch *b)
{
    if (!b->open)
        return 0;
    b->open = false;
    b->pending = 0;
    return afs__db_commit(b->db);
}

void afs__db_batch_abort(afs__db_batch *b)
{
    if (b->open)
        afs__db_rollback(b->db);
    b->open = false;
    b->pending = 0;
}

/* ---- statement cache ---- */

static uint64_t hash_sql(const char *s)
{
    uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3u;
    }
    return h;
}

static struct stmt_slot *slot_find(struct stmt_slot *slots, size_t cap, uint64_t hash,
                                   const char *sql)
{
    size_t i = (size_t)hash & (cap - 1);
    while (slots[i].sql) {
        if (slots[i].hash == hash && strcmp(slots[i].sql, sql) == 0)
            return &slots[i];
        i = (i + 1) & (cap - 1);
    }
    return &slots[i]; /* the empty slot where it belongs */
}

static int cache_grow(afs_db *db)
{
    size_t cap = db->cap ? db->cap * 2 : 32;
    struct stmt_slot *slots = afs__calloc(cap, sizeof(*slots));
    if (!slots)
        return AFS_ENOMEM;
    for (size_t i = 0; i < db->cap; i++)
        if (db->slots[i].sql)
            *slot_find(slots, cap, db->slots[i].hash, db->slots[i].sql) = db->slots[i];
    free(db->slots);
    db->slots = slots;
    db->cap = cap;
    return 0;
}

sqlite3_stmt *afs__db_stmt(afs_db *db, const char *sql)
{
    uint64_t hash = hash_sql(sql);
    struct stmt_slot *slot;
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    char *copy = NULL;
    int rc;

    if (db->cap) {
        slot = slot_find(db->slots, db->cap, hash, sql);
        if (slot->sql) {
            /* reset's return value repeats the last step's error: not ours to report. */
            sqlite3_reset(slot->stmt);
            sqlite3_clear_bindings(slot->stmt);
            return slot->stmt;
        }
    }
    /* Keep the load factor under one half so probes stay short. */
    if ((db->used + 1) * 2 > db->cap && cache_grow(db) != 0)
        goto fail;
    rc = sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, &tail);
    if (rc != SQLITE_OK) {
        afs__db_error(db, rc, "prepare");
        goto fail;
    }
    while (tail && (*tail == ' ' || *tail == '\t' || *tail == '\n' || *tail == '\r' ||
                    *tail == ';'))
        tail++;
    if (!st || (tail && *tail)) {
        afs__error_set(AFS_EINVAL, "state database \"%s\": the statement cache takes exactly "
                       "one SQL statement: \"%.80s\"", db->path, sql);
        goto fail;
    }
    if (!(copy = afs__strdup(sql)))
        goto fail;
    slot = slot_find(db->slots, db->cap, hash, sql);
    slot->hash = hash;
    slot->sql = copy;
    slot->stmt = st;
    db->used++;
    return st;

fail:
    sqlite3_finalize(st);
    free(copy);
    return NULL;
}

/* ---- open ---- */

/*
 * Create the file ourselves (mode 0600 whatever the umask; SQLite would
 * use 0644 less the umask, and gives -wal/-shm the main file's mode), or
 * check that an existing one at least looks like SQLite. Never writes to
 * an existing file.
 */
static int prepare_file(const char *path)
{
    unsigned char head[100];
    struct stat st;
    ssize_t n;
    int rc = 0;
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

    if (fd >= 0) {
        if (fchmod(fd, 0600) != 0)
            rc = afs__error_errno(errno, "state database \"%s\": chmod 0600", path);
        goto done;
    }
    if (errno != EEXIST)
        return afs__error_errno(errno, "state database \"%s\": create", path);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return afs__error_errno(errno, "state database \"%s\": open", path);
    if (fstat(fd, &st) != 0) {
        rc = afs__error_errno(errno, "state database \"%s\": stat", path);
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = afs__error_set(AFS_ECORRUPT, "state database \"%s\" is not a regular file; move it "
                            "away or choose another state directory", path);
        goto done;
    }
    /* An empty file is a database nobody has written yet (a crash right
     * after we created it): SQLite treats it as new, so do we. */
    if (st.st_size == 0)
        goto done;
    n = pread(fd, head, sizeof(head), 0);
    if (n < 0) {
        rc = afs__error_errno(errno, "state database \"%s\": read", path);
        goto done;
    }
    if ((size_t)n < sizeof(head) || memcmp(head, sqlite_magic, sizeof(sqlite_magic)) != 0)
        rc = afs__error_set(AFS_ECORRUPT, "state database \"%s\" is not a SQLite database; "
                            "libafs left it untouched: move it away or choose another state "
                            "directory", path);
done:
    close(fd);
    return rc;
}

/*
 * Decide, with reads only, whether this is a libafs database of our kind
 * at a version we know and whether it passes quick_check. The caller has
 * made the connection query_only and disabled the checkpoint on close, so
 * nothing reaches the file when we refuse it.
 */
static int check_identity(afs_db *db, uint32_t app_id, int last_version, bool quick_check,
                          int64_t *user_version)
{
    static const char probe[] =
        "SELECT (SELECT application_id FROM pragma_application_id),"
        "       (SELECT user_version FROM pragma_user_version),"
        "       (SELECT count(*) FROM sqlite_master)";
    sqlite3_stmt *st = NULL;
    uint32_t found_id;
    int64_t version, objects;
    int rc = sqlite3_prepare_v2(db->h, probe, -1, &st, NULL);

    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
        rc = SQLITE_OK;
    if (rc != SQLITE_OK) {
        rc = afs__db_error(db, rc, "open");
        goto done;
    }
    found_id = (uint32_t)sqlite3_column_int64(st, 0);
    version = sqlite3_column_int64(st, 1);
    objects = sqlite3_column_int64(st, 2);
    if (found_id != 0 && found_id != app_id) {
        rc = afs__error_set(AFS_ECORRUPT, "state database \"%s\" is not a libafs database of this "
                            "kind (application_id 0x%08x, expected 0x%08x); libafs left it "
                            "untouched: move it away or choose another state directory",
                            db->path, (unsigned)found_id, (unsigned)app_id);
        goto done;
    }
    /* No tag but content: someone else's database. No tag and no content:
     * a new file (ours, or one that crashed before its first migration). */
    if (found_id == 0 && (objects != 0 || version != 0)) {
        rc = afs__error_set(AFS_ECORRUPT, "state database \"%s\" belongs to another application "
                            "(it has content but no libafs application_id); libafs left it "
                            "untouched: move it away or choose another state directory",
                            db->path);
        goto done;
    }
    if (version > last_version) {
        rc = afs__error_set(AFS_EVERSION, "state database \"%s\" has schema version %lld, written "
                            "by a newer libafs (this one knows up to %d); libafs left it "
                            "untouched: use the newer libafs, or move the file away to start "
                            "afresh", db->path, (long long)version, last_version);
        goto done;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (!quick_check) {
        *user_version = version;
        return 0;
    }

    /* quick_check(1): stop at the first problem, we only report one. */
    rc = sqlite3_prepare_v2(db->h, "PRAGMA quick_check(1)", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
        rc = SQLITE_OK;
    if (rc != SQLITE_OK) {
        rc = afs__db_error(db, rc, "integrity check");
        goto done;
    }
    if (strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0) {
        char first[200];
        /* quick_check reports on several lines; keep the message on one. */
        snprintf(first, sizeof(first), "%s", (const char *)sqlite3_column_text(st, 0));
        for (char *c = first; *c; c++)
            if (*c == '\n')
                *c = ' ';
        rc = afs__error_set(AFS_ECORRUPT, "state database \"%s\" is damaged (quick_check: %s); "
                            "libafs left it untouched: restore it from a backup, or move it away "
                            "together with its -wal and -shm files so that libafs starts afresh",
                            db->path, first);
        goto done;
    }
    *user_version = version;
    rc = 0;
done:
    sqlite3_finalize(st);
    return rc;
}

/*
 * Put the file in WAL mode. Switching a new file from the rollback journal
 * needs an exclusive lock, and SQLite returns SQLITE_BUSY at once, without
 * calling the busy handler, when that could deadlock with another opener
 * doing the same; so we back off and retry here, within the busy timeout.
 */
static int set_wal(afs_db *db)
{
    sqlite3_stmt *st = NULL;
    int slept = 0, nap = 1;
    int rc;

    for (;;) {
        rc = sqlite3_prepare_v2(db->h, "PRAGMA journal_mode=WAL", -1, &st, NULL);
        if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
            break;
        sqlite3_finalize(st);
        st = NULL;
        if ((rc & 0xff) != SQLITE_BUSY || slept >= AFS__DB_BUSY_TIMEOUT_MS) {
            rc = afs__db_error(db, rc, "set WAL mode");
            goto done;
        }
        sqlite3_sleep(nap);
        slept += nap;
        nap = nap < 100 ? nap * 2 : 100;
    }
    /* SQLite answers with the mode it kept; it refuses WAL where shared
     * memory does not work (network file systems). */
    if (sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), "wal") != 0) {
        rc = afs__error_set(AFS_EIO, "state database \"%s\": cannot use WAL mode (journal mode "
                            "stays \"%s\"); keep the state directory on a local file system",
                            db->path, (const char *)sqlite3_column_text(st, 0));
        goto done;
    }
    rc = 0;
done:
    sqlite3_finalize(st);
    return rc;
}

/* Apply the steps above `from`, each in its own transaction. */
static int migrate(afs_db *db, uint32_t app_id, const afs__db_migration *m, size_t count,
                   int64_t from)
{
    int last = m[count - 1].version;
    char *stamp = NULL;
    int rc = 0;

    for (size_t i = 0; i < count; i++) {
        int64_t now = 0;
        if (m[i].version <= from)
            continue;
        if ((rc = afs__db_begin(db)) != 0)
            goto done;
        /* Another process may have migrated while we waited for the lock. */
        if ((rc = query_int(db, "PRAGMA user_version", &now)) != 0)
            goto done;
        if (now > last) {
            rc = afs__error_set(AFS_EVERSION, "state database \"%s\" was just upgraded to schema "
                                "version %lld by a newer libafs (this one knows up to %d)",
                                db->path, (long long)now, last);
            goto done;
        }
        if (now < m[i].version) {
            if (sqlite3_exec(db->h, m[i].sql, NULL, NULL, NULL) != SQLITE_OK) {
                char what[64];
                snprintf(what, sizeof(what), "schema migration to version %d", m[i].version);
                rc = afs__db_error(db, sqlite3_errcode(db->h), what);
                goto done;
            }
            free(stamp);
            stamp = afs__sprintf("PRAGMA application_id=%ld; PRAGMA user_version=%d",
                                 (long)(int32_t)app_id, m[i].version);
            if (!stamp) {
                rc = AFS_ENOMEM;
                goto done;
            }
            if ((rc = afs__db_exec(db, stamp)) != 0)
                goto done;
            afs__log(AFS_LOG_INFO, "state database \"%s\": migrated to schema version %d",
                     db->path, m[i].version);
        }
        if ((rc = afs__db_commit(db)) != 0)
            goto done;
        from = now > m[i].version ? now : m[i].version;
    }
done:
    if (rc)
        afs__db_rollback(db);
    free(stamp);
    return rc;
}

/* Was the file left without a clean close? Its -wal file is there: the last
 * connection to close a WAL database checkpoints and removes it. */
static bool left_unclean(const char *path)
{
    struct stat st;
    char *wal = afs__sprintf("%s-wal", path);
    bool unclean = !wal || stat(wal, &st) == 0 || errno != ENOENT;
    free(wal);
    return unclean;
}

int afs__db_open(afs_db **out, const char *path, uint32_t application_id,
                 const afs__db_migration *migrations, size_t count)
{
    return afs__db_open_flags(out, path, application_id, migrations, count, 0);
}

int afs__db_open_flags(afs_db **out, const char *path, uint32_t application_id,
                       const afs__db_migration *migrations, size_t count, unsigned int flags)
{
    afs_db *db = NULL;
    int64_t version = 0;
    int last = 0;
    bool quick_check = true;
    int rc;

    if (!out)
        return afs__error_set(AFS_EINVAL, "afs__db_open: out is NULL");
    *out = NULL;
    if (!path || !*path || application_id == 0 || (count && !migrations))
        return afs__error_set(AFS_EINVAL, "afs__db_open: path, a non-zero application_id and "
                              "the migrations are required");
    for (size_t i = 0; i < count; i++) {
        if (migrations[i].version <= last || !migrations[i].sql)
            return afs__error_set(AFS_EINVAL, "afs__db_open: migration %zu of \"%s\" must have "
                                  "SQL and a version above %d", i, path, last);
        last = migrations[i].version;
    }

    if (!(db = afs__calloc(1, sizeof(*db))))
        return AFS_ENOMEM;
    if (!(db->path = afs__strdup(path))) {
        rc = AFS_ENOMEM;
        goto done;
    }
    if ((rc = prepare_file(path)) != 0)
        goto done;
    if (flags & AFS__DB_CHECK_IF_UNCLEAN)
        quick_check = left_unclean(path);
    /* No SQLITE_OPEN_CREATE: the file exists (we made it) and if it has
     * vanished since, SQLite must not create one with its own mode. */
    rc = sqlite3_open_v2(path, &db->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rc = afs__db_error(db, rc, "open");
        goto done;
    }
    sqlite3_extended_result_codes(db->h, 1);
    sqlite3_busy_timeout(db->h, AFS__DB_BUSY_TIMEOUT_MS);
    /* Until the file is accepted: no writes, and no checkpoint on close. */
    sqlite3_db_config(db->h, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
    /* A file may come from anywhere: no schema-triggered functions, no
     * writes that could corrupt it (SQLite's hardening advice). */
    sqlite3_db_config(db->h, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
    sqlite3_db_config(db->h, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
    if ((rc = afs__db_exec(db, "PRAGMA query_only=ON")) != 0)
        goto done;
    if ((rc = check_identity(db, application_id, last, quick_check, &version)) != 0)
        goto done;
    if ((rc = afs__db_exec(db, "PRAGMA query_only=OFF")) != 0)
        goto done;
    sqlite3_db_config(db->h, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, (int *)NULL);

    if ((rc = set_wal(db)) != 0)
        goto done;
    /*
     * synchronous=NORMAL in WAL mode: a commit is not fsynced, only each
     * checkpoint is, so a power cut can lose the last commits but never
     * corrupts the file. That is safe here because the engine records
     * state only after the effect (a download, an upload) is durable, and
     * re-derives any state it lost by comparing both sides again.
     */
    if ((rc = afs__db_exec(db, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON")) != 0)
        goto done;
    if (count && (rc = migrate(db, application_id, migrations, count, version)) != 0)
        goto done;
    *out = db;
    db = NULL;
done:
    afs__db_close(db);
    return rc;
}

void afs__db_close(afs_db *db)
{
    if (!db)
        return;
    for (size_t i = 0; i < db->cap; i++) {
        if (db->slots[i].sql) {
            sqlite3_finalize(db->slots[i].stmt);
            free(db->slots[i].sql);
        }
    }
    free(db->slots);
    /* close_v2 never fails with BUSY; every statement is ours and finalized. */
    sqlite3_close_v2(db->h);
    free(db->path);
    free(db);
}

/* A server endpoint's sync state in SQLite (lib/sync/state.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/internal.h"
#include "state.h"

static const afs__db_migration endpoint_migrations[] = {
    { 1,
      "CREATE TABLE item ("
      "  path TEXT PRIMARY KEY,"
      "  type INTEGER NOT NULL,"
      "  size INTEGER NOT NULL,"
      "  mtime_ns INTEGER NOT NULL,"
      "  file_id INTEGER NOT NULL,"
      "  ctime_ns INTEGER NOT NULL,"
      "  etag TEXT NOT NULL,"
      "  md5 BLOB,"
      "  flags INTEGER NOT NULL DEFAULT 0"
      ") WITHOUT ROWID;"
      "CREATE TABLE item_error ("
      "  path TEXT PRIMARY KEY,"
      "  code INTEGER NOT NULL,"
      "  message TEXT NOT NULL,"
      "  count INTEGER NOT NULL,"
      "  persistent INTEGER NOT NULL,"
      "  first_ns INTEGER NOT NULL,"
      "  last_ns INTEGER NOT NULL,"
      "  seen INTEGER NOT NULL DEFAULT 0"
      ") WITHOUT ROWID;"
      "CREATE TABLE kv (key TEXT PRIMARY KEY, value) WITHOUT ROWID;" },
};

static char *endpoint_db_path(const char *state_dir, const char *endpoint_id, const char *suffix)
{
    return afs__sprintf("%s/endpoints/%s.db%s", state_dir, endpoint_id, suffix);
}

int afs__state_open(afs_db **out, const char *state_dir, const char *endpoint_id)
{
    char *dir = afs__sprintf("%s/endpoints", state_dir);
    char *path = NULL;
    int rc;

    if (!dir)
        return AFS_ENOMEM;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        rc = afs__error_errno(errno, "create %s", dir);
        goto done;
    }
    if (!(path = endpoint_db_path(state_dir, endpoint_id, ""))) {
        rc = AFS_ENOMEM;
        goto done;
    }
    /* The whole file is checked only after an unclean close: at 100,000
     * items that read is a tenth of a no-op session, and a clean file is
     * read in full by the session's base load anyway, which reports damage
     * as AFS_ECORRUPT before anything is changed. */
    rc = afs__db_open_flags(out, path, AFS__DB_APP_ENDPOINT, endpoint_migrations,
                            AFS__ARRAY_LEN(endpoint_migrations), AFS__DB_CHECK_IF_UNCLEAN);
done:
    free(dir);
    free(path);
    return rc;
}

int afs__state_remove(const char *state_dir, const char *endpoint_id)
{
    static const char *const suffixes[] = { "", "-wal", "-shm", ".lock" };
    for (size_t i = 0; i < AFS__ARRAY_LEN(suffixes); i++) {
        char *p = endpoint_db_path(state_dir, endpoint_id, suffixes[i]);
        if (!p)
            return AFS_ENOMEM;
        if (unlink(p) != 0 && errno != ENOENT) {
            int rc = afs__error_errno(errno, "remove %s", p);
            free(p);
            return rc;
        }
        free(p);
    }
    return 0;
}

/* A one-number pragma; false (nothing set) if it cannot be read. */
static bool pragma_int(afs_db *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = afs__db_stmt(db, sql);
    bool ok = st && sqlite3_step(st) == SQLITE_ROW;
    if (ok)
        *out = sqlite3_column_int64(st, 0);
    if (st)
        sqlite3_reset(st);
    afs_error_clear();
    return ok && *out > 0;
}

static const char *item_entry(void *ctx, size_t i, void **value)
{
    afs__item *it = ((afs__item **)ctx)[i];
    *value = it;
    return it->path;
}

int afs__state_load(afs_db *db, afs__session *s, size_t *count)
{
    sqlite3_stmt *st = afs__db_stmt(
        db, "SELECT path, type, size, mtime_ns, file_id, ctime_ns, etag, md5 FROM item");
    size_t n = 0, first;
    /* Into an empty session the rows (one per path) go without a lookup
     * each, into a map sized once from the file's size. */
    bool fresh = s->items.count == 0;
    int64_t pages = 0, page_size = 0;
    int rc;

    if (!st)
        return afs_error_last_code();
    if (fresh && pragma_int(db, "PRAGMA page_count", &pages) &&
        pragma_int(db, "PRAGMA page_size", &page_size) &&
        (afs__map_reserve(&s->items, (size_t)(pages * page_size / 100)) != 0 ||
         !afs__session_reserve(s, (size_t)(pages * page_size / 100))))
        return AFS_ENOMEM;
    first = s->nall;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *path = (const char *)sqlite3_column_text(st, 0);
        int plen = sqlite3_column_bytes(st, 0);
        afs__item *it = fresh ? afs__session_item_unmapped(s, path, (size_t)plen)
                              : afs__session_item(s, path, (size_t)plen);
        const void *md5;
        if (!it) {
            sqlite3_reset(st);
            return AFS_ENOMEM;
        }
        it->base.exists = true;
        it->base.type = (uint32_t)sqlite3_column_int(st, 1);
        it->base.size = (uint64_t)sqlite3_column_int64(st, 2);
        it->base.mtime_ns = sqlite3_column_int64(st, 3);
        it->base.file_id = (uint64_t)sqlite3_column_int64(st, 4);
        it->base.ctime_ns = sqlite3_column_int64(st, 5);
        it->base.etag = afs__arena_strdup(&s->arena, (const char *)sqlite3_column_text(st, 6));
        md5 = sqlite3_column_blob(st, 7);
        if (md5 && sqlite3_column_bytes(st, 7) == AFS__MD5_LEN) {
            memcpy(it->base_md5, md5, AFS__MD5_LEN);
            it->base_has_md5 = true;
        }
        n++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return afs__db_error(db, rc, "load sync state");
    /* The rows come in path order, their slots in hash order: one pass
     * with the slots prefetched ahead instead of a cache miss per row. */
    if (fresh && afs__map_put_new_many(&s->items, s->nall - first, item_entry, s->all + first) != 0)
        return AFS_ENOMEM;
    if (count)
        *count = n;
    return 0;
}

int afs__state_put(afs_db *db, const afs__item *it)
{
    sqlite3_stmt *st = afs__db_stmt(db, "INSERT OR REPLACE INTO item "
                                        "(path, type, size, mtime_ns, file_id, ctime_ns, etag, md5) "
                                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    int rc;
    if (!st)
        return afs_error_last_code();
    sqlite3_bind_text(st, 1, it->path, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, (int)it->base.type);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)it->base.size);
    sqlite3_bind_int64(st, 4, it->base.mtime_ns);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)it->base.file_id);
    sqlite3_bind_int64(st, 6, it->base.ctime_ns);
    sqlite3_bind_text(st, 7, it->base.etag ? it->base.etag : "", -1, SQLITE_STATIC);
    if (it->base_has_md5)
        sqlite3_bind_blob(st, 8, it->base_md5, AFS__MD5_LEN, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 8);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : afs__db_error(db, rc, "save sync state");
}

int afs__state_forget(afs_db *db, const char *path)
{
    sqlite3_stmt *st = afs__db_stmt(db, "DELETE FROM item WHERE path = ?");
    int rc;
    if (!st)
        return afs_error_last_code();
    sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : afs__db_error(db, rc, "forget sync state");
}

int afs__state_rename(afs_db *db, const char *from, const char *to)
{
    /* Children are the range (from + "/", from + "0"): '0' follows '/' in
     * byte order, and the range avoids LIKE's wildcards in file names. */
    sqlite3_stmt *st = afs__db_stmt(
        db, "UPDATE item SET path = ?2 || substr(path, length(?1) + 1) "
            "WHERE path = ?1 OR (path > ?1 || '/' AND path < ?1 || '0')");
    int rc;
    if (!st)
        return afs_error_last_code();
    sqlite3_bind_text(st, 1, from, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, to, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : afs__db_error(db, rc, "rename sync state");
}

int afs__state_get_int(afs_db *db, const char *key, int64_t dflt, int64_t *out)
{
    sqlite3_stmt *st = afs__db_stmt(db, "SELECT value FROM kv WHERE key = ?");
    int rc;
    if (!st)
        return afs_error_last_code();
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : dflt;
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : afs__db_error(db, rc, "read state value");
}

static int set_value(afs_db *db, const char *key, const char *text, int64_t num)
{
    sqlite3_stmt *st = afs__db_stmt(db, "INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)");
    int rc;
    if (!st)
        return afs_error_last_code();
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (text)
        sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int64(st, 2, num);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : afs__db_error(db, rc, "write state value");
}

int afs__state_set_int(afs_db *db, const char *key, int64_t value)
{
    return set_value(db, key, NULL, value);
}

int afs__state_set_text(afs_db *db, const char *key, const char *value)
{
    return set_value(db, key, value ? value : "", 0);
}

int afs__state_get_text(afs_db *db, const char *key, char **out)
{
    sqlite3_stmt *st = afs__db_stmt(db, "SELECT value FROM kv WHERE key = ?");
    int rc;
    *out = NULL;
    if (!st)
        return afs_error_last_code();
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT) {
        *out = afs__strdup((const char *)sqlite3_column_text(st, 0));
        if (!*out)
            rc = SQLITE_NOMEM;
    }
    sqlite3_reset(st);
    if (rc == SQLITE_NOMEM)
        return AFS_ENOMEM;
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : afs__db_error(db, rc, "read state value");
}

/* Codes that retrying will not cure until something changes. */
static int persistent_code(int code)
{
    return code == AFS_EINVALIDNAME || code == AFS_ECONFLICT_LIMIT || code == AFS_EPERM ||
           code == AFS_ENOTSUP || code == AFS_ECORRUPT;
}

int afs__state_save_errors(afs_db *db, const afs__item_err *errors, int64_t now_ns)
{
    sqlite3_stmt *st;
    int rc;

    if ((rc = afs__db_exec(db, "UPDATE item_error SET seen = 0")) != 0)
        return rc;
    st = afs__db_stmt(db,
                      "INSERT INTO item_error (path, code, message, count, persistent, first_ns, "
                      "last_ns, seen) VALUES (?1, ?2, ?3, 1, ?4, ?5, ?5, 1) "
                      "ON CONFLICT(path) DO UPDATE SET code = ?2, message = ?3, "
                      "count = count + (seen = 0), persistent = ?4, last_ns = ?5, seen = 1");
    if (!st)
        return afs_error_last_code();
    for (const afs__item_err *e = errors; e; e = e->next) {
        sqlite3_bind_text(st, 1, e->path, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, e->code);
        sqlite3_bind_text(st, 3, e->message ? e->message : "", -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 4, persistent_code(e->code));
        sqlite3_bind_int64(st, 5, now_ns);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return afs__db_error(db, rc, "save item errors");
    }
    return afs__db_exec(db, "DELETE FROM item_error WHERE seen = 0");
}

static void item_error_free(afs_item_error *e)
{
    if (!e)
        return;
    free(e->path);
    free(e->message);
    free(e);
}

int afs__state_list_errors(afs_db *db, afs_item_error ***out, size_t *count)
{
    sqlite3_stmt *st = afs__db_stmt(db, "SELECT path, code, message, count, persistent, "
                                        "first_ns, last_ns FROM item_error ORDER BY path");
    afs_item_error **list = NULL; /* of pointers: rows may grow (docs/api-conventions.md) */
    size_t n = 0, cap = 0;
    int rc;

    *out = NULL;
    *count = 0;
    if (!st)
        return afs_error_last_code();
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        afs_item_error *e;
        if (n == cap) {
            afs_item_error **nl = afs__realloc(list, (cap ? cap * 2 : 16) * sizeof(*list));
            if (!nl) {
                rc = SQLITE_NOMEM;
                break;
            }
            list = nl;
            cap = cap ? cap * 2 : 16;
        }
        if (!(e = afs__calloc(1, sizeof(*e)))) {
            rc = SQLITE_NOMEM;
            break;
        }
        list[n++] = e;
        e->version = AFS_ITEM_ERROR_VERSION;
        e->path = afs__strdup((const char *)sqlite3_column_text(st, 0));
        e->code = sqlite3_column_int(st, 1);
        e->message = afs__strdup((const char *)sqlite3_column_text(st, 2));
        e->count = (uint64_t)sqlite3_column_int64(st, 3);
        e->persistent = (uint32_t)sqlite3_column_int(st, 4);
        e->first_ns = sqlite3_column_int64(st, 5);
        e->last_ns = sqlite3_column_int64(st, 6);
        if (!e->path || !e->message) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        afs_item_errors_free(list, n);
        return rc == SQLITE_NOMEM ? AFS_ENOMEM : afs__db_error(db, rc, "list item errors");
    }
    *out = list;
    *count = n;
    return 0;
}

void afs_item_errors_free(afs_item_error **list, size_t count)
{
    if (!list)
        return;
    for (size_t i = 0; i < count; i++)
        item_error_free(list[i]);
    free(list);
}

/*
 * The heat store: one SQLite database per volume (application id "AFSH"),
 * <state_dir>/heat/<volume>.db. docs/tiering.md#the-heat-store describes
 * the schema; the indexes serve the tiering pass (coolest first across the
 * volume, oldest first per endpoint for the date policy) without sorting.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../service/service_internal.h"
#include "tier_priv.h"

static const afs__db_migration heat_migrations[] = {
    { 1,
      /* Endpoints by a small integer: the key is repeated in every index entry. */
      "CREATE TABLE heat_ep (ep INTEGER PRIMARY KEY, endpoint_id TEXT NOT NULL UNIQUE);"
      "CREATE TABLE heat ("
      "  ep INTEGER NOT NULL,"
      "  path TEXT NOT NULL,"
      "  size INTEGER NOT NULL DEFAULT 0,"
      "  local_bytes INTEGER NOT NULL DEFAULT 0,"
      "  state INTEGER NOT NULL DEFAULT 0,"
      "  last_access_ns INTEGER NOT NULL DEFAULT 0,"
      "  access_count INTEGER NOT NULL DEFAULT 0,"
      "  mtime_ns INTEGER NOT NULL DEFAULT 0,"
      "  btime_ns INTEGER NOT NULL DEFAULT 0,"
      "  evict INTEGER NOT NULL DEFAULT 0,"
      "  scan_gen INTEGER NOT NULL DEFAULT 0,"
      "  position_ns INTEGER GENERATED ALWAYS AS (max(last_access_ns, mtime_ns, btime_ns)) "
      "    VIRTUAL,"
      "  heat_day INTEGER GENERATED ALWAYS AS "
      "    (max(last_access_ns, mtime_ns, btime_ns) / 86400000000000) VIRTUAL,"
      "  PRIMARY KEY (ep, path)"
      ") WITHOUT ROWID;"
      /* Coolest first across the volume; covering, so the walk reads the index only. */
      "CREATE INDEX heat_cool ON heat (heat_day, access_count, position_ns, ep, path,"
      "  size, local_bytes) WHERE local_bytes > 0;"
      /* Oldest first per endpoint, for the date policy. */
      "CREATE INDEX heat_date ON heat (ep, position_ns, path, size, local_bytes)"
      "  WHERE local_bytes > 0;"
      "CREATE INDEX heat_access ON heat (last_access_ns);"
      "CREATE INDEX heat_evict ON heat (ep) WHERE evict = 1;"
      "CREATE TABLE pin (endpoint_id TEXT NOT NULL, path TEXT NOT NULL,"
      "  PRIMARY KEY (endpoint_id, path)) WITHOUT ROWID;"
      "CREATE TABLE tier_exclude (endpoint_id TEXT NOT NULL, pattern TEXT NOT NULL,"
      "  PRIMARY KEY (endpoint_id, pattern)) WITHOUT ROWID;"
      "CREATE TABLE stats ("
      "  endpoint_id TEXT PRIMARY KEY,"
      "  files_tiered INTEGER NOT NULL DEFAULT 0,"
      "  bytes_tiered INTEGER NOT NULL DEFAULT 0,"
      "  accesses INTEGER NOT NULL DEFAULT 0,"
      "  access_recalls INTEGER NOT NULL DEFAULT 0,"
      "  recalls INTEGER NOT NULL DEFAULT 0,"
      "  recall_bytes INTEGER NOT NULL DEFAULT 0,"
      "  recall_failures INTEGER NOT NULL DEFAULT 0,"
      "  recall_ns INTEGER NOT NULL DEFAULT 0"
      ") WITHOUT ROWID;" },
};

/* A file name from a volume id ("fsid:1234" -> "fsid_1234"). */
static char *heat_file(const char *state_dir, const char *volume_id)
{
    char name[80];
    size_t n = 0;
    for (const char *p = volume_id; *p && n < sizeof(name) - 1; p++) {
        char ch = *p;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '-' || ch == '.';
        name[n++] = ok ? ch : '_';
    }
    name[n] = '\0';
    if (n == 0 || name[0] == '.')
        return afs__sprintf("%s/heat/v%s.db", state_dir, name);
    return afs__sprintf("%s/heat/%s.db", state_dir, name);
}

int afs__heat_open_locked(afs_service *svc, afs__tier_vol *v)
{
    const char *sd = afs__service_state_dir(svc);
    char *dir, *path;
    int rc;

    if (v->heat)
        return 0;
    if (!(dir = afs__sprintf("%s/heat", sd)))
        return AFS_ENOMEM;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        rc = afs__error_errno(errno, "create the heat store directory %s", dir);
        free(dir);
        return rc;
    }
    free(dir);
    if (!(path = heat_file(sd, v->volume_id)))
        return AFS_ENOMEM;
    /* The per-file locks of the volume's recalls live beside it (tier.c). */
    if (!v->lock_path && !(v->lock_path = afs__sprintf("%s.lock", path))) {
        free(path);
        return AFS_ENOMEM;
    }
    rc = afs__db_open(&v->heat, path, AFS__DB_APP_HEAT, heat_migrations,
                      AFS__ARRAY_LEN(heat_migrations));
    free(path);
    /* A volume's heat store holds a row per file (millions): a larger page
     * cache than SQLite's 2 MB default keeps scans and passes off the disk. */
    if (rc == 0 && (rc = afs__db_exec(v->heat, "PRAGMA cache_size=-32768")) != 0) {
        afs__db_close(v->heat);
        v->heat = NULL;
    }
    return rc;
}

int afs__heat_key_locked(afs__tier_vol *v, const char *endpoint_id, int64_t *key)
{
    sqlite3_stmt *st;
    char **ids;
    int64_t *vals;
    int rc;
    for (size_t i = 0; i < v->nkeys; i++)
        if (strcmp(v->key_ids[i], endpoint_id) == 0) {
            *key = v->key_vals[i];
            return 0;
        }
    st = afs__db_stmt(v->heat, "INSERT OR IGNORE INTO heat_ep (endpoint_id) VALUES (?)");
    if (!st)
        return afs_error_last_code();
    sqlite3_bind_text(st, 1, endpoint_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return afs__db_error(v->heat, rc, "heat store endpoint");
    st = afs__db_stmt(v->heat, "SELECT ep FROM heat_ep WHERE endpoint_id = ?");
    if (!st)
        return afs_error_last_code();
    sqlite3_bind_text(st, 1, endpoint_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *key = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        return afs__db_error(v->heat, rc, "heat store endpoint");
    ids = afs__realloc(v->key_ids, (v->nkeys + 1) * sizeof(*ids));
    if (!ids)
        return AFS_ENOMEM;
    v->key_ids = ids;
    vals = afs__realloc(v->key_vals, (v->nkeys + 1) * sizeof(*vals));
    if (!vals)
        return AFS_ENOMEM;
    v->key_vals = vals;
    if (!(ids[v->nkeys] = afs__strdup(endpoint_id)))
        return AFS_ENOMEM;
    vals[v->nkeys++] = *key;
    return 0;
}

static int step_done(afs_db *db, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : afs__db_error(db, rc, what);
}

/* `sql` prepared with ?1 bound to the endpoint's key (made on first use);
 * NULL with `*rc` set on failure. Call with v->mu held. */
static sqlite3_stmt *heat_stmt_locked(afs__tier_vol *v, const char *endpoint_id,
                                      const char *sql, int *rc)
{
    sqlite3_stmt *st;
    int64_t key = 0;
    if ((*rc = afs__heat_key_locked(v, endpoint_id, &key)) != 0)
        return NULL;
    if (!(st = afs__db_stmt(v->heat, sql))) {
        *rc = afs_error_last_code();
        return NULL;
    }
    sqlite3_bind_int64(st, 1, key);
    return st;
}

/*
 * Insert or update the row of `rel`: `sql` (a HEAT_UPSERT) binds ?1 the
 * endpoint's key, ?2 the path, ?3..?7 the columns of `row` and ?8 the one
 * value that differs between callers (`arg8`).
 */
#define HEAT_UPSERT(cols, vals, set)                                                     \
    "INSERT INTO heat (ep, path, size, local_bytes, state, mtime_ns, btime_ns, " cols ") " \
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, " vals ") "                                     \
    "ON CONFLICT (ep, path) DO UPDATE SET size = ?3, local_bytes = ?4, state = ?5, "     \
    "mtime_ns = ?6, btime_ns = ?7, " set

static int heat_upsert(afs__tier_vol *v, const char *endpoint_id, const char *rel,
                       const afs__heat_row *row, const char *sql, int64_t arg8,
                       const char *what)
{
    sqlite3_stmt *st;
    int rc;
    pthread_mutex_lock(&v->mu);
    if ((st = heat_stmt_locked(v, endpoint_id, sql, &rc)) != NULL) {
        sqlite3_bind_text(st, 2, rel, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)row->size);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)row->local_bytes);
        sqlite3_bind_int(st, 5, (int)row->state);
        sqlite3_bind_int64(st, 6, row->mtime_ns);
        sqlite3_bind_int64(st, 7, row->btime_ns);
        sqlite3_bind_int64(st, 8, arg8);
        rc = step_done(v->heat, st, what);
    }
    pthread_mutex_unlock(&v->mu);
    return rc;
}

int afs__heat_note(afs__tier_vol *v, const char *endpoint_id, const char *rel,
                   const afs__heat_row *row, int64_t scan_gen)
{
    return heat_upsert(v, endpoint_id, rel, row,
                       HEAT_UPSERT("scan_gen", "?8", "scan_gen = ?8"),
                       scan_gen, "record heat");
}

int afs__heat_access(afs__tier_vol *v, const char *endpoint_id, const char *rel,
                     const afs__heat_row *row, int64_t when_ns)
{
    return heat_upsert(v, endpoint_id, rel, row,
                       HEAT_UPSERT("last_access_ns, access_count", "?8, 1",
                                   "last_access_ns = max(last_access_ns, ?8), "
                                   "access_count = access_count + 1"),
                       when_ns, "record an access");
}

int afs__heat_update(afs__tier_vol *v, const char *endpoint_id, const char *rel,
                     const afs__heat_row *row, int evict)
{
    return heat_upsert(v, endpoint_id, rel, row,
                       HEAT_UPSERT("evict", "max(?8, 0)",
                                   "evict = CASE WHEN ?8 < 0 THEN evict ELSE ?8 END"),
                       evict, "update heat");
}

int afs__heat_forget(afs__tier_vol *v, const char *endpoint_id, const char *rel)
{
    sqlite3_stmt *st;
    int rc;
    pthread_mutex_lock(&v->mu);
    if ((st = heat_stmt_locked(v, endpoint_id, "DELETE FROM heat WHERE ep = ? AND path = ?",
                               &rc)) != NULL) {
        sqlite3_bind_text(st, 2, rel, -1, SQLITE_STATIC);
        rc = step_done(v->heat, st, "forget heat");
    }
    pthread_mutex_unlock(&v->mu);
    return rc;
}

int afs__heat_rename(afs__tier_vol *v, const char *endpoint_id, const char *from,
                     const char *to)
{
    sqlite3_stmt *st;
    int rc;
    pthread_mutex_lock(&v->mu);
    /* Children are the range (from + "/", from + "0"), as in the sync state. */
    st = heat_stmt_locked(v, endpoint_id,
                          "UPDATE OR REPLACE heat SET path = ?3 || substr(path, length(?2) + 1) "
                          "WHERE ep = ?1 AND "
                          "(path = ?2 OR (path > ?2 || '/' AND path < ?2 || '0'))",
                          &rc);
    if (st) {
        sqlite3_bind_text(st, 2, from, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, to, -1, SQLITE_STATIC);
        rc = step_done(v->heat, st, "rename heat");
    }
    pthread_mutex_unlock(&v->mu);
    return rc;
}

int afs__heat_sweep(afs__tier_vol *v, const char *endpoint_id, int64_t gen)
{
    sqlite3_stmt *st;
    int rc;
    pthread_mutex_lock(&v->mu);
    if ((st = heat_stmt_locked(v, endpoint_id,
                               "DELETE FROM heat WHERE ep = ? AND scan_gen != ?", &rc)) != NULL) {
        sqlite3_bind_int64(st, 2, gen);
        rc = step_done(v->heat, st, "sweep heat");
    }
    pthread_mutex_unlock(&v->mu);
    return rc;
}

int afs__heat_position(afs__tier_vol *v, const char *endpoint_id, const char *rel,
                       int64_t *position_ns, uint64_t *count)
{
    sqlite3_stmt *st;
    int rc;
    *position_ns = 0;
    *count = 0;
    pthread_mutex_lock(&v->mu);
    st = heat_stmt_locked(v, endpoint_id,
                          "SELECT position_ns, access_count FROM heat WHERE ep = ? AND path = ?",
                          &rc);
    if (st) {
        sqlite3_bind_text(st, 2, rel, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *position_ns = sqlite3_column_int64(st, 0);
            *count = (uint64_t)sqlite3_column_int64(st, 1);
        }
        sqlite3_reset(st);
        rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : afs__db_error(v->heat, rc, "read heat");
    }
    pthread_mutex_unlock(&v->mu);
    return rc;
}

int afs__heat_count(afs__tier_vol *v, const char *endpoint_id, const afs__heat_counters *a)
{
    sqlite3_stmt *st;
    int rc;
    pthread_mutex_lock(&v->mu);
    st = afs__db_stmt(v->heat,
                      "INSERT INTO stats (endpoint_id, files_tiered, bytes_tiered, accesses, "
                      "access_recalls, recalls, recall_bytes, recall_failures, recall_ns) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
                      "ON CONFLICT (endpoint_id) DO UPDATE SET "
                      "files_tiered = files_tiered + ?2, bytes_tiered = bytes_tiered + ?3, "
                      "accesses = accesses + ?4, access_recalls = access_recalls + ?5, "
                      "recalls = recalls + ?6, recall_bytes = recall_bytes + ?7, "
                      "recall_failures = recall_failures + ?8, recall_ns = recall_ns + ?9");
    if (!st) {
        rc = afs_error_last_code();
    } else {
        sqlite3_bind_text(st, 1, endpoint_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)a->files_tiered);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)a->bytes_tiered);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)a->accesses);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)a->access_recalls);
        sqlite3_bind_int64(st, 6, (sqlite3_int64)a->recalls);
        sqlite3_bind_int64(st, 7, (sqlite3_int64)a->recall_bytes);
        sqlite3_bind_int64(st, 8, (sqlite3_int64)a->recall_failures);
        sqlite3_bind_int64(st, 9, (sqlite3_int64)a->recall_ns);
        rc = step_done(v->heat, st, "count tiering statistics");
    }
    pthread_mutex_unlock(&v->mu);
    return rc;
}

/* ---- pins and exclusions ---- */

static int load_strings(afs_db *db, const char *sql, const char *endpoint_id, char ***out,
                        size_t *count)
{
    sqlite3_stmt *st = afs__db_stmt(db, sql);
    char **list = NULL;
    size_t n = 0, cap = 0;
    int rc;

    *out = NULL;
    *count = 0;
    if (!st)
        return afs_error_last_code();
    sqlite3_bind_text(st, 1, endpoint_id, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n + 1 >= cap) {
            size_t nc = cap ? cap * 2 : 8;
            char **nl = afs__realloc(list, nc * sizeof(char *));
            if (!nl) {
                rc = SQLITE_NOMEM;
                break;
            }
            list = nl;
            cap = nc;
        }
        if (!(list[n] = afs__strdup((const char *)sqlite3_column_text(st, 0)))) {
            rc = SQLITE_NOMEM;
            break;
        }
        list[++n] = NULL;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        for (size_t i = 0; i < n; i++)
            free(list[i]);
        free(list);
        return rc == SQLITE_NOMEM ? AFS_ENOMEM : afs__db_error(db, rc, "load tiering rules");
    }
    *out = list;
    *count = n;
    return 0;
}

int afs__heat_rules_load(afs__tier_vol *v, const char *endpoint_id, afs__tier_rules *r)
{
    int rc;
    memset(r, 0, sizeof(*r));
    pthread_mutex_lock(&v->mu);
    rc = load_strings(v->heat, "SELECT path FROM pin WHERE endpoint_id = ? ORDER BY path",
                      endpoint_id, &r->pins, &r->npins);
    if (rc == 0)
        rc = load_strings(v->heat,
                          "SELECT pattern FROM tier_exclude WHERE endpoint_id = ? "
                          "ORDER BY pattern",
                          endpoint_id, &r->excludes, &r->nexcludes);
    pthread_mutex_unlock(&v->mu);
    if (rc != 0)
        afs__tier_rules_free(r);
    return rc;
}

void afs__tier_rules_free(afs__tier_rules *r)
{
    for (size_t i = 0; i < r->npins; i++)
        free(r->pins[i]);
    for (size_t i = 0; i < r->nexcludes; i++)
        free(r->excludes[i]);
    free(r->pins);
    free(r->excludes);
    memset(r, 0, sizeof(*r));
}

bool afs__tier_pinned(const afs__tier_rules *r, const char *rel)
{
    size_t rl = strlen(rel);
    for (size_t i = 0; i < r->npins; i++) {
        const char *p = r->pins[i];
        size_t pl = strlen(p);
        /* The file itself, or a folder above it ("" is the endpoint's root). */
        if (pl == 0 || (pl == rl && memcmp(p, rel, pl) == 0) ||
            (pl < rl && memcmp(p, rel, pl) == 0 && rel[pl] == '/'))
            return true;
    }
    return false;
}

bool afs__tier_excluded(const afs__tier_rules *r, const char *rel)
{
    const char *slash = strrchr(rel, '/');
    const char *name = slash ? slash + 1 : rel;
    for (size_t i = 0; i < r->nexcludes; i++) {
        const char *pat = r->excludes[i];
        /* As sync exclusions: with a '/' the pattern matches the path, else the name. */
        if (fnmatch(pat, strchr(pat, '/') ? rel : name, FNM_PATHNAME | FNM_PERIOD) == 0)
            return true;
    }
    return false;
}

/*
 * The state store (lib/db): file mode, WAL, forward migrations, refusal
 * of corrupt, foreign and future files without touching them, the
 * statement cache, transactions, batches and error mapping.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"
#include "core/internal.h"
#include "db/db.h"

#define TEST_APP 0x54455354u /* "TEST" */

static const afs__db_migration base[] = {
    { 1, "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT);"
         "CREATE TABLE log (step INTEGER);"
         "INSERT INTO log VALUES (1);" },
    { 2, "ALTER TABLE t ADD COLUMN extra INTEGER NOT NULL DEFAULT 7;"
         "INSERT INTO log VALUES (2);" },
    { 3, "CREATE UNIQUE INDEX t_v ON t(v); INSERT INTO log VALUES (3);" },
};

static afs_db *open_ok(const char *path, size_t nmig)
{
    afs_db *db = NULL;
    AFS_ASSERT_OK(afs__db_open(&db, path, TEST_APP, base, nmig));
    assert_non_null(db);
    return db;
}

static int64_t one_int(afs_db *db, const char *sql)
{
    sqlite3_stmt *st = afs__db_stmt(db, sql);
    int64_t v;
    if (!st)
        fail_msg("%s: %s", sql, afs_error_last());
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return v;
}

static void insert(afs_db *db, int64_t k, const char *v)
{
    sqlite3_stmt *st = afs__db_stmt(db, "INSERT INTO t (k, v) VALUES (?1, ?2)");
    assert_non_null(st);
    sqlite3_bind_int64(st, 1, k);
    sqlite3_bind_text(st, 2, v, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
}

static unsigned char *read_all(const char *path, size_t *len)
{
    unsigned char *b = (unsigned char *)afs_test_read_file(path, len);
    assert_non_null(b);
    return b;
}

/* Open must fail with `code` and leave the file's bytes as they were. */
static void assert_refused_untouched_flags(const char *path, size_t nmig, int code,
                                           unsigned int flags)
{
    size_t before_len, after_len;
    unsigned char *before = read_all(path, &before_len);
    unsigned char *after;
    afs_db *db = NULL;
    AFS_ASSERT_CODE(afs__db_open_flags(&db, path, TEST_APP, base, nmig, flags), code);
    assert_null(db);
    assert_non_null(strstr(afs_error_last(), path));
    if (getenv("AFS_TEST_VERBOSE"))
        print_message("refused: %s\n", afs_error_last());
    after = read_all(path, &after_len);
    assert_int_equal(before_len, after_len);
    assert_memory_equal(before, after, before_len);
    free(before);
    free(after);
}

static void assert_refused_untouched(const char *path, size_t nmig, int code)
{
    assert_refused_untouched_flags(path, nmig, code, 0);
}

/* Deterministic noise (xorshift), so a failure can be reproduced. */
static void noise(unsigned char *buf, size_t len, uint64_t seed)
{
    uint64_t x = seed | 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (unsigned char)x;
    }
}

/* A database made by plain SQLite, as another application would. */
static void make_foreign(const char *path, const char *sql)
{
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
    if (sqlite3_exec(h, sql, NULL, NULL, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(h));
    assert_int_equal(sqlite3_close(h), SQLITE_OK);
}

static void test_db__file_is_0600_even_with_umask_0(void **state)
{
    char *path = afs_test_path(*state, "s.db");
    char *wal = afs_test_path(*state, "s.db-wal");
    char *shm = afs_test_path(*state, "s.db-shm");
    mode_t old = umask(0);
    struct stat st;
    afs_db *db = open_ok(path, 1);
    insert(db, 1, "a");
    umask(old); /* before any assertion can leave the test */
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    /* SQLite gives its side files the main file's mode. */
    assert_int_equal(stat(wal, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(stat(shm, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    afs__db_close(db);
    free(path);
    free(wal);
    free(shm);
}

static void test_db__wal_foreign_keys_and_normal_sync_are_on(void **state)
{
    char *path = afs_test_path(*state, "s.db");
    afs_db *db = open_ok(path, 1);
    sqlite3_stmt *st = afs__db_stmt(db, "PRAGMA journal_mode");
    assert_non_null(st);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_reset(st);
    assert_int_equal(one_int(db, "PRAGMA foreign_keys"), 1);
    assert_int_equal(one_int(db, "PRAGMA synchronous"), 1); /* NORMAL */
    assert_int_equal(one_int(db, "PRAGMA application_id"), (int64_t)TEST_APP);
    afs__db_close(db);
    free(path);
}

static void test_db__migrations_apply_in_order_and_upgrade_keeps_rows(void **state)
{
    char *path = afs_test_path(*state, "s.db");
    afs_db *db = open_ok(path, 2);
    sqlite3_stmt *st;
    assert_int_equal(one_int(db, "PRAGMA user_version"), 2);
    insert(db, 1, "kept");
    afs__db_close(db);

    db = open_ok(path, 3); /* one more step */
    assert_int_equal(one_int(db, "PRAGMA user_version"), 3);
    assert_int_equal(one_int(db, "SELECT group_concat(step, ',') = '1,2,3' FROM log"), 1);
    st = afs__db_stmt(db, "SELECT v, extra FROM t WHERE k = 1");
    assert_non_null(st);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "kept");
    assert_int_equal(sqlite3_column_int(st, 1), 7);
    sqlite3_reset(st);
    afs__db_close(db);

    db = open_ok(path, 3); /* nothing to do: steps are not re-run */
    assert_int_equal(one_int(db, "SELECT count(*) FROM log"), 3);
    afs__db_close(db);
    free(path);
}

static void test_db__failed_migration_keeps_previous_version(void **state)
{
    static const afs__db_migration bad[] = {
        { 1, "CREATE TABLE t (k INTEGER PRIMARY KEY);" },
        { 2, "CREATE TABLE half (a); THIS IS NOT SQL;" },
    };
    char *path = afs_test_path(*state, "s.db");
    afs_db *db = NULL;
    AFS_ASSERT_CODE(afs__db_open(&db, path, TEST_APP, bad, 2), AFS_ERROR);
    assert_null(db);
    assert_non_null(strstr(afs_error_last(), "version 2"));
    assert_non_null(strstr(afs_error_last(), path));
    AFS_ASSERT_OK(afs__db_open(&db, path, TEST_APP, bad, 1));
    assert_int_equal(one_int(db, "PRAGMA user_version"), 1);
    assert_int_equal(one_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'half'"), 0);
    afs__db_close(db);
    free(path);
}

static void test_db__bad_migration_list_is_einval(void **state)
{
    static const afs__db_migration backwards[] = { { 2, "SELECT 1" }, { 1, "SELECT 1" } };
    static const afs__db_migration zero[] = { { 0, "SELECT 1" } };
    char *path = afs_test_path(*state, "s.db");
    afs_db *db = NULL;
    AFS_ASSERT_CODE(afs__db_open(&db, path, TEST_APP, backwards, 2), AFS_EINVAL);
    AFS_ASSERT_CODE(afs__db_open(&db, path, TEST_APP, zero, 1), AFS_EINVAL);
    AFS_ASSERT_CODE(afs__db_open(&db, path, 0, base, 1), AFS_EINVAL);
    AFS_ASSERT_CODE(afs__db_open(NULL, path, TEST_APP, base, 1), AFS_EINVAL);
    assert_null(db);
    assert_int_equal(access(path, F_OK), -1); /* refused before creating anything */
    free(path);
}

static void test_db__empty_file_is_taken_as_new(void **state)
{
    char *path = afs_test_path(*state, "s.db");
    afs_db *db;
    afs_test_write_file(path, "", 0); /* as if a crash followed the create */
    db = open_ok(path, 3);
    assert_int_equal(one_int(db, "PRAGMA user_version"), 3);
    afs__db_close(db);
    free(path);
}

static void test_db__future_database_is_eversion_untouched(void **state)
{
    char *path = afs_test_path(*state, "s.db");
    afs_db *db = open_ok(path, 3);
    insert(db, 1, "from the future");
    afs__db_close(db);
    assert_refused_untouched(path, 2, AFS_EVERSION);
    assert_non_null(strstr(afs_error_last(), "newer libafs"));
    db = open_ok(path, 3); /* still fine for the libafs that wrote it */
    assert_int_equal(one_int(db, "SELECT count(*) FROM t"), 1);
    afs__db_close(db);
    free(path);
}

static void test_db__random_bytes_are_ecorrupt_untouched(void **state)
{
    char *path = afs_test_path(*state, "s.db");
    unsigned char junk[8192];
    noise(junk, sizeof(junk), 42);
    afs_test_write_file(path, junk, sizeof(junk));
    assert_refused_untouched(path, 1, AFS_ECORRUPT);
    assert_non_null(strstr(afs_error_last(), "not a SQLite database"));

    /* The right magic with garbage after it gets past our own check. */
    memcpy(junk, "SQLite format 3", 16);
    afs_test_write_file(path, junk, sizeof(junk));
    assert_refused_untouched(path, 1, AFS_ECORRUPT);

    afs_test_write_file(path, "short", 5);
    assert_refused_untouched(path, 1, AFS_ECORRUPT);
    free(path);
}

static void test_db__foreign_database_is_ecorrupt_untouched(void **state)
{
    char *other = afs_test_path(*state, "other.db");
    char *untagged = afs_test_path(*state, "untagged.db");
    char *kind = afs_test_path(*state, "kind.db");
    afs_db *db;

    make_foreign(other, "PRAGMA application_id = 305419896;"
                        "CREATE TABLE x (a); INSERT INTO x VALUES (1);");
    assert_refused_untouched(other, 1, AFS_ECORRUPT);
    assert_non_null(strstr(afs_error_last(), "not a libafs database"));

    make_foreign(untagged, "PRAGMA journal_mode = WAL; CREATE TABLE x (a);"
                           "INSERT INTO x VALUES (1);");
    assert_refused_untouched(untagged, 1, AFS_ECORRUPT);
    assert_non_null(strstr(afs_error_last(), "another application"));

    /* A libafs database of another kind is not this kind either. */
    AFS_ASSERT_OK(afs__db_open(&db, kind, AFS__DB_APP_HEAT, base, 1));
    afs__db_close(db);
    assert_refused_untouched(kind, 1, AFS_ECORRUPT);
    free(other);
    free(untagged);
    free(kind);
}

/* A libafs database with enough rows to span ~100 pages. */
static void make_big(const char *path)
{
    char v[160];
    afs__db_batch b;
    afs_db *db = open_ok(path, 1);
    afs__db_batch_init(&b, db, 1000);
    for (int i = 0; i < 3000; i++) {
        AFS_ASSERT_OK(afs__db_batch_step(&b));
        snprintf(v, sizeof(v), "%0120d", i);
        insert(db, i, v);
    }
    AFS_ASSERT_OK(afs__db_batch_finish(&b));
    afs__db_close(db); /* last connection: checkpoints, the WAL goes away */
}

static void test_db__damaged_pages_are_ecorrupt_not_a_crash(void **state)
{
    char *path = afs_test_path(*state, "s.db");
    unsigned char *bytes;
    size_t len;

    make_big(path);
    bytes = read_all(path, &len);
    assert_true(len > 40 * 4096);
    noise(bytes + 20 * 4096, 4 * 4096, 7); /* four pages in the middle */
    afs_test_write_file(path, bytes, len);
    assert_refused_untouched(path, 1, AFS_ECORRUPT);
    assert_non_null(strstr(afs_error_last(), "move it away"));
    free(bytes);

    /* Truncated in the middle: pages the header promises are missing.
     * Start from a clean slate: the refused open left the WAL side files. */
    afs_test_rmtree(*state);
    afs_test_mkdirs(*state);
    make_big(path);
    bytes = read_all(path, &len);
    afs_test_write_file(path, bytes, len / 2);
    assert_refused_untouched(path, 1, AFS_ECORRUPT);
    free(bytes);
    free(path);
}

/* AFS__DB_CHECK_IF_UNCLEAN: a file closed cleanly is not read in full at
 * open, and damage shows as AFS_ECORRUPT where it is read; after a crash
 * (the -wal file is left) the whole file is checked and a damaged one is
 * refused untouched. */
static void test_db__quick_check_if_unclean_runs_after_a_crash(void **state)
{
    char *path = afs_test_path(*state, "s.db");
    char *wal = afs_test_path(*state, "s.db-wal");
    struct stat st;
    unsigned char *bytes;
    sqlite3_stmt *q;
    afs_db *db = NULL;
    size_t len;
    pid_t pid;
    int status = 0, rc;

    /* Closed cleanly, then damaged: the open does not see it, the read does. */
    make_big(path);
    bytes = read_all(path, &len);
    noise(bytes + 20 * 4096, 4 * 4096, 11);
    afs_test_write_file(path, bytes, len);
    free(bytes);
    AFS_ASSERT_OK(afs__db_open_flags(&db, path, TEST_APP, base, 1, AFS__DB_CHECK_IF_UNCLEAN));
    q = afs__db_stmt(db, "SELECT sum(length(v)) FROM t");
    assert_non_null(q);
    rc = sqlite3_step(q);
    assert_int_not_equal(rc, SQLITE_ROW);
    assert_int_equal(afs__db_error(db, rc, "read"), AFS_ECORRUPT);
    sqlite3_reset(q);
    afs__db_close(db);

    /* A process dies with the database open: its -wal file stays. */
    afs_test_rmtree(*state);
    afs_test_mkdirs(*state);
    make_big(path);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        afs_db *c = NULL;
        if (afs__db_open_flags(&c, path, TEST_APP, base, 1, AFS__DB_CHECK_IF_UNCLEAN) != 0 ||
            afs__db_exec(c, "INSERT INTO t (k, v) VALUES (99999, 'last')") != 0)
            _exit(1);
        _exit(0); /* no close: no checkpoint, the WAL stays */
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(stat(wal, &st), 0);
    assert_true(st.st_size > 0);
    bytes = read_all(path, &len);
    noise(bytes + 20 * 4096, 4 * 4096, 13);
    afs_test_write_file(path, bytes, len);
    free(bytes);
    assert_refused_untouched_flags(path, 1, AFS_ECORRUPT, AFS__DB_CHECK_IF_UNCLEAN);
    assert_non_null(strstr(afs_error_last(), "quick_check"));
    free(wal);
    free(path);
}

static void test_db__statement_cache_returns_same_reset_statement(void **state)
{
    char *path = afs_test_path(*state, "s.db");
    afs_db *db = open_ok(path, 1);
    sqlite3_stmt *a, *b, *p1, *p2;
    char sql[64];
    sqlite3_stmt *many[100];

    insert(db, 1, "one");
    insert(db, 2, "two");
    a = afs__db_stmt(db, "SELECT v FROM t ORDER BY k");
    assert_non_null(a);
    assert_int_equal(sqlite3_step(a), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(a, 0), "one");
    /* Same text, same statement, back at the first row. */
    b = afs__db_stmt(db, "SELECT v FROM t ORDER BY k");
    assert_ptr_equal(a, b);
    assert_int_equal(sqlite3_step(b), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(b, 0), "one");
    sqlite3_reset(b);

    /* Bindings are cleared between uses. */
    p1 = afs__db_stmt(db, "SELECT ?1");
    sqlite3_bind_int(p1, 1, 5);
    assert_int_equal(sqlite3_step(p1), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(p1, 0), 5);
    p2 = afs__db_stmt(db, "SELECT ?1");
    assert_ptr_equal(p1, p2);
    assert_int_equal(sqlite3_step(p2), SQLITE_ROW);
    assert_int_equal(sqlite3_column_type(p2, 0), SQLITE_NULL);
    sqlite3_reset(p2);

    /* Past the first table size, every statement is still found. */
    for (int i = 0; i < 100; i++) {
        snprintf(sql, sizeof(sql), "SELECT %d + 1", i);
        many[i] = afs__db_stmt(db, sql);
        assert_non_null(many[i]);
    }
    for (int i = 0; i < 100; i++) {
        snprintf(sql, sizeof(sql), "SELECT %d + 1", i);
        assert_ptr_equal(afs__db_stmt(db, sql), many[i]);
        assert_int_equal(one_int(db, sql), i + 1);
    }
    assert_ptr_equal(afs__db_stmt(db, "SELECT v FROM t ORDER BY k"), a);

    /* One statement only; bad SQL is reported with the file name. */
    assert_null(afs__db_stmt(db, "SELECT 1; SELECT 2"));
    assert_int_equal(afs_error_last_code(), AFS_EINVAL);
    assert_null(afs__db_stmt(db, "SELEKT 1"));
    assert_non_null(strstr(afs_error_last(), path));
    afs__db_close(db);
    free(path);
}

static void test_db__batch_of_100000_inserts_commits(void **state)
{
    char *path = afs_test_path(*state, "s.db");
    afs_db *db = open_ok(path, 1);
    afs__db_batch b;
    afs__db_batch_init(&b, db, 5000);
    for (int i = 0; i < 100000; i++) {
        sqlite3_stmt *st;
        AFS_ASSERT_OK(afs__db_batch_step(&b));
        st = afs__db_stmt(db, "INSERT INTO t (k) VALUES (?1)");
        assert_non_null(st);
        sqlite3_bind_int(st, 1, i);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    }
    AFS_ASSERT_OK(afs__db_batch_finish(&b));
    assert_true(sqlite3_get_autocommit(afs__db_handle(db)));
    afs__db_close(db);

    db = open_ok(path, 1); /* committed means on disk for the next opener */
    assert_int_equal(one_int(db, "SELECT count(*) FROM t"), 100000);
    afs__db_close(db);
    free(path);
}

static void test_db__rollback_leaves_nothing(void **state)
{
    char *path = afs_test_path(*state, "s.db");
    afs_db *db = open_ok(path, 1);
    afs__db_batch b;

    AFS_ASSERT_OK(afs__db_begin(db));
    AFS_ASSERT_CODE(afs__db_begin(db), AFS_EINVAL); /* no nesting */
    insert(db, 1, "gone");
    afs__db_rollback(db);
    assert_int_equal(one_int(db, "SELECT count(*) FROM t"), 0);
    afs__db_rollback(db); /* outside a transaction: nothing happens */

    /* A batch abort loses only the open transaction. */
    afs__db_batch_init(&b, db, 4);
    for (int i = 0; i < 10; i++) {
        AFS_ASSERT_OK(afs__db_batch_step(&b));
        insert(db, i, NULL);
    }
    afs__db_batch_abort(&b);
    assert_int_equal(one_int(db, "SELECT count(*) FROM t"), 8);
    afs__db_close(db);
    free(path);
}

static void test_db__errors_map_to_afs_codes_naming_the_file(void **state)
{
    char *path = afs_test_path(*state, "s.db");
    afs_db *db = open_ok(path, 3);
    sqlite3_stmt *st;
    int rc;

    insert(db, 1, "same");
    st = afs__db_stmt(db, "INSERT INTO t (k, v) VALUES (2, 'same')");
    rc = sqlite3_step(st);
    assert_int_equal(rc & 0xff, SQLITE_CONSTRAINT);
    assert_int_equal(afs__db_error(db, rc, "add item"), AFS_EEXISTS);
    assert_non_null(strstr(afs_error_last(), path));
    assert_non_null(strstr(afs_error_last(), "UNIQUE constraint failed"));
    assert_non_null(strstr(afs_error_last(), "add item"));

    assert_int_equal(afs__db_error(db, SQLITE_BUSY, "x"), AFS_EBUSY);
    assert_int_equal(afs__db_error(db, SQLITE_LOCKED, "x"), AFS_EBUSY);
    assert_int_equal(afs__db_error(db, SQLITE_CORRUPT, "x"), AFS_ECORRUPT);
    assert_int_equal(afs__db_error(db, SQLITE_NOTADB, "x"), AFS_ECORRUPT);
    assert_int_equal(afs__db_error(db, SQLITE_FULL, "x"), AFS_ENOSPC);
    assert_int_equal(afs__db_error(db, SQLITE_IOERR_WRITE, "x"), AFS_EIO);
    assert_int_equal(afs__db_error(db, SQLITE_NOMEM, "x"), AFS_ENOMEM);
    assert_int_equal(afs__db_error(db, SQLITE_MISMATCH, "x"), AFS_ERROR);
    assert_non_null(strstr(afs_error_last(), path));
    AFS_ASSERT_CODE(afs__db_exec(db, "INSERT INTO nowhere VALUES (1)"), AFS_ERROR);
    assert_non_null(strstr(afs_error_last(), "no such table"));
    afs__db_close(db);
    free(path);
}

static void test_db__missing_directory_is_enotfound(void **state)
{
    char *path = afs_test_path(*state, "no/such/dir/s.db");
    afs_db *db = NULL;
    AFS_ASSERT_CODE(afs__db_open(&db, path, TEST_APP, base, 1), AFS_ENOTFOUND);
    assert_non_null(strstr(afs_error_last(), path));
    free(path);
}

static void test_db__two_handles_see_each_others_commits(void **state)
{
    char *path = afs_test_path(*state, "s.db");
    afs_db *a = open_ok(path, 1);
    afs_db *b = open_ok(path, 1);
    sqlite3_stmt *st;
    insert(a, 1, "from a");
    /* A reader keeps its snapshot while the other handle writes (WAL). */
    st = afs__db_stmt(b, "SELECT v FROM t");
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    insert(a, 2, "more");
    sqlite3_reset(st);
    assert_int_equal(one_int(b, "SELECT count(*) FROM t"), 2);
    afs__db_close(a);
    afs__db_close(b);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, afs_test_setup_sandbox, afs_test_teardown_sandbox)
        T(test_db__file_is_0600_even_with_umask_0),
        T(test_db__wal_foreign_keys_and_normal_sync_are_on),
        T(test_db__migrations_apply_in_order_and_upgrade_keeps_rows),
        T(test_db__failed_migration_keeps_previous_version),
        T(test_db__bad_migration_list_is_einval),
        T(test_db__empty_file_is_taken_as_new),
        T(test_db__future_database_is_eversion_untouched),
        T(test_db__random_bytes_are_ecorrupt_untouched),
        T(test_db__foreign_database_is_ecorrupt_untouched),
        T(test_db__damaged_pages_are_ecorrupt_not_a_crash),
        T(test_db__quick_check_if_unclean_runs_after_a_crash),
        T(test_db__statement_cache_returns_same_reset_statement),
        T(test_db__batch_of_100000_inserts_commits),
        T(test_db__rollback_leaves_nothing),
        T(test_db__errors_map_to_afs_codes_naming_the_file),
        T(test_db__missing_directory_is_enotfound),
        T(test_db__two_handles_see_each_others_commits),
#undef T
    };
    return cmocka_run_group_tests_name("db", tests, NULL, NULL);
}

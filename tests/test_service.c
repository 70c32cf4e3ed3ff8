/*
 * The Storage Sync Service handle and the registered server: state
 * directory and file modes, registration rules, the id surviving reopen,
 * options versioning, refusing corrupt and future state, and two
 * processes registering at once.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"
#include "core/internal.h"
#include "db/db.h"
#include "service/service_internal.h"

static afs_service *open_ok(const char *dir)
{
    afs_service *svc = NULL;
    AFS_ASSERT_OK(afs_service_open(&svc, dir, NULL));
    assert_non_null(svc);
    return svc;
}

static void assert_uuid_v4(const char *id)
{
    assert_non_null(id);
    assert_int_equal(strlen(id), 36);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            assert_int_equal(id[i], '-');
        else
            assert_true(isxdigit((unsigned char)id[i]) && !isupper((unsigned char)id[i]));
    }
    assert_int_equal(id[14], '4');
    assert_non_null(strchr("89ab", id[19]));
}

static void assert_mode(const char *path, unsigned mode)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    if ((st.st_mode & 07777) != mode)
        fail_msg("%s has mode %o, expected %o", path, (unsigned)(st.st_mode & 07777), mode);
}

static void test_service__open_creates_private_state_dir_and_db(void **state)
{
    char *top = afs_test_path(*state, "var");
    char *dir = afs_test_path(*state, "var/lib/afs");
    char *db = afs_test_path(*state, "var/lib/afs/service.db");
    mode_t old = umask(0);
    afs_service *svc = open_ok(dir);
    umask(old);
    assert_mode(top, 0700);
    assert_mode(dir, 0700);
    assert_mode(db, 0600);
    /* The identity is written with full durability (docs/state-store.md). */
    {
        sqlite3_stmt *st = afs__db_stmt(afs__service_db(svc), "PRAGMA synchronous");
        assert_non_null(st);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(st, 0), 2); /* FULL */
        sqlite3_reset(st);
    }
    assert_string_equal(afs__service_state_dir(svc), dir);
    /* Without a host filesystem the service owns the POSIX default. */
    {
        const afs_fs_ops *ops;
        void *ctx;
        afs_fs_stat st;
        assert_non_null(afs__service_fs(svc));
        AFS_ASSERT_OK(afs_fs_ops_get(afs__service_fs(svc), &ops, &ctx));
        memset(&st, 0, sizeof(st));
        AFS_ASSERT_OK(ops->stat(ctx, dir, &st));
        assert_int_equal(st.type, AFS_TYPE_DIR);
    }
    afs_service_close(svc);
    afs_service_close(NULL);
    /* A host's filesystem is used as given (and not freed by the service). */
    {
        afs_service_options o;
        afs_fs *fs;
        AFS_ASSERT_OK(afs_fs_posix_new(&fs));
        AFS_ASSERT_OK(afs_service_options_init(&o, AFS_SERVICE_OPTIONS_VERSION));
        o.fs = fs;
        AFS_ASSERT_OK(afs_service_open(&svc, dir, &o));
        assert_ptr_equal(afs__service_fs(svc), fs);
        afs_service_close(svc);
        afs_fs_free(fs);
    }
    /* An existing directory keeps the mode its owner chose. */
    assert_int_equal(chmod(dir, 0750), 0);
    svc = open_ok(dir);
    assert_mode(dir, 0750);
    afs_service_close(svc);
    free(top);
    free(dir);
    free(db);
}

static void test_service__register_generates_uuid_that_survives_reopen(void **state)
{
    afs_service *svc = open_ok(*state);
    const char *name = NULL, *id = NULL;
    char *first;
    AFS_ASSERT_OK(afs_server_register(svc, "host-01.example"));
    AFS_ASSERT_OK(afs_server_info(svc, &name, &id));
    assert_string_equal(name, "host-01.example");
    assert_uuid_v4(id);
    first = strdup(id);
    afs_service_close(svc);

    svc = open_ok(*state);
    AFS_ASSERT_OK(afs_server_info(svc, &name, NULL));
    AFS_ASSERT_OK(afs_server_info(svc, NULL, &id));
    assert_string_equal(name, "host-01.example");
    assert_string_equal(id, first);
    afs_service_close(svc);
    free(first);
}

static void test_service__register_same_name_keeps_id(void **state)
{
    afs_service *svc = open_ok(*state);
    afs_service *other;
    const char *id;
    char *first;
    AFS_ASSERT_OK(afs_server_register(svc, "host"));
    AFS_ASSERT_OK(afs_server_info(svc, NULL, &id));
    first = strdup(id);
    AFS_ASSERT_OK(afs_server_register(svc, "host"));
    AFS_ASSERT_OK(afs_server_info(svc, NULL, &id));
    assert_string_equal(id, first);
    /* Through another handle too. */
    other = open_ok(*state);
    AFS_ASSERT_OK(afs_server_register(other, "host"));
    AFS_ASSERT_OK(afs_server_info(other, NULL, &id));
    assert_string_equal(id, first);
    afs_service_close(other);
    afs_service_close(svc);
    free(first);
}

static void test_service__register_other_name_is_eexists(void **state)
{
    afs_service *svc = open_ok(*state);
    const char *name, *id;
    AFS_ASSERT_OK(afs_server_register(svc, "first"));
    AFS_ASSERT_CODE(afs_server_register(svc, "second"), AFS_EEXISTS);
    assert_non_null(strstr(afs_error_last(), "another state directory"));
    assert_non_null(strstr(afs_error_last(), "first"));
    AFS_ASSERT_OK(afs_server_info(svc, &name, &id));
    assert_string_equal(name, "first");
    afs_service_close(svc);
}

static void test_service__invalid_names_are_einvalidname(void **state)
{
    static const char *bad[] = {
        "", "a/b", "/", "tab\there", "nl\n", "del\x7f", "c1\xc2\x85", "bad\xff utf8",
        "over\xc0\xafong", "cut\xe2\x82", "surrogate\xed\xa0\x80",
    };
    char big[257];
    afs_service *svc = open_ok(*state);
    const char *name;
    char *other;
    for (size_t i = 0; i < AFS__ARRAY_LEN(bad); i++) {
        int rc = afs_server_register(svc, bad[i]);
        if (rc != AFS_EINVALIDNAME)
            fail_msg("name #%zu: got %d, expected AFS_EINVALIDNAME", i, rc);
    }
    memset(big, 'a', 256);
    big[256] = '\0';
    AFS_ASSERT_CODE(afs_server_register(svc, big), AFS_EINVALIDNAME);
    AFS_ASSERT_CODE(afs_server_register(svc, NULL), AFS_EINVAL);
    AFS_ASSERT_CODE(afs_server_register(NULL, "x"), AFS_EINVAL);
    AFS_ASSERT_CODE(afs_server_info(svc, NULL, NULL), AFS_ENOTFOUND); /* none took */
    big[255] = '\0'; /* 255 bytes is the most */
    AFS_ASSERT_OK(afs_server_register(svc, big));
    afs_service_close(svc);

    /* Multi-byte UTF-8 is fine (another state directory: one name each). */
    other = afs_test_path(*state, "utf8");
    svc = open_ok(other);
    AFS_ASSERT_OK(afs_server_register(svc, "s\xc3\xa9verin-\xe2\x82\xac-\xf0\x9f\x92\xbe"));
    AFS_ASSERT_OK(afs_server_info(svc, &name, NULL));
    assert_string_equal(name, "s\xc3\xa9verin-\xe2\x82\xac-\xf0\x9f\x92\xbe");
    afs_service_close(svc);
    free(other);
}

static void test_service__info_before_register_is_enotfound(void **state)
{
    afs_service *svc = open_ok(*state);
    const char *name = "unchanged";
    AFS_ASSERT_CODE(afs_server_info(svc, &name, NULL), AFS_ENOTFOUND);
    assert_non_null(strstr(afs_error_last(), "register"));
    assert_string_equal(name, "unchanged");
    AFS_ASSERT_CODE(afs_server_info(NULL, &name, NULL), AFS_EINVAL);
    afs_service_close(svc);
}

static void test_service__options_are_versioned(void **state)
{
    afs_service_options o;
    afs_service *svc = NULL;
    AFS_ASSERT_CODE(afs_service_options_init(&o, 0), AFS_EVERSION);
    AFS_ASSERT_CODE(afs_service_options_init(&o, AFS_SERVICE_OPTIONS_VERSION + 1), AFS_EVERSION);
    AFS_ASSERT_CODE(afs_service_options_init(NULL, 1), AFS_EINVAL);
    AFS_ASSERT_OK(afs_service_options_init(&o, AFS_SERVICE_OPTIONS_VERSION));
    assert_int_equal(o.version, AFS_SERVICE_OPTIONS_VERSION);
    assert_null(o.fs);
    o.version = 0;
    AFS_ASSERT_CODE(afs_service_open(&svc, *state, &o), AFS_EVERSION);
    o.version = AFS_SERVICE_OPTIONS_VERSION + 1;
    AFS_ASSERT_CODE(afs_service_open(&svc, *state, &o), AFS_EVERSION);
    assert_null(svc);
    o.version = AFS_SERVICE_OPTIONS_VERSION;
    AFS_ASSERT_OK(afs_service_open(&svc, *state, &o));
    afs_service_close(svc);
    AFS_ASSERT_CODE(afs_service_open(&svc, "", NULL), AFS_EINVAL);
    AFS_ASSERT_CODE(afs_service_open(NULL, *state, NULL), AFS_EINVAL);
}

static void assert_open_refused_untouched(const char *dir, int code)
{
    char *db = afs_test_path(dir, "service.db");
    size_t n1, n2;
    char *before = afs_test_read_file(db, &n1);
    char *after;
    afs_service *svc = NULL;
    assert_non_null(before);
    AFS_ASSERT_CODE(afs_service_open(&svc, dir, NULL), code);
    assert_null(svc);
    assert_non_null(strstr(afs_error_last(), db));
    after = afs_test_read_file(db, &n2);
    assert_non_null(after);
    assert_int_equal(n1, n2);
    assert_memory_equal(before, after, n1);
    free(before);
    free(after);
    free(db);
}

static void test_service__corrupt_db_is_ecorrupt_untouched(void **state)
{
    char *db = afs_test_path(*state, "service.db");
    unsigned char junk[4096];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (unsigned char)(i * 131 + 7);
    afs_test_write_file(db, junk, sizeof(junk));
    assert_open_refused_untouched(*state, AFS_ECORRUPT);
    free(db);
}

static void test_service__db_from_newer_libafs_is_eversion_untouched(void **state)
{
    static const afs__db_migration future[] = {
        { 1, "CREATE TABLE server (singleton INTEGER PRIMARY KEY, id, name, registered_ns)" },
        { 999, "CREATE TABLE from_the_future (a)" },
    };
    char *path = afs_test_path(*state, "service.db");
    afs_db *db;
    AFS_ASSERT_OK(afs__db_open(&db, path, AFS__DB_APP_SERVICE, future, 2));
    afs__db_close(db);
    assert_open_refused_untouched(*state, AFS_EVERSION);
    free(path);
}

static void test_service__state_dir_that_is_a_file_is_refused(void **state)
{
    char *file = afs_test_path(*state, "file");
    afs_service *svc = NULL;
    afs_test_write_file(file, "x", 1);
    AFS_ASSERT_CODE(afs_service_open(&svc, file, NULL), AFS_ENOTDIR);
    assert_non_null(strstr(afs_error_last(), file));
    assert_null(svc);
    free(file);
}

/* Child: open, register, write the id to <dir>/../id-<n>; exit 0 on success. */
static void child_register(const char *dir, int gate, int n)
{
    afs_service *svc = NULL;
    const char *id = NULL;
    char out[4096], ch;
    FILE *f;
    int rc;
    /* Wait until the parent opens the gate so that the children race. */
    if (read(gate, &ch, 1) < 0)
        _exit(90);
    rc = afs_service_open(&svc, dir, NULL);
    if (rc == 0)
        rc = afs_server_register(svc, "race-host");
    if (rc == 0)
        rc = afs_server_info(svc, NULL, &id);
    if (rc != 0) {
        fprintf(stderr, "child %d: %d %s\n", n, rc, afs_error_last());
        _exit(91);
    }
    snprintf(out, sizeof(out), "%s.id-%d", dir, n);
    f = fopen(out, "w");
    if (!f || fputs(id, f) < 0 || fclose(f) != 0)
        _exit(92);
    afs_service_close(svc);
    _exit(0);
}

static void test_service__concurrent_processes_register_one_id(void **state)
{
    enum { ROUNDS = 3, CHILDREN = 4 };
    for (int round = 0; round < ROUNDS; round++) {
        char name[32];
        char *dir;
        pid_t pids[CHILDREN];
        int status[CHILDREN];
        int gate[2];
        char *ids[CHILDREN];
        afs_service *svc;
        const char *id;

        snprintf(name, sizeof(name), "round%d/state", round);
        dir = afs_test_path(*state, name); /* not there yet: the children race to create it */
        assert_int_equal(pipe(gate), 0);
        for (int c = 0; c < CHILDREN; c++) {
            pids[c] = fork();
            assert_true(pids[c] >= 0);
            if (pids[c] == 0) {
                close(gate[1]);
                child_register(dir, gate[0], c);
            }
        }
        close(gate[0]);
        close(gate[1]); /* every child's read() returns now */
        /* Reap every child before judging, so none outlives the sandbox. */
        for (int c = 0; c < CHILDREN; c++)
            assert_int_equal(waitpid(pids[c], &status[c], 0), pids[c]);
        for (int c = 0; c < CHILDREN; c++) {
            char out[4096];
            if (!WIFEXITED(status[c]) || WEXITSTATUS(status[c]) != 0)
                fail_msg("round %d child %d failed (status %d)", round, c, status[c]);
            snprintf(out, sizeof(out), "%s.id-%d", dir, c);
            ids[c] = afs_test_read_file(out, NULL);
            assert_non_null(ids[c]);
        }
        svc = open_ok(dir);
        AFS_ASSERT_OK(afs_server_info(svc, NULL, &id));
        assert_uuid_v4(id);
        for (int c = 0; c < CHILDREN; c++) {
            assert_string_equal(ids[c], id);
            free(ids[c]);
        }
        afs_service_close(svc);
        free(dir);
    }
}

/* The bytes of version 1 of the options, as a program built against it has them. */
#define SERVICE_OPTIONS_V1 AFS_TEST_END_OF(afs_service_options, fs)

static void test_service__options_are_read_only_to_their_version(void **state)
{
    static const unsigned int refused[] = { 0, 99 };
    afs_service_options *o = afs_test_guarded_new(SERVICE_OPTIONS_V1);
    char *dir = afs_test_path(*state, "refused");
    afs_service *svc = NULL;
    afs_fs *fs = NULL;
    struct stat st;

    AFS_ASSERT_OK(afs_service_options_init(o, 1));
    assert_int_equal(o->version, 1);
    assert_null(o->fs);
    AFS_ASSERT_OK(afs_fs_posix_new(&fs));
    o->fs = fs; /* the field is read: the service uses this filesystem */
    AFS_ASSERT_OK(afs_service_open(&svc, *state, o));
    assert_ptr_equal(afs__service_fs(svc), fs);
    AFS_ASSERT_OK(afs_server_register(svc, "ServerA"));
    afs_service_close(svc);
    svc = NULL;

    /* Version 0 and a version from the future: AFS_EVERSION naming the
     * function and the version; no state directory is made. */
    for (size_t k = 0; k < sizeof(refused) / sizeof(refused[0]); k++) {
        unsigned int v = refused[k];
        o->version = v;
        AFS_ASSERT_CODE(afs_service_open(&svc, dir, o), AFS_EVERSION);
        afs_test_assert_version_refused("afs_service_open", "afs_service_options", v);
        assert_null(svc);
        assert_int_not_equal(stat(dir, &st), 0);
        AFS_ASSERT_CODE(afs_service_options_init(o, v), AFS_EVERSION);
        afs_test_assert_version_refused("afs_service_options_init", "afs_service_options", v);
        assert_int_equal(o->version, v);
        assert_ptr_equal(o->fs, fs); /* left as it was */
    }
    afs_fs_free(fs);
    afs_test_guarded_free(o, SERVICE_OPTIONS_V1);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, afs_test_setup_sandbox, afs_test_teardown_sandbox)
        T(test_service__open_creates_private_state_dir_and_db),
        T(test_service__register_generates_uuid_that_survives_reopen),
        T(test_service__register_same_name_keeps_id),
        T(test_service__register_other_name_is_eexists),
        T(test_service__invalid_names_are_einvalidname),
        T(test_service__info_before_register_is_enotfound),
        T(test_service__options_are_versioned),
        T(test_service__options_are_read_only_to_their_version),
        T(test_service__corrupt_db_is_ecorrupt_untouched),
        T(test_service__db_from_newer_libafs_is_eversion_untouched),
        T(test_service__state_dir_that_is_a_file_is_refused),
        T(test_service__concurrent_processes_register_one_id),
#undef T
    };
    return cmocka_run_group_tests_name("service", tests, NULL, NULL);
}

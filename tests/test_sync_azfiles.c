/*
 * Sync through Azure Files (the Files test server, tests/azure/
 * files_server.py): two servers sync a tree through a share given by
 * azfiles:// URI, both ways; downloads spoiled on the way and hostile
 * listings are item or session errors and write nothing locally. Never
 * skipped: without python3 the test fails and says so.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "azurite.h"
#include "files_server.h"
#include "syncenv.h"

#include "storage/azure/azure_internal.h"

static afs_test_files_server server;

static int setup(void **state)
{
    afs_test_env *env;
    char *name = afs_test_files_share_name("sync");
    afs_test_env_setup(state, "syncazf");
    env = *state;
    env->share_uri = afs_test_files_uri(&server, name, NULL);
    free(name);
    if (afs__azfiles_share_create(env->share_uri, NULL) != 0) {
        print_error("setup: %s\n", afs_error_last());
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    afs_test_env *env = *state;
    afs_test_files_server_cmd(&server, "clear");
    afs__azfiles_share_delete(env->share_uri, NULL);
    return afs_test_env_teardown(state);
}

/* Two servers sync a tree through the share, both ways (syncenv.h). */
static void test_sync_azfiles__two_servers_sync_through_a_share(void **state)
{
    afs_test_two_servers_through_share(*state);
}

static void join_whole_files(afs_test_env *env, afs_test_server *s)
{
    /* Whole-file downloads: with the default "namespace then content" the
     * server would first make placeholders, which are correct but are files. */
    afs_endpoint_options o = AFS_ENDPOINT_OPTIONS_INIT;
    o.initial_download = AFS_INITIAL_DOWNLOAD_AVOID_TIERED_FILES;
    afs_test_env_join(env, s, &o);
}

/* Downloads whose bytes are spoiled on the way (one byte flipped under the
 * MD5 of the real bytes, a body cut short) are item errors, and nothing of
 * them lands on the server; once the share answers properly they arrive. */
/* The writer tag travels as file metadata (docs/sync.md#conflicts). */
static void test_sync_azfiles__conflict_copy_of_an_enumerated_version_names_its_writer(void **state)
{
    afs_test_conflict_copy_names_its_writer(*state);
}

static void test_sync_azfiles__spoiled_downloads_write_nothing_locally(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");
    afs_test_server *b = afs_test_env_server(env, "ServerB");

    afs_test_put(a->data, "good.txt", "arrives intact");
    afs_test_put(a->data, "flipped.txt", "one byte will differ on the way");
    afs_test_write_pattern(a->data, "docs/truncated.bin", 200000, 3);
    afs_test_env_join(env, a, NULL);
    afs_test_sync(a);
    assert_int_equal(a->last.files_uploaded, 3);

    assert_int_equal(afs_test_files_server_cmd(&server, "fault flip flipped.txt"), 0);
    assert_int_equal(afs_test_files_server_cmd(&server, "fault truncate truncated.bin"), 0);
    join_whole_files(env, b);
    afs_test_sync(b);
    assert_int_equal(b->last.item_errors, 2);
    afs_test_assert_file(b->data, "good.txt", "arrives intact");
    afs_test_assert_file(b->data, "flipped.txt", NULL);
    afs_test_assert_file(b->data, "docs/truncated.bin", NULL);
    assert_int_equal(afs_test_count_files(b->data), 1); /* no partial file, no temp */

    assert_int_equal(afs_test_files_server_cmd(&server, "clear"), 0);
    afs_test_sync(b);
    assert_int_equal(b->last.item_errors, 0);
    afs_test_assert_same_tree(a->data, b->data);
}

/* A hostile listing of a directory (entity declarations, then malformed
 * XML) fails the session with a clear message and writes nothing of that
 * directory; the next session after the share is sane again completes. */
static void test_sync_azfiles__hostile_listing_writes_nothing_locally(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");
    static const char *const modes[] = { "xml-entity", "xml-malformed", "xml-deep",
                                         "xml-bad-root" };
    afs_test_server *b = NULL;

    afs_test_put(a->data, "top.txt", "top");
    afs_test_put(a->data, "evil/inside.txt", "behind a hostile listing");
    afs_test_env_join(env, a, NULL);
    afs_test_sync(a);
    assert_int_equal(a->last.files_uploaded, 2);

    /* A new server per kind of hostile answer: its first session meets it. */
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        afs_sync_result r = AFS_SYNC_RESULT_INIT;
        char cmd[64], name[32];
        int rc;
        snprintf(cmd, sizeof(cmd), "fault %s evil", modes[i]);
        snprintf(name, sizeof(name), "Server%zu", i + 1);
        assert_int_equal(afs_test_files_server_cmd(&server, "clear"), 0);
        assert_int_equal(afs_test_files_server_cmd(&server, cmd), 0);
        b = afs_test_env_server(env, name);
        join_whole_files(env, b);
        rc = afs_endpoint_sync(b->ep, NULL, &r);
        /* An item error for the directory, or a failed session that says why. */
        if (rc == 0 && r.item_errors == 0)
            fail_msg("%s: the session succeeded (%u downloaded)", modes[i],
                     (unsigned)r.files_downloaded);
        if (rc != 0 && !strstr(afs_error_last(), "evil"))
            fail_msg("%s: rc %d: %s", modes[i], rc, afs_error_last());
        afs_test_assert_file(b->data, "evil/inside.txt", NULL);
        assert_true(afs_test_count_files(b->data) <= 1); /* top.txt at most */
    }
    /* Sane again: a full enumeration brings the directory down. */
    assert_int_equal(afs_test_files_server_cmd(&server, "clear"), 0);
    afs_test_sync_expect(b, AFS_SYNC_FULL_CLOUD_SCAN, 0);
    afs_test_assert_same_tree(a->data, b->data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sync_azfiles__two_servers_sync_through_a_share,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_sync_azfiles__spoiled_downloads_write_nothing_locally, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_azfiles__hostile_listing_writes_nothing_locally,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_sync_azfiles__conflict_copy_of_an_enumerated_version_names_its_writer, setup,
            teardown),
    };
    int failed;

    if (afs_test_files_server_start(&server) != 0)
        return 1;
    setenv("AFS_AZURE_ACCOUNT_KEY", AFS_TEST_AZURITE_KEY, 1);
    unsetenv("AFS_AZURE_SAS");
    signal(SIGPIPE, SIG_IGN);
    failed = cmocka_run_group_tests_name("sync_azfiles", tests, NULL, NULL);
    afs_test_files_server_stop(&server);
    return failed;
}

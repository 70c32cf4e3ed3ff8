/*
 * A host without libcurl: the Azure backends load libcurl.so.4 when the
 * first one is opened (lib/storage/azure/curl_load.c). Here the loader is
 * pointed at a library that does not exist, before anything opens a
 * backend: opening an Azure share fails with a message that names the
 * library and the package to install, every time, and the local backend
 * keeps working. Nothing maps libcurl.
 */
#include <stdlib.h>
#include <string.h>

#include "storage/azure/http.h"
#include "syncenv.h"

#define MISSING_SONAME "libafs-test-no-such-curl.so.4"
#define BLOB_URI "azblob://devstoreaccount1/photos?endpoint=http://127.0.0.1:1/devstoreaccount1"
#define FILES_URI "azfiles://devstoreaccount1/teamshare?endpoint=http://127.0.0.1:1/devstoreaccount1"

static int setup(void **state)
{
    return afs_test_env_setup(state, "azure_nocurl");
}

/* The message a user without libcurl sees, and the code that goes with it. */
static void assert_no_curl_error(int rc)
{
    const char *msg = afs_error_last();
    if (rc != AFS_ENOTSUP)
        fail_msg("returned %d (%s), expected AFS_ENOTSUP: %s", rc, afs_strerror(rc), msg);
    if (!strstr(msg, "cannot load " MISSING_SONAME) ||
        !strstr(msg, "install the libcurl4 package"))
        fail_msg("the message does not name the library and the package: %s", msg);
}

/* Is any libcurl mapped into this process? */
static bool libcurl_mapped(void)
{
    char *maps = afs_test_read_file("/proc/self/maps", NULL);
    bool found;
    assert_non_null(maps);
    found = strstr(maps, "libcurl") != NULL;
    free(maps);
    return found;
}

static int on_snapshot(const char *snapshot, void *payload)
{
    (void)snapshot;
    (void)payload;
    return 0;
}

static void test_azure_nocurl__open_fails_naming_libcurl(void **state)
{
    afs_azure_options o = AFS_AZURE_OPTIONS_INIT;
    afs_storage *st = (afs_storage *)0x1;

    (void)state;
    o.flags = AFS_AZURE_NO_ENV;
    assert_no_curl_error(afs_storage_open(&st, BLOB_URI));
    assert_null(st);
    st = (afs_storage *)0x1;
    assert_no_curl_error(afs_storage_azblob_new(&st, BLOB_URI, &o));
    assert_null(st);
    st = (afs_storage *)0x1;
    assert_no_curl_error(afs_storage_azfiles_new(&st, FILES_URI, &o));
    assert_null(st);
    assert_no_curl_error(afs_storage_azfiles_snapshots(FILES_URI, &o, on_snapshot, NULL));
    /* Asked again: the same answer, not a crash or a half-loaded library. */
    st = (afs_storage *)0x1;
    assert_no_curl_error(afs_storage_open(&st, BLOB_URI));
    assert_null(st);
    assert_false(libcurl_mapped());
}

static void test_azure_nocurl__group_on_an_azure_share_fails_naming_libcurl(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");

    assert_no_curl_error(afs_group_create(&a->group, a->svc, "cloud", BLOB_URI));
    assert_null(a->group);
}

static void test_azure_nocurl__local_backend_keeps_working(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");
    afs_test_server *b = afs_test_env_server(env, "ServerB");
    afs_storage *st = NULL;

    assert_no_curl_error(afs_storage_open(&st, BLOB_URI));
    afs_test_put(a->data, "notes/today.txt", "written on A");
    afs_test_env_join(env, a, NULL);
    afs_test_sync(a);
    assert_int_equal(a->last.files_uploaded, 1);
    assert_int_equal(a->last.item_errors, 0);
    afs_test_assert_file(env->share, "notes/today.txt", "written on A");
    afs_test_env_join(env, b, NULL);
    afs_test_sync(b);
    assert_int_equal(b->last.files_downloaded, 1);
    afs_test_assert_file(b->data, "notes/today.txt", "written on A");
    assert_false(libcurl_mapped());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_azure_nocurl__open_fails_naming_libcurl, setup,
                                        afs_test_env_teardown),
        cmocka_unit_test_setup_teardown(
            test_azure_nocurl__group_on_an_azure_share_fails_naming_libcurl, setup,
            afs_test_env_teardown),
        cmocka_unit_test_setup_teardown(test_azure_nocurl__local_backend_keeps_working, setup,
                                        afs_test_env_teardown),
    };
    /* Before anything opens an Azure backend: the loader looks for this once. */
    azh_curl_test_soname(MISSING_SONAME);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

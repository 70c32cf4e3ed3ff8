/*
 * libcurl is loaded on first use (docs/azure.md): a program linked with
 * libafs.so that syncs a local directory with a local share never has
 * libcurl mapped, and the first Azure backend it opens maps it. Linked with
 * the shared library and the public API only, as a host program is. The
 * cases run in this order in one process: the first needs a process that
 * has not opened an Azure backend yet.
 */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <afs.h>

#define CHECK(expr)                                                                   \
    do {                                                                              \
        int rc_ = (expr);                                                             \
        if (rc_ != 0)                                                                 \
            fail_msg("%s returned %d: %s", #expr, rc_, afs_error_last());            \
    } while (0)

/* Every line of /proc/self/maps that names a libcurl, or NULL (malloc'd). */
static char *libcurl_mappings(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[4096];
    char *found = NULL;
    size_t len = 0;

    assert_non_null(f);
    while (fgets(line, sizeof(line), f)) {
        size_t n = strlen(line);
        char *grown;
        if (!strstr(line, "libcurl"))
            continue;
        grown = realloc(found, len + n + 1);
        assert_non_null(grown);
        found = grown;
        memcpy(found + len, line, n + 1);
        len += n;
    }
    fclose(f);
    return found;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static char *make_dir(const char *parent, const char *name)
{
    size_t n = strlen(parent) + strlen(name) + 2;
    char *p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%s/%s", parent, name);
    assert_int_equal(mkdir(p, 0755), 0);
    return p;
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[4096];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static void assert_text(const char *dir, const char *name, const char *text)
{
    char path[4096], buf[256];
    size_t n;
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "r");
    if (!f)
        fail_msg("%s is missing", path);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    assert_string_equal(buf, text);
}

static void test_curl_lazy__local_sync_never_maps_libcurl(void **state)
{
    const char *tmp = getenv("AFS_TEST_TMPDIR");
    char root[4096];
    char *stdir, *share, *data, *other;
    afs_service *svc = NULL;
    afs_group *group = NULL;
    afs_endpoint *ep = NULL;
    afs_sync_result res = AFS_SYNC_RESULT_INIT;
    char *maps;

    (void)state;
    if (!tmp || !tmp[0])
        tmp = "/tmp";
    mkdir(tmp, 0755);
    snprintf(root, sizeof(root), "%s/curl_lazy-XXXXXX", tmp);
    assert_non_null(mkdtemp(root));
    stdir = make_dir(root, "state");
    share = make_dir(root, "share");
    data = make_dir(root, "data");
    other = make_dir(root, "other");
    write_text(data, "report.txt", "from the server");
    write_text(share, "shared.txt", "from the share");

    CHECK(afs_service_open(&svc, stdir, NULL));
    CHECK(afs_server_register(svc, "lazy-server"));
    CHECK(afs_group_create(&group, svc, "docs", share));
    CHECK(afs_endpoint_create(&ep, group, data, NULL));
    CHECK(afs_endpoint_sync(ep, NULL, &res));
    assert_int_equal(res.files_uploaded, 1);
    assert_int_equal(res.files_downloaded, 1);
    assert_int_equal(res.item_errors, 0);
    assert_text(share, "report.txt", "from the server");
    assert_text(data, "shared.txt", "from the share");
    /* A plain storage handle on a directory too (afs_storage_open's file path). */
    {
        afs_storage *st = NULL;
        CHECK(afs_storage_open(&st, other));
        afs_storage_free(st);
    }
    afs_endpoint_close(ep);
    afs_group_close(group);
    afs_service_close(svc);

    maps = libcurl_mappings();
    if (maps)
        fail_msg("a local sync mapped libcurl:\n%s", maps);

    if (!getenv("AFS_TEST_KEEP"))
        nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(stdir);
    free(share);
    free(data);
    free(other);
}

static void test_curl_lazy__first_azure_open_maps_libcurl(void **state)
{
    afs_azure_options o = AFS_AZURE_OPTIONS_INIT;
    afs_storage *st = NULL;
    char *maps;
    int rc;

    (void)state;
    /* Nothing listens on port 1 of the loopback: the open fails, after
     * libcurl was loaded to try. */
    o.flags = AFS_AZURE_NO_ENV;
    o.max_attempts = 1;
    o.connect_timeout_ms = 2000;
    rc = afs_storage_azblob_new(
        &st, "azblob://devstoreaccount1/photos?endpoint=http://127.0.0.1:1/devstoreaccount1", &o);
    assert_int_not_equal(rc, 0);
    assert_null(st);
    /* Not the "cannot load" error: libcurl was found and the request went out. */
    if (rc == AFS_ENOTSUP)
        fail_msg("libcurl was not loaded: %s", afs_error_last());
    maps = libcurl_mappings();
    if (!maps)
        fail_msg("opening an Azure backend did not map libcurl (%s)", afs_error_last());
    free(maps);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_curl_lazy__local_sync_never_maps_libcurl),
        cmocka_unit_test(test_curl_lazy__first_azure_open_maps_libcurl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The Azure Blob backend against the Azurite emulator: the whole storage
 * conformance suite (a fresh container per case, opened by URI through
 * afs_storage_open), then what only this backend shows: directory markers,
 * prefix shares, SAS credentials, wrong credentials without leaks.
 * Skipped with a message when Azurite is not running (tests/support/azurite.h).
 */
#include <stdlib.h>
#include <string.h>

#include "azurite.h"
#include "conformance.h"
#include "support.h"

#include "storage/azure/azure_internal.h"

static const char *endpoint;

/* ---- conformance factory: one container per case ---- */

struct az_factory {
    char *uri; /* the container of the running case */
};

static int af_create_empty(void *payload, afs_storage **out)
{
    struct az_factory *f = payload;
    char *name = afs_test_azurite_container_name("conf");
    int rc;

    free(f->uri);
    f->uri = afs_test_azurite_uri(endpoint, name, NULL);
    free(name);
    if ((rc = afs__azblob_container_create(f->uri, NULL)) != 0)
        return rc;
    return afs_storage_open(out, f->uri);
}

static int af_reopen(void *payload, afs_storage *existing, afs_storage **out)
{
    struct az_factory *f = payload;
    (void)existing;
    return afs_storage_open(out, f->uri);
}

static void af_destroy(void *payload, afs_storage *storage)
{
    struct az_factory *f = payload;
    afs_storage_free(storage);
    if (f->uri && !getenv("AFS_TEST_KEEP"))
        afs__azblob_container_delete(f->uri, NULL);
    free(f->uri);
    f->uri = NULL;
}

/* ---- azblob-specific cases ---- */

struct az_case {
    char *uri;
    afs_storage *s;
};

static int case_setup(void **state)
{
    struct az_case *c = calloc(1, sizeof(*c));
    char *name = afs_test_azurite_container_name("blob");
    if (!c)
        return -1;
    c->uri = afs_test_azurite_uri(endpoint, name, NULL);
    free(name);
    if (afs__azblob_container_create(c->uri, NULL) != 0 || afs_storage_open(&c->s, c->uri) != 0) {
        print_error("setup: %s\n", afs_error_last());
        return -1;
    }
    *state = c;
    return 0;
}

static int case_teardown(void **state)
{
    struct az_case *c = *state;
    afs_storage_free(c->s);
    afs__azblob_container_delete(c->uri, NULL);
    free(c->uri);
    free(c);
    afs_error_clear();
    return 0;
}

struct count {
    size_t files, dirs;
};

static int count_entries(const afs_storage_entry *e, void *payload)
{
    struct count *c = payload;
    if (e->type == AFS_TYPE_DIR)
        c->dirs++;
    else
        c->files++;
    return 0;
}

/* An empty directory is the marker blob "<dir>/"; a prefix share sees it as a directory. */
static void test_azblob__empty_directory_is_a_marker_blob(void **state)
{
    struct az_case *c = *state;
    afs_storage *sub = NULL;
    afs_storage_entry st;
    struct count n = { 0, 0 };
    char *uri = strdup(c->uri);
    char *q = strchr(uri, '?');
    char *with_prefix;
    size_t len;

    AFS_ASSERT_OK(afs_storage_mkdir(c->s, "empty"));
    AFS_ASSERT_OK(afs_storage_stat(c->s, "empty", &st));
    assert_int_equal(st.type, AFS_TYPE_DIR);
    AFS_ASSERT_OK(afs_storage_list_all(c->s, "", count_entries, &n));
    assert_int_equal(n.dirs, 1);
    assert_int_equal(n.files, 0);
    AFS_ASSERT_OK(afs_storage_list_all(c->s, "empty", count_entries, &n));
    assert_int_equal(n.dirs + n.files, 1); /* the marker itself is never listed */

    /* The last file of a directory leaves the directory behind (a marker). */
    afs_test_storage_put_text(c->s, "implicit/only.txt", "x");
    AFS_ASSERT_OK(afs_storage_remove(c->s, "implicit/only.txt", NULL));
    AFS_ASSERT_OK(afs_storage_stat(c->s, "implicit", &st));
    assert_int_equal(st.type, AFS_TYPE_DIR);

    /* A share on a prefix sees only what is below it. */
    *q = '\0';
    len = strlen(uri) + strlen(q + 1) + 32;
    with_prefix = malloc(len);
    snprintf(with_prefix, len, "%s/implicit?%s", uri, q + 1);
    AFS_ASSERT_OK(afs_storage_open(&sub, with_prefix));
    afs_test_storage_put_text(sub, "inner.txt", "in the prefix");
    afs_test_storage_assert_text(c->s, "implicit/inner.txt", "in the prefix");
    memset(&n, 0, sizeof(n));
    AFS_ASSERT_OK(afs_storage_list_all(sub, "", count_entries, &n));
    assert_int_equal(n.files, 1);
    assert_int_equal(n.dirs, 0);
    afs_storage_free(sub);
    free(with_prefix);
    free(uri);
}

/* An account SAS made from the key works alone (also for server-side copies). */
static void test_azblob__account_sas_credentials(void **state)
{
    struct az_case *c = *state;
    afs_azure_options o = AFS_AZURE_OPTIONS_INIT;
    afs_storage *s = NULL;
    char *sas = NULL;

    AFS_ASSERT_OK(afs__azblob_account_sas(c->uri, NULL, "rwdlacup", "2099-01-01T00:00:00Z", &sas));
    assert_non_null(strstr(sas, "sig="));
    o.sas = sas;
    o.flags = AFS_AZURE_NO_ENV;
    AFS_ASSERT_OK(afs_storage_azblob_new(&s, c->uri, &o));
    afs_test_storage_put_text(s, "via-sas.txt", "signed access");
    AFS_ASSERT_OK(afs_storage_rename(s, "via-sas.txt", "d/moved.txt", NULL, 0));
    afs_test_storage_assert_text(s, "d/moved.txt", "signed access");
    afs_test_storage_assert_text(c->s, "d/moved.txt", "signed access");
    afs_storage_free(s);

    /* A tampered signature is refused, and the message shows no secret. */
    {
        char *bad = strdup(sas);
        char *sig = strstr(bad, "sig=") + 4;
        sig[0] = sig[0] == 'A' ? 'B' : 'A';
        o.sas = bad;
        AFS_ASSERT_OK(afs_storage_azblob_new(&s, c->uri, &o) == AFS_EPERM ? 0 : -1);
        assert_null(strstr(afs_error_last(), sig));
        free(bad);
    }
    free(sas);
}

static void test_azblob__wrong_key_is_refused_without_leaking_it(void **state)
{
    struct az_case *c = *state;
    afs_azure_options o = AFS_AZURE_OPTIONS_INIT;
    afs_storage *s = NULL;
    /* Valid base64, wrong key. */
    const char *wrong = "d3JvbmcgYnV0IHZhbGlkIGJhc2U2NCBrZXkgZm9yIHRoZSB0ZXN0IG9ubHk=";

    o.account_key = wrong;
    o.flags = AFS_AZURE_NO_ENV;
    AFS_ASSERT_CODE(afs_storage_azblob_new(&s, c->uri, &o), AFS_EPERM);
    assert_null(s);
    assert_null(strstr(afs_error_last(), wrong));
    o.account_key = "not base64 at all!";
    AFS_ASSERT_CODE(afs_storage_azblob_new(&s, c->uri, &o), AFS_EINVAL);
    assert_null(strstr(afs_error_last(), "not base64 at all"));
}

static void test_azblob__uris_are_checked(void **state)
{
    afs_storage *s = NULL;
    (void)state;
    /* Credentials never travel in a URI (it is stored in the group definition). */
    AFS_ASSERT_CODE(afs_storage_open(&s, "azblob://acct/cont?endpoint=http://127.0.0.1:1/a"
                                         "&sig=abc"), AFS_EINVAL);
    assert_null(strstr(afs_error_last(), "abc"));
    AFS_ASSERT_CODE(afs_storage_open(&s, "https://acct.blob.core.windows.net/cont?sv=1&sig=x"),
                    AFS_EINVAL);
    AFS_ASSERT_CODE(afs_storage_open(&s, "azblob://acct/Bad_Container"), AFS_EINVAL);
    AFS_ASSERT_CODE(afs_storage_open(&s, "azblob://acct/cont/../up"), AFS_EINVALIDNAME);
    /* Plain http only to loopback, refused before any connection is made. */
    AFS_ASSERT_CODE(afs_storage_open(&s, "azblob://acct/cont?endpoint=http://storage.example/a"),
                    AFS_EPERM);
    AFS_ASSERT_CODE(afs_storage_open(&s, "azblob://acct/cont?endpoint=ftp://127.0.0.1/a"),
                    AFS_EINVAL);
    /* A missing container is AFS_ENOTFOUND. */
    {
        char *u = afs_test_azurite_uri(endpoint, "no-such-container-here", NULL);
        AFS_ASSERT_CODE(afs_storage_open(&s, u), AFS_ENOTFOUND);
        free(u);
    }
}

static void test_azblob__large_object_is_verified_end_to_end(void **state)
{
    struct az_case *c = *state;
    afs_azure_options o = AFS_AZURE_OPTIONS_INIT;
    afs_storage *s = NULL;
    size_t size = (5u << 20) + 12345, n = 0;
    unsigned char *data = malloc(size), *back = malloc(size);
    afs_storage_entry out, st;
    const char *name = NULL;

    for (size_t i = 0; i < size; i++)
        data[i] = (unsigned char)(i * 2654435761u >> 13);
    o.block_size = 1u << 20; /* six blocks in parallel */
    o.single_put_max = 1u << 20;
    o.parallelism = 4;
    AFS_ASSERT_OK(afs_storage_azblob_new(&s, c->uri, &o));
    AFS_ASSERT_OK(afs_storage_ctl(s, AFS_STORAGE_CTL_NAME, &name));
    assert_string_equal(name, "azblob");
    AFS_ASSERT_OK(afs_storage_put_buffer(s, "big.bin", data, size, NULL, &out));
    AFS_ASSERT_OK(afs_storage_stat(s, "big.bin", &st));
    assert_int_equal(st.size, size);
    assert_string_equal(st.etag, out.etag);
    /* One whole read: checked against the stored whole-blob MD5. */
    AFS_ASSERT_OK(afs_storage_read(s, "big.bin", 0, back, size, &n, st.etag));
    assert_int_equal(n, size);
    assert_memory_equal(back, data, size);
    afs_storage_free(s);
    free(data);
    free(back);
}

int main(void)
{
    struct az_factory f = { NULL };
    afs_test_storage_factory factory;
    int failed;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_azblob__empty_directory_is_a_marker_blob, case_setup,
                                        case_teardown),
        cmocka_unit_test_setup_teardown(test_azblob__account_sas_credentials, case_setup,
                                        case_teardown),
        cmocka_unit_test_setup_teardown(test_azblob__wrong_key_is_refused_without_leaking_it,
                                        case_setup, case_teardown),
        cmocka_unit_test_setup_teardown(test_azblob__uris_are_checked, case_setup, case_teardown),
        cmocka_unit_test_setup_teardown(test_azblob__large_object_is_verified_end_to_end,
                                        case_setup, case_teardown),
    };

    endpoint = afs_test_azurite_endpoint();
    if (!endpoint)
        return afs_test_azurite_skip("test_storage_azblob");
    afs_test_azurite_env();
    memset(&factory, 0, sizeof(factory));
    factory.payload = &f;
    factory.create_empty = af_create_empty;
    factory.reopen = af_reopen;
    factory.destroy = af_destroy;
    factory.mtime_resolution_ns = 1;
    failed = afs_test_storage_conformance_run("azblob", &factory);
    failed += cmocka_run_group_tests_name("azblob", tests, NULL, NULL);
    return failed;
}

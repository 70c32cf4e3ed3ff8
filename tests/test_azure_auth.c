/*
 * Azure authorization without a server: the Shared Key string to sign and
 * signature for fixed requests derived from the Storage REST reference
 * ("Authorize with Shared Key": the container-metadata example with its
 * date and version), account SAS tokens, redaction, and the HTTP helpers.
 * The expected signatures were computed independently with
 * `openssl dgst -sha256 -mac HMAC` over the same strings.
 */
#include <stdlib.h>
#include <string.h>

#include "azurite.h"
#include "support.h"

#include "storage/azure/auth.h"
#include "storage/azure/http.h"

#define DOC_DATE "Sun, 11 Oct 2009 21:49:13 GMT"

/* Fail unless `sts`, signed with the well-known emulator key as `account`,
 * gives the signature `want`. */
static void assert_signature(const char *account, const char *sts, const char *want)
{
    struct aza_cred c;
    char sig[64];
    AFS_ASSERT_OK(aza_cred_init(&c, account, AFS_TEST_AZURITE_KEY, NULL));
    AFS_ASSERT_OK(aza_hmac_b64(c.key, c.key_len, sts, sig, sizeof(sig)));
    assert_string_equal(sig, want);
    aza_cred_free(&c);
}

static void test_azure_auth__string_to_sign_of_the_reference_example(void **state)
{
    struct azh_request q;
    struct azh_kv extra[1] = { { "x-ms-date", DOC_DATE } };
    char *sts = NULL;
    (void)state;

    memset(&q, 0, sizeof(q));
    q.method = "GET";
    q.path = "/mycontainer";
    azh_query_add(&q, "restype", "container");
    azh_query_add(&q, "comp", "metadata");
    azh_query_add(&q, "timeout", "20");
    azh_header_add(&q, "x-ms-version", "2009-09-19");
    AFS_ASSERT_OK(aza_string_to_sign("myaccount", "", &q, extra, 1, &sts));
    assert_string_equal(sts, "GET\n\n\n\n\n\n\n\n\n\n\n\n"
                             "x-ms-date:" DOC_DATE "\nx-ms-version:2009-09-19\n"
                             "/myaccount/mycontainer\ncomp:metadata\nrestype:container\n"
                             "timeout:20");
    assert_signature("myaccount", sts, "m649E40iEJ3QQyCg9/WI2Fa9zS+RB/2rEBcLJb0CKs0=");
    free(sts);
}

/* A put to the emulator: path-style prefix signed twice over (the account
 * name, then the path), Content-Length, Content-MD5, If-Match, sorted
 * x-ms-* headers with folded whitespace, an encoded name. */
static void test_azure_auth__string_to_sign_of_a_conditional_put(void **state)
{
    struct azh_request q;
    struct azh_kv extra[1] = { { "x-ms-date", DOC_DATE } };
    char *sts = NULL;
    (void)state;

    memset(&q, 0, sizeof(q));
    q.method = "PUT";
    q.path = "/c1/dir/a%20b.txt";
    q.body = "hello world";
    q.body_len = 11;
    azh_header_add(&q, "x-ms-version", "2021-12-02");
    azh_header_add(&q, "X-MS-Meta-afsmtime", "  1600000000123456789 ");
    azh_header_add(&q, "Content-MD5", "XrY7u+Ae7tCTyyK7j1rNww==");
    azh_header_add(&q, "If-Match", "\"0x8D\"");
    azh_header_add(&q, "x-ms-blob-type", "BlockBlob");
    AFS_ASSERT_OK(aza_string_to_sign("devstoreaccount1", "/devstoreaccount1", &q, extra, 1, &sts));
    assert_string_equal(sts, "PUT\n\n\n11\nXrY7u+Ae7tCTyyK7j1rNww==\n\n\n\n\"0x8D\"\n\n\n\n"
                             "x-ms-blob-type:BlockBlob\nx-ms-date:" DOC_DATE "\n"
                             "x-ms-meta-afsmtime:1600000000123456789\nx-ms-version:2021-12-02\n"
                             "/devstoreaccount1/devstoreaccount1/c1/dir/a%20b.txt");
    assert_signature("devstoreaccount1", sts, "ZfCGvNiqVbQhvbXJoQdXA55W3c+cZpz6iH3t7c7EhW8=");
    free(sts);

    /* A zero-length put signs an empty Content-Length. */
    q.body_len = 0;
    q.nheaders = 1;
    AFS_ASSERT_OK(aza_string_to_sign("a", "", &q, extra, 1, &sts));
    assert_true(strncmp(sts, "PUT\n\n\n\n", 7) == 0);
    free(sts);
}

static void test_azure_auth__account_sas(void **state)
{
    struct aza_cred c;
    char *sas = NULL;
    (void)state;

    AFS_ASSERT_OK(aza_cred_init(&c, "devstoreaccount1", AFS_TEST_AZURITE_KEY, NULL));
    AFS_ASSERT_OK(aza_sas_account(&c, "b", "sco", "rwdlacup", "2099-01-01T00:00:00Z",
                                  "https,http", &sas));
    /* sig is the url-encoded base64 of the HMAC of the account SAS string. */
    assert_string_equal(sas, "sv=2021-12-02&ss=b&srt=sco&sp=rwdlacup&se=2099-01-01T00:00:00Z"
                             "&spr=https,http&sig=h0JKLcH2pMAxBy0TeB4IqiAkSVixugE1Ncn8iZ6RETU%3D");
    free(sas);
    AFS_ASSERT_CODE(aza_sas_account(&c, "b", "sco", "rw&x=1", "2099", "https", &sas), AFS_EINVAL);
    aza_cred_free(&c);
    /* Without a key there is nothing to sign with. */
    AFS_ASSERT_OK(aza_cred_init(&c, "acct", NULL, "?sv=1&sig=abcd"));
    assert_string_equal(c.sas, "sv=1&sig=abcd");
    AFS_ASSERT_CODE(aza_sas_service(&c, "cont", NULL, "r", "2099-01-01", "https", &sas),
                    AFS_EINVAL);
    aza_cred_free(&c);
}

static void test_azure_auth__secrets_are_redacted(void **state)
{
    struct aza_cred c;
    char msg[512];
    (void)state;

    AFS_ASSERT_OK(aza_cred_init(&c, "devstoreaccount1", AFS_TEST_AZURITE_KEY,
                                "sv=2021-12-02&sp=r&sig=SECRETSIGNATURE%3D"));
    snprintf(msg, sizeof(msg), "key %s and url http://h/c?sv=1&sig=OTHER&x=1 and %s",
             AFS_TEST_AZURITE_KEY, "SECRETSIGNATURE%3D");
    aza_redact(&c, msg);
    assert_null(strstr(msg, AFS_TEST_AZURITE_KEY));
    assert_null(strstr(msg, "Eby8vdM02"));
    assert_null(strstr(msg, "SECRETSIGNATURE"));
    assert_null(strstr(msg, "OTHER"));
    assert_non_null(strstr(msg, "x=1")); /* only the secrets go */
    aza_cred_free(&c);

    AFS_ASSERT_CODE(aza_cred_init(&c, "acct", "!!not-base64!!", NULL), AFS_EINVAL);
    assert_null(strstr(afs_error_last(), "not-base64"));
    AFS_ASSERT_CODE(aza_cred_init(&c, "bad account", NULL, NULL), AFS_EINVAL);
}

static void test_azure_auth__http_helpers(void **state)
{
    struct azh_target t;
    char date[32];
    char *enc;
    (void)state;

    azh_http_date(1255297753, date);
    assert_string_equal(date, DOC_DATE);
    assert_int_equal(azh_parse_http_date(DOC_DATE), 1255297753);
    enc = azh_url_encode("a b/c+d%é", strlen("a b/c+d%é"), true);
    assert_string_equal(enc, "a%20b/c%2Bd%25%C3%A9");
    free(enc);

    AFS_ASSERT_OK(azh_target_parse("http://127.0.0.1:10000/devstoreaccount1/", false, &t));
    assert_string_equal(t.base, "http://127.0.0.1:10000");
    assert_string_equal(t.path_prefix, "/devstoreaccount1");
    assert_true(t.loopback);
    AFS_ASSERT_OK(azh_target_parse("http://[::1]:8080", false, &t));
    AFS_ASSERT_OK(azh_target_parse("http://localhost", false, &t));
    AFS_ASSERT_OK(azh_target_parse("https://acct.blob.core.windows.net", false, &t));
    assert_true(t.https);
    AFS_ASSERT_CODE(azh_target_parse("http://storage.example:80/a", false, &t), AFS_EPERM);
    AFS_ASSERT_CODE(azh_target_parse("http://128.0.0.1/a", false, &t), AFS_EPERM);
    AFS_ASSERT_OK(azh_target_parse("http://storage.example:80/a", true, &t));
    AFS_ASSERT_CODE(azh_target_parse("https://user@host/a", false, &t), AFS_EINVAL);
    AFS_ASSERT_CODE(azh_target_parse("https://host/a?sig=1", false, &t), AFS_EINVAL);
    AFS_ASSERT_CODE(azh_target_parse("file:///etc", false, &t), AFS_EINVAL);
    AFS_ASSERT_CODE(azh_target_parse("https://host:99999999/", false, &t), AFS_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_azure_auth__string_to_sign_of_the_reference_example),
        cmocka_unit_test(test_azure_auth__string_to_sign_of_a_conditional_put),
        cmocka_unit_test(test_azure_auth__account_sas),
        cmocka_unit_test(test_azure_auth__secrets_are_redacted),
        cmocka_unit_test(test_azure_auth__http_helpers),
    };
    return cmocka_run_group_tests_name("azure_auth", tests, NULL, NULL);
}

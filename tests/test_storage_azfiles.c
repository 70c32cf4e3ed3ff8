/*
 * The Azure Files backend against the Files test server
 * (tests/azure/files_server.py: no emulator of the File service exists; the
 * server checks every signature exactly and answers with the documented
 * shapes): the whole storage conformance suite (a fresh share per case,
 * opened by azfiles:// URI through afs_storage_open), then what only this
 * backend shows: SMB properties, 4 MiB ranges, leases, SAS and wrong
 * credentials, hostile listings and spoiled reads, share snapshots.
 * Never skipped: without python3 the test fails and says so.
 */
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "azurite.h"
#include "conformance.h"
#include "files_server.h"
#include "support.h"

#include "storage/azure/azure_internal.h"
#include "core/internal.h"
#include "storage/azure/common.h"

static afs_test_files_server server;

/* ---- conformance factory: one share per case ---- */

struct fs_factory {
    char *uri;
};

static int ff_create_empty(void *payload, afs_storage **out)
{
    struct fs_factory *f = payload;
    char *name = afs_test_files_share_name("conf");
    int rc;

    free(f->uri);
    f->uri = afs_test_files_uri(&server, name, NULL);
    free(name);
    if ((rc = afs__azfiles_share_create(f->uri, NULL)) != 0)
        return rc;
    return afs_storage_open(out, f->uri);
}

static int ff_reopen(void *payload, afs_storage *existing, afs_storage **out)
{
    struct fs_factory *f = payload;
    (void)existing;
    return afs_storage_open(out, f->uri);
}

static void ff_destroy(void *payload, afs_storage *storage)
{
    struct fs_factory *f = payload;
    afs_storage_free(storage);
    if (f->uri)
        afs__azfiles_share_delete(f->uri, NULL);
    free(f->uri);
    f->uri = NULL;
}

/* ---- logs: no line may ever carry the key ---- */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int leaked;

static void capture_log(int level, const char *message, void *payload)
{
    (void)level;
    (void)payload;
    pthread_mutex_lock(&log_lock);
    if (strstr(message, AFS_TEST_AZURITE_KEY) || strstr(message, "Eby8vdM02"))
        leaked++;
    pthread_mutex_unlock(&log_lock);
}

/* ---- azfiles-specific cases ---- */

struct fs_case {
    char *uri;
    afs_storage *s;
};

static int case_setup(void **state)
{
    struct fs_case *c = calloc(1, sizeof(*c));
    char *name = afs_test_files_share_name("files");
    if (!c)
        return -1;
    c->uri = afs_test_files_uri(&server, name, NULL);
    free(name);
    if (afs__azfiles_share_create(c->uri, NULL) != 0 || afs_storage_open(&c->s, c->uri) != 0) {
        print_error("setup: %s\n", afs_error_last());
        return -1;
    }
    *state = c;
    return 0;
}

static int case_teardown(void **state)
{
    struct fs_case *c = *state;
    afs_test_files_server_cmd(&server, "clear");
    afs_storage_free(c->s);
    afs__azfiles_share_delete(c->uri, NULL);
    free(c->uri);
    free(c);
    afs_error_clear();
    return 0;
}

static void fault(const char *mode, const char *path)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "fault %s %s", mode, path);
    assert_int_equal(afs_test_files_server_cmd(&server, cmd), 0);
}

/* The share of `uri` with two attempts 10 ms apart, so a fault() the
 * retry cannot get past comes back at once. */
static afs_storage *open_few_retries(const char *uri)
{
    afs_azure_options o = AFS_AZURE_OPTIONS_INIT;
    afs_storage *s = NULL;

    o.account_key = AFS_TEST_AZURITE_KEY;
    o.flags = AFS_AZURE_NO_ENV;
    o.max_attempts = 2;
    o.retry_base_ms = 10;
    AFS_ASSERT_OK(afs_storage_azfiles_new(&s, uri, &o));
    return s;
}

/* A raw signed request on the share of `uri` (the internal HTTP layer), to
 * look at what the service holds or to do what the backend never does. */
struct raw {
    struct azc_uri u;
    struct azc_conn conn;
};

static void raw_open(struct raw *r, const char *uri)
{
    afs_azure_options o;
    AFS_ASSERT_OK(azc_uri_parse(uri, &(struct azc_service){ "azfiles", ".file.core.windows.net",
                                                           "share" },
                                &r->u));
    AFS_ASSERT_OK(azc_conn_open(&r->conn, &r->u,
                                &(struct azc_service){ "azfiles", ".file.core.windows.net",
                                                       "share" },
                                NULL, &o));
}

static void raw_close(struct raw *r)
{
    azc_conn_close(&r->conn);
    azc_uri_free(&r->u);
}

struct count {
    size_t n;
};

static int count_cb(const afs_storage_entry *e, void *payload)
{
    (void)e;
    ((struct count *)payload)->n++;
    return 0;
}

/* Attributes and times are the SMB properties the service keeps, so SMB
 * clients of the share see them; ReadOnly does not stop the library's
 * own remove and replace. */
static void test_azfiles__attributes_and_times_are_smb_properties(void **state)
{
    struct fs_case *c = *state;
    afs_storage_put_options o = AFS_STORAGE_PUT_OPTIONS_INIT;
    afs_storage_entry st;
    struct azh_response r;
    struct raw raw;
    char path[128];

    o.mtime_ns = INT64_C(1700000000123456789);
    o.btime_ns = INT64_C(1600000000000000100);
    o.attributes = AFS_ATTR_READONLY | AFS_ATTR_HIDDEN;
    AFS_ASSERT_OK(afs_storage_put_buffer(c->s, "dir/ro.txt", "read only", 9, &o, NULL));
    AFS_ASSERT_OK(afs_storage_stat(c->s, "dir/ro.txt", &st));
    assert_int_equal(st.attributes, AFS_ATTR_READONLY | AFS_ATTR_HIDDEN);
    assert_int_equal(st.mtime_ns, INT64_C(1700000000123456700)); /* 100 ns ticks */
    assert_int_equal(st.btime_ns, INT64_C(1600000000000000100));

    raw_open(&raw, c->uri);
    snprintf(path, sizeof(path), "/%s/dir/ro.txt", raw.u.root);
    AFS_ASSERT_OK(azc_simple_req(&raw.conn, "HEAD", path, NULL, NULL, NULL, &r, "head"));
    assert_int_equal(r.status, 200);
    assert_string_equal(r.file_attributes, "ReadOnly | Hidden");
    assert_string_equal(r.file_last_write_time, "2023-11-14T22:13:20.1234567Z");
    assert_string_equal(r.file_creation_time, "2020-09-13T12:26:40.0000001Z");
    azh_response_free(&r);
    raw_close(&raw);

    /* Replace and remove a read-only file (the service alone would refuse). */
    o.attributes = AFS_ATTR_READONLY;
    AFS_ASSERT_OK(afs_storage_put_buffer(c->s, "dir/ro.txt", "replaced", 8, &o, NULL));
    afs_test_storage_assert_text(c->s, "dir/ro.txt", "replaced");
    AFS_ASSERT_OK(afs_storage_remove(c->s, "dir/ro.txt", NULL));
    AFS_ASSERT_CODE(afs_storage_stat(c->s, "dir/ro.txt", &st), AFS_ENOTFOUND);
    /* Temps live in the reserved directory and are gone after each put. */
    {
        afs_storage_entry e;
        struct count n = { 0 };
        char next[AFS_STORAGE_MARKER_MAX];
        AFS_ASSERT_OK(afs__storage_stat(c->s, ".libafs/azfiles/tmp", &e, true));
        assert_int_equal(e.type, AFS_TYPE_DIR);
        AFS_ASSERT_OK(afs__storage_list(c->s, ".libafs/azfiles/tmp", NULL, count_cb, &n, next,
                                        sizeof(next), true));
        assert_int_equal(n.n, 0);
    }
}

static void fill_pattern(unsigned char *b, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)((i * 131u + seed * 7u) ^ (i >> 11));
}

/* The server refuses a Put Range over 4 MiB; a 13 MiB file still goes up,
 * split into ranges, and comes back byte for byte. */
static void test_azfiles__ranges_over_4_mib_are_split(void **state)
{
    struct fs_case *c = *state;
    const size_t big = (13u << 20) + 5;
    unsigned char *data = malloc(big), *back = malloc(big);
    afs_azure_options o = AFS_AZURE_OPTIONS_INIT;
    afs_storage *s = NULL;
    afs_storage_entry st;
    struct azh_request q;
    struct azh_response r;
    struct raw raw;
    char path[128], len[32];
    size_t n = 0;

    /* The server enforces the limit: one 5 MiB range is refused. */
    raw_open(&raw, c->uri);
    snprintf(path, sizeof(path), "/%s/limit.bin", raw.u.root);
    memset(&q, 0, sizeof(q));
    q.method = "PUT";
    q.path = path;
    snprintf(len, sizeof(len), "%u", 5u << 20);
    azh_header_add(&q, "x-ms-type", "file");
    azh_header_add(&q, "x-ms-content-length", len);
    AFS_ASSERT_OK(azc_do_req(&raw.conn, &q, &r, "create"));
    assert_int_equal(r.status, 201);
    azh_response_free(&r);
    memset(&q, 0, sizeof(q));
    q.method = "PUT";
    q.path = path;
    q.body = data;
    q.body_len = 5u << 20;
    azh_query_add(&q, "comp", "range");
    azh_header_add(&q, "x-ms-range", "bytes=0-5242879");
    azh_header_add(&q, "x-ms-write", "update");
    AFS_ASSERT_OK(azc_do_req(&raw.conn, &q, &r, "put range"));
    assert_int_equal(r.status, 413);
    assert_string_equal(azc_err_code(&r), "RequestBodyTooLarge");
    azh_response_free(&r);
    raw_close(&raw);

    fill_pattern(data, big, 5);
    AFS_ASSERT_OK(afs_storage_put_buffer(c->s, "media/big.bin", data, big, NULL, &st));
    assert_int_equal(st.size, big);
    AFS_ASSERT_OK(afs_storage_read(c->s, "media/big.bin", 0, back, big, &n, NULL));
    assert_int_equal(n, big);
    assert_memory_equal(back, data, big);

    /* Smaller ranges (1 MiB) too; a range size over 4 MiB is refused at open. */
    o.block_size = 1u << 20;
    o.account_key = AFS_TEST_AZURITE_KEY;
    o.flags = AFS_AZURE_NO_ENV;
    AFS_ASSERT_OK(afs_storage_azfiles_new(&s, c->uri, &o));
    fill_pattern(data, big, 6);
    AFS_ASSERT_OK(afs_storage_put_buffer(s, "media/big.bin", data, big, NULL, NULL));
    AFS_ASSERT_OK(afs_storage_read(c->s, "media/big.bin", 0, back, big, &n, NULL));
    assert_memory_equal(back, data, big);
    afs_storage_free(s);
    o.block_size = 8u << 20;
    AFS_ASSERT_CODE(afs_storage_azfiles_new(&s, c->uri, &o), AFS_EINVAL);
    free(data);
    free(back);
}

/* A wrong key: 403 AuthenticationFailed, a clear AFS_EPERM, no secret shown. */
static void test_azfiles__wrong_key_is_refused_clearly(void **state)
{
    struct fs_case *c = *state;
    afs_azure_options o = AFS_AZURE_OPTIONS_INIT;
    afs_storage *s = NULL;
    const char *wrong = "d3JvbmcgYnV0IHZhbGlkIGJhc2U2NCBrZXkgZm9yIHRoZSB0ZXN0IG9ubHk=";

    o.account_key = wrong;
    o.flags = AFS_AZURE_NO_ENV;
    o.max_attempts = 2;
    AFS_ASSERT_CODE(afs_storage_azfiles_new(&s, c->uri, &o), AFS_EPERM);
    assert_null(s);
    assert_non_null(strstr(afs_error_last(), "check the account key or SAS"));
    assert_null(strstr(afs_error_last(), wrong));
    assert_null(strstr(afs_error_last(), "d3JvbmcgYnV0"));

    /* A key that is not base64 is refused without being echoed. */
    o.account_key = "not base64 at all!!";
    AFS_ASSERT_CODE(afs_storage_azfiles_new(&s, c->uri, &o), AFS_EINVAL);
    assert_null(strstr(afs_error_last(), "not base64 at all"));
    /* No credentials at all: refused too (the share is not public). */
    o.account_key = NULL;
    AFS_ASSERT_CODE(afs_storage_azfiles_new(&s, c->uri, &o), AFS_EPERM);
}

/* An account SAS made from the key works alone, for a rename too (its
 * source carries the SAS); a tampered one is refused without being shown. */
static void test_azfiles__account_sas_credentials(void **state)
{
    struct fs_case *c = *state;
    afs_azure_options o = AFS_AZURE_OPTIONS_INIT;
    afs_storage *s = NULL;
    char *sas = NULL, *bad, *sig;

    AFS_ASSERT_OK(afs__azfiles_account_sas(c->uri, NULL, "rwdlc", "2099-01-01T00:00:00Z", &sas));
    assert_non_null(strstr(sas, "ss=f"));
    o.sas = sas;
    o.flags = AFS_AZURE_NO_ENV;
    AFS_ASSERT_OK(afs_storage_azfiles_new(&s, c->uri, &o));
    afs_test_storage_put_text(s, "via-sas.txt", "signed access");
    AFS_ASSERT_OK(afs_storage_rename(s, "via-sas.txt", "d/moved.txt", NULL, 0));
    afs_test_storage_assert_text(s, "d/moved.txt", "signed access");
    afs_test_storage_assert_text(c->s, "d/moved.txt", "signed access");
    afs_storage_free(s);

    bad = strdup(sas);
    sig = strstr(bad, "sig=") + 4;
    sig[0] = sig[0] == 'A' ? 'B' : 'A';
    o.sas = bad;
    AFS_ASSERT_CODE(afs_storage_azfiles_new(&s, c->uri, &o), AFS_EPERM);
    assert_null(strstr(afs_error_last(), sig));
    free(bad);
    /* Expired: refused. */
    free(sas);
    AFS_ASSERT_OK(afs__azfiles_account_sas(c->uri, NULL, "rwdlc", "2001-01-01T00:00:00Z", &sas));
    o.sas = sas;
    AFS_ASSERT_CODE(afs_storage_azfiles_new(&s, c->uri, &o), AFS_EPERM);
    free(sas);
}

/* Hostile or broken listing answers: a clear error each, nothing listed. */
static void test_azfiles__hostile_listings_are_clear_errors(void **state)
{
    struct fs_case *c = *state;
    static const struct {
        const char *mode;
        int code;
        const char *says;
    } cases[] = {
        { "xml-malformed", AFS_EIO, "malformed XML" },
        { "xml-deep", AFS_EIO, "deeper than the limit" },
        { "xml-entity", AFS_EIO, "DOCTYPE" },
        { "xml-huge-marker", AFS_EIO, "NextMarker" },
        { "xml-bad-root", AFS_EIO, "not a listing" },
        { "truncate", AFS_ETRANSIENT, "gave up" },
    };
    afs_storage *s = open_few_retries(c->uri);

    afs_test_storage_put_text(s, "h/one.txt", "1");
    for (size_t i = 0; i < AFS__ARRAY_LEN(cases); i++) {
        struct count n = { 0 };
        fault(cases[i].mode, "h");
        AFS_ASSERT_CODE(afs_storage_list_all(s, "h", count_cb, &n), cases[i].code);
        assert_int_equal(n.n, 0);
        if (!strstr(afs_error_last(), cases[i].says))
            fail_msg("%s: \"%s\" does not say \"%s\"", cases[i].mode, afs_error_last(),
                     cases[i].says);
        assert_int_equal(afs_test_files_server_cmd(&server, "clear"), 0);
    }
    {
        struct count n = { 0 };
        AFS_ASSERT_OK(afs_storage_list_all(s, "h", count_cb, &n));
        assert_int_equal(n.n, 1);
    }
    afs_storage_free(s);
}

/* Spoiled reads (a flipped byte under the right MD5, a body cut short)
 * hand back no byte. */
static void test_azfiles__spoiled_reads_hand_back_nothing(void **state)
{
    struct fs_case *c = *state;
    afs_storage *s = open_few_retries(c->uri);
    char buf[64];
    size_t n = 99;

    afs_test_storage_put_text(s, "flip.txt", "these bytes will be spoiled");
    fault("flip", "flip.txt");
    AFS_ASSERT_CODE(afs_storage_read(s, "flip.txt", 0, buf, sizeof(buf), &n, NULL), AFS_EIO);
    assert_int_equal(n, 0);
    assert_non_null(strstr(afs_error_last(), "MD5 mismatch"));
    fault("truncate", "cut.txt");
    afs_test_storage_put_text(s, "cut.txt", "this body arrives cut in half");
    n = 99;
    AFS_ASSERT_CODE(afs_storage_read(s, "cut.txt", 0, buf, sizeof(buf), &n, NULL),
                    AFS_ETRANSIENT);
    assert_int_equal(n, 0);
    assert_int_equal(afs_test_files_server_cmd(&server, "clear"), 0);
    afs_test_storage_assert_text(s, "flip.txt", "these bytes will be spoiled");
    afs_storage_free(s);
}

/* Acquire (an infinite lease) or release a lease on the file at `path` (on
 * the share of `uri`) as another client would; fails unless it answers `want`. */
static void lease_raw(const char *uri, const char *path, const char *action, long want)
{
    struct azh_request q;
    struct azh_response r;
    struct raw raw;
    raw_open(&raw, uri);
    memset(&q, 0, sizeof(q));
    q.method = "PUT";
    q.path = path;
    azh_query_add(&q, "comp", "lease");
    azh_header_add(&q, "x-ms-lease-action", action);
    azh_header_add(&q, "x-ms-lease-duration", "-1");
    azh_header_add(&q, "x-ms-proposed-lease-id", "99999999-2222-4333-8444-555555555555");
    azh_header_add(&q, "x-ms-lease-id", "99999999-2222-4333-8444-555555555555");
    AFS_ASSERT_OK(azc_do_req(&raw.conn, &q, &r, "lease"));
    assert_int_equal(r.status, want);
    azh_response_free(&r);
    raw_close(&raw);
}

/* If-match reads: the answer's ETag must match, or no byte is handed back. */
static void test_azfiles__if_match_read_and_leases(void **state)
{
    struct fs_case *c = *state;
    afs_storage_put_options po = AFS_STORAGE_PUT_OPTIONS_INIT;
    afs_storage_entry v1, v2;
    struct raw raw;
    char buf[32], path[128];
    size_t n = 7;

    AFS_ASSERT_OK(afs_storage_put_buffer(c->s, "l.txt", "one", 3, NULL, &v1));
    AFS_ASSERT_OK(afs_storage_put_buffer(c->s, "l.txt", "two", 3, NULL, &v2));
    AFS_ASSERT_CODE(afs_storage_read(c->s, "l.txt", 0, buf, sizeof(buf), &n, v1.etag),
                    AFS_ECONDITION);
    assert_int_equal(n, 0);
    AFS_ASSERT_OK(afs_storage_read(c->s, "l.txt", 0, buf, sizeof(buf), &n, v2.etag));
    assert_int_equal(n, 3);

    /* A conditional put leaves no lease behind: a plain writer goes on. */
    po.condition = AFS_COND_IF_MATCH;
    po.if_match = v2.etag;
    AFS_ASSERT_OK(afs_storage_put_buffer(c->s, "l.txt", "three", 5, &po, &v1));
    raw_open(&raw, c->uri);
    snprintf(path, sizeof(path), "/%s/l.txt", raw.u.root);
    raw_close(&raw);
    lease_raw(c->uri, path, "acquire", 201); /* free to take: the backend let go of its lease */
    /* With someone else's lease held, a write of ours waits; release it
     * from another thread shortly and the write goes through. */
    lease_raw(c->uri, path, "release", 200);
    AFS_ASSERT_OK(afs_storage_put_buffer(c->s, "l.txt", "four", 4, NULL, NULL));
    afs_test_storage_assert_text(c->s, "l.txt", "four");
}

/* Someone else's lease: a write waits for its release; a lease held past
 * the wait is taken as a crashed writer's and broken. */
struct lease_holder {
    const char *uri;
    char path[128];
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *release_later(void *arg)
{
    struct lease_holder *h = arg;
    usleep(300000);
    lease_raw(h->uri, h->path, "release", 200);
    return NULL;
}

static void test_azfiles__writes_wait_for_a_lease_and_break_a_stale_one(void **state)
{
    struct fs_case *c = *state;
    struct lease_holder h;
    afs_storage_entry st;
    pthread_t th;
    int64_t t0;
    struct raw raw;

    afs_test_storage_put_text(c->s, "leased.txt", "v1");
    raw_open(&raw, c->uri);
    snprintf(h.path, sizeof(h.path), "/%s/leased.txt", raw.u.root);
    raw_close(&raw);
    h.uri = c->uri;

    /* Released by its holder after 0.3 s: the put waits, then goes through. */
    lease_raw(c->uri, h.path, "acquire", 201);
    assert_int_equal(pthread_create(&th, NULL, release_later, &h), 0);
    t0 = now_ms();
    afs_test_storage_put_text(c->s, "leased.txt", "v2");
    assert_true(now_ms() - t0 >= 250);
    pthread_join(th, NULL);
    afs_test_storage_assert_text(c->s, "leased.txt", "v2");

    /* Never released: broken after the wait (here 0.5 s), and an if-match
     * remove goes through too. */
    AFS_ASSERT_OK(afs__azfiles_set_lease_wait(c->s, 500));
    lease_raw(c->uri, h.path, "acquire", 201);
    afs_test_storage_put_text(c->s, "leased.txt", "v3");
    afs_test_storage_assert_text(c->s, "leased.txt", "v3");
    AFS_ASSERT_OK(afs_storage_stat(c->s, "leased.txt", &st));
    lease_raw(c->uri, h.path, "acquire", 201);
    AFS_ASSERT_OK(afs_storage_remove(c->s, "leased.txt", st.etag));
    AFS_ASSERT_CODE(afs_storage_stat(c->s, "leased.txt", &st), AFS_ENOTFOUND);
}

static int snap_cb(const char *snapshot, void *payload)
{
    size_t *n = payload;
    assert_int_equal(strlen(snapshot), strlen("2024-01-02T03:04:05.0000000Z"));
    assert_int_equal(snapshot[strlen(snapshot) - 1], 'Z');
    (*n)++;
    return 0;
}

static void test_azfiles__share_snapshots_are_listed(void **state)
{
    struct fs_case *c = *state;
    size_t n = 0;

    AFS_ASSERT_OK(afs_storage_azfiles_snapshots(c->uri, NULL, snap_cb, &n));
    assert_int_equal(n, 0);
    afs_test_storage_put_text(c->s, "a.txt", "before");
    AFS_ASSERT_OK(afs__azfiles_share_snapshot(c->uri, NULL));
    AFS_ASSERT_OK(afs__azfiles_share_snapshot(c->uri, NULL));
    AFS_ASSERT_OK(afs_storage_azfiles_snapshots(c->uri, NULL, snap_cb, &n));
    assert_int_equal(n, 2);
}

/* URIs: a prefix share sees only its directory, which must exist;
 * credentials never in a URI; the public host form is recognised. */
static void test_azfiles__uris(void **state)
{
    struct fs_case *c = *state;
    afs_storage *sub = NULL;
    char *uri, *name = strdup(strchr(c->uri + strlen("azfiles://"), '/') + 1);
    struct count n = { 0 };

    *strchr(name, '?') = '\0';
    uri = afs_test_files_uri(&server, name, "inner/deeper");
    AFS_ASSERT_CODE(afs_storage_open(&sub, uri), AFS_ENOTFOUND);
    AFS_ASSERT_OK(afs_storage_mkdir(c->s, "inner"));
    AFS_ASSERT_OK(afs_storage_mkdir(c->s, "inner/deeper"));
    afs_test_storage_put_text(c->s, "outside.txt", "not in the prefix");
    AFS_ASSERT_OK(afs_storage_open(&sub, uri));
    afs_test_storage_put_text(sub, "in.txt", "in the prefix");
    afs_test_storage_assert_text(c->s, "inner/deeper/in.txt", "in the prefix");
    AFS_ASSERT_OK(afs_storage_list_all(sub, "", count_cb, &n));
    assert_int_equal(n.n, 1);
    afs_storage_free(sub);
    free(uri);
    free(name);

    assert_true(afs__azfiles_uri_match("https://acct.file.core.windows.net/share"));
    assert_false(afs__azfiles_uri_match("https://acct.blob.core.windows.net/share"));
    AFS_ASSERT_CODE(afs_storage_open(&sub, "azfiles://devstoreaccount1/share?sig=abc"),
                    AFS_EINVAL);
    AFS_ASSERT_CODE(afs_storage_open(&sub, "azfiles://devstoreaccount1/Bad_Share"), AFS_EINVAL);
    AFS_ASSERT_CODE(afs_storage_open(&sub, "https://acct.file.core.windows.net/share?sv=1"),
                    AFS_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_azfiles__attributes_and_times_are_smb_properties,
                                        case_setup, case_teardown),
        cmocka_unit_test_setup_teardown(test_azfiles__ranges_over_4_mib_are_split, case_setup,
                                        case_teardown),
        cmocka_unit_test_setup_teardown(test_azfiles__wrong_key_is_refused_clearly, case_setup,
                                        case_teardown),
        cmocka_unit_test_setup_teardown(test_azfiles__account_sas_credentials, case_setup,
                                        case_teardown),
        cmocka_unit_test_setup_teardown(test_azfiles__hostile_listings_are_clear_errors,
                                        case_setup, case_teardown),
        cmocka_unit_test_setup_teardown(test_azfiles__spoiled_reads_hand_back_nothing,
                                        case_setup, case_teardown),
        cmocka_unit_test_setup_teardown(test_azfiles__if_match_read_and_leases, case_setup,
                                        case_teardown),
        cmocka_unit_test_setup_teardown(
            test_azfiles__writes_wait_for_a_lease_and_break_a_stale_one, case_setup,
            case_teardown),
        cmocka_unit_test_setup_teardown(test_azfiles__share_snapshots_are_listed, case_setup,
                                        case_teardown),
        cmocka_unit_test_setup_teardown(test_azfiles__uris, case_setup, case_teardown),
    };
    struct fs_factory ff = { NULL };
    afs_test_storage_factory f;
    int failed;

    if (afs_test_files_server_start(&server) != 0)
        return 1;
    setenv("AFS_AZURE_ACCOUNT_KEY", AFS_TEST_AZURITE_KEY, 1);
    unsetenv("AFS_AZURE_SAS");
    afs_log_set(capture_log, AFS_LOG_TRACE, NULL);
    memset(&f, 0, sizeof(f));
    f.payload = &ff;
    f.create_empty = ff_create_empty;
    f.reopen = ff_reopen;
    f.destroy = ff_destroy;
    f.mtime_resolution_ns = 100; /* SMB times: 100 ns ticks */
    failed = getenv("AFS_TEST_AZFILES_SKIP_CONFORMANCE")
                 ? 0
                 : afs_test_storage_conformance_run("azfiles", &f);
    failed += cmocka_run_group_tests_name("storage_azfiles", tests, NULL, NULL);
    afs_log_set(NULL, AFS_LOG_ERROR, NULL);
    afs_test_files_server_stop(&server);
    if (leaked) {
        fprintf(stderr, "%d log lines carried the account key\n", leaked);
        failed++;
    }
    return failed ? 1 : 0;
}

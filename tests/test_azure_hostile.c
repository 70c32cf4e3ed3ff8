/*
 * The Azure Blob backend against a hostile endpoint, without Azurite: a
 * small stdlib Python server on loopback (tests/azure/hostile_server.py)
 * answers with deep, entity-laden, huge or malformed XML, truncated or
 * inconsistent bodies, a wrong Content-MD5, throttling and stalls. Every
 * case must end in a clear error (or the documented retry), hand back no
 * bytes, and never show the key in a message or a log line.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "azurite.h"
#include "support.h"

static pid_t server_pid;
static int server_stdin = -1;
static int server_stdout = -1;
static int port;

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int leaked; /* log lines that held a secret */
static int logged;

static void capture_log(int level, const char *message, void *payload)
{
    (void)level;
    (void)payload;
    pthread_mutex_lock(&log_lock);
    logged++;
    if (strstr(message, AFS_TEST_AZURITE_KEY) || strstr(message, "Eby8vdM02"))
        leaked++;
    pthread_mutex_unlock(&log_lock);
}

static int start_server(void **state)
{
    int in[2], out[2];
    char line[32];
    ssize_t n;
    (void)state;

    if (pipe(in) != 0 || pipe(out) != 0)
        return -1;
    server_pid = fork();
    if (server_pid < 0)
        return -1;
    if (server_pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execlp("python3", "python3", AFS_TEST_SOURCE_DIR "/azure/hostile_server.py", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    server_stdin = in[1];
    /* Read up to the newline; keep the pipe open while the server runs. */
    n = 0;
    while ((size_t)n < sizeof(line) - 1) {
        ssize_t r = read(out[0], line + n, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || line[n] == '\n')
            break;
        n++;
    }
    server_stdout = out[0];
    if (n <= 0)
        return -1;
    line[n] = '\0';
    port = atoi(line);
    afs_log_set(capture_log, AFS_LOG_TRACE, NULL);
    return port > 0 ? 0 : -1;
}

static int stop_server(void **state)
{
    (void)state;
    afs_log_set(NULL, AFS_LOG_ERROR, NULL);
    if (server_stdin >= 0)
        close(server_stdin); /* the server exits when its stdin closes */
    if (server_stdout >= 0)
        close(server_stdout);
    if (server_pid > 0) {
        int st;
        for (int i = 0; i < 50 && waitpid(server_pid, &st, WNOHANG) == 0; i++)
            usleep(100000);
        if (waitpid(server_pid, &st, WNOHANG) == 0) {
            kill(server_pid, SIGKILL);
            waitpid(server_pid, &st, 0);
        }
    }
    return 0;
}

/* Open the share of `scenario` on the hostile server. */
static int open_scenario(const char *scenario, afs_storage **out)
{
    afs_azure_options o = AFS_AZURE_OPTIONS_INIT;
    char uri[256];
    int rc;

    snprintf(uri, sizeof(uri), "azblob://devstoreaccount1/%s?endpoint=http://127.0.0.1:%d/"
             "devstoreaccount1", scenario, port);
    o.account_key = AFS_TEST_AZURITE_KEY;
    o.flags = AFS_AZURE_NO_ENV;
    o.max_attempts = 3;
    o.retry_base_ms = 20;
    o.timeout_ms = 1000;
    o.connect_timeout_ms = 2000;
    rc = afs_storage_azblob_new(out, uri, &o);
    /* Whatever happened, no message carries the key. */
    assert_null(strstr(afs_error_last(), "Eby8vdM02"));
    return rc;
}

static afs_storage *open_ok(const char *scenario)
{
    afs_storage *s = NULL;
    AFS_ASSERT_OK(open_scenario(scenario, &s));
    return s;
}

struct seen {
    size_t ok, invalid;
};

static int count_seen(const afs_storage_entry *e, void *payload)
{
    struct seen *s = payload;
    if (e->status == AFS_EINVALIDNAME)
        s->invalid++;
    else
        s->ok++;
    return 0;
}

/* A listing that must fail with AFS_EIO and a message containing `words`. */
static void expect_list_error(const char *scenario, const char *dir, const char *words)
{
    afs_storage *s = open_ok(scenario);
    struct seen seen = { 0, 0 };
    int rc;

    afs_error_clear();
    rc = afs_storage_list_all(s, dir, count_seen, &seen);
    if (rc != AFS_EIO)
        fail_msg("%s: list returned %d (%s), expected AFS_EIO", scenario, rc, afs_error_last());
    if (!strstr(afs_error_last(), words))
        fail_msg("%s: message \"%s\" does not say \"%s\"", scenario, afs_error_last(), words);
    assert_null(strstr(afs_error_last(), "Eby8vdM02"));
    afs_storage_free(s);
}

static void test_azure_hostile__deep_nesting_is_refused(void **state)
{
    (void)state;
    expect_list_error("deepxml", "", "nested deeper");
}

static void test_azure_hostile__entities_and_doctype_are_refused(void **state)
{
    (void)state;
    expect_list_error("entities", "", "DOCTYPE");
    expect_list_error("external", "", "DOCTYPE");
}

static void test_azure_hostile__huge_answers_are_refused(void **state)
{
    (void)state;
    expect_list_error("hugexml", "", "larger than");
    expect_list_error("hugetext", "", "longer than the limit");
}

static void test_azure_hostile__malformed_listings_are_refused(void **state)
{
    (void)state;
    expect_list_error("notlisting", "", "not a listing");
    expect_list_error("malformed", "", "malformed XML");
    expect_list_error("longmarker", "", "NextMarker");
    expect_list_error("outside", "sub", "outside the requested prefix");
}

static void test_azure_hostile__hostile_names_are_reported_not_followed(void **state)
{
    afs_storage *s = open_ok("traversal");
    struct seen seen = { 0, 0 };
    (void)state;
    AFS_ASSERT_OK(afs_storage_list_all(s, "", count_seen, &seen));
    assert_int_equal(seen.ok, 1);      /* ok.txt */
    assert_int_equal(seen.invalid, 3); /* "..", "../" and "a\0b" */
    afs_storage_free(s);
}

/* A read that must fail with `code` and hand back nothing. */
static void expect_read_error(const char *scenario, int code, const char *words)
{
    afs_storage *s = open_ok(scenario);
    char buf[100];
    size_t n = 12345;
    int rc;

    memset(buf, 0, sizeof(buf));
    rc = afs_storage_read(s, "blob", 0, buf, sizeof(buf), &n, NULL);
    if (rc != code)
        fail_msg("%s: read returned %d (%s), expected %d", scenario, rc, afs_error_last(), code);
    if (!strstr(afs_error_last(), words))
        fail_msg("%s: message \"%s\" does not say \"%s\"", scenario, afs_error_last(), words);
    assert_int_equal(n, 0);
    afs_storage_free(s);
}

static void test_azure_hostile__bad_bodies_are_errors(void **state)
{
    (void)state;
    expect_read_error("truncated", AFS_ETRANSIENT, "gave up after 3 attempts");
    expect_read_error("badrange", AFS_EIO, "Content-Range");
    expect_read_error("badmd5", AFS_EIO, "MD5 mismatch");
    expect_read_error("toomuch", AFS_EIO, "more than");
    {
        /* The well-behaved answer reads fine and is verified. */
        afs_storage *s = open_ok("good");
        char buf[100];
        size_t n = 0;
        AFS_ASSERT_OK(afs_storage_read(s, "blob", 0, buf, sizeof(buf), &n, NULL));
        assert_int_equal(n, 100);
        assert_memory_equal(buf, "0123456789", 10);
        afs_storage_free(s);
    }
}

static void test_azure_hostile__throttling_is_retried_after_retry_after(void **state)
{
    struct timespec a, b;
    afs_storage *s = NULL;
    double secs;
    (void)state;

    clock_gettime(CLOCK_MONOTONIC, &a);
    AFS_ASSERT_OK(open_scenario("retry503", &s)); /* two 503s with Retry-After: 1, then 200 */
    clock_gettime(CLOCK_MONOTONIC, &b);
    secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    if (secs < 1.9)
        fail_msg("retried after %.2f s, Retry-After asked for 2 x 1 s", secs);
    afs_storage_free(s);

    AFS_ASSERT_CODE(open_scenario("always500", &s), AFS_ETRANSIENT);
    assert_non_null(strstr(afs_error_last(), "gave up after 3 attempts"));
}

static void test_azure_hostile__stalled_transfer_times_out(void **state)
{
    (void)state;
    expect_read_error("stall", AFS_ETRANSIENT, "gave up");
}

static void test_azure_hostile__no_secret_in_any_log_line(void **state)
{
    (void)state;
    pthread_mutex_lock(&log_lock);
    assert_true(logged > 0);
    assert_int_equal(leaked, 0);
    pthread_mutex_unlock(&log_lock);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_azure_hostile__deep_nesting_is_refused),
        cmocka_unit_test(test_azure_hostile__entities_and_doctype_are_refused),
        cmocka_unit_test(test_azure_hostile__huge_answers_are_refused),
        cmocka_unit_test(test_azure_hostile__malformed_listings_are_refused),
        cmocka_unit_test(test_azure_hostile__hostile_names_are_reported_not_followed),
        cmocka_unit_test(test_azure_hostile__bad_bodies_are_errors),
        cmocka_unit_test(test_azure_hostile__throttling_is_retried_after_retry_after),
        cmocka_unit_test(test_azure_hostile__stalled_transfer_times_out),
        cmocka_unit_test(test_azure_hostile__no_secret_in_any_log_line),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("azure_hostile", tests, start_server, stop_server);
}

/*
 * Sync through Azure Blob (the Azurite emulator): two servers sync a tree
 * through a container given by URI; and the emulator going away in the
 * middle of an upload: the put is retried or the items are reported, and
 * nothing is lost. The fault cases run their own Azurite (on disk, so a
 * restart keeps what was stored) from $AFS_TEST_AZURITE_BIN.
 * Skipped with a message when Azurite is not running.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "azurite.h"
#include "syncenv.h"

#include "storage/azure/azure_internal.h"

static const char *endpoint;

static int setup(void **state)
{
    return afs_test_env_setup(state, "syncaz");
}

struct own_azurite;
static struct own_azurite *own_running; /* stopped in teardown if a case failed */
static void own_free(struct own_azurite *az);

static int teardown(void **state)
{
    afs_test_env *env = *state;
    if (own_running)
        own_free(own_running);
    if (env->share_uri && !getenv("AFS_TEST_KEEP"))
        afs__azblob_container_delete(env->share_uri, NULL);
    return afs_test_env_teardown(state);
}

static void use_new_container(afs_test_env *env, const char *at)
{
    char *name = afs_test_azurite_container_name("sync");
    env->share_uri = afs_test_azurite_uri(at, name, NULL);
    free(name);
    AFS_ASSERT_OK(afs__azblob_container_create(env->share_uri, NULL));
}

/* Two servers sync a tree through a container, both ways (syncenv.h). */
static void test_sync_azblob__two_servers_sync_through_a_container(void **state)
{
    afs_test_env *env = *state;
    use_new_container(env, endpoint);
    afs_test_two_servers_through_share(env);
}

/* The writer tag travels as blob metadata (docs/sync.md#conflicts). */
static void test_sync_azblob__conflict_copy_of_an_enumerated_version_names_its_writer(void **state)
{
    afs_test_env *env = *state;
    use_new_container(env, endpoint);
    afs_test_conflict_copy_names_its_writer(env);
}

/* ---- an Azurite of the test's own, stopped and restarted ---- */

struct own_azurite {
    pid_t pid;
    int port;
    char *dir;
    char endpoint[96];
};

static int free_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static bool port_open(int port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bool ok;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)port);
    ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

static void own_start(struct own_azurite *az)
{
    const char *bin = getenv("AFS_TEST_AZURITE_BIN");
    char port[16], *log = afs_test_path(az->dir, "azurite.log");

    if (!bin)
        fail_msg("AFS_TEST_AZURITE_BIN is not set (scripts/test.sh exports it)");
    snprintf(port, sizeof(port), "%d", az->port);
    az->pid = fork();
    assert_true(az->pid >= 0);
    if (az->pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        /* On disk (not in memory): a restart keeps what was stored. */
        execl(bin, bin, "--blobHost", "127.0.0.1", "--blobPort", port, "--location", az->dir,
              "--disableTelemetry", "--silent", (char *)NULL);
        _exit(127);
    }
    free(log);
    for (int i = 0; i < 300 && !port_open(az->port); i++)
        usleep(100000);
    if (!port_open(az->port))
        fail_msg("own Azurite did not start on port %d", az->port);
}

static void own_stop(struct own_azurite *az, int sig)
{
    int st;
    if (az->pid <= 0)
        return;
    kill(az->pid, sig);
    for (int i = 0; i < 100 && waitpid(az->pid, &st, WNOHANG) == 0; i++)
        usleep(100000);
    if (waitpid(az->pid, &st, WNOHANG) == 0) {
        kill(az->pid, SIGKILL);
        waitpid(az->pid, &st, 0);
    }
    az->pid = 0;
}

static void own_init(struct own_azurite *az, const char *root)
{
    memset(az, 0, sizeof(*az));
    az->dir = afs_test_path(root, "azurite");
    afs_test_mkdirs(az->dir);
    az->port = free_port();
    snprintf(az->endpoint, sizeof(az->endpoint), "http://127.0.0.1:%d/devstoreaccount1",
             az->port);
    own_start(az);
    own_running = az;
}

static void own_free(struct own_azurite *az)
{
    own_stop(az, SIGKILL);
    free(az->dir);
    az->dir = NULL;
    own_running = NULL;
}

/* Azurite writes its blob index to disk every 5 s: wait one round so what
 * was stored so far survives a kill (the real service never loses an
 * acknowledged write; the emulator does until then). */
static void let_azurite_persist(void)
{
    sleep(6);
}

struct big_put {
    afs_storage *s;
    size_t size;
    unsigned char *data;
    int rc;
    char msg[512];
};

static void *big_put_thread(void *arg)
{
    struct big_put *p = arg;
    p->rc = afs_storage_put_buffer(p->s, "big.bin", p->data, p->size, NULL, NULL);
    snprintf(p->msg, sizeof(p->msg), "%s", afs_error_last());
    return NULL;
}

static void test_sync_azblob__emulator_killed_during_a_put_and_restarted(void **state)
{
    afs_test_env *env = *state;
    static struct own_azurite az; /* static: teardown may stop it after a failure */
    struct big_put p;
    afs_azure_options o = AFS_AZURE_OPTIONS_INIT;
    pthread_t th;
    unsigned char *back;
    size_t n = 0;

    own_init(&az, env->root);
    use_new_container(env, az.endpoint);
    o.block_size = 1u << 20;
    o.single_put_max = 1u << 20;
    o.parallelism = 2;
    o.retry_base_ms = 300; /* 0.3 + 0.6 + 1.2 + 2.4 + 4.8 s of retries */
    memset(&p, 0, sizeof(p));
    AFS_ASSERT_OK(afs_storage_azblob_new(&p.s, env->share_uri, &o));
    AFS_ASSERT_OK(afs_storage_put_buffer(p.s, "kept.txt", "stored before the kill", 22, NULL,
                                         NULL));
    let_azurite_persist();
    p.size = 48u << 20;
    p.data = malloc(p.size);
    back = malloc(p.size);
    for (size_t i = 0; i < p.size; i++)
        p.data[i] = (unsigned char)(i * 2654435761u >> 11);
    assert_int_equal(pthread_create(&th, NULL, big_put_thread, &p), 0);
    usleep(300000);
    own_stop(&az, SIGKILL); /* in the middle of the block uploads */
    usleep(500000);
    own_start(&az); /* same port, same disk */
    pthread_join(th, NULL);
    /* Retried through the outage: the object is whole and verified. */
    if (p.rc != 0)
        fail_msg("put across the restart returned %d: %s", p.rc, p.msg);
    AFS_ASSERT_OK(afs_storage_read(p.s, "big.bin", 0, back, p.size, &n, NULL));
    assert_int_equal(n, p.size);
    assert_memory_equal(back, p.data, p.size);
    {
        char buf[64];
        AFS_ASSERT_OK(afs_storage_read(p.s, "kept.txt", 0, buf, sizeof(buf), &n, NULL));
        assert_int_equal(n, 22);
    }

    /* Killed with no restart: the put is reported (transient), nothing shows. */
    o.max_attempts = 2;
    o.retry_base_ms = 50;
    afs_storage_free(p.s);
    AFS_ASSERT_OK(afs_storage_azblob_new(&p.s, env->share_uri, &o));
    let_azurite_persist();
    assert_int_equal(pthread_create(&th, NULL, big_put_thread, &p), 0);
    usleep(200000);
    own_stop(&az, SIGKILL);
    pthread_join(th, NULL);
    if (p.rc != AFS_ETRANSIENT)
        fail_msg("put into a dead emulator returned %d, expected AFS_ETRANSIENT: %s", p.rc,
                 p.msg);
    own_start(&az);
    AFS_ASSERT_OK(afs_storage_read(p.s, "big.bin", 0, back, p.size, &n, NULL));
    assert_int_equal(n, p.size);
    assert_memory_equal(back, p.data, p.size); /* the earlier object, unchanged */
    afs_storage_free(p.s);
    free(p.data);
    free(back);
    afs__azblob_container_delete(env->share_uri, NULL);
    free(env->share_uri);
    env->share_uri = NULL;
    own_free(&az);
}

struct killer {
    struct own_azurite *az;
    const char *uri;
    volatile bool stop, done;
};

static int count_files(const afs_storage_entry *e, void *payload)
{
    (*(int *)payload)++;
    (void)e;
    return 0;
}

/* Watch the container; once two of the batch arrived, stop the emulator:
 * the session is then in the middle of its uploads. */
static void *killer_thread(void *arg)
{
    struct killer *k = arg;
    afs_azure_options o = AFS_AZURE_OPTIONS_INIT;
    afs_storage *s = NULL;

    o.max_attempts = 1;
    if (afs_storage_azblob_new(&s, k->uri, &o) != 0)
        return NULL;
    while (!k->stop) {
        int n = 0;
        if (afs_storage_list_all(s, "batch", count_files, &n) == 0 && n >= 2) {
            own_stop(k->az, SIGTERM);
            k->done = true;
            break;
        }
        usleep(20000);
    }
    afs_storage_free(s);
    return NULL;
}

static void test_sync_azblob__emulator_stopped_mid_sync_nothing_lost(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");
    afs_test_server *b = afs_test_env_server(env, "ServerB");
    static struct own_azurite az; /* static: teardown may stop it after a failure */
    struct killer k;
    afs_sync_options o = AFS_SYNC_OPTIONS_INIT;
    pthread_t th;
    char name[32];

    own_init(&az, env->root);
    use_new_container(env, az.endpoint);
    afs_test_put(a->data, "seed.txt", "first session");
    afs_test_env_join(env, a, NULL);
    afs_test_sync(a);
    let_azurite_persist();
    for (int i = 0; i < 8; i++) {
        snprintf(name, sizeof(name), "batch/f%02d.bin", i);
        afs_test_write_pattern(a->data, name, (6u << 20) + (size_t)i, (unsigned)i);
    }
    memset(&k, 0, sizeof(k));
    k.az = &az;
    k.uri = env->share_uri;
    o.threads = 2;
    assert_int_equal(pthread_create(&th, NULL, killer_thread, &k), 0);
    a->last.version = AFS_SYNC_RESULT_VERSION;
    {
        int rc = afs_endpoint_sync(a->ep, &o, &a->last);
        k.stop = true;
        pthread_join(th, NULL);
        /* Reported: the session ends with an error or with per-item errors. */
        assert_true(k.done);
        if (rc == 0 && a->last.item_errors == 0 && a->last.files_uploaded == 8)
            fail_msg("the session did not notice the emulator going away");
        printf("session with the emulator stopped: rc %d, %u uploaded, %u item errors\n", rc,
               (unsigned)a->last.files_uploaded, (unsigned)a->last.item_errors);
    }
    /* Nothing lost locally. */
    for (int i = 0; i < 8; i++) {
        char *p;
        struct stat st;
        snprintf(name, sizeof(name), "batch/f%02d.bin", i);
        p = afs_test_path(a->data, name);
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_size, (6u << 20) + (unsigned)i);
        free(p);
    }
    own_start(&az);
    afs_test_sync(a); /* the items are retried */
    assert_int_equal(a->last.item_errors, 0);
    afs_test_env_join(env, b, NULL);
    afs_test_sync(b);
    assert_int_equal(b->last.item_errors, 0);
    afs_test_assert_same_tree(a->data, b->data);
    afs_test_assert_file(b->data, "seed.txt", "first session");
    afs__azblob_container_delete(env->share_uri, NULL);
    free(env->share_uri);
    env->share_uri = NULL;
    own_free(&az);
}


/* ---- a corrupting proxy in front of Azurite (tests/azure/corrupting_proxy.py) ---- */

struct proxy {
    pid_t pid;
    int in, out;
    char endpoint[96];
};

static void proxy_start(struct proxy *p, const char *target_endpoint)
{
    const char *colon = strrchr(target_endpoint, ':');
    char port[16], line[32];
    int in[2], out[2];
    size_t n = 0;

    assert_non_null(colon);
    snprintf(port, sizeof(port), "%d", atoi(colon + 1));
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    p->pid = fork();
    assert_true(p->pid >= 0);
    if (p->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execlp("python3", "python3", AFS_TEST_SOURCE_DIR "/azure/corrupting_proxy.py", port,
               (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    p->in = in[1];
    p->out = out[0];
    while (n < sizeof(line) - 1) {
        ssize_t r = read(p->out, line + n, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || line[n] == '\n')
            break;
        n++;
    }
    line[n] = '\0';
    if (atoi(line) <= 0)
        fail_msg("the corrupting proxy did not start");
    snprintf(p->endpoint, sizeof(p->endpoint), "http://127.0.0.1:%d/devstoreaccount1",
             atoi(line));
}

static void proxy_stop(struct proxy *p)
{
    int st;
    close(p->in); /* it exits when its stdin closes */
    close(p->out);
    for (int i = 0; i < 50 && waitpid(p->pid, &st, WNOHANG) == 0; i++)
        usleep(100000);
    if (waitpid(p->pid, &st, WNOHANG) == 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, &st, 0);
    }
}

/* Downloads whose bytes are spoiled on the way (a wrong Content-MD5, a body
 * cut short) are item errors, and nothing of them lands on the server. */
static void test_sync_azblob__corrupted_downloads_write_nothing_locally(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");
    afs_test_server *b = afs_test_env_server(env, "ServerB");
    struct proxy px;
    char *direct, *name, *via_proxy;

    use_new_container(env, endpoint);
    afs_test_put(a->data, "good.txt", "arrives intact");
    afs_test_put(a->data, "flipped.txt", "one byte will differ on the way");
    afs_test_write_pattern(a->data, "docs/truncated.bin", 200000, 3);
    afs_test_env_join(env, a, NULL);
    afs_test_sync(a);
    assert_int_equal(a->last.files_uploaded, 3);

    /* B reaches the same container through the proxy. */
    proxy_start(&px, endpoint);
    direct = env->share_uri;
    name = strdup(strchr(direct + strlen("azblob://"), '/') + 1);
    *strchr(name, '?') = '\0';
    via_proxy = afs_test_azurite_uri(px.endpoint, name, NULL);
    env->share_uri = via_proxy;
    {
        /* Whole-file downloads: with the default "namespace then content"
         * B would first make placeholders, which are correct but are files. */
        afs_endpoint_options o = AFS_ENDPOINT_OPTIONS_INIT;
        o.initial_download = AFS_INITIAL_DOWNLOAD_AVOID_TIERED_FILES;
        afs_test_env_join(env, b, &o);
    }
    env->share_uri = direct;
    afs_test_sync(b);
    assert_int_equal(b->last.item_errors, 2);
    afs_test_assert_file(b->data, "good.txt", "arrives intact");
    afs_test_assert_file(b->data, "flipped.txt", NULL);
    afs_test_assert_file(b->data, "docs/truncated.bin", NULL);
    assert_int_equal(afs_test_count_files(b->data), 1); /* no partial file, no temp */
    proxy_stop(&px);
    free(via_proxy);
    free(name);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sync_azblob__two_servers_sync_through_a_container,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_sync_azblob__emulator_killed_during_a_put_and_restarted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_azblob__emulator_stopped_mid_sync_nothing_lost,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_sync_azblob__corrupted_downloads_write_nothing_locally, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_sync_azblob__conflict_copy_of_an_enumerated_version_names_its_writer, setup,
            teardown),
    };
    endpoint = afs_test_azurite_endpoint();
    if (!endpoint)
        return afs_test_azurite_skip("test_sync_azblob");
    afs_test_azurite_env();
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("sync_azblob", tests, NULL, NULL);
}

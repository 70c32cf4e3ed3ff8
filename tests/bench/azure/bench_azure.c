/*
 * Benchmark (not a test): upload N small files (default 10,000) to one
 * Azurite instance with libafs (parallel puts) and with `rclone copy`
 * (its azureblob backend given an account SAS URL for the emulator's
 * account as sas_url), each into a container of its own, and print as the
 * last line:
 *
 *   bench-azure files=N afs_obj_s=X rclone_obj_s=Y ratio=Z
 *
 * ratio = afs_obj_s / rclone_obj_s. Run it with tests/bench/azure/run.sh,
 * which starts Azurite when AFS_TEST_AZURITE is not set.
 * Environment: AFS_TEST_AZURITE (endpoint, required), AFS_BENCH_FILES,
 * AFS_BENCH_THREADS (libafs uploads in flight and rclone --transfers,
 * default 16), AFS_BENCH_SIZE (bytes per file, default 1024).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "afs.h"
#include "azurite.h"
#include "storage/azure/azure_internal.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned env_uint(const char *name, unsigned def)
{
    const char *v = getenv(name);
    return v && atoi(v) > 0 ? (unsigned)atoi(v) : def;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench-azure: %s: %d %s: %s\n", what, rc, afs_strerror(rc), afs_error_last());
    exit(1);
}

static unsigned nfiles, nthreads, fsize;
static char srcdir[4096];

static void rel_name(unsigned i, char *out, size_t cap)
{
    snprintf(out, cap, "d%03u/f%05u.dat", i / 100, i);
}

static void make_files(void)
{
    char *buf = malloc(fsize);
    for (unsigned i = 0; i < nfiles; i++) {
        char rel[64], path[4200];
        int fd;
        rel_name(i, rel, sizeof(rel));
        snprintf(path, sizeof(path), "%s/d%03u", srcdir, i / 100);
        mkdir(path, 0755);
        snprintf(path, sizeof(path), "%s/%s", srcdir, rel);
        for (unsigned j = 0; j < fsize; j++)
            buf[j] = (char)('a' + (i * 31 + j) % 26);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || write(fd, buf, fsize) != (ssize_t)fsize) {
            perror(path);
            exit(1);
        }
        close(fd);
    }
    free(buf);
}

struct pool {
    afs_storage *s;
    pthread_mutex_t lock;
    unsigned next;
    int rc;
};

static void *upload_worker(void *arg)
{
    struct pool *p = arg;
    char *buf = malloc(fsize);
    for (;;) {
        char rel[64], path[4200];
        unsigned i;
        int fd, rc;
        ssize_t n;
        pthread_mutex_lock(&p->lock);
        i = p->next++;
        pthread_mutex_unlock(&p->lock);
        if (i >= nfiles || p->rc)
            break;
        rel_name(i, rel, sizeof(rel));
        snprintf(path, sizeof(path), "%s/%s", srcdir, rel);
        fd = open(path, O_RDONLY);
        n = fd >= 0 ? read(fd, buf, fsize) : -1;
        if (fd >= 0)
            close(fd);
        rc = n == (ssize_t)fsize ? afs_storage_put_buffer(p->s, rel, buf, fsize, NULL, NULL)
                                 : AFS_EIO;
        if (rc != 0) {
            fprintf(stderr, "bench-azure: put %s: %s\n", rel, afs_error_last());
            p->rc = rc;
            break;
        }
    }
    free(buf);
    return NULL;
}

static int count_cb(const afs_storage_entry *e, void *payload)
{
    (*(unsigned *)payload) += e->type == AFS_TYPE_FILE;
    return 0;
}

/* Files in the container (two levels, as uploaded). */
static unsigned count_objects(const char *uri)
{
    afs_storage *s = NULL;
    unsigned n = 0;
    int rc = afs_storage_open(&s, uri);
    if (rc != 0)
        die("open for counting", rc);
    for (unsigned d = 0; d <= (nfiles - 1) / 100; d++) {
        char dir[16];
        snprintf(dir, sizeof(dir), "d%03u", d);
        if ((rc = afs_storage_list_all(s, dir, count_cb, &n)) != 0)
            die("count", rc);
    }
    afs_storage_free(s);
    return n;
}

static double bench_afs(const char *endpoint, char **uri_out)
{
    char *name = afs_test_azurite_container_name("afs");
    char *uri = afs_test_azurite_uri(endpoint, name, NULL);
    pthread_t th[256];
    struct pool p;
    double t0, t1;
    int rc;

    free(name);
    if ((rc = afs__azblob_container_create(uri, NULL)) != 0)
        die("create container", rc);
    memset(&p, 0, sizeof(p));
    pthread_mutex_init(&p.lock, NULL);
    t0 = now_s();
    if ((rc = afs_storage_open(&p.s, uri)) != 0)
        die("open", rc);
    for (unsigned i = 0; i < nthreads; i++)
        pthread_create(&th[i], NULL, upload_worker, &p);
    for (unsigned i = 0; i < nthreads; i++)
        pthread_join(th[i], NULL);
    afs_storage_free(p.s);
    t1 = now_s();
    if (p.rc)
        die("libafs upload", p.rc);
    *uri_out = uri;
    return t1 - t0;
}

static double bench_rclone(const char *endpoint, char **uri_out)
{
    char *name = afs_test_azurite_container_name("rclone");
    char *uri = afs_test_azurite_uri(endpoint, name, NULL);
    char *sas = NULL, sas_url[4096], remote[256], transfers[32], conf[4200];
    double t0, t1;
    pid_t pid;
    int rc, st;

    if ((rc = afs__azblob_account_sas(uri, NULL, "rwdlacup", "2099-01-01T00:00:00Z", &sas)) != 0)
        die("account SAS", rc);
    snprintf(sas_url, sizeof(sas_url), "%s?%s", endpoint, sas);
    snprintf(remote, sizeof(remote), "azb:%s", name);
    snprintf(transfers, sizeof(transfers), "--transfers=%u", nthreads);
    snprintf(conf, sizeof(conf), "%s.rclone.conf", srcdir);
    close(open(conf, O_WRONLY | O_CREAT | O_TRUNC, 0600)); /* empty: only the env remote */
    setenv("RCLONE_CONFIG_AZB_TYPE", "azureblob", 1);
    setenv("RCLONE_CONFIG_AZB_SAS_URL", sas_url, 1);
    t0 = now_s();
    pid = fork();
    if (pid == 0) {
        execlp("rclone", "rclone", "copy", "--config", conf, transfers, "--retries=1",
               "--stats=0", "--log-level=ERROR", srcdir, remote, (char *)NULL);
        _exit(127);
    }
    waitpid(pid, &st, 0);
    t1 = now_s();
    unlink(conf);
    free(sas);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench-azure: rclone copy failed (status %d)\n", st);
        exit(1);
    }
    free(name);
    *uri_out = uri;
    return t1 - t0;
}

static void rmtree(const char *dir)
{
    char cmd[4300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench-azure: could not remove %s\n", dir);
}

int main(void)
{
    const char *endpoint = afs_test_azurite_endpoint();
    const char *tmp = getenv("TMPDIR");
    char *afs_uri = NULL, *rc_uri = NULL;
    double ta, tr, afs_rate, rc_rate;
    unsigned na, nr;

    if (!endpoint) {
        fprintf(stderr, "bench-azure: AFS_TEST_AZURITE is not set (use tests/bench/azure/run.sh)\n");
        return 2;
    }
    afs_test_azurite_env();
    nfiles = env_uint("AFS_BENCH_FILES", 10000);
    nthreads = env_uint("AFS_BENCH_THREADS", 16);
    fsize = env_uint("AFS_BENCH_SIZE", 1024);
    if (nthreads > 256)
        nthreads = 256;
    snprintf(srcdir, sizeof(srcdir), "%s/afs-bench-azure-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(srcdir)) {
        perror("mkdtemp");
        return 1;
    }
    make_files();
    printf("bench-azure: %u files of %u bytes, %u in flight, Azurite at %s\n", nfiles, fsize,
           nthreads, endpoint);
    ta = bench_afs(endpoint, &afs_uri);
    printf("bench-azure: libafs  %u files in %.2f s\n", nfiles, ta);
    tr = bench_rclone(endpoint, &rc_uri);
    printf("bench-azure: rclone  %u files in %.2f s\n", nfiles, tr);
    na = count_objects(afs_uri);
    nr = count_objects(rc_uri);
    if (na != nfiles || nr != nfiles) {
        fprintf(stderr, "bench-azure: containers hold %u (libafs) and %u (rclone), not %u\n", na,
                nr, nfiles);
        return 1;
    }
    afs__azblob_container_delete(afs_uri, NULL);
    afs__azblob_container_delete(rc_uri, NULL);
    rmtree(srcdir);
    free(afs_uri);
    free(rc_uri);
    afs_rate = nfiles / ta;
    rc_rate = nfiles / tr;
    printf("bench-azure files=%u afs_obj_s=%.1f rclone_obj_s=%.1f ratio=%.2f\n", nfiles, afs_rate,
           rc_rate, afs_rate / rc_rate);
    return 0;
}

/* Per-test sandbox directories and file helpers (tests/support/support.h). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support.h"

static const char *sandbox_root(void)
{
    const char *r = getenv("AFS_TEST_TMPDIR");
    if (!r || !*r)
        r = getenv("TMPDIR");
    if (!r || !*r)
        r = "/tmp";
    return r;
}

char *afs_test_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

void afs_test_mkdirs(const char *path)
{
    char *p = strdup(path);
    assert_non_null(p);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST)
            fail_msg("mkdir %s: %s", p, strerror(errno));
        *s = '/';
    }
    if (mkdir(p, 0777) != 0 && errno != EEXIST)
        fail_msg("mkdir %s: %s", p, strerror(errno));
    free(p);
}

char *afs_test_sandbox(const char *name)
{
    char tmpl[4096];
    char *dir;
    afs_test_mkdirs(sandbox_root());
    snprintf(tmpl, sizeof(tmpl), "%s/%s-XXXXXX", sandbox_root(), name ? name : "t");
    dir = mkdtemp(tmpl);
    if (!dir)
        fail_msg("mkdtemp %s: %s", tmpl, strerror(errno));
    dir = realpath(tmpl, NULL);
    assert_non_null(dir);
    return dir;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        return rmdir(path) == 0 || errno == ENOENT ? 0 : 0;
    return unlink(path) == 0 || errno == ENOENT ? 0 : 0;
}

void afs_test_rmtree(const char *path)
{
    if (path)
        nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS);
}

void afs_test_write_file(const char *path, const void *data, size_t len)
{
    char *dir = strdup(path);
    char *slash;
    int fd;
    assert_non_null(dir);
    slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        afs_test_mkdirs(dir);
    }
    free(dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd < 0)
        fail_msg("open %s: %s", path, strerror(errno));
    if (len && write(fd, data, len) != (ssize_t)len)
        fail_msg("write %s: %s", path, strerror(errno));
    close(fd);
}

char *afs_test_read_file(const char *path, size_t *len)
{
    struct stat st;
    char *buf;
    ssize_t n;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return NULL;
    }
    buf = malloc((size_t)st.st_size + 1);
    assert_non_null(buf);
    n = read(fd, buf, (size_t)st.st_size);
    close(fd);
    if (n < 0) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (len)
        *len = (size_t)n;
    return buf;
}

int afs_test_setup_sandbox(void **state)
{
    *state = afs_test_sandbox("afs");
    return 0;
}

int afs_test_teardown_sandbox(void **state)
{
    if (!getenv("AFS_TEST_KEEP"))
        afs_test_rmtree(*state);
    free(*state);
    afs_error_clear();
    return 0;
}

void afs_test_storage_put_text(afs_storage *s, const char *path, const char *text)
{
    AFS_ASSERT_OK(afs_storage_put_buffer(s, path, text, strlen(text), NULL, NULL));
}

void afs_test_storage_assert_text(afs_storage *s, const char *path, const char *want)
{
    char buf[256];
    size_t n = 0;
    AFS_ASSERT_OK(afs_storage_read(s, path, 0, buf, sizeof(buf) - 1, &n, NULL));
    buf[n] = '\0';
    assert_string_equal(buf, want);
}

/*
 * The default POSIX/Linux filesystem vtable (lib/fs/posix.c), checked
 * against what the kernel itself reports: stat(2), the bytes on disk, the
 * blocks allocated, the extended attribute.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "support.h"
#include "core/internal.h"
#include "fs/posix_internal.h"

/* The registered fs plus its table, so tests call slots as the library does. */
struct pfs {
    afs_fs *fs;
    const afs_fs_ops *ops;
    void *ctx;
};

static void pfs_open(struct pfs *p)
{
    AFS_ASSERT_OK(afs_fs_posix_new(&p->fs));
    AFS_ASSERT_OK(afs_fs_ops_get(p->fs, &p->ops, &p->ctx));
}

static void pfs_close(struct pfs *p)
{
    afs_fs_free(p->fs);
}

/* Create `path` through the vtable with `len` bytes of `fill`. */
static void put_bytes(struct pfs *p, const char *path, int fill, size_t len)
{
    void *fh;
    unsigned char *buf = malloc(len ? len : 1);
    assert_non_null(buf);
    memset(buf, fill, len);
    AFS_ASSERT_OK(p->ops->open(p->ctx, path,
                               AFS_FS_O_WRITE | AFS_FS_O_CREATE | AFS_FS_O_TRUNC, &fh));
    AFS_ASSERT_OK(p->ops->write(p->ctx, fh, 0, buf, len));
    AFS_ASSERT_OK(p->ops->fsync(p->ctx, fh));
    AFS_ASSERT_OK(p->ops->close(p->ctx, fh));
    free(buf);
}

static int all_bytes(const unsigned char *buf, size_t len, unsigned char v)
{
    for (size_t i = 0; i < len; i++)
        if (buf[i] != v)
            return 0;
    return 1;
}

static int64_t st_ns(struct timespec ts)
{
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void test_fs_posix__stat_matches_the_kernel(void **state)
{
    const char *dir = *state;
    char *path = afs_test_path(dir, "a.txt");
    char *other = afs_test_path(dir, "hard.txt");
    struct timespec times[2] = { { 1500000000, 111 }, { 1600000000, 123456789 } };
    struct statx sx;
    struct stat st;
    afs_fs_stat s;
    struct pfs p;

    pfs_open(&p);
    afs_test_write_file(path, "hello", 5);
    assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
    assert_int_equal(stat(path, &st), 0);

    AFS_ASSERT_OK(p.ops->stat(p.ctx, path, &s));
    assert_int_equal(s.type, AFS_TYPE_FILE);
    assert_int_equal(s.size, 5);
    assert_true(s.mtime_ns == 1600000000123456789LL);
    assert_true(s.atime_ns == 1500000000000000111LL);
    assert_true(s.ctime_ns == st_ns(st.st_ctim));
    assert_int_equal(s.file_id, st.st_ino);
    assert_int_equal(s.mode, st.st_mode & 0777);
    assert_int_equal(s.alloc_bytes, (uint64_t)st.st_blocks * 512);
    assert_int_equal(s.nlink, 1);
    /* Birth time is reported exactly when the kernel knows it. */
    assert_int_equal(statx(AT_FDCWD, path, 0, STATX_BTIME, &sx), 0);
    if (sx.stx_mask & STATX_BTIME)
        assert_true(s.btime_ns == (int64_t)sx.stx_btime.tv_sec * 1000000000LL +
                                      sx.stx_btime.tv_nsec);
    else
        assert_true(s.btime_ns == 0);

    assert_int_equal(link(path, other), 0);
    AFS_ASSERT_OK(p.ops->stat(p.ctx, path, &s));
    assert_int_equal(s.nlink, 2);

    AFS_ASSERT_OK(p.ops->stat(p.ctx, dir, &s));
    assert_int_equal(s.type, AFS_TYPE_DIR);

    pfs_close(&p);
    free(path);
    free(other);
}

static void test_fs_posix__fstat_agrees_with_stat(void **state)
{
    char *path = afs_test_path(*state, "f");
    afs_fs_stat a, b;
    struct pfs p;
    void *fh;

    pfs_open(&p);
    put_bytes(&p, path, 'x', 12345);
    AFS_ASSERT_OK(p.ops->open(p.ctx, path, AFS_FS_O_READ, &fh));
    AFS_ASSERT_OK(p.ops->fstat(p.ctx, fh, &a));
    AFS_ASSERT_OK(p.ops->close(p.ctx, fh));
    AFS_ASSERT_OK(p.ops->stat(p.ctx, path, &b));
    assert_memory_equal(&a, &b, sizeof(a));
    assert_int_equal(a.size, 12345);
    pfs_close(&p);
    free(path);
}

static void test_fs_posix__symlink_is_reported_never_followed(void **state)
{
    const char *dir = *state;
    char *target = afs_test_path(dir, "target.txt");
    char *link_path = afs_test_path(dir, "link");
    char *dlink = afs_test_path(dir, "dirlink");
    size_t len;
    char *content;
    afs_fs_stat s;
    struct pfs p;
    void *fh = NULL;
    void *d = NULL;

    pfs_open(&p);
    afs_test_write_file(target, "precious", 8);
    assert_int_equal(symlink("target.txt", link_path), 0);
    assert_int_equal(symlink(".", dlink), 0);

    AFS_ASSERT_OK(p.ops->stat(p.ctx, link_path, &s));
    assert_int_equal(s.type, AFS_TYPE_SYMLINK);
    assert_int_equal(s.size, strlen("target.txt"));

    /* Neither reading nor truncating goes through the link. */
    assert_int_not_equal(p.ops->open(p.ctx, link_path, AFS_FS_O_READ, &fh), 0);
    assert_null(fh);
    assert_non_null(strstr(afs_error_last(), link_path));
    assert_int_not_equal(
        p.ops->open(p.ctx, link_path, AFS_FS_O_WRITE | AFS_FS_O_TRUNC | AFS_FS_O_CREATE, &fh),
        0);
    content = afs_test_read_file(target, &len);
    assert_non_null(content);
    assert_int_equal(len, 8);
    assert_string_equal(content, "precious");
    free(content);

    /* Nor does enumeration. */
    assert_int_not_equal(p.ops->dir_open(p.ctx, dlink, &d), 0);
    assert_null(d);

    /* unlink removes the link itself. */
    AFS_ASSERT_OK(p.ops->unlink(p.ctx, link_path));
    assert_int_equal(access(target, F_OK), 0);

    pfs_close(&p);
    free(target);
    free(link_path);
    free(dlink);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_fs_posix__dir_lists_exactly_the_created_names(void **state)
{
    const char *dir = *state;
    const char *want[] = { "a", "b c.txt", "link", "sub", "\xc3\xa9t\xc3\xa9" };
    const uint32_t want_type[] = { AFS_TYPE_FILE, AFS_TYPE_FILE, AFS_TYPE_SYMLINK, AFS_TYPE_DIR,
                                   AFS_TYPE_FILE };
    char *got[16];
    uint32_t got_type[16];
    size_t n = 0;
    afs_fs_dirent e;
    char *path;
    struct pfs p;
    void *d;
    int rc;

    pfs_open(&p);
    for (size_t i = 0; i < AFS__ARRAY_LEN(want); i++) {
        path = afs_test_path(dir, want[i]);
        if (want_type[i] == AFS_TYPE_FILE)
            afs_test_write_file(path, "x", 1);
        else if (want_type[i] == AFS_TYPE_DIR)
            AFS_ASSERT_OK(p.ops->mkdir(p.ctx, path));
        else
            assert_int_equal(symlink("a", path), 0);
        free(path);
    }

    AFS_ASSERT_OK(p.ops->dir_open(p.ctx, dir, &d));
    while ((rc = p.ops->dir_read(p.ctx, d, &e)) == 0) {
        assert_true(n < 16);
        got[n] = strdup(e.name);
        assert_non_null(got[n]);
        got_type[n] = e.type;
        /* Types go with the sorted names below; keep the pairing by index. */
        n++;
    }
    assert_int_equal(rc, AFS_EITEROVER);
    assert_int_equal(p.ops->dir_read(p.ctx, d, &e), AFS_EITEROVER);
    p.ops->dir_close(p.ctx, d);

    assert_int_equal(n, AFS__ARRAY_LEN(want));
    for (size_t i = 0; i < n; i++) {
        size_t j;
        for (j = 0; j < AFS__ARRAY_LEN(want); j++)
            if (strcmp(got[i], want[j]) == 0)
                break;
        if (j == AFS__ARRAY_LEN(want))
            fail_msg("unexpected entry '%s'", got[i]);
        /* d_type is optional in POSIX; when given it must be right. */
        if (got_type[i] != AFS_TYPE_UNKNOWN)
            assert_int_equal(got_type[i], want_type[j]);
    }
    qsort(got, n, sizeof(got[0]), cmp_str);
    for (size_t i = 1; i < n; i++)
        assert_string_not_equal(got[i - 1], got[i]);
    for (size_t i = 0; i < n; i++)
        free(got[i]);

    /* An empty directory ends at once. */
    path = afs_test_path(dir, "sub");
    AFS_ASSERT_OK(p.ops->dir_open(p.ctx, path, &d));
    assert_int_equal(p.ops->dir_read(p.ctx, d, &e), AFS_EITEROVER);
    p.ops->dir_close(p.ctx, d);
    free(path);

    /* A file is not a directory. */
    path = afs_test_path(dir, "a");
    AFS_ASSERT_CODE(p.ops->dir_open(p.ctx, path, &d), AFS_ENOTDIR);
    free(path);
    pfs_close(&p);
}

static void test_fs_posix__read_write_ranges_at_offsets(void **state)
{
    char *path = afs_test_path(*state, "r.bin");
    const size_t big = 3 * 1024 * 1024 + 17;
    unsigned char buf[64];
    unsigned char *pattern, *back;
    size_t nread;
    char *disk;
    size_t len;
    struct pfs p;
    void *fh;

    pfs_open(&p);
    AFS_ASSERT_OK(p.ops->open(p.ctx, path, AFS_FS_O_READ | AFS_FS_O_WRITE | AFS_FS_O_CREATE |
                                               AFS_FS_O_EXCL, &fh));
    AFS_ASSERT_OK(p.ops->write(p.ctx, fh, 0, "hello", 5));
    AFS_ASSERT_OK(p.ops->write(p.ctx, fh, 10, "world", 5));
    AFS_ASSERT_OK(p.ops->read(p.ctx, fh, 2, buf, 3, &nread));
    assert_int_equal(nread, 3);
    assert_memory_equal(buf, "llo", 3);
    /* A read past the end stops at the end; at or past it reads nothing. */
    AFS_ASSERT_OK(p.ops->read(p.ctx, fh, 10, buf, sizeof(buf), &nread));
    assert_int_equal(nread, 5);
    assert_memory_equal(buf, "world", 5);
    AFS_ASSERT_OK(p.ops->read(p.ctx, fh, 15, buf, sizeof(buf), &nread));
    assert_int_equal(nread, 0);
    AFS_ASSERT_OK(p.ops->read(p.ctx, fh, 1000, buf, sizeof(buf), &nread));
    assert_int_equal(nread, 0);
    AFS_ASSERT_OK(p.ops->close(p.ctx, fh));

    disk = afs_test_read_file(path, &len);
    assert_non_null(disk);
    assert_int_equal(len, 15);
    assert_memory_equal(disk, "hello\0\0\0\0\0world", 15);
    free(disk);

    /* A large write lands whole and reads back whole. */
    pattern = malloc(big);
    back = malloc(big);
    assert_non_null(pattern);
    assert_non_null(back);
    for (size_t i = 0; i < big; i++)
        pattern[i] = (unsigned char)(i * 31 + (i >> 12));
    AFS_ASSERT_OK(p.ops->open(p.ctx, path, AFS_FS_O_READ | AFS_FS_O_WRITE | AFS_FS_O_TRUNC, &fh));
    AFS_ASSERT_OK(p.ops->write(p.ctx, fh, 100, pattern, big));
    AFS_ASSERT_OK(p.ops->read(p.ctx, fh, 100, back, big, &nread));
    assert_int_equal(nread, big);
    assert_memory_equal(back, pattern, big);
    AFS_ASSERT_OK(p.ops->read(p.ctx, fh, 0, buf, 10, &nread));
    assert_int_equal(nread, 10);
    assert_true(all_bytes(buf, 10, 0));
    AFS_ASSERT_OK(p.ops->close(p.ctx, fh));
    free(pattern);
    free(back);
    pfs_close(&p);
    free(path);
}

static void test_fs_posix__open_flags_and_errors(void **state)
{
    const char *dir = *state;
    char *path = afs_test_path(dir, "o.txt");
    char *missing = afs_test_path(dir, "nope/o.txt");
    afs_fs_stat s;
    struct pfs p;
    void *fh = NULL;

    pfs_open(&p);
    afs_test_write_file(path, "data", 4);
    AFS_ASSERT_CODE(p.ops->open(p.ctx, path, AFS_FS_O_WRITE | AFS_FS_O_CREATE | AFS_FS_O_EXCL,
                                &fh),
                    AFS_EEXISTS);
    AFS_ASSERT_CODE(p.ops->open(p.ctx, missing, AFS_FS_O_READ, &fh), AFS_ENOTFOUND);
    assert_non_null(strstr(afs_error_last(), missing));
    AFS_ASSERT_CODE(p.ops->open(p.ctx, dir, AFS_FS_O_READ, &fh), AFS_EISDIR);
    AFS_ASSERT_CODE(p.ops->open(p.ctx, dir, AFS_FS_O_WRITE, &fh), AFS_EISDIR);
    AFS_ASSERT_CODE(p.ops->open(p.ctx, path, 0, &fh), AFS_EINVAL);
    assert_null(fh);

    AFS_ASSERT_OK(p.ops->open(p.ctx, path, AFS_FS_O_WRITE | AFS_FS_O_TRUNC, &fh));
    AFS_ASSERT_OK(p.ops->close(p.ctx, fh));
    AFS_ASSERT_OK(p.ops->stat(p.ctx, path, &s));
    assert_int_equal(s.size, 0);

    /* A FIFO must be refused, not block the caller. */
    free(path);
    path = afs_test_path(dir, "fifo");
    assert_int_equal(mkfifo(path, 0600), 0);
    AFS_ASSERT_CODE(p.ops->open(p.ctx, path, AFS_FS_O_READ, &fh), AFS_EINVAL);
    AFS_ASSERT_OK(p.ops->stat(p.ctx, path, &s));
    assert_int_equal(s.type, AFS_TYPE_OTHER);

    pfs_close(&p);
    free(path);
    free(missing);
}

static void test_fs_posix__noreplace_rename_keeps_the_old_content(void **state)
{
    const char *dir = *state;
    char *dst = afs_test_path(dir, "doc.txt");
    char *tmp = afs_test_path(dir, ".doc.txt.tmp");
    char *fresh = afs_test_path(dir, "fresh.txt");
    char *content;
    size_t len;
    struct pfs p;
    void *fh;

    pfs_open(&p);
    afs_test_write_file(dst, "old", 3);
    AFS_ASSERT_OK(p.ops->open(p.ctx, tmp, AFS_FS_O_WRITE | AFS_FS_O_CREATE | AFS_FS_O_EXCL, &fh));
    AFS_ASSERT_OK(p.ops->write(p.ctx, fh, 0, "new!", 4));
    AFS_ASSERT_OK(p.ops->fsync(p.ctx, fh));
    AFS_ASSERT_OK(p.ops->close(p.ctx, fh));

    AFS_ASSERT_CODE(p.ops->rename(p.ctx, tmp, dst, AFS_FS_RENAME_NOREPLACE), AFS_EEXISTS);
    assert_non_null(strstr(afs_error_last(), dst));
    content = afs_test_read_file(dst, &len);
    assert_non_null(content);
    assert_string_equal(content, "old");
    free(content);
    assert_int_equal(access(tmp, F_OK), 0);

    /* Onto a free name it works, and a plain rename replaces. */
    AFS_ASSERT_OK(p.ops->rename(p.ctx, tmp, fresh, AFS_FS_RENAME_NOREPLACE));
    assert_int_not_equal(access(tmp, F_OK), 0);
    AFS_ASSERT_OK(p.ops->rename(p.ctx, fresh, dst, 0));
    AFS_ASSERT_OK(p.ops->sync_dir(p.ctx, dir));
    content = afs_test_read_file(dst, &len);
    assert_non_null(content);
    assert_string_equal(content, "new!");
    free(content);
    assert_int_not_equal(access(fresh, F_OK), 0);

    AFS_ASSERT_CODE(p.ops->rename(p.ctx, tmp, fresh, 0), AFS_ENOTFOUND);
    assert_non_null(strstr(afs_error_last(), tmp));
    AFS_ASSERT_CODE(p.ops->rename(p.ctx, dst, fresh, 0x80), AFS_EINVAL);

    pfs_close(&p);
    free(dst);
    free(tmp);
    free(fresh);
}

static void test_fs_posix__link_fallback_rename_never_replaces(void **state)
{
    const char *dir = *state;
    char *a = afs_test_path(dir, "a");
    char *b = afs_test_path(dir, "b");
    char *c = afs_test_path(dir, "c");
    char *sub = afs_test_path(dir, "sub");
    struct stat before, after;
    char *content;

    afs_test_write_file(a, "A", 1);
    afs_test_write_file(b, "B", 1);
    assert_int_equal(stat(a, &before), 0);
    AFS_ASSERT_CODE(afs__fs_posix_rename_by_link(a, b), AFS_EEXISTS);
    content = afs_test_read_file(b, NULL);
    assert_string_equal(content, "B");
    free(content);
    assert_int_equal(access(a, F_OK), 0);

    AFS_ASSERT_OK(afs__fs_posix_rename_by_link(a, c));
    assert_int_not_equal(access(a, F_OK), 0);
    assert_int_equal(stat(c, &after), 0);
    assert_int_equal(after.st_ino, before.st_ino);
    assert_int_equal(after.st_nlink, 1);

    afs_test_mkdirs(sub);
    AFS_ASSERT_CODE(afs__fs_posix_rename_by_link(sub, a), AFS_ENOTSUP);
    free(a);
    free(b);
    free(c);
    free(sub);
}

static void test_fs_posix__truncate_grow_is_sparse(void **state)
{
    char *path = afs_test_path(*state, "sparse");
    const uint64_t size = 8 * 1024 * 1024;
    unsigned char buf[65536];
    size_t nread;
    afs_fs_stat s;
    struct pfs p;
    void *fh;

    pfs_open(&p);
    AFS_ASSERT_OK(p.ops->open(p.ctx, path, AFS_FS_O_READ | AFS_FS_O_WRITE | AFS_FS_O_CREATE, &fh));
    AFS_ASSERT_OK(p.ops->truncate(p.ctx, fh, size));
    AFS_ASSERT_OK(p.ops->fstat(p.ctx, fh, &s));
    assert_int_equal(s.size, size);
    assert_int_equal(s.alloc_bytes, 0);
    memset(buf, 0xEE, sizeof(buf));
    AFS_ASSERT_OK(p.ops->read(p.ctx, fh, 4 * 1024 * 1024, buf, sizeof(buf), &nread));
    assert_int_equal(nread, sizeof(buf));
    assert_true(all_bytes(buf, sizeof(buf), 0));
    AFS_ASSERT_OK(p.ops->truncate(p.ctx, fh, 10));
    AFS_ASSERT_OK(p.ops->fstat(p.ctx, fh, &s));
    assert_int_equal(s.size, 10);
    AFS_ASSERT_OK(p.ops->close(p.ctx, fh));
    pfs_close(&p);
    free(path);
}

static void test_fs_posix__punch_hole_frees_blocks_keeps_size(void **state)
{
    char *path = afs_test_path(*state, "tier.bin");
    const size_t mib = 1024 * 1024;
    const uint64_t hole_off = 256 * 1024, hole_len = 512 * 1024;
    unsigned char *buf;
    afs_fs_stat before, after;
    size_t nread;
    struct pfs p;
    void *fh;

    pfs_open(&p);
    put_bytes(&p, path, 0xAB, mib);
    AFS_ASSERT_OK(p.ops->stat(p.ctx, path, &before));
    assert_true(before.alloc_bytes >= mib);

    AFS_ASSERT_OK(p.ops->open(p.ctx, path, AFS_FS_O_READ | AFS_FS_O_WRITE, &fh));
    AFS_ASSERT_OK(p.ops->punch_hole(p.ctx, fh, hole_off, hole_len));
    AFS_ASSERT_OK(p.ops->punch_hole(p.ctx, fh, 0, 0)); /* empty range: nothing to do */
    AFS_ASSERT_OK(p.ops->fsync(p.ctx, fh));
    AFS_ASSERT_OK(p.ops->fstat(p.ctx, fh, &after));
    assert_int_equal(after.size, mib);
    assert_true(after.alloc_bytes <= before.alloc_bytes - hole_len);

    buf = malloc(mib);
    assert_non_null(buf);
    AFS_ASSERT_OK(p.ops->read(p.ctx, fh, 0, buf, mib, &nread));
    assert_int_equal(nread, mib);
    assert_true(all_bytes(buf, hole_off, 0xAB));
    assert_true(all_bytes(buf + hole_off, hole_len, 0));
    assert_true(all_bytes(buf + hole_off + hole_len, mib - hole_off - hole_len, 0xAB));
    AFS_ASSERT_OK(p.ops->close(p.ctx, fh));

    /* Punching the rest leaves a file of full size and (almost) no blocks. */
    AFS_ASSERT_OK(p.ops->open(p.ctx, path, AFS_FS_O_WRITE, &fh));
    AFS_ASSERT_OK(p.ops->punch_hole(p.ctx, fh, 0, mib));
    AFS_ASSERT_OK(p.ops->close(p.ctx, fh));
    AFS_ASSERT_OK(p.ops->stat(p.ctx, path, &after));
    assert_int_equal(after.size, mib);
    assert_int_equal(after.alloc_bytes, 0);
    free(buf);
    pfs_close(&p);
    free(path);
}

static void test_fs_posix__marker_round_trip_and_limits(void **state)
{
    const char *dir = *state;
    char *path = afs_test_path(dir, "placeholder");
    char *moved = afs_test_path(dir, "moved");
    char *missing = afs_test_path(dir, "missing");
    unsigned char blob[AFS_FS_MARKER_MAX + 1];
    unsigned char back[AFS_FS_MARKER_MAX];
    unsigned char raw[AFS_FS_MARKER_MAX];
    size_t len;
    struct pfs p;

    pfs_open(&p);
    for (size_t i = 0; i < sizeof(blob); i++)
        blob[i] = (unsigned char)(i * 7);
    afs_test_write_file(path, "", 0);

    AFS_ASSERT_CODE(p.ops->marker_get(p.ctx, path, back, sizeof(back), &len), AFS_ENOTFOUND);
    AFS_ASSERT_OK(p.ops->marker_set(p.ctx, path, blob, 100));
    AFS_ASSERT_OK(p.ops->marker_get(p.ctx, path, back, sizeof(back), &len));
    assert_int_equal(len, 100);
    assert_memory_equal(back, blob, 100);
    /* It is the documented extended attribute, readable by other tools. */
    assert_int_equal(lgetxattr(path, "user.afs.marker", raw, sizeof(raw)), 100);
    assert_memory_equal(raw, blob, 100);

    /* Too small a buffer: EINVAL and the size needed. */
    len = 0;
    AFS_ASSERT_CODE(p.ops->marker_get(p.ctx, path, back, 10, &len), AFS_EINVAL);
    assert_int_equal(len, 100);
    AFS_ASSERT_CODE(p.ops->marker_get(p.ctx, path, NULL, 0, &len), AFS_EINVAL);
    assert_int_equal(len, 100);

    /* The largest marker fits; one byte more is refused and changes nothing. */
    AFS_ASSERT_OK(p.ops->marker_set(p.ctx, path, blob, AFS_FS_MARKER_MAX));
    AFS_ASSERT_CODE(p.ops->marker_set(p.ctx, path, blob, AFS_FS_MARKER_MAX + 1), AFS_EINVAL);
    AFS_ASSERT_OK(p.ops->marker_get(p.ctx, path, back, sizeof(back), &len));
    assert_int_equal(len, AFS_FS_MARKER_MAX);
    assert_memory_equal(back, blob, AFS_FS_MARKER_MAX);

    /* The marker belongs to the file, so it moves with a rename. */
    AFS_ASSERT_OK(p.ops->rename(p.ctx, path, moved, 0));
    AFS_ASSERT_OK(p.ops->marker_get(p.ctx, moved, back, sizeof(back), &len));
    assert_int_equal(len, AFS_FS_MARKER_MAX);

    AFS_ASSERT_OK(p.ops->marker_remove(p.ctx, moved));
    AFS_ASSERT_CODE(p.ops->marker_get(p.ctx, moved, back, sizeof(back), &len), AFS_ENOTFOUND);
    assert_non_null(strstr(afs_error_last(), moved));
    AFS_ASSERT_CODE(p.ops->marker_remove(p.ctx, moved), AFS_ENOTFOUND);

    AFS_ASSERT_CODE(p.ops->marker_get(p.ctx, missing, back, sizeof(back), &len), AFS_ENOTFOUND);
    assert_non_null(strstr(afs_error_last(), missing));
    pfs_close(&p);
    free(path);
    free(moved);
    free(missing);
}

static void test_fs_posix__marker_without_xattrs_is_not_supported(void **state)
{
    unsigned char back[16];
    size_t len;
    struct pfs p;
    (void)state;

    /* procfs keeps no user extended attributes. */
    pfs_open(&p);
    AFS_ASSERT_CODE(p.ops->marker_get(p.ctx, "/proc/self/status", back, sizeof(back), &len),
                    AFS_ENOTSUP);
    assert_non_null(strstr(afs_error_last(), "/proc/self/status"));
    assert_non_null(strstr(afs_error_last(), "proc"));
    assert_non_null(strstr(afs_error_last(), "extended attributes"));
    pfs_close(&p);
}

static void test_fs_posix__set_times_omit_leaves_the_other(void **state)
{
    const char *dir = *state;
    char *path = afs_test_path(dir, "t.txt");
    char *link_path = afs_test_path(dir, "t.link");
    const int64_t a1 = 1400000000123456789LL, m1 = 1500000000987654321LL;
    const int64_t m2 = -1500000000LL; /* 1969-12-31T23:59:58.5Z: before the epoch */
    afs_fs_stat s;
    struct pfs p;

    pfs_open(&p);
    afs_test_write_file(path, "t", 1);
    AFS_ASSERT_OK(p.ops->set_times(p.ctx, path, a1, m1));
    AFS_ASSERT_OK(p.ops->stat(p.ctx, path, &s));
    assert_true(s.atime_ns == a1);
    assert_true(s.mtime_ns == m1);

    AFS_ASSERT_OK(p.ops->set_times(p.ctx, path, AFS_TIME_OMIT, m2));
    AFS_ASSERT_OK(p.ops->stat(p.ctx, path, &s));
    assert_true(s.atime_ns == a1);
    assert_true(s.mtime_ns == m2);

    AFS_ASSERT_OK(p.ops->set_times(p.ctx, path, m1, AFS_TIME_OMIT));
    AFS_ASSERT_OK(p.ops->stat(p.ctx, path, &s));
    assert_true(s.atime_ns == m1);
    assert_true(s.mtime_ns == m2);

    /* On a symlink the link's own times change, not the target's. */
    assert_int_equal(symlink("t.txt", link_path), 0);
    AFS_ASSERT_OK(p.ops->set_times(p.ctx, link_path, AFS_TIME_OMIT, m1));
    AFS_ASSERT_OK(p.ops->stat(p.ctx, link_path, &s));
    assert_true(s.mtime_ns == m1);
    AFS_ASSERT_OK(p.ops->stat(p.ctx, path, &s));
    assert_true(s.mtime_ns == m2);

    pfs_close(&p);
    free(path);
    free(link_path);
}

static void test_fs_posix__volume_facts_are_consistent(void **state)
{
    const char *dir = *state;
    char *sub = afs_test_path(dir, "sub");
    char *missing = afs_test_path(dir, "missing");
    afs_fs_volume v, v2;
    struct stat st, root;
    struct statfs sf;
    struct statvfs sv;
    const char *name;
    uint64_t avail;
    struct pfs p;

    pfs_open(&p);
    afs_test_mkdirs(sub);
    AFS_ASSERT_OK(p.ops->volume(p.ctx, dir, &v));
    assert_true(v.total_bytes > 0);
    assert_true(v.free_bytes <= v.total_bytes);
    assert_true(v.block_size > 0);
    assert_true(v.id[0] != '\0');
    assert_true(v.fs_type[0] != '\0');
    assert_non_null(memchr(v.id, '\0', sizeof(v.id)));
    /* Free means free to us: statvfs's f_bavail, not counting root's reserve
     * (64 MiB of slack for other writers on a shared disk). */
    assert_int_equal(statvfs(dir, &sv), 0);
    avail = (uint64_t)sv.f_bavail * sv.f_frsize;
    assert_true(v.free_bytes + (64u << 20) >= avail && v.free_bytes <= avail + (64u << 20));

    /* The type is the one statfs names. */
    assert_int_equal(statfs(dir, &sf), 0);
    if (afs__fs_magic_describe((unsigned long)sf.f_type, &name, NULL))
        assert_string_equal(v.fs_type, name);
    else
        assert_memory_equal(v.fs_type, "unknown-0x", 10);

    /* SYSTEM exactly when the directory is on the volume of "/". */
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(stat("/", &root), 0);
    assert_int_equal(!!(v.flags & AFS_FS_VOLUME_SYSTEM), st.st_dev == root.st_dev);

    /* Same volume, same id. */
    AFS_ASSERT_OK(p.ops->volume(p.ctx, sub, &v2));
    assert_string_equal(v.id, v2.id);
    assert_string_equal(v.fs_type, v2.fs_type);
    AFS_ASSERT_OK(p.ops->volume(p.ctx, "/", &v2));
    assert_true(v2.flags & AFS_FS_VOLUME_SYSTEM);
    assert_false(v2.flags & AFS_FS_VOLUME_NETWORK && strcmp(v2.fs_type, "ext4") == 0);

    /* A tmpfs, where the machine has one, is local and not the system volume. */
    if (statfs("/dev/shm", &sf) == 0 && (unsigned long)sf.f_type == 0x01021994UL &&
        stat("/dev/shm", &st) == 0 && st.st_dev != root.st_dev) {
        AFS_ASSERT_OK(p.ops->volume(p.ctx, "/dev/shm", &v2));
        assert_string_equal(v2.fs_type, "tmpfs");
        assert_int_equal(v2.flags, 0);
        assert_string_not_equal(v2.id, v.id);
    }

    AFS_ASSERT_CODE(p.ops->volume(p.ctx, missing, &v2), AFS_ENOTFOUND);
    assert_non_null(strstr(afs_error_last(), missing));
    pfs_close(&p);
    free(sub);
    free(missing);
}

static void test_fs_posix__magic_table_knows_network_file_systems(void **state)
{
    static const struct {
        unsigned long magic;
        const char *name;
        int network;
    } cases[] = {
        { 0x6969UL, "nfs", 1 },       { 0xFF534D42UL, "cifs", 1 }, { 0xFE534D42UL, "smb2", 1 },
        { 0x517BUL, "smb", 1 },       { 0x65735546UL, "fuse", 1 }, { 0x01021997UL, "9p", 1 },
        { 0x00C36400UL, "ceph", 1 },  { 0x5346414FUL, "afs", 1 },  { 0x73757245UL, "coda", 1 },
        { 0x564CUL, "ncpfs", 1 },     { 0xEF53UL, "ext4", 0 },     { 0x01021994UL, "tmpfs", 0 },
        { 0x58465342UL, "xfs", 0 },   { 0x9123683EUL, "btrfs", 0 },
        { 0x794C7630UL, "overlay", 0 },
    };
    const char *name;
    uint32_t flags;
    (void)state;

    for (size_t i = 0; i < AFS__ARRAY_LEN(cases); i++) {
        assert_int_equal(afs__fs_magic_describe(cases[i].magic, &name, &flags), 1);
        assert_string_equal(name, cases[i].name);
        assert_int_equal(flags, cases[i].network ? AFS_FS_VOLUME_NETWORK : 0);
    }
    /* A sign-extended f_type (32-bit ABIs) is the same file system. */
    assert_int_equal(afs__fs_magic_describe((unsigned long)(long)(int32_t)0xFF534D42UL, &name,
                                            &flags),
                     1);
    assert_string_equal(name, "cifs");
    assert_int_equal(afs__fs_magic_describe(0x12345678UL, &name, &flags), 0);
    assert_null(name);
    assert_int_equal(flags, 0);
}

static void test_fs_posix__canonicalize_resolves_symlinked_dirs(void **state)
{
    const char *dir = *state;
    char *real = afs_test_path(dir, "real");
    char *alias = afs_test_path(dir, "alias");
    char *file = afs_test_path(real, "f.txt");
    char *via_alias = afs_test_path(alias, "f.txt");
    char *dotted = afs_test_path(dir, "real/../alias/./f.txt");
    char buf[4096];
    struct pfs p;

    pfs_open(&p);
    afs_test_write_file(file, "x", 1);
    assert_int_equal(symlink("real", alias), 0);
    AFS_ASSERT_OK(p.ops->canonicalize(p.ctx, via_alias, buf, sizeof(buf)));
    assert_string_equal(buf, file);
    AFS_ASSERT_OK(p.ops->canonicalize(p.ctx, dotted, buf, sizeof(buf)));
    assert_string_equal(buf, file);
    AFS_ASSERT_OK(p.ops->canonicalize(p.ctx, alias, buf, sizeof(buf)));
    assert_string_equal(buf, real);
    AFS_ASSERT_CODE(p.ops->canonicalize(p.ctx, via_alias, buf, strlen(file)), AFS_EINVAL);
    AFS_ASSERT_OK(p.ops->canonicalize(p.ctx, via_alias, buf, strlen(file) + 1));
    assert_string_equal(buf, file);
    pfs_close(&p);
    free(real);
    free(alias);
    free(file);
    free(via_alias);
    free(dotted);
}

static void test_fs_posix__errors_name_the_path(void **state)
{
    const char *dir = *state;
    char *missing = afs_test_path(dir, "no-such-item");
    char *full = afs_test_path(dir, "full");
    char *inner = afs_test_path(dir, "full/x");
    char buf[256];
    afs_fs_stat s;
    struct pfs p;
    void *h;

    pfs_open(&p);
    afs_test_write_file(inner, "x", 1);

#define EXPECT(call, code, path)                                                          \
    do {                                                                                  \
        afs_error_clear();                                                                \
        AFS_ASSERT_CODE(call, code);                                                      \
        if (!strstr(afs_error_last(), path))                                              \
            fail_msg("%s: message '%s' does not name %s", #call, afs_error_last(), path); \
    } while (0)

    EXPECT(p.ops->stat(p.ctx, missing, &s), AFS_ENOTFOUND, missing);
    assert_non_null(strstr(afs_error_last(), "No such file or directory"));
    EXPECT(p.ops->dir_open(p.ctx, missing, &h), AFS_ENOTFOUND, missing);
    EXPECT(p.ops->open(p.ctx, missing, AFS_FS_O_READ, &h), AFS_ENOTFOUND, missing);
    EXPECT(p.ops->unlink(p.ctx, missing), AFS_ENOTFOUND, missing);
    EXPECT(p.ops->unlink(p.ctx, full), AFS_EISDIR, full);
    EXPECT(p.ops->rmdir(p.ctx, full), AFS_ENOTEMPTY, full);
    EXPECT(p.ops->rmdir(p.ctx, inner), AFS_ENOTDIR, inner);
    EXPECT(p.ops->mkdir(p.ctx, full), AFS_EEXISTS, full);
    EXPECT(p.ops->set_times(p.ctx, missing, 0, 0), AFS_ENOTFOUND, missing);
    EXPECT(p.ops->sync_dir(p.ctx, missing), AFS_ENOTFOUND, missing);
    EXPECT(p.ops->marker_set(p.ctx, missing, "m", 1), AFS_ENOTFOUND, missing);
    EXPECT(p.ops->canonicalize(p.ctx, missing, buf, sizeof(buf)), AFS_ENOTFOUND, missing);
    EXPECT(p.ops->rename(p.ctx, missing, full, AFS_FS_RENAME_NOREPLACE), AFS_ENOTFOUND,
           missing);
#undef EXPECT

    /* And the successful paths really work. */
    AFS_ASSERT_OK(p.ops->mkdir(p.ctx, missing));
    AFS_ASSERT_OK(p.ops->stat(p.ctx, missing, &s));
    assert_int_equal(s.type, AFS_TYPE_DIR);
    AFS_ASSERT_OK(p.ops->rmdir(p.ctx, missing));
    AFS_ASSERT_OK(p.ops->unlink(p.ctx, inner));
    AFS_ASSERT_OK(p.ops->rmdir(p.ctx, full));
    assert_int_not_equal(access(full, F_OK), 0);
    pfs_close(&p);
    free(missing);
    free(full);
    free(inner);
}

/* dir_stat describes each entry exactly as stat() of its full path does:
 * type, size, id, times; a symlink is the link itself; errors name the path. */
static void test_fs_posix__dir_stat_matches_stat_of_the_full_path(void **state)
{
    const char *dir = *state;
    static const char *const names[] = { "file.txt", "sub", "link" };
    char *file = afs_test_path(dir, "file.txt");
    char *sub = afs_test_path(dir, "sub");
    char *link_path = afs_test_path(dir, "link");
    afs_fs_stat a, b;
    struct pfs p;
    void *d = NULL;

    pfs_open(&p);
    afs_test_write_file(file, "twelve bytes", 12);
    assert_int_equal(mkdir(sub, 0755), 0);
    assert_int_equal(symlink("file.txt", link_path), 0);
    AFS_ASSERT_OK(p.ops->dir_open(p.ctx, dir, &d));
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char *full = afs_test_path(dir, names[i]);
        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        AFS_ASSERT_OK(p.ops->dir_stat(p.ctx, d, names[i], &a));
        AFS_ASSERT_OK(p.ops->stat(p.ctx, full, &b));
        assert_int_equal(a.type, b.type);
        assert_int_equal(a.size, b.size);
        assert_int_equal(a.file_id, b.file_id);
        assert_int_equal(a.nlink, b.nlink);
        assert_int_equal(a.mtime_ns, b.mtime_ns);
        assert_int_equal(a.ctime_ns, b.ctime_ns);
        assert_int_equal(a.btime_ns, b.btime_ns);
        free(full);
    }
    AFS_ASSERT_OK(p.ops->dir_stat(p.ctx, d, "file.txt", &a));
    assert_int_equal(a.type, AFS_TYPE_FILE);
    assert_int_equal(a.size, 12);
    AFS_ASSERT_OK(p.ops->dir_stat(p.ctx, d, "link", &a));
    assert_int_equal(a.type, AFS_TYPE_SYMLINK); /* never followed */
    assert_int_equal(a.size, strlen("file.txt"));
    AFS_ASSERT_CODE(p.ops->dir_stat(p.ctx, d, "missing", &a), AFS_ENOTFOUND);
    assert_non_null(strstr(afs_error_last(), "missing"));
    /* One name, not a path: nothing outside the directory is reached. */
    AFS_ASSERT_CODE(p.ops->dir_stat(p.ctx, d, "sub/../file.txt", &a), AFS_EINVAL);
    AFS_ASSERT_CODE(p.ops->dir_stat(p.ctx, d, "", &a), AFS_EINVAL);
    p.ops->dir_close(p.ctx, d);
    pfs_close(&p);
    free(file);
    free(sub);
    free(link_path);
}

static void test_fs_posix__registers_with_every_slot(void **state)
{
    const afs_fs_ops *ops;
    afs_fs *fs;
    (void)state;
    AFS_ASSERT_OK(afs_fs_posix_new(&fs));
    AFS_ASSERT_OK(afs_fs_ops_get(fs, &ops, NULL));
    assert_int_equal(ops->version, AFS_FS_OPS_VERSION);
    assert_non_null(ops->ctl); /* AFS_FS_CTL_HAS_HOLES */
    assert_non_null(ops->fstat);
    assert_non_null(ops->fsync);
    assert_non_null(ops->punch_hole);
    assert_non_null(ops->sync_dir);
    assert_non_null(ops->set_times);
    assert_non_null(ops->marker_get);
    assert_non_null(ops->marker_set);
    assert_non_null(ops->marker_remove);
    assert_non_null(ops->volume);
    assert_non_null(ops->canonicalize);
    assert_non_null(ops->dir_stat);
    afs_fs_free(fs);
    AFS_ASSERT_CODE(afs_fs_posix_new(NULL), AFS_EINVAL);
}

#define T(name) cmocka_unit_test_setup_teardown(name, afs_test_setup_sandbox, afs_test_teardown_sandbox)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_fs_posix__stat_matches_the_kernel),
        T(test_fs_posix__fstat_agrees_with_stat),
        T(test_fs_posix__symlink_is_reported_never_followed),
        T(test_fs_posix__dir_lists_exactly_the_created_names),
        T(test_fs_posix__read_write_ranges_at_offsets),
        T(test_fs_posix__open_flags_and_errors),
        T(test_fs_posix__noreplace_rename_keeps_the_old_content),
        T(test_fs_posix__link_fallback_rename_never_replaces),
        T(test_fs_posix__truncate_grow_is_sparse),
        T(test_fs_posix__punch_hole_frees_blocks_keeps_size),
        T(test_fs_posix__marker_round_trip_and_limits),
        T(test_fs_posix__marker_without_xattrs_is_not_supported),
        T(test_fs_posix__set_times_omit_leaves_the_other),
        T(test_fs_posix__volume_facts_are_consistent),
        T(test_fs_posix__magic_table_knows_network_file_systems),
        T(test_fs_posix__canonicalize_resolves_symlinked_dirs),
        T(test_fs_posix__errors_name_the_path),
        T(test_fs_posix__dir_stat_matches_stat_of_the_full_path),
        T(test_fs_posix__registers_with_every_slot),
    };
    return cmocka_run_group_tests_name("fs_posix", tests, NULL, NULL);
}

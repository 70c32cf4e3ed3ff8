/* A POSIX-forwarding filesystem with a volume of its own (tests/support/tierfs.h). */
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tierfs.h"

struct afs_test_tierfs {
    afs_fs *inner;
    const afs_fs_ops *in;
    void *ictx;
    char *root;
    uint64_t total;
    uint64_t extra;
    int enforce;
    void (*on_marker)(const char *path, void *payload);
    void *on_marker_payload;
};

static __thread uint64_t walk_sum;

static int sum_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (flag == FTW_F && S_ISREG(st->st_mode))
        walk_sum += (uint64_t)st->st_blocks * 512;
    return 0;
}

uint64_t afs_test_tierfs_used(afs_test_tierfs *t)
{
    walk_sum = 0;
    nftw(t->root, sum_one, 16, FTW_PHYS);
    return walk_sum;
}

static uint64_t free_bytes(afs_test_tierfs *t)
{
    uint64_t used;
    if (!t->total)
        return 0; /* a volume of unknown size: nothing to count */
    used = afs_test_tierfs_used(t) + t->extra;
    return used >= t->total ? 0 : t->total - used;
}

#define T(ctx) ((afs_test_tierfs *)(ctx))

static void tf_release(void *ctx)
{
    afs_test_tierfs *t = ctx;
    afs_fs_free(t->inner);
    free(t->root);
    free(t);
}

static int tf_stat(void *ctx, const char *path, afs_fs_stat *out)
{
    int rc = T(ctx)->in->stat(T(ctx)->ictx, path, out);
    if (rc == 0)
        out->btime_ns = 0;
    return rc;
}

static int tf_dir_open(void *ctx, const char *path, void **dir)
{
    return T(ctx)->in->dir_open(T(ctx)->ictx, path, dir);
}

static int tf_dir_read(void *ctx, void *dir, afs_fs_dirent *out)
{
    return T(ctx)->in->dir_read(T(ctx)->ictx, dir, out);
}

static void tf_dir_close(void *ctx, void *dir)
{
    T(ctx)->in->dir_close(T(ctx)->ictx, dir);
}

static int tf_open(void *ctx, const char *path, unsigned int flags, void **fh)
{
    return T(ctx)->in->open(T(ctx)->ictx, path, flags, fh);
}

static int tf_read(void *ctx, void *fh, uint64_t off, void *buf, size_t len, size_t *nread)
{
    return T(ctx)->in->read(T(ctx)->ictx, fh, off, buf, len, nread);
}

static int tf_write(void *ctx, void *fh, uint64_t off, const void *buf, size_t len)
{
    afs_test_tierfs *t = ctx;
    if (t->enforce && t->total && free_bytes(t) < len)
        return afs_error_set_str(AFS_ENOSPC, "test volume: no space left");
    return t->in->write(t->ictx, fh, off, buf, len);
}

static int tf_fstat(void *ctx, void *fh, afs_fs_stat *out)
{
    int rc = T(ctx)->in->fstat(T(ctx)->ictx, fh, out);
    if (rc == 0)
        out->btime_ns = 0;
    return rc;
}

static int tf_truncate(void *ctx, void *fh, uint64_t size)
{
    return T(ctx)->in->truncate(T(ctx)->ictx, fh, size);
}

static int tf_fsync(void *ctx, void *fh)
{
    return T(ctx)->in->fsync(T(ctx)->ictx, fh);
}

static int tf_close(void *ctx, void *fh)
{
    return T(ctx)->in->close(T(ctx)->ictx, fh);
}

static int tf_ctl(void *ctx, int op, void *arg)
{
    return T(ctx)->in->ctl(T(ctx)->ictx, op, arg);
}

static int tf_punch_hole(void *ctx, void *fh, uint64_t off, uint64_t len)
{
    return T(ctx)->in->punch_hole(T(ctx)->ictx, fh, off, len);
}

static int tf_rename(void *ctx, const char *from, const char *to, unsigned int flags)
{
    return T(ctx)->in->rename(T(ctx)->ictx, from, to, flags);
}

static int tf_unlink(void *ctx, const char *path)
{
    return T(ctx)->in->unlink(T(ctx)->ictx, path);
}

static int tf_mkdir(void *ctx, const char *path)
{
    return T(ctx)->in->mkdir(T(ctx)->ictx, path);
}

static int tf_rmdir(void *ctx, const char *path)
{
    return T(ctx)->in->rmdir(T(ctx)->ictx, path);
}

static int tf_sync_dir(void *ctx, const char *path)
{
    return T(ctx)->in->sync_dir(T(ctx)->ictx, path);
}

static int tf_set_times(void *ctx, const char *path, int64_t atime_ns, int64_t mtime_ns)
{
    return T(ctx)->in->set_times(T(ctx)->ictx, path, atime_ns, mtime_ns);
}

static int tf_marker_get(void *ctx, const char *path, void *buf, size_t cap, size_t *len)
{
    return T(ctx)->in->marker_get(T(ctx)->ictx, path, buf, cap, len);
}

static int tf_marker_set(void *ctx, const char *path, const void *buf, size_t len)
{
    afs_test_tierfs *t = ctx;
    int rc = t->in->marker_set(t->ictx, path, buf, len);
    if (rc == 0 && t->on_marker)
        t->on_marker(path, t->on_marker_payload);
    return rc;
}

static int tf_marker_remove(void *ctx, const char *path)
{
    return T(ctx)->in->marker_remove(T(ctx)->ictx, path);
}

static int tf_volume(void *ctx, const char *path, afs_fs_volume *out)
{
    afs_test_tierfs *t = ctx;
    (void)path;
    memset(out, 0, sizeof(*out));
    snprintf(out->id, sizeof(out->id), "test-volume");
    snprintf(out->fs_type, sizeof(out->fs_type), "testfs");
    out->total_bytes = t->total;
    out->free_bytes = free_bytes(t);
    out->block_size = 4096;
    return 0;
}

static int tf_canonicalize(void *ctx, const char *path, char *buf, size_t cap)
{
    return T(ctx)->in->canonicalize(T(ctx)->ictx, path, buf, cap);
}

int afs_test_tierfs_new(afs_fs **out, const char *root, uint64_t total_bytes,
                        afs_test_tierfs **ctl)
{
    static const afs_fs_ops ops = {
        .version = AFS_FS_OPS_VERSION,
        .release = tf_release,
        .ctl = tf_ctl,
        .stat = tf_stat,
        .dir_open = tf_dir_open,
        .dir_read = tf_dir_read,
        .dir_close = tf_dir_close,
        .open = tf_open,
        .read = tf_read,
        .write = tf_write,
        .fstat = tf_fstat,
        .truncate = tf_truncate,
        .fsync = tf_fsync,
        .close = tf_close,
        .punch_hole = tf_punch_hole,
        .rename = tf_rename,
        .unlink = tf_unlink,
        .mkdir = tf_mkdir,
        .rmdir = tf_rmdir,
        .sync_dir = tf_sync_dir,
        .set_times = tf_set_times,
        .marker_get = tf_marker_get,
        .marker_set = tf_marker_set,
        .marker_remove = tf_marker_remove,
        .volume = tf_volume,
        .canonicalize = tf_canonicalize,
    };
    afs_test_tierfs *t = calloc(1, sizeof(*t));
    int rc;
    *out = NULL;
    if (!t || !(t->root = strdup(root))) {
        free(t);
        return AFS_ENOMEM;
    }
    t->total = total_bytes;
    t->enforce = 1;
    if ((rc = afs_fs_posix_new(&t->inner)) != 0) {
        free(t->root);
        free(t);
        return rc;
    }
    afs_fs_ops_get(t->inner, &t->in, &t->ictx);
    if ((rc = afs_fs_new(out, &ops, t)) != 0) {
        tf_release(t);
        return rc;
    }
    if (ctl)
        *ctl = t;
    return 0;
}

void afs_test_tierfs_set_total(afs_test_tierfs *t, uint64_t total_bytes)
{
    t->total = total_bytes;
}

void afs_test_tierfs_set_extra_used(afs_test_tierfs *t, uint64_t bytes)
{
    t->extra = bytes;
}

void afs_test_tierfs_on_marker_set(afs_test_tierfs *t,
                                   void (*fn)(const char *path, void *payload), void *payload)
{
    t->on_marker = fn;
    t->on_marker_payload = payload;
}

void afs_test_tierfs_enforce_space(afs_test_tierfs *t, int on)
{
    t->enforce = on;
}

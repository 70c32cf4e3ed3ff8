/*
 * Fault-injecting wrapper around an afs_fs (tests/support/fault.h): every
 * slot asks the controller first, then forwards to the inner filesystem.
 * A NULL inner slot stays NULL here, so the library's documented fallback
 * for that slot is what gets exercised, not a wrapper-made error.
 */
#include <stdlib.h>
#include <string.h>

#include "fault_internal.h"

/* Slot indexes into slot_names; the names are afs_fs_ops field names. */
enum {
    S_CTL,
    S_STAT,
    S_DIR_OPEN,
    S_DIR_READ,
    S_DIR_CLOSE,
    S_OPEN,
    S_READ,
    S_WRITE,
    S_FSTAT,
    S_TRUNCATE,
    S_FSYNC,
    S_CLOSE,
    S_PUNCH_HOLE,
    S_RENAME,
    S_UNLINK,
    S_MKDIR,
    S_RMDIR,
    S_SYNC_DIR,
    S_SET_TIMES,
    S_MARKER_GET,
    S_MARKER_SET,
    S_MARKER_REMOVE,
    S_VOLUME,
    S_CANONICALIZE,
    S_COUNT
};

static const char *const slot_names[S_COUNT] = {
    [S_CTL] = "ctl",
    [S_STAT] = "stat",
    [S_DIR_OPEN] = "dir_open",
    [S_DIR_READ] = "dir_read",
    [S_DIR_CLOSE] = "dir_close",
    [S_OPEN] = "open",
    [S_READ] = "read",
    [S_WRITE] = "write",
    [S_FSTAT] = "fstat",
    [S_TRUNCATE] = "truncate",
    [S_FSYNC] = "fsync",
    [S_CLOSE] = "close",
    [S_PUNCH_HOLE] = "punch_hole",
    [S_RENAME] = "rename",
    [S_UNLINK] = "unlink",
    [S_MKDIR] = "mkdir",
    [S_RMDIR] = "rmdir",
    [S_SYNC_DIR] = "sync_dir",
    [S_SET_TIMES] = "set_times",
    [S_MARKER_GET] = "marker_get",
    [S_MARKER_SET] = "marker_set",
    [S_MARKER_REMOVE] = "marker_remove",
    [S_VOLUME] = "volume",
    [S_CANONICALIZE] = "canonicalize",
};

struct fault_fs {
    const afs_fs_ops *in; /* the inner table, owned by the inner afs_fs */
    void *in_ctx;
    afs_test_fault *ctl;
};

/* Ask the controller; on an injected code return it without calling inner. */
#define ENTER(w, slot)                                         \
    bool crash_after_;                                         \
    int rc_ = afs__fault_enter((w)->ctl, (slot), &crash_after_); \
    if (rc_ != 0)                                              \
        return rc_

/* Forward, then stop the process if the plan says "crash after". */
#define FORWARD(call)               \
    rc_ = (call);                   \
    afs__fault_after(crash_after_); \
    return rc_

static void ffs_release(void *ctx)
{
    struct fault_fs *w = ctx;
    /* The inner fs is borrowed; only the controller and wrapper are ours. */
    afs__fault_free(w->ctl);
    free(w);
}

static int ffs_ctl(void *ctx, int op, void *arg)
{
    struct fault_fs *w = ctx;
    ENTER(w, S_CTL);
    FORWARD(w->in->ctl(w->in_ctx, op, arg));
}

static int ffs_stat(void *ctx, const char *path, afs_fs_stat *out)
{
    struct fault_fs *w = ctx;
    ENTER(w, S_STAT);
    FORWARD(w->in->stat(w->in_ctx, path, out));
}

/* Counted and faulted as "stat": it is the stat of a directory entry, and a
 * plan written for the scan's stats keeps its meaning. */
static int ffs_dir_stat(void *ctx, void *dir, const char *name, afs_fs_stat *out)
{
    struct fault_fs *w = ctx;
    ENTER(w, S_STAT);
    FORWARD(w->in->dir_stat(w->in_ctx, dir, name, out));
}

static int ffs_dir_open(void *ctx, const char *path, void **dir)
{
    struct fault_fs *w = ctx;
    ENTER(w, S_DIR_OPEN);
    FORWARD(w->in->dir_open(w->in_ctx, path, dir));
}

static int ffs_dir_read(void *ctx, void *dir, afs_fs_dirent *out)
{
    struct fault_fs *w = ctx;
    ENTER(w, S_DIR_READ);
    FORWARD(w->in->dir_read(w->in_ctx, dir, out));
}

static void ffs_dir_close(void *ctx, void *dir)
{
    struct fault_fs *w = ctx;
    bool crash_after;
    /* A void slot cannot report a fault, and skipping it would leak the
     * inner handle: count it (and honour crash plans), always forward. */
    (void)afs__fault_enter(w->ctl, S_DIR_CLOSE, &crash_after);
    w->in->dir_close(w->in_ctx, dir);
    afs__fault_after(crash_after);
}

static int ffs_open(void *ctx, const char *path, unsigned int flags, void **fh)
{
    struct fault_fs *w = ctx;
    ENTER(w, S_OPEN);
    FORWARD(w->in->open(w->in_ctx, path, flags, fh));
}

static int ffs_read(void *ctx, void *fh, uint64_t offset, void *buf, size_t len, size_t *nread)
{
    struct fault_fs *w = ctx;
    ENTER(w, S_READ);
    FORWARD(w->in->read(w->in_ctx, fh, offset, buf, len, nread));
}

static int ffs_write(void *ctx, void *fh, uint64_t offset, const void *buf, size_t len)
{
    struct fault_fs *w = ctx;
    ENTER(w, S_WRITE);
    FORWARD(w->in->write(w->in_ctx, fh, offset, buf, len));
}

static int ffs_fstat(void *ctx, void *fh, afs_fs_stat *out)
{
    struct fault_fs *w = ctx;
    ENTER(w, S_FSTAT);
    FORWARD(w->in->fstat(w->in_ctx, fh, out));
}

static int ffs_truncate(void *ctx, void *fh, uint64_t size)
{
    struct fault_fs *w = ctx;
    ENTER(w, S_TRUNCATE);
    FORWARD(w->in->truncate(w->in_ctx, fh, size));
}

static int ffs_fsync(void *ctx, void *fh)
{
    struct fault_fs *w = ctx;
    ENTER(w, S_FSYNC);
    FORWARD(w->in->fsync(w->in_ctx, fh));
}

static int ffs_close(void *ctx, void *fh)
{
    struct fault_fs *w = ctx;
    bool crash_after;
    int rc, inner_rc;
    /* The caller gives the handle up whatever close returns, so the inner
     * close always runs (else it leaks); an injected code then stands for
     * a close that reported an error, as NFS does for a lost write. */
    rc = afs__fault_enter(w->ctl, S_CLOSE, &crash_after);
    inner_rc = w->in->close(w->in_ctx, fh);
    afs__fault_after(crash_after);
    return rc != 0 ? rc : inner_rc;
}

static int ffs_punch_hole(void *ctx, void *fh, uint64_t offset, uint64_t len)
{
    struct fault_fs *w = ctx;
    ENTER(w, S_PUNCH_HOLE);
    FORWARD(w->in->punch_hole(w->in_ctx, fh, offset, len));
}

static int ffs_rename(void *ctx, const char *from, const char *to, unsigned int flags)
{
    struct fault_fs *w = ctx;
    ENTER(w, S_RENAME);
    FORWARD(w->in->rename(w->in_ctx, from, to, flags));
}

static int ffs_unlink(void *ctx, const char *path)
{
    struct fault_fs *w = ctx;
    ENTER(w, S_UNLINK);
    FORWARD(w->in->unlink(w->in_ctx, path));
}

static int ffs_mkdir(void *ctx, const char *path)
{
    struct fault_fs *w = ctx;
    ENTER(w, S_MKDIR);
    FORWARD(w->in->mkdir(w->in_ctx, path));
}

static int ffs_rmdir(void *ctx, const char *path)
{
    struct fault_fs *w = ctx;
    ENTER(w, S_RMDIR);
    FORWARD(w->in->rmdir(w->in_ctx, path));
}

static int ffs_sync_dir(void *ctx, const char *path)
{
    struct fault_fs *w = ctx;
    ENTER(w, S_SYNC_DIR);
    FORWARD(w->in->sync_dir(w->in_ctx, path));
}

static int ffs_set_times(void *ctx, const char *path, int64_t atime_ns, int64_t mtime_ns)
{
    struct fault_fs *w = ctx;
    ENTER(w, S_SET_TIMES);
    FORWARD(w->in->set_times(w->in_ctx, path, atime_ns, mtime_ns));
}

static int ffs_marker_get(void *ctx, const char *path, void *buf, size_t cap, size_t *len)
{
    struct fault_fs *w = ctx;
    ENTER(w, S_MARKER_GET);
    FORWARD(w->in->marker_get(w->in_ctx, path, buf, cap, len));
}

static int ffs_marker_set(void *ctx, const char *path, const void *buf, size_t len)
{
    struct fault_fs *w = ctx;
    ENTER(w, S_MARKER_SET);
    FORWARD(w->in->marker_set(w->in_ctx, path, buf, len));
}

static int ffs_marker_remove(void *ctx, const char *path)
{
    struct fault_fs *w = ctx;
    ENTER(w, S_MARKER_REMOVE);
    FORWARD(w->in->marker_remove(w->in_ctx, path));
}

static int ffs_volume(void *ctx, const char *path, afs_fs_volume *out)
{
    struct fault_fs *w = ctx;
    ENTER(w, S_VOLUME);
    FORWARD(w->in->volume(w->in_ctx, path, out));
}

static int ffs_canonicalize(void *ctx, const char *path, char *buf, size_t cap)
{
    struct fault_fs *w = ctx;
    ENTER(w, S_CANONICALIZE);
    FORWARD(w->in->canonicalize(w->in_ctx, path, buf, cap));
}

int afs_test_fault_fs_new(afs_fs **out, afs_fs *inner, afs_test_fault **ctl)
{
    struct fault_fs *w = NULL;
    const afs_fs_ops *in;
    afs_fs_ops ops;
    int rc;

    if (!out || !inner || !ctl)
        return afs_error_set_str(AFS_EINVAL, "afs_test_fault_fs_new: NULL argument");
    *out = NULL;
    *ctl = NULL;
    w = calloc(1, sizeof(*w));
    if (!w) {
        rc = afs_error_set_str(AFS_ENOMEM, "afs_test_fault_fs_new: out of memory");
        goto done;
    }
    rc = afs_fs_ops_get(inner, &w->in, &w->in_ctx);
    if (rc != 0)
        goto done;
    in = w->in;
    w->ctl = afs__fault_new(slot_names, S_COUNT);
    if (!w->ctl) {
        rc = afs_error_set_str(AFS_ENOMEM, "afs_test_fault_fs_new: out of memory");
        goto done;
    }

    memset(&ops, 0, sizeof(ops));
    ops.version = AFS_FS_OPS_VERSION;
    ops.release = ffs_release;
#define WRAP(slot) ops.slot = in->slot ? ffs_##slot : NULL
    WRAP(ctl);
    WRAP(stat);
    WRAP(dir_open);
    WRAP(dir_read);
    WRAP(dir_close);
    WRAP(open);
    WRAP(read);
    WRAP(write);
    WRAP(fstat);
    WRAP(truncate);
    WRAP(fsync);
    WRAP(close);
    WRAP(punch_hole);
    WRAP(rename);
    WRAP(unlink);
    WRAP(mkdir);
    WRAP(rmdir);
    WRAP(sync_dir);
    WRAP(set_times);
    WRAP(marker_get);
    WRAP(marker_set);
    WRAP(marker_remove);
    WRAP(volume);
    WRAP(canonicalize);
    WRAP(dir_stat);
#undef WRAP

    rc = afs_fs_new(out, &ops, w);
    if (rc != 0)
        goto done;
    *ctl = w->ctl;
    w = NULL; /* owned by *out; freed by ffs_release */
done:
    if (w) {
        afs__fault_free(w->ctl);
        free(w);
    }
    return rc;
}

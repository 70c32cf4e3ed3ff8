/*
 * Filesystem vtable registration: version check, copy into a zeroed table
 * of the current size, required-slot check (STYLE.md 4; SQLite's
 * sqlite3_io_methods and libfuse's op_size copy work the same way).
 */
#include <stdlib.h>
#include <string.h>

#include "../core/internal.h"

int afs_fs_new(afs_fs **out, const afs_fs_ops *ops, void *ctx)
{
    afs_fs *fs;
    int rc;

    if (!out || !ops)
        return afs__error_set(AFS_EINVAL, "afs_fs_new: out and ops must not be NULL");
    *out = NULL;
    if ((rc = afs__vstruct_check(&afs__vs_fs_ops, ops->version, "afs_fs_new")) != 0)
        return rc;
    fs = afs__calloc(1, sizeof(*fs));
    if (!fs)
        return AFS_ENOMEM;
    /* The slots of the caller's version; later ones stay NULL. */
    (void)afs__vstruct_read(&afs__vs_fs_ops, &fs->ops, ops, "afs_fs_new"); /* checked above */
    fs->ctx = ctx;

#define REQUIRE(slot)                                                                      \
    if (!fs->ops.slot) {                                                                   \
        free(fs);                                                                          \
        return afs__error_set(AFS_EINVAL, "afs_fs_new: required slot '%s' is NULL", #slot); \
    }
    REQUIRE(stat) REQUIRE(dir_open) REQUIRE(dir_read) REQUIRE(dir_close) REQUIRE(open)
    REQUIRE(read) REQUIRE(write) REQUIRE(truncate) REQUIRE(close) REQUIRE(rename)
    REQUIRE(unlink) REQUIRE(mkdir) REQUIRE(rmdir)
#undef REQUIRE
    *out = fs;
    return 0;
}

int afs_fs_ops_get(const afs_fs *fs, const afs_fs_ops **ops, void **ctx)
{
    if (!fs || !ops)
        return afs__error_set(AFS_EINVAL, "afs_fs_ops_get: fs and ops must not be NULL");
    *ops = &fs->ops;
    if (ctx)
        *ctx = fs->ctx;
    return 0;
}

void afs_fs_free(afs_fs *fs)
{
    if (!fs)
        return;
    if (fs->ops.release)
        fs->ops.release(fs->ctx);
    free(fs);
}

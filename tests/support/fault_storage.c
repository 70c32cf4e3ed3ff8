/*
 * Fault-injecting storage wrapper (tests/support/fault.h): forwards every
 * afs_storage_ops slot to the inner storage's table, with the controller
 * consulted before each call and, for crash-after plans, after it.
 */
#include <stdlib.h>
#include <string.h>

#include "fault_internal.h"

/* Slot indices into slot_names; the names are the afs_storage_ops fields. */
enum { S_LIST, S_STAT, S_READ, S_PUT, S_REMOVE, S_MKDIR, S_RMDIR, S_RENAME, S_SET_PROPS,
       S_META_GET, S_CTL, S_COUNT };

static const char *const slot_names[S_COUNT] = {
    "list", "stat", "read", "put", "remove", "mkdir", "rmdir", "rename", "set_props",
    "meta_get", "ctl",
};

struct fault_storage {
    const afs_storage_ops *inner; /* the inner storage's full-size table */
    void *ictx;
    afs_test_fault *f;
    afs_storage *owned; /* the inner storage when the wrapper owns it */
};

/* Enter the controller; on an injected fault return its code from the slot. */
#define FAULT_ENTER(fs, slot)                                       \
    bool crash_after_;                                              \
    int rc_ = afs__fault_enter((fs)->f, (slot), &crash_after_);     \
    if (rc_ != 0)                                                   \
        return rc_

#define FAULT_LEAVE(call)            \
    rc_ = (call);                    \
    afs__fault_after(crash_after_);  \
    return rc_

static int fs_ctl(void *ctx, int op, void *arg)
{
    struct fault_storage *fs = ctx;
    FAULT_ENTER(fs, S_CTL);
    FAULT_LEAVE(fs->inner->ctl(fs->ictx, op, arg));
}

static int fs_list(void *ctx, const char *dir, const char *marker, afs_storage_list_fn emit,
                   void *payload, char *next_marker, size_t next_marker_size)
{
    struct fault_storage *fs = ctx;
    FAULT_ENTER(fs, S_LIST);
    afs__fault_hook_call(fs->f, "list", dir);
    FAULT_LEAVE(fs->inner->list(fs->ictx, dir, marker, emit, payload, next_marker,
                                next_marker_size));
}

static int fs_stat(void *ctx, const char *path, afs_storage_entry *out)
{
    struct fault_storage *fs = ctx;
    FAULT_ENTER(fs, S_STAT);
    afs__fault_hook_call(fs->f, "stat", path);
    FAULT_LEAVE(fs->inner->stat(fs->ictx, path, out));
}

static int fs_read(void *ctx, const char *path, uint64_t offset, void *buf, size_t len,
                   size_t *nread, const char *if_match)
{
    struct fault_storage *fs = ctx;
    FAULT_ENTER(fs, S_READ);
    afs__fault_hook_call(fs->f, "read", path);
    FAULT_LEAVE(fs->inner->read(fs->ictx, path, offset, buf, len, nread, if_match));
}

static int fs_put(void *ctx, const char *path, afs_read_fn src, void *src_payload,
                  uint64_t size, const afs_storage_put_options *opts, afs_storage_entry *out)
{
    struct fault_storage *fs = ctx;
    FAULT_ENTER(fs, S_PUT);
    afs__fault_hook_call(fs->f, "put", path);
    FAULT_LEAVE(fs->inner->put(fs->ictx, path, src, src_payload, size, opts, out));
}

static int fs_remove(void *ctx, const char *path, const char *if_match)
{
    struct fault_storage *fs = ctx;
    FAULT_ENTER(fs, S_REMOVE);
    afs__fault_hook_call(fs->f, "remove", path);
    FAULT_LEAVE(fs->inner->remove(fs->ictx, path, if_match));
}

static int fs_mkdir(void *ctx, const char *path)
{
    struct fault_storage *fs = ctx;
    FAULT_ENTER(fs, S_MKDIR);
    FAULT_LEAVE(fs->inner->mkdir(fs->ictx, path));
}

static int fs_rmdir(void *ctx, const char *path)
{
    struct fault_storage *fs = ctx;
    FAULT_ENTER(fs, S_RMDIR);
    FAULT_LEAVE(fs->inner->rmdir(fs->ictx, path));
}

static int fs_rename(void *ctx, const char *from, const char *to, const char *if_match,
                     unsigned int flags)
{
    struct fault_storage *fs = ctx;
    FAULT_ENTER(fs, S_RENAME);
    FAULT_LEAVE(fs->inner->rename(fs->ictx, from, to, if_match, flags));
}

static int fs_set_props(void *ctx, const char *path, int64_t mtime_ns, uint32_t attributes,
                        const char *if_match, afs_storage_entry *out)
{
    struct fault_storage *fs = ctx;
    FAULT_ENTER(fs, S_SET_PROPS);
    FAULT_LEAVE(fs->inner->set_props(fs->ictx, path, mtime_ns, attributes, if_match, out));
}

static int fs_meta_get(void *ctx, const char *path, const char *key, char *buf, size_t cap,
                       size_t *len)
{
    struct fault_storage *fs = ctx;
    FAULT_ENTER(fs, S_META_GET);
    FAULT_LEAVE(fs->inner->meta_get(fs->ictx, path, key, buf, cap, len));
}

/* A borrowed inner storage stays: only the wrapper and its controller go. */
static void fs_release(void *ctx)
{
    struct fault_storage *fs = ctx;
    if (!fs)
        return;
    afs__fault_free(fs->f);
    afs_storage_free(fs->owned);
    free(fs);
}

static int fault_storage_new(afs_storage **out, afs_storage *inner, afs_test_fault **ctl,
                             bool own)
{
    struct fault_storage *fs = NULL;
    afs_storage_ops ops;
    int rc;

    if (!out || !inner || !ctl)
        return AFS_EINVAL;
    *out = NULL;
    *ctl = NULL;
    fs = calloc(1, sizeof(*fs));
    if (!fs)
        return AFS_ENOMEM;
    if ((rc = afs_storage_ops_get(inner, &fs->inner, &fs->ictx)) != 0)
        goto done;
    if (!(fs->f = afs__fault_new(slot_names, S_COUNT))) {
        rc = AFS_ENOMEM;
        goto done;
    }
    /* Forward only the slots the inner table has: a NULL slot keeps its
     * documented fallback in the storage layer. */
    memset(&ops, 0, sizeof(ops));
    ops.version = AFS_STORAGE_OPS_VERSION;
    ops.release = fs_release;
#define FWD(slot, fn) ops.slot = fs->inner->slot ? fn : NULL
    FWD(ctl, fs_ctl);
    FWD(list, fs_list);
    FWD(stat, fs_stat);
    FWD(read, fs_read);
    FWD(put, fs_put);
    FWD(remove, fs_remove);
    FWD(mkdir, fs_mkdir);
    FWD(rmdir, fs_rmdir);
    FWD(rename, fs_rename);
    FWD(set_props, fs_set_props);
    FWD(meta_get, fs_meta_get);
#undef FWD
    if ((rc = afs_storage_new(out, &ops, fs)) != 0)
        goto done;
    *ctl = fs->f;
    fs->owned = own ? inner : NULL; /* only now: a failed build leaves it to the caller */
    fs = NULL; /* owned by *out, freed in fs_release */
done:
    fs_release(fs);
    return rc;
}

int afs_test_fault_storage_new(afs_storage **out, afs_storage *inner, afs_test_fault **ctl)
{
    return fault_storage_new(out, inner, ctl, false);
}

int afs_test_fault_storage_new_owning(afs_storage **out, afs_storage *inner,
                                      afs_test_fault **ctl)
{
    return fault_storage_new(out, inner, ctl, true);
}

afs_test_fault *afs_test_fault_storage_ctl(afs_storage *storage)
{
    const afs_storage_ops *ops;
    void *ctx;
    if (!storage || afs_storage_ops_get(storage, &ops, &ctx) != 0 || ops->release != fs_release)
        return NULL;
    return ((struct fault_storage *)ctx)->f;
}

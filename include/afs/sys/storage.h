/*
 * libafs: the storage vtable, the boundary between the library and a cloud
 * endpoint (a share, a container, a directory).
 *
 * libafs ships a local-directory backend (afs_storage_local_new()); the
 * Azure backends implement the same table. A third-party backend fills an
 * afs_storage_ops table and registers it with afs_storage_new(); it must
 * pass the conformance suite in tests/ (docs/guide-storage-vtable.md).
 *
 * Rules for every slot:
 * - Paths are relative to the share root, '/' separated, without a leading
 *   or trailing '/'; "" is the root. The library has validated every
 *   component before the call (no ".", "..", empty, NUL, or over 255 bytes).
 * - Return 0 or a negative afs_error_code: AFS_ENOTFOUND, AFS_EEXISTS,
 *   AFS_ECONDITION (an if-match etag or a create-only condition failed; the
 *   object was not changed), AFS_ETRANSIENT (worth retrying), AFS_ENOSPC,
 *   AFS_EIO, AFS_EPERM. A slot may call afs_error_set_str() for a detailed
 *   message; it must never put credentials in it.
 * - Every slot may be called from several threads at once.
 * - Etags are opaque strings that change whenever an object's content or
 *   metadata changes.
 *
 * Versioning as for afs_fs_ops: the table only grows at the end, is copied
 * into a zeroed table of the current size, and a NULL slot means "not
 * supported" with the fallback its comment names.
 */
#ifndef AFS_SYS_STORAGE_H
#define AFS_SYS_STORAGE_H

#include "../common.h"

AFS_BEGIN_DECL

#define AFS_STORAGE_OPS_VERSION 1

/* Size of the etag buffer in afs_storage_entry, NUL included. */
#define AFS_ETAG_MAX 128
/* Size of the continuation marker buffer given to list(). */
#define AFS_STORAGE_MARKER_MAX 2048
/* Longest name component accepted anywhere (Azure Files: 255). */
#define AFS_NAME_MAX 255

/* Conditions for a put. */
#define AFS_COND_NONE 0u        /* unconditional */
#define AFS_COND_CREATE_ONLY 1u /* fail with AFS_ECONDITION if the object exists */
#define AFS_COND_IF_MATCH 2u    /* fail with AFS_ECONDITION unless the etag matches */

/* rename() flags. */
#define AFS_STORAGE_RENAME_NOREPLACE 0x01u /* fail with AFS_ECONDITION if `to` exists */

/* Attribute bits kept with an object (Windows-compatible subset). */
#define AFS_ATTR_READONLY 0x0001u
#define AFS_ATTR_HIDDEN 0x0002u
#define AFS_ATTR_SYSTEM 0x0004u
#define AFS_ATTR_ARCHIVE 0x0020u

/*
 * One object as stat() or a listing describes it. The library zeroes it
 * before the call; fields only grow at the end.
 */
typedef struct afs_storage_entry {
    const char *name;   /* listing: the component's bytes, valid during the callback */
    size_t name_len;    /* listing: length of name (a hostile backend may embed NUL) */
    int status;         /* listing: 0, or AFS_EINVALIDNAME when the library rejected
                           the name; `name` is then a printable escaped form */
    uint32_t type;      /* AFS_TYPE_FILE or AFS_TYPE_DIR */
    uint32_t attributes; /* AFS_ATTR_* */
    uint64_t size;      /* bytes; 0 for directories */
    int64_t mtime_ns;   /* last-write time kept with the object */
    int64_t btime_ns;   /* creation time, 0 if unknown */
    char etag[AFS_ETAG_MAX]; /* NUL-terminated */
} afs_storage_entry;

/* Options of a put (whole-object write). Start from AFS_STORAGE_PUT_OPTIONS_INIT. */
typedef struct afs_storage_put_options {
    unsigned int version;      /* set by the caller: AFS_STORAGE_PUT_OPTIONS_VERSION */
    unsigned int condition;    /* AFS_COND_* */
    const char *if_match;      /* with AFS_COND_IF_MATCH */
    int64_t mtime_ns;          /* last-write time to keep; AFS_TIME_OMIT: now */
    int64_t btime_ns;          /* creation time to keep; AFS_TIME_OMIT: none. A backend
                                  that cannot set creation times ignores it */
    uint32_t attributes;       /* AFS_ATTR_* */
    size_t meta_count;         /* user metadata pairs stored with the object */
    const char *const *meta_keys;   /* [a-z0-9_], at most 64 bytes each */
    const char *const *meta_values; /* printable ASCII, at most 1024 bytes each */
    /* version 1 ends here */
} afs_storage_put_options;

#define AFS_STORAGE_PUT_OPTIONS_VERSION 1
#define AFS_STORAGE_PUT_OPTIONS_INIT \
    { AFS_STORAGE_PUT_OPTIONS_VERSION, AFS_COND_NONE, NULL, AFS_TIME_OMIT, AFS_TIME_OMIT, 0, 0, NULL, NULL }

/*
 * Fill the fields of `version` of `opts` with their defaults and set
 * opts->version; nothing past that version's fields is written.
 * Errors: AFS_EINVAL (opts NULL), AFS_EVERSION (0 or a version this libafs
 * does not know; opts untouched).
 */
AFS_EXTERN int afs_storage_put_options_init(afs_storage_put_options *opts, unsigned int version);

/*
 * Listing callback: called once per entry, in any order. Return 0 to go on,
 * non-zero to stop; the listing then returns that value unchanged.
 */
typedef int (*afs_storage_list_fn)(const afs_storage_entry *entry, void *payload);

typedef struct afs_storage_ops {
    unsigned int version; /* AFS_STORAGE_OPS_VERSION the table was written for */

    /* ---- Methods above and including this line are valid for version 1 ---- */

    /* Called once when the afs_storage handle is freed. NULL: nothing to do. */
    void (*release)(void *ctx);

    /* Backend-specific operations (see AFS_STORAGE_CTL_*); unknown `op`:
     * AFS_ENOTSUP. NULL: every op is AFS_ENOTSUP. */
    int (*ctl)(void *ctx, int op, void *arg);

    /* List one page of directory `dir`: call `emit` for each child (files and
     * directories; name, name_len, type, size, etag, times, attributes), then
     * write the continuation marker for the next page into `next_marker`
     * (`next_marker_size` bytes, AFS_STORAGE_MARKER_MAX) or "" when this was
     * the last page. `marker` is NULL or "" for the first page. A non-zero
     * return of `emit` stops the listing and is returned unchanged.
     * AFS_ENOTFOUND if `dir` does not exist. Required. */
    int (*list)(void *ctx, const char *dir, const char *marker, afs_storage_list_fn emit,
                void *emit_payload, char *next_marker, size_t next_marker_size);

    /* Describe one object or directory (name and status are left alone). Required. */
    int (*stat)(void *ctx, const char *path, afs_storage_entry *out);

    /* Read up to `len` bytes at `offset` of a file object into `buf`;
     * *nread < len only at the end of the object. If `if_match` is not NULL
     * and the object's etag differs: AFS_ECONDITION. Required. */
    int (*read)(void *ctx, const char *path, uint64_t offset, void *buf, size_t len,
                size_t *nread, const char *if_match);

    /* Create or replace a whole file object of `size` bytes pulled from `src`
     * (positional, may be re-read), honouring opts->condition, and describe
     * the stored object in `out` (new etag). Readers never see a partial
     * object. Missing parent directories are created. Required. */
    int (*put)(void *ctx, const char *path, afs_read_fn src, void *src_payload, uint64_t size,
               const afs_storage_put_options *opts, afs_storage_entry *out);

    /* Delete a file object; with `if_match`, only if the etag matches
     * (AFS_ECONDITION otherwise); a directory: AFS_EISDIR. Required. */
    int (*remove)(void *ctx, const char *path, const char *if_match);

    /* Create one directory (parents must exist); AFS_EEXISTS if it does.
     * NULL: the backend has implicit directories (a flat namespace); the
     * library then treats mkdir as done. */
    int (*mkdir)(void *ctx, const char *path);

    /* Remove an empty directory (AFS_ENOTEMPTY otherwise). NULL: implicit
     * directories vanish with their last object; treated as done. */
    int (*rmdir)(void *ctx, const char *path);

    /* Rename a file or a whole directory; with `if_match`, only if the
     * source etag matches. AFS_STORAGE_RENAME_NOREPLACE: AFS_ECONDITION if
     * `to` exists. NULL: the library copies (read + put create-only) and then
     * removes the source, for files only; directory renames become
     * AFS_ENOTSUP. */
    int (*rename)(void *ctx, const char *from, const char *to, const char *if_match,
                  unsigned int flags);

    /* Change last-write time (AFS_TIME_OMIT: keep) and attributes of an
     * object without rewriting its content; `out` gets the new description.
     * NULL: AFS_ENOTSUP (the sync engine then re-uploads). */
    int (*set_props)(void *ctx, const char *path, int64_t mtime_ns, uint32_t attributes,
                     const char *if_match, afs_storage_entry *out);

    /* Read one user metadata value into `buf` (`cap` bytes, NUL-terminated,
     * truncated if need be), *len set to its full length like snprintf;
     * AFS_ENOTFOUND if the key is not set.
     * NULL: AFS_ENOTSUP (the library then does without). */
    int (*meta_get)(void *ctx, const char *path, const char *key, char *buf, size_t cap,
                    size_t *len);
} afs_storage_ops;

/* ctl operations every backend may implement. */
#define AFS_STORAGE_CTL_NAME 1 /* arg: const char ** receiving a static backend name */

/*
 * Durability batching, for a backend that pays per change to make it
 * durable (the local backend's fsyncs). A backend without it answers
 * AFS_ENOTSUP: its changes are durable when they return, which is all the
 * sync engine needs.
 *
 * AFS_STORAGE_CTL_DEFER_NAMES, arg `const int *`: non-zero: from now on put,
 * remove, mkdir, rmdir and rename may return before their change of a *name*
 * is durable. A put's content is still durable before its name appears, so
 * no reader ever sees a partial object, even after a crash; a crash may only
 * undo the latest name changes. 0: back to durable-on-return, after a
 * barrier. It applies to every caller of the handle.
 * AFS_STORAGE_CTL_BARRIER, arg NULL: make durable every change that returned
 * before the call. The sync engine calls it before it commits the state that
 * records those changes.
 */
#define AFS_STORAGE_CTL_BARRIER 2
#define AFS_STORAGE_CTL_DEFER_NAMES 3

/*
 * AFS_STORAGE_CTL_CONCURRENCY, arg `uint32_t *`: how many calls the backend
 * serves best at once. The sync engine runs that many transfers when
 * afs_sync_options.threads is 0. AFS_ENOTSUP: no preference.
 */
#define AFS_STORAGE_CTL_CONCURRENCY 4

/* A registered storage backend instance. */
typedef struct afs_storage afs_storage;

/*
 * Register a storage vtable with its instance context. The table is copied;
 * `ctx` is borrowed until afs_storage_free(), which calls ops->release(ctx).
 * Errors: AFS_EINVAL (NULL arguments or a required slot missing),
 * AFS_EVERSION (version 0 or newer than AFS_STORAGE_OPS_VERSION), AFS_ENOMEM.
 */
AFS_EXTERN int afs_storage_new(afs_storage **out, const afs_storage_ops *ops, void *ctx);

/*
 * The registered table and context of `storage`, for forwarding wrappers.
 * `*ops` is a full-size table owned by `storage`. Errors: AFS_EINVAL.
 */
AFS_EXTERN int afs_storage_ops_get(const afs_storage *storage, const afs_storage_ops **ops,
                                   void **ctx);

/* Unregister and free; calls ops->release(ctx). NULL is ignored. */
AFS_EXTERN void afs_storage_free(afs_storage *storage);

AFS_END_DECL

#endif /* AFS_SYS_STORAGE_H */

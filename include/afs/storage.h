/*
 * libafs: storage backends and the calls that use them.
 *
 * The afs_storage_* calls below go through the library's checks before the
 * backend sees anything: every path component is validated (".", "..",
 * empty, NUL, '/', over AFS_NAME_MAX bytes and the reserved name are
 * refused with AFS_EINVALIDNAME), hostile names in listings are reported
 * with status AFS_EINVALIDNAME and never followed, and the reserved hidden
 * prefix that holds the library's own metadata (AFS_RESERVED_NAME at the
 * share root) is never listed as user content.
 */
#ifndef AFS_STORAGE_H
#define AFS_STORAGE_H

#include "common.h"
#include "sys/storage.h"

AFS_BEGIN_DECL

/* The reserved name at a share root holding libafs's own metadata. */
#define AFS_RESERVED_NAME ".libafs"

/* afs_storage_local_options.flags */
#define AFS_STORAGE_LOCAL_NOSYNC 0x01u /* skip fsync (faster, not crash-safe) */

/* Options of afs_storage_local_new(); the library reads only the fields of `version`. */
typedef struct afs_storage_local_options {
    unsigned int version; /* set by the caller: AFS_STORAGE_LOCAL_OPTIONS_VERSION */
    uint32_t flags; /* AFS_STORAGE_LOCAL_* */
    /* version 1 ends here */
} afs_storage_local_options;

#define AFS_STORAGE_LOCAL_OPTIONS_VERSION 1
#define AFS_STORAGE_LOCAL_OPTIONS_INIT { AFS_STORAGE_LOCAL_OPTIONS_VERSION, 0 }

/*
 * Fill the fields of `version` of `opts` with their defaults and set
 * opts->version; nothing past that version's fields is written.
 * Errors: AFS_EINVAL (opts NULL), AFS_EVERSION (0 or a version this libafs
 * does not know; opts untouched).
 */
AFS_EXTERN int afs_storage_local_options_init(afs_storage_local_options *opts,
                                              unsigned int version);

/*
 * The embedded default backend: a local directory (any path, including an
 * NFS or SMB mount) used as a cloud share. Objects are plain files and
 * directories, so the share stays browsable; writes land by temp file,
 * fsync and rename; conditional writes are atomic across threads and
 * processes. `root` must be an existing directory. `opts` may be NULL;
 * otherwise only the fields of opts->version are read (AFS_EVERSION for 0
 * or a version this libafs does not know). Free with afs_storage_free().
 * Errors: AFS_EINVAL, AFS_ENOTFOUND / AFS_ENOTDIR (root), AFS_EPERM,
 * AFS_EVERSION, AFS_ENOMEM.
 */
AFS_EXTERN int afs_storage_local_new(afs_storage **out, const char *root,
                                     const afs_storage_local_options *opts);

/*
 * Open a backend from a URI: a plain absolute path or "file:///path" gives
 * the local-directory backend; a scheme registered with
 * afs_storage_scheme_register() its own backend. Other schemes: AFS_ENOTSUP.
 * Errors as afs_storage_local_new(), AFS_EINVAL for a malformed URI.
 */
AFS_EXTERN int afs_storage_open(afs_storage **out, const char *uri);

/*
 * Opener of a registered URI scheme: create the storage for `uri` (the whole
 * URI, scheme included) in *out. Return 0 or an afs error code.
 */
typedef int (*afs_storage_open_fn)(afs_storage **out, const char *uri, void *payload);

/*
 * Make afs_storage_open() (and so sync groups) open URIs of `scheme`
 * ("myproto" for "myproto://...") with `fn`. Registering a scheme again
 * replaces it; `fn` NULL removes it. Process-wide and thread-safe;
 * `payload` is borrowed until the scheme is removed, and an opener already
 * running in another thread may finish after its removal. "file" is built in.
 * Errors: AFS_EINVAL (not a lower-case URI scheme, or "file"), AFS_ENOTFOUND
 * (removing an unknown scheme), AFS_ELIMIT (16 schemes).
 */
AFS_EXTERN int afs_storage_scheme_register(const char *scheme, afs_storage_open_fn fn,
                                           void *payload);

/*
 * List one page of `dir` ("" is the root). `marker` is NULL or "" for the
 * first page, then the `next_marker` of the previous page; `next_marker`
 * (`next_marker_size` bytes, at least AFS_STORAGE_MARKER_MAX) receives ""
 * after the last page. Entries with hostile names arrive with status
 * AFS_EINVALIDNAME. A non-zero return of `fn` stops and is returned.
 * Errors: AFS_EINVAL, AFS_EINVALIDNAME, AFS_ENOTFOUND, backend errors.
 */
AFS_EXTERN int afs_storage_list(afs_storage *storage, const char *dir, const char *marker,
                                afs_storage_list_fn fn, void *payload, char *next_marker,
                                size_t next_marker_size);

/* List every page of `dir`, calling `fn` for each entry. Errors as afs_storage_list(). */
AFS_EXTERN int afs_storage_list_all(afs_storage *storage, const char *dir,
                                    afs_storage_list_fn fn, void *payload);

/* Describe `path` into `out`. Errors: AFS_EINVALIDNAME, AFS_ENOTFOUND, backend errors. */
AFS_EXTERN int afs_storage_stat(afs_storage *storage, const char *path, afs_storage_entry *out);

/*
 * Read up to `len` bytes at `offset` into `buf` (caller-owned); *nread < len
 * only at the end. `if_match` NULL or an etag (AFS_ECONDITION if it changed).
 */
AFS_EXTERN int afs_storage_read(afs_storage *storage, const char *path, uint64_t offset,
                                void *buf, size_t len, size_t *nread, const char *if_match);

/*
 * Store a whole object of `size` bytes pulled from `src`. `opts` may be NULL
 * (unconditional, time now); otherwise only the fields of opts->version are
 * read (AFS_EVERSION for 0 or a version this libafs does not know) and the
 * backend gets a whole struct of the library's version. `out` may be NULL;
 * otherwise it receives the stored object's description and new etag.
 * Errors: AFS_ECONDITION, AFS_EINVALIDNAME, AFS_EINVAL (bad metadata key or
 * value), AFS_EVERSION, backend errors.
 */
AFS_EXTERN int afs_storage_put(afs_storage *storage, const char *path, afs_read_fn src,
                               void *src_payload, uint64_t size,
                               const afs_storage_put_options *opts, afs_storage_entry *out);

/* afs_storage_put() from a memory buffer the caller owns. */
AFS_EXTERN int afs_storage_put_buffer(afs_storage *storage, const char *path, const void *buf,
                                      size_t len, const afs_storage_put_options *opts,
                                      afs_storage_entry *out);

/* Delete a file object, only if its etag matches when `if_match` is not NULL. */
AFS_EXTERN int afs_storage_remove(afs_storage *storage, const char *path, const char *if_match);

/* Create one directory; AFS_EEXISTS if it exists. */
AFS_EXTERN int afs_storage_mkdir(afs_storage *storage, const char *path);

/* Remove an empty directory; AFS_ENOTEMPTY otherwise. */
AFS_EXTERN int afs_storage_rmdir(afs_storage *storage, const char *path);

/* Rename a file or directory (AFS_STORAGE_RENAME_* flags), conditional on `if_match`. */
AFS_EXTERN int afs_storage_rename(afs_storage *storage, const char *from, const char *to,
                                  const char *if_match, unsigned int flags);

/* Set last-write time (AFS_TIME_OMIT: keep) and attributes; `out` may be NULL. */
AFS_EXTERN int afs_storage_set_props(afs_storage *storage, const char *path, int64_t mtime_ns,
                                     uint32_t attributes, const char *if_match,
                                     afs_storage_entry *out);

/*
 * Read user metadata `key` of `path` into `buf` (`cap` bytes, NUL-terminated,
 * truncated if need be; *len is the full length). AFS_ENOTFOUND when the
 * key is not set or the object does not exist (stat it to tell them apart).
 */
AFS_EXTERN int afs_storage_meta_get(afs_storage *storage, const char *path, const char *key,
                                    char *buf, size_t cap, size_t *len);

/* Pass a backend-specific operation to the backend's ctl slot. */
AFS_EXTERN int afs_storage_ctl(afs_storage *storage, int op, void *arg);

/*
 * Check one name component the way the library does: 0 if acceptable,
 * AFS_EINVALIDNAME otherwise (empty, ".", "..", '/', NUL within `len`
 * bytes, longer than AFS_NAME_MAX). Use it in a backend or a host to
 * pre-check names. Does not set the thread's error.
 */
AFS_EXTERN int afs_name_check(const char *name, size_t len);

AFS_END_DECL

#endif /* AFS_STORAGE_H */

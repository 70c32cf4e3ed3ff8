/*
 * libafs: common definitions shared by every public header.
 *
 * The public headers compile as C99 and as C++; they use only fixed-width
 * integers, pointers and plain structs so that FFI layers (Python ctypes)
 * can describe them.
 */
#ifndef AFS_COMMON_H
#define AFS_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#define AFS_BEGIN_DECL extern "C" {
#define AFS_END_DECL }
#else
#define AFS_BEGIN_DECL
#define AFS_END_DECL
#endif

/* Marks a symbol that is part of the exported API. Everything else in the
 * shared library is hidden (-fvisibility=hidden plus a version script). */
#if defined(_WIN32)
#if defined(AFS_BUILDING_LIBRARY)
#define AFS_EXTERN __declspec(dllexport)
#else
#define AFS_EXTERN __declspec(dllimport)
#endif
#elif defined(__GNUC__) && __GNUC__ >= 4
#define AFS_EXTERN __attribute__((visibility("default")))
#else
#define AFS_EXTERN
#endif

AFS_BEGIN_DECL

/* Timestamps are signed nanoseconds since the Unix epoch (UTC). */
#define AFS_TIME_OMIT INT64_MIN /* "leave unchanged" / "now" where documented */

/* Type of a file system item or storage object. */
typedef enum afs_item_type {
    AFS_TYPE_UNKNOWN = 0, /* the source did not say (e.g. a dirent without d_type) */
    AFS_TYPE_FILE = 1,
    AFS_TYPE_DIR = 2,
    AFS_TYPE_SYMLINK = 3, /* file systems only; never synced */
    AFS_TYPE_OTHER = 4    /* device, socket, fifo: never synced */
} afs_item_type;

/*
 * Positional data source, used wherever the library or a backend pulls bytes
 * it is about to store (for example a storage put).
 *
 * Fill `buf` with up to `len` bytes starting at `offset` of the source, and
 * set `*nread` (0 only at the end of the source). It may be called for any
 * offset, more than once for the same offset (a retried upload) and from
 * several threads at once (a parallel upload), like pread(2).
 * Return 0, or a negative afs error code which aborts the operation and is
 * returned unchanged to its caller.
 */
typedef int (*afs_read_fn)(uint64_t offset, void *buf, size_t len, size_t *nread,
                           void *payload);

/*
 * Free memory that the library allocated and handed to the caller (strings
 * and arrays returned through out-parameters documented as "free with
 * afs_free"). NULL is ignored.
 */
AFS_EXTERN void afs_free(void *ptr);

AFS_END_DECL

#endif /* AFS_COMMON_H */

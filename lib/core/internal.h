/*
 * libafs internal helpers shared by every module. Not installed.
 * Semi-private names carry a double underscore (afs__...).
 */
#ifndef AFS_CORE_INTERNAL_H
#define AFS_CORE_INTERNAL_H

#ifndef AFS_BUILDING_LIBRARY
#define AFS_BUILDING_LIBRARY 1
#endif

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "afs.h"

#if defined(__GNUC__)
#define AFS__PRINTF(f, a) __attribute__((format(printf, f, a)))
#define AFS__UNUSED __attribute__((unused))
#else
#define AFS__PRINTF(f, a)
#define AFS__UNUSED
#endif

#define AFS__ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- errors (core/error.c) ---- */

/* Set the thread's error to `code` with a formatted message; returns `code`. */
int afs__error_set(int code, const char *fmt, ...) AFS__PRINTF(2, 3);
int afs__error_vset(int code, const char *fmt, va_list ap) AFS__PRINTF(2, 0);
/* Map an errno value to an afs code. */
int afs__errno_code(int errnum);
/* Set the thread's error from errno: "<formatted>: <strerror>"; returns the mapped code. */
int afs__error_errno(int errnum, const char *fmt, ...) AFS__PRINTF(2, 3);
/* Prefix the current message with "<prefix>: " (keeps the code); returns the code. */
int afs__error_prefix(int code, const char *fmt, ...) AFS__PRINTF(2, 3);
/* Raise ENOMEM with a message; returns AFS_ENOMEM. */
int afs__error_oom(void);

/* ---- logging (core/log.c) ---- */

bool afs__log_enabled(int level);
void afs__log(int level, const char *fmt, ...) AFS__PRINTF(2, 3);

/* ---- memory (core/alloc.c): each sets AFS_ENOMEM on failure ---- */

void *afs__malloc(size_t n);
void *afs__calloc(size_t count, size_t size);
void *afs__realloc(void *p, size_t n);
char *afs__strdup(const char *s);
char *afs__strndup(const char *s, size_t n);
char *afs__sprintf(const char *fmt, ...) AFS__PRINTF(1, 2);

/* ---- names and paths (core/name.c) ---- */

/* Is `name` (a single component of `len` bytes) the reserved AFS_RESERVED_NAME? */
bool afs__name_is_reserved(const char *name, size_t len);
/*
 * Validate a relative storage path ("" root, "a/b/c"). Sets the thread's
 * error (naming `what` and the path) and returns AFS_EINVALIDNAME if bad.
 * With `allow_reserved` false, a path whose first component is the reserved
 * name is refused as well.
 */
int afs__path_check(const char *path, bool allow_reserved, const char *what);
/* Write a printable, escaped, bounded form of `len` bytes of `name` into buf. */
void afs__name_escape(const char *name, size_t len, char *buf, size_t cap);
/* Decode one UTF-8 sequence of at most `len` bytes; its length, or 0 if malformed
 * (overlong, surrogate, past U+10FFFF, truncated). */
size_t afs__utf8_decode(const unsigned char *s, size_t len, uint32_t *cp);
/* A display name (server, group): 1..255 bytes of UTF-8 without control
 * characters or '/'. AFS_EINVALIDNAME with a message naming `kind`. */
int afs__label_check(const char *kind, const char *name);
/* "a" + "b" -> "a/b"; "" + "b" -> "b". Allocated; NULL on ENOMEM. */
char *afs__path_join(const char *dir, const char *name);

/* ---- identifiers, hex digits and clocks (core/util.c) ---- */

/* A random version 4 UUID, lower-case, 36 characters and a NUL. */
int afs__uuid(char out[37]);
/* The value of hex digit `c` (either case), or -1 if it is not one. */
int afs__hexval(char c);
/* Wall-clock time in nanoseconds since the epoch. */
int64_t afs__now_ns(void);

/* ---- versioned structs (core/options.c) ---- */

/*
 * A public struct that starts with `unsigned int version` and only grows at
 * its end: an options struct the caller passes in, a struct the caller
 * hands over to be filled in, or a vtable a host registers
 * (docs/api-conventions.md#versioned-structs).
 * The library reads and writes only the bytes of the caller's version, so
 * an older program's smaller struct is never over-read or over-written.
 */
#define AFS__VSTRUCT_VERSIONS 4
typedef struct afs__vstruct {
    const char *name;     /* "afs_sync_options", for messages */
    const char *how;      /* how a caller sets the version right, for messages */
    unsigned int newest;  /* the version this libafs is built with */
    size_t size[AFS__VSTRUCT_VERSIONS]; /* size[v - 1]: the bytes of version v */
} afs__vstruct;

extern const afs__vstruct afs__vs_endpoint_options, afs__vs_service_options,
    afs__vs_storage_local_options, afs__vs_storage_put_options, afs__vs_azure_options,
    afs__vs_sync_options, afs__vs_sync_result, afs__vs_provisioning, afs__vs_tier_info,
    afs__vs_tier_result, afs__vs_tier_pass_options, afs__vs_heat_list_options,
    afs__vs_recall_options, afs__vs_recall_result, afs__vs_recall_host_info,
    afs__vs_tier_stats, afs__vs_fs_ops, afs__vs_storage_ops;
/* All of the above, NULL-terminated (test_core checks each against its type). */
extern const afs__vstruct *const afs__vstructs[];

/* The bytes of `version` of the struct; 0 for 0 or a version newer than known. */
size_t afs__vstruct_size(const afs__vstruct *t, unsigned int version);

/*
 * 0 if `version` is one this libafs knows; otherwise AFS_EVERSION with
 * "<fn>: <name> version N is not supported (this libafs knows versions 1
 * to M; <how>)".
 */
int afs__vstruct_check(const afs__vstruct *t, unsigned int version, const char *fn);

/*
 * Read a caller's struct `in` (may be NULL: nothing to do) into `dst`, a
 * whole struct of the library's version already holding the defaults:
 * only the bytes of in->version are copied, the later fields keep their
 * defaults, and dst->version becomes the newest. `in` may be `dst`.
 * Errors: as afs__vstruct_check() (dst is then unchanged).
 */
int afs__vstruct_read(const afs__vstruct *t, void *dst, const void *in, const char *fn);

/*
 * Fill a caller's struct `out` from `src`, a whole struct of the library's
 * version: only the bytes of out->version are written and out->version
 * keeps the caller's value. Errors: as afs__vstruct_check() (out is then
 * untouched).
 */
int afs__vstruct_write(const afs__vstruct *t, void *out, const void *src, const char *fn);

/*
 * The body of every afs_..._options_init(): write the bytes of `version` of
 * `defaults` (the _INIT value) into `opts` and set opts->version to
 * `version`. AFS_EINVAL "<fn>: opts is NULL"; AFS_EVERSION naming `fn`, the
 * struct and the version for 0 or one newer than known (opts untouched).
 */
int afs__options_init(const afs__vstruct *t, void *opts, const void *defaults,
                      unsigned int version, const char *fn);

/* ---- vtables (core/fs.c, storage/storage.c) ---- */

struct afs_fs {
    afs_fs_ops ops; /* full current-size copy, zero-filled past the caller's version */
    void *ctx;
};

struct afs_storage {
    afs_storage_ops ops;
    void *ctx;
};

/*
 * Storage calls for the library's own use: identical to the public ones
 * but the reserved prefix is reachable (the engine keeps its journal and
 * group definitions there).
 */
int afs__storage_list(afs_storage *s, const char *dir, const char *marker, afs_storage_list_fn fn,
                      void *payload, char *next_marker, size_t next_marker_size,
                      bool allow_reserved);
int afs__storage_stat(afs_storage *s, const char *path, afs_storage_entry *out,
                      bool allow_reserved);
int afs__storage_read(afs_storage *s, const char *path, uint64_t offset, void *buf, size_t len,
                      size_t *nread, const char *if_match, bool allow_reserved);
int afs__storage_put(afs_storage *s, const char *path, afs_read_fn src, void *src_payload,
                     uint64_t size, const afs_storage_put_options *opts, afs_storage_entry *out,
                     bool allow_reserved);
int afs__storage_remove(afs_storage *s, const char *path, const char *if_match,
                        bool allow_reserved);
int afs__storage_mkdir(afs_storage *s, const char *path, bool allow_reserved);

/* Positional source over a memory buffer (payload: struct afs__membuf). */
struct afs__membuf {
    const unsigned char *data;
    size_t len;
};
int afs__membuf_read(uint64_t offset, void *buf, size_t len, size_t *nread, void *payload);

#endif /* AFS_CORE_INTERNAL_H */

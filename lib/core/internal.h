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

/* ---- options structs (core/options.c) ---- */

/*
 * Fill `opts` with the `size` bytes of `defaults` (its _INIT value) for a
 * caller of `version` 1..`newest`. AFS_EINVAL naming function `fn` if opts
 * is NULL; AFS_EVERSION "<what> version N not supported" for another version.
 */
int afs__options_init(void *opts, const void *defaults, size_t size, unsigned int version,
                      unsigned int newest, const char *fn, const char *what);

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

/*
 * Which names sync, which are skipped, which are per-item errors, and how
 * conflict copies are named (docs/sync.md#names, #conflicts).
 */
#ifndef AFS_SYNC_NAMES_H
#define AFS_SYNC_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Prefix of the library's own temporary files in a server endpoint. */
#define AFS__TEMP_PREFIX ".~afs-"

typedef enum afs__name_class {
    AFS__NAME_SYNC = 0,    /* an ordinary name: synced */
    AFS__NAME_SKIP = 1,    /* never synced, silently (pagefile.sys, *.tmp, our temps) */
    AFS__NAME_INVALID = 2  /* unsupported characters: a per-item error, sync goes on */
} afs__name_class;

/*
 * Classify one name component of `len` bytes. For AFS__NAME_INVALID, *why
 * (if not NULL) receives a static reason naming the offending character.
 */
afs__name_class afs__sync_name_class(const char *name, size_t len, const char **why);

/*
 * Is `name` the library's own temporary file (AFS__TEMP_PREFIX...".tmp")?
 */
bool afs__sync_is_temp_name(const char *name);

/*
 * Write the name of conflict copy `n` of `name` made by `endpoint` into buf:
 * "<NameWithoutExtension>-<endpoint>[-n].<ext>" (n == 0: no "-n"). The
 * extension is what follows the last '.', unless that dot is the first
 * character (".bashrc" has none). The stem is shortened on a UTF-8 boundary
 * if the result would exceed AFS_NAME_MAX bytes.
 * Returns 0, or AFS_EINVAL if `cap` is too small for any result.
 */
int afs__conflict_name(const char *name, const char *endpoint, unsigned int n, char *buf,
                       size_t cap);

/*
 * The writer tag: user metadata AFS__WRITER_KEY that every upload stores
 * with the object, so that a conflict copy of a version learned without a
 * journal record (a full enumeration, a retried item) is named after the
 * server that wrote it (docs/sync.md#conflicts). The value is
 * "1;<size>;<mtime_ns>;<server name, %-encoded>": the size and last-write
 * time the upload gave the object, so that an edit made in the share that
 * kept the metadata (an SMB write, a local edit in place) is not taken for
 * the writer's version.
 */
#define AFS__WRITER_KEY "afs_writer"
#define AFS__WRITER_TAG_MAX 1024
/* Encode; AFS_EINVAL if it does not fit in `cap`. */
int afs__writer_tag(char *buf, size_t cap, uint64_t size, int64_t mtime_ns, const char *server);
/* The writer's name into `name` if `tag` is well formed and vouches for an
 * object of `size` bytes and last-write time `mtime_ns`; false otherwise. */
bool afs__writer_tag_parse(const char *tag, uint64_t size, int64_t mtime_ns, char *name,
                           size_t cap);

/* At most this many conflict copies per file (afs-facts: 100). */
#define AFS__CONFLICT_MAX 100

#endif

/*
 * The tier marker: the blob a placeholder carries through the filesystem
 * vtable (marker_get/set/remove; an extended attribute on Linux). Format
 * version 1, little-endian, at most AFS_FS_MARKER_MAX bytes
 * (docs/tiering.md#the-marker):
 *
 *   0  4  magic "AFSM"
 *   4  1  version (2; 1 before pending markers)
 *   5  1  flags (AFS_TIER_MARKER_*, AFS__MARKER_PENDING)
 *   6  2  etag length E (1..AFS_ETAG_MAX-1)
 *   8  2  cloud path length P
 *  10  2  range count R
 *  12  4  chunk size of partial recall (AFS_TIER_CHUNK)
 *  16  8  logical size
 *  24  8  last write time (ns) the file must show
 *  32  8  time of tiering (ns)
 *  40  8  file id when tiered (diagnostics)
 *  48  E  etag
 *   .  P  cloud path (relative to the share)
 *   .  16R ranges present on disk: (offset u64, length u64), sorted, disjoint,
 *         not adjacent
 *   .  4  CRC-32 (IEEE) of everything before it
 */
#ifndef AFS_TIER_MARKER_H
#define AFS_TIER_MARKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "afs.h"

#define AFS__MARKER_MAGIC "AFSM"
#define AFS__MARKER_VERSION 2
#define AFS__MARKER_VERSION_MIN 1 /* still read */
/*
 * Flag of a marker whose tiering (or placeholder update) has not finished:
 * the punch and the restored write time may be missing (a crash). The last
 * step of a tiering writes the marker again without it. A version 2 marker
 * without it is exact: a size or write time that differs from it is a
 * program's write, whenever it happened (afs__marker_written).
 */
#define AFS__MARKER_PENDING 0x80u
#define AFS__MARKER_FIXED 48 /* bytes before the etag */

typedef struct afs__range {
    uint64_t off;
    uint64_t len;
} afs__range;

typedef struct afs__marker {
    uint32_t version;
    uint32_t flags;
    uint32_t chunk;
    uint64_t size;
    int64_t mtime_ns;
    int64_t tiered_ns;
    uint64_t file_id;
    char etag[AFS_ETAG_MAX];
    char *path;        /* malloc'd */
    afs__range *ranges; /* malloc'd, sorted, disjoint, non-adjacent */
    size_t nranges;
} afs__marker;

/* Free the allocations and zero the struct. */
void afs__marker_clear(afs__marker *m);

/* Encode into buf (AFS_FS_MARKER_MAX bytes). AFS_ELIMIT if it does not fit. */
int afs__marker_encode(const afs__marker *m, unsigned char *buf, size_t cap, size_t *len);

/* Decode; AFS_ECORRUPT (message naming `what`) if it is not a valid marker. */
int afs__marker_decode(const unsigned char *buf, size_t len, const char *what, afs__marker *m);

/*
 * Read the marker of `path` through the vtable. *found false (and 0) when
 * the file has none. Errors: filesystem errors, AFS_ECORRUPT.
 */
int afs__marker_read(afs_fs *fs, const char *path, afs__marker *m, bool *found);

/* Encode and write; AFS_ELIMIT when the marker cannot fit. */
int afs__marker_write(afs_fs *fs, const char *path, const afs__marker *m);

/* Add [off, off+len) to the present ranges (merging). 0 or AFS_ENOMEM. */
int afs__marker_add_range(afs__marker *m, uint64_t off, uint64_t len);

/* Bytes present (sum of ranges, clipped to size). */
uint64_t afs__marker_present(const afs__marker *m);

/* Is [off, off+len) entirely present? */
bool afs__marker_covers(const afs__marker *m, uint64_t off, uint64_t len);

/*
 * Did a program write into the placeholder `st` since `m` was written?
 * False for a marker that records the whole file. Otherwise true when the
 * size differs, or the write time differs and the marker is exact (version
 * 2, not pending). A pending or version 1 marker allows a write time within
 * 5 seconds of the tiering time (what a crash between punching and
 * restoring the time leaves: a repair, not a write).
 */
bool afs__marker_written(const afs__marker *m, uint64_t st_size, int64_t st_mtime_ns);

/* CRC-32 (IEEE 802.3, reflected, as zlib's crc32). */
uint32_t afs__crc32(uint32_t crc, const void *data, size_t len);

#endif

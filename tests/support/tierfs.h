/*
 * A host filesystem vtable for tiering tests and benchmarks: it forwards
 * every slot to the POSIX default, but describes one volume of its own
 * rooted at a directory, with a size the test chooses and free space that
 * follows the blocks the files below the root really use (so it changes as
 * files are tiered and recalled). The volume is never the system volume,
 * so tiering can be enabled on endpoints inside it. Birth times are
 * reported as unknown (0), so that tests control a file's heat position
 * with its write time. No cmocka dependency (the benchmarks use it too).
 */
#ifndef AFS_TEST_TIERFS_H
#define AFS_TEST_TIERFS_H

#include <stdint.h>

#include "afs.h"

typedef struct afs_test_tierfs afs_test_tierfs;

/*
 * A filesystem whose volume "test-volume" holds `root` (an existing
 * directory) and is `total_bytes` large. *ctl controls it; both are freed
 * with afs_fs_free(*out).
 */
int afs_test_tierfs_new(afs_fs **out, const char *root, uint64_t total_bytes,
                        afs_test_tierfs **ctl);

/* Change the volume's size. */
void afs_test_tierfs_set_total(afs_test_tierfs *t, uint64_t total_bytes);

/* Bytes counted as used besides the files below the root (other data). */
void afs_test_tierfs_set_extra_used(afs_test_tierfs *t, uint64_t bytes);

/* Bytes the files below the root use on disk now. */
uint64_t afs_test_tierfs_used(afs_test_tierfs *t);

/* Call `fn(path, payload)` right after each successful marker_set (NULL: none). */
void afs_test_tierfs_on_marker_set(afs_test_tierfs *t, void (*fn)(const char *path,
                                                                  void *payload),
                                   void *payload);

/* Make write() fail with AFS_ENOSPC when the volume has no free bytes left (default on). */
void afs_test_tierfs_enforce_space(afs_test_tierfs *t, int on);

/* tier_helpers.c (cmocka; not linked into the benchmarks):
 * the tier state (afs_tier_state) of `rel` in `ep`; fails the test on error. */
uint32_t afs_test_tier_state(afs_endpoint *ep, const char *rel);

/* The write time (ns) of `dir`/`rel`; fails the test when it cannot be read. */
int64_t afs_test_mtime_ns(const char *dir, const char *rel);

/* A fresh sandbox `name` (*root) with the paths root/vol, root/state,
 * root/share (made) and vol/data (not made); the caller frees all five. */
void afs_test_tier_dirs(const char *name, char **root, char **vol, char **state, char **share,
                        char **data);

#endif

/*
 * Internals of the POSIX/Linux filesystem (lib/fs/posix.c) that the tests
 * reach directly: facts that cannot be produced on demand on a test machine
 * (an NFS mount, a file system without RENAME_NOREPLACE). Not installed.
 */
#ifndef AFS_FS_POSIX_INTERNAL_H
#define AFS_FS_POSIX_INTERNAL_H

#include <stdint.h>

/*
 * Look up a statfs(2) f_type magic number. Returns 1 and sets *name (a
 * static string such as "ext4", "nfs") and *flags (AFS_FS_VOLUME_NETWORK or
 * 0) when the magic is known; returns 0 and sets *name = NULL, *flags = 0
 * otherwise. `name` and `flags` may be NULL.
 */
int afs__fs_magic_describe(unsigned long magic, const char **name, uint32_t *flags);

/*
 * The no-replace rename used where renameat2(RENAME_NOREPLACE) is not
 * available: link(from, to) then unlink(from). Regular files only; link()
 * fails with EEXIST when `to` exists, so the step that publishes the new
 * name is atomic. Returns 0 or an afs code with the thread's error set.
 */
int afs__fs_posix_rename_by_link(const char *from, const char *to);

#endif /* AFS_FS_POSIX_INTERNAL_H */

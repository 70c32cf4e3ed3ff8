/*
 * libafs: the filesystem vtable, the boundary between the library and the
 * host operating system for everything on the server side.
 *
 * A host that is not Linux, or that wants its own policy (a NAS firmware
 * with its own block layer, a test harness), fills an afs_fs_ops table and
 * registers it with afs_fs_new(). libafs ships a POSIX/Linux default,
 * afs_fs_posix_new(). docs/guide-fs-vtable.md explains every slot.
 *
 * Rules for every slot:
 * - Paths are absolute, NUL-terminated UTF-8 ("/srv/share/a.txt"), '/'
 *   separated; the library never passes "." or ".." components.
 * - Return 0 on success or a negative afs_error_code. AFS_ENOTFOUND for a
 *   missing item, AFS_EEXISTS, AFS_ENOSPC, AFS_EPERM, AFS_ENOTEMPTY,
 *   AFS_ENOTDIR, AFS_EISDIR and AFS_EIO where they fit. A slot may call
 *   afs_error_set_str() to give a detailed message.
 * - Slots may be called from several threads at once, on different handles.
 * - `ctx` is the pointer given to afs_fs_new(); it is never interpreted.
 *
 * Versioning: the table starts with `version` and only ever grows at the
 * end. afs_fs_new() copies the caller's table into a zeroed table of the
 * current size, so a host built against an older header keeps working. A
 * NULL slot means "not supported"; each slot's comment says what the library
 * does then.
 */
#ifndef AFS_SYS_FS_H
#define AFS_SYS_FS_H

#include "../common.h"

AFS_BEGIN_DECL

#define AFS_FS_OPS_VERSION 2

/* Largest tier marker the library writes (docs/concepts.md#placeholders). */
#define AFS_FS_MARKER_MAX 3072

/* open() flags. */
#define AFS_FS_O_READ 0x01u
#define AFS_FS_O_WRITE 0x02u
#define AFS_FS_O_CREATE 0x04u /* create if missing (mode 0666 less the umask) */
#define AFS_FS_O_EXCL 0x08u   /* with CREATE: fail with AFS_EEXISTS if it exists */
#define AFS_FS_O_TRUNC 0x10u  /* truncate to 0 bytes */

/* rename() flags. */
#define AFS_FS_RENAME_NOREPLACE 0x01u /* fail with AFS_EEXISTS if `to` exists */

/*
 * ctl operations a vtable may implement (others return AFS_ENOTSUP).
 * AFS_FS_CTL_HAS_HOLES: `arg` is the path (const char *) of a regular file;
 * ctl returns 1 when the file may have a hole below its size, 0 when every
 * byte of it is certainly on disk, or a negative AFS_E* code (AFS_ENOTSUP:
 * the file system cannot say). The library asks it of a placeholder that
 * was written into, to tell a full rewrite (uploaded) from one with holes
 * left (never uploaded). Answer 0 only when sure: a wrong 0 would upload
 * zeros.
 */
#define AFS_FS_CTL_HAS_HOLES 1

/*
 * AFS_FS_CTL_WRITE_LEASE: `arg` is an afs_fs_lease, whose `fh` is a handle
 * of this same vtable (a vtable that wraps another's handles must translate
 * it before passing the op on, or answer AFS_ENOTSUP). Tiering asks it around
 * the verify and the punch of a file it opened (`fh`, from open() with
 * AFS_FS_O_WRITE) so that it never frees the blocks of a file another
 * process has open, or opens meanwhile:
 *   AFS_FS_LEASE_TAKE: 0 when no other process has the file open (from now
 *     on, an open of it by anyone waits until the lease is released);
 *     AFS_EBUSY when one has it open.
 *   AFS_FS_LEASE_CHECK: 0 while no open is waiting; AFS_EBUSY when one is
 *     (the tiering then gives up the file, untouched).
 *   AFS_FS_LEASE_RELEASE: release it (0); closing `fh` releases it too.
 * Between TAKE and RELEASE the library calls only marker_set, marker_get,
 * fstat, fsync and punch_hole for the file: an implementation of those must
 * not open the file by its path (that open would wait for the lease, up to
 * the kernel's lease-break-time).
 * AFS_ENOTSUP (or no ctl at all): the file system cannot say; tiering then
 * goes on without (a program holding the file open for writing may write
 * into the placeholder: a per-item error, docs/tiering.md). The POSIX
 * default uses a Linux write lease (fcntl F_SETLEASE F_WRLCK) with SIGURG,
 * ignored by default, as its break signal.
 */
#define AFS_FS_CTL_WRITE_LEASE 2

#define AFS_FS_LEASE_TAKE 1
#define AFS_FS_LEASE_CHECK 2
#define AFS_FS_LEASE_RELEASE 3

typedef struct afs_fs_lease {
    void *fh;     /* an open handle of the file (in) */
    int op;       /* AFS_FS_LEASE_* (in) */
} afs_fs_lease;

/* afs_fs_volume.flags */
#define AFS_FS_VOLUME_SYSTEM 0x01u  /* the volume holding the operating system */
#define AFS_FS_VOLUME_NETWORK 0x02u /* NFS, SMB, FUSE, 9p and the like */

/*
 * What stat() and fstat() report. The library zeroes the struct before the
 * call; a field the file system cannot provide stays 0. New fields are only
 * added at the end.
 */
typedef struct afs_fs_stat {
    uint32_t type;         /* afs_item_type; never follow a final symlink */
    uint32_t mode;         /* permission bits (0777 mask) */
    uint64_t nlink;        /* hard link count */
    uint64_t size;         /* logical size in bytes */
    uint64_t alloc_bytes;  /* bytes allocated on disk ("size on disk") */
    uint64_t file_id;      /* inode number or another id stable for the file's life */
    int64_t mtime_ns;      /* last write */
    int64_t ctime_ns;      /* last status change */
    int64_t btime_ns;      /* birth (creation); 0 when unknown */
    int64_t atime_ns;      /* last access as the file system keeps it */
} afs_fs_stat;

/* One directory entry. `name` is valid until the next dir_read or dir_close. */
typedef struct afs_fs_dirent {
    const char *name; /* a single component, never "." or ".." */
    uint32_t type;    /* afs_item_type, AFS_TYPE_UNKNOWN if not known cheaply */
} afs_fs_dirent;

/* Facts about the volume holding a path. */
typedef struct afs_fs_volume {
    char id[64];          /* stable identifier of the volume, NUL-terminated */
    char fs_type[32];     /* file system name ("ext4"), NUL-terminated */
    uint64_t total_bytes;
    uint64_t free_bytes;  /* bytes available to the library's writes */
    uint32_t block_size;  /* allocation unit in bytes */
    uint32_t flags;       /* AFS_FS_VOLUME_* */
} afs_fs_volume;

typedef struct afs_fs_ops {
    unsigned int version; /* AFS_FS_OPS_VERSION the table was written for */

    /* ---- Methods above and including this line are valid for version 1 ---- */

    /* Called once when the afs_fs handle is freed. NULL: nothing to do. */
    void (*release)(void *ctx);

    /* Backend-specific operations; return AFS_ENOTSUP for unknown `op`.
     * NULL: every op is AFS_ENOTSUP. */
    int (*ctl)(void *ctx, int op, void *arg);

    /* Describe `path` without following a final symlink. Required. */
    int (*stat)(void *ctx, const char *path, afs_fs_stat *out);

    /* Enumerate a directory, never through a final symlink (AFS_EINVALIDNAME).
     * dir_read returns AFS_EITEROVER after the last entry and never returns
     * "." or "..". Required. */
    int (*dir_open)(void *ctx, const char *path, void **dir);
    int (*dir_read)(void *ctx, void *dir, afs_fs_dirent *out);
    void (*dir_close)(void *ctx, void *dir);

    /* Open a regular file. A final symlink is never followed
     * (AFS_EINVALIDNAME); a directory gives AFS_EISDIR, a fifo or device
     * AFS_EINVAL. Required. */
    int (*open)(void *ctx, const char *path, unsigned int flags, void **fh);
    /* Read up to `len` bytes at `offset`; *nread < len only at end of file. Required. */
    int (*read)(void *ctx, void *fh, uint64_t offset, void *buf, size_t len, size_t *nread);
    /* Write all `len` bytes at `offset`. Required. */
    int (*write)(void *ctx, void *fh, uint64_t offset, const void *buf, size_t len);
    /* stat() of an open file. NULL: the library calls stat() on the path. */
    int (*fstat)(void *ctx, void *fh, afs_fs_stat *out);
    /* Set the file size; growing leaves a hole (sparse). Required. */
    int (*truncate)(void *ctx, void *fh, uint64_t size);
    /* Make the file's data and metadata durable. NULL: not durable (documented
     * as unsafe: a crash may lose recent downloads). */
    int (*fsync)(void *ctx, void *fh);
    /* Close the handle; its error, if any, is reported. Required. */
    int (*close)(void *ctx, void *fh);
    /* Free the blocks of a byte range, keeping the logical size (a hole).
     * NULL: cloud tiering is not supported on this file system. */
    int (*punch_hole)(void *ctx, void *fh, uint64_t offset, uint64_t len);

    /* Atomically rename `from` to `to` (replacing `to` unless
     * AFS_FS_RENAME_NOREPLACE). Required. */
    int (*rename)(void *ctx, const char *from, const char *to, unsigned int flags);
    /* Remove a file (or a symlink itself). Required. */
    int (*unlink)(void *ctx, const char *path);
    /* Create one directory (mode 0777 less the umask). Required. */
    int (*mkdir)(void *ctx, const char *path);
    /* Remove an empty directory. Required. */
    int (*rmdir)(void *ctx, const char *path);
    /* Make a directory's entries durable (after a rename or create).
     * NULL: skipped. */
    int (*sync_dir)(void *ctx, const char *path);
    /* Set access and write times; AFS_TIME_OMIT leaves one unchanged.
     * NULL: times are not restored (sync then relies on content hashes). */
    int (*set_times)(void *ctx, const char *path, int64_t atime_ns, int64_t mtime_ns);

    /* The tier marker: an opaque blob of at most AFS_FS_MARKER_MAX bytes the
     * library attaches to a placeholder. marker_get copies it into `buf`
     * (`cap` bytes) and sets *len; AFS_ENOTFOUND when the file has none
     * (also from marker_remove); a too small `cap`: AFS_EINVAL with *len set
     * to the size needed.
     * NULL slots: cloud tiering is not supported on this file system. */
    int (*marker_get)(void *ctx, const char *path, void *buf, size_t cap, size_t *len);
    int (*marker_set)(void *ctx, const char *path, const void *buf, size_t len);
    int (*marker_remove)(void *ctx, const char *path);

    /* Describe the volume holding `path`. NULL: the library assumes one
     * local, non-system volume of unknown size (free-space tiering off). */
    int (*volume)(void *ctx, const char *path, afs_fs_volume *out);

    /* Resolve `path` to its canonical absolute form (symlinks and "."/".."
     * resolved) into `buf` of `cap` bytes. NULL: the library uses the path
     * as given, normalised lexically. */
    int (*canonicalize)(void *ctx, const char *path, char *buf, size_t cap);

    /* ---- Methods above and including this line are valid for version 2 ---- */

    /* Describe the entry `name` (a single component, as dir_read returned
     * it) of the directory `dir` open by dir_open, exactly as stat() of its
     * full path would, never following a final symlink; errors as stat()'s.
     * The sync scan calls it for every entry it enumerates: relative to the
     * open directory, the lookup of every parent component is saved (a
     * quarter of the scan's system time on Linux), and a host whose
     * enumeration already returns attributes (FindNextFile, READDIRPLUS) can
     * answer without a system call. NULL: the library calls stat() with the
     * entry's full path. */
    int (*dir_stat)(void *ctx, void *dir, const char *name, afs_fs_stat *out);
} afs_fs_ops;

/* A registered filesystem: the table, copied, plus its context. */
typedef struct afs_fs afs_fs;

/*
 * Register a filesystem vtable. The table is copied (the caller's may be
 * temporary); `ctx` is borrowed until afs_fs_free(), which calls
 * ops->release(ctx) if set.
 * Errors: AFS_EINVAL (NULL out/ops, or a required slot is NULL),
 * AFS_EVERSION (version 0 or newer than AFS_FS_OPS_VERSION), AFS_ENOMEM.
 */
AFS_EXTERN int afs_fs_new(afs_fs **out, const afs_fs_ops *ops, void *ctx);

/*
 * The default POSIX/Linux filesystem: holes by fallocate(PUNCH_HOLE), the
 * tier marker in the extended attribute "user.afs.marker", the system volume
 * is the volume of "/", network file systems recognised by statfs magic.
 * Free with afs_fs_free(). Errors: AFS_EINVAL (out is NULL), AFS_ENOMEM.
 */
AFS_EXTERN int afs_fs_posix_new(afs_fs **out);

/*
 * The registered table and context of `fs`, for wrappers that forward to it
 * (fault injection, tracing). `*ops` points to a full-size table owned by
 * `fs` and valid until afs_fs_free(). Errors: AFS_EINVAL.
 */
AFS_EXTERN int afs_fs_ops_get(const afs_fs *fs, const afs_fs_ops **ops, void **ctx);

/* Unregister and free; calls ops->release(ctx). NULL is ignored. */
AFS_EXTERN void afs_fs_free(afs_fs *fs);

AFS_END_DECL

#endif /* AFS_SYS_FS_H */

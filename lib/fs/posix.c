/*
 * The default filesystem vtable for Linux (include/afs/sys/fs.h,
 * docs/guide-fs-vtable.md). This file is the platform code: it uses Linux
 * calls directly (statx, renameat2, fallocate, l*xattr) and contains no
 * portability #ifdefs; another OS gets its own file behind the vtable.
 *
 * Every error message names the path the call was about, with errno's text
 * appended ("open /srv/a.txt: No such file or directory").
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "../core/internal.h"
#include "posix_internal.h"

/* The tier marker's home (docs/concepts.md#placeholders). */
#define MARKER_XATTR "user.afs.marker"

#define NS_PER_SEC 1000000000LL

/* Largest single read/write handed to the kernel: it caps one transfer at
 * about 2 GiB anyway, and the count must fit in ssize_t. */
#define IO_CHUNK ((size_t)1 << 30)

struct posix_ctx {
    dev_t root_dev;  /* st_dev of "/", for AFS_FS_VOLUME_SYSTEM */
    int root_known;  /* 0 if stat("/") failed: no volume is then called system */
};

/* An open file. The path is kept for error messages from fd-based slots. */
struct posix_file {
    int fd;
    char path[];
};

/* An open directory; `path` for error messages, as above. */
struct posix_dir {
    DIR *dir;
    char path[];
};

/* ---- statfs magic numbers ---- */

struct fs_magic {
    unsigned long magic;
    const char *name;
    uint32_t flags;
};

/*
 * Values from <linux/magic.h> and the file systems' own sources. Network
 * (and cluster) file systems are flagged: a server endpoint must not be on
 * one, as another machine can change it behind the library's back. FUSE is
 * flagged too because a FUSE daemon is usually remote (sshfs, s3fs,
 * glusterfs, virtiofs) and the magic cannot tell.
 */
static const struct fs_magic fs_magics[] = {
    { 0xEF53UL, "ext4", 0 }, /* ext2 and ext3 share it; the ext4 driver mounts all three */
    { 0x58465342UL, "xfs", 0 },
    { 0x9123683EUL, "btrfs", 0 },
    { 0x01021994UL, "tmpfs", 0 },
    { 0x858458F6UL, "ramfs", 0 },
    { 0x794C7630UL, "overlay", 0 },
    { 0x2FC12FC1UL, "zfs", 0 },
    { 0xCA451A4EUL, "bcachefs", 0 },
    { 0xF2F52010UL, "f2fs", 0 },
    { 0x3153464AUL, "jfs", 0 },
    { 0x52654973UL, "reiserfs", 0 },
    { 0x34343434UL, "nilfs", 0 },
    { 0x4D44UL, "vfat", 0 },
    { 0x2011BAB0UL, "exfat", 0 },
    { 0x5346544EUL, "ntfs", 0 },
    { 0x4244UL, "hfs", 0 },
    { 0x482BUL, "hfsplus", 0 },
    { 0x9660UL, "iso9660", 0 },
    { 0x15013346UL, "udf", 0 },
    { 0x73717368UL, "squashfs", 0 },
    { 0xE0F5E1E2UL, "erofs", 0 },
    { 0x28CD3D45UL, "cramfs", 0 },
    { 0x72B6UL, "jffs2", 0 },
    { 0x24051905UL, "ubifs", 0 },
    { 0xF15FUL, "ecryptfs", 0 },
    { 0x958458F6UL, "hugetlbfs", 0 },
    { 0x9FA0UL, "proc", 0 },
    { 0x62656572UL, "sysfs", 0 },
    { 0x1373UL, "devfs", 0 },
    { 0x1CD1UL, "devpts", 0 },
    { 0x27E0EBUL, "cgroup", 0 },
    { 0x63677270UL, "cgroup2", 0 },
    { 0x61756673UL, "aufs", 0 },
    /* network and cluster file systems */
    { 0x6969UL, "nfs", AFS_FS_VOLUME_NETWORK },
    { 0xFF534D42UL, "cifs", AFS_FS_VOLUME_NETWORK },
    { 0xFE534D42UL, "smb2", AFS_FS_VOLUME_NETWORK },
    { 0x517BUL, "smb", AFS_FS_VOLUME_NETWORK },
    { 0x65735546UL, "fuse", AFS_FS_VOLUME_NETWORK },
    { 0x01021997UL, "9p", AFS_FS_VOLUME_NETWORK },
    { 0x00C36400UL, "ceph", AFS_FS_VOLUME_NETWORK },
    { 0x5346414FUL, "afs", AFS_FS_VOLUME_NETWORK },
    { 0x73757245UL, "coda", AFS_FS_VOLUME_NETWORK },
    { 0x564CUL, "ncpfs", AFS_FS_VOLUME_NETWORK },
    { 0x0BD00BD0UL, "lustre", AFS_FS_VOLUME_NETWORK },
    { 0x20030528UL, "orangefs", AFS_FS_VOLUME_NETWORK },
    { 0x47504653UL, "gpfs", AFS_FS_VOLUME_NETWORK },
    { 0x01161970UL, "gfs2", AFS_FS_VOLUME_NETWORK },
    { 0x7461636FUL, "ocfs2", AFS_FS_VOLUME_NETWORK },
    { 0x786F4256UL, "vboxsf", AFS_FS_VOLUME_NETWORK },
};

int afs__fs_magic_describe(unsigned long magic, const char **name, uint32_t *flags)
{
    /* f_type is a signed long on some ABIs; the magic is the low 32 bits. */
    magic &= 0xFFFFFFFFUL;
    for (size_t i = 0; i < AFS__ARRAY_LEN(fs_magics); i++) {
        if (fs_magics[i].magic != magic)
            continue;
        if (name)
            *name = fs_magics[i].name;
        if (flags)
            *flags = fs_magics[i].flags;
        return 1;
    }
    if (name)
        *name = NULL;
    if (flags)
        *flags = 0;
    return 0;
}

/* "ext4" or "unknown-0x1234abcd" into buf. */
static void fs_type_name(unsigned long magic, char *buf, size_t cap)
{
    const char *name;
    if (afs__fs_magic_describe(magic, &name, NULL))
        snprintf(buf, cap, "%s", name);
    else
        snprintf(buf, cap, "unknown-0x%lx", magic & 0xFFFFFFFFUL);
}

/* ---- small helpers ---- */

static int64_t ts_ns(int64_t sec, uint32_t nsec)
{
    return sec * NS_PER_SEC + (int64_t)nsec;
}

/* Split nanoseconds into a timespec; tv_nsec stays in [0, 1e9) for times
 * before 1970 too, as utimensat requires. */
static struct timespec ns_ts(int64_t ns)
{
    struct timespec ts;
    int64_t sec = ns / NS_PER_SEC;
    int64_t rem = ns % NS_PER_SEC;
    if (rem < 0) {
        rem += NS_PER_SEC;
        sec--;
    }
    ts.tv_sec = (time_t)sec;
    ts.tv_nsec = (long)rem;
    return ts;
}

static uint32_t mode_type(uint32_t mode)
{
    if (S_ISREG(mode))
        return AFS_TYPE_FILE;
    if (S_ISDIR(mode))
        return AFS_TYPE_DIR;
    if (S_ISLNK(mode))
        return AFS_TYPE_SYMLINK;
    return AFS_TYPE_OTHER;
}

static void fill_stat(const struct statx *sx, afs_fs_stat *out)
{
    memset(out, 0, sizeof(*out));
    out->type = mode_type(sx->stx_mode);
    out->mode = sx->stx_mode & 0777;
    out->nlink = sx->stx_nlink;
    out->size = sx->stx_size;
    out->alloc_bytes = sx->stx_blocks * 512; /* st_blocks counts 512-byte units */
    out->file_id = sx->stx_ino;
    out->mtime_ns = ts_ns(sx->stx_mtime.tv_sec, sx->stx_mtime.tv_nsec);
    out->ctime_ns = ts_ns(sx->stx_ctime.tv_sec, sx->stx_ctime.tv_nsec);
    out->atime_ns = ts_ns(sx->stx_atime.tv_sec, sx->stx_atime.tv_nsec);
    /* Birth time only where the file system keeps it; otherwise 0 ("unknown"). */
    if (sx->stx_mask & STATX_BTIME)
        out->btime_ns = ts_ns(sx->stx_btime.tv_sec, sx->stx_btime.tv_nsec);
}

/* Name the file system of an open fd for messages ("tmpfs"). */
static void fd_fs_name(int fd, char *buf, size_t cap)
{
    struct statfs sf;
    if (fstatfs(fd, &sf) == 0)
        fs_type_name((unsigned long)sf.f_type, buf, cap);
    else
        snprintf(buf, cap, "unknown");
}

static void path_fs_name(const char *path, char *buf, size_t cap)
{
    struct statfs sf;
    if (statfs(path, &sf) == 0)
        fs_type_name((unsigned long)sf.f_type, buf, cap);
    else
        snprintf(buf, cap, "unknown");
}

static int check_offset(const char *what, const char *path, uint64_t offset)
{
    if (offset > (uint64_t)INT64_MAX)
        return afs__error_set(AFS_EINVAL, "%s %s: offset %llu is out of range", what, path,
                              (unsigned long long)offset);
    return 0;
}

/* ---- stat ---- */

static int posix_stat(void *ctx, const char *path, afs_fs_stat *out)
{
    struct statx sx;
    (void)ctx;
    if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, &sx) != 0)
        return afs__error_errno(errno, "stat %s", path);
    fill_stat(&sx, out);
    return 0;
}

/* ---- directories ---- */

static int posix_dir_open(void *ctx, const char *path, void **dir)
{
    struct posix_dir *d = NULL;
    size_t plen = strlen(path);
    int fd = -1;
    int rc = 0;
    (void)ctx;

    *dir = NULL;
    d = afs__malloc(sizeof(*d) + plen + 1);
    if (!d) {
        rc = AFS_ENOMEM;
        goto done;
    }
    memcpy(d->path, path, plen + 1);
    /* O_NOFOLLOW: enumeration never goes through a final symlink, like stat. */
    fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        rc = afs__error_errno(errno, "opendir %s", path);
        goto done;
    }
    d->dir = fdopendir(fd);
    if (!d->dir) {
        rc = afs__error_errno(errno, "opendir %s", path);
        goto done;
    }
    fd = -1; /* owned by the DIR now */
    *dir = d;
    d = NULL;
done:
    if (fd >= 0)
        close(fd);
    free(d);
    return rc;
}

static uint32_t dirent_type(unsigned char t)
{
    switch (t) {
    case DT_UNKNOWN: return AFS_TYPE_UNKNOWN;
    case DT_REG: return AFS_TYPE_FILE;
    case DT_DIR: return AFS_TYPE_DIR;
    case DT_LNK: return AFS_TYPE_SYMLINK;
    default: return AFS_TYPE_OTHER;
    }
}

static int posix_dir_read(void *ctx, void *dir, afs_fs_dirent *out)
{
    struct posix_dir *d = dir;
    struct dirent *e;
    (void)ctx;
    for (;;) {
        /* readdir() returns NULL both at the end and on error; errno tells. */
        errno = 0;
        e = readdir(d->dir);
        if (!e) {
            if (errno != 0)
                return afs__error_errno(errno, "readdir %s", d->path);
            return AFS_EITEROVER;
        }
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        /* d_name lives in the DIR's buffer until the next readdir: the
         * lifetime the contract promises. */
        out->name = e->d_name;
        out->type = dirent_type(e->d_type);
        return 0;
    }
}

static int posix_dir_stat(void *ctx, void *dir, const char *name, afs_fs_stat *out)
{
    struct posix_dir *d = dir;
    struct statx sx;
    (void)ctx;
    if (!name[0] || strchr(name, '/'))
        return afs__error_set(AFS_EINVAL, "stat in %s: \"%s\" is not a single name", d->path,
                              name);
    if (statx(dirfd(d->dir), name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME,
              &sx) != 0)
        return afs__error_errno(errno, "stat %s/%s", d->path, name);
    fill_stat(&sx, out);
    return 0;
}

static void posix_dir_close(void *ctx, void *dir)
{
    struct posix_dir *d = dir;
    (void)ctx;
    if (!d)
        return;
    closedir(d->dir);
    free(d);
}

/* ---- files ---- */

static int posix_open(void *ctx, const char *path, unsigned int flags, void **fh)
{
    const unsigned int known = AFS_FS_O_READ | AFS_FS_O_WRITE | AFS_FS_O_CREATE |
                               AFS_FS_O_EXCL | AFS_FS_O_TRUNC;
    struct posix_file *f = NULL;
    size_t plen = strlen(path);
    struct stat st;
    int oflags = O_NOFOLLOW | O_CLOEXEC;
    int fd = -1;
    int fl;
    int rc = 0;
    (void)ctx;

    *fh = NULL;
    if ((flags & ~known) || !(flags & (AFS_FS_O_READ | AFS_FS_O_WRITE))) {
        rc = afs__error_set(AFS_EINVAL, "open %s: invalid flags 0x%x", path, flags);
        goto done;
    }
    if ((flags & AFS_FS_O_READ) && (flags & AFS_FS_O_WRITE))
        oflags |= O_RDWR;
    else if (flags & AFS_FS_O_WRITE)
        oflags |= O_WRONLY;
    else
        oflags |= O_RDONLY;
    if (flags & AFS_FS_O_CREATE)
        oflags |= O_CREAT;
    if (flags & AFS_FS_O_EXCL)
        oflags |= O_EXCL;
    if (flags & AFS_FS_O_TRUNC)
        oflags |= O_TRUNC;
    /* O_NONBLOCK so that a FIFO found at the path cannot hang the open; it
     * is refused below and has no effect on regular files. */
    oflags |= O_NONBLOCK;

    f = afs__malloc(sizeof(*f) + plen + 1);
    if (!f) {
        rc = AFS_ENOMEM;
        goto done;
    }
    memcpy(f->path, path, plen + 1);
    /* Reading for sync is not an access: it must not touch atime (the
     * tiering heat is the host's to report) and would dirty every inode
     * read, for the next fsync or syncfs to write back. O_NOATIME is only
     * allowed to the file's owner (or CAP_FOWNER): otherwise, plain. */
    if ((oflags & O_ACCMODE) == O_RDONLY) {
        fd = open(path, oflags | O_NOATIME, 0666);
        if (fd < 0 && errno == EPERM)
            fd = open(path, oflags, 0666);
    } else {
        fd = open(path, oflags, 0666);
    }
    if (fd < 0) {
        if (errno == ELOOP)
            rc = afs__error_errno(errno, "open %s (a final symbolic link is never followed)",
                                  path);
        else
            rc = afs__error_errno(errno, "open %s", path);
        goto done;
    }
    if (fstat(fd, &st) != 0) {
        rc = afs__error_errno(errno, "open %s: fstat", path);
        goto done;
    }
    /* Linux lets O_RDONLY open a directory; the contract says regular files. */
    if (S_ISDIR(st.st_mode)) {
        rc = afs__error_errno(EISDIR, "open %s", path);
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = afs__error_set(AFS_EINVAL, "open %s: not a regular file", path);
        goto done;
    }
    fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        rc = afs__error_errno(errno, "open %s: fcntl", path);
        goto done;
    }
    f->fd = fd;
    fd = -1;
    *fh = f;
    f = NULL;
done:
    if (fd >= 0)
        close(fd);
    free(f);
    return rc;
}

static int posix_read(void *ctx, void *fh, uint64_t offset, void *buf, size_t len,
                      size_t *nread)
{
    struct posix_file *f = fh;
    unsigned char *p = buf;
    size_t done = 0;
    int rc;
    (void)ctx;

    *nread = 0;
    rc = check_offset("read", f->path, offset);
    if (rc)
        return rc;
    /* pread may return less than asked before the end; loop until len or EOF. */
    while (done < len) {
        size_t want = len - done < IO_CHUNK ? len - done : IO_CHUNK;
        ssize_t n = pread(f->fd, p + done, want, (off_t)(offset + done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return afs__error_errno(errno, "read %s at offset %llu", f->path,
                                    (unsigned long long)(offset + done));
        }
        if (n == 0)
            break;
        done += (size_t)n;
    }
    *nread = done;
    return 0;
}

static int posix_write(void *ctx, void *fh, uint64_t offset, const void *buf, size_t len)
{
    struct posix_file *f = fh;
    const unsigned char *p = buf;
    size_t done = 0;
    int rc;
    (void)ctx;

    rc = check_offset("write", f->path, offset);
    if (rc)
        return rc;
    while (done < len) {
        size_t want = len - done < IO_CHUNK ? len - done : IO_CHUNK;
        ssize_t n = pwrite(f->fd, p + done, want, (off_t)(offset + done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return afs__error_errno(errno, "write %s at offset %llu", f->path,
                                    (unsigned long long)(offset + done));
        }
        /* A zero-byte write with bytes left would loop forever; the kernel
         * only does that when it cannot store more. */
        if (n == 0)
            return afs__error_set(AFS_EIO, "write %s at offset %llu: no progress", f->path,
                                  (unsigned long long)(offset + done));
        done += (size_t)n;
    }
    return 0;
}

static int posix_fstat(void *ctx, void *fh, afs_fs_stat *out)
{
    struct posix_file *f = fh;
    struct statx sx;
    (void)ctx;
    if (statx(f->fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS | STATX_BTIME, &sx) != 0)
        return afs__error_errno(errno, "fstat %s", f->path);
    fill_stat(&sx, out);
    return 0;
}

static int posix_truncate(void *ctx, void *fh, uint64_t size)
{
    struct posix_file *f = fh;
    int rc;
    (void)ctx;
    rc = check_offset("truncate", f->path, size);
    if (rc)
        return rc;
    /* Growing with ftruncate allocates nothing: the new range is a hole. */
    if (ftruncate(f->fd, (off_t)size) != 0)
        return afs__error_errno(errno, "truncate %s to %llu bytes", f->path,
                                (unsigned long long)size);
    return 0;
}

static int posix_fsync(void *ctx, void *fh)
{
    struct posix_file *f = fh;
    (void)ctx;
    if (fsync(f->fd) != 0)
        return afs__error_errno(errno, "fsync %s", f->path);
    return 0;
}

static int posix_close(void *ctx, void *fh)
{
    struct posix_file *f = fh;
    int rc = 0;
    (void)ctx;
    if (!f)
        return 0;
    /* Linux releases the descriptor even when close() fails, so it is never
     * retried. EINTR says nothing about the data (fsync does): not an error.
     * Anything else (EIO, ENOSPC on NFS) is a lost write and is reported. */
    if (close(f->fd) != 0 && errno != EINTR)
        rc = afs__error_errno(errno, "close %s", f->path);
    free(f);
    return rc;
}

static int posix_punch_hole(void *ctx, void *fh, uint64_t offset, uint64_t len)
{
    struct posix_file *f = fh;
    char fsname[32];
    int rc;
    (void)ctx;

    rc = check_offset("punch_hole", f->path, offset);
    if (rc)
        return rc;
    if (len == 0)
        return 0; /* fallocate refuses an empty range; nothing to free */
    if (len > (uint64_t)INT64_MAX - offset)
        return afs__error_set(AFS_EINVAL, "punch_hole %s: range %llu+%llu is out of range",
                              f->path, (unsigned long long)offset, (unsigned long long)len);
    if (fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset,
                  (off_t)len) != 0) {
        int err = errno;
        if (err == EOPNOTSUPP) {
            fd_fs_name(f->fd, fsname, sizeof(fsname));
            return afs__error_set(AFS_ENOTSUP,
                                  "punch_hole %s: the %s file system does not support holes "
                                  "(fallocate PUNCH_HOLE); cloud tiering needs them",
                                  f->path, fsname);
        }
        return afs__error_errno(err, "punch_hole %s at %llu+%llu", f->path,
                                (unsigned long long)offset, (unsigned long long)len);
    }
    return 0;
}

/* ---- names ---- */

int afs__fs_posix_rename_by_link(const char *from, const char *to)
{
    struct stat st;
    if (lstat(from, &st) != 0)
        return afs__error_errno(errno, "rename %s to %s", from, to);
    /* Directories cannot be hard-linked: no atomic no-replace move for them. */
    if (!S_ISREG(st.st_mode))
        return afs__error_set(AFS_ENOTSUP,
                              "rename %s to %s: the file system has no RENAME_NOREPLACE and "
                              "only regular files can be moved by link+unlink",
                              from, to);
    /* link() never replaces: EEXIST if `to` appeared, atomically. */
    if (link(from, to) != 0)
        return afs__error_errno(errno, "rename %s to %s (link)", from, to);
    if (unlink(from) != 0) {
        int err = errno;
        /* Put things back so the caller sees the rename as not done. */
        unlink(to);
        return afs__error_errno(err, "rename %s to %s (unlink)", from, to);
    }
    return 0;
}

static int posix_rename(void *ctx, const char *from, const char *to, unsigned int flags)
{
    (void)ctx;
    if (flags & ~AFS_FS_RENAME_NOREPLACE)
        return afs__error_set(AFS_EINVAL, "rename %s to %s: invalid flags 0x%x", from, to,
                              flags);
    if (!(flags & AFS_FS_RENAME_NOREPLACE)) {
        if (rename(from, to) != 0)
            return afs__error_errno(errno, "rename %s to %s", from, to);
        return 0;
    }
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    /* Some file systems (older NFS, CIFS, FUSE) refuse the flag with EINVAL,
     * old kernels lack the call (ENOSYS). */
    if (errno == EINVAL || errno == ENOSYS)
        return afs__fs_posix_rename_by_link(from, to);
    return afs__error_errno(errno, "rename %s to %s", from, to);
}

static int posix_unlink(void *ctx, const char *path)
{
    (void)ctx;
    if (unlink(path) != 0)
        return afs__error_errno(errno, "unlink %s", path);
    return 0;
}

static int posix_mkdir(void *ctx, const char *path)
{
    (void)ctx;
    if (mkdir(path, 0777) != 0)
        return afs__error_errno(errno, "mkdir %s", path);
    return 0;
}

static int posix_rmdir(void *ctx, const char *path)
{
    (void)ctx;
    if (rmdir(path) != 0)
        return afs__error_errno(errno, "rmdir %s", path);
    return 0;
}

static int posix_sync_dir(void *ctx, const char *path)
{
    int fd;
    int rc = 0;
    (void)ctx;
    fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return afs__error_errno(errno, "sync_dir %s", path);
    if (fsync(fd) != 0) {
        /* Some file systems cannot fsync a directory (EINVAL); their entries
         * are as durable as they will get, like a NULL sync_dir slot. */
        if (errno == EINVAL)
            afs__log(AFS_LOG_DEBUG, "sync_dir %s: not supported by the file system", path);
        else
            rc = afs__error_errno(errno, "sync_dir %s", path);
    }
    if (close(fd) != 0 && rc == 0 && errno != EINTR)
        rc = afs__error_errno(errno, "sync_dir %s: close", path);
    return rc;
}

static int posix_set_times(void *ctx, const char *path, int64_t atime_ns, int64_t mtime_ns)
{
    struct timespec ts[2];
    (void)ctx;
    ts[0] = ns_ts(atime_ns);
    ts[1] = ns_ts(mtime_ns);
    if (atime_ns == AFS_TIME_OMIT)
        ts[0].tv_nsec = UTIME_OMIT;
    if (mtime_ns == AFS_TIME_OMIT)
        ts[1].tv_nsec = UTIME_OMIT;
    if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) != 0)
        return afs__error_errno(errno, "set_times %s", path);
    return 0;
}

/* ---- the tier marker ---- */

static int xattr_error(int err, const char *what, const char *path)
{
    char fsname[32];
    if (err == ENODATA)
        return afs__error_set(AFS_ENOTFOUND, "%s %s: no tier marker", what, path);
    if (err == ENOTSUP) {
        path_fs_name(path, fsname, sizeof(fsname));
        return afs__error_set(AFS_ENOTSUP,
                              "%s %s: the %s file system does not support user extended "
                              "attributes, which hold the tier marker",
                              what, path, fsname);
    }
    return afs__error_errno(err, "%s %s", what, path);
}

static int posix_marker_get(void *ctx, const char *path, void *buf, size_t cap, size_t *len)
{
    ssize_t n;
    (void)ctx;
    *len = 0;
    /* With cap 0 the kernel reports the size without copying. */
    n = lgetxattr(path, MARKER_XATTR, buf, cap);
    if (n < 0 && errno != ERANGE)
        return xattr_error(errno, "marker_get", path);
    if (n < 0) {
        n = lgetxattr(path, MARKER_XATTR, NULL, 0);
        if (n < 0)
            return xattr_error(errno, "marker_get", path);
    }
    *len = (size_t)n;
    if ((size_t)n > cap)
        return afs__error_set(AFS_EINVAL,
                              "marker_get %s: buffer of %zu bytes, the marker has %zu", path,
                              cap, (size_t)n);
    return 0;
}

static int posix_marker_set(void *ctx, const char *path, const void *buf, size_t len)
{
    (void)ctx;
    if (len > AFS_FS_MARKER_MAX)
        return afs__error_set(AFS_EINVAL, "marker_set %s: %zu bytes is over the %d-byte limit",
                              path, len, AFS_FS_MARKER_MAX);
    if (lsetxattr(path, MARKER_XATTR, buf, len, 0) != 0)
        return xattr_error(errno, "marker_set", path);
    return 0;
}

static int posix_marker_remove(void *ctx, const char *path)
{
    (void)ctx;
    if (lremovexattr(path, MARKER_XATTR) != 0)
        return xattr_error(errno, "marker_remove", path);
    return 0;
}

/* ---- volumes ---- */

static int posix_volume(void *ctx, const char *path, afs_fs_volume *out)
{
    struct posix_ctx *pc = ctx;
    struct statfs sf;
    struct statvfs sv;
    struct stat st;
    uint64_t frsize;
    uint32_t flags = 0;

    /* All three follow symlinks: the volume is the one the path leads to. */
    if (stat(path, &st) != 0)
        return afs__error_errno(errno, "volume %s", path);
    if (statfs(path, &sf) != 0)
        return afs__error_errno(errno, "volume %s: statfs", path);
    if (statvfs(path, &sv) != 0)
        return afs__error_errno(errno, "volume %s: statvfs", path);

    memset(out, 0, sizeof(*out));
    frsize = sv.f_frsize ? sv.f_frsize : sv.f_bsize;
    out->total_bytes = (uint64_t)sv.f_blocks * frsize;
    /* f_bavail, not f_bfree: blocks reserved for root are not ours to fill. */
    out->free_bytes = (uint64_t)sv.f_bavail * frsize;
    out->block_size = frsize > UINT32_MAX ? UINT32_MAX : (uint32_t)frsize;

    /* f_fsid is derived from the file system's UUID on ext4/xfs/btrfs, so it
     * survives reboots and device renumbering; st_dev is the fallback. */
    if (sf.f_fsid.__val[0] != 0 || sf.f_fsid.__val[1] != 0)
        snprintf(out->id, sizeof(out->id), "fsid:%08x%08x", (unsigned)sf.f_fsid.__val[0],
                 (unsigned)sf.f_fsid.__val[1]);
    else
        snprintf(out->id, sizeof(out->id), "dev:%u:%u", major(st.st_dev), minor(st.st_dev));

    fs_type_name((unsigned long)sf.f_type, out->fs_type, sizeof(out->fs_type));
    afs__fs_magic_describe((unsigned long)sf.f_type, NULL, &flags);
    if (pc->root_known && st.st_dev == pc->root_dev)
        flags |= AFS_FS_VOLUME_SYSTEM;
    out->flags = flags;
    return 0;
}

static int posix_canonicalize(void *ctx, const char *path, char *buf, size_t cap)
{
    char *real;
    size_t n;
    int rc = 0;
    (void)ctx;
    real = realpath(path, NULL);
    if (!real)
        return afs__error_errno(errno, "canonicalize %s", path);
    n = strlen(real);
    if (n + 1 > cap) {
        rc = afs__error_set(AFS_EINVAL, "canonicalize %s: %zu-byte buffer, need %zu", path,
                            cap, n + 1);
        goto done;
    }
    memcpy(buf, real, n + 1);
done:
    free(real);
    return rc;
}

/* ---- registration ---- */

/* AFS_FS_CTL_WRITE_LEASE by a Linux write lease on the handle's descriptor
 * (fs.h). Its break signal is SIGURG, ignored by default, so that a lease
 * break never kills the process; the library only polls F_GETLEASE. */
static int posix_lease(afs_fs_lease *l)
{
    struct posix_file *f = l->fh;
    int cur;
    if (!f)
        return afs__error_set(AFS_EINVAL, "posix ctl: a file handle is required");
    switch (l->op) {
    case AFS_FS_LEASE_TAKE:
        if (fcntl(f->fd, F_SETSIG, SIGURG) != 0)
            return afs__error_set(AFS_ENOTSUP, "%s: no lease signal: %s", f->path,
                                  strerror(errno));
        if (fcntl(f->fd, F_SETLEASE, F_WRLCK) == 0)
            return 0;
        if (errno == EAGAIN || errno == EBUSY)
            return afs__error_set(AFS_EBUSY, "%s is open by another process", f->path);
        /* EACCES (not the owner, no CAP_LEASE), EINVAL (no leases here). */
        return afs__error_set(AFS_ENOTSUP, "%s: no write lease: %s", f->path,
                              strerror(errno));
    case AFS_FS_LEASE_CHECK:
        cur = fcntl(f->fd, F_GETLEASE);
        if (cur < 0)
            return afs__error_errno(errno, "%s: lease", f->path);
        return cur == F_WRLCK ? 0 : afs__error_set(AFS_EBUSY, "%s was opened by another "
                                                   "process", f->path);
    case AFS_FS_LEASE_RELEASE:
        if (fcntl(f->fd, F_SETLEASE, F_UNLCK) != 0 && errno != EAGAIN)
            return afs__error_errno(errno, "%s: lease release", f->path);
        return 0;
    default:
        return afs__error_set(AFS_EINVAL, "posix ctl: unknown lease operation %d", l->op);
    }
}

/* ctl: AFS_FS_CTL_HAS_HOLES by SEEK_HOLE, confirmed by the allocated
 * blocks (a file system without SEEK_HOLE reports no hole at all);
 * AFS_FS_CTL_WRITE_LEASE by posix_lease. */
static int posix_ctl(void *ctx, int op, void *arg)
{
    const char *path = arg;
    struct stat st;
    off_t hole;
    int fd, err;
    (void)ctx;
    if (op == AFS_FS_CTL_WRITE_LEASE && arg)
        return posix_lease(arg);
    if (op != AFS_FS_CTL_HAS_HOLES)
        return afs__error_set(AFS_ENOTSUP, "posix ctl: unknown operation %d", op);
    if (!path)
        return afs__error_set(AFS_EINVAL, "posix ctl: a path is required");
    if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
        return afs__error_errno(errno, "open %s", path);
    if (fstat(fd, &st) != 0) {
        err = errno;
        close(fd);
        return afs__error_errno(err, "stat %s", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return afs__error_set(AFS_EINVAL, "%s is not a regular file", path);
    }
    hole = st.st_size ? lseek(fd, 0, SEEK_HOLE) : 0;
    err = errno;
    close(fd);
    if (hole < 0)
        return err == EINVAL || err == ENXIO ? 1 : afs__error_errno(err, "seek %s", path);
    return hole < st.st_size || (uint64_t)st.st_blocks * 512 < (uint64_t)st.st_size;
}

static void posix_release(void *ctx)
{
    free(ctx);
}

int afs_fs_posix_new(afs_fs **out)
{
    static const afs_fs_ops ops = {
        .version = AFS_FS_OPS_VERSION,
        .release = posix_release,
        .ctl = posix_ctl,
        .stat = posix_stat,
        .dir_open = posix_dir_open,
        .dir_read = posix_dir_read,
        .dir_close = posix_dir_close,
        .dir_stat = posix_dir_stat,
        .open = posix_open,
        .read = posix_read,
        .write = posix_write,
        .fstat = posix_fstat,
        .truncate = posix_truncate,
        .fsync = posix_fsync,
        .close = posix_close,
        .punch_hole = posix_punch_hole,
        .rename = posix_rename,
        .unlink = posix_unlink,
        .mkdir = posix_mkdir,
        .rmdir = posix_rmdir,
        .sync_dir = posix_sync_dir,
        .set_times = posix_set_times,
        .marker_get = posix_marker_get,
        .marker_set = posix_marker_set,
        .marker_remove = posix_marker_remove,
        .volume = posix_volume,
        .canonicalize = posix_canonicalize,
    };
    struct posix_ctx *pc;
    struct stat root;
    int rc;

    if (!out)
        return afs__error_set(AFS_EINVAL, "afs_fs_posix_new: out must not be NULL");
    *out = NULL;
    pc = afs__calloc(1, sizeof(*pc));
    if (!pc)
        return AFS_ENOMEM;
    /* Once, here: the system volume does not move while the process runs. */
    if (stat("/", &root) == 0) {
        pc->root_dev = root.st_dev;
        pc->root_known = 1;
    } else {
        afs__log(AFS_LOG_WARN, "stat /: %s; no volume will be reported as the system volume",
                 strerror(errno));
    }
    rc = afs_fs_new(out, &ops, pc);
    if (rc != 0)
        free(pc);
    return rc;
}

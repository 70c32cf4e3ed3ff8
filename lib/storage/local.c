/*
 * The embedded default storage backend: a local directory used as a cloud
 * share (docs/guide-storage-vtable.md#the-local-backend).
 *
 * Objects are plain files and directories at <root>/<path>, so the share
 * stays browsable. Private files live under <root>/.libafs/: temps in tmp/,
 * the lock file `lock`. Every path is resolved component by component from
 * the root fd with O_NOFOLLOW, so a symlink planted inside the share can
 * never redirect a read or a write outside it; symlinks and special files
 * are not objects.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/openat2.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "../core/internal.h"

#define LOCAL_PAGE_SIZE 1000
/* Bytes a put buffers at a time: with dozens of puts in flight, memory stays small. */
#define LOCAL_CHUNK (64u * 1024u) /* a put's buffer: 128 puts in flight hold 8 MiB */
#define LOCAL_TEMP_MAX_AGE_S (24 * 3600)
/* A replacing put's temp beside its object: .libafs~<host>~<pid>~<hex>.tmp
 * (never listed; removed by the listing or rmdir that meets it once its
 * writer is gone). */
#define LOCAL_NEAR_PREFIX ".libafs~"
/* Lock slots: byte offsets in the lock file chosen by a hash of the path. */
#define LOCAL_LOCK_SLOTS 65536u
/* Puts in flight that the group commit serves well (AFS_STORAGE_CTL_CONCURRENCY). */
#define LOCAL_CONCURRENCY 128
/* Lock file descriptors kept open for reuse (each its own open file description). */
#define LOCAL_LOCK_POOL 64
#define XATTR_ATTR "user.afs.attr"
#define XATTR_META_PREFIX "user.afs.m."

struct local {
    int rootfd;  /* O_RDONLY|O_DIRECTORY: O_PATH would not allow fsync of the root */
    int privfd;  /* <root>/.libafs/local */
    int tmpfd;   /* <root>/.libafs/tmp */
    uint32_t flags;
    char *root;  /* for messages only; never used to reach a file */
    char host[65];
    uint64_t temp_base;   /* random, per handle: temp names without a getrandom each */
    uint64_t temp_count;  /* atomic */
    int no_openat2;       /* atomic: openat2 is missing or refused here */
    bool tmpfile;         /* O_TMPFILE and linking it through /proc work here */
    /* Lock file descriptors for reuse, valid in the process that opened them. */
    pthread_mutex_t pool_lock;
    int lock_pool[LOCAL_LOCK_POOL];
    int lock_pooled;
    pid_t lock_pid;
    /* Group commit (group_sync): a committer thread runs syncfs after
     * syncfs while anyone waits; one makes the writes of all waiting durable. */
    bool group;            /* syncfs is usable: same file system, errors reported */
    dev_t dev;             /* the root's file system */
    pthread_mutex_t sync_lock;  /* only to start the committer */
    pthread_t committer;
    pid_t committer_pid;   /* the process the committer runs in; 0: none (atomic) */
    int committer_stop;    /* the rest atomic */
    uint32_t sync_work;    /* futex word: the committer sleeps here */
    int sync_running;      /* a syncfs is under way */
    uint32_t sync_lone;    /* a lone caller's fsync is under way */
    uint64_t sync_started; /* syncfs calls begun */
    uint64_t sync_done;    /* the last one finished */
    uint64_t sync_need;    /* the highest syncfs number a waiter needs */
    uint32_t sync_gen[2];  /* futex words: bumped when syncfs number n finishes, n & 1 */
    uint64_t sync_failed;  /* number of the last syncfs that failed, 0: none */
    int sync_errno;
    /* For the debug log at release (atomic). */
    uint64_t stat_syncfs, stat_fsync, stat_covered, stat_sync_ns, stat_wait_ns;
    /* AFS_STORAGE_CTL_DEFER_NAMES: name changes wait for a barrier. */
    bool defer;
    uint64_t names_need;  /* the syncfs number that makes every deferred change durable */
};

/* This process's id without a system call each time (several per put);
 * forgotten in a fork()ed child. */
static pid_t pid_cached;
static pthread_once_t pid_once = PTHREAD_ONCE_INIT;

static void pid_forget(void)
{
    __atomic_store_n(&pid_cached, 0, __ATOMIC_RELAXED);
}

static void pid_init(void)
{
    pthread_atfork(NULL, NULL, pid_forget);
}

static pid_t my_pid(void)
{
    pid_t p = __atomic_load_n(&pid_cached, __ATOMIC_RELAXED);
    if (p == 0) {
        pthread_once(&pid_once, pid_init);
        p = getpid();
        __atomic_store_n(&pid_cached, p, __ATOMIC_RELAXED);
    }
    return p;
}

static bool local_sync(const struct local *l)
{
    return !(l->flags & AFS_STORAGE_LOCAL_NOSYNC);
}

static void futex_wait(uint32_t *word, uint32_t seen)
{
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
}

static void futex_wake(uint32_t *word, int n)
{
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_SEQ_CST)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_SEQ_CST)

/* Raise sync_need to at least `need`. */
static void need_at_least(struct local *l, uint64_t need)
{
    uint64_t have = LOAD(l->sync_need);
    while (have < need && !__atomic_compare_exchange_n(&l->sync_need, &have, need, true,
                                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        ;
}

/*
 * The committer: syncfs after syncfs while anyone waits for one. A thread
 * of its own, so the next syncfs starts the moment the last one ends --
 * not when a woken waiter next gets a CPU, behind every other woken thread.
 * It sleeps on the futex word sync_work when nobody waits.
 */
static void *committer_main(void *arg)
{
    struct local *l = arg;
    for (;;) {
        uint32_t work = LOAD(l->sync_work);
        uint64_t mine;
        int64_t t0;
        int r, e;
        if (LOAD(l->sync_need) <= LOAD(l->sync_done)) {
            if (LOAD(l->committer_stop))
                break;
            futex_wait(&l->sync_work, work);
            continue;
        }
        mine = LOAD(l->sync_started) + 1;
        STORE(l->sync_running, 1);
        STORE(l->sync_started, mine);
        t0 = afs__now_ns();
        r = syncfs(l->rootfd);
        e = errno;
        __atomic_add_fetch(&l->stat_sync_ns, (uint64_t)(afs__now_ns() - t0), __ATOMIC_RELAXED);
        __atomic_add_fetch(&l->stat_syncfs, 1, __ATOMIC_RELAXED);
        if (r != 0) {
            STORE(l->sync_errno, e ? e : EIO);
            STORE(l->sync_failed, mine);
        }
        STORE(l->sync_done, mine);
        STORE(l->sync_running, 0);
        /* Wake those who waited for this one only: waiters for the next
         * sleep on the other word (one per parity of the syncfs number). */
        __atomic_add_fetch(&l->sync_gen[mine & 1], 1, __ATOMIC_SEQ_CST);
        futex_wake(&l->sync_gen[mine & 1], INT_MAX);
    }
    return NULL;
}

/* Start the committer if this process has none (a fork()ed child does not
 * inherit it). False if no thread could be had. */
static bool committer_ensure(struct local *l)
{
    bool ok = true;
    if (LOAD(l->committer_pid) == my_pid())
        return true;
    pthread_mutex_lock(&l->sync_lock);
    if (l->committer_pid != my_pid()) {
        STORE(l->sync_running, 0);
        STORE(l->committer_stop, 0);
        if (pthread_create(&l->committer, NULL, committer_main, l) == 0)
            STORE(l->committer_pid, my_pid());
        else
            ok = false;
    }
    pthread_mutex_unlock(&l->sync_lock);
    return ok;
}

/* Stop and join the committer of this process, if it runs. */
static void committer_stop(struct local *l)
{
    if (LOAD(l->committer_pid) != my_pid())
        return;
    STORE(l->committer_stop, 1);
    __atomic_add_fetch(&l->sync_work, 1, __ATOMIC_SEQ_CST);
    futex_wake(&l->sync_work, 1);
    pthread_join(l->committer, NULL);
    STORE(l->committer_pid, 0);
}

/*
 * Make what was written before this call durable, sharing the work with
 * concurrent callers (group commit, as a database does with its log): a
 * syncfs that starts after our writes covers them, so a caller registers
 * for the next one and sleeps; the committer runs it for everyone waiting.
 * N waiting threads cost one syncfs instead of N fsyncs, each of which
 * writes and flushes the device's cache on its own. A caller with nobody
 * to share with fsyncs its own `fd` (cheaper than a syncfs); `fd` -1 (a
 * barrier) always takes a syncfs. No lock on this path: dozens of threads
 * come through it at once.
 */
static int group_sync_(struct local *l, int fd)
{
    uint64_t need;
    uint32_t *word;
    uint32_t lone = 0;
    int rc = 0;

    if (fd >= 0 && !LOAD(l->sync_running) && LOAD(l->sync_need) <= LOAD(l->sync_done) &&
        __atomic_compare_exchange_n(&l->sync_lone, &lone, 1, false, __ATOMIC_SEQ_CST,
                                    __ATOMIC_SEQ_CST)) {
        /* Alone: our own fsync; whoever comes meanwhile shares a syncfs. */
        int r = fsync(fd), e = errno;
        __atomic_add_fetch(&l->stat_fsync, 1, __ATOMIC_RELAXED);
        STORE(l->sync_lone, 0);
        errno = e;
        return r;
    }
    if (!committer_ensure(l))
        return fd >= 0 ? fsync(fd) : syncfs(l->rootfd);
    /* A syncfs that starts after this load covers what we wrote before it. */
    need = LOAD(l->sync_started) + 1;
    need_at_least(l, need);
    if (!LOAD(l->sync_running)) {
        __atomic_add_fetch(&l->sync_work, 1, __ATOMIC_SEQ_CST);
        futex_wake(&l->sync_work, 1);
    }
    word = &l->sync_gen[need & 1];
    for (;;) {
        uint32_t gen = LOAD(*word);
        if (LOAD(l->sync_done) >= need)
            break;
        futex_wait(word, gen);
    }
    __atomic_add_fetch(&l->stat_covered, 1, __ATOMIC_RELAXED);
    /* A failed syncfs that covered our writes fails us too: it reports a
     * write-back error once, to one caller. */
    if (LOAD(l->sync_failed) >= need)
        rc = LOAD(l->sync_errno);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    return 0;
}

static int group_sync(struct local *l, int fd)
{
    int64_t t0 = afs__now_ns();
    int rc = group_sync_(l, fd);
    __atomic_add_fetch(&l->stat_wait_ns, (uint64_t)(afs__now_ns() - t0), __ATOMIC_RELAXED);
    return rc;
}

/* Is fd on the root's file system, where a syncfs of the root reaches it? */
static bool on_root_fs(const struct local *l, int fd)
{
    struct stat st;
    return l->group && fstat(fd, &st) == 0 && st.st_dev == l->dev;
}

/* Make a temp's data and metadata durable: temps live on the root's file
 * system whenever group commit is on (checked at open). */
static int durable_temp(struct local *l, int fd)
{
    if (!local_sync(l))
        return 0;
    return l->group ? group_sync(l, fd) : fsync(fd);
}

/* Make fd's data and metadata durable (group commit on the root's file system). */
static int durable(struct local *l, int fd)
{
    if (!local_sync(l))
        return 0;
    if (on_root_fs(l, fd))
        return group_sync(l, fd);
    return fsync(fd);
}

/*
 * Make a name change in directory `dirfd` durable: now, or -- while
 * AFS_STORAGE_CTL_DEFER_NAMES is on -- at the next barrier. Contents never
 * wait: a put makes its temp durable before its name can appear. `on_root`
 * says whether dirfd is on the root's file system, -1 if not known.
 */
static int durable_name(struct local *l, int dirfd, int on_root)
{
    if (!local_sync(l))
        return 0;
    if (on_root < 0)
        on_root = on_root_fs(l, dirfd);
    if (on_root && l->group) {
        if (__atomic_load_n(&l->defer, __ATOMIC_ACQUIRE)) {
            /* The first syncfs to start from now on covers this change
             * (lock-free: every put comes through here). */
            uint64_t want = __atomic_load_n(&l->sync_started, __ATOMIC_ACQUIRE) + 1;
            uint64_t have = __atomic_load_n(&l->names_need, __ATOMIC_RELAXED);
            while (have < want && !__atomic_compare_exchange_n(&l->names_need, &have, want, true,
                                                                __ATOMIC_SEQ_CST,
                                                                __ATOMIC_RELAXED))
                ;
            /* Deferral ended meanwhile: its barrier may have missed us. */
            if (__atomic_load_n(&l->defer, __ATOMIC_SEQ_CST))
                return 0;
        }
        return group_sync(l, dirfd);
    }
    return fsync(dirfd);
}

/* AFS_STORAGE_CTL_BARRIER: every deferred name change durable. */
static int barrier(struct local *l)
{
    bool needed = __atomic_load_n(&l->sync_done, __ATOMIC_SEQ_CST) <
                  __atomic_load_n(&l->names_need, __ATOMIC_SEQ_CST);
    if (needed && group_sync(l, -1) != 0)
        return afs__error_errno(errno, "local storage: %s: syncfs", l->root);
    return 0;
}

/* syncfs reports write-back errors since Linux 5.8; before, only fsync does. */
static bool syncfs_reports_errors(void)
{
    struct utsname u;
    unsigned int major = 0, minor = 0;
    if (uname(&u) != 0 || sscanf(u.release, "%u.%u", &major, &minor) != 2)
        return false;
    return major > 5 || (major == 5 && minor >= 8);
}

static int64_t ts_ns(const struct statx_timestamp *t)
{
    return (int64_t)t->tv_sec * 1000000000 + (int64_t)t->tv_nsec;
}

static struct timespec ns_ts(int64_t ns)
{
    struct timespec ts;
    /* Floor division so times before 1970 keep 0 <= tv_nsec < 1e9. */
    ts.tv_sec = (time_t)(ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    if (ts.tv_nsec < 0) {
        ts.tv_nsec += 1000000000;
        ts.tv_sec--;
    }
    return ts;
}

static bool is_object(const struct statx *sx)
{
    return S_ISREG(sx->stx_mode) || S_ISDIR(sx->stx_mode);
}

/* The etag: inode, size, mtime and ctime. ctime moves on every content,
 * xattr, time or rename change, including edits by other programs. */
static void etag_of(const struct statx *sx, char *etag, size_t cap)
{
    snprintf(etag, cap, "\"%" PRIx64 "-%" PRIx64 "-%" PRIx64 "-%" PRIx64 "\"",
             (uint64_t)sx->stx_ino, (uint64_t)sx->stx_size, (uint64_t)ts_ns(&sx->stx_mtime),
             (uint64_t)ts_ns(&sx->stx_ctime));
}

static int statx_at(int dirfd, const char *name, struct statx *sx)
{
    unsigned int mask = STATX_TYPE | STATX_MODE | STATX_INO | STATX_SIZE | STATX_MTIME |
                        STATX_CTIME | STATX_BTIME;
    return statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_STATX_SYNC_AS_STAT, mask, sx);
}

static int fstatx(int fd, struct statx *sx)
{
    unsigned int mask = STATX_TYPE | STATX_MODE | STATX_INO | STATX_SIZE | STATX_MTIME |
                        STATX_CTIME | STATX_BTIME;
    return statx(fd, "", AT_EMPTY_PATH | AT_STATX_SYNC_AS_STAT, mask, sx);
}

static uint32_t attr_of_fd(int fd)
{
    char buf[16];
    ssize_t n = fgetxattr(fd, XATTR_ATTR, buf, sizeof(buf) - 1);
    if (n <= 0)
        return 0; /* none set, or no xattrs on this file system */
    buf[n] = '\0';
    return (uint32_t)strtoul(buf, NULL, 10);
}

static void entry_fill(const struct statx *sx, uint32_t attributes, afs_storage_entry *e)
{
    bool dir = S_ISDIR(sx->stx_mode);
    e->type = dir ? AFS_TYPE_DIR : AFS_TYPE_FILE;
    e->size = dir ? 0 : (uint64_t)sx->stx_size;
    e->mtime_ns = ts_ns(&sx->stx_mtime);
    e->btime_ns = (sx->stx_mask & STATX_BTIME) ? ts_ns(&sx->stx_btime) : 0;
    e->attributes = attributes;
    etag_of(sx, e->etag, sizeof(e->etag));
}

/* Open an object for reading its description without following a symlink
 * and without blocking on a fifo that replaced it after the type check. */
static int open_object(int dirfd, const char *name)
{
    return openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
}

/*
 * Describe `name` in `dirfd`. AFS_ENOTFOUND (without touching the thread's
 * error) when it is missing, a symlink or a special file.
 */
static int describe_at(int dirfd, const char *name, afs_storage_entry *e)
{
    struct statx sx;
    int fd;

    if (statx_at(dirfd, name, &sx) != 0)
        return errno == ENOENT ? AFS_ENOTFOUND : afs__errno_code(errno);
    if (!is_object(&sx))
        return AFS_ENOTFOUND;
    fd = open_object(dirfd, name);
    if (fd < 0) {
        if (errno == ENOENT || errno == ELOOP)
            return AFS_ENOTFOUND;
        entry_fill(&sx, 0, e); /* unreadable: describe without attributes */
        return 0;
    }
    /* Describe the inode we opened, so type, etag and attributes agree. */
    if (fstatx(fd, &sx) != 0 || !is_object(&sx)) {
        close(fd);
        return AFS_ENOTFOUND;
    }
    entry_fill(&sx, attr_of_fd(fd), e);
    close(fd);
    return 0;
}

/* ---- path resolution ---- */

/* Open one directory component under `dirfd`, creating it when asked. */
static int open_component(struct local *l, int dirfd, const char *name, const char *path,
                          bool create, int *out)
{
    for (int attempt = 0; attempt < 16; attempt++) {
        struct stat st;
        int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0) {
            *out = fd;
            return 0;
        }
        if (errno == ENOENT && create) {
            if (mkdirat(dirfd, name, 0777) == 0) {
                /* A new directory is durable only once its parent is synced. */
                if (durable_name(l, dirfd, -1) != 0)
                    return afs__error_errno(errno, "local storage: %s: fsync after mkdir", path);
                continue;
            }
            if (errno == EEXIST)
                continue; /* raced with another creator: open what is there */
            return afs__error_errno(errno, "local storage: %s: mkdir \"%s\"", path, name);
        }
        if (errno == ENOENT)
            return afs__error_set(AFS_ENOTFOUND, "local storage: %s: \"%s\" does not exist",
                                  path, name);
        if (errno == ELOOP || errno == ENOTDIR) {
            if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
                return afs__error_set(AFS_ENOTDIR, "local storage: %s: \"%s\" is a file", path,
                                      name);
            /* A symlink or special file is not an object and never followed. */
            return afs__error_set(create ? AFS_ENOTDIR : AFS_ENOTFOUND,
                                  "local storage: %s: \"%s\" is a symlink or special file, "
                                  "not followed",
                                  path, name);
        }
        return afs__error_errno(errno, "local storage: %s: open \"%s\"", path, name);
    }
    return afs__error_set(AFS_ETRANSIENT, "local storage: %s: \"%s\" keeps changing", path, name);
}

/*
 * Resolve the parent directory of `path`: *dirfd gets a fresh directory fd
 * (its own open file description, so concurrent listings do not share an
 * offset) and *leaf points at the last component inside `path` ("." for
 * the root). With `create`, missing parents are made.
 */
/*
 * Open the directory `dir` (`len` bytes, no trailing '/') below the root in
 * one call that refuses every symbolic link and never leaves the root
 * (openat2, Linux 5.6). -1 with errno set when that fails for any reason:
 * the caller then walks component by component, which also creates and
 * explains.
 */
static int open_beneath(struct local *l, const char *dir, size_t len, uint64_t extra)
{
    struct open_how how;
    char stackbuf[1024], *buf = stackbuf;
    int fd, e;

    if (__atomic_load_n(&l->no_openat2, __ATOMIC_RELAXED)) {
        errno = ENOSYS;
        return -1;
    }
    if (len >= sizeof(stackbuf) && !(buf = malloc(len + 1))) {
        errno = ENOMEM;
        return -1;
    }
    memcpy(buf, dir, len);
    buf[len] = '\0';
    memset(&how, 0, sizeof(how));
    how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | extra;
    fd = (int)syscall(SYS_openat2, l->rootfd, buf, &how, sizeof(how));
    e = errno;
    if (buf != stackbuf)
        free(buf);
    if (fd < 0 && e == ENOSYS)
        __atomic_store_n(&l->no_openat2, 1, __ATOMIC_RELAXED);
    errno = e;
    return fd;
}

static int resolve_parent(struct local *l, const char *path, bool create, int *dirfd,
                          const char **leaf)
{
    char comp[AFS_NAME_MAX + 1];
    const char *p = path;
    const char *slash;
    int cur, rc = 0;

    *dirfd = -1;
    if ((slash = strrchr(path, '/')) != NULL &&
        (cur = open_beneath(l, path, (size_t)(slash - path), 0)) >= 0) {
        *leaf = slash + 1;
        *dirfd = cur;
        return 0;
    }
    cur = openat(l->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cur < 0)
        return afs__error_errno(errno, "local storage: %s: open root", l->root);
    if (path[0] == '\0') {
        *leaf = ".";
        *dirfd = cur;
        return 0;
    }
    while ((slash = strchr(p, '/')) != NULL) {
        size_t n = (size_t)(slash - p);
        int next;
        if (n == 0 || n > AFS_NAME_MAX) {
            rc = afs__error_set(AFS_EINVALIDNAME, "local storage: %s: bad component", path);
            goto done;
        }
        memcpy(comp, p, n);
        comp[n] = '\0';
        if ((rc = open_component(l, cur, comp, path, create, &next)) != 0)
            goto done;
        close(cur);
        cur = next;
        p = slash + 1;
    }
    *leaf = p;
    *dirfd = cur;
    cur = -1;
done:
    if (cur >= 0)
        close(cur);
    return rc;
}

/* Open the directory `path` itself. */
static int resolve_dir(struct local *l, const char *path, int *out)
{
    const char *leaf;
    int parent, rc;

    *out = -1;
    if ((rc = resolve_parent(l, path, false, &parent, &leaf)) != 0)
        return rc;
    if (path[0] == '\0') {
        *out = parent;
        return 0;
    }
    rc = open_component(l, parent, leaf, path, false, out);
    close(parent);
    return rc;
}

/* ---- locking ---- */

static uint64_t path_slot(const char *path)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        h ^= *p;
        h *= 1099511628211ull;
    }
    return h % LOCAL_LOCK_SLOTS;
}

static int lock_range(int fd, uint64_t slot)
{
    struct flock fl;
    memset(&fl, 0, sizeof(fl));
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = (off_t)slot;
    fl.l_len = 1;
    while (fcntl(fd, F_OFD_SETLKW, &fl) != 0) {
        if (errno != EINTR)
            return -1;
    }
    return 0;
}

/*
 * Lock the names `a` and `b` (b may be NULL) against every other thread
 * and process. The lock file is opened per operation so each call owns a
 * distinct open file description: OFD locks then exclude threads of one
 * process and fork()ed children alike. Release by closing *fd.
 */
/* A lock file descriptor: one kept from an earlier operation of this
 * process, or a fresh one. Every descriptor has its own open file
 * description, so OFD locks on it exclude every other operation. */
static int lock_fd_get(struct local *l)
{
    int fd = -1;
    pthread_mutex_lock(&l->pool_lock);
    if (l->lock_pid != my_pid()) {
        /* A fork()ed child shares the parent's descriptions: never reuse
         * them (closing our copies leaves the parent's locks alone). */
        while (l->lock_pooled > 0)
            close(l->lock_pool[--l->lock_pooled]);
        l->lock_pid = my_pid();
    } else if (l->lock_pooled > 0) {
        fd = l->lock_pool[--l->lock_pooled];
    }
    pthread_mutex_unlock(&l->pool_lock);
    if (fd < 0)
        fd = openat(l->privfd, "lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0666);
    return fd;
}

static void lock_fd_put(struct local *l, int fd)
{
    pthread_mutex_lock(&l->pool_lock);
    if (l->lock_pid == my_pid() && l->lock_pooled < LOCAL_LOCK_POOL) {
        l->lock_pool[l->lock_pooled++] = fd;
        fd = -1;
    }
    pthread_mutex_unlock(&l->pool_lock);
    if (fd >= 0)
        close(fd);
}

static int lock_paths(struct local *l, const char *a, const char *b, int *fd_out)
{
    uint64_t s1 = path_slot(a), s2 = b ? path_slot(b) : s1;
    int fd, rc = 0;

    *fd_out = -1;
    fd = lock_fd_get(l);
    if (fd < 0)
        return afs__error_errno(errno, "local storage: %s: open lock file", a);
    if (s2 < s1) { /* always in ascending order, so two renames cannot deadlock */
        uint64_t t = s1;
        s1 = s2;
        s2 = t;
    }
    if (lock_range(fd, s1) != 0 || (s2 != s1 && lock_range(fd, s2) != 0)) {
        if (errno != EINVAL) {
            rc = afs__error_errno(errno, "local storage: %s: lock", a);
            goto done;
        }
        /* No OFD locks here (old kernel, some network file systems). */
        while (flock(fd, LOCK_EX) != 0) {
            if (errno != EINTR) {
                rc = afs__error_errno(errno, "local storage: %s: flock", a);
                goto done;
            }
        }
    }
    *fd_out = fd;
    fd = -1;
done:
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Release every lock taken on `fd` and keep it for the next operation. */
static void unlock_paths(struct local *l, int fd)
{
    struct flock fl;
    if (fd < 0)
        return;
    memset(&fl, 0, sizeof(fl));
    fl.l_type = F_UNLCK;
    fl.l_whence = SEEK_SET; /* l_start 0, l_len 0: the whole file */
    if (fcntl(fd, F_OFD_SETLK, &fl) != 0 && (errno != EINVAL || flock(fd, LOCK_UN) != 0)) {
        close(fd); /* closing releases whatever is left */
        return;
    }
    lock_fd_put(l, fd);
}

/* The current etag of `leaf`; AFS_ECONDITION if it is not a file or differs. */
static int check_etag_at(int dirfd, const char *leaf, const char *path, const char *if_match,
                         bool want_file)
{
    struct statx sx;
    char etag[AFS_ETAG_MAX];

    if (statx_at(dirfd, leaf, &sx) != 0) {
        if (errno == ENOENT)
            return afs__error_set(AFS_ECONDITION, "local storage: %s: if-match: no such object",
                                  path);
        return afs__error_errno(errno, "local storage: %s: stat", path);
    }
    if (!is_object(&sx) || (want_file && !S_ISREG(sx.stx_mode)))
        return afs__error_set(AFS_ECONDITION, "local storage: %s: if-match: not a file object",
                              path);
    etag_of(&sx, etag, sizeof(etag));
    if (strcmp(etag, if_match) != 0)
        return afs__error_set(AFS_ECONDITION, "local storage: %s: etag mismatch (now %s)", path,
                              etag);
    return 0;
}

static int sync_dir(struct local *l, int dirfd, const char *path)
{
    if (durable_name(l, dirfd, -1) != 0)
        return afs__error_errno(errno, "local storage: %s: fsync directory", path);
    return 0;
}

/* ---- slots ---- */

static int local_ctl(void *ctx, int op, void *arg)
{
    struct local *l = ctx;
    if (op == AFS_STORAGE_CTL_NAME && arg) {
        *(const char **)arg = "local";
        return 0;
    }
    if (op == AFS_STORAGE_CTL_BARRIER)
        return local_sync(l) ? barrier(l) : 0;
    if (op == AFS_STORAGE_CTL_CONCURRENCY && arg && local_sync(l) && l->group) {
        /* Each put waits for a syncfs it shares with every put waiting at
         * that moment: the more in flight, the fewer syncfs per put. */
        *(uint32_t *)arg = LOCAL_CONCURRENCY;
        return 0;
    }
    if (op == AFS_STORAGE_CTL_DEFER_NAMES && arg) {
        bool on = *(const int *)arg != 0;
        /* Without syncfs there is no cheaper way to batch: every change
         * stays durable on return, and so does nothing with NOSYNC. */
        if (!local_sync(l) || !l->group)
            return afs__error_set(AFS_ENOTSUP, "local storage: %s: no deferred durability "
                                  "here (%s)", l->root,
                                  local_sync(l) ? "syncfs unusable" : "NOSYNC");
        if (on) /* have the committer ready before the rush: a thread started
                 * amid dozens of busy ones waits long for a CPU */
            committer_ensure(l);
        __atomic_store_n(&l->defer, on, __ATOMIC_SEQ_CST);
        return on ? 0 : barrier(l);
    }
    return afs__error_set(AFS_ENOTSUP, "local storage: ctl %d not supported", op);
}

static bool is_near_temp(const char *name);
static size_t purge_near_temps(const struct local *l, int dfd);

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b); /* bytewise, as unsigned char */
}

static int local_list(void *ctx, const char *dir, const char *marker, afs_storage_list_fn emit,
                      void *payload, char *next_marker, size_t next_marker_size)
{
    struct local *l = ctx;
    DIR *d = NULL;
    char **names = NULL;
    size_t count = 0, cap = 0, i, end;
    struct dirent *de;
    bool temps = false;
    int fd = -1, rc;

    next_marker[0] = '\0';
    if ((rc = resolve_dir(l, dir, &fd)) != 0)
        goto done;
    d = fdopendir(fd);
    if (!d) {
        rc = afs__error_errno(errno, "local storage: %s: opendir", dir);
        goto done;
    }
    fd = -1; /* owned by d */
    /* Collect every name after the marker, then sort: pages are deterministic
     * whatever order readdir returns. */
    for (;;) {
        errno = 0;
        de = readdir(d);
        if (!de) {
            if (errno != 0) {
                rc = afs__error_errno(errno, "local storage: %s: readdir", dir);
                goto done;
            }
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (is_near_temp(de->d_name)) {
            temps = true; /* a put's temp beside its object: never an object */
            continue;
        }
        if (marker && strcmp(de->d_name, marker) <= 0)
            continue;
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            char **n = afs__realloc(names, ncap * sizeof(*names));
            if (!n) {
                rc = AFS_ENOMEM;
                goto done;
            }
            names = n;
            cap = ncap;
        }
        if (!(names[count] = afs__strdup(de->d_name))) {
            rc = AFS_ENOMEM;
            goto done;
        }
        count++;
    }
    if (temps)
        purge_near_temps(l, dirfd(d)); /* a crashed writer's leftovers */
    if (count > 1)
        qsort(names, count, sizeof(*names), cmp_names);
    end = count < LOCAL_PAGE_SIZE ? count : LOCAL_PAGE_SIZE;
    for (i = 0; i < end; i++) {
        afs_storage_entry e;
        memset(&e, 0, sizeof(e));
        rc = describe_at(dirfd(d), names[i], &e);
        if (rc == AFS_ENOTFOUND) {
            /* Vanished since readdir, or a symlink / special file: not an object. */
            struct stat st;
            if (fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW) == 0)
                afs__log(AFS_LOG_WARN,
                         "local storage: %s%s%s: skipping a symlink or special file", dir,
                         dir[0] ? "/" : "", names[i]);
            rc = 0;
            continue;
        }
        if (rc != 0) {
            rc = afs__error_set(rc, "local storage: %s%s%s: stat failed: %s", dir,
                                dir[0] ? "/" : "", names[i], afs_strerror(rc));
            goto done;
        }
        e.name = names[i];
        e.name_len = strlen(names[i]);
        if ((rc = emit(&e, payload)) != 0)
            goto done; /* the callback's value, unchanged */
    }
    if (end < count) {
        /* The marker is the last name considered, so skipped entries cannot
         * stall paging. */
        if (strlen(names[end - 1]) >= next_marker_size) {
            rc = afs__error_set(AFS_EIO, "local storage: %s: marker buffer too small", dir);
            goto done;
        }
        strcpy(next_marker, names[end - 1]);
    }
    rc = 0;
done:
    for (i = 0; i < count; i++)
        free(names[i]);
    free(names);
    if (d)
        closedir(d);
    if (fd >= 0)
        close(fd);
    return rc;
}

static int local_stat(void *ctx, const char *path, afs_storage_entry *out)
{
    struct local *l = ctx;
    const char *leaf;
    int dirfd, rc;

    if ((rc = resolve_parent(l, path, false, &dirfd, &leaf)) != 0)
        return rc;
    rc = describe_at(dirfd, leaf, out);
    if (rc == AFS_ENOTFOUND)
        rc = afs__error_set(AFS_ENOTFOUND, "local storage: %s: no such object", path);
    else if (rc != 0)
        rc = afs__error_set(rc, "local storage: %s: stat failed: %s", path, afs_strerror(rc));
    close(dirfd);
    return rc;
}

static int local_read(void *ctx, const char *path, uint64_t offset, void *buf, size_t len,
                      size_t *nread, const char *if_match)
{
    struct local *l = ctx;
    const char *leaf;
    struct statx sx;
    int dirfd = -1, fd = -1, rc;
    size_t got = 0;

    if ((rc = resolve_parent(l, path, false, &dirfd, &leaf)) != 0)
        goto done;
    if (statx_at(dirfd, leaf, &sx) == 0 && !is_object(&sx)) {
        rc = afs__error_set(AFS_ENOTFOUND, "local storage: %s: not an object", path);
        goto done;
    }
    fd = open_object(dirfd, leaf);
    if (fd < 0) {
        rc = errno == ELOOP ? afs__error_set(AFS_ENOTFOUND, "local storage: %s: symlink", path)
                            : afs__error_errno(errno, "local storage: %s: open", path);
        goto done;
    }
    /* Check the inode we hold, so the etag check and the bytes agree. */
    if (fstatx(fd, &sx) != 0) {
        rc = afs__error_errno(errno, "local storage: %s: stat", path);
        goto done;
    }
    if (S_ISDIR(sx.stx_mode)) {
        rc = afs__error_set(AFS_EISDIR, "local storage: %s: is a directory", path);
        goto done;
    }
    if (!S_ISREG(sx.stx_mode)) {
        rc = afs__error_set(AFS_ENOTFOUND, "local storage: %s: not an object", path);
        goto done;
    }
    if (if_match) {
        char etag[AFS_ETAG_MAX];
        etag_of(&sx, etag, sizeof(etag));
        if (strcmp(etag, if_match) != 0) {
            rc = afs__error_set(AFS_ECONDITION, "local storage: %s: etag mismatch (now %s)",
                                path, etag);
            goto done;
        }
    }
    while (got < len) {
        ssize_t n = pread(fd, (char *)buf + got, len - got, (off_t)(offset + got));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = afs__error_errno(errno, "local storage: %s: read at %" PRIu64, path,
                                  offset + got);
            goto done;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    *nread = got;
done:
    if (fd >= 0)
        close(fd);
    if (dirfd >= 0)
        close(dirfd);
    return rc;
}

/* Pull `size` bytes from `src` into `fd`, LOCAL_CHUNK at a time. */
static int put_stream(int fd, const char *path, afs_read_fn src, void *src_payload,
                      uint64_t size)
{
    unsigned char *buf = NULL;
    uint64_t off = 0;
    int rc = 0;

    if (size == 0)
        return 0;
    buf = afs__malloc(size < LOCAL_CHUNK ? (size_t)size : LOCAL_CHUNK);
    if (!buf)
        return AFS_ENOMEM;
    while (off < size) {
        size_t want = size - off < LOCAL_CHUNK ? (size_t)(size - off) : LOCAL_CHUNK;
        size_t n = 0, w = 0;
        if ((rc = src(off, buf, want, &n, src_payload)) != 0) {
            if (afs_error_last_code() != rc)
                afs__error_set(rc, "local storage: %s: source failed at byte %" PRIu64, path,
                               off);
            goto done;
        }
        if (n == 0 || n > want) {
            rc = afs__error_set(AFS_EIO,
                                "local storage: %s: source gave %zu bytes at %" PRIu64
                                " of %" PRIu64,
                                path, n, off, size);
            goto done;
        }
        while (w < n) {
            ssize_t k = pwrite(fd, buf + w, n - w, (off_t)(off + w));
            if (k < 0) {
                if (errno == EINTR)
                    continue;
                rc = afs__error_errno(errno, "local storage: %s: write temp", path);
                goto done;
            }
            w += (size_t)k;
        }
        off += n;
    }
done:
    free(buf);
    return rc;
}

/* Times, attributes and metadata on the temp, before anything is visible. */
static int put_props(const struct local *l, int fd, const char *path,
                     const afs_storage_put_options *o, uint32_t *stored)
{
    struct timespec ts[2];
    char name[sizeof(XATTR_META_PREFIX) + 64];
    char val[16];

    for (size_t i = 0; i < o->meta_count; i++) {
        snprintf(name, sizeof(name), XATTR_META_PREFIX "%s", o->meta_keys[i]);
        if (fsetxattr(fd, name, o->meta_values[i], strlen(o->meta_values[i]), 0) != 0) {
            if (errno == ENOTSUP)
                return afs__error_set(AFS_ENOTSUP,
                                      "local storage: %s: metadata needs user extended "
                                      "attributes, which the file system under %s lacks",
                                      path, l->root);
            return afs__error_errno(errno, "local storage: %s: set metadata \"%s\"", path,
                                    o->meta_keys[i]);
        }
    }
    *stored = 0; /* a new temp has no attributes */
    if (o->attributes != 0) {
        snprintf(val, sizeof(val), "%" PRIu32, o->attributes);
        if (fsetxattr(fd, XATTR_ATTR, val, strlen(val), 0) != 0) {
            if (errno != ENOTSUP)
                return afs__error_errno(errno, "local storage: %s: set attributes", path);
            /* Attributes are advisory: keep the content rather than fail. */
            afs__log(AFS_LOG_WARN, "local storage: %s: attributes dropped (no xattrs under %s)",
                     path, l->root);
        } else {
            *stored = o->attributes;
        }
    }
    ts[0].tv_sec = 0;
    ts[0].tv_nsec = UTIME_OMIT;
    if (o->mtime_ns == AFS_TIME_OMIT) {
        /* An explicit ns clock, not the file system's coarse tick: two puts
         * in a row get different mtimes, hence different etags. */
        if (clock_gettime(CLOCK_REALTIME, &ts[1]) != 0)
            ts[1].tv_nsec = UTIME_NOW;
    } else {
        ts[1] = ns_ts(o->mtime_ns);
    }
    if (futimens(fd, ts) != 0)
        return afs__error_errno(errno, "local storage: %s: set mtime", path);
    return 0;
}

static int create_temp(struct local *l, const char *path, char *name, size_t cap, int *fd_out)
{
    for (int attempt = 0; attempt < 8; attempt++) {
        /* Unique per handle without a getrandom per temp; O_EXCL has the
         * last word, across handles and processes. */
        uint64_t r = l->temp_base +
                     0x9e3779b97f4a7c15ull * __atomic_add_fetch(&l->temp_count, 1, __ATOMIC_RELAXED);
        int fd;
        /* <host>~<pid>~<random>.tmp: open() can tell a dead writer's leftovers. */
        snprintf(name, cap, "%s~%ld~%016" PRIx64 ".tmp", l->host, (long)my_pid(), r);
        fd = openat(l->tmpfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd >= 0) {
            *fd_out = fd;
            return 0;
        }
        if (errno != EEXIST)
            return afs__error_errno(errno, "local storage: %s: create temp in %s/%s/local/tmp", path,
                                    l->root, AFS_RESERVED_NAME);
    }
    return afs__error_set(AFS_EIO, "local storage: %s: cannot make a unique temp name", path);
}

/*
 * Replace the file dirfd/leaf by the temp atomically, the old version taking
 * the temp's name (RENAME_EXCHANGE), for the caller to remove once it has
 * let go of the lock: removing a file frees its blocks, which on some file
 * systems means a synchronous discard, and a rename over it does that
 * inside the rename -- across directories, one rename at a time for the
 * whole file system. 1: exchanged; 0: nothing to exchange with, not a
 * regular file (put back), or no RENAME_EXCHANGE here: rename instead.
 */
static int exchange(struct local *l, const char *tmpname, int dirfd, const char *leaf,
                    const char *path)
{
    struct stat st;
    if (renameat2(l->tmpfd, tmpname, dirfd, leaf, RENAME_EXCHANGE) != 0)
        return 0;
    if (fstatat(l->tmpfd, tmpname, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
        return 1;
    /* A directory, a symlink or a special file: never ours to move. Put it
     * back; a plain rename then does what it always did with them. */
    if (renameat2(l->tmpfd, tmpname, dirfd, leaf, RENAME_EXCHANGE) != 0)
        return afs__error_errno(errno, "local storage: %s: could not put back what stood "
                                "at the object's name", path);
    return 0;
}

static bool is_file_at(int dirfd, const char *leaf)
{
    struct stat st;
    return fstatat(dirfd, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

/* Publish the temp as dirfd/leaf according to the condition (lock held).
 * *exchanged: the old version now has the temp's name (exchange()). */
static int publish(struct local *l, const char *tmpname, int dirfd, const char *leaf,
                   const char *path, const afs_storage_put_options *o, bool *exchanged)
{
    *exchanged = false;
    if (o->condition == AFS_COND_IF_MATCH) {
        int rc = check_etag_at(dirfd, leaf, path, o->if_match, true);
        if (rc != 0)
            return rc;
    }
    if (o->condition == AFS_COND_CREATE_ONLY) {
        /* Atomic in the kernel: of several racing creators exactly one wins. */
        if (renameat2(l->tmpfd, tmpname, dirfd, leaf, RENAME_NOREPLACE) == 0)
            return 0;
        if (errno == EEXIST)
            return afs__error_set(AFS_ECONDITION, "local storage: %s: already exists", path);
        if (errno != EINVAL && errno != ENOSYS)
            return afs__error_errno(errno, "local storage: %s: publish", path);
        /* No RENAME_NOREPLACE on this file system: link() is just as exclusive. */
        if (linkat(l->tmpfd, tmpname, dirfd, leaf, 0) != 0) {
            if (errno == EEXIST)
                return afs__error_set(AFS_ECONDITION, "local storage: %s: already exists", path);
            return afs__error_errno(errno, "local storage: %s: publish (link)", path);
        }
        unlinkat(l->tmpfd, tmpname, 0);
        return 0;
    }
    /* Unconditional: exchange only with what is a file now (an if-match
     * target was just checked to be one). */
    if (o->condition == AFS_COND_IF_MATCH || is_file_at(dirfd, leaf)) {
        int x = exchange(l, tmpname, dirfd, leaf, path);
        if (x < 0)
            return x;
        if (x == 1) {
            *exchanged = true;
            return 0;
        }
    }
    if (renameat(l->tmpfd, tmpname, dirfd, leaf) != 0)
        return afs__error_errno(errno, "local storage: %s: publish", path);
    return 0;
}

/*
 * Open an anonymous temp (O_TMPFILE) in the object's own directory, for a
 * create-only or if-match put whose parent exists. A create-only put is
 * published by one linkat, which fails if the name exists -- create-only,
 * atomically -- and a crash leaves nothing behind to clean. An if-match put
 * is published by publish_near(). Either way no lookups in the shared temp
 * directory and no rename across directories, which the kernel serialises
 * for the whole file system (at 128 puts in flight, replacing 1,000 files
 * spent most of its time queued there). -1 when this path does not apply;
 * the caller then uses a named temp in .libafs/local/tmp.
 */
static int open_anon(struct local *l, const char *path, const afs_storage_put_options *o,
                     int *dirfd, const char **leaf, int *on_root)
{
    const char *slash = strrchr(path, '/');
    int fd;
    *dirfd = -1;
    if (!l->tmpfile || (o->condition != AFS_COND_CREATE_ONLY && o->condition != AFS_COND_IF_MATCH))
        return -1;
    /* Reached without crossing a mount point: on the root's file system,
     * where the group commit reaches, with no fstat to find out. */
    if (slash && (*dirfd = open_beneath(l, path, (size_t)(slash - path), RESOLVE_NO_XDEV)) >= 0) {
        *leaf = slash + 1;
        *on_root = 1;
    } else if (resolve_parent(l, path, false, dirfd, leaf) == 0) {
        *on_root = slash ? -1 : 1;
    } else {
        afs_error_clear(); /* the named path creates parents and explains */
        return -1;
    }
    fd = openat(*dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0666);
    if (fd < 0) {
        close(*dirfd);
        *dirfd = -1;
    }
    return fd;
}

/* Publish an anonymous temp as dirfd/leaf, create-only (lock held). */
static int publish_anon(int fd, int dirfd, const char *leaf, const char *path)
{
    char proc[40];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    if (linkat(AT_FDCWD, proc, dirfd, leaf, AT_SYMLINK_FOLLOW) == 0)
        return 0;
    if (errno == EEXIST)
        return afs__error_set(AFS_ECONDITION, "local storage: %s: already exists", path);
    return afs__error_errno(errno, "local storage: %s: publish (link)", path);
}

static bool temp_is_stale_pid(const struct local *l, const char *name);

static bool is_near_temp(const char *name)
{
    size_t n = strlen(name);
    return strncmp(name, LOCAL_NEAR_PREFIX, sizeof(LOCAL_NEAR_PREFIX) - 1) == 0 && n > 4 &&
           strcmp(name + n - 4, ".tmp") == 0;
}

/* A temp beside an object whose writer is gone: this host's writer is no
 * longer running, or (another host's) the temp is a day old. Its ctime, not
 * its mtime: a put gives its temp the object's last-write time. */
static bool near_temp_is_stale(const struct local *l, const char *name, const struct statx *sx,
                               time_t now)
{
    if (now - (time_t)sx->stx_ctime.tv_sec > LOCAL_TEMP_MAX_AGE_S)
        return true;
    return temp_is_stale_pid(l, name + sizeof(LOCAL_NEAR_PREFIX) - 1);
}

/* Remove the stale temps beside objects in directory `dfd`; the count. */
static size_t purge_near_temps(const struct local *l, int dfd)
{
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    time_t now = time(NULL);
    struct dirent *de;
    size_t removed = 0;

    if (!d) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    while ((de = readdir(d)) != NULL) {
        struct statx sx;
        if (!is_near_temp(de->d_name) || statx_at(dirfd(d), de->d_name, &sx) != 0 ||
            !S_ISREG(sx.stx_mode) || !near_temp_is_stale(l, de->d_name, &sx, now))
            continue;
        if (unlinkat(dirfd(d), de->d_name, 0) == 0) {
            afs__log(AFS_LOG_INFO, "local storage: %s: removed a stale temp %s", l->root,
                     de->d_name);
            removed++;
        }
    }
    closedir(d);
    return removed;
}

/*
 * Publish an anonymous temp over the file dirfd/leaf, if-match (lock held):
 * linked beside it as .libafs~<host>~<pid>~<hex>.tmp, then exchanged with it
 * within the directory (RENAME_EXCHANGE), so the old version takes the temp
 * name for the caller to remove once it has let go of the lock (the removal
 * frees blocks: a synchronous discard on some file systems). *linked: a temp
 * name exists in dirfd (`tmpname`), holding the old version on success and
 * the new content on failure; the caller removes it either way.
 */
static int publish_near(struct local *l, int fd, int dirfd, const char *leaf, const char *path,
                        const char *if_match, char *tmpname, size_t cap, bool *linked)
{
    char proc[40];
    struct stat st;
    int rc = check_etag_at(dirfd, leaf, path, if_match, true);

    *linked = false;
    if (rc != 0)
        return rc;
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    for (int attempt = 0; attempt < 8 && !*linked; attempt++) {
        uint64_t r = l->temp_base + 0x9e3779b97f4a7c15ull *
                                        __atomic_add_fetch(&l->temp_count, 1, __ATOMIC_RELAXED);
        snprintf(tmpname, cap, LOCAL_NEAR_PREFIX "%s~%ld~%016" PRIx64 ".tmp", l->host,
                 (long)my_pid(), r);
        if (linkat(AT_FDCWD, proc, dirfd, tmpname, AT_SYMLINK_FOLLOW) == 0)
            *linked = true;
        else if (errno != EEXIST)
            return afs__error_errno(errno, "local storage: %s: link temp", path);
    }
    if (!*linked)
        return afs__error_set(AFS_EIO, "local storage: %s: cannot make a unique temp name", path);
    if (renameat2(dirfd, tmpname, dirfd, leaf, RENAME_EXCHANGE) != 0) {
        if (errno != EINVAL && errno != ENOSYS)
            return afs__error_errno(errno, "local storage: %s: publish", path);
        /* No RENAME_EXCHANGE here: a plain rename replaces the file. */
        if (renameat(dirfd, tmpname, dirfd, leaf) != 0)
            return afs__error_errno(errno, "local storage: %s: publish", path);
        *linked = false;
        return 0;
    }
    if (fstatat(dirfd, tmpname, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
        return 0;
    /* Another program put something else there since the check: put it back. */
    if (renameat2(dirfd, tmpname, dirfd, leaf, RENAME_EXCHANGE) != 0) {
        *linked = false; /* the temp name holds what is not ours: leave it */
        return afs__error_errno(errno, "local storage: %s: could not put back what stood at "
                                "the object's name", path);
    }
    return afs__error_set(AFS_ECONDITION, "local storage: %s: if-match: not a file object", path);
}

/* AFS_EINVALIDNAME for a path whose last name is the form of our temps
 * beside objects (never listed, removed once stale). */
static int refuse_temp_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (is_near_temp(slash ? slash + 1 : path))
        return afs__error_set(AFS_EINVALIDNAME, "local storage: %s: names of the form "
                              LOCAL_NEAR_PREFIX "*.tmp are the local backend's own", path);
    return 0;
}

static int local_put(void *ctx, const char *path, afs_read_fn src, void *src_payload,
                     uint64_t size, const afs_storage_put_options *opts, afs_storage_entry *out)
{
    struct local *l = ctx;
    char tmpname[128];
    const char *leaf = NULL;
    struct statx sx;
    uint32_t attributes = 0;
    int fd = -1, dirfd = -1, lockfd = -1, on_root = -1, rc;
    bool anon, published = false, exchanged = false, near = false;

    if ((rc = refuse_temp_name(path)) != 0)
        return rc;
    fd = open_anon(l, path, opts, &dirfd, &leaf, &on_root);
    anon = fd >= 0;
    tmpname[0] = '\0';
    if (!anon && (rc = create_temp(l, path, tmpname, sizeof(tmpname), &fd)) != 0)
        return rc;
    if ((rc = put_stream(fd, path, src, src_payload, size)) != 0)
        goto done;
    if ((rc = put_props(l, fd, path, opts, &attributes)) != 0)
        goto done;
    /* The content is durable before any name points at it. */
    if ((anon && on_root < 0 ? durable(l, fd) : durable_temp(l, fd)) != 0) {
        rc = afs__error_errno(errno, "local storage: %s: fsync temp", path);
        goto done;
    }
    if (!anon && (rc = resolve_parent(l, path, true, &dirfd, &leaf)) != 0)
        goto done;
    if ((rc = lock_paths(l, path, NULL, &lockfd)) != 0)
        goto done;
    if (anon && opts->condition == AFS_COND_IF_MATCH)
        rc = publish_near(l, fd, dirfd, leaf, path, opts->if_match, tmpname, sizeof(tmpname),
                          &near);
    else
        rc = anon ? publish_anon(fd, dirfd, leaf, path)
                  : publish(l, tmpname, dirfd, leaf, path, opts, &exchanged);
    if (rc != 0)
        goto done;
    published = true;
    /* Describe the inode we published (still under the lock, so no later
     * set_props of ours can slip in between). */
    if (fstatx(fd, &sx) != 0) {
        rc = afs__error_errno(errno, "local storage: %s: stat after publish", path);
        goto done;
    }
    entry_fill(&sx, attributes, out); /* what put_props stored: no need to read it back */
    unlock_paths(l, lockfd);
    lockfd = -1;
    /* The object is on its directory's file system: no fstat needed. */
    if (durable_name(l, dirfd, makedev(sx.stx_dev_major, sx.stx_dev_minor) == l->dev) != 0)
        rc = afs__error_errno(errno, "local storage: %s: fsync directory", path);
done:
    unlock_paths(l, lockfd);
    /* Never leave a temp behind on failure; after an exchange the temp's
     * name holds the old version, removed here, out of the lock. */
    if ((!published || exchanged) && !anon)
        unlinkat(l->tmpfd, tmpname, 0);
    if (near)
        unlinkat(dirfd, tmpname, 0);
    if (fd >= 0)
        close(fd); /* an unpublished anonymous temp vanishes here */
    if (dirfd >= 0)
        close(dirfd);
    return rc;
}

static int local_remove(void *ctx, const char *path, const char *if_match)
{
    struct local *l = ctx;
    const char *leaf;
    struct statx sx;
    int dirfd = -1, lockfd = -1, rc;

    if ((rc = resolve_parent(l, path, false, &dirfd, &leaf)) != 0)
        goto done;
    if ((rc = lock_paths(l, path, NULL, &lockfd)) != 0)
        goto done;
    if (statx_at(dirfd, leaf, &sx) != 0) {
        rc = errno == ENOENT
                 ? afs__error_set(AFS_ENOTFOUND, "local storage: %s: no such object", path)
                 : afs__error_errno(errno, "local storage: %s: stat", path);
        goto done;
    }
    if (!is_object(&sx)) {
        rc = afs__error_set(AFS_ENOTFOUND, "local storage: %s: not an object", path);
        goto done;
    }
    if (S_ISDIR(sx.stx_mode)) {
        rc = afs__error_set(AFS_EISDIR, "local storage: %s: is a directory (use rmdir)", path);
        goto done;
    }
    if (if_match && (rc = check_etag_at(dirfd, leaf, path, if_match, true)) != 0)
        goto done;
    if (unlinkat(dirfd, leaf, 0) != 0) {
        rc = afs__error_errno(errno, "local storage: %s: unlink", path);
        goto done;
    }
    unlock_paths(l, lockfd);
    lockfd = -1;
    rc = sync_dir(l, dirfd, path);
done:
    unlock_paths(l, lockfd);
    if (dirfd >= 0)
        close(dirfd);
    return rc;
}

static int local_mkdir(void *ctx, const char *path)
{
    struct local *l = ctx;
    const char *leaf;
    int dirfd, rc;

    if ((rc = resolve_parent(l, path, false, &dirfd, &leaf)) != 0)
        return rc;
    if (mkdirat(dirfd, leaf, 0777) != 0)
        rc = errno == EEXIST
                 ? afs__error_set(AFS_EEXISTS, "local storage: %s: already exists", path)
                 : afs__error_errno(errno, "local storage: %s: mkdir", path);
    else
        rc = sync_dir(l, dirfd, path);
    close(dirfd);
    return rc;
}

/* purge_near_temps() in the subdirectory `name` of `dfd`; true if any went
 * (errno is kept for the caller otherwise). */
static bool purge_near_temps_in(const struct local *l, int dfd, const char *name)
{
    int e = errno, sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    size_t removed = 0;
    if (sub >= 0) {
        removed = purge_near_temps(l, sub);
        close(sub);
    }
    errno = e;
    return removed > 0;
}

static int local_rmdir(void *ctx, const char *path)
{
    struct local *l = ctx;
    const char *leaf;
    struct statx sx;
    int dirfd, rc;

    if ((rc = resolve_parent(l, path, false, &dirfd, &leaf)) != 0)
        return rc;
    if (statx_at(dirfd, leaf, &sx) != 0 || !is_object(&sx)) {
        rc = afs__error_set(AFS_ENOTFOUND, "local storage: %s: no such directory", path);
    } else if (!S_ISDIR(sx.stx_mode)) {
        rc = afs__error_set(AFS_ENOTDIR, "local storage: %s: not a directory", path);
    } else if (unlinkat(dirfd, leaf, AT_REMOVEDIR) != 0 &&
               ((errno != ENOTEMPTY && errno != EEXIST) || !purge_near_temps_in(l, dirfd, leaf) ||
                unlinkat(dirfd, leaf, AT_REMOVEDIR) != 0)) {
        rc = errno == ENOTEMPTY || errno == EEXIST
                 ? afs__error_set(AFS_ENOTEMPTY, "local storage: %s: directory not empty", path)
                 : afs__error_errno(errno, "local storage: %s: rmdir", path);
    } else {
        rc = sync_dir(l, dirfd, path);
    }
    close(dirfd);
    return rc;
}

static int local_rename(void *ctx, const char *from, const char *to, const char *if_match,
                        unsigned int flags)
{
    struct local *l = ctx;
    const char *fleaf, *tleaf;
    struct statx sx;
    int fdir = -1, tdir = -1, lockfd = -1, rc;
    bool noreplace = (flags & AFS_STORAGE_RENAME_NOREPLACE) != 0;

    if ((rc = refuse_temp_name(to)) != 0)
        return rc;
    if ((rc = resolve_parent(l, from, false, &fdir, &fleaf)) != 0)
        goto done;
    if ((rc = lock_paths(l, from, to, &lockfd)) != 0)
        goto done;
    if (statx_at(fdir, fleaf, &sx) != 0 || !is_object(&sx)) {
        rc = afs__error_set(AFS_ENOTFOUND, "local storage: %s: no such object", from);
        goto done;
    }
    if (if_match && (rc = check_etag_at(fdir, fleaf, from, if_match, false)) != 0)
        goto done;
    if ((rc = resolve_parent(l, to, true, &tdir, &tleaf)) != 0)
        goto done;
    if (renameat2(fdir, fleaf, tdir, tleaf, noreplace ? RENAME_NOREPLACE : 0) != 0) {
        if (noreplace && (errno == EEXIST || errno == ENOTEMPTY)) {
            rc = afs__error_set(AFS_ECONDITION, "local storage: %s: target %s exists", from, to);
            goto done;
        }
        if (!noreplace || (errno != EINVAL && errno != ENOSYS)) {
            rc = afs__error_errno(errno, "local storage: rename %s -> %s", from, to);
            goto done;
        }
        /* No RENAME_NOREPLACE here: check then rename, both under our lock. */
        if (fstatat(tdir, tleaf, &(struct stat){ 0 }, AT_SYMLINK_NOFOLLOW) == 0) {
            rc = afs__error_set(AFS_ECONDITION, "local storage: %s: target %s exists", from, to);
            goto done;
        }
        if (renameat(fdir, fleaf, tdir, tleaf) != 0) {
            rc = afs__error_errno(errno, "local storage: rename %s -> %s", from, to);
            goto done;
        }
    }
    unlock_paths(l, lockfd);
    lockfd = -1;
    if ((rc = sync_dir(l, tdir, to)) == 0)
        rc = sync_dir(l, fdir, from);
done:
    unlock_paths(l, lockfd);
    if (fdir >= 0)
        close(fdir);
    if (tdir >= 0)
        close(tdir);
    return rc;
}

static int local_set_props(void *ctx, const char *path, int64_t mtime_ns, uint32_t attributes,
                           const char *if_match, afs_storage_entry *out)
{
    struct local *l = ctx;
    const char *leaf;
    struct statx sx;
    int dirfd = -1, fd = -1, lockfd = -1, rc;

    if ((rc = resolve_parent(l, path, false, &dirfd, &leaf)) != 0)
        goto done;
    if ((rc = lock_paths(l, path, NULL, &lockfd)) != 0)
        goto done;
    if (statx_at(dirfd, leaf, &sx) != 0 || !is_object(&sx) ||
        (fd = open_object(dirfd, leaf)) < 0 || fstatx(fd, &sx) != 0 || !is_object(&sx)) {
        rc = afs__error_set(AFS_ENOTFOUND, "local storage: %s: no such object", path);
        goto done;
    }
    if (if_match) {
        char etag[AFS_ETAG_MAX];
        etag_of(&sx, etag, sizeof(etag));
        if (strcmp(etag, if_match) != 0) {
            rc = afs__error_set(AFS_ECONDITION, "local storage: %s: etag mismatch (now %s)",
                                path, etag);
            goto done;
        }
    }
    if (attributes != 0) {
        char val[16];
        snprintf(val, sizeof(val), "%" PRIu32, attributes);
        if (fsetxattr(fd, XATTR_ATTR, val, strlen(val), 0) != 0) {
            rc = afs__error_errno(errno, "local storage: %s: set attributes", path);
            goto done;
        }
    } else if (fremovexattr(fd, XATTR_ATTR) != 0 && errno != ENODATA && errno != ENOTSUP) {
        rc = afs__error_errno(errno, "local storage: %s: clear attributes", path);
        goto done;
    }
    if (mtime_ns != AFS_TIME_OMIT) {
        struct timespec ts[2];
        ts[0].tv_sec = 0;
        ts[0].tv_nsec = UTIME_OMIT;
        ts[1] = ns_ts(mtime_ns);
        if (futimens(fd, ts) != 0) {
            rc = afs__error_errno(errno, "local storage: %s: set mtime", path);
            goto done;
        }
    }
    if (durable(l, fd) != 0) {
        rc = afs__error_errno(errno, "local storage: %s: fsync", path);
        goto done;
    }
    if (fstatx(fd, &sx) != 0) {
        rc = afs__error_errno(errno, "local storage: %s: stat", path);
        goto done;
    }
    entry_fill(&sx, attr_of_fd(fd), out);
done:
    unlock_paths(l, lockfd);
    if (fd >= 0)
        close(fd);
    if (dirfd >= 0)
        close(dirfd);
    return rc;
}

static int local_meta_get(void *ctx, const char *path, const char *key, char *buf, size_t cap,
                          size_t *len)
{
    struct local *l = ctx;
    char name[sizeof(XATTR_META_PREFIX) + 64];
    char value[1025];
    const char *leaf;
    size_t kl = strlen(key);
    ssize_t n;
    int dirfd = -1, fd = -1, rc;

    /* The core does not check keys here; never let one reach another xattr. */
    if (kl == 0 || kl > 64 || strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789_") != kl)
        return afs__error_set(AFS_EINVAL, "local storage: %s: bad metadata key", path);
    if ((rc = resolve_parent(l, path, false, &dirfd, &leaf)) != 0)
        goto done;
    fd = open_object(dirfd, leaf);
    if (fd < 0) {
        rc = errno == ELOOP ? afs__error_set(AFS_ENOTFOUND, "local storage: %s: symlink", path)
                            : afs__error_errno(errno, "local storage: %s: open", path);
        goto done;
    }
    snprintf(name, sizeof(name), XATTR_META_PREFIX "%s", key);
    n = fgetxattr(fd, name, value, sizeof(value) - 1);
    if (n < 0) {
        rc = errno == ENODATA || errno == ENOTSUP
                 ? afs__error_set(AFS_ENOTFOUND, "local storage: %s: no metadata \"%s\"", path,
                                  key)
                 : afs__error_errno(errno, "local storage: %s: metadata \"%s\"", path, key);
        goto done;
    }
    /* snprintf-style: truncated to the buffer, *len the full length. */
    value[n] = '\0';
    snprintf(buf, cap, "%s", value);
    *len = (size_t)n;
done:
    if (fd >= 0)
        close(fd);
    if (dirfd >= 0)
        close(dirfd);
    return rc;
}

static void local_release(void *ctx)
{
    struct local *l = ctx;
    if (!l)
        return;
    committer_stop(l);
    if (l->stat_syncfs || l->stat_fsync)
        afs__log(AFS_LOG_DEBUG, "local storage: %s: group commit: %" PRIu64 " syncfs (%.3f s) "
                 "covered %" PRIu64 " waits (%.3f s waited in all); %" PRIu64 " lone fsyncs",
                 l->root, l->stat_syncfs, (double)l->stat_sync_ns / 1e9, l->stat_covered,
                 (double)l->stat_wait_ns / 1e9, l->stat_fsync);
    if (l->tmpfd >= 0)
        close(l->tmpfd);
    if (l->privfd >= 0)
        close(l->privfd);
    if (l->rootfd >= 0)
        close(l->rootfd);
    for (int i = 0; i < l->lock_pooled; i++)
        close(l->lock_pool[i]);
    pthread_mutex_destroy(&l->pool_lock);
    pthread_mutex_destroy(&l->sync_lock);
    free(l->root);
    free(l);
}

/* ---- open ---- */

/* Is this temp a crash leftover: ours (this host) from a dead pid, or old? */
static bool temp_is_stale(const struct local *l, const char *name, const struct statx *sx,
                          time_t now)
{
    if (now - (time_t)sx->stx_mtime.tv_sec > LOCAL_TEMP_MAX_AGE_S)
        return true;
    return temp_is_stale_pid(l, name);
}

/* "<host>~<pid>~<hex>.tmp" of this host whose process is gone. */
static bool temp_is_stale_pid(const struct local *l, const char *name)
{
    const char *r, *p;
    size_t hl;
    long pid;
    char *end;

    r = strrchr(name, '~');
    if (!r || r == name)
        return false;
    for (p = r - 1; p > name && *p != '~'; p--)
        ;
    if (*p != '~')
        return false;
    hl = (size_t)(p - name);
    if (hl != strlen(l->host) || memcmp(name, l->host, hl) != 0)
        return false; /* another host: only its age can tell */
    pid = strtol(p + 1, &end, 10);
    if (end != r || pid <= 0)
        return false;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

static void remove_stale_temps(struct local *l)
{
    struct dirent *de;
    time_t now = time(NULL);
    int fd = openat(l->tmpfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

    if (!d) {
        if (fd >= 0)
            close(fd);
        return; /* best effort: leftovers only cost space */
    }
    while ((de = readdir(d)) != NULL) {
        struct statx sx;
        if (de->d_name[0] == '.')
            continue;
        if (statx_at(dirfd(d), de->d_name, &sx) != 0 || !S_ISREG(sx.stx_mode))
            continue;
        if (temp_is_stale(l, de->d_name, &sx, now)) {
            afs__log(AFS_LOG_INFO, "local storage: %s: removing stale temp %s", l->root,
                     de->d_name);
            unlinkat(dirfd(d), de->d_name, 0);
        }
    }
    closedir(d);
}

/* Can this file system make an anonymous temp and give it a name later? */
static bool probe_tmpfile(struct local *l)
{
    char proc[40], name[128];
    bool ok;
    int fd = openat(l->tmpfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0)
        return false;
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    snprintf(name, sizeof(name), "%s~%ld~probe.tmp", l->host, (long)getpid());
    ok = linkat(AT_FDCWD, proc, l->tmpfd, name, AT_SYMLINK_FOLLOW) == 0;
    if (ok)
        unlinkat(l->tmpfd, name, 0);
    close(fd);
    return ok;
}

/* mkdir + open a private directory, refusing a planted symlink. */
static int open_private_dir(struct local *l, int parent, const char *name, int *out)
{
    if (mkdirat(parent, name, 0777) != 0 && errno != EEXIST)
        return afs__error_errno(errno, "local storage: %s: create %s", l->root, name);
    *out = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (*out < 0 && (errno == ENOTDIR || errno == ELOOP))
        return afs__error_set(AFS_ENOTDIR, "local storage: %s: its own folder \"%s\" under "
                              ".libafs/ is not a folder (a file or a link is in its place); "
                              "move that away and the folder is made again", l->root, name);
    if (*out < 0)
        return afs__error_errno(errno, "local storage: %s: open %s", l->root, name);
    return 0;
}

int afs_storage_local_options_init(afs_storage_local_options *opts, unsigned int version)
{
    static const afs_storage_local_options defaults = AFS_STORAGE_LOCAL_OPTIONS_INIT;
    return afs__options_init(&afs__vs_storage_local_options, opts, &defaults, version,
                             "afs_storage_local_options_init");
}

int afs_storage_local_new(afs_storage **out, const char *root,
                          const afs_storage_local_options *opts)
{
    afs_storage_local_options o = AFS_STORAGE_LOCAL_OPTIONS_INIT;
    afs_storage_ops ops;
    struct local *l = NULL;
    struct stat st;
    int lockfd, rc;

    if (!out || !root || !root[0])
        return afs__error_set(AFS_EINVAL, "afs_storage_local_new: out and root are required");
    *out = NULL;
    /* Only the caller's version's fields (docs/api-conventions.md#versioned-structs). */
    if ((rc = afs__vstruct_read(&afs__vs_storage_local_options, &o, opts,
                                "afs_storage_local_new")) != 0)
        return rc;
    if (stat(root, &st) != 0)
        return afs__error_errno(errno, "local storage: root %s", root);
    if (!S_ISDIR(st.st_mode))
        return afs__error_set(AFS_ENOTDIR, "local storage: root %s is not a directory", root);
    l = afs__calloc(1, sizeof(*l));
    if (!l)
        return AFS_ENOMEM;
    l->rootfd = l->privfd = l->tmpfd = -1;
    l->flags = o.flags;
    pthread_mutex_init(&l->sync_lock, NULL);
    pthread_mutex_init(&l->pool_lock, NULL);
    l->lock_pid = my_pid();
    if (getrandom(&l->temp_base, sizeof(l->temp_base), GRND_NONBLOCK) !=
        (ssize_t)sizeof(l->temp_base)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        l->temp_base = (uint64_t)ts.tv_nsec * 2654435761u ^ (uint64_t)ts.tv_sec ^
                       ((uint64_t)getpid() << 32);
    }
    if (!(l->root = afs__strdup(root))) {
        rc = AFS_ENOMEM;
        goto done;
    }
    l->rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (l->rootfd < 0) {
        rc = afs__error_errno(errno, "local storage: open root %s", root);
        goto done;
    }
    /* The backend keeps its files in .libafs/local/, apart from the sync
     * engine's documents elsewhere under .libafs/. */
    {
        int reserved = -1;
        rc = open_private_dir(l, l->rootfd, AFS_RESERVED_NAME, &reserved);
        if (rc == 0)
            rc = open_private_dir(l, reserved, "local", &l->privfd);
        if (reserved >= 0)
            close(reserved);
    }
    if (rc != 0 || (rc = open_private_dir(l, l->privfd, "tmp", &l->tmpfd)) != 0)
        goto done;
    lockfd = openat(l->privfd, "lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (lockfd < 0) {
        rc = afs__error_errno(errno, "local storage: %s: create lock file", root);
        goto done;
    }
    close(lockfd);
    if (gethostname(l->host, sizeof(l->host) - 1) != 0 || !l->host[0])
        strcpy(l->host, "localhost");
    /* '~' separates the fields of a temp name; '/' can never be in one. */
    for (char *c = l->host; *c; c++)
        if (*c == '~' || *c == '/')
            *c = '_';
    remove_stale_temps(l);
    l->tmpfile = probe_tmpfile(l);
    {
        /* Temps and the root on one file system: a group commit covers both. */
        struct stat rs, ts;
        memset(&rs, 0, sizeof(rs));
        l->group = syncfs_reports_errors() && fstat(l->rootfd, &rs) == 0 &&
                   fstat(l->tmpfd, &ts) == 0 && rs.st_dev == ts.st_dev;
        l->dev = rs.st_dev;
    }

    memset(&ops, 0, sizeof(ops));
    ops.version = AFS_STORAGE_OPS_VERSION;
    ops.release = local_release;
    ops.ctl = local_ctl;
    ops.list = local_list;
    ops.stat = local_stat;
    ops.read = local_read;
    ops.put = local_put;
    ops.remove = local_remove;
    ops.mkdir = local_mkdir;
    ops.rmdir = local_rmdir;
    ops.rename = local_rename;
    ops.set_props = local_set_props;
    ops.meta_get = local_meta_get;
    if ((rc = afs_storage_new(out, &ops, l)) != 0)
        goto done;
    l = NULL; /* owned by *out */
done:
    local_release(l);
    return rc;
}

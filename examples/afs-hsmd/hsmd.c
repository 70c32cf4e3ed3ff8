/*
 * afs-hsmd core (hsmd.h, docs/recall-daemon.md).
 *
 * Threads:
 *   reader    reads pre-content events; allows the daemon's own accesses at
 *             once and queues the others (it never blocks on a recall);
 *   workers   recall the touched range and answer, each with its own
 *             service, group and endpoint handles (libafs handles are one
 *             thread at a time);
 *   watchdog  answers EIO to any event still unanswered at its deadline;
 *   scanner   marks placeholders: at start, on a timer, and when a file's
 *             tier marker changes (FAN_ATTRIB from a second, notification
 *             group on the endpoints' file systems).
 *
 * The daemon's own recall writes must not raise pre-content events it would
 * have to answer itself: libafs gets a filesystem vtable whose open() of
 * the file a worker is recalling returns a duplicate of the event's file
 * descriptor, which the kernel opened FMODE_NONOTIFY. Any other access of
 * the daemon's to a marked file is allowed by the reader at once.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "hsmd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fan.h"

#define DEFAULT_TIMEOUT_MS 30000u
#define DEFAULT_WORKERS 4u
#define MAX_WORKERS 64u
#define HEAT_CACHE 64        /* per worker: (inode, pid) pairs reported lately */
#define HEAT_INTERVAL_NS 1000000000LL /* one access per file and process per second */

/* ---- small helpers ---- */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int fan_init(unsigned int flags, unsigned int event_f_flags)
{
    return (int)syscall(SYS_fanotify_init, flags, event_f_flags);
}

static int fan_mark(int fd, unsigned int flags, uint64_t mask, int dirfd, const char *path)
{
    return (int)syscall(SYS_fanotify_mark, fd, flags, mask, dirfd, path);
}

static int errno_code(int e)
{
    switch (e) {
    case ENOSPC:
    case EDQUOT:
        return AFS_ENOSPC;
    case ENOENT:
        return AFS_ENOTFOUND;
    case EACCES:
    case EPERM:
        return AFS_EPERM;
    case ENOMEM:
        return AFS_ENOMEM;
    default:
        return AFS_EIO;
    }
}

static int fail_errno(int e, const char *what)
{
    char msg[256];
    snprintf(msg, sizeof(msg), "afs-hsmd: %s: %s", what, strerror(e));
    return afs_error_set_str(errno_code(e), msg);
}

/* ---- the filesystem libafs uses: the inner one, with event-fd opens ---- */

/* The event a worker thread is recalling for: its fd and file. */
static __thread int cur_fd = -1;
static __thread dev_t cur_dev;
static __thread ino_t cur_ino;

static const afs_fs_ops *g_inner; /* one daemon per process */

typedef struct wfh {
    int fd;       /* >= 0: a duplicate of the event fd; else `inner` */
    void *inner;
    char *path;
} wfh;

static int w_open(void *ctx, const char *path, unsigned int flags, void **fh)
{
    wfh *h = calloc(1, sizeof(*h));
    struct stat st;
    int rc;
    if (!h)
        return AFS_ENOMEM;
    h->fd = -1;
    if (cur_fd >= 0 && !(flags & (AFS_FS_O_CREATE | AFS_FS_O_TRUNC)) &&
        lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_dev == cur_dev &&
        st.st_ino == cur_ino) {
        h->fd = fcntl(cur_fd, F_DUPFD_CLOEXEC, 0);
        h->path = strdup(path);
        if (h->fd < 0 || !h->path) {
            rc = fail_errno(errno ? errno : ENOMEM, "duplicate the event's file descriptor");
            if (h->fd >= 0)
                close(h->fd);
            free(h->path);
            free(h);
            return rc;
        }
        *fh = h;
        return 0;
    }
    if ((rc = g_inner->open(ctx, path, flags, &h->inner)) != 0) {
        free(h);
        return rc;
    }
    *fh = h;
    return 0;
}

static int w_read(void *ctx, void *fh, uint64_t offset, void *buf, size_t len, size_t *nread)
{
    wfh *h = fh;
    size_t got = 0;
    if (h->fd < 0)
        return g_inner->read(ctx, h->inner, offset, buf, len, nread);
    while (got < len) {
        ssize_t n = pread(h->fd, (char *)buf + got, len - got, (off_t)(offset + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail_errno(errno, "read");
        if (n == 0)
            break;
        got += (size_t)n;
    }
    *nread = got;
    return 0;
}

static int w_write(void *ctx, void *fh, uint64_t offset, const void *buf, size_t len)
{
    wfh *h = fh;
    size_t put = 0;
    if (h->fd < 0)
        return g_inner->write(ctx, h->inner, offset, buf, len);
    while (put < len) {
        ssize_t n = pwrite(h->fd, (const char *)buf + put, len - put, (off_t)(offset + put));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return fail_errno(n < 0 ? errno : EIO, "write");
        put += (size_t)n;
    }
    return 0;
}

static int w_fstat(void *ctx, void *fh, afs_fs_stat *out)
{
    wfh *h = fh;
    if (h->fd >= 0)
        return g_inner->stat(ctx, h->path, out); /* the same inode */
    if (g_inner->fstat)
        return g_inner->fstat(ctx, h->inner, out);
    return AFS_ENOTSUP;
}

static int w_truncate(void *ctx, void *fh, uint64_t size)
{
    wfh *h = fh;
    if (h->fd < 0)
        return g_inner->truncate(ctx, h->inner, size);
    return ftruncate(h->fd, (off_t)size) == 0 ? 0 : fail_errno(errno, "truncate");
}

static int w_fsync(void *ctx, void *fh)
{
    wfh *h = fh;
    if (h->fd < 0)
        return g_inner->fsync ? g_inner->fsync(ctx, h->inner) : 0;
    return fsync(h->fd) == 0 ? 0 : fail_errno(errno, "fsync");
}

static int w_close(void *ctx, void *fh)
{
    wfh *h = fh;
    int rc = 0;
    if (h->fd < 0) {
        rc = g_inner->close(ctx, h->inner);
    } else {
        if (close(h->fd) != 0)
            rc = fail_errno(errno, "close");
        free(h->path);
    }
    free(h);
    return rc;
}

static int w_punch_hole(void *ctx, void *fh, uint64_t offset, uint64_t len)
{
    wfh *h = fh;
    if (h->fd < 0)
        return g_inner->punch_hole(ctx, h->inner, offset, len);
    /* Recall never punches; tiering from the daemon goes through the inner handle. */
    return afs_error_set_str(AFS_ENOTSUP, "afs-hsmd: punch through an event descriptor");
}

/* The wrapper shares the inner context, so every path slot is the inner's own. */
static int wrap_fs(afs_fs *inner, afs_fs **out)
{
    const afs_fs_ops *io;
    void *ictx;
    afs_fs_ops o;
    int rc;
    if ((rc = afs_fs_ops_get(inner, &io, &ictx)) != 0)
        return rc;
    if (!io->punch_hole || !io->marker_get)
        return afs_error_set_str(AFS_ENOTSUP, "afs-hsmd: the filesystem cannot hold "
                                              "placeholders");
    g_inner = io;
    o = *io;
    o.version = AFS_FS_OPS_VERSION;
    o.release = NULL; /* the inner filesystem is freed by its owner */
    o.open = w_open;
    o.read = w_read;
    o.write = w_write;
    o.fstat = w_fstat;
    o.truncate = w_truncate;
    o.fsync = w_fsync;
    o.close = w_close;
    o.punch_hole = w_punch_hole;
    return afs_fs_new(out, &o, ictx);
}

/* ---- handles: one set per thread ---- */

typedef struct epset {
    afs_service *svc;
    afs_group **groups;
    afs_endpoint **eps;
    size_t n;
} epset;

static void epset_close(epset *s)
{
    for (size_t i = 0; i < s->n; i++) {
        afs_endpoint_close(s->eps[i]);
        afs_group_close(s->groups[i]);
    }
    free(s->eps);
    free(s->groups);
    afs_service_close(s->svc);
    memset(s, 0, sizeof(*s));
}

/* Open the service and its tiering endpoints, in the order of afs_group_list(). */
static int epset_open(epset *s, const char *state_dir, afs_fs *fs)
{
    afs_service_options so = AFS_SERVICE_OPTIONS_INIT;
    afs_strarray names;
    int rc;
    memset(s, 0, sizeof(*s));
    memset(&names, 0, sizeof(names));
    so.fs = fs;
    if ((rc = afs_service_open(&s->svc, state_dir, &so)) != 0)
        return rc;
    if ((rc = afs_group_list(s->svc, &names)) != 0)
        goto fail;
    s->groups = calloc(names.count ? names.count : 1, sizeof(*s->groups));
    s->eps = calloc(names.count ? names.count : 1, sizeof(*s->eps));
    if (!s->groups || !s->eps) {
        rc = AFS_ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < names.count; i++) {
        afs_endpoint_options eo = AFS_ENDPOINT_OPTIONS_INIT;
        afs_group *g = NULL;
        afs_endpoint *ep = NULL;
        if ((rc = afs_group_open(&g, s->svc, names.strings[i], NULL)) != 0)
            goto fail;
        rc = afs_endpoint_open(&ep, g);
        if (rc == AFS_ENOTFOUND) { /* no endpoint of this server in the group */
            afs_error_clear();
            afs_group_close(g);
            continue;
        }
        if (rc == 0)
            rc = afs_endpoint_get_options(ep, &eo);
        if (rc != 0) {
            afs_endpoint_close(ep);
            afs_group_close(g);
            goto fail;
        }
        if (!eo.tiering_enabled) { /* never has placeholders */
            afs_endpoint_close(ep);
            afs_group_close(g);
            continue;
        }
        s->groups[s->n] = g;
        s->eps[s->n] = ep;
        s->n++;
    }
    afs_strarray_free(&names);
    return 0;
fail:
    afs_strarray_free(&names);
    epset_close(s);
    return rc;
}

/* ---- events ---- */

typedef struct job {
    int fd;             /* the event's fd; closed when the job is freed */
    pid_t pid;
    uint64_t off, len;  /* the range reported (len UINT64_MAX: whole file) */
    size_t ep;          /* endpoint index */
    char *path;
    int64_t deadline;
    bool answered;      /* under d->mu */
    struct job *next;   /* the queue */
    struct job *pnext;  /* the pending list */
} job;

typedef struct worker {
    struct hsmd *d;
    pthread_t tid;
    epset set;
    struct { dev_t dev; ino_t ino; pid_t pid; int64_t at; } heat[HEAT_CACHE];
    size_t heat_next;
} worker;

struct hsmd {
    hsmd_config cfg;
    char **no_heat;
    char **open_list;       /* cfg.recall_on_open, copied */
    afs_fs *posix;          /* when the config gave none */
    afs_fs *fs;             /* the wrapper */
    afs_recall_host *host;
    epset ctl;              /* the scanner's */
    char **roots;           /* endpoint roots, index as in every epset */
    size_t nroots;
    bool *served;           /* roots on a file system with pre-content events */
    size_t nserved;
    int fan;                /* pre-content group */
    int nfan;               /* notification group (FAN_ATTRIB), -1 if unavailable */
    int wake[2];
    int *root_fds;          /* for open_by_handle_at */
    pthread_mutex_t scan_mu; /* the control handles: one scan at a time */
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* queue */
    pthread_cond_t wd_cv;   /* watchdog */
    job *qhead, *qtail;
    job *pending;
    bool stopping;
    hsmd_counters n;
    worker *workers;
    uint32_t nworkers;
    pthread_t reader_tid, watchdog_tid, scanner_tid;
    bool reader_on, watchdog_on, scanner_on;
};

static void logf_(hsmd *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(hsmd *d, const char *fmt, ...)
{
    va_list ap;
    if (!d->cfg.verbose)
        return;
    va_start(ap, fmt);
    fputs("afs-hsmd: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Add `by` to the counter of a worker's answer: recalls_ok or denied. */
static void count_answer(hsmd *d, int rc, int by)
{
    pthread_mutex_lock(&d->mu);
    if (rc == 0)
        d->n.recalls_ok += (uint64_t)(int64_t)by;
    else
        d->n.denied += (uint64_t)(int64_t)by;
    pthread_mutex_unlock(&d->mu);
}

/* Answer an event once; whoever comes first (worker or watchdog) wins. */
static bool answer(hsmd *d, job *j, uint32_t response)
{
    struct fanotify_response r;
    bool first;
    pthread_mutex_lock(&d->mu);
    first = !j->answered;
    j->answered = true;
    pthread_mutex_unlock(&d->mu);
    if (!first)
        return false;
    r.fd = j->fd;
    r.response = response;
    if (write(d->fan, &r, sizeof(r)) != (ssize_t)sizeof(r))
        fprintf(stderr, "afs-hsmd: answer %s: %s\n", j->path, strerror(errno));
    return true;
}

static void allow_now(hsmd *d, int fd)
{
    struct fanotify_response r = { fd, FAN_ALLOW };
    if (write(d->fan, &r, sizeof(r)) != (ssize_t)sizeof(r))
        fprintf(stderr, "afs-hsmd: answer: %s\n", strerror(errno));
}

/* The endpoint holding `path`, or -1. */
static long endpoint_of(hsmd *d, const char *path)
{
    for (size_t i = 0; i < d->nroots; i++) {
        size_t n = strlen(d->roots[i]);
        if (!d->served[i])
            continue;
        if (strncmp(path, d->roots[i], n) == 0 && (path[n] == '/' || path[n] == '\0'))
            return (long)i;
    }
    return -1;
}

static int fd_path(int fd, char *buf, size_t cap)
{
    char link[64];
    ssize_t n;
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    n = readlink(link, buf, cap - 1);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return 0;
}

static void job_free(hsmd *d, job *j)
{
    pthread_mutex_lock(&d->mu);
    for (job **p = &d->pending; *p; p = &(*p)->pnext)
        if (*p == j) {
            *p = j->pnext;
            break;
        }
    pthread_mutex_unlock(&d->mu);
    close(j->fd);
    free(j->path);
    free(j);
}

/* Is the process's name (comm) one of `names`? */
static bool comm_in(pid_t pid, char *const *names, size_t n)
{
    char p[64], comm[64];
    FILE *f;
    size_t len;
    if (!n)
        return false;
    snprintf(p, sizeof(p), "/proc/%d/comm", (int)pid);
    if (!(f = fopen(p, "re")))
        return false;
    len = fread(comm, 1, sizeof(comm) - 1, f);
    fclose(f);
    comm[len] = '\0';
    comm[strcspn(comm, "\n")] = '\0';
    for (size_t i = 0; i < n; i++)
        if (strcmp(comm, names[i]) == 0)
            return true;
    return false;
}

static void handle_event(hsmd *d, const struct fanotify_event_metadata *m)
{
    const char *p = (const char *)m + m->metadata_len, *end = (const char *)m + m->event_len;
    char path[PATH_MAX];
    uint64_t off = 0, len = UINT64_MAX;
    long ep;
    job *j;

    if (m->fd < 0)
        return;
    if (m->pid == getpid()) { /* our own recall or scan: never wait for ourselves */
        allow_now(d, m->fd);
        close(m->fd);
        pthread_mutex_lock(&d->mu);
        d->n.self_allowed++;
        pthread_mutex_unlock(&d->mu);
        return;
    }
    while (p + sizeof(struct fanotify_event_info_header) <= end) {
        const struct fanotify_event_info_header *h = (const void *)p;
        if (h->len == 0)
            break;
        if (h->info_type == FAN_EVENT_INFO_TYPE_RANGE &&
            h->len >= sizeof(struct fanotify_event_info_range)) {
            const struct fanotify_event_info_range *r = (const void *)p;
            off = r->offset;
            len = r->count;
        }
        p += h->len;
    }
    /* An open: only copy tools that skip holes (SEEK_DATA, reflinks) get the whole
     * file first; they would never read the holes. Everyone else reads ranges. */
    if ((m->mask & FAN_OPEN_PERM) &&
        comm_in(m->pid, d->open_list, d->cfg.recall_on_open_count)) {
        off = 0;
        len = UINT64_MAX;
    } else if (!(m->mask & FAN_PRE_ACCESS)) {
        allow_now(d, m->fd);
        close(m->fd);
        return;
    }
    if (fd_path(m->fd, path, sizeof(path)) != 0 || (ep = endpoint_of(d, path)) < 0) {
        allow_now(d, m->fd); /* not ours to judge */
        close(m->fd);
        return;
    }
    if (!(j = calloc(1, sizeof(*j))) || !(j->path = strdup(path))) {
        struct fanotify_response r = { m->fd, FAN_DENY_ERRNO(ENOMEM) };
        if (write(d->fan, &r, sizeof(r)) < 0)
            fprintf(stderr, "afs-hsmd: answer: %s\n", strerror(errno));
        close(m->fd);
        free(j);
        return;
    }
    j->fd = m->fd;
    j->pid = m->pid;
    j->off = off;
    j->len = len;
    j->ep = (size_t)ep;
    j->deadline = now_ns() + (int64_t)d->cfg.answer_timeout_ms * 1000000LL;
    pthread_mutex_lock(&d->mu);
    d->n.events++;
    j->pnext = d->pending;
    d->pending = j;
    if (d->qtail)
        d->qtail->next = j;
    else
        d->qhead = j;
    d->qtail = j;
    pthread_cond_signal(&d->cv);
    pthread_cond_signal(&d->wd_cv);
    pthread_mutex_unlock(&d->mu);
}

static void *reader_main(void *arg)
{
    hsmd *d = arg;
    char buf[64 * 1024] __attribute__((aligned(8)));
    for (;;) {
        struct pollfd pf[2] = { { d->fan, POLLIN, 0 }, { d->wake[0], POLLIN, 0 } };
        ssize_t n;
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pf[1].revents)
            break;
        n = read(d->fan, buf, sizeof(buf));
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            fprintf(stderr, "afs-hsmd: read events: %s\n", strerror(errno));
            break;
        }
        for (const struct fanotify_event_metadata *m = (const void *)buf; FAN_EVENT_OK(m, n);
             m = FAN_EVENT_NEXT(m, n))
            handle_event(d, m);
    }
    return NULL;
}

/* ---- marks ---- */

static bool mark_placeholder(hsmd *d, const char *path)
{
    uint64_t mask = FAN_PRE_ACCESS | (d->cfg.recall_on_open_count ? FAN_OPEN_PERM : 0);
    if (fan_mark(d->fan, FAN_MARK_ADD, mask, AT_FDCWD, path) != 0) {
        fprintf(stderr, "afs-hsmd: mark %s: %s\n", path, strerror(errno));
        return false;
    }
    pthread_mutex_lock(&d->mu);
    d->n.marks++;
    pthread_mutex_unlock(&d->mu);
    return true;
}

static void unmark(hsmd *d, const char *path)
{
    if (fan_mark(d->fan, FAN_MARK_REMOVE, FAN_PRE_ACCESS | FAN_OPEN_PERM, AT_FDCWD, path) == 0) {
        pthread_mutex_lock(&d->mu);
        d->n.unmarks++;
        pthread_mutex_unlock(&d->mu);
    }
}

/* Mark `path` if it is a placeholder of endpoint `ep` (scanner's handles), unmark if full. */
static int check_file(hsmd *d, size_t ep, const char *path)
{
    afs_tier_info info;
    int rc, marked = 0;
    memset(&info, 0, sizeof(info));
    info.version = AFS_TIER_INFO_VERSION;
    rc = afs_tier_query(d->ctl.eps[ep], path, &info);
    if (rc == 0 && info.state != AFS_TIER_STATE_FULL)
        marked = mark_placeholder(d, path);
    else if (rc == 0)
        unmark(d, path);
    else
        afs_error_clear(); /* foreign marker, gone: not ours */
    afs_tier_info_clear(&info);
    return marked;
}

/*
 * New placeholders (a tiering pass, a namespace download) are seen through
 * a notification group with an inode mark on every directory of the
 * endpoints: a marker set on a child is FAN_ATTRIB, a file or folder
 * renamed or created in is FAN_CREATE / FAN_MOVED_TO. Not a filesystem
 * mark: on this kernel a process that holds a filesystem mark in one group
 * and dies with a pre-content event unanswered in another never finishes
 * exiting, and the reader stays blocked (docs/recall-daemon.md#kernel).
 */
#define DIR_EVENTS (FAN_ATTRIB | FAN_CREATE | FAN_MOVED_TO | FAN_ONDIR | FAN_EVENT_ON_CHILD)

static __thread hsmd *walk_d;
static __thread size_t walk_ep, walk_marks;

static int walk_fn(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)ftw;
    if (type == FTW_F && S_ISREG(st->st_mode))
        walk_marks += (size_t)check_file(walk_d, walk_ep, path);
    else if (type == FTW_D && walk_d->nfan >= 0 &&
             fan_mark(walk_d->nfan, FAN_MARK_ADD | FAN_MARK_ONLYDIR, DIR_EVENTS, AT_FDCWD,
                      path) != 0)
        fprintf(stderr, "afs-hsmd: watch %s: %s\n", path, strerror(errno));
    return 0;
}

/* Mark the placeholders and watch the folders below `path` of endpoint `ep`. */
static size_t scan_tree(hsmd *d, size_t ep, const char *path)
{
    walk_d = d;
    walk_ep = ep;
    walk_marks = 0;
    if (nftw(path, walk_fn, 32, FTW_PHYS | FTW_MOUNT) != 0 && errno != ENOENT)
        fprintf(stderr, "afs-hsmd: scan %s: %s\n", path, strerror(errno));
    return walk_marks;
}

/* Called with scan_mu held. */
static size_t scan_all(hsmd *d)
{
    size_t n = 0;
    for (size_t i = 0; i < d->nroots; i++)
        if (d->served[i])
            n += scan_tree(d, i, d->roots[i]);
    return n;
}

/* A folder event: `name` in a watched folder was created, renamed in, or
 * had its attributes (the tier marker) changed. */
static void handle_dir_event(hsmd *d, const struct fanotify_event_metadata *m)
{
    const char *p = (const char *)m + m->metadata_len, *end = (const char *)m + m->event_len;
    while (p + sizeof(struct fanotify_event_info_header) <= end) {
        const struct fanotify_event_info_header *h = (const void *)p;
        if (h->len == 0)
            break;
        if (h->info_type == FAN_EVENT_INFO_TYPE_DFID_NAME) {
            const struct fanotify_event_info_fid *f = (const void *)p;
            struct file_handle *fh = (struct file_handle *)(void *)f->handle;
            const char *name = (const char *)fh->f_handle + fh->handle_bytes;
            char dir[PATH_MAX], path[PATH_MAX];
            for (size_t i = 0; strcmp(name, ".") != 0 && i < d->nroots; i++) {
                int fd = open_by_handle_at(d->root_fds[i], fh, O_PATH | O_CLOEXEC);
                struct stat st;
                long ep;
                if (fd < 0)
                    continue;
                if (fd_path(fd, dir, sizeof(dir)) == 0 &&
                    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) < sizeof(path) &&
                    (ep = endpoint_of(d, path)) >= 0 && lstat(path, &st) == 0) {
                    if (S_ISREG(st.st_mode))
                        check_file(d, (size_t)ep, path);
                    else if (S_ISDIR(st.st_mode) && (m->mask & (FAN_CREATE | FAN_MOVED_TO)))
                        scan_tree(d, (size_t)ep, path);
                }
                close(fd);
                break;
            }
        }
        p += h->len;
    }
}

static void *scanner_main(void *arg)
{
    hsmd *d = arg;
    int64_t next = d->cfg.rescan_s ? now_ns() + (int64_t)d->cfg.rescan_s * 1000000000LL : 0;
    char buf[16 * 1024] __attribute__((aligned(8)));
    for (;;) {
        struct pollfd pf[2] = { { d->nfan, POLLIN, 0 }, { d->wake[0], POLLIN, 0 } };
        int timeout = -1, prc;
        if (next) {
            int64_t left = (next - now_ns()) / 1000000;
            timeout = left < 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
        }
        prc = poll(pf, 2, timeout);
        if (prc < 0 && errno != EINTR)
            break;
        if (pf[1].revents)
            break;
        if (prc > 0 && pf[0].revents) {
            ssize_t n = read(d->nfan, buf, sizeof(buf));
            for (const struct fanotify_event_metadata *m = (const void *)buf;
                 n > 0 && FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n))
                if (m->mask & (FAN_ATTRIB | FAN_CREATE | FAN_MOVED_TO)) {
                    pthread_mutex_lock(&d->scan_mu);
                    handle_dir_event(d, m);
                    pthread_mutex_unlock(&d->scan_mu);
                }
        }
        if (next && now_ns() >= next) {
            hsmd_rescan(d);
            next = now_ns() + (int64_t)d->cfg.rescan_s * 1000000000LL;
        }
    }
    return NULL;
}

/* ---- workers ---- */

/* Report the access at most once a second per file and process. */
static void report_access(worker *w, job *j, const struct stat *st)
{
    int64_t now = now_ns();
    uint32_t flags = AFS_TIER_ACCESS_READ;
    for (size_t i = 0; i < HEAT_CACHE; i++)
        if (w->heat[i].ino == st->st_ino && w->heat[i].dev == st->st_dev &&
            w->heat[i].pid == j->pid && now - w->heat[i].at < HEAT_INTERVAL_NS)
            return;
    w->heat[w->heat_next].dev = st->st_dev;
    w->heat[w->heat_next].ino = st->st_ino;
    w->heat[w->heat_next].pid = j->pid;
    w->heat[w->heat_next].at = now;
    w->heat_next = (w->heat_next + 1) % HEAT_CACHE;
    if (comm_in(j->pid, w->d->no_heat, w->d->cfg.no_heat_count))
        flags |= AFS_TIER_ACCESS_NO_HEAT;
    if (afs_tier_access(w->set.eps[j->ep], j->path, flags, AFS_TIME_OMIT) != 0) {
        logf_(w->d, "heat %s: %s", j->path, afs_error_last());
        afs_error_clear();
    }
}

/*
 * Does `pid` have the file open for writing? The kernel reports reads and
 * writes alike as FAN_PRE_ACCESS; a write into a placeholder must find the
 * whole file there (a partly recalled file that was written to could never
 * be uploaded), so a writer gets a whole-file recall.
 */
static bool opened_for_writing(pid_t pid, const struct stat *file)
{
    char dir[64], p[384], line[128];
    DIR *dh;
    struct dirent *e;
    bool writes = false;
    snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
    if (!(dh = opendir(dir)))
        return false;
    while (!writes && (e = readdir(dh))) {
        struct stat st;
        FILE *f;
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (stat(p, &st) != 0 || st.st_ino != file->st_ino || st.st_dev != file->st_dev)
            continue;
        snprintf(p, sizeof(p), "/proc/%d/fdinfo/%s", (int)pid, e->d_name);
        if (!(f = fopen(p, "re")))
            continue;
        while (fgets(line, sizeof(line), f)) {
            unsigned int flags;
            if (sscanf(line, "flags: %o", &flags) == 1) {
                writes = (flags & O_ACCMODE) != O_RDONLY;
                break;
            }
        }
        fclose(f);
    }
    closedir(dh);
    return writes;
}

/* Does the file's marker already record [begin, end) (clipped to the size) as on disk?
 * *full: whether the file is complete (no marker left). */
static bool already_present(afs_endpoint *ep, const char *path, uint64_t begin, uint64_t end,
                            bool *full)
{
    afs_tier_info info;
    bool yes = false;
    *full = false;
    memset(&info, 0, sizeof(info));
    info.version = AFS_TIER_INFO_VERSION;
    if (afs_tier_query(ep, path, &info) == 0) {
        if (info.state == AFS_TIER_STATE_FULL) {
            yes = *full = true;
        } else {
            if (end > info.size)
                end = info.size;
            /* Ranges are sorted and disjoint: walk them over [begin, end). */
            for (size_t i = 0; i < info.range_count && begin < end; i++) {
                uint64_t off = info.ranges[2 * i], len = info.ranges[2 * i + 1];
                if (off <= begin && begin < off + len)
                    begin = off + len;
            }
            yes = begin >= end;
        }
    }
    afs_tier_info_clear(&info);
    afs_error_clear();
    return yes;
}

static void serve(worker *w, job *j)
{
    hsmd *d = w->d;
    afs_endpoint *ep = w->set.eps[j->ep];
    uint64_t chunk = d->cfg.chunk, begin, end;
    struct stat st;
    uint32_t response;
    bool present, full;
    int rc;

    if (fstat(j->fd, &st) != 0) {
        answer(d, j, FAN_DENY_ERRNO(EIO));
        return;
    }
    /* The chunks the access touches; the whole file for a range-less event or a writer. */
    if (j->len == UINT64_MAX || j->len == 0 || opened_for_writing(j->pid, &st)) {
        begin = 0;
        end = UINT64_MAX;
    } else {
        begin = j->off / chunk * chunk;
        end = j->off + j->len;
        end = end > UINT64_MAX - chunk ? UINT64_MAX : (end + chunk - 1) / chunk * chunk;
    }
    present = already_present(ep, j->path, begin, end, &full);
    if (present) {
        rc = 0; /* a later read of a recalled chunk: no recall call (it would fsync) */
    } else {
        cur_fd = j->fd;
        cur_dev = st.st_dev;
        cur_ino = st.st_ino;
        rc = afs_tier_recall_range(ep, j->path, begin,
                                   end == UINT64_MAX ? UINT64_MAX : end - begin,
                                   AFS_RECALL_ON_ACCESS | AFS_RECALL_NO_WAIT);
        cur_fd = -1;
    }
    if (rc == AFS_EBUSY) {
        /* Another process is tiering the file or updating it to a new cloud version
         * (its own punch or truncate raised this event); waiting would hold it
         * until the watchdog. Its data is leaving on purpose: let the access go. */
        if (d->cfg.verbose)
            fprintf(stderr, "afs-hsmd: %s is changing state in another process: allowed "
                    "without a recall\n", j->path);
        afs_error_clear();
        rc = 0;
    }
    if (rc == 0)
        response = FAN_ALLOW;
    else if (rc == AFS_ENOSPC)
        response = FAN_DENY_ERRNO(ENOSPC);
    else
        response = FAN_DENY_ERRNO(EIO);
    if (rc != 0)
        fprintf(stderr, "afs-hsmd: recall %s [%llu, +%llu) for pid %d: %s\n", j->path,
                (unsigned long long)begin, (unsigned long long)(end - begin), (int)j->pid,
                afs_error_last());
    /* Counted before the answer, so that whoever the answer wakes (a test
     * reading the counters) sees it; taken back if the answer was not sent. */
    count_answer(d, rc, 1);
    if (!answer(d, j, response)) {
        count_answer(d, rc, -1);
    } else {
        logf_(d, "%s %s [%llu, +%llu) pid %d", rc == 0 ? "allow" : "deny", j->path,
              (unsigned long long)j->off, (unsigned long long)j->len, (int)j->pid);
    }
    afs_error_clear();
    report_access(w, j, &st);
    if (rc == 0 && !present) { /* the recall may have completed it */
        afs_tier_info info;
        memset(&info, 0, sizeof(info));
        info.version = AFS_TIER_INFO_VERSION;
        full = afs_tier_query(ep, j->path, &info) == 0 && info.state == AFS_TIER_STATE_FULL;
        afs_tier_info_clear(&info);
        afs_error_clear();
    }
    if (rc == 0 && full)
        unmark(d, j->path); /* complete now: no more events for it */
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    hsmd *d = w->d;
    for (;;) {
        job *j;
        pthread_mutex_lock(&d->mu);
        while (!d->qhead && !d->stopping)
            pthread_cond_wait(&d->cv, &d->mu);
        if (d->stopping) {
            pthread_mutex_unlock(&d->mu);
            break;
        }
        j = d->qhead;
        d->qhead = j->next;
        if (!d->qhead)
            d->qtail = NULL;
        pthread_mutex_unlock(&d->mu);
        serve(w, j);
        job_free(d, j);
    }
    return NULL;
}

/* ---- the watchdog ---- */

static void *watchdog_main(void *arg)
{
    hsmd *d = arg;
    pthread_mutex_lock(&d->mu);
    while (!d->stopping) {
        int64_t now = now_ns(), next = now + 1000000000LL;
        struct timespec ts;
        for (job *j = d->pending; j; j = j->pnext) {
            if (j->answered)
                continue;
            if (j->deadline <= now) {
                struct fanotify_response r = { j->fd, FAN_DENY_ERRNO(EIO) };
                j->answered = true;
                d->n.timeouts++;
                if (write(d->fan, &r, sizeof(r)) != (ssize_t)sizeof(r))
                    fprintf(stderr, "afs-hsmd: answer %s: %s\n", j->path, strerror(errno));
                fprintf(stderr, "afs-hsmd: recall of %s took over %u ms: answered EIO\n",
                        j->path, d->cfg.answer_timeout_ms);
            } else if (j->deadline < next) {
                next = j->deadline;
            }
        }
        clock_gettime(CLOCK_MONOTONIC, &ts);
        {
            int64_t wait = next - now;
            ts.tv_sec += wait / 1000000000LL;
            ts.tv_nsec += wait % 1000000000LL;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
        }
        pthread_cond_timedwait(&d->wd_cv, &d->mu, &ts);
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

/* ---- start and stop ---- */

static int setup_groups(hsmd *d)
{
    d->fan = fan_init(FAN_CLASS_PRE_CONTENT | FAN_CLOEXEC | FAN_UNLIMITED_QUEUE |
                          FAN_UNLIMITED_MARKS,
                      O_RDWR | O_LARGEFILE | O_CLOEXEC);
    if (d->fan < 0) {
        if (errno == EPERM)
            return afs_error_set_str(AFS_EPERM, "afs-hsmd: fanotify needs CAP_SYS_ADMIN (run "
                                                "as root)");
        return fail_errno(errno, "fanotify_init(FAN_CLASS_PRE_CONTENT)");
    }
    /* Does this kernel and file system have pre-content events? Probe each root: a
     * file system without them (tmpfs: EOPNOTSUPP) loses its endpoints, a kernel
     * without them (EINVAL) everything. */
    for (size_t i = 0; i < d->nroots; i++) {
        if (fan_mark(d->fan, FAN_MARK_ADD, FAN_PRE_ACCESS, AT_FDCWD, d->roots[i]) != 0) {
            int e = errno;
            char msg[PATH_MAX + 200];
            if (e == EOPNOTSUPP || e == EXDEV) {
                fprintf(stderr, "afs-hsmd: %s: its file system has no fanotify pre-content "
                                "events (%s): not served\n", d->roots[i], strerror(e));
                continue;
            }
            snprintf(msg, sizeof(msg), "afs-hsmd: %s: %s: the kernel has no fanotify "
                     "pre-content events (Linux 6.14 or later is needed)", d->roots[i],
                     strerror(e));
            return afs_error_set_str(e == EINVAL ? AFS_ENOTSUP : errno_code(e), msg);
        }
        fan_mark(d->fan, FAN_MARK_REMOVE, FAN_PRE_ACCESS, AT_FDCWD, d->roots[i]);
        d->served[i] = true;
        d->nserved++;
    }
    if (d->nroots && !d->nserved)
        return afs_error_set_str(AFS_ENOTSUP, "afs-hsmd: no endpoint is on a file system with "
                                              "fanotify pre-content events (ext4, xfs, btrfs)");
    d->nfan = fan_init(FAN_CLASS_NOTIF | FAN_REPORT_DFID_NAME | FAN_CLOEXEC | FAN_NONBLOCK |
                           FAN_UNLIMITED_MARKS,
                       O_RDONLY | O_CLOEXEC);
    if (d->nfan < 0)
        fprintf(stderr, "afs-hsmd: no folder watch (%s); new placeholders are found by the "
                        "rescan only\n", strerror(errno));
    return 0;
}

void hsmd_config_defaults(hsmd_config *cfg)
{
    static const char *const open_list[] = { HSMD_RECALL_ON_OPEN };
    memset(cfg, 0, sizeof(*cfg));
    cfg->recall_on_open = open_list;
    cfg->recall_on_open_count = sizeof(open_list) / sizeof(open_list[0]);
}

static char **strv_dup(const char *const *v, size_t n)
{
    char **out = calloc(n + 1, sizeof(char *));
    for (size_t i = 0; out && i < n; i++)
        if (!(out[i] = strdup(v[i]))) {
            for (size_t k = 0; k < i; k++)
                free(out[k]);
            free(out);
            return NULL;
        }
    return out;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

int hsmd_start(hsmd **out, const hsmd_config *cfg)
{
    hsmd *d;
    int rc;

    *out = NULL;
    if (!cfg || !cfg->state_dir)
        return afs_error_set_str(AFS_EINVAL, "afs-hsmd: a state directory is required");
    if (!(d = calloc(1, sizeof(*d))))
        return AFS_ENOMEM;
    d->cfg = *cfg;
    d->fan = d->nfan = -1;
    d->wake[0] = d->wake[1] = -1;
    pthread_mutex_init(&d->mu, NULL);
    pthread_mutex_init(&d->scan_mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&d->wd_cv, &ca);
        pthread_condattr_destroy(&ca);
    }
    if (!d->cfg.chunk)
        d->cfg.chunk = AFS_TIER_CHUNK;
    if (d->cfg.chunk % AFS_TIER_CHUNK) {
        rc = afs_error_set_str(AFS_EINVAL, "afs-hsmd: the chunk must be a multiple of 1 MiB");
        goto fail;
    }
    if (!d->cfg.answer_timeout_ms)
        d->cfg.answer_timeout_ms = DEFAULT_TIMEOUT_MS;
    if (!d->cfg.workers)
        d->cfg.workers = DEFAULT_WORKERS;
    if (d->cfg.workers > MAX_WORKERS)
        d->cfg.workers = MAX_WORKERS;
    d->no_heat = strv_dup(cfg->no_heat, cfg->no_heat_count);
    d->open_list = strv_dup(cfg->recall_on_open, cfg->recall_on_open_count);
    if (!d->no_heat || !d->open_list) {
        rc = AFS_ENOMEM;
        goto fail;
    }
    if (!cfg->inner_fs && (rc = afs_fs_posix_new(&d->posix)) != 0)
        goto fail;
    if ((rc = wrap_fs(cfg->inner_fs ? cfg->inner_fs : d->posix, &d->fs)) != 0)
        goto fail;
    if ((rc = epset_open(&d->ctl, cfg->state_dir, d->fs)) != 0)
        goto fail;
    if ((rc = afs_recall_host_claim(&d->host, d->ctl.svc)) != 0)
        goto fail;
    d->roots = calloc(d->ctl.n + 1, sizeof(char *));
    d->root_fds = calloc(d->ctl.n + 1, sizeof(int));
    d->served = calloc(d->ctl.n + 1, sizeof(bool));
    if (!d->roots || !d->root_fds || !d->served) {
        rc = AFS_ENOMEM;
        goto fail;
    }
    d->nroots = d->ctl.n;
    for (size_t i = 0; i < d->nroots; i++)
        d->root_fds[i] = -1;
    for (size_t i = 0; i < d->nroots; i++) {
        d->roots[i] = strdup(afs_endpoint_path(d->ctl.eps[i]));
        d->root_fds[i] = d->roots[i] ? open(d->roots[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                                     : -1;
        if (d->root_fds[i] < 0) {
            rc = fail_errno(d->roots[i] ? errno : ENOMEM, "open an endpoint root");
            goto fail;
        }
    }
    if ((rc = setup_groups(d)) != 0)
        goto fail;
    if (pipe2(d->wake, O_CLOEXEC) != 0) {
        rc = fail_errno(errno, "pipe");
        goto fail;
    }
    /* Answer before marking: a read that starts during the scan is served. */
    d->workers = calloc(d->cfg.workers, sizeof(*d->workers));
    if (!d->workers) {
        rc = AFS_ENOMEM;
        goto fail;
    }
    for (uint32_t i = 0; i < d->cfg.workers; i++) {
        worker *w = &d->workers[i];
        w->d = d;
        if ((rc = epset_open(&w->set, cfg->state_dir, d->fs)) != 0)
            goto fail;
        if (w->set.n != d->nroots) {
            rc = afs_error_set_str(AFS_EBUSY, "afs-hsmd: the endpoints changed while starting");
            goto fail;
        }
        if (pthread_create(&w->tid, NULL, worker_main, w) != 0) {
            rc = fail_errno(errno, "start a worker");
            goto fail;
        }
        d->nworkers++;
    }
    if (pthread_create(&d->reader_tid, NULL, reader_main, d) != 0) {
        rc = fail_errno(errno, "start the reader");
        goto fail;
    }
    d->reader_on = true;
    if (pthread_create(&d->watchdog_tid, NULL, watchdog_main, d) != 0) {
        rc = fail_errno(errno, "start the watchdog");
        goto fail;
    }
    d->watchdog_on = true;
    hsmd_rescan(d);
    if (d->nfan >= 0 || d->cfg.rescan_s) {
        if (pthread_create(&d->scanner_tid, NULL, scanner_main, d) != 0) {
            rc = fail_errno(errno, "start the scanner");
            goto fail;
        }
        d->scanner_on = true;
    }
    *out = d;
    return 0;
fail:
    {
        char *msg = strdup(afs_error_last());
        hsmd_stop(d);
        afs_error_set_str(rc, msg);
        free(msg);
    }
    return rc;
}

size_t hsmd_rescan(hsmd *d)
{
    size_t n;
    pthread_mutex_lock(&d->scan_mu);
    n = scan_all(d);
    pthread_mutex_unlock(&d->scan_mu);
    return n;
}

size_t hsmd_endpoint_count(hsmd *d)
{
    return d->nserved;
}

void hsmd_counters_get(hsmd *d, hsmd_counters *out)
{
    pthread_mutex_lock(&d->mu);
    *out = d->n;
    pthread_mutex_unlock(&d->mu);
}

void hsmd_each_group(hsmd *d, void (*fn)(afs_group *group, void *payload), void *payload)
{
    for (size_t i = 0; i < d->ctl.n; i++)
        fn(d->ctl.groups[i], payload);
    for (uint32_t w = 0; w < d->nworkers; w++)
        for (size_t i = 0; i < d->workers[w].set.n; i++)
            fn(d->workers[w].set.groups[i], payload);
}

void hsmd_stop(hsmd *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->mu);
    d->stopping = true;
    pthread_cond_broadcast(&d->cv);
    pthread_cond_broadcast(&d->wd_cv);
    pthread_mutex_unlock(&d->mu);
    if (d->wake[1] >= 0 && write(d->wake[1], "x", 1) < 0)
        fprintf(stderr, "afs-hsmd: wake: %s\n", strerror(errno));
    if (d->reader_on)
        pthread_join(d->reader_tid, NULL);
    if (d->scanner_on)
        pthread_join(d->scanner_tid, NULL);
    if (d->watchdog_on)
        pthread_join(d->watchdog_tid, NULL);
    /* Queued, never served: answer EIO rather than let the kernel allow zeros. */
    while (d->qhead) {
        job *j = d->qhead;
        d->qhead = j->next;
        answer(d, j, FAN_DENY_ERRNO(EIO));
        job_free(d, j);
    }
    /* Recalls under way may finish within the answer timeout; then they are answered
     * EIO, and a worker stuck in the storage is left behind (the process is ending). */
    {
        struct timespec until;
        bool stuck = false;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += (time_t)(d->cfg.answer_timeout_ms / 1000u) + 1;
        for (uint32_t i = 0; i < d->nworkers; i++)
            if (pthread_timedjoin_np(d->workers[i].tid, NULL, &until) != 0)
                stuck = true;
        if (stuck) {
            pthread_mutex_lock(&d->mu);
            for (job *j = d->pending; j; j = j->pnext)
                if (!j->answered) {
                    struct fanotify_response r = { j->fd, FAN_DENY_ERRNO(EIO) };
                    j->answered = true;
                    if (write(d->fan, &r, sizeof(r)) != (ssize_t)sizeof(r))
                        fprintf(stderr, "afs-hsmd: answer %s: %s\n", j->path, strerror(errno));
                }
            pthread_mutex_unlock(&d->mu);
            fprintf(stderr, "afs-hsmd: a recall did not finish; stopping without it\n");
            return; /* its handles stay: the worker still uses them */
        }
    }
    for (uint32_t i = 0; i < d->cfg.workers && d->workers; i++)
        epset_close(&d->workers[i].set);
    free(d->workers);
    if (d->fan >= 0)
        close(d->fan); /* drops every mark */
    if (d->nfan >= 0)
        close(d->nfan);
    for (int i = 0; i < 2; i++)
        if (d->wake[i] >= 0)
            close(d->wake[i]);
    for (size_t i = 0; i < d->nroots; i++) {
        free(d->roots[i]);
        if (d->root_fds[i] >= 0)
            close(d->root_fds[i]);
    }
    free(d->roots);
    free(d->root_fds);
    free(d->served);
    afs_recall_host_release(d->host);
    epset_close(&d->ctl);
    afs_fs_free(d->fs);
    afs_fs_free(d->posix);
    strv_free(d->no_heat, d->cfg.no_heat_count);
    strv_free(d->open_list, d->cfg.recall_on_open_count);
    pthread_cond_destroy(&d->cv);
    pthread_cond_destroy(&d->wd_cv);
    pthread_mutex_destroy(&d->mu);
    pthread_mutex_destroy(&d->scan_mu);
    free(d);
}

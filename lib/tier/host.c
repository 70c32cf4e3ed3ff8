/*
 * The recall host role (docs/recall-daemon.md#recall-host): one process per
 * service answers applications' reads of placeholders (afs-hsmd on Linux).
 * It holds an open file description lock on <state_dir>/recall-host.lock,
 * which the kernel drops when the process dies, so a crash leaves no stale
 * claim; the file holds the holder's pid and start time for the report.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../service/service_internal.h"
#include "tier_priv.h"

#define HOST_FILE "recall-host.lock"

struct afs_recall_host {
    int fd;
};

static char *lock_path(afs_service *svc)
{
    return afs__sprintf("%s/%s", afs__service_state_dir(svc), HOST_FILE);
}

static void whole_file(struct flock *fl, short type)
{
    memset(fl, 0, sizeof(*fl));
    fl->l_type = type;
    fl->l_whence = SEEK_SET;
}

/* The holder's pid and start time as it wrote them (0 when unreadable). */
static void read_holder(int fd, int64_t *pid, int64_t *since_ns)
{
    char buf[96];
    long long p = 0, s = 0;
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    *pid = 0;
    *since_ns = 0;
    if (n <= 0)
        return;
    buf[n] = '\0';
    if (sscanf(buf, "%lld %lld", &p, &s) >= 1) {
        *pid = p;
        *since_ns = s;
    }
}

int afs_recall_host_claim(afs_recall_host **out, afs_service *svc)
{
    afs_recall_host *h = NULL;
    struct flock fl;
    char *path = NULL, line[64];
    int fd = -1, rc = 0, len;

    if (!out || !svc)
        return afs__error_set(AFS_EINVAL, "afs_recall_host_claim: out and svc are required");
    *out = NULL;
    if (!(path = lock_path(svc)))
        return AFS_ENOMEM;
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = afs__error_errno(errno, "recall host: open %s", path);
        goto done;
    }
    whole_file(&fl, F_WRLCK);
    if (fcntl(fd, F_OFD_SETLK, &fl) != 0) {
        int64_t pid, since;
        if (errno != EAGAIN && errno != EACCES) {
            rc = afs__error_errno(errno, "recall host: lock %s", path);
            goto done;
        }
        read_holder(fd, &pid, &since);
        rc = afs__error_set(AFS_EBUSY, "another recall host (pid %" PRId64 ") serves the "
                            "service in %s", pid, afs__service_state_dir(svc));
        goto done;
    }
    len = snprintf(line, sizeof(line), "%lld %lld\n", (long long)getpid(),
                   (long long)afs__now_ns());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)len, 0) != len) {
        rc = afs__error_errno(errno, "recall host: write %s", path);
        goto done;
    }
    if (!(h = afs__calloc(1, sizeof(*h)))) {
        rc = AFS_ENOMEM;
        goto done;
    }
    h->fd = fd;
    fd = -1;
    *out = h;
done:
    if (fd >= 0)
        close(fd); /* closing the only description drops the lock */
    free(path);
    return rc;
}

void afs_recall_host_release(afs_recall_host *host)
{
    if (!host)
        return;
    /* Empty the file first: a reader never sees the pid of a released host. */
    if (ftruncate(host->fd, 0) != 0)
        afs__log(AFS_LOG_WARN, "recall host: cannot empty the lock file: %s", strerror(errno));
    close(host->fd);
    free(host);
}

int afs_recall_host_query(afs_recall_host_info *out, afs_service *svc)
{
    struct flock fl;
    char *path = NULL;
    afs_recall_host_info t;
    int fd, rc = 0;

    if (!out || !svc)
        return afs__error_set(AFS_EINVAL, "afs_recall_host_query: out and svc are required");
    if ((rc = afs__vstruct_check(&afs__vs_recall_host_info, out->version,
                                 "afs_recall_host_query")) != 0)
        return rc;
    /* Filled whole here; only out->version's bytes are written. */
    memset(&t, 0, sizeof(t));
    t.version = AFS_RECALL_HOST_INFO_VERSION;
    if (!(path = lock_path(svc))) {
        rc = AFS_ENOMEM;
        goto done;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT)
            rc = afs__error_errno(errno, "recall host: open %s", path);
        goto done; /* never claimed: none active */
    }
    /* Ask whether a write lock could be taken: if not, a holder is alive. */
    whole_file(&fl, F_WRLCK);
    if (fcntl(fd, F_OFD_GETLK, &fl) != 0) {
        rc = afs__error_errno(errno, "recall host: query the lock of %s", path);
    } else if (fl.l_type != F_UNLCK) {
        t.active = 1;
        /* A claim locks, then writes its record: a query in between reads
         * an empty file for a moment (seen in test_hsmd). */
        read_holder(fd, &t.pid, &t.since_ns);
        for (int i = 0; i < 20 && t.pid == 0; i++) {
            struct timespec ts = { 0, 1000000 };
            nanosleep(&ts, NULL);
            read_holder(fd, &t.pid, &t.since_ns);
        }
    }
    close(fd);
done:
    free(path);
    afs__vstruct_write(&afs__vs_recall_host_info, out, &t, "afs_recall_host_query");
    return rc;
}

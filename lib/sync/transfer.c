/* Uploads and the transfer threads (lib/sync/transfer.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/internal.h"
#include "names.h"
#include "transfer.h"

/* ---- one upload ---- */

/* The put's source: the open local file, hashed on the first pass, and
 * checked not to have changed once its last byte is read. */
struct up_src {
    afs__upload *u;
    void *fh;
    afs__md5 md5;
    uint64_t hashed;
};

static bool same_identity(const afs_fs_stat *x, const afs_fs_stat *y)
{
    return x->size == y->size && x->mtime_ns == y->mtime_ns && x->ctime_ns == y->ctime_ns &&
           x->file_id == y->file_id;
}

static int up_read(uint64_t offset, void *buf, size_t len, size_t *nread, void *payload)
{
    struct up_src *src = payload;
    afs__upload *u = src->u;
    int rc = u->fsops->read(u->fsctx, src->fh, offset, buf, len, nread);
    if (rc != 0)
        return rc;
    if (offset == src->hashed) {
        afs__md5_update(&src->md5, buf, *nread);
        src->hashed += *nread;
    }
    if (offset + *nread >= u->before.size) {
        afs_fs_stat now;
        memset(&now, 0, sizeof(now));
        if (u->fsops->fstat)
            rc = u->fsops->fstat(u->fsctx, src->fh, &now);
        else
            rc = u->fsops->stat(u->fsctx, u->abs, &now);
        if (rc == 0 && !same_identity(&now, &u->before))
            rc = afs__error_set(AFS_ECONDITION, "%s changed while it was uploaded; it is "
                                "uploaded again next session", u->abs);
    }
    return rc;
}

int afs__upload_run(afs__upload *u)
{
    afs_storage_put_options o = AFS_STORAGE_PUT_OPTIONS_INIT;
    struct up_src src;
    char tag[AFS__WRITER_TAG_MAX + 1];
    const char *tag_keys[1] = { AFS__WRITER_KEY };
    const char *tag_values[1] = { tag };
    int rc;

    memset(&src, 0, sizeof(src));
    src.u = u;
    memset(&u->before, 0, sizeof(u->before));
    memset(&u->out, 0, sizeof(u->out));
    u->has_md5 = false;
    if ((rc = u->fsops->open(u->fsctx, u->abs, AFS_FS_O_READ, &src.fh)) != 0)
        return rc;
    if (u->fsops->fstat)
        rc = u->fsops->fstat(u->fsctx, src.fh, &u->before);
    else
        rc = u->fsops->stat(u->fsctx, u->abs, &u->before);
    if (rc == 0 && u->expect &&
        (u->before.size != u->expect_size || u->before.mtime_ns != u->expect_mtime_ns))
        rc = afs__error_set(AFS_ECONDITION, "%s changed on the server during the sync "
                            "session; it is synced again next session", u->abs);
    if (rc != 0)
        goto done;
    afs__md5_init(&src.md5);
    o.condition = u->cond;
    o.if_match = u->if_match;
    o.mtime_ns = u->before.mtime_ns;
    if (u->writer && !(u->writer_off && __atomic_load_n(u->writer_off, __ATOMIC_RELAXED)) &&
        afs__writer_tag(tag, sizeof(tag), u->before.size, u->before.mtime_ns, u->writer) == 0) {
        o.meta_count = 1;
        o.meta_keys = tag_keys;
        o.meta_values = tag_values;
    }
    rc = afs_storage_put(u->storage, u->cloud_rel, up_read, &src, u->before.size, &o, &u->out);
    if (o.meta_count && (rc == AFS_ENOTSUP || rc == AFS_EINVAL)) {
        /* The tag only names conflict copies: a storage without metadata
         * (a local share on a file system without user xattrs) gets the
         * upload without it, and once that works this endpoint stops
         * sending it. */
        char why[256];
        snprintf(why, sizeof(why), "%s", afs_error_last());
        afs_error_clear();
        o.meta_count = 0;
        o.meta_keys = o.meta_values = NULL;
        afs__md5_init(&src.md5);
        src.hashed = 0;
        rc = afs_storage_put(u->storage, u->cloud_rel, up_read, &src, u->before.size, &o,
                             &u->out);
        if (rc == 0 && u->writer_off &&
            !__atomic_exchange_n(u->writer_off, 1, __ATOMIC_RELAXED))
            afs__log(AFS_LOG_INFO, "sync: the share keeps no writer tag (%s); conflict copies "
                     "of versions the journal does not name are called -Cloud", why);
    }
    afs__md5_final(&src.md5, u->md5);
    u->has_md5 = rc == 0 && src.hashed == u->before.size;
done:
    u->fsops->close(u->fsctx, src.fh);
    return rc;
}

/* ---- the pool ---- */

struct afs__xfer {
    pthread_mutex_t lock;
    pthread_cond_t work;  /* a job was queued, or stop */
    pthread_cond_t done;  /* a job finished */
    afs__xfer_job *queue, *queue_tail;
    afs__xfer_job *finished, *finished_tail;
    size_t pending;       /* queued + running + finished not yet handed back */
    size_t nfinished;     /* finished, not yet handed back */
    size_t want;          /* the session thread sleeps until this many have finished */
    bool waiting;
    bool stop;
    unsigned int nthreads;
    unsigned int maxthreads;
    pthread_t *threads;
};

/* Threads started with the pool; the rest start one per job submitted, so
 * that the first uploads run while the others start (128 threads took
 * 3-4 ms to start, before the first upload began). */
#define XFER_FIRST_THREADS 4

static void *worker(void *arg)
{
    afs__xfer *x = arg;
    pthread_mutex_lock(&x->lock);
    for (;;) {
        afs__xfer_job *j;
        while (!x->queue && !x->stop)
            pthread_cond_wait(&x->work, &x->lock);
        if (!x->queue)
            break;
        j = x->queue;
        x->queue = j->next;
        if (!x->queue)
            x->queue_tail = NULL;
        pthread_mutex_unlock(&x->lock);

        j->rc = afs__upload_run(&j->up);
        /* The message is this thread's; the session thread records it. */
        j->message = j->rc != 0 ? afs__strdup(afs_error_last()) : NULL;
        afs_error_clear();
        j->next = NULL;

        pthread_mutex_lock(&x->lock);
        if (x->finished_tail)
            x->finished_tail->next = j;
        else
            x->finished = j;
        x->finished_tail = j;
        x->nfinished++;
        if (x->waiting && (x->nfinished >= x->want || x->nfinished == x->pending))
            pthread_cond_signal(&x->done);
    }
    pthread_mutex_unlock(&x->lock);
    return NULL;
}

int afs__xfer_start(afs__xfer **out, unsigned int threads)
{
    afs__xfer *x = afs__calloc(1, sizeof(*x));
    int rc = 0;

    *out = NULL;
    if (!x)
        return AFS_ENOMEM;
    pthread_mutex_init(&x->lock, NULL);
    pthread_cond_init(&x->work, NULL);
    pthread_cond_init(&x->done, NULL);
    x->threads = afs__calloc(threads, sizeof(*x->threads));
    if (!x->threads) {
        rc = AFS_ENOMEM;
        goto done;
    }
    x->maxthreads = threads;
    for (; x->nthreads < threads && x->nthreads < XFER_FIRST_THREADS; x->nthreads++) {
        int err = pthread_create(&x->threads[x->nthreads], NULL, worker, x);
        if (err != 0) {
            if (x->nthreads == 0)
                rc = afs__error_errno(err, "sync: cannot start a transfer thread");
            break; /* run with the threads we have */
        }
    }
done:
    if (rc != 0) {
        afs__xfer_stop(x);
        return rc;
    }
    *out = x;
    return 0;
}

void afs__xfer_submit(afs__xfer *x, afs__xfer_job *job)
{
    job->next = NULL;
    job->rc = 0;
    job->message = NULL;
    pthread_mutex_lock(&x->lock);
    if (x->queue_tail)
        x->queue_tail->next = job;
    else
        x->queue = job;
    x->queue_tail = job;
    x->pending++;
    pthread_cond_signal(&x->work);
    pthread_mutex_unlock(&x->lock);
    /* Only the session thread submits and stops: nthreads is its own. */
    if (x->nthreads < x->maxthreads) {
        if (pthread_create(&x->threads[x->nthreads], NULL, worker, x) == 0)
            x->nthreads++;
        else
            x->maxthreads = x->nthreads; /* none to be had: run with those there are */
    }
}

size_t afs__xfer_pending(const afs__xfer *x)
{
    return x->pending; /* only the session thread changes it */
}

void afs__xfer_wait(afs__xfer *x, size_t n)
{
    pthread_mutex_lock(&x->lock);
    x->want = n;
    x->waiting = true;
    while (x->nfinished < n && x->nfinished < x->pending)
        pthread_cond_wait(&x->done, &x->lock);
    x->waiting = false;
    pthread_mutex_unlock(&x->lock);
}

afs__xfer_job *afs__xfer_next(afs__xfer *x)
{
    afs__xfer_job *j = NULL;
    pthread_mutex_lock(&x->lock);
    if (x->finished) {
        j = x->finished;
        x->finished = j->next;
        if (!x->finished)
            x->finished_tail = NULL;
        j->next = NULL;
        x->pending--;
        x->nfinished--;
    }
    pthread_mutex_unlock(&x->lock);
    return j;
}

void afs__xfer_stop(afs__xfer *x)
{
    if (!x)
        return;
    pthread_mutex_lock(&x->lock);
    x->stop = true;
    pthread_cond_broadcast(&x->work);
    pthread_mutex_unlock(&x->lock);
    for (unsigned int i = 0; i < x->nthreads; i++)
        pthread_join(x->threads[i], NULL);
    free(x->threads);
    pthread_cond_destroy(&x->work);
    pthread_cond_destroy(&x->done);
    pthread_mutex_destroy(&x->lock);
    free(x);
}

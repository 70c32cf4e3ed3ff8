/*
 * Recall (docs/tiering.md#recall): whole files, byte ranges, folder trees
 * with worker threads. Data is written in place into the placeholder with
 * reads conditional on the etag its marker names, made durable, and only
 * then recorded in the marker; a file whose ranges cover it becomes a
 * normal file again (write time restored, marker removed). A crash at any
 * point leaves a placeholder whose marker understates what is on disk,
 * never overstates it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../service/service_internal.h"
#include "tier_priv.h"

#define IO_PIECE (8u * 1024u * 1024u)   /* bytes per storage read */
#define MAX_RANGES_PARTIAL 64           /* more fragments than this: recall the rest */
#define MAX_THREADS 32

typedef struct recall_ctx {
    afs__tier_ctx c;
    afs_storage *storage;
    pthread_mutex_t state_mu; /* the endpoint's sync state handle is single-threaded */
    uint32_t flags;
    bool batched;             /* heat writes of many files share transactions */
    afs__db_batch batch;      /* used with the volume lock held */
    /* The caller's progress callback (afs_tier_recall), called under prog_mu. */
    afs_recall_progress_fn progress;
    void *progress_payload;
    pthread_mutex_t prog_mu;
    afs_recall_progress prog;
    int cancel;               /* the callback's non-zero value: start nothing more */
} recall_ctx;

/* The callback's stop value, or 0. */
static int cancelled(recall_ctx *r)
{
    int rc;
    if (!r->progress)
        return 0;
    pthread_mutex_lock(&r->prog_mu);
    rc = r->cancel;
    pthread_mutex_unlock(&r->prog_mu);
    return rc;
}

/* Count `files` finished and `bytes` fetched, and tell the callback. */
static void progress_note(recall_ctx *r, uint64_t files, uint64_t bytes)
{
    if (!r->progress)
        return;
    pthread_mutex_lock(&r->prog_mu);
    r->prog.files_done += files;
    r->prog.bytes_done += bytes;
    if (!r->cancel) {
        int rc = r->progress(&r->prog, r->progress_payload);
        if (rc != 0)
            r->cancel = rc;
    }
    pthread_mutex_unlock(&r->prog_mu);
}

/* One piece of a file to fetch. */
typedef struct piece {
    uint64_t off;
    uint64_t len;
    bool done;
} piece;

typedef struct fetch_job {
    recall_ctx *r;
    const afs__marker *m;
    void *fh;
    piece *pieces;
    size_t npieces;
    size_t next;           /* next piece to take (under mu) */
    size_t bufsize;        /* the largest piece: small files need small buffers */
    pthread_mutex_t mu;
    int rc;                /* first failure */
    char *msg;             /* its message, for the calling thread */
} fetch_job;

static void job_fail(fetch_job *j, int rc)
{
    pthread_mutex_lock(&j->mu);
    if (j->rc == 0) {
        j->rc = rc;
        j->msg = afs__strdup(afs_error_last());
    }
    pthread_mutex_unlock(&j->mu);
}

static void *fetch_worker(void *arg)
{
    fetch_job *j = arg;
    afs_fs *fs = j->r->c.fs;
    unsigned char *buf = afs__malloc(j->bufsize);
    if (!buf) {
        job_fail(j, AFS_ENOMEM);
        return NULL;
    }
    for (;;) {
        piece *pc;
        size_t got = 0;
        int rc;
        pthread_mutex_lock(&j->mu);
        pc = j->rc == 0 && j->next < j->npieces ? &j->pieces[j->next++] : NULL;
        pthread_mutex_unlock(&j->mu);
        if (!pc)
            break;
        if ((rc = cancelled(j->r)) != 0) { /* the piece stays missing */
            job_fail(j, afs__error_set(rc, "recall stopped by the progress callback (it "
                                       "returned %d)", rc));
            break;
        }
        /* Only the version the marker names: a changed cloud file fails here. */
        rc = afs_storage_read(j->r->storage, j->m->path, pc->off, buf, (size_t)pc->len, &got,
                              j->m->etag);
        if (rc == AFS_ENOTFOUND)
            rc = afs__error_set(AFS_ENOTFOUND, "the cloud copy %s of this placeholder no longer "
                                "exists (it was deleted or moved in the share since); a sync "
                                "brings the share's state here (%s)", j->m->path,
                                afs_error_last());
        if (rc == 0 && got != pc->len)
            rc = afs__error_set(AFS_ECONDITION, "cloud file %s is shorter than the %llu bytes "
                                "recorded when it was tiered", j->m->path,
                                (unsigned long long)j->m->size);
        if (rc == 0)
            rc = fs->ops.write(fs->ctx, j->fh, pc->off, buf, got);
        if (rc != 0) {
            job_fail(j, rc);
            break;
        }
        pc->done = true;
        progress_note(j->r, 0, got);
    }
    free(buf);
    return NULL;
}

/* Fetch the pieces with up to `threads` workers (the caller's thread is one). */
static int fetch_pieces(fetch_job *j, uint32_t threads)
{
    pthread_t tids[MAX_THREADS];
    size_t started = 0;
    if (threads > j->npieces)
        threads = (uint32_t)j->npieces;
    if (threads > MAX_THREADS)
        threads = MAX_THREADS;
    for (uint32_t i = 1; i < threads; i++) {
        if (pthread_create(&tids[started], NULL, fetch_worker, j) != 0)
            break; /* fewer workers is still correct */
        started++;
    }
    fetch_worker(j);
    for (size_t i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    if (j->rc != 0) {
        afs__error_set(j->rc, "%s", j->msg ? j->msg : afs_strerror(j->rc));
        return j->rc;
    }
    return 0;
}

static bool is_low_disk(afs_fs *fs, const char *path)
{
    afs_fs_volume v;
    if (afs__tier_volume(fs, path, &v) != 0) {
        afs_error_clear();
        return false;
    }
    return v.total_bytes && v.free_bytes * 100 < (uint64_t)AFS__TIER_LOW_DISK_PERCENT *
                                                     v.total_bytes;
}

/*
 * One file's recall, in two steps so that a folder recall can make several
 * files durable together (one journal commit serves them all):
 * recall_start claims the file and fetches what is missing into it;
 * recall_finish makes it durable, records it in the marker (or removes the
 * marker), and releases the file. recall_finish must follow every
 * recall_start, whatever it returned.
 */
typedef struct rstate {
    const char *rel;      /* borrowed */
    const char *abs;
    afs_fs_stat st;
    afs__marker m;
    piece *pieces;
    size_t npieces;
    bool busy;
    int rlock;            /* the recall lock, shared (-1: not held; set by recall_start) */
    int64_t t0;
    void *fh;             /* open when there is something to finish */
    int rc;               /* the fetch's result */
    char *msg;            /* and its message */
    uint64_t fetched;     /* out: bytes fetched and made durable */
    bool was_full;        /* out: the file had no marker */
} rstate;

/*
 * Read the sync base of `rel` into *base and tell whether it records the
 * cloud version `m` names, for the file `file_id`. Call with state_mu held.
 */
static bool base_of_version(recall_ctx *r, const char *rel, const afs__marker *m,
                            uint64_t file_id, afs__tier_base *base)
{
    return afs__tier_base_get(r->c.ep->state, rel, base) == 0 && base->exists &&
           strcmp(base->etag, m->etag) == 0 && base->size == m->size &&
           base->mtime_ns == m->mtime_ns && base->file_id == file_id;
}

/*
 * Did a program write into this placeholder (without a recall host)? A
 * recall in another process moves the write time while it writes (it puts
 * it back when it records): while one holds the recall lock (ours cannot
 * be made exclusive without waiting), a moved write time is not taken for a
 * program's write.
 */
static bool written_since_tiered(const afs_fs_stat *st, const afs__marker *m, int rlock,
                                 const char *abs)
{
    if (!afs__marker_written(m, st->size, st->mtime_ns))
        return false;
    if (rlock < 0 || st->size != m->size)
        return true;
    if (afs__tier_relock(rlock, abs, AFS__TIER_LOCK_RECALL, AFS__TIER_LOCK_EXCL, false) != 0) {
        afs_error_clear();
        return false; /* another recall is writing: its write time */
    }
    if (afs__tier_relock(rlock, abs, AFS__TIER_LOCK_RECALL, AFS__TIER_LOCK_SHARED, true) != 0)
        afs_error_clear();
    return true;
}

/*
 * A placeholder rewritten in full by a program that then set the write time
 * back to the marker's: only its ctime tells, against the sync base's (which
 * tiering, placeholder creation and every recall move along). When it moved,
 * no other recall is running (the recall lock taken exclusively without
 * waiting) and the file system says no hole is left, every byte is the
 * program's: the marker is removed and nothing is fetched over it (the sync
 * base is left alone, so the sync sees an edit).
 */
static bool rewritten_time_set_back(recall_ctx *r, rstate *s, const afs_fs_stat *st,
                                    const afs__marker *m)
{
    afs__tier_base base;
    bool moved;
    if (!r->c.ep || afs__marker_present(m) >= m->size)
        return false;
    pthread_mutex_lock(&r->state_mu);
    moved = base_of_version(r, s->rel, m, st->file_id, &base) && base.ctime_ns != st->ctime_ns;
    pthread_mutex_unlock(&r->state_mu);
    afs_error_clear();
    if (!moved || afs__tier_relock(s->rlock, s->abs, AFS__TIER_LOCK_RECALL, AFS__TIER_LOCK_EXCL,
                                   false) != 0) {
        afs_error_clear();
        return false;
    }
    if (afs__tier_rewritten_in_full(r->c.fs, s->abs))
        return true;
    /* Holes left: an ordinary recall, sharing the lock again. */
    if (afs__tier_relock(s->rlock, s->abs, AFS__TIER_LOCK_RECALL, AFS__TIER_LOCK_SHARED,
                         true) != 0)
        afs_error_clear();
    return false;
}

static int recall_start(recall_ctx *r, rstate *s, uint64_t off, uint64_t len, uint32_t threads)
{
    afs_fs *fs = r->c.fs;
    const afs_fs_ops *o = &fs->ops;
    const char *abs = s->abs;
    afs_fs_stat st;
    afs__marker m;
    fetch_job job;
    piece *pieces = NULL;
    size_t npieces = 0, cap = 0;
    uint64_t begin, end, missing = 0;
    bool found = false, whole, written;
    void *fh = NULL;
    int rc;

    s->t0 = afs__now_ns();
    s->rlock = -1;
    memset(&m, 0, sizeof(m));
    memset(&job, 0, sizeof(job));
    if ((rc = afs__tier_busy_acquire(r->c.vol, abs)) != 0)
        return s->rc = rc;
    s->busy = true;
    /* Shared with every other recall of the file, in any process, for the whole
     * data phase: tiering and a new cloud version wait for it (or skip the file). */
    if ((rc = afs__tier_lock(r->c.vol, abs, AFS__TIER_LOCK_RECALL, AFS__TIER_LOCK_SHARED,
                             !(r->flags & AFS_RECALL_NO_WAIT), &s->rlock)) != 0)
        goto done;
    memset(&st, 0, sizeof(st));
    if ((rc = o->stat(fs->ctx, abs, &st)) != 0)
        goto done;
    if (st.type != AFS_TYPE_FILE) {
        rc = afs__error_set(st.type == AFS_TYPE_DIR ? AFS_EISDIR : AFS_EINVAL,
                            "recall %s: not a regular file", abs);
        goto done;
    }
    if ((rc = afs__marker_read(fs, abs, &m, &found)) != 0)
        goto done;
    if (!found) {
        s->was_full = true; /* someone else finished it, or it never was tiered */
        goto done;
    }
    written = written_since_tiered(&st, &m, s->rlock, abs);
    if (written && afs__tier_rewritten_in_full(fs, abs)) {
        s->was_full = true; /* every byte is the writer's: nothing to fetch */
        goto done;
    }
    if (!written && rewritten_time_set_back(r, s, &st, &m)) {
        s->was_full = true;
        goto done;
    }
    if (written) {
        rc = afs__error_set(AFS_ECONDITION, "recall %s: the file was written since it became "
                            "a placeholder (its size or write time is no longer its tier "
                            "marker's); a recall would overwrite those writes, so the file is "
                            "left as it is: to keep it, copy it to a new file and move that "
                            "over it; to drop it, delete it and sync", abs);
        goto done;
    }
    whole = len == UINT64_MAX || m.nranges >= MAX_RANGES_PARTIAL;
    if (whole) {
        begin = 0;
        end = m.size;
    } else {
        if (off >= m.size || len == 0)
            goto done;
        begin = off / AFS_TIER_CHUNK * AFS_TIER_CHUNK;
        end = len > m.size - off ? m.size : off + len;
        end = (end + AFS_TIER_CHUNK - 1) / AFS_TIER_CHUNK * AFS_TIER_CHUNK;
        if (end > m.size)
            end = m.size;
    }
    /* The pieces of [begin, end) that the marker does not record. */
    for (uint64_t p = begin; p < end;) {
        uint64_t q = p;
        bool have = false;
        for (size_t i = 0; i < m.nranges; i++) {
            const afs__range *g = &m.ranges[i];
            if (g->off <= p && p < g->off + g->len) {
                q = g->off + g->len; /* skip what is present */
                have = true;
                break;
            }
        }
        if (have) {
            p = q;
            continue;
        }
        /* Up to the next present range, the end, or one piece. */
        q = end;
        for (size_t i = 0; i < m.nranges; i++)
            if (m.ranges[i].off > p && m.ranges[i].off < q)
                q = m.ranges[i].off;
        if (q - p > IO_PIECE)
            q = p + IO_PIECE;
        if (npieces == cap) {
            size_t nc = cap ? cap * 2 : 16;
            piece *np = afs__realloc(pieces, nc * sizeof(*np));
            if (!np) {
                rc = AFS_ENOMEM;
                goto done;
            }
            pieces = np;
            cap = nc;
        }
        pieces[npieces].off = p;
        pieces[npieces].len = q - p;
        pieces[npieces].done = false;
        npieces++;
        missing += q - p;
        p = q;
    }
    if (npieces) {
        afs_fs_volume v;
        /* Refuse up front when the data cannot fit: nothing is touched. */
        if ((rc = afs__tier_volume(fs, abs, &v)) != 0)
            goto done;
        if (v.total_bytes && v.free_bytes < missing) {
            rc = afs__error_set(AFS_ENOSPC, "recall %s: %llu bytes are needed and the volume "
                                "has %llu free", abs, (unsigned long long)missing,
                                (unsigned long long)v.free_bytes);
            goto done;
        }
    }
    /* No truncate to the marker's size: a placeholder of another size was
     * refused above, unless its marker records every byte, and then the
     * difference is a program's write (afs__marker_written) to keep. */
    if ((rc = o->open(fs->ctx, abs, AFS_FS_O_READ | AFS_FS_O_WRITE, &fh)) != 0)
        goto done;
    if (npieces) {
        job.r = r;
        job.m = &m;
        job.fh = fh;
        job.pieces = pieces;
        job.npieces = npieces;
        for (size_t i = 0; i < npieces; i++)
            if (pieces[i].len > job.bufsize)
                job.bufsize = (size_t)pieces[i].len;
        pthread_mutex_init(&job.mu, NULL);
        rc = fetch_pieces(&job, threads ? threads : 1);
        pthread_mutex_destroy(&job.mu);
    }
done:
    /* Hand everything to recall_finish. */
    s->st = st;
    s->m = m;
    s->pieces = pieces;
    s->npieces = npieces;
    s->fh = fh;
    s->rc = rc;
    if (rc != 0)
        s->msg = job.msg ? job.msg : afs__strdup(afs_error_last());
    else
        free(job.msg);
    return rc;
}

/* The marker names the same cloud version as when the recall started. */
static bool same_version(const afs__marker *a, const afs__marker *b)
{
    return strcmp(a->etag, b->etag) == 0 && a->size == b->size && a->mtime_ns == b->mtime_ns &&
           a->tiered_ns == b->tiered_ns;
}

/* Tiering and recall move ctime: the sync base follows while the file (`fin`,
 * its stat after the recall) still shows the version the recall started
 * from, so sync sees no change. */
static void base_follow(recall_ctx *r, const rstate *s, const afs_fs_stat *fin)
{
    const afs__marker *m = &s->m;
    afs__tier_base base;
    pthread_mutex_lock(&r->state_mu);
    if (fin->mtime_ns == m->mtime_ns && base_of_version(r, s->rel, m, fin->file_id, &base))
        afs__tier_base_touch(r->c.ep->state, s->rel, &base, fin->ctime_ns);
    pthread_mutex_unlock(&r->state_mu);
}

/*
 * Record the durable pieces of `s` in the file's marker as it is now (other
 * recalls, in any process, may have recorded more meanwhile), under the
 * marker lock; then release the recall lock. The file becomes full (marker
 * removed) only when no other recall holds the recall lock, that is, none
 * is still writing into it; otherwise the marker says "all present" and
 * the last recall to finish removes it. *cur gets the marker as left,
 * *has_marker whether there still is one, *fin the file's stat as left
 * (*have_fin: whether it was taken).
 */
static int record(recall_ctx *r, rstate *s, afs__marker *cur, bool *has_marker,
                  afs_fs_stat *fin, bool *have_fin)
{
    afs_fs *fs = r->c.fs;
    const afs_fs_ops *o = &fs->ops;
    const char *abs = s->abs;
    afs_fs_stat st;
    bool found = false, full = false;
    int mfd = -1, rc;

    if ((rc = afs__tier_lock(r->c.vol, abs, AFS__TIER_LOCK_MARKER, AFS__TIER_LOCK_EXCL, true,
                             &mfd)) != 0)
        goto out;
    if ((rc = afs__marker_read(fs, abs, cur, &found)) != 0 || !found)
        goto out; /* already full: nothing left to record */
    *has_marker = true;
    if (!same_version(cur, &s->m)) {
        /* Cannot happen while the recall lock is shared, kept as a guard. */
        afs__log(AFS_LOG_WARN, "recall %s: the placeholder changed during the recall; what "
                 "was fetched is not recorded", abs);
        goto times;
    }
    for (size_t i = 0; i < s->npieces; i++)
        if (s->pieces[i].done) {
            if ((rc = afs__marker_add_range(cur, s->pieces[i].off, s->pieces[i].len)) != 0)
                goto out;
            s->fetched += s->pieces[i].len;
        }
    full = afs__marker_covers(cur, 0, cur->size);
times:
    /* Writing moved the write time: the file shows the cloud version's again. */
    memset(&st, 0, sizeof(st));
    if ((rc = o->stat(fs->ctx, abs, &st)) != 0)
        goto out;
    if (o->set_times && st.mtime_ns != cur->mtime_ns &&
        (rc = o->set_times(fs->ctx, abs, AFS_TIME_OMIT, cur->mtime_ns)) != 0)
        goto out;
    if (!same_version(cur, &s->m))
        goto out;
    if (full && afs__tier_relock(s->rlock, abs, AFS__TIER_LOCK_RECALL, AFS__TIER_LOCK_EXCL,
                                 false) == 0) {
        rc = o->marker_remove(fs->ctx, abs); /* a normal file again */
        if (rc == AFS_ENOTFOUND) {
            afs_error_clear();
            rc = 0;
        }
        if (rc == 0) {
            *has_marker = false;
            afs__marker_clear(cur);
        }
        goto out;
    }
    afs_error_clear(); /* another recall still writes: it makes the file full */
    if (s->fetched)
        rc = afs__marker_write(fs, abs, cur);
out:
    if (rc == 0 && found) {
        /* Under the marker lock: no other recall moves ctime meanwhile. */
        memset(fin, 0, sizeof(*fin));
        if (o->stat(fs->ctx, abs, fin) == 0) {
            *have_fin = true;
            base_follow(r, s, fin);
        } else {
            afs_error_clear();
        }
    }
    afs__tier_unlock(s->rlock); /* before the marker lock: the next one may make it full */
    s->rlock = -1;
    afs__tier_unlock(mfd);
    return rc;
}

static int recall_finish(recall_ctx *r, rstate *s)
{
    afs_fs *fs = r->c.fs;
    const afs_fs_ops *o = &fs->ops;
    afs_endpoint *ep = r->c.ep;
    const char *abs = s->abs, *rel = s->rel;
    afs__marker m = s->m;
    piece *pieces = s->pieces;
    size_t npieces = s->npieces;
    afs_fs_stat fin;
    afs__heat_row row;
    afs__heat_counters add;
    afs__marker cur;
    void *fh = s->fh;
    uint64_t *fetched = &s->fetched;
    int64_t t0 = s->t0;
    bool has_marker = false, have_fin = false;
    int rc = s->rc;

    memset(&cur, 0, sizeof(cur));
    memset(&fin, 0, sizeof(fin));

    if (!fh)
        goto done;
    /* Durable before recorded: what the marker says present must be on disk. */
    if (o->fsync) {
        int frc = o->fsync(fs->ctx, fh);
        if (frc != 0) {
            rc = rc ? rc : frc;
            for (size_t i = 0; i < npieces; i++)
                pieces[i].done = false;
        }
    }
    {
        int crc = o->close(fs->ctx, fh);
        fh = NULL;
        if (rc == 0)
            rc = crc;
    }
    {
        int mrc = record(r, s, &cur, &has_marker, &fin, &have_fin);
        if (rc == 0)
            rc = mrc;
    }
    if (r->batched) {
        pthread_mutex_lock(&r->c.vol->mu);
        if (afs__db_batch_step(&r->batch) != 0) {
            afs__log(AFS_LOG_WARN, "recall: heat store: %s", afs_error_last());
            afs_error_clear();
        }
        pthread_mutex_unlock(&r->c.vol->mu);
    }
    if (have_fin || o->stat(fs->ctx, abs, &fin) == 0) {
        bool low = (r->flags & AFS_RECALL_ON_ACCESS) && is_low_disk(fs, abs);
        afs__tier_row(&fin, afs__tier_state_of(&fin, &cur, has_marker),
                      has_marker ? afs__marker_present(&cur) : 0, &row);
        /* Low disk space mode: data recalled on access is not kept. */
        afs__heat_update(r->c.vol, ep->id, rel, &row, low ? 1 : -1);
    }
    memset(&add, 0, sizeof(add));
    if (*fetched) {
        add.recalls = 1;
        add.recall_bytes = *fetched;
        add.recall_ns = (uint64_t)(afs__now_ns() - t0);
        if (r->flags & AFS_RECALL_ON_ACCESS)
            add.access_recalls = 1;
    }
    if (rc != 0 && !(r->cancel && rc == r->cancel) && rc != AFS_EBUSY)
        add.recall_failures = 1;
    if (add.recalls || add.recall_failures) {
        char *msg = rc ? afs__strdup(afs_error_last()) : NULL;
        afs__heat_count(r->c.vol, ep->id, &add);
        if (msg) { /* keep the recall's message, not the counter's */
            afs__error_set(rc, "%s", msg);
            free(msg);
        }
    }
done:
    if (fh)
        o->close(fs->ctx, fh);
    afs__tier_unlock(s->rlock); /* when record() did not run */
    s->rlock = -1;
    if (s->busy)
        afs__tier_busy_release(r->c.vol, abs);
    if (rc != 0 && rc == s->rc && s->msg)
        afs__error_set(rc, "%s", s->msg); /* the fetch's own message */
    free(s->msg);
    free(pieces);
    afs__marker_clear(&m);
    afs__marker_clear(&cur);
    memset(&s->m, 0, sizeof(s->m));
    s->msg = NULL;
    s->pieces = NULL;
    s->fh = NULL;
    s->busy = false;
    return rc;
}

/*
 * Make [off, off+len) of one file present (len UINT64_MAX: the whole file).
 * *fetched gets the bytes fetched, *was_full whether it had no marker.
 */
static int recall_one(recall_ctx *r, const char *rel, const char *abs, uint64_t off,
                      uint64_t len, uint32_t threads, uint64_t *fetched, bool *was_full)
{
    rstate s;
    int rc;
    memset(&s, 0, sizeof(s));
    s.rel = rel;
    s.abs = abs;
    recall_start(r, &s, off, len, threads);
    rc = recall_finish(r, &s);
    *fetched = s.fetched;
    *was_full = s.was_full;
    return rc;
}

static int recall_ctx_init(recall_ctx *r, afs_endpoint *ep, uint32_t flags)
{
    int rc;
    memset(r, 0, sizeof(*r));
    if ((rc = afs__tier_ctx_init(&r->c, ep)) != 0)
        return rc;
    r->storage = ep->group->storage;
    r->flags = flags;
    pthread_mutex_init(&r->state_mu, NULL);
    pthread_mutex_init(&r->prog_mu, NULL);
    return 0;
}

static void sleep_ms(uint32_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Errors that trying again cannot cure. */
static bool final_error(int rc)
{
    return rc == AFS_ECONDITION || rc == AFS_ENOSPC || rc == AFS_ENOTFOUND || rc == AFS_EINVAL ||
           rc == AFS_EISDIR || rc == AFS_ENOMEM || rc == AFS_ECORRUPT || rc == AFS_EPERM ||
           rc == AFS_ENOTSUP;
}

/* ---- trees ---- */

typedef struct rfile {
    char *rel;
    char *abs;
    int64_t position;
    uint64_t count;
} rfile;

typedef struct tree_job {
    recall_ctx *r;
    const afs_recall_options *o;
    rfile *files;
    size_t nfiles, cap;
    size_t next;
    bool stop;             /* out of space: take no more files */
    pthread_mutex_t mu;
    afs_recall_result *res;
    char *msg;
} tree_job;

static int collect(const char *rel, const char *abs, const afs_fs_stat *st, void *payload)
{
    tree_job *t = payload;
    afs__tier_probe probe;
    rfile *f;
    int rc = afs__tier_probe_path(t->r->c.fs, abs, st, &probe);
    if (rc != 0)
        return rc;
    if (!probe.has_marker) {
        t->res->files_already_local++;
        return 0;
    }
    t->r->prog.files_total++;
    t->r->prog.bytes_total += probe.size > probe.present_bytes ? probe.size - probe.present_bytes
                                                               : 0;
    if (t->nfiles == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 64;
        rfile *nf = afs__realloc(t->files, nc * sizeof(*nf));
        if (!nf)
            return AFS_ENOMEM;
        t->files = nf;
        t->cap = nc;
    }
    f = &t->files[t->nfiles];
    memset(f, 0, sizeof(*f));
    f->rel = afs__strdup(rel);
    f->abs = afs__strdup(abs);
    t->nfiles++;
    if (!f->rel || !f->abs)
        return AFS_ENOMEM;
    return afs__heat_position(t->r->c.vol, t->r->c.ep->id, rel, &f->position, &f->count);
}

/* Hottest first: the reverse of the tiering order. */
static int cmp_hot(const void *a, const void *b)
{
    const rfile *x = a, *y = b;
    int64_t dx = x->position / AFS__TIER_DAY_NS, dy = y->position / AFS__TIER_DAY_NS;
    if (dx != dy)
        return dx > dy ? -1 : 1;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    if (x->position != y->position)
        return x->position > y->position ? -1 : 1;
    return strcmp(x->rel, y->rel);
}

static int cmp_path(const void *a, const void *b)
{
    return strcmp(((const rfile *)a)->rel, ((const rfile *)b)->rel);
}

/* Count one file's outcome into the result. */
static void account(tree_job *t, const rfile *f, int rc, uint64_t fetched, bool was_full)
{
    int stop = cancelled(t->r);
    (void)f;
    pthread_mutex_lock(&t->mu);
    if (stop && rc == stop) {
        t->stop = true; /* stopped by the callback: neither recalled nor failed */
    } else if (rc == 0) {
        if (was_full)
            t->res->files_already_local++;
        else
            t->res->files_recalled++;
        t->res->bytes_recalled += fetched;
    } else {
        t->res->files_failed++;
        if (!t->res->first_error) {
            t->res->first_error = rc;
            t->msg = afs__strdup(afs_error_last());
        }
        if (rc == AFS_ENOSPC)
            t->stop = true; /* stop cleanly: every file is a placeholder or complete */
    }
    pthread_mutex_unlock(&t->mu);
    progress_note(t->r, 1, 0);
    if (cancelled(t->r)) {
        pthread_mutex_lock(&t->mu);
        t->stop = true;
        pthread_mutex_unlock(&t->mu);
    }
}

/* Start a file's recall, trying again after transient failures. */
static void start_with_retries(tree_job *t, const rfile *f, rstate *s, uint32_t threads)
{
    for (uint32_t attempt = 0;; attempt++) {
        int rc;
        memset(s, 0, sizeof(*s));
        s->rel = f->rel;
        s->abs = f->abs;
        rc = recall_start(t->r, s, 0, UINT64_MAX, threads);
        if (rc == 0 || final_error(rc) || attempt >= t->o->retry_count || cancelled(t->r))
            return; /* recall_finish reports it */
        /* Keep what was fetched (it is recorded) and try again. */
        recall_finish(t->r, s);
        afs__log(AFS_LOG_INFO, "recall %s: %s; trying again in %u ms", f->abs,
                 afs_error_last(), t->o->retry_delay_ms);
        pthread_mutex_lock(&t->mu);
        t->res->retries++;
        pthread_mutex_unlock(&t->mu);
        sleep_ms(t->o->retry_delay_ms);
    }
}

/* Recall one file with its retries; counts into the result. */
static int recall_with_retries(tree_job *t, const rfile *f, uint32_t threads)
{
    rstate s;
    int rc;
    start_with_retries(t, f, &s, threads);
    rc = recall_finish(t->r, &s);
    account(t, f, rc, s.fetched, s.was_full);
    return rc;
}

/*
 * Files per worker made durable together: their data is fetched first, then
 * they are fsynced and recorded in parallel, so that their journal commits
 * merge instead of queueing one commit per file.
 */
#define FINISH_BATCH 8

typedef struct finisher {
    tree_job *t;
    rfile *f;
    rstate *s;
} finisher;

static void *finish_one(void *arg)
{
    finisher *x = arg;
    int rc = recall_finish(x->t->r, x->s);
    account(x->t, x->f, rc, x->s->fetched, x->s->was_full);
    return NULL;
}

static void *tree_worker(void *arg)
{
    tree_job *t = arg;
    for (;;) {
        rfile *batch[FINISH_BATCH];
        rstate st[FINISH_BATCH];
        size_t n = 0;
        pthread_mutex_lock(&t->mu);
        while (n < FINISH_BATCH && !t->stop && t->next < t->nfiles)
            batch[n++] = &t->files[t->next++];
        pthread_mutex_unlock(&t->mu);
        if (!n)
            break;
        for (size_t i = 0; i < n; i++)
            start_with_retries(t, batch[i], &st[i], 1);
        {
            finisher x[FINISH_BATCH];
            pthread_t tid[FINISH_BATCH];
            bool started[FINISH_BATCH];
            for (size_t i = 0; i < n; i++) {
                x[i].t = t;
                x[i].f = batch[i];
                x[i].s = &st[i];
                /* The last one runs here; a thread that cannot start runs here too. */
                started[i] = i + 1 < n && pthread_create(&tid[i], NULL, finish_one, &x[i]) == 0;
                if (!started[i])
                    finish_one(&x[i]);
            }
            for (size_t i = 0; i < n; i++)
                if (started[i])
                    pthread_join(tid[i], NULL);
        }
    }
    return NULL;
}

int afs_tier_recall(afs_endpoint *endpoint, const char *path, const afs_recall_options *opts,
                    afs_recall_result *result)
{
    afs_recall_options o = AFS_RECALL_OPTIONS_INIT;
    afs_recall_result res = AFS_RECALL_RESULT_INIT;
    recall_ctx r;
    tree_job t;
    afs_fs_stat st;
    pthread_t tids[MAX_THREADS];
    size_t started = 0;
    char *rel = NULL, *abs = NULL;
    bool ctx = false;
    int rc;

    if (!endpoint)
        return afs__error_set(AFS_EINVAL, "afs_tier_recall: endpoint is required");
    /* Only the fields the caller's version has (1: up to flags); the
     * rest keep their defaults (docs/api-conventions.md#versioned-structs). */
    if ((rc = afs__vstruct_read(&afs__vs_recall_options, &o, opts, "afs_tier_recall")) != 0)
        return rc;
    if (o.threads == 0)
        o.threads = 1;
    if (o.threads > MAX_THREADS || o.order > AFS_RECALL_ORDER_PATH ||
        (o.flags & ~(AFS_RECALL_ON_ACCESS | AFS_RECALL_NO_WAIT)))
        return afs__error_set(AFS_EINVAL, "afs_tier_recall: threads must be 1 to %d, order "
                              "policy or path, flags 0, AFS_RECALL_ON_ACCESS or "
                              "AFS_RECALL_NO_WAIT", MAX_THREADS);
    if (result && (rc = afs__vstruct_check(&afs__vs_recall_result, result->version,
                                           "afs_tier_recall")) != 0)
        return rc;
    memset(&t, 0, sizeof(t));
    res.started_ns = afs__now_ns();
    if ((rc = recall_ctx_init(&r, endpoint, o.flags)) != 0)
        goto out;
    ctx = true;
    r.progress = o.progress;
    r.progress_payload = o.progress_payload;
    r.prog.version = AFS_RECALL_PROGRESS_VERSION;
    if ((rc = afs__tier_resolve(endpoint, path, &rel, &abs)) != 0)
        goto out;
    memset(&st, 0, sizeof(st));
    if ((rc = r.c.fs->ops.stat(r.c.fs->ctx, abs, &st)) != 0)
        goto out;
    t.r = &r;
    t.o = &o;
    t.res = &res;
    pthread_mutex_init(&t.mu, NULL);
    if ((rc = afs__tier_walk(r.c.fs, abs, rel, collect, &t)) != 0)
        goto join;
    progress_note(&r, 0, 0); /* the totals, before anything is fetched */
    if (r.cancel)
        goto join;
    if (st.type == AFS_TYPE_FILE) {
        /* One file: its ranges are fetched by all the threads. */
        if (t.nfiles)
            recall_with_retries(&t, &t.files[0], o.threads);
        goto join;
    }
    qsort(t.files, t.nfiles, sizeof(*t.files), o.order == AFS_RECALL_ORDER_PATH ? cmp_path
                                                                                : cmp_hot);
    /* Many files: their heat rows and counters are committed 64 files at a time. */
    r.batched = true;
    afs__db_batch_init(&r.batch, r.c.vol->heat, 64);
    for (uint32_t i = 1; i < o.threads && i < t.nfiles; i++) {
        if (pthread_create(&tids[started], NULL, tree_worker, &t) != 0)
            break;
        started++;
    }
    tree_worker(&t);
join:
    for (size_t i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    if (r.batched) {
        int brc;
        pthread_mutex_lock(&r.c.vol->mu);
        if ((brc = afs__db_batch_finish(&r.batch)) != 0) {
            afs__db_batch_abort(&r.batch);
            if (rc == 0 && !res.first_error)
                rc = brc;
        }
        pthread_mutex_unlock(&r.c.vol->mu);
    }
    pthread_mutex_destroy(&t.mu);
    if (r.cancel)
        rc = afs__error_set(r.cancel, "recall stopped by the progress callback (it returned "
                            "%d); %llu of %llu files recalled, the rest stay placeholders",
                            r.cancel, (unsigned long long)res.files_recalled,
                            (unsigned long long)r.prog.files_total);
    else if (rc == 0 && res.first_error)
        rc = afs__error_set(res.first_error, "%s", t.msg ? t.msg : afs_strerror(res.first_error));
out:
    res.finished_ns = afs__now_ns();
    for (size_t i = 0; i < t.nfiles; i++) {
        free(t.files[i].rel);
        free(t.files[i].abs);
    }
    free(t.files);
    free(t.msg);
    if (ctx) {
        pthread_mutex_destroy(&r.state_mu);
        pthread_mutex_destroy(&r.prog_mu);
    }
    if (result) /* checked above: cannot fail */
        afs__vstruct_write(&afs__vs_recall_result, result, &res, "afs_tier_recall");
    free(rel);
    free(abs);
    return rc;
}

int afs_tier_recall_range(afs_endpoint *endpoint, const char *path, uint64_t offset,
                          uint64_t length, uint32_t flags)
{
    recall_ctx r;
    char *rel = NULL, *abs = NULL;
    uint64_t fetched;
    bool was_full;
    int rc;

    if (!endpoint || (flags & ~(AFS_RECALL_ON_ACCESS | AFS_RECALL_NO_WAIT)))
        return afs__error_set(AFS_EINVAL, "afs_tier_recall_range: an endpoint and flags 0, "
                              "AFS_RECALL_ON_ACCESS or AFS_RECALL_NO_WAIT are required");
    if ((rc = recall_ctx_init(&r, endpoint, flags)) != 0)
        return rc;
    if ((rc = afs__tier_resolve(endpoint, path, &rel, &abs)) == 0)
        rc = recall_one(&r, rel, abs, offset, length == UINT64_MAX ? UINT64_MAX - 1 : length, 1,
                        &fetched, &was_full);
    pthread_mutex_destroy(&r.state_mu);
    pthread_mutex_destroy(&r.prog_mu);
    free(rel);
    free(abs);
    return rc;
}

int afs_tier_read(afs_endpoint *endpoint, const char *path, uint64_t offset, void *buf,
                  size_t len, size_t *nread)
{
    afs_fs *fs;
    char *rel = NULL, *abs = NULL;
    void *fh = NULL;
    int rc;

    if (!endpoint || !nread || (len && !buf))
        return afs__error_set(AFS_EINVAL, "afs_tier_read: endpoint, buf and nread are required");
    *nread = 0;
    if ((rc = afs_tier_recall_range(endpoint, path, offset, len, AFS_RECALL_ON_ACCESS)) != 0)
        return rc;
    fs = afs__service_fs(endpoint->group->svc);
    if ((rc = afs__tier_resolve(endpoint, path, &rel, &abs)) != 0)
        return rc;
    if ((rc = fs->ops.open(fs->ctx, abs, AFS_FS_O_READ, &fh)) == 0) {
        rc = fs->ops.read(fs->ctx, fh, offset, buf, len, nread);
        int crc = fs->ops.close(fs->ctx, fh);
        if (rc == 0)
            rc = crc;
    }
    free(rel);
    free(abs);
    return rc;
}

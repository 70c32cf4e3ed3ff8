/*
 * Uploads, and the threads that run them side by side (docs/sync.md#apply).
 *
 * An upload has two halves. The transfer -- open the local file, read it,
 * hash it, put it conditionally, check it did not change meanwhile --
 * touches nothing but its own afs__upload, the filesystem vtable and the
 * storage, all of which may be called from several threads. The
 * bookkeeping -- the item's new base, the journal record, counters, state
 * -- stays on the session thread (apply.c). A pool of transfer threads runs
 * transfers while the session thread plans, records and commits.
 */
#ifndef AFS_SYNC_TRANSFER_H
#define AFS_SYNC_TRANSFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "afs/storage.h"
#include "afs/sys/fs.h"
#include "../core/md5.h"

typedef struct afs__upload {
    /* in: set on the session thread; the strings must outlive the transfer */
    const afs_fs_ops *fsops;
    void *fsctx;
    afs_storage *storage;
    const char *abs;        /* the local file */
    const char *cloud_rel;  /* the object to write */
    unsigned int cond;      /* AFS_COND_* */
    const char *if_match;
    bool expect;            /* the scan saw the file: its size and mtime must still hold */
    uint64_t expect_size;
    int64_t expect_mtime_ns;
    const char *writer;     /* NULL, or the server name for the writer tag (names.h) */
    int *writer_off;        /* shared: set once the storage refused the tag (atomic) */
    /* out */
    afs_fs_stat before;     /* the file as it was read */
    afs_storage_entry out;  /* the stored object (new etag) */
    uint8_t md5[AFS__MD5_LEN];
    bool has_md5;           /* md5 covers the whole file */
} afs__upload;

/* The transfer half of one upload. Returns 0 or an error code with the
 * thread's message set; safe on any thread. */
int afs__upload_run(afs__upload *u);

/* One upload handed to the pool; `item` is the caller's, never touched. */
typedef struct afs__xfer_job {
    afs__upload up;
    void *item;
    int rc;
    char *message;  /* the transfer thread's error message when rc != 0 (malloc'd) */
    struct afs__xfer_job *next;
} afs__xfer_job;

typedef struct afs__xfer afs__xfer;

/* Start `threads` transfer threads. Errors: AFS_ENOMEM, AFS_ERROR (no thread). */
int afs__xfer_start(afs__xfer **out, unsigned int threads);

/* Queue a job; the pool owns it until afs__xfer_next() hands it back. */
void afs__xfer_submit(afs__xfer *x, afs__xfer_job *job);

/* Jobs queued or running, not yet handed back. */
size_t afs__xfer_pending(const afs__xfer *x);

/* Sleep until `n` finished jobs wait to be handed back, or every pending
 * job has finished. One wake-up for many jobs: the session thread is not
 * woken by each. */
void afs__xfer_wait(afs__xfer *x, size_t n);

/* A finished job (in finishing order), or NULL if none is waiting. */
afs__xfer_job *afs__xfer_next(afs__xfer *x);

/* Stop and join the threads; every job must have been handed back. NULL is ignored. */
void afs__xfer_stop(afs__xfer *x);

#endif

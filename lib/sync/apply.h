/*
 * Applying a planned session (docs/sync.md#apply): every effect is made
 * durable before the state that records it is committed, every transfer
 * is conditional, and a failing item is recorded and retried next session
 * without stopping the others.
 */
#ifndef AFS_SYNC_APPLY_H
#define AFS_SYNC_APPLY_H

#include "afs/sync.h"
#include "../db/db.h"
#include "journal.h"
#include "plan.h"

/* Transfer threads when afs_sync_options.threads is 0 and the storage has
 * no preference (include/afs/sync.h), and the most a storage may ask for. */
#define AFS__SYNC_THREADS 4
#define AFS__SYNC_THREADS_MAX 256

typedef struct afs__apply {
    afs__session *s;
    afs_db *db;
    const char *server_name;
    const char *endpoint_id;
    uint64_t journal_seq;     /* hint in, last claimed out */
    uint64_t journal_read;    /* in: the last batch read; out: advanced over our own
                                 batches only while no other writer's batch lies between */
    afs_sync_result *res;
    afs_sync_progress_fn progress;
    void *progress_payload;
    afs_sync_progress prog;
    unsigned int threads;     /* transfer threads; 1: uploads run inline; 0: the default */
    bool threads_default;     /* threads was 0: fitted to the session's uploads */
    /* internal */
    afs__jrec *jrecs;
    size_t jcount, jcap;
    size_t pending;           /* state changes in the open transaction */
    int64_t txn_started_ns;   /* when it opened */
    bool in_txn;
    bool journal_failed;      /* a batch could not be appended: its changes are unjournaled */
    bool deferred;            /* the storage defers name durability to barriers */
    int fatal;                /* an error that ends the session */
} afs__apply;

/* Begin: opens the first state transaction. */
int afs__apply_begin(afs__apply *a);

/* Carry out the plan in order. Returns 0, a fatal error, or the progress
 * callback's cancel value (work done so far is kept). */
int afs__apply_run(afs__apply *a, const afs__plan *plan);

/* Append pending journal records and commit pending state. */
int afs__apply_flush(afs__apply *a);

/* Append pending journal records (a->journal_read is then final for the
 * records so far) and open the state transaction the next afs__apply_flush
 * commits after its storage barrier: what is written in between -- state,
 * and share changes whose names may wait for that barrier -- rides on it. */
int afs__apply_flush_journal(afs__apply *a);

/* End: flush, and free what the apply allocated. On error the open
 * transaction is committed as far as it is durable. */
int afs__apply_end(afs__apply *a);

/* Save an item's base now (rename handling uses it outside the plan). */
int afs__apply_save(afs__apply *a, afs__item *it);

/* MD5 of the item's local file, which must still be what the scan saw. */
int afs__apply_hash_local(afs__apply *a, afs__item *it, uint8_t md5[AFS__MD5_LEN]);

/* Queue a journal record (strings copied). */
int afs__apply_journal(afs__apply *a, afs__jop op, const char *path, const char *to,
                       uint32_t type, uint64_t size, int64_t mtime_ns, const char *etag,
                       const uint8_t *md5);

#endif

/*
 * The cloud change journal (docs/sync.md#change-detection).
 *
 * Every server endpoint that changes the share appends a batch describing
 * its changes to .libafs/journal/<seq>, where <seq> is a 20-digit sequence
 * number claimed with a create-only put: concurrent writers never overwrite
 * each other and numbers have no holes. A reader keeps a cursor (the last
 * sequence it applied) and reads forward until the next number is missing,
 * so a session reads only what changed since its last one. Records are
 * hints: the engine re-checks the share before acting on one, and every
 * transfer is conditional on an etag, so a stale record can cost time but
 * never data. Anything the journal cannot vouch for (a batch that fails to
 * parse, a cursor older than what was pruned, a batch that vanished while
 * it was read, a damaged floor) turns into a full enumeration of the share.
 * Pruning (lib/sync/prune.c) raises the floor, then removes the batches
 * below it.
 */
#ifndef AFS_SYNC_JOURNAL_H
#define AFS_SYNC_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/internal.h"
#include "../core/md5.h"

#define AFS__JOURNAL_DIR AFS_RESERVED_NAME "/journal"
/* The lowest sequence still kept, written when old batches are pruned:
 * decimal text. Never above the newest batch, so it always names one. */
#define AFS__JOURNAL_FLOOR AFS_RESERVED_NAME "/journal-floor"
#define AFS__JOURNAL_FLOOR_MAX 64 /* bytes; a larger floor file is damaged */

typedef enum afs__jop {
    AFS__JOP_PUT = 1,    /* a file was written: path, size, mtime, etag, md5 */
    AFS__JOP_DELETE = 2, /* a file or directory was removed */
    AFS__JOP_MKDIR = 3,
    AFS__JOP_RENAME = 4, /* path moved to `to` (a file or a whole directory) */
    AFS__JOP_PROPS = 5,  /* times or attributes changed: mtime, etag */
    AFS__JOP_RESCAN = 6  /* the writer changed the share without journaling it all (a
                            session of it stopped midway): readers enumerate in full */
} afs__jop;

typedef struct afs__jrec {
    afs__jop op;
    const char *path;
    const char *to;      /* AFS__JOP_RENAME */
    uint32_t type;       /* AFS_TYPE_FILE or AFS_TYPE_DIR */
    uint64_t size;
    int64_t mtime_ns;
    const char *etag;    /* the object's etag after the change, "" if unknown */
    bool has_md5;
    uint8_t md5[AFS__MD5_LEN];
} afs__jrec;

/*
 * Append one batch of `count` records written by endpoint `endpoint_id` of
 * server `server_name`. `*seq` is a hint (the last sequence known) on entry
 * and the sequence claimed on return. Errors: storage errors.
 */
int afs__journal_append(afs_storage *s, const char *endpoint_id, const char *server_name,
                        const afs__jrec *recs, size_t count, uint64_t *seq);

/*
 * Called for each record of each batch after the cursor, in order. The
 * strings are valid during the call only. Non-zero stops the read and is
 * returned.
 */
typedef int (*afs__journal_fn)(uint64_t seq, const char *endpoint_id, const char *server_name,
                               const afs__jrec *rec, void *payload);

/*
 * Read every batch after `cursor`. *new_cursor receives the last sequence
 * read. *gap is set when the journal cannot account for everything since
 * `cursor` (pruned past it, a batch that is damaged or hostile, or an
 * AFS__JOP_RESCAN record): the caller must then enumerate the share in
 * full. A missing batch ends the read only when it is the end of the
 * journal: one pruned meanwhile or followed by later batches sets *gap.
 * Errors: storage errors other than a missing batch, the callback's value.
 */
int afs__journal_read(afs_storage *s, uint64_t cursor, afs__journal_fn fn, void *payload,
                      uint64_t *new_cursor, bool *gap);

/*
 * The highest sequence present (0 if none), found by probing from `hint`
 * (or from the floor when the hint is gone; by listing the journal when the
 * floor names no batch). Errors: storage errors.
 */
int afs__journal_head(afs_storage *s, uint64_t hint, uint64_t *head);

/* The floor file as the share holds it. */
typedef struct afs__jfloor {
    bool present;     /* the file exists */
    bool bad;         /* damaged or hostile: readers ignore it and enumerate in full */
    uint64_t value;   /* the floor (0: none or bad) */
    char etag[AFS_ETAG_MAX]; /* with want_etag, for a conditional rewrite */
    char why[160];    /* with bad: what is wrong, for the log */
} afs__jfloor;

/*
 * Read the floor (one read; with want_etag a stat too, so that f->etag
 * matches the value read). A missing file is not an error. Errors: storage
 * errors.
 */
int afs__journal_floor_get(afs_storage *s, bool want_etag, afs__jfloor *f);

/*
 * Check that a floor above 1 names an existing batch (what pruners write),
 * following a floor that moved meanwhile. Marks it bad and returns false
 * otherwise.
 */
bool afs__journal_floor_check(afs_storage *s, afs__jfloor *f);

/* Every batch number in the journal, unsorted (malloc'd; NULL if none).
 * Errors: storage errors, AFS_ENOMEM. */
int afs__journal_list(afs_storage *s, uint64_t **seqs, size_t *count);

#endif

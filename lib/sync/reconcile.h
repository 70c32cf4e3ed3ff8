/*
 * The three-way reconcile rule of one item: what the last successful sync
 * saw (the base), what the server endpoint has now (local) and what the
 * cloud endpoint has now (cloud) decide one action. Pure functions, no I/O,
 * so the whole rule table is tested directly (docs/sync.md#reconcile).
 */
#ifndef AFS_SYNC_RECONCILE_H
#define AFS_SYNC_RECONCILE_H

#include <stdbool.h>
#include <stdint.h>

/* One side of an item: now on the server, now in the cloud, or in the base. */
typedef struct afs__side {
    bool exists;
    uint32_t type;    /* AFS_TYPE_FILE or AFS_TYPE_DIR */
    uint64_t size;
    int64_t mtime_ns; /* last write time */
    /* server side identity (the stat fast path) */
    uint64_t file_id;
    int64_t ctime_ns;
    /* cloud side identity */
    const char *etag;
} afs__side;

typedef enum afs__change {
    AFS__CH_NONE = 0,
    AFS__CH_NEW,      /* absent in the base, present now */
    AFS__CH_MODIFIED, /* a file whose identity differs from the base (content may be equal) */
    AFS__CH_DELETED,  /* present in the base, absent now */
    AFS__CH_TYPE      /* file became directory or the reverse */
} afs__change;

typedef enum afs__action {
    AFS__ACT_NONE = 0,      /* in sync */
    AFS__ACT_UPLOAD,        /* local file to the cloud */
    AFS__ACT_DOWNLOAD,      /* cloud file to the server */
    AFS__ACT_MKDIR_CLOUD,
    AFS__ACT_MKDIR_LOCAL,
    AFS__ACT_DELETE_CLOUD,  /* a file, or a directory once it is empty */
    AFS__ACT_DELETE_LOCAL,
    AFS__ACT_FORGET,        /* gone on both sides: drop the base */
    AFS__ACT_RECORD,        /* directories present on both sides: record the base */
    AFS__ACT_COMPARE,       /* files changed on both sides: equal content is recorded,
                               different content is a conflict (newest write keeps the name) */
    AFS__ACT_REPLACE_CLOUD, /* the server changed the item's type: replace the cloud item */
    AFS__ACT_REPLACE_LOCAL, /* the cloud changed the item's type: replace the local item */
    AFS__ACT_TYPE_CONFLICT  /* a file on one side, a directory on the other, both new or
                               changed: the file becomes a conflict copy, the directory stays */
} afs__action;

/* How the server side changed since the base. Directories are never "modified". */
afs__change afs__local_change(const afs__side *base, const afs__side *local);

/* How the cloud side changed since the base (files by etag). */
afs__change afs__cloud_change(const afs__side *base, const afs__side *cloud);

/*
 * The action for an item in ongoing sync and in the merge initial sync (an
 * empty base): modify beats delete; both new or changed files are compared;
 * directory times are not synced.
 */
afs__action afs__decide(const afs__side *base, const afs__side *local, const afs__side *cloud);

/*
 * The action for an item in the authoritative-upload initial sync: the
 * server is the authority (robocopy /MIR): items only in the cloud are
 * deleted, files on both sides are compared (equal content with other
 * metadata becomes a metadata update, other content an upload).
 */
afs__action afs__decide_authoritative(const afs__side *local, const afs__side *cloud);

/*
 * The apply phase an action runs in, so that parents exist before children
 * and directories are emptied before they are removed:
 *   0: file deletions and replacements of a file by a directory,
 *   1: directory creation (parents first), transfers, comparisons,
 *   2: directory removals (deepest first) and replacements of a directory
 *      by a file.
 * `existing_type` is the type being replaced for the REPLACE actions.
 */
int afs__action_phase(afs__action action, uint32_t type, uint32_t existing_type);

/* A short name of the action for logs and tests ("upload"). */
const char *afs__action_name(afs__action action);

#endif

/*
 * One sync session's working state (docs/sync.md#sessions). A session
 * builds one item per path that exists in the base, on the server or in the
 * cloud; each item carries the three sides, the decided action and, once
 * applied, the new base. Everything lives in one arena freed at the end.
 */
#ifndef AFS_SYNC_SESSION_H
#define AFS_SYNC_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/internal.h"
#include "../core/map.h"
#include "../core/md5.h"
#include "reconcile.h"

typedef struct afs__item {
    const char *path;  /* relative, '/'-separated, arena-owned */
    const char *name;  /* last component, points into path */
    afs__side base;
    afs__side local;
    afs__side cloud;
    bool cloud_known;  /* cloud side learned this session; else taken as the base */
    bool base_has_md5;
    bool cloud_has_md5; /* digest of the cloud object with cloud.etag (journal) */
    uint8_t base_md5[AFS__MD5_LEN];
    uint8_t cloud_md5[AFS__MD5_LEN];
    const char *cloud_writer; /* server that wrote cloud.etag (journal), NULL: unknown */
    afs__action action;
    int phase;
    bool handled;      /* consumed by a rename or a conflict; skip in apply */
    bool local_placeholder; /* the local file is a tiered placeholder (content in the cloud) */
    bool made_placeholder;  /* this session created it as a placeholder */
    const char *placeholder_from; /* a placeholder renamed here: the cloud path its marker
                                     names (arena), NULL otherwise */
    const char *placeholder_etag; /* and the cloud etag it names */
} afs__item;

/* A per-item failure of this session. */
typedef struct afs__item_err {
    const char *path;
    int code;
    const char *message;
    struct afs__item_err *next;
} afs__item_err;

/* A rename the journal reported (another endpoint renamed from -> to). */
typedef struct afs__rename_hint {
    const char *from;
    const char *to;
    const char *etag; /* of `to` right after the rename */
    bool has_md5;     /* digest of the content renamed, when the renamer knew it */
    uint8_t md5[AFS__MD5_LEN];
    uint32_t type;
    struct afs__rename_hint *next;
} afs__rename_hint;

/* A subtree a scan could not read: what it holds is unknown, not absent. */
typedef struct afs__unknown {
    const char *rel;
    struct afs__unknown *next;
} afs__unknown;

typedef struct afs__session {
    afs__arena arena;
    afs__map items;       /* path -> afs__item */
    afs__item **all;      /* the same items in the order they were made (malloc'd): */
    size_t nall, capall;  /* passes over every item read memory in order this way */
    afs__map journal_paths; /* paths the journal named this session */
    afs__rename_hint *cloud_renames;
    afs__unknown *unknown_local; /* unreadable on the server */
    afs__unknown *unknown_cloud; /* unlistable in the share */
    afs__item_err *errors;
    size_t error_count;
    uint64_t skipped;
    /* where */
    afs_fs *fs;
    const afs_fs_ops *fsops;
    void *fsctx;
    const char *root;     /* endpoint's absolute local path */
    afs_storage *storage;
    const char *const *exclude;
    size_t exclude_count;
    bool authoritative;   /* the authoritative-upload initial sync */
    /* cloud tiering (docs/tiering.md#engine-integration) */
    struct afs_endpoint *ep;
    bool tiering;          /* the endpoint has cloud tiering on */
    bool probe_markers;    /* the filesystem can hold tier markers */
    bool placeholders_for_new; /* cloud files arrive as placeholders */
    uint64_t min_placeholder_size; /* smaller files always arrive whole */
    bool proactive;        /* download new and modified files (proactive recall) */
    struct afs__tier_scan *heat; /* heat store notes during the scan, or NULL */
} afs__session;

/* The item for `path`, created (all sides absent) if missing; NULL on ENOMEM. */
afs__item *afs__session_item(afs__session *s, const char *path, size_t len);
/* Set an existing side's type, size, times and file id from a stat (its
 * etag is left as it is). */
void afs__side_from_stat(afs__side *side, const afs_fs_stat *st);

/* A new item for a `path` the caller knows has none yet (a bulk load). */
afs__item *afs__session_item_new(afs__session *s, const char *path, size_t len);
/* The same, not yet in s->items: the caller puts it there (the base load
 * puts all its rows at once, afs__map_put_new_many). */
afs__item *afs__session_item_unmapped(afs__session *s, const char *path, size_t len);
/* Room in s->all for `n` items; false (the error set) if there is no memory. */
bool afs__session_reserve(afs__session *s, size_t n);

/* Record a per-item failure with the thread's current message; returns 0. */
int afs__session_item_error(afs__session *s, const char *path, int code);

/*
 * Tiering's part of the local scan for one file the walk found (on the
 * session thread, after the base is loaded): recognise a placeholder and
 * feed the heat store.
 */
int afs__scan_local_file(afs__session *s, afs__item *it, const afs_fs_stat *st);
/* Has afs__scan_local_file anything to do for a file of stat `st`? (The
 * walking threads drop the entries it would pass over.) */
bool afs__scan_local_file_needed(const afs__session *s, const afs_fs_stat *st);

/*
 * Remember that `rel` (and everything below it) could not be read on the
 * server (`local`) or listed in the share: items there that the scan did not
 * see are taken as unchanged, never as deleted (docs/sync.md#change-detection).
 */
int afs__session_unknown(afs__session *s, bool local, const char *rel);
/* Is `rel` in a subtree marked unknown on that side? */
bool afs__session_is_unknown(const afs__session *s, bool local, const char *rel);

/* Absolute local path of a relative one, allocated in the arena. */
char *afs__session_local_path(afs__session *s, const char *rel);

/* Is `rel` (or its last component `name`) excluded by the user's patterns? */
bool afs__session_excluded(const afs__session *s, const char *rel, const char *name);

/*
 * Walk the endpoint's directory tree and fill the local side of items.
 * Skips never-synced names, symbolic links, special files and files with
 * several hard links (counted in s->skipped); records unsupported names as
 * per-item errors; removes stale temporary files of the library's own.
 * Errors: the root is missing or unreadable (AFS_ENOTFOUND, AFS_EPERM...).
 */
int afs__scan_local(afs__session *s);

#endif

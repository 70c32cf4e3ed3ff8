/*
 * Internals shared by the files of lib/tier/ (not by the engine: that is
 * tier_internal.h). One afs__tier_vol per (state directory, volume) in the
 * process holds the volume's heat store and the set of files being tiered
 * or recalled; each public call builds an afs__tier_ctx for its endpoint.
 */
#ifndef AFS_TIER_PRIV_H
#define AFS_TIER_PRIV_H

#include <pthread.h>
#include <stdbool.h>

#include "../core/internal.h"
#include "../core/map.h"
#include "../db/db.h"
#include "../sync/group_internal.h"
#include "marker.h"
#include "tier_internal.h"

#define AFS__TIER_DAY_NS (86400LL * 1000000000LL)
#define AFS__TIER_LOW_DISK_PERCENT 10
#define AFS__TIER_INTERVAL_S 3600
#define AFS__TIER_LOW_DISK_INTERVAL_S 60
#define AFS__TIER_DEFAULT_MIN_SIZE (64 * 1024)

typedef struct afs__tier_vol {
    char *key;            /* state_dir '\n' volume id */
    char *volume_id;
    pthread_mutex_t mu;   /* guards heat and busy */
    pthread_cond_t cv;    /* signalled when a busy path is released */
    afs_db *heat;         /* <state_dir>/heat/<volume>.db */
    afs__map busy;        /* absolute paths being tiered or recalled (keys owned) */
    char *lock_path;      /* <state_dir>/heat/<volume>.db.lock: per-file locks (tier.c) */
    char **key_ids;       /* endpoint ids and their integer keys in the heat store */
    int64_t *key_vals;
    size_t nkeys;
    struct afs__tier_vol *next;
} afs__tier_vol;

/* Per-call context of an endpoint. */
typedef struct afs__tier_ctx {
    afs_endpoint *ep;
    afs_service *svc;
    afs_fs *fs;
    afs__tier_vol *vol;
    afs_fs_volume vinfo;  /* as read when the context was made */
} afs__tier_ctx;

/* The volume context of `volume_id` under the service's state directory. */
int afs__tier_vol_get(afs_service *svc, const char *volume_id, afs__tier_vol **out);

/* Fill `c` for `ep`; refuses endpoints whose filesystem cannot tier (AFS_ENOTSUP). */
int afs__tier_ctx_init(afs__tier_ctx *c, afs_endpoint *ep);

/* Volume facts of `path`; with a NULL volume slot: one non-system volume
 * "default" of unknown size (total 0). */
int afs__tier_volume(afs_fs *fs, const char *path, afs_fs_volume *out);

/*
 * `path` (absolute inside the endpoint, or relative to it) as a relative
 * path (*rel, "" for the root) and an absolute one (*abs); both malloc'd.
 */
int afs__tier_resolve(afs_endpoint *ep, const char *path, char **rel, char **abs);

/* Wait until no one else tiers or recalls `abs`, then claim it. */
int afs__tier_busy_acquire(afs__tier_vol *v, const char *abs);
void afs__tier_busy_release(afs__tier_vol *v, const char *abs);

/*
 * Per-file locks shared by every process of the service on the volume
 * (docs/tiering.md#recall-by-several-processes): open file description
 * locks on two bytes of the volume's lock file chosen by a hash of the
 * file's absolute path. AFS__TIER_LOCK_RECALL is held shared by every
 * recall over its whole data phase and exclusively by a state change
 * (tiering, a placeholder's new cloud version, a recall making the file
 * full); AFS__TIER_LOCK_MARKER is held exclusively, briefly, around each
 * recall's read-modify-write of the marker. No lock is ever held while
 * waiting for another, except MARKER while trying RECALL without waiting.
 * Each acquisition opens its own descriptor (*fd), so threads of one
 * process exclude each other too; afs__tier_unlock closes it.
 */
#define AFS__TIER_LOCK_RECALL 0
#define AFS__TIER_LOCK_MARKER 1
#define AFS__TIER_LOCK_SHARED 0
#define AFS__TIER_LOCK_EXCL 1
/* Take lock `which` of `abs` (`excl` or shared); without `wait`, AFS_EBUSY
 * when another holds a conflicting one. */
int afs__tier_lock(afs__tier_vol *v, const char *abs, int which, int excl, bool wait, int *fd);
/* Change the kind of the lock held on `fd` (shared to exclusive without
 * waiting: AFS_EBUSY while another holds it shared, the shared lock kept). */
int afs__tier_relock(int fd, const char *abs, int which, int excl, bool wait);
/* Release a lock (fd -1 is ignored). */
void afs__tier_unlock(int fd);

/* ---- the heat store (heat.c); each call takes v->mu itself ---- */

/* One heat row as the library keeps it. */
typedef struct afs__heat_row {
    uint64_t size;
    uint64_t local_bytes;
    uint32_t state;
    int64_t mtime_ns;
    int64_t btime_ns;
} afs__heat_row;

/* The heat store's integer key of an endpoint id, created if missing (v->mu held). */
int afs__heat_key_locked(afs__tier_vol *v, const char *endpoint_id, int64_t *key);

/* Open the heat store of `v` if not yet open (v->mu held by the caller). */
int afs__heat_open_locked(afs_service *svc, afs__tier_vol *v);

/* Record a file's stat facts (insert or update; access fields untouched). */
int afs__heat_note(afs__tier_vol *v, const char *endpoint_id, const char *rel,
                   const afs__heat_row *row, int64_t scan_gen);
/* An access: last access = max(old, when), count + 1. */
int afs__heat_access(afs__tier_vol *v, const char *endpoint_id, const char *rel,
                     const afs__heat_row *row, int64_t when_ns);
/* Update after tiering or recall (state, size on disk); evict: -1 keep, 0/1 set. */
int afs__heat_update(afs__tier_vol *v, const char *endpoint_id, const char *rel,
                     const afs__heat_row *row, int evict);
int afs__heat_forget(afs__tier_vol *v, const char *endpoint_id, const char *rel);
int afs__heat_rename(afs__tier_vol *v, const char *endpoint_id, const char *from,
                     const char *to);
/* Delete the endpoint's rows whose scan generation is not `gen`. */
int afs__heat_sweep(afs__tier_vol *v, const char *endpoint_id, int64_t gen);
/* Position and count of one file (0, 0 when unknown). */
int afs__heat_position(afs__tier_vol *v, const char *endpoint_id, const char *rel,
                       int64_t *position_ns, uint64_t *count);

/* Counters of the stats table. */
typedef struct afs__heat_counters {
    uint64_t files_tiered, bytes_tiered, accesses, access_recalls;
    uint64_t recalls, recall_bytes, recall_failures, recall_ns;
} afs__heat_counters;
int afs__heat_count(afs__tier_vol *v, const char *endpoint_id, const afs__heat_counters *add);

/* Pins and exclusions of an endpoint, loaded for a pass. */
typedef struct afs__tier_rules {
    char **pins;      /* relative paths, "" pins the whole endpoint */
    size_t npins;
    char **excludes;  /* glob patterns */
    size_t nexcludes;
} afs__tier_rules;
int afs__heat_rules_load(afs__tier_vol *v, const char *endpoint_id, afs__tier_rules *r);
void afs__tier_rules_free(afs__tier_rules *r);
bool afs__tier_pinned(const afs__tier_rules *r, const char *rel);
bool afs__tier_excluded(const afs__tier_rules *r, const char *rel);

/* A heat scan of endpoint `id` rooted at `root` (tier_internal.h's begin). */
int afs__tier_scan_begin_raw(afs__tier_ctx *c, const char *id, const char *root,
                             afs__tier_scan **out);

/* ---- endpoints of a volume (pass.c) ---- */

typedef struct afs__tier_ep {
    char *id;
    int64_t key;        /* in the heat store */
    char *root;
    uint32_t enabled;
    uint32_t free_pct;
    uint32_t date_days;
    uint64_t min_size;
    bool initial_done;  /* the initial upload finished: the space policy applies */
    afs_db *state;      /* sync state; owned unless borrowed */
    bool state_borrowed;
    afs__tier_rules rules;
} afs__tier_ep;

/* Walk the files below `abs` (relative path `rel`, "" for the endpoint root)
 * depth first, skipping names sync never handles and non-regular files;
 * `fn` gets each regular file's relative path and stat. A non-zero return
 * of `fn` stops the walk and is returned. `abs` may name a file. */
typedef int (*afs__tier_walk_fn)(const char *rel, const char *abs, const afs_fs_stat *st,
                                 void *payload);
int afs__tier_walk(afs_fs *fs, const char *abs, const char *rel, afs__tier_walk_fn fn,
                   void *payload);

/* Load this service's endpoints on `volume_id`; `self` (may be NULL) lends
 * its open sync state. Free with afs__tier_eps_free. */
int afs__tier_eps_load(afs__tier_ctx *c, afs_endpoint *self, afs__tier_ep **out, size_t *n);
void afs__tier_eps_free(afs__tier_ep *eps, size_t n);

/* ---- one file (place.c) ---- */

/* Why a file was not tiered. */
typedef enum afs__tier_skip {
    AFS__SKIP_NONE = 0,
    AFS__SKIP_NOT_SYNCED,
    AFS__SKIP_SMALL,
    AFS__SKIP_EXCLUDED,
    AFS__SKIP_PINNED,
    AFS__SKIP_CHANGED,
    AFS__SKIP_GONE,      /* the file no longer exists (heat row dropped) */
    AFS__SKIP_ALREADY,   /* already a placeholder with nothing on disk */
    AFS__SKIP_OPEN       /* open by another process (its write lease failed or broke);
                            counted with the changed files */
} afs__tier_skip;

/*
 * Tier one file of endpoint `e` (root + rel): checks size, pin, exclusion
 * and cloud confirmation, then marker, verify, fsync, punch, restore the
 * write time, refresh the sync base's ctime, update the heat row.
 * Returns 0 with *skip set (AFS__SKIP_NONE when tiered, *freed the bytes
 * released), or an error for a failure.
 */
int afs__tier_one(afs__tier_ctx *c, afs__tier_ep *e, const char *rel, afs__tier_skip *skip,
                  uint64_t *freed);

/* Base row of `rel` in a sync state database. */
typedef struct afs__tier_base {
    bool exists;
    uint64_t size;
    int64_t mtime_ns;
    uint64_t file_id;
    int64_t ctime_ns;
    char etag[AFS_ETAG_MAX];
} afs__tier_base;
int afs__tier_base_get(afs_db *state, const char *rel, afs__tier_base *out);
/* Move the base's ctime from `old_ctime` to `new_ctime` when the rest still matches. */
int afs__tier_base_touch(afs_db *state, const char *rel, const afs__tier_base *b,
                         int64_t new_ctime);

/* Decide confirmation from a stat, an optional marker and the base. */
bool afs__tier_is_confirmed(const afs_fs_stat *st, const afs__marker *m,
                            const afs__tier_base *b);

/* State of a file from its stat and marker (found or not). */
uint32_t afs__tier_state_of(const afs_fs_stat *st, const afs__marker *m, bool found);

/* Build the heat row of a file: local_bytes is the data kept on disk (the
 * size on disk of a full file, the recorded ranges of a placeholder, whose
 * marker may take a block of its own). */
void afs__tier_row(const afs_fs_stat *st, uint32_t state, uint64_t present,
                   afs__heat_row *row);

#endif

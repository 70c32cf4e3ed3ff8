/*
 * libafs: cloud tiering and recall.
 *
 * A server endpoint with tiering enabled (afs_endpoint_options:
 * tiering_enabled, tiering_free_space_percent, tiering_date_days,
 * tiering_min_file_size) keeps hot files on disk and turns cold ones into
 * placeholders: the file keeps its name, logical size and times, its blocks
 * are freed (size on disk 0) and a tier marker (cloud path, etag, size,
 * recalled ranges) is attached through the filesystem vtable. Reading the
 * data back is a recall: the whole file, a byte range, or a folder tree
 * with several threads. docs/tiering.md explains the policies, the marker
 * format and every number used here.
 *
 * Heat: one heat store per volume (SQLite, under the service state
 * directory) keeps per file the last access, the access count, the last
 * write and the creation time. The host reports accesses with
 * afs_tier_access(); the sync scan (or AFS_TIER_PASS_SCAN) contributes the
 * times. A file's position is MAX(last access, last write, created); files
 * whose positions fall on the same day are ordered by access count, so
 * frequently used files stay hot.
 *
 * Threads: like every endpoint function, one thread at a time per
 * afs_endpoint handle. The recall functions start their own worker threads
 * and may run concurrently with recalls from other handles on the same
 * files: a file is recalled once, the others wait for it.
 */
#ifndef AFS_TIER_H
#define AFS_TIER_H

#include "common.h"
#include "group.h"

AFS_BEGIN_DECL

/* ---- placeholders ---------------------------------------------------- */

/* What a file on a tiering endpoint is. */
typedef enum afs_tier_state {
    AFS_TIER_STATE_FULL = 0,    /* a normal file: all data on disk, no marker */
    AFS_TIER_STATE_TIERED = 1,  /* a placeholder: no data on disk */
    AFS_TIER_STATE_PARTIAL = 2  /* a placeholder with some ranges recalled */
} afs_tier_state;

/*
 * One file's tiering state, as afs_tier_query() reports it (the
 * equivalent of `fsutil reparsepoint query` plus Size / Size on disk).
 * The caller sets `version`; the library fills the rest of that version's
 * fields and writes nothing past them. Pointers are owned by the struct:
 * release them with afs_tier_info_clear().
 */
typedef struct afs_tier_info {
    unsigned int version;   /* AFS_TIER_INFO_VERSION */
    uint32_t state;         /* afs_tier_state */
    uint64_t size;          /* logical size in bytes */
    uint64_t size_on_disk;  /* bytes allocated on disk */
    int64_t mtime_ns;       /* last write time of the file */
    /* The tier marker; all zero / NULL for a full file. */
    uint32_t marker_version; /* format version of the marker (1) */
    uint32_t marker_flags;   /* AFS_TIER_MARKER_* */
    int64_t tiered_ns;       /* when the file was tiered (or the placeholder created) */
    uint64_t recalled_bytes; /* bytes the marker records as present on disk */
    char *cloud_path;        /* path of the file in the share */
    char *etag;              /* etag of the cloud version the placeholder stands for */
    uint64_t *ranges;        /* range_count pairs (offset, length) present on disk */
    size_t range_count;
    unsigned char *marker;   /* the raw marker bytes, marker_len of them */
    size_t marker_len;
    /* version 1 ends here */
} afs_tier_info;

#define AFS_TIER_INFO_VERSION 1

/* Marker flags. */
#define AFS_TIER_MARKER_NAMESPACE 0x01u /* created from the cloud, never downloaded */

/*
 * Describe the file at `path` (absolute, inside the endpoint, or relative
 * to the endpoint's root). A marker that does not parse (foreign or damaged)
 * gives AFS_ECORRUPT; the file is left alone.
 * Errors: AFS_EINVAL (NULL arguments, a path outside the endpoint),
 * AFS_EVERSION (out->version 0 or newer than this libafs knows; *out
 * untouched), AFS_ENOTFOUND, AFS_EISDIR, AFS_ECORRUPT, filesystem
 * errors. Free what it allocated with afs_tier_info_clear() (also after a
 * failure: the struct is then empty).
 */
AFS_EXTERN int afs_tier_query(afs_endpoint *endpoint, const char *path, afs_tier_info *out);

/*
 * Free the strings and arrays of `info` and zero the fields of its version
 * (version is kept; nothing past that version is touched). NULL, and a
 * version this libafs does not know (0 included), are ignored.
 */
AFS_EXTERN void afs_tier_info_clear(afs_tier_info *info);

/* ---- tiering ---------------------------------------------------------- */

/* The outcome of a tiering pass or a forced tiering. Caller sets `version`;
 * the library writes only that version's fields. */
typedef struct afs_tier_result {
    unsigned int version;          /* AFS_TIER_RESULT_VERSION */
    int64_t started_ns;
    int64_t finished_ns;
    uint64_t files_tiered;         /* all stages */
    uint64_t bytes_freed;          /* size on disk released */
    uint64_t files_tiered_date;    /* by the date policy */
    uint64_t files_tiered_space;   /* by the volume free space policy */
    uint64_t files_tiered_evict;   /* recalled on access in low disk space mode, re-tiered */
    uint64_t skipped_not_synced;   /* content not (yet) confirmed in the cloud */
    uint64_t skipped_small;        /* below the endpoint's minimum file size */
    uint64_t skipped_excluded;     /* matched a tiering exclusion pattern */
    uint64_t skipped_pinned;       /* under an always-local pin */
    uint64_t skipped_changed;      /* changed while being tiered, or open in another process */
    uint64_t item_errors;          /* other per-file failures (logged) */
    uint64_t volume_total_bytes;
    uint64_t free_bytes_before;
    uint64_t free_bytes_after;
    uint64_t target_free_bytes;    /* 0 when the free space policy did not apply */
    uint32_t free_space_percent;   /* effective: the largest of the volume's endpoints */
    uint32_t low_disk_space;       /* 1: under 10% free after the pass */
    uint32_t next_interval_s;      /* when to run the next pass: 60 in low disk space mode, else 3600 */
    /* version 1 ends here */
} afs_tier_result;

#define AFS_TIER_RESULT_VERSION 1
#define AFS_TIER_RESULT_INIT \
    { AFS_TIER_RESULT_VERSION, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }

/* afs_tier_pass_options.flags */
#define AFS_TIER_PASS_DRY_RUN 0x01u /* choose only: count what would be tiered, touch nothing */
#define AFS_TIER_PASS_SCAN 0x02u    /* first walk the endpoints to refresh the heat store */

/* Options of afs_tier_pass(); the library reads only the fields of `version`. */
typedef struct afs_tier_pass_options {
    unsigned int version; /* set by the caller: AFS_TIER_PASS_OPTIONS_VERSION */
    uint32_t flags;  /* AFS_TIER_PASS_* */
    int64_t now_ns;  /* the time the date policy measures from; AFS_TIME_OMIT: the clock */
    /* version 1 ends here */
} afs_tier_pass_options;

#define AFS_TIER_PASS_OPTIONS_VERSION 1
#define AFS_TIER_PASS_OPTIONS_INIT { AFS_TIER_PASS_OPTIONS_VERSION, 0, AFS_TIME_OMIT }

/*
 * Fill the fields of `version` of `opts` with their defaults and set
 * opts->version; nothing past that version's fields is written.
 * Errors: AFS_EINVAL (opts NULL), AFS_EVERSION (0 or a version this libafs
 * does not know; opts untouched).
 */
AFS_EXTERN int afs_tier_pass_options_init(afs_tier_pass_options *opts, unsigned int version);

/*
 * Run one tiering pass on the volume holding `endpoint`, over every
 * tiering-enabled server endpoint of this server on that volume. The host
 * calls it on a timer: every next_interval_s seconds (hourly, every minute
 * in low disk space mode). Order:
 *   1. files recalled on access in low disk space mode are tiered again;
 *   2. the date policy of each endpoint: files whose position is older
 *      than tiering_date_days (applies as soon as a file is uploaded);
 *   3. the volume free space policy, once the endpoint's initial upload is
 *      done: coolest files first, across endpoints, until the volume has
 *      the largest tiering_free_space_percent of its endpoints free.
 * A file is never tiered when its content is not confirmed in the cloud
 * (its stat identity differs from the last synced version, or it has no
 * cloud etag), when it is below the endpoint's minimum size, excluded,
 * pinned, or when it changes during tiering. The pass never recalls.
 * Per-file failures are counted in the result and do not stop the pass.
 * `opts` and `result` may be NULL; only the fields of opts->version are
 * read and only those of result->version written.
 * Errors: AFS_EINVAL, AFS_EVERSION (a version 0 or newer than this libafs
 * knows, before anything is done), AFS_ENOTSUP (the filesystem vtable has
 * no punch_hole or marker slots), heat store and filesystem errors that
 * stop the whole pass.
 */
AFS_EXTERN int afs_tier_pass(afs_endpoint *endpoint, const afs_tier_pass_options *opts,
                             afs_tier_result *result);

/*
 * Tier a file, or every file below a folder, now, whatever the policies say
 * (Invoke-StorageSyncCloudTiering). The safety rules still hold: files not
 * confirmed in the cloud, below the minimum size, pinned or excluded are
 * skipped (counted in `result`). `path` is absolute or relative to the
 * endpoint; "" is the whole endpoint. `result` may be NULL; only the fields
 * of result->version are written.
 * Errors: AFS_EINVAL, AFS_EVERSION (result->version), AFS_ENOTFOUND,
 * AFS_ENOTSUP, and for a single file the
 * reason it was not tiered: AFS_ECONDITION (not confirmed in the cloud,
 * changed during tiering, or being recalled by this or another process),
 * AFS_EPERM (pinned, excluded or below the
 * minimum size; the message says which).
 */
AFS_EXTERN int afs_tier_file(afs_endpoint *endpoint, const char *path, afs_tier_result *result);

/*
 * Recommended seconds until the next afs_tier_pass() on the endpoint's
 * volume: 3600, or 60 in low disk space mode (under 10% free). *low_disk
 * (may be NULL) gets 1 in low disk space mode. Errors: AFS_EINVAL,
 * filesystem errors.
 */
AFS_EXTERN int afs_tier_interval(afs_endpoint *endpoint, uint32_t *seconds, uint32_t *low_disk);

/* ---- heat: accesses, pins, exclusions, the heat store report ----------- */

/* afs_tier_access() flags. */
#define AFS_TIER_ACCESS_READ 0x01u
#define AFS_TIER_ACCESS_WRITE 0x02u
#define AFS_TIER_ACCESS_NO_HEAT 0x04u /* an excluded process (virus scanner, backup): not counted */

/*
 * Report an access to the file at `path` (absolute or relative to the
 * endpoint) at `when_ns` (AFS_TIME_OMIT: now). READ or WRITE, optionally
 * with NO_HEAT, which makes the call a no-op so that scanners and backups
 * do not keep every file hot. The file's heat row gets the access (last
 * access is the latest reported, the count goes up by one).
 * Errors: AFS_EINVAL (flags, a path outside the endpoint), AFS_ENOTFOUND
 * (no such file), heat store errors.
 */
AFS_EXTERN int afs_tier_access(afs_endpoint *endpoint, const char *path, uint32_t flags,
                               int64_t when_ns);

/*
 * Mark a file or folder always-local (`pinned` 1) or normal again (0).
 * A pinned file, or any file below a pinned folder, is never tiered.
 * Pinning does not recall: use afs_tier_recall() for that.
 * Errors: AFS_EINVAL, heat store errors.
 */
AFS_EXTERN int afs_tier_pin(afs_endpoint *endpoint, const char *path, int pinned);

/* The endpoint's pinned paths (relative), sorted. Free with afs_strarray_free(). */
AFS_EXTERN int afs_tier_pins(afs_endpoint *endpoint, afs_strarray *out);

/*
 * Replace the endpoint's tiering exclusion patterns (glob patterns as for
 * sync exclusions: with a '/' they match the relative path, otherwise the
 * name). Matching files are never tiered; they still sync.
 * Errors: AFS_EINVAL (NULL or empty pattern), heat store errors.
 */
AFS_EXTERN int afs_tier_exclude_set(afs_endpoint *endpoint, const char *const *patterns,
                                    size_t count);

/* The endpoint's tiering exclusion patterns. Free with afs_strarray_free(). */
AFS_EXTERN int afs_tier_exclude_get(afs_endpoint *endpoint, afs_strarray *out);

/* Orders of the heat store report (Get-StorageSyncHeatStoreInformation -IndexName). */
typedef enum afs_heat_order {
    AFS_HEAT_SPACE_POLICY = 1, /* the files the free space policy would tier next, coolest first */
    AFS_HEAT_DATE_POLICY = 2,  /* the files the date policy would tier now */
    AFS_HEAT_LAST_ACCESS = 3,  /* every file, most recent access first */
    AFS_HEAT_RECALL = 4        /* placeholders in the order a bulk recall brings them back */
} afs_heat_order;

/*
 * One row of the heat store report (afs_heat_list()), allocated on its own
 * so that later versions can append fields
 * (docs/api-conventions.md#structs-the-library-returns). Read a field added
 * in version N only when `version` >= N.
 */
#define AFS_HEAT_ENTRY_VERSION 1
typedef struct afs_heat_entry {
    unsigned int version;  /* set by the library: the AFS_HEAT_ENTRY_VERSION it was built with */
    char *path;            /* absolute local path */
    char *endpoint_id;
    uint32_t state;        /* afs_tier_state, as last seen */
    uint32_t pinned;       /* 1 if under an always-local pin */
    uint64_t size;         /* logical */
    uint64_t size_on_disk; /* as last seen */
    uint64_t access_count;
    int64_t last_access_ns; /* 0: never reported */
    int64_t mtime_ns;
    int64_t btime_ns;      /* 0: unknown */
    int64_t position_ns;   /* MAX(last access, last write, created) */
    /* version 1 ends here */
} afs_heat_entry;

/* Options of afs_heat_list(); the library reads only the fields of `version`. */
typedef struct afs_heat_list_options {
    unsigned int version; /* set by the caller: AFS_HEAT_LIST_OPTIONS_VERSION */
    uint32_t order;   /* afs_heat_order */
    uint64_t limit;   /* at most this many rows; 0: no limit */
    int64_t now_ns;   /* for AFS_HEAT_DATE_POLICY; AFS_TIME_OMIT: the clock */
    /* version 1 ends here */
} afs_heat_list_options;

#define AFS_HEAT_LIST_OPTIONS_VERSION 1
#define AFS_HEAT_LIST_OPTIONS_INIT \
    { AFS_HEAT_LIST_OPTIONS_VERSION, AFS_HEAT_SPACE_POLICY, 100, AFS_TIME_OMIT }

/*
 * Fill the fields of `version` of `opts` with their defaults and set
 * opts->version; nothing past that version's fields is written.
 * Errors: AFS_EINVAL (opts NULL), AFS_EVERSION (0 or a version this libafs
 * does not know; opts untouched).
 */
AFS_EXTERN int afs_heat_list_options_init(afs_heat_list_options *opts, unsigned int version);

/*
 * The heat store report of the volume holding `volume_path` (any path on
 * the volume), over this service's endpoints there. AFS_HEAT_SPACE_POLICY
 * lists, coolest first, the files the free space policy may tier whether or
 * not the volume needs space now (the pass stops once its target is met);
 * it honours pins, exclusions and minimum sizes but not cloud
 * confirmation, which the pass checks per file. `opts` NULL: the defaults
 * (space policy order, 100 rows); otherwise only the fields of
 * opts->version are read (AFS_EVERSION for 0 or a version this libafs does
 * not know). On success *out is an array of *count
 * pointers to rows (NULL when there are none); index it as (*out)[i]->field.
 * The list owns the rows and their strings: free it with
 * afs_heat_entries_free(*out, *count). On failure *out is NULL and *count 0.
 * Errors: AFS_EINVAL, AFS_EVERSION, AFS_ENOMEM, filesystem and heat store
 * errors.
 */
AFS_EXTERN int afs_heat_list(afs_service *svc, const char *volume_path,
                             const afs_heat_list_options *opts, afs_heat_entry ***out,
                             size_t *count);

/* Free a list from afs_heat_list(): each row, its strings, and the array of
 * pointers. NULL is ignored. */
AFS_EXTERN void afs_heat_entries_free(afs_heat_entry **list, size_t count);

/* ---- recall ------------------------------------------------------------ */

/* afs_recall_options.order */
#define AFS_RECALL_ORDER_POLICY 0u /* hottest first (the reverse of the tiering order) */
#define AFS_RECALL_ORDER_PATH 1u   /* by path, byte order */

/* afs_recall_options.flags and afs_tier_recall_range() flags */
#define AFS_RECALL_ON_ACCESS 0x01u /* the recall serves an application's access: counts
                                      as a cache miss; in low disk space mode the file is
                                      tiered again by the next pass */
#define AFS_RECALL_NO_WAIT 0x02u   /* for hosts answering pre-content events (afs-hsmd):
                                      while another process changes the file's state
                                      (tiers it, or updates it to a new cloud version,
                                      whose own punch or truncate raises the event),
                                      fail at once with AFS_EBUSY instead of waiting
                                      for it (docs/tiering.md#recall-by-several-processes) */

/*
 * What a recall's progress callback receives. The totals are known before
 * the first byte is fetched: the placeholders found below the path and the
 * bytes missing from them.
 */
typedef struct afs_recall_progress {
    unsigned int version;  /* AFS_RECALL_PROGRESS_VERSION */
    uint64_t files_done;   /* placeholders finished: recalled, failed, or found complete */
    uint64_t files_total;  /* placeholders to recall */
    uint64_t bytes_done;   /* bytes fetched so far */
    uint64_t bytes_total;  /* bytes missing from those placeholders */
} afs_recall_progress;

#define AFS_RECALL_PROGRESS_VERSION 1

/*
 * Called by afs_tier_recall() once the placeholders are counted, after each
 * piece fetched (at most 8 MiB) and after each file; from the recall's
 * threads, never two calls at a time. `progress` is valid during the call.
 * Return 0 to go on; non-zero stops the recall cleanly: no new file or
 * piece is started, what was fetched is kept (recorded in the markers),
 * every file is a placeholder (possibly partially recalled) or complete,
 * and afs_tier_recall() returns that value unchanged.
 */
typedef int (*afs_recall_progress_fn)(const afs_recall_progress *progress, void *payload);

/* Options of afs_tier_recall(); the library reads only the fields of `version`. */
typedef struct afs_recall_options {
    unsigned int version;    /* set by the caller: AFS_RECALL_OPTIONS_VERSION */
    uint32_t threads;        /* 1 to 32; 0: 1 */
    uint32_t order;          /* AFS_RECALL_ORDER_* */
    uint32_t retry_count;    /* extra tries per file after a failure; default 3 */
    uint32_t retry_delay_ms; /* wait between tries; default 1000 */
    uint32_t flags;          /* AFS_RECALL_* */
    /* version 1 ends here */
    afs_recall_progress_fn progress; /* NULL: none */
    void *progress_payload;
    /* version 2 ends here */
} afs_recall_options;

#define AFS_RECALL_OPTIONS_VERSION 2
#define AFS_RECALL_OPTIONS_INIT \
    { AFS_RECALL_OPTIONS_VERSION, 1, AFS_RECALL_ORDER_POLICY, 3, 1000, 0, NULL, NULL }

/*
 * Fill the fields of `version` of `opts` with their defaults and set
 * opts->version; nothing past that version's fields is written.
 * Errors: AFS_EINVAL (opts NULL), AFS_EVERSION (0 or a version this libafs
 * does not know; opts untouched).
 */
AFS_EXTERN int afs_recall_options_init(afs_recall_options *opts, unsigned int version);

/* The outcome of a recall. Caller sets `version`; the library writes only
 * that version's fields. */
typedef struct afs_recall_result {
    unsigned int version;   /* AFS_RECALL_RESULT_VERSION */
    int64_t started_ns;
    int64_t finished_ns;
    uint64_t files_recalled; /* placeholders that became full files */
    uint64_t bytes_recalled; /* bytes fetched from the cloud */
    uint64_t files_already_local; /* full files found on the way */
    uint64_t files_failed;
    uint64_t retries;
    int first_error;        /* code of the first file that failed, 0 if none */
    /* version 1 ends here */
} afs_recall_result;

#define AFS_RECALL_RESULT_VERSION 1
#define AFS_RECALL_RESULT_INIT { AFS_RECALL_RESULT_VERSION, 0, 0, 0, 0, 0, 0, 0, 0 }

/*
 * Recall a placeholder, or every placeholder below a folder, in full
 * (Invoke-StorageSyncFileRecall). A file is fetched with reads conditional
 * on the etag recorded in its marker, written in place, made durable, given
 * back its last write time, and loses its marker. With several threads,
 * files are recalled in parallel (a single large file is split into ranges
 * fetched in parallel). Each file is retried `retry_count` times after
 * `retry_delay_ms`, except for AFS_ECONDITION and AFS_ENOSPC.
 * When the volume runs out of space the recall stops cleanly: every file is
 * either a valid placeholder (possibly partially recalled) or complete.
 * `opts` and `result` may be NULL. Only the fields of opts->version are
 * read (version 1 options, without the progress callback, are still
 * accepted) and only those of result->version written; 0 or a version this
 * libafs does not know gives AFS_EVERSION before anything is done.
 * Returns 0 when every file was recalled; the progress callback's value if
 * it stopped the recall; otherwise the first failure:
 * AFS_ECONDITION (the cloud copy changed since the file was tiered; nothing
 * mismatched was written), AFS_ENOSPC, AFS_ENOTFOUND, AFS_EINVAL,
 * storage and filesystem errors.
 */
AFS_EXTERN int afs_tier_recall(afs_endpoint *endpoint, const char *path,
                               const afs_recall_options *opts, afs_recall_result *result);

/*
 * Partial recall: make bytes [offset, offset + length) of the file at
 * `path` present on disk, fetching only the missing 1 MiB chunks that
 * overlap the range (AFS_TIER_CHUNK), and record them in the marker. A
 * range past the end is clipped. A file that ends up fully present becomes
 * a normal file again. A full file is a no-op. Concurrent recalls of the
 * same file, in any process of the service, share the work (the first
 * fetches, the others find it present). `flags`: AFS_RECALL_ON_ACCESS,
 * AFS_RECALL_NO_WAIT, both or 0.
 * Errors: as afs_tier_recall(); AFS_EBUSY with AFS_RECALL_NO_WAIT.
 */
AFS_EXTERN int afs_tier_recall_range(afs_endpoint *endpoint, const char *path, uint64_t offset,
                                     uint64_t length, uint32_t flags);

/* Granularity of partial recall, in bytes. */
#define AFS_TIER_CHUNK (1024u * 1024u)

/*
 * Read through a placeholder: recall [offset, offset + len) as
 * afs_tier_recall_range() with AFS_RECALL_ON_ACCESS, then read it into
 * `buf`. *nread < len only at the end of the file. For hosts without
 * transparent recall (fanotify). Errors: as afs_tier_recall_range().
 */
AFS_EXTERN int afs_tier_read(afs_endpoint *endpoint, const char *path, uint64_t offset,
                             void *buf, size_t len, size_t *nread);

/* ---- the recall host --------------------------------------------------- */

/*
 * A recall host is the process that makes recall transparent: it answers
 * applications' reads of placeholders by recalling the range they touch
 * (afs-hsmd with fanotify pre-content events on Linux, a Samba VFS module,
 * a NAS firmware; docs/recall-daemon.md). Without one, a placeholder reads
 * as zeros where its data is not on disk. One host serves a service (every
 * endpoint of its state directory); tools ask whether one is active to
 * warn their users.
 */
typedef struct afs_recall_host afs_recall_host;

/*
 * Claim the recall host role of `svc` for this process. The claim is an
 * open file description lock on <state_dir>/recall-host.lock: it lasts
 * until afs_recall_host_release() or until the process exits or crashes
 * (the kernel drops it), so no stale claim survives a crash.
 * Errors: AFS_EINVAL, AFS_EBUSY (another live process holds the role; the
 * message gives its pid), AFS_EPERM and AFS_EIO (the state directory),
 * AFS_ENOMEM. Free with afs_recall_host_release().
 */
AFS_EXTERN int afs_recall_host_claim(afs_recall_host **out, afs_service *svc);

/* Give up the role and free the handle. NULL is ignored. */
AFS_EXTERN void afs_recall_host_release(afs_recall_host *host);

/* Whether a recall host serves a service. The caller sets `version`; the
 * library writes only that version's fields. */
typedef struct afs_recall_host_info {
    unsigned int version; /* AFS_RECALL_HOST_INFO_VERSION */
    uint32_t active;      /* 1: a live process holds the role */
    int64_t pid;          /* its process id (0 if none or unknown) */
    int64_t since_ns;     /* when it claimed the role (0 if unknown) */
    /* version 1 ends here */
} afs_recall_host_info;

#define AFS_RECALL_HOST_INFO_VERSION 1

/*
 * Tell whether a recall host is active for `svc`, from any process (the
 * holder's lock is tested, not trusted from a file). Touches nothing. A
 * host caught between taking the lock and writing its pid (a claim under
 * way) is waited for, up to 20 ms, so that `pid` is known when `active` is.
 * Errors: AFS_EINVAL, AFS_EVERSION (out->version 0 or newer than this libafs
 * knows; *out untouched), AFS_EPERM and AFS_EIO (the state
 * directory), AFS_ENOMEM.
 */
AFS_EXTERN int afs_recall_host_query(afs_recall_host_info *out, afs_service *svc);

/* ---- statistics -------------------------------------------------------- */

/* Tiering and recall statistics of an endpoint or a volume. Caller sets
 * `version`; the library writes only that version's fields. */
typedef struct afs_tier_stats {
    unsigned int version;       /* AFS_TIER_STATS_VERSION */
    uint64_t files;             /* files the heat store knows */
    uint64_t tiered_files;      /* placeholders (tiered or partially recalled) */
    uint64_t tiered_bytes;      /* logical bytes of placeholders not on disk */
    uint64_t local_bytes;       /* size on disk of all files: the server's cache size */
    uint64_t files_tiered_total; /* files tiered since the heat store was created */
    uint64_t bytes_tiered_total;
    uint64_t accesses;          /* reported accesses that count */
    uint64_t access_recalls;    /* recalls on access that fetched data (cache misses) */
    uint32_t cache_hit_percent; /* 100 * (accesses - access_recalls) / accesses; 100 if none */
    uint32_t low_disk_space;    /* volume under 10% free (1) */
    uint64_t recalls;           /* recalls that fetched data */
    uint64_t recall_bytes;
    uint64_t recall_failures;
    uint64_t recall_ns;         /* time spent fetching */
    uint64_t recall_bytes_per_s; /* recall_bytes / recall time */
    uint32_t recall_success_percent; /* 100 * recalls / (recalls + failures); 100 if none */
    uint32_t free_space_percent;    /* effective free space policy of the volume */
    uint64_t volume_total_bytes;
    uint64_t volume_free_bytes;
    /* version 1 ends here */
} afs_tier_stats;

#define AFS_TIER_STATS_VERSION 1

/* Statistics of one endpoint. Errors: AFS_EINVAL, AFS_EVERSION (out->version
 * 0 or newer than this libafs knows; *out untouched), heat store errors. */
AFS_EXTERN int afs_tier_stats_get(afs_endpoint *endpoint, afs_tier_stats *out);

/* Statistics of the volume holding `volume_path`: the sums over this
 * service's endpoints there. Errors: as afs_tier_stats_get(). */
AFS_EXTERN int afs_tier_volume_stats(afs_service *svc, const char *volume_path,
                                     afs_tier_stats *out);

AFS_END_DECL

#endif /* AFS_TIER_H */

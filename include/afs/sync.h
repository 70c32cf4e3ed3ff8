/*
 * libafs: sync sessions of a server endpoint.
 *
 * One call to afs_endpoint_sync() runs one session: local change detection
 * against the stored base, cloud change detection (the change journal, and
 * a full enumeration at its interval or on demand), per-item reconcile and
 * apply. Per-item failures never abort a session: they are recorded and
 * retried next time. docs/sync.md describes the rules.
 */
#ifndef AFS_SYNC_H
#define AFS_SYNC_H

#include "common.h"
#include "group.h"

AFS_BEGIN_DECL

/* Phases reported to the progress callback. */
typedef enum afs_sync_phase {
    AFS_SYNC_PHASE_SCAN_LOCAL = 1,
    AFS_SYNC_PHASE_SCAN_CLOUD = 2,
    AFS_SYNC_PHASE_RECONCILE = 3,
    AFS_SYNC_PHASE_APPLY = 4,
    AFS_SYNC_PHASE_DONE = 5,
    AFS_SYNC_PHASE_CONTENT = 6 /* the initial "namespace then content" download's content
                                  step, after the namespace is in place */
} afs_sync_phase;

typedef struct afs_sync_progress {
    unsigned int version; /* AFS_SYNC_PROGRESS_VERSION */
    uint32_t phase;       /* afs_sync_phase */
    uint64_t items_done;
    uint64_t items_total; /* 0 while unknown */
    uint64_t bytes_done;
    uint64_t bytes_total;
} afs_sync_progress;

#define AFS_SYNC_PROGRESS_VERSION 1

/*
 * Progress callback, called from the syncing thread at phase changes and
 * every few hundred items. Return 0 to go on; any other value cancels the
 * session cleanly (work done so far is kept and recorded) and
 * afs_endpoint_sync() returns that value.
 */
typedef int (*afs_sync_progress_fn)(const afs_sync_progress *progress, void *payload);

/* afs_sync_options.flags */
#define AFS_SYNC_FORCE 0x01u            /* go past the safety net */
#define AFS_SYNC_FULL_CLOUD_SCAN 0x02u  /* run the cloud change detection (full enumeration) now */

/* Options of afs_endpoint_sync(); the library reads only the fields of `version`. */
typedef struct afs_sync_options {
    unsigned int version;          /* set by the caller: AFS_SYNC_OPTIONS_VERSION */
    uint32_t flags;                /* AFS_SYNC_* */
    afs_sync_progress_fn progress; /* may be NULL */
    void *progress_payload;
    uint32_t threads;              /* transfer threads; 0 = default (4, or what the
                                      storage asks for: AFS_STORAGE_CTL_CONCURRENCY) */
    /* version 1 ends here */
} afs_sync_options;

#define AFS_SYNC_OPTIONS_VERSION 1
#define AFS_SYNC_OPTIONS_INIT { AFS_SYNC_OPTIONS_VERSION, 0, NULL, NULL, 0 }

/*
 * Fill the fields of `version` of `opts` with their defaults and set
 * opts->version; nothing past that version's fields is written.
 * Errors: AFS_EINVAL (opts NULL), AFS_EVERSION (0 or a version this libafs
 * does not know; opts untouched).
 */
AFS_EXTERN int afs_sync_options_init(afs_sync_options *opts, unsigned int version);

/* The outcome of one session; the library writes only the fields of `version`. */
typedef struct afs_sync_result {
    unsigned int version;       /* set by the caller: AFS_SYNC_RESULT_VERSION */
    int result;                 /* 0, or the code that ended the session early */
    int64_t started_ns;
    int64_t finished_ns;
    uint64_t files_uploaded;
    uint64_t bytes_uploaded;
    uint64_t files_downloaded;
    uint64_t bytes_downloaded;
    uint64_t dirs_created_cloud;
    uint64_t dirs_created_local;
    uint64_t deleted_cloud;     /* files and directories */
    uint64_t deleted_local;
    uint64_t renamed_cloud;     /* server renames carried to the cloud */
    uint64_t renamed_local;     /* cloud renames carried to the server */
    uint64_t metadata_updates;  /* time or attribute changes without content */
    uint64_t adopted;           /* identical on both sides: recorded without transfer */
    uint64_t conflicts;         /* conflict copies made */
    uint64_t item_errors;       /* items that failed this session */
    uint64_t skipped;           /* items never synced by rule (links, temp names, ...) */
    uint32_t full_cloud_scan;   /* 1 if the cloud was enumerated in full */
    /* version 1 ends here */
} afs_sync_result;

#define AFS_SYNC_RESULT_VERSION 1
#define AFS_SYNC_RESULT_INIT { AFS_SYNC_RESULT_VERSION, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }

/*
 * Run one sync session. `opts` and `result` may be NULL. Only the fields
 * of opts->version are read, and only those of result->version written
 * (the caller sets it: AFS_SYNC_RESULT_INIT); 0 or a version this libafs
 * does not know in either gives AFS_EVERSION before anything is done.
 * Returns 0 when the session ran to the
 * end, even if some items failed (see result->item_errors and
 * afs_endpoint_errors()); the callback's value if it cancelled;
 * AFS_ESAFETY when the safety net stopped it (nothing was deleted);
 * AFS_EBUSY if another session of this endpoint is running; AFS_ENOTFOUND
 * if the endpoint was removed from its group by another host
 * (afs_group_remove_endpoint(); nothing is changed: delete it with
 * afs_endpoint_delete() and create it again); storage and state errors
 * that stop the whole session.
 */
AFS_EXTERN int afs_endpoint_sync(afs_endpoint *endpoint, const afs_sync_options *opts,
                                 afs_sync_result *result);

/* Provisioning of a new server endpoint (reference: "Provisioning steps"). */
typedef enum afs_provisioning_status {
    AFS_PROVISIONING_NOT_STARTED = 0,
    AFS_PROVISIONING_IN_PROGRESS = 1,            /* not ready for user access */
    AFS_PROVISIONING_READY_SYNC_NOT_FUNCTIONAL = 2, /* the namespace is there (placeholders
                                                      readable by recall); changes sync once
                                                      the first session finishes */
    AFS_PROVISIONING_READY_SYNC_FUNCTIONAL = 3,  /* ready; for a step: finished */
    AFS_PROVISIONING_ERROR = 4
} afs_provisioning_status;

typedef struct afs_provisioning_step {
    uint32_t status;     /* afs_provisioning_status */
    uint32_t percent;    /* progress, 0 to 100 */
    int64_t started_ns;  /* 0 if not started */
    int64_t finished_ns; /* 0 if not finished */
    int error;           /* the error code when status is AFS_PROVISIONING_ERROR */
} afs_provisioning_step;

typedef struct afs_provisioning {
    unsigned int version;   /* set by the caller: AFS_PROVISIONING_VERSION */
    uint32_t status;        /* the endpoint's overall afs_provisioning_status */
    afs_provisioning_step namespace_download; /* the first session's namespace */
    afs_provisioning_step content_download;   /* "namespace then content": the content */
    /* version 1 ends here */
} afs_provisioning;

#define AFS_PROVISIONING_VERSION 1

/*
 * The provisioning status of the endpoint, queryable at any time (also from
 * a progress callback during its first session). Only the fields of
 * out->version are written (the caller sets it to AFS_PROVISIONING_VERSION).
 * Errors: AFS_EINVAL (NULL arguments), AFS_EVERSION (out->version 0 or newer
 * than this libafs knows; *out untouched), state database errors.
 */
AFS_EXTERN int afs_endpoint_provisioning(afs_endpoint *endpoint, afs_provisioning *out);

/*
 * The result of the endpoint's last finished session. Only the fields of
 * out->version are written (the caller sets it: AFS_SYNC_RESULT_INIT).
 * Errors: AFS_EINVAL (NULL arguments), AFS_EVERSION (out->version 0 or newer
 * than this libafs knows; *out untouched), AFS_ENOTFOUND (none yet).
 */
AFS_EXTERN int afs_endpoint_last_result(afs_endpoint *endpoint, afs_sync_result *out);

/*
 * One item that failed to sync, as kept between sessions: a row of
 * afs_endpoint_errors(), allocated on its own so that later versions can
 * append fields (docs/api-conventions.md#structs-the-library-returns). Read
 * a field added in version N only when `version` >= N.
 */
#define AFS_ITEM_ERROR_VERSION 1
typedef struct afs_item_error {
    unsigned int version; /* set by the library: the AFS_ITEM_ERROR_VERSION it was built with */
    char *path;          /* relative to the endpoint */
    int code;            /* afs_error_code */
    char *message;
    uint64_t count;      /* sessions in which it failed */
    uint32_t persistent; /* 1 if retrying cannot help until something changes */
    int64_t first_ns;
    int64_t last_ns;
    /* version 1 ends here */
} afs_item_error;

/*
 * The endpoint's current per-item errors, sorted by path. On success *out is
 * an array of *count pointers to rows (NULL when there are none); index it
 * as (*out)[i]->field. The list owns the rows and their strings: free it
 * with afs_item_errors_free(*out, *count). On failure *out is NULL and
 * *count 0. Errors: AFS_EINVAL, AFS_ENOMEM, state database errors.
 */
AFS_EXTERN int afs_endpoint_errors(afs_endpoint *endpoint, afs_item_error ***out, size_t *count);

/* Free a list from afs_endpoint_errors(): each row, its strings, and the
 * array of pointers. NULL is ignored. */
AFS_EXTERN void afs_item_errors_free(afs_item_error **list, size_t count);

AFS_END_DECL

#endif /* AFS_SYNC_H */

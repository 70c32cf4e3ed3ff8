/*
 * libafs: error codes and error messages.
 *
 * Every function that can fail returns an int: 0 on success, a negative
 * value from afs_error_code on failure. The codes are append-only: a value is
 * never renumbered or reused, new codes are added at the end.
 *
 * Besides the code, the failing call leaves a detailed message for the
 * calling thread (afs_error_last()) that names the path or object involved.
 *
 * A callback supplied by the caller (progress, listing, log) may return a
 * non-zero value to stop the operation; the library then returns that value
 * unchanged. AFS_EUSER is provided as a conventional value for this.
 */
#ifndef AFS_ERRORS_H
#define AFS_ERRORS_H

#include "common.h"

AFS_BEGIN_DECL

typedef enum afs_error_code {
    AFS_OK = 0,
    AFS_ERROR = -1,          /* generic failure */
    AFS_EINVAL = -2,         /* invalid argument */
    AFS_ENOTFOUND = -3,      /* file, object, group or endpoint does not exist */
    AFS_EEXISTS = -4,        /* already exists */
    AFS_ECONDITION = -5,     /* a condition failed: etag mismatch, or create-only on an existing name */
    AFS_ENOTSUP = -6,        /* not supported (for example a NULL vtable slot) */
    AFS_ENOSPC = -7,         /* no space left */
    AFS_EIO = -8,            /* input/output error */
    AFS_ETRANSIENT = -9,     /* a temporary failure: retrying later may succeed */
    AFS_EINVALIDNAME = -10,  /* a name or path is not acceptable (.., /, NUL, too long, reserved) */
    AFS_EBUSY = -11,         /* busy or locked by someone else */
    AFS_EUSER = -12,         /* cancelled by a callback */
    AFS_ECORRUPT = -13,      /* stored state is corrupt or not ours */
    AFS_ENOMEM = -14,        /* out of memory */
    AFS_EVERSION = -15,      /* a struct or vtable version this library does not know */
    AFS_EPERM = -16,         /* permission denied */
    AFS_ENOTEMPTY = -17,     /* directory not empty */
    AFS_ENOTDIR = -18,       /* a path component is not a directory */
    AFS_EISDIR = -19,        /* is a directory */
    AFS_EITEROVER = -20,     /* end of an iteration; not a failure */
    /* Server endpoint creation rules (docs/concepts.md#server-endpoint-rules). */
    AFS_EONE_PER_SERVER = -21, /* a group holds one server endpoint per registered server */
    AFS_EOVERLAP = -22,        /* endpoints on one volume must not overlap */
    AFS_ESAME_GROUP_VOLUME = -23, /* endpoints on one volume must be in different groups */
    AFS_ESYSTEM_VOLUME = -24,  /* no cloud tiering on the system volume */
    AFS_ENETWORK_FS = -25,     /* a network file system cannot be a server endpoint */
    AFS_EEMPTY_PATH = -26,     /* authoritative upload needs data in the path */
    AFS_EINITIAL_OPTION = -27, /* initial sync/download option not valid for this endpoint */
    AFS_EAVOID_TIERED = -28,   /* avoid-tiered-files needs cloud tiering off */
    AFS_EIMMUTABLE = -29,      /* path and initial download option cannot change */
    AFS_ECONFLICT_LIMIT = -30, /* 100 conflict files exist for this file */
    AFS_ESAFETY = -31,         /* the safety net stopped a mass deletion */
    AFS_ELIMIT = -32           /* a scale limit was reached */
    /* New codes go here, at the end. Never renumber. */
} afs_error_code;

/* Log levels for afs_log_set(). */
typedef enum afs_log_level {
    AFS_LOG_ERROR = 1,
    AFS_LOG_WARN = 2,
    AFS_LOG_INFO = 3,
    AFS_LOG_DEBUG = 4,
    AFS_LOG_TRACE = 5
} afs_log_level;

/*
 * A short, static, English description of an error code ("etag or
 * create-only condition failed"). Unknown codes give "unknown error".
 * Never returns NULL; the string must not be freed.
 */
AFS_EXTERN const char *afs_strerror(int code);

/*
 * The detailed message of the last error raised on the calling thread,
 * naming the path or object involved ("storage: /share/a.txt: etag
 * mismatch"). Returns "no error" when there is none. Never returns NULL.
 * The string belongs to the library and stays valid until the next libafs
 * call on this thread.
 */
AFS_EXTERN const char *afs_error_last(void);

/* The code of the last error raised on the calling thread (AFS_OK if none). */
AFS_EXTERN int afs_error_last_code(void);

/* Forget the calling thread's last error. */
AFS_EXTERN void afs_error_clear(void);

/*
 * Set the calling thread's error, for use by vtable implementations that
 * want their detailed message to reach the caller. `message` is copied (it
 * may be NULL, then afs_strerror(code) is used). Returns `code`, so a slot
 * can `return afs_error_set_str(AFS_EIO, "disk on fire");`.
 */
AFS_EXTERN int afs_error_set_str(int code, const char *message);

/*
 * Log sink. `level` is an afs_log_level, `message` a NUL-terminated UTF-8
 * line without a trailing newline, valid only during the call. The callback
 * may be called from any thread the library uses, concurrently.
 */
typedef void (*afs_log_fn)(int level, const char *message, void *payload);

/*
 * Install a process-wide log callback; messages at `max_level` and more
 * severe are delivered. `fn` NULL removes the callback (the default: the
 * library logs nothing). A thread already inside the previous callback may
 * still be running it when this returns: keep the old callback and payload
 * valid until no libafs call that could log is in progress. Returns 0, or
 * AFS_EINVAL for a level outside AFS_LOG_ERROR..AFS_LOG_TRACE.
 */
AFS_EXTERN int afs_log_set(afs_log_fn fn, int max_level, void *payload);

AFS_END_DECL

#endif /* AFS_ERRORS_H */

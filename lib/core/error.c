/*
 * Error codes, their static descriptions, and the per-thread detailed
 * message (docs/api-conventions.md#errors).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define ERRBUF_SIZE 1024

struct errstate {
    int code;
    char msg[ERRBUF_SIZE];
};

static _Thread_local struct errstate tls_err;

const char *afs_strerror(int code)
{
    switch (code) {
    case AFS_OK: return "success";
    case AFS_ERROR: return "generic error";
    case AFS_EINVAL: return "invalid argument";
    case AFS_ENOTFOUND: return "not found";
    case AFS_EEXISTS: return "already exists";
    case AFS_ECONDITION: return "condition failed (etag mismatch or create-only)";
    case AFS_ENOTSUP: return "not supported";
    case AFS_ENOSPC: return "no space left";
    case AFS_EIO: return "input/output error";
    case AFS_ETRANSIENT: return "temporary failure, retry later";
    case AFS_EINVALIDNAME: return "invalid name";
    case AFS_EBUSY: return "busy or locked";
    case AFS_EUSER: return "cancelled by callback";
    case AFS_ECORRUPT: return "corrupt or foreign state";
    case AFS_ENOMEM: return "out of memory";
    case AFS_EVERSION: return "unsupported struct or vtable version";
    case AFS_EPERM: return "permission denied";
    case AFS_ENOTEMPTY: return "directory not empty";
    case AFS_ENOTDIR: return "not a directory";
    case AFS_EISDIR: return "is a directory";
    case AFS_EITEROVER: return "end of iteration";
    case AFS_EONE_PER_SERVER: return "a sync group holds one server endpoint per registered server";
    case AFS_EOVERLAP: return "server endpoints on one volume must not overlap";
    case AFS_ESAME_GROUP_VOLUME: return "server endpoints on one volume must be in different sync groups";
    case AFS_ESYSTEM_VOLUME: return "cloud tiering is not supported on the system volume";
    case AFS_ENETWORK_FS: return "a network file system cannot be a server endpoint";
    case AFS_EEMPTY_PATH: return "authoritative upload needs data in the server path";
    case AFS_EINITIAL_OPTION: return "initial sync or download option not valid for this endpoint";
    case AFS_EAVOID_TIERED: return "avoid-tiered-files requires cloud tiering off";
    case AFS_EIMMUTABLE: return "path and initial download option cannot be changed";
    case AFS_ECONFLICT_LIMIT: return "conflict name exists: 100 conflict files for this file";
    case AFS_ESAFETY: return "stopped by the safety net";
    case AFS_ELIMIT: return "scale limit reached";
    default: return "unknown error";
    }
}

const char *afs_error_last(void)
{
    if (tls_err.code == AFS_OK || tls_err.msg[0] == '\0')
        return tls_err.code == AFS_OK ? "no error" : afs_strerror(tls_err.code);
    return tls_err.msg;
}

int afs_error_last_code(void)
{
    return tls_err.code;
}

void afs_error_clear(void)
{
    tls_err.code = AFS_OK;
    tls_err.msg[0] = '\0';
}

int afs_error_set_str(int code, const char *message)
{
    char msg[ERRBUF_SIZE];
    /* Copied aside first: `message` may be afs_error_last() itself. */
    snprintf(msg, sizeof(msg), "%s", message ? message : afs_strerror(code));
    tls_err.code = code;
    memcpy(tls_err.msg, msg, sizeof(msg));
    return code;
}

int afs__error_vset(int code, const char *fmt, va_list ap)
{
    /* Formatted aside first: an argument may be afs_error_last() itself,
     * which points into tls_err.msg (overlapping vsnprintf wrote garbage). */
    char msg[ERRBUF_SIZE];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    tls_err.code = code;
    memcpy(tls_err.msg, msg, sizeof(msg));
    afs__log(AFS_LOG_DEBUG, "error %d: %s", code, tls_err.msg);
    return code;
}

int afs__error_set(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    afs__error_vset(code, fmt, ap);
    va_end(ap);
    return code;
}

int afs__errno_code(int errnum)
{
    switch (errnum) {
    case 0: return AFS_ERROR;
    case ENOENT: return AFS_ENOTFOUND;
    case EEXIST: return AFS_EEXISTS;
    case ENOSPC:
    case EDQUOT:
    case EFBIG: return AFS_ENOSPC;
    case EACCES:
    case EPERM:
    case EROFS: return AFS_EPERM;
    case ENOTEMPTY: return AFS_ENOTEMPTY;
    case ENOTDIR: return AFS_ENOTDIR;
    case EISDIR: return AFS_EISDIR;
    case ENOMEM: return AFS_ENOMEM;
    case EINVAL: return AFS_EINVAL;
    case ENAMETOOLONG:
    case ELOOP: return AFS_EINVALIDNAME;
    case EAGAIN:
    case EINTR:
    case ETIMEDOUT:
    case ESTALE: return AFS_ETRANSIENT;
    case EBUSY:
    case ETXTBSY: return AFS_EBUSY;
    case EOPNOTSUPP:
    case ENOSYS: return AFS_ENOTSUP;
    default: return AFS_EIO;
    }
}

int afs__error_errno(int errnum, const char *fmt, ...)
{
    char what[ERRBUF_SIZE / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return afs__error_set(afs__errno_code(errnum), "%s: %s", what, strerror(errnum));
}

int afs__error_prefix(int code, const char *fmt, ...)
{
    char joined[ERRBUF_SIZE * 2];
    size_t n;
    va_list ap;
    va_start(ap, fmt);
    n = (size_t)vsnprintf(joined, ERRBUF_SIZE, fmt, ap);
    va_end(ap);
    if (n >= ERRBUF_SIZE)
        n = ERRBUF_SIZE - 1;
    snprintf(joined + n, sizeof(joined) - n, ": %s", afs_error_last());
    tls_err.code = code;
    memcpy(tls_err.msg, joined, ERRBUF_SIZE - 1);
    tls_err.msg[ERRBUF_SIZE - 1] = '\0';
    return code;
}

int afs__error_oom(void)
{
    return afs__error_set(AFS_ENOMEM, "out of memory");
}

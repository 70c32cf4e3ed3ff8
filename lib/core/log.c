/* The host-installed log callback (afs_log_set). */
#include <pthread.h>
#include <stdio.h>

#include "internal.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static afs_log_fn log_fn;
static void *log_payload;
/* Read without the lock on the fast path: a stale value only costs one
 * formatted message or one skipped message while the host reconfigures. */
static volatile int log_max_level;

int afs_log_set(afs_log_fn fn, int max_level, void *payload)
{
    if (fn && (max_level < AFS_LOG_ERROR || max_level > AFS_LOG_TRACE))
        return afs__error_set(AFS_EINVAL, "afs_log_set: level %d is outside %d..%d", max_level,
                              AFS_LOG_ERROR, AFS_LOG_TRACE);
    pthread_mutex_lock(&log_lock);
    log_fn = fn;
    log_payload = payload;
    log_max_level = fn ? max_level : 0;
    pthread_mutex_unlock(&log_lock);
    return 0;
}

bool afs__log_enabled(int level)
{
    return level <= log_max_level;
}

void afs__log(int level, const char *fmt, ...)
{
    char line[1024];
    afs_log_fn fn;
    void *payload;
    va_list ap;

    if (!afs__log_enabled(level))
        return;
    pthread_mutex_lock(&log_lock);
    fn = log_fn;
    payload = log_payload;
    pthread_mutex_unlock(&log_lock);
    if (!fn || level > log_max_level)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fn(level, line, payload);
}

/* Fault plans and call counters (tests/support/fault.h). */
#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fault_internal.h"

#define MAX_SLOTS 64

struct afs_test_fault {
    pthread_mutex_t lock;
    const char *const *names;
    size_t nnames;
    uint64_t counts[MAX_SLOTS];
    /* plan */
    char op[32];
    uint64_t nth;
    afs_test_fault_mode mode;
    int code;
    uint64_t matched;
    uint64_t injected;
    /* latency */
    char lat_op[32];
    unsigned int lat_usec;
    /* hook */
    afs_test_fault_hook_fn hook;
    void *hook_payload;
};

afs_test_fault *afs__fault_new(const char *const *names, size_t count)
{
    afs_test_fault *f = calloc(1, sizeof(*f));
    if (!f || count > MAX_SLOTS) {
        free(f);
        return NULL;
    }
    pthread_mutex_init(&f->lock, NULL);
    f->names = names;
    f->nnames = count;
    return f;
}

void afs__fault_free(afs_test_fault *f)
{
    if (!f)
        return;
    pthread_mutex_destroy(&f->lock);
    free(f);
}

static bool matches(const char *want, const char *name)
{
    return want[0] == '\0' || strcmp(want, name) == 0;
}

int afs__fault_enter(afs_test_fault *f, size_t slot, bool *crash_after)
{
    const char *name = slot < f->nnames ? f->names[slot] : "?";
    unsigned int sleep_usec = 0;
    int rc = 0;

    *crash_after = false;
    pthread_mutex_lock(&f->lock);
    if (slot < MAX_SLOTS)
        f->counts[slot]++;
    if (f->lat_usec && matches(f->lat_op, name))
        sleep_usec = f->lat_usec;
    if (f->mode != AFS_FAULT_NONE && matches(f->op, name)) {
        uint64_t n = ++f->matched;
        bool hit = n == f->nth || (f->mode == AFS_FAULT_PERSISTENT && n >= f->nth);
        if (hit) {
            f->injected++;
            switch (f->mode) {
            case AFS_FAULT_ONCE:
            case AFS_FAULT_PERSISTENT:
                rc = f->code;
                break;
            case AFS_FAULT_CRASH_BEFORE:
                _exit(AFS_TEST_CRASH_EXIT);
            case AFS_FAULT_CRASH_AFTER:
                *crash_after = true;
                break;
            default:
                break;
            }
        }
    }
    pthread_mutex_unlock(&f->lock);
    if (sleep_usec) {
        struct timespec ts = { sleep_usec / 1000000u, (long)(sleep_usec % 1000000u) * 1000L };
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
    if (rc) {
        char msg[96];
        snprintf(msg, sizeof(msg), "injected fault in %s", name);
        afs_error_set_str(rc, msg);
    }
    return rc;
}

void afs__fault_after(bool crash_after)
{
    if (crash_after)
        _exit(AFS_TEST_CRASH_EXIT);
}

void afs_test_fault_set(afs_test_fault *f, const char *op, uint64_t nth,
                        afs_test_fault_mode mode, int code)
{
    pthread_mutex_lock(&f->lock);
    snprintf(f->op, sizeof(f->op), "%s", op ? op : "");
    f->nth = nth;
    f->mode = mode;
    f->code = code;
    f->matched = 0;
    pthread_mutex_unlock(&f->lock);
}

void afs_test_fault_clear(afs_test_fault *f)
{
    afs_test_fault_set(f, NULL, 0, AFS_FAULT_NONE, 0);
}

void afs_test_fault_latency(afs_test_fault *f, const char *op, unsigned int usec)
{
    pthread_mutex_lock(&f->lock);
    snprintf(f->lat_op, sizeof(f->lat_op), "%s", op ? op : "");
    f->lat_usec = usec;
    pthread_mutex_unlock(&f->lock);
}

uint64_t afs_test_fault_count(const afs_test_fault *f, const char *op)
{
    afs_test_fault *m = (afs_test_fault *)f;
    uint64_t total = 0;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < f->nnames && i < MAX_SLOTS; i++)
        if (!op || strcmp(op, f->names[i]) == 0)
            total += f->counts[i];
    pthread_mutex_unlock(&m->lock);
    return total;
}

uint64_t afs_test_fault_injected(const afs_test_fault *f)
{
    afs_test_fault *m = (afs_test_fault *)f;
    uint64_t n;
    pthread_mutex_lock(&m->lock);
    n = m->injected;
    pthread_mutex_unlock(&m->lock);
    return n;
}

void afs_test_fault_reset_counts(afs_test_fault *f)
{
    pthread_mutex_lock(&f->lock);
    memset(f->counts, 0, sizeof(f->counts));
    f->injected = 0;
    pthread_mutex_unlock(&f->lock);
}

void afs_test_fault_hook(afs_test_fault *f, afs_test_fault_hook_fn fn, void *payload)
{
    pthread_mutex_lock(&f->lock);
    f->hook = fn;
    f->hook_payload = payload;
    pthread_mutex_unlock(&f->lock);
}

void afs__fault_hook_call(afs_test_fault *f, const char *op, const char *path)
{
    afs_test_fault_hook_fn fn;
    void *payload;
    pthread_mutex_lock(&f->lock);
    fn = f->hook;
    payload = f->hook_payload;
    pthread_mutex_unlock(&f->lock);
    if (fn) /* outside the lock: the hook may call the wrapper */
        fn(op, path, payload);
}

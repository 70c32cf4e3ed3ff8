/* Retrying transient storage failures (lib/sync/retry.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "retry.h"

afs__retry_policy afs__retry_default = { 4, 10, 200 };

bool afs__retry_worth(int rc)
{
    return rc == AFS_ETRANSIENT || rc == AFS_EBUSY;
}

struct retry {
    const afs_storage_ops *in; /* the inner storage's full-size table */
    void *ictx;
    afs__retry_policy p;
};

/*
 * After failed attempt `attempt` (1-based) of `what`: sleep and return true
 * if another attempt is due. The delay doubles from base_ms up to max_ms;
 * "equal jitter" (half fixed, half random) keeps endpoints that failed
 * together from retrying in lockstep.
 */
static bool again(const struct retry *r, unsigned int attempt, int rc, const char *what,
                  const char *path)
{
    unsigned int delay, half;
    uint32_t rnd = 0;
    struct timespec ts;

    if (!afs__retry_worth(rc) || attempt >= r->p.attempts)
        return false;
    delay = r->p.base_ms;
    for (unsigned int i = 1; i < attempt && delay < r->p.max_ms; i++)
        delay *= 2;
    if (delay > r->p.max_ms)
        delay = r->p.max_ms;
    if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
        rnd = (uint32_t)afs__now_ns();
    half = delay / 2;
    delay = half + (half ? rnd % (delay - half + 1) : 0);
    afs__log(AFS_LOG_INFO, "storage %s \"%s\": %s; attempt %u of %u in %u ms", what, path,
             afs_error_last(), attempt + 1, r->p.attempts, delay);
    ts.tv_sec = delay / 1000;
    ts.tv_nsec = (long)(delay % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    afs_error_clear();
    return true;
}

/* Call `expr` until it succeeds, fails for good, or the attempts run out. */
#define RETRY(r, what, path, expr)                                   \
    do {                                                            \
        unsigned int attempt_ = 0;                                  \
        do {                                                        \
            rc = (expr);                                            \
        } while (rc != 0 && again((r), ++attempt_, rc, (what), (path))); \
    } while (0)

static int r_ctl(void *ctx, int op, void *arg)
{
    struct retry *r = ctx;
    return r->in->ctl(r->ictx, op, arg);
}

/* A page that failed after handing out entries cannot be repeated without
 * handing them out twice: only an untouched page is retried. */
struct counted_emit {
    afs_storage_list_fn emit;
    void *payload;
    size_t emitted;
};

static int count_emit(const afs_storage_entry *e, void *payload)
{
    struct counted_emit *c = payload;
    c->emitted++;
    return c->emit(e, c->payload);
}

static int r_list(void *ctx, const char *dir, const char *marker, afs_storage_list_fn emit,
                  void *payload, char *next_marker, size_t next_marker_size)
{
    struct retry *r = ctx;
    struct counted_emit c = { emit, payload, 0 };
    unsigned int attempt = 0;
    int rc;
    do {
        c.emitted = 0;
        rc = r->in->list(r->ictx, dir, marker, count_emit, &c, next_marker, next_marker_size);
    } while (rc != 0 && c.emitted == 0 && again(r, ++attempt, rc, "list", dir));
    return rc;
}

static int r_stat(void *ctx, const char *path, afs_storage_entry *out)
{
    struct retry *r = ctx;
    int rc;
    RETRY(r, "stat", path, r->in->stat(r->ictx, path, out));
    return rc;
}

static int r_read(void *ctx, const char *path, uint64_t offset, void *buf, size_t len,
                  size_t *nread, const char *if_match)
{
    struct retry *r = ctx;
    int rc;
    RETRY(r, "read", path, r->in->read(r->ictx, path, offset, buf, len, nread, if_match));
    return rc;
}

/* The source may be re-read from any offset (afs_read_fn), so a put can repeat. */
static int r_put(void *ctx, const char *path, afs_read_fn src, void *src_payload,
                 uint64_t size, const afs_storage_put_options *opts, afs_storage_entry *out)
{
    struct retry *r = ctx;
    int rc;
    RETRY(r, "put", path, r->in->put(r->ictx, path, src, src_payload, size, opts, out));
    return rc;
}

static int r_remove(void *ctx, const char *path, const char *if_match)
{
    struct retry *r = ctx;
    int rc;
    RETRY(r, "remove", path, r->in->remove(r->ictx, path, if_match));
    return rc;
}

static int r_mkdir(void *ctx, const char *path)
{
    struct retry *r = ctx;
    int rc;
    RETRY(r, "mkdir", path, r->in->mkdir(r->ictx, path));
    return rc;
}

static int r_rmdir(void *ctx, const char *path)
{
    struct retry *r = ctx;
    int rc;
    RETRY(r, "rmdir", path, r->in->rmdir(r->ictx, path));
    return rc;
}

static int r_rename(void *ctx, const char *from, const char *to, const char *if_match,
                    unsigned int flags)
{
    struct retry *r = ctx;
    int rc;
    RETRY(r, "rename", from, r->in->rename(r->ictx, from, to, if_match, flags));
    return rc;
}

static int r_set_props(void *ctx, const char *path, int64_t mtime_ns, uint32_t attributes,
                       const char *if_match, afs_storage_entry *out)
{
    struct retry *r = ctx;
    int rc;
    RETRY(r, "set_props", path,
          r->in->set_props(r->ictx, path, mtime_ns, attributes, if_match, out));
    return rc;
}

static int r_meta_get(void *ctx, const char *path, const char *key, char *buf, size_t cap,
                      size_t *len)
{
    struct retry *r = ctx;
    int rc;
    RETRY(r, "meta_get", path, r->in->meta_get(r->ictx, path, key, buf, cap, len));
    return rc;
}

static void r_release(void *ctx)
{
    free(ctx); /* the inner storage is borrowed */
}

int afs__retry_storage_new(afs_storage **out, afs_storage *inner,
                           const afs__retry_policy *policy)
{
    afs_storage_ops ops;
    struct retry *r;
    int rc;

    if (!out || !inner || !policy || policy->attempts == 0)
        return afs__error_set(AFS_EINVAL, "retry storage: inner storage and a policy of at "
                              "least one attempt are required");
    if (!(r = afs__calloc(1, sizeof(*r))))
        return AFS_ENOMEM;
    if ((rc = afs_storage_ops_get(inner, &r->in, &r->ictx)) != 0) {
        free(r);
        return rc;
    }
    r->p = *policy;
    memset(&ops, 0, sizeof(ops));
    ops.version = AFS_STORAGE_OPS_VERSION;
    ops.release = r_release;
    /* A NULL slot stays NULL, so the library's documented fallback applies. */
#define SLOT(name, fn) ops.name = r->in->name ? fn : NULL
    SLOT(ctl, r_ctl);
    SLOT(list, r_list);
    SLOT(stat, r_stat);
    SLOT(read, r_read);
    SLOT(put, r_put);
    SLOT(remove, r_remove);
    SLOT(mkdir, r_mkdir);
    SLOT(rmdir, r_rmdir);
    SLOT(rename, r_rename);
    SLOT(set_props, r_set_props);
    SLOT(meta_get, r_meta_get);
#undef SLOT
    if ((rc = afs_storage_new(out, &ops, r)) != 0)
        free(r);
    return rc;
}

/*
 * Cloud tiering: the per-volume contexts, path resolution, the small public
 * calls (query, accesses, pins, exclusions, statistics) and the heat store
 * contributions of the sync scan. docs/tiering.md is the user's view.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../service/service_internal.h"
#include "tier_priv.h"

/* ---- volume contexts ---- */

static pthread_mutex_t vols_mu = PTHREAD_MUTEX_INITIALIZER;
static afs__tier_vol *vols;

static void vol_free(afs__tier_vol *v)
{
    size_t pos = 0;
    const char *key;
    void *val;
    while (afs__map_next(&v->busy, &pos, &key, &val))
        free((char *)key);
    afs__map_free(&v->busy);
    for (size_t i = 0; i < v->nkeys; i++)
        free(v->key_ids[i]);
    free(v->key_ids);
    free(v->key_vals);
    afs__db_close(v->heat);
    pthread_mutex_destroy(&v->mu);
    pthread_cond_destroy(&v->cv);
    free(v->key);
    free(v->volume_id);
    free(v->lock_path);
    free(v);
}

/* The heat stores stay open for the process's life; close them at exit so
 * that their WAL is checkpointed and leak checkers stay quiet. */
__attribute__((destructor)) static void vols_free_all(void)
{
    pthread_mutex_lock(&vols_mu);
    while (vols) {
        afs__tier_vol *v = vols;
        vols = v->next;
        vol_free(v);
    }
    pthread_mutex_unlock(&vols_mu);
}

int afs__tier_vol_get(afs_service *svc, const char *volume_id, afs__tier_vol **out)
{
    char *key = afs__sprintf("%s\n%s", afs__service_state_dir(svc), volume_id);
    afs__tier_vol *v;
    int rc = 0;

    *out = NULL;
    if (!key)
        return AFS_ENOMEM;
    pthread_mutex_lock(&vols_mu);
    for (v = vols; v; v = v->next)
        if (strcmp(v->key, key) == 0)
            break;
    if (!v) {
        if (!(v = afs__calloc(1, sizeof(*v)))) {
            rc = AFS_ENOMEM;
            goto done;
        }
        v->key = key;
        key = NULL;
        pthread_mutex_init(&v->mu, NULL);
        pthread_cond_init(&v->cv, NULL);
        if (!(v->volume_id = afs__strdup(volume_id))) {
            vol_free(v);
            rc = AFS_ENOMEM;
            goto done;
        }
        v->next = vols;
        vols = v;
    }
    pthread_mutex_lock(&v->mu);
    rc = afs__heat_open_locked(svc, v);
    pthread_mutex_unlock(&v->mu);
    if (rc == 0)
        *out = v;
done:
    pthread_mutex_unlock(&vols_mu);
    free(key);
    return rc;
}

int afs__tier_volume(afs_fs *fs, const char *path, afs_fs_volume *out)
{
    memset(out, 0, sizeof(*out));
    if (!fs->ops.volume) {
        snprintf(out->id, sizeof(out->id), "default");
        return 0;
    }
    return fs->ops.volume(fs->ctx, path, out);
}

int afs__tier_ctx_init(afs__tier_ctx *c, afs_endpoint *ep)
{
    int rc;
    memset(c, 0, sizeof(*c));
    if (!ep)
        return afs__error_set(AFS_EINVAL, "tiering: the endpoint is NULL");
    c->ep = ep;
    c->svc = ep->group->svc;
    c->fs = afs__service_fs(c->svc);
    if (!c->fs->ops.punch_hole || !c->fs->ops.marker_get || !c->fs->ops.marker_set ||
        !c->fs->ops.marker_remove)
        return afs__error_set(AFS_ENOTSUP, "cloud tiering needs a filesystem with holes and "
                              "tier markers (punch_hole, marker_get/set/remove); %s has none",
                              ep->path);
    if ((rc = afs__tier_volume(c->fs, ep->path, &c->vinfo)) != 0)
        return afs__error_prefix(rc, "volume of %s", ep->path);
    return afs__tier_vol_get(c->svc, c->vinfo.id, &c->vol);
}

int afs__tier_resolve(afs_endpoint *ep, const char *path, char **rel, char **abs)
{
    size_t rl = strlen(ep->path);
    const char *r;
    size_t len;

    *rel = *abs = NULL;
    if (!path)
        return afs__error_set(AFS_EINVAL, "tiering: the path is NULL");
    if (path[0] == '/') {
        /* "/" as the root contains everything; otherwise root + '/' + rest. */
        if (rl == 1)
            r = path + 1;
        else if (strncmp(path, ep->path, rl) == 0 && (path[rl] == '\0' || path[rl] == '/'))
            r = path[rl] ? path + rl + 1 : path + rl;
        else
            return afs__error_set(AFS_EINVAL, "%s is not inside the server endpoint %s", path,
                                  ep->path);
    } else {
        r = path;
    }
    len = strlen(r);
    while (len && r[len - 1] == '/')
        len--;
    if (!(*rel = afs__strndup(r, len)))
        return AFS_ENOMEM;
    if (**rel && afs__path_check(*rel, true, "tiering path") != 0) {
        free(*rel);
        *rel = NULL;
        return AFS_EINVALIDNAME;
    }
    *abs = **rel ? afs__sprintf("%s%s%s", ep->path, rl == 1 ? "" : "/", *rel)
                 : afs__strdup(ep->path);
    if (!*abs) {
        free(*rel);
        *rel = NULL;
        return AFS_ENOMEM;
    }
    return 0;
}

int afs__tier_busy_acquire(afs__tier_vol *v, const char *abs)
{
    char *key = afs__strdup(abs);
    int rc;
    if (!key)
        return AFS_ENOMEM;
    pthread_mutex_lock(&v->mu);
    while (afs__map_get(&v->busy, key))
        pthread_cond_wait(&v->cv, &v->mu);
    rc = afs__map_put(&v->busy, key, key);
    pthread_mutex_unlock(&v->mu);
    if (rc != 0)
        free(key);
    return rc;
}

void afs__tier_busy_release(afs__tier_vol *v, const char *abs)
{
    char *key;
    pthread_mutex_lock(&v->mu);
    key = afs__map_remove(&v->busy, abs);
    pthread_cond_broadcast(&v->cv);
    pthread_mutex_unlock(&v->mu);
    free(key);
}

/* ---- per-file locks across processes ---- */

/* Lock bytes per file slot, and the slots: a collision only makes two files
 * take turns. */
#define LOCK_SLOTS (1ull << 40)

static off_t lock_offset(const char *abs, int which)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)abs; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return (off_t)((h % LOCK_SLOTS) * 2 + (uint64_t)which);
}

int afs__tier_relock(int fd, const char *abs, int which, int excl, bool wait)
{
    struct flock fl;
    memset(&fl, 0, sizeof(fl));
    fl.l_type = excl ? F_WRLCK : F_RDLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = lock_offset(abs, which);
    fl.l_len = 1;
    while (fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) != 0) {
        if (errno == EINTR)
            continue;
        if (!wait && (errno == EAGAIN || errno == EACCES))
            return afs__error_set(AFS_EBUSY, "%s is being recalled or tiered by another "
                                  "process or thread", abs);
        return afs__error_errno(errno, "lock %s for recall", abs);
    }
    return 0;
}

int afs__tier_lock(afs__tier_vol *v, const char *abs, int which, int excl, bool wait, int *fd)
{
    int rc;
    *fd = -1;
    if (!v->lock_path)
        return afs__error_set(AFS_EINVAL, "tiering: the volume has no lock file");
    if ((*fd = open(v->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
        return afs__error_errno(errno, "open the recall lock file %s", v->lock_path);
    if ((rc = afs__tier_relock(*fd, abs, which, excl, wait)) != 0) {
        close(*fd);
        *fd = -1;
    }
    return rc;
}

void afs__tier_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* the kernel drops the lock with the last descriptor */
}

/* ---- options ---- */

int afs_tier_pass_options_init(afs_tier_pass_options *opts, unsigned int version)
{
    static const afs_tier_pass_options d = AFS_TIER_PASS_OPTIONS_INIT;
    return afs__options_init(&afs__vs_tier_pass_options, opts, &d, version,
                             "afs_tier_pass_options_init");
}

int afs_heat_list_options_init(afs_heat_list_options *opts, unsigned int version)
{
    static const afs_heat_list_options d = AFS_HEAT_LIST_OPTIONS_INIT;
    return afs__options_init(&afs__vs_heat_list_options, opts, &d, version,
                             "afs_heat_list_options_init");
}

int afs_recall_options_init(afs_recall_options *opts, unsigned int version)
{
    static const afs_recall_options d = AFS_RECALL_OPTIONS_INIT;
    return afs__options_init(&afs__vs_recall_options, opts, &d, version,
                             "afs_recall_options_init");
}

/* ---- file state ---- */

uint32_t afs__tier_state_of(const afs_fs_stat *st, const afs__marker *m, bool found)
{
    uint64_t present;
    (void)st;
    if (!found)
        return AFS_TIER_STATE_FULL;
    present = afs__marker_present(m);
    if (present >= m->size)
        return AFS_TIER_STATE_FULL; /* fully recalled, marker not yet removed */
    return present ? AFS_TIER_STATE_PARTIAL : AFS_TIER_STATE_TIERED;
}

void afs__tier_row(const afs_fs_stat *st, uint32_t state, uint64_t present,
                   afs__heat_row *row)
{
    memset(row, 0, sizeof(*row));
    row->size = st->size;
    row->local_bytes = state == AFS_TIER_STATE_FULL
                           ? st->alloc_bytes
                           : (present < st->alloc_bytes ? present : st->alloc_bytes);
    row->state = state;
    row->mtime_ns = st->mtime_ns;
    row->btime_ns = st->btime_ns;
}

int afs__tier_probe_path(afs_fs *fs, const char *abs, const afs_fs_stat *st,
                         afs__tier_probe *out)
{
    afs__marker m;
    bool found;
    int rc;

    memset(out, 0, sizeof(*out));
    out->size = st->size;
    out->mtime_ns = st->mtime_ns;
    out->present_bytes = st->size;
    if (st->type != AFS_TYPE_FILE || !fs->ops.marker_get)
        return 0;
    if ((rc = afs__marker_read(fs, abs, &m, &found)) != 0)
        return rc;
    if (!found)
        return 0;
    out->has_marker = true;
    out->state = afs__tier_state_of(st, &m, true);
    out->size = m.size;
    out->mtime_ns = m.mtime_ns;
    out->present_bytes = afs__marker_present(&m);
    out->needs_repair = out->state != AFS_TIER_STATE_FULL &&
                        (st->mtime_ns != m.mtime_ns || (m.flags & AFS__MARKER_PENDING));
    out->written = afs__marker_written(&m, st->size, st->mtime_ns);
    snprintf(out->etag, sizeof(out->etag), "%s", m.etag);
    if (m.path && strlen(m.path) < sizeof(out->cloud_path))
        memcpy(out->cloud_path, m.path, strlen(m.path) + 1);
    afs__marker_clear(&m);
    return 0;
}

bool afs__tier_rewritten_in_full(afs_fs *fs, const char *abs)
{
    int rc = fs->ops.ctl ? fs->ops.ctl(fs->ctx, AFS_FS_CTL_HAS_HOLES, (void *)abs) : AFS_ENOTSUP;
    if (rc != 0) {
        afs_error_clear();
        return false;
    }
    rc = fs->ops.marker_remove(fs->ctx, abs);
    if (rc != 0 && rc != AFS_ENOTFOUND) {
        afs_error_clear();
        return false;
    }
    afs_error_clear();
    afs__log(AFS_LOG_INFO, "tiering: %s was written again in full while it was a placeholder; "
             "it is an ordinary file now", abs);
    return true;
}

int afs__tier_repair(afs_fs *fs, const char *abs)
{
    afs__marker m;
    bool found;
    int rc;
    if ((rc = afs__marker_read(fs, abs, &m, &found)) != 0)
        return rc;
    if (found && fs->ops.set_times)
        rc = fs->ops.set_times(fs->ctx, abs, AFS_TIME_OMIT, m.mtime_ns);
    if (rc == 0 && found && (m.flags & AFS__MARKER_PENDING)) {
        /* The interrupted tiering's last step: the marker is exact from now on. */
        m.flags &= ~AFS__MARKER_PENDING;
        rc = afs__marker_write(fs, abs, &m);
    }
    afs__marker_clear(&m);
    return rc;
}

/* Free what a whole (library-version) afs_tier_info owns. */
static void tier_info_free(afs_tier_info *t)
{
    free(t->cloud_path);
    free(t->etag);
    free(t->ranges);
    free(t->marker);
}

void afs_tier_info_clear(afs_tier_info *info)
{
    afs_tier_info t;
    size_t n;
    /* Only the caller's version's bytes are read and zeroed; a version this
     * libafs does not know is left alone (docs/api-conventions.md). */
    if (!info || (n = afs__vstruct_size(&afs__vs_tier_info, info->version)) == 0)
        return;
    memset(&t, 0, sizeof(t));
    memcpy(&t, info, n);
    tier_info_free(&t);
    memset(info, 0, n);
    info->version = t.version;
}

int afs_tier_query(afs_endpoint *endpoint, const char *path, afs_tier_info *out)
{
    afs_fs *fs;
    afs_fs_stat st;
    afs__marker m;
    bool found = false;
    char *rel = NULL, *abs = NULL;
    unsigned char raw[AFS_FS_MARKER_MAX];
    size_t rawlen = 0;
    afs_tier_info t;
    int rc;

    if (!endpoint || !out)
        return afs__error_set(AFS_EINVAL, "afs_tier_query: endpoint and out are required");
    if ((rc = afs__vstruct_check(&afs__vs_tier_info, out->version, "afs_tier_query")) != 0)
        return rc;
    afs_tier_info_clear(out);
    /* Filled whole here, then only out->version's bytes are handed over. */
    memset(&t, 0, sizeof(t));
    t.version = AFS_TIER_INFO_VERSION;
    memset(&m, 0, sizeof(m));
    fs = afs__service_fs(endpoint->group->svc);
    if ((rc = afs__tier_resolve(endpoint, path, &rel, &abs)) != 0)
        return rc;
    memset(&st, 0, sizeof(st));
    if ((rc = fs->ops.stat(fs->ctx, abs, &st)) != 0)
        goto done;
    if (st.type == AFS_TYPE_DIR) {
        rc = afs__error_set(AFS_EISDIR, "%s is a directory", abs);
        goto done;
    }
    if (st.type != AFS_TYPE_FILE) {
        rc = afs__error_set(AFS_EINVAL, "%s is not a regular file", abs);
        goto done;
    }
    t.size = st.size;
    t.size_on_disk = st.alloc_bytes;
    t.mtime_ns = st.mtime_ns;
    if (fs->ops.marker_get) {
        rc = fs->ops.marker_get(fs->ctx, abs, raw, sizeof(raw), &rawlen);
        if (rc == AFS_ENOTFOUND) {
            afs_error_clear();
            rc = 0;
        } else if (rc == AFS_EINVAL && rawlen > sizeof(raw)) {
            rc = afs__error_set(AFS_ECORRUPT, "%s: a %zu-byte tier marker is not libafs's",
                                abs, rawlen);
            goto done;
        } else if (rc != 0) {
            goto done;
        } else {
            if ((rc = afs__marker_decode(raw, rawlen, abs, &m)) != 0)
                goto done;
            found = true;
        }
    }
    t.state = afs__tier_state_of(&st, &m, found);
    if (!found)
        goto done;
    t.marker_version = m.version;
    t.marker_flags = m.flags & ~AFS__MARKER_PENDING;
    t.tiered_ns = m.tiered_ns;
    t.recalled_bytes = afs__marker_present(&m);
    t.cloud_path = afs__strdup(m.path);
    t.etag = afs__strdup(m.etag);
    t.marker = afs__malloc(rawlen);
    if (m.nranges)
        t.ranges = afs__calloc(m.nranges * 2, sizeof(uint64_t));
    if (!t.cloud_path || !t.etag || !t.marker || (m.nranges && !t.ranges)) {
        rc = AFS_ENOMEM;
        goto done;
    }
    memcpy(t.marker, raw, rawlen);
    t.marker_len = rawlen;
    for (size_t i = 0; i < m.nranges; i++) {
        t.ranges[2 * i] = m.ranges[i].off;
        t.ranges[2 * i + 1] = m.ranges[i].len;
    }
    t.range_count = m.nranges;
done:
    if (rc == 0) {
        size_t n = afs__vstruct_size(&afs__vs_tier_info, out->version);
        afs__vstruct_write(&afs__vs_tier_info, out, &t, "afs_tier_query");
        memset(&t, 0, n); /* the caller owns these now; free what did not fit */
    }
    tier_info_free(&t);
    afs__marker_clear(&m);
    free(rel);
    free(abs);
    return rc;
}

/* ---- accesses ---- */

int afs_tier_access(afs_endpoint *endpoint, const char *path, uint32_t flags, int64_t when_ns)
{
    afs__tier_ctx c;
    afs__heat_counters add;
    afs__heat_row row;
    afs__tier_probe probe;
    afs_fs_stat st;
    char *rel = NULL, *abs = NULL;
    int rc;

    if (!endpoint || (flags & ~(AFS_TIER_ACCESS_READ | AFS_TIER_ACCESS_WRITE |
                                AFS_TIER_ACCESS_NO_HEAT)) ||
        !(flags & (AFS_TIER_ACCESS_READ | AFS_TIER_ACCESS_WRITE)))
        return afs__error_set(AFS_EINVAL, "afs_tier_access: an endpoint and READ or WRITE "
                              "(optionally with NO_HEAT) are required");
    /* Scanners and backups touch everything: their accesses must not count. */
    if (flags & AFS_TIER_ACCESS_NO_HEAT)
        return 0;
    if (when_ns == AFS_TIME_OMIT)
        when_ns = afs__now_ns();
    if ((rc = afs__tier_ctx_init(&c, endpoint)) != 0)
        return rc;
    if ((rc = afs__tier_resolve(endpoint, path, &rel, &abs)) != 0)
        return rc;
    memset(&st, 0, sizeof(st));
    if ((rc = c.fs->ops.stat(c.fs->ctx, abs, &st)) != 0)
        goto done;
    if (st.type != AFS_TYPE_FILE) {
        rc = afs__error_set(AFS_EINVAL, "afs_tier_access: %s is not a regular file", abs);
        goto done;
    }
    if ((rc = afs__tier_probe_path(c.fs, abs, &st, &probe)) != 0)
        goto done;
    afs__tier_row(&st, probe.state, probe.present_bytes, &row);
    if ((rc = afs__heat_access(c.vol, endpoint->id, rel, &row, when_ns)) != 0)
        goto done;
    memset(&add, 0, sizeof(add));
    add.accesses = 1;
    rc = afs__heat_count(c.vol, endpoint->id, &add);
done:
    free(rel);
    free(abs);
    return rc;
}

/* ---- pins and exclusions ---- */

int afs_tier_pin(afs_endpoint *endpoint, const char *path, int pinned)
{
    afs__tier_ctx c;
    sqlite3_stmt *st;
    char *rel = NULL, *abs = NULL;
    int rc;

    if (!endpoint || (pinned != 0 && pinned != 1))
        return afs__error_set(AFS_EINVAL, "afs_tier_pin: an endpoint and pinned 0 or 1 are "
                              "required");
    if ((rc = afs__tier_ctx_init(&c, endpoint)) != 0)
        return rc;
    if ((rc = afs__tier_resolve(endpoint, path, &rel, &abs)) != 0)
        return rc;
    pthread_mutex_lock(&c.vol->mu);
    st = afs__db_stmt(c.vol->heat, pinned ? "INSERT OR IGNORE INTO pin (endpoint_id, path) "
                                            "VALUES (?, ?)"
                                          : "DELETE FROM pin WHERE endpoint_id = ? AND path = ?");
    if (!st) {
        rc = afs_error_last_code();
    } else {
        sqlite3_bind_text(st, 1, endpoint->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, rel, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        rc = rc == SQLITE_DONE ? 0 : afs__db_error(c.vol->heat, rc, "pin");
    }
    pthread_mutex_unlock(&c.vol->mu);
    free(rel);
    free(abs);
    return rc;
}

static int rules_out(afs_endpoint *endpoint, afs_strarray *out, bool pins)
{
    afs__tier_ctx c;
    afs__tier_rules r;
    int rc;
    if (!endpoint || !out)
        return afs__error_set(AFS_EINVAL, "tiering: endpoint and out are required");
    memset(out, 0, sizeof(*out));
    if ((rc = afs__tier_ctx_init(&c, endpoint)) != 0)
        return rc;
    if ((rc = afs__heat_rules_load(c.vol, endpoint->id, &r)) != 0)
        return rc;
    if (pins) {
        out->strings = r.pins;
        out->count = r.npins;
        r.pins = NULL;
        r.npins = 0;
    } else {
        out->strings = r.excludes;
        out->count = r.nexcludes;
        r.excludes = NULL;
        r.nexcludes = 0;
    }
    afs__tier_rules_free(&r);
    return 0;
}

int afs_tier_pins(afs_endpoint *endpoint, afs_strarray *out)
{
    return rules_out(endpoint, out, true);
}

int afs_tier_exclude_get(afs_endpoint *endpoint, afs_strarray *out)
{
    return rules_out(endpoint, out, false);
}

int afs_tier_exclude_set(afs_endpoint *endpoint, const char *const *patterns, size_t count)
{
    afs__tier_ctx c;
    sqlite3_stmt *st;
    int rc;

    if (!endpoint || (count && !patterns))
        return afs__error_set(AFS_EINVAL, "afs_tier_exclude_set: endpoint and patterns are "
                              "required");
    for (size_t i = 0; i < count; i++)
        if (!patterns[i] || !patterns[i][0])
            return afs__error_set(AFS_EINVAL, "tiering exclusion pattern %zu is empty", i);
    if ((rc = afs__tier_ctx_init(&c, endpoint)) != 0)
        return rc;
    pthread_mutex_lock(&c.vol->mu);
    if ((rc = afs__db_begin(c.vol->heat)) != 0)
        goto done;
    if (!(st = afs__db_stmt(c.vol->heat, "DELETE FROM tier_exclude WHERE endpoint_id = ?"))) {
        rc = afs_error_last_code();
        goto done;
    }
    sqlite3_bind_text(st, 1, endpoint->id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        rc = afs__db_error(c.vol->heat, rc, "set tiering exclusions");
        goto done;
    }
    rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        if (!(st = afs__db_stmt(c.vol->heat, "INSERT OR IGNORE INTO tier_exclude "
                                             "(endpoint_id, pattern) VALUES (?, ?)"))) {
            rc = afs_error_last_code();
            break;
        }
        sqlite3_bind_text(st, 1, endpoint->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, patterns[i], -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        rc = rc == SQLITE_DONE ? 0 : afs__db_error(c.vol->heat, rc, "set tiering exclusions");
    }
    if (rc == 0)
        rc = afs__db_commit(c.vol->heat);
done:
    if (rc != 0)
        afs__db_rollback(c.vol->heat);
    pthread_mutex_unlock(&c.vol->mu);
    return rc;
}

/* ---- the scan's contributions ---- */

struct afs__tier_scan {
    afs__tier_ctx c;
    char *id;
    char *root;
    afs__db_batch batch;
    int64_t gen;
};

#define SCAN_BATCH 10000

int afs__tier_scan_begin_raw(afs__tier_ctx *c, const char *id, const char *root,
                             afs__tier_scan **out)
{
    afs__tier_scan *s;
    *out = NULL;
    if (!(s = afs__calloc(1, sizeof(*s))))
        return AFS_ENOMEM;
    s->c = *c;
    s->id = afs__strdup(id);
    s->root = afs__strdup(root);
    if (!s->id || !s->root) {
        free(s->id);
        free(s->root);
        free(s);
        return AFS_ENOMEM;
    }
    /* A generation that differs from every earlier scan's. */
    s->gen = afs__now_ns();
    afs__db_batch_init(&s->batch, s->c.vol->heat, SCAN_BATCH);
    *out = s;
    return 0;
}

int afs__tier_heat_begin(afs_endpoint *ep, afs__tier_scan **out)
{
    afs__tier_ctx c;
    int rc;
    *out = NULL;
    if ((rc = afs__tier_ctx_init(&c, ep)) != 0)
        return rc;
    return afs__tier_scan_begin_raw(&c, ep->id, ep->path, out);
}

int afs__tier_heat_note(afs__tier_scan *s, const char *rel, const afs_fs_stat *st)
{
    afs__heat_row row;
    afs__tier_probe probe;
    char *abs;
    int rc;

    if (st->type != AFS_TYPE_FILE)
        return 0;
    if (!(abs = afs__sprintf("%s/%s", s->root, rel)))
        return AFS_ENOMEM;
    rc = afs__tier_probe_path(s->c.fs, abs, st, &probe);
    free(abs);
    if (rc == AFS_ECORRUPT) {
        /* Not ours to tier; the file is still counted as it is on disk. */
        afs_error_clear();
        memset(&probe, 0, sizeof(probe));
        rc = 0;
    }
    if (rc != 0)
        return rc;
    afs__tier_row(st, probe.state, probe.present_bytes, &row);
    /* The batch's transaction is only used with the volume lock held. */
    pthread_mutex_lock(&s->c.vol->mu);
    rc = afs__db_batch_step(&s->batch);
    pthread_mutex_unlock(&s->c.vol->mu);
    if (rc != 0)
        return rc;
    return afs__heat_note(s->c.vol, s->id, rel, &row, s->gen);
}

int afs__tier_heat_end(afs__tier_scan *s, bool complete)
{
    int rc;
    if (!s)
        return 0;
    pthread_mutex_lock(&s->c.vol->mu);
    rc = afs__db_batch_finish(&s->batch);
    if (rc != 0)
        afs__db_batch_abort(&s->batch);
    pthread_mutex_unlock(&s->c.vol->mu);
    if (rc == 0 && complete)
        rc = afs__heat_sweep(s->c.vol, s->id, s->gen);
    free(s->id);
    free(s->root);
    free(s);
    return rc;
}

int afs__tier_heat_forget(afs_endpoint *ep, const char *rel)
{
    afs__tier_ctx c;
    int rc = afs__tier_ctx_init(&c, ep);
    return rc ? rc : afs__heat_forget(c.vol, ep->id, rel);
}

int afs__tier_heat_rename(afs_endpoint *ep, const char *from, const char *to)
{
    afs__tier_ctx c;
    int rc = afs__tier_ctx_init(&c, ep);
    return rc ? rc : afs__heat_rename(c.vol, ep->id, from, to);
}

int afs__tier_endpoint_removed(afs_service *svc, const char *volume_path,
                               const char *endpoint_id)
{
    static const char *const sql[] = {
        "DELETE FROM heat WHERE ep = (SELECT ep FROM heat_ep WHERE endpoint_id = ?)",
        "DELETE FROM pin WHERE endpoint_id = ?", "DELETE FROM tier_exclude WHERE endpoint_id = ?",
        "DELETE FROM stats WHERE endpoint_id = ?"
    };
    afs_fs_volume vol;
    afs__tier_vol *v;
    int rc;
    if ((rc = afs__tier_volume(afs__service_fs(svc), volume_path, &vol)) != 0 ||
        (rc = afs__tier_vol_get(svc, vol.id, &v)) != 0)
        return rc;
    pthread_mutex_lock(&v->mu);
    for (size_t i = 0; i < AFS__ARRAY_LEN(sql) && rc == 0; i++) {
        sqlite3_stmt *st = afs__db_stmt(v->heat, sql[i]);
        if (!st) {
            rc = afs_error_last_code();
            break;
        }
        sqlite3_bind_text(st, 1, endpoint_id, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        rc = rc == SQLITE_DONE ? 0 : afs__db_error(v->heat, rc, "forget endpoint heat");
    }
    pthread_mutex_unlock(&v->mu);
    return rc;
}

/* ---- statistics ---- */

/* Run one statistics query (binding ?1 to `endpoint_id` when given) and read
 * the `n` numbers of its single row; call with v->mu held. */
static int stats_row(afs__tier_vol *v, const char *sql, const char *endpoint_id, double *col,
                     int n)
{
    sqlite3_stmt *st = afs__db_stmt(v->heat, sql);
    int rc;
    if (!st)
        return afs_error_last_code();
    if (endpoint_id)
        sqlite3_bind_text(st, 1, endpoint_id, -1, SQLITE_STATIC);
    if ((rc = sqlite3_step(st)) == SQLITE_ROW)
        for (int i = 0; i < n; i++)
            col[i] = sqlite3_column_double(st, i);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : afs__db_error(v->heat, rc, "tiering statistics");
}

static int stats_fill(afs__tier_vol *v, const char *endpoint_id, afs_tier_stats *out)
{
    /* endpoint_id NULL: the whole volume. */
    const char *q1 = endpoint_id
        ? "SELECT count(*), total(state != 0), total(CASE WHEN state != 0 THEN "
          "max(size - local_bytes, 0) ELSE 0 END), total(local_bytes) FROM heat "
          "WHERE ep = (SELECT ep FROM heat_ep WHERE endpoint_id = ?)"
        : "SELECT count(*), total(state != 0), total(CASE WHEN state != 0 THEN "
          "max(size - local_bytes, 0) ELSE 0 END), total(local_bytes) FROM heat";
    const char *q2 = endpoint_id
        ? "SELECT total(files_tiered), total(bytes_tiered), total(accesses), "
          "total(access_recalls), total(recalls), total(recall_bytes), total(recall_failures), "
          "total(recall_ns) FROM stats WHERE endpoint_id = ?"
        : "SELECT total(files_tiered), total(bytes_tiered), total(accesses), "
          "total(access_recalls), total(recalls), total(recall_bytes), total(recall_failures), "
          "total(recall_ns) FROM stats";
    double a[4], b[8];
    int rc;

    pthread_mutex_lock(&v->mu);
    if ((rc = stats_row(v, q1, endpoint_id, a, 4)) != 0)
        goto done;
    out->files = (uint64_t)a[0];
    out->tiered_files = (uint64_t)a[1];
    out->tiered_bytes = (uint64_t)a[2];
    out->local_bytes = (uint64_t)a[3];
    if ((rc = stats_row(v, q2, endpoint_id, b, 8)) != 0)
        goto done;
    out->files_tiered_total = (uint64_t)b[0];
    out->bytes_tiered_total = (uint64_t)b[1];
    out->accesses = (uint64_t)b[2];
    out->access_recalls = (uint64_t)b[3];
    out->recalls = (uint64_t)b[4];
    out->recall_bytes = (uint64_t)b[5];
    out->recall_failures = (uint64_t)b[6];
    out->recall_ns = (uint64_t)b[7];
    out->cache_hit_percent = 100;
    if (out->accesses)
        out->cache_hit_percent =
            out->access_recalls >= out->accesses
                ? 0
                : (uint32_t)(100 * (out->accesses - out->access_recalls) / out->accesses);
    out->recall_success_percent = 100;
    if (out->recalls + out->recall_failures)
        out->recall_success_percent =
            (uint32_t)(100 * out->recalls / (out->recalls + out->recall_failures));
    if (out->recall_ns)
        out->recall_bytes_per_s =
            (uint64_t)((double)out->recall_bytes * 1e9 / (double)out->recall_ns);
done:
    pthread_mutex_unlock(&v->mu);
    return rc;
}

/* Effective free space percent of a volume (pass.c). */
int afs__tier_volume_percent(afs_service *svc, const char *volume_id, uint32_t *pct);

static int stats_volume_part(afs_service *svc, const afs_fs_volume *vol, afs_tier_stats *out)
{
    int rc = afs__tier_volume_percent(svc, vol->id, &out->free_space_percent);
    out->volume_total_bytes = vol->total_bytes;
    out->volume_free_bytes = vol->free_bytes;
    out->low_disk_space = vol->total_bytes && vol->free_bytes * 100 <
                                                  (uint64_t)AFS__TIER_LOW_DISK_PERCENT *
                                                      vol->total_bytes;
    return rc;
}

/*
 * Statistics are gathered in a whole struct and then only the bytes of the
 * caller's version are written (docs/api-conventions.md#versioned-structs).
 */
int afs_tier_stats_get(afs_endpoint *endpoint, afs_tier_stats *out)
{
    afs__tier_ctx c;
    afs_tier_stats t;
    int rc;
    if (!endpoint || !out)
        return afs__error_set(AFS_EINVAL, "afs_tier_stats_get: endpoint and out are required");
    if ((rc = afs__vstruct_check(&afs__vs_tier_stats, out->version, "afs_tier_stats_get")) != 0)
        return rc;
    memset(&t, 0, sizeof(t));
    t.version = AFS_TIER_STATS_VERSION;
    if ((rc = afs__tier_ctx_init(&c, endpoint)) == 0 &&
        (rc = stats_fill(c.vol, endpoint->id, &t)) == 0)
        rc = stats_volume_part(c.svc, &c.vinfo, &t);
    afs__vstruct_write(&afs__vs_tier_stats, out, &t, "afs_tier_stats_get");
    return rc;
}

int afs_tier_volume_stats(afs_service *svc, const char *volume_path, afs_tier_stats *out)
{
    afs_fs_volume vol;
    afs__tier_vol *v;
    afs_tier_stats t;
    int rc;
    if (!svc || !volume_path || !out)
        return afs__error_set(AFS_EINVAL, "afs_tier_volume_stats: svc, volume_path and out "
                              "are required");
    if ((rc = afs__vstruct_check(&afs__vs_tier_stats, out->version,
                                 "afs_tier_volume_stats")) != 0)
        return rc;
    memset(&t, 0, sizeof(t));
    t.version = AFS_TIER_STATS_VERSION;
    if ((rc = afs__tier_volume(afs__service_fs(svc), volume_path, &vol)) == 0 &&
        (rc = afs__tier_vol_get(svc, vol.id, &v)) == 0 && (rc = stats_fill(v, NULL, &t)) == 0)
        rc = stats_volume_part(svc, &vol, &t);
    afs__vstruct_write(&afs__vs_tier_stats, out, &t, "afs_tier_volume_stats");
    return rc;
}

/*
 * Placeholders: tiering one file, creating and updating placeholders for
 * the engine, and the "confirmed in the cloud" rule. The order of tiering
 * never risks data (docs/tiering.md#crash-safety): the marker is written,
 * read back and made durable before any block is freed; a crash in between
 * leaves a full file whose marker says "nothing present", which a recall
 * simply fetches again from the cloud version the marker names.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>

#include "../service/service_internal.h"
#include "../sync/names.h"
#include "tier_priv.h"

/* ---- the sync base ---- */

int afs__tier_base_get(afs_db *state, const char *rel, afs__tier_base *out)
{
    sqlite3_stmt *st;
    int rc;
    memset(out, 0, sizeof(*out));
    if (!state)
        return 0;
    st = afs__db_stmt(state, "SELECT size, mtime_ns, file_id, ctime_ns, etag FROM item "
                             "WHERE path = ? AND type = 1");
    if (!st)
        return afs_error_last_code();
    sqlite3_bind_text(st, 1, rel, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *etag = (const char *)sqlite3_column_text(st, 4);
        out->exists = true;
        out->size = (uint64_t)sqlite3_column_int64(st, 0);
        out->mtime_ns = sqlite3_column_int64(st, 1);
        out->file_id = (uint64_t)sqlite3_column_int64(st, 2);
        out->ctime_ns = sqlite3_column_int64(st, 3);
        snprintf(out->etag, sizeof(out->etag), "%s", etag ? etag : "");
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : afs__db_error(state, rc, "read sync base");
}

int afs__tier_base_touch(afs_db *state, const char *rel, const afs__tier_base *b,
                         int64_t new_ctime)
{
    sqlite3_stmt *st;
    int rc;
    if (!state || !b->exists || b->ctime_ns == new_ctime)
        return 0;
    st = afs__db_stmt(state, "UPDATE item SET ctime_ns = ?1 WHERE path = ?2 AND size = ?3 AND "
                             "mtime_ns = ?4 AND file_id = ?5 AND ctime_ns = ?6 AND etag = ?7");
    if (!st)
        return afs_error_last_code();
    sqlite3_bind_int64(st, 1, new_ctime);
    sqlite3_bind_text(st, 2, rel, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)b->size);
    sqlite3_bind_int64(st, 4, b->mtime_ns);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)b->file_id);
    sqlite3_bind_int64(st, 6, b->ctime_ns);
    sqlite3_bind_text(st, 7, b->etag, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : afs__db_error(state, rc, "update sync base");
}

bool afs__tier_is_confirmed(const afs_fs_stat *st, const afs__marker *m,
                            const afs__tier_base *b)
{
    if (!b->exists || !b->etag[0] || st->type != AFS_TYPE_FILE)
        return false;
    if (st->size == b->size && st->mtime_ns == b->mtime_ns && st->file_id == b->file_id &&
        st->ctime_ns == b->ctime_ns)
        return true;
    /* A placeholder: unchanged as long as it still shows the version its marker names. */
    return m && strcmp(m->etag, b->etag) == 0 && m->size == b->size && st->size == b->size &&
           m->mtime_ns == b->mtime_ns && st->mtime_ns == b->mtime_ns &&
           st->file_id == b->file_id;
}

int afs__tier_confirmed(afs_endpoint *ep, const char *rel, const afs_fs_stat *st,
                        bool *confirmed)
{
    afs_fs *fs = afs__service_fs(ep->group->svc);
    afs_fs_stat own;
    afs__tier_base b;
    afs__marker m;
    bool found = false;
    char *abs;
    int rc;

    *confirmed = false;
    if (!(abs = afs__sprintf("%s/%s", ep->path, rel)))
        return AFS_ENOMEM;
    if (!st) {
        memset(&own, 0, sizeof(own));
        if ((rc = fs->ops.stat(fs->ctx, abs, &own)) != 0)
            goto done;
        st = &own;
    }
    if ((rc = afs__tier_base_get(ep->state, rel, &b)) != 0)
        goto done;
    if (fs->ops.marker_get && (rc = afs__marker_read(fs, abs, &m, &found)) != 0)
        goto done;
    *confirmed = afs__tier_is_confirmed(st, found ? &m : NULL, &b);
    if (found)
        afs__marker_clear(&m);
done:
    free(abs);
    return rc;
}

/* ---- tiering one file ---- */

static bool same_file(const afs_fs_stat *a, const afs_fs_stat *b)
{
    return a->size == b->size && a->mtime_ns == b->mtime_ns && a->file_id == b->file_id;
}

/* The write lease of AFS_FS_CTL_WRITE_LEASE (include/afs/sys/fs.h) on `fh`:
 * 0, AFS_EBUSY (another process has the file open, or opened it), or
 * AFS_ENOTSUP when the file system cannot say (tiering goes on without). */
static int lease(afs_fs *fs, void *fh, int op)
{
    afs_fs_lease l;
    int rc;
    if (!fs->ops.ctl)
        return AFS_ENOTSUP;
    l.fh = fh;
    l.op = op;
    rc = fs->ops.ctl(fs->ctx, AFS_FS_CTL_WRITE_LEASE, &l);
    if (rc != 0 && rc != AFS_EBUSY) {
        afs_error_clear();
        return AFS_ENOTSUP;
    }
    return rc;
}

/* Undo a marker written for a tiering that did not happen. */
static void marker_restore(afs_fs *fs, const char *abs, const afs__marker *old, bool had)
{
    int rc = had ? afs__marker_write(fs, abs, old) : fs->ops.marker_remove(fs->ctx, abs);
    if (rc != 0 && rc != AFS_ENOTFOUND)
        afs__log(AFS_LOG_WARN, "tiering %s: could not restore the tier marker: %s", abs,
                 afs_error_last());
    afs_error_clear();
}

int afs__tier_one(afs__tier_ctx *c, afs__tier_ep *e, const char *rel, afs__tier_skip *skip,
                  uint64_t *freed)
{
    afs_fs *fs = c->fs;
    const afs_fs_ops *o = &fs->ops;
    afs_fs_stat st0, st1, st2, fin;
    afs__tier_base base;
    afs__marker old, m;
    afs__heat_row row;
    afs__heat_counters add;
    unsigned char want[AFS_FS_MARKER_MAX], got[AFS_FS_MARKER_MAX];
    size_t wlen = 0, glen = 0;
    bool had = false, marked = false, busy = false, leased = false;
    void *fh = NULL;
    char *abs;
    int lock = -1, rc;

    *skip = AFS__SKIP_NONE;
    *freed = 0;
    memset(&old, 0, sizeof(old));
    memset(&m, 0, sizeof(m));
    if (!(abs = afs__sprintf("%s%s%s", e->root, strcmp(e->root, "/") ? "/" : "", rel)))
        return AFS_ENOMEM;
    if (afs__tier_pinned(&e->rules, rel)) {
        *skip = AFS__SKIP_PINNED;
        goto done_ok;
    }
    if (afs__tier_excluded(&e->rules, rel)) {
        *skip = AFS__SKIP_EXCLUDED;
        goto done_ok;
    }
    if ((rc = afs__tier_busy_acquire(c->vol, abs)) != 0)
        goto done;
    busy = true;
    /* Exclusive across processes: no recall is writing into the file or about to
     * record ranges we punch. A file being recalled is left for the next pass. */
    rc = afs__tier_lock(c->vol, abs, AFS__TIER_LOCK_RECALL, AFS__TIER_LOCK_EXCL, false, &lock);
    if (rc == AFS_EBUSY) {
        afs_error_clear();
        *skip = AFS__SKIP_CHANGED;
        goto done_ok;
    }
    if (rc != 0)
        goto done;
    memset(&st0, 0, sizeof(st0));
    rc = o->stat(fs->ctx, abs, &st0);
    if (rc == AFS_ENOTFOUND || (rc == 0 && st0.type != AFS_TYPE_FILE)) {
        afs_error_clear();
        afs__heat_forget(c->vol, e->id, rel);
        *skip = AFS__SKIP_GONE;
        goto done_ok;
    }
    if (rc != 0)
        goto done;
    if (st0.size < e->min_size) {
        *skip = AFS__SKIP_SMALL;
        goto done_ok;
    }
    if ((rc = afs__marker_read(fs, abs, &old, &had)) != 0)
        goto done;
    if ((rc = afs__tier_base_get(e->state, rel, &base)) != 0)
        goto done;
    /* Never tier what the cloud does not hold (DESIGN.md, afs-facts.md). */
    if (!afs__tier_is_confirmed(&st0, had ? &old : NULL, &base)) {
        *skip = AFS__SKIP_NOT_SYNCED;
        goto done_ok;
    }
    /* Already a placeholder. (A full file whose marker says "nothing present" is
     * what a crash between marker and punch leaves: tiering it again is right.) */
    if (had && old.nranges == 0 && st0.alloc_bytes < st0.size) {
        *skip = AFS__SKIP_ALREADY;
        goto done_ok;
    }
    if ((rc = o->open(fs->ctx, abs, AFS_FS_O_READ | AFS_FS_O_WRITE, &fh)) != 0)
        goto done;
    memset(&st1, 0, sizeof(st1));
    if ((rc = o->fstat ? o->fstat(fs->ctx, fh, &st1) : o->stat(fs->ctx, abs, &st1)) != 0)
        goto done;
    if (!same_file(&st0, &st1) || st0.ctime_ns != st1.ctime_ns) {
        *skip = AFS__SKIP_CHANGED;
        goto done_ok;
    }
    /* No other process may have the file open (a writer's later writes would
     * land in the placeholder); from here an open by one waits for the lease. */
    rc = lease(fs, fh, AFS_FS_LEASE_TAKE);
    /* A brief open (a recall host answering an access, a scanner) passes. */
    for (int i = 0; rc == AFS_EBUSY && i < 4; i++) {
        afs_error_clear();
        usleep(25000);
        rc = lease(fs, fh, AFS_FS_LEASE_TAKE);
    }
    if (rc == AFS_EBUSY) {
        afs__log(AFS_LOG_INFO, "tiering %s: skipped, it is open by another process",
                 abs);
        afs_error_clear();
        *skip = AFS__SKIP_OPEN;
        goto done_ok;
    }
    leased = rc == 0;
    /* 1. The marker, pending: the cloud version this file stands for, nothing
     * present, the punch and time restore perhaps still to come. */
    m.flags = (had ? old.flags & ~AFS__MARKER_PENDING : 0) | AFS__MARKER_PENDING;
    m.chunk = AFS_TIER_CHUNK;
    m.size = st1.size;
    m.mtime_ns = st1.mtime_ns;
    m.tiered_ns = afs__now_ns();
    m.file_id = st1.file_id;
    snprintf(m.etag, sizeof(m.etag), "%s", base.etag);
    m.path = (char *)rel; /* the share mirrors the endpoint's tree */
    rc = afs__marker_encode(&m, want, sizeof(want), &wlen);
    m.path = NULL;
    if (rc != 0)
        goto done;
    if ((rc = o->marker_set(fs->ctx, abs, want, wlen)) != 0)
        goto done;
    marked = true;
    /* 2. Verify it reads back as written, and make it durable before any hole. */
    if ((rc = o->marker_get(fs->ctx, abs, got, sizeof(got), &glen)) != 0)
        goto done;
    if (glen != wlen || memcmp(got, want, wlen) != 0) {
        rc = afs__error_set(AFS_EIO, "tiering %s: the tier marker did not read back as "
                            "written", abs);
        goto done;
    }
    if (o->fsync && (rc = o->fsync(fs->ctx, fh)) != 0)
        goto done;
    /* 3. Nothing changed meanwhile (the marker moved ctime, writes move more). */
    memset(&st2, 0, sizeof(st2));
    if ((rc = o->fstat ? o->fstat(fs->ctx, fh, &st2) : o->stat(fs->ctx, abs, &st2)) != 0)
        goto done;
    if (!same_file(&st1, &st2)) {
        *skip = AFS__SKIP_CHANGED;
        goto done_ok;
    }
    /* Nobody opened it meanwhile (such an open waits for us: let it have the
     * full file). The lease is held through the punch: an open now waits
     * and then finds the placeholder, whose marker tells its writes. */
    if (leased && lease(fs, fh, AFS_FS_LEASE_CHECK) == AFS_EBUSY) {
        afs__log(AFS_LOG_INFO, "tiering %s: skipped, another process opened it", abs);
        *skip = AFS__SKIP_OPEN;
        goto done_ok;
    }
    /* A file that already was a placeholder may be watched by a recall host
     * (afs-hsmd): the punch raises an access event whose descriptor, opened
     * for the daemon, would wait for our lease while we wait for its answer.
     * Release it first (docs/tiering.md#files-open-in-other-processes). */
    if (leased && had) {
        lease(fs, fh, AFS_FS_LEASE_RELEASE);
        leased = false;
    }
    /* 4. Free the blocks; the logical size stays. */
    if ((rc = o->punch_hole(fs->ctx, fh, 0, st2.size)) != 0)
        goto done;
    marked = false; /* from here the marker is the truth */
    if (o->fsync && (rc = o->fsync(fs->ctx, fh)) != 0)
        goto done;
    if (leased)
        lease(fs, fh, AFS_FS_LEASE_RELEASE);
    leased = false;
    rc = o->close(fs->ctx, fh);
    fh = NULL;
    if (rc != 0)
        goto done;
    /* 5. Holes move the write time on most file systems: put it back. */
    if (o->set_times && (rc = o->set_times(fs->ctx, abs, AFS_TIME_OMIT, m.mtime_ns)) != 0)
        goto done;
    /* 6. The marker, exact: from now on any other size or write time is a
     * program's write (afs__marker_written). */
    m.flags &= ~AFS__MARKER_PENDING;
    m.path = (char *)rel;
    rc = afs__marker_write(fs, abs, &m);
    m.path = NULL;
    if (rc != 0)
        goto done;
    memset(&fin, 0, sizeof(fin));
    if ((rc = o->stat(fs->ctx, abs, &fin)) != 0)
        goto done;
    *freed = st0.alloc_bytes > fin.alloc_bytes ? st0.alloc_bytes - fin.alloc_bytes : 0;
    /* The sync base follows the ctime, so the engine sees no change. */
    if (fin.mtime_ns == base.mtime_ns && fin.size == base.size &&
        (rc = afs__tier_base_touch(e->state, rel, &base, fin.ctime_ns)) != 0)
        goto done;
    afs__tier_row(&fin, AFS_TIER_STATE_TIERED, 0, &row);
    if ((rc = afs__heat_update(c->vol, e->id, rel, &row, 0)) != 0)
        goto done;
    memset(&add, 0, sizeof(add));
    add.files_tiered = 1;
    add.bytes_tiered = fin.size;
    rc = afs__heat_count(c->vol, e->id, &add);
    goto done;
done_ok:
    rc = 0;
done:
    /* The marker goes back before an opener waiting for the lease gets the file. */
    if (marked)
        marker_restore(fs, abs, &old, had);
    if (leased)
        lease(fs, fh, AFS_FS_LEASE_RELEASE);
    if (fh) {
        int crc = o->close(fs->ctx, fh);
        if (rc == 0 && *skip == AFS__SKIP_NONE)
            rc = crc;
    }
    afs__tier_unlock(lock);
    if (busy)
        afs__tier_busy_release(c->vol, abs);
    afs__marker_clear(&old);
    free(abs);
    return rc;
}

/* ---- placeholders for the engine ---- */

/* What both placeholder calls start with: the endpoint's tiering context, a
 * valid etag, and the file's absolute path (`*abs`, the caller frees). */
static int placeholder_begin(afs_endpoint *ep, const char *rel, const char *etag,
                             afs__tier_ctx *c, char **abs)
{
    int rc;
    if ((rc = afs__tier_ctx_init(c, ep)) != 0)
        return rc;
    if (!etag || !etag[0] || strlen(etag) >= AFS_ETAG_MAX)
        return afs__error_set(AFS_EINVAL, "placeholder %s: an etag is required", rel);
    if (!(*abs = afs__sprintf("%s/%s", ep->path, rel)))
        return AFS_ENOMEM;
    return 0;
}

/* What both end with: the placeholder's stat (into `out` when given) and
 * its heat row in `state`. */
static int placeholder_record(afs__tier_ctx *c, afs_endpoint *ep, const char *rel,
                              const char *abs, uint32_t state, afs_fs_stat *out)
{
    afs__heat_row row;
    afs_fs_stat st;
    int rc;
    memset(&st, 0, sizeof(st));
    if ((rc = c->fs->ops.stat(c->fs->ctx, abs, &st)) != 0)
        return rc;
    if (out)
        *out = st;
    afs__tier_row(&st, state, 0, &row);
    return afs__heat_update(c->vol, ep->id, rel, &row, 0);
}

int afs__tier_placeholder_create(afs_endpoint *ep, const char *rel, const char *cloud_path,
                                 uint64_t size, int64_t mtime_ns, const char *etag,
                                 afs_fs_stat *out)
{
    afs__tier_ctx c;
    afs__marker m;
    const afs_fs_ops *o;
    char *abs = NULL, *temp = NULL, *dir = NULL;
    const char *slash;
    uint64_t rnd = 0;
    void *fh = NULL;
    bool made = false;
    int rc;

    if ((rc = placeholder_begin(ep, rel, etag, &c, &abs)) != 0)
        return rc;
    o = &c.fs->ops;
    slash = strrchr(abs, '/');
    if (!(dir = afs__strndup(abs, (size_t)(slash - abs)))) {
        rc = AFS_ENOMEM;
        goto done;
    }
    if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        rnd = (uint64_t)afs__now_ns();
    if (!(temp = afs__sprintf("%s/" AFS__TEMP_PREFIX "%016llx.tmp", dir,
                              (unsigned long long)rnd))) {
        rc = AFS_ENOMEM;
        goto done;
    }
    if ((rc = o->open(c.fs->ctx, temp, AFS_FS_O_WRITE | AFS_FS_O_CREATE | AFS_FS_O_EXCL,
                      &fh)) != 0)
        goto done;
    made = true;
    if ((rc = o->truncate(c.fs->ctx, fh, size)) != 0)
        goto done;
    memset(&m, 0, sizeof(m));
    m.flags = AFS_TIER_MARKER_NAMESPACE;
    m.chunk = AFS_TIER_CHUNK;
    m.size = size;
    m.mtime_ns = mtime_ns;
    m.tiered_ns = afs__now_ns();
    snprintf(m.etag, sizeof(m.etag), "%s", etag);
    m.path = (char *)(cloud_path ? cloud_path : rel);
    rc = afs__marker_write(c.fs, temp, &m);
    if (rc == 0 && o->fsync)
        rc = o->fsync(c.fs->ctx, fh);
    if (rc != 0)
        goto done;
    rc = o->close(c.fs->ctx, fh);
    fh = NULL;
    if (rc != 0)
        goto done;
    if (o->set_times && (rc = o->set_times(c.fs->ctx, temp, AFS_TIME_OMIT, mtime_ns)) != 0)
        goto done;
    if ((rc = o->rename(c.fs->ctx, temp, abs, AFS_FS_RENAME_NOREPLACE)) != 0)
        goto done;
    made = false;
    if (o->sync_dir)
        o->sync_dir(c.fs->ctx, dir);
    rc = placeholder_record(&c, ep, rel, abs, size ? AFS_TIER_STATE_TIERED : AFS_TIER_STATE_FULL,
                            out);
done:
    if (fh)
        o->close(c.fs->ctx, fh);
    if (made)
        o->unlink(c.fs->ctx, temp);
    free(abs);
    free(temp);
    free(dir);
    return rc;
}

int afs__tier_placeholder_retarget(afs_endpoint *ep, const char *rel, const char *etag,
                                   afs_fs_stat *out)
{
    afs__tier_ctx c;
    afs__marker m;
    bool found = false, busy = false;
    char *abs, *old_path;
    int rc;

    if ((rc = afs__tier_ctx_init(&c, ep)) != 0)
        return rc;
    if (!etag || !etag[0] || strlen(etag) >= AFS_ETAG_MAX)
        return afs__error_set(AFS_EINVAL, "placeholder %s: an etag is required", rel);
    if (!(abs = afs__sprintf("%s/%s", ep->path, rel)))
        return AFS_ENOMEM;
    memset(&m, 0, sizeof(m));
    if ((rc = afs__tier_busy_acquire(c.vol, abs)) != 0)
        goto done;
    busy = true;
    if ((rc = afs__marker_read(c.fs, abs, &m, &found)) != 0)
        goto done;
    if (!found || afs__marker_present(&m) >= m.size) {
        rc = afs__error_set(AFS_ECONDITION, "%s is not a placeholder", abs);
        goto done;
    }
    old_path = m.path;
    m.path = (char *)rel;
    snprintf(m.etag, sizeof(m.etag), "%s", etag);
    rc = afs__marker_write(c.fs, abs, &m);
    m.path = old_path;
    if (rc == 0 && out) {
        memset(out, 0, sizeof(*out));
        rc = c.fs->ops.stat(c.fs->ctx, abs, out);
    }
done:
    if (busy)
        afs__tier_busy_release(c.vol, abs);
    afs__marker_clear(&m);
    free(abs);
    return rc;
}

int afs__tier_placeholder_update(afs_endpoint *ep, const char *rel, uint64_t size,
                                 int64_t mtime_ns, const char *etag, afs_fs_stat *out)
{
    afs__tier_ctx c;
    afs__marker m;
    const afs_fs_ops *o;
    bool found = false, busy = false;
    void *fh = NULL;
    char *abs = NULL;
    int lock = -1, rc;

    if ((rc = placeholder_begin(ep, rel, etag, &c, &abs)) != 0)
        return rc;
    o = &c.fs->ops;
    memset(&m, 0, sizeof(m));
    if ((rc = afs__tier_busy_acquire(c.vol, abs)) != 0)
        goto done;
    busy = true;
    /* Wait for the recalls of the old version, in any process, to finish: none
     * may write old bytes into, or record ranges of, the new version. */
    if ((rc = afs__tier_lock(c.vol, abs, AFS__TIER_LOCK_RECALL, AFS__TIER_LOCK_EXCL, true,
                             &lock)) != 0)
        goto done;
    if ((rc = afs__marker_read(c.fs, abs, &m, &found)) != 0)
        goto done;
    if (!found || afs__marker_present(&m) >= m.size) {
        rc = afs__error_set(AFS_ECONDITION, "%s is not a placeholder; download it instead",
                            abs);
        goto done;
    }
    /* Marker first, pending: a crash after it leaves "new version, nothing
     * present", its write time repaired by the next scan. */
    snprintf(m.etag, sizeof(m.etag), "%s", etag);
    m.size = size;
    m.mtime_ns = mtime_ns;
    m.tiered_ns = afs__now_ns();
    m.flags |= AFS__MARKER_PENDING;
    free(m.ranges);
    m.ranges = NULL;
    m.nranges = 0;
    if ((rc = afs__marker_write(c.fs, abs, &m)) != 0)
        goto done;
    if ((rc = o->open(c.fs->ctx, abs, AFS_FS_O_READ | AFS_FS_O_WRITE, &fh)) != 0)
        goto done;
    if ((rc = o->truncate(c.fs->ctx, fh, size)) != 0 ||
        (rc = o->punch_hole(c.fs->ctx, fh, 0, size)) != 0 ||
        (o->fsync && (rc = o->fsync(c.fs->ctx, fh)) != 0))
        goto done;
    rc = o->close(c.fs->ctx, fh);
    fh = NULL;
    if (rc != 0)
        goto done;
    if (o->set_times && (rc = o->set_times(c.fs->ctx, abs, AFS_TIME_OMIT, mtime_ns)) != 0)
        goto done;
    m.flags &= ~AFS__MARKER_PENDING;
    if ((rc = afs__marker_write(c.fs, abs, &m)) != 0)
        goto done;
    rc = placeholder_record(&c, ep, rel, abs, AFS_TIER_STATE_TIERED, out);
done:
    if (fh)
        o->close(c.fs->ctx, fh);
    afs__tier_unlock(lock);
    if (busy)
        afs__tier_busy_release(c.vol, abs);
    afs__marker_clear(&m);
    free(abs);
    return rc;
}

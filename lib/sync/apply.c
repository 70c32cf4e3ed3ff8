/* Applying a planned session (lib/sync/apply.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "../tier/tier_internal.h"
#include "apply.h"
#include "group_internal.h"
#include "names.h"
#include "state.h"
#include "transfer.h"

#define CHUNK (1024u * 1024u)
/* State commits (each with a journal batch and a storage barrier): every
 * COMMIT_EVERY items, and at least every COMMIT_INTERVAL_NS of work, so a
 * crash leaves little to compare again. A barrier costs a syncfs on the
 * local backend: more often than this, it shows (docs/benchmarks.md). */
#define COMMIT_EVERY 2048
#define COMMIT_INTERVAL_NS (2 * 1000000000LL)
#define PROGRESS_EVERY 64

/* ---- state and journal ---- */

static int open_txn(afs__apply *a)
{
    int rc;
    if (a->in_txn)
        return 0;
    if ((rc = afs__db_begin(a->db)) != 0)
        return a->fatal = rc;
    a->in_txn = true;
    a->pending = 0;
    a->txn_started_ns = afs__now_ns();
    return 0;
}

/* The journal half of a flush: the pending records become a batch. */
static void flush_journal(afs__apply *a)
{
    int rc;
    if (a->jcount) {
        /* Journal first: a record without state is harmless (readers
         * re-check the share); state without a record would hide the
         * change from the other endpoints until a full enumeration. */
        rc = afs__journal_append(a->s->storage, a->endpoint_id, a->server_name, a->jrecs,
                                 a->jcount, &a->journal_seq);
        if (rc != 0) {
            afs__log(AFS_LOG_WARN, "sync: journal append failed (%s); other endpoints learn "
                     "these changes at their next full enumeration", afs_error_last());
            a->journal_failed = true;
        } else if (a->journal_seq == a->journal_read + 1) {
            a->journal_read = a->journal_seq;
        }
        a->jcount = 0;
    }
}

int afs__apply_flush_journal(afs__apply *a)
{
    flush_journal(a);
    return open_txn(a);
}

int afs__apply_flush(afs__apply *a)
{
    int rc = 0;
    flush_journal(a);
    if (a->in_txn) {
        /* The state records changes the storage may not have made durable
         * yet (AFS_STORAGE_CTL_DEFER_NAMES): they go first. If they cannot,
         * the batch's state is dropped and the next session looks again. */
        if (a->deferred &&
            (rc = afs_storage_ctl(a->s->storage, AFS_STORAGE_CTL_BARRIER, NULL)) != 0) {
            a->in_txn = false;
            afs__db_rollback(a->db);
            return a->fatal = rc;
        }
        a->in_txn = false;
        if ((rc = afs__db_commit(a->db)) != 0)
            return a->fatal = rc;
    }
    return 0;
}

int afs__apply_save(afs__apply *a, afs__item *it)
{
    int rc;
    if ((rc = open_txn(a)) != 0)
        return rc;
    rc = it->base.exists ? afs__state_put(a->db, it) : afs__state_forget(a->db, it->path);
    if (rc != 0)
        return a->fatal = rc;
    if (++a->pending >= COMMIT_EVERY ||
        ((a->pending & 63) == 0 && afs__now_ns() - a->txn_started_ns >= COMMIT_INTERVAL_NS))
        return afs__apply_flush(a);
    return 0;
}

int afs__apply_journal(afs__apply *a, afs__jop op, const char *path, const char *to,
                       uint32_t type, uint64_t size, int64_t mtime_ns, const char *etag,
                       const uint8_t *md5)
{
    afs__jrec *r;
    if (a->jcount == a->jcap) {
        size_t cap = a->jcap ? a->jcap * 2 : 256;
        afs__jrec *n = afs__realloc(a->jrecs, cap * sizeof(*n));
        if (!n)
            return a->fatal = AFS_ENOMEM;
        a->jrecs = n;
        a->jcap = cap;
    }
    r = &a->jrecs[a->jcount];
    memset(r, 0, sizeof(*r));
    r->op = op;
    r->path = afs__arena_strdup(&a->s->arena, path);
    r->to = to ? afs__arena_strdup(&a->s->arena, to) : NULL;
    r->etag = etag ? afs__arena_strdup(&a->s->arena, etag) : NULL;
    if (!r->path || (to && !r->to) || (etag && !r->etag))
        return a->fatal = AFS_ENOMEM;
    r->type = type;
    r->size = size;
    r->mtime_ns = mtime_ns;
    if (md5) {
        r->has_md5 = true;
        memcpy(r->md5, md5, AFS__MD5_LEN);
    }
    a->jcount++;
    return 0;
}

int afs__apply_begin(afs__apply *a)
{
    int on = 1;
    a->prog.version = AFS_SYNC_PROGRESS_VERSION;
    if (a->threads == 0) {
        /* The default: what the storage serves best, else a few. */
        uint32_t n = 0;
        a->threads_default = true;
        if (afs_storage_ctl(a->s->storage, AFS_STORAGE_CTL_CONCURRENCY, &n) != 0 || n == 0)
            afs_error_clear();
        a->threads = n >= 1 && n <= AFS__SYNC_THREADS_MAX ? n : AFS__SYNC_THREADS;
    }
    /* Batch the storage's durability: every commit below has a barrier. */
    a->deferred = afs_storage_ctl(a->s->storage, AFS_STORAGE_CTL_DEFER_NAMES, &on) == 0;
    if (!a->deferred)
        afs_error_clear();
    return open_txn(a);
}

int afs__apply_end(afs__apply *a)
{
    int rc = afs__apply_flush(a);
    if (a->deferred) {
        int off = 0, brc = afs_storage_ctl(a->s->storage, AFS_STORAGE_CTL_DEFER_NAMES, &off);
        if (rc == 0)
            rc = brc;
        a->deferred = false;
    }
    free(a->jrecs);
    a->jrecs = NULL;
    a->jcount = a->jcap = 0;
    return rc;
}

/* ---- local helpers ---- */

#define FS(a) ((a)->s->fsops)
#define FSCTX(a) ((a)->s->fsctx)

static char *abs_path(afs__apply *a, const char *rel)
{
    char *p = afs__session_local_path(a->s, rel);
    if (!p)
        a->fatal = AFS_ENOMEM;
    return p;
}

/* Does the local item still look as the scan saw it? */
static int recheck_local(afs__apply *a, const afs__item *it, const char *abs)
{
    afs_fs_stat st;
    int rc;
    memset(&st, 0, sizeof(st));
    rc = FS(a)->stat(FSCTX(a), abs, &st);
    if (rc == AFS_ENOTFOUND) {
        afs_error_clear();
        if (!it->local.exists)
            return 0;
    } else if (rc != 0) {
        return rc;
    } else if (it->local_placeholder && st.type == AFS_TYPE_FILE &&
               st.file_id == it->local.file_id && st.alloc_bytes < st.size) {
        return 0; /* still the placeholder (tiering moved its ctime) */
    } else if (it->local.exists && st.type == it->local.type &&
               (st.type == AFS_TYPE_DIR ||
                (st.size == it->local.size && st.mtime_ns == it->local.mtime_ns &&
                 st.ctime_ns == it->local.ctime_ns && st.file_id == it->local.file_id))) {
        return 0;
    }
    return afs__error_set(AFS_ECONDITION, "%s changed on the server during the sync session; "
                          "it is synced again next session", abs);
}

/* Why a non-directory stays in a folder's way: links and special files
 * never sync, so nothing else will move them. */
static const char *in_the_way(uint32_t type)
{
    if (type == AFS_TYPE_SYMLINK)
        return ": it is a symbolic link, which is never synced, so the share's folder of that "
               "name cannot come here until the link is renamed or removed";
    if (type == AFS_TYPE_OTHER)
        return ": it is a device, socket or fifo, which is never synced, so the share's folder "
               "of that name cannot come here until it is renamed or removed";
    return "";
}

/* Create the local directories of `rel_dir` ("" is the root) as needed. */
static int ensure_local_dir(afs__apply *a, const char *rel_dir)
{
    char *buf, *p;
    int rc = 0;
    if (!rel_dir[0])
        return 0;
    if (!(buf = afs__strdup(rel_dir)))
        return a->fatal = AFS_ENOMEM;
    for (p = buf;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            char *abs;
            afs_fs_stat st;
            *p = '\0';
            if (!(abs = abs_path(a, buf))) {
                rc = AFS_ENOMEM;
                break;
            }
            memset(&st, 0, sizeof(st));
            rc = FS(a)->stat(FSCTX(a), abs, &st);
            if (rc == AFS_ENOTFOUND) {
                rc = FS(a)->mkdir(FSCTX(a), abs);
                if (rc == AFS_EEXISTS)
                    rc = 0;
                if (rc == 0) {
                    afs__item *d = afs__session_item(a->s, buf, strlen(buf));
                    if (d) {
                        d->local.exists = true;
                        d->local.type = AFS_TYPE_DIR;
                    }
                }
            } else if (rc == 0 && st.type != AFS_TYPE_DIR) {
                rc = afs__error_set(AFS_ENOTDIR, "%s is not a directory on the server%s", abs,
                                    in_the_way(st.type));
            }
            *p = saved;
            if (rc != 0 || saved == '\0')
                break;
        }
    }
    free(buf);
    return rc;
}

/* The parent directory of a relative path ("" for the root), in the arena. */
static char *parent_dup(afs__apply *a, const char *rel)
{
    const char *slash = strrchr(rel, '/');
    char *p = afs__arena_strndup(&a->s->arena, rel, slash ? (size_t)(slash - rel) : 0);
    if (!p)
        a->fatal = AFS_ENOMEM;
    return p;
}

static void set_local_base(afs__item *it, const afs_fs_stat *st)
{
    afs__side_from_stat(&it->base, st);
    it->local = it->base;
    it->local.etag = NULL;
}

/*
 * Is the local file a tiered placeholder right now? Asked before any read
 * of local bytes for upload or comparison, whatever the scan concluded:
 * a placeholder's holes must never reach the cloud.
 */
static int refuse_placeholder(afs__apply *a, afs__item *it, const char *abs)
{
    afs__tier_probe pr;
    afs_fs_stat st;
    if (it->placeholder_from)
        return afs__error_set(AFS_ECONDITION, "%s is a tiered placeholder renamed from %s, "
                              "and the rename could not be carried to the share; recall it "
                              "(its content is read from %s) and it syncs as a new file", abs,
                              it->placeholder_from, it->placeholder_from);
    if (it->local_placeholder)
        goto refuse;
    if (!a->s->probe_markers)
        return 0;
    memset(&st, 0, sizeof(st));
    if (FS(a)->stat(FSCTX(a), abs, &st) != 0) {
        afs_error_clear();
        return 0; /* the caller's own open reports it */
    }
    if (afs__tier_probe_path(a->s->fs, abs, &st, &pr) != 0) {
        afs_error_clear();
        return 0;
    }
    if (!pr.has_marker || pr.state == AFS_TIER_STATE_FULL)
        return 0;
    if (afs__tier_rewritten_in_full(a->s->fs, abs))
        return 0; /* no hole left: every byte is the user's */
refuse:
    return afs__error_set(AFS_ECONDITION, "%s is a tiered placeholder; its content is in the "
                          "cloud and is never uploaded or compared from here", abs);
}

/* ---- transfers ---- */

/* A fetched copy of a cloud file in a temp file beside its target. */
typedef struct fetched {
    char *temp;     /* absolute temp path, NULL if none */
    char *dir_abs;  /* its directory */
    uint8_t md5[AFS__MD5_LEN];
    uint64_t size;
} fetched;

static void fetched_drop(afs__apply *a, fetched *f)
{
    if (f->temp) {
        FS(a)->unlink(FSCTX(a), f->temp);
        f->temp = NULL;
    }
}

/* Download cloud `rel` (etag, size, mtime) into a temp file in the local
 * directory `dir_rel`, hashing as it goes, fsync'd and with its time set. */
static int fetch(afs__apply *a, const char *rel, const afs__side *cloud, const char *dir_rel,
                 fetched *f)
{
    char name[64];
    uint64_t rnd = 0, off = 0;
    unsigned char *buf = NULL;
    void *fh = NULL;
    afs__md5 md5;
    int rc;

    memset(f, 0, sizeof(*f));
    if ((rc = ensure_local_dir(a, dir_rel)) != 0)
        return rc;
    if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        rnd = (uint64_t)afs__now_ns();
    snprintf(name, sizeof(name), AFS__TEMP_PREFIX "%016llx.tmp", (unsigned long long)rnd);
    f->dir_abs = abs_path(a, dir_rel);
    if (!f->dir_abs)
        return AFS_ENOMEM;
    f->temp = afs__arena_alloc(&a->s->arena, strlen(f->dir_abs) + strlen(name) + 2);
    if (!f->temp)
        return a->fatal = AFS_ENOMEM;
    sprintf(f->temp, "%s/%s", f->dir_abs, name);
    if ((rc = FS(a)->open(FSCTX(a), f->temp, AFS_FS_O_WRITE | AFS_FS_O_CREATE | AFS_FS_O_EXCL,
                          &fh)) != 0) {
        f->temp = NULL;
        return rc;
    }
    if (!(buf = afs__malloc(CHUNK))) {
        rc = a->fatal = AFS_ENOMEM;
        goto done;
    }
    afs__md5_init(&md5);
    for (;;) {
        size_t n = 0;
        rc = afs_storage_read(a->s->storage, rel, off, buf, CHUNK, &n, cloud->etag);
        if (rc != 0)
            break;
        if (n == 0)
            break;
        if ((rc = FS(a)->write(FSCTX(a), fh, off, buf, n)) != 0)
            break;
        afs__md5_update(&md5, buf, n);
        off += n;
        if (n < CHUNK)
            break;
    }
    afs__md5_final(&md5, f->md5);
    if (rc == 0 && off != cloud->size)
        rc = afs__error_set(AFS_ECONDITION, "cloud file %s is %llu bytes, expected %llu; it "
                            "changed during the download and is synced again next session", rel,
                            (unsigned long long)off, (unsigned long long)cloud->size);
    if (rc == 0 && FS(a)->fsync)
        rc = FS(a)->fsync(FSCTX(a), fh);
done:
    free(buf);
    if (fh) {
        int crc = FS(a)->close(FSCTX(a), fh);
        if (rc == 0)
            rc = crc;
    }
    if (rc == 0 && FS(a)->set_times)
        rc = FS(a)->set_times(FSCTX(a), f->temp, AFS_TIME_OMIT, cloud->mtime_ns);
    if (rc != 0)
        fetched_drop(a, f);
    f->size = off;
    return rc;
}

/* Move a fetched temp onto the item's local path (the item's local side must
 * still hold), and record the new base. */
static int place(afs__apply *a, afs__item *it, fetched *f)
{
    char *abs = abs_path(a, it->path);
    afs_fs_stat st;
    int rc;

    if (!abs)
        return AFS_ENOMEM;
    if ((rc = recheck_local(a, it, abs)) != 0)
        goto fail;
    rc = FS(a)->rename(FSCTX(a), f->temp, abs, it->local.exists ? 0 : AFS_FS_RENAME_NOREPLACE);
    if (rc == AFS_EEXISTS)
        rc = afs__error_set(AFS_ECONDITION, "%s appeared on the server during the sync "
                            "session; it is synced again next session", abs);
    if (rc != 0)
        goto fail;
    f->temp = NULL;
    if (FS(a)->sync_dir)
        FS(a)->sync_dir(FSCTX(a), f->dir_abs);
    memset(&st, 0, sizeof(st));
    if ((rc = FS(a)->stat(FSCTX(a), abs, &st)) != 0)
        return rc;
    set_local_base(it, &st);
    it->base.etag = it->cloud.etag;
    it->base_has_md5 = true;
    memcpy(it->base_md5, f->md5, AFS__MD5_LEN);
    return 0;
fail:
    fetched_drop(a, f);
    return rc;
}

/* The inputs of an upload of the item's local file to `cloud_rel`; strings
 * in the arena, so a transfer thread may run it. */
static int upload_prepare(afs__apply *a, afs__item *it, const char *cloud_rel,
                          unsigned int cond, const char *if_match, afs__upload *u)
{
    int rc;
    memset(u, 0, sizeof(*u));
    if (!(u->abs = abs_path(a, it->path)))
        return AFS_ENOMEM;
    if ((rc = refuse_placeholder(a, it, u->abs)) != 0)
        return rc; /* its local bytes are holes */
    u->fsops = FS(a);
    u->fsctx = FSCTX(a);
    u->storage = a->s->storage;
    u->cloud_rel = cloud_rel;
    u->cond = cond;
    u->if_match = if_match;
    u->expect = it->local.exists;
    u->expect_size = it->local.size;
    u->expect_mtime_ns = it->local.mtime_ns;
    u->writer = a->server_name;
    u->writer_off = a->s->ep ? &a->s->ep->writer_tag_off : NULL;
    return 0;
}

/* Record a finished upload: the item's new base, counters, journal. */
static void upload_record(afs__apply *a, afs__item *it, const afs__upload *u)
{
    it->base.exists = true;
    it->base.type = AFS_TYPE_FILE;
    it->base.size = u->before.size;
    it->base.mtime_ns = u->before.mtime_ns;
    it->base.file_id = u->before.file_id;
    it->base.ctime_ns = u->before.ctime_ns;
    it->base.etag = afs__arena_strdup(&a->s->arena, u->out.etag);
    if (!it->base.etag)
        a->fatal = AFS_ENOMEM;
    it->base_has_md5 = u->has_md5;
    memcpy(it->base_md5, u->md5, AFS__MD5_LEN);
    it->cloud = it->base;
    if (a->res) {
        a->res->files_uploaded++;
        a->res->bytes_uploaded += u->before.size;
    }
    a->prog.bytes_done += u->before.size;
    afs__apply_journal(a, AFS__JOP_PUT, u->cloud_rel, NULL, AFS_TYPE_FILE, u->before.size,
                       u->before.mtime_ns, u->out.etag, u->has_md5 ? u->md5 : NULL);
}

/* Upload the item's local file to `cloud_rel` with `cond` and record the base. */
static int upload_as(afs__apply *a, afs__item *it, const char *cloud_rel, unsigned int cond,
                     const char *if_match)
{
    afs__upload u;
    int rc;

    if ((rc = upload_prepare(a, it, cloud_rel, cond, if_match, &u)) != 0)
        return rc;
    if ((rc = afs__upload_run(&u)) != 0)
        return rc;
    upload_record(a, it, &u);
    return 0;
}

/* The condition of an item's plain upload: replace what the scan saw in the
 * cloud, or create. */
static void upload_condition(const afs__item *it, unsigned int *cond, const char **if_match)
{
    if (it->cloud.exists && it->cloud.type == AFS_TYPE_FILE) {
        *cond = AFS_COND_IF_MATCH;
        *if_match = it->cloud.etag;
    } else {
        *cond = AFS_COND_CREATE_ONLY;
        *if_match = NULL;
    }
}

static int do_upload(afs__apply *a, afs__item *it)
{
    unsigned int cond;
    const char *if_match;
    upload_condition(it, &cond, &if_match);
    return upload_as(a, it, it->path, cond, if_match);
}

static int download_whole(afs__apply *a, afs__item *it);

/* The cloud file arrives as a placeholder, or a placeholder follows the cloud. */
static int download_placeholder(afs__apply *a, afs__item *it)
{
    afs_fs_stat st;
    int rc;
    memset(&st, 0, sizeof(st));
    if (it->local_placeholder) {
        rc = afs__tier_placeholder_update(a->s->ep, it->path, it->cloud.size,
                                          it->cloud.mtime_ns, it->cloud.etag, &st);
    } else {
        char *dir = parent_dup(a, it->path);
        if (!dir)
            return AFS_ENOMEM;
        if ((rc = ensure_local_dir(a, dir)) != 0)
            return rc;
        rc = afs__tier_placeholder_create(a->s->ep, it->path, it->path, it->cloud.size,
                                          it->cloud.mtime_ns, it->cloud.etag, &st);
        if (rc == 0)
            it->made_placeholder = true;
    }
    if (rc != 0)
        return rc;
    set_local_base(it, &st);
    it->base.size = it->cloud.size;
    it->base.mtime_ns = it->cloud.mtime_ns;
    it->base.etag = it->cloud.etag;
    it->base_has_md5 = false;
    it->local_placeholder = true;
    it->local = it->base;
    it->local.etag = NULL;
    return 0;
}

static int do_download(afs__apply *a, afs__item *it)
{
    /* Files below the minimum tierable size come down whole: a placeholder
     * would save nothing (reference: "only files greater than 64 KiB"). */
    if (it->cloud.type == AFS_TYPE_FILE &&
        ((it->local_placeholder && !a->s->proactive) ||
         (!it->local.exists && a->s->placeholders_for_new &&
          it->cloud.size >= a->s->min_placeholder_size))) {
        int rc = download_placeholder(a, it);
        if (rc != AFS_ENOTSUP)
            return rc;
        afs_error_clear(); /* no tiering on this file system: download it whole */
    }
    if (it->local_placeholder) {
        /* Proactive recall: follow the cloud, then bring the content down. */
        int rc = download_placeholder(a, it);
        if (rc == 0)
            rc = afs_tier_recall(a->s->ep, it->path, NULL, NULL);
        if (rc == 0 && a->res) {
            a->res->files_downloaded++;
            a->res->bytes_downloaded += it->cloud.size;
        }
        if (rc == 0) {
            afs_fs_stat st;
            char *abs = abs_path(a, it->path);
            memset(&st, 0, sizeof(st));
            if (!abs)
                return AFS_ENOMEM;
            if ((rc = FS(a)->stat(FSCTX(a), abs, &st)) == 0) {
                set_local_base(it, &st);
                it->base.etag = it->cloud.etag;
                it->local_placeholder = false;
            }
        }
        return rc;
    }
    return download_whole(a, it);
}

static int download_whole(afs__apply *a, afs__item *it)
{
    char *dir;
    fetched f;
    int rc;
    dir = parent_dup(a, it->path);
    if (!dir)
        return AFS_ENOMEM;
    if ((rc = fetch(a, it->path, &it->cloud, dir, &f)) != 0)
        return rc;
    if ((rc = place(a, it, &f)) != 0)
        return rc;
    if (a->res) {
        a->res->files_downloaded++;
        a->res->bytes_downloaded += f.size;
    }
    a->prog.bytes_done += f.size;
    return 0;
}

static int do_mkdir_cloud(afs__apply *a, afs__item *it)
{
    afs_storage_entry e;
    int rc = afs_storage_mkdir(a->s->storage, it->path);
    if (rc == AFS_EEXISTS) {
        afs_error_clear();
        if (afs_storage_stat(a->s->storage, it->path, &e) == 0 && e.type == AFS_TYPE_DIR)
            rc = 0;
        else
            return afs__error_set(AFS_ECONDITION, "a file named %s appeared in the share; it is "
                                  "synced again next session", it->path);
    } else if (rc == 0) {
        if (a->res)
            a->res->dirs_created_cloud++;
        afs__apply_journal(a, AFS__JOP_MKDIR, it->path, NULL, AFS_TYPE_DIR, 0, 0, NULL, NULL);
    }
    if (rc != 0)
        return rc;
    it->base = it->local;
    it->base.exists = true;
    it->base.type = AFS_TYPE_DIR;
    it->base.etag = "";
    return 0;
}

static int do_mkdir_local(afs__apply *a, afs__item *it)
{
    char *abs = abs_path(a, it->path);
    char *dir;
    afs_fs_stat st;
    int rc;
    if (!abs)
        return AFS_ENOMEM;
    dir = parent_dup(a, it->path);
    if (!dir)
        return AFS_ENOMEM;
    if ((rc = ensure_local_dir(a, dir)) != 0)
        return rc;
    rc = FS(a)->mkdir(FSCTX(a), abs);
    if (rc == AFS_EEXISTS)
        rc = 0;
    else if (rc == 0 && a->res)
        a->res->dirs_created_local++;
    if (rc != 0)
        return rc;
    memset(&st, 0, sizeof(st));
    if ((rc = FS(a)->stat(FSCTX(a), abs, &st)) != 0)
        return rc;
    if (st.type != AFS_TYPE_DIR)
        return afs__error_set(AFS_ECONDITION, "%s appeared as a file on the server%s", abs,
                              in_the_way(st.type));
    set_local_base(it, &st);
    it->base.etag = it->cloud.etag ? it->cloud.etag : "";
    return 0;
}

static void forget(afs__item *it)
{
    memset(&it->base, 0, sizeof(it->base));
    it->base_has_md5 = false;
}

static int do_delete_cloud(afs__apply *a, afs__item *it)
{
    int rc;
    uint32_t type = it->cloud.type;
    if (type == AFS_TYPE_DIR) {
        rc = afs_storage_rmdir(a->s->storage, it->path);
        if (rc == AFS_ENOTEMPTY) {
            /* Someone added to it meanwhile: those items were kept (modify
             * beats delete), so the directory stays on both sides. */
            afs_error_clear();
            it->base = it->local.exists ? it->local : it->base;
            return 0;
        }
    } else {
        rc = afs_storage_remove(a->s->storage, it->path, it->cloud.etag);
        if (rc == AFS_ECONDITION)
            return afs__error_set(AFS_ECONDITION, "%s changed in the share after the server "
                                  "deleted it; the newer version is kept and synced next "
                                  "session", it->path);
    }
    if (rc == AFS_ENOTFOUND) {
        afs_error_clear();
        rc = 0;
    } else if (rc == 0) {
        if (a->res)
            a->res->deleted_cloud++;
        afs__apply_journal(a, AFS__JOP_DELETE, it->path, NULL, type, 0, 0, NULL, NULL);
    }
    if (rc == 0)
        forget(it);
    memset(&it->cloud, 0, sizeof(it->cloud));
    return rc;
}

static int do_delete_local(afs__apply *a, afs__item *it)
{
    char *abs = abs_path(a, it->path);
    int rc;
    if (!abs)
        return AFS_ENOMEM;
    if (it->local.type == AFS_TYPE_DIR) {
        rc = FS(a)->rmdir(FSCTX(a), abs);
        if (rc == AFS_ENOTEMPTY) {
            /* Items the server added meanwhile, or items never synced,
             * keep the directory; it is no longer shared with the cloud. */
            afs_error_clear();
            if (it->cloud.exists)
                return 0;
            forget(it);
            return 0;
        }
    } else {
        if ((rc = recheck_local(a, it, abs)) != 0)
            return rc;
        rc = FS(a)->unlink(FSCTX(a), abs);
    }
    if (rc == AFS_ENOTFOUND) {
        afs_error_clear();
        rc = 0;
    } else if (rc == 0 && a->res) {
        a->res->deleted_local++;
    }
    if (rc == 0) {
        forget(it);
        memset(&it->local, 0, sizeof(it->local));
    }
    return rc;
}

/* Hash the local file, checking it is still what the scan saw. */
int afs__apply_hash_local(afs__apply *a, afs__item *it, uint8_t md5[AFS__MD5_LEN])
{
    char *abs = abs_path(a, it->path);
    unsigned char *buf;
    void *fh = NULL;
    uint64_t off = 0;
    afs__md5 ctx;
    int rc;
    if (!abs)
        return AFS_ENOMEM;
    if ((rc = recheck_local(a, it, abs)) != 0 || (rc = refuse_placeholder(a, it, abs)) != 0)
        return rc;
    if ((rc = FS(a)->open(FSCTX(a), abs, AFS_FS_O_READ, &fh)) != 0)
        return rc;
    if (!(buf = afs__malloc(CHUNK))) {
        FS(a)->close(FSCTX(a), fh);
        return a->fatal = AFS_ENOMEM;
    }
    afs__md5_init(&ctx);
    for (;;) {
        size_t n = 0;
        if ((rc = FS(a)->read(FSCTX(a), fh, off, buf, CHUNK, &n)) != 0 || n == 0)
            break;
        afs__md5_update(&ctx, buf, n);
        off += n;
    }
    afs__md5_final(&ctx, md5);
    free(buf);
    FS(a)->close(FSCTX(a), fh);
    return rc;
}

/* The first free conflict-copy name of `rel` by `who`, in `out` (a relative path). */
static int conflict_path(afs__apply *a, const char *rel, const char *who, char **outp)
{
    char *out;
    size_t cap;
    char *dir, name[AFS_NAME_MAX + 1];
    const char *base = strrchr(rel, '/');
    base = base ? base + 1 : rel;
    dir = parent_dup(a, rel);
    if (!dir)
        return AFS_ENOMEM;
    for (unsigned int n = 0; n < AFS__CONFLICT_MAX; n++) {
        afs_storage_entry e;
        afs_fs_stat st;
        afs__item *other;
        char *abs;
        int rc;
        if ((rc = afs__conflict_name(base, who, n, name, sizeof(name))) != 0)
            return rc;
        cap = strlen(dir) + strlen(name) + 2;
        if (!(out = afs__arena_alloc(&a->s->arena, cap)))
            return a->fatal = AFS_ENOMEM;
        snprintf(out, cap, "%s%s%s", dir, dir[0] ? "/" : "", name);
        *outp = out;
        other = afs__map_get(&a->s->items, out);
        if (other && (other->local.exists || other->cloud.exists || other->base.exists))
            continue;
        if (!(abs = abs_path(a, out)))
            return AFS_ENOMEM;
        memset(&st, 0, sizeof(st));
        if (FS(a)->stat(FSCTX(a), abs, &st) != AFS_ENOTFOUND)
            continue;
        if (afs_storage_stat(a->s->storage, out, &e) != AFS_ENOTFOUND)
            continue;
        afs_error_clear();
        return 0;
    }
    return afs__error_set(AFS_ECONFLICT_LIMIT, "conflict name exists: %s already has %d "
                          "conflict copies; resolve some and it syncs again", rel,
                          AFS__CONFLICT_MAX);
}

/*
 * The server's file loses its name: it moves to "<name>-<server>.<ext>" on
 * the server (never replacing anything) and is uploaded create-only under
 * that name. A failed upload is the copy's own per-item error: it is an
 * ordinary new file next session.
 */
static int local_copy_aside(afs__apply *a, afs__item *it)
{
    char *crel = NULL;
    char *abs, *cabs;
    afs__item *copy;
    int rc;

    if ((rc = conflict_path(a, it->path, a->server_name, &crel)) != 0)
        return rc;
    if (!(abs = abs_path(a, it->path)) || !(cabs = abs_path(a, crel)))
        return AFS_ENOMEM;
    if ((rc = recheck_local(a, it, abs)) != 0)
        return rc;
    if ((rc = FS(a)->rename(FSCTX(a), abs, cabs, AFS_FS_RENAME_NOREPLACE)) != 0)
        return rc;
    if (!(copy = afs__session_item(a->s, crel, strlen(crel))))
        return a->fatal = AFS_ENOMEM;
    copy->local = it->local;
    copy->handled = true;
    memset(&it->local, 0, sizeof(it->local));
    if ((rc = upload_as(a, copy, crel, AFS_COND_CREATE_ONLY, NULL)) == 0)
        rc = afs__apply_save(a, copy);
    else if (!a->fatal)
        rc = afs__session_item_error(a->s, crel, rc);
    return a->fatal ? a->fatal : rc;
}

/*
 * The writer of the share's version when the journal did not name it (a
 * version learned by a full enumeration, an item retried after a failure):
 * the writer tag stored with the object, if it still vouches for this
 * version. One metadata read, made only when a conflict copy is named.
 * The rename that follows is conditional on the version's etag, so a tag
 * read from a newer version never names this one's copy.
 */
static const char *cloud_writer_of(afs__apply *a, afs__item *it, char *buf, size_t cap)
{
    char tag[AFS__WRITER_TAG_MAX + 1];
    size_t len = 0;

    if (it->cloud_writer)
        return it->cloud_writer;
    if (afs_storage_meta_get(a->s->storage, it->path, AFS__WRITER_KEY, tag, sizeof(tag),
                             &len) != 0 ||
        len >= sizeof(tag) || !afs__writer_tag_parse(tag, it->cloud.size, it->cloud.mtime_ns,
                                                     buf, cap)) {
        afs_error_clear(); /* no tag, not supported, or not this version's: an edit in the share */
        return "Cloud";
    }
    return buf;
}

/*
 * The share's file loses its name: it moves (conditional on its etag) to
 * "<name>-<writer>.<ext>" in the share, writer being the server that wrote
 * it or "Cloud" for an edit made in the share. The rename is journaled;
 * *copy_out is the copy's item, its cloud side set.
 */
static int cloud_copy_aside(afs__apply *a, afs__item *it, afs__item **copy_out, char **crel_out)
{
    char writer[AFS_NAME_MAX + 1];
    const char *who = cloud_writer_of(a, it, writer, sizeof(writer));
    char *crel = NULL;
    afs_storage_entry e;
    afs__item *copy;
    int rc;

    if ((rc = conflict_path(a, it->path, who, &crel)) != 0)
        return rc;
    if ((rc = afs_storage_rename(a->s->storage, it->path, crel, it->cloud.etag,
                                 AFS_STORAGE_RENAME_NOREPLACE)) != 0)
        return rc;
    if (!(copy = afs__session_item(a->s, crel, strlen(crel))))
        return a->fatal = AFS_ENOMEM;
    copy->handled = true;
    copy->cloud = it->cloud;
    if (afs_storage_stat(a->s->storage, crel, &e) == 0)
        copy->cloud.etag = afs__arena_strdup(&a->s->arena, e.etag);
    afs__apply_journal(a, AFS__JOP_RENAME, it->path, crel, AFS_TYPE_FILE, it->cloud.size,
                       it->cloud.mtime_ns, copy->cloud.etag, NULL);
    memset(&it->cloud, 0, sizeof(it->cloud));
    *copy_out = copy;
    *crel_out = crel;
    return 0;
}

/* The server's version loses: it becomes the server-named copy; the cloud
 * version takes the name. */
static int local_loses(afs__apply *a, afs__item *it, fetched *f)
{
    int rc;

    if ((rc = local_copy_aside(a, it)) != 0)
        return rc;
    if (!f->temp) {
        char *dir = parent_dup(a, it->path);
        if (!dir)
            return AFS_ENOMEM;
        if ((rc = fetch(a, it->path, &it->cloud, dir, f)) != 0)
            return rc;
    }
    if ((rc = place(a, it, f)) != 0)
        return rc;
    if (a->res) {
        a->res->conflicts++;
        a->res->files_downloaded++;
        a->res->bytes_downloaded += f->size;
    }
    return 0;
}

/*
 * The cloud's version loses: it moves to "<name>-<writer>.<ext>" in the
 * share (writer: the server that wrote it, or "Cloud" for an edit made in
 * the share), the server's version is uploaded under the name, and the copy
 * comes down.
 */
static int cloud_loses(afs__apply *a, afs__item *it, fetched *f)
{
    char *crel = NULL;
    afs__item *copy = NULL;
    int rc;

    if ((rc = cloud_copy_aside(a, it, &copy, &crel)) != 0)
        return rc;
    if ((rc = upload_as(a, it, it->path, AFS_COND_CREATE_ONLY, NULL)) != 0)
        return rc;
    if ((rc = afs__apply_save(a, it)) != 0)
        return rc;
    /* Bring the copy down; a temp fetched for the comparison is reused. */
    if (f->temp) {
        char *cabs = abs_path(a, crel);
        if (!cabs)
            return AFS_ENOMEM;
        rc = FS(a)->rename(FSCTX(a), f->temp, cabs, AFS_FS_RENAME_NOREPLACE);
        if (rc == 0) {
            afs_fs_stat st;
            f->temp = NULL;
            memset(&st, 0, sizeof(st));
            if ((rc = FS(a)->stat(FSCTX(a), cabs, &st)) == 0) {
                set_local_base(copy, &st);
                copy->base.etag = copy->cloud.etag;
                copy->base_has_md5 = true;
                memcpy(copy->base_md5, f->md5, AFS__MD5_LEN);
            }
        }
    } else {
        char *dir = parent_dup(a, crel);
        if (!dir)
            return AFS_ENOMEM;
        if ((rc = fetch(a, crel, &copy->cloud, dir, f)) == 0)
            rc = place(a, copy, f);
    }
    if (rc == 0)
        rc = afs__apply_save(a, copy);
    else if (!a->fatal)
        afs__session_item_error(a->s, crel, rc), rc = 0;
    if (rc == 0 && a->res)
        a->res->conflicts++;
    return rc;
}

/*
 * Both sides changed the file: equal content is adopted; otherwise the most
 * recent LastWriteTime keeps the name (docs/sync.md#conflicts).
 */
static int do_compare(afs__apply *a, afs__item *it)
{
    uint8_t lmd5[AFS__MD5_LEN];
    fetched f;
    bool equal;
    int rc;

    memset(&f, 0, sizeof(f));
    if ((rc = afs__apply_hash_local(a, it, lmd5)) != 0)
        return rc;
    if (it->local.size != it->cloud.size) {
        equal = false;
    } else if (it->cloud_has_md5) {
        equal = memcmp(lmd5, it->cloud_md5, AFS__MD5_LEN) == 0;
    } else {
        char *dir = parent_dup(a, it->path);
        if (!dir)
            return AFS_ENOMEM;
        if ((rc = fetch(a, it->path, &it->cloud, dir, &f)) != 0)
            return rc;
        equal = memcmp(lmd5, f.md5, AFS__MD5_LEN) == 0;
    }
    if (equal) {
        fetched_drop(a, &f);
        it->base = it->local;
        it->base.etag = it->cloud.etag;
        it->base_has_md5 = true;
        memcpy(it->base_md5, lmd5, AFS__MD5_LEN);
        if (a->res)
            a->res->adopted++;
        return 0;
    }
    if (it->local.mtime_ns > it->cloud.mtime_ns)
        rc = cloud_loses(a, it, &f);
    else
        rc = local_loses(a, it, &f);
    fetched_drop(a, &f);
    return rc;
}

/* Authoritative upload: the server's version wins without a conflict copy. */
static int do_compare_authoritative(afs__apply *a, afs__item *it)
{
    uint8_t lmd5[AFS__MD5_LEN];
    fetched f;
    int rc;
    memset(&f, 0, sizeof(f));
    if (it->local.size == it->cloud.size) {
        char *dir;
        if ((rc = afs__apply_hash_local(a, it, lmd5)) != 0)
            return rc;
        dir = parent_dup(a, it->path);
        if (!dir)
            return AFS_ENOMEM;
        if (it->cloud_has_md5) {
            memcpy(f.md5, it->cloud_md5, AFS__MD5_LEN);
        } else if ((rc = fetch(a, it->path, &it->cloud, dir, &f)) != 0) {
            return rc;
        }
        fetched_drop(a, &f);
        if (memcmp(lmd5, f.md5, AFS__MD5_LEN) == 0) {
            afs_storage_entry out;
            /* Same content: only metadata travels (reference: "metadata-only
             * changes ... as metadata-only updates"). */
            if (it->local.mtime_ns != it->cloud.mtime_ns) {
                rc = afs_storage_set_props(a->s->storage, it->path, it->local.mtime_ns, 0,
                                           it->cloud.etag, &out);
                if (rc == AFS_ENOTSUP) {
                    afs_error_clear();
                    return do_upload(a, it);
                }
                if (rc != 0)
                    return rc;
                it->cloud.etag = afs__arena_strdup(&a->s->arena, out.etag);
                it->cloud.mtime_ns = it->local.mtime_ns;
                if (a->res)
                    a->res->metadata_updates++;
                afs__apply_journal(a, AFS__JOP_PROPS, it->path, NULL, AFS_TYPE_FILE,
                                   it->local.size, it->local.mtime_ns, out.etag, lmd5);
            } else if (a->res) {
                a->res->adopted++;
            }
            it->base = it->local;
            it->base.etag = it->cloud.etag;
            it->base_has_md5 = true;
            memcpy(it->base_md5, lmd5, AFS__MD5_LEN);
            return 0;
        }
    }
    return do_upload(a, it);
}

static int do_type_conflict(afs__apply *a, afs__item *it);

static int do_replace_cloud(afs__apply *a, afs__item *it)
{
    int rc;
    afs__side want = it->local, was = it->cloud;
    if ((rc = do_delete_cloud(a, it)) != 0)
        return rc;
    if (it->base.exists) {
        /* The directory in the share kept content changed elsewhere (modify
         * beats delete), so it stays: the server's file cannot take its
         * name and becomes a conflict copy, as if both had changed. */
        it->local = want;
        it->cloud = was;
        return want.type == AFS_TYPE_FILE ? do_type_conflict(a, it) : 0;
    }
    it->local = want;
    return want.type == AFS_TYPE_DIR ? do_mkdir_cloud(a, it) : do_upload(a, it);
}

static int do_replace_local(afs__apply *a, afs__item *it)
{
    int rc;
    afs__side want = it->cloud;
    if ((rc = do_delete_local(a, it)) != 0)
        return rc;
    if (it->base.exists) {
        /* The server's directory kept content (new or never-synced items),
         * so it stays: the share's file becomes a conflict copy. */
        it->cloud = want;
        return want.type == AFS_TYPE_FILE && it->local.exists &&
                       it->local.type == AFS_TYPE_DIR
                   ? do_type_conflict(a, it)
                   : 0;
    }
    it->cloud = want;
    return want.type == AFS_TYPE_DIR ? do_mkdir_local(a, it) : do_download(a, it);
}

/* A file on one side, a directory on the other: the file becomes a conflict copy. */
static int do_type_conflict(afs__apply *a, afs__item *it)
{
    char *crel = NULL;
    afs__item *copy = NULL;
    fetched f;
    char *dir;
    int rc;

    if (it->local.type == AFS_TYPE_FILE) {
        if ((rc = local_copy_aside(a, it)) != 0)
            return rc;
        if (a->res)
            a->res->conflicts++;
        return do_mkdir_local(a, it);
    }
    /* The cloud holds the file. */
    if ((rc = cloud_copy_aside(a, it, &copy, &crel)) != 0)
        return rc;
    dir = parent_dup(a, crel);
    if (!dir)
        return AFS_ENOMEM;
    if ((rc = fetch(a, crel, &copy->cloud, dir, &f)) == 0 && (rc = place(a, copy, &f)) == 0)
        rc = afs__apply_save(a, copy);
    else if (!a->fatal)
        afs__session_item_error(a->s, crel, rc), rc = 0;
    if (rc != 0)
        return rc;
    if (a->res)
        a->res->conflicts++;
    return do_mkdir_cloud(a, it);
}

static int do_record(afs__apply *a, afs__item *it)
{
    (void)a;
    it->base = it->local;
    it->base.exists = true;
    it->base.etag = it->cloud.etag ? it->cloud.etag : "";
    return 0;
}

static int apply_one(afs__apply *a, afs__item *it, bool authoritative)
{
    switch (it->action) {
    case AFS__ACT_UPLOAD: return do_upload(a, it);
    case AFS__ACT_DOWNLOAD: return do_download(a, it);
    case AFS__ACT_MKDIR_CLOUD: return do_mkdir_cloud(a, it);
    case AFS__ACT_MKDIR_LOCAL: return do_mkdir_local(a, it);
    case AFS__ACT_DELETE_CLOUD: return do_delete_cloud(a, it);
    case AFS__ACT_DELETE_LOCAL: return do_delete_local(a, it);
    case AFS__ACT_FORGET: forget(it); return 0;
    case AFS__ACT_RECORD: return do_record(a, it);
    case AFS__ACT_COMPARE:
        return authoritative ? do_compare_authoritative(a, it) : do_compare(a, it);
    case AFS__ACT_REPLACE_CLOUD: return do_replace_cloud(a, it);
    case AFS__ACT_REPLACE_LOCAL: return do_replace_local(a, it);
    case AFS__ACT_TYPE_CONFLICT: return do_type_conflict(a, it);
    default: return 0;
    }
}

static int report(afs__apply *a)
{
    int rc;
    if (!a->progress)
        return 0;
    rc = a->progress(&a->prog, a->progress_payload);
    if (rc != 0)
        afs__error_set(rc, "sync cancelled by the progress callback (it returned %d); the "
                       "work done so far is kept", rc);
    return rc;
}

/* After an item's action: record its base or its error, count it, and
 * report progress unless told to keep quiet (a cancel is under way). */
static int item_done(afs__apply *a, afs__item *it, int rc, bool quiet)
{
    if (a->fatal)
        return a->fatal;
    if (rc != 0)
        afs__session_item_error(a->s, it->path, rc);
    else if ((rc = afs__apply_save(a, it)) != 0)
        return rc;
    a->prog.items_done++;
    if (!quiet && a->progress && (a->prog.items_done % PROGRESS_EVERY) == 0)
        return report(a);
    return 0;
}

/* ---- uploads on transfer threads (transfer.h) ---- */

/* Actions the session thread may carry out while uploads are in flight:
 * they touch no path an upload depends on (plan order puts parents first,
 * so an upload in flight is never below a later action's path). */
static bool beside_uploads(afs__action action)
{
    return action == AFS__ACT_MKDIR_CLOUD || action == AFS__ACT_RECORD ||
           action == AFS__ACT_FORGET;
}

/* Named: abidiff pairs anonymous enums across builds by position. */
typedef enum collect_mode { COLLECT_READY, COLLECT_SOME, COLLECT_ALL } collect_mode;

/*
 * Take back finished uploads and record them: those already finished, a
 * thread's worth (the queue is full), or every one in flight. `rc` is the
 * session's result so far; once it is not 0 (a cancel), uploads are still
 * recorded -- they happened -- but progress is no longer reported. Returns
 * the new result.
 */
static int collect(afs__apply *a, afs__xfer *x, collect_mode mode, int rc)
{
    afs__xfer_job *j;
    if (mode == COLLECT_SOME)
        afs__xfer_wait(x, a->threads);
    else if (mode == COLLECT_ALL)
        afs__xfer_wait(x, afs__xfer_pending(x));
    while ((j = afs__xfer_next(x)) != NULL) {
        afs__item *it = j->item;
        if (!a->fatal) {
            int irc;
            if (j->rc == 0)
                upload_record(a, it, &j->up);
            else
                afs_error_set_str(j->rc, j->message ? j->message : afs_strerror(j->rc));
            irc = item_done(a, it, j->rc, rc != 0);
            if (rc == 0)
                rc = irc;
        }
        free(j->message);
        free(j);
    }
    return a->fatal ? a->fatal : rc;
}

/* Hand a plain upload to the transfer threads. */
static int submit_upload(afs__apply *a, afs__xfer *x, afs__item *it)
{
    afs__xfer_job *j;
    unsigned int cond;
    const char *if_match;
    int rc;

    /* A couple of jobs a thread queued, no more: memory stays bounded. */
    rc = collect(a, x, afs__xfer_pending(x) >= 2 * (size_t)a->threads ? COLLECT_SOME
                                                                      : COLLECT_READY, 0);
    if (rc != 0)
        return rc;
    if (!(j = afs__calloc(1, sizeof(*j))))
        return a->fatal = AFS_ENOMEM;
    upload_condition(it, &cond, &if_match);
    if ((rc = upload_prepare(a, it, it->path, cond, if_match, &j->up)) != 0) {
        /* This item's failure (a placeholder refused, say), not the
         * session's: the other uploads go on. */
        free(j);
        return item_done(a, it, rc, false);
    }
    j->item = it;
    afs__xfer_submit(x, j);
    return 0;
}

int afs__apply_run(afs__apply *a, const afs__plan *plan)
{
    afs__xfer *x = NULL;
    size_t uploads = 0;
    int rc;

    a->prog.phase = AFS_SYNC_PHASE_APPLY;
    a->prog.items_total = plan->count;
    a->prog.bytes_total = plan->bytes;
    if ((rc = report(a)) != 0)
        return rc;
    for (size_t i = 0; i < plan->count; i++)
        uploads += plan->actions[i]->action == AFS__ACT_UPLOAD;
    /* No more threads than uploads, and by default no more than a quarter
     * of them (at least a few): starting a thread costs more than a small
     * upload, and a group commit is served as well by fewer (100 uploads:
     * 25 threads took 54 ms where 100 took 61, docs/benchmarks.md). Without
     * threads (none wanted, or none to be had) uploads run inline. */
    if (a->threads_default && uploads / 4 < a->threads)
        a->threads = uploads / 4 > AFS__SYNC_THREADS ? (unsigned int)(uploads / 4)
                                                      : AFS__SYNC_THREADS;
    if (a->threads > uploads)
        a->threads = (unsigned int)uploads;
    if (a->threads > 1 && uploads > 1 && afs__xfer_start(&x, a->threads) != 0) {
        afs__log(AFS_LOG_WARN, "sync: %s; uploading on one thread", afs_error_last());
        afs_error_clear();
        x = NULL;
    }
    for (size_t i = 0; i < plan->count && rc == 0; i++) {
        afs__item *it = plan->actions[i];
        if (it->handled)
            continue;
        if (x && it->action == AFS__ACT_UPLOAD) {
            rc = submit_upload(a, x, it);
            continue;
        }
        if (x && !beside_uploads(it->action) && (rc = collect(a, x, COLLECT_ALL, 0)) != 0)
            break;
        rc = item_done(a, it, apply_one(a, it, a->s->authoritative), false);
        if (rc == 0 && x)
            rc = collect(a, x, COLLECT_READY, 0);
    }
    if (x) {
        /* Every upload in flight finishes and is recorded before we return,
         * whatever stopped the loop: their strings live in the arena. */
        rc = collect(a, x, COLLECT_ALL, rc);
        afs__xfer_stop(x);
    }
    return rc;
}

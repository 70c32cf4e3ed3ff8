/* The endpoint walk on a few threads (lib/sync/walk.h). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "names.h"
#include "walk.h"

/* Threads reading directories besides the session thread: the CPUs online,
 * at least 2 (stats wait on the disk when the cache is cold), at most 4. */
#define WALK_THREADS_MAX 4

/* An entry that passed the name checks and its stat. */
struct found {
    size_t rel;      /* offset of its relative path in the directory's names */
    afs_fs_stat st;
    afs__item *item; /* its item with the local side set, once resolved; NULL: not yet */
};

/* A per-item failure met by a walking thread, recorded on the session thread. */
struct fail {
    struct fail *next;
    char *rel;
    int code;
    char *message;
};

/* One directory: waiting to be read, then what reading it found. */
struct wdir {
    struct wdir *next;
    char *rel;       /* "" for the root */
    struct found *found;
    size_t nfound, capfound;
    char *names;     /* the found entries' relative paths, NUL-separated */
    size_t names_len, names_cap;
    struct fail *fails;
    uint64_t skipped;
    int rc;          /* the root could not be read: the scan fails */
    char *message;
};

/* Buffers of resolved directories kept for the next ones read. */
#define WALK_SPARE_MAX 8
struct spare {
    struct found *found;
    size_t capfound;
    char *names;
    size_t names_cap;
};

struct afs__walk {
    struct spare spare[WALK_SPARE_MAX];
    unsigned int nspare;
    afs__session *s; /* read only here: root, filesystem, exclusions */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct wdir *todo; /* a stack: depth first, like the single-threaded walk */
    struct wdir *done; /* read */
    struct wdir *resolved; /* read, and its entries matched with their items */
    unsigned int busy; /* threads reading or resolving a directory */
    bool finishing;    /* the session thread has come to collect */
    bool resolve;      /* the base is loaded: entries may be matched with items */
    bool nomem;
    unsigned int nthreads;
    pthread_t threads[WALK_THREADS_MAX];
};

static char *join(const char *a, const char *b)
{
    size_t al = strlen(a), bl = strlen(b);
    char *p = afs__malloc(al + bl + 2);
    if (!p)
        return NULL;
    memcpy(p, a, al);
    if (al && bl)
        p[al++] = '/';
    memcpy(p + al, b, bl + 1);
    return p;
}

static void wdir_free(struct wdir *d)
{
    while (d->fails) {
        struct fail *f = d->fails;
        d->fails = f->next;
        free(f->rel);
        free(f->message);
        free(f);
    }
    free(d->found);
    free(d->names);
    free(d->message);
    free(d->rel);
    free(d);
}

/* Note a failure with the thread's current message; takes `rel`. */
static int add_fail(struct wdir *d, char *rel, int code)
{
    struct fail *f = afs__calloc(1, sizeof(*f));
    if (!f) {
        free(rel);
        return AFS_ENOMEM;
    }
    f->rel = rel;
    f->code = code;
    f->message = afs__strdup(afs_error_last());
    afs_error_clear();
    f->next = d->fails;
    d->fails = f;
    return 0;
}

/* add_fail with a copy of `rel`. */
static int add_fail_dup(struct wdir *d, const char *rel, int code)
{
    char *copy = afs__strdup(rel);
    return copy ? add_fail(d, copy, code) : AFS_ENOMEM;
}

static int add_found(struct wdir *d, const char *rel, const afs_fs_stat *st)
{
    size_t rl = strlen(rel) + 1;
    if (d->nfound == d->capfound) {
        size_t cap = d->capfound ? d->capfound * 2 : 64;
        struct found *n = afs__realloc(d->found, cap * sizeof(*n));
        if (!n)
            return AFS_ENOMEM;
        d->found = n;
        d->capfound = cap;
    }
    if (d->names_cap - d->names_len < rl) {
        size_t cap = d->names_cap ? d->names_cap * 2 : 4096;
        char *n;
        while (cap - d->names_len < rl)
            cap *= 2;
        if (!(n = afs__realloc(d->names, cap)))
            return AFS_ENOMEM;
        d->names = n;
        d->names_cap = cap;
    }
    memcpy(d->names + d->names_len, rel, rl);
    d->found[d->nfound].rel = d->names_len;
    d->found[d->nfound].st = *st;
    d->found[d->nfound].item = NULL;
    d->names_len += rl;
    d->nfound++;
    return 0;
}

/* Queue a directory to read (lock not held). */
static int add_dir(afs__walk *w, const char *rel)
{
    struct wdir *d = afs__calloc(1, sizeof(*d));
    if (!d || !(d->rel = afs__strdup(rel))) {
        free(d);
        return AFS_ENOMEM;
    }
    pthread_mutex_lock(&w->lock);
    d->next = w->todo;
    w->todo = d;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

/* An entry's absolute path, its relative path at `rel_at` within it. */
struct pathbuf {
    char *p;
    size_t dir_len; /* the directory's absolute path, without a final '/' */
    size_t rel_at;  /* where the relative path starts */
    size_t cap;
};

/* Set the entry's name after the directory; false on ENOMEM. */
static bool pathbuf_name(struct pathbuf *b, const char *name)
{
    size_t nl = strlen(name), need = b->dir_len + nl + 2;
    if (need > b->cap) {
        char *n = afs__realloc(b->p, need * 2);
        if (!n)
            return false;
        b->p = n;
        b->cap = need * 2;
    }
    b->p[b->dir_len] = '/';
    memcpy(b->p + b->dir_len + 1, name, nl + 1);
    return true;
}

/* One entry of directory `d`: name checks, stat, then found or skipped. */
static int visit(afs__walk *w, struct wdir *d, struct pathbuf *b, void *dir, const char *name)
{
    afs__session *s = w->s;
    const char *why = NULL, *abs, *rel;
    afs_fs_stat st;
    int rc;

    if (!pathbuf_name(b, name))
        return AFS_ENOMEM;
    abs = b->p;
    rel = b->p + b->rel_at;
    switch (afs__sync_name_class(name, strlen(name), &why)) {
    case AFS__NAME_SKIP:
        if (afs__sync_is_temp_name(name)) {
            /* A temp of ours outlived a crashed session (sessions hold the
             * endpoint lock, so no running one owns it): remove it. */
            if (s->fsops->unlink(s->fsctx, abs) == 0)
                afs__log(AFS_LOG_INFO, "sync: removed stale temporary file %s", abs);
            afs_error_clear();
        }
        d->skipped++;
        return 0;
    case AFS__NAME_INVALID:
        afs__error_set(AFS_EINVALIDNAME,
                       "\"%s\" is not synced: its name contains %s (Azure Files does not "
                       "allow it); rename it", rel, why);
        return add_fail_dup(d, rel, AFS_EINVALIDNAME);
    default:
        break;
    }
    if (afs__session_excluded(s, rel, name)) {
        d->skipped++;
        return 0;
    }
    memset(&st, 0, sizeof(st));
    /* Relative to the open directory where the filesystem can (fs vtable 2). */
    rc = s->fsops->dir_stat ? s->fsops->dir_stat(s->fsctx, dir, name, &st)
                            : s->fsops->stat(s->fsctx, abs, &st);
    if (rc == AFS_ENOTFOUND) { /* vanished during the walk: next session sees it */
        afs_error_clear();
        return 0;
    }
    if (rc != 0)
        return add_fail_dup(d, rel, rc);
    if ((st.type != AFS_TYPE_FILE && st.type != AFS_TYPE_DIR) ||
        (st.type == AFS_TYPE_FILE && st.nlink > 1)) {
        /* symbolic links, devices, sockets, fifos; hard links (afs-facts.md) */
        d->skipped++;
        return 0;
    }
    rc = add_found(d, rel, &st);
    if (rc == 0 && st.type == AFS_TYPE_DIR)
        rc = add_dir(w, rel);
    return rc;
}

/* Read one directory, every entry visited. */
static int read_dir(afs__walk *w, struct wdir *d)
{
    afs__session *s = w->s;
    struct pathbuf b;
    void *dir = NULL;
    afs_fs_dirent de;
    int rc;

    memset(&b, 0, sizeof(b));
    if (!(b.p = join(s->root, d->rel)))
        return AFS_ENOMEM;
    b.dir_len = strlen(b.p);
    b.cap = b.dir_len + 1;
    b.rel_at = strlen(s->root) + 1;
    rc = s->fsops->dir_open(s->fsctx, b.p, &dir);
    if (rc != 0) {
        free(b.p);
        /* The root must be readable; a subdirectory is a per-item error. */
        if (d->rel[0] == '\0') {
            d->rc = rc;
            d->message = afs__strdup(afs_error_last());
            afs_error_clear();
            return 0;
        }
        if (rc == AFS_ENOTFOUND) {
            afs_error_clear();
            return 0;
        }
        return add_fail_dup(d, d->rel, rc);
    }
    for (;;) {
        memset(&de, 0, sizeof(de));
        rc = s->fsops->dir_read(s->fsctx, dir, &de);
        if (rc == AFS_EITEROVER) {
            rc = 0;
            break;
        }
        if (rc != 0) {
            rc = add_fail_dup(d, d->rel, rc);
            break;
        }
        if ((rc = visit(w, d, &b, dir, de.name)) != 0)
            break;
    }
    s->fsops->dir_close(s->fsctx, dir);
    free(b.p);
    afs_error_clear();
    return rc;
}

/*
 * Match a read directory's entries with the items the base loaded and set
 * their local side. Only lookups in a map nobody changes meanwhile, and
 * writes to items no other thread touches (one entry per path): done on
 * every walking thread at once. New paths are left for the session thread.
 */
static void resolve_dir(afs__walk *w, struct wdir *d)
{
    const afs__session *s = w->s;
    size_t keep = 0;
    for (size_t i = 0; i < d->nfound; i++) {
        struct found *f = &d->found[i];
        afs__item *it = afs__map_get(&s->items, d->names + f->rel);
        if (it) {
            afs__side_from_stat(&it->local, &f->st);
            f->item = it;
            if (!afs__scan_local_file_needed(s, &f->st))
                continue; /* nothing left for the session thread */
        }
        if (keep != i)
            d->found[keep] = *f;
        keep++;
    }
    d->nfound = keep;
    if (keep == 0)
        d->names_len = 0; /* its buffers go to the next directory read (walker) */
}

/* Lock held: a resolved directory with nothing left gives its buffers to
 * the next one read, instead of freeing them (glibc trims a thread arena's
 * heap at once, so every directory would fault its memory in afresh). */
static void spare_put(afs__walk *w, struct wdir *d)
{
    if (d->nfound != 0 || !d->found)
        return;
    if (w->nspare < WALK_SPARE_MAX) {
        struct spare *sp = &w->spare[w->nspare++];
        sp->found = d->found;
        sp->capfound = d->capfound;
        sp->names = d->names;
        sp->names_cap = d->names_cap;
    } else {
        free(d->found);
        free(d->names);
    }
    d->found = NULL;
    d->names = NULL;
    d->capfound = d->names_cap = d->names_len = 0;
}

/* Lock held: buffers for a directory about to be read. */
static void spare_take(afs__walk *w, struct wdir *d)
{
    if (w->nspare == 0 || d->found)
        return;
    struct spare *sp = &w->spare[--w->nspare];
    d->found = sp->found;
    d->capfound = sp->capfound;
    d->names = sp->names;
    d->names_cap = sp->names_cap;
}

/*
 * Read directories until none is left and no thread can add more; once the
 * session thread has come with the base loaded, resolve the directories
 * read. Threads wait for the session thread rather than leave early.
 */
static void *walker(void *arg)
{
    afs__walk *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        struct wdir *d;
        bool reading;
        while (!w->todo && !(w->resolve && w->done) && !w->nomem &&
               (w->busy > 0 || !w->finishing))
            pthread_cond_wait(&w->cond, &w->lock);
        if (w->nomem || (!w->todo && !(w->resolve && w->done)))
            break;
        /* Once the base is loaded, a read directory is resolved before
         * another is read: its entries are still in the cache, and its
         * buffers go to the next one read (spare_put). */
        reading = w->todo != NULL && !(w->resolve && w->done);
        if (reading) {
            d = w->todo;
            w->todo = d->next;
            spare_take(w, d);
        } else {
            d = w->done;
            w->done = d->next;
        }
        w->busy++;
        pthread_mutex_unlock(&w->lock);
        int rc = 0;
        if (reading)
            rc = read_dir(w, d);
        else
            resolve_dir(w, d);
        pthread_mutex_lock(&w->lock);
        if (rc != 0)
            w->nomem = true;
        w->busy--;
        if (reading) {
            d->next = w->done;
            w->done = d;
        } else {
            spare_put(w, d);
            d->next = w->resolved;
            w->resolved = d;
        }
        /* Work for the others (a directory to resolve), or the end. */
        if (w->resolve || (w->busy == 0 && w->finishing))
            pthread_cond_broadcast(&w->cond);
    }
    /* Whoever leaves wakes the others: they leave too, or take new work. */
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

int afs__walk_start(afs__walk **out, afs__session *s)
{
    afs__walk *w = afs__calloc(1, sizeof(*w));
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned int want = cpus < 2 ? 2 : cpus > WALK_THREADS_MAX ? WALK_THREADS_MAX
                                                                : (unsigned int)cpus;

    *out = NULL;
    if (!w)
        return AFS_ENOMEM;
    w->s = s;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    if (add_dir(w, "") != 0) {
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return AFS_ENOMEM;
    }
    /* As many walking threads as CPUs: the session thread is busy loading
     * the base at first, and walks too once it calls afs__walk_finish()
     * (with no thread at all, it walks alone then). */
    for (; w->nthreads < want; w->nthreads++)
        if (pthread_create(&w->threads[w->nthreads], NULL, walker, w) != 0)
            break;
    *out = w;
    return 0;
}

int afs__walk_finish(afs__walk *w, bool base_loaded)
{
    afs__session *s = w->s;
    struct wdir *d;
    int rc;

    pthread_mutex_lock(&w->lock);
    w->finishing = true;
    w->resolve = base_loaded;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    walker(w);
    for (unsigned int i = 0; i < w->nthreads; i++)
        pthread_join(w->threads[i], NULL);
    rc = w->nomem ? AFS_ENOMEM : 0;
    while ((d = w->resolved) != NULL || (d = w->done) != NULL || (d = w->todo) != NULL) {
        if (d == w->resolved)
            w->resolved = d->next;
        else if (d == w->done)
            w->done = d->next;
        else
            w->todo = d->next;
        if (rc == 0 && d->rc != 0) {
            afs_error_set_str(d->rc, d->message ? d->message : afs_strerror(d->rc));
            rc = afs__error_prefix(d->rc, "server endpoint root %s", s->root);
        }
        for (struct fail *f = d->fails; f && rc == 0; f = f->next) {
            afs_error_set_str(f->code, f->message ? f->message : afs_strerror(f->code));
            rc = afs__session_item_error(s, f->rel, f->code);
            if (rc == 0)
                rc = afs__session_unknown(s, true, f->rel);
        }
        for (size_t i = 0; i < d->nfound && rc == 0; i++) {
            const char *rel = d->names + d->found[i].rel;
            const afs_fs_stat *st = &d->found[i].st;
            afs__item *it = d->found[i].item;
            if (!it) {
                if (!(it = afs__session_item(s, rel, strlen(rel)))) {
                    rc = AFS_ENOMEM;
                    break;
                }
                afs__side_from_stat(&it->local, st);
            }
            if (afs__scan_local_file_needed(s, st) && (rc = afs__scan_local_file(s, it, st)) != 0)
                break;
        }
        s->skipped += d->skipped;
        wdir_free(d);
    }
    for (unsigned int i = 0; i < w->nspare; i++) {
        free(w->spare[i].found);
        free(w->spare[i].names);
    }
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
    return rc;
}

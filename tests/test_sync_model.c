/*
 * The randomized model test of the sync engine: three server endpoints
 * plus a program that edits the share directly (found by the full
 * enumeration, AFS_SYNC_FULL_CLOUD_SCAN) make random changes (create,
 * modify, delete files and directories, rename files and directories,
 * mkdir) interleaved with sessions of random endpoints in random order.
 * Afterwards everyone syncs until a whole round moves nothing, and then:
 *
 *   1. every endpoint holds exactly what the share holds;
 *   2. nothing written was lost.
 *
 * "Nothing lost", precisely. Every write puts a new, unique content (a
 * version: "v<N> ...", of a length no other version has) with a last-write
 * time from a model clock (one second per version). So versions are
 * traceable, the newest write is the model's latest (the conflict rule is
 * deterministic for a seed), and a rewrite within one file system clock tick
 * still changes the size and time the stat fast path compares. A
 * version may legitimately disappear only when a user replaced it: the
 * version is *superseded* when an actor overwrites or deletes the file (or
 * a directory above it) on an endpoint, or in the share, where that very
 * version is what the actor holds at that moment - the model reads the
 * file before it acts, so "the user had seen it" is a fact, not a guess.
 * The sync engine itself never supersedes anything: when it replaces or
 * deletes a version that no user had seen (a concurrent edit on another
 * endpoint, a version still waiting to be uploaded), that version must
 * survive somewhere: at its path, at a path a user renamed it to, or as a
 * conflict copy. So the check is: every version that was never superseded
 * is the content of some file in the final share. Renames move versions
 * and supersede nothing.
 *
 * The seed: AFS_MODEL_SEED or the first command-line argument (default 1,
 * the CI run); AFS_MODEL_OPS the number of operations (default 500);
 * AFS_MODEL_VERBOSE=1 prints every operation, AFS_MODEL_TRACE=<N> where
 * version N is after each step, AFS_MODEL_TRACE_PATH=<path> which version
 * each actor has there, AFS_TEST_LOG=<level> the library's log;
 * AFS_TEST_KEEP=1 keeps the sandbox; AFS_MODEL_ONLY=plain|faults runs one
 * of the two cases. The seed is printed, so any failing run can be replayed.
 *
 * The second case runs the same kind of workload while some sessions meet
 * storage faults, lasting failures, or a crash (see faulty_sync()).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "faultscheme.h"

#define NSERVERS 3
#define SHARE NSERVERS /* the actor that edits the share directly */
#define MAX_DEPTH 3
#define NELEMS(a) ((unsigned int)(sizeof(a) / sizeof((a)[0])))

static uint64_t g_seed = 1;
static unsigned int g_ops = 500;
static bool g_verbose;
static long g_trace = -1; /* AFS_MODEL_TRACE=<N>: where version N is after each step */
static const char *g_trace_path; /* AFS_MODEL_TRACE_PATH=<rel>: what each actor has there */

/* ---- deterministic randomness (xorshift64*) ---- */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static unsigned int rnd(uint64_t *s, unsigned int n)
{
    return (unsigned int)(rng_next(s) % n);
}

/* ---- the model ---- */

struct version {
    int actor;
    char *path;       /* where it was written */
    unsigned int op;  /* operation number that wrote it */
    bool superseded;
};

enum { OP_CREATE, OP_MODIFY, OP_DELETE, OP_DELETE_DIR, OP_RENAME, OP_RENAME_DIR, OP_MKDIR,
       OP_COUNT };
static const char *const op_names[OP_COUNT] = {
    "create", "modify", "delete", "delete-dir", "rename", "rename-dir", "mkdir",
};

typedef struct model {
    char *root;
    afs_test_fenv fe;
    afs_test_server *srv[NSERVERS];
    uint64_t rng;
    struct version *v;
    size_t nv, cap;
    unsigned int op;               /* operations done */
    unsigned int done[OP_COUNT];
    unsigned int syncs, full_scans, forced;
    bool faults;                   /* the faults mode (faulty_sync) */
    bool ready;                    /* joined; random work may start */
    bool settling;                 /* the final rounds: nobody acts any more */
    bool nested;                   /* a session runs inside another's callback */
    unsigned int meanwhile;        /* sessions during which users acted */
    unsigned int transient, persistent, crashes;
} model;

static const char *actor_name(const model *m, int actor)
{
    return actor == SHARE ? "Share" : m->srv[actor]->name;
}

static const char *actor_root(const model *m, int actor)
{
    return actor == SHARE ? m->fe.env.share : m->srv[actor]->data;
}

/* The version a file holds, or -1 (not one of ours). */
static long version_of(const char *content)
{
    char *end;
    long n;
    if (!content || content[0] != 'v')
        return -1;
    n = strtol(content + 1, &end, 10);
    return end != content + 1 && *end == ' ' ? n : -1;
}

/* The user at `actor` overwrites or deletes the file at `abs`: whatever
 * version it holds right now is superseded. */
static void supersede_file(model *m, const char *abs)
{
    char *content = afs_test_read_file(abs, NULL);
    long n = version_of(content);
    if (n >= 0 && (size_t)n < m->nv)
        m->v[n].superseded = true;
    free(content);
}

static void supersede_each(const char *abs, void *payload)
{
    supersede_file(payload, abs);
}

/* Write a new version at `rel` of `actor`. */
static void write_version(model *m, int actor, const char *rel)
{
    char *abs = afs_test_path(actor_root(m, actor), rel);
    size_t n = m->nv, len;
    char *content;

    if (m->nv == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 256;
        m->v = realloc(m->v, m->cap * sizeof(*m->v));
        assert_non_null(m->v);
    }
    supersede_file(m, abs);
    /* Unique content of a unique length: "v<N> <actor> <path> ....". */
    len = 128 + n;
    content = malloc(len + 1);
    assert_non_null(content);
    memset(content, '.', len);
    content[len] = '\0';
    {
        int h = snprintf(content, len, "v%zu %s %s ", n, actor_name(m, actor), rel);
        content[h] = ' ';
    }
    afs_test_write_file(abs, content, len);
    {
        /* A model clock, one second per version: which write is newest (the
         * conflict rule) is the model's order, not the tick it ran in. */
        struct timespec ts[2] = { { 0, UTIME_OMIT }, { 1700000000 + (time_t)n, 0 } };
        assert_int_equal(utimensat(AT_FDCWD, abs, ts, 0), 0);
    }
    m->v[n].actor = actor;
    m->v[n].path = strdup(rel);
    m->v[n].op = m->op;
    m->v[n].superseded = false;
    m->nv++;
    free(content);
    free(abs);
}

/* ---- what an actor holds ---- */

struct listing {
    char **files, **dirs; /* relative paths; dirs include "" (the root) */
    size_t nf, nd;
};

static void add(char ***list, size_t *n, const char *rel)
{
    *list = realloc(*list, (*n + 1) * sizeof(**list));
    assert_non_null(*list);
    (*list)[(*n)++] = strdup(rel);
}

static void list_dir(const char *root, const char *rel, struct listing *l)
{
    char *abs = rel[0] ? afs_test_path(root, rel) : strdup(root);
    DIR *d = opendir(abs);
    struct dirent *e;
    add(&l->dirs, &l->nd, rel);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        char crel[1024];
        char *cabs;
        struct stat st;
        /* Our own names never start with '.'; skip the share's reserved
         * prefix and any temporary file of the engine. */
        if (e->d_name[0] == '.')
            continue;
        snprintf(crel, sizeof(crel), "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
        cabs = afs_test_path(root, crel);
        if (lstat(cabs, &st) == 0) {
            if (S_ISDIR(st.st_mode))
                list_dir(root, crel, l);
            else if (S_ISREG(st.st_mode))
                add(&l->files, &l->nf, crel);
        }
        free(cabs);
    }
    closedir(d);
    free(abs);
}

static void listing_free(struct listing *l)
{
    for (size_t i = 0; i < l->nf; i++)
        free(l->files[i]);
    for (size_t i = 0; i < l->nd; i++)
        free(l->dirs[i]);
    free(l->files);
    free(l->dirs);
    memset(l, 0, sizeof(*l));
}

static size_t depth(const char *rel)
{
    size_t d = rel[0] ? 1 : 0;
    for (; *rel; rel++)
        d += *rel == '/';
    return d;
}

/* Names: a few per kind, so actors collide; "n1"/"n2" serve files and
 * directories alike (file/directory conflicts). */
static const char *const file_names[] = { "a.txt", "b.txt", "c.doc", "d", "n1", "notes.md" };
static const char *const dir_names[] = { "x", "y", "z", "n2", "n1" };

static char *child(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%s%s%s", dir, dir[0] ? "/" : "", name);
    return p;
}

static bool exists(const model *m, int actor, const char *rel)
{
    char *abs = afs_test_path(actor_root(m, actor), rel);
    struct stat st;
    bool yes = lstat(abs, &st) == 0;
    free(abs);
    return yes;
}

static void note(const model *m, int actor, const char *what, const char *a, const char *b)
{
    if (g_verbose)
        print_message("model: op %u: %s: %s %s%s%s\n", m->op, actor_name(m, actor), what, a,
                      b ? " -> " : "", b ? b : "");
}

/* One random change by one actor; false if it found nothing to do. */
static bool change(model *m)
{
    int actor = (int)rnd(&m->rng, NSERVERS + 1);
    int kind = (int)rnd(&m->rng, 100);
    const char *root = actor_root(m, actor);
    struct listing l = { NULL, NULL, 0, 0 };
    bool did = false;
    int op;

    list_dir(root, "", &l);
    /* Weights: create 26, modify 20, delete 10, delete-dir 4, rename 16,
     * rename-dir 10, mkdir 14. */
    op = kind < 26 ? OP_CREATE : kind < 46 ? OP_MODIFY : kind < 56 ? OP_DELETE
       : kind < 60 ? OP_DELETE_DIR : kind < 76 ? OP_RENAME : kind < 86 ? OP_RENAME_DIR
       : OP_MKDIR;
    switch (op) {
    case OP_CREATE: {
        const char *dir = l.dirs[rnd(&m->rng, (unsigned int)l.nd)];
        char *rel = child(dir, file_names[rnd(&m->rng, NELEMS(file_names))]);
        if (depth(rel) <= MAX_DEPTH && !exists(m, actor, rel)) {
            note(m, actor, "create", rel, NULL);
            write_version(m, actor, rel);
            did = true;
        }
        free(rel);
        break;
    }
    case OP_MODIFY:
        if (l.nf) {
            const char *rel = l.files[rnd(&m->rng, (unsigned int)l.nf)];
            note(m, actor, "modify", rel, NULL);
            write_version(m, actor, rel);
            did = true;
        }
        break;
    case OP_DELETE:
    case OP_DELETE_DIR: {
        const char *rel = NULL;
        if (op == OP_DELETE && l.nf)
            rel = l.files[rnd(&m->rng, (unsigned int)l.nf)];
        else if (op == OP_DELETE_DIR && l.nd > 1)
            rel = l.dirs[1 + rnd(&m->rng, (unsigned int)l.nd - 1)];
        if (rel) {
            char *abs = afs_test_path(root, rel);
            note(m, actor, op_names[op], rel, NULL);
            afs_test_for_each_file(abs, supersede_each, m);
            afs_test_rmtree(abs);
            free(abs);
            did = true;
        }
        break;
    }
    case OP_RENAME:
    case OP_RENAME_DIR: {
        const char *from = NULL, *dir = l.dirs[rnd(&m->rng, (unsigned int)l.nd)];
        char *to;
        if (op == OP_RENAME && l.nf)
            from = l.files[rnd(&m->rng, (unsigned int)l.nf)];
        else if (op == OP_RENAME_DIR && l.nd > 1)
            from = l.dirs[1 + rnd(&m->rng, (unsigned int)l.nd - 1)];
        if (!from)
            break;
        to = child(dir, op == OP_RENAME ? file_names[rnd(&m->rng, NELEMS(file_names))]
                                        : dir_names[rnd(&m->rng, NELEMS(dir_names))]);
        /* Not onto something, not into itself, not too deep. */
        if (!exists(m, actor, to) &&
            !(strncmp(to, from, strlen(from)) == 0 && to[strlen(from)] == '/') &&
            depth(to) <= MAX_DEPTH) {
            char *f = afs_test_path(root, from), *t = afs_test_path(root, to);
            note(m, actor, op_names[op], from, to);
            assert_int_equal(rename(f, t), 0);
            free(f);
            free(t);
            did = true;
        }
        free(to);
        break;
    }
    case OP_MKDIR: {
        const char *dir = l.dirs[rnd(&m->rng, (unsigned int)l.nd)];
        char *rel = child(dir, dir_names[rnd(&m->rng, NELEMS(dir_names))]);
        if (depth(rel) <= MAX_DEPTH && !exists(m, actor, rel)) {
            char *abs = afs_test_path(root, rel);
            note(m, actor, "mkdir", rel, NULL);
            assert_int_equal(mkdir(abs, 0777), 0);
            free(abs);
            did = true;
        }
        free(rel);
        break;
    }
    default:
        break;
    }
    if (did)
        m->done[op]++;
    listing_free(&l);
    return did;
}

/* Print where version `g_trace` is now, when that changed. */
static void trace(model *m, const char *after)
{
    static char last[2048];
    char now[2048] = "";
    if (!m->srv[NSERVERS - 1] || !m->srv[NSERVERS - 1]->ep)
        return; /* still joining */
    if (g_trace_path) {
        static char lastp[1024];
        char nowp[1024] = "";
        for (int a = 0; a <= NSERVERS; a++) {
            char *abs = afs_test_path(actor_root(m, a), g_trace_path);
            char *content = afs_test_read_file(abs, NULL);
            size_t used = strlen(nowp);
            snprintf(nowp + used, sizeof(nowp) - used, " %s:v%ld", actor_name(m, a),
                     version_of(content));
            free(content);
            free(abs);
        }
        if (strcmp(nowp, lastp) != 0) {
            print_message("model: trace %s after %s (op %u):%s\n", g_trace_path, after, m->op,
                          nowp);
            snprintf(lastp, sizeof(lastp), "%s", nowp);
        }
    }
    if (g_trace < 0 || (size_t)g_trace >= m->nv)
        return;
    for (int a = 0; a <= NSERVERS; a++) {
        struct listing l = { NULL, NULL, 0, 0 };
        list_dir(actor_root(m, a), "", &l);
        for (size_t i = 0; i < l.nf; i++) {
            char *abs = afs_test_path(actor_root(m, a), l.files[i]);
            char *content = afs_test_read_file(abs, NULL);
            if (version_of(content) == g_trace) {
                size_t used = strlen(now);
                snprintf(now + used, sizeof(now) - used, " %s:%s", actor_name(m, a),
                         l.files[i]);
            }
            free(content);
            free(abs);
        }
        listing_free(&l);
    }
    if (strcmp(now, last) != 0) {
        print_message("model: trace v%ld after %s (op %u):%s%s\n", g_trace, after, m->op,
                      now[0] ? now : " nowhere", m->v[g_trace].superseded ? " (superseded)" : "");
        snprintf(last, sizeof(last), "%s", now);
    }
}

/* ---- sessions ---- */

static bool change(model *m);
static void sync_one(model *m, afs_test_server *s, uint32_t flags);

/* Users keep working while a session runs: once the session has scanned
 * and is about to apply, a few changes happen (on any actor, the syncing
 * server too), and sometimes another server syncs in between. */
struct meanwhile {
    model *m;
    afs_test_server *self;
    bool done;
};

static int act_meanwhile(const afs_sync_progress *p, void *payload)
{
    struct meanwhile *w = payload;
    model *m = w->m;
    unsigned int n;
    if (p->phase != AFS_SYNC_PHASE_APPLY || w->done)
        return 0;
    w->done = true;
    n = 1 + rnd(&m->rng, 3);
    if (g_verbose)
        print_message("model: op %u: meanwhile, during %s's session:\n", m->op, w->self->name);
    for (unsigned int i = 0; i < n; i++)
        if (change(m))
            m->op++;
    if (rnd(&m->rng, 3) == 0) {
        afs_test_server *other = m->srv[rnd(&m->rng, NSERVERS)];
        if (other != w->self) {
            m->nested = true; /* one level: the outer session holds its lock */
            sync_one(m, other, 0);
            m->nested = false;
        }
    }
    m->meanwhile++;
    return 0;
}

/* One session; the safety net may stop a mass deletion the model made on
 * purpose: then the session runs again with AFS_SYNC_FORCE. Sometimes
 * users act while it runs (act_meanwhile). */
static int try_sync(model *m, afs_test_server *s, uint32_t flags)
{
    afs_sync_options o = AFS_SYNC_OPTIONS_INIT;
    struct meanwhile w = { m, s, false };
    int rc;
    o.flags = flags;
    if (m->ready && !m->settling && !m->nested && rnd(&m->rng, 100) < 15) {
        o.progress = act_meanwhile;
        o.progress_payload = &w;
    }
    s->last.version = AFS_SYNC_RESULT_VERSION;
    rc = afs_endpoint_sync(s->ep, &o, &s->last);
    if (rc == AFS_ESAFETY) {
        m->forced++;
        o.flags |= AFS_SYNC_FORCE;
        o.progress = NULL;
        rc = afs_endpoint_sync(s->ep, &o, &s->last);
    }
    m->syncs++;
    if (flags & AFS_SYNC_FULL_CLOUD_SCAN)
        m->full_scans++;
    if (g_verbose)
        print_message("model: op %u: sync %s%s: rc %d, moved %" PRIu64 ", errors %" PRIu64 "\n",
                      m->op, s->name, (flags & AFS_SYNC_FULL_CLOUD_SCAN) ? " (full)" : "", rc,
                      afs_test_moved(&s->last), s->last.item_errors);
    trace(m, s->name);
    return rc;
}

static void sync_one(model *m, afs_test_server *s, uint32_t flags)
{
    int rc = try_sync(m, s, flags);
    if (rc != 0)
        fail_msg("model seed %" PRIu64 ", op %u: sync of %s returned %d (%s): %s", g_seed, m->op,
                 s->name, rc, afs_strerror(rc), afs_error_last());
}

static const char *const storage_slots[] = { "put", "read", "list", "stat",
                                             "remove", "rename", "mkdir", "rmdir" };
static const char *const fs_slots[] = { "write", "rename", "unlink", "mkdir",
                                        "rmdir", "fsync", "open", "stat" };

/*
 * The faults mode: some sessions meet a storage call that fails once
 * (AFS_ETRANSIENT or AFS_EBUSY: retried, so the session must not notice),
 * a storage or filesystem call that fails for the rest of the session
 * (AFS_EIO: per-item errors, or the session stops), or a process that dies
 * before or after its Nth call of some slot (the session runs in a
 * fork()ed child; the server restarts with fresh handles).
 */
static void faulty_sync(model *m, afs_test_server *s, uint32_t flags)
{
    unsigned int kind = rnd(&m->rng, 100);
    bool on_fs = rnd(&m->rng, 2) == 0;
    const char *op = on_fs ? fs_slots[rnd(&m->rng, NELEMS(fs_slots))]
                           : storage_slots[rnd(&m->rng, NELEMS(storage_slots))];
    uint64_t nth = 1 + rnd(&m->rng, 4);
    afs_test_fault *fsctl = afs_test_fenv_fs_ctl(&m->fe, s);

    if (kind < 40) {
        /* Transient, on the storage: retried and invisible. */
        afs_test_fault *st = afs_test_fenv_storage_ctl(s);
        op = storage_slots[rnd(&m->rng, NELEMS(storage_slots))];
        afs_test_fault_set(st, op, nth, AFS_FAULT_ONCE,
                           rnd(&m->rng, 2) ? AFS_ETRANSIENT : AFS_EBUSY);
        if (g_verbose)
            print_message("model: op %u: %s: storage %s #%" PRIu64 " fails once\n", m->op,
                          s->name, op, nth);
        sync_one(m, s, flags);
        m->transient += afs_test_fault_injected(st) > 0;
        afs_test_fault_clear(st);
        afs_test_fault_reset_counts(st);
    } else if (kind < 75) {
        /* Lasting for the session: whatever the session reports is fine. */
        afs_test_fault *ctl = on_fs ? fsctl : afs_test_fenv_storage_ctl(s);
        afs_test_fault_set(ctl, op, nth, AFS_FAULT_PERSISTENT, AFS_EIO);
        if (g_verbose)
            print_message("model: op %u: %s: %s %s fails from #%" PRIu64 "\n", m->op, s->name,
                          on_fs ? "fs" : "storage", op, nth);
        (void)try_sync(m, s, flags);
        m->persistent += afs_test_fault_injected(ctl) > 0;
        afs_test_fault_clear(ctl);
        afs_test_fault_reset_counts(ctl);
    } else {
        afs_test_fault_mode mode = rnd(&m->rng, 2) ? AFS_FAULT_CRASH_BEFORE : AFS_FAULT_CRASH_AFTER;
        int status = 0;
        pid_t pid;
        if (g_verbose)
            print_message("model: op %u: %s: crash %s %s %s #%" PRIu64 "\n", m->op, s->name,
                          mode == AFS_FAULT_CRASH_BEFORE ? "before" : "after",
                          on_fs ? "fs" : "storage", op, nth);
        afs_test_fenv_close(s);
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            afs_sync_options o = AFS_SYNC_OPTIONS_INIT;
            int rc = afs_test_fenv_try_open(&m->fe, s);
            if (rc != 0)
                _exit(2);
            afs_test_fault_set(on_fs ? fsctl : afs_test_fenv_storage_ctl(s), op, nth, mode, 0);
            o.flags = flags | AFS_SYNC_FORCE;
            rc = afs_endpoint_sync(s->ep, &o, NULL);
            _exit(rc == 0 ? 0 : 3);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFEXITED(status) ||
            (WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != AFS_TEST_CRASH_EXIT))
            fail_msg("model seed %" PRIu64 ", op %u: the session of %s in a child ended with "
                     "status %d", g_seed, m->op, s->name, status);
        m->crashes += WEXITSTATUS(status) == AFS_TEST_CRASH_EXIT;
        m->syncs++;
        afs_test_fenv_open(&m->fe, s);
        trace(m, "a crash");
    }
}

/* Sync everyone (full enumerations: the share actor edits behind the
 * journal's back) until a whole round moves nothing. */
static unsigned int quiesce(model *m)
{
    for (unsigned int round = 1; round <= 10; round++) {
        uint64_t total = 0;
        for (int i = 0; i < NSERVERS; i++) {
            sync_one(m, m->srv[i], AFS_SYNC_FULL_CLOUD_SCAN);
            total += afs_test_moved(&m->srv[i]->last);
        }
        if (total == 0)
            return round;
    }
    for (int i = 0; i < NSERVERS; i++)
        afs_test_print_errors(m->srv[i], "model:   ");
    fail_msg("model seed %" PRIu64 ": the endpoints did not settle in 10 rounds", g_seed);
    return 0;
}

/* ---- the check ---- */

/* Mark the versions the files below `root` hold. */
static void collect(const char *root, bool *present, size_t nv)
{
    struct listing l = { NULL, NULL, 0, 0 };
    list_dir(root, "", &l);
    for (size_t i = 0; i < l.nf; i++) {
        char *abs = afs_test_path(root, l.files[i]);
        char *content = afs_test_read_file(abs, NULL);
        long n = version_of(content);
        if (n >= 0 && (size_t)n < nv)
            present[n] = true;
        free(content);
        free(abs);
    }
    listing_free(&l);
}

static void check(model *m)
{
    bool *present = calloc(m->nv + 1, sizeof(bool));
    size_t lost = 0, live = 0;
    assert_non_null(present);
    for (int i = 0; i < NSERVERS; i++)
        afs_test_assert_same_tree(m->srv[i]->data, m->fe.env.share);
    collect(m->fe.env.share, present, m->nv);
    for (size_t n = 0; n < m->nv; n++) {
        if (m->v[n].superseded)
            continue;
        live++;
        if (!present[n]) {
            print_message("model: LOST v%zu, written by %s at %s in op %u\n", n,
                          actor_name(m, m->v[n].actor), m->v[n].path, m->v[n].op);
            lost++;
        }
    }
    free(present);
    if (lost)
        fail_msg("model seed %" PRIu64 ": %zu of %zu live versions were lost", g_seed, lost, live);
}

/* ---- the test ---- */

static void log_to_stdout(int level, const char *message, void *payload)
{
    (void)payload;
    print_message("log[%d] %s\n", level, message);
}

static void run_model(bool faults)
{
    static const char *const names[NSERVERS] = { "ServerA", "ServerB", "ServerC" };
    afs_endpoint_options eo = AFS_ENDPOINT_OPTIONS_INIT;
    struct timespec t0, t1;
    unsigned int rounds;
    model m;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    memset(&m, 0, sizeof(m));
    m.rng = g_seed * 0x9E3779B97F4A7C15ull + 1;
    m.faults = faults;
    m.root = afs_test_sandbox("model");
    afs_test_fenv_init(&m.fe, m.root);
    print_message("model: seed %" PRIu64 " (replay: AFS_MODEL_SEED=%" PRIu64 "), %u operations%s\n",
                  g_seed, g_seed, g_ops, faults ? ", with faults and crashes" : "");
    for (int i = 0; i < NSERVERS; i++) {
        m.srv[i] = afs_test_fenv_server(&m.fe, names[i]);
        afs_test_fenv_join(&m.fe, m.srv[i], &eo);
        sync_one(&m, m.srv[i], 0);
    }
    m.ready = true;
    while (m.op < g_ops) {
        if (rnd(&m.rng, 100) < 30) {
            afs_test_server *s = m.srv[rnd(&m.rng, NSERVERS)];
            uint32_t flags = rnd(&m.rng, 4) == 0 ? AFS_SYNC_FULL_CLOUD_SCAN : 0;
            if (faults && rnd(&m.rng, 100) < 40)
                faulty_sync(&m, s, flags);
            else
                sync_one(&m, s, flags);
        } else if (change(&m)) {
            m.op++;
            trace(&m, "a change");
        }
    }
    m.settling = true;
    rounds = quiesce(&m);
    check(&m);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    print_message("model: seed %" PRIu64 ": %u ops (", g_seed, m.op);
    for (int i = 0; i < OP_COUNT; i++)
        print_message("%s%s %u", i ? ", " : "", op_names[i], m.done[i]);
    print_message("), %u syncs (%u full, %u forced, %u with users acting meanwhile", m.syncs,
                  m.full_scans, m.forced, m.meanwhile);
    if (faults)
        print_message("; %u met a transient fault, %u a lasting one, %u crashed", m.transient,
                      m.persistent, m.crashes);
    print_message("), %zu versions, settled in %u rounds, nothing lost (%.1f s)\n", m.nv,
                  rounds, (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);

    afs_test_fenv_free(&m.fe);
    if (!getenv("AFS_TEST_KEEP"))
        afs_test_rmtree(m.root);
    free(m.root);
    for (size_t n = 0; n < m.nv; n++)
        free(m.v[n].path);
    free(m.v);
}

/* AFS_MODEL_ONLY=plain or =faults runs one of the two. */
static bool wanted(const char *mode)
{
    const char *only = getenv("AFS_MODEL_ONLY");
    return !only || !*only || strcmp(only, mode) == 0;
}

static void test_sync_model__random_operations_converge_and_lose_nothing(void **state)
{
    (void)state;
    if (wanted("plain"))
        run_model(false);
}

static void test_sync_model__with_storage_faults_and_crashes_too(void **state)
{
    (void)state;
    if (wanted("faults"))
        run_model(true);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sync_model__random_operations_converge_and_lose_nothing),
        cmocka_unit_test(test_sync_model__with_storage_faults_and_crashes_too),
    };
    const char *seed = argc > 1 ? argv[1] : getenv("AFS_MODEL_SEED");
    const char *ops = getenv("AFS_MODEL_OPS");
    if (seed && *seed)
        g_seed = strtoull(seed, NULL, 10);
    if (ops && *ops)
        g_ops = (unsigned int)strtoul(ops, NULL, 10);
    g_verbose = getenv("AFS_MODEL_VERBOSE") != NULL;
    g_trace_path = getenv("AFS_MODEL_TRACE_PATH");
    if (getenv("AFS_TEST_LOG"))
        afs_log_set(log_to_stdout, atoi(getenv("AFS_TEST_LOG")), NULL);
    if (getenv("AFS_MODEL_TRACE"))
        g_trace = strtol(getenv("AFS_MODEL_TRACE"), NULL, 10);
    return cmocka_run_group_tests_name("sync_model", tests, NULL, NULL);
}

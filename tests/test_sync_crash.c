/*
 * Crash safety of sync sessions (STYLE.md 13, after SQLite's crash tests):
 * a session is stopped at each storage and filesystem call it makes, one
 * point per run, and a restart must converge with nothing lost.
 *
 * Each scenario builds the same starting state from scratch (servers, first
 * syncs, user edits); then one "target" session runs in a fork()ed child
 * whose fault wrapper (tests/support/faultscheme.h) exits the process
 * before or after its Nth call of one slot. A dry run of the target session
 * counts the calls of each slot first, so every N walked is a real, distinct
 * point. The parent then restarts every server (fresh handles, as a new
 * process would), syncs everyone until a whole round moves nothing, and
 * checks:
 *   - every endpoint holds exactly what the share holds;
 *   - every content version a user wrote and did not later replace or delete
 *     survives, at its path or as a conflict copy of it
 *     ("<name>-<server>[-N].<ext>"), and contents a user deleted stay deleted;
 *   - no session of the recovery failed on an item, and no temporary file of
 *     the engine (".~afs-*.tmp" in a data directory) or of the local backend
 *     (anything in ".libafs/local/tmp" in the share) is left.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "faultscheme.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- what users wrote ---- */

enum { V_LIVE, V_SUPERSEDED, V_DELETED };

struct version {
    char *content;
    char *path; /* where its writer last saw it */
    int state;
};

typedef struct crash_ctx {
    char *root;
    afs_test_fenv fe;
    afs_test_server *target;
    struct version v[64];
    int nv;
    unsigned int uniq;
} crash_ctx;

static struct version *find_live(crash_ctx *c, const char *content)
{
    for (int i = 0; i < c->nv; i++)
        if (c->v[i].state == V_LIVE && strcmp(c->v[i].content, content) == 0)
            return &c->v[i];
    return NULL;
}

/* Write a new, unique version of `rel` on server `s`. What it replaces (as
 * that server held it) is superseded: its user saw it and overwrote it. */
/* Write a new, unique version of `rel` on server `s`, padded to `size`
 * bytes if larger. What it replaces (as that server held it) is
 * superseded: its user saw it and overwrote it. */
static void cput_sized(crash_ctx *c, afs_test_server *s, const char *rel, size_t size)
{
    char head[160];
    char *old = afs_test_get(s->data, rel), *content;
    size_t hl;
    struct version *v;

    if (old && (v = find_live(c, old)) != NULL)
        v->state = V_SUPERSEDED;
    free(old);
    hl = (size_t)snprintf(head, sizeof(head), "%s wrote %s, version %u", s->name, rel, ++c->uniq);
    content = malloc((size > hl ? size : hl) + 1);
    assert_non_null(content);
    memcpy(content, head, hl + 1);
    if (size > hl) {
        for (size_t i = hl; i < size; i++)
            content[i] = (char)('a' + i % 26);
        content[size] = '\0';
    }
    afs_test_put(s->data, rel, content);
    assert_true(c->nv < (int)NELEM(c->v));
    c->v[c->nv].content = content;
    c->v[c->nv].path = strdup(rel);
    c->v[c->nv].state = V_LIVE;
    c->nv++;
}

static void cput(crash_ctx *c, afs_test_server *s, const char *rel)
{
    cput_sized(c, s, rel, 0);
}

/* The version the file at `abs` holds is deleted (afs_test_for_each_file). */
static void mark_deleted(const char *abs, void *payload)
{
    crash_ctx *c = payload;
    char *content = afs_test_read_file(abs, NULL);
    struct version *v = content ? find_live(c, content) : NULL;
    if (v)
        v->state = V_DELETED;
    free(content);
}

/* Delete a file or a directory tree on server `s`. */
static void cdel(crash_ctx *c, afs_test_server *s, const char *rel)
{
    char *p = afs_test_path(s->data, rel);
    afs_test_for_each_file(p, mark_deleted, c);
    afs_test_rmtree(p);
    free(p);
}

/* Rename a file or directory on server `s`; what it held moves along. */
static void cmove(crash_ctx *c, afs_test_server *s, const char *from, const char *to)
{
    char *pf = afs_test_path(s->data, from), *pt = afs_test_path(s->data, to);
    size_t fl = strlen(from);
    assert_int_equal(rename(pf, pt), 0);
    for (int i = 0; i < c->nv; i++) {
        struct version *v = &c->v[i];
        if (v->state == V_LIVE && strncmp(v->path, from, fl) == 0 &&
            (v->path[fl] == '\0' || v->path[fl] == '/')) {
            size_t n = strlen(to) + strlen(v->path + fl) + 1;
            char *np = malloc(n);
            snprintf(np, n, "%s%s", to, v->path + fl);
            free(v->path);
            v->path = np;
        }
    }
    free(pf);
    free(pt);
}

/* ---- the share's files ---- */

struct file {
    char *rel;
    char *content;
};

struct tree {
    struct file *f;
    size_t n, cap;
};

static void walk(const char *root, const char *rel, struct tree *t)
{
    char *abs = rel[0] ? afs_test_path(root, rel) : strdup(root);
    DIR *d = opendir(abs);
    struct dirent *e;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        char *crel, *cabs;
        size_t n;
        struct stat st;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
            (!rel[0] && !strcmp(e->d_name, AFS_RESERVED_NAME)))
            continue;
        n = strlen(rel) + strlen(e->d_name) + 2;
        crel = malloc(n);
        snprintf(crel, n, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
        cabs = afs_test_path(root, crel);
        assert_int_equal(lstat(cabs, &st), 0);
        if (S_ISDIR(st.st_mode)) {
            walk(root, crel, t);
            free(crel);
        } else {
            if (t->n == t->cap) {
                t->cap = t->cap ? t->cap * 2 : 32;
                t->f = realloc(t->f, t->cap * sizeof(*t->f));
            }
            t->f[t->n].rel = crel;
            t->f[t->n].content = afs_test_read_file(cabs, NULL);
            t->n++;
        }
        free(cabs);
    }
    closedir(d);
    free(abs);
}

static void tree_free(struct tree *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->f[i].rel);
        free(t->f[i].content);
    }
    free(t->f);
}

/* Is `copy` a conflict copy of `orig`: same directory, "<stem>-<who>[-N]<ext>"? */
static bool is_conflict_copy(const char *copy, const char *orig)
{
    const char *os = strrchr(orig, '/'), *cs = strrchr(copy, '/');
    size_t odl = os ? (size_t)(os - orig) : 0, cdl = cs ? (size_t)(cs - copy) : 0;
    const char *oname = os ? os + 1 : orig, *cname = cs ? cs + 1 : copy;
    const char *dot = strrchr(oname, '.');
    size_t stem, ext, cl = strlen(cname);

    if (odl != cdl || strncmp(orig, copy, odl) != 0)
        return false;
    if (dot == oname)
        dot = NULL;
    stem = dot ? (size_t)(dot - oname) : strlen(oname);
    ext = dot ? strlen(dot) : 0;
    return cl > stem + ext + 1 && strncmp(cname, oname, stem) == 0 && cname[stem] == '-' &&
           strcmp(cname + cl - ext, dot ? dot : "") == 0;
}

/* Fail if a tree holds a temporary file of the engine. */
static void assert_no_engine_temps(const char *abs)
{
    DIR *d = opendir(abs);
    struct dirent *e;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        char *p;
        struct stat st;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (strncmp(e->d_name, ".~afs-", 6) == 0)
            fail_msg("stray temporary file %s/%s", abs, e->d_name);
        p = afs_test_path(abs, e->d_name);
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            assert_no_engine_temps(p);
        free(p);
    }
    closedir(d);
}

static void check(crash_ctx *c, const char *point)
{
    afs_test_env *env = &c->fe.env;
    struct tree t = { NULL, 0, 0 };
    char *tmp;
    DIR *d;
    struct dirent *e;

    walk(env->share, "", &t);
    for (int i = 0; i < c->nv; i++) {
        const struct version *v = &c->v[i];
        const struct file *found = NULL;
        for (size_t k = 0; k < t.n && !found; k++)
            if (t.f[k].content && strcmp(t.f[k].content, v->content) == 0)
                found = &t.f[k];
        if (v->state == V_LIVE && !found)
            fail_msg("%s: \"%s\" was lost (expected at %s or a conflict copy of it)", point,
                     v->content, v->path);
        if (v->state == V_LIVE && strcmp(found->rel, v->path) != 0 &&
            !is_conflict_copy(found->rel, v->path))
            fail_msg("%s: \"%s\" is at %s, expected %s or a conflict copy of it", point,
                     v->content, found->rel, v->path);
        if (v->state == V_DELETED && found)
            fail_msg("%s: \"%s\" was deleted but came back as %s", point, v->content,
                     found->rel);
    }
    tree_free(&t);
    for (int i = 0; i < env->count; i++) {
        afs_test_assert_same_tree(env->servers[i].data, env->share);
        assert_no_engine_temps(env->servers[i].data);
    }
    tmp = afs_test_path(env->share, AFS_RESERVED_NAME "/local/tmp");
    if ((d = opendir(tmp)) != NULL) {
        while ((e = readdir(d)) != NULL)
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                fail_msg("%s: stray temporary file %s/%s in the share", point, tmp, e->d_name);
        closedir(d);
    }
    free(tmp);
}

/* ---- scenarios ---- */

static afs_test_server *server(crash_ctx *c, const char *name)
{
    return afs_test_fenv_server(&c->fe, name);
}

static void join(crash_ctx *c, afs_test_server *s)
{
    afs_test_fenv_join(&c->fe, s, NULL);
    afs_test_sync(s);
}

/* A and B share a few files and a directory. */
static void two_servers(crash_ctx *c, afs_test_server **a, afs_test_server **b)
{
    *a = server(c, "ServerA");
    *b = server(c, "ServerB");
    cput(c, *a, "keep.txt");
    cput(c, *a, "mod.txt");
    cput(c, *a, "gone.txt");
    cput(c, *a, "old/x.txt");
    cput(c, *a, "old/sub/y.txt");
    join(c, *a);
    join(c, *b);
}

/*
 * Two servers, then `edits` on A. The session under test is A's, which
 * carries the edits up, or with `down` B's, which brings them down after A
 * synced.
 */
static void build_edits_on_a(crash_ctx *c, void (*edits)(crash_ctx *c, afs_test_server *a),
                             bool down)
{
    afs_test_server *a, *b;
    two_servers(c, &a, &b);
    edits(c, a);
    if (down)
        afs_test_sync(a);
    c->target = down ? b : a;
}

static void edits_upload(crash_ctx *c, afs_test_server *a)
{
    /* Over two of the engine's 1 MiB transfer chunks: a crash can fall
     * between the chunks of one download. */
    cput_sized(c, a, "big.bin", 2 * 1024 * 1024 + 4096);
    cput(c, a, "new1.txt");
    cput(c, a, "fresh/new2.txt");
    cput(c, a, "fresh/deep/new3.txt");
    cput(c, a, "mod.txt");
}

static void build_upload(crash_ctx *c)
{
    build_edits_on_a(c, edits_upload, false);
}

static void build_download(crash_ctx *c)
{
    build_edits_on_a(c, edits_upload, true);
}

static void edits_delete(crash_ctx *c, afs_test_server *a)
{
    cdel(c, a, "gone.txt");
    cdel(c, a, "old");
}

static void build_delete(crash_ctx *c)
{
    build_edits_on_a(c, edits_delete, false);
}

static void build_delete_down(crash_ctx *c)
{
    build_edits_on_a(c, edits_delete, true);
}

static void edits_rename(crash_ctx *c, afs_test_server *a)
{
    cmove(c, a, "mod.txt", "renamed.txt");
    cmove(c, a, "old", "moved");
}

static void build_rename(crash_ctx *c)
{
    build_edits_on_a(c, edits_rename, false);
}

static void build_rename_down(crash_ctx *c)
{
    build_edits_on_a(c, edits_rename, true);
}

/*
 * Both servers edit: keep.txt newer on A (B's edit becomes B's copy),
 * mod.txt newer on B (A's version in the share becomes A's copy), gone.txt
 * deleted on A but modified on B (modify beats delete), both-new.txt created
 * on both.
 */
static void build_conflict(crash_ctx *c)
{
    afs_test_server *a, *b;
    two_servers(c, &a, &b);
    cput(c, a, "keep.txt");
    afs_test_set_mtime(a->data, "keep.txt", 1700000900);
    cput(c, b, "keep.txt");
    afs_test_set_mtime(b->data, "keep.txt", 1700000100);
    cput(c, a, "mod.txt");
    afs_test_set_mtime(a->data, "mod.txt", 1700000100);
    cput(c, b, "mod.txt");
    afs_test_set_mtime(b->data, "mod.txt", 1700000900);
    cdel(c, a, "gone.txt");
    cput(c, b, "gone.txt");
    cput(c, a, "both-new.txt");
    afs_test_set_mtime(a->data, "both-new.txt", 1700000500);
    cput(c, b, "both-new.txt");
    afs_test_set_mtime(b->data, "both-new.txt", 1700000600);
    afs_test_sync(a);
    c->target = b;
}

/* A file on one side where the other made a directory, both ways. */
static void build_type_conflict(crash_ctx *c)
{
    afs_test_server *a, *b;
    two_servers(c, &a, &b);
    cput(c, a, "t1");
    cput(c, b, "t1/inner.txt");
    cput(c, a, "t2/inner.txt");
    cput(c, b, "t2");
    afs_test_sync(a);
    c->target = b;
}

/* A third server with data of its own joins (the merge initial sync). */
static void build_join(crash_ctx *c)
{
    afs_test_server *a, *b, *n;
    two_servers(c, &a, &b);
    n = server(c, "ServerC");
    cput(c, n, "keep.txt");
    afs_test_set_mtime(n->data, "keep.txt", 1600000000); /* older: becomes C's copy */
    cput(c, n, "mod.txt");
    cput(c, n, "only-c/file.txt");
    {
        char *same = afs_test_get(a->data, "old/x.txt");
        afs_test_put(n->data, "old/x.txt", same); /* identical: adopted */
        free(same);
    }
    afs_test_fenv_join(&c->fe, n, NULL);
    c->target = n;
}

typedef struct scenario {
    const char *name;
    void (*build)(crash_ctx *c);
} scenario;

static const scenario scenarios[] = {
    { "upload", build_upload },
    { "download", build_download },
    { "delete", build_delete },
    { "delete-down", build_delete_down },
    { "rename", build_rename },
    { "rename-down", build_rename_down },
    { "conflict", build_conflict },
    { "type-conflict", build_type_conflict },
    { "join", build_join },
};

/*
 * The slots walked: every call that changes something, and reads. A crash
 * right after a call is a point of its own where the call completes an
 * effect (a put, a rename); after a read, or a write, fsync or time change
 * of a temporary download, it is the state the crash before the next call
 * of the download already gives, so those are walked "before" only.
 */
struct slot {
    bool fs;        /* filesystem slot, else storage */
    const char *op;
    bool after;     /* also crash right after the call */
};

static const struct slot slots[] = {
    { false, "put", true },   { false, "remove", true }, { false, "rename", true },
    { false, "mkdir", true }, { false, "rmdir", true },  { false, "set_props", true },
    { false, "read", false }, { false, "list", false },
    { true, "rename", true }, { true, "unlink", true },  { true, "mkdir", true },
    { true, "rmdir", true },  { true, "write", false }, { true, "fsync", false },
    { true, "set_times", false },
};

static void ctx_init(crash_ctx *c, const scenario *sc)
{
    memset(c, 0, sizeof(*c));
    c->root = afs_test_sandbox(sc->name);
    afs_test_fenv_init(&c->fe, c->root);
    sc->build(c);
    assert_non_null(c->target);
    /* Every process that held the handles is gone now. */
    for (int i = 0; i < c->fe.env.count; i++)
        afs_test_fenv_close(&c->fe.env.servers[i]);
}

static void ctx_free(crash_ctx *c)
{
    afs_test_fenv_free(&c->fe);
    if (!getenv("AFS_TEST_KEEP"))
        afs_test_rmtree(c->root);
    free(c->root);
    for (int i = 0; i < c->nv; i++) {
        free(c->v[i].content);
        free(c->v[i].path);
    }
}

static afs_test_fault *slot_ctl(crash_ctx *c, const struct slot *sl)
{
    return sl->fs ? afs_test_fenv_fs_ctl(&c->fe, c->target)
                  : afs_test_fenv_storage_ctl(c->target);
}

/* The dry run: how many calls of each slot the target session makes. */
static void count_calls(const scenario *sc, uint64_t counts[NELEM(slots)])
{
    crash_ctx c;
    ctx_init(&c, sc);
    afs_test_fenv_open(&c.fe, c.target);
    afs_test_fault_reset_counts(afs_test_fenv_fs_ctl(&c.fe, c.target));
    afs_test_fault_reset_counts(afs_test_fenv_storage_ctl(c.target));
    afs_test_sync(c.target);
    for (size_t i = 0; i < NELEM(slots); i++)
        counts[i] = afs_test_fault_count(slot_ctl(&c, &slots[i]), slots[i].op);
    ctx_free(&c);
}

static void run_point(const scenario *sc, const struct slot *sl, uint64_t n,
                      afs_test_fault_mode mode)
{
    char point[160];
    crash_ctx c;
    pid_t pid;
    int status = 0;

    snprintf(point, sizeof(point), "%s: crash %s %s %s #%llu", sc->name,
             mode == AFS_FAULT_CRASH_BEFORE ? "before" : "after", sl->fs ? "fs" : "storage",
             sl->op, (unsigned long long)n);
    ctx_init(&c, sc);
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* The child is the process that crashes: no cmocka in here. */
        int rc = afs_test_fenv_try_open(&c.fe, c.target);
        if (rc != 0)
            _exit(2);
        afs_test_fault_set(slot_ctl(&c, sl), sl->op, n, mode, 0);
        rc = afs_endpoint_sync(c.target->ep, NULL, NULL);
        _exit(rc == 0 ? 0 : 3);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != AFS_TEST_CRASH_EXIT)
        fail_msg("%s: the session was not stopped (status %d)", point, status);
    afs_test_fenv_converge(&c.fe, point, 0);
    check(&c, point);
    ctx_free(&c);
}

static void log_to_stderr(int level, const char *message, void *payload)
{
    (void)payload;
    fprintf(stderr, "[%d] %s\n", level, message);
}

/*
 * AFS_CRASH_ONLY=<scenario> runs one scenario; AFS_TEST_LOG=<level> prints the
 * library's log, AFS_TEST_KEEP=1 keeps the sandboxes.
 */
static void test_sync_crash__every_point_converges_and_loses_nothing(void **state)
{
    const char *only = getenv("AFS_CRASH_ONLY");
    unsigned int total = 0;
    struct timespec t0, t1;
    (void)state;
    if (getenv("AFS_TEST_LOG"))
        afs_log_set(log_to_stderr, atoi(getenv("AFS_TEST_LOG")), NULL);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t s = 0; s < NELEM(scenarios); s++) {
        uint64_t counts[NELEM(slots)];
        unsigned int points = 0;
        if (only && strcmp(only, scenarios[s].name) != 0)
            continue;
        count_calls(&scenarios[s], counts);
        print_message("crash: %-12s calls:", scenarios[s].name);
        for (size_t i = 0; i < NELEM(slots); i++)
            if (counts[i])
                print_message(" %s.%s=%llu", slots[i].fs ? "fs" : "st", slots[i].op,
                              (unsigned long long)counts[i]);
        print_message("\n");
        for (size_t i = 0; i < NELEM(slots); i++) {
            for (uint64_t n = 1; n <= counts[i]; n++) {
                run_point(&scenarios[s], &slots[i], n, AFS_FAULT_CRASH_BEFORE);
                points++;
                if (slots[i].after) {
                    run_point(&scenarios[s], &slots[i], n, AFS_FAULT_CRASH_AFTER);
                    points++;
                }
            }
        }
        print_message("crash: %-12s %3u points\n", scenarios[s].name, points);
        total += points;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    print_message("crash: %u distinct crash points, all converged (%.1f s)\n", total,
                  (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    assert_true(only || total >= 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sync_crash__every_point_converges_and_loses_nothing),
    };
    return cmocka_run_group_tests_name("sync_crash", tests, NULL, NULL);
}

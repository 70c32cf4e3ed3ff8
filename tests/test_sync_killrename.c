/*
 * A session killed while it carries another server's folder rename, and
 * the folder renamed back in the share before the next session (the kill
 * loop's "seen once" report, docs/sync.md#known-problems).
 *
 * ServerA renames dir -> dirX and syncs; ServerB's session, which carries
 * that rename here and makes a conflict copy inside the folder, is stopped
 * at one of its calls (a fork()ed child whose fault wrapper exits before or
 * after its Nth call of a slot, as in test_sync_crash); then ServerA renames
 * dirX -> dir back and syncs; then every server restarts and syncs until
 * nothing moves. Checked: ServerA's last rename stands (the share has `dir`,
 * not `dirX`), every version a user wrote survives at its path or as a
 * conflict copy of it, and every server holds what the share holds.
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "faultscheme.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

typedef struct kr_ctx {
    char *root;
    afs_test_fenv fe;
    afs_test_server *a, *b, *c;
} kr_ctx;

/* What users wrote and must find again: path (or a conflict copy of it) and content. */
static const char *const kept[][2] = {
    { "dir/f.txt", "f, written on A" },
    { "dir/sub/s.txt", "s, written on A" },
    { "dir/g.txt", "g, edited on A (newer)" },
    { "dir/g.txt", "g, edited on B (older)" },
    { "dir/h.txt", "h, edited on A (older)" },
    { "dir/h.txt", "h, edited on B (newer)" },
    { "dir/g-ServerC.txt", "a conflict copy made earlier" },
};

static void set_up(kr_ctx *k, const char *name)
{
    memset(k, 0, sizeof(*k));
    k->root = afs_test_sandbox(name);
    afs_test_fenv_init(&k->fe, k->root);
    k->a = afs_test_fenv_server(&k->fe, "ServerA");
    k->b = afs_test_fenv_server(&k->fe, "ServerB");
    k->c = afs_test_fenv_server(&k->fe, "ServerC");
    afs_test_put(k->a->data, "dir/f.txt", "f, written on A");
    afs_test_put(k->a->data, "dir/sub/s.txt", "s, written on A");
    afs_test_put(k->a->data, "dir/g.txt", "g, first");
    afs_test_put(k->a->data, "dir/h.txt", "h, first");
    afs_test_put(k->a->data, "dir/g-ServerC.txt", "a conflict copy made earlier");
    afs_test_fenv_join(&k->fe, k->a, NULL);
    afs_test_sync(k->a);
    afs_test_fenv_join(&k->fe, k->b, NULL);
    afs_test_sync(k->b);
    afs_test_fenv_join(&k->fe, k->c, NULL);
    afs_test_sync(k->c);
    /* Both edit g.txt and h.txt; A renames the folder and syncs first. */
    afs_test_put(k->a->data, "dir/g.txt", "g, edited on A (newer)");
    afs_test_set_mtime(k->a->data, "dir/g.txt", 1700000900);
    afs_test_put(k->b->data, "dir/g.txt", "g, edited on B (older)");
    afs_test_set_mtime(k->b->data, "dir/g.txt", 1700000100);
    afs_test_put(k->a->data, "dir/h.txt", "h, edited on A (older)");
    afs_test_set_mtime(k->a->data, "dir/h.txt", 1700000100);
    afs_test_put(k->b->data, "dir/h.txt", "h, edited on B (newer)");
    afs_test_set_mtime(k->b->data, "dir/h.txt", 1700000900);
    {
        char *from = afs_test_path(k->a->data, "dir"), *to = afs_test_path(k->a->data, "dirX");
        assert_int_equal(rename(from, to), 0);
        free(from);
        free(to);
    }
    afs_test_sync(k->a);
    assert_int_equal(k->a->last.renamed_cloud, 1);
    for (int i = 0; i < k->fe.env.count; i++)
        afs_test_fenv_close(&k->fe.env.servers[i]);
}

static void tear_down(kr_ctx *k)
{
    afs_test_fenv_free(&k->fe);
    if (!getenv("AFS_TEST_KEEP"))
        afs_test_rmtree(k->root);
    free(k->root);
}

/*
 * The folder renamed back, dirX -> dir, on server `s` (wherever its last
 * session left it); `s` syncs unless it is the one that was stopped (its
 * next session is the recovery's).
 */
static void rename_back_on(kr_ctx *k, afs_test_server *s, bool sync)
{
    char *from = afs_test_path(s->data, "dirX"), *to = afs_test_path(s->data, "dir");
    struct stat st;
    /* ServerB stopped before its rename: its user sees dir, nothing to do. */
    if (sync || stat(from, &st) == 0)
        assert_int_equal(rename(from, to), 0);
    free(from);
    free(to);
    if (sync) {
        afs_test_fenv_open(&k->fe, s);
        afs_test_sync(s);
        afs_test_fenv_close(s);
    }
}

/* Does the share hold `content` at `rel` or at a conflict copy of it? */
static bool share_holds(const char *share, const char *rel, const char *content)
{
    const char *slash = strrchr(rel, '/'), *dot = strrchr(rel, '.');
    size_t dl = (size_t)(slash - rel), stem = (size_t)(dot - slash - 1);
    char *dir = strndup(rel, dl), *abs = afs_test_path(share, dir);
    DIR *d = opendir(abs);
    struct dirent *e;
    bool found = false;
    while (d && !found && (e = readdir(d)) != NULL) {
        char *p, *got;
        if (strncmp(e->d_name, slash + 1, stem) != 0 ||
            (e->d_name[stem] != '.' && e->d_name[stem] != '-'))
            continue;
        p = afs_test_path(abs, e->d_name);
        got = afs_test_read_file(p, NULL);
        found = got && strcmp(got, content) == 0;
        free(got);
        free(p);
    }
    if (d)
        closedir(d);
    free(abs);
    free(dir);
    return found;
}

/* Who renames the folder back after ServerB's session was stopped. */
enum back { BACK_ON_A, BACK_ON_B, NOT_BACK };
static const char *const back_names[] = { "renamed back on A", "renamed back on B",
                                          "not renamed back" };

/*
 * Renamed back on ServerA: its rename back stands, the share has no dirX
 * and the versions are under dir. Otherwise either name may hold a version
 * (a rename that cannot be carried across is a delete plus a create, and
 * ServerB's edits stay where its user made them: modify beats delete).
 */
static void check(kr_ctx *k, const char *point, enum back back)
{
    afs_test_env *env = &k->fe.env;
    char *gone = afs_test_path(env->share, "dirX");
    struct stat st;
    if (back == BACK_ON_A && stat(gone, &st) == 0)
        fail_msg("%s: the share has dirX again: ServerA's rename back was undone", point);
    free(gone);
    for (size_t i = 0; i < NELEM(kept); i++) {
        char other[64];
        snprintf(other, sizeof(other), "dirX%s", kept[i][0] + 3);
        if (!share_holds(env->share, kept[i][0], kept[i][1]) &&
            (back == BACK_ON_A || !share_holds(env->share, other, kept[i][1])))
            fail_msg("%s: \"%s\" was lost (expected at %s or a conflict copy of it)", point,
                     kept[i][1], kept[i][0]);
    }
    for (int i = 0; i < env->count; i++)
        afs_test_assert_same_tree(env->servers[i].data, env->share);
}

static void run_point(const char *slot_op, bool fs, uint64_t n, afs_test_fault_mode mode,
                      enum back back)
{
    char point[128];
    kr_ctx k;
    pid_t pid;
    int status = 0;

    snprintf(point, sizeof(point), "%s, crash %s %s %s #%llu", back_names[back],
             mode == AFS_FAULT_CRASH_BEFORE ? "before" : "after", fs ? "fs" : "storage",
             slot_op, (unsigned long long)n);
    set_up(&k, "killrename");
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int rc = afs_test_fenv_try_open(&k.fe, k.b);
        if (rc != 0)
            _exit(2);
        afs_test_fault_set(fs ? afs_test_fenv_fs_ctl(&k.fe, k.b) : afs_test_fenv_storage_ctl(k.b),
                           slot_op, n, mode, 0);
        rc = afs_endpoint_sync(k.b->ep, NULL, NULL);
        _exit(rc == 0 ? 0 : 3);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != AFS_TEST_CRASH_EXIT)
        fail_msg("%s: the session was not stopped (status %d)", point, status);
    if (back != NOT_BACK)
        rename_back_on(&k, back == BACK_ON_A ? k.a : k.b, back == BACK_ON_A);
    afs_test_fenv_converge(&k.fe, point, 1);
    check(&k, point, back);
    tear_down(&k);
}

static const struct {
    bool fs;
    const char *op;
} slots[] = {
    { true, "rename" },   { true, "unlink" }, { true, "mkdir" },
    { true, "rmdir" },    { false, "put" },   { false, "rename" },
    { false, "remove" },  { false, "mkdir" }, { false, "rmdir" },
};

/*
 * Every point of ServerB's session: before and after each of its calls
 * that changes something (the local rename, the conflict copies, the
 * downloads, the uploads, the journal batch). Returns the points run.
 */
static unsigned int every_point(enum back back)
{
    unsigned int points = 0;
    for (size_t i = 0; i < NELEM(slots); i++) {
        uint64_t count;
        kr_ctx k;
        set_up(&k, "killrename-count");
        afs_test_fenv_open(&k.fe, k.b);
        afs_test_fault_reset_counts(afs_test_fenv_fs_ctl(&k.fe, k.b));
        afs_test_fault_reset_counts(afs_test_fenv_storage_ctl(k.b));
        afs_test_sync(k.b);
        assert_int_equal(k.b->last.renamed_local, 1);
        assert_int_equal(k.b->last.conflicts, 2);
        count = afs_test_fault_count(slots[i].fs ? afs_test_fenv_fs_ctl(&k.fe, k.b)
                                                 : afs_test_fenv_storage_ctl(k.b),
                                     slots[i].op);
        tear_down(&k);
        for (uint64_t n = 1; n <= count; n++) {
            run_point(slots[i].op, slots[i].fs, n, AFS_FAULT_CRASH_BEFORE, back);
            run_point(slots[i].op, slots[i].fs, n, AFS_FAULT_CRASH_AFTER, back);
            points += 2;
        }
    }
    print_message("killrename: %s: %u crash points, all converged\n", back_names[back],
                  points);
    return points;
}

/* ServerA, which made the rename, renames the folder back and syncs. */
static void test_sync_killrename__renamed_back_in_the_share(void **state)
{
    (void)state;
    assert_true(every_point(BACK_ON_A) >= 10);
}

/* ServerB's user, who sees dirX after the killed session, renames it back. */
static void test_sync_killrename__renamed_back_on_the_killed_server(void **state)
{
    (void)state;
    assert_true(every_point(BACK_ON_B) >= 10);
}

/* Nobody renames it back: the next session finishes the killed one's rename. */
static void test_sync_killrename__not_renamed_back(void **state)
{
    (void)state;
    assert_true(every_point(NOT_BACK) >= 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sync_killrename__renamed_back_in_the_share),
        cmocka_unit_test(test_sync_killrename__renamed_back_on_the_killed_server),
        cmocka_unit_test(test_sync_killrename__not_renamed_back),
    };
    return cmocka_run_group_tests_name("sync_killrename", tests, NULL, NULL);
}

/* Multi-server sync test environment (tests/support/syncenv.h). */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "syncenv.h"

void afs_test_env_init(afs_test_env *env, const char *root)
{
    memset(env, 0, sizeof(*env));
    env->root = strdup(root);
    env->share = afs_test_path(root, "share");
    afs_test_mkdirs(env->share);
}

void afs_test_env_free(afs_test_env *env)
{
    for (int i = 0; i < env->count; i++) {
        afs_test_server *s = &env->servers[i];
        afs_test_server_close(s);
        free(s->name);
        free(s->state);
        free(s->data);
    }
    free(env->share);
    free(env->share_uri);
    free(env->root);
    memset(env, 0, sizeof(*env));
}

void afs_test_server_close(afs_test_server *s)
{
    afs_endpoint_close(s->ep);
    afs_group_close(s->group);
    afs_service_close(s->svc);
    s->ep = NULL;
    s->group = NULL;
    s->svc = NULL;
}

int afs_test_env_setup(void **state, const char *name)
{
    afs_test_env *env = calloc(1, sizeof(*env));
    char *root = afs_test_sandbox(name);
    assert_non_null(env);
    afs_test_env_init(env, root);
    free(root);
    *state = env;
    return 0;
}

int afs_test_env_teardown(void **state)
{
    afs_test_env *env = *state;
    if (!getenv("AFS_TEST_KEEP"))
        afs_test_rmtree(env->root);
    afs_test_env_free(env);
    free(env);
    afs_error_clear();
    return 0;
}

afs_test_server *afs_test_env_server(afs_test_env *env, const char *name)
{
    return afs_test_env_server_on(env, name, NULL);
}

afs_test_server *afs_test_env_server_on(afs_test_env *env, const char *name, afs_fs *fs)
{
    afs_test_server *s = &env->servers[env->count++];
    afs_service_options so = AFS_SERVICE_OPTIONS_INIT;
    char buf[256];
    memset(s, 0, sizeof(*s));
    s->name = strdup(name);
    snprintf(buf, sizeof(buf), "%s-state", name);
    s->state = afs_test_path(env->root, buf);
    snprintf(buf, sizeof(buf), "%s-data", name);
    s->data = afs_test_path(env->root, buf);
    afs_test_mkdirs(s->data);
    so.fs = fs;
    AFS_ASSERT_OK(afs_service_open(&s->svc, s->state, fs ? &so : NULL));
    AFS_ASSERT_OK(afs_server_register(s->svc, name));
    s->last.version = AFS_SYNC_RESULT_VERSION;
    return s;
}

void afs_test_env_join(afs_test_env *env, afs_test_server *s, const afs_endpoint_options *opts)
{
    const char *uri = env->share_uri ? env->share_uri : env->share;
    int rc = afs_group_open(&s->group, s->svc, NULL, uri);
    if (rc == AFS_ENOTFOUND)
        AFS_ASSERT_OK(afs_group_create(&s->group, s->svc, "group1", uri));
    else
        AFS_ASSERT_OK(rc);
    AFS_ASSERT_OK(afs_endpoint_create(&s->ep, s->group, s->data, opts));
}

void afs_test_sync_expect(afs_test_server *s, uint32_t flags, int expect)
{
    afs_sync_options o = AFS_SYNC_OPTIONS_INIT;
    o.flags = flags;
    s->last.version = AFS_SYNC_RESULT_VERSION;
    AFS_ASSERT_CODE(afs_endpoint_sync(s->ep, &o, &s->last), expect);
}

uint64_t afs_test_moved(const afs_sync_result *r)
{
    return r->files_uploaded + r->files_downloaded + r->dirs_created_cloud +
           r->dirs_created_local + r->deleted_cloud + r->deleted_local + r->renamed_cloud +
           r->renamed_local + r->metadata_updates + r->adopted + r->conflicts + r->item_errors;
}

void afs_test_print_errors(afs_test_server *s, const char *prefix)
{
    afs_item_error **errs = NULL;
    size_t n = 0;
    if (afs_endpoint_errors(s->ep, &errs, &n) != 0)
        return;
    for (size_t i = 0; i < n; i++)
        print_message("%s%s: %s: %s (%d)\n", prefix, s->name, errs[i]->path, errs[i]->message,
                      errs[i]->code);
    afs_item_errors_free(errs, n);
}

void afs_test_put(const char *dir, const char *rel, const char *content)
{
    char *p = afs_test_path(dir, rel);
    afs_test_write_file(p, content, strlen(content));
    free(p);
}

char *afs_test_get(const char *dir, const char *rel)
{
    char *p = afs_test_path(dir, rel);
    char *c = afs_test_read_file(p, NULL);
    free(p);
    return c;
}

void afs_test_assert_file(const char *dir, const char *rel, const char *content)
{
    char *got = afs_test_get(dir, rel);
    if (!content) {
        if (got)
            fail_msg("%s/%s should be missing but holds \"%s\"", dir, rel, got);
        return;
    }
    if (!got)
        fail_msg("%s/%s is missing (expected \"%s\")", dir, rel, content);
    if (strcmp(got, content) != 0)
        fail_msg("%s/%s holds \"%s\", expected \"%s\"", dir, rel, got, content);
    free(got);
}

void afs_test_set_mtime(const char *dir, const char *rel, long sec)
{
    char *p = afs_test_path(dir, rel);
    struct timespec ts[2] = { { sec, 0 }, { sec, 0 } };
    if (utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW) != 0)
        fail_msg("utimensat %s: %s", p, strerror(errno));
    free(p);
}

/* Compare `rel` below both roots recursively. */
static void same_dir(const char *a, const char *b, const char *rel)
{
    char *pa = rel[0] ? afs_test_path(a, rel) : strdup(a);
    char *pb = rel[0] ? afs_test_path(b, rel) : strdup(b);
    DIR *d;
    struct dirent *e;
    size_t na = 0, nb = 0;

    d = opendir(pa);
    if (!d)
        fail_msg("opendir %s: %s", pa, strerror(errno));
    while ((e = readdir(d)) != NULL) {
        char child[4096];
        struct stat sa, sb;
        char *ca, *cb;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
            (!rel[0] && !strcmp(e->d_name, ".libafs")))
            continue;
        na++;
        snprintf(child, sizeof(child), "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
        ca = afs_test_path(a, child);
        cb = afs_test_path(b, child);
        if (lstat(ca, &sa) != 0)
            fail_msg("lstat %s", ca);
        if (lstat(cb, &sb) != 0)
            fail_msg("%s exists in %s but not in %s", child, a, b);
        if (S_ISDIR(sa.st_mode) != S_ISDIR(sb.st_mode))
            fail_msg("%s is a directory on one side only", child);
        if (S_ISDIR(sa.st_mode)) {
            same_dir(a, b, child);
        } else {
            size_t la, lb;
            char *xa = afs_test_read_file(ca, &la), *xb = afs_test_read_file(cb, &lb);
            if (!xa || !xb || la != lb || memcmp(xa, xb, la) != 0)
                fail_msg("%s differs between %s and %s", child, a, b);
            free(xa);
            free(xb);
        }
        free(ca);
        free(cb);
    }
    closedir(d);
    d = opendir(pb);
    if (!d)
        fail_msg("opendir %s: %s", pb, strerror(errno));
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
            !(!rel[0] && !strcmp(e->d_name, ".libafs")))
            nb++;
    closedir(d);
    if (na != nb)
        fail_msg("%s holds %zu entries in %s but %zu in %s", rel[0] ? rel : "/", na, a, nb, b);
    free(pa);
    free(pb);
}

void afs_test_assert_same_tree(const char *a, const char *b)
{
    same_dir(a, b, "");
}

void afs_test_for_each_file(const char *abs, void (*fn)(const char *abs, void *payload),
                            void *payload)
{
    struct stat st;
    DIR *d;
    struct dirent *e;
    if (lstat(abs, &st) != 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        fn(abs, payload);
        return;
    }
    d = opendir(abs);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        char *p;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        p = afs_test_path(abs, e->d_name);
        afs_test_for_each_file(p, fn, payload);
        free(p);
    }
    closedir(d);
}

static size_t count_in(const char *dir, bool top)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0;
    if (!d)
        return 0;
    while ((e = readdir(d)) != NULL) {
        char *p;
        struct stat st;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
            (top && !strcmp(e->d_name, ".libafs")))
            continue;
        p = afs_test_path(dir, e->d_name);
        if (lstat(p, &st) == 0) {
            if (S_ISDIR(st.st_mode))
                n += count_in(p, false);
            else if (S_ISREG(st.st_mode))
                n++;
        }
        free(p);
    }
    closedir(d);
    return n;
}

size_t afs_test_count_files(const char *dir)
{
    return count_in(dir, true);
}

void afs_test_write_pattern(const char *dir, const char *rel, size_t size, unsigned seed)
{
    char *p = afs_test_path(dir, rel);
    char *buf = malloc(size);
    for (size_t i = 0; i < size; i++)
        buf[i] = (char)((i * 131u + seed * 7u) ^ (i >> 9));
    afs_test_write_file(p, buf, size);
    free(buf);
    free(p);
}

void afs_test_two_servers_through_share(afs_test_env *env)
{
    afs_test_server *a = afs_test_env_server(env, "ServerA");
    afs_test_server *b = afs_test_env_server(env, "ServerB");
    afs_storage *share = NULL;
    afs_storage_entry st;

    afs_test_put(a->data, "report.docx", "quarterly numbers");
    afs_test_put(a->data, "projects/alpha/plan.txt", "step one");
    afs_test_put(a->data, "names with spaces/caf\xc3\xa9 #1.txt", "unicode and spaces");
    afs_test_write_pattern(a->data, "media/big.bin", (9u << 20) + 7, 1); /* blocks, ranges */
    {
        char *empty = afs_test_path(a->data, "projects/empty");
        afs_test_mkdirs(empty);
        free(empty);
    }
    afs_test_env_join(env, a, NULL);
    afs_test_sync(a);
    assert_int_equal(a->last.files_uploaded, 4);
    assert_int_equal(a->last.item_errors, 0);

    /* The share holds the tree and the empty directory. */
    AFS_ASSERT_OK(afs_storage_open(&share, env->share_uri));
    AFS_ASSERT_OK(afs_storage_stat(share, "media/big.bin", &st));
    assert_int_equal(st.size, (9u << 20) + 7);
    AFS_ASSERT_OK(afs_storage_stat(share, "projects/empty", &st));
    assert_int_equal(st.type, AFS_TYPE_DIR);

    afs_test_env_join(env, b, NULL);
    afs_test_sync(b);
    assert_int_equal(b->last.files_downloaded, 4);
    assert_int_equal(b->last.item_errors, 0);
    afs_test_assert_same_tree(a->data, b->data);

    /* Changes both ways: an edit, a new file, a delete, a directory rename. */
    afs_test_put(b->data, "report.docx", "quarterly numbers, revised on B");
    afs_test_put(a->data, "projects/alpha/notes.txt", "new on A");
    {
        char *p = afs_test_path(a->data, "projects/alpha/plan.txt");
        char *from = afs_test_path(a->data, "names with spaces");
        char *to = afs_test_path(a->data, "renamed dir");
        assert_int_equal(unlink(p), 0);
        assert_int_equal(rename(from, to), 0);
        free(p);
        free(from);
        free(to);
    }
    afs_test_sync(b);
    afs_test_sync(a);
    afs_test_sync(b);
    afs_test_assert_file(a->data, "report.docx", "quarterly numbers, revised on B");
    afs_test_assert_file(b->data, "projects/alpha/notes.txt", "new on A");
    afs_test_assert_file(b->data, "projects/alpha/plan.txt", NULL);
    afs_test_assert_file(b->data, "renamed dir/caf\xc3\xa9 #1.txt", "unicode and spaces");
    afs_test_assert_same_tree(a->data, b->data);
    AFS_ASSERT_CODE(afs_storage_stat(share, "names with spaces", &st), AFS_ENOTFOUND);

    /* Nothing changed: nothing moves. */
    afs_test_sync(a);
    afs_test_sync(b);
    assert_int_equal(a->last.files_uploaded + a->last.files_downloaded, 0);
    assert_int_equal(b->last.files_uploaded + b->last.files_downloaded, 0);
    afs_storage_free(share);
}


void afs_test_conflict_copy_names_its_writer(afs_test_env *env)
{
    afs_test_server *a = afs_test_env_server(env, "ServerA");
    afs_test_server *b = afs_test_env_server(env, "ServerB");
    afs_storage_entry st;

    afs_test_put(a->data, "x.txt", "v1");
    afs_test_env_join(env, a, NULL);
    afs_test_sync(a);
    afs_test_env_join(env, b, NULL);
    afs_test_sync(b);
    afs_test_put(a->data, "x.txt", "A's edit, older");
    afs_test_set_mtime(a->data, "x.txt", 1600000000);
    afs_test_sync(a);
    afs_test_put(b->data, "x.txt", "B's edit, newer");
    afs_test_set_mtime(b->data, "x.txt", 1700000000);
    afs_test_sync_expect(b, AFS_SYNC_FULL_CLOUD_SCAN, 0);
    assert_int_equal(b->last.conflicts, 1);
    afs_test_assert_file(b->data, "x.txt", "B's edit, newer");
    afs_test_assert_file(b->data, "x-ServerA.txt", "A's edit, older");
    afs_test_assert_file(b->data, "x-Cloud.txt", NULL);
    AFS_ASSERT_OK(afs_storage_stat(afs_group_storage(b->group), "x-ServerA.txt", &st));
    assert_int_equal(st.size, 15);
    afs_test_sync(a);
    afs_test_assert_same_tree(a->data, b->data);
}

/*
 * The local-directory backend: the conformance suite every backend passes,
 * then what only a local directory can show: objects are plain files, edits
 * behind the library's back change etags, planted symlinks are never
 * followed, crash leftovers are cleaned, and afs_storage_open() URIs.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "conformance.h"
#include "support.h"

/* ---- conformance factory: one sandbox directory per case ---- */

struct local_factory {
    char *root; /* the share of the running case */
    afs_storage_local_options opts;
};

static int lf_create_empty(void *payload, afs_storage **out)
{
    struct local_factory *lf = payload;
    free(lf->root);
    lf->root = afs_test_sandbox("conf");
    return afs_storage_local_new(out, lf->root, &lf->opts);
}

static int lf_reopen(void *payload, afs_storage *existing, afs_storage **out)
{
    struct local_factory *lf = payload;
    (void)existing;
    return afs_storage_local_new(out, lf->root, &lf->opts);
}

static void lf_destroy(void *payload, afs_storage *storage)
{
    struct local_factory *lf = payload;
    afs_storage_free(storage);
    if (!getenv("AFS_TEST_KEEP"))
        afs_test_rmtree(lf->root);
    free(lf->root);
    lf->root = NULL;
}

/* ---- helpers ---- */

static afs_storage *open_share(const char *root)
{
    afs_storage *s = NULL;
    AFS_ASSERT_OK(afs_storage_local_new(&s, root, NULL));
    return s;
}

static char *share_dir(void **state)
{
    char *share = afs_test_path(*state, "share");
    afs_test_mkdirs(share);
    return share;
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

struct count_names {
    size_t count;
    bool saw_link;
};

static int count_entries(const afs_storage_entry *e, void *payload)
{
    struct count_names *c = payload;
    c->count++;
    if ((e->name_len == 4 && memcmp(e->name, "link", 4) == 0) ||
        (e->name_len == 5 && memcmp(e->name, "flink", 5) == 0) ||
        (e->name_len == 4 && memcmp(e->name, "fifo", 4) == 0))
        c->saw_link = true;
    return 0;
}

/* ---- local-specific cases ---- */

static void test_storage_local__objects_are_plain_files(void **state)
{
    char *share = share_dir(state);
    afs_storage *s = open_share(share);
    char *path = afs_test_path(share, "docs/readme.txt");
    char *made = afs_test_path(share, "made-by-hand");
    afs_storage_entry st;
    size_t len = 0;
    char *got;

    AFS_ASSERT_OK(afs_storage_put_buffer(s, "docs/readme.txt", "exact\0bytes", 11, NULL, NULL));
    got = afs_test_read_file(path, &len);
    assert_non_null(got);
    assert_int_equal(len, 11);
    assert_memory_equal(got, "exact\0bytes", 11);
    free(got);
    /* Something another program drops in is an object too. */
    afs_test_write_file(made, "hand", 4);
    AFS_ASSERT_OK(afs_storage_stat(s, "made-by-hand", &st));
    assert_int_equal(st.size, 4);
    /* The private area exists on disk but is no user object. */
    free(path);
    path = afs_test_path(share, ".libafs/local/tmp");
    assert_true(exists(path));
    AFS_ASSERT_CODE(afs_storage_stat(s, ".libafs", &st), AFS_EINVALIDNAME);
    /* Metadata and attributes are plain user xattrs. */
    {
        static const char *const k[] = { "origin" };
        static const char *const v[] = { "srv1" };
        afs_storage_put_options o = AFS_STORAGE_PUT_OPTIONS_INIT;
        char val[16] = "";
        char *f = afs_test_path(share, "x.txt");
        o.meta_count = 1;
        o.meta_keys = k;
        o.meta_values = v;
        o.attributes = AFS_ATTR_HIDDEN;
        AFS_ASSERT_OK(afs_storage_put_buffer(s, "x.txt", "x", 1, &o, NULL));
        assert_int_equal(getxattr(f, "user.afs.m.origin", val, sizeof(val) - 1), 4);
        assert_string_equal(val, "srv1");
        memset(val, 0, sizeof(val));
        assert_true(getxattr(f, "user.afs.attr", val, sizeof(val) - 1) > 0);
        assert_int_equal(strtoul(val, NULL, 10), AFS_ATTR_HIDDEN);
        free(f);
    }
    afs_storage_free(s);
    free(made);
    free(path);
    free(share);
}

static void test_storage_local__external_edit_changes_etag(void **state)
{
    char *share = share_dir(state);
    afs_storage *s = open_share(share);
    char *path = afs_test_path(share, "edited.txt");
    afs_storage_entry a, b, c;
    struct timespec ts[2] = { { 0, UTIME_OMIT }, { 1234567890, 5 } };

    AFS_ASSERT_OK(afs_storage_put_buffer(s, "edited.txt", "before", 6, NULL, &a));
    /* Same size, different bytes, written in place by another program. */
    {
        int fd = open(path, O_WRONLY);
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, "AFTER!", 6, 0), 6);
        close(fd);
    }
    AFS_ASSERT_OK(afs_storage_stat(s, "edited.txt", &b));
    assert_string_not_equal(a.etag, b.etag);
    /* A metadata-only change (touch -d) changes it as well. */
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
    AFS_ASSERT_OK(afs_storage_stat(s, "edited.txt", &c));
    assert_string_not_equal(b.etag, c.etag);
    assert_int_equal(c.mtime_ns, INT64_C(1234567890000000005));
    /* The old etag no longer matches for a conditional write. */
    {
        afs_storage_put_options o = AFS_STORAGE_PUT_OPTIONS_INIT;
        o.condition = AFS_COND_IF_MATCH;
        o.if_match = a.etag;
        AFS_ASSERT_CODE(afs_storage_put_buffer(s, "edited.txt", "lost", 4, &o, NULL),
                        AFS_ECONDITION);
    }
    afs_storage_free(s);
    free(path);
    free(share);
}

static void test_storage_local__symlinks_never_followed(void **state)
{
    char *share = share_dir(state);
    char *outside = afs_test_path(*state, "outside");
    char *secret = afs_test_path(outside, "secret.txt");
    char *link = afs_test_path(share, "link");
    char *flink = afs_test_path(share, "flink");
    char *fifo = afs_test_path(share, "fifo");
    char *planted = afs_test_path(outside, "planted.txt");
    afs_storage *s;
    afs_storage_entry st;
    struct count_names cn = { 0, false };
    char buf[64];
    size_t n = 0, len = 0;
    char *got;

    afs_test_mkdirs(outside);
    afs_test_write_file(secret, "top secret", 10);
    assert_int_equal(symlink(outside, link), 0);
    assert_int_equal(symlink(secret, flink), 0);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    s = open_share(share);
    AFS_ASSERT_OK(afs_storage_put_buffer(s, "real.txt", "r", 1, NULL, NULL));

    /* list: symlinks and special files are skipped. */
    AFS_ASSERT_OK(afs_storage_list_all(s, "", count_entries, &cn));
    assert_false(cn.saw_link);
    assert_int_equal(cn.count, 1);
    AFS_ASSERT_CODE(afs_storage_list_all(s, "link", count_entries, &cn), AFS_ENOTFOUND);
    /* stat / read: not objects. */
    AFS_ASSERT_CODE(afs_storage_stat(s, "link", &st), AFS_ENOTFOUND);
    AFS_ASSERT_CODE(afs_storage_stat(s, "link/secret.txt", &st), AFS_ENOTFOUND);
    AFS_ASSERT_CODE(afs_storage_stat(s, "flink", &st), AFS_ENOTFOUND);
    AFS_ASSERT_CODE(afs_storage_stat(s, "fifo", &st), AFS_ENOTFOUND);
    AFS_ASSERT_CODE(afs_storage_read(s, "flink", 0, buf, sizeof(buf), &n, NULL), AFS_ENOTFOUND);
    AFS_ASSERT_CODE(afs_storage_read(s, "link/secret.txt", 0, buf, sizeof(buf), &n, NULL),
                    AFS_ENOTFOUND);
    AFS_ASSERT_CODE(afs_storage_read(s, "fifo", 0, buf, sizeof(buf), &n, NULL), AFS_ENOTFOUND);
    /* put through a symlinked directory is refused; nothing lands outside. */
    assert_int_not_equal(afs_storage_put_buffer(s, "link/planted.txt", "x", 1, NULL, NULL), 0);
    assert_false(exists(planted));
    assert_int_not_equal(afs_storage_mkdir(s, "link/sub"), 0);
    assert_int_not_equal(afs_storage_rename(s, "real.txt", "link/planted.txt", NULL, 0), 0);
    assert_false(exists(planted));
    /* put over a file symlink replaces the link itself, never its target. */
    AFS_ASSERT_OK(afs_storage_put_buffer(s, "flink", "new", 3, NULL, NULL));
    got = afs_test_read_file(secret, &len);
    assert_non_null(got);
    assert_string_equal(got, "top secret");
    free(got);
    AFS_ASSERT_OK(afs_storage_stat(s, "flink", &st));
    assert_int_equal(st.type, AFS_TYPE_FILE);
    assert_int_equal(st.size, 3);
    /* remove / set_props / meta_get do not reach through the link either. */
    AFS_ASSERT_CODE(afs_storage_remove(s, "link/secret.txt", NULL), AFS_ENOTFOUND);
    AFS_ASSERT_CODE(afs_storage_set_props(s, "link/secret.txt", 0, 0, NULL, NULL), AFS_ENOTFOUND);
    assert_true(exists(secret));
    assert_true(exists(link));

    afs_storage_free(s);
    free(share);
    free(outside);
    free(secret);
    free(link);
    free(flink);
    free(fifo);
    free(planted);
}

/* The temp-name prefix the backend uses for this host: "<host>~". */
static void host_name(char *buf, size_t cap)
{
    memset(buf, 0, cap);
    if (gethostname(buf, cap - 1) != 0 || !buf[0])
        snprintf(buf, cap, "localhost");
    for (char *c = buf; *c; c++)
        if (*c == '~' || *c == '/')
            *c = '_';
}

static void test_storage_local__stale_temps_removed_on_open(void **state)
{
    char *share = share_dir(state);
    char host[65], name[256];
    char *dead, *live, *foreign_old, *foreign_new;
    struct timespec old[2] = { { 0, 0 }, { 0, 0 } };
    afs_storage *s;
    pid_t pid;
    int ws;

    /* A pid that certainly exited: a child we reaped. */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    host_name(host, sizeof(host));
    afs_storage_free(open_share(share)); /* makes .libafs/local/tmp */
    snprintf(name, sizeof(name), ".libafs/local/tmp/%s~%ld~00000000deadbeef.tmp", host, (long)pid);
    dead = afs_test_path(share, name);
    snprintf(name, sizeof(name), ".libafs/local/tmp/%s~%ld~00000000cafebabe.tmp", host, (long)getpid());
    live = afs_test_path(share, name);
    foreign_old = afs_test_path(share, ".libafs/local/tmp/elsewhere~1~0000000000000001.tmp");
    foreign_new = afs_test_path(share, ".libafs/local/tmp/elsewhere~1~0000000000000002.tmp");
    afs_test_write_file(dead, "partial", 7);
    afs_test_write_file(live, "in flight", 9);
    afs_test_write_file(foreign_old, "old", 3);
    afs_test_write_file(foreign_new, "new", 3);
    old[0].tv_sec = old[1].tv_sec = time(NULL) - 3 * 24 * 3600;
    assert_int_equal(utimensat(AT_FDCWD, foreign_old, old, 0), 0);

    s = open_share(share);
    assert_false(exists(dead));        /* this host, dead pid */
    assert_true(exists(live));         /* this host, live pid: still being written */
    assert_false(exists(foreign_old)); /* another host, older than 24 h */
    assert_true(exists(foreign_new));  /* another host, recent: may be in flight */
    afs_storage_free(s);
    free(dead);
    free(live);
    free(foreign_old);
    free(foreign_new);
    free(share);
}

/*
 * A replacing (if-match) put links its temp beside the object as
 * .libafs~<host>~<pid>~<hex>.tmp for an instant. Such names are never
 * listed; a crashed writer's leftover goes at the next listing of its
 * directory, or when the directory is removed; a running writer's stays.
 */
static void test_storage_local__temps_beside_objects_hidden_and_cleaned(void **state)
{
    char *share = share_dir(state);
    afs_storage *s = open_share(share);
    afs_storage_put_options o = AFS_STORAGE_PUT_OPTIONS_INIT;
    afs_storage_entry e;
    char host[65], name[256], etag[AFS_ETAG_MAX], *dead, *live, *gone, *got, *dir;
    struct count_names cn;
    size_t len = 0, ondisk = 0;
    struct dirent *de;
    DIR *dp;
    pid_t pid;
    int ws;

    /* A replacement leaves nothing beside the object. */
    AFS_ASSERT_OK(afs_storage_mkdir(s, "d"));
    o.condition = AFS_COND_CREATE_ONLY;
    AFS_ASSERT_OK(afs_storage_put_buffer(s, "d/f.txt", "one", 3, &o, &e));
    o.condition = AFS_COND_IF_MATCH;
    o.if_match = etag;
    snprintf(etag, sizeof(etag), "%s", e.etag);
    AFS_ASSERT_OK(afs_storage_put_buffer(s, "d/f.txt", "two", 3, &o, &e));
    snprintf(etag, sizeof(etag), "%s", e.etag); /* a replacement returns the object's etag */
    AFS_ASSERT_OK(afs_storage_put_buffer(s, "d/f.txt", "two!", 4, &o, &e));
    AFS_ASSERT_CODE(afs_storage_put_buffer(s, "d/f.txt", "late", 4, &o, NULL), AFS_ECONDITION);
    AFS_ASSERT_CODE(afs_storage_put_buffer(s, "d/.libafs~h~1~2.tmp", "x", 1, NULL, NULL),
                    AFS_EINVALIDNAME);
    AFS_ASSERT_CODE(afs_storage_rename(s, "d/f.txt", "d/.libafs~h~1~2.tmp", NULL, 0),
                    AFS_EINVALIDNAME);
    dir = afs_test_path(share, "d/f.txt");
    got = afs_test_read_file(dir, &len);
    free(dir);
    assert_int_equal(len, 4);
    assert_memory_equal(got, "two!", 4);
    free(got);
    dir = afs_test_path(share, "d");
    assert_non_null(dp = opendir(dir));
    while ((de = readdir(dp)) != NULL)
        ondisk += de->d_name[0] != '.' || strncmp(de->d_name, ".libafs~", 8) == 0;
    closedir(dp);
    assert_int_equal(ondisk, 1);

    pid = fork(); /* a pid that certainly exited: a child we reaped */
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    host_name(host, sizeof(host));
    snprintf(name, sizeof(name), "d/.libafs~%s~%ld~00000000deadbeef.tmp", host, (long)pid);
    dead = afs_test_path(share, name);
    snprintf(name, sizeof(name), "d/.libafs~%s~%ld~00000000cafebabe.tmp", host, (long)getpid());
    live = afs_test_path(share, name);
    afs_test_write_file(dead, "a crashed put", 13);
    afs_test_write_file(live, "in flight", 9);
    memset(&cn, 0, sizeof(cn));
    AFS_ASSERT_OK(afs_storage_list_all(s, "d", count_entries, &cn));
    assert_int_equal(cn.count, 1); /* f.txt only */
    assert_false(exists(dead));
    assert_true(exists(live));

    /* A directory holding only a dead writer's temp can be removed. */
    AFS_ASSERT_OK(afs_storage_mkdir(s, "e"));
    snprintf(name, sizeof(name), "e/.libafs~%s~%ld~0000000000000001.tmp", host, (long)pid);
    gone = afs_test_path(share, name);
    afs_test_write_file(gone, "left", 4);
    AFS_ASSERT_OK(afs_storage_rmdir(s, "e"));
    assert_false(exists(gone));
    /* One with a running writer's temp is not empty. */
    AFS_ASSERT_CODE(afs_storage_remove(s, "d/f.txt", NULL), 0);
    AFS_ASSERT_CODE(afs_storage_rmdir(s, "d"), AFS_ENOTEMPTY);
    assert_true(exists(live));
    afs_storage_free(s);
    free(dead);
    free(live);
    free(gone);
    free(dir);
    free(share);
}

static void test_storage_local__nosync_option_and_versions(void **state)
{
    char *share = share_dir(state);
    afs_storage_local_options o;
    afs_storage *s = NULL;
    afs_storage_entry st;
    char buf[8];
    size_t n = 0;
    const char *name = NULL;

    AFS_ASSERT_CODE(afs_storage_local_options_init(NULL, 1), AFS_EINVAL);
    AFS_ASSERT_CODE(afs_storage_local_options_init(&o, 0), AFS_EVERSION);
    AFS_ASSERT_CODE(afs_storage_local_options_init(&o, AFS_STORAGE_LOCAL_OPTIONS_VERSION + 1),
                    AFS_EVERSION);
    AFS_ASSERT_OK(afs_storage_local_options_init(&o, AFS_STORAGE_LOCAL_OPTIONS_VERSION));
    assert_int_equal(o.flags, 0);
    o.version = 99;
    AFS_ASSERT_CODE(afs_storage_local_new(&s, share, &o), AFS_EVERSION);
    assert_null(s);

    AFS_ASSERT_OK(afs_storage_local_options_init(&o, AFS_STORAGE_LOCAL_OPTIONS_VERSION));
    o.flags = AFS_STORAGE_LOCAL_NOSYNC;
    AFS_ASSERT_OK(afs_storage_local_new(&s, share, &o));
    AFS_ASSERT_OK(afs_storage_put_buffer(s, "fast/one", "quick", 5, NULL, NULL));
    AFS_ASSERT_OK(afs_storage_read(s, "fast/one", 0, buf, sizeof(buf), &n, NULL));
    assert_int_equal(n, 5);
    assert_memory_equal(buf, "quick", 5);
    AFS_ASSERT_OK(afs_storage_rename(s, "fast", "quick", NULL, 0));
    AFS_ASSERT_OK(afs_storage_stat(s, "quick/one", &st));
    AFS_ASSERT_OK(afs_storage_ctl(s, AFS_STORAGE_CTL_NAME, &name));
    assert_string_equal(name, "local");
    AFS_ASSERT_CODE(afs_storage_ctl(s, 12345, NULL), AFS_ENOTSUP);
    afs_storage_free(s);
    free(share);
}

static void test_storage_local__root_must_be_a_directory(void **state)
{
    char *missing = afs_test_path(*state, "missing");
    char *file = afs_test_path(*state, "file");
    afs_storage *s = NULL;

    AFS_ASSERT_CODE(afs_storage_local_new(&s, missing, NULL), AFS_ENOTFOUND);
    assert_null(s);
    assert_non_null(strstr(afs_error_last(), missing));
    afs_test_write_file(file, "f", 1);
    AFS_ASSERT_CODE(afs_storage_local_new(&s, file, NULL), AFS_ENOTDIR);
    AFS_ASSERT_CODE(afs_storage_local_new(&s, NULL, NULL), AFS_EINVAL);
    AFS_ASSERT_CODE(afs_storage_local_new(NULL, file, NULL), AFS_EINVAL);
    free(missing);
    free(file);
}

/* Open `uri`, put one object, and check it landed in `dir` on disk. */
static void assert_uri_opens(const char *uri, const char *dir)
{
    afs_storage *s = NULL;
    char *path = afs_test_path(dir, "via-uri");
    char *got;

    AFS_ASSERT_OK(afs_storage_open(&s, uri));
    AFS_ASSERT_OK(afs_storage_put_buffer(s, "via-uri", "u", 1, NULL, NULL));
    got = afs_test_read_file(path, NULL);
    assert_non_null(got);
    assert_string_equal(got, "u");
    free(got);
    assert_int_equal(unlink(path), 0);
    afs_storage_free(s);
    free(path);
}

static void test_storage_local__open_by_uri(void **state)
{
    char *spaced = afs_test_path(*state, "with space");
    char *plain = share_dir(state);
    char uri[PATH_MAX * 3];
    char cwd[PATH_MAX];
    afs_storage *s = NULL;
    size_t o;

    afs_test_mkdirs(spaced);
    /* file:// with the space percent-encoded. */
    o = (size_t)snprintf(uri, sizeof(uri), "file://");
    for (const char *p = spaced; *p; p++)
        o += (size_t)snprintf(uri + o, sizeof(uri) - o, *p == ' ' ? "%%20" : "%c", *p);
    assert_uri_opens(uri, spaced);
    snprintf(uri, sizeof(uri), "file://localhost%s", plain);
    assert_uri_opens(uri, plain);
    /* A plain absolute path, and a relative one against the cwd. */
    assert_uri_opens(plain, plain);
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(*state), 0);
    assert_uri_opens("share", plain);
    assert_int_equal(chdir(cwd), 0);

    /* Other schemes are not built in; a remote file host is malformed. azblob://
     * and azfiles:// are built in (docs/azure.md): checked here without any
     * network traffic (plain http to a host that is not loopback is refused). */
    AFS_ASSERT_CODE(afs_storage_open(&s, "azfile://account/share"), AFS_ENOTSUP);
    assert_non_null(strstr(afs_error_last(), "azfile"));
    AFS_ASSERT_CODE(afs_storage_open(&s, "azblob://account/container?endpoint=http://storage."
                                         "example/account"), AFS_EPERM);
    AFS_ASSERT_CODE(afs_storage_open(&s, "azfiles://account/share?endpoint=http://storage."
                                         "example/account"), AFS_EPERM);
    AFS_ASSERT_CODE(afs_storage_open(&s, "file://otherhost/x"), AFS_EINVAL);
    AFS_ASSERT_CODE(afs_storage_open(&s, "file:///tmp/%zz"), AFS_EINVAL);
    AFS_ASSERT_CODE(afs_storage_open(&s, "file:///tmp/%00x"), AFS_EINVAL);
    AFS_ASSERT_CODE(afs_storage_open(&s, "file:relative"), AFS_EINVAL);
    AFS_ASSERT_CODE(afs_storage_open(&s, ""), AFS_EINVAL);
    AFS_ASSERT_CODE(afs_storage_open(&s, NULL), AFS_EINVAL);
    snprintf(uri, sizeof(uri), "file://%s/missing", plain);
    AFS_ASSERT_CODE(afs_storage_open(&s, uri), AFS_ENOTFOUND);
    assert_null(s);
    free(spaced);
    free(plain);
}

static void test_storage_local__failed_put_leaves_no_temp(void **state)
{
    char *share = share_dir(state);
    char *tmp = afs_test_path(share, ".libafs/local/tmp");
    afs_storage *s = open_share(share);
    afs_storage_put_options o = AFS_STORAGE_PUT_OPTIONS_INIT;
    afs_storage_entry st;
    size_t entries = 0;
    DIR *d;
    struct dirent *de;

    AFS_ASSERT_OK(afs_storage_put_buffer(s, "x", "1", 1, NULL, NULL));
    o.condition = AFS_COND_CREATE_ONLY;
    AFS_ASSERT_CODE(afs_storage_put_buffer(s, "x", "2", 1, &o, NULL), AFS_ECONDITION);
    o.condition = AFS_COND_IF_MATCH;
    o.if_match = "\"stale\"";
    AFS_ASSERT_CODE(afs_storage_put_buffer(s, "x", "3", 1, &o, NULL), AFS_ECONDITION);
    /* A file where a directory is needed. */
    assert_int_not_equal(afs_storage_put_buffer(s, "x/y", "4", 1, NULL, NULL), 0);
    AFS_ASSERT_OK(afs_storage_mkdir(s, "adir"));
    AFS_ASSERT_CODE(afs_storage_put_buffer(s, "adir", "5", 1, NULL, NULL), AFS_EISDIR);
    AFS_ASSERT_CODE(afs_storage_remove(s, "adir", NULL), AFS_EISDIR);
    AFS_ASSERT_OK(afs_storage_stat(s, "x", &st));
    assert_int_equal(st.size, 1);
    d = opendir(tmp);
    assert_non_null(d);
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            entries++;
    closedir(d);
    assert_int_equal(entries, 0);
    afs_storage_free(s);
    free(tmp);
    free(share);
}


/* A host backend reached by URI: here "mirror://<dir>" opens <dir> locally. */
static int mirror_open(afs_storage **out, const char *uri, void *payload)
{
    int *opened = payload;
    (*opened)++;
    return afs_storage_local_new(out, uri + strlen("mirror://"), NULL);
}

static void test_storage_local__registered_scheme_opens_host_backend(void **state)
{
    char *uri = NULL;
    afs_storage *s = NULL;
    afs_storage_entry e;
    int opened = 0;
    size_t n = strlen(*state) + 16;

    uri = malloc(n);
    assert_non_null(uri);
    snprintf(uri, n, "mirror://%s", (char *)*state);
    AFS_ASSERT_CODE(afs_storage_open(&s, uri), AFS_ENOTSUP);
    AFS_ASSERT_OK(afs_storage_scheme_register("mirror", mirror_open, &opened));
    AFS_ASSERT_OK(afs_storage_open(&s, uri));
    assert_int_equal(opened, 1);
    AFS_ASSERT_OK(afs_storage_put_buffer(s, "via-scheme.txt", "hi", 2, NULL, &e));
    afs_storage_free(s);
    s = NULL;
    {
        char *p = afs_test_path(*state, "via-scheme.txt");
        char *c = afs_test_read_file(p, NULL);
        assert_non_null(c);
        assert_string_equal(c, "hi");
        free(c);
        free(p);
    }
    /* Bad names are refused; "file" stays built in; removal works once. */
    AFS_ASSERT_CODE(afs_storage_scheme_register("Bad Scheme", mirror_open, NULL), AFS_EINVAL);
    AFS_ASSERT_CODE(afs_storage_scheme_register("file", mirror_open, NULL), AFS_EINVAL);
    AFS_ASSERT_OK(afs_storage_scheme_register("mirror", NULL, NULL));
    AFS_ASSERT_CODE(afs_storage_scheme_register("mirror", NULL, NULL), AFS_ENOTFOUND);
    AFS_ASSERT_CODE(afs_storage_open(&s, uri), AFS_ENOTSUP);
    free(uri);
}

/* The bytes of version 1 of the options, as a program built against it has them. */
#define LOCAL_OPTIONS_V1 AFS_TEST_END_OF(afs_storage_local_options, flags)
#define PUT_OPTIONS_V1 AFS_TEST_END_OF(afs_storage_put_options, meta_values)

static void test_storage_local__options_are_read_only_to_their_version(void **state)
{
    char *share = share_dir(state);
    static const unsigned int refused[] = { 0, 99 };
    static const char *const keys[] = { "owner" };
    static const char *const vals[] = { "alice" };
    /* Version-1 options directly before a page that cannot be touched. */
    afs_storage_local_options *lo = afs_test_guarded_new(LOCAL_OPTIONS_V1);
    afs_storage_put_options *po = afs_test_guarded_new(PUT_OPTIONS_V1);
    afs_storage *s = NULL, *s2 = NULL;
    afs_storage_entry e;
    char buf[16];
    size_t n = 0;

    AFS_ASSERT_OK(afs_storage_local_options_init(lo, 1));
    assert_int_equal(lo->version, 1);
    assert_int_equal(lo->flags, 0);
    lo->flags = AFS_STORAGE_LOCAL_NOSYNC;
    AFS_ASSERT_OK(afs_storage_local_new(&s, share, lo));

    AFS_ASSERT_OK(afs_storage_put_options_init(po, 1));
    assert_int_equal(po->version, 1);
    assert_int_equal(po->condition, AFS_COND_NONE);
    assert_true(po->mtime_ns == AFS_TIME_OMIT);
    assert_int_equal(po->meta_count, 0);
    po->mtime_ns = 1600000000LL * 1000000000LL; /* the fields are read */
    po->meta_count = 1;
    po->meta_keys = keys;
    po->meta_values = vals;
    AFS_ASSERT_OK(afs_storage_put_buffer(s, "a.txt", "hello", 5, po, &e));
    assert_true(e.mtime_ns == 1600000000LL * 1000000000LL);
    AFS_ASSERT_OK(afs_storage_meta_get(s, "a.txt", "owner", buf, sizeof(buf), &n));
    assert_string_equal(buf, "alice");
    po->meta_count = 0;
    po->condition = AFS_COND_CREATE_ONLY;
    AFS_ASSERT_CODE(afs_storage_put_buffer(s, "a.txt", "other", 5, po, NULL), AFS_ECONDITION);
    afs_test_storage_assert_text(s, "a.txt", "hello");

    /* Version 0 and a version from the future: AFS_EVERSION naming the
     * function and the version; nothing stored, nothing written. */
    for (size_t k = 0; k < sizeof(refused) / sizeof(refused[0]); k++) {
        unsigned int v = refused[k];
        po->version = v;
        AFS_ASSERT_CODE(afs_storage_put_buffer(s, "b.txt", "x", 1, po, NULL), AFS_EVERSION);
        afs_test_assert_version_refused("afs_storage_put", "afs_storage_put_options", v);
        AFS_ASSERT_CODE(afs_storage_put_options_init(po, v), AFS_EVERSION);
        afs_test_assert_version_refused("afs_storage_put_options_init",
                                        "afs_storage_put_options", v);
        assert_int_equal(po->version, v);
        assert_int_equal(po->condition, AFS_COND_CREATE_ONLY); /* left as it was */
        po->version = 1;

        lo->version = v;
        AFS_ASSERT_CODE(afs_storage_local_new(&s2, share, lo), AFS_EVERSION);
        afs_test_assert_version_refused("afs_storage_local_new", "afs_storage_local_options", v);
        assert_null(s2);
        AFS_ASSERT_CODE(afs_storage_local_options_init(lo, v), AFS_EVERSION);
        assert_int_equal(lo->version, v);
        assert_int_equal(lo->flags, AFS_STORAGE_LOCAL_NOSYNC);
        lo->version = 1;
    }
    AFS_ASSERT_CODE(afs_storage_stat(s, "b.txt", &e), AFS_ENOTFOUND);

    afs_storage_free(s);
    afs_test_guarded_free(lo, LOCAL_OPTIONS_V1);
    afs_test_guarded_free(po, PUT_OPTIONS_V1);
    free(share);
}

int main(void)
{
    struct local_factory lf = { NULL, AFS_STORAGE_LOCAL_OPTIONS_INIT };
    afs_test_storage_factory factory;
    int failed;
#define T(fn) cmocka_unit_test_setup_teardown(fn, afs_test_setup_sandbox, afs_test_teardown_sandbox)
    const struct CMUnitTest tests[] = {
        T(test_storage_local__objects_are_plain_files),
        T(test_storage_local__external_edit_changes_etag),
        T(test_storage_local__symlinks_never_followed),
        T(test_storage_local__stale_temps_removed_on_open),
        T(test_storage_local__temps_beside_objects_hidden_and_cleaned),
        T(test_storage_local__nosync_option_and_versions),
        T(test_storage_local__options_are_read_only_to_their_version),
        T(test_storage_local__root_must_be_a_directory),
        T(test_storage_local__open_by_uri),
        T(test_storage_local__failed_put_leaves_no_temp),
        T(test_storage_local__registered_scheme_opens_host_backend),
    };
#undef T
    /* fsync costs ~1 ms a put here and the listing case makes 10,000 of
     * them; the fsync path is exercised by every storage_local case below. */
    lf.opts.flags = AFS_STORAGE_LOCAL_NOSYNC;
    memset(&factory, 0, sizeof(factory));
    factory.payload = &lf;
    factory.create_empty = lf_create_empty;
    factory.reopen = lf_reopen;
    factory.destroy = lf_destroy;
    factory.mtime_resolution_ns = 1;
    failed = afs_test_storage_conformance_run("local", &factory);
    failed += cmocka_run_group_tests_name("storage_local", tests, NULL, NULL);
    return failed;
}

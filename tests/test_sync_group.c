/*
 * Group membership and the names of conflict copies (docs/sync.md): a
 * second server of one name is refused in a group, and a group joined
 * before that rule gives the clashing servers' copies distinct names; the
 * endpoint of a server that is gone can be removed from the group by
 * another host, and if that server comes back its sessions stop without
 * deleting anything; a conflict copy of a version learned without its
 * journal record is named after the server that wrote it (the writer tag),
 * and `Cloud` only for an edit made in the share.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "faultscheme.h"
#include "sync/names.h"

static int setup(void **state)
{
    return afs_test_env_setup(state, "group");
}

static char logbuf[8192];

static void capture_log(int level, const char *message, void *payload)
{
    (void)payload;
    if (level <= AFS_LOG_WARN && strlen(logbuf) + strlen(message) + 2 < sizeof(logbuf)) {
        strcat(logbuf, message);
        strcat(logbuf, "\n");
    }
}

static bool share_has(afs_test_env *env, const char *rel)
{
    char *p = afs_test_path(env->share, rel);
    struct stat st;
    bool yes = lstat(p, &st) == 0;
    free(p);
    return yes;
}

static size_t endpoint_count(afs_group *g)
{
    afs_endpoint_info **eps = NULL;
    size_t n = 0;
    AFS_ASSERT_OK(afs_endpoint_list(g, &eps, &n));
    afs_endpoint_info_free(eps, n);
    return n;
}

static const char *server_id(afs_test_server *s)
{
    const char *id = NULL;
    AFS_ASSERT_OK(afs_server_info(s->svc, NULL, &id));
    return id;
}

/* Replace `from` by `to` in a share document (the local share is plain files). */
static void edit_share_doc(afs_test_env *env, const char *rel, const char *from, const char *to)
{
    char *p = afs_test_path(env->share, rel);
    size_t len = 0;
    char *doc = afs_test_read_file(p, &len), *at, *out;
    assert_non_null(doc);
    at = strstr(doc, from);
    assert_non_null(at);
    out = malloc(len + strlen(to) + 1);
    assert_non_null(out);
    memcpy(out, doc, (size_t)(at - doc));
    strcpy(out + (at - doc), to);
    strcat(out, at + strlen(from));
    afs_test_write_file(p, out, strlen(out));
    free(out);
    free(doc);
    free(p);
}

/* A server registered as `name` whose directories are named after `dirs`
 * (afs_test_env_server names them after the server). */
static afs_test_server *server_in(afs_test_env *env, const char *dirs, const char *name)
{
    afs_test_server *s = &env->servers[env->count++];
    char buf[256];
    memset(s, 0, sizeof(*s));
    s->name = strdup(name);
    snprintf(buf, sizeof(buf), "%s-state", dirs);
    s->state = afs_test_path(env->root, buf);
    snprintf(buf, sizeof(buf), "%s-data", dirs);
    s->data = afs_test_path(env->root, buf);
    afs_test_mkdirs(s->data);
    AFS_ASSERT_OK(afs_service_open(&s->svc, s->state, NULL));
    AFS_ASSERT_OK(afs_server_register(s->svc, name));
    s->last.version = AFS_SYNC_RESULT_VERSION;
    return s;
}

/* ---- 1. one name per server in a group ---- */

static void test_sync_group__second_server_of_the_same_name_is_refused(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "Branch");
    afs_test_server *b = server_in(env, "other", "branch"); /* differs only in case */
    afs_test_server *c = afs_test_env_server(env, "Central");
    afs_endpoint *ep = NULL;

    afs_test_put(a->data, "a.txt", "a");
    afs_test_env_join(env, a, NULL);
    afs_test_sync(a);
    AFS_ASSERT_OK(afs_group_open(&b->group, b->svc, NULL, env->share));
    AFS_ASSERT_CODE(afs_endpoint_create(&ep, b->group, b->data, NULL), AFS_EEXISTS);
    assert_null(ep);
    assert_non_null(strstr(afs_error_last(), "register this server under another name"));
    assert_non_null(strstr(afs_error_last(), "\"Branch\""));
    /* Nothing of it was left in the share or here. */
    assert_int_equal(endpoint_count(b->group), 1);
    AFS_ASSERT_CODE(afs_endpoint_open(&ep, b->group), AFS_ENOTFOUND);
    /* Another name is welcome. */
    afs_test_env_join(env, c, NULL);
    afs_test_sync(c);
    afs_test_assert_file(c->data, "a.txt", "a");
    assert_int_equal(endpoint_count(c->group), 2);
}

/*
 * A group joined before the rule: ServerB registered under ServerA's name
 * "Twin". Before the fix both made "x-Twin.txt" copies; now the pruning
 * pass warns and the clashing server's copies carry its id's start.
 */
static void test_sync_group__same_named_servers_of_an_old_group_make_distinct_copies(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = server_in(env, "a", "Twin");
    afs_test_server *b = server_in(env, "b", "Twin");
    char docrel[128], want[128], bid8[9];

    afs_test_put(a->data, "x.txt", "v1");
    afs_test_env_join(env, a, NULL);
    afs_test_sync(a);
    /* Join B as a libafs before the rule would: hide A's name for a moment. */
    snprintf(docrel, sizeof(docrel), ".libafs/endpoints/%s.json", afs_endpoint_id(a->ep));
    edit_share_doc(env, docrel, "\"server_name\":\"Twin\"", "\"server_name\":\"Else\"");
    afs_test_env_join(env, b, NULL);
    edit_share_doc(env, docrel, "\"server_name\":\"Else\"", "\"server_name\":\"Twin\"");

    logbuf[0] = '\0';
    afs_log_set(capture_log, AFS_LOG_WARN, NULL);
    afs_test_sync(b); /* its first session prunes, and finds the clash */
    afs_log_set(NULL, AFS_LOG_ERROR, NULL);
    assert_non_null(strstr(logbuf, "registered under this server's name \"Twin\""));
    afs_test_assert_file(b->data, "x.txt", "v1");

    /* B's older edit loses: its copy names B unambiguously. */
    afs_test_put(b->data, "x.txt", "B's edit, older");
    afs_test_set_mtime(b->data, "x.txt", 1600000000);
    afs_test_put(a->data, "x.txt", "A's edit, newer");
    afs_test_set_mtime(a->data, "x.txt", 1700000000);
    afs_test_sync(a);
    afs_test_sync(b);
    assert_int_equal(b->last.conflicts, 1);
    snprintf(bid8, sizeof(bid8), "%.8s", server_id(b));
    snprintf(want, sizeof(want), "x-Twin(%s).txt", bid8);
    afs_test_assert_file(b->data, want, "B's edit, older");
    afs_test_assert_file(env->share, want, "B's edit, older");
    afs_test_assert_file(b->data, "x-Twin.txt", NULL);
    afs_test_assert_file(b->data, "x.txt", "A's edit, newer");
    afs_test_sync(a);
    afs_test_assert_same_tree(a->data, b->data);
}

/* ---- 2. removing the endpoint of a server that is gone ---- */

/* A and B synced, then B's process is gone (its handles closed). */
static void two_then_b_gone(afs_test_env *env, afs_test_server **a, afs_test_server **b,
                            char *b_ep, char *b_sid)
{
    *a = afs_test_env_server(env, "ServerA");
    *b = afs_test_env_server(env, "ServerB");
    afs_test_put((*a)->data, "doc.txt", "shared");
    afs_test_put((*a)->data, "dir/deep.txt", "deep");
    afs_test_env_join(env, *a, NULL);
    afs_test_sync(*a);
    afs_test_env_join(env, *b, NULL);
    afs_test_put((*b)->data, "fromb.txt", "B's");
    afs_test_sync(*b);
    afs_test_sync(*a);
    strcpy(b_ep, afs_endpoint_id((*b)->ep));
    strcpy(b_sid, server_id(*b));
    afs_test_server_close(*b);
}

static void test_sync_group__endpoint_of_a_gone_server_can_be_removed(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a, *b;
    char b_ep[64], b_sid[64], rel[160];

    two_then_b_gone(env, &a, &b, b_ep, b_sid);
    snprintf(rel, sizeof(rel), ".libafs/endpoints/%s.cursor", b_ep);
    assert_true(share_has(env, rel));
    assert_int_equal(endpoint_count(a->group), 2);

    /* Refused: this server's own endpoint, an unknown id, a path. */
    AFS_ASSERT_CODE(afs_group_remove_endpoint(a->group, afs_endpoint_id(a->ep)), AFS_EINVAL);
    assert_non_null(strstr(afs_error_last(), "afs_endpoint_delete"));
    AFS_ASSERT_CODE(afs_group_remove_endpoint(a->group, "0123abcd-0000-0000-0000-000000000000"),
                    AFS_ENOTFOUND);
    AFS_ASSERT_CODE(afs_group_remove_endpoint(a->group, "../group"), AFS_EINVAL);
    AFS_ASSERT_CODE(afs_group_remove_endpoint(NULL, b_ep), AFS_EINVAL);

    AFS_ASSERT_OK(afs_group_remove_endpoint(a->group, b_ep));
    assert_int_equal(endpoint_count(a->group), 1);
    assert_false(share_has(env, rel)); /* its journal cursor no longer counts */
    snprintf(rel, sizeof(rel), ".libafs/servers/%s", b_sid);
    assert_false(share_has(env, rel));
    AFS_ASSERT_CODE(afs_group_remove_endpoint(a->group, b_ep), AFS_ENOTFOUND);
    /* No file was touched, in the share or on the gone server. */
    afs_test_assert_file(env->share, "doc.txt", "shared");
    afs_test_assert_file(env->share, "dir/deep.txt", "deep");
    afs_test_assert_file(env->share, "fromb.txt", "B's");
    afs_test_assert_file(b->data, "fromb.txt", "B's");
    afs_test_assert_file(b->data, "doc.txt", "shared");
    afs_test_sync(a);
    assert_int_equal(afs_test_moved(&a->last), 0);

    /* The group can now be deleted once A's own endpoint is gone. */
    AFS_ASSERT_OK(afs_endpoint_delete(a->group));
    afs_endpoint_close(a->ep);
    a->ep = NULL;
    afs_group_close(a->group);
    a->group = NULL;
    AFS_ASSERT_OK(afs_group_delete(a->svc, "group1"));
    afs_test_assert_file(env->share, "fromb.txt", "B's");
}

/*
 * The server was not gone after all: its endpoint's next session stops
 * with a clear error and changes nothing on either side; its options do not
 * bring the definition back; deleting and creating the endpoint again
 * merges, losing nothing.
 */
static void test_sync_group__removed_endpoint_that_comes_back_changes_nothing(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a, *b;
    afs_endpoint_options o = AFS_ENDPOINT_OPTIONS_INIT;
    char b_ep[64], b_sid[64], rel[160];

    two_then_b_gone(env, &a, &b, b_ep, b_sid);
    AFS_ASSERT_OK(afs_group_remove_endpoint(a->group, b_ep));

    /* B restarts, with local changes: a new file, a deletion, an edit. */
    AFS_ASSERT_OK(afs_service_open(&b->svc, b->state, NULL));
    AFS_ASSERT_OK(afs_group_open(&b->group, b->svc, "group1", NULL));
    AFS_ASSERT_OK(afs_endpoint_open(&b->ep, b->group));
    afs_test_put(b->data, "new-on-b.txt", "new");
    afs_test_put(b->data, "fromb.txt", "B's second edit");
    {
        char *p = afs_test_path(b->data, "doc.txt");
        assert_int_equal(unlink(p), 0);
        free(p);
    }
    afs_test_sync_expect(b, 0, AFS_ENOTFOUND);
    assert_non_null(strstr(afs_error_last(), "no longer in sync group \"group1\""));
    assert_non_null(strstr(afs_error_last(), "nothing was changed"));
    {
        afs_sync_result r = AFS_SYNC_RESULT_INIT;
        AFS_ASSERT_OK(afs_endpoint_last_result(b->ep, &r)); /* what status shows */
        assert_int_equal(r.result, AFS_ENOTFOUND);
        assert_int_equal(afs_test_moved(&r), 0);
    }
    afs_test_assert_file(env->share, "doc.txt", "shared");
    afs_test_assert_file(env->share, "fromb.txt", "B's");
    afs_test_assert_file(env->share, "new-on-b.txt", NULL);
    afs_test_assert_file(b->data, "new-on-b.txt", "new");
    afs_test_assert_file(b->data, "fromb.txt", "B's second edit");
    afs_test_assert_file(b->data, "dir/deep.txt", "deep");

    /* Its options cannot bring the definition back. */
    AFS_ASSERT_OK(afs_endpoint_get_options(b->ep, &o));
    o.safety_delete_percent = 70;
    AFS_ASSERT_CODE(afs_endpoint_set_options(b->ep, &o), AFS_ENOTFOUND);
    snprintf(rel, sizeof(rel), ".libafs/endpoints/%s.json", b_ep);
    assert_false(share_has(env, rel));
    assert_int_equal(endpoint_count(b->group), 1);

    /* The way back: delete it here (files stay), create it again. */
    afs_endpoint_close(b->ep);
    b->ep = NULL;
    AFS_ASSERT_OK(afs_endpoint_delete(b->group));
    afs_test_assert_file(b->data, "new-on-b.txt", "new");
    AFS_ASSERT_OK(afs_endpoint_create(&b->ep, b->group, b->data, NULL));
    afs_test_sync(b);
    afs_test_sync(a);
    afs_test_assert_file(env->share, "new-on-b.txt", "new");
    afs_test_assert_file(a->data, "new-on-b.txt", "new");
    afs_test_assert_file(b->data, "doc.txt", "shared"); /* a merge: it comes back */
    afs_test_assert_file(a->data, "dir/deep.txt", "deep");
    assert_int_equal(endpoint_count(a->group), 2);
}

/* ---- 3. conflict copies named after the writer ---- */

/* ServerA and ServerB with x.txt synced; A then uploads an older edit. */
static void a_uploads_older_edit(afs_test_env *env, afs_test_server **a, afs_test_server **b)
{
    *a = afs_test_env_server(env, "ServerA");
    *b = afs_test_env_server(env, "ServerB");
    afs_test_put((*a)->data, "x.txt", "v1");
    afs_test_env_join(env, *a, NULL);
    afs_test_sync(*a);
    afs_test_env_join(env, *b, NULL);
    afs_test_sync(*b);
    afs_test_put((*a)->data, "x.txt", "A's edit, older");
    afs_test_set_mtime((*a)->data, "x.txt", 1600000000);
    afs_test_sync(*a);
}

/* Before the fix: "x-Cloud.txt", though ServerA wrote that version. */
static void test_sync_group__copy_of_an_enumerated_version_is_named_after_its_writer(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a, *b;

    a_uploads_older_edit(env, &a, &b);
    afs_test_put(b->data, "x.txt", "B's edit, newer");
    afs_test_set_mtime(b->data, "x.txt", 1700000000);
    afs_test_sync_expect(b, AFS_SYNC_FULL_CLOUD_SCAN, 0); /* learns it by enumeration */
    assert_int_equal(b->last.full_cloud_scan, 1);
    assert_int_equal(b->last.conflicts, 1);
    afs_test_assert_file(b->data, "x.txt", "B's edit, newer");
    afs_test_assert_file(b->data, "x-ServerA.txt", "A's edit, older");
    afs_test_assert_file(env->share, "x-ServerA.txt", "A's edit, older");
    afs_test_assert_file(env->share, "x-Cloud.txt", NULL);
    afs_test_sync(a);
    afs_test_assert_same_tree(a->data, b->data);
}

/* The same version edited in place in the share (its metadata kept, as an
 * SMB write keeps it): the tag no longer vouches for it, so `Cloud`. */
static void test_sync_group__edit_in_the_share_keeping_the_tag_is_named_cloud(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a, *b;
    char *p;
    int fd;

    a_uploads_older_edit(env, &a, &b);
    p = afs_test_path(env->share, "x.txt");
    fd = open(p, O_WRONLY); /* same inode and size: its user xattrs stay */
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "share edit, old", 15), 15);
    close(fd);
    {
        char v[128];
        ssize_t n = getxattr(p, "user.afs.m." "afs_writer", v, sizeof(v) - 1);
        assert_true(n > 0);
        v[n] = '\0';
        assert_non_null(strstr(v, "ServerA")); /* the tag is still there */
    }
    free(p);
    afs_test_set_mtime(env->share, "x.txt", 1650000000);
    afs_test_put(b->data, "x.txt", "B's edit, newer");
    afs_test_set_mtime(b->data, "x.txt", 1700000000);
    afs_test_sync_expect(b, AFS_SYNC_FULL_CLOUD_SCAN, 0);
    assert_int_equal(b->last.conflicts, 1);
    afs_test_assert_file(b->data, "x-Cloud.txt", "share edit, old");
    afs_test_assert_file(b->data, "x-ServerA.txt", NULL);
}

struct edit_during_read {
    const char *abs; /* B's file to edit */
    bool done;
};

static void edit_on_read(const char *op, const char *path, void *payload)
{
    struct edit_during_read *e = payload;
    if (e->done || strcmp(op, "read") != 0 || strcmp(path, "x.txt") != 0)
        return;
    e->done = true;
    afs_test_write_file(e->abs, "B's edit during the download", 29);
    {
        struct timeval tv[2] = { { 1700000000, 0 }, { 1700000000, 0 } };
        assert_int_equal(utimes(e->abs, tv), 0);
    }
}

/*
 * ServerA's version fails to download on B because B's user edits the file
 * during the download; the next session retries it from the share (the
 * journal record was consumed) and finds a conflict. Before the fix the
 * copy was "x-Cloud.txt".
 */
static void test_sync_group__copy_of_a_retried_version_is_named_after_its_writer(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a, *b;
    struct edit_during_read e = { NULL, false };
    afs_test_fault *ctl;

    afs_test_faultscheme_register(0);
    env->share_uri = afs_test_fault_uri(env->share);
    a_uploads_older_edit(env, &a, &b);
    e.abs = afs_test_path(b->data, "x.txt");
    ctl = afs_test_faultscheme_ctl(afs_group_storage(b->group));
    assert_non_null(ctl);
    afs_test_fault_hook(ctl, edit_on_read, &e);
    afs_test_sync(b);
    afs_test_fault_hook(ctl, NULL, NULL);
    assert_true(e.done);
    assert_int_equal(b->last.item_errors, 1);
    afs_test_assert_file(b->data, "x.txt", "B's edit during the download");

    afs_test_sync(b);
    assert_int_equal(b->last.full_cloud_scan, 0);
    assert_int_equal(b->last.conflicts, 1);
    afs_test_assert_file(b->data, "x-ServerA.txt", "A's edit, older");
    afs_test_assert_file(env->share, "x-ServerA.txt", "A's edit, older");
    afs_test_assert_file(env->share, "x.txt", "B's edit during the download");
    free((char *)e.abs);
}

/*
 * A share that refuses user metadata (a local share on a file system
 * without user xattrs answers AFS_ENOTSUP): the upload goes without the
 * writer tag instead of failing, and the endpoint stops sending it.
 */
static void test_sync_group__share_without_metadata_still_takes_uploads(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");
    afs_test_fault *ctl;
    char *p;
    char v[128];

    afs_test_faultscheme_register(0);
    env->share_uri = afs_test_fault_uri(env->share);
    afs_test_env_join(env, a, NULL);
    afs_test_sync(a);
    ctl = afs_test_faultscheme_ctl(afs_group_storage(a->group));
    assert_non_null(ctl);
    afs_test_fault_set(ctl, "put", 1, AFS_FAULT_ONCE, AFS_ENOTSUP);
    afs_test_put(a->data, "one.txt", "1");
    afs_test_sync(a);
    assert_int_equal(a->last.files_uploaded, 1);
    assert_int_equal(a->last.item_errors, 0);
    afs_test_assert_file(env->share, "one.txt", "1");
    afs_test_put(a->data, "two.txt", "2");
    afs_test_sync(a);
    afs_test_assert_file(env->share, "two.txt", "2");
    p = afs_test_path(env->share, "two.txt");
    assert_true(getxattr(p, "user.afs.m." "afs_writer", v, sizeof(v)) < 0);
    free(p);
}

/* The tag round-trips any server name, and a hostile or stale one names nobody. */
static void test_sync_group__writer_tags_are_checked(void **state)
{
    char tag[AFS__WRITER_TAG_MAX + 1], name[AFS_NAME_MAX + 1];
    (void)state;
    AFS_ASSERT_OK(afs__writer_tag(tag, sizeof(tag), 15, 1600000000123456789LL, "Zweig Süd 1%"));
    assert_string_equal(tag, "1;15;1600000000123456789;Zweig%20S%C3%BCd%201%25");
    assert_true(afs__writer_tag_parse(tag, 15, 1600000000123456789LL, name, sizeof(name)));
    assert_string_equal(name, "Zweig Süd 1%");
    /* Azure Files keeps 100 ns ticks. */
    assert_true(afs__writer_tag_parse(tag, 15, 1600000000123456700LL, name, sizeof(name)));
    assert_false(afs__writer_tag_parse(tag, 16, 1600000000123456789LL, name, sizeof(name)));
    assert_false(afs__writer_tag_parse(tag, 15, 1600000001000000000LL, name, sizeof(name)));
    assert_false(afs__writer_tag_parse("1;15;7;..%2Fetc", 15, 7, name, sizeof(name)));
    assert_false(afs__writer_tag_parse("1;15;7;a%0Ab", 15, 7, name, sizeof(name)));
    assert_false(afs__writer_tag_parse("1;15;7;", 15, 7, name, sizeof(name)));
    assert_false(afs__writer_tag_parse("1;15;7;ab%4", 15, 7, name, sizeof(name)));
    assert_false(afs__writer_tag_parse("1;15;7;a b", 15, 7, name, sizeof(name)));
    assert_false(afs__writer_tag_parse("2;15;7;ab", 15, 7, name, sizeof(name)));
    assert_false(afs__writer_tag_parse("1;15;7;%FF", 15, 7, name, sizeof(name))); /* not UTF-8 */
    assert_false(afs__writer_tag_parse("ServerA", 15, 7, name, sizeof(name)));
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, afs_test_env_teardown)
    const struct CMUnitTest tests[] = {
        T(test_sync_group__second_server_of_the_same_name_is_refused),
        T(test_sync_group__same_named_servers_of_an_old_group_make_distinct_copies),
        T(test_sync_group__endpoint_of_a_gone_server_can_be_removed),
        T(test_sync_group__removed_endpoint_that_comes_back_changes_nothing),
        T(test_sync_group__copy_of_an_enumerated_version_is_named_after_its_writer),
        T(test_sync_group__edit_in_the_share_keeping_the_tag_is_named_cloud),
        T(test_sync_group__copy_of_a_retried_version_is_named_after_its_writer),
        T(test_sync_group__share_without_metadata_still_takes_uploads),
        T(test_sync_group__writer_tags_are_checked),
    };
#undef T
    return cmocka_run_group_tests_name("sync_group", tests, NULL, NULL);
}

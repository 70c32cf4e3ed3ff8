/*
 * Sync and tiering together: initial download modes of a later endpoint,
 * placeholders that follow cloud changes without downloading, placeholders
 * never uploaded, provisioning status (docs/tiering.md, docs/sync.md).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "syncenv.h"

static int setup(void **state)
{
    return afs_test_env_setup(state, "synctier");
}

static char *big_text(const char *head);

static uint32_t tier_state(afs_test_server *s, const char *rel)
{
    afs_tier_info info;
    memset(&info, 0, sizeof(info));
    info.version = AFS_TIER_INFO_VERSION;
    uint32_t state;
    AFS_ASSERT_OK(afs_tier_query(s->ep, rel, &info));
    state = info.state;
    afs_tier_info_clear(&info);
    return state;
}

/* Read the start of a file through the placeholder (recall on access). */
static void assert_reads(afs_test_server *s, const char *rel, const char *head)
{
    char buf[256];
    size_t n = 0;
    AFS_ASSERT_OK(afs_tier_read(s->ep, rel, 0, buf, sizeof(buf) - 1, &n));
    buf[n] = '\0';
    assert_true(n >= strlen(head));
    assert_memory_equal(buf, head, strlen(head));
}

static void put_big(const char *dir, const char *rel, const char *head)
{
    char *b = big_text(head);
    afs_test_put(dir, rel, b);
    free(b);
}

static void big_content(char *buf, size_t len, char c);
static void big_content(char *buf, size_t len, char c)
{
    memset(buf, c, len - 1);
    buf[len - 1] = '\0';
}

/* Placeholders are made for files of at least the minimum tierable size
 * (64 KiB by default); smaller files arrive whole. */
#define BIG (100 * 1024)
static char *big_text(const char *head)
{
    char *b = malloc(BIG);
    assert_non_null(b);
    big_content(b, BIG, '.');
    memcpy(b, head, strlen(head));
    return b;
}

static void join_later(afs_test_env *env, afs_test_server *b, uint32_t initial_download)
{
    afs_endpoint_options o = AFS_ENDPOINT_OPTIONS_INIT;
    o.initial_download = initial_download;
    afs_test_env_join(env, b, &o);
}

static void test_sync_tier__namespace_only_gives_placeholders(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");
    afs_test_server *b = afs_test_env_server(env, "ServerB");
    afs_provisioning prov;
    struct stat st;
    char *p;

    put_big(a->data, "docs/report.txt", "the report");
    put_big(a->data, "notes.txt", "some notes");
    afs_test_put(a->data, "tiny.txt", "small files arrive whole");
    afs_test_env_join(env, a, NULL);
    afs_test_sync(a);

    join_later(env, b, AFS_INITIAL_DOWNLOAD_NAMESPACE_ONLY);
    memset(&prov, 0, sizeof(prov));
    prov.version = AFS_PROVISIONING_VERSION;
    AFS_ASSERT_OK(afs_endpoint_provisioning(b->ep, &prov));
    assert_int_equal(prov.status, AFS_PROVISIONING_NOT_STARTED);
    afs_test_sync(b);
    assert_int_equal(b->last.files_downloaded, 1); /* tiny.txt */
    assert_int_equal(tier_state(b, "tiny.txt"), AFS_TIER_STATE_FULL);
    AFS_ASSERT_OK(afs_endpoint_provisioning(b->ep, &prov));
    assert_int_equal(prov.status, AFS_PROVISIONING_READY_SYNC_FUNCTIONAL);
    assert_int_equal(prov.namespace_download.status, AFS_PROVISIONING_READY_SYNC_FUNCTIONAL);
    assert_true(prov.namespace_download.finished_ns >= prov.namespace_download.started_ns);

    /* The whole namespace is there, as placeholders of the right size. */
    p = afs_test_path(b->data, "docs/report.txt");
    assert_int_equal(lstat(p, &st), 0);
    assert_int_equal(st.st_size, BIG - 1);
    assert_true((uint64_t)st.st_blocks * 512 < (uint64_t)st.st_size);
    free(p);
    assert_int_equal(tier_state(b, "docs/report.txt"), AFS_TIER_STATE_TIERED);
    assert_reads(b, "notes.txt", "some notes");

    /* A placeholder is never uploaded; a session afterwards moves nothing. */
    afs_test_sync(b);
    assert_int_equal(b->last.files_uploaded, 0);
    assert_int_equal(b->last.item_errors, 0);
    {
        char *want = big_text("the report");
        afs_test_assert_file(env->share, "docs/report.txt", want);
        free(want);
    }
}

static void test_sync_tier__cloud_change_updates_placeholder_without_download(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");
    afs_test_server *b = afs_test_env_server(env, "ServerB");
    char *p;

    put_big(a->data, "f.txt", "version one");
    put_big(a->data, "gone.txt", "to be deleted");
    afs_test_env_join(env, a, NULL);
    afs_test_sync(a);
    join_later(env, b, AFS_INITIAL_DOWNLOAD_NAMESPACE_ONLY);
    afs_test_sync(b);

    put_big(a->data, "f.txt", "version two, longer");
    afs_test_sync(a);
    afs_test_sync(b);
    assert_int_equal(b->last.files_downloaded, 0);
    assert_int_equal(tier_state(b, "f.txt"), AFS_TIER_STATE_TIERED);
    assert_reads(b, "f.txt", "version two, longer");

    /* Deleting a placeholder deletes the file everywhere. */
    p = afs_test_path(b->data, "gone.txt");
    assert_int_equal(unlink(p), 0);
    free(p);
    afs_test_sync(b);
    assert_int_equal(b->last.deleted_cloud, 1);
    afs_test_sync(a);
    afs_test_assert_file(a->data, "gone.txt", NULL);
}

static void test_sync_tier__recalled_file_is_not_uploaded_again(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");
    afs_test_server *b = afs_test_env_server(env, "ServerB");
    char big[100 * 1024];

    big_content(big, sizeof(big), 'x');
    afs_test_put(a->data, "big.bin", big);
    afs_test_env_join(env, a, NULL);
    afs_test_sync(a);
    join_later(env, b, AFS_INITIAL_DOWNLOAD_NAMESPACE_ONLY);
    afs_test_sync(b);
    AFS_ASSERT_OK(afs_tier_recall(b->ep, "big.bin", NULL, NULL));
    assert_int_equal(tier_state(b, "big.bin"), AFS_TIER_STATE_FULL);
    afs_test_assert_file(b->data, "big.bin", big);
    afs_test_sync(b);
    assert_int_equal(b->last.files_uploaded, 0);
    /* An edit after the recall is an ordinary change. */
    afs_test_put(b->data, "big.bin", "edited after recall");
    afs_test_sync(b);
    assert_int_equal(b->last.files_uploaded, 1);
    afs_test_assert_file(env->share, "big.bin", "edited after recall");
}

struct watch {
    afs_endpoint *ep;
    const char *data;
    int content_calls;
    uint32_t status_seen;
    int readable;
};

static int on_progress(const afs_sync_progress *p, void *payload)
{
    struct watch *w = payload;
    if (p->phase == AFS_SYNC_PHASE_CONTENT && w->content_calls++ == 0) {
        /* Before the content download finishes the endpoint is usable:
         * every name is there, and any file reads right through recall. */
        afs_provisioning prov;
        char buf[64];
        size_t n = 0;
        memset(&prov, 0, sizeof(prov));
        prov.version = AFS_PROVISIONING_VERSION;
        if (afs_endpoint_provisioning(w->ep, &prov) == 0)
            w->status_seen = prov.status;
        if (afs_tier_read(w->ep, "a/oldest.txt", 0, buf, sizeof(buf) - 1, &n) == 0) {
            buf[n] = '\0';
            w->readable = strncmp(buf, "oldest", 6) == 0;
        }
    }
    return 0;
}

static void test_sync_tier__namespace_then_content_is_usable_early(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");
    afs_test_server *b = afs_test_env_server(env, "ServerB");
    afs_sync_options o = AFS_SYNC_OPTIONS_INIT;
    afs_sync_result r = AFS_SYNC_RESULT_INIT;
    struct watch w;

    put_big(a->data, "a/oldest.txt", "oldest");
    afs_test_set_mtime(a->data, "a/oldest.txt", 1500000000);
    put_big(a->data, "b/middle.txt", "middle");
    afs_test_set_mtime(a->data, "b/middle.txt", 1600000000);
    put_big(a->data, "newest.txt", "newest");
    afs_test_env_join(env, a, NULL);
    afs_test_sync(a);

    /* The default for a later endpoint with tiering off. */
    join_later(env, b, AFS_INITIAL_DOWNLOAD_DEFAULT);
    memset(&w, 0, sizeof(w));
    w.ep = b->ep;
    w.data = b->data;
    o.progress = on_progress;
    o.progress_payload = &w;
    AFS_ASSERT_OK(afs_endpoint_sync(b->ep, &o, &r));
    assert_int_equal(w.content_calls, 3);
    assert_int_equal(w.status_seen, AFS_PROVISIONING_READY_SYNC_NOT_FUNCTIONAL);
    assert_true(w.readable);
    /* Then the content came down: full files, same bytes. */
    assert_int_equal(r.files_downloaded, 3);
    assert_int_equal(tier_state(b, "newest.txt"), AFS_TIER_STATE_FULL);
    assert_int_equal(tier_state(b, "b/middle.txt"), AFS_TIER_STATE_FULL);
    afs_test_assert_same_tree(a->data, b->data);
    {
        afs_provisioning prov;
        memset(&prov, 0, sizeof(prov));
        prov.version = AFS_PROVISIONING_VERSION;
        AFS_ASSERT_OK(afs_endpoint_provisioning(b->ep, &prov));
        assert_int_equal(prov.status, AFS_PROVISIONING_READY_SYNC_FUNCTIONAL);
        assert_int_equal(prov.content_download.status, AFS_PROVISIONING_READY_SYNC_FUNCTIONAL);
        assert_int_equal(prov.content_download.percent, 100);
    }
}

static void test_sync_tier__avoid_tiered_files_downloads_whole(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");
    afs_test_server *b = afs_test_env_server(env, "ServerB");

    afs_test_put(a->data, "whole.txt", "complete on arrival");
    afs_test_env_join(env, a, NULL);
    afs_test_sync(a);
    join_later(env, b, AFS_INITIAL_DOWNLOAD_AVOID_TIERED_FILES);
    afs_test_sync(b);
    assert_int_equal(b->last.files_downloaded, 1);
    assert_int_equal(tier_state(b, "whole.txt"), AFS_TIER_STATE_FULL);
    afs_test_assert_file(b->data, "whole.txt", "complete on arrival");
}

static void test_sync_tier__proactive_recall_brings_changes_down(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");
    afs_test_server *b = afs_test_env_server(env, "ServerB");
    afs_endpoint_options o = AFS_ENDPOINT_OPTIONS_INIT;
    char *want;

    put_big(a->data, "plan.txt", "first plan");
    afs_test_env_join(env, a, NULL);
    afs_test_sync(a);
    o.initial_download = AFS_INITIAL_DOWNLOAD_NAMESPACE_ONLY;
    o.local_cache_mode = AFS_CACHE_DOWNLOAD_NEW_AND_MODIFIED;
    afs_test_env_join(env, b, &o);
    afs_test_sync(b);
    assert_int_equal(tier_state(b, "plan.txt"), AFS_TIER_STATE_TIERED);

    /* Another server changes it: with proactive recall the new version
     * comes down in full instead of staying a placeholder. */
    put_big(a->data, "plan.txt", "second plan");
    afs_test_sync(a);
    afs_test_sync(b);
    assert_int_equal(b->last.files_downloaded, 1);
    assert_int_equal(tier_state(b, "plan.txt"), AFS_TIER_STATE_FULL);
    want = big_text("second plan");
    afs_test_assert_file(b->data, "plan.txt", want);
    free(want);
    afs_test_sync(b);
    assert_int_equal(b->last.files_uploaded, 0);
}

static void test_sync_tier__write_into_placeholder_is_never_uploaded(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");
    afs_test_server *b = afs_test_env_server(env, "ServerB");
    afs_item_error **errs = NULL;
    size_t nerr = 0;
    char *p, *want;
    FILE *f;

    put_big(a->data, "doc.txt", "the real content");
    afs_test_env_join(env, a, NULL);
    afs_test_sync(a);
    join_later(env, b, AFS_INITIAL_DOWNLOAD_NAMESPACE_ONLY);
    afs_test_sync(b);
    /* A program writes into the placeholder without recalling it (and its
     * write time is far from the tiering time, unlike a crash of ours). */
    p = afs_test_path(b->data, "doc.txt");
    f = fopen(p, "r+");
    assert_non_null(f);
    fputs("HEAD", f);
    fclose(f);
    afs_test_set_mtime(b->data, "doc.txt", 1000000000);
    afs_test_sync(b);
    assert_int_equal(b->last.files_uploaded, 0);
    AFS_ASSERT_OK(afs_endpoint_errors(b->ep, &errs, &nerr));
    assert_int_equal(nerr, 1);
    assert_string_equal(errs[0]->path, "doc.txt");
    afs_item_errors_free(errs, nerr);
    /* The share keeps the real content; nothing of the holes went up. */
    want = big_text("the real content");
    afs_test_assert_file(env->share, "doc.txt", want);
    free(want);
    free(p);
}

/*
 * Placeholders in a folder moved out of a folder renamed in the same
 * session: their content is only in the share, under the old path; the
 * share's copies move with two renames and are never deleted.
 */
static void test_sync_tier__placeholders_moved_out_of_a_renamed_folder_keep_content(void **state)
{
    afs_test_env *env = *state;
    afs_test_server *a = afs_test_env_server(env, "ServerA");
    afs_test_server *b = afs_test_env_server(env, "ServerB");

    put_big(a->data, "dir/sub/copy-ServerC.txt", "a conflict copy");
    put_big(a->data, "dir/top.txt", "top");
    afs_test_env_join(env, a, NULL);
    afs_test_sync(a);
    join_later(env, b, AFS_INITIAL_DOWNLOAD_NAMESPACE_ONLY);
    afs_test_sync(b);
    assert_int_equal(tier_state(b, "dir/sub/copy-ServerC.txt"), AFS_TIER_STATE_TIERED);

    for (int i = 0; i < 2; i++) {
        char *from = afs_test_path(b->data, i ? "dirX/sub" : "dir");
        char *to = afs_test_path(b->data, i ? "dirsub" : "dirX");
        assert_int_equal(rename(from, to), 0);
        free(from);
        free(to);
    }
    afs_test_sync(b);
    assert_int_equal(b->last.renamed_cloud, 2);
    assert_int_equal(b->last.deleted_cloud, 0);
    assert_reads(b, "dirsub/copy-ServerC.txt", "a conflict copy");
    assert_reads(b, "dirX/top.txt", "top");
    afs_test_sync(a);
    {
        char *want = big_text("a conflict copy");
        afs_test_assert_file(env->share, "dirsub/copy-ServerC.txt", want);
        afs_test_assert_file(a->data, "dirsub/copy-ServerC.txt", want);
        free(want);
    }
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, afs_test_env_teardown)
    const struct CMUnitTest tests[] = {
        T(test_sync_tier__namespace_only_gives_placeholders),
        T(test_sync_tier__cloud_change_updates_placeholder_without_download),
        T(test_sync_tier__recalled_file_is_not_uploaded_again),
        T(test_sync_tier__namespace_then_content_is_usable_early),
        T(test_sync_tier__avoid_tiered_files_downloads_whole),
        T(test_sync_tier__proactive_recall_brings_changes_down),
        T(test_sync_tier__write_into_placeholder_is_never_uploaded),
        T(test_sync_tier__placeholders_moved_out_of_a_renamed_folder_keep_content),
    };
#undef T
    return cmocka_run_group_tests_name("sync_tier", tests, NULL, NULL);
}

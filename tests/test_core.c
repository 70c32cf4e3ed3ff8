/*
 * Core behaviour: error codes and messages, logging, versions, name
 * validation, vtable registration rules, and the storage layer's defence
 * against hostile listings (driven through a scripted fake backend).
 */
#include <stdlib.h>
#include <string.h>

#include "support.h"
#include "core/internal.h"

static void test_core__strerror_covers_every_code(void **state)
{
    (void)state;
    for (int code = AFS_ERROR; code >= AFS_ELIMIT; code--)
        assert_string_not_equal(afs_strerror(code), "unknown error");
    assert_string_equal(afs_strerror(-9999), "unknown error");
    assert_string_equal(afs_strerror(AFS_ECONDITION),
                        "condition failed (etag mismatch or create-only)");
}

static void test_core__error_last_never_null_and_per_thread(void **state)
{
    (void)state;
    afs_error_clear();
    assert_non_null(afs_error_last());
    assert_string_equal(afs_error_last(), "no error");
    assert_int_equal(afs_error_last_code(), AFS_OK);
    assert_int_equal(afs_error_set_str(AFS_EIO, "disk on fire at /srv/x"), AFS_EIO);
    assert_string_equal(afs_error_last(), "disk on fire at /srv/x");
    assert_int_equal(afs_error_last_code(), AFS_EIO);
    afs_error_set_str(AFS_ENOSPC, NULL);
    assert_string_equal(afs_error_last(), "no space left");
    afs_error_clear();
    assert_string_equal(afs_error_last(), "no error");
}

static void test_core__errno_maps_to_codes(void **state)
{
    (void)state;
    assert_int_equal(afs__error_errno(2 /* ENOENT */, "open %s", "/x/y"), AFS_ENOTFOUND);
    assert_non_null(strstr(afs_error_last(), "open /x/y"));
    assert_int_equal(afs__errno_code(28 /* ENOSPC */), AFS_ENOSPC);
    assert_int_equal(afs__errno_code(13 /* EACCES */), AFS_EPERM);
}

struct log_capture {
    int count;
    int last_level;
    char last[256];
};

static void capture_log(int level, const char *message, void *payload)
{
    struct log_capture *c = payload;
    c->count++;
    c->last_level = level;
    snprintf(c->last, sizeof(c->last), "%s", message);
}

static void test_core__log_callback_filters_by_level(void **state)
{
    struct log_capture c = { 0 };
    (void)state;
    AFS_ASSERT_OK(afs_log_set(capture_log, AFS_LOG_WARN, &c));
    afs__log(AFS_LOG_INFO, "not shown %d", 1);
    assert_int_equal(c.count, 0);
    afs__log(AFS_LOG_WARN, "shown %d", 2);
    assert_int_equal(c.count, 1);
    assert_int_equal(c.last_level, AFS_LOG_WARN);
    assert_string_equal(c.last, "shown 2");
    AFS_ASSERT_CODE(afs_log_set(capture_log, 9, &c), AFS_EINVAL);
    AFS_ASSERT_OK(afs_log_set(NULL, 0, NULL));
    afs__log(AFS_LOG_ERROR, "gone");
    assert_int_equal(c.count, 1);
}

static void test_core__version_matches_header(void **state)
{
    (void)state;
    assert_int_equal(afs_version(), AFS_VERSION_NUM);
    assert_string_equal(afs_version_string(), AFS_VERSION_STRING);
    assert_int_equal(AFS_VERSION_NUM >> 16, AFS_VERSION_MAJOR);
}

static void test_core__name_check_rejects_hostile_names(void **state)
{
    char long_name[AFS_NAME_MAX + 2];
    (void)state;
    memset(long_name, 'a', sizeof(long_name));
    assert_int_equal(afs_name_check("a.txt", 5), 0);
    assert_int_equal(afs_name_check(long_name, AFS_NAME_MAX), 0);
    assert_int_equal(afs_name_check(long_name, AFS_NAME_MAX + 1), AFS_EINVALIDNAME);
    assert_int_equal(afs_name_check("", 0), AFS_EINVALIDNAME);
    assert_int_equal(afs_name_check(".", 1), AFS_EINVALIDNAME);
    assert_int_equal(afs_name_check("..", 2), AFS_EINVALIDNAME);
    assert_int_equal(afs_name_check("a/b", 3), AFS_EINVALIDNAME);
    assert_int_equal(afs_name_check("a\0b", 3), AFS_EINVALIDNAME);
    assert_int_equal(afs_name_check("...", 3), 0);
}

static void test_core__path_check_rejects_traversal_and_reserved(void **state)
{
    (void)state;
    assert_int_equal(afs__path_check("", false, "t"), 0);
    assert_int_equal(afs__path_check("a/b/c.txt", false, "t"), 0);
    assert_int_equal(afs__path_check("/etc/passwd", false, "t"), AFS_EINVALIDNAME);
    assert_int_equal(afs__path_check("a/../../etc", false, "t"), AFS_EINVALIDNAME);
    assert_int_equal(afs__path_check("a//b", false, "t"), AFS_EINVALIDNAME);
    assert_int_equal(afs__path_check("a/", false, "t"), AFS_EINVALIDNAME);
    assert_int_equal(afs__path_check("./a", false, "t"), AFS_EINVALIDNAME);
    assert_int_equal(afs__path_check(".libafs/journal", false, "t"), AFS_EINVALIDNAME);
    assert_non_null(strstr(afs_error_last(), "reserved"));
    assert_int_equal(afs__path_check(".libafs/journal", true, "t"), 0);
    assert_int_equal(afs__path_check("a/.libafs", false, "t"), 0);
}

/* ---- a scripted fake backend ---- */

struct fake_entry {
    const char *name;
    size_t len;
    uint32_t type;
};

struct fake {
    const struct fake_entry *entries;
    size_t count;
    int released;
};

static int fake_list(void *ctx, const char *dir, const char *marker, afs_storage_list_fn emit,
                     void *payload, char *next, size_t next_size)
{
    struct fake *f = ctx;
    size_t start = marker ? (size_t)atoi(marker) : 0;
    (void)dir;
    /* Two entries a page, so paging is exercised as well. */
    for (size_t i = start; i < f->count && i < start + 2; i++) {
        afs_storage_entry e;
        int rc;
        memset(&e, 0, sizeof(e));
        e.name = f->entries[i].name;
        e.name_len = f->entries[i].len;
        e.type = f->entries[i].type;
        strcpy(e.etag, "\"1\"");
        if ((rc = emit(&e, payload)) != 0)
            return rc;
    }
    if (start + 2 < f->count)
        snprintf(next, next_size, "%zu", start + 2);
    return 0;
}

static int fake_stat(void *ctx, const char *path, afs_storage_entry *out)
{
    (void)ctx;
    (void)path;
    out->type = AFS_TYPE_DIR;
    return 0;
}

static int fake_read(void *ctx, const char *path, uint64_t off, void *buf, size_t len,
                     size_t *nread, const char *if_match)
{
    (void)ctx; (void)path; (void)off; (void)buf; (void)len; (void)if_match;
    *nread = 0;
    return 0;
}

static int fake_put(void *ctx, const char *path, afs_read_fn src, void *p, uint64_t size,
                    const afs_storage_put_options *o, afs_storage_entry *out)
{
    (void)ctx; (void)path; (void)src; (void)p; (void)size; (void)o; (void)out;
    return AFS_ENOTSUP;
}

static int fake_remove(void *ctx, const char *path, const char *if_match)
{
    (void)ctx; (void)path; (void)if_match;
    return AFS_ENOTSUP;
}

static void fake_release(void *ctx)
{
    ((struct fake *)ctx)->released++;
}

static afs_storage_ops fake_ops(void)
{
    afs_storage_ops ops;
    memset(&ops, 0, sizeof(ops));
    ops.version = AFS_STORAGE_OPS_VERSION;
    ops.release = fake_release;
    ops.list = fake_list;
    ops.stat = fake_stat;
    ops.read = fake_read;
    ops.put = fake_put;
    ops.remove = fake_remove;
    return ops;
}

struct seen {
    int ok;
    int bad;
    char names[16][64];
};

static int collect(const afs_storage_entry *e, void *payload)
{
    struct seen *s = payload;
    if (e->status == AFS_EINVALIDNAME) {
        s->bad++;
    } else {
        snprintf(s->names[s->ok], sizeof(s->names[0]), "%.*s", (int)e->name_len, e->name);
        s->ok++;
    }
    return 0;
}

static void test_core__storage_registration_checks_version_and_slots(void **state)
{
    struct fake f = { NULL, 0, 0 };
    afs_storage_ops ops = fake_ops();
    afs_storage *s = NULL;
    const afs_storage_ops *got;
    (void)state;

    ops.version = 0;
    AFS_ASSERT_CODE(afs_storage_new(&s, &ops, &f), AFS_EVERSION);
    assert_null(s);
    ops.version = AFS_STORAGE_OPS_VERSION + 1;
    AFS_ASSERT_CODE(afs_storage_new(&s, &ops, &f), AFS_EVERSION);
    assert_non_null(strstr(afs_error_last(), "not supported"));
    ops = fake_ops();
    ops.put = NULL;
    AFS_ASSERT_CODE(afs_storage_new(&s, &ops, &f), AFS_EINVAL);
    assert_non_null(strstr(afs_error_last(), "put"));

    ops = fake_ops();
    AFS_ASSERT_OK(afs_storage_new(&s, &ops, &f));
    /* The table was copied: changing the caller's copy changes nothing. */
    ops.list = NULL;
    AFS_ASSERT_OK(afs_storage_ops_get(s, &got, NULL));
    assert_ptr_equal(got->list, fake_list);
    assert_null(got->rename); /* NULL slots stay "not supported" */
    AFS_ASSERT_CODE(afs_storage_set_props(s, "a", 0, 0, NULL, NULL), AFS_ENOTSUP);
    AFS_ASSERT_OK(afs_storage_mkdir(s, "d")); /* no mkdir slot: implicit directories */
    afs_storage_free(s);
    assert_int_equal(f.released, 1);
}

static void test_core__fs_registration_checks_version_and_slots(void **state)
{
    afs_fs_ops ops;
    afs_fs *fs = NULL;
    (void)state;
    memset(&ops, 0, sizeof(ops));
    ops.version = 7;
    AFS_ASSERT_CODE(afs_fs_new(&fs, &ops, NULL), AFS_EVERSION);
    ops.version = AFS_FS_OPS_VERSION;
    AFS_ASSERT_CODE(afs_fs_new(&fs, &ops, NULL), AFS_EINVAL);
    assert_non_null(strstr(afs_error_last(), "stat"));
    assert_null(fs);
}

/* A table written for version 1 ends at canonicalize: whatever lies after
 * it in the caller's memory is never read as a version-2 slot. */
static void test_core__fs_version_1_table_gets_no_later_slots(void **state)
{
    const afs_fs_ops *posix_ops, *got;
    afs_fs_ops ops;
    void *posix_ctx;
    afs_fs *posix = NULL, *fs = NULL;
    (void)state;
    AFS_ASSERT_OK(afs_fs_posix_new(&posix));
    AFS_ASSERT_OK(afs_fs_ops_get(posix, &posix_ops, &posix_ctx));
    assert_non_null(posix_ops->dir_stat);
    ops = *posix_ops;
    ops.release = NULL;
    ops.version = 1;
    AFS_ASSERT_OK(afs_fs_new(&fs, &ops, posix_ctx));
    AFS_ASSERT_OK(afs_fs_ops_get(fs, &got, NULL));
    assert_ptr_equal(got->stat, posix_ops->stat);
    assert_ptr_equal(got->canonicalize, posix_ops->canonicalize);
    assert_null(got->dir_stat);
    afs_fs_free(fs);
    afs_fs_free(posix);
}

static void test_core__hostile_listing_is_reported_never_followed(void **state)
{
    static const struct fake_entry entries[] = {
        { "good.txt", 8, AFS_TYPE_FILE },
        { "..", 2, AFS_TYPE_DIR },
        { "/etc/passwd", 11, AFS_TYPE_FILE },
        { "nul\0hidden", 10, AFS_TYPE_FILE },
        { ".libafs", 7, AFS_TYPE_DIR },
        { "", 0, AFS_TYPE_FILE },
        { "sub", 3, AFS_TYPE_DIR },
        { "weird", 5, 99 },
    };
    struct fake f = { entries, AFS__ARRAY_LEN(entries), 0 };
    afs_storage_ops ops = fake_ops();
    afs_storage *s;
    struct seen seen;
    (void)state;

    memset(&seen, 0, sizeof(seen));
    AFS_ASSERT_OK(afs_storage_new(&s, &ops, &f));
    AFS_ASSERT_OK(afs_storage_list_all(s, "", collect, &seen));
    assert_int_equal(seen.ok, 2); /* good.txt and sub; .libafs is hidden */
    assert_string_equal(seen.names[0], "good.txt");
    assert_string_equal(seen.names[1], "sub");
    assert_int_equal(seen.bad, 5);

    /* Below the root the reserved name is ordinary user content. */
    memset(&seen, 0, sizeof(seen));
    AFS_ASSERT_OK(afs_storage_list_all(s, "sub", collect, &seen));
    assert_int_equal(seen.ok, 3);

    /* Callers cannot reach the reserved prefix or escape the share. */
    {
        char next[AFS_STORAGE_MARKER_MAX];
        afs_storage_entry e;
        AFS_ASSERT_CODE(afs_storage_list(s, ".libafs", NULL, collect, &seen, next, sizeof(next)),
                        AFS_EINVALIDNAME);
        AFS_ASSERT_CODE(afs_storage_stat(s, "../x", &e), AFS_EINVALIDNAME);
        AFS_ASSERT_CODE(afs_storage_put_buffer(s, "/abs", "x", 1, NULL, NULL), AFS_EINVALIDNAME);
    }
    afs_storage_free(s);
}

static int stop_at_second(const afs_storage_entry *e, void *payload)
{
    int *n = payload;
    (void)e;
    return ++*n == 2 ? 42 : 0;
}

static void test_core__listing_callback_value_comes_back_unchanged(void **state)
{
    static const struct fake_entry entries[] = {
        { "a", 1, AFS_TYPE_FILE }, { "b", 1, AFS_TYPE_FILE }, { "c", 1, AFS_TYPE_FILE } };
    struct fake f = { entries, 3, 0 };
    afs_storage_ops ops = fake_ops();
    afs_storage *s;
    int n = 0;
    (void)state;
    AFS_ASSERT_OK(afs_storage_new(&s, &ops, &f));
    assert_int_equal(afs_storage_list_all(s, "", stop_at_second, &n), 42);
    assert_int_equal(n, 2);
    afs_storage_free(s);
}

static void test_core__put_options_are_versioned_and_metadata_checked(void **state)
{
    struct fake f = { NULL, 0, 0 };
    afs_storage_ops ops = fake_ops();
    afs_storage_put_options o;
    afs_storage *s;
    const char *keys[] = { "Bad-Key" };
    const char *vals[] = { "v" };
    (void)state;
    AFS_ASSERT_OK(afs_storage_put_options_init(&o, AFS_STORAGE_PUT_OPTIONS_VERSION));
    assert_int_equal(o.condition, AFS_COND_NONE);
    assert_true(o.mtime_ns == AFS_TIME_OMIT);
    AFS_ASSERT_CODE(afs_storage_put_options_init(&o, 99), AFS_EVERSION);
    AFS_ASSERT_OK(afs_storage_new(&s, &ops, &f));
    AFS_ASSERT_OK(afs_storage_put_options_init(&o, 1));
    o.meta_count = 1;
    o.meta_keys = keys;
    o.meta_values = vals;
    AFS_ASSERT_CODE(afs_storage_put_buffer(s, "x", "1", 1, &o, NULL), AFS_EINVAL);
    o.meta_count = 0;
    o.condition = AFS_COND_IF_MATCH; /* without an etag */
    AFS_ASSERT_CODE(afs_storage_put_buffer(s, "x", "1", 1, &o, NULL), AFS_EINVAL);
    o.version = 0;
    AFS_ASSERT_CODE(afs_storage_put_buffer(s, "x", "1", 1, &o, NULL), AFS_EVERSION);
    afs_storage_free(s);
}

/* ---- versioned structs ---- */

/* Every versioned public struct and what its size table must say about it. */
#define VS(name, version) { &afs__vs_##name, "afs_" #name, sizeof(afs_##name), \
                            _Alignof(afs_##name), version }

static void test_core__every_versioned_struct_has_a_size_per_version(void **state)
{
    static const struct {
        const afs__vstruct *t;
        const char *name;
        size_t size, align;
        unsigned int version;
    } want[] = {
        VS(endpoint_options, AFS_ENDPOINT_OPTIONS_VERSION),
        VS(service_options, AFS_SERVICE_OPTIONS_VERSION),
        VS(storage_local_options, AFS_STORAGE_LOCAL_OPTIONS_VERSION),
        VS(storage_put_options, AFS_STORAGE_PUT_OPTIONS_VERSION),
        VS(azure_options, AFS_AZURE_OPTIONS_VERSION),
        VS(sync_options, AFS_SYNC_OPTIONS_VERSION),
        VS(sync_result, AFS_SYNC_RESULT_VERSION),
        VS(provisioning, AFS_PROVISIONING_VERSION),
        VS(tier_info, AFS_TIER_INFO_VERSION),
        VS(tier_result, AFS_TIER_RESULT_VERSION),
        VS(tier_pass_options, AFS_TIER_PASS_OPTIONS_VERSION),
        VS(heat_list_options, AFS_HEAT_LIST_OPTIONS_VERSION),
        VS(recall_options, AFS_RECALL_OPTIONS_VERSION),
        VS(recall_result, AFS_RECALL_RESULT_VERSION),
        VS(recall_host_info, AFS_RECALL_HOST_INFO_VERSION),
        VS(tier_stats, AFS_TIER_STATS_VERSION),
        VS(fs_ops, AFS_FS_OPS_VERSION),
        VS(storage_ops, AFS_STORAGE_OPS_VERSION),
    };
    size_t count = 0;
    (void)state;
    while (afs__vstructs[count])
        count++;
    assert_int_equal(count, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < count; i++) {
        const afs__vstruct *t = want[i].t;
        size_t prev = sizeof(unsigned int), size = 0;
        bool listed = false;
        for (size_t j = 0; j < count; j++)
            listed = listed || afs__vstructs[j] == t;
        assert_true(listed);
        assert_string_equal(t->name, want[i].name);
        assert_int_equal(t->newest, want[i].version);
        assert_true(t->newest >= 1 && t->newest <= AFS__VSTRUCT_VERSIONS);
        /* Each version is larger than the one before it ... */
        for (unsigned int v = 1; v <= t->newest; v++) {
            size = afs__vstruct_size(t, v);
            if (size <= prev)
                fail_msg("%s version %u: %zu bytes, not more than %zu", t->name, v, size, prev);
            prev = size;
        }
        /* ... and the newest is the whole struct but its tail padding: a
         * field appended without a new version and size fails here. */
        if (size > want[i].size || want[i].size - size >= want[i].align)
            fail_msg("%s: version %u ends at %zu bytes, the struct has %zu", t->name,
                     t->newest, size, want[i].size);
        assert_int_equal(afs__vstruct_size(t, 0), 0);
        assert_int_equal(afs__vstruct_size(t, t->newest + 1), 0);
    }
}

static int no_snapshot(const char *snapshot, void *payload)
{
    (void)snapshot;
    (void)payload;
    return 0;
}

/* The bytes of afs_azure_options version 1. */
#define AZURE_OPTIONS_V1 AFS_TEST_END_OF(afs_azure_options, single_put_max)

static void test_core__azure_options_are_read_only_to_their_version(void **state)
{
    static const unsigned int refused[] = { 0, 99 };
    static const char blob[] = "azblob://acct/cont?endpoint=http://127.0.0.1:9";
    static const char files[] = "azfiles://acct/share?endpoint=http://127.0.0.1:9";
    afs_azure_options *o = afs_test_guarded_new(AZURE_OPTIONS_V1);
    afs_storage *s = NULL;
    (void)state;
    AFS_ASSERT_OK(afs_azure_options_init(o, 1));
    assert_int_equal(o->version, 1);
    assert_null(o->account_key);
    assert_int_equal(o->max_attempts, 0);
    assert_int_equal(o->single_put_max, 0);
    /* The fields are read (an unknown flag is refused before any request). */
    o->flags = 0x80;
    AFS_ASSERT_CODE(afs_storage_azblob_new(&s, blob, o), AFS_EINVAL);
    assert_non_null(strstr(afs_error_last(), "unknown flags 0x80"));
    AFS_ASSERT_CODE(afs_storage_azfiles_new(&s, files, o), AFS_EINVAL);
    assert_non_null(strstr(afs_error_last(), "unknown flags 0x80"));
    for (size_t k = 0; k < sizeof(refused) / sizeof(refused[0]); k++) {
        unsigned int v = refused[k];
        o->version = v;
        AFS_ASSERT_CODE(afs_storage_azblob_new(&s, blob, o), AFS_EVERSION);
        afs_test_assert_version_refused("afs_storage_azblob_new", "afs_azure_options", v);
        assert_null(s);
        AFS_ASSERT_CODE(afs_storage_azfiles_new(&s, files, o), AFS_EVERSION);
        afs_test_assert_version_refused("afs_storage_azfiles_new", "afs_azure_options", v);
        AFS_ASSERT_CODE(afs_storage_azfiles_snapshots(files, o, no_snapshot, NULL),
                        AFS_EVERSION);
        afs_test_assert_version_refused("afs_storage_azfiles_snapshots", "afs_azure_options",
                                        v);
        AFS_ASSERT_CODE(afs_azure_options_init(o, v), AFS_EVERSION);
        afs_test_assert_version_refused("afs_azure_options_init", "afs_azure_options", v);
        assert_int_equal(o->version, v);
        assert_int_equal(o->flags, 0x80); /* left as it was */
    }
    afs_test_guarded_free(o, AZURE_OPTIONS_V1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_core__strerror_covers_every_code),
        cmocka_unit_test(test_core__error_last_never_null_and_per_thread),
        cmocka_unit_test(test_core__errno_maps_to_codes),
        cmocka_unit_test(test_core__log_callback_filters_by_level),
        cmocka_unit_test(test_core__version_matches_header),
        cmocka_unit_test(test_core__name_check_rejects_hostile_names),
        cmocka_unit_test(test_core__path_check_rejects_traversal_and_reserved),
        cmocka_unit_test(test_core__storage_registration_checks_version_and_slots),
        cmocka_unit_test(test_core__fs_registration_checks_version_and_slots),
        cmocka_unit_test(test_core__fs_version_1_table_gets_no_later_slots),
        cmocka_unit_test(test_core__hostile_listing_is_reported_never_followed),
        cmocka_unit_test(test_core__listing_callback_value_comes_back_unchanged),
        cmocka_unit_test(test_core__put_options_are_versioned_and_metadata_checked),
        cmocka_unit_test(test_core__every_versioned_struct_has_a_size_per_version),
        cmocka_unit_test(test_core__azure_options_are_read_only_to_their_version),
    };
    return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}

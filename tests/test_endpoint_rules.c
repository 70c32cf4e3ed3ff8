/*
 * Server endpoint creation rules (docs/concepts.md#server-endpoint-rules):
 * each rule of the reference refused with its own code. A host filesystem
 * wraps the POSIX default and reports volume facts the test controls, the
 * way a product with its own volume manager would.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "syncenv.h"

/* Volume facts by path: paths under a "volB" directory are on volume B;
 * "sys" and "nfs" directories carry the system and network flags. */
struct fakevol {
    afs_fs *inner;
    afs_fs_ops ops;
    const afs_fs_ops *in;
    void *inctx;
};

static struct fakevol *g_fake;

static int fake_volume(void *ctx, const char *path, afs_fs_volume *out)
{
    (void)ctx;
    memset(out, 0, sizeof(*out));
    snprintf(out->id, sizeof(out->id), "%s", strstr(path, "/volB") ? "volume-B" : "volume-A");
    snprintf(out->fs_type, sizeof(out->fs_type), "%s", strstr(path, "/nfs") ? "nfs" : "ext4");
    out->total_bytes = 1u << 30;
    out->free_bytes = 1u << 29;
    out->block_size = 4096;
    if (strstr(path, "/sys"))
        out->flags |= AFS_FS_VOLUME_SYSTEM;
    if (strstr(path, "/nfs"))
        out->flags |= AFS_FS_VOLUME_NETWORK;
    return 0;
}

static afs_fs *fakevol_new(void)
{
    struct fakevol *f = calloc(1, sizeof(*f));
    afs_fs *fs = NULL;
    assert_non_null(f);
    AFS_ASSERT_OK(afs_fs_posix_new(&f->inner));
    AFS_ASSERT_OK(afs_fs_ops_get(f->inner, &f->in, &f->inctx));
    f->ops = *f->in;
    f->ops.release = NULL;
    f->ops.volume = fake_volume;
    /* The POSIX slots take the POSIX context. */
    AFS_ASSERT_OK(afs_fs_new(&fs, &f->ops, f->inctx));
    g_fake = f;
    return fs;
}

static void fakevol_free(afs_fs *fs)
{
    afs_fs_free(fs);
    afs_fs_free(g_fake->inner);
    free(g_fake);
    g_fake = NULL;
}

struct ctx {
    char *root;
    afs_fs *fs;
};

static int setup(void **state)
{
    struct ctx *c = calloc(1, sizeof(*c));
    c->root = afs_test_sandbox("rules");
    c->fs = fakevol_new();
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    if (!getenv("AFS_TEST_KEEP"))
        afs_test_rmtree(c->root);
    fakevol_free(c->fs);
    free(c->root);
    free(c);
    afs_error_clear();
    return 0;
}

/* A registered service with the fake-volume filesystem. */
static afs_service *server(struct ctx *c, const char *name)
{
    afs_service_options o;
    afs_service *svc;
    char *state = afs_test_path(c->root, name);
    AFS_ASSERT_OK(afs_service_options_init(&o, AFS_SERVICE_OPTIONS_VERSION));
    o.fs = c->fs;
    AFS_ASSERT_OK(afs_service_open(&svc, state, &o));
    AFS_ASSERT_OK(afs_server_register(svc, name));
    free(state);
    return svc;
}

static char *dir(struct ctx *c, const char *rel)
{
    char *p = afs_test_path(c->root, rel);
    afs_test_mkdirs(p);
    return p;
}

static afs_group *group(struct ctx *c, afs_service *svc, const char *name)
{
    afs_group *g;
    char rel[128];
    char *share;
    snprintf(rel, sizeof(rel), "share-%s", name);
    share = dir(c, rel);
    AFS_ASSERT_OK(afs_group_create(&g, svc, name, share));
    free(share);
    return g;
}

static void test_endpoint_rules__server_must_be_registered(void **state)
{
    struct ctx *c = *state;
    afs_service_options o;
    afs_service *svc;
    afs_group *g;
    afs_endpoint *ep = NULL;
    char *st = afs_test_path(c->root, "unregistered"), *data = dir(c, "data");
    AFS_ASSERT_OK(afs_service_options_init(&o, AFS_SERVICE_OPTIONS_VERSION));
    o.fs = c->fs;
    AFS_ASSERT_OK(afs_service_open(&svc, st, &o));
    g = group(c, svc, "g");
    AFS_ASSERT_CODE(afs_endpoint_create(&ep, g, data, NULL), AFS_ENOTFOUND);
    assert_non_null(strstr(afs_error_last(), "register"));
    afs_group_close(g);
    afs_service_close(svc);
    free(st);
    free(data);
}

static void test_endpoint_rules__one_endpoint_per_server_per_group(void **state)
{
    struct ctx *c = *state;
    afs_service *svc = server(c, "srv");
    afs_group *g = group(c, svc, "g");
    afs_endpoint *ep, *ep2 = NULL;
    char *a = dir(c, "volA-data1"), *b = dir(c, "volB-data2"), *a2 = dir(c, "volA-data3");

    AFS_ASSERT_OK(afs_endpoint_create(&ep, g, a, NULL));
    /* Same volume, same group: the volume rule; another volume: one per server. */
    AFS_ASSERT_CODE(afs_endpoint_create(&ep2, g, a2, NULL), AFS_ESAME_GROUP_VOLUME);
    AFS_ASSERT_CODE(afs_endpoint_create(&ep2, g, b, NULL), AFS_EONE_PER_SERVER);
    assert_null(ep2);
    afs_endpoint_close(ep);
    afs_group_close(g);
    afs_service_close(svc);
    free(a);
    free(b);
    free(a2);
}

static void test_endpoint_rules__overlapping_paths_are_refused(void **state)
{
    struct ctx *c = *state;
    afs_service *svc = server(c, "srv");
    afs_group *g1 = group(c, svc, "g1"), *g2 = group(c, svc, "g2"), *g3 = group(c, svc, "g3");
    afs_endpoint *ep, *other = NULL;
    char *outer = dir(c, "srv-a"), *inner = dir(c, "srv-a/b"), *sibling = dir(c, "srv-ab");

    AFS_ASSERT_OK(afs_endpoint_create(&ep, g1, outer, NULL));
    AFS_ASSERT_CODE(afs_endpoint_create(&other, g2, inner, NULL), AFS_EOVERLAP);
    AFS_ASSERT_CODE(afs_endpoint_create(&other, g2, outer, NULL), AFS_EOVERLAP);
    /* "/srv-ab" shares a prefix of characters, not of path components. */
    AFS_ASSERT_OK(afs_endpoint_create(&other, g3, sibling, NULL));
    afs_endpoint_close(other);
    afs_endpoint_close(ep);
    afs_group_close(g1);
    afs_group_close(g2);
    afs_group_close(g3);
    afs_service_close(svc);
    free(outer);
    free(inner);
    free(sibling);
}

static void test_endpoint_rules__volume_rules(void **state)
{
    struct ctx *c = *state;
    afs_service *svc = server(c, "srv");
    afs_group *g = group(c, svc, "g");
    afs_endpoint *ep = NULL;
    afs_endpoint_options o = AFS_ENDPOINT_OPTIONS_INIT;
    char *sys = dir(c, "sys"), *nfs = dir(c, "nfs");

    o.tiering_enabled = 1;
    AFS_ASSERT_CODE(afs_endpoint_create(&ep, g, sys, &o), AFS_ESYSTEM_VOLUME);
    AFS_ASSERT_CODE(afs_endpoint_create(&ep, g, nfs, NULL), AFS_ENETWORK_FS);
    assert_non_null(strstr(afs_error_last(), "nfs"));
    /* The system volume is fine without tiering, but tiering cannot be
     * switched on there later. */
    AFS_ASSERT_OK(afs_endpoint_create(&ep, g, sys, NULL));
    AFS_ASSERT_CODE(afs_endpoint_set_options(ep, &o), AFS_ESYSTEM_VOLUME);
    afs_endpoint_close(ep);
    afs_group_close(g);
    afs_service_close(svc);
    free(sys);
    free(nfs);
}

static void test_endpoint_rules__initial_options_by_phase(void **state)
{
    struct ctx *c = *state;
    afs_service *a = server(c, "srvA"), *b = server(c, "srvB");
    afs_group *ga = group(c, a, "g"), *gb = NULL;
    afs_endpoint *epa = NULL, *epb = NULL;
    afs_endpoint_options o = AFS_ENDPOINT_OPTIONS_INIT;
    char *da = dir(c, "data-a"), *db = dir(c, "data-b"), *empty = dir(c, "empty");

    afs_test_put(da, "f.txt", "data");
    /* First endpoint: no initial download option; authoritative needs data. */
    o.initial_download = AFS_INITIAL_DOWNLOAD_NAMESPACE_ONLY;
    AFS_ASSERT_CODE(afs_endpoint_create(&epa, ga, da, &o), AFS_EINITIAL_OPTION);
    o = (afs_endpoint_options)AFS_ENDPOINT_OPTIONS_INIT;
    o.initial_sync = AFS_INITIAL_SYNC_AUTHORITATIVE_UPLOAD;
    AFS_ASSERT_CODE(afs_endpoint_create(&epa, ga, empty, &o), AFS_EEMPTY_PATH);
    AFS_ASSERT_OK(afs_endpoint_create(&epa, ga, da, &o));

    /* A later endpoint: no authoritative upload; download options allowed. */
    AFS_ASSERT_OK(afs_group_open(&gb, b, NULL, afs_group_storage_uri(ga)));
    AFS_ASSERT_CODE(afs_endpoint_create(&epb, gb, db, &o), AFS_EINITIAL_OPTION);
    o = (afs_endpoint_options)AFS_ENDPOINT_OPTIONS_INIT;
    o.initial_download = AFS_INITIAL_DOWNLOAD_AVOID_TIERED_FILES;
    o.tiering_enabled = 1;
    AFS_ASSERT_CODE(afs_endpoint_create(&epb, gb, db, &o), AFS_EAVOID_TIERED);
    o.tiering_enabled = 0;
    AFS_ASSERT_OK(afs_endpoint_create(&epb, gb, db, &o));

    /* The initial download option cannot change afterwards. */
    o.initial_download = AFS_INITIAL_DOWNLOAD_NAMESPACE_ONLY;
    AFS_ASSERT_CODE(afs_endpoint_set_options(epb, &o), AFS_EIMMUTABLE);
    /* Policy fields can. */
    o.initial_download = AFS_INITIAL_DOWNLOAD_AVOID_TIERED_FILES;
    o.safety_delete_percent = 80;
    AFS_ASSERT_OK(afs_endpoint_set_options(epb, &o));

    /* Both hosts see both endpoints, with their options, oldest first. */
    {
        afs_endpoint_info **list;
        size_t n;
        AFS_ASSERT_OK(afs_endpoint_list(ga, &list, &n));
        assert_int_equal(n, 2);
        assert_string_equal(list[0]->server_name, "srvA");
        assert_int_equal(list[0]->options->initial_sync, AFS_INITIAL_SYNC_AUTHORITATIVE_UPLOAD);
        assert_string_equal(list[1]->server_name, "srvB");
        assert_int_equal(list[1]->options->safety_delete_percent, 80);
        afs_endpoint_info_free(list, n);
    }
    afs_endpoint_close(epa);
    afs_endpoint_close(epb);
    afs_group_close(ga);
    afs_group_close(gb);
    afs_service_close(a);
    afs_service_close(b);
    free(da);
    free(db);
    free(empty);
}

static void test_endpoint_rules__groups_and_limits(void **state)
{
    struct ctx *c = *state;
    afs_service *svc = server(c, "srv"), *other = server(c, "other");
    afs_group *g = group(c, svc, "g"), *g2 = NULL;
    afs_endpoint *ep;
    char *data = dir(c, "data");
    afs_strarray names;

    /* A share holds one group; a name is unique per service. */
    AFS_ASSERT_CODE(afs_group_create(&g2, other, "h", afs_group_storage_uri(g)), AFS_EEXISTS);
    assert_non_null(strstr(afs_error_last(), "already belongs"));
    {
        char *s2 = dir(c, "another-share");
        AFS_ASSERT_CODE(afs_group_create(&g2, svc, "g", s2), AFS_EEXISTS);
        free(s2);
    }
    AFS_ASSERT_OK(afs_endpoint_create(&ep, g, data, NULL));
    AFS_ASSERT_CODE(afs_group_delete(svc, "g"), AFS_EBUSY);
    afs_endpoint_close(ep);
    AFS_ASSERT_OK(afs_endpoint_delete(g));
    afs_group_close(g);
    AFS_ASSERT_OK(afs_group_delete(svc, "g"));
    AFS_ASSERT_OK(afs_group_list(svc, &names));
    assert_int_equal(names.count, 0);
    afs_strarray_free(&names);

    /* 30 server endpoints per server. */
    for (int i = 0; i < 31; i++) {
        char name[32], rel[32];
        afs_group *gi;
        char *d;
        snprintf(name, sizeof(name), "g%02d", i);
        snprintf(rel, sizeof(rel), "ep%02d", i);
        gi = group(c, svc, name);
        d = dir(c, rel);
        if (i < 30) {
            AFS_ASSERT_OK(afs_endpoint_create(&ep, gi, d, NULL));
            afs_endpoint_close(ep);
        } else {
            AFS_ASSERT_CODE(afs_endpoint_create(&ep, gi, d, NULL), AFS_ELIMIT);
        }
        afs_group_close(gi);
        free(d);
    }
    AFS_ASSERT_OK(afs_group_list(svc, &names));
    assert_int_equal(names.count, 31);
    assert_string_equal(names.strings[0], "g00");
    afs_strarray_free(&names);
    afs_service_close(svc);
    afs_service_close(other);
    free(data);
}

/*
 * afs_endpoint_list() returns pointers to rows, each pointing to its own
 * options (docs/api-conventions.md#structs-the-library-returns): with
 * several endpoints, every row's options are that endpoint's, exclude
 * patterns included, whichever host lists them.
 */
static void test_endpoint_rules__listed_endpoints_carry_their_own_options(void **state)
{
    struct ctx *c = *state;
    static const char *const ex1[] = { "*.tmp" };
    static const char *const ex3[] = { "build/*", "*.o", "~$*" };
    enum { N = 4 };
    afs_service *svc[N];
    afs_group *g[N];
    afs_endpoint *ep[N];
    afs_endpoint_options want[N];
    afs_endpoint_info **list = NULL;
    size_t n = 99;

    for (int i = 0; i < N; i++) {
        char name[16], rel[16];
        char *d;
        snprintf(name, sizeof(name), "srv%d", i);
        snprintf(rel, sizeof(rel), "data-%d", i);
        svc[i] = server(c, name);
        if (i == 0)
            g[0] = group(c, svc[0], "g");
        else
            AFS_ASSERT_OK(afs_group_open(&g[i], svc[i], NULL, afs_group_storage_uri(g[0])));
        if (i == 0) { /* no endpoint yet: an empty list, not an error */
            AFS_ASSERT_OK(afs_endpoint_list(g[0], &list, &n));
            assert_int_equal(n, 0);
            assert_null(list);
        }
        AFS_ASSERT_OK(afs_endpoint_options_init(&want[i], AFS_ENDPOINT_OPTIONS_VERSION));
        want[i].tiering_enabled = i % 2;
        want[i].tiering_free_space_percent = 10 + (uint32_t)i;
        want[i].tiering_date_days = 7 * (uint32_t)i;
        want[i].tiering_min_file_size = 16384 + 1024 * (uint64_t)i;
        want[i].safety_delete_percent = 60 + (uint32_t)i;
        want[i].change_detection_interval_s = 600 + (uint32_t)i;
        want[i].local_cache_mode = i == 2 ? AFS_CACHE_DOWNLOAD_NEW_AND_MODIFIED
                                          : AFS_CACHE_UPDATE_LOCALLY_CACHED;
        if (i == 0)
            want[i].initial_sync = AFS_INITIAL_SYNC_MERGE;
        else
            want[i].initial_download = i == 3 ? AFS_INITIAL_DOWNLOAD_NAMESPACE_THEN_CONTENT
                                              : AFS_INITIAL_DOWNLOAD_NAMESPACE_ONLY;
        if (i == 1) {
            want[i].exclude = ex1;
            want[i].exclude_count = 1;
        } else if (i == 3) {
            want[i].exclude = ex3;
            want[i].exclude_count = 3;
        }
        d = dir(c, rel);
        AFS_ASSERT_OK(afs_endpoint_create(&ep[i], g[i], d, &want[i]));
        free(d);
    }

    for (int host = 0; host < N; host += N - 1) { /* the first host and the last */
        AFS_ASSERT_OK(afs_endpoint_list(g[host], &list, &n));
        assert_int_equal(n, N);
        for (size_t i = 0; i < n; i++) {
            const afs_endpoint_info *e = list[i];
            const afs_endpoint_options *o = e->options;
            char name[32];
            snprintf(name, sizeof(name), "srv%zu", i);
            assert_int_equal(e->version, AFS_ENDPOINT_INFO_VERSION);
            assert_string_equal(e->server_name, name); /* oldest first */
            assert_string_equal(e->id, afs_endpoint_id(ep[i]));
            assert_string_equal(e->path, afs_endpoint_path(ep[i]));
            assert_non_null(o);
            for (size_t k = 0; k < i; k++)
                assert_ptr_not_equal(o, list[k]->options);
            assert_int_equal(o->version, AFS_ENDPOINT_OPTIONS_VERSION);
            assert_int_equal(o->initial_sync, want[i].initial_sync);
            assert_int_equal(o->initial_download, want[i].initial_download);
            assert_int_equal(o->local_cache_mode, want[i].local_cache_mode);
            assert_int_equal(o->tiering_enabled, want[i].tiering_enabled);
            assert_int_equal(o->tiering_free_space_percent, want[i].tiering_free_space_percent);
            assert_int_equal(o->tiering_date_days, want[i].tiering_date_days);
            assert_int_equal(o->tiering_min_file_size, want[i].tiering_min_file_size);
            assert_int_equal(o->safety_delete_percent, want[i].safety_delete_percent);
            assert_int_equal(o->change_detection_interval_s,
                             want[i].change_detection_interval_s);
            assert_int_equal(o->exclude_count, want[i].exclude_count);
            for (size_t k = 0; k < o->exclude_count; k++)
                assert_string_equal(o->exclude[k], want[i].exclude[k]);
        }
        afs_endpoint_info_free(list, n);
    }

    /* A change made on one host is in the other's next list. */
    want[2].exclude = ex3;
    want[2].exclude_count = 2;
    want[2].safety_delete_percent = 90;
    AFS_ASSERT_OK(afs_endpoint_set_options(ep[2], &want[2]));
    AFS_ASSERT_OK(afs_endpoint_list(g[0], &list, &n));
    assert_int_equal(n, N);
    assert_int_equal(list[2]->options->safety_delete_percent, 90);
    assert_int_equal(list[2]->options->exclude_count, 2);
    assert_string_equal(list[2]->options->exclude[1], "*.o");
    assert_int_equal(list[1]->options->exclude_count, 1);
    assert_string_equal(list[1]->options->exclude[0], "*.tmp");
    afs_endpoint_info_free(list, n);

    afs_endpoint_info_free(NULL, 0);
    AFS_ASSERT_CODE(afs_endpoint_list(NULL, &list, &n), AFS_EINVAL);
    assert_null(list);
    assert_int_equal(n, 0);
    for (int i = N - 1; i >= 0; i--) {
        afs_endpoint_close(ep[i]);
        afs_group_close(g[i]);
        afs_service_close(svc[i]);
    }
}

/* The bytes of afs_endpoint_options version 1: its fields up to exclude_count. */
#define OPTIONS_V1_SIZE                            \
    (offsetof(afs_endpoint_options, exclude_count) + \
     sizeof(((afs_endpoint_options *)0)->exclude_count))
#define GUARD_BYTES 64
#define GUARD 0xA5

/* A caller's afs_endpoint_options of version 1 followed by a guard pattern. */
union guarded_options {
    afs_endpoint_options o;
    unsigned char bytes[OPTIONS_V1_SIZE + GUARD_BYTES];
};

static void assert_guard_intact(const union guarded_options *g, size_t from)
{
    for (size_t i = from; i < sizeof(g->bytes); i++)
        if (g->bytes[i] != GUARD)
            fail_msg("byte %zu of a %zu-byte version-1 struct (+%d guard bytes) was written",
                     i, (size_t)OPTIONS_V1_SIZE, GUARD_BYTES);
}

static void test_endpoint_rules__get_options_fills_only_the_callers_version(void **state)
{
    struct ctx *c = *state;
    static const char *const ex[] = { "*.tmp", "cache/*" };
    static const unsigned int refused[] = { 0, 99 };
    afs_service *svc = server(c, "srv");
    afs_group *g = group(c, svc, "g");
    afs_endpoint *ep = NULL;
    afs_endpoint_options *in, *out2;
    union guarded_options out;
    char *d = dir(c, "data");
    char msg[128];

    /* A version-1 program's options, directly followed by a page that cannot
     * be read: init, create and set_options touch nothing past them. */
    in = afs_test_guarded_new(OPTIONS_V1_SIZE);
    AFS_ASSERT_OK(afs_endpoint_options_init(in, 1));
    assert_int_equal(in->version, 1);
    assert_int_equal(in->tiering_free_space_percent, 20);
    in->tiering_enabled = 1;
    in->tiering_free_space_percent = 35;
    in->tiering_date_days = 14;
    in->tiering_min_file_size = 32768;
    in->local_cache_mode = AFS_CACHE_DOWNLOAD_NEW_AND_MODIFIED;
    in->change_detection_interval_s = 900;
    in->exclude = ex;
    in->exclude_count = 2;
    AFS_ASSERT_OK(afs_endpoint_create(&ep, g, d, in));

    /* Version 1 gets the version-1 fields, the library's effective defaults
     * filled in, and nothing after them is written. */
    memset(out.bytes, GUARD, sizeof(out.bytes));
    out.o.version = 1;
    AFS_ASSERT_OK(afs_endpoint_get_options(ep, &out.o));
    assert_guard_intact(&out, OPTIONS_V1_SIZE);
    assert_int_equal(out.o.version, 1);
    assert_int_equal(out.o.initial_sync, AFS_INITIAL_SYNC_MERGE);
    assert_int_equal(out.o.initial_download, AFS_INITIAL_DOWNLOAD_DEFAULT);
    assert_int_equal(out.o.local_cache_mode, AFS_CACHE_DOWNLOAD_NEW_AND_MODIFIED);
    assert_int_equal(out.o.tiering_enabled, 1);
    assert_int_equal(out.o.tiering_free_space_percent, 35);
    assert_int_equal(out.o.tiering_date_days, 14);
    assert_int_equal(out.o.tiering_min_file_size, 32768);
    assert_int_equal(out.o.safety_delete_percent, 50); /* 0: the default */
    assert_int_equal(out.o.change_detection_interval_s, 900);
    assert_int_equal(out.o.exclude_count, 2);
    assert_string_equal(out.o.exclude[0], "*.tmp");
    assert_string_equal(out.o.exclude[1], "cache/*");
    assert_ptr_not_equal(out.o.exclude, ex); /* the handle's copy */

    /* set_options reads the same way; get_options into a struct at a page's end. */
    in->exclude_count = 1;
    in->safety_delete_percent = 70;
    AFS_ASSERT_OK(afs_endpoint_set_options(ep, in));
    out2 = afs_test_guarded_new(OPTIONS_V1_SIZE);
    out2->version = 1;
    AFS_ASSERT_OK(afs_endpoint_get_options(ep, out2));
    assert_int_equal(out2->version, 1);
    assert_int_equal(out2->safety_delete_percent, 70);
    assert_int_equal(out2->tiering_free_space_percent, 35);
    assert_int_equal(out2->exclude_count, 1);
    assert_string_equal(out2->exclude[0], "*.tmp");
    afs_test_guarded_free(out2, OPTIONS_V1_SIZE);

    /* Version 0 (a zeroed or uninitialised struct) and a version from the
     * future: AFS_EVERSION with a message naming it, and *out untouched. */
    for (size_t k = 0; k < sizeof(refused) / sizeof(refused[0]); k++) {
        unsigned int v = refused[k];
        memset(out.bytes, GUARD, sizeof(out.bytes));
        out.o.version = v;
        AFS_ASSERT_CODE(afs_endpoint_get_options(ep, &out.o), AFS_EVERSION);
        snprintf(msg, sizeof(msg), "afs_endpoint_get_options: afs_endpoint_options version %u "
                 "is not supported", v);
        assert_non_null(strstr(afs_error_last(), msg));
        assert_non_null(strstr(afs_error_last(), "AFS_ENDPOINT_OPTIONS_INIT"));
        assert_int_equal(out.o.version, v);
        assert_guard_intact(&out, sizeof(out.o.version));
        /* The options a caller passes in are refused the same way. */
        in->version = v;
        AFS_ASSERT_CODE(afs_endpoint_set_options(ep, in), AFS_EVERSION);
        assert_non_null(strstr(afs_error_last(), "afs_endpoint_set_options"));
        AFS_ASSERT_CODE(afs_endpoint_options_init(in, v), AFS_EVERSION);
        assert_int_equal(in->version, v);
        in->version = 1;
    }
    AFS_ASSERT_CODE(afs_endpoint_get_options(NULL, &out.o), AFS_EINVAL);
    AFS_ASSERT_CODE(afs_endpoint_get_options(ep, NULL), AFS_EINVAL);

    /* What was refused changed nothing. */
    out.o.version = AFS_ENDPOINT_OPTIONS_VERSION;
    AFS_ASSERT_OK(afs_endpoint_get_options(ep, &out.o));
    assert_int_equal(out.o.safety_delete_percent, 70);
    assert_int_equal(out.o.exclude_count, 1);

    afs_test_guarded_free(in, OPTIONS_V1_SIZE);
    free(d);
    afs_endpoint_close(ep);
    afs_group_close(g);
    afs_service_close(svc);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_endpoint_rules__server_must_be_registered),
        T(test_endpoint_rules__one_endpoint_per_server_per_group),
        T(test_endpoint_rules__overlapping_paths_are_refused),
        T(test_endpoint_rules__volume_rules),
        T(test_endpoint_rules__initial_options_by_phase),
        T(test_endpoint_rules__groups_and_limits),
        T(test_endpoint_rules__listed_endpoints_carry_their_own_options),
        T(test_endpoint_rules__get_options_fills_only_the_callers_version),
    };
#undef T
    return cmocka_run_group_tests_name("endpoint_rules", tests, NULL, NULL);
}

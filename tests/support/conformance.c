/*
 * The storage conformance suite (tests/support/conformance.h). Every case
 * runs on a fresh empty share and checks what a user of the share would
 * see, through the public afs_storage_* calls only. Slots a backend may
 * leave NULL (mkdir, rmdir, rename, set_props, meta_get) are checked
 * against the storage layer's documented fallback instead.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conformance.h"
#include "support.h"

#define RACERS 8
#define RACE_ROUNDS 20
#define LIST_COUNT 10000

struct conf_run {
    const afs_test_storage_factory *f;
};

struct conf_case {
    const afs_test_storage_factory *f;
    afs_storage *s;
};

static int case_setup(void **state)
{
    const struct conf_run *run = *state;
    struct conf_case *c = calloc(1, sizeof(*c));
    int rc;

    if (!c)
        return -1;
    c->f = run->f;
    rc = c->f->create_empty(c->f->payload, &c->s);
    if (rc != 0) {
        print_error("create_empty failed: %d %s\n", rc, afs_error_last());
        free(c);
        return -1;
    }
    *state = c;
    return 0;
}

static int case_teardown(void **state)
{
    struct conf_case *c = *state;
    if (c) {
        if (c->f->destroy)
            c->f->destroy(c->f->payload, c->s);
        else
            afs_storage_free(c->s);
        free(c);
    }
    afs_error_clear();
    return 0;
}

static afs_storage *S(void **state)
{
    return ((struct conf_case *)*state)->s;
}

static const afs_storage_ops *OPS(void **state)
{
    const afs_storage_ops *ops = NULL;
    AFS_ASSERT_OK(afs_storage_ops_get(S(state), &ops, NULL));
    return ops;
}

/* ---- helpers ---- */

static int put_str(afs_storage *s, const char *path, const char *text,
                   const afs_storage_put_options *o, afs_storage_entry *out)
{
    return afs_storage_put_buffer(s, path, text, strlen(text), o, out);
}

/* The whole object, malloc'd and NUL-terminated; asserts it exists. */
static char *read_all(afs_storage *s, const char *path, size_t *len_out)
{
    afs_storage_entry st;
    size_t n = 0;
    char *buf;

    AFS_ASSERT_OK(afs_storage_stat(s, path, &st));
    assert_int_equal(st.type, AFS_TYPE_FILE);
    buf = malloc((size_t)st.size + 1);
    assert_non_null(buf);
    AFS_ASSERT_OK(afs_storage_read(s, path, 0, buf, (size_t)st.size, &n, NULL));
    assert_int_equal(n, st.size);
    buf[n] = '\0';
    if (len_out)
        *len_out = n;
    return buf;
}

static void assert_content(afs_storage *s, const char *path, const char *want)
{
    char *got = read_all(s, path, NULL);
    assert_string_equal(got, want);
    free(got);
}

struct names {
    size_t count;
    size_t reserved_seen;
    char list[16][64];
    uint32_t types[16];
};

static int collect_names(const afs_storage_entry *e, void *payload)
{
    struct names *n = payload;
    if (e->name_len == strlen(AFS_RESERVED_NAME) &&
        memcmp(e->name, AFS_RESERVED_NAME, e->name_len) == 0)
        n->reserved_seen++;
    if (n->count < 16) {
        snprintf(n->list[n->count], sizeof(n->list[0]), "%.*s", (int)e->name_len, e->name);
        n->types[n->count] = e->type;
    }
    n->count++;
    return 0;
}

static struct names list_names(afs_storage *s, const char *dir)
{
    struct names n;
    memset(&n, 0, sizeof(n));
    AFS_ASSERT_OK(afs_storage_list_all(s, dir, collect_names, &n));
    return n;
}

static bool names_has(const struct names *n, const char *name, uint32_t type)
{
    for (size_t i = 0; i < n->count && i < 16; i++)
        if (strcmp(n->list[i], name) == 0)
            return n->types[i] == type;
    return false;
}

/* A deterministic byte pattern, handed out in odd-sized short chunks. */
static unsigned char pattern_byte(uint64_t i)
{
    return (unsigned char)((i * 131u) ^ (i >> 11));
}

static int pattern_src(uint64_t offset, void *buf, size_t len, size_t *nread, void *payload)
{
    uint64_t size = *(const uint64_t *)payload;
    size_t n = len < 777777 ? len : 777777;
    if (offset >= size) {
        *nread = 0;
        return 0;
    }
    if (n > size - offset)
        n = (size_t)(size - offset);
    for (size_t i = 0; i < n; i++)
        ((unsigned char *)buf)[i] = pattern_byte(offset + i);
    *nread = n;
    return 0;
}

/* A source that fails (or ends early when code is 0) at byte `fail_at`. */
struct failing_src {
    uint64_t fail_at;
    int code;
};

static int failing_read(uint64_t offset, void *buf, size_t len, size_t *nread, void *payload)
{
    const struct failing_src *f = payload;
    if (offset >= f->fail_at) {
        *nread = 0;
        return f->code;
    }
    if (len > f->fail_at - offset)
        len = (size_t)(f->fail_at - offset);
    memset(buf, 'z', len);
    *nread = len;
    return 0;
}

/* ---- cases ---- */

static void test_conformance__put_stat_read_round_trip(void **state)
{
    static const char data[] = "hello\0world\n\xff\x01 binary";
    afs_storage *s = S(state);
    afs_storage_entry out, st;
    char buf[64];
    size_t n = 0;

    AFS_ASSERT_OK(afs_storage_put_buffer(s, "a.bin", data, sizeof(data), NULL, &out));
    assert_int_equal(out.type, AFS_TYPE_FILE);
    assert_int_equal(out.size, sizeof(data));
    assert_true(out.etag[0] != '\0');
    AFS_ASSERT_OK(afs_storage_stat(s, "a.bin", &st));
    assert_int_equal(st.type, AFS_TYPE_FILE);
    assert_int_equal(st.size, sizeof(data));
    assert_string_equal(st.etag, out.etag);
    AFS_ASSERT_OK(afs_storage_read(s, "a.bin", 0, buf, sizeof(buf), &n, NULL));
    assert_int_equal(n, sizeof(data));
    assert_memory_equal(buf, data, sizeof(data));

    /* An empty object is an object too. */
    AFS_ASSERT_OK(afs_storage_put_buffer(s, "empty", "", 0, NULL, &out));
    AFS_ASSERT_OK(afs_storage_stat(s, "empty", &st));
    assert_int_equal(st.type, AFS_TYPE_FILE);
    assert_int_equal(st.size, 0);
    AFS_ASSERT_OK(afs_storage_read(s, "empty", 0, buf, sizeof(buf), &n, NULL));
    assert_int_equal(n, 0);

    /* Replacing keeps only the new bytes. */
    AFS_ASSERT_OK(put_str(s, "a.bin", "short", NULL, NULL));
    assert_content(s, "a.bin", "short");
}

static void test_conformance__range_reads(void **state)
{
    afs_storage *s = S(state);
    unsigned char data[100], buf[32];
    size_t n = 99;

    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)(i * 7 + 3);
    AFS_ASSERT_OK(afs_storage_put_buffer(s, "r", data, sizeof(data), NULL, NULL));
    AFS_ASSERT_OK(afs_storage_read(s, "r", 10, buf, 20, &n, NULL));
    assert_int_equal(n, 20);
    assert_memory_equal(buf, data + 10, 20);
    AFS_ASSERT_OK(afs_storage_read(s, "r", 90, buf, 20, &n, NULL));
    assert_int_equal(n, 10);
    assert_memory_equal(buf, data + 90, 10);
    n = 99;
    AFS_ASSERT_OK(afs_storage_read(s, "r", 100, buf, 10, &n, NULL));
    assert_int_equal(n, 0);
    n = 99;
    AFS_ASSERT_OK(afs_storage_read(s, "r", 5000, buf, 10, &n, NULL));
    assert_int_equal(n, 0);
}

static void test_conformance__large_object_streams(void **state)
{
    afs_storage *s = S(state);
    uint64_t size = 8u << 20;
    afs_storage_entry out, st;
    unsigned char *buf = malloc(1u << 20);
    uint64_t off = 0;

    assert_non_null(buf);
    AFS_ASSERT_OK(afs_storage_put(s, "big/blob", pattern_src, &size, size, NULL, &out));
    assert_int_equal(out.size, size);
    AFS_ASSERT_OK(afs_storage_stat(s, "big/blob", &st));
    assert_int_equal(st.size, size);
    while (off < size) {
        size_t n = 0;
        AFS_ASSERT_OK(afs_storage_read(s, "big/blob", off, buf, 1u << 20, &n, NULL));
        assert_int_equal(n, 1u << 20);
        for (size_t i = 0; i < n; i++)
            if (buf[i] != pattern_byte(off + i))
                fail_msg("byte %llu differs", (unsigned long long)(off + i));
        off += n;
    }
    free(buf);
}

static void test_conformance__mtime_and_attributes_kept(void **state)
{
    const afs_test_storage_factory *f = ((struct conf_case *)*state)->f;
    int64_t res = f->mtime_resolution_ns > 0 ? f->mtime_resolution_ns : 1000000000;
    afs_storage *s = S(state);
    afs_storage_put_options o = AFS_STORAGE_PUT_OPTIONS_INIT;
    afs_storage_entry out, st;
    const int64_t t1 = INT64_C(1600000000123456789), t2 = INT64_C(1700000000987654321);

    o.mtime_ns = t1;
    o.attributes = AFS_ATTR_READONLY | AFS_ATTR_ARCHIVE;
    AFS_ASSERT_OK(put_str(s, "dated.txt", "content", &o, &out));
    AFS_ASSERT_OK(afs_storage_stat(s, "dated.txt", &st));
    assert_int_equal(st.mtime_ns / res, t1 / res);
    assert_int_equal(out.mtime_ns / res, t1 / res);
    assert_int_equal(st.attributes, AFS_ATTR_READONLY | AFS_ATTR_ARCHIVE);

    if (!OPS(state)->set_props) {
        AFS_ASSERT_CODE(afs_storage_set_props(s, "dated.txt", t2, 0, NULL, NULL), AFS_ENOTSUP);
        return;
    }
    AFS_ASSERT_OK(afs_storage_set_props(s, "dated.txt", t2, AFS_ATTR_HIDDEN, NULL, &out));
    AFS_ASSERT_OK(afs_storage_stat(s, "dated.txt", &st));
    assert_int_equal(st.mtime_ns / res, t2 / res);
    assert_int_equal(st.attributes, AFS_ATTR_HIDDEN);
    assert_string_equal(st.etag, out.etag);
    /* Content untouched by a property change. */
    assert_content(s, "dated.txt", "content");
    /* AFS_TIME_OMIT keeps the time. */
    AFS_ASSERT_OK(afs_storage_set_props(s, "dated.txt", AFS_TIME_OMIT, 0, NULL, NULL));
    AFS_ASSERT_OK(afs_storage_stat(s, "dated.txt", &st));
    assert_int_equal(st.mtime_ns / res, t2 / res);
    assert_int_equal(st.attributes, 0);
}

static int find_etag(const afs_storage_entry *e, void *payload)
{
    char *etag = payload;
    if (e->name_len == 4 && memcmp(e->name, "e.tx", 4) == 0)
        snprintf(etag, AFS_ETAG_MAX, "%s", e->etag);
    return 0;
}

static void test_conformance__etag_tracks_changes(void **state)
{
    afs_storage *s = S(state);
    afs_storage_entry out, st;
    char e1[AFS_ETAG_MAX], e2[AFS_ETAG_MAX], listed[AFS_ETAG_MAX] = "";
    char buf[8];
    size_t n;

    AFS_ASSERT_OK(put_str(s, "e.tx", "one", NULL, &out));
    snprintf(e1, sizeof(e1), "%s", out.etag);
    /* Nothing changes: the etag stays, in stat and in a listing. */
    AFS_ASSERT_OK(afs_storage_stat(s, "e.tx", &st));
    assert_string_equal(st.etag, e1);
    AFS_ASSERT_OK(afs_storage_stat(s, "e.tx", &st));
    assert_string_equal(st.etag, e1);
    AFS_ASSERT_OK(afs_storage_list_all(s, "", find_etag, listed));
    assert_string_equal(listed, e1);
    AFS_ASSERT_OK(afs_storage_read(s, "e.tx", 0, buf, sizeof(buf), &n, e1));

    /* Content change, same size: new etag. */
    AFS_ASSERT_OK(put_str(s, "e.tx", "two", NULL, &out));
    snprintf(e2, sizeof(e2), "%s", out.etag);
    assert_string_not_equal(e2, e1);
    AFS_ASSERT_OK(afs_storage_stat(s, "e.tx", &st));
    assert_string_equal(st.etag, e2);
    AFS_ASSERT_CODE(afs_storage_read(s, "e.tx", 0, buf, sizeof(buf), &n, e1), AFS_ECONDITION);

    if (!OPS(state)->set_props)
        return;
    AFS_ASSERT_OK(afs_storage_set_props(s, "e.tx", INT64_C(1500000000000000000), 0, e2, &out));
    assert_string_not_equal(out.etag, e2);
    AFS_ASSERT_OK(afs_storage_stat(s, "e.tx", &st));
    assert_string_equal(st.etag, out.etag);
    AFS_ASSERT_CODE(afs_storage_set_props(s, "e.tx", INT64_C(1400000000000000000), 0, e2, NULL),
                    AFS_ECONDITION);
    AFS_ASSERT_OK(afs_storage_stat(s, "e.tx", &st));
    assert_string_equal(st.etag, out.etag);
}

static void test_conformance__create_only_second_fails(void **state)
{
    afs_storage *s = S(state);
    afs_storage_put_options o = AFS_STORAGE_PUT_OPTIONS_INIT;
    afs_storage_entry st;

    o.condition = AFS_COND_CREATE_ONLY;
    AFS_ASSERT_OK(put_str(s, "once", "first", &o, NULL));
    AFS_ASSERT_CODE(put_str(s, "once", "second", &o, NULL), AFS_ECONDITION);
    assert_content(s, "once", "first");
    /* A directory holding the name counts as existing. */
    AFS_ASSERT_OK(put_str(s, "dir/child", "x", NULL, NULL));
    AFS_ASSERT_CODE(put_str(s, "dir", "file", &o, NULL), AFS_ECONDITION);
    AFS_ASSERT_OK(afs_storage_stat(s, "dir", &st));
    assert_int_equal(st.type, AFS_TYPE_DIR);
}

static void test_conformance__if_match_stale_refused(void **state)
{
    afs_storage *s = S(state);
    afs_storage_put_options o = AFS_STORAGE_PUT_OPTIONS_INIT;
    afs_storage_entry out, st;
    char e1[AFS_ETAG_MAX], e2[AFS_ETAG_MAX];

    AFS_ASSERT_OK(put_str(s, "m", "v1", NULL, &out));
    snprintf(e1, sizeof(e1), "%s", out.etag);
    AFS_ASSERT_OK(put_str(s, "m", "v2", NULL, &out));
    snprintf(e2, sizeof(e2), "%s", out.etag);

    o.condition = AFS_COND_IF_MATCH;
    o.if_match = e1;
    AFS_ASSERT_CODE(put_str(s, "m", "v3", &o, NULL), AFS_ECONDITION);
    assert_content(s, "m", "v2");
    AFS_ASSERT_OK(afs_storage_stat(s, "m", &st));
    assert_string_equal(st.etag, e2);

    o.if_match = e2;
    AFS_ASSERT_OK(put_str(s, "m", "v3", &o, &out));
    assert_content(s, "m", "v3");
    assert_string_not_equal(out.etag, e2);

    /* If-match on a missing object creates nothing. */
    AFS_ASSERT_CODE(put_str(s, "absent", "x", &o, NULL), AFS_ECONDITION);
    AFS_ASSERT_CODE(afs_storage_stat(s, "absent", &st), AFS_ENOTFOUND);
}

static void test_conformance__remove_if_match(void **state)
{
    afs_storage *s = S(state);
    afs_storage_entry out, st;
    char e1[AFS_ETAG_MAX];

    AFS_ASSERT_OK(put_str(s, "gone", "v1", NULL, &out));
    snprintf(e1, sizeof(e1), "%s", out.etag);
    AFS_ASSERT_OK(put_str(s, "gone", "v2", NULL, &out));
    AFS_ASSERT_CODE(afs_storage_remove(s, "gone", e1), AFS_ECONDITION);
    assert_content(s, "gone", "v2");
    AFS_ASSERT_OK(afs_storage_remove(s, "gone", out.etag));
    AFS_ASSERT_CODE(afs_storage_stat(s, "gone", &st), AFS_ENOTFOUND);
    AFS_ASSERT_CODE(afs_storage_remove(s, "gone", NULL), AFS_ENOTFOUND);

    AFS_ASSERT_OK(put_str(s, "plain", "x", NULL, NULL));
    AFS_ASSERT_OK(afs_storage_remove(s, "plain", NULL));
    AFS_ASSERT_CODE(afs_storage_stat(s, "plain", &st), AFS_ENOTFOUND);
}

static void test_conformance__failed_source_leaves_nothing(void **state)
{
    afs_storage *s = S(state);
    struct failing_src fs = { (3u << 20) / 2, AFS_ETRANSIENT };
    afs_storage_entry out, st;
    struct names n;

    /* The source's own code comes back unchanged; nothing appears. */
    AFS_ASSERT_CODE(afs_storage_put(s, "new", failing_read, &fs, 3u << 20, NULL, NULL),
                    AFS_ETRANSIENT);
    AFS_ASSERT_CODE(afs_storage_stat(s, "new", &st), AFS_ENOTFOUND);

    /* An existing object survives a failed replacement unchanged. */
    AFS_ASSERT_OK(put_str(s, "keep", "original", NULL, &out));
    AFS_ASSERT_CODE(afs_storage_put(s, "keep", failing_read, &fs, 3u << 20, NULL, NULL),
                    AFS_ETRANSIENT);
    AFS_ASSERT_OK(afs_storage_stat(s, "keep", &st));
    assert_string_equal(st.etag, out.etag);
    assert_content(s, "keep", "original");

    /* A source ending before `size` is an error too, not a short object. */
    fs.code = 0;
    fs.fail_at = 10;
    assert_int_not_equal(afs_storage_put(s, "short", failing_read, &fs, 100, NULL, NULL), 0);
    AFS_ASSERT_CODE(afs_storage_stat(s, "short", &st), AFS_ENOTFOUND);
    assert_int_not_equal(afs_storage_put(s, "keep", failing_read, &fs, 100, NULL, NULL), 0);
    assert_content(s, "keep", "original");

    n = list_names(s, "");
    assert_int_equal(n.count, 1);
    assert_string_equal(n.list[0], "keep");
}

struct big_listing {
    unsigned char *seen;
    size_t count;
    size_t bad;
};

static int count_big(const afs_storage_entry *e, void *payload)
{
    struct big_listing *b = payload;
    char name[16];
    unsigned idx;
    char extra;

    b->count++;
    snprintf(name, sizeof(name), "%.*s", (int)e->name_len, e->name);
    if (e->status != 0 || e->type != AFS_TYPE_FILE || e->etag[0] == '\0' || e->size != 5 ||
        sscanf(name, "f%05u%c", &idx, &extra) != 1 || idx >= LIST_COUNT) {
        b->bad++;
        return 0;
    }
    b->seen[idx]++;
    return 0;
}

static void test_conformance__listing_pages_10000(void **state)
{
    afs_storage *s = S(state);
    struct big_listing b = { calloc(LIST_COUNT, 1), 0, 0 };
    char marker[AFS_STORAGE_MARKER_MAX] = "", next[AFS_STORAGE_MARKER_MAX];
    char path[32], body[8];
    size_t pages = 0;

    assert_non_null(b.seen);
    for (unsigned i = 0; i < LIST_COUNT; i++) {
        snprintf(path, sizeof(path), "many/f%05u", i);
        snprintf(body, sizeof(body), "%05u", i);
        AFS_ASSERT_OK(put_str(s, path, body, NULL, NULL));
    }
    for (;;) {
        AFS_ASSERT_OK(afs_storage_list(s, "many", marker, count_big, &b, next, sizeof(next)));
        pages++;
        if (next[0] == '\0')
            break;
        assert_string_not_equal(next, marker); /* paging must progress */
        assert_true(pages < LIST_COUNT);
        memcpy(marker, next, sizeof(marker));
    }
    assert_int_equal(b.bad, 0);
    assert_int_equal(b.count, LIST_COUNT);
    for (unsigned i = 0; i < LIST_COUNT; i++)
        if (b.seen[i] != 1)
            fail_msg("f%05u listed %u times", i, b.seen[i]);
    free(b.seen);
}

static void test_conformance__directories(void **state)
{
    afs_storage *s = S(state);
    const afs_storage_ops *ops = OPS(state);
    afs_storage_entry st;
    char buf[4];
    size_t n;
    struct names names;

    AFS_ASSERT_OK(afs_storage_mkdir(s, "d"));
    if (ops->mkdir) {
        AFS_ASSERT_CODE(afs_storage_mkdir(s, "d"), AFS_EEXISTS);
        AFS_ASSERT_CODE(afs_storage_mkdir(s, "x/y"), AFS_ENOTFOUND);
        AFS_ASSERT_OK(afs_storage_stat(s, "d", &st));
        assert_int_equal(st.type, AFS_TYPE_DIR);
        assert_true(st.etag[0] != '\0');
    }
    AFS_ASSERT_OK(put_str(s, "d/e/f.txt", "deep", NULL, NULL));
    AFS_ASSERT_OK(afs_storage_stat(s, "d/e", &st));
    assert_int_equal(st.type, AFS_TYPE_DIR);
    assert_true(st.etag[0] != '\0');
    names = list_names(s, "d");
    assert_int_equal(names.count, 1);
    assert_true(names_has(&names, "e", AFS_TYPE_DIR));
    names = list_names(s, "d/e");
    assert_int_equal(names.count, 1);
    assert_true(names_has(&names, "f.txt", AFS_TYPE_FILE));
    assert_content(s, "d/e/f.txt", "deep");

    if (ops->rmdir)
        AFS_ASSERT_CODE(afs_storage_rmdir(s, "d"), AFS_ENOTEMPTY);
    /* remove() is for files: a directory is refused and stays. */
    assert_int_not_equal(afs_storage_remove(s, "d", NULL), 0);
    AFS_ASSERT_OK(afs_storage_stat(s, "d", &st));
    assert_int_equal(st.type, AFS_TYPE_DIR);

    AFS_ASSERT_OK(afs_storage_remove(s, "d/e/f.txt", NULL));
    AFS_ASSERT_OK(afs_storage_rmdir(s, "d/e"));
    AFS_ASSERT_OK(afs_storage_rmdir(s, "d"));
    AFS_ASSERT_CODE(afs_storage_stat(s, "d", &st), AFS_ENOTFOUND);
    assert_int_equal(list_names(s, "").count, 0);

    /* Missing things are AFS_ENOTFOUND everywhere. */
    AFS_ASSERT_CODE(afs_storage_stat(s, "nope", &st), AFS_ENOTFOUND);
    AFS_ASSERT_CODE(afs_storage_stat(s, "nope/deeper", &st), AFS_ENOTFOUND);
    AFS_ASSERT_CODE(afs_storage_read(s, "nope", 0, buf, sizeof(buf), &n, NULL), AFS_ENOTFOUND);
    AFS_ASSERT_CODE(afs_storage_list_all(s, "nope", collect_names, &names), AFS_ENOTFOUND);
    AFS_ASSERT_CODE(afs_storage_remove(s, "nope", NULL), AFS_ENOTFOUND);
    if (ops->rmdir)
        AFS_ASSERT_CODE(afs_storage_rmdir(s, "nope"), AFS_ENOTFOUND);
}

static void test_conformance__rename_file_and_tree(void **state)
{
    afs_storage *s = S(state);
    afs_storage_entry out, st;
    char e1[AFS_ETAG_MAX];
    struct names n;

    AFS_ASSERT_OK(put_str(s, "a.txt", "alpha", NULL, NULL));
    AFS_ASSERT_OK(afs_storage_rename(s, "a.txt", "b.txt", NULL, 0));
    AFS_ASSERT_CODE(afs_storage_stat(s, "a.txt", &st), AFS_ENOTFOUND);
    assert_content(s, "b.txt", "alpha");
    AFS_ASSERT_CODE(afs_storage_rename(s, "a.txt", "z.txt", NULL, 0), AFS_ENOTFOUND);

    /* If-match against the source etag. */
    AFS_ASSERT_OK(put_str(s, "b.txt", "beta", NULL, &out));
    snprintf(e1, sizeof(e1), "%s", out.etag);
    AFS_ASSERT_OK(put_str(s, "b.txt", "beta2", NULL, &out));
    AFS_ASSERT_CODE(afs_storage_rename(s, "b.txt", "c.txt", e1, 0), AFS_ECONDITION);
    assert_content(s, "b.txt", "beta2");
    AFS_ASSERT_CODE(afs_storage_stat(s, "c.txt", &st), AFS_ENOTFOUND);
    AFS_ASSERT_OK(afs_storage_stat(s, "b.txt", &st));
    AFS_ASSERT_OK(afs_storage_rename(s, "b.txt", "c.txt", st.etag, 0));
    assert_content(s, "c.txt", "beta2");

    /* NOREPLACE refuses an existing target and changes neither. */
    AFS_ASSERT_OK(put_str(s, "d.txt", "delta", NULL, NULL));
    AFS_ASSERT_CODE(afs_storage_rename(s, "c.txt", "d.txt", NULL, AFS_STORAGE_RENAME_NOREPLACE),
                    AFS_ECONDITION);
    assert_content(s, "c.txt", "beta2");
    assert_content(s, "d.txt", "delta");
    /* Without it the target is replaced. */
    AFS_ASSERT_OK(afs_storage_rename(s, "c.txt", "d.txt", NULL, 0));
    assert_content(s, "d.txt", "beta2");

    /* A directory tree moves with its children, into a missing parent. */
    AFS_ASSERT_OK(put_str(s, "t/x/1", "one", NULL, NULL));
    AFS_ASSERT_OK(put_str(s, "t/x/2", "two", NULL, NULL));
    AFS_ASSERT_OK(put_str(s, "t/3", "three", NULL, NULL));
    if (!OPS(state)->rename) {
        AFS_ASSERT_CODE(afs_storage_rename(s, "t", "u/v", NULL, 0), AFS_ENOTSUP);
        return;
    }
    AFS_ASSERT_OK(afs_storage_rename(s, "t", "u/v", NULL, 0));
    AFS_ASSERT_CODE(afs_storage_stat(s, "t", &st), AFS_ENOTFOUND);
    AFS_ASSERT_CODE(afs_storage_stat(s, "t/x/1", &st), AFS_ENOTFOUND);
    assert_content(s, "u/v/x/1", "one");
    assert_content(s, "u/v/x/2", "two");
    assert_content(s, "u/v/3", "three");
    n = list_names(s, "u/v");
    assert_int_equal(n.count, 2);
    assert_true(names_has(&n, "x", AFS_TYPE_DIR));
    assert_true(names_has(&n, "3", AFS_TYPE_FILE));
    AFS_ASSERT_OK(put_str(s, "w/other", "o", NULL, NULL));
    AFS_ASSERT_CODE(afs_storage_rename(s, "u", "w", NULL, AFS_STORAGE_RENAME_NOREPLACE),
                    AFS_ECONDITION);
    assert_content(s, "u/v/3", "three");
}

static void test_conformance__metadata_round_trip(void **state)
{
    static const char *const keys[] = { "origin", "content_md5" };
    static const char *const vals[] = { "host-a", "1B2M2Y8AsgTpgAmY7PhCfg==" };
    afs_storage *s = S(state);
    afs_storage_put_options o = AFS_STORAGE_PUT_OPTIONS_INIT;
    afs_storage_entry st;
    char buf[64];
    size_t len = 0;
    int rc;

    o.meta_count = 2;
    o.meta_keys = keys;
    o.meta_values = vals;
    rc = put_str(s, "meta.txt", "m", &o, NULL);
    if (rc == AFS_ENOTSUP) {
        /* The backend says it keeps no metadata: then nothing was stored. */
        AFS_ASSERT_CODE(afs_storage_stat(s, "meta.txt", &st), AFS_ENOTFOUND);
        return;
    }
    AFS_ASSERT_OK(rc);
    if (!OPS(state)->meta_get) {
        AFS_ASSERT_CODE(afs_storage_meta_get(s, "meta.txt", "origin", buf, sizeof(buf), &len),
                        AFS_ENOTSUP);
        return;
    }
    for (size_t i = 0; i < 2; i++) {
        AFS_ASSERT_OK(afs_storage_meta_get(s, "meta.txt", keys[i], buf, sizeof(buf), &len));
        assert_string_equal(buf, vals[i]);
        assert_int_equal(len, strlen(vals[i]));
    }
    AFS_ASSERT_CODE(afs_storage_meta_get(s, "meta.txt", "missing", buf, sizeof(buf), &len),
                    AFS_ENOTFOUND);
    /* A bad key never reaches the backend's namespace. */
    assert_int_not_equal(afs_storage_meta_get(s, "meta.txt", "../x", buf, sizeof(buf), &len), 0);
}

static void test_conformance__hostile_names_refused(void **state)
{
    afs_storage *s = S(state);
    char long_name[AFS_NAME_MAX + 2];
    char long_path[AFS_NAME_MAX + 8];
    const char *bad[] = { "..", "/abs", "a/../b", long_name, ".libafs", ".libafs/x", "a//b",
                          "a/", ".", "a/./b", long_path };
    afs_storage_entry st;
    char buf[4];
    size_t n;

    memset(long_name, 'n', AFS_NAME_MAX + 1);
    long_name[AFS_NAME_MAX + 1] = '\0';
    snprintf(long_path, sizeof(long_path), "ok/%s", long_name);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        AFS_ASSERT_CODE(put_str(s, bad[i], "evil", NULL, NULL), AFS_EINVALIDNAME);
        AFS_ASSERT_CODE(afs_storage_mkdir(s, bad[i]), AFS_EINVALIDNAME);
        AFS_ASSERT_CODE(afs_storage_stat(s, bad[i], &st), AFS_EINVALIDNAME);
        AFS_ASSERT_CODE(afs_storage_read(s, bad[i], 0, buf, sizeof(buf), &n, NULL),
                        AFS_EINVALIDNAME);
        AFS_ASSERT_CODE(afs_storage_remove(s, bad[i], NULL), AFS_EINVALIDNAME);
    }
    AFS_ASSERT_OK(put_str(s, "fine", "ok", NULL, NULL));
    AFS_ASSERT_CODE(afs_storage_rename(s, "fine", "../escape", NULL, 0), AFS_EINVALIDNAME);
    AFS_ASSERT_CODE(afs_storage_rename(s, "fine", ".libafs", NULL, 0), AFS_EINVALIDNAME);
    /* Nothing was created besides the one good object. */
    {
        struct names names = list_names(s, "");
        assert_int_equal(names.count, 1);
        assert_string_equal(names.list[0], "fine");
    }
    /* A 255-byte component is fine. */
    long_name[AFS_NAME_MAX] = '\0';
    AFS_ASSERT_OK(put_str(s, long_name, "long", NULL, NULL));
    assert_content(s, long_name, "long");
}

static void test_conformance__reserved_name_hidden(void **state)
{
    afs_storage *s = S(state);
    char next[AFS_STORAGE_MARKER_MAX];
    struct names n;

    AFS_ASSERT_OK(put_str(s, "a", "1", NULL, NULL));
    AFS_ASSERT_OK(put_str(s, "sub/.libafs", "not reserved below the root", NULL, NULL));
    memset(&n, 0, sizeof(n));
    AFS_ASSERT_OK(afs_storage_list(s, "", NULL, collect_names, &n, next, sizeof(next)));
    assert_int_equal(n.reserved_seen, 0);
    n = list_names(s, "");
    assert_int_equal(n.reserved_seen, 0);
    assert_int_equal(n.count, 2);
    assert_true(names_has(&n, "a", AFS_TYPE_FILE));
    assert_true(names_has(&n, "sub", AFS_TYPE_DIR));
    /* Below the root the name is ordinary content. */
    n = list_names(s, "sub");
    assert_int_equal(n.reserved_seen, 1);
    AFS_ASSERT_CODE(afs_storage_list_all(s, ".libafs", collect_names, &n), AFS_EINVALIDNAME);
}

/* ---- races between processes and threads ---- */

typedef int (*child_fn)(afs_storage *s, int index);

/*
 * Fork `count` children that each reopen the share and run `fn` at the
 * same moment (a pipe is the starting gun). Children never touch cmocka:
 * they report by exit status, collected into `status`.
 */
static void run_children(void **state, int count, child_fn fn, int *status)
{
    struct conf_case *c = *state;
    pid_t pids[RACERS];
    int gun[2];

    assert_true(count <= RACERS);
    assert_int_equal(pipe(gun), 0);
    fflush(NULL);
    for (int i = 0; i < count; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            afs_storage *mine = NULL;
            char b;
            int rc;
            close(gun[1]);
            if (c->f->reopen(c->f->payload, c->s, &mine) != 0)
                _exit(100);
            while (read(gun[0], &b, 1) < 0 && errno == EINTR)
                ;
            rc = fn(mine, i);
            afs_storage_free(mine);
            _exit(rc);
        }
    }
    close(gun[0]);
    close(gun[1]); /* EOF for everyone at once */
    for (int i = 0; i < count; i++) {
        int ws = 0;
        while (waitpid(pids[i], &ws, 0) < 0)
            assert_int_equal(errno, EINTR);
        status[i] = WIFEXITED(ws) ? WEXITSTATUS(ws) : 200 + (WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
    }
}

static int race_create_child(afs_storage *s, int index)
{
    afs_storage_put_options o = AFS_STORAGE_PUT_OPTIONS_INIT;
    char body[32];
    int rc;

    o.condition = AFS_COND_CREATE_ONLY;
    snprintf(body, sizeof(body), "winner is child %d", index);
    rc = put_str(s, "race/prize", body, &o, NULL);
    return rc == 0 ? 0 : rc == AFS_ECONDITION ? 1 : 2;
}

static void test_conformance__race_create_only_processes(void **state)
{
    int status[RACERS], winners = 0, losers = 0, winner = -1;
    char want[32];

    run_children(state, RACERS, race_create_child, status);
    for (int i = 0; i < RACERS; i++) {
        if (status[i] == 0) {
            winners++;
            winner = i;
        } else if (status[i] == 1) {
            losers++;
        } else {
            fail_msg("child %d exited with %d", i, status[i]);
        }
    }
    assert_int_equal(winners, 1);
    assert_int_equal(losers, RACERS - 1);
    snprintf(want, sizeof(want), "winner is child %d", winner);
    assert_content(S(state), "race/prize", want);
}

/* Read-modify-write of a decimal counter with if-match, retrying on a lost race. */
static int counter_increment(afs_storage *s, int rounds)
{
    for (int r = 0; r < rounds; r++) {
        for (int attempt = 0;; attempt++) {
            afs_storage_put_options o = AFS_STORAGE_PUT_OPTIONS_INIT;
            afs_storage_entry st;
            char buf[32], body[32];
            size_t n = 0;
            int rc;

            if (attempt > 100000)
                return 3;
            if (afs_storage_stat(s, "counter", &st) != 0)
                return 4;
            rc = afs_storage_read(s, "counter", 0, buf, sizeof(buf) - 1, &n, st.etag);
            if (rc == AFS_ECONDITION)
                continue; /* changed between stat and read */
            if (rc != 0)
                return 5;
            buf[n] = '\0';
            snprintf(body, sizeof(body), "%ld", strtol(buf, NULL, 10) + 1);
            o.condition = AFS_COND_IF_MATCH;
            o.if_match = st.etag;
            rc = put_str(s, "counter", body, &o, NULL);
            if (rc == 0)
                break;
            if (rc != AFS_ECONDITION)
                return 6;
        }
    }
    return 0;
}

static int race_counter_child(afs_storage *s, int index)
{
    (void)index;
    return counter_increment(s, RACE_ROUNDS);
}

static void test_conformance__race_if_match_counter_processes(void **state)
{
    int status[RACERS];
    char want[16];

    AFS_ASSERT_OK(put_str(S(state), "counter", "0", NULL, NULL));
    run_children(state, RACERS, race_counter_child, status);
    for (int i = 0; i < RACERS; i++)
        if (status[i] != 0)
            fail_msg("child %d exited with %d", i, status[i]);
    snprintf(want, sizeof(want), "%d", RACERS * RACE_ROUNDS);
    assert_content(S(state), "counter", want);
}

static void *counter_thread(void *arg)
{
    return (void *)(intptr_t)counter_increment(arg, RACE_ROUNDS);
}

static void test_conformance__race_if_match_counter_threads(void **state)
{
    pthread_t th[4];
    char want[16];

    AFS_ASSERT_OK(put_str(S(state), "counter", "0", NULL, NULL));
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, counter_thread, S(state)), 0);
    for (int i = 0; i < 4; i++) {
        void *ret = NULL;
        assert_int_equal(pthread_join(th[i], &ret), 0);
        assert_int_equal((intptr_t)ret, 0);
    }
    snprintf(want, sizeof(want), "%d", 4 * RACE_ROUNDS);
    assert_content(S(state), "counter", want);
}

int afs_test_storage_conformance_run(const char *backend_name,
                                     const afs_test_storage_factory *factory)
{
    static struct conf_run run;
    char name[128];
#define CASE(fn) cmocka_unit_test_prestate_setup_teardown(fn, case_setup, case_teardown, &run)
    const struct CMUnitTest tests[] = {
        CASE(test_conformance__put_stat_read_round_trip),
        CASE(test_conformance__range_reads),
        CASE(test_conformance__large_object_streams),
        CASE(test_conformance__mtime_and_attributes_kept),
        CASE(test_conformance__etag_tracks_changes),
        CASE(test_conformance__create_only_second_fails),
        CASE(test_conformance__if_match_stale_refused),
        CASE(test_conformance__remove_if_match),
        CASE(test_conformance__failed_source_leaves_nothing),
        CASE(test_conformance__listing_pages_10000),
        CASE(test_conformance__directories),
        CASE(test_conformance__rename_file_and_tree),
        CASE(test_conformance__metadata_round_trip),
        CASE(test_conformance__hostile_names_refused),
        CASE(test_conformance__reserved_name_hidden),
        CASE(test_conformance__race_create_only_processes),
        CASE(test_conformance__race_if_match_counter_processes),
        CASE(test_conformance__race_if_match_counter_threads),
    };
#undef CASE
    if (!factory || !factory->create_empty || !factory->reopen)
        return 1;
    run.f = factory;
    snprintf(name, sizeof(name), "conformance:%s", backend_name ? backend_name : "?");
    return cmocka_run_group_tests_name(name, tests, NULL, NULL);
}

/*
 * The engine's building blocks: hash map and arena, MD5, JSON generation
 * and the bounded parser that reads documents back from a share.
 */
#include <stdlib.h>
#include <string.h>

#include "support.h"
#include "core/internal.h"
#include "core/json.h"
#include "core/map.h"
#include "core/md5.h"

static void test_util__map_holds_many_keys_and_removes(void **state)
{
    afs__arena arena = { 0 };
    afs__map map = { 0 };
    char key[32];
    size_t pos = 0, seen = 0;
    const char *k;
    void *v;
    (void)state;

    for (int i = 0; i < 100000; i++) {
        snprintf(key, sizeof(key), "dir%d/file%d.txt", i % 100, i);
        AFS_ASSERT_OK(afs__map_put(&map, afs__arena_strdup(&arena, key), (void *)(intptr_t)(i + 1)));
    }
    assert_int_equal(map.count, 100000);
    assert_int_equal((intptr_t)afs__map_get(&map, "dir7/file12307.txt"), 12308);
    assert_null(afs__map_get(&map, "dir7/file12308.txt"));
    /* Remove every even entry; the odd ones must stay reachable past tombstones. */
    for (int i = 0; i < 100000; i += 2) {
        snprintf(key, sizeof(key), "dir%d/file%d.txt", i % 100, i);
        assert_int_equal((intptr_t)afs__map_remove(&map, key), i + 1);
    }
    assert_int_equal(map.count, 50000);
    for (int i = 1; i < 100000; i += 2) {
        snprintf(key, sizeof(key), "dir%d/file%d.txt", i % 100, i);
        assert_int_equal((intptr_t)afs__map_get(&map, key), i + 1);
    }
    /* Replacing keeps the count. */
    AFS_ASSERT_OK(afs__map_put(&map, "dir1/file1.txt", (void *)(intptr_t)7));
    assert_int_equal(map.count, 50000);
    while (afs__map_next(&map, &pos, &k, &v))
        seen++;
    assert_int_equal(seen, 50000);
    afs__map_free(&map);
    afs__arena_free(&arena);
}

struct many_keys {
    char **keys;
};

static const char *many_entry(void *ctx, size_t i, void **value)
{
    *value = (void *)(intptr_t)(i + 1);
    return ((struct many_keys *)ctx)->keys[i];
}

/* A bulk load in one call: every entry reachable with its own value, from
 * none up to more than the prefetch distance and a table of megabytes. */
static void test_util__map_put_new_many_takes_every_entry(void **state)
{
    static const size_t sizes[] = { 0, 3, 100000 };
    char key[32];
    (void)state;

    for (size_t t = 0; t < sizeof(sizes) / sizeof(sizes[0]); t++) {
        afs__arena arena = { 0 };
        afs__map map = { 0 };
        struct many_keys mk;
        size_t n = sizes[t];
        assert_non_null(mk.keys = calloc(n ? n : 1, sizeof(*mk.keys)));
        for (size_t i = 0; i < n; i++) {
            snprintf(key, sizeof(key), "t%zu/d%zu/f%zu", t, i % 100, i);
            assert_non_null(mk.keys[i] = afs__arena_strdup(&arena, key));
        }
        AFS_ASSERT_OK(afs__map_put(&map, "there before", (void *)(intptr_t)-1));
        AFS_ASSERT_OK(afs__map_put_new_many(&map, n, many_entry, &mk));
        assert_int_equal(map.count, n + 1);
        assert_int_equal((intptr_t)afs__map_get(&map, "there before"), -1);
        for (size_t i = 0; i < n; i++) {
            snprintf(key, sizeof(key), "t%zu/d%zu/f%zu", t, i % 100, i);
            assert_int_equal((intptr_t)afs__map_get(&map, key), (intptr_t)(i + 1));
        }
        snprintf(key, sizeof(key), "t%zu/d0/f%zu", t, n);
        assert_null(afs__map_get(&map, key));
        free(mk.keys);
        afs__map_free(&map);
        afs__arena_free(&arena);
    }
}

/* A bulk load: room made once, unique keys put without a lookup each. */
static void test_util__map_reserve_and_put_new(void **state)
{
    afs__arena arena = { 0 };
    afs__map map = { 0 };
    char key[32];
    size_t cap;
    (void)state;

    AFS_ASSERT_OK(afs__map_put(&map, "kept", (void *)(intptr_t)1));
    AFS_ASSERT_OK(afs__map_reserve(&map, 50000));
    cap = map.cap;
    assert_true(cap * 7 > 50000 * 10);
    assert_int_equal((intptr_t)afs__map_get(&map, "kept"), 1);
    for (int i = 0; i < 49999; i++) {
        snprintf(key, sizeof(key), "d%d/f%d", i % 50, i);
        AFS_ASSERT_OK(afs__map_put_new(&map, afs__arena_strdup(&arena, key),
                                       (void *)(intptr_t)(i + 2)));
    }
    assert_int_equal(map.cap, cap); /* never grew */
    assert_int_equal(map.count, 50000);
    assert_int_equal((intptr_t)afs__map_get(&map, "d7/f49957"), 49959);
    assert_null(afs__map_get(&map, "d7/f49958"));
    /* Past the reserve it grows as ever; smaller reserves change nothing. */
    AFS_ASSERT_OK(afs__map_reserve(&map, 10));
    assert_int_equal(map.cap, cap);
    for (int i = 49999; i < 100000; i++) {
        snprintf(key, sizeof(key), "d%d/f%d", i % 50, i);
        AFS_ASSERT_OK(afs__map_put_new(&map, afs__arena_strdup(&arena, key),
                                       (void *)(intptr_t)(i + 2)));
    }
    assert_true(map.cap > cap);
    assert_int_equal(map.count, 100001);
    assert_int_equal((intptr_t)afs__map_get(&map, "d49/f99999"), 100001);
    assert_int_equal((intptr_t)afs__map_get(&map, "kept"), 1);
    afs__map_free(&map);
    afs__arena_free(&arena);
}

static void test_util__md5_matches_known_digests(void **state)
{
    afs__md5 ctx;
    uint8_t d[AFS__MD5_LEN], back[AFS__MD5_LEN];
    char hex[33];
    (void)state;
    afs__md5_init(&ctx);
    afs__md5_update(&ctx, "a", 1);
    afs__md5_update(&ctx, "bc", 2);
    afs__md5_final(&ctx, d);
    afs__md5_hex(d, hex);
    assert_string_equal(hex, "900150983cd24fb0d6963f7d28e17f72");
    AFS_ASSERT_OK(afs__md5_parse(hex, back));
    assert_memory_equal(d, back, sizeof(d));
    afs__md5_init(&ctx);
    afs__md5_final(&ctx, d);
    afs__md5_hex(d, hex);
    assert_string_equal(hex, "d41d8cd98f00b204e9800998ecf8427e");
    assert_int_equal(afs__md5_parse("zz", back), AFS_EINVAL);
    /* Upper-case digits parse to the same digest; a non-digit of the right length does not. */
    AFS_ASSERT_OK(afs__md5_parse("D41D8CD98F00B204E9800998ECF8427E", back));
    assert_memory_equal(d, back, sizeof(d));
    assert_int_equal(afs__md5_parse("d41d8cd98f00b204e9800998ecf8427g", back), AFS_EINVAL);
}

static void test_util__hexval_takes_both_cases_and_nothing_else(void **state)
{
    /* The neighbours of each range, and the NUL a caller may read at the end. */
    const char bad[] = { '/', ':', '`', 'g', '@', 'G', ' ', '\0' };
    (void)state;
    assert_int_equal(afs__hexval('0'), 0);
    assert_int_equal(afs__hexval('9'), 9);
    assert_int_equal(afs__hexval('a'), 10);
    assert_int_equal(afs__hexval('f'), 15);
    assert_int_equal(afs__hexval('A'), 10);
    assert_int_equal(afs__hexval('F'), 15);
    for (size_t i = 0; i < sizeof(bad); i++)
        assert_int_equal(afs__hexval(bad[i]), -1);
}

static void test_util__json_round_trip(void **state)
{
    afs__json *j = afs__json_new();
    char *doc = NULL;
    size_t len;
    yajl_val v;
    int64_t n;
    (void)state;
    assert_non_null(j);
    afs__json_open_map(j);
    afs__json_key_str(j, "name", "Réunion \"quoted\"");
    afs__json_key_int(j, "big", INT64_C(1700000000123456789));
    afs__json_str(j, "list");
    afs__json_open_array(j);
    afs__json_str(j, "x");
    afs__json_close_array(j);
    afs__json_close_map(j);
    AFS_ASSERT_OK(afs__json_finish(j, &doc, &len));
    afs__json_free(j);
    AFS_ASSERT_OK(afs__json_parse(doc, len, "test doc", &v));
    assert_string_equal(afs__json_get_str(v, "name"), "Réunion \"quoted\"");
    AFS_ASSERT_OK(afs__json_get_int(v, "big", &n));
    assert_true(n == INT64_C(1700000000123456789));
    assert_non_null(afs__json_get_array(v, "list"));
    assert_null(afs__json_get_str(v, "big"));
    assert_int_equal(afs__json_get_int(v, "name", &n), AFS_ENOTFOUND);
    yajl_tree_free(v);
    free(doc);
}

static void test_util__json_refuses_bad_documents(void **state)
{
    static const char *const bad[] = {
        "{\"a\":", "not json", "[1,2,3]", "{\"a\":1}}garbage", "",
    };
    yajl_val v;
    afs__json *j;
    char *doc, *deep;
    size_t len;
    (void)state;
    for (size_t i = 0; i < AFS__ARRAY_LEN(bad); i++) {
        AFS_ASSERT_CODE(afs__json_parse(bad[i], strlen(bad[i]), "share doc", &v), AFS_ECORRUPT);
        assert_null(v);
        assert_non_null(strstr(afs_error_last(), "share doc"));
    }
    AFS_ASSERT_CODE(afs__json_parse("{\"a\":\0}", 7, "nul", &v), AFS_ECORRUPT);

    /* A hostile document nested 100,000 deep is refused, not a stack overflow. */
    deep = malloc(200002);
    assert_non_null(deep);
    deep[0] = '{';
    memcpy(deep + 1, "\"a\":", 4);
    memset(deep + 5, '[', 99990);
    memset(deep + 5 + 99990, ']', 99990);
    deep[5 + 2 * 99990] = '}';
    AFS_ASSERT_CODE(afs__json_parse(deep, 6 + 2 * 99990, "deep", &v), AFS_ECORRUPT);
    assert_non_null(strstr(afs_error_last(), "nested"));
    free(deep);

    /* Bracket characters inside strings do not count as nesting. */
    {
        const char *strs = "{\"a\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[\"}";
        AFS_ASSERT_OK(afs__json_parse(strs, strlen(strs), "strings", &v));
    }
    yajl_tree_free(v);

    /* Generating a string that is not UTF-8 fails cleanly. */
    j = afs__json_new();
    afs__json_open_map(j);
    afs__json_key_str(j, "bad", "\xff\xfe");
    afs__json_close_map(j);
    AFS_ASSERT_CODE(afs__json_finish(j, &doc, &len), AFS_EINVAL);
    afs__json_free(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_util__map_holds_many_keys_and_removes),
        cmocka_unit_test(test_util__map_reserve_and_put_new),
        cmocka_unit_test(test_util__map_put_new_many_takes_every_entry),
        cmocka_unit_test(test_util__md5_matches_known_digests),
        cmocka_unit_test(test_util__hexval_takes_both_cases_and_nothing_else),
        cmocka_unit_test(test_util__json_round_trip),
        cmocka_unit_test(test_util__json_refuses_bad_documents),
    };
    return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}

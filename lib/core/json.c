/* JSON generation and parsing over yajl (lib/core/json.h). */
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>

#include "internal.h"
#include "json.h"

struct afs__json {
    yajl_gen gen;
    int failed; /* first yajl_gen_status that was not ok */
};

afs__json *afs__json_new(void)
{
    afs__json *j = afs__calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    j->gen = yajl_gen_alloc(NULL);
    if (!j->gen) {
        free(j);
        afs__error_oom();
        return NULL;
    }
    yajl_gen_config(j->gen, yajl_gen_validate_utf8, 1);
    return j;
}

void afs__json_free(afs__json *j)
{
    if (!j)
        return;
    yajl_gen_free(j->gen);
    free(j);
}

static void check(afs__json *j, yajl_gen_status st)
{
    if (st != yajl_gen_status_ok && !j->failed)
        j->failed = (int)st;
}

void afs__json_open_map(afs__json *j) { check(j, yajl_gen_map_open(j->gen)); }
void afs__json_close_map(afs__json *j) { check(j, yajl_gen_map_close(j->gen)); }
void afs__json_open_array(afs__json *j) { check(j, yajl_gen_array_open(j->gen)); }
void afs__json_close_array(afs__json *j) { check(j, yajl_gen_array_close(j->gen)); }

void afs__json_str(afs__json *j, const char *s)
{
    check(j, yajl_gen_string(j->gen, (const unsigned char *)s, strlen(s)));
}

void afs__json_int(afs__json *j, int64_t v)
{
    check(j, yajl_gen_integer(j->gen, (long long)v));
}

void afs__json_key_str(afs__json *j, const char *key, const char *value)
{
    afs__json_str(j, key);
    afs__json_str(j, value ? value : "");
}

void afs__json_key_int(afs__json *j, const char *key, int64_t value)
{
    afs__json_str(j, key);
    afs__json_int(j, value);
}

int afs__json_finish(afs__json *j, char **out, size_t *len)
{
    const unsigned char *buf;
    size_t n;
    if (j->failed)
        return afs__error_set(AFS_EINVAL, "json: cannot encode (yajl status %d: %s)", j->failed,
                              j->failed == yajl_gen_invalid_string ? "a string is not UTF-8"
                                                                   : "bad structure");
    if (yajl_gen_get_buf(j->gen, &buf, &n) != yajl_gen_status_ok)
        return afs__error_set(AFS_EINVAL, "json: unfinished document");
    *out = afs__strndup((const char *)buf, n);
    if (!*out)
        return AFS_ENOMEM;
    if (len)
        *len = n;
    return 0;
}

/*
 * Nesting depth of a document, scanning outside strings. yajl's tree builder
 * and its free recurse per level, so a hostile document nested a million
 * deep would exhaust the stack: such documents are refused before parsing.
 */
static size_t max_depth(const char *text, size_t len)
{
    size_t depth = 0, worst = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > worst)
                worst = depth;
        } else if ((c == '}' || c == ']') && depth > 0) {
            depth--;
        }
    }
    return worst;
}

int afs__json_parse(const char *text, size_t len, const char *what, yajl_val *out)
{
    char err[256];
    char *copy;
    yajl_val v;

    *out = NULL;
    if (len > AFS__JSON_MAX)
        return afs__error_set(AFS_ECORRUPT, "%s: JSON document of %zu bytes is over the %u limit",
                              what, len, AFS__JSON_MAX);
    if (memchr(text, '\0', len))
        return afs__error_set(AFS_ECORRUPT, "%s: JSON document contains a NUL byte", what);
    if (max_depth(text, len) > AFS__JSON_MAX_DEPTH)
        return afs__error_set(AFS_ECORRUPT, "%s: JSON nested deeper than %d levels", what,
                              AFS__JSON_MAX_DEPTH);
    copy = afs__strndup(text, len);
    if (!copy)
        return AFS_ENOMEM;
    err[0] = '\0';
    v = yajl_tree_parse(copy, err, sizeof(err));
    free(copy);
    if (!v) {
        char *nl;
        if ((nl = strchr(err, '\n')) != NULL)
            *nl = '\0';
        return afs__error_set(AFS_ECORRUPT, "%s: malformed JSON: %s", what,
                              err[0] ? err : "parse error");
    }
    if (!YAJL_IS_OBJECT(v)) {
        yajl_tree_free(v);
        return afs__error_set(AFS_ECORRUPT, "%s: JSON document is not an object", what);
    }
    *out = v;
    return 0;
}

static yajl_val member(yajl_val obj, const char *key)
{
    if (!obj || !YAJL_IS_OBJECT(obj))
        return NULL;
    for (size_t i = 0; i < obj->u.object.len; i++)
        if (strcmp(obj->u.object.keys[i], key) == 0)
            return obj->u.object.values[i];
    return NULL;
}

const char *afs__json_get_str(yajl_val obj, const char *key)
{
    yajl_val v = member(obj, key);
    return v && YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : NULL;
}

int afs__json_get_int(yajl_val obj, const char *key, int64_t *out)
{
    yajl_val v = member(obj, key);
    if (!v || !YAJL_IS_INTEGER(v))
        return AFS_ENOTFOUND;
    *out = (int64_t)YAJL_GET_INTEGER(v);
    return 0;
}

yajl_val afs__json_get_obj(yajl_val obj, const char *key)
{
    yajl_val v = member(obj, key);
    return v && YAJL_IS_OBJECT(v) ? v : NULL;
}

yajl_val afs__json_get_array(yajl_val obj, const char *key)
{
    yajl_val v = member(obj, key);
    return v && YAJL_IS_ARRAY(v) ? v : NULL;
}

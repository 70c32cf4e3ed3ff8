/*
 * Small JSON helpers over yajl 2: a generator for the documents libafs
 * writes (group and endpoint definitions, journal batches) and a bounded,
 * validating parser for the ones it reads back from a share, which may be
 * damaged or hostile.
 */
#ifndef AFS_CORE_JSON_H
#define AFS_CORE_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_tree.h>

typedef struct afs__json afs__json;

/* A generator; NULL on ENOMEM. Strings must be UTF-8 (checked). */
afs__json *afs__json_new(void);
void afs__json_free(afs__json *j);
void afs__json_open_map(afs__json *j);
void afs__json_close_map(afs__json *j);
void afs__json_open_array(afs__json *j);
void afs__json_close_array(afs__json *j);
void afs__json_str(afs__json *j, const char *s);
void afs__json_int(afs__json *j, int64_t v);
void afs__json_key_str(afs__json *j, const char *key, const char *value);
void afs__json_key_int(afs__json *j, const char *key, int64_t value);
/* Finish: *out is a malloc'd NUL-terminated document. Errors: AFS_EINVAL (a
 * string was not UTF-8, or maps/arrays unbalanced), AFS_ENOMEM. */
int afs__json_finish(afs__json *j, char **out, size_t *len);

/* Largest document afs__json_parse accepts. */
#define AFS__JSON_MAX (16u * 1024u * 1024u)
/* Deepest nesting afs__json_parse accepts. */
#define AFS__JSON_MAX_DEPTH 32

/*
 * Parse `len` bytes (need not be NUL-terminated). Errors: AFS_ECORRUPT with
 * a message naming `what` and yajl's reason (malformed, too large, not an
 * object at the top). Free *out with yajl_tree_free.
 */
int afs__json_parse(const char *text, size_t len, const char *what, yajl_val *out);

/* Members of an object; NULL / AFS_ENOTFOUND when missing or of another type. */
const char *afs__json_get_str(yajl_val obj, const char *key);
int afs__json_get_int(yajl_val obj, const char *key, int64_t *out);
yajl_val afs__json_get_obj(yajl_val obj, const char *key);
yajl_val afs__json_get_array(yajl_val obj, const char *key);

#endif

/*
 * A string-keyed hash map (open addressing, linear probing) and a bump
 * arena for the strings and records it points to. The sync engine keeps a
 * session's base, local and cloud views in these: 100,000s of entries, no
 * per-entry malloc, one free at the end.
 */
#ifndef AFS_CORE_MAP_H
#define AFS_CORE_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct afs__arena {
    struct afs__arena_chunk *head;
    size_t used_bytes; /* for memory accounting */
    unsigned int chunks; /* chunks allocated */
} afs__arena;

/* Zero-initialise an arena with `= { 0 }`; free everything with afs__arena_free. */
void afs__arena_free(afs__arena *a);
/* `n` bytes aligned for any type, zeroed; NULL (AFS_ENOMEM set) on failure. */
void *afs__arena_alloc(afs__arena *a, size_t n);
/* Copy `len` bytes of `s` plus a NUL. */
char *afs__arena_strndup(afs__arena *a, const char *s, size_t len);
char *afs__arena_strdup(afs__arena *a, const char *s);

typedef struct afs__map_slot {
    const char *key; /* NULL: empty */
    uint64_t hash;
    void *value;
} afs__map_slot;

typedef struct afs__map {
    afs__map_slot *slots;
    size_t cap;   /* a power of two */
    size_t count; /* live entries */
    size_t tombs; /* removed entries still occupying slots */
} afs__map;

/* Zero-initialise with `= { 0 }`. Keys are borrowed: they must outlive the map. */
void afs__map_free(afs__map *m);
void *afs__map_get(const afs__map *m, const char *key);
/* Insert or replace. Returns 0 or AFS_ENOMEM. */
int afs__map_put(afs__map *m, const char *key, void *value);
/* Insert a key the caller knows is absent, without looking for it first
 * (a bulk load of unique keys). Returns 0 or AFS_ENOMEM. */
int afs__map_put_new(afs__map *m, const char *key, void *value);
/* afs__map_put_new for `n` entries at once: entry(ctx, i, &value) returns
 * the i-th key and sets its value. The slots are prefetched a few entries
 * ahead, so a bulk load does not wait for a cache miss per entry. Returns 0
 * or AFS_ENOMEM (then some of the entries may be in). */
int afs__map_put_new_many(afs__map *m, size_t n,
                          const char *(*entry)(void *ctx, size_t i, void **value), void *ctx);
/* Make room for `n` live entries in all, so that filling the map up to
 * that many does not grow it step by step. Returns 0 or AFS_ENOMEM. */
int afs__map_reserve(afs__map *m, size_t n);
/* Remove; returns the old value or NULL. */
void *afs__map_remove(afs__map *m, const char *key);
/* Iterate: start with *pos = 0; returns false at the end. */
bool afs__map_next(const afs__map *m, size_t *pos, const char **key, void **value);

uint64_t afs__hash_str(const char *s);

#endif

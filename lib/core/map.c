/* Hash map and arena (lib/core/map.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "map.h"

#define ARENA_CHUNK (256u * 1024u)
/* Chunks after the first few, and large map tables, are whole huge pages
 * where the kernel offers them (THP "madvise" mode, Debian's default): a
 * 100,000-item session touches 30-40 MB of items, keys and slots at random,
 * one TLB entry per 4 KiB otherwise. */
#define HUGE_PAGE (2u * 1024u * 1024u)
#define ARENA_SMALL_CHUNKS 4
/* A removed slot keeps probing chains intact. */
static const char tombstone[] = "";

struct afs__arena_chunk {
    struct afs__arena_chunk *next;
    size_t size;
    size_t used;
    max_align_t data[];
};

/* memset through a volatile pointer: GCC folds malloc + memset(0) into
 * calloc, which for a large block skips the writes and so leaves it on the
 * zero page (measured: a TLB-flushing write fault per page of the slots in
 * a 100,000-item session's base load). */
static void *(*volatile const memset_fn)(void *, int, size_t) = memset;

/* Have the whole pages of a fresh block mapped writable in one call instead
 * of a fault per page, where the kernel can; only a hint. */
static void populate(void *p, size_t n)
{
#ifdef MADV_POPULATE_WRITE
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)p + page - 1) & ~(page - 1);
    uintptr_t b = ((uintptr_t)p + n) & ~(page - 1);
    if (b > a)
        (void)madvise((void *)a, b - a, MADV_POPULATE_WRITE);
#else
    (void)p;
    (void)n;
#endif
}

/* A block of `n` bytes, a multiple of HUGE_PAGE, aligned to one and asked
 * to be backed by huge pages; NULL (nothing set) if it cannot be had. */
static void *huge_alloc(size_t n)
{
    void *p = NULL;
    if (posix_memalign(&p, HUGE_PAGE, n) != 0)
        return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, n, MADV_HUGEPAGE); /* only a hint */
#endif
    return p;
}

/* Zero a fresh block by writing it (large ones populated first). */
static void zero_written(void *p, size_t n)
{
    if (n >= (1u << 20))
        populate(p, n);
    memset_fn(p, 0, n);
}

void afs__arena_free(afs__arena *a)
{
    struct afs__arena_chunk *c = a->head;
    while (c) {
        struct afs__arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->used_bytes = 0;
    a->chunks = 0;
}

void *afs__arena_alloc(afs__arena *a, size_t n)
{
    struct afs__arena_chunk *c = a->head;
    size_t align = sizeof(max_align_t);
    void *p;

    n = (n + align - 1) & ~(align - 1);
    if (!c || c->size - c->used < n) {
        size_t size = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        if (a->chunks >= ARENA_SMALL_CHUNKS && n <= HUGE_PAGE - sizeof(*c)) {
            size = HUGE_PAGE - sizeof(*c);
            c = huge_alloc(HUGE_PAGE);
        } else {
            c = malloc(sizeof(*c) + size);
        }
        if (!c) {
            afs__error_oom();
            return NULL;
        }
        populate(c, sizeof(*c) + size); /* 64 faults fewer per chunk */
        c->size = size;
        c->used = 0;
        c->next = a->head;
        a->head = c;
        a->used_bytes += sizeof(*c) + size;
        a->chunks++;
    }
    p = (char *)c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

char *afs__arena_strndup(afs__arena *a, const char *s, size_t len)
{
    char *p = afs__arena_alloc(a, len + 1);
    if (p)
        memcpy(p, s, len);
    return p;
}

char *afs__arena_strdup(afs__arena *a, const char *s)
{
    return afs__arena_strndup(a, s, strlen(s));
}

uint64_t afs__hash_str(const char *s)
{
    /* FNV-1a with a final avalanche so linear probing sees well-spread bits. */
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

void afs__map_free(afs__map *m)
{
    free(m->slots);
    memset(m, 0, sizeof(*m));
}

static afs__map_slot *find(const afs__map *m, const char *key, uint64_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        afs__map_slot *s = &m->slots[i];
        if (!s->key)
            return NULL;
        if (s->key != tombstone && s->hash == h && strcmp(s->key, key) == 0)
            return s;
    }
}

void *afs__map_get(const afs__map *m, const char *key)
{
    afs__map_slot *s;
    if (m->cap == 0)
        return NULL;
    s = find(m, key, afs__hash_str(key));
    return s ? s->value : NULL;
}

/* Rehash into `ncap` slots (a power of two above the live entries). */
static int rehash(afs__map *m, size_t ncap)
{
    afs__map_slot *old = m->slots;
    size_t ocap = m->cap;

    /* Written, not calloc'd: a fresh calloc'd block is the shared zero page
     * until written, and the probes below read before they write, so each
     * page would fault twice, the second time flushing the TLBs of every
     * CPU running this process's threads. */
    if (ncap > SIZE_MAX / sizeof(*m->slots))
        m->slots = NULL;
    else if (ncap * sizeof(*m->slots) >= HUGE_PAGE) /* a power of two: whole huge pages */
        m->slots = huge_alloc(ncap * sizeof(*m->slots));
    else
        m->slots = malloc(ncap * sizeof(*m->slots));
    if (m->slots)
        zero_written(m->slots, ncap * sizeof(*m->slots));
    if (!m->slots) {
        m->slots = old;
        return afs__error_oom();
    }
    m->cap = ncap;
    m->count = 0;
    m->tombs = 0;
    for (size_t i = 0; i < ocap; i++) {
        if (old[i].key && old[i].key != tombstone) {
            size_t mask = ncap - 1, j = old[i].hash & mask;
            while (m->slots[j].key)
                j = (j + 1) & mask;
            m->slots[j] = old[i];
            m->count++;
        }
    }
    free(old);
    return 0;
}

static int grow(afs__map *m)
{
    /* Rehash in place of tombstones when they, not live entries, fill it. */
    if (m->cap && m->count < m->cap / 4)
        return rehash(m, m->cap);
    return rehash(m, m->cap ? m->cap * 2 : 64);
}

int afs__map_reserve(afs__map *m, size_t n)
{
    size_t cap = m->cap ? m->cap : 64;
    while ((n + 1) * 10 >= cap * 7)
        cap *= 2;
    return cap > m->cap ? rehash(m, cap) : 0;
}

/* Insert `key` (hash `h`), known to be absent. */
static int insert(afs__map *m, const char *key, uint64_t h, void *value)
{
    size_t mask, i;
    int rc;

    if ((m->count + m->tombs + 1) * 10 >= m->cap * 7 && (rc = grow(m)) != 0)
        return rc;
    mask = m->cap - 1;
    for (i = h & mask; m->slots[i].key && m->slots[i].key != tombstone; i = (i + 1) & mask)
        ;
    if (m->slots[i].key == tombstone)
        m->tombs--;
    m->slots[i].key = key;
    m->slots[i].hash = h;
    m->slots[i].value = value;
    m->count++;
    return 0;
}

int afs__map_put(afs__map *m, const char *key, void *value)
{
    uint64_t h = afs__hash_str(key);
    afs__map_slot *s;

    if (m->cap && (s = find(m, key, h)) != NULL) {
        s->value = value;
        return 0;
    }
    return insert(m, key, h, value);
}

int afs__map_put_new(afs__map *m, const char *key, void *value)
{
    return insert(m, key, afs__hash_str(key), value);
}

int afs__map_put_new_many(afs__map *m, size_t n,
                          const char *(*entry)(void *ctx, size_t i, void **value), void *ctx)
{
    enum { AHEAD = 8 };
    struct {
        const char *key;
        void *value;
        uint64_t hash;
    } ring[AHEAD];
    int rc;

    if ((rc = afs__map_reserve(m, m->count + n)) != 0)
        return rc;
    for (size_t i = 0; i < n + AHEAD; i++) {
        if (i >= AHEAD) {
            size_t j = (i - AHEAD) % AHEAD;
            if ((rc = insert(m, ring[j].key, ring[j].hash, ring[j].value)) != 0)
                return rc;
        }
        if (i < n) {
            size_t j = i % AHEAD;
            ring[j].key = entry(ctx, i, &ring[j].value);
            ring[j].hash = afs__hash_str(ring[j].key);
            __builtin_prefetch(&m->slots[ring[j].hash & (m->cap - 1)], 1);
        }
    }
    return 0;
}

void *afs__map_remove(afs__map *m, const char *key)
{
    afs__map_slot *s;
    void *v;
    if (m->cap == 0 || (s = find(m, key, afs__hash_str(key))) == NULL)
        return NULL;
    v = s->value;
    s->key = tombstone;
    s->value = NULL;
    m->count--;
    m->tombs++;
    return v;
}

bool afs__map_next(const afs__map *m, size_t *pos, const char **key, void **value)
{
    for (; *pos < m->cap; (*pos)++) {
        afs__map_slot *s = &m->slots[*pos];
        if (s->key && s->key != tombstone) {
            *key = s->key;
            *value = s->value;
            (*pos)++;
            return true;
        }
    }
    return false;
}

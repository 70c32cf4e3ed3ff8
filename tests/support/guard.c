/*
 * Memory that ends where an inaccessible page begins (tests/support/support.h):
 * the library reading or writing even one byte past a caller's struct then
 * crashes the test instead of going unnoticed.
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "support.h"

/* The largest alignment of a libafs struct (8-byte integers and pointers). */
#define ALIGN 8
#define SLACK_BYTE 0xA5

static size_t page_size(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p : 4096;
}

/* `size` rounded up to the alignment: where the struct starts before the guard. */
static size_t aligned(size_t size)
{
    return (size + ALIGN - 1) / ALIGN * ALIGN;
}

/* Pages for `size` bytes plus the guard page. */
static size_t map_length(size_t size)
{
    size_t page = page_size();
    return (aligned(size) + page - 1) / page * page + page;
}

void *afs_test_guarded_new(size_t size)
{
    size_t len = map_length(size), page = page_size();
    unsigned char *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                              -1, 0);
    unsigned char *p;
    if (map == MAP_FAILED)
        fail_msg("mmap of %zu bytes failed", len);
    if (mprotect(map + len - page, page, PROT_NONE) != 0)
        fail_msg("mprotect of the guard page failed");
    /* Aligned for the struct; a size that is not a multiple of the
     * alignment (a version ending before the struct's tail padding) leaves
     * a few bytes before the guard page, filled with a pattern instead. */
    p = map + len - page - aligned(size);
    memset(p + size, SLACK_BYTE, aligned(size) - size);
    return p;
}

void afs_test_guarded_check(const void *p, size_t size)
{
    const unsigned char *b = p;
    for (size_t i = size; i < aligned(size); i++)
        if (b[i] != SLACK_BYTE)
            fail_msg("byte %zu after a %zu-byte struct was written", i - size, size);
}

void afs_test_guarded_free(void *p, size_t size)
{
    size_t len = map_length(size), page = page_size();
    if (!p)
        return;
    afs_test_guarded_check(p, size);
    munmap((unsigned char *)p + aligned(size) + page - len, len);
}

void afs_test_assert_version_refused(const char *fn, const char *type, unsigned int version)
{
    char msg[256];
    snprintf(msg, sizeof(msg), "%s: %s version %u is not supported", fn, type, version);
    if (!strstr(afs_error_last(), msg))
        fail_msg("expected \"%s\" in the error \"%s\"", msg, afs_error_last());
}

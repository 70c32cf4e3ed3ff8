/*
 * Memory that ends where an inaccessible page begins (tests/support/support.h):
 * the library reading or writing even one byte past a caller's struct then
 * crashes the test instead of going unnoticed.
 */
#include <sys/mman.h>
#include <unistd.h>

#include "support.h"

static size_t page_size(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p : 4096;
}

/* Pages for `size` bytes plus the guard page. */
static size_t map_length(size_t size)
{
    size_t page = page_size();
    return (size + page - 1) / page * page + page;
}

void *afs_test_guarded_new(size_t size)
{
    size_t len = map_length(size), page = page_size();
    unsigned char *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                              -1, 0);
    if (map == MAP_FAILED)
        fail_msg("mmap of %zu bytes failed", len);
    if (mprotect(map + len - page, page, PROT_NONE) != 0)
        fail_msg("mprotect of the guard page failed");
    /* Structs of 8-byte fields end on an 8-byte boundary, as `size` does. */
    return map + len - page - size;
}

void afs_test_guarded_free(void *p, size_t size)
{
    size_t len = map_length(size), page = page_size();
    if (p)
        munmap((unsigned char *)p + size + page - len, len);
}

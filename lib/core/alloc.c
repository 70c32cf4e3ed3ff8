/* Allocation helpers that set the thread's error, and afs_free. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void afs_free(void *ptr)
{
    free(ptr);
}

void *afs__malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        afs__error_oom();
    return p;
}

void *afs__calloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        afs__error_oom();
    return p;
}

void *afs__realloc(void *old, size_t n)
{
    void *p = realloc(old, n ? n : 1);
    if (!p)
        afs__error_oom();
    return p;
}

char *afs__strndup(const char *s, size_t n)
{
    char *p = afs__malloc(n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *afs__strdup(const char *s)
{
    return afs__strndup(s, strlen(s));
}

char *afs__sprintf(const char *fmt, ...)
{
    va_list ap;
    int n;
    char *p;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        afs__error_set(AFS_EINVAL, "bad format");
        return NULL;
    }
    p = afs__malloc((size_t)n + 1);
    if (!p)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

int afs__membuf_read(uint64_t offset, void *buf, size_t len, size_t *nread, void *payload)
{
    const struct afs__membuf *m = payload;
    size_t n = 0;
    if (offset < m->len) {
        n = m->len - (size_t)offset;
        if (n > len)
            n = len;
        memcpy(buf, m->data + offset, n);
    }
    *nread = n;
    return 0;
}

/*
 * Name and path validation. Every name that crosses a vtable boundary, from
 * a caller or from a cloud listing, is checked here before it is used, so a
 * hostile listing can never make the library follow "..", an absolute path
 * or an embedded NUL (docs/api-conventions.md#names).
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

int afs_name_check(const char *name, size_t len)
{
    if (!name || len == 0 || len > AFS_NAME_MAX)
        return AFS_EINVALIDNAME;
    if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
        return AFS_EINVALIDNAME;
    if (memchr(name, '\0', len) || memchr(name, '/', len))
        return AFS_EINVALIDNAME;
    return 0;
}

bool afs__name_is_reserved(const char *name, size_t len)
{
    return len == sizeof(AFS_RESERVED_NAME) - 1 && memcmp(name, AFS_RESERVED_NAME, len) == 0;
}

void afs__name_escape(const char *name, size_t len, char *buf, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (cap == 0)
        return;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (o + 8 >= cap) { /* room for "\xNN" and "..." */
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            buf[o++] = (char)c;
        } else {
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[c >> 4];
            buf[o++] = hex[c & 15];
        }
    }
    buf[o] = '\0';
}

int afs__path_check(const char *path, bool allow_reserved, const char *what)
{
    const char *p, *slash;
    char shown[300];

    if (!path)
        return afs__error_set(AFS_EINVAL, "%s: path is NULL", what);
    if (path[0] == '\0')
        return 0; /* the root */
    for (p = path;; p = slash + 1) {
        size_t len;
        slash = strchr(p, '/');
        len = slash ? (size_t)(slash - p) : strlen(p);
        if (afs_name_check(p, len) != 0) {
            afs__name_escape(path, strlen(path), shown, sizeof(shown));
            return afs__error_set(AFS_EINVALIDNAME,
                                  "%s: invalid path \"%s\": components must be 1 to %d bytes, "
                                  "not \".\" or \"..\", without a leading, trailing or double '/'",
                                  what, shown, AFS_NAME_MAX);
        }
        if (p == path && !allow_reserved && afs__name_is_reserved(p, len)) {
            afs__name_escape(path, strlen(path), shown, sizeof(shown));
            return afs__error_set(AFS_EINVALIDNAME,
                                  "%s: \"%s\": the name %s is reserved for libafs metadata", what,
                                  shown, AFS_RESERVED_NAME);
        }
        if (!slash)
            break;
    }
    return 0;
}

char *afs__path_join(const char *dir, const char *name)
{
    if (!dir || dir[0] == '\0')
        return afs__strdup(name);
    return afs__sprintf("%s/%s", dir, name);
}

size_t afs__utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
    uint32_t c = s[0];
    size_t n, i;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, c &= 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, c &= 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, c &= 0x07;
    else
        return 0;
    if (n > len)
        return 0;
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    /* Overlong forms, surrogates and values past U+10FFFF are malformed. */
    if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff)) ||
        (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return n;
}

int afs__label_check(const char *kind, const char *name)
{
    size_t len = strlen(name);
    const unsigned char *s = (const unsigned char *)name;
    const char *why = NULL;
    char shown[96];

    if (len == 0 || len > AFS_NAME_MAX)
        return afs__error_set(AFS_EINVALIDNAME, "%s name must be 1 to %d bytes, not %zu", kind,
                              AFS_NAME_MAX, len);
    for (size_t i = 0; i < len && !why;) {
        uint32_t cp;
        size_t n = afs__utf8_decode(s + i, len - i, &cp);
        if (n == 0)
            why = "it is not valid UTF-8";
        else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
            why = "control characters are not allowed";
        else if (cp == '/')
            why = "'/' is not allowed";
        i += n ? n : 1;
    }
    if (!why)
        return 0;
    afs__name_escape(name, len, shown, sizeof(shown));
    return afs__error_set(AFS_EINVALIDNAME, "invalid %s name \"%s\": %s", kind, shown, why);
}

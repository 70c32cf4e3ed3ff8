/*
 * Name rules of Azure File Sync (shared/reference/afs-facts.md, "Items never
 * synced") and the conflict-copy naming rule ("Conflict resolution").
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../core/internal.h"
#include "names.h"

/* Whole names that are never synced (compared case-insensitively, as on Windows). */
static const char *const skip_names[] = {
    "pagefile.sys", "desktop.ini", "thumbs.db", "ehthumbs.db",
    "System Volume Information", "$RECYCLE.BIN", "SyncShareState",
};

/* Extensions that are never synced. */
static const char *const skip_exts[] = { ".tmp", ".laccdb" };

static bool ends_with_ci(const char *name, size_t len, const char *suffix)
{
    size_t sl = strlen(suffix);
    return len >= sl && strncasecmp(name + len - sl, suffix, sl) == 0;
}

bool afs__sync_is_temp_name(const char *name)
{
    size_t len = strlen(name);
    return strncmp(name, AFS__TEMP_PREFIX, sizeof(AFS__TEMP_PREFIX) - 1) == 0 &&
           ends_with_ci(name, len, ".tmp");
}

static const char *invalid_codepoint(uint32_t c)
{
    if (c < 0x20)
        return "a control character (0x00-0x1F)";
    if (c == 0x7f || c == 0x81 || c == 0x8d || c == 0x8f || c == 0x90 || c == 0x9d)
        return "an unsupported control character (0x7F, 0x81, 0x8D, 0x8F, 0x90 or 0x9D)";
    if (c < 0x80 && strchr("\"*/:<>?\\|", (int)c))
        return "one of \" * / : < > ? \\ |";
    if ((c >= 0xfdd0 && c <= 0xfddd) || c == 0xfff0 || (c >= 0xfffd && c <= 0xffff))
        return "a noncharacter (U+FDD0-U+FDDD, U+FFF0, U+FFFD-U+FFFF)";
    return NULL;
}

afs__name_class afs__sync_name_class(const char *name, size_t len, const char **why)
{
    const unsigned char *s = (const unsigned char *)name;
    size_t i;

    if (why)
        *why = NULL;
    if (afs_name_check(name, len) != 0) {
        if (why)
            *why = "an empty, \".\", \"..\" or over-long name";
        return AFS__NAME_INVALID;
    }
    for (i = 0; i < AFS__ARRAY_LEN(skip_names); i++)
        if (strlen(skip_names[i]) == len && strncasecmp(name, skip_names[i], len) == 0)
            return AFS__NAME_SKIP;
    for (i = 0; i < AFS__ARRAY_LEN(skip_exts); i++)
        if (ends_with_ci(name, len, skip_exts[i]))
            return AFS__NAME_SKIP; /* also covers our own ".~afs-*.tmp" temps */
    /* Office owner files: ~$*.* */
    if (len >= 3 && name[0] == '~' && name[1] == '$' && memchr(name + 2, '.', len - 2))
        return AFS__NAME_SKIP;

    for (i = 0; i < len;) {
        uint32_t cp;
        size_t n = afs__utf8_decode(s + i, len - i, &cp);
        const char *bad;
        if (n == 0) {
            if (why)
                *why = "bytes that are not valid UTF-8";
            return AFS__NAME_INVALID;
        }
        if ((bad = invalid_codepoint(cp)) != NULL) {
            if (why)
                *why = bad;
            return AFS__NAME_INVALID;
        }
        i += n;
    }
    if (name[len - 1] == '.') {
        if (why)
            *why = "a trailing period";
        return AFS__NAME_INVALID;
    }
    return AFS__NAME_SYNC;
}

/* Largest length <= max that does not cut a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
        max--;
    return max;
}

int afs__conflict_name(const char *name, const char *endpoint, unsigned int n, char *buf,
                       size_t cap)
{
    const char *dot = strrchr(name, '.');
    size_t stem_len, ext_len, tail_len;
    char tail[AFS_NAME_MAX + 32];

    if (dot == name)
        dot = NULL; /* ".bashrc" is all stem */
    stem_len = dot ? (size_t)(dot - name) : strlen(name);
    ext_len = dot ? strlen(dot) : 0;
    if (n == 0)
        snprintf(tail, sizeof(tail), "-%s", endpoint);
    else
        snprintf(tail, sizeof(tail), "-%s-%u", endpoint, n);
    tail_len = strlen(tail);
    if (tail_len + ext_len >= AFS_NAME_MAX)
        return afs__error_set(AFS_EINVAL, "conflict name for \"%s\": endpoint name too long",
                              name);
    stem_len = utf8_cut(name, stem_len, AFS_NAME_MAX - tail_len - ext_len);
    if (stem_len + tail_len + ext_len + 1 > cap)
        return afs__error_set(AFS_EINVAL, "conflict name for \"%s\": buffer too small", name);
    memcpy(buf, name, stem_len);
    memcpy(buf + stem_len, tail, tail_len);
    memcpy(buf + stem_len + tail_len, dot ? dot : "", ext_len + 1);
    return 0;
}

/* ---- the writer tag (docs/sync.md#conflicts) ---- */

static bool tag_plain(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == '~';
}

int afs__writer_tag(char *buf, size_t cap, uint64_t size, int64_t mtime_ns, const char *server)
{
    static const char hex[] = "0123456789ABCDEF";
    int n = snprintf(buf, cap, "1;%llu;%lld;", (unsigned long long)size, (long long)mtime_ns);
    size_t at;

    if (n < 0 || (size_t)n >= cap)
        return AFS_EINVAL;
    at = (size_t)n;
    for (const unsigned char *p = (const unsigned char *)server; *p; p++) {
        if (at + 4 > cap)
            return AFS_EINVAL;
        if (tag_plain(*p)) {
            buf[at++] = (char)*p;
        } else {
            buf[at++] = '%';
            buf[at++] = hex[*p >> 4];
            buf[at++] = hex[*p & 15];
        }
    }
    buf[at] = '\0';
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Same last-write time, allowing for a backend that keeps 100 ns ticks. */
static bool same_time(int64_t recorded, int64_t seen)
{
    return recorded == seen || recorded / 100 * 100 == seen;
}

bool afs__writer_tag_parse(const char *tag, uint64_t size, int64_t mtime_ns, char *name,
                           size_t cap)
{
    unsigned long long tsize;
    long long tmtime;
    int used = 0;
    size_t at = 0;
    const char *p;

    if (sscanf(tag, "1;%llu;%lld;%n", &tsize, &tmtime, &used) != 2 || used == 0)
        return false;
    /* The tag is the writer's only while the object is the version it wrote:
     * an edit in the share that kept the metadata changes size or time. */
    if (tsize != size || !same_time((int64_t)tmtime, mtime_ns))
        return false;
    for (p = tag + used; *p; p++) {
        int c = (unsigned char)*p;
        if (c == '%') {
            int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
            if (lo < 0)
                return false;
            c = hi * 16 + lo;
            p += 2;
        } else if (!tag_plain((unsigned char)c)) {
            return false;
        }
        if (at + 1 >= cap)
            return false;
        name[at++] = (char)c;
    }
    name[at] = '\0';
    /* A hostile tag must not steer the copy elsewhere ('/', control bytes). */
    if (afs__label_check("server", name) != 0) {
        afs_error_clear();
        return false;
    }
    return true;
}

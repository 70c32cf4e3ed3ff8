/* The tier marker's binary format and range map (lib/tier/marker.h). */
#include <stdlib.h>
#include <string.h>

#include "../core/internal.h"
#include "marker.h"

uint32_t afs__crc32(uint32_t crc, const void *data, size_t len)
{
    static uint32_t table[256];
    static int ready; /* benign race: every thread computes the same table */
    const unsigned char *p = data;
    if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    }
    crc = ~crc;
    while (len--)
        crc = table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

static void put16(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get16(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

void afs__marker_clear(afs__marker *m)
{
    if (!m)
        return;
    free(m->path);
    free(m->ranges);
    memset(m, 0, sizeof(*m));
}

int afs__marker_encode(const afs__marker *m, unsigned char *buf, size_t cap, size_t *len)
{
    size_t elen = strlen(m->etag), plen = m->path ? strlen(m->path) : 0;
    size_t need = AFS__MARKER_FIXED + elen + plen + 16 * m->nranges + 4;
    unsigned char *p = buf;

    *len = 0;
    if (elen == 0 || elen >= AFS_ETAG_MAX)
        return afs__error_set(AFS_EINVAL, "tier marker: etag of %zu bytes", elen);
    if (need > cap || plen > 0xFFFF || m->nranges > 0xFFFF)
        return afs__error_set(AFS_ELIMIT, "tier marker: %zu bytes needed (cloud path of %zu "
                              "bytes, %zu ranges), the limit is %zu", need, plen, m->nranges,
                              cap);
    memcpy(p, AFS__MARKER_MAGIC, 4);
    p[4] = AFS__MARKER_VERSION;
    p[5] = (unsigned char)m->flags;
    put16(p + 6, (uint32_t)elen);
    put16(p + 8, (uint32_t)plen);
    put16(p + 10, (uint32_t)m->nranges);
    put32(p + 12, m->chunk ? m->chunk : AFS_TIER_CHUNK);
    put64(p + 16, m->size);
    put64(p + 24, (uint64_t)m->mtime_ns);
    put64(p + 32, (uint64_t)m->tiered_ns);
    put64(p + 40, m->file_id);
    p += AFS__MARKER_FIXED;
    memcpy(p, m->etag, elen);
    p += elen;
    if (plen)
        memcpy(p, m->path, plen);
    p += plen;
    for (size_t i = 0; i < m->nranges; i++) {
        put64(p, m->ranges[i].off);
        put64(p + 8, m->ranges[i].len);
        p += 16;
    }
    put32(p, afs__crc32(0, buf, (size_t)(p - buf)));
    *len = need;
    return 0;
}

int afs__marker_decode(const unsigned char *buf, size_t len, const char *what, afs__marker *m)
{
    size_t elen, plen, nr, need;
    const unsigned char *p;

    memset(m, 0, sizeof(*m));
    if (len < AFS__MARKER_FIXED + 4 || memcmp(buf, AFS__MARKER_MAGIC, 4) != 0)
        return afs__error_set(AFS_ECORRUPT, "%s: the tier marker is not libafs's (%zu bytes)",
                              what, len);
    if (buf[4] < AFS__MARKER_VERSION_MIN || buf[4] > AFS__MARKER_VERSION)
        return afs__error_set(AFS_ECORRUPT, "%s: tier marker version %u is not known to this "
                              "libafs", what, buf[4]);
    elen = get16(buf + 6);
    plen = get16(buf + 8);
    nr = get16(buf + 10);
    need = AFS__MARKER_FIXED + elen + plen + 16 * nr + 4;
    if (need != len || elen == 0 || elen >= AFS_ETAG_MAX)
        return afs__error_set(AFS_ECORRUPT, "%s: tier marker lengths do not add up", what);
    if (get32(buf + len - 4) != afs__crc32(0, buf, len - 4))
        return afs__error_set(AFS_ECORRUPT, "%s: tier marker checksum mismatch", what);
    m->version = buf[4];
    m->flags = buf[5];
    m->chunk = get32(buf + 12);
    m->size = get64(buf + 16);
    m->mtime_ns = (int64_t)get64(buf + 24);
    m->tiered_ns = (int64_t)get64(buf + 32);
    m->file_id = get64(buf + 40);
    p = buf + AFS__MARKER_FIXED;
    memcpy(m->etag, p, elen);
    m->etag[elen] = '\0';
    p += elen;
    if (!(m->path = afs__strndup((const char *)p, plen)))
        return AFS_ENOMEM;
    p += plen;
    if (nr) {
        if (!(m->ranges = afs__calloc(nr, sizeof(*m->ranges)))) {
            afs__marker_clear(m);
            return AFS_ENOMEM;
        }
        for (size_t i = 0; i < nr; i++, p += 16) {
            m->ranges[i].off = get64(p);
            m->ranges[i].len = get64(p + 8);
            /* Sorted, disjoint, inside the file: anything else is not ours. */
            if (m->ranges[i].len == 0 || m->ranges[i].off > m->size ||
                m->ranges[i].len > m->size - m->ranges[i].off ||
                (i && m->ranges[i].off <= m->ranges[i - 1].off + m->ranges[i - 1].len)) {
                afs__marker_clear(m);
                return afs__error_set(AFS_ECORRUPT, "%s: tier marker range %zu is invalid",
                                      what, i);
            }
        }
        m->nranges = nr;
    }
    return 0;
}

int afs__marker_read(afs_fs *fs, const char *path, afs__marker *m, bool *found)
{
    unsigned char buf[AFS_FS_MARKER_MAX];
    size_t len = 0;
    int rc;

    memset(m, 0, sizeof(*m));
    *found = false;
    if (!fs->ops.marker_get)
        return afs__error_set(AFS_ENOTSUP, "%s: the filesystem has no tier markers", path);
    rc = fs->ops.marker_get(fs->ctx, path, buf, sizeof(buf), &len);
    if (rc == AFS_ENOTFOUND) {
        /* No marker, or no file: tell them apart with the caller's stat. */
        afs_error_clear();
        return 0;
    }
    if (rc == AFS_EINVAL && len > sizeof(buf))
        return afs__error_set(AFS_ECORRUPT, "%s: a %zu-byte tier marker is not libafs's", path,
                              len);
    if (rc != 0)
        return rc;
    if ((rc = afs__marker_decode(buf, len, path, m)) != 0)
        return rc;
    *found = true;
    return 0;
}

int afs__marker_write(afs_fs *fs, const char *path, const afs__marker *m)
{
    unsigned char buf[AFS_FS_MARKER_MAX];
    size_t len;
    int rc;
    if (!fs->ops.marker_set)
        return afs__error_set(AFS_ENOTSUP, "%s: the filesystem has no tier markers", path);
    if ((rc = afs__marker_encode(m, buf, sizeof(buf), &len)) != 0)
        return afs__error_prefix(rc, "%s", path);
    return fs->ops.marker_set(fs->ctx, path, buf, len);
}

int afs__marker_add_range(afs__marker *m, uint64_t off, uint64_t len)
{
    afs__range *r;
    size_t n = 0;
    uint64_t end;

    if (off >= m->size || len == 0)
        return 0;
    if (len > m->size - off)
        len = m->size - off;
    end = off + len;
    r = afs__calloc(m->nranges + 1, sizeof(*r));
    if (!r)
        return AFS_ENOMEM;
    /* Copy the ranges before the new one, merge those that touch it, copy the rest. */
    size_t i = 0;
    for (; i < m->nranges && m->ranges[i].off + m->ranges[i].len < off; i++)
        r[n++] = m->ranges[i];
    for (; i < m->nranges && m->ranges[i].off <= end; i++) {
        uint64_t e = m->ranges[i].off + m->ranges[i].len;
        if (m->ranges[i].off < off)
            off = m->ranges[i].off;
        if (e > end)
            end = e;
    }
    r[n].off = off;
    r[n].len = end - off;
    n++;
    for (; i < m->nranges; i++)
        r[n++] = m->ranges[i];
    free(m->ranges);
    m->ranges = r;
    m->nranges = n;
    return 0;
}

uint64_t afs__marker_present(const afs__marker *m)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < m->nranges; i++)
        sum += m->ranges[i].len;
    return sum > m->size ? m->size : sum;
}

bool afs__marker_written(const afs__marker *m, uint64_t st_size, int64_t st_mtime_ns)
{
    int64_t d = st_mtime_ns - m->tiered_ns;
    if (afs__marker_present(m) >= m->size)
        return false; /* complete: nothing left to fetch over anything */
    if (st_size != m->size)
        return true;
    if (st_mtime_ns == m->mtime_ns)
        return false;
    if (m->version >= 2 && !(m->flags & AFS__MARKER_PENDING))
        return true;
    return !(d > -5000000000LL && d < 5000000000LL);
}

bool afs__marker_covers(const afs__marker *m, uint64_t off, uint64_t len)
{
    if (len == 0)
        return true;
    for (size_t i = 0; i < m->nranges; i++)
        if (m->ranges[i].off <= off && off + len <= m->ranges[i].off + m->ranges[i].len)
            return true;
    return false;
}

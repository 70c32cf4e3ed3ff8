/*
 * The storage layer every caller goes through: vtable registration, name
 * validation on the way in and on the way out (hostile listings), the
 * reserved prefix, option versioning, and the fallbacks for NULL slots
 * (docs/guide-storage-vtable.md#fallbacks).
 */
#include <stdlib.h>
#include <string.h>

#include "../core/internal.h"

int afs_storage_new(afs_storage **out, const afs_storage_ops *ops, void *ctx)
{
    afs_storage *s;
    int rc;

    if (!out || !ops)
        return afs__error_set(AFS_EINVAL, "afs_storage_new: out and ops must not be NULL");
    *out = NULL;
    if ((rc = afs__vstruct_check(&afs__vs_storage_ops, ops->version, "afs_storage_new")) != 0)
        return rc;
    s = afs__calloc(1, sizeof(*s));
    if (!s)
        return AFS_ENOMEM;
    /* The slots of the caller's version; later ones stay NULL. */
    (void)afs__vstruct_read(&afs__vs_storage_ops, &s->ops, ops, "afs_storage_new");
    s->ctx = ctx;
#define REQUIRE(slot)                                                                    \
    if (!s->ops.slot) {                                                                  \
        free(s);                                                                         \
        return afs__error_set(AFS_EINVAL, "afs_storage_new: required slot '%s' is NULL", \
                              #slot);                                                    \
    }
    REQUIRE(list) REQUIRE(stat) REQUIRE(read) REQUIRE(put) REQUIRE(remove)
#undef REQUIRE
    *out = s;
    return 0;
}

int afs_storage_ops_get(const afs_storage *storage, const afs_storage_ops **ops, void **ctx)
{
    if (!storage || !ops)
        return afs__error_set(AFS_EINVAL, "afs_storage_ops_get: storage and ops must not be NULL");
    *ops = &storage->ops;
    if (ctx)
        *ctx = storage->ctx;
    return 0;
}

void afs_storage_free(afs_storage *storage)
{
    if (!storage)
        return;
    if (storage->ops.release)
        storage->ops.release(storage->ctx);
    free(storage);
}

int afs_storage_put_options_init(afs_storage_put_options *opts, unsigned int version)
{
    static const afs_storage_put_options defaults = AFS_STORAGE_PUT_OPTIONS_INIT;
    return afs__options_init(&afs__vs_storage_put_options, opts, &defaults, version,
                             "afs_storage_put_options_init");
}

static int check_storage(const afs_storage *s, const char *what)
{
    if (!s)
        return afs__error_set(AFS_EINVAL, "%s: storage is NULL", what);
    return 0;
}

/*
 * Give a failed backend call context without losing its own message. The
 * code is always returned unchanged, so a callback's cancel value (positive
 * or AFS_EUSER) comes back to the caller as it was.
 */
static int backend_error(int rc, const char *what, const char *path)
{
    if (rc > 0 || rc == AFS_EUSER || rc == AFS_EITEROVER)
        return rc;
    if (afs_error_last_code() != rc)
        afs__error_set(rc, "%s", afs_strerror(rc));
    return afs__error_prefix(rc, "storage %s \"%s\"", what, path);
}

/* ---- listing ---- */

struct list_filter {
    afs_storage_list_fn fn;
    void *payload;
    bool hide_reserved; /* listing the root for a public caller */
    char escaped[AFS_NAME_MAX * 4 + 16];
};

static int list_trampoline(const afs_storage_entry *entry, void *payload)
{
    struct list_filter *f = payload;
    afs_storage_entry e = *entry;

    e.status = 0;
    e.etag[AFS_ETAG_MAX - 1] = '\0';
    if (afs_name_check(e.name, e.name_len) != 0 ||
        (e.type != AFS_TYPE_FILE && e.type != AFS_TYPE_DIR)) {
        /* Never followed: the caller sees the escaped name and the error. */
        afs__name_escape(e.name ? e.name : "", e.name ? e.name_len : 0, f->escaped,
                         sizeof(f->escaped));
        afs__log(AFS_LOG_WARN, "storage listing: rejected entry \"%s\" (invalid name or type)",
                 f->escaped);
        e.name = f->escaped;
        e.name_len = strlen(f->escaped);
        e.status = AFS_EINVALIDNAME;
    } else if (f->hide_reserved && afs__name_is_reserved(e.name, e.name_len)) {
        return 0;
    }
    return f->fn(&e, f->payload);
}

int afs__storage_list(afs_storage *s, const char *dir, const char *marker, afs_storage_list_fn fn,
                      void *payload, char *next_marker, size_t next_marker_size,
                      bool allow_reserved)
{
    struct list_filter *f;
    int rc;

    if ((rc = check_storage(s, "storage list")) != 0)
        return rc;
    if (!fn || !next_marker || next_marker_size < 2)
        return afs__error_set(AFS_EINVAL, "storage list: fn and next_marker are required");
    if ((rc = afs__path_check(dir, allow_reserved, "storage list")) != 0)
        return rc;
    f = afs__malloc(sizeof(*f));
    if (!f)
        return AFS_ENOMEM;
    f->fn = fn;
    f->payload = payload;
    f->hide_reserved = !allow_reserved && dir[0] == '\0';
    next_marker[0] = '\0';
    rc = s->ops.list(s->ctx, dir, marker && marker[0] ? marker : NULL, list_trampoline, f,
                     next_marker, next_marker_size);
    next_marker[next_marker_size - 1] = '\0';
    free(f);
    return rc ? backend_error(rc, "list", dir) : 0;
}

int afs_storage_list(afs_storage *storage, const char *dir, const char *marker,
                     afs_storage_list_fn fn, void *payload, char *next_marker,
                     size_t next_marker_size)
{
    return afs__storage_list(storage, dir, marker, fn, payload, next_marker, next_marker_size,
                             false);
}

int afs_storage_list_all(afs_storage *storage, const char *dir, afs_storage_list_fn fn,
                         void *payload)
{
    char *marker = afs__malloc(2 * AFS_STORAGE_MARKER_MAX);
    char *next;
    int rc;

    if (!marker)
        return AFS_ENOMEM;
    next = marker + AFS_STORAGE_MARKER_MAX;
    marker[0] = '\0';
    for (;;) {
        rc = afs_storage_list(storage, dir, marker, fn, payload, next, AFS_STORAGE_MARKER_MAX);
        if (rc != 0 || next[0] == '\0')
            break;
        if (strcmp(marker, next) == 0) {
            rc = afs__error_set(AFS_EIO, "storage list \"%s\": backend repeated marker \"%.64s\"",
                                dir, next);
            break;
        }
        memcpy(marker, next, AFS_STORAGE_MARKER_MAX);
    }
    free(marker);
    return rc;
}

/* ---- single objects ---- */

int afs__storage_stat(afs_storage *s, const char *path, afs_storage_entry *out,
                      bool allow_reserved)
{
    int rc;
    if ((rc = check_storage(s, "storage stat")) != 0)
        return rc;
    if (!out)
        return afs__error_set(AFS_EINVAL, "storage stat: out is NULL");
    if ((rc = afs__path_check(path, allow_reserved, "storage stat")) != 0)
        return rc;
    memset(out, 0, sizeof(*out));
    rc = s->ops.stat(s->ctx, path, out);
    out->name = NULL;
    out->name_len = 0;
    out->status = 0;
    out->etag[AFS_ETAG_MAX - 1] = '\0';
    return rc ? backend_error(rc, "stat", path) : 0;
}

int afs_storage_stat(afs_storage *storage, const char *path, afs_storage_entry *out)
{
    return afs__storage_stat(storage, path, out, false);
}

int afs__storage_read(afs_storage *s, const char *path, uint64_t offset, void *buf, size_t len,
                      size_t *nread, const char *if_match, bool allow_reserved)
{
    int rc;
    if ((rc = check_storage(s, "storage read")) != 0)
        return rc;
    if ((!buf && len) || !nread)
        return afs__error_set(AFS_EINVAL, "storage read: buf and nread are required");
    if ((rc = afs__path_check(path, allow_reserved, "storage read")) != 0)
        return rc;
    *nread = 0;
    rc = s->ops.read(s->ctx, path, offset, buf, len, nread, if_match);
    if (rc == 0 && *nread > len)
        return afs__error_set(AFS_EIO, "storage read \"%s\": backend returned %zu bytes for %zu",
                              path, *nread, len);
    return rc ? backend_error(rc, "read", path) : 0;
}

int afs_storage_read(afs_storage *storage, const char *path, uint64_t offset, void *buf,
                     size_t len, size_t *nread, const char *if_match)
{
    return afs__storage_read(storage, path, offset, buf, len, nread, if_match, false);
}

static int check_meta(const afs_storage_put_options *o)
{
    for (size_t i = 0; i < o->meta_count; i++) {
        const char *k = o->meta_keys ? o->meta_keys[i] : NULL;
        const char *v = o->meta_values ? o->meta_values[i] : NULL;
        size_t kl, vl;
        if (!k || !v)
            return afs__error_set(AFS_EINVAL, "storage put: metadata pair %zu is NULL", i);
        kl = strlen(k);
        vl = strlen(v);
        if (kl == 0 || kl > 64 || strspn(k, "abcdefghijklmnopqrstuvwxyz0123456789_") != kl)
            return afs__error_set(AFS_EINVAL,
                                  "storage put: metadata key \"%.64s\" must be 1-64 of [a-z0-9_]",
                                  k);
        if (vl > 1024)
            return afs__error_set(AFS_EINVAL, "storage put: metadata \"%s\" is over 1024 bytes",
                                  k);
        for (size_t j = 0; j < vl; j++)
            if ((unsigned char)v[j] < 0x20 || (unsigned char)v[j] > 0x7e)
                return afs__error_set(AFS_EINVAL,
                                      "storage put: metadata \"%s\" is not printable ASCII", k);
    }
    return 0;
}

int afs__storage_put(afs_storage *s, const char *path, afs_read_fn src, void *src_payload,
                     uint64_t size, const afs_storage_put_options *opts, afs_storage_entry *out,
                     bool allow_reserved)
{
    afs_storage_put_options o = AFS_STORAGE_PUT_OPTIONS_INIT;
    afs_storage_entry local;
    int rc;

    if ((rc = check_storage(s, "storage put")) != 0)
        return rc;
    if (!src)
        return afs__error_set(AFS_EINVAL, "storage put: src is NULL");
    if ((rc = afs__path_check(path, allow_reserved, "storage put")) != 0)
        return rc;
    if (path[0] == '\0')
        return afs__error_set(AFS_EINVALIDNAME, "storage put: the root is not a file");
    /* Only the caller's version's fields; the backend gets a whole struct. */
    if ((rc = afs__vstruct_read(&afs__vs_storage_put_options, &o, opts, "afs_storage_put")) != 0)
        return rc;
    if (o.condition > AFS_COND_IF_MATCH ||
        (o.condition == AFS_COND_IF_MATCH && (!o.if_match || !o.if_match[0])))
        return afs__error_set(AFS_EINVAL, "storage put \"%s\": bad condition", path);
    if ((rc = check_meta(&o)) != 0)
        return rc;
    if (!out)
        out = &local;
    memset(out, 0, sizeof(*out));
    rc = s->ops.put(s->ctx, path, src, src_payload, size, &o, out);
    out->name = NULL;
    out->name_len = 0;
    out->etag[AFS_ETAG_MAX - 1] = '\0';
    return rc ? backend_error(rc, "put", path) : 0;
}

int afs_storage_put(afs_storage *storage, const char *path, afs_read_fn src, void *src_payload,
                    uint64_t size, const afs_storage_put_options *opts, afs_storage_entry *out)
{
    return afs__storage_put(storage, path, src, src_payload, size, opts, out, false);
}

int afs_storage_put_buffer(afs_storage *storage, const char *path, const void *buf, size_t len,
                           const afs_storage_put_options *opts, afs_storage_entry *out)
{
    struct afs__membuf m = { buf, len };
    if (!buf && len)
        return afs__error_set(AFS_EINVAL, "storage put: buf is NULL");
    return afs_storage_put(storage, path, afs__membuf_read, &m, len, opts, out);
}

int afs__storage_remove(afs_storage *s, const char *path, const char *if_match,
                        bool allow_reserved)
{
    int rc;
    if ((rc = check_storage(s, "storage remove")) != 0)
        return rc;
    if ((rc = afs__path_check(path, allow_reserved, "storage remove")) != 0)
        return rc;
    if (path[0] == '\0')
        return afs__error_set(AFS_EINVALIDNAME, "storage remove: refusing to remove the root");
    rc = s->ops.remove(s->ctx, path, if_match);
    return rc ? backend_error(rc, "remove", path) : 0;
}

int afs_storage_remove(afs_storage *storage, const char *path, const char *if_match)
{
    return afs__storage_remove(storage, path, if_match, false);
}

int afs__storage_mkdir(afs_storage *s, const char *path, bool allow_reserved)
{
    int rc;
    if ((rc = check_storage(s, "storage mkdir")) != 0)
        return rc;
    if ((rc = afs__path_check(path, allow_reserved, "storage mkdir")) != 0)
        return rc;
    if (path[0] == '\0')
        return afs__error_set(AFS_EEXISTS, "storage mkdir: the root exists");
    if (!s->ops.mkdir)
        return 0; /* implicit directories */
    rc = s->ops.mkdir(s->ctx, path);
    return rc ? backend_error(rc, "mkdir", path) : 0;
}

int afs_storage_mkdir(afs_storage *storage, const char *path)
{
    return afs__storage_mkdir(storage, path, false);
}

int afs_storage_rmdir(afs_storage *storage, const char *path)
{
    int rc;
    if ((rc = check_storage(storage, "storage rmdir")) != 0)
        return rc;
    if ((rc = afs__path_check(path, false, "storage rmdir")) != 0)
        return rc;
    if (path[0] == '\0')
        return afs__error_set(AFS_EINVALIDNAME, "storage rmdir: refusing to remove the root");
    if (!storage->ops.rmdir)
        return 0; /* implicit directories vanish with their last object */
    rc = storage->ops.rmdir(storage->ctx, path);
    return rc ? backend_error(rc, "rmdir", path) : 0;
}

/* Fallback rename for backends without one: copy, then remove the source. */
struct copy_src {
    afs_storage *s;
    const char *path;
    const char *etag;
};

static int copy_read(uint64_t offset, void *buf, size_t len, size_t *nread, void *payload)
{
    struct copy_src *c = payload;
    return c->s->ops.read(c->s->ctx, c->path, offset, buf, len, nread, c->etag);
}

static int rename_by_copy(afs_storage *s, const char *from, const char *to, const char *if_match,
                          unsigned int flags)
{
    afs_storage_entry st;
    afs_storage_put_options o = AFS_STORAGE_PUT_OPTIONS_INIT;
    afs_storage_entry out;
    struct copy_src c;
    int rc;

    memset(&st, 0, sizeof(st));
    if ((rc = s->ops.stat(s->ctx, from, &st)) != 0)
        return backend_error(rc, "rename", from);
    if (st.type == AFS_TYPE_DIR)
        return afs__error_set(AFS_ENOTSUP,
                              "storage rename \"%s\": this backend cannot rename directories",
                              from);
    if (if_match && strcmp(if_match, st.etag) != 0)
        return afs__error_set(AFS_ECONDITION, "storage rename \"%s\": etag mismatch", from);
    c.s = s;
    c.path = from;
    c.etag = st.etag;
    o.condition = (flags & AFS_STORAGE_RENAME_NOREPLACE) ? AFS_COND_CREATE_ONLY : AFS_COND_NONE;
    o.mtime_ns = st.mtime_ns;
    o.btime_ns = st.btime_ns ? st.btime_ns : AFS_TIME_OMIT;
    o.attributes = st.attributes;
    memset(&out, 0, sizeof(out));
    if ((rc = s->ops.put(s->ctx, to, copy_read, &c, st.size, &o, &out)) != 0)
        return backend_error(rc, "rename (copy)", to);
    if ((rc = s->ops.remove(s->ctx, from, st.etag)) != 0)
        return backend_error(rc, "rename (remove source)", from);
    return 0;
}

int afs_storage_rename(afs_storage *storage, const char *from, const char *to,
                       const char *if_match, unsigned int flags)
{
    int rc;
    if ((rc = check_storage(storage, "storage rename")) != 0)
        return rc;
    if ((rc = afs__path_check(from, false, "storage rename (from)")) != 0 ||
        (rc = afs__path_check(to, false, "storage rename (to)")) != 0)
        return rc;
    if (from[0] == '\0' || to[0] == '\0')
        return afs__error_set(AFS_EINVALIDNAME, "storage rename: the root cannot be renamed");
    if (flags & ~AFS_STORAGE_RENAME_NOREPLACE)
        return afs__error_set(AFS_EINVAL, "storage rename: unknown flags 0x%x", flags);
    if (!storage->ops.rename)
        return rename_by_copy(storage, from, to, if_match, flags);
    rc = storage->ops.rename(storage->ctx, from, to, if_match, flags);
    return rc ? backend_error(rc, "rename", from) : 0;
}

int afs_storage_set_props(afs_storage *storage, const char *path, int64_t mtime_ns,
                          uint32_t attributes, const char *if_match, afs_storage_entry *out)
{
    afs_storage_entry local;
    int rc;
    if ((rc = check_storage(storage, "storage set_props")) != 0)
        return rc;
    if ((rc = afs__path_check(path, false, "storage set_props")) != 0)
        return rc;
    if (!storage->ops.set_props)
        return afs__error_set(AFS_ENOTSUP, "storage set_props \"%s\": not supported by backend",
                              path);
    if (!out)
        out = &local;
    memset(out, 0, sizeof(*out));
    rc = storage->ops.set_props(storage->ctx, path, mtime_ns, attributes, if_match, out);
    out->etag[AFS_ETAG_MAX - 1] = '\0';
    return rc ? backend_error(rc, "set_props", path) : 0;
}

int afs_storage_meta_get(afs_storage *storage, const char *path, const char *key, char *buf,
                         size_t cap, size_t *len)
{
    int rc;
    if ((rc = check_storage(storage, "storage meta_get")) != 0)
        return rc;
    if (!key || !buf || cap == 0 || !len)
        return afs__error_set(AFS_EINVAL, "storage meta_get: key, buf and len are required");
    if ((rc = afs__path_check(path, false, "storage meta_get")) != 0)
        return rc;
    if (strlen(key) == 0 || strlen(key) > 64 ||
        strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(key))
        return afs__error_set(AFS_EINVAL, "storage meta_get: key \"%.64s\" must be 1-64 of "
                              "[a-z0-9_]", key);
    if (!storage->ops.meta_get)
        return afs__error_set(AFS_ENOTSUP, "storage meta_get \"%s\": not supported by backend",
                              path);
    *len = 0;
    rc = storage->ops.meta_get(storage->ctx, path, key, buf, cap, len);
    buf[cap - 1] = '\0';
    return rc ? backend_error(rc, "meta_get", path) : 0;
}

int afs_storage_ctl(afs_storage *storage, int op, void *arg)
{
    int rc;
    if ((rc = check_storage(storage, "storage ctl")) != 0)
        return rc;
    if (!storage->ops.ctl)
        return afs__error_set(AFS_ENOTSUP, "storage ctl %d: not supported by backend", op);
    return storage->ops.ctl(storage->ctx, op, arg);
}

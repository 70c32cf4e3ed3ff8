/* Fault-wrapped storage by URI and fault-wrapped filesystems (tests/support/faultscheme.h). */
#include <stdlib.h>
#include <string.h>

#include "faultscheme.h"

#define SCHEME "fault"
#define PREFIX SCHEME "://"

/*
 * What the scheme hands to the library: a thin owner in front of the fault
 * wrapper. The wrapper borrows its inner storage, so something must free
 * the local backend when the group lets go of the storage: this owner does,
 * in its release. Every other slot forwards to the wrapper unchanged.
 */
struct owner {
    afs_storage *local;           /* the local backend */
    afs_storage *wrapped;         /* the fault wrapper around it */
    const afs_storage_ops *wops;  /* the wrapper's full-size table */
    void *wctx;
    afs_test_fault *ctl;
};

static int o_ctl(void *ctx, int op, void *arg)
{
    struct owner *o = ctx;
    return o->wops->ctl(o->wctx, op, arg);
}

static int o_list(void *ctx, const char *dir, const char *marker, afs_storage_list_fn emit,
                  void *payload, char *next_marker, size_t next_marker_size)
{
    struct owner *o = ctx;
    return o->wops->list(o->wctx, dir, marker, emit, payload, next_marker, next_marker_size);
}

static int o_stat(void *ctx, const char *path, afs_storage_entry *out)
{
    struct owner *o = ctx;
    return o->wops->stat(o->wctx, path, out);
}

static int o_read(void *ctx, const char *path, uint64_t offset, void *buf, size_t len,
                  size_t *nread, const char *if_match)
{
    struct owner *o = ctx;
    return o->wops->read(o->wctx, path, offset, buf, len, nread, if_match);
}

static int o_put(void *ctx, const char *path, afs_read_fn src, void *src_payload, uint64_t size,
                 const afs_storage_put_options *opts, afs_storage_entry *out)
{
    struct owner *o = ctx;
    return o->wops->put(o->wctx, path, src, src_payload, size, opts, out);
}

static int o_remove(void *ctx, const char *path, const char *if_match)
{
    struct owner *o = ctx;
    return o->wops->remove(o->wctx, path, if_match);
}

static int o_mkdir(void *ctx, const char *path)
{
    struct owner *o = ctx;
    return o->wops->mkdir(o->wctx, path);
}

static int o_rmdir(void *ctx, const char *path)
{
    struct owner *o = ctx;
    return o->wops->rmdir(o->wctx, path);
}

static int o_rename(void *ctx, const char *from, const char *to, const char *if_match,
                    unsigned int flags)
{
    struct owner *o = ctx;
    return o->wops->rename(o->wctx, from, to, if_match, flags);
}

static int o_set_props(void *ctx, const char *path, int64_t mtime_ns, uint32_t attributes,
                       const char *if_match, afs_storage_entry *out)
{
    struct owner *o = ctx;
    return o->wops->set_props(o->wctx, path, mtime_ns, attributes, if_match, out);
}

static int o_meta_get(void *ctx, const char *path, const char *key, char *buf, size_t cap,
                      size_t *len)
{
    struct owner *o = ctx;
    return o->wops->meta_get(o->wctx, path, key, buf, cap, len);
}

static void o_release(void *ctx)
{
    struct owner *o = ctx;
    if (!o)
        return;
    afs_storage_free(o->wrapped); /* frees the controller too */
    afs_storage_free(o->local);
    free(o);
}

static int open_fault(afs_storage **out, const char *uri, void *payload)
{
    afs_storage_local_options lo = AFS_STORAGE_LOCAL_OPTIONS_INIT;
    afs_storage_ops ops;
    struct owner *o;
    const char *dir;
    int rc;

    *out = NULL;
    if (strncmp(uri, PREFIX, strlen(PREFIX)) != 0 || uri[strlen(PREFIX)] != '/')
        return afs_error_set_str(AFS_EINVAL, "fault scheme: expected fault:///absolute/dir");
    dir = uri + strlen(PREFIX);
    if (!(o = calloc(1, sizeof(*o))))
        return AFS_ENOMEM;
    lo.flags = payload ? AFS_STORAGE_LOCAL_NOSYNC : 0;
    if ((rc = afs_storage_local_new(&o->local, dir, &lo)) != 0 ||
        (rc = afs_test_fault_storage_new(&o->wrapped, o->local, &o->ctl)) != 0 ||
        (rc = afs_storage_ops_get(o->wrapped, &o->wops, &o->wctx)) != 0)
        goto fail;
    memset(&ops, 0, sizeof(ops));
    ops.version = AFS_STORAGE_OPS_VERSION;
    ops.release = o_release;
    /* Keep NULL slots NULL so the library's fallbacks stay what is tested. */
#define FWD(slot, fn) ops.slot = o->wops->slot ? fn : NULL
    FWD(ctl, o_ctl);
    FWD(list, o_list);
    FWD(stat, o_stat);
    FWD(read, o_read);
    FWD(put, o_put);
    FWD(remove, o_remove);
    FWD(mkdir, o_mkdir);
    FWD(rmdir, o_rmdir);
    FWD(rename, o_rename);
    FWD(set_props, o_set_props);
    FWD(meta_get, o_meta_get);
#undef FWD
    if ((rc = afs_storage_new(out, &ops, o)) != 0)
        goto fail;
    return 0;
fail:
    o_release(o);
    return rc;
}

void afs_test_faultscheme_register(int nosync)
{
    /* The payload only carries the flag: any non-NULL pointer means nosync. */
    static int marker;
    AFS_ASSERT_OK(afs_storage_scheme_register(SCHEME, open_fault, nosync ? &marker : NULL));
}

char *afs_test_fault_uri(const char *dir)
{
    size_t n = strlen(PREFIX) + strlen(dir) + 1;
    char *u = malloc(n);
    assert_non_null(u);
    snprintf(u, n, "%s%s", PREFIX, dir);
    return u;
}

afs_test_fault *afs_test_faultscheme_ctl(afs_storage *storage)
{
    const afs_storage_ops *ops;
    void *ctx;
    if (!storage || afs_storage_ops_get(storage, &ops, &ctx) != 0 || ops->release != o_release)
        return NULL;
    return ((struct owner *)ctx)->ctl;
}

/* ---- filesystems ---- */

void afs_test_faultfs_init(afs_test_faultfs *f)
{
    memset(f, 0, sizeof(*f));
    AFS_ASSERT_OK(afs_fs_posix_new(&f->inner));
    AFS_ASSERT_OK(afs_test_fault_fs_new(&f->fs, f->inner, &f->ctl));
}

void afs_test_faultfs_free(afs_test_faultfs *f)
{
    afs_fs_free(f->fs); /* the wrapper and its controller */
    afs_fs_free(f->inner);
    memset(f, 0, sizeof(*f));
}

/* ---- the fault environment ---- */

void afs_test_fenv_init(afs_test_fenv *fe, const char *root)
{
    memset(fe, 0, sizeof(*fe));
    afs_test_env_init(&fe->env, root);
    fe->uri = afs_test_fault_uri(fe->env.share);
    afs_test_faultscheme_register(1);
}

void afs_test_fenv_free(afs_test_fenv *fe)
{
    int n = fe->env.count;
    for (int i = 0; i < n; i++)
        afs_test_fenv_close(&fe->env.servers[i]);
    afs_test_env_free(&fe->env);
    for (int i = 0; i < n; i++)
        afs_test_faultfs_free(&fe->fs[i]);
    free(fe->uri);
    fe->uri = NULL;
}

int afs_test_fenv_setup(void **state, const char *name)
{
    afs_test_fenv *fe = calloc(1, sizeof(*fe));
    char *root = afs_test_sandbox(name);
    assert_non_null(fe);
    afs_test_fenv_init(fe, root);
    free(root);
    *state = fe;
    return 0;
}

int afs_test_fenv_teardown(void **state)
{
    afs_test_fenv *fe = *state;
    char *root = strdup(fe->env.root);
    afs_test_fenv_free(fe);
    if (!getenv("AFS_TEST_KEEP"))
        afs_test_rmtree(root);
    free(root);
    free(fe);
    afs_error_clear();
    return 0;
}

static int server_index(const afs_test_fenv *fe, const afs_test_server *s)
{
    int i = (int)(s - fe->env.servers);
    assert_true(i >= 0 && i < fe->env.count);
    return i;
}

afs_test_server *afs_test_fenv_server(afs_test_fenv *fe, const char *name)
{
    afs_service_options so = AFS_SERVICE_OPTIONS_INIT;
    afs_test_server *s = afs_test_env_server(&fe->env, name);
    int i = server_index(fe, s);

    /* Same state directory, now over the fault filesystem. */
    afs_service_close(s->svc);
    afs_test_faultfs_init(&fe->fs[i]);
    so.fs = fe->fs[i].fs;
    AFS_ASSERT_OK(afs_service_open(&s->svc, s->state, &so));
    return s;
}

void afs_test_fenv_join(afs_test_fenv *fe, afs_test_server *s, const afs_endpoint_options *opts)
{
    int rc = afs_group_open(&s->group, s->svc, NULL, fe->uri);
    if (rc == AFS_ENOTFOUND)
        AFS_ASSERT_OK(afs_group_create(&s->group, s->svc, "group1", fe->uri));
    else
        AFS_ASSERT_OK(rc);
    AFS_ASSERT_OK(afs_endpoint_create(&s->ep, s->group, s->data, opts));
}

void afs_test_fenv_close(afs_test_server *s)
{
    afs_endpoint_close(s->ep);
    afs_group_close(s->group);
    afs_service_close(s->svc);
    s->ep = NULL;
    s->group = NULL;
    s->svc = NULL;
}

int afs_test_fenv_try_open(afs_test_fenv *fe, afs_test_server *s)
{
    afs_service_options so = AFS_SERVICE_OPTIONS_INIT;
    int rc;
    so.fs = fe->fs[server_index(fe, s)].fs;
    if ((rc = afs_service_open(&s->svc, s->state, &so)) != 0 ||
        (rc = afs_group_open(&s->group, s->svc, "group1", NULL)) != 0 ||
        (rc = afs_endpoint_open(&s->ep, s->group)) != 0) {
        afs_test_fenv_close(s);
        return rc;
    }
    return 0;
}

void afs_test_fenv_open(afs_test_fenv *fe, afs_test_server *s)
{
    AFS_ASSERT_OK(afs_test_fenv_try_open(fe, s));
}

afs_test_fault *afs_test_fenv_fs_ctl(afs_test_fenv *fe, const afs_test_server *s)
{
    return fe->fs[server_index(fe, s)].ctl;
}

afs_test_fault *afs_test_fenv_storage_ctl(const afs_test_server *s)
{
    return s->group ? afs_test_faultscheme_ctl(afs_group_storage(s->group)) : NULL;
}

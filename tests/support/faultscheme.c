/* Fault-wrapped storage by URI and fault-wrapped filesystems (tests/support/faultscheme.h). */
#include <stdlib.h>
#include <string.h>

#include "faultscheme.h"

#define SCHEME "fault"
#define PREFIX SCHEME "://"

/* The local backend at the URI's directory inside a fault wrapper that owns
 * it, so the group frees both when it lets go of the storage. */
static int open_fault(afs_storage **out, const char *uri, void *payload)
{
    afs_storage_local_options lo = AFS_STORAGE_LOCAL_OPTIONS_INIT;
    afs_storage *local = NULL;
    afs_test_fault *ctl;
    int rc;

    *out = NULL;
    if (strncmp(uri, PREFIX, strlen(PREFIX)) != 0 || uri[strlen(PREFIX)] != '/')
        return afs_error_set_str(AFS_EINVAL, "fault scheme: expected fault:///absolute/dir");
    lo.flags = payload ? AFS_STORAGE_LOCAL_NOSYNC : 0;
    if ((rc = afs_storage_local_new(&local, uri + strlen(PREFIX), &lo)) != 0)
        return rc;
    if ((rc = afs_test_fault_storage_new_owning(out, local, &ctl)) != 0)
        afs_storage_free(local);
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
    return afs_test_fault_storage_ctl(storage);
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
    afs_test_server_close(s);
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

void afs_test_fenv_converge(afs_test_fenv *fe, const char *point, int no_item_errors)
{
    afs_test_env *env = &fe->env;
    for (int i = 0; i < env->count; i++)
        afs_test_fenv_open(fe, &env->servers[i]);
    for (int round = 0; round < 8; round++) {
        uint64_t total = 0;
        for (int i = 0; i < env->count; i++) {
            afs_test_server *s = &env->servers[i];
            afs_sync_options o = AFS_SYNC_OPTIONS_INIT;
            int rc;
            s->last.version = AFS_SYNC_RESULT_VERSION;
            rc = afs_endpoint_sync(s->ep, &o, &s->last);
            if (rc != 0)
                fail_msg("%s: recovery sync of %s returned %d (%s): %s", point, s->name, rc,
                         afs_strerror(rc), afs_error_last());
            if (no_item_errors && s->last.item_errors) {
                afs_test_print_errors(s, "  ");
                fail_msg("%s: recovery sync of %s failed on %llu items", point, s->name,
                         (unsigned long long)s->last.item_errors);
            }
            total += afs_test_moved(&s->last);
        }
        if (total == 0)
            return;
    }
    for (int i = 0; i < env->count; i++)
        afs_test_print_errors(&env->servers[i], "  ");
    fail_msg("%s: the servers did not converge in 8 rounds", point);
}

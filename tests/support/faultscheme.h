/*
 * Running the sync engine over fault-wrapped storage and a fault-wrapped
 * filesystem (tests/support/fault.h), with both controllers in reach.
 *
 * Storage: the "fault" URI scheme. "fault:///abs/dir" opens the local
 * backend at /abs/dir wrapped in the storage fault wrapper, so a sync group
 * created or joined with that URI (and every later afs_group_open() of the
 * group, which reopens the URI) runs over the wrapper. Each open makes its
 * own wrapper and controller: one per group handle, so per server.
 *
 * Filesystem: a fault-wrapped POSIX filesystem handed to a service through
 * afs_service_options.fs.
 *
 * A fault environment (afs_test_fenv) is a syncenv whose servers use both,
 * and whose handles can be closed and reopened ("restart"), which is what a
 * crash test does around a fork()ed child.
 */
#ifndef AFS_TEST_FAULTSCHEME_H
#define AFS_TEST_FAULTSCHEME_H

#include "fault.h"
#include "syncenv.h"

/*
 * Register the "fault" scheme (idempotent). With `nosync`, the local backend
 * skips fsync (AFS_STORAGE_LOCAL_NOSYNC): right for process-crash tests,
 * where the page cache survives.
 */
void afs_test_faultscheme_register(int nosync);

/* "fault://" + dir, malloc'd. */
char *afs_test_fault_uri(const char *dir);

/*
 * The controller of a storage opened through the scheme (for example
 * afs_group_storage(group)); NULL for any other storage.
 */
afs_test_fault *afs_test_faultscheme_ctl(afs_storage *storage);

/* The POSIX filesystem wrapped in the fault wrapper; the wrapper owns nothing else. */
typedef struct afs_test_faultfs {
    afs_fs *inner;        /* the POSIX default */
    afs_fs *fs;           /* hand this to afs_service_options.fs */
    afs_test_fault *ctl;  /* its controller */
} afs_test_faultfs;

void afs_test_faultfs_init(afs_test_faultfs *f);
/* Free both; every service using it must be closed first. */
void afs_test_faultfs_free(afs_test_faultfs *f);

/* A syncenv whose servers run over fault-wrapped storage and filesystems. */
typedef struct afs_test_fenv {
    afs_test_env env;
    afs_test_faultfs fs[8]; /* fs[i] is env.servers[i]'s */
    char *uri;              /* fault:// URI of env.share */
} afs_test_fenv;

/* A sandbox at `root` with an empty share; registers the scheme (nosync). */
void afs_test_fenv_init(afs_test_fenv *fe, const char *root);
/* Close every handle, then free the filesystems. */
void afs_test_fenv_free(afs_test_fenv *fe);

/* Cmocka per-test setup and teardown, like afs_test_env_setup() and
 * afs_test_env_teardown() for a fault environment: the teardown frees it
 * first, then removes the sandbox (unless AFS_TEST_KEEP is set). */
int afs_test_fenv_setup(void **state, const char *name);
int afs_test_fenv_teardown(void **state);

/* Add a server whose service runs over its own fault filesystem. */
afs_test_server *afs_test_fenv_server(afs_test_fenv *fe, const char *name);
/* Join the group through the fault URI (creating it for the first server)
 * and create the server's endpoint with `opts` (may be NULL). */
void afs_test_fenv_join(afs_test_fenv *fe, afs_test_server *s, const afs_endpoint_options *opts);

/* Close a server's endpoint, group and service handles (a process exit):
 * afs_test_server_close(). */
void afs_test_fenv_close(afs_test_server *s);
/* Open them again (a restart): the service over the server's fault
 * filesystem, the group by name (its fault URI), the endpoint. */
void afs_test_fenv_open(afs_test_fenv *fe, afs_test_server *s);
/* Same, returning an afs code instead of failing the test (for a child
 * process that must not call into cmocka). */
int afs_test_fenv_try_open(afs_test_fenv *fe, afs_test_server *s);

/*
 * Restart every server (afs_test_fenv_open) and sync them all, in turn,
 * until a whole round moves nothing; fails the test, naming `point`, when a
 * session returns an error, when a session fails on an item and
 * `no_item_errors` is set, or when 8 rounds do not converge.
 */
void afs_test_fenv_converge(afs_test_fenv *fe, const char *point, int no_item_errors);

/* The controllers of an open server. */
afs_test_fault *afs_test_fenv_fs_ctl(afs_test_fenv *fe, const afs_test_server *s);
afs_test_fault *afs_test_fenv_storage_ctl(const afs_test_server *s);

#endif /* AFS_TEST_FAULTSCHEME_H */

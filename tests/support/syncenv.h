/*
 * A multi-server sync environment for tests: one local-directory share and
 * any number of "servers", each a service state directory plus a data
 * directory, all inside one sandbox.
 */
#ifndef AFS_TEST_SYNCENV_H
#define AFS_TEST_SYNCENV_H

#include "support.h"

typedef struct afs_test_server {
    char *name;
    char *state;
    char *data;
    afs_service *svc;
    afs_group *group;
    afs_endpoint *ep;
    afs_sync_result last;
} afs_test_server;

typedef struct afs_test_env {
    char *root;  /* the sandbox */
    char *share; /* the share directory */
    char *share_uri; /* when set: the share is this storage URI instead (join uses it) */
    afs_test_server servers[8];
    int count;
} afs_test_env;

/* A sandbox with an empty share directory. */
void afs_test_env_init(afs_test_env *env, const char *root);
void afs_test_env_free(afs_test_env *env);

/*
 * Cmocka per-test setup: a fresh environment (afs_test_env_init) in a new
 * sandbox named after `name`, malloc'd into *state. The teardown removes the
 * sandbox (unless AFS_TEST_KEEP is set), frees the environment and clears
 * the thread's error message.
 */
int afs_test_env_setup(void **state, const char *name);
int afs_test_env_teardown(void **state);

/* Add a server (registered as `name`) with an empty data directory. */
afs_test_server *afs_test_env_server(afs_test_env *env, const char *name);
/* The same, with the server's service on filesystem `fs` (NULL: the POSIX
 * default); the caller keeps `fs` and frees it after the service is closed. */
afs_test_server *afs_test_env_server_on(afs_test_env *env, const char *name, afs_fs *fs);

/* Close the server's endpoint, group and service handles (set to NULL), as
 * a process exit would; its directories stay. */
void afs_test_server_close(afs_test_server *s);

/* Join the group on the share (creating it for the first server) and create
 * the server's endpoint on its data directory with `opts` (may be NULL). */
void afs_test_env_join(afs_test_env *env, afs_test_server *s, const afs_endpoint_options *opts);

/* What a session did: the sum of the counts in its result, 0 when it found
 * nothing to do. */
uint64_t afs_test_moved(const afs_sync_result *r);
/* Print the server's item errors, one a line after `prefix` (before a failure). */
void afs_test_print_errors(afs_test_server *s, const char *prefix);

/* One session; fails the test unless it returns `expect`. */
void afs_test_sync_expect(afs_test_server *s, uint32_t flags, int expect);
#define afs_test_sync(s) afs_test_sync_expect((s), 0, 0)

/* Files relative to a server's data directory or to the share. */
void afs_test_put(const char *dir, const char *rel, const char *content);
/* The content of a file, or NULL if missing (malloc'd). */
char *afs_test_get(const char *dir, const char *rel);
/* Fail unless the file holds exactly `content` (NULL: must be missing). */
void afs_test_assert_file(const char *dir, const char *rel, const char *content);
/* Set a file's mtime to `sec` seconds after the epoch. */
void afs_test_set_mtime(const char *dir, const char *rel, long sec);
/* Fail unless two trees hold the same files with the same bytes (skipping
 * the share's reserved prefix). */
void afs_test_assert_same_tree(const char *a, const char *b);
/* Call `fn` with the path of `abs` if it is not a directory, or of every
 * non-directory below it (missing: no call). */
void afs_test_for_each_file(const char *abs, void (*fn)(const char *abs, void *payload),
                            void *payload);
/* Number of regular files in a tree (skipping the reserved prefix). */
size_t afs_test_count_files(const char *dir);

/* A file of `size` bytes of a pattern that depends on `seed`. */
void afs_test_write_pattern(const char *dir, const char *rel, size_t size, unsigned seed);

/* Two servers (ServerA, ServerB) sync a tree through the share of
 * env->share_uri: nested and empty directories, spaces and UTF-8, a 9 MiB
 * file; then an edit, a new file, a delete and a directory rename both
 * ways; then nothing moves. Fails the test on any difference. */
void afs_test_two_servers_through_share(afs_test_env *env);

/* ServerA uploads an older edit of x.txt; ServerB, with a newer edit,
 * learns A's version by a full enumeration: the share's copy must be
 * "x-ServerA.txt" (the writer tag), not "x-Cloud.txt". Through the share
 * of env->share_uri (or env->share). */
void afs_test_conflict_copy_names_its_writer(afs_test_env *env);

#endif

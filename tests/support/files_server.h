/*
 * The Azure Files test server (tests/azure/files_server.py, Python 3
 * stdlib only) for the tests of the Azure Files backend: no emulator of the
 * File service exists. Started on a free loopback port per test program; it
 * stops when its stdin closes, so it goes away with the test process even
 * when a test fails or crashes.
 */
#ifndef AFS_TEST_FILES_SERVER_H
#define AFS_TEST_FILES_SERVER_H

#include <sys/types.h>

typedef struct afs_test_files_server {
    pid_t pid;
    int in;  /* its stdin: commands */
    int out; /* its stdout: the port, then "ok" per command */
    int port;
    char endpoint[96]; /* "http://127.0.0.1:<port>/devstoreaccount1" */
} afs_test_files_server;

/* Start it. -1 with a message on stderr when python3 or the script cannot
 * run: the caller fails (never skips). */
int afs_test_files_server_start(afs_test_files_server *s);
/* Stop it (close its stdin, wait, SIGKILL after 5 s). Safe to call twice. */
void afs_test_files_server_stop(afs_test_files_server *s);
/* Send one command ("fault flip a.txt", "clear") and wait for its "ok". */
int afs_test_files_server_cmd(afs_test_files_server *s, const char *cmd);

/* The azfiles:// URI of `share` (optionally /prefix) on `s`; malloc'd. */
char *afs_test_files_uri(const afs_test_files_server *s, const char *share, const char *prefix);
/* A fresh share name ("t<tag>-<pid>-<n>"); malloc'd. */
char *afs_test_files_share_name(const char *tag);

#endif

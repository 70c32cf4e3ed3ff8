/* Starting and driving tests/azure/files_server.py (files_server.h). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "files_server.h"

/* One line from the server's stdout (without the newline); -1 at EOF. */
static int read_line(int fd, char *line, size_t cap)
{
    size_t n = 0;
    while (n < cap - 1) {
        ssize_t r = read(fd, line + n, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        if (line[n] == '\n')
            break;
        n++;
    }
    line[n] = '\0';
    return (int)n;
}

int afs_test_files_server_start(afs_test_files_server *s)
{
    int in[2], out[2];
    char line[32];

    memset(s, 0, sizeof(*s));
    s->in = s->out = -1;
    if (pipe(in) != 0 || pipe(out) != 0)
        return -1;
    fflush(NULL);
    s->pid = fork();
    if (s->pid < 0)
        return -1;
    if (s->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        execlp("python3", "python3", AFS_TEST_SOURCE_DIR "/azure/files_server.py", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    s->in = in[1];
    s->out = out[0];
    signal(SIGPIPE, SIG_IGN);
    if (read_line(s->out, line, sizeof(line)) <= 0 || (s->port = atoi(line)) <= 0) {
        fprintf(stderr, "the Azure Files test server did not start: it needs python3 (stdlib "
                        "only) on PATH and " AFS_TEST_SOURCE_DIR "/azure/files_server.py\n");
        afs_test_files_server_stop(s);
        return -1;
    }
    snprintf(s->endpoint, sizeof(s->endpoint), "http://127.0.0.1:%d/devstoreaccount1", s->port);
    return 0;
}

void afs_test_files_server_stop(afs_test_files_server *s)
{
    int st;
    if (s->in >= 0)
        close(s->in); /* the server stops when its stdin closes */
    if (s->out >= 0)
        close(s->out);
    s->in = s->out = -1;
    if (s->pid > 0) {
        for (int i = 0; i < 50 && waitpid(s->pid, &st, WNOHANG) == 0; i++)
            usleep(100000);
        if (waitpid(s->pid, &st, WNOHANG) == 0) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &st, 0);
        }
    }
    s->pid = 0;
}

int afs_test_files_server_cmd(afs_test_files_server *s, const char *cmd)
{
    char line[16];
    size_t n = strlen(cmd);
    if (write(s->in, cmd, n) != (ssize_t)n || write(s->in, "\n", 1) != 1)
        return -1;
    return read_line(s->out, line, sizeof(line)) == 2 && strcmp(line, "ok") == 0 ? 0 : -1;
}

char *afs_test_files_uri(const afs_test_files_server *s, const char *share, const char *prefix)
{
    size_t n = strlen(share) + (prefix ? strlen(prefix) : 0) + strlen(s->endpoint) + 64;
    char *u = malloc(n);
    if (u)
        snprintf(u, n, "azfiles://devstoreaccount1/%s%s%s?endpoint=%s", share, prefix ? "/" : "",
                 prefix ? prefix : "", s->endpoint);
    return u;
}

char *afs_test_files_share_name(const char *tag)
{
    static unsigned int seq;
    char *n = malloc(64);
    if (n)
        snprintf(n, 64, "t%s-%d-%u", tag, (int)getpid(), __atomic_add_fetch(&seq, 1, 0));
    return n;
}

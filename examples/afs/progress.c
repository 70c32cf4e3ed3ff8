/*
 * The progress bar (on a terminal only) and Ctrl-C. A sync session calls
 * cli_progress_cb at phase changes and every few dozen items; the callback
 * draws, and once SIGINT or SIGTERM arrived it returns AFS_EUSER, which
 * makes the library stop the session cleanly: what was applied is recorded,
 * the rest is picked up by the next session.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static volatile sig_atomic_t stop_signal;
static bool on_tty; /* the message then starts a new line after the progress bar */

static void on_signal(int sig)
{
    static const char msg[] = "\nafs: stopping cleanly after the current item "
                              "(press Ctrl-C again to quit at once)\n";
    const char *m = on_tty ? msg : msg + 1;
    if (stop_signal) {
        /* Second signal: the user does not want to wait. Sync is crash-safe. */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    stop_signal = sig;
    if (write(STDERR_FILENO, m, strlen(m)) < 0) {
        /* nothing to do: the message is a courtesy */
    }
}

void cli_signals_install(void)
{
    struct sigaction sa;
    on_tty = isatty(STDERR_FILENO) == 1;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* SA_RESTART: the library's system calls are not interrupted; ppoll in
     * --watch returns EINTR regardless. */
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int cli_interrupted(void)
{
    return (int)stop_signal;
}

void cli_signals_block(sigset_t *old)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, old);
}

void cli_signals_restore(const sigset_t *old)
{
    sigprocmask(SIG_SETMASK, old, NULL);
}

int64_t cli_now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void cli_progress_start(cli_progress *p, bool show, const char *label)
{
    memset(p, 0, sizeof(*p));
    p->show = show;
    p->label = label;
    p->started_ns = cli_now_mono();
}

static const char *phase_name(uint32_t phase)
{
    switch (phase) {
    case AFS_SYNC_PHASE_SCAN_LOCAL: return "scanning the server endpoint";
    case AFS_SYNC_PHASE_SCAN_CLOUD: return "scanning the cloud endpoint";
    case AFS_SYNC_PHASE_RECONCILE: return "reconciling";
    case AFS_SYNC_PHASE_APPLY: return "syncing";
    default: return "done";
    }
}

static int terminal_width(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
        return ws.ws_col;
    return 80;
}

/* Draw one line: `phase` alone, or a bar with items, bytes, rate and time left. */
static void draw(cli_progress *p, const char *phase, uint64_t items_done, uint64_t items_total,
                 uint64_t bytes_done, uint64_t bytes_total, int64_t now)
{
    char line[512], tail[256], done[32], total[32], rate[32];
    int width = terminal_width(), n, barw;
    double frac = 0, secs = (double)(now - p->apply_ns) / 1e9, bps = 0, left = -1;

    if (phase) {
        n = snprintf(line, sizeof(line), "%s: %s ...", p->label, phase);
        goto out;
    }
    if (bytes_total)
        frac = (double)bytes_done / (double)bytes_total;
    else if (items_total)
        frac = (double)items_done / (double)items_total;
    if (frac > 1)
        frac = 1;
    if (secs > 0.2) {
        bps = (double)bytes_done / secs;
        if (frac > 0.01)
            left = secs * (1 - frac) / frac;
    }
    cli_bytes(bytes_done, done, sizeof(done));
    cli_bytes(bytes_total, total, sizeof(total));
    cli_bytes((uint64_t)bps, rate, sizeof(rate));
    if (left >= 0)
        snprintf(tail, sizeof(tail), " %llu/%llu items  %s/%s  %s/s  %d:%02d left",
                 (unsigned long long)items_done, (unsigned long long)items_total, done, total,
                 rate, (int)left / 60, (int)left % 60);
    else
        snprintf(tail, sizeof(tail), " %llu/%llu items  %s/%s", (unsigned long long)items_done,
                 (unsigned long long)items_total, done, total);
    barw = width - 1 - (int)strlen(p->label) - 2 - 2 - (int)strlen(tail);
    if (barw > 30)
        barw = 30;
    n = snprintf(line, sizeof(line), "%s: [", p->label);
    for (int i = 0; i < barw && n < (int)sizeof(line) - 1; i++)
        line[n++] = i < (int)(frac * barw) ? '#' : '-';
    n += snprintf(line + n, sizeof(line) - (size_t)n, "]%s", barw > 0 ? tail : tail + 1);
out:
    if (n > width - 1)
        n = width - 1;
    if (n < 0)
        n = 0;
    fprintf(stderr, "\r%.*s\x1b[K", n, line);
    fflush(stderr);
    p->drawn = true;
    p->drawn_ns = now;
}

int cli_progress_cb(const afs_sync_progress *progress, void *payload)
{
    cli_progress *p = payload;
    int64_t now;

    if (cli_interrupted())
        return AFS_EUSER;
    if (!p->show || progress->phase == AFS_SYNC_PHASE_DONE)
        return 0;
    now = cli_now_mono();
    if (progress->phase == AFS_SYNC_PHASE_APPLY && p->apply_ns == 0)
        p->apply_ns = now;
    /* At most ten frames a second, but every phase change. */
    if (progress->phase == AFS_SYNC_PHASE_APPLY && p->drawn &&
        now - p->drawn_ns < 100000000 && progress->items_done != progress->items_total)
        return 0;
    draw(p, progress->phase == AFS_SYNC_PHASE_APPLY ? NULL : phase_name(progress->phase),
         progress->items_done, progress->items_total, progress->bytes_done,
         progress->bytes_total, now);
    return 0;
}

int cli_recall_progress_cb(const afs_recall_progress *progress, void *payload)
{
    cli_progress *p = payload;
    int64_t now;

    if (cli_interrupted())
        return AFS_EUSER;
    if (!p->show)
        return 0;
    now = cli_now_mono();
    if (p->apply_ns == 0)
        p->apply_ns = now;
    if (p->drawn && now - p->drawn_ns < 100000000 &&
        progress->files_done != progress->files_total)
        return 0;
    draw(p, NULL, progress->files_done, progress->files_total, progress->bytes_done,
         progress->bytes_total, now);
    return 0;
}

void cli_progress_end(cli_progress *p)
{
    if (p->show && p->drawn) {
        fputs("\r\x1b[K", stderr);
        fflush(stderr);
    }
    p->drawn = false;
}

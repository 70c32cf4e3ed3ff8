/*
 * afs sync --watch: keep this server's endpoints in sync until Ctrl-C.
 *
 * A session of an endpoint starts
 *   - when its tree changed (inotify, after a second without more changes);
 *   - every --interval (default 30 s), to bring other servers' changes here:
 *     they arrive through the share's change journal, read by each session;
 *   - when its cloud change detection is due (the endpoint's
 *     change-detection-interval): a full enumeration of the share finds
 *     edits made directly in it (afs-facts.md, "Change detection").
 * An endpoint with cloud tiering on also gets a tiering pass after its
 * first session and then at the interval the library recommends
 * (afs_tier_interval(): hourly, every minute in low disk space mode).
 * Ctrl-C or SIGTERM stops between sessions, or inside one through the
 * progress callback (what was applied is kept), and the loop ends with 0.
 *
 * A session that changed local files makes inotify events of its own; they
 * cause one more, quick, session that finds nothing to do.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define DEBOUNCE_NS 1000000000LL
#define SEC_NS 1000000000LL
#define WATCH_MASK (IN_CREATE | IN_DELETE | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | \
                    IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

typedef struct wdir {
    int wd;
    size_t target;
    char *path;
} wdir;

typedef struct watcher {
    int fd;
    wdir *dirs;
    size_t ndirs, cap;
    bool warned;
} watcher;

typedef struct wstate {
    bool dirty;
    int64_t last_event;
    int64_t next_timer;
    int64_t next_full;
    int64_t next_tier;  /* INT64_MAX: tiering off */
} wstate;

static void watch_tree(watcher *w, size_t target, const char *path);

static void watch_one(watcher *w, size_t target, const char *path)
{
    int wd = inotify_add_watch(w->fd, path, WATCH_MASK);
    if (wd < 0) {
        if (!w->warned && (errno == ENOSPC || errno == ENOMEM))
            cli_say("warning: cannot watch every folder (raise fs.inotify.max_user_watches); "
                    "changes in the others are found by the timer");
        w->warned = w->warned || errno == ENOSPC || errno == ENOMEM;
        return;
    }
    for (size_t i = 0; i < w->ndirs; i++)
        if (w->dirs[i].wd == wd)
            return; /* already watched (a directory moved within the tree) */
    if (w->ndirs == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        wdir *d = realloc(w->dirs, cap * sizeof(*d));
        if (!d)
            return;
        w->dirs = d;
        w->cap = cap;
    }
    if (!(w->dirs[w->ndirs].path = strdup(path)))
        return;
    w->dirs[w->ndirs].wd = wd;
    w->dirs[w->ndirs].target = target;
    w->ndirs++;
}

static void watch_tree(watcher *w, size_t target, const char *path)
{
    DIR *d;
    struct dirent *e;

    watch_one(w, target, path);
    if (!(d = opendir(path)))
        return;
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        char *child;
        size_t need;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        need = strlen(path) + strlen(e->d_name) + 2;
        if (!(child = malloc(need)))
            break;
        snprintf(child, need, "%s/%s", path, e->d_name);
        if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
            watch_tree(w, target, child);
        free(child);
    }
    closedir(d);
}

static wdir *find_wd(watcher *w, int wd)
{
    for (size_t i = 0; i < w->ndirs; i++)
        if (w->dirs[i].wd == wd)
            return &w->dirs[i];
    return NULL;
}

static void forget_wd(watcher *w, int wd)
{
    for (size_t i = 0; i < w->ndirs; i++)
        if (w->dirs[i].wd == wd) {
            free(w->dirs[i].path);
            w->dirs[i] = w->dirs[--w->ndirs];
            return;
        }
}

/* *.tmp never syncs (afs-facts.md, items never synced), and libafs's own
 * download temps end so: their events need no session. */
static bool ignored_name(const char *name, size_t len)
{
    return len >= 4 && strcasecmp(name + len - 4, ".tmp") == 0;
}

static void read_events(watcher *w, wstate *st, size_t count, int64_t now)
{
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n;

    while ((n = read(w->fd, buf, sizeof(buf))) > 0) {
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)(void *)p;
            wdir *d = ev->wd >= 0 ? find_wd(w, ev->wd) : NULL;
            size_t len = ev->len ? strlen(ev->name) : 0;
            p += sizeof(*ev) + ev->len;
            if (ev->mask & IN_Q_OVERFLOW) {
                for (size_t i = 0; i < count; i++) {
                    st[i].dirty = true;
                    st[i].last_event = now;
                }
                continue;
            }
            if (ev->mask & IN_IGNORED) {
                forget_wd(w, ev->wd);
                continue;
            }
            if (!d || (len && ignored_name(ev->name, len)))
                continue;
            st[d->target].dirty = true;
            st[d->target].last_event = now;
            if ((ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO)) && len) {
                size_t need = strlen(d->path) + len + 2;
                size_t target = d->target;
                char *child = malloc(need);
                if (child) {
                    snprintf(child, need, "%s/%s", d->path, ev->name);
                    watch_tree(w, target, child); /* may move w->dirs: d is not used after */
                    free(child);
                }
            }
        }
    }
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

int cli_watch(cli_ctx *ctx, const cli_args *args, cli_target *t, size_t count)
{
    const cli_val *iv = cli_opt_get(args, "interval");
    int64_t interval = (int64_t)(iv ? iv->num : 30) * SEC_NS;
    uint32_t base_flags = cli_flag(args, "full") ? AFS_SYNC_FULL_CLOUD_SCAN : 0;
    watcher w;
    wstate *st;
    int64_t start = cli_now_mono();

    memset(&w, 0, sizeof(w));
    if (!(st = calloc(count, sizeof(*st))))
        return cli_fail(ctx, AFS_ENOMEM, "watch");
    w.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w.fd < 0)
        cli_say("warning: inotify is not available (%s): syncing on the timer only",
                strerror(errno));
    for (size_t i = 0; i < count; i++) {
        if (w.fd >= 0)
            watch_tree(&w, i, afs_endpoint_path(t[i].ep));
        st[i].dirty = true; /* a first session right away */
        st[i].next_timer = start + interval;
        st[i].next_full = start + (int64_t)t[i].opts.change_detection_interval_s * SEC_NS;
        st[i].next_tier = t[i].opts.tiering_enabled ? start : INT64_MAX;
    }
    if (!ctx->json)
        cli_say("watching %zu server endpoint%s: a session on local changes, every %lld s, and "
                "a full cloud scan at each endpoint's change detection interval; a tiering "
                "pass hourly (every minute in low disk space mode) where tiering is on; "
                "Ctrl-C stops", count, count == 1 ? "" : "s", (long long)(interval / SEC_NS));

    while (!cli_interrupted()) {
        int64_t now = cli_now_mono(), wake = INT64_MAX;
        struct timespec ts;
        struct pollfd pfd;
        sigset_t old;

        for (size_t i = 0; i < count && !cli_interrupted(); i++) {
            bool changed = st[i].dirty && (st[i].last_event == 0 ||
                                           now - st[i].last_event >= DEBOUNCE_NS);
            bool full = now >= st[i].next_full;
            afs_sync_result r;
            if (!changed && !full && now < st[i].next_timer)
                continue;
            st[i].dirty = false;
            cli_sync_one(ctx, &t[i], base_flags | (full ? AFS_SYNC_FULL_CLOUD_SCAN : 0),
                         ctx->json, &r);
            base_flags = 0; /* --full: the first round only */
            now = cli_now_mono();
            st[i].next_timer = now + interval;
            if (full || r.full_cloud_scan)
                st[i].next_full = now + (int64_t)t[i].opts.change_detection_interval_s * SEC_NS;
        }
        for (size_t i = 0; i < count && !cli_interrupted(); i++) {
            uint32_t next_s = 3600;
            if (now < st[i].next_tier)
                continue;
            cli_tier_pass_one(ctx, &t[i], 0, ctx->json, &next_s);
            now = cli_now_mono();
            st[i].next_tier = now + (int64_t)next_s * SEC_NS;
        }
        if (cli_interrupted())
            break;
        now = cli_now_mono();
        for (size_t i = 0; i < count; i++) {
            if (st[i].dirty)
                wake = min64(wake, st[i].last_event + DEBOUNCE_NS);
            wake = min64(wake, min64(st[i].next_timer, st[i].next_full));
            wake = min64(wake, st[i].next_tier);
        }
        wake = wake > now ? wake - now : 0;
        ts.tv_sec = (time_t)(wake / SEC_NS);
        ts.tv_nsec = (long)(wake % SEC_NS);
        pfd.fd = w.fd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        /* Signals are blocked between the check and the wait, so that a
         * Ctrl-C arriving in between is not slept through. */
        cli_signals_block(&old);
        if (!cli_interrupted())
            ppoll(&pfd, w.fd >= 0 ? 1 : 0, &ts, &old);
        cli_signals_restore(&old);
        if (w.fd >= 0 && (pfd.revents & POLLIN))
            read_events(&w, st, count, cli_now_mono());
    }
    if (!ctx->json)
        cli_say("stopped; run \"afs status\" to see where each endpoint stands");
    for (size_t i = 0; i < w.ndirs; i++)
        free(w.dirs[i].path);
    free(w.dirs);
    if (w.fd >= 0)
        close(w.fd);
    free(st);
    return CLI_EXIT_OK;
}

/*
 * afs sync [--group NAME] [--force] [--full] [--watch [--interval TIME]]
 *
 * One session per endpoint of this server (or of --group), each reported
 * by one line (or one JSON object), then the worst outcome as the exit
 * code. --watch hands the opened endpoints to the loop in watch.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const cli_opt cli_sync_opts[] = {
    { "group", CLI_OPT_STRING, "NAME", "only this sync group (default: every endpoint of this "
      "server)", NULL, 0, 0 },
    { "force", CLI_OPT_BOOL, NULL, "go past the safety net: apply a mass deletion", NULL, 0, 0 },
    { "full", CLI_OPT_BOOL, NULL, "run the cloud change detection (a full enumeration) now",
      NULL, 0, 0 },
    { "watch", CLI_OPT_BOOL, NULL,
      "keep syncing: on local changes, on a timer, and at the change detection interval; "
      "Ctrl-C stops", NULL, 0, 0 },
    { "interval", CLI_OPT_DURATION, "TIME",
      "with --watch: sync at least this often to pick up other servers' changes (default 30s)",
      NULL, 1, 86400 },
    CLI_OPT_END,
};

int cli_sync_check(cli_ctx *ctx, const cli_args *args)
{
    (void)ctx;
    if (cli_flag(args, "interval") && !cli_flag(args, "watch"))
        return cli_usage_error("--interval goes with --watch");
    if (cli_flag(args, "force") && cli_flag(args, "watch"))
        return cli_usage_error("--force applies to one session: run \"afs sync --force\" "
                               "without --watch, after checking what it will delete");
    return 0;
}

int cli_exit_worst(int a, int b)
{
    static const int order[] = { CLI_EXIT_OK, CLI_EXIT_PARTIAL, CLI_EXIT_BUSY,
                                 CLI_EXIT_SAFETY, CLI_EXIT_NOTFOUND, CLI_EXIT_FAILED,
                                 CLI_EXIT_USAGE };
    int ra = 7, rb = 7; /* signals rank above everything */
    for (int i = 0; i < 7; i++) {
        if (order[i] == a)
            ra = i;
        if (order[i] == b)
            rb = i;
    }
    return ra >= rb ? a : b;
}

void cli_targets_close(cli_target *t, size_t count)
{
    for (size_t i = 0; t && i < count; i++) {
        afs_endpoint_close(t[i].ep);
        afs_group_close(t[i].group);
        free(t[i].group_name);
    }
    free(t);
}

int cli_targets_open(cli_ctx *ctx, const cli_args *args, bool allow_none, cli_target **out,
                     size_t *count)
{
    const cli_val *only = cli_opt_get(args, "group");
    afs_strarray names = { NULL, 0 };
    cli_target *t = NULL;
    size_t n = 0;
    int code = CLI_EXIT_OK, rc;
    char what[512];

    *out = NULL;
    *count = 0;
    if (only) {
        names.strings = (char **)&only->str;
        names.count = 1;
    } else if ((rc = afs_group_list(ctx->svc, &names)) != 0) {
        return cli_fail(ctx, rc, "list the sync groups");
    }
    if (names.count && !(t = calloc(names.count, sizeof(*t)))) {
        code = cli_fail(ctx, AFS_ENOMEM, "open the endpoints");
        goto done;
    }
    for (size_t i = 0; i < names.count; i++) {
        cli_target *x = &t[n];
        if ((rc = cli_open_group(ctx, names.strings[i], &x->group)) != 0) {
            code = cli_exit_worst(code, rc);
            continue;
        }
        rc = afs_endpoint_open(&x->ep, x->group);
        if (rc == AFS_ENOTFOUND && !only) {
            /* A group this server knows without an endpoint of its own. */
            afs_error_clear();
            afs_group_close(x->group);
            x->group = NULL;
            continue;
        }
        if (rc == 0) {
            /* The version says which fields this program reads. */
            afs_endpoint_options_init(&x->opts, AFS_ENDPOINT_OPTIONS_VERSION);
            rc = afs_endpoint_get_options(x->ep, &x->opts);
        }
        if (rc == 0 && !(x->group_name = strdup(names.strings[i])))
            rc = AFS_ENOMEM;
        if (rc != 0) {
            snprintf(what, sizeof(what), "open this server's endpoint in sync group \"%s\"",
                     cli_shown(names.strings[i], 0));
            code = cli_exit_worst(code, cli_fail_hint(ctx, rc, what,
                                                      rc == AFS_ENOTFOUND
                                                          ? "create one: afs endpoint create "
                                                            "--group NAME PATH"
                                                          : NULL));
            afs_endpoint_close(x->ep);
            afs_group_close(x->group);
            free(x->group_name);
            memset(x, 0, sizeof(*x));
            continue;
        }
        n++;
    }
    if (n == 0 && code == CLI_EXIT_OK && !allow_none) {
        afs_error_set_str(AFS_ENOTFOUND, "this server has no server endpoint");
        code = cli_fail_hint(ctx, AFS_ENOTFOUND, ctx->cmd ? ctx->cmd->noun : "sync",
                             "create one: afs endpoint create --group NAME PATH");
    }
done:
    if (!only)
        afs_strarray_free(&names);
    *out = t;
    *count = n;
    return code;
}

/* Append "N thing" to a summary line when N is not zero. */
static void part(char *line, size_t cap, uint64_t n, const char *one, const char *many,
                 const char *extra)
{
    size_t used = strlen(line);
    if (n == 0)
        return;
    snprintf(line + used, cap - used, "%s%llu %s%s", used ? ", " : "", (unsigned long long)n,
             n == 1 ? one : many, extra ? extra : "");
}

void cli_result_summary(const afs_sync_result *r, char *line, size_t cap)
{
    char up[48], down[48], b[32];
    line[0] = '\0';
    snprintf(up, sizeof(up), " (%s)", cli_bytes(r->bytes_uploaded, b, sizeof(b)));
    snprintf(down, sizeof(down), " (%s)", cli_bytes(r->bytes_downloaded, b, sizeof(b)));
    part(line, cap, r->files_uploaded, "file uploaded", "files uploaded", up);
    part(line, cap, r->files_downloaded, "file downloaded", "files downloaded", down);
    part(line, cap, r->dirs_created_cloud, "folder created in the cloud",
         "folders created in the cloud", NULL);
    part(line, cap, r->dirs_created_local, "folder created here", "folders created here", NULL);
    part(line, cap, r->deleted_cloud, "deleted in the cloud", "deleted in the cloud", NULL);
    part(line, cap, r->deleted_local, "deleted here", "deleted here", NULL);
    part(line, cap, r->renamed_cloud, "renamed in the cloud", "renamed in the cloud", NULL);
    part(line, cap, r->renamed_local, "renamed here", "renamed here", NULL);
    part(line, cap, r->metadata_updates, "time or attribute update",
         "time or attribute updates", NULL);
    part(line, cap, r->adopted, "already identical", "already identical", NULL);
    part(line, cap, r->conflicts, "conflict (both versions kept)",
         "conflicts (both versions kept)", NULL);
    part(line, cap, r->item_errors, "item failed", "items failed", NULL);
    part(line, cap, r->skipped, "item never synced", "items never synced", NULL);
    if (!line[0])
        snprintf(line, cap, "nothing to do");
    if (r->full_cloud_scan) {
        size_t used = strlen(line);
        snprintf(line + used, cap - used, " (full cloud scan)");
    }
}

void cli_result_json(cli_ctx *ctx, const afs_sync_result *r)
{
    cli_j_kint(ctx, "started_ns", r->started_ns);
    cli_j_kint(ctx, "finished_ns", r->finished_ns);
    cli_j_kint(ctx, "files_uploaded", (int64_t)r->files_uploaded);
    cli_j_kint(ctx, "bytes_uploaded", (int64_t)r->bytes_uploaded);
    cli_j_kint(ctx, "files_downloaded", (int64_t)r->files_downloaded);
    cli_j_kint(ctx, "bytes_downloaded", (int64_t)r->bytes_downloaded);
    cli_j_kint(ctx, "dirs_created_cloud", (int64_t)r->dirs_created_cloud);
    cli_j_kint(ctx, "dirs_created_local", (int64_t)r->dirs_created_local);
    cli_j_kint(ctx, "deleted_cloud", (int64_t)r->deleted_cloud);
    cli_j_kint(ctx, "deleted_local", (int64_t)r->deleted_local);
    cli_j_kint(ctx, "renamed_cloud", (int64_t)r->renamed_cloud);
    cli_j_kint(ctx, "renamed_local", (int64_t)r->renamed_local);
    cli_j_kint(ctx, "metadata_updates", (int64_t)r->metadata_updates);
    cli_j_kint(ctx, "adopted", (int64_t)r->adopted);
    cli_j_kint(ctx, "conflicts", (int64_t)r->conflicts);
    cli_j_kint(ctx, "item_errors", (int64_t)r->item_errors);
    cli_j_kint(ctx, "skipped", (int64_t)r->skipped);
    cli_j_kbool(ctx, "full_cloud_scan", r->full_cloud_scan != 0);
}

int cli_item_errors_get(afs_endpoint *ep, afs_item_error ***errs, size_t *n)
{
    int rc = afs_endpoint_errors(ep, errs, n);
    if (rc != 0) {
        cli_say("warning: cannot read the per-item errors: %s", cli_error_message(rc));
        *errs = NULL;
        *n = 0;
    }
    return rc;
}

void cli_item_errors_print(cli_ctx *ctx, afs_item_error *const *errs, size_t n, bool json,
                           size_t max)
{
    char first[64], last[64];

    if (json)
        cli_j_aopen(ctx);
    for (size_t i = 0; i < n; i++) {
        const afs_item_error *e = errs[i];
        if (json) {
            cli_j_open(ctx);
            cli_j_kstr(ctx, "path", e->path);
            cli_j_kint(ctx, "code", e->code);
            cli_j_kstr(ctx, "name", cli_error_name(e->code));
            cli_j_kstr(ctx, "message", e->message);
            cli_j_kint(ctx, "count", (int64_t)e->count);
            cli_j_kbool(ctx, "persistent", e->persistent != 0);
            cli_j_kint(ctx, "first_ns", e->first_ns);
            cli_j_kint(ctx, "last_ns", e->last_ns);
            cli_j_close(ctx);
        } else if (i < max) {
            printf("  ! %s: %s\n    %s; failed in %llu session%s, first %s, last %s\n",
                   cli_shown(e->path, 0), cli_shown(e->message, 1),
                   e->persistent ? "persistent (retried each session; fix the item)"
                                 : "transient (retried each session)",
                   (unsigned long long)e->count, e->count == 1 ? "" : "s",
                   cli_time(e->first_ns, first, sizeof(first)),
                   cli_time(e->last_ns, last, sizeof(last)));
        } else if (i == max) {
            printf("  ... and %zu more (afs status --json lists them all)\n", n - max);
        }
    }
    if (json)
        cli_j_aclose(ctx);
}

/* Fetch and print the endpoint's per-item errors. */
static void item_errors(cli_ctx *ctx, afs_endpoint *ep, bool json, size_t max)
{
    afs_item_error **errs;
    size_t n;
    cli_item_errors_get(ep, &errs, &n);
    cli_item_errors_print(ctx, errs, n, json, max);
    afs_item_errors_free(errs, n);
}

int cli_sync_one(cli_ctx *ctx, cli_target *t, uint32_t flags, bool json_line,
                 afs_sync_result *result)
{
    afs_sync_options o;
    afs_sync_result r = AFS_SYNC_RESULT_INIT;
    cli_progress p;
    char line[1024], what[512];
    const char *state;
    int rc, code;

    afs_sync_options_init(&o, AFS_SYNC_OPTIONS_VERSION);
    o.flags = flags;
    o.progress = cli_progress_cb;
    o.progress_payload = &p;
    cli_progress_start(&p, ctx->tty, t->group_name);
    rc = afs_endpoint_sync(t->ep, &o, &r);
    cli_progress_end(&p);

    snprintf(what, sizeof(what), "sync %s (sync group \"%s\")",
             cli_shown(afs_endpoint_path(t->ep), 0), cli_shown(t->group_name, 1));
    if (rc == AFS_EUSER && cli_interrupted()) {
        code = CLI_EXIT_SIGNAL + cli_interrupted();
        state = "interrupted";
        cli_say("%s: interrupted; what was synced is kept, the next session goes on", what);
    } else if (rc == AFS_ENOTFOUND) {
        /* Its endpoint was removed from the group by another host. */
        code = cli_fail_hint(ctx, rc, what, "afs endpoint delete --group NAME (the files stay), "
                             "then afs endpoint create --group NAME PATH");
        state = "failed";
    } else if (rc != 0) {
        code = cli_fail(ctx, rc, what);
        state = rc == AFS_ESAFETY ? "stopped by the safety net"
                : rc == AFS_EBUSY ? "busy"
                                  : "failed";
    } else {
        code = r.item_errors ? CLI_EXIT_PARTIAL : CLI_EXIT_OK;
        state = "synced";
    }
    if (json_line || ctx->json) {
        cli_j_open(ctx);
        cli_j_kstr(ctx, "group", t->group_name);
        cli_j_kstr(ctx, "server_endpoint", afs_endpoint_path(t->ep));
        cli_j_kint(ctx, "result", rc);
        cli_j_kstr(ctx, "result_name", cli_error_name(rc));
        if (rc != 0) {
            cli_j_kstr(ctx, "message", code >= CLI_EXIT_SIGNAL ? "interrupted"
                                                                : cli_error_message(rc));
            cli_j_kstr(ctx, "hint", code >= CLI_EXIT_SIGNAL ? NULL : cli_hint(rc));
        }
        cli_j_kint(ctx, "exit", code);
        cli_result_json(ctx, &r);
        cli_j_key(ctx, "failed_items");
        item_errors(ctx, t->ep, true, 0);
        cli_j_close(ctx);
        if (json_line)
            cli_emit_json(ctx);
    } else {
        cli_result_summary(&r, line, sizeof(line));
        printf("%s: %s: %s in %.2f s: %s\n", cli_shown(t->group_name, 0),
               cli_shown(afs_endpoint_path(t->ep), 1), state,
               (double)(r.finished_ns - r.started_ns) / 1e9, line);
        if (r.item_errors && (!t->errors_shown || t->errors_shown_count != r.item_errors))
            item_errors(ctx, t->ep, false, 10);
        t->errors_shown = true;
        t->errors_shown_count = r.item_errors;
        if (r.conflicts)
            printf("  conflicts: the newest write kept the name; the other version is "
                   "<name>-<server>.<ext> (or -Cloud)\n");
        fflush(stdout);
    }
    if (result)
        *result = r;
    return code;
}

int cli_sync(cli_ctx *ctx, const cli_args *args)
{
    uint32_t flags = 0;
    cli_target *t = NULL;
    size_t n = 0;
    int code;

    if (cli_flag(args, "force"))
        flags |= AFS_SYNC_FORCE;
    if (cli_flag(args, "full"))
        flags |= AFS_SYNC_FULL_CLOUD_SCAN;
    code = cli_targets_open(ctx, args, false, &t, &n);
    if (n == 0) {
        cli_targets_close(t, n);
        return code;
    }
    if (cli_flag(args, "watch")) {
        code = cli_exit_worst(code, cli_watch(ctx, args, t, n));
        cli_targets_close(t, n);
        return code;
    }
    if (ctx->json) {
        cli_j_open(ctx);
        cli_j_key(ctx, "sessions");
        cli_j_aopen(ctx);
    }
    for (size_t i = 0; i < n; i++) {
        if (cli_interrupted()) {
            code = cli_exit_worst(code, CLI_EXIT_SIGNAL + cli_interrupted());
            break;
        }
        code = cli_exit_worst(code, cli_sync_one(ctx, &t[i], flags, false, NULL));
    }
    if (ctx->json) {
        cli_j_aclose(ctx);
        cli_j_kint(ctx, "exit", code);
        cli_j_close(ctx);
        cli_emit_json(ctx);
    }
    cli_targets_close(t, n);
    return code;
}

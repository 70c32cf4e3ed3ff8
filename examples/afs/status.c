/*
 * afs status [--group NAME]: where each of this server's endpoints stands:
 * the last session's outcome and counters, the items that currently fail
 * to sync with how many sessions they failed in (afs-facts.md, Monitoring:
 * "per-item errors with persistent and transient counts"), the provisioning
 * steps, and the tiering and recall statistics (tier.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void one_json(cli_ctx *ctx, cli_target *t)
{
    afs_sync_result r = AFS_SYNC_RESULT_INIT;
    afs_item_error **errs = NULL;
    size_t nerr = 0, persistent = 0;
    int rc;

    cli_j_open(ctx);
    cli_j_kstr(ctx, "group", t->group_name);
    cli_j_kstr(ctx, "cloud_endpoint", afs_group_storage_uri(t->group));
    cli_j_kstr(ctx, "server_endpoint", afs_endpoint_path(t->ep));
    cli_j_key(ctx, "last_session");
    rc = afs_endpoint_last_result(t->ep, &r);
    if (rc == 0) {
        cli_j_open(ctx);
        cli_j_kint(ctx, "result", r.result);
        cli_j_kstr(ctx, "result_name", cli_error_name(r.result));
        cli_result_json(ctx, &r);
        cli_j_close(ctx);
    } else {
        afs_error_clear();
        cli_j_str(ctx, NULL);
    }
    cli_item_errors_get(t->ep, &errs, &nerr);
    for (size_t i = 0; i < nerr; i++)
        persistent += errs[i]->persistent != 0;
    cli_j_kint(ctx, "item_errors", (int64_t)nerr);
    cli_j_kint(ctx, "persistent_item_errors", (int64_t)persistent);
    cli_j_kint(ctx, "transient_item_errors", (int64_t)(nerr - persistent));
    cli_j_key(ctx, "failed_items");
    cli_item_errors_print(ctx, errs, nerr, true, 0);
    cli_tier_status_json(ctx, t);
    cli_j_close(ctx);
    afs_item_errors_free(errs, nerr);
}

static void one_text(cli_ctx *ctx, cli_target *t)
{
    afs_sync_result r = AFS_SYNC_RESULT_INIT;
    afs_item_error **errs = NULL;
    size_t nerr = 0;
    char when[64], line[1024];

    printf("\nsync group \"%s\"\n  cloud endpoint:  %s\n  server endpoint: %s\n",
           cli_shown(t->group_name, 0), cli_shown(afs_group_storage_uri(t->group), 1),
           cli_shown(afs_endpoint_path(t->ep), 2));
    if (afs_endpoint_last_result(t->ep, &r) != 0) {
        afs_error_clear();
        printf("  last session:    none yet (run: afs sync)\n");
    } else {
        cli_result_summary(&r, line, sizeof(line));
        printf("  last session:    %s, %s in %.2f s\n                   %s\n",
               cli_time(r.finished_ns, when, sizeof(when)),
               r.result == 0 ? "completed"
               : r.result == AFS_ESAFETY ? "stopped by the safety net"
               : r.result == AFS_EUSER ? "interrupted"
                                       : afs_strerror(r.result),
               (double)(r.finished_ns - r.started_ns) / 1e9, line);
    }
    cli_item_errors_get(t->ep, &errs, &nerr);
    if (nerr == 0) {
        printf("  per-item errors: none\n");
    } else {
        printf("  per-item errors: %zu (retried every session)\n", nerr);
        cli_item_errors_print(ctx, errs, nerr, false, 20);
    }
    afs_item_errors_free(errs, nerr);
    cli_tier_status_text(t);
}

int cli_status(cli_ctx *ctx, const cli_args *args)
{
    const char *name = NULL, *id = NULL;
    cli_target *t = NULL;
    size_t n = 0;
    int code, rc;

    if ((rc = afs_server_info(ctx->svc, &name, &id)) != 0)
        return cli_fail_hint(ctx, rc, "status", "register this server: afs server register NAME");
    code = cli_targets_open(ctx, args, true, &t, &n);
    for (size_t i = 0; i < n; i++)
        cli_recall_host_warn(ctx, t[i].ep);
    if (ctx->json) {
        cli_j_open(ctx);
        cli_j_key(ctx, "server");
        cli_j_open(ctx);
        cli_j_kstr(ctx, "name", name);
        cli_j_kstr(ctx, "id", id);
        cli_j_close(ctx);
        cli_j_kstr(ctx, "state_dir", ctx->state_dir);
        cli_j_key(ctx, "endpoints");
        cli_j_aopen(ctx);
        for (size_t i = 0; i < n; i++)
            one_json(ctx, &t[i]);
        cli_j_aclose(ctx);
        cli_j_kint(ctx, "exit", code);
        cli_j_close(ctx);
        cli_emit_json(ctx);
    } else {
        printf("server %s (id %s)\nstate: %s\n", cli_shown(name, 0), id,
               cli_shown(ctx->state_dir, 1));
        if (n == 0 && code == CLI_EXIT_OK)
            printf("\nno server endpoints on this server yet (afs endpoint create)\n");
        for (size_t i = 0; i < n; i++)
            one_text(ctx, &t[i]);
    }
    cli_targets_close(t, n);
    return code;
}

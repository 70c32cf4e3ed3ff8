/*
 * afs tier | recall | heat | file: cloud tiering and recall (docs/cli.md,
 * docs/tiering.md), named after what an Azure File Sync administrator runs:
 *
 *   tier PATH...     Invoke-StorageSyncCloudTiering (force tiering); --pass runs
 *                    the policies once, as sync --watch does on its timer
 *   recall PATH...   Invoke-StorageSyncFileRecall, with threads, order, retries
 *   heat             Get-StorageSyncHeatStoreInformation -IndexName ...
 *   file PATH...     fsutil reparsepoint query plus Size / Size on disk
 *
 * Every PATH must exist (checked before the service is opened) and lie in
 * one of this server's endpoints (checked before anything is done to any
 * of them).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

static const cli_choice recall_orders[] = {
    { "policy", AFS_RECALL_ORDER_POLICY },
    { "path", AFS_RECALL_ORDER_PATH },
    { NULL, 0 },
};

static const cli_choice heat_indexes[] = {
    { "space", AFS_HEAT_SPACE_POLICY },
    { "date", AFS_HEAT_DATE_POLICY },
    { "access", AFS_HEAT_LAST_ACCESS },
    { "recall", AFS_HEAT_RECALL },
    { NULL, 0 },
};

static const cli_choice tier_states[] = {
    { "full", AFS_TIER_STATE_FULL },
    { "tiered", AFS_TIER_STATE_TIERED },
    { "partial", AFS_TIER_STATE_PARTIAL },
    { NULL, 0 },
};

const cli_opt cli_tier_opts[] = {
    { "pass", CLI_OPT_BOOL, NULL,
      "run the tiering policies now (date, then volume free space), as sync --watch does "
      "hourly, instead of tiering PATHs", NULL, 0, 0 },
    { "dry-run", CLI_OPT_BOOL, NULL, "with --pass: count what would be tiered, touch nothing",
      NULL, 0, 0 },
    { "group", CLI_OPT_STRING, "NAME",
      "with --pass: only this sync group's endpoint (default: every one with tiering on)",
      NULL, 0, 0 },
    CLI_OPT_END,
};

const cli_opt cli_recall_opts[] = {
    { "threads", CLI_OPT_UINT, "N", "files recalled in parallel (1-32, default 1)", NULL, 1,
      32 },
    { "order", CLI_OPT_CHOICE, "ORDER",
      "hottest first (policy, the default: the reverse of the tiering order) or by path",
      recall_orders, 0, 0 },
    { "retries", CLI_OPT_UINT, "N", "extra tries per file after a failure (0-100, default 3)",
      NULL, 0, 100 },
    { "retry-delay", CLI_OPT_DURATION, "TIME", "wait between tries (0-1h, default 1s)", NULL,
      0, 3600 },
    CLI_OPT_END,
};

const cli_opt cli_heat_opts[] = {
    { "group", CLI_OPT_STRING, "NAME",
      "only the volume of this sync group's endpoint (default: every one with tiering on)",
      NULL, 0, 0 },
    { "index", CLI_OPT_CHOICE, "INDEX",
      "space (default): what the free space policy tiers next, coolest first; date: what "
      "the date policy tiers now; access: most recent access first; recall: placeholders in "
      "bulk recall order", heat_indexes, 0, 0 },
    { "limit", CLI_OPT_UINT, "N", "at most N files (default 100; 0: all)", NULL, 0, 0 },
    CLI_OPT_END,
};

/* ---- shared by the commands ---- */

/* The --json document of a command over several items: {"KEY": [ ... ], "exit": N}. */
static void list_begin(cli_ctx *ctx, const char *key)
{
    if (!ctx->json)
        return;
    cli_j_open(ctx);
    cli_j_key(ctx, key);
    cli_j_aopen(ctx);
}

static void list_end(cli_ctx *ctx, int code, bool emit)
{
    if (!ctx->json)
        return;
    cli_j_aclose(ctx);
    cli_j_kint(ctx, "exit", code);
    cli_j_close(ctx);
    if (emit)
        cli_emit_json(ctx);
}

/* No endpoint of this server has tiering on: exit 6, with what to do. */
static int no_tiering(cli_ctx *ctx, const char *what)
{
    afs_error_set_str(AFS_ENOTFOUND, "no server endpoint of this server has cloud tiering on");
    return cli_fail_hint(ctx, AFS_ENOTFOUND, what,
                         "cloud tiering is chosen when the endpoint is created: afs endpoint "
                         "create --cloud-tiering on PATH");
}

/* ---- paths ---- */

int cli_paths_check(cli_ctx *ctx, const cli_args *args)
{
    if (!(ctx->paths = calloc(args->npos ? args->npos : 1, sizeof(char *))))
        return cli_usage_error("out of memory");
    for (size_t i = 0; i < args->npos; i++) {
        const char *p = args->pos[i];
        struct stat st;
        if (stat(p, &st) != 0)
            return cli_usage_error("%s: %s", cli_shown(p, 0), strerror(errno));
        if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
            return cli_usage_error("%s is neither a file nor a folder", cli_shown(p, 0));
        if (!(ctx->paths[ctx->npaths] = realpath(p, NULL)))
            return cli_usage_error("%s: %s", cli_shown(p, 0), strerror(errno));
        ctx->npaths++;
    }
    return 0;
}

int cli_tier_check(cli_ctx *ctx, const cli_args *args)
{
    bool pass = cli_flag(args, "pass");
    if (pass && args->npos)
        return cli_usage_error("--pass runs the tiering policies over whole volumes: give it "
                               "no PATH (or drop --pass to tier PATHs now)");
    if (!pass && !args->npos)
        return cli_usage_error("give the files or folders to tier (afs tier PATH...), or "
                               "--pass to run the tiering policies now");
    if (!pass && cli_flag(args, "dry-run"))
        return cli_usage_error("--dry-run goes with --pass");
    if (!pass && cli_flag(args, "group"))
        return cli_usage_error("--group goes with --pass; a PATH names its endpoint itself");
    return cli_paths_check(ctx, args);
}

/*
 * For every resolved PATH, the index of the endpoint holding it (the
 * deepest, should endpoints of different groups nest). A PATH outside all
 * of them is a usage error, reported before anything is done.
 */
static int map_paths(cli_ctx *ctx, cli_target *t, size_t n, size_t **which)
{
    size_t *w = calloc(ctx->npaths ? ctx->npaths : 1, sizeof(*w));
    if (!w)
        return cli_fail(ctx, AFS_ENOMEM, "map the paths");
    for (size_t i = 0; i < ctx->npaths; i++) {
        size_t best = n, best_len = 0;
        for (size_t k = 0; k < n; k++) {
            const char *root = afs_endpoint_path(t[k].ep);
            if (cli_path_within(ctx->paths[i], root) && strlen(root) >= best_len) {
                best = k;
                best_len = strlen(root);
            }
        }
        if (best == n) {
            free(w);
            return cli_usage_error("%s is not inside a server endpoint of this server (\"afs "
                                   "status\" lists them)", cli_shown(ctx->paths[i], 0));
        }
        w[i] = best;
    }
    *which = w;
    return 0;
}

/* Open every endpoint of this server and map the PATHs to them. */
static int open_for_paths(cli_ctx *ctx, const cli_args *args, cli_target **t, size_t *n,
                          size_t **which)
{
    int code = cli_targets_open(ctx, args, false, t, n);
    if (code != CLI_EXIT_OK)
        return code;
    return map_paths(ctx, *t, *n, which);
}

/* ---- afs tier ---- */

static const char *tier_hint(int rc)
{
    switch (rc) {
    case AFS_ECONDITION:
        return "only content confirmed in the cloud is tiered: run \"afs sync\", then tier it";
    case AFS_EPERM:
        return "\"afs endpoint show\" shows the endpoint's tiering policy (cloud tiering on, "
               "minimum file size)";
    case AFS_ENOTSUP:
        return "this file system cannot hold placeholders (it needs holes and extended "
               "attributes)";
    default:
        return NULL;
    }
}

typedef struct count_word {
    uint64_t n;
    const char *what;
} count_word;

/* Append the counts that are not zero: `lead` before the first, ", " between, `tail` after. */
static void append_counts(char *line, size_t cap, const count_word *c, size_t n,
                          const char *lead, const char *tail)
{
    bool first = true;
    size_t u;
    for (size_t i = 0; i < n; i++) {
        if (!c[i].n)
            continue;
        u = strlen(line);
        snprintf(line + u, cap - u, "%s%llu %s", first ? lead : ", ", (unsigned long long)c[i].n,
                 c[i].what);
        first = false;
    }
    if (!first) {
        u = strlen(line);
        snprintf(line + u, cap - u, "%s", tail);
    }
}

/* "N files tiered, X freed (by date, by space); skipped: ..." */
static void tier_summary(const afs_tier_result *r, bool pass, char *line, size_t cap)
{
    const count_word by[] = {
        { r->files_tiered_date, "by the date policy" },
        { r->files_tiered_space, "by the free space policy" },
        { r->files_tiered_evict, "recalled on access in low disk space mode" },
    };
    const count_word skipped[] = {
        { r->skipped_not_synced, "not in the cloud yet" },
        { r->skipped_small, "below the minimum size" },
        { r->skipped_excluded, "excluded" },
        { r->skipped_pinned, "pinned" },
        { r->skipped_changed, "changed while tiering or open elsewhere" },
        { r->item_errors, "failed" },
    };
    char b[32];
    snprintf(line, cap, "%llu file%s tiered, %s freed", (unsigned long long)r->files_tiered,
             r->files_tiered == 1 ? "" : "s", cli_bytes(r->bytes_freed, b, sizeof(b)));
    if (pass)
        append_counts(line, cap, by, sizeof(by) / sizeof(by[0]), " (", ")");
    append_counts(line, cap, skipped, sizeof(skipped) / sizeof(skipped[0]), "; skipped: ", "");
}

static void tier_result_json(cli_ctx *ctx, const afs_tier_result *r)
{
    cli_j_kint(ctx, "files_tiered", (int64_t)r->files_tiered);
    cli_j_kint(ctx, "bytes_freed", (int64_t)r->bytes_freed);
    cli_j_kint(ctx, "files_tiered_date", (int64_t)r->files_tiered_date);
    cli_j_kint(ctx, "files_tiered_space", (int64_t)r->files_tiered_space);
    cli_j_kint(ctx, "files_tiered_evict", (int64_t)r->files_tiered_evict);
    cli_j_kint(ctx, "skipped_not_synced", (int64_t)r->skipped_not_synced);
    cli_j_kint(ctx, "skipped_small", (int64_t)r->skipped_small);
    cli_j_kint(ctx, "skipped_excluded", (int64_t)r->skipped_excluded);
    cli_j_kint(ctx, "skipped_pinned", (int64_t)r->skipped_pinned);
    cli_j_kint(ctx, "skipped_changed", (int64_t)r->skipped_changed);
    cli_j_kint(ctx, "item_errors", (int64_t)r->item_errors);
    cli_j_kint(ctx, "volume_total_bytes", (int64_t)r->volume_total_bytes);
    cli_j_kint(ctx, "free_bytes_before", (int64_t)r->free_bytes_before);
    cli_j_kint(ctx, "free_bytes_after", (int64_t)r->free_bytes_after);
    cli_j_kint(ctx, "target_free_bytes", (int64_t)r->target_free_bytes);
    cli_j_kint(ctx, "free_space_percent", r->free_space_percent);
    cli_j_kbool(ctx, "low_disk_space", r->low_disk_space != 0);
    cli_j_kint(ctx, "next_interval_s", r->next_interval_s);
}

/* The error members of a JSON object for `rc` (nothing when 0). */
static void result_json(cli_ctx *ctx, int rc, int code)
{
    cli_j_kint(ctx, "result", rc);
    cli_j_kstr(ctx, "result_name", cli_error_name(rc));
    if (rc != 0) {
        bool sig = code >= CLI_EXIT_SIGNAL;
        cli_j_kstr(ctx, "message", sig ? "interrupted" : cli_error_message(rc));
    }
    cli_j_kint(ctx, "exit", code);
}

/* Open the JSON item of one path of "afs tier", "afs recall" or "afs file":
 * the path, the group it is in and the result; the caller adds the rest and
 * closes it. */
static void path_item_json(cli_ctx *ctx, const char *path, const cli_target *t, int rc, int code)
{
    cli_j_open(ctx);
    cli_j_kstr(ctx, "path", path);
    cli_j_kstr(ctx, "group", t->group_name);
    result_json(ctx, rc, code);
}

int cli_tier_pass_one(cli_ctx *ctx, cli_target *t, uint32_t flags, bool json_line,
                      uint32_t *next_s)
{
    afs_tier_pass_options po = AFS_TIER_PASS_OPTIONS_INIT;
    afs_tier_result r = AFS_TIER_RESULT_INIT;
    char what[512], line[1024], b1[32], b2[32];
    int rc, code = CLI_EXIT_OK;

    po.flags = flags;
    rc = afs_tier_pass(t->ep, &po, &r);
    snprintf(what, sizeof(what), "tiering pass on %s (sync group \"%s\")",
             cli_shown(afs_endpoint_path(t->ep), 0), cli_shown(t->group_name, 1));
    if (rc != 0)
        code = cli_fail_hint(ctx, rc, what, tier_hint(rc));
    if (next_s) {
        uint32_t s = 0;
        if (rc == 0)
            s = r.next_interval_s;
        else if (afs_tier_interval(t->ep, &s, NULL) != 0)
            afs_error_clear();
        *next_s = s ? s : 3600;
    }
    if (ctx->json || json_line) {
        cli_j_open(ctx);
        cli_j_kstr(ctx, "group", t->group_name);
        cli_j_kstr(ctx, "server_endpoint", afs_endpoint_path(t->ep));
        cli_j_key(ctx, "tiering_pass");
        cli_j_open(ctx);
        cli_j_kbool(ctx, "dry_run", (flags & AFS_TIER_PASS_DRY_RUN) != 0);
        result_json(ctx, rc, code);
        tier_result_json(ctx, &r);
        cli_j_close(ctx);
        cli_j_close(ctx);
        if (json_line)
            cli_emit_json(ctx);
    } else if (rc == 0) {
        tier_summary(&r, true, line, sizeof(line));
        printf("%s: %s: tiering pass%s: %s\n", cli_shown(t->group_name, 0),
               cli_shown(afs_endpoint_path(t->ep), 1),
               (flags & AFS_TIER_PASS_DRY_RUN) ? " (dry run: nothing changed; it would have)"
                                               : "",
               line);
        if (r.volume_total_bytes)
            printf("  volume: %s free of %s (%.0f%%), the policy keeps %u%% free%s; next pass "
                   "in %u s\n", cli_bytes(r.free_bytes_after, b1, sizeof(b1)),
                   cli_bytes(r.volume_total_bytes, b2, sizeof(b2)),
                   100.0 * (double)r.free_bytes_after / (double)r.volume_total_bytes,
                   r.free_space_percent, r.low_disk_space ? " (low disk space mode)" : "",
                   r.next_interval_s);
        fflush(stdout);
    }
    return code;
}

static int tier_pass_all(cli_ctx *ctx, const cli_args *args)
{
    cli_target *t = NULL;
    size_t n = 0, done = 0;
    int code = cli_targets_open(ctx, args, false, &t, &n);
    uint32_t flags = cli_flag(args, "dry-run") ? AFS_TIER_PASS_DRY_RUN : 0;

    if (n == 0) {
        cli_targets_close(t, n);
        return code;
    }
    list_begin(ctx, "passes");
    for (size_t i = 0; i < n; i++) {
        if (!t[i].opts.tiering_enabled)
            continue;
        code = cli_exit_worst(code, cli_tier_pass_one(ctx, &t[i], flags, false, NULL));
        done++;
    }
    list_end(ctx, code, done > 0);
    if (done == 0)
        code = no_tiering(ctx, "tiering pass");
    cli_targets_close(t, n);
    return code;
}

int cli_tier(cli_ctx *ctx, const cli_args *args)
{
    cli_target *t = NULL;
    size_t n = 0, *which = NULL;
    int code;

    if (cli_flag(args, "pass"))
        return tier_pass_all(ctx, args);
    if ((code = open_for_paths(ctx, args, &t, &n, &which)) != CLI_EXIT_OK)
        goto done;
    list_begin(ctx, "tiered");
    for (size_t i = 0; i < ctx->npaths; i++) {
        afs_tier_result r = AFS_TIER_RESULT_INIT;
        const char *path = ctx->paths[i];
        char what[512], line[1024];
        int rc = afs_tier_file(t[which[i]].ep, path, &r), one = CLI_EXIT_OK;

        if (rc != 0) {
            snprintf(what, sizeof(what), "tier %s", cli_shown(path, 0));
            one = cli_fail_hint(ctx, rc, what, tier_hint(rc));
        }
        code = cli_exit_worst(code, one);
        if (ctx->json) {
            path_item_json(ctx, path, &t[which[i]], rc, one);
            tier_result_json(ctx, &r);
            cli_j_close(ctx);
        } else if (rc == 0) {
            tier_summary(&r, false, line, sizeof(line));
            printf("%s: %s\n", cli_shown(path, 0), line);
        }
    }
    list_end(ctx, code, true);
done:
    free(which);
    cli_targets_close(t, n);
    return code;
}

/* ---- afs recall ---- */

int cli_recall(cli_ctx *ctx, const cli_args *args)
{
    afs_recall_options o = AFS_RECALL_OPTIONS_INIT;
    const cli_val *v;
    cli_target *t = NULL;
    size_t n = 0, *which = NULL;
    cli_progress p;
    int code;

    if ((v = cli_opt_get(args, "threads")))
        o.threads = (uint32_t)v->num;
    if ((v = cli_opt_get(args, "order")))
        o.order = (uint32_t)v->num;
    if ((v = cli_opt_get(args, "retries")))
        o.retry_count = (uint32_t)v->num;
    if ((v = cli_opt_get(args, "retry-delay")))
        o.retry_delay_ms = (uint32_t)v->num * 1000;
    o.progress = cli_recall_progress_cb;
    o.progress_payload = &p;
    if ((code = open_for_paths(ctx, args, &t, &n, &which)) != CLI_EXIT_OK)
        goto done;
    list_begin(ctx, "recalled");
    for (size_t i = 0; i < ctx->npaths && !cli_interrupted(); i++) {
        afs_recall_result r = AFS_RECALL_RESULT_INIT;
        const char *path = ctx->paths[i], *base = strrchr(path, '/');
        char what[512], b1[32], b2[32];
        int rc, one = CLI_EXIT_OK;

        cli_progress_start(&p, ctx->tty, base && base[1] ? base + 1 : path);
        rc = afs_tier_recall(t[which[i]].ep, path, &o, &r);
        cli_progress_end(&p);
        snprintf(what, sizeof(what), "recall %s", cli_shown(path, 0));
        if (rc == AFS_EUSER && cli_interrupted()) {
            one = CLI_EXIT_SIGNAL + cli_interrupted();
            cli_say("%s: interrupted; what was recalled is kept, the rest stay placeholders",
                    what);
        } else if (rc != 0) {
            /* A placeholder written into is not a cloud change. */
            bool written = rc == AFS_ECONDITION && strstr(cli_error_message(rc), "was written");
            one = cli_fail_hint(ctx, rc, what,
                                written ? "the placeholder holds writes made without a recall "
                                          "host; the message says how to keep or drop them"
                                : rc == AFS_ECONDITION
                                    ? "the file changed in the cloud since it was tiered: "
                                      "\"afs sync\" brings the new version"
                                    : NULL);
        }
        code = cli_exit_worst(code, one);
        if (ctx->json) {
            path_item_json(ctx, path, &t[which[i]], rc, one);
            cli_j_kint(ctx, "files_recalled", (int64_t)r.files_recalled);
            cli_j_kint(ctx, "bytes_recalled", (int64_t)r.bytes_recalled);
            cli_j_kint(ctx, "files_already_local", (int64_t)r.files_already_local);
            cli_j_kint(ctx, "files_failed", (int64_t)r.files_failed);
            cli_j_kint(ctx, "retries", (int64_t)r.retries);
            cli_j_kint(ctx, "started_ns", r.started_ns);
            cli_j_kint(ctx, "finished_ns", r.finished_ns);
            cli_j_close(ctx);
        } else {
            double secs = (double)(r.finished_ns - r.started_ns) / 1e9;
            printf("%s: %llu file%s recalled (%s) in %.2f s", cli_shown(path, 0),
                   (unsigned long long)r.files_recalled, r.files_recalled == 1 ? "" : "s",
                   cli_bytes(r.bytes_recalled, b1, sizeof(b1)), secs);
            if (secs > 0 && r.bytes_recalled)
                printf(", %s/s", cli_bytes((uint64_t)((double)r.bytes_recalled / secs), b2,
                                           sizeof(b2)));
            if (r.files_already_local)
                printf(", %llu already local", (unsigned long long)r.files_already_local);
            if (r.files_failed)
                printf(", %llu failed", (unsigned long long)r.files_failed);
            if (r.retries)
                printf(", %llu retr%s", (unsigned long long)r.retries,
                       r.retries == 1 ? "y" : "ies");
            printf("\n");
            fflush(stdout);
        }
    }
    if (cli_interrupted())
        code = cli_exit_worst(code, CLI_EXIT_SIGNAL + cli_interrupted());
    list_end(ctx, code, true);
done:
    free(which);
    cli_targets_close(t, n);
    return code;
}

/* ---- afs heat ---- */

static const char *index_desc(uint32_t order)
{
    switch (order) {
    case AFS_HEAT_DATE_POLICY: return "what the date policy tiers now";
    case AFS_HEAT_LAST_ACCESS: return "most recent access first";
    case AFS_HEAT_RECALL: return "placeholders in the order a bulk recall brings them back";
    default: return "what the free space policy tiers next, coolest first";
    }
}

static void heat_json(cli_ctx *ctx, const afs_heat_entry *e)
{
    cli_j_open(ctx);
    cli_j_kstr(ctx, "path", e->path);
    cli_j_kstr(ctx, "endpoint_id", e->endpoint_id);
    cli_j_kstr(ctx, "state", cli_choice_name(tier_states, e->state));
    cli_j_kbool(ctx, "pinned", e->pinned != 0);
    cli_j_kint(ctx, "size", (int64_t)e->size);
    cli_j_kint(ctx, "size_on_disk", (int64_t)e->size_on_disk);
    cli_j_kint(ctx, "access_count", (int64_t)e->access_count);
    cli_j_kint(ctx, "last_access_ns", e->last_access_ns);
    cli_j_kint(ctx, "mtime_ns", e->mtime_ns);
    cli_j_kint(ctx, "btime_ns", e->btime_ns);
    cli_j_kint(ctx, "position_ns", e->position_ns);
    cli_j_close(ctx);
}

int cli_heat(cli_ctx *ctx, const cli_args *args)
{
    afs_heat_list_options lo = AFS_HEAT_LIST_OPTIONS_INIT;
    const cli_val *v;
    cli_target *t = NULL;
    size_t n = 0, shown = 0;
    dev_t *devs = NULL;
    int code = cli_targets_open(ctx, args, false, &t, &n);

    if ((v = cli_opt_get(args, "index")))
        lo.order = (uint32_t)v->num;
    if ((v = cli_opt_get(args, "limit")))
        lo.limit = v->num;
    if (n == 0)
        goto done;
    if (!(devs = calloc(n, sizeof(*devs)))) {
        code = cli_fail(ctx, AFS_ENOMEM, "heat");
        goto done;
    }
    if (ctx->json) {
        cli_j_open(ctx);
        cli_j_kstr(ctx, "index", cli_choice_name(heat_indexes, lo.order));
        cli_j_key(ctx, "volumes");
        cli_j_aopen(ctx);
    }
    for (size_t i = 0; i < n; i++) {
        const char *root = afs_endpoint_path(t[i].ep);
        afs_heat_entry **list = NULL;
        size_t count = 0, k;
        struct stat st;
        char what[512];
        int rc;

        if (!t[i].opts.tiering_enabled)
            continue;
        /* One report per volume: it covers every endpoint there. */
        if (stat(root, &st) == 0) {
            for (k = 0; k < shown && devs[k] != st.st_dev; k++)
                ;
            if (k < shown)
                continue;
            devs[shown] = st.st_dev;
        }
        shown++;
        if ((rc = afs_heat_list(ctx->svc, root, &lo, &list, &count)) != 0) {
            snprintf(what, sizeof(what), "heat store of the volume of %s", cli_shown(root, 0));
            code = cli_exit_worst(code, cli_fail(ctx, rc, what));
            continue;
        }
        if (ctx->json) {
            cli_j_open(ctx);
            cli_j_kstr(ctx, "volume_of", root);
            cli_j_key(ctx, "files");
            cli_j_aopen(ctx);
            for (k = 0; k < count; k++)
                heat_json(ctx, list[k]);
            cli_j_aclose(ctx);
            cli_j_close(ctx);
        } else {
            printf("heat store of the volume of %s: %s\n", cli_shown(root, 0),
                   index_desc(lo.order));
            if (count == 0)
                printf("  (no files)\n");
            else
                printf("  %-19s  %8s  %-7s  %10s  %10s  %s\n", "position", "accesses",
                       "state", "size", "on disk", "path");
            for (k = 0; k < count; k++) {
                char when[64], b1[32], b2[32];
                printf("  %-19s  %8llu  %-7s  %10s  %10s  %s%s\n",
                       cli_time(list[k]->position_ns, when, sizeof(when)),
                       (unsigned long long)list[k]->access_count,
                       cli_choice_name(tier_states, list[k]->state),
                       cli_bytes(list[k]->size, b1, sizeof(b1)),
                       cli_bytes(list[k]->size_on_disk, b2, sizeof(b2)),
                       cli_shown(list[k]->path, 0), list[k]->pinned ? "  (pinned)" : "");
            }
        }
        afs_heat_entries_free(list, count);
    }
    if (ctx->json) {
        cli_j_aclose(ctx);
        cli_j_kint(ctx, "exit", code);
        cli_j_close(ctx);
    }
    if (shown == 0)
        code = no_tiering(ctx, "heat");
    else if (ctx->json)
        cli_emit_json(ctx);
done:
    free(devs);
    cli_targets_close(t, n);
    return code;
}

/* ---- afs file ---- */

static const char *state_desc(uint32_t state)
{
    switch (state) {
    case AFS_TIER_STATE_FULL: return "full (all its data is on this server)";
    case AFS_TIER_STATE_TIERED: return "tiered (a placeholder: its data is in the cloud only)";
    case AFS_TIER_STATE_PARTIAL: return "partial (a placeholder with some ranges recalled)";
    default: return "unknown";
    }
}

static void hex(const unsigned char *b, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static void file_json(cli_ctx *ctx, const afs_tier_info *f)
{
    char *raw;
    cli_j_kstr(ctx, "state", cli_choice_name(tier_states, f->state));
    cli_j_kint(ctx, "size", (int64_t)f->size);
    cli_j_kint(ctx, "size_on_disk", (int64_t)f->size_on_disk);
    cli_j_kint(ctx, "mtime_ns", f->mtime_ns);
    cli_j_key(ctx, "marker");
    if (!f->marker_len) {
        cli_j_str(ctx, NULL);
        return;
    }
    cli_j_open(ctx);
    cli_j_kint(ctx, "version", f->marker_version);
    cli_j_kint(ctx, "flags", f->marker_flags);
    cli_j_kbool(ctx, "namespace_only", (f->marker_flags & AFS_TIER_MARKER_NAMESPACE) != 0);
    cli_j_kint(ctx, "tiered_ns", f->tiered_ns);
    cli_j_kstr(ctx, "cloud_path", f->cloud_path);
    cli_j_kstr(ctx, "etag", f->etag);
    cli_j_kint(ctx, "recalled_bytes", (int64_t)f->recalled_bytes);
    cli_j_key(ctx, "ranges");
    cli_j_aopen(ctx);
    for (size_t i = 0; i < f->range_count; i++) {
        cli_j_aopen(ctx);
        cli_j_int(ctx, (int64_t)f->ranges[2 * i]);
        cli_j_int(ctx, (int64_t)f->ranges[2 * i + 1]);
        cli_j_aclose(ctx);
    }
    cli_j_aclose(ctx);
    cli_j_kint(ctx, "bytes", (int64_t)f->marker_len);
    if ((raw = malloc(2 * f->marker_len + 1)) != NULL) {
        hex(f->marker, f->marker_len, raw);
        cli_j_kstr(ctx, "raw_hex", raw);
        free(raw);
    }
    cli_j_close(ctx);
}

/*
 * One "key: value" line per fact, so that more facts (a recall host's
 * state, warnings) can be added as lines of their own.
 */
static void file_text(const char *path, const afs_tier_info *f)
{
    char b1[32], b2[32], when[64];
    printf("%s\n", cli_shown(path, 0));
    printf("  state:          %s\n", state_desc(f->state));
    printf("  size:           %s (%llu bytes)\n", cli_bytes(f->size, b1, sizeof(b1)),
           (unsigned long long)f->size);
    printf("  size on disk:   %s (%llu bytes)\n", cli_bytes(f->size_on_disk, b2, sizeof(b2)),
           (unsigned long long)f->size_on_disk);
    printf("  last write:     %s\n", cli_time(f->mtime_ns, when, sizeof(when)));
    if (!f->marker_len) {
        printf("  tier marker:    none\n");
        return;
    }
    printf("  tier marker:    version %u, %zu bytes%s\n", f->marker_version, f->marker_len,
           (f->marker_flags & AFS_TIER_MARKER_NAMESPACE)
               ? ", created from the cloud (never downloaded)"
               : "");
    printf("    cloud path:   %s\n", cli_shown(f->cloud_path ? f->cloud_path : "", 0));
    printf("    cloud etag:   %s\n", cli_shown(f->etag ? f->etag : "", 1));
    printf("    tiered:       %s\n", cli_time(f->tiered_ns, when, sizeof(when)));
    printf("    recalled:     %s in %zu range%s\n", cli_bytes(f->recalled_bytes, b1, sizeof(b1)),
           f->range_count, f->range_count == 1 ? "" : "s");
    for (size_t i = 0; i < f->range_count && i < 8; i++)
        printf("      bytes %llu to %llu\n", (unsigned long long)f->ranges[2 * i],
               (unsigned long long)(f->ranges[2 * i] + f->ranges[2 * i + 1]));
    if (f->range_count > 8)
        printf("      ... and %zu more (afs file --json lists them)\n", f->range_count - 8);
    if (f->state != AFS_TIER_STATE_FULL)
        printf("  to read it:     afs recall %s\n", cli_shown(path, 0));
}

int cli_file(cli_ctx *ctx, const cli_args *args)
{
    cli_target *t = NULL;
    size_t n = 0, *which = NULL;
    int code;

    if ((code = open_for_paths(ctx, args, &t, &n, &which)) != CLI_EXIT_OK)
        goto done;
    list_begin(ctx, "files");
    for (size_t i = 0; i < ctx->npaths; i++) {
        afs_tier_info f;
        char what[512];
        int rc, one = CLI_EXIT_OK;

        memset(&f, 0, sizeof(f));
        f.version = AFS_TIER_INFO_VERSION;
        rc = afs_tier_query(t[which[i]].ep, ctx->paths[i], &f);
        if (rc != 0) {
            snprintf(what, sizeof(what), "tier state of %s", cli_shown(ctx->paths[i], 0));
            one = cli_fail_hint(ctx, rc, what,
                                rc == AFS_ECORRUPT
                                    ? "the file carries a tier marker libafs cannot read; it "
                                      "is left alone: restore the file from the share"
                                    : NULL);
            code = cli_exit_worst(code, one);
        } else if (f.state != AFS_TIER_STATE_FULL) {
            /* A placeholder read without a recall host gives zeros: say so once. */
            cli_recall_host_warn(ctx, t[which[i]].ep);
        }
        if (ctx->json) {
            path_item_json(ctx, ctx->paths[i], &t[which[i]], rc, one);
            if (rc == 0)
                file_json(ctx, &f);
            cli_j_close(ctx);
        } else if (rc == 0) {
            file_text(ctx->paths[i], &f);
        }
        afs_tier_info_clear(&f);
    }
    list_end(ctx, code, true);
done:
    free(which);
    cli_targets_close(t, n);
    return code;
}

/* ---- afs status: provisioning, tiering and recall statistics ---- */

static const cli_choice provisioning_names[] = {
    { "NotStarted", AFS_PROVISIONING_NOT_STARTED },
    { "InProgress", AFS_PROVISIONING_IN_PROGRESS },
    { "Ready_SyncNotFunctional", AFS_PROVISIONING_READY_SYNC_NOT_FUNCTIONAL },
    { "Ready_SyncFunctional", AFS_PROVISIONING_READY_SYNC_FUNCTIONAL },
    { "Error", AFS_PROVISIONING_ERROR },
    { NULL, 0 },
};

static void step_json(cli_ctx *ctx, const char *key, const afs_provisioning_step *s)
{
    cli_j_key(ctx, key);
    cli_j_open(ctx);
    cli_j_kstr(ctx, "status", cli_choice_name(provisioning_names, s->status));
    cli_j_kint(ctx, "percent", s->percent);
    cli_j_kint(ctx, "started_ns", s->started_ns);
    cli_j_kint(ctx, "finished_ns", s->finished_ns);
    cli_j_kint(ctx, "error", s->error);
    cli_j_close(ctx);
}

static void stats_json(cli_ctx *ctx, const afs_tier_stats *s)
{
    cli_j_kint(ctx, "files", (int64_t)s->files);
    cli_j_kint(ctx, "tiered_files", (int64_t)s->tiered_files);
    cli_j_kint(ctx, "tiered_bytes", (int64_t)s->tiered_bytes);
    cli_j_kint(ctx, "local_bytes", (int64_t)s->local_bytes);
    cli_j_kint(ctx, "files_tiered_total", (int64_t)s->files_tiered_total);
    cli_j_kint(ctx, "bytes_tiered_total", (int64_t)s->bytes_tiered_total);
    cli_j_kint(ctx, "accesses", (int64_t)s->accesses);
    cli_j_kint(ctx, "access_recalls", (int64_t)s->access_recalls);
    cli_j_kint(ctx, "cache_hit_percent", s->cache_hit_percent);
    cli_j_kint(ctx, "recalls", (int64_t)s->recalls);
    cli_j_kint(ctx, "recall_bytes", (int64_t)s->recall_bytes);
    cli_j_kint(ctx, "recall_failures", (int64_t)s->recall_failures);
    cli_j_kint(ctx, "recall_bytes_per_s", (int64_t)s->recall_bytes_per_s);
    cli_j_kint(ctx, "recall_success_percent", s->recall_success_percent);
    cli_j_kbool(ctx, "low_disk_space", s->low_disk_space != 0);
    cli_j_kint(ctx, "free_space_percent", s->free_space_percent);
    cli_j_kint(ctx, "volume_total_bytes", (int64_t)s->volume_total_bytes);
    cli_j_kint(ctx, "volume_free_bytes", (int64_t)s->volume_free_bytes);
}

static int stats_get(cli_target *t, afs_tier_stats *s)
{
    int rc;
    memset(s, 0, sizeof(*s));
    s->version = AFS_TIER_STATS_VERSION;
    if ((rc = afs_tier_stats_get(t->ep, s)) != 0)
        cli_say("warning: cannot read the tiering statistics of %s: %s",
                cli_shown(afs_endpoint_path(t->ep), 0), cli_error_message(rc));
    return rc;
}

void cli_tier_status_json(cli_ctx *ctx, cli_target *t)
{
    afs_provisioning pv;
    afs_tier_stats s;

    memset(&pv, 0, sizeof(pv));
    pv.version = AFS_PROVISIONING_VERSION;
    cli_j_key(ctx, "provisioning");
    if (afs_endpoint_provisioning(t->ep, &pv) == 0) {
        cli_j_open(ctx);
        cli_j_kstr(ctx, "status", cli_choice_name(provisioning_names, pv.status));
        step_json(ctx, "namespace_download", &pv.namespace_download);
        step_json(ctx, "content_download", &pv.content_download);
        cli_j_close(ctx);
    } else {
        afs_error_clear();
        cli_j_str(ctx, NULL);
    }
    cli_j_key(ctx, "tiering");
    if (t->opts.tiering_enabled && stats_get(t, &s) == 0) {
        cli_j_open(ctx);
        stats_json(ctx, &s);
        cli_j_close(ctx);
    } else {
        cli_j_str(ctx, NULL);
    }
}

static void step_text(const char *name, const afs_provisioning_step *s)
{
    char a[64], b[64];
    if (s->status == AFS_PROVISIONING_NOT_STARTED) {
        printf("                   %s: not started\n", name);
        return;
    }
    printf("                   %s: %s, %u%%, %s to %s", name,
           s->status == AFS_PROVISIONING_READY_SYNC_FUNCTIONAL ? "finished"
           : s->status == AFS_PROVISIONING_ERROR                ? "failed"
                                                                 : "in progress",
           s->percent, cli_time(s->started_ns, a, sizeof(a)),
           s->finished_ns ? cli_time(s->finished_ns, b, sizeof(b)) : "now");
    if (s->status == AFS_PROVISIONING_ERROR)
        printf(" (%s)", afs_strerror(s->error));
    printf("\n");
}

void cli_tier_status_text(cli_target *t)
{
    afs_provisioning pv;
    afs_tier_stats s;
    char b1[32], b2[32], b3[32];

    memset(&pv, 0, sizeof(pv));
    pv.version = AFS_PROVISIONING_VERSION;
    if (afs_endpoint_provisioning(t->ep, &pv) == 0) {
        printf("  provisioning:    %s\n", cli_choice_name(provisioning_names, pv.status));
        if (pv.status != AFS_PROVISIONING_READY_SYNC_FUNCTIONAL ||
            pv.content_download.status != AFS_PROVISIONING_NOT_STARTED) {
            step_text("namespace", &pv.namespace_download);
            step_text("content", &pv.content_download);
        }
    } else {
        afs_error_clear();
    }
    if (!t->opts.tiering_enabled) {
        printf("  cloud tiering:   off\n");
        return;
    }
    if (stats_get(t, &s) != 0)
        return;
    printf("  cloud tiering:   on: %llu of %llu files tiered (%s in the cloud only), %s kept "
           "here\n", (unsigned long long)s.tiered_files, (unsigned long long)s.files,
           cli_bytes(s.tiered_bytes, b1, sizeof(b1)), cli_bytes(s.local_bytes, b2, sizeof(b2)));
    if (s.volume_total_bytes)
        printf("                   volume %s free of %s (%.0f%%), policy %u%% free%s\n",
               cli_bytes(s.volume_free_bytes, b1, sizeof(b1)),
               cli_bytes(s.volume_total_bytes, b2, sizeof(b2)),
               100.0 * (double)s.volume_free_bytes / (double)s.volume_total_bytes,
               s.free_space_percent, s.low_disk_space ? ", low disk space mode" : "");
    printf("                   %llu file%s tiered so far (%s); cache hit rate %u%% of %llu "
           "reported access%s\n", (unsigned long long)s.files_tiered_total,
           s.files_tiered_total == 1 ? "" : "s", cli_bytes(s.bytes_tiered_total, b1, sizeof(b1)),
           s.cache_hit_percent, (unsigned long long)s.accesses, s.accesses == 1 ? "" : "es");
    printf("  recalls:         %llu (%s", (unsigned long long)s.recalls,
           cli_bytes(s.recall_bytes, b1, sizeof(b1)));
    if (s.recall_bytes_per_s)
        printf(", %s/s", cli_bytes(s.recall_bytes_per_s, b3, sizeof(b3)));
    printf("), %llu failed, %u%% succeeded\n", (unsigned long long)s.recall_failures,
           s.recall_success_percent);
}

/*
 * afs endpoint create | list | show | delete: this server's endpoint in a
 * sync group, with the options of the portal's "Add server endpoint" blade
 * (shared/reference/afs-server-endpoint-create.md). The library enforces the
 * creation rules; this file refuses what can never be right before anything
 * is opened.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

const cli_choice cli_initial_sync_names[] = {
    { "merge", AFS_INITIAL_SYNC_MERGE },
    { "authoritative-upload", AFS_INITIAL_SYNC_AUTHORITATIVE_UPLOAD },
    { NULL, 0 },
};

const cli_choice cli_initial_download_names[] = {
    { "default", AFS_INITIAL_DOWNLOAD_DEFAULT },
    { "namespace-only", AFS_INITIAL_DOWNLOAD_NAMESPACE_ONLY },
    { "namespace-then-content", AFS_INITIAL_DOWNLOAD_NAMESPACE_THEN_CONTENT },
    { "avoid-tiered-files", AFS_INITIAL_DOWNLOAD_AVOID_TIERED_FILES },
    { NULL, 0 },
};

const cli_choice cli_cache_mode_names[] = {
    { "update-locally-cached", AFS_CACHE_UPDATE_LOCALLY_CACHED },
    { "download-new-and-modified", AFS_CACHE_DOWNLOAD_NEW_AND_MODIFIED },
    { NULL, 0 },
};

const cli_choice cli_on_off[] = {
    { "off", 0 },
    { "on", 1 },
    { NULL, 0 },
};

const cli_opt cli_endpoint_create_opts[] = {
    { "group", CLI_OPT_STRING, "NAME", "the sync group (default: the only one this server knows)",
      NULL, 0, 0 },
    { "initial-sync", CLI_OPT_CHOICE, "MODE",
      "a group's first endpoint: merge (default) or authoritative-upload", cli_initial_sync_names,
      0, 0 },
    { "initial-download", CLI_OPT_CHOICE, "MODE",
      "a group's later endpoints: how the share's content first arrives",
      cli_initial_download_names, 0, 0 },
    { "local-cache-mode", CLI_OPT_CHOICE, "MODE",
      "files other endpoints change: update-locally-cached (default) or proactively download",
      cli_cache_mode_names, 0, 0 },
    { "cloud-tiering", CLI_OPT_CHOICE, "on|off", "cloud tiering (default off)", cli_on_off, 0,
      0 },
    { "volume-free-space", CLI_OPT_PERCENT, "PERCENT",
      "tiering: keep this much of the volume free (0-99, default 20)", NULL, 0, 99 },
    { "tier-files-older-than", CLI_OPT_UINT, "DAYS",
      "tiering: tier files not accessed for DAYS days (default: no date policy)", NULL, 1,
      UINT32_MAX },
    { "tier-min-file-size", CLI_OPT_SIZE, "SIZE",
      "tiering: never tier smaller files (at least 8K, default 64K)", NULL, 8192, 0 },
    { "safety-percent", CLI_OPT_PERCENT, "PERCENT",
      "stop a session that would delete more than this share of the synced items (1-100, "
      "default 50; 100 turns the safety net off)", NULL, 1, 100 },
    { "change-detection-interval", CLI_OPT_DURATION, "TIME",
      "enumerate the whole share this often to find edits made in it directly (default 5m)",
      NULL, 1, UINT32_MAX },
    { "exclude", CLI_OPT_LIST, "GLOB",
      "never sync paths or names matching GLOB (repeatable)", NULL, 0, 0 },
    CLI_OPT_END,
};

const char *cli_download_desc(const afs_endpoint_options *o)
{
    /* reference: "Namespace only ... is the default if you enabled cloud tiering";
     * "Namespace first, then content ... the default if you didn't". */
    if (o->initial_download != AFS_INITIAL_DOWNLOAD_DEFAULT)
        return cli_choice_name(cli_initial_download_names, o->initial_download);
    return o->tiering_enabled ? "namespace-only (the default with cloud tiering on)"
                              : "namespace-then-content (the default with cloud tiering off)";
}

/* Is `inner` the directory `outer` or inside it? */
bool cli_path_within(const char *inner, const char *outer)
{
    size_t n = strlen(outer);
    return strncmp(inner, outer, n) == 0 &&
           (inner[n] == '\0' || inner[n] == '/' || (n == 1 && outer[0] == '/'));
}

/* An endpoint must not sync the service's own state (its databases change
 * during every session) nor live inside it. */
static int check_not_state(cli_ctx *ctx)
{
    char *state = realpath(ctx->state_dir, NULL);
    int rc = 0;
    if (state && (cli_path_within(state, ctx->path) || cli_path_within(ctx->path, state)))
        rc = cli_usage_error("server endpoint path %s %s the state directory %s; put them "
                             "apart", cli_shown(ctx->path, 0),
                             cli_path_within(state, ctx->path) ? "contains" : "is inside",
                             cli_shown(state, 1));
    free(state);
    return rc;
}

int cli_endpoint_create_check(cli_ctx *ctx, const cli_args *args)
{
    const cli_val *tiering = cli_opt_get(args, "cloud-tiering");
    const cli_val *download = cli_opt_get(args, "initial-download");
    static const char *const policy[] = { "volume-free-space", "tier-files-older-than",
                                          "tier-min-file-size" };
    bool tiering_on = tiering && tiering->num == 1;
    struct stat st;
    char *abs;

    for (size_t i = 0; i < sizeof(policy) / sizeof(policy[0]); i++)
        if (cli_flag(args, policy[i]) && !tiering_on)
            return cli_usage_error("--%s is a cloud tiering policy: add --cloud-tiering on",
                                   policy[i]);
    if (cli_flag(args, "initial-sync") && download)
        return cli_usage_error("--initial-sync applies to a group's first server endpoint and "
                               "--initial-download to the later ones: give one of them");
    if (tiering_on && download && download->num == AFS_INITIAL_DOWNLOAD_AVOID_TIERED_FILES)
        return cli_usage_error("--initial-download avoid-tiered-files needs cloud tiering off");

    if (!(abs = cli_absolute(args->pos[0])))
        return cli_usage_error("%s: %s", cli_shown(args->pos[0], 0), strerror(errno));
    if (stat(abs, &st) != 0) {
        int err = errno;
        free(abs);
        return cli_usage_error("server endpoint path %s: %s", cli_shown(args->pos[0], 0),
                               strerror(err));
    }
    free(abs);
    if (!S_ISDIR(st.st_mode))
        return cli_usage_error("server endpoint path %s is not a directory",
                               cli_shown(args->pos[0], 0));
    if (!(ctx->path = realpath(args->pos[0], NULL)))
        return cli_usage_error("%s: %s", cli_shown(args->pos[0], 0), strerror(errno));
    return check_not_state(ctx);
}

static void options_from_args(const cli_args *args, afs_endpoint_options *o)
{
    const cli_val *v;
    afs_endpoint_options_init(o, AFS_ENDPOINT_OPTIONS_VERSION);
    if ((v = cli_opt_get(args, "initial-sync")))
        o->initial_sync = (uint32_t)v->num;
    if ((v = cli_opt_get(args, "initial-download")))
        o->initial_download = (uint32_t)v->num;
    if ((v = cli_opt_get(args, "local-cache-mode")))
        o->local_cache_mode = (uint32_t)v->num;
    if ((v = cli_opt_get(args, "cloud-tiering")))
        o->tiering_enabled = (uint32_t)v->num;
    if ((v = cli_opt_get(args, "volume-free-space")))
        o->tiering_free_space_percent = (uint32_t)v->num;
    if ((v = cli_opt_get(args, "tier-files-older-than")))
        o->tiering_date_days = (uint32_t)v->num;
    if ((v = cli_opt_get(args, "tier-min-file-size")))
        o->tiering_min_file_size = v->num;
    if ((v = cli_opt_get(args, "safety-percent")))
        o->safety_delete_percent = (uint32_t)v->num;
    if ((v = cli_opt_get(args, "change-detection-interval")))
        o->change_detection_interval_s = (uint32_t)v->num;
    if ((v = cli_opt_get(args, "exclude"))) {
        o->exclude = v->list;
        o->exclude_count = v->count;
    }
}

static void options_json(cli_ctx *ctx, const afs_endpoint_options *o)
{
    cli_j_open(ctx);
    cli_j_kstr(ctx, "initial_sync", cli_choice_name(cli_initial_sync_names, o->initial_sync));
    cli_j_kstr(ctx, "initial_download",
               cli_choice_name(cli_initial_download_names, o->initial_download));
    cli_j_kstr(ctx, "local_cache_mode", cli_choice_name(cli_cache_mode_names, o->local_cache_mode));
    cli_j_kstr(ctx, "cloud_tiering", o->tiering_enabled ? "on" : "off");
    cli_j_kint(ctx, "volume_free_space_percent", o->tiering_free_space_percent);
    cli_j_kint(ctx, "tier_files_older_than_days", o->tiering_date_days);
    cli_j_kint(ctx, "tier_min_file_size", (int64_t)o->tiering_min_file_size);
    cli_j_kint(ctx, "safety_percent", o->safety_delete_percent);
    cli_j_kint(ctx, "change_detection_interval_s", o->change_detection_interval_s);
    cli_j_key(ctx, "exclude");
    cli_j_aopen(ctx);
    for (size_t i = 0; i < o->exclude_count; i++)
        cli_j_str(ctx, o->exclude[i]);
    cli_j_aclose(ctx);
    cli_j_close(ctx);
}

static void options_print(const afs_endpoint_options *o)
{
    char size[32];
    printf("initial sync:        %s\n", cli_choice_name(cli_initial_sync_names, o->initial_sync));
    printf("initial download:    %s\n", cli_download_desc(o));
    printf("local cache mode:    %s\n", cli_choice_name(cli_cache_mode_names, o->local_cache_mode));
    printf("cloud tiering:       %s\n", o->tiering_enabled ? "on" : "off");
    if (o->tiering_enabled) {
        printf("  volume free space: %u%%\n", o->tiering_free_space_percent);
        if (o->tiering_date_days)
            printf("  date policy:       files not accessed for %u days\n",
                   o->tiering_date_days);
        else
            printf("  date policy:       off\n");
        printf("  minimum file size: %s\n", cli_bytes(o->tiering_min_file_size, size,
                                                     sizeof(size)));
    }
    printf("safety net:          %s", o->safety_delete_percent >= 100 ? "off\n" : "");
    if (o->safety_delete_percent < 100)
        printf("stop a session that deletes more than %u%% of the synced items\n",
               o->safety_delete_percent);
    printf("change detection:    a full scan of the share every %u s\n",
           o->change_detection_interval_s);
    for (size_t i = 0; i < o->exclude_count; i++)
        printf("exclude:             %s\n", cli_shown(o->exclude[i], 0));
}

static const char *create_hint(int rc)
{
    switch (rc) {
    case AFS_EINITIAL_OPTION:
        return "--initial-sync is for a group's first server endpoint, --initial-download for "
               "the later ones; \"afs endpoint list\" shows the group's endpoints";
    case AFS_ENOTFOUND:
        return "register this server first (afs server register NAME), and check the path";
    case AFS_ESYSTEM_VOLUME:
        return "create it with --cloud-tiering off, or on a directory of another volume";
    case AFS_EEXISTS:
        return "register this server under a name of its own, in a new state directory "
               "(afs --state DIR server register NAME), and create the endpoint from there";
    default:
        return NULL;
    }
}

int cli_endpoint_create(cli_ctx *ctx, const cli_args *args)
{
    afs_endpoint_options o;
    afs_group *g = NULL;
    afs_endpoint *ep = NULL;
    afs_endpoint_info **eps = NULL;
    char *name = NULL, what[1024];
    size_t n = 0;
    int rc;

    options_from_args(args, &o);
    if ((rc = cli_pick_group(ctx, args, &name)) != 0)
        return rc;
    if ((rc = cli_open_group(ctx, name, &g)) != 0)
        goto done;
    if ((rc = afs_endpoint_create(&ep, g, ctx->path, &o)) != 0) {
        snprintf(what, sizeof(what), "create a server endpoint at %s in sync group \"%s\"",
                 cli_shown(ctx->path, 0), cli_shown(name, 1));
        rc = cli_fail_hint(ctx, rc, what, create_hint(rc));
        goto done;
    }
    if ((rc = afs_endpoint_get_options(ep, &o)) != 0) {
        rc = cli_fail(ctx, rc, "read the new endpoint's options");
        goto done;
    }
    if (afs_endpoint_list(g, &eps, &n) != 0)
        afs_error_clear(); /* only for the "first or later" line */
    if (ctx->json) {
        cli_j_open(ctx);
        cli_j_kstr(ctx, "group", name);
        cli_j_key(ctx, "server_endpoint");
        cli_j_open(ctx);
        cli_j_kstr(ctx, "id", afs_endpoint_id(ep));
        cli_j_kstr(ctx, "path", afs_endpoint_path(ep));
        cli_j_kbool(ctx, "first_in_group", n <= 1);
        cli_j_key(ctx, "options");
        options_json(ctx, &o);
        cli_j_close(ctx);
        cli_j_close(ctx);
    } else {
        printf("created server endpoint %s in sync group \"%s\" (id %s)\n",
               cli_shown(afs_endpoint_path(ep), 0), cli_shown(name, 1), afs_endpoint_id(ep));
        if (n <= 1)
            printf("the group's first server endpoint: initial sync %s\n",
                   cli_choice_name(cli_initial_sync_names, o.initial_sync));
        else
            printf("server endpoint %zu of the group: initial download %s\n", n,
                   cli_download_desc(&o));
        printf("next: afs sync\n");
    }
    rc = CLI_EXIT_OK;
done:
    afs_endpoint_info_free(eps, n);
    afs_endpoint_close(ep);
    afs_group_close(g);
    free(name);
    return rc;
}

int cli_endpoint_list(cli_ctx *ctx, const cli_args *args)
{
    afs_group *g = NULL;
    char *name = NULL;
    int rc;

    if ((rc = cli_pick_group(ctx, args, &name)) != 0)
        return rc;
    if ((rc = cli_open_group(ctx, name, &g)) == 0) {
        if (ctx->json) {
            cli_j_open(ctx);
            cli_j_kstr(ctx, "group", name);
            cli_j_key(ctx, "server_endpoints");
            rc = cli_print_endpoints(ctx, g, true);
            cli_j_close(ctx);
        } else {
            printf("server endpoints of sync group \"%s\":\n", cli_shown(name, 0));
            rc = cli_print_endpoints(ctx, g, false);
        }
    }
    afs_group_close(g);
    free(name);
    return rc;
}

/* Open this server's endpoint in the picked group; prints errors. */
static int open_mine(cli_ctx *ctx, const cli_args *args, char **name, afs_group **g,
                     afs_endpoint **ep)
{
    char what[512];
    int rc;

    *g = NULL;
    *ep = NULL;
    if ((rc = cli_pick_group(ctx, args, name)) != 0)
        return rc;
    if ((rc = cli_open_group(ctx, *name, g)) != 0)
        return rc;
    if ((rc = afs_endpoint_open(ep, *g)) != 0) {
        snprintf(what, sizeof(what), "open this server's endpoint in sync group \"%s\"",
                 cli_shown(*name, 0));
        return cli_fail_hint(ctx, rc, what,
                             rc == AFS_ENOTFOUND ? "create one: afs endpoint create --group "
                                                   "NAME PATH"
                                                 : NULL);
    }
    return 0;
}

int cli_endpoint_show(cli_ctx *ctx, const cli_args *args)
{
    afs_endpoint_options o = AFS_ENDPOINT_OPTIONS_INIT; /* its version: the fields we read */
    afs_group *g;
    afs_endpoint *ep;
    char *name = NULL;
    int rc;

    if ((rc = open_mine(ctx, args, &name, &g, &ep)) != 0)
        goto done;
    if ((rc = afs_endpoint_get_options(ep, &o)) != 0) {
        rc = cli_fail(ctx, rc, "read the endpoint's options");
        goto done;
    }
    if (ctx->json) {
        cli_j_open(ctx);
        cli_j_kstr(ctx, "group", name);
        cli_j_key(ctx, "server_endpoint");
        cli_j_open(ctx);
        cli_j_kstr(ctx, "id", afs_endpoint_id(ep));
        cli_j_kstr(ctx, "path", afs_endpoint_path(ep));
        cli_j_key(ctx, "options");
        options_json(ctx, &o);
        cli_j_close(ctx);
        cli_j_close(ctx);
    } else {
        printf("sync group:          %s\nserver endpoint:     %s\nid:                  %s\n",
               cli_shown(name, 0), cli_shown(afs_endpoint_path(ep), 1), afs_endpoint_id(ep));
        options_print(&o);
    }
    rc = CLI_EXIT_OK;
done:
    afs_endpoint_close(ep);
    afs_group_close(g);
    free(name);
    return rc;
}

int cli_endpoint_delete(cli_ctx *ctx, const cli_args *args)
{
    afs_group *g;
    afs_endpoint *ep;
    char *name = NULL, *path = NULL, what[512];
    int rc;

    if ((rc = open_mine(ctx, args, &name, &g, &ep)) != 0)
        goto done;
    path = strdup(afs_endpoint_path(ep));
    afs_endpoint_close(ep);
    ep = NULL;
    if (!path) {
        rc = cli_fail(ctx, AFS_ENOMEM, "delete the endpoint");
        goto done;
    }
    if ((rc = afs_endpoint_delete(g)) != 0) {
        snprintf(what, sizeof(what), "delete the server endpoint %s", cli_shown(path, 0));
        rc = cli_fail(ctx, rc, what);
        goto done;
    }
    if (ctx->json) {
        cli_j_open(ctx);
        cli_j_kstr(ctx, "group", name);
        cli_j_kstr(ctx, "deleted", path);
        cli_j_close(ctx);
    } else {
        printf("deleted the server endpoint %s from sync group \"%s\"\n(the files on this "
               "server and in the share stay)\n", cli_shown(path, 0), cli_shown(name, 1));
    }
    rc = CLI_EXIT_OK;
done:
    afs_endpoint_close(ep);
    afs_group_close(g);
    free(path);
    free(name);
    return rc;
}

/* ---- removing the endpoint of a server that is gone ---- */

const cli_opt cli_endpoint_remove_opts[] = {
    { "group", CLI_OPT_STRING, "NAME",
      "the sync group (default: the only one this server knows)", NULL, 0, 0 },
    { "force", CLI_OPT_BOOL, NULL,
      "required: confirm that the endpoint's server is gone for good", NULL, 0, 0 },
    CLI_OPT_END,
};

int cli_endpoint_remove_check(cli_ctx *ctx, const cli_args *args)
{
    (void)ctx;
    if (!cli_opt_get(args, "force"))
        return cli_usage_error("\"afs endpoint remove\" is for the endpoint of a server that is "
                               "gone (its state directory lost); add --force to confirm. A "
                               "server that is alive deletes its own endpoint: afs endpoint "
                               "delete, on that server");
    return 0;
}

int cli_endpoint_remove(cli_ctx *ctx, const cli_args *args)
{
    afs_group *g = NULL;
    afs_endpoint_info **eps = NULL;
    const afs_endpoint_info *e = NULL;
    char *name = NULL, what[512];
    size_t n = 0;
    int rc;

    if ((rc = cli_pick_group(ctx, args, &name)) != 0)
        return rc;
    if ((rc = cli_open_group(ctx, name, &g)) != 0)
        goto done;
    /* For the report only: which path of which server it was. */
    if (afs_endpoint_list(g, &eps, &n) != 0)
        afs_error_clear();
    for (size_t i = 0; i < n; i++)
        if (strcmp(eps[i]->id, args->pos[0]) == 0)
            e = eps[i];
    if ((rc = afs_group_remove_endpoint(g, args->pos[0])) != 0) {
        snprintf(what, sizeof(what), "remove server endpoint %s from sync group \"%s\"",
                 cli_shown(args->pos[0], 0), cli_shown(name, 1));
        rc = cli_fail_hint(ctx, rc, what,
                           rc == AFS_ENOTFOUND ? "\"afs endpoint list --json --group NAME\" "
                                                 "shows the ids of the group's endpoints"
                           : rc == AFS_EINVAL && e ? "this server's own endpoint is deleted "
                                                     "with: afs endpoint delete"
                                                   : NULL);
        goto done;
    }
    if (ctx->json) {
        cli_j_open(ctx);
        cli_j_kstr(ctx, "group", name);
        cli_j_kstr(ctx, "removed", args->pos[0]);
        if (e) {
            cli_j_kstr(ctx, "server_name", e->server_name);
            cli_j_kstr(ctx, "path", e->path);
        }
        cli_j_close(ctx);
    } else {
        printf("removed server endpoint %s", args->pos[0]);
        if (e)
            printf(" (%s on server %s)", cli_shown(e->path, 0), cli_shown(e->server_name, 1));
        printf(" from sync group \"%s\"\n(no file was deleted, in the share or on that "
               "server; if that server syncs again, its session stops until it deletes and "
               "creates its endpoint again)\n", cli_shown(name, 2));
    }
    rc = CLI_EXIT_OK;
done:
    afs_endpoint_info_free(eps, n);
    afs_group_close(g);
    free(name);
    return rc;
}

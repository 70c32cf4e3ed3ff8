/*
 * afs group create | join | list | show | delete.
 *
 * A sync group's definition lives in its share, so a second server does not
 * create the group again: it joins it by the share's URI ("afs group join").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cli.h"

const cli_opt cli_group_opt[] = {
    { "group", CLI_OPT_STRING, "NAME",
      "the sync group (default: the only one this server knows)", NULL, 0, 0 },
    CLI_OPT_END,
};

/*
 * The share to use, checked before anything is opened: a plain path must be
 * an existing directory and is made absolute (the group remembers the URI,
 * and other processes run from other directories); a file: URI goes to the
 * library as given; another scheme is tried with afs_storage_open(), which
 * refuses schemes this libafs does not have.
 */
static int resolve_share(cli_ctx *ctx, const char *given)
{
    const char *uri = given ? given : ctx->storage_uri;
    struct stat st;

    if (!uri)
        return cli_usage_error("no share given: pass STORAGE_URI (a directory or file:// URI), "
                               "or set AFS_STORAGE_URI or the config's storage.uri");
    if (strncasecmp(uri, "file:", 5) == 0) {
        ctx->share_uri = strdup(uri);
    } else if (strstr(uri, "://")) {
        afs_storage *s = NULL;
        int rc = afs_storage_open(&s, uri);
        if (rc != 0) {
            int code = rc;
            rc = cli_usage_error("%s", cli_error_message(rc));
            if (code == AFS_EPERM)
                cli_say("what to do: give the account key or a SAS: AFS_STORAGE_ACCOUNT_KEY or "
                        "AFS_STORAGE_SAS, or the config's storage.account_key or storage.sas "
                        "(docs/azure.md)");
            else if (code == AFS_ENOTFOUND)
                cli_say("what to do: create the container or file share first (libafs never "
                        "creates or deletes them)");
            else
                cli_say("what to do: give a directory path, a file:// URI, or an azblob:// or "
                        "azfiles:// URI (docs/azure.md)");
            return rc;
        }
        afs_storage_free(s);
        ctx->share_uri = strdup(uri);
    } else {
        char *abs = cli_absolute(uri);
        if (!abs || stat(abs, &st) != 0) {
            int err = errno;
            free(abs);
            return cli_usage_error("share directory %s: %s", cli_shown(uri, 0), strerror(err));
        }
        if (!S_ISDIR(st.st_mode)) {
            free(abs);
            return cli_usage_error("share %s is not a directory", cli_shown(uri, 0));
        }
        ctx->share_uri = realpath(abs, NULL);
        free(abs);
    }
    return ctx->share_uri ? 0 : cli_usage_error("share %s: %s", cli_shown(uri, 0),
                                                strerror(errno));
}

int cli_group_create_check(cli_ctx *ctx, const cli_args *args)
{
    int rc = cli_check_label("group", args->pos[0]);
    return rc ? rc : resolve_share(ctx, args->npos > 1 ? args->pos[1] : NULL);
}

int cli_group_join_check(cli_ctx *ctx, const cli_args *args)
{
    return resolve_share(ctx, args->npos > 0 ? args->pos[0] : NULL);
}

int cli_group_name_check(cli_ctx *ctx, const cli_args *args)
{
    (void)ctx;
    return cli_check_label("group", args->pos[0]);
}

static void group_json(cli_ctx *ctx, afs_group *g)
{
    cli_j_kstr(ctx, "name", afs_group_name(g));
    cli_j_kstr(ctx, "id", afs_group_id(g));
    cli_j_kstr(ctx, "cloud_endpoint", afs_group_storage_uri(g));
}

int cli_group_create(cli_ctx *ctx, const cli_args *args)
{
    afs_group *g = NULL;
    char what[512], hint[1024];
    int rc;

    rc = afs_group_create(&g, ctx->svc, args->pos[0], ctx->share_uri);
    if (rc != 0) {
        snprintf(what, sizeof(what), "create sync group \"%s\"", cli_shown(args->pos[0], 0));
        snprintf(hint, sizeof(hint), "to take part in the group a share already holds, run: "
                 "afs group join %s; \"afs group list\" shows the groups this server knows",
                 cli_shown(ctx->share_uri, 0));
        return cli_fail_hint(ctx, rc, what, rc == AFS_EEXISTS ? hint : NULL);
    }
    if (ctx->json) {
        cli_j_open(ctx);
        cli_j_key(ctx, "group");
        cli_j_open(ctx);
        group_json(ctx, g);
        cli_j_close(ctx);
        cli_j_close(ctx);
    } else {
        printf("created sync group \"%s\" (id %s)\ncloud endpoint: %s\n",
               cli_shown(afs_group_name(g), 0), afs_group_id(g),
               cli_shown(afs_group_storage_uri(g), 1));
    }
    afs_group_close(g);
    return CLI_EXIT_OK;
}

int cli_group_join(cli_ctx *ctx, const cli_args *args)
{
    afs_group *g = NULL;
    afs_endpoint_info **eps = NULL;
    size_t n = 0;
    char what[512];
    int rc;
    (void)args;

    rc = afs_group_open(&g, ctx->svc, NULL, ctx->share_uri);
    if (rc != 0) {
        snprintf(what, sizeof(what), "join the sync group in %s", cli_shown(ctx->share_uri, 0));
        return cli_fail_hint(ctx, rc, what,
                             rc == AFS_ENOTFOUND ? "create a group on that share first: afs "
                                                   "group create NAME STORAGE_URI"
                                                 : NULL);
    }
    if ((rc = afs_endpoint_list(g, &eps, &n)) != 0) {
        snprintf(what, sizeof(what), "list the server endpoints of \"%s\"", afs_group_name(g));
        rc = cli_fail(ctx, rc, what);
        afs_group_close(g);
        return rc;
    }
    if (ctx->json) {
        cli_j_open(ctx);
        cli_j_key(ctx, "group");
        cli_j_open(ctx);
        group_json(ctx, g);
        cli_j_kint(ctx, "server_endpoints", (int64_t)n);
        cli_j_close(ctx);
        cli_j_close(ctx);
    } else {
        printf("joined sync group \"%s\" (id %s), %zu server endpoint%s\ncloud endpoint: %s\n"
               "next: afs endpoint create --group %s PATH\n",
               cli_shown(afs_group_name(g), 0), afs_group_id(g), n, n == 1 ? "" : "s",
               cli_shown(afs_group_storage_uri(g), 1), cli_shown(afs_group_name(g), 2));
    }
    afs_endpoint_info_free(eps, n);
    afs_group_close(g);
    return CLI_EXIT_OK;
}

int cli_group_list(cli_ctx *ctx, const cli_args *args)
{
    afs_strarray names = { NULL, 0 };
    int rc;
    (void)args;

    if ((rc = afs_group_list(ctx->svc, &names)) != 0)
        return cli_fail(ctx, rc, "list the sync groups");
    if (ctx->json) {
        cli_j_open(ctx);
        cli_j_key(ctx, "groups");
        cli_j_aopen(ctx);
    } else if (names.count == 0) {
        printf("no sync groups: create one (afs group create NAME STORAGE_URI) or join one "
               "(afs group join STORAGE_URI)\n");
    }
    for (size_t i = 0; i < names.count; i++) {
        afs_group *g = NULL;
        afs_endpoint *ep = NULL;
        const char *err = NULL;
        int grc = afs_group_open(&g, ctx->svc, names.strings[i], NULL);
        if (grc != 0)
            err = cli_error_message(grc);
        else if (afs_endpoint_open(&ep, g) != 0)
            afs_error_clear(); /* no endpoint on this server: a plain fact here */
        if (ctx->json) {
            cli_j_open(ctx);
            cli_j_kstr(ctx, "name", names.strings[i]);
            cli_j_kstr(ctx, "id", g ? afs_group_id(g) : NULL);
            cli_j_kstr(ctx, "cloud_endpoint", g ? afs_group_storage_uri(g) : NULL);
            cli_j_kstr(ctx, "server_endpoint", ep ? afs_endpoint_path(ep) : NULL);
            if (err)
                cli_j_kstr(ctx, "error", err);
            cli_j_close(ctx);
        } else if (err) {
            printf("%s  (cannot open: %s)\n", cli_shown(names.strings[i], 0), cli_shown(err, 1));
        } else {
            printf("%s  cloud endpoint %s  %s%s\n", cli_shown(names.strings[i], 0),
                   cli_shown(afs_group_storage_uri(g), 1),
                   ep ? "server endpoint " : "no server endpoint on this server",
                   ep ? cli_shown(afs_endpoint_path(ep), 2) : "");
        }
        afs_endpoint_close(ep);
        afs_group_close(g);
    }
    if (ctx->json) {
        cli_j_aclose(ctx);
        cli_j_close(ctx);
    }
    afs_strarray_free(&names);
    return CLI_EXIT_OK;
}

const char *cli_choice_name(const cli_choice *choices, uint32_t value)
{
    for (const cli_choice *c = choices; c->name; c++)
        if (c->value == value)
            return c->name;
    return "unknown";
}

/* Does this service know a group of that name (whatever its share holds)? */
static bool group_known(cli_ctx *ctx, const char *name)
{
    afs_strarray names = { NULL, 0 };
    bool known = false;
    if (afs_group_list(ctx->svc, &names) != 0)
        return false;
    for (size_t i = 0; i < names.count; i++)
        known = known || strcmp(names.strings[i], name) == 0;
    afs_strarray_free(&names);
    return known;
}

int cli_open_group(cli_ctx *ctx, const char *name, afs_group **out)
{
    char what[512], hint[1024];
    int rc = afs_group_open(out, ctx->svc, name, NULL);
    if (rc == 0)
        return 0;
    snprintf(what, sizeof(what), "open sync group \"%s\"", cli_shown(name, 0));
    if (rc == AFS_ECORRUPT && name && !strstr(cli_error_message(rc), "now holds")) {
        /* The share's definition of the group is damaged. */
        snprintf(hint, sizeof(hint), "the share's .libafs/group.json is damaged: restore it "
                 "from a backup of the share; or remove it, run \"afs group delete %s\" on "
                 "every server (files stay), then create the group and join it again",
                 cli_shown(name, 0));
        return cli_fail_hint(ctx, rc, what, hint);
    }
    if ((rc == AFS_ENOTFOUND || rc == AFS_ECORRUPT) && name && group_known(ctx, name)) {
        /* Known here, but the share no longer holds it (or cannot be read). */
        snprintf(hint, sizeof(hint), "check that the share is mounted and reachable; if its "
                 ".libafs/ folder was removed or another group was made there, \"afs group "
                 "delete %s\" forgets the group here (files stay), then create or join it "
                 "again", cli_shown(name, 0));
        return cli_fail_hint(ctx, rc, what, hint);
    }
    return cli_fail_hint(ctx, rc, what,
                         rc == AFS_ENOTFOUND ? "\"afs group list\" shows the groups this server "
                                               "knows; \"afs group join STORAGE_URI\" adds one"
                                             : NULL);
}

int cli_pick_group(cli_ctx *ctx, const cli_args *args, char **name)
{
    const cli_val *given = cli_opt_get(args, "group");
    afs_strarray names = { NULL, 0 };
    int rc;

    *name = NULL;
    if (given) {
        *name = strdup(given->str);
        return *name ? 0 : cli_fail(ctx, AFS_ENOMEM, "pick the group");
    }
    if ((rc = afs_group_list(ctx->svc, &names)) != 0)
        return cli_fail(ctx, rc, "list the sync groups");
    if (names.count == 1) {
        *name = names.strings[0];
        names.strings[0] = NULL;
        rc = 0;
    } else if (names.count == 0) {
        afs_error_set_str(AFS_ENOTFOUND, "this server knows no sync group");
        rc = cli_fail_hint(ctx, AFS_ENOTFOUND, "pick the sync group",
                           "create one (afs group create NAME STORAGE_URI) or join one (afs "
                           "group join STORAGE_URI)");
    } else {
        char list[512] = "";
        for (size_t i = 0; i < names.count; i++) {
            size_t used = strlen(list);
            snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
                     cli_shown(names.strings[i], 0));
        }
        rc = cli_usage_error("this server knows %zu sync groups (%s): pass --group NAME",
                             names.count, list);
    }
    afs_strarray_free(&names);
    return rc;
}

static void endpoint_info_json(cli_ctx *ctx, const afs_endpoint_info *e, bool mine)
{
    cli_j_open(ctx);
    cli_j_kstr(ctx, "id", e->id);
    cli_j_kstr(ctx, "server_name", e->server_name);
    cli_j_kstr(ctx, "server_id", e->server_id);
    cli_j_kstr(ctx, "path", e->path);
    cli_j_kint(ctx, "created_ns", e->created_ns);
    cli_j_kbool(ctx, "this_server", mine);
    cli_j_kstr(ctx, "cloud_tiering", e->options->tiering_enabled ? "on" : "off");
    cli_j_kstr(ctx, "initial_sync",
               cli_choice_name(cli_initial_sync_names, e->options->initial_sync));
    cli_j_kstr(ctx, "initial_download",
               cli_choice_name(cli_initial_download_names, e->options->initial_download));
    cli_j_close(ctx);
}

/* Print the group's server endpoints (from the share: every server's). */
int cli_print_endpoints(cli_ctx *ctx, afs_group *g, bool json_array)
{
    afs_endpoint_info **eps = NULL;
    size_t n = 0;
    const char *my_id = NULL;
    char what[512], when[64];
    int rc;

    if ((rc = afs_endpoint_list(g, &eps, &n)) != 0) {
        snprintf(what, sizeof(what), "list the server endpoints of \"%s\"",
                 cli_shown(afs_group_name(g), 0));
        return cli_fail(ctx, rc, what);
    }
    if (afs_server_info(ctx->svc, NULL, &my_id) != 0) {
        afs_error_clear();
        my_id = "";
    }
    if (json_array) {
        cli_j_aopen(ctx);
        for (size_t i = 0; i < n; i++)
            endpoint_info_json(ctx, eps[i], strcmp(eps[i]->server_id, my_id) == 0);
        cli_j_aclose(ctx);
    } else if (n == 0) {
        printf("  (none yet: afs endpoint create --group %s PATH)\n",
               cli_shown(afs_group_name(g), 0));
    }
    for (size_t i = 0; !json_array && i < n; i++) {
        bool mine = strcmp(eps[i]->server_id, my_id) == 0;
        printf("  %-16s %s%s\n", cli_shown(eps[i]->server_name, 0), cli_shown(eps[i]->path, 1),
               mine ? "  (this server)" : "");
        printf("  %-16s created %s, cloud tiering %s, %s %s\n", "",
               cli_time(eps[i]->created_ns, when, sizeof(when)),
               eps[i]->options->tiering_enabled ? "on" : "off",
               i == 0 ? "initial sync" : "initial download",
               i == 0 ? cli_choice_name(cli_initial_sync_names, eps[i]->options->initial_sync)
                      : cli_download_desc(eps[i]->options));
        printf("  %-16s id %s\n", "", eps[i]->id);
    }
    afs_endpoint_info_free(eps, n);
    return CLI_EXIT_OK;
}

int cli_group_show(cli_ctx *ctx, const cli_args *args)
{
    afs_group *g = NULL;
    int rc;

    if ((rc = cli_open_group(ctx, args->pos[0], &g)) != 0)
        return rc;
    if (ctx->json) {
        cli_j_open(ctx);
        cli_j_key(ctx, "group");
        cli_j_open(ctx);
        group_json(ctx, g);
        cli_j_key(ctx, "server_endpoints");
        rc = cli_print_endpoints(ctx, g, true);
        cli_j_close(ctx);
        cli_j_close(ctx);
    } else {
        printf("sync group:     %s\nid:             %s\ncloud endpoint: %s\nserver "
               "endpoints:\n", cli_shown(afs_group_name(g), 0), afs_group_id(g),
               cli_shown(afs_group_storage_uri(g), 1));
        rc = cli_print_endpoints(ctx, g, false);
    }
    afs_group_close(g);
    return rc;
}

int cli_group_delete(cli_ctx *ctx, const cli_args *args)
{
    char what[512];
    int rc = afs_group_delete(ctx->svc, args->pos[0]);
    if (rc != 0) {
        snprintf(what, sizeof(what), "delete sync group \"%s\"", cli_shown(args->pos[0], 0));
        cli_fail_hint(ctx, rc, what,
                      rc == AFS_EBUSY ? "delete its server endpoints first, on each server: afs "
                                        "endpoint delete --group NAME (afs endpoint list "
                                        "--group NAME shows them); the endpoint of a server "
                                        "that is gone: afs endpoint remove --group NAME "
                                        "--force ID"
                                      : NULL);
        /* EBUSY here means "still has endpoints", not "try again later". */
        return rc == AFS_EBUSY ? CLI_EXIT_FAILED : cli_exit_for(rc);
    }
    if (ctx->json) {
        cli_j_open(ctx);
        cli_j_kstr(ctx, "deleted", args->pos[0]);
        cli_j_close(ctx);
    } else {
        printf("deleted sync group \"%s\" (the files in its share stay)\n",
               cli_shown(args->pos[0], 0));
    }
    return CLI_EXIT_OK;
}

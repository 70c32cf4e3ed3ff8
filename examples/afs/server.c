/* afs server register | show: this host's identity in its service. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cli_server_register_check(cli_ctx *ctx, const cli_args *args)
{
    (void)ctx;
    return cli_check_label("server", args->pos[0]);
}

static void server_json(cli_ctx *ctx, const char *name, const char *id)
{
    cli_j_key(ctx, "server");
    cli_j_open(ctx);
    cli_j_kstr(ctx, "name", name);
    cli_j_kstr(ctx, "id", id);
    cli_j_close(ctx);
    cli_j_kstr(ctx, "state_dir", ctx->state_dir);
}

int cli_server_register(cli_ctx *ctx, const cli_args *args)
{
    const char *name = args->pos[0], *old = NULL, *id = NULL;
    bool again;
    int rc;

    again = afs_server_info(ctx->svc, &old, NULL) == 0 && strcmp(old, name) == 0;
    if ((rc = afs_server_register(ctx->svc, name)) != 0) {
        char what[512];
        snprintf(what, sizeof(what), "register server \"%s\"", cli_shown(name, 0));
        return cli_fail_hint(ctx, rc, what,
                             rc == AFS_EEXISTS ? "one state directory is one server; give "
                                                 "another server its own --state DIR"
                                               : NULL);
    }
    if ((rc = afs_server_info(ctx->svc, &name, &id)) != 0)
        return cli_fail(ctx, rc, "read the registered server");
    if (ctx->json) {
        cli_j_open(ctx);
        server_json(ctx, name, id);
        cli_j_kbool(ctx, "created", !again);
        cli_j_close(ctx);
    } else {
        printf("%s server \"%s\" (id %s)\nstate: %s\n",
               again ? "already registered:" : "registered", cli_shown(name, 0), id,
               cli_shown(ctx->state_dir, 1));
    }
    return CLI_EXIT_OK;
}

int cli_server_show(cli_ctx *ctx, const cli_args *args)
{
    const char *name, *id;
    int rc;
    (void)args;

    if ((rc = afs_server_info(ctx->svc, &name, &id)) != 0)
        return cli_fail_hint(ctx, rc, "show the registered server",
                             "register it: afs server register NAME");
    if (ctx->json) {
        cli_j_open(ctx);
        server_json(ctx, name, id);
        cli_j_close(ctx);
    } else {
        printf("server: %s\nid:     %s\nstate:  %s\n", cli_shown(name, 0), id,
               cli_shown(ctx->state_dir, 1));
    }
    return CLI_EXIT_OK;
}

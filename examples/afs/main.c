/*
 * afs: the administrator's tool for libafs (docs/cli.md).
 *
 *   afs [--state DIR] [--config FILE] [--json] NOUN [VERB] [ARGS] [OPTIONS]
 *
 * main() finds the command in the verb table, parses and checks every flag
 * and value, reads the configuration, runs the command's own checks, and
 * only then opens the service and runs it. So a bad command line, config
 * file or value changes nothing (exit code 2).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* Options every command accepts, before or after its words. */
static const cli_opt global_opts[] = {
    { "state", CLI_OPT_STRING, "DIR",
      "the service's state directory (default: AFS_STATE_DIR, the config's state_dir, "
      "/var/lib/afs as root, ~/.local/state/afs)", NULL, 0, 0 },
    { "config", CLI_OPT_STRING, "FILE", "a JSON config file (default: AFS_CONFIG)", NULL, 0, 0 },
    { "json", CLI_OPT_BOOL, NULL, "print one JSON document on stdout", NULL, 0, 0 },
    { "help", CLI_OPT_BOOL, NULL, "show this command's help", NULL, 0, 0 },
    CLI_OPT_END,
};

static int cmd_help(cli_ctx *ctx, const cli_args *args);

/*
 * The verb table. A command is a noun and a verb ("group create") or one
 * word ("sync"). Adding a command is adding a row and its functions; the
 * parser, help, --json and the exit codes come with it.
 */
static const cli_cmd commands[] = {
    { "server", "register", "NAME", "register this host as the server NAME", 1, 1, NULL,
      CLI_CMD_CREATES_SERVICE, cli_server_register_check, cli_server_register },
    { "server", "show", "", "show the registered server (name and id)", 0, 0, NULL,
      CLI_CMD_SERVICE, NULL, cli_server_show },

    { "group", "create", "NAME [STORAGE_URI]",
      "create sync group NAME whose cloud endpoint is the share at STORAGE_URI", 1, 2, NULL,
      CLI_CMD_SERVICE, cli_group_create_check, cli_group_create },
    { "group", "join", "[STORAGE_URI]",
      "make the sync group defined in a share known to this server", 0, 1, NULL,
      CLI_CMD_SERVICE, cli_group_join_check, cli_group_join },
    { "group", "list", "", "list the sync groups this server knows", 0, 0, NULL,
      CLI_CMD_SERVICE, NULL, cli_group_list },
    { "group", "show", "NAME", "show a sync group, its cloud endpoint and server endpoints", 1,
      1, NULL, CLI_CMD_SERVICE, cli_group_name_check, cli_group_show },
    { "group", "delete", "NAME", "delete a sync group that has no server endpoints left", 1, 1,
      NULL, CLI_CMD_SERVICE, cli_group_name_check, cli_group_delete },

    { "endpoint", "create", "PATH", "create this server's endpoint at PATH in a sync group", 1,
      1, cli_endpoint_create_opts, CLI_CMD_SERVICE, cli_endpoint_create_check,
      cli_endpoint_create },
    { "endpoint", "list", "", "list a sync group's server endpoints (every server)", 0, 0,
      cli_group_opt, CLI_CMD_SERVICE, NULL, cli_endpoint_list },
    { "endpoint", "show", "", "show this server's endpoint in a sync group", 0, 0,
      cli_group_opt, CLI_CMD_SERVICE, NULL, cli_endpoint_show },
    { "endpoint", "delete", "", "delete this server's endpoint (files stay where they are)",
      0, 0, cli_group_opt, CLI_CMD_SERVICE, NULL, cli_endpoint_delete },
    { "endpoint", "remove", "ID",
      "remove the endpoint of a server that is gone from a sync group (no file is deleted)",
      1, 1, cli_endpoint_remove_opts, CLI_CMD_SERVICE, cli_endpoint_remove_check,
      cli_endpoint_remove },

    { "sync", NULL, "", "run a sync session of this server's endpoints (--watch: keep syncing)",
      0, 0, cli_sync_opts, CLI_CMD_SERVICE, cli_sync_check, cli_sync },
    { "status", NULL, "", "last session, per-item errors, tiering and recall of the endpoints",
      0, 0,
      cli_group_opt, CLI_CMD_SERVICE, NULL, cli_status },

    { "tier", NULL, "[PATH...]",
      "tier files or folders now (--pass: run the tiering policies of the volume)", 0,
      CLI_MAX_POS, cli_tier_opts, CLI_CMD_SERVICE, cli_tier_check, cli_tier },
    { "recall", NULL, "PATH...", "recall tiered files or folders: bring their content back", 1,
      CLI_MAX_POS, cli_recall_opts, CLI_CMD_SERVICE, cli_paths_check, cli_recall },
    { "heat", NULL, "", "the heat store: files in tiering, access or recall order", 0, 0,
      cli_heat_opts, CLI_CMD_SERVICE, NULL, cli_heat },
    { "file", NULL, "PATH...", "a file's tier state: size, size on disk, its tier marker", 1,
      CLI_MAX_POS, NULL, CLI_CMD_SERVICE, cli_paths_check, cli_file },

    { "help", NULL, "[COMMAND]", "show help for a command", 0, 2, NULL, 0, NULL, cmd_help },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static bool noun_has_verbs(const char *noun)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].noun, noun) == 0 && commands[i].verb)
            return true;
    return false;
}

static bool noun_known(const char *noun)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].noun, noun) == 0)
            return true;
    return false;
}

static const cli_cmd *find_command(const char *noun, const char *verb)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].noun, noun) == 0 &&
            (commands[i].verb ? verb && strcmp(commands[i].verb, verb) == 0 : !verb))
            return &commands[i];
    return NULL;
}

static void print_opts(FILE *f, const cli_opt *opts)
{
    for (const cli_opt *o = opts; o && o->name; o++) {
        char left[64];
        snprintf(left, sizeof(left), "--%s%s%s", o->name, o->metavar ? " " : "",
                 o->metavar ? o->metavar : "");
        fprintf(f, "  %-28s %s\n", left, o->help);
        if (o->kind == CLI_OPT_CHOICE) {
            fprintf(f, "  %-28s   one of:", "");
            for (const cli_choice *c = o->choices; c->name; c++)
                fprintf(f, " %s", c->name);
            fputc('\n', f);
        }
    }
}

static void print_command_help(FILE *f, const cli_cmd *c)
{
    fprintf(f, "usage: afs %s%s%s%s%s [options]\n\n%s.\n", c->noun, c->verb ? " " : "",
            c->verb ? c->verb : "", c->usage[0] ? " " : "", c->usage, c->summary);
    if (c->opts) {
        fputs("\noptions:\n", f);
        print_opts(f, c->opts);
    }
    fputs("\nglobal options:\n", f);
    print_opts(f, global_opts);
    fputs("\nMore, with examples: docs/cli.md\n", f);
}

static void print_overview(FILE *f)
{
    fputs("usage: afs [--state DIR] [--config FILE] [--json] COMMAND [ARGS] [OPTIONS]\n\n"
          "Azure File Sync-style sync groups with libafs " AFS_VERSION_STRING ".\n\n"
          "commands:\n", f);
    for (size_t i = 0; i < NCOMMANDS; i++) {
        char left[64];
        snprintf(left, sizeof(left), "%s%s%s", commands[i].noun, commands[i].verb ? " " : "",
                 commands[i].verb ? commands[i].verb : "");
        fprintf(f, "  %-18s %s\n", left, commands[i].summary);
    }
    fputs("\nglobal options:\n", f);
    print_opts(f, global_opts);
    fputs("\nexit codes: 0 ok, 1 failed, 2 usage (nothing changed), 3 stopped by the safety net,\n"
          "4 partial (some items failed), 5 busy, 6 not found, 128+N stopped by signal N\n"
          "\"afs help COMMAND\" or \"afs COMMAND --help\" for a command; docs/cli.md for "
          "more.\n", f);
}

static void print_noun_help(FILE *f, const char *noun)
{
    fprintf(f, "usage: afs %s VERB ...\n\nverbs:\n", noun);
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].noun, noun) == 0)
            fprintf(f, "  %-10s %s\n", commands[i].verb, commands[i].summary);
    fprintf(f, "\n\"afs %s VERB --help\" for a verb's options.\n", noun);
}

static int cmd_help(cli_ctx *ctx, const cli_args *args)
{
    const cli_cmd *c;
    (void)ctx;
    if (args->npos == 0) {
        print_overview(stdout);
        return CLI_EXIT_OK;
    }
    if (args->npos == 1 && noun_has_verbs(args->pos[0])) {
        print_noun_help(stdout, args->pos[0]);
        return CLI_EXIT_OK;
    }
    c = find_command(args->pos[0], args->npos > 1 ? args->pos[1] : NULL);
    if (!c)
        return cli_usage_error("no command \"%s%s%s\"; \"afs help\" lists them",
                               cli_shown(args->pos[0], 0), args->npos > 1 ? " " : "",
                               args->npos > 1 ? cli_shown(args->pos[1], 1) : "");
    print_command_help(stdout, c);
    return CLI_EXIT_OK;
}

/* Does a global option at argv[i] take the next argument as its value? */
static bool global_takes_value(const char *a)
{
    return strcmp(a, "--state") == 0 || strcmp(a, "--config") == 0;
}

static bool is_global(const char *a)
{
    size_t n = strcspn(a + 2, "=");
    if (strncmp(a, "--", 2) != 0)
        return strcmp(a, "-h") == 0;
    for (const cli_opt *o = global_opts; o->name; o++)
        if (strlen(o->name) == n && strncmp(o->name, a + 2, n) == 0)
            return true;
    return false;
}

/* The positions of the command words in argv: noun, then verb if the noun has verbs. */
static int find_words(int argc, char **argv, int *noun_i, int *verb_i)
{
    *noun_i = *verb_i = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == '-' && a[1]) {
            if (strcmp(a, "--") == 0 || !is_global(a))
                break; /* the verb's own options come after its words */
            if (global_takes_value(a))
                i++;
            continue;
        }
        if (*noun_i < 0) {
            *noun_i = i;
            if (!noun_has_verbs(a))
                return 0;
        } else {
            *verb_i = i;
            return 0;
        }
    }
    return 0;
}

/* Open the service: only "server register" may create one. */
static int open_service(cli_ctx *ctx)
{
    char *db = NULL;
    size_t need;
    struct stat st;
    int rc;

    if (!(ctx->cmd->flags & CLI_CMD_CREATES_SERVICE)) {
        /* docs/state-store.md: the service lives in <state_dir>/service.db. */
        need = strlen(ctx->state_dir) + sizeof("/service.db");
        if (!(db = malloc(need)))
            return cli_fail(ctx, AFS_ENOMEM, "open the service");
        snprintf(db, need, "%s/service.db", ctx->state_dir);
        rc = stat(db, &st);
        free(db);
        if (rc != 0 && errno == ENOENT) {
            char what[512];
            snprintf(what, sizeof(what), "no afs service in %s (the state directory, from %s)",
                     cli_shown(ctx->state_dir, 0), ctx->state_from);
            afs_error_set_str(AFS_ENOTFOUND, "this server is not registered there");
            return cli_fail_hint(ctx, AFS_ENOTFOUND, what,
                                 "register this server first: afs server register NAME "
                                 "(or pass the --state DIR it was registered with)");
        }
    }
    rc = afs_service_open(&ctx->svc, ctx->state_dir, NULL);
    if (rc != 0) {
        char what[512];
        snprintf(what, sizeof(what), "open the service in %s", cli_shown(ctx->state_dir, 0));
        return cli_fail(ctx, rc, what);
    }
    return 0;
}

static int run(int argc, char **argv, cli_ctx *ctx, cli_args *args)
{
    int noun_i, verb_i, rc, n = 0;
    const char *noun, *verb;
    char **rest;

    /* Known before parsing, so that a usage error is a JSON document too. */
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--json") == 0)
            ctx->json = true;
    find_words(argc, argv, &noun_i, &verb_i);
    noun = noun_i > 0 ? argv[noun_i] : NULL;
    verb = verb_i > 0 ? argv[verb_i] : NULL;

    if (!noun) {
        /* "afs", "afs --help", "afs --json": the overview. */
        rc = cli_parse(global_opts, NULL, argc - 1, argv + 1, args);
        if (rc == 0 && cli_flag(args, "help")) {
            print_overview(stdout);
            return CLI_EXIT_OK;
        }
        if (rc != 0)
            return rc;
        print_overview(stderr);
        return cli_usage_error("no command given");
    }
    if (!noun_known(noun))
        return cli_usage_error("unknown command \"%s\"; \"afs help\" lists the commands",
                               cli_shown(noun, 0));
    if (noun_has_verbs(noun) && !verb) {
        for (int i = 1; i < argc; i++)
            if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
                print_noun_help(stdout, noun);
                return CLI_EXIT_OK;
            }
        print_noun_help(stderr, noun);
        return cli_usage_error("\"afs %s\" needs a verb", noun);
    }
    ctx->cmd = find_command(noun, verb);
    if (!ctx->cmd) {
        print_noun_help(stderr, noun);
        return cli_usage_error("unknown verb \"%s\" for \"afs %s\"", cli_shown(verb, 0), noun);
    }

    /* Everything but the command words goes to the parser. */
    if (!(rest = calloc((size_t)argc, sizeof(char *))))
        return cli_usage_error("out of memory");
    for (int i = 1; i < argc; i++)
        if (i != noun_i && i != verb_i)
            rest[n++] = argv[i];
    rc = cli_parse(global_opts, ctx->cmd, n, rest, args);
    free(rest);
    if (rc != 0)
        return rc;
    if (cli_flag(args, "help")) {
        print_command_help(stdout, ctx->cmd);
        return CLI_EXIT_OK;
    }
    if (args->npos < ctx->cmd->min_pos)
        return cli_usage_error("missing argument: usage: afs %s%s%s %s", ctx->cmd->noun,
                               ctx->cmd->verb ? " " : "", ctx->cmd->verb ? ctx->cmd->verb : "",
                               ctx->cmd->usage);
    ctx->json = cli_flag(args, "json");
    if (ctx->cmd->run == cmd_help)
        return cmd_help(ctx, args);

    if ((rc = cli_config_load(ctx, args)) != 0)
        return rc;
    if (cli_opt_get(args, "group") &&
        (rc = cli_check_label("group", cli_opt_get(args, "group")->str)) != 0)
        return rc;
    if (ctx->cmd->check && (rc = ctx->cmd->check(ctx, args)) != 0)
        return rc;
    /* From here on, things may be opened and created. */
    if ((ctx->cmd->flags & (CLI_CMD_SERVICE | CLI_CMD_CREATES_SERVICE)) &&
        (rc = open_service(ctx)) != 0)
        return rc;
    return ctx->cmd->run(ctx, args);
}

int main(int argc, char **argv)
{
    cli_ctx ctx;
    cli_args args;
    int code;

    memset(&ctx, 0, sizeof(ctx));
    memset(&args, 0, sizeof(args));
    ctx.tty = isatty(STDERR_FILENO) == 1;
    ctx.gen = yajl_gen_alloc(NULL);
    if (!ctx.gen) {
        fputs("afs: out of memory\n", stderr);
        return CLI_EXIT_FAILED;
    }
    cli_signals_install();

    code = run(argc, argv, &ctx, &args);
    if (code != CLI_EXIT_OK)
        cli_emit_error_json(&ctx, code);
    else if (ctx.json && !ctx.json_done)
        cli_emit_json(&ctx);

    afs_service_close(ctx.svc);
    yajl_gen_free(ctx.gen);
    cli_config_free(&ctx);
    free(ctx.share_uri);
    free(ctx.path);
    for (size_t i = 0; i < ctx.npaths; i++)
        free(ctx.paths[i]);
    free(ctx.paths);
    cli_args_free(&args);
    if (fflush(stdout) != 0 && code == CLI_EXIT_OK)
        code = CLI_EXIT_FAILED; /* a full disk or a closed pipe lost the results */
    return code;
}

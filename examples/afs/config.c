/*
 * Where settings come from (docs/cli.md#configuration), first found wins:
 *
 *   state directory  --state, AFS_STATE_DIR, the config's "state_dir",
 *                    /var/lib/afs as root, else $XDG_STATE_HOME/afs or
 *                    ~/.local/state/afs
 *   share URI        the command line, AFS_STORAGE_URI, "storage"."uri"
 *   account key      AFS_STORAGE_ACCOUNT_KEY, "storage"."account_key"
 *   SAS token        AFS_STORAGE_SAS, "storage"."sas"
 *
 * The config file is JSON, read with yajl's tree parser; unknown keys are
 * refused so that a typo does not silently fall back to a default. The
 * credentials are handed to the Azure backends (through the variables they
 * read, AFS_AZURE_ACCOUNT_KEY and AFS_AZURE_SAS) and never printed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#include "cli.h"

#define CONFIG_MAX (64 * 1024)

static char *read_small_file(const char *path, struct stat *st, int *err)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n;

    *err = 0;
    if (!f) {
        *err = errno;
        return NULL;
    }
    if (fstat(fileno(f), st) != 0)
        *err = errno;
    else if (!S_ISREG(st->st_mode))
        *err = EINVAL;
    else if (st->st_size > CONFIG_MAX)
        *err = EFBIG;
    if (*err) {
        fclose(f);
        return NULL;
    }
    if ((buf = malloc((size_t)st->st_size + 1)) != NULL) {
        n = fread(buf, 1, (size_t)st->st_size, f);
        buf[n] = '\0';
    } else {
        *err = ENOMEM;
    }
    fclose(f);
    return buf;
}

static int take_string(yajl_val v, const char *file, const char *key, char **out)
{
    const char *s = YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : NULL;
    if (!s || !s[0])
        return cli_usage_error("config %s: \"%s\" must be a non-empty string", file, key);
    free(*out);
    *out = strdup(s);
    return *out ? 0 : cli_usage_error("out of memory");
}

static int parse_config(cli_ctx *ctx, const char *file, char **state_dir)
{
    struct stat st;
    char errbuf[256];
    yajl_val root;
    char *text;
    int err, rc = 0;

    if (!(text = read_small_file(file, &st, &err)))
        return cli_usage_error("config %s: %s", file,
                               err == EFBIG ? "larger than 64 KiB"
                               : err == EINVAL ? "not a regular file"
                                               : strerror(err));
    errbuf[0] = '\0';
    root = yajl_tree_parse(text, errbuf, sizeof(errbuf));
    free(text);
    if (!root) {
        /* yajl's message spans lines; its first line says what and where. */
        errbuf[strcspn(errbuf, "\n")] = '\0';
        return cli_usage_error("config %s is not valid JSON: %s", file, errbuf);
    }
    if (!YAJL_IS_OBJECT(root)) {
        yajl_tree_free(root);
        return cli_usage_error("config %s: the top level must be an object", file);
    }
    for (size_t i = 0; rc == 0 && i < root->u.object.len; i++) {
        const char *key = root->u.object.keys[i];
        yajl_val v = root->u.object.values[i];
        if (strcmp(key, "state_dir") == 0) {
            rc = take_string(v, file, "state_dir", state_dir);
        } else if (strcmp(key, "storage") == 0) {
            if (!YAJL_IS_OBJECT(v)) {
                rc = cli_usage_error("config %s: \"storage\" must be an object", file);
                break;
            }
            for (size_t k = 0; rc == 0 && k < v->u.object.len; k++) {
                const char *sk = v->u.object.keys[k];
                if (strcmp(sk, "uri") == 0)
                    rc = take_string(v->u.object.values[k], file, "storage.uri",
                                     &ctx->storage_uri);
                else if (strcmp(sk, "account_key") == 0)
                    rc = take_string(v->u.object.values[k], file, "storage.account_key",
                                     &ctx->account_key);
                else if (strcmp(sk, "sas") == 0)
                    rc = take_string(v->u.object.values[k], file, "storage.sas", &ctx->sas);
                else
                    rc = cli_usage_error("config %s: unknown key \"storage.%s\" (known: uri, "
                                         "account_key, sas)", file, cli_shown(sk, 0));
            }
        } else {
            rc = cli_usage_error("config %s: unknown key \"%s\" (known: state_dir, storage)",
                                 file, cli_shown(key, 0));
        }
    }
    yajl_tree_free(root);
    if (rc == 0 && (ctx->account_key || ctx->sas) && (st.st_mode & 077))
        cli_say("warning: %s holds a credential and other users can read it; run: chmod 600 "
                "%s", file, file);
    return rc;
}

/* Take an environment variable over the config's value when set and non-empty. */
static int env_over(const char *name, char **value)
{
    const char *e = getenv(name);
    if (!e || !e[0])
        return 0;
    free(*value);
    *value = strdup(e);
    return *value ? 0 : cli_usage_error("out of memory");
}

/*
 * The Azure backends take their credentials from the environment when a
 * sync group opens its share by URI (docs/azure.md#credentials): put the
 * configured one there, unless the variable is already set (the caller's
 * own environment wins, as for every setting here).
 */
static int hand_credential(const char *name, const char *value)
{
    const char *e = getenv(name);
    if (!value || (e && e[0]))
        return 0;
    if (setenv(name, value, 1) != 0)
        return cli_usage_error("cannot pass the credential on: %s", strerror(errno));
    return 0;
}

int cli_config_load(cli_ctx *ctx, const cli_args *args)
{
    const cli_val *state = cli_opt_get(args, "state");
    const cli_val *config = cli_opt_get(args, "config");
    const char *env_config = getenv("AFS_CONFIG");
    const char *env_state = getenv("AFS_STATE_DIR");
    char *from_config = NULL, *dir = NULL;
    int rc;

    if (config || (env_config && env_config[0])) {
        ctx->config_path = strdup(config ? config->str : env_config);
        if (!ctx->config_path)
            return cli_usage_error("out of memory");
        if ((rc = parse_config(ctx, ctx->config_path, &from_config)) != 0)
            goto done;
    }
    if ((rc = env_over("AFS_STORAGE_URI", &ctx->storage_uri)) != 0 ||
        (rc = env_over("AFS_STORAGE_ACCOUNT_KEY", &ctx->account_key)) != 0 ||
        (rc = env_over("AFS_STORAGE_SAS", &ctx->sas)) != 0 ||
        (rc = hand_credential("AFS_AZURE_ACCOUNT_KEY", ctx->account_key)) != 0 ||
        (rc = hand_credential("AFS_AZURE_SAS", ctx->sas)) != 0)
        goto done;

    if (state) {
        dir = strdup(state->str);
        ctx->state_from = "--state";
    } else if (env_state && env_state[0]) {
        dir = strdup(env_state);
        ctx->state_from = "AFS_STATE_DIR";
    } else if (from_config) {
        dir = from_config;
        from_config = NULL;
        ctx->state_from = "the config file";
    } else if (geteuid() == 0) {
        dir = strdup("/var/lib/afs");
        ctx->state_from = "the default for root";
    } else {
        const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
        size_t need;
        if (xdg && xdg[0] == '/') {
            need = strlen(xdg) + sizeof("/afs");
            if ((dir = malloc(need)) != NULL)
                snprintf(dir, need, "%s/afs", xdg);
        } else if (home && home[0] == '/') {
            need = strlen(home) + sizeof("/.local/state/afs");
            if ((dir = malloc(need)) != NULL)
                snprintf(dir, need, "%s/.local/state/afs", home);
        } else {
            rc = cli_usage_error("no state directory: HOME is not set; pass --state DIR or set "
                                 "AFS_STATE_DIR");
            goto done;
        }
        ctx->state_from = "the default";
    }
    if (!dir) {
        rc = cli_usage_error("out of memory");
        goto done;
    }
    ctx->state_dir = cli_absolute(dir);
    if (!ctx->state_dir)
        rc = cli_usage_error("cannot make the state directory %s absolute: %s", dir,
                             strerror(errno));
done:
    free(dir);
    free(from_config);
    return rc;
}

/* A credential does not outlive its use in this process's heap. */
static void wipe(char **secret)
{
    if (*secret) {
        volatile char *p = *secret;
        while (*p)
            *p++ = '\0';
        free(*secret);
        *secret = NULL;
    }
}

void cli_config_free(cli_ctx *ctx)
{
    wipe(&ctx->account_key);
    wipe(&ctx->sas);
    free(ctx->storage_uri);
    free(ctx->config_path);
    free(ctx->state_dir);
    ctx->storage_uri = ctx->config_path = ctx->state_dir = NULL;
}

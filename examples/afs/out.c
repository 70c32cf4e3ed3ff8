/*
 * Output: results on stdout (text, or one JSON document with --json),
 * messages on stderr. Every error names what failed, the library's detailed
 * message (afs_error_last()) and, where this tool knows one, what to do.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* The last error, for the --json error document. */
static struct {
    bool set;
    int code;      /* afs error code, or 0 for a usage error */
    int exit_code;
    char message[2048];
    const char *hint;
} last_err;

void cli_say(const char *fmt, ...)
{
    va_list ap;
    fputs("afs: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_err.message, sizeof(last_err.message), fmt, ap);
    va_end(ap);
    last_err.set = true;
    last_err.code = 0;
    last_err.exit_code = CLI_EXIT_USAGE;
    last_err.hint = NULL;
    fprintf(stderr, "afs: %s\n", last_err.message);
    return CLI_EXIT_USAGE;
}

static const char *const error_names[] = {
    "AFS_OK", "AFS_ERROR", "AFS_EINVAL", "AFS_ENOTFOUND", "AFS_EEXISTS", "AFS_ECONDITION",
    "AFS_ENOTSUP", "AFS_ENOSPC", "AFS_EIO", "AFS_ETRANSIENT", "AFS_EINVALIDNAME", "AFS_EBUSY",
    "AFS_EUSER", "AFS_ECORRUPT", "AFS_ENOMEM", "AFS_EVERSION", "AFS_EPERM", "AFS_ENOTEMPTY",
    "AFS_ENOTDIR", "AFS_EISDIR", "AFS_EITEROVER", "AFS_EONE_PER_SERVER", "AFS_EOVERLAP",
    "AFS_ESAME_GROUP_VOLUME", "AFS_ESYSTEM_VOLUME", "AFS_ENETWORK_FS", "AFS_EEMPTY_PATH",
    "AFS_EINITIAL_OPTION", "AFS_EAVOID_TIERED", "AFS_EIMMUTABLE", "AFS_ECONFLICT_LIMIT",
    "AFS_ESAFETY", "AFS_ELIMIT",
};

const char *cli_error_name(int code)
{
    if (code <= 0 && (size_t)-code < sizeof(error_names) / sizeof(error_names[0]))
        return error_names[-code];
    return "AFS_UNKNOWN";
}

const char *cli_error_message(int rc)
{
    return afs_error_last_code() == rc ? afs_error_last() : afs_strerror(rc);
}

int cli_exit_for(int rc)
{
    switch (rc) {
    case AFS_OK: return CLI_EXIT_OK;
    case AFS_ESAFETY: return CLI_EXIT_SAFETY;
    case AFS_EBUSY: return CLI_EXIT_BUSY;
    case AFS_ENOTFOUND: return CLI_EXIT_NOTFOUND;
    default: return CLI_EXIT_FAILED;
    }
}

const char *cli_hint(int rc)
{
    switch (rc) {
    case AFS_ESAFETY:
        return "check that the endpoint's volume is mounted and the share is intact; if the "
               "deletions are intended, run \"afs sync --force\"";
    case AFS_EBUSY:
        return "another afs process is working on it; wait for it to finish, then retry";
    case AFS_ECORRUPT:
        return "docs/state-store.md says how to recover a damaged state file";
    case AFS_EVERSION:
        return "this state was written by a newer libafs; use the afs that came with it";
    case AFS_EPERM:
        return "check the permissions of the paths named above (or run as their owner)";
    case AFS_ENOSPC:
        return "free some space on that volume, then run the command again";
    case AFS_ETRANSIENT:
    case AFS_EIO:
        return "this may pass: run the command again";
    case AFS_ENETWORK_FS:
        return "use a directory on a local disk of this server";
    case AFS_EONE_PER_SERVER:
        return "\"afs endpoint show --group NAME\" shows the endpoint this server has";
    default:
        return NULL;
    }
}

static int fail_with(cli_ctx *ctx, int rc, const char *what, const char *hint)
{
    (void)ctx;
    snprintf(last_err.message, sizeof(last_err.message), "%s: %s", what, cli_error_message(rc));
    last_err.set = true;
    last_err.code = rc;
    last_err.exit_code = cli_exit_for(rc);
    last_err.hint = hint ? hint : cli_hint(rc);
    fprintf(stderr, "afs: %s\n", last_err.message);
    if (last_err.hint)
        fprintf(stderr, "afs: what to do: %s\n", last_err.hint);
    return last_err.exit_code;
}

int cli_fail(cli_ctx *ctx, int rc, const char *what)
{
    return fail_with(ctx, rc, what, NULL);
}

int cli_fail_hint(cli_ctx *ctx, int rc, const char *what, const char *hint)
{
    return fail_with(ctx, rc, what, hint);
}

void cli_emit_error_json(cli_ctx *ctx, int exit_code)
{
    if (!ctx->json || ctx->json_done)
        return;
    yajl_gen_reset(ctx->gen, NULL);
    yajl_gen_clear(ctx->gen);
    cli_j_open(ctx);
    cli_j_key(ctx, "error");
    cli_j_open(ctx);
    if (last_err.set && last_err.code) {
        cli_j_kint(ctx, "code", last_err.code);
        cli_j_kstr(ctx, "name", cli_error_name(last_err.code));
    } else {
        cli_j_kint(ctx, "code", 0);
        cli_j_kstr(ctx, "name", last_err.set ? "usage" : "failed");
    }
    cli_j_kstr(ctx, "message", last_err.set ? last_err.message : "failed");
    cli_j_kstr(ctx, "hint", last_err.set ? last_err.hint : NULL);
    cli_j_close(ctx);
    cli_j_kint(ctx, "exit", exit_code);
    cli_j_close(ctx);
    cli_emit_json(ctx);
}

void cli_emit_json(cli_ctx *ctx)
{
    const unsigned char *buf;
    size_t len;
    if (yajl_gen_get_buf(ctx->gen, &buf, &len) == yajl_gen_status_ok && len) {
        fwrite(buf, 1, len, stdout);
        fputc('\n', stdout);
        fflush(stdout);
    }
    yajl_gen_reset(ctx->gen, NULL);
    yajl_gen_clear(ctx->gen);
    ctx->json_done = true;
}

/* ---- JSON on ctx->gen ---- */

void cli_j_open(cli_ctx *ctx)
{
    yajl_gen_map_open(ctx->gen);
}

void cli_j_close(cli_ctx *ctx)
{
    yajl_gen_map_close(ctx->gen);
}

void cli_j_aopen(cli_ctx *ctx)
{
    yajl_gen_array_open(ctx->gen);
}

void cli_j_aclose(cli_ctx *ctx)
{
    yajl_gen_array_close(ctx->gen);
}

/* Strings from the file system need not be UTF-8; JSON strings must be. */
static void gen_string(yajl_gen g, const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t len = strlen(s), o = 0;
    unsigned char *clean;

    if (!(clean = malloc(len * 3 + 1))) {
        yajl_gen_null(g);
        return;
    }
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = cli_utf8_one(u + i, len - i, &cp);
        if (n == 0) {
            memcpy(clean + o, "\xef\xbf\xbd", 3); /* U+FFFD */
            o += 3;
            i++;
        } else {
            memcpy(clean + o, u + i, n);
            o += n;
            i += n;
        }
    }
    yajl_gen_string(g, clean, o);
    free(clean);
}

void cli_j_key(cli_ctx *ctx, const char *key)
{
    gen_string(ctx->gen, key);
}

void cli_j_str(cli_ctx *ctx, const char *value)
{
    if (value)
        gen_string(ctx->gen, value);
    else
        yajl_gen_null(ctx->gen);
}

void cli_j_int(cli_ctx *ctx, int64_t value)
{
    yajl_gen_integer(ctx->gen, (long long)value);
}

void cli_j_bool(cli_ctx *ctx, bool value)
{
    yajl_gen_bool(ctx->gen, value);
}

void cli_j_kstr(cli_ctx *ctx, const char *key, const char *value)
{
    cli_j_key(ctx, key);
    cli_j_str(ctx, value);
}

void cli_j_kint(cli_ctx *ctx, const char *key, int64_t value)
{
    cli_j_key(ctx, key);
    cli_j_int(ctx, value);
}

void cli_j_kbool(cli_ctx *ctx, const char *key, bool value)
{
    cli_j_key(ctx, key);
    cli_j_bool(ctx, value);
}

/* ---- text ---- */

#define SHOWN_SLOTS 4
#define SHOWN_CAP 4096

const char *cli_shown(const char *text, int slot)
{
    static char bufs[SHOWN_SLOTS][SHOWN_CAP];
    const unsigned char *s = (const unsigned char *)text;
    char *out = bufs[(unsigned)slot % SHOWN_SLOTS];
    size_t len = strlen(text), o = 0;

    for (size_t i = 0; i < len && o + 8 < SHOWN_CAP;) {
        uint32_t cp;
        size_t n = cli_utf8_one(s + i, len - i, &cp);
        if (n == 0 || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f)) {
            /* A control or stray byte could move the cursor or fake output. */
            size_t k = n ? n : 1;
            for (size_t j = 0; j < k && o + 5 < SHOWN_CAP; j++)
                o += (size_t)snprintf(out + o, SHOWN_CAP - o, "\\x%02x", s[i + j]);
            i += k;
        } else {
            memcpy(out + o, s + i, n);
            o += n;
            i += n;
        }
    }
    out[o] = '\0';
    return out;
}

const char *cli_bytes(uint64_t n, char *buf, size_t cap)
{
    static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
    double v = (double)n;
    int u = -1;
    if (n < 1024) {
        snprintf(buf, cap, "%llu B", (unsigned long long)n);
        return buf;
    }
    while (v >= 1024 && u < 3) {
        v /= 1024;
        u++;
    }
    snprintf(buf, cap, "%.1f %s", v, units[u]);
    return buf;
}

const char *cli_time(int64_t ns, char *buf, size_t cap)
{
    time_t t = (time_t)(ns / 1000000000);
    struct tm tm;
    if (ns == 0 || !localtime_r(&t, &tm) || strftime(buf, cap, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(buf, cap, "never");
    return buf;
}

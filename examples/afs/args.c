/*
 * The option parser: each verb declares its options (cli_opt) and the
 * parser checks every flag and value before the verb runs, so a bad
 * command line changes nothing (docs/cli.md#conventions).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

const cli_val *cli_opt_get(const cli_args *args, const char *name)
{
    for (size_t i = 0; i < args->nopts; i++)
        if (strcmp(args->opts[i]->name, name) == 0)
            return args->vals[i].set ? &args->vals[i] : NULL;
    return NULL;
}

bool cli_flag(const cli_args *args, const char *name)
{
    return cli_opt_get(args, name) != NULL;
}

/* A plain decimal number without sign, spaces or overflow. */
static int parse_u64(const char *text, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned d;
        if (text[i] < '0' || text[i] > '9')
            return -1;
        d = (unsigned)(text[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* A number followed by one of `units` (a suffix and its multiplier). */
static int parse_scaled(const char *text, const char *const *suffixes, const uint64_t *mult,
                        size_t n, uint64_t *out)
{
    size_t digits = strspn(text, "0123456789");
    const char *unit = text + digits;
    uint64_t v;

    if (parse_u64(text, digits, &v) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(unit, suffixes[i]) == 0) {
            if (mult[i] && v > UINT64_MAX / mult[i])
                return -1;
            *out = v * mult[i];
            return 0;
        }
    return -1;
}

int cli_parse_duration(const char *text, uint64_t *seconds)
{
    static const char *const s[] = { "", "s", "m", "h", "d" };
    static const uint64_t m[] = { 1, 1, 60, 3600, 86400 };
    return parse_scaled(text, s, m, sizeof(m) / sizeof(m[0]), seconds);
}

int cli_parse_size(const char *text, uint64_t *bytes)
{
    static const char *const s[] = { "", "B", "K", "KiB", "M", "MiB", "G", "GiB", "T", "TiB" };
    static const uint64_t m[] = { 1, 1, 1ull << 10, 1ull << 10, 1ull << 20, 1ull << 20,
                                  1ull << 30, 1ull << 30, 1ull << 40, 1ull << 40 };
    return parse_scaled(text, s, m, sizeof(m) / sizeof(m[0]), bytes);
}

/* Decode one UTF-8 sequence; 0 if invalid (overlong, surrogate, > U+10FFFF). */
static size_t utf8_one(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t len;
    uint32_t c, min;
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if ((s[0] & 0xe0) == 0xc0) {
        len = 2, c = s[0] & 0x1f, min = 0x80;
    } else if ((s[0] & 0xf0) == 0xe0) {
        len = 3, c = s[0] & 0x0f, min = 0x800;
    } else if ((s[0] & 0xf8) == 0xf0) {
        len = 4, c = s[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

size_t cli_utf8_one(const unsigned char *s, size_t n, uint32_t *cp)
{
    return utf8_one(s, n, cp);
}

/*
 * The library's rule for server and group names (include/afs/service.h):
 * 1 to 255 bytes of UTF-8, no control characters, no '/'. Checked here too
 * so that a bad name is refused before the state directory is created.
 */
int cli_check_label(const char *kind, const char *name)
{
    const unsigned char *s = (const unsigned char *)name;
    size_t len = strlen(name);

    if (len == 0 || len > 255)
        return cli_usage_error("a %s name must be 1 to 255 bytes, not %zu", kind, len);
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = utf8_one(s + i, len - i, &cp);
        if (n == 0)
            return cli_usage_error("the %s name \"%s\" is not valid UTF-8", kind,
                                   cli_shown(name, 0));
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
            return cli_usage_error("the %s name \"%s\" holds a control character", kind,
                                   cli_shown(name, 0));
        if (cp == '/')
            return cli_usage_error("the %s name \"%s\" holds a '/'", kind, cli_shown(name, 0));
        i += n;
    }
    return 0;
}

char *cli_absolute(const char *path)
{
    char *cwd, *out;
    size_t need;

    if (path[0] == '/')
        return strdup(path);
    if (!(cwd = getcwd(NULL, 0)))
        return NULL;
    need = strlen(cwd) + 1 + strlen(path) + 1;
    if ((out = malloc(need)) != NULL)
        snprintf(out, need, "%s/%s", cwd, path);
    free(cwd);
    return out;
}

static const char *kind_word(const cli_opt *o)
{
    switch (o->kind) {
    case CLI_OPT_PERCENT: return "a percentage";
    case CLI_OPT_SIZE: return "a size (bytes, or with K, M, G, T)";
    case CLI_OPT_DURATION: return "a duration (seconds, or with s, m, h, d)";
    default: return "a whole number";
    }
}

/* Check and store one option's value. */
static int take_value(const cli_opt *o, cli_val *v, const char *text)
{
    uint64_t n = 0;
    int bad = 0;

    switch (o->kind) {
    case CLI_OPT_BOOL:
        break;
    case CLI_OPT_STRING:
        if (!text[0])
            return cli_usage_error("--%s needs a non-empty value", o->name);
        break;
    case CLI_OPT_LIST: {
        const char **l;
        if (!text[0])
            return cli_usage_error("--%s needs a non-empty value", o->name);
        if (!(l = realloc(v->list, (v->count + 1) * sizeof(*l))))
            return cli_usage_error("out of memory");
        l[v->count++] = text;
        v->list = l;
        break;
    }
    case CLI_OPT_CHOICE: {
        const cli_choice *c;
        char all[256] = "";
        for (c = o->choices; c->name; c++)
            if (strcmp(c->name, text) == 0)
                break;
        if (c->name) {
            v->num = c->value;
            break;
        }
        for (c = o->choices; c->name; c++) {
            size_t used = strlen(all);
            snprintf(all + used, sizeof(all) - used, "%s%s", c == o->choices ? "" : ", ",
                     c->name);
        }
        return cli_usage_error("--%s: \"%s\" is not one of: %s", o->name, cli_shown(text, 0),
                               all);
    }
    case CLI_OPT_UINT:
        bad = parse_u64(text, strlen(text), &n);
        break;
    case CLI_OPT_PERCENT: {
        size_t len = strlen(text);
        if (len > 1 && text[len - 1] == '%')
            len--;
        bad = parse_u64(text, len, &n) != 0;
        break;
    }
    case CLI_OPT_SIZE:
        bad = cli_parse_size(text, &n);
        break;
    case CLI_OPT_DURATION:
        bad = cli_parse_duration(text, &n);
        break;
    }
    if (bad)
        return cli_usage_error("--%s: \"%s\" is not %s", o->name, cli_shown(text, 0),
                               kind_word(o));
    if (o->kind != CLI_OPT_BOOL && o->kind != CLI_OPT_STRING && o->kind != CLI_OPT_LIST &&
        o->kind != CLI_OPT_CHOICE) {
        if (n < o->min || (o->max && n > o->max))
            return cli_usage_error("--%s: %s is out of range (%llu to %llu)", o->name, text,
                                   (unsigned long long)o->min, (unsigned long long)o->max);
    }
    v->num = o->kind == CLI_OPT_CHOICE ? v->num : n;
    if (o->kind != CLI_OPT_LIST)
        v->str = text;
    return 0;
}

static int add_opts(cli_args *args, const cli_opt *opts)
{
    for (const cli_opt *o = opts; o && o->name; o++) {
        if (args->nopts == CLI_MAX_OPTS)
            return cli_usage_error("internal: too many options");
        args->opts[args->nopts++] = o;
    }
    return 0;
}

int cli_parse(const cli_opt *global, const cli_cmd *cmd, int argc, char **argv, cli_args *args)
{
    bool only_pos = false;
    int rc;

    memset(args, 0, sizeof(*args));
    if ((rc = add_opts(args, global)) != 0 || (cmd && (rc = add_opts(args, cmd->opts)) != 0))
        return rc;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *eq, *value = NULL;
        size_t nlen, k;

        if (only_pos || a[0] != '-' || strcmp(a, "-") == 0) {
            size_t max = cmd ? cmd->max_pos : 0;
            if (args->npos >= max || args->npos >= CLI_MAX_POS) {
                if (max == 0)
                    return cli_usage_error("unexpected argument \"%s\"", cli_shown(a, 0));
                return cli_usage_error("unexpected argument \"%s\" (at most %zu)",
                                       cli_shown(a, 0), max);
            }
            args->pos[args->npos++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = true;
            continue;
        }
        if (strcmp(a, "-h") == 0)
            a = "--help";
        if (a[1] != '-')
            return cli_usage_error("unknown option \"%s\" (options are long: --name)",
                                   cli_shown(a, 0));
        a += 2;
        eq = strchr(a, '=');
        nlen = eq ? (size_t)(eq - a) : strlen(a);
        for (k = 0; k < args->nopts; k++)
            if (strlen(args->opts[k]->name) == nlen && strncmp(args->opts[k]->name, a, nlen) == 0)
                break;
        if (k == args->nopts) {
            if (cmd)
                return cli_usage_error("unknown option --%.*s for \"afs %s%s%s\" (see afs %s%s%s "
                                       "--help)", (int)nlen, a, cmd->noun, cmd->verb ? " " : "",
                                       cmd->verb ? cmd->verb : "", cmd->noun,
                                       cmd->verb ? " " : "", cmd->verb ? cmd->verb : "");
            return cli_usage_error("unknown option --%.*s", (int)nlen, a);
        }
        if (args->vals[k].set && args->opts[k]->kind != CLI_OPT_LIST)
            return cli_usage_error("--%s is given twice", args->opts[k]->name);
        if (args->opts[k]->kind == CLI_OPT_BOOL) {
            if (eq)
                return cli_usage_error("--%s takes no value", args->opts[k]->name);
        } else if (eq) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            return cli_usage_error("--%s needs a value (%s)", args->opts[k]->name,
                                   args->opts[k]->metavar ? args->opts[k]->metavar : "VALUE");
        }
        if ((rc = take_value(args->opts[k], &args->vals[k], value ? value : "")) != 0)
            return rc;
        args->vals[k].set = true;
    }
    return 0;
}

void cli_args_free(cli_args *args)
{
    for (size_t i = 0; i < args->nopts; i++)
        free(args->vals[i].list);
}

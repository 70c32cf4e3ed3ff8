/*
 * afs: the administrator's command-line tool over libafs (docs/cli.md).
 *
 * The tool is a host program like any other: it uses the public API only
 * (<afs.h>) plus yajl for its JSON. One file per job:
 *
 *   main.c      global options, the verb table, dispatch, exit codes, help
 *   args.c      the declarative option parser and value checks
 *   out.c       human and JSON output, errors with hints
 *   config.c    the config file and the environment (state dir, storage)
 *   progress.c  the progress bar and Ctrl-C
 *   server.c, group.c, endpoint.c, sync.c, watch.c, status.c: the verbs
 *   tier.c      tier, recall, heat, file: cloud tiering and recall
 */
#ifndef AFS_CLI_H
#define AFS_CLI_H

#include <afs.h>

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_gen.h>

/* ---- exit codes (docs/cli.md#exit-codes); scripts rely on them ---- */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAILED = 1,   /* the operation failed; the message says why */
    CLI_EXIT_USAGE = 2,    /* refused before anything was touched */
    CLI_EXIT_SAFETY = 3,   /* the safety net stopped a sync; nothing was deleted */
    CLI_EXIT_PARTIAL = 4,  /* sync ran, some items failed (afs status lists them) */
    CLI_EXIT_BUSY = 5,     /* another sync session of the endpoint is running */
    CLI_EXIT_NOTFOUND = 6, /* no service, server, group or endpoint by that name */
    CLI_EXIT_SIGNAL = 128  /* + the signal number: stopped by SIGINT (130) or SIGTERM (143) */
};

/* ---- options ---- */

typedef enum cli_opt_kind {
    CLI_OPT_BOOL,     /* --flag */
    CLI_OPT_STRING,   /* --flag VALUE */
    CLI_OPT_UINT,     /* decimal, within [min, max] */
    CLI_OPT_PERCENT,  /* 0..100 ("20" or "20%"), within [min, max] */
    CLI_OPT_SIZE,     /* bytes with an optional K/M/G/T suffix (powers of 1024) */
    CLI_OPT_DURATION, /* seconds with an optional s/m/h/d suffix */
    CLI_OPT_CHOICE,   /* one of `choices` */
    CLI_OPT_LIST      /* repeatable string */
} cli_opt_kind;

typedef struct cli_choice {
    const char *name;
    uint32_t value;
} cli_choice;

typedef struct cli_opt {
    const char *name; /* without the leading "--" */
    cli_opt_kind kind;
    const char *metavar;
    const char *help;
    const cli_choice *choices; /* CLI_OPT_CHOICE: ends with { NULL, 0 } */
    uint64_t min, max;         /* numeric kinds; max 0 = no limit */
} cli_opt;

#define CLI_OPT_END { NULL, CLI_OPT_BOOL, NULL, NULL, NULL, 0, 0 }

/* One option's parsed value. */
typedef struct cli_val {
    bool set;
    const char *str;    /* as given (STRING, CHOICE, and the text of the others) */
    uint64_t num;       /* UINT, PERCENT, SIZE, DURATION, CHOICE value */
    const char **list;  /* LIST */
    size_t count;
} cli_val;

#define CLI_MAX_OPTS 32
#define CLI_MAX_POS 256

typedef struct cli_args {
    const cli_opt *opts[CLI_MAX_OPTS]; /* the global options, then the verb's */
    cli_val vals[CLI_MAX_OPTS];
    size_t nopts;
    const char *pos[CLI_MAX_POS];
    size_t npos;
} cli_args;

/* The value of option `name` (which must be declared), or NULL if not given. */
const cli_val *cli_opt_get(const cli_args *args, const char *name);
bool cli_flag(const cli_args *args, const char *name);

/* ---- the verb table ---- */

typedef struct cli_ctx cli_ctx;

/* cli_cmd.flags */
#define CLI_CMD_SERVICE 0x1u        /* needs an existing service (the state directory) */
#define CLI_CMD_CREATES_SERVICE 0x2u /* opens the service, creating it if needed */

typedef struct cli_cmd {
    const char *noun;     /* "group"; or the verb of a one-word command ("sync") */
    const char *verb;     /* "create", or NULL for a one-word command */
    const char *usage;    /* the positional arguments: "NAME [STORAGE_URI]" */
    const char *summary;  /* one line for the command list */
    size_t min_pos, max_pos;
    const cli_opt *opts;  /* ends with CLI_OPT_END; NULL: none */
    unsigned int flags;   /* CLI_CMD_* */
    /* Checks that need the environment (paths exist, combinations), before
     * anything is opened or created; return 0 or CLI_EXIT_USAGE. May be NULL. */
    int (*check)(cli_ctx *ctx, const cli_args *args);
    /* The work; returns an exit code. */
    int (*run)(cli_ctx *ctx, const cli_args *args);
} cli_cmd;

/* ---- the context every verb receives ---- */

struct cli_ctx {
    const cli_cmd *cmd;
    char *state_dir;      /* absolute */
    const char *state_from; /* where state_dir came from: "--state", "AFS_STATE_DIR", ... */
    char *config_path;    /* NULL: no config file */
    char *storage_uri;    /* default share for group create/join (config or env); may be NULL */
    char *account_key;    /* Azure Shared Key; never printed, wiped at exit */
    char *sas;            /* Azure SAS token; the same */
    bool json;            /* --json: one JSON document (per session with --watch) on stdout */
    bool tty;             /* stderr is a terminal: show progress */
    afs_service *svc;     /* opened by main for CLI_CMD_SERVICE / CLI_CMD_CREATES_SERVICE */
    char *share_uri;      /* the storage URI a command resolved in its check */
    char *path;           /* the local path a command resolved in its check */
    char **paths;         /* tier, recall, file: every PATH, resolved in the check */
    size_t npaths;
    yajl_gen gen;         /* the --json document being built */
    bool json_done;       /* the verb printed its own JSON (no error document needed) */
};

/* ---- args.c ---- */

/* Parse argv (after the command words were found) into `args`; on a bad
 * flag or value print why and return CLI_EXIT_USAGE. */
int cli_parse(const cli_opt *global, const cli_cmd *cmd, int argc, char **argv, cli_args *args);
void cli_args_free(cli_args *args);

/* Value checks shared with the config file. */
int cli_check_label(const char *kind, const char *name); /* server and group names */
int cli_parse_duration(const char *text, uint64_t *seconds);
int cli_parse_size(const char *text, uint64_t *bytes);

/* Decode one UTF-8 sequence of at most `n` bytes; 0 if invalid. */
size_t cli_utf8_one(const unsigned char *s, size_t n, uint32_t *cp);

/* Make `path` absolute against the current directory (not resolving links). */
char *cli_absolute(const char *path);

/* Is `inner` the directory `outer` or below it? (Both canonical.) */
bool cli_path_within(const char *inner, const char *outer);

/* ---- out.c ---- */

/* Print "afs: <message>" on stderr (printf-style). */
void cli_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Report a usage problem and return CLI_EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Report a libafs failure: "afs: <what>: <afs_error_last()>" plus a hint of
 * what to do with this tool, on stderr, and record it for the --json error
 * document. Returns the exit code for `rc`.
 */
int cli_fail(cli_ctx *ctx, int rc, const char *what);
/* cli_fail() with this command's own hint instead of the generic one. */
int cli_fail_hint(cli_ctx *ctx, int rc, const char *what, const char *hint);

/* The exit code a libafs error maps to (CLI_EXIT_FAILED by default). */
int cli_exit_for(int rc);

/* The enumerator name of an afs error code ("AFS_ESAFETY"). */
const char *cli_error_name(int code);

/* The library's message for `rc` when it is the thread's last error, else afs_strerror(). */
const char *cli_error_message(int rc);

/* What to do next, in this tool's terms, for an error code; NULL if nothing to add. */
const char *cli_hint(int rc);

/* Print the error document (after cli_fail) if --json and the verb printed none. */
void cli_emit_error_json(cli_ctx *ctx, int exit_code);

/* Write the JSON document built in ctx->gen to stdout, one line, and reset the generator. */
void cli_emit_json(cli_ctx *ctx);

/* JSON building on ctx->gen; strings are made valid UTF-8 (bad bytes become U+FFFD). */
void cli_j_open(cli_ctx *ctx);   /* { */
void cli_j_close(cli_ctx *ctx);  /* } */
void cli_j_aopen(cli_ctx *ctx);  /* [ */
void cli_j_aclose(cli_ctx *ctx); /* ] */
void cli_j_key(cli_ctx *ctx, const char *key);
void cli_j_str(cli_ctx *ctx, const char *value); /* NULL: null */
void cli_j_int(cli_ctx *ctx, int64_t value);
void cli_j_bool(cli_ctx *ctx, bool value);
void cli_j_kstr(cli_ctx *ctx, const char *key, const char *value);
void cli_j_kint(cli_ctx *ctx, const char *key, int64_t value);
void cli_j_kbool(cli_ctx *ctx, const char *key, bool value);

/* A name or path made safe for a terminal (control bytes as \xNN); static buffer per slot. */
const char *cli_shown(const char *text, int slot);

/* "1.5 MiB", "12 B" into buf. */
const char *cli_bytes(uint64_t n, char *buf, size_t cap);

/* "2024-05-01 12:00:03" (local time) from nanoseconds; "never" for 0. */
const char *cli_time(int64_t ns, char *buf, size_t cap);

/* ---- config.c ---- */

/* Read --config FILE (or AFS_CONFIG) and the environment, and decide the
 * state directory. Returns 0 or CLI_EXIT_USAGE. */
int cli_config_load(cli_ctx *ctx, const cli_args *args);
void cli_config_free(cli_ctx *ctx);

/* ---- progress.c ---- */

/* Catch SIGINT and SIGTERM: the first asks the work to stop cleanly, a second quits at once. */
void cli_signals_install(void);
/* The signal that asked to stop, or 0. */
int cli_interrupted(void);
/* The signal mask that blocks SIGINT and SIGTERM (for ppoll in --watch). */
void cli_signals_block(sigset_t *old);
void cli_signals_restore(const sigset_t *old);

typedef struct cli_progress {
    bool show;          /* draw on stderr (a terminal) */
    const char *label;  /* "docs" (the group name) */
    int64_t started_ns;
    int64_t apply_ns;   /* when the apply phase started */
    int64_t drawn_ns;   /* last draw */
    bool drawn;         /* a line is on the screen */
} cli_progress;

/* Start a bar for one session; `show` false makes the callback only check for Ctrl-C. */
void cli_progress_start(cli_progress *p, bool show, const char *label);
/* The afs_sync_progress_fn: draws, and returns AFS_EUSER once a signal asked to stop. */
int cli_progress_cb(const afs_sync_progress *progress, void *payload);
/* The afs_recall_progress_fn: the same bar for a recall (files and bytes). */
int cli_recall_progress_cb(const afs_recall_progress *progress, void *payload);
/* Erase the bar (before results are printed). */
void cli_progress_end(cli_progress *p);

/* ---- shared by the verbs ---- */

/* Monotonic and wall clocks in nanoseconds. */
int64_t cli_now_mono(void);

/*
 * The group to work on: --group, else the only group this service knows.
 * Prints the error (exit code returned) when there is none or several.
 */
int cli_pick_group(cli_ctx *ctx, const cli_args *args, char **name);

/* Open a known group by name; prints the error. */
int cli_open_group(cli_ctx *ctx, const char *name, afs_group **out);

/* Print a group's server endpoints (every server's, from the share): a JSON
 * array on ctx->gen when `json_array`, else lines. Returns an exit code. */
int cli_print_endpoints(cli_ctx *ctx, afs_group *g, bool json_array);

/* Names for the enum values, shared by endpoint and status output. */
extern const cli_choice cli_initial_sync_names[];
extern const cli_choice cli_initial_download_names[];
extern const cli_choice cli_cache_mode_names[];
extern const cli_choice cli_on_off[];
const char *cli_choice_name(const cli_choice *choices, uint32_t value);
/* The initial download mode in words, "default" spelled out. */
const char *cli_download_desc(const afs_endpoint_options *o);

/* ---- the verbs (their tables live in main.c) ---- */

extern const cli_opt cli_endpoint_create_opts[];
extern const cli_opt cli_sync_opts[];
extern const cli_opt cli_group_opt[];

int cli_server_register(cli_ctx *ctx, const cli_args *args);
int cli_server_show(cli_ctx *ctx, const cli_args *args);
int cli_server_register_check(cli_ctx *ctx, const cli_args *args);

int cli_group_create_check(cli_ctx *ctx, const cli_args *args);
int cli_group_create(cli_ctx *ctx, const cli_args *args);
int cli_group_join_check(cli_ctx *ctx, const cli_args *args);
int cli_group_join(cli_ctx *ctx, const cli_args *args);
int cli_group_list(cli_ctx *ctx, const cli_args *args);
int cli_group_show(cli_ctx *ctx, const cli_args *args);
int cli_group_delete(cli_ctx *ctx, const cli_args *args);
int cli_group_name_check(cli_ctx *ctx, const cli_args *args);

int cli_endpoint_create_check(cli_ctx *ctx, const cli_args *args);
int cli_endpoint_create(cli_ctx *ctx, const cli_args *args);
int cli_endpoint_list(cli_ctx *ctx, const cli_args *args);
int cli_endpoint_show(cli_ctx *ctx, const cli_args *args);
int cli_endpoint_delete(cli_ctx *ctx, const cli_args *args);
extern const cli_opt cli_endpoint_remove_opts[];
int cli_endpoint_remove_check(cli_ctx *ctx, const cli_args *args);
int cli_endpoint_remove(cli_ctx *ctx, const cli_args *args);

int cli_sync(cli_ctx *ctx, const cli_args *args);

int cli_status(cli_ctx *ctx, const cli_args *args);

extern const cli_opt cli_tier_opts[];
extern const cli_opt cli_recall_opts[];
extern const cli_opt cli_heat_opts[];
int cli_paths_check(cli_ctx *ctx, const cli_args *args);
int cli_tier_check(cli_ctx *ctx, const cli_args *args);
int cli_tier(cli_ctx *ctx, const cli_args *args);
int cli_recall(cli_ctx *ctx, const cli_args *args);
int cli_heat(cli_ctx *ctx, const cli_args *args);
int cli_file(cli_ctx *ctx, const cli_args *args);

/* ---- sync.c and watch.c ---- */

/* One of this server's endpoints, opened. */
typedef struct cli_target {
    char *group_name;
    afs_group *group;
    afs_endpoint *ep;
    afs_endpoint_options opts;
    bool errors_shown;      /* --watch: list per-item errors only when their number changes */
    uint64_t errors_shown_count;
} cli_target;

/* Open this server's endpoints: of --group, or of every group it knows.
 * None is an error (exit 6) unless `allow_none`. Returns an exit code; what
 * could be opened is in *out even when some failed. */
int cli_targets_open(cli_ctx *ctx, const cli_args *args, bool allow_none, cli_target **out,
                     size_t *count);
void cli_targets_close(cli_target *t, size_t count);

/* Run one session of `t`, print its result (a line, or a JSON object when
 * `json_line`), and return its exit code. */
int cli_sync_one(cli_ctx *ctx, cli_target *t, uint32_t flags, bool json_line,
                 afs_sync_result *result);

int cli_sync_check(cli_ctx *ctx, const cli_args *args);

/* A session's counters as JSON members of the open object; as a summary line. */
void cli_result_json(cli_ctx *ctx, const afs_sync_result *r);
void cli_result_summary(const afs_sync_result *r, char *line, size_t cap);

/* The endpoint's per-item errors (an empty list, after a warning, if they cannot be read). */
int cli_item_errors_get(afs_endpoint *ep, afs_item_error ***errs, size_t *n);
/* Per-item errors as a JSON array on ctx->gen, or up to `max` lines. */
void cli_item_errors_print(cli_ctx *ctx, afs_item_error *const *errs, size_t n, bool json,
                           size_t max);

/* Combine exit codes of several sessions: the most severe wins. */
int cli_exit_worst(int a, int b);

/* One tiering pass of `t` (afs_tier_pass), its result printed as a line, or
 * as a JSON object (emitted at once when `json_line`); *next_s gets the
 * seconds until the next pass. Returns an exit code. */
int cli_tier_pass_one(cli_ctx *ctx, cli_target *t, uint32_t flags, bool json_line,
                      uint32_t *next_s);

/* Tiering and recall statistics, provisioning: status lines or JSON members. */
void cli_tier_status_json(cli_ctx *ctx, cli_target *t);
void cli_tier_status_text(cli_target *t);

/* ---- recallhost.c ---- */

/*
 * Warn on stderr ("afs: warning: no recall host is active ...") when `ep`
 * has cloud tiering on and no recall host (afs-hsmd) serves ctx->svc, so
 * that reads of its placeholders return zeros. Prints at most once per
 * process, whatever the endpoint; nothing for an endpoint without tiering,
 * a NULL `ep` or no open service. Never fails the command (an unreadable
 * state is a warning too) and leaves no error set. Returns true if it
 * printed. For `afs status` and `afs file` (before showing a file's state).
 */
bool cli_recall_host_warn(cli_ctx *ctx, afs_endpoint *ep);

/* The --watch loop. */
int cli_watch(cli_ctx *ctx, const cli_args *args, cli_target *t, size_t count);

#endif /* AFS_CLI_H */

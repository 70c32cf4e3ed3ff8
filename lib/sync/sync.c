/*
 * One sync session of a server endpoint (docs/sync.md#sessions): lock,
 * local change detection, cloud change detection, renames, plan, safety
 * net, apply, record.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "../core/json.h"
#include "../service/service_internal.h"
#include "../tier/tier_internal.h"
#include "apply.h"
#include "group_internal.h"
#include "prune.h"
#include "rename.h"
#include "retry.h"
#include "scan_cloud.h"
#include "state.h"
#include "walk.h"

#define KEY_CURSOR "journal_cursor"
#define KEY_LAST_FULL "last_full_scan_ns"
#define KEY_INITIAL_DONE "initial_sync_done"
#define KEY_LAST_RESULT "last_result"
/* Set before a session's first effect, cleared once all its effects are
 * journaled and recorded: still set at the start of a session means the
 * last one stopped midway (a crash), with effects the state and the
 * journal may not know. */
#define KEY_IN_PROGRESS "session_in_progress"

int afs_sync_options_init(afs_sync_options *opts, unsigned int version)
{
    static const afs_sync_options defaults = AFS_SYNC_OPTIONS_INIT;
    return afs__options_init(&afs__vs_sync_options, opts, &defaults, version,
                             "afs_sync_options_init");
}

/* One session per endpoint at a time, across processes. */
static int lock_endpoint(afs_endpoint *ep, int *fd)
{
    char *path = afs__sprintf("%s/endpoints/%s.db.lock",
                              afs__service_state_dir(ep->group->svc), ep->id);
    int rc = 0;
    if (!path)
        return AFS_ENOMEM;
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (*fd < 0) {
        rc = afs__error_errno(errno, "open %s", path);
    } else if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        rc = errno == EWOULDBLOCK
                 ? afs__error_set(AFS_EBUSY, "another sync session of server endpoint %s is "
                                  "running", ep->path)
                 : afs__error_errno(errno, "lock %s", path);
        close(*fd);
        *fd = -1;
    }
    free(path);
    return rc;
}

static const char *const result_keys[] = {
    "files_uploaded", "bytes_uploaded", "files_downloaded", "bytes_downloaded",
    "dirs_created_cloud", "dirs_created_local", "deleted_cloud", "deleted_local",
    "renamed_cloud", "renamed_local", "metadata_updates", "adopted", "conflicts",
    "item_errors", "skipped",
};

static uint64_t *result_field(afs_sync_result *r, size_t i)
{
    uint64_t *fields[] = {
        &r->files_uploaded, &r->bytes_uploaded, &r->files_downloaded, &r->bytes_downloaded,
        &r->dirs_created_cloud, &r->dirs_created_local, &r->deleted_cloud, &r->deleted_local,
        &r->renamed_cloud, &r->renamed_local, &r->metadata_updates, &r->adopted, &r->conflicts,
        &r->item_errors, &r->skipped,
    };
    return fields[i];
}

static int save_result(afs_db *db, afs_sync_result *r)
{
    afs__json *j = afs__json_new();
    char *doc = NULL;
    int rc;
    if (!j)
        return AFS_ENOMEM;
    afs__json_open_map(j);
    afs__json_key_int(j, "result", r->result);
    afs__json_key_int(j, "started_ns", r->started_ns);
    afs__json_key_int(j, "finished_ns", r->finished_ns);
    afs__json_key_int(j, "full_cloud_scan", r->full_cloud_scan);
    for (size_t i = 0; i < AFS__ARRAY_LEN(result_keys); i++)
        afs__json_key_int(j, result_keys[i], (int64_t)*result_field(r, i));
    afs__json_close_map(j);
    if ((rc = afs__json_finish(j, &doc, NULL)) == 0)
        rc = afs__state_set_text(db, KEY_LAST_RESULT, doc);
    afs__json_free(j);
    free(doc);
    return rc;
}

int afs_endpoint_last_result(afs_endpoint *endpoint, afs_sync_result *out)
{
    char *doc = NULL;
    yajl_val v = NULL;
    int64_t n;
    int rc;
    if (!endpoint || !out)
        return afs__error_set(AFS_EINVAL, "afs_endpoint_last_result: endpoint and out are "
                              "required");
    if ((rc = afs__vstruct_check(&afs__vs_sync_result, out->version,
                                 "afs_endpoint_last_result")) != 0)
        return rc;
    if ((rc = afs__state_get_text(endpoint->state, KEY_LAST_RESULT, &doc)) != 0)
        return rc;
    if (!doc)
        return afs__error_set(AFS_ENOTFOUND, "server endpoint %s has not finished a sync "
                              "session yet", endpoint->path);
    rc = afs__json_parse(doc, strlen(doc), "last sync result", &v);
    free(doc);
    if (rc != 0)
        return rc;
    {
        afs_sync_result r = AFS_SYNC_RESULT_INIT;
        if (afs__json_get_int(v, "result", &n) == 0)
            r.result = (int)n;
        afs__json_get_int(v, "started_ns", &r.started_ns);
        afs__json_get_int(v, "finished_ns", &r.finished_ns);
        if (afs__json_get_int(v, "full_cloud_scan", &n) == 0)
            r.full_cloud_scan = (uint32_t)n;
        for (size_t i = 0; i < AFS__ARRAY_LEN(result_keys); i++)
            if (afs__json_get_int(v, result_keys[i], &n) == 0)
                *result_field(&r, i) = (uint64_t)n;
        /* Only the fields of the caller's version. */
        afs__vstruct_write(&afs__vs_sync_result, out, &r, "afs_endpoint_last_result");
    }
    yajl_tree_free(v);
    return 0;
}

int afs_endpoint_errors(afs_endpoint *endpoint, afs_item_error ***out, size_t *count)
{
    if (out)
        *out = NULL;
    if (count)
        *count = 0;
    if (!endpoint || !out || !count)
        return afs__error_set(AFS_EINVAL, "afs_endpoint_errors: endpoint, out and count required");
    return afs__state_list_errors(endpoint->state, out, count);
}

/* ---- provisioning (reference: "Provisioning steps") ---- */

static void provisioning_step(afs_db *db, const char *step, uint32_t status, uint32_t percent,
                              int error)
{
    char key[64];
    int64_t started = 0;
    snprintf(key, sizeof(key), "prov_%s_started", step);
    afs__state_get_int(db, key, 0, &started);
    if (!started && status != AFS_PROVISIONING_NOT_STARTED)
        afs__state_set_int(db, key, afs__now_ns());
    if (status == AFS_PROVISIONING_READY_SYNC_FUNCTIONAL || status == AFS_PROVISIONING_ERROR) {
        snprintf(key, sizeof(key), "prov_%s_finished", step);
        afs__state_set_int(db, key, afs__now_ns());
    }
    snprintf(key, sizeof(key), "prov_%s_status", step);
    afs__state_set_int(db, key, status);
    snprintf(key, sizeof(key), "prov_%s_percent", step);
    afs__state_set_int(db, key, percent);
    snprintf(key, sizeof(key), "prov_%s_error", step);
    afs__state_set_int(db, key, error);
}

static void read_step(afs_db *db, const char *step, afs_provisioning_step *out)
{
    char key[64];
    int64_t v;
    snprintf(key, sizeof(key), "prov_%s_status", step);
    afs__state_get_int(db, key, 0, &v);
    out->status = (uint32_t)v;
    snprintf(key, sizeof(key), "prov_%s_percent", step);
    afs__state_get_int(db, key, 0, &v);
    out->percent = (uint32_t)v;
    snprintf(key, sizeof(key), "prov_%s_started", step);
    afs__state_get_int(db, key, 0, &out->started_ns);
    snprintf(key, sizeof(key), "prov_%s_finished", step);
    afs__state_get_int(db, key, 0, &out->finished_ns);
    snprintf(key, sizeof(key), "prov_%s_error", step);
    afs__state_get_int(db, key, 0, &v);
    out->error = (int)v;
}

int afs_endpoint_provisioning(afs_endpoint *endpoint, afs_provisioning *out)
{
    afs_provisioning p;
    int64_t done = 0;
    int rc;
    if (!endpoint || !out)
        return afs__error_set(AFS_EINVAL, "afs_endpoint_provisioning: endpoint and out are "
                              "required");
    if ((rc = afs__vstruct_check(&afs__vs_provisioning, out->version,
                                 "afs_endpoint_provisioning")) != 0)
        return rc;
    /* Filled whole here; only out->version's bytes are written. */
    memset(&p, 0, sizeof(p));
    p.version = AFS_PROVISIONING_VERSION;
    if ((rc = afs__state_get_int(endpoint->state, KEY_INITIAL_DONE, 0, &done)) != 0)
        return rc;
    read_step(endpoint->state, "ns", &p.namespace_download);
    read_step(endpoint->state, "content", &p.content_download);
    if (done)
        p.status = AFS_PROVISIONING_READY_SYNC_FUNCTIONAL;
    else if (p.namespace_download.status == AFS_PROVISIONING_ERROR ||
             p.content_download.status == AFS_PROVISIONING_ERROR)
        p.status = AFS_PROVISIONING_ERROR;
    else if (p.namespace_download.status == AFS_PROVISIONING_READY_SYNC_FUNCTIONAL)
        /* The namespace is there, readable through recall; changes sync
         * once the session (and its content download) finishes. */
        p.status = AFS_PROVISIONING_READY_SYNC_NOT_FUNCTIONAL;
    else
        p.status = p.namespace_download.status;
    return afs__vstruct_write(&afs__vs_provisioning, out, &p, "afs_endpoint_provisioning");
}

/* ---- the content step of "namespace then content" ---- */

static int cmp_newest(const void *x, const void *y)
{
    const afs__item *a = *(afs__item *const *)x, *b = *(afs__item *const *)y;
    if (a->cloud.mtime_ns != b->cloud.mtime_ns)
        return a->cloud.mtime_ns > b->cloud.mtime_ns ? -1 : 1;
    return strcmp(a->path, b->path);
}

/* Free space of the endpoint's volume in percent, or -1 when unknown. */
static int free_percent(afs__session *s)
{
    afs_fs_volume v;
    memset(&v, 0, sizeof(v));
    if (!s->fsops->volume || s->fsops->volume(s->fsctx, s->root, &v) != 0 || !v.total_bytes) {
        afs_error_clear();
        return -1;
    }
    return (int)(v.free_bytes * 100 / v.total_bytes);
}

/*
 * Without tiering nothing recalls a placeholder on access, so the files
 * the content step leaves for want of space are per-item errors saying so
 * (with tiering they are tiered files, readable through recall).
 */
static void left_for_space(afs__session *s, afs__item **left, size_t n, int free_pct,
                           int floor)
{
    if (s->tiering)
        return;
    for (size_t i = 0; i < n; i++) {
        afs__error_set(AFS_ENOSPC, "%s/%s is not downloaded yet: the volume has %d%% free, "
                       "below the %d%% the content download keeps; it stays a placeholder "
                       "(it reads as zeros without a recall host) until a session finds "
                       "space, or until it is recalled", s->root, left[i]->path,
                       free_pct, floor);
        afs__session_item_error(s, left[i]->path, AFS_ENOSPC);
    }
}

/*
 * Recall the placeholders the namespace download made, newest modified
 * first, until all are local or free space drops below 10% (or below the
 * tiering policy's target); the rest stay placeholders (reference:
 * "Namespace first, then content"). Placeholders an earlier, interrupted
 * session left are recalled too: without that, an endpoint with tiering off
 * kept them for good and its files read as zeros.
 */
static int content_phase(afs__session *s, afs_endpoint *ep, const afs_sync_options *o,
                         afs_sync_result *r)
{
    afs__item **list;
    size_t n = 0;
    afs_sync_progress p;
    afs_db *db = ep->state;
    int floor = 10, rc = 0;

    if (s->tiering && (int)ep->opts.tiering_free_space_percent > floor)
        floor = (int)ep->opts.tiering_free_space_percent;
    if (!(list = afs__arena_alloc(&s->arena, (s->nall + 1) * sizeof(*list))))
        return AFS_ENOMEM;
    for (size_t i = 0; i < s->nall; i++) {
        afs__item *it = s->all[i];
        if (it->made_placeholder || (it->local_placeholder && it->local.exists &&
                                     it->local.type == AFS_TYPE_FILE))
            list[n++] = it;
    }
    qsort(list, n, sizeof(*list), cmp_newest);
    provisioning_step(db, "content", AFS_PROVISIONING_IN_PROGRESS, 0, 0);
    memset(&p, 0, sizeof(p));
    p.version = AFS_SYNC_PROGRESS_VERSION;
    p.phase = AFS_SYNC_PHASE_CONTENT;
    p.items_total = n;
    for (size_t i = 0; i < n; i++)
        p.bytes_total += list[i]->cloud.size;
    for (size_t i = 0; i < n && rc == 0; i++) {
        int fp = free_percent(s);
        if (fp >= 0 && fp < floor) {
            afs__log(AFS_LOG_INFO, "sync: %d%% free on the volume of %s: %zu files stay tiered",
                     fp, s->root, n - i);
            left_for_space(s, list + i, n - i, fp, floor);
            break;
        }
        if (o->progress && (rc = o->progress(&p, o->progress_payload)) != 0) {
            afs__error_set(rc, "sync cancelled by the progress callback (it returned %d); the "
                           "files already recalled are kept", rc);
            break;
        }
        rc = afs_tier_recall(ep, list[i]->path, NULL, NULL);
        if (rc == AFS_ENOSPC) {
            afs_error_clear();
            rc = 0;
            left_for_space(s, list + i, n - i, 0, floor);
            break;
        }
        if (rc != 0) {
            afs__session_item_error(s, list[i]->path, rc);
            rc = 0;
        } else {
            r->files_downloaded++;
            r->bytes_downloaded += list[i]->cloud.size;
            p.bytes_done += list[i]->cloud.size;
        }
        p.items_done++;
        if ((p.items_done % 64) == 0)
            provisioning_step(db, "content", AFS_PROVISIONING_IN_PROGRESS,
                              (uint32_t)(p.items_done * 100 / n), 0);
    }
    provisioning_step(db, "content", rc == 0 ? AFS_PROVISIONING_READY_SYNC_FUNCTIONAL
                                             : AFS_PROVISIONING_ERROR,
                      n ? (uint32_t)(p.items_done * 100 / n) : 100, rc > 0 ? 0 : rc);
    return rc;
}

/* When each step of a session ended, for the debug log (docs/benchmarks.md). */
enum { AT_START, AT_LOAD, AT_SCAN, AT_CLOUD, AT_PLAN, AT_APPLY, AT_COMMIT, AT_COUNT };

static void log_times(const int64_t at[AT_COUNT])
{
    int64_t last = at[AT_START];
    double d[AT_COUNT];
    for (int i = 1; i < AT_COUNT; i++) {
        /* A step the session did not reach takes no time. */
        int64_t t = at[i] ? at[i] : last;
        d[i] = (double)(t - (i == AT_SCAN ? at[AT_START] : last)) / 1e9;
        if (i != AT_LOAD)
            last = t;
    }
    afs__log(AFS_LOG_DEBUG, "sync: session steps: local scan %.3f s (base loaded at %.3f s), "
             "cloud changes %.3f s, reconcile %.3f s, apply %.3f s, final commit %.3f s",
             d[AT_SCAN], d[AT_LOAD], d[AT_CLOUD], d[AT_PLAN], d[AT_APPLY], d[AT_COMMIT]);
}

static bool any_placeholder(afs__session *s)
{
    for (size_t i = 0; i < s->nall; i++)
        if (s->all[i]->local_placeholder)
            return true;
    return false;
}

/*
 * The endpoint's definition must still be in the share: another host may
 * have removed it from the group (afs_group_remove_endpoint, for a server
 * taken for gone). Then nothing is synced, so nothing of this server flows
 * into a group that no longer lists it, and nothing is deleted. One stat.
 */
static int check_still_listed(afs_endpoint *ep, afs_storage *s)
{
    afs_storage_entry e;
    char *path = afs__sprintf("%s/%s.json", AFS__ENDPOINT_DIR, ep->id);
    int rc;

    if (!path)
        return AFS_ENOMEM;
    rc = afs__storage_stat(s, path, &e, true);
    if (rc == AFS_ENOTFOUND)
        rc = afs__error_set(AFS_ENOTFOUND, "server endpoint %s is no longer in sync group "
                            "\"%s\": its definition %s is gone from the share (another host "
                            "removed it from the group, or the share lost its %s/); nothing was "
                            "changed. Delete the endpoint here (afs_endpoint_delete; files "
                            "stay) and create it again to sync this path", ep->path,
                            ep->group->name, path, AFS_RESERVED_NAME);
    free(path);
    return rc;
}

static int progress_phase(const afs_sync_options *o, afs_sync_progress *p, uint32_t phase)
{
    int rc;
    p->phase = phase;
    rc = o->progress ? o->progress(p, o->progress_payload) : 0;
    if (rc != 0)
        afs__error_set(rc, "sync cancelled by the progress callback (it returned %d)", rc);
    return rc;
}

int afs_endpoint_sync(afs_endpoint *endpoint, const afs_sync_options *opts,
                      afs_sync_result *result)
{
    afs_sync_options o = AFS_SYNC_OPTIONS_INIT;
    afs_sync_result r = AFS_SYNC_RESULT_INIT;
    afs_sync_progress prog;
    afs__session s;
    afs__apply a;
    afs__plan plan;
    afs__walk *walk = NULL;
    afs_db *db;
    const char *sname, *sid;
    int64_t cursor = 0, last_full = 0, initial_done = 0, joined = 0, interrupted = 0;
    int64_t name_clash = 0;
    char own_name[AFS_NAME_MAX + 16];
    uint32_t initial_mode = AFS_INITIAL_DOWNLOAD_DEFAULT;
    uint64_t new_cursor = 0, head = 0;
    bool full, gap = false, applying = false, state_damaged = false;
    int64_t at[AT_COUNT] = { 0 };
    afs_storage *retrying = NULL;
    int lockfd = -1, rc, src;

    if (!endpoint)
        return afs__error_set(AFS_EINVAL, "afs_endpoint_sync: endpoint is NULL");
    /* Only the bytes of each caller struct's version (docs/api-conventions.md). */
    if ((rc = afs__vstruct_read(&afs__vs_sync_options, &o, opts, "afs_endpoint_sync")) != 0)
        return rc;
    if (result && (rc = afs__vstruct_check(&afs__vs_sync_result, result->version,
                                           "afs_endpoint_sync")) != 0)
        return rc;
    if ((rc = afs__service_server(endpoint->group->svc, &sname, &sid)) != 0)
        return rc;
    if ((rc = lock_endpoint(endpoint, &lockfd)) != 0)
        return rc;

    db = endpoint->state;
    memset(&s, 0, sizeof(s));
    memset(&a, 0, sizeof(a));
    memset(&prog, 0, sizeof(prog));
    prog.version = AFS_SYNC_PROGRESS_VERSION;
    r.started_ns = afs__now_ns();
    s.fs = afs__service_fs(endpoint->group->svc);
    afs_fs_ops_get(s.fs, &s.fsops, &s.fsctx);
    s.root = endpoint->path;
    /* Every storage call of the session retries transient failures. */
    if ((rc = afs__retry_storage_new(&retrying, endpoint->group->storage,
                                     &afs__retry_default)) != 0) {
        close(lockfd);
        return rc;
    }
    s.storage = retrying;
    s.exclude = endpoint->opts.exclude;
    s.exclude_count = endpoint->opts.exclude_count;

    if ((rc = afs__state_get_int(db, KEY_CURSOR, 0, &cursor)) != 0 ||
        (rc = afs__state_get_int(db, KEY_LAST_FULL, 0, &last_full)) != 0 ||
        (rc = afs__state_get_int(db, KEY_INITIAL_DONE, 0, &initial_done)) != 0 ||
        (rc = afs__state_get_int(db, "joined_existing", 0, &joined)) != 0 ||
        (rc = afs__state_get_int(db, KEY_IN_PROGRESS, 0, &interrupted)) != 0 ||
        (rc = afs__state_get_int(db, AFS__KEY_NAME_CLASH, 0, &name_clash)) != 0) {
        state_damaged = rc == AFS_ECORRUPT;
        goto done;
    }
    /* Before anything is scanned or changed; the result is kept as for any
     * session that stops early. */
    if ((rc = check_still_listed(endpoint, s.storage)) != 0)
        goto done;
    s.authoritative = !initial_done &&
                      endpoint->opts.initial_sync == AFS_INITIAL_SYNC_AUTHORITATIVE_UPLOAD;
    s.ep = endpoint;
    s.tiering = endpoint->opts.tiering_enabled != 0;
    s.probe_markers = s.fsops->marker_get != NULL;
    s.proactive = endpoint->opts.local_cache_mode == AFS_CACHE_DOWNLOAD_NEW_AND_MODIFIED;
    s.min_placeholder_size = endpoint->opts.tiering_min_file_size;
    if (joined && !initial_done) {
        /* A later endpoint's initial download (reference: "Initial download
         * section"); the default follows the tiering setting. */
        initial_mode = endpoint->opts.initial_download;
        if (initial_mode == AFS_INITIAL_DOWNLOAD_DEFAULT)
            initial_mode = s.tiering ? AFS_INITIAL_DOWNLOAD_NAMESPACE_ONLY
                                     : AFS_INITIAL_DOWNLOAD_NAMESPACE_THEN_CONTENT;
    }
    s.placeholders_for_new = (s.tiering && !s.proactive) ||
                             initial_mode == AFS_INITIAL_DOWNLOAD_NAMESPACE_ONLY ||
                             initial_mode == AFS_INITIAL_DOWNLOAD_NAMESPACE_THEN_CONTENT;
    if (!initial_done)
        provisioning_step(db, "ns", AFS_PROVISIONING_IN_PROGRESS, 0, 0);
    if (s.tiering && afs__tier_heat_begin(endpoint, &s.heat) != 0) {
        afs__log(AFS_LOG_WARN, "sync: heat store unavailable (%s); tiering uses file times "
                 "only this session", afs_error_last());
        afs_error_clear();
        s.heat = NULL;
    }

    /* Local change detection. */
    if ((rc = progress_phase(&o, &prog, AFS_SYNC_PHASE_SCAN_LOCAL)) != 0)
        goto done;
    /* The walk runs on its own threads while the base loads. */
    at[AT_START] = afs__now_ns();
    if ((rc = afs__scan_local_begin(&s, &walk)) == 0) {
        int lrc = afs__state_load(db, &s, NULL);
        at[AT_LOAD] = afs__now_ns();
        rc = afs__walk_finish(walk, lrc == 0);
        if (lrc != 0)
            rc = lrc;
        /* A damaged state file (its whole content is read only here when
         * it was closed cleanly, docs/state-store.md): nothing has changed
         * yet, and nothing is written to it. */
        state_damaged = lrc == AFS_ECORRUPT;
    }
    at[AT_SCAN] = afs__now_ns();
    if (s.heat) {
        int hrc = afs__tier_heat_end(s.heat, rc == 0 && s.error_count == 0);
        s.heat = NULL;
        if (rc == 0 && hrc != 0)
            rc = hrc;
    }
    if (rc == AFS_ENOTFOUND || rc == AFS_ENOTDIR) {
        rc = afs__error_set(AFS_ESAFETY, "the server endpoint root %s is missing or not a "
                            "directory (is its volume unmounted?); nothing was changed",
                            endpoint->path);
        goto done;
    }
    if (rc != 0)
        goto done;

    /* Cloud change detection: the journal, or a full enumeration when asked,
     * at its interval, for the first session, after an interrupted one
     * (whose effects in the share its base does not record), or when the
     * journal has a gap. */
    if ((rc = progress_phase(&o, &prog, AFS_SYNC_PHASE_SCAN_CLOUD)) != 0)
        goto done;
    full = (o.flags & AFS_SYNC_FULL_CLOUD_SCAN) || !initial_done || interrupted ||
           r.started_ns - last_full >=
               (int64_t)endpoint->opts.change_detection_interval_s * 1000000000;
    if (!full) {
        rc = afs__scan_cloud_journal(&s, (uint64_t)cursor, &new_cursor, &gap);
        if (rc != 0)
            goto done;
        full = gap;
    }
    if (!full) {
        /* Items that failed last session are retried knowing the share as
         * it is now: the journal records about them were consumed then. */
        afs_item_error **errs = NULL;
        size_t nerr = 0;
        if ((rc = afs__state_list_errors(db, &errs, &nerr)) != 0)
            goto done;
        for (size_t i = 0; i < nerr; i++)
            afs__scan_cloud_recheck(&s, errs[i]->path);
        afs_item_errors_free(errs, nerr);
    }
    if (full) {
        /* Take the journal head first: what is journaled during the walk is
         * read again next time, never skipped. */
        afs__journal_head(s.storage, (uint64_t)cursor, &head);
        afs__map_free(&s.journal_paths);
        if ((rc = afs__scan_cloud_full(&s)) != 0)
            goto done;
        new_cursor = head;
        r.full_cloud_scan = 1;
    }
    afs__plan_fill_unknown(&s);
    at[AT_CLOUD] = afs__now_ns();

    /* Apply state: from here on effects happen and are recorded. */
    a.s = &s;
    a.db = db;
    /* In a group joined before two servers of one name were refused, this
     * server's conflict copies carry its id's start too (lib/sync/prune.c
     * finds the clash). */
    if (name_clash) {
        snprintf(own_name, sizeof(own_name), "%s(%.8s)", sname, sid);
        a.server_name = own_name;
    } else {
        a.server_name = sname;
    }
    a.endpoint_id = endpoint->id;
    a.journal_seq = new_cursor;
    a.journal_read = new_cursor;
    a.res = &r;
    a.progress = o.progress;
    a.progress_payload = o.progress_payload;
    if (!interrupted && (rc = afs__state_set_int(db, KEY_IN_PROGRESS, 1)) != 0)
        goto done;
    a.threads = o.threads; /* 0: afs__apply_begin asks the storage */
    if ((rc = afs__apply_begin(&a)) != 0)
        goto done;
    applying = true;
    /* The interrupted session may have changed the share without a journal
     * record: the other endpoints must enumerate it once to learn that. */
    if (interrupted && (rc = afs__apply_journal(&a, AFS__JOP_RESCAN, "", NULL, 0, 0, 0, NULL,
                                                NULL)) != 0)
        goto done;

    if ((rc = progress_phase(&o, &prog, AFS_SYNC_PHASE_RECONCILE)) != 0)
        goto done;
    if (!s.authoritative && (rc = afs__renames_apply(&a)) != 0)
        goto done;
    if ((rc = afs__plan_build(&s, s.authoritative, &plan)) != 0)
        goto done;
    if ((rc = afs__plan_safety(&plan, endpoint->opts.safety_delete_percent,
                               (o.flags & AFS_SYNC_FORCE) != 0)) != 0)
        goto done;
    a.prog = prog;
    at[AT_PLAN] = afs__now_ns();
    if ((rc = afs__apply_run(&a, &plan)) != 0)
        goto done;
    at[AT_APPLY] = afs__now_ns();
    if (!initial_done)
        provisioning_step(db, "ns", AFS_PROVISIONING_READY_SYNC_FUNCTIONAL, 100, 0);
    /* Without tiering, namespace then content never means to keep a
     * placeholder: one left by a content step that ran out of space is
     * recalled by a later session. */
    if (initial_mode == AFS_INITIAL_DOWNLOAD_NAMESPACE_THEN_CONTENT ||
        (!s.tiering && joined &&
         (endpoint->opts.initial_download == AFS_INITIAL_DOWNLOAD_NAMESPACE_THEN_CONTENT ||
          endpoint->opts.initial_download == AFS_INITIAL_DOWNLOAD_DEFAULT) &&
         any_placeholder(&s))) {
        if ((rc = afs__apply_flush(&a)) != 0)
            goto done;
        if ((rc = content_phase(&s, endpoint, &o, &r)) != 0)
            goto done;
    }

    /* The last batch, then one transaction for the rest of the state and
     * the published cursor, committed after one storage barrier that covers
     * the batch's name and the cursor record's. */
    if ((rc = afs__apply_flush_journal(&a)) != 0)
        goto done;
    /* The cursor moves past what this session read, and past its own batches
     * only where no other writer's batch came in between (that one must be
     * read next time; our own are re-read harmlessly). */
    if ((rc = afs__state_set_int(db, KEY_CURSOR, (int64_t)a.journal_read)) != 0)
        goto done;
    if (full && (rc = afs__state_set_int(db, KEY_LAST_FULL, r.started_ns)) != 0)
        goto done;
    if (!initial_done && (rc = afs__state_set_int(db, KEY_INITIAL_DONE, 1)) != 0)
        goto done;
    afs__journal_publish_session(endpoint, s.storage, a.journal_read);
    if ((rc = afs__apply_flush(&a)) != 0)
        goto done;
    at[AT_COMMIT] = afs__now_ns();
    afs__journal_maintain(endpoint, s.storage, a.journal_read); /* maybe prune */
done:
    if (!initial_done && rc != 0 && rc != AFS_EBUSY && !state_damaged)
        provisioning_step(db, "ns", AFS_PROVISIONING_ERROR, 0, rc);
    if (applying) {
        src = afs__apply_end(&a);
        if (rc == 0)
            rc = src;
        /* Every effect is journaled and recorded (or the session never got to
         * one): the next session needs no recovery. */
        if (src == 0 && !a.journal_failed)
            afs__state_set_int(db, KEY_IN_PROGRESS, 0);
    }
    r.result = rc;
    r.item_errors = s.error_count;
    r.skipped = s.skipped;
    r.finished_ns = afs__now_ns();
    if (rc != AFS_EBUSY && !state_damaged) {
        /* Keep the per-item errors and the result even when the session
         * stopped early: they say why. */
        char saved[512];
        snprintf(saved, sizeof(saved), "%s", afs_error_last());
        src = afs__db_begin(db);
        if (src == 0)
            src = afs__state_save_errors(db, s.errors, r.finished_ns);
        if (src == 0)
            src = save_result(db, &r);
        if (src == 0)
            src = afs__db_commit(db);
        else
            afs__db_rollback(db);
        if (rc != 0)
            afs_error_set_str(rc, saved);
        else if (src != 0)
            rc = src;
    }
    if (at[AT_START])
        log_times(at);
    if (o.progress && rc == 0) {
        prog.phase = AFS_SYNC_PHASE_DONE;
        prog.items_done = prog.items_total = a.prog.items_total;
        prog.bytes_done = prog.bytes_total = a.prog.bytes_total;
        o.progress(&prog, o.progress_payload);
    }
    if (result) /* checked above: cannot fail */
        afs__vstruct_write(&afs__vs_sync_result, result, &r, "afs_endpoint_sync");
    afs__map_free(&s.items);
    free(s.all);
    afs__map_free(&s.journal_paths);
    afs__arena_free(&s.arena);
    afs_storage_free(retrying);
    if (lockfd >= 0)
        close(lockfd);
    return rc;
}

/*
 * The cloud change journal's pruning (docs/sync.md#change-detection): the
 * endpoints' published cursors, the floor they allow, the stale limit, a
 * reader that loses batches to a concurrent pruner, and damaged floors.
 * Every case checks what a user would: the files on every server, the
 * batches left in the share, the floor file.
 */
#include <dirent.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/internal.h"
#include "faultscheme.h"
#include "sync/group_internal.h"
#include "sync/journal.h"
#include "sync/prune.h"
#include "sync/state.h"

/* ---- the log, captured ---- */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_buf[1 << 16];
static size_t log_len;

static void log_fn(int level, const char *message, void *payload)
{
    size_t n = strlen(message);
    (void)level;
    (void)payload;
    pthread_mutex_lock(&log_lock);
    if (log_len + n + 2 < sizeof(log_buf)) {
        memcpy(log_buf + log_len, message, n);
        log_len += n;
        log_buf[log_len++] = '\n';
        log_buf[log_len] = '\0';
    }
    pthread_mutex_unlock(&log_lock);
}

static void log_start(void)
{
    pthread_mutex_lock(&log_lock);
    log_len = 0;
    log_buf[0] = '\0';
    pthread_mutex_unlock(&log_lock);
    afs_log_set(log_fn, AFS_LOG_INFO, NULL);
}

static void assert_logged(const char *needle)
{
    if (!strstr(log_buf, needle))
        fail_msg("the log does not say \"%s\"; it holds:\n%s", needle, log_buf);
}

/* ---- fixtures ---- */

static int setup(void **state)
{
    afs_test_fenv *fe = calloc(1, sizeof(*fe));
    char *root = afs_test_sandbox("sync_journal");
    afs_test_fenv_init(fe, root);
    free(root);
    *state = fe;
    return 0;
}

static int teardown(void **state)
{
    afs_test_fenv *fe = *state;
    afs_log_set(NULL, AFS_LOG_INFO, NULL);
    if (!getenv("AFS_TEST_KEEP"))
        afs_test_rmtree(fe->env.root);
    afs_test_fenv_free(fe);
    free(fe);
    afs_error_clear();
    return 0;
}

/* ---- what the share holds ---- */

typedef struct jstate {
    size_t count;  /* batches */
    uint64_t lo, hi; /* lowest and highest batch number (0: none) */
    uint64_t floor;  /* the floor file's value, 0 if missing */
} jstate;

static void journal_state(const char *share, jstate *j)
{
    char *dir = afs_test_path(share, ".libafs/journal");
    char *fl = afs_test_path(share, ".libafs/journal-floor");
    char *text = afs_test_read_file(fl, NULL);
    DIR *d = opendir(dir);
    struct dirent *e;

    memset(j, 0, sizeof(*j));
    while (d && (e = readdir(d)) != NULL) {
        uint64_t seq;
        if (strlen(e->d_name) != 20)
            continue;
        seq = strtoull(e->d_name, NULL, 10);
        j->count++;
        if (!j->lo || seq < j->lo)
            j->lo = seq;
        if (seq > j->hi)
            j->hi = seq;
    }
    if (d)
        closedir(d);
    j->floor = text ? strtoull(text, NULL, 10) : 0;
    free(text);
    free(dir);
    free(fl);
}

static char *cursor_file(const char *share, const char *endpoint_id)
{
    char rel[256];
    snprintf(rel, sizeof(rel), ".libafs/endpoints/%s.cursor", endpoint_id);
    return afs_test_path(share, rel);
}

/* The cursor a server endpoint published in the share, -1 if none. */
static int64_t published(const char *share, const char *endpoint_id)
{
    char *path = cursor_file(share, endpoint_id);
    char *doc = afs_test_read_file(path, NULL);
    const char *c = doc ? strstr(doc, "\"cursor\":") : NULL;
    int64_t v = c ? strtoll(c + 9, NULL, 10) : -1;
    free(doc);
    free(path);
    return v;
}

/* The cursor the endpoint keeps for itself. */
static int64_t local_cursor(afs_test_server *s)
{
    int64_t v = -1;
    AFS_ASSERT_OK(afs__state_get_int(s->ep->state, "journal_cursor", 0, &v));
    return v;
}

/* Pretend this endpoint last pruned more than an hour ago. */
static void prune_due(afs_test_server *s)
{
    AFS_ASSERT_OK(afs__state_set_int(s->ep->state, AFS__KEY_PRUNED_NS, 0));
}

static void batch_rel(uint64_t seq, char *buf, size_t cap)
{
    snprintf(buf, cap, ".libafs/journal/%020" PRIu64, seq);
}

static void put_floor(const char *share, const char *text, size_t len)
{
    char *p = afs_test_path(share, ".libafs/journal-floor");
    afs_test_write_file(p, text, len);
    free(p);
}

/* Every batch is at or above the floor, and they run without holes up to the head. */
static void assert_pruned(const jstate *j)
{
    assert_true(j->count > 0);
    assert_true(j->floor >= 1);
    assert_true(j->lo >= j->floor);
    assert_int_equal(j->count, j->hi - j->lo + 1);
    assert_true(j->floor <= j->hi);
}

/* Servers A and B in one group, both synced once (A's base.txt on both). */
static void two_servers(afs_test_fenv *fe, afs_test_server **a, afs_test_server **b)
{
    *a = afs_test_fenv_server(fe, "ServerA");
    *b = afs_test_fenv_server(fe, "ServerB");
    afs_test_put((*a)->data, "base.txt", "base");
    afs_test_fenv_join(fe, *a, NULL);
    afs_test_sync(*a);
    afs_test_fenv_join(fe, *b, NULL);
    afs_test_sync(*b);
    afs_test_assert_file((*b)->data, "base.txt", "base");
}

/* One edit on `s` and a session that prunes, through the journal. */
static void round_of(afs_test_server *s, const char *who, int i)
{
    char name[64], text[64];
    snprintf(name, sizeof(name), "%s-%d.txt", who, i);
    snprintf(text, sizeof(text), "from %s, round %d", who, i);
    afs_test_put(s->data, name, text);
    prune_due(s);
    afs_test_sync(s);
    assert_int_equal(s->last.full_cloud_scan, 0);
}

/* ---- cases ---- */

static void test_sync_journal__pruned_to_the_lowest_published_cursor(void **state)
{
    afs_test_fenv *fe = *state;
    afs_test_env *env = &fe->env;
    afs_test_server *a, *b;
    char name[64];
    jstate j, k;

    two_servers(fe, &a, &b);
    for (int i = 0; i < 12; i++) {
        int64_t pa, pb, low;
        round_of(a, "a", i);
        round_of(b, "b", i);
        assert_int_equal(b->last.files_downloaded, 1);

        /* Each publishes what it applied; the floor is the lowest + 1,
         * never past the newest batch. */
        pa = published(env->share, afs_endpoint_id(a->ep));
        pb = published(env->share, afs_endpoint_id(b->ep));
        assert_int_equal(pa, local_cursor(a));
        assert_int_equal(pb, local_cursor(b));
        low = pa < pb ? pa : pb;
        journal_state(env->share, &j);
        assert_pruned(&j);
        assert_int_equal(j.floor, (uint64_t)low + 1 < j.hi ? (uint64_t)low + 1 : j.hi);
    }
    /* 2 initial sessions and 24 with a change each appended 25 or more
     * batches; only the ones not yet read by both are left. */
    assert_true(j.hi >= 25);
    assert_true(j.count <= 2);
    afs_test_sync(a);
    afs_test_assert_same_tree(a->data, b->data);
    afs_test_assert_same_tree(a->data, env->share);
    afs_test_assert_file(a->data, "b-11.txt", "from b, round 11");

    /* Not due again within the hour: the floor stays, batches accumulate
     * (a pruning costs a listing; once an hour per endpoint is enough). */
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof(name), "late-%d.txt", i);
        afs_test_put(a->data, name, "late");
        afs_test_sync(a);
        afs_test_sync(b);
    }
    journal_state(env->share, &k);
    assert_int_equal(k.floor, j.floor);
    assert_true(k.count >= j.count + 3);
    afs_test_assert_file(b->data, "late-2.txt", "late");
}

static void test_sync_journal__offline_server_past_the_stale_limit_converges(void **state)
{
    afs_test_fenv *fe = *state;
    afs_test_env *env = &fe->env;
    afs_test_server *a, *b;
    uint64_t limit = 0;
    int64_t bcursor;
    char name[64];
    jstate j;

    two_servers(fe, &a, &b);
    afs_test_put(a->data, "shared.txt", "v1");
    afs_test_sync(a);
    afs_test_put(b->data, "b-owned.txt", "b v1");
    afs_test_sync(b);
    afs_test_sync(a);
    afs_test_assert_file(a->data, "b-owned.txt", "b v1");

    /* The default, then a group-wide setting every server sees. */
    AFS_ASSERT_OK(afs_group_journal_stale_limit(b->group, &limit));
    assert_int_equal(limit, AFS_JOURNAL_STALE_LIMIT_DEFAULT_S);
    AFS_ASSERT_CODE(afs_group_set_journal_stale_limit(a->group, AFS_JOURNAL_STALE_LIMIT_MAX_S + 1),
                    AFS_EINVAL);
    AFS_ASSERT_OK(afs_group_set_journal_stale_limit(a->group, 1));
    AFS_ASSERT_OK(afs_group_journal_stale_limit(b->group, &limit));
    assert_int_equal(limit, 1);

    /* B goes offline; its user keeps working. */
    bcursor = published(env->share, afs_endpoint_id(b->ep));
    assert_true(bcursor > 0);
    afs_test_put(b->data, "offline-note.txt", "written while offline");
    afs_test_put(b->data, "b-owned.txt", "b v2, offline");
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof(name), "a-%d.txt", i);
        afs_test_put(a->data, name, "while B was away");
        afs_test_sync(a);
    }
    afs_test_put(a->data, "shared.txt", "v2 from A");
    afs_test_sync(a);

    /* Past the limit, B no longer holds the journal back. */
    usleep(1500 * 1000);
    log_start();
    afs_test_put(a->data, "a-late.txt", "late");
    prune_due(a);
    afs_test_sync(a);
    assert_logged("no longer holds the journal back");
    journal_state(env->share, &j);
    assert_pruned(&j);
    assert_true(j.floor > (uint64_t)bcursor + 1);
    assert_true(j.lo > (uint64_t)bcursor + 1);

    /* B returns: the floor is past its cursor, it enumerates in full, and
     * nothing is lost either way. */
    log_start();
    afs_test_sync(b);
    assert_int_equal(b->last.full_cloud_scan, 1);
    assert_logged("full enumeration needed");
    assert_int_equal(b->last.item_errors, 0);
    afs_test_assert_file(b->data, "shared.txt", "v2 from A");
    afs_test_assert_file(b->data, "a-4.txt", "while B was away");
    afs_test_assert_file(b->data, "a-late.txt", "late");
    afs_test_assert_file(env->share, "offline-note.txt", "written while offline");
    afs_test_assert_file(env->share, "b-owned.txt", "b v2, offline");
    assert_true(published(env->share, afs_endpoint_id(b->ep)) >= (int64_t)j.hi);
    afs_test_sync(a);
    afs_test_assert_file(a->data, "offline-note.txt", "written while offline");
    afs_test_assert_file(a->data, "b-owned.txt", "b v2, offline");
    afs_test_assert_same_tree(a->data, b->data);
    afs_test_assert_same_tree(a->data, env->share);

    /* Back in the group: its next session uses the journal again. */
    afs_test_put(a->data, "after.txt", "after");
    afs_test_sync(a);
    afs_test_sync(b);
    assert_int_equal(b->last.full_cloud_scan, 0);
    afs_test_assert_file(b->data, "after.txt", "after");
}

/* Another server's pruning, run by the storage hook at the first `op` on `path`. */
struct hooked_prune {
    afs_test_server *pruner;
    const char *op;
    char path[64];
    int64_t stale_ns;
    int appends;      /* sessions of the pruner, each with an edit, before it prunes */
    int fired;
    int rc;
    afs__prune_result res;
};

static void prune_at(const char *op, const char *path, void *payload)
{
    struct hooked_prune *h = payload;
    if (h->fired || strcmp(op, h->op) != 0 || strcmp(path, h->path) != 0)
        return;
    h->fired = 1;
    for (int i = 0; i < h->appends; i++) {
        char name[32];
        snprintf(name, sizeof(name), "meanwhile-%d.txt", i);
        afs_test_put(h->pruner->data, name, "meanwhile");
        afs_test_sync(h->pruner);
    }
    h->rc = afs__journal_prune(h->pruner->group, afs_group_storage(h->pruner->group),
                               afs__now_ns(), h->stale_ns, &h->res);
}

static void test_sync_journal__reader_racing_a_pruner_converges(void **state)
{
    afs_test_fenv *fe = *state;
    afs_test_env *env = &fe->env;
    afs_test_server *a, *b;
    struct hooked_prune r;
    int64_t c;
    char name[64];
    jstate j;

    two_servers(fe, &a, &b);
    AFS_ASSERT_OK(afs_group_set_journal_stale_limit(a->group, 1));
    afs_test_sync(b);
    c = local_cursor(b);
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof(name), "race-%d.txt", i);
        afs_test_put(a->data, name, "raced");
        afs_test_sync(a);
    }
    /* B is now stale and A fresh; nobody pruned since B's last session. */
    usleep(1500 * 1000);
    afs_test_put(a->data, "race-late.txt", "late");
    afs_test_sync(a);
    journal_state(env->share, &j);
    assert_true(j.floor <= (uint64_t)c + 1);
    assert_true(j.hi >= (uint64_t)c + 5);

    /* B reads batch c+1, and as it is about to read c+2 the pruner raises
     * the floor and removes both. */
    memset(&r, 0, sizeof(r));
    r.pruner = a;
    r.op = "read";
    batch_rel((uint64_t)c + 2, r.path, sizeof(r.path));
    r.stale_ns = 1000000000LL;
    afs_test_fault_hook(afs_test_fenv_storage_ctl(b), prune_at, &r);
    log_start();
    afs_test_sync(b);
    afs_test_fault_hook(afs_test_fenv_storage_ctl(b), NULL, NULL);
    assert_int_equal(r.fired, 1);
    AFS_ASSERT_OK(r.rc);
    assert_true(r.res.raised);
    assert_true(r.res.floor > (uint64_t)c + 2);
    assert_true(r.res.removed >= 2);
    afs_test_assert_file(b->data, "race-0.txt", "raced");
    afs_test_assert_file(b->data, "race-3.txt", "raced");
    afs_test_assert_file(b->data, "race-late.txt", "late");
    assert_int_equal(b->last.full_cloud_scan, 1);
    assert_int_equal(b->last.item_errors, 0);
    assert_logged("was pruned while it was read");
    afs_test_assert_same_tree(a->data, b->data);
    journal_state(env->share, &j);
    assert_pruned(&j);
}

static void test_sync_journal__missing_batch_before_later_ones_is_a_gap(void **state)
{
    afs_test_fenv *fe = *state;
    afs_test_env *env = &fe->env;
    afs_test_server *a, *b;
    char name[64], rel[64];
    char *path;
    int64_t c;

    two_servers(fe, &a, &b);
    afs_test_sync(b);
    c = local_cursor(b);
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof(name), "hole-%d.txt", i);
        afs_test_put(a->data, name, "after the hole");
        afs_test_sync(a);
    }
    /* Someone removes the second of the three batches by hand: the floor
     * does not say so, the third is still there. */
    batch_rel((uint64_t)c + 2, rel, sizeof(rel));
    path = afs_test_path(env->share, rel);
    assert_int_equal(unlink(path), 0);
    free(path);
    log_start();
    afs_test_sync(b);
    afs_test_assert_file(b->data, "hole-0.txt", "after the hole");
    afs_test_assert_file(b->data, "hole-1.txt", "after the hole");
    afs_test_assert_file(b->data, "hole-2.txt", "after the hole");
    assert_int_equal(b->last.full_cloud_scan, 1);
    assert_logged("is missing but later batches exist");
}

static void test_sync_journal__damaged_or_hostile_floor_means_full_enumeration(void **state)
{
    static const struct {
        const char *text;
        size_t len;
    } floors[] = {
        { "garbage\n", 8 },
        { "-5\n", 3 },
        { "99999999999999999999999\n", 24 }, /* above 2^64 */
        { "9223372036854775808", 19 },        /* above INT64_MAX */
        { "123456789\n", 10 },                /* well-formed, names no batch */
        { "", 0 },
        { "12\0" "34", 5 },
    };
    afs_test_fenv *fe = *state;
    afs_test_env *env = &fe->env;
    afs_test_server *a, *b;
    char name[64];
    jstate j;

    two_servers(fe, &a, &b);
    afs_test_sync(b);
    for (size_t i = 0; i < sizeof(floors) / sizeof(floors[0]); i++) {
        snprintf(name, sizeof(name), "case-%zu.txt", i);
        afs_test_put(a->data, name, "before");
        afs_test_sync(a);
        put_floor(env->share, floors[i].text, floors[i].len);

        /* Every session says what is wrong and enumerates in full. */
        log_start();
        afs_test_sync(b);
        assert_logged(".libafs/journal-floor");
        assert_int_equal(b->last.full_cloud_scan, 1);
        afs_test_assert_file(b->data, name, "before");
        afs_test_put(a->data, name, "after");
        afs_test_sync(a); /* appends with the floor still damaged */
        afs_test_put(b->data, "from-b.txt", name);
        log_start();
        afs_test_sync(b);
        assert_logged(".libafs/journal-floor");
        assert_int_equal(b->last.full_cloud_scan, 1);
        afs_test_assert_file(b->data, name, "after");
        afs_test_assert_file(env->share, "from-b.txt", name);

        /* The next pruning replaces it; the journal is used again. */
        prune_due(b);
        log_start();
        afs_test_sync(b);
        assert_logged("replacing it with");
        journal_state(env->share, &j);
        assert_pruned(&j);
        afs_test_put(a->data, name, "repaired");
        afs_test_sync(a);
        afs_test_sync(b);
        assert_int_equal(b->last.full_cloud_scan, 0);
        afs_test_assert_file(b->data, name, "repaired");
        afs_test_sync(a);
        afs_test_assert_same_tree(a->data, b->data);
    }
}

static void test_sync_journal__deleted_endpoint_no_longer_holds_the_floor(void **state)
{
    afs_test_fenv *fe = *state;
    afs_test_env *env = &fe->env;
    afs_test_server *a, *b;
    char *bfile, *orphan;
    char bid[64], doc[160];
    int64_t pa;
    jstate j;

    two_servers(fe, &a, &b);
    snprintf(bid, sizeof(bid), "%s", afs_endpoint_id(b->ep));
    assert_true(published(env->share, bid) >= 0);
    afs_endpoint_close(b->ep);
    b->ep = NULL;
    AFS_ASSERT_OK(afs_endpoint_delete(b->group));
    bfile = cursor_file(env->share, bid);
    assert_int_equal(access(bfile, F_OK), -1);
    free(bfile);
    /* A cursor left by an endpoint whose definition is gone counts for nothing. */
    orphan = cursor_file(env->share, "00000000-0000-4000-8000-00000000dead");
    snprintf(doc, sizeof(doc), "{\"v\":1,\"endpoint\":\"00000000-0000-4000-8000-00000000dead\","
             "\"cursor\":0,\"updated_ns\":%" PRId64 "}", afs__now_ns());
    afs_test_write_file(orphan, doc, strlen(doc));
    free(orphan);

    for (int i = 0; i < 4; i++) {
        char name[32];
        snprintf(name, sizeof(name), "solo-%d.txt", i);
        afs_test_put(a->data, name, "solo");
        if (i == 3)
            prune_due(a);
        afs_test_sync(a);
    }
    pa = published(env->share, afs_endpoint_id(a->ep));
    journal_state(env->share, &j);
    assert_pruned(&j);
    assert_int_equal(j.floor, (uint64_t)pa + 1 < j.hi ? (uint64_t)pa + 1 : j.hi);
    assert_int_equal(j.count, 1);
}

static void test_sync_journal__published_cursor_never_moves_back(void **state)
{
    afs_test_fenv *fe = *state;
    afs_test_env *env = &fe->env;
    afs_test_server *a = afs_test_fenv_server(fe, "ServerA");
    afs_storage *s;
    const char *id;
    int64_t p;

    afs_test_put(a->data, "x.txt", "x");
    afs_test_fenv_join(fe, a, NULL);
    afs_test_sync(a);
    s = afs_group_storage(a->group);
    id = afs_endpoint_id(a->ep);
    p = published(env->share, id);
    assert_true(p > 0);
    /* A stale writer (an older process of the endpoint) cannot lower it. */
    AFS_ASSERT_OK(afs__journal_publish(s, id, 0, afs__now_ns(), 0));
    assert_int_equal(published(env->share, id), p);
    AFS_ASSERT_OK(afs__journal_publish(s, id, (uint64_t)p + 7, afs__now_ns(), 0));
    assert_int_equal(published(env->share, id), p + 7);
    /* The endpoint's own cached etag is now stale: its next publish still
     * lands, conditionally, without going backwards. */
    afs_test_put(a->data, "y.txt", "y");
    afs_test_sync(a);
    assert_int_equal(published(env->share, id), p + 7);
    /* A damaged record is replaced. */
    {
        char *path = cursor_file(env->share, id);
        afs_test_write_file(path, "{not json", 9);
        free(path);
    }
    AFS_ASSERT_OK(afs__journal_publish(s, id, (uint64_t)p + 8, afs__now_ns(), 0));
    assert_int_equal(published(env->share, id), p + 8);
}

static void test_sync_journal__batches_left_below_the_floor_mislead_nobody(void **state)
{
    afs_test_fenv *fe = *state;
    afs_test_env *env = &fe->env;
    afs_test_server *a, *b;
    char rel[64];
    char *keep, *doc;
    size_t len;
    int64_t c;
    jstate j;

    two_servers(fe, &a, &b);
    AFS_ASSERT_OK(afs_group_set_journal_stale_limit(a->group, 1));
    afs_test_sync(b);
    c = local_cursor(b);
    for (int i = 0; i < 4; i++)
        round_of(a, "gone", i);
    usleep(1500 * 1000);
    round_of(a, "late", 0);
    journal_state(env->share, &j);
    assert_true(j.floor > (uint64_t)c + 2);

    /* A pruner that stopped after raising the floor leaves old batches
     * behind, among them B's cursor and the one after it. */
    batch_rel(j.hi, rel, sizeof(rel));
    keep = afs_test_path(env->share, rel);
    doc = afs_test_read_file(keep, &len);
    for (uint64_t seq = (uint64_t)c; seq <= (uint64_t)c + 1; seq++) {
        char *path;
        batch_rel(seq, rel, sizeof(rel));
        path = afs_test_path(env->share, rel);
        afs_test_write_file(path, doc, len);
        free(path);
    }
    free(doc);
    free(keep);

    /* B enumerates in full and takes the real head, not the leftovers'. */
    afs_test_sync(b);
    assert_int_equal(b->last.full_cloud_scan, 1);
    afs_test_assert_file(b->data, "gone-3.txt", "from gone, round 3");
    assert_int_equal(local_cursor(b), (int64_t)j.hi);
    afs_test_put(a->data, "next.txt", "next");
    afs_test_sync(a);
    afs_test_sync(b);
    assert_int_equal(b->last.full_cloud_scan, 0);
    afs_test_assert_file(b->data, "next.txt", "next");

    /* The next pruning removes them. */
    prune_due(a);
    afs_test_sync(a);
    journal_state(env->share, &j);
    assert_pruned(&j);
}

static void test_sync_journal__batch_appended_below_a_new_floor_is_moved_past_it(void **state)
{
    afs_test_fenv *fe = *state;
    afs_test_server *a, *b;
    struct hooked_prune h;
    uint64_t head = 0;

    two_servers(fe, &a, &b);
    afs_test_sync(a);
    AFS_ASSERT_OK(afs__journal_head(afs_group_storage(a->group), 0, &head));
    memset(&h, 0, sizeof(h));
    h.pruner = a;
    h.op = "put";
    batch_rel(head + 1, h.path, sizeof(h.path));
    h.stale_ns = 1; /* nobody counts: up to the newest batch */
    /* While B is about to append its batch, A appends two and prunes past
     * the first: B's create-only put then succeeds below the floor. */
    h.appends = 2;
    afs_test_put(b->data, "from-b.txt", "B's change");
    afs_test_fault_hook(afs_test_fenv_storage_ctl(b), prune_at, &h);
    log_start();
    afs_test_sync(b);
    afs_test_fault_hook(afs_test_fenv_storage_ctl(b), NULL, NULL);
    assert_int_equal(h.fired, 1);
    AFS_ASSERT_OK(h.rc);
    assert_int_equal(h.res.floor, head + 2);

    /* A learns B's change from the journal, without a full enumeration. */
    afs_test_sync(a);
    assert_int_equal(a->last.full_cloud_scan, 0);
    afs_test_assert_file(a->data, "from-b.txt", "B's change");
    assert_logged("landed below the floor");
    /* B, pruned past while it synced, enumerates in full next time. */
    afs_test_sync(b);
    assert_int_equal(b->last.full_cloud_scan, 1);
    afs_test_assert_file(b->data, "meanwhile-1.txt", "meanwhile");
    afs_test_assert_same_tree(a->data, b->data);
}

static void test_sync_journal__two_pruners_racing_never_lower_the_floor(void **state)
{
    afs_test_fenv *fe = *state;
    afs_test_env *env = &fe->env;
    afs_test_server *a, *b;
    struct hooked_prune p;
    afs__prune_result res;
    int64_t pb;
    jstate j;

    two_servers(fe, &a, &b);
    for (int i = 0; i < 3; i++)
        round_of(a, "a", i);
    afs_test_sync(b); /* B moves its cursor; its next pruning is not due */
    pb = published(env->share, afs_endpoint_id(b->ep));
    for (int i = 0; i < 4; i++) {
        char name[32];
        snprintf(name, sizeof(name), "more-%d.txt", i);
        afs_test_put(a->data, name, "more");
        afs_test_sync(a); /* nor is A's */
    }
    journal_state(env->share, &j);
    assert_true(j.floor < (uint64_t)pb + 1);
    assert_true(j.hi > (uint64_t)pb + 3);

    /* A's pruner, for which B still counts, aims at B's cursor + 1; B's,
     * for which nobody does, gets in first with the newest batch. */
    memset(&p, 0, sizeof(p));
    p.pruner = b;
    p.op = "put";
    snprintf(p.path, sizeof(p.path), "%s", AFS__JOURNAL_FLOOR);
    p.stale_ns = 1; /* nobody counts: it prunes up to the newest batch */
    afs_test_fault_hook(afs_test_fenv_storage_ctl(a), prune_at, &p);
    AFS_ASSERT_OK(afs__journal_prune(a->group, afs_group_storage(a->group), afs__now_ns(),
                                     INT64_MAX / 2, &res));
    afs_test_fault_hook(afs_test_fenv_storage_ctl(a), NULL, NULL);
    assert_int_equal(p.fired, 1);
    AFS_ASSERT_OK(p.rc);
    assert_true(p.res.raised);
    assert_int_equal(p.res.floor, j.hi);
    /* The first one lost the conditional write and kept the higher floor. */
    assert_false(res.raised);
    assert_int_equal(res.floor, j.hi);
    journal_state(env->share, &j);
    assert_int_equal(j.floor, j.hi);
    assert_int_equal(j.count, 1);

    /* B was pruned past: it enumerates in full and has everything. */
    afs_test_sync(b);
    assert_int_equal(b->last.full_cloud_scan, 1);
    afs_test_assert_same_tree(a->data, b->data);
}

struct runner {
    afs_test_server *s;
    const char *who;
    int rounds;
    int rc;
};

/* A server's sessions, each with an edit and a pruning, on its own thread. */
static void *run_rounds(void *arg)
{
    struct runner *r = arg;
    for (int i = 0; i < r->rounds && r->rc == 0; i++) {
        char rel[64], text[64];
        char *path;
        afs_sync_result res = AFS_SYNC_RESULT_INIT;
        snprintf(rel, sizeof(rel), "%s-%d.txt", r->who, i);
        snprintf(text, sizeof(text), "%s round %d", r->who, i);
        path = afs_test_path(r->s->data, rel);
        afs_test_write_file(path, text, strlen(text));
        free(path);
        if ((r->rc = afs__state_set_int(r->s->ep->state, AFS__KEY_PRUNED_NS, 0)) == 0)
            r->rc = afs_endpoint_sync(r->s->ep, NULL, &res);
    }
    return NULL;
}

static void test_sync_journal__servers_syncing_at_once_converge_while_pruning(void **state)
{
    afs_test_fenv *fe = *state;
    afs_test_env *env = &fe->env;
    afs_test_server *a, *b;
    struct runner ra = { NULL, "a", 15, 0 }, rb = { NULL, "b", 15, 0 };
    pthread_t ta, tb;
    int64_t pa, pb, low;
    jstate j;

    two_servers(fe, &a, &b);
    ra.s = a;
    rb.s = b;
    assert_int_equal(pthread_create(&ta, NULL, run_rounds, &ra), 0);
    assert_int_equal(pthread_create(&tb, NULL, run_rounds, &rb), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    AFS_ASSERT_OK(ra.rc);
    AFS_ASSERT_OK(rb.rc);
    /* Quiet now: two rounds each settle what crossed. */
    for (int i = 0; i < 2; i++) {
        prune_due(a);
        afs_test_sync(a);
        prune_due(b);
        afs_test_sync(b);
    }
    assert_int_equal(a->last.item_errors, 0);
    assert_int_equal(b->last.item_errors, 0);
    afs_test_assert_same_tree(a->data, b->data);
    afs_test_assert_same_tree(a->data, env->share);
    afs_test_assert_file(a->data, "b-14.txt", "b round 14");
    afs_test_assert_file(b->data, "a-14.txt", "a round 14");
    pa = published(env->share, afs_endpoint_id(a->ep));
    pb = published(env->share, afs_endpoint_id(b->ep));
    low = pa < pb ? pa : pb;
    journal_state(env->share, &j);
    assert_pruned(&j);
    assert_int_equal(j.floor, (uint64_t)low + 1 < j.hi ? (uint64_t)low + 1 : j.hi);
    assert_true(j.hi >= 30);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sync_journal__pruned_to_the_lowest_published_cursor,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_sync_journal__offline_server_past_the_stale_limit_converges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_journal__reader_racing_a_pruner_converges,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_sync_journal__missing_batch_before_later_ones_is_a_gap, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_sync_journal__damaged_or_hostile_floor_means_full_enumeration, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_sync_journal__deleted_endpoint_no_longer_holds_the_floor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_journal__published_cursor_never_moves_back,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_sync_journal__batches_left_below_the_floor_mislead_nobody, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_sync_journal__batch_appended_below_a_new_floor_is_moved_past_it, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_sync_journal__two_pruners_racing_never_lower_the_floor, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_sync_journal__servers_syncing_at_once_converge_while_pruning, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * bench_sync: libafs against `rsync -a`, on the same tree, in the same run
 * (STYLE.md 14; docs/benchmarks.md).
 *
 *   bench_sync [FILES] [--runs R] [--dir DIR] [--seed S] [--keep] [--no-verify]
 *              [--threads T]
 *
 * Generates FILES files (default 100000; 100 a directory; 95% under 16 KiB,
 * about 20 KiB a file on average, so about 2 GB at the default), then for
 * each run times three phases for both tools, each on its own fresh copy:
 *
 *   initial  libafs: first sync of a server endpoint on the tree into an
 *            empty local-directory share; rsync: `rsync -a tree/ empty/`
 *   noop     the same again, nothing changed
 *   incr     after rewriting the same 1% of the files (new bytes, new
 *            mtime), the same again
 *
 * libafs runs in a child process (this program re-executed), so its peak
 * RSS is that process's alone (wait4's ru_maxrss). Before every timed phase
 * all dirty data is written out (sync), so neither tool pays for the
 * other's writeback; the tree stays in the page cache for both. Run order
 * alternates between runs and the ratios are medians of per-run ratios.
 * Nothing is deleted until the end: on some file systems (ext4 without a
 * journal) creating files right after mass deletions is much slower, which
 * would favour whichever tool ran first.
 *
 * The last line is exactly:
 *   bench-sync files=N initial_ratio=X noop_ratio=Y incr_ratio=Z peak_rss_mib=M
 * (ratios are libafs time / rsync time).
 */
#define _GNU_SOURCE
#include <afs.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FILES_PER_DIR 100u
#define DIRS_PER_TOP 64u
#define SMALL_MAX (16u * 1024u)        /* 95% of files are below this */
#define LARGE_MAX (1024u * 1024u)      /* the rest: log-uniform 16 KiB .. 1 MiB */
#define POOL_SIZE (4u * 1024u * 1024u) /* random bytes files are cut from */
#define BASE_MTIME 1700000000          /* generated files' mtimes (2023) */
#define MAX_RUNS 15

enum { PH_INITIAL, PH_NOOP, PH_INCR, PH_COUNT };
static const char *const phase_names[PH_COUNT] = { "initial", "noop", "incr" };
/* Targets from the issue, libafs time / rsync time. */
static const double phase_targets[PH_COUNT] = { 1.0, 0.5, 0.5 };

/* What a libafs child reports back through its stdout. */
typedef struct child_report {
    uint64_t uploaded, downloaded, errors, deleted;
    unsigned int full_scan;
    double sync_s; /* afs_endpoint_sync() alone */
} child_report;

typedef struct measure {
    double afs_s, rsync_s;       /* wall time of the whole process */
    double afs_flush_s, rsync_flush_s; /* syncfs right after: dirty data left behind */
    double afs_rss_mib;
    child_report rep;
} measure;

static struct {
    unsigned long files;
    unsigned int runs;
    uint64_t seed;
    bool keep, verify;
    unsigned int threads; /* afs_sync_options.threads; 0: the library's default */
    char *dir;      /* data directory, made by us */
    char *src;      /* the generated tree */
    char *self;     /* this executable, for the libafs child */
    uint64_t *sizes;
    uint64_t total_bytes;
    unsigned char *pool;
} B;

/* ---- small helpers ---- */

/* Print the message (with errno's text if errno is set) and exit 2. */
static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    int e = errno;
    va_list ap;
    fprintf(stderr, "bench_sync: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s%s\n", e ? ": " : "", e ? strerror(e) : "");
    exit(2);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t splitmix(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double unit(uint64_t *state)
{
    return (double)(splitmix(state) >> 11) * (1.0 / 9007199254740992.0);
}

static char *xsprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xsprintf(const char *fmt, ...)
{
    va_list ap;
    char *out = NULL;
    va_start(ap, fmt);
    if (vasprintf(&out, fmt, ap) < 0)
        out = NULL;
    va_end(ap);
    if (!out) {
        errno = ENOMEM;
        die("%s", "out of memory");
    }
    return out;
}

/* Relative path of generated file `i`: t<top>/d<dir>/f<i>.dat */
static void file_rel(unsigned long i, char *buf, size_t cap)
{
    unsigned long d = i / FILES_PER_DIR;
    snprintf(buf, cap, "t%02lu/d%05lu/f%07lu.dat", d / DIRS_PER_TOP, d, i);
}

static void mkdir_p(const char *path)
{
    char *p = xsprintf("%s", path);
    for (char *c = p + 1; *c; c++) {
        if (*c != '/')
            continue;
        *c = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST)
            die("mkdir %s", p);
        *c = '/';
    }
    if (mkdir(p, 0755) != 0 && errno != EEXIST)
        die("mkdir %s", p);
    free(p);
}

static double median(double *v, unsigned int n)
{
    for (unsigned int i = 1; i < n; i++)
        for (unsigned int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

/* Write out every dirty page of the file system holding `path`; its time. */
static double flush_fs(const char *path)
{
    double t0 = now_s();
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        syncfs(fd);
        close(fd);
    }
    return now_s() - t0;
}

/* ---- the tree ---- */

static uint64_t file_size(uint64_t *rng)
{
    if (unit(rng) < 0.95)
        return 1 + splitmix(rng) % (SMALL_MAX - 1);
    /* log-uniform over [16 KiB, 1 MiB]: a few large files hold half the bytes */
    return (uint64_t)((double)SMALL_MAX *
                      exp(unit(rng) * log((double)LARGE_MAX / SMALL_MAX)));
}

/* Write `size` bytes unique to (index, version) into `path`, mtime `mtime`. */
static void write_file(const char *path, unsigned long index, uint64_t version, uint64_t size,
                       uint64_t *rng, time_t mtime)
{
    uint64_t off = splitmix(rng) % (POOL_SIZE - LARGE_MAX);
    unsigned char head[32];
    struct timespec ts[2];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    size_t hl;
    ssize_t w;

    if (fd < 0)
        die("create %s", path);
    hl = (size_t)snprintf((char *)head, sizeof(head), "%lu:%" PRIu64 ":", index, version);
    if (hl > size)
        hl = (size_t)size;
    if ((w = write(fd, head, hl)) != (ssize_t)hl ||
        (size > hl && write(fd, B.pool + off, (size_t)(size - hl)) != (ssize_t)(size - hl)))
        die("write %s", path);
    ts[0].tv_sec = ts[1].tv_sec = mtime;
    ts[0].tv_nsec = ts[1].tv_nsec = 0;
    if (futimens(fd, ts) != 0)
        die("set times of %s", path);
    if (close(fd) != 0)
        die("close %s", path);
}

static void generate(void)
{
    uint64_t rng = B.seed;
    char rel[64], *path;
    unsigned long last_dir = (unsigned long)-1;

    B.pool = malloc(POOL_SIZE);
    B.sizes = calloc(B.files, sizeof(*B.sizes));
    if (!B.pool || !B.sizes) {
        errno = ENOMEM;
        die("%s", "out of memory");
    }
    for (size_t i = 0; i < POOL_SIZE; i += 8) {
        uint64_t v = splitmix(&rng);
        memcpy(B.pool + i, &v, 8);
    }
    for (unsigned long i = 0; i < B.files; i++) {
        file_rel(i, rel, sizeof(rel));
        if (i / FILES_PER_DIR != last_dir) {
            char *d;
            last_dir = i / FILES_PER_DIR;
            *strrchr(rel, '/') = '\0';
            d = xsprintf("%s/%s", B.src, rel);
            mkdir_p(d);
            free(d);
            file_rel(i, rel, sizeof(rel));
        }
        B.sizes[i] = file_size(&rng);
        B.total_bytes += B.sizes[i];
        path = xsprintf("%s/%s", B.src, rel);
        write_file(path, i, 0, B.sizes[i], &rng, (time_t)(BASE_MTIME + (time_t)i));
        free(path);
    }
}

/* Rewrite 1% of the files (a different 1% each run): new bytes, new mtime;
 * half keep their size, half change it. */
static void modify(unsigned int run)
{
    uint64_t rng = B.seed ^ (0x5eedull * (run + 1));
    unsigned long count = B.files / 100 ? B.files / 100 : 1;
    time_t now = time(NULL);
    char rel[64];

    for (unsigned long k = 0; k < count; k++) {
        /* One file in each stripe of 100: spread over every directory. */
        unsigned long stripe = B.files / count;
        unsigned long i = k * stripe + (unsigned long)(splitmix(&rng) % stripe);
        char *path;
        if (splitmix(&rng) & 1)
            B.sizes[i] = file_size(&rng);
        file_rel(i, rel, sizeof(rel));
        path = xsprintf("%s/%s", B.src, rel);
        write_file(path, i, run + 1, B.sizes[i], &rng, now);
        free(path);
    }
}

/* ---- running the tools ---- */

/* fork + exec `argv`, stdout into *out (if not NULL); wall time and rusage. */
static int run_child(char *const argv[], char **out, double *secs, struct rusage *ru)
{
    int pipefd[2] = { -1, -1 };
    int status = 0;
    size_t len = 0, cap = 0;
    char *buf = NULL;
    double t0;
    pid_t pid;

    if (out && pipe2(pipefd, O_CLOEXEC) != 0)
        die("%s", "pipe");
    t0 = now_s();
    pid = fork();
    if (pid < 0)
        die("%s", "fork");
    if (pid == 0) {
        if (out)
            dup2(pipefd[1], 1);
        else {
            int devnull = open("/dev/null", O_WRONLY);
            dup2(devnull, 1);
        }
        execvp(argv[0], argv);
        fprintf(stderr, "bench_sync: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    if (out) {
        close(pipefd[1]);
        for (;;) {
            ssize_t n;
            if (cap - len < 256) {
                cap = cap ? cap * 2 : 1024;
                buf = realloc(buf, cap);
                if (!buf)
                    die("%s", "out of memory");
            }
            n = read(pipefd[0], buf + len, cap - len - 1);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            len += (size_t)n;
        }
        close(pipefd[0]);
        buf[len] = '\0';
        *out = buf;
    }
    while (wait4(pid, &status, 0, ru) < 0)
        if (errno != EINTR)
            die("%s", "wait4");
    *secs = now_s() - t0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static double run_rsync(const char *dst)
{
    char *from = xsprintf("%s/", B.src), *to = xsprintf("%s/", dst);
    char *argv[] = { "rsync", "-a", from, to, NULL };
    struct rusage ru;
    double secs;
    int rc = run_child(argv, NULL, &secs, &ru);
    if (rc != 0) {
        errno = 0;
        die("rsync failed (exit status %d)", rc);
    }
    free(from);
    free(to);
    return secs;
}

static double run_afs(const char *mode, const char *state, const char *share, child_report *rep,
                      double *rss_mib)
{
    char threads[16];
    char *argv[] = { B.self, "--child", (char *)mode, (char *)state, (char *)share, B.src,
                     threads, NULL };
    struct rusage ru;
    char *out = NULL;
    double secs;
    int rc;
    const char *line;

    snprintf(threads, sizeof(threads), "%u", B.threads);
    rc = run_child(argv, &out, &secs, &ru);
    line = out ? strstr(out, "afs-child ") : NULL;

    memset(rep, 0, sizeof(*rep));
    if (rc != 0 || !line ||
        sscanf(line, "afs-child up=%" SCNu64 " down=%" SCNu64 " deleted=%" SCNu64
               " errors=%" SCNu64 " full=%u sync_s=%lf",
               &rep->uploaded, &rep->downloaded, &rep->deleted, &rep->errors, &rep->full_scan,
               &rep->sync_s) != 6) {
        errno = 0;
        fprintf(stderr, "%s", out ? out : "");
        die("libafs child failed (%s)", mode);
    }
    free(out);
    *rss_mib = (double)ru.ru_maxrss / 1024.0; /* ru_maxrss is in KiB on Linux */
    return secs;
}

static void child_log(int level, const char *message, void *payload)
{
    (void)payload;
    fprintf(stderr, "libafs[%d]: %s\n", level, message);
}

/* The libafs side, in its own process: one sync session, reported on stdout. */
static int child_main(const char *mode, const char *state, const char *share, const char *src,
                      const char *threads)
{
    afs_sync_options opts = AFS_SYNC_OPTIONS_INIT;
    afs_service *svc = NULL;
    afs_group *group = NULL;
    afs_endpoint *ep = NULL;
    afs_sync_result r = AFS_SYNC_RESULT_INIT;
    double t0;
    int rc;

    /* AFS_BENCH_LOG=4: the library's debug log on stderr (group commit counts). */
    if (getenv("AFS_BENCH_LOG"))
        afs_log_set(child_log, atoi(getenv("AFS_BENCH_LOG")), NULL);
    rc = afs_service_open(&svc, state, NULL);
    if (rc == 0 && strcmp(mode, "init") == 0) {
        if ((rc = afs_server_register(svc, "BenchServer")) == 0 &&
            (rc = afs_group_create(&group, svc, "bench", share)) == 0)
            rc = afs_endpoint_create(&ep, group, src, NULL);
    } else if (rc == 0) {
        if ((rc = afs_group_open(&group, svc, "bench", NULL)) == 0)
            rc = afs_endpoint_open(&ep, group);
    }
    opts.threads = (uint32_t)strtoul(threads, NULL, 10);
    t0 = now_s();
    if (rc == 0)
        rc = afs_endpoint_sync(ep, &opts, &r);
    if (rc != 0) {
        fprintf(stderr, "bench_sync child (%s): %s: %s\n", mode, afs_strerror(rc),
                afs_error_last());
    } else {
        printf("afs-child up=%" PRIu64 " down=%" PRIu64 " deleted=%" PRIu64 " errors=%" PRIu64
               " full=%u sync_s=%.6f\n",
               r.files_uploaded, r.files_downloaded, r.deleted_cloud + r.deleted_local,
               r.item_errors, r.full_cloud_scan, now_s() - t0);
    }
    afs_endpoint_close(ep);
    afs_group_close(group);
    afs_service_close(svc);
    return rc == 0 ? 0 : 1;
}

/* ---- verification ---- */

static bool same_file(const char *a, const char *b, uint64_t size)
{
    static unsigned char ba[1 << 16], bb[1 << 16];
    int fa = open(a, O_RDONLY | O_CLOEXEC), fb = open(b, O_RDONLY | O_CLOEXEC);
    uint64_t got = 0;
    bool ok = fa >= 0 && fb >= 0;
    while (ok) {
        ssize_t na = read(fa, ba, sizeof(ba)), nb = read(fb, bb, sizeof(bb));
        if (na < 0 || na != nb || memcmp(ba, bb, (size_t)na) != 0)
            ok = false;
        else if (na == 0)
            break;
        else
            got += (uint64_t)na;
    }
    if (fa >= 0)
        close(fa);
    if (fb >= 0)
        close(fb);
    return ok && got == size;
}

static unsigned long count_found;
static const char *count_root;
static int count_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_F) {
        const char *rel = path + strlen(count_root) + 1;
        if (strncmp(rel, ".libafs/", 8) != 0)
            count_found++;
    }
    return 0;
}

/* Every generated file in `copy` with the tree's bytes, and nothing else. */
static void verify_copy(const char *copy, const char *who)
{
    char rel[64];
    count_found = 0;
    count_root = copy;
    if (nftw(copy, count_one, 64, FTW_PHYS) != 0)
        die("walk %s", copy);
    if (count_found != B.files) {
        errno = 0;
        fprintf(stderr, "bench_sync: %s copy holds %lu files, expected %lu\n", who,
                count_found, B.files);
        exit(1);
    }
    for (unsigned long i = 0; i < B.files; i++) {
        char *a, *b;
        file_rel(i, rel, sizeof(rel));
        a = xsprintf("%s/%s", B.src, rel);
        b = xsprintf("%s/%s", copy, rel);
        if (!same_file(a, b, B.sizes[i])) {
            errno = 0;
            die("copy differs from the tree: %s", b);
        }
        free(a);
        free(b);
    }
}

/* ---- cleanup ---- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        return rmdir(path) == 0 || errno == ENOENT ? 0 : -1;
    return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
}

static void rm_tree(const char *path)
{
    if (nftw(path, rm_one, 64, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
        fprintf(stderr, "bench_sync: could not remove all of %s: %s\n", path, strerror(errno));
}

/* ---- main ---- */

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_sync [FILES] [--runs R] [--dir DIR] [--seed S] [--keep] "
            "[--no-verify] [--threads T]\n"
            "  FILES  files in the generated tree (default 100000, ~20 KiB each on average)\n"
            "  --runs runs to take the median of (default 5 up to 20000 files, else 1)\n"
            "  --dir  where to put the data (default $TMPDIR or /var/tmp); must not be tmpfs\n"
            "  --threads  libafs transfer threads (default: the library's default)\n");
    exit(2);
}

static void check_expected(const char *what, uint64_t got, uint64_t want)
{
    if (got != want) {
        errno = 0;
        fprintf(stderr, "bench_sync: %s: %" PRIu64 " files, expected %" PRIu64 "\n", what, got,
                want);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";
    unsigned long changed;
    measure m[MAX_RUNS][PH_COUNT];
    double ratio[PH_COUNT], afs_med[PH_COUNT], rsync_med[PH_COUNT], aflush[PH_COUNT],
        rflush[PH_COUNT], rss_max = 0, gen_s;
    struct statfs sfs;
    bool runs_given = false;

    if (argc == 7 && strcmp(argv[1], "--child") == 0)
        return child_main(argv[2], argv[3], argv[4], argv[5], argv[6]);

    B.files = 100000;
    B.seed = 20240601;
    B.verify = true;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            B.runs = (unsigned int)strtoul(argv[++i], NULL, 10);
            runs_given = true;
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            base = argv[++i];
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            B.seed = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            B.threads = (unsigned int)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--keep") == 0) {
            B.keep = true;
        } else if (strcmp(argv[i], "--no-verify") == 0) {
            B.verify = false;
        } else if (argv[i][0] >= '0' && argv[i][0] <= '9') {
            B.files = strtoul(argv[i], NULL, 10);
        } else {
            usage();
        }
    }
    if (B.files < 100)
        usage();
    if (!runs_given)
        B.runs = B.files <= 20000 ? 5 : 1;
    if (B.runs < 1 || B.runs > MAX_RUNS)
        usage();
    B.self = realpath("/proc/self/exe", NULL);
    if (!B.self)
        die("%s", "realpath /proc/self/exe");
    B.dir = xsprintf("%s/afs-bench-%ld", base, (long)getpid());
    mkdir_p(B.dir);
    if (statfs(B.dir, &sfs) == 0 && sfs.f_type == 0x01021994 /* TMPFS_MAGIC */) {
        errno = 0;
        die("%s is on tmpfs: no durability cost, no comparison; use --dir", B.dir);
    }
    B.src = xsprintf("%s/tree", B.dir);
    setvbuf(stdout, NULL, _IOLBF, 0);

    printf("bench-sync: generating %lu files under %s ...\n", B.files, B.src);
    gen_s = now_s();
    generate();
    gen_s = now_s() - gen_s;
    printf("bench-sync: %lu files, %.1f MiB, %lu directories of %u files, in %.1f s\n", B.files,
           (double)B.total_bytes / 1048576.0, (B.files + FILES_PER_DIR - 1) / FILES_PER_DIR,
           FILES_PER_DIR, gen_s);
    flush_fs(B.dir);
    changed = B.files / 100 ? B.files / 100 : 1;

    for (unsigned int run = 0; run < B.runs; run++) {
        char *share = xsprintf("%s/share-%u", B.dir, run);
        char *state = xsprintf("%s/state-%u", B.dir, run);
        char *dst = xsprintf("%s/rsync-%u", B.dir, run);
        bool afs_first = run % 2 == 0;

        mkdir_p(share);
        mkdir_p(dst);
        for (int ph = 0; ph < PH_COUNT; ph++) {
            measure *x = &m[run][ph];
            if (ph == PH_INCR) {
                modify(run);
                flush_fs(B.dir);
            }
            for (int turn = 0; turn < 2; turn++) {
                flush_fs(B.dir); /* nobody pays for the other's writeback */
                if ((turn == 0) == afs_first) {
                    x->afs_s = run_afs(ph == PH_INITIAL ? "init" : "sync", state, share, &x->rep,
                                       &x->afs_rss_mib);
                    x->afs_flush_s = flush_fs(B.dir);
                } else {
                    x->rsync_s = run_rsync(dst);
                    x->rsync_flush_s = flush_fs(B.dir);
                }
            }
            if (x->afs_rss_mib > rss_max)
                rss_max = x->afs_rss_mib;
            check_expected(phase_names[ph], x->rep.uploaded,
                           ph == PH_INITIAL ? B.files : ph == PH_INCR ? changed : 0);
            check_expected("item errors", x->rep.errors, 0);
            check_expected("downloads and deletions", x->rep.downloaded + x->rep.deleted, 0);
            printf("bench-sync: run %u %-7s libafs %8.3f s (rss %5.1f MiB%s)  rsync %8.3f s  "
                   "ratio %.2f\n",
                   run + 1, phase_names[ph], x->afs_s, x->afs_rss_mib,
                   x->rep.full_scan ? ", full cloud scan" : "", x->rsync_s,
                   x->afs_s / x->rsync_s);
        }
        if (B.verify && run + 1 == B.runs) {
            printf("bench-sync: verifying both copies byte for byte ...\n");
            verify_copy(share, "libafs");
            verify_copy(dst, "rsync");
        }
        free(share);
        free(state);
        free(dst);
    }

    for (int ph = 0; ph < PH_COUNT; ph++) {
        double r[MAX_RUNS], a[MAX_RUNS], s[MAX_RUNS], af[MAX_RUNS], rf[MAX_RUNS];
        for (unsigned int run = 0; run < B.runs; run++) {
            r[run] = m[run][ph].afs_s / m[run][ph].rsync_s;
            a[run] = m[run][ph].afs_s;
            s[run] = m[run][ph].rsync_s;
            af[run] = m[run][ph].afs_flush_s;
            rf[run] = m[run][ph].rsync_flush_s;
        }
        ratio[ph] = median(r, B.runs);
        afs_med[ph] = median(a, B.runs);
        rsync_med[ph] = median(s, B.runs);
        aflush[ph] = median(af, B.runs);
        rflush[ph] = median(rf, B.runs);
    }

    printf("\n");
    printf("libafs %s against rsync -a, %lu files (%.1f MiB), %u run%s, medians\n",
           afs_version_string(), B.files, (double)B.total_bytes / 1048576.0, B.runs,
           B.runs > 1 ? "s" : "");
    printf("%-8s %11s %11s %7s %9s  %11s %11s  %13s\n", "phase", "libafs (s)", "rsync (s)",
           "ratio", "target", "afs flush", "rsync flush", "rsync+flush");
    for (int ph = 0; ph < PH_COUNT; ph++) {
        bool ok = ratio[ph] <= phase_targets[ph];
        printf("%-8s %11.3f %11.3f %7.2f %6s %-2s  %9.3f s %9.3f s  %11.3f s\n",
               phase_names[ph], afs_med[ph], rsync_med[ph], ratio[ph],
               phase_targets[ph] >= 1.0 ? "<=1.0" : "<=0.5", ok ? "ok" : "NO", aflush[ph],
               rflush[ph], rsync_med[ph] + rflush[ph]);
    }
    printf("peak RSS of the libafs process: %.1f MiB (target <= 100 MiB at 100000 files)\n",
           rss_max);
    printf("ratio: median of the per-run libafs/rsync ratios; times: medians. 'flush': a syncfs\n"
           "  of the file system right after the tool, outside its time: what it left unwritten.\n"
           "durability: libafs made each object's content durable before its name appeared,\n"
           "  and every name durable before the state recording it was committed (local\n"
           "  share: temp, group-committed syncfs or fsync, link or rename, syncfs barrier\n"
           "  before each state commit; state in SQLite WAL, synchronous=NORMAL).\n"
           "  rsync -a does not fsync: its copy is durable only after 'rsync+flush'.\n");

    if (!B.keep) {
        rm_tree(B.dir);
        flush_fs(base);
    } else {
        printf("data kept in %s\n", B.dir);
    }
    printf("bench-sync files=%lu initial_ratio=%.2f noop_ratio=%.2f incr_ratio=%.2f "
           "peak_rss_mib=%.1f\n",
           B.files, ratio[PH_INITIAL], ratio[PH_NOOP], ratio[PH_INCR], rss_max);
    free(B.sizes);
    free(B.pool);
    free(B.src);
    free(B.dir);
    free(B.self);
    return 0;
}

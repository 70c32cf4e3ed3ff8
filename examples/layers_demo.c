/*
 * layers_demo: a short tour of the two layers every libafs feature stands
 * on, run in a scratch directory (scripts/demo.sh).
 *
 *   storage  the local-directory backend used as a cloud share: objects,
 *            etags, create-only and if-match conditions, listings that hide
 *            the library's reserved ".libafs" prefix, hostile names refused;
 *   fs       the POSIX filesystem vtable: a 1 MiB file, a punched hole
 *            (size vs size on disk), the tier marker, the volume facts.
 *
 * Usage: layers_demo [work-dir]   (default: a new directory under /tmp)
 */
#define _XOPEN_SOURCE 700

#include <afs.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MIB (1024u * 1024u)

static void title(const char *text)
{
    printf("\n== %s\n", text);
}

/* Stop on an outcome the tour did not expect, with the library's message. */
static void expect(int rc, int want, const char *what)
{
    if (rc == want)
        return;
    fprintf(stderr, "layers_demo: %s: got %d (%s), expected %d (%s)\n  %s\n", what, rc,
            afs_strerror(rc), want, afs_strerror(want), afs_error_last());
    exit(1);
}

static int make_dir(const char *path)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "layers_demo: mkdir %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

static void put_text(afs_storage *share, const char *path, const char *text,
                     afs_storage_entry *out)
{
    expect(afs_storage_put_buffer(share, path, text, strlen(text), NULL, out), AFS_OK, path);
}

/* ---- storage: a create-only race between two writers ---- */

struct racer {
    afs_storage *share;
    pthread_barrier_t *start;
    const char *who;
    int rc;
    char message[256];
};

static void *race(void *arg)
{
    struct racer *r = arg;
    afs_storage_put_options opts;
    char body[64];

    afs_storage_put_options_init(&opts, AFS_STORAGE_PUT_OPTIONS_VERSION);
    opts.condition = AFS_COND_CREATE_ONLY;
    snprintf(body, sizeof body, "written by %s\n", r->who);
    pthread_barrier_wait(r->start);
    r->rc = afs_storage_put_buffer(r->share, "race/claim.txt", body, strlen(body), &opts, NULL);
    snprintf(r->message, sizeof r->message, "%s", afs_error_last()); /* per-thread */
    return NULL;
}

static int list_entry(const afs_storage_entry *e, void *payload)
{
    int *count = payload;

    (*count)++;
    if (e->status != 0) {
        printf("   ! %.*s  (refused: %s)\n", (int)e->name_len, e->name,
               afs_strerror(e->status));
        return 0;
    }
    printf("   %-4s %-12.*s %6llu bytes  etag %s\n", e->type == AFS_TYPE_DIR ? "dir" : "file",
           (int)e->name_len, e->name, (unsigned long long)e->size, e->etag);
    return 0;
}

static int storage_tour(const char *share_dir)
{
    afs_storage *share = NULL;
    afs_storage_entry v1, v2;
    afs_storage_put_options opts;
    pthread_barrier_t start;
    pthread_t threads[2];
    struct racer racers[2] = { { NULL, NULL, "writer A", 0, "" },
                               { NULL, NULL, "writer B", 0, "" } };
    char path[4096];
    FILE *f;
    int count = 0, rc, i;

    title("storage: a local directory as the cloud share");
    expect(afs_storage_local_new(&share, share_dir, NULL), AFS_OK, "afs_storage_local_new");
    printf("share root: %s\n", share_dir);

    put_text(share, "reports/q1.txt", "revenue up\n", &v1);
    put_text(share, "readme.txt", "hello from libafs\n", NULL);
    printf("put reports/q1.txt  -> etag %s (parent directory created)\n", v1.etag);
    printf("put readme.txt\n");

    title("storage: create-only race, two writers, one name");
    pthread_barrier_init(&start, NULL, 2);
    for (i = 0; i < 2; i++) {
        racers[i].share = share;
        racers[i].start = &start;
        if (pthread_create(&threads[i], NULL, race, &racers[i]) != 0) {
            fprintf(stderr, "layers_demo: pthread_create failed\n");
            return 1;
        }
    }
    for (i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&start);
    for (i = 0; i < 2; i++)
        printf("%s: %s%s%s\n", racers[i].who,
               racers[i].rc == 0 ? "won, created race/claim.txt" : afs_strerror(racers[i].rc),
               racers[i].rc == 0 ? "" : " -- ", racers[i].rc == 0 ? "" : racers[i].message);
    if (!((racers[0].rc == 0 && racers[1].rc == AFS_ECONDITION) ||
          (racers[1].rc == 0 && racers[0].rc == AFS_ECONDITION))) {
        fprintf(stderr, "layers_demo: expected exactly one winner and one AFS_ECONDITION\n");
        return 1;
    }

    title("storage: if-match update with a stale etag");
    afs_storage_put_options_init(&opts, AFS_STORAGE_PUT_OPTIONS_VERSION);
    opts.condition = AFS_COND_IF_MATCH;
    opts.if_match = v1.etag;
    expect(afs_storage_put_buffer(share, "reports/q1.txt", "revenue up 5%\n", 14, &opts, &v2),
           AFS_OK, "if-match update with the current etag");
    printf("update if-match %s -> ok, new etag %s\n", v1.etag, v2.etag);
    rc = afs_storage_put_buffer(share, "reports/q1.txt", "revenue down\n", 13, &opts, NULL);
    expect(rc, AFS_ECONDITION, "if-match update with the stale etag");
    printf("update if-match %s (stale) -> refused: %s\n  %s\n", v1.etag, afs_strerror(rc),
           afs_error_last());

    title("storage: listing the share root");
    /* What another host's libafs keeps at the root; users never see it. */
    snprintf(path, sizeof path, "%s/%s", share_dir, AFS_RESERVED_NAME);
    if (make_dir(path) != 0)
        return 1;
    snprintf(path, sizeof path, "%s/%s/journal", share_dir, AFS_RESERVED_NAME);
    f = fopen(path, "w");
    if (f) {
        fputs("library metadata\n", f);
        fclose(f);
    }
    expect(afs_storage_list_all(share, "", list_entry, &count), AFS_OK, "afs_storage_list_all");
    printf("%d entries; \"%s/\" exists on disk but is not listed\n", count, AFS_RESERVED_NAME);

    title("storage: hostile paths");
    {
        static const char *const hostile[] = { "../outside.txt", "reports/../../etc/passwd",
                                               AFS_RESERVED_NAME "/journal", "a//b" };
        for (i = 0; i < 4; i++) {
            rc = afs_storage_put_buffer(share, hostile[i], "x", 1, NULL, NULL);
            expect(rc, AFS_EINVALIDNAME, hostile[i]);
            printf("put \"%s\" -> %s\n  %s\n", hostile[i], afs_strerror(rc), afs_error_last());
        }
    }

    afs_storage_free(share);
    return 0;
}

/* ---- filesystem: the POSIX vtable ---- */

static void human(uint64_t bytes, char *buf, size_t cap)
{
    if (bytes >= 10ull * 1024 * MIB)
        snprintf(buf, cap, "%llu GiB", (unsigned long long)(bytes / (1024ull * MIB)));
    else if (bytes >= MIB)
        snprintf(buf, cap, "%.2f MiB", (double)bytes / MIB);
    else
        snprintf(buf, cap, "%llu KiB", (unsigned long long)(bytes / 1024));
}

static int fs_tour(const char *server_dir)
{
    afs_fs *fs = NULL;
    const afs_fs_ops *ops;
    void *ctx, *fh = NULL;
    afs_fs_stat st;
    afs_fs_volume vol;
    unsigned char *data;
    char path[4096], a[32], b[32], marker[AFS_FS_MARKER_MAX];
    static const char blob[] = "demo-marker: cloud=reports/big.bin etag=\"0x8D\"";
    size_t len = 0;
    uint64_t off;
    int rc;

    title("fs: the POSIX filesystem vtable");
    expect(afs_fs_posix_new(&fs), AFS_OK, "afs_fs_posix_new");
    expect(afs_fs_ops_get(fs, &ops, &ctx), AFS_OK, "afs_fs_ops_get");
    printf("vtable version %u; punch_hole %s, tier marker %s, volume %s\n", ops->version,
           ops->punch_hole ? "yes" : "no", ops->marker_set ? "yes" : "no",
           ops->volume ? "yes" : "no");

    snprintf(path, sizeof path, "%s/big.bin", server_dir);
    data = malloc(MIB);
    if (!data)
        return 1;
    for (off = 0; off < MIB; off++)
        data[off] = (unsigned char)(off * 31u + 7u);
    expect(ops->open(ctx, path, AFS_FS_O_WRITE | AFS_FS_O_CREATE | AFS_FS_O_TRUNC, &fh), AFS_OK,
           "open");
    for (off = 0; off < MIB; off += 64 * 1024)
        expect(ops->write(ctx, fh, off, data + off, 64 * 1024), AFS_OK, "write");
    free(data);
    if (ops->fsync)
        expect(ops->fsync(ctx, fh), AFS_OK, "fsync");
    expect(ops->stat(ctx, path, &st), AFS_OK, "stat");
    human(st.size, a, sizeof a);
    human(st.alloc_bytes, b, sizeof b);
    printf("wrote %s: size %s, size on disk %s\n", path, a, b);

    if (ops->punch_hole) {
        /* Keep the first 64 KiB (a tiered file's head), free the rest. */
        rc = ops->punch_hole(ctx, fh, 64 * 1024, MIB - 64 * 1024);
        if (rc == 0) {
            expect(ops->stat(ctx, path, &st), AFS_OK, "stat");
            human(st.size, a, sizeof a);
            human(st.alloc_bytes, b, sizeof b);
            printf("punched a hole at 64 KiB..1 MiB: size %s, size on disk %s\n", a, b);
        } else {
            printf("punch_hole: %s (%s)\n", afs_strerror(rc), afs_error_last());
        }
    }
    expect(ops->close(ctx, fh), AFS_OK, "close");

    if (ops->marker_set && ops->marker_get) {
        rc = ops->marker_set(ctx, path, blob, sizeof blob - 1);
        if (rc == 0)
            rc = ops->marker_get(ctx, path, marker, sizeof marker, &len);
        if (rc == 0)
            printf("tier marker set and read back (%zu bytes): %.*s\n", len, (int)len, marker);
        else
            printf("tier marker: %s (%s)\n", afs_strerror(rc), afs_error_last());
    }

    if (ops->volume) {
        memset(&vol, 0, sizeof vol);
        expect(ops->volume(ctx, path, &vol), AFS_OK, "volume");
        human(vol.total_bytes, a, sizeof a);
        human(vol.free_bytes, b, sizeof b);
        printf("volume %s: %s, %s total, %s free, block %u bytes%s%s\n", vol.id, vol.fs_type, a,
               b, vol.block_size, vol.flags & AFS_FS_VOLUME_SYSTEM ? ", system volume" : "",
               vol.flags & AFS_FS_VOLUME_NETWORK ? ", network file system" : "");
    }

    afs_fs_free(fs);
    return 0;
}

int main(int argc, char **argv)
{
    char work[2048], share[2100], server[2100];

    printf("libafs %s: storage and filesystem layers\n", afs_version_string());
    if (argc > 1) {
        snprintf(work, sizeof work, "%s", argv[1]);
        if (make_dir(work) != 0)
            return 1;
    } else {
        snprintf(work, sizeof work, "/tmp/afs-demo-XXXXXX");
        if (!mkdtemp(work)) {
            fprintf(stderr, "layers_demo: mkdtemp: %s\n", strerror(errno));
            return 1;
        }
    }
    snprintf(share, sizeof share, "%s/share", work);
    snprintf(server, sizeof server, "%s/server", work);
    if (make_dir(share) != 0 || make_dir(server) != 0)
        return 1;

    if (storage_tour(share) != 0 || fs_tour(server) != 0)
        return 1;

    printf("\ndone; look around in %s\n", work);
    return 0;
}

/*
 * minimal: the shortest real embedding of libafs. This host registers as a
 * server, makes a sync group whose cloud endpoint is a share (here a local
 * directory), adds a server endpoint on a local directory and runs one sync
 * session, the way Azure File Sync does it.
 *
 *   minimal STATE_DIR SHARE_DIR DATA_DIR      (absolute paths; the two
 *                                              directories must exist)
 *
 * Run it again after changing files on either side: it opens what the first
 * run created and syncs again.
 */
#include <afs.h>
#include <stdio.h>

/* Every libafs call returns 0 or a negative code; afs_error_last() says more. */
static int check(int rc, const char *what)
{
    if (rc != 0)
        fprintf(stderr, "minimal: %s: %s\n", what, afs_error_last());
    return rc;
}

int main(int argc, char **argv)
{
    afs_service *svc = NULL;
    afs_group *group = NULL;
    afs_endpoint *ep = NULL;
    afs_sync_result res = AFS_SYNC_RESULT_INIT;
    int rc;

    if (argc != 4) {
        fprintf(stderr, "usage: minimal STATE_DIR SHARE_DIR DATA_DIR\n");
        return 2;
    }
    /* The service: this host's registry of sync groups, in STATE_DIR. */
    if (check(rc = afs_service_open(&svc, argv[1], NULL), "open the service") ||
        check(rc = afs_server_register(svc, "minimal-server"), "register the server"))
        goto done;

    /* The sync group; its cloud endpoint is the share (a path or file:// URI). */
    rc = afs_group_open(&group, svc, "docs", NULL);
    if (rc == AFS_ENOTFOUND)
        rc = afs_group_create(&group, svc, "docs", argv[2]);
    if (check(rc, "sync group"))
        goto done;

    /* This server's endpoint in the group: a local directory. */
    rc = afs_endpoint_open(&ep, group);
    if (rc == AFS_ENOTFOUND)
        rc = afs_endpoint_create(&ep, group, argv[3], NULL);
    if (check(rc, "server endpoint"))
        goto done;

    /* One sync session. Per-item failures do not stop it; they are counted. */
    if (check(rc = afs_endpoint_sync(ep, NULL, &res), "sync"))
        goto done;
    printf("synced %s with %s: %llu uploaded, %llu downloaded, %llu conflicts, "
           "%llu item errors\n", afs_endpoint_path(ep), afs_group_storage_uri(group),
           (unsigned long long)res.files_uploaded, (unsigned long long)res.files_downloaded,
           (unsigned long long)res.conflicts, (unsigned long long)res.item_errors);
done:
    afs_endpoint_close(ep);
    afs_group_close(group);
    afs_service_close(svc);
    return rc == 0 && res.item_errors == 0 ? 0 : 1;
}

/*
 * QA regressions of the state directory (docs/state-store.md): each test
 * failed before its fix.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "support.h"

/*
 * A state directory on a read-only file system (a volume remounted
 * read-only after an error, a read-only bind mount). Before the fix the
 * open failed with AFS_ENOTFOUND and "unable to open database file", which
 * the afs tool reported as "not found" (exit 6): the service is there, it
 * just cannot be written.
 */
static void test_qa_state__read_only_state_directory_says_so(void **state)
{
    char *root = afs_test_sandbox("qastate");
    char *dir = afs_test_path(root, "state");
    afs_service *svc = NULL;
    int rc;
    (void)state;

    AFS_ASSERT_OK(afs_service_open(&svc, dir, NULL));
    AFS_ASSERT_OK(afs_server_register(svc, "ReadOnly"));
    afs_service_close(svc);
    svc = NULL;
    if (geteuid() != 0 || mount(dir, dir, NULL, MS_BIND, NULL) != 0) {
        afs_test_rmtree(root);
        free(dir);
        free(root);
        print_message("needs root to bind-mount the state directory read-only\n");
        skip();
    }
    assert_int_equal(mount(NULL, dir, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL), 0);
    rc = afs_service_open(&svc, dir, NULL);
    assert_int_equal(umount(dir), 0);
    assert_int_equal(rc, AFS_EPERM);
    assert_null(svc);
    assert_non_null(strstr(afs_error_last(), "read-only"));
    /* Nothing was lost: writable again, it opens as before. */
    AFS_ASSERT_OK(afs_service_open(&svc, dir, NULL));
    AFS_ASSERT_OK(afs_server_register(svc, "ReadOnly"));
    afs_service_close(svc);
    afs_test_rmtree(root);
    free(dir);
    free(root);
}

/* AFS_FS_CTL_HAS_HOLES of the POSIX default: what tells a placeholder
 * rewritten in full (uploaded) from one with holes left (never uploaded). */
static void test_qa_state__posix_says_whether_a_file_has_holes(void **state)
{
    char *root = afs_test_sandbox("qaholes");
    char *sparse = afs_test_path(root, "sparse"), *full = afs_test_path(root, "full");
    const afs_fs_ops *ops;
    void *ctx;
    afs_fs *fs;
    FILE *f;
    (void)state;

    f = fopen(full, "w");
    assert_non_null(f);
    for (int i = 0; i < 4096; i++)
        fputs("0123456789abcdef", f);
    fclose(f);
    f = fopen(sparse, "w");
    assert_non_null(f);
    assert_int_equal(fseek(f, 1 << 20, SEEK_SET), 0);
    fputs("tail", f);
    fclose(f);
    AFS_ASSERT_OK(afs_fs_posix_new(&fs));
    AFS_ASSERT_OK(afs_fs_ops_get(fs, &ops, &ctx));
    assert_int_equal(ops->ctl(ctx, AFS_FS_CTL_HAS_HOLES, full), 0);
    assert_int_equal(ops->ctl(ctx, AFS_FS_CTL_HAS_HOLES, sparse), 1);
    assert_int_equal(ops->ctl(ctx, AFS_FS_CTL_HAS_HOLES, root), AFS_EINVAL);
    assert_int_equal(ops->ctl(ctx, 12345, full), AFS_ENOTSUP);
    afs_fs_free(fs);
    afs_test_rmtree(root);
    free(sparse);
    free(full);
    free(root);
}

/*
 * The local backend's own folder .libafs/local/tmp replaced by a file.
 * Before the fix every command on the share failed with "open tmp: Not a
 * directory", which says neither where nor what to do.
 */
static void test_qa_state__local_backend_names_a_replaced_private_folder(void **state)
{
    char *root = afs_test_sandbox("qalocal");
    char *tmp = afs_test_path(root, ".libafs/local/tmp");
    afs_storage *st = NULL;
    FILE *f;
    (void)state;

    AFS_ASSERT_OK(afs_storage_local_new(&st, root, NULL));
    afs_storage_free(st);
    st = NULL;
    afs_test_rmtree(tmp);
    f = fopen(tmp, "w");
    assert_non_null(f);
    fputs("not a folder", f);
    fclose(f);
    assert_int_equal(afs_storage_local_new(&st, root, NULL), AFS_ENOTDIR);
    assert_non_null(strstr(afs_error_last(), "\"tmp\" under .libafs/ is not a folder"));
    assert_non_null(strstr(afs_error_last(), "move that away"));
    assert_int_equal(unlink(tmp), 0);
    AFS_ASSERT_OK(afs_storage_local_new(&st, root, NULL));
    afs_storage_free(st);
    afs_test_rmtree(root);
    free(tmp);
    free(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qa_state__read_only_state_directory_says_so),
        cmocka_unit_test(test_qa_state__posix_says_whether_a_file_has_holes),
        cmocka_unit_test(test_qa_state__local_backend_names_a_replaced_private_folder),
    };
    return cmocka_run_group_tests_name("qa_state", tests, NULL, NULL);
}

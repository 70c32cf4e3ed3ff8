/*
 * The POSIX filesystem reads for sync without touching access times
 * (lib/fs/posix.c, O_NOATIME): a sync is not an access, and an atime
 * update would dirty every inode read for the next sync to write back.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support.h"

static void test_fs_posix_atime__reading_keeps_the_access_time(void **state)
{
    char *path = afs_test_path(*state, "old.txt");
    struct timespec old[2] = { { 1600000000, 0 }, { 1600000000, 0 } };
    const afs_fs_ops *ops;
    afs_fs *fs = NULL;
    void *ctx, *fh = NULL;
    char buf[16];
    size_t n = 0;
    struct stat st;

    afs_test_write_file(path, "some bytes", 10);
    /* An access time far in the past: relatime would update it on a read. */
    assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
    AFS_ASSERT_OK(afs_fs_posix_new(&fs));
    AFS_ASSERT_OK(afs_fs_ops_get(fs, &ops, &ctx));
    AFS_ASSERT_OK(ops->open(ctx, path, AFS_FS_O_READ, &fh));
    AFS_ASSERT_OK(ops->read(ctx, fh, 0, buf, sizeof(buf), &n));
    AFS_ASSERT_OK(ops->close(ctx, fh));
    assert_int_equal(n, 10);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_atim.tv_sec, 1600000000);
    afs_fs_free(fs);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fs_posix_atime__reading_keeps_the_access_time,
                                        afs_test_setup_sandbox, afs_test_teardown_sandbox),
    };
    return cmocka_run_group_tests_name("fs_posix_atime", tests, NULL, NULL);
}

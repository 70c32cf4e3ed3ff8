/*
 * A program outside the project, built against an installed libafs by
 * tests/packaging/consumer.sh (pkg-config, pkg-config --static, and
 * find_package(afs) in CMakeLists.txt beside this file).
 */
#include <afs.h>

#include <stdio.h>
#include <string.h>

int main(void)
{
    const char *last;

    printf("libafs %s\n", afs_version_string());
    if (strcmp(afs_version_string(), AFS_VERSION_STRING) != 0) {
        printf("consumer: header says %s, library says %s\n", AFS_VERSION_STRING,
               afs_version_string());
        return 1;
    }
    printf("strerror(AFS_ECONDITION): %s\n", afs_strerror(AFS_ECONDITION));

    last = afs_error_last();
    printf("error_last before: %s\n", last ? last : "(NULL)");
    if (!last)
        return 1;

    if (afs_error_set_str(AFS_EIO, "consumer: simulated failure") != AFS_EIO)
        return 1;
    last = afs_error_last();
    printf("error_last after: %s\n", last ? last : "(NULL)");
    if (!last || strstr(last, "simulated failure") == NULL)
        return 1;

    printf("consumer: ok\n");
    return 0;
}

/*
 * Header test (STYLE.md 7): the whole public API through afs.h, compiled as
 * C99 and, from a copy named .cpp, as C++11, both with -Wall -Wextra
 * -pedantic -Werror. Uses every _INIT macro so an incomplete initializer
 * (-Wmissing-field-initializers) breaks the build, and checks that the
 * header and the library agree on the version.
 */
#include <afs.h>

#include <stdio.h>
#include <string.h>

#ifdef __cplusplus
#define LANG "C++"
#else
#define LANG "C"
#endif

int main(void)
{
    afs_storage_put_options put = AFS_STORAGE_PUT_OPTIONS_INIT;
    afs_storage_local_options local = AFS_STORAGE_LOCAL_OPTIONS_INIT;
    afs_service_options service = AFS_SERVICE_OPTIONS_INIT;
    afs_azure_options azure = AFS_AZURE_OPTIONS_INIT;
    afs_fs_ops fs_ops;
    afs_storage_ops storage_ops;

    memset(&fs_ops, 0, sizeof fs_ops);
    memset(&storage_ops, 0, sizeof storage_ops);
    fs_ops.version = AFS_FS_OPS_VERSION;
    storage_ops.version = AFS_STORAGE_OPS_VERSION;

    if (put.version != AFS_STORAGE_PUT_OPTIONS_VERSION ||
        local.version != AFS_STORAGE_LOCAL_OPTIONS_VERSION ||
        service.version != AFS_SERVICE_OPTIONS_VERSION ||
        azure.version != AFS_AZURE_OPTIONS_VERSION) {
        fprintf(stderr, "headertest (%s): an _INIT macro has the wrong version\n", LANG);
        return 1;
    }
    if (afs_version() != (unsigned int)AFS_VERSION_NUM) {
        fprintf(stderr, "headertest (%s): afs_version() 0x%06x != AFS_VERSION_NUM 0x%06x\n",
                LANG, afs_version(), (unsigned int)AFS_VERSION_NUM);
        return 1;
    }
    if (strcmp(afs_version_string(), AFS_VERSION_STRING) != 0) {
        fprintf(stderr, "headertest (%s): afs_version_string() \"%s\" != \"%s\"\n", LANG,
                afs_version_string(), AFS_VERSION_STRING);
        return 1;
    }
    if (afs_strerror(AFS_ECONDITION) == NULL || afs_error_last() == NULL) {
        fprintf(stderr, "headertest (%s): a message function returned NULL\n", LANG);
        return 1;
    }
    printf("headertest (%s): libafs %s, AFS_VERSION_NUM 0x%06x: ok\n", LANG,
           afs_version_string(), afs_version());
    return 0;
}

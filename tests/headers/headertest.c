/*
 * Header test (STYLE.md 7): the whole public API through afs.h, compiled as
 * C99 and, from a copy named .cpp, as C++11, both with -Wall -Wextra
 * -pedantic -Werror. Uses every _INIT macro so an incomplete initializer
 * (-Wmissing-field-initializers) breaks the build, and checks that the
 * header and the library agree on the version.
 */
#include <afs.h>

#include <stddef.h>
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
    afs_endpoint_options endpoint = AFS_ENDPOINT_OPTIONS_INIT;
    afs_heat_list_options heat = AFS_HEAT_LIST_OPTIONS_INIT;
    afs_fs_ops fs_ops;
    afs_storage_ops storage_ops;
    /*
     * The lists return arrays of pointers to rows the library allocates, and
     * a listed endpoint points to its options, so rows and options can grow
     * at their end (docs/api-conventions.md#structs-the-library-returns).
     * Going back to an array of structs, or to options embedded by value,
     * stops this from compiling.
     */
    int (*list_endpoints)(afs_group *, afs_endpoint_info ***, size_t *) = afs_endpoint_list;
    void (*free_endpoints)(afs_endpoint_info **, size_t) = afs_endpoint_info_free;
    int (*list_errors)(afs_endpoint *, afs_item_error ***, size_t *) = afs_endpoint_errors;
    void (*free_errors)(afs_item_error **, size_t) = afs_item_errors_free;
    int (*list_heat)(afs_service *, const char *, const afs_heat_list_options *,
                     afs_heat_entry ***, size_t *) = afs_heat_list;
    void (*free_heat)(afs_heat_entry **, size_t) = afs_heat_entries_free;
    afs_endpoint_info info;
    afs_endpoint_info **rows = NULL;
    size_t nrows = 1;

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
    memset(&info, 0, sizeof info);
    info.options = &endpoint;
    /* Every returned row starts with the version the library sets. */
    if (offsetof(afs_endpoint_info, version) != 0 || offsetof(afs_item_error, version) != 0 ||
        offsetof(afs_heat_entry, version) != 0 ||
        info.options->version != AFS_ENDPOINT_OPTIONS_VERSION ||
        heat.version != AFS_HEAT_LIST_OPTIONS_VERSION) {
        fprintf(stderr, "headertest (%s): a returned row does not start with its version\n",
                LANG);
        return 1;
    }
    /* Through the pointers: bad arguments fail cleanly, NULL lists free. */
    if (list_endpoints(NULL, &rows, &nrows) != AFS_EINVAL || rows != NULL || nrows != 0 ||
        list_errors(NULL, NULL, NULL) != AFS_EINVAL ||
        list_heat(NULL, NULL, &heat, NULL, NULL) != AFS_EINVAL) {
        fprintf(stderr, "headertest (%s): a list accepted NULL arguments\n", LANG);
        return 1;
    }
    free_endpoints(NULL, 0);
    free_errors(NULL, 0);
    free_heat(NULL, 0);
    afs_error_clear();
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

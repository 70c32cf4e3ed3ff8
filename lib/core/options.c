/*
 * Versioned public structs (docs/api-conventions.md#versioned-structs): the
 * size of every version of every struct a caller passes in or hands over to
 * be filled, and the copies that touch only the caller's version's bytes.
 */
#include <string.h>

#include "internal.h"

/* The bytes of a version whose last field is `field`. */
#define END_OF(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))

/*
 * One entry per struct. When a struct grows, append the new version's size
 * here (test_core checks that the newest one covers the whole struct).
 */
const afs__vstruct afs__vs_endpoint_options = {
    "afs_endpoint_options", "initialise the struct with AFS_ENDPOINT_OPTIONS_INIT or "
    "afs_endpoint_options_init()", AFS_ENDPOINT_OPTIONS_VERSION,
    { END_OF(afs_endpoint_options, exclude_count) }
};
const afs__vstruct afs__vs_service_options = {
    "afs_service_options", "initialise the struct with AFS_SERVICE_OPTIONS_INIT or "
    "afs_service_options_init()", AFS_SERVICE_OPTIONS_VERSION,
    { END_OF(afs_service_options, fs) }
};
const afs__vstruct afs__vs_storage_local_options = {
    "afs_storage_local_options", "initialise the struct with AFS_STORAGE_LOCAL_OPTIONS_INIT or "
    "afs_storage_local_options_init()", AFS_STORAGE_LOCAL_OPTIONS_VERSION,
    { END_OF(afs_storage_local_options, flags) }
};
const afs__vstruct afs__vs_storage_put_options = {
    "afs_storage_put_options", "initialise the struct with AFS_STORAGE_PUT_OPTIONS_INIT or "
    "afs_storage_put_options_init()", AFS_STORAGE_PUT_OPTIONS_VERSION,
    { END_OF(afs_storage_put_options, meta_values) }
};
const afs__vstruct afs__vs_azure_options = {
    "afs_azure_options", "initialise the struct with AFS_AZURE_OPTIONS_INIT or "
    "afs_azure_options_init()", AFS_AZURE_OPTIONS_VERSION,
    { END_OF(afs_azure_options, single_put_max) }
};
const afs__vstruct afs__vs_sync_options = {
    "afs_sync_options", "initialise the struct with AFS_SYNC_OPTIONS_INIT or "
    "afs_sync_options_init()", AFS_SYNC_OPTIONS_VERSION,
    { END_OF(afs_sync_options, threads) }
};
const afs__vstruct afs__vs_sync_result = {
    "afs_sync_result", "initialise the struct with AFS_SYNC_RESULT_INIT",
    AFS_SYNC_RESULT_VERSION, { END_OF(afs_sync_result, full_cloud_scan) }
};
const afs__vstruct afs__vs_provisioning = {
    "afs_provisioning", "set its version to AFS_PROVISIONING_VERSION",
    AFS_PROVISIONING_VERSION, { END_OF(afs_provisioning, content_download) }
};
const afs__vstruct afs__vs_tier_info = {
    "afs_tier_info", "set its version to AFS_TIER_INFO_VERSION",
    AFS_TIER_INFO_VERSION, { END_OF(afs_tier_info, marker_len) }
};
const afs__vstruct afs__vs_tier_result = {
    "afs_tier_result", "initialise the struct with AFS_TIER_RESULT_INIT",
    AFS_TIER_RESULT_VERSION, { END_OF(afs_tier_result, next_interval_s) }
};
const afs__vstruct afs__vs_tier_pass_options = {
    "afs_tier_pass_options", "initialise the struct with AFS_TIER_PASS_OPTIONS_INIT or "
    "afs_tier_pass_options_init()", AFS_TIER_PASS_OPTIONS_VERSION,
    { END_OF(afs_tier_pass_options, now_ns) }
};
const afs__vstruct afs__vs_heat_list_options = {
    "afs_heat_list_options", "initialise the struct with AFS_HEAT_LIST_OPTIONS_INIT or "
    "afs_heat_list_options_init()", AFS_HEAT_LIST_OPTIONS_VERSION,
    { END_OF(afs_heat_list_options, now_ns) }
};
const afs__vstruct afs__vs_recall_options = {
    "afs_recall_options", "initialise the struct with AFS_RECALL_OPTIONS_INIT or "
    "afs_recall_options_init()", AFS_RECALL_OPTIONS_VERSION,
    { END_OF(afs_recall_options, flags), END_OF(afs_recall_options, progress_payload) }
};
const afs__vstruct afs__vs_recall_result = {
    "afs_recall_result", "initialise the struct with AFS_RECALL_RESULT_INIT",
    AFS_RECALL_RESULT_VERSION, { END_OF(afs_recall_result, first_error) }
};
const afs__vstruct afs__vs_recall_host_info = {
    "afs_recall_host_info", "set its version to AFS_RECALL_HOST_INFO_VERSION",
    AFS_RECALL_HOST_INFO_VERSION, { END_OF(afs_recall_host_info, since_ns) }
};
const afs__vstruct afs__vs_tier_stats = {
    "afs_tier_stats", "set its version to AFS_TIER_STATS_VERSION",
    AFS_TIER_STATS_VERSION, { END_OF(afs_tier_stats, volume_free_bytes) }
};
/* The vtables a host registers: the same rule, one size per version's last slot. */
const afs__vstruct afs__vs_fs_ops = {
    "afs_fs_ops", "set .version to the AFS_FS_OPS_VERSION of the header the table was "
    "written for", AFS_FS_OPS_VERSION,
    { END_OF(afs_fs_ops, canonicalize), END_OF(afs_fs_ops, dir_stat) }
};
const afs__vstruct afs__vs_storage_ops = {
    "afs_storage_ops", "set .version to the AFS_STORAGE_OPS_VERSION of the header the table "
    "was written for", AFS_STORAGE_OPS_VERSION, { END_OF(afs_storage_ops, meta_get) }
};

const afs__vstruct *const afs__vstructs[] = {
    &afs__vs_endpoint_options, &afs__vs_service_options, &afs__vs_storage_local_options,
    &afs__vs_storage_put_options, &afs__vs_azure_options, &afs__vs_sync_options,
    &afs__vs_sync_result, &afs__vs_provisioning, &afs__vs_tier_info, &afs__vs_tier_result,
    &afs__vs_tier_pass_options, &afs__vs_heat_list_options, &afs__vs_recall_options,
    &afs__vs_recall_result, &afs__vs_recall_host_info, &afs__vs_tier_stats, &afs__vs_fs_ops,
    &afs__vs_storage_ops, NULL
};

size_t afs__vstruct_size(const afs__vstruct *t, unsigned int version)
{
    if (version == 0 || version > t->newest || version > AFS__VSTRUCT_VERSIONS)
        return 0;
    return t->size[version - 1];
}

/* The version a caller's struct says it has: its first member. */
static unsigned int version_of(const void *s)
{
    return *(const unsigned int *)s;
}

static void set_version(void *s, unsigned int version)
{
    *(unsigned int *)s = version;
}

int afs__vstruct_check(const afs__vstruct *t, unsigned int version, const char *fn)
{
    if (afs__vstruct_size(t, version) == 0)
        return afs__error_set(AFS_EVERSION, "%s: %s version %u is not supported (this libafs "
                              "knows versions 1 to %u; %s)",
                              fn, t->name, version, t->newest, t->how);
    return 0;
}

int afs__vstruct_read(const afs__vstruct *t, void *dst, const void *in, const char *fn)
{
    int rc;
    if (!in)
        return 0;
    if ((rc = afs__vstruct_check(t, version_of(in), fn)) != 0)
        return rc;
    /* memmove: `in` may be `dst` itself. */
    memmove(dst, in, afs__vstruct_size(t, version_of(in)));
    set_version(dst, t->newest);
    return 0;
}

int afs__vstruct_write(const afs__vstruct *t, void *out, const void *src, const char *fn)
{
    unsigned int version = version_of(out);
    int rc;
    if ((rc = afs__vstruct_check(t, version, fn)) != 0)
        return rc;
    memcpy(out, src, afs__vstruct_size(t, version));
    set_version(out, version);
    return 0;
}

int afs__options_init(const afs__vstruct *t, void *opts, const void *defaults,
                      unsigned int version, const char *fn)
{
    if (!opts)
        return afs__error_set(AFS_EINVAL, "%s: opts is NULL", fn);
    if (afs__vstruct_size(t, version) == 0)
        return afs__error_set(AFS_EVERSION, "%s: %s version %u is not supported (this libafs "
                              "knows versions 1 to %u)", fn, t->name, version, t->newest);
    memcpy(opts, defaults, afs__vstruct_size(t, version));
    set_version(opts, version);
    return 0;
}

/*
 * The warning that no recall host is active (docs/recall-daemon.md): without
 * afs-hsmd (or another host) an application reading a placeholder gets
 * zeros where its data is not on disk.
 */
#include <stdio.h>

#include "cli.h"

bool cli_recall_host_warn(cli_ctx *ctx, afs_endpoint *ep)
{
    static bool warned;
    afs_endpoint_options o = AFS_ENDPOINT_OPTIONS_INIT;
    afs_recall_host_info hi = { AFS_RECALL_HOST_INFO_VERSION, 0, 0, 0 };
    if (warned || !ctx->svc || !ep)
        return false;
    if (afs_endpoint_get_options(ep, &o) != 0 || !o.tiering_enabled) {
        afs_error_clear();
        return false;
    }
    if (afs_recall_host_query(&hi, ctx->svc) != 0) {
        cli_say("warning: cannot tell whether a recall host runs: %s", afs_error_last());
        afs_error_clear();
    } else if (hi.active) {
        return false;
    } else {
        cli_say("warning: no recall host is active: applications reading a tiered file get "
                "zeros where its data is not on disk; start afs-hsmd (docs/recall-daemon.md)");
    }
    warned = true;
    return true;
}

/*
 * libafs: Azure File Sync-style hybrid file sync and cloud tiering as an
 * embeddable C library. Include this header to get the whole public API.
 *
 * docs/architecture.md describes the objects; docs/api-conventions.md the
 * error, options, versioning and ABI rules every function here follows.
 */
#ifndef AFS_H
#define AFS_H

#include "afs/common.h"
#include "afs/errors.h"
#include "afs/version.h"
#include "afs/sys/fs.h"
#include "afs/sys/storage.h"
#include "afs/storage.h"
#include "afs/service.h"
#include "afs/group.h"
#include "afs/sync.h"
#include "afs/tier.h"
#include "afs/azure.h"

#endif /* AFS_H */

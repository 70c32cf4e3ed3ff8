/*
 * libafs: version numbers.
 *
 * ABI promise: while the major version is 0 the shared library is
 * libafs.so.0 and every 0.x release keeps the ABI of 0.1 (functions and
 * codes are only added). docs/api-conventions.md#abi says how it is checked.
 */
#ifndef AFS_VERSION_H
#define AFS_VERSION_H

#include "common.h"

#define AFS_VERSION_MAJOR 0
#define AFS_VERSION_MINOR 1
#define AFS_VERSION_PATCH 0
#define AFS_VERSION_STRING "0.1.0"
/* (major << 16) | (minor << 8) | patch: compare with afs_version(). */
#define AFS_VERSION_NUM \
    ((AFS_VERSION_MAJOR << 16) | (AFS_VERSION_MINOR << 8) | AFS_VERSION_PATCH)
/* The ABI generation, the number in the SONAME (libafs.so.0). */
#define AFS_SOVERSION 0

AFS_BEGIN_DECL

/* The run-time library version as AFS_VERSION_NUM computes it. */
AFS_EXTERN unsigned int afs_version(void);

/* The run-time library version as a static string ("0.1.0"). */
AFS_EXTERN const char *afs_version_string(void);

AFS_END_DECL

#endif /* AFS_VERSION_H */

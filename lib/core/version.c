/* Run-time version of the library. */
#include "internal.h"

unsigned int afs_version(void)
{
    return AFS_VERSION_NUM;
}

const char *afs_version_string(void)
{
    return AFS_VERSION_STRING;
}

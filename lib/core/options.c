/* The body every afs_..._options_init() shares (docs/api-conventions.md). */
#include <string.h>

#include "internal.h"

int afs__options_init(void *opts, const void *defaults, size_t size, unsigned int version,
                      unsigned int newest, const char *fn, const char *what)
{
    if (!opts)
        return afs__error_set(AFS_EINVAL, "%s: opts is NULL", fn);
    if (version == 0 || version > newest)
        return afs__error_set(AFS_EVERSION, "%s version %u not supported", what, version);
    memcpy(opts, defaults, size);
    return 0;
}

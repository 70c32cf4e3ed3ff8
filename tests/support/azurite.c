/* Azurite helpers for the Azure tests (tests/support/azurite.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "azurite.h"

const char *afs_test_azurite_endpoint(void)
{
    const char *e = getenv("AFS_TEST_AZURITE");
    return e && e[0] ? e : NULL;
}

int afs_test_azurite_skip(const char *suite)
{
    const char *req = getenv("AFS_TEST_AZURITE_REQUIRED");
    if (req && strcmp(req, "1") == 0) {
        fprintf(stderr, "FAILED: %s: AFS_TEST_AZURITE_REQUIRED=1 but AFS_TEST_AZURITE is not "
                        "set: Azurite did not start\n", suite);
        return 1;
    }
    printf("SKIPPED: %s: the Azurite emulator is not running (AFS_TEST_AZURITE is not set); "
           "scripts/test.sh starts it\n", suite);
    return AFS_TEST_SKIP;
}

void afs_test_azurite_env(void)
{
    setenv("AFS_AZURE_ACCOUNT_KEY", AFS_TEST_AZURITE_KEY, 0);
}

char *afs_test_azurite_uri(const char *endpoint, const char *container, const char *prefix)
{
    size_t n = strlen(endpoint) + strlen(container) + (prefix ? strlen(prefix) : 0) + 64;
    char *u = malloc(n);
    if (!u)
        abort();
    snprintf(u, n, "azblob://%s/%s%s%s?endpoint=%s", AFS_TEST_AZURITE_ACCOUNT, container,
             prefix ? "/" : "", prefix ? prefix : "", endpoint);
    return u;
}

char *afs_test_azurite_container_name(const char *tag)
{
    static unsigned counter;
    unsigned r = 0;
    char *n = malloc(64);
    if (!n)
        abort();
    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
        r = (unsigned)getpid() * 2654435761u;
    snprintf(n, 64, "t%.12s-%ld-%u-%08x", tag, (long)getpid(), counter++, r);
    return n;
}

/*
 * Helpers for the tests that need the Azurite blob emulator. scripts/test.sh
 * starts it and exports its endpoint as AFS_TEST_AZURITE
 * ("http://127.0.0.1:<port>/devstoreaccount1"); without it those tests are
 * skipped with a message (exit 77, ctest's SKIP_RETURN_CODE), or fail when
 * AFS_TEST_AZURITE_REQUIRED=1 says it should have been there.
 */
#ifndef AFS_TEST_AZURITE_H
#define AFS_TEST_AZURITE_H

/* Azurite's published development account and key (public, emulator only). */
#define AFS_TEST_AZURITE_ACCOUNT "devstoreaccount1"
#define AFS_TEST_AZURITE_KEY                                                     \
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/" \
    "KBHBeksoGMGw=="

#define AFS_TEST_SKIP 77

/* The endpoint, or NULL when Azurite is not running for the tests. */
const char *afs_test_azurite_endpoint(void);

/* Print why `suite` does not run; the exit code for main() (77, or 1 when required). */
int afs_test_azurite_skip(const char *suite);

/* Point AFS_AZURE_ACCOUNT_KEY at the emulator's key (unless already set). */
void afs_test_azurite_env(void);

/* The azblob:// URI of container `container` (optionally /prefix) at `endpoint`; malloc'd. */
char *afs_test_azurite_uri(const char *endpoint, const char *container, const char *prefix);

/* A fresh, unique container name ("t<tag>-<pid>-<n>-<random>"); malloc'd. */
char *afs_test_azurite_container_name(const char *tag);

#endif

/*
 * The storage conformance suite: every backend (local directory, Azure
 * Blob, Azure Files, a third party's) must pass it. It drives the backend
 * only through the public afs_storage_* calls and asserts outcomes a user
 * would check (docs/guide-storage-vtable.md#conformance).
 *
 * A backend's test file fills an afs_test_storage_factory and calls
 * afs_test_storage_conformance_run() from main().
 */
#ifndef AFS_TEST_CONFORMANCE_H
#define AFS_TEST_CONFORMANCE_H

#include <stdint.h>

#include "afs.h"

typedef struct afs_test_storage_factory {
    /* Handed back to every hook. */
    void *payload;
    /* A fresh, empty share (one per test case). Return 0 or an afs code. */
    int (*create_empty)(void *payload, afs_storage **out);
    /* Another independent handle on the share behind `existing`, as a
     * separate process would open it; called inside fork()ed children. */
    int (*reopen)(void *payload, afs_storage *existing, afs_storage **out);
    /* Optional: free `storage` (from create_empty) and delete its share.
     * NULL: afs_storage_free() only. */
    void (*destroy)(void *payload, afs_storage *storage);
    /* Finest mtime the backend keeps, in ns (1 = nanoseconds; 0 means 1 s). */
    int64_t mtime_resolution_ns;
} afs_test_storage_factory;

/*
 * Run every conformance case against the backend `factory` makes, as a
 * cmocka group named "conformance:<backend_name>". Each case gets its own
 * empty share. Returns the number of failed cases (0 = conformant).
 */
int afs_test_storage_conformance_run(const char *backend_name,
                                     const afs_test_storage_factory *factory);

#endif /* AFS_TEST_CONFORMANCE_H */

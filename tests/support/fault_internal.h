/* The fault controller shared by tests/support/fault_fs.c and fault_storage.c. */
#ifndef AFS_TEST_FAULT_INTERNAL_H
#define AFS_TEST_FAULT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "fault.h"

/* A controller for a vtable whose slot names are `names[0..count)`. */
afs_test_fault *afs__fault_new(const char *const *names, size_t count);
void afs__fault_free(afs_test_fault *f);

/*
 * Call at the start of every forwarded slot (`slot` indexes `names`).
 * Counts the call, applies latency, and returns 0 to go on with the inner
 * call or a code to return instead. A crash-before plan exits here. When
 * *crash_after comes back true, call afs__fault_after() once the inner
 * call returned.
 */
int afs__fault_enter(afs_test_fault *f, size_t slot, bool *crash_after);
void afs__fault_after(bool crash_after);
/* Call the hook, if any (tests/support/fault.h afs_test_fault_hook). */
void afs__fault_hook_call(afs_test_fault *f, const char *op, const char *path);

#endif

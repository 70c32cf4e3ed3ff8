/*
 * Fault-injecting wrappers around both vtables (STYLE.md 13, after SQLite's
 * test_vfs.c). A wrapper forwards every slot to an inner afs_fs / afs_storage
 * and, by a plan set at any time, can:
 *   - fail the Nth matching call once (transiently or with any code),
 *   - fail every matching call from the Nth on ("for good"),
 *   - stop the process at the Nth matching call, before or after the inner
 *     call has taken effect (for crash tests: run the work in a fork()ed
 *     child; it exits with AFS_TEST_CRASH_EXIT),
 *   - add latency to matching calls,
 *   - count calls per slot.
 * "Matching" means the slot name equals `op` ("read", "put", "rename", ...,
 * the afs_fs_ops / afs_storage_ops field names), or any slot when `op` is
 * NULL. Counting is thread-safe. Calls are numbered from 1.
 */
#ifndef AFS_TEST_FAULT_H
#define AFS_TEST_FAULT_H

#include <stdbool.h>
#include <stdint.h>

#include "afs.h"

#define AFS_TEST_CRASH_EXIT 77

typedef enum afs_test_fault_mode {
    AFS_FAULT_NONE = 0,
    AFS_FAULT_ONCE,         /* the Nth matching call returns `code`, later ones pass */
    AFS_FAULT_PERSISTENT,   /* the Nth and every later matching call return `code` */
    AFS_FAULT_CRASH_BEFORE, /* _exit(AFS_TEST_CRASH_EXIT) instead of the Nth call */
    AFS_FAULT_CRASH_AFTER   /* do the Nth call, then _exit(AFS_TEST_CRASH_EXIT) */
} afs_test_fault_mode;

/* The controller shared by a wrapper and the test. */
typedef struct afs_test_fault afs_test_fault;

/* Set (replace) the plan: `mode` at the `nth` call matching `op` (NULL = any). */
void afs_test_fault_set(afs_test_fault *f, const char *op, uint64_t nth,
                        afs_test_fault_mode mode, int code);
/* Remove the plan (counts are kept). */
void afs_test_fault_clear(afs_test_fault *f);
/* Add `usec` microseconds of latency to every call matching `op` (NULL = any; 0 = none). */
void afs_test_fault_latency(afs_test_fault *f, const char *op, unsigned int usec);
/* Number of calls made to slot `op` so far (NULL = all slots). */
uint64_t afs_test_fault_count(const afs_test_fault *f, const char *op);
/* Number of faults injected so far. */
uint64_t afs_test_fault_injected(const afs_test_fault *f);
/* Reset all counters to zero. */
void afs_test_fault_reset_counts(afs_test_fault *f);

/*
 * A hook called before every storage stat, read, put, remove and list the
 * wrapper forwards (after the plan, if the plan lets the call through),
 * with the slot name and the path: a test can do something at an exact
 * point of the engine's work, for example another server's move while
 * this one is paused inside a read. NULL removes it. Storage wrapper only.
 */
typedef void (*afs_test_fault_hook_fn)(const char *op, const char *path, void *payload);
void afs_test_fault_hook(afs_test_fault *f, afs_test_fault_hook_fn fn, void *payload);

/*
 * Wrap `inner` (borrowed; must outlive the wrapper). *out is a new afs_fs /
 * afs_storage to hand to the library; *ctl controls it and is freed with the
 * wrapper (afs_fs_free / afs_storage_free on *out). Return 0 or an afs code.
 */
int afs_test_fault_fs_new(afs_fs **out, afs_fs *inner, afs_test_fault **ctl);
int afs_test_fault_storage_new(afs_storage **out, afs_storage *inner, afs_test_fault **ctl);
/* The same, but the wrapper owns `inner` and frees it when it is freed (on
 * failure the caller still owns it). */
int afs_test_fault_storage_new_owning(afs_storage **out, afs_storage *inner,
                                      afs_test_fault **ctl);
/* The controller of a storage made by afs_test_fault_storage_new*(); NULL
 * for any other storage. */
afs_test_fault *afs_test_fault_storage_ctl(afs_storage *storage);

#endif /* AFS_TEST_FAULT_H */

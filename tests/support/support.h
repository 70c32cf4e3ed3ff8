/*
 * Shared test support: a fresh sandbox directory per test, small file
 * helpers, and assertions that print libafs's own error message.
 */
#ifndef AFS_TEST_SUPPORT_H
#define AFS_TEST_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "afs.h"

/* Fail the test with libafs's message unless `expr` returns 0. */
#define AFS_ASSERT_OK(expr)                                                          \
    do {                                                                             \
        int afs_rc_ = (expr);                                                        \
        if (afs_rc_ != 0)                                                            \
            fail_msg("%s returned %d (%s): %s", #expr, afs_rc_, afs_strerror(afs_rc_), \
                     afs_error_last());                                              \
    } while (0)

/* Fail unless `expr` returns exactly `code`. */
#define AFS_ASSERT_CODE(expr, code)                                                     \
    do {                                                                                \
        int afs_rc_ = (expr);                                                           \
        if (afs_rc_ != (code))                                                          \
            fail_msg("%s returned %d (%s), expected %d (%s): %s", #expr, afs_rc_,       \
                     afs_strerror(afs_rc_), (int)(code), afs_strerror(code), afs_error_last()); \
    } while (0)

/*
 * Create a fresh, empty sandbox directory for one test, under
 * $AFS_TEST_TMPDIR (set by ctest to <build>/sandbox) or $TMPDIR or /tmp.
 * Returns a malloc'd absolute path; aborts the test on failure.
 */
char *afs_test_sandbox(const char *name);

/* Remove a directory tree (like rm -rf); missing is fine. */
void afs_test_rmtree(const char *path);

/* Join with '/' into a malloc'd string. */
char *afs_test_path(const char *dir, const char *name);

/* Write `len` bytes to `path` (creating parents); aborts the test on failure. */
void afs_test_write_file(const char *path, const void *data, size_t len);

/* Read a whole file into a malloc'd, NUL-terminated buffer; NULL if missing. */
char *afs_test_read_file(const char *path, size_t *len);

/* mkdir -p; aborts the test on failure. */
void afs_test_mkdirs(const char *path);

/*
 * `size` bytes (zeroed), 8-byte aligned, directly followed by an
 * inaccessible page, for a struct the library must not read or write past:
 * one byte beyond it crashes the test. When `size` is not a multiple of 8
 * (a version that ends before the struct's tail padding) the 1 to 7 bytes
 * up to the page hold a pattern instead, which afs_test_guarded_check() and
 * afs_test_guarded_free() fail the test for if it was written.
 * Free with afs_test_guarded_free(p, size).
 */
void *afs_test_guarded_new(size_t size);
void afs_test_guarded_check(const void *p, size_t size);
void afs_test_guarded_free(void *p, size_t size);

/*
 * Fail unless the thread's last error message says that function `fn`
 * refused `version` of struct `type` ("<fn>: <type> version N is not
 * supported").
 */
void afs_test_assert_version_refused(const char *fn, const char *type, unsigned int version);

/* The bytes of a struct version whose last field is `field`. */
#define AFS_TEST_END_OF(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))

/* Cmocka group setup/teardown that give each test a sandbox in *state. */
/* Put `text` as the whole object `path` of a storage; fail the test on error. */
void afs_test_storage_put_text(afs_storage *s, const char *path, const char *text);
/* Fail unless object `path` holds exactly `want` (at most 255 bytes). */
void afs_test_storage_assert_text(afs_storage *s, const char *path, const char *want);

int afs_test_setup_sandbox(void **state);
int afs_test_teardown_sandbox(void **state);

#endif

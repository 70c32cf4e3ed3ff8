/*
 * libcurl, loaded at run time (curl_load.c). libafs.so does not link
 * libcurl: its ~38 shared libraries would cost every process a few
 * milliseconds at start (docs/benchmarks.md, "Process start"), and only the
 * Azure backends use it. The first Azure backend opened loads libcurl.so.4
 * with dlopen and calls curl through this table; a process that never opens
 * one never maps it. curl/curl.h still gives the types and constants, and
 * slot f is curl_f, with that function's type.
 */
#ifndef AFS_AZURE_CURL_LOAD_H
#define AFS_AZURE_CURL_LOAD_H

#include <curl/curl.h>

/* The soname loaded: the libcurl ABI since 7.16 (Debian package libcurl4). */
#define AZH_CURL_SONAME "libcurl.so.4"

struct azh_curl {
    __typeof__(curl_global_init) *global_init;
    __typeof__(curl_easy_init) *easy_init;
    __typeof__(curl_easy_setopt) *easy_setopt;
    __typeof__(curl_easy_perform) *easy_perform;
    __typeof__(curl_easy_getinfo) *easy_getinfo;
    __typeof__(curl_easy_reset) *easy_reset;
    __typeof__(curl_easy_cleanup) *easy_cleanup;
    __typeof__(curl_easy_strerror) *easy_strerror;
    __typeof__(curl_slist_append) *slist_append;
    __typeof__(curl_slist_free_all) *slist_free_all;
    __typeof__(curl_getdate) *getdate;
};

/*
 * The table, loading libcurl and running curl_global_init the first time
 * (once per process, thread-safe; a failure is final for the process).
 * Returns 0 and sets *out, or AFS_ENOTSUP when
 * libcurl cannot be loaded (the message names the library and the package
 * to install) and AFS_EIO when curl_global_init fails, with the thread's
 * error set. The table lives as long as the process.
 */
int azh_curl_get(const struct azh_curl **out);

/* azh_curl_test_soname() (tests only) is declared in http.h: tests use it
 * without curl's headers. */

#endif /* AFS_AZURE_CURL_LOAD_H */

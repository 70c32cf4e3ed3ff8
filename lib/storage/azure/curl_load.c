/*
 * Loading libcurl on first use (curl_load.h): dlopen of libcurl.so.4, the
 * table filled with dlsym, curl_global_init, all once per process.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "../../core/internal.h"
#include "curl_load.h"
#include "http.h"

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static const char *load_soname = AZH_CURL_SONAME;
static bool load_started; /* azh_curl_test_soname() comes too late once set */
static struct azh_curl table;
/* The outcome, kept for every caller's thread (the error message is per thread). */
static int load_rc;
static char load_msg[512];

/* POSIX: a function's address survives the void * of dlsym. */
_Static_assert(sizeof(void (*)(void)) == sizeof(void *), "function pointers fit a void *");

/* dlsym `name` into a slot of the table; false (and the message) when it is missing. */
static bool resolve(void *lib, void *slot, const char *name)
{
    void *sym;

    dlerror();
    sym = dlsym(lib, name);
    if (!sym) {
        const char *why = dlerror();
        snprintf(load_msg, sizeof(load_msg),
                 "azure: %s lacks %s (%s), it is not a usable libcurl; install the "
                 "libcurl4 package",
                 load_soname, name, why ? why : "no such symbol");
        return false;
    }
    memcpy(slot, &sym, sizeof(sym));
    return true;
}

/* Slot `f` of the table holds curl_<f>. */
#define RESOLVE(f) resolve(lib, &t.f, "curl_" #f)

static void load(void)
{
    struct azh_curl t;
    CURLcode cc;
    void *lib;

    load_started = true;
    memset(&t, 0, sizeof(t));
    /* RTLD_LOCAL: curl's symbols stay out of the host's namespace. A process
     * that already has libcurl gets the same copy back. */
    lib = dlopen(load_soname, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *why = dlerror();
        load_rc = AFS_ENOTSUP;
        snprintf(load_msg, sizeof(load_msg),
                 "azure: cannot load %s (%s): the Azure backends load libcurl when first "
                 "used; install the libcurl4 package",
                 load_soname, why ? why : "not found");
        return;
    }
    if (!RESOLVE(global_init) || !RESOLVE(easy_init) || !RESOLVE(easy_setopt) ||
        !RESOLVE(easy_perform) || !RESOLVE(easy_getinfo) || !RESOLVE(easy_reset) ||
        !RESOLVE(easy_cleanup) || !RESOLVE(easy_strerror) || !RESOLVE(slist_append) ||
        !RESOLVE(slist_free_all) || !RESOLVE(getdate)) {
        load_rc = AFS_ENOTSUP;
        dlclose(lib);
        return;
    }
    cc = t.global_init(CURL_GLOBAL_DEFAULT);
    if (cc != CURLE_OK) {
        /* libcurl stays loaded: undoing a half-done global init is not safe. */
        load_rc = AFS_EIO;
        snprintf(load_msg, sizeof(load_msg), "azure: libcurl initialisation failed: %s",
                 t.easy_strerror(cc));
        return;
    }
    table = t;
    load_rc = 0;
}

#undef RESOLVE

int azh_curl_get(const struct azh_curl **out)
{
    *out = NULL;
    pthread_once(&load_once, load);
    if (load_rc != 0)
        return afs__error_set(load_rc, "%s", load_msg);
    *out = &table;
    return 0;
}

void azh_curl_test_soname(const char *soname)
{
    if (!load_started)
        load_soname = soname;
}

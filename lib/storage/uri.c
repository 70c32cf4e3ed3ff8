/*
 * Opening a storage backend from a URI or a path (afs_storage_open). Built
 * in: the local-directory backend (paths, file://) and Azure Blob
 * (azblob://, https://<account>.blob.core.windows.net/...); schemes a host
 * registered come first. Other schemes are refused with AFS_ENOTSUP so a
 * caller can tell "not built in" from "malformed".
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../core/internal.h"
#include "azure/azure_internal.h"

/* Percent-decode `s` into a new string; NUL, a bad escape, '?' or '#' are malformed. */
static int percent_decode(const char *s, const char *uri, char **out)
{
    size_t n = strlen(s), o = 0;
    char *d = afs__malloc(n + 1);

    *out = NULL;
    if (!d)
        return AFS_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi = afs__hexval(s[i + 1]); /* s[i + 1] is at worst the NUL */
            int lo = hi >= 0 ? afs__hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(d);
                return afs__error_set(AFS_EINVAL, "storage URI \"%s\": bad percent escape",
                                      uri);
            }
            d[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else if (s[i] == '?' || s[i] == '#') {
            /* A file URI has no query or fragment; a literal one must be %-escaped. */
            free(d);
            return afs__error_set(AFS_EINVAL,
                                  "storage URI \"%s\": query or fragment in a file URI", uri);
        } else {
            d[o++] = s[i];
        }
    }
    d[o] = '\0';
    *out = d;
    return 0;
}

/* "file:///p", "file://localhost/p" or "file:/p" -> "/p" (decoded). */
static int file_uri_path(const char *uri, char **out)
{
    const char *rest = uri + 5; /* after "file:" */
    const char *path;

    if (strncmp(rest, "//", 2) == 0) {
        const char *host = rest + 2;
        path = strchr(host, '/');
        if (!path)
            return afs__error_set(AFS_EINVAL, "storage URI \"%s\": no path", uri);
        if (path != host && !((size_t)(path - host) == 9 && strncasecmp(host, "localhost", 9) == 0))
            return afs__error_set(AFS_EINVAL,
                                  "storage URI \"%s\": file URIs name this host only (empty or "
                                  "\"localhost\"); use a mount for a remote directory",
                                  uri);
    } else if (rest[0] == '/') {
        path = rest;
    } else {
        return afs__error_set(AFS_EINVAL, "storage URI \"%s\": a file URI needs an absolute path",
                              uri);
    }
    return percent_decode(path, uri, out);
}

/* Length of the scheme if `uri` starts with "<scheme>://", else 0. */
static size_t scheme_len(const char *uri)
{
    size_t i = 0;
    if (!isalpha((unsigned char)uri[0]))
        return 0;
    while (isalnum((unsigned char)uri[i]) || uri[i] == '+' || uri[i] == '-' || uri[i] == '.')
        i++;
    return strncmp(uri + i, "://", 3) == 0 ? i : 0;
}

/* Schemes hosts registered (afs_storage_scheme_register). */
#define MAX_SCHEMES 16
static struct scheme {
    char name[32];
    afs_storage_open_fn fn;
    void *payload;
} schemes[MAX_SCHEMES];
static pthread_mutex_t schemes_lock = PTHREAD_MUTEX_INITIALIZER;

int afs_storage_scheme_register(const char *scheme, afs_storage_open_fn fn, void *payload)
{
    size_t len = scheme ? strlen(scheme) : 0;
    int rc = 0, free_slot = -1, found = -1;

    if (len == 0 || len >= sizeof(schemes[0].name) || !isalpha((unsigned char)scheme[0]) ||
        strspn(scheme, "abcdefghijklmnopqrstuvwxyz0123456789+.-") != len)
        return afs__error_set(AFS_EINVAL, "afs_storage_scheme_register: \"%s\" is not a "
                              "lower-case URI scheme", scheme ? scheme : "(null)");
    if (strcmp(scheme, "file") == 0)
        return afs__error_set(AFS_EINVAL, "afs_storage_scheme_register: \"file\" is built in");
    pthread_mutex_lock(&schemes_lock);
    for (int i = 0; i < MAX_SCHEMES; i++) {
        if (schemes[i].fn && strcmp(schemes[i].name, scheme) == 0)
            found = i;
        else if (!schemes[i].fn && free_slot < 0)
            free_slot = i;
    }
    if (found >= 0) {
        schemes[found].fn = fn; /* NULL removes it */
        schemes[found].payload = payload;
    } else if (!fn) {
        rc = afs__error_set(AFS_ENOTFOUND, "storage scheme \"%s\" is not registered", scheme);
    } else if (free_slot < 0) {
        rc = afs__error_set(AFS_ELIMIT, "at most %d storage schemes can be registered",
                            MAX_SCHEMES);
    } else {
        snprintf(schemes[free_slot].name, sizeof(schemes[0].name), "%s", scheme);
        schemes[free_slot].fn = fn;
        schemes[free_slot].payload = payload;
    }
    pthread_mutex_unlock(&schemes_lock);
    return rc;
}

/* The registered opener of the scheme of `uri` (its first `len` bytes). */
static bool find_scheme(const char *uri, size_t len, afs_storage_open_fn *fn, void **payload)
{
    bool found = false;
    pthread_mutex_lock(&schemes_lock);
    for (int i = 0; i < MAX_SCHEMES && !found; i++)
        if (schemes[i].fn && strlen(schemes[i].name) == len &&
            strncasecmp(schemes[i].name, uri, len) == 0) {
            *fn = schemes[i].fn;
            *payload = schemes[i].payload;
            found = true;
        }
    pthread_mutex_unlock(&schemes_lock);
    return found;
}

int afs_storage_open(afs_storage **out, const char *uri)
{
    afs_storage_open_fn open_fn;
    void *open_payload;
    char *path = NULL;
    size_t sl;
    int rc;

    if (!out || !uri)
        return afs__error_set(AFS_EINVAL, "afs_storage_open: out and uri are required");
    *out = NULL;
    if (!uri[0])
        return afs__error_set(AFS_EINVAL, "afs_storage_open: empty URI");
    sl = scheme_len(uri);
    if (sl > 0 && find_scheme(uri, sl, &open_fn, &open_payload)) {
        rc = open_fn(out, uri, open_payload);
        if (rc == 0 && !*out)
            rc = afs__error_set(AFS_ERROR, "storage scheme \"%.*s\" returned no storage",
                                (int)sl, uri);
        return rc;
    }
    if (afs__azblob_uri_match(uri)) /* built in: docs/azure.md#uris */
        return afs_storage_azblob_new(out, uri, NULL);
    if (afs__azfiles_uri_match(uri)) /* built in: docs/azure.md#the-azure-files-backend */
        return afs_storage_azfiles_new(out, uri, NULL);
    if (strncasecmp(uri, "file:", 5) == 0) { /* RFC 8089: always a file URI */
        if ((rc = file_uri_path(uri, &path)) != 0)
            goto done;
    } else if (sl > 0) {
        rc = afs__error_set(AFS_ENOTSUP,
                            "storage URI \"%.*s://...\": the \"%.*s\" backend is not built into "
                            "this libafs (built in: file://, local paths, azblob://, azfiles:// "
                            "and https://<account>.{blob,file}.core.windows.net)",
                            (int)sl, uri, (int)sl, uri);
        goto done;
    } else if (strstr(uri, "://") == uri) {
        rc = afs__error_set(AFS_EINVAL, "storage URI \"%s\": empty scheme", uri);
        goto done;
    } else if (uri[0] == '/') {
        if (!(path = afs__strdup(uri))) {
            rc = AFS_ENOMEM;
            goto done;
        }
    } else {
        /* A relative path is taken against the current directory, now. */
        char *cwd = getcwd(NULL, 0);
        if (!cwd) {
            rc = afs__error_errno(errno, "afs_storage_open: %s: current directory", uri);
            goto done;
        }
        path = afs__sprintf("%s/%s", cwd, uri);
        free(cwd);
        if (!path) {
            rc = AFS_ENOMEM;
            goto done;
        }
    }
    rc = afs_storage_local_new(out, path, NULL);
done:
    free(path);
    return rc;
}

/*
 * libafs: sync groups and server endpoints.
 *
 * A sync group is one cloud endpoint (a storage share, given by URI) plus
 * the server endpoints that sync with it, at most one per registered
 * server. The group's definition lives in the share itself, under the
 * reserved prefix, so every host that can reach the share sees the same
 * group and endpoints; the service database keeps this host's list of
 * known groups and its own endpoints' sync state.
 *
 * docs/sync.md explains the rules enforced at creation, with the error code
 * of each.
 */
#ifndef AFS_GROUP_H
#define AFS_GROUP_H

#include "common.h"
#include "service.h"
#include "storage.h"

AFS_BEGIN_DECL

/* A list of strings owned by the library; free with afs_strarray_free(). */
typedef struct afs_strarray {
    char **strings;
    size_t count;
} afs_strarray;

/* Free the strings and the array (the struct itself is the caller's). */
AFS_EXTERN void afs_strarray_free(afs_strarray *array);

typedef struct afs_group afs_group;
typedef struct afs_endpoint afs_endpoint;

/*
 * Create a sync group named `name` (1-255 bytes, no control characters or
 * '/') whose cloud endpoint is the share at `storage_uri` (see
 * afs_storage_open()). The definition is written into the share; the
 * service remembers the group. The share may already hold data.
 * Errors: AFS_EINVAL, AFS_EINVALIDNAME, AFS_EEXISTS (this service already
 * knows a group of that name, or the share already belongs to a group: use
 * afs_group_open() to join it), AFS_ELIMIT (200 groups per service),
 * storage errors. Free with afs_group_close().
 */
AFS_EXTERN int afs_group_create(afs_group **out, afs_service *svc, const char *name,
                                const char *storage_uri);

/*
 * Open a sync group. With `storage_uri` NULL, `name` must be a group this
 * service knows. With `storage_uri`, the group defined in that share is
 * joined (and remembered); `name` may then be NULL, or must match.
 * Errors: AFS_EINVAL, AFS_ENOTFOUND (unknown group, or no group in the
 * share), AFS_ECORRUPT (unreadable definition), storage errors.
 */
AFS_EXTERN int afs_group_open(afs_group **out, afs_service *svc, const char *name,
                              const char *storage_uri);

/* Close the handle (nothing is deleted). NULL is ignored. */
AFS_EXTERN void afs_group_close(afs_group *group);

/*
 * Delete a sync group: its definition is removed from the share (the user
 * data in the share stays) and the service forgets it. Refused with
 * AFS_EBUSY while the group has server endpoints (delete them first).
 * When the share, reachable, no longer holds the group (its .libafs/ was
 * removed, or another group was created there), the service just forgets
 * the group and its own endpoint of it (state included; files stay).
 * Errors: AFS_ENOTFOUND, AFS_EBUSY, storage errors.
 */
AFS_EXTERN int afs_group_delete(afs_service *svc, const char *name);

/* Names of the groups this service knows, sorted. Free with afs_strarray_free(). */
AFS_EXTERN int afs_group_list(afs_service *svc, afs_strarray *out);

/* The group's name, id and storage URI, owned by the handle. */
AFS_EXTERN const char *afs_group_name(const afs_group *group);
AFS_EXTERN const char *afs_group_id(const afs_group *group);
AFS_EXTERN const char *afs_group_storage_uri(const afs_group *group);

/*
 * The group's cloud endpoint storage, borrowed from the handle (valid until
 * afs_group_close()), for direct access to the share.
 */
AFS_EXTERN afs_storage *afs_group_storage(afs_group *group);

/*
 * The journal stale limit (docs/sync.md#change-detection): a server
 * endpoint whose published journal cursor has not moved for this long no
 * longer holds back the pruning of the share's change journal; when it
 * syncs again it enumerates the share in full (nothing is lost). A group
 * setting, kept in the share's group definition, so that every server
 * prunes by the same rule. `seconds` 0 restores the default; otherwise 1 to
 * AFS_JOURNAL_STALE_LIMIT_MAX_S. The rewrite is conditional on the
 * definition's etag (a concurrent change is retried). Errors: AFS_EINVAL,
 * AFS_ECORRUPT (a damaged group definition), AFS_EBUSY (lost 8 races),
 * storage errors.
 */
#define AFS_JOURNAL_STALE_LIMIT_DEFAULT_S 2592000u   /* 30 days */
#define AFS_JOURNAL_STALE_LIMIT_MAX_S 315360000u     /* 10 years */
AFS_EXTERN int afs_group_set_journal_stale_limit(afs_group *group, uint64_t seconds);

/* The group's journal stale limit in seconds into *seconds (the default when
 * none is set). Errors: AFS_EINVAL, AFS_ECORRUPT, storage errors. */
AFS_EXTERN int afs_group_journal_stale_limit(afs_group *group, uint64_t *seconds);

/* Initial sync of a group's first server endpoint. */
typedef enum afs_initial_sync {
    AFS_INITIAL_SYNC_MERGE = 0,               /* default: namespaces merge */
    AFS_INITIAL_SYNC_AUTHORITATIVE_UPLOAD = 1 /* the server is the authority (robocopy /MIR) */
} afs_initial_sync;

/* Initial download of a group's later server endpoints. */
typedef enum afs_initial_download {
    AFS_INITIAL_DOWNLOAD_DEFAULT = 0,                /* namespace only with tiering on,
                                                        namespace then content with it off */
    AFS_INITIAL_DOWNLOAD_NAMESPACE_ONLY = 1,
    AFS_INITIAL_DOWNLOAD_NAMESPACE_THEN_CONTENT = 2,
    AFS_INITIAL_DOWNLOAD_AVOID_TIERED_FILES = 3      /* only with tiering off */
} afs_initial_download;

/* What happens to files other endpoints change (proactive recall). */
typedef enum afs_local_cache_mode {
    AFS_CACHE_UPDATE_LOCALLY_CACHED = 0, /* default */
    AFS_CACHE_DOWNLOAD_NEW_AND_MODIFIED = 1
} afs_local_cache_mode;

/*
 * Options of a server endpoint. Start from AFS_ENDPOINT_OPTIONS_INIT (or
 * afs_endpoint_options_init()), also for afs_endpoint_get_options(): the
 * library reads and writes only the fields of `version`, so a later version
 * can append fields without overrunning an older program's struct.
 */
typedef struct afs_endpoint_options {
    unsigned int version;      /* set by the caller: AFS_ENDPOINT_OPTIONS_VERSION */
    uint32_t initial_sync;     /* afs_initial_sync; first endpoint only */
    uint32_t initial_download; /* afs_initial_download; later endpoints only */
    uint32_t local_cache_mode; /* afs_local_cache_mode */
    uint32_t tiering_enabled;  /* 0 or 1 */
    uint32_t tiering_free_space_percent; /* volume free space policy, 0-99 */
    uint32_t tiering_date_days;          /* date policy; 0 = off */
    uint64_t tiering_min_file_size;      /* bytes; 0 = the default (64 KiB) */
    uint32_t safety_delete_percent;      /* safety net; 0 = the default (50); 100 = off */
    uint32_t change_detection_interval_s; /* full cloud enumeration; 0 = default (300) */
    const char *const *exclude;          /* glob patterns on relative paths or names */
    size_t exclude_count;
    /* version 1 ends here */
} afs_endpoint_options;

#define AFS_ENDPOINT_OPTIONS_VERSION 1
#define AFS_ENDPOINT_OPTIONS_INIT \
    { AFS_ENDPOINT_OPTIONS_VERSION, 0, 0, 0, 0, 20, 0, 0, 0, 0, NULL, 0 }

/*
 * Fill the fields of `version` of `opts` with their defaults and set
 * opts->version; nothing past that version's fields is written.
 * Errors: AFS_EINVAL (opts NULL), AFS_EVERSION (0 or a version this libafs
 * does not know; opts untouched).
 */
AFS_EXTERN int afs_endpoint_options_init(afs_endpoint_options *opts, unsigned int version);

/*
 * Create this server's endpoint in `group` at the absolute local `path` (an
 * existing directory). Enforced, each with its own code and a message that
 * says what to do: the server must be registered (AFS_ENOTFOUND); one
 * endpoint per registered server per group (AFS_EONE_PER_SERVER); no
 * overlap with another endpoint on the volume (AFS_EOVERLAP) and one group
 * per volume for this server (AFS_ESAME_GROUP_VOLUME); no tiering on the
 * system volume (AFS_ESYSTEM_VOLUME); no network file system
 * (AFS_ENETWORK_FS); authoritative upload needs data in the path
 * (AFS_EEMPTY_PATH); initial sync options for the first endpoint only and
 * initial download options for later ones (AFS_EINITIAL_OPTION);
 * avoid-tiered-files needs tiering off (AFS_EAVOID_TIERED); limits of 100
 * endpoints per group and 30 per server (AFS_ELIMIT); another server of
 * the same name (equal but for ASCII case) already in the group
 * (AFS_EEXISTS: conflict copies are named after their server; register
 * this server under another name, from another state directory).
 * `opts` may be NULL (the defaults); otherwise only the fields of
 * opts->version are read (AFS_EVERSION for 0 or a version this libafs does
 * not know), and the library copies what it keeps. Free the handle with
 * afs_endpoint_close().
 */
AFS_EXTERN int afs_endpoint_create(afs_endpoint **out, afs_group *group, const char *path,
                                   const afs_endpoint_options *opts);

/* Open this server's endpoint in `group`. Errors: AFS_ENOTFOUND. The
 * share is not read: an endpoint removed from the group by another host
 * still opens (so that it can be deleted); its sync sessions stop. */
AFS_EXTERN int afs_endpoint_open(afs_endpoint **out, afs_group *group);

/* Close the handle. NULL is ignored. */
AFS_EXTERN void afs_endpoint_close(afs_endpoint *endpoint);

/*
 * Delete this server's endpoint from `group`: the group forgets it and its
 * sync state is removed. Files on the server and in the share stay. Also
 * the way out for an endpoint another host removed from the group
 * (afs_group_remove_endpoint()).
 */
AFS_EXTERN int afs_endpoint_delete(afs_group *group);

/*
 * Remove another server's endpoint from `group` by its id (from
 * afs_endpoint_list()): for a server that is gone (its state directory lost,
 * the machine retired), whose endpoint would otherwise stay in the group for
 * good and keep afs_group_delete() refusing. A forced, administrative step,
 * as removing the server endpoint of an unreachable server from the service
 * side in Azure File Sync: only the group's records of that endpoint are
 * removed from the share (its definition, its published journal cursor and
 * its server's claim on a place in the group). No file is deleted anywhere,
 * neither in the share nor on that server. If the server is in fact alive,
 * its next sync session stops with AFS_ENOTFOUND, changing nothing, until
 * it deletes its endpoint with afs_endpoint_delete() (its files stay) and
 * creates it again. Any host that opens the group may call this; the
 * service need not be registered.
 * Errors: AFS_EINVAL (NULL, not an endpoint id, or this server's own
 * endpoint: use afs_endpoint_delete()), AFS_ENOTFOUND (no such endpoint in
 * the group), AFS_EBUSY (its definition changed meanwhile: its server is
 * alive), AFS_ECORRUPT, storage errors.
 */
AFS_EXTERN int afs_group_remove_endpoint(afs_group *group, const char *endpoint_id);

/*
 * One server endpoint of a group, as every host sees it: a row of
 * afs_endpoint_list(). The library allocates each row on its own and hands
 * out pointers to them, so a later version can append fields without moving
 * a field an older program reads (docs/api-conventions.md#structs-the-library-returns).
 * Read a field added in version N only when `version` >= N.
 */
#define AFS_ENDPOINT_INFO_VERSION 1
typedef struct afs_endpoint_info {
    unsigned int version; /* set by the library: the AFS_ENDPOINT_INFO_VERSION it was built with */
    char *id;
    char *server_name;
    char *server_id;
    char *path;
    int64_t created_ns;
    /* The endpoint's options as its definition in the share holds them,
     * exclude patterns included; never NULL. `options->version` is the
     * AFS_ENDPOINT_OPTIONS_VERSION of the library (read a field of a later
     * version only when it is at least that version). Owned by the list. */
    const afs_endpoint_options *options;
    /* version 1 ends here */
} afs_endpoint_info;

/*
 * All server endpoints of `group` (from the share), oldest first. On success
 * *out is an array of *count pointers to rows (NULL when there are none);
 * index it as (*out)[i]->field, never as an array of structs. The list owns
 * everything it reaches (rows, strings, options, exclude patterns): free it
 * with afs_endpoint_info_free(*out, *count) and keep no pointer into it
 * afterwards. A damaged or vanishing endpoint definition is skipped with a
 * warning in the log. On failure *out is NULL and *count 0.
 * Errors: AFS_EINVAL, AFS_ENOMEM, storage errors.
 */
AFS_EXTERN int afs_endpoint_list(afs_group *group, afs_endpoint_info ***out, size_t *count);

/* Free a list from afs_endpoint_list(): each row, all it points to, and the
 * array of pointers. NULL is ignored. */
AFS_EXTERN void afs_endpoint_info_free(afs_endpoint_info **list, size_t count);

/* The endpoint's local path and id, owned by the handle. */
AFS_EXTERN const char *afs_endpoint_path(const afs_endpoint *endpoint);
AFS_EXTERN const char *afs_endpoint_id(const afs_endpoint *endpoint);

/*
 * The endpoint's current options, with the library's effective defaults
 * filled in. The caller initialises *out first (AFS_ENDPOINT_OPTIONS_INIT or
 * afs_endpoint_options_init()) so that out->version says which version of
 * the struct it has; the library fills in only the fields of that version
 * and writes nothing past them, and out->version keeps the caller's value.
 * out->exclude points to patterns owned by the handle, valid until the next
 * afs_endpoint_set_options() on it or afs_endpoint_close().
 * Errors: AFS_EINVAL (endpoint or out NULL), AFS_EVERSION (out->version 0,
 * or newer than this libafs knows; *out is left as it was).
 */
AFS_EXTERN int afs_endpoint_get_options(afs_endpoint *endpoint, afs_endpoint_options *out);

/*
 * Change the options that may change (tiering policy, cache mode, safety
 * net, change detection interval, exclusions). Only the fields of
 * opts->version are read; the library copies what it keeps. Changing the
 * initial sync or initial download option: AFS_EIMMUTABLE. Other errors as
 * for creation (AFS_EVERSION included).
 */
AFS_EXTERN int afs_endpoint_set_options(afs_endpoint *endpoint,
                                        const afs_endpoint_options *opts);

AFS_END_DECL

#endif /* AFS_GROUP_H */

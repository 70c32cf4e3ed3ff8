/* Sync group and server endpoint handles (lib/sync/group.c, endpoint.c). */
#ifndef AFS_SYNC_GROUP_INTERNAL_H
#define AFS_SYNC_GROUP_INTERNAL_H

#include "afs/sync.h"
#include "../core/internal.h"
#include "../db/db.h"

/* Documents in the share's reserved prefix (docs/sync.md#share-layout). */
#define AFS__GROUP_DOC AFS_RESERVED_NAME "/group.json"
#define AFS__ENDPOINT_DIR AFS_RESERVED_NAME "/endpoints"
#define AFS__SERVER_CLAIM_DIR AFS_RESERVED_NAME "/servers"

struct afs_group {
    afs_service *svc; /* borrowed */
    char *id;
    char *name;
    char *uri;
    afs_storage *storage; /* owned */
};

struct afs_endpoint {
    afs_group *group; /* borrowed */
    char *id;
    char *path;       /* canonical absolute path */
    int64_t created_ns; /* kept when the options change (endpoint lists are oldest first) */
    afs_endpoint_options opts; /* exclude points into exclude_strings */
    char **exclude_strings;
    afs_db *state;    /* per-endpoint state, opened with the handle */
    int writer_tag_off; /* the share refused the writer tag: uploads go without it
                           (atomic; lib/sync/transfer.c) */
};

/* Encode / decode endpoint options as a JSON object member of `j`. */
struct afs__json;
void afs__endpoint_options_json(struct afs__json *j, const afs_endpoint_options *o);

/* Do two server names make the same conflict-copy suffix (equal but for
 * ASCII case)? A group refuses a second server of the same name. */
bool afs__server_names_clash(const char *a, const char *b);

/* Count the server endpoints this service has (for the 30-per-server limit). */
int afs__endpoint_count_local(afs_service *svc, size_t *count);

/* Store a small JSON document in the share's reserved prefix. */
int afs__share_put_doc(afs_storage *s, const char *path, const char *doc, bool create_only);
/* Read one (at most AFS__JSON_MAX bytes) into a malloc'd NUL-terminated buffer. */
int afs__share_get_doc(afs_storage *s, const char *path, char **doc, size_t *len);
/* The same, and its etag (AFS_ETAG_MAX bytes) for a conditional rewrite;
 * AFS_ECONDITION if it changed between the stat and the read. */
int afs__share_get_doc_etag(afs_storage *s, const char *path, char **doc, size_t *len,
                            char *etag);

/* The group's journal stale limit in seconds (lib/sync/prune.c), read from
 * the group definition: the default when unset or out of range. */
int afs__group_stale_limit(afs_storage *s, uint64_t *seconds);

#endif

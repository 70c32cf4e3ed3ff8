/*
 * The XML of Azure Storage answers, read with expat as a stream of events
 * (no tree is built), with limits: nesting depth, text per element, the
 * whole document (bounded by the HTTP layer), and no DTD at all: a
 * DOCTYPE, and so any entity declaration, is refused.
 */
#ifndef AFS_AZURE_XML_H
#define AFS_AZURE_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AZX_MAX_DEPTH 16
#define AZX_MAX_TEXT 8192 /* bytes of text in one element */
#define AZX_MAX_META 64

/*
 * One item of a listing, valid during the callback: a <Blob> or <BlobPrefix>
 * of List Blobs, a <File> or <Directory> of List Directories and Files
 * (Files), a <Share> of List Shares.
 */
struct azx_item {
    const char *name; /* decoded (Encoded="true" names are percent-decoded) */
    size_t name_len;
    bool is_prefix;   /* BlobPrefix or Directory */
    int64_t size;     /* Content-Length, -1 if absent */
    const char *etag, *last_modified, *creation_time, *content_md5, *resource_type;
    /* Files: Properties/CreationTime and LastWriteTime (ISO 8601), Attributes;
     * List Shares: Snapshot. "" when absent. */
    const char *file_creation_time, *file_last_write_time, *attributes, *snapshot;
    const char *meta_names[AZX_MAX_META]; /* lower-case */
    const char *meta_values[AZX_MAX_META];
    size_t nmeta;
};

typedef int (*azx_item_fn)(const struct azx_item *item, void *payload);

/*
 * Parse a listing answer (List Blobs, List Directories and Files, List
 * Shares): `fn` for each item, NextMarker into `next_marker` ("" when
 * absent). A non-zero return of `fn` stops and is
 * returned. Malformed, hostile or over-limit XML: AFS_EIO with a message
 * naming `what`.
 */
int azx_parse_list(const char *xml, size_t len, azx_item_fn fn, void *payload,
                   char *next_marker, size_t next_marker_size, const char *what);

/* The <Code> of an <Error> answer into `code` ("" if none or malformed). */
void azx_error_code(const char *xml, size_t len, char *code, size_t cap);

#endif /* AFS_AZURE_XML_H */

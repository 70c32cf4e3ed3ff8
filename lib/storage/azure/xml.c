/*
 * Azure Storage XML answers with expat (xml.h). Events only: the parser
 * keeps the element path, the current element's text and one item's
 * fields, so memory stays bounded whatever the document holds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <expat.h>

#include "../../core/internal.h"
#include "xml.h"

enum { F_NAME, F_SIZE, F_ETAG, F_LASTMOD, F_CTIME, F_MD5, F_RTYPE, F_FCTIME, F_FWTIME, F_ATTR,
       F_SNAP, F_NFIELDS };

struct parse {
    XML_Parser p;
    const char *what;
    int depth;
    char path[AZX_MAX_DEPTH][32]; /* element names (truncated: only known ones matter) */
    char text[AZX_MAX_TEXT + 1];
    size_t text_len;
    bool collecting;
    int rc;                        /* error or callback stop value */
    char msg[160];
    /* current item */
    bool in_item, item_prefix, name_encoded;
    char fields[F_NFIELDS][AZX_MAX_TEXT + 1];
    bool have[F_NFIELDS];
    char meta_names[AZX_MAX_META][65];
    char *meta_values[AZX_MAX_META];
    size_t nmeta;
    azx_item_fn fn;
    void *payload;
    char *next_marker;
    size_t next_marker_size;
    bool root_seen;
    /* error-code mode */
    char *code;
    size_t code_cap;
};

static void fail(struct parse *x, int rc, const char *msg)
{
    if (x->rc == 0) {
        x->rc = rc;
        snprintf(x->msg, sizeof(x->msg), "%s", msg);
    }
    XML_StopParser(x->p, XML_FALSE);
}

static bool at(const struct parse *x, int depth, const char *name)
{
    return x->depth == depth && strcmp(x->path[depth - 1], name) == 0;
}

static bool parent_is(const struct parse *x, const char *name)
{
    return x->depth >= 2 && strcmp(x->path[x->depth - 2], name) == 0;
}

/* At an item element: Blobs/Blob, Blobs/BlobPrefix, Entries/File,
 * Entries/Directory, Shares/Share. */
static bool is_item(const struct parse *x)
{
    static const char *const items[][2] = { { "Blobs", "Blob" },      { "Blobs", "BlobPrefix" },
                                            { "Entries", "File" },    { "Entries", "Directory" },
                                            { "Shares", "Share" } };
    if (x->depth != 3)
        return false;
    for (size_t i = 0; i < AFS__ARRAY_LEN(items); i++)
        if (strcmp(x->path[1], items[i][0]) == 0 && strcmp(x->path[2], items[i][1]) == 0)
            return true;
    return false;
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal)
{
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal;
    fail(ud, AFS_EIO, "a DOCTYPE (DTD) is not accepted in a storage answer");
}

static void XMLCALL on_entity(void *ud, const XML_Char *name, int is_param, const XML_Char *value,
                              int value_len, const XML_Char *base, const XML_Char *sysid,
                              const XML_Char *pubid, const XML_Char *notation)
{
    (void)name, (void)is_param, (void)value, (void)value_len, (void)base, (void)sysid;
    (void)pubid, (void)notation;
    fail(ud, AFS_EIO, "entity declarations are not accepted in a storage answer");
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    struct parse *x = ud;
    if (!x->collecting || len <= 0)
        return;
    if ((size_t)len > AZX_MAX_TEXT - x->text_len) {
        fail(x, AFS_EIO, "an element's text is longer than the limit");
        return;
    }
    memcpy(x->text + x->text_len, s, (size_t)len);
    x->text_len += (size_t)len;
    x->text[x->text_len] = '\0';
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    struct parse *x = ud;

    if (x->depth >= AZX_MAX_DEPTH) {
        fail(x, AFS_EIO, "XML nested deeper than the limit");
        return;
    }
    snprintf(x->path[x->depth], sizeof(x->path[0]), "%s", name);
    x->depth++;
    x->text_len = 0;
    x->text[0] = '\0';
    x->collecting = true;
    if (x->depth == 1) {
        x->root_seen = true;
        if (!x->code && strcmp(name, "EnumerationResults") != 0)
            fail(x, AFS_EIO, "not a listing (root element is not EnumerationResults)");
        return;
    }
    if (x->code)
        return;
    if (is_item(x)) {
        x->in_item = true;
        x->item_prefix = strcmp(name, "BlobPrefix") == 0 || strcmp(name, "Directory") == 0;
        x->name_encoded = false;
        memset(x->have, 0, sizeof(x->have));
        for (size_t i = 0; i < x->nmeta; i++)
            free(x->meta_values[i]);
        x->nmeta = 0;
    } else if (x->in_item && at(x, 4, "Name")) {
        for (size_t i = 0; attrs && attrs[i] && attrs[i + 1]; i += 2)
            if (strcmp(attrs[i], "Encoded") == 0 && strcasecmp(attrs[i + 1], "true") == 0)
                x->name_encoded = true;
    }
}

static int hexv(char c)
{
    return c >= '0' && c <= '9' ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Percent-decode in place; returns the new length or -1. */
static long pct_decode(char *s, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%') {
            int hi, lo;
            if (i + 2 >= len)
                return -1;
            hi = hexv(s[i + 1]);
            lo = hi >= 0 ? hexv(s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return -1;
            s[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            s[o++] = s[i];
        }
    }
    s[o] = '\0';
    return (long)o;
}

static void emit_item(struct parse *x)
{
    struct azx_item it;
    char *end;
    long nl;
    int rc;

    memset(&it, 0, sizeof(it));
    if (!x->have[F_NAME]) {
        fail(x, AFS_EIO, "a listed item has no Name");
        return;
    }
    nl = (long)strlen(x->fields[F_NAME]);
    if (x->name_encoded && (nl = pct_decode(x->fields[F_NAME], (size_t)nl)) < 0) {
        fail(x, AFS_EIO, "a listed item has a badly encoded Name");
        return;
    }
    it.name = x->fields[F_NAME];
    it.name_len = (size_t)nl;
    it.is_prefix = x->item_prefix;
    it.size = -1;
    if (x->have[F_SIZE]) {
        long long v = strtoll(x->fields[F_SIZE], &end, 10);
        if (end == x->fields[F_SIZE] || *end || v < 0) {
            fail(x, AFS_EIO, "a listed item has a bad Content-Length");
            return;
        }
        it.size = (int64_t)v;
    }
    it.etag = x->have[F_ETAG] ? x->fields[F_ETAG] : "";
    it.last_modified = x->have[F_LASTMOD] ? x->fields[F_LASTMOD] : "";
    it.creation_time = x->have[F_CTIME] ? x->fields[F_CTIME] : "";
    it.content_md5 = x->have[F_MD5] ? x->fields[F_MD5] : "";
    it.resource_type = x->have[F_RTYPE] ? x->fields[F_RTYPE] : "";
    it.file_creation_time = x->have[F_FCTIME] ? x->fields[F_FCTIME] : "";
    it.file_last_write_time = x->have[F_FWTIME] ? x->fields[F_FWTIME] : "";
    it.attributes = x->have[F_ATTR] ? x->fields[F_ATTR] : "";
    it.snapshot = x->have[F_SNAP] ? x->fields[F_SNAP] : "";
    for (size_t i = 0; i < x->nmeta; i++) {
        it.meta_names[i] = x->meta_names[i];
        it.meta_values[i] = x->meta_values[i];
    }
    it.nmeta = x->nmeta;
    rc = x->fn(&it, x->payload);
    if (rc != 0 && x->rc == 0) {
        x->rc = rc;
        x->msg[0] = '\0';
        XML_StopParser(x->p, XML_FALSE);
    }
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    struct parse *x = ud;
    (void)name;

    if (x->code) {
        if (x->depth == 2 && strcmp(x->path[0], "Error") == 0 && strcmp(x->path[1], "Code") == 0)
            snprintf(x->code, x->code_cap, "%s", x->text);
    } else if (x->depth == 2 && strcmp(x->path[1], "NextMarker") == 0) {
        if (x->text_len >= x->next_marker_size)
            fail(x, AFS_EIO, "NextMarker is longer than a marker may be");
        else
            memcpy(x->next_marker, x->text, x->text_len + 1);
    } else if (x->in_item && is_item(x)) {
        emit_item(x);
        x->in_item = false;
    } else if (x->in_item && at(x, 4, "Name")) {
        memcpy(x->fields[F_NAME], x->text, x->text_len + 1);
        x->have[F_NAME] = true;
    } else if (x->in_item && (at(x, 4, "Attributes") || at(x, 4, "Snapshot"))) {
        int f = strcmp(x->path[3], "Attributes") == 0 ? F_ATTR : F_SNAP;
        memcpy(x->fields[f], x->text, x->text_len + 1);
        x->have[f] = true;
    } else if (x->in_item && x->depth == 5 && parent_is(x, "Properties")) {
        /* Names as the services spell them (the Files service says "Etag"
         * and "ETag" in different versions). */
        static const char *const names[] = { NULL,           "Content-Length", "Etag",
                                             "Last-Modified", "Creation-Time", "Content-MD5",
                                             "ResourceType", "CreationTime",  "LastWriteTime",
                                             NULL,           NULL };
        for (int f = 1; f < F_NFIELDS; f++)
            if (names[f] && strcasecmp(x->path[4], names[f]) == 0) {
                memcpy(x->fields[f], x->text, x->text_len + 1);
                x->have[f] = true;
            }
    } else if (x->in_item && x->depth == 5 && parent_is(x, "Metadata")) {
        size_t n = strlen(x->path[4]);
        if (x->nmeta >= AZX_MAX_META) {
            fail(x, AFS_EIO, "an item has more metadata than the limit");
        } else if (n < sizeof(x->path[0]) - 1) { /* longer names are not ours: skip */
            char *v = afs__strdup(x->text);
            if (!v) {
                fail(x, AFS_ENOMEM, "out of memory");
            } else {
                for (size_t i = 0; i <= n; i++)
                    x->meta_names[x->nmeta][i] =
                        (char)(x->path[4][i] >= 'A' && x->path[4][i] <= 'Z' ? x->path[4][i] + 32
                                                                            : x->path[4][i]);
                x->meta_values[x->nmeta++] = v;
            }
        }
    }
    x->depth--;
    x->text_len = 0;
    x->text[0] = '\0';
    x->collecting = false;
}

static int run(struct parse *x, const char *xml, size_t len)
{
    enum XML_Status st;
    x->p = XML_ParserCreate("UTF-8");
    if (!x->p)
        return afs__error_oom();
    XML_SetUserData(x->p, x);
    XML_SetElementHandler(x->p, on_start, on_end);
    XML_SetCharacterDataHandler(x->p, on_text);
    XML_SetStartDoctypeDeclHandler(x->p, on_doctype);
    XML_SetEntityDeclHandler(x->p, on_entity);
    /* Never fetch or read an external entity or DTD. */
    XML_SetParamEntityParsing(x->p, XML_PARAM_ENTITY_PARSING_NEVER);
    if (len > (size_t)INT32_MAX) {
        XML_ParserFree(x->p);
        return afs__error_set(AFS_EIO, "azure: %s: XML answer too large", x->what);
    }
    st = XML_Parse(x->p, xml, (int)len, XML_TRUE);
    if (st == XML_STATUS_ERROR && x->rc == 0) {
        x->rc = AFS_EIO;
        snprintf(x->msg, sizeof(x->msg), "malformed XML at line %lu: %s",
                 (unsigned long)XML_GetCurrentLineNumber(x->p),
                 XML_ErrorString(XML_GetErrorCode(x->p)));
    }
    XML_ParserFree(x->p);
    for (size_t i = 0; i < x->nmeta; i++)
        free(x->meta_values[i]);
    x->nmeta = 0;
    return x->rc;
}

int azx_parse_list(const char *xml, size_t len, azx_item_fn fn, void *payload,
                   char *next_marker, size_t next_marker_size, const char *what)
{
    struct parse *x = afs__calloc(1, sizeof(*x));
    int rc;

    if (!x)
        return AFS_ENOMEM;
    next_marker[0] = '\0';
    x->what = what;
    x->fn = fn;
    x->payload = payload;
    x->next_marker = next_marker;
    x->next_marker_size = next_marker_size;
    rc = run(x, xml, len);
    if (rc == 0 && !x->root_seen)
        rc = afs__error_set(AFS_EIO, "azure: %s: empty listing answer", what);
    else if (rc < 0 && rc != AFS_ENOMEM && x->msg[0])
        rc = afs__error_set(rc, "azure: %s: %s", what, x->msg);
    if (rc != 0)
        next_marker[0] = '\0';
    free(x);
    return rc;
}

void azx_error_code(const char *xml, size_t len, char *code, size_t cap)
{
    struct parse *x;
    code[0] = '\0';
    if (!xml || len == 0)
        return;
    x = calloc(1, sizeof(*x));
    if (!x)
        return;
    x->what = "error answer";
    x->code = code;
    x->code_cap = cap;
    if (run(x, xml, len) != 0)
        code[0] = '\0';
    /* Printable ASCII only: it goes into messages. */
    for (char *c = code; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
            *c = '?';
    free(x);
}

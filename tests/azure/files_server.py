#!/usr/bin/env python3
"""An in-memory Azure Files endpoint for the tests (Python 3 stdlib only).

No emulator exists for the File service, so this server stands in for it in
tests/test_storage_azfiles.c and tests/test_sync_azfiles.c. It listens on
127.0.0.1 (a free port, printed on the first stdout line), serves the
path-style account /devstoreaccount1 and:

- verifies every request's authorization *exactly*, with its own
  implementation of the rules of "Authorize with Shared Key" (the string to
  sign: verb, the eleven standard headers, canonicalized x-ms-* headers,
  canonicalized resource with the decoded, sorted query) and of the account
  SAS ("Create an account SAS", version 2020-12-06 and later: signed
  services, resource types, permissions, expiry, protocol, version). A bad
  signature is 403 AuthenticationFailed, as the service answers;
- keeps shares with directories and files, SMB properties (attributes,
  creation and last-write times), metadata, etags, infinite file leases and
  share snapshots, and answers the File REST operations the backend uses
  with the documented status codes, headers and XML shapes;
- refuses a Put Range over 4 MiB (413 RequestBodyTooLarge) and checks each
  range's Content-MD5 (400 Md5Mismatch).

It reads commands from stdin, one a line, and stops when stdin closes (the
test holds the other end), and after 1800 s in any case:
  fault <mode> <path-substring>   spoil answers for matching paths:
      flip      GET bodies with one byte flipped (the Content-MD5 of the
                real bytes)
      truncate  GET bodies cut in half (Content-Length of the whole)
      xml-malformed, xml-deep, xml-entity, xml-huge-marker, xml-bad-root
                List Directories and Files answers for that directory
  clear                           no more faults
Each command is answered with "ok" on stdout.
"""
import base64
import binascii
import copy
import email.utils
import hashlib
import hmac
import os
import http.server
import socketserver
import sys
import threading
import time
import urllib.parse
from email.utils import formatdate

ACCOUNT = "devstoreaccount1"
KEY = base64.b64decode(
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/"
    "KBHBeksoGMGw==")
RANGE_MAX = 4 << 20
LOCK = threading.RLock()
SHARES = {}
FAULTS = []  # (mode, substring)
COUNTER = [0x8D000000000]
LOG = bool(os.environ.get("AFS_FILES_SERVER_LOG"))  # requests on stderr (debugging)

ATTRS = ["ReadOnly", "Hidden", "System", "None", "Archive", "Temporary", "Offline",
         "NotContentIndexed", "NoScrubData"]


class Fail(Exception):
    def __init__(self, status, code, message=None, headers=None):
        super().__init__(code)
        self.status, self.code = status, code
        self.message = message or code
        self.headers = headers or {}


def new_etag():
    with LOCK:
        COUNTER[0] += 1
        return '"0x%X"' % COUNTER[0]


def now_ticks():
    return int(time.time() * 10**7)


def ticks_iso(t):
    secs, frac = divmod(t, 10**7)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + ".%07dZ" % frac


def parse_time(value, current):
    """x-ms-file-*-time: "now", "preserve" or ISO 8601 UTC (at most 7 digits)."""
    if value is None or value == "preserve":
        return current
    if value == "now":
        return now_ticks()
    try:
        main, rest = value[:19], value[19:]
        secs = int(time.mktime(time.strptime(main, "%Y-%m-%dT%H:%M:%S")) - time.timezone)
        if not rest.endswith("Z"):
            raise ValueError
        frac = rest[:-1]
        if frac:
            if frac[0] != "." or not frac[1:].isdigit() or len(frac) > 8:
                raise ValueError
            frac = int(frac[1:].ljust(7, "0"))
        else:
            frac = 0
        return secs * 10**7 + frac
    except (ValueError, OverflowError):
        raise Fail(400, "InvalidHeaderValue", "bad time %r" % value)


def parse_attrs(value, current, is_dir):
    if value is None or value == "preserve":
        return current
    parts = [p.strip() for p in value.split("|")]
    out = set()
    for p in parts:
        if p == "Directory" and is_dir:
            continue
        if p not in ATTRS:
            raise Fail(400, "InvalidHeaderValue", "bad attribute %r" % p)
        if p != "None":
            out.add(p)
    if "None" in parts and len(parts) > 1:
        raise Fail(400, "InvalidHeaderValue", "None with other attributes")
    return out


def attrs_text(attrs, is_dir):
    names = [a for a in ATTRS if a in attrs]
    if is_dir:
        names.append("Directory")
    return " | ".join(names) if names else "None"


class Node:
    def __init__(self, is_dir):
        self.is_dir = is_dir
        self.children = {} if is_dir else None
        self.data = bytearray()
        self.meta = {}
        self.attrs = set()
        t = now_ticks()
        self.ctime = self.wtime = self.change = t
        self.etag = new_etag()
        self.modified = time.time()
        self.md5 = None
        self.lease = None
        with LOCK:
            COUNTER[0] += 1
            self.file_id = COUNTER[0]

    def touch(self):
        self.etag = new_etag()
        self.modified = time.time()
        self.change = now_ticks()


class Share:
    def __init__(self):
        self.root = Node(True)
        self.snapshots = []  # (iso time, root copy)
        self.etag = new_etag()
        self.modified = time.time()


# ---- authorization -----------------------------------------------------

def canonical_headers(headers):
    items = {}
    for k, v in headers.items():
        lk = k.lower()
        if lk.startswith("x-ms-"):
            folded = " ".join(v.split())
            items[lk] = folded if lk not in items else items[lk] + "," + folded
    return "".join("%s:%s\n" % (k, items[k]) for k in sorted(items))


def canonical_resource(raw_path, query):
    out = "/" + ACCOUNT + raw_path
    params = {}
    for k, v in query:
        params.setdefault(k.lower(), []).append(v)
    for k in sorted(params):
        out += "\n%s:%s" % (k, ",".join(sorted(params[k])))
    return out


def shared_key_string(method, headers, raw_path, query, body_len):
    def h(name):
        return headers.get(name, "")
    length = h("Content-Length")
    if length == "0":
        length = ""
    return "\n".join([
        method, h("Content-Encoding"), h("Content-Language"), length, h("Content-MD5"),
        h("Content-Type"), h("Date"), h("If-Modified-Since"), h("If-Match"),
        h("If-None-Match"), h("If-Unmodified-Since"), h("Range"),
    ]) + "\n" + canonical_headers(headers) + canonical_resource(raw_path, query)


def sign(text):
    return base64.b64encode(hmac.new(KEY, text.encode("utf-8"), hashlib.sha256).digest()).decode()


def sas_check(query, method, kind):
    """Check an account SAS in `query` (a dict of lists) for this request."""
    def one(name):
        v = query.get(name)
        return v[0] if v else ""
    sig = one("sig")
    fields = [ACCOUNT, one("sp"), one("ss"), one("srt"), one("st"), one("se"), one("sip"),
              one("spr"), one("sv"), one("ses"), ""]
    want = sign("\n".join(fields))
    if not hmac.compare_digest(want, sig):
        raise Fail(403, "AuthenticationFailed", "Signature did not match. String to sign used "
                   "was %s" % "\\n".join(fields[1:]))
    if "f" not in one("ss"):
        raise Fail(403, "AuthorizationServiceMismatch", "the SAS is not for the file service")
    try:
        expiry = time.mktime(time.strptime(one("se"), "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    except ValueError:
        raise Fail(403, "AuthenticationFailed", "bad se")
    if expiry < time.time():
        raise Fail(403, "AuthenticationFailed", "Signed expiry time has passed")
    rtype = {"service": "s", "share": "c", "object": "o"}[kind]
    if rtype not in one("srt"):
        raise Fail(403, "AuthorizationResourceTypeMismatch", "resource type not allowed")
    need = {"GET": "r", "HEAD": "r", "DELETE": "d", "PUT": "w"}[method]
    if kind == "service" and method == "GET":
        need = "l"
    sp = one("sp")
    if need == "w" and not ("w" in sp or "c" in sp):
        raise Fail(403, "AuthorizationPermissionMismatch", "permission w missing")
    if need != "w" and need not in sp:
        raise Fail(403, "AuthorizationPermissionMismatch", "permission %s missing" % need)


# ---- the share model -----------------------------------------------------

def split_path(rest):
    return [urllib.parse.unquote(p, errors="strict") for p in rest.split("/") if p != ""]


def lookup(share, parts, want_parent=False):
    node = share.root
    walk = parts[:-1] if want_parent else parts
    for i, p in enumerate(walk):
        if not node.is_dir or p not in node.children:
            if want_parent or i < len(walk) - 1:
                raise Fail(404, "ParentNotFound", "The specified parent path does not exist.")
            raise Fail(404, "ResourceNotFound", "The specified resource does not exist.")
        node = node.children[p]
    if want_parent and not node.is_dir:
        raise Fail(404, "ParentNotFound", "The specified parent path does not exist.")
    return node


def check_lease(node, given, header="x-ms-lease-id"):
    if node.lease is None:
        if given:
            raise Fail(412, "LeaseNotPresentWithFileOperation",
                       "There is currently no lease on the file.")
        return
    if not given:
        raise Fail(412, "LeaseIdMissing",
                   "There is currently a lease on the file and no lease ID was specified.")
    if given != node.lease:
        raise Fail(412, "LeaseIdMismatchWithFileOperation",
                   "The lease ID specified did not match the lease ID for the file.")


def props_headers(node):
    h = {
        "ETag": node.etag,
        "Last-Modified": formatdate(node.modified, usegmt=True),
        "x-ms-file-attributes": attrs_text(node.attrs, node.is_dir),
        "x-ms-file-creation-time": ticks_iso(node.ctime),
        "x-ms-file-last-write-time": ticks_iso(node.wtime),
        "x-ms-file-change-time": ticks_iso(node.change),
        "x-ms-file-id": str(node.file_id),
        "x-ms-file-permission-key": "4066528134148476695*1",
    }
    for k, v in node.meta.items():
        h["x-ms-meta-" + k] = v
    if not node.is_dir:
        h["x-ms-type"] = "File"
        h["x-ms-lease-state"] = "leased" if node.lease else "available"
        h["x-ms-lease-status"] = "locked" if node.lease else "unlocked"
        if node.lease:
            h["x-ms-lease-duration"] = "infinite"
        if node.md5:
            h["Content-MD5"] = node.md5
    return h


def take_smb_props(node, headers, fresh):
    """The SMB properties a Create or a Set Properties request gives `node`:
    x-ms-file-attributes over none (`fresh`, a new item) or over the node's
    own, then x-ms-file-creation-time and x-ms-file-last-write-time."""
    current = set() if fresh else node.attrs
    node.attrs = parse_attrs(headers.get("x-ms-file-attributes"), current, node.is_dir)
    node.ctime = parse_time(headers.get("x-ms-file-creation-time"), node.ctime)
    node.wtime = parse_time(headers.get("x-ms-file-last-write-time"), node.wtime)


def take_meta(headers):
    meta = {}
    for k, v in headers.items():
        if k.lower().startswith("x-ms-meta-"):
            name = k[10:].lower()
            if not name or not (name[0].isalpha() or name[0] == "_") or \
                    not all(c.isalnum() or c == "_" for c in name):
                raise Fail(400, "InvalidMetadata", "metadata name %r" % name)
            meta[name] = v
    return meta


def xml_escape(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def xml_name(name):
    """<Name>, percent-encoded with Encoded="true" when XML cannot hold it."""
    if any(ord(c) < 0x20 or 0xD800 <= ord(c) <= 0xDFFF or ord(c) in (0xFFFE, 0xFFFF)
           for c in name):
        return '<Name Encoded="true">%s</Name>' % urllib.parse.quote(name, safe="")
    return "<Name>%s</Name>" % xml_escape(name)


def fault_for(path):
    with LOCK:
        for mode, sub in FAULTS:
            if sub in path:
                return mode
    return None


# ---- the handler ---------------------------------------------------------

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body=b"", headers=None, length=None):
        if LOG:
            sys.stderr.write("%s %s -> %d %s\n" % (self.command, self.path.split("?sv=")[0][:200],
                                                  status, (headers or {}).get("x-ms-error-code",
                                                                              "")))
        self.send_response(status)
        h = {"x-ms-request-id": "%08x" % (COUNTER[0] & 0xFFFFFFFF), "x-ms-version": "2021-12-02"}
        h.update(headers or {})
        for k, v in h.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def fail(self, e):
        body = ("<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>%s</Code><Message>%s"
                "</Message></Error>" % (e.code, xml_escape(e.message))).encode()
        h = {"x-ms-error-code": e.code, "Content-Type": "application/xml"}
        h.update(e.headers)
        self.reply(e.status, body, h)

    def do_GET(self):
        self.handle_any()

    def do_HEAD(self):
        self.handle_any()

    def do_PUT(self):
        self.handle_any()

    def do_DELETE(self):
        self.handle_any()

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        try:
            self.route(body)
        except Fail as e:
            self.fail(e)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def authorize(self, raw_path, query_list, query, kind):
        auth = self.headers.get("Authorization")
        if self.headers.get("x-ms-version") is None:
            raise Fail(400, "MissingRequiredHeader", "x-ms-version")
        if auth:
            date = self.headers.get("x-ms-date") or self.headers.get("Date")
            try:
                skew = abs(time.time() - email.utils.parsedate_to_datetime(date).timestamp())
            except (TypeError, ValueError):
                raise Fail(403, "AuthenticationFailed", "no or bad x-ms-date")
            if skew > 15 * 60:
                raise Fail(403, "AuthenticationFailed", "Request date header too old")
            want = shared_key_string(self.command, self.headers, raw_path, query_list,
                                     int(self.headers.get("Content-Length") or 0))
            expect = "SharedKey %s:%s" % (ACCOUNT, sign(want))
            if not hmac.compare_digest(auth, expect):
                raise Fail(403, "AuthenticationFailed",
                           "Server failed to authenticate the request. The MAC signature "
                           "found in the HTTP request is not the same as any computed "
                           "signature. Server used following string to sign: '%s'."
                           % want.replace("\n", "\\n"))
            return "key"
        if "sig" in query:
            sas_check(query, self.command, kind)
            return "sas"
        raise Fail(403, "AuthenticationFailed", "no credentials (anonymous access is off)")

    def route(self, body):
        url = urllib.parse.urlsplit(self.path)
        raw_path = url.path
        query_list = urllib.parse.parse_qsl(url.query, keep_blank_values=True)
        sas_names = {"sv", "ss", "srt", "sp", "se", "st", "spr", "sip", "sig", "ses"}
        query = {}
        for k, v in query_list:
            query.setdefault(k, []).append(v)
        # The SAS fields are not part of the Shared Key canonical resource.
        op_query = [(k, v) for k, v in query_list if k not in sas_names]
        q = dict(op_query)
        parts_raw = raw_path.split("/")
        if len(parts_raw) < 2 or parts_raw[1] != ACCOUNT:
            raise Fail(400, "InvalidUri", "expected /%s/..." % ACCOUNT)
        rest = "/".join(parts_raw[2:])
        try:
            parts = split_path(rest)
        except UnicodeDecodeError:
            raise Fail(400, "InvalidUri", "path is not UTF-8")
        kind = "service" if not parts else ("share" if len(parts) == 1 and
                                            q.get("restype") == "share" else "object")
        via = self.authorize(raw_path, op_query, query, kind)
        with LOCK:
            if not parts:
                return self.service_op(q)
            share = SHARES.get(parts[0])
            if q.get("restype") == "share":
                return self.share_op(parts[0], share, q)
            if share is None:
                raise Fail(404, "ShareNotFound", "The specified share does not exist.")
            if q.get("restype") == "directory":
                return self.dir_op(share, parts[1:], q, via)
            return self.file_op(share, parts[1:], q, body, via, parts[0])

    # -- service and shares --

    def service_op(self, q):
        if self.command != "GET" or q.get("comp") != "list":
            raise Fail(400, "InvalidQueryParameterValue", "unsupported service operation")
        prefix = q.get("prefix", "")
        include = q.get("include", "").split(",")
        out = ['<?xml version="1.0" encoding="utf-8"?><EnumerationResults '
               'ServiceEndpoint="http://127.0.0.1/%s/"><Prefix>%s</Prefix><Shares>'
               % (ACCOUNT, xml_escape(prefix))]
        for name in sorted(SHARES):
            if not name.startswith(prefix):
                continue
            share = SHARES[name]
            if "snapshots" in include:
                for snap, _ in share.snapshots:
                    out.append("<Share><Name>%s</Name><Snapshot>%s</Snapshot><Properties>"
                               "<Last-Modified>%s</Last-Modified><Etag>%s</Etag>"
                               "<Quota>5120</Quota></Properties></Share>"
                               % (name, snap, formatdate(share.modified, usegmt=True),
                                  share.etag))
            out.append("<Share><Name>%s</Name><Properties><Last-Modified>%s</Last-Modified>"
                       "<Etag>%s</Etag><Quota>5120</Quota></Properties></Share>"
                       % (name, formatdate(share.modified, usegmt=True), share.etag))
        out.append("</Shares><NextMarker /></EnumerationResults>")
        self.reply(200, "".join(out).encode(), {"Content-Type": "application/xml"})

    def share_op(self, name, share, q):
        if self.command == "PUT" and q.get("comp") == "snapshot":
            if share is None:
                raise Fail(404, "ShareNotFound", "The specified share does not exist.")
            t = now_ticks()
            snap = ticks_iso(t)
            while any(s == snap for s, _ in share.snapshots):
                t += 1
                snap = ticks_iso(t)
            share.snapshots.append((snap, copy.deepcopy(share.root)))
            return self.reply(201, b"", {"x-ms-snapshot": snap, "ETag": share.etag})
        if self.command == "PUT" and not q.get("comp"):
            if share is not None:
                raise Fail(409, "ShareAlreadyExists", "The specified share already exists.")
            if not (3 <= len(name) <= 63):
                raise Fail(400, "InvalidResourceName", "share name")
            SHARES[name] = Share()
            return self.reply(201, b"", {"ETag": SHARES[name].etag})
        if self.command == "DELETE":
            if share is None:
                raise Fail(404, "ShareNotFound", "The specified share does not exist.")
            if share.snapshots and self.headers.get("x-ms-delete-snapshots") != "include":
                raise Fail(409, "ShareHasSnapshots", "The share has snapshots.")
            del SHARES[name]
            return self.reply(202)
        if self.command in ("GET", "HEAD"):
            if share is None:
                raise Fail(404, "ShareNotFound", "The specified share does not exist.")
            return self.reply(200, b"", {"ETag": share.etag})
        raise Fail(400, "InvalidQueryParameterValue", "unsupported share operation")

    # -- directories --

    def dir_op(self, share, parts, q, via):
        comp = q.get("comp")
        m = self.command
        if m == "PUT" and comp is None:
            if not parts:
                raise Fail(409, "ResourceAlreadyExists", "The specified resource already exists.")
            parent = lookup(share, parts, want_parent=True)
            if parts[-1] in parent.children:
                raise Fail(409, "ResourceAlreadyExists", "The specified resource already exists.")
            node = Node(True)
            node.meta = take_meta(self.headers)
            take_smb_props(node, self.headers, fresh=True)
            parent.children[parts[-1]] = node
            parent.touch()
            return self.reply(201, b"", props_headers(node))
        if m == "PUT" and comp == "rename":
            return self.rename(share, parts, True, via)
        node = lookup(share, parts)
        if not node.is_dir:
            raise Fail(404, "ResourceNotFound", "The specified resource does not exist.")
        if m in ("GET", "HEAD") and comp is None:
            return self.reply(200, b"", props_headers(node))
        if m == "GET" and comp == "list":
            return self.list_dir(node, parts, q)
        if m == "PUT" and comp == "properties":
            take_smb_props(node, self.headers, fresh=False)
            node.touch()
            return self.reply(200, b"", props_headers(node))
        if m == "PUT" and comp == "metadata":
            node.meta = take_meta(self.headers)
            node.touch()
            return self.reply(200, b"", {"ETag": node.etag})
        if m == "DELETE" and comp is None:
            if not parts:
                raise Fail(400, "InvalidUri", "the root directory cannot be deleted")
            if node.children:
                raise Fail(409, "DirectoryNotEmpty", "The specified directory is not empty.")
            parent = lookup(share, parts, want_parent=True)
            del parent.children[parts[-1]]
            parent.touch()
            return self.reply(202)
        raise Fail(400, "InvalidQueryParameterValue", "unsupported directory operation")

    def list_dir(self, node, parts, q):
        path = "/".join(parts)
        fault = fault_for(path) if path else fault_for("<root>")
        include = [s.strip().lower() for s in q.get("include", "").split(",") if s.strip()]
        for inc in include:
            if inc not in ("timestamps", "etag", "attributes", "permissionkey"):
                raise Fail(400, "InvalidQueryParameterValue", "include=%s" % inc)
        try:
            maxr = int(q.get("maxresults", "5000"))
        except ValueError:
            raise Fail(400, "InvalidQueryParameterValue", "maxresults")
        if maxr <= 0:
            raise Fail(400, "OutOfRangeQueryParameterValue", "maxresults")
        maxr = min(maxr, 5000)
        names = sorted(n for n in node.children if n.startswith(q.get("prefix", "")))
        marker = q.get("marker", "")
        if marker:
            try:
                start = base64.b64decode(marker.encode(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise Fail(400, "InvalidQueryParameterValue", "marker")
            names = [n for n in names if n >= start]
        page, more = names[:maxr], names[maxr:]
        out = ['<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint='
               '"http://127.0.0.1/%s/" ShareName="s" DirectoryPath="%s"><Marker>%s</Marker>'
               '<MaxResults>%d</MaxResults><DirectoryId>%d</DirectoryId><Entries>'
               % (ACCOUNT, xml_escape(path), xml_escape(marker), maxr, node.file_id)]
        for n in page:
            c = node.children[n]
            props = []
            if not c.is_dir:
                props.append("<Content-Length>%d</Content-Length>" % len(c.data))
            if "timestamps" in include:
                props.append("<CreationTime>%s</CreationTime><LastAccessTime>%s</LastAccessTime>"
                             "<LastWriteTime>%s</LastWriteTime><ChangeTime>%s</ChangeTime>"
                             "<Last-Modified>%s</Last-Modified>"
                             % (ticks_iso(c.ctime), ticks_iso(c.wtime), ticks_iso(c.wtime),
                                ticks_iso(c.change), formatdate(c.modified, usegmt=True)))
            if "etag" in include:
                props.append("<Etag>%s</Etag>" % c.etag)
            tag = "Directory" if c.is_dir else "File"
            out.append("<%s><FileId>%d</FileId>%s<Properties>%s</Properties>%s</%s>"
                       % (tag, c.file_id, xml_name(n), "".join(props),
                          "<Attributes>%s</Attributes>" % attrs_text(c.attrs, c.is_dir)
                          if "attributes" in include else "", tag))
        nm = base64.b64encode(more[0].encode()).decode() if more else ""
        out.append("</Entries><NextMarker>%s</NextMarker></EnumerationResults>" % nm)
        body = "".join(out).encode()
        h = {"Content-Type": "application/xml"}
        if fault == "xml-malformed":
            body = body[:len(body) // 2] + b"<<</Entries"
        elif fault == "xml-deep":
            body = (b'<?xml version="1.0"?><EnumerationResults><Entries>' + b"<a>" * 100000 +
                    b"</a>" * 100000 + b"</Entries></EnumerationResults>")
        elif fault == "xml-entity":
            body = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
                    b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
                    b"<EnumerationResults><Entries><File><Name>&b;</Name></File></Entries>"
                    b"</EnumerationResults>")
        elif fault == "xml-huge-marker":
            body = (b'<?xml version="1.0"?><EnumerationResults><Entries></Entries><NextMarker>'
                    + b"m" * 5000 + b"</NextMarker></EnumerationResults>")
        elif fault == "xml-bad-root":
            body = b'<?xml version="1.0"?><Error><Code>Nope</Code></Error>'
        elif fault == "truncate":
            self.reply(200, body[:len(body) // 2], h, length=len(body))
            self.close_connection = True
            return
        self.reply(200, body, h)

    # -- files --

    def file_op(self, share, parts, q, body, via, share_name):
        comp = q.get("comp")
        m = self.command
        h = self.headers
        if not parts:
            raise Fail(400, "InvalidUri", "a file needs a path")
        path = "/".join(parts)
        if m == "PUT" and comp is None:
            if h.get("x-ms-type", "").lower() != "file":
                raise Fail(400, "MissingRequiredHeader", "x-ms-type: file")
            try:
                size = int(h.get("x-ms-content-length", ""))
            except ValueError:
                raise Fail(400, "MissingRequiredHeader", "x-ms-content-length")
            if size < 0 or size > 4 << 40:
                raise Fail(400, "InvalidHeaderValue", "x-ms-content-length")
            parent = lookup(share, parts, want_parent=True)
            old = parent.children.get(parts[-1])
            if old is not None and old.is_dir:
                raise Fail(409, "ResourceTypeMismatch", "a directory has this name")
            if old is not None:
                check_lease(old, h.get("x-ms-lease-id"))
                if "ReadOnly" in old.attrs:
                    raise Fail(409, "ReadOnlyAttribute", "The file is read-only.")
            node = Node(False)
            node.data = bytearray(size)
            node.meta = take_meta(h)
            take_smb_props(node, h, fresh=True)
            node.md5 = h.get("x-ms-content-md5")
            parent.children[parts[-1]] = node
            parent.touch()
            return self.reply(201, b"", props_headers(node))
        if m == "PUT" and comp == "rename":
            return self.rename(share, parts, False, via)
        node = lookup(share, parts)
        if node.is_dir:
            # A file operation on a directory's name.
            if m in ("HEAD", "GET"):
                raise Fail(404, "ResourceNotFound", "The specified resource does not exist.")
            raise Fail(409, "ResourceTypeMismatch", "The specified resource is a directory.")
        if m == "HEAD" and comp is None:
            hd = props_headers(node)
            return self.reply(200, b"", hd, length=len(node.data))
        if m == "GET" and comp is None:
            return self.get_file(node, path)
        if m == "PUT" and comp == "range":
            return self.put_range(node, body)
        if m == "PUT" and comp == "properties":
            check_lease(node, h.get("x-ms-lease-id"))
            take_smb_props(node, h, fresh=False)
            node.md5 = h.get("x-ms-content-md5")  # cleared when not given
            if h.get("x-ms-content-length"):
                n = int(h.get("x-ms-content-length"))
                node.data = node.data[:n] + bytearray(max(0, n - len(node.data)))
            node.touch()
            return self.reply(200, b"", props_headers(node))
        if m == "PUT" and comp == "metadata":
            check_lease(node, h.get("x-ms-lease-id"))
            if "ReadOnly" in node.attrs:
                raise Fail(409, "ReadOnlyAttribute", "The file is read-only.")
            node.meta = take_meta(h)
            node.touch()
            return self.reply(200, b"", {"ETag": node.etag})
        if m == "PUT" and comp == "lease":
            return self.lease(node)
        if m == "DELETE" and comp is None:
            check_lease(node, h.get("x-ms-lease-id"))
            if "ReadOnly" in node.attrs:
                raise Fail(409, "ReadOnlyAttribute", "The file is read-only.")
            parent = lookup(share, parts, want_parent=True)
            del parent.children[parts[-1]]
            parent.touch()
            return self.reply(202)
        raise Fail(400, "InvalidQueryParameterValue", "unsupported file operation")

    def get_file(self, node, path):
        data = bytes(node.data)
        rng = self.headers.get("x-ms-range") or self.headers.get("Range")
        hd = props_headers(node)
        hd["Accept-Ranges"] = "bytes"
        status = 200
        if rng:
            try:
                unit, spec = rng.split("=", 1)
                a, b = spec.split("-", 1)
                a = int(a)
                b = int(b) if b else len(data) - 1
                if unit != "bytes" or a < 0 or b < a:
                    raise ValueError
            except ValueError:
                raise Fail(400, "InvalidHeaderValue", "x-ms-range")
            if a >= len(data):
                raise Fail(416, "InvalidRange", "The range specified is invalid for the current "
                           "size of the resource.",
                           {"Content-Range": "bytes */%d" % len(data), "ETag": node.etag})
            b = min(b, len(data) - 1)
            hd["Content-Range"] = "bytes %d-%d/%d" % (a, b, len(data))
            if node.md5:
                hd["x-ms-content-md5"] = node.md5
            hd.pop("Content-MD5", None)
            data = data[a:b + 1]
            status = 206
            if self.headers.get("x-ms-range-get-content-md5") == "true":
                if len(data) > RANGE_MAX:
                    raise Fail(400, "OutOfRangeInput", "a range over 4 MiB with its MD5")
                hd["Content-MD5"] = base64.b64encode(hashlib.md5(data).digest()).decode()
        fault = fault_for(path)
        if fault == "flip" and data:
            data = bytes([data[0] ^ 1]) + data[1:]
        if fault == "truncate" and len(data) > 1:
            self.reply(status, data[:len(data) // 2], hd, length=len(data))
            self.close_connection = True
            return
        self.reply(status, data, hd)

    def put_range(self, node, body):
        h = self.headers
        check_lease(node, h.get("x-ms-lease-id"))
        if "ReadOnly" in node.attrs:
            raise Fail(409, "ReadOnlyAttribute", "The file is read-only.")
        rng = h.get("x-ms-range") or h.get("Range")
        try:
            unit, spec = rng.split("=", 1)
            a, b = (int(x) for x in spec.split("-", 1))
            if unit != "bytes" or a < 0 or b < a:
                raise ValueError
        except (ValueError, AttributeError):
            raise Fail(400, "InvalidHeaderValue", "x-ms-range")
        if b - a + 1 > RANGE_MAX:
            raise Fail(413, "RequestBodyTooLarge", "The request body is too large and exceeds "
                       "the maximum permissible limit (4 MiB a range).")
        if b >= len(node.data):
            raise Fail(416, "InvalidRange", "The range specified is invalid for the current "
                       "size of the resource.")
        write = h.get("x-ms-write", "")
        if write == "update":
            if len(body) != b - a + 1:
                raise Fail(400, "InvalidHeaderValue", "Content-Length does not match the range")
            md5 = h.get("Content-MD5")
            if md5 and md5 != base64.b64encode(hashlib.md5(body).digest()).decode():
                raise Fail(400, "Md5Mismatch", "The MD5 value specified in the request did not "
                           "match with the MD5 value calculated by the server.")
            node.data[a:b + 1] = body
        elif write == "clear":
            node.data[a:b + 1] = bytes(b - a + 1)
        else:
            raise Fail(400, "InvalidHeaderValue", "x-ms-write")
        node.wtime = parse_time(h.get("x-ms-file-last-write-time") or "now", node.wtime)
        node.touch()
        hd = {"ETag": node.etag, "Last-Modified": formatdate(node.modified, usegmt=True),
              "x-ms-file-last-write-time": ticks_iso(node.wtime)}
        if h.get("Content-MD5"):
            hd["Content-MD5"] = h.get("Content-MD5")
        self.reply(201, b"", hd)

    def lease(self, node):
        h = self.headers
        action = h.get("x-ms-lease-action")
        if action == "acquire":
            if h.get("x-ms-lease-duration") != "-1":
                raise Fail(400, "InvalidHeaderValue", "files take infinite leases only")
            proposed = h.get("x-ms-proposed-lease-id") or "%032x" % COUNTER[0]
            if node.lease and node.lease != proposed:
                raise Fail(409, "LeaseAlreadyPresent", "There is already a lease present.")
            node.lease = proposed
            return self.reply(201, b"", {"x-ms-lease-id": proposed, "ETag": node.etag})
        if action == "release":
            if not node.lease:
                raise Fail(409, "LeaseNotPresentWithLeaseOperation", "no lease")
            if h.get("x-ms-lease-id") != node.lease:
                raise Fail(409, "LeaseIdMismatchWithLeaseOperation", "lease id mismatch")
            node.lease = None
            return self.reply(200, b"", {"ETag": node.etag})
        if action == "break":
            if not node.lease:
                raise Fail(409, "LeaseNotPresentWithLeaseOperation", "no lease")
            node.lease = None
            return self.reply(202, b"", {"ETag": node.etag, "x-ms-lease-time": "0"})
        raise Fail(400, "InvalidHeaderValue", "x-ms-lease-action")

    def rename(self, share, parts, is_dir, via):
        h = self.headers
        src = h.get("x-ms-file-rename-source")
        if not src or not parts:
            raise Fail(400, "MissingRequiredHeader", "x-ms-file-rename-source")
        su = urllib.parse.urlsplit(src)
        sparts = su.path.split("/")
        if len(sparts) < 3 or sparts[1] != ACCOUNT or urllib.parse.unquote(sparts[2]) != \
                self.path.split("?")[0].split("/")[2]:
            raise Fail(400, "InvalidHeaderValue", "the rename source must be in the same share")
        if via == "sas":
            # The source must carry a valid SAS of its own.
            sq = {}
            for k, v in urllib.parse.parse_qsl(su.query, keep_blank_values=True):
                sq.setdefault(k, []).append(v)
            if "sig" not in sq:
                raise Fail(403, "AuthenticationFailed", "the rename source has no SAS")
            sas_check(sq, "PUT", "object")
        src_parts = split_path("/".join(sparts[3:]))
        snode = lookup(share, src_parts)
        if snode.is_dir != is_dir:
            raise Fail(409, "ResourceTypeMismatch", "source type")
        if not is_dir:
            check_lease(snode, h.get("x-ms-source-lease-id"))
        if is_dir and parts[:len(src_parts)] == src_parts:
            raise Fail(400, "InvalidResourceName", "a directory cannot move into itself")
        dparent = lookup(share, parts, want_parent=True)
        existing = dparent.children.get(parts[-1])
        replace = h.get("x-ms-file-rename-replace-if-exists", "false").lower() == "true"
        if existing is snode:
            return self.reply(200, b"", props_headers(snode))
        if existing is not None:
            if not replace:
                raise Fail(409, "ResourceAlreadyExists", "The specified resource already exists.")
            if existing.is_dir or is_dir:
                raise Fail(409, "ResourceTypeMismatch", "only a file replaces a file")
            check_lease(existing, h.get("x-ms-destination-lease-id"))
            if "ReadOnly" in existing.attrs and \
                    h.get("x-ms-file-rename-ignore-readonly", "").lower() != "true":
                raise Fail(409, "ReadOnlyAttribute", "The destination is read-only.")
        elif h.get("x-ms-destination-lease-id"):
            raise Fail(412, "LeaseNotPresentWithFileOperation", "no lease on the destination")
        sparent = lookup(share, src_parts, want_parent=True)
        del sparent.children[src_parts[-1]]
        sparent.touch()
        dparent.children[parts[-1]] = snode
        dparent.touch()
        snode.touch()  # the change time moves, so does the etag
        self.reply(200, b"", props_headers(snode))


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def commands(server):
    for line in sys.stdin:
        words = line.split()
        with LOCK:
            if words[:1] == ["fault"] and len(words) == 3:
                FAULTS.append((words[1], words[2]))
            elif words[:1] == ["clear"]:
                FAULTS.clear()
        print("ok", flush=True)
    server.shutdown()


def main():
    server = Server(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    threading.Thread(target=commands, args=(server,), daemon=True).start()
    timer = threading.Timer(1800, server.shutdown)
    timer.daemon = True
    timer.start()
    server.serve_forever()
    sys.exit(0)


if __name__ == "__main__":
    main()

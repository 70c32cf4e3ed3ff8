#!/usr/bin/env python3
"""A hostile Blob endpoint for tests/test_azure_hostile.c (stdlib only).

Listens on 127.0.0.1 (a free port, printed on the first stdout line) and
answers like the Blob service would, except in the way the container name
asks: /<account>/<scenario>/... . It never contacts anything, stops when its
stdin closes (the test holds the other end), and after 300 s in any case.
"""
import base64
import hashlib
import http.server
import socketserver
import sys
import threading
import time
from urllib.parse import parse_qs, urlsplit

COUNTS = {}
LOCK = threading.Lock()
BODY = b"0123456789" * 10  # the blob every GET returns (100 bytes)


def count(key):
    with LOCK:
        COUNTS[key] = COUNTS.get(key, 0) + 1
        return COUNTS[key]


def listing(items, next_marker=""):
    out = ['<?xml version="1.0" encoding="utf-8"?><EnumerationResults><Blobs>']
    out += items
    out.append("</Blobs><NextMarker>%s</NextMarker></EnumerationResults>" % next_marker)
    return "".join(out).encode()


def blob_item(name, size=5):
    return ("<Blob><Name>%s</Name><Properties><Content-Length>%d</Content-Length>"
            "<Etag>0x1</Etag><Last-Modified>Sun, 11 Oct 2009 21:49:13 GMT</Last-Modified>"
            "</Properties></Blob>" % (name, size))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send(self, status, body=b"", headers=None, length=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def drain(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)

    def handle_any(self):
        self.drain()
        url = urlsplit(self.path)
        parts = url.path.split("/")
        scenario = parts[2] if len(parts) > 2 else ""
        q = parse_qs(url.query)
        is_list = q.get("comp") == ["list"]
        is_container = q.get("restype") == ["container"] and not is_list
        n = count(scenario)

        if scenario == "always500":
            return self.send(500, b"", {"x-ms-error-code": "InternalError"})
        if scenario == "retry503" and n <= 2:
            return self.send(503, b"", {"x-ms-error-code": "ServerBusy", "Retry-After": "1"})
        if scenario == "stall" and not is_container:
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.flush()
            time.sleep(5)
            self.close_connection = True
            return None
        if is_container:
            return self.send(200)
        if is_list:
            return self.listing(scenario)
        if self.command == "HEAD":
            return self.send(200, b"", {"ETag": '"0x1"', "Content-Length": "100"}, length=100)
        if self.command == "GET":
            return self.get_blob(scenario)
        return self.send(201, b"", {"ETag": '"0x2"'})

    def listing(self, scenario):
        if scenario == "deepxml":
            body = b"<EnumerationResults>" + b"<a>" * 100000 + b"</a>" * 100000 + \
                b"</EnumerationResults>"
        elif scenario == "entities":
            body = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
                    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
                    b"<EnumerationResults><Blobs><Blob><Name>&lol3;</Name></Blob></Blobs>"
                    b"</EnumerationResults>")
        elif scenario == "external":
            body = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                    b"<EnumerationResults><Blobs><Blob><Name>&x;</Name></Blob></Blobs>"
                    b"</EnumerationResults>")
        elif scenario == "hugexml":
            item = blob_item("f" * 200)
            body = listing([item] * 200000)  # about 60 MB
        elif scenario == "hugetext":
            body = listing([blob_item("n" * 100000)])
        elif scenario == "notlisting":
            body = b"<Foo><Blobs/></Foo>"
        elif scenario == "malformed":
            body = b"<EnumerationResults><Blobs><Blob><Name>x</Blob>"
        elif scenario == "longmarker":
            body = listing([blob_item("a")], "m" * 5000)
        elif scenario == "outside":
            body = listing([blob_item("elsewhere/x")])  # asked for "sub/"
        elif scenario == "traversal":
            body = listing([blob_item(".."), blob_item("ok.txt"),
                            "<BlobPrefix><Name>../</Name></BlobPrefix>",
                            "<Blob><Name Encoded=\"true\">a%00b</Name><Properties>"
                            "<Content-Length>1</Content-Length></Properties></Blob>"])
        else:
            body = listing([blob_item("a.txt")])
        return self.send(200, body, {"Content-Type": "application/xml"})

    def get_blob(self, scenario):
        md5 = base64.b64encode(hashlib.md5(BODY).digest()).decode()
        headers = {"ETag": '"0x1"', "Content-Range": "bytes 0-99/100"}
        if scenario == "truncated":
            self.send_response(206)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(BODY[:50])
            self.wfile.flush()
            self.close_connection = True
            return None
        if scenario == "badrange":
            headers["Content-Range"] = "bytes 0-99/100"
            return self.send(206, BODY[:60], headers)
        if scenario == "badmd5":
            headers["Content-MD5"] = base64.b64encode(hashlib.md5(b"other").digest()).decode()
            return self.send(206, BODY, headers)
        if scenario == "toomuch":
            headers["Content-Range"] = "bytes 0-199/200"
            return self.send(206, BODY * 2, headers)
        headers["Content-MD5"] = md5
        return self.send(206, BODY, headers)

    do_GET = do_HEAD = do_PUT = do_DELETE = handle_any


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # a client that hangs up on a hostile answer is the point


def main():
    srv = Server(("127.0.0.1", 0), Handler)
    print(srv.server_address[1], flush=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    deadline = time.time() + 300
    # Stop when the test closes our stdin (or dies), or at the deadline.
    t = threading.Thread(target=sys.stdin.read, daemon=True)
    t.start()
    while t.is_alive() and time.time() < deadline:
        t.join(0.5)
    srv.shutdown()


if __name__ == "__main__":
    main()

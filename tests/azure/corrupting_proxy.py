#!/usr/bin/env python3
"""A loopback proxy in front of Azurite for tests/test_sync_azblob.c (stdlib only).

usage: corrupting_proxy.py <target-port>

Forwards every request to 127.0.0.1:<target-port> unchanged (Shared Key
signs the path, not the host, so signatures stay valid) and spoils the
answers to GETs of blobs whose name holds "flipped" (one byte changed, the
headers kept: a Content-MD5 mismatch) or "truncated" (the connection closes
half way through the announced body). Prints its port on the first stdout
line; stops when stdin closes, and after 300 s in any case.
"""
import http.client
import http.server
import socketserver
import sys
import threading
import time

TARGET = int(sys.argv[1])
HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade"}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def forward(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        conn = http.client.HTTPConnection("127.0.0.1", TARGET, timeout=60)
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        path = self.path.split("?")[0]
        spoil = self.command == "GET" and resp.status in (200, 206) and data
        if spoil and "flipped" in path:
            data = bytes([data[0] ^ 0x55]) + data[1:]
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            # A HEAD answer's Content-Length is the blob's size: keep it.
            if k.lower() not in HOP and (k.lower() != "content-length" or self.command == "HEAD"):
                self.send_header(k, v)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if spoil and "truncated" in path:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data)

    do_GET = do_HEAD = do_PUT = do_DELETE = do_POST = forward


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass


def main():
    srv = Server(("127.0.0.1", 0), Handler)
    print(srv.server_address[1], flush=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    deadline = time.time() + 300
    t = threading.Thread(target=sys.stdin.read, daemon=True)
    t.start()
    while t.is_alive() and time.time() < deadline:
        t.join(0.5)
    srv.shutdown()


if __name__ == "__main__":
    main()

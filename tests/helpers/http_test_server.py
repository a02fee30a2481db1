#!/usr/bin/python3
"""Loopback HTTP(S) server for tests/unit/http_test.cpp (standard library only).

Usage: http_test_server.py [--plain] [--tls CERT KEY]...
Opens one listener per option on 127.0.0.1, each on a free port (port 0), and
prints "PORTS p1 p2 ..." (in the order given) on one line once all listen.
Exits when stdin is closed or on SIGTERM.

Endpoints (HTTP/1.1, keep-alive):
  /echo            JSON {method, path, headers: [[name, value]...], body}
  /status/N        status N, body "status N"
  /slow?ms=N       waits N ms, then 200 "slow"
  /large?n=N[&chunked=1]  N bytes of 'x' (Content-Length, or chunked)
  /headers?n=N     200 with N extra headers of 1000 bytes each
  /redirect        302 to /echo
  /keepalive       200 "ok" (connection kept open)
  /stats           JSON {"connections": accepted connections, "connects": CONNECT requests}
  CONNECT          (as a proxy) counted, answered 403
"""
import http.server
import json
import signal
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse

STATS = {"connections": 0, "connects": 0}
LOCK = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "orgcrypt-test"

    def log_message(self, fmt, *args):  # quiet
        pass

    def setup(self):
        super().setup()
        with LOCK:
            STATS["connections"] += 1

    def _send(self, status, body, ctype="text/plain", extra=()):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Test-Header", "Mixed Case Value")
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(n) if n else b""

    def _handle(self):
        try:
            self._dispatch()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True

    def _dispatch(self):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        body = self._read_body()
        path = u.path
        if path == "/echo":
            out = {
                "method": self.command,
                "path": self.path,
                "headers": [[k, v] for k, v in self.headers.items()],
                "body": body.decode("latin-1"),
            }
            self._send(200, json.dumps(out), "application/json")
        elif path.startswith("/status/"):
            code = int(path[len("/status/"):])
            self._send(code, "status %d" % code)
        elif path == "/slow":
            time.sleep(int(q.get("ms", ["1000"])[0]) / 1000.0)
            self._send(200, "slow")
        elif path == "/large":
            n = int(q.get("n", ["0"])[0])
            if q.get("chunked", ["0"])[0] == "1":
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                chunk = b"x" * 4096
                left = n
                while left > 0:
                    c = chunk[: min(left, len(chunk))]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(c), c))
                    left -= len(c)
                self.wfile.write(b"0\r\n\r\n")
            else:
                self._send(200, b"x" * n)
        elif path == "/headers":
            n = int(q.get("n", ["0"])[0])
            self._send(200, "many headers", extra=[("X-Filler-%d" % i, "y" * 1000) for i in range(n)])
        elif path == "/redirect":
            self._send(302, "moved", extra=[("Location", "/echo")])
        elif path == "/keepalive":
            self._send(200, "ok")
        elif path == "/stats":
            with LOCK:
                self._send(200, json.dumps(STATS), "application/json")
        else:
            self._send(404, "not found")

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

    def do_CONNECT(self):
        with LOCK:
            STATS["connects"] += 1
        self.send_response(403)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.close_connection = True


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):  # quiet on aborted clients
        pass


def main():
    args = sys.argv[1:]
    servers = []
    i = 0
    while i < len(args):
        if args[i] == "--plain":
            servers.append(Server(("127.0.0.1", 0), Handler))
            i += 1
        elif args[i] == "--tls" and i + 2 < len(args):
            s = Server(("127.0.0.1", 0), Handler)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(args[i + 1], args[i + 2])
            s.socket = ctx.wrap_socket(s.socket, server_side=True)
            servers.append(s)
            i += 3
        else:
            sys.stderr.write("usage: http_test_server.py [--plain] [--tls CERT KEY]...\n")
            return 2
    if not servers:
        sys.stderr.write("no listener requested\n")
        return 2
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print("PORTS " + " ".join(str(s.server_address[1]) for s in servers), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # Lives as long as its parent keeps stdin open.
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except (OSError, KeyboardInterrupt):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

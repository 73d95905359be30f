#!/usr/bin/env python3
"""http_example.py - run the http_fetch example against an HTTP server of
its own on loopback.

usage: http_example.py CHECKER EXECUTABLE SOURCE [DEBUG_LIBRARY]

Serves, from a thread of this process on a free port of 127.0.0.1, one
path per case the example must handle, then runs CHECKER
(check_examples.py) on http_fetch with TASKSCOPE_HTTP_URLS naming them,
plus a port nobody listens on and an https:// URL.  DEBUG_LIBRARY is passed
on to the checker.  The expected output per path is in PAGES and
check_http_fetch (check_examples.py) reads it from here.

  /hello      Content-Length body
  /chunked    Transfer-Encoding: chunked, several chunks
  /utf8       multi-byte UTF-8: characters, not bytes, are counted
  /big        no Content-Length: the body ends when the server closes
  /missing    404
  /slow       never answers: the example's time limit must cut it off
"""
import http.server
import os
import socket
import subprocess
import sys
import threading

PAGES = {
    "/hello": "Hello, taskscope!\n",
    "/chunked": "".join("chunk %d of the body\n" % i for i in range(40)),
    "/utf8": "Grüße aus Köln ✓ — ¡olé!\n",
    "/big": "0123456789abcdef" * 8192,
}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        body = PAGES.get(self.path, "").encode("utf-8")
        if self.path == "/slow":
            # Hold the connection until the client gives up and closes it.
            self.rfile.read()
            self.close_connection = True
        elif self.path == "/missing":
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(body), 100):
                part = body[i:i + 100]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/big":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
        else:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)


def closed_port():
    """A port on 127.0.0.1 with no listener: bound, never listening."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s, s.getsockname()[1]


def main(argv):
    if len(argv) not in (4, 5):
        sys.stderr.write(__doc__)
        return 2
    checker, exe, source = argv[1:4]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    holder, dead = closed_port()
    try:
        base = "http://127.0.0.1:%d" % server.server_address[1]
        urls = [base + p for p in
                ("/hello", "/chunked", "/utf8", "/big", "/missing", "/slow")]
        urls += ["http://127.0.0.1:%d/" % dead, "https://example.com/"]
        env = dict(os.environ, TASKSCOPE_HTTP_URLS=" ".join(urls))
        return subprocess.run([sys.executable, checker, "http_fetch", exe,
                               source] + argv[4:], env=env).returncode
    finally:
        holder.close()
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    sys.exit(main(sys.argv))

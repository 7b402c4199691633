#!/usr/bin/env python3
"""A tiny forwarding HTTP proxy for the specs: plain http only (no CONNECT),
targets on 127.0.0.1 only, one request per connection.

    python3 proxy.py --port-file F --log L [--exit-on-stdin-eof] [--redirect URL]

It reads a request in absolute form ("POST http://127.0.0.1:P/path HTTP/1.1"),
appends the request line to the log file (one line per request), sends the
request in origin form to the target with "Connection: close", and relays the
answer byte for byte until the target closes. With --redirect URL it is no
proxy but a server that answers every request with 307 and Location: URL +
its path (to check that the client never follows a redirect). Standard
library only."""
import argparse
import socket
import socketserver
import sys
from urllib.parse import urlsplit

import serving  # spec/support/serving.py: port file, stdin watch


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        line = self.rfile.readline(65536)
        parts = line.decode("latin-1").split()
        if len(parts) != 3:
            return
        method, target, version = parts
        url = urlsplit(target)
        headers, length = [], 0
        while True:
            h = self.rfile.readline(65536)
            if h in (b"\r\n", b"\n", b""):
                break
            name = h.split(b":", 1)[0].strip().lower()
            if name == b"content-length":
                length = int(h.split(b":", 1)[1])
            if name in (b"proxy-connection", b"connection"):
                continue
            headers.append(h)
        body = self.rfile.read(length) if length else b""
        with open(self.server.log, "a") as f:
            f.write("%s %s\n" % (method, target))
        if self.server.redirect:
            self.wfile.write(("HTTP/1.1 307 Temporary Redirect\r\nLocation: %s%s\r\n"
                              "Content-Length: 0\r\nConnection: close\r\n\r\n"
                              % (self.server.redirect, target)).encode("latin-1"))
            return
        if url.scheme != "http" or url.hostname != "127.0.0.1":
            self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        path = url.path + ("?" + url.query if url.query else "")
        up = socket.create_connection(("127.0.0.1", url.port or 80), timeout=30)
        try:
            up.sendall(("%s %s %s\r\n" % (method, path, version)).encode("latin-1") + b"".join(headers)
                       + b"Connection: close\r\n\r\n" + body)
            while True:
                data = up.recv(65536)
                if not data:
                    break
                self.wfile.write(data)
        finally:
            up.close()


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--exit-on-stdin-eof", action="store_true")
    ap.add_argument("--redirect", help="answer 307 to this base URL instead of proxying")
    args = ap.parse_args()
    server = Server(("127.0.0.1", 0), Handler)
    server.log = args.log
    server.redirect = args.redirect
    open(args.log, "w").close()
    serving.publish_port(args.port_file, server.server_address[1])
    if args.exit_on_stdin_eof:
        serving.stop_on_stdin_eof(server.shutdown)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())

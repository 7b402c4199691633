#!/usr/bin/env python3
"""HTTP/1.x answers byte for byte, for spec/http1_spec.lua, on 127.0.0.1.

    python3 wire.py --port 0 --port-file F [--exit-on-stdin-eof] [--parent-pid N]

(the emulator's command line: spec/support/emulator.lua starts it). Every
answer carries X-Conn: <the connection's number> (counted from 1), so a
client's reuse of a connection shows. The path picks the answer:

  /length           200, Content-Length, keep-alive
  /chunked          200, chunked with extensions and trailers, in pieces
  /split            200, the head and body written a few bytes at a time
  /continue         100 Continue, 102 Processing, then 200
  /http10           HTTP/1.0 200 with a length, no keep-alive; then the close
  /http10-keep      HTTP/1.0 200 with Connection: keep-alive
  /close            HTTP/1.1 200, Connection: close; then the close
  /until-close      200 without a length: the body ends with the connection
  /truncated        200, Content-Length: 100, 5 bytes, then the close
  /junk-after       200, Content-Length: 2, then 4 bytes more
  /bad-status       a status line that is not HTTP/1.x
  /idle-close       200, then the connection is closed 100 ms later
  /arm-silent-close 200; the next request on this connection is read and
                    the connection closed without an answer
  /echo             200, the request's head (request line and headers) and
                    body as the body, separated by one line "--body--"
  /head             a HEAD is answered with Content-Length: 1000 and no body

Standard library only."""
import argparse
import os
import socket
import socketserver
import sys
import threading
import time

import serving  # spec/support/serving.py: port file, stdin watch


class Handler(socketserver.BaseRequestHandler):
    def setup(self):
        with self.server.lock:
            self.server.conns += 1
            self.conn = self.server.conns
        self.buf = b""
        self.silent_close = False

    def read_until(self, sep):
        while sep not in self.buf:
            data = self.request.recv(65536)
            if not data:
                return None
            self.buf += data
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_n(self, n):
        while len(self.buf) < n:
            data = self.request.recv(65536)
            if not data:
                return None
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, data):
        self.request.sendall(data if isinstance(data, bytes) else data.encode("latin-1"))

    def handle(self):
        while True:
            head = self.read_until(b"\r\n\r\n")
            if head is None:
                return
            lines = head.decode("latin-1").split("\r\n")
            method, path = lines[0].split(" ")[:2]
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.lower() == "content-length":
                    length = int(value.strip())
            body = self.read_n(length) if length else b""
            if body is None:
                return
            if self.silent_close:
                return
            if not self.answer(method, path, head, body):
                return

    def answer(self, method, target, head, body):
        conn = "X-Conn: %d\r\n" % self.conn
        path = target.split("?")[0]
        if path == "/length":
            self.send("HTTP/1.1 200 OK\r\n" + conn + "Content-Length: 5\r\n\r\nhello")
        elif path == "/chunked":
            self.send("HTTP/1.1 200 OK\r\n" + conn + "Transfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhel")
            time.sleep(0.02)
            self.send("lo\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n")
        elif path == "/split":
            whole = ("HTTP/1.1 200 OK\r\n" + conn + "Content-Type: text/plain\r\n"
                     "Content-Length: 10\r\n\r\n0123456789").encode()
            for i in range(0, len(whole), 7):
                self.send(whole[i:i + 7])
                time.sleep(0.005)
        elif path == "/continue":
            self.send("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX-Early: 1\r\n\r\n"
                      "HTTP/1.1 201 Created\r\n" + conn + "Content-Length: 2\r\n\r\nok")
        elif path == "/http10":
            self.send("HTTP/1.0 200 OK\r\n" + conn + "Content-Length: 2\r\n\r\nok")
            return False
        elif path == "/http10-keep":
            self.send("HTTP/1.0 200 OK\r\n" + conn + "Connection: keep-alive\r\nContent-Length: 2\r\n\r\nok")
        elif path == "/close":
            self.send("HTTP/1.1 200 OK\r\n" + conn + "Connection: close\r\nContent-Length: 2\r\n\r\nok")
            return False
        elif path == "/until-close":
            self.send("HTTP/1.1 200 OK\r\n" + conn + "\r\nall of it")
            return False
        elif path == "/truncated":
            self.send("HTTP/1.1 200 OK\r\n" + conn + "Content-Length: 100\r\n\r\nshort")
            return False
        elif path == "/junk-after":
            self.send("HTTP/1.1 200 OK\r\n" + conn + "Content-Length: 2\r\n\r\nokJUNK")
        elif path == "/bad-status":
            self.send("HTTP/1.1 2x0 Odd\r\n" + conn + "\r\n")
            return False
        elif path == "/idle-close":
            self.send("HTTP/1.1 200 OK\r\n" + conn + "Content-Length: 2\r\n\r\nok")
            time.sleep(0.1)
            return False
        elif path == "/arm-silent-close":
            self.send("HTTP/1.1 200 OK\r\n" + conn + "Content-Length: 2\r\n\r\nok")
            self.silent_close = True
        elif path == "/echo":
            out = head + b"--body--\r\n" + body
            self.send(("HTTP/1.1 200 OK\r\n" + conn + "Content-Length: %d\r\n\r\n" % len(out)).encode() + out)
        elif path == "/head":
            self.send("HTTP/1.1 200 OK\r\n" + conn + "Content-Length: 1000\r\n\r\n")
        else:
            self.send("HTTP/1.1 404 Not Found\r\n" + conn + "Content-Length: 0\r\n\r\n")
        return True


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--exit-on-stdin-eof", action="store_true")
    ap.add_argument("--parent-pid", type=int)
    args, _ = ap.parse_known_args()
    server = Server(("127.0.0.1", args.port), Handler)
    server.lock = threading.Lock()
    server.conns = 0
    serving.publish_port(args.port_file, server.server_address[1])
    if args.exit_on_stdin_eof:
        serving.stop_on_stdin_eof(lambda: os._exit(0))
    if args.parent_pid:
        serving.exit_with_parent(args.parent_pid)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())

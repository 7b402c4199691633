#!/usr/bin/env python3
"""A hostile Bedrock-shaped server for the fault specs, on 127.0.0.1 (port 0).

    python3 hostile.py --port-file F --log L [--exit-on-stdin-eof]

HTTP/1.1 with keep-alive; no SigV4 check. The model id in the path picks the
behaviour (/model/<mode>/invoke or /model/<mode>/invoke-with-response-stream),
numbers after a final '-' are its argument:

  json-truncated        200 application/json, a document cut in the middle
  json-deep-N           200 application/json, N nested arrays ([[[...]]])
  json-ok               200 application/json, {"ok": true}
  stream-bad-chunk      200 event stream: a good chunk, then a chunk whose inner
                        bytes claim JSON and are not, then a clean end
  declared-N            200 application/json, Content-Length: N, then N bytes
                        written as fast as the client takes them
  chunked-N             200 application/json, chunked, N bytes in 64 KiB chunks
  drip-N                200 application/json, Content-Length of a small JSON
                        document, one byte every N milliseconds

Each request line goes to the log file ("METHOD path", one a line) on
arrival; with a declared/chunked body, a line "sent <bytes>" follows when
the writer stops. Standard library only."""
import argparse
import base64
import binascii
import json
import socketserver
import struct
import sys
import threading
import time

import serving  # spec/support/serving.py: port file, stdin watch


def frame(headers, payload):
    hb = b""
    for name, value in headers.items():
        n, v = name.encode(), value.encode()
        hb += struct.pack(">B", len(n)) + n + b"\x07" + struct.pack(">H", len(v)) + v
    total = 12 + len(hb) + len(payload) + 4
    prelude = struct.pack(">II", total, len(hb))
    prelude += struct.pack(">I", binascii.crc32(prelude) & 0xFFFFFFFF)
    msg = prelude + hb + payload
    return msg + struct.pack(">I", binascii.crc32(msg) & 0xFFFFFFFF)


def chunk(inner):
    body = json.dumps({"bytes": base64.b64encode(inner).decode()}).encode()
    return frame({":event-type": "chunk", ":content-type": "application/json",
                  ":message-type": "event"}, body)


class Handler(socketserver.StreamRequestHandler):
    def log(self, line):
        with self.server.lock, open(self.server.log, "a") as f:
            f.write(line + "\n")

    def head(self, status, ctype, extra=""):
        self.wfile.write(("HTTP/1.1 %s\r\nContent-Type: %s\r\nx-amzn-RequestId: hostile-%d\r\n%s\r\n"
                          % (status, ctype, threading.get_ident() % 100000, extra)).encode())

    def whole(self, ctype, body):
        self.head("200 OK", ctype, "Content-Length: %d\r\n" % len(body))
        self.wfile.write(body)

    def handle(self):
        while self.one():
            pass

    def one(self):
        line = self.rfile.readline(65536)
        if not line:
            return False
        parts = line.decode("latin-1").split()
        if len(parts) != 3:
            return False
        method, path = parts[0], parts[1]
        length = 0
        while True:
            h = self.rfile.readline(1 << 20)
            if h in (b"\r\n", b"\n", b""):
                break
            if h.split(b":", 1)[0].strip().lower() == b"content-length":
                length = int(h.split(b":", 1)[1])
        if length:
            self.rfile.read(length)
        self.log("%s %s" % (method, path))
        seg = path.split("/")
        mode = seg[2] if len(seg) > 2 and seg[1] == "model" else ""
        name, _, arg = mode.rpartition("-")
        if not arg.isdigit():
            name, arg = mode, "0"
        n = int(arg)
        if mode == "json-ok":
            self.whole("application/json", b'{"ok": true}')
        elif mode == "json-truncated":
            self.whole("application/json", b'{"content": [{"type": "text", "text": "hel')
        elif name == "json-deep":
            self.whole("application/json", b"[" * n + b"]" * n)
        elif mode == "stream-bad-chunk":
            body = chunk(b'{"type": "content_block_delta", "delta": {"text": "fine"}}')
            body += chunk(b'{"type": "content_block_delta", "delta": {"text": "cut')
            body += chunk(b'{"type": "message_stop"}')
            self.whole("application/vnd.amazon.eventstream", body)
        elif name == "declared":
            self.head("200 OK", "application/json", "Content-Length: %d\r\n" % n)
            self.pour(n, chunked=False)
            return False
        elif name == "chunked":
            self.head("200 OK", "application/json", "Transfer-Encoding: chunked\r\n")
            self.pour(n, chunked=True)
            return False
        elif name == "drip":
            body = b'{"text": "drip drip"}'
            self.head("200 OK", "application/json", "Content-Length: %d\r\n" % len(body))
            self.wfile.flush()
            try:
                for i in range(len(body)):
                    self.wfile.write(body[i:i + 1])
                    self.wfile.flush()
                    time.sleep(n / 1000.0)
            except OSError:
                return False
        else:
            self.whole("application/json", b'{"message": "no such mode"}')
        self.wfile.flush()
        return True

    def pour(self, n, chunked):
        block, sent = b"x" * 65536, 0
        try:
            while sent < n:
                piece = block[:min(len(block), n - sent)]
                if chunked:
                    self.wfile.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
                else:
                    self.wfile.write(piece)
                sent += len(piece)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            pass
        self.log("sent %d" % sent)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--exit-on-stdin-eof", action="store_true")
    args = ap.parse_args()
    server = Server(("127.0.0.1", 0), Handler)
    server.log = args.log
    server.lock = threading.Lock()
    open(args.log, "w").close()
    serving.publish_port(args.port_file, server.server_address[1])
    if args.exit_on_stdin_eof:
        serving.stop_on_stdin_eof(server.shutdown)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())

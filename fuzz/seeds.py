#!/usr/bin/env python3
"""Write the libFuzzer seed corpora from the shared test data.

    python3 fuzz/seeds.py TESTDATA OUTDIR

OUTDIR/eventstream/ gets every event-stream fixture (positive and negative)
behind a split byte, all positive frames back to back, and Bedrock-shaped
chunk and exception frames made by the emulator's own frame writer.
OUTDIR/sigv4/ gets every SigV4 fixture (sigv4/ and sigv4-bedrock/) in the
input layout fuzz/fuzz_sigv4.c reads:

    flags u8      bit 0 normalize, 1 double-encode the path, 2 query present,
                  3 session token present, 5 payload hash from the secret field,
                  6 negative time
    time  u40     Unix seconds, big-endian
    method, path, query, region, service, access key id, secret, token:
                  each a u16 big-endian length and the bytes
    then (name, value) pairs in the same u16-prefixed form, to the end.

OUTDIR/json/ gets JSON texts: every decoded event-stream vector and SigV4
context, the service model's paginators and endpoint rules, Bedrock-shaped
replies and stream events, and short strict-JSON edge cases (escapes,
surrogates, UTF-8, int64 edges, deep nesting), each after one byte that
fuzz/fuzz_json.c reads as its depth limit and stop point.

OUTDIR/base64/ gets base64 texts of every length to 80 and a few long ones,
with and without padding, and the vectors' base64 payloads.

OUTDIR/http1_parse/ gets HTTP/1.x responses the way Bedrock and the
emulator frame them (Content-Length, chunked with extensions and trailers,
until close, 100 Continue first, HEAD, 204, HTTP/1.0), each after the flags
byte fuzz/fuzz_http1_parse.c reads (bit 0 HEAD, bits 1-7 the piece size).

The corpora are generated, not committed: `make fuzz` rebuilds them."""
import calendar
import hashlib
import json
import os
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "spec", "support"))


def write(outdir, name, data):
    with open(os.path.join(outdir, name), "wb") as f:
        f.write(data)


def eventstream_seeds(testdata, outdir):
    enc = os.path.join(testdata, "eventstream", "encoded")
    positives = []
    for kind in ("positive", "negative"):
        folder = os.path.join(enc, kind)
        for case in sorted(os.listdir(folder)):
            with open(os.path.join(folder, case), "rb") as f:
                frame = f.read()
            if kind == "positive":
                positives.append(frame)
            for split in (0x00, 0x01, 0x32, 0x73):
                write(outdir, "%s-%s-%02x" % (kind, case, split), bytes([split]) + frame)
    stream = b"".join(positives)
    for split in (0x00, 0x01, 0x22, 0x53, 0x76):
        write(outdir, "all-positive-%02x" % split, bytes([split]) + stream)
    try:
        import emulator
    except ImportError:
        return
    inner = json.dumps({"type": "content_block_delta", "index": 0,
                        "delta": {"type": "text_delta", "text": "Hello"}}).encode()
    frames = [emulator.chunk_frame(inner, 0), emulator.chunk_frame(inner, 40),
              emulator.exception_frame("throttlingException", "Too many requests")]
    for i, f in enumerate(frames):
        write(outdir, "bedrock-frame-%d" % i, b"\x33" + f)
    write(outdir, "bedrock-stream", b"\x63" + b"".join(frames))


def field(b):
    b = b[:65535]
    return struct.pack(">H", len(b)) + b


def parse_request(text):
    head, _, _body = text.partition(b"\n\n")
    lines = head.split(b"\n")
    first = lines[0]
    method, _, rest = first.partition(b" ")
    target = rest[:-len(b" HTTP/1.1")] if rest.endswith(b" HTTP/1.1") else rest
    path, q, query = target.partition(b"?")
    headers = []
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t") and headers:
            n, v = headers[-1]
            headers[-1] = (n, v + b"\n" + line)
            continue
        name, _, value = line.partition(b":")
        headers.append((name, value))
    return method, path, (query if q else None), headers


def sigv4_seeds(testdata, outdir):
    for suite in ("sigv4", "sigv4-bedrock"):
        root = os.path.join(testdata, suite)
        if not os.path.isdir(root):
            continue
        for case in sorted(os.listdir(root)):
            folder = os.path.join(root, case)
            req_path = os.path.join(folder, "request.txt")
            if not os.path.isfile(req_path):
                continue
            with open(req_path, "rb") as f:
                method, path, query, headers = parse_request(f.read())
            with open(os.path.join(folder, "context.json")) as f:
                ctx = json.load(f)
            creds = ctx["credentials"]
            t = calendar.timegm(time.strptime(ctx["timestamp"], "%Y-%m-%dT%H:%M:%SZ"))
            token = creds.get("token")
            if ctx.get("omit_session_token"):
                token = None
            flags = (1 if ctx.get("normalize", True) else 0) \
                | (2 if ctx.get("double_uri_encode", True) else 0) \
                | (4 if query is not None else 0) | (8 if token else 0)
            data = bytes([flags]) + t.to_bytes(5, "big")
            for part in (method, path, query or b"", ctx["region"].encode(), ctx["service"].encode(),
                         creds["access_key_id"].encode(), creds["secret_access_key"].encode(),
                         (token or "").encode()):
                data += field(part)
            for name, value in headers:
                data += field(name) + field(value)
            write(outdir, suite + "-" + case, data)
            # the same request with every flag flipped once
            for bit in (1, 2, 4, 8):
                write(outdir, "%s-%s-x%d" % (suite, case, bit), bytes([flags ^ bit]) + data[1:])


JSON_EDGES = [
    b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"tok"}}',
    b'{"usage":{"inputTokens":4,"outputTokens":12,"totalTokens":16},"metrics":{"latencyMs":3}}',
    b'{"message":null,"stop_sequence":null,"ok":true,"no":false,"list":[]}',
    b'"\\u00e9\\ud83d\\ude00\\u0000\\n\\"\\\\\\/"', b'"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"',
    b'[9223372036854775807,-9223372036854775808,9223372036854775808,-0,0.1,1e308,1e-324,5e-324]',
    b'[1.7976931348623157e308,2.2250738585072014e-308,123456789012345678901234567890]',
    b'[' * 64 + b']' * 64, b'{"a":' * 40 + b'1' + b'}' * 40, b'"\\ud800"', b'[1,]', b'01',
]


def json_seeds(testdata, outdir):
    texts = list(JSON_EDGES)
    dec = os.path.join(testdata, "eventstream", "decoded")
    for kind in ("positive", "negative"):
        for case in sorted(os.listdir(os.path.join(dec, kind))):
            with open(os.path.join(dec, kind, case), "rb") as f:
                texts.append(f.read())
    for suite in ("sigv4", "sigv4-bedrock"):
        root = os.path.join(testdata, suite)
        for dirpath, _dirs, files in os.walk(root):
            if "context.json" in files:
                with open(os.path.join(dirpath, "context.json"), "rb") as f:
                    texts.append(f.read())
    model = os.path.join(HERE, "..", "tools", "model", "bedrock-runtime", "2023-09-30")
    for name in ("paginators-1.json", "endpoint-rule-set-1.json"):
        path = os.path.join(model, name)
        if os.path.exists(path):
            with open(path, "rb") as f:
                texts.append(f.read())
    for i, t in enumerate(texts):
        write(outdir, "json-%03d" % i, bytes([i * 37 % 256]) + t)


def base64_seeds(testdata, outdir):
    import base64
    import random
    rnd = random.Random(20261206)
    for n in list(range(0, 81)) + [300, 1024, 4099]:
        write(outdir, "b64-%04d" % n, base64.b64encode(bytes(rnd.randrange(256) for _ in range(n))))
    dec = os.path.join(testdata, "eventstream", "decoded", "positive")
    for case in sorted(os.listdir(dec)):
        with open(os.path.join(dec, case), "rb") as f:
            doc = json.load(f)
        write(outdir, "vector-" + case, doc["payload"].encode())


def http1_parse_seeds(testdata, outdir):
    del testdata
    ok = (b"HTTP/1.1 200 OK\r\nx-amzn-RequestId: 3f0c\r\nContent-Type: application/json\r\n"
          b"X-Amzn-Bedrock-Input-Token-Count: 12\r\nContent-Length: 17\r\n\r\n{\"completion\":\"\"}")
    chunked = (b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.amazon.eventstream\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\nA\r\n0123456789\r\n"
               b"0\r\nx-trailer: t\r\n\r\n")
    responses = {
        "length": ok,
        "chunked": chunked,
        "until-close": b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody until the end",
        "continue": b"HTTP/1.1 100 Continue\r\n\r\n" + ok,
        "no-content": b"HTTP/1.1 204 No Content\r\n\r\n",
        "http10": b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
        "error": (b"HTTP/1.1 400 Bad Request\r\nx-amzn-ErrorType: ValidationException\r\n"
                  b"Content-Length: 27\r\n\r\n{\"message\":\"bad model id\"}"),
        "two-lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
        "folded": b"HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\n\r\n",
        "bare-lf": b"HTTP/1.1 200 OK\nContent-Length: 1\n\nx",
    }
    for name, text in sorted(responses.items()):
        for flags in (0x00, 0x0e, 0xfe):
            write(outdir, "%s-%02x" % (name, flags), bytes([flags]) + text)
    write(outdir, "head-01", b"\x01" + ok[:ok.index(b"\r\n\r\n") + 4])


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    testdata, out = argv[1], argv[2]
    for name, fn in (("eventstream", eventstream_seeds), ("sigv4", sigv4_seeds), ("json", json_seeds),
                     ("base64", base64_seeds), ("http1_parse", http1_parse_seeds)):
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        fn(testdata, d)
        print("%s: %d seeds in %s" % (name, len(os.listdir(d)), d))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

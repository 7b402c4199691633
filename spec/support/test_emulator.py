#!/usr/bin/env python3
"""Self-test of spec/support/emulator.py over real HTTP.

    python3 spec/support/test_emulator.py            # the suite (about 5 s)
    python3 spec/support/test_emulator.py --bench    # throughput figures only

Requests are signed with botocore's SigV4Auth and streams are decoded with
botocore's EventStreamBuffer when botocore is importable (an independent check
of the emulator); otherwise a small signer and decoder written here stand in,
and the tests that need botocore itself are skipped with the reason printed.
"""

import asyncio
import base64
import datetime
import hashlib
import hmac
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
EMULATOR = os.path.join(HERE, "emulator.py")
sys.path.insert(0, HERE)
import emulator as emu_mod  # noqa: E402  (for the canonical-request fixtures only)

for _v in ("AWS_BEARER_TOKEN_BEDROCK", "AWS_PROFILE", "AWS_SESSION_TOKEN", "HTTP_PROXY", "http_proxy",
           "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_v, None)
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

try:
    import botocore
    import botocore.auth
    import botocore.session
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.config import Config
    from botocore.credentials import Credentials
    from botocore.eventstream import ChecksumMismatch, EventStreamBuffer
    HAVE_BOTOCORE = True
    BOTOCORE_REASON = ""
except ImportError as _e:                                   # pragma: no cover
    HAVE_BOTOCORE = False
    BOTOCORE_REASON = "botocore is not importable (%s)" % _e
    print("NOTE: skipping the botocore-dependent tests: " + BOTOCORE_REASON, file=sys.stderr)

needs_botocore = unittest.skipUnless(HAVE_BOTOCORE, BOTOCORE_REASON)

LONG = ("AKIAEMULATOREXAMPLE1", "emulator+secret/EXAMPLEKEY0000000000000", None)
TEMP = ("ASIAEMULATOREXAMPLE2", "emulator+temporary/EXAMPLEKEY00000000000", "emulator-session-token/EXAMPLE+TOKEN==")
BEARER = "emulator-bedrock-api-key"
CLAUDE = "anthropic.claude-3-sonnet-20240229-v1:0"
CLAUDE_PATH = "/model/anthropic.claude-3-sonnet-20240229-v1%3A0"
ARN = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-7-sonnet-20250219-v1:0"
BODY = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
                   "messages": [{"role": "user", "content": "Hello there"}]}).encode()
SIG_MISMATCH = ("The request signature we calculated does not match the signature you provided. Check your AWS "
                "Secret Access Key and signing method. Consult the service documentation for details.")
CORAL_SERVICE = "http://internal.amazon.com/coral/com.amazon.coral.service/"
CORAL_BEDROCK = "http://internal.amazon.com/coral/com.amazon.bedrock/"


def read(path):
    with open(path, "rb") as f:
        return f.read()


def model_path(model_id, op="invoke"):
    return "/model/%s/%s" % (urllib.parse.quote(model_id, safe="-._~"), op)


# --------------------------------------------------------------------------
# signing: botocore when present, a small stand-in otherwise

def _fallback_sign(method, url, headers, body, creds, amz_date):
    u = urllib.parse.urlsplit(url)
    headers = dict(headers)
    headers["Host"] = u.netloc
    headers["X-Amz-Date"] = amz_date
    if creds[2]:
        headers["X-Amz-Security-Token"] = creds[2]
    lower = sorted((k.lower(), " ".join(str(v).split())) for k, v in headers.items())
    signed = ";".join(k for k, _ in lower)
    path = urllib.parse.quote(u.path, safe="/~")
    query = "&".join(sorted("%s=%s" % (urllib.parse.quote(k, safe="-_.~"), urllib.parse.quote(v, safe="-_.~"))
                            for k, v in urllib.parse.parse_qsl(u.query, keep_blank_values=True)))
    # like botocore: an X-Amz-Content-SHA256 header is the payload hash (STREAMING-...-EVENTS, say)
    payload_hash = dict(lower).get("x-amz-content-sha256") or hashlib.sha256(body).hexdigest()
    creq = "\n".join([method, path, query, "".join("%s:%s\n" % kv for kv in lower), signed, payload_hash])
    scope = "%s/us-east-1/bedrock/aws4_request" % amz_date[:8]
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
    key = ("AWS4" + creds[1]).encode()
    for part in (amz_date[:8], "us-east-1", "bedrock", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        creds[0], scope, signed, sig)
    return headers


def sign(method, url, headers, body, creds=LONG, service="bedrock", skew_s=0):
    """-> headers dict including Host, X-Amz-Date, Authorization (and the token)."""
    if not HAVE_BOTOCORE:
        assert service == "bedrock"
        t = time.gmtime(time.time() + skew_s)
        return _fallback_sign(method, url, headers, body, creds, time.strftime("%Y%m%dT%H%M%SZ", t))
    req = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    orig = botocore.auth.get_current_datetime
    if skew_s:
        botocore.auth.get_current_datetime = lambda: orig() + datetime.timedelta(seconds=skew_s)
    try:
        SigV4Auth(Credentials(*creds), service, "us-east-1").add_auth(req)
    finally:
        botocore.auth.get_current_datetime = orig
    out = dict(req.headers.items())
    out["Host"] = urllib.parse.urlsplit(url).netloc
    return out


# --------------------------------------------------------------------------
# event-stream decoding: botocore's EventStreamBuffer, or a stand-in

class DecodeError(Exception):
    pass


def _py_decode(data):
    msgs, off = [], 0
    while len(data) - off >= 12:
        total, hlen, pcrc = struct.unpack_from(">III", data, off)
        if zlib.crc32(data[off:off + 8]) != pcrc:
            raise DecodeError("prelude checksum mismatch")
        if len(data) - off < total:
            break
        if zlib.crc32(data[off:off + total - 4]) != struct.unpack_from(">I", data, off + total - 4)[0]:
            raise DecodeError("message checksum mismatch")
        headers, p = {}, off + 12
        while p < off + 12 + hlen:
            n = data[p]
            name = data[p + 1:p + 1 + n].decode()
            p += 1 + n
            t = data[p]
            p += 1
            assert t == 7, "only string headers expected"
            ln = struct.unpack_from(">H", data, p)[0]
            headers[name] = data[p + 2:p + 2 + ln].decode()
            p += 2 + ln
        msgs.append((headers, bytes(data[off + 12 + hlen:off + total - 4])))
        off += total
    return msgs, off


def decode(data):
    """-> ([(headers dict, payload bytes)], bytes consumed). Raises on a checksum mismatch."""
    if not HAVE_BOTOCORE:
        return _py_decode(data)
    buf = EventStreamBuffer()
    buf.add_data(bytes(data))
    msgs, used = [], 0
    for m in buf:
        msgs.append((dict(m.headers), m.payload))
        used += m.prelude.total_length
    mine, mine_used = _py_decode(data)                     # the stand-in must agree
    assert mine == msgs and mine_used == used
    return msgs, used


def inner_events(msgs):
    out = []
    for h, payload in msgs:
        if h.get(":message-type") == "event":
            out.append(json.loads(base64.b64decode(json.loads(payload)["bytes"])))
    return out


# --------------------------------------------------------------------------
# a raw HTTP/1.1 client: keep-alive, chunked, and honest about resets

class Resp:
    def __init__(self):
        self.status, self.headers, self.body = None, {}, b""
        self.chunks, self.complete, self.error = [], False, None

    def json(self):
        return json.loads(self.body)

    @property
    def error_type(self):
        return self.headers.get("x-amzn-errortype", "")


class Conn:
    def __init__(self, port, timeout=10):
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.reads = 0

    def close(self):
        self.sock.close()

    def _fill(self):
        d = self.sock.recv(1 << 20)
        self.reads += 1
        if not d:
            raise EOFError("connection closed by the server")
        self.buf += d

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            self._fill()

    def _exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def send(self, method, path, headers=None, body=b"", raw=None):
        if raw is not None:
            self.sock.sendall(raw)
            return
        hdrs = {"Host": "127.0.0.1:%d" % self.port}
        hdrs.update(headers or {})
        if body or method == "POST":
            hdrs.setdefault("Content-Length", str(len(body)))
        head = "%s %s HTTP/1.1\r\n" % (method, path) + "".join("%s: %s\r\n" % kv for kv in hdrs.items()) + "\r\n"
        self.sock.sendall(head.encode("latin-1") + body)

    def response(self, on_chunk=None):
        r = Resp()
        try:
            line = self._line()
            while True:
                r.status = int(line.split(b" ")[1])
                r.headers = {}
                while True:
                    h = self._line()
                    if not h:
                        break
                    k, _, v = h.decode("latin-1").partition(":")
                    r.headers[k.strip().lower()] = v.strip()
                if r.status != 100:
                    break
                line = self._line()
            body = bytearray()
            if "chunked" in r.headers.get("transfer-encoding", ""):
                while True:
                    size = int(self._line().split(b";")[0], 16)
                    if size == 0:
                        while self._line():
                            pass
                        r.complete = True
                        break
                    data = self._exact(size)
                    r.chunks.append(size)
                    body += data
                    if on_chunk:
                        on_chunk(data)
                    self._exact(2)
            else:
                body += self._exact(int(r.headers.get("content-length", "0")))
                r.complete = True
            r.body = bytes(body)
        except (OSError, EOFError) as e:
            r.error = e
            r.body = bytes(locals().get("body", b""))
        return r

    def request(self, method, path, headers=None, body=b"", **kw):
        self.send(method, path, headers, body)
        return self.response(**kw)


# --------------------------------------------------------------------------
# the emulator process

class Emu:
    def __init__(self):
        fd, self.port_file = tempfile.mkstemp(prefix="emu-port-")
        os.close(fd)
        os.unlink(self.port_file)
        self.proc = subprocess.Popen([sys.executable, EMULATOR, "--port", "0", "--port-file", self.port_file,
                                      "--exit-on-stdin-eof", "--quiet"], stdin=subprocess.PIPE)
        deadline = time.time() + 10
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("the emulator did not start")
            time.sleep(0.02)
        with open(self.port_file) as f:
            self.port = int(f.read())
        os.unlink(self.port_file)
        self.url = "http://127.0.0.1:%d" % self.port

    def control(self, method, path, doc=None):
        c = Conn(self.port)
        try:
            body = json.dumps(doc).encode() if doc is not None else b""
            r = c.request(method, path, {"Content-Type": "application/json"} if doc is not None else {}, body)
        finally:
            c.close()
        return r

    def scenario(self, model_id, **fields):
        fields["model_id"] = model_id
        r = self.control("POST", "/__emulator/scenarios", fields)
        assert r.status == 200, r.body

    def reset(self):
        assert self.control("DELETE", "/__emulator/scenarios").status == 200

    def requests(self):
        return self.control("GET", "/__emulator/requests").json()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(10)


EMU = None


def setUpModule():
    global EMU
    EMU = Emu()


def tearDownModule():
    if EMU:
        EMU.stop()


def signed(conn_or_none, path, body=BODY, creds=LONG, headers=None, op_headers=None, **kw):
    """POST a SigV4-signed request; returns Resp."""
    h = {"Content-Type": "application/json", "Accept": "application/json"}
    h.update(op_headers or {})
    hs = sign("POST", EMU.url + path, h, body, creds, **kw)
    hs.update(headers or {})
    c = conn_or_none or Conn(EMU.port)
    try:
        return c.request("POST", path, hs, body)
    finally:
        if conn_or_none is None:
            c.close()


def stream(path=CLAUDE_PATH + "/invoke-with-response-stream", body=BODY, conn=None, **kw):
    return signed(conn, path, body, op_headers={"X-Amzn-Bedrock-Accept": "application/json"}, **kw)


def once(method, path, headers=None, body=b""):
    """One request on its own connection."""
    c = Conn(EMU.port)
    try:
        return c.request(method, path, headers, body)
    finally:
        c.close()


class Base(unittest.TestCase):
    def setUp(self):
        EMU.reset()


# --------------------------------------------------------------------------

class TestSigV4Fixtures(unittest.TestCase):
    """The emulator's canonical request against the SigV4 suite in test/data."""

    def cases(self, sub):
        d = os.path.join(HERE, "..", "..", "test", "data", sub)
        return [os.path.join(d, c) for c in sorted(os.listdir(d)) if os.path.isdir(os.path.join(d, c))]

    @staticmethod
    def parse(case):
        raw = read(os.path.join(case, "request.txt"))
        head, _, body = raw.partition(b"\n\n")
        lines = head.split(b"\n")
        method, _, rest = lines[0].partition(b" ")
        target = rest[:-9]
        headers = []
        for line in lines[1:]:
            if line[:1] in (b" ", b"\t"):
                n, v = headers[-1]
                headers[-1] = (n, v + b"\n" + line)
                continue
            k, _, v = line.partition(b":")
            headers.append((k.decode().lower(), v))
        ctx = json.loads(read(os.path.join(case, "context.json")))
        return method.decode(), target, headers, body, ctx

    def check(self, sub):
        n = 0
        for case in self.cases(sub):
            method, target, headers, body, ctx = self.parse(case)
            if not ctx.get("normalize", True):
                continue                                    # Bedrock always normalises
            want = read(os.path.join(case, "header-canonical-request.txt"))
            signed_line = want.split(b"\n")[-2].decode()
            amz = time.strftime("%Y%m%dT%H%M%SZ", time.strptime(ctx["timestamp"], "%Y-%m-%dT%H:%M:%SZ"))
            headers = headers + [("x-amz-date", amz.encode())]
            if ctx["credentials"].get("token") and not ctx.get("omit_session_token"):
                headers.append(("x-amz-security-token", ctx["credentials"]["token"].encode()))
            ph = hashlib.sha256(body).hexdigest()
            if ctx.get("sign_body"):
                headers.append(("x-amz-content-sha256", ph.encode()))
            path, _, query = target.partition(b"?")
            got = emu_mod.canonical_request(method, path, query, headers, signed_line.split(";"), ph)
            self.assertEqual(want, got, case)
            n += 1
        return n

    def test_bedrock_fixtures(self):
        self.assertEqual(5, self.check("sigv4-bedrock"))

    def test_upstream_fixtures(self):
        self.assertGreaterEqual(self.check("sigv4"), 30)


class TestAuth(Base):
    def test_both_key_pairs_are_accepted(self):
        for creds in (LONG, TEMP):
            r = signed(None, CLAUDE_PATH + "/invoke", creds=creds)
            self.assertEqual(200, r.status, r.body)
            self.assertEqual("message", r.json()["type"])
        log = EMU.requests()
        self.assertEqual(["sigv4", "sigv4"], [e["auth"] for e in log])
        self.assertEqual(CLAUDE, log[0]["model_id"])
        self.assertEqual(CLAUDE_PATH + "/invoke", log[0]["path"])
        self.assertEqual(TEMP[2], log[1]["headers"]["x-amz-security-token"])

    def test_arn_with_encoded_colon_and_slash(self):
        path = model_path(ARN)
        self.assertIn("%2Finference-profile", path.replace("%3Ainference-profile%2F", "%2Finference-profile"))
        for creds in (LONG, TEMP):
            r = signed(None, path, creds=creds)
            self.assertEqual(200, r.status, r.body)
        log = EMU.requests()
        self.assertEqual(ARN, log[-1]["model_id"])
        self.assertEqual(path, log[-1]["path"])

    def assertAwsError(self, r, status, code, message=None, uri=CORAL_SERVICE):
        self.assertEqual(status, r.status, r.body)
        self.assertEqual("%s:%s" % (code, uri), r.headers["x-amzn-errortype"])
        self.assertEqual("application/json", r.headers["content-type"])
        self.assertTrue(r.headers["x-amzn-requestid"])
        if message is not None:
            self.assertEqual({"message": message}, r.json())

    def test_tampered_body_and_wrong_secret(self):
        h = sign("POST", EMU.url + CLAUDE_PATH + "/invoke", {"Content-Type": "application/json"}, BODY)
        c = Conn(EMU.port)
        r = c.request("POST", CLAUDE_PATH + "/invoke", h, BODY.replace(b"Hello", b"Jello"))
        self.assertAwsError(r, 403, "InvalidSignatureException", SIG_MISMATCH)
        # the connection stays usable after an error
        r = c.request("POST", CLAUDE_PATH + "/invoke", h, BODY)
        self.assertEqual(200, r.status)
        c.close()
        r = signed(None, CLAUDE_PATH + "/invoke", creds=(LONG[0], "not-the-secret", None))
        self.assertAwsError(r, 403, "InvalidSignatureException", SIG_MISMATCH)
        # a tampered signed header
        h2 = dict(h)
        h2["Content-Type"] = "text/plain"
        r = once("POST", CLAUDE_PATH + "/invoke", h2, BODY)
        self.assertAwsError(r, 403, "InvalidSignatureException", SIG_MISMATCH)
        self.assertEqual(["bad", "bad", "bad"], [e["auth"] for e in EMU.requests() if e["status"] == 403])

    def test_unknown_key_missing_auth_and_tokens(self):
        r = signed(None, CLAUDE_PATH + "/invoke", creds=("AKIAUNKNOWNKEY000000", "x", None))
        self.assertAwsError(r, 403, "UnrecognizedClientException",
                            "The security token included in the request is invalid.")
        r = once("POST", CLAUDE_PATH + "/invoke", {"Content-Type": "application/json"}, BODY)
        self.assertAwsError(r, 403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        r = signed(None, CLAUDE_PATH + "/invoke", creds=(TEMP[0], TEMP[1], None))     # temporary key, no token
        self.assertAwsError(r, 403, "UnrecognizedClientException")
        r = signed(None, CLAUDE_PATH + "/invoke", creds=(TEMP[0], TEMP[1], "some-other-token"))
        self.assertAwsError(r, 403, "UnrecognizedClientException")
        r = signed(None, CLAUDE_PATH + "/invoke", creds=(LONG[0], LONG[1], TEMP[2]))  # a stray token
        self.assertAwsError(r, 403, "UnrecognizedClientException")
        # the token present but not signed
        h = sign("POST", EMU.url + CLAUDE_PATH + "/invoke", {"Content-Type": "application/json"}, BODY,
                 creds=(TEMP[0], TEMP[1], None))
        h["X-Amz-Security-Token"] = TEMP[2]
        r = once("POST", CLAUDE_PATH + "/invoke", h, BODY)
        self.assertAwsError(r, 403, "InvalidSignatureException")
        self.assertEqual(["none"], [e["auth"] for e in EMU.requests() if e["auth"] == "none"])

    def test_clock_skew_and_scope(self):
        r = signed(None, CLAUDE_PATH + "/invoke", skew_s=-600)
        self.assertAwsError(r, 403, "InvalidSignatureException")
        self.assertTrue(r.json()["message"].startswith("Signature expired: "), r.body)
        r = signed(None, CLAUDE_PATH + "/invoke", skew_s=600)
        self.assertAwsError(r, 403, "InvalidSignatureException")
        self.assertIn("Signature not yet current", r.json()["message"])
        r = signed(None, CLAUDE_PATH + "/invoke", skew_s=-200)                      # within 5 minutes
        self.assertEqual(200, r.status)
        if HAVE_BOTOCORE:
            r = signed(None, CLAUDE_PATH + "/invoke", service="bedrock-runtime")
            self.assertAwsError(r, 403, "InvalidSignatureException")
            self.assertIn("correct service", r.json()["message"])

    def test_bearer(self):
        c = Conn(EMU.port)
        r = c.request("POST", CLAUDE_PATH + "/invoke",
                      {"Authorization": "Bearer " + BEARER, "Content-Type": "application/json"}, BODY)
        self.assertEqual(200, r.status, r.body)
        r = c.request("POST", CLAUDE_PATH + "/invoke",
                      {"Authorization": "Bearer bedrock-api-key-nope", "Content-Type": "application/json"}, BODY)
        c.close()
        self.assertAwsError(r, 403, "UnrecognizedClientException")
        self.assertEqual(["bearer", "bad"], [e["auth"] for e in EMU.requests()])

    def test_registered_credentials(self):
        minted = ("ASIAREGISTEREDEXAMPL", "registered/secret/EXAMPLE000000000000000", "registered-token==")
        r = signed(None, CLAUDE_PATH + "/invoke", creds=minted)
        self.assertAwsError(r, 403, "UnrecognizedClientException")
        doc = {"access_key_id": minted[0], "secret_access_key": minted[1], "session_token": minted[2]}
        self.assertEqual(200, EMU.control("POST", "/__emulator/credentials", doc).status)
        r = signed(None, CLAUDE_PATH + "/invoke", creds=minted)
        self.assertEqual(200, r.status, r.body)
        r = signed(None, CLAUDE_PATH + "/invoke", creds=(minted[0], minted[1], "another-token"))
        self.assertAwsError(r, 403, "UnrecognizedClientException")
        EMU.reset()                                       # kept across resets
        self.assertEqual(200, signed(None, CLAUDE_PATH + "/invoke", creds=minted).status)
        self.assertEqual(400, EMU.control("POST", "/__emulator/credentials", {"access_key_id": 1}).status)

    def test_unknown_route(self):
        r = signed(None, CLAUDE_PATH + "/converse-nope")
        self.assertAwsError(r, 404, "UnknownOperationException")
        h = sign("GET", EMU.url + CLAUDE_PATH + "/invoke", {}, b"")
        r = once("GET", CLAUDE_PATH + "/invoke", h)
        self.assertEqual(404, r.status)


class TestInvoke(Base):
    def test_reply_headers_and_usage(self):
        r = signed(None, CLAUDE_PATH + "/invoke")
        self.assertEqual(200, r.status)
        doc = r.json()
        self.assertEqual({"id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"},
                         set(doc))
        self.assertTrue(doc["id"].startswith("msg_bdrk_"))
        self.assertEqual("claude-3-sonnet-20240229", doc["model"])
        self.assertEqual([{"type": "text", "text": "You said: Hello there"}], doc["content"])
        self.assertEqual({"input_tokens": 2, "output_tokens": 4}, doc["usage"])
        self.assertEqual("application/json", r.headers["content-type"])
        self.assertEqual("2", r.headers["x-amzn-bedrock-input-token-count"])
        self.assertEqual("4", r.headers["x-amzn-bedrock-output-token-count"])
        self.assertTrue(int(r.headers["x-amzn-bedrock-invocation-latency"]) >= 1)
        self.assertEqual("keep-alive", r.headers["connection"])
        self.assertTrue(r.headers["date"].endswith("GMT"))
        EMU.scenario(CLAUDE, text="custom reply here")
        self.assertEqual("custom reply here", signed(None, CLAUDE_PATH + "/invoke").json()["content"][0]["text"])

    def test_malformed_json(self):
        r = signed(None, CLAUDE_PATH + "/invoke", body=b"{not json")
        self.assertEqual(400, r.status)
        self.assertEqual("ValidationException:" + CORAL_BEDROCK, r.headers["x-amzn-errortype"])
        self.assertTrue(r.json()["message"].startswith("Malformed input request: "))

    def test_echo_and_text(self):
        body = b'{"raw":"string body"}'
        r = signed(None, model_path("emulator.echo-v1:0") + "?a=1", body=body,
                   op_headers={"Content-Type": "application/x-test", "Accept": "*/*"})
        self.assertEqual(200, r.status, r.body)
        doc = r.json()
        self.assertEqual("POST", doc["method"])
        self.assertEqual("/model/emulator.echo-v1%3A0/invoke", doc["path"])
        self.assertEqual("a=1", doc["query"])
        self.assertEqual("emulator.echo-v1:0", doc["model_id"])
        self.assertEqual(body.decode(), doc["body"])
        self.assertEqual("application/x-test", doc["headers"]["content-type"])
        self.assertTrue(doc["headers"]["authorization"].startswith("AWS4-HMAC-SHA256 Credential=" + LONG[0]))
        r = signed(None, model_path("emulator.text") , body=b"{}")
        self.assertEqual(b"plain text reply", r.body)
        self.assertEqual("text/plain", r.headers["content-type"])

    def test_keep_alive_expect_and_chunked_request(self):
        c = Conn(EMU.port)
        for _ in range(3):
            self.assertEqual(200, signed(c, CLAUDE_PATH + "/invoke").status)
        # Expect: 100-continue, the body sent only after the interim response
        h = sign("POST", EMU.url + CLAUDE_PATH + "/invoke", {"Content-Type": "application/json"}, BODY)
        h["Expect"] = "100-continue"
        h["Content-Length"] = str(len(BODY))
        c.send("POST", CLAUDE_PATH + "/invoke", h)
        self.assertTrue(c._line().startswith(b"HTTP/1.1 100"))
        self.assertEqual(b"", c._line())
        c.sock.sendall(BODY)
        self.assertEqual(200, c.response().status)
        # a chunked request body
        h = sign("POST", EMU.url + CLAUDE_PATH + "/invoke", {"Content-Type": "application/json",
                                                             "Transfer-Encoding": "chunked"}, BODY)
        h.pop("Content-Length", None)
        head = "POST %s HTTP/1.1\r\n" % (CLAUDE_PATH + "/invoke") + "".join("%s: %s\r\n" % kv for kv in h.items())
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(BODY[i:i + 7]), BODY[i:i + 7]) for i in range(0, len(BODY), 7))
        c.send(None, None, raw=head.encode() + b"\r\n" + chunked + b"0\r\n\r\n")
        self.assertEqual(200, c.response().status)
        c.close()
        self.assertEqual(5, len(EMU.requests()))


class TestFaults(Base):
    def test_fail_first_then_success(self):
        EMU.scenario(CLAUDE, fail_first=2, fail_status=503, fail_code="ServiceUnavailableException",
                     retry_after_ms=250)
        c = Conn(EMU.port)
        for _ in range(2):
            r = signed(c, CLAUDE_PATH + "/invoke")
            self.assertEqual(503, r.status)
            self.assertEqual("ServiceUnavailableException:" + CORAL_BEDROCK, r.headers["x-amzn-errortype"])
            self.assertEqual("250", r.headers["x-amz-retry-after"])
        self.assertEqual(200, signed(c, CLAUDE_PATH + "/invoke").status)
        c.close()
        EMU.scenario(CLAUDE, fail_first=1)          # defaults: 429 ThrottlingException
        r = stream()
        self.assertEqual(429, r.status)
        self.assertEqual("ThrottlingException:" + CORAL_BEDROCK, r.headers["x-amzn-errortype"])
        self.assertEqual("Too many requests, please wait before trying again.", r.json()["message"])
        self.assertEqual(200, stream().status)
        log = EMU.requests()
        self.assertEqual([503, 503, 200, 429, 200], [e["status"] for e in log])
        self.assertEqual(["invoke"] * 3 + ["stream"] * 2, [e["route"] for e in log])
        self.assertTrue(all(a["t"] <= b["t"] for a, b in zip(log, log[1:])))

    def test_unknown_scenario_field_is_refused(self):
        r = EMU.control("POST", "/__emulator/scenarios", {"model_id": CLAUDE, "fail_frist": 1})
        self.assertEqual(400, r.status)
        self.assertIn("fail_frist", r.json()["message"])
        self.assertEqual(b"ok", EMU.control("GET", "/__emulator/health").body)

    def test_reset_first(self):
        EMU.scenario(CLAUDE, reset_first=1)
        r = signed(None, CLAUDE_PATH + "/invoke")
        self.assertIsNone(r.status)
        self.assertIsInstance(r.error, (ConnectionResetError, EOFError))
        self.assertEqual(200, signed(None, CLAUDE_PATH + "/invoke").status)
        self.assertEqual([0, 200], [e["status"] for e in EMU.requests()])

    def test_delay(self):
        EMU.scenario(CLAUDE, delay_ms=300)
        t = time.monotonic()
        self.assertEqual(200, signed(None, CLAUDE_PATH + "/invoke").status)
        self.assertGreaterEqual(time.monotonic() - t, 0.29)


class TestStream(Base):
    def test_anthropic_sequence_and_metrics(self):
        EMU.scenario(CLAUDE, text="one two three four")
        r = stream()
        self.assertEqual(200, r.status)
        self.assertTrue(r.complete)
        self.assertEqual("application/vnd.amazon.eventstream", r.headers["content-type"])
        self.assertEqual("application/json", r.headers["x-amzn-bedrock-content-type"])
        self.assertEqual("chunked", r.headers["transfer-encoding"])
        self.assertTrue(r.headers["x-amzn-requestid"])
        msgs, used = decode(r.body)
        self.assertEqual(len(r.body), used)
        for h, payload in msgs:
            self.assertEqual({":event-type": "chunk", ":content-type": "application/json",
                              ":message-type": "event"}, h)
            outer = json.loads(payload)
            self.assertEqual({"bytes", "p"}, set(outer))
            self.assertTrue(outer["p"].isalnum())
        ev = inner_events(msgs)
        self.assertEqual(["message_start", "content_block_start"] + ["content_block_delta"] * 4 +
                         ["content_block_stop", "message_delta", "message_stop"], [e["type"] for e in ev])
        self.assertEqual("one two three four", "".join(e["delta"]["text"] for e in ev[2:6]))
        self.assertEqual({"type": "text_delta", "text": "one"}, ev[2]["delta"])
        self.assertEqual(0, ev[2]["index"])
        start = ev[0]["message"]
        self.assertTrue(start["id"].startswith("msg_bdrk_"))
        self.assertEqual(2, start["usage"]["input_tokens"])
        self.assertEqual({"type": "text", "text": ""}, ev[1]["content_block"])
        self.assertEqual("end_turn", ev[7]["delta"]["stop_reason"])
        self.assertEqual(4, ev[7]["usage"]["output_tokens"])
        m = ev[8]["amazon-bedrock-invocationMetrics"]
        self.assertEqual(2, m["inputTokenCount"])
        self.assertEqual(4, m["outputTokenCount"])
        self.assertGreaterEqual(m["invocationLatency"], m["firstByteLatency"])
        self.assertEqual("application/json", EMU.requests()[0]["headers"]["x-amzn-bedrock-accept"])

    def test_default_reply(self):
        ev = inner_events(decode(stream().body)[0])
        self.assertEqual(9, len(ev))                          # "You said: Hello there", one delta per word
        self.assertEqual("You said: Hello there", "".join(e["delta"]["text"] for e in ev[2:6]))

    def test_deltas_split_and_repeat(self):
        for text, n, want in (("one two three four", 2, ["one two", " three four"]),
                              ("abcdef", 3, ["ab", "cd", "ef"]),
                              ("tok", 4, ["tok", " tok", " tok", " tok"])):
            EMU.scenario(CLAUDE, text=text, deltas=n)
            ev = inner_events(decode(stream().body)[0])
            self.assertEqual(want, [e["delta"]["text"] for e in ev if e["type"] == "content_block_delta"])
            self.assertEqual(n, ev[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"])

    def test_payload_pad(self):
        EMU.scenario(CLAUDE, payload_pad=200, deltas=3)
        msgs, _ = decode(stream().body)
        self.assertTrue(all(len(json.loads(p)["p"]) == 200 for _, p in msgs))

    def test_exception_after_events(self):
        EMU.scenario(CLAUDE, exception_after_events=3, exception_message="the model broke")
        c = Conn(EMU.port)
        r = stream(conn=c)
        self.assertTrue(r.complete)
        msgs, used = decode(r.body)
        self.assertEqual(len(r.body), used)
        self.assertEqual(4, len(msgs))
        self.assertEqual({":exception-type": "modelStreamErrorException", ":content-type": "application/json",
                          ":message-type": "exception"}, msgs[3][0])
        self.assertEqual({"message": "the model broke"}, json.loads(msgs[3][1]))
        EMU.scenario(CLAUDE, exception_after_events=0, exception_type="throttlingException")
        msgs, _ = decode(stream(conn=c).body)                 # same connection: the response ended cleanly
        self.assertEqual(["exception"], [h[":message-type"] for h, _ in msgs])
        self.assertEqual("throttlingException", msgs[0][0][":exception-type"])
        c.close()

    def test_reset_after_events(self):
        EMU.scenario(CLAUDE, reset_after_events=4)
        r = stream()
        self.assertEqual(200, r.status)
        self.assertFalse(r.complete)
        self.assertIsInstance(r.error, (ConnectionResetError, EOFError))
        msgs, used = decode(r.body)
        self.assertEqual(4, len(msgs))
        self.assertEqual(len(r.body), used)

    @needs_botocore
    def test_corrupt_crc_detected_by_botocore(self):
        EMU.scenario(CLAUDE, corrupt_crc_after_events=2)
        r = stream()
        self.assertTrue(r.complete)
        buf = EventStreamBuffer()
        buf.add_data(r.body)
        self.assertIsNotNone(next(buf))
        self.assertIsNotNone(next(buf))
        with self.assertRaises(ChecksumMismatch):
            next(buf)

    def test_truncate_after_events(self):
        EMU.scenario(CLAUDE, truncate_after_events=5)
        r = stream()
        self.assertTrue(r.complete)                           # the HTTP body ended cleanly
        msgs, used = decode(r.body)
        self.assertEqual(5, len(msgs))
        self.assertGreater(len(r.body), used)                 # half a frame left over
        total = struct.unpack(">I", r.body[used:used + 4])[0]
        self.assertEqual(total // 2, len(r.body) - used)

    def test_garbage(self):
        EMU.scenario(CLAUDE, garbage=True)
        r = stream()
        self.assertEqual(200, r.status)
        self.assertEqual("application/vnd.amazon.eventstream", r.headers["content-type"])
        self.assertTrue(r.body.startswith(b"<html>"))
        with self.assertRaises(Exception):
            decode(r.body)

    def test_split_writes(self):
        EMU.scenario(CLAUDE, split_writes=1, text="split into tiny writes")
        c = Conn(EMU.port)
        r = stream(conn=c)
        self.assertTrue(r.complete)
        self.assertEqual({1}, set(r.chunks))
        self.assertEqual(len(r.body), len(r.chunks))
        ev = inner_events(decode(r.body)[0])
        self.assertEqual("message_stop", ev[-1]["type"])
        EMU.scenario(CLAUDE, split_writes=7)
        r = stream(conn=c)
        self.assertEqual({7}, set(r.chunks[:-1]))
        self.assertEqual("message_stop", inner_events(decode(r.body)[0])[-1]["type"])
        c.close()

    def test_event_delay_and_silence(self):
        EMU.scenario(CLAUDE, deltas=4, event_delay_ms=40)
        arrivals = []
        c = Conn(EMU.port)
        r = stream(conn=c)
        self.assertEqual(9, len(r.chunks))                    # one HTTP chunk per event when paced
        EMU.scenario(CLAUDE, silence_after_events=2, silence_ms=400)
        t0 = time.monotonic()
        h = {"Content-Type": "application/json", "Accept": "application/json"}
        c.send("POST", CLAUDE_PATH + "/invoke-with-response-stream",
               sign("POST", EMU.url + CLAUDE_PATH + "/invoke-with-response-stream", h, BODY), BODY)
        r = c.response(on_chunk=lambda d: arrivals.append((time.monotonic() - t0, len(d))))
        c.close()
        self.assertTrue(r.complete)
        ev = inner_events(decode(r.body)[0])
        self.assertEqual("message_stop", ev[-1]["type"])
        gaps = [b[0] - a[0] for a, b in zip(arrivals, arrivals[1:])]
        self.assertGreaterEqual(max(gaps), 0.35)
        before = sum(n for t, n in arrivals if t < arrivals[0][0] + 0.2)
        self.assertEqual(2, len(decode(r.body[:before])[0]))

    def test_echo_stream(self):
        r = stream(path=model_path("emulator.echo", "invoke-with-response-stream"))
        ev = inner_events(decode(r.body)[0])
        self.assertEqual("/model/emulator.echo/invoke-with-response-stream", ev[0]["path"])
        self.assertEqual("application/json", ev[0]["headers"]["x-amzn-bedrock-accept"])

    def test_concurrent_streams(self):
        EMU.scenario(CLAUDE, deltas=10, event_delay_ms=50)
        n = 150

        async def one(i):
            h = sign("POST", EMU.url + CLAUDE_PATH + "/invoke-with-response-stream",
                     {"Content-Type": "application/json"}, BODY)
            reader, writer = await asyncio.open_connection("127.0.0.1", EMU.port)
            head = "POST %s HTTP/1.1\r\n" % (CLAUDE_PATH + "/invoke-with-response-stream")
            head += "".join("%s: %s\r\n" % kv for kv in h.items()) + "Content-Length: %d\r\n\r\n" % len(BODY)
            writer.write(head.encode() + BODY)
            await reader.readuntil(b"\r\n\r\n")
            body = bytearray()
            while True:
                size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    break
                body += await reader.readexactly(size + 2)
                del body[-2:]
            writer.close()
            return len(_py_decode(body)[0])

        async def all_():
            return await asyncio.gather(*(one(i) for i in range(n)))

        t = time.monotonic()
        counts = asyncio.run(all_())
        dt = time.monotonic() - t
        self.assertEqual([15] * n, counts)
        self.assertLess(dt, 5, "150 paced streams took %.1f s" % dt)
        self.assertEqual(n, len(EMU.requests()))


@needs_botocore
class TestContentScenario(Base):
    CONTENT = [{"type": "thinking", "thinking": "let me think", "signature": "sig-123"},
               {"type": "text", "text": "calling the tool"},
               {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
               {"type": "redacted_thinking", "data": "opaque"}]

    def test_invoke_replies_with_the_blocks(self):
        EMU.scenario(CLAUDE, content=self.CONTENT, stop_reason="tool_use", log_body=True)
        doc = signed(None, CLAUDE_PATH + "/invoke").json()
        self.assertEqual(self.CONTENT, doc["content"])
        self.assertEqual("tool_use", doc["stop_reason"])
        self.assertEqual(6, doc["usage"]["output_tokens"])            # words of thinking and text
        self.assertEqual(BODY.decode(), EMU.requests()[0]["body"])

    def test_stream_rebuilds_the_blocks(self):
        EMU.scenario(CLAUDE, content=self.CONTENT, stop_reason="tool_use")
        ev = inner_events(decode(stream().body)[0])
        blocks = {}
        for e in ev:
            if e["type"] == "content_block_start":
                blocks[e["index"]] = dict(e["content_block"])
                if blocks[e["index"]]["type"] == "tool_use":
                    blocks[e["index"]]["json"] = ""
            elif e["type"] == "content_block_delta":
                b, d = blocks[e["index"]], e["delta"]
                if d["type"] == "text_delta":
                    b["text"] += d["text"]
                elif d["type"] == "thinking_delta":
                    b["thinking"] += d["thinking"]
                elif d["type"] == "signature_delta":
                    b["signature"] = d["signature"]
                elif d["type"] == "input_json_delta":
                    b["json"] += d["partial_json"]
        blocks[2]["input"] = json.loads(blocks[2].pop("json"))
        self.assertEqual(self.CONTENT, [blocks[i] for i in range(4)])
        self.assertEqual("tool_use", [e for e in ev if e["type"] == "message_delta"][0]["delta"]["stop_reason"])
        self.assertNotIn("body", EMU.requests()[0])

    def test_content_must_be_a_list_of_objects(self):
        r = once("POST", "/__emulator/scenarios", {"Content-Type": "application/json"},
                 json.dumps({"model_id": CLAUDE, "content": "text"}).encode())
        self.assertEqual(400, r.status)


@needs_botocore
class TestBotocoreClient(Base):
    """botocore's own bedrock-runtime client against the emulator: the SDK's view of the wire."""

    def client(self, creds=LONG, **kw):
        s = botocore.session.get_session()
        return s.create_client("bedrock-runtime", region_name="us-east-1", endpoint_url=EMU.url,
                               aws_access_key_id=creds[0], aws_secret_access_key=creds[1],
                               aws_session_token=creds[2], config=Config(retries={"total_max_attempts": 1}), **kw)

    def test_invoke_and_stream(self):
        for creds in (LONG, TEMP):
            c = self.client(creds)
            for model in (CLAUDE, ARN):
                out = c.invoke_model(modelId=model, body=BODY)
                self.assertEqual("message", json.loads(out["body"].read())["type"])
                self.assertEqual("application/json", out["contentType"])
            out = c.invoke_model_with_response_stream(modelId=CLAUDE, body=BODY)
            self.assertEqual("application/json", out["contentType"])
            ev = [json.loads(e["chunk"]["bytes"]) for e in out["body"]]
            self.assertEqual("message_start", ev[0]["type"])
            self.assertIn("amazon-bedrock-invocationMetrics", ev[-1])
        self.assertEqual([CLAUDE, ARN, CLAUDE] * 2, [e["model_id"] for e in EMU.requests()])

    def test_errors_as_botocore_parses_them(self):
        from botocore.exceptions import ClientError, EventStreamError
        EMU.scenario(CLAUDE, fail_first=1)
        c = self.client()
        with self.assertRaises(ClientError) as cm:
            c.invoke_model(modelId=CLAUDE, body=BODY)
        self.assertEqual("ThrottlingException", cm.exception.response["Error"]["Code"])
        with self.assertRaises(ClientError) as cm:
            self.client((LONG[0], "wrong", None)).invoke_model(modelId=CLAUDE, body=BODY)
        self.assertEqual("InvalidSignatureException", cm.exception.response["Error"]["Code"])
        EMU.scenario(CLAUDE, exception_after_events=2, exception_message="boom")
        out = c.invoke_model_with_response_stream(modelId=CLAUDE, body=BODY)
        got = []
        with self.assertRaises(EventStreamError) as cm:
            for e in out["body"]:
                got.append(e)
        self.assertEqual(2, len(got))
        self.assertEqual("modelStreamErrorException", cm.exception.response["Error"]["Code"])
        self.assertEqual("boom", cm.exception.response["Error"]["Message"])

    def test_bearer_token_from_the_environment(self):
        os.environ["AWS_BEARER_TOKEN_BEDROCK"] = BEARER
        try:
            c = self.client()
            self.assertEqual("message", json.loads(c.invoke_model(modelId=CLAUDE, body=BODY)["body"].read())["type"])
        finally:
            del os.environ["AWS_BEARER_TOKEN_BEDROCK"]
        self.assertEqual("bearer", EMU.requests()[-1]["auth"])


@needs_botocore
class TestToolRounds(Base):
    """tool_rounds: the scripted tool-use loop, read by botocore's own client in both APIs."""
    ROUNDS = [{"name": "add", "input": {"a": 1, "b": 2}},
              {"uses": [{"name": "add", "input": {"a": 3, "b": 4}}, {"name": "other", "input": {}}]}]

    def client(self):
        s = botocore.session.get_session()
        return s.create_client("bedrock-runtime", region_name="us-east-1", endpoint_url=EMU.url,
                               aws_access_key_id=LONG[0], aws_secret_access_key=LONG[1],
                               config=Config(retries={"total_max_attempts": 1}))

    def test_converse_rounds_then_the_results(self):
        EMU.scenario(CLAUDE, tool_rounds=self.ROUNDS)
        c = self.client()
        tools = {"tools": [{"toolSpec": {"name": "add", "inputSchema": {"json": {"type": "object"}}}}]}
        msgs = [{"role": "user", "content": [{"text": "add"}]}]
        self.assertEqual("You said: add", c.converse(modelId=CLAUDE, messages=msgs)["output"]["message"]
                         ["content"][0]["text"])                      # no tools declared: no script
        answers = [["3"], ["7", "no such tool"]]
        for k in range(2):
            out = c.converse(modelId=CLAUDE, messages=msgs, toolConfig=tools)
            self.assertEqual("tool_use", out["stopReason"])
            uses = [b["toolUse"] for b in out["output"]["message"]["content"] if "toolUse" in b]
            want = self.ROUNDS[k].get("uses", [self.ROUNDS[k]])
            self.assertEqual([(w["name"], w["input"]) for w in want], [(u["name"], u["input"]) for u in uses])
            msgs += [out["output"]["message"], {"role": "user", "content": [
                {"toolResult": {"toolUseId": u["toolUseId"], "content": [{"text": a}]}}
                for u, a in zip(uses, answers[k])]}]
        out = c.converse(modelId=CLAUDE, messages=msgs, toolConfig=tools)
        self.assertEqual("end_turn", out["stopReason"])
        self.assertEqual("Tool results: 7 | no such tool", out["output"]["message"]["content"][0]["text"])

    def test_invoke_stream_tool_use(self):
        EMU.scenario(CLAUDE, tool_rounds=self.ROUNDS[:1])
        body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50,
                           "tools": [{"name": "add", "input_schema": {"type": "object"}}],
                           "messages": [{"role": "user", "content": "add"}]}).encode()
        out = self.client().invoke_model_with_response_stream(modelId=CLAUDE, body=body)
        ev = [json.loads(e["chunk"]["bytes"]) for e in out["body"]]
        starts = [e["content_block"] for e in ev if e["type"] == "content_block_start"]
        self.assertEqual(["text", "tool_use"], [b["type"] for b in starts])
        self.assertEqual("add", starts[1]["name"])
        js = "".join(e["delta"]["partial_json"] for e in ev
                     if e["type"] == "content_block_delta" and e["delta"]["type"] == "input_json_delta")
        self.assertEqual({"a": 1, "b": 2}, json.loads(js))
        self.assertEqual("tool_use", [e for e in ev if e["type"] == "message_delta"][0]["delta"]["stop_reason"])


def post_json(path, doc, creds=LONG):
    return signed(None, path, json.dumps(doc).encode(), creds)


def signed_get(path):
    hs = sign("GET", EMU.url + path, {}, b"")
    return once("GET", path, hs)


CONVERSE = {"messages": [{"role": "user", "content": [{"text": "hello there"}]}], "system": [{"text": "be nice"}]}


class TestConverse(Base):
    def test_converse_reply_and_usage(self):
        EMU.scenario(CLAUDE, cache_write_tokens=4)
        r = post_json(model_path(CLAUDE, "converse"), CONVERSE)
        self.assertEqual(200, r.status, r.body)
        doc = r.json()
        self.assertEqual({"role": "assistant", "content": [{"text": "You said: hello there"}]}, doc["output"]["message"])
        self.assertEqual("end_turn", doc["stopReason"])
        self.assertEqual({"inputTokens": 4, "outputTokens": 4, "cacheWriteInputTokens": 4, "totalTokens": 12},
                         doc["usage"])
        self.assertIn("latencyMs", doc["metrics"])
        self.assertEqual("converse", EMU.requests()[-1]["route"])

    def test_converse_validation_and_faults(self):
        r = post_json(model_path(CLAUDE, "converse"), {"messages": []})
        self.assertEqual(400, r.status)
        self.assertTrue(r.error_type.startswith("ValidationException:"))
        EMU.scenario(CLAUDE, fail_first=1, fail_code="ModelNotReadyException")
        self.assertEqual(429, post_json(model_path(CLAUDE, "converse"), CONVERSE).status)
        self.assertEqual(200, post_json(model_path(CLAUDE, "converse"), CONVERSE).status)

    def test_converse_stream_events(self):
        EMU.scenario(CLAUDE, tool_use="lookup")
        r = signed(None, model_path(CLAUDE, "converse-stream"), json.dumps(CONVERSE).encode())
        self.assertEqual(200, r.status)
        self.assertEqual("application/vnd.amazon.eventstream", r.headers["content-type"])
        msgs, used = decode(r.body)
        self.assertEqual(len(r.body), used)
        names = [h[":event-type"] for h, _ in msgs]
        self.assertEqual("messageStart", names[0])
        self.assertEqual(["messageStop", "metadata"], names[-2:])
        self.assertIn("contentBlockStart", names)
        for h, payload in msgs:
            self.assertEqual("event", h[":message-type"])
            self.assertEqual("application/json", h[":content-type"])
            self.assertIn("p", json.loads(payload))
        md = json.loads(msgs[-1][1])
        self.assertEqual(md["usage"]["inputTokens"] + md["usage"]["outputTokens"], md["usage"]["totalTokens"])
        self.assertEqual("tool_use", json.loads(msgs[-2][1])["stopReason"])

    def test_converse_stream_exception(self):
        EMU.scenario(CLAUDE, exception_after_events=2, exception_type="validationException")
        r = signed(None, model_path(CLAUDE, "converse-stream"), json.dumps(CONVERSE).encode())
        msgs, _ = decode(r.body)
        self.assertEqual(3, len(msgs))
        self.assertEqual("exception", msgs[-1][0][":message-type"])
        self.assertEqual("validationException", msgs[-1][0][":exception-type"])

    def test_count_tokens_and_guardrail(self):
        r = post_json(model_path(CLAUDE, "count-tokens"), {"input": {"converse": CONVERSE}})
        self.assertEqual({"inputTokens": 4}, r.json())
        body = base64.b64encode(BODY).decode()
        self.assertEqual({"inputTokens": 2}, post_json(model_path(CLAUDE, "count-tokens"),
                                                       {"input": {"invokeModel": {"body": body}}}).json())
        self.assertEqual(400, post_json(model_path(CLAUDE, "count-tokens"), {"input": {}}).status)
        EMU.scenario("gr-1", blocked_words="foo,bar")
        r = post_json("/guardrail/gr-1/version/DRAFT/apply", {"source": "INPUT",
                                                              "content": [{"text": {"text": "a BAR b"}}]})
        doc = r.json()
        self.assertEqual("GUARDRAIL_INTERVENED", doc["action"])
        self.assertEqual("bar", doc["assessments"][0]["wordPolicy"]["customWords"][0]["match"])
        self.assertEqual("gr-1", EMU.requests()[-1]["model_id"])

    def test_async_invoke_routes(self):
        out = {"s3OutputDataConfig": {"s3Uri": "s3://b/o"}}
        arns = [post_json("/async-invoke", {"modelId": "m1", "modelInput": {}, "outputDataConfig": out,
                                            "clientRequestToken": "t%d" % i}).json()["invocationArn"]
                for i in range(3)]
        again = post_json("/async-invoke", {"modelId": "m1", "modelInput": {}, "outputDataConfig": out,
                                            "clientRequestToken": "t0"}).json()["invocationArn"]
        self.assertEqual(arns[0], again)
        r = signed_get("/async-invoke/" + urllib.parse.quote(arns[1], safe=""))
        self.assertEqual(arns[1], r.json()["invocationArn"])
        self.assertEqual(404, signed_get("/async-invoke/nope").status)
        page = signed_get("/async-invoke?maxResults=2&sortOrder=Ascending").json()
        self.assertEqual(arns[:2], [s["invocationArn"] for s in page["asyncInvokeSummaries"]])
        rest = signed_get("/async-invoke?maxResults=2&sortOrder=Ascending&nextToken="
                          + urllib.parse.quote(page["nextToken"], safe="")).json()
        self.assertEqual(arns[2:], [s["invocationArn"] for s in rest["asyncInvokeSummaries"]])
        self.assertNotIn("nextToken", rest)
        self.assertEqual(400, signed_get("/async-invoke?maxResults=0").status)
        self.assertEqual(400, signed_get("/async-invoke?nextToken=zzz").status)
        self.assertEqual(["start_async_invoke"] * 4 + ["get_async_invoke"] * 2 + ["list_async_invokes"] * 4,
                         [e["route"] for e in EMU.requests()])

    def test_log_bodies_option(self):
        self.assertEqual(200, EMU.control("POST", "/__emulator/options", {"log_bodies": True}).status)
        post_json(model_path(CLAUDE, "converse"), CONVERSE)
        self.assertEqual(CONVERSE, json.loads(EMU.requests()[-1]["body"]))
        self.assertEqual(400, EMU.control("POST", "/__emulator/options", {"log_body": True}).status)
        EMU.reset()
        post_json(model_path(CLAUDE, "converse"), CONVERSE)
        self.assertNotIn("body", EMU.requests()[-1])


@needs_botocore
class TestBotocoreConverse(Base):
    """botocore's client parses every new route's reply and events by the service model."""

    def client(self):
        s = botocore.session.get_session()
        return s.create_client("bedrock-runtime", region_name="us-east-1", endpoint_url=EMU.url,
                               aws_access_key_id=LONG[0], aws_secret_access_key=LONG[1],
                               config=Config(retries={"total_max_attempts": 1}))

    def test_operations(self):
        from botocore.exceptions import EventStreamError
        c = self.client()
        EMU.scenario(CLAUDE, reasoning="let me think", cache_read_tokens=2)
        r = c.converse(modelId=CLAUDE, **CONVERSE)
        self.assertEqual("let me think", r["output"]["message"]["content"][0]["reasoningContent"]["reasoningText"]["text"])
        self.assertEqual(2, r["usage"]["cacheReadInputTokens"])
        events = list(c.converse_stream(modelId=CLAUDE, **CONVERSE)["stream"])
        self.assertEqual("messageStart", next(iter(events[0])))
        self.assertEqual(2, events[-1]["metadata"]["usage"]["cacheReadInputTokens"])
        EMU.scenario(CLAUDE, exception_after_events=1)
        with self.assertRaises(EventStreamError) as cm:
            list(c.converse_stream(modelId=CLAUDE, **CONVERSE)["stream"])
        self.assertEqual("modelStreamErrorException", cm.exception.response["Error"]["Code"])
        self.assertEqual(4, c.count_tokens(modelId=CLAUDE, input={"converse": CONVERSE})["inputTokens"])
        g = c.apply_guardrail(guardrailIdentifier="g", guardrailVersion="1", source="OUTPUT",
                              content=[{"text": {"text": "fine"}}])
        self.assertEqual("NONE", g["action"])
        out = {"s3OutputDataConfig": {"s3Uri": "s3://b/o"}}
        arns = [c.start_async_invoke(modelId="m", modelInput={"i": i}, outputDataConfig=out)["invocationArn"]
                for i in range(5)]
        got = c.get_async_invoke(invocationArn=arns[0])
        self.assertEqual("Completed", got["status"])
        self.assertIsInstance(got["submitTime"], datetime.datetime)
        pages = c.get_paginator("list_async_invokes").paginate(PaginationConfig={"PageSize": 2})
        listed = [s["invocationArn"] for p in pages for s in p["asyncInvokeSummaries"]]
        self.assertEqual(sorted(arns), sorted(listed))
        self.assertEqual(36, len(c.start_async_invoke(modelId="m", modelInput={}, outputDataConfig=out)
                                 ["ResponseMetadata"]["RequestId"]))


class TestThroughput(Base):
    def test_bulk_stream(self):
        events, mb, ev_s = measure(EMU, 100000, rounds=2)
        print("\n    emulator -> raw reader: %d events, %.0f MB/s, %.0f events/s" % (events, mb, ev_s),
              file=sys.stderr)
        self.assertGreater(ev_s, 50000)


def read_head(conn):
    while b"\r\n\r\n" not in conn.buf:
        conn._fill()
    i = conn.buf.index(b"\r\n\r\n")
    assert conn.buf.startswith(b"HTTP/1.1 200"), bytes(conn.buf[:200])
    del conn.buf[:i + 4]


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drain_chunked(conn):
    """Read one chunked response body as fast as Python can, counting its bytes (no copies kept).
    -> body length. Raises if the body does not end with the 0-length chunk."""
    buf = bytearray(1 << 22)
    mv = memoryview(buf)
    n = len(conn.buf)
    buf[:n] = conn.buf
    conn.buf = bytearray()
    total, remaining, line = 0, 0, b""
    pos = 0
    while True:
        while pos < n:
            if remaining:
                take = min(remaining, n - pos)
                pos += take
                remaining -= take
                continue
            k = min(n - pos, 64)
            window = line + bytes(buf[pos:pos + k])
            end = window.find(b"\r\n")
            if end < 0:
                line, pos = window, pos + k
                continue
            pos += end + 2 - len(line)
            size = int(window[:end].split(b";")[0], 16)
            line = b""
            if size == 0:
                return total
            total += size
            remaining = size + 2
        n = conn.sock.recv_into(mv)
        if not n:
            raise EOFError("closed before the end of the body")
        pos = 0


def measure(emu, deltas, rounds=3, pad=None):
    fields = {"deltas": deltas, "text": "tok"}
    if pad is not None:
        fields["payload_pad"] = pad
    emu.scenario(CLAUDE, **fields)
    c = Conn(emu.port, timeout=120)
    best = (0, 0.0, 0.0)
    for k in range(rounds + 1):                                 # the first builds the cache
        h = sign("POST", emu.url + CLAUDE_PATH + "/invoke-with-response-stream",
                 {"Content-Type": "application/json"}, BODY)
        t = time.perf_counter()
        c.send("POST", CLAUDE_PATH + "/invoke-with-response-stream", h, BODY)
        if k == 0:
            r = c.response()
            assert r.complete
            frames, off = 0, 0
            body = r.body
            while off < len(body):
                off += struct.unpack_from(">I", body, off)[0]
                frames += 1
            assert off == len(body)
            continue
        read_head(c)
        length = drain_chunked(c)
        dt = time.perf_counter() - t
        assert abs(length - len(body)) < 64, (length, len(body))   # only the metrics differ
        if frames / dt > best[2]:
            best = (frames, length / dt / 1e6, frames / dt)
    c.close()
    return best


def bench():
    emu = Emu()
    try:
        for deltas, pad in ((1000000, None), (200000, 200)):
            events, mb, ev_s = measure(emu, deltas, pad=pad)
            print("one stream, %d events%s: %.0f MB/s, %.0f events/s"
                  % (events, ", payload_pad %d" % pad if pad else "", mb, ev_s))
        # many concurrent readers
        emu.scenario(CLAUDE, deltas=20000, text="tok")
        measure(emu, 20000, rounds=0)
        for conc in (100, 1000):
            results = []

            def reader():
                c = Conn(emu.port, timeout=120)
                h = sign("POST", emu.url + CLAUDE_PATH + "/invoke-with-response-stream",
                         {"Content-Type": "application/json"}, BODY)
                c.send("POST", CLAUDE_PATH + "/invoke-with-response-stream", h, BODY)
                try:
                    read_head(c)
                    results.append(drain_chunked(c))
                except (OSError, EOFError):
                    results.append(-1)
                c.close()

            threads = [threading.Thread(target=reader) for _ in range(conc)]
            cpu0 = cpu_seconds(emu.proc.pid)
            t = time.perf_counter()
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            dt = time.perf_counter() - t
            cpu = cpu_seconds(emu.proc.pid) - cpu0
            assert all(x > 0 for x in results), "a stream failed"
            print("%d concurrent streams of 20,005 events: %.1f s, %.0f MB/s, %.0f events/s in all; "
                  "emulator CPU %.1f s" % (conc, dt, sum(results) / dt / 1e6, conc * 20005 / dt, cpu))
        # keep-alive invokes, one connection
        c = Conn(emu.port)
        n = 5000
        hs = [sign("POST", emu.url + CLAUDE_PATH + "/invoke", {"Content-Type": "application/json"}, BODY)
              for _ in range(1)]
        cpu0 = cpu_seconds(emu.proc.pid)
        t = time.perf_counter()
        for _ in range(n):
            assert c.request("POST", CLAUDE_PATH + "/invoke", hs[0], BODY).status == 200
        dt = time.perf_counter() - t
        cpu = cpu_seconds(emu.proc.pid) - cpu0
        print("invoke_model on one keep-alive connection: %.0f requests/s with this Python client; "
              "emulator CPU %.0f us per invoke (SigV4 checked each time)" % (n / dt, cpu / n * 1e6))
        c.close()
    finally:
        emu.stop()


class TestResilienceFaults(Base):
    """The scenario fields and control route the fault suite (spec/faults/) relies on."""

    def test_retry_after_and_raw_failure(self):
        EMU.scenario(CLAUDE, fail_first=1, fail_status=502, fail_raw=True, retry_after="2")
        r = signed(None, CLAUDE_PATH + "/invoke")
        self.assertEqual(502, r.status)
        self.assertNotIn("x-amzn-errortype", r.headers)
        self.assertEqual("text/html", r.headers["content-type"])
        self.assertEqual("2", r.headers["retry-after"])
        self.assertTrue(r.body.startswith(b"<html>"))
        self.assertEqual(200, signed(None, CLAUDE_PATH + "/invoke").status)

    def test_fault_attempts_limits_stream_faults(self):
        EMU.scenario(CLAUDE, exception_after_events=0, exception_type="throttlingException", fault_attempts=1)
        first = decode(stream().body)[0]
        self.assertEqual(["exception"], [h[":message-type"] for h, _ in first])
        second = inner_events(decode(stream().body)[0])
        self.assertEqual("message_stop", second[-1]["type"])
        EMU.scenario(CLAUDE, content_type="application/json", garbage=True, fault_attempts=2)
        for _ in range(2):
            r = stream()
            self.assertEqual("application/json", r.headers["content-type"])
            self.assertTrue(r.body.startswith(b"<html>"))
        r = stream()
        self.assertEqual("application/vnd.amazon.eventstream", r.headers["content-type"])
        self.assertEqual("message_stop", inner_events(decode(r.body)[0])[-1]["type"])

    def test_corrupt_prelude(self):
        EMU.scenario(CLAUDE, corrupt_prelude_after_events=2)
        r = stream()
        self.assertTrue(r.complete)
        with self.assertRaises(Exception) as cm:
            decode(r.body)
        self.assertIn("checksum", str(cm.exception).lower())
        total = 0
        body = r.body
        for _ in range(2):                                  # two good frames, then the bad prelude
            n = struct.unpack_from(">I", body, total)[0]
            self.assertEqual(zlib.crc32(body[total:total + 8]), struct.unpack_from(">I", body, total + 8)[0])
            total += n
        self.assertNotEqual(zlib.crc32(body[total:total + 8]), struct.unpack_from(">I", body, total + 8)[0])

    def test_huge_frame(self):
        EMU.scenario(CLAUDE, huge_frame_after_events=1)
        r = stream()
        self.assertTrue(r.complete)
        n = struct.unpack_from(">I", r.body, 0)[0]
        tail = r.body[n:]
        total, hlen, pcrc = struct.unpack_from(">III", tail, 0)
        self.assertEqual(17 * 1024 * 1024, total)
        self.assertEqual(zlib.crc32(tail[:8]), pcrc)         # a valid prelude: only its size is wrong
        self.assertEqual(12 + 4096, len(tail))

    def test_unaccepting_listener(self):
        port = EMU.control("POST", "/__emulator/unaccepting").json()["port"]
        c = socket.socket()
        c.settimeout(0.5)
        t = time.monotonic()
        with self.assertRaises(OSError):                    # socket.timeout is an OSError
            c.connect(("127.0.0.1", port))
        self.assertGreaterEqual(time.monotonic() - t, 0.45)
        c.close()
        EMU.reset()                                         # closes it: now refused at once
        c = socket.socket()
        c.settimeout(2)
        with self.assertRaises(ConnectionRefusedError):
            c.connect(("127.0.0.1", port))
        c.close()


# --------------------------------------------------------------------------
# HTTP/2: InvokeModelWithBidirectionalStream. The client side is the h2 library (sans-IO) over a
# plain socket; the request is signed by sign() above (botocore when present: it takes the
# X-Amz-Content-SHA256 header as the payload hash) and the envelope chain by H2Chain below, written
# here from the protocol's description.

h2 = emu_mod.load_h2()          # python3-h2 (Debian's dist-packages as a fallback): required, not skipped
import h2.config  # noqa: E402
import h2.connection  # noqa: E402
import h2.events  # noqa: E402
import h2.settings  # noqa: E402

STREAMING = "STREAMING-AWS4-HMAC-SHA256-EVENTS"
BIDI_MODEL = "amazon.nova-sonic-v1:0"
BAD_CRC = (DecodeError, ChecksumMismatch) if HAVE_BOTOCORE else (DecodeError,)


def es_message(headers, payload):
    prelude = struct.pack(">II", 16 + len(headers) + len(payload), len(headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + headers + payload
    return body + struct.pack(">I", zlib.crc32(body))


def es_string(name, value):
    n, v = name.encode(), value.encode()
    return bytes([len(n)]) + n + b"\x07" + struct.pack(">H", len(v)) + v


def chunk_message(doc):
    raw = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    headers = es_string(":event-type", "chunk") + es_string(":content-type", "application/json") + \
        es_string(":message-type", "event")
    return es_message(headers, b'{"bytes":"' + base64.b64encode(raw) + b'"}')


class H2Chain:
    """The :chunk-signature chain of the input envelopes, seeded with the request's signature."""

    def __init__(self, seed, secret=LONG[1], region="us-east-1", service="bedrock"):
        self.prior, self.secret, self.region, self.service = seed, secret, region, service

    def envelope(self, payload, t=None):
        t = int(time.time()) if t is None else t
        date_header = b"\x05:date\x08" + struct.pack(">q", t * 1000)
        amz = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t))
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz,
                         "%s/%s/%s/aws4_request" % (amz[:8], self.region, self.service), self.prior,
                         hashlib.sha256(date_header).hexdigest(), hashlib.sha256(payload).hexdigest()])
        key = ("AWS4" + self.secret).encode()
        for part in (amz[:8], self.region, self.service, "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        sig = hmac.new(key, sts.encode(), hashlib.sha256).digest()
        self.prior = sig.hex()
        headers = b"\x10:chunk-signature\x06" + struct.pack(">H", 32) + sig + date_header
        return es_message(headers, payload)

    def chunk(self, doc):
        return self.envelope(chunk_message(doc))

    def end(self):
        return self.envelope(b"")


class H2Client:
    """One HTTP/2 connection (h2c prior knowledge, or a TLS socket that picked h2)."""

    def __init__(self, port=None, sock=None, window=None, authority=None):
        self.sock = sock or socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.settimeout(10)
        self.authority = authority or "127.0.0.1:%d" % port
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
        if window is not None:
            self.conn.local_settings = h2.settings.Settings(client=True, initial_values={
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
        self.conn.initiate_connection()
        self.streams = {}
        self.auto_ack = True
        self.flush()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def close(self):
        self.sock.close()

    def request(self, path, headers, body=None, end=False):
        sid = self.conn.get_next_available_stream_id()
        hs = [(":method", "POST" if body is not None or not end else "GET"), (":scheme", "http"),
              (":authority", self.authority), (":path", path)]
        hs += [(k.lower(), v) for k, v in headers.items() if k.lower() != "host"]
        self.streams[sid] = {"status": None, "headers": {}, "data": bytearray(), "ended": False, "reset": None,
                             "headers_at": None, "chunks": []}
        self.conn.send_headers(sid, hs, end_stream=end and not body)
        self.flush()
        if body:
            self.send(sid, body, end=end)
        return sid

    def send(self, sid, data, end=False):
        data = memoryview(data)
        while len(data):
            win = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if win <= 0:
                self.pump()
                continue
            self.conn.send_data(sid, bytes(data[:win]))
            data = data[win:]
            self.flush()
        if end:
            self.conn.end_stream(sid)
            self.flush()

    def pump(self):
        d = self.sock.recv(1 << 20)
        if not d:
            raise EOFError("the server closed the connection")
        for ev in self.conn.receive_data(d):
            st = self.streams.get(getattr(ev, "stream_id", None))
            if isinstance(ev, h2.events.ResponseReceived):
                st["headers"] = {k.decode(): v.decode() for k, v in ev.headers}
                st["status"] = int(st["headers"][":status"])
                st["headers_at"] = time.monotonic()
            elif isinstance(ev, h2.events.DataReceived):
                st["data"] += ev.data
                st["chunks"].append((time.monotonic(), len(ev.data)))
                if self.auto_ack:
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                st["ended"] = True
            elif isinstance(ev, h2.events.StreamReset):
                st["reset"] = ev.error_code
        self.flush()

    def wait(self, sid, cond=None, timeout=10):
        st = self.streams[sid]
        cond = cond or (lambda s: s["ended"] or s["reset"] is not None)
        deadline = time.monotonic() + timeout
        while not cond(st):
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting on stream %d: %r" % (sid, st))
            self.pump()
        return st

    def wait_events(self, sid, n, timeout=10):
        """Wait until n whole event-stream messages have arrived -> the decoded messages."""
        def enough(s):
            return len(_py_decode(bytes(s["data"]))[0]) >= n or s["ended"] or s["reset"] is not None
        return decode(bytes(self.wait(sid, enough, timeout)["data"]))[0]

    def session(self, model_id=BIDI_MODEL, creds=LONG, headers=None):
        """Open a signed session -> (stream id, its H2Chain)."""
        path = model_path(model_id, "invoke-with-bidirectional-stream")
        h = sign("POST", "http://%s%s" % (self.authority, path),
                 {"Content-Type": "application/vnd.amazon.eventstream", "X-Amz-Content-SHA256": STREAMING},
                 b"", creds)
        h.update(headers or {})
        seed = h["Authorization"].rpartition("Signature=")[2]
        return self.request(path, h), H2Chain(seed, creds[1])


def outputs(msgs):
    """Chunk events -> their JSON docs; an exception -> ("exception", type, message)."""
    out = []
    for hd, payload in msgs:
        if hd[":message-type"] == "exception":
            out.append(("exception", hd[":exception-type"], json.loads(payload)["message"]))
        else:
            out.append(json.loads(base64.b64decode(json.loads(payload)["bytes"])))
    return out


def bidi_entries():
    return [e for e in EMU.requests() if e["route"] == "bidi_stream"]


class TestBidiStream(Base):
    def setUp(self):
        super().setUp()
        self.c = H2Client(EMU.port)

    def tearDown(self):
        self.c.close()

    def run_session(self, docs, model_id=BIDI_MODEL, end=True):
        sid, chain = self.c.session(model_id)
        for d in docs:
            self.c.send(sid, chain.chunk(d))
        if end:
            self.c.send(sid, chain.end(), end=True)
        return sid, self.c.wait(sid)

    def test_echo_with_a_signature_chain(self):
        docs = [{"event": {"sessionStart": {"n": i}}} for i in range(3)] + [{"text": "h\u00e9llo \"q\""}]
        sid, st = self.run_session(docs)
        self.assertEqual(200, st["status"])
        self.assertEqual("application/vnd.amazon.eventstream", st["headers"]["content-type"])
        self.assertRegex(st["headers"]["x-amzn-requestid"], r"^[0-9a-f-]{36}$")
        msgs, used = decode(bytes(st["data"]))
        self.assertEqual(len(st["data"]), used)
        for hd, _ in msgs:
            self.assertEqual({":message-type": "event", ":event-type": "chunk", ":content-type": "application/json"},
                             hd)
        self.assertEqual([{"echo": d, "index": i} for i, d in enumerate(docs)]
                         + [{"sessionEnd": {"inputEvents": 4}}], outputs(msgs))
        self.assertTrue(st["ended"])
        self.assertIsNone(st["reset"])
        (e,) = bidi_entries()
        self.assertEqual(("POST", BIDI_MODEL, "2", 200, "sigv4", 4, True, None, True),
                         (e["method"], e["model_id"], e["http_version"], e["status"], e["auth"], e["input_events"],
                          e["input_ended"], e["input_error"], e["ended"]))
        self.assertEqual(st["headers"]["x-amzn-requestid"], e["request_id"])
        self.assertEqual(STREAMING, e["headers"]["x-amz-content-sha256"])
        self.assertNotIn("inputs", e)
        self.assertNotIn("sent_bytes_b64", e)

    def test_reply_is_interleaved_with_input(self):
        sid, chain = self.c.session()
        st = self.c.wait(sid, lambda s: s["status"] is not None)      # headers before any input
        self.assertEqual(200, st["status"])
        self.assertEqual(b"", bytes(st["data"]))
        for i in range(3):
            self.c.send(sid, chain.chunk({"i": i}))
            self.assertEqual({"echo": {"i": i}, "index": i}, outputs(self.c.wait_events(sid, i + 1))[i])
        self.assertFalse(st["ended"])
        (e,) = bidi_entries()
        self.assertEqual((3, False, False), (e["input_events"], e["input_ended"], e["ended"]))
        self.c.send(sid, chain.end(), end=True)
        self.assertEqual({"sessionEnd": {"inputEvents": 3}}, outputs(decode(bytes(self.c.wait(sid)["data"]))[0])[-1])
        self.assertTrue(bidi_entries()[0]["ended"])

    def test_bad_chain_signature(self):
        sid, chain = self.c.session()
        self.c.send(sid, chain.chunk({"a": 1}))
        good_prior = chain.prior
        chain.prior = "0" * 64                         # the next envelope chains from a wrong signature
        self.c.send(sid, chain.chunk({"a": 2}))
        st = self.c.wait(sid)
        out = outputs(decode(bytes(st["data"]))[0])
        self.assertEqual({"echo": {"a": 1}, "index": 0}, out[0])
        self.assertEqual("exception", out[1][0])
        self.assertEqual("validationException", out[1][1])
        self.assertIn("signature", out[1][2])
        self.assertEqual(2, len(out))
        self.assertTrue(st["ended"])
        chain.prior = good_prior                       # later input is read and dropped
        self.c.send(sid, chain.chunk({"a": 3}) + chain.end(), end=True)
        (e,) = bidi_entries()
        self.assertEqual((1, False, True), (e["input_events"], e["input_ended"], e["ended"]))
        self.assertIn("input event 1", e["input_error"])
        sid2, st2 = self.run_session([{"b": 1}])        # the connection still serves
        self.assertEqual([{"echo": {"b": 1}, "index": 0}, {"sessionEnd": {"inputEvents": 1}}],
                         outputs(decode(bytes(st2["data"]))[0]))

    def test_wrong_secret_in_the_chain_and_bad_envelopes(self):
        sid, chain = self.c.session()
        chain.secret = "not the secret"
        self.c.send(sid, chain.chunk({"a": 1}), end=True)
        out = outputs(decode(bytes(self.c.wait(sid)["data"]))[0])
        self.assertEqual([("exception", "validationException")], [o[:2] for o in out])
        sid, chain = self.c.session()
        env = bytearray(chain.chunk({"a": 1}))
        env[-1] ^= 1                                   # a bad message CRC
        self.c.send(sid, bytes(env))
        out = outputs(decode(bytes(self.c.wait(sid)["data"]))[0])
        self.assertEqual("exception", out[0][0])
        self.assertIn("CRC", out[0][2])
        sid, chain = self.c.session()
        self.c.send(sid, chain.envelope(b"not an event-stream message"), end=True)
        self.assertEqual("exception", outputs(decode(bytes(self.c.wait(sid)["data"]))[0])[0][0])
        sid, chain = self.c.session()
        self.c.send(sid, chain.chunk({"a": 1}), end=True)            # END_STREAM without the end envelope
        out = outputs(decode(bytes(self.c.wait(sid)["data"]))[0])
        self.assertEqual({"echo": {"a": 1}, "index": 0}, out[0])
        self.assertEqual("exception", out[1][0])
        errors = [e["input_error"] for e in bidi_entries()]
        self.assertTrue(all(errors), errors)
        self.assertIn("end-of-input", errors[-1])

    def test_http1_answers_400(self):
        r = signed(None, model_path(BIDI_MODEL, "invoke-with-bidirectional-stream"), b"",
                   op_headers={"X-Amz-Content-SHA256": STREAMING})
        self.assertEqual(400, r.status)
        self.assertTrue(r.error_type.startswith("ValidationException:"))
        self.assertIn("HTTP/2", r.json()["message"])
        (e,) = bidi_entries()
        self.assertEqual(("1.1", 400), (e["http_version"], e["status"]))

    def test_bearer_and_bad_sigv4_answer_403(self):
        path = model_path(BIDI_MODEL, "invoke-with-bidirectional-stream")
        sid = self.c.request(path, {"Authorization": "Bearer " + BEARER,
                                    "Content-Type": "application/vnd.amazon.eventstream"})
        st = self.c.wait(sid)
        self.assertEqual(403, st["status"])
        self.assertTrue(st["headers"]["x-amzn-errortype"].startswith("AccessDeniedException:"))
        self.assertIn("API keys", json.loads(bytes(st["data"]))["message"])
        sid, chain = self.c.session(creds=(LONG[0], "a wrong secret", None))
        self.c.send(sid, chain.chunk({"a": 1}) + chain.end(), end=True)   # dropped
        st = self.c.wait(sid)
        self.assertEqual(403, st["status"])
        self.assertTrue(st["headers"]["x-amzn-errortype"].startswith("InvalidSignatureException:"))
        self.assertEqual(SIG_MISMATCH, json.loads(bytes(st["data"]))["message"])
        sid, chain = self.c.session(creds=TEMP)        # a session token is fine
        self.c.send(sid, chain.end(), end=True)
        self.assertEqual(200, self.c.wait(sid)["status"])
        self.assertEqual([("bearer", 403, 0), ("bad", 403, 0), ("sigv4", 200, 0)],
                         [(e["auth"], e["status"], e["input_events"]) for e in bidi_entries()])

    def test_fail_first(self):
        EMU.scenario(BIDI_MODEL, fail_first=1, fail_code="ServiceUnavailableException")
        sid, st = self.run_session([{"a": 1}])
        self.assertEqual(503, st["status"])
        self.assertTrue(st["headers"]["x-amzn-errortype"].startswith("ServiceUnavailableException:"))
        self.assertIn("message", json.loads(bytes(st["data"])))
        sid, st = self.run_session([{"a": 1}])
        self.assertEqual(200, st["status"])
        self.assertEqual(2, len(outputs(decode(bytes(st["data"]))[0])))
        self.assertEqual([503, 200], [e["status"] for e in bidi_entries()])
        EMU.scenario(BIDI_MODEL, fail_first=1)         # the default: ThrottlingException, as HTTP/1.1
        self.assertEqual(429, self.run_session([])[1]["status"])

    def test_exception_after_events(self):
        EMU.scenario(BIDI_MODEL, exception_after_events=2)
        sid, st = self.run_session([{"a": i} for i in range(4)])
        out = outputs(decode(bytes(st["data"]))[0])
        self.assertEqual([{"echo": {"a": 0}, "index": 0}, {"echo": {"a": 1}, "index": 1}], out[:2])
        self.assertEqual(("exception", "modelStreamErrorException", "The model stream returned an error."), out[2])
        self.assertEqual(3, len(out))
        self.assertTrue(st["ended"])
        self.assertTrue(bidi_entries()[0]["ended"])
        EMU.scenario(BIDI_MODEL, exception_after_events=0, exception_type="validationException",
                     exception_message="nope")
        out = outputs(decode(bytes(self.run_session([{"a": 1}])[1]["data"]))[0])
        self.assertEqual([("exception", "validationException", "nope")], out)
        EMU.scenario(BIDI_MODEL, exception_after_events=1)     # at once after the event, not with the next
        sid, chain = self.c.session()
        self.c.send(sid, chain.chunk({"a": 1}))
        out = outputs(decode(bytes(self.c.wait(sid)["data"]))[0])
        self.assertEqual([{"echo": {"a": 1}, "index": 0}, ("exception", "modelStreamErrorException",
                                                            "The model stream returned an error.")], out)
        self.c.send(sid, chain.chunk({"a": 2}) + chain.end(), end=True)    # read and dropped
        self.assertEqual(200, self.run_session([])[1]["status"])
        self.assertEqual([1, 0], [e["input_events"] for e in bidi_entries()][2:])

    def test_reset_after_events(self):
        EMU.scenario(BIDI_MODEL, reset_after_events=2)
        sid, st = self.run_session([{"a": i} for i in range(3)])
        self.assertEqual(2, st["reset"])               # RST_STREAM INTERNAL_ERROR
        self.assertFalse(st["ended"])
        self.assertEqual([{"echo": {"a": 0}, "index": 0}, {"echo": {"a": 1}, "index": 1}],
                         outputs(decode(bytes(st["data"]))[0]))
        sid2, st2 = self.run_session([])               # the connection lives on
        self.assertEqual(200, st2["status"])
        (e, e2) = bidi_entries()
        self.assertTrue(e["ended"] and e["reset"])
        EMU.scenario(BIDI_MODEL, reset_after_events=1)          # at once after the event
        sid, chain = self.c.session()
        self.c.send(sid, chain.chunk({"a": 1}))
        st = self.c.wait(sid)
        self.assertEqual(2, st["reset"])
        self.assertEqual([{"echo": {"a": 1}, "index": 0}], outputs(decode(bytes(st["data"]))[0]))

    def test_corrupt_crc_after_events(self):
        EMU.scenario(BIDI_MODEL, corrupt_crc_after_events=1)
        sid, st = self.run_session([{"a": i} for i in range(3)])
        data = bytes(st["data"])
        first_len = struct.unpack(">I", data[:4])[0]
        self.assertEqual({"echo": {"a": 0}, "index": 0}, outputs(decode(data[:first_len])[0])[0])
        self.assertEqual(first_len + struct.unpack(">I", data[first_len:first_len + 4])[0], len(data))
        with self.assertRaises(BAD_CRC):
            decode(data)
        self.assertTrue(st["ended"])

    def test_echo_repeat(self):
        EMU.scenario(BIDI_MODEL, echo_repeat=3)
        sid, st = self.run_session([{"a": 0}, {"a": 1}])
        out = outputs(decode(bytes(st["data"]))[0])
        self.assertEqual([{"echo": {"a": i}, "index": i, "repeat": r} for i in range(2) for r in range(3)]
                         + [{"sessionEnd": {"inputEvents": 2}}], out)

    def test_payload_pad_and_flow_control(self):
        EMU.scenario(BIDI_MODEL, payload_pad=300000)
        c = H2Client(EMU.port, window=65535)             # far smaller than one event: WINDOW_UPDATE paced
        try:
            sid, chain = c.session()
            for i in range(4):
                c.send(sid, chain.chunk({"i": i}))
            c.send(sid, chain.end(), end=True)
            st = c.wait(sid, timeout=30)
        finally:
            c.close()
        out = outputs(decode(bytes(st["data"]))[0])
        self.assertEqual(5, len(out))
        for i, o in enumerate(out[:4]):
            self.assertEqual(({"i": i}, i, 300000), (o["echo"], o["index"], len(o["pad"])))
        self.assertTrue(max(n for _, n in st["chunks"]) <= 16384)

    def test_client_that_does_not_read_stalls_only_its_stream(self):
        EMU.scenario(BIDI_MODEL, payload_pad=100000)
        c = H2Client(EMU.port, window=65535)
        try:
            c.auto_ack = False                      # the window closes after 64 KiB of output
            sid, chain = c.session()
            c.send(sid, chain.chunk({"i": 0}) + chain.chunk({"i": 1}))
            st = c.wait(sid, lambda s: len(s["data"]) >= 65535)
            time.sleep(0.2)
            c.sock.settimeout(0.2)
            try:
                c.pump()
            except socket.timeout:
                pass
            self.assertEqual(65535, len(st["data"]))        # never beyond the window
            c.sock.settimeout(10)                           # read again: the rest follows
            c.auto_ack = True
            c.conn.acknowledge_received_data(len(st["data"]), sid)
            c.flush()
            c.send(sid, chain.end(), end=True)
            st = c.wait(sid)
        finally:
            c.close()
        self.assertEqual(3, len(outputs(decode(bytes(st["data"]))[0])))

    def test_two_streams_multiplexed(self):
        a, ca = self.c.session()
        b, cb = self.c.session("other.model-v1")
        for i in range(3):
            self.c.send(a, ca.chunk({"a": i}))
            self.c.send(b, cb.chunk({"b": i}))
        self.c.send(b, cb.end(), end=True)
        sb = self.c.wait(b)
        self.c.send(a, ca.end(), end=True)
        sa = self.c.wait(a)
        self.assertEqual([{"echo": {"a": i}, "index": i} for i in range(3)] + [{"sessionEnd": {"inputEvents": 3}}],
                         outputs(decode(bytes(sa["data"]))[0]))
        self.assertEqual([{"echo": {"b": i}, "index": i} for i in range(3)] + [{"sessionEnd": {"inputEvents": 3}}],
                         outputs(decode(bytes(sb["data"]))[0]))
        ea, eb = bidi_entries()
        self.assertEqual(ea["connection"], eb["connection"])
        self.assertEqual(["amazon.nova-sonic-v1:0", "other.model-v1"], [ea["model_id"], eb["model_id"]])

    def test_many_connections_at_once(self):
        clients = [H2Client(EMU.port) for _ in range(40)]
        try:
            sessions = []
            for c in clients:
                for k in range(3):
                    sid, chain = c.session()
                    c.send(sid, chain.chunk({"k": k}))
                    sessions.append((c, sid, chain, k))
            for c, sid, chain, k in sessions:
                c.send(sid, chain.end(), end=True)
            for c, sid, chain, k in sessions:
                out = outputs(decode(bytes(c.wait(sid)["data"]))[0])
                self.assertEqual([{"echo": {"k": k}, "index": 0}, {"sessionEnd": {"inputEvents": 1}}], out)
        finally:
            for c in clients:
                c.close()
        self.assertEqual(120, sum(1 for e in bidi_entries() if e["ended"] and e["status"] == 200))

    def test_client_gone_mid_session(self):
        c = H2Client(EMU.port)
        sid, chain = c.session()
        c.send(sid, chain.chunk({"a": 1}))
        c.wait_events(sid, 1)
        c.close()
        sid2, chain2 = self.c.session()                 # a client reset of one stream touches no other
        self.c.conn.reset_stream(sid2)
        self.c.flush()
        sid3, st3 = self.run_session([{"b": 1}])
        self.assertEqual(2, len(outputs(decode(bytes(st3["data"]))[0])))
        deadline = time.time() + 5
        while not bidi_entries()[0]["ended"] and time.time() < deadline:
            time.sleep(0.02)
        e1, e2, e3 = bidi_entries()
        self.assertEqual((True, True, 1), (e1["ended"], e1["reset"], e1["input_events"]))
        self.assertTrue(e2["client_reset"] and e2["ended"])
        self.assertTrue(e3["ended"] and not e3.get("reset"))

    def test_delays(self):
        EMU.scenario(BIDI_MODEL, delay_ms=250, event_delay_ms=100)
        t0 = time.monotonic()
        sid, chain = self.c.session()
        st = self.c.wait(sid, lambda s: s["status"] is not None)
        self.assertGreaterEqual(st["headers_at"] - t0, 0.24)
        self.c.send(sid, chain.chunk({"a": 1}) + chain.chunk({"a": 2}) + chain.end(), end=True)
        st = self.c.wait(sid)
        self.assertEqual(3, len(st["chunks"]))
        gaps = [b[0] - a[0] for a, b in zip(st["chunks"], st["chunks"][1:])]
        self.assertTrue(all(g >= 0.08 for g in gaps), gaps)

    def test_log_bodies_records_inputs_and_sent_bytes(self):
        self.assertEqual(200, EMU.control("POST", "/__emulator/options", {"log_bodies": True}).status)
        docs = [{"x": [1, 2]}, "a string", 3]
        sid, st = self.run_session(docs)
        (e,) = bidi_entries()
        self.assertEqual(docs, e["inputs"])
        self.assertEqual(bytes(st["data"]), base64.b64decode(e["sent_bytes_b64"]))
        sid, chain = self.c.session()                        # mid-stream: what was sent so far
        self.c.send(sid, chain.chunk({"y": 1}))
        self.c.wait_events(sid, 1)
        e = bidi_entries()[1]
        self.assertEqual(([{"y": 1}], False), (e["inputs"], e["ended"]))
        self.assertEqual(bytes(self.c.streams[sid]["data"]), base64.b64decode(e["sent_bytes_b64"]))
        self.c.send(sid, chain.end(), end=True)
        st = self.c.wait(sid)
        self.assertEqual(bytes(st["data"]), base64.b64decode(bidi_entries()[1]["sent_bytes_b64"]))

    def test_fault_attempts_and_scenario_validation(self):
        EMU.scenario(BIDI_MODEL, exception_after_events=0, fault_attempts=1)
        self.assertEqual("exception", outputs(decode(bytes(self.run_session([{"a": 1}])[1]["data"]))[0])[0][0])
        self.assertEqual(2, len(outputs(decode(bytes(self.run_session([{"a": 1}])[1]["data"]))[0])))
        r = EMU.control("POST", "/__emulator/scenarios", {"model_id": BIDI_MODEL, "echo_repeat": 1.5})
        self.assertEqual(400, r.status)

    def test_other_routes_over_h2(self):
        sid = self.c.request("/__emulator/health", {}, end=True)
        st = self.c.wait(sid)
        self.assertEqual((200, b"ok"), (st["status"], bytes(st["data"])))
        path = model_path(CLAUDE)
        h = sign("POST", "http://%s%s" % (self.c.authority, path), {"Content-Type": "application/json"}, BODY)
        sid = self.c.request(path, h, BODY, end=True)
        st = self.c.wait(sid)
        self.assertEqual(200, st["status"])
        self.assertEqual("You said: Hello there", json.loads(bytes(st["data"]))["content"][0]["text"])
        self.assertEqual(str(len(st["data"])), st["headers"]["content-length"])
        self.assertNotIn("connection", st["headers"])
        path = model_path(CLAUDE, "invoke-with-response-stream")
        h = sign("POST", "http://%s%s" % (self.c.authority, path), {"Content-Type": "application/json"}, BODY)
        sid = self.c.request(path, h, BODY, end=True)
        st = self.c.wait(sid)
        self.assertEqual("message_stop", inner_events(decode(bytes(st["data"]))[0])[-1]["type"])
        log = EMU.requests()
        self.assertEqual(["2", "2"], [e["http_version"] for e in log])
        self.assertEqual(["invoke", "stream"], [e["route"] for e in log])

    def test_curl_http2_prior_knowledge(self):
        path = model_path(BIDI_MODEL, "invoke-with-bidirectional-stream")
        url = "http://127.0.0.1:%d%s" % (EMU.port, path)
        h = sign("POST", url, {"Content-Type": "application/vnd.amazon.eventstream", "X-Amz-Content-SHA256": STREAMING},
                 b"")
        chain = H2Chain(h["Authorization"].rpartition("Signature=")[2])
        body = chain.chunk({"curl": 1}) + chain.chunk({"curl": 2}) + chain.end()
        with tempfile.NamedTemporaryFile(suffix=".es") as f:
            f.write(body)
            f.flush()
            cmd = ["curl", "-sS", "--noproxy", "*", "--http2-prior-knowledge", "--max-time", "20",
                   "--data-binary", "@" + f.name, "-o", "-", "-w", "\n%{http_code} %{http_version}"]
            for k, v in h.items():
                if k.lower() != "host":
                    cmd += ["-H", "%s: %s" % (k, v)]
            out = subprocess.run(cmd + [url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        self.assertEqual(0, out.returncode, out.stderr)
        data, _, tail = out.stdout.rpartition(b"\n")
        self.assertEqual(b"200 2", tail)
        self.assertEqual([{"echo": {"curl": 1}, "index": 0}, {"echo": {"curl": 2}, "index": 1},
                          {"sessionEnd": {"inputEvents": 2}}], outputs(decode(data)[0]))


class TestBidiTls(unittest.TestCase):
    """--tls-h2: ALPN h2 switches to HTTP/2; a client offering only http/1.1 keeps HTTP/1.1."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        cert, key = os.path.join(cls.dir.name, "cert.pem"), os.path.join(cls.dir.name, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                        "/CN=127.0.0.1", "-keyout", key, "-out", cert], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pf = os.path.join(cls.dir.name, "port")
        cls.proc = subprocess.Popen([sys.executable, EMULATOR, "--port", "0", "--port-file", pf, "--quiet",
                                     "--exit-on-stdin-eof", "--tls-cert", cert, "--tls-key", key, "--tls-h2"],
                                    stdin=subprocess.PIPE)
        deadline = time.time() + 10
        while not os.path.exists(pf):
            if cls.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("the TLS emulator did not start")
            time.sleep(0.02)
        cls.port = int(read(pf))

    @classmethod
    def tearDownClass(cls):
        cls.proc.stdin.close()
        cls.proc.wait(10)
        cls.dir.cleanup()

    def tls_socket(self, alpn):
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(alpn)
        return ctx.wrap_socket(socket.create_connection(("127.0.0.1", self.port), timeout=10))

    def test_alpn_h2_session(self):
        s = self.tls_socket(["h2", "http/1.1"])
        self.assertEqual("h2", s.selected_alpn_protocol())
        c = H2Client(sock=s, authority="127.0.0.1:%d" % self.port)
        try:
            sid, chain = c.session()
            c.send(sid, chain.chunk({"tls": True}) + chain.end(), end=True)
            st = c.wait(sid)
        finally:
            c.close()
        self.assertEqual(200, st["status"])
        self.assertEqual([{"echo": {"tls": True}, "index": 0}, {"sessionEnd": {"inputEvents": 1}}],
                         outputs(decode(bytes(st["data"]))[0]))

    def test_alpn_http1(self):
        s = self.tls_socket(["http/1.1"])
        self.assertEqual("http/1.1", s.selected_alpn_protocol())
        s.sendall(b"GET /__emulator/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
        s.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data)
        self.assertTrue(data.endswith(b"ok"))


class TestProcess(unittest.TestCase):
    def start(self):
        fd, pf = tempfile.mkstemp()
        os.close(fd)
        os.unlink(pf)
        p = subprocess.Popen([sys.executable, EMULATOR, "--port", "0", "--port-file", pf,
                              "--exit-on-stdin-eof"], stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.time() + 10
        while not os.path.exists(pf) and time.time() < deadline:
            time.sleep(0.02)
        port = int(read(pf))
        os.unlink(pf)
        return p, port

    def test_stdin_eof_and_sigterm(self):
        p, port = self.start()
        line = p.stderr.readline().decode()
        self.assertEqual("emulator listening on http://127.0.0.1:%d\n" % port, line)
        p.stdin.close()
        self.assertEqual(0, p.wait(5))
        p.stderr.close()
        p, port = self.start()
        c = Conn(port)                                      # an open keep-alive connection must not hold it
        p.send_signal(signal.SIGTERM)
        self.assertEqual(0, p.wait(5))
        c.close()
        p.stdin.close()
        p.stderr.close()


if __name__ == "__main__":
    if "--bench" in sys.argv:
        bench()
    else:
        unittest.main(verbosity=2)

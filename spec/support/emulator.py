#!/usr/bin/env python3
"""A local Amazon Bedrock Runtime emulator for lua-bedrock's specs and benchmarks.

Python 3.9+ standard library, plus python3-h2 for HTTP/2 (imported on first use; see load_h2);
one asyncio thread (a raw asyncio.Protocol), HTTP/1.1 with keep-alive, pipelining, chunked request
bodies and Expect: 100-continue, and HTTP/2 (see below); 127.0.0.1 only.

    python3 spec/support/emulator.py [--port N (0: any free port; default 4566)] [--port-file PATH]
                                     [--exit-on-stdin-eof] [--parent-pid PID] [--quiet]
                                     [--tls-cert PEM [--tls-key PEM] [--tls-h2]]

--port-file gets the port once listening (written to a temporary name, then renamed).
--exit-on-stdin-eof: exit at EOF on stdin, or when a line "quit" arrives there.
--parent-pid: exit when that process has gone. --quiet: no banner, no access log.
SIGTERM and SIGINT exit cleanly (status 0). --tls-cert/--tls-key: serve https instead; --tls-h2
also offers ALPN "h2" (and "http/1.1"), and a connection that picks h2 speaks HTTP/2.

Service routes. Auth is SigV4 (service "bedrock", any region, clock skew <= 5 min) with
    AKIAEMULATOREXAMPLE1 / emulator+secret/EXAMPLEKEY0000000000000
    ASIAEMULATOREXAMPLE2 / emulator+temporary/EXAMPLEKEY00000000000 + token emulator-session-token/EXAMPLE+TOKEN==
or "Authorization: Bearer emulator-bedrock-api-key".
    POST /model/{modelId}/invoke                        an Anthropic Messages reply
    POST /model/{modelId}/invoke-with-response-stream   an Anthropic event stream in "chunk" events
    POST /model/{modelId}/converse                      a Converse reply (output.message, stopReason, usage, metrics)
    POST /model/{modelId}/converse-stream               its ConverseStream events: messageStart, contentBlockStart
                                                        (non-text blocks), contentBlockDelta, contentBlockStop,
                                                        messageStop, metadata {usage, metrics}
    POST /model/{modelId}/count-tokens                  {inputTokens} for input.converse or input.invokeModel.body
    POST /guardrail/{id}/version/{v}/apply              ApplyGuardrail: GUARDRAIL_INTERVENED when a text holds a
                                                        blocked word (scenario blocked_words, default "BLOCKME")
    POST /guardrail-checks/invoke                       InvokeGuardrailChecks: {results: {}, usage: {}}
    POST /async-invoke                                  StartAsyncInvoke (idempotent on clientRequestToken)
    GET  /async-invoke/{invocationArn}                  GetAsyncInvoke (404 ResourceNotFoundException if unknown)
    GET  /async-invoke?maxResults&nextToken&statusEquals&submitTimeAfter&submitTimeBefore&sortBy&sortOrder
                                                        ListAsyncInvokes, paged (nextToken)
    POST /model/{modelId}/invoke-with-bidirectional-stream   InvokeModelWithBidirectionalStream: HTTP/2 only
                                                        (over HTTP/1.1: 400 ValidationException); see below
    anything else                                       404 UnknownOperationException (after auth)
The reply text is "You said: <last user message>" (or scenario "text"); input tokens are the
whitespace-separated words of system + messages (+ prompt), output tokens the words of the reply
(streams: the number of deltas; Converse counts the same way, plus the scenario's cache tokens in
totalTokens). Scenarios are keyed by model id; for ApplyGuardrail by the guardrail identifier, for
StartAsyncInvoke by the body's modelId, for GetAsyncInvoke and ListAsyncInvokes by "async-invoke", for
InvokeGuardrailChecks by "guardrail-checks". Model ids emulator.echo* echo the request as JSON (a stream sends it
as one chunk); emulator.text* replies text/plain "plain text reply".

HTTP/2 (InvokeModelWithBidirectionalStream). On the same port, a connection whose first bytes are
the client preface "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" speaks HTTP/2 (h2c with prior knowledge); on
the TLS listener with --tls-h2, one whose ALPN picked "h2". Many streams per connection, many
connections; DATA is acknowledged as it arrives (the client's window reopens) and output respects
the client's flow-control windows (queued until WINDOW_UPDATE; never resent).
    Request: POST /model/{modelId}/invoke-with-bidirectional-stream, content-type
    application/vnd.amazon.eventstream, x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-EVENTS, SigV4
    whose canonical request ends with that literal as the payload hash (host is :authority). Bearer
    auth: 403 AccessDeniedException (the service takes no API keys here); bad SigV4: 403 as above.
    Body: envelopes (event-stream messages) with headers :chunk-signature (bytes, 32) and :date
    (timestamp, ms), each carrying an inner chunk event (:event-type chunk, :content-type
    application/json, :message-type event; payload {"bytes": base64 of the user's JSON event}); the
    last envelope has an empty payload (end of input), then END_STREAM. Each :chunk-signature is
    hex-chained: HMAC-SHA256(signing key, "AWS4-HMAC-SHA256-PAYLOAD\n" + amz date of :date + "\n" +
    <that date>/<region>/<service>/aws4_request + "\n" + prior signature + "\n" + hex sha256 of the
    encoded :date header (15 bytes) + "\n" + hex sha256 of the payload), the first prior being the
    request's own Signature; secret, region and service are the request's credential scope's, the
    date (scope and signing key) the envelope's own, as the client signs it. A bad signature, CRC,
    framing or inner event: an in-stream validationException, the response ends, input_error is
    logged, and later input is read and dropped. END_STREAM without the end envelope: the same.
    Response: 200 (content-type application/vnd.amazon.eventstream, x-amzn-requestid) as soon as the
    headers are verified (after delay_ms), before any input; then, as each input event arrives, a
    chunk event whose JSON is {"echo": <the event>, "index": n} (n from 0; "repeat": r with
    echo_repeat, "pad": "..." with payload_pad), and after the end envelope {"sessionEnd":
    {"inputEvents": N}} with END_STREAM. Once the response has ended (a fault, an error), further
    input is read and dropped.
    Scenarios (the model id's, attempts counted like the other routes): fail_first K (fail_code,
    default ThrottlingException; fail_status, fail_message, retry_after_ms, retry_after) an HTTP error
    reply (JSON, x-amzn-errortype) and the input dropped; reset_first K an RST_STREAM INTERNAL_ERROR
    instead of the response headers; delay_ms before the response headers; event_delay_ms before each
    output event; exception_after_events K (exception_type, exception_message) right after the Kth
    output event (K = 0: after the headers) an exception message and the end; reset_after_events K
    right after K output events (all sent) an RST_STREAM INTERNAL_ERROR; corrupt_crc_after_events K the (K+1)th output event with a wrong
    message CRC, then the end; echo_repeat K each input event echoed K times ("repeat": 0..K-1);
    payload_pad N a "pad" string of N chars in each echo (throughput, flow control); fault_attempts K
    as below. The sessionEnd event counts as an output event for the *_after_events faults.
    Log entry: the usual fields with route "bidi_stream", http_version "2", body_len (input bytes so
    far), input_events (chunk envelopes verified), input_ended (end envelope seen), input_error
    (string or null), ended (the response finished: END_STREAM or RST_STREAM sent), reset (true when
    the stream was reset: by a fault, the client (client_reset), or the connection's end); with
    log_bodies: inputs (the decoded user events) and sent_bytes_b64 (the exact DATA bytes sent on the
    stream, first 1 MiB: tells a client-side corruption from an emulator bug).
    Other requests over HTTP/2 (control routes, invoke, streams...) are answered by the HTTP/1.1
    handlers, the reply buffered whole and sent as one HTTP/2 response (no incremental streaming;
    a TCP-reset fault becomes RST_STREAM INTERNAL_ERROR); their log entries have http_version "2".

Control routes (no auth):
    POST   /__emulator/scenarios  {"model_id": ..., <fields>}   set (replace) one model's scenario and
                                                                reset its attempt counter; unknown fields -> 400
    GET    /__emulator/scenarios                                the scenarios now set
    DELETE /__emulator/scenarios                                clear scenarios, counters and the request log
    POST   /__emulator/options    {"log_bodies": true|false}    also log each request's body (first 64 KiB, as
                                                                text); DELETE /__emulator/scenarios turns it off
    POST   /__emulator/credentials {"access_key_id", "secret_access_key", "session_token"?}  accept one
           more identity for SigV4 (kept across resets)
    GET    /__emulator/requests                                 the request log since the last clear, in arrival
           order: {t (time.monotonic()), method, path, query, model_id (the scenario key), route ("invoke"|
           "stream"|"converse"|"converse_stream"|"count_tokens"|"apply_guardrail"|"invoke_guardrail_checks"|
           "start_async_invoke"|"get_async_invoke"|"list_async_invokes"|"bidi_stream"|"unknown"),
           invocation_arn (get only), body (with log_bodies), http_version ("1.1", "1.0" or "2"),
           status (0: reset, or not answered yet), auth ("sigv4"|"bearer"|"none"|"bad"), headers, body_len,
           request_id, connection (a number per TCP connection, in accept order)}
    GET    /__emulator/health                                   200 "ok"
    POST   /__emulator/unaccepting                              {"port": N}: a listener on 127.0.0.1 that never
                                                                accepts (its accept queue is kept full), so a
                                                                connect to it times out; closed by DELETE scenarios

Scenario fields (all optional; attempts are counted per model id, auth failures not counted):
    fail_first K, fail_status (default: the code's own status, else 429), fail_code ("ThrottlingException"),
        fail_message, retry_after_ms (header x-amz-retry-after)      the first K attempts get that error
    retry_after S             with fail_first: a Retry-After header with this (string) value
    fail_raw                  with fail_first: a load balancer's reply instead (HTML body, no x-amzn-ErrorType)
    reset_first K             the first K attempts get a TCP reset (SO_LINGER 0) before any response byte
    delay_ms                  wait before answering at all (applies to every attempt)
    text, deltas N            reply text; number of content_block_delta events (default one per word;
                              fewer: words grouped; more: split by characters, then the words repeated)
    event_delay_ms / drip_ms  wait between stream events (each event then goes in its own HTTP chunk)
    reset_after_events K      after K events, a TCP reset (no terminating chunk)
    exception_after_events K, exception_type ("modelStreamErrorException"), exception_message
                              after K events, one exception message, then a clean end
    corrupt_crc_after_events K    the event after K good ones has a wrong message CRC, then a clean end
    truncate_after_events K   after K events, the first half of the next frame, then a clean end
    garbage                   the stream body is an HTML error page (still 200, event-stream type)
    split_writes N            the stream body in N-byte HTTP chunks, each sent on its own (TCP_NODELAY)
    silence_after_events K, silence_ms    after K events, nothing for silence_ms, then the rest
    payload_pad N             length of the "p" padding of every event (default: varying, 1..45)
    content [blocks], stop_reason    reply with these Anthropic content blocks (text, thinking with its
                              signature, tool_use, redacted_thinking...) instead of one text block; a stream
                              sends each block as content_block_start, its deltas (text_delta, thinking_delta +
                              signature_delta, input_json_delta) and content_block_stop
    log_body                  the request log keeps each request's body (as text) under "body"
    cache_read_tokens N, cache_write_tokens N    prompt-cache tokens to report (invoke headers, stream
                              metrics, Converse usage)
    tool_use NAME             Converse(Stream) replies with a text block and a toolUse block calling NAME
                              (stopReason tool_use), unless the last message carries a toolResult
    reasoning TEXT            Converse(Stream) replies start with a reasoningContent block (text + signature)
    tool_rounds [rounds]      when the request declares tools (Messages "tools", Converse toolConfig.tools), a
                              scripted tool-use loop: round k (k = the number of tool-result turns that end the
                              history, each after an assistant turn) is {"name", "input"} or {"uses": [{"name",
                              "input"}, ...]} (one reply asking for each, after a text block: the round's "text",
                              default "Using a tool."; stop reason tool_use); past the last round the reply is
                              "text", else "Tool results: " + the last turn's tool results as text joined by " | ".
                              Both wire forms (tool_use / toolUse), streamed and not
    async_status S, async_failure_message M    status of async invocations started for the model
                              (default Completed)
    blocked_words "a,b"       ApplyGuardrail's blocked words (scenario of the guardrail identifier)
    corrupt_prelude_after_events K   the event after K good ones has a wrong prelude CRC, then a clean end
    huge_frame_after_events K after K events, a frame whose prelude (valid CRC) declares 17 MiB, 4 KiB of it,
                              then a clean end
    content_type              the stream's Content-Type (default application/vnd.amazon.eventstream)
    echo_repeat K             InvokeModelWithBidirectionalStream: each input event echoed K times
    fault_attempts K          the stream faults above (reset/exception/corrupt/truncate/huge_frame_after_events,
                              garbage, silence_after_events, content_type) hit only the first K attempts

Whole encoded streams are cached (keyed by text, deltas, padding), so the no-fault path writes
one cached buffer in 256 KiB blocks. SigV4 and the event-stream encoder are written here on
purpose, independently of the client under test.
"""

import argparse
import asyncio
import base64
import calendar
import collections
import datetime
import email.utils
import hashlib
import hmac
import json
import os
import random
import re
import signal
import socket
import struct
import sys
import threading
import time
import traceback
import urllib.parse
import zlib
from array import array

# --------------------------------------------------------------------------
# Test identities

CREDENTIALS = {
    # access key id: (secret, session token or None)
    "AKIAEMULATOREXAMPLE1": ("emulator+secret/EXAMPLEKEY0000000000000", None),
    "ASIAEMULATOREXAMPLE2": ("emulator+temporary/EXAMPLEKEY00000000000",
                             "emulator-session-token/EXAMPLE+TOKEN=="),
}
BEARER_TOKEN = "emulator-bedrock-api-key"
SIGNING_SERVICE = "bedrock"
MAX_SKEW_S = 300

CORAL_SERVICE = "http://internal.amazon.com/coral/com.amazon.coral.service/"
CORAL_BEDROCK = "http://internal.amazon.com/coral/com.amazon.bedrock/"

MSG_SIGNATURE_MISMATCH = ("The request signature we calculated does not match the signature you provided. "
                          "Check your AWS Secret Access Key and signing method. "
                          "Consult the service documentation for details.")
MSG_BAD_TOKEN = "The security token included in the request is invalid."
MSG_BAD_API_KEY = "Authentication failed: Please make sure your API Key is valid."

# status and default message of the service's own error codes
SERVICE_ERRORS = {
    "ThrottlingException": (429, "Too many requests, please wait before trying again."),
    "ModelNotReadyException": (429, "Model is not ready for inference. Wait and try your request again."),
    "ServiceUnavailableException": (503, "Bedrock is unable to process your request."),
    "InternalServerException": (500, "The system encountered an unexpected error during processing. "
                                     "Try your request again."),
    "ValidationException": (400, "Malformed input request, please reformat your input and try again."),
    "ServiceQuotaExceededException": (400, "Your request exceeds the service quota for your account."),
    "AccessDeniedException": (403, "You don't have access to the model with the specified model ID."),
    "ResourceNotFoundException": (404, "Could not resolve the foundation model from the provided model "
                                       "identifier."),
    "ModelTimeoutException": (408, "Model has timed out in processing the request. Try your request again."),
    "ModelErrorException": (424, "The model returned an error."),
    "ModelStreamErrorException": (424, "The model stream returned an error."),
}

REASONS = {
    100: "Continue", 200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 408: "Request Timeout", 411: "Length Required", 413: "Payload Too Large",
    424: "Failed Dependency", 429: "Too Many Requests", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}

MAX_BODY = 64 * 1024 * 1024
HEAD_LIMIT = 1024 * 1024
WRITE_BLOCK = 256 * 1024
LOG_LIMIT = 200000
STREAM_CACHE_BYTES = 1024 * 1024 * 1024


class HttpError(Exception):
    def __init__(self, status, code, message, uri=CORAL_BEDROCK, headers=None):
        super().__init__(message)
        self.status, self.code, self.message, self.uri = status, code, message, uri
        self.headers = headers or []


def auth_error(status, code, message):
    return HttpError(status, code, message, uri=CORAL_SERVICE)


# --------------------------------------------------------------------------
# SigV4, checked independently (canonical request rebuilt from what arrived)

_UNRESERVED = "-_.~"
_WS = re.compile(rb"[ \t\r\n\v\f]+")


def normalize_path(raw):
    """Remove dot segments and empty segments ('//') from a raw (still percent-encoded) path."""
    out = []
    for seg in raw.split(b"/"):
        if seg in (b"", b"."):
            continue
        if seg == b"..":
            if out:
                out.pop()
            continue
        out.append(seg)
    path = b"/" + b"/".join(out)
    if raw.endswith(b"/") and path != b"/":
        path += b"/"
    return path


_uri_cache = {}


def canonical_uri(raw_path):
    # every byte outside A-Za-z0-9-._~ and '/' becomes %XX: '%3A' -> '%253A'
    uri = _uri_cache.get(raw_path)
    if uri is None:
        uri = urllib.parse.quote(normalize_path(raw_path or b"/"), safe="/~").encode("ascii")
        if len(_uri_cache) > 4096:
            _uri_cache.clear()
        _uri_cache[raw_path] = uri
    return uri


def canonical_query(raw_query):
    if not raw_query:
        return b""
    pairs = []
    for item in raw_query.split(b"&"):
        if not item:
            continue
        k, _, v = item.partition(b"=")
        k = urllib.parse.quote(urllib.parse.unquote_to_bytes(k), safe=_UNRESERVED)
        v = urllib.parse.quote(urllib.parse.unquote_to_bytes(v), safe=_UNRESERVED)
        pairs.append((k, v))
    pairs.sort()
    return "&".join(k + "=" + v for k, v in pairs).encode("ascii")


def canonical_request(method, raw_path, raw_query, headers, signed, payload_hash):
    """headers: [(lowercase name str, raw value bytes)] in arrival order; signed: [lowercase names]."""
    values = {}
    for name, value in headers:
        if b"  " in value or b"\t" in value or b"\n" in value or b"\r" in value or b"\v" in value \
                or b"\f" in value:
            value = _WS.sub(b" ", value)
        values.setdefault(name, []).append(value.strip(b" "))
    lines = [method.encode("ascii"), canonical_uri(raw_path), canonical_query(raw_query)]
    for name in signed:
        lines.append(name.encode("latin-1") + b":" + b",".join(values.get(name, [])))
    lines.append(b"")
    lines.append(";".join(signed).encode("latin-1"))
    lines.append(payload_hash.encode("ascii"))
    return b"\n".join(lines)


_key_cache = {}


def signing_key(secret, date, region, service):
    k = (secret, date, region, service)
    key = _key_cache.get(k)
    if key is None:
        key = ("AWS4" + secret).encode("utf-8")
        for part in (date, region, service, "aws4_request"):
            key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
        if len(_key_cache) > 256:
            _key_cache.clear()
        _key_cache[k] = key
    return key


_date_memo = ["", 0]


def parse_amz_date(s):
    """'20240115T120000Z' -> epoch seconds (strict basic ISO-8601, UTC)."""
    if s == _date_memo[0]:
        return _date_memo[1]
    if len(s) != 16 or s[8] != "T" or s[15] != "Z" or not (s[:8] + s[9:15]).isdigit():
        raise ValueError(s)
    d = datetime.datetime(int(s[0:4]), int(s[4:6]), int(s[6:8]), int(s[9:11]), int(s[11:13]), int(s[13:15]))
    t = calendar.timegm(d.timetuple())
    _date_memo[:] = [s, t]
    return t


def _amz_stamp(t):
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t))


def verify_auth(req, payload_hash=None):
    """Returns "sigv4" or "bearer", or raises HttpError as AWS answers. payload_hash: the payload hash
    the canonical request ends with (default: sha256 of req.body), e.g. STREAMING_EVENTS for a body
    signed event by event. On SigV4 success req.auth_info holds what a signing chain needs:
    {secret, region, service, signature}."""
    auth = req.header("authorization")
    if auth is None:
        raise auth_error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    if auth[:7].lower() == "bearer ":
        if auth[7:].strip() == BEARER_TOKEN:
            return "bearer"
        raise auth_error(403, "UnrecognizedClientException", MSG_BAD_API_KEY)

    algo, _, rest = auth.strip().partition(" ")
    params = {}
    for part in rest.split(","):
        k, eq, v = part.strip().partition("=")
        if eq:
            params[k.strip()] = v.strip()
    amz_date = req.header("x-amz-date")
    missing = []
    for p in ("Credential", "Signature", "SignedHeaders"):
        if p not in params:
            missing.append("Authorization header requires '%s' parameter." % p)
    if amz_date is None and req.header("date") is None:
        missing.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    if algo != "AWS4-HMAC-SHA256" or missing:
        if algo != "AWS4-HMAC-SHA256" and not missing:
            missing.append("Unsupported Authorization Type")
        raise auth_error(400, "IncompleteSignatureException", " ".join(missing) + " Authorization=" + algo)
    if amz_date is None:
        raise auth_error(400, "IncompleteSignatureException",
                         "Authorization header requires existence of a 'X-Amz-Date' header.")

    cred = params["Credential"].split("/")
    if len(cred) != 5:
        raise auth_error(400, "IncompleteSignatureException",
                         "Credential must have exactly 5 slash-delimited elements, e.g. "
                         "keyid/date/region/service/term, got '%s'" % params["Credential"])
    akid, scope_date, region, service, term = cred
    known = CREDENTIALS.get(akid)
    if known is None:
        raise auth_error(403, "UnrecognizedClientException", MSG_BAD_TOKEN)
    secret, token = known
    sent_token = req.header("x-amz-security-token")
    if token is None and sent_token is not None:
        raise auth_error(403, "UnrecognizedClientException", MSG_BAD_TOKEN)
    if token is not None and sent_token != token:
        raise auth_error(403, "UnrecognizedClientException", MSG_BAD_TOKEN)

    signed = params["SignedHeaders"].split(";")
    if "host" not in signed:
        raise auth_error(403, "InvalidSignatureException",
                         "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
    if "x-amz-date" not in signed:
        raise auth_error(403, "InvalidSignatureException",
                         "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.")
    if sent_token is not None and "x-amz-security-token" not in signed:
        raise auth_error(403, "InvalidSignatureException",
                         "'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization.")
    if term != "aws4_request":
        raise auth_error(403, "InvalidSignatureException",
                         "Credential should be scoped with a valid terminator: 'aws4_request', not '%s'." % term)
    if service != SIGNING_SERVICE:
        raise auth_error(403, "InvalidSignatureException",
                         "Credential should be scoped to correct service: '%s'. " % SIGNING_SERVICE)
    if not region:
        raise auth_error(403, "InvalidSignatureException", "Credential should be scoped to a valid region. ")
    try:
        t = parse_amz_date(amz_date)
    except ValueError:
        raise auth_error(400, "IncompleteSignatureException",
                         "Date must be in ISO-8601 'basic format'. Got '%s'. See "
                         "http://en.wikipedia.org/wiki/ISO_8601" % amz_date)
    if scope_date != amz_date[:8]:
        raise auth_error(403, "InvalidSignatureException",
                         "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
                         "HTTP: '%s' != '%s', from '%s'." % (scope_date, amz_date[:8], amz_date))
    now = time.time()
    if t < now - MAX_SKEW_S:
        raise auth_error(403, "InvalidSignatureException",
                         "Signature expired: %s is now earlier than %s (%s - 5 min.)"
                         % (amz_date, _amz_stamp(now - MAX_SKEW_S), _amz_stamp(now)))
    if t > now + MAX_SKEW_S:
        raise auth_error(403, "InvalidSignatureException",
                         "Signature not yet current: %s is still later than %s (%s + 5 min.)"
                         % (amz_date, _amz_stamp(now + MAX_SKEW_S), _amz_stamp(now)))

    if payload_hash is None:
        payload_hash = hashlib.sha256(req.body).hexdigest()
    creq = canonical_request(req.method, req.raw_path, req.raw_query, req.headers, signed, payload_hash)
    scope = "/".join((scope_date, region, service, term))
    sts = "\n".join(("AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq).hexdigest()))
    want = hmac.new(signing_key(secret, scope_date, region, service), sts.encode("utf-8"),
                    hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, params["Signature"]):
        raise auth_error(403, "InvalidSignatureException", MSG_SIGNATURE_MISMATCH)
    req.auth_info = {"secret": secret, "region": region, "service": service, "signature": params["Signature"]}
    return "sigv4"


# --------------------------------------------------------------------------
# Event-stream frames (struct + zlib.crc32, written here on purpose)

def es_headers(pairs):
    out = bytearray()
    for name, value in pairs:
        n, v = name.encode("utf-8"), value.encode("utf-8")
        out += struct.pack(">B", len(n)) + n + b"\x07" + struct.pack(">H", len(v)) + v
    return bytes(out)


def es_frame(headers, payload):
    total = 16 + len(headers) + len(payload)
    prelude = struct.pack(">II", total, len(headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    crc = zlib.crc32(payload, zlib.crc32(headers, zlib.crc32(prelude)))
    return b"".join((prelude, headers, payload, struct.pack(">I", crc)))


CHUNK_HEADERS = es_headers([(":event-type", "chunk"), (":content-type", "application/json"),
                            (":message-type", "event")])

PAD_ALPHABET = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
# "random-ish" but deterministic padding lengths, cycled by event index
PAD_LENGTHS = (13, 27, 4, 41, 19, 8, 33, 22, 1, 45, 16, 29, 6, 37, 11, 24)


def pad_bytes(n):
    reps = n // len(PAD_ALPHABET) + 1
    return (PAD_ALPHABET * reps)[:n]


def chunk_frame(inner, pad_len):
    payload = b'{"bytes":"' + base64.b64encode(inner) + b'","p":"' + pad_bytes(pad_len) + b'"}'
    return es_frame(CHUNK_HEADERS, payload)


def event_frame(event_type, obj, pad_len):
    """A ConverseStream event: the payload is the event's JSON plus Bedrock's "p" padding."""
    headers = es_headers([(":event-type", event_type), (":content-type", "application/json"),
                          (":message-type", "event")])
    body = dict(obj)
    body["p"] = pad_bytes(pad_len).decode("ascii")
    return es_frame(headers, jdump(body))


def exception_frame(exc_type, message):
    headers = es_headers([(":exception-type", exc_type), (":content-type", "application/json"),
                          (":message-type", "exception")])
    return es_frame(headers, jdump({"message": message}))


def jdump(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# --------------------------------------------------------------------------
# The model side: replies, token counts, delta plans

def _texts(content):
    if isinstance(content, str):
        return [content]
    out = []
    if isinstance(content, list):
        for block in content:
            if isinstance(block, str):
                out.append(block)
            elif isinstance(block, dict) and isinstance(block.get("text"), str):
                out.append(block["text"])
    return out


def analyse_body(doc):
    """-> (last user text or None, input token count). Tokens are whitespace-separated words."""
    if not isinstance(doc, dict):
        return None, 0
    words = 0
    last_user = None
    for t in _texts(doc.get("system")):
        words += len(t.split())
    msgs = doc.get("messages")
    if isinstance(msgs, list):
        for m in msgs:
            if not isinstance(m, dict):
                continue
            texts = _texts(m.get("content"))
            for t in texts:
                words += len(t.split())
            if m.get("role") == "user" and texts:
                last_user = " ".join(texts)
    for key in ("prompt", "inputText"):
        if isinstance(doc.get(key), str):
            words += len(doc[key].split())
            if last_user is None:
                last_user = doc[key]
    return last_user, words


def reply_text(scenario, last_user):
    if isinstance(scenario.get("text"), str):
        return scenario["text"]
    if last_user and last_user.strip():
        return "You said: " + last_user.strip()
    return "Hello from the Bedrock emulator."


def response_model_name(model_id):
    name = model_id.rsplit("/", 1)[-1]
    name = re.sub(r"^(us|eu|apac|ap|ca|jp|au|us-gov|global)\.", "", name)
    name = re.sub(r"^[a-z0-9-]+\.", "", name)          # provider prefix, e.g. "anthropic."
    name = re.sub(r"-v\d+(:\d+)?$", "", name)
    return name or "claude-3-sonnet-20240229"


def delta_pieces(text, n):
    """Split `text` into n deltas. Concatenated they give `text` when n <= len(text); beyond that the
    words are cycled (text repeated, space separated)."""
    tokens = re.findall(r"\s*\S+", text)
    if tokens and text[len("".join(tokens)):]:
        tokens[-1] += text[len("".join(tokens)):]
    if not tokens:
        tokens = [text]
    if n is None:
        return tokens
    if n <= 0:
        return []
    if n == len(tokens):
        return tokens
    if n < len(tokens):
        q, r = divmod(len(tokens), n)
        out, i = [], 0
        for k in range(n):
            size = q + (1 if k < r else 0)
            out.append("".join(tokens[i:i + size]))
            i += size
        return out
    if n <= len(text):
        q, r = divmod(len(text), n)
        out, i = [], 0
        for k in range(n):
            size = q + (1 if k < r else 0)
            out.append(text[i:i + size])
            i += size
        return out
    cyc = [tokens[0]] + tokens[1:]
    rep = [(" " + t if not t[:1].isspace() else t) for t in tokens]
    out = list(cyc)
    while len(out) < n:
        out.extend(rep[:n - len(out)])
    return out


class StreamBody:
    """The middle of an Anthropic stream (content_block_start .. message_delta) as one bytes blob plus
    frame offsets, so whole runs of frames are written with one slice."""

    def __init__(self, text, deltas, pad):
        pieces = delta_pieces(text, deltas)
        self.output_tokens = len(pieces)
        memo = {}
        frames = []
        idx = 1                                          # frame 0 is message_start

        def pad_len():
            return pad if pad is not None else PAD_LENGTHS[idx % len(PAD_LENGTHS)]

        frames.append(chunk_frame(jdump({"type": "content_block_start", "index": 0,
                                         "content_block": {"type": "text", "text": ""}}), pad_len()))
        idx += 1
        for piece in pieces:
            pl = pad_len()
            key = (piece, pl)
            f = memo.get(key)
            if f is None:
                f = chunk_frame(jdump({"type": "content_block_delta", "index": 0,
                                       "delta": {"type": "text_delta", "text": piece}}), pl)
                if len(memo) < 100000:
                    memo[key] = f
            frames.append(f)
            idx += 1
        frames.append(chunk_frame(jdump({"type": "content_block_stop", "index": 0}), pad_len()))
        idx += 1
        frames.append(chunk_frame(jdump({"type": "message_delta",
                                         "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                         "usage": {"output_tokens": self.output_tokens}}), pad_len()))
        self.offsets = array("Q", [0])
        acc = 0
        for f in frames:
            acc += len(f)
            self.offsets.append(acc)
        self.blob = b"".join(frames)
        self.count = len(frames)


def content_words(content):
    """Output tokens of a reply: the words of its text and thinking."""
    n = 0
    for block in content:
        for key in ("text", "thinking"):
            if isinstance(block.get(key), str):
                n += len(block[key].split())
    return n


class ContentBody:
    """The middle of an Anthropic stream for the scenario field "content": for each block, its
    content_block_start, deltas and content_block_stop; then message_delta. Same surface as StreamBody."""

    def __init__(self, content, stop_reason, pad):
        frames = []

        def add(doc):
            frames.append(chunk_frame(jdump(doc), pad if pad is not None
                                      else PAD_LENGTHS[(len(frames) + 1) % len(PAD_LENGTHS)]))

        for i, block in enumerate(content):
            kind = block.get("type")
            if kind == "text":
                add({"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}})
                for piece in delta_pieces(block.get("text", ""), None):
                    add({"type": "content_block_delta", "index": i,
                         "delta": {"type": "text_delta", "text": piece}})
            elif kind == "thinking":
                add({"type": "content_block_start", "index": i,
                     "content_block": {"type": "thinking", "thinking": ""}})
                for piece in delta_pieces(block.get("thinking", ""), None):
                    add({"type": "content_block_delta", "index": i,
                         "delta": {"type": "thinking_delta", "thinking": piece}})
                add({"type": "content_block_delta", "index": i,
                     "delta": {"type": "signature_delta", "signature": block.get("signature", "")}})
            elif kind == "tool_use":
                add({"type": "content_block_start", "index": i, "content_block": {
                    "type": "tool_use", "id": block.get("id"), "name": block.get("name"), "input": {}}})
                js = json.dumps(block.get("input", {}), separators=(",", ":"))
                half = len(js) // 2
                for piece in (js[:half], js[half:]):
                    add({"type": "content_block_delta", "index": i,
                         "delta": {"type": "input_json_delta", "partial_json": piece}})
            else:                                          # redacted_thinking and others arrive whole
                add({"type": "content_block_start", "index": i, "content_block": block})
            add({"type": "content_block_stop", "index": i})
        self.output_tokens = content_words(content)
        add({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None},
             "usage": {"output_tokens": self.output_tokens}})
        self.offsets = array("Q", [0])
        acc = 0
        for f in frames:
            acc += len(f)
            self.offsets.append(acc)
        self.blob = b"".join(frames)
        self.count = len(frames)


class StreamCache:
    def __init__(self, limit=STREAM_CACHE_BYTES):
        self.limit = limit
        self.entries = collections.OrderedDict()     # key -> Future[StreamBody]
        self.size = 0

    async def get(self, text, deltas, pad):
        key = (text, deltas, pad)
        fut = self.entries.get(key)
        if fut is not None:
            self.entries.move_to_end(key)
            return await asyncio.shield(fut)
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self.entries[key] = fut
        try:
            if deltas is not None and deltas > 2000:
                body = await loop.run_in_executor(None, StreamBody, text, deltas, pad)
            else:
                body = StreamBody(text, deltas, pad)
        except BaseException as e:
            self.entries.pop(key, None)
            fut.set_exception(e)
            fut.exception()
            raise
        fut.set_result(body)
        self.size += len(body.blob)
        while self.size > self.limit and len(self.entries) > 1:
            k, old = next(iter(self.entries.items()))
            if k == key:
                break
            self.entries.pop(k)
            if old.done() and not old.exception():
                self.size -= len(old.result().blob)
        return body

    def clear(self):
        self.entries.clear()
        self.size = 0


# --------------------------------------------------------------------------
# Routes beyond invoke: Converse, ConverseStream, CountTokens, ApplyGuardrail,
# InvokeGuardrailChecks and the async-invoke routes. Shapes follow the service model
# (tools/model/bedrock-runtime/2023-09-30/service-2.json).

ROUTES = [
    (re.compile(rb"^/model/([^/]+)/invoke$"), "POST", "invoke"),
    (re.compile(rb"^/model/([^/]+)/invoke-with-response-stream$"), "POST", "stream"),
    (re.compile(rb"^/model/([^/]+)/converse$"), "POST", "converse"),
    (re.compile(rb"^/model/([^/]+)/converse-stream$"), "POST", "converse_stream"),
    (re.compile(rb"^/model/([^/]+)/count-tokens$"), "POST", "count_tokens"),
    (re.compile(rb"^/guardrail/([^/]+)/version/([^/]+)/apply$"), "POST", "apply_guardrail"),
    (re.compile(rb"^/guardrail-checks/invoke$"), "POST", "invoke_guardrail_checks"),
    (re.compile(rb"^/async-invoke$"), "POST", "start_async_invoke"),
    (re.compile(rb"^/async-invoke$"), "GET", "list_async_invokes"),
    (re.compile(rb"^/async-invoke/([^/]+)$"), "GET", "get_async_invoke"),
    (re.compile(rb"^/model/([^/]+)/invoke-with-bidirectional-stream$"), "POST", "bidi_stream"),
]


def match_route(req):
    """-> (route, scenario key, decoded labels) or (None, None, None). The scenario key is the model id
    (for start_async_invoke the body's modelId), the guardrail identifier, "guardrail-checks", or
    "async-invoke" for get/list."""
    for rx, method, route in ROUTES:
        m = rx.match(req.raw_path)
        if m and req.method == method:
            labels = [urllib.parse.unquote(g.decode("latin-1")) for g in m.groups()]
            if route == "start_async_invoke":
                try:
                    key = json.loads(req.body.decode("utf-8")).get("modelId")
                except (UnicodeDecodeError, ValueError, AttributeError):
                    key = None
                key = key if isinstance(key, str) else None
            elif route in ("get_async_invoke", "list_async_invokes"):
                key = "async-invoke"
            elif route == "invoke_guardrail_checks":
                key = "guardrail-checks"
            else:
                key = labels[0]
            return route, key, labels
    return None, None, None


def scripted_failure(sc, retry_after_name):
    """The HttpError of a fail_first attempt: fail_code (default ThrottlingException) with its usual status
    unless fail_status, fail_message, and the retry_after_ms / retry_after headers (HTTP/2 wants lowercase)."""
    code = sc.get("fail_code", "ThrottlingException")
    status, default_msg = SERVICE_ERRORS.get(code, (429, code))
    extra = []
    if "retry_after_ms" in sc:
        extra.append(("x-amz-retry-after", str(sc["retry_after_ms"])))
    if "retry_after" in sc:
        extra.append((retry_after_name, sc["retry_after"]))
    return HttpError(sc.get("fail_status", status), code, sc.get("fail_message", default_msg), headers=extra)


def validation(message):
    return HttpError(400, "ValidationException", message)


def converse_blocks(sc, doc):
    """The assistant's reply as content blocks (Converse wire shapes), its stop reason, input tokens."""
    if not isinstance(doc, dict):
        raise validation("The request body must be a JSON object.")
    msgs = doc.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise validation("A conversation must start with a user message. Try again with a conversation that "
                         "starts with a user message.")
    for m in msgs:
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant") or \
                not isinstance(m.get("content"), list):
            raise validation("1 validation error detected: Value at 'messages' failed to satisfy constraint: "
                             "each message needs a role (user|assistant) and a content list")
    last_user, in_tokens = analyse_body(doc)
    scripted = scripted_tool_reply(sc, doc, "converse")
    if scripted:
        return scripted[0], scripted[1], in_tokens
    last = msgs[-1]["content"]
    answered_tool = any(isinstance(b, dict) and "toolResult" in b for b in last)
    blocks = []
    if sc.get("reasoning"):
        blocks.append({"reasoningContent": {"reasoningText": {
            "text": sc["reasoning"], "signature": "sig-" + hashlib.sha256(sc["reasoning"].encode()).hexdigest()[:32]}}})
    tool = sc.get("tool_use")
    if tool and not answered_tool:
        blocks.append({"text": "Calling %s." % tool})
        blocks.append({"toolUse": {"toolUseId": "tooluse_" + "".join(random.choices(_ID_ALPHABET, k=22)),
                                   "name": tool, "input": {"query": (last_user or "").strip()}}})
        stop = "tool_use"
    else:
        blocks.append({"text": reply_text(sc, last_user)})
        stop = "end_turn"
    return blocks, stop, in_tokens


# ---- scripted tool use (scenario field tool_rounds)

def declared_tools(doc, api):
    """The tool names a request declares (Messages "tools" or Converse toolConfig.tools)."""
    if not isinstance(doc, dict):
        return []
    if api == "invoke":
        tools = doc.get("tools")
    else:
        tc = doc.get("toolConfig")
        tools = tc.get("tools") if isinstance(tc, dict) else None
    names = []
    for t in tools if isinstance(tools, list) else []:
        if isinstance(t, dict):
            spec = t.get("toolSpec", t) if api != "invoke" else t
            if isinstance(spec, dict) and isinstance(spec.get("name"), str):
                names.append(spec["name"])
    return names


def _tool_results(msg, api):
    content = msg.get("content") if isinstance(msg, dict) else None
    if not isinstance(content, list):
        return []
    key = "tool_result" if api == "invoke" else "toolResult"
    return [b for b in content if isinstance(b, dict) and (b.get("type") == key if api == "invoke" else key in b)]


def _result_text(block, api):
    content = block.get("content") if api == "invoke" else block["toolResult"].get("content")
    if isinstance(content, str):
        return content
    parts = []
    for c in content if isinstance(content, list) else []:
        if not isinstance(c, dict):
            continue
        if isinstance(c.get("text"), str):
            parts.append(c["text"])
        elif "json" in c:
            parts.append(json.dumps(c["json"], separators=(",", ":")))
        elif c.get("type") == "image" or "image" in c:
            parts.append("[image]")
    return " ".join(parts)


def tool_round(doc, api):
    """How many tool-result turns (each after an assistant turn) end the history."""
    msgs = doc.get("messages") if isinstance(doc, dict) else None
    if not isinstance(msgs, list):
        return 0
    n, i = 0, len(msgs) - 1
    while i >= 1 and isinstance(msgs[i], dict) and msgs[i].get("role") == "user" and _tool_results(msgs[i], api) \
            and isinstance(msgs[i - 1], dict) and msgs[i - 1].get("role") == "assistant":
        n += 1
        i -= 2
    return n


def scripted_tool_reply(sc, doc, api):
    """(blocks in the API's wire form, stop reason) for tool_rounds, or None when it does not apply."""
    rounds = sc.get("tool_rounds")
    if not rounds or not declared_tools(doc, api):
        return None
    k = tool_round(doc, api)
    if k < len(rounds):
        r = rounds[k]
        uses = r.get("uses") if isinstance(r.get("uses"), list) else [r]
        text = r.get("text", "Using a tool.")
        blocks = [{"type": "text", "text": text} if api == "invoke" else {"text": text}]
        for u in uses:
            name, inp = u.get("name", "missing"), u.get("input", {})
            if api == "invoke":
                blocks.append({"type": "tool_use", "id": "toolu_emu" + "".join(random.choices(_ID_ALPHABET, k=20)),
                               "name": name, "input": inp})
            else:
                blocks.append({"toolUse": {"toolUseId": "tooluse_" + "".join(random.choices(_ID_ALPHABET, k=22)),
                                           "name": name, "input": inp}})
        return blocks, "tool_use"
    msgs = doc["messages"]
    texts = [_result_text(b, api) for b in _tool_results(msgs[-1], api)] if msgs else []
    final = sc.get("text") or ("Tool results: " + " | ".join(texts) if texts else "No tool was used.")
    return [{"type": "text", "text": final} if api == "invoke" else {"text": final}], "end_turn"


def converse_usage(sc, in_tokens, out_tokens):
    u = {"inputTokens": in_tokens, "outputTokens": out_tokens}
    total = in_tokens + out_tokens
    if "cache_read_tokens" in sc:
        u["cacheReadInputTokens"] = sc["cache_read_tokens"]
        total += sc["cache_read_tokens"]
    if "cache_write_tokens" in sc:
        u["cacheWriteInputTokens"] = sc["cache_write_tokens"]
        total += sc["cache_write_tokens"]
    u["totalTokens"] = total
    return u


def op_converse(emu, req, doc, sc, entry, t0):
    blocks, stop, in_tokens = converse_blocks(sc, doc)
    out_tokens = 0
    for b in blocks:
        if "text" in b:
            out_tokens += len(b["text"].split())
        elif "reasoningContent" in b:
            out_tokens += len(b["reasoningContent"]["reasoningText"]["text"].split())
        else:
            out_tokens += len(json.dumps(b["toolUse"]["input"]).split())
    return 200, {"output": {"message": {"role": "assistant", "content": blocks}}, "stopReason": stop,
                 "usage": converse_usage(sc, in_tokens, out_tokens),
                 "metrics": {"latencyMs": max(1, int((time.monotonic() - t0) * 1000))}}


def converse_seq(sc, doc, pad, t0, state):
    """ConverseStream frames for the same reply as op_converse: messageStart; per block a
    contentBlockStart (non-text blocks only), its deltas and a contentBlockStop; messageStop; metadata
    (built last, with the latency). Output tokens: the number of deltas."""
    blocks, stop, in_tokens = converse_blocks(sc, doc)
    events = [("messageStart", {"role": "assistant"})]
    deltas = 0
    for i, b in enumerate(blocks):
        if "text" in b:
            for piece in delta_pieces(b["text"], sc.get("deltas")):
                events.append(("contentBlockDelta", {"contentBlockIndex": i, "delta": {"text": piece}}))
                deltas += 1
        elif "reasoningContent" in b:
            r = b["reasoningContent"]["reasoningText"]
            for piece in delta_pieces(r["text"], None):
                events.append(("contentBlockDelta", {"contentBlockIndex": i,
                                                     "delta": {"reasoningContent": {"text": piece}}}))
                deltas += 1
            events.append(("contentBlockDelta", {"contentBlockIndex": i,
                                                 "delta": {"reasoningContent": {"signature": r["signature"]}}}))
        else:
            t = b["toolUse"]
            events.append(("contentBlockStart", {"contentBlockIndex": i, "start": {
                "toolUse": {"toolUseId": t["toolUseId"], "name": t["name"]}}}))
            js = json.dumps(t["input"], separators=(",", ":"))
            for k in range(0, len(js), 8):
                events.append(("contentBlockDelta", {"contentBlockIndex": i,
                                                     "delta": {"toolUse": {"input": js[k:k + 8]}}}))
                deltas += 1
        events.append(("contentBlockStop", {"contentBlockIndex": i}))
    events.append(("messageStop", {"stopReason": stop}))

    def padding(k):
        return pad if pad is not None else PAD_LENGTHS[k % len(PAD_LENGTHS)]

    frames = [event_frame(name, obj, padding(k)) for k, (name, obj) in enumerate(events)]
    k_meta = len(frames)

    def metadata_frame():
        return event_frame("metadata", {"usage": converse_usage(sc, in_tokens, deltas),
                                        "metrics": {"latencyMs": max(1, int((time.monotonic() - t0) * 1000))}},
                           padding(k_meta))
    return FrameSeq(frames, None, [metadata_frame])


def op_count_tokens(emu, req, doc, sc, entry, t0):
    inp = doc.get("input") if isinstance(doc, dict) else None
    if not isinstance(inp, dict) or len(inp) != 1 or not set(inp) <= {"converse", "invokeModel"}:
        raise validation("input must set exactly one of converse, invokeModel")
    if "converse" in inp:
        if not isinstance(inp["converse"], dict):
            raise validation("input.converse must be an object")
        _, n = analyse_body(inp["converse"])
    else:
        body = inp["invokeModel"].get("body") if isinstance(inp["invokeModel"], dict) else None
        try:
            inner = json.loads(base64.b64decode(body, validate=True))
        except (TypeError, ValueError):
            raise validation("input.invokeModel.body must be the base64 of the model's JSON request")
        _, n = analyse_body(inner)
    return 200, {"inputTokens": n}


def _units(chars):
    return (chars + 999) // 1000


def op_apply_guardrail(emu, req, doc, sc, entry, t0):
    if not isinstance(doc, dict) or doc.get("source") not in ("INPUT", "OUTPUT"):
        raise validation("source must be INPUT or OUTPUT")
    content = doc.get("content")
    if not isinstance(content, list) or not content:
        raise validation("content must be a non-empty list")
    texts = []
    for block in content:
        t = block.get("text") if isinstance(block, dict) else None
        if isinstance(t, dict) and isinstance(t.get("text"), str):
            texts.append(t["text"])
        elif not (isinstance(block, dict) and "image" in block):
            raise validation("each content block must be a text or an image block")
    words = [w for w in sc.get("blocked_words", "BLOCKME").split(",") if w]
    found = [w for w in words if any(w.lower() in t.lower() for t in texts)]
    chars = sum(len(t) for t in texts)
    units = _units(chars)
    usage = {"topicPolicyUnits": units, "contentPolicyUnits": units, "wordPolicyUnits": units,
             "sensitiveInformationPolicyUnits": units, "sensitiveInformationPolicyFreeUnits": 0,
             "contextualGroundingPolicyUnits": 0}
    coverage = {"textCharacters": {"guarded": chars, "total": chars}}
    assessment = {"invocationMetrics": {"guardrailProcessingLatency": max(1, int((time.monotonic() - t0) * 1000)),
                                        "usage": usage, "guardrailCoverage": coverage}}
    out = {"usage": usage, "guardrailCoverage": coverage, "assessments": [assessment]}
    if found:
        assessment["wordPolicy"] = {"customWords": [{"match": w, "action": "BLOCKED", "detected": True}
                                                    for w in found], "managedWordLists": []}
        out.update(action="GUARDRAIL_INTERVENED", actionReason="Guardrail blocked.",
                   outputs=[{"text": "Sorry, I can't help with that."}])
    else:
        out.update(action="NONE", outputs=[])
    return 200, out


def op_invoke_guardrail_checks(emu, req, doc, sc, entry, t0):
    if not isinstance(doc, dict) or not isinstance(doc.get("messages"), list) or not isinstance(doc.get("checks"), dict):
        raise validation("messages (a list) and checks (an object) are required")
    return 200, {"results": {}, "usage": {}}


def _iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % (int(t * 1000) % 1000)


def _parse_iso(s):
    m = re.match(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?Z$", s)
    if not m:
        raise validation("invalid timestamp %r (ISO 8601 expected)" % s)
    d = datetime.datetime(*[int(x) for x in m.groups()[:6]])
    return calendar.timegm(d.timetuple()) + (float(m.group(7)) if m.group(7) else 0.0)


def op_start_async_invoke(emu, req, doc, sc, entry, t0):
    if not isinstance(doc, dict):
        raise validation("The request body must be a JSON object.")
    for k in ("modelId", "modelInput", "outputDataConfig"):
        if k not in doc:
            raise validation("1 validation error detected: Value null at '%s' failed to satisfy constraint: "
                             "Member must not be null" % k)
    s3 = doc["outputDataConfig"].get("s3OutputDataConfig") if isinstance(doc["outputDataConfig"], dict) else None
    if not isinstance(s3, dict) or not str(s3.get("s3Uri", "")).startswith("s3://"):
        raise validation("outputDataConfig.s3OutputDataConfig.s3Uri must be an s3:// URI")
    token = doc.get("clientRequestToken")
    if token:
        for job in emu.jobs.values():
            if job.get("clientRequestToken") == token:
                return 200, {"invocationArn": job["invocationArn"]}     # idempotent
    now = time.time()
    job_id = "".join(random.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=12))
    arn = "arn:aws:bedrock:us-east-1:123456789012:async-invoke/" + job_id
    status = sc.get("async_status", "Completed")
    job = {"invocationArn": arn, "modelArn": "arn:aws:bedrock:us-east-1::foundation-model/" + doc["modelId"],
           "status": status, "submitTime": _iso(now), "lastModifiedTime": _iso(now),
           "outputDataConfig": doc["outputDataConfig"], "_t": now, "_seq": len(emu.jobs)}
    if token:
        job["clientRequestToken"] = token
    if status != "InProgress":
        job["endTime"] = _iso(now)
    if status == "Failed":
        job["failureMessage"] = sc.get("async_failure_message", "The model failed to process the request.")
    emu.jobs[arn] = job
    return 200, {"invocationArn": arn}


def _public(job):
    return {k: v for k, v in job.items() if not k.startswith("_")}


def op_get_async_invoke(emu, req, doc, sc, entry, t0):
    job = emu.jobs.get(entry.get("invocation_arn"))
    if job is None:
        raise HttpError(404, "ResourceNotFoundException", "The specified invocation ARN was not found.")
    return 200, _public(job)


def op_list_async_invokes(emu, req, doc, sc, entry, t0):
    q = dict(urllib.parse.parse_qsl(req.raw_query.decode("latin-1"), keep_blank_values=True))
    known = {"submitTimeAfter", "submitTimeBefore", "statusEquals", "maxResults", "nextToken", "sortBy", "sortOrder"}
    if set(q) - known:
        raise validation("unknown query parameters: " + ", ".join(sorted(set(q) - known)))
    try:
        max_results = int(q.get("maxResults", "1000"))
    except ValueError:
        raise validation("maxResults must be an integer")
    if not 1 <= max_results <= 1000:
        raise validation("1 validation error detected: Value at 'maxResults' failed to satisfy constraint: "
                         "Member must have value between 1 and 1000")
    if q.get("sortOrder", "Descending") not in ("Ascending", "Descending"):
        raise validation("sortOrder must be Ascending or Descending")
    if q.get("sortBy", "SubmissionTime") != "SubmissionTime":
        raise validation("sortBy must be SubmissionTime")
    if "statusEquals" in q and q["statusEquals"] not in ("InProgress", "Completed", "Failed"):
        raise validation("statusEquals must be InProgress, Completed or Failed")
    after = _parse_iso(q["submitTimeAfter"]) if "submitTimeAfter" in q else None
    before = _parse_iso(q["submitTimeBefore"]) if "submitTimeBefore" in q else None
    jobs = [j for j in emu.jobs.values()
            if ("statusEquals" not in q or j["status"] == q["statusEquals"])
            and (after is None or j["_t"] >= after) and (before is None or j["_t"] <= before)]
    jobs.sort(key=lambda j: (j["_t"], j["_seq"]), reverse=q.get("sortOrder", "Descending") == "Descending")
    start = 0
    if q.get("nextToken"):
        try:
            start = int(base64.b64decode(q["nextToken"], validate=True).decode("ascii").split(":")[1])
        except (ValueError, IndexError, UnicodeDecodeError):
            raise validation("The pagination token is invalid.")
    page = jobs[start:start + max_results]
    out = {"asyncInvokeSummaries": [_public(j) for j in page]}
    if start + max_results < len(jobs):
        out["nextToken"] = base64.b64encode(("page:%d" % (start + max_results)).encode()).decode("ascii")
    return 200, out


OPERATIONS = {
    "converse": op_converse, "count_tokens": op_count_tokens, "apply_guardrail": op_apply_guardrail,
    "invoke_guardrail_checks": op_invoke_guardrail_checks, "start_async_invoke": op_start_async_invoke,
    "get_async_invoke": op_get_async_invoke, "list_async_invokes": op_list_async_invokes,
}


# --------------------------------------------------------------------------
# Scenarios

SCENARIO_FIELDS = {
    "fail_first": int, "fail_status": int, "fail_code": str, "fail_message": str, "retry_after_ms": int,
    "reset_first": int, "delay_ms": float, "event_delay_ms": float, "text": str, "deltas": int,
    "reset_after_events": int, "exception_after_events": int, "exception_type": str,
    "exception_message": str, "corrupt_crc_after_events": int, "truncate_after_events": int,
    "garbage": bool, "split_writes": int, "silence_after_events": int, "silence_ms": float,
    "drip_ms": float, "payload_pad": int, "content": list, "stop_reason": str, "log_body": bool,
    "cache_read_tokens": int, "cache_write_tokens": int, "tool_use": str, "reasoning": str,
    "async_status": str, "async_failure_message": str, "blocked_words": str,
    "retry_after": str, "fail_raw": bool, "corrupt_prelude_after_events": int,
    "huge_frame_after_events": int, "content_type": str, "fault_attempts": int, "echo_repeat": int,
    "tool_rounds": list,
}

# the stream faults that fault_attempts limits to the first attempts
STREAM_FAULTS = ("reset_after_events", "exception_after_events", "corrupt_crc_after_events",
                 "corrupt_prelude_after_events", "truncate_after_events", "huge_frame_after_events",
                 "garbage", "silence_after_events", "content_type")
HUGE_FRAME_BYTES = 17 * 1024 * 1024


def validate_scenario(doc):
    if not isinstance(doc, dict):
        raise HttpError(400, "ValidationException", "scenario must be a JSON object")
    model_id = doc.get("model_id")
    if not isinstance(model_id, str) or not model_id:
        raise HttpError(400, "ValidationException", "scenario needs a non-empty string model_id")
    sc = {}
    for k, v in doc.items():
        if k == "model_id":
            continue
        kind = SCENARIO_FIELDS.get(k)
        if kind is None:
            raise HttpError(400, "ValidationException", "unknown scenario field %r (known: %s)"
                            % (k, ", ".join(sorted(SCENARIO_FIELDS))))
        if kind is bool:
            if not isinstance(v, bool):
                raise HttpError(400, "ValidationException", "%s must be a boolean" % k)
        elif kind is str:
            if not isinstance(v, str):
                raise HttpError(400, "ValidationException", "%s must be a string" % k)
        elif kind is list:
            if not isinstance(v, list) or not all(isinstance(b, dict) for b in v):
                raise HttpError(400, "ValidationException", "%s must be a list of objects" % k)
        else:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                raise HttpError(400, "ValidationException", "%s must be a non-negative number" % k)
            if kind is int:
                if v != int(v):
                    raise HttpError(400, "ValidationException", "%s must be an integer" % k)
                v = int(v)
        sc[k] = v
    if sc.get("split_writes") == 0:
        raise HttpError(400, "ValidationException", "split_writes must be at least 1")
    return model_id, sc


# --------------------------------------------------------------------------
# HTTP plumbing

class Request:
    __slots__ = ("method", "target", "raw_path", "raw_query", "version", "headers", "body", "_hmap", "auth_info")

    def __init__(self, method, target, version, headers):
        self.method, self.target, self.version, self.headers = method, target, version, headers
        self.raw_path, _, self.raw_query = target.partition(b"?")
        self.body = b""
        self.auth_info = None
        hm = {}
        for name, value in headers:
            v = value.strip(b" \t").decode("latin-1")
            hm[name] = hm[name] + "," + v if name in hm else v
        self._hmap = hm

    def header(self, name):
        return self._hmap.get(name)

    def header_dict(self):
        return {k: v.encode("latin-1").decode("utf-8", "replace") for k, v in self._hmap.items()}


class BadRequest(Exception):
    pass


_date_cache = [0, ""]


def http_date():
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[0] = now
        _date_cache[1] = email.utils.formatdate(now, usegmt=True)
    return _date_cache[1]


def response_head(status, headers):
    lines = ["HTTP/1.1 %d %s" % (status, REASONS.get(status, "Status"))]
    for k, v in headers:
        lines.append("%s: %s" % (k, v))
    lines.append("")
    lines.append("")
    return "\r\n".join(lines).encode("latin-1")


def set_linger_reset(writer):
    sock = writer.get_extra_info("socket")
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    writer.transport.abort()


async def wait_sent(writer, limit_s=3.0):
    """Wait until the kernel has sent (and the peer acknowledged) everything written so far."""
    await writer.drain()
    sock = writer.get_extra_info("socket")
    try:
        import fcntl
        import termios
        buf = array("i", [0])
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, buf, True)
            if buf[0] == 0 and not writer.transport.get_write_buffer_size():
                return
            await asyncio.sleep(0.002)
    except (ImportError, OSError, AttributeError):
        await asyncio.sleep(0.05)


class Emulator:
    def __init__(self, quiet=False):
        self.quiet = quiet
        self.scenarios = {}
        self.counters = collections.Counter()
        self.log = []
        self.cache = StreamCache()
        self.connections = set()
        self.accepted = 0            # connections accepted so far: the request log's "connection"
        self.jobs = collections.OrderedDict()    # async invocations: arn -> summary
        self.log_bodies = False
        self.unaccepting = []        # listeners (and the sockets that fill their queues) of /__emulator/unaccepting
        self.sent_logs = set()       # HTTP/2 streams whose sent_bytes_b64 is brought up to date at each log read

    # ---- responses

    def base_headers(self, request_id):
        return [("x-amzn-RequestId", request_id), ("Date", http_date())]

    @staticmethod
    def keep_alive(req):
        return req.version != "HTTP/1.0" and (req.header("connection") or "").lower() != "close"

    def send(self, writer, req, status, headers, body, keep=True):
        keep = keep and self.keep_alive(req)
        if not any(k == "x-amzn-RequestId" for k, _ in headers):
            headers = self.base_headers(new_request_id()) + list(headers)
        headers = list(headers) + [("Content-Length", str(len(body))),
                                   ("Connection", "keep-alive" if keep else "close")]
        writer.write(response_head(status, headers) + body)
        return keep

    def send_error(self, writer, req, request_id, err):
        headers = self.base_headers(request_id) + [
            ("Content-Type", "application/json"),
            ("x-amzn-ErrorType", "%s:%s" % (err.code, err.uri))] + err.headers
        return self.send(writer, req, err.status, headers, jdump({"message": err.message}))

    def record(self, entry):
        if len(self.log) >= LOG_LIMIT:
            del self.log[:LOG_LIMIT // 10]
        self.log.append(entry)

    def access(self, req, status, t0):
        if not self.quiet:
            sys.stderr.write("emulator: %s %s -> %s (%.1f ms)\n" % (
                req.method, req.target.decode("latin-1"), status, (time.monotonic() - t0) * 1000))

    # ---- control API (no auth)

    def control(self, req, writer):
        path = req.raw_path.decode("latin-1")
        ok = jdump({"ok": True})
        jh = [("Content-Type", "application/json")]
        try:
            if path == "/__emulator/health" and req.method == "GET":
                return self.send(writer, req, 200, [("Content-Type", "text/plain")], b"ok")
            if path == "/__emulator/scenarios":
                if req.method == "POST":
                    try:
                        doc = json.loads(req.body.decode("utf-8") or "null")
                    except (UnicodeDecodeError, ValueError) as e:
                        raise HttpError(400, "ValidationException", "scenario is not JSON: %s" % e)
                    model_id, sc = validate_scenario(doc)
                    self.scenarios[model_id] = sc
                    self.counters.pop(model_id, None)
                    return self.send(writer, req, 200, jh, ok)
                if req.method == "DELETE":
                    self.scenarios.clear()
                    self.counters.clear()
                    self.log = []
                    self.jobs.clear()
                    self.log_bodies = False
                    self.close_unaccepting()
                    return self.send(writer, req, 200, jh, ok)
                if req.method == "GET":
                    return self.send(writer, req, 200, jh, jdump(self.scenarios))
            if path == "/__emulator/options" and req.method == "POST":
                try:
                    doc = json.loads(req.body.decode("utf-8") or "null")
                except (UnicodeDecodeError, ValueError) as e:
                    raise HttpError(400, "ValidationException", "options are not JSON: %s" % e)
                if not isinstance(doc, dict) or set(doc) - {"log_bodies"} or \
                        not isinstance(doc.get("log_bodies", False), bool):
                    raise HttpError(400, "ValidationException", 'options: {"log_bodies": true|false}')
                self.log_bodies = doc.get("log_bodies", self.log_bodies)
                return self.send(writer, req, 200, jh, ok)
            if path == "/__emulator/credentials" and req.method == "POST":
                # accept one more identity (keys minted by moto's STS or a fake IMDS, say)
                try:
                    doc = json.loads(req.body.decode("utf-8") or "null")
                except (UnicodeDecodeError, ValueError) as e:
                    raise HttpError(400, "ValidationException", "credentials are not JSON: %s" % e)
                if (not isinstance(doc, dict) or not isinstance(doc.get("access_key_id"), str)
                        or not isinstance(doc.get("secret_access_key"), str)
                        or not isinstance(doc.get("session_token", ""), (str, type(None)))):
                    raise HttpError(400, "ValidationException",
                                    "need access_key_id and secret_access_key (strings), session_token optional")
                CREDENTIALS[doc["access_key_id"]] = (doc["secret_access_key"], doc.get("session_token") or None)
                return self.send(writer, req, 200, jh, ok)
            if path == "/__emulator/unaccepting" and req.method == "POST":
                return self.send(writer, req, 200, jh, jdump({"port": self.open_unaccepting()}))
            if path == "/__emulator/requests" and req.method == "GET":
                for st in list(self.sent_logs):
                    st.sync_sent_log()
                return self.send(writer, req, 200, jh, jdump(self.log) if self.log else b"[]")
            raise HttpError(404, "UnknownOperationException", "no control route %s %s" % (req.method, path))
        except HttpError as err:
            return self.send_error(writer, req, new_request_id(), err)

    def open_unaccepting(self):
        """A listener that never accepts: backlog 0 and its queue filled by our own connects, so the
        kernel drops further SYNs and a client's connect hangs until its own timeout."""
        lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(0)
        port = lsock.getsockname()[1]
        socks = [lsock]
        for _ in range(3):
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.setblocking(False)
            try:
                c.connect(("127.0.0.1", port))
            except (BlockingIOError, InterruptedError):
                pass
            socks.append(c)
        self.unaccepting.append(socks)
        return port

    def close_unaccepting(self):
        for socks in self.unaccepting:
            for so in socks:
                so.close()
        self.unaccepting = []

    # ---- dispatch

    def handle_request(self, req, writer):
        """-> keep-alive flag when answered at once, or a coroutine that answers (and returns the flag)."""
        t0 = time.monotonic()
        if req.raw_path.startswith(b"/__emulator/"):
            return self.control(req, writer)
        request_id = new_request_id()
        entry = {"t": t0, "method": req.method, "path": req.raw_path.decode("latin-1"),
                 "query": req.raw_query.decode("latin-1"), "model_id": None, "route": "unknown",
                 "status": 0, "auth": "none", "headers": req.header_dict(), "body_len": len(req.body),
                 "request_id": request_id, "connection": getattr(writer, "conn_id", None),
                 "http_version": req.version.partition("/")[2]}
        route, key, labels = match_route(req)
        if route:
            entry["route"] = route
            entry["model_id"] = key
            if route == "get_async_invoke":
                entry["invocation_arn"] = labels[0]
        if self.log_bodies:
            entry["body"] = req.body[:65536].decode("utf-8", "replace")
        self.record(entry)          # at arrival: a request the client gave up on still counts, in its own test
        if route == "bidi_stream":                  # served by H2Handler; HTTP/1.1 cannot carry it
            err = validation("InvokeModelWithBidirectionalStream needs HTTP/2 (h2c with prior knowledge, "
                             "or ALPN h2 over TLS)")
            entry["status"] = 400
            self.access(req, 400, t0)
            return self.send_error(writer, req, request_id, err)
        try:
            entry["auth"] = verify_auth(req)
        except HttpError as err:
            entry["auth"] = "none" if req.header("authorization") is None else "bad"
            entry["status"] = err.status
            self.access(req, err.status, t0)
            return self.send_error(writer, req, request_id, err)
        if not route:
            err = HttpError(404, "UnknownOperationException", "The requested operation is not recognized.",
                            uri=CORAL_SERVICE)
            entry["status"] = 404
            self.access(req, 404, t0)
            return self.send_error(writer, req, request_id, err)

        model_id = entry["model_id"]
        sc = self.scenarios.get(model_id, {})
        if sc.get("log_body"):
            entry["body"] = req.body.decode("utf-8", "replace")
        self.counters[model_id] += 1
        attempt = self.counters[model_id]
        if sc.get("delay_ms"):
            return self.delayed(req, writer, entry, sc, attempt, request_id, t0)
        return self.respond(req, writer, entry, sc, attempt, request_id, t0)

    async def delayed(self, req, writer, entry, sc, attempt, request_id, t0):
        await asyncio.sleep(sc["delay_ms"] / 1000.0)
        result = self.respond(req, writer, entry, sc, attempt, request_id, t0)
        if asyncio.iscoroutine(result):
            result = await result
        return result

    def respond(self, req, writer, entry, sc, attempt, request_id, t0):
        model_id = entry["model_id"]
        if "fault_attempts" in sc and attempt > sc["fault_attempts"]:
            sc = {k: v for k, v in sc.items() if k not in STREAM_FAULTS}
        if attempt <= sc.get("reset_first", 0):
            self.access(req, "RST", t0)
            set_linger_reset(writer)
            return False
        if attempt <= sc.get("fail_first", 0):
            err = scripted_failure(sc, "Retry-After")
            status, extra = err.status, err.headers
            entry["status"] = status
            self.access(req, status, t0)
            if sc.get("fail_raw"):
                page = ("<html><head><title>%d</title></head><body><h1>%d %s</h1></body></html>\r\n"
                        % (status, status, REASONS.get(status, "Error"))).encode("latin-1")
                return self.send(writer, req, status, self.base_headers(request_id) + extra
                                 + [("Content-Type", "text/html")], page)
            return self.send_error(writer, req, request_id, err)

        base = model_id.split(":")[0]
        special = None
        if base.startswith("emulator.echo"):
            special = "echo"
        elif base.startswith("emulator.text"):
            special = "text"
        route = entry["route"]
        if route not in ("invoke", "stream"):
            special = None
        doc = None
        if special is None and req.method == "POST":
            try:
                doc = json.loads(req.body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as e:
                err = HttpError(400, "ValidationException",
                                "Malformed input request: %s, please reformat your input and try again." % e)
                entry["status"] = 400
                self.access(req, 400, t0)
                return self.send_error(writer, req, request_id, err)

        if route == "converse_stream":
            try:
                converse_blocks(sc, doc)              # a bad request gets its 400 before the stream starts
            except HttpError as err:
                entry["status"] = err.status
                self.access(req, err.status, t0)
                return self.send_error(writer, req, request_id, err)
        if route in OPERATIONS:
            try:
                status, body = OPERATIONS[route](self, req, doc, sc, entry, t0)
            except HttpError as err:
                entry["status"] = err.status
                self.access(req, err.status, t0)
                return self.send_error(writer, req, request_id, err)
            entry["status"] = status
            self.access(req, status, t0)
            return self.send(writer, req, status, self.base_headers(request_id) + [
                ("Content-Type", "application/json")], jdump(body))
        entry["status"] = 200
        self.access(req, 200, t0)
        if entry["route"] == "invoke":
            return self.invoke(req, writer, request_id, model_id, sc, special, doc, t0)
        return self.stream(req, writer, request_id, model_id, sc, special, doc, t0, route)

    def echo_doc(self, req, model_id):
        out = {"method": req.method, "path": req.raw_path.decode("latin-1"), "model_id": model_id,
               "query": req.raw_query.decode("latin-1"), "headers": req.header_dict(),
               "body": req.body.decode("utf-8", "replace")}
        try:
            req.body.decode("utf-8")
        except UnicodeDecodeError:
            out["body_base64"] = base64.b64encode(req.body).decode("ascii")
        return out

    def invoke(self, req, writer, request_id, model_id, sc, special, doc, t0):
        headers = self.base_headers(request_id)
        if special == "echo":
            body = jdump(self.echo_doc(req, model_id))
            return self.send(writer, req, 200, headers + [("Content-Type", "application/json")], body)
        if special == "text":
            return self.send(writer, req, 200, headers + [("Content-Type", "text/plain")],
                             b"plain text reply")
        last_user, in_tokens = analyse_body(doc)
        text = reply_text(sc, last_user)
        content, stop = sc.get("content"), sc.get("stop_reason", "end_turn")
        scripted = scripted_tool_reply(sc, doc, "invoke")
        if scripted:
            content, stop = scripted
        if content is None:
            content = [{"type": "text", "text": text}]
        out_tokens = content_words(content)
        reply = {"id": new_message_id(), "type": "message", "role": "assistant",
                 "model": response_model_name(model_id),
                 "content": content, "stop_reason": stop,
                 "stop_sequence": None, "usage": {"input_tokens": in_tokens, "output_tokens": out_tokens}}
        latency = max(1, int((time.monotonic() - t0) * 1000))
        headers += [("Content-Type", "application/json"),
                    ("X-Amzn-Bedrock-Invocation-Latency", str(latency)),
                    ("X-Amzn-Bedrock-Input-Token-Count", str(in_tokens)),
                    ("X-Amzn-Bedrock-Output-Token-Count", str(out_tokens))]
        for field, name in (("cache_read_tokens", "Read"), ("cache_write_tokens", "Write")):
            if field in sc:
                headers.append(("X-Amzn-Bedrock-Cache-%s-Input-Token-Count" % name, str(sc[field])))
        return self.send(writer, req, 200, headers, jdump(reply))

    # ---- streams

    async def stream(self, req, writer, request_id, model_id, sc, special, doc, t0, route="stream"):
        keep = self.keep_alive(req)
        extra = [] if route == "converse_stream" else [("X-Amzn-Bedrock-Content-Type", "application/json")]
        head = response_head(200, self.base_headers(request_id) + [
            ("Content-Type", sc.get("content_type", "application/vnd.amazon.eventstream"))] + extra + [
            ("Transfer-Encoding", "chunked"), ("Connection", "keep-alive" if keep else "close")])
        pad = sc.get("payload_pad")

        if sc.get("garbage"):
            writer.write(head)
            page = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
                    b"<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n")
            writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(page), page))
            await writer.drain()
            return keep

        state = {"first_byte": None}
        if route == "converse_stream":
            seq = converse_seq(sc, doc, pad, t0, state)
        elif special == "echo":
            frames = [chunk_frame(jdump(self.echo_doc(req, model_id)), pad if pad is not None else 13)]
            seq = FrameSeq([frames[0]], None, [])
            in_tokens = 0
        else:
            last_user, in_tokens = analyse_body(doc)
            text = reply_text(sc, last_user)
            scripted = scripted_tool_reply(sc, doc, "invoke")
            if scripted:
                middle = ContentBody(scripted[0], scripted[1], pad)
            elif sc.get("content") is not None:
                middle = ContentBody(sc["content"], sc.get("stop_reason", "end_turn"), pad)
            else:
                middle = await self.cache.get(text, sc.get("deltas"), pad)
            start = chunk_frame(jdump({"type": "message_start", "message": {
                "id": new_message_id(), "type": "message", "role": "assistant",
                "model": response_model_name(model_id), "content": [], "stop_reason": None,
                "stop_sequence": None, "usage": {"input_tokens": in_tokens, "output_tokens": 1}}}),
                pad if pad is not None else PAD_LENGTHS[0])
            last_index = middle.count + 1

            def stop_frame():
                now = time.monotonic()
                fb = state["first_byte"] or now
                metrics = {"inputTokenCount": in_tokens, "outputTokenCount": middle.output_tokens,
                           "invocationLatency": max(1, int((now - t0) * 1000)),
                           "firstByteLatency": max(1, int((fb - t0) * 1000))}
                if "cache_read_tokens" in sc:
                    metrics["cacheReadInputTokenCount"] = sc["cache_read_tokens"]
                if "cache_write_tokens" in sc:
                    metrics["cacheWriteInputTokenCount"] = sc["cache_write_tokens"]
                return chunk_frame(jdump({"type": "message_stop", "amazon-bedrock-invocationMetrics": metrics}),
                                   pad if pad is not None else PAD_LENGTHS[last_index % len(PAD_LENGTHS)])
            seq = FrameSeq([start], middle, [stop_frame])

        writer.write(head)
        if special != "echo":
            state["first_byte"] = time.monotonic()
        out = ChunkedOut(writer, sc.get("split_writes"))
        n = seq.count
        delay = sc.get("event_delay_ms") or sc.get("drip_ms") or 0
        silence_at = sc.get("silence_after_events")

        # where the stream stops early, and how
        end_at, end_how = n, None
        for field, how in (("reset_after_events", "reset"), ("exception_after_events", "exception"),
                           ("corrupt_crc_after_events", "corrupt"), ("truncate_after_events", "truncate"),
                           ("corrupt_prelude_after_events", "corrupt_prelude"),
                           ("huge_frame_after_events", "huge")):
            k = sc.get(field)
            if k is not None and (end_how is None or min(k, n) < end_at):
                end_at, end_how = min(k, n), how

        i = 0
        while i < end_at:
            if delay and i > 0:
                await out.flush()
                await asyncio.sleep(delay / 1000.0)
            if silence_at is not None and i == silence_at:
                await out.flush()
                await asyncio.sleep(sc.get("silence_ms", 0) / 1000.0)
            j = end_at if not delay else i + 1
            if silence_at is not None and i < silence_at < j:
                j = silence_at
            if j == n and i < n - 1 and seq.tail:
                j = n - 1                                  # the stop frame goes alone, built last
            for part in seq.parts(i, j):
                await out.write(part)
            i = j
        if silence_at is not None and silence_at == end_at:
            await out.flush()
            await asyncio.sleep(sc.get("silence_ms", 0) / 1000.0)

        if end_how == "reset":
            await out.flush()
            await wait_sent(writer)
            set_linger_reset(writer)
            return False
        if end_how == "exception":
            etype = sc.get("exception_type", "modelStreamErrorException")
            default = SERVICE_ERRORS.get(etype[:1].upper() + etype[1:], (0, "The model stream returned an error."))
            await out.write(exception_frame(etype, sc.get("exception_message", default[1])))
        elif end_how == "corrupt" and end_at < n:
            f = bytearray(seq.frame(end_at))
            f[-4:] = struct.pack(">I", struct.unpack(">I", bytes(f[-4:]))[0] ^ 0xFFFFFFFF)
            await out.write(bytes(f))
        elif end_how == "truncate" and end_at < n:
            f = seq.frame(end_at)
            await out.write(f[:len(f) // 2])
        elif end_how == "corrupt_prelude" and end_at < n:
            f = bytearray(seq.frame(end_at))
            f[8:12] = struct.pack(">I", struct.unpack(">I", bytes(f[8:12]))[0] ^ 0xFFFFFFFF)
            await out.write(bytes(f))
        elif end_how == "huge":
            prelude = struct.pack(">II", HUGE_FRAME_BYTES, 0)
            await out.write(prelude + struct.pack(">I", zlib.crc32(prelude)) + b"\0" * 4096)
        await out.finish()
        return keep


class HttpConnection(asyncio.Protocol):
    """One client connection. Requests are parsed from the buffer in data_received and answered
    right there when nothing has to wait (no task, no extra loop turn); a request that must wait
    (a delay, a stream) runs as a task, and the next pipelined request is taken when it ends. The
    handlers see a StreamWriter-like surface: write(), drain(), get_extra_info(), transport."""

    def __init__(self, emu):
        self.emu = emu
        self.transport = None
        self.buf = bytearray()
        self.pending = None          # (request, content length, chunked) while its body arrives
        self.busy = False
        self.closed = False
        self.paused = False
        self.eof = False
        self.waiters = []
        self.task = None
        self.h2 = None               # the H2Handler, once the client preface (or ALPN h2) was seen
        self.sniffing = True         # until the first bytes tell HTTP/1.1 from the HTTP/2 preface

    # -- asyncio.Protocol

    def connection_made(self, transport):
        self.transport = transport
        sock = transport.get_extra_info("socket")
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, AttributeError):
            pass
        self.emu.connections.add(self)
        self.emu.accepted += 1
        self.conn_id = self.emu.accepted
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None and ssl_object.selected_alpn_protocol() == "h2":
            self.start_h2()

    def start_h2(self):
        self.sniffing = False
        try:
            self.h2 = H2Handler(self)
        except ImportError as e:
            sys.stderr.write("emulator: HTTP/2 needs python3-h2 (%s); closing the connection\n" % e)
            self.transport.abort()

    def connection_lost(self, exc):
        self.closed = True
        self.emu.connections.discard(self)
        self._wake(ConnectionResetError("connection lost"))
        if self.h2:
            self.h2.connection_lost()

    def pause_writing(self):
        self.paused = True

    def resume_writing(self):
        self.paused = False
        self._wake(None)
        if self.h2:
            self.h2.resume()
        elif not self.busy:
            self.process()

    def data_received(self, data):
        if self.h2:
            self.h2.data_received(data)
            return
        self.buf += data
        if self.sniffing:
            n = min(len(self.buf), len(H2_PREFACE))
            if self.buf[:n] == H2_PREFACE[:n]:
                if n < len(H2_PREFACE):
                    return                           # wait: maybe the HTTP/2 preface
                data = bytes(self.buf)
                self.buf.clear()
                self.start_h2()
                if self.h2:
                    self.h2.data_received(data)
                return
            self.sniffing = False
        if not self.busy:
            self.process()

    def eof_received(self):
        self.eof = True
        if self.h2:
            return None
        if self.busy:
            return True              # keep the write side open until the answer is out
        return None

    # -- the writer surface

    def _wake(self, exc):
        waiters, self.waiters = self.waiters, []
        for w in waiters:
            if not w.done():
                if exc is None:
                    w.set_result(None)
                else:
                    w.set_exception(exc)

    def write(self, data):
        if not self.closed and not self.transport.is_closing():
            self.transport.write(data)

    async def drain(self):
        if self.closed or self.transport.is_closing():
            raise ConnectionResetError("connection lost")
        if self.paused:
            w = asyncio.get_running_loop().create_future()
            self.waiters.append(w)
            await w

    def get_extra_info(self, name, default=None):
        return self.transport.get_extra_info(name, default)

    def close(self):
        if not self.closed:
            self.transport.close()

    # -- requests

    def process(self):
        while not (self.busy or self.closed or self.paused):
            try:
                req = self.parse()
            except BadRequest as e:
                body = jdump({"message": str(e)})
                self.write(response_head(400, self.emu.base_headers(new_request_id()) + [
                    ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                    ("Connection", "close")]) + body)
                self.close()
                return
            if req is None:
                if self.eof:
                    self.close()
                return
            try:
                result = self.emu.handle_request(req, self)
            except Exception:                        # a bug here must not kill the server
                traceback.print_exc()
                self.transport.abort()
                return
            if asyncio.iscoroutine(result):
                self.busy = True
                self.task = asyncio.ensure_future(self.run(result))
                return
            if not result:
                self.close()
                return

    async def run(self, coro):
        keep = False
        try:
            keep = await coro
        except (ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            self.close()
            return
        except Exception:
            traceback.print_exc()
        self.busy = False
        self.task = None
        if not keep:
            self.close()
        elif not self.closed:
            self.process()

    def parse(self):
        """-> the next complete Request, or None until more bytes arrive."""
        buf = self.buf
        if self.pending is None:
            while buf[:2] == b"\r\n":                  # tolerate stray CRLF between requests
                del buf[:2]
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > HEAD_LIMIT:
                    raise BadRequest("request head too large")
                return None
            req = parse_head(bytes(buf[:end]))
            del buf[:end + 4]
            chunked = "chunked" in (req.header("transfer-encoding") or "").lower()
            length = 0
            cl = req.header("content-length")
            if not chunked and cl is not None:
                try:
                    length = int(cl.split(",")[0].strip())
                except ValueError:
                    raise BadRequest("bad Content-Length")
                if length < 0 or length > MAX_BODY:
                    raise BadRequest("bad Content-Length")
            if (chunked or length) and (req.header("expect") or "").lower() == "100-continue":
                self.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.pending = (req, length, chunked)
        req, length, chunked = self.pending
        if chunked:
            body, used = parse_chunked(buf)
            if body is None:
                return None
        else:
            if len(buf) < length:
                return None
            body, used = bytes(buf[:length]), length
        del buf[:used]
        req.body = body
        self.pending = None
        return req


def parse_head(head):
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        raise BadRequest("malformed request line")
    headers = []
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t") and headers:          # obsolete line folding
            n, v = headers[-1]
            headers[-1] = (n, v + b" " + line.strip())
            continue
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip():
            raise BadRequest("malformed header line")
        headers.append((name.decode("latin-1").lower(), value.strip(b" \t")))
    return Request(parts[0].decode("latin-1"), parts[1], parts[2].decode("latin-1"), headers)


def parse_chunked(buf):
    """A complete chunked body at the start of buf -> (body, bytes used), or (None, 0) if incomplete."""
    body, pos = bytearray(), 0
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None, 0
        try:
            size = int(bytes(buf[pos:eol]).split(b";")[0].strip(), 16)
        except ValueError:
            raise BadRequest("bad chunk size")
        pos = eol + 2
        if size == 0:
            while True:                                      # trailers, up to the empty line
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    return None, 0
                empty = eol == pos
                pos = eol + 2
                if empty:
                    return bytes(body), pos
        if len(buf) < pos + size + 2:
            return None, 0
        if buf[pos + size:pos + size + 2] != b"\r\n":
            raise BadRequest("bad chunk terminator")
        body += buf[pos:pos + size]
        if len(body) > MAX_BODY:
            raise BadRequest("body too large")
        pos += size + 2


class FrameSeq:
    """Frames of one stream: head frames (bytes), a cached StreamBody, tail frame builders."""

    def __init__(self, head, middle, tail):
        self.head, self.middle, self.tail = head, middle, tail
        self.mcount = middle.count if middle else 0
        self.count = len(head) + self.mcount + len(tail)

    def frame(self, i):
        return b"".join(bytes(p) for p in self.parts(i, i + 1))

    def parts(self, i, j):
        """Buffers (bytes / memoryview) covering frames [i, j)."""
        out = []
        h, m = len(self.head), self.mcount
        for k in range(i, min(j, h)):
            out.append(self.head[k])
        a, b = max(i, h) - h, min(j, h + m) - h
        if a < b:
            off = self.middle.offsets
            out.append(memoryview(self.middle.blob)[off[a]:off[b]])
        for k in range(max(i, h + m), j):
            t = self.tail[k - h - m]
            out.append(t() if callable(t) else t)
        return out


class ChunkedOut:
    """Writes a chunked body in blocks of WRITE_BLOCK (or split_writes bytes, one chunk per piece)."""

    def __init__(self, writer, split):
        self.w = writer
        self.split = split
        self.pending = []
        self.pending_len = 0
        self.carry = b""

    async def _pieces(self, data, final):
        # split mode: every piece is its own HTTP chunk and its own send(); a short tail waits for
        # the next write so pieces stay exactly `split` bytes long across frame boundaries
        data = bytes(self.carry) + bytes(data)
        n = self.split
        end = len(data) if final else len(data) - len(data) % n
        for k in range(0, end, n):
            piece = data[k:min(k + n, end)]
            self.w.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
            await self.w.drain()
            await asyncio.sleep(0)
        self.carry = data[end:]

    async def write(self, data):
        if self.split:
            await self._pieces(data, False)
            return
        mv = memoryview(data)
        while len(mv):
            room = WRITE_BLOCK - self.pending_len
            take = mv[:room]
            self.pending.append(take)
            self.pending_len += len(take)
            mv = mv[len(take):]
            if self.pending_len >= WRITE_BLOCK:
                await self.flush()

    async def flush(self):
        if self.split and self.carry:
            await self._pieces(b"", True)
        if self.pending_len:
            self.w.write(b"".join([b"%x\r\n" % self.pending_len] + self.pending + [b"\r\n"]))
            self.pending, self.pending_len = [], 0
        await self.w.drain()

    async def finish(self):
        if self.split and self.carry:
            await self._pieces(b"", True)
        if self.pending_len:
            self.w.write(b"".join([b"%x\r\n" % self.pending_len] + self.pending + [b"\r\n0\r\n\r\n"]))
            self.pending, self.pending_len = [], 0
        else:
            self.w.write(b"0\r\n\r\n")
        await self.w.drain()


# --------------------------------------------------------------------------
# HTTP/2: InvokeModelWithBidirectionalStream (h2c with prior knowledge; ALPN "h2" with --tls-h2)

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
STREAMING_EVENTS = "STREAMING-AWS4-HMAC-SHA256-EVENTS"
DEBIAN_DIST_PACKAGES = "/usr/lib/python3/dist-packages"
H2_OUT_HIGH = 256 * 1024             # an output task waits while this much is queued on its stream
H2_SENT_LOG = 1024 * 1024            # sent_bytes_b64 keeps this much of each stream's DATA
ES_MAX_MESSAGE = 16 * 1024 * 1024 + 128 * 1024
BIDI_RX = re.compile(rb"^/model/([^/]+)/invoke-with-bidirectional-stream$")

_h2 = []


def load_h2():
    """The h2 package (python3-h2, pure Python), imported on first use. A Python without it (a pyenv
    one, say) falls back to Debian's /usr/lib/python3/dist-packages, appended to sys.path (last), where
    python3-h2, python3-hpack and python3-hyperframe live. Raises ImportError if neither has it."""
    if not _h2:
        try:
            import h2.connection  # noqa: F401
        except ImportError:
            if os.path.isdir(DEBIAN_DIST_PACKAGES) and DEBIAN_DIST_PACKAGES not in sys.path:
                sys.path.append(DEBIAN_DIST_PACKAGES)
            import h2.connection  # noqa: F401
        import h2.config
        import h2.errors
        import h2.events
        import h2.exceptions
        import h2.settings
        _h2.append(h2)
    return _h2[0]


class EnvelopeError(Exception):
    pass


def es_parse_headers(raw):
    """-> {name: (type, value, the header's encoded bytes)} of an event-stream header block."""
    out, pos, n = {}, 0, len(raw)
    while pos < n:
        start = pos
        nlen = raw[pos]
        pos += 1
        if pos + nlen + 1 > n:
            raise EnvelopeError("truncated header name")
        name = raw[pos:pos + nlen].decode("utf-8", "replace")
        pos += nlen
        t = raw[pos]
        pos += 1
        if t in (0, 1):
            v = t == 0
        elif t in (2, 3, 4, 5, 8):
            size = {2: 1, 3: 2, 4: 4, 5: 8, 8: 8}[t]
            if pos + size > n:
                raise EnvelopeError("truncated header value")
            v = int.from_bytes(raw[pos:pos + size], "big", signed=True)
            pos += size
        elif t in (6, 7):
            if pos + 2 > n:
                raise EnvelopeError("truncated header value")
            vlen = struct.unpack_from(">H", raw, pos)[0]
            pos += 2
            if pos + vlen > n:
                raise EnvelopeError("truncated header value")
            v = bytes(raw[pos:pos + vlen])
            if t == 7:
                v = v.decode("utf-8", "replace")
            pos += vlen
        elif t == 9:
            if pos + 16 > n:
                raise EnvelopeError("truncated header value")
            v = bytes(raw[pos:pos + 16])
            pos += 16
        else:
            raise EnvelopeError("unknown header value type %d" % t)
        out[name] = (t, v, bytes(raw[start:pos]))
    return out


def es_decode_one(buf):
    """The first message of buf -> ((headers, payload), bytes used), or (None, 0) while incomplete.
    Raises EnvelopeError on a bad prelude, length or CRC."""
    if len(buf) < 12:
        return None, 0
    total, hlen, pcrc = struct.unpack_from(">III", buf, 0)
    if zlib.crc32(bytes(buf[:8])) != pcrc:
        raise EnvelopeError("prelude CRC mismatch")
    if total < 16 or hlen > total - 16 or total > ES_MAX_MESSAGE:
        raise EnvelopeError("bad message length (total %d, headers %d)" % (total, hlen))
    if len(buf) < total:
        return None, 0
    msg = bytes(buf[:total])
    if zlib.crc32(msg[:-4]) != struct.unpack(">I", msg[-4:])[0]:
        raise EnvelopeError("message CRC mismatch")
    return (es_parse_headers(msg[12:12 + hlen]), msg[12 + hlen:-4]), total


class H2Stream:
    """One HTTP/2 stream: a bidirectional session (kind "bidi") or a request answered whole by the
    HTTP/1.1 handlers (kind "buffered")."""

    def __init__(self, sid, req):
        self.sid, self.req = sid, req
        self.kind = "buffered"
        self.body = bytearray()          # buffered: the request body
        self.inbuf = bytearray()         # bidi: input not yet parsed into envelopes
        self.input_stopped = False       # bidi: end envelope seen, input error, or response over
        self.items = collections.deque()     # bidi: ("event", doc) | ("end",) | ("error", type, msg)
        self.item_waiter = None
        self.room_waiter = None
        self.out = bytearray()           # response DATA waiting for flow-control window
        self.end_pending = False
        self.end_sent = False
        self.headers_sent = False
        self.remote_ended = False
        self.closed = False              # reset (either side) or connection gone: nothing more is sent
        self.entry = None
        self.chain = None                # bidi: (signing key cache args, prior signature)
        self.task = None
        self.sent_log = None

    def sync_sent_log(self, final=False):
        """Bring the log entry's sent_bytes_b64 up to date (encoded at log reads and at the end only)."""
        if self.sent_log is not None:
            self.entry["sent_bytes_b64"] = base64.b64encode(self.sent_log).decode("ascii")
            if final:
                self.sent_log = None
                self.emu.sent_logs.discard(self)

    def push(self, item):
        self.items.append(item)
        w, self.item_waiter = self.item_waiter, None
        if w is not None and not w.done():
            w.set_result(None)

    async def next_item(self):
        while not self.items:
            if self.closed:
                return None
            self.item_waiter = asyncio.get_running_loop().create_future()
            await self.item_waiter
        return self.items.popleft()

    def wake(self):
        for name in ("item_waiter", "room_waiter"):
            w = getattr(self, name)
            setattr(self, name, None)
            if w is not None and not w.done():
                w.set_result(None)


class _NoSocket:
    def setsockopt(self, *a):
        pass


class BufferedWriter:
    """The writer surface of HttpConnection for a request that arrived over HTTP/2: the HTTP/1.1
    handlers write their reply here, and H2Handler sends it (whole) once they return."""

    def __init__(self, conn_id):
        self.conn_id = conn_id
        self.buf = bytearray()
        self.reset = False
        self.transport = self

    def write(self, data):
        self.buf += data

    async def drain(self):
        pass

    def get_extra_info(self, name, default=None):
        return _NoSocket() if name == "socket" else default

    def abort(self):
        self.reset = True

    def is_closing(self):
        return self.reset

    def get_write_buffer_size(self):
        return 0


def parse_http1_reply(data):
    """An HTTP/1.1 reply written by the handlers -> (status, [(name, value)], body); 1xx skipped."""
    while True:
        end = data.find(b"\r\n\r\n")
        lines = data[:end].split(b"\r\n")
        data = data[end + 4:]
        status = int(lines[0].split(b" ")[1])
        if status >= 200:
            break
    headers, chunked = [], False
    for line in lines[1:]:
        k, _, v = line.decode("latin-1").partition(":")
        k, v = k.strip().lower(), v.strip()
        if k == "transfer-encoding":
            chunked = "chunked" in v.lower()
        if k in ("connection", "keep-alive", "transfer-encoding", "content-length"):
            continue
        headers.append((k, v))
    if chunked:
        body, _ = parse_chunked(data)
        body = body if body is not None else b""
    else:
        body = bytes(data)
    return status, headers, body


class H2Handler:
    """The HTTP/2 side of one connection (h2, sans-IO): HttpConnection hands it every byte once the
    client preface (or ALPN "h2") has been seen."""

    def __init__(self, conn):
        h2 = self.h2mod = load_h2()
        self.c = conn
        self.emu = conn.emu
        cfg = h2.config.H2Configuration(client_side=False, header_encoding=None)
        self.h2 = h2.connection.H2Connection(config=cfg)
        sc = h2.settings.SettingCodes
        self.h2.local_settings = h2.settings.Settings(client=False, initial_values={
            sc.MAX_CONCURRENT_STREAMS: 1000, sc.MAX_HEADER_LIST_SIZE: 1 << 20,
            sc.INITIAL_WINDOW_SIZE: 1 << 20})
        self.h2.initiate_connection()
        self.h2.increment_flow_control_window(16 << 20)
        self.streams = {}
        self.dead = False
        self.flush()

    # -- bytes in and out

    def flush(self):
        data = self.h2.data_to_send()
        if data:
            self.c.write(data)

    def data_received(self, data):
        if self.dead:
            return
        ev_mod = self.h2mod.events
        try:
            events = self.h2.receive_data(data)
        except self.h2mod.exceptions.ProtocolError:
            self.flush()
            self.dead = True
            self.c.close()
            return
        for ev in events:
            try:
                if isinstance(ev, ev_mod.RequestReceived):
                    self.on_request(ev)
                elif isinstance(ev, ev_mod.DataReceived):
                    self.on_data(ev)
                elif isinstance(ev, ev_mod.StreamEnded):
                    self.on_end(ev.stream_id)
                elif isinstance(ev, ev_mod.StreamReset):
                    self.on_reset(ev.stream_id)
                elif isinstance(ev, (ev_mod.WindowUpdated, ev_mod.RemoteSettingsChanged)):
                    self.pump_all()
                elif isinstance(ev, ev_mod.ConnectionTerminated):
                    self.dead = True
            except Exception:                    # a bug here must not kill the server
                traceback.print_exc()
                self.reset(getattr(ev, "stream_id", 0))
        self.flush()
        if self.dead:
            self.c.close()

    def resume(self):
        self.pump_all()

    def connection_lost(self):
        self.dead = True
        for st in list(self.streams.values()):
            self.close_stream(st)
        self.streams.clear()

    # -- streams

    def close_stream(self, st):
        st.sync_sent_log(final=True)
        st.closed = True
        st.input_stopped = True
        st.out.clear()
        st.wake()
        if st.entry is not None and not st.entry.get("ended"):
            st.entry["ended"] = True
            st.entry["reset"] = True
        self.streams.pop(st.sid, None)

    def reset(self, sid, code=None):
        st = self.streams.get(sid)
        if st is not None and st.entry is not None and not st.entry.get("ended"):
            st.entry["ended"] = True
            st.entry["reset"] = True
        try:
            self.h2.reset_stream(sid, code if code is not None else self.h2mod.errors.ErrorCodes.INTERNAL_ERROR)
        except Exception:
            pass
        if st is not None:
            self.close_stream(st)
        self.flush()

    def on_request(self, ev):
        pseudo, headers = {}, []
        for k, v in ev.headers:
            if k[:1] == b":":
                pseudo[k] = v
            else:
                headers.append((k.decode("latin-1").lower(), v))
        if b":authority" in pseudo and not any(k == "host" for k, _ in headers):
            headers.append(("host", pseudo[b":authority"]))    # SigV4 signs the host as :authority
        req = Request(pseudo.get(b":method", b"GET").decode("latin-1"), pseudo.get(b":path", b"/"), "HTTP/2",
                      headers)
        st = H2Stream(ev.stream_id, req)
        self.streams[ev.stream_id] = st
        if req.method == "POST" and BIDI_RX.match(req.raw_path):
            st.kind = "bidi"
            self.start_bidi(st)

    def on_data(self, ev):
        self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        st = self.streams.get(ev.stream_id)
        if st is None:
            return
        if st.entry is not None:
            st.entry["body_len"] += len(ev.data)
        if st.kind == "buffered":
            st.body += ev.data
            if len(st.body) > MAX_BODY:
                self.reset(st.sid, self.h2mod.errors.ErrorCodes.REFUSED_STREAM)
        elif not st.input_stopped:
            st.inbuf += ev.data
            self.parse_input(st)

    def on_end(self, sid):
        st = self.streams.get(sid)
        if st is None:
            return
        st.remote_ended = True
        if st.kind == "buffered":
            st.task = asyncio.ensure_future(self.run_buffered(st))
        elif not st.input_stopped:
            self.input_error(st, "the input ended without its end-of-input event" if not st.inbuf
                             else "the input ended inside an event (%d bytes)" % len(st.inbuf))
        self.maybe_forget(st)

    def on_reset(self, sid):
        st = self.streams.get(sid)
        if st is not None:
            if st.entry is not None:
                st.entry["client_reset"] = True
            if st.task is not None:
                st.task.cancel()
            self.close_stream(st)

    def maybe_forget(self, st):
        if st.remote_ended and (st.end_sent or st.closed):
            self.streams.pop(st.sid, None)

    # -- sending

    def send_headers(self, st, status, headers):
        hs = [(":status", str(status))] + [(k.lower(), v) for k, v in headers]
        self.h2.send_headers(st.sid, hs)
        st.headers_sent = True
        self.flush()

    def send(self, st, data, end=False):
        if st.closed:
            return
        st.out += data
        if end:
            st.end_pending = True
        self.pump(st)

    def pump_all(self):
        for st in list(self.streams.values()):
            self.pump(st)

    def pump(self, st):
        if st.closed or self.dead:
            return
        h2 = self.h2
        try:
            while st.out and not self.c.paused:
                win = h2.local_flow_control_window(st.sid)
                if win <= 0:
                    break
                n = min(win, h2.max_outbound_frame_size, len(st.out))
                chunk = bytes(st.out[:n])
                del st.out[:n]
                last = not st.out and st.end_pending          # END_STREAM rides on the last DATA frame
                h2.send_data(st.sid, chunk, end_stream=last)
                if st.sent_log is not None and len(st.sent_log) < H2_SENT_LOG:
                    st.sent_log += chunk[:H2_SENT_LOG - len(st.sent_log)]
                if last:
                    st.end_sent = True
                    if st.entry is not None:
                        st.entry["ended"] = True
                        st.sync_sent_log(final=True)
            if not st.out and st.end_pending and not st.end_sent:
                h2.end_stream(st.sid)
                st.end_sent = True
                if st.entry is not None:
                    st.entry["ended"] = True
                    st.sync_sent_log(final=True)
        except self.h2mod.exceptions.StreamClosedError:
            self.close_stream(st)
        self.flush()
        if len(st.out) < H2_OUT_HIGH or st.closed:
            w, st.room_waiter = st.room_waiter, None
            if w is not None and not w.done():
                w.set_result(None)
        if st.end_sent:
            st.input_stopped = True
            self.maybe_forget(st)

    async def room(self, st, limit=H2_OUT_HIGH):
        """Wait until at most `limit` bytes are queued on the stream (0: all sent)."""
        while len(st.out) > limit and not st.closed and not self.dead:
            st.room_waiter = asyncio.get_running_loop().create_future()
            await st.room_waiter

    def send_error(self, st, err, request_id):
        st.input_stopped = True
        self.send_headers(st, err.status, [("content-type", "application/json"),
                                           ("x-amzn-errortype", "%s:%s" % (err.code, err.uri)),
                                           ("x-amzn-requestid", request_id), ("date", http_date())]
                          + [(k, v) for k, v in err.headers])
        self.send(st, jdump({"message": err.message}), end=True)

    # -- non-bidi requests: the HTTP/1.1 handlers, their reply sent whole

    async def run_buffered(self, st):
        req = st.req
        req.body = bytes(st.body)
        w = BufferedWriter(self.c.conn_id)
        try:
            result = self.emu.handle_request(req, w)
            if asyncio.iscoroutine(result):
                await result
        except asyncio.CancelledError:
            return
        except (ConnectionError, OSError):
            pass
        except Exception:
            traceback.print_exc()
            w.reset = True
        if st.closed or self.dead:
            return
        if w.reset or not w.buf:
            self.reset(st.sid)
            return
        status, headers, body = parse_http1_reply(bytes(w.buf))
        self.send_headers(st, status, headers + [("content-length", str(len(body)))])
        self.send(st, body, end=True)

    # -- InvokeModelWithBidirectionalStream

    def start_bidi(self, st):
        emu, req = self.emu, st.req
        t0 = time.monotonic()
        request_id = new_request_id()
        model_id = urllib.parse.unquote(BIDI_RX.match(req.raw_path).group(1).decode("latin-1"))
        entry = {"t": t0, "method": req.method, "path": req.raw_path.decode("latin-1"),
                 "query": req.raw_query.decode("latin-1"), "model_id": model_id, "route": "bidi_stream",
                 "status": 0, "auth": "none", "headers": req.header_dict(), "body_len": 0,
                 "request_id": request_id, "connection": self.c.conn_id, "http_version": "2",
                 "input_events": 0, "input_ended": False, "input_error": None, "ended": False}
        if emu.log_bodies:
            entry["inputs"] = []
            entry["sent_bytes_b64"] = ""
            st.sent_log = bytearray()
            st.emu = emu
            emu.sent_logs.add(st)
        st.entry = entry
        emu.record(entry)
        auth = req.header("authorization")
        try:
            if auth is not None and auth[:7].lower() == "bearer ":
                entry["auth"] = "bearer"
                raise HttpError(403, "AccessDeniedException",
                                "InvokeModelWithBidirectionalStream does not accept Bedrock API keys: "
                                "sign the request with SigV4")
            try:
                entry["auth"] = verify_auth(req, payload_hash=STREAMING_EVENTS)
            except HttpError:
                entry["auth"] = "none" if auth is None else "bad"
                raise
            if req.header("x-amz-content-sha256") != STREAMING_EVENTS:
                raise validation("x-amz-content-sha256 must be %s" % STREAMING_EVENTS)
            ctype = (req.header("content-type") or "").split(";")[0].strip().lower()
            if ctype != "application/vnd.amazon.eventstream":
                raise validation("Content-Type must be application/vnd.amazon.eventstream")
        except HttpError as err:
            entry["status"] = err.status
            st.input_stopped = True
            self.access(req, err.status, t0)
            self.send_error(st, err, request_id)
            return
        info = req.auth_info
        st.chain = [info["secret"], info["region"], info["service"], info["signature"]]
        sc = emu.scenarios.get(model_id, {})
        emu.counters[model_id] += 1
        attempt = emu.counters[model_id]
        if "fault_attempts" in sc and attempt > sc["fault_attempts"]:
            sc = {k: v for k, v in sc.items() if k not in STREAM_FAULTS}
        if attempt <= sc.get("fail_first", 0) or attempt <= sc.get("reset_first", 0):
            st.input_stopped = True                  # this attempt's input is read and dropped
        st.task = asyncio.ensure_future(self.run_bidi(st, sc, attempt, request_id, t0))

    def access(self, req, status, t0):
        self.emu.access(req, status, t0)

    def input_error(self, st, message):
        st.entry["input_error"] = message
        st.input_stopped = True
        st.inbuf.clear()
        st.push(("error", "validationException", message))

    def parse_input(self, st):
        while not st.input_stopped:
            try:
                msg, used = es_decode_one(st.inbuf)
                if msg is None:
                    return
                del st.inbuf[:used]
                item = self.verify_envelope(st, *msg)
            except EnvelopeError as e:
                self.input_error(st, "input event %d: %s" % (st.entry["input_events"], e))
                return
            if item is None:
                st.entry["input_ended"] = True
                st.input_stopped = True
                st.inbuf.clear()
                st.push(("end",))
                return
            st.entry["input_events"] += 1
            if "inputs" in st.entry:
                st.entry["inputs"].append(item)
            st.push(("event", item))

    def verify_envelope(self, st, headers, payload):
        """Check one envelope's :chunk-signature against the chain -> the user's JSON doc, or None for
        the end-of-input envelope. Raises EnvelopeError."""
        sig, date = headers.get(":chunk-signature"), headers.get(":date")
        if sig is None or sig[0] != 6 or len(sig[1]) != 32:
            raise EnvelopeError("no :chunk-signature header (32 bytes)")
        if date is None or date[0] != 8:
            raise EnvelopeError("no :date header (timestamp)")
        secret, region, service, prior = st.chain
        amz = _amz_stamp(date[1] // 1000)
        scope = "%s/%s/%s/aws4_request" % (amz[:8], region, service)
        sts = "\n".join(("AWS4-HMAC-SHA256-PAYLOAD", amz, scope, prior, hashlib.sha256(date[2]).hexdigest(),
                         hashlib.sha256(payload).hexdigest()))
        want = hmac.new(signing_key(secret, amz[:8], region, service), sts.encode("ascii"), hashlib.sha256).digest()
        if not hmac.compare_digest(want, sig[1]):
            raise EnvelopeError("the chunk signature does not match (" + MSG_SIGNATURE_MISMATCH + ")")
        st.chain[3] = want.hex()
        if not payload:
            return None
        inner, used = es_decode_one(payload)
        if inner is None or used != len(payload):
            raise EnvelopeError("the envelope's payload is not one event-stream message")
        ih, ipayload = inner
        mtype, etype = ih.get(":message-type"), ih.get(":event-type")
        if mtype is None or mtype[1] != "event" or etype is None or etype[1] != "chunk":
            raise EnvelopeError("the input message is not a chunk event")
        try:
            data = base64.b64decode(json.loads(ipayload.decode("utf-8"))["bytes"], validate=True)
            return json.loads(data.decode("utf-8"))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
            raise EnvelopeError("the chunk is not {\"bytes\": base64 of JSON}: %s" % e)

    async def run_bidi(self, st, sc, attempt, request_id, t0):
        entry, req = st.entry, st.req
        try:
            if sc.get("delay_ms"):
                await asyncio.sleep(sc["delay_ms"] / 1000.0)
            if st.closed or self.dead:
                return
            if attempt <= sc.get("reset_first", 0):
                self.access(req, "RST", t0)
                self.reset(st.sid)
                return
            if attempt <= sc.get("fail_first", 0):
                err = scripted_failure(sc, "retry-after")
                entry["status"] = err.status
                self.access(req, err.status, t0)
                self.send_error(st, err, request_id)
                return
            entry["status"] = 200
            self.access(req, 200, t0)
            self.send_headers(st, 200, [("content-type", "application/vnd.amazon.eventstream"),
                                        ("x-amzn-requestid", request_id), ("date", http_date())])
            out = BidiOutput(self, st, sc)
            if not await out.fault():                  # exception/reset_after_events 0
                return
            repeat = sc.get("echo_repeat")
            pad = sc.get("payload_pad")
            index = 0
            while True:
                item = await st.next_item()
                if item is None or st.closed:
                    return
                if item[0] == "event":
                    for r in range(repeat if repeat is not None else 1):
                        doc = {"echo": item[1], "index": index}
                        if repeat is not None:
                            doc["repeat"] = r
                        if pad is not None:
                            doc["pad"] = pad_bytes(pad).decode("ascii")
                        if not await out.event(jdump(doc)):
                            return
                    index += 1
                elif item[0] == "end":
                    await out.event(jdump({"sessionEnd": {"inputEvents": index}}), end=True)
                    return
                else:
                    self.send(st, exception_frame(item[1], item[2]), end=True)
                    return
        except asyncio.CancelledError:
            pass
        except Exception:
            traceback.print_exc()
            self.reset(st.sid)
        finally:
            st.input_stopped = True         # the response is over: further input is dropped


class BidiOutput:
    """The output side of a session: chunk events, with the scenario's delays and faults."""

    def __init__(self, handler, st, sc):
        self.h, self.st = handler, st
        self.delay = sc.get("event_delay_ms") or 0
        self.sent = 0
        self.exc_at = sc.get("exception_after_events")
        self.reset_at = sc.get("reset_after_events")
        self.corrupt_at = sc.get("corrupt_crc_after_events")
        self.exc_type = sc.get("exception_type", "modelStreamErrorException")
        default = SERVICE_ERRORS.get(self.exc_type[:1].upper() + self.exc_type[1:],
                                     (0, "The model stream returned an error."))
        self.exc_message = sc.get("exception_message", default[1])

    async def fault(self):
        """The exception or reset due after this many output events (at once, not with the next
        event); False once the response has ended."""
        h, st = self.h, self.st
        if st.closed or h.dead:
            return False
        k = self.sent
        if self.reset_at is not None and k >= self.reset_at:
            await h.room(st, 0)                        # the events before go out first
            if not st.closed:
                h.reset(st.sid)
            return False
        if self.exc_at is not None and k >= self.exc_at:
            h.send(st, exception_frame(self.exc_type, self.exc_message), end=True)
            return False
        return True

    async def event(self, doc_bytes, end=False):
        """Send one output event (the last one with end); False once the response has ended (a fault,
        or the stream gone)."""
        h, st = self.h, self.st
        if self.delay:
            await asyncio.sleep(self.delay / 1000.0)
        if not await self.fault():
            return False
        k = self.sent
        frame = es_frame(CHUNK_HEADERS, b'{"bytes":"' + base64.b64encode(doc_bytes) + b'"}')
        if self.corrupt_at is not None and k >= self.corrupt_at:
            f = bytearray(frame)
            f[-4:] = struct.pack(">I", struct.unpack(">I", bytes(f[-4:]))[0] ^ 0xFFFFFFFF)
            h.send(st, bytes(f), end=True)
            return False
        h.send(st, frame, end=end)
        self.sent += 1
        await h.room(st)
        return not end and await self.fault()


_ID_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def new_request_id():
    h = "%032x" % random.getrandbits(128)
    return "%s-%s-4%s-%s-%s" % (h[:8], h[8:12], h[13:16], "89ab"[int(h[16], 16) & 3] + h[17:20], h[20:])


def new_message_id():
    return "msg_bdrk_01" + "".join(random.choices(_ID_ALPHABET, k=22))


# --------------------------------------------------------------------------
# Main

def raise_nofile_limit():
    try:
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = hard if hard != resource.RLIM_INFINITY else 65536
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, 65536), hard))
    except (ImportError, ValueError, OSError):
        pass


def watch_stdin(on_quit):
    """Call on_quit (from a thread) at EOF on stdin or at a line "quit": a launcher whose pipe
    other processes inherited cannot rely on EOF alone. The fakes beside this file use it too."""
    def run():
        seen = b""
        try:
            while True:
                data = os.read(0, 65536)
                if not data:
                    break
                seen = (seen + data)[-64:]
                if b"quit\n" in seen:
                    break
        except OSError:
            pass
        on_quit()
    threading.Thread(target=run, name="stdin-eof", daemon=True).start()


def write_port_file(path, port):
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)


async def serve(args):
    emu = Emulator(quiet=args.quiet)
    loop = asyncio.get_running_loop()
    tls = None
    if args.tls_cert:
        import ssl
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
        if args.tls_h2:
            load_h2()                                # fail now, not at the first connection
            tls.set_alpn_protocols(["h2", "http/1.1"])
    server = await loop.create_server(lambda: HttpConnection(emu), host="127.0.0.1", port=args.port,
                                      backlog=2048, ssl=tls)
    port = server.sockets[0].getsockname()[1]
    stop = loop.create_future()

    def request_stop(*_):
        if not stop.done():
            stop.set_result(None)

    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, request_stop)
        except (NotImplementedError, RuntimeError):
            pass
    if args.exit_on_stdin_eof:
        watch_stdin(lambda: loop.call_soon_threadsafe(request_stop))
    if args.parent_pid:
        async def watch_parent():
            while True:
                await asyncio.sleep(0.25)
                try:
                    os.kill(args.parent_pid, 0)
                except ProcessLookupError:
                    request_stop()
                    return
                except PermissionError:
                    pass
        loop.create_task(watch_parent())

    if args.port_file:
        write_port_file(args.port_file, port)
    if not args.quiet:
        sys.stderr.write("emulator listening on %s://127.0.0.1:%d\n" % ("https" if tls else "http", port))
        sys.stderr.flush()
    try:
        await stop
    finally:
        server.close()
        for conn in list(emu.connections):
            if conn.task:
                conn.task.cancel()
            conn.transport.abort()
        try:
            await asyncio.wait_for(server.wait_closed(), 1.0)
        except (asyncio.TimeoutError, Exception):
            pass


def main(argv=None):
    ap = argparse.ArgumentParser(description="Local Bedrock Runtime emulator (127.0.0.1 only)")
    ap.add_argument("--port", type=int, default=4566, help="port to listen on; 0 picks a free one")
    ap.add_argument("--port-file", help="write the port here (atomically) once listening")
    ap.add_argument("--exit-on-stdin-eof", action="store_true", help="exit when stdin reaches EOF")
    ap.add_argument("--parent-pid", type=int, help="exit when the process with this id has gone")
    ap.add_argument("--quiet", action="store_true", help="no banner and no access log on stderr")
    ap.add_argument("--tls-cert", help="serve https with this PEM certificate (chain)")
    ap.add_argument("--tls-key", help="the PEM private key of --tls-cert (default: in the same file)")
    ap.add_argument("--tls-h2", action="store_true", help="offer ALPN h2 (and http/1.1) on the TLS listener")
    args = ap.parse_args(argv)
    if args.tls_key and not args.tls_cert:
        ap.error("--tls-key needs --tls-cert")
    if args.tls_h2 and not args.tls_cert:
        ap.error("--tls-h2 needs --tls-cert")
    raise_nofile_limit()
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""boto3 against the same local emulator, for the ratio in `make bench`.

usage: bench_boto3.py ENDPOINT ACCESS_KEY SECRET_KEY
"""
import json
import resource
import struct
import sys
import time
import urllib.request
import zlib

import boto3
from botocore.config import Config
from botocore.eventstream import EventStreamBuffer

endpoint, key, secret = sys.argv[1:4]
MODEL = "anthropic.claude-3-sonnet-20240229-v1:0"
BODY = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
                   "messages": [{"role": "user", "content": "Hello, Claude!"}]})


def scenario(**fields):
    fields["model_id"] = MODEL
    req = urllib.request.Request(endpoint + "/__emulator/scenarios", data=json.dumps(fields).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req).read()


client = boto3.client("bedrock-runtime", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id=key, aws_secret_access_key=secret,
                      config=Config(retries={"max_attempts": 1}))

scenario()
for _ in range(100):
    client.invoke_model(modelId=MODEL, body=BODY)["body"].read()
n = 1000
t0, c0 = time.perf_counter(), time.process_time()
for _ in range(n):
    client.invoke_model(modelId=MODEL, body=BODY)["body"].read()
dt, cpu = time.perf_counter() - t0, time.process_time() - c0
print(f"boto3 invoke_model: {n / dt:.0f} requests/s, {cpu / n * 1e6:.1f} us client CPU per invoke")

N = 100000
scenario(deltas=N, text="tok")
resp = client.invoke_model_with_response_stream(modelId=MODEL, body=BODY)
for _ in resp["body"]:
    pass
t0 = time.perf_counter()
count = 0
resp = client.invoke_model_with_response_stream(modelId=MODEL, body=BODY)
for event in resp["body"]:
    json.loads(event["chunk"]["bytes"])
    count += 1
dt = time.perf_counter() - t0
print(f"boto3 stream: {count / dt:.0f} events/s")
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def frame(headers, payload):
    hb = b"".join(bytes([len(k)]) + k.encode() + b"\x07" + struct.pack(">H", len(v)) + v.encode()
                  for k, v in headers)
    total = 16 + len(hb) + len(payload)
    prelude = struct.pack(">II", total, len(hb))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + hb + payload
    return body + struct.pack(">I", zlib.crc32(body))


# botocore's event-stream decoder over the frames of bench_decode.c (three
# string headers, a 100-byte payload), fed in 16 KiB pieces as a response
# arrives; 5 MB, the rate is per byte
HEADERS = [(":event-type", "chunk"), (":content-type", "application/json"), (":message-type", "event")]
PATTERN = bytes(b'{"bytes":"eyJ0eXBlIjoiY29udGVudF9ibG9ja19kZWx0YSJ9"}'[i % 50] for i in range(100))
one = len(frame(HEADERS, PATTERN))
count = 5_000_000 // one
buf = b"".join(frame(HEADERS, PATTERN[:99] + bytes([i & 0xFF])) for i in range(count))
best = None
for _ in range(3):
    t0 = time.perf_counter()
    dec, msgs = EventStreamBuffer(), 0
    for pos in range(0, len(buf), 16384):
        dec.add_data(buf[pos:pos + 16384])
        for m in dec:
            msgs += 1
    dt = time.perf_counter() - t0
    assert msgs == count, "decode lost messages"
    best = dt if best is None or dt < best else best
print(f"boto3 decode: {len(buf) / 1e6 / best:.1f} MB/s ({len(buf) / 1e6:.0f} MB of {one}-byte frames,"
      " botocore EventStreamBuffer, 16 KiB pieces)")
print(f"boto3 RSS: {rss:.1f} MiB (peak, one client)")

"""boto3 against the same local emulator, for the ratio in `make bench`.

usage: bench_boto3.py ENDPOINT ACCESS_KEY SECRET_KEY
"""
import json
import resource
import sys
import time
import urllib.request

import boto3
from botocore.config import Config

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
print(f"boto3 RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB (peak, one client)")

// The AWS SDK for JavaScript v3 against the same local emulator, for the
// ratio in `make bench`: the scenarios of bench_boto3.py (keep-alive
// invoke_model, a response stream with each chunk JSON-decoded, RSS) plus
// the SDK's event-stream codec over 191-byte frames.
//
// usage: node bench_js.mjs ENDPOINT ACCESS_KEY SECRET_KEY
//
// The endpoint is the emulator on loopback and the credentials are static,
// so nothing is looked up (no IMDS, no profile files); connections to
// anything but loopback are refused below, so a misconfiguration fails
// instead of reaching the internet.
import net from "node:net";
import {
  BedrockRuntimeClient,
  InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
} from "@aws-sdk/client-bedrock-runtime";
import { EventStreamCodec } from "@smithy/core/event-streams";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { fromUtf8, toUtf8 } from "@smithy/core/serde";

const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  const o = args[0] !== null && typeof args[0] === "object"
    ? (Array.isArray(args[0]) ? args[0][0] : args[0])
    : { port: args[0], host: args[1] };
  const host = o && o.host;
  if (host !== undefined && host !== null && !/^(127\.\d+\.\d+\.\d+|localhost|::1)$/.test(host)) {
    throw new Error(`bench_js: refusing a connection to ${host} (loopback only)`);
  }
  return connect.apply(this, args);
};

const [endpoint, accessKeyId, secretAccessKey] = process.argv.slice(2);
if (!secretAccessKey) {
  console.error("usage: node bench_js.mjs ENDPOINT ACCESS_KEY SECRET_KEY");
  process.exit(2);
}
const MODEL = "anthropic.claude-3-sonnet-20240229-v1:0";
const BODY = JSON.stringify({
  anthropic_version: "bedrock-2023-05-31", max_tokens: 100,
  messages: [{ role: "user", content: "Hello, Claude!" }],
});

async function scenario(fields) {
  const res = await fetch(endpoint + "/__emulator/scenarios", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ model_id: MODEL, ...fields }),
  });
  await res.arrayBuffer();
  if (!res.ok) throw new Error(`scenario: HTTP ${res.status}`);
}

// HTTP/1.1 on keep-alive connections (NodeHttpHandler), as boto3 and
// lua-bedrock use for these operations. The SDK's default handler for
// Bedrock Runtime is HTTP/2, which signs :authority where the emulator's
// SigV4 check wants host.
const client = new BedrockRuntimeClient({
  endpoint, region: "us-east-1", credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1,
  requestHandler: new NodeHttpHandler(),
});
const invoke = () => client.send(new InvokeModelCommand({
  modelId: MODEL, body: BODY, contentType: "application/json", accept: "application/json",
}));

// keep-alive invoke_model, the body read (as boto3's script does)
await scenario({});
for (let i = 0; i < 100; i++) (await invoke()).body.transformToString();
{
  const n = 1000;
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) (await invoke()).body.transformToString();
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  console.log(`js-sdk invoke_model: ${(n / dt).toFixed(0)} requests/s, `
    + `${((c.user + c.system) / n).toFixed(1)} us client CPU per invoke`);
}

// a response stream, each chunk's bytes JSON-decoded
{
  const N = 100000;
  await scenario({ deltas: N, text: "tok" });
  const stream = () => client.send(new InvokeModelWithResponseStreamCommand({
    modelId: MODEL, body: BODY, contentType: "application/json", accept: "application/json",
  }));
  for await (const _ of (await stream()).body) { /* warm the emulator's cache */ }
  const text = new TextDecoder();
  const t0 = process.hrtime.bigint();
  let count = 0;
  for await (const ev of (await stream()).body) {
    JSON.parse(text.decode(ev.chunk.bytes));
    count++;
  }
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`js-sdk stream: ${(count / dt).toFixed(0)} events/s`);
}

// peak RSS of the client's work, before the decode buffer below
const rss = process.resourceUsage().maxRSS / 1024;
console.log(`js-sdk RSS: ${rss.toFixed(1)} MiB (peak, one client)`);

// the SDK's event-stream codec (the one its stream path runs) over the
// frames of bench_decode.c: three string headers, a 100-byte payload
{
  const codec = new EventStreamCodec(toUtf8, fromUtf8);
  const pattern = '{"bytes":"eyJ0eXBlIjoiY29udGVudF9ibG9ja19kZWx0YSJ9"}';
  const headers = {
    ":event-type": { type: "string", value: "chunk" },
    ":content-type": { type: "string", value: "application/json" },
    ":message-type": { type: "string", value: "event" },
  };
  const payload = new Uint8Array(100);
  for (let i = 0; i < 100; i++) payload[i] = pattern.charCodeAt(i % 50);
  const one = codec.encode({ headers, body: payload }).length;
  const count = Math.floor(50e6 / one);
  const buf = new Uint8Array(count * one);
  for (let i = 0; i < count; i++) {
    payload[99] = i & 0xff;
    buf.set(codec.encode({ headers, body: payload }), i * one);
  }
  const view = new DataView(buf.buffer);
  let best = Infinity, sink = 0;
  for (let r = 0; r < 3; r++) {
    const t0 = process.hrtime.bigint();
    let msgs = 0;
    for (let pos = 0; pos < buf.length;) {
      const total = view.getUint32(pos, false);
      const m = codec.decode(buf.subarray(pos, pos + total));
      sink += m.body[0] + m.headers[":event-type"].value.length;
      pos += total;
      msgs++;
    }
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    if (msgs !== count) throw new Error("decode lost messages");
    if (dt < best) best = dt;
  }
  console.log(`js-sdk decode: ${(buf.length / 1e6 / best).toFixed(0)} MB/s `
    + `(${(buf.length / 1e6).toFixed(0)} MB of ${one}-byte frames, EventStreamCodec.decode per frame; sink ${sink % 10})`);
}

client.destroy();

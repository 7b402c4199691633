// server-everything's Streamable HTTP server for the specs, held to 127.0.0.1
// on a port the system picks: the module's own listen(PORT) is redirected,
// and the port is printed on stdout as "PORT <n>". It exits when its stdin
// ends (the spec that started it has gone or closed it). With MCP_JSON_RESPONSE=1
// in the environment the SDK's transport answers with application/json bodies
// instead of SSE streams (its enableJsonResponse option, which the module does
// not expose).
//   node spec/support/mcp_http.mjs <path of server-everything's dist/transports/streamableHttp.js>
import http from "node:http";
import { pathToFileURL } from "node:url";

const listen = http.Server.prototype.listen;
http.Server.prototype.listen = function (...args) {
  const done = args.find((a) => typeof a === "function");
  const server = this;
  return listen.call(this, 0, "127.0.0.1", () => {
    process.stdout.write(`PORT ${server.address().port}\n`);
    if (done) done();
  });
};
process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
if (process.env.MCP_JSON_RESPONSE === "1") {
  const sdk = process.argv[2].replace(/server-everything\/dist\/transports\/streamableHttp\.js$/,
    "sdk/dist/esm/server/webStandardStreamableHttp.js");
  const { WebStandardStreamableHTTPServerTransport: T } = await import(pathToFileURL(sdk).href);
  const handle = T.prototype.handleRequest;
  T.prototype.handleRequest = function (...args) {
    this._enableJsonResponse = true;
    return handle.apply(this, args);
  };
}
await import(pathToFileURL(process.argv[2]).href);

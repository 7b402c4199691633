// server-everything's Streamable HTTP server for the specs, held to 127.0.0.1
// on a port the system picks: the module's own listen(PORT) is redirected,
// and the port is printed on stdout as "PORT <n>". It exits when its stdin
// ends (the spec that started it has gone or closed it).
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
await import(pathToFileURL(process.argv[2]).href);

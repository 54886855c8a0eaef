import { once } from "node:events";
import { createServer } from "node:http2";
import type { AddressInfo } from "node:net";

/**
 * bench:push's APNs stand-in, in its own process: an HTTP/2 (cleartext) server that reads each push
 * and answers 200 with its apns-id at once, as APNs does when it accepts one. No checks: the tests'
 * fake checks tokens and headers; here only the transport's cost should count. Prints `{"port":…}`.
 */
const server = createServer({ settings: { maxConcurrentStreams: 1000 } });
server.on("stream", (stream, headers) => {
  stream.on("data", () => undefined);
  stream.on("error", () => undefined);
  stream.on("end", () => {
    if (!stream.destroyed) stream.respond({ ":status": 200, "apns-id": String(headers["apns-id"] ?? "") }, { endStream: true });
  });
});
server.listen(0, "127.0.0.1");
await once(server, "listening");
process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
process.on("SIGTERM", () => process.exit(0));

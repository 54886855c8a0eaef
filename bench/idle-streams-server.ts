import * as grpc from "@grpc/grpc-js";
import { create, toBinary } from "@bufbuild/protobuf";
import { createServer } from "node:http";
import { once } from "node:events";
import { HubService, WatchEventsResponseSchema } from "../core/gen/herald/v1/hub_pb.js";

/**
 * The floor of bench:streams: a bare grpc-js server that holds every WatchEvents call open and does
 * nothing with it, until told over HTTP on its control port: `GET /count` → `{"open":n}`, `GET /gc` →
 * a full collection, then `{"heap":bytes,"rss":bytes}`, `POST /publish` → one event written to every
 * call. Run with --expose-gc; it prints `{"port":grpc,"controlPort":http}` when ready.
 */
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");
const event = Buffer.from(
  toBinary(
    WatchEventsResponseSchema,
    create(WatchEventsResponseSchema, {
      event: {
        msgId: "1",
        offset: 1n,
        appId: "demo",
        eventId: "1",
        content: { mimeType: "text/plain", data: "Hello Smith, welcome aboard." },
      },
    }),
  ),
);
const open = new Set<grpc.ServerWritableStream<Buffer, Buffer>>();
const server = new grpc.Server();
server.addService(
  {
    watchEvents: {
      path: `/${HubService.typeName}/${HubService.method.watchEvents.name}`,
      requestStream: false,
      responseStream: true,
      requestSerialize: (m: Buffer) => m,
      requestDeserialize: (b: Buffer) => b,
      responseSerialize: (m: Buffer) => m,
      responseDeserialize: (b: Buffer) => b,
    },
  },
  {
    watchEvents: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      open.add(call);
      call.on("cancelled", () => open.delete(call));
      call.on("error", () => open.delete(call));
    },
  },
);
const control = createServer((req, res) => {
  const answer = (value: object) => res.end(JSON.stringify(value));
  if (req.url === "/count") answer({ open: open.size });
  else if (req.url === "/gc") {
    gc();
    gc();
    const m = process.memoryUsage();
    answer({ heap: m.heapUsed, rss: m.rss });
  } else if (req.url === "/publish") {
    for (const call of open) call.write(event);
    answer({ written: open.size });
  } else {
    res.statusCode = 404;
    res.end();
  }
});
control.listen(0, "127.0.0.1");
await once(control, "listening");
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  process.stdout.write(`${JSON.stringify({ port, controlPort: (control.address() as { port: number }).port })}\n`);
});
process.once("SIGTERM", () => {
  for (const call of open) call.end();
  server.forceShutdown();
  control.close();
  process.exit(0);
});

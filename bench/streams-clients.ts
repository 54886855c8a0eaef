import { request, type ClientRequest } from "node:http";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { root } from "./support.js";

/**
 * The client side of bench:streams, one of several processes (so that neither the server's memory
 * nor its core is the clients'): holds idle streams, then says when every one of them has received
 * the event its parent publishes. Stock clients: grpc-js with proto-loader and the .proto files,
 * `count` WatchEvents calls over `connections` channels (HTTP/2 connections, the calls multiplexed
 * on them); or node:http long-held GETs of XMS event handler streams, one connection each.
 *
 *   parent → {config}   child → {opened: n}   (calls issued / GETs answered 200)
 *   parent → {expect}   child → {expecting}
 *   child → {received: n, at: epoch ms}        (every stream has received an event)
 *   (parent → {expect} again for the next event)
 *   parent → {exit}     child cancels everything and exits.
 */
export type StreamsConfig =
  | { kind: "grpc"; address: string; count: number; connections: number; key?: string }
  | { kind: "xms"; urls: string[] };

const now = () => performance.timeOrigin + performance.now();

if (process.send) {
  const send = (message: object) => process.send!(message);
  const config = await new Promise<StreamsConfig>((resolve) =>
    process.once("message", (m) => resolve((m as { config: StreamsConfig }).config)),
  );
  const count = config.kind === "grpc" ? config.count : config.urls.length;
  const got = new Uint8Array(count);
  let expecting = false;
  let received = 0;
  let closing = false;
  let failures = 0;
  const arrived = (i: number) => {
    if (!expecting || got[i]) return;
    got[i] = 1;
    if (++received === count) send({ received, at: now() });
  };
  const failed = (err: unknown) => {
    if (closing) return;
    if (failures++ === 0) send({ failure: err instanceof Error ? err.message : String(err) });
  };
  let close: () => void;
  if (config.kind === "grpc") {
    const definition = protoLoader.loadSync("herald/v1/hub.proto", { includeDirs: [join(root, "proto")], longs: String });
    const Hub = (grpc.loadPackageDefinition(definition) as unknown as { herald: { v1: { HubService: grpc.ServiceClientConstructor } } })
      .herald.v1.HubService;
    // A channel of its own for each: grpc-js would otherwise share one connection between clients of one address.
    const clients = Array.from(
      { length: config.connections },
      () =>
        new Hub(config.address, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 }) as grpc.Client &
          Record<string, any>,
    );
    const metadata = new grpc.Metadata();
    if (config.key !== undefined) metadata.set("authorization", `Bearer ${config.key}`);
    const calls: grpc.ClientReadableStream<unknown>[] = [];
    for (let i = 0; i < config.count; i++) {
      const call = clients[i % clients.length]!["watchEvents"]({ appId: "demo" }, metadata) as grpc.ClientReadableStream<unknown>;
      call.on("data", () => arrived(i));
      call.on("error", failed);
      calls.push(call);
      if (i % 500 === 499) await new Promise((r) => setImmediate(r));
    }
    send({ opened: calls.length });
    close = () => {
      for (const c of calls) c.cancel();
      for (const c of clients) c.close();
    };
  } else {
    const requests: ClientRequest[] = [];
    let opened = 0;
    for (let i = 0; i < config.urls.length; i += 200) {
      await Promise.all(
        config.urls.slice(i, i + 200).map(
          (url, j) =>
            new Promise<void>((resolve, reject) => {
              const req = request(url, { agent: false }, (res) => {
                if (res.statusCode !== 200) return reject(new Error(`${url}: ${res.statusCode}`));
                // Keepalives are not what we wait for: only documents that carry event_data.
                res.on("data", (chunk: Buffer) => {
                  if (chunk.includes("event_data")) arrived(i + j);
                });
                res.on("error", failed);
                opened++;
                resolve();
              });
              req.on("error", (err) => (opened < config.urls.length ? reject(err) : failed(err)));
              req.end();
              requests.push(req);
            }),
        ),
      );
    }
    send({ opened });
    close = () => {
      for (const r of requests) r.destroy();
    };
  }
  process.on("message", (m) => {
    const message = m as { expect?: boolean; exit?: boolean };
    if (message.expect) {
      // Each event counted afresh: the parent publishes several, one after another.
      got.fill(0);
      received = 0;
      expecting = true;
      send({ expecting: true });
    }
    if (message.exit) {
      closing = true;
      close();
      process.disconnect();
      process.exit(0);
    }
  });
}

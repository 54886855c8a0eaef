import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { io, type Socket } from "socket.io-client";
import { root } from "./support.js";

/**
 * The client side of bench:peers, in processes of its own (the servers' cores are theirs): either the
 * watchers or the publisher, with stock clients only — @grpc/grpc-js with @grpc/proto-loader and the
 * .proto files for Herald (as the README shows), socket.io-client for socket.io. Driven by its
 * parent over the IPC channel:
 *
 *   parent → {config}   child → {ready}     (watchers connected / publisher connected)
 *   parent → {start}    (publisher: begin the closed loop)
 *   child → {live}      (watchers: every watcher has received an event)
 *   parent → {window: [t0, t1]} (epoch ms, on `slotMs` boundaries)
 *   child → {result} at t1 (or as soon as it learns the window, if later), then it closes and exits.
 *
 * Each message carries its publish time (epoch ms, sub-millisecond: performance.timeOrigin +
 * performance.now(), the same host clock in every process); a watcher takes publish → receive
 * latency from it.
 */
export type Peer = "herald" | "socketio" | "echo";

export type ClientConfig =
  /** Watchers `first` … `first + count - 1` of all; watcher i connects to instance (i + 1) mod 2. */
  /** `maxBatch`: Herald watchers ask for batches (WatchEvents `max_batch`). */
  | { role: "watchers"; peer: Peer; addresses: string[]; first: number; count: number; key?: string; maxBatch?: number }
  | { role: "publisher"; peer: Peer; address: string; inflight: number; batch: number; key?: string };

export interface ClientResult {
  /** Watchers: events received in the window, over all watchers. Publisher: events published (acknowledged) in it. */
  count: number;
  /** Publisher: calls acknowledged in the window. */
  calls: number;
  /** Latency histogram, sparse [bucket, count] (see `bucketOf`): publish → receive (watchers), the call (publisher). */
  histogram: Array<[number, number]>;
  /** Calls that failed, or streams / sockets that ended before the window closed. */
  failures: number;
  firstFailure?: string;
}

/** Latency buckets: 10 µs wide up to 100 ms, then 1 ms wide. */
export function bucketOf(ms: number): number {
  const us = Math.max(0, ms * 1000);
  return us < 100_000 ? Math.floor(us / 10) : 10_000 + Math.floor((us - 100_000) / 1000);
}

/** The latency (ms, the bucket's middle) below which `p` percent of a merged histogram lies. */
export function histogramPercentile(histogram: Map<number, number>, p: number): number {
  const sorted = [...histogram].sort((a, b) => a[0] - b[0]);
  const total = sorted.reduce((n, [, c]) => n + c, 0);
  if (total === 0) return NaN;
  const rank = Math.min(total - 1, Math.floor((p / 100) * total));
  let seen = 0;
  for (const [bucket, count] of sorted) {
    seen += count;
    if (seen > rank) return bucket < 10_000 ? (bucket + 0.5) / 100 : 100 + (bucket - 10_000) + 0.5;
  }
  return NaN;
}

const now = () => performance.timeOrigin + performance.now();
/** A publish call not answered in this time fails (counted), so that a stalled server cannot hang the bench. */
const callTimeout = 10_000;
/** Arrivals are counted in slots of this many ms; the window's ends fall on slot boundaries. */
export const slotMs = 100;

if (process.send) {
  const send = (message: object) => process.send!(message);
  const config = await new Promise<ClientConfig>((resolve) =>
    process.once("message", (m) => resolve((m as { config: ClientConfig }).config)),
  );
  // What arrives is kept by arrival time, in slots of `slotMs`: the result is the sum of the slots
  // within the window, whenever this process learns the window (a flooded one may learn it late).
  const slots = new Map<number, { events: number; calls: number; histogram: Map<number, number> }>();
  const record = (t: number, events: number, calls: number, latency: number | undefined) => {
    const k = Math.floor(t / slotMs);
    let slot = slots.get(k);
    if (!slot) slots.set(k, (slot = { events: 0, calls: 0, histogram: new Map() }));
    slot.events += events;
    slot.calls += calls;
    if (latency !== undefined) {
      const b = bucketOf(latency);
      slot.histogram.set(b, (slot.histogram.get(b) ?? 0) + 1);
    }
  };
  let window: [number, number] = [Infinity, Infinity];
  let failures = 0;
  let firstFailure: string | undefined;
  const failed = (err: unknown) => {
    if (now() > window[1]) return; // closing
    failures++;
    firstFailure ??= err instanceof Error ? err.message : String(err);
  };
  const result = (): ClientResult => {
    let count = 0;
    let calls = 0;
    const histogram = new Map<number, number>();
    for (const [k, slot] of slots) {
      if (k * slotMs < window[0] || (k + 1) * slotMs > window[1]) continue;
      count += slot.events;
      calls += slot.calls;
      for (const [b, n] of slot.histogram) histogram.set(b, (histogram.get(b) ?? 0) + n);
    }
    return { count, calls, histogram: [...histogram], failures, ...(firstFailure ? { firstFailure } : {}) };
  };
  let finish: () => void = () => {};
  const closed = new Promise<void>((resolve) => (finish = resolve));
  process.on("message", (m) => {
    const message = m as { window?: [number, number] };
    if (message.window) {
      window = message.window;
      setTimeout(
        () => {
          send({ result: result() });
          finish();
        },
        Math.max(0, window[1] - now()) + 20,
      );
    }
  });

  if (config.role === "watchers") {
    // Watcher i on instance (i + 1) mod 2: a single watcher is on instance 2, across Redis from the publisher.
    const seen = new Uint8Array(config.count);
    let live = 0;
    const received = (i: number, sentAt: number | undefined) => {
      const t = now();
      if (!seen[i]) {
        seen[i] = 1;
        if (++live === config.count) send({ live: true });
      }
      record(t, 1, 0, sentAt === undefined ? undefined : t - sentAt);
    };
    let close: () => void;
    if (config.peer === "herald") {
      const hub = heraldHub();
      const metadata = keyMetadata(config.key);
      // One channel (one HTTP/2 connection) per watcher, as separate consumers would have.
      const clients = Array.from(
        { length: config.count },
        (_, i) =>
          new hub(config.addresses[(config.first + i + 1) % config.addresses.length]!, grpc.credentials.createInsecure(), {
            "grpc.use_local_subchannel_pool": 1,
          }),
      );
      const streams = clients.map((client, i) => {
        type Received = { payload?: { numberValue?: number } };
        const call = client["watchEvents"]({ appId: "demo", maxBatch: config.maxBatch ?? 0 }, metadata) as grpc.ClientReadableStream<{
          event?: Received | null;
          events?: Received[];
        }>;
        call.on("data", (r) => {
          if (r.event) received(i, r.event.payload?.numberValue);
          for (const e of r.events ?? []) received(i, e.payload?.numberValue);
        });
        call.on("error", (err) => {
          if ((err as grpc.ServiceError).code !== grpc.status.CANCELLED) failed(err);
        });
        return call;
      });
      close = () => {
        for (const s of streams) s.cancel();
        for (const c of clients) c.close();
      };
    } else {
      const sockets: Socket[] = [];
      await Promise.all(
        Array.from({ length: config.count }, async (_, i) => {
          const socket = io(config.addresses[(config.first + i + 1) % config.addresses.length]!, {
            transports: ["websocket"],
            forceNew: true,
            reconnection: false,
          });
          sockets.push(socket);
          socket.on("event", (m: { t?: number }) => received(i, m.t));
          socket.on("disconnect", (reason) => failed(new Error(`disconnected: ${reason}`)));
          await new Promise<void>((resolve, reject) => {
            socket.once("connect", resolve);
            socket.once("connect_error", reject);
          });
          await socket.emitWithAck("join");
        }),
      );
      close = () => {
        for (const s of sockets) {
          s.removeAllListeners("disconnect");
          s.disconnect();
        }
      };
    }
    send({ ready: true });
    await closed;
    close();
  } else {
    const { peer, inflight, batch } = config;
    let publish: () => Promise<void>;
    let close: () => void;
    if (peer === "socketio") {
      const socket = io(config.address, { transports: ["websocket"], forceNew: true, reconnection: false });
      await new Promise<void>((resolve, reject) => {
        socket.once("connect", resolve);
        socket.once("connect_error", reject);
      });
      let msgId = 0;
      // The same information a Herald event carries (ids, target, name pair, rendered text), as JSON.
      publish = async () => {
        await socket.timeout(callTimeout).emitWithAck("publish", {
          msgId: String(++msgId),
          appId: "demo",
          eventId: "1",
          targets: ["xxxx"],
          namePairs: [{ name: "lastname", content: "Smith" }],
          content: { mimeType: "text/plain", data: "Hello Smith, welcome aboard." },
          t: now(),
        });
      };
      close = () => socket.disconnect();
    } else {
      const hub = heraldHub();
      const client = new hub(config.address, grpc.credentials.createInsecure());
      const metadata = keyMetadata(config.key);
      const call = (method: string, request: object) =>
        new Promise<void>((resolve, reject) =>
          client[method](request, metadata, { deadline: Date.now() + callTimeout }, (err: Error | null) => (err ? reject(err) : resolve())),
        );
      // The same event either way: one a call, or `batch` of them in one SendEventBatch.
      const event = () => ({
        eventId: "1",
        subscribers: [{ ksid: "xxxx" }],
        namePairs: [{ name: "lastname", content: "Smith" }],
        payload: { numberValue: now() },
      });
      publish =
        batch > 1
          ? () => call("sendEventBatch", { appId: "demo", events: Array.from({ length: batch }, event) })
          : () => call("sendEvent", event());
      close = () => client.close();
    }
    send({ ready: true });
    await new Promise<void>((resolve) => process.once("message", () => resolve()));
    const worker = async () => {
      for (;;) {
        const t0 = now();
        if (t0 >= window[1]) return;
        try {
          await publish();
        } catch (err) {
          failed(err);
          await new Promise((r) => setTimeout(r, 10));
          continue;
        }
        const t1 = now();
        record(t1, batch, 1, t1 - t0);
      }
    };
    const workers = Promise.all(Array.from({ length: inflight }, worker));
    await closed;
    await workers;
    close();
  }
  process.disconnect();
  process.exit(0);
}

/** Untyped on purpose, as any client built from the .proto files alone. */
type HubClient = grpc.Client & Record<string, any>;

function heraldHub(): new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ClientOptions) => HubClient {
  const definition = protoLoader.loadSync("herald/v1/hub.proto", { includeDirs: [join(root, "proto")], longs: String });
  return (grpc.loadPackageDefinition(definition) as unknown as { herald: { v1: { HubService: grpc.ServiceClientConstructor } } }).herald.v1
    .HubService;
}

function keyMetadata(key: string | undefined): grpc.Metadata {
  const metadata = new grpc.Metadata();
  if (key !== undefined) metadata.set("authorization", `Bearer ${key}`);
  return metadata;
}

import { strict as assert } from "node:assert";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

/**
 * Plain grpc-js clients built from the .proto files alone, as an internal service in any language
 * would: nothing shared with the server's code.
 */
const protoDir = join(fileURLToPath(new URL(".", import.meta.url)), "..", "..", "..", "proto");

const definition = protoLoader.loadSync([join(protoDir, "herald/v1/hub.proto"), join(protoDir, "herald/v1/registry.proto")], {
  includeDirs: [protoDir],
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});
const loaded = grpc.loadPackageDefinition(definition) as unknown as {
  herald: { v1: { HubService: grpc.ServiceClientConstructor; RegistryService: grpc.ServiceClientConstructor } };
};

/** Untyped on purpose: these clients know only the wire contract. */
export type RawClient = grpc.Client & Record<string, any>;

export interface RawClients {
  hub: RawClient;
  registry: RawClient;
  close(): void;
}

/** Clients of a Herald on this machine; with `key`, every call carries `authorization: Bearer <key>`. */
export function rawClients(port: number, key?: string): RawClients {
  return clientsAt(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), key === undefined ? undefined : withKey(key));
}

/** Channel options whose interceptor adds `authorization: Bearer <key>` to every call (as a service with an API key would). */
export function withKey(key: string, options: grpc.ClientOptions = {}): grpc.ClientOptions {
  const interceptor: grpc.Interceptor = (opts, nextCall) =>
    new grpc.InterceptingCall(nextCall(opts), {
      start(metadata, listener, next) {
        metadata.set("authorization", `Bearer ${key}`);
        next(metadata, listener);
      },
    });
  return { ...options, interceptors: [...(options.interceptors ?? []), interceptor] };
}

/** A hub and a registry client at `address`, with these credentials and channel options. */
export function clientsAt(address: string, creds: grpc.ChannelCredentials, options?: grpc.ClientOptions): RawClients {
  const hub = new loaded.herald.v1.HubService(address, creds, options) as RawClient;
  const registry = new loaded.herald.v1.RegistryService(address, creds, options) as RawClient;
  return {
    hub,
    registry,
    close() {
      hub.close();
      registry.close();
    },
  };
}

/** A unary call as a promise; rejects with the grpc-js ServiceError. */
export function unary<T = any>(client: RawClient, method: string, request: object): Promise<T> {
  return new Promise((resolve, reject) => {
    client[method](request, (err: grpc.ServiceError | null, res: T) => (err ? reject(err) : resolve(res)));
  });
}

/** The error a promise rejects with (fails the test if it resolves). */
export async function rejection(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error("expected the call to fail");
}

export interface ReceivedEvent {
  msgId: string;
  offset: string;
  appId: string;
  eventId: string;
  type: string;
  resourceType: string;
  resourceId: string;
  targets: string[];
  requestId: string;
  content?: { data: string; mimeType: string; priority: boolean };
  namePairs: Array<{ name: string; content: string }>;
}

export interface WatchOptions {
  /** Called with the count so far after each event: lets a test act at a point, e.g. pause the stream. */
  onData?: (count: number) => void;
  /** `false` drops each event's content as it arrives, so a long stream of large events is not held in memory. */
  keepContent?: boolean;
}

/**
 * A WatchEvents stream that collects what it receives and lets a test await a count or the end. A
 * stream that asks for batches (`maxBatch`) reads `events` and keeps each response's size in `batches`.
 */
export class Watch {
  readonly events: ReceivedEvent[] = [];
  /** Events in each response, in order. */
  readonly batches: number[] = [];
  readonly call: grpc.ClientReadableStream<{ event: ReceivedEvent | null; events: ReceivedEvent[] }>;
  readonly status: Promise<grpc.StatusObject>;
  private waiters: Array<{ n: number; resolve: () => void }> = [];

  constructor(client: RawClient, request: object, options: WatchOptions = {}) {
    this.call = client["watchEvents"](request);
    this.call.on("data", (m: { event: ReceivedEvent | null; events: ReceivedEvent[] }) => {
      const events = m.event ? [m.event, ...m.events] : m.events;
      for (const event of events) {
        if (options.keepContent === false) delete event.content;
        this.events.push(event);
      }
      this.batches.push(events.length);
      options.onData?.(this.events.length);
      this.waiters = this.waiters.filter((w) => (this.events.length >= w.n ? (w.resolve(), false) : true));
    });
    this.call.on("error", () => {}); // the status promise reports it
    this.status = new Promise((resolve) => this.call.on("status", resolve));
  }

  /** Resolves once `n` events have arrived (rejects if the stream ends first). */
  received(n: number): Promise<void> {
    if (this.events.length >= n) return Promise.resolve();
    return Promise.race([
      new Promise<void>((resolve) => this.waiters.push({ n, resolve })),
      this.status.then((s) => {
        throw new Error(`stream ended (${s.code} ${s.details}) after ${this.events.length} of ${n} events`);
      }),
    ]);
  }

  offsets(): number[] {
    return this.events.map((e) => Number(e.offset));
  }

  cancel(): void {
    this.call.cancel();
  }
}

/** Asserts that a WatchEvents call ends with `code` and, where given, Herald's reason (the `herald-reason` trailer). */
export async function assertWatchRefused(client: RawClient, request: object, code: grpc.status, reason?: string): Promise<void> {
  const status = await new Watch(client, request).status;
  assert.equal(status.code, code);
  if (reason !== undefined) assert.deepEqual(status.metadata.get("herald-reason"), [reason]);
}

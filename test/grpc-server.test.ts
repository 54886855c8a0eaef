import { strict as assert } from "node:assert";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { pino } from "pino";
import { create, fromBinary, toBinary, type DescService } from "@bufbuild/protobuf";
import { anyUnpack, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { HubService, WatchEventsResponseSchema } from "../core/gen/herald/v1/hub_pb.js";
import { file_google_rpc_status, StatusSchema } from "../core/gen/google/rpc/status_pb.js";
import { ErrorInfoSchema } from "../core/gen/google/rpc/error_details_pb.js";
import { EventSchema } from "../core/gen/herald/v1/event_pb.js";
import { createGrpcServer } from "../core/transport/grpc-server.js";
import { addConnectService } from "../core/transport/grpc-bridge.js";
import { bindService } from "../core/transport/service-binding.js";
import { setEncoded } from "../core/wire/pre-encoded.js";
import { heraldError } from "../core/rpc/errors.js";
import { silentLogger } from "../core/logger.js";
import { rejection, Watch } from "./support/grpc-client.js";

const root = join(fileURLToPath(new URL(".", import.meta.url)), "..", "..");
const protoDir = join(root, "proto");

// ---------------------------------------------------------------------------------------------
// The client side: plain grpc-js clients built from the .proto files alone, as an internal service
// in any language would. Nothing here is shared with the server's code.

const hubDefinition = protoLoader.loadSync(join(protoDir, "herald/v1/hub.proto"), {
  includeDirs: [protoDir],
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});
const HubClient = (grpc.loadPackageDefinition(hubDefinition) as any).herald.v1.HubService as grpc.ServiceClientConstructor;
type RawClient = grpc.Client & Record<string, any>;

function connect(Client: grpc.ServiceClientConstructor, port: number): RawClient {
  return new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as RawClient;
}

interface UnaryResult<T> {
  response: T;
  headers: grpc.Metadata;
  status: grpc.StatusObject;
}

/** A unary call; resolves with response, headers and trailers, rejects with the ServiceError. */
function unary<T = any>(
  client: RawClient,
  method: string,
  request: object,
  options: grpc.CallOptions = {},
  metadata = new grpc.Metadata(),
): Promise<UnaryResult<T>> {
  return new Promise((resolve, reject) => {
    let response: T | undefined;
    let headers = new grpc.Metadata();
    const call: grpc.ClientUnaryCall = client[method](request, metadata, options, (err: grpc.ServiceError | null, res: T) => {
      if (err) reject(err);
      else response = res;
    });
    call.on("metadata", (m: grpc.Metadata) => (headers = m));
    call.on("status", (status: grpc.StatusObject) => {
      if (status.code === grpc.status.OK) resolve({ response: response as T, headers, status });
    });
  });
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

// ---------------------------------------------------------------------------------------------
// The server side: a fake HubService written connect-es style. WatchEvents behaviour is chosen by
// `type`, and `appId` names a probe through which the test watches the handler.

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

class Probe {
  /** How many messages the generator has produced (been pulled for). */
  pulled = 0;
  /** The message whose yield has not returned by the next macrotask, if it is still waiting. */
  waitingAt: number | undefined;
  /** Resolves with the context once the generator's finally block has run. */
  readonly finished = deferred<HandlerContext>();
  private blockedWaiters: Array<(at: number) => void> = [];

  /**
   * The bridge pulls the next message in the same macrotask when grpc-js accepted the last one
   * (write() true): only microtasks lie between a yield and its return. A yield still pending when
   * a setImmediate callback runs therefore means the bridge is waiting for 'drain'.
   */
  watchYield(i: number): () => void {
    let resumed = false;
    setImmediate(() => {
      if (resumed) return;
      this.waitingAt = i;
      for (const w of this.blockedWaiters.splice(0)) w(i);
    });
    return () => {
      resumed = true;
      this.waitingAt = undefined;
    };
  }

  /** Resolves once the generator is blocked on a yield (at once if it is now). */
  blocked(): Promise<number> {
    if (this.waitingAt !== undefined) return Promise.resolve(this.waitingAt);
    return new Promise((resolve) => this.blockedWaiters.push(resolve));
  }
}

const probes = new Map<string, Probe>();
function probe(name: string): Probe {
  const p = new Probe();
  probes.set(name, p);
  return p;
}

const MiB = "x".repeat(1 << 20);

const fake: ServiceImpl<typeof HubService> = {
  async sendEvent(req, ctx) {
    switch (req.eventId) {
      case "missing":
        throw heraldError(Code.NotFound, "APP_NOT_FOUND", "app x not found");
      case "bug":
        throw new Error("secret internals at /srv/x.js:1");
      case "forwarded": {
        // An error as a connect client receives it from upstream: details already encoded.
        const err = new ConnectError("upstream says no", Code.FailedPrecondition, {
          "x-upstream": "u",
          "x-trace-bin": Buffer.from([1, 2, 3]).toString("base64"),
        });
        err.details.push({
          type: "google.rpc.ErrorInfo",
          value: toBinary(ErrorInfoSchema, create(ErrorInfoSchema, { reason: "UPSTREAM", domain: "up" })),
          debug: null,
        });
        throw err;
      }
    }
    return { msgId: `echo-${req.eventId}`, offset: 7n, invalidSubscribers: req.subscribers };
  },

  async sendPushBatch() {
    throw new ConnectError("not used here", Code.Unimplemented);
  },

  async sendEventBatch() {
    throw new ConnectError("not used here", Code.Unimplemented);
  },

  async sendPush(req, ctx) {
    ctx.responseHeader.set("x-header", "h");
    ctx.responseTrailer.set("x-trailer", "t");
    return {
      msgId: JSON.stringify({
        protocol: ctx.protocolName,
        method: ctx.requestMethod,
        url: ctx.url,
        echo: ctx.requestHeader.get("x-echo"),
        timeoutMs: ctx.timeoutMs() ?? null,
        aborted: ctx.signal.aborted,
        app: req.appId,
      }),
    };
  },

  async *watchEvents(req, ctx) {
    const p = probes.get(req.appId) ?? new Probe();
    try {
      const n = Number(req.resourceId || "3");
      for (let i = 1; i <= n; i++) {
        if (req.type === "fail" && i === 3) throw heraldError(Code.ResourceExhausted, "SLOW_CONSUMER", "too slow");
        if (req.type === "bug" && i === 3) throw new Error("secret stream internals");
        const response = create(WatchEventsResponseSchema, {
          event: { offset: BigInt(i), msgId: String(i), ...(req.type === "big" ? { content: { data: MiB } } : {}) },
        });
        if (req.type === "pre-encoded") {
          // Registered bytes win over the object's own fields.
          const other = create(EventSchema, { offset: BigInt(i), msgId: `pre-${i}` });
          setEncoded(response, toBinary(WatchEventsResponseSchema, create(WatchEventsResponseSchema, { event: other })));
        }
        if (i === 1) ctx.responseHeader.set("x-stream-header", "sh");
        p.pulled = i;
        const resumed = p.watchYield(i);
        yield response;
        resumed();
      }
      if (req.type === "forever") {
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
        if (ctx.signal.reason instanceof ConnectError && ctx.signal.reason.code !== Code.Canceled) {
          throw heraldError(Code.Unavailable, "SHUTTING_DOWN", "server is shutting down");
        }
      }
      ctx.responseTrailer.set("x-stream-trailer", "st");
    } finally {
      p.finished.resolve(ctx);
    }
  },

  async getMessageStatus() {
    return { messages: [] };
  },
};

async function listen(server: grpc.Server): Promise<number> {
  return new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
}

describe("grpc-js serving connect-es handlers", () => {
  let server: grpc.Server;
  let hub: RawClient;
  let port: number;
  const logged: Array<{ level: number; msg: string; err?: { message: string } }> = [];
  const logger = pino({ level: "error" }, { write: (line: string) => void logged.push(JSON.parse(line)) });

  before(async () => {
    ({ server } = createGrpcServer({
      services: [{ service: HubService, impl: fake }],
      logger,
      reflectionFiles: [file_google_rpc_status],
    }));
    port = await listen(server);
    hub = connect(HubClient, port);
  });
  after(() => {
    hub.close();
    server.forceShutdown();
  });

  describe("unary", () => {
    it("round-trips request and response fields", async () => {
      const { response, status } = await unary(hub, "sendEvent", { eventId: "e", subscribers: [{ ksid: "k" }, { ufid: "u" }] });
      assert.equal(status.code, grpc.status.OK);
      assert.equal(response.msgId, "echo-e");
      assert.equal(response.offset, "7");
      assert.deepEqual(response.invalidSubscribers, [
        { ksid: "k", ref: "ksid" },
        { ufid: "u", ref: "ufid" },
      ]);
    });

    it("gives the handler a grpc context (headers, deadline, signal) and sends its headers and trailers", async () => {
      const md = new grpc.Metadata();
      md.set("x-echo", "hello");
      const { response, headers, status } = await unary(hub, "sendPush", { appId: "a" }, { deadline: Date.now() + 60_000 }, md);
      const seen = JSON.parse(response.msgId);
      assert.equal(seen.protocol, "grpc");
      assert.equal(seen.method, "POST");
      assert.equal(seen.url, "/herald.v1.HubService/SendPush");
      assert.equal(seen.echo, "hello");
      assert.ok(seen.timeoutMs > 50_000 && seen.timeoutMs <= 60_000, `timeoutMs ${seen.timeoutMs}`);
      assert.equal(seen.aborted, false);
      assert.deepEqual(headers.get("x-header"), ["h"]);
      assert.deepEqual(status.metadata.get("x-trailer"), ["t"]);

      const { response: noDeadline } = await unary(hub, "sendPush", { appId: "a" });
      assert.equal(JSON.parse(noDeadline.msgId).timeoutMs, null);
    });

    it("turns a ConnectError into its gRPC status, reason trailer and google.rpc.Status details", async () => {
      const err = await rejection(unary(hub, "sendEvent", { eventId: "missing" }));
      assert.equal(err.code, grpc.status.NOT_FOUND);
      assert.equal(err.details, "app x not found");
      assert.deepEqual(err.metadata.get("herald-reason"), ["APP_NOT_FOUND"]);
      const raw = err.metadata.get("grpc-status-details-bin")[0];
      assert.ok(Buffer.isBuffer(raw));
      const status = fromBinary(StatusSchema, raw);
      assert.equal(status.code, grpc.status.NOT_FOUND);
      assert.equal(status.message, "app x not found");
      assert.equal(status.details.length, 1);
      const info = anyUnpack(status.details[0]!, ErrorInfoSchema);
      assert.equal(info?.reason, "APP_NOT_FOUND");
      assert.equal(info?.domain, "herald");
    });

    it("passes on already-encoded details and binary metadata of a forwarded ConnectError", async () => {
      const err = await rejection(unary(hub, "sendEvent", { eventId: "forwarded" }));
      assert.equal(err.code, grpc.status.FAILED_PRECONDITION);
      assert.equal(err.details, "upstream says no");
      assert.deepEqual(err.metadata.get("x-upstream"), ["u"]);
      assert.deepEqual(err.metadata.get("x-trace-bin"), [Buffer.from([1, 2, 3])]);
      const status = fromBinary(StatusSchema, err.metadata.get("grpc-status-details-bin")[0] as Buffer);
      assert.equal(status.details[0]?.typeUrl, "type.googleapis.com/google.rpc.ErrorInfo");
      assert.equal(anyUnpack(status.details[0]!, ErrorInfoSchema)?.reason, "UPSTREAM");
    });

    it("hides anything that is not a ConnectError behind INTERNAL, and logs it", async () => {
      logged.length = 0;
      const err = await rejection(unary(hub, "sendEvent", { eventId: "bug" }));
      assert.equal(err.code, grpc.status.INTERNAL);
      assert.equal(err.details, "internal error");
      assert.equal(err.metadata.get("grpc-status-details-bin").length, 0);
      assert.ok(!JSON.stringify(err.metadata.toJSON()).includes("secret"));
      assert.equal(logged.length, 1);
      assert.equal(logged[0]?.level, 50);
      assert.equal(logged[0]?.err?.message, "secret internals at /srv/x.js:1");
    });
  });

  describe("server streaming", () => {
    it("streams messages in order with the handler's headers, then OK with its trailers", async () => {
      const p = probe("in-order");
      const w = new Watch(hub, { appId: "in-order", resourceId: "50" });
      const headers = new Promise<grpc.Metadata>((resolve) => w.call.on("metadata", resolve));
      const status = await w.status;
      assert.equal(status.code, grpc.status.OK);
      assert.deepEqual(status.metadata.get("x-stream-trailer"), ["st"]);
      assert.deepEqual((await headers).get("x-stream-header"), ["sh"]);
      assert.deepEqual(w.offsets(), range(1, 50));
      const ctx = await p.finished.promise;
      assert.equal(ctx.signal.aborted, true, "the signal aborts once the call is complete");
    });

    it("ends a stream whose handler throws a ConnectError with the messages so far, then its status", async () => {
      const w = new Watch(hub, { type: "fail", resourceId: "10" });
      const status = await w.status;
      assert.deepEqual(w.offsets(), [1, 2]);
      assert.equal(status.code, grpc.status.RESOURCE_EXHAUSTED);
      assert.equal(status.details, "too slow");
      assert.deepEqual(status.metadata.get("herald-reason"), ["SLOW_CONSUMER"]);
      const details = fromBinary(StatusSchema, status.metadata.get("grpc-status-details-bin")[0] as Buffer);
      assert.equal(anyUnpack(details.details[0]!, ErrorInfoSchema)?.reason, "SLOW_CONSUMER");
    });

    it("ends a stream whose handler throws anything else with INTERNAL, and logs it", async () => {
      logged.length = 0;
      const w = new Watch(hub, { type: "bug", resourceId: "10" });
      const status = await w.status;
      assert.deepEqual(w.offsets(), [1, 2]);
      assert.equal(status.code, grpc.status.INTERNAL);
      assert.equal(status.details, "internal error");
      assert.equal(logged[0]?.err?.message, "secret stream internals");
    });

    it("aborts the handler's signal and runs its finally when the client cancels", async () => {
      const p = probe("cancel");
      const w = new Watch(hub, { appId: "cancel", type: "forever", resourceId: "1" });
      await w.received(1);
      w.call.cancel();
      const ctx = await p.finished.promise;
      assert.equal(ctx.signal.aborted, true);
      assert.equal(ConnectError.from(ctx.signal.reason).code, Code.Canceled);
      assert.equal((await w.status).code, grpc.status.CANCELLED);
    });

    it("writes the registered encoding of a response instead of encoding it again", async () => {
      const w = new Watch(hub, { type: "pre-encoded", resourceId: "2" });
      assert.equal((await w.status).code, grpc.status.OK);
      assert.deepEqual(
        w.events.map((e) => e.msgId),
        ["pre-1", "pre-2"],
      );
    });

    // grpc-js clients buffer without limit until their first read, so these clients read one
    // message and then pause: from there on the client's HTTP/2 flow control holds the server back.
    it("stops pulling from the generator while the client does not read, and resumes when it does", async () => {
      const total = 200; // 1 MiB each
      const p = probe("slow");
      const paused = deferred<void>();
      const w = new Watch(
        hub,
        { appId: "slow", type: "big", resourceId: String(total) },
        {
          keepContent: false,
          onData: (n) => {
            if (n === 1) {
              w.call.pause();
              paused.resolve();
            }
          },
        },
      );
      await paused.promise;
      const at = await Promise.race([
        p.blocked(),
        p.finished.promise.then(() => assert.fail(`the generator ran to its end (${p.pulled}) while the client was paused`)),
      ]);
      assert.ok(at < total / 2, `blocked at ${at}`);
      // Still waiting, and well short of the end, while the client reads nothing.
      assert.equal(p.waitingAt, p.pulled);
      assert.ok(p.pulled < total / 2, `pulled ${p.pulled} of ${total} while the client was paused`);
      assert.equal(w.events.length, 1);

      w.call.resume();
      const status = await w.status;
      assert.equal(status.code, grpc.status.OK);
      assert.deepEqual(w.offsets(), range(1, total));
      assert.equal(p.pulled, total);
      await p.finished.promise;
    });

    it("runs the generator's finally when the client cancels while the server waits for it to drain", async () => {
      const total = 200;
      const p = probe("slow-cancel");
      const w = new Watch(
        hub,
        { appId: "slow-cancel", type: "big", resourceId: String(total) },
        {
          keepContent: false,
          onData: (n) => {
            if (n === 1) w.call.pause();
          },
        },
      );
      await w.received(1);
      await p.blocked();
      w.call.cancel();
      const ctx = await p.finished.promise;
      assert.equal(ctx.signal.aborted, true);
      assert.ok(p.pulled < total, `pulled ${p.pulled}`);
      assert.equal((await w.status).code, grpc.status.CANCELLED);
    });
  });

  describe("standard services", () => {
    it("answers the health check: SERVING overall and for each service", async () => {
      const definition = protoLoader.loadSync(join(root, "node_modules/grpc-health-check/proto/health/v1/health.proto"), {
        enums: String,
      });
      const Health = (grpc.loadPackageDefinition(definition) as any).grpc.health.v1.Health as grpc.ServiceClientConstructor;
      const health = connect(Health, port);
      try {
        assert.equal((await unary(health, "check", { service: "" })).response.status, "SERVING");
        assert.equal((await unary(health, "check", { service: "herald.v1.HubService" })).response.status, "SERVING");
        const err = await rejection(unary(health, "check", { service: "nope.Service" }));
        assert.equal(err.code, grpc.status.NOT_FOUND);
      } finally {
        health.close();
      }
    });

    it("answers server reflection from the generated descriptors: real files, their imports, extra files", async () => {
      const definition = protoLoader.loadSync("grpc/reflection/v1/reflection.proto", {
        includeDirs: [join(root, "node_modules/@grpc/reflection/build/proto")],
      });
      const Reflection = (grpc.loadPackageDefinition(definition) as any).grpc.reflection.v1
        .ServerReflection as grpc.ServiceClientConstructor;
      const reflection = connect(Reflection, port);
      try {
        const call: grpc.ClientDuplexStream<object, any> = reflection["serverReflectionInfo"]();
        const answers: any[] = [];
        const ended = new Promise<void>((resolve, reject) => {
          call.on("data", (a) => answers.push(a));
          call.on("error", reject);
          call.on("end", resolve);
        });
        call.write({ listServices: "" });
        call.write({ fileContainingSymbol: "herald.v1.HubService" });
        call.write({ fileContainingSymbol: "google.rpc.Status" });
        call.end();
        await ended;

        // Only the services served: the extra files' symbols are resolvable, not listed.
        assert.deepEqual(
          answers[0].listServicesResponse.service.map((s: { name: string }) => s.name),
          ["herald.v1.HubService"],
        );
        // Each answer: the file first, then every file it imports (each once), as protoc wrote them.
        const files = (a: any) =>
          (a.fileDescriptorResponse.fileDescriptorProto as Buffer[]).map((b) => fromBinary(FileDescriptorProtoSchema, b));
        const hub = files(answers[1]);
        assert.deepEqual(
          hub.map((f) => f.name),
          [
            "herald/v1/hub.proto",
            "google/protobuf/struct.proto",
            "google/protobuf/timestamp.proto",
            "herald/v1/event.proto",
            "herald/v1/push.proto",
            "herald/v1/handler.proto",
          ],
        );
        const sent = new Set(hub.map((f) => f.name));
        for (const f of hub) for (const d of f.dependency) assert.ok(sent.has(d), `${f.name} imports ${d}, not sent`);
        const sendEventRequest = hub[0]!.messageType.find((m) => m.name === "SendEventRequest")!;
        assert.deepEqual(
          sendEventRequest.field.slice(0, 2).map((f) => [f.name, f.jsonName]),
          [
            ["app_id", "appId"],
            ["event_id", "eventId"],
          ],
        );
        // The very bytes of the generated descriptor.
        assert.deepEqual(
          answers[1].fileDescriptorResponse.fileDescriptorProto[0],
          Buffer.from(toBinary(FileDescriptorProtoSchema, HubService.file.proto)),
        );
        assert.deepEqual(
          files(answers[2]).map((f) => f.name),
          ["google/rpc/status.proto", "google/protobuf/any.proto"],
        );
      } finally {
        reflection.close();
      }
    });
  });

  describe("registration, missing methods, shutdown", () => {
    let other: grpc.Server | undefined;
    let client: RawClient | undefined;
    let bare: grpc.Server | undefined;
    let bareClient: RawClient | undefined;
    after(() => {
      client?.close();
      other?.forceShutdown();
      bareClient?.close();
      bare?.forceShutdown();
    });

    it("refuses client- and bidi-streaming methods when the service is added", () => {
      const sendEvent = HubService.method.sendEvent;
      const bogus = { ...HubService, methods: [{ ...sendEvent, methodKind: "client_streaming" }] } as unknown as DescService;
      assert.throws(
        () => addConnectService(new grpc.Server(), bogus, {}, { logger: silentLogger }),
        /herald\.v1\.HubService\.SendEvent is client-streaming: only unary and server-streaming/,
      );
    });

    it("answers UNIMPLEMENTED for methods the impl lacks, and aborts handler signals on shutdown", async () => {
      const shutdown = new AbortController();
      ({ server: other } = createGrpcServer({
        services: [bindService(HubService, { watchEvents: fake.watchEvents })],
        logger: silentLogger,
        shutdownSignal: shutdown.signal,
      }));
      client = connect(HubClient, await listen(other));

      const err = await rejection(unary(client, "sendPush", { appId: "a" }));
      assert.equal(err.code, grpc.status.UNIMPLEMENTED);
      assert.match(err.details, /herald\.v1\.HubService\.SendPush is not implemented/);

      bare = new grpc.Server();
      addConnectService(bare, HubService, {}, { logger: silentLogger });
      bareClient = connect(HubClient, await listen(bare));
      const unimplemented = await new Watch(bareClient, {}).status;
      assert.equal(unimplemented.code, grpc.status.UNIMPLEMENTED);
      assert.match(unimplemented.details, /herald\.v1\.HubService\.WatchEvents is not implemented/);

      const p = probe("shutdown");
      const w = new Watch(client, { appId: "shutdown", type: "forever", resourceId: "1" });
      await w.received(1);
      shutdown.abort(new ConnectError("shutting down", Code.Unavailable));
      const status = await w.status;
      assert.equal(status.code, grpc.status.UNAVAILABLE);
      assert.deepEqual(status.metadata.get("herald-reason"), ["SHUTTING_DOWN"]);
      assert.equal((await p.finished.promise).signal.aborted, true);
    });
  });
});

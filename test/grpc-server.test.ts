import { strict as assert } from "node:assert";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { Code, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { HubService, WatchEventsResponseSchema } from "../core/gen/herald/v1/hub_pb.js";
import { StatusSchema } from "../core/gen/google/rpc/status_pb.js";
import { ErrorInfoSchema } from "../core/gen/google/rpc/error_details_pb.js";
import { EventSchema } from "../core/gen/herald/v1/event_pb.js";
import { createGrpcServer } from "../core/transport/grpc-server.js";
import { setEncoded } from "../core/transport/pre-encoded.js";
import { heraldError } from "../core/rpc/errors.js";
import { silentLogger } from "../core/logger.js";
import { rawClients, rejection, unary, Watch, type RawClients } from "./support/grpc-client.js";

const root = join(fileURLToPath(new URL(".", import.meta.url)), "..", "..");
const protoDir = join(root, "proto");

/** The grpc-js bridge alone, serving a fake HubService written connect-es style. */
describe("grpc-js serving connect-es handlers", () => {
  let server: grpc.Server;
  let clients: RawClients;
  let port: number;
  let streamFinished: Promise<HandlerContext>;
  let finishStream: (ctx: HandlerContext) => void;

  const fake: ServiceImpl<typeof HubService> = {
    async sendEvent(req, ctx) {
      if (req.eventId === "missing") throw heraldError(Code.NotFound, "APP_NOT_FOUND", "app x not found");
      if (req.eventId === "bug") throw new Error("secret internals at /srv/x.js:1");
      ctx.responseTrailer.set("x-trailer", "t");
      return { msgId: `echo-${req.eventId}`, offset: 7n, invalidSubscribers: req.subscribers };
    },
    async sendPush() {
      return { msgId: "p" };
    },
    async *watchEvents(req, ctx) {
      try {
        const n = Number(req.resourceId || "3");
        for (let i = 1; i <= n; i++) {
          if (req.type === "fail" && i === 3) throw heraldError(Code.ResourceExhausted, "SLOW_CONSUMER", "too slow");
          const response = create(WatchEventsResponseSchema, { event: { offset: BigInt(i), msgId: String(i) } });
          if (req.type === "pre-encoded") {
            // Registered bytes win over the object's own fields.
            const other = create(EventSchema, { offset: BigInt(i), msgId: `pre-${i}` });
            setEncoded(response, toBinary(WatchEventsResponseSchema, create(WatchEventsResponseSchema, { event: other })));
          }
          yield response;
        }
        if (req.type === "forever") await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
      } finally {
        finishStream(ctx);
      }
    },
  };

  before(async () => {
    ({ server } = createGrpcServer({
      services: [{ service: HubService, impl: fake }],
      logger: silentLogger,
      reflectionProtoFiles: [join(protoDir, "herald/v1/hub.proto")],
      protoIncludeDir: protoDir,
    }));
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    clients = rawClients(port);
  });
  beforeEach(() => {
    streamFinished = new Promise((resolve) => (finishStream = resolve));
  });
  after(() => {
    clients.close();
    server.forceShutdown();
  });

  it("round-trips a unary call, with trailers", async () => {
    let trailers: grpc.Metadata | undefined;
    const res = await new Promise<{ msgId: string; offset: string; invalidSubscribers: unknown[] }>((resolve, reject) => {
      const call = clients.hub["sendEvent"]({ eventId: "e", subscribers: [{ ksid: "k" }] }, (err: Error | null, r: never) => (err ? reject(err) : resolve(r)));
      call.on("status", (s: grpc.StatusObject) => (trailers = s.metadata));
    });
    assert.equal(res.msgId, "echo-e");
    assert.equal(res.offset, "7");
    assert.deepEqual(res.invalidSubscribers, [{ ksid: "k", ref: "ksid" }]);
    assert.deepEqual(trailers?.get("x-trailer"), ["t"]);
  });

  it("turns a ConnectError into its gRPC status, reason trailer and google.rpc.Status details", async () => {
    const err = await rejection(unary(clients.hub, "sendEvent", { eventId: "missing" }));
    assert.equal(err.code, grpc.status.NOT_FOUND);
    assert.equal(err.details, "app x not found");
    assert.deepEqual(err.metadata.get("herald-reason"), ["APP_NOT_FOUND"]);
    const raw = err.metadata.get("grpc-status-details-bin")[0] as Buffer;
    const status = fromBinary(StatusSchema, raw);
    assert.equal(status.code, grpc.status.NOT_FOUND);
    const info = anyUnpack(status.details[0]!, ErrorInfoSchema);
    assert.equal(info?.reason, "APP_NOT_FOUND");
    assert.equal(info?.domain, "herald");
  });

  it("hides anything that is not a ConnectError behind INTERNAL", async () => {
    const err = await rejection(unary(clients.hub, "sendEvent", { eventId: "bug" }));
    assert.equal(err.code, grpc.status.INTERNAL);
    assert.equal(err.details, "internal error");
  });

  it("streams messages in order, then OK", async () => {
    const w = new Watch(clients.hub, { resourceId: "50" });
    const status = await w.status;
    assert.equal(status.code, grpc.status.OK);
    assert.deepEqual(w.offsets(), Array.from({ length: 50 }, (_, i) => i + 1));
    await streamFinished;
  });

  it("ends a stream that fails with the messages sent so far, then the error status", async () => {
    const w = new Watch(clients.hub, { type: "fail", resourceId: "10" });
    const status = await w.status;
    assert.equal(status.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.deepEqual(status.metadata.get("herald-reason"), ["SLOW_CONSUMER"]);
    assert.deepEqual(w.offsets(), [1, 2]);
  });

  it("aborts the handler's signal and runs its finally when the client cancels", async () => {
    const w = new Watch(clients.hub, { type: "forever", resourceId: "1" });
    await w.received(1);
    w.cancel();
    const ctx = await streamFinished;
    assert.equal(ctx.signal.aborted, true);
    assert.equal((await w.status).code, grpc.status.CANCELLED);
  });

  it("writes the registered encoding of a response instead of encoding it again", async () => {
    const w = new Watch(clients.hub, { type: "pre-encoded", resourceId: "2" });
    await w.status;
    assert.deepEqual(w.events.map((e) => e.msgId), ["pre-1", "pre-2"]);
  });

  it("answers the standard health check and server reflection", async () => {
    const healthDef = protoLoader.loadSync(join(root, "node_modules/grpc-health-check/proto/health/v1/health.proto"), { enums: String });
    const Health = (grpc.loadPackageDefinition(healthDef) as any).grpc.health.v1.Health as grpc.ServiceClientConstructor;
    const health = new Health(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as grpc.Client & Record<string, any>;
    try {
      const overall = await unary(health, "check", { service: "" });
      assert.equal(overall.status, "SERVING");
      const hub = await unary(health, "check", { service: "herald.v1.HubService" });
      assert.equal(hub.status, "SERVING");
    } finally {
      health.close();
    }

    const reflDef = protoLoader.loadSync("grpc/reflection/v1/reflection.proto", {
      includeDirs: [join(root, "node_modules/@grpc/reflection/build/proto")],
    });
    const Reflection = (grpc.loadPackageDefinition(reflDef) as any).grpc.reflection.v1.ServerReflection as grpc.ServiceClientConstructor;
    const reflection = new Reflection(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as grpc.Client & Record<string, any>;
    try {
      const call = reflection["serverReflectionInfo"]();
      const answer = new Promise<{ listServicesResponse: { service: Array<{ name: string }> } }>((resolve, reject) => {
        call.once("data", resolve);
        call.once("error", reject);
      });
      call.write({ listServices: "" });
      const names = (await answer).listServicesResponse.service.map((s) => s.name);
      call.end();
      assert.ok(names.includes("herald.v1.HubService"), names.join(","));
    } finally {
      reflection.close();
    }
  });
});

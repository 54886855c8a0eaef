import type { IncomingMessage, ServerResponse } from "node:http";
import { setMaxListeners } from "node:events";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { HubService } from "./gen/herald/v1/hub_pb.js";
import { RegistryService } from "./gen/herald/v1/registry_pb.js";
import { ClientService, DeliveryService } from "./gen/herald/v1/eventhos_pb.js";
import { defaultOptions, type HeraldOptions } from "./config.js";
import type { Logger } from "./logger.js";
import type { Bus } from "./bus/bus.js";
import type { Store } from "./store/store.js";
import { MemoryBus } from "./bus/memory-bus.js";
import { RedisBus } from "./bus/redis-bus.js";
import { MemoryStore } from "./store/memory-store.js";
import { RedisStore } from "./store/redis-store.js";
import { FanOut } from "./fan-out.js";
import { HandlerCursors } from "./handler-cursors.js";
import { Validator } from "./rpc/validate.js";
import { createHubService } from "./rpc/hub-service.js";
import { sendResponseEncoders } from "./rpc/send-response-encoder.js";
import { createRegistryService } from "./rpc/registry-service.js";
import { withErrorMapping } from "./rpc/map-errors.js";
import { createGrpcServer } from "./transport/grpc-server.js";
import { createInProcessClient } from "./transport/in-process-client.js";
import { listenHttp, stopHttp } from "./transport/http-server.js";
import { loadSeed } from "./seed.js";
import { redisSettings } from "./redis/connect.js";
import { createFacade } from "../facade/app.js";
import { startEventhosCore, type EventhosCore } from "./delivery/eventhos-core.js";

/** The path prefix of every Connect / gRPC-Web route (the proto package). */
const CONNECT_PATH_PREFIX = `/${HubService.typeName.slice(0, HubService.typeName.lastIndexOf(".") + 1)}`;

/** Where the .proto files are, for server reflection (dist/core/herald.js → repo root). */
const protoDir = join(fileURLToPath(new URL(".", import.meta.url)), "..", "..", "proto");

export interface Herald {
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly mode: "embedded" | "redis";
  readonly fanOut: FanOut;
  /** Stops accepting, ends streams with UNAVAILABLE, waits up to the grace period, closes Redis. */
  close(): Promise<void>;
}

/** Starts a Herald process: the core on gRPC, the facade plus Connect/gRPC-Web on HTTP. */
export async function startHerald(partial: Partial<HeraldOptions>, logger: Logger): Promise<Herald> {
  const options: HeraldOptions = { ...defaultOptions, ...partial };
  const mode = options.redisUrl ? "redis" : "embedded";
  const { bus, store } = await connectBackends(options, logger);
  const shutdown = new AbortController();
  let cursors: HandlerCursors | undefined;
  // Every open call may listen to it (streams do): no listener limit.
  setMaxListeners(0, shutdown.signal);
  let eventhos: EventhosCore | undefined;
  try {
    if (options.seedFile) {
      const counts = await loadSeed(store, options.seedFile);
      logger.info({ seed: options.seedFile, ...counts }, "registry seed loaded");
    }

    const validator = new Validator(options.limits);
    const fanOut = new FanOut(bus, { queueLimit: options.watchQueueLimit, historyPage: 500, logger });
    cursors = new HandlerCursors(store, { flushMs: options.handlerCursorFlushMs, logger });
    const hub = withErrorMapping(createHubService({ store, bus, fanOut, cursors, validator, historyPage: 500, logger }));
    const registry = withErrorMapping(createRegistryService({ store, bus, validator }));
    // eventhos: clients, contracts and their delivery (core/delivery).
    eventhos = await startEventhosCore({ options, store, validator, logger });
    const { clients, delivery } = eventhos;

    const { server: grpcServer, health } = createGrpcServer({
      services: [
        { service: HubService, impl: hub, encoders: sendResponseEncoders },
        { service: RegistryService, impl: registry },
        { service: ClientService, impl: clients },
        { service: DeliveryService, impl: delivery },
      ],
      logger,
      shutdownSignal: shutdown.signal,
      maxReceiveMessageLength: options.limits.maxMessageBytes,
      reflectionProtoFiles: [
        join(protoDir, "herald/v1/hub.proto"),
        join(protoDir, "herald/v1/registry.proto"),
        join(protoDir, "herald/v1/eventhos.proto"),
      ],
      protoIncludeDir: protoDir,
    });
    const grpcPort = await new Promise<number>((resolve, reject) =>
      grpcServer.bindAsync(
        `${options.host}:${options.grpcPort}`,
        grpc.ServerCredentials.createInsecure(),
        (err, port) => (err ? reject(err) : resolve(port)),
      ),
    );

    let serving = true;
    const facade = createFacade({
      hub: createInProcessClient(HubService, hub),
      registry: createInProcessClient(RegistryService, registry),
      eventhos: {
        clients: createInProcessClient(ClientService, clients),
        delivery: createInProcessClient(DeliveryService, delivery),
        adminToken: options.adminToken,
      },
      logger,
      limits: options.limits,
      serving: () => serving,
      xmsKeepaliveMs: options.xmsKeepaliveMs,
    });
    const koa = facade.callback();
    const connect = connectNodeAdapter({
      routes: (router: ConnectRouter) => router.service(HubService, hub).service(RegistryService, registry).service(ClientService, clients).service(DeliveryService, delivery),
      grpc: false, // gRPC is grpc-js's, on its own port; this port speaks Connect and gRPC-Web
      shutdownSignal: shutdown.signal,
      readMaxBytes: options.limits.maxMessageBytes,
      // The HTTP port is HTTP/1.1 (createServer), so the request really is an IncomingMessage.
      fallback: (req, res) => void koa(req as IncomingMessage, res as ServerResponse),
    });
    // Connect routes are all /herald.v1.<Service>/<Method>: send only those through the Connect
    // adapter, so facade requests skip its routing (measured: ~15% of a facade request's CPU).
    const { server: http, port: httpPort } = await listenHttp(
      (req, res) => (req.url?.startsWith(CONNECT_PATH_PREFIX) ? connect(req, res) : void koa(req, res)),
      options.host,
      options.httpPort,
    );

    logger.info(
      { mode, grpcPort, httpPort, redis: options.redisUrl ? redactUrl(options.redisUrl) : undefined },
      mode === "embedded"
        ? "herald started embedded: memory bus and store, nothing shared, nothing kept across restarts"
        : "herald started with Redis",
    );

    let closing: Promise<void> | undefined;
    return {
      grpcPort,
      httpPort,
      mode,
      fanOut,
      close: () =>
        (closing ??= (async () => {
          serving = false;
          health.setStatus("", "NOT_SERVING");
          fanOut.closeAll();
          await Promise.all([stopGrpc(grpcServer, options.shutdownGraceMs), stopHttp(http, options.shutdownGraceMs)]);
          shutdown.abort();
          await cursors?.stop();
          await eventhos?.close();
          await Promise.all([bus.close(), store.close()]);
          logger.info("herald stopped");
        })()),
    };
  } catch (err) {
    shutdown.abort();
    await eventhos?.close();
    await Promise.allSettled([bus.close(), store.close()]);
    throw err;
  }
}

async function connectBackends(options: HeraldOptions, logger: Logger): Promise<{ bus: Bus; store: Store }> {
  if (!options.redisUrl) {
    const store = new MemoryStore({ messageStatusTtlMs: options.messageStatusTtlMs, messageStatusMax: options.messageStatusMax });
    return { bus: new MemoryBus({ historySize: options.historySize }), store };
  }
  const common = redisSettings({ ...options, redisUrl: options.redisUrl }, logger);
  const bus = await RedisBus.connect({ ...common, historySize: options.historySize });
  try {
    return { bus, store: await RedisStore.connect({ ...common, messageStatusTtlMs: options.messageStatusTtlMs, registryCacheMax: options.registryCacheMax }) };
  } catch (err) {
    await bus.close();
    throw err;
  }
}

function stopGrpc(server: grpc.Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => server.forceShutdown(), graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(unparsable url)";
  }
}

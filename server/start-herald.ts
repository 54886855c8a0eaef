import { setMaxListeners } from "node:events";
import * as grpc from "@grpc/grpc-js";
import type { DescService } from "@bufbuild/protobuf";
import { Code, type Client } from "@connectrpc/connect";
import { HubService } from "../core/gen/herald/v1/hub_pb.js";
import { RegistryService } from "../core/gen/herald/v1/registry_pb.js";
import { ClientService, DeliveryService } from "../core/gen/herald/v1/eventhos_pb.js";
import { file_google_rpc_error_details } from "../core/gen/google/rpc/error_details_pb.js";
import { file_google_rpc_status } from "../core/gen/google/rpc/status_pb.js";
import type { Logger } from "../core/logger.js";
import { FanOut } from "../core/hub/fan-out.js";
import { HandlerCursors } from "../core/hub/handler-cursors.js";
import { createHubService } from "../core/hub/hub-service.js";
import { sendResponseEncoders } from "../core/hub/send-response-encoder.js";
import { sendRequestDecoders } from "../core/hub/send-request-decoder.js";
import { createRegistryService } from "../core/registry/registry-service.js";
import { Validator } from "../core/rpc/validate.js";
import { withErrorMapping } from "../core/rpc/map-errors.js";
import { heraldError } from "../core/rpc/errors.js";
import { startEventhos, type Eventhos } from "../core/eventhos/start-eventhos.js";
import { startPush, type Push } from "../core/push/start-push.js";
import { capGrpcConnections, createGrpcServer } from "../core/transport/grpc-server.js";
import { createConnectHandler } from "../core/transport/connect-handler.js";
import { createInProcessClient } from "../core/transport/in-process-client.js";
import { useFastTextEncoding } from "../core/wire/fast-text-encoding.js";
import { stopHttp } from "../core/transport/http-server.js";
import type { ServiceBinding } from "../core/transport/service-binding.js";
import { facadeFor } from "./facade-for.js";
import { resolveConfig, type HeraldConfigInput } from "./config.js";
import { connectBackends, redactUrl } from "./backends.js";
import { loadSeed } from "./seed.js";
import { listenPort, reloadTls, ServerTls, tlsMode } from "./tls.js";
import { checkExposure, logExposure } from "./exposure.js";
import { Authenticator, bearer } from "../core/auth/authenticator.js";
import { withAuthorization } from "../core/auth/with-authorization.js";
import { clientRules, deliveryRules, hubRules, registryRules } from "../core/auth/policy.js";
import { subscriberTokenVerifier } from "../core/auth/subscriber-tokens.js";
import { checkAuthConfig } from "./auth-options.js";
import { withMetrics } from "../core/metrics/with-metrics.js";
import { timeRedisCommands } from "../core/metrics/redis-commands.js";
import { heraldMetricsFor, readSources, scrapeCheckOf } from "./herald-metrics-for.js";
import { metricsListener, metricsOnly, withMetricsRoute } from "./metrics-endpoint.js";
import { withConsoleRoute } from "./console-route.js";

/** Page size when a watcher's gap is filled from history. */
const HISTORY_PAGE = 500;

export interface Herald {
  readonly grpcPort: number;
  readonly httpPort: number;
  /** The port of its own /metrics is served on, with --metrics-port. */
  readonly metricsPort?: number;
  readonly mode: "embedded" | "redis";
  readonly fanOut: FanOut;
  /** Stops accepting, ends streams with UNAVAILABLE, waits up to the grace period, closes Redis. */
  close(): Promise<void>;
  /** SIGHUP: re-reads the TLS files for new connections (open ones keep theirs); logs, never rejects. */
  reloadTls(): Promise<void>;
  /** An in-process client of a core service, as the facade has: through the authorization layer, as the facade itself unless a call carries `authorization`. */
  inProcess<S extends DescService>(service: S): Client<S>;
}

/** Starts a Herald process: the core on gRPC, the facade plus Connect/gRPC-Web on HTTP. */
export async function startHerald(input: HeraldConfigInput, logger: Logger): Promise<Herald> {
  useFastTextEncoding();
  const config = resolveConfig(input);
  const { server, limits } = config;
  // Before anything is opened: an unauthenticated API beyond loopback needs --insecure (ExposureError).
  const exposure = checkExposure(server.host, server.insecure, config.auth.adminKey !== undefined);
  checkAuthConfig(config.auth);
  // Before anything is opened: bad TLS files refuse the start with their own message.
  const tls = await ServerTls.load(config.tls, logger);
  const backends = await connectBackends(config, logger);
  const { bus, stores, mode } = backends;
  const shutdown = new AbortController();
  // Every open call may listen to it (streams do): no listener limit.
  setMaxListeners(0, shutdown.signal);
  let cursors: HandlerCursors | undefined;
  let eventhos: Eventhos | undefined;
  let push: Push | undefined;
  let stopTimingRedis: (() => void) | undefined;
  try {
    const validator = new Validator(limits);
    if (server.seedFile) {
      const counts = await loadSeed(stores.registry, server.seedFile, validator);
      logger.info({ seed: server.seedFile, ...counts }, "registry seed loaded");
    }

    const fanOut = new FanOut(bus, {
      queueLimit: config.watch.queueLimit,
      queueBytes: config.watch.queueBytes,
      fanOutSlice: config.watch.fanOutSlice,
      maxBatch: config.watch.maxBatch,
      historyPage: HISTORY_PAGE,
      logger,
    });
    cursors = new HandlerCursors(stores.handlers, { flushMs: config.watch.handlerCursorFlushMs, logger });
    const metrics = config.metrics.disabled ? undefined : heraldMetricsFor(config.metrics);
    push = await startPush({ config: config.push, redis: backends.redis, stores, logger });
    const hub = createHubService({
      stores,
      bus,
      fanOut,
      cursors,
      validator,
      historyPage: HISTORY_PAGE,
      idempotencyWindowMs: limits.idempotencyWindowMs,
      logger,
      push,
      ...(metrics && config.metrics.appLabels > 0
        ? { published: (appId: string, count: number) => metrics.appEventsPublished.inc({ app: metrics.appLabel(appId) }, count) }
        : {}),
    });
    eventhos = await startEventhos({
      config: config.eventhos,
      redis: backends.redis,
      cache: stores.nearCache,
      registry: stores.registry,
      validator,
      logger,
    });
    const auth = new Authenticator({
      adminKey: config.auth.adminKey,
      apiKeys: stores.apiKeys,
      subscriberTokens: await subscriberTokenVerifier(config.auth),
      clientKeys: eventhos.clientOf,
    });
    const registry = createRegistryService({ stores, bus, validator, auth });
    const { clients, delivery } = eventhos;
    // Every transport serves these: the authorization layer wraps each service once, here.
    if (metrics) readSources(metrics, { redis: backends.redis?.stats, cache: stores.cacheStats, eventhos, fanOut, push });
    if (metrics && config.metrics.redisCommands) stopTimingRedis = timeRedisCommands(metrics);
    // Counted outermost: the code a call is counted with is the one its caller gets.
    const guarded = <T extends object>(service: DescService, impl: T, rules: object) => {
      const mapped = withErrorMapping(withAuthorization(service, impl, rules, auth), logger, service.typeName);
      return metrics ? withMetrics(service, mapped, metrics) : mapped;
    };
    const services: ServiceBinding[] = [
      { service: HubService, impl: guarded(HubService, hub, hubRules), encoders: sendResponseEncoders, decoders: sendRequestDecoders },
      { service: RegistryService, impl: guarded(RegistryService, registry, registryRules) },
      { service: ClientService, impl: guarded(ClientService, clients, clientRules) },
      { service: DeliveryService, impl: guarded(DeliveryService, delivery, deliveryRules) },
    ];

    const { server: grpcServer, health } = createGrpcServer({
      services,
      logger,
      shutdownSignal: shutdown.signal,
      maxReceiveMessageLength: limits.maxMessageBytes,
      malformedRequest: (_method, message) => heraldError(Code.InvalidArgument, "MALFORMED_REQUEST", message),
      maxConcurrentStreams: limits.grpcMaxConcurrentStreams,
      // Besides the services' files: the details their errors carry (google.rpc.ErrorInfo in google.rpc.Status).
      reflectionFiles: [file_google_rpc_error_details, file_google_rpc_status],
      ...(auth.enabled && config.auth.reflection === "keyed"
        ? {
            reflectionGuard: async (header: string | undefined) =>
              void (await auth.ofCredential(header === undefined ? "" : bearer(header))),
          }
        : {}),
    });
    const grpcPort = await new Promise<number>((resolve, reject) =>
      grpcServer.bindAsync(
        `${server.host}:${server.grpcPort}`,
        tls?.grpcCredentials ?? grpc.ServerCredentials.createInsecure(),
        (err, port) => (err ? reject(err) : resolve(port)),
      ),
    );
    if (limits.maxGrpcConnections > 0 && !capGrpcConnections(grpcServer, limits.maxGrpcConnections)) {
      logger.warn("--max-grpc-connections not applied: this grpc-js version hides its listeners");
    }

    let serving = true;
    // In-process clients of the very handlers the transports serve.
    const implOf = (service: DescService) => services.find((b) => b.service === service)?.impl ?? {};
    const facade = facadeFor(
      (service) => createInProcessClient(service, implOf(service)),
      config,
      logger,
      () => serving,
      auth.enabled,
      metrics,
    );
    const handler = createConnectHandler({
      services,
      shutdownSignal: shutdown.signal,
      readMaxBytes: limits.maxMessageBytes,
      fallback: facade.callback(),
    });
    const scrape = metrics && metricsListener(metrics, scrapeCheckOf(auth));
    const routed = server.console ? withConsoleRoute(handler) : handler;
    const served = scrape ? withMetricsRoute(scrape, routed) : routed;
    const { server: http, port: httpPort } = await listenPort(served, server.host, server.httpPort, tls, limits);
    const metricsServer =
      scrape === undefined || config.metrics.port === undefined
        ? undefined
        : await listenPort(metricsOnly(scrape), server.host, config.metrics.port, tls, limits);

    logExposure(exposure, logger);
    logger.info(
      {
        mode,
        host: server.host,
        grpcPort,
        httpPort,
        ...(metricsServer ? { metricsPort: metricsServer.port } : {}),
        tls: tlsMode(tls),
        redis: config.redis.cluster
          ? `cluster ${config.redis.cluster}`
          : config.redis.sentinels
            ? `sentinels ${config.redis.sentinels} (master ${config.redis.masterName})`
            : config.redis.url
              ? redactUrl(config.redis.url)
              : undefined,
      },
      startedLine(mode, server.host, grpcPort, httpPort, tls !== undefined),
    );

    let closing: Promise<void> | undefined;
    return {
      grpcPort,
      httpPort,
      ...(metricsServer ? { metricsPort: metricsServer.port } : {}),
      mode,
      fanOut,
      reloadTls: () => reloadTls(tls, logger),
      inProcess: (service) => createInProcessClient(service, implOf(service)),
      close: () =>
        (closing ??= (async () => {
          serving = false;
          health.setStatus("", "NOT_SERVING");
          fanOut.closeAll();
          await Promise.all([
            stopGrpc(grpcServer, server.shutdownGraceMs),
            stopHttp(http, server.shutdownGraceMs),
            metricsServer && stopHttp(metricsServer.server, server.shutdownGraceMs),
          ]);
          shutdown.abort();
          stopTimingRedis?.();
          await cursors?.stop();
          await eventhos?.close();
          await push?.close();
          await backends.close();
          logger.info("herald stopped");
        })()),
    };
  } catch (err) {
    shutdown.abort();
    stopTimingRedis?.();
    await eventhos?.close();
    await push?.close();
    await backends.close();
    throw err;
  }
}

function stopGrpc(server: grpc.Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    // tryShutdown's callback may never come after forceShutdown (seen with a client that cancelled a
    // stream mid-write and then kept its connection): once forced, the stop is done.
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * The start line, in words: what runs, where to connect, and the first thing to try (the
 * fields of the same line carry the values for machines).
 */
export function startedLine(mode: string, host: string, grpcPort: number, httpPort: number, tls: boolean): string {
  const what =
    mode === "embedded"
      ? "herald started embedded (memory bus and store: one process, nothing kept across restarts)"
      : "herald started with Redis";
  const at = host.includes(":") ? `[${host}]` : host;
  const scheme = tls ? "https" : "http";
  return (
    `${what}. gRPC on ${at}:${grpcPort}; HTTP (legacy facade, Connect, gRPC-Web) on ${scheme}://${at}:${httpPort}. ` +
    `Try: curl ${tls ? "--cacert <ca> " : ""}${scheme}://${at}:${httpPort}/healthz, or watch an app with ` +
    `grpcurl ${tls ? "" : "-plaintext "}-d '{"app_id":"demo"}' ${at}:${grpcPort} herald.v1.HubService/WatchEvents`
  );
}

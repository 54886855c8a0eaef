import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { defaultConfig, resolveConfig, type HeraldConfig } from "./config.js";

/** A field of a section: "server.host", "limits.maxBodyBytes", … */
type Key = { [S in keyof HeraldConfig]: `${S}.${keyof HeraldConfig[S] & string}` }[keyof HeraldConfig];

interface Flag {
  flag: string;
  env: string;
  key: Key;
  /**
   * "boolean": a flag without a value; its environment variable takes 1/true/yes or 0/false/no.
   * "secret": never on the command line: the flag (`--x-file`) names a file holding it, the
   * environment variable holds it, and `<env>_FILE` names a file too.
   */
  kind: "string" | "integer" | "boolean" | "secret";
  /** The only values accepted, when the field takes a few. */
  choices?: readonly string[];
  help: string;
}

/** Every flag, its environment variable and its option; --help is generated from this table. */
// biome-ignore format: a table, one flag a line
export const flags: Flag[] = [
  { flag: "host", env: "HERALD_HOST", key: "server.host", kind: "string", help: "interface to bind; anything but loopback needs --insecure" },
  { flag: "insecure", env: "HERALD_INSECURE", key: "server.insecure", kind: "boolean", help: "serve the unauthenticated API on a non-loopback --host anyway (logged at warn)" },
  { flag: "grpc-port", env: "HERALD_GRPC_PORT", key: "server.grpcPort", kind: "integer", help: "gRPC port (0: any free)" },
  { flag: "http-port", env: "HERALD_HTTP_PORT", key: "server.httpPort", kind: "integer", help: "HTTP port: facade, Connect, gRPC-Web (0: any free)" },
  { flag: "redis-url", env: "REDIS_URL", key: "redis.url", kind: "string", help: "Redis URL; unset runs embedded (memory, one process)" },
  { flag: "redis-cluster", env: "REDIS_CLUSTER", key: "redis.cluster", kind: "string", help: "Redis Cluster startup nodes host:port,… (or --redis-url redis+cluster://host:port,…): keys hash-tagged per app, sharded pub/sub" },
  { flag: "redis-sentinels", env: "REDIS_SENTINELS", key: "redis.sentinels", kind: "string", help: "Redis Sentinels host:port,…: Redis is the master they name (--redis-master-name), followed across failovers" },
  { flag: "redis-master-name", env: "REDIS_MASTER_NAME", key: "redis.masterName", kind: "string", help: "with --redis-sentinels: the master's name in the Sentinels' configuration" },
  { flag: "redis-wait-replicas", env: "HERALD_REDIS_WAIT_REPLICAS", key: "redis.waitReplicas", kind: "integer", help: "a send is acknowledged only once this many replicas hold it (Redis WAIT); fewer in time: UNAVAILABLE (0: no wait)" },
  { flag: "redis-wait-timeout-ms", env: "HERALD_REDIS_WAIT_TIMEOUT_MS", key: "redis.waitTimeoutMs", kind: "integer", help: "with --redis-wait-replicas: longest wait for the replicas" },
  { flag: "core-url", env: "HERALD_CORE_URL", key: "server.coreUrl", kind: "string", help: "run only the HTTP facade, reaching the core over gRPC at this URL" },
  { flag: "key-prefix", env: "HERALD_KEY_PREFIX", key: "redis.keyPrefix", kind: "string", help: "prefix of Redis keys and channels" },
  { flag: "seed", env: "HERALD_SEED", key: "server.seedFile", kind: "string", help: "registry seed file (YAML or JSON) loaded at start" },
  { flag: "history-size", env: "HERALD_HISTORY_SIZE", key: "watch.historySize", kind: "integer", help: "events kept per app for resuming watchers" },
  { flag: "watch-queue-limit", env: "HERALD_WATCH_QUEUE_LIMIT", key: "watch.queueLimit", kind: "integer", help: "events queued per watcher before it is ended as too slow" },
  { flag: "watch-queue-bytes", env: "HERALD_WATCH_QUEUE_BYTES", key: "watch.queueBytes", kind: "integer", help: "bytes waiting per watcher (queued or unsent in the transport) before it is ended as too slow" },
  { flag: "watch-fan-out-slice", env: "HERALD_WATCH_FAN_OUT_SLICE", key: "watch.fanOutSlice", kind: "integer", help: "deliveries of one event per event-loop turn; an event for more watchers goes out in slices, in order" },
  { flag: "watch-max-batch", env: "HERALD_WATCH_MAX_BATCH", key: "watch.maxBatch", kind: "integer", help: "most events in one WatchEvents response of a stream that asks for batches (max_batch); capped at --watch-queue-limit" },
  { flag: "message-status-ttl-ms", env: "HERALD_MESSAGE_STATUS_TTL_MS", key: "store.messageStatusTtlMs", kind: "integer", help: "how long a request's delivery status is kept (GetMessageStatus)" },
  { flag: "message-status-max", env: "HERALD_MESSAGE_STATUS_MAX", key: "store.messageStatusMax", kind: "integer", help: "embedded: most request ids with delivery status kept, oldest dropped" },
  { flag: "registry-cache-max", env: "HERALD_REGISTRY_CACHE_MAX", key: "store.registryCacheMax", kind: "integer", help: "Redis: registry values kept near the core, kept true by Redis key tracking (0: read Redis on every call)" },
  { flag: "redis-command-timeout-ms", env: "HERALD_REDIS_COMMAND_TIMEOUT_MS", key: "redis.commandTimeoutMs", kind: "integer", help: "a Redis command not answered in time fails (UNAVAILABLE)" },
  { flag: "redis-max-reconnect-delay-ms", env: "HERALD_REDIS_MAX_RECONNECT_DELAY_MS", key: "redis.maxReconnectDelayMs", kind: "integer", help: "longest wait between Redis reconnection attempts" },
  { flag: "handler-cursor-flush-ms", env: "HERALD_HANDLER_CURSOR_FLUSH_MS", key: "watch.handlerCursorFlushMs", kind: "integer", help: "how often open event handler streams save their position" },
  { flag: "xms-keepalive-ms", env: "HERALD_XMS_KEEPALIVE_MS", key: "xms.keepaliveMs", kind: "integer", help: "XMS event streams: interval of keepalive events" },
  { flag: "shutdown-grace-ms", env: "HERALD_SHUTDOWN_GRACE_MS", key: "server.shutdownGraceMs", kind: "integer", help: "on SIGTERM, time for calls to finish before connections are cut" },
  { flag: "tls-cert", env: "HERALD_TLS_CERT", key: "tls.certFile", kind: "string", help: "PEM certificate (chain) file: TLS on both ports, with --tls-key; re-read on SIGHUP" },
  { flag: "tls-key", env: "HERALD_TLS_KEY", key: "tls.keyFile", kind: "string", help: "PEM private key file of --tls-cert; re-read on SIGHUP" },
  { flag: "tls-client-ca", env: "HERALD_TLS_CLIENT_CA", key: "tls.clientCaFile", kind: "string", help: "PEM CA file: clients on both ports must present a certificate it signed (mTLS); re-read on SIGHUP" },
  { flag: "core-ca", env: "HERALD_CORE_CA", key: "tls.coreCaFile", kind: "string", help: "with an https:// --core-url: PEM CA file the core's certificate is checked against (unset: system roots)" },
  { flag: "core-client-cert", env: "HERALD_CORE_CLIENT_CERT", key: "tls.coreClientCertFile", kind: "string", help: "with an https:// --core-url: PEM certificate file the facade presents to the core (mTLS), with --core-client-key; read at start" },
  { flag: "core-client-key", env: "HERALD_CORE_CLIENT_KEY", key: "tls.coreClientKeyFile", kind: "string", help: "PEM private key file of --core-client-cert; read at start" },
  { flag: "max-message-bytes", env: "HERALD_MAX_MESSAGE_BYTES", key: "limits.maxMessageBytes", kind: "integer", help: "largest request message" },
  { flag: "max-subscribers", env: "HERALD_MAX_SUBSCRIBERS", key: "limits.maxSubscribers", kind: "integer", help: "most subscribers in one request" },
  { flag: "max-name-pairs", env: "HERALD_MAX_NAME_PAIRS", key: "limits.maxNamePairs", kind: "integer", help: "most name pairs in one request" },
  { flag: "max-field-length", env: "HERALD_MAX_FIELD_LENGTH", key: "limits.maxFieldLength", kind: "integer", help: "longest id, name or routing field (characters)" },
  { flag: "max-content-bytes", env: "HERALD_MAX_CONTENT_BYTES", key: "limits.maxContentBytes", kind: "integer", help: "largest content.data (bytes)" },
  { flag: "max-payload-bytes", env: "HERALD_MAX_PAYLOAD_BYTES", key: "limits.maxPayloadBytes", kind: "integer", help: "largest JSON payload (bytes)" },
  { flag: "max-body-bytes", env: "HERALD_MAX_BODY_BYTES", key: "limits.maxBodyBytes", kind: "integer", help: "largest HTTP request body the facade reads (bytes)" },
  { flag: "max-body-depth", env: "HERALD_MAX_BODY_DEPTH", key: "limits.maxBodyDepth", kind: "integer", help: "deepest nesting of a facade request body" },
  { flag: "max-body-elements", env: "HERALD_MAX_BODY_ELEMENTS", key: "limits.maxBodyElements", kind: "integer", help: "most elements of a facade XML body" },
  { flag: "http-request-timeout-ms", env: "HERALD_HTTP_REQUEST_TIMEOUT_MS", key: "limits.httpRequestTimeoutMs", kind: "integer", help: "HTTP: most time to receive a whole request, body included (streamed responses may last longer)" },
  { flag: "http-headers-timeout-ms", env: "HERALD_HTTP_HEADERS_TIMEOUT_MS", key: "limits.httpHeadersTimeoutMs", kind: "integer", help: "HTTP: most time to receive a request's headers" },
  { flag: "max-http-connections", env: "HERALD_MAX_HTTP_CONNECTIONS", key: "limits.maxHttpConnections", kind: "integer", help: "HTTP: most open connections; past it new ones are closed at once (0: no limit)" },
  { flag: "max-grpc-connections", env: "HERALD_MAX_GRPC_CONNECTIONS", key: "limits.maxGrpcConnections", kind: "integer", help: "gRPC: most open connections; past it new ones are closed at once (0: no limit)" },
  { flag: "grpc-max-concurrent-streams", env: "HERALD_GRPC_MAX_CONCURRENT_STREAMS", key: "limits.grpcMaxConcurrentStreams", kind: "integer", help: "gRPC: most calls open at once on one connection (0: no limit)" },
  { flag: "max-handlers-per-app", env: "HERALD_MAX_HANDLERS_PER_APP", key: "limits.maxHandlersPerApp", kind: "integer", help: "most event handlers (XMS) one app id may hold" },
  { flag: "max-handler-subscriptions", env: "HERALD_MAX_HANDLER_SUBSCRIPTIONS", key: "limits.maxHandlerSubscriptions", kind: "integer", help: "most subscriptions of one event handler" },
  { flag: "max-push-messages", env: "HERALD_MAX_PUSH_MESSAGES", key: "limits.maxPushMessages", kind: "integer", help: "most messages in one request (SendPushBatch, SendEventBatch, Kony/Volt MX messages/push); keep it below --watch-queue-limit" },
  { flag: "idempotency-window-ms", env: "HERALD_IDEMPOTENCY_WINDOW_MS", key: "limits.idempotencyWindowMs", kind: "integer", help: "how long a send's idempotency key is remembered: a repeat within it publishes nothing and answers the first reply" },
  { flag: "token-secret-file", env: "HERALD_TOKEN_SECRET", key: "eventhos.tokenSecret", kind: "secret", help: "eventhos: HS256 secret of client tokens, the same on every instance (unset: generated once, kept in Redis)" },
  { flag: "token-ttl-seconds", env: "HERALD_TOKEN_TTL_SECONDS", key: "eventhos.tokenTtlSeconds", kind: "integer", help: "eventhos: lifetime of a token from /auth/token" },
  { flag: "token-failure-burst", env: "HERALD_TOKEN_FAILURE_BURST", key: "eventhos.tokenFailureBurst", kind: "integer", help: "eventhos: failed token requests one client id may make in a burst; then refused (RESOURCE_EXHAUSTED, 429) until some refill" },
  { flag: "token-failure-refill-ms", env: "HERALD_TOKEN_FAILURE_REFILL_MS", key: "eventhos.tokenFailureRefillMs", kind: "integer", help: "eventhos: time for one more failed token request to be allowed" },
  { flag: "token-address-failure-burst", env: "HERALD_TOKEN_ADDRESS_FAILURE_BURST", key: "eventhosFacade.tokenAddressFailureBurst", kind: "integer", help: "eventhos: failed /auth/token requests one remote address may make in a burst; then 429 until some refill" },
  { flag: "token-address-failure-refill-ms", env: "HERALD_TOKEN_ADDRESS_FAILURE_REFILL_MS", key: "eventhosFacade.tokenAddressFailureRefillMs", kind: "integer", help: "eventhos: time for one more failed /auth/token request of an address to be allowed" },
  { flag: "token-hash-concurrency", env: "HERALD_TOKEN_HASH_CONCURRENCY", key: "eventhos.tokenHashConcurrency", kind: "integer", help: "eventhos: client secrets hashed (scrypt) at once" },
  { flag: "token-hash-queue", env: "HERALD_TOKEN_HASH_QUEUE", key: "eventhos.tokenHashQueue", kind: "integer", help: "eventhos: token requests waiting for a hash; past it they are refused as busy at once" },
  { flag: "eventhos-success-code", env: "HERALD_EVENTHOS_SUCCESS_CODE", key: "eventhosFacade.successCode", kind: "integer", choices: ["200000", "20000"], help: "eventhos: code of a successful /event/send, 200000 (the document) or 20000 (the original server)" },
  { flag: "delivery-call-timeout-ms", env: "HERALD_DELIVERY_CALL_TIMEOUT_MS", key: "eventhos.callTimeoutMs", kind: "integer", help: "eventhos: a contract's HTTP call not done in time fails" },
  { flag: "delivery-retry-limit", env: "HERALD_DELIVERY_RETRY_LIMIT", key: "eventhos.retryLimit", kind: "integer", help: "eventhos: automatic retries of a failed call" },
  { flag: "delivery-backoff-base-ms", env: "HERALD_DELIVERY_BACKOFF_BASE_MS", key: "eventhos.backoffBaseMs", kind: "integer", help: "eventhos: first retry delay, doubled each retry" },
  { flag: "delivery-backoff-max-ms", env: "HERALD_DELIVERY_BACKOFF_MAX_MS", key: "eventhos.backoffMaxMs", kind: "integer", help: "eventhos: longest retry delay" },
  { flag: "delivery-concurrency", env: "HERALD_DELIVERY_CONCURRENCY", key: "eventhos.concurrency", kind: "integer", help: "eventhos: received events one instance delivers at once" },
  { flag: "delivery-claim-idle-ms", env: "HERALD_DELIVERY_CLAIM_IDLE_MS", key: "eventhos.claimIdleMs", kind: "integer", help: "eventhos: work of an instance silent this long is taken over" },
  { flag: "delivery-log-retention-ms", env: "HERALD_DELIVERY_LOG_RETENTION_MS", key: "eventhos.logRetentionMs", kind: "integer", help: "eventhos: how long received events and attempts are kept" },
  { flag: "delivery-log-body-bytes", env: "HERALD_DELIVERY_LOG_BODY_BYTES", key: "eventhos.logBodyBytes", kind: "integer", help: "eventhos: bytes of each request/response body kept in the log" },
  { flag: "delivery-log-max-received", env: "HERALD_DELIVERY_LOG_MAX_RECEIVED", key: "eventhos.logMaxReceived", kind: "integer", help: "eventhos embedded: received events kept in memory; beyond, the longest finished are dropped" },
  { flag: "delivery-allow-hosts", env: "HERALD_DELIVERY_ALLOW_HOSTS", key: "eventhos.allowHosts", kind: "string", help: "eventhos: host names, IPs and CIDR ranges (comma-separated) contracts may call although loopback, private or link-local" },
  { flag: "apns-url", env: "HERALD_APNS_URL", key: "push.apnsUrl", kind: "string", help: "push: APNs production endpoint (an http: URL speaks HTTP/2 without TLS, for local fakes)" },
  { flag: "apns-sandbox-url", env: "HERALD_APNS_SANDBOX_URL", key: "push.apnsSandboxUrl", kind: "string", help: "push: APNs development endpoint, for apps whose APNs provider is sandbox" },
  { flag: "apns-connections", env: "HERALD_APNS_CONNECTIONS", key: "push.apnsConnections", kind: "integer", help: "push: HTTP/2 connections kept to each APNs endpoint; pushes are multiplexed over them" },
  { flag: "fcm-url", env: "HERALD_FCM_URL", key: "push.fcmUrl", kind: "string", help: "push: FCM HTTP v1 API base" },
  { flag: "fcm-token-url", env: "HERALD_FCM_TOKEN_URL", key: "push.fcmTokenUrl", kind: "string", help: "push: OAuth2 token endpoint where service-account JWTs are exchanged for access tokens" },
  { flag: "push-concurrency", env: "HERALD_PUSH_CONCURRENCY", key: "push.concurrency", kind: "integer", help: "push: calls in flight at once per push service, per instance" },
  { flag: "push-call-timeout-ms", env: "HERALD_PUSH_CALL_TIMEOUT_MS", key: "push.callTimeoutMs", kind: "integer", help: "push: one call to a push service not answered in time is retried" },
  { flag: "push-retry-limit", env: "HERALD_PUSH_RETRY_LIMIT", key: "push.retryLimit", kind: "integer", help: "push: retries after a 429, a 5xx or a lost connection" },
  { flag: "push-backoff-base-ms", env: "HERALD_PUSH_BACKOFF_BASE_MS", key: "push.backoffBaseMs", kind: "integer", help: "push: first retry delay, doubled each retry, unless the service sends Retry-After" },
  { flag: "push-backoff-max-ms", env: "HERALD_PUSH_BACKOFF_MAX_MS", key: "push.backoffMaxMs", kind: "integer", help: "push: longest retry delay, Retry-After included" },
  { flag: "push-ttl", env: "HERALD_PUSH_TTL", key: "push.ttlSeconds", kind: "integer", help: "push: seconds a push is tried when the message gives no push_options.ttl_seconds" },
  { flag: "push-claim-idle-ms", env: "HERALD_PUSH_CLAIM_IDLE_MS", key: "push.claimIdleMs", kind: "integer", help: "push: queued pushes of an instance silent this long are taken over" },
  { flag: "push-allow-hosts", env: "HERALD_PUSH_ALLOW_HOSTS", key: "push.allowHosts", kind: "string", help: "push: host names, IP addresses and CIDR ranges (comma-separated) push services may be reached at although loopback, private or link-local (Web Push endpoints come from subscribers)" },
  { flag: "admin-key-file", env: "HERALD_ADMIN_KEY", key: "auth.adminKey", kind: "secret", help: "the admin credential (16+ characters); turns access control on for every surface" },
  { flag: "reflection", env: "HERALD_REFLECTION", key: "auth.reflection", kind: "string", choices: ["keyed", "open"], help: "with access control on: server reflection for any valid credential (keyed) or anyone (open)" },
  { flag: "jwt-secret-file", env: "HERALD_JWT_SECRET", key: "auth.jwtSecret", kind: "secret", help: "subscriber tokens: HS256 secret" },
  { flag: "jwt-public-key-file", env: "HERALD_JWT_PUBLIC_KEY_FILE", key: "auth.jwtPublicKeyFile", kind: "string", help: "subscriber tokens: PEM public key file (RS256 or ES256)" },
  { flag: "jwks-url", env: "HERALD_JWKS_URL", key: "auth.jwksUrl", kind: "string", help: "subscriber tokens: JWKS URL (RS256 or ES256 keys)" },
  { flag: "jwt-issuer", env: "HERALD_JWT_ISSUER", key: "auth.jwtIssuer", kind: "string", help: "subscriber tokens must carry this iss" },
  { flag: "jwt-audience", env: "HERALD_JWT_AUDIENCE", key: "auth.jwtAudience", kind: "string", help: "subscriber tokens must carry this aud" },
  { flag: "core-key-file", env: "HERALD_CORE_KEY", key: "auth.coreKey", kind: "secret", help: "with --core-url: the API key the facade presents to the core" },
  { flag: "console", env: "HERALD_CONSOLE", key: "server.console", kind: "boolean", help: "serve the live console page at /console on the HTTP port" },
  { flag: "no-metrics", env: "HERALD_NO_METRICS", key: "metrics.disabled", kind: "boolean", help: "collect and serve no metrics: no /metrics, nothing counted on any call" },
  { flag: "metrics-port", env: "HERALD_METRICS_PORT", key: "metrics.port", kind: "integer", help: "also serve /metrics on a port of its own (0: any free); it is always on the HTTP port" },
  { flag: "metrics-app-labels", env: "HERALD_METRICS_APP_LABELS", key: "metrics.appLabels", kind: "integer", help: "per-app metric series for at most this many app ids (the rest: app=\"other\"); 0: none" },
  { flag: "metrics-redis-commands", env: "HERALD_METRICS_REDIS_COMMANDS", key: "metrics.redisCommands", kind: "boolean", help: "time every Redis command (costs a little on each)" },
  { flag: "log-level", env: "LOG_LEVEL", key: "server.logLevel", kind: "string", help: "trace, debug, info, warn, error, fatal or silent" },
  { flag: "log-format", env: "HERALD_LOG_FORMAT", key: "server.logFormat", kind: "string", choices: ["auto", "json", "pretty"], help: "json lines, pretty lines, or auto: pretty on a terminal, json otherwise" },
];

export class UsageError extends Error {
  override readonly name = "UsageError";
}

export type Parsed = { help: true } | { help: false; config: HeraldConfig };

/** Flags win over environment variables, which win over the defaults. */
export function parseOptions(argv: string[], env: NodeJS.ProcessEnv): Parsed {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: "boolean", short: "h" },
        ...Object.fromEntries(flags.map((f) => [f.flag, { type: f.kind === "boolean" ? ("boolean" as const) : ("string" as const) }])),
      },
    }));
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  if (values["help"]) return { help: true };

  const config = resolveConfig();
  for (const f of flags) {
    const [section, field] = split(f.key);
    const set = (value: unknown) => {
      (config[section] as unknown as Record<string, unknown>)[field] = value;
    };
    if (f.kind === "boolean") {
      const value = values[f.flag] === true ? true : envBoolean(f, env[f.env]);
      if (value !== undefined) set(value);
      continue;
    }
    if (f.kind === "secret") {
      const value = secret(f, values[f.flag] as string | undefined, env);
      if (value !== undefined) set(value);
      continue;
    }
    const raw = (values[f.flag] as string | undefined) ?? env[f.env];
    if (raw === undefined || raw === "") continue;
    let value: string | number = raw;
    if (f.choices && !f.choices.includes(raw)) {
      throw new UsageError(`--${f.flag} (${f.env}) must be one of ${f.choices.join(", ")}, got "${raw}"`);
    }
    if (f.kind === "integer") {
      if (!/^\d+$/.test(raw)) throw new UsageError(`--${f.flag} (${f.env}) must be a whole number, got "${raw}"`);
      value = Number(raw);
    }
    set(value);
  }
  const targets = [
    config.redis.url && "--redis-url",
    config.redis.cluster && "--redis-cluster",
    config.redis.sentinels && "--redis-sentinels",
  ];
  if (targets.filter(Boolean).length > 1) {
    throw new UsageError(`${targets.filter(Boolean).join(", ")}: give one way to reach Redis`);
  }
  if (config.watch.fanOutSlice < 1) throw new UsageError("--watch-fan-out-slice must be at least 1");
  if (config.watch.maxBatch < 1) throw new UsageError("--watch-max-batch must be at least 1");
  if (config.redis.waitReplicas > 0 && config.redis.waitTimeoutMs < 1) {
    throw new UsageError("--redis-wait-timeout-ms must be at least 1 with --redis-wait-replicas");
  }
  if (config.metrics.disabled && config.metrics.port !== undefined) {
    throw new UsageError("--metrics-port serves metrics, and --no-metrics turns them off: give one of the two");
  }
  return { help: false, config };
}

/** A secret: from the flag's file, else the environment variable, else the file `<env>_FILE` names; trailing newlines dropped. */
function secret(f: Flag, file: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  const path = file ?? (env[f.env] ? undefined : env[`${f.env}_FILE`]);
  if (path === undefined || path === "") return env[f.env] || undefined;
  let text: string;
  try {
    text = readFileSync(path, "utf8").replace(/[\r\n]+$/, "");
  } catch (err) {
    throw new UsageError(`--${f.flag}: cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (text === "") throw new UsageError(`--${f.flag}: ${path} is empty`);
  return text;
}

/** A boolean flag's environment variable: 1/true/yes or 0/false/no (any case); unset or empty: not given. */
function envBoolean(f: Flag, raw: string | undefined): boolean | undefined {
  if (raw === undefined || raw === "") return undefined;
  const v = raw.trim().toLowerCase();
  if (["1", "true", "yes"].includes(v)) return true;
  if (["0", "false", "no"].includes(v)) return false;
  throw new UsageError(`${f.env} (--${f.flag}) must be 1, true, yes, 0, false or no, got "${raw}"`);
}

function split(key: Key): [keyof HeraldConfig, string] {
  const dot = key.indexOf(".");
  return [key.slice(0, dot) as keyof HeraldConfig, key.slice(dot + 1)];
}

export function usage(): string {
  const lines = flags.map((f) => {
    const [section, field] = split(f.key);
    const def = (defaultConfig[section] as unknown as Record<string, unknown>)[field];
    const shown = def === undefined ? "" : ` (default ${JSON.stringify(def)})`;
    return `  --${f.flag.padEnd(30)} ${f.env.padEnd(36)} ${f.help}${shown}`;
  });
  return [
    "Usage: herald [options]",
    "",
    "Commands against a running Herald over gRPC (each has --help; --address, HERALD_KEY as for keys):",
    "  herald keys create|list|revoke …          manage API keys (admin)",
    "  herald watch APP [--type T] [--json] …     tail an app's events live",
    "  herald send EVENT_ID [--ksid K] …          publish a registered event",
    "  herald push APP (--ksid K | --all-active) --data TEXT",
    "                                             publish an ad-hoc push",
    "  herald status REQUEST_ID                   delivery status of a request's messages",
    "  herald apps|events|subscribers list|put|delete …",
    "                                             manage the registry",
    "  herald handlers list APP                   list an app's event handlers",
    "  herald providers list|put|delete APP …     manage an app's push providers (APNs, FCM, Web Push)",
    "",
    "Starts the Herald core (gRPC) and its HTTP facade in one process. With no Redis configured it",
    "runs embedded: memory bus and store, one process, nothing kept across restarts.",
    "",
    `  ${"option".padEnd(32)} ${"environment".padEnd(36)} meaning`,
    ...lines,
    `  --${"help".padEnd(30)} ${"".padEnd(36)} this text`,
    "",
  ].join("\n");
}

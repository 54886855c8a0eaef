import { defaultRedisConfig, type RedisConfig } from "../core/redis/connect.js";
import { defaultStoreConfig, type StoreConfig } from "../core/store/store-config.js";
import { defaultWatchConfig, type WatchConfig } from "../core/hub/watch-config.js";
import { defaultLimits, type Limits } from "../core/rpc/limits.js";
import { defaultEventhosConfig, type EventhosConfig } from "../core/eventhos/eventhos-config.js";
import { defaultXmsConfig, type XmsConfig } from "../facade/xms/xms-config.js";
import { defaultEventhosFacadeConfig, type EventhosFacadeConfig } from "../facade/eventhos/eventhos-facade-config.js";
import { defaultTlsConfig, type TlsConfig } from "./tls.js";
import { defaultAuthConfig, type AuthConfig } from "../core/auth/auth-config.js";
import type { LogFormat } from "../core/logger.js";
import { defaultMetricsConfig, type MetricsConfig } from "../core/metrics/metrics-config.js";
import { defaultPushConfig, type PushConfig } from "../core/push/push-config.js";

/** The `server` section: the process itself. */
export interface ServerConfig {
  /** Interface both servers bind to; anything but loopback needs access control on or `insecure` (server/exposure.ts). */
  host: string;
  /** Serve the API without access control on a non-loopback `host` anyway (logged at warn). */
  insecure: boolean;
  /** gRPC (grpc-js) port; 0 picks a free one. */
  grpcPort: number;
  /** HTTP port: the legacy facade plus Connect and gRPC-Web; 0 picks a free one. */
  httpPort: number;
  /** Run only the HTTP facade, reaching the core over gRPC at this URL (http://host:port). */
  coreUrl: string | undefined;
  /** Registry seed file (YAML or JSON) loaded at start-up. */
  seedFile: string | undefined;
  /** On SIGTERM, how long streams and calls get to finish before connections are cut (ms). */
  shutdownGraceMs: number;
  /** Serve the live console page at /console on the HTTP port. */
  console: boolean;
  logLevel: string;
  /** JSON lines, pretty lines, or `auto`: pretty on a terminal, JSON otherwise. */
  logFormat: LogFormat;
}

export const defaultServerConfig: ServerConfig = {
  host: "127.0.0.1",
  insecure: false,
  grpcPort: 50051,
  httpPort: 8080,
  coreUrl: undefined,
  seedFile: undefined,
  shutdownGraceMs: 5_000,
  console: false,
  logLevel: "info",
  logFormat: "auto",
};

/**
 * Every option of a Herald process, by section. Each section's type and defaults live with the
 * component that reads it; each component is handed only its section. Flags and environment are
 * read only by the entry point (cli-options.ts).
 */
export interface HeraldConfig {
  server: ServerConfig;
  redis: RedisConfig;
  store: StoreConfig;
  watch: WatchConfig;
  limits: Limits;
  xms: XmsConfig;
  eventhos: EventhosConfig;
  eventhosFacade: EventhosFacadeConfig;
  tls: TlsConfig;
  auth: AuthConfig;
  metrics: MetricsConfig;
  push: PushConfig;
}

export const defaultConfig: HeraldConfig = {
  server: defaultServerConfig,
  redis: defaultRedisConfig,
  store: defaultStoreConfig,
  watch: defaultWatchConfig,
  limits: defaultLimits,
  xms: defaultXmsConfig,
  eventhos: defaultEventhosConfig,
  eventhosFacade: defaultEventhosFacadeConfig,
  tls: defaultTlsConfig,
  auth: defaultAuthConfig,
  metrics: defaultMetricsConfig,
  push: defaultPushConfig,
};

/** A configuration given in part: any section, any of its fields; the rest are defaults. */
export type HeraldConfigInput = { [S in keyof HeraldConfig]?: Partial<HeraldConfig[S]> };

export function resolveConfig(input: HeraldConfigInput = {}): HeraldConfig {
  const out = {} as Record<keyof HeraldConfig, unknown>;
  for (const section of Object.keys(defaultConfig) as Array<keyof HeraldConfig>) {
    out[section] = { ...defaultConfig[section], ...input[section] };
  }
  return out as HeraldConfig;
}

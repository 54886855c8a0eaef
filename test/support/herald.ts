import { once } from "node:events";
import { startHerald, type Herald } from "../../server/start-herald.js";
import type { HeraldConfigInput } from "../../server/config.js";
import { silentLogger } from "../../core/logger.js";
import { rawClients, unary, type RawClients } from "./grpc-client.js";

export interface TestHerald extends Herald {
  clients: RawClients;
  stop(): Promise<void>;
}

let prefixes = 0;
/** A key prefix no other test uses, so tests can share one Redis. */
export const uniquePrefix = () => `test${process.pid}-${++prefixes}:`;

/** A real Herald on free ports, with plain grpc-js clients connected to it. */
export async function startTestHerald(config: HeraldConfigInput = {}): Promise<TestHerald> {
  const server = { host: "127.0.0.1", grpcPort: 0, httpPort: 0, shutdownGraceMs: 2000, ...config.server };
  const herald = await startHerald({ ...config, server }, silentLogger);
  // With access control on, the test's own clients act as the admin.
  const clients = rawClients(herald.grpcPort, config.auth?.adminKey);
  return Object.assign(herald, {
    clients,
    async stop() {
      clients.close();
      await herald.close();
    },
  });
}

/** Registers a published app with a published event (id `${app}-e`) through the registry RPCs. */
export async function registerApp(h: TestHerald, app: string, opts: { message?: string } = {}): Promise<string> {
  await unary(h.clients.registry, "upsertApp", { app: { id: app, name: app, published: true } });
  const eventId = `${app}-e`;
  await unary(h.clients.registry, "upsertEvent", {
    event: { id: eventId, appId: app, name: "e", published: true, message: opts.message ?? "" },
  });
  return eventId;
}

/** Resolves when `n` more watchers are live on this instance. */
export const watchersLive = (h: Herald, n = 1) => fanOutMoments(h, "watch", n);

/** Resolves when `n` watchers of this instance are gone (their streams closed). */
export const watchersGone = (h: Herald, n = 1) => fanOutMoments(h, "unwatch", n);

/** Resolves once the fan-out has emitted `moment` `n` more times, then stops listening. */
function fanOutMoments(h: Herald, moment: "watch" | "unwatch", n: number): Promise<void> {
  let seen = 0;
  return new Promise((resolve) => {
    const on = () => {
      if (++seen >= n) {
        h.fanOut.off(moment, on);
        resolve();
      }
    };
    h.fanOut.on(moment, on);
  });
}

export { once };

import * as grpc from "@grpc/grpc-js";
import { RedisServer } from "../test/support/redis-server.js";
import { rawClients, unary, type RawClient } from "../test/support/grpc-client.js";
import { startHerald } from "../server/start-herald.js";
import { silentLogger } from "../core/logger.js";
import { report } from "./support.js";

/**
 * bench:retries — what a caller's retries publish while Redis is paused (SIGSTOP, as a stalled
 * Redis). SENDS SendEvent calls are started evenly over the PAUSE; each retries UNAVAILABLE,
 * DEADLINE_EXCEEDED (and INTERNAL) with exponential backoff (100 ms doubling to 1 s, per-call deadline 1 s) until
 * acknowledged. A send that failed had its publish script already written to Redis's socket, and
 * Redis runs it once resumed: without an idempotency key each such attempt is one more copy. Run
 * without a key, then with one (the same key on every attempt of a send).
 */
const sends = Number(process.env["BENCH_SENDS"] ?? 300);
const pauseMs = Number(process.env["BENCH_PAUSE_SECONDS"] ?? 3) * 1000;
// INTERNAL too: under load grpc-js may fail a call with "Session closed" (the README: retry it with a key).
const RETRIED = new Set([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED, grpc.status.INTERNAL]);

function call(client: RawClient, request: object, deadlineMs: number): Promise<{ msgId: string; offset: string }> {
  return new Promise((resolve, reject) => {
    client["sendEvent"](
      request,
      { deadline: Date.now() + deadlineMs },
      (err: grpc.ServiceError | null, res: { msgId: string; offset: string }) => (err ? reject(err) : resolve(res)),
    );
  });
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function run(redis: RedisServer, keyed: boolean, round: number) {
  const herald = await startHerald(
    {
      server: { grpcPort: 0, httpPort: 0 },
      redis: { url: redis.url, keyPrefix: `bench-retries-${round}:`, commandTimeoutMs: 500, maxReconnectDelayMs: 100 },
    },
    silentLogger,
  );
  const clients = rawClients(herald.grpcPort);
  try {
    await unary(clients.registry, "upsertApp", { app: { id: "bench", name: "bench", published: true } });
    await unary(clients.registry, "upsertEvent", { event: { id: "bench-e", appId: "bench", name: "e", published: true } });
    const marker = async () => Number((await call(clients.hub, { eventId: "bench-e" }, 10_000)).offset);
    const before = await marker();
    let failedAttempts = 0;
    redis.pause();
    const resumed = delay(pauseMs).then(() => redis.resume());
    const acks = await Promise.all(
      Array.from({ length: sends }, async (_, i) => {
        await delay((i * pauseMs) / sends);
        const request = {
          eventId: "bench-e",
          payload: { structValue: { fields: { n: { numberValue: i } } } },
          idempotencyKey: keyed ? `send-${i}` : "",
        };
        for (let attempt = 0; ; attempt++) {
          try {
            return await call(clients.hub, request, 1_000);
          } catch (err) {
            if (!RETRIED.has((err as grpc.ServiceError).code) || attempt === 60) throw err;
            failedAttempts++;
            await delay(Math.min(1_000, 100 * 2 ** attempt));
          }
        }
      }),
    );
    await resumed;
    const published = (await marker()) - before - 1;
    const distinct = new Set(acks.map((a) => a.msgId)).size;
    return [keyed ? "with key" : "no key", sends, failedAttempts, acks.length, distinct, published, published - sends];
  } finally {
    clients.close();
    await herald.close();
  }
}

const redis = await RedisServer.start();
try {
  const rows = [await run(redis, false, 1), await run(redis, true, 2)];
  report(
    `SendEvent retried through a ${pauseMs / 1000} s Redis pause (SIGSTOP), ${sends} sends`,
    ["idempotency", "sends", "failed attempts (retried)", "acknowledged", "distinct msg ids", "published", "duplicates"],
    rows,
  );
} finally {
  await redis.destroy();
}

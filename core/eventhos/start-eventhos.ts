import { randomBytes } from "node:crypto";
import type { ServiceImpl } from "@connectrpc/connect";
import type { ClientService, DeliveryService } from "../gen/herald/v1/eventhos_pb.js";
import type { Logger } from "../logger.js";
import type { RedisConnection } from "../redis/connect.js";
import { keysOf } from "../redis/keys.js";
import type { TrackedCache } from "../redis/tracked-cache.js";
import type { RegistryStore } from "../store/registry-store.js";
import type { WorkQueue } from "../queue/work-queue.js";
import { MemoryWorkQueue } from "../queue/memory-work-queue.js";
import { RedisWorkQueue } from "../queue/redis-work-queue.js";
import type { QueueDepth } from "../queue/work-queue.js";
import type { Validator } from "../rpc/validate.js";
import type { EventhosConfig } from "./eventhos-config.js";
import type { ClientStore } from "./client-store.js";
import type { DeliveryStore } from "./delivery-store.js";
import { MemoryClientStore } from "./memory-client-store.js";
import { RedisClientStore } from "./redis-client-store.js";
import { MemoryDeliveryStore } from "./memory-delivery-store.js";
import { RedisDeliveryStore } from "./redis-delivery-store.js";
import { DeliveryEngine } from "./delivery-engine.js";
import { TokenSigner } from "./token-signer.js";
import { TokenGuard } from "./token-guard.js";
import { createAuthorizer, type ClientOf } from "./authorize.js";
import { createClientService } from "./client-service.js";
import { createDeliveryService } from "./delivery-service.js";

/** Longest wait of one queue read; bounds how long a stop waits for the reader. */
const QUEUE_BLOCK_MS = 1000;

export interface Eventhos {
  /** The two services, unwrapped: the caller adds the layers (authorization, error mapping, metrics) once. */
  clients: ServiceImpl<typeof ClientService>;
  delivery: ServiceImpl<typeof DeliveryService>;
  engine: DeliveryEngine;
  /** The eventhos client an access key presented as a bearer credential stands for (the authorization layer asks). */
  clientOf: ClientOf;
  /** The delivery queue's unfinished jobs (the metrics read it). */
  queueDepth(): Promise<QueueDepth>;
  /** Stops the engine (unfinished work stays queued for others), then closes the backends. */
  close(): Promise<void>;
}

/**
 * The core side of eventhos: client and delivery stores, the work queue, the delivery engine and
 * the two services. In Redis when `redis` is given, else in this process.
 */
export async function startEventhos(deps: {
  config: EventhosConfig;
  redis: RedisConnection | undefined;
  /** The registry's near cache (Redis, unless off): clients, keys, actions and contracts are read through it. */
  cache?: TrackedCache | undefined;
  registry: RegistryStore;
  validator: Validator;
  logger: Logger;
}): Promise<Eventhos> {
  const { config, redis, registry, validator, logger } = deps;
  const queueOptions = { claimIdleMs: config.claimIdleMs, blockMs: Math.min(QUEUE_BLOCK_MS, config.claimIdleMs) };
  let clientStore: ClientStore | undefined;
  let deliveryStore: DeliveryStore | undefined;
  let queue: WorkQueue | undefined;
  try {
    if (redis) {
      const stream = keysOf(redis).eventhos.deliveries;
      clientStore = await RedisClientStore.connect(redis, deps.cache);
      deliveryStore = await RedisDeliveryStore.connect({ ...redis, retentionMs: config.logRetentionMs }, deps.cache);
      queue = await RedisWorkQueue.connect({ ...redis, ...queueOptions, stream, group: "deliverers", role: "delivery-queue" });
    } else {
      clientStore = new MemoryClientStore();
      deliveryStore = new MemoryDeliveryStore({ retentionMs: config.logRetentionMs, maxReceived: config.logMaxReceived });
      queue = new MemoryWorkQueue(queueOptions);
    }
    // Every instance must verify every other's tokens: a configured secret, else the first one
    // generated on this backend (Redis keeps it; embedded it lives as long as the process).
    const secret = config.tokenSecret ?? (await clientStore.sharedSecret(randomBytes(32).toString("base64url")));
    const signer = new TokenSigner(secret, config.tokenTtlSeconds);
    // One access-key check for ClientService.Authorize and DeliveryService.ReceiveEvent.
    const { authorize, clientOf } = createAuthorizer({ registry, clients: clientStore, signer, validator });
    const engine = new DeliveryEngine({ store: deliveryStore, queue, logger }, config);
    engine.start();
    const stores = { clientStore, deliveryStore, queue };
    return {
      // Bare: start-herald wraps each service once (authorization, error mapping, metrics), as the hub's.
      clients: createClientService({
        registry,
        clients: clientStore,
        signer,
        validator,
        authorize,
        tokenGuard: new TokenGuard({
          failureBurst: config.tokenFailureBurst,
          failureRefillMs: config.tokenFailureRefillMs,
          hashConcurrency: config.tokenHashConcurrency,
          hashQueue: config.tokenHashQueue,
        }),
      }),
      delivery: createDeliveryService({ registry, delivery: deliveryStore, queue, validator, authorize, logger }),
      engine,
      clientOf,
      queueDepth: () => stores.queue.depth(),
      async close() {
        await engine.close();
        await Promise.allSettled([stores.clientStore.close(), stores.deliveryStore.close(), stores.queue.close()]);
      },
    };
  } catch (err) {
    await Promise.allSettled([clientStore?.close(), deliveryStore?.close(), queue?.close()]);
    throw err;
  }
}

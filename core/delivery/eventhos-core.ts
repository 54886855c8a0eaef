import { redisSettings } from "../redis/connect.js";
import { randomBytes } from "node:crypto";
import type { ServiceImpl } from "@connectrpc/connect";
import type { ClientService, DeliveryService } from "../gen/herald/v1/eventhos_pb.js";
import type { HeraldOptions } from "../config.js";
import type { Logger } from "../logger.js";
import type { Store } from "../store/store.js";
import type { ClientStore } from "../store/client-store.js";
import type { DeliveryStore } from "../store/delivery-store.js";
import { MemoryClientStore } from "../store/memory-client-store.js";
import { RedisClientStore } from "../store/redis-client-store.js";
import { MemoryDeliveryStore } from "../store/memory-delivery-store.js";
import { RedisDeliveryStore } from "../store/redis-delivery-store.js";
import type { WorkQueue } from "./work-queue.js";
import { MemoryWorkQueue } from "./memory-work-queue.js";
import { RedisWorkQueue } from "./redis-work-queue.js";
import { DeliveryEngine } from "./engine.js";
import { TokenSigner } from "../rpc/access-keys.js";
import { createClientService } from "../rpc/client-service.js";
import { createDeliveryService } from "../rpc/delivery-service.js";
import { withErrorMapping } from "../rpc/map-errors.js";
import type { Validator } from "../rpc/validate.js";

/** Longest wait of one queue read; bounds how long a stop waits for the reader. */
const QUEUE_BLOCK_MS = 1000;

export interface EventhosCore {
  clients: ServiceImpl<typeof ClientService>;
  delivery: ServiceImpl<typeof DeliveryService>;
  engine: DeliveryEngine;
  /** Stops the engine (unfinished work stays queued for others), then closes the backends. */
  close(): Promise<void>;
}

/** The core side of eventhos: client and delivery stores, the work queue, the delivery engine, the RPCs. */
export async function startEventhosCore(deps: {
  options: HeraldOptions;
  store: Store;
  validator: Validator;
  logger: Logger;
}): Promise<EventhosCore> {
  const { options, store, validator, logger } = deps;
  const queueOptions = { claimIdleMs: options.deliveryClaimIdleMs, blockMs: Math.min(QUEUE_BLOCK_MS, options.deliveryClaimIdleMs) };
  let clientStore: ClientStore | undefined;
  let deliveryStore: DeliveryStore | undefined;
  let queue: WorkQueue | undefined;
  try {
    if (options.redisUrl) {
      const common = redisSettings({ ...options, redisUrl: options.redisUrl }, logger);
      clientStore = await RedisClientStore.connect(common);
      deliveryStore = await RedisDeliveryStore.connect({ ...common, retentionMs: options.deliveryLogRetentionMs });
      queue = await RedisWorkQueue.connect({ ...common, ...queueOptions });
    } else {
      clientStore = new MemoryClientStore();
      deliveryStore = new MemoryDeliveryStore({ retentionMs: options.deliveryLogRetentionMs });
      queue = new MemoryWorkQueue(queueOptions);
    }
    // Every instance must verify every other's tokens: a configured secret, else the first one
    // generated on this backend (Redis keeps it; embedded it lives as long as the process).
    const secret = options.tokenSecret ?? (await clientStore.sharedSecret(randomBytes(32).toString("base64url")));
    const signer = new TokenSigner(secret, options.tokenTtlSeconds);
    const engine = new DeliveryEngine(
      { store: deliveryStore, queue, logger },
      {
        concurrency: options.deliveryConcurrency,
        retryLimit: options.deliveryRetryLimit,
        backoffBaseMs: options.deliveryBackoffBaseMs,
        backoffMaxMs: options.deliveryBackoffMaxMs,
        claimIdleMs: options.deliveryClaimIdleMs,
        callTimeoutMs: options.deliveryCallTimeoutMs,
        logBodyBytes: options.deliveryLogBodyBytes,
      },
    );
    engine.start();
    const stores = { clientStore, deliveryStore, queue };
    return {
      clients: withErrorMapping(createClientService({ store, clients: clientStore, signer, validator })),
      delivery: withErrorMapping(createDeliveryService({ store, delivery: deliveryStore, queue, validator })),
      engine,
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

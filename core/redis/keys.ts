import { clusterNodes } from "./connect.js";
import { keySlot, slotTag } from "./slots.js";

/**
 * Every Redis key and channel Herald uses, built in one place (P = the key prefix, `herald:` by
 * default). What belongs to one app carries the app's hash tag `{A}`, so that Redis Cluster keeps
 * it in one slot; a status hash carries its request id's tag. The README's *Redis layout* describes
 * each.
 *
 * Ids are put in keys as they are, so every id a request brings is checked first with
 * `Validator.id` (core/rpc/validate.ts: letters, digits and `- _ . @ ~ + =`). Without that, an id
 * with `:` could name another key of its family (`received:<id>` and `received:by-event:<e>`,
 * `client:<id>` and `client:<id>:keys`), and one with `{` or `}` would leave its hash tag, i.e. reach
 * another app's keys or slot. Ids Herald makes itself (msg ids, ksids, handler and key ids) are safe.
 */
export function redisKeys(prefix: string, options: { cluster?: boolean } = {}) {
  const app = (appId: string, what: string) => `${prefix}{${appId}}:${what}`;
  const cluster = options.cluster ?? false;
  // On a Cluster, every eventhos key shares one hash tag: its scripts and transactions span keys.
  const eventhos = cluster ? `${prefix}{eventhos}:` : `${prefix}eventhos:`;
  return {
    prefix,
    cluster,

    // The bus (redis-bus.ts): ids, history and the live channel of each app.
    /** string: the global message id counter (one Redis, Sentinel). */
    msgid: `${prefix}msgid`,
    /**
     * string: the counter the app's msg ids are taken from: the global one on one Redis; on a Cluster
     * the counter of the app's slot (`P{#<n>}:msgid`, a tag that hashes to that slot), shared by the
     * apps of that slot, so that the publish script touches one slot.
     */
    msgidOf: (appId: string) => (cluster ? `${prefix}{${slotTag(appSlot(appId))}}:msgid` : `${prefix}msgid`),
    /** What the app's msg ids start above: 0 on one Redis; slot × 2^39 on a Cluster (see msgIdBase). */
    msgIdBase: (appId: string) => (cluster ? msgIdBase(appSlot(appId)) : 0),
    /** string: the app's latest offset. */
    offset: (appId: string) => app(appId, "offset"),
    /** stream: the app's messages, entry id 0-<offset>. */
    history: (appId: string) => app(appId, "history"),
    /** channel: the app's messages as published. */
    channel: (appId: string) => app(appId, "events"),
    /**
     * hash (expires with the window): a send's idempotency key → `f` fingerprint, `i` ids, `m` memo.
     * Named by the SHA-256 (hex) of the caller's key, never the key itself: any key a caller picks
     * stays inside its app's tag and this family.
     */
    idempotency: (appId: string, keyHash: string) => app(appId, `idem:${keyHash}`),

    // The registry (redis-registry-store.ts).
    /** set: every app id. */
    apps: `${prefix}apps`,
    /** string: the app (protobuf). */
    app: (appId: string) => app(appId, "app"),
    /** hash: event id → definition (protobuf); event ids are global. */
    events: `${prefix}events`,
    /** set: the ids of the app's events. */
    appEvents: (appId: string) => app(appId, "events"),
    /** hash: ksid → subscriber (protobuf). */
    subscribers: (appId: string) => app(appId, "subs"),
    /** hash: device id NUL ufid → ksid. */
    subscriberByKey: (appId: string) => app(appId, "by-key"),
    /** set: the ksids of a device. */
    subscribersOfDevice: (appId: string, deviceId: string) => app(appId, `by-device:${deviceId}`),
    /** set: the ksids of a user. */
    subscribersOfUfid: (appId: string, ufid: string) => app(appId, `by-ufid:${ufid}`),
    /** hash: ksid → app id. */
    ksidIndex: `${prefix}ksid-index`,
    /** string: the ksid counter. */
    ksidSeq: `${prefix}ksid-seq`,

    // Push (redis-push-provider-store.ts, core/push).
    /** hash: push channel number → the app's provider (protobuf, private key included). */
    pushProviders: (appId: string) => app(appId, "push-providers"),
    /** stream: the push delivery work queue (one job per message with device targets). */
    pushDeliveries: `${prefix}push:deliveries`,

    // Access control (redis-api-key-store.ts).
    /** hash: API key id → record (JSON: roles, apps, SHA-256 of the secret, times). */
    apiKeys: `${prefix}api-keys`,

    // Delivery status (redis-status-store.ts).
    /** hash: `m:<msgId>` → record, `d:<msgId>:<ksid>` → delivery time. */
    status: (requestId: string) => `${prefix}status:{${requestId}}`,

    // Event handlers (redis-handler-store.ts).
    /** hash: handler id → handler (protobuf). */
    handlers: (appId: string) => app(appId, "handlers"),
    /** hash: handler id → revision. */
    handlerRevs: (appId: string) => app(appId, "handler-revs"),
    /** hash: handler id → the offset its streams delivered up to. */
    handlerCursors: (appId: string) => app(appId, "handler-cursors"),

    // eventhos (core/eventhos): clients as JSON, the rest as protobuf.
    eventhos: {
      /** set: every client id. */
      clients: `${eventhos}clients`,
      /** string: the client without its keys (JSON). */
      client: (id: string) => `${eventhos}client:${id}`,
      /** hash: key id → {hash, createdMs} (JSON). */
      clientKeys: (id: string) => `${eventhos}client:${id}:keys`,
      /** string: [client id, key id] of a key, by its SHA-256. */
      key: (hash: string) => `${eventhos}key:${hash}`,
      /** string: the HS256 secret of client tokens. */
      tokenSecret: `${eventhos}token-secret`,
      actions: `${eventhos}actions`,
      action: (id: string) => `${eventhos}action:${id}`,
      /** The prefix of `action(id)`, for reading a set's members. */
      actionPrefix: `${eventhos}action:`,
      contracts: `${eventhos}contracts`,
      contract: (id: string) => `${eventhos}contract:${id}`,
      contractPrefix: `${eventhos}contract:`,
      contractsOfEvent: (eventId: string) => `${eventhos}contracts:by-event:${eventId}`,
      /** zset: received ids by receive time. */
      receivedIndex: `${eventhos}received`,
      receivedOfEvent: (eventId: string) => `${eventhos}received:by-event:${eventId}`,
      received: (id: string) => `${eventhos}received:${id}`,
      execution: (id: string) => `${eventhos}execution:${id}`,
      /** hash: `<n>` → attempt, `<n>:done` → fence. */
      attempts: (executionId: string) => `${eventhos}execution:${executionId}:attempts`,
      /** stream: the delivery work queue. */
      deliveries: `${eventhos}deliveries`,
    },
  } as const;
}

export type RedisKeys = ReturnType<typeof redisKeys>;

/** The keys of a connection's configuration (Cluster or not). */
export const keysOf = (c: { keyPrefix: string; cluster?: string | undefined; url?: string }) =>
  redisKeys(c.keyPrefix, { cluster: clusterNodes({ url: c.url, cluster: c.cluster }) !== undefined });

/** The hash slot of an app's keys and channel. */
export const appSlot = (appId: string) => keySlot(`{${appId}}`);

/**
 * On a Cluster, msg ids are `slot × 2^39 + n`, n counting per slot from 1: numeric, unique across
 * the cluster, increasing within a slot (so within an app), below 2^53 (16384 × 2^39 = 2^53), so
 * Lua's doubles and JSON numbers carry them exactly; 2^39 (5.5 × 10^11) ids per slot.
 */
export const MSGID_SLOT_BITS = 39;
export const msgIdBase = (slot: number) => slot * 2 ** MSGID_SLOT_BITS;

import type { Redis } from "ioredis";
import { fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import {
  ActionSchema,
  AttemptSchema,
  ContractSchema,
  ExecutionSchema,
  ReceivedEventSchema,
  ReceivedState,
  type Action,
  type Attempt,
  type Contract,
  type Execution,
  type ReceivedEvent,
} from "../gen/herald/v1/eventhos_pb.js";
import { StoreUnavailableError } from "./store.js";
import type { DeliveryStore, DeliveryStoreOptions, ReceivedFilter } from "./delivery-store.js";
import { connectRedis, isUnavailable, ready } from "../redis/connect.js";
import type { Logger } from "../logger.js";

export interface RedisDeliveryStoreOptions extends DeliveryStoreOptions {
  url: string;
  keyPrefix: string;
  commandTimeoutMs: number;
  maxReconnectDelayMs: number;
  logger: Logger;
}

/**
 * Stores a received event and its executions unless it exists, indexes it by time (global and per
 * event), drops index entries older than the retention. All keys expire with the retention.
 * KEYS: received, index, by-event index, execution keys…  ARGV: received bytes, score, id, ttl ms,
 * oldest score kept, execution bytes… (in KEYS order).
 */
const CREATE_SCRIPT = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[4]) == false then return 0 end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[5])
redis.call('PEXPIRE', KEYS[3], ARGV[4])
for i = 4, #KEYS do redis.call('SET', KEYS[i], ARGV[i + 2], 'PX', ARGV[4]) end
return 1
`;

/** Attempt n is stored only if absent. KEYS: attempts hash. ARGV: n, bytes, ttl ms. */
const START_SCRIPT = `
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[3], 'NX')
return 1
`;

/** Replaces a started attempt once: the `<n>:done` flag is the fence. KEYS: attempts hash. ARGV: n, bytes. */
const FINISH_SCRIPT = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
if redis.call('HSETNX', KEYS[1], ARGV[1] .. ':done', '1') == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`;

type Commands = Redis & {
  eventhosCreate(numKeys: number, ...args: Array<string | Buffer | number>): Promise<number>;
  eventhosStart(key: string, n: number, bytes: Buffer, ttlMs: number): Promise<number>;
  eventhosFinish(key: string, n: number, bytes: Buffer): Promise<number>;
};

const buf = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
const encode = <D extends DescMessage>(schema: D, m: MessageShape<D>) => buf(toBinary(schema, m));

/**
 * The delivery registry and log in Redis, values as protobuf binary, keys under `eventhos:`:
 * `action:<id>` + set `actions`; `contract:<id>` + set `contracts` + set `contracts:by-event:<event>`;
 * `received:<id>` + zsets `received` and `received:by-event:<event>` (score: time ms);
 * `execution:<id>` (without attempts) + hash `execution:<id>:attempts` (`<n>` → Attempt, `<n>:done`).
 */
export class RedisDeliveryStore implements DeliveryStore {
  private constructor(
    private readonly options: RedisDeliveryStoreOptions,
    private readonly p: string,
    private readonly redis: Commands,
  ) {}

  static async connect(options: RedisDeliveryStoreOptions): Promise<RedisDeliveryStore> {
    const redis = connectRedis({ ...options, role: "delivery-store" }, { enableAutoPipelining: true }) as Commands;
    redis.defineCommand("eventhosCreate", { lua: CREATE_SCRIPT });
    redis.defineCommand("eventhosStart", { numberOfKeys: 1, lua: START_SCRIPT });
    redis.defineCommand("eventhosFinish", { numberOfKeys: 1, lua: FINISH_SCRIPT });
    try {
      await ready(redis);
    } catch (err) {
      redis.disconnect();
      throw new StoreUnavailableError(`cannot connect to Redis: ${String(err)}`);
    }
    return new RedisDeliveryStore(options, `${options.keyPrefix}eventhos:`, redis);
  }

  private call<T>(f: () => Promise<T>): Promise<T> {
    return f().catch((err: unknown) => {
      if (isUnavailable(err)) throw new StoreUnavailableError(`redis: ${err instanceof Error ? err.message : String(err)}`);
      throw err;
    });
  }

  private async read<D extends DescMessage>(schema: D, key: string): Promise<MessageShape<D> | undefined> {
    const b = await this.redis.getBuffer(key);
    return b ? fromBinary(schema, b) : undefined;
  }

  private async readAll<D extends DescMessage>(schema: D, set: string, prefix: string): Promise<Array<MessageShape<D>>> {
    const ids = (await this.redis.smembers(set)).sort();
    const all: Array<MessageShape<D> | undefined> = await Promise.all(ids.map((id) => this.read(schema, `${prefix}${id}`)));
    return all.filter((m) => m !== undefined) as Array<MessageShape<D>>;
  }

  upsertAction(action: Action): Promise<Action> {
    return this.call(async () => {
      await this.redis.multi().set(`${this.p}action:${action.id}`, encode(ActionSchema, action)).sadd(`${this.p}actions`, action.id).exec();
      return action;
    });
  }
  getAction(id: string) {
    return this.call(() => this.read(ActionSchema, `${this.p}action:${id}`));
  }
  listActions(appId: string) {
    return this.call(async () => (await this.readAll(ActionSchema, `${this.p}actions`, `${this.p}action:`)).filter((a) => appId === "" || a.appId === appId));
  }
  deleteAction(id: string) {
    return this.call(async () => {
      const res = await this.redis.multi().del(`${this.p}action:${id}`).srem(`${this.p}actions`, id).exec();
      return Number(res?.[0]?.[1] ?? 0) > 0;
    });
  }

  upsertContract(contract: Contract): Promise<Contract> {
    return this.call(async () => {
      const old = await this.read(ContractSchema, `${this.p}contract:${contract.id}`);
      const tx = this.redis.multi();
      if (old && old.eventId !== contract.eventId) tx.srem(`${this.p}contracts:by-event:${old.eventId}`, contract.id);
      await tx
        .set(`${this.p}contract:${contract.id}`, encode(ContractSchema, contract))
        .sadd(`${this.p}contracts`, contract.id)
        .sadd(`${this.p}contracts:by-event:${contract.eventId}`, contract.id)
        .exec();
      return contract;
    });
  }
  getContract(id: string) {
    return this.call(() => this.read(ContractSchema, `${this.p}contract:${id}`));
  }
  listContracts(eventId: string) {
    return this.call(() =>
      this.readAll(ContractSchema, eventId === "" ? `${this.p}contracts` : `${this.p}contracts:by-event:${eventId}`, `${this.p}contract:`),
    );
  }
  deleteContract(id: string) {
    return this.call(async () => {
      const old = await this.read(ContractSchema, `${this.p}contract:${id}`);
      if (!old) return false;
      await this.redis
        .multi()
        .del(`${this.p}contract:${id}`)
        .srem(`${this.p}contracts`, id)
        .srem(`${this.p}contracts:by-event:${old.eventId}`, id)
        .exec();
      return true;
    });
  }

  createReceived(received: ReceivedEvent, executions: Execution[]): Promise<boolean> {
    return this.call(async () => {
      const ms = received.time ? timestampMs(received.time) : Date.now();
      const keys = [
        `${this.p}received:${received.id}`,
        `${this.p}received`,
        `${this.p}received:by-event:${received.eventId}`,
        ...executions.map((e) => `${this.p}execution:${e.id}`),
      ];
      const args = [
        encode(ReceivedEventSchema, received),
        ms,
        received.id,
        this.options.retentionMs,
        Date.now() - this.options.retentionMs,
        ...executions.map((e) => encode(ExecutionSchema, e)),
      ];
      return (await this.redis.eventhosCreate(keys.length, ...keys, ...args)) === 1;
    });
  }
  getReceived(id: string) {
    return this.call(() => this.read(ReceivedEventSchema, `${this.p}received:${id}`));
  }
  listReceived(filter: ReceivedFilter) {
    return this.call(async () => {
      const index = filter.eventId === "" ? `${this.p}received` : `${this.p}received:by-event:${filter.eventId}`;
      const max = filter.toMs === undefined ? "+inf" : String(filter.toMs);
      const min = String(Math.max(filter.fromMs ?? 0, Date.now() - this.options.retentionMs));
      const out: ReceivedEvent[] = [];
      const page = Math.max(filter.limit, 100);
      // Pages of ids, newest first; a state filter may skip many, so read on until enough.
      for (let offset = 0; out.length < filter.limit; offset += page) {
        const ids = await this.redis.zrevrangebyscore(index, max, min, "LIMIT", offset, page);
        const events = await Promise.all(ids.map((id) => this.read(ReceivedEventSchema, `${this.p}received:${id}`)));
        for (const r of events) {
          if (!r || (filter.state !== ReceivedState.UNSPECIFIED && r.state !== filter.state)) continue;
          out.push(r);
          if (out.length >= filter.limit) break;
        }
        if (ids.length < page) break;
      }
      return out;
    });
  }
  setReceivedState(id: string, state: ReceivedState) {
    return this.call(async () => {
      const r = await this.read(ReceivedEventSchema, `${this.p}received:${id}`);
      if (!r) return;
      r.state = state;
      await this.redis.set(`${this.p}received:${id}`, encode(ReceivedEventSchema, r), "KEEPTTL");
    });
  }

  getExecution(id: string) {
    return this.call(async () => {
      const [e, attempts] = await Promise.all([
        this.read(ExecutionSchema, `${this.p}execution:${id}`),
        this.redis.hgetallBuffer(`${this.p}execution:${id}:attempts`),
      ]);
      if (!e) return undefined;
      e.attempts = Object.entries(attempts)
        .filter(([field]) => /^\d+$/.test(field))
        .map(([, b]) => fromBinary(AttemptSchema, b))
        .sort((a, b) => a.number - b.number);
      return e;
    });
  }
  updateExecution(id: string, change: { state: Execution["state"]; runStart?: number }) {
    return this.call(async () => {
      const e = await this.read(ExecutionSchema, `${this.p}execution:${id}`);
      if (!e) return;
      e.state = change.state;
      if (change.runStart !== undefined) e.runStart = change.runStart;
      e.attempts = [];
      await this.redis.set(`${this.p}execution:${id}`, encode(ExecutionSchema, e), "KEEPTTL");
    });
  }
  startAttempt(executionId: string, attempt: Attempt) {
    return this.call(async () =>
      (await this.redis.eventhosStart(`${this.p}execution:${executionId}:attempts`, attempt.number, encode(AttemptSchema, attempt), this.options.retentionMs)) === 1,
    );
  }
  finishAttempt(executionId: string, attempt: Attempt) {
    return this.call(async () =>
      (await this.redis.eventhosFinish(`${this.p}execution:${executionId}:attempts`, attempt.number, encode(AttemptSchema, attempt))) === 1,
    );
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => undefined);
    this.redis.disconnect();
  }
}

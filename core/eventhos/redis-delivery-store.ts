import { fromBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
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
import type { DeliveryStore, DeliveryStoreOptions, ReceivedFilter } from "./delivery-store.js";
import { connectClient, orUnavailable, readyAll, type RedisConnection, type RedisClient } from "../redis/connect.js";
import { keysOf, type RedisKeys } from "../redis/keys.js";
import { defineScripts } from "../redis/scripts.js";
import type { TrackedCache } from "../redis/tracked-cache.js";
import { buf } from "../redis/buffers.js";
import { encodeRecord } from "./encode-record.js";

export interface RedisDeliveryStoreOptions extends DeliveryStoreOptions, RedisConnection {}

const encode = <D extends DescMessage>(schema: D, m: MessageShape<D>) => buf(encodeRecord(schema, m));

/** Field numbers of the fields a state change appends (proto/herald/v1/eventhos.proto). */
const RECEIVED_STATE = ReceivedEventSchema.field.state.number;
const EXECUTION_STATE = ExecutionSchema.field.state.number;
const EXECUTION_RUN_START = ExecutionSchema.field.runStart.number;

/**
 * The delivery registry and log in Redis, values as protobuf binary, keys under `eventhos:`:
 * `action:<id>` + set `actions`; `contract:<id>` + set `contracts` + set `contracts:by-event:<event>`;
 * `received:<id>` + zsets `received` and `received:by-event:<event>` (score: time ms);
 * `execution:<id>` (without attempts) + hash `execution:<id>:attempts` (`<n>` → Attempt, `<n>:done`).
 *
 * Actions and contracts, read for every received event and seldom changed, go through the
 * registry's near cache when there is one (a change anywhere is seen once Redis's invalidation
 * arrives, this process's own at once); the bytes are cached, and each read decodes its own copy.
 */
export class RedisDeliveryStore implements DeliveryStore {
  private readonly scripts;

  private constructor(
    private readonly options: RedisDeliveryStoreOptions,
    private readonly k: RedisKeys["eventhos"],
    private readonly redis: RedisClient,
    /** Absent: every read goes to Redis. */
    private readonly cache: TrackedCache | undefined,
  ) {
    this.scripts = defineScripts(redis, ["received-create", "attempt-start", "attempt-finish", "append-fields"]);
  }

  static async connect(options: RedisDeliveryStoreOptions, cache?: TrackedCache): Promise<RedisDeliveryStore> {
    const redis = connectClient({ ...options, role: "delivery-store" }, { enableAutoPipelining: true });
    await readyAll(redis);
    return new RedisDeliveryStore(options, keysOf(options).eventhos, redis, cache);
  }

  /** An action or contract, through the near cache if there is one. */
  private async readCached<D extends DescMessage>(schema: D, key: string): Promise<MessageShape<D> | undefined> {
    if (!this.cache) return this.read(schema, key);
    const b = await this.cache.read(key, "", (r) => r.getBuffer(key));
    return b ? fromBinary(schema, b) : undefined;
  }

  /** A write of actions or contracts; once it is answered, what the cache holds of its keys is dropped. */
  private async wrote<T>(keys: readonly string[], write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } finally {
      this.cache?.invalidate(keys);
    }
  }

  private async read<D extends DescMessage>(schema: D, key: string): Promise<MessageShape<D> | undefined> {
    const b = await this.redis.getBuffer(key);
    return b ? fromBinary(schema, b) : undefined;
  }

  /** As read, but a record that does not decode is reported and read as absent: one bad record never fails a whole list. */
  private async readOrSkip<D extends DescMessage>(schema: D, key: string): Promise<MessageShape<D> | undefined> {
    const b = await this.redis.getBuffer(key);
    if (!b) return undefined;
    try {
      return fromBinary(schema, b);
    } catch (err) {
      this.options.logger.warn({ key, err: String(err) }, "skipping a stored record that cannot be read");
      return undefined;
    }
  }

  /** The actions or contracts of an id set, in id order (through the near cache). */
  private async readAll<D extends DescMessage>(schema: D, set: string, prefix: string): Promise<Array<MessageShape<D>>> {
    const members = this.cache ? await this.cache.read(set, "", (r) => r.smembers(set)) : await this.redis.smembers(set);
    const ids = [...members].sort();
    const all: Array<MessageShape<D> | undefined> = await Promise.all(ids.map((id) => this.readCached(schema, `${prefix}${id}`)));
    return all.filter((m) => m !== undefined) as Array<MessageShape<D>>;
  }

  upsertAction(action: Action): Promise<Action> {
    return orUnavailable(async () => {
      await this.wrote([this.k.action(action.id), this.k.actions], () =>
        this.redis.multi().set(this.k.action(action.id), encode(ActionSchema, action)).sadd(this.k.actions, action.id).exec(),
      );
      return action;
    });
  }
  getAction(id: string) {
    return orUnavailable(() => this.readCached(ActionSchema, this.k.action(id)));
  }
  listActions(appId: string) {
    return orUnavailable(async () =>
      (await this.readAll(ActionSchema, this.k.actions, this.k.actionPrefix)).filter((a) => appId === "" || a.appId === appId),
    );
  }
  deleteAction(id: string) {
    return orUnavailable(async () => {
      const res = await this.wrote([this.k.action(id), this.k.actions], () =>
        this.redis.multi().del(this.k.action(id)).srem(this.k.actions, id).exec(),
      );
      return Number(res?.[0]?.[1] ?? 0) > 0;
    });
  }

  upsertContract(contract: Contract): Promise<Contract> {
    return orUnavailable(async () => {
      const old = await this.read(ContractSchema, this.k.contract(contract.id));
      const tx = this.redis.multi();
      const moved = old && old.eventId !== contract.eventId ? [this.k.contractsOfEvent(old.eventId)] : [];
      if (moved.length > 0) tx.srem(moved[0]!, contract.id);
      const keys = [this.k.contract(contract.id), this.k.contracts, this.k.contractsOfEvent(contract.eventId), ...moved];
      await this.wrote(keys, () =>
        tx
          .set(this.k.contract(contract.id), encode(ContractSchema, contract))
          .sadd(this.k.contracts, contract.id)
          .sadd(this.k.contractsOfEvent(contract.eventId), contract.id)
          .exec(),
      );
      return contract;
    });
  }
  getContract(id: string) {
    return orUnavailable(() => this.readCached(ContractSchema, this.k.contract(id)));
  }
  listContracts(eventId: string) {
    return orUnavailable(() =>
      this.readAll(ContractSchema, eventId === "" ? this.k.contracts : this.k.contractsOfEvent(eventId), this.k.contractPrefix),
    );
  }
  deleteContract(id: string) {
    return orUnavailable(async () => {
      const old = await this.read(ContractSchema, this.k.contract(id));
      if (!old) return false;
      await this.wrote([this.k.contract(id), this.k.contracts, this.k.contractsOfEvent(old.eventId)], () =>
        this.redis.multi().del(this.k.contract(id)).srem(this.k.contracts, id).srem(this.k.contractsOfEvent(old.eventId), id).exec(),
      );
      return true;
    });
  }

  createReceived(received: ReceivedEvent, executions: Execution[]): Promise<boolean> {
    return orUnavailable(async () => {
      const ms = received.time ? timestampMs(received.time) : Date.now();
      const keys = [
        this.k.received(received.id),
        this.k.receivedIndex,
        this.k.receivedOfEvent(received.eventId),
        ...executions.map((e) => this.k.execution(e.id)),
      ];
      const args = [
        encode(ReceivedEventSchema, received),
        ms,
        received.id,
        this.options.retentionMs,
        Date.now() - this.options.retentionMs,
        ...executions.map((e) => encode(ExecutionSchema, e)),
      ];
      return (await this.scripts["received-create"].run<number>(keys, args)) === 1;
    });
  }
  getReceived(id: string) {
    return orUnavailable(() => this.read(ReceivedEventSchema, this.k.received(id)));
  }
  listReceived(filter: ReceivedFilter) {
    return orUnavailable(async () => {
      const index = filter.eventId === "" ? this.k.receivedIndex : this.k.receivedOfEvent(filter.eventId);
      const max = filter.toMs === undefined ? "+inf" : String(filter.toMs);
      const min = String(Math.max(filter.fromMs ?? 0, Date.now() - this.options.retentionMs));
      const out: ReceivedEvent[] = [];
      const page = Math.max(filter.limit, 100);
      // Pages of ids, newest first; a state or client filter may skip many, so read on until enough.
      for (let offset = 0; out.length < filter.limit; offset += page) {
        const ids = await this.redis.zrevrangebyscore(index, max, min, "LIMIT", offset, page);
        const events = await Promise.all(ids.map((id) => this.readOrSkip(ReceivedEventSchema, this.k.received(id))));
        for (const r of events) {
          if (!r || (filter.state !== ReceivedState.UNSPECIFIED && r.state !== filter.state)) continue;
          if (filter.clientId !== undefined && r.clientId !== filter.clientId) continue;
          out.push(r);
          if (out.length >= filter.limit) break;
        }
        if (ids.length < page) break;
      }
      return out;
    });
  }
  /** The new state appended to the stored record: its reader keeps the last value. */
  setReceivedState(id: string, state: ReceivedState) {
    const fields = new BinaryWriter().tag(RECEIVED_STATE, WireType.Varint).int32(state).finish();
    return orUnavailable(async () => {
      await this.scripts["append-fields"].run([this.k.received(id)], [buf(fields)]);
    });
  }

  getExecution(id: string) {
    return orUnavailable(async () => {
      const [e, attempts] = await Promise.all([
        this.read(ExecutionSchema, this.k.execution(id)),
        this.redis.hgetallBuffer(this.k.attempts(id)),
      ]);
      if (!e) return undefined;
      e.attempts = Object.entries(attempts)
        .filter(([field]) => /^\d+$/.test(field))
        .map(([, b]) => fromBinary(AttemptSchema, b))
        .sort((a, b) => a.number - b.number);
      return e;
    });
  }
  /** As setReceivedState: the changed fields appended (the record holds no attempts: they have their hash). */
  updateExecution(id: string, change: { state: Execution["state"]; runStart?: number }) {
    const w = new BinaryWriter().tag(EXECUTION_STATE, WireType.Varint).int32(change.state);
    if (change.runStart !== undefined) w.tag(EXECUTION_RUN_START, WireType.Varint).uint32(change.runStart);
    return orUnavailable(async () => {
      await this.scripts["append-fields"].run([this.k.execution(id)], [buf(w.finish())]);
    });
  }
  startAttempt(executionId: string, attempt: Attempt) {
    return orUnavailable(
      async () =>
        (await this.scripts["attempt-start"].run<number>(
          [this.k.attempts(executionId)],
          [attempt.number, encode(AttemptSchema, attempt), this.options.retentionMs],
        )) === 1,
    );
  }
  finishAttempt(executionId: string, attempt: Attempt) {
    return orUnavailable(
      async () =>
        (await this.scripts["attempt-finish"].run<number>(
          [this.k.attempts(executionId)],
          [attempt.number, encode(AttemptSchema, attempt)],
        )) === 1,
    );
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => undefined);
    this.redis.disconnect();
  }
}

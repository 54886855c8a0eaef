import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import {
  ActionSchema,
  AttemptOutcome,
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

/**
 * A deep copy of a message of these proto3 types, which `create` makes as plain objects (no
 * prototype defaults): objects, arrays, byte arrays and scalars copied as they are. Several times
 * cheaper than `clone`, which walks the message by reflection, and the store copies every message
 * in and out.
 */
function copyPlain<T>(value: T): T {
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) return value.map(copyPlain) as T;
  if (value instanceof Uint8Array) return value.slice() as T;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const v = copyPlain((value as Record<string, unknown>)[key]);
    // A map key (header names are the client's) may be "__proto__": an own property all the same.
    if (key === "__proto__") Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
    else out[key] = v;
  }
  return out as T;
}
const clone = <D extends DescMessage>(_schema: D, m: MessageShape<D>): MessageShape<D> => copyPlain(m);
const copy = <D extends DescMessage>(schema: D, m: MessageShape<D> | undefined) => (m ? clone(schema, m) : undefined);
const receivedMs = (r: ReceivedEvent) => (r.time ? timestampMs(r.time) : 0);

/** Messages by id, handed in and out as copies; listed in id order. */
class MessageTable<D extends DescMessage> {
  private readonly rows = new Map<string, MessageShape<D>>();
  constructor(private readonly schema: D) {}

  put(m: MessageShape<D> & { id: string }): MessageShape<D> {
    this.rows.set(m.id, clone(this.schema, m));
    return clone(this.schema, m);
  }
  get(id: string): MessageShape<D> | undefined {
    return copy(this.schema, this.rows.get(id));
  }
  list(keep: (m: MessageShape<D>) => boolean): Array<MessageShape<D>> {
    return [...this.rows.entries()]
      .filter(([, m]) => keep(m))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([, m]) => clone(this.schema, m));
  }
  delete(id: string): boolean {
    return this.rows.delete(id);
  }
}

export interface MemoryDeliveryStoreOptions extends DeliveryStoreOptions {
  /**
   * Most received events kept (with their executions); past it the ones longest finished are
   * dropped first. Pending ones are never dropped for it: their jobs still read them. Unset: no
   * bound but the retention.
   */
  maxReceived?: number | undefined;
}

/**
 * The delivery registry and log in process memory (embedded mode). Beyond the DeliveryStore
 * guarantees, the log holds at most `maxReceived` received events that are not pending: the
 * retention alone let a busy process keep every event of a week in its heap.
 */
export class MemoryDeliveryStore implements DeliveryStore {
  private readonly actions = new MessageTable(ActionSchema);
  private readonly contracts = new MessageTable(ContractSchema);
  /** In receive order, so that retention drops from the front. */
  private readonly received = new Map<string, ReceivedEvent>();
  private readonly executions = new Map<string, Execution>();
  /** Ids of received events that are not pending, in the order they became so: the bound drops from the front. */
  private readonly finished = new Set<string>();
  private readonly maxReceived: number;
  /** No received event expires before this time (ms): the oldest one's expiry, or later when there is none. */
  private expiresFrom = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: MemoryDeliveryStoreOptions) {
    this.maxReceived = options.maxReceived ?? Number.POSITIVE_INFINITY;
  }

  async upsertAction(action: Action): Promise<Action> {
    return this.actions.put(action);
  }
  async getAction(id: string) {
    return this.actions.get(id);
  }
  async listActions(appId: string) {
    return this.actions.list((a) => appId === "" || a.appId === appId);
  }
  async deleteAction(id: string) {
    return this.actions.delete(id);
  }

  async upsertContract(contract: Contract): Promise<Contract> {
    return this.contracts.put(contract);
  }
  async getContract(id: string) {
    return this.contracts.get(id);
  }
  async listContracts(eventId: string) {
    return this.contracts.list((c) => eventId === "" || c.eventId === eventId);
  }
  async deleteContract(id: string) {
    return this.contracts.delete(id);
  }

  async createReceived(received: ReceivedEvent, executions: Execution[]): Promise<boolean> {
    this.expire();
    if (this.received.has(received.id)) return false;
    this.received.set(received.id, clone(ReceivedEventSchema, received));
    this.expiresFrom = Math.min(this.expiresFrom, receivedMs(received) + this.options.retentionMs);
    for (const e of executions) this.executions.set(e.id, clone(ExecutionSchema, e));
    this.settled(received.id, received.state);
    return true;
  }
  async getReceived(id: string) {
    this.expire();
    return copy(ReceivedEventSchema, this.received.get(id));
  }
  async listReceived(filter: ReceivedFilter) {
    this.expire();
    const out: ReceivedEvent[] = [];
    for (const r of [...this.received.values()].reverse()) {
      const ms = receivedMs(r);
      if (filter.eventId !== "" && r.eventId !== filter.eventId) continue;
      if (filter.fromMs !== undefined && ms < filter.fromMs) continue;
      if (filter.toMs !== undefined && ms > filter.toMs) continue;
      if (filter.state !== ReceivedState.UNSPECIFIED && r.state !== filter.state) continue;
      if (filter.clientId !== undefined && r.clientId !== filter.clientId) continue;
      out.push(clone(ReceivedEventSchema, r));
      if (out.length >= filter.limit) break;
    }
    return out;
  }
  async setReceivedState(id: string, state: ReceivedState) {
    const r = this.received.get(id);
    if (!r) return;
    r.state = state;
    this.settled(id, state);
  }

  /** Files a received event's new state for the bound (a retried one is pending again), then keeps to it. */
  private settled(id: string, state: ReceivedState): void {
    this.finished.delete(id);
    if (state !== ReceivedState.PENDING) this.finished.add(id);
    for (const oldest of this.finished) {
      if (this.received.size <= this.maxReceived) break;
      this.drop(oldest);
    }
  }

  private drop(id: string): void {
    const r = this.received.get(id);
    for (const e of r?.executionIds ?? []) this.executions.delete(e);
    this.received.delete(id);
    this.finished.delete(id);
  }

  async getExecution(id: string) {
    this.expire();
    const e = copy(ExecutionSchema, this.executions.get(id));
    e?.attempts.sort((a, b) => a.number - b.number);
    return e;
  }
  async updateExecution(id: string, change: { state: Execution["state"]; runStart?: number }) {
    const e = this.executions.get(id);
    if (!e) return;
    e.state = change.state;
    if (change.runStart !== undefined) e.runStart = change.runStart;
  }
  async startAttempt(executionId: string, attempt: Attempt) {
    const e = this.executions.get(executionId);
    if (!e || e.attempts.some((a) => a.number === attempt.number)) return false;
    e.attempts.push(clone(AttemptSchema, attempt));
    return true;
  }
  async finishAttempt(executionId: string, attempt: Attempt) {
    const e = this.executions.get(executionId);
    const i = e?.attempts.findIndex((a) => a.number === attempt.number) ?? -1;
    if (!e || i < 0 || e.attempts[i]!.outcome !== AttemptOutcome.STARTED) return false;
    e.attempts[i] = clone(AttemptSchema, attempt);
    return true;
  }

  /** Drops what is older than the retention, oldest first. */
  private expire(): void {
    const now = Date.now();
    // Nothing can have expired yet: no walk over the front of the map, where the bound's drops
    // leave holes that every walk would step over again.
    if (now < this.expiresFrom) return;
    const before = now - this.options.retentionMs;
    this.expiresFrom = Number.POSITIVE_INFINITY;
    for (const [id, r] of this.received) {
      const ms = receivedMs(r);
      if (ms >= before) {
        // The oldest kept: nothing older remains (later drops only make the oldest newer).
        this.expiresFrom = ms + this.options.retentionMs;
        break;
      }
      this.drop(id);
    }
  }

  async close(): Promise<void> {}
}

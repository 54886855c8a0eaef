import { create, fromBinary } from "@bufbuild/protobuf";
import { TimestampSchema } from "@bufbuild/protobuf/wkt";
import { MessageStatusSchema, type MessageStatus } from "../gen/herald/v1/hub_pb.js";
import type { MessageRecord, PushState, StatusStore } from "./status-store.js";
import { compareMsgIds, messageStatusOf, type RecordedMessage } from "./message-status.js";
import { encodeStatusRecord } from "./status-record.js";
import { orUnavailable, type RedisClient } from "../redis/connect.js";
import type { RedisKeys } from "../redis/keys.js";
import { defineScripts } from "../redis/scripts.js";
import { keySlot } from "../redis/slots.js";
import { bytes, buf } from "../redis/buffers.js";

/** Most status writes sent in one script call. */
const STATUS_BATCH_MAX = 256;

interface StatusWrite {
  key: string;
  field: string;
  value: Buffer | string;
  nx: boolean;
  done: { resolve: () => void; reject: (err: unknown) => void };
}

/**
 * Delivery status in Redis: one hash per request id, `status:{<requestId>}` (tagged by the id, so
 * each call touches one key, one round trip): field `m:<msgId>` holds the message record (a
 * MessageStatus with its targets QUEUED), field `d:<msgId>:<ksid>` the delivery time in ms, field
 * `p:<msgId>:<ksid>` the device push state (JSON). The
 * hash expires `ttlMs` after its first write. The status writes of one tick go to Redis as one
 * script call (write-status.lua).
 */
export class RedisStatusStore implements StatusStore {
  private statusBatch: StatusWrite[] | undefined;
  private readonly scripts;

  constructor(
    private readonly redis: RedisClient,
    private readonly k: RedisKeys,
    /** How long a request id's status is kept after its first write (ms). */
    private readonly ttlMs: number,
  ) {
    this.scripts = defineScripts(redis, ["write-status"]);
  }

  recordMessage(record: MessageRecord): Promise<void> {
    return this.statusWrite(this.k.status(record.requestId), `m:${record.msgId}`, buf(encodeStatusRecord(record)), false);
  }

  markDelivered(requestId: string, msgId: string, ksid: string, timeMs: number): Promise<void> {
    return this.statusWrite(this.k.status(requestId), `d:${msgId}:${ksid}`, String(timeMs), true);
  }

  markPush(requestId: string, msgId: string, ksid: string, state: PushState): Promise<void> {
    return this.statusWrite(this.k.status(requestId), `p:${msgId}:${ksid}`, JSON.stringify(state), false);
  }

  pushStates(requestId: string, msgId: string): Promise<Map<string, PushState>> {
    return orUnavailable(async () => {
      const prefix = `p:${msgId}:`;
      const out = new Map<string, PushState>();
      // HSCAN with a match: the hash holds one request's fields, a handful of messages at most.
      let cursor = "0";
      do {
        const [next, flat] = await this.redis.hscan(this.k.status(requestId), cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
        for (let i = 0; i + 1 < flat.length; i += 2) out.set(flat[i]!.slice(prefix.length), JSON.parse(flat[i + 1]!) as PushState);
        cursor = next;
      } while (cursor !== "0");
      return out;
    });
  }

  /**
   * Queues a status write for the batch of this tick. Every send makes one, and each Redis command
   * costs more in the client than in Redis: one script call for all of them is much cheaper.
   */
  private statusWrite(key: string, field: string, value: Buffer | string, nx: boolean): Promise<void> {
    return orUnavailable(
      () =>
        new Promise<void>((resolve, reject) => {
          let batch = this.statusBatch;
          if (!batch) {
            this.statusBatch = batch = [];
            process.nextTick(() => this.flushStatus(batch!));
          }
          batch.push({ key, field, value, nx, done: { resolve, reject } });
          if (batch.length >= STATUS_BATCH_MAX) this.flushStatus(batch);
        }),
    );
  }

  private flushStatus(batch: StatusWrite[]): void {
    if (this.statusBatch === batch) this.statusBatch = undefined;
    if (batch.length === 0) return; // sent already, when it filled up
    const writes = batch.splice(0);
    // A script touches one slot on a Cluster: one call per slot there (one Redis: one call).
    if (this.k.cluster) {
      const bySlot = new Map<number, StatusWrite[]>();
      for (const w of writes) {
        const slot = keySlot(w.key);
        const group = bySlot.get(slot);
        if (group) group.push(w);
        else bySlot.set(slot, [w]);
      }
      for (const group of bySlot.values()) this.writeStatus(group);
      return;
    }
    this.writeStatus(writes);
  }

  private writeStatus(writes: StatusWrite[]): void {
    const keys: string[] = [];
    const args: Array<string | number | Buffer> = [this.ttlMs];
    for (const w of writes) {
      keys.push(w.key);
      args.push(w.field, w.value, w.nx ? "1" : "0");
    }
    this.scripts["write-status"].run(keys, args).then(
      () => writes.forEach((w) => w.done.resolve()),
      (err: unknown) => writes.forEach((w) => w.done.reject(err)),
    );
  }

  messageStatus(requestId: string): Promise<MessageStatus[] | undefined> {
    return orUnavailable(async () => {
      const fields = await this.redis.hgetallBuffer(this.k.status(requestId));
      const records = new Map<string, RecordedMessage>();
      const delivered = new Map<string, Map<string, number>>();
      const pushes = new Map<string, Map<string, PushState>>();
      for (const [field, value] of Object.entries(fields)) {
        if (field.startsWith("m:")) {
          const m = fromBinary(MessageStatusSchema, bytes(value));
          records.set(field.slice(2), {
            msgId: field.slice(2),
            appId: m.appId,
            time: m.time ?? create(TimestampSchema),
            broadcast: m.broadcast,
            ksids: m.subscribers.map((s) => s.ksid),
          });
        } else if (field.startsWith("d:")) {
          const colon = field.indexOf(":", 2); // msg ids are numeric: the first colon ends it
          const msgId = field.slice(2, colon);
          let marks = delivered.get(msgId);
          if (!marks) delivered.set(msgId, (marks = new Map()));
          marks.set(field.slice(colon + 1), Number(value.toString()));
        } else if (field.startsWith("p:")) {
          const colon = field.indexOf(":", 2);
          const msgId = field.slice(2, colon);
          let marks = pushes.get(msgId);
          if (!marks) pushes.set(msgId, (marks = new Map()));
          marks.set(field.slice(colon + 1), JSON.parse(value.toString()) as PushState);
        }
      }
      if (records.size === 0) return undefined;
      return [...records.values()]
        .sort((a, b) => compareMsgIds(a.msgId, b.msgId))
        .map((r) => messageStatusOf(r, delivered.get(r.msgId) ?? new Map(), pushes.get(r.msgId)));
    });
  }
}

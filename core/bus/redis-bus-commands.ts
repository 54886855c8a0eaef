import { createHash } from "node:crypto";
import { Cluster } from "ioredis";
import { IdempotencyKeyReused, checkBatch, type BatchPublished, type History, type Idempotency } from "./bus.js";
import { appendIds } from "./envelope.js";
import { orUnavailable, type RedisClient } from "../redis/connect.js";
import type { RedisKeys } from "../redis/keys.js";
import { defineScripts, type Script } from "../redis/scripts.js";
import { UnavailableError } from "../unavailable-error.js";
import { buf, bytes } from "../redis/buffers.js";

export interface BusCommandOptions {
  /** Messages kept per app, approximately: MAXLEN ~ keeps at least this many. */
  historySize: number;
  /** Replicas that must hold a publish before it is answered (WAIT); 0: answered at once. */
  waitReplicas?: number;
  /** Longest WAIT (ms). */
  waitTimeoutMs?: number;
}

/** Most envelopes of publishes without a key sent together in one script call (see BusCommands). */
const GROUP_MAX = 1024;

/** Publishes of one app without a key waiting for the end of this turn of the event loop. */
interface Group {
  envelopes: Uint8Array[];
  calls: Array<{ from: number; count: number; resolve: (published: BatchPublished) => void; reject: (err: unknown) => void }>;
}

/**
 * What every Redis bus sends on its command connection, one Redis or a Cluster alike: the publish
 * script (lua/publish-batch-4.lua) and the history script (lua/history-2.lua), both touching the
 * keys of one app's slot. On a Cluster the script takes the slot's msg id counter and publishes with
 * SPUBLISH; with `waitReplicas`, a WAIT follows it in the same pipeline (so on the same node and
 * connection) and a publish fewer replicas took in time answers UnavailableError.
 *
 * Publishes without an idempotency key that reach it in one turn of the event loop (many calls in
 * flight: each SendEvent is one) go to Redis together, in the order they came, as one script call
 * (group commit): each still gets consecutive ids with nothing of another publish between them, as
 * the Bus promises, and a failure fails them all, as it would have failed each. A script call costs
 * the client and Redis far more than one envelope more in it (measured: bench:peers, bench:grpc).
 * Keyed publishes go alone (the key's decision is about their batch only), after the app's waiting
 * group: publishes of one app still reach Redis in the order they came.
 */
export class BusCommands {
  private readonly scripts: Record<"publish-batch" | "history", Script>;
  private readonly groups = new Map<string, Group>();

  constructor(
    private readonly client: RedisClient,
    private readonly k: RedisKeys,
    private readonly options: BusCommandOptions,
  ) {
    this.scripts = defineScripts(client, ["publish-batch", "history"]);
  }

  async publishBatch(appId: string, envelopes: readonly Uint8Array[], idempotency?: Idempotency): Promise<BatchPublished> {
    checkBatch(envelopes, idempotency);
    let group = this.groups.get(appId);
    if (idempotency || envelopes.length >= GROUP_MAX) {
      // The app's waiting group first: Redis runs the calls of one connection in the order sent.
      if (group) this.flush(appId, group);
      return this.publishNow(appId, envelopes, idempotency);
    }
    if (group && group.envelopes.length + envelopes.length > GROUP_MAX) {
      this.flush(appId, group);
      group = undefined;
    }
    return new Promise((resolve, reject) => {
      if (!group) {
        const fresh: Group = { envelopes: [], calls: [] };
        this.groups.set(appId, fresh);
        // After the I/O callbacks of this turn: every call read from the sockets in it joins.
        setImmediate(() => this.flush(appId, fresh));
        group = fresh;
      }
      group.calls.push({ from: group.envelopes.length, count: envelopes.length, resolve, reject });
      for (const e of envelopes) group.envelopes.push(e);
    });
  }

  /** Sends a group's script call and answers each of its publishes its own part; once: a group no longer waiting was sent. */
  private flush(appId: string, group: Group): void {
    if (this.groups.get(appId) !== group) return;
    this.groups.delete(appId);
    const { calls } = group;
    this.publishNow(appId, group.envelopes).then(
      (published) => {
        if (calls.length === 1) return calls[0]!.resolve(published);
        const { ids, messages } = published;
        for (const c of calls) {
          const end = c.from + c.count;
          c.resolve({ ids: ids.slice(c.from, end), messages: messages.slice(c.from, end), replayed: false, memo: EMPTY });
        }
      },
      (err: unknown) => {
        for (const c of calls) c.reject(err);
      },
    );
  }

  private async publishNow(appId: string, envelopes: readonly Uint8Array[], idempotency?: Idempotency): Promise<BatchPublished> {
    // Without a key, KEYS[4] is a name of the app's slot the script leaves alone.
    const record = this.k.idempotency(appId, idempotency ? createHash("sha256").update(idempotency.key).digest("hex") : "");
    const keys = [this.k.msgidOf(appId), this.k.offset(appId), this.k.history(appId), record];
    const args = [
      this.options.historySize,
      this.k.channel(appId),
      idempotency?.windowMs ?? 0,
      idempotency?.fingerprint ?? "",
      idempotency?.memo ? buf(idempotency.memo) : "",
      this.k.msgIdBase(appId),
      this.k.cluster ? "SPUBLISH" : "PUBLISH",
      ...envelopes.map(buf),
    ];
    const reply = await orUnavailable(() => this.run(keys, args));
    const status = reply[0]!.toString();
    if (status === "C") throw new IdempotencyKeyReused(appId);
    const first = BigInt(reply[1]!.toString());
    const offset = BigInt(reply[2]!.toString());
    const count = Number(reply[3]!.toString());
    const ids = Array.from({ length: count }, (_, i) => ({ msgId: String(first + BigInt(i)), offset: offset + BigInt(i) }));
    if (status === "R") return { ids, messages: [], replayed: true, memo: bytes(reply[4]!) };
    const messages = ids.map(({ msgId, offset: at }, i) => appendIds(envelopes[i]!, msgId, at));
    return { ids, messages, replayed: false, memo: idempotency?.memo ?? EMPTY };
  }

  private async run(keys: string[], args: Array<string | number | Buffer>): Promise<Buffer[]> {
    const replicas = this.options.waitReplicas ?? 0;
    if (replicas <= 0) return this.scripts["publish-batch"].runBuffer<Buffer[]>(keys, args);
    const send = async () => {
      const pipeline = this.client.pipeline();
      this.scripts["publish-batch"].queueBuffer(pipeline, keys, args);
      pipeline.wait(replicas, this.options.waitTimeoutMs ?? 1000);
      return (await pipeline.exec()) ?? [];
    };
    let results = await send();
    // A Cluster follows MOVED by itself for a command, not for a pipeline whose commands failed
    // differently (the script MOVED, the WAIT answered by a node that lost the slot): the script
    // did not run, so learn where the slot is now and send it there once more.
    if (this.client instanceof Cluster && /^MOVED /.test(String((results[0]?.[0] as Error | null)?.message ?? ""))) {
      const cluster = this.client;
      await new Promise<void>((resolve) => cluster.refreshSlotsCache(() => resolve()));
      results = await send();
    }
    const [[scriptErr, reply] = [], [waitErr, acked] = []] = results;
    if (scriptErr) throw scriptErr;
    if (waitErr) throw waitErr;
    // A repeat (R) is held to it too: the first call's publish may not have reached a replica yet
    // (its own WAIT failed), and answering it from a master that then fails would acknowledge a
    // send that is lost. A refusal (C) acknowledges nothing.
    const status = (reply as Buffer[])[0]?.toString();
    if (status !== "C" && Number(acked) < replicas) {
      throw new UnavailableError(
        `${status === "P" ? "published" : "a repeat"}, but only ${Number(acked)} of ${replicas} replicas confirmed it within ${this.options.waitTimeoutMs} ms (retry with the same idempotency key)`,
      );
    }
    return reply as Buffer[];
  }

  async history(appId: string, after: bigint, limit: number): Promise<History> {
    const from = after < 0n ? 0n : after;
    const [earliest, latest, messages] = await orUnavailable(() =>
      this.scripts.history.runBuffer<[Buffer, Buffer, Buffer[]]>(
        [this.k.history(appId), this.k.offset(appId)],
        [`(0-${from}`, Math.max(0, Math.floor(limit))],
      ),
    );
    return {
      messages: messages.map(bytes),
      earliest: BigInt(earliest.toString()),
      latest: BigInt(latest.toString()),
    };
  }
}

const EMPTY = new Uint8Array(0);

import { Cluster, type ChainableCommander } from "ioredis";
import type { RedisClient } from "./connect.js";
import { keySlot } from "./slots.js";

type Value = string | number | Buffer;

/** The writes a store groups: a MULTI on one Redis; on a Cluster, one MULTI per slot (see transaction). */
export interface Tx {
  set(key: string, value: Value): Tx;
  sadd(key: string, ...members: Value[]): Tx;
  srem(key: string, ...members: Value[]): Tx;
  hset(key: string, field: string, value: Value): Tx;
  hdel(key: string, ...fields: string[]): Tx;
  del(...keys: string[]): Tx;
  exec(): Promise<void>;
}

type Op = { command: "set" | "sadd" | "srem" | "hset" | "hdel" | "del"; key: string; args: Value[] };

/**
 * A group of writes. On one Redis it is one MULTI/EXEC, exactly as before (atomic). On a Cluster a
 * transaction cannot span slots, so the writes are split per slot: one MULTI per slot, run one
 * after the other in the order their slots first appear (each atomic; the group as a whole is not:
 * a failure part-way leaves the earlier slots written, as a retry of the same write repairs).
 */
export function transaction(client: RedisClient): Tx {
  if (!(client instanceof Cluster)) return wrap(client.multi());
  const ops: Op[] = [];
  const tx: Tx = {
    set: (key, value) => push({ command: "set", key, args: [value] }),
    sadd: (key, ...members) => push({ command: "sadd", key, args: members }),
    srem: (key, ...members) => push({ command: "srem", key, args: members }),
    hset: (key, field, value) => push({ command: "hset", key, args: [field, value] }),
    hdel: (key, ...fields) => push({ command: "hdel", key, args: fields }),
    del: (...keys) => {
      for (const key of keys) ops.push({ command: "del", key, args: [] });
      return tx;
    },
    async exec() {
      const bySlot = new Map<number, Op[]>();
      for (const op of ops) {
        const slot = keySlot(op.key);
        let group = bySlot.get(slot);
        if (!group) bySlot.set(slot, (group = []));
        group.push(op);
      }
      for (const group of bySlot.values()) {
        const multi = client.multi();
        for (const op of group) (multi[op.command] as (...a: Value[]) => unknown)(op.key, ...op.args);
        await multi.exec();
      }
    },
  };
  const push = (op: Op) => {
    ops.push(op);
    return tx;
  };
  return tx;
}

function wrap(multi: ChainableCommander): Tx {
  const tx: Tx = {
    set(key, value) {
      multi.set(key, value);
      return tx;
    },
    sadd(key, ...members) {
      multi.sadd(key, ...members);
      return tx;
    },
    srem(key, ...members) {
      multi.srem(key, ...members);
      return tx;
    },
    hset(key, field, value) {
      multi.hset(key, field, value);
      return tx;
    },
    hdel(key, ...fields) {
      multi.hdel(key, ...fields);
      return tx;
    },
    del(...keys) {
      multi.del(...keys);
      return tx;
    },
    async exec() {
      await multi.exec();
    },
  };
  return tx;
}

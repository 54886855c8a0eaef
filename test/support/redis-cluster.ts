import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { keySlot } from "../../core/redis/slots.js";
import { RedisServer } from "./redis-server.js";

const run = promisify(execFile);

/** Polls `check` until it answers true, failing after `timeoutMs` (waiting on a condition, not a delay). */
export async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** One master of the cluster: its node id, address and slot ranges. */
export interface Shard {
  id: string;
  address: string;
  port: number;
  slots: Array<[number, number]>;
}

/**
 * A real Redis Cluster: `masters` × (1 + `replicas`) `redis-server --cluster-enabled yes` processes
 * on free ports, joined by `redis-cli --cluster create`, resolved once every node says
 * `cluster_state:ok`, agrees on the slot map, and every replica's link to its master is up.
 */
export class RedisCluster {
  private readonly admins = new Map<string, Redis>();

  private constructor(readonly servers: RedisServer[]) {}

  static async start(options: { masters?: number; replicas?: number } = {}): Promise<RedisCluster> {
    const masters = options.masters ?? 3;
    const replicas = options.replicas ?? 1;
    const servers = await Promise.all(
      Array.from({ length: masters * (1 + replicas) }, () =>
        RedisServer.start({
          durable: false,
          args: ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"],
        }),
      ),
    );
    const cluster = new RedisCluster(servers);
    try {
      await run(process.env["REDIS_CLI_BIN"] ?? "redis-cli", [
        "--cluster",
        "create",
        ...servers.map((s) => s.address),
        "--cluster-replicas",
        String(replicas),
        "--cluster-yes",
      ]);
      await cluster.waitHealthy(masters);
    } catch (err) {
      await cluster.destroy();
      throw err;
    }
    return cluster;
  }

  /** Startup nodes, as `--redis-cluster` takes them. */
  get nodes(): string[] {
    return this.servers.map((s) => s.address);
  }

  /** A plain connection to one node (kept; closed by destroy). */
  admin(address: string): Redis {
    let r = this.admins.get(address);
    if (!r) {
      const [host, port] = address.split(":");
      r = new Redis({ host: host!, port: Number(port), maxRetriesPerRequest: 1, lazyConnect: false });
      r.on("error", () => undefined);
      this.admins.set(address, r);
    }
    return r;
  }

  /** Waits until every running node is `cluster_state:ok`, sees `masters` masters covering all slots, and replicas are in sync. */
  async waitHealthy(masters = 3): Promise<void> {
    await waitFor(async () => {
      const running = this.servers.filter((s) => s.running);
      const views = await Promise.all(
        running.map(async (s) => {
          const r = this.admin(s.address);
          const info = (await r.cluster("INFO")) as string;
          const shards = await this.shardsSeenBy(s.address);
          const repl = await r.info("replication");
          return { info, shards, repl };
        }),
      );
      const first = JSON.stringify(views[0]!.shards);
      return views.every(
        (v) =>
          /cluster_state:ok/.test(v.info) &&
          v.shards.length === masters &&
          JSON.stringify(v.shards) === first &&
          (/role:master/.test(v.repl) || /master_link_status:up/.test(v.repl)),
      );
    }, "the cluster to be healthy");
  }

  private async shardsSeenBy(address: string): Promise<Shard[]> {
    const slots = (await this.admin(address).cluster("SLOTS")) as unknown as Array<[number, number, [string, number, string]]>;
    const byId = new Map<string, Shard>();
    for (const [from, to, [host, port, id]] of slots) {
      let shard = byId.get(id);
      if (!shard) byId.set(id, (shard = { id, address: `${host}:${port}`, port, slots: [] }));
      shard.slots.push([from, to]);
    }
    return [...byId.values()].sort((a, b) => a.slots[0]![0] - b.slots[0]![0]);
  }

  /** The masters and their slots, as the first running node sees them. */
  shards(): Promise<Shard[]> {
    return this.shardsSeenBy(this.servers.find((s) => s.running)!.address);
  }

  /** The master owning `slot` now. */
  async ownerOf(slot: number): Promise<Shard> {
    const shards = await this.shards();
    const owner = shards.find((s) => s.slots.some(([a, b]) => slot >= a && slot <= b));
    if (!owner) throw new Error(`no master owns slot ${slot}`);
    return owner;
  }

  /** One name per master whose hash tag `{name}` lands on it (`${base}-<n>`), in slot order. */
  async appPerShard(base: string): Promise<string[]> {
    const shards = await this.shards();
    return shards.map((shard) => {
      for (let n = 0; ; n++) {
        const name = `${base}-${n}`;
        const slot = keySlot(`{${name}}`);
        if (shard.slots.some(([a, b]) => slot >= a && slot <= b)) return name;
      }
    });
  }

  /**
   * Reshards one slot to another master while clients use it, as `redis-cli --cluster reshard`
   * does: IMPORTING on the target, MIGRATING on the source, MIGRATE its keys in batches, then the
   * new owner announced to the target, the source and every other master.
   */
  async moveSlot(slot: number, to: Shard): Promise<void> {
    const from = await this.ownerOf(slot);
    if (from.id === to.id) throw new Error(`slot ${slot} is on ${to.address} already`);
    const source = this.admin(from.address);
    const target = this.admin(to.address);
    await target.cluster("SETSLOT", slot, "IMPORTING", from.id);
    await source.cluster("SETSLOT", slot, "MIGRATING", to.id);
    for (;;) {
      const keys = (await source.cluster("GETKEYSINSLOT", slot, 100)) as string[];
      if (keys.length === 0) break;
      await source.call("MIGRATE", "127.0.0.1", String(to.port), "", "0", "5000", "REPLACE", "KEYS", ...keys);
    }
    await target.cluster("SETSLOT", slot, "NODE", to.id);
    await source.cluster("SETSLOT", slot, "NODE", to.id);
    for (const shard of await this.shards()) {
      if (shard.id !== from.id && shard.id !== to.id) await this.admin(shard.address).cluster("SETSLOT", slot, "NODE", to.id);
    }
    await waitFor(async () => {
      const views = await Promise.all(
        this.servers.filter((s) => s.running).map(async (s) => (await this.shardsSeenBy(s.address)).find((x) => x.id === to.id)),
      );
      return views.every((v) => v?.slots.some(([a, b]) => slot >= a && slot <= b) ?? false);
    }, `every node to see slot ${slot} on ${to.address}`);
  }

  /** Stops every node, removes their data. */
  async destroy(): Promise<void> {
    for (const r of this.admins.values()) r.disconnect();
    this.admins.clear();
    await Promise.all(this.servers.map((s) => s.destroy()));
  }
}

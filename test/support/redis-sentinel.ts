import { Redis } from "ioredis";
import { RedisServer } from "./redis-server.js";
import { waitFor } from "./redis-cluster.js";

export const MASTER_NAME = "herald-master";

/**
 * A real Sentinel set: a master, a replica of it, and three Sentinels watching the master under
 * `MASTER_NAME` (quorum 2, a master is down after 1 s without answers). Resolves once every
 * Sentinel knows the replica and the other Sentinels, so a failover can start at once.
 */
export class RedisSentinelSet {
  private readonly admins = new Map<number, Redis>();

  private constructor(
    readonly master: RedisServer,
    readonly replica: RedisServer,
    readonly sentinels: RedisServer[],
  ) {}

  static async start(): Promise<RedisSentinelSet> {
    const master = await RedisServer.start({ durable: false });
    const replica = await RedisServer.start({ durable: false, args: ["--replicaof", "127.0.0.1", String(master.port)] });
    const sentinels: RedisServer[] = [];
    const set = new RedisSentinelSet(master, replica, sentinels);
    try {
      for (let i = 0; i < 3; i++) {
        sentinels.push(
          await RedisServer.start({
            sentinel: [
              `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${master.port} 2`,
              `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
              `sentinel failover-timeout ${MASTER_NAME} 10000`,
              `sentinel parallel-syncs ${MASTER_NAME} 1`,
            ],
          }),
        );
      }
      await waitFor(async () => {
        const repl = await set.admin(replica.port).info("replication");
        if (!/master_link_status:up/.test(repl)) return false;
        for (const s of sentinels) {
          const [m] = (await set.admin(s.port).call("SENTINEL", "MASTERS")) as string[][];
          const f = fields(m ?? []);
          if (f["num-slaves"] !== "1" || f["num-other-sentinels"] !== "2") return false;
        }
        return true;
      }, "the Sentinels to know the replica and each other");
    } catch (err) {
      await set.destroy();
      throw err;
    }
    return set;
  }

  /** `host:port` of each Sentinel, as `--redis-sentinels` takes them. */
  get sentinelAddresses(): string[] {
    return this.sentinels.map((s) => s.address);
  }

  admin(port: number): Redis {
    let r = this.admins.get(port);
    if (!r) {
      r = new Redis({ host: "127.0.0.1", port, maxRetriesPerRequest: 1 });
      r.on("error", () => undefined);
      this.admins.set(port, r);
    }
    return r;
  }

  /** The master's port as the first Sentinel that answers reports it. */
  async masterPort(): Promise<number> {
    for (const s of this.sentinels) {
      if (!s.running) continue;
      const [, port] = (await this.admin(s.port).call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)) as [string, string];
      return Number(port);
    }
    throw new Error("no Sentinel runs");
  }

  /** Waits until the Sentinels name `port` as the master and it says it is one. */
  async waitMaster(port: number): Promise<void> {
    await waitFor(async () => {
      for (const s of this.sentinels) {
        const [, p] = (await this.admin(s.port).call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)) as [string, string];
        if (Number(p) !== port) return false;
      }
      return /role:master/.test(await this.admin(port).info("replication"));
    }, `the Sentinels to promote ${port}`);
  }

  async destroy(): Promise<void> {
    for (const r of this.admins.values()) r.disconnect();
    this.admins.clear();
    await Promise.all([...this.sentinels, this.replica, this.master].map((s) => s.destroy()));
  }
}

/** A Sentinel reply's flat [name, value, …] list as an object. */
function fields(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < list.length; i += 2) out[list[i]!] = list[i + 1]!;
  return out;
}

import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { flags, parseOptions, usage, UsageError } from "../server/cli-options.js";
import { defaultConfig } from "../server/config.js";
import { clusterNodes, parseAddresses } from "../core/redis/connect.js";

describe("parseOptions", () => {
  it("takes defaults, then environment, then flags", () => {
    const p = parseOptions(["--grpc-port", "7000", "--max-subscribers", "3"], {
      HERALD_GRPC_PORT: "6000",
      HERALD_HTTP_PORT: "6001",
      REDIS_URL: "redis://r",
    });
    assert.ok(!p.help);
    assert.equal(p.config.server.grpcPort, 7000);
    assert.equal(p.config.server.httpPort, 6001);
    assert.equal(p.config.redis.url, "redis://r");
    assert.equal(p.config.limits.maxSubscribers, 3);
    assert.equal(p.config.limits.maxNamePairs, defaultConfig.limits.maxNamePairs);
    assert.equal(defaultConfig.limits.maxSubscribers, 10_000, "defaults are not mutated");
  });
  it("takes the eventhos success code, 200000 by default, 20000 on request, nothing else", () => {
    const def = parseOptions([], {});
    assert.ok(!def.help);
    assert.equal(def.config.eventhosFacade.successCode, 200000);
    const env = parseOptions([], { HERALD_EVENTHOS_SUCCESS_CODE: "20000" });
    assert.ok(!env.help);
    assert.equal(env.config.eventhosFacade.successCode, 20000);
    const flag = parseOptions(["--eventhos-success-code", "200000"], { HERALD_EVENTHOS_SUCCESS_CODE: "20000" });
    assert.ok(!flag.help);
    assert.equal(flag.config.eventhosFacade.successCode, 200000);
    for (const bad of ["20001", "2000", "ok", "020000"]) {
      assert.throws(() => parseOptions(["--eventhos-success-code", bad], {}), /--eventhos-success-code .* one of 200000, 20000/);
    }
    assert.match(usage(), /--eventhos-success-code\s+HERALD_EVENTHOS_SUCCESS_CODE\s+.*\(default 200000\)/);
  });
  it("takes --insecure as a flag without a value, HERALD_INSECURE as a yes or a no", () => {
    const insecure = (argv: string[], env: NodeJS.ProcessEnv) => {
      const p = parseOptions(argv, env);
      assert.ok(!p.help);
      return p.config.server.insecure;
    };
    assert.equal(insecure([], {}), false);
    assert.equal(insecure(["--insecure"], {}), true);
    assert.equal(insecure(["--insecure"], { HERALD_INSECURE: "0" }), true, "the flag wins");
    for (const yes of ["1", "true", "TRUE", "yes", "Yes"]) assert.equal(insecure([], { HERALD_INSECURE: yes }), true, yes);
    for (const no of ["0", "false", "no", ""]) assert.equal(insecure([], { HERALD_INSECURE: no }), false, no);
    assert.throws(
      () => parseOptions([], { HERALD_INSECURE: "maybe" }),
      /HERALD_INSECURE \(--insecure\) must be 1, true, yes, 0, false or no/,
    );
    assert.throws(() => parseOptions(["--insecure=yes"], {}), UsageError, "takes no value");
    const p = parseOptions(["--insecure", "--host", "0.0.0.0"], {});
    assert.ok(!p.help);
    assert.equal(p.config.server.host, "0.0.0.0");
    assert.match(usage(), /--insecure\s+HERALD_INSECURE\s+.*\(default false\)/);
    assert.match(usage(), /--host\s+HERALD_HOST\s+.*\(default "127\.0\.0\.1"\)/);
  });
  it("takes secrets from a file or the environment, never from the command line", () => {
    const dir = mkdtempSync(join(tmpdir(), "herald-secret-"));
    try {
      const file = join(dir, "admin-key");
      writeFileSync(file, "from-a-file-0123456789\n");
      const admin = (argv: string[], env: NodeJS.ProcessEnv) => {
        const parsed = parseOptions(argv, env);
        assert.ok(!parsed.help);
        return parsed.config.auth.adminKey;
      };
      assert.equal(admin([], {}), undefined);
      assert.equal(admin([], { HERALD_ADMIN_KEY: "from-the-environment" }), "from-the-environment");
      assert.equal(admin([], { HERALD_ADMIN_KEY_FILE: file }), "from-a-file-0123456789", "trailing newline dropped");
      assert.equal(
        admin(["--admin-key-file", file], { HERALD_ADMIN_KEY: "from-the-environment" }),
        "from-a-file-0123456789",
        "the flag wins",
      );
      assert.equal(admin([], { HERALD_ADMIN_KEY: "env-wins-over-env-file", HERALD_ADMIN_KEY_FILE: file }), "env-wins-over-env-file");
      assert.throws(() => parseOptions(["--admin-key", "on-argv"], {}), UsageError, "there is no flag that takes the value itself");
      assert.throws(() => parseOptions(["--admin-key-file", join(dir, "missing")], {}), /--admin-key-file: cannot read/);
      writeFileSync(join(dir, "empty"), "\n");
      assert.throws(() => parseOptions(["--admin-key-file", join(dir, "empty")], {}), /is empty/);
      assert.equal(
        flags.filter((f) => f.kind === "secret").every((f) => f.flag.endsWith("-file")),
        true,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses unknown flags and bad numbers", () => {
    assert.throws(() => parseOptions(["--nope"], {}), UsageError);
    assert.throws(() => parseOptions(["--history-size", "-1"], {}), UsageError);
    assert.throws(() => parseOptions([], { HERALD_GRPC_PORT: "x" }), /HERALD_GRPC_PORT/);
  });

  it("turns metrics off with --no-metrics or HERALD_NO_METRICS, and refuses a metrics port with them off", () => {
    const off = (argv: string[], env: NodeJS.ProcessEnv) => {
      const p = parseOptions(argv, env);
      return !p.help && p.config.metrics.disabled;
    };
    assert.equal(off([], {}), false);
    assert.equal(off(["--no-metrics"], {}), true);
    assert.equal(off([], { HERALD_NO_METRICS: "1" }), true);
    assert.throws(() => parseOptions(["--no-metrics", "--metrics-port", "9100"], {}), /--metrics-port/);
  });
});

describe("Redis topologies and durability flags", () => {
  const redis = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
    const p = parseOptions(argv, env);
    assert.ok(!p.help);
    return p.config.redis;
  };
  it("takes --redis-cluster (REDIS_CLUSTER) as the Cluster's startup nodes", () => {
    assert.equal(redis([]).cluster, undefined);
    assert.equal(redis(["--redis-cluster", "10.0.0.1:7000,10.0.0.2:7000"]).cluster, "10.0.0.1:7000,10.0.0.2:7000");
    assert.equal(redis([], { REDIS_CLUSTER: "h:1" }).cluster, "h:1");
    assert.equal(clusterNodes({ url: "redis+cluster://a:1,b:2" }), "a:1,b:2", "or a redis+cluster:// URL");
    assert.equal(clusterNodes({ url: "redis://a:1" }), undefined);
    assert.deepEqual(parseAddresses("a:1, [::1]:2"), [
      { host: "a", port: 1 },
      { host: "::1", port: 2 },
    ]);
    assert.throws(() => parseAddresses("a"), /not host:port/);
  });
  it("takes --redis-sentinels (REDIS_SENTINELS) and --redis-master-name (REDIS_MASTER_NAME, default mymaster)", () => {
    assert.equal(redis([]).masterName, "mymaster");
    const r = redis(["--redis-sentinels", "s1:26379,s2:26379"], { REDIS_MASTER_NAME: "orders" });
    assert.deepEqual([r.sentinels, r.masterName], ["s1:26379,s2:26379", "orders"]);
    assert.equal(redis(["--redis-master-name", "x"], { REDIS_MASTER_NAME: "y" }).masterName, "x", "the flag wins");
    assert.equal(redis([], { REDIS_SENTINELS: "s:1" }).sentinels, "s:1");
  });
  it("refuses two ways to reach Redis at once", () => {
    assert.throws(() => parseOptions(["--redis-cluster", "a:1", "--redis-url", "redis://b"], {}), /give one way to reach Redis/);
    assert.throws(() => parseOptions(["--redis-sentinels", "a:1"], { REDIS_URL: "redis://b" }), /give one way to reach Redis/);
    assert.throws(() => parseOptions(["--redis-sentinels", "a:1", "--redis-cluster", "b:1"], {}), /--redis-cluster, --redis-sentinels/);
  });
  it("takes --redis-wait-replicas (default 0: no WAIT) and --redis-wait-timeout-ms (default 1000)", () => {
    assert.deepEqual([redis([]).waitReplicas, redis([]).waitTimeoutMs], [0, 1000]);
    const r = redis(["--redis-wait-replicas", "1"], { HERALD_REDIS_WAIT_TIMEOUT_MS: "250" });
    assert.deepEqual([r.waitReplicas, r.waitTimeoutMs], [1, 250]);
    assert.equal(redis([], { HERALD_REDIS_WAIT_REPLICAS: "2" }).waitReplicas, 2);
    assert.throws(() => parseOptions(["--redis-wait-replicas", "1", "--redis-wait-timeout-ms", "0"], {}), /at least 1/);
    assert.throws(() => parseOptions(["--redis-wait-replicas=-1"], {}), /whole number/);
  });
});

describe("flags", () => {
  it("name a field of a config section each, with its default shown by --help", () => {
    for (const f of flags) {
      const [section, field] = f.key.split(".") as [keyof typeof defaultConfig, string];
      assert.ok(field in defaultConfig[section], `${f.flag} → ${f.key}`);
      const def = (defaultConfig[section] as unknown as Record<string, unknown>)[field];
      if (f.choices) assert.ok(f.choices.includes(String(def)), `${f.flag}: the default is one of its choices`);
    }
    assert.equal(new Set(flags.map((f) => f.key)).size, flags.length, "one flag per field");
    assert.match(usage(), /--watch-queue-limit\s+HERALD_WATCH_QUEUE_LIMIT\s+.*\(default 1000\)/);
  });
  it("set the field they name", () => {
    const p = parseOptions(["--watch-queue-limit", "7", "--delivery-retry-limit", "2", "--xms-keepalive-ms", "9"], {
      HERALD_KEY_PREFIX: "x:",
    });
    assert.ok(!p.help);
    assert.deepEqual(
      [p.config.watch.queueLimit, p.config.eventhos.retryLimit, p.config.xms.keepaliveMs, p.config.redis.keyPrefix],
      [7, 2, 9, "x:"],
    );
    const queueBytes = (argv: string[], env: Record<string, string>) => {
      const q = parseOptions(argv, env);
      return q.help ? undefined : q.config.watch.queueBytes;
    };
    assert.deepEqual(
      [queueBytes(["--watch-queue-bytes", "2048"], {}), queueBytes([], { HERALD_WATCH_QUEUE_BYTES: "4096" }), queueBytes([], {})],
      [2048, 4096, 16 * 1024 * 1024],
    );
  });
  it("take the fan-out's slice and batch sizes, at least 1 each", () => {
    const watch = (argv: string[]) => {
      const q = parseOptions(argv, {});
      return q.help ? undefined : [q.config.watch.fanOutSlice, q.config.watch.maxBatch];
    };
    assert.deepEqual(watch([]), [1024, 256]);
    assert.deepEqual(watch(["--watch-fan-out-slice", "50", "--watch-max-batch", "8"]), [50, 8]);
    assert.throws(() => parseOptions(["--watch-fan-out-slice", "0"], {}), /--watch-fan-out-slice must be at least 1/);
    assert.throws(() => parseOptions(["--watch-max-batch", "0"], {}), /--watch-max-batch must be at least 1/);
  });
});

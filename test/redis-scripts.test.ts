import { strict as assert } from "node:assert";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { commandName, defineScripts, readScripts, scriptDir } from "../core/redis/scripts.js";
import { RedisServer } from "./support/redis-server.js";

/** The numbers n of `WHAT[n]` written in a script's body. */
const indexes = (body: string, what: "KEYS" | "ARGV") =>
  [...body.matchAll(new RegExp(`${what}\\[(\\d+)\\]`, "g"))].map((m) => Number(m[1]));

describe("Lua scripts (core/redis/lua)", () => {
  const scripts = readScripts();

  it("are all named <name>-<N>.lua or <name>.lua, and each one is found", () => {
    const files = readdirSync(scriptDir).filter((f) => f.endsWith(".lua"));
    assert.ok(files.length >= 12, `found ${files.length}`);
    assert.deepEqual([...scripts.values()].map((s) => s.file).sort(), files.sort());
  });

  for (const script of readScripts().values()) {
    it(`${script.file}: its header names every KEYS and ARGV entry its body uses, and its key count matches its name`, () => {
      const header = /^--\[\[([\s\S]*?)\]\]/.exec(script.lua)?.[1];
      assert.ok(header, "starts with a --[[ … ]] header");
      const body = script.lua.slice(script.lua.indexOf("]]") + 2);
      const documented = (what: "KEYS" | "ARGV") => new Set(indexes(header, what));
      const keys = documented("KEYS");
      if (script.numberOfKeys !== undefined) {
        assert.deepEqual(
          [...keys].sort((a, b) => a - b),
          Array.from({ length: script.numberOfKeys }, (_, i) => i + 1),
          "KEYS[1..N] documented",
        );
        for (const k of indexes(body, "KEYS")) assert.ok(k <= script.numberOfKeys, `KEYS[${k}] beyond ${script.numberOfKeys}`);
      } else {
        assert.match(header, /KEYS\[1\.\.n\]|KEYS\[4\.\.n\]/, "a script taking any number of keys says so");
      }
      for (const a of indexes(body, "ARGV")) assert.ok(documented("ARGV").has(a), `ARGV[${a}] is documented`);
      for (const k of indexes(body, "KEYS")) assert.ok(script.numberOfKeys === undefined || keys.has(k), `KEYS[${k}] is documented`);
      assert.match(header, /Returns /, "says what it returns");
    });
  }

  describe("on a real Redis", () => {
    let server: RedisServer;
    let redis: Redis;
    before(async () => {
      server = await RedisServer.start();
      redis = new Redis(server.url);
    });
    after(async () => {
      redis.disconnect();
      await server.destroy();
    });

    it("every script compiles (SCRIPT LOAD)", async () => {
      for (const script of scripts.values()) {
        const sha = (await redis.script("LOAD", script.lua)) as string;
        assert.match(sha, /^[0-9a-f]{40}$/, script.file);
      }
    });

    it("defines each script as one `herald…` command that checks its key count", async () => {
      const { "handler-cursor": cursor, "write-status": writeStatus } = defineScripts(redis, ["handler-cursor", "write-status"]);
      assert.equal(commandName("handler-cursor"), "heraldHandlerCursor");
      assert.equal(await cursor.run<number>(["h", "c"], ["id", "5"]), 0, "no handler: nothing moves");
      assert.throws(() => cursor.run(["h"], ["id", "5"]), /handler-cursor-2\.lua takes 2 keys, got 1/);
      // A script of any number of keys gets the count from the array.
      await writeStatus.run(["s1", "s2"], [60_000, "f", "v", "0", "g", "w", "1"]);
      assert.deepEqual([await redis.hget("s1", "f"), await redis.hget("s2", "g")], ["v", "w"]);
      assert.ok((await redis.pttl("s1")) > 0);
      // Many writes to one hash (a batch call's messages): its TTL is set once.
      await redis.config("RESETSTAT");
      await writeStatus.run(["s3", "s3", "s4", "s3"], [60_000, "a", "1", "0", "b", "2", "1", "c", "3", "0", "d", "4", "0"]);
      assert.deepEqual(await redis.hgetall("s3"), { a: "1", b: "2", d: "4" });
      assert.ok((await redis.pttl("s3")) > 0 && (await redis.pttl("s4")) > 0);
      assert.match(await redis.info("commandstats"), /^cmdstat_pexpire:calls=2,/m);
      assert.throws(() => defineScripts(redis, ["no-such-script"]), /no Lua script named no-such-script/);
    });
  });

  it("reads the key count from the name, and Read-only from a line of its own in the leading header only", () => {
    const dir = mkdtempSync(join(tmpdir(), "herald-lua-"));
    const files: Record<string, string> = {
      "many-12.lua": "--[[\n  Any.\n]]\nreturn 1",
      "any.lua": "--[[\n  Takes any number.\n\n  Read-only.  \n  KEYS[1..n] keys\n]]\nreturn 1",
      "late-1.lua": "return 1\n--[[\n  Read-only.\n]]",
      "not-1.lua": "--[[\n  Not Read-only.\n]]\nreturn 1",
      "more-1.lua": "--[[\n  Read-only. Mostly.\n]]\nreturn 1",
      "body-1.lua": "--[[\n  Writes.\n]]\n-- Read-only.\nreturn 1",
    };
    for (const [name, lua] of Object.entries(files)) writeFileSync(join(dir, name), lua);
    const read = readScripts(`${dir}/`);
    assert.deepEqual([...read.values()].map((x) => [x.file, x.name, x.numberOfKeys, x.readOnly]).sort(), [
      ["any.lua", "any", undefined, true],
      ["body-1.lua", "body", 1, false],
      ["late-1.lua", "late", 1, false],
      ["many-12.lua", "many", 12, false],
      ["more-1.lua", "more", 1, false],
      ["not-1.lua", "not", 1, false],
    ]);
    assert.equal(scripts.get("history")?.readOnly, true);
    assert.equal(scripts.get("publish-batch")?.readOnly, false);
  });

  it("refuses a file whose name does not say how it takes keys", () => {
    const dir = mkdtempSync(join(tmpdir(), "herald-lua-"));
    writeFileSync(join(dir, "Bad_Name.lua"), "return 1");
    assert.throws(() => readScripts(`${dir}/`), /Bad_Name\.lua: a script is named/);
  });
});

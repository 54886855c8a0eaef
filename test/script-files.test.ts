import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readScripts } from "../core/redis/scripts.js";
import { checkBatch, MAX_BATCH } from "../core/bus/bus.js";

/** How a folder of Lua files is read: names, key counts, the read-only mark; and which batches any bus refuses. */
describe("script files (core/redis/scripts.ts readScripts)", () => {
  let dir: string;
  beforeEach(() => {
    dir = `${mkdtempSync(join(tmpdir(), "herald-lua-"))}/`;
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, text: string) => writeFileSync(join(dir, name), text);

  it("reads the key count from the name, or none for <name>.lua, and only .lua files", () => {
    write("publish-batch-4.lua", "--[[\n  KEYS[1] a\n]]\nreturn 1");
    write("received-create.lua", "--[[\n  any keys\n]]\nreturn 2");
    write("notes.txt", "not a script");
    const scripts = readScripts(dir);
    assert.deepEqual([...scripts.keys()].sort(), ["publish-batch", "received-create"]);
    assert.equal(scripts.get("publish-batch")?.numberOfKeys, 4);
    assert.equal(scripts.get("publish-batch")?.file, "publish-batch-4.lua");
    assert.equal(scripts.get("publish-batch")?.lua, "--[[\n  KEYS[1] a\n]]\nreturn 1");
    assert.equal(scripts.get("received-create")?.numberOfKeys, undefined);
  });

  it("marks a script read-only only when its header has the line `Read-only.`", () => {
    write("history-2.lua", "--[[\n  Reads.\n  Read-only.\n\n  KEYS[1] h\n]]\nreturn 1");
    write("write-2.lua", "--[[\n  Not Read-only. at all\n]]\nreturn 1");
    write("late-1.lua", "--[[\n  header\n]]\n-- Read-only.\nreturn 1");
    write("plain-1.lua", "return 1");
    const scripts = readScripts(dir);
    assert.equal(scripts.get("history")?.readOnly, true);
    assert.equal(scripts.get("write")?.readOnly, false, "only a line of its own");
    assert.equal(scripts.get("late")?.readOnly, false, "only in the header");
    assert.equal(scripts.get("plain")?.readOnly, false);
  });

  for (const bad of ["Publish-3.lua", "publish_3.lua", "3-publish.lua", "publish-3a.lua", "-publish.lua"]) {
    it(`refuses a file named ${bad}`, () => {
      write(bad, "return 1");
      assert.throws(() => readScripts(dir), /a script is named <name>-<N>\.lua or <name>\.lua/);
    });
  }
});

describe("batches no bus accepts (checkBatch)", () => {
  const one = [new Uint8Array([1])];
  const key = (windowMs: number) => ({ key: "k", fingerprint: "f", windowMs });

  it("takes 1 to MAX_BATCH envelopes, or none with a key (a look-up)", () => {
    checkBatch(one, undefined);
    checkBatch(
      Array.from({ length: MAX_BATCH }, () => one[0]!),
      undefined,
    );
    checkBatch([], key(1));
    assert.equal(MAX_BATCH, 10_000);
  });

  it("refuses an empty batch without a key, and one over MAX_BATCH", () => {
    assert.throws(() => checkBatch([], undefined), RangeError);
    assert.throws(
      () =>
        checkBatch(
          Array.from({ length: MAX_BATCH + 1 }, () => one[0]!),
          key(1),
        ),
      /1 to 10000 envelopes/,
    );
  });

  it("refuses a window under 1 ms or not a whole number", () => {
    for (const windowMs of [0, -1, 0.5, Number.NaN, 2 ** 60]) {
      assert.throws(() => checkBatch(one, key(windowMs)), /windowMs must be a positive integer/, String(windowMs));
    }
    checkBatch(one, key(1));
  });
});

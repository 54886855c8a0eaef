import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { registerApp, startTestHerald, watchersLive, type TestHerald } from "../support/herald.js";
import { assertWatchRefused, rawClients, rejection, unary, Watch, type RawClients } from "../support/grpc-client.js";
import { runHeraldCommand, type CommandResult } from "../support/herald-process.js";
import { freePort } from "../support/free-port.js";
import { runKeysCommand } from "../../server/cli/keys-command.js";

const ADMIN_KEY = "keys-cli-admin-key-0123456789";
const KEY = /^hak_([0-9a-f]{16})_[A-Za-z0-9_-]{43}$/;

/** `herald keys …` as a script runs it: the admin key in the environment, never on argv. */
describe("herald keys (the executable against a real Herald)", () => {
  let h: TestHerald;
  let address: string;
  let dir: string;
  const opened: RawClients[] = [];

  before(async () => {
    h = await startTestHerald({ auth: { adminKey: ADMIN_KEY } });
    address = `http://127.0.0.1:${h.grpcPort}`;
    await registerApp(h, "shop");
    await registerApp(h, "other");
    dir = mkdtempSync(join(tmpdir(), "herald-keys-"));
  });
  after(async () => {
    for (const c of opened) c.close();
    await h.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs `herald keys <args>` with only these credentials (anything in the test's own environment is unset). */
  const keys = (args: string[], env: Record<string, string> = { HERALD_KEY: ADMIN_KEY }) =>
    runHeraldCommand(["keys", ...args], { HERALD_KEY: "", HERALD_KEY_FILE: "", HERALD_ADDRESS: address, ...env });
  const clientsWith = (key: string) => {
    const c = rawClients(h.grpcPort, key);
    opened.push(c);
    return c;
  };
  /** A failure: the code, one line on stderr in the command's voice, no stack trace, nothing on stdout. */
  const assertFailed = (r: CommandResult, code: number, message: RegExp) => {
    assert.equal(r.code, code, `exit ${r.code}: ${r.stderr}`);
    assert.equal(r.stdout, "");
    const lines = r.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^herald keys: /);
    assert.match(lines[0]!, message);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  };

  it("create prints the key alone on stdout and a summary on stderr; the key works for its role and app only", async () => {
    const r = await keys(["create", "--role", "publish", "--app", "shop", "--name", "checkout", "--ttl", "30d"]);
    assert.equal(r.code, 0, r.stderr);
    const m = KEY.exec(r.stdout.replace(/\n$/, ""));
    assert.ok(m, `stdout is the key and a newline: ${JSON.stringify(r.stdout)}`);
    assert.ok(r.stdout.endsWith("\n") && r.stdout.split("\n").length === 2);
    const key = m[0];
    const id = m[1]!;
    const summary = r.stderr.trimEnd();
    assert.equal(summary.split("\n").length, 1, "one line");
    for (const part of [id, '"checkout"', "roles publish", "apps shop", "expires 20", "shown once"]) {
      assert.ok(summary.includes(part), `summary mentions ${part}: ${summary}`);
    }
    assert.ok(!summary.includes(key), "the key is not repeated on stderr");

    const c = clientsWith(key);
    const sent = await unary(c.hub, "sendEvent", { eventId: "shop-e" });
    assert.match(sent.msgId, /^\d+$/);
    await assertWatchRefused(c.hub, { appId: "shop" }, grpc.status.PERMISSION_DENIED, "ROLE_REQUIRED");
    const otherApp = await rejection(unary(c.hub, "sendEvent", { appId: "other", eventId: "other-e" }));
    assert.equal(otherApp.code, grpc.status.PERMISSION_DENIED);
    assert.deepEqual(otherApp.metadata.get("herald-reason"), ["APP_NOT_ALLOWED"]);
  });

  it("create takes several roles and '*', from a --key-file, and --json prints the whole reply", async () => {
    const keyFile = join(dir, "admin.key");
    writeFileSync(keyFile, `${ADMIN_KEY}\n`, { mode: 0o600 });
    const r = await keys(["create", "--role", "publish,watch", "--app", "*", "--json", "--key-file", keyFile], {});
    assert.equal(r.code, 0, r.stderr);
    const reply = JSON.parse(r.stdout) as { key: { id: string; roles: string[]; appIds: string[]; createTime: string }; secret: string };
    assert.match(reply.secret, KEY);
    assert.ok(reply.secret.startsWith(`hak_${reply.key.id}_`));
    assert.deepEqual(reply.key.roles, ["ROLE_PUBLISH", "ROLE_WATCH"]);
    assert.deepEqual(reply.key.appIds, ["*"]);
    assert.ok(!("expireTime" in reply.key), "no --ttl: never expires");

    // A watch key of every app: it watches "other" (and publishes there too).
    const c = clientsWith(reply.secret);
    const watch = new Watch(c.hub, { appId: "other" });
    await watchersLive(h);
    const sent = await unary(c.hub, "sendEvent", { eventId: "other-e" });
    await watch.received(1);
    assert.equal(watch.events[0]!.msgId, sent.msgId);
    watch.cancel();

    // The same file named by HERALD_KEY_FILE, as the server's secrets take it.
    const viaEnv = await keys(["list", "--json"], { HERALD_KEY_FILE: keyFile });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
  });

  it("list shows every key, newest first, without its secret; --json too", async () => {
    const made = await keys(["create", "--role", "watch", "--app", "shop,other", "--name", "listed", "--ttl", "12h"]);
    assert.equal(made.code, 0, made.stderr);
    const key = made.stdout.trim();
    const id = KEY.exec(key)![1]!;
    const secret = key.slice(`hak_${id}_`.length);

    const table = await keys(["list"]);
    assert.equal(table.code, 0, table.stderr);
    const [header, ...rows] = table.stdout.trimEnd().split("\n");
    assert.deepEqual(header!.split(/\s{2,}/), ["ID", "NAME", "ROLES", "APPS", "CREATED", "EXPIRES"]);
    const row = rows.find((l) => l.startsWith(id));
    assert.ok(row, `a row for ${id}:\n${table.stdout}`);
    const cells = row.split(/\s{2,}/);
    assert.deepEqual(cells.slice(0, 4), [id, "listed", "watch", "shop,other"]);
    assert.match(cells[4]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.match(cells[5]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(Date.parse(cells[5]!) - Date.parse(cells[4]!), 12 * 3600_000, "--ttl 12h");
    assert.ok(rows[0]!.startsWith(id), "newest first");
    assert.ok(!table.stdout.includes(secret) && !table.stderr.includes(secret), "never the secret");

    const json = await keys(["list", "--json"]);
    assert.equal(json.code, 0, json.stderr);
    assert.ok(!json.stdout.includes(secret));
    const listed = (JSON.parse(json.stdout) as { keys: Array<{ id: string; name: string; expireTime?: string }> }).keys;
    const entry = listed.find((k) => k.id === id);
    assert.equal(entry?.name, "listed");
    assert.ok(entry?.expireTime);
  });

  it("revoke makes the key fail with UNAUTHENTICATED at once; an unknown id exits 5", async () => {
    const made = await keys(["create", "--role", "publish", "--app", "shop"]);
    assert.equal(made.code, 0, made.stderr);
    const key = made.stdout.trim();
    const id = KEY.exec(key)![1]!;
    const c = clientsWith(key);
    await unary(c.hub, "sendEvent", { eventId: "shop-e" });

    const revoked = await keys(["revoke", id]);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal(revoked.stdout, "");
    assert.match(revoked.stderr, new RegExp(`key ${id} revoked`));
    const refused = await rejection(unary(c.hub, "sendEvent", { eventId: "shop-e" }));
    assert.equal(refused.code, grpc.status.UNAUTHENTICATED);
    assert.deepEqual(refused.metadata.get("herald-reason"), ["CREDENTIAL_INVALID"]);
    const [list, again, unknown] = await Promise.all([keys(["list"]), keys(["revoke", id]), keys(["revoke", "0123456789abcdef"])]);
    assert.ok(!list.stdout.includes(id), "gone from the list");
    assertFailed(again, 5, /not found \(API_KEY_NOT_FOUND\)/);
    assertFailed(unknown, 5, /"0123456789abcdef" not found/);
  });

  it("exits 4 for a wrong admin key, a key without the admin role, and no key at all", async () => {
    const [wrong, none, publish] = await Promise.all([
      keys(["list"], { HERALD_KEY: "not-the-admin-key-0123456789" }),
      keys(["list"], {}),
      keys(["create", "--role", "publish", "--app", "shop"]),
    ]);
    assertFailed(wrong, 4, /not authenticated: .*CREDENTIAL_INVALID/);
    assertFailed(none, 4, /CREDENTIAL_REQUIRED.*HERALD_KEY or --key-file/);
    const notAdmin = await keys(["create", "--role", "watch", "--app", "shop"], { HERALD_KEY: publish.stdout.trim() });
    assertFailed(notAdmin, 4, /permission denied: .*ROLE_REQUIRED/);
  });

  it("exits 3 when Herald cannot be reached: nothing listening, or not a gRPC port", async () => {
    const closed = await freePort();
    const [refused, refusedEnv, http1, tls] = await Promise.all([
      keys(["list", "--address", `http://127.0.0.1:${closed}`]),
      keys(["list"], { HERALD_KEY: ADMIN_KEY, HERALD_ADDRESS: `127.0.0.1:${closed}` }),
      // The HTTP port answers HTTP/1.1, not gRPC's HTTP/2.
      keys(["list", "--address", `http://127.0.0.1:${h.httpPort}`]),
      // TLS to a plain port.
      keys(["list", "--address", `https://127.0.0.1:${h.grpcPort}`]),
    ]);
    assertFailed(refused, 3, /cannot reach Herald at .*ECONNREFUSED/);
    assertFailed(refusedEnv, 3, /ECONNREFUSED/);
    assertFailed(http1, 3, /cannot reach Herald/);
    assertFailed(tls, 3, /TLS failed/);
  });

  it("exits 2 on bad flags and arguments", async () => {
    // Through the executable: a flag it does not know, and arguments Herald refuses as invalid.
    const run = await Promise.all([
      keys(["list", "--nope"]),
      keys(["create", "--role", "admin", "--app", "shop"]),
      keys(["create", "--role", "watch", "--app", "not an id!"]),
    ]);
    assertFailed(run[0]!, 2, /--nope/);
    assertFailed(run[1]!, 2, /refused: app_ids: an admin key touches every app/);
    assertFailed(run[2]!, 2, /refused: .*INVALID_ARGUMENT/);

    // The rest never reach the network: the same function the executable runs, in this process.
    const cases: Array<[string[], RegExp]> = [
      [[], /a command is required/],
      [["frobnicate"], /unknown command "frobnicate"/],
      [["create", "--app", "shop"], /needs --role/],
      [["create", "--role", "watch"], /needs --app/],
      [["create", "--role", "root", "--app", "shop"], /"root" is not a role/],
      [["create", "--role", "watch", "--app", "shop", "--ttl", "30"], /--ttl 30: a whole number with a unit/],
      [["create", "--role", "watch", "--app", "shop", "--ttl", "0d"], /--ttl 0d/],
      [["create", "--role", "watch", "--app", "shop", "--ttl", "1y"], /--ttl 1y/],
      [["list", "--role", "watch"], /--role is not an option of "keys list"/],
      [["revoke"], /revoke takes one key id/],
      [["revoke", "a", "b"], /revoke takes one key id/],
      [["list", "extra"], /unexpected argument "extra"/],
      [["list", "--address", "ftp://127.0.0.1:1"], /http:\/\/ or https:\/\//],
      [["list", "--ca", "/nonexistent.pem"], /--ca is for an https:\/\/ --address/],
      [["list", "--address", "https://127.0.0.1:1", "--client-cert", "/c.pem"], /--client-cert and --client-key go together/],
      [["list", "--key-file", join("/nonexistent", "key")], /--key-file .*: no such file/],
    ];
    for (const [args, message] of cases) {
      const out = { stdout: "", stderr: "" };
      const io = { stdout: { write: (t: string) => (out.stdout += t) }, stderr: { write: (t: string) => (out.stderr += t) } };
      const code = await runKeysCommand(args, { HERALD_KEY: ADMIN_KEY, HERALD_ADDRESS: address }, io);
      assertFailed({ code, ...out }, 2, message);
    }
    const empty = join(dir, "empty.key");
    writeFileSync(empty, "\n");
    const code = await runKeysCommand(["list", "--key-file", empty], {}, { stdout: { write: () => true }, stderr: { write: () => true } });
    assert.equal(code, 2, "an empty key file");
  });

  it("--help documents the commands, options and exit codes", async () => {
    const argsList = [["--help"], ["create", "--help"], ["help"]];
    const results = await Promise.all(argsList.map((args) => keys(args, {})));
    for (const [i, r] of results.entries()) {
      const args = argsList[i]!;
      assert.equal(r.code, 0, r.stderr);
      for (const part of [
        "create",
        "list",
        "revoke",
        "--address",
        "HERALD_ADDRESS",
        "HERALD_KEY",
        "--key-file",
        "--ttl",
        "--json",
        "Exit codes",
      ]) {
        assert.ok(r.stdout.includes(part), `${args.join(" ")}: mentions ${part}`);
      }
    }
  });
});

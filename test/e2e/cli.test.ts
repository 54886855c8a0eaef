import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { registerApp, startTestHerald, watchersLive, type TestHerald } from "../support/herald.js";
import { unary } from "../support/grpc-client.js";
import {
  killProcess,
  runHeraldCommand,
  startHeraldCommand,
  startHeraldProcess,
  type CommandResult,
  type HeraldProcess,
} from "../support/herald-process.js";
import { freePort } from "../support/free-port.js";
import { apnsKey, serviceAccountKey, vapidKeys } from "../support/push-keys.js";
import { Code, ConnectError } from "@connectrpc/connect";
import { heraldError } from "../../core/rpc/errors.js";
import { ErrorInfoSchema } from "../../core/gen/google/rpc/error_details_pb.js";
import { resumeOffset } from "../../server/cli/watch-command.js";

const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const SENT = /^msg (\d+) offset (\d+)\n$/;

/** `herald watch|send|push|status|apps|events|subscribers|handlers …`: the executable against a real Herald. */
describe("herald client commands (the executable against a real Herald)", function () {
  // Every step starts a Node process; on a loaded machine one takes seconds.
  this.timeout(120_000);
  let h: TestHerald;
  let address: string;
  let dir: string;

  before(async () => {
    h = await startTestHerald();
    address = `http://127.0.0.1:${h.grpcPort}`;
    await registerApp(h, "shop");
    dir = mkdtempSync(join(tmpdir(), "herald-cli-"));
  });
  after(async () => {
    await h.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The environment of a command: this Herald, and no credential from the test's own environment. */
  const envFor = (a = address, extra: Record<string, string> = {}) => ({
    HERALD_KEY: "",
    HERALD_KEY_FILE: "",
    HERALD_ADDRESS: a,
    ...extra,
  });
  const cli = (args: string[], env: Record<string, string> = envFor()) => runHeraldCommand(args, env);
  /** A command that succeeded. */
  const ok = async (args: string[], env?: Record<string, string>) => {
    const r = await cli(args, env);
    assert.equal(r.code, 0, `${args.join(" ")}: exit ${r.code}: ${r.stderr}`);
    return r;
  };
  /** Sends with `herald send` and returns the msg id and offset it printed. */
  const send = async (args: string[], env?: Record<string, string>) => {
    const r = await ok(["send", ...args], env);
    const m = SENT.exec(r.stdout);
    assert.ok(m, `send prints "msg ID offset N": ${JSON.stringify(r.stdout)}`);
    return { msgId: m[1]!, offset: m[2]! };
  };
  /** A failure: the code, and its first stderr line in the command's voice; nothing on stdout, no stack trace. */
  const assertFailed = (r: CommandResult, code: number, command: string, message: RegExp) => {
    assert.equal(r.code, code, `exit ${r.code}: ${r.stderr}`);
    assert.equal(r.stdout, "");
    const [first] = r.stderr.trimEnd().split("\n");
    assert.match(first!, new RegExp(`^herald ${command}: `));
    assert.match(first!, message);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  };
  const subscribe = async (app: string, device: string) =>
    (
      await ok(["subscribers", "put", app, "--device-id", device, "--ufid", `${device}@example.com`, "--os-type", "androidgcm"])
    ).stdout.trim();

  it("watch prints the event herald send published, one readable line, and ends on SIGINT with exit 0", async () => {
    const ksid = await subscribe("shop", "watched");
    const live = watchersLive(h);
    const watch = startHeraldCommand(["watch", "shop"], envFor());
    try {
      await live;
      const sent = await send([
        "shop-e",
        "--ksid",
        ksid,
        "--data",
        'hello "there"\nsecond line',
        "--type",
        "ringing",
        "--resource-id",
        "c1",
      ]);
      const line = await watch.line(new RegExp(`^${sent.offset} `));
      const cells = line.split("  ");
      assert.deepEqual(
        [cells[0], cells[2], cells[3], ...cells.slice(4)],
        [sent.offset, "event", "shop-e", "type=ringing", "resource_id=c1", `-> ${ksid}`, JSON.stringify('hello "there"\nsecond line')],
      );
      assert.match(cells[1]!, ISO_MS);
      watch.proc.kill("SIGINT");
      const r = await watch.result;
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, "");
    } finally {
      watch.proc.kill("SIGKILL");
    }
  });

  it("watch --json prints one parseable event per line; --resume-after replays history; filters apply", async () => {
    const a = await send(["shop-e", "--type", "ringing", "--data", "a", "--payload", '{"order":42}']);
    const b = await send(["shop-e", "--type", "hangup", "--data", "b"]);
    const c = await send(["shop-e", "--type", "ringing", "--data", "x".repeat(200)]);
    const watch = startHeraldCommand(
      ["watch", "shop", "--json", "--type", "ringing", "--resume-after", String(BigInt(a.offset) - 1n)],
      envFor(),
    );
    try {
      await watch.line(new RegExp(`"offset":"${c.offset}"`));
      const events = watch.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      // In offset order, b filtered out: c is the next event of type ringing after a.
      assert.deepEqual(
        events.map((e) => [e["msgId"], e["offset"], e["type"]]),
        [
          [a.msgId, a.offset, "ringing"],
          [c.msgId, c.offset, "ringing"],
        ],
      );
      assert.ok(!watch.lines.some((l) => l.includes(`"msgId":"${b.msgId}"`)));
      assert.equal(events[0]!["kind"], "EVENT_KIND_EVENT");
      assert.equal(events[0]!["eventId"], "shop-e");
      assert.deepEqual(events[0]!["payload"], { order: 42 });
      assert.deepEqual(events[0]!["content"], { mimeType: "text/plain", data: "a" });
      assert.equal((events[1]!["content"] as { data: string }).data, "x".repeat(200), "--json shortens nothing");
    } finally {
      watch.proc.kill("SIGKILL");
    }
    // The readable line shortens long content.
    const readable = startHeraldCommand(["watch", "shop", "--resume-after", String(BigInt(c.offset) - 1n)], envFor());
    try {
      const line = await readable.line(new RegExp(`^${c.offset} `));
      assert.ok(line.endsWith(`"${"x".repeat(79)}…"`), line);
    } finally {
      readable.proc.kill("SIGKILL");
    }
  });

  it("watch ends with exit 3 and the offset to resume from when Herald shuts down (SHUTTING_DOWN)", async () => {
    const other = await startTestHerald();
    try {
      await registerApp(other, "leaving");
      const env = envFor(`http://127.0.0.1:${other.grpcPort}`);
      const live = watchersLive(other);
      const watch = startHeraldCommand(["watch", "leaving", "--type", "kept"], env);
      try {
        await live;
        const kept = await send(["leaving-e", "--type", "kept"], env);
        await watch.line(new RegExp(`^${kept.offset} `));
        await other.stop();
        const r = await watch.result;
        assert.equal(r.code, 3, r.stderr);
        const [why, resume, ...rest] = r.stderr.trimEnd().split("\n");
        assert.match(why!, /^herald watch: Herald at .* is unavailable: .*SHUTTING_DOWN/);
        assert.equal(resume, `herald watch: resume with --resume-after ${kept.offset}`);
        assert.deepEqual(rest, []);
        assert.doesNotMatch(r.stderr, /\n\s+at /);
      } finally {
        watch.proc.kill("SIGKILL");
      }
    } finally {
      await other.stop().catch(() => undefined);
    }
  });

  it("watch exits 3 when the Herald process dies, with the last offset it printed", async () => {
    let p: HeraldProcess | undefined;
    try {
      p = await startHeraldProcess(["--seed", "examples/seed.yaml"]);
      const env = envFor(`http://127.0.0.1:${p.grpcPort}`);
      const first = await send(["1", "--name-pair", "lastname=Smith"], env);
      // Replaying from before it proves the stream is live: history is read after the watcher is registered.
      const watch = startHeraldCommand(["watch", "demo", "--resume-after", "0"], env);
      try {
        await watch.line(new RegExp(`^${first.offset} .*"Hello Smith, welcome aboard\\."$`));
        p.proc.kill("SIGKILL");
        const r = await watch.result;
        assert.equal(r.code, 3, r.stderr);
        const lines = r.stderr.trimEnd().split("\n");
        assert.match(lines[0]!, /^herald watch: lost the connection to Herald at http:\/\/127\.0\.0\.1:\d+: /);
        assert.equal(lines[1], `herald watch: resume with --resume-after ${first.offset}`);
        assert.doesNotMatch(r.stderr, /\n\s+at /);
      } finally {
        watch.proc.kill("SIGKILL");
      }
    } finally {
      killProcess(p);
    }
  });

  it("providers: put from key files (never argv), list without the keys, delete; a bad channel is a usage error", async () => {
    const apns = apnsKey();
    const sa = serviceAccountKey();
    const vapid = vapidKeys();
    const p8 = join(dir, "AuthKey.p8");
    writeFileSync(p8, apns.privateKey);
    const account = join(dir, "service-account.json");
    writeFileSync(
      account,
      JSON.stringify({
        type: "service_account",
        project_id: "shop-prod",
        client_email: "push@shop-prod.iam.gserviceaccount.com",
        private_key: sa.privateKey,
      }),
    );
    const vapidFile = join(dir, "vapid.key");
    writeFileSync(vapidFile, `${vapid.privateKey}\n`);
    await ok([
      "providers",
      "put",
      "shop",
      "apns",
      "--team-id",
      "TEAM000001",
      "--key-id",
      "KEY0000001",
      "--topic",
      "com.example.shop",
      "--private-key-file",
      p8,
      "--sandbox",
    ]);
    await ok(["providers", "put", "shop", "fcm", "--service-account-file", account]);
    await ok([
      "providers",
      "put",
      "shop",
      "web-push",
      "--subject",
      "mailto:ops@example.com",
      "--public-key",
      vapid.publicKey,
      "--private-key-file",
      vapidFile,
    ]);
    const listed = await ok(["providers", "list", "shop"]);
    const [header, ...rows] = listed.stdout.trimEnd().split("\n");
    assert.deepEqual(header!.split(/\s{2,}/), ["CHANNEL", "CREDENTIALS", "PRIVATE_KEY"]);
    assert.deepEqual(
      rows.map((r) => r.split(/\s{2,}/)),
      [
        ["apns", "team TEAM000001, key KEY0000001, topic com.example.shop, sandbox", "set"],
        ["fcm", "project shop-prod, push@shop-prod.iam.gserviceaccount.com", "set"],
        ["web-push", `mailto:ops@example.com, public key ${vapid.publicKey}`, "set"],
      ],
    );
    const asJson = await ok(["providers", "list", "shop", "--json"]);
    assert.doesNotMatch(asJson.stdout, /PRIVATE KEY|privateKey"\s*:\s*"[^"]/);
    const deleted = await ok(["providers", "delete", "shop", "fcm"]);
    assert.match(deleted.stderr, /fcm push provider of app shop deleted/);
    assert.deepEqual(
      (await ok(["providers", "list", "shop"])).stdout
        .trimEnd()
        .split("\n")
        .slice(1)
        .map((r) => r.split(/\s{2,}/)[0]),
      ["apns", "web-push"],
    );
    assertFailed(await cli(["providers", "delete", "shop", "gcm"]), 2, "providers", /CHANNEL must be one of apns, fcm, web-push/);
  });

  it("apps, events and subscribers: put, list and delete round trip, from flags and from files", async () => {
    await ok(["apps", "put", "crm", "--name", "CRM", "--published", "--network", "10.0.0.0/8,192.168.0.0/16"]);
    // A seed-style YAML file (proto field names) and a JSON list.
    const subscribersFile = join(dir, "subscribers.yaml");
    writeFileSync(subscribersFile, "subscribers:\n  - app_id: crm\n    device_id: d-1\n    ufid: ann@example.com\n    os_type: iphone\n");
    const appFile = join(dir, "apps.json");
    writeFileSync(appFile, JSON.stringify([{ id: "crm", name: "CRM renamed", published: true }]));

    const [apps, appsJson, , subscribed] = await Promise.all([
      ok(["apps", "list"]),
      ok(["apps", "list", "--json"]),
      ok(["events", "put", "crm-e", "--app", "crm", "--name", "Welcome", "--published", "--message", "Hi {{who}}"]),
      ok(["subscribers", "put", "--file", subscribersFile]),
    ]);
    const [header, ...rows] = apps.stdout.trimEnd().split("\n");
    assert.deepEqual(header!.split(/\s{2,}/), ["ID", "NAME", "PUBLISHED", "LEGACY_KEY", "OPEN_NETWORKS", "XMS_BASIC"]);
    assert.deepEqual(
      rows.find((r) => r.startsWith("crm "))?.split(/\s{2,}/),
      ["crm", "CRM", "yes", "no", "10.0.0.0/8,192.168.0.0/16", "no"],
      apps.stdout,
    );
    const listed = JSON.parse(appsJson.stdout) as { apps: Array<{ id: string; published: boolean }> };
    assert.equal(listed.apps.find((a) => a.id === "crm")?.published, true);
    const ksid = subscribed.stdout.trim();
    assert.match(ksid, /^\S+$/);

    const [events, subs, sent] = await Promise.all([
      ok(["events", "list", "crm"]),
      ok(["subscribers", "list", "crm"]),
      send(["crm-e", "--ksid", ksid, "--name-pair", "who=Ann"]),
      ok(["apps", "put", "--file", appFile]),
    ]);
    assert.deepEqual(
      events.stdout
        .trimEnd()
        .split("\n")[1]!
        .split(/\s{2,}/),
      ["crm-e", "crm", "Welcome", "yes", "Hi {{who}}"],
    );
    assert.deepEqual(
      subs.stdout
        .trimEnd()
        .split("\n")[1]!
        .split(/\s{2,}/),
      [ksid, "d-1", "ann@example.com", "iphone", "-", "yes"],
    );
    assert.match(sent.msgId, /^\d+$/);

    const [renamed, unsubscribed, eventDeleted] = await Promise.all([
      ok(["apps", "list"]),
      ok(["subscribers", "delete", ksid]),
      ok(["events", "delete", "crm-e"]),
    ]);
    assert.ok(
      renamed.stdout.split("\n").some((l) => /^crm\s+CRM renamed\s+yes\s/.test(l)),
      renamed.stdout,
    );
    assert.match(unsubscribed.stderr, new RegExp(`subscriber ${ksid} unsubscribed`));
    assert.match(eventDeleted.stderr, /event crm-e deleted/);
    const [noSubscriber, noEvent] = await Promise.all([ok(["subscribers", "list", "crm"]), ok(["events", "list", "crm"])]);
    assert.ok(!noSubscriber.stdout.includes(ksid));
    assert.equal(noEvent.stdout.trimEnd().split("\n").length, 1, "header only");

    await ok(["apps", "delete", "crm"]);
    const [gone, again] = await Promise.all([ok(["apps", "list"]), cli(["apps", "delete", "crm"])]);
    assert.ok(!gone.stdout.split("\n").some((l) => l.startsWith("crm ")));
    assertFailed(again, 5, "apps", /app "crm" not found \(APP_NOT_FOUND\)/);
  });

  it("status shows each targeted subscriber of a request; --json too; an unknown id exits 5", async () => {
    const ksid = await subscribe("shop", "status-device");
    const sent = await send(["shop-e", "--ksid", ksid, "--request-id", "order-7"]);
    const table = await ok(["status", "order-7"]);
    const [header, row, ...more] = table.stdout.trimEnd().split("\n");
    assert.deepEqual(header!.split(/\s{2,}/), ["MSG", "APP", "TIME", "BROADCAST", "KSID", "STATE", "DELIVERED", "DEVICE"]);
    const cells = row!.split(/\s{2,}/);
    assert.deepEqual(
      [cells[0], cells[1], cells[3], cells[4], cells[5], cells[6], cells[7]],
      [sent.msgId, "shop", "no", ksid, "queued", "-", "-"],
    );
    assert.match(cells[2]!, ISO_MS);
    assert.deepEqual(more, []);
    const reply = JSON.parse((await ok(["status", "order-7", "--json"])).stdout) as {
      messages: Array<{ msgId: string; subscribers: Array<{ ksid: string; state: string }> }>;
    };
    assert.deepEqual(
      reply.messages.map((m) => [m.msgId, m.subscribers.map((s) => [s.ksid, s.state])]),
      [[sent.msgId, [[ksid, "DELIVERY_STATE_QUEUED"]]]],
    );
    assertFailed(await cli(["status", "never-sent"]), 5, "status", /MESSAGE_NOT_FOUND/);
  });

  it("push sends to listed subscribers or every active one; handlers list shows an app's event handlers", async () => {
    const ksid = await subscribe("shop", "pushed");
    const live = watchersLive(h);
    const watch = startHeraldCommand(["watch", "shop", "--ksid", ksid, "--json"], envFor());
    try {
      await live;
      const r = await ok(["push", "shop", "--ksid", ksid, "--data", "to one"]);
      const [, msgId] = SENT.exec(r.stdout) ?? [];
      const all = await ok(["push", "shop", "--all-active", "--data", "to all", "--json"]);
      const reply = JSON.parse(all.stdout) as { msgId: string };
      await watch.line(new RegExp(`"msgId":"${reply.msgId}"`));
      assert.deepEqual(
        watch.lines
          .map((l) => JSON.parse(l) as { msgId: string; kind: string; content: { data: string } })
          .map((e) => [e.msgId, e.kind, e.content.data]),
        [
          [msgId, "EVENT_KIND_PUSH", "to one"],
          [reply.msgId, "EVENT_KIND_PUSH", "to all"],
        ],
      );
    } finally {
      watch.proc.kill("SIGKILL");
    }

    const created = await unary(h.clients.registry, "createEventHandler", {
      appId: "shop",
      subscriptions: [{ type: "ringing", resourceType: "call" }],
    });
    const handlers = await ok(["handlers", "list", "shop"]);
    const row = handlers.stdout.split("\n").find((l) => l.startsWith(created.handler.id));
    assert.ok(row, handlers.stdout);
    assert.deepEqual(
      row.split(/\s{2,}/).filter((_, i) => i !== 2),
      [created.handler.id, "1", "ringing/call/any"],
    );
  });

  it("watch --handler streams what an event handler subscribes to, and ends with exit 0 when it is deleted", async () => {
    const { handler } = await unary(h.clients.registry, "createEventHandler", { appId: "shop", subscriptions: [{ type: "ring" }] });
    const live = watchersLive(h);
    const watch = startHeraldCommand(["watch", "shop", "--handler", handler.id], envFor());
    try {
      await live;
      await send(["shop-e", "--type", "other", "--data", "not subscribed"]);
      const ring = await send(["shop-e", "--type", "ring", "--data", "subscribed"]);
      await watch.line(new RegExp(`^${ring.offset} .*"subscribed"$`));
      await unary(h.clients.registry, "deleteEventHandler", { appId: "shop", id: handler.id });
      const r = await watch.result;
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trimEnd().split("\n").length, 1, r.stdout);
      assert.equal(r.stderr, "herald watch: the stream ended (its event handler was deleted)\n");
    } finally {
      watch.proc.kill("SIGKILL");
    }
  });

  it("exit codes: unreachable 3, unknown app 5, bad flags and refused arguments 2; one line each", async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const [sendUnreachable, watchUnreachable, watchUnknown, pushUnknown, sendUnknown] = await Promise.all([
      cli(["send", "shop-e"], envFor(closed)),
      cli(["watch", "shop"], envFor(closed)),
      cli(["watch", "nope"]),
      cli(["push", "nope", "--all-active", "--data", "x"]),
      cli(["send", "nope-e"]),
    ]);
    assertFailed(sendUnreachable, 3, "send", /cannot reach Herald at .*ECONNREFUSED/);
    assertFailed(watchUnreachable, 3, "watch", /cannot reach Herald at .*ECONNREFUSED/);
    assertFailed(watchUnknown, 5, "watch", /app "nope" not found \(APP_NOT_FOUND\)/);
    assertFailed(pushUnknown, 5, "push", /APP_NOT_FOUND/);
    assertFailed(sendUnknown, 5, "send", /EVENT_NOT_FOUND/);

    const usage: Array<[string[], string, RegExp]> = [
      [["send", "shop-e", "--nope"], "send", /Unknown option '--nope'/],
      [["send"], "send", /send takes EVENT_ID: missing EVENT_ID/],
      [["send", "shop-e", "--payload", "{not json"], "send", /--payload: not JSON/],
      [["send", "shop-e", "--name-pair", "novalue"], "send", /--name-pair novalue: name=value/],
      [["watch"], "watch", /missing APP/],
      [["watch", "shop", "--resume-after", "soon"], "watch", /--resume-after soon: an offset/],
      [["push", "shop", "--data", "x"], "push", /--ksid, --ufid, --device-id\) or to --all-active/],
      [["push", "shop", "--all-active"], "push", /needs --data/],
      [["apps"], "apps", /a command is required: list, put, delete/],
      [["apps", "frobnicate"], "apps", /unknown command "frobnicate"/],
      [["apps", "list", "--name", "x"], "apps", /--name is not an option of "apps list"/],
      [["apps", "put", "--file", join(dir, "missing.yaml")], "apps", /--file .*: no such file/],
      [["events", "put", "e1"], "events", /needs --app/],
      [["status", "a", "b"], "status", /unexpected argument "b"/],
      // Refused by Herald as invalid: exit 2 too.
      [["send", "shop-e", "--ksid", "not a ksid!"], "send", /refused: .*INVALID_ARGUMENT/],
      [["watch", "shop", "--handler", "h1", "--type", "x"], "watch", /refused: .*INVALID_ARGUMENT/],
    ];
    const results = await Promise.all(usage.map(([args]) => cli(args)));
    for (const [i, r] of results.entries()) {
      const [args, command, message] = usage[i]!;
      assert.equal(r.code, 2, `${args.join(" ")}: exit ${r.code}: ${r.stderr}`);
      assertFailed(r, 2, command, message);
    }
  });

  it("with access control on: a watch-only API key watches, but is refused send with exit 4", async () => {
    const adminKey = "cli-test-admin-key-0123456789";
    const guarded = await startTestHerald({ auth: { adminKey } });
    try {
      await registerApp(guarded, "shop");
      const at = `http://127.0.0.1:${guarded.grpcPort}`;
      const created = await ok(["keys", "create", "--role", "watch", "--app", "shop"], envFor(at, { HERALD_KEY: adminKey }));
      const watchKey = created.stdout.trim();
      const keyFile = join(dir, "watch.key");
      writeFileSync(keyFile, `${watchKey}\n`, { mode: 0o600 });

      const [refused, none] = await Promise.all([
        cli(["send", "shop-e"], envFor(at, { HERALD_KEY: watchKey })),
        cli(["send", "shop-e"], envFor(at)),
      ]);
      assertFailed(refused, 4, "send", /permission denied: .*publish role.*\(ROLE_REQUIRED\)$/);
      assertFailed(none, 4, "send", /not authenticated: .*CREDENTIAL_REQUIRED.*HERALD_KEY or --key-file/);

      const live = watchersLive(guarded);
      const watch = startHeraldCommand(["watch", "shop", "--key-file", keyFile], envFor(at));
      try {
        await live;
        const sent = await send(["shop-e", "--data", "guarded"], envFor(at, { HERALD_KEY: adminKey }));
        await watch.line(new RegExp(`^${sent.offset} .*"guarded"$`));
      } finally {
        watch.proc.kill("SIGKILL");
      }
    } finally {
      await guarded.stop();
    }
  });

  it("herald --help names the commands; each command's --help documents its options and exit codes", async () => {
    const top = await ok(["--help"], envFor());
    for (const command of ["keys", "watch", "send", "push", "status", "apps", "events", "subscribers", "handlers"]) {
      assert.match(top.stdout, new RegExp(`herald ([a-z|]+\\|)?${command}[ |]`), `herald --help mentions herald ${command}`);
    }
    const expected: Record<string, string[]> = {
      watch: ["--type", "--resource-type", "--resource-id", "--ksid", "--handler", "--resume-after", "--json"],
      send: ["--app", "--ksid", "--name-pair", "--data", "--payload", "--request-id", "--json"],
      push: ["--ksid", "--all-active", "--os-type", "--data", "--json"],
      status: ["--json"],
      apps: ["list", "put", "delete", "--file", "--published"],
      events: ["list", "put", "delete", "--file", "--message"],
      subscribers: ["list", "put", "delete", "--file", "--device-id"],
      handlers: ["list", "--json"],
    };
    const names = Object.keys(expected);
    const results = await Promise.all(names.map((n) => ok([n, "--help"], envFor())));
    for (const [i, r] of results.entries()) {
      for (const part of [...expected[names[i]!]!, "--address", "HERALD_KEY", "--key-file", "Exit codes"]) {
        assert.ok(r.stdout.includes(part), `herald ${names[i]} --help mentions ${part}`);
      }
    }
    assert.match((await ok(["apps", "help"], envFor())).stdout, /^Usage: herald apps/);
  });

  it("watch reads the offset to resume from in the herald-resume-after trailer, else in the ErrorInfo", () => {
    const full = heraldError(Code.ResourceExhausted, "SLOW_CONSUMER", "too slow", { resume_after: "41" });
    assert.equal(resumeOffset(full), 41n);
    const info = { desc: ErrorInfoSchema, value: { reason: "SLOW_CONSUMER", domain: "herald", metadata: { resume_after: "41" } } };
    const detailOnly = new ConnectError("too slow", Code.ResourceExhausted, new Headers(), [info]);
    assert.equal(resumeOffset(detailOnly), 41n);
    const trailerOnly = new ConnectError("gone", Code.Unavailable, new Headers({ "herald-resume-after": "7" }));
    assert.equal(resumeOffset(trailerOnly), 7n);
    assert.equal(resumeOffset(new ConnectError("gone", Code.Unavailable)), undefined);
  });
});

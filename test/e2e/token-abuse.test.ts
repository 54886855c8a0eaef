import { strict as assert } from "node:assert";
import { request } from "node:http";
import * as grpc from "@grpc/grpc-js";
import { ConnectError } from "@connectrpc/connect";
import { TokenGuard } from "../../core/eventhos/token-guard.js";
import { reasonOf } from "../../core/rpc/errors.js";
import { FailureLimiter } from "../../facade/eventhos/failure-limiter.js";
import { startTestHerald, type TestHerald } from "../support/herald.js";
import { ADMIN_TOKEN, EventhosApi, eventhosGrpc } from "../support/eventhos.js";
import { rejection, unary } from "../support/grpc-client.js";

describe("token request limits (pure)", () => {
  it("TokenGuard: attempts reserve a failure, successes give it back; an id out of them is refused until one refills", () => {
    let now = 0;
    const guard = new TokenGuard({ failureBurst: 3, failureRefillMs: 1000, hashConcurrency: 1, hashQueue: 1 }, () => now);
    const refused = (id = "a") => {
      try {
        guard.reserve(id);
        return undefined;
      } catch (err) {
        return reasonOf(err);
      }
    };
    for (let i = 0; i < 5; i++) {
      assert.equal(refused(), undefined);
      guard.refund("a"); // successes cost nothing
    }
    for (let i = 0; i < 3; i++) assert.equal(refused(), undefined, "in flight or failed: counted");
    assert.equal(refused(), "TOO_MANY_ATTEMPTS");
    assert.equal(refused("b"), undefined);
    now += 999;
    assert.equal(refused(), "TOO_MANY_ATTEMPTS");
    now += 1;
    assert.equal(refused(), undefined, "one attempt back after refillMs");
    assert.equal(refused(), "TOO_MANY_ATTEMPTS");
  });

  it("TokenGuard: hashes run `hashConcurrency` at once, `hashQueue` wait, the next is BUSY at once", async () => {
    const guard = new TokenGuard({ failureBurst: 3, failureRefillMs: 1000, hashConcurrency: 1, hashQueue: 1 });
    let release!: () => void;
    const order: string[] = [];
    const first = guard.hash(() => new Promise<void>((r) => (release = r)).then(() => order.push("first")));
    const second = guard.hash(async () => order.push("second"));
    const third = guard.hash(async () => order.push("third"));
    const err = await third.then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof ConnectError);
    assert.equal(reasonOf(err), "BUSY");
    assert.equal(order.length, 0, "nothing ran past the slot");
    release();
    await Promise.all([first, second]);
    assert.deepEqual(order, ["first", "second"]);
    await guard.hash(async () => order.push("again")); // the slot was given back
  });

  it("FailureLimiter: per key, attempts reserve, successes refund, burst then one per refill", () => {
    let now = 0;
    const limiter = new FailureLimiter(2, 500, () => now);
    assert.ok(limiter.reserve("1.2.3.4"));
    limiter.refund("1.2.3.4");
    assert.ok(limiter.reserve("1.2.3.4"));
    assert.ok(limiter.reserve("1.2.3.4"));
    assert.ok(!limiter.reserve("1.2.3.4"));
    assert.ok(limiter.reserve("5.6.7.8"));
    now += 500;
    assert.ok(limiter.reserve("1.2.3.4"));
    assert.ok(!limiter.reserve("1.2.3.4"));
  });
});

/** POST /auth/token from a given local address (127.0.0.x are all this host). */
function tokenFrom(
  port: number,
  localAddress: string,
  clientId: string,
  secret: string,
): Promise<{ status: number; json: any; retryAfter: string | undefined }> {
  const body = new URLSearchParams({ grant_type: "client_credentials", client_id: clientId, client_secret: secret }).toString();
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path: "/auth/token",
        method: "POST",
        localAddress,
        agent: false,
        headers: { "content-type": "application/x-www-form-urlencoded" },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            json: JSON.parse(Buffer.concat(chunks).toString()),
            retryAfter: res.headers["retry-after"],
          }),
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

describe("token requests under a wrong-secret flood", () => {
  let h: TestHerald;
  let api: EventhosApi;
  let p: Awaited<ReturnType<EventhosApi["producer"]>>;
  before(async () => {
    h = await startTestHerald({
      auth: { adminKey: ADMIN_TOKEN },
      eventhos: { tokenSecret: "a-token-secret-of-the-test-suite-0123456789", tokenFailureBurst: 4, tokenFailureRefillMs: 60_000 },
      eventhosFacade: { tokenAddressFailureBurst: 2, tokenAddressFailureRefillMs: 60_000 },
    });
    api = new EventhosApi(h.httpPort);
    p = await api.producer("flood");
  });
  after(() => h.stop());

  it("an address out of failed attempts gets 429001 with Retry-After, even with the right secret; another address is served", async () => {
    for (let i = 0; i < 2; i++) assert.equal((await tokenFrom(h.httpPort, "127.0.0.2", p.clientId, "wrong")).json.code, 400011);
    const refused = await tokenFrom(h.httpPort, "127.0.0.2", p.clientId, p.secret);
    assert.equal(refused.status, 429);
    assert.deepEqual(refused.json, { code: 429001, message: "Too many failed token requests, retry later" });
    assert.equal(refused.retryAfter, "60");
    const other = await tokenFrom(h.httpPort, "127.0.0.3", p.clientId, p.secret);
    assert.equal(other.json.code, 200000);
  });

  it("a client id out of failed attempts is refused by the core (gRPC RESOURCE_EXHAUSTED, HTTP 429001) without hashing; other ids are not", async () => {
    const { clients, close } = eventhosGrpc(h.grpcPort);
    try {
      // 2 failures of this id already counted by the test above; 2 more spend the burst of 4.
      for (let i = 0; i < 2; i++) {
        const err = await rejection(unary(clients, "issueToken", { clientId: p.clientId, clientSecret: "wrong" }));
        assert.equal(err.code, grpc.status.UNAUTHENTICATED);
      }
      const err = await rejection(unary(clients, "issueToken", { clientId: p.clientId, clientSecret: p.secret }));
      assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED);
      assert.equal(err.metadata.get("herald-reason")[0], "TOO_MANY_ATTEMPTS");
      const fromHttp = await tokenFrom(h.httpPort, "127.0.0.4", p.clientId, p.secret);
      assert.equal(fromHttp.json.code, 429001);
      const q = await api.producer("flood-other");
      const ok = await unary(clients, "issueToken", { clientId: q.clientId, clientSecret: q.secret });
      assert.ok(ok.accessToken);
    } finally {
      close();
    }
  });
});

describe("token requests refused as busy", () => {
  let h: TestHerald;
  before(async () => {
    h = await startTestHerald({
      auth: { adminKey: ADMIN_TOKEN },
      eventhos: {
        tokenSecret: "a-token-secret-of-the-test-suite-0123456789",
        tokenFailureBurst: 2,
        tokenHashConcurrency: 1,
        tokenHashQueue: 0,
      },
    });
  });
  after(() => h.stop());

  it("BUSY past the hash queue, at once; a busy answer does not spend the client's failed attempts", async () => {
    const api = new EventhosApi(h.httpPort);
    const p = await api.producer("busy");
    const { clients, close } = eventhosGrpc(h.grpcPort);
    try {
      // Sent together: one hashes, the others find no slot and no queue.
      const outcomes = await Promise.all(
        Array.from({ length: 8 }, () =>
          unary(clients, "issueToken", { clientId: p.clientId, clientSecret: p.secret }).then(
            () => "ok",
            (err: grpc.ServiceError) => `${err.code}:${err.metadata.get("herald-reason")[0]}`,
          ),
        ),
      );
      const busy = outcomes.filter((o) => o === `${grpc.status.RESOURCE_EXHAUSTED}:BUSY`).length;
      assert.ok(busy >= 2, `busy answers: ${outcomes.join(" ")}`);
      assert.equal(busy + outcomes.filter((o) => o === "ok").length, outcomes.length, outcomes.join(" "));
      const again = await unary(clients, "issueToken", { clientId: p.clientId, clientSecret: p.secret });
      assert.ok(again.accessToken, "the burst of 2 was not spent by the busy answers");
    } finally {
      close();
    }
  });
});

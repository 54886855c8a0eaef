import { strict as assert } from "node:assert";
import { create, fromJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { renderJson, renderText, lookup } from "../core/eventhos/body-template.js";
import { backoffMs } from "../core/eventhos/backoff.js";
import { buildRequest } from "../core/eventhos/delivery-engine.js";
import { ActionSchema, ReceivedEventSchema } from "../core/gen/herald/v1/eventhos_pb.js";
import { hashKey, hashSecret, newKey, sameHash, TokenSigner, verifySecret } from "../core/eventhos/token-signer.js";

const source = { body: { a: { b: [10, { c: "deep" }] }, n: 1, s: "x y" }, headers: { "x-id": "h1" }, query: { q: "v" } };

describe("eventhos templates", () => {
  it("looks up body paths (arrays by index), headers case-insensitively and query; absent is undefined", () => {
    assert.equal(lookup("body.a.b.1.c", source), "deep");
    assert.deepEqual(lookup("body", source), source.body);
    assert.equal(lookup("headers.X-Id", source), "h1");
    assert.equal(lookup("query.q", source), "v");
    assert.equal(lookup("body.none.deeper", source), undefined);
    assert.equal(lookup("body.constructor", source), undefined, "own properties only");
    assert.equal(lookup("env.HOME", source), undefined);
  });

  it("fills text (with an encoder for URLs) and JSON, where a lone placeholder keeps the value's type", () => {
    assert.equal(renderText("/x/{{ body.s }}?h={{headers.x-id}}&m={{body.missing}}", source, encodeURIComponent), "/x/x%20y?h=h1&m=");
    assert.deepEqual(
      renderJson('{"n":"{{body.n}}","t":"n={{body.n}}","o":"{{body.a}}","m":"{{body.m}}","k":[true,"{{query.q}}"]}', source),
      {
        n: 1,
        t: "n=1",
        o: source.body.a,
        m: null,
        k: [true, "v"],
      },
    );
    assert.throws(() => renderJson("{not json", source));
  });

  it("builds the call: method upper-cased, received body forwarded when there is no template, none for GET", () => {
    const received = create(ReceivedEventSchema, { body: fromJson(ValueSchema, { id: 5 }), headers: {}, query: {} });
    const post = buildRequest(create(ActionSchema, { method: "post", url: "http://t/{{body.id}}", headers: { "X-A": "b" } }), received);
    assert.deepEqual(post, {
      method: "POST",
      url: "http://t/5",
      headers: { "x-a": "b", "content-type": "application/json" },
      body: '{"id":5}',
    });
    const get = buildRequest(create(ActionSchema, { method: "GET", url: "http://t/" }), received);
    assert.equal(get.body, undefined);
    assert.equal(get.headers["content-type"], undefined);
  });
});

describe("eventhos backoff", () => {
  it("doubles from the base up to the max, with half of it random", () => {
    assert.deepEqual(
      [1, 2, 3, 4, 10].map((r) => backoffMs(r, 100, 500, () => 1)),
      [100, 200, 400, 500, 500],
    );
    assert.deepEqual(
      [1, 2, 3].map((r) => backoffMs(r, 100, 500, () => 0)),
      [50, 100, 200],
    );
  });
});

describe("eventhos access keys", () => {
  it("hashes secrets with scrypt and verifies them; a malformed hash never matches", async () => {
    const stored = await hashSecret("pw");
    assert.match(stored, /^scrypt\$/);
    assert.equal(await verifySecret("pw", stored), true);
    assert.equal(await verifySecret("pw2", stored), false);
    assert.equal(await verifySecret("pw", "plain"), false);
  });

  it("makes long-lived keys that only their SHA-256 identifies", () => {
    const k = newKey();
    assert.match(k.key, /^hk_[\w-]{43}$/);
    assert.equal(hashKey(k.key), k.hash);
    assert.equal(sameHash(k.hash, hashKey(k.key)), true);
    assert.equal(sameHash(k.hash, hashKey(newKey().key)), false);
  });

  it("signs tokens that only the same secret verifies", async () => {
    const signer = new TokenSigner("secret-one-secret-one-secret-one!", 60);
    const token = await signer.sign("c1", 3);
    assert.deepEqual(await signer.verify(token), { clientId: "c1", generation: 3 });
    assert.equal(await new TokenSigner("secret-two-secret-two-secret-two!", 60).verify(token), undefined);
    assert.equal(await signer.verify(token.slice(0, -2) + "xx"), undefined);
  });
});

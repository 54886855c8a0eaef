import { strict as assert } from "node:assert";
import { startTestHerald, watchersLive, type TestHerald } from "../support/herald.js";
import { unary, Watch } from "../support/grpc-client.js";
import { http, JSON_TYPE, XML } from "../support/http.js";

/** The multi-message push (`messageRequest`): one unit, bounded, and safe to retry with `Idempotency-Key`. */
describe("Kony / Volt MX push: one request, one unit", () => {
  let h: TestHerald;
  const base = () => `http://127.0.0.1:${h.httpPort}`;

  before(async () => {
    h = await startTestHerald({ server: { seedFile: "examples/seed.yaml" }, limits: { maxPushMessages: 3, maxContentBytes: 100 } });
  });
  after(() => h.stop());

  const body = (...data: string[]) =>
    JSON.stringify({
      messageRequest: {
        appId: "demo",
        messages: {
          message: data.map((d) => ({
            type: "PUSH",
            subscribers: { subscriber: [{ ksid: "xxxx" }, { ksid: "gone" }] },
            content: { data: d },
          })),
        },
      },
    });
  const push = (payload: string, headers: Record<string, string> = {}, prefix = "kpns") =>
    http(`${base()}/${prefix}/api/v1/messages/push`, "POST", payload, { "content-type": JSON_TYPE, ...headers });
  /** The offset the app's next message gets: how many were published so far, plus one. */
  const nextOffset = async () =>
    Number(
      (await unary<{ offset: string }>(h.clients.hub, "sendPush", { appId: "demo", allActive: true, content: { data: "marker" } })).offset,
    );

  it("publishes every message of a request, consecutively, with nothing of another send in between", async () => {
    const watch = new Watch(h.clients.hub, { appId: "demo" });
    await watchersLive(h);
    const reply = await push(body("one", "two", "three"));
    assert.equal(reply.status, 200, reply.body);
    const res = JSON.parse(reply.body).messageResponse;
    const ids = res.messages.map((m: { msgId: number }) => m.msgId);
    assert.deepEqual(ids, [ids[0], ids[0] + 1, ids[0] + 2]);
    assert.deepEqual(
      res.invalidSubscribers.map((s: { ksid: string }) => s.ksid),
      ["gone", "gone", "gone"],
    );
    await watch.received(3);
    assert.deepEqual(
      watch.events.map((e) => e.content?.data),
      ["one", "two", "three"],
    );
    assert.deepEqual(
      watch.events.map((e) => Number(e.offset)),
      [0, 1, 2].map((i) => Number(watch.events[0]!.offset) + i),
    );
    assert.ok(
      watch.events.every((e) => e.requestId === res.requestId),
      "every message carries the request id",
    );
    watch.cancel();
  });

  it("publishes nothing when a later message is refused (400), so that the client's retry duplicates nothing", async () => {
    const before = await nextOffset();
    // The first two are valid; the third is over --max-content-bytes, which only the core checks.
    const reply = await push(body("first", "second", "x".repeat(101)));
    assert.equal(reply.status, 400, reply.body);
    assert.equal(JSON.parse(reply.body).messageResponse.description, "Invalid request format. ");
    assert.equal(await nextOffset(), before + 1, "nothing was published");
  });

  it("answers a retry with the same Idempotency-Key with the first reply, publishing nothing (either prefix)", async () => {
    const payload = body("again-1", "again-2");
    const first = await push(payload, { "Idempotency-Key": "kony-retry-1" });
    assert.equal(first.status, 200, first.body);
    const published = await nextOffset();
    const retry = await push(payload, { "Idempotency-Key": "kony-retry-1" });
    assert.equal(retry.status, 200);
    assert.equal(retry.body, first.body, "the same reply, request id and msg ids included");
    const vpns = await push(payload, { "Idempotency-Key": "kony-retry-1" }, "vpns");
    assert.equal(JSON.parse(vpns.body).messageResponse.requestId, JSON.parse(first.body).messageResponse.requestId);
    assert.equal(await nextOffset(), published + 1, "the retries published nothing");
    // The same key for another request: 409 in the contract's shape, nothing published.
    const other = await push(body("different"), { "Idempotency-Key": "kony-retry-1" });
    assert.equal(other.status, 409);
    assert.equal(JSON.parse(other.body).messageResponse.description, "Idempotency-Key already used for a different request. ");
    assert.equal(await nextOffset(), published + 2);
  });

  it("refuses a request of more than --max-push-messages messages whole with 413, in XML and JSON", async () => {
    const before = await nextOffset();
    const json = await push(body("1", "2", "3", "4"));
    assert.equal(json.status, 413);
    assert.equal(json.contentType, JSON_TYPE);
    assert.deepEqual(JSON.parse(json.body).messageResponse, {
      invalidSubscribers: [],
      description: "Too many messages in one request. ",
      code: 413,
      messages: [],
    });
    const message =
      "<message><subscribers><subscriber><ksid>xxxx</ksid></subscriber></subscribers><content><data>x</data></content></message>";
    const xml = await http(
      `${base()}/vpns/api/v1/messages/push`,
      "POST",
      `<messageRequest><appId>demo</appId><messages>${message.repeat(4)}</messages></messageRequest>`,
      { "content-type": XML },
    );
    assert.equal(xml.status, 413, xml.body);
    assert.match(xml.body, /<code>413<\/code>\n {4}<description>Too many messages in one request\. <\/description>/);
    assert.equal((await push(body("1", "2", "3"))).status, 200, "the bound itself is allowed");
    assert.equal(await nextOffset(), before + 4, "only the 3-message request was published");
  });

  it("answers a repeated eventpushmessage with the same Idempotency-Key with the first msgId", async () => {
    const event = JSON.stringify({ event: { eventid: "1", message: { subscribers: { subscriber: [{ ksid: "xxxx" }] } } } });
    const send = () =>
      http(`${base()}/kpns/service/eventpushmessage`, "POST", event, { "content-type": JSON_TYPE, "Idempotency-Key": "ev-1" });
    const first = await send();
    assert.equal(first.status, 200, first.body);
    const published = await nextOffset();
    const again = await send();
    assert.equal(again.body, first.body);
    assert.equal(await nextOffset(), published + 1);
  });
});

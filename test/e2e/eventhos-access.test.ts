import { strict as assert } from "node:assert";
import * as grpc from "@grpc/grpc-js";
import { startTestHerald, type TestHerald } from "../support/herald.js";
import { rejection, unary } from "../support/grpc-client.js";
import { ok, Target } from "../support/target.js";
import { ADMIN_TOKEN, EventhosApi, eventhosGrpc } from "../support/eventhos.js";

/** Issue 13: DeliveryService.ReceiveEvent checks the access key itself, over a real gRPC transport. */
describe("eventhos access: ReceiveEvent needs the producer's access key", () => {
  let h: TestHerald;
  let api: EventhosApi;
  let eventhos: ReturnType<typeof eventhosGrpc>;
  let target: Target;
  let shop: Awaited<ReturnType<EventhosApi["producer"]>>;
  let other: Awaited<ReturnType<EventhosApi["producer"]>>;
  let shopToken: string;
  let otherToken: string;

  before(async () => {
    h = await startTestHerald({ auth: { adminKey: ADMIN_TOKEN }, eventhos: { allowHosts: "127.0.0.1", retryLimit: 0 } });
    api = new EventhosApi(h.httpPort);
    eventhos = eventhosGrpc(h.grpcPort, ADMIN_TOKEN);
    target = await Target.start(ok);
    shop = await api.producer("shop");
    other = await api.producer("other");
    await api.contract("shop-hook", shop.eventId, shop.consumer, target.url("/hook"));
    shopToken = await api.token(shop.clientId, shop.secret);
    otherToken = await api.token(other.clientId, other.secret);
  });
  after(async () => {
    eventhos?.close();
    await h?.stop();
    await target?.close();
  });

  const received = async (eventId: string) => (await unary(eventhos.delivery, "listReceivedEvents", { eventId })).receivedEvents as any[];

  /** The call fails with `code` and `reason`, and nothing is recorded for the event or called. */
  async function refused(request: object, code: grpc.status, reason: string): Promise<grpc.ServiceError> {
    const calls = target.calls.length;
    const err = await rejection(unary(eventhos.delivery, "receiveEvent", request));
    assert.equal(err.code, code, err.message);
    assert.equal(err.metadata.get("herald-reason")[0], reason);
    // Contracts run only for recorded events: with none recorded, none can run (checked again,
    // once the first recorded ones have run, by the count of calls below).
    assert.deepEqual(await received(shop.eventId), [], "nothing recorded");
    assert.equal(target.calls.length, calls, "no contract ran");
    return err;
  }

  it("refuses a direct ReceiveEvent without a key: UNAUTHENTICATED, nothing recorded, no contract runs", async () => {
    const err = await refused(
      { msgId: "direct-1", appId: "shop", eventId: shop.eventId, clientId: shop.clientId, body: { stringValue: "x" } },
      grpc.status.UNAUTHENTICATED,
      "UNAUTHENTICATED",
    );
    assert.match(err.details, /access key is required/);
  });

  it("refuses a wrong, forged or unknown long-lived key: UNAUTHENTICATED", async () => {
    for (const accessKey of ["not-a-token", `${shopToken.slice(0, -4)}AAAA`, `hk_${"A".repeat(43)}`]) {
      await refused(
        { msgId: "direct-2", appId: "shop", eventId: shop.eventId, clientId: shop.clientId, accessKey },
        grpc.status.UNAUTHENTICATED,
        "UNAUTHENTICATED",
      );
    }
  });

  it("refuses another client's key, even with this client's ids in the request: PERMISSION_DENIED", async () => {
    const err = await refused(
      { msgId: "direct-3", appId: "shop", eventId: shop.eventId, clientId: shop.clientId, accessKey: otherToken },
      grpc.status.PERMISSION_DENIED,
      "EVENT_NOT_ALLOWED",
    );
    assert.match(err.details, /other-client/);
  });

  it("refuses app_id or client_id that are not the key's: the request cannot speak for another client", async () => {
    await refused(
      { msgId: "direct-4", appId: "shop", eventId: shop.eventId, clientId: other.clientId, accessKey: shopToken },
      grpc.status.INVALID_ARGUMENT,
      "INVALID_ARGUMENT",
    );
    await refused(
      { msgId: "direct-5", appId: "other", eventId: shop.eventId, clientId: shop.clientId, accessKey: shopToken },
      grpc.status.INVALID_ARGUMENT,
      "INVALID_ARGUMENT",
    );
  });

  it("records a direct ReceiveEvent with the client's own key (token or long-lived key), ids taken from the key", async () => {
    const res = await unary(eventhos.delivery, "receiveEvent", { msgId: "direct-ok", eventId: shop.eventId, accessKey: shopToken });
    assert.equal(res.receivedId, "direct-ok");
    assert.equal(res.contracts, 1);
    const { key } = await api.admin("POST", `/client/${shop.clientId}/key`);
    await unary(eventhos.delivery, "receiveEvent", {
      msgId: "direct-key",
      appId: "shop",
      eventId: shop.eventId,
      clientId: shop.clientId,
      accessKey: key,
    });
    const list = await received(shop.eventId);
    assert.deepEqual(list.map((r) => [r.id, r.appId, r.clientId]).sort(), [
      ["direct-key", "shop", shop.clientId],
      ["direct-ok", "shop", shop.clientId],
    ]);
    await target.received(2);
    for (const id of ["direct-ok", "direct-key"]) assert.equal((await api.settled(id)).state, "processed");
    assert.equal(target.calls.length, 2, "the refused calls before ran no contract");
  });

  it("/event/send still works: the facade passes the key through", async () => {
    const before = target.calls.length;
    const sent = await api.send(shop.eventId, shopToken, { n: 1 });
    assert.deepEqual(sent.json, { code: 200000, message: "success" });
    const latest = await api.settled((await api.latest(shop.eventId)).id);
    assert.equal(latest.state, "processed");
    assert.equal(latest.clientId, shop.clientId);
    assert.equal(latest.headers["access-key"], undefined);
    await target.received(before + 1);
    const refusedSend = await api.send(shop.eventId, otherToken, { n: 2 });
    assert.equal(refusedSend.json.code, 401202);
    assert.equal((await received(shop.eventId)).length, 3);
  });

  it("an eventhos client reads its own received events and executions, never another client's", async () => {
    // Something of each client in the log.
    await unary(eventhos.delivery, "receiveEvent", { msgId: "own-other", eventId: other.eventId, accessKey: otherToken });
    const asShop = eventhosGrpc(h.grpcPort, shopToken);
    try {
      const listed = (await unary(asShop.delivery, "listReceivedEvents", {})).receivedEvents as any[];
      assert.ok(listed.length > 0);
      assert.deepEqual([...new Set(listed.map((r) => r.clientId))], [shop.clientId], "only its own");
      const own = await unary(asShop.delivery, "getReceivedEvent", { id: "direct-ok" });
      assert.equal(own.receivedEvent.clientId, shop.clientId);
      const execution = own.executions[0].id as string;
      assert.equal((await unary(asShop.delivery, "getExecution", { id: execution })).execution.id, execution);
      for (const [method, request] of [
        ["getReceivedEvent", { id: "own-other" }],
        ["listReceivedEvents", { eventId: other.eventId }],
      ] as const) {
        if (method === "listReceivedEvents") {
          assert.deepEqual((await unary(asShop.delivery, method, request)).receivedEvents, [], "another client's events are not listed");
          continue;
        }
        const err = await rejection(unary(asShop.delivery, method, request));
        assert.equal(err.code, grpc.status.NOT_FOUND, "another client's record is simply not found");
      }
      const asOther = eventhosGrpc(h.grpcPort, otherToken);
      try {
        const err = await rejection(unary(asOther.delivery, "getExecution", { id: execution }));
        assert.equal(err.code, grpc.status.NOT_FOUND);
        const retry = await rejection(unary(asOther.delivery, "retryExecution", { id: execution }));
        assert.equal(retry.code, grpc.status.NOT_FOUND);
      } finally {
        asOther.close();
      }
      // The management side stays admin-only for a client key.
      const err = await rejection(unary(asShop.delivery, "listActions", {}));
      assert.equal(err.code, grpc.status.PERMISSION_DENIED);
    } finally {
      asShop.close();
    }
  });
});

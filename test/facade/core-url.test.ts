import { strict as assert } from "node:assert";
import { startTestHerald, watchersLive, type TestHerald } from "../support/herald.js";
import { unary, Watch } from "../support/grpc-client.js";
import { XmsStream } from "../support/xms-client.js";
import { eventPushDocument } from "../support/contract-docs.js";
import { get, http, JSON_TYPE, post, XML } from "../support/http.js";
import { typesAndResources } from "../support/event-types.js";
import { startFacadeServer, type FacadeServer } from "../../server/start-facade.js";
import { silentLogger } from "../../core/logger.js";

/** `--core-url`: the same facade in its own server, reaching the core over real gRPC. */
describe("facade apart from the core (--core-url)", () => {
  let core: TestHerald;
  let facade: FacadeServer;
  const doc = eventPushDocument("vpns");
  const url = (path: string) => `http://127.0.0.1:${facade.httpPort}${path}`;

  before(async () => {
    core = await startTestHerald({ server: { seedFile: "examples/seed.yaml" } });
    facade = await startFacadeServer(
      { server: { host: "127.0.0.1", httpPort: 0, coreUrl: `http://127.0.0.1:${core.grpcPort}` } },
      silentLogger,
    );
  });
  after(async () => {
    await facade.close();
    await core.stop();
  });

  it("queues the sample, and the core's watcher receives it", async () => {
    const watch = new Watch(core.clients.hub, { appId: "demo" });
    await watchersLive(core);
    const reply = await post(url("/vpns/service/eventpushmessage"), doc.jsonRequest, JSON_TYPE);
    assert.equal(reply.status, 200, reply.body);
    await watch.received(1);
    assert.equal(String(JSON.parse(reply.body).messageResponse.messages[0].msgId), watch.events[0]!.msgId);
    watch.cancel();
  });

  it("maps the core's reasons, carried over gRPC, to the legacy codes", async () => {
    const reply = (id: string) =>
      post(url("/vpns/service/eventpushmessage"), doc.xmlRequest.replace("<eventid>1</eventid>", `<eventid>${id}</eventid>`), XML);
    const unknown = await reply("999");
    assert.equal(unknown.status, 406);
    assert.match(unknown.body, /<description>Invalid Volt MX Event ID. <\/description>/);
    assert.equal((await reply("2")).status, 407);
  });

  it("subscribes and reads a push status through the remote core", async () => {
    const sub = await post(
      url("/kpns/subscription"),
      JSON.stringify({ subscriptionService: { subscribe: { appId: "demo", deviceId: "remote-1", sid: "s", osType: "webfcm" } } }),
      JSON_TYPE,
    );
    assert.equal(sub.status, 200, sub.body);
    const ksid = JSON.parse(sub.body).subscriptionResponse.ksid as string;
    const push = await post(
      url("/kpns/api/v1/messages/push"),
      JSON.stringify({
        messageRequest: { appId: "demo", messages: { message: { subscribers: { subscriber: { ksid } }, content: { data: "hi" } } } },
      }),
      JSON_TYPE,
    );
    const requestId = JSON.parse(push.body).messageResponse.requestId as string;
    const status = await get(url(`/kpns/api/v1/status/push/request/${requestId}`));
    assert.equal(status.status, 200, status.body);
    assert.equal(JSON.parse(status.body).messages[0].ksid, ksid);
  });

  it("serves XMS eventhandlers: create, a held stream over the core's gRPC WatchEvents, PUT, DELETE ending it", async () => {
    const created = await post(
      url("/eventhandlers?appid=demo"),
      '<web_service version="1.0"><eventhandler><eventsubscribe type="ringing"/></eventhandler></web_service>',
      "application/xml",
    );
    assert.equal(created.status, 201, created.body);
    const id = /identifier="([^"]+)"/.exec(created.body)![1]!;
    const stream = await XmsStream.open(url(`/default/eventhandlers/${id}?appid=demo`));
    try {
      assert.equal(stream.status, 200);
      await unary(core.clients.hub, "sendEvent", { appId: "demo", eventId: "1", type: "hangup" });
      await unary(core.clients.hub, "sendEvent", { appId: "demo", eventId: "1", type: "ringing", resourceId: "r1" });
      await stream.received(1);
      const put = await http(
        url(`/eventhandlers/${id}?appid=demo`),
        "PUT",
        '<web_service version="1.0"><eventhandler><eventsubscribe type="hangup"/></eventhandler></web_service>',
        { "content-type": "application/xml" },
      );
      assert.equal(put.status, 200, put.body);
      await unary(core.clients.hub, "sendEvent", { appId: "demo", eventId: "1", type: "hangup", resourceId: "h1" });
      await stream.received(2);
      assert.equal((await http(url(`/eventhandlers/${id}?appid=demo`), "DELETE")).status, 204);
      await stream.ended;
      assert.deepEqual(typesAndResources(stream.realEvents), [
        ["ringing", "r1"],
        ["hangup", "h1"],
      ]);
    } finally {
      stream.close();
    }
  });

  it("answers 500 in the contract's shape when the core is unreachable", async () => {
    const orphan = await startFacadeServer({ server: { host: "127.0.0.1", httpPort: 0, coreUrl: "http://127.0.0.1:1" } }, silentLogger);
    try {
      const reply = await post(`http://127.0.0.1:${orphan.httpPort}/kpns/service/eventpushmessage`, doc.jsonRequest, JSON_TYPE);
      assert.equal(reply.status, 500);
      assert.deepEqual(JSON.parse(reply.body), { "500": "Server failed to process the request." });
    } finally {
      await orphan.close();
    }
  });
});

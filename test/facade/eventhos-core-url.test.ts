import { strict as assert } from "node:assert";
import { startTestHerald, type TestHerald } from "../support/herald.js";
import { startFacadeServer, type FacadeServer } from "../../server/start-facade.js";
import { silentLogger } from "../../core/logger.js";
import { failFirst, Target } from "../support/target.js";
import { ADMIN_TOKEN, EventhosApi } from "../support/eventhos.js";

/** `--core-url`: the eventhos surface in a facade of its own, the core's RPCs over real gRPC. */
describe("eventhos facade apart from the core (--core-url)", () => {
  let core: TestHerald;
  let facade: FacadeServer;
  let target: Target;

  before(async () => {
    core = await startTestHerald({
      auth: { adminKey: ADMIN_TOKEN },
      eventhos: { allowHosts: "127.0.0.1", backoffBaseMs: 10, backoffMaxMs: 20 },
    });
    facade = await startFacadeServer(
      { server: { host: "127.0.0.1", httpPort: 0, coreUrl: `http://127.0.0.1:${core.grpcPort}` }, auth: { coreKey: ADMIN_TOKEN } },
      silentLogger,
    );
    target = await Target.start(failFirst(1));
  });
  after(async () => {
    await facade.close();
    await core.stop();
    await target.close();
  });

  it("registers, sends, delivers with a retry and reads the log through the remote core", async () => {
    const api = new EventhosApi(facade.httpPort);
    const p = await api.producer("remote");
    await api.contract("remote-hook", p.eventId, p.consumer, target.url());
    const sent = await api.send(p.eventId, await api.token(p.clientId, p.secret), { via: "grpc" });
    assert.deepEqual(sent.json, { code: 200000, message: "success" });
    const received = await api.settled((await api.latest(p.eventId)).id);
    assert.equal(received.state, "processed");
    assert.deepEqual(
      received.executions[0].attempts.map((a: any) => a.outcome),
      ["failure", "success"],
    );
    assert.deepEqual(JSON.parse(target.calls[1]!.body), { via: "grpc" });
  });
});

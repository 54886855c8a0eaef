import { strict as assert } from "node:assert";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import Koa from "koa";
import { Code } from "@connectrpc/connect";
import { silentLogger } from "../../core/logger.js";
import { heraldError } from "../../core/rpc/errors.js";
import { eventhosRouter } from "../../facade/eventhos/routes.js";
import { http } from "../support/http.js";

/**
 * /event/send authorizes before publishing, and ReceiveEvent checks the same key again: a key that
 * stops working in between (revoked, client deleted) fails after the publish, which a 4xx must not
 * hide ("nothing is written for a 4xx").
 */
describe("eventhos /event/send: the key is checked before publishing and again when recording", () => {
  const calls: string[] = [];
  let receiveError: Error | undefined;
  let server: ReturnType<Koa["listen"]>;
  let url: string;

  before(async () => {
    const deps = {
      clients: {
        authorize: async (req: { accessKey: string; eventId: string }) => {
          calls.push(`authorize ${req.accessKey}`);
          if (req.accessKey !== "good") throw heraldError(Code.Unauthenticated, "UNAUTHENTICATED", "invalid or expired token");
          return { clientId: "c", appId: "a", eventId: req.eventId };
        },
      },
      hub: {
        sendEvent: async () => {
          calls.push("publish");
          return { msgId: "m1" };
        },
      },
      delivery: {
        receiveEvent: async (req: { accessKey: string }) => {
          calls.push(`receive ${req.accessKey}`);
          if (receiveError) throw receiveError;
          return { receivedId: "m1", contracts: 1 };
        },
      },
      registry: {},
      adminToken: undefined,
      successCode: 200000,
      logger: silentLogger,
      limits: { maxBodyBytes: 4096, maxBodyDepth: 32 },
    } as unknown as Parameters<typeof eventhosRouter>[0];
    const app = new Koa();
    app.use(eventhosRouter(deps).routes());
    server = app.listen(0, "127.0.0.1");
    await once(server, "listening");
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/event/send?event-identifier=e1`;
  });
  after(() => server.close());
  beforeEach(() => {
    calls.length = 0;
    receiveError = undefined;
  });

  const send = async (key: string) =>
    JSON.parse((await http(url, "POST", "{}", { "content-type": "application/json", "access-key": key })).body) as { code: number };

  it("passes the access key to ReceiveEvent", async () => {
    assert.equal((await send("good")).code, 200000);
    assert.deepEqual(calls, ["authorize good", "publish", "receive good"]);
  });

  it("publishes nothing for a bad key", async () => {
    assert.equal((await send("bad")).code, 401202);
    assert.deepEqual(calls, ["authorize bad"]);
  });

  it("answers 500000, not 401202, when the key stops working between publishing and recording", async () => {
    receiveError = heraldError(Code.Unauthenticated, "UNAUTHENTICATED", "unknown or revoked key");
    assert.equal((await send("good")).code, 500000);
    assert.deepEqual(calls, ["authorize good", "publish", "receive good"]);
  });
});

import { strict as assert } from "node:assert";
import { startTestHerald, registerApp, type TestHerald } from "../support/herald.js";
import { unary } from "../support/grpc-client.js";
import { XmsStream } from "../support/xms-client.js";
import { post } from "../support/http.js";
import { RawConnection } from "../support/raw-connection.js";

const healthz = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";

describe("HTTP port: request timeouts and connection cap", () => {
  const requestTimeoutMs = 600;
  let h: TestHerald;
  const raw: RawConnection[] = [];
  const dial = (port = h.httpPort) => {
    const c = new RawConnection(port);
    raw.push(c);
    return c;
  };
  before(async () => {
    h = await startTestHerald({
      server: { seedFile: "examples/seed.yaml" },
      limits: { httpRequestTimeoutMs: requestTimeoutMs, httpHeadersTimeoutMs: 300, maxHttpConnections: 5 },
    });
  });
  afterEach(() => {
    for (const c of raw.splice(0)) c.socket.destroy();
  });
  after(() => h.stop());

  it("closes a connection whose body stops arriving, within the request timeout", async () => {
    const c = await dial().ready();
    c.write("POST /kpns/service/eventpushmessage HTTP/1.1\r\nHost: t\r\nContent-Type: text/xml\r\nContent-Length: 1000\r\n\r\n<event>");
    const ms = await c.closed;
    assert.match(c.received, /^HTTP\/1\.1 408/, "answered Request Timeout");
    assert.ok(ms < requestTimeoutMs + 1000, `closed after ${ms} ms`);
  });

  it("closes a connection whose body trickles, a byte at a time, within the request timeout", async () => {
    const c = await dial().ready();
    c.write("POST /event/send?event-identifier=x HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n");
    const trickle = setInterval(() => c.write(" "), 20);
    try {
      const ms = await c.closed;
      assert.ok(ms < requestTimeoutMs + 1000, `closed after ${ms} ms`);
    } finally {
      clearInterval(trickle);
    }
  });

  it("closes a connection whose headers stop arriving, within the headers timeout (shorter than the request timeout)", async () => {
    const quick = await startTestHerald({ limits: { httpRequestTimeoutMs: 60_000, httpHeadersTimeoutMs: 300 } });
    try {
      const c = await dial(quick.httpPort).ready();
      c.write("GET /healthz HTTP/1.1\r\nHost: t\r\n");
      const ms = await c.closed;
      assert.ok(ms < 5_000, `closed after ${ms} ms`);
    } finally {
      await quick.stop();
    }
  });

  it("keeps an XMS event stream open past the request timeout, while a slow sender beside it is cut", async () => {
    await registerApp(h, "long");
    const base = `http://127.0.0.1:${h.httpPort}`;
    const created = await post(
      `${base}/eventhandlers?appid=long`,
      '<web_service version="1.0"><eventhandler><eventsubscribe/></eventhandler></web_service>',
      "application/xml",
    );
    assert.equal(created.status, 201, created.body);
    const id = /identifier="([^"]+)"/.exec(created.body)![1]!;
    const stream = await XmsStream.open(`${base}/default/eventhandlers/${id}?appid=long`);
    try {
      assert.equal(stream.status, 200);
      // Opened after the stream: once it is cut, the stream has been open longer than the timeout.
      const slow = await dial().ready();
      slow.write("PUT /eventhandlers/x?appid=long HTTP/1.1\r\nHost: t\r\nContent-Type: application/xml\r\nContent-Length: 500\r\n\r\n<web");
      await slow.closed;
      await unary(h.clients.hub, "sendEvent", {
        appId: "long",
        eventId: "long-e",
        type: "ringing",
        resourceType: "call",
        resourceId: "c1",
      });
      await stream.received(1);
      assert.equal(stream.realEvents[0]?.type, "ringing");
    } finally {
      stream.close();
    }
  });

  it("closes connections past --max-http-connections at once; those open keep working", async () => {
    const held = await Promise.all([1, 2, 3, 4, 5].map(() => dial().ready()));
    for (const c of held) {
      c.write(healthz);
      assert.match(await c.response(), /^HTTP\/1\.1 200/);
      c.received = "";
    }
    const extra = dial();
    extra.write(healthz);
    await extra.closed;
    assert.equal(extra.received, "", "no answer past the cap");
    held[0]!.write(healthz);
    assert.match(await held[0]!.response(), /^HTTP\/1\.1 200/);
  });
});

describe("gRPC port: connection cap", () => {
  let h: TestHerald;
  const raw: RawConnection[] = [];
  before(async () => {
    h = await startTestHerald({ server: { seedFile: "examples/seed.yaml" }, limits: { maxGrpcConnections: 2 } });
  });
  after(async () => {
    for (const c of raw) c.socket.destroy();
    await h.stop();
  });

  it("closes connections past --max-grpc-connections at once; calls on those open keep working", async () => {
    await unary(h.clients.registry, "getApp", { id: "demo" }); // the test client's connection: 1
    const second = new RawConnection(h.grpcPort);
    raw.push(second);
    await second.ready();
    const third = new RawConnection(h.grpcPort);
    raw.push(third);
    await third.closed;
    assert.equal(third.received, "");
    const app = await unary(h.clients.registry, "getApp", { id: "demo" });
    assert.equal(app.app.id, "demo");
  });
});

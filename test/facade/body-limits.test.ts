import { strict as assert } from "node:assert";
import { scanJson, scanXml, type BodyScan } from "../../facade/body-scan.js";
import { checkJsonValue } from "../../facade/plain.js";
import { FormatError } from "../../facade/format-error.js";
import { startTestHerald, type TestHerald } from "../support/herald.js";
import { ADMIN_TOKEN, EventhosApi } from "../support/eventhos.js";
import { RawConnection } from "../support/raw-connection.js";
import { http } from "../support/http.js";

/** Feeds `text` to a fresh scan whole, then a character at a time (every chunk boundary): both must agree. */
function scans(make: () => BodyScan, text: string): boolean {
  const results = [[text], [...text]].map((chunks) => {
    const scan = make();
    try {
      for (const c of chunks) scan(c);
      return true;
    } catch (err) {
      assert.ok(err instanceof FormatError);
      return false;
    }
  });
  assert.equal(results[0], results[1], `whole and char by char disagree on ${text}`);
  return results[0]!;
}

const nest = (n: number) => "<a>".repeat(n) + "</a>".repeat(n);

describe("body pre-scans (pure)", () => {
  const xml = (text: string, maxDepth = 3, maxElements = 100) => scans(() => scanXml({ maxDepth, maxElements }), text);
  const json = (text: string, maxDepth = 3) => scans(() => scanJson(maxDepth), text);

  it("XML: refuses the first element past the depth or element limit, not one before", () => {
    assert.ok(xml(nest(3)));
    assert.ok(!xml(nest(4)));
    assert.ok(!xml("<a>".repeat(4)), "refused before the body is complete");
    assert.ok(xml(`<r>${"<a/>".repeat(99)}</r>`));
    assert.ok(!xml(`<r>${"<a/>".repeat(100)}</r>`));
    assert.ok(xml(`<r>${"<a></a>".repeat(99)}</r>`));
  });

  it("XML: does not count what only looks like markup: comments, CDATA, PIs, attribute values", () => {
    const tricky = [
      '<?xml version="1.0"?><!-- <a><a><a><a> --><r x="/>" y=\'>\'><a b="<c>"/><![CDATA[<a><a><a><a>]]></r>',
      "<r><!----><!-- a-b -><a><a> --><a><?pi <a><a><a> ?><b/></a></r>",
      "<r><![CDATA[a]]b]>c<a><a><a>]]]><a/></r>",
    ];
    for (const t of tricky) assert.ok(xml(t), t);
  });

  it("XML: refuses a DTD and more end tags than start tags at once", () => {
    assert.ok(!xml("<!DOCTYPE r><r/>"));
    assert.ok(!xml("</a><a><a>"));
  });

  it("JSON: counts objects and arrays, not brackets in strings", () => {
    assert.ok(json('{"a":[{"b":1}]}'));
    assert.ok(!json('{"a":[{"b":[]}]}'));
    assert.ok(!json("[[[["), "refused before the body is complete");
    assert.ok(json('["[[[[", "\\"[[[[", {"{{{{":"]]]]"}]'));
  });

  it("checkJsonValue refuses numbers JSON cannot carry and lone surrogates, in values and keys", () => {
    const refused = (text: string) => assert.throws(() => checkJsonValue(JSON.parse(text), 32), FormatError, text);
    refused('{"n":1e400}');
    refused("[-1e400]");
    refused('{"s":"\\ud800"}');
    refused('{"s":"x\\udfff"}');
    refused('{"\\ud800":1}');
    refused('{"deep":[{"s":"\\udc00\\ud800"}]}');
    assert.doesNotThrow(() => checkJsonValue(JSON.parse('{"ok":"\\ud83d\\ude00","n":1.7976931348623157e308}'), 32));
  });
});

/**
 * Sends the headers of a 1 MB body and only its first bytes: the answer must come before the rest
 * is sent, so the limit was applied while reading, not after.
 */
async function refusedEarly(
  port: number,
  path: string,
  type: string,
  start: string,
  headers = "",
): Promise<{ status: number; body: string }> {
  const c = new RawConnection(port);
  try {
    await c.ready();
    c.write(`POST ${path} HTTP/1.1\r\nHost: t\r\nContent-Type: ${type}\r\nContent-Length: 1000000\r\n${headers}\r\n${start}`);
    const r = await c.reply();
    assert.doesNotMatch(r.body, /\bat .*\.js:\d+/, "no stack trace");
    return r;
  } finally {
    c.socket.destroy();
  }
}

describe("facade bodies are refused while they are read", () => {
  let h: TestHerald;
  let api: EventhosApi;
  let token: string;
  let eventId: string;
  before(async () => {
    h = await startTestHerald({
      server: { seedFile: "examples/seed.yaml" },
      auth: { adminKey: ADMIN_TOKEN },
      eventhos: { tokenSecret: "a-token-secret-of-the-test-suite-0123456789" },
      limits: { maxBodyBytes: 2_000_000, maxBodyElements: 1000 },
    });
    api = new EventhosApi(h.httpPort);
    const p = await api.producer("abuse");
    eventId = p.eventId;
    token = await api.token(p.clientId, p.secret);
  });
  after(() => h.stop());

  // With access control on, the Kony and XMS routes check credentials first: open networks would
  // hide nothing here, so the admin key is the credential.
  const admin = `Authorization: Bearer ${ADMIN_TOKEN}\r\n`;

  it("Kony XML nested deeper than --max-body-depth: 400 in the contract's XML", async () => {
    const r = await refusedEarly(h.httpPort, "/kpns/service/eventpushmessage", "text/xml", "<event>" + "<a>".repeat(40), admin);
    assert.equal(r.status, 400);
    assert.match(r.body, /^<\?xml|^<response|<code>400<\/code>|code="400"/);
  });

  it("Kony XML with more than --max-body-elements elements: 400", async () => {
    const r = await refusedEarly(h.httpPort, "/vpns/service/eventpushmessage", "text/xml", "<event>" + "<a/>".repeat(1001), admin);
    assert.equal(r.status, 400);
  });

  it("Kony XML with more than --max-body-elements elements, sent whole in one chunk (no pre-scan): 400, nothing published", async () => {
    const subscribers = (n: number) => '<subscriber ksid="xxxx"/>'.repeat(n);
    // <event>, <eventid>, <message>, <subscribers>: 4 elements besides the subscribers.
    const doc = (n: number) => `<event><eventid>1</eventid><message><subscribers>${subscribers(n)}</subscribers></message></event>`;
    const headers = { "content-type": "text/xml", authorization: `Bearer ${ADMIN_TOKEN}` };
    const url = `http://127.0.0.1:${h.httpPort}/kpns/service/eventpushmessage`;
    const msgId = async () => {
      const r = await http(url, "POST", doc(996), headers);
      assert.equal(r.status, 200, r.body);
      return Number(/msgId="(\d+)"/.exec(r.body)?.[1]);
    };
    const before = await msgId();
    const over = await http(url, "POST", doc(997), headers);
    assert.equal(over.status, 400, over.body);
    assert.match(over.body, /<code>400<\/code>/);
    assert.equal(await msgId(), before + 1, "the refused body published nothing");
  });

  it("Kony JSON nested too deep: 400 in JSON", async () => {
    const r = await refusedEarly(h.httpPort, "/kpns/service/eventpushmessage", "application/json", '{"event":' + "[".repeat(40), admin);
    assert.equal(r.status, 400);
    assert.ok(JSON.parse(r.body));
  });

  it("XMS XML nested too deep: 400 in a web_service error", async () => {
    const r = await refusedEarly(h.httpPort, "/eventhandlers?appid=demo", "application/xml", "<web_service>" + "<a>".repeat(40), admin);
    assert.equal(r.status, 400);
    assert.match(r.body, /<web_service version="1.0">\n<error status="400" reason="XML nested deeper/);
  });

  it("eventhos JSON nested too deep: 400001", async () => {
    const r = await refusedEarly(
      h.httpPort,
      `/event/send?event-identifier=${eventId}`,
      "application/json",
      "[".repeat(40),
      `access-key: ${token}\r\n`,
    );
    assert.equal(r.status, 400);
    assert.deepEqual(JSON.parse(r.body), { code: 400001, message: "Body is not valid json" });
  });

  it("eventhos: a number out of range or a lone surrogate is 400001 and nothing is recorded", async () => {
    const before = (await api.admin("GET", `/event/received?event=${eventId}`)).length as number;
    for (const body of ['{"n":1e400}', '{"s":"\\ud800"}', '[{"\\udfff":1}]']) {
      const r = await api.send(eventId, token, body);
      assert.deepEqual(r.json, { code: 400001, message: "Body is not valid json" }, body);
    }
    assert.equal((await api.admin("GET", `/event/received?event=${eventId}`)).length, before);
  });

  it("Kony JSON: a number out of range is 400", async () => {
    const r = await api.call("POST", "/kpns/service/eventpushmessage", '{"event":{"eventid":1e400}}', {
      authorization: `Bearer ${ADMIN_TOKEN}`,
    });
    assert.equal(r.status, 400);
  });
});

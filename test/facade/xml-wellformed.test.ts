import { strict as assert } from "node:assert";
import { xml2js } from "xml-js";
import { parseXml } from "../../facade/xml.js";
import { FormatError } from "../../facade/format-error.js";
import { eventPushToSendEvent } from "../../facade/kpns/event-push.js";
import { messageRequestToSendPush } from "../../facade/kpns/message-push.js";
import { parseSubscription } from "../../facade/kpns/subscription.js";
import { parseEventHandlerRequest } from "../../facade/xms/documents.js";
import { contractText, difference, eventPushDocument, xmlShape } from "../support/contract-docs.js";
import { startTestHerald, watchersLive, type TestHerald } from "../support/herald.js";
import { Watch } from "../support/grpc-client.js";
import { post, XML } from "../support/http.js";

const limits = { maxDepth: 32 };
const xml = (s: string) => parseXml(s, limits);
const refused = (s: string, why = s) => assert.throws(() => xml(s), FormatError, `accepted: ${JSON.stringify(why)}`);

/**
 * The request payloads of the XMS document, as xms.test.ts sends them: the document prints their
 * indentation with no-break spaces, which are not XML white space (between attributes they make
 * the bytes as printed malformed, for xml-js too), so they are read as plain spaces.
 */
function xmsDocumentRequests(): string[] {
  const text = contractText("xms-eventhandlers.txt");
  return [...text.matchAll(/Request XML Payload\s*(<web_service[\s\S]*?<\/web_service>)/g)].map((m) => m[1]!.replace(/\u00a0/g, " "));
}

/** Every XML request body the tests send as a sample, with what it must read as (through its mapper). */
function samples(): Array<{ name: string; body: string; check: (doc: Record<string, unknown>) => void }> {
  const out: Array<{ name: string; body: string; check: (doc: Record<string, unknown>) => void }> = [];
  for (const wording of ["kpns", "vpns"] as const) {
    out.push({
      name: `${wording}-eventpushmessage.txt sample`,
      body: eventPushDocument(wording).xmlRequest,
      check: (doc) => assert.equal(eventPushToSendEvent(doc).subscribers?.length, 1),
    });
  }
  const xms = xmsDocumentRequests();
  assert.equal(xms.length, 2, "the XMS document holds a POST and a PUT payload");
  for (const [i, body] of xms.entries()) {
    out.push({
      name: `xms-eventhandlers.txt ${i === 0 ? "POST" : "PUT"} payload`,
      body,
      check: (doc) => assert.equal(parseEventHandlerRequest(doc).length, 1),
    });
  }
  // As test/facade/kpns-surface.test.ts and kpns-mapping.test.ts send them.
  out.push({
    name: "subscriptionService subscribe",
    body:
      `<?xml version='1.0' encoding='UTF-8'?>\n<subscriptionService>\n<subscribe>\n<appId>demo</appId>\n<deviceId>dev-1</deviceId>\n` +
      `<ufid>bob@example.com</ufid>\n<sid>sid-dev-1</sid>\n<osType>androidgcm</osType>\n<!-- enable authToken if you want to enable security -->\n` +
      `<authToken>t</authToken>\n</subscribe>\n</subscriptionService>`,
    check: (doc) => assert.equal(parseSubscription(doc).kind, "subscribe"),
  });
  out.push({
    name: "subscriptionService unsubscribe",
    body: `<subscriptionService><unsubscribe><ksid>k-1</ksid><appId>demo</appId><deviceId>dev-un-1</deviceId></unsubscribe></subscriptionService>`,
    check: (doc) => assert.equal(parseSubscription(doc).kind, "unsubscribe"),
  });
  out.push({
    name: "messageRequest push",
    body:
      `<?xml version="1.0" encoding="utf-8"?>\n<messageRequest appId="demo">\n<global>\n<subscribers/>\n<platformSpecificProps/>\n</global>\n<messages>\n` +
      `<message expiryTimestamp="0" overrideMessageId="0" refId="" startTimestamp="0" type="PUSH">\n<subscribers>\n` +
      `<subscriber ksid="xxxx"/>\n<subscriber deviceId="no-such-device"/>\n</subscribers>\n<content>\n<mimeType>text/plain</mimeType>\n` +
      `<priorityService>true</priorityService>\n<data>Your parcel is on its way</data>\n</content>\n</message>\n</messages>\n</messageRequest>`,
    check: (doc) => assert.equal(messageRequestToSendPush(doc)[0]?.subscribers?.length, 2),
  });
  out.push({
    name: "eventpushmessage with name pairs as attributes",
    body:
      `<event><eventid>7</eventid><eventNamePairs><key name="lastname" content="Smith"/><key name="order" content="42"/></eventNamePairs>` +
      `<message><content><priorityService>TRUE</priorityService></content></message></event>`,
    check: (doc) => assert.equal(eventPushToSendEvent(doc).namePairs?.length, 2),
  });
  out.push({
    name: "eventpushmessage with name pairs as elements",
    body:
      `<event><eventid>7</eventid><eventNamePairs><key><name>lastname</name><content>Smith</content></key>` +
      `<key><name>order</name><content>42</content></key></eventNamePairs><message><content><priorityService>true</priorityService></content></message></event>`,
    check: (doc) => assert.equal(eventPushToSendEvent(doc).namePairs?.length, 2),
  });
  return out;
}

/** Every proper prefix of `body`'s UTF-8 bytes (a cut inside a character decodes to U+FFFD). */
function* truncations(body: string): Generator<string> {
  const bytes = Buffer.from(body, "utf8");
  for (let n = 0; n < bytes.length; n++) yield bytes.subarray(0, n).toString("utf8");
}

describe("XML well-formedness (parseXml, no server)", () => {
  for (const { name, body, check } of samples()) {
    it(`${name}: read whole; refused truncated at every byte`, () => {
      check(xml(body));
      let cuts = 0;
      for (const cut of truncations(body)) {
        refused(cut);
        cuts++;
      }
      assert.equal(cuts, Buffer.byteLength(body));
    });
  }

  it("refuses unclosed elements, whatever follows", () => {
    refused("<event><eventid>1</eventid><message>");
    refused("<event><eventid>1</eventid><message><subscribers><subscriber ksid='a'/>");
    refused("<a><b>");
    refused("<a><b/>");
    refused("<a");
    refused("<a x='1'");
    refused("<a></a");
    refused("<a><!-- never closed </a>");
    refused("<a><![CDATA[never closed</a>");
    refused("<a><?pi never closed</a>");
    refused("<a x='never closed/>");
  });

  it("refuses mismatched tags", () => {
    refused("<a></b>");
    refused("<a><b></a></b>");
    refused("<event><eventid>1</eventId></event>");
    refused("<a><b></c></a>");
    refused("</a>");
    refused("<a></a></a>");
  });

  it("refuses anything but one root element", () => {
    refused("<a/><b/>");
    refused("<a></a><a></a>");
    refused("<a/>text");
    refused("text<a/>");
    refused("<a/>&amp;");
    refused("<?xml version='1.0'?>");
    refused("<!-- only a comment -->");
    refused("");
  });

  it("refuses bad references", () => {
    refused("<a>&foo;</a>");
    refused("<a>&#xZZ;</a>");
    refused("<a>&#12a;</a>");
    refused("<a>&#0;</a>");
    refused("<a>&#x110000;</a>");
    refused("<a>&amp</a>");
    refused("<a>& b</a>");
    refused("<a>&;</a>");
    refused("<a x='&foo;'/>");
    refused("<a x='&#xZZ;'/>");
    refused("<a x='a & b'/>");
  });

  it("refuses the rest of what is not well-formed", () => {
    refused("<a x=1/>", "an unquoted attribute");
    refused("<a x/>", "an attribute without a value");
    refused("<a x='1' x='2'/>", "a repeated attribute");
    refused("<a x='<'/>", "< in an attribute");
    refused("<1a/>", "a name starting with a digit");
    refused("<a>\u0001</a>", "a control character");
    refused("<a>]]></a>", "]]> in text");
    refused("<a><!-- a -- b --></a>", "-- in a comment");
    refused("x<?xml version='1.0'?><a/>", "a declaration after text");
    refused("<a/><?xml version='1.0'?>", "a declaration after the root");
  });

  it("forgives white space (and a byte order mark) before the declaration, as templated clients send it", () => {
    for (const head of [" ", "\n", "\r\n  ", "\uFEFF", "\uFEFF\n"]) {
      assert.deepEqual(xml(`${head}<?xml version="1.0" encoding="UTF-8"?>\n<a><b>1</b></a>`), { a: { b: "1" } }, JSON.stringify(head));
    }
  });

  it("reads elements named _… as ordinary elements, attributes named _… as ordinary attributes", () => {
    assert.deepEqual(
      xml(
        `<a><_text>x</_text><_attributes k="v"/><_cdata>y</_cdata><_comment>c</_comment><_instruction/><_doctype>d</_doctype><_x _y="1"/></a>`,
      ),
      { a: { _text: "x", _attributes: { k: "v" }, _cdata: "y", _comment: "c", _instruction: "", _doctype: "d", _x: { _y: "1" } } },
    );
    assert.deepEqual(xml("<_cdata><_text>1</_text><_text>2</_text></_cdata>"), { _cdata: { _text: ["1", "2"] } });
    refused("<_cdata>1<b/></_cdata>", "mixed content under a _ name");
  });

  it("reads CDATA as text, alone or with text around it, entities unexpanded inside", () => {
    assert.deepEqual(xml("<a><b><![CDATA[<x> & y]]></b></a>"), { a: { b: "<x> & y" } });
    assert.deepEqual(xml("<a><b>1<![CDATA[2]]>3</b></a>"), { a: { b: "123" } });
    assert.deepEqual(xml("<a><b><![CDATA[&amp;]]></b><c><![CDATA[]]></c></a>"), { a: { b: "&amp;", c: "" } });
    assert.deepEqual(xml("<a>\n  <![CDATA[ padded ]]>\n</a>"), { a: "padded" });
    refused("<a><![CDATA[x]]><b/></a>", "CDATA beside an element is mixed content");
  });

  it("expands the predefined and character references", () => {
    assert.deepEqual(xml(`<a x="&lt;&#x41;&quot;"><b>&amp;&#65;&gt;&apos;</b></a>`), { a: { x: '<A"', b: "&A>'" } });
  });

  it("reads an element named __proto__ as an own field, which the mappers then refuse as unknown", () => {
    const doc = xml("<event><eventid>1</eventid><__proto__><x>1</x></__proto__></event>");
    const event = doc["event"] as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(event), Object.prototype);
    assert.deepEqual(Object.keys(event), ["eventid", "__proto__"]);
    assert.throws(() => eventPushToSendEvent(doc), FormatError);
  });

  it("refuses a document nested far deeper than any limit, without overflowing", () => {
    for (const n of [33, 1000, 100_000]) refused("<a>".repeat(n) + "</a>".repeat(n), `${n} deep`);
  });
});

describe("XML well-formedness through the HTTP route", () => {
  let h: TestHerald;
  const doc = eventPushDocument("kpns");
  const url = () => `http://127.0.0.1:${h.httpPort}/kpns/service/eventpushmessage`;

  before(async () => {
    h = await startTestHerald({ server: { seedFile: "examples/seed.yaml" } });
  });
  after(() => h.stop());

  it("answers a truncated eventpushmessage (and every prefix of the sample) 400, and publishes nothing", async () => {
    const watch = new Watch(h.clients.hub, { appId: "demo" });
    await watchersLive(h);
    const invalid = xmlShape(doc.xmlResponses[2]!);
    for (const body of ["<event><eventid>1</eventid><message>", ...truncations(doc.xmlRequest)]) {
      const reply = await post(url(), body, XML);
      assert.equal(reply.status, 400, `${JSON.stringify(body)} → ${reply.body}`);
      assert.equal(reply.contentType, XML);
      assert.equal(difference(xml2js(reply.body, { compact: true }), invalid), undefined, reply.body);
    }
    // History order is delivery order: had a refused body been published, it would arrive first.
    const ok = await post(url(), doc.xmlRequest, XML);
    assert.equal(ok.status, 200, ok.body);
    await watch.received(1);
    assert.equal(watch.events[0]!.msgId, /msgId="(\d+)"/.exec(ok.body)?.[1]);
    watch.cancel();
  });
});

import { strict as assert } from "node:assert";
import { escapeXml, parseXml } from "../../facade/xml.js";
import { FormatError } from "../../facade/format-error.js";

const xml = (s: string, maxDepth = 4) => parseXml(s, { maxDepth });
const refusedWith = (s: string, message: RegExp, maxDepth = 4) =>
  assert.throws(
    () => xml(s, maxDepth),
    (err: unknown) => err instanceof FormatError && message.test(err.message),
    s,
  );

/** facade/xml.ts on its own: the plain shape it reads and why it refuses, in its own words. */
describe("parseXml and escapeXml", () => {
  it("reads text (trimmed), empty elements, attributes and repeats into the plain shape", () => {
    assert.deepEqual(xml(`<a>  x  </a>`), { a: "x" });
    assert.deepEqual(xml(`<a></a>`), { a: "" });
    assert.deepEqual(xml(`<a k="v"/>`), { a: { k: "v" } });
    assert.deepEqual(xml(`<a k="v">  <b>1</b>\n</a>`), { a: { k: "v", b: "1" } });
    assert.deepEqual(xml(`<a><b>1</b><c/><b>2</b><b>3</b></a>`), { a: { b: ["1", "2", "3"], c: "" } });
    assert.deepEqual(xml(`<a><b><c>1</c></b><b><c>2</c></b></a>`), { a: { b: [{ c: "1" }, { c: "2" }] } });
    assert.deepEqual(xml(`<!-- c --><?pi x?><a><!-- c --><b>1</b><?pi?></a><!-- after -->`), { a: { b: "1" } });
    assert.deepEqual(xml(`\n \uFEFF<?xml version="1.0"?><a>1</a>`), { a: "1" }, "white space before the declaration forgiven");
  });

  it("says why it refuses: a DTD (in any case), what is not well-formed, depth, a name both attribute and element, mixed content", () => {
    refusedWith(`<!doctype a><a/>`, /^DOCTYPE and entity declarations are not accepted$/);
    refusedWith(`<a><!ENTITY x "y"></a>`, /^DOCTYPE and entity declarations are not accepted$/);
    refusedWith(`<a><b></a>`, /^malformed XML: \S.*$/);
    // Exactly maxDepth elements deep is read; one more is refused.
    assert.deepEqual(xml(`<a><b><c><d>1</d></c></b></a>`), { a: { b: { c: { d: "1" } } } });
    refusedWith(`<a><b><c><d><e>1</e></d></c></b></a>`, /^XML nested deeper than 4 elements$/);
    refusedWith(`<a x="1"><y/><x>2</x></a>`, /^"x" is both an attribute and an element$/);
    refusedWith(`<a>t<b/></a>`, /^mixed text and elements are not accepted$/);
    // Exactly maxElements elements are read; one more is refused (the limit a body whole in one chunk
    // meets here, where its pre-scan is skipped).
    const many = (n: number) => `<r>${"<a/>".repeat(n - 1)}</r>`;
    assert.deepEqual(parseXml(many(5), { maxDepth: 4, maxElements: 5 }), { r: { a: ["", "", "", ""] } });
    assert.throws(
      () => parseXml(many(6), { maxDepth: 4, maxElements: 5 }),
      (err: unknown) => err instanceof FormatError && /^XML has more than 5 elements$/.test(err.message),
    );
    assert.throws(
      () => parseXml(`${many(3)}${many(3)}`, { maxDepth: 4, maxElements: 5 }),
      FormatError,
      "counted per document, not per root",
    );
    // Read without recursion: however deep, refused at the first element past the limit.
    refusedWith(`${"<a>".repeat(20_000)}${"</a>".repeat(20_000)}`, /^XML nested deeper than 9 elements$/, 9);
  });

  it("reads a good document right after refusing a bad one, whatever state the bad one left", () => {
    const bad = [
      `<a><b></a>`,
      `<a x="1"><x/></a>`,
      `<a>t<b/></a>`,
      `<a>&nope;</a>`,
      `<a><b><c><d><e/></d></c></b></a>`,
      `<a>`,
      `<!DOCTYPE a><a/>`,
    ];
    for (const b of bad) {
      assert.throws(() => xml(b), FormatError, b);
      assert.deepEqual(xml(`<r k="v"><b>1</b><b>2</b></r>`), { r: { k: "v", b: ["1", "2"] } }, `after ${b}`);
    }
  });

  it("forgives white space only before the declaration, never inside the document", () => {
    assert.deepEqual(xml(`<a>x <?xml-stylesheet href="s"?>y</a>`), { a: "x y" });
    assert.deepEqual(xml(`<a>x\n<?xml-x?> y</a>`), { a: "x\n y" });
  });

  it("says what is malformed in the parser's words, without a position", () => {
    refusedWith(`<a><b></a>`, /^malformed XML: unexpected close tag\.$/);
    refusedWith(`<a>&nope;</a>`, /^malformed XML: undefined entity\.$/);
  });

  it("keeps an element named __proto__ as a plain own property, repeated ones as its list", () => {
    const doc = xml(`<a><__proto__>1</__proto__><__proto__>2</__proto__><b>3</b></a>`);
    assert.deepEqual(doc, JSON.parse(`{"a":{"__proto__":["1","2"],"b":"3"}}`));
    assert.equal(Object.getPrototypeOf(doc["a"]), Object.prototype, "no prototype set");
    assert.deepEqual(Object.keys(doc["a"] as object), ["__proto__", "b"]);
  });

  it("escapes the five XML specials, and nothing else", () => {
    assert.equal(escapeXml(`a&b<c>d"e'f`), "a&amp;b&lt;c&gt;d&quot;e&apos;f");
    assert.equal(escapeXml("plain é text"), "plain é text");
    assert.equal(escapeXml("&&"), "&amp;&amp;");
  });
});

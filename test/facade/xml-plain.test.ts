import { strict as assert } from "node:assert";
import { parseXml, parseXmlWithSaxes, readPlainXml } from "../../facade/xml.js";
import { eventPushDocument } from "../support/contract-docs.js";

/**
 * readPlainXml reads the plain shape of XML without saxes; saxes stays the judge. Held here to
 * saxes's reading: whatever it accepts, saxes accepts with the same values; whatever saxes refuses,
 * it gives up on (and parseXml answers saxes's error). Documents: the samples, generated ones
 * (names, attributes, text and prologs inside and outside the plain shape) and single-character
 * mutations and truncations of them. Seeded: a failure names its document and repeats.
 */
const limits = { maxDepth: 8, maxElements: 40 };

function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NAMES = ["a", "b", "event", "_x", "a.b", "a-b", "x1", "key", "ns:a", "é", "A", "__proto__", "xml"];
const TEXTS = [
  "",
  " ",
  "\n  ",
  "\t",
  "x",
  "a b",
  "  y  ",
  ">",
  "'",
  '"',
  "é",
  "\u00a0z\u00a0",
  "&amp;",
  "&#65;",
  "&bogus;",
  "<![CDATA[c]]>",
  "]]>",
  "\r\n",
  "😀",
  "\u0001",
  "\uFFFE",
  "<!-- c -->",
  "<?pi x?>",
];
const VALUES = ["", "v", "a b", "1", ">", "'", '"', "é", "\t", "\n", "&amp;", "<", "x\ry", "]]>"];
const PROLOGS = [
  "",
  "\n",
  "<?xml version='1.0' encoding='UTF-8'?>\n",
  '<?xml version="1.0"?>',
  '<?xml version = "1.0" standalone="yes" ?>',
  '<?xml version="1.1"?>',
  '<?xml encoding="UTF-8" version="1.0"?>',
  '<?xml version="1.0" encoding="8bit"?>',
  '<?xml version="1.0" standalone="maybe"?>',
  "<?xml version='1.0' standalone='maybe'?>",
  "<?xml version='1.0' encoding=''?>",
  "<!-- before -->",
  "x",
  "\uFEFF",
];
const EPILOGS = ["", "\n", "  \n", "<!-- after -->", "x", "<b/>", "<?pi?>"];

function generate(next: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const element = (depth: number): string => {
    const name = next() < 0.8 ? pick(NAMES.slice(0, 8)) : pick(NAMES);
    let attrs = "";
    const count = next() < 0.6 ? 0 : Math.floor(next() * 3) + 1;
    for (let i = 0; i < count; i++) {
      const q = next() < 0.5 ? '"' : "'";
      const value = next() < 0.8 ? pick(VALUES.slice(0, 8)) : pick(VALUES);
      attrs += `${next() < 0.9 ? " " : "\n"}${next() < 0.8 ? pick(NAMES.slice(0, 8)) : pick(NAMES)}${next() < 0.9 ? "=" : " = "}${q}${value}${q}`;
    }
    if (next() < 0.2) return `<${name}${attrs}${next() < 0.5 ? "/" : " /"}>`;
    let inner = "";
    if (depth < 5 && next() < 0.6) {
      const children = Math.floor(next() * 4) + 1;
      for (let i = 0; i < children; i++) inner += (next() < 0.7 ? pick(TEXTS.slice(0, 4)) : pick(TEXTS)) + element(depth + 1);
      inner += next() < 0.8 ? pick(TEXTS.slice(0, 4)) : pick(TEXTS);
    } else {
      inner = next() < 0.8 ? pick(TEXTS.slice(0, 12)) : pick(TEXTS);
    }
    return `<${name}${attrs}>${inner}</${next() < 0.97 ? name : pick(NAMES)}${next() < 0.9 ? "" : " "}>`;
  };
  return (
    (next() < 0.85 ? pick(PROLOGS.slice(0, 5)) : pick(PROLOGS)) + element(0) + (next() < 0.85 ? pick(EPILOGS.slice(0, 3)) : pick(EPILOGS))
  );
}

function mutations(doc: string, next: () => number): string[] {
  const out: string[] = [];
  const chars = ["<", ">", "/", "=", '"', "'", "&", "!", "?", " ", "\n", "\t", "\r", "a", "-", ":", "é", "\u0000", "]"];
  for (let i = 0; i < 6; i++) {
    const at = Math.floor(next() * (doc.length + 1));
    const c = chars[Math.floor(next() * chars.length)]!;
    out.push(
      doc.slice(0, at),
      doc.slice(0, at) + doc.slice(at + 1),
      doc.slice(0, at) + c + doc.slice(at),
      doc.slice(0, at) + c + doc.slice(at + 1),
    );
  }
  return out;
}

type Reading = { value: Record<string, unknown> } | { error: string };
function withSaxes(doc: string): Reading {
  try {
    return { value: parseXmlWithSaxes(doc, limits) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/** readPlainXml agrees with saxes on `doc`; true if it read it (rather than giving up). */
function agrees(doc: string): boolean {
  const plain = readPlainXml(doc, limits);
  const judged = withSaxes(doc);
  if (plain !== undefined) {
    assert.ok(
      "value" in judged,
      `readPlainXml accepted what saxes refuses (${"error" in judged ? judged.error : ""}): ${JSON.stringify(doc)}`,
    );
    assert.deepStrictEqual(plain, judged.value, `values differ: ${JSON.stringify(doc)}`);
  }
  return plain !== undefined;
}

describe("readPlainXml against saxes", () => {
  it("reads the samples as saxes does", () => {
    for (const wording of ["kpns", "vpns"] as const)
      assert.ok(agrees(eventPushDocument(wording).xmlRequest), "the sample is of the plain shape");
    assert.ok(agrees(`<event><eventid>7</eventid><eventNamePairs><key name="lastname" content="Smith"/></eventNamePairs></event>`));
  });

  it("leaves XML 1.1 to saxes: its line ends differ (U+0085 reads as a newline there)", () => {
    const doc = `<?xml version="1.1"?><a>x\u0085y</a>`;
    assert.equal(readPlainXml(doc, limits), undefined);
    assert.deepStrictEqual(parseXml(doc, limits), { a: "x\ny" });
  });

  it("accepts only what saxes accepts, with its values: generated documents and their mutations", function () {
    this.timeout(60_000);
    const next = rng(17);
    let generated = 0;
    let read = 0;
    let mutantsRead = 0;
    for (let i = 0; i < 1500; i++) {
      const doc = generate(next);
      generated++;
      if (agrees(doc)) read++;
      for (const mutant of mutations(doc, next)) if (agrees(mutant)) mutantsRead++;
    }
    // The test means something only if the fast reader takes a good share of them.
    assert.ok(read > generated / 5, `read ${read} of ${generated}`);
    if (process.env["SHOW_COUNTS"]) console.log({ generated, read, mutantsRead });
    assert.ok(mutantsRead > 1000, `read ${mutantsRead} mutants`);
  });

  it("a document cut at any point: given up, or read as saxes reads it", () => {
    const doc = eventPushDocument("kpns").xmlRequest;
    for (let i = 0; i <= doc.length; i++) agrees(doc.slice(0, i));
  });

  it("parseXml answers as saxes does, errors included, past the limits too", () => {
    const next = rng(5);
    const docs = [
      `<a>${"<b>".repeat(9)}${"</b>".repeat(9)}</a>`, // deeper than maxDepth
      `<a>${"<b/>".repeat(41)}</a>`, // more than maxElements
      `<a x="1"><x>2</x></a>`, // a name both an attribute and an element
      `<a>text<b/></a>`, // mixed content
      `<a b="1" b="2"/>`, // a repeated attribute
      ...Array.from({ length: 300 }, () => generate(next)),
    ];
    for (const doc of docs) {
      const judged = withSaxes(doc);
      if ("value" in judged) assert.deepStrictEqual(parseXml(doc, limits), judged.value);
      else assert.throws(() => parseXml(doc, limits), { message: judged.error }, JSON.stringify(doc));
    }
  });
});

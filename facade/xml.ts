import { SaxesParser, type SaxesTagPlain } from "saxes";
import { FormatError } from "./format-error.js";

export interface XmlLimits {
  /** Deepest element nesting accepted. */
  maxDepth: number;
  /** Most elements accepted; absent: no limit. */
  maxElements?: number;
}

// No DTDs at all: refusing them up front rules out entity expansion ("billion laughs") and
// external entities, whatever the parser would do with them.
const DTD = /<!DOCTYPE|<!ENTITY/i;

/**
 * Builds the plain values of a document from its elements, attributes and text as a reader meets
 * them, and checks the limits and the shapes the values cannot hold (mixed content, a name both an
 * attribute and an element). Both readers below feed it, so a document reads the same with either.
 * The open elements are kept in parallel lists reused from one document to the next (their name,
 * attributes, what their children made of them so far, their text), not an object each.
 */
class ValueBuilder {
  private readonly names: string[] = [];
  private readonly attributes: Array<Record<string, string>> = [];
  private readonly outs: Array<Record<string, unknown> | undefined> = [];
  private readonly texts: string[] = [];
  /** How many elements are open. */
  depth = 0;
  root: Record<string, unknown> | undefined;
  private maxDepth = 0;
  private elements = 0;
  private maxElements = 0;

  reset(limits: XmlLimits): void {
    // A document refused part way leaves elements open: their values go now, not with the next one.
    for (let i = 0; i < this.depth; i++) this.outs[i] = undefined;
    this.depth = 0;
    this.root = undefined;
    this.maxDepth = limits.maxDepth;
    this.elements = 0;
    this.maxElements = limits.maxElements ?? Number.POSITIVE_INFINITY;
  }

  open(name: string, attributes: Record<string, string>): void {
    if (this.depth >= this.maxDepth) throw new FormatError(`XML nested deeper than ${this.maxDepth} elements`);
    if (++this.elements > this.maxElements) throw new FormatError(`XML has more than ${this.maxElements} elements`);
    let out: Record<string, unknown> | undefined;
    for (const key in attributes) out = own(out ?? {}, key, attributes[key]!);
    const at = this.depth++;
    this.names[at] = name;
    this.attributes[at] = attributes;
    this.outs[at] = out;
    this.texts[at] = "";
  }

  text(t: string): void {
    // Outside the root the readers allow only white space (and refuse the rest themselves).
    if (this.depth > 0) this.texts[this.depth - 1] += t;
  }

  close(): void {
    const at = --this.depth;
    const name = this.names[at]!;
    const elOut = this.outs[at];
    this.outs[at] = undefined;
    const text = this.texts[at]!.trim();
    if (elOut && text !== "") throw new FormatError("mixed text and elements are not accepted");
    const value = elOut ?? text;
    if (at === 0) {
      this.root = own({}, name, value);
      return;
    }
    const out = (this.outs[at - 1] ??= {});
    if (!Object.hasOwn(out, name)) own(out, name, value);
    else if (Object.hasOwn(this.attributes[at - 1]!, name)) throw new FormatError(`"${name}" is both an attribute and an element`);
    else {
      const prior = out[name]; // an element's value is never an array: an array is the list of its repeats
      if (Array.isArray(prior)) prior.push(value);
      else own(out, name, [prior, value]);
    }
  }

  /** The name of the element open innermost ("" at the top level). */
  get current(): string {
    return this.depth > 0 ? this.names[this.depth - 1]! : "";
  }
}

/**
 * The one saxes parser of this process (strict, checks well-formedness, no DTD processing), its
 * handlers feeding a ValueBuilder straight from the events, with no tree in between. A parse runs
 * start to end within one call (the body is read whole first), so one parser serves every request;
 * after an error its state is unknown, so it is replaced.
 */
class SaxesReader {
  private parser!: SaxesParser<object>;
  private readonly values = new ValueBuilder();

  constructor() {
    this.reset();
  }

  read(text: string, limits: XmlLimits): Record<string, unknown> {
    this.values.reset(limits);
    try {
      this.parser.write(text).close();
    } catch (err) {
      this.reset();
      if (err instanceof FormatError) throw err;
      throw new FormatError(`malformed XML: ${(err as Error).message.split("\n")[0]}`);
    }
    // close() refuses a document without a root or with one left open: there is one here.
    return this.values.root!;
  }

  private reset(): void {
    const parser = new SaxesParser({ position: false });
    const values = this.values;
    // Without xmlns, attributes are plain strings.
    parser.on("opentag", (tag) => values.open(tag.name, (tag as SaxesTagPlain).attributes));
    parser.on("closetag", () => values.close());
    parser.on("text", (t) => values.text(t));
    parser.on("cdata", (t) => values.text(t)); // CDATA sections are text, merged with the text around them
    parser.on("doctype", () => {
      throw new FormatError("DOCTYPE and entity declarations are not accepted");
    });
    parser.on("error", (err) => {
      throw err;
    });
    // Comments, processing instructions and the declaration: ignored.
    this.parser = parser;
  }
}

const saxes = new SaxesReader();

// The plain shape nearly every legacy body has, read without saxes (see readPlainXml). Everything
// past it goes to saxes: entity and character references, CDATA, comments, processing instructions
// after the declaration, DOCTYPE, carriage returns, tabs and newlines in attribute values (which XML
// normalises), surrogates, characters XML does not allow, "]]>", names outside ASCII letters, digits,
// "_", "-" and "." (so no namespaces' ":" either).
const XML_DECL =
  /<\?xml[ \t\n]+version[ \t\n]*=[ \t\n]*(?:"1\.0"|'1\.0')(?:[ \t\n]+encoding[ \t\n]*=[ \t\n]*(?:"[A-Za-z][A-Za-z0-9._-]*"|'[A-Za-z][A-Za-z0-9._-]*'))?(?:[ \t\n]+standalone[ \t\n]*=[ \t\n]*(?:"(?:yes|no)"|'(?:yes|no)'))?[ \t\n]*\?>/y;
const SPACE = /[ \t\n]*/y;
// A tag and the text after it, at once: "/" of a closing tag, the name, the attributes, "/" of an
// empty-element tag, then the text up to the next tag: its leading white space, the rest. Text and
// attribute values stop at what the plain shape leaves to saxes ("&", characters XML refuses or
// normalises), where the next tag cannot match.
const TAG =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters XML refuses are excluded on purpose
  /<(\/?)([A-Za-z_][A-Za-z0-9_.-]*)((?:[ \t\n]+[A-Za-z_][A-Za-z0-9_.-]*[ \t\n]*=[ \t\n]*(?:"[^<&"\x00-\x1F\uD800-\uDFFF\uFFFE\uFFFF]*"|'[^<&'\x00-\x1F\uD800-\uDFFF\uFFFE\uFFFF]*'))*)[ \t\n]*(\/?)>[ \t\n]*([^<&\x00-\x08\x0B-\x1F\uD800-\uDFFF\uFFFE\uFFFF]*)/y;
const ATTRIBUTE = /([A-Za-z_][A-Za-z0-9_.-]*)[ \t\n]*=[ \t\n]*(?:"([^"]*)"|'([^']*)')/g;
const NO_ATTRIBUTES: Record<string, string> = Object.freeze({}) as Record<string, string>;

const plain = new ValueBuilder();

/**
 * Reads a document of the plain shape (above) into the same values as saxes would, a tag at a time
 * with one sticky regular expression; undefined for any document outside that shape or not
 * well-formed in it, or one that the values refuse, which saxes then reads and judges (measured in
 * the facade: the sample eventpushmessage took ~21 µs of CPU through saxes). It accepts only what
 * XML 1.0 calls well-formed: the declaration as the grammar writes it, one root, matching tags,
 * unique attributes, only white space outside the root. test/facade/xml-plain.test.ts holds it to
 * saxes's reading on the samples, the well-formedness corpus and mutations of them.
 */
export function readPlainXml(text: string, limits: XmlLimits): Record<string, unknown> | undefined {
  let at = 0;
  if (text.startsWith("<?xml")) {
    XML_DECL.lastIndex = 0;
    if (!XML_DECL.test(text)) return undefined;
    at = XML_DECL.lastIndex;
  }
  if (text.includes("]]>")) return undefined; // not allowed in text
  try {
    plain.reset(limits);
    SPACE.lastIndex = at;
    SPACE.test(text);
    TAG.lastIndex = SPACE.lastIndex;
    for (;;) {
      const tag = TAG.exec(text);
      if (!tag) return undefined;
      // Read by index: destructuring a match goes through its iterator.
      const name = tag[2]!;
      const attributeText = tag[3];
      const empty = tag[4];
      const after = tag[5];
      if (tag[1]) {
        if (attributeText || empty || name !== plain.current) return undefined;
        plain.close();
      } else {
        if (plain.depth === 0 && plain.root !== undefined) return undefined; // a second root
        plain.open(name, attributeText ? attributesOf(attributeText) : NO_ATTRIBUTES);
        if (empty) plain.close();
      }
      // White space changes no value (text is trimmed, and white space beside elements is not mixed
      // content): only the text after it is kept; outside the root there may be none.
      if (after) {
        if (plain.depth === 0) return undefined;
        plain.text(after);
      }
      if (TAG.lastIndex === text.length) return plain.root; // set once the root closed, else cut short
    }
  } catch {
    return undefined; // the values refused it (a limit, mixed content, …): saxes says so in its words
  }
}

/** The attributes of a tag (their run as TAG matched it); a repeated name is not well-formed. */
function attributesOf(run: string): Record<string, string> {
  const attributes: Record<string, string> = {};
  ATTRIBUTE.lastIndex = 0;
  for (let m = ATTRIBUTE.exec(run); m; m = ATTRIBUTE.exec(run)) {
    const name = m[1]!;
    if (Object.hasOwn(attributes, name) || name === "__proto__") throw new FormatError(`attribute "${name}" repeated`);
    attributes[name] = m[2] ?? m[3]!;
  }
  return attributes;
}

/**
 * Parses an XML document into plain values, the shape a legacy JSON body has: an element with
 * only text is its (trimmed) text, CDATA included, an empty one is "", otherwise an object of its
 * attributes and child elements, repeated children becoming arrays. Comments, processing
 * instructions and the declaration are ignored. A document that is not well-formed XML 1.0 (unclosed
 * or mismatched tags, several roots, an undefined entity or bad character reference, …), mixed
 * content, DTDs, nesting deeper than `maxDepth` and more than `maxElements` elements are refused
 * (FormatError), at the first element past the limit. A document of the plain shape is read by
 * readPlainXml; any other, and any it gives up on, by saxes.
 * Returns `{ [rootName]: value }`.
 */
export function parseXml(text: string, limits: XmlLimits): Record<string, unknown> {
  // White space before the declaration breaks XML 1.0, but templated clients send it (a newline
  // before `<?xml`); nothing is cut short by dropping it, so it is forgiven.
  const doc = text.charCodeAt(0) === 0x3c ? text : text.replace(/^[\s\uFEFF]+(?=<\?xml)/, "");
  // readPlainXml never reads a DOCTYPE ("<!" ends its shape): refused before saxes sees one.
  const value = readPlainXml(doc, limits);
  if (value) return value;
  if (DTD.test(doc)) throw new FormatError("DOCTYPE and entity declarations are not accepted");
  return saxes.read(doc, limits);
}

/** Parses with saxes alone (the reference readPlainXml is held to). */
export function parseXmlWithSaxes(text: string, limits: XmlLimits): Record<string, unknown> {
  return saxes.read(text, limits);
}

/** Sets an own, enumerable property, even one named `__proto__` (which the mappers then refuse as unknown). */
function own(target: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> {
  if (key === "__proto__") Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
  return target;
}

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" };

/** Escapes text for an XML attribute value or element content. */
export function escapeXml(s: string): string {
  return /[&<>"']/.test(s) ? s.replace(/[&<>"']/g, (c) => ESCAPES[c]!) : s;
}

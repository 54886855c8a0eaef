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

/** An element being read: its name and attributes, what its children made of it so far, its text. */
interface Open {
  name: string;
  attributes: Record<string, string>;
  out: Record<string, unknown> | undefined;
  text: string;
}

/**
 * The one parser of this process (saxes: strict, checks well-formedness, no DTD processing), its
 * handlers building plain values straight from the events, with no tree in between. A parse runs
 * start to end within one call (the body is read whole first), so one parser serves every request;
 * after an error its state is unknown, so it is replaced.
 */
class PlainReader {
  private parser!: SaxesParser<object>;
  private stack: Open[] = [];
  private root: Record<string, unknown> | undefined;
  private maxDepth = 0;
  private elements = 0;
  private maxElements = 0;

  constructor() {
    this.reset();
  }

  read(text: string, limits: XmlLimits): Record<string, unknown> {
    this.stack = [];
    this.root = undefined;
    this.maxDepth = limits.maxDepth;
    this.elements = 0;
    this.maxElements = limits.maxElements ?? Number.POSITIVE_INFINITY;
    try {
      this.parser.write(text).close();
    } catch (err) {
      this.reset();
      if (err instanceof FormatError) throw err;
      throw new FormatError(`malformed XML: ${(err as Error).message.split("\n")[0]}`);
    }
    // close() refuses a document without a root or with one left open: there is one here.
    return this.root!;
  }

  private reset(): void {
    const parser = new SaxesParser({ position: false });
    parser.on("opentag", (tag) => this.open(tag as SaxesTagPlain)); // without xmlns, attributes are plain strings
    parser.on("closetag", () => this.close());
    parser.on("text", (t) => this.addText(t));
    parser.on("cdata", (t) => this.addText(t)); // CDATA sections are text, merged with the text around them
    parser.on("doctype", () => {
      throw new FormatError("DOCTYPE and entity declarations are not accepted");
    });
    parser.on("error", (err) => {
      throw err;
    });
    // Comments, processing instructions and the declaration: ignored.
    this.parser = parser;
  }

  private open(tag: SaxesTagPlain): void {
    if (this.stack.length >= this.maxDepth) throw new FormatError(`XML nested deeper than ${this.maxDepth} elements`);
    if (++this.elements > this.maxElements) throw new FormatError(`XML has more than ${this.maxElements} elements`);
    let out: Record<string, unknown> | undefined;
    for (const name in tag.attributes) out = own(out ?? {}, name, tag.attributes[name]!);
    this.stack.push({ name: tag.name, attributes: tag.attributes, out, text: "" });
  }

  private addText(t: string): void {
    // Outside the root the parser allows only white space (and refuses the rest itself).
    const top = this.stack[this.stack.length - 1];
    if (top) top.text += t;
  }

  private close(): void {
    const el = this.stack.pop()!;
    const text = el.text.trim();
    if (el.out && text !== "") throw new FormatError("mixed text and elements are not accepted");
    const value = el.out ?? text;
    const parent = this.stack[this.stack.length - 1];
    if (!parent) {
      this.root = own({}, el.name, value);
      return;
    }
    const out = (parent.out ??= {});
    if (!Object.hasOwn(out, el.name)) own(out, el.name, value);
    else if (Object.hasOwn(parent.attributes, el.name)) throw new FormatError(`"${el.name}" is both an attribute and an element`);
    else {
      const prior = out[el.name]; // an element's value is never an array: an array is the list of its repeats
      if (Array.isArray(prior)) prior.push(value);
      else own(out, el.name, [prior, value]);
    }
  }
}

const reader = new PlainReader();

/**
 * Parses an XML document into plain values, the shape a legacy JSON body has: an element with
 * only text is its (trimmed) text, CDATA included, an empty one is "", otherwise an object of its
 * attributes and child elements, repeated children becoming arrays. Comments, processing
 * instructions and the declaration are ignored. A document that is not well-formed XML 1.0 (unclosed
 * or mismatched tags, several roots, an undefined entity or bad character reference, …), mixed
 * content, DTDs, nesting deeper than `maxDepth` and more than `maxElements` elements are refused
 * (FormatError), at the first element past the limit.
 * Returns `{ [rootName]: value }`.
 */
export function parseXml(text: string, limits: XmlLimits): Record<string, unknown> {
  if (DTD.test(text)) throw new FormatError("DOCTYPE and entity declarations are not accepted");
  // White space before the declaration breaks XML 1.0, but templated clients send it (a newline
  // before `<?xml`); nothing is cut short by dropping it, so it is forgiven.
  return reader.read(text.replace(/^[\s\uFEFF]+(?=<\?xml)/, ""), limits);
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

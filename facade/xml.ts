import { parseXml as readXml, XmlElement, XmlError, XmlText, type XmlDocument } from "@rgrove/parse-xml";
import { FormatError } from "./format-error.js";

export interface XmlLimits {
  /** Deepest element nesting accepted. */
  maxDepth: number;
}

// No DTDs at all: refusing them up front rules out entity expansion ("billion laughs") and
// external entities, whatever the parser would do with them.
const DTD = /<!DOCTYPE|<!ENTITY/i;

/**
 * Parses an XML document into plain values, the shape a legacy JSON body has: an element with
 * only text is its (trimmed) text, CDATA included, an empty one is "", otherwise an object of its
 * attributes and child elements, repeated children becoming arrays. Comments, processing
 * instructions and the declaration are ignored. A document that is not well-formed XML 1.0 (unclosed
 * or mismatched tags, several roots, an undefined entity or bad character reference, …), mixed
 * content, DTDs and nesting deeper than `maxDepth` are refused (FormatError).
 * Returns `{ [rootName]: value }`.
 */
export function parseXml(text: string, limits: XmlLimits): Record<string, unknown> {
  if (DTD.test(text)) throw new FormatError("DOCTYPE and entity declarations are not accepted");
  let doc: XmlDocument;
  try {
    // White space before the declaration breaks XML 1.0, but templated clients send it (a newline
    // before `<?xml`); nothing is cut short by dropping it, so it is forgiven.
    doc = readXml(text.replace(/^[\s\uFEFF]+(?=<\?xml)/, ""));
  } catch (err) {
    if (err instanceof XmlError) throw new FormatError(`malformed XML: ${err.message.split("\n")[0]}`);
    // The parser recurses once per element: a document nested thousands deep overflows the stack
    // (a RangeError) before the depth limit below can see it.
    if (err instanceof RangeError) throw new FormatError(`XML nested too deep to read (limit ${limits.maxDepth})`);
    throw err;
  }
  // Well-formed: exactly one root element; the rest of the document's children are comments and PIs.
  const root = doc.children.find((node) => node instanceof XmlElement) as XmlElement;
  return own({}, root.name, toPlain(root, 1, limits.maxDepth));
}

function toPlain(el: XmlElement, depth: number, maxDepth: number): unknown {
  if (depth > maxDepth) throw new FormatError(`XML nested deeper than ${maxDepth} elements`);
  let text = "";
  let out: Record<string, unknown> | undefined;
  for (const name in el.attributes) out = own(out ?? {}, name, el.attributes[name]!);
  for (const node of el.children) {
    if (node instanceof XmlText) {
      text += node.text; // CDATA sections arrive as text, merged with the text around them
    } else if (node instanceof XmlElement) {
      out ??= {};
      const value = toPlain(node, depth + 1, maxDepth);
      if (!Object.hasOwn(out, node.name)) own(out, node.name, value);
      else if (Object.hasOwn(el.attributes, node.name)) throw new FormatError(`"${node.name}" is both an attribute and an element`);
      else {
        const prior = out[node.name]; // an element's value is never an array: an array is the list of its repeats
        if (Array.isArray(prior)) prior.push(value);
        else own(out, node.name, [prior, value]);
      }
    } // comments and processing instructions: ignored
  }
  text = text.trim();
  if (!out) return text;
  if (text !== "") throw new FormatError("mixed text and elements are not accepted");
  return out;
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

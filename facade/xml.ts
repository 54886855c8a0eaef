import { xml2js, type ElementCompact } from "xml-js";
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
 * only text is its (trimmed) text, an empty one is "", otherwise an object of its attributes and
 * child elements, repeated children becoming arrays. Comments, processing instructions and the
 * declaration are ignored. Mixed content, DTDs and nesting deeper than `maxDepth` are refused.
 * Returns `{ [rootName]: value }`.
 */
export function parseXml(text: string, limits: XmlLimits): Record<string, unknown> {
  if (DTD.test(text)) throw new FormatError("DOCTYPE and entity declarations are not accepted");
  let doc: ElementCompact;
  try {
    doc = xml2js(text, {
      compact: true,
      trim: true,
      ignoreComment: true,
      ignoreDeclaration: true,
      ignoreInstruction: true,
      ignoreDoctype: true,
      nativeType: false,
      captureSpacesBetweenElements: false,
    }) as ElementCompact;
  } catch (err) {
    throw new FormatError(`malformed XML: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`);
  }
  const roots = Object.keys(doc);
  if (roots.length !== 1) throw new FormatError("an XML document has exactly one root element");
  const root = roots[0]!;
  const value = doc[root] as unknown;
  if (Array.isArray(value)) throw new FormatError("an XML document has exactly one root element");
  return { [root]: toPlain(value as ElementCompact, 1, limits.maxDepth) };
}

function toPlain(el: ElementCompact, depth: number, maxDepth: number): unknown {
  if (depth > maxDepth) throw new FormatError(`XML nested deeper than ${maxDepth} elements`);
  let text = "";
  let out: Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(el)) {
    if (key === "_text" || key === "_cdata") {
      text += Array.isArray(value) ? value.join("") : String(value);
    } else if (key === "_attributes") {
      out ??= {};
      for (const [name, v] of Object.entries(value as Record<string, unknown>)) out[name] = String(v);
    } else if (key.startsWith("_")) {
      continue; // comments and the like, when a parser option lets them through
    } else {
      out ??= {};
      if (Object.hasOwn(out, key)) throw new FormatError(`"${key}" is both an attribute and an element`);
      out[key] = Array.isArray(value)
        ? value.map((v: ElementCompact) => toPlain(v, depth + 1, maxDepth))
        : toPlain(value as ElementCompact, depth + 1, maxDepth);
    }
  }
  if (!out) return text;
  if (text !== "") throw new FormatError("mixed text and elements are not accepted");
  return out;
}

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" };

/** Escapes text for an XML attribute value or element content. */
export function escapeXml(s: string): string {
  return /[&<>"']/.test(s) ? s.replace(/[&<>"']/g, (c) => ESCAPES[c]!) : s;
}

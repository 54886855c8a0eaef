import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { xml2js } from "xml-js";

/** test/contracts/, from dist/test/support/ or test/support/. */
const dir = fileURLToPath(new URL("../../../test/contracts/", import.meta.url));

export function contractText(name: string): string {
  return readFileSync(dir + name, "utf8");
}

/** The balanced {...} starting at `from` (the documents' JSON holds no braces in strings). */
function braced(text: string, from: number): string {
  const start = text.indexOf("{", from);
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    if (text[i] === "{") depth++;
    else if (text[i] === "}" && --depth === 0) return text.slice(start, i + 1);
  }
  throw new Error("unbalanced braces in the document");
}

export interface EventPushDocument {
  xmlRequest: string;
  jsonRequest: string;
  /** The 8 documented responses, in the document's order (success, invalid subscribers, 400, 404, 405, 406, 407, 500). */
  xmlResponses: string[];
  jsonResponses: string[];
}

/** The samples of kpns-/vpns-eventpushmessage.txt, exactly as written (whitespace and all). */
export function eventPushDocument(name: "kpns" | "vpns"): EventPushDocument {
  const text = contractText(`${name}-eventpushmessage.txt`);
  const request = text.indexOf("Sample Request");
  const responses = text.indexOf("Sample Responses");
  const xmlStart = text.indexOf("<?xml", request);
  const xmlRequest = text.slice(xmlStart, text.indexOf("</event>", xmlStart) + "</event>".length);
  const jsonRequest = braced(text, text.indexOf("JSON", xmlStart));
  const xmlResponses = [...text.slice(responses).matchAll(/<messageResponse>[\s\S]*?<\/messageResponse>/g)].map((m) => m[0]);
  const jsonPart = text.slice(text.indexOf("JSON", responses));
  const jsonResponses = [...jsonPart.matchAll(/\d\\?\.\s*[A-Za-z]+:\s*\{/g)].map((m) => braced(jsonPart, m.index));
  return { xmlRequest, jsonRequest, xmlResponses, jsonResponses };
}

/** Placeholder of the documents: matches any non-empty value. */
export const ANY = "xxxx";

/** Parses a documented XML response; the documents' unquoted `ksid=xxxx` is quoted first. */
export function xmlShape(xml: string): unknown {
  return xml2js(xml.replace(/=(x+)(?=[\s>])/g, '="$1"'), { compact: true });
}

/** Parses a documented JSON response: bare xxxx and empty values become ANY and "". */
export function jsonShape(json: string): unknown {
  const fixed = json
    .replace(/:\s*xxxx/g, ': "xxxx"')
    .replace(/:\s*,/g, ': "",')
    .replace(/:\s*(?=\n\s*\})/g, ': ""');
  return JSON.parse(fixed);
}

/** Deep structural equality where an expected ANY matches any non-empty scalar. Returns the first difference. */
export function difference(actual: unknown, expected: unknown, path = "$"): string | undefined {
  if (expected === ANY) {
    return (typeof actual === "string" && actual !== "") || typeof actual === "number"
      ? undefined
      : `${path}: expected a value, got ${JSON.stringify(actual)}`;
  }
  if (typeof expected !== "object" || expected === null) {
    return actual === expected ? undefined : `${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`;
  }
  if (typeof actual !== "object" || actual === null || Array.isArray(actual) !== Array.isArray(expected)) {
    return `${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`;
  }
  const ek = Object.keys(expected).sort();
  const ak = Object.keys(actual).sort();
  if (ek.join() !== ak.join()) return `${path}: keys ${JSON.stringify(ak)}, expected ${JSON.stringify(ek)}`;
  for (const k of ek) {
    const d = difference((actual as Record<string, unknown>)[k], (expected as Record<string, unknown>)[k], `${path}.${k}`);
    if (d) return d;
  }
  return undefined;
}

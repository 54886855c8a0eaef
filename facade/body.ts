import type { Context } from "koa";
import { FormatError } from "./format-error.js";
import { parseXml } from "./xml.js";
import { checkJsonValue } from "./plain.js";
import { scanJson, scanXml } from "./body-scan.js";
import { readText, TooLargeError } from "./read-text.js";
import { bodyTypeOf } from "./body-type.js";

export { TooLargeError };

export interface BodyLimits {
  /** Largest request body accepted (bytes); larger gets the contract's 413. */
  maxBodyBytes: number;
  /** Deepest nesting of objects/arrays (JSON) or elements (XML). */
  maxBodyDepth: number;
  /** Most elements of an XML body. */
  maxBodyElements: number;
}

export type BodyFormat = "xml" | "json";

/** Anything String.prototype.trim would keep (\s is the white space it drops). */
const NOT_SPACE = /\S/;

/** The format a reply takes: the request's, XML unless the request says JSON. */
export function requestFormat(ctx: Context): BodyFormat {
  return /json/i.test(ctx.get("content-type")) ? "json" : "xml";
}

/**
 * Parses JSON text read with scanJson: malformed, or (`strict`) not an object or array →
 * FormatError; then checkJsonValue.
 */
export function parseJsonBody(text: string, maxDepth: number, strict: boolean): unknown {
  if (strict && !/^\s*[[{]/.test(text)) throw new FormatError("JSON body must be an object or an array");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new FormatError(`malformed JSON: ${(err as Error).message}`);
  }
  checkJsonValue(value, maxDepth);
  return value;
}

/**
 * Reads a legacy body, JSON or XML by its Content-Type, into plain values (see parseXml), with
 * the size, depth and element limits checked while the bytes arrive. Any other type, an empty or
 * malformed body → FormatError; too large → TooLargeError.
 */
export function createBodyReader(limits: BodyLimits): (ctx: Context) => Promise<unknown> {
  return async (ctx) => {
    const type = bodyTypeOf(ctx);
    const json = type.json;
    if (!json && !type.xml) {
      ctx.req.resume();
      throw new FormatError(ctx.get("content-type") ? "empty body or unsupported content type" : "no content type");
    }
    const text = await readText(ctx.req, {
      limit: limits.maxBodyBytes,
      charset: type.charset,
      scan: json ? scanJson(limits.maxBodyDepth) : scanXml({ maxDepth: limits.maxBodyDepth, maxElements: limits.maxBodyElements }),
    });
    if (!NOT_SPACE.test(text)) throw new FormatError("empty body"); // a test, not a trimmed copy of the body
    if (json) return parseJsonBody(text, limits.maxBodyDepth, true);
    return parseXml(text, { maxDepth: limits.maxBodyDepth, maxElements: limits.maxBodyElements });
  };
}

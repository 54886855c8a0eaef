import bodyParser from "koa-bodyparser";
import type { Context } from "koa";
import { FormatError } from "./format-error.js";
import { parseXml } from "./xml.js";
import { checkDepth } from "./plain.js";

export interface BodyLimits {
  /** Largest request body accepted (bytes); larger gets the contract's 413. */
  maxBodyBytes: number;
  /** Deepest nesting of objects/arrays (JSON) or elements (XML). */
  maxBodyDepth: number;
}

export type BodyFormat = "xml" | "json";

/** A body larger than the limit: answered with 413 in the contract's shape. */
export class TooLargeError extends Error {
  override readonly name = "TooLargeError";
}

/** The format a reply takes: the request's, XML unless the request says JSON. */
export function requestFormat(ctx: Context): BodyFormat {
  return /json/i.test(ctx.get("content-type")) ? "json" : "xml";
}

type BodyParser = ReturnType<typeof bodyParser>;
const noop = async () => undefined;

/** Runs koa-bodyparser on a request; over `limit` → TooLargeError, anything unreadable → FormatError. */
export async function runBodyParser(parse: BodyParser, ctx: Context, limit: number): Promise<void> {
  try {
    await parse(ctx as Parameters<BodyParser>[0], noop);
  } catch (err) {
    if ((err as { status?: unknown }).status === 413) throw new TooLargeError(`body larger than ${limit} bytes`);
    throw new FormatError(`unreadable body: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * Reads a legacy body, JSON or XML by its Content-Type, into plain values (see parseXml), with
 * the size and depth limits. Any other type, an empty or malformed body → FormatError.
 */
export function createBodyReader(limits: BodyLimits): (ctx: Context) => Promise<unknown> {
  const limit = limits.maxBodyBytes;
  // The typings want strings (bytes.parse reads a bare number string as bytes) and lack
  // xmlLimit, which the parser honours.
  const options: bodyParser.Options & { xmlLimit: string } = {
    enableTypes: ["json", "xml"],
    jsonLimit: String(limit),
    xmlLimit: String(limit),
    strict: true, // JSON bodies are objects or arrays
  };
  const parse = bodyParser(options);
  return async (ctx) => {
    await runBodyParser(parse, ctx, limit);
    const request = ctx.request as typeof ctx.request & { body?: unknown; rawBody?: string };
    if (request.rawBody === undefined || request.rawBody.trim() === "") {
      throw new FormatError(ctx.get("content-type") ? "empty body or unsupported content type" : "no content type");
    }
    if (ctx.request.is("json")) {
      checkDepth(request.body, limits.maxBodyDepth);
      return request.body;
    }
    return parseXml(request.rawBody, { maxDepth: limits.maxBodyDepth });
  };
}

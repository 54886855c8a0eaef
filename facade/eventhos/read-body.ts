import type { Context } from "koa";
import { FormatError } from "../format-error.js";
import { parseJsonBody, type BodyLimits } from "../body.js";
import { bodyTypeOf } from "../body-type.js";
import { scanJson } from "../body-scan.js";
import { readText } from "../read-text.js";

/** A body of another content type than the route takes. */
export class UnsupportedTypeError extends Error {
  override readonly name = "UnsupportedTypeError";
}

export interface JsonReaderOptions {
  /** Also take a urlencoded form (/auth/token). */
  form: boolean;
  /**
   * Read an empty body (no bytes), of any content type or none, as `{}`, as the original server
   * does (express body parsers): /event/send. Otherwise an empty body is a FormatError.
   */
  emptyIsObject?: boolean;
}

/** True when the request announces no body: no transfer coding, and no or a zero length. */
function announcesNoBody(ctx: Context): boolean {
  const length = ctx.get("content-length");
  return ctx.get("transfer-encoding") === "" && (length === "" || Number(length) === 0);
}

/**
 * Reads an eventhos body: any JSON value (objects, arrays and scalars: "any valid json"), or, with
 * `form`, a urlencoded form. Within the size and depth limits, checked while the bytes arrive; a
 * malformed body (or an empty one, unless `emptyIsObject`), a number out of range or a lone
 * surrogate is a FormatError, a larger one a TooLargeError, another type an UnsupportedTypeError.
 */
export function createJsonReader(limits: BodyLimits, options: JsonReaderOptions): (ctx: Context) => Promise<unknown> {
  return async (ctx) => {
    if (options.emptyIsObject && announcesNoBody(ctx)) return {};
    const type = bodyTypeOf(ctx);
    const json = type.json;
    const form = options.form && type.form;
    if (!json && !form) {
      ctx.req.resume();
      throw new UnsupportedTypeError(`content type "${ctx.get("content-type")}"`);
    }
    const text = await readText(ctx.req, {
      limit: limits.maxBodyBytes,
      charset: type.charset,
      ...(json ? { scan: scanJson(limits.maxBodyDepth) } : {}),
    });
    // A chunked body may turn out empty too.
    if (options.emptyIsObject && text === "") return {};
    if (!json) return readForm(text);
    if (text.trim() === "") throw new FormatError("empty body");
    return parseJsonBody(text, limits.maxBodyDepth, false);
  };
}

/** A urlencoded form as an object of strings (a repeated name keeps its last value). */
function readForm(text: string): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  // Percent-decoding turns bytes that are not UTF-8 into U+FFFD: no lone surrogate gets through.
  for (const [name, value] of new URLSearchParams(text)) out[name] = value;
  return out;
}

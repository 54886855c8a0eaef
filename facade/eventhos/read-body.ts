import bodyParser from "koa-bodyparser";
import type { Context } from "koa";
import { checkDepth } from "../plain.js";
import { FormatError } from "../format-error.js";
import { runBodyParser, type BodyLimits } from "../body.js";

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
 * `form`, a urlencoded form. Within the size and depth limits; a malformed body (or an empty one,
 * unless `emptyIsObject`) is a FormatError, a larger one a TooLargeError, another type an
 * UnsupportedTypeError.
 */
export function createJsonReader(limits: BodyLimits, options: JsonReaderOptions): (ctx: Context) => Promise<unknown> {
  const parse = bodyParser({
    enableTypes: options.form ? ["json", "form"] : ["json"],
    jsonLimit: String(limits.maxBodyBytes),
    formLimit: String(limits.maxBodyBytes),
    extendTypes: { json: ["+json"] },
    strict: false,
  });
  return async (ctx) => {
    if (options.emptyIsObject && announcesNoBody(ctx)) return {};
    const json = Boolean(ctx.request.is("json", "+json"));
    const form = options.form && Boolean(ctx.request.is("urlencoded"));
    if (!json && !form) throw new UnsupportedTypeError(`content type "${ctx.get("content-type")}"`);
    await runBodyParser(parse, ctx, limits.maxBodyBytes);
    const request = ctx.request as typeof ctx.request & { body?: unknown; rawBody?: string };
    // A chunked body may turn out empty too.
    if (options.emptyIsObject && request.rawBody === "") return {};
    if (json && (request.rawBody === undefined || request.rawBody.trim() === "")) throw new FormatError("empty body");
    checkDepth(request.body, limits.maxBodyDepth);
    return request.body;
  };
}

import bodyParser from "koa-bodyparser";
import type { Context } from "koa";
import { checkDepth } from "../plain.js";
import { FormatError } from "../format-error.js";
import { runBodyParser, type BodyLimits } from "../body.js";

/** A body of another content type than the route takes. */
export class UnsupportedTypeError extends Error {
  override readonly name = "UnsupportedTypeError";
}

/**
 * Reads an eventhos body: any JSON value (objects, arrays and scalars: "any valid json"), or, with
 * `form`, a urlencoded form. Within the size and depth limits; an empty or malformed body is a
 * FormatError, a larger one a TooLargeError, another type an UnsupportedTypeError.
 */
export function createJsonReader(limits: BodyLimits, options: { form: boolean }): (ctx: Context) => Promise<unknown> {
  const parse = bodyParser({
    enableTypes: options.form ? ["json", "form"] : ["json"],
    jsonLimit: String(limits.maxBodyBytes),
    formLimit: String(limits.maxBodyBytes),
    extendTypes: { json: ["+json"] },
    strict: false,
  });
  return async (ctx) => {
    const json = Boolean(ctx.request.is("json", "+json"));
    const form = options.form && Boolean(ctx.request.is("urlencoded"));
    if (!json && !form) throw new UnsupportedTypeError(`content type "${ctx.get("content-type")}"`);
    await runBodyParser(parse, ctx, limits.maxBodyBytes);
    const request = ctx.request as typeof ctx.request & { body?: unknown; rawBody?: string };
    if (json && (request.rawBody === undefined || request.rawBody.trim() === "")) throw new FormatError("empty body");
    checkDepth(request.body, limits.maxBodyDepth);
    return request.body;
  };
}

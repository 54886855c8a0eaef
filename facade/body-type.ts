import type { Context } from "koa";

/** What a request's Content-Type says, as Koa's `request.is` and `request.charset` read it. */
export interface BodyType {
  json: boolean;
  xml: boolean;
  form: boolean;
  /** The charset parameter, "" when there is none or the header does not parse. */
  charset: string;
}

export const JSON_TYPES = ["json", "+json"];
export const XML_TYPES = ["text/xml", "application/xml", "+xml"];

/**
 * Content-Type headers already read, by their exact text: a client sends the same header on every
 * request, and parsing it three ways cost about as much as the rest of the routing. Bounded:
 * emptied when full, so varied headers cost only what they did before.
 */
const known = new Map<string, BodyType>();
const MAX_KNOWN = 64;

/**
 * The body type of a request that has a body (Koa answers `is` with null for one without, so
 * those are read afresh and not remembered).
 */
export function bodyTypeOf(ctx: Context): BodyType {
  const header = ctx.get("content-type");
  const hit = known.get(header);
  if (hit !== undefined && hasBody(ctx)) return hit;
  const type: BodyType = {
    json: Boolean(ctx.request.is(JSON_TYPES)),
    xml: Boolean(ctx.request.is(XML_TYPES)),
    form: Boolean(ctx.request.is("urlencoded")),
    charset: ctx.request.charset,
  };
  if (hasBody(ctx)) {
    if (known.size >= MAX_KNOWN) known.clear();
    known.set(header, type);
  }
  return type;
}

/** type-is's own test: a request has a body when it says how it is framed. */
function hasBody(ctx: Context): boolean {
  const { headers } = ctx.req;
  return headers["transfer-encoding"] !== undefined || !Number.isNaN(Number(headers["content-length"]));
}

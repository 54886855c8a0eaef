import type { Context } from "koa";

/** Printable ASCII without "%" and "+": nothing a URLSearchParams parse would decode. */
const PLAIN = /^[\x21-\x24\x26-\x2a\x2c-\x7e]*$/;

/**
 * `ctx.query`, as Koa parses it (URLSearchParams; a repeated name gives an array of its values, in
 * order), without URLSearchParams when the query string holds nothing to decode: Koa's parse was
 * ~4% of an embedded /event/send, whose query is an event id and maybe a key.
 */
export function parseQuery(ctx: Context): Context["query"] {
  return parseQueryString(ctx.querystring) ?? ctx.query;
}

/** The query of a string with nothing to decode; undefined for any other (Koa parses it). */
export function parseQueryString(query: string): Context["query"] | undefined {
  if (!PLAIN.test(query)) return undefined;
  // As URLSearchParams: one leading "?" is not part of the first name.
  const text = query.startsWith("?") ? query.slice(1) : query;
  const out: Context["query"] = {};
  if (text === "") return out;
  for (const part of text.split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const name = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? "" : part.slice(eq + 1);
    if (Object.hasOwn(out, name)) {
      const had = out[name]!;
      // In place: a copy per repeat would make a query of n repeats cost n².
      if (Array.isArray(had)) had.push(value);
      else out[name] = [had, value];
      continue;
    }
    // "__proto__" is a name like any other (Koa defines each property): assigned, it would set the prototype.
    if (name === "__proto__") Object.defineProperty(out, name, { value, writable: true, enumerable: true, configurable: true });
    else out[name] = value;
  }
  return out;
}

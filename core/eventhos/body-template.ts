/** What an action's templates are filled from: the received event's body, headers and query. */
export interface TemplateSource {
  body: unknown;
  /** Lower-case names. */
  headers: Readonly<Record<string, string>>;
  query: Readonly<Record<string, string>>;
}

const placeholder = /\{\{\s*([^{}\s]+)\s*\}\}/g;
const whole = /^\{\{\s*([^{}\s]+)\s*\}\}$/;

/** `body`, `body.a.0.b`, `headers.x-id`, `query.id`; undefined when absent. */
export function lookup(path: string, source: TemplateSource): unknown {
  const [root, ...rest] = path.split(".");
  if (root === "headers") return source.headers[rest.join(".").toLowerCase()];
  if (root === "query") return source.query[rest.join(".")];
  if (root !== "body") return undefined;
  let value: unknown = source.body;
  for (const part of rest) {
    if (typeof value !== "object" || value === null || !Object.hasOwn(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

const asText = (v: unknown) => (v === undefined || v === null ? "" : typeof v === "string" ? v : JSON.stringify(v));

/** Fills placeholders in text; `encode` escapes each value (URL components). Absent values are empty. */
export function renderText(template: string, source: TemplateSource, encode: (s: string) => string = (s) => s): string {
  if (!template.includes("{{")) return template;
  return template.replace(placeholder, (_, path: string) => encode(asText(lookup(path, source))));
}

/**
 * Fills a JSON body template: in every string, placeholders become text, except that a string that
 * is exactly one placeholder becomes the value itself (number, object… ; null when absent).
 * Throws on a template that is not JSON (actions are checked when stored).
 */
export function renderJson(template: string, source: TemplateSource): unknown {
  const walk = (node: unknown): unknown => {
    if (typeof node === "string") {
      const m = whole.exec(node);
      if (m) return lookup(m[1]!, source) ?? null;
      return renderText(node, source);
    }
    if (Array.isArray(node)) return node.map(walk);
    if (typeof node === "object" && node !== null) {
      return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, walk(v)]));
    }
    return node;
  };
  return walk(JSON.parse(template) as unknown);
}

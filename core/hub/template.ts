import type { NamePair } from "../gen/herald/v1/event_pb.js";

const placeholder = /\{\{\s*([^{}\s]+)\s*\}\}/g;

/** A template split once into text and placeholders (`name`, and the placeholder as written). */
type Part = string | { name: string; whole: string };

/** Parsed templates by text: SendEvent renders the same few templates over and over. */
const parsed = new Map<string, Part[]>();
const PARSED_MAX = 1000;

function parse(template: string): Part[] {
  let parts = parsed.get(template);
  if (parts) return parts;
  parts = [];
  let last = 0;
  for (const m of template.matchAll(placeholder)) {
    if (m.index > last) parts.push(template.slice(last, m.index));
    parts.push({ name: m[1]!, whole: m[0] });
    last = m.index + m[0].length;
  }
  if (last < template.length) parts.push(template.slice(last));
  if (parsed.size >= PARSED_MAX) parsed.clear(); // bounded; a cache, not a store
  parsed.set(template, parts);
  return parts;
}

/** Fills `{{name}}` placeholders from name pairs; a placeholder with no pair stays as it is. */
export function renderTemplate(template: string, pairs: readonly NamePair[]): string {
  if (pairs.length === 0 || !template.includes("{{")) return template;
  let out = "";
  for (const part of parse(template)) {
    if (typeof part === "string") {
      out += part;
      continue;
    }
    // The last pair of a name wins, as with a Map built from the pairs in order.
    let value: string | undefined;
    for (const p of pairs) if (p.name === part.name) value = p.content;
    out += value ?? part.whole;
  }
  return out;
}

import type { NamePair } from "../gen/herald/v1/event_pb.js";

const placeholder = /\{\{\s*([^{}\s]+)\s*\}\}/g;

/** Fills `{{name}}` placeholders from name pairs; a placeholder with no pair stays as it is. */
export function renderTemplate(template: string, pairs: readonly NamePair[]): string {
  if (pairs.length === 0 || !template.includes("{{")) return template;
  const values = new Map(pairs.map((p) => [p.name, p.content]));
  return template.replace(placeholder, (whole, name: string) => values.get(name) ?? whole);
}

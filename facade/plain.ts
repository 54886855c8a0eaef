import { FormatError } from "./format-error.js";

/**
 * Readers for legacy bodies after parsing (JSON as sent, XML through parseXml): they accept what
 * the legacy clients really send (numbers and booleans as strings, one item instead of a list,
 * an empty element for an empty object) and refuse anything else, unknown fields included.
 */

export type Plain = Record<string, unknown>;

/** An object with only `allowed` keys; "" (an empty XML element) and absent read as {}. */
export function record(value: unknown, where: string, allowed: readonly string[]): Plain {
  if (value === undefined || value === "") return {};
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new FormatError(`${where} must be an object`);
  }
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw new FormatError(`unknown field ${where}.${key}`);
  }
  return value as Plain;
}

/** A list: absent or "" is empty, one item stands for a list of one. */
export function list(value: unknown): unknown[] {
  if (value === undefined || value === "" || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

/** A scalar as text; absent → undefined. */
export function text(value: unknown, where: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  throw new FormatError(`${where} must be a string`);
}

export function requiredText(value: unknown, where: string): string {
  const t = text(value, where)?.trim();
  if (!t) throw new FormatError(`${where} is required`);
  return t;
}

/** "true"/"false" in any case, or a JSON boolean; absent → `fallback`. */
export function bool(value: unknown, where: string, fallback: boolean): boolean {
  const t = text(value, where)?.trim().toLowerCase();
  if (t === undefined || t === "") return fallback;
  if (t === "true") return true;
  if (t === "false") return false;
  throw new FormatError(`${where} must be true or false`);
}

/** Fails when `value` nests deeper than `maxDepth` objects/arrays; iterative, so any depth is safe. */
export function checkDepth(value: unknown, maxDepth: number): void {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    if (depth > maxDepth) throw new FormatError(`body nested deeper than ${maxDepth} levels`);
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
}

const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Fails when a parsed JSON body nests deeper than `maxDepth`, holds a number JSON cannot carry
 * (JSON.parse reads 1e400 as Infinity) or a string or key with a lone surrogate ("\ud800"): kept,
 * either would make every later reader of the stored value fail. Iterative, so any depth is safe.
 */
export function checkJsonValue(value: unknown, maxDepth: number): void {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v === "number") {
      if (!Number.isFinite(v)) throw new FormatError("a number out of range (JSON numbers must be finite)");
    } else if (typeof v === "string") {
      if (LONE_SURROGATE.test(v)) throw new FormatError("a string with a lone surrogate (\\ud800–\\udfff without its pair)");
    } else if (typeof v === "object" && v !== null) {
      if (depth > maxDepth) throw new FormatError(`body nested deeper than ${maxDepth} levels`);
      if (Array.isArray(v)) for (const child of v) stack.push([child, depth + 1]);
      else
        for (const [key, child] of Object.entries(v)) {
          if (LONE_SURROGATE.test(key)) throw new FormatError("a key with a lone surrogate (\\ud800–\\udfff without its pair)");
          stack.push([child, depth + 1]);
        }
    }
  }
}

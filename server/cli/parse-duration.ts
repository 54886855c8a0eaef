const SECONDS: Record<string, bigint> = { s: 1n, m: 60n, h: 3600n, d: 86_400n, w: 604_800n };

/**
 * A lifetime as an operator types it, `3600s`, `90m`, `12h`, `30d` or `2w`, in seconds; undefined
 * for anything else. The unit is required: a bare `30` could mean seconds or days.
 */
export function parseDuration(text: string): bigint | undefined {
  const m = /^(\d{1,12})([smhdw])$/.exec(text.trim());
  if (!m) return undefined;
  const seconds = BigInt(m[1] as string) * (SECONDS[m[2] as string] as bigint);
  return seconds > 0n ? seconds : undefined;
}

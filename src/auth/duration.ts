// "--expires-in" values: 90 (seconds), 30s, 15m, 1h, 7d, 2w; "never" for a token with no exp.
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/** Seconds, or null for "never"; undefined when the text is not a duration. */
export function parseDuration(text: string): number | null | undefined {
  const value = text.trim().toLowerCase();
  if (value === 'never') return null;
  const match = /^(\d+)\s*([smhdw]?)$/.exec(value);
  if (!match) return undefined;
  const seconds = Number(match[1]) * UNIT_SECONDS[match[2] || 's'];
  return seconds > 0 && Number.isSafeInteger(seconds) ? seconds : undefined;
}

// Durations as fault directives and rules write them: `300ms`, `2s`, `1.5s`, `1m`. A bare number
// is refused rather than guessed (seconds or milliseconds?).

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };

/** The longest duration a directive may ask for: an hour, so a typo cannot hold a run for days. */
export const MAX_FAULT_DURATION_MS = 3_600_000;

/** Milliseconds, or undefined when `text` is not a duration in range. */
export function parseFaultDuration(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(text.trim());
  if (!match) return undefined;
  const ms = Math.round(Number(match[1]) * UNITS[match[2]]);
  return ms <= MAX_FAULT_DURATION_MS ? ms : undefined;
}

/** The shortest way to write `ms` back: `300ms`, `2s`. */
export function formatFaultDuration(ms: number): string {
  return ms % 1000 === 0 && ms > 0 ? `${ms / 1000}s` : `${ms}ms`;
}

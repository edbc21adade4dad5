// The server's defaults are defined once (src/defaults.ts); the CLI's help text and the options
// table in docs/configuration.md must say the same, option for option.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { USAGE } from '../src/cli/main.ts';
import { DEFAULTS } from '../src/defaults.ts';

/** Which default each option takes; options absent here have none. */
const DEFAULT_OF: Record<string, keyof typeof DEFAULTS> = {
  '--port': 'port',
  '--host': 'host',
  '--project-id': 'projectId',
  '--log-level': 'logLevel',
  '--max-queue': 'maxQueue',
  '--max-queue-bytes': 'maxQueueBytes',
  '--request-timeout-ms': 'requestTimeoutMs',
  '--stream-stall-ms': 'streamStallMs',
  '--abort-grace-ms': 'abortGraceMs',
  '--body-limit': 'bodyLimit',
  '--data-dir': 'dataDir',
  '--run-lease-ms': 'runLeaseMs',
  '--python': 'python',
  '--healthcheck-interval-ms': 'healthcheckIntervalMs',
  '--webhook-retry-delay-ms': 'webhookRetryDelayMs',
  '--shutdown-grace-ms': 'shutdownGraceMs',
  '--max-json-depth': 'maxJsonDepth',
  '--retain-runs': 'retainRuns',
  '--retain-runs-days': 'retainRunsDays',
  '--max-stored-result-bytes': 'maxStoredResultBytes',
};

/** `| option | env | default | what |` rows of docs/configuration.md, by option. */
function documentedDefaults(): Map<string, string> {
  const text = readFileSync(new URL('../docs/configuration.md', import.meta.url), 'utf8');
  const rows = new Map<string, string>();
  for (const m of text.matchAll(/^\| `(--[a-z-]+)` \|[^|]*\|([^|]*)\|/gm)) rows.set(m[1], m[2].trim());
  return rows;
}

/** The options of `serve` in the help text (the token and init commands have their own). */
const usageOptions = () => [
  ...new Set([...USAGE.split('Other commands:')[0].matchAll(/^\s+(--[a-z-]+)/gm)].map((m) => m[1]).filter((o) => o !== '--help')),
];

describe('defaults', () => {
  it('lists every serve option of the help text in the docs table, and no other', () => {
    const documented = [...documentedDefaults().keys()].sort();
    expect(usageOptions().length).toBeGreaterThan(10);
    expect(documented).toEqual(usageOptions().sort());
  });

  it('gives each option the same default in the help text, the docs table and src/defaults.ts', () => {
    const documented = documentedDefaults();
    for (const [option, key] of Object.entries(DEFAULT_OF)) {
      const value = String(DEFAULTS[key]);
      expect(documented.get(option), `${option} in docs/configuration.md`).toBe(value);
      const help = USAGE.slice(USAGE.indexOf(option)).split(/\n {2}--/)[0];
      expect(help, `${option} in the help text`).toContain(`default ${value}`);
    }
  });

  it('shows no default in the docs for an option that has none', () => {
    for (const [option, shown] of documentedDefaults()) {
      if (!(option in DEFAULT_OF)) expect(shown, option).toBe('');
    }
  });
});

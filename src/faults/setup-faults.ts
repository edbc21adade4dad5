// At start: whether fault injection is on (--allow-faults for the header and /_local/faults,
// --faults FILE for rules), the rules file read (a bad one stops start-up), and with --watch the
// file followed. Off (neither given): no injector, and calls pay nothing.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { FaultInjector } from './fault-injector.ts';
import { loadFaultRulesFile, watchFaultRulesFile } from './rules-file.ts';

export interface FaultOptions {
  /** --allow-faults: honour the x-cerebrium-local-fault header and serve /_local/faults. */
  allowFaults?: boolean;
  /** --faults FILE: server-wide rules (TOML). */
  faultsFile?: string;
  /** --faults-seed: the seed of the rules' draws, for repeatable runs. */
  faultsSeed?: number;
  /** --watch: reload the rules file when it changes. */
  watch?: boolean;
}

export interface FaultSetup {
  injector: FaultInjector | undefined;
  /** Stops following the rules file. */
  stop(): void;
}

export async function setUpFaults(options: FaultOptions, registry: Registry, log: Logger): Promise<FaultSetup> {
  const { allowFaults = false, faultsFile, faultsSeed, watch = false } = options;
  if (!allowFaults && faultsFile === undefined) return { injector: undefined, stop: () => {} };
  const rules = faultsFile === undefined ? undefined : await loadFaultRulesFile(faultsFile);
  const injector = new FaultInjector({ allowHeader: allowFaults, seed: faultsSeed, rules });
  injector.registerMetrics(registry);
  // Loud on purpose: a server that fails calls on purpose must never be mistaken for a broken one.
  log.warn(
    { allowHeader: allowFaults, rules: rules?.rules.length ?? 0, seed: injector.describe().seed, file: faultsFile },
    'fault injection is on: calls may fail on purpose (docs/testing-your-client.md)',
  );
  if (faultsFile === undefined || !watch) return { injector, stop: () => {} };
  const stop = watchFaultRulesFile(faultsFile, {
    reloaded(next) {
      injector.setRules(next);
      log.warn({ file: faultsFile, rules: next.rules.length }, 'fault rules reloaded');
    },
    failed(err) {
      log.error({ err, file: faultsFile }, 'fault rules file not reloaded; the rules in force stay');
    },
  });
  return { injector, stop };
}

// Which faults a call gets: its x-cerebrium-local-fault header (honoured only with --allow-faults)
// over the server-wide rules that match its app and function and fire (seeded draws). Each fault
// given out is counted in /metrics by app, function and kind. With no rules and the header not
// allowed, `active` is false and a call costs one boolean check.
import { Counter, type Registry } from 'prom-client';
import { CerebriumLocalError } from '../errors.ts';
import { type FaultPlan, FaultSyntaxError, kindsOf, mergePlans, parseDirectives, withoutWebhook } from './directives.ts';
import { describeRule, type FaultRule, type FaultRuleSet } from './fault-rules.ts';
import { SeededSampler } from './seeded-sampler.ts';

export const FAULT_HEADER = 'x-cerebrium-local-fault';

export interface FaultInjectorOptions {
  /** --allow-faults: read the header (and serve PUT/DELETE /_local/faults). */
  allowHeader: boolean;
  /** --faults-seed: the draws' seed, kept across reloads of the rules file; random when absent. */
  seed?: number;
  rules?: FaultRuleSet;
}

export class FaultInjector {
  readonly allowHeader: boolean;
  private rules: FaultRule[] = [];
  private sampler: SeededSampler;
  private readonly fixedSeed: number | undefined;
  private counter: Counter<'app' | 'function' | 'kind'> | undefined;

  constructor(options: FaultInjectorOptions) {
    this.allowHeader = options.allowHeader;
    this.fixedSeed = options.seed;
    this.sampler = new SeededSampler(options.seed);
    if (options.rules) this.setRules(options.rules);
  }

  /** True when a call may get a fault: the one check the hot path makes. */
  get active(): boolean {
    return this.allowHeader || this.rules.length > 0;
  }

  /** Counts faults given out as cerebrium_local_faults_total{app, function, kind} in `registry`. */
  registerMetrics(registry: Registry, prefix = 'cerebrium_local_'): void {
    this.counter = new Counter({
      name: `${prefix}faults_total`,
      help: 'Faults injected into calls (x-cerebrium-local-fault, --faults, /_local/faults), by app, function and kind',
      labelNames: ['app', 'function', 'kind'],
      registers: [registry],
    });
  }

  /**
   * Replaces the rules. The draws restart from the rules' own seed, else --faults-seed, so the same
   * rules and calls give the same faults; with neither, they go on from where they were.
   */
  setRules(set: FaultRuleSet): void {
    this.rules = set.rules;
    const seed = set.seed ?? this.fixedSeed;
    if (seed !== undefined) this.sampler = new SeededSampler(seed);
  }

  clearRules(): void {
    this.setRules({ rules: [] });
  }

  /** The rules in force and the draws' seed, as GET /_local/faults shows them. */
  describe(): { allowHeader: boolean; seed: number; rules: Array<ReturnType<typeof describeRule>> } {
    return { allowHeader: this.allowHeader, seed: this.sampler.seed, rules: this.rules.map(describeRule) };
  }

  /**
   * The faults for one call of `fn` in `app`, or undefined for none. A header that does not parse
   * is a 400 invalid_fault: a test that meant to provoke a fault must not silently get none.
   */
  planFor(app: string, fn: string, header: string | undefined): FaultPlan | undefined {
    return this.withRules(app, fn, this.allowHeader && header !== undefined ? parseHeader(header) : undefined);
  }

  /**
   * The faults for one request forwarded to a custom runtime, its path matched as the function:
   * as planFor, less webhook=, which has nothing to act on there (such a request is never async,
   * so it has no webhook). Asked for in the header it is a 400 invalid_fault, so a test that meant
   * it learns at once; from a rule meant for function apps too, it is left out.
   */
  planForForwarded(app: string, path: string, header: string | undefined): FaultPlan | undefined {
    const fromHeader = this.allowHeader && header !== undefined ? parseHeader(header) : undefined;
    if (fromHeader?.webhook) {
      throw new CerebriumLocalError(
        'invalid_fault',
        `${FAULT_HEADER}: webhook= does not apply to a custom runtime, whose requests are never async and have no webhook`,
      );
    }
    const plan = this.withRules(app, path, fromHeader);
    return plan && withoutWebhook(plan);
  }

  /** `plan` with what the rules that match and fire add to it. */
  private withRules(app: string, fn: string, fromHeader: FaultPlan | undefined): FaultPlan | undefined {
    let plan = fromHeader;
    for (const rule of this.rules) {
      if (rule.matches(app, fn) && this.sampler.fires(rule.probability)) plan = mergePlans(plan, rule.plan);
    }
    return plan;
  }

  /** Counts a plan once it is given to a run (not for calls refused before one exists). */
  count(app: string, fn: string, plan: FaultPlan): void {
    if (!this.counter) return;
    for (const kind of kindsOf(plan)) this.counter.labels(app, fn, kind).inc();
  }
}

function parseHeader(header: string): FaultPlan {
  try {
    return parseDirectives(header);
  } catch (err) {
    if (err instanceof FaultSyntaxError) throw new CerebriumLocalError('invalid_fault', `${FAULT_HEADER}: ${err.message}`);
    throw err;
  }
}

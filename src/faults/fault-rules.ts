// Server-wide fault rules: from --faults FILE (TOML) or PUT /_local/faults (JSON), the same shape:
//   { seed?: N, rules: [{ app = "demo", function = "run*", probability = 0.5, fault = "status=503" }] }
// `app` and `function` are patterns (`*` any run of characters, `?` one); both default to `*`.
// `fault` holds the same directives as the x-cerebrium-local-fault header.
import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { type FaultPlan, FaultSyntaxError, parseDirectives } from './directives.ts';

const RuleSchema = Type.Object(
  {
    app: Type.Optional(Type.String({ minLength: 1 })),
    function: Type.Optional(Type.String({ minLength: 1 })),
    probability: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    fault: Type.String({ minLength: 1 }),
  },
  { additionalProperties: false },
);

export const FaultRulesSchema = Type.Object(
  {
    /** Reseeds the draws (PUT); a file's rules take --faults-seed instead when it is given. */
    seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 32 - 1 })),
    rules: Type.Array(RuleSchema, { maxItems: 1000 }),
  },
  { additionalProperties: false },
);

/** One rule, read and ready to match. */
export interface FaultRule {
  app: string;
  function: string;
  probability: number;
  /** The directives as given, and what they ask for. */
  fault: string;
  plan: FaultPlan;
  matches(app: string, fn: string): boolean;
}

export interface FaultRuleSet {
  seed?: number;
  rules: FaultRule[];
}

/** Rules that are not of the shape above, or whose directives do not parse; the message says where. */
export class FaultRulesError extends Error {
  override name = 'FaultRulesError';
}

/** Checks `input` (a parsed TOML file or a JSON body) and reads each rule's directives. */
export function readFaultRules(input: unknown): FaultRuleSet {
  if (!Value.Check(FaultRulesSchema, input)) {
    const first = Value.Errors(FaultRulesSchema, input).First();
    const where = first?.path ? ` at ${first.path}` : '';
    throw new FaultRulesError(`Fault rules are not valid${where}: ${first?.message ?? 'unexpected shape'}`);
  }
  const rules = input.rules.map((rule, i) => {
    let plan: FaultPlan;
    try {
      plan = parseDirectives(rule.fault);
    } catch (err) {
      if (err instanceof FaultSyntaxError) throw new FaultRulesError(`Fault rule ${i + 1}: ${err.message}`);
      throw err;
    }
    const app = rule.app ?? '*';
    const fn = rule.function ?? '*';
    const appPattern = globToRegExp(app);
    const fnPattern = globToRegExp(fn);
    return {
      app,
      function: fn,
      probability: rule.probability ?? 1,
      fault: rule.fault,
      plan,
      matches: (appName: string, functionName: string) => appPattern.test(appName) && fnPattern.test(functionName),
    };
  });
  return input.seed === undefined ? { rules } : { seed: input.seed, rules };
}

/** A rule as the API shows it back. */
export function describeRule(rule: FaultRule): { app: string; function: string; probability: number; fault: string } {
  return { app: rule.app, function: rule.function, probability: rule.probability, fault: rule.fault };
}

function globToRegExp(pattern: string): RegExp {
  const body = [...pattern].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('');
  return new RegExp(`^${body}$`);
}

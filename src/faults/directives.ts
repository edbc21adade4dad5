// The directives of one fault, as the x-cerebrium-local-fault header and the rules write them:
// `;`-separated, e.g. `status=503`, `latency=300ms;cold`, `drop-after=3`, `reset`,
// `webhook=drop`, `webhook=status=500`, `webhook=delay=2s`. A plan is what they ask for together;
// its `text` is the canonical spelling shown in the run record, the log line and the metrics.
import { formatFaultDuration, parseFaultDuration } from './duration.ts';

/** The statuses a fault can answer with: those the real service's gateway gives. */
export const INJECTABLE_STATUSES = [429, 500, 502, 503, 504] as const;
export type InjectableStatus = (typeof INJECTABLE_STATUSES)[number];

/** What happens to a run's webhook deliveries. */
export interface WebhookFault {
  /** No delivery is made at all. */
  drop?: boolean;
  /** Deliveries carry the error body of a run that answered this status, whatever the run did. */
  status?: InjectableStatus;
  /** The first delivery waits this long after the run ends. */
  delayMs?: number;
}

export interface FaultPlan {
  /** The call is answered with this status and its catalogued body; the function never runs. */
  status?: InjectableStatus;
  /** Added before the function runs (on top of any queueing). */
  latencyMs?: number;
  /** The run waits for a replica started for it, as a cold start does. */
  cold?: boolean;
  /** A stream is cut after this many events: the connection closes, no final event. */
  dropAfter?: number;
  /** The connection is destroyed instead of answered. */
  reset?: boolean;
  webhook?: WebhookFault;
  /** The directives, spelled canonically: what the run record, log line and metrics show. */
  text: string;
}

/** The kinds a plan counts under in /metrics (`kind` label). */
export type FaultKind = 'status' | 'latency' | 'cold' | 'drop-after' | 'reset' | 'webhook';

/** A directive the parser cannot read; the message names it. */
export class FaultSyntaxError extends Error {
  override name = 'FaultSyntaxError';
}

type Directives = Omit<FaultPlan, 'text'>;

/** Reads `text` (one header value or one rule's `fault`); throws FaultSyntaxError naming the bad directive. */
export function parseDirectives(text: string): FaultPlan {
  const plan: Directives = {};
  const parts = text
    .split(';')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  if (parts.length === 0) throw new FaultSyntaxError('No fault directive given');
  for (const part of parts) applyDirective(plan, part);
  return withText(plan);
}

function applyDirective(plan: Directives, part: string): void {
  const eq = part.indexOf('=');
  const name = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase();
  const value = eq === -1 ? undefined : part.slice(eq + 1).trim();
  const needValue = (): string => {
    if (value === undefined || value === '') throw new FaultSyntaxError(`"${name}" needs a value (${name}=…)`);
    return value;
  };
  if (name === 'status') plan.status = parseStatus(needValue(), 'status');
  else if (name === 'latency') plan.latencyMs = parseDuration(needValue(), 'latency');
  else if (name === 'drop-after') plan.dropAfter = parseCount(needValue());
  else if (name === 'webhook') plan.webhook = { ...plan.webhook, ...parseWebhook(needValue()) };
  else if (name === 'cold' || name === 'reset') {
    if (value !== undefined) throw new FaultSyntaxError(`"${name}" takes no value`);
    plan[name] = true;
  } else {
    throw new FaultSyntaxError(`Unknown fault directive "${part}" (status=, latency=, cold, drop-after=, reset, webhook=)`);
  }
}

function parseStatus(value: string, what: string): InjectableStatus {
  const status = INJECTABLE_STATUSES.find((s) => String(s) === value);
  if (status === undefined) throw new FaultSyntaxError(`${what} must be one of ${INJECTABLE_STATUSES.join(', ')}, got "${value}"`);
  return status;
}

function parseDuration(value: string, what: string): number {
  const ms = parseFaultDuration(value);
  if (ms === undefined) throw new FaultSyntaxError(`${what} must be a duration such as 300ms, 2s or 1m (at most 1 hour), got "${value}"`);
  return ms;
}

function parseCount(value: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new FaultSyntaxError(`drop-after must be a whole number of events, got "${value}"`);
  }
  return Number(value);
}

/** `drop`, `status=CODE` or `delay=DURATION`. */
function parseWebhook(value: string): WebhookFault {
  if (value === 'drop') return { drop: true };
  const eq = value.indexOf('=');
  const name = eq === -1 ? value : value.slice(0, eq);
  const arg = eq === -1 ? '' : value.slice(eq + 1);
  if (name === 'status') return { status: parseStatus(arg, 'webhook=status') };
  if (name === 'delay') return { delayMs: parseDuration(arg, 'webhook=delay') };
  throw new FaultSyntaxError(`webhook must be drop, status=CODE or delay=DURATION, got "${value}"`);
}

/**
 * `first` with what `second` adds where `first` says nothing: a header's directives over a rule's,
 * an earlier rule's over a later one's.
 */
export function mergePlans(first: FaultPlan | undefined, second: FaultPlan | undefined): FaultPlan | undefined {
  if (!first) return second;
  if (!second) return first;
  const { text: _a, ...a } = first;
  const { text: _b, ...b } = second;
  const webhook = a.webhook || b.webhook ? { ...b.webhook, ...a.webhook } : undefined;
  return withText({ ...b, ...a, ...(webhook ? { webhook } : {}) });
}

/** `plan` less its webhook faults (where there is no webhook to fault); undefined when nothing else is left. */
export function withoutWebhook(plan: FaultPlan): FaultPlan | undefined {
  if (!plan.webhook) return plan;
  const { text: _text, webhook: _webhook, ...rest } = plan;
  return Object.keys(rest).length === 0 ? undefined : withText(rest);
}

/** The canonical spelling, in a fixed order, so the same fault always reads the same. */
function withText(plan: Directives): FaultPlan {
  const parts: string[] = [];
  if (plan.status !== undefined) parts.push(`status=${plan.status}`);
  if (plan.latencyMs !== undefined) parts.push(`latency=${formatFaultDuration(plan.latencyMs)}`);
  if (plan.cold) parts.push('cold');
  if (plan.dropAfter !== undefined) parts.push(`drop-after=${plan.dropAfter}`);
  if (plan.reset) parts.push('reset');
  if (plan.webhook?.drop) parts.push('webhook=drop');
  if (plan.webhook?.status !== undefined) parts.push(`webhook=status=${plan.webhook.status}`);
  if (plan.webhook?.delayMs !== undefined) parts.push(`webhook=delay=${formatFaultDuration(plan.webhook.delayMs)}`);
  return { ...plan, text: parts.join(';') };
}

/** The kinds a plan holds, for the metrics' `kind` label. */
export function kindsOf(plan: FaultPlan): FaultKind[] {
  const kinds: FaultKind[] = [];
  if (plan.status !== undefined) kinds.push('status');
  if (plan.latencyMs !== undefined) kinds.push('latency');
  if (plan.cold) kinds.push('cold');
  if (plan.dropAfter !== undefined) kinds.push('drop-after');
  if (plan.reset) kinds.push('reset');
  if (plan.webhook) kinds.push('webhook');
  return kinds;
}

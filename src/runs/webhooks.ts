// ?webhookEndpoint=: once a run ends, its outcome (the body a sync caller gets) is POSTed there,
// after the caller has had its answer. 3 attempts in all; only network errors, timeouts and 404
// are retried, as on Cerebrium. Every attempt is recorded in the run repository.

import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { Agent, request } from 'undici';
import { CerebriumLocalError } from '../errors.ts';
import { waitAtMost } from './drain-runs.ts';
import { faultedDelivery } from './injected-faults.ts';
import type { Run } from './run.ts';
import type { DescribeOutcome } from './run-outcome.ts';
import type { RunRepository } from './run-repository.ts';
import { WebhookAddressPolicy } from './webhook-address.ts';
import { signatureHeaders } from './webhook-signature.ts';

export const WEBHOOK_ATTEMPTS = 3;

export interface WebhookTarget {
  /** The URL without any user:password part: what is stored, logged and shown. */
  url: string;
  /** From the call's X-Webhook-Secret header: signs each delivery. Never stored. */
  secret?: string;
  /** `Basic …` from credentials in the URL, sent with each delivery. Kept in memory only, never stored. */
  authorization?: string;
}

export interface WebhookSenderOptions {
  repository: RunRepository;
  describe: DescribeOutcome;
  log: Logger;
  /** Wait between attempts (Cerebrium: up to 5 s). */
  retryDelayMs: number;
  /** How long one attempt may take before it counts as timed out. */
  timeoutMs: number;
  /** --webhook-deny-private: refuse loopback and private addresses too (link-local always is). */
  denyPrivate?: boolean;
}

/**
 * The call's webhookEndpoint, checked when the call is made so a bad one is a 400 then, not a silent
 * loss later. Credentials in it (user:password@) become a Basic Authorization header and leave the URL.
 */
export function parseWebhookEndpoint(raw: unknown): { url: URL; authorization?: string } {
  if (typeof raw !== 'string') throw new CerebriumLocalError('invalid_webhook_endpoint', 'Give webhookEndpoint once, as one URL');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CerebriumLocalError('invalid_webhook_endpoint', `webhookEndpoint is not a URL: "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CerebriumLocalError('invalid_webhook_endpoint', `webhookEndpoint must be an http:// or https:// URL, got "${url.protocol}"`);
  }
  if (url.username === '' && url.password === '') return { url };
  const user = decodeCredential(url.username);
  const password = decodeCredential(url.password);
  url.username = '';
  url.password = '';
  return { url, authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}

/** A %-encoded user or password; broken encoding is a 400 that does not repeat it. */
function decodeCredential(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new CerebriumLocalError('invalid_webhook_endpoint', "webhookEndpoint's user:password part is not valid %-encoding");
  }
}

export class WebhookSender {
  private readonly policy: WebhookAddressPolicy;
  // Every connection resolves through the policy, so the address dialled is the address checked.
  // undici's request() follows no redirects, so a 3xx is an answer (recorded), never a second hop.
  private readonly agent: Agent;
  private readonly deliveries = new Set<Promise<void>>();
  /** Deliveries waiting for their run's end, by run id: one withdrawn sends nothing. */
  private readonly waiting = new Map<string, { withdrawn: boolean }>();
  /** Aborts at shutdown; every delivery waiting on its run listens to it, so it has no listener limit. */
  private readonly stopping = unlimitedAbortController();

  constructor(private readonly options: WebhookSenderOptions) {
    this.policy = new WebhookAddressPolicy(options.denyPrivate ?? false);
    this.agent = new Agent({ keepAliveTimeout: 4_000, connect: { lookup: this.policy.lookup } });
  }

  /** A call's ?webhookEndpoint= (and X-Webhook-Secret) as a target: the 400 for a bad or refused one. */
  async target(raw: unknown, secret: string | undefined): Promise<WebhookTarget> {
    const { url, authorization } = parseWebhookEndpoint(raw);
    await this.policy.check(url);
    return { url: url.href, ...(secret === undefined ? {} : { secret }), ...(authorization === undefined ? {} : { authorization }) };
  }

  /** Delivers the run's outcome once it has ended; returns at once. */
  sendWhenDone(run: Run, target: WebhookTarget): void {
    const state = { withdrawn: false };
    this.waiting.set(run.id, state);
    const delivery = this.deliverWhenDone(run, target, state).catch((err: unknown) => {
      this.options.log.error({ err, run_id: run.id }, 'webhook delivery failed unexpectedly');
    });
    this.deliveries.add(delivery);
    void delivery.finally(() => {
      this.deliveries.delete(delivery);
      if (this.waiting.get(run.id) === state) this.waiting.delete(run.id);
    });
  }

  /**
   * Sends nothing for this run when it ends: this server no longer holds it (a deployment's other
   * server does, and sends its webhook). A delivery already begun goes on.
   */
  withdraw(runId: string): void {
    const state = this.waiting.get(runId);
    if (state) state.withdrawn = true;
  }

  /** Lets deliveries in progress finish for up to `graceMs`, then abandons the rest. */
  async close(graceMs: number): Promise<void> {
    if (this.deliveries.size > 0) await waitAtMost(Promise.allSettled([...this.deliveries]), graceMs);
    this.stopping.abort(new Error('The server is shutting down'));
    await Promise.allSettled([...this.deliveries]);
    await this.agent.close();
  }

  private async deliverWhenDone(run: Run, target: WebhookTarget, state: { withdrawn: boolean }): Promise<void> {
    await this.settledOrStopping(run);
    if (!run.done || state.withdrawn) return;
    // The same body the caller got (an async caller got only {run_id}, so this is where its result goes).
    let body = this.options.describe(run).body;
    const fault = run.fault?.webhook;
    if (fault) {
      const faulted = await faultedDelivery(run, fault, this.stopping.signal, this.options.log);
      if (faulted === undefined) return;
      body = faulted ?? body;
    }
    for (let attempt = 1; attempt <= WEBHOOK_ATTEMPTS; attempt += 1) {
      if (attempt > 1) {
        try {
          await sleep(this.options.retryDelayMs, undefined, { signal: this.stopping.signal });
        } catch {
          return;
        }
      }
      if (!(await this.attempt(run.id, target, body, attempt))) return;
    }
    this.options.log.warn({ run_id: run.id, webhook: target.url }, `webhook not delivered after ${WEBHOOK_ATTEMPTS} attempts`);
  }

  private async settledOrStopping(run: Run): Promise<void> {
    const signal = this.stopping.signal;
    let onStop = () => {};
    const stopped = new Promise<void>((resolve) => (onStop = resolve));
    signal.addEventListener('abort', onStop, { once: true });
    try {
      await Promise.race([run.settled(), stopped]);
    } finally {
      signal.removeEventListener('abort', onStop);
    }
  }

  /** One POST, recorded in the store. Returns whether another attempt should follow. */
  private async attempt(runId: string, target: WebhookTarget, body: string, attempt: number): Promise<boolean> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'cerebrium-local',
      'x-request-id': runId,
      ...(target.secret === undefined ? {} : signatureHeaders(target.secret, runId, body)),
      ...(target.authorization === undefined ? {} : { authorization: target.authorization }),
    };
    const at = Date.now();
    const started = performance.now();
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    let statusCode: number | null = null;
    let error: string | null = null;
    try {
      const res = await request(target.url, {
        method: 'POST',
        headers,
        body,
        dispatcher: this.agent,
        signal: AbortSignal.any([timeout, this.stopping.signal]),
      });
      statusCode = res.statusCode;
      await res.body.dump().catch(() => undefined);
    } catch (err) {
      error = timeout.aborted ? `timed out after ${this.options.timeoutMs} ms` : describeNetworkError(err);
    }
    this.options.repository.recordWebhookAttempt(runId, { attempt, at, durationMs: performance.now() - started, statusCode, error });
    if (statusCode !== null && statusCode >= 200 && statusCode < 300) return false;
    if (this.stopping.signal.aborted) return false;
    const retry = statusCode === null || statusCode === 404;
    this.options.log.warn(
      { run_id: runId, webhook: target.url, attempt, status: statusCode ?? undefined, error: error ?? undefined },
      retry && attempt < WEBHOOK_ATTEMPTS ? 'webhook attempt failed; retrying' : 'webhook attempt failed',
    );
    return retry;
  }
}

function describeNetworkError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as NodeJS.ErrnoException).code ?? (err.cause as NodeJS.ErrnoException | undefined)?.code;
  return code && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
}

function unlimitedAbortController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}

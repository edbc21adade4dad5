// RunService over a real AppRuntime, a real SQLite run repository (in memory) and a real webhook
// sender, with the app's functions run in-process by InProcessBackend: a run's whole life (start,
// queue, cancel, timeouts, replacement, drain, records) without worker threads or an HTTP server.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { AppFunction, LoadedApp } from '../../src/apps/app-registry.ts';
import { type FunctionDirectory, resolveApp, resolveFunction } from '../../src/apps/resolve-function.ts';
import { type AppConfig, loadAppConfig, type ScalingConfig } from '../../src/config/load-config.ts';
import { CerebriumLocalError } from '../../src/errors.ts';
import { CHUNK_CREDIT_WINDOW } from '../../src/replica-protocol.ts';
import type { Run } from '../../src/runs/run.ts';
import { runOutcome } from '../../src/runs/run-outcome.ts';
import { type RunRef, type RunRequest, RunService } from '../../src/runs/run-service.ts';
import { SqliteRunRepository } from '../../src/runs/sqlite-run-repository.ts';
import { WebhookSender } from '../../src/runs/webhooks.ts';
import { AppRuntime } from '../../src/runtime/app-runtime.ts';
import { InProcessBackend, type InProcessFunction } from '../helpers/in-process-backend.ts';

const log = pino({ level: 'silent' });
const PROJECT = 'p-test';
const BASIC_APP = fileURLToPath(new URL('../fixtures/basic-app', import.meta.url));

/** test/fixtures/basic-app's own config (app "basic"); each test sets the scaling it needs. */
let basic: AppConfig;
beforeAll(async () => {
  basic = (await loadAppConfig(BASIC_APP)).config;
});

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const step of cleanups.splice(0).reverse()) await step();
});

interface Gate {
  promise: Promise<void>;
  open(): void;
}

/** A promise the test opens by hand; every gate is opened after the test so no function is left waiting. */
function gate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  cleanups.push(() => open());
  return { promise, open };
}

/** Resolves once `signal` aborts. */
const aborted = (signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });

interface HarnessOptions {
  functions: Record<string, InProcessFunction>;
  /** Over basic-app's [cerebrium.scaling]; capacity is one run at a time unless a test says otherwise. */
  scaling?: Partial<ScalingConfig>;
  /** Extra fields of an AppFunction (validateParams, kind), by name. */
  info?: Record<string, Partial<AppFunction>>;
  maxQueue?: number;
  abortGraceMs?: number;
}

function harness(options: HarnessOptions) {
  const config: AppConfig = {
    ...basic,
    scaling: { ...basic.scaling, maxReplicas: 1, replicaConcurrency: 1, responseGracePeriod: 30, ...options.scaling },
  };
  const backend = new InProcessBackend(options.functions);
  const runtime = new AppRuntime(config, backend, { maxQueue: options.maxQueue ?? 10, abortGraceMs: options.abortGraceMs ?? 60_000 });
  const functions = new Map<string, AppFunction>();
  for (const name of Object.keys(options.functions)) {
    functions.set(name, { name, file: join(config.dir, 'main.ts'), kind: 'function', ...options.info?.[name] });
  }
  const app: LoadedApp = { config, functions, runtime };
  const registry = { draining: false, ready: true, get: (name: string) => (name === config.name ? app : undefined), names: [config.name] };
  const apps: FunctionDirectory = {
    resolve: (appName, functionName) => resolveFunction(registry, appName, functionName),
    resolveApp: (appName) => resolveApp(registry, appName),
  };

  const repository = SqliteRunRepository.open({ log });
  const describeOutcome = (run: Run) => runOutcome(run, false);
  const webhooks = new WebhookSender({ repository, describe: describeOutcome, log, retryDelayMs: 10, timeoutMs: 2_000 });
  const service = new RunService({ apps, repository, webhooks, log, describe: describeOutcome });
  cleanups.push(async () => {
    await webhooks.close(0);
    await runtime.close();
    await repository.close();
  });

  const request = (functionName: string, params: Record<string, unknown> = {}): RunRequest => ({
    projectId: PROJECT,
    appName: config.name,
    functionName,
    params,
  });
  const ref = (run: Run): RunRef => ({ projectId: PROJECT, appName: config.name, runId: run.id });
  const list = (asyncOnly = false) => service.list({ projectId: PROJECT, appName: config.name, asyncOnly, limit: 50 });
  return { service, runtime, backend, repository, request, ref, list };
}

/** Resolves once `run` has begun on a replica; rejects if it ends without having begun. */
function whenRunning(run: Run): Promise<void> {
  if (run.status === 'running') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onTransition = () => {
      if (run.status !== 'running' && !run.done) return;
      run.off('transition', onTransition);
      if (run.status === 'running') resolve();
      else reject(new Error(`The run ended (${run.status}) without having begun`));
    };
    run.on('transition', onTransition);
  });
}

/** Lets every pending callback of this turn run. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Waits for its abort and stops, as a function that honours ctx.signal does. */
const cooperative = async (_params: unknown, signal: AbortSignal) => {
  await aborted(signal);
  throw signal.reason;
};

describe('RunService: runs that end on their own', () => {
  it('settles a run as success and stores its result, status code and sync flag', async () => {
    const { service, request, ref } = harness({ functions: { echo: async (params) => ({ echo: params }) } });
    const started = service.start(request('echo', { x: 1 }));
    expect(started.stream).toBe(false);

    const run = await started.settled;
    expect(run.status).toBe('success');
    expect(run.resultJson).toBe('{"echo":{"x":1}}');
    const record = await service.get(ref(run));
    expect(record).toMatchObject({
      id: run.id,
      projectId: PROJECT,
      appName: 'basic',
      functionName: 'echo',
      async: false,
      status: 'success',
      statusCode: 200,
      paramsJson: '{"x":1}',
      resultJson: '{"echo":{"x":1}}',
      errorJson: null,
      webhookEndpoint: null,
    });
    expect(record.startedAt).toBe(run.startedAt?.getTime());
    expect(record.completedAt).toBe(run.completedAt?.getTime());
    expect(record.webhookAttempts).toBeUndefined();
  });

  it('stores the status code a function chose with status_code', async () => {
    const { service, request, ref } = harness({ functions: { made: async () => ({ status_code: 201, id: 7 }) } });
    const run = await service.start(request('made')).settled;
    expect(await service.get(ref(run))).toMatchObject({ status: 'success', statusCode: 201, resultJson: '{"status_code":201,"id":7}' });
  });

  it('settles a run whose function throws as failure and stores the error its caller got', async () => {
    const { service, request, ref } = harness({
      functions: {
        explode: async () => {
          throw new TypeError('bad input');
        },
      },
    });
    const run = await service.start(request('explode')).settled;
    expect(run.status).toBe('failure');
    expect(run.error).toMatchObject({ name: 'TypeError', message: 'bad input' });

    const record = await service.get(ref(run));
    expect(record).toMatchObject({ status: 'failure', statusCode: 500, resultJson: null });
    expect(JSON.parse(record.errorJson!)).toEqual({
      message: 'bad input',
      type: 'function_error',
      code: 'function_exception',
      name: 'TypeError',
    });
  });

  it('streams a generator’s chunks through chunks(), handing credit back past the window, and ends with their count', async () => {
    const total = 3 * CHUNK_CREDIT_WINDOW;
    const { service, request, ref } = harness({
      functions: {
        count: async function* () {
          for (let i = 0; i < total; i++) yield i;
        },
      },
      info: { count: { kind: 'async-generator' } },
    });
    const started = service.start(request('count'), (fn) => (fn.kind === 'async-generator' ? 'raw' : false));
    expect(started.stream).toBe('raw');
    const chunks: unknown[] = [];
    for await (const chunk of started.chunks()) chunks.push(chunk);
    expect(chunks).toEqual(Array.from({ length: total }, (_, i) => i));
    const run = await started.settled;
    expect(await service.get(ref(run))).toMatchObject({ status: 'success', resultJson: `{"chunks":${total}}` });
  });

  it('holds a streaming generator at the credit window while its chunks are not taken', async () => {
    let produced = 0;
    const { service, request } = harness({
      functions: {
        endless: async function* (_params, signal) {
          while (!signal.aborted) {
            yield produced;
            produced += 1;
          }
        },
      },
    });
    const started = service.start(request('endless'), () => 'raw');
    await vi.waitFor(() => expect(produced).toBe(CHUNK_CREDIT_WINDOW));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(produced).toBe(CHUNK_CREDIT_WINDOW);

    // Taking two credit batches' worth lets it make exactly that many more.
    const it = started.chunks()[Symbol.asyncIterator]();
    for (let i = 0; i < CHUNK_CREDIT_WINDOW / 2; i++) await it.next();
    await vi.waitFor(() => expect(produced).toBe(CHUNK_CREDIT_WINDOW + CHUNK_CREDIT_WINDOW / 2));

    started.run.requestCancel('enough');
    expect((await started.settled).status).toBe('cancelled');
  });
});

describe('RunService: runs refused before they exist', () => {
  it('answers 422 for params the function’s schema rejects, and records no run', async () => {
    const { service, backend, request, list } = harness({
      functions: { typed: async () => 'never called' },
      info: { typed: { validateParams: (params) => (typeof params.x === 'number' ? [] : [{ key: 'x', problem: 'must be number' }]) } },
    });
    let thrown: unknown;
    try {
      service.start(request('typed', { x: 'one' }));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(CerebriumLocalError);
    expect(thrown).toMatchObject({
      statusCode: 422,
      code: 'invalid_params',
      details: { params: [{ key: 'x', problem: 'must be number' }] },
    });
    await expect(service.startAsync(request('typed', {}))).rejects.toMatchObject({ statusCode: 422, code: 'invalid_params' });

    expect(await list()).toEqual([]);
    expect(service.liveRuns()).toEqual([]);
    expect(backend.requests).toEqual([]);

    // The same function with valid params runs.
    expect((await service.start(request('typed', { x: 1 })).settled).status).toBe('success');
  });

  it('answers 404 with the directory’s own error for an unknown app, function or a private name', async () => {
    const { service, request, list } = harness({ functions: { echo: async () => 1, _helper: async () => 2 } });
    expect(() => service.start({ ...request('echo'), appName: 'nope' })).toThrow(
      expect.objectContaining({ code: 'app_not_found', statusCode: 404 }),
    );
    expect(() => service.start(request('missing'))).toThrow(expect.objectContaining({ code: 'function_not_found', statusCode: 404 }));
    expect(() => service.start(request('_helper'))).toThrow(expect.objectContaining({ code: 'function_private', statusCode: 404 }));
    expect(await list()).toEqual([]);
  });

  it('answers 429 queue_full when capacity is taken and the queue is at maxQueue, and records no run', async () => {
    const hold = gate();
    const { service, runtime, request, list } = harness({ functions: { hold: () => hold.promise }, maxQueue: 0 });
    const first = service.start(request('hold'));
    expect(runtime.stats).toMatchObject({ busy: 1, queued: 0 });

    let thrown: unknown;
    try {
      service.start(request('hold'));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(CerebriumLocalError);
    expect(thrown).toMatchObject({ statusCode: 429, code: 'queue_full', headers: { 'retry-after': '1' } });
    expect((await list()).map((r) => r.id)).toEqual([first.run.id]);
    expect(service.liveRuns()).toEqual([first.run]);

    hold.open();
    expect((await first.settled).status).toBe('success');
  });
});

describe('RunService: async runs', () => {
  it('resolves startAsync only after committing the run’s record, and runs it to its end later', async () => {
    const hold = gate();
    const { service, repository, request, ref } = harness({ functions: { later: () => hold.promise.then(() => ({ done: true })) } });
    const commit = vi.spyOn(repository, 'commit');

    const run = await service.startAsync(request('later', { a: 1 }));
    expect(commit).toHaveBeenCalled();
    await commit.mock.results[0].value;
    expect(run.done).toBe(false);
    const stored = await service.get(ref(run));
    expect(stored).toMatchObject({ id: run.id, async: true, paramsJson: '{"a":1}' });
    expect(['pending', 'running']).toContain(stored.status);

    hold.open();
    await run.settled();
    expect(await service.get(ref(run))).toMatchObject({ status: 'success', async: true, resultJson: '{"done":true}' });
  });
});

describe('RunService: reading runs', () => {
  it('answers 404 run_not_found for an unknown id and for a run of another app or project', async () => {
    const { service, request, ref } = harness({ functions: { echo: async () => 1 } });
    const run = await service.start(request('echo')).settled;
    await expect(service.get({ ...ref(run), runId: 'no-such-run' })).rejects.toMatchObject({ statusCode: 404, code: 'run_not_found' });
    await expect(service.get({ ...ref(run), appName: 'other' })).rejects.toMatchObject({ statusCode: 404, code: 'run_not_found' });
    await expect(service.get({ ...ref(run), projectId: 'p-other' })).rejects.toBeInstanceOf(CerebriumLocalError);
    await expect(service.cancel({ ...ref(run), appName: 'other' })).rejects.toMatchObject({ code: 'run_not_found' });
  });

  it('lists an app’s runs newest first, async ones alone when asked', async () => {
    const { service, request, list } = harness({ functions: { echo: async (params) => params } });
    const runs: Run[] = [];
    for (let i = 0; i < 3; i++) runs.push(await service.start(request('echo', { i })).settled);
    const asyncRun = await service.startAsync(request('echo', { i: 3 }));
    await asyncRun.settled();

    expect((await list()).map((r) => r.id)).toEqual([asyncRun.id, runs[2].id, runs[1].id, runs[0].id]);
    expect((await list(true)).map((r) => r.id)).toEqual([asyncRun.id]);
  });

  it('lists live runs, queued ones included, until they end', async () => {
    const hold = gate();
    const { service, request } = harness({ functions: { hold: () => hold.promise } });
    const first = service.start(request('hold'));
    const second = service.start(request('hold'));
    expect(service.liveRuns()).toEqual([first.run, second.run]);
    await whenRunning(first.run);
    expect(second.run.status).toBe('pending');

    hold.open();
    await first.settled;
    await second.settled;
    expect(service.liveRuns()).toEqual([]);
  });
});

describe('RunService: cancel', () => {
  it('cancels a queued run so that it never starts', async () => {
    const hold = gate();
    const { service, backend, request, ref } = harness({ functions: { hold: () => hold.promise } });
    const first = service.start(request('hold'));
    await whenRunning(first.run);
    const queued = service.start(request('hold'));

    const record = await service.cancel(ref(queued.run));
    expect(record).toMatchObject({ status: 'cancelled', statusCode: 500, startedAt: null });
    expect(JSON.parse(record.errorJson!)).toEqual({
      message: 'The run was cancelled: Cancelled while queued: Cancelled through the runs API',
      type: 'function_error',
      code: 'run_cancelled',
    });
    expect(queued.run.status).toBe('cancelled');
    expect(queued.run.startedAt).toBeUndefined();
    expect(queued.run.error).toEqual({
      name: 'Cancelled',
      message: 'Cancelled while queued: Cancelled through the runs API',
      aborted: true,
    });
    expect(service.liveRuns()).toEqual([first.run]);

    hold.open();
    expect((await first.settled).status).toBe('success');
    expect(backend.requests.map((r) => r.runId)).toEqual([first.run.id]);
  });

  it('cancels a running run through its abort signal', async () => {
    const { service, request, ref } = harness({
      functions: { cooperative },
    });
    const started = service.start(request('cooperative'));
    await whenRunning(started.run);
    const record = await service.cancel(ref(started.run));
    expect(record.status).toBe('cancelled');
    expect(started.run.error).toMatchObject({ message: 'Cancelled through the runs API', aborted: true });
  });

  it('answers 409 run_finished for a run that has already ended', async () => {
    const { service, request, ref } = harness({ functions: { echo: async () => 1 } });
    const run = await service.start(request('echo')).settled;
    const cancelling = service.cancel(ref(run));
    await expect(cancelling).rejects.toBeInstanceOf(CerebriumLocalError);
    await expect(cancelling).rejects.toMatchObject({ statusCode: 409, code: 'run_finished' });
    expect((await service.get(ref(run))).status).toBe('success');
  });

  it('replaces the replica of a function that ignores its abort after abortGraceMs, freeing its permit', async () => {
    const never = gate();
    let returned = false;
    const { service, runtime, backend, request, ref } = harness({
      functions: {
        stubborn: async () => {
          await never.promise;
          returned = true;
        },
      },
      abortGraceMs: 50,
    });
    const started = service.start(request('stubborn'));
    await whenRunning(started.run);
    expect(runtime.stats.busy).toBe(1);

    const record = await service.cancel(ref(started.run));
    expect(backend.results.get(started.run.id)).toEqual({
      ok: false,
      error: {
        name: 'ReplicaReplaced',
        message: 'The function did not stop within 50 ms of being aborted; its replica was replaced',
        crashed: true,
      },
      runTimeMs: 0,
    });
    // The run was asked to stop, so it is reported as cancelled, not as a crash.
    expect(record.status).toBe('cancelled');
    expect(returned).toBe(false);
    expect(runtime.stats.busy).toBe(0);
  });
});

describe('RunService: response_grace_period', () => {
  it('fails a run that outlives it at once, and frees the permit only once the function has stopped', async () => {
    const release = gate();
    let stopped = false;
    let sawAbort = false;
    const { service, runtime, backend, request, ref } = harness({
      functions: {
        slow: async (_params, signal) => {
          await aborted(signal);
          sawAbort = true;
          await release.promise;
          stopped = true;
          throw signal.reason;
        },
      },
      scaling: { responseGracePeriod: 0.05 },
    });
    const started = service.start(request('slow'));
    const run = await started.settled;

    expect(run.status).toBe('failure');
    expect(run.error).toMatchObject({ name: 'TimeoutError', timedOut: true });
    expect(run.error?.message).toContain('response_grace_period (0.05 s)');
    expect(stopped).toBe(false);
    expect(runtime.stats.busy).toBe(1);
    const record = await service.get(ref(run));
    expect(record).toMatchObject({ status: 'failure', statusCode: 504 });
    expect(JSON.parse(record.errorJson!)).toMatchObject({ code: 'response_grace_period_exceeded', type: 'timeout_error' });

    await vi.waitFor(() => expect(sawAbort).toBe(true));
    expect(runtime.stats.busy).toBe(1);
    release.open();
    await vi.waitFor(() => expect(runtime.stats.busy).toBe(0));
    expect(stopped).toBe(true);

    // The function's own late end changes nothing: the run stays timed out.
    expect(backend.results.get(run.id)).toMatchObject({ ok: false, error: { aborted: true } });
    expect(run.status).toBe('failure');
    expect((await service.get(ref(run))).status).toBe('failure');
  });

  it('times out a run still queued, which then never starts', async () => {
    const hold = gate();
    const { service, runtime, backend, request } = harness({
      functions: { hold: () => hold.promise },
      scaling: { responseGracePeriod: 0.05 },
    });
    const first = service.start(request('hold'));
    const queued = service.start(request('hold'));
    const run = await queued.settled;
    expect(run.status).toBe('failure');
    expect(run.error).toMatchObject({ timedOut: true });
    expect(run.startedAt).toBeUndefined();
    expect(runtime.stats.queued).toBe(0);
    hold.open();
    await first.settled;
    await vi.waitFor(() => expect(runtime.stats.busy).toBe(0));
    expect(backend.requests.map((r) => r.runId)).toEqual([first.run.id]);
  });
});

describe('RunService: drain', () => {
  it('lets a run that finishes within the grace finish, and returns none', async () => {
    const finish = gate();
    const { service, request } = harness({ functions: { quick: () => finish.promise.then(() => 'done') } });
    const started = service.start(request('quick'));
    await whenRunning(started.run);
    const draining = service.drain(10_000);
    await flush();
    expect(started.run.cancelSignal.aborted).toBe(false);
    finish.open();
    expect(await draining).toEqual([]);
    expect(started.run.status).toBe('success');
    expect(service.liveRuns()).toEqual([]);
  });

  it('cancels a run that does not finish within the grace, and returns none when it stops', async () => {
    const { service, request } = harness({
      functions: { cooperative },
    });
    const started = service.start(request('cooperative'));
    await whenRunning(started.run);
    expect(await service.drain(20)).toEqual([]);
    expect(started.run.status).toBe('cancelled');
    expect(started.run.error?.message).toBe('The server is shutting down');
  });

  it('returns a run that ignores the cancel, still running', async () => {
    const never = gate();
    const { service, request } = harness({ functions: { stubborn: () => never.promise } });
    const started = service.start(request('stubborn'));
    await whenRunning(started.run);
    expect(await service.drain(20)).toEqual([started.run]);
    expect(started.run.status).toBe('running');
    expect(started.run.cancelSignal.aborted).toBe(true);
  });
});

describe('RunService: webhooks', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.close();
    server = undefined;
  });

  it('POSTs the outcome its caller got to the webhook and records the attempt', async () => {
    const bodies: string[] = [];
    server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (part: string) => (body += part));
      req.on('end', () => {
        bodies.push(body);
        res.writeHead(200).end();
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;

    const { service, request, ref } = harness({ functions: { echo: async (params) => ({ echo: params }) } });
    const run = await service.start({ ...request('echo', { x: 2 }), webhook: { url } }).settled;

    await vi.waitFor(() => expect(bodies).toHaveLength(1));
    expect(bodies[0]).toBe(runOutcome(run, false).body);
    expect(JSON.parse(bodies[0])).toEqual({ run_id: run.id, result: { echo: { x: 2 } }, run_time_ms: expect.any(Number) });

    await vi.waitFor(async () => {
      const record = await service.get(ref(run));
      expect(record.webhookEndpoint).toBe(url);
      expect(record.webhookAttempts).toEqual([
        { attempt: 1, at: expect.any(Number), durationMs: expect.any(Number), statusCode: 200, error: null },
      ]);
    });
  });
});

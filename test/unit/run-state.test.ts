// The run state machine on its own: pending → running → success | failure | cancelled.
// No server, no worker thread: only `Run` and its public surface.
import { describe, expect, it } from 'vitest';
import { Run, type RunStatus } from '../../src/runs/run.ts';

const newRun = (): Run => new Run({ projectId: 'p-test', appName: 'app', functionName: 'predict', params: { x: 1 } });

const anError = { name: 'Error', message: 'boom' };

/** A fresh run brought to `status` through the public calls. */
function runIn(status: RunStatus): Run {
  const run = newRun();
  if (status === 'pending') return run;
  run.markRunning();
  if (status === 'success') run.succeed('{"ok":true}', 5);
  if (status === 'failure') run.fail(anError, 5);
  if (status === 'cancelled') run.cancel('stop', 5);
  return run;
}

/** The public call that tries to move a run to `to` (no call moves a run back to pending). */
type Target = Exclude<RunStatus, 'pending'>;
const moveTo: Record<Target, (run: Run) => void> = {
  running: (run) => run.markRunning(),
  success: (run) => run.succeed('{"ok":true}', 5),
  failure: (run) => run.fail(anError, 5),
  cancelled: (run) => run.cancel('stop', 5),
};

const ALLOWED: Array<[RunStatus, Target]> = [
  ['pending', 'running'],
  ['pending', 'failure'],
  ['pending', 'cancelled'],
  ['running', 'success'],
  ['running', 'failure'],
  ['running', 'cancelled'],
];

const IMPOSSIBLE: Array<[RunStatus, Target]> = [
  ['pending', 'success'],
  ['running', 'running'],
  ['success', 'running'],
  ['success', 'success'],
  ['success', 'failure'],
  ['success', 'cancelled'],
  ['failure', 'running'],
  ['failure', 'success'],
  ['failure', 'failure'],
  ['failure', 'cancelled'],
  ['cancelled', 'running'],
  ['cancelled', 'success'],
  ['cancelled', 'failure'],
  ['cancelled', 'cancelled'],
];

// Guard the two tables above: together they must name every (from, to) pair exactly once.
{
  const statuses: RunStatus[] = ['pending', 'running', 'success', 'failure', 'cancelled'];
  const named = [...ALLOWED, ...IMPOSSIBLE].map(([f, t]) => `${f}>${t}`);
  const every = statuses.flatMap((f) => (Object.keys(moveTo) as Target[]).map((t) => `${f}>${t}`));
  if (new Set(named).size !== named.length || named.length !== every.length || !every.every((p) => named.includes(p))) {
    throw new Error('run-state.test.ts: the ALLOWED and IMPOSSIBLE tables do not cover every pair exactly once');
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Whether `p` settles within `ms`, without waiting out the test timeout when it does not. */
async function resolvesWithin<T>(p: Promise<T>, ms: number): Promise<{ resolved: true; value: T } | { resolved: false }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<{ resolved: false }>((resolve) => {
    timer = setTimeout(() => resolve({ resolved: false }), ms);
  });
  try {
    return await Promise.race([p.then((value) => ({ resolved: true as const, value })), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('Run transitions', () => {
  it('starts out pending and not done', () => {
    const run = newRun();
    expect(run.status).toBe('pending');
    expect(run.done).toBe(false);
  });

  it.each(ALLOWED)('moves from %s to %s', (from, to) => {
    const run = runIn(from);
    expect(run.status).toBe(from);
    moveTo[to](run);
    expect(run.status).toBe(to);
  });

  it.each(IMPOSSIBLE)('refuses to move from %s to %s, and stays where it was', (from, to) => {
    const run = runIn(from);
    const completedAt = run.completedAt;
    const seen: RunStatus[] = [];
    run.on('transition', (r) => seen.push(r.status));

    expect(() => moveTo[to](run)).toThrow(/cannot go from/);

    expect(run.status).toBe(from);
    expect(run.completedAt).toBe(completedAt);
    expect(seen).toEqual([]);
  });

  it('names the run and both states when it refuses a transition', () => {
    const run = runIn('success');
    expect(() => run.markRunning()).toThrow(`Run ${run.id}: cannot go from success to running`);
  });

  it.each([
    ['pending', false],
    ['running', false],
    ['success', true],
    ['failure', true],
    ['cancelled', true],
  ] as Array<[RunStatus, boolean]>)('counts a %s run as done: %s', (status, done) => {
    expect(runIn(status).done).toBe(done);
  });

  it('keeps the result, run time and status code of a successful run', () => {
    const run = runIn('running');
    run.succeed('{"answer":42}', 12, 201);
    expect(run.resultJson).toBe('{"answer":42}');
    expect(run.runTimeMs).toBe(12);
    expect(run.statusCode).toBe(201);
    expect(run.error).toBeUndefined();
  });

  it('keeps the error of a failed run', () => {
    const run = runIn('running');
    run.fail({ name: 'TypeError', message: 'bad input' }, 3);
    expect(run.error).toEqual({ name: 'TypeError', message: 'bad input' });
    expect(run.runTimeMs).toBe(3);
    expect(run.resultJson).toBeUndefined();
  });

  it('records a cancelled run as an aborted error carrying the reason', () => {
    const run = runIn('running');
    run.cancel('caller left');
    expect(run.error).toMatchObject({ name: 'Cancelled', message: 'caller left', aborted: true });
  });
});

describe("Run 'transition' events", () => {
  it('emits the run and the state it left, after the status has changed', () => {
    const run = newRun();
    const seen: Array<{ same: boolean; from: RunStatus; now: RunStatus }> = [];
    run.on('transition', (r, from) => seen.push({ same: r === run, from, now: r.status }));

    run.markRunning();
    run.succeed('null', 1);

    expect(seen).toEqual([
      { same: true, from: 'pending', now: 'running' },
      { same: true, from: 'running', now: 'success' },
    ]);
  });

  it('emits once for a run that fails straight from pending', () => {
    const run = newRun();
    const froms: RunStatus[] = [];
    run.on('transition', (_r, from) => froms.push(from));
    run.fail(anError);
    expect(froms).toEqual(['pending']);
    expect(run.status).toBe('failure');
  });
});

describe('Run.settled()', () => {
  it.each(['success', 'failure', 'cancelled'] as Target[])('resolves with the run once it reaches %s, not before', async (final) => {
    const run = newRun();
    const settled = run.settled();

    run.markRunning();
    expect((await resolvesWithin(settled, 20)).resolved).toBe(false);

    moveTo[final](run);
    const outcome = await resolvesWithin(settled, 1000);
    expect(outcome).toEqual({ resolved: true, value: run });
    expect(run.status).toBe(final);
  });

  it('resolves at once for a run that is already done', async () => {
    const run = runIn('failure');
    let resolvedWith: Run | undefined;
    void run.settled().then((r) => (resolvedWith = r));
    await Promise.resolve();
    await Promise.resolve();
    expect(resolvedWith).toBe(run);
  });

  it('stays pending while the run is only pending or running', async () => {
    const run = newRun();
    expect((await resolvesWithin(run.settled(), 20)).resolved).toBe(false);
    run.markRunning();
    expect((await resolvesWithin(run.settled(), 20)).resolved).toBe(false);
  });

  it('leaves no transition listener behind once the run settles', async () => {
    const run = newRun();
    const settled = run.settled();
    run.markRunning();
    run.succeed('null', 1);
    await settled;
    expect(run.listenerCount('transition')).toBe(0);
  });
});

describe('Run.requestCancel()', () => {
  it('aborts cancelSignal with the reason, without moving the run', () => {
    const run = runIn('running');
    expect(run.cancelSignal.aborted).toBe(false);
    run.requestCancel('client disconnected');
    expect(run.cancelSignal.aborted).toBe(true);
    expect(run.cancelSignal.reason).toBe('client disconnected');
    expect(run.status).toBe('running');
  });

  it('aborts only once, keeping the first reason', () => {
    const run = newRun();
    let aborts = 0;
    run.cancelSignal.addEventListener('abort', () => aborts++);
    run.requestCancel('first');
    run.requestCancel('second');
    expect(aborts).toBe(1);
    expect(run.cancelSignal.reason).toBe('first');
  });

  it.each(['success', 'failure', 'cancelled'] as Target[])('is ignored once the run has ended in %s', (final) => {
    const run = runIn(final);
    let aborts = 0;
    run.cancelSignal.addEventListener('abort', () => aborts++);
    run.requestCancel('too late');
    expect(run.cancelSignal.aborted).toBe(false);
    expect(aborts).toBe(0);
    expect(run.status).toBe(final);
  });
});

describe('Run timings', () => {
  it('has no queue time, start or completion while pending', () => {
    const run = newRun();
    expect(run.queueTimeMs).toBeUndefined();
    expect(run.startedAt).toBeUndefined();
    expect(run.completedAt).toBeUndefined();
    expect(run.createdAt).toBeInstanceOf(Date);
  });

  it('sets queue time and start when it begins running, but no completion yet', async () => {
    const run = newRun();
    await sleep(40);
    run.markRunning();
    expect(run.queueTimeMs).toBeGreaterThanOrEqual(30);
    expect(run.queueTimeMs).toBeLessThan(5_000);
    expect(run.startedAt).toBeInstanceOf(Date);
    expect(run.startedAt!.getTime()).toBeGreaterThanOrEqual(run.createdAt.getTime());
    expect(run.completedAt).toBeUndefined();
  });

  it('keeps the queue time measured at start when the run later ends', async () => {
    const run = newRun();
    run.markRunning();
    const queueTimeMs = run.queueTimeMs;
    await sleep(30);
    run.succeed('null', 30);
    expect(run.queueTimeMs).toBe(queueTimeMs);
    expect(run.queueTimeMs!).toBeLessThan(30);
  });

  it.each([
    ['failure', (run: Run) => run.fail(anError)],
    ['cancelled', (run: Run) => run.cancel('gone')],
  ] as Array<[Target, (run: Run) => void]>)('still sets queue time for a run that ends in %s without ever running', async (_final, end) => {
    const run = newRun();
    await sleep(40);
    end(run);
    expect(run.startedAt).toBeUndefined();
    expect(run.queueTimeMs).toBeGreaterThanOrEqual(30);
    expect(run.queueTimeMs).toBeLessThan(5_000);
  });

  it.each(['success', 'failure', 'cancelled'] as Target[])('sets completedAt only when the run ends in %s', (final) => {
    const run = newRun();
    run.markRunning();
    expect(run.completedAt).toBeUndefined();
    moveTo[final](run);
    expect(run.completedAt).toBeInstanceOf(Date);
    expect(run.completedAt!.getTime()).toBeGreaterThanOrEqual(run.startedAt!.getTime());
  });
});

describe('Run ids', () => {
  it('gives every run its own UUID', () => {
    const ids = Array.from({ length: 200 }, () => newRun().id);
    for (const id of ids) {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
    expect(new Set(ids).size).toBe(ids.length);
  });
});

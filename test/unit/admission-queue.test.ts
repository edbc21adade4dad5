// AdmissionQueue on its own: permits, FIFO waiting, the waiting bound, aborts and idle().
import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { AdmissionQueue, QueueFullError } from '../../src/runtime/admission-queue.ts';

type Tracked = { state: 'pending' | 'granted' | 'rejected'; reason?: unknown };

/** Watches a promise so a test can ask, synchronously, whether it has settled yet. */
function track(p: Promise<void>, onGrant?: () => void): Tracked {
  const t: Tracked = { state: 'pending' };
  p.then(
    () => {
      t.state = 'granted';
      onGrant?.();
    },
    (reason: unknown) => {
      t.state = 'rejected';
      t.reason = reason;
    },
  );
  return t;
}

/** Lets every pending promise callback run. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

const never = () => new AbortController().signal;

describe('AdmissionQueue permits', () => {
  it('grants permits up to capacity at once', async () => {
    const q = new AdmissionQueue(3, 10);
    const calls = [track(q.acquire(never())), track(q.acquire(never())), track(q.acquire(never()))];
    await flush();
    expect(calls.map((c) => c.state)).toEqual(['granted', 'granted', 'granted']);
    expect(q.inFlight).toBe(3);
    expect(q.waiting).toBe(0);
  });

  it('makes the caller past capacity wait', async () => {
    const q = new AdmissionQueue(2, 10);
    await q.acquire(never());
    await q.acquire(never());
    const third = track(q.acquire(never()));
    await flush();
    expect(third.state).toBe('pending');
    expect(q.inFlight).toBe(2);
    expect(q.waiting).toBe(1);
  });

  it('grants permits to waiters in the order they asked', async () => {
    const q = new AdmissionQueue(1, 10);
    await q.acquire(never());
    const order: number[] = [];
    const waiters = [0, 1, 2, 3, 4].map((i) => track(q.acquire(never()), () => order.push(i)));
    await flush();
    expect(q.waiting).toBe(5);

    for (let i = 0; i < 5; i++) {
      q.release();
      await flush();
      // Exactly one more waiter has its permit after each release, and it is the next in line.
      expect(order).toEqual([0, 1, 2, 3, 4].slice(0, i + 1));
      expect(waiters.filter((w) => w.state === 'granted')).toHaveLength(i + 1);
      expect(q.waiting).toBe(4 - i);
      expect(q.inFlight).toBe(1);
    }
  });

  it('makes a newcomer queue behind existing waiters even when a permit is being freed', async () => {
    const q = new AdmissionQueue(1, 10);
    await q.acquire(never());
    const order: string[] = [];
    track(q.acquire(never()), () => order.push('first waiter'));
    q.release();
    track(q.acquire(never()), () => order.push('newcomer'));
    await flush();
    expect(order).toEqual(['first waiter']);
    expect(q.waiting).toBe(1);
  });

  it('hands a released permit to the next waiter without dropping inFlight', async () => {
    const q = new AdmissionQueue(2, 10);
    await q.acquire(never());
    await q.acquire(never());
    const waiter = track(q.acquire(never()));

    q.release();
    await flush();
    expect(waiter.state).toBe('granted');
    expect(q.inFlight).toBe(2);
    expect(q.waiting).toBe(0);
  });

  it('counts a permit back once released with nobody waiting', async () => {
    const q = new AdmissionQueue(2, 10);
    await q.acquire(never());
    await q.acquire(never());
    q.release();
    expect(q.inFlight).toBe(1);
    q.release();
    expect(q.inFlight).toBe(0);
    // The freed permits can be taken again at once.
    const again = [track(q.acquire(never())), track(q.acquire(never()))];
    await flush();
    expect(again.map((a) => a.state)).toEqual(['granted', 'granted']);
  });
});

describe('AdmissionQueue bound on waiting', () => {
  it('is full only when every permit is held and the waiting room is taken', async () => {
    const q = new AdmissionQueue(1, 2);
    expect(q.full).toBe(false);
    await q.acquire(never());
    expect(q.full).toBe(false);
    track(q.acquire(never()));
    expect(q.full).toBe(false);
    track(q.acquire(never()));
    expect(q.full).toBe(true);

    q.release();
    await flush();
    expect(q.full).toBe(false);
  });

  it('turns a caller away with QueueFullError past maxWaiting, without queueing it', async () => {
    const q = new AdmissionQueue(1, 2);
    await q.acquire(never());
    const a = track(q.acquire(never()));
    const b = track(q.acquire(never()));

    await expect(q.acquire(never())).rejects.toBeInstanceOf(QueueFullError);
    await expect(q.acquire(never())).rejects.toMatchObject({ name: 'QueueFullError' });
    expect(q.waiting).toBe(2);
    expect(q.inFlight).toBe(1);

    // The turned-away callers hold no place: the two queued ones are served and then all is free.
    q.release();
    q.release();
    q.release();
    await flush();
    expect([a.state, b.state]).toEqual(['granted', 'granted']);
    expect(q.inFlight).toBe(0);
  });

  it('turns away at once every caller past capacity when maxWaiting is 0', async () => {
    const q = new AdmissionQueue(1, 0);
    await q.acquire(never());
    expect(q.full).toBe(true);
    await expect(q.acquire(never())).rejects.toBeInstanceOf(QueueFullError);
    expect(q.waiting).toBe(0);
  });
});

describe('AdmissionQueue aborts', () => {
  it('rejects with the signal reason when the signal is already aborted, even with permits free', async () => {
    const q = new AdmissionQueue(2, 10);
    const reason = new Error('caller already left');
    await expect(q.acquire(AbortSignal.abort(reason))).rejects.toBe(reason);
    expect(q.inFlight).toBe(0);
    expect(q.waiting).toBe(0);
  });

  it('rejects with the signal reason rather than QueueFullError when the signal is already aborted', async () => {
    const q = new AdmissionQueue(1, 0);
    await q.acquire(never());
    const reason = { why: 'gone' };
    await expect(q.acquire(AbortSignal.abort(reason))).rejects.toBe(reason);
  });

  it('removes an aborted waiter from the queue and never grants it a permit', async () => {
    const q = new AdmissionQueue(1, 10);
    await q.acquire(never());
    const order: string[] = [];
    const controllers = { a: new AbortController(), b: new AbortController(), c: new AbortController() };
    const a = track(q.acquire(controllers.a.signal), () => order.push('a'));
    const b = track(q.acquire(controllers.b.signal), () => order.push('b'));
    const c = track(q.acquire(controllers.c.signal), () => order.push('c'));
    expect(q.waiting).toBe(3);

    const reason = new Error('b gave up');
    controllers.b.abort(reason);
    await flush();
    expect(b.state).toBe('rejected');
    expect(b.reason).toBe(reason);
    expect(q.waiting).toBe(2);
    expect(q.inFlight).toBe(1);

    q.release();
    await flush();
    expect(order).toEqual(['a']);
    q.release();
    await flush();
    expect(order).toEqual(['a', 'c']);
    expect([a.state, b.state, c.state]).toEqual(['granted', 'rejected', 'granted']);
    expect(q.waiting).toBe(0);
    expect(q.inFlight).toBe(1);

    q.release();
    expect(q.inFlight).toBe(0);
  });

  it('frees the aborted waiter’s place under maxWaiting', async () => {
    const q = new AdmissionQueue(1, 1);
    await q.acquire(never());
    const controller = new AbortController();
    const first = track(q.acquire(controller.signal));
    await expect(q.acquire(never())).rejects.toBeInstanceOf(QueueFullError);

    controller.abort('no longer needed');
    await flush();
    expect(first.state).toBe('rejected');
    expect(q.full).toBe(false);
    const second = track(q.acquire(never()));
    await flush();
    expect(second.state).toBe('pending');
    expect(q.waiting).toBe(1);
  });

  it('ignores an abort that comes after the permit was granted', async () => {
    const q = new AdmissionQueue(1, 10);
    await q.acquire(never());
    const controller = new AbortController();
    const held = track(q.acquire(controller.signal));
    const behind = track(q.acquire(never()));
    q.release();
    await flush();
    expect(held.state).toBe('granted');

    controller.abort('too late');
    await flush();
    expect(held.state).toBe('granted');
    expect(q.waiting).toBe(1);
    expect(q.inFlight).toBe(1);
    expect(behind.state).toBe('pending');
  });
  it('leaves no abort listener on the caller’s signal once the permit is granted', async () => {
    const q = new AdmissionQueue(1, 10);
    await q.acquire(never());
    const controller = new AbortController();
    const waiter = track(q.acquire(controller.signal));
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    q.release();
    await flush();
    expect(waiter.state).toBe('granted');
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });
});

describe('AdmissionQueue.idle()', () => {
  it('resolves at once when nothing holds or waits', async () => {
    const q = new AdmissionQueue(2, 10);
    const idle = track(q.idle());
    await flush();
    expect(idle.state).toBe('granted');
  });

  it('resolves only after the last holder and the last waiter have released', async () => {
    const q = new AdmissionQueue(2, 10);
    await q.acquire(never());
    await q.acquire(never());
    const waiter = track(q.acquire(never()));
    const idle = track(q.idle());

    q.release(); // hands the permit to the waiter
    await flush();
    expect(waiter.state).toBe('granted');
    expect(idle.state).toBe('pending');

    q.release();
    await flush();
    expect(idle.state).toBe('pending');

    q.release();
    await flush();
    expect(idle.state).toBe('granted');
    expect(q.inFlight).toBe(0);
    expect(q.waiting).toBe(0);
  });

  it('resolves once the holder releases when its only waiter aborted', async () => {
    const q = new AdmissionQueue(1, 10);
    await q.acquire(never());
    const controller = new AbortController();
    track(q.acquire(controller.signal));
    const idle = track(q.idle());

    controller.abort('bye');
    await flush();
    expect(idle.state).toBe('pending');

    q.release();
    await flush();
    expect(idle.state).toBe('granted');
  });

  it('resolves every idle() caller waiting at that moment', async () => {
    const q = new AdmissionQueue(1, 10);
    await q.acquire(never());
    const idles = [track(q.idle()), track(q.idle()), track(q.idle())];
    q.release();
    await flush();
    expect(idles.map((i) => i.state)).toEqual(['granted', 'granted', 'granted']);
  });
});

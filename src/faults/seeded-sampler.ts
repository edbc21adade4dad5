// The draws that decide whether a rule with a probability fires: a small seeded generator
// (mulberry32), so a test suite that fixes --faults-seed sees the same faults on every run.
import { randomInt } from 'node:crypto';

export class SeededSampler {
  private state: number;

  /** Without a seed, one is picked at random (and shown by `seed`, to repeat a run). */
  constructor(readonly seed: number = randomInt(0, 2 ** 31)) {
    this.state = seed >>> 0;
  }

  /** A number in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }

  /** True with probability `p`. A certain (1) or impossible (0) rule draws nothing, so it shifts no other rule's draws. */
  fires(p: number): boolean {
    if (p >= 1) return true;
    if (p <= 0) return false;
    return this.next() < p;
  }
}

// Warm-up row of `npm run bench`: the first call after a server starts, on an app whose one replica
// (min_replicas = 1) loads and runs its declared model before taking calls, against the call right
// after it. The model is the MiniLM-L6-shaped folder, so a session created by the first call would show.
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { dataDir, root, startProcess, stopProcess } from './processes.ts';

export interface WarmUpBench {
  reps: number;
  addRow(measure: string, unit: string, emulator: number[], baseline: number[], baselineName: string): void;
}

const BODY = JSON.stringify({ input: 'The first call after a start should not build the session.' });

/** Waits until /ready lists a model session for the app: its replica has warmed up. */
async function waitForWarmUp(url: string, app: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const ready = (await (await fetch(`${url}/ready`)).json()) as { apps?: Record<string, { models?: unknown[] }> };
    if ((ready.apps?.[app]?.models?.length ?? 0) > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${app} did not report a warmed-up model within 120 s`);
}

async function timedCall(url: string): Promise<number> {
  const started = performance.now();
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: BODY });
  if (!res.ok) throw new Error(`warm-up bench call answered ${res.status}: ${await res.text()}`);
  await res.arrayBuffer();
  return performance.now() - started;
}

export async function benchWarmUp(bench: WarmUpBench, modelFolder: string): Promise<void> {
  const first: number[] = [];
  const warm: number[] = [];
  for (let rep = 0; rep < bench.reps; rep += 1) {
    const server = await startProcess(
      'warm-up',
      [
        join(root, 'bin/cerebrium-local.mjs'),
        'serve',
        join(root, 'bench/apps/warm-up'),
        '--data-dir',
        dataDir('warm-up'),
        '--pass-env',
        'EMBED_MODEL',
      ],
      { EMBED_MODEL: modelFolder },
    );
    try {
      await waitForWarmUp(server.url, 'warm-up');
      const url = `${server.url}/v4/p-bench/warm-up/embed`;
      first.push(await timedCall(url));
      warm.push(await timedCall(url));
    } finally {
      await stopProcess(server);
    }
  }
  bench.addRow('first call after start, model declared for warm-up (min_replicas = 1)', 'ms', first, warm, 'the call right after it');
}

// Memory rows of `npm run bench` for a server at rest: a fresh server with no replica running against
// the bare Fastify process, and what each replica thread adds. The app is bench/apps/trivial's
// module under a cerebrium.toml written here with min_replicas = 0 and two other counts (replicas
// started at once, nothing called), in a temporary folder.
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dataDir, root, rssMb, startProcess, stopProcess } from './processes.ts';

export interface ReplicaMemoryBench {
  reps: number;
  /** Replicas per extra-replica reading: [fewer, more] (e.g. [1, 3]); the MB a replica adds is their RSS difference ÷ (more − fewer). */
  replicaCounts: [number, number];
  /** How long a process is left alone before its RSS is read: start-up garbage collected, replicas up. */
  settleMs: number;
  addRow(measure: string, unit: string, emulator: number[], baseline: number[], baselineName: string): void;
}

function appWithReplicas(count: number): string {
  const dir = mkdtempSync(join(tmpdir(), `cerebrium-local-bench-replicas-${count}-`));
  copyFileSync(join(root, 'bench/apps/trivial/main.ts'), join(dir, 'main.ts'));
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  writeFileSync(
    join(dir, 'cerebrium.toml'),
    `[cerebrium.deployment]\nname = "bench"\n\n[cerebrium.scaling]\nmin_replicas = ${count}\nmax_replicas = ${Math.max(count, 1)}\n`,
  );
  return dir;
}

async function settledRss(name: string, args: string[], settleMs: number): Promise<number> {
  const server = await startProcess(name, args);
  try {
    await new Promise((resolve) => setTimeout(resolve, settleMs));
    return rssMb(server.pid);
  } finally {
    await stopProcess(server);
  }
}

const serverRss = (replicas: number, settleMs: number) =>
  settledRss(
    `replicas-${replicas}`,
    [join(root, 'bin/cerebrium-local.mjs'), 'serve', appWithReplicas(replicas), '--data-dir', dataDir(`replicas-${replicas}`)],
    settleMs,
  );

export async function benchReplicaMemory(bench: ReplicaMemoryBench): Promise<void> {
  const bare: number[] = [];
  const none: number[] = [];
  const perReplica: number[] = [];
  for (let rep = 0; rep < bench.reps; rep += 1) {
    bare.push(await settledRss('bare-rss', [join(root, 'bin/run-ts.mjs'), join(root, 'bench/bare-server.ts')], bench.settleMs));
    none.push(await serverRss(0, bench.settleMs));
    const [fewer, more] = bench.replicaCounts;
    const low = fewer === 0 ? none[none.length - 1] : await serverRss(fewer, bench.settleMs);
    const high = await serverRss(more, bench.settleMs);
    perReplica.push((high - low) / (more - fewer));
  }
  bench.addRow('RSS of a fresh server, no replica running', 'MB', none, bare, 'bare Fastify process, fresh');
  const [fewer, more] = bench.replicaCounts;
  const measure = `RSS each replica thread adds (min_replicas ${more} − ${fewer}, ÷ ${more - fewer})`;
  bench.addRow(measure, 'MB', perReplica, none, 'the fresh server with no replica');
}

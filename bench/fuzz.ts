// The larger fuzz run: bad requests from several seeds (test/helpers/bad-requests.ts) against a
// server process serving the test fixtures' public and locked apps. Prints, per kind of request,
// how it was answered, and every server fault (a 5xx not caused by user code) or hang, then the
// server's RSS before and after. Exits 1 if there was any fault, hang or crash.
//
//   npm run bench:fuzz -- [--requests=20000] [--seeds=1,2,3] [--concurrency=32]
import { secretSigningKey, signToken } from '../src/auth/sign-token.ts';
import { type Answer, badRequests, fixtureTargets, send, serverFault } from '../test/helpers/bad-requests.ts';
import { dataDir, root, rssMb, startProcess, stopProcess } from './processes.ts';

const arg = (name: string, fallback: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const total = Number(arg('requests', '20000'));
const seeds = arg('seeds', '1,2,3,4,5').split(',').map(Number);
const concurrency = Number(arg('concurrency', '32'));
const SECRET = 'fuzz-secret-fuzz-secret-fuzz-secret!';

const server = await startProcess(
  'fuzz',
  [
    'bin/cerebrium-local.mjs',
    'serve',
    'test/fixtures/basic-app',
    'test/fixtures/auth-app',
    '--project-id',
    'p-test',
    '--log-level',
    'error',
    '--data-dir',
    dataDir('fuzz'),
  ],
  { CEREBRIUM_JWT_SECRET: SECRET },
);
const { hostname, port } = new URL(server.url);
const targets = fixtureTargets(await signToken(secretSigningKey(SECRET), 'p-test', 3600));

const rssBefore = rssMb(server.pid);
const began = performance.now();
const byKind = new Map<string, Map<string, number>>();
const faults: string[] = [];
for (const seed of seeds) {
  const requests = badRequests(seed, Math.ceil(total / seeds.length), targets);
  for (let i = 0; i < requests.length; i += concurrency) {
    const batch = requests.slice(i, i + concurrency);
    const answers: Answer[] = await Promise.all(batch.map((r) => send(hostname, Number(port), r, 15_000)));
    answers.forEach((answer, j) => {
      const kind = batch[j].kind.replace(/\d{3,}/g, 'N');
      const counts = byKind.get(kind) ?? new Map<string, number>();
      counts.set(String(answer.status), (counts.get(String(answer.status)) ?? 0) + 1);
      byKind.set(kind, counts);
      if (serverFault(answer) || answer.status === 'hung') {
        faults.push(`seed ${seed} #${i + j} ${batch[j].kind}: ${answer.status} ${'body' in answer ? answer.body.slice(0, 160) : ''}`);
      }
    });
  }
}
const seconds = (performance.now() - began) / 1000;
const alive = (await fetch(`${server.url}/health`).catch(() => undefined))?.status === 200;
const rssAfter = alive ? rssMb(server.pid) : Number.NaN;
await stopProcess(server);

for (const [kind, counts] of [...byKind].sort()) {
  console.log(`${kind.padEnd(42)} ${[...counts].map(([status, n]) => `${status}×${n}`).join('  ')}`);
}
console.log(`\n${total} requests (seeds ${seeds.join(',')}, ${concurrency} at a time) in ${seconds.toFixed(1)} s from ${root}`);
console.log(
  `server faults or hangs: ${faults.length}; server alive after: ${alive}; RSS ${rssBefore.toFixed(0)} → ${rssAfter.toFixed(0)} MB`,
);
for (const fault of faults.slice(0, 50)) console.log(`  ${fault}`);
process.exitCode = faults.length > 0 || !alive ? 1 : 0;

// A few thousand bad requests from a fixed seed, each on its own connection, against a real server
// with a public and a locked app. None may get a 5xx that user code did not cause, none may be left
// without an answer (or a closed connection), and the server must answer normally afterwards.
// bench/fuzz.ts sends many more, with other seeds.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretSigningKey, signToken } from '../src/auth/sign-token.ts';
import { type Answer, badRequests, type FuzzTargets, fixtureTargets, send, serverFault } from './helpers/bad-requests.ts';
import { fixture, startTestServer, type TestServer } from './helpers/test-server.ts';

const SEED = 20261204;
const COUNT = 2_000;
const SECRET = 'fuzz-secret-fuzz-secret-fuzz-secret!';

let server: TestServer;
let targets: FuzzTargets;

beforeAll(async () => {
  server = await startTestServer([fixture('basic-app'), fixture('auth-app')], { auth: { jwtSecret: SECRET } });
  targets = fixtureTargets(await signToken(secretSigningKey(SECRET), 'p-test', 3600));
});
afterAll(() => server.close());

describe('bad requests', () => {
  it(`answers ${COUNT} seeded bad requests without a server fault, a hang or a crash`, async () => {
    const { hostname, port } = new URL(server.url);
    const requests = badRequests(SEED, COUNT, targets);
    const answers: Array<{ kind: string; answer: Answer }> = [];
    // 16 connections at a time.
    for (let i = 0; i < requests.length; i += 16) {
      const batch = requests.slice(i, i + 16);
      const got = await Promise.all(batch.map((r) => send(hostname, Number(port), r, 10_000)));
      for (const [j, answer] of got.entries()) answers.push({ kind: batch[j].kind, answer });
    }
    const faults = answers.filter(({ answer }) => serverFault(answer) || answer.status === 'hung');
    expect(faults.map(({ kind, answer }) => `${kind}: ${answer.status} ${'body' in answer ? answer.body.slice(0, 200) : ''}`)).toEqual([]);
    // Most bad requests get an answer, not just a closed connection.
    expect(answers.filter(({ answer }) => typeof answer.status === 'number').length).toBeGreaterThan(COUNT * 0.8);
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200);
    const call = await server.post('/v4/p-test/basic/plain', { name: 'after' });
    expect(await call.json()).toMatchObject({ result: { greeting: 'hello after' } });
  }, 120_000);
});

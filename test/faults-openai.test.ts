// `reset` on the OpenAI-compatible routes: the connection destroyed without a byte of answer once
// the function has run, as on the invoke route, for chat completions (plain and streamed) and
// embeddings. A real server with --allow-faults and a real client over a real socket.
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollRun } from './async-support.ts';
import { fixture, startTestServer, type TestServer } from './helpers/test-server.ts';

const FAULT = 'x-cerebrium-local-fault';
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer([fixture('openai-app')], { allowFaults: true });
});

afterAll(async () => {
  await server?.close();
});

/** A POST over a raw socket: how it ended (an answer, or a reset before any byte), and the run id if answered. */
function rawPost(path: string, body: unknown, fault: string): Promise<{ status?: number; error?: string }> {
  return new Promise((resolve) => {
    const req = httpRequest(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', [FAULT]: fault } });
    req.on('response', (res) => {
      res.resume();
      resolve({ status: res.statusCode });
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    req.end(JSON.stringify(body));
  });
}

/** The newest run of a function of the app, once it has ended. */
async function newestRunOf(functionName: string) {
  const res = await fetch(`${server.url}/v2/projects/p-test/apps/p-test-oai/runs`);
  const { items } = (await res.json()) as { items: Array<{ id: string; functionName: string }> };
  const run = items.find((item) => item.functionName === functionName);
  return pollRun(server.url, 'oai', run?.id as string);
}

const chat = { model: 'm', messages: [{ role: 'user', content: 'hello there' }] };

describe('reset on the OpenAI routes', () => {
  it('resets chat/completions without an answer, after the function has run', async () => {
    expect(await rawPost('/v4/p-test/oai/plain_text/chat/completions', chat, 'reset')).toEqual({ error: 'ECONNRESET' });
    expect(await newestRunOf('plain_text')).toMatchObject({ status: 'success', fault: 'reset' });
  });

  it('resets a streamed chat/completions before any chunk, after the generator has run to its end', async () => {
    expect(await rawPost('/v4/p-test/oai/echo/chat/completions', { ...chat, stream: true }, 'reset')).toEqual({ error: 'ECONNRESET' });
    expect(await newestRunOf('echo')).toMatchObject({ status: 'success', fault: 'reset' });
  });

  it('resets embeddings without an answer, after the function has run', async () => {
    expect(await rawPost('/v4/p-test/oai/embed_numbers/embeddings', { model: 'e', input: ['a', 'b'] }, 'reset')).toEqual({
      error: 'ECONNRESET',
    });
    expect(await newestRunOf('embed_numbers')).toMatchObject({ status: 'success', fault: 'reset' });
  });
});

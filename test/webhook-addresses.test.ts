// Where a webhook may go: link-local and cloud-metadata addresses never, loopback and private ones not
// with --webhook-deny-private, checked on the URL at call time and on the address dialled at delivery;
// credentials in the URL are sent as Basic auth but never stored, shown or logged.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebhookAddressPolicy } from '../src/runs/webhook-address.ts';
import { ASYNC_APP, PROJECT, pollRun, runsPath, startReceiver, type TempDir, tempDataDir } from './async-support.ts';
import { startTestServer, type TestServer } from './helpers/test-server.ts';

let open: TestServer;
let strict: TestServer;
let dataDir: TempDir;

beforeAll(async () => {
  dataDir = tempDataDir();
  [open, strict] = await Promise.all([
    startTestServer([ASYNC_APP], { dataDir: dataDir.path, webhookRetryDelayMs: 20 }),
    startTestServer([ASYNC_APP], { webhookDenyPrivate: true }),
  ]);
});

afterAll(async () => {
  await Promise.all([open?.close(), strict?.close()]);
  dataDir?.remove();
});

const call = (server: TestServer, webhook: string) =>
  server.post(`/v4/${PROJECT}/async/sleepy?async=true&webhookEndpoint=${encodeURIComponent(webhook)}`, { ms: 1 });

async function expectRefusedWebhook(res: Response): Promise<void> {
  expect(res.status).toBe(400);
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(body.error.code).toBe('invalid_webhook_endpoint');
}

describe('refused at call time', () => {
  it.each([
    'http://169.254.169.254/latest/meta-data/',
    'http://169.254.1.1:8080/hook',
    'http://[fe80::1]/hook',
    'http://[fd00:ec2::254]/latest/meta-data/',
    'http://[::ffff:169.254.169.254]/hook',
  ])('%s, a link-local or cloud-metadata address, is a 400 on any server', async (url) => {
    await expectRefusedWebhook(await call(open, url));
  });

  it.each(['http://127.0.0.1:9/hook', 'http://10.1.2.3/hook', 'http://192.168.0.10/hook', 'http://[::1]:9/hook'])(
    '%s, loopback or private, is a 400 with --webhook-deny-private',
    async (url) => {
      await expectRefusedWebhook(await call(strict, url));
    },
  );

  it('a host name that resolves to loopback is a 400 with --webhook-deny-private', async () => {
    await expectRefusedWebhook(await call(strict, 'http://localhost:9/hook'));
  });

  it('no run is made for a refused webhook', async () => {
    await expectRefusedWebhook(await call(open, 'http://169.254.169.254/'));
    const list = (await (await fetch(`${open.url}${runsPath('async')}`)).json()) as { items: Array<{ webhookEndpoint: string | null }> };
    expect(list.items.some((run) => run.webhookEndpoint?.includes('169.254') ?? false)).toBe(false);
  });
});

describe('checked again at delivery', () => {
  it('a connection to a name that resolves only to refused addresses is never made', async () => {
    let reached = 0;
    const target = createServer((_req, res) => {
      reached += 1;
      res.end('ok');
    });
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    const { port } = target.address() as AddressInfo;
    const agent = new Agent({ connect: { lookup: new WebhookAddressPolicy(true).lookup } });
    try {
      const error = await request(`http://localhost:${port}/`, { method: 'POST', dispatcher: agent, body: '{}' }).then(
        () => undefined,
        (err: Error & { code?: string }) => err,
      );
      expect(error?.code).toBe('EWEBHOOKREFUSED');
      expect(reached).toBe(0);
      // The same name, allowed by the default policy, connects.
      const allowed = new Agent({ connect: { lookup: new WebhookAddressPolicy(false).lookup } });
      expect((await request(`http://localhost:${port}/`, { dispatcher: allowed })).statusCode).toBe(200);
      await allowed.close();
      expect(reached).toBe(1);
    } finally {
      await agent.close();
      target.close();
    }
  });

  it('a redirect is not followed: the 3xx is the attempt', async () => {
    const elsewhere = await startReceiver();
    const redirecting = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(302, { location: elsewhere.url }).end());
    });
    await new Promise<void>((resolve) => redirecting.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = redirecting.address() as AddressInfo;
      const res = await call(open, `http://127.0.0.1:${port}/hook`);
      const { run_id: runId } = (await res.json()) as { run_id: string };
      const run = await pollRun(open.url, 'async', runId, (r) => (r.webhookAttempts?.length ?? 0) >= 1);
      expect(run.webhookAttempts?.[0]).toMatchObject({ statusCode: 302 });
      expect(elsewhere.received).toEqual([]);
    } finally {
      redirecting.close();
      await elsewhere.close();
    }
  });
});

describe('credentials in the URL', () => {
  it('are sent as Basic auth, and never stored, shown or logged', async () => {
    // Answers 500 once, so a failed attempt is logged with the webhook's URL.
    const hook = await startReceiver((n) => (n === 1 ? 500 : 200));
    try {
      const withCredentials = hook.url.replace('http://', 'http://hook-user:s3cr%40t-pass@');
      const res = await call(open, withCredentials);
      expect(res.status).toBe(202);
      const { run_id: runId } = (await res.json()) as { run_id: string };
      const [first] = await hook.waitFor(1);
      expect(first.headers.authorization).toBe(`Basic ${Buffer.from('hook-user:s3cr@t-pass').toString('base64')}`);

      const run = await pollRun(open.url, 'async', runId, (r) => (r.webhookAttempts?.length ?? 0) >= 1);
      expect(run.webhookEndpoint).toBe(hook.url);
      const list = await (await fetch(`${open.url}${runsPath('async')}`)).text();
      const logs = JSON.stringify(open.logs());
      for (const text of [JSON.stringify(run), list, logs]) {
        expect(text).not.toContain('s3cr');
        expect(text).not.toContain('hook-user');
      }
      expect(logs).toContain(hook.url);
    } finally {
      await hook.close();
    }
  });
});

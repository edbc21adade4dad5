// The hook covers routes by their params, wherever they are registered: later routes such as the
// OpenAI-style ones (:appName) and the runs API (:appId = {projectId}-{appName}) need no wiring.
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppAuth, registerAppAuth } from '../src/auth/auth-hook.ts';
import { registerErrorHandling } from '../src/http/error-handler.ts';
import { bearer, expectRefused, hs256, SECRET } from './auth-support.ts';

let server: FastifyInstance;
let url: string;
const auth = new AppAuth({
  apps: () => [
    { name: 'secured', disableAuth: false },
    { name: 'my-app', disableAuth: false },
  ],
  checker: { kind: 'secret', key: new TextEncoder().encode(SECRET), algorithms: ['HS256'], describe: 'HS256 secret' },
  defaultProjectId: 'p-default',
});

beforeAll(async () => {
  server = Fastify();
  registerErrorHandling(server);
  registerAppAuth(server, auth);
  // Registered in a child plugin, as a later feature might: the root hook still applies.
  await server.register(async (scope) => {
    scope.post('/v4/:projectId/:appName/v1/chat/completions', async () => ({ ok: 'chat' }));
    scope.get('/v2/projects/:projectId/apps/:appId/runs', async () => ({ ok: 'runs' }));
  });
  server.get('/apps/:appName/info', async () => ({ ok: 'info' }));
  // A route that finds its app in the body calls authorize itself.
  server.post<{ Body: { app: string } }>('/by-body', async (request, reply) => {
    await auth.authorize(request, reply, { appName: request.body.app, projectId: 'p-test' });
    return { ok: 'by-body' };
  });
  url = await server.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await server?.close();
});

const get = (path: string, headers: Record<string, string> = {}) => fetch(`${url}${path}`, { headers });
const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

describe('routes covered by their params', () => {
  it(':appName in a child plugin', async () => {
    await expectRefused(await post('/v4/p-test/secured/v1/chat/completions', {}), 401, 'missing_token');
    const ok = await post('/v4/p-test/secured/v1/chat/completions', {}, bearer(await hs256({ projectId: 'p-test' })));
    expect(await ok.json()).toEqual({ ok: 'chat' });
  });

  it(':appId split as {projectId}-{appName}, on the longest app name', async () => {
    await expectRefused(await get('/v2/projects/p-test/apps/p-test-my-app/runs'), 401, 'missing_token');
    await expectRefused(
      await get('/v2/projects/p-test/apps/p-test-my-app/runs', bearer(await hs256({ projectId: 'p-other' }))),
      403,
      'project_mismatch',
    );
    const ok = await get('/v2/projects/p-test/apps/p-test-my-app/runs', bearer(await hs256({ projectId: 'p-test' })));
    expect(ok.status).toBe(200);
    expect(auth.targetFromParams({ appId: 'p-x-my-app' })).toEqual({ appName: 'my-app', projectId: 'p-x' });
    expect(auth.targetFromParams({ appId: 'my-app' })).toBeUndefined();
    expect(auth.targetFromParams({ projectId: 'p-x', appId: 'p-x-secured' })).toEqual({ appName: 'secured', projectId: 'p-x' });
    expect(auth.targetFromParams({ projectId: 'p-x', appId: 'p-x-public' })).toBeUndefined();
    // A projectId that does not prefix the appId still cannot slip past a protected app.
    expect(auth.targetFromParams({ projectId: 'p-y', appId: 'p-x-secured' })).toEqual({ appName: 'secured', projectId: 'p-x' });
  });

  it(':appName without :projectId holds tokens to the server project', async () => {
    await expectRefused(await get('/apps/secured/info', bearer(await hs256({ projectId: 'p-test' }))), 403, 'project_mismatch');
    expect((await get('/apps/secured/info', bearer(await hs256({ projectId: 'p-default' })))).status).toBe(200);
  });

  it('public and unknown apps pass through', async () => {
    expect((await get('/v2/projects/p-test/apps/p-test-public/runs')).status).toBe(200);
    expect((await post('/v4/p-test/other/v1/chat/completions', {})).status).toBe(200);
  });

  it('authorize() for routes that find their app elsewhere', async () => {
    await expectRefused(await post('/by-body', { app: 'secured' }), 401, 'missing_token');
    expect((await post('/by-body', { app: 'secured' }, bearer(await hs256({ projectId: 'p-test' })))).status).toBe(200);
    expect((await post('/by-body', { app: 'public' })).status).toBe(200);
  });
});

// GET /openapi.json: the description of every loaded app's routes, built when asked, so it
// always matches the apps as loaded (and reloaded).
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { AppRegistry, LoadedApp } from '../apps/app-registry.ts';
import type { AppAuth } from '../auth/auth-hook.ts';
import { CerebriumLocalError } from '../errors.ts';
import { buildOpenApiDocument } from './openapi-document.ts';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

export function registerOpenApiRoute(server: FastifyInstance, registry: AppRegistry, auth?: AppAuth): void {
  server.get('/openapi.json', async (request) => {
    if (!registry.ready) throw new CerebriumLocalError('apps_loading', 'The server is still loading its apps; try again shortly');
    // A locked app's functions and schemas are shown only to a caller with a valid token for the
    // server's project; without one the document lists the public apps, and never refuses.
    const seesLocked = auth === undefined || (await auth.hasValidToken(request));
    const visible = (app: LoadedApp) => seesLocked || !auth?.requiresAuth(app.config.name);
    return buildOpenApiDocument(registry, { serverUrl: `${request.protocol}://${request.host}`, version, visible });
  });
}

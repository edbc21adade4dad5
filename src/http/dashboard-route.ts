// The local dashboard: static files from src/dashboard (plain ESM, no build step) at / and
// /dashboard, the few browser libraries it imports served from node_modules under
// /dashboard/vendor/ (the page's import map names them), and the /_local JSON it reads. The page
// holds no data of its own; every call it makes goes through the same auth as any other client's.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { CerebriumLocalError } from '../errors.ts';
import { type LocalApiDeps, registerLocalApi } from './local-api-routes.ts';

const DASHBOARD_DIR = fileURLToPath(new URL('../dashboard/', import.meta.url));
const require = createRequire(import.meta.url);
/** A file beside a package's entry (its dist folder), found the way Node finds the package, hoisted or not. */
const besideEntry = (specifier: string, file: string) => () => join(dirname(require.resolve(specifier)), file);

/** The browser libraries the page imports, by the name it fetches them under. */
const VENDOR: Record<string, { file: () => string; type: string }> = {
  'preact.module.js': { file: besideEntry('preact', 'preact.module.js'), type: 'text/javascript' },
  'hooks.module.js': { file: besideEntry('preact/hooks', 'hooks.module.js'), type: 'text/javascript' },
  'htm.module.js': { file: besideEntry('htm', 'htm.module.js'), type: 'text/javascript' },
  'uPlot.esm.js': { file: besideEntry('uplot', 'uPlot.esm.js'), type: 'text/javascript' },
  'uPlot.min.css': { file: besideEntry('uplot', 'uPlot.min.css'), type: 'text/css' },
};

export function registerDashboard(server: FastifyInstance, deps: LocalApiDeps): void {
  server.register(fastifyStatic, { root: DASHBOARD_DIR, prefix: '/dashboard/', index: 'index.html', cacheControl: false });
  // `/` is not otherwise taken (openapi is /openapi.json): both open the page.
  server.get('/', (_request, reply) => reply.sendFile('index.html'));
  server.get('/dashboard', (_request, reply) => reply.sendFile('index.html'));

  const cache = new Map<string, Buffer>();
  server.get<{ Params: { name: string } }>('/dashboard/vendor/:name', async (request, reply) => {
    const entry = Object.hasOwn(VENDOR, request.params.name) ? VENDOR[request.params.name] : undefined;
    if (!entry) throw new CerebriumLocalError('route_not_found', `No dashboard file ${request.params.name}`);
    let body = cache.get(request.params.name);
    if (!body) {
      body = await readFile(entry.file());
      cache.set(request.params.name, body);
    }
    return reply.type(`${entry.type}; charset=utf-8`).send(body);
  });

  deps.history.start();
  server.addHook('onClose', async () => deps.history.stop());
  registerLocalApi(server, deps);
}

// GET /health: the process is alive. GET /ready: every app's config and function list are loaded
// (replicas may still be cold: an app can keep none warm) and the run store can write.
import type { FastifyInstance } from 'fastify';
import type { AppRegistry } from '../apps/app-registry.ts';
import { modelSessionsByApp, watchModelSessions } from '../models/provider-report.ts';
import type { StoreHealth } from '../runs/run-service.ts';

export function registerHealthRoutes(server: FastifyInstance, registry: AppRegistry, storeHealth: () => StoreHealth): void {
  server.get('/health', async () => ({ status: 'ok' }));
  // Replicas report each model session's provider as they create it; /ready lists them per app.
  watchModelSessions();

  server.get('/ready', async (_request, reply) => {
    if (registry.draining) return reply.code(503).send({ status: 'draining', apps: registry.names });
    if (!registry.ready) return reply.code(503).send({ status: 'loading', apps: registry.names });
    const store = storeHealth();
    if (!store.writable) {
      // Async calls are refused (store_unavailable) until the store writes again.
      return reply
        .code(503)
        .send({ status: 'store_unavailable', store: { location: store.location, error: store.error }, apps: registry.names });
    }
    const sessions = modelSessionsByApp();
    return {
      status: 'ready',
      apps: Object.fromEntries(
        registry.list().map((app) => {
          const models = sessions[app.config.name];
          return [app.config.name, models ? { ...app.runtime.stats, models } : app.runtime.stats];
        }),
      ),
    };
  });
}

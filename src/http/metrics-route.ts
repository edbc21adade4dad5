// GET /metrics: Prometheus text format.
import type { FastifyInstance } from 'fastify';
import type { RunMetrics } from '../runs/run-metrics.ts';

export function registerMetricsRoute(server: FastifyInstance, metrics: RunMetrics): void {
  server.get('/metrics', async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });
}

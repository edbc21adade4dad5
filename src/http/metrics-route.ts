// GET /metrics: Prometheus text format.
import type { FastifyInstance } from 'fastify';
import { gpuMetricsText, providerMetricsText, queryGpus } from '../models/nvidia-smi.ts';
import { modelSessionsByApp, watchModelSessions } from '../models/provider-report.ts';
import type { RunMetrics } from '../runs/run-metrics.ts';

export function registerMetricsRoute(server: FastifyInstance, metrics: RunMetrics): void {
  watchModelSessions();
  server.get('/metrics', async (_request, reply) => {
    const [text, gpus] = await Promise.all([metrics.registry.metrics(), queryGpus()]);
    // Models' providers, and GPU gauges only where nvidia-smi answers (none at all otherwise, never zeros).
    const extra = providerMetricsText(modelSessionsByApp()) + gpuMetricsText(gpus);
    return reply.type(metrics.registry.contentType).send(extra ? `${text.trimEnd()}\n${extra}` : text);
  });
}

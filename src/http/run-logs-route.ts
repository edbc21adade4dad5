// A run's logs, beside the runs API (and under the same auth: the path names the app as `:appId`):
//   GET /v2/projects/:projectId/apps/:appId/runs/:runId/logs → {"items": [line], "truncated"}
// With `Accept: text/event-stream` or `?follow=true`, the lines kept so far come as `event: log`
// frames, then each new line as it is logged while the run is live, then one `event: end`.
import type { FastifyInstance } from 'fastify';
import type { StoredLogLine } from '../runs/run-repository.ts';
import type { RunService } from '../runs/run-service.ts';
import { EventStream } from './event-stream.ts';
import { type RunParams, runRef } from './runs-routes.ts';
import { acceptsEventStream } from './sse-stream.ts';

/** A log line as the API shows it. */
export interface ApiLogLine {
  seq: number;
  at: string;
  stream: StoredLogLine['stream'];
  level: string;
  line: string;
  cut?: boolean;
}

export function toApiLogLine(line: StoredLogLine): ApiLogLine {
  const shown: ApiLogLine = { seq: line.seq, at: new Date(line.at).toISOString(), stream: line.stream, level: line.level, line: line.line };
  if (line.cut) shown.cut = true;
  return shown;
}

export function registerRunLogsRoute(server: FastifyInstance, runs: RunService, options: { heartbeatMs: number }): void {
  server.get<{ Params: RunParams; Querystring: { follow?: string } }>(
    '/v2/projects/:projectId/apps/:appId/runs/:runId/logs',
    async (request, reply) => {
      const ref = runRef(request.params);
      const follow = request.query.follow === 'true' || acceptsEventStream(request.headers.accept);
      if (!follow) {
        const logs = await runs.logs(ref);
        return { items: logs.lines.map(toApiLogLine), truncated: logs.truncated };
      }
      // Throws the 404 before the stream begins.
      const run = await runs.get(ref);
      const live = runs.liveLogs(run.id);
      // The live buffer's lines and its later ones are taken in one turn, so none is missed or sent twice.
      const snapshot = live ? live.snapshot() : await runs.logs(ref);
      const stream = new EventStream(reply, options.heartbeatMs);
      for (const line of snapshot.lines) stream.send('log', toApiLogLine(line));
      if (!live) {
        stream.send('end', { truncated: snapshot.truncated });
        stream.end();
        return;
      }
      const onLines = (lines: StoredLogLine[]) => {
        for (const line of lines) stream.send('log', toApiLogLine(line));
      };
      const onEnd = () => {
        stream.send('end', { truncated: live.snapshot().truncated });
        stream.end();
      };
      live.on('lines', onLines);
      live.once('end', onEnd);
      stream.onEnd(() => {
        live.off('lines', onLines);
        live.off('end', onEnd);
      });
    },
  );
}

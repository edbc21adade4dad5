// Closing the listener at shutdown. Answers still being written (runs that just finished, or were
// just cancelled) get until the grace period's end, and at least a moment; past it every connection
// is closed: keep-alive sockets, a client that stopped reading, an upgraded WebSocket. So no client
// can hold the process beyond --shutdown-grace-ms.
import type { FastifyInstance } from 'fastify';
import { waitAtMost } from '../runs/drain-runs.ts';

/** Time an answer gets to be written even when the grace period is already spent. */
const MIN_FLUSH_MS = 500;

export async function closeServer(server: FastifyInstance, graceEndsAt: number): Promise<void> {
  const closing = server.close();
  await waitAtMost(closing, Math.max(MIN_FLUSH_MS, graceEndsAt - Date.now()));
  server.server.closeAllConnections();
  // Upgraded sockets are no longer the HTTP server's to close.
  for (const client of server.websocketServer?.clients ?? []) client.terminate();
  await closing;
}

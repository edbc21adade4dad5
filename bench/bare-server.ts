// The baseline: a bare Fastify server answering what the emulator answers, with no worker, run
// or replica in between. Started as its own process so it gets the same treatment as the emulator.
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import Fastify from 'fastify';

const server = Fastify({ logger: false });

server.get('/ready', async () => ({ status: 'ready' }));

server.post('/bare/hello', async (_request, reply) => {
  const id = randomUUID();
  reply.header('x-request-id', id);
  return { run_id: id, result: { message: 'hello' }, run_time_ms: 0.01 };
});

async function* chunks(count: number) {
  for (let i = 0; i < count; i += 1) yield `chunk ${i}`;
}

server.post<{ Body: { count?: number } }>('/bare/chunks', async (request, reply) => {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  for await (const chunk of chunks(request.body?.count ?? 10_000)) {
    if (!res.write(`data: ${chunk}\n\n`)) await once(res, 'drain');
  }
  res.end();
});

await server.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
const address = server.server.address();
const port = typeof address === 'object' && address ? address.port : 0;
process.stdout.write(`Ready on http://127.0.0.1:${port}\n`);

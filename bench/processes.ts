// Server processes for the benchmarks: each one its own process, its log in a file, ready once
// GET /ready answers 200.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('..', import.meta.url));

export interface Server {
  url: string;
  pid: number;
  child: ChildProcess;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
    probe.on('error', reject);
  });
}

async function waitReady(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${url}/ready`)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} never became ready`);
}

/** Starts a server process; its log goes to a file so reading it costs the load generator nothing. */
export async function startProcess(name: string, args: string[], env: Record<string, string> = {}): Promise<Server> {
  const port = await freePort();
  const log = openSync(join(tmpdir(), `cerebrium-local-bench-${name}.log`), 'w');
  const child = spawn(process.execPath, args, {
    cwd: root,
    stdio: ['ignore', log, log],
    env: { ...process.env, PORT: String(port), LOG_FORMAT: 'json', ...env },
  });
  const url = `http://127.0.0.1:${port}`;
  await waitReady(url, child);
  return { url, pid: child.pid ?? 0, child };
}

export async function stopProcess(server: Server): Promise<void> {
  server.child.kill('SIGTERM');
  await new Promise((resolve) => server.child.once('exit', resolve));
}

/** A fresh run-store folder per server, so a bench never meets another server's data dir. */
export function dataDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `cerebrium-local-bench-${name}-`));
}

export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

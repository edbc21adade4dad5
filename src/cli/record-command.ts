// `cerebrium-local record`: sends each request of a JSONL file to a deployment (the real one, or
// anything standing in for it) and writes what it answered as golden files for `parity`.
import { basename, dirname, extname, join } from 'node:path';
import { exchange, type ParityTarget } from '../parity/exchange.ts';
import { type GoldenFile, writeGolden } from '../parity/golden.ts';
import { readRequestFile } from '../parity/request-file.ts';
import { type CommandIo, parseCommandArgs, processIo } from './command-args.ts';

export const RECORD_USAGE = `Usage: cerebrium-local record --base-url URL --app APP [options] FILE.jsonl

Sends each request of FILE.jsonl to a deployment and writes its answers as golden files
(status, the headers that matter, body shape, SSE framing, async 202 and the final run),
run ids, times and durations normalised. Replay them with \`cerebrium-local parity DIR\`.

Each line of FILE.jsonl: {"name", "function", "method"?, "body"?, "headers"?, "stream"?, "async"?}

Options:
  --base-url URL       where /v4/<project>/<app>/<function> is served (e.g. https://api.cortex.cerebrium.ai)
  --token TOKEN        sent as Authorization: Bearer TOKEN (its projectId claim is the default project)
  --app APP            the app's name
  --project ID         the project id (default: the token's projectId claim)
  --runs-base-url URL  where the runs API is, to read async runs back (default: --base-url)
  --out DIR            where the golden files go (default: FILE's name with .golden, beside it)
  -h, --help           show this text
`;

export async function recordCommand(argv: string[], io: CommandIo = processIo): Promise<number> {
  const args = parseCommandArgs(argv, ['base-url', 'token', 'app', 'project', 'runs-base-url', 'out'], RECORD_USAGE, io);
  if (typeof args === 'number') return args;
  const { values, positional: file } = args;
  const baseUrl = values['base-url'];
  const app = values.app;
  const token = values.token;
  const project = values.project ?? projectOfToken(token);
  if (baseUrl === undefined || app === undefined || file === undefined || project === undefined) {
    io.err(`record needs --base-url, --app, a project (--project or a token with a projectId claim) and FILE.jsonl\n\n${RECORD_USAGE}`);
    return 2;
  }
  const out = values.out ?? join(dirname(file), `${basename(file, extname(file))}.golden`);
  const target: ParityTarget = { baseUrl, project, app, token };
  if (values['runs-base-url'] !== undefined) target.runsBaseUrl = values['runs-base-url'];
  try {
    return await record(file, out, target, io);
  } catch (err) {
    io.err(`cerebrium-local record: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

async function record(file: string, out: string, target: ParityTarget, io: CommandIo): Promise<number> {
  const requests = await readRequestFile(file);
  const files: GoldenFile[] = [];
  for (const request of requests) {
    const response = await exchange(target, request);
    files.push({ request, response });
    io.out(`${request.name}: ${response.status}${response.events ? ` (${response.events.length} events)` : ''}`);
  }
  const manifest = {
    recordedFrom: target.baseUrl,
    recordedAt: new Date().toISOString(),
    project: target.project,
    app: target.app,
    requests: requests.map((r) => r.name),
  };
  await writeGolden(out, manifest, files);
  io.out(`Wrote ${files.length} golden file${files.length === 1 ? '' : 's'} to ${out}`);
  return 0;
}

/** The projectId claim of a JWT, read without checking it (only to name the project). */
function projectOfToken(token: string | undefined): string | undefined {
  const payload = token?.split('.')[1];
  if (!payload) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as { projectId?: unknown };
    return typeof claims.projectId === 'string' ? claims.projectId : undefined;
  } catch {
    return undefined;
  }
}

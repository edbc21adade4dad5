// `cerebrium-local parity`: replays golden files (made by `record`) against this emulator and
// prints what differs per request; exits 1 when anything does.
import { parseArgs } from 'node:util';
import { DEFAULTS } from '../defaults.ts';
import { differences } from '../parity/compare.ts';
import { exchange, type ParityTarget } from '../parity/exchange.ts';
import { readGolden } from '../parity/golden.ts';
import { type CommandIo, processIo } from './record-command.ts';

export const PARITY_USAGE = `Usage: cerebrium-local parity GOLDEN_DIR [options]

Replays the requests recorded in GOLDEN_DIR (by \`cerebrium-local record\`) against a server and
prints, per request, what differs: status, header set, key order, types, SSE framing, async run.
Exits 1 when anything differs.

Options:
  --base-url URL   the server to check (default http://${DEFAULTS.host}:${DEFAULTS.port})
  --token TOKEN    sent as Authorization: Bearer TOKEN
  --project ID     the project id in the path (default: the recorded one)
  --app APP        the app's name (default: the recorded one)
  -h, --help       show this text
`;

export async function parityCommand(argv: string[], io: CommandIo = processIo): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  let dir: string | undefined;
  try {
    const parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'base-url': { type: 'string' },
        token: { type: 'string' },
        project: { type: 'string' },
        app: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    values = parsed.values;
    dir = parsed.positionals[0];
  } catch (err) {
    io.err(`${err instanceof Error ? err.message : String(err)}\n\n${PARITY_USAGE}`);
    return 2;
  }
  if (values.help) {
    io.out(PARITY_USAGE);
    return 0;
  }
  if (dir === undefined) {
    io.err(`parity needs GOLDEN_DIR\n\n${PARITY_USAGE}`);
    return 2;
  }
  try {
    return await replay(dir, values, io);
  } catch (err) {
    io.err(`cerebrium-local parity: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

async function replay(dir: string, values: Record<string, string | boolean | undefined>, io: CommandIo): Promise<number> {
  const { manifest, files } = await readGolden(dir);
  const str = (v: string | boolean | undefined) => (typeof v === 'string' ? v : undefined);
  const target: ParityTarget = {
    baseUrl: str(values['base-url']) ?? `http://${DEFAULTS.host}:${DEFAULTS.port}`,
    project: str(values.project) ?? manifest.project,
    app: str(values.app) ?? manifest.app,
    token: str(values.token),
  };
  let differing = 0;
  for (const { request, response } of files) {
    const found = differences(response, await exchange(target, request));
    if (found.length === 0) {
      io.out(`✓ ${request.name}`);
      continue;
    }
    differing += 1;
    io.out(`✗ ${request.name}`);
    for (const line of found) io.out(`    ${line}`);
  }
  io.out(
    differing === 0
      ? `All ${files.length} requests answer as recorded.`
      : `${differing} of ${files.length} requests differ from what ${manifest.recordedFrom} answered.`,
  );
  return differing === 0 ? 0 : 1;
}

// `cerebrium-local parity`: replays golden files (made by `record`) against this emulator and
// prints what differs per request; exits 1 when anything does.
import { DEFAULTS } from '../defaults.ts';
import { differences } from '../parity/compare.ts';
import { exchange, type ParityTarget } from '../parity/exchange.ts';
import { readGolden } from '../parity/golden.ts';
import { type CommandArgs, type CommandIo, parseCommandArgs, processIo } from './command-args.ts';

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
  const args = parseCommandArgs(argv, ['base-url', 'token', 'project', 'app'], PARITY_USAGE, io);
  if (typeof args === 'number') return args;
  const { values, positional: dir } = args;
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

async function replay(dir: string, values: CommandArgs['values'], io: CommandIo): Promise<number> {
  const { manifest, files } = await readGolden(dir);
  const target: ParityTarget = {
    baseUrl: values['base-url'] ?? `http://${DEFAULTS.host}:${DEFAULTS.port}`,
    project: values.project ?? manifest.project,
    app: values.app ?? manifest.app,
    token: values.token,
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

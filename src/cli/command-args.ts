// What the parity kit's subcommands (`record`, `parity`) share: where they write, and how their
// options are read (string options, -h/--help, one positional), so both answer a bad option or
// --help the same way.
import { parseArgs } from 'node:util';

export interface CommandIo {
  out(line: string): void;
  err(line: string): void;
}

export const processIo: CommandIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

export interface CommandArgs {
  values: Record<string, string | undefined>;
  /** The first positional argument, when given. */
  positional: string | undefined;
}

/**
 * Reads `argv` for a subcommand whose `options` all take a string. Returns the exit code when the
 * command ends here (2 after printing a bad option's error with `usage`, 0 after printing `usage`
 * for -h/--help), else the values and the positional.
 */
export function parseCommandArgs(argv: string[], options: readonly string[], usage: string, io: CommandIo): CommandArgs | number {
  const config = Object.fromEntries(options.map((name) => [name, { type: 'string' as const }]));
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { ...config, help: { type: 'boolean', short: 'h' } } });
  } catch (err) {
    io.err(`${err instanceof Error ? err.message : String(err)}\n\n${usage}`);
    return 2;
  }
  const { help, ...rest } = parsed.values;
  if (help) {
    io.out(usage);
    return 0;
  }
  const values: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(rest)) if (typeof value === 'string') values[name] = value;
  return { values, positional: parsed.positionals[0] };
}

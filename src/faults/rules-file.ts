// --faults FILE: the rules as TOML, read at start (a bad file stops start-up) and, with --watch,
// again whenever the file changes (a bad change keeps the rules in force and says why).
import { type FSWatcher, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { type FaultRuleSet, FaultRulesError, readFaultRules } from './fault-rules.ts';

/** Changes are gathered this long, so an editor's write-then-rename is one reload. */
const SETTLE_MS = 100;

export async function loadFaultRulesFile(file: string): Promise<FaultRuleSet> {
  const text = await readFile(file, 'utf8');
  let parsed: unknown;
  try {
    parsed = parseToml(text);
  } catch (err) {
    throw new FaultRulesError(`${file} is not valid TOML: ${err instanceof Error ? err.message : String(err)}`);
  }
  try {
    return readFaultRules(parsed);
  } catch (err) {
    if (err instanceof FaultRulesError) throw new FaultRulesError(`${file}: ${err.message}`);
    throw err;
  }
}

export interface RulesFileEvents {
  reloaded(rules: FaultRuleSet): void;
  failed(err: unknown): void;
}

/** Watches the file's folder (a rename replaces the file's inode); returns what stops watching. */
export function watchFaultRulesFile(file: string, events: RulesFileEvents): () => void {
  let timer: NodeJS.Timeout | undefined;
  const name = basename(file);
  const watcher: FSWatcher = watch(dirname(file), (_event, changed) => {
    if (changed !== null && changed !== name) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      loadFaultRulesFile(file).then(events.reloaded, events.failed);
    }, SETTLE_MS);
  });
  return () => {
    clearTimeout(timer);
    watcher.close();
  };
}

// The data dir holds callers' bodies and functions' results: its folder is made 0700 and the run
// store's files 0600, whatever the umask, so other users of the machine cannot read them.
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';

/**
 * Makes `dir` (and missing parents) readable by its owner only. A folder that already exists is
 * left as it is (it may be one the operator shares on purpose); returns true when it is open to
 * others, so the caller can say so.
 */
export function makePrivateDir(dir: string): { openToOthers: boolean } {
  if (existsSync(dir)) return { openToOthers: (statSync(dir).mode & 0o077) !== 0 };
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  return { openToOthers: false };
}

/**
 * Creates `file` empty with mode 0600 if it is missing, and sets 0600 on it and on each of
 * `companions` that exists. SQLite gives its -wal and -shm files the main file's mode, so the
 * main file is made private before SQLite opens it.
 */
export function makePrivateFiles(file: string, companions: string[] = []): void {
  closeSync(openSync(file, 'a', 0o600));
  for (const path of [file, ...companions]) {
    if (existsSync(path)) chmodSync(path, 0o600);
  }
}

// Writes a generated stand-in model where none is yet, and never over a file that is there (it may
// be a real export the user dropped in). Replicas may race to do it, so each writes its own
// temporary file and renames it into place: a reader sees no file or a whole one, never half.
import { mkdir, rename, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { threadId } from 'node:worker_threads';

/** True when it generated the file, false when one was already there. */
export async function ensureStandIn(file: string, build: () => Uint8Array): Promise<boolean> {
  if (await exists(file)) return false;
  await mkdir(dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}-${threadId}.tmp`;
  await writeFile(temporary, build());
  // Another replica may have finished first; its bytes are the same, so the rename is harmless.
  await rename(temporary, file);
  return true;
}

async function exists(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

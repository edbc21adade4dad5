// Golden files: one JSON file per request (`<name>.json`: the request and what the deployment
// answered, normalised) and a `parity.json` manifest naming the app, project and request order.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Observation } from './exchange.ts';
import type { ParityRequest } from './request-file.ts';

export const MANIFEST = 'parity.json';

export interface GoldenManifest {
  /** Where they were recorded (for people; never replayed against). */
  recordedFrom: string;
  recordedAt: string;
  project: string;
  app: string;
  requests: string[];
}

export interface GoldenFile {
  request: ParityRequest;
  response: Observation;
}

export async function writeGolden(dir: string, manifest: GoldenManifest, files: GoldenFile[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const file of files) await writeFile(join(dir, `${file.request.name}.json`), `${JSON.stringify(file, null, 2)}\n`);
  await writeFile(join(dir, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
}

export async function readGolden(dir: string): Promise<{ manifest: GoldenManifest; files: GoldenFile[] }> {
  const manifest = JSON.parse(await readFile(join(dir, MANIFEST), 'utf8')) as GoldenManifest;
  const files: GoldenFile[] = [];
  for (const name of manifest.requests) files.push(JSON.parse(await readFile(join(dir, `${name}.json`), 'utf8')) as GoldenFile);
  return { manifest, files };
}

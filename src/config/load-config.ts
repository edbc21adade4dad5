// cerebrium.toml → a validated, typed AppConfig. Unknown keys are warnings (the real CLI grows
// keys faster than any emulator); a key of the wrong type stops start-up, naming file and key.
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parse as parseToml, TomlError } from 'smol-toml';
import { CEREBRIUM_TOML, describeSchema, isTableSpec, type TableSpec } from './toml-schema.ts';

export interface ScalingConfig {
  minReplicas: number;
  maxReplicas: number;
  /** Seconds a replica may sit idle before it goes (down to minReplicas). */
  cooldown: number;
  /** Runs one replica serves at once. */
  replicaConcurrency: number;
  /** Seconds a run may take before the caller gets a gateway timeout. */
  responseGracePeriod: number;
}

export interface HardwareConfig {
  cpu: number;
  /** GB of memory per replica. */
  memory: number;
  /** `CPU`, or the GPU kinds the app asks for, in order of preference. */
  compute: string[];
  gpuCount: number;
}

export interface AppConfig {
  /** Absolute path of the app's folder. */
  dir: string;
  /** Absolute path of its cerebrium.toml. */
  file: string;
  name: string;
  disableAuth: boolean;
  hardware: HardwareConfig;
  scaling: ScalingConfig;
  /** The whole validated document, for features that read keys of their own. */
  toml: Record<string, unknown>;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Table = Record<string, unknown>;

const isTable = (v: unknown): v is Table => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface LoadedConfig {
  config: AppConfig;
  /** Unknown keys, by dotted name. */
  warnings: string[];
}

export async function loadAppConfig(appDir: string): Promise<LoadedConfig> {
  const dir = resolve(appDir);
  const file = join(dir, 'cerebrium.toml');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(code === 'ENOENT' ? `${file}: not found (an app is a folder with a cerebrium.toml)` : `${file}: ${String(err)}`);
  }
  return parseAppConfig(text, dir, file);
}

export function parseAppConfig(text: string, dir: string, file: string): LoadedConfig {
  let doc: Table;
  try {
    doc = parseToml(text) as Table;
  } catch (err) {
    const detail = err instanceof TomlError ? `line ${err.line}, column ${err.column}: ${err.message.split('\n')[0]}` : String(err);
    throw new ConfigError(`${file}: not valid TOML (${detail})`);
  }

  const warnings: string[] = [];
  const errors: string[] = [];
  checkTable(doc, CEREBRIUM_TOML, '', warnings, errors);
  if (errors.length) throw new ConfigError(`${file}:\n  ${errors.join('\n  ')}`);

  const section = (path: string[]): Table => {
    let t: unknown = doc;
    for (const key of path) t = isTable(t) ? t[key] : undefined;
    return isTable(t) ? t : {};
  };
  const deployment = section(['cerebrium', 'deployment']);
  if (typeof deployment.name !== 'string') {
    throw new ConfigError(`${file}: [cerebrium.deployment].name is required (the app's name in its URLs)`);
  }
  const hardware = section(['cerebrium', 'hardware']);
  const scaling = section(['cerebrium', 'scaling']);
  const computeRaw = hardware.compute ?? 'CPU';
  const compute = (Array.isArray(computeRaw) ? computeRaw : [computeRaw]).map(String);
  const onGpu = compute.some((c) => c.toUpperCase() !== 'CPU');

  const num = (t: Table, key: string, fallback: number) => (typeof t[key] === 'number' ? (t[key] as number) : fallback);
  const maxReplicas = num(scaling, 'max_replicas', 2);
  const minReplicas = num(scaling, 'min_replicas', 0);
  if (minReplicas > maxReplicas) {
    throw new ConfigError(`${file}: [cerebrium.scaling].min_replicas (${minReplicas}) must not exceed max_replicas (${maxReplicas})`);
  }

  const config: AppConfig = {
    dir,
    file,
    name: deployment.name,
    // The real service's current default: endpoints are public unless the app asks for auth.
    disableAuth: typeof deployment.disable_auth === 'boolean' ? deployment.disable_auth : true,
    hardware: {
      cpu: num(hardware, 'cpu', 2),
      memory: num(hardware, 'memory', 4),
      compute,
      gpuCount: num(hardware, 'gpu_count', onGpu ? 1 : 0),
    },
    scaling: {
      minReplicas,
      maxReplicas,
      cooldown: num(scaling, 'cooldown', 60),
      // As on the real service: 1 run at a time on a GPU replica, 100 on a CPU one.
      replicaConcurrency: num(scaling, 'replica_concurrency', onGpu ? 1 : 100),
      responseGracePeriod: num(scaling, 'response_grace_period', 900),
    },
    toml: doc,
  };
  return { config, warnings };
}

function checkTable(value: Table, spec: TableSpec, path: string, warnings: string[], errors: string[]): void {
  for (const [key, entry] of Object.entries(value)) {
    const dotted = path ? `${path}.${key}` : key;
    const keySpec = spec[key];
    if (!keySpec) {
      warnings.push(`unknown key "${dotted}" (ignored)`);
      continue;
    }
    if (isTableSpec(keySpec)) {
      if (!isTable(entry)) errors.push(`[${dotted}] must be a table, got ${typeName(entry)}`);
      else checkTable(entry, keySpec, dotted, warnings, errors);
      continue;
    }
    if (!Value.Check(keySpec as TSchema, entry)) {
      errors.push(`[${path}].${key} must be ${describeSchema(keySpec as TSchema)}, got ${typeName(entry)} ${preview(entry)}`);
    }
  }
}

function typeName(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Date) return 'a date';
  if (isTable(v)) return 'a table';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a number';
  return `a ${typeof v}`;
}

function preview(v: unknown): string {
  const text = v instanceof Date ? v.toISOString() : JSON.stringify(v);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

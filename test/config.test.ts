// cerebrium.toml parsing and validation, on real files in a temp folder.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadAppConfig } from '../src/config/load-config.ts';

async function appWith(toml: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cl-config-'));
  await writeFile(join(dir, 'cerebrium.toml'), toml);
  return dir;
}

describe('cerebrium.toml', () => {
  it('reads the reference example with every section', async () => {
    const dir = await appWith(`
[cerebrium.deployment]
name = "llm-inference"
python_version = "3.11"
disable_auth = false
include = ["./*", "main.py"]
exclude = [".*"]

[cerebrium.hardware]
cpu = 4
memory = 16.0
compute = "AMPERE_A10"
gpu_count = 1
provider = "aws"
region = "us-east-1"

[cerebrium.scaling]
min_replicas = 0
max_replicas = 2
cooldown = 10
replica_concurrency = 1
response_grace_period = 900

[cerebrium.runtime.custom]
port = 8000
entrypoint = ["python", "app.py"]

[cerebrium.dependencies.pip]
torch = ">=2.0"

[cerebrium.dependencies.paths]
pip = "requirements.txt"
`);
    const { config, warnings } = await loadAppConfig(dir);
    expect(warnings).toEqual([]);
    expect(config.name).toBe('llm-inference');
    expect(config.disableAuth).toBe(false);
    expect(config.hardware).toEqual({ cpu: 4, memory: 16, compute: ['AMPERE_A10'], gpuCount: 1 });
    expect(config.scaling).toEqual({
      minReplicas: 0,
      maxReplicas: 2,
      cooldown: 10,
      replicaConcurrency: 1,
      responseGracePeriod: 900,
    });
  });

  it('fills the real service defaults: public, CPU, 100 runs per CPU replica', async () => {
    const { config } = await loadAppConfig(await appWith('[cerebrium.deployment]\nname = "tiny"\n'));
    expect(config.disableAuth).toBe(true);
    expect(config.hardware.compute).toEqual(['CPU']);
    expect(config.scaling.replicaConcurrency).toBe(100);
    expect(config.scaling.responseGracePeriod).toBe(900);
  });

  it('a GPU app serves one run per replica by default', async () => {
    const { config } = await loadAppConfig(
      await appWith('[cerebrium.deployment]\nname = "gpu"\n[cerebrium.hardware]\ncompute = "AMPERE_A10"\n'),
    );
    expect(config.scaling.replicaConcurrency).toBe(1);
    expect(config.hardware.gpuCount).toBe(1);
  });

  it('warns about unknown keys by name and carries on', async () => {
    const { config, warnings } = await loadAppConfig(
      await appWith(`
[cerebrium.deployment]
name = "warned"
nmae = "typo"

[cerebrium.scaling]
max_replicaz = 3

[cerebrium.mystery]
x = 1
`),
    );
    expect(config.name).toBe('warned');
    expect(warnings).toEqual([
      'unknown key "cerebrium.deployment.nmae" (ignored)',
      'unknown key "cerebrium.scaling.max_replicaz" (ignored)',
      'unknown key "cerebrium.mystery" (ignored)',
    ]);
  });

  it('stops on a wrong type, naming the file, the key and the expected type', async () => {
    const dir = await appWith(`
[cerebrium.deployment]
name = "typed"
disable_auth = "no"

[cerebrium.scaling]
max_replicas = 1.5
cooldown = -1
`);
    const err = await loadAppConfig(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    const message = (err as Error).message;
    expect(message).toContain(join(dir, 'cerebrium.toml'));
    expect(message).toContain('[cerebrium.deployment].disable_auth must be a boolean (true or false), got a string "no"');
    expect(message).toContain('[cerebrium.scaling].max_replicas must be an integer >= 1, got a number 1.5');
    expect(message).toContain('[cerebrium.scaling].cooldown must be a number >= 0, got an integer -1');
  });

  it('stops when a table is not a table', async () => {
    const err = await loadAppConfig(await appWith('[cerebrium]\ndeployment = "demo"\n')).catch((e: unknown) => e);
    expect((err as Error).message).toContain('[cerebrium.deployment] must be a table, got a string');
  });

  it('stops when the name is missing', async () => {
    const err = await loadAppConfig(await appWith('[cerebrium.hardware]\ncpu = 2\n')).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/\[cerebrium\.deployment\]\.name is required/);
  });

  it('stops on TOML syntax errors with the line', async () => {
    const err = await loadAppConfig(await appWith('[cerebrium.deployment]\nname = "unterminated\n')).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/not valid TOML \(line 2/);
  });

  it('stops when min_replicas exceeds max_replicas', async () => {
    const err = await loadAppConfig(
      await appWith('[cerebrium.deployment]\nname = "x"\n[cerebrium.scaling]\nmin_replicas = 3\nmax_replicas = 2\n'),
    ).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/min_replicas \(3\) must not exceed max_replicas \(2\)/);
  });

  it('says so when the folder has no cerebrium.toml', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cl-config-'));
    const err = await loadAppConfig(dir).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/cerebrium\.toml: not found/);
  });
});

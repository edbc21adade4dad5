// [cerebrium.runtime.custom] is not served yet: an app that asks for it stops loading with a
// message saying so (and, for a Dockerfile-only app, how to run its image), instead of being served
// as something it is not.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startServer } from '../src/serve.ts';

const scratch = mkdtempSync(join(tmpdir(), 'cl-custom-'));

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** An app folder with a main.py (so it would otherwise load) and the given custom runtime table. */
function customApp(name: string, table: string): string {
  const dir = join(scratch, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'main.py'), 'def hello():\n    return "hi"\n');
  writeFileSync(join(dir, 'cerebrium.toml'), `[cerebrium.deployment]\nname = "${name}"\n\n[cerebrium.runtime.custom]\n${table}\n`);
  return dir;
}

async function loadError(dir: string): Promise<string> {
  const running = await startServer({
    appDirs: [dir],
    host: '127.0.0.1',
    port: 0,
    projectId: 'p-test',
    logLevel: 'silent',
    logDestination: { write: () => undefined },
  });
  try {
    await running.loaded;
    return 'loaded';
  } catch (err) {
    return (err as Error).message;
  } finally {
    await running.close();
  }
}

describe('custom runtimes', () => {
  it('stop an app from loading with a message that says they are not served yet', async () => {
    const message = await loadError(customApp('web', 'entrypoint = ["python3", "server.py"]\nport = 8080'));
    expect(message).toMatch(/\[cerebrium\.runtime\.custom\].*not served by cerebrium-local yet/);
  });

  it('with only a dockerfile_path, say that Docker builds are not run and how to run the image', async () => {
    const message = await loadError(customApp('docker', 'dockerfile_path = "./Dockerfile"\nport = 8192'));
    expect(message).toContain('does not run Docker builds');
    expect(message).toContain('docker build -f ./Dockerfile -t docker');
    expect(message).toContain('docker run -p 8192:8192 docker');
  });
});

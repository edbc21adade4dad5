// `serve --watch`: reloads an app when what defines it changes — cerebrium.toml, .env, main.*, any .py, and the
// functions/ and models/ folders. Changes are gathered for a moment, so saving several files (or
// an editor's write-then-rename) is one reload.
import { existsSync, type FSWatcher, watch } from 'node:fs';
import { basename, join } from 'node:path';
import type { AppConfig } from '../config/load-config.ts';
import type { AppRegistry, ReloadPrepare } from './app-registry.ts';

const TOP_LEVEL = /^(cerebrium\.toml|\.env|main\.(ts|mts|js|mjs)|[^/]+\.py)$/;
const WATCHED_FOLDERS = ['functions', 'models'];
const SETTLE_MS = 150;

export interface WatchEvents {
  reloaded(appName: string, warnings: string[], change: { previous: AppConfig; next: AppConfig }): void;
  failed(dir: string, error: unknown): void;
  /** Before a changed app loads: may refuse the reload by throwing (see AppRegistry.reload). */
  beforeSwap?: ReloadPrepare;
}

export class AppWatcher {
  private readonly watchers: FSWatcher[] = [];
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** One reload at a time per app; a change during one schedules another after it. */
  private readonly running = new Map<string, Promise<void>>();

  constructor(
    private readonly registry: AppRegistry,
    private readonly events: WatchEvents,
  ) {}

  watch(dir: string): void {
    this.watchers.push(
      watch(dir, (_event, file) => {
        if (file && TOP_LEVEL.test(basename(file))) this.schedule(dir);
      }),
    );
    for (const folder of WATCHED_FOLDERS) {
      const path = join(dir, folder);
      if (existsSync(path)) this.watchers.push(watch(path, { recursive: true }, () => this.schedule(dir)));
    }
  }

  private schedule(dir: string): void {
    clearTimeout(this.timers.get(dir));
    this.timers.set(
      dir,
      setTimeout(() => {
        this.timers.delete(dir);
        const previous = this.running.get(dir) ?? Promise.resolve();
        const next = previous.then(() => this.reload(dir));
        this.running.set(dir, next);
      }, SETTLE_MS),
    );
  }

  private async reload(dir: string): Promise<void> {
    try {
      const { app, warnings, previous } = await this.registry.reload(dir, this.events.beforeSwap);
      this.events.reloaded(app.config.name, warnings, { previous, next: app.config });
    } catch (err) {
      this.events.failed(dir, err);
    }
  }

  close(): void {
    for (const watcher of this.watchers.splice(0)) watcher.close();
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }
}

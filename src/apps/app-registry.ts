// The apps this server serves, by name: each one's config, its functions and its runtime.
// Loading has two steps so the server can listen (and answer /health) while apps load:
// configs first (fast, and a bad one stops start-up), then each app's function list.
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { appEnvironment } from '../config/app-env.ts';
import { type AppConfig, loadAppConfig } from '../config/load-config.ts';
import type { ExportInfo } from '../replica-protocol.ts';
import { AppRuntime, type RuntimeOptions } from '../runtime/app-runtime.ts';
import { ProcessBackend } from '../runtime/process-backend.ts';
import { inspectPythonApp } from '../runtime/python-process.ts';
import { type CustomRuntimeSpec, UpstreamBackend } from '../runtime/upstream-backend.ts';
import { findAppEntry } from './app-modules.ts';
import { customRuntimeOf } from './custom-runtime.ts';
import { compileParamsValidator, type ParamsValidator } from './params-validator.ts';
import { prepareVenv } from './python-deps.ts';
import { findInterpreter, pythonVersionWarning } from './python-interpreter.ts';
import { type FunctionDirectory, publicFunctions, type ResolvedFunction, resolveApp, resolveFunction } from './resolve-function.ts';

export interface AppFunction extends ExportInfo {
  validateParams?: ParamsValidator;
}

export interface LoadedApp {
  config: AppConfig;
  /** Every export, callable or not, so a 404 can say why a name is not callable. */
  functions: Map<string, AppFunction>;
  runtime: AppRuntime;
  /** Set for a custom runtime: requests are forwarded to its own server, and `functions` is empty. */
  custom?: CustomRuntimeSpec;
}

export interface AppRegistryOptions extends RuntimeOptions {
  /** The interpreter for Python apps (`python3`, or --python). */
  python: string;
  /** How often a custom runtime's healthcheck_endpoint is polled. */
  healthcheckIntervalMs: number;
  /** Where Python apps' output and replica troubles are logged. */
  log: Logger;
  /**
   * --install-deps: install each Python app's [cerebrium.dependencies.pip] into a virtual environment
   * of its own under `<dataDir>/venvs`, and run the app on it. Nothing is installed when absent.
   */
  installDeps?: { dataDir: string };
}

/** Called during a reload with the new config and the one it replaces, before the new one loads. */
export type ReloadPrepare = (next: AppConfig, previous: AppConfig) => Promise<void>;

export class AppRegistry implements FunctionDirectory {
  private readonly apps = new Map<string, LoadedApp>();
  private configs: AppConfig[] = [];
  private loaded = false;

  constructor(private readonly options: AppRegistryOptions) {}

  /** Reads and validates every app's cerebrium.toml. Returns the unknown-key warnings. */
  async loadConfigs(appDirs: string[]): Promise<string[]> {
    const warnings: string[] = [];
    const byName = new Map<string, AppConfig>();
    for (const dir of appDirs) {
      const { config, warnings: own } = await loadAppConfig(dir);
      warnings.push(...own.map((w) => `${config.file}: ${w}`));
      const clash = byName.get(config.name);
      if (clash) {
        throw new Error(`Two apps are named "${config.name}": ${clash.file} and ${config.file}`);
      }
      byName.set(config.name, config);
    }
    this.configs = [...byName.values()];
    return warnings;
  }

  /** Imports each app's modules in a throwaway replica to learn its functions, then starts its replicas. */
  async loadFunctions(): Promise<void> {
    for (const config of this.configs) {
      this.apps.set(config.name, await this.loadApp(config));
    }
    this.loaded = true;
  }

  private async loadApp(config: AppConfig): Promise<LoadedApp> {
    const custom = customRuntimeOf(config);
    if (custom) return this.customApp(config, custom);
    const entry = await findAppEntry(config.dir);
    const { exports, runtime } = entry.kind === 'python' ? await this.pythonApp(config) : await this.nodeApp(config, entry.modules);
    const functions = new Map<string, AppFunction>();
    for (const info of exports) {
      const fn: AppFunction = { ...info };
      if (info.paramsSchema) fn.validateParams = compileParamsValidator(info.paramsSchema);
      functions.set(info.name, fn);
    }
    await startedOrClosed(runtime);
    return { config, functions, runtime };
  }

  /** TypeScript and JavaScript: inspected in a throwaway thread, run in worker threads. */
  private async nodeApp(config: AppConfig, modules: string[]): Promise<{ exports: ExportInfo[]; runtime: AppRuntime }> {
    const replicaData = AppRuntime.replicaData(config, modules, this.options);
    const exports = await AppRuntime.inspect(replicaData);
    return { exports, runtime: AppRuntime.withThreads(config, replicaData, this.options) };
  }

  /** Python (main.py): inspected in a throwaway process, run in one process per replica. */
  private async pythonApp(config: AppConfig): Promise<{ exports: ExportInfo[]; runtime: AppRuntime }> {
    const { log, installDeps } = this.options;
    const interpreter = await findInterpreter(this.options.python, config.dir);
    const warning = pythonVersionWarning(config, this.options.python, interpreter);
    if (warning) log.warn({ app: config.name }, warning);
    let python = interpreter.executable;
    if (installDeps) {
      // Other venvs of this app are removed at start-up only: during a reload the old code still runs on its own.
      const venv = await prepareVenv(config, { interpreter, dataDir: installDeps.dataDir, log, prune: !this.apps.has(config.name) });
      if (venv) python = venv.python;
    }
    const env = appEnvironment(config, this.options);
    const exports = await inspectPythonApp({ python, appDir: config.dir, env, log });
    const backend = new ProcessBackend({ python, appName: config.name, appDir: config.dir, env, scaling: config.scaling, log });
    return { exports, runtime: new AppRuntime(config, backend, this.options) };
  }

  /** A custom runtime: its replicas are its own web server, started from its entrypoint. */
  private async customApp(config: AppConfig, custom: CustomRuntimeSpec): Promise<LoadedApp> {
    const backend = new UpstreamBackend({
      appName: config.name,
      appDir: config.dir,
      env: appEnvironment(config, this.options),
      scaling: config.scaling,
      runtime: custom,
      healthIntervalMs: this.options.healthcheckIntervalMs,
      log: this.options.log,
    });
    const runtime = new AppRuntime(config, backend, this.options);
    await startedOrClosed(runtime);
    return { config, functions: new Map(), runtime, custom };
  }

  /**
   * Loads the app in `dir` again (config, modules, function list) and swaps it in. Runs already
   * accepted finish on the old replicas, which then close. If anything fails, the old app keeps
   * serving and the error is thrown for the caller to report. `prepare` sees the new config before
   * anything loads (auth readies a key for an app turning locked); it may refuse by throwing.
   */
  async reload(dir: string, prepare?: ReloadPrepare): Promise<{ app: LoadedApp; warnings: string[]; previous: AppConfig }> {
    const old = this.list().find((app) => app.config.dir === resolve(dir));
    if (!old) throw new Error(`No app is served from ${dir}`);
    const { config, warnings } = await loadAppConfig(dir);
    const clash = this.configs.find((c) => c.name === config.name && c.dir !== config.dir);
    if (clash) throw new Error(`Two apps are named "${config.name}": ${clash.file} and ${config.file}`);
    await prepare?.(config, old.config);
    const app = await this.loadApp(config);
    this.apps.delete(old.config.name);
    this.apps.set(config.name, app);
    this.configs = this.configs.map((c) => (c.dir === config.dir ? config : c));
    void old.runtime.retire();
    return { app, warnings, previous: old.config };
  }

  get ready(): boolean {
    return this.loaded;
  }

  /** Set at shutdown: calls get 503 while the runs already accepted finish. */
  draining = false;

  get(name: string): LoadedApp | undefined {
    return this.apps.get(name);
  }

  /** Every app's validated config, known before its functions load (auth is decided from these). */
  get appConfigs(): readonly AppConfig[] {
    return this.configs;
  }

  get names(): string[] {
    return this.configs.map((c) => c.name);
  }

  resolve(appName: string, functionName: string): ResolvedFunction {
    return resolveFunction(this, appName, functionName);
  }

  resolveApp(appName: string): LoadedApp {
    return resolveApp(this, appName);
  }

  /** Whether `appName` is served by a custom runtime (every path under it is forwarded). */
  isCustom(appName: string): boolean {
    return this.apps.get(appName)?.custom !== undefined;
  }

  list(): LoadedApp[] {
    return [...this.apps.values()];
  }

  /** The functions a caller may call: functions whose name does not start with `_`. */
  static publicFunctions(app: LoadedApp): AppFunction[] {
    return publicFunctions(app);
  }

  async close(): Promise<void> {
    await Promise.all(this.list().map((app) => app.runtime.close()));
  }
}

/** An app whose replicas cannot start fails to load, as one whose modules cannot be imported does. */
async function startedOrClosed(runtime: AppRuntime): Promise<void> {
  await runtime.started.catch(async (err: unknown) => {
    await runtime.close();
    throw err;
  });
}

// Path names → a loaded app and one of its callable functions, or a 404 that says which part is wrong.
import { CerebriumLocalError } from '../errors.ts';
import type { AppFunction, AppRegistry, LoadedApp } from './app-registry.ts';

export interface ResolvedFunction {
  app: LoadedApp;
  fn: AppFunction;
}

/** What the run service needs of the apps: a function by its path names, or the error saying why not. */
export interface FunctionDirectory {
  resolve(appName: string, functionName: string): ResolvedFunction;
  /** An app by name (a custom runtime's requests name no function), or the error saying why not. */
  resolveApp(appName: string): LoadedApp;
}

/** The functions a caller may call: functions whose name does not start with `_`. */
export function publicFunctions(app: LoadedApp): AppFunction[] {
  return [...app.functions.values()].filter((f) => f.kind !== 'not-a-function' && !f.name.startsWith('_'));
}

type Apps = Pick<AppRegistry, 'draining' | 'ready' | 'get' | 'names'>;

export function resolveApp(registry: Apps, appName: string): LoadedApp {
  if (registry.draining) throw new CerebriumLocalError('shutting_down', 'The server is shutting down and takes no new runs');
  if (!registry.ready) throw new CerebriumLocalError('apps_loading', 'The server is still loading its apps; try again shortly');
  const app = registry.get(appName);
  if (!app) {
    throw new CerebriumLocalError(
      'app_not_found',
      `No app named "${appName}" is served here (apps: ${registry.names.join(', ') || 'none'})`,
    );
  }
  return app;
}

export function resolveFunction(registry: Apps, appName: string, functionName: string): ResolvedFunction {
  const app = resolveApp(registry, appName);
  if (app.custom) {
    throw new CerebriumLocalError(
      'function_not_found',
      `App "${appName}" is a custom runtime: its requests are forwarded to its own server, not called as functions`,
    );
  }
  const callable = () =>
    publicFunctions(app)
      .map((f) => f.name)
      .join(', ') || 'none';
  if (functionName.startsWith('_')) {
    throw new CerebriumLocalError(
      'function_private',
      `"${functionName}" is private to app "${appName}": names starting with "_" cannot be called (public: ${callable()})`,
    );
  }
  const fn = app.functions.get(functionName);
  if (!fn) {
    throw new CerebriumLocalError('function_not_found', `App "${appName}" has no function "${functionName}" (public: ${callable()})`);
  }
  if (fn.kind === 'not-a-function') {
    throw new CerebriumLocalError(
      'not_a_function',
      `"${functionName}" in ${fn.file} of app "${appName}" is exported but is not a function`,
    );
  }
  return { app, fn };
}

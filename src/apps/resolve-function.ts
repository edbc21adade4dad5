// Path names → a loaded app and one of its callable functions, or a 404 that says which part is wrong.
import { AppRegistry, type AppFunction, type LoadedApp } from './app-registry.ts';
import { notFound, unavailable } from '../errors.ts';

export interface ResolvedFunction {
  app: LoadedApp;
  fn: AppFunction;
}

export function resolveFunction(registry: AppRegistry, appName: string, functionName: string): ResolvedFunction {
  if (registry.draining) throw unavailable('shutting_down', 'The server is shutting down and takes no new runs');
  if (!registry.ready) throw unavailable('apps_loading', 'The server is still loading its apps; try again shortly');
  const app = registry.get(appName);
  if (!app) {
    throw notFound('app_not_found', `No app named "${appName}" is served here (apps: ${registry.names.join(', ') || 'none'})`);
  }
  const callable = () => AppRegistry.publicFunctions(app).map((f) => f.name).join(', ') || 'none';
  if (functionName.startsWith('_')) {
    throw notFound(
      'function_private',
      `"${functionName}" is private to app "${appName}": names starting with "_" cannot be called (public: ${callable()})`,
    );
  }
  const fn = app.functions.get(functionName);
  if (!fn) {
    throw notFound('function_not_found', `App "${appName}" has no function "${functionName}" (public: ${callable()})`);
  }
  if (fn.kind === 'not-a-function') {
    throw notFound('not_a_function', `"${functionName}" in ${fn.file} of app "${appName}" is exported but is not a function`);
  }
  return { app, fn };
}

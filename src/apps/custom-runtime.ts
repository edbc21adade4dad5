// [cerebrium.runtime.custom]: an app that is its own web server. Serving it (starting the
// entrypoint per replica, gating on its readycheck, forwarding requests) is not built yet, so an
// app that asks for it stops loading with a message that says so, rather than being served as if
// it were a main.py or main.ts app.
import type { AppConfig } from '../config/load-config.ts';

interface CustomRuntime {
  entrypoint?: string | string[];
  port?: number;
  dockerfile_path?: string;
}

function customRuntimeOf(config: AppConfig): CustomRuntime | undefined {
  const runtime = (config.toml.cerebrium as { runtime?: { custom?: CustomRuntime } } | undefined)?.runtime;
  return runtime?.custom;
}

/** Throws the reason an app with a custom runtime cannot be served here; returns for any other app. */
export function refuseCustomRuntime(config: AppConfig): void {
  const custom = customRuntimeOf(config);
  if (!custom) return;
  if (custom.entrypoint === undefined && custom.dockerfile_path !== undefined) {
    const port = custom.port ?? 8000;
    throw new Error(
      `${config.file}: [cerebrium.runtime.custom] builds the app from dockerfile_path = "${custom.dockerfile_path}", and cerebrium-local ` +
        `does not run Docker builds. Build and run the image yourself (docker build -f ${custom.dockerfile_path} -t ${config.name} ${config.dir} && ` +
        `docker run -p ${port}:${port} ${config.name}) and call it on http://127.0.0.1:${port}.`,
    );
  }
  throw new Error(
    `${config.file}: [cerebrium.runtime.custom] (an app that is its own web server) is not served by cerebrium-local yet. ` +
      'Run its entrypoint yourself and call it directly, or serve the app as a main.py (or main.ts) app without that table.',
  );
}

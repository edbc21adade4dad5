// [cerebrium.runtime.custom]: an app that is its own web server. This reads the table into what the
// upstream backend needs to start and check its replicas. A Dockerfile-only app cannot be served
// here (no Docker builds run locally): loading it fails with the commands to run it instead.
import type { AppConfig } from '../config/load-config.ts';
import { DEFAULTS } from '../defaults.ts';
import type { CustomRuntimeSpec } from '../runtime/upstream-backend.ts';

interface CustomRuntimeTable {
  entrypoint?: string | string[];
  port?: number;
  healthcheck_endpoint?: string;
  readycheck_endpoint?: string;
  dockerfile_path?: string;
}

/** Cerebrium's port for a custom runtime that names none. */
const DEFAULT_PORT = 8000;

function customTable(config: AppConfig): CustomRuntimeTable | undefined {
  const runtime = (config.toml.cerebrium as { runtime?: { custom?: CustomRuntimeTable } } | undefined)?.runtime;
  return runtime?.custom;
}

/** The app's custom runtime, or undefined for a function app. Throws for one that cannot run here. */
export function customRuntimeOf(config: AppConfig): CustomRuntimeSpec | undefined {
  const custom = customTable(config);
  if (!custom) return undefined;
  const port = custom.port ?? DEFAULT_PORT;
  if (custom.entrypoint === undefined) {
    if (custom.dockerfile_path !== undefined) {
      throw new Error(
        `${config.file}: [cerebrium.runtime.custom] builds the app from dockerfile_path = "${custom.dockerfile_path}", and cerebrium-local ` +
          `does not run Docker builds. Build and run the image yourself (docker build -f ${custom.dockerfile_path} -t ${config.name} ${config.dir} && ` +
          `docker run -p ${port}:${port} ${config.name}) and call it on http://127.0.0.1:${port}, or add an entrypoint that starts the server without Docker.`,
      );
    }
    throw new Error(`${config.file}: [cerebrium.runtime.custom] needs an entrypoint (the command that starts the app's web server)`);
  }
  const argv = Array.isArray(custom.entrypoint) ? custom.entrypoint : custom.entrypoint.split(/\s+/).filter(Boolean);
  if (argv.length === 0) throw new Error(`${config.file}: [cerebrium.runtime.custom] entrypoint is empty`);
  const deployment = config.toml.cerebrium as { deployment?: { deployment_initialization_timeout?: number } } | undefined;
  const initSeconds = deployment?.deployment?.deployment_initialization_timeout;
  return {
    argv,
    port,
    readycheckEndpoint: endpoint(custom.readycheck_endpoint),
    healthcheckEndpoint: endpoint(custom.healthcheck_endpoint),
    readyTimeoutMs: initSeconds === undefined ? DEFAULTS.customReadyTimeoutMs : initSeconds * 1000,
  };
}

/** An endpoint as a path: "health" and "/health" both mean /health. */
function endpoint(path: string | undefined): string | undefined {
  if (path === undefined || path === '') return undefined;
  return path.startsWith('/') ? path : `/${path}`;
}

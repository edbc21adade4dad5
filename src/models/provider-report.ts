// Which provider each model session really runs on, told from the replicas to the server thread so
// /ready and /metrics can show it per app and model. Replicas are worker threads of the same
// process, so a BroadcastChannel carries the reports without touching the run protocol; the server
// keeps the latest report per app and model. Both ends are unref'd: they never keep a process alive.
import { BroadcastChannel } from 'node:worker_threads';
import type { ExecutionProvider } from './provider-names.ts';

const CHANNEL = 'cerebrium-local:model-sessions';

export interface ModelSessionReport {
  app: string;
  model: string;
  provider: ExecutionProvider;
  /** The provider asked for, when the session fell back from it. */
  asked?: ExecutionProvider;
  /** Why the asked-for provider was not used. */
  why?: string;
  /** The CUDA device, when the session runs on CUDA with a device chosen. */
  deviceId?: number;
}

let sender: BroadcastChannel | undefined;

/** Replica side: tell the server about a session just created. */
export function reportModelSession(report: ModelSessionReport): void {
  if (!sender) {
    sender = new BroadcastChannel(CHANNEL);
    sender.unref();
  }
  sender.postMessage(report);
}

let receiver: BroadcastChannel | undefined;
const latest = new Map<string, ModelSessionReport>();

/** Server side: start hearing reports (idempotent); call before replicas start. */
export function watchModelSessions(): void {
  if (receiver) return;
  receiver = new BroadcastChannel(CHANNEL);
  receiver.unref();
  receiver.onmessage = (event) => {
    const report = (event as { data: ModelSessionReport }).data;
    latest.set(JSON.stringify([report.app, report.model]), report);
  };
}

/** The latest report per app and model, by app. */
export function modelSessionsByApp(): Record<string, ModelSessionReport[]> {
  const byApp: Record<string, ModelSessionReport[]> = {};
  for (const report of latest.values()) {
    byApp[report.app] ??= [];
    byApp[report.app].push(report);
  }
  return byApp;
}

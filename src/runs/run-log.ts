// A listener that writes one log line per finished run. Bodies and results are not logged.
import type { Logger } from 'pino';
import type { Run } from './run.ts';

const round = (ms: number | undefined) => (ms === undefined ? undefined : Math.round(ms * 100) / 100);

export function logRunOutcome(run: Run, log: Logger): void {
  run.on('transition', () => {
    if (!run.done) return;
    const line = {
      run_id: run.id,
      app: run.appName,
      function: run.functionName,
      status: run.status,
      queue_ms: round(run.queueTimeMs),
      run_ms: round(run.runTimeMs),
      // Injected faults are named, so nobody takes one for a real failure (undefined: left out).
      fault: run.fault?.text,
    };
    if (run.error?.injectedStatus !== undefined) {
      log.warn({ ...line, err: { type: run.error.name, message: run.error.message } }, 'run failed by an injected fault');
    } else if (run.status === 'failure') {
      log.error({ ...line, err: { type: run.error?.name, message: run.error?.message, stack: run.error?.stack } }, 'run failed');
    } else {
      log.info(line, run.status === 'success' ? 'run succeeded' : 'run cancelled');
    }
  });
}

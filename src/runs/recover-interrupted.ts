// On start, no run can still be pending or running: the process that ran it is gone (killed,
// crashed, or stopped before it finished). Each such run becomes a failure that says so, rather
// than a record that claims to be running forever. Runs are not re-run: a function may have side
// effects that must not happen twice.
import { CerebriumLocalError, errorBody } from '../errors.ts';
import type { RunRepository } from './run-repository.ts';

function serverStopped(): CerebriumLocalError {
  return new CerebriumLocalError(
    'server_stopped',
    'The server stopped during this run (it was killed or exited before the run finished); the run did not complete',
  );
}

/** Returns how many runs were marked as failed. */
export function recoverInterruptedRuns(repository: RunRepository): Promise<number> {
  const err = serverStopped();
  return repository.recoverInterrupted(err.statusCode, errorBody(err).error);
}

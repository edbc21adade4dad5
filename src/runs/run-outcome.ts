// What a finished run answered. The caller's reply, the webhook and the run store all take it from
// one function (src/http/run-reply.ts), so the three can never disagree.
import type { Run } from './run.ts';

export interface RunOutcome {
  /** The HTTP status the caller got (or would have got, for an async run). */
  statusCode: number;
  /** The response body as JSON text: `{run_id, result, run_time_ms}` or the error envelope. */
  body: string;
  /** The envelope's `error` object, when the run did not succeed. */
  error?: Record<string, unknown>;
}

export type DescribeOutcome = (run: Run) => RunOutcome;

import type { FunctionContext } from 'cerebrium-local';

/** Streams the words of a prompt back, one event each, as Cerebrium's streaming docs do. */
export async function* stream({ prompt = 'streaming from cerebrium-local', delay_ms = 50 }: { prompt?: string; delay_ms?: number }, ctx: FunctionContext) {
  for (const word of prompt.split(/\s+/)) {
    if (ctx.signal.aborted) return;
    yield `${word} `;
    await new Promise((resolve) => setTimeout(resolve, delay_ms));
  }
}

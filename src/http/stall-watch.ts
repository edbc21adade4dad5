// --stream-stall-ms for answers the server pipes rather than writes frame by frame (a custom
// runtime's forwarded body): a response that has waited on 'drain' for the whole limit has a client
// that reads nothing, and is ended instead of holding its socket and its replica's slot forever.
import type { ServerResponse } from 'node:http';

/** Calls `onStall` once `res` has been waiting for its client to read for `stallMs`; 0 turns it off. */
export function watchForStall(res: ServerResponse, stallMs: number, onStall: () => void): void {
  if (stallMs <= 0) return;
  let waitingSince: number | undefined;
  const forget = () => {
    waitingSince = undefined;
  };
  res.on('drain', forget);
  const timer = setInterval(
    () => {
      if (!res.writableNeedDrain) return forget();
      waitingSince ??= Date.now();
      if (Date.now() - waitingSince < stallMs) return;
      clearInterval(timer);
      onStall();
    },
    Math.min(1_000, Math.max(10, stallMs / 4)),
  );
  timer.unref();
  res.once('close', () => {
    clearInterval(timer);
    res.off('drain', forget);
  });
}

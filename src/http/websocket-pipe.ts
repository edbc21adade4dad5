// Two open WebSockets joined: every message goes across as it came (text stays text, binary
// binary), and a close on either side closes the other with the same code and reason.
import WebSocket from 'ws';
import type { EarlyMessages } from '../runtime/forwarding.ts';

/** Codes a close frame may not carry (RFC 6455 §7.4.1): what each becomes when passed on. */
const UNSENDABLE: Record<number, number> = { 1005: 1000, 1006: 1011, 1015: 1011 };

/** Joins the caller's socket and the replica's, passing on first what the replica said before the join. */
export function pipeWebSockets(caller: WebSocket, replica: WebSocket, early: EarlyMessages): void {
  // In one turn: what was held goes first, and from here on the join's listener takes every message.
  for (const { data, isBinary } of early.take()) caller.send(data, { binary: isBinary });
  join(caller, replica);
  join(replica, caller);
}

function join(from: WebSocket, to: WebSocket): void {
  from.on('message', (data, isBinary) => {
    if (to.readyState === WebSocket.OPEN) to.send(data, { binary: isBinary });
  });
  from.on('close', (code, reason) => {
    if (to.readyState === WebSocket.OPEN || to.readyState === WebSocket.CONNECTING) {
      to.close(UNSENDABLE[code] ?? code, reason);
    }
  });
  // An error is followed by a close; the close is what is passed on.
  from.on('error', () => undefined);
}

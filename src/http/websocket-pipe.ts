// Two open WebSockets joined: every message goes across as it came (text stays text, binary
// binary), and a close on either side closes the other with the same code and reason.
import WebSocket from 'ws';

/** Codes a close frame may not carry (RFC 6455 §7.4.1): what each becomes when passed on. */
const UNSENDABLE: Record<number, number> = { 1005: 1000, 1006: 1011, 1015: 1011 };

/** Joins `a` and `b`, then lets either read (a side paused until now keeps what it had received). */
export function pipeWebSockets(a: WebSocket, b: WebSocket): void {
  join(a, b);
  join(b, a);
  a.resume();
  b.resume();
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

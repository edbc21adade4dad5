// How one yielded chunk becomes Server-Sent Events text. Runs in the replica, so the server
// thread only copies finished frames to the socket.

const FRAME_FIELD = /^(data:|event:|id:|retry:|:)/;

/** A string that already is a whole SSE frame (a known field first, a blank line last). */
export function isSseFrame(chunk: string): boolean {
  return FRAME_FIELD.test(chunk) && (chunk.endsWith('\n\n') || chunk.endsWith('\r\n\r\n'));
}

const LINE_BREAK = /[\r\n]/;

export function toSseFrame(chunk: unknown): string {
  if (typeof chunk === 'string') {
    // The common case (a token, a word), without the split below: no line break, so not a frame either.
    if (!LINE_BREAK.test(chunk)) return `data: ${chunk}\n\n`;
    if (isSseFrame(chunk)) return chunk;
    // One `data:` line per line, so a newline inside the chunk cannot end the event early.
    return `${chunk
      .split(/\r\n|\r|\n/)
      .map((line) => `data: ${line}`)
      .join('\n')}\n\n`;
  }
  return `data: ${JSON.stringify(chunk) ?? 'null'}\n\n`;
}

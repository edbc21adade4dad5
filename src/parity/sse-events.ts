// A small reader of text/event-stream, enough to compare framing: each event's field names in
// order and its data. Comment lines (keep-alives) are counted apart, not as events.

export interface SseEvent {
  /** The field names of the event, in order ("event", "data", "id", ...). */
  fields: string[];
  /** The event's name, when it has an `event:` field. */
  event?: string;
  /** Its data lines joined with "\n". */
  data: string;
}

export interface SseText {
  events: SseEvent[];
  comments: number;
  /** Text after the last blank line: an event that was never finished. */
  unterminated: string;
}

export function parseSse(text: string): SseText {
  const blocks = text.replace(/\r\n?/g, '\n').split('\n\n');
  const unterminated = blocks.pop() ?? '';
  const events: SseEvent[] = [];
  let comments = 0;
  for (const block of blocks) {
    const event: SseEvent = { fields: [], data: '' };
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) {
        comments += 1;
        continue;
      }
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
      event.fields.push(field);
      if (field === 'data') data.push(value);
      if (field === 'event') event.event = value;
    }
    if (event.fields.length === 0) continue;
    event.data = data.join('\n');
    events.push(event);
  }
  return { events, comments, unterminated };
}

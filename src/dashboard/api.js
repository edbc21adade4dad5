// Every call the page makes goes through here: the token (kept in sessionStorage) as a bearer on
// each one, and Server-Sent Events read with fetch, since EventSource cannot send a header.

const TOKEN_KEY = 'cerebrium-local-token';

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY) ?? '',
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** An answer that was not 2xx: its status and the error envelope's message. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code;
  }
}

/** Listeners told when a call is refused for want of a token (the page then asks for one). */
const unauthorizedListeners = new Set();
export const onUnauthorized = (listener) => {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
};

export function headers(extra = {}) {
  const bearer = token.get();
  return bearer ? { ...extra, authorization: `Bearer ${bearer}` } : extra;
}

async function check(res) {
  if (res.ok) return res;
  const body = await res.json().catch(() => undefined);
  if (res.status === 401) for (const listener of unauthorizedListeners) listener();
  throw new ApiError(res.status, body);
}

export async function getJson(path) {
  const res = await check(await fetch(path, { headers: headers() }));
  return res.json();
}

export async function postJson(path, body) {
  const res = await check(await fetch(path, { method: 'POST', headers: headers({ 'content-type': 'application/json' }), body }));
  return res.json();
}

/** The runs API of one app. */
export const runsPath = (projectId, app) =>
  `/v2/projects/${encodeURIComponent(projectId)}/apps/${encodeURIComponent(`${projectId}-${app}`)}/runs`;

/** Calls a function; without `stream` resolves to the JSON answer. */
export function invoke(projectId, app, fn, bodyText, init = {}) {
  return fetch(`/v4/${encodeURIComponent(projectId)}/${encodeURIComponent(app)}/${encodeURIComponent(fn)}`, {
    method: 'POST',
    headers: headers({ 'content-type': 'application/json', ...(init.accept ? { accept: init.accept } : {}) }),
    body: bodyText,
    signal: init.signal,
  });
}

/** Splits an SSE body into frames as they arrive: `onFrame({event, data})`, data as text. */
export async function readFrames(res, onFrame) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    text += decoder.decode(value, { stream: true });
    let end = text.indexOf('\n\n');
    while (end >= 0) {
      const frame = text.slice(0, end);
      text = text.slice(end + 2);
      const lines = frame.split('\n');
      const event = lines.find((l) => l.startsWith('event: '))?.slice(7) ?? 'message';
      const data = lines
        .filter((l) => l.startsWith('data: ') || l === 'data:')
        .map((l) => l.slice(6))
        .join('\n');
      if (lines.some((l) => l.startsWith('data:'))) onFrame({ event, data });
      end = text.indexOf('\n\n');
    }
  }
}

/**
 * Follows an SSE endpoint with the bearer: `onEvent(name, parsedData)` for each event, reconnecting
 * after a dropped connection while `signal` is not aborted. Resolves when the stream ends by itself
 * (when `once`) or the signal aborts.
 */
export async function follow(path, onEvent, { signal, once = false } = {}) {
  while (!signal?.aborted) {
    try {
      const res = await check(await fetch(path, { headers: headers({ accept: 'text/event-stream' }), signal }));
      await readFrames(res, ({ event, data }) => onEvent(event, JSON.parse(data)));
      if (once) return;
    } catch (err) {
      if (signal?.aborted || err.status === 401 || err.status === 403 || err.status === 404) return;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

// "Try it": call one of the app's functions from the page. A declared params schema with simple
// fields becomes a form; any other function gets a JSON editor. A generator can stream, and its
// chunks are shown as they arrive.
import { useMemo, useState } from 'preact/hooks';
import { invoke, readFrames } from './api.js';
import { html } from './html.js';

const SIMPLE = new Set(['string', 'number', 'integer', 'boolean']);

/** The schema's fields when every one is a plain value, else undefined (the JSON editor is used). */
function simpleFields(schema) {
  const props = schema?.properties;
  if (!props || typeof props !== 'object') return undefined;
  const fields = Object.entries(props).map(([name, s]) => ({ name, type: s?.type, required: (schema.required ?? []).includes(name), s }));
  return fields.length > 0 && fields.every((f) => SIMPLE.has(f.type)) ? fields : undefined;
}

function example(schema) {
  const out = {};
  for (const [name, s] of Object.entries(schema?.properties ?? {})) {
    if (s?.default !== undefined) out[name] = s.default;
    else if (s?.type === 'string') out[name] = '';
    else if (s?.type === 'integer' || s?.type === 'number') out[name] = s.minimum ?? 1;
    else if (s?.type === 'boolean') out[name] = false;
  }
  return JSON.stringify(out, null, 2);
}

function FormFields({ fields, values, onChange }) {
  return fields.map(
    (f) => html`<label class="field">
      <span>${f.name}${f.required ? ' *' : ''} <small>${f.type}</small></span>
      ${
        f.type === 'boolean'
          ? html`<input type="checkbox" name=${f.name} checked=${values[f.name] === true} onChange=${(e) => onChange(f.name, e.target.checked)} />`
          : html`<input
            name=${f.name}
            type=${f.type === 'string' ? 'text' : 'number'}
            value=${values[f.name] ?? ''}
            onInput=${(e) => onChange(f.name, f.type === 'string' ? e.target.value : e.target.value === '' ? undefined : Number(e.target.value))}
          />`
      }
    </label>`,
  );
}

/** Sends the call and shows its answer; a stream's chunks are appended as they come. */
async function call({ projectId, app, fn, body, stream, show }) {
  show({ state: 'calling', text: '' });
  try {
    const res = await invoke(projectId, app.name, fn.name, body, { accept: stream ? 'text/event-stream' : undefined });
    const streamed = res.ok && (res.headers.get('content-type') ?? '').includes('text/event-stream');
    if (!streamed) {
      const text = await res.text();
      let shown = text;
      try {
        shown = JSON.stringify(JSON.parse(text), null, 2);
      } catch {}
      show({ state: res.ok ? 'done' : 'failed', status: res.status, text: shown });
      return;
    }
    let text = '';
    let chunks = 0;
    await readFrames(res, ({ event, data }) => {
      chunks += 1;
      text += event === 'message' ? data : `\n[${event}] ${data}`;
      show({ state: 'streaming', status: res.status, text, chunks });
    });
    show({ state: 'done', status: res.status, text, chunks });
  } catch (err) {
    show({ state: 'failed', text: String(err.message ?? err) });
  }
}

export function TryIt({ app, projectId }) {
  const callable = app.functions;
  const [fnName, setFnName] = useState(callable[0]?.name);
  const fn = callable.find((f) => f.name === fnName) ?? callable[0];
  const fields = useMemo(() => simpleFields(fn?.paramsSchema), [fn]);
  const [values, setValues] = useState({});
  const [json, setJson] = useState(() => example(fn?.paramsSchema));
  const [stream, setStream] = useState(true);
  const [answer, setAnswer] = useState(undefined);
  if (!fn) return html`<div class="try-it"><h3>Try it</h3><p class="muted">No functions to call.</p></div>`;
  const streams = fn.kind !== 'function';

  const pick = (name) => {
    const next = callable.find((f) => f.name === name);
    setFnName(name);
    setValues({});
    setJson(example(next?.paramsSchema));
    setAnswer(undefined);
  };
  const submit = (event) => {
    event.preventDefault();
    const body = fields ? JSON.stringify(values) : json;
    call({ projectId, app, fn, body, stream: streams && stream, show: setAnswer });
  };

  return html`<form class="try-it" data-testid="try-it" onSubmit=${submit}>
    <h3>Try it</h3>
    <select data-testid="try-function" value=${fn.name} onChange=${(e) => pick(e.target.value)}>
      ${callable.map((f) => html`<option value=${f.name}>${f.name}${f.kind === 'function' ? '' : ' (generator)'}</option>`)}
    </select>
    ${fn.description ? html`<p class="muted">${fn.description}</p>` : null}
    ${
      fields
        ? html`<${FormFields} fields=${fields} values=${values} onChange=${(name, value) => setValues((v) => ({ ...v, [name]: value }))} />`
        : html`<textarea data-testid="try-json" rows="5" spellcheck="false" value=${json} onInput=${(e) => setJson(e.target.value)}></textarea>`
    }
    ${streams ? html`<label><input type="checkbox" data-testid="try-stream" checked=${stream} onChange=${(e) => setStream(e.target.checked)} /> stream (SSE)</label>` : null}
    <button type="submit" data-testid="try-send">Send</button>
    ${
      answer
        ? html`<div class="answer" data-testid="try-answer" data-state=${answer.state} data-chunks=${answer.chunks ?? 0}>
          <small>${answer.state}${answer.status ? ` · ${answer.status}` : ''}${answer.chunks ? ` · ${answer.chunks} chunks` : ''}</small>
          <pre data-testid="try-output">${answer.text}</pre>
        </div>`
        : null
    }
  </form>`;
}

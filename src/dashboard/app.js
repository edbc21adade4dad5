// The dashboard's shell: asks for a token when the server wants one, then shows the settings, the
// apps (functions with "try it", runs, replicas) and a run's detail. One SSE connection to
// /_local/events feeds every live view; nothing polls.
import { render } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError, follow, getJson, onUnauthorized, token } from './api.js';
import { html } from './html.js';
import { ReplicasPanel } from './replicas-chart.js';
import { RunDetail } from './run-detail.js';
import { RunsTable } from './runs-table.js';
import { TryIt } from './try-it.js';

/** Live events from the server, handed to whichever views listen. */
const listeners = { run: new Set(), replicas: new Set() };
export const subscribe = (event, listener) => {
  listeners[event].add(listener);
  return () => listeners[event].delete(listener);
};

function TokenForm({ onToken, refused }) {
  const [value, setValue] = useState('');
  const submit = (event) => {
    event.preventDefault();
    onToken(value.trim());
  };
  return html`<form class="token" data-testid="token-form" onSubmit=${submit}>
    <h2>This server needs a token</h2>
    <p>A key source is configured: paste a JWT for the project (<code>cerebrium-local token --project …</code>). It is kept
    in this tab's session storage only.</p>
    ${refused ? html`<p class="error" data-testid="token-error">That token was refused.</p>` : null}
    <input name="token" type="password" placeholder="eyJ…" value=${value} onInput=${(e) => setValue(e.target.value)} />
    <button type="submit">Use token</button>
  </form>`;
}

/** Fault injection as the settings line says it: off, or whether the header is honoured and each rule in force. */
function faultsText(faults) {
  if (!faults) return 'off';
  const header = faults.allowHeader ? 'header allowed (--allow-faults)' : 'header ignored';
  const rules = faults.rules.map((r) => `${r.app}/${r.function}${r.probability < 1 ? ` p=${r.probability}` : ''}: ${r.fault}`);
  return [header, rules.length === 0 ? 'no rules' : `rules (seed ${faults.seed}): ${rules.join('; ')}`].join(', ');
}

function Settings({ settings, onForget }) {
  return html`<section class="settings" data-testid="settings">
    <span><b>project</b> ${settings.projectId}</span>
    <span><b>auth</b> ${settings.authMode}</span>
    <span><b>data dir</b> ${settings.dataDir ?? '(in memory)'}</span>
    <span data-testid="settings-faults"><b>faults</b> ${faultsText(settings.faults)}</span>
    ${token.get() ? html`<button class="link" onClick=${onForget}>forget token</button>` : null}
  </section>`;
}

function AppPanel({ app, settings, onOpenRun }) {
  return html`<section class="app" data-testid=${`app-${app.name}`}>
    <h2>${app.name} ${app.locked ? html`<span class="badge">needs token</span>` : null}
      ${app.custom ? html`<span class="badge">custom runtime</span>` : null}</h2>
    <div class="columns">
      <${TryIt} app=${app} projectId=${settings.projectId} />
      <${ReplicasPanel} app=${app} subscribe=${subscribe} />
    </div>
    <${RunsTable} app=${app} projectId=${settings.projectId} subscribe=${subscribe} onOpen=${onOpenRun} />
  </section>`;
}

function App() {
  const [state, setState] = useState({ phase: 'loading' });
  const [selected, setSelected] = useState(undefined);
  const [openRun, setOpenRun] = useState(undefined);

  const load = useCallback(async () => {
    try {
      const settings = await getJson('/_local/settings');
      const apps = await getJson('/_local/apps');
      setState({ phase: 'ready', settings, apps: apps.items, loading: apps.loading });
    } catch (err) {
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
        setState((s) => ({ phase: 'token', refused: s.phase === 'token' || token.get() !== '' }));
      } else {
        setState({ phase: 'error', message: String(err.message ?? err) });
      }
    }
  }, []);

  useEffect(() => {
    load();
    return onUnauthorized(() => setState((s) => (s.phase === 'token' ? s : { phase: 'token', refused: token.get() !== '' })));
  }, [load]);

  // The one live connection, opened once the page may read.
  useEffect(() => {
    if (state.phase !== 'ready') return undefined;
    const stop = new AbortController();
    follow(
      '/_local/events',
      (event, data) => {
        for (const listener of listeners[event] ?? []) listener(data);
      },
      { signal: stop.signal },
    );
    return () => stop.abort();
  }, [state.phase]);

  if (state.phase === 'loading') return html`<p>Loading…</p>`;
  if (state.phase === 'error') return html`<p class="error">${state.message}</p>`;
  if (state.phase === 'token') {
    return html`<${TokenForm}
      refused=${state.refused}
      onToken=${(value) => {
        token.set(value);
        setState({ phase: 'loading' });
        load();
      }}
    />`;
  }
  const { settings, apps } = state;
  const app = apps.find((a) => a.name === selected) ?? apps[0];
  return html`<header>
      <h1>cerebrium-local</h1>
      <${Settings}
        settings=${settings}
        onForget=${() => {
          token.clear();
          load();
        }}
      />
    </header>
    <nav data-testid="apps">
      ${apps.map(
        (a) => html`<button class=${a === app ? 'active' : ''} data-testid=${`app-tab-${a.name}`} onClick=${() => setSelected(a.name)}>
          ${a.name} <small>${a.functions.length} fn</small>
        </button>`,
      )}
      ${state.loading ? html`<span>apps still loading…</span>` : null}
    </nav>
    <main>
      ${app ? html`<${AppPanel} key=${app.name} app=${app} settings=${settings} onOpenRun=${setOpenRun} />` : html`<p>No apps.</p>`}
      ${
        openRun
          ? html`<${RunDetail} key=${openRun.id} run=${openRun} projectId=${settings.projectId} subscribe=${subscribe} onClose=${() => setOpenRun(undefined)} />`
          : null
      }
    </main>`;
}

render(html`<${App} />`, document.getElementById('root'));

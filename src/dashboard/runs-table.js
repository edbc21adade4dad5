// An app's runs, newest first, a page at a time from the runs API; on the first page, new runs and
// every transition arrive from the server's event stream, so the table is live without reloading.
import { useEffect, useState } from 'preact/hooks';
import { getJson, runsPath } from './api.js';
import { clock, html, ms } from './html.js';

const PAGE = 20;
const STATUSES = ['pending', 'running', 'success', 'failure', 'cancelled'];

/** Merges a run event into the rows: an update in place, or a new run on top of the first page. */
function merge(rows, run, onFirstPage) {
  const at = rows.findIndex((r) => r.id === run.id);
  if (at >= 0) {
    const next = rows.slice();
    next[at] = { ...rows[at], ...run };
    return next;
  }
  return onFirstPage ? [run, ...rows] : rows;
}

export function RunsTable({ app, projectId, subscribe, onOpen }) {
  const [rows, setRows] = useState([]);
  // The tokens of the pages shown so far: [] is the first page.
  const [pages, setPages] = useState([]);
  const [nextToken, setNextToken] = useState(null);
  const [filters, setFilters] = useState({ status: '', fn: '', asyncOnly: false });
  const [error, setError] = useState('');
  const onFirstPage = pages.length === 0;

  useEffect(() => {
    let stale = false;
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (filters.asyncOnly) query.set('asyncOnly', 'true');
    // The server filters the pages (the runs API's status and functionName, this emulator's own filters).
    if (filters.status) query.set('status', filters.status);
    if (filters.fn) query.set('functionName', filters.fn);
    const before = pages.at(-1);
    if (before) query.set('nextToken', before);
    getJson(`${runsPath(projectId, app.name)}?${query}`)
      .then((page) => {
        if (stale) return;
        setRows(page.items);
        setNextToken(page.nextToken);
        setError('');
      })
      .catch((err) => !stale && setError(err.message));
    return () => {
      stale = true;
    };
  }, [app.name, projectId, pages, filters.asyncOnly, filters.status, filters.fn]);

  useEffect(
    () =>
      subscribe('run', (run) => {
        if (run.appName !== app.name || run.projectId !== projectId) return;
        if (filters.asyncOnly && !run.async) return;
        if (filters.fn && run.functionName !== filters.fn) return;
        setRows((current) => merge(current, run, onFirstPage));
      }),
    [app.name, projectId, onFirstPage, filters.asyncOnly, filters.fn],
  );

  // A live run that moved out of the status asked for leaves the table at once.
  const shown = rows.filter((r) => (!filters.status || r.status === filters.status) && (!filters.fn || r.functionName === filters.fn));
  // New filters start again from the newest page.
  const set = (patch) => {
    setFilters((f) => ({ ...f, ...patch }));
    setPages([]);
  };

  return html`<div class="runs" data-testid="runs">
    <h3>Runs</h3>
    <div class="filters">
      <select data-testid="filter-status" value=${filters.status} onChange=${(e) => set({ status: e.target.value })}>
        <option value="">any status</option>
        ${STATUSES.map((s) => html`<option value=${s}>${s}</option>`)}
      </select>
      <select data-testid="filter-function" value=${filters.fn} onChange=${(e) => set({ fn: e.target.value })}>
        <option value="">any function</option>
        ${app.functions.map((f) => html`<option value=${f.name}>${f.name}</option>`)}
      </select>
      <label><input type="checkbox" checked=${filters.asyncOnly} onChange=${(e) => set({ asyncOnly: e.target.checked })} /> async only</label>
      <span class="spacer"></span>
      <button disabled=${onFirstPage} onClick=${() => setPages([])}>newest</button>
      <button disabled=${onFirstPage} onClick=${() => setPages((p) => p.slice(0, -1))}>newer</button>
      <button data-testid="older" disabled=${!nextToken} onClick=${() => setPages((p) => [...p, nextToken])}>older</button>
    </div>
    ${error ? html`<p class="error">${error}</p>` : null}
    <table>
      <thead><tr><th>status</th><th>function</th><th>created</th><th>queue</th><th>run</th><th>code</th><th>kind</th><th>id</th></tr></thead>
      <tbody>
        ${shown.map(
          (
            r,
          ) => html`<tr key=${r.id} data-testid="run-row" data-run-id=${r.id} data-status=${r.status} onClick=${() => onOpen({ ...r, appName: app.name })}>
            <td><span class=${`status ${r.status}`}>${r.status}</span></td>
            <td>${r.functionName}</td>
            <td>${clock(r.createdAt)}</td>
            <td>${ms(r.queueTimeMs)}</td>
            <td>${ms(r.runtimeMs)}</td>
            <td>${r.statusCode ?? '–'}</td>
            <td>${r.async ? 'async' : 'sync'}${r.webhookEndpoint ? ' · webhook' : ''}</td>
            <td><code>${r.id.slice(0, 8)}</code></td>
          </tr>`,
        )}
      </tbody>
    </table>
    ${shown.length === 0 ? html`<p class="muted">No runs${filters.status || filters.fn ? ' match' : ' yet'}.</p>` : null}
  </div>`;
}

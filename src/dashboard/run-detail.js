// One run: params, result or error, timings, webhook attempts and its logs (followed live while it
// runs), with a cancel button while it is live. It reads the run again when the event stream says
// it changed.
import { useEffect, useState } from 'preact/hooks';
import { follow, getJson, postJson, runsPath } from './api.js';
import { clock, html, ms } from './html.js';

const LIVE = new Set(['pending', 'running']);

function useRun(base, id, subscribe) {
  const [run, setRun] = useState(undefined);
  const [error, setError] = useState('');
  useEffect(() => {
    let stale = false;
    const read = () =>
      getJson(`${base}/${id}`)
        .then((body) => !stale && setRun(body.item))
        .catch((err) => !stale && setError(err.message));
    read();
    const stop = subscribe('run', (event) => {
      if (event.id === id) read();
    });
    return () => {
      stale = true;
      stop();
    };
  }, [base, id]);
  return { run, error };
}

/** The params as stored (the runs API has no place for them; the dashboard reads them under /_local). */
function useParams(projectId, appName, id) {
  const [params, setParams] = useState(undefined);
  useEffect(() => {
    let stale = false;
    const path = `/_local/projects/${encodeURIComponent(projectId)}/apps/${encodeURIComponent(`${projectId}-${appName}`)}/runs/${id}/params`;
    getJson(path)
      .then((body) => !stale && setParams(body.params))
      .catch(() => undefined);
    return () => {
      stale = true;
    };
  }, [projectId, appName, id]);
  return params;
}

function useLogs(base, id, live) {
  const [logs, setLogs] = useState({ lines: [], truncated: false });
  useEffect(() => {
    const stop = new AbortController();
    if (live) {
      // Lines kept so far come first on the stream, then each new one.
      setLogs({ lines: [], truncated: false });
      follow(
        `${base}/${id}/logs?follow=true`,
        (event, data) => {
          if (event === 'log') setLogs((l) => ({ ...l, lines: [...l.lines, data] }));
          else if (event === 'end') setLogs((l) => ({ ...l, truncated: data.truncated }));
        },
        { signal: stop.signal, once: true },
      );
    } else {
      getJson(`${base}/${id}/logs`)
        .then((body) => !stop.signal.aborted && setLogs({ lines: body.items, truncated: body.truncated }))
        .catch(() => undefined);
    }
    return () => stop.abort();
  }, [base, id, live]);
  return logs;
}

const pretty = (value) => JSON.stringify(value, null, 2);

export function RunDetail({ run: summary, projectId, subscribe, onClose }) {
  const appName = summary.appName;
  const base = runsPath(projectId, appName);
  const { run, error } = useRun(base, summary.id, subscribe);
  const live = LIVE.has(run?.status ?? summary.status);
  const logs = useLogs(base, summary.id, live);
  const params = useParams(projectId, appName, summary.id);
  const [cancelling, setCancelling] = useState('');

  const cancel = async () => {
    setCancelling('cancelling…');
    try {
      await postJson(`${base}/${summary.id}/cancel`, '{}');
      setCancelling('');
    } catch (err) {
      setCancelling(err.message);
    }
  };

  return html`<aside class="detail" data-testid="run-detail" data-run-id=${summary.id}>
    <div class="detail-head">
      <h3>Run <code>${summary.id}</code></h3>
      <button class="link" onClick=${onClose}>close</button>
    </div>
    ${error ? html`<p class="error">${error}</p>` : null}
    ${
      run
        ? html`<dl>
          <dt>status</dt><dd><span class=${`status ${run.status}`} data-testid="detail-status">${run.status}</span> ${run.statusCode ?? ''}</dd>
          <dt>function</dt><dd>${run.functionName} (${run.async ? 'async' : 'sync'})</dd>
          <dt>created</dt><dd>${clock(run.createdAt)}</dd>
          <dt>completed</dt><dd>${clock(run.completedAt)}</dd>
          <dt>queue time</dt><dd>${ms(run.queueTimeMs)}</dd>
          <dt>run time</dt><dd>${ms(run.runtimeMs)}</dd>
          ${run.webhookEndpoint ? html`<dt>webhook</dt><dd>${run.webhookEndpoint}</dd>` : null}
        </dl>
        <h4>Params</h4><pre data-testid="detail-params">${params === undefined ? '…' : pretty(params)}</pre>
        ${live ? html`<button class="danger" data-testid="cancel" onClick=${cancel}>Cancel run</button> <span>${cancelling}</span>` : null}
        ${
          run.error
            ? html`<h4>Error</h4><pre class="error" data-testid="detail-error">${pretty(run.error)}</pre>`
            : run.status === 'success'
              ? html`<h4>Result${run.resultTruncated ? ' (cut)' : ''}</h4><pre data-testid="detail-result">${pretty(run.result)}</pre>`
              : null
        }
        ${
          run.webhookAttempts?.length
            ? html`<h4>Webhook attempts</h4>
              <table>
                <thead><tr><th>#</th><th>at</th><th>took</th><th>status</th><th>error</th></tr></thead>
                <tbody>${run.webhookAttempts.map(
                  (a) =>
                    html`<tr><td>${a.attempt}</td><td>${clock(a.at)}</td><td>${ms(a.durationMs)}</td><td>${a.statusCode ?? '–'}</td><td>${a.error ?? ''}</td></tr>`,
                )}</tbody>
              </table>`
            : null
        }`
        : html`<p>Loading…</p>`
    }
    <h4>Logs ${live ? html`<small>(live)</small>` : null} ${logs.truncated ? html`<small>(older lines were cut)</small>` : null}</h4>
    <pre class="logs" data-testid="run-logs">${logs.lines.map(
      (l) => html`<div class=${`log lvl-${l.level}`}><span class="muted">${clock(l.at)} ${l.stream}</span> ${l.line}</div>`,
    )}</pre>
  </aside>`;
}

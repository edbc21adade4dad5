// An app's replicas: the numbers now, and a small uPlot chart of replicas, busy and queued runs
// over the last minutes (the server samples them; new samples arrive on the event stream).
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { getJson } from './api.js';
import { html } from './html.js';

const KEEP = 150;

function chartData(samples) {
  return [samples.map((s) => s.at / 1000), samples.map((s) => s.replicas), samples.map((s) => s.busy), samples.map((s) => s.queued)];
}

export function ReplicasPanel({ app, subscribe }) {
  const [samples, setSamples] = useState([]);
  const box = useRef(null);
  const plot = useRef(null);

  useEffect(() => {
    let stale = false;
    getJson('/_local/replicas')
      .then((body) => !stale && setSamples((now) => [...(body.items[app.name] ?? []), ...now].slice(-KEEP)))
      .catch(() => undefined);
    const stop = subscribe('replicas', ({ app: name, sample }) => {
      if (name === app.name) setSamples((now) => [...now, sample].slice(-KEEP));
    });
    return () => {
      stale = true;
      stop();
    };
  }, [app.name]);

  useEffect(() => {
    if (!box.current) return undefined;
    plot.current = new uPlot(
      {
        width: 360,
        height: 140,
        legend: { show: true },
        scales: { y: { range: (_u, _min, max) => [0, Math.max(2, max + 1)] } },
        series: [
          {},
          { label: 'replicas', stroke: '#2563eb', width: 2 },
          { label: 'busy', stroke: '#16a34a', width: 1.5 },
          { label: 'queued', stroke: '#dc2626', width: 1.5 },
        ],
        axes: [{}, { size: 30 }],
      },
      chartData([]),
      box.current,
    );
    return () => plot.current?.destroy();
  }, []);

  useEffect(() => {
    plot.current?.setData(chartData(samples));
  }, [samples]);

  const now = samples.at(-1) ?? app.stats;
  const coldStarts = samples.reduce((sum, s) => sum + (s.coldStarts ?? 0), 0);
  return html`<div class="replicas" data-testid="replicas">
    <h3>Replicas</h3>
    <div class="numbers">
      <span><b data-testid="replica-count">${now?.replicas ?? 0}</b> replicas</span>
      <span><b>${now?.busy ?? 0}</b> busy</span>
      <span><b>${now?.queued ?? 0}</b> queued</span>
      <span title="replicas started (threads created, processes spawned) in the last few minutes"><b data-testid="cold-starts">${coldStarts}</b> cold starts</span>
    </div>
    <div ref=${box} class="chart"></div>
  </div>`;
}

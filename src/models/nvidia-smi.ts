// GPU memory and utilisation for /metrics, from `nvidia-smi --query-gpu=… --format=csv,noheader,nounits`.
// Where nvidia-smi is absent or fails there are no GPU gauges at all (never zeros, which would read
// as an idle GPU). Each query runs the program once, with a short timeout, off the event loop.
import { execFile } from 'node:child_process';

export const NVIDIA_SMI_FIELDS = ['index', 'name', 'memory.used', 'memory.total', 'utilization.gpu'] as const;

export interface GpuReading {
  index: number;
  name: string;
  memoryUsedBytes: number;
  memoryTotalBytes: number;
  /** 0–100; undefined where the driver reports it as not supported. */
  utilizationPercent?: number;
}

const MIB = 1024 * 1024;

/** One reading per line of nvidia-smi's CSV (fields as NVIDIA_SMI_FIELDS, no header, no units); bad lines are skipped. */
export function parseNvidiaSmiCsv(text: string): GpuReading[] {
  const readings: GpuReading[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '') continue;
    const cells = line.split(',').map((c) => c.trim());
    if (cells.length !== NVIDIA_SMI_FIELDS.length) continue;
    const [index, name, used, total, utilization] = cells;
    const number = (cell: string) => (/^\d+(\.\d+)?$/.test(cell) ? Number(cell) : undefined);
    const at = number(index);
    const usedMiB = number(used);
    const totalMiB = number(total);
    if (at === undefined || usedMiB === undefined || totalMiB === undefined) continue;
    const reading: GpuReading = { index: at, name, memoryUsedBytes: usedMiB * MIB, memoryTotalBytes: totalMiB * MIB };
    // "[N/A]" or "[Not Supported]": leave the gauge out rather than report 0.
    const percent = number(utilization);
    if (percent !== undefined) reading.utilizationPercent = percent;
    readings.push(reading);
  }
  return readings;
}

/** The GPUs now, or [] when nvidia-smi is not there or fails. */
/** Set once nvidia-smi is found not to be installed: every /metrics scrape would start a failing process. */
let nvidiaSmiMissing = false;

export function queryGpus(timeoutMs = 2000): Promise<GpuReading[]> {
  if (nvidiaSmiMissing) return Promise.resolve([]);
  return new Promise((resolve) => {
    execFile(
      'nvidia-smi',
      [`--query-gpu=${NVIDIA_SMI_FIELDS.join(',')}`, '--format=csv,noheader,nounits'],
      { timeout: timeoutMs },
      (err, stdout) => {
        if ((err as NodeJS.ErrnoException | null)?.code === 'ENOENT') nvidiaSmiMissing = true;
        resolve(err ? [] : parseNvidiaSmiCsv(stdout));
      },
    );
  });
}

const label = (value: string) => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/** Prometheus text for the readings; '' when there are none. */
export function gpuMetricsText(readings: readonly GpuReading[]): string {
  if (readings.length === 0) return '';
  const lines: string[] = [];
  const gauge = (name: string, help: string, value: (r: GpuReading) => number | undefined) => {
    const rows = readings.filter((r) => value(r) !== undefined);
    if (rows.length === 0) return;
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const r of rows) lines.push(`${name}{gpu="${r.index}",name="${label(r.name)}"} ${value(r)}`);
  };
  gauge('cerebrium_local_gpu_memory_used_bytes', 'GPU memory in use (nvidia-smi).', (r) => r.memoryUsedBytes);
  gauge('cerebrium_local_gpu_memory_total_bytes', 'GPU memory in all (nvidia-smi).', (r) => r.memoryTotalBytes);
  gauge('cerebrium_local_gpu_utilization_ratio', 'Share of time the GPU was busy over the last sample period (nvidia-smi), 0-1.', (r) =>
    r.utilizationPercent === undefined ? undefined : r.utilizationPercent / 100,
  );
  return `${lines.join('\n')}\n`;
}

/** Prometheus text: one info gauge per app and model, labelled with the provider its session really runs on. */
export function providerMetricsText(byApp: Record<string, Array<{ model: string; provider: string; asked?: string }>>): string {
  const rows = Object.entries(byApp).flatMap(([app, models]) => models.map((m) => ({ app, ...m })));
  if (rows.length === 0) return '';
  const name = 'cerebrium_local_model_provider_info';
  const lines = [
    `# HELP ${name} The execution provider each model session really runs on (1 per app, model and provider).`,
    `# TYPE ${name} gauge`,
  ];
  for (const r of rows) {
    const asked = r.asked ? `,asked="${label(r.asked)}"` : '';
    lines.push(`${name}{app="${label(r.app)}",model="${label(r.model)}",provider="${label(r.provider)}"${asked}} 1`);
  }
  return `${lines.join('\n')}\n`;
}

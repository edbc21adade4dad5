// Providers that say what they are: a provider the operator names (--execution-provider) or a GPU
// app's provider under --strict-provider must load, and a load that cannot fails with the reason
// found (this machine has no GPU, no CUDA provider library and no Vulkan loader); without strict
// mode the fallback line carries that reason; /ready and /metrics show the provider really used.
// Also GPU placement (device ids round robin) and the nvidia-smi reader behind the GPU gauges.
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession, ExecutionProviderError } from '../src/models/execution-providers.ts';
import { deviceIdFor, visibleGpuCount } from '../src/models/gpu-placement.ts';
import { gpuMetricsText, parseNvidiaSmiCsv } from '../src/models/nvidia-smi.ts';
import { ensureStandIn } from '../src/models/stand-ins/ensure.ts';
import { buildSentenceEmbedder } from '../src/models/stand-ins/sentence-embedder.ts';
import { fixture, startTestServer, type TestServer } from './helpers/test-server.ts';

const APP = fixture('providers-app');
const MODEL = join(APP, 'models', 'tiny.onnx');

beforeAll(async () => {
  await ensureStandIn(MODEL, () => buildSentenceEmbedder({ vocabSize: 30522, hidden: 8, layers: 1, maxPositions: 64, seed: 3 }));
});

describe('strict provider choice', () => {
  it('fails a strict cuda load on a machine without CUDA, saying the provider library is missing and no GPU is visible', async () => {
    const attempt = createSession(MODEL, ['cuda', 'webgpu', 'cpu'], { intraOpNumThreads: 1 }, { warn: () => undefined }, { strict: true });
    await expect(attempt).rejects.toBeInstanceOf(ExecutionProviderError);
    await expect(attempt).rejects.toThrow(
      /Execution provider cuda cannot be used for .*tiny\.onnx: libonnxruntime_providers_cuda\.so is not in /,
    );
    await expect(attempt).rejects.toThrow(/no NVIDIA device is visible/);
    await expect(attempt).rejects.toThrow(/\(onnxruntime: .*Failed to load shared library\)/);
  });

  it('fails a strict webgpu load naming the missing Vulkan loader', async () => {
    const attempt = createSession(MODEL, ['webgpu', 'cpu'], { intraOpNumThreads: 1 }, { warn: () => undefined }, { strict: true });
    await expect(attempt).rejects.toThrow(/webgpu cannot be used .*libvulkan\.so\.1 \(the Vulkan loader\) is not installed/);
  });

  it('falls back without strict mode, and the warn line carries the reason found for each provider', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const choice = await createSession(MODEL, ['cuda', 'webgpu', 'cpu'], { intraOpNumThreads: 1 }, log);
    await choice.session.release();
    expect(choice.provider).toBe('cpu');
    expect(lines).toHaveLength(1);
    expect(String(lines[0].why)).toMatch(/^cuda: libonnxruntime_providers_cuda\.so is not in .*; webgpu: libvulkan\.so\.1/);
  });
});

describe('--execution-provider over a real server', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer([APP], { executionProvider: 'cuda' });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('fails the call whose model cannot load on the provider named, with the reason, instead of falling back', async () => {
    const res = await server.post('/v4/p-test/providers/infer', { ids: [101, 2088, 102] });
    expect(res.status).toBe(500);
    const body = (await res.json()) as { error: { message: string } };
    expect(body.error.message).toMatch(
      /Execution provider cuda cannot be used for .*tiny\.onnx: libonnxruntime_providers_cuda\.so is not in/,
    );
  });
});

describe('the provider in use, in /ready and /metrics', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer([APP]);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('lists each model of an app with the provider its session runs on, once a replica has loaded it', async () => {
    expect((await server.post('/v4/p-test/providers/infer', {})).status).toBe(200);
    let models: unknown;
    for (let tries = 0; tries < 50 && !models; tries++) {
      const ready = (await (await fetch(`${server.url}/ready`)).json()) as { apps: Record<string, { models?: unknown }> };
      models = ready.apps.providers.models;
      if (!models) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(models).toEqual([{ app: 'providers', model: MODEL, provider: 'cpu' }]);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toContain(`cerebrium_local_model_provider_info{app="providers",model="${MODEL}",provider="cpu"} 1`);
    // No nvidia-smi here: no GPU gauges at all, rather than zeros.
    expect(metrics).not.toMatch(/cerebrium_local_gpu_/);
  });
});

describe('GPU placement', () => {
  it('hands replicas device ids round robin over the GPUs, and none without GPUs', () => {
    expect([0, 1, 2, 3, 4].map((n) => deviceIdFor(n, 2))).toEqual([0, 1, 0, 1, 0]);
    expect([0, 1, 2, 3].map((n) => deviceIdFor(n, 3))).toEqual([0, 1, 2, 0]);
    expect(deviceIdFor(3, 0)).toBeUndefined();
  });

  it('counts the GPUs CUDA_VISIBLE_DEVICES names (CUDA renumbers them from 0), else gpu_count', () => {
    expect(visibleGpuCount(1, '2,3')).toBe(2);
    expect(visibleGpuCount(4, 'GPU-8e1a7c2b-aaaa-bbbb-cccc-1234567890ab')).toBe(1);
    expect(visibleGpuCount(2, '0,1,-1,3')).toBe(2);
    expect(visibleGpuCount(2, '')).toBe(0);
    expect(visibleGpuCount(4, undefined)).toBe(4);
  });
});

describe('nvidia-smi readings', () => {
  it('parses its csv,noheader,nounits lines, leaving out a utilisation it cannot report and lines it cannot read', () => {
    const csv = '0, NVIDIA H100 80GB HBM3, 1024, 81559, 37\n1, NVIDIA A10, 0, 23028, [N/A]\n\nnot, a, gpu\n';
    expect(parseNvidiaSmiCsv(csv)).toEqual([
      {
        index: 0,
        name: 'NVIDIA H100 80GB HBM3',
        memoryUsedBytes: 1024 * 1024 * 1024,
        memoryTotalBytes: 81559 * 1024 * 1024,
        utilizationPercent: 37,
      },
      { index: 1, name: 'NVIDIA A10', memoryUsedBytes: 0, memoryTotalBytes: 23028 * 1024 * 1024 },
    ]);
  });

  it('writes gauges only for what was read, and nothing at all without readings', () => {
    expect(gpuMetricsText([])).toBe('');
    const text = gpuMetricsText(parseNvidiaSmiCsv('1, NVIDIA A10, 512, 23028, [N/A]\n'));
    expect(text).toContain('cerebrium_local_gpu_memory_used_bytes{gpu="1",name="NVIDIA A10"} 536870912');
    expect(text).not.toContain('cerebrium_local_gpu_utilization_ratio');
  });
});

// The body of scripts/gpu-check.sh: the stand-in embedder on the GPU provider this machine can use
// (CUDA where its provider libraries resolve, else onnxruntime-node's bundled WebGPU over Vulkan),
// checked against the CPU: the provider really used, cosine ≥ 0.999 per vector, throughput at
// batch 1 and 32. Exits 1 with the reasons found when no GPU provider can be used.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ExecutionProvider, loadTextEmbedder, type TextEmbedder } from '../src/models/index.ts';
import { loaderFinds, missingLibraries, onnxruntimeBinaryDir, providerFailureReason } from '../src/models/provider-diagnosis.ts';
import { STAND_IN_EMBEDDER_FOLDER } from '../src/models/stand-ins/demo-models.ts';
import { ensureEmbedderFolder } from '../src/models/stand-ins/embedder-folder.ts';

const MIN_COSINE = 0.999;
const log = { warn: (_: unknown, msg: string) => console.log(`warn: ${msg}`) };

/** CUDA when its provider library is installed and resolves (libcuda aside: the driver brings it), else WebGPU when Vulkan is there. */
function gpuProvider(): ExecutionProvider | undefined {
  const cudaLib = join(onnxruntimeBinaryDir(), 'libonnxruntime_providers_cuda.so');
  const missing = existsSync(cudaLib) ? missingLibraries(cudaLib) : undefined;
  if (missing?.every((lib) => lib === 'libcuda.so.1')) return 'cuda';
  if (loaderFinds('libvulkan.so.1')) return 'webgpu';
  return undefined;
}

async function throughput(embedder: TextEmbedder, texts: string[], batch: number, seconds = 3): Promise<number> {
  await embedder.embed(texts.slice(0, batch));
  const started = performance.now();
  let done = 0;
  while (performance.now() - started < seconds * 1000) {
    await embedder.embed(texts.slice(0, batch));
    done += batch;
  }
  return done / ((performance.now() - started) / 1000);
}

const cosine = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i], 0) / (Math.hypot(...a) * Math.hypot(...b));

const provider = gpuProvider();
if (!provider) {
  console.error('gpu-check: FAIL: no GPU execution provider can be used on this machine:');
  console.error(`  cuda: ${providerFailureReason('cuda', 'not tried')}`);
  console.error(`  webgpu: ${providerFailureReason('webgpu', 'not tried')}`);
  process.exit(1);
}

const dir = await mkdtemp(join(tmpdir(), 'gpu-check-'));
try {
  const folder = join(dir, 'embed');
  await ensureEmbedderFolder(folder, STAND_IN_EMBEDDER_FOLDER);
  const texts = Array.from({ length: 32 }, (_, i) => `sentence ${i}: serverless inference endpoints scale replicas to zero when idle`);
  const cpu = await loadTextEmbedder(folder, { executionProvider: 'cpu', strictProvider: true, log });
  const gpu = await loadTextEmbedder(folder, { executionProvider: provider, strictProvider: true, log });
  if (gpu.model.provider !== provider) throw new Error(`asked for ${provider}, the session runs on ${gpu.model.provider}`);
  console.log(`provider: ${gpu.model.provider} (asked ${provider}, strict: no fallback)`);
  const [onCpu, onGpu] = [await cpu.embed(texts), await gpu.embed(texts)];
  const worst = Math.min(...onCpu.map((e, i) => cosine(e.vector, onGpu[i].vector)));
  console.log(`lowest cosine GPU vs CPU over ${texts.length} texts: ${worst.toFixed(6)} (need ≥ ${MIN_COSINE})`);
  for (const batch of [1, 32]) {
    const [g, c] = [await throughput(gpu, texts, batch), await throughput(cpu, texts, batch)];
    console.log(`batch ${batch}: ${provider} ${g.toFixed(0)} embeddings/s, cpu ${c.toFixed(0)} embeddings/s`);
  }
  if (!(worst >= MIN_COSINE)) {
    console.error(`gpu-check: FAIL: GPU vectors differ from the CPU's (cosine ${worst})`);
    process.exitCode = 1;
  } else {
    console.log('gpu-check: OK');
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}

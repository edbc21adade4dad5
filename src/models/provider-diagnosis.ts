// Why a GPU execution provider could not be used, in words an operator can act on. onnxruntime-node
// throws only "Failed to load shared library" for CUDA (the dlopen error goes to onnxruntime's own
// stderr logger, which Node cannot read), and Dawn's adapter error does not say Vulkan is missing.
// So the reason is found again from the outside, the way the dynamic loader would: is the provider
// library there, do its dependencies resolve (ldd), is there an NVIDIA device node, is the Vulkan
// loader installed. This runs only after a provider failed, never on the path of a working load.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { ExecutionProvider } from './provider-names.ts';

/** The folder holding onnxruntime-node's native binding, where its provider libraries must sit too. */
export function onnxruntimeBinaryDir(): string {
  const packageDir = dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
  return join(packageDir, 'bin', 'napi-v6', process.platform, process.arch);
}

/** Libraries `ldd` reports as "not found" for `file`; undefined when ldd cannot be run. */
export function missingLibraries(file: string): string[] | undefined {
  const result = spawnSync('ldd', [file], { encoding: 'utf8', timeout: 5000 });
  if (result.error || typeof result.stdout !== 'string') return undefined;
  return result.stdout
    .split('\n')
    .filter((line) => /=>\s*not found/.test(line))
    .map((line) => line.trim().split(/\s+/)[0]);
}

/** Whether the dynamic loader can find `soname` (its cache, or LD_LIBRARY_PATH). */
export function loaderFinds(soname: string, env: NodeJS.ProcessEnv = process.env): boolean {
  for (const dir of (env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean)) {
    if (existsSync(join(dir, soname))) return true;
  }
  const cache = spawnSync('ldconfig', ['-p'], { encoding: 'utf8', timeout: 5000 });
  if (!cache.error && typeof cache.stdout === 'string') return cache.stdout.includes(`${soname} `);
  return ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib'].some((d) => existsSync(join(d, soname)));
}

function nvidiaDevicePresent(): boolean {
  try {
    return readdirSync('/dev').some((name) => /^nvidia\d+$/.test(name));
  } catch {
    return false;
  }
}

function cudaReasons(binDir: string): string[] {
  const reasons: string[] = [];
  const cudaLib = join(binDir, 'libonnxruntime_providers_cuda.so');
  if (!existsSync(join(binDir, 'libonnxruntime_providers_shared.so')) || !existsSync(cudaLib)) {
    reasons.push(
      `libonnxruntime_providers_cuda.so is not in ${binDir} (onnxruntime-node's install skipped it; on a machine with CUDA 12 and cuDNN 9, ` +
        'ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js fetches it)',
    );
  } else {
    const missing = missingLibraries(cudaLib);
    if (missing && missing.length > 0) {
      reasons.push(
        `libonnxruntime_providers_cuda.so needs ${missing.join(', ')}, which the loader cannot find (install CUDA 12 and cuDNN 9, or add them to LD_LIBRARY_PATH)`,
      );
    }
  }
  if (!nvidiaDevicePresent())
    reasons.push('no NVIDIA device is visible (/dev/nvidia0 absent: no GPU, or the container was started without one)');
  return reasons;
}

function webgpuReasons(): string[] {
  if (loaderFinds('libvulkan.so.1')) return [];
  return [
    "libvulkan.so.1 (the Vulkan loader) is not installed, so Dawn finds no GPU adapter (Debian: apt-get install libvulkan1, plus the GPU driver's Vulkan ICD)",
  ];
}

/** The reasons found for `provider` failing, joined; onnxruntime's own message when none is found. */
export function providerFailureReason(provider: ExecutionProvider, onnxruntimeMessage: string): string {
  const reasons = provider === 'cuda' ? cudaReasons(onnxruntimeBinaryDir()) : provider === 'webgpu' ? webgpuReasons() : [];
  if (reasons.length === 0) return onnxruntimeMessage;
  return `${reasons.join('; ')} (onnxruntime: ${onnxruntimeMessage})`;
}

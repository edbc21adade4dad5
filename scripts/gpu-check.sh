#!/usr/bin/env bash
# Checks model sessions on this machine's GPU, with only what travels with the checkout:
#  - loads the stand-in embedder (generated into a temp folder) on the GPU provider the machine can
#    use: CUDA where onnxruntime-node's CUDA provider libraries are installed and resolve, otherwise
#    onnxruntime-node's bundled WebGPU provider over Vulkan (it needs libvulkan.so.1 and the NVIDIA
#    driver's Vulkan ICD; on a machine without network, unpack Debian's libvulkan1 .deb first);
#  - asserts the session really runs on that provider (strict: no fallback to the CPU);
#  - compares its vectors with the CPU's (cosine ≥ 0.999 each);
#  - prints throughput at batch 1 and 32, GPU and CPU.
# Exits 1, printing the reasons found, when no GPU provider can be used (as on a machine without a GPU).
# Usage: scripts/gpu-check.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv,noheader || true
else
  echo "nvidia-smi: not found"
fi
exec node bin/run-ts.mjs scripts/gpu-check.ts

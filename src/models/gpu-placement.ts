// Which GPU a replica's CUDA sessions use. An app's replicas share the GPUs it may see and take
// device ids in turn (replica 0 → GPU 0, replica 1 → GPU 1, …, wrapping), as one process per GPU
// would. CUDA renumbers the devices CUDA_VISIBLE_DEVICES names from 0, so the ids handed out are
// always 0..count-1, whatever the physical numbers are.

/** How many GPUs the app's replicas share: CUDA_VISIBLE_DEVICES's list when set, else gpu_count. */
export function visibleGpuCount(gpuCount: number, cudaVisibleDevices: string | undefined): number {
  if (cudaVisibleDevices !== undefined) {
    const entries = cudaVisibleDevices
      .split(',')
      .map((d) => d.trim())
      .filter((d) => d !== '');
    // CUDA stops at the first invalid entry (e.g. -1, "none"): the devices before it are the visible ones.
    const invalid = entries.findIndex((d) => !/^(\d+|GPU-[\w-]+|MIG-[\w/-]+)$/.test(d));
    return invalid < 0 ? entries.length : invalid;
  }
  return Math.max(0, Math.floor(gpuCount));
}

/** The device id of the replica that took `ordinal` (0, 1, 2, …) among `gpus` GPUs; undefined with none. */
export function deviceIdFor(ordinal: number, gpus: number): number | undefined {
  if (!(gpus > 0)) return undefined;
  return ordinal % gpus;
}

/** This replica's place in the round robin: the first call takes the next number from the app's shared counter. */
export function replicaOrdinal(counter: Int32Array | undefined): number {
  if (!counter) return 0;
  ordinal ??= Atomics.add(counter, 0, 1);
  return ordinal;
}
let ordinal: number | undefined;

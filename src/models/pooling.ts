// sentence-transformers' pooling for BERT-family encoders: token vectors [batch, sequence, hidden]
// → one vector per sentence, by the mean of the tokens the attention mask marks as real (padding
// left out), the first token's vector (CLS), or the per-dimension maximum over real tokens; then,
// for models with a Normalize step, scaled to unit length so a dot product is a cosine similarity.
import type { PoolingMode } from './model-folder.ts';

function checkShape(hidden: Float32Array, dims: readonly number[], attentionMask: BigInt64Array): [number, number, number] {
  const [batch, sequence, width] = dims;
  if (dims.length !== 3 || hidden.length !== batch * sequence * width || attentionMask.length !== batch * sequence) {
    throw new Error(`Expected last_hidden_state [batch, sequence, hidden] matching the mask, got [${dims.join(', ')}]`);
  }
  return [batch, sequence, width];
}

function poolRow(mode: PoolingMode, hidden: Float32Array, mask: BigInt64Array, b: number, sequence: number, width: number): number[] {
  if (mode === 'cls') return Array.from(hidden.subarray(b * sequence * width, b * sequence * width + width));
  const acc = new Float64Array(width).fill(mode === 'max' ? Number.NEGATIVE_INFINITY : 0);
  let count = 0;
  for (let s = 0; s < sequence; s++) {
    if (mask[b * sequence + s] === 0n) continue;
    count += 1;
    const at = (b * sequence + s) * width;
    if (mode === 'max') for (let h = 0; h < width; h++) acc[h] = Math.max(acc[h], hidden[at + h]);
    else for (let h = 0; h < width; h++) acc[h] += hidden[at + h];
  }
  if (mode === 'max') return Array.from(acc, (v) => (count === 0 ? 0 : v));
  // As sentence-transformers does: the count is clamped so an all-padding row gives zeros, not NaN.
  return Array.from(acc, (v) => v / Math.max(count, 1e-9));
}

function unitLength(vector: number[]): number[] {
  const norm = Math.max(Math.hypot(...vector), 1e-12);
  return vector.map((v) => v / norm);
}

/** last_hidden_state + attention_mask → one vector per row, pooled by `mode`, unit length when `normalize`. */
export function poolEmbeddings(
  mode: PoolingMode,
  hidden: Float32Array,
  dims: readonly number[],
  attentionMask: BigInt64Array,
  normalize = true,
): number[][] {
  const [batch, sequence, width] = checkShape(hidden, dims, attentionMask);
  const vectors: number[][] = [];
  for (let b = 0; b < batch; b++) {
    const pooled = poolRow(mode, hidden, attentionMask, b, sequence, width);
    vectors.push(normalize ? unitLength(pooled) : pooled);
  }
  return vectors;
}

/** Mean pooling then unit length: all-MiniLM-L6-v2's recipe. */
export function meanPoolNormalized(hidden: Float32Array, dims: readonly number[], attentionMask: BigInt64Array): number[][] {
  return poolEmbeddings('mean', hidden, dims, attentionMask, true);
}

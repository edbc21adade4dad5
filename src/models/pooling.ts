// sentence-transformers' pooling for BERT encoders: the mean of the token vectors that the
// attention mask marks as real (padding left out), then scaled to unit length (L2), so a dot
// product of two embeddings is their cosine similarity.

/** last_hidden_state [batch, sequence, hidden] + attention_mask [batch, sequence] → one unit vector per row. */
export function meanPoolNormalized(hidden: Float32Array, dims: readonly number[], attentionMask: BigInt64Array): number[][] {
  const [batch, sequence, width] = dims;
  if (dims.length !== 3 || hidden.length !== batch * sequence * width || attentionMask.length !== batch * sequence) {
    throw new Error(`Expected last_hidden_state [batch, sequence, hidden] matching the mask, got [${dims.join(', ')}]`);
  }
  const vectors: number[][] = [];
  for (let b = 0; b < batch; b++) {
    const sum = new Float64Array(width);
    let count = 0;
    for (let s = 0; s < sequence; s++) {
      if (attentionMask[b * sequence + s] === 0n) continue;
      count += 1;
      const at = (b * sequence + s) * width;
      for (let h = 0; h < width; h++) sum[h] += hidden[at + h];
    }
    // As sentence-transformers does: the count is clamped so an all-padding row gives zeros, not NaN.
    const mean = Array.from(sum, (v) => v / Math.max(count, 1e-9));
    const norm = Math.max(Math.hypot(...mean), 1e-12);
    vectors.push(mean.map((v) => v / norm));
  }
  return vectors;
}

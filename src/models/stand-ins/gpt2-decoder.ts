// A stand-in for a GPT-2 decoder exported with past key/values (Hugging Face optimum,
// `--task text-generation-with-past`: model.onnx / decoder_with_past_model.onnx), with the same
// input and output names and layout and small random weights. The tokenizer, the sampling and the
// KV-cache loop run for real against it; its text is gibberish. A real export drops in unchanged.
//
//   inputs   input_ids, position_ids                     int64   [batch_size, sequence_length]
//            attention_mask                              int64   [batch_size, past_sequence_length + sequence_length]
//            past_key_values.{i}.key / .value            float32 [batch_size, heads, past_sequence_length, head_dim]
//   outputs  logits                                      float32 [batch_size, sequence_length, vocab]
//            present.{i}.key / .value                    float32 [batch_size, heads, past_sequence_length + sequence_length, head_dim]
//
// Inside, GPT-2's shape: token + position embeddings, then per layer pre-LayerNorm causal
// self-attention (the new keys and values concatenated after the past ones along the sequence axis,
// and output as present.*) and a pre-LayerNorm MLP, each added to the residual stream; a final
// LayerNorm, then the LM head. The head reuses the token embedding (transposed at run time, so the
// 50257-row table is stored once) after a small projection: with the embedding alone, a random
// model's likeliest next token is the one it was just given, and greedy output would repeat one token.

import {
  DataType,
  encodeModel,
  int64Initializer,
  type OnnxInitializer,
  type OnnxNode,
  type OnnxValueInfo,
  randomInitializer,
} from '../onnx-writer.ts';
import { seededRandom } from '../seeded-random.ts';

export interface Gpt2DecoderShape {
  vocabSize: number;
  /** n_positions: the longest sequence (prompt and answer) it takes. */
  maxPositions: number;
  layers: number;
  heads: number;
  headDim: number;
  seed: number;
  /** Declare position_ids (optimum's newer gpt2 exports); without it positions follow the past length. Default true. */
  positionIds?: boolean;
  /** Declare optimum's merged-decoder flag `use_cache_branch` (bool [1]); this graph needs no branch and ignores it. */
  cacheBranchInput?: boolean;
}

/** GPT-2's vocabulary (r50k_base, 50,257 ids) and context (1,024), in a model of ≈6.6 MB. */
export const DEFAULT_GPT2_DECODER: Gpt2DecoderShape = {
  vocabSize: 50257,
  maxPositions: 1024,
  layers: 2,
  heads: 2,
  headDim: 16,
  seed: 2,
};

export function buildGpt2Decoder(shape: Gpt2DecoderShape = DEFAULT_GPT2_DECODER): Uint8Array {
  // Weights are drawn in the order the graph is built (embeddings, each layer, the head), so a
  // shape always gives the same bytes.
  const weights = new DecoderWeights(shape);
  const positionIds = shape.positionIds ?? true;
  const nodes: OnnxNode[] = [...visibilityNodes(), ...embeddingNodes(positionIds)];
  let h = 'h0';
  for (let l = 0; l < shape.layers; l++) {
    nodes.push(...attentionBlock(weights, l, h), ...mlpBlock(weights, l));
    h = `h${l + 1}`;
  }
  nodes.push(...lmHead(weights, h));

  const tokens = ['batch_size', 'sequence_length'];
  return encodeModel({
    producer: 'cerebrium-local stand-in',
    opset: 17,
    graphName: 'gpt2_decoder_stand_in',
    docString: `Generated stand-in for a GPT-2 decoder export with past key/values: random weights, ${JSON.stringify(shape)}`,
    nodes,
    initializers: weights.initializers,
    inputs: [
      { name: 'input_ids', type: DataType.INT64, shape: tokens },
      { name: 'attention_mask', type: DataType.INT64, shape: ['batch_size', 'past_sequence_length + sequence_length'] },
      ...(positionIds ? [{ name: 'position_ids', type: DataType.INT64, shape: tokens }] : []),
      ...cacheValues(shape, 'past_key_values', 'past_sequence_length'),
      ...(shape.cacheBranchInput ? [{ name: 'use_cache_branch', type: DataType.BOOL, shape: [1] }] : []),
    ],
    outputs: [
      { name: 'logits', type: DataType.FLOAT, shape: [...tokens, shape.vocabSize] },
      ...cacheValues(shape, 'present', 'past_sequence_length + sequence_length'),
    ],
  });
}

/** The graph's initializers, in the order they are made, and the layers that add their own. */
class DecoderWeights {
  readonly initializers: OnnxInitializer[];
  /** The model's width: heads × head_dim. */
  readonly width: number;
  private readonly next: () => number;

  constructor(shape: Gpt2DecoderShape) {
    this.next = seededRandom(shape.seed);
    const { heads: H, headDim: Dh } = shape;
    const D = H * Dh;
    this.width = D;
    const int64 = int64Initializer;
    this.initializers = [
      this.uniform('wte', [shape.vocabSize, D], 1),
      this.uniform('wpe', [shape.maxPositions, D], 0.5),
      int64('zero', [0], []),
      int64('one', [1], []),
      int64('axes_1', [1]),
      int64('axes_1_2', [1, 2]),
      int64('heads_shape', [0, 0, H, Dh]), // Reshape: 0 keeps that axis (batch, sequence)
      int64('merged_shape', [0, 0, D]),
      { name: 'attention_scale', dims: [], data: Float32Array.of(1 / Math.sqrt(Dh)) },
      { name: 'masked_score', dims: [], data: Float32Array.of(-1e9) },
    ];
  }

  uniform(name: string, dims: number[], scale: number): OnnxInitializer {
    return randomInitializer(name, dims, scale, this.next);
  }

  layerNorm(prefix: string, input: string, output: string): OnnxNode {
    const D = this.width;
    this.initializers.push(filled(`${prefix}.weight`, [D], 1), this.uniform(`${prefix}.bias`, [D], 0.1));
    return {
      op: 'LayerNormalization',
      inputs: [input, `${prefix}.weight`, `${prefix}.bias`],
      outputs: [output],
      attributes: { axis: { int: -1 }, epsilon: 1e-5 },
    };
  }

  linear(prefix: string, input: string, output: string, dims: [number, number]): OnnxNode[] {
    this.initializers.push(this.uniform(`${prefix}.weight`, dims, 1 / Math.sqrt(dims[0])), this.uniform(`${prefix}.bias`, [dims[1]], 0.1));
    return [
      { op: 'MatMul', inputs: [input, `${prefix}.weight`], outputs: [`${output}_mm`] },
      { op: 'Add', inputs: [`${output}_mm`, `${prefix}.bias`], outputs: [output] },
    ];
  }
}

function filled(name: string, dims: number[], value: number): OnnxInitializer {
  return { name, dims, data: new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(value) };
}

/**
 * Which keys each query may see, [batch, 1, sequence, past + sequence]: key j for the query at
 * position past + i when j <= past + i (causal) and the attention mask has 1 at j.
 */
function visibilityNodes(): OnnxNode[] {
  return [
    { op: 'Shape', inputs: ['input_ids'], outputs: ['ids_shape'] },
    { op: 'Gather', inputs: ['ids_shape', 'one'], outputs: ['seq_len'], attributes: { axis: { int: 0 } } },
    { op: 'Shape', inputs: ['attention_mask'], outputs: ['mask_shape'] },
    { op: 'Gather', inputs: ['mask_shape', 'one'], outputs: ['total_len'], attributes: { axis: { int: 0 } } },
    { op: 'Sub', inputs: ['total_len', 'seq_len'], outputs: ['past_len'] },
    { op: 'Range', inputs: ['zero', 'total_len', 'one'], outputs: ['key_positions'] },
    { op: 'Range', inputs: ['past_len', 'total_len', 'one'], outputs: ['query_positions'] },
    { op: 'Unsqueeze', inputs: ['query_positions', 'axes_1'], outputs: ['query_column'] },
    { op: 'LessOrEqual', inputs: ['key_positions', 'query_column'], outputs: ['causal'] },
    { op: 'Cast', inputs: ['attention_mask'], outputs: ['mask_bool'], attributes: { to: { int: DataType.BOOL } } },
    { op: 'Unsqueeze', inputs: ['mask_bool', 'axes_1_2'], outputs: ['mask_4d'] },
    { op: 'And', inputs: ['causal', 'mask_4d'], outputs: ['visible'] },
  ];
}

/** Token + position embeddings: h0. */
function embeddingNodes(positionIds: boolean): OnnxNode[] {
  return [
    { op: 'Gather', inputs: ['wte', 'input_ids'], outputs: ['tokens'] },
    positionIds
      ? { op: 'Gather', inputs: ['wpe', 'position_ids'], outputs: ['places'] }
      : { op: 'Gather', inputs: ['wpe', 'query_positions'], outputs: ['places'] }, // [sequence, width], broadcast over the batch
    { op: 'Add', inputs: ['tokens', 'places'], outputs: ['h0'] },
  ];
}

/** Layer l's pre-LayerNorm causal self-attention over `h`, with its KV cache, added to the residual: h.{l}.h_attn. */
function attentionBlock(weights: DecoderWeights, l: number, h: string): OnnxNode[] {
  const p = `h.${l}`;
  const D = weights.width;
  const nodes: OnnxNode[] = [weights.layerNorm(`${p}.ln_1`, h, `${p}.x`)];
  // Queries, keys and values as [batch, heads, sequence, head_dim].
  for (const part of ['q', 'k', 'v']) {
    nodes.push(
      ...weights.linear(`${p}.attn.${part}`, `${p}.x`, `${p}.${part}`, [D, D]),
      { op: 'Reshape', inputs: [`${p}.${part}`, 'heads_shape'], outputs: [`${p}.${part}_split`] },
      { op: 'Transpose', inputs: [`${p}.${part}_split`], outputs: [`${p}.${part}_heads`], attributes: { perm: [0, 2, 1, 3] } },
    );
  }
  const past = { key: `past_key_values.${l}.key`, value: `past_key_values.${l}.value` };
  const present = { key: `present.${l}.key`, value: `present.${l}.value` };
  nodes.push(
    // The cache: past keys/values, then this call's, along the sequence axis.
    { op: 'Concat', inputs: [past.key, `${p}.k_heads`], outputs: [present.key], attributes: { axis: { int: 2 } } },
    { op: 'Concat', inputs: [past.value, `${p}.v_heads`], outputs: [present.value], attributes: { axis: { int: 2 } } },
    { op: 'Transpose', inputs: [present.key], outputs: [`${p}.keys_t`], attributes: { perm: [0, 1, 3, 2] } },
    { op: 'MatMul', inputs: [`${p}.q_heads`, `${p}.keys_t`], outputs: [`${p}.scores_raw`] },
    { op: 'Mul', inputs: [`${p}.scores_raw`, 'attention_scale'], outputs: [`${p}.scores`] },
    { op: 'Where', inputs: ['visible', `${p}.scores`, 'masked_score'], outputs: [`${p}.scores_masked`] },
    { op: 'Softmax', inputs: [`${p}.scores_masked`], outputs: [`${p}.weights`], attributes: { axis: { int: -1 } } },
    { op: 'MatMul', inputs: [`${p}.weights`, present.value], outputs: [`${p}.context_heads`] },
    { op: 'Transpose', inputs: [`${p}.context_heads`], outputs: [`${p}.context_split`], attributes: { perm: [0, 2, 1, 3] } },
    { op: 'Reshape', inputs: [`${p}.context_split`, 'merged_shape'], outputs: [`${p}.context`] },
    ...weights.linear(`${p}.attn.c_proj`, `${p}.context`, `${p}.attn_out`, [D, D]),
    { op: 'Add', inputs: [h, `${p}.attn_out`], outputs: [`${p}.h_attn`] },
  );
  return nodes;
}

/** Layer l's pre-LayerNorm MLP over h.{l}.h_attn, added to the residual: the next layer's input h{l + 1}. */
function mlpBlock(weights: DecoderWeights, l: number): OnnxNode[] {
  const p = `h.${l}`;
  const D = weights.width;
  return [
    weights.layerNorm(`${p}.ln_2`, `${p}.h_attn`, `${p}.x2`),
    ...weights.linear(`${p}.mlp.c_fc`, `${p}.x2`, `${p}.fc`, [D, 4 * D]),
    { op: 'Tanh', inputs: [`${p}.fc`], outputs: [`${p}.act`] },
    ...weights.linear(`${p}.mlp.c_proj`, `${p}.act`, `${p}.mlp_out`, [4 * D, D]),
    { op: 'Add', inputs: [`${p}.h_attn`, `${p}.mlp_out`], outputs: [`h${l + 1}`] },
  ];
}

/** The final LayerNorm, then the projection and the transposed token embedding: logits. */
function lmHead(weights: DecoderWeights, h: string): OnnxNode[] {
  // Drawn before ln_f's weights: another order would give a seed other weights than it has always given.
  weights.initializers.push(weights.uniform('lm_head.projection', [weights.width, weights.width], 1 / Math.sqrt(weights.width)));
  return [
    weights.layerNorm('ln_f', h, 'h_final'),
    { op: 'MatMul', inputs: ['h_final', 'lm_head.projection'], outputs: ['h_projected'] },
    { op: 'Transpose', inputs: ['wte'], outputs: ['wte_t'], attributes: { perm: [1, 0] } },
    { op: 'MatMul', inputs: ['h_projected', 'wte_t'], outputs: ['logits'] },
  ];
}

/** Each layer's cache as inputs (past_key_values.*) or outputs (present.*): its key, then its value. */
function cacheValues(shape: Gpt2DecoderShape, prefix: string, length: string): OnnxValueInfo[] {
  const dims = ['batch_size', shape.heads, length, shape.headDim];
  const values: OnnxValueInfo[] = [];
  for (let l = 0; l < shape.layers; l++) {
    values.push(
      { name: `${prefix}.${l}.key`, type: DataType.FLOAT, shape: dims },
      { name: `${prefix}.${l}.value`, type: DataType.FLOAT, shape: dims },
    );
  }
  return values;
}

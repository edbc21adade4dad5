// A BERT encoder at any size, with random seeded weights: the real architecture (word + position +
// token-type embeddings and LayerNorm; per layer multi-head self-attention with the padding masked
// out, a residual and LayerNorm, a GELU feed-forward, a residual and LayerNorm) under the
// sentence-transformers export's interface. At MiniLM's shape (vocab 30522, hidden 384, 6 layers,
// 12 heads, FFN 1536) it costs what all-MiniLM-L6-v2 costs to run, so benchmarks measure real work;
// its vectors mean nothing.
import { DataType, int64Initializer, type OnnxInitializer, type OnnxModel, type OnnxNode, randomInitializer } from '../onnx-writer.ts';
import { seededRandom } from '../seeded-random.ts';

export interface BertEncoderShape {
  vocabSize: number;
  hidden: number;
  layers: number;
  heads: number;
  intermediate: number;
  maxPositions: number;
  seed: number;
}

/** sentence-transformers/all-MiniLM-L6-v2's shape. */
export const MINILM_L6_SHAPE: BertEncoderShape = {
  vocabSize: 30522,
  hidden: 384,
  layers: 6,
  heads: 12,
  intermediate: 1536,
  maxPositions: 512,
  seed: 11,
};

class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxInitializer[] = [];
  constructor(private readonly next: () => number) {}

  weights(name: string, dims: number[], scale: number): string {
    this.initializers.push(randomInitializer(name, dims, scale, this.next));
    return name;
  }

  constant(name: string, dims: number[], value: number): string {
    this.initializers.push({ name, dims, data: new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(value) });
    return name;
  }

  node(op: string, inputs: string[], output: string, attributes?: OnnxNode['attributes']): string {
    this.nodes.push({ op, inputs, outputs: [output], attributes });
    return output;
  }

  linear(prefix: string, input: string, inSize: number, outSize: number): string {
    const w = this.weights(`${prefix}.weight`, [inSize, outSize], 1 / Math.sqrt(inSize));
    const b = this.weights(`${prefix}.bias`, [outSize], 0.02);
    return this.node('Add', [this.node('MatMul', [input, w], `${prefix}.mm`), b], `${prefix}.out`);
  }

  layerNorm(prefix: string, input: string, width: number): string {
    const gamma = this.constant(`${prefix}.weight`, [width], 1);
    const beta = this.weights(`${prefix}.bias`, [width], 0.02);
    return this.node('LayerNormalization', [input, gamma, beta], `${prefix}.out`, { axis: { int: -1 }, epsilon: 1e-12 });
  }
}

/** [batch, seq, hidden] → [batch, heads, seq, head_dim]. */
function splitHeads(g: GraphBuilder, input: string, name: string): string {
  const split = g.node('Reshape', [input, 'heads_shape'], `${name}.split`);
  return g.node('Transpose', [split], `${name}.heads`, { perm: [0, 2, 1, 3] });
}

function attention(g: GraphBuilder, p: string, x: string, shape: BertEncoderShape): string {
  const D = shape.hidden;
  const q = splitHeads(g, g.linear(`${p}.query`, x, D, D), `${p}.q`);
  const k = splitHeads(g, g.linear(`${p}.key`, x, D, D), `${p}.k`);
  const v = splitHeads(g, g.linear(`${p}.value`, x, D, D), `${p}.v`);
  const kT = g.node('Transpose', [k], `${p}.kT`, { perm: [0, 1, 3, 2] });
  const scores = g.node('Mul', [g.node('MatMul', [q, kT], `${p}.qk`), 'attention_scale'], `${p}.scores`);
  const probs = g.node('Softmax', [g.node('Add', [scores, 'mask_bias'], `${p}.masked`)], `${p}.probs`, { axis: { int: -1 } });
  const context = g.node('Transpose', [g.node('MatMul', [probs, v], `${p}.ctx_heads`)], `${p}.ctx_t`, { perm: [0, 2, 1, 3] });
  const merged = g.node('Reshape', [context, 'merged_shape'], `${p}.ctx`);
  return g.linear(`${p}.output`, merged, D, D);
}

/** GELU as BERT uses it: x · ½(1 + erf(x / √2)). */
function gelu(g: GraphBuilder, p: string, x: string): string {
  const erf = g.node('Erf', [g.node('Mul', [x, 'inv_sqrt2'], `${p}.scaled`)], `${p}.erf`);
  const half = g.node('Mul', [g.node('Add', [erf, 'one_f'], `${p}.erf1`), 'half'], `${p}.gate`);
  return g.node('Mul', [x, half], `${p}.gelu`);
}

export function bertEncoderGraph(shape: BertEncoderShape = MINILM_L6_SHAPE): OnnxModel {
  const { hidden: D, heads: H } = shape;
  if (D % H !== 0) throw new Error(`hidden (${D}) must divide into ${H} heads`);
  const g = new GraphBuilder(seededRandom(shape.seed));
  g.weights('word_embeddings', [shape.vocabSize, D], 0.5);
  g.weights('position_embeddings', [shape.maxPositions, D], 0.1);
  g.weights('token_type_embeddings', [2, D], 0.1);
  g.initializers.push(
    int64Initializer('one', [1], []),
    int64Initializer('zero', [0], []),
    int64Initializer('axes_1_2', [1, 2]),
    int64Initializer('heads_shape', [0, 0, H, D / H]),
    int64Initializer('merged_shape', [0, 0, D]),
    { name: 'attention_scale', dims: [], data: Float32Array.of(1 / Math.sqrt(D / H)) },
    { name: 'inv_sqrt2', dims: [], data: Float32Array.of(Math.SQRT1_2) },
    { name: 'one_f', dims: [], data: Float32Array.of(1) },
    { name: 'half', dims: [], data: Float32Array.of(0.5) },
    { name: 'mask_penalty', dims: [], data: Float32Array.of(-10000) },
  );
  // Embeddings, positions from the input's own (dynamic) length.
  const seqLen = g.node('Gather', [g.node('Shape', ['input_ids'], 'ids_shape'), 'one'], 'seq_len', { axis: { int: 0 } });
  const positions = g.node('Range', ['zero', seqLen, 'one'], 'positions');
  const words = g.node('Gather', ['word_embeddings', 'input_ids'], 'words');
  const types = g.node('Gather', ['token_type_embeddings', 'token_type_ids'], 'types');
  const places = g.node('Gather', ['position_embeddings', positions], 'places');
  const embedded = g.node('Add', [g.node('Add', [words, types], 'words_types'), places], 'embedded');
  let h = g.layerNorm('embeddings.LayerNorm', embedded, D);
  // The mask as an additive bias [batch, 1, 1, seq]: 0 for real tokens, -10000 for padding.
  const maskF = g.node('Cast', ['attention_mask'], 'mask_f', { to: { int: DataType.FLOAT } });
  const inverted = g.node('Sub', ['one_f', g.node('Unsqueeze', [maskF, 'axes_1_2'], 'mask_4d')], 'mask_inverted');
  g.node('Mul', [inverted, 'mask_penalty'], 'mask_bias');

  for (let l = 0; l < shape.layers; l++) {
    const p = `encoder.layer.${l}`;
    const attended = g.layerNorm(`${p}.attention.LayerNorm`, g.node('Add', [h, attention(g, `${p}.attention`, h, shape)], `${p}.res1`), D);
    const up = gelu(g, `${p}.intermediate`, g.linear(`${p}.intermediate.dense`, attended, D, shape.intermediate));
    const down = g.linear(`${p}.output.dense`, up, shape.intermediate, D);
    h = g.layerNorm(`${p}.output.LayerNorm`, g.node('Add', [attended, down], `${p}.res2`), D);
  }
  g.node('Identity', [h], 'last_hidden_state');

  const tokens = ['batch_size', 'sequence_length'];
  return {
    producer: 'cerebrium-local stand-in',
    opset: 17,
    graphName: 'bert_encoder_stand_in',
    docString: `Generated BERT encoder with random weights: ${JSON.stringify(shape)}`,
    nodes: g.nodes,
    initializers: g.initializers,
    inputs: [
      { name: 'input_ids', type: DataType.INT64, shape: tokens },
      { name: 'attention_mask', type: DataType.INT64, shape: tokens },
      { name: 'token_type_ids', type: DataType.INT64, shape: tokens },
    ],
    outputs: [{ name: 'last_hidden_state', type: DataType.FLOAT, shape: [...tokens, D] }],
  };
}

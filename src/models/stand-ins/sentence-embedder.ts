// A stand-in for a sentence-transformers BERT export (such as all-MiniLM-L6-v2's onnx/model.onnx),
// with the same interface and small random weights: the loading, tokenising, batching and pooling
// code runs for real against it, and the real export drops in unchanged.
//
//   inputs   input_ids, attention_mask, token_type_ids   int64 [batch_size, sequence_length]
//   output   last_hidden_state                           float32 [batch_size, sequence_length, hidden]
//
// Inside: word + position + token-type embeddings, then a few layers of tanh(hW + b) plus the
// attention-masked mean of the layer, so each token sees its sentence but never the padding (as
// attention does): a padded sentence gives the same vectors for its real tokens as an unpadded one.
import {
  DataType,
  encodeModel,
  int64Initializer,
  type OnnxInitializer,
  type OnnxModel,
  type OnnxNode,
  randomInitializer,
} from '../onnx-writer.ts';
import { seededRandom } from '../seeded-random.ts';

export interface SentenceEmbedderShape {
  vocabSize: number;
  hidden: number;
  layers: number;
  maxPositions: number;
  seed: number;
}

/** bert-base-uncased's vocabulary size, so real token ids index the table. */
export const DEFAULT_EMBEDDER: SentenceEmbedderShape = { vocabSize: 30522, hidden: 32, layers: 2, maxPositions: 512, seed: 7 };

export function buildSentenceEmbedder(shape: SentenceEmbedderShape = DEFAULT_EMBEDDER): Uint8Array {
  return encodeModel(sentenceEmbedderGraph(shape));
}

/** The stand-in's graph, before encoding (the float16 variant is made from it). */
export function sentenceEmbedderGraph(shape: SentenceEmbedderShape = DEFAULT_EMBEDDER): OnnxModel {
  const next = seededRandom(shape.seed);
  const H = shape.hidden;
  const weights = (name: string, dims: number[], scale: number) => randomInitializer(name, dims, scale, next);
  const int64 = int64Initializer;

  const initializers: OnnxInitializer[] = [
    weights('word_embeddings', [shape.vocabSize, H], 1),
    weights('position_embeddings', [shape.maxPositions, H], 0.5),
    weights('token_type_embeddings', [2, H], 0.5),
    int64('zero', [0], []),
    int64('one', [1], []),
    int64('axis_1', [1]),
    int64('axis_2', [2]),
  ];
  const nodes: OnnxNode[] = [...embeddingNodes(), ...maskNodes()];

  let h = 'h0';
  for (let l = 0; l < shape.layers; l++) {
    initializers.push(weights(`layer${l}.weight`, [H, H], 1 / Math.sqrt(H)), weights(`layer${l}.bias`, [H], 0.1));
    const out = l === shape.layers - 1 ? 'last_hidden_state' : `h${l + 1}`;
    nodes.push(...layerNodes(l, h, out));
    h = out;
  }

  const tokens = ['batch_size', 'sequence_length'];
  return {
    producer: 'cerebrium-local stand-in',
    opset: 17,
    graphName: 'sentence_embedder_stand_in',
    docString: `Generated stand-in for a sentence-transformers BERT export: random weights, ${JSON.stringify(shape)}`,
    nodes,
    initializers,
    inputs: [
      { name: 'input_ids', type: DataType.INT64, shape: tokens },
      { name: 'attention_mask', type: DataType.INT64, shape: tokens },
      { name: 'token_type_ids', type: DataType.INT64, shape: tokens },
    ],
    outputs: [{ name: 'last_hidden_state', type: DataType.FLOAT, shape: [...tokens, H] }],
  };
}

/** Word + token-type + position embeddings: h0. */
function embeddingNodes(): OnnxNode[] {
  return [
    { op: 'Gather', inputs: ['word_embeddings', 'input_ids'], outputs: ['words'] },
    { op: 'Gather', inputs: ['token_type_embeddings', 'token_type_ids'], outputs: ['types'] },
    // Positions 0..sequence_length-1, from the input's own shape (the sequence axis is dynamic).
    { op: 'Shape', inputs: ['input_ids'], outputs: ['ids_shape'] },
    { op: 'Gather', inputs: ['ids_shape', 'one'], outputs: ['seq_len'], attributes: { axis: { int: 0 } } },
    { op: 'Range', inputs: ['zero', 'seq_len', 'one'], outputs: ['positions'] },
    { op: 'Gather', inputs: ['position_embeddings', 'positions'], outputs: ['places'] },
    { op: 'Add', inputs: ['words', 'types'], outputs: ['words_types'] },
    { op: 'Add', inputs: ['words_types', 'places'], outputs: ['h0'] },
  ];
}

/** The mask as float [batch, seq, 1], and how many real tokens each sentence has. */
function maskNodes(): OnnxNode[] {
  return [
    { op: 'Cast', inputs: ['attention_mask'], outputs: ['mask_f'], attributes: { to: { int: DataType.FLOAT } } },
    { op: 'Unsqueeze', inputs: ['mask_f', 'axis_2'], outputs: ['mask'] },
    { op: 'ReduceSum', inputs: ['mask', 'axis_1'], outputs: ['mask_count'], attributes: { keepdims: { int: 1 } } },
  ];
}

/** Layer l: tanh(hW + b), plus its mean over the sentence's real tokens. */
function layerNodes(l: number, h: string, out: string): OnnxNode[] {
  return [
    { op: 'MatMul', inputs: [h, `layer${l}.weight`], outputs: [`l${l}_mm`] },
    { op: 'Add', inputs: [`l${l}_mm`, `layer${l}.bias`], outputs: [`l${l}_pre`] },
    { op: 'Tanh', inputs: [`l${l}_pre`], outputs: [`l${l}_act`] },
    { op: 'Mul', inputs: [`l${l}_act`, 'mask'], outputs: [`l${l}_masked`] },
    { op: 'ReduceSum', inputs: [`l${l}_masked`, 'axis_1'], outputs: [`l${l}_sum`], attributes: { keepdims: { int: 1 } } },
    { op: 'Div', inputs: [`l${l}_sum`, 'mask_count'], outputs: [`l${l}_context`] },
    { op: 'Add', inputs: [`l${l}_act`, `l${l}_context`], outputs: [out] },
  ];
}
